#!/bin/bash
# bench/build.sh OUT: build bench/wtrack.c into OUT (when OUT is missing or
# older than its sources), the one build line of bench/run.sh and
# bench/trace.sh, in the guest and natively on the host alike: -Werror,
# with tests/lib (uapi fallbacks, the memory types of tests/lib/mem.c),
# against the series' uapi headers when build/headers has them, else the
# system's.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?usage: bench/build.sh OUT}
stale=0
for dep in "$top/bench/wtrack.c" "$top"/tests/lib/*.[ch]; do
	[ "$dep" -nt "$bin" ] && stale=1
done
[ -x "$bin" ] && [ $stale = 0 ] && exit 0
inc=()
[ -d "$top/build/headers/include" ] && inc=(-isystem "$top/build/headers/include")
tmp=$bin.tmp.$$
if ! gcc -O2 -Wall -Wextra -Werror -pthread "${inc[@]}" -I"$top/tests/lib" -o "$tmp" \
	"$top/bench/wtrack.c" "$top"/tests/lib/*.c || ! mv -f "$tmp" "$bin"; then
	rm -f "$tmp"
	echo "bench/build.sh: cannot build wtrack" >&2
	exit 1
fi
