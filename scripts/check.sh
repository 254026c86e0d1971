#!/bin/bash
# check.sh: boot the selected kernel, run the test suite in the guest, then
# add the host's own test points (the harness self-test, the stats every
# test must report, a clean kernel console) and print the closing line
# "N passed, N failed, N skipped".  The tests listed in tests/vcpus run in
# a boot of their own with that many vCPUs; the others in one boot with
# VCPUS (2).
set -uo pipefail
. "$(dirname "$0")/kernel-vars.sh"	# also the expectations (EXPECT_*)
cd "$top"
name=${CHECK_NAME:-check-$KERNEL}
start=$(date +%s)
mkdir -p build

# The harness checks itself first (host side, seconds): a harness bug could
# hide a failure below.
scripts/harness-selftest.sh > build/harness-selftest.tap 2>&1
cat build/harness-selftest.tap
pass=$(grep -c '^ok ' build/harness-selftest.tap)
fail=$(grep -c '^not ok ' build/harness-selftest.tap)
skip=0

# Which boots: "default" (VCPUS), then one per vCPU count of tests/vcpus
# that has a test TESTS selects.
selected() { # name: does TESTS select it
	local g
	[ -z "${TESTS:-}" ] && return 0
	for g in $TESTS; do
		# shellcheck disable=SC2254
		case $1 in $g) return 0 ;; esac
	done
	return 1
}
groups="default"
while read -r t n; do
	case $t in ''|'#'*) continue ;; esac
	if selected "$t" && ! grep -qw -- "$n" <<< "$groups"; then
		groups="$groups $n"
	fi
done < tests/vcpus

vmdirs=()
splat=0
for g in $groups; do
	if [ "$g" = default ]; then
		vname=$name vcpus=${VCPUS:-2}
	else
		vname=$name-${g}cpu vcpus=$g
	fi
	vmdir=build/vm/$vname
	vmdirs+=("$vmdir")
	echo "# ---- boot: $vname ($vcpus vCPUs)"
	VM_NAME=$vname VCPUS=$vcpus UFFDWP_VCPU_GROUP=$g scripts/vmrun.sh guest/run-tests
	vmrc=$?
	res=$vmdir/results.json
	if [ -f "$res" ]; then
		read -r vpass vfail vskip < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["pass"], r["fail"], r["skip"])' "$res") || { vpass=0 vfail=1 vskip=0; }
		pass=$((pass + vpass))
		skip=$((skip + vskip))
		fail=$((fail + vfail))
	else
		echo "not ok - $vname: the guest produced no results ($vmdir/console.log)"
		vfail=1
		fail=$((fail + 1))
	fi
	if scripts/check-console.sh "$vmdir/console.log"; then
		echo "ok - $vname: kernel console: no WARN, BUG, Oops, KASAN, UBSAN, lockdep, hung task or RCU stall"
		pass=$((pass + 1))
	else
		echo "not ok - $vname: kernel console has a splat (excerpt above)"
		fail=$((fail + 1))
		splat="at least 1"
	fi
	if [ "$vmrc" != 0 ] && [ "$vfail" = 0 ]; then
		echo "not ok - $vname: the guest exited with status $vmrc"
		fail=$((fail + 1))
	fi
done

# What the tests reported ("# stats:" lines): every test that must report
# did (tests/stats), and the reliability summary.
while read -r line; do
	echo "$line"
	case $line in
	"ok "*) pass=$((pass + 1)) ;;
	"not ok "*) fail=$((fail + 1)) ;;
	esac
done < <(scripts/stats.py "${vmdirs[@]}")
npoints=0 ntests=0
for vmdir in "${vmdirs[@]}"; do
	[ -f "$vmdir/results.json" ] || continue
	read -r p t < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(sum(len(x["points"]) for x in r["tests"].values()), len(r["tests"]))' "$vmdir/results.json")
	npoints=$((npoints + p)) ntests=$((ntests + t))
done
echo "# reliability: $npoints test points from $ntests tests; kernel splats: $splat"
echo "# KERNEL=$KERNEL (expected: sync uffd-wp on files $UFFDWP_EXPECT_WP_FILE, hand-off features $UFFDWP_EXPECT_HANDOFF, copy-before-write $UFFDWP_EXPECT_WP_COPY), $(( $(date +%s) - start ))s; logs in ${vmdirs[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
