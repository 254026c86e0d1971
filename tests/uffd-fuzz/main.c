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
 * seed+1, ... until UFFDWP_FUZZ_SECONDS seconds (default 60) have passed.  Each seed
 * runs in a process of its own (run_isolated), with three threads besides
 * the main one: a handler (polls the uffd and the uffds of forked children,
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
 *    the whole seed finishes (run_isolated timeout);
 *  - the probe's first write after zap/eviction is reported.
 * The kernel console is checked by the harness (panic_on_warn).
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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "uffdwp.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB		0x0004U
#endif
#ifndef MADV_COLD
#define MADV_COLD		20
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE		((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES	((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE	_IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#define PS		4096UL
#define HPS		(2UL << 20)
#define MAX_PAGES	512		/* per region and per object */
#define HUGE_CAP	8		/* hugetlb object capacity, huge pages */
#define MAX_OBJS	12
#define MAX_REGIONS	10
#define MAX_BATCH	16
#define MAX_CHILD_UFFD	16
#define MAX_HELD	8
#define SLICE		(64UL << 20)	/* the arena's part of one region slot */
#define LOG_LINES	64
#define LOG_TAIL	24

#define WRITER_HANG_MS	30000		/* an access blocked this long: lost wakeup */
#define OP_HANG_MS	90000		/* a main-thread operation this long */
#define CHILD_HANG_MS	30000
#define SEED_CAP_MS	12000		/* operations of one seed (then verify) */
#define DEFAULT_OPS	3000

/* shadow values: a known byte, or */
#define UNKNOWN		(-1)
#define FOLLOW		(-2)		/* private page not copied: the object's value */

#define E(x)		(1ULL << (x))

enum mtype { MT_ANON, MT_SHMEM, MT_FILE, MT_HUGETLB };
static const char *const mt_name[] = { "anon", "shmem", "file", "hugetlb" };

enum umode { UM_SYNC, UM_SIGBUS, UM_ASYNC };
static const char *const um_name[] = { "sync", "sigbus", "async" };

struct obj {
	bool used;
	int id;
	enum mtype type;
	int fd;
	int fsi;
	size_t psize;
	long size;		/* file size, bytes */
	int cap;		/* pages the shadow covers */
	int refs;
	int16_t shadow[MAX_PAGES];
};

struct region {
	bool used;
	bool dead;		/* all unmapped, freed at the next join */
	bool disturbed;		/* changed while a batch was running */
	int id;
	struct obj *obj;	/* NULL: anonymous */
	enum mtype type;
	bool shared;
	char *addr;
	size_t psize;
	int npages;
	int pgoff;
	int8_t prot[MAX_PAGES];	/* -1: unmapped */
	int16_t priv[MAX_PAGES];
};

/* counters shared with the parent (MAP_SHARED anonymous) */
struct shared_res {
	long ops, accesses, wp_faults, missing_faults, minor_faults, events;
	long forks, probes, probe_skips, sigbus_resolved, ioctl_ok, ioctl_err;
	long zeropage_eexist;	/* MISSING on a uffd-wp marker: ZEROPAGE says EEXIST */
	long violations;
	int corrupted;		/* self-test: the model was corrupted */
	int mismatch;		/* a shadow mismatch was reported */
	char first[512];
};

struct access {
	char *addr;
	size_t psize;
	int ri, page;
	bool write;
	int byte;
	int result;		/* 0, SIGSEGV, SIGBUS */
	int got0, got1;
	int bus_retries;
	int expect;		/* 0, SIGSEGV, SIGBUS; -1: any */
};

static struct {
	/* configuration of the seed */
	unsigned long seed;
	bool selftest;
	bool trace;		/* UFFDWP_FUZZ_TRACE=1: print every operation */
	bool force_anon;	/* the next mmap: anonymous (self-test) */
	int nops;
	enum umode mode;
	uint64_t features, supported;
	struct test_fs fs[MAX_TEST_FS];
	int nfs;
	bool hugetlb;
	/* model */
	struct obj objs[MAX_OBJS];
	struct region regions[MAX_REGIONS];
	int next_id;
	unsigned long rng;
	int op;
	int pagemap_fd;
	char *arena;		/* MAX_REGIONS slices, PROT_NONE where unused */
	char *srcbuf;		/* 8 MiB source for UFFDIO_COPY */
	char *zerobuf;		/* 2 MiB of zeroes (the handler's) */
	/* batch (main <-> writer) */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct access batch[MAX_BATCH];
	int nbatch;
	int batch_posted, batch_done;
	bool batch_pending;	/* posted and not joined */
	volatile pid_t writer_tid;
	volatile int64_t access_start;
	volatile int cur_access;
	/* log */
	char log[LOG_LINES][200];
	int nlog;
	pthread_mutex_t plock;
	volatile int64_t op_start;
	volatile bool stop;
	struct shared_res *res;
} g;

/* handler state, behind h.lock */
static struct {
	pthread_mutex_t lock;
	int uffd;
	int child[MAX_CHILD_UFFD];
	int nchild;
	struct { int fd; unsigned long addr; } held[MAX_HELD];
	int nheld;
	int hold_pct;
	int req;		/* REQ_* */
	long req_seq, done_seq;
	volatile int64_t last_active;
	volatile unsigned long watch;	/* probe: page watched */
	volatile size_t watch_len;
	volatile int watch_hits;
	unsigned long rng;
	/* MISSING faults of the main uffd resolved with zeroes (private pages detach) */
	unsigned long zeroed[256];
	int nzeroed;
	bool zeroed_lost;
	/* the last failed resolution, for the hang diagnostic */
	volatile unsigned long last_fail_addr;
	volatile int last_fail_err, last_fail_kind;
	volatile long same_addr_faults;
	volatile unsigned long last_fault_addr;
} h;

enum { REQ_RELEASE = 1, REQ_CLOSE = 2, REQ_CLOSE_CHILDREN = 4 };

static __thread sigjmp_buf *tls_jb;
static __thread volatile int tls_in_access;
static __thread volatile int tls_sig;

/* ------------------------------------------------------------------ */
/* random numbers (xorshift64*)                                        */

static unsigned long xrand(unsigned long *s)
{
	unsigned long x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned long rnd(unsigned long n)
{
	return n ? xrand(&g.rng) % n : 0;
}

static bool chance(int pct)
{
	return (int)rnd(100) < pct;
}

/* ------------------------------------------------------------------ */
/* log and violations                                                  */

static void oplog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void oplog(const char *fmt, ...)
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

static void violation(bool mismatch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void violation(bool mismatch, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&g.plock);
	if (!g.res->violations)
		snprintf(g.res->first, sizeof(g.res->first), "%s", msg);
	g.res->violations++;
	if (mismatch)
		g.res->mismatch = 1;
	if (g.selftest)
		diag("self-test (a report is expected): seed %lu op %d: %s", g.seed, g.op, msg);
	else
		fail("seed %lu op %d (%s uffd): %s", g.seed, g.op, um_name[g.mode], msg);
	if (g.res->violations == 1 && !g.selftest) {
		print_log_tail();
		diag("replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz", g.seed);
	}
	fflush(stdout);
	pthread_mutex_unlock(&g.plock);
}

static const char *errname(int e)
{
	static __thread char buf[16];

	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case EAGAIN: return "EAGAIN";
	case EFAULT: return "EFAULT";
	case ENOSPC: return "ENOSPC";
	case ESRCH: return "ESRCH";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EBADF: return "EBADF";
	case ENOTTY: return "ENOTTY";
	case ENODEV: return "ENODEV";
	case EIO: return "EIO";
	case EINTR: return "EINTR";
	}
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

/* err (0 or errno) of what: a violation when not in allowed */
static int check_err(const char *what, int err, uint64_t allowed)
{
	if (!err) {
		__atomic_add_fetch(&g.res->ioctl_ok, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_add_fetch(&g.res->ioctl_err, 1, __ATOMIC_RELAXED);
	if (err >= 64 || !(allowed & E(err)))
		violation(false, "%s: unexpected %s", what, errname(err));
	return err;
}

#define A_REGISTER	(E(EINVAL) | E(ENOMEM) | E(EBUSY))
#define A_UNREGISTER	(E(EINVAL) | E(ENOMEM) | E(EBUSY))
#define A_WP		(E(EINVAL) | E(ENOENT) | E(EAGAIN) | E(ENOMEM))
#define A_WAKE		(E(EINVAL))
#define A_MFILL		(E(EINVAL) | E(EEXIST) | E(ENOENT) | E(EAGAIN) | \
			 E(EFAULT) | E(ENOMEM) | E(ENOSPC))
#define A_MOVE		(A_MFILL | E(EBUSY))
#define A_SCAN		(E(EINVAL) | E(EFAULT) | E(EPERM) | E(ENOMEM))
#define A_MADV		(E(EINVAL) | E(ENOMEM) | E(EAGAIN) | E(EFAULT) | E(EBUSY) | \
			 E(EPERM) | E(EACCES))

/* ------------------------------------------------------------------ */
/* signals                                                             */

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char buf[200];
	int n;

	(void)uc;
	if (tls_in_access && tls_jb) {
		tls_in_access = 0;
		tls_sig = sig;
		siglongjmp(*tls_jb, 1);
	}
	n = snprintf(buf, sizeof(buf),
		     "# FAIL: seed %lu op %d: unexpected signal %d at %p outside an access"
		     " (replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz)\n",
		     g.seed, g.op, sig, si->si_addr, g.seed);
	if (write(1, buf, n) < 0)
		_exit(FAIL);
	signal(sig, SIG_DFL);
}

static void install_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* uffd calls returning 0 or errno                                     */

static int cur_uffd(void)
{
	return __atomic_load_n(&h.uffd, __ATOMIC_ACQUIRE);
}

static int io_copy(int fd, unsigned long dst, unsigned long src, size_t len,
		   uint64_t mode, long *done)
{
	struct uffdio_copy c = { .dst = dst, .src = src, .len = len, .mode = mode };
	int r = ioctl(fd, UFFDIO_COPY, &c) ? errno : 0;

	*done = c.copy > 0 ? c.copy : 0;
	return r;
}

static int io_zeropage(int fd, unsigned long dst, size_t len, uint64_t mode, long *done)
{
	struct uffdio_zeropage z = { .range = { dst, len }, .mode = mode };
	int r = ioctl(fd, UFFDIO_ZEROPAGE, &z) ? errno : 0;

	*done = z.zeropage > 0 ? z.zeropage : 0;
	return r;
}

static int io_continue(int fd, unsigned long dst, size_t len, uint64_t mode)
{
	struct uffdio_continue c = { .range = { dst, len }, .mode = mode };

	return ioctl(fd, UFFDIO_CONTINUE, &c) ? errno : 0;
}

/* ------------------------------------------------------------------ */
/* the handler thread                                                  */

static void note_zeroed(unsigned long addr)
{
	pthread_mutex_lock(&h.lock);
	if (h.nzeroed < (int)(sizeof(h.zeroed) / sizeof(h.zeroed[0])))
		h.zeroed[h.nzeroed++] = addr;
	else
		h.zeroed_lost = true;
	pthread_mutex_unlock(&h.lock);
}

/* resolve a fault at addr: try the base page, then the huge page */
static void resolve(int fd, unsigned long addr, int kind)
{
	unsigned long a4 = addr & ~(PS - 1), a2 = addr & ~(HPS - 1);
	long done;
	int r;

	if (kind == 'W') {
		r = uffd_wp(fd, (void *)a4, PS, false);
		if (r == EINVAL)
			r = uffd_wp(fd, (void *)a2, HPS, false);
		check_err("handler UFFDIO_WRITEPROTECT(clear)", r, A_WP);
	} else if (kind == 'I') {
		r = io_continue(fd, a4, PS, 0);
		if (r == EINVAL)
			r = io_continue(fd, a2, HPS, 0);
		check_err("handler UFFDIO_CONTINUE", r, A_MFILL);
	} else {
		r = io_zeropage(fd, a4, PS, 0, &done);
		/*
		 * Upstream: a MISSING fault is reported on a uffd-wp pte
		 * marker (anon with WP_UNPOPULATED, private shmem), but
		 * UFFDIO_ZEROPAGE wants pte_none() and says EEXIST while
		 * UFFDIO_COPY (pte_none_mostly()) fills it.  A handler that
		 * only zeroes would livelock: COPY zeroes instead.
		 */
		if (r == EEXIST) {
			r = io_copy(fd, a4, (unsigned long)g.zerobuf, PS, 0, &done);
			if (!r)
				__atomic_add_fetch(&g.res->zeropage_eexist, 1, __ATOMIC_RELAXED);
		}
		if (r == EINVAL)
			r = io_copy(fd, a2, (unsigned long)g.zerobuf, HPS, 0, &done);
		if (r == EINVAL)
			r = io_copy(fd, a4, (unsigned long)g.zerobuf, PS, 0, &done);
		check_err("handler UFFDIO_ZEROPAGE/COPY", r, A_MFILL);
		if (!r && fd == cur_uffd())
			note_zeroed(addr);
	}
	if (r) {
		h.last_fail_addr = addr;
		h.last_fail_err = r;
		h.last_fail_kind = kind;
		r = uffd_wake(fd, (void *)a2, HPS);
		check_err("handler UFFDIO_WAKE", r, A_WAKE);
	}
}

static void release_held(void)
{
	int i;

	for (i = 0; i < h.nheld; i++)
		resolve(h.held[i].fd, h.held[i].addr, 'W');
	h.nheld = 0;
}

static void handle_msg(int fd, struct uffd_msg *m)
{
	unsigned long addr;
	int kind;

	h.last_active = now_ms();
	if (m->event == UFFD_EVENT_FORK) {
		__atomic_add_fetch(&g.res->events, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&h.lock);
		if (h.nchild < MAX_CHILD_UFFD)
			h.child[h.nchild++] = m->arg.fork.ufd;
		else
			close(m->arg.fork.ufd);
		pthread_mutex_unlock(&h.lock);
		return;
	}
	if (m->event != UFFD_EVENT_PAGEFAULT) {
		__atomic_add_fetch(&g.res->events, 1, __ATOMIC_RELAXED);
		return;
	}
	addr = m->arg.pagefault.address;
	if (addr == h.last_fault_addr)
		h.same_addr_faults++;
	else
		h.same_addr_faults = 0;
	h.last_fault_addr = addr;
	if (h.same_addr_faults == 100000)
		violation(false, "livelock: 100000 faults in a row at %#lx, the last failed resolution: %c at %#lx: %s",
			  addr, h.last_fail_kind, h.last_fail_addr, errname(h.last_fail_err));
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
		kind = 'W';
		__atomic_add_fetch(&g.res->wp_faults, 1, __ATOMIC_RELAXED);
		if (h.watch && addr >= h.watch && addr < h.watch + h.watch_len)
			h.watch_hits++;
	} else if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) {
		kind = 'I';
		__atomic_add_fetch(&g.res->minor_faults, 1, __ATOMIC_RELAXED);
	} else {
		kind = 'M';
		__atomic_add_fetch(&g.res->missing_faults, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&h.lock);
	if (kind == 'W' && h.nheld < MAX_HELD && (pid_t)m->arg.pagefault.feat.ptid == g.writer_tid &&
	    (int)(xrand(&h.rng) % 100) < h.hold_pct) {
		h.held[h.nheld].fd = fd;
		h.held[h.nheld].addr = addr;
		h.nheld++;
		pthread_mutex_unlock(&h.lock);
		return;
	}
	pthread_mutex_unlock(&h.lock);
	resolve(fd, addr, kind);
}

static void drain(int fd)
{
	struct uffd_msg msgs[8];
	ssize_t n;
	int i;

	for (;;) {
		n = read(fd, msgs, sizeof(msgs));
		if (n <= 0)
			return;
		for (i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			handle_msg(fd, &msgs[i]);
	}
}

static void *handler_thread(void *arg)
{
	struct pollfd pfd[1 + MAX_CHILD_UFFD];
	int n, i;

	(void)arg;
	while (!g.stop) {
		pthread_mutex_lock(&h.lock);
		if (h.req) {
			if (h.req & (REQ_RELEASE | REQ_CLOSE))
				release_held();
			if ((h.req & REQ_CLOSE) && h.uffd >= 0) {
				close(h.uffd);
				__atomic_store_n(&h.uffd, -1, __ATOMIC_RELEASE);
			}
			if (h.req & REQ_CLOSE_CHILDREN) {
				for (i = 0; i < h.nchild; i++)
					close(h.child[i]);
				h.nchild = 0;
			}
			h.req = 0;
			h.done_seq = h.req_seq;
		}
		n = 0;
		if (h.uffd >= 0)
			pfd[n++] = (struct pollfd){ .fd = h.uffd, .events = POLLIN };
		for (i = 0; i < h.nchild; i++)
			pfd[n++] = (struct pollfd){ .fd = h.child[i], .events = POLLIN };
		pthread_mutex_unlock(&h.lock);
		if (poll(pfd, n, 20) <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				drain(pfd[i].fd);
	}
	return NULL;
}

/* ask the handler for req and wait until it is done */
static void handler_request(int req)
{
	int64_t deadline = now_ms() + 30000;
	long seq;

	pthread_mutex_lock(&h.lock);
	h.req |= req;
	seq = ++h.req_seq;
	pthread_mutex_unlock(&h.lock);
	while (__atomic_load_n(&h.done_seq, __ATOMIC_ACQUIRE) < seq) {
		if (now_ms() > deadline) {
			violation(false, "the handler thread did not answer a request within 30 s");
			return;
		}
		sleep_ms(1);
	}
}

static void set_hold(int pct)
{
	pthread_mutex_lock(&h.lock);
	h.hold_pct = pct;
	pthread_mutex_unlock(&h.lock);
}

/* ------------------------------------------------------------------ */
/* the writer thread                                                   */

/* SIGBUS mode: what the handler would do, from the faulting thread */
static void sigbus_resolve(struct access *a)
{
	unsigned long addr = (unsigned long)a->addr;
	int fd = cur_uffd();
	long done;

	if (fd < 0)
		return;
	if (uffd_wp(fd, (void *)addr, a->psize, false) == 0)
		return;
	if (io_continue(fd, addr, a->psize, 0) == 0)
		return;
	if (a->psize == PS ? !io_zeropage(fd, addr, PS, 0, &done) ||
			     !io_copy(fd, addr, (unsigned long)g.zerobuf, PS, 0, &done) :
	    !io_copy(fd, addr, (unsigned long)g.zerobuf, HPS, 0, &done))
		note_zeroed(addr);
}

static void do_access(struct access *a, bool sigbus_mode)
{
	volatile char *p = a->addr, *q = a->addr + a->psize - 1;
	volatile int tries = 0;
	sigjmp_buf jb;

again:
	tls_jb = &jb;
	if (sigsetjmp(jb, 1)) {
		if (tls_sig == SIGBUS && sigbus_mode && tries < 4) {
			tries++;
			a->bus_retries++;
			__atomic_add_fetch(&g.res->sigbus_resolved, 1, __ATOMIC_RELAXED);
			sigbus_resolve(a);
			goto again;
		}
		a->result = tls_sig;
		return;
	}
	tls_in_access = 1;
	if (a->write) {
		*p = a->byte;
		*q = a->byte;
	} else {
		a->got0 = (unsigned char)*p;
		a->got1 = (unsigned char)*q;
	}
	tls_in_access = 0;
	a->result = 0;
}

static void *writer_thread(void *arg)
{
	int i, seen = 0;

	(void)arg;
	g.writer_tid = syscall(SYS_gettid);
	pthread_mutex_lock(&g.wlock);
	for (;;) {
		while (g.batch_posted == seen && !g.stop)
			pthread_cond_wait(&g.wcond, &g.wlock);
		if (g.stop)
			break;
		seen = g.batch_posted;
		pthread_mutex_unlock(&g.wlock);
		for (i = 0; i < g.nbatch; i++) {
			g.cur_access = i;
			g.access_start = now_ms();
			do_access(&g.batch[i], g.mode == UM_SIGBUS);
		}
		g.access_start = 0;
		pthread_mutex_lock(&g.wlock);
		g.batch_done = seen;
		pthread_cond_broadcast(&g.wcond);
	}
	pthread_mutex_unlock(&g.wlock);
	return NULL;
}

static void *watchdog_thread(void *arg)
{
	(void)arg;
	while (!g.stop) {
		sleep_ms(500);
		if (g.op_start && now_ms() - g.op_start > OP_HANG_MS) {
			violation(false, "operation blocked for more than %d s", OP_HANG_MS / 1000);
			fflush(stdout);
			_exit(FAIL);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the model                                                           */

static int value(struct region *r, int i)
{
	int v;

	if (r->shared)
		return r->obj->shadow[r->pgoff + i];
	v = r->priv[i];
	if (v == FOLLOW)
		return r->obj ? r->obj->shadow[r->pgoff + i] : 0;
	return v;
}

static void set_value(struct region *r, int i, int v)
{
	if (r->shared)
		r->obj->shadow[r->pgoff + i] = v;
	else
		r->priv[i] = v;
}

static bool beyond_eof(struct region *r, int i)
{
	return r->obj && (long)((r->pgoff + i) * r->psize) >= r->obj->size;
}

/* the access outcome the model predicts; -1: any */
static int predict(struct region *r, int i, bool write)
{
	int p = r->prot[i];

	if (p < 0 || !(p & PROT_READ) || (write && !(p & PROT_WRITE)))
		return SIGSEGV;
	if (beyond_eof(r, i))
		/* hugetlb MAP_PRIVATE: UFFDIO_COPY maps a page beyond EOF */
		return r->type == MT_HUGETLB && !r->shared ? -1 : SIGBUS;
	return 0;
}

static bool accessible(struct region *r, int i, bool write)
{
	return predict(r, i, write) == 0;	/* -1 (anything) is not */
}

static void disturb_obj(struct obj *o)
{
	int i;

	if (!g.batch_pending || !o)
		return;
	for (i = 0; i < MAX_REGIONS; i++)
		if (g.regions[i].used && g.regions[i].obj == o)
			g.regions[i].disturbed = true;
}

static void disturb(struct region *r)
{
	if (!g.batch_pending)
		return;
	r->disturbed = true;
	if (r->shared)
		disturb_obj(r->obj);
}

static void put_obj(struct obj *o)
{
	if (o && --o->refs == 0) {
		close(o->fd);
		o->used = false;
	}
}

static void free_region(struct region *r)
{
	put_obj(r->obj);
	r->used = false;
	r->dead = false;
}

/* pages of r in [start, start + len): fully covered, or touched */
static void pages_in(struct region *r, unsigned long start, unsigned long len,
		     int *first, int *end, int *tfirst, int *tend)
{
	unsigned long a = (unsigned long)r->addr, ps = r->psize;
	unsigned long s = start, e = start + len;
	long f, l, tf, tl;

	if (e < s)		/* overflow */
		e = ~0UL;
	if (e <= a || s >= a + r->npages * ps) {
		*first = *end = *tfirst = *tend = 0;
		return;
	}
	if (s < a)
		s = a;
	if (e > a + r->npages * ps)
		e = a + r->npages * ps;
	f = (s - a + ps - 1) / ps;
	l = (e - a) / ps;
	tf = (s - a) / ps;
	tl = (e - a + ps - 1) / ps;
	*first = f;
	*end = l > f ? l : f;
	*tfirst = tf;
	*tend = tl;
}

/*
 * Pages the handler (or the writer, in SIGBUS mode) filled with zeroes on
 * a MISSING fault: a private page is detached from its file from then on.
 */
static void apply_zeroed(void)
{
	unsigned long z[256];
	int n, k, ri, i;
	bool lost;

	pthread_mutex_lock(&h.lock);
	n = h.nzeroed;
	memcpy(z, h.zeroed, n * sizeof(z[0]));
	lost = h.zeroed_lost;
	h.nzeroed = 0;
	h.zeroed_lost = false;
	pthread_mutex_unlock(&h.lock);
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->shared || !r->obj)
			continue;
		for (k = 0; k < n; k++) {
			unsigned long a = (unsigned long)r->addr;

			if (z[k] < a || z[k] >= a + r->npages * r->psize)
				continue;
			i = (z[k] - a) / r->psize;
			if (r->priv[i] == FOLLOW)
				r->priv[i] = 0;
		}
		if (lost)
			for (i = 0; i < r->npages; i++)
				if (r->priv[i] == FOLLOW)
					r->priv[i] = UNKNOWN;
	}
}

/* ------------------------------------------------------------------ */
/* batches of accesses                                                 */

static void post_batch(void)
{
	pthread_mutex_lock(&g.wlock);
	g.batch_posted++;
	g.batch_pending = true;
	pthread_cond_broadcast(&g.wcond);
	pthread_mutex_unlock(&g.wlock);
}

/* wait for the writer; false (after reporting) when it hangs */
static bool wait_batch(void)
{
	struct timespec ts;
	int64_t deadline = now_ms() + WRITER_HANG_MS;
	bool done;

	pthread_mutex_lock(&g.wlock);
	while (g.batch_done != g.batch_posted) {
		int64_t t = deadline;

		if (now_ms() >= deadline)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		t = deadline - now_ms();
		if (t > 200)
			t = 200;
		ts.tv_nsec += t * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&g.wcond, &g.wlock, &ts);
	}
	done = g.batch_done == g.batch_posted;
	pthread_mutex_unlock(&g.wlock);
	if (!done) {
		struct access *a = &g.batch[g.cur_access];
		int64_t idle = now_ms() - h.last_active;
		int fd = cur_uffd(), woke;

		if (fd >= 0)
			uffd_wake(fd, a->addr, a->psize);
		sleep_ms(2000);
		woke = g.batch_done == g.batch_posted;
		violation(false, "lost wakeup? the %s of %p (region %d page %d) blocked for %d s, handler idle for %lld ms, %d fault(s) held; UFFDIO_WAKE %s it; %ld faults in a row at %#lx, last failed resolution %c at %#lx: %s",
			  a->write ? "write" : "read", a->addr, g.regions[a->ri].id, a->page,
			  WRITER_HANG_MS / 1000, (long long)idle, h.nheld,
			  woke ? "unblocked" : "did not unblock", h.same_addr_faults,
			  h.last_fault_addr, h.last_fail_kind ? h.last_fail_kind : '-',
			  h.last_fail_addr, errname(h.last_fail_err));
	}
	return done;
}

/*
 * A read fault of a hugetlb MAP_PRIVATE page that is not in the page cache
 * maps a private zeroed page: from then on it does not follow the file.
 * (The model's 0 may be a hole or a cached page: it does not know which.)
 */
static bool hugetlb_read_detaches(struct region *r, int i)
{
	return r->type == MT_HUGETLB && !r->shared && r->priv[i] == FOLLOW &&
	       r->obj->shadow[r->pgoff + i] == 0;
}

static void check_results(void)
{
	int k;

	apply_zeroed();
	for (k = 0; k < g.nbatch; k++) {
		struct access *a = &g.batch[k];
		struct region *r = &g.regions[a->ri];
		bool dist = r->disturbed || !r->used || r->dead;
		int v;

		__atomic_add_fetch(&g.res->accesses, 1, __ATOMIC_RELAXED);
		if (g.trace)
			diag("trace:   %s region %d page %d %#x: result %d got %#x/%#x model %d%s",
			     a->write ? "write" : "read", r->id, a->page, a->byte, a->result,
			     a->got0, a->got1, r->used ? value(r, a->page) : -9,
			     dist ? " (disturbed)" : "");
		if (dist) {
			if (r->used && a->write)
				set_value(r, a->page, UNKNOWN);
			continue;
		}
		if (a->expect >= 0 && a->result != a->expect) {
			bool ok = false;

			/* SIGBUS mode gave up, or hugetlb out of pages */
			if (a->result == SIGBUS && a->expect == 0 &&
			    (g.mode == UM_SIGBUS || r->type == MT_HUGETLB))
				ok = true;
			if (!ok) {
				violation(false, "%s of region %d (%s %s) page %d at %p: %s, expected %s",
					  a->write ? "write" : "read", r->id, mt_name[r->type],
					  r->shared ? "shared" : "private", a->page, a->addr,
					  a->result ? strsignal(a->result) : "no signal",
					  a->expect ? strsignal(a->expect) : "no signal");
			}
			if (a->write)
				set_value(r, a->page, UNKNOWN);
			continue;
		}
		if (a->result)
			continue;
		if (a->write) {
			/* a page across EOF: its tail is not kept (writeback zeroes it) */
			if (r->shared && (long)((r->pgoff + a->page + 1) * r->psize) > r->obj->size)
				set_value(r, a->page, UNKNOWN);
			else
				set_value(r, a->page, a->byte);
			continue;
		}
		v = value(r, a->page);
		if (hugetlb_read_detaches(r, a->page))
			r->priv[a->page] = UNKNOWN;
		if (v >= 0 && (a->got0 != v || a->got1 != v))
			violation(true, "read of region %d (%s %s, object %d) page %d at %p: bytes %#x/%#x, expected %#x",
				  r->id, mt_name[r->type], r->shared ? "shared" : "private",
				  r->obj ? r->obj->id : -1, a->page, a->addr, a->got0, a->got1, v);
		else if (v < 0 && a->got0 == a->got1 && r->shared &&
			 (long)((r->pgoff + a->page + 1) * r->psize) <= r->obj->size)
			/*
			 * learn it: only shared pages within EOF tell the truth
			 * (private ones may follow the file, MADV_FREE'd anon
			 * pages may still become zero)
			 */
			set_value(r, a->page, a->got0);
	}
	g.nbatch = 0;
}

/* join the running batch (release held faults first) and check it */
static bool join_batch(void)
{
	int i;

	if (!g.batch_pending)
		return true;
	oplog("join the async batch");
	set_hold(0);
	handler_request(REQ_RELEASE);
	if (!wait_batch())
		return false;
	g.batch_pending = false;
	check_results();
	for (i = 0; i < MAX_REGIONS; i++) {
		g.regions[i].disturbed = false;
		if (g.regions[i].used && g.regions[i].dead)
			free_region(&g.regions[i]);
	}
	return true;
}

static void add_access(struct region *r, int ri, int i, bool write, int byte)
{
	struct access *a = &g.batch[g.nbatch++];

	*a = (struct access){
		.addr = r->addr + i * r->psize, .psize = r->psize, .ri = ri, .page = i,
		.write = write, .byte = byte, .expect = predict(r, i, write),
	};
}

static int pick_region(void)
{
	int tries, ri;

	for (tries = 0; tries < 40; tries++) {
		ri = rnd(MAX_REGIONS);
		if (g.regions[ri].used && !g.regions[ri].dead)
			return ri;
	}
	return -1;
}

/* a random batch: mostly accessible pages, some that must fault */
static void make_batch(int n, int write_pct)
{
	int k, tries;

	g.nbatch = 0;
	for (k = 0; k < n; k++) {
		int ri = pick_region(), i = 0;
		bool w = chance(write_pct);
		struct region *r;

		if (ri < 0)
			return;
		r = &g.regions[ri];
		for (tries = 0; tries < 8; tries++) {
			i = rnd(r->npages);
			if (accessible(r, i, w))
				break;
		}
		/* pages beyond EOF or unmapped: only sometimes */
		if (!accessible(r, i, w) && !chance(15))
			continue;
		add_access(r, ri, i, w, 1 + rnd(255));
	}
}

static bool run_batch_sync(void)
{
	if (!g.nbatch)
		return true;
	post_batch();
	if (!wait_batch())
		return false;
	g.batch_pending = false;
	check_results();
	return true;
}

/* ------------------------------------------------------------------ */
/* ranges, often slightly wrong                                        */

struct range {
	unsigned long start, len;
	int ri;
};

static struct range gen_range(void)
{
	int ri = pick_region(), a, n;
	struct region *r;
	struct range rg = { 0, 0, ri };

	if (ri < 0) {
		rg.start = 0x10000;
		rg.len = PS;
		return rg;
	}
	r = &g.regions[ri];
	a = rnd(r->npages);
	n = 1 + rnd(r->npages - a);
	rg.start = (unsigned long)r->addr + a * r->psize;
	rg.len = n * r->psize;
	switch (rnd(24)) {	/* 7 in 24 slightly wrong */
	case 0:
		rg.start += chance(50) ? 1 : PS;	/* unaligned (hugetlb: 4K) */
		break;
	case 1:
		rg.len += r->psize;		/* one page too long */
		break;
	case 2:
		rg.len = 0;
		break;
	case 3:
		rg.start -= r->psize;		/* one page before */
		rg.len += r->psize;
		break;
	case 4:
		rg.len = chance(50) ? -rg.start : 1UL << 47;	/* overflow */
		break;
	case 5:
		rg.len += 1;
		break;
	case 6:
		rg.start = (unsigned long)r->addr;	/* the whole region and more */
		rg.len = (r->npages + rnd(3)) * r->psize;
		break;
	}
	return rg;
}

/*
 * madvise(), mprotect() and msync() act on whatever is mapped: keep their
 * ranges inside the slot of the region they aim at (an overflowing range
 * is still passed, the kernel refuses it first).  False: no region.
 */
static bool clamp(struct range *rg)
{
	unsigned long lo, hi;

	if (rg->ri < 0)
		return false;
	lo = (unsigned long)g.arena + rg->ri * SLICE;
	hi = lo + SLICE;
	if (rg->start < lo)
		rg->start = lo;
	if (rg->start + rg->len < rg->start)
		return true;
	if (rg->start + rg->len > hi)
		rg->len = hi > rg->start ? hi - rg->start : 0;
	return true;
}

/* ------------------------------------------------------------------ */
/* objects and regions                                                 */

static struct obj *new_obj(enum mtype t, int npages)
{
	struct obj *o = NULL;
	char path[512];
	int i;

	for (i = 0; i < MAX_OBJS; i++)
		if (!g.objs[i].used) {
			o = &g.objs[i];
			break;
		}
	if (!o)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->type = t;
	o->psize = t == MT_HUGETLB ? HPS : PS;
	o->cap = t == MT_HUGETLB ? HUGE_CAP : MAX_PAGES;
	if (t == MT_FILE) {
		o->fsi = rnd(g.nfs);
		snprintf(path, sizeof(path), "%s/uffd-fuzz.%d.%d", g.fs[o->fsi].dir,
			 getpid(), g.next_id);
		o->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (o->fd >= 0)
			unlink(path);
	} else {
		o->fd = memfd_create("uffd-fuzz", MFD_CLOEXEC |
				     (t == MT_HUGETLB ? MFD_HUGETLB : 0));
	}
	if (o->fd < 0) {
		violation(false, "creating a %s object: %m", mt_name[t]);
		return NULL;
	}
	o->size = npages * o->psize;
	if (t != MT_HUGETLB && chance(10))	/* a mapping beyond EOF */
		o->size = rnd(npages + 1) * o->psize;
	if (ftruncate(o->fd, o->size)) {
		violation(false, "ftruncate of a new %s object: %m", mt_name[t]);
		close(o->fd);
		return NULL;
	}
	for (i = 0; i < o->cap; i++)
		o->shadow[i] = 0;
	/* some initial data */
	if (t != MT_HUGETLB) {
		for (i = 0; i < (int)(o->size / PS); i++) {
			unsigned char b = 1 + rnd(255);

			if (!chance(30))
				continue;
			if (pwrite(o->fd, &b, 1, i * PS) != 1 ||
			    pwrite(o->fd, &b, 1, i * PS + PS - 1) != 1) {
				violation(false, "pwrite of a new %s object: %m", mt_name[t]);
				break;
			}
			o->shadow[i] = b;
		}
	}
	o->used = true;
	o->id = g.next_id++;
	o->refs = 0;
	return o;
}

static int free_slot(void)
{
	int i;

	for (i = 0; i < MAX_REGIONS; i++)
		if (!g.regions[i].used)
			return i;
	return -1;
}

static void op_mmap(void)
{
	int ri = free_slot(), npages, i, flags;
	struct region *r;
	struct obj *o = NULL;
	enum mtype t;
	bool shared = chance(50), thp = false;
	size_t ps, len;
	int pgoff = 0;
	char *p;

	if (ri < 0 || g.batch_pending)
		return;
	r = &g.regions[ri];
	if (chance(15)) {		/* another mapping of an object */
		int k = rnd(MAX_OBJS);

		if (g.objs[k].used)
			o = &g.objs[k];
	}
	if (g.force_anon) {
		o = NULL;
		t = MT_ANON;
	} else if (o) {
		t = o->type;
	} else {
		int x = rnd(100);

		t = x < 25 ? MT_ANON : x < 45 ? MT_SHMEM : x < 90 ? MT_FILE : MT_HUGETLB;
		if (t == MT_HUGETLB && !g.hugetlb)
			t = MT_SHMEM;
	}
	if (t == MT_ANON)
		shared = false;
	ps = t == MT_HUGETLB ? HPS : PS;
	if (t == MT_HUGETLB)
		npages = 1 + rnd(4);
	else if (t != MT_FILE && chance(15)) {
		npages = MAX_PAGES;	/* 2 MiB, aligned: THP */
		thp = true;
	} else
		npages = 1 + rnd(40);
	if (o) {
		pgoff = rnd(o->cap);
		if (pgoff + npages > o->cap)
			npages = o->cap - pgoff;
	} else if (t != MT_ANON) {
		o = new_obj(t, npages);
		if (!o)
			return;
	}
	len = npages * ps;
	/* the slot's slice: clean it, then map at its start + 2 MiB (+ a bit) */
	p = g.arena + ri * SLICE;
	if (mmap(p, SLICE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
		 -1, 0) == MAP_FAILED) {
		violation(false, "mmap reserve: %m");
		return;
	}
	p += HPS;
	if (!thp && t != MT_HUGETLB && chance(50))
		p += PS * rnd(8);
	flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
	if (!o)
		flags |= MAP_ANONYMOUS;
	p = mmap(p, len, PROT_READ | PROT_WRITE, flags, o ? o->fd : -1, pgoff * ps);
	oplog("mmap %s %s object %d pgoff %d npages %d -> region %d at %p%s",
	      mt_name[t], shared ? "shared" : "private", o ? o->id : -1, pgoff, npages,
	      g.next_id, p == MAP_FAILED ? NULL : p, p == MAP_FAILED ? " (failed)" : "");
	if (p == MAP_FAILED) {
		/* hugetlb: the pool may be empty */
		if (!(t == MT_HUGETLB && errno == ENOMEM))
			violation(false, "mmap %s: %m", mt_name[t]);
		if (o && !o->refs) {
			o->refs = 1;
			put_obj(o);
		}
		return;
	}
	memset(r, 0, sizeof(*r));
	r->used = true;
	r->id = g.next_id++;
	r->obj = o;
	if (o)
		o->refs++;
	r->type = t;
	r->shared = shared;
	r->addr = p;
	r->psize = ps;
	r->npages = npages;
	r->pgoff = pgoff;
	for (i = 0; i < npages; i++) {
		r->prot[i] = PROT_READ | PROT_WRITE;
		r->priv[i] = o ? FOLLOW : 0;
	}
	/* hugetlbfs: a writable mapping extends the file */
	if (t == MT_HUGETLB && o->size < (long)((pgoff + npages) * ps))
		o->size = (pgoff + npages) * ps;
	if (thp)
		madvise(p, len, chance(70) ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

static void op_munmap(void)
{
	int ri = pick_region(), a, n, i;
	struct region *r;
	bool any = false;

	if (ri < 0)
		return;
	r = &g.regions[ri];
	if (chance(40)) {
		a = 0;
		n = r->npages;
	} else {
		a = rnd(r->npages);
		n = 1 + rnd(r->npages - a);
	}
	oplog("munmap region %d pages [%d, %d)%s", r->id, a, a + n,
	      g.batch_pending ? " (batch running)" : "");
	if (munmap(r->addr + a * r->psize, n * r->psize))
		violation(false, "munmap region %d [%d, %d): %m", r->id, a, a + n);
	disturb(r);
	for (i = a; i < a + n; i++)
		r->prot[i] = -1;
	for (i = 0; i < r->npages; i++)
		any |= r->prot[i] != -1;
	if (!any) {
		if (g.batch_pending)
			r->dead = true;
		else
			free_region(r);
	}
}

static void op_mremap(void)
{
	int ri = pick_region(), i, n, how;
	struct region *r;
	char *p, *q = NULL;
	size_t old;

	if (ri < 0 || g.batch_pending)
		return;
	r = &g.regions[ri];
	if (r->type == MT_HUGETLB)
		return;
	for (i = 0; i < r->npages; i++)
		if (r->prot[i] != r->prot[0])
			return;		/* one vma only */
	if (r->prot[0] < 0)
		return;
	old = r->npages * r->psize;
	how = rnd(3);
	n = how == 0 ? 1 + rnd(r->npages) : 1 + rnd(MAX_PAGES - r->pgoff);
	if (how == 2) {		/* move to the other half of the slice */
		char *lo = g.arena + ri * SLICE + HPS, *hi = lo + SLICE / 2;

		q = r->addr >= hi ? lo : hi;
		q += r->addr - (r->addr >= hi ? hi : lo);	/* same alignment */
		p = mremap(r->addr, old, n * PS, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	} else {
		/* grow in place: make room in the reservation first */
		if ((size_t)n * PS > old)
			munmap(r->addr + old, n * PS - old);
		p = mremap(r->addr, old, n * PS, 0);
	}
	oplog("mremap region %d %d -> %d pages %s -> %p", r->id, r->npages, n,
	      how == 0 ? "in place" : how == 1 ? "maymove" : "fixed", p == MAP_FAILED ? NULL : p);
	if (p == MAP_FAILED) {
		unsigned char vec;
		int err = errno;

		oplog("mremap failed: %s", errname(err));
		if (err != ENOMEM && err != EINVAL && err != EFAULT && err != EAGAIN)
			violation(false, "mremap region %d: unexpected %s", r->id, errname(err));
		/*
		 * mremap(MREMAP_FIXED) to a smaller size unmaps the tail before it
		 * moves, and may fail after that: ask mincore() what is left
		 */
		for (i = 0; i < r->npages; i++)
			if (mincore(r->addr + i * r->psize, r->psize, &vec) && errno == ENOMEM)
				r->prot[i] = -1;
		return;
	}
	for (i = r->npages; i < n; i++) {
		r->prot[i] = r->prot[0];
		r->priv[i] = r->obj ? FOLLOW : 0;
	}
	r->addr = p;
	r->npages = n;
}

static void op_mprotect(void)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE,
				     PROT_READ | PROT_WRITE };
	struct range rg = gen_range();
	int prot = prots[rnd(4)], ri, i, f, e, tf, te, err;

	if (!clamp(&rg))
		return;
	err = mprotect((void *)rg.start, rg.len, prot) ? errno : 0;
	oplog("mprotect [%#lx, +%#lx) %d: %s", rg.start, rg.len, prot, errname(err));
	if (err && err != EINVAL && err != ENOMEM && err != EACCES)
		violation(false, "mprotect: unexpected %s", errname(err));
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used)
			continue;
		pages_in(r, rg.start, rg.len, &f, &e, &tf, &te);
		for (i = tf; i < te; i++) {
			if (r->prot[i] == -1)
				continue;
			disturb(r);
			/*
			 * on an error, part of it may have changed (EINVAL too:
			 * a hugetlb vma that cannot split at an unaligned end
			 * after the vmas before it changed): assume nothing
			 */
			r->prot[i] = err ? -2 : prot;
		}
	}
}

/* mprotect ENOMEM leaves prot -2: we do not know it; restore it */
static void fix_prots(void)
{
	int ri, i;

	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used)
			continue;
		for (i = 0; i < r->npages; i++)
			if (r->prot[i] == -2) {
				if (mprotect(r->addr + i * r->psize, r->psize, PROT_READ | PROT_WRITE))
					violation(false, "restoring prot of region %d page %d: %m",
						  r->id, i);
				r->prot[i] = PROT_READ | PROT_WRITE;
			}
	}
}

static void cows_dropped(struct obj *o, int from, bool unknown);

static void op_madvise(void)
{
	static const struct { int adv; const char *name; } advs[] = {
		{ MADV_DONTNEED, "DONTNEED" }, { MADV_PAGEOUT, "PAGEOUT" },
		{ MADV_COLD, "COLD" }, { MADV_HUGEPAGE, "HUGEPAGE" },
		{ MADV_NOHUGEPAGE, "NOHUGEPAGE" }, { MADV_COLLAPSE, "COLLAPSE" },
		{ MADV_REMOVE, "REMOVE" }, { MADV_POPULATE_WRITE, "POPULATE_WRITE" },
		{ MADV_POPULATE_READ, "POPULATE_READ" }, { MADV_WILLNEED, "WILLNEED" },
		{ MADV_FREE, "FREE" }, { MADV_DONTNEED, "DONTNEED" },
		{ MADV_PAGEOUT, "PAGEOUT" },
	};
	int k = rnd(sizeof(advs) / sizeof(advs[0])), adv = advs[k].adv;
	struct range rg = gen_range();
	int ri, i, f, e, tf, te, err;

	if (!clamp(&rg))
		return;
	err = madvise((void *)rg.start, rg.len, adv) ? errno : 0;
	oplog("madvise [%#lx, +%#lx) %s: %s", rg.start, rg.len, advs[k].name, errname(err));
	if (err && (err >= 64 || !(A_MADV & E(err))))
		violation(false, "madvise %s: unexpected %s", advs[k].name, errname(err));
	if (adv == MADV_POPULATE_READ || adv == MADV_WILLNEED)
		for (ri = 0; ri < MAX_REGIONS; ri++) {
			struct region *r = &g.regions[ri];

			if (!r->used)
				continue;
			pages_in(r, rg.start, rg.len, &f, &e, &tf, &te);
			for (i = tf; i < te; i++)
				if (r->prot[i] != -1 && hugetlb_read_detaches(r, i))
					r->priv[i] = UNKNOWN;
		}
	if (adv != MADV_DONTNEED && adv != MADV_REMOVE && adv != MADV_FREE &&
	    adv != MADV_POPULATE_WRITE)
		return;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used)
			continue;
		pages_in(r, rg.start, rg.len, &f, &e, &tf, &te);
		for (i = tf; i < te; i++) {
			bool full = i >= f && i < e && !err;
			if (r->prot[i] == -1)
				continue;
			disturb(r);
			if (adv == MADV_POPULATE_WRITE) {
				if (r->shared || r->priv[i] != FOLLOW)
					continue;
				/* private page copied now, or not */
				r->priv[i] = full ? value(r, i) : UNKNOWN;
			} else if (adv == MADV_REMOVE) {
				if (!r->shared)
					continue;
				if (full && !beyond_eof(r, i))
					set_value(r, i, 0);
				else if (err || !full)
					set_value(r, i, UNKNOWN);
			} else if (r->shared) {
				continue;	/* DONTNEED, FREE: shared data stays */
			} else if (adv == MADV_FREE) {
				r->priv[i] = UNKNOWN;
			} else if (full) {
				r->priv[i] = r->obj ? FOLLOW : 0;
			} else {
				r->priv[i] = UNKNOWN;
			}
		}
	}
	/* a REMOVE on a shared mapping changes every mapping of the object */
	if (adv == MADV_REMOVE)
		for (ri = 0; ri < MAX_REGIONS; ri++) {
			struct region *r = &g.regions[ri];

			if (!r->used || !r->shared)
				continue;
			pages_in(r, rg.start, rg.len, &f, &e, &tf, &te);
			if (te <= tf)
				continue;
			disturb_obj(r->obj);
			if (r->type == MT_HUGETLB)	/* private copies may go too */
				cows_dropped(r->obj, 0, true);
		}
}

static struct obj *pick_obj(void)
{
	int tries, k;

	for (tries = 0; tries < 30; tries++) {
		k = rnd(MAX_OBJS);
		if (g.objs[k].used)
			return &g.objs[k];
	}
	return NULL;
}

/* every private region of o: pages at index >= from follow the file again */
static void cows_dropped(struct obj *o, int from, bool unknown)
{
	int ri, i;

	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->obj != o || r->shared)
			continue;
		for (i = 0; i < r->npages; i++)
			if (r->pgoff + i >= from) {
				r->priv[i] = unknown ? UNKNOWN : FOLLOW;
				disturb(r);
			}
	}
}

static void op_ftruncate(void)
{
	struct obj *o = pick_obj();
	long size, oldpages, newfull, i;
	int err;

	if (!o)
		return;
	size = rnd(o->cap + 1) * o->psize;
	if (chance(20))
		size += 1 + rnd(o->psize - 1);	/* unaligned */
	if (size > (long)(o->cap * o->psize))
		size = o->cap * o->psize;
	err = ftruncate(o->fd, size) ? errno : 0;
	oplog("ftruncate object %d (%s) %ld -> %ld: %s", o->id, mt_name[o->type],
	      o->size, size, errname(err));
	if (err) {
		if (!(err == EINVAL && o->type == MT_HUGETLB))
			violation(false, "ftruncate: unexpected %s", errname(err));
		return;
	}
	disturb_obj(o);
	oldpages = (o->size + o->psize - 1) / o->psize;
	newfull = size / o->psize;
	if (size < o->size) {
		/* beyond: gone (zero when the file grows again) */
		for (i = (size + o->psize - 1) / o->psize; i < o->cap; i++)
			o->shadow[i] = 0;
		if (size % o->psize)
			o->shadow[newfull] = UNKNOWN;	/* its tail is zeroed */
		/* private copies beyond the new EOF are dropped too */
		cows_dropped(o, (size + o->psize - 1) / o->psize, false);
	} else if (o->size % o->psize) {
		/* the old partial page: beyond its old EOF were zeroes */
		o->shadow[o->size / o->psize] = UNKNOWN;
	}
	(void)oldpages;
	o->size = size;
}

static void op_punch(void)
{
	struct obj *o = pick_obj();
	long off, len, i, first, end;
	int err;

	if (!o)
		return;
	off = rnd(o->cap) * o->psize;
	len = (1 + rnd(8)) * o->psize;
	if (chance(20))
		off += rnd(o->psize);
	if (chance(20))
		len += rnd(o->psize);
	err = fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) ? errno : 0;
	oplog("punch object %d (%s) [%ld, +%ld): %s", o->id, mt_name[o->type], off, len,
	      errname(err));
	if (err) {
		if (err != EOPNOTSUPP && err != EINVAL)
			violation(false, "fallocate(PUNCH_HOLE): unexpected %s", errname(err));
		return;
	}
	disturb_obj(o);
	first = (off + o->psize - 1) / o->psize;
	end = (off + len) / o->psize;
	for (i = off / o->psize; i < (long)((off + len + o->psize - 1) / o->psize) && i < o->cap; i++) {
		if (i * (long)o->psize >= o->size)
			continue;
		o->shadow[i] = i >= first && i < end ? 0 : UNKNOWN;
	}
	if (o->type == MT_HUGETLB)	/* private copies may go too */
		cows_dropped(o, off / o->psize, true);
}

static void op_sync(void)
{
	struct obj *o;
	struct range rg;
	int err, k = rnd(4);

	if (k == 3) {
		static const int fl[] = { MS_SYNC, MS_ASYNC, MS_INVALIDATE, MS_SYNC | MS_INVALIDATE };
		int f = fl[rnd(4)];

		rg = gen_range();
		if (!clamp(&rg))
			return;
		err = msync((void *)(rg.start & ~(PS - 1)), rg.len, f) ? errno : 0;
		oplog("msync [%#lx, +%#lx) %#x: %s", rg.start, rg.len, f, errname(err));
		if (err && err != ENOMEM && err != EINVAL && err != EBUSY)
			violation(false, "msync: unexpected %s", errname(err));
		return;
	}
	o = pick_obj();
	if (!o)
		return;
	if (k == 0)
		err = fsync(o->fd) ? errno : 0;
	else if (k == 1)
		err = fdatasync(o->fd) ? errno : 0;
	else
		err = posix_fadvise(o->fd, 0, 0, POSIX_FADV_DONTNEED);
	oplog("%s object %d (%s): %s", k == 0 ? "fsync" : k == 1 ? "fdatasync" : "fadvise(DONTNEED)",
	      o->id, mt_name[o->type], errname(err));
	if (err && !(err == EINVAL && k < 2))
		violation(false, "fsync/fadvise: unexpected %s", errname(err));
}

static void op_pwrite(void)
{
	struct obj *o = pick_obj();
	unsigned char b = 1 + rnd(255);
	long i;
	int err = 0;

	if (!o || o->type == MT_HUGETLB || o->size < (long)o->psize)
		return;
	i = rnd(o->size / o->psize);
	if (pwrite(o->fd, &b, 1, i * o->psize) != 1 ||
	    pwrite(o->fd, &b, 1, i * o->psize + o->psize - 1) != 1)
		err = errno;
	oplog("pwrite object %d (%s) page %ld = %#x: %s", o->id, mt_name[o->type], i, b,
	      errname(err));
	disturb_obj(o);
	if (err) {
		violation(false, "pwrite: %s", errname(err));
		o->shadow[i] = UNKNOWN;
		return;
	}
	o->shadow[i] = b;
}

/* ------------------------------------------------------------------ */
/* uffd operations                                                     */

static int ensure_uffd(void)
{
	int fd = cur_uffd();

	if (fd >= 0)
		return fd;
	fd = uffd_open(g.features, NULL);
	if (fd < 0) {
		violation(false, "re-opening the uffd: %s", errname(-fd));
		return -1;
	}
	__atomic_store_n(&h.uffd, fd, __ATOMIC_RELEASE);
	return fd;
}

static void op_register(void)
{
	static const uint64_t modes[] = {
		UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_WP,
		UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_MINOR,
		UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING,
		UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR,
		UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
		UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
		0, 1ULL << 7,
	};
	uint64_t mode = modes[rnd(sizeof(modes) / sizeof(modes[0]))];
	struct range rg = gen_range();
	int fd = ensure_uffd(), err;

	if (fd < 0)
		return;
	err = uffd_register(fd, (void *)rg.start, rg.len, mode, NULL);
	oplog("REGISTER [%#lx, +%#lx) mode %#llx: %s", rg.start, rg.len,
	      (unsigned long long)mode, errname(err));
	check_err("UFFDIO_REGISTER", err, A_REGISTER);
}

static void op_unregister(void)
{
	struct range rg = gen_range();
	int fd = ensure_uffd(), err;

	if (fd < 0)
		return;
	err = uffd_unregister(fd, (void *)rg.start, rg.len);
	oplog("UNREGISTER [%#lx, +%#lx): %s%s", rg.start, rg.len, errname(err),
	      g.batch_pending ? " (batch running)" : "");
	check_err("UFFDIO_UNREGISTER", err, A_UNREGISTER);
}

static void op_writeprotect(void)
{
	static const uint64_t modes[] = {
		UFFDIO_WRITEPROTECT_MODE_WP, UFFDIO_WRITEPROTECT_MODE_WP,
		UFFDIO_WRITEPROTECT_MODE_WP, 0, 0,
		UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
		UFFDIO_WRITEPROTECT_MODE_DONTWAKE, 1ULL << 5,
	};
	uint64_t mode = modes[rnd(sizeof(modes) / sizeof(modes[0]))];
	struct range rg = gen_range();
	int fd = ensure_uffd(), err;

	if (fd < 0)
		return;
	err = uffd_writeprotect(fd, (void *)rg.start, rg.len, mode);
	oplog("WRITEPROTECT [%#lx, +%#lx) mode %#llx: %s", rg.start, rg.len,
	      (unsigned long long)mode, errname(err));
	check_err("UFFDIO_WRITEPROTECT", err, A_WP);
}

static void op_wake(void)
{
	struct range rg = gen_range();
	int fd = ensure_uffd(), err;

	if (fd < 0)
		return;
	err = uffd_wake(fd, (void *)rg.start, rg.len);
	oplog("WAKE [%#lx, +%#lx): %s", rg.start, rg.len, errname(err));
	check_err("UFFDIO_WAKE", err, A_WAKE);
}

/* pages [start, start + done) of every region now hold v */
static void filled(unsigned long start, long done, int v)
{
	int ri, i, f, e, tf, te;

	if (done <= 0)
		return;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used)
			continue;
		pages_in(r, start, done, &f, &e, &tf, &te);
		for (i = tf; i < te; i++) {
			if (r->prot[i] == -1)
				continue;
			disturb(r);
			set_value(r, i, i >= f && i < e ? v : UNKNOWN);
		}
	}
}

static void op_mfill(int which)
{
	static const uint64_t cmodes[] = { 0, 0, UFFDIO_COPY_MODE_WP, UFFDIO_COPY_MODE_DONTWAKE,
					   1ULL << 9 };
	struct range rg = gen_range();
	int fd = ensure_uffd(), err, b = rnd(256);
	uint64_t mode = cmodes[rnd(5)];
	long done = 0;
	size_t len = rg.len;

	if (fd < 0)
		return;
	if (which == 0) {
		if (len > (8UL << 20))
			len = 8UL << 20;
		memset(g.srcbuf, b, len + 1);	/* the source may start 1 byte in */
		err = io_copy(fd, rg.start, (unsigned long)g.srcbuf + (chance(5) ? 1 : 0),
			      rg.len > (8UL << 20) ? len : rg.len, mode, &done);
		oplog("COPY [%#lx, +%#lx) byte %#x mode %#llx: %s, copied %#lx", rg.start,
		      rg.len, b, (unsigned long long)mode, errname(err), done);
		check_err("UFFDIO_COPY", err, A_MFILL);
		filled(rg.start, done, b);
	} else if (which == 1) {
		mode = mode == UFFDIO_COPY_MODE_WP ? 0 : mode;
		err = io_zeropage(fd, rg.start, rg.len, mode, &done);
		oplog("ZEROPAGE [%#lx, +%#lx) mode %#llx: %s, zeroed %#lx", rg.start, rg.len,
		      (unsigned long long)mode, errname(err), done);
		check_err("UFFDIO_ZEROPAGE", err, A_MFILL);
		filled(rg.start, done, 0);
	} else {
		mode = mode == UFFDIO_COPY_MODE_WP ? UFFDIO_CONTINUE_MODE_WP : mode;
		err = io_continue(fd, rg.start, rg.len, mode);
		oplog("CONTINUE [%#lx, +%#lx) mode %#llx: %s", rg.start, rg.len,
		      (unsigned long long)mode, errname(err));
		check_err("UFFDIO_CONTINUE", err, A_MFILL);
	}
}

static void op_move(void)
{
	struct range d = gen_range(), s = gen_range();
	int fd = ensure_uffd(), err, ri, i, f, e, tf, te;
	struct uffdio_move m = { 0 };
	int16_t vals[MAX_PAGES * 2];
	long npg, k;

	if (fd < 0)
		return;
	m.dst = d.start;
	m.src = s.start;
	m.len = d.len < s.len ? d.len : s.len;
	m.mode = (chance(50) ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0) |
		 (chance(20) ? UFFDIO_MOVE_MODE_DONTWAKE : 0);
	/* the source values, page by page (4K: MOVE is anon only) */
	npg = m.len / PS < MAX_PAGES * 2 ? m.len / PS : MAX_PAGES * 2;
	for (k = 0; k < npg; k++) {
		vals[k] = UNKNOWN;
		for (ri = 0; ri < MAX_REGIONS; ri++) {
			struct region *r = &g.regions[ri];
			unsigned long a = m.src + k * PS;

			if (r->used && a >= (unsigned long)r->addr &&
			    a < (unsigned long)r->addr + r->npages * r->psize &&
			    r->psize == PS && !(a & (PS - 1)) && r->prot[(a - (unsigned long)r->addr) / PS] >= 0)
				vals[k] = value(r, (a - (unsigned long)r->addr) / PS);
		}
	}
	err = ioctl(fd, UFFDIO_MOVE, &m) ? errno : 0;
	oplog("MOVE [%#llx, +%#llx) -> %#llx mode %#llx: %s, moved %#llx",
	      (unsigned long long)m.src, (unsigned long long)m.len, (unsigned long long)m.dst,
	      (unsigned long long)m.mode, errname(err), (unsigned long long)(m.move > 0 ? m.move : 0));
	check_err("UFFDIO_MOVE", err, A_MOVE);
	if (m.move <= 0)
		return;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used)
			continue;
		/* destination first: src and dst never overlap */
		pages_in(r, m.dst, m.move, &f, &e, &tf, &te);
		for (i = tf; i < te; i++) {
			k = ((unsigned long)r->addr + i * r->psize - m.dst) / PS;
			if (r->prot[i] == -1)
				continue;
			disturb(r);
			set_value(r, i, i >= f && i < e && k < npg && r->psize == PS ? vals[k] : UNKNOWN);
		}
		pages_in(r, m.src, m.move, &f, &e, &tf, &te);
		for (i = tf; i < te; i++) {
			if (r->prot[i] == -1)
				continue;
			disturb(r);
			set_value(r, i, i >= f && i < e && r->psize == PS ? 0 : UNKNOWN);
		}
	}
}

static void op_pagemap_scan(void)
{
	struct page_region vec[16];
	struct range rg = gen_range();
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = rg.start,
		.end = rg.start + rg.len,
		.vec = (unsigned long)vec,
		.vec_len = rnd(17),
		.max_pages = chance(50) ? 0 : rnd(64),
		.category_mask = chance(50) ? PAGE_IS_WRITTEN : rnd(256),
		.category_anyof_mask = chance(50) ? 0 : rnd(256),
		.category_inverted = chance(80) ? 0 : rnd(256),
		.return_mask = chance(20) ? 0 : PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT | rnd(256),
	};
	long r;
	int err;

	if (chance(50))
		a.flags |= PM_SCAN_WP_MATCHING;
	if (chance(50))
		a.flags |= PM_SCAN_CHECK_WPASYNC;
	if (chance(3))
		a.flags |= 1ULL << 7;
	r = ioctl(g.pagemap_fd, PAGEMAP_SCAN, &a);
	err = r < 0 ? errno : 0;
	oplog("PAGEMAP_SCAN [%#lx, %#lx) flags %#llx vec_len %llu: %ld %s", rg.start,
	      rg.start + rg.len, (unsigned long long)a.flags, (unsigned long long)a.vec_len,
	      r, errname(err));
	check_err("PAGEMAP_SCAN", err, A_SCAN);
}

static void op_close_uffd(void)
{
	oplog("close uffd (by the handler)%s", g.batch_pending ? " (batch running)" : "");
	handler_request(REQ_CLOSE);
	/* all registrations are gone with it */
	if (chance(70))
		ensure_uffd();
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

static struct obj saved_objs[MAX_OBJS];
static struct region saved_regions[MAX_REGIONS];

static void op_fork(void)
{
	struct access plan[MAX_BATCH];
	int n = 0, k, status = 0;
	int64_t deadline;
	pid_t pid, r;
	bool any_hp = false;

	/* the plan is simulated on the model (a read after a write of the page) */
	memcpy(saved_objs, g.objs, sizeof(g.objs));
	memcpy(saved_regions, g.regions, sizeof(g.regions));
	for (k = 0; k < 1 + (int)rnd(MAX_BATCH); k++) {
		int ri = pick_region(), i;
		struct region *rg;
		bool w = chance(50);

		if (ri < 0)
			break;
		rg = &g.regions[ri];
		i = rnd(rg->npages);
		if (!accessible(rg, i, w))
			continue;
		any_hp |= rg->type == MT_HUGETLB;
		plan[n] = (struct access){
			.addr = rg->addr + i * rg->psize, .psize = rg->psize, .ri = ri, .page = i,
			.write = w, .byte = 1 + rnd(255),
			.expect = g.batch_pending ? -1 : value(rg, i),
		};
		if (w)
			set_value(rg, i, plan[n].byte);
		n++;
	}
	memcpy(g.objs, saved_objs, sizeof(g.objs));
	memcpy(g.regions, saved_regions, sizeof(g.regions));
	oplog("fork: child does %d accesses%s", n, g.batch_pending ? " (batch running)" : "");
	__atomic_add_fetch(&g.res->forks, 1, __ATOMIC_RELAXED);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		violation(false, "fork: %m");
		return;
	}
	if (pid == 0) {
		for (k = 0; k < n; k++) {
			struct access *a = &plan[k];

			do_access(a, false);
			if (a->result)
				_exit(20 + a->result);
			if (!a->write && a->expect >= 0 && (a->got0 != a->expect || a->got1 != a->expect)) {
				printf("# FAIL: seed %lu op %d: forked child read %#x/%#x at %p, expected %#x\n",
				       g.seed, g.op, a->got0, a->got1, a->addr, a->expect);
				fflush(stdout);
				_exit(3);
			}
		}
		_exit(0);
	}
	deadline = now_ms() + CHILD_HANG_MS;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
		sleep_ms(5);
	if (r != pid) {
		violation(false, "forked child did not finish within %d s", CHILD_HANG_MS / 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return;
	}
	handler_request(REQ_CLOSE_CHILDREN);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		for (k = 0; k < n; k++) {
			struct region *rg = &g.regions[plan[k].ri];

			if (plan[k].write && rg->shared) {
				set_value(rg, plan[k].page, plan[k].byte);
				disturb(rg);
			}
		}
		return;
	}
	/* the child's uffd (EVENT_FORK) in SIGBUS mode, or hugetlb out of pages */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 20 + SIGBUS &&
	    ((g.mode == UM_SIGBUS && (g.features & UFFD_FEATURE_EVENT_FORK)) || any_hp)) {
		for (k = 0; k < n; k++)
			if (plan[k].write && g.regions[plan[k].ri].shared) {
				set_value(&g.regions[plan[k].ri], plan[k].page, UNKNOWN);
				disturb(&g.regions[plan[k].ri]);
			}
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		violation(true, "forked child read a value the model contradicts");
	else if (WIFEXITED(status))
		violation(false, "forked child: %s", WEXITSTATUS(status) > 20 ?
			  strsignal(WEXITSTATUS(status) - 20) : "exit status");
	else
		violation(false, "forked child killed by signal %d", WTERMSIG(status));
}

/* ------------------------------------------------------------------ */
/* accesses, verification, probe                                       */

static bool op_access(bool async)
{
	make_batch(1 + rnd(async ? 4 : MAX_BATCH), 65);
	oplog("%s batch of %d accesses", async ? "async" : "sync", g.nbatch);
	if (!async)
		return run_batch_sync();
	if (!g.nbatch)
		return true;
	set_hold(chance(50) ? 70 : 0);
	post_batch();
	return true;
}

/* read every page we know something about */
static bool verify_all(void)
{
	int ri, i;

	g.nbatch = 0;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->dead)
			continue;
		for (i = 0; i < r->npages; i++) {
			if (value(r, i) < 0 || !accessible(r, i, false))
				continue;
			add_access(r, ri, i, false, 0);
			if (g.nbatch == MAX_BATCH && !run_batch_sync())
				return false;
		}
	}
	return run_batch_sync();
}

/* the files (pread) agree with the model */
static void verify_files(void)
{
	int k, i;

	for (k = 0; k < MAX_OBJS; k++) {
		struct obj *o = &g.objs[k];

		if (!o->used)
			continue;
		for (i = 0; i < o->cap && (long)((i + 1) * o->psize) <= o->size; i++) {
			unsigned char b0, b1;

			if (o->shadow[i] < 0)
				continue;
			if (pread(o->fd, &b0, 1, i * o->psize) != 1 ||
			    pread(o->fd, &b1, 1, i * o->psize + o->psize - 1) != 1) {
				violation(false, "pread of object %d (%s): %m", o->id, mt_name[o->type]);
				return;
			}
			if (b0 != o->shadow[i] || b1 != o->shadow[i])
				violation(true, "pread of object %d (%s) page %d: %#x/%#x, expected %#x",
					  o->id, mt_name[o->type], i, b0, b1, o->shadow[i]);
		}
	}
}

/*
 * The targeted invariant: a protected page of a file, shmem or hugetlb
 * mapping that is zapped (DONTNEED) or evicted (PAGEOUT + fadvise) still
 * reports its first write.
 */
static uint64_t pagemap_entry(void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (pread(fd, &e, sizeof(e), (unsigned long)p / PS * sizeof(e)) != sizeof(e))
			e = 0;
		close(fd);
	}
	return e;
}

static bool op_probe(void)
{
	uint64_t pm1, pm2;
	bool present = false;
	int ri = pick_region(), i, tries, fd, err, how = rnd(3);
	struct region *r;
	char *p;

	if (ri < 0 || g.mode == UM_ASYNC || g.batch_pending)
		return true;
	r = &g.regions[ri];
	if (r->type == MT_ANON)
		return true;
	for (tries = 0; tries < 8; tries++) {
		i = rnd(r->npages);
		if (accessible(r, i, true))
			break;
	}
	if (!accessible(r, i, true))
		return true;
	fd = ensure_uffd();
	if (fd < 0)
		return true;
	p = r->addr + i * r->psize;
	__atomic_add_fetch(&g.res->probes, 1, __ATOMIC_RELAXED);
	/*
	 * WP only: a REGISTER never drops modes the range already has
	 * (MINOR would report first, and a plain UFFDIO_CONTINUE maps the
	 * page without protection), so unregister the page first
	 */
	check_err("probe UFFDIO_UNREGISTER", uffd_unregister(fd, p, r->psize), A_UNREGISTER);
	err = uffd_register(fd, p, r->psize, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!err && chance(50)) {	/* make it present first */
		present = true;
		g.nbatch = 0;
		add_access(r, ri, i, false, 0);
		if (!run_batch_sync())
			return false;
	}
	if (!err)
		err = uffd_wp(fd, p, r->psize, true);
	pm1 = pagemap_entry(p);
	oplog("probe region %d (%s %s) page %d at %p: register+protect %s, then %s",
	      r->id, mt_name[r->type], r->shared ? "shared" : "private", i, p, errname(err),
	      how == 0 ? "DONTNEED" : how == 1 ? "PAGEOUT+fadvise" : "fadvise");
	if (err) {		/* e.g. EBUSY: another uffd still holds it */
		__atomic_add_fetch(&g.res->probe_skips, 1, __ATOMIC_RELAXED);
		return true;
	}
	if (how == 0) {
		err = madvise(p, r->psize, MADV_DONTNEED) ? errno : 0;
		if (!err && !r->shared)
			r->priv[i] = FOLLOW;
	} else {
		err = how == 1 && r->type != MT_HUGETLB ? (madvise(p, r->psize, MADV_PAGEOUT) ? errno : 0) : 0;
		posix_fadvise(r->obj->fd, (r->pgoff + i) * r->psize, r->psize, POSIX_FADV_DONTNEED);
	}
	if (err)
		violation(false, "probe madvise: %s", errname(err));
	pm2 = pagemap_entry(p);
	h.watch_hits = 0;
	h.watch_len = r->psize;
	h.watch = (unsigned long)p;
	set_hold(0);
	g.nbatch = 0;
	add_access(r, ri, i, true, 1 + rnd(255));
	if (!run_batch_sync())
		return false;
	h.watch = 0;
	if (g.mode == UM_SYNC ? !h.watch_hits : !g.batch[0].bus_retries)
		violation(false, "probe: the first write to protected region %d (%s %s) page %d after %s was not reported: protection lost (%s before; pagemap after protect %#llx, after zap %#llx, after write %#llx)",
			  r->id, mt_name[r->type], r->shared ? "shared" : "private", i,
			  how == 0 ? "MADV_DONTNEED" : how == 1 ? "MADV_PAGEOUT + fadvise" : "fadvise(DONTNEED)",
			  present ? "read" : "not touched", (unsigned long long)pm1,
			  (unsigned long long)pm2, (unsigned long long)pagemap_entry(p));
	return true;
}

/* self-test: corrupt the model of a known page and read it back */
static bool selftest_corrupt(void)
{
	int ri, i, tries;

	if (!join_batch())
		return false;
	fix_prots();
	/* no region at all yet, or all full: make room for an anonymous one */
	for (tries = 0; tries < MAX_REGIONS && free_slot() < 0; tries++)
		if (g.regions[tries].used)
			free_region(&g.regions[tries]);
	g.force_anon = true;
	op_mmap();
	g.force_anon = false;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->dead)
			continue;
		for (i = 0; i < r->npages; i++) {
			int v = value(r, i);

			if (v < 0 || !accessible(r, i, false))
				continue;
			oplog("SELF-TEST: model of region %d page %d corrupted %#x -> %#x",
			      r->id, i, v, v ^ 0x5a);
			if (r->shared || r->priv[i] != FOLLOW)
				set_value(r, i, v ^ 0x5a);
			else
				r->obj->shadow[r->pgoff + i] = v ^ 0x5a;
			g.res->corrupted = 1;
			g.nbatch = 0;
			add_access(r, ri, i, false, 0);
			return run_batch_sync();
		}
	}
	return true;
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
}

static int fuzz_seed(const void *arg)
{
	pthread_t th, tw, td;
	int64_t t0 = now_ms(), cap;
	const char *e = getenv("UFFDWP_FUZZ_OPS");
	int fd, i;
	bool ok = true;

	(void)arg;
	setvbuf(stdout, NULL, _IOLBF, 0);
	g.rng = g.seed * 0x9E3779B97F4A7C15ULL + 1;
	h.rng = g.seed ^ 0xdeadbeef;
	g.nops = e && atoi(e) > 0 ? atoi(e) : DEFAULT_OPS;
	e = getenv("UFFDWP_FUZZ_TRACE");
	g.trace = e && !strcmp(e, "1");
	pick_mode();
	install_signals();
	pthread_mutex_init(&g.wlock, NULL);
	pthread_cond_init(&g.wcond, NULL);
	pthread_mutex_init(&g.plock, NULL);
	pthread_mutex_init(&h.lock, NULL);
	g.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	g.arena = mmap(NULL, (MAX_REGIONS + 1) * SLICE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g.srcbuf = mmap(NULL, (8UL << 20) + PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g.zerobuf = mmap(NULL, HPS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.pagemap_fd < 0 || g.arena == MAP_FAILED || g.srcbuf == MAP_FAILED || g.zerobuf == MAP_FAILED)
		return fail("seed %lu: setup: %m", g.seed);
	h.uffd = -1;
	fd = uffd_open(g.features, NULL);
	if (fd < 0)
		return fail("seed %lu: uffd with features %#llx: %s", g.seed,
			    (unsigned long long)g.features, errname(-fd));
	h.uffd = fd;
	h.last_active = now_ms();
	diag("seed %lu: %s uffd, features %#llx, %d ops", g.seed, um_name[g.mode],
	     (unsigned long long)g.features, g.nops);
	pthread_create(&th, NULL, handler_thread, NULL);
	pthread_create(&tw, NULL, writer_thread, NULL);
	pthread_create(&td, NULL, watchdog_thread, NULL);
	while (!g.writer_tid)
		sleep_ms(1);
	cap = g.selftest ? 4 * SEED_CAP_MS : SEED_CAP_MS;

	for (g.op = 0; ok && g.op < g.nops && now_ms() - t0 < cap; g.op++) {
		int x = rnd(1000);

		g.op_start = now_ms();
		g.res->ops++;
		apply_zeroed();
		if (g.selftest && g.op == 60) {
			ok = selftest_corrupt();
			break;
		}
		/* an async batch runs for a few operations */
		if (g.batch_pending && chance(30))
			ok = join_batch();
		else if (x < 70)
			op_mmap();
		else if (x < 110)
			op_munmap();
		else if (x < 135)
			op_mremap();
		else if (x < 170)
			op_mprotect();
		else if (x < 270)
			op_madvise();
		else if (x < 290)
			op_fork();
		else if (x < 315)
			op_ftruncate();
		else if (x < 340)
			op_punch();
		else if (x < 370)
			op_sync();
		else if (x < 395)
			op_pwrite();
		else if (x < 465)
			op_register();
		else if (x < 490)
			op_unregister();
		else if (x < 580)
			op_writeprotect();
		else if (x < 595)
			op_wake();
		else if (x < 620)
			op_mfill(0);
		else if (x < 635)
			op_mfill(1);
		else if (x < 650)
			op_mfill(2);
		else if (x < 665)
			op_move();
		else if (x < 690)
			op_pagemap_scan();
		else if (x < 698)
			op_close_uffd();
		else if (x < 720)
			ok = op_probe();
		else if (x < 730)
			ok = g.batch_pending || verify_all();
		else if (x < 790 && !g.batch_pending)
			ok = op_access(true);
		else if (!g.batch_pending)
			ok = op_access(false);
		if (!g.batch_pending)
			fix_prots();
		if (g.res->violations && !g.selftest)
			break;
	}
	g.op_start = now_ms();
	if (ok)
		ok = join_batch();
	if (ok && !g.res->violations) {
		fix_prots();
		oplog("final verification");
		ok = verify_all();
		verify_files();
	}
	g.op_start = 0;
	diag("seed %lu: %ld ops, %ld accesses, %ld WP / %ld MISSING / %ld MINOR faults, %ld events, %ld forks, %ld probes (%ld skipped), %ld SIGBUS resolved, %ld MISSING-on-marker (ZEROPAGE EEXIST, COPY ok), %ld ioctls ok / %ld failed as documented, %lld ms",
	     g.seed, g.res->ops, g.res->accesses, g.res->wp_faults, g.res->missing_faults,
	     g.res->minor_faults, g.res->events, g.res->forks, g.res->probes, g.res->probe_skips,
	     g.res->sigbus_resolved, g.res->zeropage_eexist, g.res->ioctl_ok, g.res->ioctl_err,
	     (long long)(now_ms() - t0));
	if (!ok || g.res->violations) {
		fflush(stdout);
		_exit(FAIL);	/* threads may be blocked: do not join them */
	}
	/*
	 * No cleanup: munmap() with EVENT_UNMAP would wait for a reader, and
	 * the exit tears everything down (and exercises that path too).
	 */
	(void)i;
	(void)th; (void)tw; (void)td;
	return PASS;
}

static bool hugetlb_available(void)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	long n = 0;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n > 0;
}

static struct shared_res *run_seed(unsigned long seed, bool selftest, int *rc, char *why,
				   size_t whylen)
{
	static struct shared_res *res;
	struct isolated iso;

	if (!res) {
		res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (res == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
	}
	memset(res, 0, sizeof(*res));
	g.res = res;
	g.seed = seed;
	g.selftest = selftest;
	*rc = run_isolated(fuzz_seed, NULL, SEED_CAP_MS + 2 * OP_HANG_MS, &iso);
	snprintf(why, whylen, "%s", iso.why);
	return res;
}

int main(int argc, char **argv)
{
	const char *s = getenv("UFFDWP_FUZZ_SEED"), *d = getenv("UFFDWP_FUZZ_SECONDS"),
		*st = getenv("UFFDWP_FUZZ_SELFTEST");
	bool only_selftest = (st && !strcmp(st, "1")) || (argc > 1 && !strcmp(argv[1], "-S"));
	unsigned long seed;
	long duration, total_ops = 0, total_acc = 0, total_wp = 0;
	int64_t start = now_ms(), end;
	struct shared_res *res;
	char why[160];
	int rc, n = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	seed = s && *s ? strtoul(s, NULL, 0) :
		(unsigned long)time(NULL) * 1000003UL + getpid();
	duration = d && atol(d) > 0 ? atol(d) : 60;
	printf("# seed: %lu\n", seed);
	diag("replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz", seed);
	if (uffd_features(&g.supported))
		diag("no userfaultfd");
	g.nfs = parse_test_fs(g.fs, MAX_TEST_FS);
	g.hugetlb = hugetlb_available();
	diag("features %#llx, file systems %d, hugetlb %s, UFFDWP_FUZZ_SECONDS %ld",
	     (unsigned long long)g.supported, g.nfs, g.hugetlb ? "yes" : "no", duration);
	if (!g.supported) {
		tap_plan(1);
		tap_result(SKIP, "userfaultfd not available", "uffd-fuzz");
		return 0;
	}
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

	/* the self-check: a corrupted model is reported */
	res = run_seed(seed, true, &rc, why, sizeof(why));
	rc = res->corrupted && res->mismatch ? PASS : FAIL;
	if (rc)
		fail("self-test: corrupted=%d mismatch=%d violations=%ld %s", res->corrupted,
		     res->mismatch, res->violations, why);
	tap_result(rc, NULL, "self-test: the checker reports a corrupted shadow model (seed %lu)",
		   seed);
	n++;
	if (only_selftest) {
		tap_plan(n);
		return tap_totals(start);
	}

	end = start + duration * 1000;
	do {
		res = run_seed(seed, false, &rc, why, sizeof(why));
		if (rc == PASS && res->violations)
			rc = FAIL;
		if (rc != PASS)
			fail("seed %lu: %s%s%s (replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz)", seed,
			     res->violations ? res->first : "", *why ? " " : "", why, seed);
		tap_result(rc, NULL, "seed %lu: %ld ops, %ld accesses, %ld WP faults", seed,
			   res->ops, res->accesses, res->wp_faults);
		total_ops += res->ops;
		total_acc += res->accesses;
		total_wp += res->wp_faults;
		n++;
		seed++;
	} while (now_ms() < end);
	diag("%d seeds, %ld ops, %ld accesses, %ld WP faults in %lld s", n - 1, total_ops,
	     total_acc, total_wp, (long long)(now_ms() - start) / 1000);
	tap_plan(n);
	return tap_totals(start);
}
