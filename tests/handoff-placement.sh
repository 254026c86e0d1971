#!/bin/bash
# handoff-placement: UFFD_FEATURE_WAKE_ON_CURRENT_CPU places the hand-off
# on the waker's CPU.  A writer and a handler thread, both free to run on
# any CPU, serve 256 write-protect faults; ftrace (sched_waking,
# sched_wakeup, sched_switch) between wtrack's markers counts, per write,
# wakeups whose target CPU is not the waker's CPU and switches to or from
# the idle task.  With the feature (uffd-read-cpu) both
# must be 0 up to stray interrupts (< 0.05 per write): WF_CURRENT_CPU is a
# placement rule, not a timing.  uffd-read (the feature off) is printed as
# the contrast.  Uses bench/trace.sh and bench/tracecount.py.
set -u
top=${UFFDWP_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
out=$(mktemp -d /tmp/handoff.XXXXXX)
trap 'rm -rf "$out"' EXIT
n=0
echo "1..2"
if [ "$(nproc)" -lt 2 ]; then
	for i in 1 2; do echo "ok $i - placement # SKIP one CPU: nothing to place"; done
	exit 0
fi
fs=${UFFDWP_FS:-ext4:/mnt/ext4}
fs=${fs%% *}
TRACE_METHODS="uffd-read uffd-read-cpu" TRACE_MEMTYPES="anon file-shared" \
	TRACE_SIZE=1 TRACE_FS=${fs#*:} "$top/bench/trace.sh" "$out" > "$out/table" 2>&1
sed 's/^/# /' "$out/table"
fail=0
while IFS=, read -r method config writes ctxsw idle syscalls faults wakeups xcpu migr cpus; do
	[ "$method" = method ] && continue
	case $config in */pinned) continue ;; esac
	case $method in
	uffd-read)
		echo "# contrast, feature off: $method $config: $xcpu cross-CPU wakeups, $idle idle switches per write"
		continue ;;
	esac
	n=$((n + 1))
	desc="$method $config: cross-CPU wakeups $xcpu, idle switches $idle per write"
	if [ "${writes:-0}" = 0 ]; then
		if [ "${UFFDWP_EXPECT_HANDOFF:-1}" = 0 ]; then
			echo "ok $n - $desc # SKIP kernel without the hand-off features (expected)"
		else
			echo "not ok $n - $method $config: no measurement (feature missing or wtrack failed: $cpus)"
			fail=1
		fi
		continue
	fi
	if awk -v x="$xcpu" -v i="$idle" 'BEGIN { exit !(x < 0.05 && i < 0.05) }'; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc (want < 0.05: the hand-off left the waker's CPU)"
		fail=1
	fi
done < "$out/trace.csv"
exit $fail
