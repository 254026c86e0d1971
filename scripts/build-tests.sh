#!/bin/bash
# build-tests.sh: build what the tests run, from the series' tree (so the
# series' tests can also run against KERNEL=base):
#   build/headers     uapi headers of build/linux
#   build/selftests   the mm kselftests that concern uffd-wp and soft-dirty
#   build/tests       this project's tests (tests/NAME.c, tests/NAME/*.c)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -d build/linux/.git ] || scripts/mksrc.sh
make -C build/linux O="$top/build/obj/headers" ARCH=x86_64 -s \
	INSTALL_HDR_PATH="$top/build/headers" headers_install

sel="uffd-unit-tests uffd-stress pagemap_ioctl soft-dirty mkdirty madv_populate
ksm_functional_tests hugepage-mremap"
mkdir -p build/selftests
targets=()
for t in $sel; do targets+=("$top/build/selftests/$t"); done
make -C build/linux/tools/testing/selftests/mm -s -j"$(nproc)" \
	OUTPUT="$top/build/selftests" \
	KHDR_INCLUDES="-isystem $top/build/headers/include" "${targets[@]}"

# build_test NAME FILE...: build/tests/NAME from the .c files among FILE...
# and tests/lib/*.c, when it is missing or older than one of FILE...,
# tests/lib/* and the uapi header
build_test() {
	local out=build/tests/$1 f stale=0 srcs=()
	shift
	for f in "$@" tests/lib/*.[ch] build/headers/include/linux/userfaultfd.h; do
		[ -e "$f" ] && [ "$f" -nt "$out" ] && stale=1
	done
	for f in "$@" tests/lib/*.c; do
		case $f in *.c) [ ! -e "$f" ] || srcs+=("$f") ;; esac
	done
	if [ ! -x "$out" ] || [ $stale = 1 ]; then
		gcc -O2 -g -Wall -Wextra -Werror -pthread -isystem build/headers/include \
			-Itests/lib -o "$out" "${srcs[@]}" -lrt
	fi
}

mkdir -p build/tests
# a test of one file: tests/NAME.c
for c in tests/*.c; do
	[ -e "$c" ] || continue
	if [ -e "${c%.c}/main.c" ]; then
		echo "build-tests: two tests named $(basename "$c" .c): $c and ${c%.c}/" >&2
		exit 1
	fi
	build_test "$(basename "$c" .c)" "$c"
done
# a test of several: the folder tests/NAME/ with a main.c (not tests/lib,
# tests/broken), from its .c files; its .h files are dependencies too
for d in tests/*/; do
	[ -e "${d}main.c" ] || continue
	build_test "$(basename "$d")" "$d"*.[ch]
done
mkdir -p build/demo
gcc -O2 -Wall -Wextra -Werror -pthread -isystem build/headers/include \
	-o build/demo/uffd-wp-demo demo/uffd-wp-demo.c

echo "build-tests: selftests in build/selftests, tests in build/tests"
