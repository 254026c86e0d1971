#!/bin/bash
# trace.sh: per tracked write, what the writer and the handler cost in
# events: context switches (and how many involve the idle task), system
# calls, user page-fault entries, wakeups (and how many cross CPUs),
# migrations, the CPUs used and mmap_lock acquisitions -- from ftrace
# (sched_switch, sched_waking, sched_wakeup, sched_migrate_task,
# raw_syscalls:sys_enter, exceptions:page_fault_user,
# mmap_lock:mmap_lock_acquire_returned)
# between wtrack's --trace markers (around arming + the writes of each
# measured round, wtrack's timed region).  Runs in the guest (root, tracefs);
# counts carry over to hardware, times do not.  Not a test.
#
#   bench/trace.sh [OUTDIR]       (default build/bench)
# Environment: TRACE_METHODS (default: mprotect uffd-sigbus uffd-read
# uffd-read-cpu uffd-read-spin uffd-read-spin-cpu; uffd-read also pinned),
# TRACE_MEMTYPES ("anon file-shared"),
# TRACE_SIZE (MiB, 4), TRACE_FS (/mnt/ext4), TRACE_TIMEOUT (seconds per
# run, 120; `make bench` runs it with TRACE_SIZE=1 in the 2-vCPU boot).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/bench}
mkdir -p "$out"
cd "$top" || exit 1
W=$out/wtrack
bench/build.sh "$W" || exit 1
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
methods=${TRACE_METHODS:-"mprotect uffd-sigbus uffd-read uffd-read-cpu uffd-read-spin uffd-read-spin-cpu"}
memtypes=${TRACE_MEMTYPES:-"anon file-shared"}
size=${TRACE_SIZE:-4}
fsdir=${TRACE_FS:-/mnt/ext4}
csv=$out/trace.csv
: > "$out/trace.log"
echo "method,config,writes,ctxsw,idle_sw,syscalls,faults,wakeups,xcpu_wakeups,migrations,cpus,mmap_locks" > "$csv"
setup() {
	echo 0 > $T/tracing_on
	echo > $T/trace
	echo 16384 > $T/buffer_size_kb
	echo 1 > $T/options/record-tgid
	echo > $T/set_event
	for e in sched:sched_switch sched:sched_waking sched:sched_wakeup sched:sched_migrate_task \
		 raw_syscalls:sys_enter exceptions:page_fault_user mmap_lock:mmap_lock_acquire_returned; do
		echo "$e" >> $T/set_event || echo "trace.sh: no event $e" >&2
	done
}
setup
for mt in $memtypes; do
	for m in $methods; do
		for pin in free pinned; do
			case $pin:$m in pinned:uffd-read) ;; pinned:*) continue ;; esac
			args=(-m "$m" -t "$mt" -d "$fsdir" -s "$size" -r 3 --trace)
			[ $pin = pinned ] && args+=(--pin)
			echo > $T/trace
			echo 1 > $T/tracing_on
			timeout -k 5 "${TRACE_TIMEOUT:-120}" "$W" -T "${TRACE_TIMEOUT:-120}" "${args[@]}" < /dev/null > /dev/null 2>> "$out/trace.log"
			rc=$?
			echo 0 > $T/tracing_on
			label="$mt/$pin"
			if [ $rc != 0 ]; then
				echo "$m,$label,0,,,,,,,,rc=$rc," >> "$csv"
				continue
			fi
			cp $T/trace "$out/trace-last.txt"
			python3 bench/tracecount.py "$out/trace-last.txt" "$m" "$label" >> "$csv"
		done
	done
done
echo > $T/set_event
echo > $T/trace
column -s, -t < "$csv"
