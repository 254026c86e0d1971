#!/bin/bash
# Sourced: maps KERNEL (series|file|cbw|base|extra|debug) to its source tree,
# build directory, config fragments and expected capabilities.
#   series  build/linux (base + patches/series: all four series) [default]
#   file    base + patches/1-fix + patches/2-wp-file, without the hand-off
#           series (what would be posted first): a worktree of build/linux
#   cbw     base + 1-fix + 2-wp-file + 3-cbw (copy-before-write as it
#           would be posted, without the hand-off series): a worktree
#   base    the bare base, a worktree of build/linux at tag "base"
#   extra   the series plus EXTRA_PATCHES=dir/*.patch (to show a test
#           catches a deliberately broken kernel)
#   debug   the series with config/debug.config (KASAN, lockdep, ...)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KERNEL=${KERNEL:-series}
case $KERNEL in
series) ksrc=$top/build/linux; frags="config/base.config" ;;
debug) ksrc=$top/build/linux; frags="config/base.config config/debug.config" ;;
file) ksrc=$top/build/wt/file; frags="config/base.config" ;;
cbw) ksrc=$top/build/wt/cbw; frags="config/base.config" ;;
base) ksrc=$top/build/wt/base; frags="config/base.config" ;;
extra) ksrc=$top/build/wt/extra; frags="config/base.config" ;;
*) echo "KERNEL=$KERNEL: choose series, file, cbw, base, extra or debug" >&2; exit 2 ;;
esac
kobj=$top/build/obj/$KERNEL
# Expected capabilities of the booted kernel, passed to the tests.
expect_file=$top/config/expect-$KERNEL
case $KERNEL in extra|debug) expect_file=$top/config/expect-series ;; esac
# The expectations, exported for the guest: config/expect-*, overridden by
# EXPECT_WP_FILE / EXPECT_HANDOFF / EXPECT_WP_COPY (e.g. EXPECT_WP_FILE=1 with KERNEL=base
# demands the feature, to see the series' tests fail there).  Every target
# that boots a kernel (check, run, vmrun, shell, bench) gets them from here.
set -a
. "$expect_file"
set +a
export UFFDWP_EXPECT_WP_FILE=${EXPECT_WP_FILE:-$UFFDWP_EXPECT_WP_FILE}
export UFFDWP_EXPECT_HANDOFF=${EXPECT_HANDOFF:-$UFFDWP_EXPECT_HANDOFF}
export UFFDWP_EXPECT_WP_COPY=${EXPECT_WP_COPY:-$UFFDWP_EXPECT_WP_COPY}
