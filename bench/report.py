#!/usr/bin/python3
"""bench/report.py OUTDIR [--baseline DIR]: wtrack CSVs -> tables and PNG plots.

Reads every OUTDIR/results-*.csv written by bench/run.sh (one per
configuration: "TCG guest 2 vCPU", "TCG guest 1 vCPU", "native"; the first
two columns are env and kernel, then wtrack's columns) and OUTDIR/trace.csv
(bench/trace.sh), and writes:

  OUTDIR/summary.md    headline tables (per write with arming included,
                       ratio to mprotect+SIGSEGV, CPU time per write of all
                       threads, latency percentiles p50/p90/p99/max), one
                       handler serving 2 writers, a slow handler (100 us
                       per message), polling on 1 vCPU, "nothing got
                       worse", trace counts, where each method stops
                       working, then one table per figure (arm+writes,
                       per-write, arm, collect, round, CPU) and
                       configuration: median, IQR, min-max, ratio to the
                       mprotect+SIGSEGV median of the same configuration
                       (boot) and memtype/fs/pattern/size/writers, and the
                       per-write latency percentiles of every point
  OUTDIR/summary.csv   the same aggregates, one row per point
  OUTDIR/<figure>-<memtype>[-<fs>].png   figure in {armwrite, perwrite,
                       arm, collect, round, cpu}: sequential, 1 writer, threads free,
                       one bar per configuration (gnuplot)
  OUTDIR/headline.png  per-write ratio to mprotect of the handler-thread
                       variants (anon, ext4 file; 2 vCPU free/pinned, 1 vCPU)

--baseline DIR: a previous OUTDIR (e.g. of `make bench KERNEL=base`): the
"nothing got worse" table then also compares every row with it.
"""
import csv
import glob
import os
import statistics
import subprocess
import sys
from collections import OrderedDict, defaultdict

args = sys.argv[1:]
baseline_dir = None
if "--baseline" in args:
    i = args.index("--baseline")
    baseline_dir = args[i + 1]
    del args[i:i + 2]
out = args[0] if args else "build/bench"

METHODS = ["none", "mprotect", "softdirty", "uffd-read", "uffd-poll",
           "uffd-sigbus", "async-scan-wp", "async-scan-rearm",
           "uffd-read-cpu", "uffd-read-spin", "uffd-read-spin-cpu"]
HANDLER = ["uffd-read", "uffd-poll", "uffd-read-cpu", "uffd-read-spin",
           "uffd-read-spin-cpu"]
NEW = ["uffd-read-cpu", "uffd-read-spin", "uffd-read-spin-cpu"]
# the headline's rows: the baseline, SIGBUS, the handler thread variants, async
HEAD = ["mprotect", "uffd-sigbus"] + HANDLER + ["async-scan-wp", "async-scan-rearm"]
# polling vs the same method without it (1 vCPU: "no slower")
POLLPAIRS = [("uffd-read", "uffd-read-spin"), ("uffd-read-cpu", "uffd-read-spin-cpu")]
MEMTYPES = ["anon", "shmem", "hugetlb", "file-shared", "file-private"]
PATTERNS = ["seq", "rand", "scatter"]
CONF_ORDER = ["TCG guest 2 vCPU", "TCG guest 1 vCPU", "native"]
# PRIMARY: per tracked write with arming included, (arm + the writers'
# loops) / writes -- what a plain "protect the range, write each page once"
# loop sees; the same for every method, mprotect+SIGSEGV included
PRIMARY = "arm_write_ns"
FIGS = [(PRIMARY, "armwrite", "cost per tracked write, arming included ((protect the range + writes) / writes)"),
        ("per_write_ns", "perwrite", "cost per tracked first write, writes only (arming excluded)"),
        ("arm_ns", "arm", "cost to arm (protect the whole range)"),
        ("collect_ns", "collect", "cost to collect the dirty set"),
        ("round_ns", "round", "round total (arm + slowest writer + collect)"),
        ("cpu_ns", "cpu", "CPU time of all threads per tracked write (arm + writes)")]
LAT = ["p50_ns", "p90_ns", "p99_ns", "max_ns"]
COUNTS = ["minflt_pw", "csw_pw", "sysc_pw"]
COLS = [c for c, _, _ in FIGS] + ["wcpu_ns", "hcpu_ns"] + LAT + COUNTS
TWO, ONE = "TCG guest 2 vCPU", "TCG guest 1 vCPU"


def conf_rank(c):
    return (CONF_ORDER.index(c) if c in CONF_ORDER else len(CONF_ORDER), c)


def idx(lst, x):
    return lst.index(x) if x in lst else len(lst)


def load_dir(d):
    rows = []
    for fn in sorted(glob.glob(os.path.join(d, "results-*.csv"))):
        with open(fn) as f:
            rows += list(csv.DictReader(f))
    for r in rows:
        # CSVs of an older wtrack (a --baseline directory) have no
        # arm_write_ns: (arm + writers) / writes = per_write + arm / writes
        # (run.sh's scatter stride is 2)
        if not r.get(PRIMARY) and r.get("per_write_ns") and r.get("arm_ns"):
            n = int(r["pages"])
            n = (n + 1) // 2 if r["pattern"] == "scatter" else n
            r[PRIMARY] = "%.1f" % (float(r["per_write_ns"]) + float(r["arm_ns"]) / max(n, 1))
    return rows


def key(r):
    """(method, memtype, fs, pattern, pages, writers, pin, handler delay us,
    fresh: the range emptied before each round)"""
    return (r["method"], r["memtype"], r["fs"], r["pattern"], int(r["pages"]),
            int(r["writers"]), r["pin"], int(r.get("hdelay_us") or 0),
            int(r.get("fresh") or 0))


def sort_key(ck):
    c, (m, t, fs, p, n, w, pin, hd, fr_) = ck
    return (conf_rank(c), idx(MEMTYPES, t), fs, idx(PATTERNS, p), n, w,
            pin, hd, fr_, idx(METHODS, m))


def quart(v):
    """median, q1, q3, min, max of a sorted list (NaN when empty)."""
    if not v:
        nan = float("nan")
        return dict(med=nan, q1=nan, q3=nan, min=nan, max=nan)
    if len(v) == 1:
        q1 = q3 = v[0]
    else:
        q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
    return dict(med=statistics.median(v), q1=q1, q3=q3, min=v[0], max=v[-1])


def aggregate(rows):
    """{(env, key): {"n", "status", "kernel", col: quart}}"""
    groups = OrderedDict()
    status = defaultdict(set)
    kern = {}
    for r in rows:
        ck = (r["env"], key(r))
        groups.setdefault(ck, [])
        status[ck].add(r["status"])
        kern[ck] = r.get("kernel", "")
        if r["repeat"] == "-1" or r["status"].startswith(("SKIP", "FAIL")):
            continue
        groups[ck].append(r)
    agg = {}
    for ck, rs in groups.items():
        a = {"n": len(rs), "status": sorted(status[ck]), "kernel": kern[ck]}
        for col in COLS:
            a[col] = quart(sorted(float(r[col]) for r in rs if r.get(col)))
        pu = [r.get("poll_us") for r in rs if r.get("poll_us")]
        a["poll_us"] = float(pu[0]) if pu else None
        ck_ = [r.get("clock_ns") for r in rs if r.get("clock_ns")]
        a["clock_ns"] = float(ck_[0]) if ck_ else None
        agg[ck] = a
    return agg


def base_of(agg, ck):
    """(mprotect aggregate, approx flag) for the ratio of point ck: same
    configuration, memtype/fs/pattern/size, writers, threads free; else 1
    writer; else the closest size (approx)."""
    c, (m, t, fs, p, n, w, pin, hd, fr_) = ck
    for ww in (w, 1):
        b = agg.get((c, ("mprotect", t, fs, p, n, ww, "free", hd, fr_)))
        if b and b["n"]:
            return b, False
    cands = [(abs(k[4] - n), a) for (cc, k), a in agg.items()
             if cc == c and k[:4] == ("mprotect", t, fs, p) and k[5] in (w, 1)
             and k[6] == "free" and k[7] == hd and k[8] == fr_ and a["n"]]
    if cands:
        return min(cands, key=lambda x: x[0])[1], True
    return None, False


def ratio(agg, ck, col):
    """dict(med, q1, q3, approx) of point / mprotect median, or None."""
    a = agg.get(ck)
    b, approx = base_of(agg, ck)
    if not a or not a["n"] or not b:
        return None
    if any(s.startswith("ENOMEM") for s in b["status"] + a["status"]):
        return None
    bm = b[col]["med"]
    if not bm or bm != bm:
        return None
    if approx and col not in ("per_write_ns", PRIMARY, "cpu_ns", "wcpu_ns") + tuple(LAT):
        return None	# arm/collect/round scale with the size
    q = a[col]
    return dict(med=q["med"] / bm, q1=q["q1"] / bm, q3=q["q3"] / bm,
                max=q["max"] / bm, approx=approx)


def fmt(x):
    if x != x:
        return "-"
    if x >= 1e9:
        return "%.2f s" % (x / 1e9)
    if x >= 1e6:
        return "%.2f ms" % (x / 1e6)
    if x >= 1e3:
        return "%.1f us" % (x / 1e3)
    return "%.0f ns" % x


def fr(r, spread=True):
    if r is None:
        return "-"
    s = ("~" if r["approx"] else "") + "%.2f" % r["med"]
    if spread:
        s += " (%.2f-%.2f)" % (r["q1"], r["q3"])
    return s


def memname(t, fs):
    return t if fs == "-" else "%s/%s" % (t, fs)


def first_fs(agg, conf):
    fss = sorted({k[2] for (c, k) in agg if c == conf and k[1] == "file-shared"},
                 key=lambda f: (f != "ext4", f))
    return fss[0] if fss else "ext4"


def pick(agg, conf, m, t, fs, pin, w=1, pattern="seq", hd=0, fresh=0):
    """the point of (conf, method, memtype, fs, pin, writers, pattern,
    handler delay) with the smallest measured size (the core rows' size,
    where mprotect is run too); None if not measured."""
    cands = [(k[4], (c, k)) for (c, k), a in agg.items()
             if c == conf and k[0] == m and k[1] == t and k[2] == fs
             and k[3] == pattern and k[5] == w and k[6] == pin and k[7] == hd
             and k[8] == fresh and a["n"]]
    return min(cands)[1] if cands else None


def skipped(agg, conf, m, t, fs, pin, w=1, pattern="seq", hd=0, fresh=0):
    for (c, k), a in agg.items():
        if c == conf and k[0] == m and k[1] == t and k[2] == fs and \
           k[3] == pattern and k[5] == w and k[6] == pin and k[7] == hd and \
           k[8] == fresh:
            st = ",".join(a["status"])
            return st if len(st) <= 60 else st[:57] + "..."
    return None


def cell(agg, ck, col=PRIMARY):
    if ck is None:
        return "-"
    a = agg[ck]
    q = a[col]
    return "%s [%s-%s] **x%s**" % (fmt(q["med"]), fmt(q["q1"]), fmt(q["q3"]),
                                fr(ratio(agg, ck, col), False))


def missing(agg, c, m, t, fs, pin, w=1, hd=0):
    s = skipped(agg, c, m, t, fs, pin, w, hd=hd)
    if s and s.startswith("SKIP:run.sh time budget"):
        s = "not run: budget"
    elif s and s.startswith("SKIP"):
        s = "SKIP"	# the reasons are listed at the end
    return "- (%s)" % s if s and s != "ok" else "-"


def med(agg, ck, col):
    v = agg[ck][col]["med"] if ck else float("nan")
    return v


def detail_row(agg, ck, delay_us=0):
    """per write (arm incl.) median [IQR], x mprot (IQR), writes only x
    mprot, CPU/write, CPU/wall, p50, p90, p99, max"""
    a = agg[ck]
    q = a[PRIMARY]
    r = ratio(agg, ck, PRIMARY)
    rw = ratio(agg, ck, "per_write_ns")
    cpu = q_cpu = a["cpu_ns"]["med"]
    cw = "%.2f" % (cpu / q["med"]) if cpu == cpu and q["med"] else "-"
    worst = ("%s%.2f" % ("~" if r["approx"] else "", r["max"])) if r else "-"
    return ["%s [%s-%s]" % (fmt(q["med"]), fmt(q["q1"]), fmt(q["q3"])),
            "**%s**" % fr(r) if r else "-", worst, fr(rw, False) if rw else "-",
            fmt(q_cpu), cw] + [fmt(a[c]["med"]) for c in LAT]


DETAIL_HDR = ("| memory | method | writes | per write, arm incl. median [IQR] | x mprot (IQR) | "
              "worst repeat x mprot | writes only x mprot | CPU/write, all threads | CPU/wall | "
              "p50 | p90 | p99 | max |")
DETAIL_SEP = "|" + "---|" * 13


def writes_of(ck):
    p, n = ck[1][3], ck[1][4]
    return (n + 1) // 2 if p == "scatter" else n


def headline(agg, confs):
    L = ["## Headline: per tracked write, arming included", "",
         "Sequential, 1 writer, threads free. **Per write = (protect the whole "
         "range + write each page once) / writes**, what a plain loop timing "
         "protect + writes sees, measured the same way for every method "
         "(mprotect(PROT_READ) + SIGSEGV handler, UFFDIO_WRITEPROTECT + handler "
         "thread, ...); median over the repeats [IQR]. `x mprot` = ratio to "
         "the mprotect+SIGSEGV median of the *same boot*, same memory and size "
         "(IQR in ratio units); `worst repeat` = the slowest repeat over that "
         "median; `writes only` = the same ratio with arming "
         "excluded (the old per-write figure). CPU/write = CPU time of all "
         "threads of the process over arm + writes / writes (a polling thread "
         "costs CPU without costing time); CPU/wall > 1 means more than one CPU "
         "busy. p50..max: per-write latency percentiles of a round (median over "
         "the rounds). Every write includes one clock read (clock_ns). `-` = "
         "not measured or SKIP (reasons at the end).", ""]
    for c in confs:
        rows = []
        for t, fs in (("anon", "-"), ("file-shared", first_fs(agg, c))):
            for m in HEAD:
                ck = pick(agg, c, m, t, fs, "free")
                if ck is None:
                    rows.append("| %s | %s | | %s |%s" % (memname(t, fs), m,
                                missing(agg, c, m, t, fs, "free"), " |" * 9))
                else:
                    rows.append("| %s | %s | %d | %s |" % (memname(t, fs), m, writes_of(ck),
                                " | ".join(detail_row(agg, ck))))
        if not any("[" in r for r in rows):
            continue
        L += ["### %s" % c, "", DETAIL_HDR, DETAIL_SEP] + rows + [""]
    L += headline_configs(agg, confs)
    return L


def headline_configs(agg, confs):
    L = ["### Every configuration: per write (arm incl.) and ratio", "",
         "Median [IQR] and **x ratio** to mprotect+SIGSEGV of the same boot. "
         "\"pinned\" = writer and handler on CPU 0 (`--pin`). `free/pinned` = "
         "2-vCPU free median / 2-vCPU pinned median. TCG times are emulated: "
         "read the ratios.", ""]
    cols = []
    for c in confs:
        cols.append((c, "free"))
        if c != ONE:
            cols.append((c, "pinned"))
    hdr = "| memory | method | " + " | ".join(
        "%s%s" % (c, ", pinned" if pin == "pinned" else ", threads free")
        for c, pin in cols) + " | free/pinned (2 vCPU) |"
    L += [hdr, "|" + "---|" * (len(cols) + 3)]
    for t, fs in (("anon", "-"), ("file-shared", first_fs(agg, TWO))):
        for m in ["mprotect", "uffd-sigbus"] + HANDLER:
            cells = []
            for c, pin in cols:
                if pin == "pinned" and m not in HANDLER:
                    cells.append("")
                    continue
                fsc = fs if t == "anon" else first_fs(agg, c)
                ck = pick(agg, c, m, t, fsc, pin)
                cells.append(missing(agg, c, m, t, fsc, pin) if ck is None else cell(agg, ck))
            fp = "-"
            a, b = pick(agg, TWO, m, t, fs, "free"), pick(agg, TWO, m, t, fs, "pinned")
            if a and b and m in HANDLER:
                fp = "%.2f" % (med(agg, a, PRIMARY) / med(agg, b, PRIMARY))
            L.append("| %s | %s | %s | %s |" % (memname(t, fs), m,
                                                 " | ".join(cells), fp))
    return L


def two_writers(agg, confs):
    L = ["## One handler serving 2 writers", "",
         "Sequential, 2 writer threads (half the pages each), threads free; the "
         "handler-thread methods have one handler thread, mprotect a SIGSEGV "
         "handler in each writer. Per write, arm incl. = (arm + both writers' "
         "loop times) / writes (the latency a writer sees, arming shared); "
         "ratio to mprotect+SIGSEGV with 2 writers, same boot.", ""]
    any_ = False
    for c in confs:
        rows = []
        for t, fs in (("anon", "-"), ("file-shared", first_fs(agg, c))):
            for m in ["mprotect"] + HANDLER + ["uffd-sigbus"]:
                ck = pick(agg, c, m, t, fs, "free", 2)
                if ck is None:
                    continue
                rows.append("| %s | %s | %d | %s |" % (memname(t, fs), m, writes_of(ck),
                            " | ".join(detail_row(agg, ck))))
        if rows:
            any_ = True
            L += ["### %s" % c, "", DETAIL_HDR, DETAIL_SEP] + rows + [""]
    return L if any_ else []


def slow_handler(agg, confs):
    """rows with a handler delay: the faulting thread's extra CPU"""
    pts = sorted([ck for ck in agg if ck[1][7] > 0 and agg[ck]["n"]], key=sort_key)
    if not pts:
        return []
    L = ["## A slow handler (busy for a fixed time per message)", "",
         "The handler spends `handler us` busy on each message before it "
         "un-protects (`wtrack --handler-delay-us`). CPU/write covers all "
         "threads over arm + writes; `CPU - handler` = CPU/write minus the "
         "handler's busy time, i.e. what the faulting thread, the kernel and "
         "the handler's system calls cost on top; `writer CPU` = the faulting "
         "thread's own CPU per write (its polling included), `handler CPU` the "
         "handler thread's. `extra vs uffd-read` = writer CPU minus that of "
         "uffd-read (no polling) with the same delay, same boot: the faulting "
         "thread's extra CPU per fault, which BUSY_POLL's adaptive window must "
         "keep under the poll bound (vm.userfaultfd_busy_poll_us, `bound`).", "",
         "| configuration | memory | method | handler us | n | per write, arm incl. [IQR] | CPU/write | CPU - handler | writer CPU | handler CPU | extra vs uffd-read | bound | p50 | p99 |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ck in pts:
        c, (m, t, fs, p, n, w, pin, hd, fr_) = ck
        a = agg[ck]
        q = a[PRIMARY]
        cpu = a["cpu_ns"]["med"]
        wc = a["wcpu_ns"]["med"]
        ref = agg.get((c, ("uffd-read", t, fs, p, n, w, pin, hd, fr_)))
        extra = "-"
        if ref and ref["n"] and m != "uffd-read":
            d = wc - ref["wcpu_ns"]["med"]
            extra = fmt(d) if d >= 0 else "-" + fmt(-d)
            if a["poll_us"] is not None:
                extra += " (%s bound)" % ("**under**" if d < a["poll_us"] * 1000 else "**over**")
        minus = cpu - hd * 1000.0
        L.append("| %s | %s | %s | %d | %d | %s [%s-%s] | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c, memname(t, fs), m + ("" if w == 1 else " (%d writers)" % w), hd, a["n"],
            fmt(q["med"]), fmt(q["q1"]), fmt(q["q3"]), fmt(cpu),
            fmt(minus) if minus >= 0 else "-" + fmt(-minus), fmt(wc),
            fmt(a["hcpu_ns"]["med"]), extra,
            "%d us" % a["poll_us"] if a["poll_us"] is not None else "-",
            fmt(a["p50_ns"]["med"]), fmt(a["p99_ns"]["med"])))
    return L


def fresh_table(agg, confs):
    """populated pages (the default) against pages emptied before each
    round (--fresh): what population does to the ratios"""
    pts = sorted([ck for ck in agg if ck[1][8] and agg[ck]["n"]], key=sort_key)
    if not pts:
        return []
    L = ["## Populated pages vs pages emptied before each round (`--fresh`)", "",
         "By default every page is present (written once before the first "
         "round), so a tracked write costs the protection fault and its "
         "hand-off only. With `--fresh` the range is emptied (MADV_DONTNEED, "
         "not timed) before each round, so each first write also populates "
         "its page (anon: allocates and zeroes it; uffd: "
         "UFFD_FEATURE_WP_UNPOPULATED), as in a loop that writes to new "
         "memory. A cost common to both sides pulls every ratio towards 1. "
         "Per write with arming included; each ratio is to mprotect+SIGSEGV "
         "of the same boot in the same mode.", "",
         "| configuration | memory | method | writes | populated | x mprot (IQR) | fresh | x mprot (IQR) |",
         "|---|---|---|---|---|---|---|---|"]
    for ck in pts:
        c, (m, t, fs, p, n, w, pin, hd, fr_) = ck
        pk = agg.get((c, (m, t, fs, p, n, w, pin, hd, 0)))
        L.append("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
            c, memname(t, fs), m + ("" if w == 1 else " (%d writers)" % w), writes_of(ck),
            fmt(pk[PRIMARY]["med"]) if pk and pk["n"] else "-",
            fr(ratio(agg, (c, pk and (m, t, fs, p, n, w, pin, hd, 0)), PRIMARY)) if pk and pk["n"] else "-",
            fmt(agg[ck][PRIMARY]["med"]), fr(ratio(agg, ck, PRIMARY))))
    return L


def polling_one_cpu(agg, confs):
    if ONE not in confs:
        return []
    L = ["## Polling on one vCPU: no slower than without it", "",
         "%s, sequential, 1 writer: the polling method against the same "
         "method without BUSY_POLL, per write with arming included, ratio to "
         "mprotect+SIGSEGV of that boot. \"worse\" = the ratio went up by more "
         "than the larger IQR of the two (in ratio units)." % ONE, "",
         "| memory | without polling | x mprot (IQR) | with polling | x mprot (IQR) | verdict | CPU/write without / with |",
         "|---|---|---|---|---|---|---|"]
    n = 0
    for t in MEMTYPES:
        fss = sorted({k[2] for (c, k) in agg if c == ONE and k[1] == t})
        for fs in fss:
            for m0, m1 in POLLPAIRS:
                k0, k1 = pick(agg, ONE, m0, t, fs, "free"), pick(agg, ONE, m1, t, fs, "free")
                if not k0 and not k1:
                    continue
                r0 = ratio(agg, k0, PRIMARY) if k0 else None
                r1 = ratio(agg, k1, PRIMARY) if k1 else None
                L.append("| %s | %s | %s | %s | %s | %s | %s / %s |" % (
                    memname(t, fs), m0, fr(r0), m1,
                    fr(r1) if k1 else missing(agg, ONE, m1, t, fs, "free"),
                    verdict(r0, r1), fmt(med(agg, k0, "cpu_ns")), fmt(med(agg, k1, "cpu_ns"))))
                n += 1
    return L if n else []


def verdict(old, new):
    """'worse' when the median ratio moved up by more than the spread (IQR,
    in ratio units) of either point's repeats; 'better' symmetric."""
    if old is None or new is None:
        return "-"
    spread = max(old["q3"] - old["q1"], new["q3"] - new["q1"])
    d = new["med"] - old["med"]
    if d > spread:
        return "**worse** (+%.2f > spread %.2f)" % (d, spread)
    if -d > spread:
        return "better (%.2f, spread %.2f)" % (d, spread)
    return "same (%+.2f within spread %.2f)" % (d, spread)


def nothing_worse(agg, confs, bagg):
    L = ["## Nothing got worse (same boot)", "",
         "Ratio of the per-write median (arming included) to the mprotect+SIGSEGV median of the "
         "same boot, same memtype/fs/pattern/size/writers; spread = the IQR of "
         "the repeats in ratio units. \"worse\" = the median ratio moved up by "
         "more than the larger spread of the two points (issue 5's "
         "definition). 2 writers: one handler thread serving two writer "
         "threads, threads free, sequential; compared with uffd-read (the "
         "feature-off path) in the same boot."]
    for c in confs:
        if c == ONE:
            continue
        ffs = first_fs(agg, c)
        mts = [("anon", "-"), ("shmem", "-"), ("hugetlb", "-"), ("file-shared", ffs)]
        L += ["", "### %s: 2 writers, new methods vs uffd-read" % c, "",
              "| memory | uffd-read x mprot (IQR) | method | x mprot (IQR) | vs uffd-read |",
              "|---|---|---|---|---|"]
        for t, fs in mts:
            ok = pick(agg, c, "uffd-read", t, fs, "free", 2)
            ro = ratio(agg, ok, PRIMARY) if ok else None
            for m in NEW + ["uffd-poll"]:
                nk = pick(agg, c, m, t, fs, "free", 2)
                if nk is None:
                    s = skipped(agg, c, m, t, fs, "free", 2)
                    L.append("| %s | %s | %s | - (%s) | - |" % (
                        memname(t, fs), fr(ro), m, s or "not run"))
                    continue
                rn = ratio(agg, nk, PRIMARY)
                L.append("| %s | %s | %s | %s | %s |" % (
                    memname(t, fs), fr(ro), m, fr(rn), verdict(ro, rn)))
        L += ["", "### %s: SIGBUS, async and 2-writer rows without a handler thread" % c, "",
              "These paths never request the new features; their \"before\" is "
              "another kernel's boot (`make bench KERNEL=base`, then "
              "`bench/report.py build/bench --baseline DIR`)%s. uffd-read (1 "
              "writer) is shown for scale." % (
                  "; baseline: `%s`" % baseline_dir if bagg else ", no baseline given"), "",
              "| memory | method | writers | x mprot (IQR) | baseline x mprot (IQR) | vs baseline |",
              "|---|---|---|---|---|---|"]
        for t, fs in mts:
            for m, w in (("uffd-read", 1), ("uffd-sigbus", 1), ("async-scan-wp", 1),
                         ("async-scan-rearm", 1), ("mprotect", 2), ("softdirty", 2),
                         ("uffd-sigbus", 2), ("async-scan-wp", 2), ("async-scan-rearm", 2),
                         ("uffd-read", 2)):
                k = pick(agg, c, m, t, fs, "free", w)
                r = ratio(agg, k, PRIMARY) if k else None
                br = None
                if bagg:
                    bc = c if any(cc == c for cc, _ in bagg) else None
                    bk = pick(bagg, bc, m, t, fs, "free", w) if bc else None
                    br = ratio(bagg, bk, PRIMARY) if bk else None
                if k is None:
                    s = skipped(agg, c, m, t, fs, "free", w)
                    L.append("| %s | %s | %d | - (%s) | %s | - |" % (
                        memname(t, fs), m, w, s or "not run", fr(br)))
                    continue
                if m == "mprotect":
                    a = agg[k][PRIMARY]
                    L.append("| %s | %s | %d | 1 (%s per write) | | |" % (
                        memname(t, fs), m, w, fmt(a["med"])))
                    continue
                L.append("| %s | %s | %d | %s | %s | %s |" % (
                    memname(t, fs), m, w, fr(r), fr(br),
                    verdict(br, r) if bagg else "-"))
    return L


def trace_table():
    path = os.path.join(out, "trace.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    L = ["## Events per tracked write (ftrace, TCG guest 2 vCPU)", "",
         "`bench/trace.sh` in the 2-vCPU boot (`trace.csv`): per tracked write, "
         "writer and handler threads together, between wtrack's --trace "
         "markers: context switches (of which to/from idle), system calls, "
         "user page-fault entries, wakeups (of which cross-CPU), migrations, "
         "CPUs used, mmap_lock acquisitions (mmap_lock_acquire_returned, read "
         "or write). Counts carry over to hardware; times do not.", "",
         "| method | config | writes | ctxsw | idle sw | syscalls | faults | wakeups | x-CPU wakeups | migrations | CPUs | mmap_lock |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append("| " + " | ".join(r.get(k, "") or "-" for k in (
            "method", "config", "writes", "ctxsw", "idle_sw", "syscalls", "faults",
            "wakeups", "xcpu_wakeups", "migrations", "cpus", "mmap_locks")) + " |")
    return L


def limits(agg, confs):
    L = ["## Where each method stops working", "",
         "Scattered writes (every 2nd page) over a large range, 1 repeat: under "
         "mprotect each unprotected page splits the VMA, and at "
         "vm.max_map_count (65530) mprotect() fails with ENOMEM and the writer "
         "cannot go on.", "",
         "| configuration | memory | method | range pages | writes | result |",
         "|---|---|---|---|---|---|"]
    big = max([k[4] for (c, k) in agg if k[3] == "scatter" and k[1] != "hugetlb"] or [0])
    n = 0
    for (c, k) in sorted(agg, key=lambda ck: sort_key(ck)):
        a = agg[(c, k)]
        m, t, fs, p, pages, w, pin, hd, fr_ = k
        enomem = [s for s in a["status"] if s.startswith("ENOMEM")]
        if p != "scatter" or (pages != big and not enomem):
            continue
        if enomem:
            nw = enomem[0].split("@", 1)[1]
            res = "**stops working after %s tracked writes** (%s)" % (
                nw.split("(")[0], enomem[0])
        elif a["n"]:
            res = "works (per write %s, arm incl.)" % fmt(a[PRIMARY]["med"])
        else:
            res = ",".join(a["status"])
        L.append("| %s | %s | %s | %d | %d | %s |" % (c, memname(t, fs), m, pages,
                                                      pages // 2, res))
        n += 1
    return L if n else []


def figure_tables(agg, confs):
    L = []
    for col, short, title in FIGS:
        for c in confs:
            L += ["", "## %s: %s" % (title[0].upper() + title[1:], c), "",
                  "median, IQR, min-max over the repeats; `x mprot` = median / "
                  "mprotect+SIGSEGV median (same boot, memtype/fs/pattern/size, "
                  "writers, handler delay; threads free), IQR in ratio units in "
                  "parentheses; `~` = mprotect of the closest size (per-write "
                  "figures only); `hd` = handler delay, us per message.", "",
                  "| method | memory | pattern | pages | w | pin | hd | n | median | IQR | min-max | x mprot | status |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for ck in sorted((ck for ck in agg if ck[0] == c), key=sort_key):
                a = agg[ck]
                if not a["n"]:
                    continue
                m, t, fs, p, n, w, pin, hd, fr_ = ck[1]
                if col in ("arm_ns", "collect_ns") and m == "none":
                    continue
                q = a[col]
                if q["med"] != q["med"]:
                    continue	# not in this CSV (an older wtrack)
                st = ",".join(s for s in a["status"] if s != "ok") or "ok"
                L.append("| %s | %s | %s | %d | %d | %s | %d | %d | %s | %s-%s | %s-%s | %s | %s |" % (
                    m, memname(t, fs), p + (" fresh" if fr_ else ""), n, w, pin, hd, a["n"], fmt(q["med"]),
                    fmt(q["q1"]), fmt(q["q3"]), fmt(q["min"]), fmt(q["max"]),
                    fr(ratio(agg, ck, col)), st))
    for c in confs:
        L += ["", "## Per-write latency percentiles: %s" % c, "",
              "Each round times every write (one CLOCK_MONOTONIC read after each; "
              "`clock` = the cost of one read, included in every write); p50, "
              "p90, p99 and max of a round's writes, median over the rounds "
              "(max: the largest over the rounds). `mean` = per write, arm "
              "incl.; CPU = CPU time of all threads per write; writer / "
              "handler CPU = those threads' own.", "",
              "| method | memory | pattern | pages | w | pin | hd | n | mean | p50 | p90 | p99 | max | CPU | writer CPU | handler CPU | clock |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for ck in sorted((ck for ck in agg if ck[0] == c), key=sort_key):
            a = agg[ck]
            if not a["n"] or a["p50_ns"]["med"] != a["p50_ns"]["med"]:
                continue
            m, t, fs, p, n, w, pin, hd, fr_ = ck[1]
            L.append("| %s | %s | %s | %d | %d | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                m, memname(t, fs), p + (" fresh" if fr_ else ""), n, w, pin, hd, a["n"], fmt(a[PRIMARY]["med"]),
                fmt(a["p50_ns"]["med"]), fmt(a["p90_ns"]["med"]), fmt(a["p99_ns"]["med"]),
                fmt(a["max_ns"]["max"]), fmt(a["cpu_ns"]["med"]), fmt(a["wcpu_ns"]["med"]),
                fmt(a["hcpu_ns"]["med"]),
                fmt(a["clock_ns"]) if a["clock_ns"] is not None else "-"))
    return L


def skips(agg, confs):
    L = []
    bad = [(ck, s) for ck, a in agg.items() for s in a["status"]
           if s.startswith(("MISMATCH", "FAIL"))]
    if bad:
        L += ["", "## Wrong dirty sets and failures", ""]
        L += ["- %s: %s: %s" % (ck[0], "/".join(map(str, ck[1])), s)
              for ck, s in sorted(bad, key=lambda x: sort_key(x[0]))]
    sk = defaultdict(list)
    for ck, a in agg.items():
        if not a["n"]:
            sk[(ck[0], ",".join(a["status"]))].append(ck[1])
    if sk:
        L += ["", "## Not measured (SKIP)", ""]
        for (c, why), ks in sorted(sk.items(), key=lambda x: conf_rank(x[0][0])):
            L.append("- %s: %s: %d points (%s%s)" % (
                c, why, len(ks), ", ".join(sorted({k[0] for k in ks}, key=lambda m: idx(METHODS, m))),
                "; " + ", ".join(sorted({memname(k[1], k[2]) for k in ks}))))
    return L


def write_csv(agg):
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        hdr = ["env", "kernel", "method", "memtype", "fs", "pattern", "pages",
               "writers", "pin", "hdelay_us", "fresh", "n", "status"]
        for col in COLS:
            hdr += [col + s for s in ("_med", "_q1", "_q3", "_min", "_max", "_xmprot")]
        wr.writerow(hdr)
        for ck in sorted(agg, key=sort_key):
            a = agg[ck]
            row = [ck[0], a["kernel"]] + list(ck[1]) + [a["n"], ";".join(a["status"])]
            for col in COLS:
                q = a[col]
                r = ratio(agg, ck, col) if q["med"] == q["med"] else None
                row += ["%.1f" % q[s] if q[s] == q[s] else "" for s in ("med", "q1", "q3", "min", "max")]
                row.append("%s%.3f" % ("~" if r["approx"] else "", r["med"]) if r else "")
            wr.writerow(row)


def gnuplot(script, name):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       capture_output=True)
        return True
    except Exception as e:
        print("report: gnuplot failed for %s: %s" % (name, e), file=sys.stderr)
        return False


def bars(name, title, ylabel, xlabels, series, logy=True, hline=None):
    """clustered bars: xlabels, series = [(label, [value or None])]"""
    cols = [i for i, (_, v) in enumerate(series) if any(x is not None for x in v)]
    rows = [j for j in range(len(xlabels)) if any(series[i][1][j] is not None for i in cols)]
    if not cols or not rows:
        return False
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as f:
        f.write("x\t" + "\t".join(series[i][0] for i in cols) + "\n")
        for j in rows:
            f.write(xlabels[j] + "\t" + "\t".join(
                "?" if series[i][1][j] is None else "%.6g" % series[i][1][j]
                for i in cols) + "\n")
    plot = ", ".join("'%s' using %d:xtic(1) title columnheader(%d)" % (dat, n + 2, n + 2)
                     for n in range(len(cols)))
    if hline:
        plot += ", %g with lines lw 2 lc rgb 'black' dt 2 title '%s'" % hline
    gp = """set terminal pngcairo size 1100,600 font ",10" noenhanced
set output '%s'
set title "%s"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
%s
set ylabel "%s"
set grid ytics
set key top left
set xtics rotate by -30
set rmargin 12
set datafile missing '?'
set datafile separator "\t"
plot %s
""" % (os.path.join(out, name + ".png"), title,
       "set logscale y" if logy else "set yrange [0:*]", ylabel, plot)
    return gnuplot(gp, name)


def plots(agg, confs):
    n = 0
    mems = sorted({(k[1], k[2]) for (c, k) in agg if k[3] == "seq"},
                  key=lambda x: (idx(MEMTYPES, x[0]), x[1]))
    perwrite = ("per_write_ns", PRIMARY, "cpu_ns")
    for col, short, title in FIGS:
        for t, fs in mems:
            series = []
            for c in confs:
                vals = []
                for m in METHODS:
                    if col not in perwrite and m == "none":
                        vals.append(None)
                        continue
                    # the largest measured size (arm/collect/round per page)
                    cands = [(k[4], a) for (cc, k), a in agg.items()
                             if cc == c and k[0] == m and k[1] == t and k[2] == fs
                             and k[3] == "seq" and k[5] == 1 and k[6] == "free"
                             and k[7] == 0 and k[8] == 0 and a["n"]]
                    if not cands:
                        vals.append(None)
                        continue
                    pages, a = max(cands, key=lambda x: x[0])
                    v = a[col]["med"]
                    if col not in perwrite:
                        v /= pages
                    vals.append(v if v > 0 else None)	# NaN > 0 is False
                series.append((c, vals))
            what = "per tracked write" if col in perwrite else "per page of the range"
            ttl = "%s, %s, sequential, 1 writer, threads free\\n(median, ns %s; missing bar = SKIP or not run; TCG = emulated)" % (
                title, memname(t, fs), what)
            if bars("%s-%s%s" % (short, t, "" if fs == "-" else "-" + fs), ttl,
                    "ns %s (median, log scale)" % what, METHODS, series):
                n += 1
    # headline: per-write ratio to mprotect of the handler-thread variants
    xl, variants = [], [(TWO, "free"), (TWO, "pinned"), (ONE, "free"), ("native", "free"), ("native", "pinned")]
    vals = {v: [] for v in variants}
    for t, fs in (("anon", "-"), ("file-shared", first_fs(agg, TWO))):
        for m in ["uffd-sigbus"] + HANDLER:
            xl.append("%s (%s)" % (m, "anon" if t == "anon" else fs))
            for c, pin in variants:
                ck = pick(agg, c, m, t, fs, pin) if (pin == "free" or m in HANDLER) else None
                r = ratio(agg, ck, PRIMARY) if ck else None
                vals[(c, pin)].append(r["med"] if r else None)
    series = [("%s, %s" % (c, "pinned" if pin == "pinned" else "threads free"), vals[(c, pin)])
              for c, pin in variants]
    if bars("headline", "per tracked write, arming included / the same for mprotect+SIGSEGV, same boot (1 writer, sequential)\\nbelow the dashed line = faster than mprotect",
            "ratio to mprotect+SIGSEGV (log scale)", xl, series, logy=True,
            hline=(1, "mprotect = 1")):
        n += 1
    return n


def emu(conf):
    """the label every TCG figure carries"""
    return "emulated (TCG), %s" % conf if conf.startswith("TCG") else conf


# copy-before-write (issue 14): the writer's stall per first write when the
# old page is saved; wtrack's --copy rows are "<method>+copy"
CBW = "uffd-cbw"
CBW_CMP = ["mprotect+copy", "uffd-read+copy"]
HANDOFF_COPY = ["uffd-read-cpu+copy", "uffd-read-spin+copy", "uffd-read-spin-cpu+copy"]


def rat(a, b):
    """a / b, with 3 significant digits below 0.1"""
    if not b or b != b or a != a:
        return "-"
    r = a / b
    return "%.2f" % r if r >= 0.1 else "%.3g" % r


def cbw_points(agg, c, t, fs):
    """{label: ck} of the stall rows of boot c (and its named sysctl
    configurations "c, vm....", the same boot), memory t/fs"""
    pts = OrderedDict()
    for cc in [c] + sorted(x for x in {k[0] for k in agg} if x.startswith(c + ", ")):
        for m in [CBW, "async-scan-rearm", "none", "none+copy"] + CBW_CMP + HANDOFF_COPY:
            ck = pick(agg, cc, m, t, fs, "free")
            if ck:
                pts[m if cc == c else "%s [%s]" % (m, cc[len(c) + 2:])] = ck
    return pts


def load_kcopy():
    """env label -> ns of one page copy made by the kernel (bench/kcopy.c)"""
    kc = {}
    for fn in sorted(glob.glob(os.path.join(out, "kcopy-*.csv"))):
        with open(fn) as f:
            for r in csv.DictReader(f):
                if r.get("kcopy_ns"):
                    kc[r["env"]] = float(r["kcopy_ns"])
    return kc


def cbw_stall(agg, confs):
    L = []
    col = "per_write_ns"
    kcopy = load_kcopy()
    for c in confs:
        if "," in c or not any(cc == c and k[0] == CBW and v["n"] for (cc, k), v in agg.items()):
            continue
        mems = [("anon", "-"), ("file-shared", first_fs(agg, c))]
        tgt = ["| memory | copy-before-write | async uffd-wp (floor) | one page copy (user space) | "
               "floor = async + copy | cbw / floor: median (min-max of the repeats) | "
               "target: cbw <= 1.2 x floor |", "|---|---|---|---|---|---|---|"]
        det = ["| memory | method | per first write: median [min-max] | cbw / this | "
               "p50 | p99 | max (of every write of every repeat) | minor faults / write | "
               "context switches / write | syscalls / write | n |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        status = []
        ktgt = ["| memory | copy-before-write | async uffd-wp | one page copy by the kernel | "
                "floor = async + kernel copy | cbw / floor | target: cbw <= 1.2 x floor |",
                "|---|---|---|---|---|---|---|"]
        kc = kcopy.get(c)
        for t, fs in mems:
            pts = cbw_points(agg, c, t, fs)
            if CBW not in pts:
                continue
            q = lambda m, col=col: agg[pts[m]][col] if m in pts else None
            cb, asy = q(CBW), q("async-scan-rearm")
            copy = (q("none+copy")["med"] - q("none")["med"]) if q("none+copy") and q("none") else None
            name = memname(t, fs)
            if cb and asy and copy is not None:
                floor = asy["med"] + copy
                met = cb["med"] <= 1.2 * floor
                allmet = cb["max"] <= 1.2 * floor
                verdict = ("**met**" if met else "**not met**") + (
                    " (every repeat)" if allmet else (" (median only; worst repeat %.2fx)" % (cb["max"] / floor) if met else ""))
                tgt.append("| %s | %s [%s-%s] | %s [%s-%s] | %s | %s | **%.2fx** (%.2f-%.2f) | %s |" % (
                    name, fmt(cb["med"]), fmt(cb["min"]), fmt(cb["max"]), fmt(asy["med"]),
                    fmt(asy["min"]), fmt(asy["max"]), fmt(copy), fmt(floor), cb["med"] / floor,
                    cb["min"] / floor, cb["max"] / floor, verdict))
                status.append("%s: **%s** (copy-before-write %.2fx the floor)" % (
                    name, "met" if met else "not met", cb["med"] / floor))
                if kc is not None:
                    kf = asy["med"] + kc
                    km = cb["med"] <= 1.2 * kf
                    ktgt.append("| %s | %s | %s | %s | %s | **%.2fx** (%.2f-%.2f) | %s |" % (
                        name, fmt(cb["med"]), fmt(asy["med"]), fmt(kc), fmt(kf), cb["med"] / kf,
                        cb["min"] / kf, cb["max"] / kf, "**met**" if km else "**not met**"))
                    status.append("%s, with the kernel's page copy: **%s** (%.2fx)" % (
                        name, "met" if km else "not met", cb["med"] / kf))
            else:
                tgt.append("| %s | %s | %s | %s | - | - | missing rows |" % (
                    name, fmt(cb["med"]) if cb else "-", fmt(asy["med"]) if asy else "-",
                    fmt(copy) if copy is not None else "-"))
            for m, ck in pts.items():
                a = agg[ck]
                v = a[col]
                r = rat(cb["med"], v["med"]) if cb else "-"
                cnt = ["%.3f" % a[x]["med"] if a[x]["med"] == a[x]["med"] else "-" for x in COUNTS]
                det.append("| %s | %s | %s [%s-%s] | %s | %s | %s | %s | %s | %s |" % (
                    name, m, fmt(v["med"]), fmt(v["min"]), fmt(v["max"]),
                    r, fmt(a["p50_ns"]["med"]), fmt(a["p99_ns"]["med"]),
                    fmt(a["max_ns"]["max"]), " | ".join(cnt), a["n"]))
            # ratios: mprotect+SIGSEGV, a plain handler thread and the best
            # guarantee-preserving hand-off (all copying), of this boot
            ho = [(agg[ck][col]["med"], m) for m, ck in pts.items()
                  if m.split(" ")[0] in HANDOFF_COPY]
            rs = ["/ %s %s" % (m, rat(cb["med"], agg[pts[m]][col]["med"]))
                  for m in CBW_CMP if cb and m in pts]
            if cb and ho:
                bv, bm = min(ho)
                rs.append("/ best hand-off (%s) %s" % (bm, rat(cb["med"], bv)))
            if rs:
                status.append("%s: copy-before-write %s" % (name, ", ".join(rs)))
        L += ["## Copy-before-write: the writer's stall per first write (%s)" % emu(c), "",
              "Per first write to a write-protected page whose old contents are saved, writes only "
              "(arming excluded), %s; median of the repeats [min-max]; p50/p99 are the medians of the "
              "repeats' per-write percentiles, max the largest single write.  The floor is async "
              "uffd-wp (`async-scan-rearm`: `UFFD_FEATURE_WP_ASYNC`, the kernel resolves the fault "
              "alone) plus one 4 KiB page copy in user space measured in the same boot "
              "(`none+copy` - `none`: a memcpy of a different page each time, then the write).  "
              "Every row carries one clock read per write." % ("emulated (TCG)" if c.startswith("TCG") else c), ""]
        L += tgt + [""]
        if kc is not None:
            L += ["The same floor with the page copy made the way the kernel makes it "
                  "(`bench/kcopy`: pread(2) of a whole shmem page minus pread(2) of 8 bytes, per "
                  "call, same boot): the kernel copies with string instructions (`rep movsb`, which "
                  "`copy_mc_to_kernel()` uses too on CPUs with ERMS), which QEMU TCG emulates several "
                  "times more slowly than the vector registers of a user-space memcpy(); on hardware "
                  "both copies are fast.  Copy-before-write must copy with `copy_mc` (machine-check "
                  "recovery, as copy-on-write does), so this is the floor it can reach here:", ""]
            L += ktgt + [""]
        L += ["Target status (%s): " % ("emulated (TCG)" if c.startswith("TCG") else c) + "; ".join(status) + "."
              if status else "Target status: no rows.", ""]
        L += ["`<method>+copy`: the handler (SIGSEGV handler, handler thread) copies the page "
              "before it un-protects; `[vm.userfaultfd_busy_poll_us=N]`: the same boot with the "
              "busy-poll bound raised (run.sh's named configuration).  Counts per write carry over "
              "to hardware: minor faults and context switches of the process (getrusage), system "
              "calls made by the program (counted in it).", ""]
        L += det
    return L


def load_snapshots():
    rows = []
    for fn in sorted(glob.glob(os.path.join(out, "snapshot-*.csv"))):
        with open(fn) as f:
            rows += list(csv.DictReader(f))
    return rows


def snapshot_section(rows):
    if not rows:
        return []
    L = []
    groups = OrderedDict()
    for r in rows:
        groups.setdefault(r["env"], OrderedDict()).setdefault((r["memtype"], r["fs"], r["method"]), []).append(r)
    for env, g in groups.items():
        mib = sorted({r["mib"] for rs in g.values() for r in rs})
        L += ["## A real client: point-in-time snapshots of a running writer (%s)" % emu(env), "",
              "bench/snapshot/snap.c, %s MiB; the writer is stopped for the instant (last "
              "generation per page copied, protection armed or fork()), then writes on while the "
              "snapshot is written to a file on the first file system; every page of every "
              "snapshot file is checked against the last generation written to it before the "
              "instant.  Per method: median of the snapshots [min-max]; stall = the writer's "
              "per-write time during the snapshot (p50/p99: median of the snapshots, max: the "
              "largest); throughput = writes/s during the snapshot / writes/s just before it "
              "without one; extra memory: cbw's slot buffer (peak slots in use), fork's pages "
              "the writer copied away from the child (pagemap, the child alone maps them), "
              "uffd: none (the handler writes the protected page to the file)." % "/".join(mib), "",
              "| memory | method | n | snapshot | writer stopped at the instant | stall p50 | p99 | max | "
              "throughput vs without | faults reported | cbw records | extra memory (peak) | "
              "minor faults | context switches | verification |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for (t, fs, m), rs in g.items():
            ok = [r for r in rs if r["rep"] != "-1"]
            name = memname(t, fs) if t != "anon" else "anon"
            if not ok:
                L.append("| %s | %s | 0 | %s |%s" % (name, m, rs[0]["status"][:60], " |" * 12))
                continue
            def mm(col, f=float):
                v = sorted(f(r[col]) for r in ok if r[col] not in ("", None))
                return quart(v)
            sn, pa, tp = mm("snap_ms"), mm("pause_us"), mm("tput_rel")
            p50, p99, mx = mm("p50_ns"), mm("p99_ns"), mm("max_ns")
            ex, pk = mm("extra_kib"), mm("extra_peak_kib")
            bad = sum(int(r["bad_pages"]) for r in ok)
            st = sorted({r["status"] for r in rs})
            ver = ("every page of %d snapshot(s) verified" % len(ok)) if bad == 0 and st == ["ok"] else \
                  "**%d bad pages**: %s" % (bad, "; ".join(st)[:120])
            extra = "0" if m == "uffd" else "%s (%s)" % (fmt_kib(ex["med"]), fmt_kib(pk["max"]))
            L.append("| %s | %s | %d | %s [%s-%s] | %s | %s | %s | %s | %sx [%s-%s] | %s | %s | %s | %s | %s | %s |" % (
                name, m, len(ok), fmt(sn["med"] * 1e6), fmt(sn["min"] * 1e6), fmt(sn["max"] * 1e6),
                fmt(pa["med"] * 1e3), fmt(p50["med"]), fmt(p99["med"]), fmt(mx["max"]),
                rat(tp["med"], 1), rat(tp["min"], 1), rat(tp["max"], 1), "%.0f" % mm("reports")["med"],
                "%.0f" % mm("records")["med"], extra, "%.0f" % mm("minflt")["med"],
                "%.0f" % mm("csw")["med"], ver))
        L.append("")
    return L


def fmt_kib(k):
    if k != k or k < 0:
        return "-"
    return "%.1f MiB" % (k / 1024) if k >= 1024 else "%.0f KiB" % k


def cbw_plots(agg, confs, srows):
    n = 0
    for c in confs:
        if "," in c or not any(cc == c and k[0] == CBW and v["n"] for (cc, k), v in agg.items()):
            continue
        xl, vals = [], {}
        mems = [("anon", "-"), ("file-shared", first_fs(agg, c))]
        labels = None
        for t, fs in mems:
            pts = cbw_points(agg, c, t, fs)
            if labels is None:
                labels = list(pts)
            xl.append(memname(t, fs))
            for m in labels:
                vals.setdefault(m, []).append(agg[pts[m]]["per_write_ns"]["med"] if m in pts else None)
            a, cp, no = pts.get("async-scan-rearm"), pts.get("none+copy"), pts.get("none")
            fl = agg[a]["per_write_ns"]["med"] + agg[cp]["per_write_ns"]["med"] - agg[no]["per_write_ns"]["med"] \
                if a and cp and no else None
            vals.setdefault("floor (async + copy)", []).append(fl)
        if not labels:
            continue
        order = [CBW, "floor (async + copy)"] + [m for m in labels if m != CBW]
        series = [(m, vals[m]) for m in order if m in vals]
        if bars("cbw-stall", "%s: the writer's stall per first write with the old page saved (median, writes only)" % emu(c),
                "ns per first write (median, log scale)", xl, series, logy=True):
            n += 1
    envs = []
    for r in srows:
        if r["env"] not in envs:
            envs.append(r["env"])
    for env in envs[:1]:
        ok = [r for r in srows if r["env"] == env and r["rep"] != "-1"]
        keys = []
        for r in ok:
            k = "%s %s" % (r["method"], "anon" if r["memtype"] == "anon" else r["fs"])
            if k not in keys:
                keys.append(k)
        def agg_of(col, f):
            return [f([float(r[col]) for r in ok if "%s %s" % (r["method"], "anon" if r["memtype"] == "anon" else r["fs"]) == k] or [float("nan")]) for k in keys]
        series = [("p50", agg_of("p50_ns", statistics.median)), ("p99", agg_of("p99_ns", statistics.median)),
                  ("max", agg_of("max_ns", max))]
        series = [(a, [v if v == v and v > 0 else None for v in vs]) for a, vs in series]
        if bars("snapshot-stall", "%s: the writer's per-write stall during a snapshot (bench/snapshot)" % emu(env),
                "ns per write (log scale)", keys, series, logy=True):
            n += 1
        tp = [("throughput during / without", [v if v == v else None for v in agg_of("tput_rel", statistics.median)])]
        if bars("snapshot-throughput", "%s: the writer's throughput during a snapshot / without one (median)" % emu(env),
                "ratio (1 = no slowdown)", keys, tp, logy=False, hline=(1, "without a snapshot")):
            n += 1
    return n


def main():
    rows = load_dir(out)
    if not rows:
        print("report: no %s/results-*.csv" % out, file=sys.stderr)
        return 1
    agg = aggregate(rows)
    confs = sorted({c for c, _ in agg}, key=conf_rank)
    bagg = None
    if baseline_dir:
        brows = load_dir(baseline_dir)
        bagg = aggregate(brows) if brows else None
    kernels = sorted({"%s: %s" % (c, a["kernel"]) for (c, _), a in agg.items()},
                     key=lambda s: conf_rank(s.split(":")[0]))
    L = ["# wtrack: cost of write tracking (issue 5)", "",
         "Configurations (every number below names the one it comes from): " +
         "; ".join(kernels) + ". Each point: one unmeasured warm-up round, "
         "then the measured repeats (n: 7 by default, 3 with QUICK, 10 with "
         "FULL); median, spread as IQR (and min-max). "
         "Ratios are to the mprotect+SIGSEGV median of the same boot; absolute "
         "TCG times are emulated (a fault costs 5-20x hardware) and only "
         "ratios and event counts are meant to carry over. Numbers from a "
         "machine shared with other jobs are noisy: compare the spread.", "",
         "Contents: headline (per write with arming included, CPU per write, "
         "latency percentiles); one handler serving 2 writers; a slow handler; "
         "polling on one vCPU; populated vs fresh pages; nothing got worse; events per write (trace); "
         "where each method stops working; per-figure tables (arm + writes, "
         "writes only, arm, collect, round, CPU) and latency percentiles for "
         "each configuration; skips. Plots: `headline.png`, "
         "`{armwrite,perwrite,arm,collect,round,cpu}-<memory>.png`.", ""]
    L += headline(agg, confs)
    srows = load_snapshots()
    for part in (cbw_stall(agg, confs), snapshot_section(srows)):
        if part:
            L += [""] + part
    for part in (two_writers(agg, confs), slow_handler(agg, confs),
                 polling_one_cpu(agg, confs), fresh_table(agg, confs)):
        if part:
            L += [""] + part
    L += [""] + nothing_worse(agg, confs, bagg)
    tt = trace_table()
    if tt:
        L += [""] + tt
    lt = limits(agg, confs)
    if lt:
        L += [""] + lt
    L += figure_tables(agg, confs)
    L += skips(agg, confs)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    write_csv(agg)
    n = plots(agg, confs) + cbw_plots(agg, confs, srows)
    print("report: %s/summary.md, summary.csv, %d plots (%s); %d points in %s" % (
        out, n, "*.png", len(agg), ", ".join(confs)), file=sys.stderr)
    return 0


sys.exit(main())
