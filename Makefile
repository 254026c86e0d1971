# uffd-wp on every kind of user memory: build, boot and test harness.
# See README.md.  `make help` lists the targets.
#
# Selection (every target accepts these):
#   KERNEL=series|file|cbw|base|extra|debug   which kernel is built and booted
#   EXTRA_PATCHES=dir                with KERNEL=extra: patches put on top
#   WORKTREE=1                       test build/linux as it is (uncommitted
#                                    or not exported to patches/)
#   TESTS='glob ...'                 which tests run (names as in build/tests,
#                                    tests/*.sh without .sh)
#   EXPECT_WP_FILE=0|1               override the expected capability
#   EXPECT_HANDOFF=0|1               the same for the hand-off features
#   EXPECT_WP_COPY=0|1               the same for copy-before-write
#   VCPUS=2 MEM=4096 QEMU_ACCEL=tcg|kvm VM_TIMEOUT=1800   the VM

KERNEL ?= series
export KERNEL EXTRA_PATCHES WORKTREE TESTS VCPUS MEM QEMU_ACCEL VM_TIMEOUT T_TIMEOUT EXPECT_WP_FILE EXPECT_HANDOFF EXPECT_WP_COPY

.PHONY: help deps src series kernel tests check check-debug check-broken run vmrun shell series-check bench clean

help:
	@echo "make run          build the patched kernel, boot it, show uffd-wp write tracking (the main job)"
	@echo "make check        the whole test suite on KERNEL (default: series); ends 'N passed, N failed, N skipped'"
	@echo "make check-debug  the suite's core on the debug kernel (KASAN, lockdep, ...); FULL=1 for all of it"
	@echo "make check-broken does the suite catch each tests/broken/* kernel (its expect file)? BROKEN='name ...';"
	@echo "                  a kernel build each (~15-40 min); CHECK_BROKEN_DRY=1 prints the commands; not in CI"
	@echo "make vmrun CMD='...'  boot KERNEL and run CMD in the guest (cwd = this repository)"
	@echo "make shell        interactive guest"
	@echo "make kernel       build KERNEL's vmlinux (build/obj/KERNEL)"
	@echo "make tests        build the selftests and this project's tests"
	@echo "make src          create build/linux = base + patches/series (FORCE=1 to discard tree work)"
	@echo "make series       export build/linux (base..HEAD) to patches/ (four series: 1-fix, 2-wp-file, 3-cbw, 4-handoff)"
	@echo "make series-check build every prefix of each series (each patch builds on its own), checkpatch --strict"
	@echo "make bench        write-tracking benchmarks in the guest and natively (QUICK=1, FULL=1); build/bench/"
	@echo "make deps         install the Debian packages needed"
	@echo "KERNEL=series|file|cbw|base|extra|debug EXTRA_PATCHES=dir WORKTREE=1 TESTS='glob' VCPUS= MEM= QEMU_ACCEL="

deps:
	@scripts/deps.sh

src: deps
	@scripts/mksrc.sh

series:
	@scripts/export-series.sh

kernel: deps
	@scripts/build-kernel.sh

tests: deps
	@scripts/build-tests.sh

check: kernel tests
	@scripts/check.sh

# The debug lane runs this subset by default (the CI budget); FULL=1 runs
# the whole suite on the debug kernel.
DEBUG_TESTS ?= ks-uffd-unit-tests ks-pagemap-ioctl uffd-wp-file uffd-wp-file-data uffd-hostile \
	uffd-wp-stress uffd-wp-matrix uffd-security uffd-fuzz uffd-handoff-guarantees uffd-wp-copy
# The debug kernel is several times slower: its boots get a longer outer
# timeout (VM_TIMEOUT, default 1800 s elsewhere).
check-debug:
	@$(MAKE) --no-print-directory check KERNEL=debug VM_TIMEOUT=$(or $(VM_TIMEOUT),3000) \
		TESTS="$(if $(FULL),$(TESTS),$(or $(TESTS),$(DEBUG_TESTS)))"

# Each purpose-broken kernel of tests/broken/ (KERNEL=extra), booted with
# the tests its expect file names; BROKEN='name ...' picks entries,
# CHECK_BROKEN_DRY=1 only prints the commands.  Not in .ci/run: a kernel
# build per entry.
check-broken:
	@scripts/check-broken.sh

# Every target that boots goes through scripts/vmrun.sh (the kernel that
# KERNEL selects, its expected capabilities, EXPECT_* overrides).
run: kernel tests
	@VM_NAME=run-$(KERNEL) scripts/vmrun.sh demo/demo.sh

# CMD reaches the guest as it was typed: $(value) keeps make from expanding
# it and $(file) writes it without going through a shell's quoting.
VMRUN_NAME = $(or $(VM_NAME),vmrun-$(KERNEL))
VMRUN_CMDFILE = build/cmd/$(VMRUN_NAME)
vmrun: kernel tests
	$(shell mkdir -p build/cmd)$(file >$(VMRUN_CMDFILE),$(value CMD))
	@VM_NAME=$(VMRUN_NAME) scripts/vmrun.sh -f $(VMRUN_CMDFILE)

shell: kernel tests
	@VM_NAME=shell-$(KERNEL) scripts/vmrun.sh shell

series-check: deps
	@scripts/series-check.sh

# Benchmarks (bench/README.md, bench/make-bench.sh): the 2-vCPU and 1-vCPU
# TCG guests and the host, then the tables and plots in build/bench/.
# QUICK=1: a few minutes; default: <= 20 min; FULL=1: hours.  Not a test.
bench: kernel
	@bench/make-bench.sh $(if $(filter 1,$(QUICK)),--quick) $(if $(filter 1,$(FULL)),--full)

clean:
	rm -rf build/obj build/vm build/tests build/selftests build/headers build/bench build/broken
