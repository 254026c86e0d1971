#!/bin/bash
# series-check.sh: build every prefix of each of the four stacked series
# (patches/1-fix, 2-wp-file, 3-cbw, 4-handoff: base + the series below it +
# the first i patches of it) in one worktree and build directory, so each
# patch is shown to build on its own; checkpatch --strict on every patch.
# Incremental: only what each patch touches is rebuilt.
# checkpatch's UNKNOWN_COMMIT_ID is ignored: the base tree comes from a
# tarball without git history, so no Fixes: id can be found in it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -d build/linux/.git ] || scripts/mksrc.sh
scripts/tree-state.sh || exit 1
# series name of every patch, in order
names=()
for s in 1-fix 2-wp-file 3-cbw 4-handoff; do
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		names+=("$s")
	done < "patches/$s/series"
done
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
declare -A seen=()
for c in $(git -C build/linux rev-list --reverse base..HEAD); do
	i=$((i + 1))
	subj=$(git -C build/linux log -1 --format=%s "$c")
	git -C "$wt" checkout -q --detach "$c"
	ser=${names[$((i - 1))]}
	j=$(( ${seen[$ser]:-0} + 1 )); seen[$ser]=$j
	if ! (cd "$wt" && scripts/checkpatch.pl --strict -q --ignore UNKNOWN_COMMIT_ID -g HEAD >/dev/null); then
		echo "series-check: $ser patch $j ($subj): checkpatch --strict complains:" >&2
		(cd "$wt" && scripts/checkpatch.pl --strict --ignore UNKNOWN_COMMIT_ID -g HEAD) | sed 's/^/  /' >&2 || true
		fail=1
	fi
	if make -C "$wt" O="$obj" ARCH=x86_64 CC="ccache gcc" -j"$(nproc)" -s vmlinux >"$obj/build-$i.log" 2>&1 &&
	   ! grep -q -E ' (warning|error):' "$obj/build-$i.log"; then
		echo "ok $i - $ser $j builds: $subj"
	else
		echo "not ok $i - $ser $j does not build cleanly: $subj (see ${obj#$top/}/build-$i.log)"
		grep -E ' (warning|error):' "$obj/build-$i.log" | head -5 >&2 || true
		fail=1
	fi
done
echo "1..$i"
exit $fail
