#!/bin/bash
# Install the Debian packages this project needs, if missing.  As root with
# apt-get; otherwise print the exact sudo command and stop.
set -euo pipefail
pkgs="qemu-system-x86 gcc make flex bison bc libelf-dev libssl-dev cpio ccache
git xz-utils rsync kmod e2fsprogs xfsprogs btrfs-progs util-linux python3
dwarves libcap-dev libnuma-dev gnuplot-nox procps"
missing=()
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages. Run:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" ||
	{ apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
