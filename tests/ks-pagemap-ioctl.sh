#!/bin/bash
# Upstream pagemap_ioctl (PAGEMAP_SCAN, async uffd-wp): it creates its test
# files in the current directory, so it runs once from tmpfs and once from
# each test file system.
S=$UFFDWP_TOP/build/selftests
L=$(mktemp)
trap 'rm -f "$L"' EXIT
echo "tap pagemap_ioctl[tmpfs] --cwd /tmp/pagemap -- $S/pagemap_ioctl" > "$L"
for fs in $UFFDWP_FS; do
	echo "tap pagemap_ioctl[${fs%%:*}] --cwd ${fs#*:}/pagemap -- $S/pagemap_ioctl" >> "$L"
done
exec "$UFFDWP_TOP/tests/lib/ksft.py" multi "$L"
