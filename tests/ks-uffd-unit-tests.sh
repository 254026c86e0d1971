#!/bin/bash
# Upstream uffd-unit-tests (built from the series' tree), each case one TAP
# point: anon, shmem, hugetlb (private and shared) and, added by the series,
# the regular-file memory types "file" and "file-private": all types with
# files on the first test file system, then the file types on the others.
# UFFDWP_UNIT_FILTER=NAME runs only the cases uffd-unit-tests -f NAME selects
# (a test name or memory type substring), on the first test file system
# (scripts/check-broken.sh: a broken kernel that would hang other cases).
S=$UFFDWP_TOP/build/selftests
L=$(mktemp)
trap 'rm -f "$L"' EXIT
first=1
for fs in $UFFDWP_FS; do
	if [ -n "${UFFDWP_UNIT_FILTER:-}" ]; then
		echo "unit uffd-unit-tests[${fs%%:*}] --cwd /tmp -- $UFFDWP_TOP/tests/lib/retry-known-flake.sh $S/uffd-unit-tests -d ${fs#*:} -f $UFFDWP_UNIT_FILTER"
		break
	elif [ $first = 1 ]; then
		echo "unit uffd-unit-tests[${fs%%:*}] --cwd /tmp -- $UFFDWP_TOP/tests/lib/retry-known-flake.sh $S/uffd-unit-tests -d ${fs#*:}"
		first=0
	else
		echo "unit uffd-unit-tests[${fs%%:*}] --cwd /tmp -- $UFFDWP_TOP/tests/lib/retry-known-flake.sh $S/uffd-unit-tests -d ${fs#*:} -f file"
	fi
done > "$L"
exec "$UFFDWP_TOP/tests/lib/ksft.py" multi "$L"
