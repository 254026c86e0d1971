#!/bin/bash
# bench/snapshot/run.sh [--quick]: the snapshotter (bench/snapshot/snap.c,
# bench/README.md "A real client: snapshot") in one boot: anon and a shared
# file on the first file system of UFFDWP_FS (ext4 in the guest), each with
# synchronous uffd-wp + a copying handler thread (uffd), copy-before-write
# (cbw) and fork() copy-on-write (fork, anon only).  The snapshot files go
# to that file system too.  Run by bench/make-bench.sh in the 2-vCPU boot.
#   -> build/bench/snapshot-<tag>.csv (env,kernel, + snap's columns)
# --quick: BENCH_SNAP_MIB 32 MiB, 1 snapshot each, 300 ms baselines.
# Env: BENCH_SNAP_MIB (256), BENCH_SNAP_REPS (snapshots per method and memory, 2),
# BENCH_SNAP_BASE_MS (1000: writing without a snapshot before each one, the
# throughput baseline), BENCH_SNAP_SLOTS (cbw slots, 4096 = 16 MiB),
# BENCH_SNAP_TIMEOUT (s per run, 600), BENCH_OUT, BENCH_ENV, BENCH_TAG as run.sh.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${BENCH_OUT:-$top/build/bench}
quick=0
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	-h|--help) sed -n '2,/^set -u/{/^#/p}' "$0"; exit 0 ;;
	*) echo "snapshot/run.sh: unknown argument $a" >&2; exit 2 ;;
	esac
done
mkdir -p "$out" || exit 1
bin=$out/snap
"$top/bench/build.sh" "$bin" "$top/bench/snapshot/snap.c" || exit 1

ncpu=$(nproc)
if grep -q 'TCG' /proc/cpuinfo; then kind=TCG short=tcg
elif grep -q '^flags.* hypervisor' /proc/cpuinfo; then kind=KVM short=kvm
else kind=bare short=guest; fi
envlabel=${BENCH_ENV:-"$kind guest $ncpu vCPU"}
tag=${BENCH_TAG:-$short$ncpu}
if [ $quick = 1 ]; then
	mib=${BENCH_SNAP_MIB:-32} reps=${BENCH_SNAP_REPS:-1} base=${BENCH_SNAP_BASE_MS:-300}
else
	mib=${BENCH_SNAP_MIB:-256} reps=${BENCH_SNAP_REPS:-2} base=${BENCH_SNAP_BASE_MS:-1000}
fi
slots=${BENCH_SNAP_SLOTS:-4096} pt=${BENCH_SNAP_TIMEOUT:-600}
fsd=${UFFDWP_FS:-}
fsd=${fsd%% *}
case $fsd in
*:*) fsn=${fsd%%:*} d=${fsd#*:} ;;
"") fsn=- d=$(mktemp -d /tmp/snap.XXXXXX); trap 'rm -rf "$d"' EXIT
    echo "snapshot/run.sh: UFFDWP_FS unset: files in $d" >&2 ;;
*) fsn=- d=$fsd ;;
esac
fa=(-d "$d")
[ "$fsn" = - ] || fa+=(-f "$fsn")
kernel=$(uname -r)
csv=$out/snapshot-$tag.csv
echo "env,kernel,$("$bin" -H)" > "$csv"
nfail=0 start=$SECONDS
echo "snapshot/run.sh: $envlabel (kernel $kernel): $mib MiB, $reps snapshot(s) each; $csv" >&2
for t in anon file-shared; do
	for m in uffd cbw fork; do
		tmp=$out/.snap.$$
		timeout -k 5 "$pt" "$bin" -m $m -t $t "${fa[@]}" -s "$mib" -r "$reps" -b "$base" \
			-n "$slots" -T "$pt" < /dev/null > "$tmp"
		rc=$?
		if [ $rc -gt 1 ]; then
			# crash or timeout: a FAIL row
			nfail=$((nfail + 1))
			"$bin" -m $m -t $t "${fa[@]}" -s "$mib" --skip "rc=$rc (crash or timeout after ${pt}s)" |
				sed 's/,SKIP:/,FAIL:/' >> "$tmp"
		fi
		[ $rc = 1 ] && nfail=$((nfail + 1))	# a snapshot that does not verify
		while IFS= read -r line; do echo "\"$envlabel\",\"$kernel\",$line"; done < "$tmp" >> "$csv"
		rm -f "$tmp"
	done
done
echo "snapshot/run.sh: $((SECONDS - start))s, $nfail run(s) failed; $csv" >&2
[ $nfail = 0 ]
