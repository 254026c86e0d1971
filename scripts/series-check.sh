#!/bin/bash
# series-check.sh: build every prefix of the series (base + first i
# patches, i = 1..N) in its own worktree and build directory, so each patch
# is shown to build on its own; checkpatch --strict on every patch.
# Incremental: only what each patch touches is rebuilt.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -d build/linux/.git ] || scripts/mksrc.sh
wt=$top/build/wt/prefix obj=$top/build/obj/prefix
if [ ! -e "$wt/.git" ]; then
	mkdir -p build/wt
	git -C build/linux worktree prune
	git -C build/linux worktree add -q --detach "$wt" base
fi
mkdir -p "$obj"
scripts/mkconfig.sh "$wt" "$obj" config/base.config >/dev/null
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/uffdwp/ccache} CCACHE_BASEDIR=$top
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime CCACHE_NOHASHDIR=1
fail=0 i=0
for c in $(git -C build/linux rev-list --reverse base..HEAD); do
	i=$((i + 1))
	subj=$(git -C build/linux log -1 --format=%s "$c")
	git -C "$wt" checkout -q --detach "$c"
	if ! (cd "$wt" && scripts/checkpatch.pl --strict -q -g HEAD >/dev/null); then
		echo "series-check: patch $i ($subj): checkpatch --strict complains:" >&2
		(cd "$wt" && scripts/checkpatch.pl --strict -g HEAD) | sed 's/^/  /' >&2 || true
		fail=1
	fi
	if make -C "$wt" O="$obj" ARCH=x86_64 CC="ccache gcc" -j"$(nproc)" -s vmlinux >"$obj/build-$i.log" 2>&1 &&
	   ! grep -q -E ' (warning|error):' "$obj/build-$i.log"; then
		echo "ok $i - builds: $subj"
	else
		echo "not ok $i - does not build cleanly: $subj (see ${obj#$top/}/build-$i.log)"
		grep -E ' (warning|error):' "$obj/build-$i.log" | head -5 >&2 || true
		fail=1
	fi
done
echo "1..$i"
exit $fail
