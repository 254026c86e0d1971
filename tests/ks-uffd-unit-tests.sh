#!/bin/bash
# timeout: 1500
# Upstream uffd-unit-tests (built from the series' tree), each case one TAP
# point: anon, shmem, hugetlb (private and shared), and, where the series
# adds them, the regular-file memory types on every test file system.
S=$UFFDWP_TOP/build/selftests
L=$(mktemp)
trap 'rm -f "$L"' EXIT
echo "unit uffd-unit-tests --cwd /tmp -- $S/uffd-unit-tests" > "$L"
if "$S/uffd-unit-tests" -h 2>&1 | grep -q -- '-d DIR'; then
	for fs in $UFFDWP_FS; do
		echo "unit uffd-unit-tests[${fs%%:*}] --cwd /tmp -- $S/uffd-unit-tests -d ${fs#*:} -f file" >> "$L"
	done
fi
exec "$UFFDWP_TOP/tests/lib/ksft.py" multi "$L"
