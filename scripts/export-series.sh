#!/bin/bash
# export-series.sh: regenerate patches/ from build/linux (base..HEAD):
# stable file names (NNNN-subject.patch), patches/series, and the cover
# letter kept as patches/0000-cover-letter.patch (its text is taken from
# patches/cover-letter.txt: first line the subject, then the body).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux
cd "$top"
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
	echo "series: build/linux has uncommitted changes; commit them first" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=$(git -C "$tree" rev-list --count base..HEAD)
git -C "$tree" format-patch -q --no-signature --zero-commit --no-numbered \
	-o "$tmp" base..HEAD
rm -f patches/[0-9][0-9][0-9][0-9]-*.patch
: > patches/series
for p in "$tmp"/*.patch; do
	[ -e "$p" ] || continue
	b=$(basename "$p")
	cp "$p" "patches/$b"
	echo "$b" >> patches/series
done
if [ -f patches/cover-letter.txt ] && [ "$n" -gt 0 ]; then
	subj=$(head -n1 patches/cover-letter.txt)
	{
		echo "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
		echo "From: $(git config user.name) <$(git config user.email)>"
		echo "Subject: [PATCH 0/$n] $subj"
		echo
		tail -n +3 patches/cover-letter.txt
		echo
		git -C "$tree" shortlog base..HEAD
		echo
		git -C "$tree" diff --stat base..HEAD
	} > patches/0000-cover-letter.patch
fi
echo "series: exported $n patches to patches/ (patches/series)"
