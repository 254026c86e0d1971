#!/bin/bash
# check.sh: boot the selected kernel, run the test suite in
# the guest, then add the host's own test point (the kernel console is
# clean) and print the closing line "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/kernel-vars.sh"
cd "$top"
set -a
. "$expect_file"
set +a
# EXPECT_WP_FILE=1 demands the feature whatever the kernel (to see the
# series' tests fail on KERNEL=base).
UFFDWP_EXPECT_WP_FILE=${EXPECT_WP_FILE:-$UFFDWP_EXPECT_WP_FILE}
UFFDWP_EXPECT_HANDOFF=${EXPECT_HANDOFF:-${UFFDWP_EXPECT_HANDOFF:-1}}
name=${CHECK_NAME:-check-$KERNEL}
vmdir=build/vm/$name
start=$(date +%s)
VM_NAME=$name KERNEL_NAME=$KERNEL scripts/vm.sh "$kobj/vmlinux" scripts/run-tests
vmrc=$?
res=$vmdir/results.tap
pass=0 fail=0 skip=0
if [ -f "$res" ]; then
	pass=$(grep -E '^ok ' "$res" | grep -v -c -i '# *SKIP')
	skip=$(grep -E '^ok ' "$res" | grep -c -i '# *SKIP')
	fail=$(grep -c -E '^not ok ' "$res")
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
if [ "$vmrc" != 0 ] && [ "$fail" = 0 ]; then
	echo "not ok - the guest exited with status $vmrc"
	fail=$((fail + 1))
fi
if [ -f "$res" ]; then
	# Reliability summary: what the stress test did, summed over memory types.
	grep -E '^ok .* stress .* rounds, ' "$res" | sed 's/.*: //' | awk -F', ' '
		{ for (i = 1; i <= NF; i++) { split($i, w, " "); sum[w[2]] += w[1] } n++ }
		END { if (n) printf "# reliability: %d stress cells, %.0f writes, %.0f reports checked, %.0f mm events injected, %.0f bytes verified, %.0f mismatches\n",
			n, sum["writes"], sum["reports"], sum["events"], sum["bytes"], sum["mismatches"] }'
	# The semantics matrix: its own closing diag line, summed the same way.
	grep -h '^# reliability: cells=' "$vmdir"/logs/*.log 2>/dev/null | awk '
		{ for (i = 3; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } n++ }
		END { if (n) printf "# reliability: %d matrix cells, %d mm events injected, %.0f bytes verified, %d reports checked\n",
			sum["cells"], sum["events"], sum["bytes_verified"], sum["reports"] }'
	splat=0
	scripts/check-console.sh "$vmdir/console.log" >/dev/null 2>&1 || splat="at least 1"
	echo "# reliability: $(grep -c '' "$res") test points from $(ls "$vmdir/logs" | wc -l) tests; kernel splats: $splat"
fi
echo "# KERNEL=$KERNEL (expected: sync uffd-wp on files $UFFDWP_EXPECT_WP_FILE, hand-off features ${UFFDWP_EXPECT_HANDOFF:-1}), $(( $(date +%s) - start ))s in the VM; logs in $vmdir/"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
