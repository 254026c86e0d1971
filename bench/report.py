#!/usr/bin/python3
"""bench/report.py OUTDIR [--baseline DIR]: wtrack CSVs -> tables and PNG plots.

Reads every OUTDIR/results-*.csv written by bench/run.sh (one per
configuration: "TCG guest 2 vCPU", "TCG guest 1 vCPU", "native"; the first
two columns are env and kernel, then wtrack's columns) and OUTDIR/trace.csv
(bench/trace.sh), and writes:

  OUTDIR/summary.md    headline table, "nothing got worse" table, trace
                       counts, where each method stops working, then one
                       table per figure (arm, per-write, collect, round) and
                       configuration: median, IQR, min-max, ratio to the
                       mprotect+SIGSEGV median of the same configuration
                       (boot) and memtype/fs/pattern/size/writers
  OUTDIR/summary.csv   the same aggregates, one row per point
  OUTDIR/<figure>-<memtype>[-<fs>].png   figure in {arm, perwrite,
                       collect, round}: sequential, 1 writer, threads free,
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
           "uffd-read-cpu", "uffd-resolve", "uffd-resolve-cpu",
           "uffd-read-spin", "uffd-resolve-spin"]
HANDLER = ["uffd-read", "uffd-poll", "uffd-read-cpu", "uffd-resolve",
           "uffd-resolve-cpu", "uffd-read-spin", "uffd-resolve-spin"]
NEW = ["uffd-read-cpu", "uffd-resolve", "uffd-resolve-cpu",
       "uffd-read-spin", "uffd-resolve-spin"]
MEMTYPES = ["anon", "shmem", "hugetlb", "file-shared", "file-private"]
PATTERNS = ["seq", "rand", "scatter"]
CONF_ORDER = ["TCG guest 2 vCPU", "TCG guest 1 vCPU", "native"]
FIGS = [("arm_ns", "arm", "cost to arm (protect the whole range)"),
        ("per_write_ns", "perwrite", "cost per tracked first write (as the writer sees it)"),
        ("collect_ns", "collect", "cost to collect the dirty set"),
        ("round_ns", "round", "round total (arm + slowest writer + collect)")]
COLS = [c for c, _, _ in FIGS]
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
    return rows


def key(r):
    return (r["method"], r["memtype"], r["fs"], r["pattern"], int(r["pages"]),
            int(r["writers"]), r["pin"])


def sort_key(ck):
    c, (m, t, fs, p, n, w, pin) = ck
    return (conf_rank(c), idx(MEMTYPES, t), fs, idx(PATTERNS, p), n, w,
            pin, idx(METHODS, m))


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
            a[col] = quart(sorted(float(r[col]) for r in rs if r[col] != ""))
        agg[ck] = a
    return agg


def base_of(agg, ck):
    """(mprotect aggregate, approx flag) for the ratio of point ck: same
    configuration, memtype/fs/pattern/size, writers, threads free; else 1
    writer; else the closest size (approx)."""
    c, (m, t, fs, p, n, w, pin) = ck
    for ww in (w, 1):
        b = agg.get((c, ("mprotect", t, fs, p, n, ww, "free")))
        if b and b["n"]:
            return b, False
    cands = [(abs(k[4] - n), a) for (cc, k), a in agg.items()
             if cc == c and k[:4] == ("mprotect", t, fs, p) and k[5] in (w, 1)
             and k[6] == "free" and a["n"]]
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
    if approx and col != "per_write_ns":
        return None	# arm/collect/round scale with the size
    q = a[col]
    return dict(med=q["med"] / bm, q1=q["q1"] / bm, q3=q["q3"] / bm,
                approx=approx)


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


def pick(agg, conf, m, t, fs, pin, w=1, pattern="seq"):
    """the point of (conf, method, memtype, fs, pin, writers, pattern) with
    the smallest measured size (the handler-thread size, where mprotect is
    run too); None if not measured."""
    cands = [(k[4], (c, k)) for (c, k), a in agg.items()
             if c == conf and k[0] == m and k[1] == t and k[2] == fs
             and k[3] == pattern and k[5] == w and k[6] == pin and a["n"]]
    return min(cands)[1] if cands else None


def skipped(agg, conf, m, t, fs, pin, w=1, pattern="seq"):
    for (c, k), a in agg.items():
        if c == conf and k[0] == m and k[1] == t and k[2] == fs and \
           k[3] == pattern and k[5] == w and k[6] == pin:
            st = ",".join(a["status"])
            return st if len(st) <= 60 else st[:57] + "..."
    return None


def cell(agg, ck):
    if ck is None:
        return "-"
    a = agg[ck]
    q = a["per_write_ns"]
    return "%s [%s-%s] **x%s**" % (fmt(q["med"]), fmt(q["q1"]), fmt(q["q3"]),
                                fr(ratio(agg, ck, "per_write_ns"), False))


def headline(agg, confs):
    L = ["## Headline: handler-thread variants vs mprotect+SIGSEGV", "",
         "Per tracked first write, sequential, 1 writer: median [IQR] and "
         "**x ratio** to the mprotect+SIGSEGV median of the *same boot*, same "
         "memtype/fs and size (the handler-thread rows run on a smaller range "
         "in TCG; mprotect is measured at that size too). Columns: the "
         "configuration the number comes from; \"pinned\" = writer and "
         "handler on CPU 0 (`--pin`). `free/pinned` = 2-vCPU free median / "
         "2-vCPU pinned median (issue 5 target 1: <= 1.1). TCG times are "
         "emulated: read the ratios. `-` = not measured or SKIP (feature "
         "missing on that kernel; reasons in \"Not measured\").", ""]
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
                ck = pick(agg, c, m, t, fs, pin)
                if ck is None:
                    s = skipped(agg, c, m, t, fs, pin)
                    if s and s.startswith("SKIP:run.sh time budget"):
                        s = "not run: budget"
                    elif s and s.startswith("SKIP"):
                        s = "SKIP"	# the reasons are listed at the end
                    cells.append("- (%s)" % s if s and s != "ok" else "-")
                else:
                    cells.append(cell(agg, ck))
            fp = "-"
            a, b = pick(agg, TWO, m, t, fs, "free"), pick(agg, TWO, m, t, fs, "pinned")
            if a and b and m in HANDLER:
                fp = "%.2f" % (agg[a]["per_write_ns"]["med"] /
                               agg[b]["per_write_ns"]["med"])
            L.append("| %s | %s | %s | %s |" % (memname(t, fs), m,
                                                 " | ".join(cells), fp))
    return L


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
         "Ratio of the per-write median to the mprotect+SIGSEGV median of the "
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
            ro = ratio(agg, ok, "per_write_ns") if ok else None
            for m in NEW + ["uffd-poll"]:
                nk = pick(agg, c, m, t, fs, "free", 2)
                if nk is None:
                    s = skipped(agg, c, m, t, fs, "free", 2)
                    L.append("| %s | %s | %s | - (%s) | - |" % (
                        memname(t, fs), fr(ro), m, s or "not run"))
                    continue
                rn = ratio(agg, nk, "per_write_ns")
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
                r = ratio(agg, k, "per_write_ns") if k else None
                br = None
                if bagg:
                    bc = c if any(cc == c for cc, _ in bagg) else None
                    bk = pick(bagg, bc, m, t, fs, "free", w) if bc else None
                    br = ratio(bagg, bk, "per_write_ns") if bk else None
                if k is None:
                    s = skipped(agg, c, m, t, fs, "free", w)
                    L.append("| %s | %s | %d | - (%s) | %s | - |" % (
                        memname(t, fs), m, w, s or "not run", fr(br)))
                    continue
                if m == "mprotect":
                    a = agg[k]["per_write_ns"]
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
         "CPUs used. Counts carry over to hardware; times do not.", "",
         "| method | config | writes | ctxsw | idle sw | syscalls | faults | wakeups | x-CPU wakeups | migrations | CPUs |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append("| " + " | ".join(r.get(k, "") or "-" for k in (
            "method", "config", "writes", "ctxsw", "idle_sw", "syscalls", "faults",
            "wakeups", "xcpu_wakeups", "migrations", "cpus")) + " |")
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
        m, t, fs, p, pages, w, pin = k
        enomem = [s for s in a["status"] if s.startswith("ENOMEM")]
        if p != "scatter" or (pages != big and not enomem):
            continue
        if enomem:
            nw = enomem[0].split("@", 1)[1]
            res = "**stops working after %s tracked writes** (%s)" % (
                nw.split("(")[0], enomem[0])
        elif a["n"]:
            res = "works (per write %s)" % fmt(a["per_write_ns"]["med"])
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
                  "writers; threads free), IQR in ratio units in parentheses; "
                  "`~` = mprotect of the closest size (per-write only).", "",
                  "| method | memory | pattern | pages | w | pin | n | median | IQR | min-max | x mprot | status |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for ck in sorted((ck for ck in agg if ck[0] == c), key=sort_key):
                a = agg[ck]
                if not a["n"]:
                    continue
                m, t, fs, p, n, w, pin = ck[1]
                if col in ("arm_ns", "collect_ns") and m == "none":
                    continue
                q = a[col]
                st = ",".join(s for s in a["status"] if s != "ok") or "ok"
                L.append("| %s | %s | %s | %d | %d | %s | %d | %s | %s-%s | %s-%s | %s | %s |" % (
                    m, memname(t, fs), p, n, w, pin, a["n"], fmt(q["med"]),
                    fmt(q["q1"]), fmt(q["q3"]), fmt(q["min"]), fmt(q["max"]),
                    fr(ratio(agg, ck, col)), st))
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
               "writers", "pin", "n", "status"]
        for col in COLS:
            hdr += [col + s for s in ("_med", "_q1", "_q3", "_min", "_max", "_xmprot")]
        wr.writerow(hdr)
        for ck in sorted(agg, key=sort_key):
            a = agg[ck]
            row = [ck[0], a["kernel"]] + list(ck[1]) + [a["n"], ";".join(a["status"])]
            for col in COLS:
                q = a[col]
                r = ratio(agg, ck, col)
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
    for col, short, title in FIGS:
        for t, fs in mems:
            series = []
            for c in confs:
                vals = []
                for m in METHODS:
                    if col != "per_write_ns" and m == "none":
                        vals.append(None)
                        continue
                    # the largest measured size (arm/collect/round per page)
                    cands = [(k[4], a) for (cc, k), a in agg.items()
                             if cc == c and k[0] == m and k[1] == t and k[2] == fs
                             and k[3] == "seq" and k[5] == 1 and k[6] == "free" and a["n"]]
                    if not cands:
                        vals.append(None)
                        continue
                    pages, a = max(cands, key=lambda x: x[0])
                    v = a[col]["med"]
                    if col != "per_write_ns":
                        v /= pages
                    vals.append(v if v > 0 else None)
                series.append((c, vals))
            what = "per tracked write" if col == "per_write_ns" else "per page of the range"
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
                r = ratio(agg, ck, "per_write_ns") if ck else None
                vals[(c, pin)].append(r["med"] if r else None)
    series = [("%s, %s" % (c, "pinned" if pin == "pinned" else "threads free"), vals[(c, pin)])
              for c, pin in variants]
    if bars("headline", "per tracked write / mprotect+SIGSEGV per write, same boot (1 writer, sequential)\\nbelow the dashed line = faster than mprotect",
            "ratio to mprotect+SIGSEGV (log scale)", xl, series, logy=True,
            hline=(1, "mprotect = 1")):
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
         "then >= 5 measured repeats; median, spread as IQR (and min-max). "
         "Ratios are to the mprotect+SIGSEGV median of the same boot; absolute "
         "TCG times are emulated (a fault costs 5-20x hardware) and only "
         "ratios and event counts are meant to carry over. Numbers from a "
         "machine shared with other jobs are noisy: compare the spread.", "",
         "Contents: headline; nothing got worse; events per write (trace); "
         "where each method stops working; per-figure tables (arm, per-write, "
         "collect, round) for each configuration; skips. Plots: "
         "`headline.png`, `{arm,perwrite,collect,round}-<memory>.png`.", ""]
    L += headline(agg, confs)
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
    n = plots(agg, confs)
    print("report: %s/summary.md, summary.csv, %d plots (%s); %d points in %s" % (
        out, n, "*.png", len(agg), ", ".join(confs)), file=sys.stderr)
    return 0


sys.exit(main())
