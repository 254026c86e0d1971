#!/bin/bash
# check.sh: boot the selected kernel, run the test suite in
# the guest, then add the host's own test point (the kernel console is
# clean) and print the closing line "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/kernel-vars.sh"	# also the expectations (EXPECT_*)
cd "$top"
name=${CHECK_NAME:-check-$KERNEL}
vmdir=build/vm/$name
start=$(date +%s)
# The harness checks itself first (host side, seconds): a harness bug could
# hide a failure below.
scripts/harness-selftest.sh > "build/harness-selftest.tap" 2>&1
cat build/harness-selftest.tap
hpass=$(grep -c '^ok ' build/harness-selftest.tap)
hfail=$(grep -c '^not ok ' build/harness-selftest.tap)
VM_NAME=$name scripts/vmrun.sh scripts/run-tests
vmrc=$?
res=$vmdir/results.tap
pass=$hpass fail=$hfail skip=0
if [ -f "$res" ]; then
	pass=$((pass + $(grep -E '^ok ' "$res" | grep -v -c -i '# *SKIP')))
	skip=$(grep -E '^ok ' "$res" | grep -c -i '# *SKIP')
	fail=$((fail + $(grep -c -E '^not ok ' "$res")))
else
	echo "not ok - the guest produced no results ($vmdir/console.log)"
	fail=$((fail + 1))
fi
if scripts/check-console.sh "$vmdir/console.log"; then
	echo "ok - kernel console: no WARN, BUG, Oops, KASAN, UBSAN, lockdep, hung task or RCU stall"
	pass=$((pass + 1))
else
	echo "not ok - kernel console has a splat (excerpt above)"
	fail=$((fail + 1))
fi
if [ "$vmrc" != 0 ] && [ "$fail" = "$hfail" ]; then
	echo "not ok - the guest exited with status $vmrc"
	fail=$((fail + 1))
fi
# What the tests reported ("# stats:" lines): every test that must report
# did (tests/stats), and the reliability summary.
while read -r line; do
	echo "$line"
	case $line in
	"ok "*) pass=$((pass + 1)) ;;
	"not ok "*) fail=$((fail + 1)) ;;
	esac
done < <(scripts/stats.py "$vmdir")
if [ -f "$res" ]; then
	splat=0
	scripts/check-console.sh "$vmdir/console.log" >/dev/null 2>&1 || splat="at least 1"
	echo "# reliability: $(grep -c '' "$res") test points from $(ls "$vmdir/logs" | wc -l) tests; kernel splats: $splat"
fi
echo "# KERNEL=$KERNEL (expected: sync uffd-wp on files $UFFDWP_EXPECT_WP_FILE, hand-off features ${UFFDWP_EXPECT_HANDOFF:-1}), $(( $(date +%s) - start ))s in the VM; logs in $vmdir/"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
