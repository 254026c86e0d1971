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
 *                 folios) on the file systems that give large folios
 *   x events      none, fsync, zap+evict, memcg reclaim with swap, NUMA
 *                 migration, compaction, fork (with and without
 *                 EVENT_FORK), mremap, mprotect toggling, THP split, THP
 *                 collapse, truncate, hole punch (where they apply)
 *   x modes       sync (handler thread), SIGBUS (resolved in the faulting
 *                 thread's handler), async (WP_ASYNC + PAGEMAP_SCAN)
 *
 * Every cell runs in a process of its own with a timeout (a hang is a
 * failure) and does: fill the area (backing file, COW copies on private
 * mappings, a few units left unpopulated), protect all of it, apply the
 * event, verify every byte, write the set S1, verify, apply the event again
 * (when it can be repeated), verify, rewrite S1 (must not fault again) and
 * write S2 (still protected: must be reported), verify; for fd-backed
 * memory the file is then unmapped, synced, evicted and re-read with
 * pread() (private mappings: the file must be unchanged).  A first write to
 * a protected unit is reported exactly once (one writer thread) in the sync
 * and SIGBUS modes, or shows up as PAGE_IS_WRITTEN in async mode; nothing
 * else is reported.  Where the semantics are those of shmem (truncate, hole
 * punch, fork without EVENT_FORK) the file cell compares what it observed
 * with the shmem cell of the same event and mode in the same run.
 *
 * Environment:
 *   UFFDWP_FS              space-separated "name:mountpoint" list
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *   UFFDWP_BUDGET          total time budget in seconds (default 600)
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

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB		0x0004U
#endif

#define HPAGE		(2UL << 20)
#define MAXU		512	/* units of an area (a THP: 512 x 4 KiB) */
#define NSLOTS		16	/* units that take part in writes */
#define CELL_TIMEOUT_S	30
#define DEFAULT_BUDGET_S 600
#define CGROUP		"/sys/fs/cgroup/uffdwp-matrix"
#define CG_MAX		(8UL << 20)
#define HUGETLB_NEED	16	/* free hugetlb pages a hugetlb cell wants */

/* ------------------------------------------------------------------ */
/* the table                                                           */

enum kind { K_ANON, K_THP, K_SHMEM, K_SHMEM_PRIV, K_HUGETLB, K_HUGETLB_PRIV,
	    K_FILE, K_FILE_PRIV };

struct memtype {
	const char *name;
	const char *fs;
	const char *dir;
	enum kind kind;
	bool thp;	/* shmem or file: a 2 MiB aligned MADV_HUGEPAGE mapping */
	bool lf_expected;	/* file: large folios are expected on this fs */
};

enum event { E_NONE, E_FSYNC, E_ZAP, E_MEMCG, E_MIGRATE, E_COMPACT, E_FORK,
	     E_FORK_EV, E_MREMAP, E_MPROTECT, E_SPLIT, E_COLLAPSE, E_TRUNCATE,
	     E_PUNCH, NR_EVENTS };

static const char *const ev_name[NR_EVENTS] = {
	"none", "fsync", "zap+evict", "memcg-swap", "numa-migrate", "compact",
	"fork", "fork-event", "mremap", "mprotect", "thp-split", "thp-collapse",
	"truncate", "punch-hole",
};

/* events applied a second time before the second round of writes */
static const bool ev_repeat[NR_EVENTS] = {
	[E_NONE] = true, [E_FSYNC] = true, [E_ZAP] = true, [E_MEMCG] = true,
	[E_MIGRATE] = true, [E_COMPACT] = true, [E_MREMAP] = true,
	[E_MPROTECT] = true,
};

enum mode { MO_SYNC, MO_SIGBUS, MO_ASYNC, NR_MODES };

static const char *const mode_name[NR_MODES] = { "sync", "sigbus", "async" };

static bool has_fd(enum kind k)
{
	return k != K_ANON && k != K_THP;
}

static bool is_file(enum kind k)
{
	return k == K_FILE || k == K_FILE_PRIV;
}

static bool is_hugetlb(enum kind k)
{
	return k == K_HUGETLB || k == K_HUGETLB_PRIV;
}

static bool is_private(enum kind k)
{
	return k == K_ANON || k == K_THP || k == K_SHMEM_PRIV ||
	       k == K_HUGETLB_PRIV || k == K_FILE_PRIV;
}

static bool applies(enum event e, const struct memtype *mt)
{
	enum kind k = mt->kind;

	/* large folios of shmem and files: only the events that act on them */
	if (mt->thp)
		return e == E_SPLIT || e == E_COLLAPSE;
	switch (e) {
	case E_FSYNC:
		return has_fd(k);
	case E_MEMCG:
		return !is_hugetlb(k);
	case E_SPLIT:
	case E_COLLAPSE:
		return k == K_THP;
	case E_TRUNCATE:
	case E_PUNCH:
		return k == K_SHMEM || k == K_SHMEM_PRIV || is_file(k);
	default:
		return true;
	}
}

/* ------------------------------------------------------------------ */
/* state shared between the runner and the cell processes              */

#define MAXOBS		64

/* what a cell reports back (a MAP_SHARED page) */
struct cellres {
	uint64_t events, bytes, reports;
	int nobs;
	uint8_t obs[MAXOBS];	/* observations compared with shmem */
	uint16_t obs_unit[MAXOBS];
	char skip[160];
};

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
	const struct memtype *mt;
	enum event ev;
	enum mode mode;
};

/* observation bits of an affected unit (truncate, punch hole, fork) */
enum { OBS_ZERO = 1, OBS_BASE = 2, OBS_OLD = 3, OBS_REPORTED = 4, OBS_WRITTEN = 8 };

struct area {
	const struct cell *cell;
	enum kind kind;
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
	atomic_int bad;		/* unexpected messages, recorded in why */
	char why[256];
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

/* units a truncate/punch touches: the upper half */
static bool affected(struct area *a, size_t u)
{
	return (a->cell->ev == E_TRUNCATE || a->cell->ev == E_PUNCH) &&
	       u >= a->nunits / 2;
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
		res->bytes += a->unit;
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

static void bad(struct area *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bad(struct area *a, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&a->bad, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
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
			bad(a, "fault at %#lx without the WP flag (%#llx)", (long)p,
			    (unsigned long long)m->arg.pagefault.flags);
			return;
		}
		if (a->cell->mode != MO_SYNC)
			bad(a, "a fault message in %s mode", mode_name[a->cell->mode]);
		if (p < base || p >= base + a->len) {
			bad(a, "fault at %#lx outside the area", (long)p);
			return;
		}
		u = (p - base) / a->unit;
		atomic_fetch_add(child ? &a->child_reports[u] : &a->reports[u], 1);
		e = uffd_wp(fd, (void *)(base + u * a->unit), a->unit, false);
		if (e)
			bad(a, "UFFDIO_WRITEPROTECT clear: %s", strerror(e));
		break;
	case UFFD_EVENT_FORK:
		if (a->child_uffd >= 0)
			bad(a, "a second fork event");
		else
			a->child_uffd = m->arg.fork.ufd;
		break;
	case UFFD_EVENT_REMAP:
		/* the event may be read after mremap() returned: no address check */
		if (m->arg.remap.len != a->len)
			bad(a, "remap event %#llx+%#llx, area %#lx+%#zx",
			    (unsigned long long)m->arg.remap.from,
			    (unsigned long long)m->arg.remap.len, (long)base, a->len);
		break;
	default:
		bad(a, "unexpected event %u", m->event);
	}
}

static void *handler(void *arg)
{
	struct area *a = arg;
	struct pollfd pf[4];
	struct uffd_msg m;
	size_t u;
	char c = 1;
	int i;

	for (;;) {
		pf[0] = (struct pollfd){ .fd = a->efd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = a->uffd, .events = POLLIN };
		pf[2] = (struct pollfd){ .fd = a->req[0], .events = POLLIN };
		pf[3] = (struct pollfd){ .fd = a->child_uffd, .events = POLLIN };
		if (poll(pf, 4, 1000) < 0) {
			if (errno == EINTR)
				continue;
			bad(a, "poll: %m");
			return NULL;
		}
		if (pf[0].revents)
			return NULL;
		for (i = 1; i < 4; i += 2) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			if (pf[i].revents & (POLLERR | POLLHUP)) {
				if (i == 3) {
					close(a->child_uffd);
					a->child_uffd = -1;
				}
				continue;
			}
			while (read(pf[i].fd, &m, sizeof(m)) == sizeof(m))
				handle_msg(a, pf[i].fd, &m);
		}
		if (pf[2].revents & POLLIN) {
			if (read(a->req[0], &u, sizeof(u)) != sizeof(u) || u >= a->nunits)
				continue;
			atomic_fetch_add(&a->child_reports[u], 1);
			if (a->child_uffd >= 0)
				uffd_wp(a->child_uffd, a->addr + u * a->unit, a->unit, false);
			if (write(a->ack[1], &c, 1) != 1)
				bad(a, "ack: %m");
		}
	}
}

/* ------------------------------------------------------------------ */
/* PAGEMAP_SCAN                                                        */

/* units with a page in category cat into got[]; the number of bytes or -1 */
static long scan(struct area *a, int pid, uint64_t cat, bool *got)
{
	struct page_region r[64];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)a->addr,
		.end = (uintptr_t)a->addr + a->len,
		.vec = (uintptr_t)r,
		.vec_len = 64,
		.category_mask = cat,
		.return_mask = cat,
	};
	char path[64];
	long bytes = 0;
	uintptr_t p;
	int fd, n, i;

	if (got)
		memset(got, 0, a->nunits * sizeof(*got));
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do {
		n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			close(fd);
			return -1;
		}
		for (i = 0; i < n; i++) {
			bytes += r[i].end - r[i].start;
			for (p = r[i].start; got && p < r[i].end; p += psize)
				got[(p - (uintptr_t)a->addr) / a->unit] = true;
		}
		arg.start = arg.walk_end;
	} while (arg.walk_end < arg.end && n > 0);
	close(fd);
	return bytes;
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

static bool read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	return true;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return errno;
	n = write(fd, s, strlen(s));
	e = errno;
	close(fd);
	return n < 0 ? e : 0;
}

static long meminfo(const char *key)
{
	char buf[8192], *p;

	if (!read_file("/proc/meminfo", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, key);
	return p ? atol(p + strlen(key)) : -1;
}

static int skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->skip, sizeof(res->skip), fmt, ap);
	va_end(ap);
	return SKIP;
}

/* a 2 MiB aligned anonymous THP */
static int setup_thp(struct area *a)
{
	char *raw = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long huge;

	if (raw == MAP_FAILED)
		return fail("mmap: %m");
	a->addr = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	if (madvise(a->addr, HPAGE, MADV_HUGEPAGE))
		return fail("MADV_HUGEPAGE: %m");
	a->addr[0] = 1;
	huge = scan(a, getpid(), PAGE_IS_HUGE, NULL);
	if (huge < 0)
		return fail("PAGEMAP_SCAN(PAGE_IS_HUGE): %m");
	if (huge != (long)HPAGE) {
		if (!strstr(thp_enabled, "[always]") && !strstr(thp_enabled, "[madvise]"))
			return skip("THP unavailable (enabled: %s)",
				    thp_enabled[0] ? thp_enabled : "no sysfs file");
		return fail("no THP after MADV_HUGEPAGE although THP is enabled (%ld huge bytes)",
			    huge);
	}
	return PASS;
}

/* ------------------------------------------------------------------ */
/* large folios of shmem and files                                     */

#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16
#define KPF_THP			22
#define THP_SYSFS		"/sys/kernel/mm/transparent_hugepage/"

/* what backs a range: PMD mappings and the folios of its mapped pages */
struct folios {
	long huge;		/* bytes mapped by PMDs (PAGE_IS_HUGE) */
	int pages;		/* pages in the range */
	int present;		/* pages mapped */
	int large;		/* mapped pages that belong to large folios */
	int heads;		/* large folios whose head is mapped */
	int biggest;		/* the most pages of a large folio seen in a row */
	int thp;		/* mapped pages with KPF_THP */
	bool pfns;		/* PFNs and kpageflags were readable */
};

static void folios_of(char *addr, size_t len, struct folios *f)
{
	struct area a = { .addr = addr, .len = len, .unit = psize };
	uint64_t pm[MAXU], fl;
	size_t n = len / psize, i;
	int pfd, kfd, run = 0;

	memset(f, 0, sizeof(*f));
	f->pages = n;
	f->huge = scan(&a, getpid(), PAGE_IS_HUGE, NULL);
	pfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	kfd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (pfd >= 0 && kfd >= 0 && n <= MAXU &&
	    pread(pfd, pm, n * 8, (uintptr_t)addr / psize * 8) == (ssize_t)(n * 8)) {
		for (i = 0; i < n; i++) {
			if (!(pm[i] & PM_PRESENT)) {
				run = 0;
				continue;
			}
			f->present++;
			if (!(pm[i] & PM_PFN) ||
			    pread(kfd, &fl, 8, (pm[i] & PM_PFN) * 8) != 8) {
				run = 0;
				continue;
			}
			f->pfns = true;
			if (fl & (1ULL << KPF_COMPOUND_HEAD)) {
				f->heads++;
				run = 0;
			}
			if (fl & (1ULL << KPF_THP))
				f->thp++;
			if (fl & ((1ULL << KPF_COMPOUND_HEAD) | (1ULL << KPF_COMPOUND_TAIL))) {
				f->large++;
				if (++run > f->biggest)
					f->biggest = run;
			} else {
				run = 0;
			}
		}
	}
	if (pfd >= 0)
		close(pfd);
	if (kfd >= 0)
		close(kfd);
}

static const char *folios_str(const struct folios *f)
{
	static char buf[200];

	if (!f->pfns)
		snprintf(buf, sizeof(buf), "%ld bytes PMD-mapped, %d of %d pages mapped, folios unknown (no PFNs or /proc/kpageflags)",
			 f->huge, f->present, f->pages);
	else
		snprintf(buf, sizeof(buf), "%ld bytes PMD-mapped, %d of %d pages mapped, %d in large folios (%d heads, up to %d pages in a row, %d KPF_THP)",
			 f->huge, f->present, f->pages, f->large, f->heads, f->biggest,
			 f->thp);
	return buf;
}

/* read every page: what is in the page cache gets mapped */
static void touch_all(char *addr, size_t len)
{
	size_t o;

	for (o = 0; o < len; o += psize)
		(void)*(volatile char *)(addr + o);
}

/* a mapping of fd; 2 MiB aligned with MADV_HUGEPAGE for large folio types */
static char *map_fd(int fd, size_t len, int flags, bool thp)
{
	char *raw, *p;

	if (!thp)
		return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	raw = mmap(NULL, len + HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (raw == MAP_FAILED)
		return raw;
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	if (p > raw)
		munmap(raw, p - raw);
	munmap(p + len, raw + HPAGE - p);
	p = mmap(p, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
	if (p != MAP_FAILED && madvise(p, len, MADV_HUGEPAGE)) {
		int e = errno;

		munmap(p, len);
		errno = e;
		return MAP_FAILED;
	}
	return p;
}

/*
 * Before protecting a shmem/file large folio type: a PMD maps it, or (files)
 * large folios back it; shmem without a PMD fails.
 */
static int check_large(struct area *a)
{
	const struct memtype *mt = a->cell->mt;
	struct folios f;

	(void)*(volatile char *)a->addr;
	folios_of(a->addr, a->len, &f);
	if (f.huge < 0)
		return fail("PAGEMAP_SCAN(PAGE_IS_HUGE): %m");
	if (f.huge == (long)HPAGE) {
		diag("%s %s: before protection: %s", mt->name, mt->fs, folios_str(&f));
		return PASS;
	}
	touch_all(a->addr, a->len);
	folios_of(a->addr, a->len, &f);
	if (!is_file(a->kind))
		return fail("no PMD mapping of a shmem THP with shmem_enabled=advise and MADV_HUGEPAGE: %s",
			    folios_str(&f));
	if (!f.pfns)
		return skip("%s: no PMD mapping and the folios cannot be seen (%s)", mt->fs,
			    folios_str(&f));
	if (f.large) {
		diag("%s %s: no PMD mapping, split/collapse on the large folios there: %s",
		     mt->name, mt->fs, folios_str(&f));
		return PASS;
	}
	if (mt->lf_expected)
		return fail("%s: no large folio after a MADV_HUGEPAGE fault although %s has large folios in 6.12: %s",
			    mt->fs, mt->fs, folios_str(&f));
	return skip("%s: no large folio in the page cache after a MADV_HUGEPAGE fault (%s)",
		    mt->fs, folios_str(&f));
}

static int setup(struct area *a)
{
	enum kind k = a->kind;
	bool priv = is_private(k);
	size_t u;
	char *tmp;
	int flags = priv ? MAP_PRIVATE : MAP_SHARED;

	a->fd = -1;
	a->thp = k == K_THP || a->cell->mt->thp;
	a->unit = is_hugetlb(k) ? HPAGE : psize;
	a->nunits = a->thp ? HPAGE / psize : is_hugetlb(k) ? 4 : NSLOTS;
	a->len = a->unit * a->nunits;
	a->salt = ((uint32_t)getpid() & 0xfffff) << 8;
	for (u = 0; u < a->nunits; u++)
		a->base[u] = has_fd(k) ? stamp(a, G_BASE) : 0;

	switch (k) {
	case K_ANON:
		a->addr = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a->addr == MAP_FAILED)
			return fail("mmap: %m");
		break;
	case K_THP:
		TRY(setup_thp(a));
		break;
	case K_SHMEM:
	case K_SHMEM_PRIV:
		a->fd = memfd_create("uffd-wp-matrix", MFD_CLOEXEC);
		break;
	case K_HUGETLB:
	case K_HUGETLB_PRIV:
		if (meminfo("HugePages_Free:") < HUGETLB_NEED)
			return skip("fewer than %d free hugetlb pages (HugePages_Free %ld)",
				    HUGETLB_NEED, meminfo("HugePages_Free:"));
		a->fd = memfd_create("uffd-wp-matrix", MFD_CLOEXEC | MFD_HUGETLB);
		break;
	case K_FILE:
	case K_FILE_PRIV:
		snprintf(a->path, sizeof(a->path), "%s/.uffd-wp-matrix.%d",
			 a->cell->mt->dir, (int)getpid());
		a->fd = open(a->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		break;
	}
	if (has_fd(k)) {
		if (a->fd < 0)
			return fail("memfd_create/open: %m");
		if (ftruncate(a->fd, a->len))
			return fail("ftruncate: %m");
		/*
		 * the backing data, through a shared mapping: hugetlbfs has no
		 * write(), and the MADV_HUGEPAGE faults of this mapping are what
		 * allocates the large folios of the large folio types
		 */
		tmp = map_fd(a->fd, a->len, MAP_SHARED, a->thp);
		if (tmp == MAP_FAILED)
			return fail("mmap backing: %m");
		for (u = 0; u < a->nunits; u++)
			fill(tmp + u * a->unit, a->unit, u, a->base[u]);
		if (msync(tmp, a->len, MS_SYNC))
			return fail("msync: %m");
		munmap(tmp, a->len);
		if (is_file(k) && fsync(a->fd))
			return fail("fsync: %m");
		a->addr = map_fd(a->fd, a->len, flags, a->thp);
		if (a->addr == MAP_FAILED)
			return fail("mmap: %m");
		if (a->thp)
			TRY(check_large(a));
	}
	/*
	 * anon: everything written; fd-backed: S2 units stay unmapped, slots
	 * 3 mod 4 are written (COW copies when private), the others are read
	 */
	for (u = 0; u < a->nunits; u++) {
		a->exp[u] = a->base[u];
		if (!has_fd(k) || (u % step(a) == 0 && (u / step(a)) % 4 == 3)) {
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
	bool zap = is_hugetlb(a->kind) || (has_fd(a->kind) && round == 0);
	unsigned char vec[MAXU];
	int tries, left = 0;
	size_t u;

	if (is_file(a->kind) && (msync(a->addr, a->len, MS_SYNC) || fsync(a->fd)))
		return fail("msync/fsync: %m");
	if (zap) {
		if (madvise(a->addr, a->len, MADV_DONTNEED))
			return fail("MADV_DONTNEED: %m");
		for (u = 0; u < a->nunits; u++) {
			if (a->cow[u]) {	/* private copies are dropped */
				a->cow[u] = false;
				a->exp[u] = a->base[u];
			}
		}
	} else if (madvise(a->addr, a->len, MADV_PAGEOUT)) {
		return fail("MADV_PAGEOUT: %m");
	}
	if (!is_file(a->kind))
		return PASS;
	/*
	 * File pages: they must really leave the page cache.  Reclaim may
	 * leave a folio mapped (busy, under writeback: seen once on btrfs on
	 * the debug kernel, all 16 pages), and POSIX_FADV_DONTNEED does not
	 * drop mapped folios: reclaim again on each try.
	 */
	for (tries = 0; tries < 50; tries++) {
		fsync(a->fd);
		if (tries && !zap && madvise(a->addr, a->len, MADV_PAGEOUT))
			return fail("MADV_PAGEOUT: %m");
		posix_fadvise(a->fd, 0, 0, POSIX_FADV_DONTNEED);
		if (mincore(a->addr, a->len, vec))
			return fail("mincore: %m");
		for (left = 0, u = 0; u < a->nunits; u++)
			left += !a->cow[u] && (vec[u] & 1);
		if (!left)
			return PASS;
		sleep_ms(20);
	}
	return fail("%d file pages still in the page cache after %s and POSIX_FADV_DONTNEED",
		    left, zap ? "MADV_DONTNEED" : "MADV_PAGEOUT");
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
	e = write_file(CGROUP "/memory.reclaim", "64M");
	if (e && e != EAGAIN)
		return fail("memory.reclaim: %s", strerror(e));
	if (!is_hugetlb(a->kind) && !mincore(a->addr, a->len, vec)) {
		for (n = 0, i = 0; i < a->len / psize; i++)
			n += vec[i] & 1;
		diag("memcg: %zu of %zu pages resident after reclaim", n, a->len / psize);
	}
	return PASS;
}

static int do_migrate(struct area *a, int round)
{
	size_t n = a->len / (is_hugetlb(a->kind) ? HPAGE : psize), i;
	int to = round % 2 ? numa_a : numa_b, moved = 0, err = 0;
	void **pages = calloc(n, sizeof(*pages));
	int *nodes = calloc(n, sizeof(int)), *status = calloc(n, sizeof(int));

	if (!pages || !nodes || !status)
		return fail("calloc");
	for (i = 0; i < n; i++) {
		pages[i] = a->addr + i * (a->len / n);
		nodes[i] = to;
	}
	if (syscall(__NR_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE) < 0)
		return fail("move_pages: %m");
	for (i = 0; i < n; i++) {
		if (status[i] == to)
			moved++;
		else if (status[i] < 0 && status[i] != -ENOENT)
			err = status[i];
	}
	diag("move_pages to node %d: %d of %zu pages there%s%s", to, moved, n,
	     err ? ", last error " : "", err ? strerror(-err) : "");
	free(pages);
	free(nodes);
	free(status);
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

	if (has_fd(a->kind) && a->thp) {
		touch_all(a->addr, a->len);
		folios_of(a->addr, a->len, &f);
		diag("split: protected, before (pages read): %s", folios_str(&f));
		if (is_file(a->kind) && (msync(a->addr, a->len, MS_SYNC) || fsync(a->fd)))
			return fail("msync/fsync: %m");
	}
	if (mprotect(a->addr + HPAGE / 2, psize, PROT_READ) ||
	    mprotect(a->addr + HPAGE / 2, psize, PROT_READ | PROT_WRITE))
		return fail("partial mprotect: %m");
	snprintf(buf, sizeof(buf), "%d,%#lx,%#lx", (int)getpid(), (long)a->addr,
		 (long)(a->addr + a->len));
	e = write_file(SPLIT_DEBUGFS, buf);
	if (has_fd(a->kind) && a->thp) {
		snprintf(buf, sizeof(buf), "/proc/self/fd/%d,0x0,0x%lx", a->fd,
			 (unsigned long)(a->len / psize));
		ef = write_file(SPLIT_DEBUGFS, buf);
		touch_all(a->addr, a->len);
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
	if (has_fd(a->kind) && a->thp) {
		r = r ? errno : 0;
		touch_all(a->addr, a->len);
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
	size_t extra = a->thp || is_hugetlb(a->kind) ? HPAGE : 0;
	char *r = mmap(NULL, a->len + extra, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), *to, *got;

	if (r == MAP_FAILED)
		return fail("mmap: %m");
	to = extra ? (char *)(((uintptr_t)r + HPAGE - 1) & ~(HPAGE - 1)) : r;
	got = mremap(a->addr, a->len, a->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (got == MAP_FAILED)
		return fail("mremap: %m");
	a->addr = got;
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
	if (!is_private(a->kind))	/* the child's writes are ours too */
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
		if (!event && !is_file(a->kind) && n)
			return fail("child (no EVENT_FORK): unit %zu reported %d times", u, n);
	}
	return PASS;
}

static int apply_event(struct area *a, int round)
{
	int e;

	res->events++;
	switch (a->cell->ev) {
	case E_NONE:
		res->events--;
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
		e = write_file("/proc/sys/vm/compact_memory", "1");
		return e ? fail("compact_memory: %s", strerror(e)) : PASS;
	case E_FORK:
	case E_FORK_EV:
		return do_fork(a);
	case E_MREMAP:
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
		if (is_private(a->kind))
			a->cow[u] = true;
	}
	if (atomic_load(&a->bad))
		return fail("handler: %s", a->why);
	if (a->cell->mode == MO_ASYNC)
		return PASS;
	for (u = 0; u < a->nunits; u++) {
		n = atomic_exchange(&a->reports[u], 0);
		res->reports += n;
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
		res->reports += written[u] && want;
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

	if (!has_fd(a->kind))
		return PASS;
	if (munmap(a->addr, a->len))
		return fail("munmap: %m");
	if (is_file(a->kind)) {
		if (fsync(a->fd))
			return fail("fsync: %m");
		posix_fadvise(a->fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	buf = malloc(a->unit);
	if (!buf)
		return fail("malloc");
	for (u = 0; u < a->nunits; u++) {
		if (pread(a->fd, buf, a->unit, u * a->unit) != (ssize_t)a->unit) {
			return fail("pread unit %zu: %m", u);
		}
		w = diff(buf, a->unit, u, is_private(a->kind) ? a->base[u] : a->exp[u]);
		if (w >= 0)
			return fail("file re-read: unit %zu word %ld is %#llx, expected %#llx%s",
				    u, w, (unsigned long long)((uint64_t *)buf)[w],
				    (unsigned long long)word(is_private(a->kind) ?
							     a->base[u] : a->exp[u], u, w),
				    is_private(a->kind) ? " (MAP_PRIVATE must not change the file)" : "");
		res->bytes += a->unit;
	}
	free(buf);
	return PASS;
}

static int compare_ref(struct area *a)
{
	const struct reference *r = &ref[a->cell->ev][a->cell->mode][is_private(a->kind)];
	int i;

	if (!is_file(a->kind) || (a->cell->ev != E_TRUNCATE &&
				   a->cell->ev != E_PUNCH && a->cell->ev != E_FORK))
		return PASS;
	if (!r->valid)
		return fail("no %s result to compare with (it failed or did not run)",
			    is_private(a->kind) ? "shmem-private" : "shmem");
	if (r->nobs != res->nobs)
		return fail("%d observations, %s had %d", res->nobs,
			    is_private(a->kind) ? "shmem-private" : "shmem", r->nobs);
	for (i = 0; i < r->nobs; i++)
		if (r->obs[i] != res->obs[i] || r->obs_unit[i] != res->obs_unit[i])
			return fail("observation %d, unit %u: %#x, %s saw %#x for unit %u (1 zeros, 2 file data, 3 old data after the event; 8 written, 4 reported or PAGE_IS_WRITTEN)",
				    i, res->obs_unit[i], res->obs[i],
				    is_private(a->kind) ? "shmem-private" : "shmem",
				    r->obs[i], r->obs_unit[i]);
	return PASS;
}

static int run_cell(const void *arg)
{
	const struct cell *cl = arg;
	struct area *a = calloc(1, sizeof(*a));
	uint64_t feat = 0, supp;
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	enum event ev = cl->ev;
	uint64_t one = 1;
	int e, rc;

	if (!a)
		return fail("calloc");
	a->cell = cl;
	a->kind = cl->mt->kind;
	a->child_uffd = -1;
	cur = a;
	if (ev == E_MEMCG && write_file(CGROUP "/cgroup.procs", "0"))
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
	a->efd = eventfd(0, EFD_CLOEXEC);
	if (a->efd < 0 || pipe2(a->req, O_CLOEXEC) || pipe2(a->ack, O_CLOEXEC))
		return fail("eventfd/pipe: %m");
	if (sigaction(SIGBUS, &sa, NULL))
		return fail("sigaction: %m");
	if (pthread_create(&a->thr, NULL, handler, a))
		return fail("pthread_create");
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
	if (a->cell->mode == MO_SIGBUS && atomic_load(&a->bad))
		return fail("handler: %s", a->why);
	if (write(a->efd, &one, sizeof(one)) != sizeof(one))
		return fail("eventfd write: %m");
	pthread_join(a->thr, NULL);
	if (atomic_load(&a->bad))
		return fail("handler: %s", a->why);
	rc = check_backing(a);
	if (rc)
		return rc;
	rc = compare_ref(a);
	if (a->path[0])
		unlink(a->path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the runner                                                          */

static int64_t start_ms, budget_ms;
static uint64_t tot_cells, tot_events, tot_bytes, tot_reports;

static const char *cell_skip(const struct cell *c)
{
	static char why[160];
	enum kind k = c->mt->kind;

	if (is_file(k) && !have_wp_file && !expect_wp_file())
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
	if (c->mt->thp && !is_file(k) && shmem_thp_why[0])
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

static void run_one(const struct cell *c)
{
	const char *why = cell_skip(c);
	struct reference *r;
	struct isolated iso;
	int64_t left;
	int rc;

	memset(res, 0, sizeof(*res));
	if (why) {
		tap_result(SKIP, why, "%s %s %s %s", c->mt->name, c->mt->fs,
			   ev_name[c->ev], mode_name[c->mode]);
		return;
	}
	if (is_file(c->mt->kind) && !have_wp_file) {
		fail("UFFD_FEATURE_WP_FILE is expected but the kernel does not advertise it");
		tap_result(FAIL, NULL, "%s %s %s %s", c->mt->name, c->mt->fs,
			   ev_name[c->ev], mode_name[c->mode]);
		return;
	}
	left = budget_ms - (now_ms() - start_ms);
	if (left <= 0) {
		fail("time budget of %lld s exhausted", (long long)budget_ms / 1000);
		rc = FAIL;
	} else {
		rc = run_isolated(run_cell, c, left < CELL_TIMEOUT_S * 1000 ?
				  (int)left : CELL_TIMEOUT_S * 1000, &iso);
		if (iso.why[0])
			fail("cell %s", iso.why);
		if (is_file(c->mt->kind) && iso.pid > 0) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/.uffd-wp-matrix.%d", c->mt->dir,
				 (int)iso.pid);
			unlink(path);
		}
	}
	if (rc == PASS || rc == FAIL) {
		tot_cells++;
		tot_events += res->events;
		tot_bytes += res->bytes;
		tot_reports += res->reports;
	}
	if ((c->mt->kind == K_SHMEM || c->mt->kind == K_SHMEM_PRIV) && !c->mt->thp) {
		r = &ref[c->ev][c->mode][c->mt->kind == K_SHMEM_PRIV];
		r->valid = rc == PASS;
		r->nobs = res->nobs;
		memcpy(r->obs, res->obs, sizeof(r->obs));
		memcpy(r->obs_unit, res->obs_unit, sizeof(r->obs_unit));
		if (rc == PASS && res->nobs)
			diag_obs(c);
	}
	if (rc == PASS)
		tap_result(PASS, NULL, "%s %s %s %s: %llu bytes verified, %llu reports",
			   c->mt->name, c->mt->fs, ev_name[c->ev], mode_name[c->mode],
			   (unsigned long long)res->bytes, (unsigned long long)res->reports);
	else
		tap_result(rc, res->skip, "%s %s %s %s", c->mt->name, c->mt->fs,
			   ev_name[c->ev], mode_name[c->mode]);
}

static bool setup_memcg(void)
{
	char buf[32];

	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(CGROUP, 0755) && errno != EEXIST)
		return false;
	snprintf(buf, sizeof(buf), "%lu", CG_MAX);
	return !write_file(CGROUP "/memory.max", buf) &&
	       !write_file(CGROUP "/memory.swap.max", "max");
}

/*
 * Does the page cache of files in dir get large folios?  A 2 MiB file,
 * written through a 2 MiB aligned MADV_HUGEPAGE shared mapping, read back
 * through another one: its folios into *f; false when it could not be tried.
 */
static bool probe_large_folios(const char *dir, struct folios *f)
{
	char path[PATH_MAX], *p;
	bool ok = false;
	int fd;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/.uffd-wp-matrix.probe.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	unlink(path);
	if (ftruncate(fd, HPAGE))
		goto out;
	p = map_fd(fd, HPAGE, MAP_SHARED, true);
	if (p == MAP_FAILED)
		goto out;
	memset(p, 0x5a, HPAGE);
	munmap(p, HPAGE);
	p = map_fd(fd, HPAGE, MAP_SHARED, true);
	if (p == MAP_FAILED)
		goto out;
	touch_all(p, HPAGE);
	folios_of(p, HPAGE, f);
	munmap(p, HPAGE);
	ok = true;
out:
	close(fd);
	return ok;
}

/* the file systems whose page cache has large folios in Linux 6.12 */
static bool large_folios_expected(const char *fs)
{
	return !strcmp(fs, "xfs");
}

/* shmem_enabled: "advise" for the test; the old value into old[] */
static void shmem_thp_setup(char *old, size_t len)
{
	char buf[128], *o, *c;
	int e;

	old[0] = 0;
	if (!read_file(THP_SYSFS "shmem_enabled", buf, sizeof(buf))) {
		snprintf(shmem_thp_why, sizeof(shmem_thp_why),
			 "no " THP_SYSFS "shmem_enabled (CONFIG_TRANSPARENT_HUGEPAGE=n)");
		return;
	}
	o = strchr(buf, '[');
	c = o ? strchr(o, ']') : NULL;
	if (!c) {
		snprintf(shmem_thp_why, sizeof(shmem_thp_why),
			 "cannot parse " THP_SYSFS "shmem_enabled: %.60s", buf);
		return;
	}
	*c = 0;
	snprintf(old, len, "%s", o + 1);
	e = write_file(THP_SYSFS "shmem_enabled", "advise");
	if (e) {
		snprintf(shmem_thp_why, sizeof(shmem_thp_why),
			 "cannot set shmem_enabled to advise: %s", strerror(e));
		old[0] = 0;
	}
}

#define MAX_MT	(7 + 4 * MAX_TEST_FS)

int main(void)
{
	static struct memtype mts[MAX_MT];
	static struct cell cells[NR_EVENTS * NR_MODES * MAX_MT];
	struct test_fs fs[MAX_TEST_FS];
	int nfs, nmt = 0, ncells = 0, i, m, e, o;
	const char *b = getenv("UFFDWP_BUDGET");
	char shmem_old[32];
	struct folios f;
	bool lf;

	setvbuf(stdout, NULL, _IOLBF, 0);
	start_ms = now_ms();
	budget_ms = (b && atoi(b) > 0 ? atoi(b) : DEFAULT_BUDGET_S) * 1000LL;
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
	if (!read_file("/sys/kernel/mm/transparent_hugepage/enabled", thp_enabled,
		       sizeof(thp_enabled)))
		thp_enabled[0] = 0;
	thp_enabled[strcspn(thp_enabled, "\n")] = 0;
	shmem_thp_setup(shmem_old, sizeof(shmem_old));
	diag("uffd-wp-matrix: features %#llx, WP_FILE %s (%sexpected), NUMA %s, memcg %s, THP %s, shmem THP %s%s, %d file systems",
	     (unsigned long long)kfeatures, have_wp_file ? "yes" : "no",
	     expect_wp_file() ? "" : "not ", have_numa ? "2 nodes" : "no",
	     have_memcg ? "yes" : "no", thp_enabled,
	     shmem_thp_why[0] ? shmem_thp_why : "advise, was ",
	     shmem_thp_why[0] ? "" : shmem_old, nfs);

	mts[nmt++] = (struct memtype){ "anon", "-", NULL, K_ANON, false, false };
	mts[nmt++] = (struct memtype){ "anon-thp", "-", NULL, K_THP, false, false };
	mts[nmt++] = (struct memtype){ "shmem", "memfd", NULL, K_SHMEM, false, false };
	mts[nmt++] = (struct memtype){ "shmem-private", "memfd", NULL, K_SHMEM_PRIV, false, false };
	mts[nmt++] = (struct memtype){ "hugetlb", "memfd", NULL, K_HUGETLB, false, false };
	mts[nmt++] = (struct memtype){ "hugetlb-private", "memfd", NULL, K_HUGETLB_PRIV,
				       false, false };
	mts[nmt++] = (struct memtype){ "shmem-thp", "memfd", NULL, K_SHMEM, true, false };
	for (i = 0; i < nfs; i++) {
		mts[nmt++] = (struct memtype){ "file-shared", fs[i].name, fs[i].dir, K_FILE,
					       false, false };
		mts[nmt++] = (struct memtype){ "file-private", fs[i].name, fs[i].dir, K_FILE_PRIV,
					       false, false };
	}
	/* large page cache folios: where expected, or where the probe finds them */
	for (i = 0; i < nfs; i++) {
		lf = large_folios_expected(fs[i].name);
		if (!probe_large_folios(fs[i].dir, &f))
			diag("large folios on %s: probe failed: %m", fs[i].name);
		else
			diag("large folios on %s (%sexpected): %s", fs[i].name, lf ? "" : "not ",
			     folios_str(&f));
		if (!lf && !(f.pfns && f.large))
			continue;
		mts[nmt++] = (struct memtype){ "file-shared-thp", fs[i].name, fs[i].dir,
					       K_FILE, true, lf };
		mts[nmt++] = (struct memtype){ "file-private-thp", fs[i].name, fs[i].dir,
					       K_FILE_PRIV, true, lf };
	}
	/* shmem before files: the file cells compare with it */
	for (e = 0; e < NR_EVENTS; e++)
		for (o = 0; o < NR_MODES; o++)
			for (m = 0; m < nmt; m++)
				if (applies(e, &mts[m]))
					cells[ncells++] = (struct cell){ &mts[m], e, o };
	tap_plan(ncells);
	for (i = 0; i < ncells; i++)
		run_one(&cells[i]);
	rmdir(CGROUP);
	e = shmem_old[0] ? write_file(THP_SYSFS "shmem_enabled", shmem_old) : 0;
	if (e)
		diag("restoring shmem_enabled to %s: %s", shmem_old, strerror(e));
	diag("stats: cells=%llu events=%llu bytes=%llu reports=%llu",
	     (unsigned long long)tot_cells, (unsigned long long)tot_events,
	     (unsigned long long)tot_bytes, (unsigned long long)tot_reports);
	return tap_totals(start_ms);
}
