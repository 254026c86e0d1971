#!/bin/bash
# Upstream uffd-stress: a short bounded run on every memory type it supports
# (MISSING + WP with UFFDIO_COPY), and the write-protect-only mode the series
# adds, on anonymous memory and on shared and private regular files of every
# test file system.
S=$UFFDWP_TOP/build/selftests
MB=${UFFD_STRESS_MB:-32} BOUNCES=${UFFD_STRESS_BOUNCES:-8}
L=$(mktemp)
trap 'rm -f "$L"' EXIT
for t in anon shmem shmem-private hugetlb hugetlb-private; do
	echo "exit uffd-stress:$t-${MB}MiB-x$BOUNCES --cwd /tmp -- $S/uffd-stress $t $MB $BOUNCES"
done > "$L"
# The write-protect-only mode takes one fault per page per bounce: smaller.
echo "exit uffd-stress:anon-wp-16MiB-x4 --cwd /tmp -- $S/uffd-stress anon-wp 16 4" >> "$L"
for fs in $UFFDWP_FS; do
	for t in file-wp file-private-wp; do
		echo "exit uffd-stress:$t[${fs%%:*}]-16MiB-x4 --cwd /tmp -- $S/uffd-stress $t 16 4 -d ${fs#*:}"
	done
done >> "$L"
exec "$UFFDWP_TOP/tests/lib/ksft.py" multi "$L"
