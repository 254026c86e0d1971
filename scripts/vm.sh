#!/bin/bash
# vm.sh KERNEL_IMAGE [shell | -f CMDFILE | CMD...]
# Boot KERNEL_IMAGE in QEMU the way virtme-ng does: the host root shared
# read-only over 9p, tmpfs wherever the guest writes, this repository mounted
# read-write at the same path, fresh ext4/xfs/btrfs file systems on virtio
# disks.  Runs CMD (bash -c; the words joined by spaces, or the text of
# CMDFILE as it is, with no re-quoting) in the guest from the repository
# root and exits with its status.  "shell" gives an interactive guest.
#
# Knobs (environment): VCPUS (2), MEM (MiB, 4096), QEMU_ACCEL (tcg|kvm, auto),
# VM_TIMEOUT (seconds, 1800), VM_NAME (log name), VM_APPEND (extra kernel
# parameters).  What the guest gets of the environment: scripts/guest-env.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kernel=$1
shift
[ -f "$kernel" ] || { echo "vm: no kernel image $kernel (run make kernel)" >&2; exit 2; }

vcpus=${VCPUS:-2}
mem=${MEM:-4096}
timeout_s=${VM_TIMEOUT:-1800}
name=${VM_NAME:-vm}
vmdir=$top/build/vm/$name
rm -rf "$vmdir"
mkdir -p "$vmdir/etc"

# Accelerator: KVM only on bare metal (nested KVM here is slower than TCG).
accel=${QEMU_ACCEL:-}
if [ -z "$accel" ]; then
	accel=tcg
	if [ -w /dev/kvm ] && ! grep -q '^flags.* hypervisor' /proc/cpuinfo; then
		accel=kvm
	fi
fi
case $accel in
kvm) cpu="-cpu host,-arch-capabilities" ;;
tcg) cpu="-cpu max" ;;
*) echo "vm: QEMU_ACCEL must be tcg or kvm" >&2; exit 2 ;;
esac

# Fresh file systems for every boot (sparse images, formatted on the host).
disks=()
mkdisk() { # name size mkfs...
	local img=$vmdir/$1.img
	truncate -s "$2" "$img"
	"${@:3}" "$img" >/dev/null
	disks+=(-drive "file=$img,if=none,id=d$1,format=raw,cache=unsafe,discard=unmap"
		-device "virtio-blk-pci,drive=d$1,serial=$1")
}
mkdisk ext4 2G mkfs.ext4 -q -F
mkdisk xfs 2G mkfs.xfs -q -f
mkdisk btrfs 2G mkfs.btrfs -q -f
mkdisk small 64M mkfs.ext4 -q -F -m 0
mkdisk stable 64M mkfs.ext4 -q -F

# A non-root account for permission tests.
cp /etc/passwd /etc/group "$vmdir/etc/"
echo "uffdtest:x:4242:4242:uffd-wp tests:/tmp:/bin/sh" >> "$vmdir/etc/passwd"
echo "uffdtest:x:4242:" >> "$vmdir/etc/group"

# What the guest runs.
if [ "${1:-}" = shell ]; then
	echo "shell" > "$vmdir/cmd"
elif [ "${1:-}" = -f ]; then
	cp "$2" "$vmdir/cmd"
	set -- cmdfile
else
	printf '%s\n' "$*" > "$vmdir/cmd"
fi
UFFDWP_TOP=$top UFFDWP_VMDIR=$vmdir "$top/scripts/guest-env.sh" > "$vmdir/env"

# Two NUMA nodes: memory split in halves, vCPUs split too.
half=$((mem / 2))
numa=(-object "memory-backend-ram,id=m0,size=${half}M" -object "memory-backend-ram,id=m1,size=$((mem - half))M")
smp="$vcpus"
if [ "$vcpus" -ge 2 ] && [ $((vcpus % 2)) = 0 ]; then
	# One socket per node (a node boundary inside a socket is a WARN).
	smp="$vcpus,sockets=2,cores=$((vcpus / 2)),threads=1"
	numa+=(-numa "node,nodeid=0,memdev=m0,cpus=0-$((vcpus / 2 - 1))" -numa "node,nodeid=1,memdev=m1,cpus=$((vcpus / 2))-$((vcpus - 1))")
else
	numa+=(-numa "node,nodeid=0,memdev=m0,cpus=0" -numa "node,nodeid=1,memdev=m1")
fi

append="console=ttyS0 earlyprintk=serial,ttyS0 root=/dev/root rootfstype=9p"
append+=" rootflags=trans=virtio,version=9p2000.L,msize=1048576,cache=loose ro"
append+=" init=$top/guest/init UFFDWP_VMDIR=$vmdir"
append+=" panic_on_warn=1 oops=panic panic=-1 hung_task_panic=1 softlockup_panic=1"
append+=" transparent_hugepage=madvise mitigations=off tsc=reliable no_hash_pointers"
append+=" ${VM_APPEND:-}"

qemu=(qemu-system-x86_64 -machine q35,accel=$accel $cpu -smp "$smp" -m "${mem}M"
	"${numa[@]}"
	-kernel "$kernel" -append "$append"
	-nographic -no-reboot -nodefaults -serial mon:stdio
	-fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap"
	-device "virtio-9p-pci,fsdev=root,mount_tag=/dev/root"
	-fsdev "local,id=repo,path=$top,security_model=none,multidevs=remap"
	-device "virtio-9p-pci,fsdev=repo,mount_tag=repo"
	"${disks[@]}")

log=$vmdir/console.log
echo "vm: booting $(basename "$kernel") [$name] accel=$accel vcpus=$vcpus mem=${mem}M; console log: ${log#$top/}" >&2
set +e
if [ "${1:-}" = shell ]; then
	"${qemu[@]}"
else
	timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" < /dev/null 2>&1 | tee "$log"
	qrc=${PIPESTATUS[0]}
fi
set -e
[ "${1:-}" = shell ] && exit 0
if [ "$qrc" = 124 ]; then
	echo "vm: TIMEOUT after ${timeout_s}s (VM_TIMEOUT); console log: $log" >&2
fi
rc=1
if ! "$top/scripts/check-console.sh" "$log"; then
	rc=1
elif [ -f "$vmdir/exit-code" ]; then
	rc=$(cat "$vmdir/exit-code")
else
	echo "vm: the guest did not report an exit code (crash or timeout); see $log" >&2
fi
exit "$rc"
