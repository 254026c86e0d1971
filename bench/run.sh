#!/bin/bash
# bench/run.sh [--quick] [--native] -- write-tracking benchmark matrix.
#
# In the guest (default):
#   scripts/vm.sh build/obj/series/vmlinux 'bench/run.sh'
#   -> build/bench/results.csv, build/bench/summary.md, build/bench/*.png
# On the host (the methods the host kernel supports; file uffd rows SKIP
# on kernels without UFFD_FEATURE_WP_FILE):
#   bench/run.sh --native
#   -> build/bench/native-results.csv, build/bench/native-summary.md, PNGs
#
# --quick  ~2-3 min in the TCG guest (4 MiB, seq+scatter, one fs)
# FULL=1   larger matrix (16 and 64 MiB, all patterns, pinning, 10 repeats)
# Env: UFFDWP_FS (file systems to test, set by the guest init; --native:
# defaults to a directory under /tmp), BENCH_OUT (build/bench),
# BENCH_TIMEOUT (seconds per point, 300), BENCH_ENV (row label override),
# BENCH_BUDGET (seconds for the whole matrix; points after it are SKIP rows:
# quick 300, default 1140, FULL 7200), BENCH_MIB (range sizes, e.g. "16 64"),
# BENCH_SYNC_MIB (range for uffd-read/poll in the guest; empty = BENCH_MIB).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$top/build/bench}
quick=0 native=0
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	--native) native=1 ;;
	-h|--help) sed -n 2,19p "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
full=${FULL:-0}
ptimeout=${BENCH_TIMEOUT:-300}
mkdir -p "$out" || exit 1

# --- build (gcc from the host root, visible in the guest too) ---
bin=$out/wtrack
if [ ! -x "$bin" ] || [ "$top/bench/wtrack.c" -nt "$bin" ]; then
	tmp=$bin.tmp.$$
	# a read-only or foreign build dir: fall back to /tmp
	if ! gcc -O2 -Wall -pthread -o "$tmp" "$top/bench/wtrack.c" ||
	   ! mv -f "$tmp" "$bin"; then
		echo "run.sh: cannot build wtrack" >&2
		exit 1
	fi
fi

# --- environment label ---
if [ $native = 1 ]; then
	envlabel=${BENCH_ENV:-"native, host kernel $(uname -r)"}
	prefix=native-
	fslist=${UFFDWP_FS:-}
	if [ -z "$fslist" ]; then
		d=$(mktemp -d /tmp/wtrack-fs.XXXXXX)
		fslist=$d
		trap 'rm -rf "$d"' EXIT
	fi
else
	if grep -q 'TCG' /proc/cpuinfo; then
		envlabel="TCG guest (emulated)"
	elif grep -q '^flags.* hypervisor' /proc/cpuinfo; then
		envlabel="KVM guest"
	else
		envlabel="guest"
	fi
	envlabel=${BENCH_ENV:-"$envlabel, kernel $(uname -r)"}
	prefix=
	fslist=${UFFDWP_FS:-}
	[ -n "$fslist" ] || echo "run.sh: UFFDWP_FS unset: no file rows (run in the guest via scripts/vm.sh)" >&2
fi
csv=$out/${prefix}results.csv
log=$out/${prefix}run.log
: > "$log"
echo "env,$("$bin" -H)" > "$csv"

# --- matrix ---
methods="none mprotect softdirty uffd-read uffd-poll uffd-sigbus async-scan-wp async-scan-rearm"
syncm="uffd-read uffd-poll"
reps=5
# ssize: MiB for the methods with a handler thread (uffd-read/poll): every
# write is a cross-thread wakeup, which costs milliseconds in a TCG guest on a
# busy host, so they get a smaller range to stay inside the time budget.
if [ $quick = 1 ]; then
	size=4 ssize=1 hsize=8 patterns="seq scatter" fsuse=${fslist%% *} reps=5
	budget=${BENCH_BUDGET:-300}
elif [ "$full" = 1 ]; then
	size="16 64" ssize=16 hsize=64 patterns="seq rand scatter" fsuse=$fslist reps=10
	budget=${BENCH_BUDGET:-7200}
else
	size=16 ssize=1 hsize=32 patterns="seq rand scatter" fsuse=$fslist
	budget=${BENCH_BUDGET:-1140}
fi
[ $native = 1 ] && ssize=
size=${BENCH_MIB:-$size} ssize=${BENCH_SYNC_MIB-$ssize}
limit_size=384

npoints=0 nfail=0 nskip=0
start=$SECONDS
point() {	# wtrack args...  (bash builtins only: every exec is slow in TCG)
	npoints=$((npoints + 1))
	local tmp=$out/.point.$$ rc line last=
	# handler-thread methods: smaller range (see ssize; last -s wins)
	case " $* " in *" hugetlb "*) ;;
	*" uffd-read "*|*" uffd-poll "*) [ -n "$ssize" ] && set -- "$@" -s "$ssize" ;;
	esac
	if [ $((SECONDS - start)) -ge "$budget" ]; then
		# time budget (BENCH_BUDGET s) exhausted: record what was not run
		nskip=$((nskip + 1))
		"$bin" "$@" --skip "run.sh time budget (${budget}s) exhausted" > "$tmp" 2>/dev/null
		rc=0
	else
		timeout -k 5 "$ptimeout" "$bin" -T "$ptimeout" "$@" > "$tmp" 2> "$tmp.err"
		rc=$?
	fi
	local rows=0 bad=0
	while IFS= read -r line; do
		rows=$((rows + 1))
		case $line in *,MISMATCH:*|*,FAIL:*) bad=1 ;; esac
	done < "$tmp"
	if [ $rc != 0 ] && { [ $bad = 0 ] || [ $rc -gt 1 ]; }; then
		# crash/timeout: record it as a FAIL row
		echo "FAIL: rc=$rc wtrack $*" >&2
		echo "run.sh: rc=$rc: wtrack $*" >> "$tmp.err"
		"$bin" "$@" --skip "rc=$rc (crash or timeout after ${ptimeout}s)" 2>/dev/null |
			while IFS= read -r line; do echo "${line/,SKIP:/,FAIL:}"; done >> "$tmp"
	fi
	# 0 ok/SKIP/ENOMEM, 1 wrong dirty set (shown in the summary), else crash/timeout
	[ $rc -le 1 ] || nfail=$((nfail + 1))
	while IFS= read -r line; do echo "\"$envlabel\",$line"; done < "$tmp" >> "$csv"
	if [ -f "$tmp.err" ]; then
		while IFS= read -r line; do
			echo "$line" >> "$log"
			case $line in wtrack:*SKIP*) ;; wtrack:*) echo "$line" >&2 ;; esac
		done < "$tmp.err"
	fi
	rm -f "$tmp" "$tmp.err"
}

echo "run.sh: $envlabel; output $csv" >&2
for s in $size; do
	for t in anon shmem hugetlb; do
		ts=$s; [ $t = hugetlb ] && ts=$hsize
		for p in $patterns; do
			# hugetlb: 2 MiB pages, scatter/rand over 4-32 pages is the same story
			[ $t = hugetlb ] && [ $p = rand ] && continue
			[ $t = hugetlb ] && [ $quick = 1 ] && [ $p != seq ] && continue
			for m in $methods; do
				point -m $m -t $t -p $p -s $ts -r $reps
			done
		done
		# one handler serving 2 writers; pinned on one CPU
		[ $quick = 1 ] && [ $t != anon ] && continue
		for m in $syncm; do
			point -m $m -t $t -p seq -s $ts -r $reps -w 2
			point -m $m -t $t -p seq -s $ts -r $reps --pin
			[ "$full" = 1 ] && point -m $m -t $t -p seq -s $ts -r $reps -w 2 --pin
		done
		[ "$full" = 1 ] && for m in mprotect uffd-sigbus; do
			point -m $m -t $t -p seq -s $ts -r $reps -w 2
		done
	done
	for fsd in $fsuse; do
		# UFFDWP_FS entries are NAME:DIR (guest init), or plain DIRs
		case $fsd in *:*) fsn=${fsd%%:*} d=${fsd#*:} ;; *) fsn= d=$fsd ;; esac
		for t in file-shared file-private; do
			for p in $patterns; do
				[ $quick = 1 ] && [ $t = file-private ] && [ $p != seq ] && continue
				for m in $methods; do
					point -m $m -t $t -d "$d" ${fsn:+-f "$fsn"} -p $p -s $s -r $reps
				done
			done
			[ $t = file-shared ] && for m in $syncm; do
				point -m $m -t $t -d "$d" ${fsn:+-f "$fsn"} -p seq -s $s -r $reps -w 2
			done
		done
	done
done
# where mprotect stops working: scattered writes split the VMA until
# vm.max_map_count ($(cat /proc/sys/vm/max_map_count)); the same point for uffd-wp.
point -m mprotect -t anon -p scatter -s $limit_size -r 1
point -m uffd-sigbus -t anon -p scatter -s $limit_size -r 1
[ "$full" = 1 ] && point -m mprotect -t shmem -p scatter -s $limit_size -r 1

el=$((SECONDS - start))
echo "run.sh: $npoints points, $nfail crashed/timed out, $nskip not run (budget), ${el}s; $csv" >&2
/usr/bin/python3 "$top/bench/report.py" "$out" >&2 || nfail=$((nfail + 1))
[ $nfail = 0 ]
