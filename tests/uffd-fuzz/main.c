// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-fuzz: a self-contained, syzkaller-style randomized fuzzer for
 * userfaultfd (write-protect above all) on every kind of user memory:
 * anonymous, shmem (memfd, shared and private), hugetlb (memfd, when the
 * pool has pages), and MAP_SHARED / MAP_PRIVATE mappings of regular files
 * on every file system of UFFDWP_FS.
 *
 * Every sequence comes from a seed: "# seed: N" is printed first and in
 * every failure line, with the replay command
 * (UFFDWP_FUZZ_SEED=N build/tests/uffd-fuzz).  One TAP point per seed: seed,
 * seed+1, ... until UFFDWP_FUZZ_SECONDS seconds (default 60) have passed;
 * their counters are summed in the "# stats:" line.  Each seed is a case of
 * its own (cases.h: a process of its own), with three threads besides the
 * main one: a handler (polls the uffd and the uffds of forked children,
 * un-protects on WP faults, ZEROPAGE/COPY on MISSING, CONTINUE on MINOR,
 * reads events; sometimes holds the writer's WP faults back so that the
 * main thread runs hostile operations while the writer is blocked), a
 * writer (performs the reads and writes, catching SIGSEGV/SIGBUS), and a
 * watchdog (a main-thread operation that never returns).
 *
 * The main thread draws operations: mmap (new object or a second mapping
 * of an existing one), munmap (whole or part), mremap (shrink, grow, move),
 * mprotect, madvise (DONTNEED, FREE, PAGEOUT, COLD, WILLNEED,
 * HUGEPAGE/NOHUGEPAGE, COLLAPSE, REMOVE, POPULATE_READ/WRITE), fork (the
 * child reads and verifies, and writes, some pages), ftruncate (shrink,
 * grow, unaligned), fallocate(PUNCH_HOLE), fsync/fdatasync/msync,
 * posix_fadvise(DONTNEED), pwrite, UFFDIO_REGISTER (WP/MISSING/MINOR
 * combinations and bogus modes), UNREGISTER, WRITEPROTECT, WAKE, COPY,
 * ZEROPAGE, CONTINUE, MOVE, PAGEMAP_SCAN, closing and re-opening the uffd
 * (by the handler thread, possibly while the writer is blocked), batches of
 * reads and writes (synchronous, or left running while later operations
 * run: munmap, UNREGISTER, close, fork... while faults are pending), a full
 * verification, and a targeted probe (a page of a file/shmem/hugetlb
 * mapping is registered and protected, zapped or evicted, then written:
 * the first write must still be reported).  Ranges are often slightly
 * wrong: unaligned, empty, one page too long, overflowing, across an
 * unmapped hole.  The uffd is synchronous, SIGBUS mode or async per seed,
 * with a random subset of the features the kernel offers.
 *
 * Invariants (a violation prints the seed, the operation index and the
 * tail of the operation log, and fails the point):
 *  - a shadow model per page (known byte or unknown, per object for shared
 *    memory, per mapping for private memory with "follows the file") is
 *    never contradicted by a read, by a forked child's read, or at the end
 *    by pread() of the files;
 *  - no unexpected signal: SIGSEGV only on unmapped or protected pages,
 *    SIGBUS only beyond EOF, in SIGBUS mode (the writer resolves it and
 *    retries) or on hugetlb; an access that must fault does;
 *  - every ioctl fails only with an errno of its documented set;
 *  - no access stays blocked for 30 s (lost wakeup), no operation for 90 s,
 *    the whole seed finishes (the case timeout);
 *  - the probe's first write after zap/eviction is reported.
 * The kernel console is checked by the harness (panic_on_warn).
 *
 * Copy-before-write (cbw.c): when the kernel advertises
 * UFFD_FEATURE_WP_COPY, the synchronous seeds whose number is not a
 * multiple of 4 open
 * every uffd with it, set its buffer up (UFFDIO_WP_COPY_SETUP with a
 * random nr_slots, wrong calls first), map it, and add FREE, state checks,
 * wrong calls and a copy-before-write probe to the mix; every record's slot
 * must hold the page as the model knew it before the write, every first
 * write of the probe must be a record or a report.  Three more TAP points
 * at the end sum the violations of the seeds by kind (lost writes, slot
 * contents, the API); they skip when no seed used it, and a kernel without
 * the feature gets one point instead ("UFFD_FEATURE_WP_COPY", failing
 * unless UFFDWP_EXPECT_WP_COPY=0).  The other seeds
 * draw exactly the operations they drew before.
 *
 * Self-test: -S or UFFDWP_FUZZ_SELFTEST=1 runs only the self-check: the
 * shadow model is corrupted on purpose and the checker must report it.
 * The same self-check is the first TAP point of every run.
 *
 * Environment: UFFDWP_FUZZ_SEED (first seed), UFFDWP_FUZZ_SECONDS (in all, default 60),
 * UFFDWP_FUZZ_OPS (operations per seed, default 3000), UFFDWP_FUZZ_TRACE=1
 * (print every operation), UFFDWP_FS.
 * Replay is deterministic in the operations drawn; thread interleavings
 * are not.
 *
 * The memory kinds and their objects come from tests/lib/mem.h; the parts
 * of the test are listed in fuzz.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fuzz.h"

struct fuzz g;

const char *const um_name[] = { "sync", "sigbus", "async" };

/* one seed: the self-check, or a seed of the run */
struct seed_case {
	unsigned long seed;
	bool selftest;
};

/* ------------------------------------------------------------------ */
/* log and violations                                                  */

void oplog(const char *fmt, ...)
{
	char *l = g.log[g.nlog % LOG_LINES];
	va_list ap;
	int n;

	n = snprintf(l, sizeof(g.log[0]), "op %d: ", g.op);
	va_start(ap, fmt);
	vsnprintf(l + n, sizeof(g.log[0]) - n, fmt, ap);
	va_end(ap);
	g.nlog++;
	if (g.trace)
		diag("trace: %s", l);
}

static void print_log_tail(void)
{
	int i = g.nlog > LOG_TAIL ? g.nlog - LOG_TAIL : 0;

	diag("seed %lu: last %d operations:", g.seed, g.nlog - i);
	for (; i < g.nlog; i++)
		diag("  %s", g.log[i % LOG_LINES]);
}

void violation(bool mismatch, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&g.plock);
	if (!g.res.violations)
		snprintf(g.res.first, sizeof(g.res.first), "%s", msg);
	g.res.violations++;
	if (mismatch)
		g.res.mismatch = 1;
	if (g.selftest)
		diag("self-test (a report is expected): seed %lu op %d: %s", g.seed, g.op, msg);
	else
		fail("seed %lu op %d (%s uffd): %s", g.seed, g.op, um_name[g.mode], msg);
	if (g.res.violations == 1 && !g.selftest) {
		print_log_tail();
		diag("replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz", g.seed);
	}
	fflush(stdout);
	pthread_mutex_unlock(&g.plock);
}

/* ------------------------------------------------------------------ */
/* one seed                                                            */

static void pick_mode(void)
{
	uint64_t want = UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MISSING_SHMEM |
			UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_MINOR_SHMEM |
			UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
			UFFD_FEATURE_MOVE;
	int x = rnd(100);

	g.mode = x < 55 ? UM_SYNC : x < 78 ? UM_SIGBUS : UM_ASYNC;
	if (g.mode == UM_ASYNC && !(g.supported & UFFD_FEATURE_WP_ASYNC))
		g.mode = UM_SYNC;
	if (chance(50))
		want |= UFFD_FEATURE_EVENT_FORK;
	if (chance(50))
		want |= UFFD_FEATURE_EVENT_REMAP;
	if (chance(50))
		want |= UFFD_FEATURE_EVENT_REMOVE;
	if (chance(50))
		want |= UFFD_FEATURE_EVENT_UNMAP;
	if (chance(50))
		want |= UFFD_FEATURE_WP_UNPOPULATED;
	if (g.mode == UM_SIGBUS)
		want |= UFFD_FEATURE_SIGBUS;
	if (g.mode == UM_ASYNC)
		want |= UFFD_FEATURE_WP_ASYNC;
	/*
	 * The hand-off features (they change how the handler and the
	 * faulting threads are woken, not what is reported) in a quarter of
	 * the seeds each; derived from the seed, not drawn, so that the
	 * sequence of operations of a seed stays what it was without them.
	 */
	if (((g.seed * 0x9E3779B97F4A7C15ULL) >> 62) == 1)
		want |= UFFD_FEATURE_WAKE_ON_CURRENT_CPU;
	if (((g.seed * 0x9E3779B97F4A7C15ULL) >> 62) == 2)
		want |= UFFD_FEATURE_BUSY_POLL;
	g.features = want & g.supported;
	cbw_pick();
}

/* the verdict of a seed whose operations ended (ok: none failed to finish) */
static int verdict(bool ok)
{
	if (g.selftest)		/* violations are expected: the right one */
		return g.res.corrupted && g.res.mismatch ? PASS :
			fail("self-test: corrupted=%d mismatch=%d violations=%ld", g.res.corrupted,
			     g.res.mismatch, g.res.violations);
	if (!ok || g.res.violations)
		return fail("seed %lu: %s (replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz)",
			    g.seed, g.res.first, g.seed);
	case_note("%llu ops, %llu accesses, %llu WP faults", (unsigned long long)stat_of(ST_OPS),
		  (unsigned long long)stat_of(ST_ACCESSES),
		  (unsigned long long)stat_of(ST_WP_FAULTS));
	return PASS;
}

/*
 * A seed, in a process of its own (case_run()).  No cleanup at the end:
 * munmap() with EVENT_UNMAP would wait for a reader, the threads may be
 * blocked, and the exit tears everything down (and exercises that path too).
 */
static int fuzz_seed(const void *arg)
{
	const struct seed_case *sc = arg;
	int64_t t0 = now_ms(), cap;
	const char *e = getenv("UFFDWP_FUZZ_OPS");
	bool ok = true;
	int fd;

	g.seed = sc->seed;
	g.selftest = sc->selftest;
	setvbuf(stdout, NULL, _IOLBF, 0);
	g.rng = g.seed * 0x9E3779B97F4A7C15ULL + 1;
	h.rng = g.seed ^ 0xdeadbeef;
	g.nops = e && atoi(e) > 0 ? atoi(e) : DEFAULT_OPS;
	e = getenv("UFFDWP_FUZZ_TRACE");
	g.trace = e && !strcmp(e, "1");
	pick_mode();
	install_signals();
	pthread_mutex_init(&g.plock, NULL);
	g.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	g.arena = mmap(NULL, (MAX_REGIONS + 1) * SLICE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g.srcbuf = mmap(NULL, (8UL << 20) + PS, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g.zerobuf = mmap(NULL, HPS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.pagemap_fd < 0 || g.arena == MAP_FAILED || g.srcbuf == MAP_FAILED ||
	    g.zerobuf == MAP_FAILED)
		return fail("seed %lu: setup: %m", g.seed);
	h.uffd = -1;
	fd = uffd_open(g.features, NULL);
	if (fd < 0)
		return fail("seed %lu: uffd with features %#llx: %s", g.seed,
			    (unsigned long long)g.features, errno_name(-fd));
	h.uffd = fd;
	h.last_active = now_ms();
	diag("seed %lu: %s uffd, features %#llx, %d ops%s", g.seed, um_name[g.mode],
	     (unsigned long long)g.features, g.nops, g.cbw ? ", copy-before-write" : "");
	cbw_setup(fd);
	threads_start();
	cap = g.selftest ? 4 * SEED_CAP_MS : SEED_CAP_MS;

	for (g.op = 0; ok && g.op < g.nops && now_ms() - t0 < cap; g.op++) {
		/* copy-before-write seeds draw from more: the others draw as before */
		int x = rnd(g.cbw ? 1000 + CBW_OPS : 1000);

		g.op_start = now_ms();
		case_count(ST_OPS, 1);
		apply_zeroed();
		if (g.selftest && g.op == 60) {
			ok = selftest_corrupt();
			break;
		}
		ok = fuzz_op(x);
		if (!g.batch_pending) {
			fix_prots();
			cbw_consume(false);
		}
		if (g.res.violations && !g.selftest)
			break;
	}
	g.op_start = now_ms();
	if (ok)
		ok = join_batch();
	if (ok && !g.res.violations) {
		fix_prots();
		oplog("final verification");
		ok = verify_all();
		verify_files();
	}
	g.op_start = 0;
	diag("seed %lu: %llu ops, %llu accesses, %llu WP / %llu MISSING / %llu MINOR faults, %llu events, %llu forks, %llu probes (%ld skipped), %ld SIGBUS resolved, %ld MISSING-on-marker (ZEROPAGE EEXIST, COPY ok), %ld ioctls ok / %ld failed as documented, %lld ms",
	     g.seed, (unsigned long long)stat_of(ST_OPS), (unsigned long long)stat_of(ST_ACCESSES),
	     (unsigned long long)stat_of(ST_WP_FAULTS),
	     (unsigned long long)stat_of(ST_MISSING_FAULTS),
	     (unsigned long long)stat_of(ST_MINOR_FAULTS), (unsigned long long)stat_of(ST_EVENTS),
	     (unsigned long long)stat_of(ST_FORKS), (unsigned long long)stat_of(ST_PROBES),
	     g.res.probe_skips, g.res.sigbus_resolved, g.res.zeropage_eexist, g.res.ioctl_ok,
	     g.res.ioctl_err, (long long)(now_ms() - t0));
	cbw_seed_diag();
	return verdict(ok);
}

/* ------------------------------------------------------------------ */
/* the run                                                             */

/*
 * The copy-before-write points, one per class of violation, over the seeds
 * that used it (their seed points fail too): the number of points added.
 */
static int cbw_points(struct case_runner *r, int nseeds)
{
	static const char *const what[CBW_CLASSES] = {
		[CBW_LOST] = "copy-before-write: every first write to a protected page is recorded or reported",
		[CBW_CONTENT] = "copy-before-write: every record's slot holds the page as it was before the write",
		[CBW_API] = "copy-before-write: SETUP, FREE, mmap, records and ring as documented (exact errnos)",
	};
	const char *e = getenv("UFFDWP_EXPECT_WP_COPY");
	bool expected = !(e && !strcmp(e, "0"));
	struct cbw_sum *s = g.cbw_sum;
	int c;

	/* one point of another name: a missing feature is not one of the kinds */
	if (!(g.supported & UFFD_FEATURE_WP_COPY)) {
		case_point(r, expected ? FAIL : SKIP, "kernel lacks UFFD_FEATURE_WP_COPY (expected)",
			   "UFFD_FEATURE_WP_COPY%s", expected ? " expected but missing" : "");
		return 1;
	}
	for (c = 0; c < CBW_CLASSES; c++) {
		if (!s || !s->seeds)
			case_point(r, SKIP, "no seed of this run used it (synchronous seeds not a multiple of 4 do)",
				   "%s", what[c]);
		else if (s->viol[c]) {
			diag("copy-before-write: %ld violation(s) of this kind, the first: %s",
			     s->viol[c], s->first[c]);
			case_point(r, FAIL, NULL, "%s: %ld violation(s)", what[c], s->viol[c]);
		} else
			case_point(r, PASS, NULL, "%s: %ld of %d seeds, %ld setups, %ld records (%ld slots checked), %ld probes (%ld pages written, %ld reported), %ld FREEs ok, %ld wrong",
				   what[c], s->seeds, nseeds, s->setups, s->records, s->checked,
				   s->probes, s->probe_pages, s->reports, s->frees, s->free_errs);
	}
	return CBW_CLASSES;
}

static bool hugetlb_available(void)
{
	char buf[32];

	return read_text("/proc/sys/vm/nr_hugepages", buf, sizeof(buf)) && atol(buf) > 0;
}

int main(int argc, char **argv)
{
	static const char *const kinds[] = { "anon", "shmem", "hugetlb", "file-shared", NULL };
	static const char *const stat_names[] = {
		[ST_OPS] = "ops", [ST_ACCESSES] = "accesses", [ST_WP_FAULTS] = "wp_faults",
		[ST_MISSING_FAULTS] = "missing_faults", [ST_MINOR_FAULTS] = "minor_faults",
		[ST_EVENTS] = "events", [ST_FORKS] = "forks", [ST_PROBES] = "probes", NULL,
	};
	const char *s = getenv("UFFDWP_FUZZ_SEED"), *d = getenv("UFFDWP_FUZZ_SECONDS"),
		*st = getenv("UFFDWP_FUZZ_SELFTEST");
	bool only_selftest = (st && !strcmp(st, "1")) || (argc > 1 && !strcmp(argv[1], "-S"));
	struct seed_case sc;
	struct case_runner r;
	long duration;
	int64_t end;
	int n = 0, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sc.seed = s && *s ? strtoul(s, NULL, 0) :
		(unsigned long)time(NULL) * 1000003UL + getpid();
	duration = d && atol(d) > 0 ? atol(d) : 60;
	end = now_ms() + duration * 1000;
	printf("# seed: %lu\n", sc.seed);
	diag("replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz", sc.seed);
	if (uffd_features(&g.supported))
		diag("no userfaultfd");
	g.ntypes = mem_types(g.types, MEM_MAX_TYPES, kinds);
	for (i = 0; i < g.ntypes; i++)
		g.nfs += mem_is_file(&g.types[i]);
	g.hugetlb = hugetlb_available();
	diag("features %#llx, file systems %d, hugetlb %s, UFFDWP_FUZZ_SECONDS %ld",
	     (unsigned long long)g.supported, g.nfs, g.hugetlb ? "yes" : "no", duration);
	if (!g.supported) {
		tap_plan(1);
		tap_result(SKIP, "userfaultfd not available", "uffd-fuzz");
		return 0;
	}
	/* the copy-before-write counters of every seed's process */
	g.cbw_sum = mmap(NULL, sizeof(*g.cbw_sum), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g.cbw_sum == MAP_FAILED)
		g.cbw_sum = NULL;
	if (!(g.supported & UFFD_FEATURE_WP_FILE)) {
		if (expect_wp_file()) {
			tap_plan(1);
			tap_result(FAIL, NULL, "UFFD_FEATURE_WP_FILE expected but missing");
			return 1;
		}
		/* the base kernel: fuzz without files */
		diag("no UFFD_FEATURE_WP_FILE (expected): files left out");
		g.nfs = 0;
	}

	/*
	 * The plan at the end: seeds run until the time is up.  The budget
	 * never cuts a case short: the self-check and a seed started before
	 * the end fit into it.
	 */
	cases_start(&r, "uffd-fuzz", -1, duration + 2 * (SEED_CAP_MS + 2 * OP_HANG_MS) / 1000,
		    (SEED_CAP_MS + 2 * OP_HANG_MS) / 1000, stat_names);

	/* the self-check: a corrupted model is reported */
	sc.selftest = true;
	case_run(&r, fuzz_seed, &sc, 0,
		 "self-test: the checker reports a corrupted shadow model (seed %lu)", sc.seed);
	n++;
	/* the counters are those of the seeds */
	memset(r.total, 0, sizeof(r.total));
	if (only_selftest) {
		tap_plan(n);
		return cases_end(&r);
	}

	sc.selftest = false;
	do {
		case_run(&r, fuzz_seed, &sc, 0, "seed %lu", sc.seed);
		n++;
		sc.seed++;
	} while (now_ms() < end);
	diag("%d seeds, %llu ops, %llu accesses, %llu WP faults in %lld s", n - 1,
	     (unsigned long long)r.total[ST_OPS], (unsigned long long)r.total[ST_ACCESSES],
	     (unsigned long long)r.total[ST_WP_FAULTS], (long long)(now_ms() - r.start_ms) / 1000);
	n += cbw_points(&r, n - 1);
	tap_plan(n);
	return cases_end(&r);
}
