#!/bin/bash
# busy-poll-sysctl: vm.userfaultfd_busy_poll_us, the bound of
# UFFD_FEATURE_BUSY_POLL's polling (Documentation/admin-guide/sysctl/vm.rst):
# default 50, 0..1000 accepted, anything else refused with EINVAL and the
# value left as it was.  The runner restores the value whatever happens.
f=/proc/sys/vm/userfaultfd_busy_poll_us
echo "1..4"
if [ ! -e $f ]; then
	for i in 1 2 3 4; do
		if [ "${UFFDWP_EXPECT_HANDOFF:-1}" = 0 ]; then
			echo "ok $i - busy-poll sysctl # SKIP no $f (kernel without the hand-off features, expected)"
		else
			echo "not ok $i - busy-poll sysctl: no $f"
		fi
	done
	exit 0
fi
orig=$(cat $f)
n=0 fail=0
point() { # ok? description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
[ "$orig" = 50 ]
point $? "busy-poll sysctl: default 50 (is $orig)"
bad_ok=0
for v in 1001 -1 4294967346 abc; do
	err=$( { echo "$v" > $f; } 2>&1 )
	rc=$?
	now=$(cat $f)
	if [ $rc = 0 ] || [ "$now" != "$orig" ] || ! grep -q "Invalid argument" <<< "$err"; then
		echo "# writing $v: status $rc, '$err', value now $now"
		bad_ok=1
	fi
done
point $bad_ok "busy-poll sysctl: 1001, -1, 2^32+50, abc refused with EINVAL, value unchanged"
good_ok=0
for v in 0 1000 1 "$orig"; do
	if ! echo "$v" > $f 2>/dev/null || [ "$(cat $f)" != "$v" ]; then
		echo "# writing $v: refused or not read back ($(cat $f))"
		good_ok=1
	fi
done
point $good_ok "busy-poll sysctl: 0, 1000, 1 accepted and read back"
[ "$(stat -c %a $f)" = 644 ]
point $? "busy-poll sysctl: mode 0644 (root writes, all read)"
exit $fail
