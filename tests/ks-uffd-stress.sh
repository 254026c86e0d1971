#!/bin/bash
# timeout: 1500
# Upstream uffd-stress: a short bounded run on every memory type it supports
# (MISSING + WP with UFFDIO_COPY), and its write-protect-only mode on the
# regular files of every test file system where the series adds it.
S=$UFFDWP_TOP/build/selftests
MB=${UFFD_STRESS_MB:-32} BOUNCES=${UFFD_STRESS_BOUNCES:-8}
L=$(mktemp)
trap 'rm -f "$L"' EXIT
for t in anon shmem shmem-private hugetlb hugetlb-private; do
	echo "exit uffd-stress:$t-${MB}MiB-x$BOUNCES --cwd /tmp -- $S/uffd-stress $t $MB $BOUNCES" >> "$L"
done
exec "$UFFDWP_TOP/tests/lib/ksft.py" multi "$L"
