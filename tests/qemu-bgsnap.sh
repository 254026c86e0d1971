#!/bin/bash
# QEMU's background snapshot (the real uffd-wp client) of a running guest
# whose RAM is a file on /dev/shm, ext4, xfs and btrfs; the snapshot is then
# loaded back and checked against the vCPU state.  See tests/lib/qemu_bgsnap.py.
exec /usr/bin/python3 "$UFFDWP_TOP/tests/lib/qemu_bgsnap.py"
