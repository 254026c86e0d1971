#!/bin/bash
# harness-selftest.sh: the harness checks itself (host side, a few seconds;
# run by scripts/check.sh before it boots anything).  One TAP line per
# check; each check fails if a harness bug that once let failures pass
# unseen comes back:
#  - ksft.py multi: a selftest's non-zero exit is reported even after an
#    earlier selftest failed;
#  - run-tests: timeouts come from tests/timeouts for binaries too (an ELF
#    test that sleeps is killed at its table timeout), no test carries its
#    own "# timeout:" header;
#  - run-tests: knobs a test changed are restored when it is killed;
#  - run-tests + stats.py: "# stats:" lines are summed, a test that must
#    report stats and reported none fails;
#  - guest-env.sh: values with ", $, `, ' and newlines reach the guest
#    byte for byte; every environment knob the tests read is forwarded;
#  - Makefile: CMD reaches the guest as typed; EXPECT_* overrides reach
#    every booting target through kernel-vars.sh;
#  - check-broken.sh: its judge finds the expected failures in fabricated
#    logs and no near miss counts (an "ok" point, a longer memory type
#    name, another test, a WARN without a printk timestamp); every
#    tests/broken entry has a valid expect file.
set -uo pipefail
# the caller's selection (make check-debug sets TESTS) must not reach the
# fake runs below
unset TESTS T_TIMEOUT UFFDWP_VCPU_GROUP
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nfail=0
ok() { echo "ok - harness: $*"; }
notok() { echo "not ok - harness: $*"; nfail=$((nfail + 1)); }
check() { # description command...
	local d=$1
	shift
	if "$@" > "$tmp/out" 2>&1; then ok "$d"; else notok "$d"; sed 's/^/#   /' "$tmp/out" | tail -n 20; fi
}

# ---- ksft.py multi: per-invocation failure state ---------------------------
t_ksft() {
	cat > "$tmp/fail1" <<'EOF'
#!/bin/sh
echo "1..1"; echo "not ok 1 - first fails"; exit 1
EOF
	cat > "$tmp/exit3" <<'EOF'
#!/bin/sh
echo "1..1"; echo "ok 1 - second passes its points"; exit 3
EOF
	chmod +x "$tmp/fail1" "$tmp/exit3"
	printf 'tap one -- %s\ntap two -- %s\n' "$tmp/fail1" "$tmp/exit3" > "$tmp/multi"
	python3 tests/lib/ksft.py multi "$tmp/multi" > "$tmp/ksft.out"
	grep -q '^not ok .* two: exit status 3' "$tmp/ksft.out"
}
check "ksft.py multi reports a later selftest's non-zero exit after an earlier failure" t_ksft

# ---- run-tests in a fake tree ----------------------------------------------
fake=$tmp/top
mkdir -p "$fake/tests" "$fake/build/tests" "$tmp/vm" "$tmp/knobs/sys/kernel/mm/transparent_hugepage" \
	"$tmp/knobs/proc/sys/vm" "$tmp/knobs/dev"
cat > "$fake/tests/timeouts" <<'EOF'
default 60
sleeper 2
EOF
printf 'stats-ok faults\nstats-none faults\n' > "$fake/tests/stats"
cat > "$tmp/sleeper.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
int main(void)
{
	/* a "# timeout: 1000" in the first 2 KiB must not matter */
	puts("1..1");
	fflush(stdout);
	sleep(30);
	puts("ok 1 - never reached");
	return 0;
}
EOF
gcc -o "$fake/build/tests/sleeper" "$tmp/sleeper.c"
k=$tmp/knobs
echo 'always within_size advise [never] deny force' > "$k/sys/kernel/mm/transparent_hugepage/shmem_enabled"
echo 3000 > "$k/proc/sys/vm/dirty_expire_centisecs"
echo 0 > "$k/proc/sys/vm/unprivileged_userfaultfd"
: > "$k/dev/userfaultfd"
chmod 600 "$k/dev/userfaultfd"
cat > "$fake/tests/knobber.sh" <<EOF
#!/bin/sh
# changes knobs, then is killed at its timeout
echo advise > $k/sys/kernel/mm/transparent_hugepage/shmem_enabled
echo 100 > $k/proc/sys/vm/dirty_expire_centisecs
echo 1 > $k/proc/sys/vm/unprivileged_userfaultfd
chmod 666 $k/dev/userfaultfd
echo "1..1"
sleep 30
EOF
echo 'knobber 2' >> "$fake/tests/timeouts"
cat > "$fake/tests/stats-ok.sh" <<'EOF'
#!/bin/sh
echo "1..2"; echo "ok 1 - a"; echo "# stats: faults=3 other=x"; echo "ok 2 - b"; echo "# stats: faults=4"
EOF
cat > "$fake/tests/stats-none.sh" <<'EOF'
#!/bin/sh
echo "1..1"; echo "ok 1 - reports nothing"
EOF
chmod +x "$fake"/tests/*.sh
t0=$(date +%s)
UFFDWP_TOP=$fake UFFDWP_VMDIR=$tmp/vm UFFDWP_KNOB_ROOT=$k T_TIMEOUT= \
	python3 guest/run-tests > "$tmp/rt.out" 2>&1
t1=$(date +%s)

t_timeout() {
	grep -q '^not ok .* sleeper: TIMEOUT after 2s' "$tmp/rt.out" || { cat "$tmp/rt.out"; return 1; }
	# the four fake tests: two killed at 2 s, two quick ones
	[ $((t1 - t0)) -lt 20 ] || { echo "run-tests took $((t1 - t0)) s"; return 1; }
}
check "run-tests takes a binary's timeout from tests/timeouts" t_timeout
t_one_mechanism() {
	! grep -l -E '^# timeout: [0-9]+' tests/*.sh tests/*.c tests/*/*.c 2>/dev/null
}
check "no test carries its own '# timeout:' header (tests/timeouts is the one mechanism)" t_one_mechanism
t_knobs() {
	grep -q '^not ok .* knobber: TIMEOUT' "$tmp/rt.out" || { echo "knobber was not killed"; return 1; }
	grep -q '\[never\]\|^never$' "$k/sys/kernel/mm/transparent_hugepage/shmem_enabled" &&
	[ "$(cat "$k/proc/sys/vm/dirty_expire_centisecs")" = 3000 ] &&
	[ "$(cat "$k/proc/sys/vm/unprivileged_userfaultfd")" = 0 ] &&
	[ "$(stat -c %a "$k/dev/userfaultfd")" = 600 ] || {
		head -n 5 "$k"/sys/kernel/mm/transparent_hugepage/shmem_enabled "$k"/proc/sys/vm/* 
		stat -c %a "$k/dev/userfaultfd"; grep 'left' "$tmp/rt.out"; return 1; }
}
check "run-tests restores the knobs a killed test changed" t_knobs
t_results_json() {
	# check.sh counts from results.json: it must agree with results.tap
	python3 - "$tmp/vm/results.json" "$tmp/vm/results.tap" <<'EOF' || return 1
import json, re, sys
r = json.load(open(sys.argv[1]))
tap = open(sys.argv[2]).read().splitlines()
fail = sum(l.startswith("not ok ") for l in tap)
skip = sum(l.startswith("ok ") and re.search(r"#\s*SKIP", l, re.I) is not None for l in tap)
ok = sum(l.startswith("ok ") for l in tap) - skip
assert (r["pass"], r["fail"], r["skip"]) == (ok, fail, skip), (r["pass"], r["fail"], r["skip"], ok, fail, skip)
assert sum(len(t["points"]) for t in r["tests"].values()) == len(tap)
assert r["tests"]["sleeper"]["timed_out"] and r["tests"]["stats-ok"]["pass"] == 2, r["tests"]
EOF
}
check "run-tests writes results.json (what check.sh counts) in agreement with results.tap" t_results_json
t_stats() {
	python3 - "$tmp/vm/stats.json" <<'EOF' || return 1
import json, sys
s = json.load(open(sys.argv[1]))
assert s.get("stats-ok") == {"faults": 7}, s
EOF
	UFFDWP_TOP=$fake python3 scripts/stats.py "$tmp/vm" > "$tmp/stats.out"
	rc=$?
	cat "$tmp/stats.out"
	[ $rc = 1 ] && grep -q '^ok - stats: stats-ok: 7 faults' "$tmp/stats.out" &&
		grep -q '^not ok - stats: stats-none reported no faults' "$tmp/stats.out"
}
check "stats lines are summed; a test that must report stats and did not fails" t_stats

t_group() {
	printf 'stats-ok 4\n' > "$fake/tests/vcpus"
	mkdir -p "$tmp/vm4" "$tmp/vmd"
	UFFDWP_TOP=$fake UFFDWP_VMDIR=$tmp/vm4 UFFDWP_KNOB_ROOT=$k UFFDWP_VCPU_GROUP=4 TESTS='stats-*' \
		python3 guest/run-tests > "$tmp/rt4.out" 2>&1
	UFFDWP_TOP=$fake UFFDWP_VMDIR=$tmp/vmd UFFDWP_KNOB_ROOT=$k UFFDWP_VCPU_GROUP=default TESTS='stats-*' \
		python3 guest/run-tests > "$tmp/rtd.out" 2>&1
	rm -f "$fake/tests/vcpus"
	[ "$(ls "$tmp/vm4/logs")" = "stats-ok.log" ] && [ "$(ls "$tmp/vmd/logs")" = "stats-none.log" ] ||
		{ ls "$tmp/vm4/logs" "$tmp/vmd/logs"; return 1; }
}
check "tests/vcpus: each boot runs its own tests (UFFDWP_VCPU_GROUP)" t_group

# ---- the guest's environment -----------------------------------------------
weird=$'a"b$c`d\'e\\f\ng  h'
t_env() {
	UFFDWP_SELFTEST_VALUE=$weird BENCH_SELFTEST=$weird TESTS='x* y' scripts/guest-env.sh > "$tmp/env"
	# sourced the way guest/init does
	env -i bash -c 'set -a; . "$1"; set +a; printf "%s|%s|%s" "$UFFDWP_SELFTEST_VALUE" "$BENCH_SELFTEST" "$TESTS"' \
		_ "$tmp/env" > "$tmp/env.got"
	[ "$(cat "$tmp/env.got")" = "$weird|$weird|x* y" ] || { cat "$tmp/env" "$tmp/env.got"; return 1; }
}
check "guest-env.sh carries any value byte for byte" t_env
t_forwarded() {
	# every environment variable a test or bench program reads must be one
	# that scripts/guest-env.sh forwards
	local bad
	bad=$(grep -ohE 'getenv\("[A-Za-z_0-9]+"\)|os\.environ(\.get)?[([]"[A-Za-z_0-9]+"' \
			tests/*.c tests/*/*.[ch] tests/lib/*.py bench/*.c guest/run-tests 2>/dev/null |
		grep -oE '"[A-Za-z_0-9]+"' | tr -d '"' | sort -u |
		grep -vE '^(UFFDWP_[A-Za-z0-9_]*|BENCH_[A-Za-z0-9_]*|TESTS|T_TIMEOUT|HOME|PATH)$')
	[ -z "$bad" ] || { echo "read but not forwarded to the guest: $bad"; return 1; }
}
check "every environment knob the tests read is forwarded to the guest" t_forwarded

# ---- Makefile and kernel-vars.sh -------------------------------------------
t_cmd() {
	local cmd=$'echo "it\'s $HOME `x` $(y)" \\ z'
	rm -f build/cmd/harness-selftest
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n vmrun VM_NAME=harness-selftest CMD="$cmd" > "$tmp/make.out" 2>&1 ||
		{ cat "$tmp/make.out"; return 1; }
	[ "$(cat build/cmd/harness-selftest)" = "$cmd" ] || { echo "got: $(cat build/cmd/harness-selftest)"; return 1; }
	rm -f build/cmd/harness-selftest
}
check "make vmrun passes CMD to the guest as typed (quotes, \$, backticks)" t_cmd
t_expect() {
	local got
	got=$(env -u UFFDWP_EXPECT_WP_FILE -u UFFDWP_EXPECT_HANDOFF -u UFFDWP_EXPECT_WP_COPY KERNEL=series \
		EXPECT_WP_FILE=0 EXPECT_HANDOFF=0 EXPECT_WP_COPY=0 \
		bash -c '. scripts/kernel-vars.sh; scripts/guest-env.sh' | grep -c -E 'UFFDWP_EXPECT_(WP_FILE|HANDOFF|WP_COPY)="0"')
	[ "$got" = 3 ] || { echo "EXPECT_* overrides did not reach the guest environment"; return 1; }
	got=$(env -u UFFDWP_EXPECT_WP_FILE -u UFFDWP_EXPECT_HANDOFF -u UFFDWP_EXPECT_WP_COPY KERNEL=base \
		bash -c '. scripts/kernel-vars.sh; scripts/guest-env.sh' | grep -c -E 'UFFDWP_EXPECT_(WP_FILE|HANDOFF|WP_COPY)="0"')
	[ "$got" = 3 ] || { echo "KERNEL=base does not expect what config/expect-base says"; return 1; }
	# every target that boots goes through scripts/vmrun.sh (kernel-vars.sh)
	! grep -nE 'scripts/vm\.sh' Makefile scripts/check.sh
}
check "EXPECT_* overrides and config/expect-* reach the guest from every booting target" t_expect

# ---- documentation the harness cites --------------------------------------
t_cited() {
	# A README citation (README, then a quoted title) in any harness file
	# (comments may wrap) names a level-2 heading of README.md
	python3 - <<'EOF'
import glob, re, sys
heads = {l[3:].strip() for l in open("README.md") if l.startswith("## ")}
bad = []
for f in glob.glob("config/*") + glob.glob("scripts/*") + glob.glob("tests/*") + ["Makefile"]:
    try:
        text = open(f).read()
    except (IsADirectoryError, UnicodeDecodeError):
        continue
    flat = re.sub(r"\n\s*#\s*", " ", text)
    for m in re.finditer(r'README(?:\.md)?,\s*"([^"]+)"', flat):
        if m.group(1) not in heads:
            bad.append(f"{f}: README section {m.group(1)!r} does not exist")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
}
check "every README section the harness cites exists" t_cited

# ---- the four stacked series -----------------------------------------------
t_series() {
	# patches/series is 1-fix, 2-wp-file, 3-cbw, 4-handoff in that order, each
	# series file names existing patches, each series has a cover letter
	# numbered for it, and KERNEL=file stops after 2-wp-file
	local s p all="" n
	for s in 1-fix 2-wp-file 3-cbw 4-handoff; do
		[ -f "patches/$s/series" ] || { echo "no patches/$s/series"; return 1; }
		n=0
		while read -r p; do
			case "$p" in ''|'#'*) continue ;; esac
			[ -f "patches/$s/$p" ] || { echo "patches/$s/series names missing $p"; return 1; }
			all="$all$s/$p"$'\n'
			n=$((n + 1))
		done < "patches/$s/series"
		[ "$n" -gt 0 ] || { echo "series $s is empty"; return 1; }
		grep -q "^Subject: \[PATCH 0/$n\] " "patches/$s/0000-cover-letter.patch" ||
			{ echo "patches/$s/0000-cover-letter.patch is not [PATCH 0/$n]"; return 1; }
	done
	[ "$all" = "$(grep -v -e '^#' -e '^$' patches/series)"$'\n' ] ||
		{ echo "patches/series is not the four series files in order"; return 1; }
	! ls patches/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -q . ||
		{ echo "stray patches at the top of patches/"; return 1; }
	grep -q 'patches/1-fix/series patches/2-wp-file/series' scripts/build-kernel.sh &&
	grep -q 'patches/1-fix/series patches/2-wp-file/series patches/3-cbw/series' scripts/build-kernel.sh &&
	[ -f config/expect-file ] && grep -q '^UFFDWP_EXPECT_HANDOFF=0' config/expect-file &&
	grep -q '^UFFDWP_EXPECT_WP_COPY=0' config/expect-file &&
	grep -q '^UFFDWP_EXPECT_HANDOFF=0' config/expect-cbw && grep -q '^UFFDWP_EXPECT_WP_COPY=1' config/expect-cbw
}
check "patches/ holds four stacked series (1-fix, 2-wp-file, 3-cbw, 4-handoff), each with a series file and cover letter" t_series

# ---- check-broken.sh: the judge of a broken kernel's run --------------------
t_judge() {
	# fabricated logs judged by scripts/check-broken.sh --judge; and every
	# tests/broken entry has a valid expect file (dry run, no build, no boot)
	local b=$tmp/broken/fake g=$tmp/jgood n=$tmp/jnot p=$tmp/jpass r
	mkdir -p "$b" "$g" "$n" "$p" "$tmp/jnone"
	cat > "$b/expect" <<'EOF'
# a comment
run uffd-wp-file ks-uffd-unit-tests filter=wp-remote-cpu
fail uffd-wp-file file-shared ext4 write-fault
fail ks-uffd-unit-tests wp-remote-cpu on file (
console WARNING:.*userfaultfd_register
EOF
	cat > "$g/results.tap" <<'EOF'
ok 1 - uffd-wp-file: shmem memfd write-fault
not ok 2 - uffd-wp-file: file-shared ext4 write-fault
not ok 3 - ks-uffd-unit-tests: uffd-unit-tests[ext4]: wp-remote-cpu on file (no fault from CPU 1)
not ok 4 - uffd-wp-file: file-private ext4 sigbus
EOF
	printf '%s\n' '[    1.000000] Linux version 6.12' \
		'[   12.345678] WARNING: CPU: 0 PID: 9 at fs/userfaultfd.c:1393 userfaultfd_register+0x1/0x2' > "$g/console.log"
	# not caught: the points that fail are near misses (an "ok" point, another
	# memory type whose name starts alike, another test), the WARN is only
	# in a test's output (no printk timestamp)
	cat > "$n/results.tap" <<'EOF'
ok 1 - uffd-wp-file: file-shared ext4 write-fault
not ok 2 - ks-uffd-unit-tests: uffd-unit-tests[ext4]: wp-remote-cpu on file-private (no fault)
not ok 3 - uffd-wp-matrix: file-shared ext4 write-fault
EOF
	printf '%s\n' '[    1.000000] Linux version 6.12' 'WARNING: userfaultfd_register (printed by a test)' > "$n/console.log"
	sed 's/^not ok/ok/' "$g/results.tap" > "$p/results.tap"
	head -n1 "$g/console.log" > "$p/console.log"
	r=$(scripts/check-broken.sh --judge "$b" "$g") || { echo "good logs: $r"; return 1; }
	[[ $r == *"caught     fake: 3/3 expected failures seen (1 other failing points)" ]] || { echo "good logs: $r"; return 1; }
	r=$(scripts/check-broken.sh --judge "$b" "$n"); [ $? = 1 ] || { echo "near misses: $r"; return 1; }
	[[ $r == *"NOT caught fake: 0/3 expected failures seen"* ]] || { echo "near misses: $r"; return 1; }
	r=$(scripts/check-broken.sh --judge "$b" "$p"); [ $? = 1 ] || { echo "passing run: $r"; return 1; }
	# two boots: the failures of one and the splat of the other add up
	mkdir -p "$tmp/jb1" "$tmp/jb2"
	cp "$g/results.tap" "$p/console.log" "$tmp/jb1/"
	cp "$p/results.tap" "$g/console.log" "$tmp/jb2/"
	r=$(scripts/check-broken.sh --judge "$b" "$tmp/jb1" "$tmp/jb2") || { echo "two boots: $r"; return 1; }
	r=$(scripts/check-broken.sh --judge "$b" "$tmp/jnone"); [ $? = 2 ] || { echo "no logs: $r"; return 1; }
	echo 'fail uffd-wp-file' >> "$b/expect"
	r=$(scripts/check-broken.sh --judge "$b" "$g"); [ $? = 2 ] || { echo "invalid expect file: $r"; return 1; }
	CHECK_BROKEN_DRY=1 CHECK_BROKEN_APPLY=0 scripts/check-broken.sh > "$tmp/dry.out" 2>&1 || { cat "$tmp/dry.out"; return 1; }
	grep -q '^dry run: [0-9]* entries, 0 invalid expect file' "$tmp/dry.out" || { cat "$tmp/dry.out"; return 1; }
}
check "check-broken.sh --judge: caught only when every expected failure is seen; every tests/broken entry has a valid expect file" t_judge

exit $((nfail > 0))
