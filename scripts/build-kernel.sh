#!/bin/bash
# build-kernel.sh: build vmlinux for $KERNEL (see kernel-vars.sh), reusing
# its own build directory so rebuilds are incremental; ccache on.
set -euo pipefail
. "$(dirname "$0")/kernel-vars.sh"
cd "$top"

case $KERNEL in
series|debug)
	[ -d build/linux/.git ] || scripts/mksrc.sh
	if [ "${WORKTREE:-0}" != 1 ]; then
		scripts/tree-state.sh || exit 1
	fi ;;
file|cbw|base|extra)
	[ -d build/linux/.git ] || scripts/mksrc.sh
	if [ ! -e "$ksrc/.git" ]; then
		mkdir -p build/wt
		git -C build/linux worktree prune
		git -C build/linux worktree add -q --detach "$ksrc" base
	fi
	if [ $KERNEL = base ]; then
		git -C "$ksrc" checkout -q --detach base
	elif [ $KERNEL = file ] || [ $KERNEL = cbw ]; then
		# base + the first two series (file) or three (cbw): the commit
		# of the last patch of patches/2-wp-file or patches/3-cbw
		# (build/linux must match patches/).
		scripts/tree-state.sh || exit 1
		if [ $KERNEL = file ]; then
			n=$(cat patches/1-fix/series patches/2-wp-file/series | grep -c -v -e '^#' -e '^$')
		else
			n=$(cat patches/1-fix/series patches/2-wp-file/series patches/3-cbw/series |
				grep -c -v -e '^#' -e '^$')
		fi
		c=$(git -C build/linux rev-list --reverse base..HEAD | sed -n "${n}p")
		[ -n "$c" ] || { echo "build-kernel: build/linux has fewer than $n patches" >&2; exit 1; }
		git -C "$ksrc" checkout -q --detach "$c"
		echo "build-kernel: KERNEL=$KERNEL at $(git -C "$ksrc" log -1 --format='%h %s')"
	else
		[ -n "${EXTRA_PATCHES:-}" ] && [ -d "$EXTRA_PATCHES" ] || {
			echo "KERNEL=extra needs EXTRA_PATCHES=dir (with *.patch files)" >&2; exit 2; }
		# the series as exported (not a tree in the middle of a rebase)
		if [ "${WORKTREE:-0}" != 1 ]; then
			scripts/tree-state.sh || exit 1
		fi
		git -C "$ksrc" am --abort >/dev/null 2>&1 || true
		git -C "$ksrc" checkout -q --detach "$(git -C build/linux rev-parse HEAD)"
		echo "build-kernel: KERNEL=extra on $(git -C "$ksrc" log -1 --format='%h %s')"
		for p in "$EXTRA_PATCHES"/*.patch; do
			git -C "$ksrc" am -q --3way "$(realpath "$p")" || {
				echo "extra patch $p does not apply" >&2; exit 1; }
			echo "build-kernel: extra patch applied: $(basename "$p")"
		done
	fi ;;
esac

# Config: regenerate when the fragments change.
mkdir -p "$kobj"
sum=$(cat $frags | sha1sum | cut -d' ' -f1)
if [ ! -f "$kobj/.config" ] || [ "$(cat "$kobj/.frags.sha1" 2>/dev/null)" != "$sum" ]; then
	scripts/mkconfig.sh "$ksrc" "$kobj" $frags
	echo "$sum" > "$kobj/.frags.sha1"
fi

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/uffdwp/ccache}
export CCACHE_BASEDIR=$top
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
export CCACHE_NOHASHDIR=1
ccache -M 10G >/dev/null 2>&1 || true
start=$(date +%s)
echo "build-kernel: KERNEL=$KERNEL src=${ksrc#$top/} obj=${kobj#$top/}"
make -C "$ksrc" O="$kobj" ARCH=x86_64 CC="ccache gcc" HOSTCC="ccache gcc" \
	-j"$(nproc)" -s vmlinux headers
echo "build-kernel: vmlinux for KERNEL=$KERNEL ready in $(( $(date +%s) - start ))s"
