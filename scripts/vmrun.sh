#!/bin/bash
# vmrun.sh [shell | -f CMDFILE | CMD...]: boot the kernel that KERNEL
# selects (scripts/kernel-vars.sh: its vmlinux and its expected
# capabilities, EXPECT_* overrides applied) with scripts/vm.sh.  The
# Makefile's run, vmrun, shell and bench targets and check.sh all boot
# through here.  VM_NAME names the VM (default vmrun-KERNEL).
set -euo pipefail
. "$(dirname "$0")/kernel-vars.sh"
export VM_NAME=${VM_NAME:-vmrun-$KERNEL}
exec "$top/scripts/vm.sh" "$kobj/vmlinux" "$@"
