#!/usr/bin/python3
"""stats.py VMDIR...: check and summarize what the tests reported (host side).

guest/run-tests sums every test's "# stats: key=N ..." lines into
VMDIR/stats.json.  tests/stats names the tests that must report and the
keys each must report.  For each such test that ran (it has a log in a
VMDIR/logs; the VMDIRs of one check, one per boot, are merged), one TAP
line: "ok - stats: NAME: ..." or "not ok - stats: NAME reported no KEY";
then "# reliability: ..." lines summing the keys.
Exit status: 1 if any required key is missing.
"""
import json, os, sys

top = os.environ.get("UFFDWP_TOP") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def required():
    req = {}
    with open(os.path.join(top, "tests", "stats")) as f:
        for line in f:
            w = line.split("#", 1)[0].split()
            if w:
                req[w[0]] = w[1:]
    return req


stats, ran = {}, set()
for vmdir in sys.argv[1:]:
    try:
        with open(os.path.join(vmdir, "stats.json")) as f:
            for name, kv in json.load(f).items():
                mine = stats.setdefault(name, {})
                for k, v in kv.items():
                    mine[k] = mine.get(k, 0) + v
    except (OSError, ValueError):
        pass
    logs = os.path.join(vmdir, "logs")
    if os.path.isdir(logs):
        ran |= {f[:-4] for f in os.listdir(logs) if f.endswith(".log")}

bad = 0
for name, keys in sorted(required().items()):
    if name not in ran:
        continue
    mine = stats.get(name, {})
    missing = [k for k in keys if k not in mine]
    if missing:
        bad += 1
        print(f"not ok - stats: {name} reported no {' '.join(missing)} (no '# stats:' line with them)")
    else:
        print(f"ok - stats: {name}: " + ", ".join(f"{mine[k]} {k}" for k in keys))
for name in sorted(stats):
    print(f"# reliability: {name}: " + ", ".join(f"{v} {k}" for k, v in sorted(stats[name].items())))
sys.exit(1 if bad else 0)
