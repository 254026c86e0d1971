#!/bin/bash
# The demo of `make run` (runs in the guest): uffd-wp write tracking on
# anonymous memory, shmem, and shared and private regular files on every
# test file system.
echo
echo "=== $(uname -r): uffd-wp write tracking ==="
"$UFFDWP_TOP/build/demo/uffd-wp-demo" $UFFDWP_FS
