#!/bin/bash
# check-broken.sh: does the suite catch each purpose-broken kernel of
# tests/broken/?  (make check-broken; not part of make check or CI: every
# entry is a kernel build of its own.)
#
#   scripts/check-broken.sh            every entry; BROKEN='name ...' picks some
#   CHECK_BROKEN_DRY=1 scripts/check-broken.sh
#                                      print the commands, validate the expect
#                                      files, check that the patches apply to
#                                      the series in build/linux
#                                      (CHECK_BROKEN_APPLY=0: not); nothing is
#                                      built or booted
#   scripts/check-broken.sh --judge NAME|DIR [LOGDIR...]
#                                      judge the logs of a run that happened
#                                      (default LOGDIRs: build/vm/broken-NAME,
#                                      broken-NAME.2, ... one per run line)
#
# Per entry NAME: the series plus tests/broken/NAME/*.patch is built as
# KERNEL=extra (scripts/build-kernel.sh, at most BUILD_TIMEOUT s, default
# 3600; log in build/broken/NAME/build.log), then each "run" line of
# tests/broken/NAME/expect is one boot (scripts/vmrun.sh guest/run-tests
# with TESTS= its tests, at most VM_TIMEOUT s, default 1200; logs in
# build/vm/broken-NAME, then broken-NAME.2, ...), then the judge: "caught"
# when every "fail" and "console" line of the expect file is seen, "NOT
# caught" otherwise (a run that passes is not caught), "error" when it could
# not be tested (no or invalid expect file, the patches do not apply, the
# build failed or timed out, a boot left no logs).  One line per entry, then
# "N caught, N not caught, N errors"; exit status 1 unless every entry was
# caught.  The expect format: tests/broken/README.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
unset UFFDWP_VCPU_GROUP	# run-tests runs exactly TESTS in each boot
build_timeout=${BUILD_TIMEOUT:-3600}
vm_timeout=${VM_TIMEOUT:-1200}
dry=${CHECK_BROKEN_DRY:-0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

known_test() { [ -f "tests/$1.sh" ] || [ -f "tests/$1.c" ] || [ -f "tests/$1/main.c" ]; }

default_vcpus() { # TEST...: the largest tests/vcpus value of them, else VCPUS or 2
	local t n best=0
	for t in "$@"; do
		n=$(awk -v t="$t" '$1 == t && $2 ~ /^[0-9]+$/ { print $2 }' tests/vcpus 2>/dev/null)
		[ -n "$n" ] && [ "$n" -gt "$best" ] && best=$n
	done
	[ "$best" -gt 0 ] && echo "$best" || echo "${VCPUS:-2}"
}

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; echo "${s%"${s##*[![:space:]]}"}"; }

# parse_expect DIR: fills run_tests/run_vcpus/run_filter (one per boot) and
# exp_kind/exp_test/exp_pat (one per expected failure); prints each problem,
# returns 1 if there was one.
parse_expect() {
	local f=$1/expect line kw rest n=0 bad=0 w tests vcpus filter t pat i found
	local -a words
	run_tests=() run_vcpus=() run_filter=() exp_kind=() exp_test=() exp_pat=()
	[ -f "$f" ] || { echo "no expect file ($f)"; return 1; }
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=$(trim "${line%$'\r'}")
		case $line in '' | '#'*) continue ;; esac
		kw=${line%%[[:space:]]*}
		rest=$(trim "${line#"$kw"}")
		case $kw in
		run)
			read -ra words <<< "$rest"
			tests="" vcpus="" filter=""
			for w in "${words[@]}"; do
				case $w in
				vcpus=*)
					vcpus=${w#vcpus=}
					[[ $vcpus =~ ^[1-9][0-9]*$ ]] || { echo "$f:$n: vcpus= wants a number: $w"; bad=1; } ;;
				filter=*)
					filter=${w#filter=}
					[[ $filter =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "$f:$n: filter= wants a uffd-unit-tests name: $w"; bad=1; } ;;
				*=*) echo "$f:$n: unknown run option $w"; bad=1 ;;
				*)
					known_test "$w" || { echo "$f:$n: no test $w (tests/$w.sh, tests/$w.c or tests/$w/main.c)"; bad=1; }
					tests="$tests $w" ;;
				esac
			done
			[ -n "$tests" ] || { echo "$f:$n: run names no test"; bad=1; }
			if [ -n "$filter" ] && [[ "$tests " != *" ks-uffd-unit-tests "* ]]; then
				echo "$f:$n: filter= applies to ks-uffd-unit-tests, which this run lacks"
				bad=1
			fi
			# shellcheck disable=SC2086
			[ -n "$vcpus" ] || vcpus=$(default_vcpus $tests)
			run_tests+=("${tests# }") run_vcpus+=("$vcpus") run_filter+=("$filter") ;;
		fail)
			t=${rest%%[[:space:]]*}
			pat=$(trim "${rest#"$t"}")
			if [ -z "$t" ] || [ -z "$pat" ]; then
				echo "$f:$n: fail wants TEST GLOB"
				bad=1
				continue
			fi
			exp_kind+=(fail) exp_test+=("$t") exp_pat+=("$pat") ;;
		console)
			if [ -n "$rest" ]; then
				grep -E -- "$rest" < /dev/null > /dev/null 2>&1
				[ $? = 2 ] && { echo "$f:$n: not an extended regular expression: $rest"; bad=1; }
			fi
			exp_kind+=(console) exp_test+=("") exp_pat+=("$rest") ;;
		*) echo "$f:$n: unknown keyword $kw (run, fail, console)"; bad=1 ;;
		esac
	done < "$f"
	[ ${#run_tests[@]} -gt 0 ] || { echo "$f: no run line"; bad=1; }
	[ ${#exp_kind[@]} -gt 0 ] || { echo "$f: no fail or console line"; bad=1; }
	for i in "${!exp_kind[@]}"; do
		[ "${exp_kind[$i]}" = fail ] || continue
		found=0
		for w in "${run_tests[@]}"; do
			[[ " $w " == *" ${exp_test[$i]} "* ]] && found=1
		done
		[ $found = 1 ] || { echo "$f: fail ${exp_test[$i]}: no run line runs it"; bad=1; }
	done
	return $bad
}

vm_names() { # NAME: the VM name of each run line
	local i
	for i in "${!run_tests[@]}"; do
		if [ "$i" = 0 ]; then echo "broken-$1"; else echo "broken-$1.$((i + 1))"; fi
	done
}

# judge DIR LOGDIR...: prints one "#" line per expectation (seen or missing),
# sets judged ("caught" / "NOT caught" / "error") and jsum; returns 0, 1, 2.
judge() {
	local d=$1 i line x tst desc seen nseen=0 nexp missing="" nother=0 hit
	shift
	local -a taps=() nok=() used=()
	for x in "$@"; do
		if [ ! -f "$x/results.tap" ] && [ ! -f "$x/console.log" ]; then
			judged=error jsum="no results.tap and no console.log in $x"
			echo "# $jsum"
			return 2
		fi
		[ -f "$x/results.tap" ] && taps+=("$x/results.tap")
	done
	[ ${#taps[@]} -gt 0 ] && mapfile -t nok < <(grep -a -h '^not ok ' "${taps[@]}")
	nexp=${#exp_kind[@]}
	for i in "${!exp_kind[@]}"; do
		seen=""
		if [ "${exp_kind[$i]}" = fail ]; then
			for line in "${!nok[@]}"; do
				x=${nok[$line]#not ok }
				x=${x#*- }
				tst=${x%%: *}
				desc=${x#*: }
				[ "$tst" = "${exp_test[$i]}" ] || continue
				# a plain glob (case: no extglob), anywhere in the description
				# shellcheck disable=SC2254
				case $desc in
				*${exp_pat[$i]}*)
					[ -z "$seen" ] && seen=${nok[$line]}
					used[line]=1 ;;
				esac
			done
			what="fail ${exp_test[$i]} ${exp_pat[$i]}"
		else
			for x in "$@"; do
				[ -f "$x/console.log" ] || continue
				scripts/check-console.sh "$x/console.log" > /dev/null 2>&1 && continue
				if [ -z "${exp_pat[$i]}" ]; then
					hit=$(scripts/check-console.sh "$x/console.log" 2>&1 | head -n1)
					hit=${hit:-"the console check failed"}
				else
					hit=$(grep -a -h -E "\[ *[0-9]+\.[0-9]+\].*(${exp_pat[$i]})" "$x/console.log" | head -n1)
				fi
				[ -n "$hit" ] && { seen="$x/console.log: $hit"; break; }
			done
			what="console${exp_pat[$i]:+ ${exp_pat[$i]}}"
		fi
		if [ -n "$seen" ]; then
			nseen=$((nseen + 1))
			echo "# seen:    $what  <- ${seen:0:200}"
		else
			missing="$missing; $what"
			echo "# MISSING: $what"
		fi
	done
	for line in "${!nok[@]}"; do
		[ -n "${used[$line]:-}" ] || nother=$((nother + 1))
	done
	echo "# ${#nok[@]} failing point(s) in $*, $nother of them not named by the expect file"
	if [ "$nseen" = "$nexp" ]; then
		judged=caught jsum="$nseen/$nexp expected failures seen ($nother other failing points)"
		return 0
	fi
	judged="NOT caught" jsum="$nseen/$nexp expected failures seen, missing: ${missing#; } ($nother other failing points)"
	return 1
}

verdict() { # VERDICT NAME TEXT
	printf '%-10s %s: %s\n' "$1" "$2" "$3" | tee -a "$summary"
}

# ---- --judge: an existing run's logs ----------------------------------------
if [ "${1:-}" = --judge ]; then
	[ $# -ge 2 ] || { echo "usage: $0 --judge NAME|DIR [LOGDIR...]" >&2; exit 2; }
	case $2 in */*) d=$2 ;; *) d=tests/broken/$2 ;; esac
	name=$(basename "$d")
	if ! parse_expect "$d"; then
		echo "error      $name: invalid expect file"
		exit 2
	fi
	shift 2
	logs=("$@")
	if [ ${#logs[@]} = 0 ]; then
		mapfile -t logs < <(vm_names "$name" | sed 's|^|build/vm/|')
	fi
	judge "$d" "${logs[@]}"
	rc=$?
	printf '%-10s %s: %s\n' "$judged" "$name" "$jsum"
	exit $rc
fi

# ---- every entry (or BROKEN) -------------------------------------------------
if [ -n "${BROKEN:-}" ]; then
	entries=$BROKEN
else
	entries=$(for d in tests/broken/*/; do basename "$d"; done)
fi
summary=/dev/null
if [ "$dry" != 1 ]; then
	mkdir -p build/broken
	summary=build/broken/summary.txt
	: > "$summary"
fi
ncaught=0 nnot=0 nerr=0 nbadexp=0 nnoapply=0 n=0
for name in $entries; do n=$((n + 1)); done
if [ "$dry" != 1 ]; then
	echo "# check-broken: $n entries; each a KERNEL=extra build (<= ${build_timeout}s) and its boots (<= ${vm_timeout}s each); summary in $summary"
	scripts/deps.sh || exit 1
	if [ "${WORKTREE:-0}" != 1 ]; then
		scripts/tree-state.sh || exit 1
	fi
	scripts/build-tests.sh > build/broken/build-tests.log 2>&1 ||
		{ echo "check-broken: building the tests failed (build/broken/build-tests.log)" >&2; exit 1; }
fi
q() { printf '%q ' "$@"; }

# apply_check DIR: do the entry's patches apply, in order, to the series
# commit of build/linux (base + as many commits as patches/series lists)?
# A scratch index and object directory: build/linux is only read.
series_commit=
if [ "$dry" = 1 ] && [ "${CHECK_BROKEN_APPLY:-1}" = 1 ] && [ -d build/linux/.git ]; then
	nser=$(grep -c -v -e '^#' -e '^$' patches/series)
	series_commit=$(git -C build/linux rev-list --reverse base..HEAD 2>/dev/null | sed -n "${nser}p")
	if [ -n "$series_commit" ]; then
		echo "# apply check: against build/linux $(git -C build/linux log -1 --format='%h (%s)' "$series_commit"), base + the $nser patches of patches/series"
		[ "$(git -C build/linux rev-parse HEAD)" = "$series_commit" ] ||
			echo "# note: build/linux's HEAD is not that commit: a real run needs base + patches/series there (scripts/tree-state.sh) or WORKTREE=1"
	else
		echo "# apply check: build/linux has fewer commits than patches/series lists; skipped"
	fi
fi
apply_check() {
	local p git=(git -C build/linux)
	rm -rf "$tmp/objects" "$tmp/index"
	mkdir -p "$tmp/objects"
	export GIT_INDEX_FILE=$tmp/index GIT_OBJECT_DIRECTORY=$tmp/objects
	export GIT_ALTERNATE_OBJECT_DIRECTORIES=$top/build/linux/.git/objects
	"${git[@]}" read-tree "$series_commit" || return 1
	for p in "$1"/*.patch; do
		"${git[@]}" apply --cached "$top/$p" > "$tmp/apply.out" 2>&1 ||
			{ echo "$(basename "$p"): $(head -n2 "$tmp/apply.out" | tr '\n' ' ')"; return 1; }
	done
}

for name in $entries; do
	d=tests/broken/$name
	if [ ! -d "$d" ]; then
		verdict error "$name" "no such entry (tests/broken/$name)"
		nerr=$((nerr + 1))
		continue
	fi
	if ! parse_expect "$d" > "$tmp/problems"; then
		verdict error "$name" "invalid expect file: $(head -n1 "$tmp/problems")"
		sed 's/^/#   /' "$tmp/problems" | tail -n +2
		nerr=$((nerr + 1)) nbadexp=$((nbadexp + 1))
		continue
	fi
	npatch=$(find "$d" -maxdepth 1 -name '*.patch' | wc -l)
	if [ "$npatch" = 0 ]; then
		verdict error "$name" "no *.patch in $d"
		nerr=$((nerr + 1))
		continue
	fi
	mapfile -t vms < <(vm_names "$name")
	kenv=(KERNEL=extra "EXTRA_PATCHES=$top/$d")
	if [ "$dry" = 1 ]; then
		echo "# $name: $npatch patch(es), ${#vms[@]} boot(s), ${#exp_kind[@]} expected failure(s)"
		if [ -n "$series_commit" ]; then
			if why=$(apply_check "$d" 2>&1); then
				echo "#   the patches apply to the series"
			else
				echo "#   THE PATCHES DO NOT APPLY to the series: $why"
				nnoapply=$((nnoapply + 1))
			fi
			unset GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
		fi
		echo "$(q env "${kenv[@]}" timeout -k 60 "$build_timeout" scripts/build-kernel.sh)> build/broken/$name/build.log 2>&1"
		for i in "${!vms[@]}"; do
			fenv=(-u UFFDWP_UNIT_FILTER)
			[ -n "${run_filter[$i]}" ] && fenv=("UFFDWP_UNIT_FILTER=${run_filter[$i]}")
			echo "$(q env "${fenv[@]}" "${kenv[@]}" "VM_NAME=${vms[$i]}" "VCPUS=${run_vcpus[$i]}" \
				"VM_TIMEOUT=$vm_timeout" "TESTS=${run_tests[$i]}" \
				timeout -k 30 $((vm_timeout + 300)) scripts/vmrun.sh guest/run-tests)> build/broken/$name/boot$((i + 1)).log 2>&1"
		done
		echo "$(q scripts/check-broken.sh --judge "$name" "${vms[@]/#/build/vm/}")> build/broken/$name/judge.log"
		continue
	fi

	mkdir -p "build/broken/$name"
	t0=$(date +%s)
	env "${kenv[@]}" timeout -k 60 "$build_timeout" scripts/build-kernel.sh > "build/broken/$name/build.log" 2>&1
	brc=$?
	t1=$(date +%s)
	if [ $brc != 0 ]; then
		if [ $brc = 124 ] || [ $brc = 137 ]; then
			why="the kernel build timed out after ${build_timeout}s"
		elif grep -q 'does not apply' "build/broken/$name/build.log"; then
			why="the patches do not apply to the series"
		else
			why="the kernel build failed (status $brc)"
		fi
		verdict error "$name" "$why (build/broken/$name/build.log)"
		nerr=$((nerr + 1))
		continue
	fi
	for i in "${!vms[@]}"; do
		rm -rf "build/vm/${vms[$i]}"
		fenv=(-u UFFDWP_UNIT_FILTER)
		[ -n "${run_filter[$i]}" ] && fenv=("UFFDWP_UNIT_FILTER=${run_filter[$i]}")
		env "${fenv[@]}" "${kenv[@]}" "VM_NAME=${vms[$i]}" "VCPUS=${run_vcpus[$i]}" \
			"VM_TIMEOUT=$vm_timeout" "TESTS=${run_tests[$i]}" \
			timeout -k 30 $((vm_timeout + 300)) scripts/vmrun.sh guest/run-tests \
			> "build/broken/$name/boot$((i + 1)).log" 2>&1
	done
	t2=$(date +%s)
	judge "$d" "${vms[@]/#/build/vm/}" > "build/broken/$name/judge.log"
	case $? in
	0) ncaught=$((ncaught + 1)) ;;
	1) nnot=$((nnot + 1)) jsum="$jsum (build/broken/$name/judge.log)" ;;
	*) nerr=$((nerr + 1)) ;;
	esac
	verdict "$judged" "$name" "$jsum; build $((t1 - t0))s, boots $((t2 - t1))s"
done

if [ "$dry" = 1 ]; then
	echo "dry run: $n entries, $nbadexp invalid expect file(s), $nnoapply whose patches do not apply; nothing built or booted"
	[ $nbadexp = 0 ] && [ $nnoapply = 0 ] && [ $nerr = 0 ]
	exit
fi
echo "$ncaught caught, $nnot not caught, $nerr errors" | tee -a "$summary"
[ $nnot = 0 ] && [ $nerr = 0 ]
