#!/usr/bin/python3
"""bench/report.py OUTDIR: results CSVs -> summary tables and PNG plots.

Reads OUTDIR/results.csv (guest) and OUTDIR/native-results.csv (host),
whichever exist.  Writes OUTDIR/summary.md (guest) and
OUTDIR/native-summary.md, and OUTDIR/perwrite-<memtype>[-<fs>].png
(per-write cost by method, log scale, guest vs native) with gnuplot.
"""
import csv
import os
import statistics
import subprocess
import sys
from collections import OrderedDict, defaultdict

out = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
METHODS = ["none", "mprotect", "softdirty", "uffd-read", "uffd-poll",
           "uffd-sigbus", "async-scan-wp", "async-scan-rearm"]


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


def key(r):
    return (r["method"], r["memtype"], r["fs"], r["pattern"], r["pages"],
            r["writers"], r["pin"])


def med(v):
    return statistics.median(v) if v else float("nan")


def fmt(x):
    if x != x:
        return "-"
    if x >= 1e6:
        return "%.2f ms" % (x / 1e6)
    if x >= 1e3:
        return "%.1f us" % (x / 1e3)
    return "%.0f ns" % x


def aggregate(rows):
    groups = OrderedDict()
    status = defaultdict(set)
    for r in rows:
        k = key(r)
        groups.setdefault(k, [])
        status[k].add(r["status"])
        if r["repeat"] == "-1" or r["status"].startswith(("SKIP", "FAIL")):
            continue
        groups[k].append(r)
    agg = OrderedDict()
    for k, rs in groups.items():
        a = {"n": len(rs), "status": sorted(status[k])}
        for col in ("arm_ns", "per_write_ns", "collect_ns", "round_ns"):
            v = sorted(float(r[col]) for r in rs if r[col] != "")
            a[col] = (med(v), v[0] if v else float("nan"),
                      v[-1] if v else float("nan"))
        agg[k] = a
    return agg


def summary(rows, path):
    env = rows[0]["env"] if rows else "?"
    agg = aggregate(rows)
    L = ["# wtrack summary: %s" % env, "",
         "Medians over the repeats (one unmeasured warm-up round first); "
         "spread = min-max. `x mprot` = this median / the median of "
         "mprotect+SIGSEGV for the same memtype/fs/pattern/size, 1 writer, "
         "threads free, same run. per-write = cost of one tracked first "
         "write as seen by the writer (fault + report + resolve); round = "
         "arm + writes (slowest writer) + collect. hugetlb counts 2 MiB pages. "
         "`~`: ratio to mprotect at the closest size (uffd-read/poll run on a "
         "smaller range in the guest).",
         "",
         "| method | memtype | fs | pattern | pages | w | pin | arm | per-write (min-max) | x mprot | collect | round | x mprot | status |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    skips, limits, bad = [], [], []
    for k, a in agg.items():
        m, t, fs, p, n, w, pin = k
        st = ",".join(a["status"])
        if a["n"] == 0:
            skips.append((k, st))
            continue
        base = agg.get(("mprotect", t, fs, p, n, "1", "free"))
        approx = ""
        if not (base and base["n"]):
            # no mprotect row of this size (handler methods run smaller in
            # the guest): the per-write ratio uses the closest size, marked ~
            cands = [(abs(int(kk[4]) - int(n)), aa) for kk, aa in agg.items()
                     if kk[:4] == ("mprotect", t, fs, p) and kk[5:] == ("1", "free")
                     and aa["n"]]
            base = min(cands, key=lambda c: c[0])[1] if cands else None
            approx = "~"
        rpw = rr = "-"
        if base and base["n"] and not any(s.startswith("ENOMEM") for s in base["status"]):
            rpw = approx + "%.2f" % (a["per_write_ns"][0] / base["per_write_ns"][0]) if base["per_write_ns"][0] else "-"
            if not approx:
                rr = "%.2f" % (a["round_ns"][0] / base["round_ns"][0]) if base["round_ns"][0] else "-"
        pw = a["per_write_ns"]
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s (%s-%s) | %s | %s | %s | %s | %s |" % (
            m, t, fs, p, n, w, pin, fmt(a["arm_ns"][0]), fmt(pw[0]), fmt(pw[1]),
            fmt(pw[2]), rpw, fmt(a["collect_ns"][0]), fmt(a["round_ns"][0]), rr, st))
        for s in a["status"]:
            if s.startswith("ENOMEM") or (s != "ok" and "@" in s):
                limits.append((k, s))
            if s.startswith("MISMATCH"):
                bad.append((k, s))
    if limits:
        L += ["", "## Where a method stops working", ""]
        for k, s in limits:
            what, n = s.split("@", 1)
            mmc = "vm.max_map_count"
            if "(" in n:
                n, extra = n.split("(", 1)
                mmc = "vm." + extra.rstrip(")")
            L.append("- %s on %s%s, pattern %s%s, %s pages: **stops "
                     "working at %s tracked writes** (mprotect fails with %s: each "
                     "unprotected page splits the VMA; %s)" % (
                         k[0], k[1], "" if k[2] == "-" else "/" + k[2], k[3],
                         " (every 2nd page)" if k[3] == "scatter" else "", k[4],
                         n, what, mmc))
    if bad:
        L += ["", "## Wrong dirty set (collected/written pages)", ""]
        L += ["- %s: %s" % ("/".join(k), s) for k, s in bad]
    if skips:
        L += ["", "## Skipped or failed (not measured)", ""]
        L += ["- %s: %s" % ("/".join(k), s) for k, s in skips]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")
    return agg


def plots(sets):
    """sets: list of (label, agg); one PNG per memtype/fs, seq, 1 writer, free."""
    series = [(lbl, agg) for lbl, agg in sets if agg]
    if not series:
        return
    keys = OrderedDict()
    for _, agg in series:
        for k in agg:
            if k[3] == "seq" and k[5] == "1" and k[6] == "free":
                keys[(k[1], k[2])] = 1
    for t, fs in keys:
        name = "perwrite-%s%s" % (t, "" if fs == "-" else "-" + fs)
        dat = os.path.join(out, name + ".dat")
        table = []
        for m in METHODS:
            vals = []
            for _, agg in series:
                v = [a["per_write_ns"][0] for k, a in agg.items()
                     if k[0] == m and k[1] == t and k[2] == fs and
                     k[3] == "seq" and k[5] == "1" and k[6] == "free" and a["n"]]
                vals.append("%.1f" % v[-1] if v and v[-1] > 0 else "?")
            if any(x != "?" for x in vals):
                table.append((m, vals))
        # only the environments with at least one value in this plot
        cols = [i for i in range(len(series)) if any(v[i] != "?" for _, v in table)]
        if not cols:
            continue
        with open(dat, "w") as f:
            f.write("method\t" + "\t".join('"%s"' % series[i][0] for i in cols) + "\n")
            for m, vals in table:
                f.write(m + "\t" + "\t".join(vals[i] for i in cols) + "\n")
        title = "per tracked first write, %s%s, sequential, 1 writer" % (
            t, "" if fs == "-" else " on " + fs)
        ncol = len(cols)
        plot = ", ".join(
            "'%s' using %d:xtic(1) title columnheader(%d)" % (dat, i + 2, i + 2)
            for i in range(ncol))
        gp = """set terminal pngcairo size 1000,560 font ",10" noenhanced
set output '%s'
set title "%s\\n(missing bar = unsupported/SKIP; numbers from a busy shared machine)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set ylabel "ns per write (median, log scale)"
set grid ytics
set key top left
set xtics rotate by -25
set datafile missing '?'
plot %s
""" % (os.path.join(out, name + ".png"), title, plot)
        try:
            subprocess.run(["gnuplot"], input=gp, text=True, check=True)
        except Exception as e:  # no gnuplot (e.g. minimal guest): keep going
            print("report: gnuplot failed for %s: %s" % (name, e), file=sys.stderr)
            try:
                # retry with the plain png terminal
                subprocess.run(["gnuplot"], input=gp.replace("pngcairo", "png"),
                               text=True, check=True)
            except Exception:
                pass


sets = []
for fn, sm in (("results.csv", "summary.md"), ("native-results.csv", "native-summary.md")):
    rows = load(os.path.join(out, fn))
    if rows is None:
        continue
    agg = summary(rows, os.path.join(out, sm))
    label = rows[0]["env"] if rows else fn
    sets.append((label, agg))
    print("report: %s" % os.path.join(out, sm), file=sys.stderr)
plots(sets)
print("report: plots %s/perwrite-*.png" % out, file=sys.stderr)
