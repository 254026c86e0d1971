#!/bin/bash
# export-series.sh: regenerate patches/ from build/linux (base..HEAD).
#
# The product is four stacked series, each a directory of patches/ with
# its own series file and cover letter (patches/SERIES/cover-letter.txt:
# first line the subject, then the body):
#   patches/1-fix      the re-registration fix and its selftest (on the base)
#   patches/2-wp-file  write-protect on regular files (on 1-fix)
#   patches/3-cbw      copy-before-write (on 1-fix and 2-wp-file)
#   patches/4-handoff  the faster hand-off (on the three above; it does not
#                      depend on 3-cbw, only its context lines do)
# patches/series lists every patch of all four in order (what mksrc.sh
# applies); patches/SERIES/series lists that series' own patches.
#
# The boundaries live in the series files, not in build/linux: a commit
# belongs to the series that already holds a patch with its subject; a
# commit with a new subject joins the series of the commit before it (the
# first series if it is the first commit).  To move a patch to another
# series, move its line between the series files and run this again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux
cd "$top"
SERIES="1-fix 2-wp-file 3-cbw 4-handoff"
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
	echo "series: build/linux has uncommitted changes; commit them first" >&2
	exit 1
fi

# subject -> series, from the patches exported last time
declare -A owner=()
for s in $SERIES; do
	[ -f "patches/$s/series" ] || continue
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		subj=$(sed -n '/^Subject: /{s/^Subject: \(\[[^]]*\] \)\?//;N;s/\n / /;s/\n.*//;p;q}' "patches/$s/$p")
		owner[$subj]=$s
	done < "patches/$s/series"
done

# assign every commit, checking that each series is one contiguous range
declare -A first=() last=() count=()
cur=${SERIES%% *} order=""
for c in $(git -C "$tree" rev-list --reverse base..HEAD); do
	subj=$(git -C "$tree" log -1 --format=%s "$c")
	s=${owner[$subj]:-$cur}
	if [ "$s" != "$cur" ] || [ -z "$order" ]; then
		case " $order " in *" $s "*)
			echo "series: '$subj' belongs to $s, which does not continue here" >&2
			exit 1 ;;
		esac
		order="$order $s"
	fi
	cur=$s
	[ -n "${first[$s]:-}" ] || first[$s]=$c
	last[$s]=$c
	count[$s]=$(( ${count[$s]:-0} + 1 ))
done
prev=""
for s in $order; do
	case " $SERIES " in *" $s "*) ;; *) echo "series: unknown series $s" >&2; exit 1 ;; esac
done
# the stack must follow the order of SERIES
want=$(for s in $SERIES; do case " $order " in *" $s "*) echo -n " $s" ;; esac; done)
[ "$want" = "$order" ] || { echo "series: order$order, expected$want" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f patches/[0-9][0-9][0-9][0-9]-*.patch patches/cover-letter.txt
: > patches/series
total=0
for s in $SERIES; do
	mkdir -p "patches/$s"
	rm -f "patches/$s"/[0-9][0-9][0-9][0-9]-*.patch
	: > "patches/$s/series"
	n=${count[$s]:-0}
	[ "$n" -gt 0 ] || continue
	from=$(git -C "$tree" rev-parse "${first[$s]}~1")
	to=${last[$s]}
	rm -rf "$tmp/$s"
	git -C "$tree" format-patch -q --no-signature --zero-commit --no-numbered \
		-o "$tmp/$s" "$from..$to"
	for p in "$tmp/$s"/*.patch; do
		b=$(basename "$p")
		cp "$p" "patches/$s/$b"
		echo "$b" >> "patches/$s/series"
		echo "$s/$b" >> patches/series
	done
	if [ -f "patches/$s/cover-letter.txt" ]; then
		subj=$(head -n1 "patches/$s/cover-letter.txt")
		{
			echo "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
			echo "From: $(git config user.name) <$(git config user.email)>"
			echo "Subject: [PATCH 0/$n] $subj"
			echo
			tail -n +3 "patches/$s/cover-letter.txt"
			echo
			git -C "$tree" shortlog "$from..$to"
			echo
			git -C "$tree" diff --stat "$from..$to"
		} > "patches/$s/0000-cover-letter.patch"
	fi
	echo "series: $s: $n patches"
	total=$((total + n))
	prev=$s
done
echo "series: exported $total patches to patches/ (patches/series, patches/*/series)"
