#!/bin/bash
# bench/build.sh OUT [SRC]: build SRC (bench/wtrack.c; bench/snapshot/snap.c
# for the snapshotter) into OUT (when OUT is missing or older than its
# sources), the one build line of bench's programs: bench/run.sh (in
# the guest and, with --native, on the host) and bench/trace.sh call it,
# with gcc from the host's root in both places.  The flags are those of the
# tests (scripts/build-tests.sh): -O2 -g -Wall -Wextra -Werror -pthread,
# tests/lib (uapi fallbacks, the memory types of tests/lib/mem.c) and -lrt,
# against the series' uapi headers when build/headers has them, else the
# system's.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?usage: bench/build.sh OUT [SRC]}
src=${2:-$top/bench/wtrack.c}
hdr=$top/build/headers/include
stale=0
for dep in "$src" "$top/bench/cbw-uapi.h" "$top"/tests/lib/*.[ch] "$hdr/linux/userfaultfd.h"; do
	[ -e "$dep" ] && [ "$dep" -nt "$bin" ] && stale=1
done
[ -x "$bin" ] && [ $stale = 0 ] && exit 0
inc=()
[ -d "$hdr" ] && inc=(-isystem "$hdr")
tmp=$bin.tmp.$$
if ! gcc -O2 -g -Wall -Wextra -Werror -pthread "${inc[@]}" -I"$top/tests/lib" -o "$tmp" \
	"$src" "$top"/tests/lib/*.c -lrt || ! mv -f "$tmp" "$bin"; then
	rm -f "$tmp"
	echo "bench/build.sh: cannot build $src" >&2
	exit 1
fi
