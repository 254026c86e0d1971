#!/bin/bash
# Fetch the base kernel tarball and print its path.
#
# Source: Debian's linux-source-6.12 at the version pinned in
# config/base-version.  If that exact version has left the archive, fall back
# to the newest linux-source-6.12 and say so loudly.  KERNEL_TARBALL=path
# overrides everything (e.g. a kernel.org linux-6.12.y tarball).
# Downloads are cached outside the clone, in $UFFDWP_CACHE (~/.cache/uffdwp).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${UFFDWP_CACHE:-$HOME/.cache/uffdwp}
mkdir -p "$cache"

if [ -n "${KERNEL_TARBALL:-}" ]; then
	[ -f "$KERNEL_TARBALL" ] || { echo "fetch-base: KERNEL_TARBALL=$KERNEL_TARBALL does not exist" >&2; exit 1; }
	echo "$KERNEL_TARBALL"
	exit 0
fi

pin=$(cat "$top/config/base-version")
tarball="$cache/linux-source-6.12_$pin.tar.xz"
if [ -f "$tarball" ]; then
	echo "$tarball"
	exit 0
fi

cd "$cache"
ver=$pin
if ! apt-get download "linux-source-6.12=$pin" >&2 2>"$cache/apt-download.log"; then
	cat "$cache/apt-download.log" >&2
	ver=$(apt-cache policy linux-source-6.12 | awk '/Candidate:/ {print $2}')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "fetch-base: linux-source-6.12 is not in the apt sources (run apt-get update?)" >&2
		exit 1
	fi
	cat >&2 <<MSG
########################################################################
## WARNING: the pinned base linux-source-6.12=$pin is no longer in the
## Debian archive.  FALLING BACK to the newest one: $ver.
## Results are not for the pinned version; update config/base-version
## once the series is verified on it.
########################################################################
MSG
	apt-get download "linux-source-6.12=$ver" >&2
	tarball="$cache/linux-source-6.12_$ver.tar.xz"
	[ -f "$tarball" ] && { echo "$tarball"; exit 0; }
fi
deb="$cache/linux-source-6.12_${ver}_all.deb"
[ -f "$deb" ] || deb=$(ls -t "$cache"/linux-source-6.12_*_all.deb 2>/dev/null | head -n1 || true)
[ -f "$deb" ] || { echo "fetch-base: download of linux-source-6.12 failed" >&2; exit 1; }
tmp=$(mktemp -d "$cache/unpack.XXXXXX")
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/src/linux-source-6.12.tar.xz
mv "$tmp/usr/src/linux-source-6.12.tar.xz" "$tarball"
rm -rf "$tmp" "$deb"
echo "$tarball"
