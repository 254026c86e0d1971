#!/bin/bash
# lock-contention.sh CMD...: run CMD in the guest (root, tracefs) with the
# lock:contention_begin tracepoint on and a stack trace for each event, and
# count the contended acquisitions by where they came from: those of
# copy-before-write's per-context lock (a stack through wp_copy_reserve,
# wp_copy_publish, wp_copy_unreserve or userfaultfd_wp_copy_free), those of
# page-table locks in the same faults, and all others.  Stands in for
# lock_stat (CONFIG_LOCK_STAT needs lockdep, which changes what is measured):
# on a queued spinlock, contention_begin fires exactly when an acquisition
# has to wait.  Prints one "# contention:" line; counts carry over to
# hardware as an order of magnitude, not as times.  Not a test.
set -uo pipefail
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
ev=$T/events/lock/contention_begin
[ -d "$ev" ] || { echo "# contention: no lock:contention_begin tracepoint"; exit 0; }
echo 0 > $T/tracing_on
echo > $T/trace
echo 16384 > $T/buffer_size_kb
echo 'stacktrace' > "$ev/trigger"
echo 1 > "$ev/enable"
echo 1 > $T/tracing_on
"$@"
rc=$?
echo 0 > $T/tracing_on
echo 0 > "$ev/enable"
echo '!stacktrace' > "$ev/trigger" 2>/dev/null
python3 - "$T/trace" <<'PY'
import re, sys
ev = cur = None
counts = {"wpc": 0, "ptl-in-cbw": 0, "other": 0}
lost = 0
LOCKFRAMES = re.compile(r"^=> (queued_spin_lock_slowpath|native_queued_spin_lock_slowpath|"
                        r"_raw_spin_lock\w*|do_raw_spin_lock\w*|__raw_spin_lock\w*|"
                        r"trace_contention_begin|__traceiter\w*)")
def close(stack):
    """classify by the first frame above the spinlock's own frames"""
    if stack is None:
        return
    frames = [f for f in stack if not LOCKFRAMES.match(f)]
    first = frames[0] if frames else ""
    if re.search(r"wp_copy_(reserve|publish|unreserve)|userfaultfd_wp_copy", first):
        counts["wpc"] += 1
    elif re.search(r"pte_offset_map_lock", first) and any("userfaultfd_wp_copy" in f for f in frames[:4]):
        counts["ptl-in-cbw"] += 1
    else:
        counts["other"] += 1
stack = None
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("#"):
        if "entries-in-buffer" in line:
            m = re.search(r"entries-in-buffer/entries-written: (\d+)/(\d+)", line)
            if m:
                lost = int(m.group(2)) - int(m.group(1))
        continue
    if "contention_begin:" in line:
        close(stack)
        stack = []
    elif line.lstrip().startswith("=>") and stack is not None:
        stack.append(line.strip())
close(stack)
print("# contention: wp_copy lock %d, page-table lock in a copy %d, other %d, events lost %d" %
      (counts["wpc"], counts["ptl-in-cbw"], counts["other"], lost))
PY
exit $rc
