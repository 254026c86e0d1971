#!/bin/bash
# make-bench.sh [--quick] [--full]: what `make bench` runs (bench/README.md),
# on the host: three configurations, every row labelled with its own: the
# 2-vCPU TCG guest (the whole matrix, then bench/trace.sh, then the
# snapshotter bench/snapshot/run.sh), the 1-vCPU TCG
# guest (handler-thread rows), natively on the host; then the tables and
# plots (build/bench/summary.md, *.png).  --quick: a few minutes; default:
# <= 20 min on the 2-core project machine; --full: the full matrix (hours).
# Not a test: no timing is asserted anywhere.  The kernel is KERNEL's
# (scripts/vmrun.sh), built beforehand (make kernel).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mode="" full="" vmt=1500 trace="TRACE_SIZE=1"
for a in "$@"; do
	case $a in
	--quick) mode=--quick; trace="TRACE_SIZE=1 TRACE_MEMTYPES=anon" ;;
	--full) full="FULL=1 "; vmt=9000; trace="TRACE_SIZE=4" ;;
	*) echo "make-bench: unknown argument $a" >&2; exit 2 ;;
	esac
done
kernel=${KERNEL:-series}
mkdir -p build/bench
rm -f build/bench/results-*.csv build/bench/snapshot-*.csv build/bench/trace.csv build/bench/*.png build/bench/*.dat

t0=$(date +%s)
VM_NAME=bench-$kernel VCPUS=2 VM_TIMEOUT=$vmt scripts/vmrun.sh \
	"${full}bench/run.sh $mode; r=\$?; $trace bench/trace.sh build/bench || r=1; bench/snapshot/run.sh $mode || r=1; exit \$r"
r1=$?; t1=$(date +%s)
VM_NAME=bench-$kernel-1vcpu VCPUS=1 VM_TIMEOUT=$vmt scripts/vmrun.sh \
	"${full}bench/run.sh --handler $mode"
r2=$?; t2=$(date +%s)
# shellcheck disable=SC2086
env ${full} bench/run.sh --native $mode
r3=$?; t3=$(date +%s)
/usr/bin/python3 bench/report.py build/bench
r4=$?; t4=$(date +%s)
echo "bench: 2-vCPU boot $((t1 - t0))s (rc $r1), 1-vCPU boot $((t2 - t1))s (rc $r2)," \
	"native $((t3 - t2))s (rc $r3), report $((t4 - t3))s; total $((t4 - t0))s; build/bench/summary.md"
[ "$r1$r2$r3$r4" = 0000 ]
