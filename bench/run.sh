#!/bin/bash
# bench/run.sh [--quick] [--native] [--handler] -- write-tracking benchmark matrix.
#
# In the guest (default; the 2-vCPU boot of `make bench`):
#   scripts/vm.sh build/obj/series/vmlinux 'bench/run.sh'
#   -> build/bench/results-tcg2.csv, run-tcg2.log
# The handler-thread rows only (the 1-vCPU boot of `make bench`):
#   VCPUS=1 scripts/vm.sh build/obj/series/vmlinux 'bench/run.sh --handler'
#   -> build/bench/results-tcg1.csv (tag gets "-handler" unless 1 vCPU)
# On the host (the methods the host kernel supports; what it lacks SKIPs):
#   bench/run.sh --native
#   -> build/bench/results-native.csv
# Then bench/report.py build/bench: summary.md and the PNG plots.
#
# First the core rows (bench/README.md "The matrix"): anon and file-shared
# on the first fs, sequential, threads free, 1024 writes per round (4 MiB),
# 7 repeats: mprotect, uffd-sigbus, uffd-read, uffd-read-cpu,
# uffd-read-spin, uffd-read-spin-cpu, async, none; 2 writers with one
# handler; on anon a handler that spends 100 us per message and a few
# rows on pages emptied before each round (--fresh).  Then the rest of the
# matrix until the time budget runs out.
# --quick  a few minutes in the TCG guest (core at 1 MiB, 3 repeats)
# FULL=1   the full matrix (16, 128 and 1024 MiB, all patterns, all fs,
#          2 writers x pinned, limit points of every method; hours)
# Env: UFFDWP_FS (file systems, set by the guest init; --native: a directory
# under /tmp), BENCH_OUT (build/bench), BENCH_TIMEOUT (seconds per point,
# 120, FULL 600), BENCH_ENV (row label override), BENCH_TAG (file name tag override),
# BENCH_BUDGET (seconds for the whole matrix; points after it are SKIP
# rows), BENCH_MIB (range sizes of the rest of the matrix, e.g. "16 64"),
# BENCH_SYNC_MIB (range for the handler-thread methods there; empty =
# BENCH_MIB), BENCH_CORE_MIB (the core rows' range, 4 = 1024 writes),
# BENCH_REPS (measured repeats, 7; quick 3, FULL 10),
# BENCH_DELAY_US (the slow handler's time per message, 100).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$top/build/bench}
quick=0 native=0 handler=0
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	--native) native=1 ;;
	--handler) handler=1 ;;
	-h|--help) sed -n '2,/^set -u/{/^#/p}' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
full=${FULL:-0}
ptimeout=${BENCH_TIMEOUT:-$([ "${FULL:-0}" = 1 ] && echo 600 || echo 120)}
mkdir -p "$out" || exit 1

# --- build (gcc from the host root, visible in the guest too) ---
bin=$out/wtrack
"$top/bench/build.sh" "$bin" || exit 1

# --- configuration label: "TCG guest 2 vCPU", "TCG guest 1 vCPU", "native" ---
ncpu=$(nproc)
if [ $native = 1 ]; then
	envlabel=${BENCH_ENV:-native}
	tag=native
	fslist=${UFFDWP_FS:-}
	if [ -z "$fslist" ]; then
		d=$(mktemp -d /tmp/wtrack-fs.XXXXXX)
		fslist=$d
		trap 'rm -rf "$d"' EXIT
	fi
else
	if grep -q 'TCG' /proc/cpuinfo; then
		kind=TCG short=tcg
	elif grep -q '^flags.* hypervisor' /proc/cpuinfo; then
		kind=KVM short=kvm
	else
		kind=bare short=guest
	fi
	envlabel=${BENCH_ENV:-"$kind guest $ncpu vCPU"}
	tag=$short$ncpu
	fslist=${UFFDWP_FS:-}
	[ -n "$fslist" ] || echo "run.sh: UFFDWP_FS unset: no file rows (run in the guest via scripts/vm.sh)" >&2
fi
# the 1-vCPU boot runs --handler: its rows are "tcg1"; --handler elsewhere
# gets its own file so it does not overwrite the full set of that config
[ $handler = 1 ] && [ "$ncpu" != 1 ] && tag=$tag-handler
tag=${BENCH_TAG:-$tag}
kernel="$(uname -r)"
csv=$out/results-$tag.csv
log=$out/run-$tag.log
: > "$log"
echo "env,kernel,$("$bin" -H)" > "$csv"

# one page copy made by the kernel (bench/kcopy.c), for the floor of the
# copy-before-write rows: not in the 1-vCPU handler boot
if [ $handler = 0 ] && "$top/bench/build.sh" "$bin-kcopy" "$top/bench/kcopy.c"; then
	kl=$("$bin-kcopy" -r 7 2>&1 | tail -n1)
	echo "run.sh: $kl" >&2
	kc=$(sed -n 's/.*page copy \([0-9]*\) ns.*/\1/p' <<<"$kl")
	echo "env,kernel,kcopy_ns" > "$out/kcopy-$tag.csv"
	[ -n "$kc" ] && echo "\"$envlabel\",\"$kernel\",$kc" >> "$out/kcopy-$tag.csv"
fi

# --- matrix ---
oldm="mprotect softdirty uffd-read uffd-poll uffd-sigbus async-scan-wp async-scan-rearm"
newm="uffd-read-cpu uffd-read-spin uffd-read-spin-cpu"
# one handler thread serves the faults: every write is a cross-thread wakeup
handlerm="uffd-read uffd-poll $newm"
# the core rows: every configuration of the headline, same size and boot
corem="none mprotect uffd-sigbus uffd-read uffd-read-cpu uffd-read-spin uffd-read-spin-cpu async-scan-wp async-scan-rearm"
# one handler thread serving 2 writers (mprotect: the same-boot baseline)
core2w="mprotect uffd-read uffd-read-cpu uffd-read-spin uffd-read-spin-cpu"
# a handler that spends BENCH_DELAY_US per message (anon only)
coredelay="uffd-read uffd-read-spin"
# the range emptied before each round (--fresh; anon only): every first
# write also populates its page, as in a loop writing to new memory
corefresh="mprotect uffd-sigbus uffd-read-spin uffd-read-spin-cpu"
# copy-before-write (issue 14): the writer's stall per first write when the
# old page is saved (--copy, "<method>+copy"): by the kernel (uffd-cbw), by
# the writer itself (none+copy: one user-space page copy, for the floor
# async-scan-rearm + copy), by the handler (mprotect+SIGSEGV, a handler
# thread: plain and the hand-off configurations)
corecbw="none+copy uffd-cbw mprotect+copy uffd-read+copy uffd-read-cpu+copy uffd-read-spin+copy uffd-read-spin-cpu+copy"
delay_us=${BENCH_DELAY_US:-100}
# cwarm: unmeasured warm-up rounds of a core point; the first rounds of a
# process run slower for every method in TCG (translation cache, page
# cache), mprotect+SIGSEGV included
reps=7 csize=4 cwarm=${BENCH_WARMUP:-3}
# ssize: MiB for the handler-thread methods in the rest of the matrix: a
# wakeup of an idle vCPU costs 0.1-5 ms in a TCG guest on a busy host, so
# they get a smaller range there (mprotect is run at that size too, so
# their ratios are same-size).
if [ $quick = 1 ]; then
	size=4 ssize=1 hsize=8 patterns="seq scatter" fsuse=${fslist%% *} reps=3 csize=1
	budget=$([ $handler = 1 ] && echo 60 || echo 120)
	limit_methods="mprotect uffd-sigbus"
elif [ "$full" = 1 ]; then
	size="16 128" ssize=16 hsize=64 patterns="seq rand scatter" fsuse=$fslist reps=10
	budget=$([ $handler = 1 ] && echo 2400 || echo 7200)
	limit_methods="mprotect softdirty uffd-sigbus async-scan-wp async-scan-rearm $handlerm"
else
	size=16 ssize=4 hsize=32 patterns="seq rand scatter" fsuse=$fslist
	# make bench stays under ~15 min on a 2-core host (bench/README.md)
	budget=$([ $handler = 1 ] && echo 140 || echo 390)
	# the handler-thread methods without the CPU hint (uffd-read/poll,
	# *-spin, whose polling may stop) can take 1-4 ms per write in TCG:
	# 49152 writes x 2 rounds would be minutes, close to the point
	# timeout; FULL=1 and --native run them
	limit_methods="mprotect softdirty uffd-sigbus async-scan-wp async-scan-rearm uffd-read-cpu"
fi
if [ $native = 1 ]; then
	ssize=
	[ $quick = 1 ] || limit_methods="mprotect softdirty uffd-sigbus async-scan-wp async-scan-rearm $handlerm"
	# no TCG: each point is fast; the cap keeps a busy host bounded
	budget=$([ $quick = 1 ] && echo 60 || { [ "$full" = 1 ] && echo 3600 || echo 100; })
fi
budget=${BENCH_BUDGET:-$budget}
size=${BENCH_MIB:-$size} ssize=${BENCH_SYNC_MIB-$ssize}
csize=${BENCH_CORE_MIB:-$csize} reps=${BENCH_REPS:-$reps}
limit_size=384

npoints=0 nfail=0 nskip=0
start=$SECONDS
is_handler() { case " $handlerm " in *" $1 "*) return 0 ;; esac; return 1; }
declare -A ran=()	# points already run (the core rows come first)
point() {	# wtrack args...  (bash builtins only: every exec is slow in TCG)
	[ -z "${ran["$*"]:-}" ] || return 0
	ran["$*"]=1
	npoints=$((npoints + 1))
	local tmp=$out/.point.$$ rc line
	if [ $((SECONDS - start)) -ge "$budget" ]; then
		# time budget (BENCH_BUDGET s) exhausted: record what was not run
		nskip=$((nskip + 1))
		"$bin" "$@" --skip "run.sh time budget (${budget}s) exhausted" < /dev/null > "$tmp" 2>/dev/null
		rc=0
	else
		timeout -k 5 "$ptimeout" "$bin" -T "$ptimeout" "$@" < /dev/null > "$tmp" 2> "$tmp.err"
		rc=$?
	fi
	local rows=0 bad=0
	while IFS= read -r line; do
		rows=$((rows + 1))
		case $line in *,MISMATCH:*|*,FAIL:*) bad=1 ;; esac
	done < "$tmp"
	if [ $rc != 0 ] && { [ $bad = 0 ] || [ $rc -gt 1 ]; }; then
		# crash/timeout: record it as a FAIL row
		echo "FAIL: rc=$rc wtrack $*" >&2
		echo "run.sh: rc=$rc: wtrack $*" >> "$tmp.err"
		"$bin" "$@" --skip "rc=$rc (crash or timeout after ${ptimeout}s)" 2>/dev/null |
			while IFS= read -r line; do echo "${line/,SKIP:/,FAIL:}"; done >> "$tmp"
	fi
	# 0 ok/SKIP/ENOMEM, 1 wrong dirty set (shown in the summary), else crash/timeout
	[ $rc -le 1 ] || nfail=$((nfail + 1))
	while IFS= read -r line; do echo "\"$envlabel\",\"$kernel\",$line"; done < "$tmp" >> "$csv"
	if [ -f "$tmp.err" ]; then
		while IFS= read -r line; do
			echo "$line" >> "$log"
			case $line in wtrack:*SKIP*) ;; wtrack:*) echo "$line" >&2 ;; esac
		done < "$tmp.err"
	fi
	rm -f "$tmp" "$tmp.err"
}
# mpoint METHOD SIZE ARGS...: a point; handler-thread methods (not hugetlb:
# its range is 4-32 huge pages already) run at ssize
mpoint() {
	local m=$1 s=$2; shift 2
	case " $* " in *" hugetlb "*) ;;
	*) is_handler "$m" && [ -n "$ssize" ] && s=$ssize ;; esac
	point -m "$m" -s "$s" "$@"
}
# the same-size mprotect baseline for the handler-thread rows
mbase() {	# SIZE ARGS...
	local s=$1; shift
	case " $* " in *" hugetlb "*) return ;; esac
	[ -n "$ssize" ] && [ "$ssize" != "$s" ] || return 0
	point -m mprotect -s "$ssize" "$@"
	# uffd-sigbus too (sequential, 1 writer): the headline compares the
	# handler-thread methods with it at the same size
	case " $* " in *" -w "*|*" rand "*|*" scatter "*) ;;
	*) point -m uffd-sigbus -s "$ssize" "$@" ;; esac
}

# memsets SIZE: "memtype fsname dir size main" lines (fs/dir "-" for
# anon/shmem/hugetlb), most important first (the budget cuts the tail).
# main=1: everything (new methods, 2 writers, pinned): anon, file-shared on
# the first fs (ext4 in the guest), shmem, hugetlb; main=0 (file-private,
# file-shared on the other fs): the basic methods.
memsets() {
	local s=$1 fsd fsn d first=1
	echo "anon - - $s 1"
	for fsd in ${fsuse%% *}; do
		case $fsd in *:*) fsn=${fsd%%:*} d=${fsd#*:} ;; *) fsn=- d=$fsd ;; esac
		echo "file-shared $fsn $d $s 1"
	done
	echo "shmem - - $s 1"
	echo "hugetlb - - $hsize 1"
	for fsd in $fsuse; do
		case $fsd in *:*) fsn=${fsd%%:*} d=${fsd#*:} ;; *) fsn=- d=$fsd ;; esac
		[ $first = 1 ] || echo "file-shared $fsn $d $s 0"
		# file-private: every fs in FULL, the first one otherwise
		{ [ $first = 1 ] || [ "$full" = 1 ]; } && echo "file-private $fsn $d $s 0"
		first=0
	done
}
fsargs() {	# memtype fsname dir -> wtrack args
	case $1 in
	file-*) if [ "$2" = - ]; then echo "-d $3"; else echo "-d $3 -f $2"; fi ;;
	esac
}

memrow() {	# memtype fsname dir size main
	local t=$1 ts=$4 main=$5 fa m p ms
	fa=$(fsargs "$1" "$2" "$3")
	if [ $handler = 1 ]; then
		# handler-thread rows (1-vCPU boot): seq, 1 writer, free (+ pinned
		# and 2 writers in FULL), with mprotect and uffd-sigbus of the same boot
		[ $main = 1 ] || return 0
		for m in mprotect uffd-sigbus $handlerm; do
			mpoint $m "$ts" -t $t $fa -p seq -r $reps
		done
		mbase "$ts" -t $t $fa -p seq -r $reps
		if [ "$full" = 1 ]; then
			for m in $handlerm; do
				mpoint $m "$ts" -t $t $fa -p seq -r $reps --pin
				mpoint $m "$ts" -t $t $fa -p seq -r $reps -w 2
			done
			mbase "$ts" -t $t $fa -p seq -r $reps -w 2
		fi
		return 0
	fi
	for p in $patterns; do
		# hugetlb: 2 MiB pages, scatter/rand over 4-32 pages is the same story
		[ $t = hugetlb ] && [ $p = rand ] && continue
		[ $t = hugetlb ] && [ $quick = 1 ] && [ $p != seq ] && continue
		[ $quick = 1 ] && [ $t = file-private ] && [ $p != seq ] && continue
		ms="none $oldm"
		[ $main = 1 ] && ms="$ms $newm"
		for m in $ms; do
			mpoint $m "$ts" -t $t $fa -p $p -r $reps
		done
		mbase "$ts" -t $t $fa -p $p -r $reps
	done
	[ $main = 1 ] || return 0
	[ $quick = 1 ] && [ $t != anon ] && [ $t != file-shared ] && return 0
	# one handler (or signal handler, or the kernel) serving 2 writers: every
	# method that has a meaning with 2 writers (not "none")
	for m in $oldm $newm; do
		mpoint $m "$ts" -t $t $fa -p seq -r $reps -w 2
	done
	mbase "$ts" -t $t $fa -p seq -r $reps -w 2
	# writers and handler pinned to one CPU (CPU 0)
	for m in $handlerm; do
		mpoint $m "$ts" -t $t $fa -p seq -r $reps --pin
		[ "$full" = 1 ] && mpoint $m "$ts" -t $t $fa -p seq -r $reps -w 2 --pin
	done
	return 0
}

# the core rows, run first (the budget never cuts them on a sane machine):
# anon and file-shared on the first fs, sequential, threads free, CSIZE
# MiB (4 = 1024 writes per round), REPS repeats; mprotect+SIGSEGV of the
# same boot and size for the ratios.  The rest of the matrix skips the
# points already run here (point() remembers them).
core() {
	local t fsn d ts main fa m
	while read -r t fsn d ts main; do
		[ -n "$t" ] || continue
		fa=$(fsargs "$t" "$fsn" "$d")
		if [ $handler = 1 ]; then
			# 1-vCPU boot: the handler-thread rows and their baselines
			for m in mprotect uffd-sigbus $handlerm; do
				point -m $m -s "$csize" -t $t $fa -p seq -r $reps
			done
			continue
		fi
		for m in $corem; do
			point -m $m -s "$csize" -t $t $fa -p seq -r $reps -W $cwarm
		done
		for m in $corecbw; do
			# shellcheck disable=SC2046 # "x+copy" -> -m x --copy
			point -m ${m%+copy} $([ "$m" != "${m%+copy}" ] && echo --copy) -s "$csize" -t $t $fa -p seq -r $reps -W $cwarm
		done
		[ $quick = 1 ] && [ $t != anon ] && continue
		# one handler serving 2 writers
		for m in $core2w; do
			point -m $m -s "$csize" -t $t $fa -p seq -r $reps -W $cwarm -w 2
		done
		# a slow handler: BENCH_DELAY_US busy per message before it
		# un-protects (the faulting thread's polling must adapt to it)
		[ $t = anon ] || continue
		for m in $coredelay; do
			point -m $m -s "$csize" -t $t $fa -p seq -r $reps -W $cwarm --handler-delay-us "$delay_us"
		done
		for m in $corefresh; do
			point -m $m -s "$csize" -t $t $fa -p seq -r $reps -W $cwarm --fresh
		done
	done <<< "$(memsets "$csize" | grep -E '^(anon|file-shared) .* 1$')"
}

rows() {	# SIZE GREP-PATTERN: memrow for the matching memsets lines
	local t fsn d ts main
	while read -r t fsn d ts main; do
		[ -n "$t" ] || continue
		memrow "$t" "$fsn" "$d" "$ts" "$main"
	done <<< "$(memsets "$1" | grep -E "$2")"
}
echo "run.sh: $envlabel (kernel $kernel); output $csv" >&2
core
# a named configuration of the same boot: the core rows again with the
# busy-poll bound at BENCH_POLL_US (200: an emulated guest runs everything
# about ten times slower than hardware, the 50 us default included), as
# rows of their own configuration ("..., vm.userfaultfd_busy_poll_us=N")
pollf=/proc/sys/vm/userfaultfd_busy_poll_us
if [ $native = 0 ] && [ $handler = 0 ] && [ -w $pollf ] && [ -n "${BENCH_POLL_US-200}" ]; then
	pold=$(cat $pollf) saveenv=$envlabel
	declare -A saveran=()
	for k in "${!ran[@]}"; do saveran["$k"]=1; done
	ran=()
	echo "${BENCH_POLL_US:-200}" > $pollf
	envlabel="$saveenv, vm.userfaultfd_busy_poll_us=${BENCH_POLL_US:-200}"
	corem="none mprotect uffd-sigbus uffd-read-spin uffd-read-spin-cpu"
	core2w="mprotect uffd-read-spin uffd-read-spin-cpu" coredelay="uffd-read-spin" corefresh=
	corecbw="uffd-read-spin+copy uffd-read-spin-cpu+copy"
	core
	echo "$pold" > $pollf
	envlabel=$saveenv
	ran=()
	for k in "${!saveran[@]}"; do ran["$k"]=1; done
fi
# anon first, then where each method stops working, then file-shared on the
# first fs, shmem and hugetlb, then the rest: a time budget cut on a busy
# machine loses the least important points
for s in $size; do
	rows "$s" '^anon .* 1$'
done
# where each method stops working: scattered writes (every 2nd page of
# 384 MiB = 49152 writes) split the VMA under mprotect until
# vm.max_map_count (65530: ENOMEM after 32753 writes); the same point for
# the other methods (1 repeat)
if [ $handler = 0 ]; then
	for m in $limit_methods; do
		point -m $m -t anon -p scatter -s $limit_size -r 1
	done
	[ "$full" = 1 ] && for m in $limit_methods; do
		point -m $m -t shmem -p scatter -s $limit_size -r 1
	done
fi
for s in $size; do
	rows "$s" '^(file-shared|shmem|hugetlb) .* 1$'
done
for s in $size; do
	rows "$s" ' 0$'
done
# FULL: GiB ranges for the methods without a handler thread
if [ "$full" = 1 ] && [ $handler = 0 ] && [ -z "${BENCH_MIB:-}" ]; then
	for m in none mprotect softdirty uffd-sigbus async-scan-wp async-scan-rearm; do
		point -m $m -t anon -p seq -s 1024 -r 5
		while read -r t fsn d ts main; do
			[ -n "$t" ] || continue
			# shellcheck disable=SC2046 # fsargs prints several words
			point -m $m -t $t $(fsargs "$t" "$fsn" "$d") -p seq -s 1024 -r 5
		done <<< "$(memsets 1024 | grep '^file-shared.* 1$')"
	done
fi

el=$((SECONDS - start))
echo "run.sh: $envlabel: $npoints points, $nfail crashed/timed out, $nskip not run (budget ${budget}s), ${el}s; $csv" >&2
[ $nfail = 0 ]
