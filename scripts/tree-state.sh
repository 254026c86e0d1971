#!/bin/bash
# Is build/linux exactly base + patches/series?  Exit 0 if so.
# "quiet" prints nothing; otherwise a message naming the fixing command.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux
say() { [ "${1:-}" = quiet ] || echo "$2" >&2; }
mode=${1:-}

if [ ! -d "$tree/.git" ]; then
	say "$mode" "build/linux does not exist: run 'make src'"
	exit 1
fi
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
	say "$mode" "build/linux has uncommitted changes: commit them and run 'make series', or test the tree as it is with 'make check WORKTREE=1'"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$tree" format-patch -q -o "$tmp/k" base..HEAD
kids=$(cat "$tmp"/k/*.patch 2>/dev/null | git patch-id --stable | cut -d' ' -f1)
pids=""
if [ -f "$top/patches/series" ]; then
	pids=$(grep -v -e '^#' -e '^$' "$top/patches/series" | while read -r p; do
		git patch-id --stable < "$top/patches/$p" | cut -d' ' -f1
	done)
fi
if [ "$kids" != "$pids" ]; then
	say "$mode" "build/linux (base..HEAD) differs from patches/: run 'make series' to export the tree, 'make src FORCE=1' to rebuild it from patches/, or test it as it is with 'make check WORKTREE=1'"
	exit 1
fi
exit 0
