// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-stress: synchronous userfaultfd write-protect under concurrent mm
 * events, on anonymous memory, shmem (memfd) and on MAP_SHARED and
 * MAP_PRIVATE mappings of a regular file on every file system of UFFDWP_FS.
 * One TAP point per memory type, each a case of tests/lib/cases.h (a
 * process of its own, killed with its process group when it overruns).
 *
 * An area of NPAGES pages is registered with UFFDIO_REGISTER_MODE_WP (its
 * upper half MADV_HUGEPAGE, for THP and large page cache folios).
 * NWRITERS writer threads, one fault handler thread and one event thread
 * run while the main thread drives "rounds":
 *
 *  - the writers are paused and the whole area is write-protected;
 *  - the writers write random pages of a random window for a random time.
 *    A write replaces the whole page with (index, round, counter + 1) and a
 *    body derived from index and counter, under a per-page mutex, and then
 *    bumps the page's shadow counter.  Mutexes and shadow live in separate
 *    anonymous arrays: the area holds only the data, so the data itself is
 *    the record of what was written;
 *  - the handler polls the uffd, records for each page which threads
 *    reported it (UFFD_FEATURE_THREAD_ID), now and then lets the writer
 *    wait up to 1.5 ms longer, checks that the write has not landed, and
 *    un-protects the page (UFFDIO_WRITEPROTECT without DONTWAKE, which
 *    wakes the writer);
 *  - all along, the event thread injects: msync(MS_SYNC) and fsync
 *    (writeback, page_mkclean), MADV_DONTNEED (shmem and shared files
 *    only: on anonymous and private memory it discards data by
 *    definition), MADV_PAGEOUT (anon and shmem: to swap, zram in the VM;
 *    files: followed by POSIX_FADV_DONTNEED, i.e. eviction), compaction
 *    (/proc/sys/vm/compact_memory), move_pages(2) of random pages between
 *    the first two NUMA nodes (skipped with one node), and mprotect()
 *    PROT_READ windows on random sub-ranges.  Half of the events aim at
 *    the page last reported, i.e. at a page whose writer is waiting;
 *  - the writers are paused, the uffd drained and the round checked.
 *
 * mprotect windows: a writer that writes into a PROT_READ window gets
 * SIGSEGV; the signal handler jumps back (siglongjmp) and the writer redoes
 * the whole page write after a short sleep.  That is safe because a page
 * write is idempotent (the writer holds the page mutex and knows the value
 * it writes) and keeps the window free to open while a writer waits in a
 * uffd-wp fault (no lock between writers and the event thread).
 *
 * Invariants; any violation fails the memory type:
 *  1. a page written in a round was reported, by the first thread that
 *     wrote it in the round (sync mode: its write blocked), at most once
 *     per thread, and only by threads that wrote it; a page that was not
 *     written in a round had no report;
 *  2. no report for a page the handler already un-protected in the round
 *     (the pagemap uffd-wp bit is printed, to tell "the protection came
 *     back" from "a fault raised before the un-protect, delivered twice");
 *  3. when the handler reads the report, the write has not landed yet;
 *  4. contents: every page holds exactly (index, round of its last write,
 *     number of writes, body): checked by each writer before it writes, at
 *     the end of every round through the mapping, and at the end through
 *     read(2): shmem after munmap, files after msync, munmap, close and
 *     eviction of the file's page cache (POSIX_FADV_DONTNEED, checked with
 *     mincore), a shared file against the shadow, a private file against
 *     its initial contents (MAP_PRIVATE never writes to the file);
 *  5. at the end of every round, the uffd-wp bit of /proc/self/pagemap is
 *     set on every page not written in the round (the protection survived
 *     the events: present pte, swap or migration entry, or pte marker) and
 *     clear on every page written.
 *
 * Environment:
 *   UFFDWP_FS              "name:mountpoint ..." (default "cwd:.")
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *                          (files SKIP when 0 and missing, fail when 1)
 *   UFFDWP_STRESS_CELL_SECONDS  seconds of rounds per memory type (default 15,
 *                          less when UFFDWP_FS lists more than 3 fs)
 *   UFFDWP_STRESS_SEED     random seed (default: from the clock; printed;
 *                          the threads' interleaving is not reproducible)
 *
 * A watchdog thread ends a memory type with "not ok" UFFDWP_STRESS_CELL_SECONDS + 60 s after
 * it started, after printing the state of every thread and its kernel stack.
 * Output is TAP, an ok line "stress MEMTYPE FS: N rounds, ..." per memory
 * type, then "# stats: cells= rounds= writes= reports= events= bytes=
 * mismatches=" summed over the memory types that ran; exit status 0 when
 * no memory type failed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#define NPAGES		1024	/* 4 MiB with 4 KiB pages */
#define NWRITERS	3
#define MAGIC		0x55ffd3a7u
#define DEFAULT_DURATION_S 15
#define WATCHDOG_SLACK_S 60	/* watchdog: cell seconds + this */
#define RUNNER_SLACK_S	30	/* the case runner kills a case: watchdog + this */
#define MAXDIAG		16	/* failure lines printed per memory type */
#define BATCH		64	/* uffd messages per read() */
#define EV_MAXPAGES	64	/* largest sub-range of an event */
#define MIGRATE_MAX	32	/* pages per move_pages() */
#define COMPACT_GAP_MS	1000	/* at most one compaction per second */
#define KPF_COMPOUND	((1ULL << 15) | (1ULL << 16))	/* /proc/kpageflags */

/* ------------------------------------------------------------------ */
/* memory types                                                        */

/* a memory type of tests/lib/mem.c and the uffd features of the cell */
struct scell {
	struct mem_type t;	/* t.name: the row's, "+feature" for the hand-off cells */
	uint64_t xfeat;		/* uffd features requested on top of THREAD_ID */
};

#define MAX_MEMTYPES	(4 + MEM_MAX_TYPES)
static struct scell memtypes[MAX_MEMTYPES];
static int nr_memtypes;

/* ------------------------------------------------------------------ */
/* events                                                              */

enum { EV_SYNC, EV_DONTNEED, EV_PAGEOUT, EV_COMPACT, EV_MIGRATE, EV_MPROTECT, NR_EV };

static const char *const ev_name[NR_EV] = {
	"sync", "dontneed", "pageout", "compact", "migrate", "mprotect",
};

/* what a memory type's case process checked, besides its counters below */
struct result {
	unsigned long long bytes_round, bytes_map, bytes_read;
	unsigned long long large;	/* present pages of large folios seen at round ends */
	int resident;		/* pages resident after eviction; -1: n/a */
	long long ms;
	char reason[256];	/* first violation */
};

/* the counters of "# stats:", summed over the cases */
enum { ST_CELLS, ST_ROUNDS, ST_WRITES, ST_REPORTS, ST_EVENTS, ST_BYTES, ST_MISMATCHES };
static const char *const stat_names[] = {
	"cells", "rounds", "writes", "reports", "events", "bytes", "mismatches", NULL
};

/* ------------------------------------------------------------------ */
/* per-page state                                                      */

/* page header; the rest of the page is body_word(index, count, k) */
struct hdr {
	uint32_t cnt;		/* first: the store that takes the fault */
	uint32_t gen;		/* round of the write */
	uint32_t idx;
	uint32_t magic;
};

/* writer side: under mtx (cnt and gen also read by the handler) */
struct pstate {
	pthread_mutex_t mtx;
	uint32_t cnt;		/* shadow: number of writes done */
	uint32_t gen;		/* shadow: round of the last write */
	uint32_t wround;	/* round of the writes recorded below */
	int32_t first;		/* first writer in round wround */
	uint32_t wmask;		/* writers that wrote in round wround */
};

/* handler side, reset at the start of every round */
struct rstate {
	uint32_t count;		/* reports */
	uint32_t mask;		/* writers that reported */
	uint32_t unprot;	/* un-protected by the handler */
	uint32_t late;		/* reports after the un-protect */
	uint32_t rcnt;		/* the page's write count when first reported */
};

/* ------------------------------------------------------------------ */
/* globals                                                             */

static size_t psize;
static int duration_s;
static uint64_t seed0;
static uint64_t kfeatures;
static bool have_uffd, have_wp_file, have_nodes, have_compact;
static int node_a, node_b;

/* the memory type under test (child process) */
static const struct mem_type *mt;
static uint64_t xfeat;		/* its cell's features on top of THREAD_ID */
static pthread_t hth;		/* the handler thread */
static struct result res = { .resident = -1 };
static char *area;
static size_t area_len;
static int area_fd = -1, uffd = -1, pagemap_fd = -1;
static char path[PATH_MAX];
static struct pstate *ps;
static struct rstate *rs;
static pthread_barrier_t bar;
static int64_t t_start;

static pid_t wtid[NWRITERS];
static _Atomic uint32_t cur_round;
static atomic_bool stop_round, quit_writers, quit_handler, quit_events, finished;
static _Atomic uint32_t drain_req, drained;
static _Atomic uint32_t win_lo, win_span;
static _Atomic int hot_page;		/* last reported page */
static uint64_t h_seed;			/* handler's random numbers */

static atomic_ullong c_writes, c_first, c_reports, c_late, c_stale, c_segv, c_moved;
static atomic_ullong c_ev[NR_EV], c_everr[NR_EV];
static atomic_ullong c_viol;
static int kpageflags_fd = -1;
static atomic_int n_diag;

/* for the watchdog */
enum { WS_IDLE, WS_RUN, WS_WRITE, WS_SEGV, WS_BARRIER };
static const char *const ws_name[] = { "idle", "running", "writing", "in SIGSEGV retry", "at barrier" };
static _Atomic int w_state[NWRITERS], w_page[NWRITERS];
static _Atomic int ev_cur = -1;
static _Atomic int ctl_phase;
static const char *const ctl_name[] = {
	"setup", "protecting", "writers running", "waiting for writers",
	"draining", "checking", "shutting down", "final check",
};
static _Atomic int64_t h_last_ms;

/* ------------------------------------------------------------------ */
/* output                                                              */

/* an invariant violation: counted, the first MAXDIAG printed */
static void __attribute__((format(printf, 1, 2))) violation(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (atomic_fetch_add(&c_viol, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(res.reason, sizeof(res.reason), fmt, ap);
		va_end(ap);
	}
	n = atomic_fetch_add(&n_diag, 1);
	if (n < MAXDIAG) {
		va_start(ap, fmt);
		tap_vline("# FAIL: ", fmt, ap);
		va_end(ap);
	} else if (n == MAXDIAG) {
		diag("(further failures of this memory type not shown)");
	}
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t seed_for(uint64_t salt)
{
	uint64_t s = seed0 ^ (salt * 0x9E3779B97F4A7C15ULL) ^ 0x5851F42D4C957F2DULL;

	return s ? s : 1;
}

/* ------------------------------------------------------------------ */
/* userfaultfd                                                         */

/* uffd_wp() on the area's uffd; EAGAIN (mmap changing) is retried */
static int wp_retry(char *addr, size_t len, bool wp)
{
	int tries, e = EAGAIN;

	for (tries = 0; tries < 10000 && e == EAGAIN; tries++) {
		if (tries)
			sched_yield();
		e = uffd_wp(uffd, addr, len, wp);
	}
	return e;
}

/* the uffd-wp bit of page i in /proc/self/pagemap: 1, 0, or -1 */
static int pagemap_wp(int i)
{
	uint64_t v;

	if (pagemap_fd < 0 || pagemap_read(pagemap_fd, area + (size_t)i * psize, 1, &v))
		return -1;
	return !!(v & PM_UFFD_WP);
}

/* ------------------------------------------------------------------ */
/* page contents                                                       */

static char *page(int i)
{
	return area + (size_t)i * psize;
}

static uint64_t body_word(uint32_t i, uint32_t cnt, size_t k)
{
	uint64_t x = (((uint64_t)i << 32) | cnt) * 0x9E3779B97F4A7C15ULL;

	return x ^ (k * 0xC2B2AE3D27D4EB4FULL) ^ (x >> 29);
}

static void fill_page(volatile char *p, uint32_t i, uint32_t gen, uint32_t cnt)
{
	volatile struct hdr *h = (volatile struct hdr *)p;
	volatile uint64_t *w = (volatile uint64_t *)p;
	size_t k;

	h->cnt = cnt;
	h->gen = gen;
	h->idx = i;
	h->magic = MAGIC;
	for (k = sizeof(struct hdr) / 8; k < psize / 8; k++)
		w[k] = body_word(i, cnt, k);
}

/* does p hold (i, gen, cnt)?  if not, say what is wrong in why */
static bool page_ok(const volatile char *p, uint32_t i, uint32_t gen, uint32_t cnt,
		    char *why, size_t len)
{
	const volatile struct hdr *h = (const volatile struct hdr *)p;
	const volatile uint64_t *w = (const volatile uint64_t *)p;
	struct hdr c = { h->cnt, h->gen, h->idx, h->magic };
	size_t k, bad = 0, first = 0;
	uint64_t v;

	if (c.magic != MAGIC || c.idx != i || c.gen != gen || c.cnt != cnt) {
		snprintf(why, len, "header (magic %#x, page %u, round %u, count %u), expected (page %u, round %u, count %u)",
			 c.magic, c.idx, c.gen, c.cnt, i, gen, cnt);
		return false;
	}
	for (k = sizeof(struct hdr) / 8; k < psize / 8; k++) {
		v = w[k];
		if (v != body_word(i, cnt, k) && !bad++)
			first = k;
	}
	if (bad) {
		v = w[first];
		snprintf(why, len, "header right (round %u, count %u) but %zu of %zu body words wrong, first at byte %zu: %#llx, expected %#llx%s",
			 gen, cnt, bad, psize / 8 - 2, first * 8, (unsigned long long)v,
			 (unsigned long long)body_word(i, cnt, first),
			 cnt && v == body_word(i, cnt - 1, first) ? " (the previous write's body)" : "");
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* writers                                                             */

static __thread sigjmp_buf *volatile segv_jmp;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	char *a = si->si_addr;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)uc;
	if (segv_jmp && a >= area && a < area + area_len)
		siglongjmp(*segv_jmp, 1);
	/* a real crash: the faulting access is re-executed and kills us */
	sigaction(sig, &dfl, NULL);
}

/* 0 when the page was written, 1 when an mprotect window interrupted it */
static int __attribute__((noinline)) fill_guarded(char *p, uint32_t i, uint32_t gen,
						   uint32_t cnt)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		segv_jmp = NULL;
		return 1;
	}
	segv_jmp = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	fill_page(p, i, gen, cnt);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	segv_jmp = NULL;
	return 0;
}

static void do_write(int w, uint32_t i, uint32_t r)
{
	struct pstate *p = &ps[i];
	const volatile struct hdr *h = (const volatile struct hdr *)page(i);
	uint32_t cnt, gen;
	struct hdr c;

	pthread_mutex_lock(&p->mtx);
	cnt = __atomic_load_n(&p->cnt, __ATOMIC_RELAXED);
	gen = __atomic_load_n(&p->gen, __ATOMIC_RELAXED);
	c = (struct hdr){ h->cnt, h->gen, h->idx, h->magic };
	if (c.magic != MAGIC || c.idx != i || c.gen != gen || c.cnt != cnt)
		violation("writer %d, round %u, before writing page %u: header (magic %#x, page %u, round %u, count %u), expected (page %u, round %u, count %u)",
			  w, r, i, c.magic, c.idx, c.gen, c.cnt, i, gen, cnt);
	if (p->wround != r) {
		p->wround = r;
		p->first = w;
		p->wmask = 0;
		atomic_fetch_add(&c_first, 1);
	}
	p->wmask |= 1u << w;
	atomic_store(&w_page[w], (int)i);
	atomic_store(&w_state[w], WS_WRITE);
	while (fill_guarded(page(i), i, r, cnt + 1)) {
		atomic_fetch_add(&c_segv, 1);
		atomic_store(&w_state[w], WS_SEGV);
		usleep(200);
		atomic_store(&w_state[w], WS_WRITE);
	}
	__atomic_store_n(&p->gen, r, __ATOMIC_RELAXED);
	__atomic_store_n(&p->cnt, cnt + 1, __ATOMIC_RELEASE);
	atomic_store(&w_state[w], WS_RUN);
	pthread_mutex_unlock(&p->mtx);
	atomic_fetch_add(&c_writes, 1);
}

static void *writer_main(void *arg)
{
	int w = (int)(intptr_t)arg;
	uint64_t s = seed_for(100 + w);
	char name[16];
	uint32_t r, lo, span;

	snprintf(name, sizeof(name), "writer%d", w);
	prctl(PR_SET_NAME, name);
	wtid[w] = gettid();
	for (;;) {
		atomic_store(&w_state[w], WS_BARRIER);
		pthread_barrier_wait(&bar);	/* round start */
		if (atomic_load(&quit_writers))
			break;
		atomic_store(&w_state[w], WS_RUN);
		r = atomic_load(&cur_round);
		lo = atomic_load(&win_lo);
		span = atomic_load(&win_span);
		while (!atomic_load(&stop_round))
			do_write(w, lo + rnd(&s) % span, r);
		atomic_store(&w_state[w], WS_BARRIER);
		pthread_barrier_wait(&bar);	/* round end */
	}
	atomic_store(&w_state[w], WS_IDLE);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* fault handler                                                       */

static int writer_of(pid_t tid)
{
	int w;

	for (w = 0; w < NWRITERS; w++)
		if (wtid[w] == tid)
			return w;
	return -1;
}


/*
 * A report after the un-protect that repeats the write already reported:
 * the same writer is still inside its write of page i (it writes a page
 * under the page's mutex and bumps ps[i].cnt only when the write is done),
 * and the page's count is the one it had at the first report.  A later
 * write, or another writer, fails invariant 2 as before.
 */
static bool stale_duplicate(int w, int i, const struct rstate *q)
{
	int st;

	if (w < 0 || !(q->mask & (1u << w)) || atomic_load(&w_page[w]) != i)
		return false;
	st = atomic_load(&w_state[w]);
	return (st == WS_WRITE || st == WS_SEGV) &&
	       __atomic_load_n(&ps[i].cnt, __ATOMIC_ACQUIRE) == q->rcnt;
}

static void on_msg(const struct uffd_msg *m)
{
	unsigned long a = m->arg.pagefault.address, base = (unsigned long)area;
	uint64_t fl = m->arg.pagefault.flags;
	pid_t tid = m->arg.pagefault.feat.ptid;
	uint32_t r = atomic_load(&cur_round), cnt;
	const volatile struct hdr *h;
	struct rstate *q;
	int i, w, e, wp;

	if (m->event != UFFD_EVENT_PAGEFAULT) {
		violation("round %u: unexpected uffd event %u", r, m->event);
		return;
	}
	atomic_fetch_add(&c_reports, 1);
	if (a < base || a >= base + area_len) {
		violation("round %u: report for address %#lx outside the area", r, a);
		return;
	}
	i = (a - base) / psize;
	w = writer_of(tid);
	q = &rs[i];
	if (!(fl & UFFD_PAGEFAULT_FLAG_WP) || !(fl & UFFD_PAGEFAULT_FLAG_WRITE))
		violation("round %u page %d: report with flags %#llx, expected WP|WRITE",
			  r, i, (unsigned long long)fl);
	if (w < 0)
		violation("round %u page %d: report from thread %d, not a writer", r, i, tid);

	if (q->unprot) {
		/* invariant 2 */
		wp = pagemap_wp(i);
		q->late++;
		atomic_fetch_add(&c_late, 1);
		if (wp == 0 && stale_duplicate(w, i, q)) {
			/*
			 * The same write, still in progress, reported again:
			 * its retried fault read the pte before the un-protect
			 * (a zap, migration or reclaim aimed at the page made
			 * the first fault retry) and queued its message after
			 * it; handle_userfault() then finds the pte
			 * un-protected and does not wait.  Not a report of a
			 * later write; counted and shown, not a failure.
			 */
			atomic_fetch_add(&c_stale, 1);
			q->count++;
			return;
		}
		violation("round %u page %d: report from writer %d after the handler un-protected the page (reporters so far %#x, this writer %s; pagemap uffd-wp now %d: %s)",
			  r, i, w, q->mask, w >= 0 && (q->mask & (1u << w)) ? "among them" : "not among them",
			  wp, wp == 1 ? "the protection came back" :
			  wp == 0 ? "fault raised before the un-protect, delivered again" : "?");
		if (w >= 0)
			q->mask |= 1u << w;
		q->count++;
		if (wp != 0) {
			e = wp_retry(page(i), psize, false);	/* do not leave it blocked */
			if (e)
				violation("round %u page %d: UFFDIO_WRITEPROTECT(0): %s", r, i, strerror(e));
		}
		return;
	}
	if (w >= 0 && (q->mask & (1u << w)))
		violation("round %u page %d: second report from writer %d while still protected",
			  r, i, w);
	if (w >= 0)
		q->mask |= 1u << w;
	q->count++;

	/*
	 * Let the events aim at the page while its writer waits, and now and
	 * then make the writer wait longer.
	 */
	atomic_store(&hot_page, i);
	if (!(rnd(&h_seed) & 3))
		usleep(rnd(&h_seed) % 1500);

	/* invariant 3: the reported write is blocked, so it has not landed */
	h = (const volatile struct hdr *)page(i);
	cnt = __atomic_load_n(&ps[i].cnt, __ATOMIC_ACQUIRE);
	if (h->cnt != cnt)
		violation("round %u page %d: reported by writer %d but the page already holds count %u (shadow %u): the write was not blocked",
			  r, i, w, h->cnt, cnt);
	q->rcnt = cnt;

	e = wp_retry(page(i), psize, false);
	if (e)
		violation("round %u page %d: UFFDIO_WRITEPROTECT(0): %s", r, i, strerror(e));
	q->unprot = 1;
}

/* read and handle everything queued; false on a read error */
static bool read_all(void)
{
	struct uffd_msg msgs[BATCH];
	ssize_t n;
	int k;

	for (;;) {
		n = read(uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			violation("read(uffd): %m");
			return false;
		}
		if (n == 0 || n % sizeof(msgs[0])) {
			violation("read(uffd) returned %zd bytes", n);
			return false;
		}
		atomic_store(&h_last_ms, now_ms());
		for (k = 0; k < n / (ssize_t)sizeof(msgs[0]); k++)
			on_msg(&msgs[k]);
	}
}

/* handler_blocking(): interrupts a blocking read (no SA_RESTART) */
static void on_sigusr1(int sig)
{
	(void)sig;
}

/*
 * With UFFD_FEATURE_BUSY_POLL the handler blocks in read(2), where a
 * reader polls before it sleeps (poll(2) waiters never poll): the uffd is
 * blocking, and the control thread interrupts the read with SIGUSR1 for
 * a drain request or to quit.
 */
static void *handler_blocking(void)
{
	struct uffd_msg msgs[BATCH];
	uint32_t d;
	ssize_t n;
	int k;

	while (!atomic_load(&quit_handler)) {
		n = read(uffd, msgs, sizeof(msgs));
		if (n < 0 && errno != EINTR) {
			violation("read(uffd): %m");
			return NULL;
		}
		if (n > 0 && n % sizeof(msgs[0])) {
			violation("read(uffd) returned %zd bytes", n);
			return NULL;
		}
		if (n > 0)
			atomic_store(&h_last_ms, now_ms());
		for (k = 0; k < n / (ssize_t)sizeof(msgs[0]); k++)
			on_msg(&msgs[k]);
		d = atomic_load(&drain_req);
		if (d == atomic_load(&drained))
			continue;
		/*
		 * Everything the writers raised is queued by now: read it
		 * without blocking (poll(2) says EPOLLERR on a blocking uffd).
		 */
		if (fcntl(uffd, F_SETFL, O_NONBLOCK) || !read_all() ||
		    fcntl(uffd, F_SETFL, 0)) {
			violation("draining the blocking uffd: %m");
			return NULL;
		}
		atomic_store(&drained, d);
	}
	return NULL;
}

static void *handler_main(void *arg)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	uint32_t d;

	(void)arg;
	prctl(PR_SET_NAME, "handler");
	h_seed = seed_for(300);
	if (xfeat & UFFD_FEATURE_BUSY_POLL)
		return handler_blocking();
	while (!atomic_load(&quit_handler)) {
		if (poll(&pfd, 1, 20) < 0 && errno != EINTR) {
			violation("poll(uffd): %m");
			return NULL;
		}
		if (!read_all())
			return NULL;
		d = atomic_load(&drain_req);
		if (d != atomic_load(&drained)) {
			/* everything the writers raised is queued by now */
			if (!read_all())
				return NULL;
			atomic_store(&drained, d);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* events                                                              */

static bool is_file(void)
{
	return mem_is_file(mt);
}

static bool ev_enabled(int k)
{
	switch (k) {
	case EV_SYNC:
		return mem_has_fd(mt);
	case EV_DONTNEED:
		return mt->shared;	/* shmem, shared files */
	case EV_PAGEOUT:
	case EV_MPROTECT:
		return true;
	case EV_COMPACT:
		return have_compact;
	case EV_MIGRATE:
		return have_nodes;
	}
	return false;
}

static void ev_error(int k, const char *what)
{
	int e = errno;

	if (atomic_fetch_add(&c_everr[k], 1) < 3)
		diag("event %s: %s: %s", ev_name[k], what, strerror(e));
}

static void do_event(int k, uint64_t *s)
{
	size_t first = rnd(s) % NPAGES, n = 1 + rnd(s) % EV_MAXPAGES, hot;
	char *a;
	size_t l;
	int e, fd;

	if (rnd(s) & 1) {	/* around the page a writer waits for */
		hot = atomic_load(&hot_page);
		first = hot > n / 2 ? hot - n / 2 : 0;
	}
	if (first + n > NPAGES)
		n = NPAGES - first;
	a = page(first);
	l = n * psize;

	switch (k) {
	case EV_SYNC:
		if (rnd(s) & 1) {
			if (msync(area, area_len, MS_SYNC))
				ev_error(k, "msync(whole area)");
		} else if (msync(a, l, MS_SYNC)) {
			ev_error(k, "msync");
		}
		if ((rnd(s) & 1) && fsync(area_fd))
			ev_error(k, "fsync");
		break;
	case EV_DONTNEED:
		if (madvise(a, l, MADV_DONTNEED))
			ev_error(k, "madvise(MADV_DONTNEED)");
		break;
	case EV_PAGEOUT:
		/* dirty file pages are only unmapped; clean ones can go */
		if (is_file() && (rnd(s) & 1) && msync(a, l, MS_SYNC))
			ev_error(k, "msync");
		if (madvise(a, l, MADV_PAGEOUT))
			ev_error(k, "madvise(MADV_PAGEOUT)");
		if (is_file()) {
			e = posix_fadvise(area_fd, (off_t)first * psize, l, POSIX_FADV_DONTNEED);
			if (e) {
				errno = e;
				ev_error(k, "posix_fadvise(POSIX_FADV_DONTNEED)");
			}
		}
		break;
	case EV_COMPACT:
		fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "1", 1) != 1)
			ev_error(k, "/proc/sys/vm/compact_memory");
		if (fd >= 0)
			close(fd);
		break;
	case EV_MIGRATE: {
		void *pages[MIGRATE_MAX];
		int nodes[MIGRATE_MAX], status[MIGRATE_MAX], j, m = 1 + rnd(s) % MIGRATE_MAX;
		long rc;

		for (j = 0; j < m; j++) {
			pages[j] = page(j || !(rnd(s) & 1) ? rnd(s) % NPAGES :
					(size_t)atomic_load(&hot_page));
			nodes[j] = rnd(s) & 1 ? node_a : node_b;
			status[j] = INT_MIN;
		}
		rc = syscall(__NR_move_pages, 0, (unsigned long)m, pages, nodes, status,
			     MPOL_MF_MOVE);
		if (rc < 0) {
			ev_error(k, "move_pages");
			break;
		}
		for (j = 0; j < m; j++)
			if (status[j] == nodes[j])
				atomic_fetch_add(&c_moved, 1);
		break;
	}
	case EV_MPROTECT:
		if (mprotect(a, l, PROT_READ)) {
			violation("mprotect(PROT_READ): %m");
			break;
		}
		usleep(rnd(s) % 2000);
		while (mprotect(a, l, PROT_READ | PROT_WRITE)) {
			violation("mprotect(PROT_READ|PROT_WRITE): %m");
			usleep(100000);
		}
		break;
	}
}

static void *event_main(void *arg)
{
	uint64_t s = seed_for(200);
	int64_t last_compact = 0;
	int kinds[NR_EV], nk = 0, k;

	(void)arg;
	prctl(PR_SET_NAME, "events");
	for (k = 0; k < NR_EV; k++)
		if (ev_enabled(k))
			kinds[nk++] = k;
	while (!atomic_load(&quit_events)) {
		k = kinds[rnd(&s) % nk];
		if (k == EV_COMPACT) {
			if (now_ms() - last_compact < COMPACT_GAP_MS)
				continue;
			last_compact = now_ms();
		}
		atomic_store(&ev_cur, k);
		do_event(k, &s);
		atomic_store(&ev_cur, -1);
		atomic_fetch_add(&c_ev[k], 1);
		usleep(500 + rnd(&s) % 3000);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* watchdog                                                            */

static void dump_file(const char *p, const char *prefix, int maxlines)
{
	char line[256];
	FILE *f = fopen(p, "r");
	int n = 0;

	if (!f)
		return;
	while (n++ < maxlines && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		diag("%s%s", prefix, line);
	}
	fclose(f);
}

static void dump_threads(void)
{
	char p[128], comm[64], wchan[128];
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	FILE *f;
	int tid;

	while (d && (de = readdir(d))) {
		tid = atoi(de->d_name);
		if (tid <= 0)
			continue;
		comm[0] = wchan[0] = 0;
		snprintf(p, sizeof(p), "/proc/self/task/%d/comm", tid);
		if ((f = fopen(p, "r"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = 0;
			fclose(f);
		}
		snprintf(p, sizeof(p), "/proc/self/task/%d/wchan", tid);
		if ((f = fopen(p, "r"))) {
			if (!fgets(wchan, sizeof(wchan), f))
				wchan[0] = 0;
			fclose(f);
		}
		diag("thread %d (%s), wchan %s:", tid, comm, wchan);
		snprintf(p, sizeof(p), "/proc/self/task/%d/stack", tid);
		dump_file(p, "    ", 16);
	}
	if (d)
		closedir(d);
}

/*
 * The end of a memory type's case, also from the watchdog: its counters
 * into "# stats:", the first failure, the note of its ok line.  rc, or
 * FAIL after a violation.
 */
static int cell_end(int rc)
{
	unsigned long long ev = 0, bytes = res.bytes_round + res.bytes_map + res.bytes_read;
	int k;

	for (k = 0; k < NR_EV; k++)
		ev += c_ev[k];
	case_count(ST_CELLS, 1);
	case_count(ST_ROUNDS, atomic_load(&cur_round));
	case_count(ST_WRITES, c_writes);
	case_count(ST_REPORTS, c_reports);
	case_count(ST_EVENTS, ev);
	case_count(ST_BYTES, bytes);
	case_count(ST_MISMATCHES, c_viol);
	if (c_viol)
		rc = FAIL;
	if (rc != PASS && res.reason[0])
		diag("%s %s: first failure: %s", mt->name, mt->fs, res.reason);
	case_note("%u rounds, %llu writes, %llu reports, %llu events, %llu bytes verified, %llu mismatches",
		  atomic_load(&cur_round), c_writes, c_reports, ev, bytes, c_viol);
	fflush(stdout);
	return rc;
}

static void *watchdog_main(void *arg)
{
	int64_t deadline = t_start + (duration_s + WATCHDOG_SLACK_S) * 1000LL;
	int w, ph;

	(void)arg;
	prctl(PR_SET_NAME, "watchdog");
	while (now_ms() < deadline) {
		if (atomic_load(&finished))
			return NULL;
		usleep(100000);
	}
	ph = atomic_load(&ctl_phase);
	snprintf(res.reason, sizeof(res.reason),
		 "watchdog: not finished %d s after the start (round %u, main thread %s)",
		 duration_s + WATCHDOG_SLACK_S, atomic_load(&cur_round), ctl_name[ph]);
	diag("FAIL: %s", res.reason);
	for (w = 0; w < NWRITERS; w++)
		diag("writer %d (tid %d): %s, page %d", w, wtid[w],
		     ws_name[atomic_load(&w_state[w])], atomic_load(&w_page[w]));
	diag("event thread: %s; handler: last message %lld ms ago; %llu reports",
	     atomic_load(&ev_cur) < 0 ? "between events" : ev_name[atomic_load(&ev_cur)],
	     (long long)(now_ms() - atomic_load(&h_last_ms)),
	     (unsigned long long)atomic_load(&c_reports));
	for (w = 0; w < NWRITERS; w++)
		if (atomic_load(&w_state[w]) == WS_WRITE)
			diag("page %d of writer %d: pagemap uffd-wp %d", atomic_load(&w_page[w]),
			     w, pagemap_wp(atomic_load(&w_page[w])));
	dump_threads();
	atomic_fetch_add(&c_viol, 1);
	res.ms = now_ms() - t_start;
	_exit(cell_end(FAIL));
}

/* ------------------------------------------------------------------ */
/* one memory type                                                     */

static int init_contents(void)
{
	char *buf = malloc(psize);
	int i;

	if (!buf)
		return ENOMEM;
	for (i = 0; i < NPAGES; i++) {
		fill_page(buf, i, 0, 0);
		if (pwrite(area_fd, buf, psize, (off_t)i * psize) != (ssize_t)psize) {
			free(buf);
			return errno ? errno : EIO;
		}
	}
	free(buf);
	return 0;
}

/*
 * The upper half of the area is MADV_HUGEPAGE: THP for anonymous memory,
 * PMD-size page cache folios (readahead) on file systems that have large
 * folios (xfs): uffd-wp ptes on large folios then get migrated, split,
 * reclaimed and cleaned too.
 */
static void hugepage_half(void)
{
	if (madvise(area + area_len / 2, area_len / 2, MADV_HUGEPAGE) && errno != EINVAL)
		diag("madvise(MADV_HUGEPAGE): %m");
}

static int setup_area(void)
{
	struct mem_region reg;
	int i, e;

	area_len = (size_t)NPAGES * psize;
	e = mem_create(&reg, mt, area_len, "uffd-wp-stress");
	if (e)
		return e;
	snprintf(path, sizeof(path), "%s", reg.path);
	area_fd = reg.fd;
	/* the initial contents: through the fd, a file's then evicted */
	e = mem_has_fd(mt) ? init_contents() : 0;
	if (!e && is_file()) {
		if (fsync(area_fd))
			return errno;
		posix_fadvise(area_fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	if (!e)
		e = mem_map(&reg);
	if (e)
		return e;
	area = reg.addr;
	hugepage_half();
	/* anonymous memory: through the mapping */
	for (i = 0; !mem_has_fd(mt) && i < NPAGES; i++)
		fill_page(page(i), i, 0, 0);
	return 0;
}

/* check every page through the mapping; the number of bad pages */
static int check_mapping(const char *when, uint32_t r)
{
	char why[256];
	int i, bad = 0;

	for (i = 0; i < NPAGES; i++) {
		struct pstate *p = &ps[i];

		if (!page_ok(page(i), i, p->gen, p->cnt, why, sizeof(why))) {
			bad++;
			violation("%s (round %u), page %d through the mapping: %s", when, r, i, why);
		}
	}
	return bad;
}

/*
 * Invariant 5, at the end of round r: the uffd-wp bit of /proc/self/pagemap
 * is set exactly on the pages that were not written in the round, whatever
 * the events did to them (present pte, swap or migration entry, marker).
 */
static void check_pagemap(uint32_t r)
{
	static uint64_t pm[NPAGES];
	int i, want, got, e;

	if (pagemap_fd < 0)
		return;
	e = pagemap_read(pagemap_fd, area, NPAGES, pm);
	if (e) {
		violation("round %u: reading /proc/self/pagemap: %s", r, strerror(e));
		return;
	}
	/* a statistic: how many pages are in large folios (root only) */
	for (i = 0; kpageflags_fd >= 0 && i < NPAGES; i++) {
		uint64_t fl;

		if ((pm[i] & PM_PRESENT) && (pm[i] & PM_PFN) &&
		    pread(kpageflags_fd, &fl, sizeof(fl), (pm[i] & PM_PFN) * 8) == sizeof(fl) &&
		    (fl & KPF_COMPOUND))
			res.large++;
	}
	for (i = 0; i < NPAGES; i++) {
		want = ps[i].wround != r;
		got = !!(pm[i] & PM_UFFD_WP);
		if (got != want)
			violation("round %u page %d: %s, but its pagemap uffd-wp bit is %d (entry %#llx:%s%s%s)",
				  r, i, want ? "not written, so still protected" :
				  "written and un-protected", got,
				  (unsigned long long)pm[i],
				  pm[i] & PM_PRESENT ? " present" : "",
				  pm[i] & PM_SWAP ? " swap/marker" : "",
				  pm[i] & PM_FILE ? " file" : "");
	}
}

/* invariants 1, 4 and 5 at the end of round r */
static void check_round(uint32_t r)
{
	int i;

	for (i = 0; i < NPAGES; i++) {
		struct pstate *p = &ps[i];
		struct rstate *q = &rs[i];

		if (p->wround == r) {
			if (!q->count)
				violation("round %u page %d: written (first by writer %d, writers %#x) but never reported",
					  r, i, p->first, p->wmask);
			else if (!(q->mask & (1u << p->first)))
				violation("round %u page %d: first written by writer %d, whose write was not reported (reporters %#x)",
					  r, i, p->first, q->mask);
			if (q->mask & ~p->wmask)
				violation("round %u page %d: reported by writers %#x, written by %#x",
					  r, i, q->mask, p->wmask);
		} else if (q->count) {
			violation("round %u page %d: not written but reported %u time(s) by writers %#x",
				  r, i, q->count, q->mask);
		}
	}
	check_pagemap(r);	/* before the reads below fault pages in */
	check_mapping("end of round", r);
	res.bytes_round += area_len;
}

static void run_round(uint32_t r, uint64_t *s)
{
	int64_t until;
	uint32_t lo, span;
	int e, pick = rnd(s) % 4, ms = 30 + rnd(s) % 370;

	/* the window the writers write to: small, random or the whole area */
	span = pick == 0 ? 1 + rnd(s) % 32 : pick == 3 ? NPAGES : 1 + rnd(s) % NPAGES;
	lo = rnd(s) % (NPAGES - span + 1);

	atomic_store(&ctl_phase, 1);
	memset(rs, 0, NPAGES * sizeof(*rs));
	atomic_store(&cur_round, r);
	atomic_store(&win_lo, lo);
	atomic_store(&win_span, span);
	e = wp_retry(area, area_len, true);
	if (e)
		violation("round %u: UFFDIO_WRITEPROTECT(WP) of the area: %s", r, strerror(e));

	atomic_store(&ctl_phase, 2);
	pthread_barrier_wait(&bar);
	until = now_ms() + ms;
	while (now_ms() < until)
		usleep(5000);
	atomic_store(&ctl_phase, 3);
	atomic_store(&stop_round, true);
	pthread_barrier_wait(&bar);
	atomic_store(&stop_round, false);

	atomic_store(&ctl_phase, 4);
	atomic_store(&drain_req, r);
	while (atomic_load(&drained) != r) {
		if (xfeat & UFFD_FEATURE_BUSY_POLL)
			pthread_kill(hth, SIGUSR1);
		usleep(1000);
	}
	atomic_store(&ctl_phase, 5);
	check_round(r);
}

/* read(2) every page of fd and check it; the number of bad pages */
static int check_read(int fd, bool initial, const char *what)
{
	char *buf = malloc(psize), why[256];
	int i, bad = 0;

	if (!buf)
		return 1;
	for (i = 0; i < NPAGES; i++) {
		uint32_t gen = initial ? 0 : ps[i].gen, cnt = initial ? 0 : ps[i].cnt;

		if (pread(fd, buf, psize, (off_t)i * psize) != (ssize_t)psize) {
			violation("%s: pread page %d: %m", what, i);
			bad++;
			continue;
		}
		res.bytes_read += psize;
		if (!page_ok(buf, i, gen, cnt, why, sizeof(why))) {
			bad++;
			violation("%s: page %d: %s", what, i, why);
		}
	}
	free(buf);
	return bad;
}

/* drop the file's page cache; the number of pages still resident */
static int evict_file(int fd)
{
	char *m;
	int n;

	m = mmap(NULL, area_len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		diag("mmap for mincore: %m");
		return -1;
	}
	n = mem_evict(fd, m, area_len, false, NULL);
	if (n < 0)
		diag("mincore: %m");
	munmap(m, area_len);
	return n;
}

static void final_check(uint32_t r)
{
	int fd;

	atomic_store(&ctl_phase, 7);
	/* the mapping, events and writers stopped */
	check_mapping("end", r);
	res.bytes_map += area_len;

	if (mt->shared && msync(area, area_len, MS_SYNC))
		violation("msync(MS_SYNC) at the end: %m");
	munmap(area, area_len);
	area = NULL;
	close(uffd);
	uffd = -1;

	if (mt->kind == MEM_SHMEM) {
		check_read(area_fd, false, "memfd read(2) after munmap");
	} else if (mem_is_file(mt)) {
		if (fsync(area_fd))
			violation("fsync at the end: %m");
		close(area_fd);
		area_fd = -1;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			violation("reopen %s: %m", path);
			return;
		}
		res.resident = evict_file(fd);
		if (res.resident)
			diag("%d page(s) of the file still resident after POSIX_FADV_DONTNEED: those are checked from the page cache",
			     res.resident);
		check_read(fd, !mt->shared,
			   mt->shared ? "file read(2) after eviction" :
			   "file read(2) after eviction (private mapping: initial contents)");
		close(fd);
	}
}

static void print_summary(void)
{
	const char *t = mt->fs;
	char evs[512];
	size_t o = 0;
	int k;

	for (k = 0; k < NR_EV; k++) {
		o += snprintf(evs + o, sizeof(evs) - o, "%s%s %llu", k ? ", " : "", ev_name[k],
			      c_ev[k]);
		if (k == EV_MIGRATE && c_ev[k])
			o += snprintf(evs + o, sizeof(evs) - o, " (%llu pages moved)", c_moved);
		if (c_everr[k])
			o += snprintf(evs + o, sizeof(evs) - o, " [%llu failed]", c_everr[k]);
		if (!ev_enabled(k))
			o += snprintf(evs + o, sizeof(evs) - o, " (n/a)");
	}
	diag("%s %s: %llu rounds in %lld ms, %llu writes, %llu first writes of a page in a round, %llu reports (%llu after un-protect), %llu writes redone after SIGSEGV (mprotect windows)",
	     mt->name, t, (unsigned long long)atomic_load(&cur_round), res.ms, c_writes, c_first,
	     c_reports, c_late, c_segv);
	if (c_stale)
		diag("%s %s: %llu of the reports after un-protect repeated a write that was still blocked in the same write since its first report (a fault that read the pte before the un-protect, queued after it)",
		     mt->name, t, c_stale);
	diag("%s %s: events: %s", mt->name, t, evs);
	if (kpageflags_fd >= 0)
		diag("%s %s: present pages that belonged to a large folio, summed over the round ends: %llu",
		     mt->name, t, res.large);
	if (res.resident >= 0)
		diag("%s %s: verified bytes: %llu at round ends, %llu through the mapping at the end, %llu by read(2) after eviction (%d of %d pages still resident)",
		     mt->name, t, res.bytes_round, res.bytes_map, res.bytes_read, res.resident,
		     NPAGES);
	else
		diag("%s %s: verified bytes: %llu at round ends, %llu through the mapping at the end, %llu by read(2) of the memfd",
		     mt->name, t, res.bytes_round, res.bytes_map, res.bytes_read);
}

static int run_memtype(void)
{
	pthread_t wth[NWRITERS], eth, dth;
	struct sigaction sa_usr1 = { 0 };
	pthread_mutexattr_t ma;
	struct sigaction sa = { .sa_sigaction = segv_handler, .sa_flags = SA_SIGINFO };
	uint64_t s = seed_for(1), features = 0, ioctls = 0;
	uint32_t r = 0;
	int i, e;

	t_start = now_ms();
	atomic_store(&h_last_ms, t_start);
	if (pthread_create(&dth, NULL, watchdog_main, NULL))
		return violation("pthread_create failed"), FAIL;

	e = setup_area();
	if (e)
		return violation("setting up the %s area: %s", mt->name, strerror(e)), FAIL;
	uffd = uffd_open_flags(O_CLOEXEC | (xfeat & UFFD_FEATURE_BUSY_POLL ? 0 : O_NONBLOCK),
			       UFFD_FEATURE_THREAD_ID | xfeat, &features);
	if (uffd < 0)
		return violation("userfaultfd/UFFDIO_API(THREAD_ID|%#llx): %s",
				 (unsigned long long)xfeat, strerror(-uffd)), FAIL;
	e = uffd_register(uffd, area, area_len, UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (e)
		return violation("UFFDIO_REGISTER(MODE_WP) on %s %s: %s%s", mt->name, mt->fs,
				 strerror(e), e == EINVAL && is_file() && !have_wp_file ?
				 " (kernel without UFFD_FEATURE_WP_FILE)" : ""), FAIL;
	if (!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		return violation("UFFDIO_REGISTER returned ioctls %#llx without UFFDIO_WRITEPROTECT",
				 (unsigned long long)ioctls), FAIL;
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);

	ps = mmap(NULL, NPAGES * sizeof(*ps), PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rs = mmap(NULL, NPAGES * sizeof(*rs), PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ps == MAP_FAILED || rs == MAP_FAILED)
		return violation("mmap: %m"), FAIL;
	pthread_mutexattr_init(&ma);
	for (i = 0; i < NPAGES; i++) {
		pthread_mutex_init(&ps[i].mtx, &ma);
		ps[i].first = -1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sa_usr1.sa_handler = on_sigusr1;	/* no SA_RESTART */
	sigemptyset(&sa_usr1.sa_mask);
	sigaction(SIGUSR1, &sa_usr1, NULL);
	pthread_barrier_init(&bar, NULL, NWRITERS + 1);

	for (i = 0; i < NWRITERS; i++)
		if (pthread_create(&wth[i], NULL, writer_main, (void *)(intptr_t)i))
			return violation("pthread_create failed"), FAIL;
	if (pthread_create(&hth, NULL, handler_main, NULL) ||
	    pthread_create(&eth, NULL, event_main, NULL))
		return violation("pthread_create failed"), FAIL;

	while (now_ms() - t_start < duration_s * 1000LL) {
		run_round(++r, &s);
		if (atomic_load(&c_viol))
			break;	/* stop at the first bad round */
	}
	res.ms = now_ms() - t_start;

	atomic_store(&ctl_phase, 6);
	atomic_store(&quit_writers, true);
	pthread_barrier_wait(&bar);
	for (i = 0; i < NWRITERS; i++)
		pthread_join(wth[i], NULL);
	atomic_store(&quit_events, true);
	pthread_join(eth, NULL);
	atomic_store(&quit_handler, true);
	if (xfeat & UFFD_FEATURE_BUSY_POLL) {
		/* a blocking read: interrupt it until the handler is gone */
		while (pthread_tryjoin_np(hth, NULL) == EBUSY) {
			pthread_kill(hth, SIGUSR1);
			usleep(1000);
		}
	} else {
		pthread_join(hth, NULL);
	}

	final_check(r);

	if (area_fd >= 0)
		close(area_fd);
	if (path[0])
		unlink(path);
	if (c_reports != c_first + c_late)
		diag("reports %llu != first writes %llu + late reports %llu",
		     (unsigned long long)c_reports, (unsigned long long)c_first,
		     (unsigned long long)c_late);
	print_summary();
	atomic_store(&finished, true);
	pthread_join(dth, NULL);
	return c_viol ? FAIL : PASS;
}

/* ------------------------------------------------------------------ */
/* runner                                                              */

/* a cell of the memory type t, named name, with the features xf */
static void add_cell(const struct mem_type *t, const char *name, uint64_t xf)
{
	memtypes[nr_memtypes] = (struct scell){ *t, xf };
	memtypes[nr_memtypes++].t.name = name;
}

static void memtypes_of_run(void)
{
	static const char *const rows[] = {
		"anon", "shmem", "file-shared", "file-private", NULL
	};
	static struct mem_type t[MEM_MAX_TYPES];
	const struct mem_type *anon = NULL, *file = NULL;
	int i, n = mem_types(t, MEM_MAX_TYPES, rows);

	for (i = 0; i < n; i++) {
		add_cell(&t[i], t[i].name, 0);
		if (t[i].kind == MEM_ANON && !anon)
			anon = &t[i];
		if (mem_is_file(&t[i]) && t[i].shared && !file)
			file = &t[i];	/* on the first file system */
	}
	/*
	 * The hand-off wakeups on the current CPU under the same events: the
	 * handler (poll) and the resolved writers woken with WF_CURRENT_CPU.
	 */
	add_cell(anon, "anon+wake-on-current-cpu", UFFD_FEATURE_WAKE_ON_CURRENT_CPU);
	if (file)
		add_cell(file, "file-shared+wake-on-current-cpu", UFFD_FEATURE_WAKE_ON_CURRENT_CPU);
	/*
	 * Busy polling: the handler blocks in read(2), polling, and is not
	 * woken for a fault; the writers poll for their resolution.
	 */
	add_cell(anon, "anon+busy-poll", UFFD_FEATURE_BUSY_POLL);
	if (file)
		add_cell(file, "file-shared+busy-poll", UFFD_FEATURE_BUSY_POLL);
}

static const char *swap_state(void)
{
	static char buf[64];
	char line[256];
	FILE *f = fopen("/proc/swaps", "r");
	int n = -1;

	if (!f)
		return "unknown";
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	snprintf(buf, sizeof(buf), "%d swap device(s)", n < 0 ? 0 : n);
	return buf;
}

/* one memory type, in a case of its own */
static int stress_cell(const void *arg)
{
	const struct scell *c = arg;
	int rc, wpf;

	mt = &c->t;
	xfeat = c->xfeat;
	if (!have_uffd)
		return case_skip("userfaultfd unavailable");
	wpf = mem_is_file(mt) ? expect_or_skip(have_wp_file, expect_wp_file(), NULL) : PASS;
	if (wpf == SKIP)
		return case_skip("kernel does not support sync uffd-wp on files (expected)");
	rc = expect_or_skip(!(xfeat & ~kfeatures), expect_handoff(),
			    "UFFDIO_API does not advertise %#llx, expected on this kernel",
			    (unsigned long long)(xfeat & ~kfeatures));
	if (rc == SKIP)
		return case_skip("kernel without the hand-off features (expected)");
	if (rc)
		return rc;
	if (mem_is_file(mt) && access(mt->dir, W_OK))
		return fail("%s not writable: %m", mt->dir);
	seed0 += (uint64_t)(c - memtypes) * 0x632BE59BD9B4E019ULL;
	rc = run_memtype();
	if (wpf == FAIL) {
		diag("UFFD_FEATURE_WP_FILE expected but not advertised");
		rc = FAIL;
	}
	return cell_end(rc);
}

/* after a case: the file of a case process that did not remove it */
static void remove_file(const void *arg, pid_t pid)
{
	const struct scell *c = arg;
	char p[PATH_MAX];

	if (mem_is_file(&c->t)) {
		mem_file_path(p, sizeof(p), &c->t, "uffd-wp-stress", pid);
		unlink(p);
	}
}

int main(void)
{
	const char *d = getenv("UFFDWP_STRESS_CELL_SECONDS"), *sd = getenv("UFFDWP_STRESS_SEED");
	struct case_runner r;
	int i, e, cell_s;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	memtypes_of_run();
	duration_s = d && atoi(d) > 0 ? atoi(d) : DEFAULT_DURATION_S;
	if (!(d && atoi(d) > 0) && nr_memtypes > 8)
		duration_s = 120 / nr_memtypes > 5 ? 120 / nr_memtypes : 5;
	seed0 = sd && *sd ? strtoull(sd, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	have_nodes = two_numa_nodes(&node_a, &node_b);
	have_compact = !access("/proc/sys/vm/compact_memory", W_OK);

	/* a case ends itself (its watchdog) before the runner kills it */
	cell_s = duration_s + WATCHDOG_SLACK_S + RUNNER_SLACK_S;
	cases_start(&r, "uffd-wp-stress", nr_memtypes, nr_memtypes * (cell_s + 1), cell_s,
		    stat_names);
	r.after = remove_file;
	e = uffd_features(&kfeatures);
	have_uffd = !e;
	if (e)
		diag("userfaultfd unavailable: %s", strerror(e));
	have_wp_file = kfeatures & UFFD_FEATURE_WP_FILE;
	diag("uffd-wp-stress: %d pages of %zu bytes, %d writers, %d s per memory type, seed %#llx",
	     NPAGES, psize, NWRITERS, duration_s, (unsigned long long)seed0);
	diag("UFFDIO_API features %#llx: UFFD_FEATURE_WP_FILE %s (expected: %s); %s; NUMA: %s; compaction: %s",
	     (unsigned long long)kfeatures, have_wp_file ? "advertised" : "not advertised",
	     expect_wp_file() ? "yes" : "no", swap_state(),
	     have_nodes ? "nodes available, move_pages on" : "one node, move_pages skipped",
	     have_compact ? "on" : "/proc/sys/vm/compact_memory not writable, skipped");

	for (i = 0; i < nr_memtypes; i++)
		case_run(&r, stress_cell, &memtypes[i], 0, "stress %s %s", memtypes[i].t.name,
			 memtypes[i].t.fs);
	return cases_end(&r);
}
