// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-matrix: the uffd-wp semantics matrix, one TAP point per cell of
 *
 *   memory types  anon, anon-thp, shmem, shmem-private, hugetlb,
 *                 hugetlb-private, file-shared and file-private on every
 *                 file system of UFFDWP_FS; for THP split and collapse only
 *                 also shmem-thp (a 2 MiB shmem folio, shmem_enabled set to
 *                 "advise" for the duration of the test) and
 *                 file-shared-thp, file-private-thp (large page cache
 *                 folios) on the file systems that give large folios;
 *                 file-shared and file-private on the overlayfs of
 *                 UFFDWP_OVERLAYFS (a file of ext4 underneath: the events
 *                 below but none, memcg and compaction, sync mode only)
 *   x events      none, fsync, zap+evict, memcg reclaim with swap, NUMA
 *                 migration, compaction, fork (with and without
 *                 EVENT_FORK), mremap (EVENT_REMAP: the event's addresses
 *                 checked), mprotect toggling, THP split, THP collapse,
 *                 truncate, hole punch, mremap without EVENT_REMAP (shmem
 *                 and files, sync mode) (where they apply)
 *   x modes       sync (handler thread), SIGBUS (resolved in the faulting
 *                 thread's handler), async (WP_ASYNC + PAGEMAP_SCAN)
 *
 * Every cell runs in a process of its own with a timeout (a hang is a
 * failure) and does: fill the area (backing file, COW copies on private
 * mappings, a few units left unpopulated), protect all of it, apply the
 * event, verify every byte, write the set S1 (clean and dirty units),
 * verify, apply the event again (when it can be repeated), verify, rewrite
 * S1 (must not fault again) and write S2 (still protected: must be
 * reported), verify; for fd-backed
 * memory the file is then unmapped, synced, evicted and re-read with
 * pread() (private mappings: the file must be unchanged).  A first write to
 * a protected unit is reported exactly once (one writer thread) in the sync
 * and SIGBUS modes (the sync handler checks that the unit still holds what
 * it held before the write), or shows up as PAGE_IS_WRITTEN in async mode;
 * nothing else is reported.  Where the semantics are those of shmem
 * (truncate, hole punch, fork without EVENT_FORK, mremap without
 * EVENT_REMAP) the file cell compares what it observed with the shmem cell
 * of the same event and mode in the same run.
 *
 * After the cells, two points per memory type (anon, shmem, hugetlb and
 * file-shared on every file system) for re-registering a protected range
 * without MODE_WP (see "re-registration without WP" below):
 * reregister-failnth (fault injection through /proc/thread-self/fail-nth:
 * after every ENOMEM, no uffd-wp bit outside a VM_UFFD_WP vma, no write
 * hangs) and reregister-concurrent (WP dropped and restored on the middle
 * of a range while two writers fault and a handler resolves).
 *
 * Environment:
 *   UFFDWP_FS              space-separated "name:mountpoint" list
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *   UFFDWP_EXPECT_FAULT_INJECTION  1 or 0 (default): is fault injection
 *                          expected (reregister-failnth SKIPs without it
 *                          unless it is)
 *   UFFDWP_BUDGET          total time budget in seconds (default 600)
 *   UFFDWP_REREG_MS        milliseconds of each reregister-concurrent point
 *                          (default 1500)
 *
 * A large folio type checks before protecting that a PMD maps the 2 MiB
 * (PAGEMAP_SCAN PAGE_IS_HUGE); a file without one runs on whatever large
 * folios its page cache holds (/proc/kpageflags through the pagemap PFNs).
 * Which file systems give large folios is probed at start; xfs is expected
 * to (Linux 6.12), the others are tried when the probe finds some.
 *
 * The last line is "# stats: cells=N events=N bytes=N reports=N" (summed
 * by scripts/run-tests into stats.json).  Output is TAP; exit status 0 when no cell failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#define HPAGE		MEM_HPAGE
#define MAXU		512	/* units of an area (a THP: 512 x 4 KiB) */
#define NSLOTS		16	/* units that take part in writes */
#define CELL_TIMEOUT_S	30
#define DEFAULT_BUDGET_S 600
#define CGROUP		"/sys/fs/cgroup/uffdwp-matrix"
#define CG_MAX		(8UL << 20)
#define HUGETLB_NEED	16	/* free hugetlb pages a hugetlb cell wants */

/* ------------------------------------------------------------------ */
/* the table                                                           */

/* the memory types: every row of tests/lib/mem.c (its THP rows: see mem.h) */

enum event { E_NONE, E_FSYNC, E_ZAP, E_MEMCG, E_MIGRATE, E_COMPACT, E_FORK,
	     E_FORK_EV, E_MREMAP, E_MPROTECT, E_SPLIT, E_COLLAPSE, E_TRUNCATE,
	     E_PUNCH, E_MREMAP_NOEV, NR_EVENTS };

static const char *const ev_name[NR_EVENTS] = {
	"none", "fsync", "zap+evict", "memcg-swap", "numa-migrate", "compact",
	"fork", "fork-event", "mremap", "mprotect", "thp-split", "thp-collapse",
	"truncate", "punch-hole", "mremap-noevent",
};

/* events applied a second time before the second round of writes */
static const bool ev_repeat[NR_EVENTS] = {
	[E_NONE] = true, [E_FSYNC] = true, [E_ZAP] = true, [E_MEMCG] = true,
	[E_MIGRATE] = true, [E_COMPACT] = true, [E_MREMAP] = true,
	[E_MPROTECT] = true,
};

enum mode { MO_SYNC, MO_SIGBUS, MO_ASYNC, NR_MODES };

static const char *const mode_name[NR_MODES] = { "sync", "sigbus", "async" };

static bool is_hugetlb(const struct mem_type *mt)
{
	return mt->kind == MEM_HUGETLB;
}

static bool is_private(const struct mem_type *mt)
{
	return !mt->shared;
}

/* large folios of shmem and files (not anon-thp, which takes every event) */
static bool large_fd(const struct mem_type *mt)
{
	return mt->thp && mem_has_fd(mt);
}

/* the file rows on the overlayfs of UFFDWP_OVERLAYFS */
static bool is_overlay(const struct mem_type *mt)
{
	return mem_is_file(mt) && !strcmp(mt->fs, "overlay");
}

static bool applies(enum event e, const struct mem_type *mt)
{
	/* large folios of shmem and files: only the events that act on them */
	if (large_fd(mt))
		return e == E_SPLIT || e == E_COLLAPSE;
	/* overlayfs: the events on a file of its layer (ext4), sync mode only */
	if (is_overlay(mt) && (e == E_NONE || e == E_MEMCG || e == E_COMPACT))
		return false;
	switch (e) {
	case E_FSYNC:
		return mem_has_fd(mt);
	case E_MEMCG:
		return !is_hugetlb(mt);
	case E_SPLIT:
	case E_COLLAPSE:
		return mt->kind == MEM_ANON && mt->thp;
	case E_TRUNCATE:
	case E_PUNCH:
	case E_MREMAP_NOEV:
		return mt->kind == MEM_SHMEM || mem_is_file(mt);
	default:
		return true;
	}
}

/* the modes of an event on a memory type */
static bool mode_applies(enum event e, enum mode m, const struct mem_type *mt)
{
	return m == MO_SYNC || (e != E_MREMAP_NOEV && !is_overlay(mt));
}

/* ------------------------------------------------------------------ */
/* state shared between the runner and the cell processes              */

#define MAXOBS		64

/* what a cell leaves for the runner besides its counters (a MAP_SHARED page) */
struct cellres {
	bool passed;		/* the cell returned PASS */
	int nobs;
	uint8_t obs[MAXOBS];	/* observations compared with shmem */
	uint16_t obs_unit[MAXOBS];
};

/* the counters of "# stats:" (tests/stats), case_count() */
enum { S_CELLS, S_EVENTS, S_BYTES, S_REPORTS };

static const char *const stat_names[] = { "cells", "events", "bytes", "reports", NULL };

/* shmem observations of this run, by event, mode, private */
struct reference {
	bool valid;
	int nobs;
	uint8_t obs[MAXOBS];
	uint16_t obs_unit[MAXOBS];
};

static struct cellres *res;
static struct reference ref[NR_EVENTS][NR_MODES][2];
static size_t psize;
static uint64_t kfeatures;
static bool have_wp_file, have_numa, have_memcg;
static int numa_a, numa_b;
static char thp_enabled[64];
static char shmem_thp_why[160];	/* why shmem-thp cannot run, or "" */

/* ------------------------------------------------------------------ */
/* a cell                                                              */

struct cell {
	const struct mem_type *mt;
	enum event ev;
	enum mode mode;
};

/* the first problem the threads of a cell or point find */
struct problem {
	atomic_int bad;		/* why is complete once it is set */
	char why[384];
};

static void problem(struct problem *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct problem *p, const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;

	pthread_mutex_lock(&lock);
	if (!atomic_load(&p->bad)) {
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof(p->why), fmt, ap);
		va_end(ap);
		atomic_store(&p->bad, 1);
	}
	pthread_mutex_unlock(&lock);
}

/* observation bits of an affected unit (truncate, punch hole, fork) */
enum { OBS_ZERO = 1, OBS_BASE = 2, OBS_OLD = 3, OBS_REPORTED = 4, OBS_WRITTEN = 8 };

struct area {
	const struct cell *cell;
	const struct mem_type *mt;
	bool thp;		/* a 2 MiB THP or large folios (anon-thp too) */
	int fd;
	char path[PATH_MAX];
	char *volatile addr;
	size_t unit, nunits, len;
	uint32_t salt;
	uint32_t exp[MAXU];	/* expected stamp of each unit (0: zeros) */
	uint32_t base[MAXU];	/* stamp of the backing file */
	bool cow[MAXU];		/* a private unit has its own copy */
	int uffd, child_uffd;
	int efd;		/* stops the handler thread */
	int req[2], ack[2];	/* a forked child's SIGBUS -> the handler */
	atomic_int reports[MAXU];
	atomic_int child_reports[MAXU];
	struct problem pb;	/* unexpected messages */
	atomic_int remaps;	/* UFFD_EVENT_REMAP messages handled */
	uintptr_t remap_from, remap_to;	/* of the last one */
	pthread_t thr;
	bool thr_on;
};

static struct area *cur;	/* for the SIGBUS handler */
static bool in_fork_child;
static struct {
	atomic_int reports[MAXU];
	int sigbus_extra;
} *child_share;

enum { G_BASE = 1, G_PRE, G_A, G_B1, G_B2, G_CHILD };

static uint32_t stamp(struct area *a, int gen)
{
	return a->salt | gen;
}

static uint64_t word(uint32_t st, size_t u, size_t w)
{
	return st ? ((uint64_t)st << 32) ^ ((uint64_t)u << 20) ^ w : 0;
}

static void fill(char *p, size_t unit, size_t u, uint32_t st)
{
	volatile uint64_t *q = (volatile uint64_t *)p;
	size_t w;

	for (w = 0; w < unit / 8; w++)
		q[w] = word(st, u, w);
}

/* the first word that differs, or -1 */
static long diff(const char *p, size_t unit, size_t u, uint32_t st)
{
	const volatile uint64_t *q = (const volatile uint64_t *)p;
	size_t w;

	for (w = 0; w < unit / 8; w++)
		if (q[w] != word(st, u, w))
			return w;
	return -1;
}

/* which of the stamps the unit holds: the index in sts[], -1 if none */
static int classify(const char *p, size_t unit, size_t u, const uint32_t *sts, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (diff(p, unit, u, sts[i]) < 0)
			return i;
	return -1;
}

/* the units that take part in writes: NSLOTS evenly spread */
static size_t step(struct area *a)
{
	return a->nunits > NSLOTS ? a->nunits / NSLOTS : 1;
}

static bool in_set(struct area *a, size_t u, int set)
{
	size_t s;

	if (u % step(a))
		return false;
	s = u / step(a);
	return set == 1 ? s % 2 == 0 : s % 4 == 1;
}

/*
 * units whose reports are compared with shmem's, not asserted: the upper
 * half after a truncate or a hole punch, all after an mremap without
 * EVENT_REMAP (the range is no longer registered)
 */
static bool affected(struct area *a, size_t u)
{
	return ((a->cell->ev == E_TRUNCATE || a->cell->ev == E_PUNCH) &&
		u >= a->nunits / 2) || a->cell->ev == E_MREMAP_NOEV;
}

static void observe(size_t u, int what)
{
	if (res->nobs < MAXOBS) {
		res->obs_unit[res->nobs] = u;
		res->obs[res->nobs++] = what;
	}
}

static int check_all(struct area *a, const char *when)
{
	size_t u;
	long w;

	for (u = 0; u < a->nunits; u++) {
		w = diff(a->addr + u * a->unit, a->unit, u, a->exp[u]);
		if (w >= 0)
			return fail("%s: unit %zu word %ld is %#llx, expected %#llx", when,
				    u, w,
				    (unsigned long long)((uint64_t *)(a->addr + u * a->unit))[w],
				    (unsigned long long)word(a->exp[u], u, w));
		case_count(S_BYTES, a->unit);
	}
	return PASS;
}

/* ------------------------------------------------------------------ */
/* fault handling                                                      */

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	struct area *a = cur;
	uintptr_t p = (uintptr_t)si->si_addr, base = (uintptr_t)a->addr;
	size_t u;
	char c;

	(void)sig;
	(void)uc;
	if (p < base || p >= base + a->len) {
		static const char m[] = "# FAIL: SIGBUS outside the area\n";

		if (write(1, m, sizeof(m) - 1) < 0)
			_exit(FAIL);
		_exit(FAIL);
	}
	u = (p - base) / a->unit;
	if (in_fork_child) {
		/* the child's context lives in the parent: ask it */
		if (atomic_fetch_add(&child_share->reports[u], 1) > 2)
			_exit(FAIL);
		if (write(a->req[1], &u, sizeof(u)) != sizeof(u) ||
		    read(a->ack[0], &c, 1) != 1)
			_exit(FAIL);
		return;
	}
	if (atomic_fetch_add(&a->reports[u], 1) > 2) {
		static const char m[] = "# FAIL: SIGBUS repeats after un-protect\n";

		if (write(1, m, sizeof(m) - 1) < 0)
			_exit(FAIL);
		_exit(FAIL);
	}
	if (uffd_wp(a->uffd, (void *)(base + u * a->unit), a->unit, false))
		_exit(FAIL);
}

static void handle_msg(struct area *a, int fd, struct uffd_msg *m)
{
	uintptr_t base = (uintptr_t)a->addr, p;
	bool child = fd == a->child_uffd;
	size_t u;
	int e;

	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		p = m->arg.pagefault.address;
		if (!(m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
			problem(&a->pb, "fault at %#lx without the WP flag (%#llx)", (long)p,
				(unsigned long long)m->arg.pagefault.flags);
			return;
		}
		if (a->cell->mode != MO_SYNC)
			problem(&a->pb, "a fault message in %s mode", mode_name[a->cell->mode]);
		if (p < base || p >= base + a->len) {
			problem(&a->pb, "fault at %#lx outside the area", (long)p);
			return;
		}
		u = (p - base) / a->unit;
		/* the write that faulted has not changed the unit yet */
		if (!child && diff(a->addr + u * a->unit, a->unit, u, a->exp[u]) >= 0)
			problem(&a->pb, "unit %zu changed before its write fault was resolved", u);
		atomic_fetch_add(child ? &a->child_reports[u] : &a->reports[u], 1);
		e = uffd_wp(fd, (void *)(base + u * a->unit), a->unit, false);
		if (e)
			problem(&a->pb, "UFFDIO_WRITEPROTECT clear: %s", strerror(e));
		break;
	case UFFD_EVENT_FORK:
		if (a->child_uffd >= 0)
			problem(&a->pb, "a second fork event");
		else
			a->child_uffd = m->arg.fork.ufd;
		break;
	case UFFD_EVENT_REMAP:
		/* the addresses are checked by do_mremap() */
		if (m->arg.remap.len != a->len)
			problem(&a->pb, "remap event %#llx+%#llx, area %#lx+%#zx",
				(unsigned long long)m->arg.remap.from,
				(unsigned long long)m->arg.remap.len, (long)base, a->len);
		a->remap_from = m->arg.remap.from;
		a->remap_to = m->arg.remap.to;
		atomic_fetch_add(&a->remaps, 1);
		break;
	default:
		problem(&a->pb, "unexpected event %u", m->event);
	}
}

/*
 * The loop of a handler thread: until stop (an eventfd) is readable, wait
 * (a second at most) for the fds *fd[0 .. n) (-1: none now) and call
 * ready(arg, k, revents) for each one with an event, in that order.  0, or
 * the errno of poll().
 */
static int handler_loop(int stop, int *const *fd, int n,
			void (*ready)(void *arg, int k, short revents), void *arg)
{
	struct pollfd pf[4];
	int k;

	for (;;) {
		pf[0] = (struct pollfd){ .fd = stop, .events = POLLIN };
		for (k = 0; k < n; k++)
			pf[k + 1] = (struct pollfd){ .fd = *fd[k], .events = POLLIN };
		if (poll(pf, n + 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (pf[0].revents)
			return 0;
		for (k = 0; k < n; k++)
			if (pf[k + 1].fd >= 0 && pf[k + 1].revents)
				ready(arg, k, pf[k + 1].revents);
	}
}

/* a handler thread fn(arg) and the eventfd that stops it */
static int handler_start(int *efd, pthread_t *thr, void *(*fn)(void *), void *arg)
{
	*efd = eventfd(0, EFD_CLOEXEC);
	if (*efd < 0)
		return fail("eventfd: %m");
	if (pthread_create(thr, NULL, fn, arg))
		return fail("pthread_create");
	return PASS;
}

/* stop it; the first problem of the threads fails */
static int handler_stop(int efd, pthread_t thr, struct problem *pb)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) != sizeof(one))
		return fail("eventfd write: %m");
	pthread_join(thr, NULL);
	return atomic_load(&pb->bad) ? fail("%s", pb->why) : PASS;
}

/* the cell's handler: k 0 its uffd, 1 a forked child's SIGBUS requests, 2 the child's uffd */
static void cell_ready(void *arg, int k, short revents)
{
	struct area *a = arg;
	int fd = k == 0 ? a->uffd : k == 1 ? a->req[0] : a->child_uffd;
	struct uffd_msg m;
	size_t u;
	char c = 1;

	if (k == 1) {
		if (!(revents & POLLIN) || read(fd, &u, sizeof(u)) != sizeof(u) || u >= a->nunits)
			return;
		atomic_fetch_add(&a->child_reports[u], 1);
		if (a->child_uffd >= 0)
			uffd_wp(a->child_uffd, a->addr + u * a->unit, a->unit, false);
		if (write(a->ack[1], &c, 1) != 1)
			problem(&a->pb, "ack: %m");
		return;
	}
	if (revents & (POLLERR | POLLHUP)) {
		if (k == 2) {
			close(a->child_uffd);
			a->child_uffd = -1;
		}
		return;
	}
	while (read(fd, &m, sizeof(m)) == sizeof(m))
		handle_msg(a, fd, &m);
}

static void *handler(void *arg)
{
	struct area *a = arg;
	int *const fds[] = { &a->uffd, &a->req[0], &a->child_uffd };
	int e = handler_loop(a->efd, fds, 3, cell_ready, a);

	if (e)
		problem(&a->pb, "poll: %s", strerror(e));
	return NULL;
}

/* ------------------------------------------------------------------ */
/* PAGEMAP_SCAN                                                        */

/* units with a page in category cat into got[]; the number of bytes or -1 */
static long scan(struct area *a, int pid, uint64_t cat, bool *got)
{
	return pagemap_scan(pid, a->addr, a->len, cat, a->unit, got);
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

/* anon-thp: a 2 MiB THP (PAGEMAP_SCAN PAGE_IS_HUGE) after MADV_HUGEPAGE */
static int check_thp(struct area *a)
{
	long huge;

	a->addr[0] = 1;
	huge = scan(a, getpid(), PAGE_IS_HUGE, NULL);
	if (huge < 0)
		return fail("PAGEMAP_SCAN(PAGE_IS_HUGE): %m");
	if (huge != (long)HPAGE) {
		if (!strstr(thp_enabled, "[always]") && !strstr(thp_enabled, "[madvise]"))
			return case_skip("THP unavailable (enabled: %s)",
					 thp_enabled[0] ? thp_enabled : "no sysfs file");
		return fail("no THP after MADV_HUGEPAGE although THP is enabled (%ld huge bytes)",
			    huge);
	}
	return PASS;
}

/* ------------------------------------------------------------------ */
/* large folios of shmem and files                                     */

#define THP_SYSFS		"/sys/kernel/mm/transparent_hugepage/"

/*
 * Before protecting a shmem/file large folio type: a PMD maps it, or (files)
 * large folios back it; shmem without a PMD fails.
 */
static int check_large(struct area *a)
{
	const struct mem_type *mt = a->mt;
	struct folios f;

	(void)*(volatile char *)a->addr;
	folios_of(a->addr, a->len, &f);
	if (f.huge < 0)
		return fail("PAGEMAP_SCAN(PAGE_IS_HUGE): %m");
	if (f.huge == (long)HPAGE) {
		diag("%s %s: before protection: %s", mt->name, mt->fs, folios_str(&f));
		return PASS;
	}
	mem_touch(a->addr, a->len);
	folios_of(a->addr, a->len, &f);
	if (!mem_is_file(a->mt))
		return fail("no PMD mapping of a shmem THP with shmem_enabled=advise and MADV_HUGEPAGE: %s",
			    folios_str(&f));
	if (!f.pfns)
		return case_skip("%s: no PMD mapping and the folios cannot be seen (%s)",
				 mt->fs, folios_str(&f));
	if (f.large) {
		diag("%s %s: no PMD mapping, split/collapse on the large folios there: %s",
		     mt->name, mt->fs, folios_str(&f));
		return PASS;
	}
	if (mt->lf_expected)
		return fail("%s: no large folio after a MADV_HUGEPAGE fault although %s has large folios in 6.12: %s",
			    mt->fs, mt->fs, folios_str(&f));
	return case_skip("%s: no large folio in the page cache after a MADV_HUGEPAGE fault (%s)",
			 mt->fs, folios_str(&f));
}

static int setup(struct area *a)
{
	const struct mem_type *mt = a->mt;
	bool priv = is_private(mt);
	struct mem_region reg;
	size_t u;
	char *tmp;
	int e;

	a->fd = -1;
	a->thp = mt->thp;
	a->unit = mem_page_size(mt);
	a->nunits = a->thp ? HPAGE / psize : is_hugetlb(mt) ? 4 : NSLOTS;
	a->len = a->unit * a->nunits;
	a->salt = ((uint32_t)getpid() & 0xfffff) << 8;
	for (u = 0; u < a->nunits; u++)
		a->base[u] = mem_has_fd(mt) ? stamp(a, G_BASE) : 0;

	if (is_hugetlb(mt) && meminfo("HugePages_Free:") < HUGETLB_NEED)
		return case_skip("fewer than %d free hugetlb pages (HugePages_Free %ld)",
				 HUGETLB_NEED, meminfo("HugePages_Free:"));
	e = mem_create(&reg, mt, a->len, "uffd-wp-matrix");
	if (e)
		return fail("memfd_create/open/ftruncate: %s", strerror(e));
	a->fd = reg.fd;
	snprintf(a->path, sizeof(a->path), "%s", reg.path);
	if (mem_has_fd(mt)) {
		/*
		 * the backing data, through a shared mapping: hugetlbfs has no
		 * write(), and the MADV_HUGEPAGE faults of this mapping are what
		 * allocates the large folios of the large folio types
		 */
		tmp = mem_map_fd(a->fd, a->len, MAP_SHARED, a->thp);
		if (tmp == MAP_FAILED)
			return fail("mmap backing: %m");
		for (u = 0; u < a->nunits; u++)
			fill(tmp + u * a->unit, a->unit, u, a->base[u]);
		if (msync(tmp, a->len, MS_SYNC))
			return fail("msync: %m");
		munmap(tmp, a->len);
		if (mem_is_file(mt) && fsync(a->fd))
			return fail("fsync: %m");
	}
	e = mem_map(&reg);
	if (e)
		return fail("mmap: %s", strerror(e));
	a->addr = reg.addr;
	if (a->thp)
		TRY(mem_has_fd(mt) ? check_large(a) : check_thp(a));
	/*
	 * anon: everything written; fd-backed: S2 units stay unmapped, slots
	 * 2 mod 4 (half of S1) are written (dirty; COW copies when private),
	 * the others are read (slots 0 mod 4, the other half of S1, clean;
	 * slots 3 mod 4, never written)
	 */
	for (u = 0; u < a->nunits; u++) {
		a->exp[u] = a->base[u];
		if (!mem_has_fd(mt) || (u % step(a) == 0 && (u / step(a)) % 4 == 2)) {
			fill(a->addr + u * a->unit, a->unit, u, stamp(a, G_PRE));
			a->exp[u] = stamp(a, G_PRE);
			a->cow[u] = priv;
		} else if (!in_set(a, u, 2)) {
			if (diff(a->addr + u * a->unit, a->unit, u, a->exp[u]) >= 0)
				return fail("unit %zu: backing data wrong after setup", u);
		}
	}
	return check_all(a, "after setup");
}

/* ------------------------------------------------------------------ */
/* events                                                              */

/*
 * Round 0 zaps (MADV_DONTNEED: pte markers), round 1 reclaims (MADV_PAGEOUT:
 * swap entries and markers from rmap); anon memory always reclaims (a zap
 * there drops data and protection by design), hugetlb always zaps.  File
 * pages are then evicted and must have left the page cache.
 */
static int do_evict(struct area *a, int round)
{
	bool zap = is_hugetlb(a->mt) || (mem_has_fd(a->mt) && round == 0);
	size_t u;
	int left;

	if (zap) {
		/* dirty ptes too: the page cache is written back after the zap */
		if (madvise(a->addr, a->len, MADV_DONTNEED))
			return fail("MADV_DONTNEED: %m");
		for (u = 0; u < a->nunits; u++) {
			if (a->cow[u]) {	/* private copies are dropped */
				a->cow[u] = false;
				a->exp[u] = a->base[u];
			}
		}
	} else {
		if (mem_is_file(a->mt) && (msync(a->addr, a->len, MS_SYNC) || fsync(a->fd)))
			return fail("msync/fsync: %m");
		if (madvise(a->addr, a->len, MADV_PAGEOUT))
			return fail("MADV_PAGEOUT: %m");
	}
	if (!mem_is_file(a->mt))
		return PASS;
	/* file pages: they must really leave the page cache */
	left = mem_evict(a->fd, a->addr, a->len, !zap, a->cow);
	if (left < 0)
		return fail("MADV_PAGEOUT/mincore: %m");
	if (left)
		return fail("%d file pages still in the page cache after %s and POSIX_FADV_DONTNEED",
			    left, zap ? "MADV_DONTNEED" : "MADV_PAGEOUT");
	return PASS;
}

static int do_memcg(struct area *a)
{
	size_t n = CG_MAX + (4UL << 20), i;
	unsigned char vec[MAXU];
	char *b;
	int e;

	/* more than memory.max of anon memory: our pages go to swap or away */
	b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return fail("mmap balloon: %m");
	for (i = 0; i < n; i += psize)
		b[i] = (char)i | 1;
	munmap(b, n);
	e = write_text(CGROUP "/memory.reclaim", "64M");
	if (e && e != EAGAIN)
		return fail("memory.reclaim: %s", strerror(e));
	if (!is_hugetlb(a->mt) && !mincore(a->addr, a->len, vec)) {
		for (n = 0, i = 0; i < a->len / psize; i++)
			n += vec[i] & 1;
		diag("memcg: %zu of %zu pages resident after reclaim", n, a->len / psize);
	}
	return PASS;
}

/*
 * Move the mapped pages to the other node (up to 3 tries); those of shmem
 * and files (pages of 4 KiB) must all get there.
 */
static int do_migrate(struct area *a, int round)
{
	size_t n = a->len / (is_hugetlb(a->mt) ? HPAGE : psize), i;
	int to = round % 2 ? numa_a : numa_b, moved = 0, left = 0, err = 0, tries;
	bool must = (a->mt->kind == MEM_SHMEM || mem_is_file(a->mt)) && !a->thp;
	void **pages = calloc(n, sizeof(*pages));
	int *nodes = calloc(n, sizeof(int)), *status = calloc(n, sizeof(int));

	if (!pages || !nodes || !status)
		return fail("calloc");
	for (i = 0; i < n; i++) {
		pages[i] = a->addr + i * (a->len / n);
		nodes[i] = to;
	}
	for (tries = 0; tries < 3; tries++) {
		if (syscall(__NR_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE) < 0)
			return fail("move_pages: %m");
		for (moved = left = 0, i = 0; i < n; i++) {
			if (status[i] == to)
				moved++;
			else if (status[i] != -ENOENT)	/* not mapped */
				left++;
			if (status[i] < 0 && status[i] != -ENOENT)
				err = status[i];
		}
		if (!left)
			break;
	}
	diag("move_pages to node %d: %d of %zu pages there%s%s", to, moved, n,
	     err ? ", last error " : "", err ? strerror(-err) : "");
	free(pages);
	free(nodes);
	free(status);
	if (must && left)
		return fail("%d mapped page(s) not on node %d after 3 tries of move_pages", left, to);
	return PASS;
}

#define SPLIT_DEBUGFS	"/sys/kernel/debug/split_huge_pages"

/*
 * split the PMD (partial mprotect) and the folios (debugfs): the mapped
 * ones by address; for shmem and files also those of the page cache by file
 * offset, written back first (a dirty xfs folio cannot be split: its
 * iomap state is not released)
 */
static int do_split(struct area *a)
{
	struct folios f;
	char buf[128];
	long huge;
	int e, ef = 0;

	if (mem_has_fd(a->mt) && a->thp) {
		mem_touch(a->addr, a->len);
		folios_of(a->addr, a->len, &f);
		diag("split: protected, before (pages read): %s", folios_str(&f));
		if (mem_is_file(a->mt) && (msync(a->addr, a->len, MS_SYNC) || fsync(a->fd)))
			return fail("msync/fsync: %m");
	}
	if (mprotect(a->addr + HPAGE / 2, psize, PROT_READ) ||
	    mprotect(a->addr + HPAGE / 2, psize, PROT_READ | PROT_WRITE))
		return fail("partial mprotect: %m");
	snprintf(buf, sizeof(buf), "%d,%#lx,%#lx", (int)getpid(), (long)a->addr,
		 (long)(a->addr + a->len));
	e = write_text(SPLIT_DEBUGFS, buf);
	if (mem_has_fd(a->mt) && a->thp) {
		snprintf(buf, sizeof(buf), "/proc/self/fd/%d,0x0,0x%lx", a->fd,
			 (unsigned long)(a->len / psize));
		ef = write_text(SPLIT_DEBUGFS, buf);
		mem_touch(a->addr, a->len);
		folios_of(a->addr, a->len, &f);
		diag("split: debugfs split_huge_pages by address %s, by file offset %s; after (pages read): %s",
		     e ? strerror(e) : "done", ef ? strerror(ef) : "done", folios_str(&f));
		return PASS;
	}
	huge = scan(a, getpid(), PAGE_IS_HUGE, NULL);
	diag("split: debugfs split_huge_pages %s, %ld bytes still mapped huge",
	     e ? strerror(e) : "done", huge);
	return PASS;
}

static int do_collapse(struct area *a)
{
	struct folios f;
	long huge;
	int r;

	TRY(do_split(a));
	r = madvise(a->addr, a->len, MADV_COLLAPSE);
	if (mem_has_fd(a->mt) && a->thp) {
		r = r ? errno : 0;
		mem_touch(a->addr, a->len);
		folios_of(a->addr, a->len, &f);
		diag("MADV_COLLAPSE: %s; after (pages read): %s", r ? strerror(r) : "done",
		     folios_str(&f));
		return PASS;
	}
	huge = scan(a, getpid(), PAGE_IS_HUGE, NULL);
	diag("MADV_COLLAPSE: %s, %ld bytes mapped huge", r ? strerror(errno) : "done", huge);
	return PASS;
}

static int do_mremap(struct area *a)
{
	size_t extra = a->thp || is_hugetlb(a->mt) ? HPAGE : 0;
	char *r = mmap(NULL, a->len + extra, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), *to, *got, *from;
	int64_t end;
	int n;

	if (r == MAP_FAILED)
		return fail("mmap: %m");
	to = extra ? (char *)(((uintptr_t)r + HPAGE - 1) & ~(HPAGE - 1)) : r;
	from = a->addr;
	n = atomic_load(&a->remaps);
	got = mremap(a->addr, a->len, a->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (got == MAP_FAILED)
		return fail("mremap: %m");
	a->addr = got;
	if (a->cell->ev != E_MREMAP)
		return PASS;
	/* EVENT_REMAP: mremap() returned once the event was read, the handler records it */
	end = now_ms() + 5000;
	while (atomic_load(&a->remaps) == n && now_ms() < end)
		sleep_ms(1);
	if (atomic_load(&a->remaps) != n + 1)
		return fail("%d UFFD_EVENT_REMAP messages for one mremap()",
			    atomic_load(&a->remaps) - n);
	if (a->remap_from != (uintptr_t)from || a->remap_to != (uintptr_t)got)
		return fail("UFFD_EVENT_REMAP from %#lx to %#lx, mremap() moved %p to %p",
			    (long)a->remap_from, (long)a->remap_to, from, got);
	return PASS;
}

static int do_truncate(struct area *a)
{
	size_t half = a->len / 2;

	if (a->cell->ev == E_TRUNCATE) {
		if (ftruncate(a->fd, half) || ftruncate(a->fd, a->len))
			return fail("ftruncate: %m");
	} else if (fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, half, half)) {
		return fail("fallocate(PUNCH_HOLE): %m");
	}
	return PASS;
}

static int do_fork_child(struct area *a)
{
	bool event = a->cell->ev == E_FORK_EV, written[MAXU];
	size_t u;

	in_fork_child = true;
	for (u = 0; u < a->nunits; u++)
		if (diff(a->addr + u * a->unit, a->unit, u, a->exp[u]) >= 0)
			return fail("child: unit %zu differs from the parent's", u);
	for (u = 0; u < a->nunits; u++)
		if (in_set(a, u, 1))
			fill(a->addr + u * a->unit, a->unit, u, stamp(a, G_CHILD));
	for (u = 0; u < a->nunits; u++)
		if (diff(a->addr + u * a->unit, a->unit, u,
			 in_set(a, u, 1) ? stamp(a, G_CHILD) : a->exp[u]) >= 0)
			return fail("child: unit %zu wrong after its writes", u);
	if (a->cell->mode == MO_ASYNC && event) {
		if (scan(a, getpid(), PAGE_IS_WRITTEN, written) < 0)
			return fail("child: PAGEMAP_SCAN: %m");
		for (u = 0; u < a->nunits; u++)
			if (written[u] != in_set(a, u, 1))
				return fail("child: unit %zu written %d in PAGEMAP_SCAN, wrote %d",
					    u, written[u], in_set(a, u, 1));
	}
	return PASS;
}

static int do_fork(struct area *a)
{
	bool event = a->cell->ev == E_FORK_EV;
	int status, n;
	size_t u;
	pid_t pid;

	child_share = mmap(NULL, sizeof(*child_share), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (child_share == MAP_FAILED)
		return fail("mmap: %m");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
	if (!pid) {
		fflush(stdout);
		_exit(do_fork_child(a));
	}
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid: %m");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fail("fork child failed (status %#x)", status);
	if (!is_private(a->mt))	/* the child's writes are ours too */
		for (u = 0; u < a->nunits; u++)
			if (in_set(a, u, 1))
				a->exp[u] = stamp(a, G_CHILD);
	/* what the child saw, per written unit: reported or not */
	for (u = 0; u < a->nunits; u++) {
		if (!in_set(a, u, 1))
			continue;
		n = atomic_load(&a->child_reports[u]);
		if (event && a->cell->mode != MO_ASYNC && n != 1)
			return fail("child (EVENT_FORK): unit %zu reported %d times, expected once",
				    u, n);
		if (event && a->cell->mode == MO_ASYNC && n)
			return fail("child (EVENT_FORK, async): unit %zu reported", u);
		if (!event)
			observe(u, OBS_WRITTEN | (n ? OBS_REPORTED : 0));
		if (!event && !mem_is_file(a->mt) && n)
			return fail("child (no EVENT_FORK): unit %zu reported %d times", u, n);
	}
	return PASS;
}

static int apply_event(struct area *a, int round)
{
	int e;

	if (a->cell->ev != E_NONE)
		case_count(S_EVENTS, 1);
	switch (a->cell->ev) {
	case E_NONE:
		return PASS;
	case E_FSYNC:
		if (msync(a->addr, a->len, MS_SYNC) || fsync(a->fd))
			return fail("msync/fsync: %m");
		return PASS;
	case E_ZAP:
		return do_evict(a, round);
	case E_MEMCG:
		return do_memcg(a);
	case E_MIGRATE:
		return do_migrate(a, round);
	case E_COMPACT:
		e = write_text("/proc/sys/vm/compact_memory", "1");
		return e ? fail("compact_memory: %s", strerror(e)) : PASS;
	case E_FORK:
	case E_FORK_EV:
		return do_fork(a);
	case E_MREMAP:
	case E_MREMAP_NOEV:
		return do_mremap(a);
	case E_MPROTECT:
		if (mprotect(a->addr, a->len, PROT_READ) ||
		    mprotect(a->addr, a->len, PROT_READ | PROT_WRITE) ||
		    mprotect(a->addr, a->len / 2, PROT_READ) ||
		    mprotect(a->addr, a->len / 2, PROT_READ | PROT_WRITE))
			return fail("mprotect: %m");
		return PASS;
	case E_SPLIT:
		return do_split(a);
	case E_COLLAPSE:
		return do_collapse(a);
	case E_TRUNCATE:
	case E_PUNCH:
		return do_truncate(a);
	default:
		return fail("no event %d", a->cell->ev);
	}
}

/* after truncate/punch: what each affected unit holds, into exp and obs */
static int observe_truncate(struct area *a)
{
	uint32_t sts[3];
	size_t u;
	int c;

	for (u = a->nunits / 2; u < a->nunits; u++) {
		sts[0] = 0;
		sts[1] = a->base[u];
		sts[2] = a->exp[u];
		c = classify(a->addr + u * a->unit, a->unit, u, sts, 3);
		if (c < 0)
			return fail("unit %zu after %s: neither zeros, the file data nor the old data",
				    u, ev_name[a->cell->ev]);
		a->exp[u] = sts[c];
		a->base[u] = 0;	/* the file data is a hole from now on */
		observe(u, c + 1);
	}
	return PASS;
}

/* ------------------------------------------------------------------ */
/* one round of writes                                                 */

static int write_round(struct area *a, int set, int gen, bool want_reports)
{
	size_t u;
	int n;

	for (u = 0; u < a->nunits; u++) {
		if (!in_set(a, u, set))
			continue;
		fill(a->addr + u * a->unit, a->unit, u, stamp(a, gen));
		a->exp[u] = stamp(a, gen);
		if (is_private(a->mt))
			a->cow[u] = true;
	}
	if (atomic_load(&a->pb.bad))
		return fail("handler: %s", a->pb.why);
	if (a->cell->mode == MO_ASYNC)
		return PASS;
	for (u = 0; u < a->nunits; u++) {
		n = atomic_exchange(&a->reports[u], 0);
		case_count(S_REPORTS, n);
		if (affected(a, u) && in_set(a, u, set)) {
			/* compared with shmem, not asserted */
			observe(u, OBS_WRITTEN | (n ? OBS_REPORTED : 0));
			if (n > 1)
				return fail("unit %zu reported %d times", u, n);
			continue;
		}
		if (n != (want_reports && in_set(a, u, set)))
			return fail("%s: unit %zu (%s) reported %d times, expected %d",
				    gen == G_A ? "first writes after the event" :
				    gen == G_B1 ? "rewrites of un-protected units" :
				    "first writes after the event again", u,
				    in_set(a, u, set) ? "written" : "not written", n,
				    want_reports && in_set(a, u, set));
	}
	return PASS;
}

/* async: the written units since protection are exactly want_sets */
static int check_scan(struct area *a, int sets)
{
	bool written[MAXU];
	size_t u;
	bool want;

	if (a->cell->mode != MO_ASYNC)
		return PASS;
	if (scan(a, getpid(), PAGE_IS_WRITTEN, written) < 0)
		return fail("PAGEMAP_SCAN(PAGE_IS_WRITTEN): %m");
	for (u = 0; u < a->nunits; u++) {
		want = ((sets & 1) && in_set(a, u, 1)) || ((sets & 2) && in_set(a, u, 2));
		case_count(S_REPORTS, written[u] && want);
		if (affected(a, u)) {
			observe(u, (want ? OBS_WRITTEN : 0) | (written[u] ? OBS_REPORTED : 0));
			continue;
		}
		if (written[u] != want)
			return fail("unit %zu: PAGEMAP_SCAN says %swritten, it was %swritten since protection",
				    u, written[u] ? "" : "not ", want ? "" : "not ");
	}
	return PASS;
}

/* fd-backed: unmap, write back, evict, re-read with pread() */
static int check_backing(struct area *a)
{
	char *buf;
	size_t u;
	long w;

	if (!mem_has_fd(a->mt))
		return PASS;
	if (munmap(a->addr, a->len))
		return fail("munmap: %m");
	if (mem_is_file(a->mt)) {
		if (fsync(a->fd))
			return fail("fsync: %m");
		posix_fadvise(a->fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	buf = malloc(a->unit);
	if (!buf)
		return fail("malloc");
	/*
	 * Fault the buffer in from user space first: a pread() of a 2 MiB
	 * hugetlb unit into an unpopulated buffer takes its 512 page faults
	 * inside one copy in the kernel, where (no preemption, TCG, with
	 * compaction running) it once went 21 s without an RCU quiescent
	 * state on CPU 0: an RCU stall report that fails the run.
	 */
	memset(buf, 0, a->unit);
	for (u = 0; u < a->nunits; u++) {
		if (pread(a->fd, buf, a->unit, u * a->unit) != (ssize_t)a->unit) {
			return fail("pread unit %zu: %m", u);
		}
		w = diff(buf, a->unit, u, is_private(a->mt) ? a->base[u] : a->exp[u]);
		if (w >= 0)
			return fail("file re-read: unit %zu word %ld is %#llx, expected %#llx%s",
				    u, w, (unsigned long long)((uint64_t *)buf)[w],
				    (unsigned long long)word(is_private(a->mt) ?
							     a->base[u] : a->exp[u], u, w),
				    is_private(a->mt) ? " (MAP_PRIVATE must not change the file)" : "");
		case_count(S_BYTES, a->unit);
	}
	free(buf);
	return PASS;
}

static int compare_ref(struct area *a)
{
	const struct reference *r = &ref[a->cell->ev][a->cell->mode][is_private(a->mt)];
	int i;

	if (!mem_is_file(a->mt) || (a->cell->ev != E_TRUNCATE && a->cell->ev != E_PUNCH &&
				   a->cell->ev != E_FORK && a->cell->ev != E_MREMAP_NOEV))
		return PASS;
	if (!r->valid)
		return fail("no %s result to compare with (it failed or did not run)",
			    is_private(a->mt) ? "shmem-private" : "shmem");
	if (r->nobs != res->nobs)
		return fail("%d observations, %s had %d", res->nobs,
			    is_private(a->mt) ? "shmem-private" : "shmem", r->nobs);
	for (i = 0; i < r->nobs; i++)
		if (r->obs[i] != res->obs[i] || r->obs_unit[i] != res->obs_unit[i])
			return fail("observation %d, unit %u: %#x, %s saw %#x for unit %u (1 zeros, 2 file data, 3 old data after the event; 8 written, 4 reported or PAGE_IS_WRITTEN)",
				    i, res->obs_unit[i], res->obs[i],
				    is_private(a->mt) ? "shmem-private" : "shmem",
				    r->obs[i], r->obs_unit[i]);
	return PASS;
}

static int cell_body(const void *arg)
{
	const struct cell *cl = arg;
	struct area *a = calloc(1, sizeof(*a));
	uint64_t feat = 0, supp;
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	enum event ev = cl->ev;
	int e, rc;

	if (!a)
		return fail("calloc");
	a->cell = cl;
	a->mt = cl->mt;
	a->child_uffd = -1;
	cur = a;
	if (ev == E_MEMCG && write_text(CGROUP "/cgroup.procs", "0"))
		return fail("joining " CGROUP ": %m");
	TRY(setup(a));

	if (cl->mode == MO_SIGBUS)
		feat |= UFFD_FEATURE_SIGBUS;
	if (cl->mode == MO_ASYNC)
		feat |= UFFD_FEATURE_WP_ASYNC;
	if (ev == E_FORK_EV)
		feat |= UFFD_FEATURE_EVENT_FORK;
	if (ev == E_MREMAP)
		feat |= UFFD_FEATURE_EVENT_REMAP;
	a->uffd = uffd_open(feat, &supp);
	if (a->uffd < 0)
		return fail("userfaultfd/UFFDIO_API(%#llx): %s", (unsigned long long)feat,
			    strerror(-a->uffd));
	e = uffd_register(a->uffd, a->addr, a->len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e)
		return fail("UFFDIO_REGISTER(WP): %s", strerror(e));
	if (pipe2(a->req, O_CLOEXEC) || pipe2(a->ack, O_CLOEXEC))
		return fail("pipe: %m");
	if (sigaction(SIGBUS, &sa, NULL))
		return fail("sigaction: %m");
	TRY(handler_start(&a->efd, &a->thr, handler, a));
	e = uffd_wp(a->uffd, a->addr, a->len, true);
	if (e)
		return fail("UFFDIO_WRITEPROTECT(WP): %s", strerror(e));

	/* round A: the event, then the first writes to protected units */
	TRY(apply_event(a, 0));
	if (ev == E_TRUNCATE || ev == E_PUNCH)
		TRY(observe_truncate(a));
	TRY(check_all(a, "after the event"));
	TRY(write_round(a, 1, G_A, true));
	TRY(check_all(a, "after the first writes"));
	TRY(check_scan(a, 1));

	/* round B: again, then rewrites (no report) and first writes (reports) */
	if (ev_repeat[ev]) {
		TRY(apply_event(a, 1));
		TRY(check_all(a, "after the event again"));
	}
	TRY(write_round(a, 1, G_B1, false));
	TRY(write_round(a, 2, G_B2, true));
	TRY(check_all(a, "after the second writes"));
	TRY(check_scan(a, 3));
	if (a->cell->mode == MO_SIGBUS && atomic_load(&a->pb.bad))
		return fail("handler: %s", a->pb.why);
	TRY(handler_stop(a->efd, a->thr, &a->pb));
	rc = check_backing(a);
	if (rc)
		return rc;
	rc = compare_ref(a);
	if (a->path[0])
		unlink(a->path);
	return rc;
}

/* a cell: the cell, and what the runner wants to know of it */
static int run_cell(const void *arg)
{
	int rc;

	case_count(S_CELLS, 1);
	rc = cell_body(arg);
	if (rc == PASS) {
		res->passed = true;
		case_note("%llu bytes verified, %llu reports",
			  (unsigned long long)case_res->stat[S_BYTES],
			  (unsigned long long)case_res->stat[S_REPORTS]);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* the runner                                                          */

static const char *cell_skip(const struct cell *c)
{
	static char why[160];

	if (mem_is_file(c->mt) && expect_or_skip(have_wp_file, expect_wp_file(), NULL) == SKIP)
		return "kernel does not support sync uffd-wp on files (expected)";
	if (c->mode == MO_ASYNC && !(kfeatures & UFFD_FEATURE_WP_ASYNC))
		return "kernel lacks UFFD_FEATURE_WP_ASYNC";
	if (c->ev == E_FORK_EV && !(kfeatures & UFFD_FEATURE_EVENT_FORK))
		return "kernel lacks UFFD_FEATURE_EVENT_FORK";
	if (c->ev == E_MIGRATE && !have_numa)
		return "fewer than two NUMA nodes with memory";
	if (c->ev == E_MEMCG && !have_memcg) {
		snprintf(why, sizeof(why), "no cgroup v2 memory controller at %s", CGROUP);
		return why;
	}
	if (c->ev == E_COMPACT && access("/proc/sys/vm/compact_memory", W_OK))
		return "no /proc/sys/vm/compact_memory (CONFIG_COMPACTION=n)";
	if (c->mt->thp && c->mt->kind == MEM_SHMEM && shmem_thp_why[0])
		return shmem_thp_why;
	return NULL;
}

/* the shmem reference, one "unit:bits" per observation */
static void diag_obs(const struct cell *c)
{
	char buf[512];
	int i, o = 0;

	for (i = 0; i < res->nobs && o < (int)sizeof(buf) - 16; i++)
		o += snprintf(buf + o, sizeof(buf) - o, " %u:%x", res->obs_unit[i], res->obs[i]);
	diag("%s %s %s reference (unit:observation):%s", c->mt->name, ev_name[c->ev],
	     mode_name[c->mode], buf);
}

/* in the runner after a cell process: its file removed, a shmem cell's observations kept */
static void after_cell(const void *arg, pid_t pid)
{
	const struct cell *c = arg;
	struct reference *r;
	char path[PATH_MAX];

	if (mem_is_file(c->mt)) {
		mem_file_path(path, sizeof(path), c->mt, "uffd-wp-matrix", pid);
		unlink(path);
	}
	if (c->mt->kind == MEM_SHMEM && !c->mt->thp) {
		r = &ref[c->ev][c->mode][is_private(c->mt)];
		r->valid = res->passed;
		r->nobs = res->nobs;
		memcpy(r->obs, res->obs, sizeof(r->obs));
		memcpy(r->obs_unit, res->obs_unit, sizeof(r->obs_unit));
		if (res->passed && res->nobs)
			diag_obs(c);
	}
}

static void run_one(struct case_runner *cr, const struct cell *c)
{
	const char *why = cell_skip(c);

	if (why) {
		case_point(cr, SKIP, why, "%s %s %s %s", c->mt->name, c->mt->fs,
			   ev_name[c->ev], mode_name[c->mode]);
		return;
	}
	if (mem_is_file(c->mt) &&
	    expect_or_skip(have_wp_file, expect_wp_file(),
			   "UFFD_FEATURE_WP_FILE is expected but the kernel does not advertise it")) {
		case_point(cr, FAIL, NULL, "%s %s %s %s", c->mt->name, c->mt->fs,
			   ev_name[c->ev], mode_name[c->mode]);
		return;
	}
	memset(res, 0, sizeof(*res));
	cr->after = after_cell;
	case_run(cr, run_cell, c, 0, "%s %s %s %s", c->mt->name, c->mt->fs, ev_name[c->ev],
		 mode_name[c->mode]);
	cr->after = NULL;
}

/* ------------------------------------------------------------------ */
/* re-registration without WP: fault injection and concurrency         */

/*
 * Two points per memory type (anon, shmem, hugetlb, file-shared on each
 * file system) for "re-registering a protected range without
 * UFFDIO_REGISTER_MODE_WP drops the protection" (patch 1): no uffd-wp bit
 * or marker may outlive VM_UFFD_WP.
 *
 * Anon, shmem and hugetlb ranges are re-registered with MODE_MISSING after
 * MODE_WP|MISSING (reregister-failnth) or after MODE_WP and WP|MISSING in
 * turn (reregister-concurrent).  Patch 1 also makes a re-registration a
 * no-op only for the same mode (before, a subset was one: WP|MISSING then
 * MISSING kept WP; WP then MISSING left the stale bits).  A regular file
 * takes MODE_WP only (MISSING and MINOR are EINVAL there, checked): on
 * files WP tracking ends with UFFDIO_UNREGISTER, whose
 * userfaultfd_clear_vma() has the same order (protection dropped, then the
 * vma split, which may fail).
 *
 * reregister-failnth: 4 units (hugetlb: 4 huge pages), registered
 * WP|MISSING (files: WP), populated and protected; the middle two are
 * re-registered with MISSING (files: unregistered) with
 * /proc/thread-self/fail-nth = 1, 2, ... (failslab and fail_page_alloc set
 * to fail GFP_KERNEL and order-0 allocations too) until the ioctl succeeds
 * with no failure injected (a success that swallowed one, such as hugetlb's
 * vma lock allocation, is checked like the final one, undone with
 * UFFDIO_REGISTER(WP|MISSING), and the loop goes on).  A failing attempt
 * must be ENOMEM (or EFAULT when usercopy fault injection is built in).
 * After every attempt: every unit with the uffd-wp bit in pagemap lies in
 * a vma with VM_UFFD_WP ("uw" in smaps VmFlags), and a write to every unit
 * completes, with one WP message the handler thread resolves where the
 * unit was protected and none elsewhere; then the range is protected again
 * for the next attempt.  In the end the middle has neither bit nor "uw",
 * the outer units keep both and report their writes.
 *
 * reregister-concurrent: 64 units (hugetlb: 8), registered WP, populated
 * and protected; two writer threads write random units (and check that
 * each word they own keeps what they wrote), a handler thread un-protects
 * each reported unit, a third thread drops WP on the middle half
 * (re-register MISSING; files: unregister), wakes it with UFFDIO_WAKE (a
 * writer blocked there is not woken otherwise: the handler's un-protect of
 * it fails with ENOENT, and neither a re-registration nor unregistering a
 * range without MODE_MISSING wakes anybody), checks that no unit of it has
 * the uffd-wp bit and no vma of it "uw", re-registers it with WP
 * (WP|MISSING every other time; files: WP) and protects the whole range
 * again, for UFFDWP_REREG_MS (1500) per type.  Every message must be a
 * write fault with UFFD_PAGEFAULT_FLAG_WP inside the range (all units are
 * populated: there is no missing fault); the un-protect of a reported unit
 * may fail with ENOENT only in the middle (its WP was dropped after the
 * fault); no writer and no re-registration may stop making progress for
 * RR_BOUND_MS; in the end the stale-bit invariant holds over the range.
 */

#define RR_MAXU		64
#define RR_FN_UNITS	4	/* reregister-failnth */
#define RR_CC_UNITS	64	/* reregister-concurrent, 4 KiB pages */
#define RR_CC_HUNITS	8	/* reregister-concurrent, hugetlb */
#define RR_MAX_NTH	200
#define RR_BOUND_MS	10000	/* a write or a re-registration step that takes longer hangs */
#define RR_DEFAULT_MS	1500
#define RR_FN_TIMEOUT_S	120
#define FI_NTH		"/proc/thread-self/fail-nth"
#define FI_SLAB		"/sys/kernel/debug/failslab/"
#define FI_PAGE		"/sys/kernel/debug/fail_page_alloc/"

enum rr_test { RR_FAILNTH, RR_CONCURRENT, NR_RR };

static bool fi_usercopy;	/* CONFIG_FAULT_INJECTION_USERCOPY: fail-nth hits copies too */

static const char *const rr_test_name[NR_RR] = {
	"reregister-failnth", "reregister-concurrent",
};

/* what the thread re-registering the middle does (reregister-concurrent) */
enum { OP_IDLE, OP_DROP, OP_WAKE, OP_CHECK, OP_REREG, OP_PROTECT, OP_DONE };

struct rr {
	const struct mem_type *mt;
	char *addr;
	size_t unit, n, len;
	size_t m0, m1;		/* [m0, m1): the units that lose WP */
	bool file;		/* WP only: the middle is unregistered */
	uint64_t wp_mode;	/* the registration with WP: WP or WP|MISSING */
	bool concurrent;
	int fd, uffd, efd, pmfd;
	pthread_t thr;
	atomic_int msgs[RR_MAXU];	/* WP messages per unit */
	atomic_long nmsgs, nmsgs_mid, enoent;
	struct problem pb;
	/* reregister-concurrent */
	atomic_bool stop_rereg, stop_writers;
	atomic_bool writer_out[2], rereg_out;
	atomic_long done[2];
	atomic_int cur[2];
	atomic_long cycles;
	atomic_int op;
};

/* pagemap entries and VmFlags of the units of a range */
struct rrstate {
	uint64_t pm[RR_MAXU];
	char flags[RR_MAXU][112];
};

static const char *rr_drop_name(const struct rr *r)
{
	return r->file ? "UFFDIO_UNREGISTER" : "UFFDIO_REGISTER(MISSING)";
}

static const char *rr_wp_name(uint64_t mode)
{
	return mode & UFFDIO_REGISTER_MODE_MISSING ? "WP|MISSING" : "WP";
}

static bool has_flag(const char *flags, const char *f)
{
	size_t l = strlen(f);
	const char *p = flags;

	while ((p = strstr(p, f))) {
		if ((p == flags || p[-1] == ' ') && (!p[l] || p[l] == ' ' || p[l] == '\n'))
			return true;
		p += l;
	}
	return false;
}

/* pagemap and smaps of units [u0, u1): 0 or an errno */
static int rr_read_state(struct rr *r, size_t u0, size_t u1, struct rrstate *st)
{
	uintptr_t s = 0, e = 0, p;
	unsigned long a, b;
	char *line = NULL, c;
	size_t cap = 0, u, l;
	FILE *f;
	int err;

	for (u = u0; u < u1; u++) {
		strcpy(st->flags[u], "(no vma)");
		err = pagemap_read(r->pmfd, r->addr + u * r->unit, 1, &st->pm[u]);
		if (err)
			return err;
	}
	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return errno;
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%lx-%lx %c", &a, &b, &c) == 3) {
			s = a;
			e = b;
			continue;
		}
		if (strncmp(line, "VmFlags:", 8))
			continue;
		for (u = u0; u < u1; u++) {
			p = (uintptr_t)(r->addr + u * r->unit);
			if (p < s || p >= e)
				continue;
			snprintf(st->flags[u], sizeof(st->flags[u]), "%s", line + 9);
			l = strlen(st->flags[u]);
			while (l && (st->flags[u][l - 1] == '\n' || st->flags[u][l - 1] == ' '))
				st->flags[u][--l] = 0;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

static bool rr_bit(const struct rrstate *st, size_t u)
{
	return st->pm[u] & PM_UFFD_WP;
}

static bool rr_uw(const struct rrstate *st, size_t u)
{
	return has_flag(st->flags[u], "uw");
}

/*
 * The invariant of the fix over [u0, u1): a unit with the uffd-wp bit lies
 * in a vma with VM_UFFD_WP.  False with the first offender in why.
 */
static bool rr_invariant(struct rr *r, size_t u0, size_t u1, const struct rrstate *st,
			 char *why, size_t len)
{
	size_t u;

	for (u = u0; u < u1; u++) {
		if (rr_bit(st, u) && !rr_uw(st, u)) {
			snprintf(why, len, "unit %zu (%s) has the uffd-wp bit in pagemap (%#llx) but its vma has no VM_UFFD_WP (VmFlags: %s)",
				 u, u >= r->m0 && u < r->m1 ? "middle" : "outer",
				 (unsigned long long)st->pm[u], st->flags[u]);
			return false;
		}
	}
	return true;
}

/* read the state of the whole range and check the invariant */
static int rr_state(struct rr *r, const char *when, struct rrstate *st)
{
	char why[384];
	int e = rr_read_state(r, 0, r->n, st);

	if (e)
		return fail("%s: reading pagemap/smaps: %s", when, strerror(e));
	if (!rr_invariant(r, 0, r->n, st, why, sizeof(why)))
		return fail("%s: %s", when, why);
	return PASS;
}

/* the handler of a re-registration point: its uffd */
static void rr_ready(void *arg, int k, short revents)
{
	struct rr *r = arg;
	uintptr_t base = (uintptr_t)r->addr, p;
	const uint64_t want = UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE;
	struct uffd_msg m;
	bool mid;
	size_t u;
	int e;

	(void)k;
	(void)revents;
	while (read(r->uffd, &m, sizeof(m)) == sizeof(m)) {
		if (m.event != UFFD_EVENT_PAGEFAULT) {
			problem(&r->pb, "handler: unexpected event %u", m.event);
			continue;
		}
		p = m.arg.pagefault.address;
		if (p < base || p >= base + r->len) {
			problem(&r->pb, "handler: fault at %#lx outside the range %#lx+%#zx",
				(long)p, (long)base, r->len);
			continue;
		}
		u = (p - base) / r->unit;
		mid = u >= r->m0 && u < r->m1;
		if ((m.arg.pagefault.flags & want) != want) {
			/* every unit is populated: no missing fault can happen */
			problem(&r->pb, "handler: unit %zu (%s): fault message with flags %#llx, not a write-protect write fault",
				u, mid ? "middle" : "outer",
				(unsigned long long)m.arg.pagefault.flags);
			continue;
		}
		atomic_fetch_add(&r->msgs[u], 1);
		atomic_fetch_add(&r->nmsgs, 1);
		if (mid)
			atomic_fetch_add(&r->nmsgs_mid, 1);
		e = uffd_wp(r->uffd, r->addr + u * r->unit, r->unit, false);
		/*
		 * concurrent: the middle may have lost WP since the fault;
		 * the thread that dropped it wakes the range
		 */
		if (e == ENOENT && r->concurrent && mid)
			atomic_fetch_add(&r->enoent, 1);
		else if (e)
			problem(&r->pb, "handler: unit %zu (%s): UFFDIO_WRITEPROTECT(clear): %s", u,
				mid ? "middle" : "outer", strerror(e));
	}
}

static void *rr_handler(void *arg)
{
	struct rr *r = arg;
	int *const fds[] = { &r->uffd };
	int e = handler_loop(r->efd, fds, 1, rr_ready, r);

	if (e)
		problem(&r->pb, "handler: poll: %s", strerror(e));
	return NULL;
}

/* a protected, populated range of n units, registered WP, with its handler */
static int rr_setup(struct rr *r, const struct mem_type *mt, size_t n, uint64_t wp_mode)
{
	struct mem_region reg;
	size_t u;
	int e;

	r->mt = mt;
	r->fd = -1;
	r->file = mem_is_file(mt);
	r->wp_mode = r->file ? UFFDIO_REGISTER_MODE_WP : wp_mode;
	r->unit = mem_page_size(mt);
	r->n = n;
	r->len = n * r->unit;
	r->m0 = n / 4;
	r->m1 = n - n / 4;
	if (mt->thp || !(mt->kind == MEM_ANON || mt->shared))
		return fail("memory type %s is not one of these points", mt->name);
	if (is_hugetlb(mt) && meminfo("HugePages_Free:") < (long)n)
		return case_skip("fewer than %zu free hugetlb pages (HugePages_Free %ld)", n,
				 meminfo("HugePages_Free:"));
	e = mem_create(&reg, mt, r->len, "uffd-wp-matrix");
	if (e)
		return fail("memfd_create/open/ftruncate: %s", strerror(e));
	mem_unlink(&reg);
	r->fd = reg.fd;
	e = mem_map(&reg);
	if (e)
		return fail("mmap: %s", strerror(e));
	r->addr = reg.addr;
	for (u = 0; u < n; u++)
		*(volatile uint64_t *)(r->addr + u * r->unit) = 0x5e5e0000 + u;
	r->pmfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (r->pmfd < 0)
		return fail("/proc/self/pagemap: %m");
	r->uffd = uffd_open(0, NULL);
	if (r->uffd < 0)
		return fail("userfaultfd/UFFDIO_API: %s", strerror(-r->uffd));
	e = uffd_register(r->uffd, r->addr, r->len, r->wp_mode, NULL);
	if (e)
		return fail("UFFDIO_REGISTER(%s): %s", rr_wp_name(r->wp_mode), strerror(e));
	TRY(handler_start(&r->efd, &r->thr, rr_handler, r));
	e = uffd_wp(r->uffd, r->addr, r->len, true);
	if (e)
		return fail("UFFDIO_WRITEPROTECT(WP): %s", strerror(e));
	return PASS;
}

/* ---- reregister-failnth ---- */

struct rr_pass {
	struct rr *r;
	uint64_t val;
	atomic_int done;	/* units written */
};

static void *rr_pass_writer(void *arg)
{
	struct rr_pass *w = arg;
	size_t u;

	for (u = 0; u < w->r->n; u++) {
		*(volatile uint64_t *)(w->r->addr + u * w->r->unit) = w->val + u;
		atomic_store(&w->done, u + 1);
	}
	return NULL;
}

/*
 * Write every unit from a thread, each within RR_BOUND_MS: the units
 * protected in st report exactly once, the others not at all.
 */
static int rr_write_all(struct rr *r, const struct rrstate *st, uint64_t val, const char *when)
{
	static struct rr_pass w;
	int64_t deadline = now_ms() + RR_BOUND_MS, last = now_ms(), t;
	pthread_t thr;
	int done, prev = 0, n;
	size_t u;

	for (u = 0; u < r->n; u++)
		atomic_store(&r->msgs[u], 0);
	w.r = r;
	w.val = val;
	atomic_store(&w.done, 0);
	if (pthread_create(&thr, NULL, rr_pass_writer, &w))
		return fail("pthread_create");
	while ((done = atomic_load(&w.done)) < (int)r->n) {
		t = now_ms();
		if (t - last > 1000)	/* this thread stalled too: the host, not a hang */
			deadline += t - last;
		last = t;
		if (done != prev) {
			prev = done;
			deadline = t + RR_BOUND_MS;
		}
		if (t > deadline) {
			struct rrstate now;

			rr_read_state(r, done, done + 1, &now);
			/* the writer may spin in the fault forever: leave it to _exit() */
			return fail("%s: the write to unit %d (%s, %s before) did not complete within %d ms (pagemap now %#llx, VmFlags %s; %d WP messages for it)%s%s",
				    when, done, done >= (int)r->m0 && done < (int)r->m1 ? "middle" : "outer",
				    rr_bit(st, done) ? "protected" : "not protected", RR_BOUND_MS,
				    (unsigned long long)now.pm[done], now.flags[done],
				    atomic_load(&r->msgs[done]), atomic_load(&r->pb.bad) ? "; " : "",
				    atomic_load(&r->pb.bad) ? r->pb.why : "");
		}
		sleep_ms(1);
	}
	pthread_join(thr, NULL);
	if (atomic_load(&r->pb.bad))
		return fail("%s: %s", when, r->pb.why);
	for (u = 0; u < r->n; u++) {
		if (*(volatile uint64_t *)(r->addr + u * r->unit) != val + u)
			return fail("%s: unit %zu holds %#llx after the write of %#llx", when, u,
				    (unsigned long long)*(volatile uint64_t *)(r->addr + u * r->unit),
				    (unsigned long long)(val + u));
		n = atomic_load(&r->msgs[u]);
		if (n != rr_bit(st, u))
			return fail("%s: unit %zu (%s, %s, VmFlags %s) reported %d times, expected %d",
				    when, u, u >= r->m0 && u < r->m1 ? "middle" : "outer",
				    rr_bit(st, u) ? "protected" : "not protected", st->flags[u], n,
				    rr_bit(st, u));
	}
	return PASS;
}

static int rr_nth_write(int fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : errno;
}

/* after a successful drop: the middle has neither bit nor uw, the rest both */
static int rr_check_dropped_state(struct rr *r, const struct rrstate *st, const char *when)
{
	size_t u;
	bool mid;

	for (u = 0; u < r->n; u++) {
		mid = u >= r->m0 && u < r->m1;
		if (mid && (rr_bit(st, u) || rr_uw(st, u)))
			return fail("%s: middle unit %zu: pagemap %#llx, VmFlags %s; want neither the uffd-wp bit nor uw",
				    when, u, (unsigned long long)st->pm[u], st->flags[u]);
		if (mid && !r->file && !has_flag(st->flags[u], "um"))
			return fail("%s: middle unit %zu: VmFlags %s, want um (MISSING)", when, u,
				    st->flags[u]);
		if (mid && r->file && (has_flag(st->flags[u], "um") || has_flag(st->flags[u], "ui")))
			return fail("%s: middle unit %zu: VmFlags %s, want it unregistered", when, u,
				    st->flags[u]);
		if (!mid && (!rr_bit(st, u) || !rr_uw(st, u)))
			return fail("%s: outer unit %zu: pagemap %#llx, VmFlags %s; want the uffd-wp bit and uw",
				    when, u, (unsigned long long)st->pm[u], st->flags[u]);
	}
	return PASS;
}

/* every unit protected, in vmas with VM_UFFD_WP */
static int rr_check_protected(struct rr *r, const struct rrstate *st, const char *when)
{
	size_t u;

	for (u = 0; u < r->n; u++)
		if (!rr_bit(st, u) || !rr_uw(st, u))
			return fail("%s: unit %zu: pagemap %#llx, VmFlags %s; want the uffd-wp bit and uw",
				    when, u, (unsigned long long)st->pm[u], st->flags[u]);
	return PASS;
}

static int rr_failnth(const void *arg)
{
	const struct mem_type *mt = arg;
	struct rr *r = calloc(1, sizeof(*r));
	int nthfd, nth, ret = -1, e = 0, hits = 0, early = 0, tolerated = 0, usercopy = 0;
	struct uffdio_register reg;
	struct uffdio_range range;
	struct rrstate st;
	char buf[32], when[96];
	bool injected = true;
	unsigned long req;
	void *argp, *mid;
	size_t mlen, u;
	ssize_t got;

	if (!r)
		return fail("calloc");
	TRY(rr_setup(r, mt, RR_FN_UNITS,
		     UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING));
	mid = r->addr + r->m0 * r->unit;
	mlen = (r->m1 - r->m0) * r->unit;
	nthfd = open(FI_NTH, O_RDWR | O_CLOEXEC);
	if (nthfd < 0)
		return fail(FI_NTH ": %m");
	TRY(rr_state(r, "after protection", &st));
	TRY(rr_check_protected(r, &st, "after protection"));
	if (r->file) {
		/* WP is the only mode of a file range: no re-registration drops it */
		e = uffd_register(r->uffd, mid, mlen, UFFDIO_REGISTER_MODE_MISSING, NULL);
		if (e != EINVAL)
			return fail("UFFDIO_REGISTER(MISSING) over a protected file range: %s, want EINVAL",
				    e ? strerror(e) : "success");
		e = uffd_register(r->uffd, mid, mlen, UFFDIO_REGISTER_MODE_MINOR, NULL);
		if (e != EINVAL)
			return fail("UFFDIO_REGISTER(MINOR) over a protected file range: %s, want EINVAL",
				    e ? strerror(e) : "success");
		TRY(rr_state(r, "after the refused re-registrations", &st));
		TRY(rr_check_protected(r, &st, "after the refused re-registrations"));
	}

	range = (struct uffdio_range){ (uintptr_t)mid, mlen };
	reg = (struct uffdio_register){ .range = range, .mode = UFFDIO_REGISTER_MODE_MISSING };
	req = r->file ? UFFDIO_UNREGISTER : UFFDIO_REGISTER;
	argp = r->file ? (void *)&range : (void *)&reg;
	/* until the ioctl succeeds with no failure injected */
	for (nth = 1; nth <= RR_MAX_NTH && injected; nth++) {
		memset(buf, 0, sizeof(buf));
		e = rr_nth_write(nthfd, nth);
		if (e)
			return fail("writing %d to " FI_NTH ": %s", nth, strerror(e));
		/* nothing between these two calls: fail-nth counts this thread's calls */
		ret = ioctl(r->uffd, req, argp);
		e = errno;
		got = pread(nthfd, buf, sizeof(buf) - 1, 0);
		/*
		 * 0: the nth call failed; still positive: fewer calls than
		 * nth.  With usercopy injection the read's own copy may take
		 * the last count (EFAULT: not the ioctl's), and the write of
		 * 0 too (it is 0 then: the second write succeeds).
		 */
		if (got < 0 && errno == EFAULT && fi_usercopy)
			got = snprintf(buf, sizeof(buf), "1");
		if (rr_nth_write(nthfd, 0) && rr_nth_write(nthfd, 0))
			return fail("writing 0 to " FI_NTH ": %m");
		if (got <= 0)
			return fail("reading " FI_NTH ": %m");
		injected = !strtoul(buf, NULL, 10);
		hits += injected;
		if (ret && !injected)
			return fail("%s failed with %s at fail-nth %d, but no failure was injected",
				    rr_drop_name(r), strerror(e), nth);
		/*
		 * CONFIG_FAULT_INJECTION_USERCOPY counts too: a failed copy
		 * from or to user memory is EFAULT, before or after the change
		 */
		if (ret && e == EFAULT && fi_usercopy)
			usercopy++;
		else if (ret && e != ENOMEM)
			return fail("%s with fail-nth %d: %s, want ENOMEM", rr_drop_name(r), nth,
				    strerror(e));
		snprintf(when, sizeof(when), "after %s with fail-nth %d (%s)", rr_drop_name(r),
			 nth, ret ? strerrorname_np(e) : injected ? "success, failure tolerated" :
			 "success");
		TRY(rr_state(r, when, &st));
		if (ret && e == EFAULT && !rr_uw(&st, r->m0)) {
			ret = 0;	/* the ioctls word was not written back: done */
			usercopy--;	/* counted as tolerated below */
		}
		if (!ret) {
			TRY(rr_check_dropped_state(r, &st, when));
			TRY(rr_write_all(r, &st, (uint64_t)nth << 32, when));
			if (!injected)
				break;
			/* it swallowed the failure: back to the start, go on */
			tolerated++;
			e = uffd_register(r->uffd, mid, mlen, r->wp_mode, NULL);
			if (e)
				return fail("%s: UFFDIO_REGISTER(%s) of the middle: %s", when,
					    rr_wp_name(r->wp_mode), strerror(e));
		} else {
			/* the fix drops the protection first: seen when the split failed */
			for (u = r->m0; u < r->m1; u++) {
				if (!rr_bit(&st, u)) {
					early++;
					break;
				}
			}
			for (u = 0; u < r->n; u++)
				if (!rr_uw(&st, u))
					return fail("%s: unit %zu lost VM_UFFD_WP although the ioctl failed (VmFlags %s)",
						    when, u, st.flags[u]);
			TRY(rr_write_all(r, &st, (uint64_t)nth << 32, when));
		}
		e = uffd_wp(r->uffd, r->addr, r->len, true);
		if (e)
			return fail("%s: UFFDIO_WRITEPROTECT(WP) of the whole range: %s", when,
				    strerror(e));
	}
	if (ret || injected)
		return fail("%s still fails (or hits an injected failure) with fail-nth %d",
			    rr_drop_name(r), RR_MAX_NTH);
	if (!hits)
		return fail("%s succeeded at fail-nth 1: no injected failure was hit (the vma split must allocate; are the failslab/fail_page_alloc knobs set?)",
			    rr_drop_name(r));
	/* the final state (checked above): the outer units report their writes */
	TRY(handler_stop(r->efd, r->thr, &r->pb));
	diag("%s %s %s: %d injected failures (%d ENOMEM, %d EFAULT of usercopy injection, %d tolerated: the ioctl succeeded), %s succeeded at fail-nth %d; %d of the ENOMEM attempts had already dropped the middle's protection (its vma kept uw)",
	     rr_test_name[RR_FAILNTH], mt->name, mt->fs, hits, hits - usercopy - tolerated,
	     usercopy, tolerated, rr_drop_name(r), nth, early);
	return PASS;
}

/* ---- reregister-concurrent ---- */

struct rr_writer_arg {
	struct rr *r;
	int id;
};

static void *rr_writer(void *arg)
{
	struct rr_writer_arg *wa = arg;
	struct rr *r = wa->r;
	uint64_t last[RR_MAXU] = { 0 }, v, x = 0x9e3779b97f4a7c15ULL * (wa->id + 1);
	volatile uint64_t *p;
	long i = 0;
	size_t u;

	while (!atomic_load(&r->stop_writers)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		u = x % r->n;
		atomic_store(&r->cur[wa->id], u);
		/* word 0 is the populate stamp, word 1 + id is this writer's */
		p = (volatile uint64_t *)(r->addr + u * r->unit) + 1 + wa->id;
		v = *p;
		if (v != last[u])
			problem(&r->pb, "writer %d: unit %zu holds %#llx, it wrote %#llx", wa->id, u,
				(unsigned long long)v, (unsigned long long)last[u]);
		last[u] = ((uint64_t)(wa->id + 1) << 56) | ++i;
		*p = last[u];
		atomic_fetch_add(&r->done[wa->id], 1);
		if (!(i % 64))
			sched_yield();
	}
	atomic_store(&r->writer_out[wa->id], true);
	return NULL;
}

/* after the drop: no unit of the middle has the bit, no vma there uw */
static bool rr_check_dropped(struct rr *r, char *why, size_t len)
{
	static struct rrstate st;
	int e = rr_read_state(r, r->m0, r->m1, &st);
	size_t u;

	if (e) {
		snprintf(why, len, "reading pagemap/smaps: %s", strerror(e));
		return false;
	}
	for (u = r->m0; u < r->m1; u++) {
		if (rr_bit(&st, u) || rr_uw(&st, u)) {
			snprintf(why, len, "middle unit %zu: pagemap %#llx, VmFlags %s right after %s returned; want neither the uffd-wp bit nor uw",
				 u, (unsigned long long)st.pm[u], st.flags[u], rr_drop_name(r));
			return false;
		}
	}
	return true;
}

static void *rr_reregister(void *arg)
{
	struct rr *r = arg;
	void *mid = r->addr + r->m0 * r->unit;
	size_t mlen = (r->m1 - r->m0) * r->unit;
	char why[320];
	uint64_t mode;
	int e;

	while (!atomic_load(&r->stop_rereg)) {
		atomic_store(&r->op, OP_DROP);
		e = r->file ? uffd_unregister(r->uffd, mid, mlen) :
			uffd_register(r->uffd, mid, mlen, UFFDIO_REGISTER_MODE_MISSING, NULL);
		if (e) {
			problem(&r->pb, "%s of the middle: %s", rr_drop_name(r), strerror(e));
			break;
		}
		/* a writer blocked there is woken by nothing else */
		atomic_store(&r->op, OP_WAKE);
		e = uffd_wake(r->uffd, mid, mlen);
		if (e) {
			problem(&r->pb, "UFFDIO_WAKE of the middle: %s", strerror(e));
			break;
		}
		atomic_store(&r->op, OP_CHECK);
		if (!rr_check_dropped(r, why, sizeof(why))) {
			problem(&r->pb, "cycle %ld: %s", atomic_load(&r->cycles), why);
			break;
		}
		sleep_ms(1);	/* the writers get to write the middle unprotected */
		/* WP and WP|MISSING in turn: dropped to MISSING, both change the mode */
		atomic_store(&r->op, OP_REREG);
		mode = UFFDIO_REGISTER_MODE_WP;
		if (!r->file && atomic_load(&r->cycles) % 2)
			mode |= UFFDIO_REGISTER_MODE_MISSING;
		e = uffd_register(r->uffd, mid, mlen, mode, NULL);
		if (e) {
			problem(&r->pb, "UFFDIO_REGISTER(%s) of the middle: %s", rr_wp_name(mode),
				strerror(e));
			break;
		}
		atomic_store(&r->op, OP_PROTECT);
		e = uffd_wp(r->uffd, r->addr, r->len, true);
		if (e) {
			problem(&r->pb, "UFFDIO_WRITEPROTECT(WP) of the range: %s", strerror(e));
			break;
		}
		atomic_store(&r->op, OP_IDLE);
		atomic_fetch_add(&r->cycles, 1);
		sleep_ms(2);	/* and to fault on the protected range */
	}
	atomic_store(&r->op, OP_DONE);
	atomic_store(&r->rereg_out, true);
	return NULL;
}

static int rr_duration_ms(void)
{
	const char *s = getenv("UFFDWP_REREG_MS");

	return s && atoi(s) > 0 ? atoi(s) : RR_DEFAULT_MS;
}

/* a stuck thread: what it was doing, for the failure message */
static int rr_stuck(struct rr *r, const char *who, int id)
{
	static const char *const opname[] = {
		[OP_IDLE] = "between cycles", [OP_DROP] = "dropping WP",
		[OP_WAKE] = "UFFDIO_WAKE", [OP_CHECK] = "checking pagemap/smaps",
		[OP_REREG] = "UFFDIO_REGISTER(WP or WP|MISSING)",
		[OP_PROTECT] = "UFFDIO_WRITEPROTECT(WP)",
		[OP_DONE] = "done",
	};
	char unit[256] = "";
	struct rrstate st;
	int u;

	if (id >= 0) {
		u = atomic_load(&r->cur[id]);
		if (!rr_read_state(r, u, u + 1, &st))
			snprintf(unit, sizeof(unit), ", writing unit %d (%s; pagemap %#llx, VmFlags %s)",
				 u, u >= (int)r->m0 && u < (int)r->m1 ? "middle" : "outer",
				 (unsigned long long)st.pm[u], st.flags[u]);
	}
	return fail("%s made no progress for %d ms%s; the re-registering thread: %s, %ld cycles; %ld WP messages, %ld un-protects refused with ENOENT%s%s",
		    who, RR_BOUND_MS, unit, opname[atomic_load(&r->op)], atomic_load(&r->cycles),
		    atomic_load(&r->nmsgs), atomic_load(&r->enoent),
		    atomic_load(&r->pb.bad) ? "; " : "", atomic_load(&r->pb.bad) ? r->pb.why : "");
}

static int rr_concurrent(const void *arg)
{
	const struct mem_type *mt = arg;
	struct rr *r = calloc(1, sizeof(*r));
	static struct rr_writer_arg wa[2];
	static const char *const who[3] = { "writer 0", "writer 1", "the re-registering thread" };
	int64_t t, prev, end, changed[3];
	long seen[3] = { -1, -1, -1 }, v, writes;
	struct rrstate st;
	pthread_t thr[3];
	int i, phase = 0;
	bool out;

	if (!r)
		return fail("calloc");
	r->concurrent = true;
	TRY(rr_setup(r, mt, is_hugetlb(mt) ? RR_CC_HUNITS : RR_CC_UNITS,
		     UFFDIO_REGISTER_MODE_WP));
	for (i = 0; i < 2; i++) {
		wa[i] = (struct rr_writer_arg){ r, i };
		if (pthread_create(&thr[i], NULL, rr_writer, &wa[i]))
			return fail("pthread_create");
	}
	if (pthread_create(&thr[2], NULL, rr_reregister, r))
		return fail("pthread_create");
	t = prev = now_ms();
	end = t + rr_duration_ms();
	for (i = 0; i < 3; i++)
		changed[i] = t;
	/* run, stop the re-registration, then the writers; nobody may stall */
	while (phase < 3) {
		sleep_ms(20);
		t = now_ms();
		if (t - prev > 1000)	/* this thread stalled too: the host, not a hang */
			for (i = 0; i < 3; i++)
				changed[i] += t - prev;
		prev = t;
		for (i = 0; i < 3; i++) {
			v = i < 2 ? atomic_load(&r->done[i]) : atomic_load(&r->cycles);
			out = i < 2 ? atomic_load(&r->writer_out[i]) : atomic_load(&r->rereg_out);
			if (v != seen[i] || out) {
				seen[i] = v;
				changed[i] = t;
			} else if (t - changed[i] > RR_BOUND_MS) {
				return rr_stuck(r, who[i], i < 2 ? i : -1);
			}
		}
		if (atomic_load(&r->pb.bad))
			return fail("%s", r->pb.why);
		if (phase == 0 && t >= end) {
			atomic_store(&r->stop_rereg, true);
			phase = 1;
		}
		if (phase == 1 && atomic_load(&r->rereg_out)) {
			atomic_store(&r->stop_writers, true);
			phase = 2;
		}
		if (phase == 2 && atomic_load(&r->writer_out[0]) && atomic_load(&r->writer_out[1]))
			phase = 3;
	}
	for (i = 0; i < 3; i++)
		pthread_join(thr[i], NULL);
	if (atomic_load(&r->pb.bad))
		return fail("%s", r->pb.why);
	writes = atomic_load(&r->done[0]) + atomic_load(&r->done[1]);
	if (!atomic_load(&r->cycles))
		return fail("no re-registration cycle completed in %d ms", rr_duration_ms());
	if (!atomic_load(&r->nmsgs))
		return fail("no write-protect fault in %ld writes: nothing was tested", writes);
	/* the last cycle ended with WP: the stale-bit invariant, then writes */
	TRY(rr_state(r, "at the end", &st));
	TRY(rr_write_all(r, &st, 0xe4dULL << 32, "the final writes"));
	TRY(handler_stop(r->efd, r->thr, &r->pb));
	diag("%s %s %s: %ld cycles of %s + UFFDIO_WAKE / UFFDIO_REGISTER(%s) + UFFDIO_WRITEPROTECT, %ld writes, %ld WP messages (%ld in the middle), %ld un-protects refused with ENOENT (WP dropped after the fault)",
	     rr_test_name[RR_CONCURRENT], mt->name, mt->fs, atomic_load(&r->cycles),
	     rr_drop_name(r), r->file ? "WP" : "WP, WP|MISSING in turn", writes, atomic_load(&r->nmsgs), atomic_load(&r->nmsgs_mid),
	     atomic_load(&r->enoent));
	return PASS;
}

/* ---- the runner of these points ---- */

static struct {
	struct knob k;
	const char *val;
} fi_knobs[] = {
	{ .k.path = FI_SLAB "ignore-gfp-wait", .val = "N" },
	{ .k.path = FI_SLAB "verbose", .val = "0" },
	{ .k.path = FI_PAGE "ignore-gfp-wait", .val = "N" },
	{ .k.path = FI_PAGE "min-order", .val = "0" },
	{ .k.path = FI_PAGE "verbose", .val = "0" },
};

#define NR_FI_KNOBS	(sizeof(fi_knobs) / sizeof(fi_knobs[0]))

static char fi_why[200];	/* why fault injection cannot be used, or "" */

/* fault injection for reregister-failnth: check, then set the knobs */
static void fi_setup(void)
{
	size_t i;
	int e;

	if (access(FI_NTH, W_OK)) {
		snprintf(fi_why, sizeof(fi_why), "no " FI_NTH " (CONFIG_FAULT_INJECTION): %m");
		return;
	}
	for (i = 0; i < NR_FI_KNOBS; i++) {
		if (access(fi_knobs[i].k.path, W_OK)) {
			snprintf(fi_why, sizeof(fi_why), "no %s (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS, debugfs): %m",
				 fi_knobs[i].k.path);
			return;
		}
	}
	fi_usercopy = !access("/sys/kernel/debug/fail_usercopy", F_OK);
	for (i = 0; i < NR_FI_KNOBS; i++) {
		e = knob_save(&fi_knobs[i].k);
		if (e) {
			snprintf(fi_why, sizeof(fi_why), "reading %s: %s", fi_knobs[i].k.path,
				 strerror(e));
			return;
		}
		e = knob_set(&fi_knobs[i].k, fi_knobs[i].val);
		if (e) {
			snprintf(fi_why, sizeof(fi_why), "writing %s to %s: %s", fi_knobs[i].val,
				 fi_knobs[i].k.path, strerror(e));
			return;
		}
	}
}

static void fi_restore(void)
{
	size_t i;
	int e;

	for (i = 0; i < NR_FI_KNOBS; i++) {
		e = knob_restore(&fi_knobs[i].k);
		if (e)
			diag("restoring %s to %s: %s", fi_knobs[i].k.path, fi_knobs[i].k.old,
			     strerror(e));
	}
}

/* anon, shmem, hugetlb, file-shared */
static bool rr_applies(const struct mem_type *mt)
{
	return !mt->thp && (mt->kind == MEM_ANON || mt->shared) && !is_overlay(mt);
}

static void run_rr(struct case_runner *cr, enum rr_test t, const struct mem_type *mt)
{
	static int (*const rr_fn[NR_RR])(const void *) = { rr_failnth, rr_concurrent };
	int timeout = t == RR_FAILNTH ? RR_FN_TIMEOUT_S * 1000 : rr_duration_ms() + 60000;
	char why[256];
	int rc;

	rc = mem_is_file(mt) ?
		expect_or_skip(have_wp_file, expect_wp_file(),
			       "UFFD_FEATURE_WP_FILE is expected but the kernel does not advertise it") :
		PASS;
	snprintf(why, sizeof(why), "kernel does not support sync uffd-wp on files (expected)");
	if (!rc && t == RR_FAILNTH) {
		rc = expect_or_skip(!fi_why[0], expect_fault_injection(),
				    "fault injection is expected (UFFDWP_EXPECT_FAULT_INJECTION=1): %s",
				    fi_why);
		snprintf(why, sizeof(why), "this kernel lacks fault injection: %s", fi_why);
	}
	if (rc) {
		case_point(cr, rc, why, "%s %s %s", rr_test_name[t], mt->name, mt->fs);
		return;
	}
	case_run(cr, rr_fn[t], mt, timeout, "%s %s %s", rr_test_name[t], mt->name, mt->fs);
}

static bool setup_memcg(void)
{
	char buf[32];

	write_text("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(CGROUP, 0755) && errno != EEXIST)
		return false;
	snprintf(buf, sizeof(buf), "%lu", CG_MAX);
	return !write_text(CGROUP "/memory.max", buf) &&
	       !write_text(CGROUP "/memory.swap.max", "max");
}

static struct knob shmem_knob = { .path = THP_SYSFS "shmem_enabled" };

/* shmem_enabled: "advise" for the test, the old value in shmem_knob */
static void shmem_thp_setup(void)
{
	char buf[128];
	int e;

	if (!read_text(shmem_knob.path, buf, sizeof(buf))) {
		snprintf(shmem_thp_why, sizeof(shmem_thp_why),
			 "no " THP_SYSFS "shmem_enabled (CONFIG_TRANSPARENT_HUGEPAGE=n)");
		return;
	}
	if (!strchr(buf, '[') || !strchr(strchr(buf, '['), ']')) {
		snprintf(shmem_thp_why, sizeof(shmem_thp_why),
			 "cannot parse " THP_SYSFS "shmem_enabled: %.60s", buf);
		return;
	}
	e = knob_set(&shmem_knob, "advise");
	if (e) {
		snprintf(shmem_thp_why, sizeof(shmem_thp_why),
			 "cannot set shmem_enabled to advise: %s", strerror(e));
		shmem_knob.saved = false;
	}
}

#define MAX_MT	MEM_MAX_TYPES

int main(void)
{
	static struct mem_type mts[MAX_MT];
	static struct cell cells[NR_EVENTS * NR_MODES * MAX_MT];
	static const struct mem_type *rrt[MAX_MT];
	int64_t rr_start;
	int nrr = 0;
	struct test_fs fs[MAX_TEST_FS];
	int nfs, nmt, ncells = 0, i, m, e, o;
	const char *b = getenv("UFFDWP_BUDGET"), *overlay = getenv("UFFDWP_OVERLAYFS");
	int budget = DEFAULT_BUDGET_S;
	struct case_runner cr;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	if (res == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	nfs = parse_test_fs(fs, MAX_TEST_FS);
	uffd_features(&kfeatures);
	have_wp_file = kfeatures & UFFD_FEATURE_WP_FILE;
	have_numa = two_numa_nodes(&numa_a, &numa_b);
	have_memcg = setup_memcg();
	if (!read_text("/sys/kernel/mm/transparent_hugepage/enabled", thp_enabled,
		       sizeof(thp_enabled)))
		thp_enabled[0] = 0;
	thp_enabled[strcspn(thp_enabled, "\n")] = 0;
	shmem_thp_setup();
	diag("uffd-wp-matrix: features %#llx, WP_FILE %s (%sexpected), NUMA %s, memcg %s, THP %s, shmem THP %s%s, %d file systems",
	     (unsigned long long)kfeatures, have_wp_file ? "yes" : "no",
	     expect_wp_file() ? "" : "not ", have_numa ? "2 nodes" : "no",
	     have_memcg ? "yes" : "no", thp_enabled,
	     shmem_thp_why[0] ? shmem_thp_why : "advise, was ",
	     shmem_thp_why[0] ? "" : shmem_knob.old, nfs);

	/* every memory type; file-*-thp where the page cache has large folios */
	nmt = mem_types(mts, MAX_MT - 2, NULL);
	/* overlayfs hands the mapping to the file of its layer (ext4): it must behave as ext4 */
	if (overlay && *overlay) {
		mem_type_row(&mts[nmt++], "file-shared", "overlay", overlay);
		mem_type_row(&mts[nmt++], "file-private", "overlay", overlay);
	}
	/* shmem before files: the file cells compare with it */
	for (e = 0; e < NR_EVENTS; e++)
		for (o = 0; o < NR_MODES; o++)
			for (m = 0; m < nmt; m++)
				if (applies(e, &mts[m]) && mode_applies(e, o, &mts[m]))
					cells[ncells++] = (struct cell){ &mts[m], e, o };
	/* re-registration without WP: anon, shmem, hugetlb, file-shared per fs */
	for (m = 0; m < nmt; m++)
		if (rr_applies(&mts[m]))
			rrt[nrr++] = &mts[m];
	if (b && atoi(b) > 0)
		budget = atoi(b);
	cases_start(&cr, "uffd-wp-matrix", ncells + NR_RR * nrr, budget, CELL_TIMEOUT_S,
		    stat_names);
	for (i = 0; i < ncells; i++)
		run_one(&cr, &cells[i]);
	rr_start = now_ms();
	fi_setup();
	for (o = 0; o < NR_RR; o++)
		for (m = 0; m < nrr; m++)
			run_rr(&cr, o, rrt[m]);
	fi_restore();
	diag("re-registration points: %lld ms (fault injection: %s)",
	     (long long)(now_ms() - rr_start), fi_why[0] ? fi_why : "yes");
	rmdir(CGROUP);
	e = knob_restore(&shmem_knob);
	if (e)
		diag("restoring shmem_enabled to %s: %s", shmem_knob.old, strerror(e));
	return cases_end(&cr);
}
