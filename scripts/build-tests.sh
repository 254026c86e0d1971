#!/bin/bash
# build-tests.sh: build what the tests run, from the series' tree (so the
# series' tests can also run against KERNEL=base):
#   build/headers     uapi headers of build/linux
#   build/selftests   the mm kselftests that concern uffd-wp and soft-dirty
#   build/tests       this project's tests (tests/*.c)
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

mkdir -p build/tests
for c in tests/*.c; do
	[ -e "$c" ] || continue
	out=build/tests/$(basename "$c" .c)
	stale=0
	for dep in "$c" tests/lib/*.[ch] build/headers/include/linux/userfaultfd.h; do
		[ -e "$dep" ] && [ "$dep" -nt "$out" ] && stale=1
	done
	if [ ! -x "$out" ] || [ $stale = 1 ]; then
		gcc -O2 -g -Wall -Wextra -Werror -pthread -isystem build/headers/include \
			-Itests/lib -o "$out" "$c" $(ls tests/lib/*.c 2>/dev/null) -lrt
	fi
done
mkdir -p build/demo
gcc -O2 -Wall -Wextra -Werror -pthread -isystem build/headers/include \
	-o build/demo/uffd-wp-demo scripts/demo/uffd-wp-demo.c

echo "build-tests: selftests in build/selftests, tests in build/tests"
