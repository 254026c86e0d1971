#!/bin/bash
# retry-known-flake.sh CMD...: run an upstream selftest; when it fails with
# the signature of a known upstream flake (below), run it again, up to 10
# times, and pass on the output and status of the last run with a note.
# Any other failure is passed on at once.
#
# Known flakes (each reproduced with the unmodified upstream selftest on the
# bare base kernel, so not caused by the series):
# - uffd-unit-tests "events on anon": "UFFDIO_COPY error: -2" (ENOENT) in
#   the monitor thread.  Measured on a quiet machine, 25 runs of
#   `uffd-unit-tests -f events` each: base kernel 16 failed, series kernel 13
#   failed, series kernel with the selftest built from the base tree 11
#   failed.  It aborts the whole uffd-unit-tests run, hiding the cases after
#   it.  10 tries: at that rate all 10 fail about once in 90 runs.
#   "events-wp on anon" is the same test with write protection and fails
#   the same way (2026-11-27, 30 runs of `uffd-unit-tests -f events-wp`
#   each: base kernel 15 failed, series kernel 15 failed); the debug lane
#   met it once.
#   The same test on the other memory types fails the same way: CI's debug
#   lane met "events on hugetlb-private ... UFFDIO_COPY error: -2" (stop 17),
#   and 40 runs of `uffd-unit-tests -f events` on the debug kernel in TCG
#   failed on hugetlb-private and anon alike; 60 runs on a 6.18 host (not
#   TCG) never failed.  The base-kernel runs above counted anon failures only;
#   the other types' failures were seen on the series kernels.  The
#   signature is the events test on any type, with this one error.
set -u
known='Testing events(-wp)? on [a-z-]+\.\.\. ERROR: UFFDIO_COPY error: -2 '
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for try in $(seq 10); do
	"$@" > "$out" 2>&1
	rc=$?
	if [ $rc = 0 ] || ! grep -Eq "$known" "$out" || [ $try = 10 ]; then
		break
	fi
	case_=$(grep -Eo "$known" "$out" | head -1 | sed -E 's/^Testing (events(-wp)? on [a-z-]+).*/\1/')
	echo "# known upstream flake ('$case_': UFFDIO_COPY ENOENT, the events test on any memory type; reproduces on the base kernel): run $try failed, running again"
done
cat "$out"
exit $rc
