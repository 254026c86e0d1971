#!/usr/bin/python3
"""Run upstream mm kselftests and re-emit their results as TAP points.

    ksft.py tap   LABEL [--cwd DIR] -- CMD...   a kselftest that prints TAP
    ksft.py unit  LABEL [--cwd DIR] -- CMD...   uffd-unit-tests ("Testing X... done")
    ksft.py exit  LABEL [--cwd DIR] -- CMD...   one point from the exit status

Points are printed as "ok N - LABEL: desc"; the plan is printed at the end
(TAP allows a trailing plan).  Any SKIP is turned into a failure unless it
is allowed: the file memory types of uffd-unit-tests when the kernel is not
expected to support sync uffd-wp on files (UFFDWP_EXPECT_WP_FILE=0), the
hand-off tests when it is not expected to have the hand-off features
(UFFDWP_EXPECT_HANDOFF=0), or a
pattern listed in tests/lib/ksft-allowed-skips with its reason.
Several invocations can be chained in one process with ksft.py multi FILE
(each line of FILE: mode label [--cwd DIR] -- cmd...).
"""
import os, re, shlex, subprocess, sys, time

top = os.environ.get("UFFDWP_TOP", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
expect_file = os.environ.get("UFFDWP_EXPECT_WP_FILE", "1") == "1"
expect_handoff = os.environ.get("UFFDWP_EXPECT_HANDOFF", "1") == "1"
n = 0
failed = False      # any point failed (the exit status)
inv_failed = False  # a point of the current invocation failed (multi mode)

def allowed_skips():
    pats = []
    try:
        with open(os.path.join(top, "tests/lib/ksft-allowed-skips")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    pats.append(line.split(None, 1)[0])
    except OSError:
        pass
    return pats

ALLOWED = allowed_skips()

T0 = time.time()

def point(ok, desc, skip=None):
    global n, failed, inv_failed
    n += 1
    print(f"# +{time.time() - T0:.1f}s", flush=True)
    if skip is not None:
        if not skip_allowed(desc):
            ok, desc = False, f"{desc} (unexpected SKIP: {skip})"
        else:
            print(f"ok {n} - {desc} # SKIP {skip}", flush=True)
            return
    if not ok:
        failed = inv_failed = True
    print(f"{'ok' if ok else 'not ok'} {n} - {desc}", flush=True)

def skip_allowed(desc):
    if not expect_file and re.search(r"( on file(-private)?\b|:file(-private)?-wp\[)", desc):
        return True
    # the hand-off features (UFFD_FEATURE_WAKE_ON_CURRENT_CPU, _BUSY_POLL)
    # of the series' third group; plain wp-handoff needs neither
    if not expect_handoff and re.search(r"\bwp-(handoff(-range)?-current-cpu|handoff(-range)?-busy-poll|busy-poll-)", desc):
        return True
    return any(re.search(p, desc) for p in ALLOWED)

def run(argv, cwd):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
    for raw in p.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        yield line
    yield p.wait()

def mode_tap(label, argv, cwd):
    plan, seen, rc = None, 0, None
    for line in run(argv, cwd):
        if isinstance(line, int):
            rc = line
            break
        print("# " + line, flush=True)
        m = re.match(r"^1\.\.(\d+)", line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = re.match(r"^(not ok|ok)\s+\d+\s*(?:-\s*)?(.*)$", line)
        if not m:
            continue
        seen += 1
        desc = m.group(2)
        s = re.search(r"#\s*(SKIP|XFAIL)\b\s*(.*)$", desc, re.I)
        if s:
            desc = re.sub(r"\s*#.*$", "", desc)
        d = f"{label}: {desc}"
        if s and m.group(1) == "ok":
            point(True, d, skip=s.group(2) or s.group(1))
        else:
            point(m.group(1) == "ok", d)
    if plan is not None and seen < plan:
        point(False, f"{label}: planned {plan}, ran {seen}")
    if rc not in (0, 4) and not inv_failed:   # 4 = KSFT_SKIP
        point(False, f"{label}: exit status {rc}")
    if plan is None and seen == 0:
        point(rc == 0, f"{label}: no TAP output, exit status {rc}")

def mode_unit(label, argv, cwd):
    pending, rc = None, None
    buf = ""
    for line in run(argv, cwd):
        if isinstance(line, int):
            rc = line
            break
        print("# " + line, flush=True)
        buf += line + "\n"
        for m in re.finditer(r"Testing (.*?)\.\.\. (done|skipped \[reason: (.*?)\]|failed \[reason: (.*?)\])", buf):
            name = f"{label}: {m.group(1)}"
            if m.group(2) == "done":
                point(True, name)
            elif m.group(2).startswith("skipped"):
                point(True, name, skip=m.group(3))
            else:
                point(False, f"{name} ({m.group(4)})")
        buf = re.sub(r"(?s)^.*(done|skipped \[reason: .*?\]|failed \[reason: .*?\])\n", "", buf) \
            if re.search(r"Testing (.*?)\.\.\. (done|skipped|failed)", buf) else buf
        m = re.search(r"Testing (.*?)\.\.\. *$", buf)
        pending = m.group(1) if m else None
    if pending:
        point(False, f"{label}: {pending} (test program died: exit status {rc})")
    elif rc != 0:
        point(False, f"{label}: exit status {rc}")

def mode_exit(label, argv, cwd):
    rc = None
    for line in run(argv, cwd):
        if isinstance(line, int):
            rc = line
            break
        print("# " + line, flush=True)
    if rc == 4:     # KSFT_SKIP
        point(True, label, skip="the test skipped itself (KSFT_SKIP)")
    else:
        point(rc == 0, f"{label}" + ("" if rc == 0 else f" (exit status {rc})"))

MODES = {"tap": mode_tap, "unit": mode_unit, "exit": mode_exit}

def one(args):
    global inv_failed
    inv_failed = False
    mode, label, rest = args[0], args[1], args[2:]
    cwd = None
    if rest and rest[0] == "--cwd":
        cwd, rest = rest[1], rest[2:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    if cwd:
        os.makedirs(cwd, exist_ok=True)
    MODES[mode](label, rest, cwd)

def main():
    if sys.argv[1] == "multi":
        with open(sys.argv[2]) as f:
            for line in f:
                line = os.path.expandvars(line.strip())
                if line and not line.startswith("#"):
                    one(shlex.split(line))
    else:
        one(sys.argv[1:])
    print(f"1..{n}", flush=True)
    return 1 if failed else 0

sys.exit(main())
