#!/bin/bash
# Create build/linux: the base kernel committed and tagged "base", then
# every patch of patches/series applied with git am.
# Refuses to overwrite a tree with work that is not in patches/ unless FORCE=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$top/build/linux

if [ -d "$tree/.git" ]; then
	if [ "${FORCE:-0}" != 1 ] && ! "$top/scripts/tree-state.sh" quiet; then
		echo "mksrc: build/linux holds work that is not in patches/." >&2
		echo "       Export it first with 'make series', or recreate with 'make src FORCE=1'." >&2
		exit 1
	fi
	# Fast path: reset to base and re-apply the series (keeps file times
	# of unchanged files, so the incremental kernel build stays warm).
	git -C "$tree" am --abort >/dev/null 2>&1 || true
	git -C "$tree" checkout -q -B series base
	git -C "$tree" reset -q --hard base
else
	tarball=$("$top/scripts/fetch-base.sh")
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp"
	echo "mksrc: unpacking $(basename "$tarball")"
	tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
	mv "$tree.tmp" "$tree"
	cd "$tree"
	git init -q -b series
	git config user.name "uffd-wp base"
	git config user.email "base@localhost"
	git config core.autocrlf false
	git config gc.auto 0
	git add -A -f .
	git commit -q -m "Linux $(basename "$tarball" .tar.xz | sed 's/^linux-source-6.12_//') (Debian linux-source-6.12)"
	git tag base
fi

cd "$tree"
# Identity for commits made in the tree (the patches carry their own authors).
git config user.name "$(git -C "$top" config user.name 2>/dev/null || echo developer)"
git config user.email "$(git -C "$top" config user.email 2>/dev/null || echo developer@localhost)"
n=0
if [ -f "$top/patches/series" ]; then
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		git am -q --keep-cr "$top/patches/$p" || {
			echo "mksrc: patch $p does not apply; see 'git -C build/linux am --show-current-patch'" >&2
			exit 1
		}
		n=$((n + 1))
	done < "$top/patches/series"
fi
echo "mksrc: build/linux = base + $n patches ($(git rev-parse --short HEAD))"
