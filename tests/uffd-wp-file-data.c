// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-file-data: data integrity, ENOSPC and lock independence of
 * synchronous userfaultfd write-protect on regular page-cache files.
 *
 * Cases (one TAP point each, per file system where marked <fs>):
 *   no-data-loss-remount <small>   MAP_SHARED writes through protected
 *                                  pages survive umount + mount
 *   no-data-loss-evict <fs>        ... survive fsync + POSIX_FADV_DONTNEED
 *                                  (mincore-checked); also checks that
 *                                  ->page_mkwrite runs in the documented order
 *   enospc-sigbus-marker <small>   full fs, write to a protected page that is
 *                                  not mapped (pte marker): SIGBUS
 *   enospc-sigbus-present <small>  full fs, write to a protected page that is
 *                                  mapped read-only: one report, then SIGBUS
 *   no-blocking-while-blocked <fs> while writers are blocked on protected
 *                                  pages, pread/pwrite/fsync/other mmap/
 *                                  ftruncate/punch-hole from another thread
 *                                  and another process do not block
 *   private-no-file-modification <fs>  MAP_PRIVATE writes never reach the file
 *
 * Every case runs in a process of its own with a hard timeout; inside it the
 * accesses that may fault run in separate threads while the main thread is
 * the fault handler (poll() with timeouts), so a lost report or a blocked
 * writer is a failure, not a hang.
 *
 * Environment:
 *   UFFDWP_FS              space-separated "name:mountpoint" list
 *                          (default: the current directory as "cwd")
 *   UFFDWP_SMALLFS         mount point of a small, dedicated ext4 (it is
 *                          unmounted, mounted again and filled up)
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *   UFFDWP_BUDGET          total time budget in seconds (default 110)
 *
 * Output is TAP; exit status 0 when no case failed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"

#define MAXPG			64
#define WAIT_MS			10000	/* longest wait for a report / writers */
#define OP_TIMEOUT_S		10	/* longest an operation may take in case 5 */
#define CASE_TIMEOUT_S		60	/* hard limit for one case process */
#define DEFAULT_BUDGET_S	110	/* hard limit for the whole run */
#define NWRITERS		4

static size_t psize;
static atomic_int evseq;	/* orders reports read and SIGBUS taken */
static uint64_t kfeatures;
static bool have_wp_file;

/* ------------------------------------------------------------------ */
/* /proc/self/pagemap                                                  */

static uint64_t pagemap(void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (unsigned long)addr / psize * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

static const char *pm_str(uint64_t e)
{
	if (e & PM_PRESENT)
		return e & PM_UFFD_WP ? "present+uffd-wp" : "present";
	return e & PM_UFFD_WP ? "not present, uffd-wp marker" : "not present";
}

/* ------------------------------------------------------------------ */
/* data patterns: every 8-byte word of (salt, page, gen) is unique;    */
/* generation 0 is a page of zeroes (a hole)                           */

static uint64_t word(int salt, int page, int gen, size_t k)
{
	if (!gen)
		return 0;
	return (0xA5ULL << 56) | ((uint64_t)(salt & 0xff) << 48) |
	       ((uint64_t)(gen & 0xff) << 40) | ((uint64_t)(page & 0xffff) << 24) | k;
}

/* the first store of this loop is the write fault */
static void fill_page(char *p, int salt, int page, int gen)
{
	volatile uint64_t *w = (volatile uint64_t *)p;
	size_t k;

	for (k = 0; k < psize / 8; k++)
		w[k] = word(salt, page, gen, k);
}

static void make_page(char *buf, int salt, int page, int gen)
{
	uint64_t *w = (uint64_t *)buf;
	size_t k;

	for (k = 0; k < psize / 8; k++)
		w[k] = word(salt, page, gen, k);
}

static const char *word_str(uint64_t v, char *s)
{
	if (!v)
		sprintf(s, "zero");
	else if ((v >> 56) == 0xA5)
		sprintf(s, "salt %d page %d gen %d", (int)(v >> 48) & 0xff,
			(int)(v >> 24) & 0xffff, (int)(v >> 40) & 0xff);
	else
		sprintf(s, "%#llx", (unsigned long long)v);
	return s;
}

/* number of wrong words in a page; the first one is described */
static int check_page(const char *what, const char *p, int salt, int page, int gen)
{
	const uint64_t *w = (const uint64_t *)p;
	char s1[64], s2[64];
	size_t k, first = 0;
	int bad = 0;

	for (k = 0; k < psize / 8; k++) {
		if (w[k] == word(salt, page, gen, k))
			continue;
		if (!bad++)
			first = k;
	}
	if (bad)
		diag("%s: page %d: %d/%zu word(s) wrong, first at byte %zu: %s, expected %s",
		     what, page, bad, psize / 8, first * 8, word_str(w[first], s1),
		     word_str(word(salt, page, gen, first), s2));
	return bad;
}

static int verify_map(const char *what, char *map, int salt, int n, const int *gens)
{
	int i, bad = 0;

	for (i = 0; i < n; i++)
		bad += check_page(what, map + (size_t)i * psize, salt, i, gens[i]) != 0;
	return bad ? fail("%s: %d page(s) wrong", what, bad) : PASS;
}

static int verify_file(const char *what, int fd, int salt, int n, const int *gens)
{
	char *buf = malloc(psize);
	int i, bad = 0;
	ssize_t r;

	if (!buf)
		return fail("malloc");
	for (i = 0; i < n; i++) {
		r = pread(fd, buf, psize, (off_t)i * psize);
		if (r != (ssize_t)psize) {
			diag("%s: pread page %d: %zd (%m)", what, i, r);
			bad++;
			continue;
		}
		bad += check_page(what, buf, salt, i, gens[i]) != 0;
	}
	free(buf);
	return bad ? fail("%s: %d page(s) wrong", what, bad) : PASS;
}

static int pwrite_page(int fd, int salt, int page, int gen)
{
	char *buf = malloc(psize);
	ssize_t r;

	if (!buf)
		return ENOMEM;
	make_page(buf, salt, page, gen);
	r = pwrite(fd, buf, psize, (off_t)page * psize);
	free(buf);
	return r == (ssize_t)psize ? 0 : (r < 0 ? errno : EIO);
}

/* ------------------------------------------------------------------ */
/* a protected file area                                               */

struct area {
	char path[PATH_MAX];
	int fd;
	int uffd;
	char *map;
	int n;			/* pages */
	int salt;
	bool shared;
};

static void area_init(struct area *a)
{
	memset(a, 0, sizeof(*a));
	a->fd = a->uffd = -1;
	a->map = MAP_FAILED;
}

static char *page_addr(struct area *a, int i)
{
	return a->map + (size_t)i * psize;
}

/*
 * Create the file at path with n pages; gens[i] is written to page i,
 * generation 0 pages are left as holes.  The file is written back and
 * dropped from the page cache, so that the first access reads it back.
 */
static int area_file(struct area *a, const char *path, int n, const int *gens, int salt)
{
	int i, e;

	snprintf(a->path, sizeof(a->path), "%s", path);
	a->n = n;
	a->salt = salt;
	unlink(path);
	a->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (a->fd < 0)
		return fail("create %s: %m", path);
	if (ftruncate(a->fd, (off_t)n * psize))
		return fail("ftruncate: %m");
	for (i = 0; i < n; i++)
		if (gens[i] && (e = pwrite_page(a->fd, salt, i, gens[i]))) {
			errno = e;
			return fail("pwrite page %d: %m", i);
		}
	if (fsync(a->fd))
		return fail("fsync: %m");
	posix_fadvise(a->fd, 0, 0, POSIX_FADV_DONTNEED);
	return PASS;
}

/* map, open a userfaultfd, register the whole mapping in WP mode */
static int area_map(struct area *a, bool shared)
{
	int e;

	a->shared = shared;
	a->map = mmap(NULL, (size_t)a->n * psize, PROT_READ | PROT_WRITE,
		      shared ? MAP_SHARED : MAP_PRIVATE, a->fd, 0);
	if (a->map == MAP_FAILED)
		return fail("mmap: %m");
	a->uffd = uffd_open(0, NULL);
	if (a->uffd < 0)
		return fail("userfaultfd/UFFDIO_API: %s", strerror(-a->uffd));
	e = uffd_register(a->uffd, a->map, (size_t)a->n * psize, UFFDIO_REGISTER_MODE_WP,
			  NULL);
	if (e)
		return fail("UFFDIO_REGISTER(MODE_WP) on a %s mapping of %s: %s%s",
			    shared ? "MAP_SHARED" : "MAP_PRIVATE", a->path, strerror(e),
			    e == EINVAL && !have_wp_file ? " (kernel without UFFD_FEATURE_WP_FILE)" : "");
	return PASS;
}

static int protect_page(struct area *a, int i, bool wp)
{
	int e = uffd_wp(a->uffd, page_addr(a, i), psize, wp);

	return e ? (errno = e, fail("UFFDIO_WRITEPROTECT(%s) page %d: %m", wp ? "WP" : "0", i)) : PASS;
}

static int protect_all(struct area *a, bool wp)
{
	int e = uffd_wp(a->uffd, a->map, (size_t)a->n * psize, wp);

	return e ? (errno = e, fail("UFFDIO_WRITEPROTECT(%s) whole area: %m", wp ? "WP" : "0")) : PASS;
}

static void read_fault(struct area *a, int from, int to)
{
	volatile char *p = a->map;
	int i;

	for (i = from; i < to; i++)
		(void)p[(size_t)i * psize + 8];
}

static void area_unmap(struct area *a)
{
	if (a->map != MAP_FAILED)
		munmap(a->map, (size_t)a->n * psize);
	a->map = MAP_FAILED;
	if (a->uffd >= 0)
		close(a->uffd);
	a->uffd = -1;
}

static void area_destroy(struct area *a)
{
	area_unmap(a);
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->path[0])
		unlink(a->path);
	a->path[0] = 0;
}

/* ------------------------------------------------------------------ */
/* fault handler (the calling thread) and writer threads               */

struct handler {
	struct area *a;
	bool hold;		/* record reports, do not resolve them */
	int counts[MAXPG];	/* reports per page */
	int total;
	int bad;		/* malformed / outside the area / ioctl errors */
	int held[MAXPG];	/* pages of held reports, in order */
	int nheld;
	int seq_first;		/* event number of the first report */
};

static void handler_reset(struct handler *h, struct area *a, bool hold)
{
	memset(h, 0, sizeof(*h));
	h->a = a;
	h->hold = hold;
}

static void drain(struct handler *h)
{
	struct area *a = h->a;
	struct uffd_msg m;
	unsigned long addr, base = (unsigned long)a->map;
	int i, e;

	while (read(a->uffd, &m, sizeof(m)) == sizeof(m)) {
		if (m.event != UFFD_EVENT_PAGEFAULT) {
			diag("unexpected uffd event %#x", m.event);
			h->bad++;
			continue;
		}
		addr = m.arg.pagefault.address & ~(unsigned long)(psize - 1);
		if (!h->total++)
			h->seq_first = atomic_fetch_add(&evseq, 1) + 1;
		if (!(m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
		    !(m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)) {
			diag("report at %#lx with flags %#llx, want WP|WRITE", addr,
			     (unsigned long long)m.arg.pagefault.flags);
			h->bad++;
		}
		if (addr < base || addr >= base + (size_t)a->n * psize) {
			diag("report at %#lx outside the area", addr);
			h->bad++;
			continue;
		}
		i = (addr - base) / psize;
		h->counts[i]++;
		if (h->hold) {
			if (h->nheld < MAXPG)
				h->held[h->nheld++] = i;
			continue;
		}
		e = uffd_wp(a->uffd, (void *)addr, psize, false);
		if (e) {
			diag("resolving page %d: UFFDIO_WRITEPROTECT(0): %s", i, strerror(e));
			h->bad++;
		}
	}
}

/* writers: SIGBUS is caught per thread with sigsetjmp/siglongjmp */
static __thread sigjmp_buf *bus_jb;
static __thread void *bus_addr;

static void bus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (bus_jb) {
		bus_addr = si->si_addr;
		siglongjmp(*bus_jb, 1);
	}
	signal(sig, SIG_DFL);	/* not ours: the retried access kills us */
}

static int install_bus_handler(void)
{
	struct sigaction sa = { .sa_sigaction = bus_handler, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? fail("sigaction(SIGBUS): %m") : PASS;
}

/* 1 when the fill raised SIGBUS */
static int guarded_fill(char *p, int salt, int page, int gen)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		bus_jb = NULL;
		return 1;
	}
	bus_jb = &jb;
	fill_page(p, salt, page, gen);
	bus_jb = NULL;
	return 0;
}

struct writer {
	struct area *a;
	int gen;
	int pages[MAXPG];
	int n;
	pthread_t th;
	atomic_int progress;	/* pages done */
	atomic_bool done;
	bool started;
	int sigbus;		/* pages that raised SIGBUS */
	int sigbus_page;
	int seq_sigbus;		/* event number of the first SIGBUS */
	int efd;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	uint64_t one = 1;
	int i;

	for (i = 0; i < w->n; i++) {
		int pg = w->pages[i];

		if (guarded_fill(page_addr(w->a, pg), w->a->salt, pg, w->gen)) {
			if (!w->sigbus++) {
				w->sigbus_page = pg;
				w->seq_sigbus = atomic_fetch_add(&evseq, 1) + 1;
			}
		}
		atomic_fetch_add(&w->progress, 1);
	}
	atomic_store(&w->done, true);
	if (write(w->efd, &one, sizeof(one)) < 0)
		perror("eventfd");
	return NULL;
}

struct crew {
	struct writer w[NWRITERS];
	int nw;
	int efd;
};

/* nw writers share out the pages with want[i] set, page i to writer i % nw */
static int crew_start(struct crew *c, struct area *a, const bool *want, int gen, int nw)
{
	int i, k;

	memset(c, 0, sizeof(*c));
	c->nw = nw;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0)
		return fail("eventfd: %m");
	for (k = 0; k < nw; k++) {
		c->w[k].a = a;
		c->w[k].gen = gen;
		c->w[k].efd = c->efd;
		c->w[k].sigbus_page = -1;
	}
	for (i = 0; i < a->n; i++)
		if (want[i]) {
			struct writer *w = &c->w[i % nw];

			w->pages[w->n++] = i;
		}
	for (k = 0; k < nw; k++) {
		if (pthread_create(&c->w[k].th, NULL, writer_fn, &c->w[k]))
			return fail("pthread_create failed");
		c->w[k].started = true;
	}
	return PASS;
}

static bool crew_done(struct crew *c)
{
	int k;

	for (k = 0; k < c->nw; k++)
		if (c->w[k].started && !atomic_load(&c->w[k].done))
			return false;
	return true;
}

/* handle reports until the writers are done or until timeout_ms */
static bool crew_wait(struct crew *c, struct handler *h, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms, left;
	uint64_t v;

	while (!crew_done(c) && (left = deadline - now_ms()) > 0) {
		struct pollfd p[2] = {
			{ .fd = h->a->uffd, .events = POLLIN },
			{ .fd = c->efd, .events = POLLIN },
		};

		if (poll(p, 2, left) > 0) {
			drain(h);
			if (read(c->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
		}
	}
	drain(h);
	return crew_done(c);
}

/* handle reports until n are held (h->hold) or timeout_ms */
static bool wait_reports(struct handler *h, int n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms, left;

	drain(h);
	while (h->total < n && (left = deadline - now_ms()) > 0) {
		struct pollfd p = { .fd = h->a->uffd, .events = POLLIN };

		if (poll(&p, 1, left) > 0)
			drain(h);
	}
	return h->total >= n;
}

/*
 * Wait for the crew; if it does not finish, drop the protection so that it
 * can.  Threads are joined only once done: a thread stuck in the kernel is
 * left behind for the process exit (the case fails anyway).
 */
static int crew_finish(struct crew *c, struct handler *h, int timeout_ms)
{
	int k, rc = PASS;

	if (!crew_wait(c, h, timeout_ms)) {
		int prog = 0;

		for (k = 0; k < c->nw; k++)
			prog += atomic_load(&c->w[k].progress);
		rc = fail("writers not done after %d ms (%d page(s) written, %d report(s)): blocked",
			  timeout_ms, prog, h->total);
		uffd_wp(h->a->uffd, h->a->map, (size_t)h->a->n * psize, false);
		h->hold = false;
		if (!crew_wait(c, h, 3000))
			return fail("writers still stuck after dropping the protection");
	}
	for (k = 0; k < c->nw; k++)
		if (c->w[k].started)
			pthread_join(c->w[k].th, NULL);
	close(c->efd);
	return rc;
}

/* reports must be exactly one per page in want */
static int check_counts(struct handler *h, const bool *want, const char *what)
{
	int i, bad = 0, nwant = 0;

	for (i = 0; i < h->a->n; i++) {
		nwant += want[i];
		if (h->counts[i] == (want[i] ? 1 : 0))
			continue;
		if (bad++ < 6)
			diag("%s: page %d reported %d time(s), expected %d", what, i,
			     h->counts[i], want[i] ? 1 : 0);
	}
	if (bad || h->bad || h->total != nwant)
		return fail("%s: %d report(s) for %d first write(s), %d page(s) off, %d bad report(s)",
			    what, h->total, nwant, bad, h->bad);
	diag("%s: %d report(s) for %d first write(s)", what, h->total, nwant);
	return PASS;
}

/* write gen to the pages in want with NWRITERS threads, one report each */
static int write_phase(struct area *a, const bool *want, int gen, const char *what)
{
	struct handler h;
	struct crew c;
	int rc;

	handler_reset(&h, a, false);
	TRY(crew_start(&c, a, want, gen, NWRITERS));
	rc = crew_finish(&c, &h, WAIT_MS);
	rc |= check_counts(&h, want, what);
	return rc ? FAIL : PASS;
}

/* ------------------------------------------------------------------ */
/* page cache                                                          */

/* pages of path in the page cache (mincore of a fresh mapping), -1 on error */
static int cached_pages(int fd, int n)
{
	unsigned char vec[MAXPG * 2];
	void *m;
	int i, c = 0;

	m = mmap(NULL, (size_t)n * psize, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -1;
	if (mincore(m, (size_t)n * psize, vec))
		c = -1;
	for (i = 0; c >= 0 && i < n; i++)
		c += vec[i] & 1;
	munmap(m, (size_t)n * psize);
	return c;
}

/* write back and drop the file's pages; their number left in the cache */
static int evict(int fd, int n)
{
	int tries, c = -1;

	for (tries = 0; tries < 6; tries++) {
		if (tries)
			sleep_ms(200);
		if (fsync(fd))
			return -1;
		if (tries > 2)
			sync();
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		c = cached_pages(fd, n);
		if (c <= 0)
			break;
	}
	return c;
}

/* ------------------------------------------------------------------ */
/* mounts                                                              */

/* device and type of the file system mounted at mnt; false if none */
static bool find_mount(const char *mnt, char *dev, size_t devlen, char *type, size_t typelen)
{
	char line[1024], d[512], m[512], t[64];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%511s %511s %63s", d, m, t) == 3 && !strcmp(m, mnt)) {
			snprintf(dev, devlen, "%s", d);
			snprintf(type, typelen, "%s", t);
			found = true;	/* the last one is the visible one */
		}
	fclose(f);
	return found;
}

static const char *small_fs(void)
{
	const char *s = getenv("UFFDWP_SMALLFS");

	return s && *s ? s : NULL;
}

/* ------------------------------------------------------------------ */
/* ordering of ->page_mkwrite and the report (the documented order)    */

struct fstate {
	long long blocks;
	struct timespec mtime;
};

static void fstate(int fd, struct fstate *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (!fstat(fd, &st)) {
		s->blocks = st.st_blocks;
		s->mtime = st.st_mtim;
	}
}

static bool mtime_changed(const struct fstate *a, const struct fstate *b)
{
	return a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec;
}

/*
 * Write one hole page of a protected MAP_SHARED mapping, once when the page
 * is not mapped (pte marker) and once when it is mapped read-only, and look
 * at what ->page_mkwrite leaves behind (delalloc reservation in st_blocks,
 * file_update_time in st_mtime, the pte) when the report arrives and after
 * it was resolved.
 */
static int probe_order(const char *dir, const char *fsname, int salt)
{
	static const char *kind[2] = { "not mapped (pte marker)", "mapped read-only (present pte)" };
	int gens[4] = { 0, 0, 0, 0 };
	bool want[4];
	char path[PATH_MAX];
	struct area a;
	int k, rc = PASS;

	snprintf(path, sizeof(path), "%s/.uffd-wp-data-probe", dir);
	area_init(&a);
	rc = area_file(&a, path, 4, gens, salt);
	if (!rc)
		rc = area_map(&a, true);
	if (!rc) {
		read_fault(&a, 1, 2);
		rc = protect_all(&a, true);
	}
	for (k = 0; k < 2 && !rc; k++) {
		struct fstate s0, s1, s2;
		struct handler h;
		struct crew c;
		uint64_t pm0, pm1;
		bool before;

		memset(want, 0, sizeof(want));
		want[k] = true;
		fstate(a.fd, &s0);
		pm0 = pagemap(page_addr(&a, k));
		sleep_ms(30);		/* past the coarse timestamp granularity */
		handler_reset(&h, &a, true);
		rc = crew_start(&c, &a, want, 1, 1);
		if (rc)
			break;
		if (!wait_reports(&h, 1, WAIT_MS))
			rc = fail("%s: write to a protected hole page %s not reported", fsname, kind[k]);
		fstate(a.fd, &s1);
		pm1 = pagemap(page_addr(&a, k));
		if (!rc && atomic_load(&c.w[0].done))
			rc = fail("%s: writer finished while its report was held", fsname);
		sleep_ms(30);		/* an mtime update after the resolve shows */
		if (!rc)
			rc = protect_page(&a, k, false);
		h.hold = false;
		rc |= crew_finish(&c, &h, WAIT_MS);
		fstate(a.fd, &s2);
		if (rc)
			break;
		before = s1.blocks != s0.blocks || mtime_changed(&s0, &s1);
		diag("order %s, page %s [pte %s before the write]: at the report st_blocks %lld -> %lld, mtime %s, pte %s; after the un-protect and the write st_blocks %lld, mtime %s => ->page_mkwrite ran %s the report",
		     fsname, kind[k], pm_str(pm0), s0.blocks, s1.blocks,
		     mtime_changed(&s0, &s1) ? "updated" : "unchanged", pm_str(pm1),
		     s2.blocks, mtime_changed(&s1, &s2) ? "updated" : "unchanged",
		     before ? "BEFORE" : "AFTER");
		/* The order documented in userfaultfd.rst */
		if (k == 0 && !before)
			rc = fail("%s: ->page_mkwrite had not run when the write to a page %s was reported (documented: before the report)",
				  fsname, kind[k]);
		if (k == 1 && before)
			rc = fail("%s: ->page_mkwrite ran before the write to a page %s was reported (documented: after the un-protect)",
				  fsname, kind[k]);
		if (k == 1 && !before && s2.blocks == s1.blocks && !mtime_changed(&s1, &s2))
			rc = fail("%s: no sign of ->page_mkwrite after the un-protect of a page %s",
				  fsname, kind[k]);
	}
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* cases 1 and 2: no data loss                                         */

#define DATA_PAGES	64

static int data_case(const char *dir, const char *fsname, bool remount, int salt)
{
	int init[DATA_PAGES], gens[DATA_PAGES], i, n, rc;
	bool all[DATA_PAGES], odd[DATA_PAGES];
	char path[PATH_MAX], dev[512], type[64];
	struct area a;

	if (remount && !find_mount(dir, dev, sizeof(dev), type, sizeof(type)))
		return fail("%s is not a mount point (/proc/mounts)", dir);
	if (remount && strcmp(type, "ext4"))
		return fail("%s is %s, not ext4", dir, type);

	TRY(probe_order(dir, fsname, salt + 1));

	/* even pages hold data, odd pages are holes */
	for (i = 0; i < DATA_PAGES; i++) {
		init[i] = i % 2 ? 0 : 1;
		all[i] = true;
		odd[i] = i % 2;
	}
	snprintf(path, sizeof(path), "%s/.uffd-wp-data-%s", dir, remount ? "remount" : "evict");
	area_init(&a);
	rc = area_file(&a, path, DATA_PAGES, init, salt);
	if (!rc)
		rc = area_map(&a, true);
	if (rc)
		goto out;
	/* first half mapped read-only (present ptes), second half not (markers) */
	read_fault(&a, 0, DATA_PAGES / 2);
	rc = protect_all(&a, true);
	if (!rc)
		rc = write_phase(&a, all, 2, "generation 2, all pages");
	if (rc)
		goto out;
	for (i = 0; i < DATA_PAGES; i++)
		gens[i] = 2;
	/* protect the odd pages again; drop the last quarter's ptes (markers) */
	for (i = 1; i < DATA_PAGES && !rc; i += 2)
		rc = protect_page(&a, i, true);
	if (!rc && madvise(page_addr(&a, 3 * DATA_PAGES / 4), DATA_PAGES / 4 * psize, MADV_DONTNEED))
		rc = fail("MADV_DONTNEED: %m");
	if (!rc)
		rc = write_phase(&a, odd, 3, "generation 3, odd pages re-protected");
	if (rc)
		goto out;
	for (i = 1; i < DATA_PAGES; i += 2)
		gens[i] = 3;
	rc = verify_map("mapping after the writes", a.map, salt, DATA_PAGES, gens);
	if (msync(a.map, DATA_PAGES * psize, MS_SYNC))
		rc = fail("msync: %m");
	area_unmap(&a);

	if (remount) {
		close(a.fd);
		a.fd = -1;
		for (i = 0; i < 50 && umount2(dir, 0); i++) {
			if (errno != EBUSY) {
				rc = fail("umount2(%s): %m", dir);
				goto out;
			}
			sleep_ms(100);
		}
		if (i == 50) {
			rc = fail("umount2(%s): busy for 5 s", dir);
			goto out;
		}
		if (mount(dev, dir, type, 0, NULL)) {
			rc = fail("mount(%s, %s, %s): %m", dev, dir, type);
			goto out;
		}
		diag("unmounted and mounted %s (%s) again", dir, dev);
		a.fd = open(path, O_RDONLY | O_CLOEXEC);
		if (a.fd < 0) {
			rc = fail("open %s after the remount: %m", path);
			goto out;
		}
		rc |= verify_file("pread after umount + mount", a.fd, salt, DATA_PAGES, gens);
	} else {
		if (fsync(a.fd))
			rc = fail("fsync: %m");
		n = evict(a.fd, DATA_PAGES);
		if (n)
			rc = fail("%d/%d page(s) still in the page cache after fsync + POSIX_FADV_DONTNEED",
				  n, DATA_PAGES);
		else
			diag("all %d pages left the page cache (mincore)", DATA_PAGES);
		rc |= verify_file("pread after eviction", a.fd, salt, DATA_PAGES, gens);
	}
	{
		struct stat st;

		if (a.fd >= 0 && !fstat(a.fd, &st) && st.st_size != (off_t)DATA_PAGES * (off_t)psize)
			rc = fail("file size %lld, expected %zu", (long long)st.st_size,
				  DATA_PAGES * psize);
	}
out:
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* cases 3 and 4: ENOSPC                                               */

#define SPARSE_PAGES	32
#define ENOSPC_PAGE	5

static void filler_path(char *buf, size_t len, const char *dir)
{
	snprintf(buf, len, "%s/.uffd-wp-data-filler", dir);
}

/* fill the file system at dir; the filler stays open in *fdp */
static int fill_fs(const char *dir, int *fdp)
{
	char path[PATH_MAX], *buf;
	struct statvfs sv;
	off_t off = 0, chunk = 8 << 20;
	ssize_t r;
	int fd, pass;

	filler_path(path, sizeof(path), dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail("create %s: %m", path);
	*fdp = fd;
	if (statvfs(dir, &sv))
		return fail("statvfs: %m");
	while (chunk >= (off_t)sv.f_bsize) {
		if (!fallocate(fd, 0, off, chunk)) {
			off += chunk;
			continue;
		}
		if (errno != ENOSPC)
			return fail("fallocate: %m");
		chunk /= 2;
	}
	off = lseek(fd, 0, SEEK_END);
	buf = calloc(1, sv.f_bsize);
	if (!buf)
		return fail("calloc");
	/* what fallocate could not take, in blocks; twice, around a fsync */
	for (pass = 0; pass < 2; pass++) {
		while ((r = pwrite(fd, buf, sv.f_bsize, off)) > 0)
			off += r;
		if (r < 0 && errno != ENOSPC) {
			free(buf);
			return fail("filling %s: %m", dir);
		}
		fsync(fd);
	}
	free(buf);
	if (statvfs(dir, &sv))
		return fail("statvfs: %m");
	diag("filled %s: filler %lld KiB; statvfs: %llu free, %llu available blocks of %lu bytes",
	     dir, (long long)off / 1024, (unsigned long long)sv.f_bfree,
	     (unsigned long long)sv.f_bavail, sv.f_bsize);
	return PASS;
}

static void unfill_fs(const char *dir, int fd)
{
	char path[PATH_MAX];

	if (fd >= 0)
		close(fd);
	filler_path(path, sizeof(path), dir);
	unlink(path);
}

static int enospc_case(bool present, int salt)
{
	const char *dir = small_fs();
	int gens[SPARSE_PAGES] = { 0 }, filler = -1, rc, sigbus;
	bool want[SPARSE_PAGES] = { false };
	char path[PATH_MAX];
	struct fstate s0, s1;
	struct handler h;
	struct crew c;
	struct area a;
	uint64_t pm;

	if (!dir)
		return fail("UFFDWP_SMALLFS is not set");
	snprintf(path, sizeof(path), "%s/.uffd-wp-data-sparse", dir);
	area_init(&a);
	rc = area_file(&a, path, SPARSE_PAGES, gens, salt);
	if (rc)
		goto out;
	fstate(a.fd, &s0);
	diag("sparse file: %d pages, st_blocks %lld", SPARSE_PAGES, s0.blocks);
	rc = fill_fs(dir, &filler);
	if (!rc)
		rc = area_map(&a, true);
	if (!rc)
		rc = install_bus_handler();
	if (rc)
		goto out;
	if (present)
		read_fault(&a, 0, SPARSE_PAGES);
	rc = protect_all(&a, true);
	if (rc)
		goto out;
	pm = pagemap(page_addr(&a, ENOSPC_PAGE));
	diag("page %d before the write: pte %s", ENOSPC_PAGE, pm_str(pm));
	if (present && (pm & (PM_PRESENT | PM_UFFD_WP)) != (PM_PRESENT | PM_UFFD_WP)) {
		rc = fail("page %d is not mapped and protected before the write", ENOSPC_PAGE);
		goto out;
	}
	if (!present && (pm & (PM_PRESENT | PM_UFFD_WP)) != PM_UFFD_WP) {
		rc = fail("page %d is not a uffd-wp marker before the write", ENOSPC_PAGE);
		goto out;
	}

	want[ENOSPC_PAGE] = true;
	handler_reset(&h, &a, false);
	rc = crew_start(&c, &a, want, 1, 1);
	if (rc)
		goto out;
	rc = crew_finish(&c, &h, WAIT_MS);
	sigbus = c.w[0].sigbus;
	fstate(a.fd, &s1);
	if (!sigbus)
		diag("write to page %d: no SIGBUS; %d report(s)", ENOSPC_PAGE, h.total);
	else if (!h.total)
		diag("write to page %d: SIGBUS (si_addr page %d), no report: the write fault failed in ->page_mkwrite before it could be reported",
		     ENOSPC_PAGE, c.w[0].sigbus_page);
	else
		diag("write to page %d: %d report(s); the report was read (event #%d) %s the SIGBUS was taken (event #%d)",
		     ENOSPC_PAGE, h.total, h.seq_first,
		     h.seq_first < c.w[0].seq_sigbus ? "before" : "after", c.w[0].seq_sigbus);
	diag("after the write: st_blocks %lld, pte %s", s1.blocks,
	     pm_str(pagemap(page_addr(&a, ENOSPC_PAGE))));
	if (h.bad)
		rc = fail("%d bad report(s)", h.bad);
	if (!sigbus) {
		/* no SIGBUS: then the data must really be in the file */
		int e = msync(a.map, SPARSE_PAGES * psize, MS_SYNC) ? errno : 0;
		int e2 = fsync(a.fd) ? errno : 0;

		diag("msync: %s, fsync: %s", strerror(e), strerror(e2));
		gens[ENOSPC_PAGE] = 1;
		if (!e && !e2) {
			area_unmap(&a);
			evict(a.fd, SPARSE_PAGES);
			if (!verify_file("pread after writeback (no SIGBUS)", a.fd, salt,
					 SPARSE_PAGES, gens))
				diag("no SIGBUS, but the data did reach the file: no silent loss");
		}
		rc = fail("no SIGBUS on a write needing a block of a full file system");
		goto out;
	}
	if (c.w[0].sigbus_page != ENOSPC_PAGE)
		rc = fail("SIGBUS for page %d, wrote page %d", c.w[0].sigbus_page, ENOSPC_PAGE);
	if (present && h.total != 1)
		rc = fail("%d report(s) on the present, protected page, expected exactly 1", h.total);
	rc |= verify_file("pread after the SIGBUS (all zeroes)", a.fd, salt, SPARSE_PAGES, gens);
out:
	area_destroy(&a);
	unfill_fs(dir, filler);
	return rc;
}

/* ------------------------------------------------------------------ */
/* case 5: nothing else blocks while a writer is blocked                */

#define NB_PAGES	16
#define NB_PRESENT	2	/* blocked writer on a mapped, clean page */
#define NB_MARKER	5	/* blocked writer on a pte marker (and a hole) */
#define NB_PUNCH_T	9	/* hole punched by the thread */
#define NB_PUNCH_C	10	/* hole punched by the child */

struct nb {
	struct area *a;
	int fd;			/* own open of the file (fresh file description) */
	int gen[2];		/* generation each blocked page holds in the file */
	int pages_to;		/* ftruncate target, pages */
	int punch;		/* page to punch */
};

static const int nb_pages[2] = { NB_PRESENT, NB_MARKER };

static int nb_check_pread(struct nb *o, const char *what)
{
	char *buf = malloc(psize);
	int k, bad = 0;

	if (!buf)
		return ENOMEM;
	for (k = 0; k < 2; k++) {
		if (pread(o->fd, buf, psize, (off_t)nb_pages[k] * psize) != (ssize_t)psize)
			bad++;
		else
			bad += check_page(what, buf, o->a->salt, nb_pages[k], o->gen[k]) != 0;
	}
	free(buf);
	return bad ? EIO : 0;
}

static int nb_next_gen(struct nb *o)
{
	int g = (o->gen[0] > o->gen[1] ? o->gen[0] : o->gen[1]) + 1;

	o->gen[0] = o->gen[1] = g;
	return g;
}

static int op_pread(struct nb *o)
{
	return nb_check_pread(o, "pread of the blocked pages");
}

static int op_pwrite(struct nb *o)
{
	int k, e, g = nb_next_gen(o);

	for (k = 0; k < 2; k++)
		if ((e = pwrite_page(o->fd, o->a->salt, nb_pages[k], g)))
			return e;
	return nb_check_pread(o, "pread after pwrite to the blocked pages");
}

static int op_fsync(struct nb *o)
{
	return fsync(o->fd) ? errno : 0;
}

static int op_mmap(struct nb *o)
{
	size_t len = NB_PAGES * psize;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
	int k, g, bad = 0;

	if (m == MAP_FAILED)
		return errno;
	for (k = 0; k < 2; k++)
		bad += check_page("second mapping, read", m + nb_pages[k] * psize,
				  o->a->salt, nb_pages[k], o->gen[k]) != 0;
	g = nb_next_gen(o);
	for (k = 0; k < 2; k++)
		fill_page(m + nb_pages[k] * psize, o->a->salt, nb_pages[k], g);
	if (msync(m, len, MS_SYNC))
		bad++;
	munmap(m, len);
	if (bad)
		return EIO;
	return nb_check_pread(o, "pread after writing the second mapping");
}

static int op_extend(struct nb *o)
{
	return ftruncate(o->fd, (off_t)o->pages_to * psize) ? errno : 0;
}

static int op_punch(struct nb *o)
{
	return fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)o->punch * psize, psize) ? errno : 0;
}

static const struct {
	const char *name;
	int (*fn)(struct nb *o);
} nb_ops[] = {
	{ "pread of the blocked pages", op_pread },
	{ "pwrite to the blocked pages", op_pwrite },
	{ "fsync", op_fsync },
	{ "second MAP_SHARED mapping: read and write the blocked pages, msync", op_mmap },
	{ "ftruncate extending the file", op_extend },
	{ "fallocate(PUNCH_HOLE) of another page", op_punch },
};

#define NR_NB_OPS	((int)(sizeof(nb_ops) / sizeof(nb_ops[0])))

struct opthread {
	struct nb *o;
	int op;
	int err;
	atomic_bool done;
};

static void *op_fn(void *arg)
{
	struct opthread *t = arg;

	t->err = nb_ops[t->op].fn(t->o);
	atomic_store(&t->done, true);
	return NULL;
}

/* run the operations in threads, one after the other, each bounded */
static int nb_thread_ops(struct nb *o, struct handler *h)
{
	int i;

	for (i = 0; i < NR_NB_OPS; i++) {
		struct opthread t = { .o = o, .op = i };
		int64_t t0 = now_ms(), deadline = t0 + OP_TIMEOUT_S * 1000;
		pthread_t th;

		if (pthread_create(&th, NULL, op_fn, &t))
			return fail("pthread_create failed");
		while (!atomic_load(&t.done) && now_ms() < deadline)
			sleep_ms(5);
		drain(h);
		if (!atomic_load(&t.done)) {
			/* leave the thread; it would use t: never return from here */
			fail("thread: '%s' blocked for %d s while the writers are blocked",
			     nb_ops[i].name, OP_TIMEOUT_S);
			fflush(stdout);
			_exit(FAIL);
		}
		pthread_join(th, NULL);
		if (t.err) {
			errno = t.err;
			return fail("thread: %s: %m", nb_ops[i].name);
		}
		diag("thread: %s: done in %lld ms", nb_ops[i].name, (long long)(now_ms() - t0));
	}
	return PASS;
}

/* the same from a forked child, each operation under alarm() */
static int nb_child_ops(struct nb *o, struct handler *h)
{
	volatile int *step = mmap(NULL, psize, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t t0 = now_ms(), deadline = t0 + (NR_NB_OPS * OP_TIMEOUT_S + 5) * 1000;
	int status = 0, i, rc = PASS;
	pid_t pid, r;

	if (step == MAP_FAILED)
		return fail("mmap: %m");
	*step = -1;
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
	if (pid == 0) {
		int fd = open(o->a->path, O_RDWR | O_CLOEXEC);

		if (fd < 0)
			_exit(100);
		o->fd = fd;
		for (i = 0; i < NR_NB_OPS; i++) {
			*step = i;
			alarm(OP_TIMEOUT_S);
			if (nb_ops[i].fn(o))
				_exit(10 + i);
			alarm(0);
		}
		*step = NR_NB_OPS;
		_exit(0);
	}
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline) {
		sleep_ms(10);
		drain(h);
	}
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		rc = fail("child: stuck at '%s'", *step >= 0 && *step < NR_NB_OPS ?
			  nb_ops[*step].name : "?");
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
		rc = fail("child: '%s' blocked for %d s while the writers are blocked",
			  nb_ops[*step].name, OP_TIMEOUT_S);
	} else if (WIFSIGNALED(status)) {
		rc = fail("child: killed by signal %d during '%s'", WTERMSIG(status),
			  *step >= 0 && *step < NR_NB_OPS ? nb_ops[*step].name : "?");
	} else if (WEXITSTATUS(status) >= 10 && WEXITSTATUS(status) < 10 + NR_NB_OPS) {
		rc = fail("child: '%s' failed", nb_ops[WEXITSTATUS(status) - 10].name);
	} else if (WEXITSTATUS(status)) {
		rc = fail("child: exit status %d", WEXITSTATUS(status));
	} else {
		diag("child: all %d operations done in %lld ms", NR_NB_OPS,
		     (long long)(now_ms() - t0));
		nb_next_gen(o);	/* the child's pwrite */
		nb_next_gen(o);	/* the child's write through its mapping */
	}
	munmap((void *)step, psize);
	return rc;
}

static int t_no_block(const char *dir, const char *fsname, int salt)
{
	int init[NB_PAGES], gens[NB_PAGES], i, k, rc;
	bool want[NB_PAGES] = { false };
	char path[PATH_MAX];
	struct handler h;
	struct crew c;
	struct area a;
	struct nb o;

	for (i = 0; i < NB_PAGES; i++)
		init[i] = i == NB_MARKER ? 0 : 1;
	snprintf(path, sizeof(path), "%s/.uffd-wp-data-noblock", dir);
	area_init(&a);
	rc = area_file(&a, path, NB_PAGES, init, salt);
	if (!rc)
		rc = area_map(&a, true);
	if (rc)
		goto out;
	read_fault(&a, NB_PRESENT, NB_PRESENT + 1);
	rc = protect_all(&a, true);
	if (rc)
		goto out;

	/* two writers, each blocked on one page; reports read, not resolved */
	want[NB_PRESENT] = want[NB_MARKER] = true;
	handler_reset(&h, &a, true);
	rc = crew_start(&c, &a, want, 2, 2);
	if (rc)
		goto out;
	if (!wait_reports(&h, 2, WAIT_MS)) {
		rc = fail("%d of 2 writes reported", h.total);
		crew_finish(&c, &h, 0);
		goto out;
	}
	diag("%s: writers blocked on page %d (pte %s) and page %d (pte %s), reports held",
	     fsname, NB_PRESENT, pm_str(pagemap(page_addr(&a, NB_PRESENT))),
	     NB_MARKER, pm_str(pagemap(page_addr(&a, NB_MARKER))));

	memset(&o, 0, sizeof(o));
	o.a = &a;
	o.fd = open(path, O_RDWR | O_CLOEXEC);
	if (o.fd < 0) {
		rc = fail("open %s: %m", path);
		crew_finish(&c, &h, 0);
		goto out;
	}
	o.gen[0] = 1;	/* NB_PRESENT */
	o.gen[1] = 0;	/* NB_MARKER: a hole */
	o.pages_to = NB_PAGES + 4;
	o.punch = NB_PUNCH_T;
	rc = nb_thread_ops(&o, &h);
	o.pages_to = NB_PAGES + 8;
	o.punch = NB_PUNCH_C;
	if (!rc)
		rc = nb_child_ops(&o, &h);
	if (!rc)
		rc = nb_check_pread(&o, "pread after the child's operations") ?
		     fail("the child's writes are not visible") : PASS;
	close(o.fd);

	/* the writers are still blocked, nothing else was reported */
	drain(&h);
	if (crew_done(&c) || atomic_load(&c.w[0].progress) || atomic_load(&c.w[1].progress))
		rc |= fail("a writer went past its protected page without being resolved");
	if (h.total != 2)
		diag("%d report(s) in all (re-reports of the blocked writes?)", h.total);
	for (k = 0; k < h.nheld; k++)
		if (h.held[k] != NB_PRESENT && h.held[k] != NB_MARKER)
			rc |= fail("report for page %d", h.held[k]);

	/* resolve: the writers finish, their data is the last write */
	rc |= protect_page(&a, NB_PRESENT, false);
	rc |= protect_page(&a, NB_MARKER, false);
	h.hold = false;
	rc |= crew_finish(&c, &h, WAIT_MS);
	if (rc)
		goto out;
	for (i = 0; i < NB_PAGES; i++)
		gens[i] = 1;
	gens[NB_PRESENT] = gens[NB_MARKER] = 2;
	gens[NB_PUNCH_T] = gens[NB_PUNCH_C] = 0;
	rc = verify_map("mapping after the writers finished", a.map, salt, NB_PAGES, gens);
	if (!rc)
		diag("%s: the blocked writers' data (gen 2) replaced what pwrite and the other mappings wrote meanwhile (gen %d)",
		     fsname, o.gen[0]);
	if (msync(a.map, NB_PAGES * psize, MS_SYNC) || fsync(a.fd))
		rc = fail("msync/fsync: %m");
	area_unmap(&a);
	if (evict(a.fd, NB_PAGES + 8))
		diag("note: pages still cached after POSIX_FADV_DONTNEED");
	{
		int g2[NB_PAGES + 8] = { 0 };
		struct stat st;

		memcpy(g2, gens, sizeof(gens));
		rc |= verify_file("pread after writeback", a.fd, salt, NB_PAGES + 8, g2);
		if (fstat(a.fd, &st) || st.st_size != (off_t)(NB_PAGES + 8) * (off_t)psize)
			rc = fail("file size %lld, expected %zu", (long long)st.st_size,
				  (NB_PAGES + 8) * psize);
	}
out:
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* case 6: MAP_PRIVATE never modifies the file                         */

#define PRIV_PAGES	32

static int t_private(const char *dir, const char *fsname, int salt)
{
	int init[PRIV_PAGES], gens[PRIV_PAGES], i, n, rc;
	bool all[PRIV_PAGES];
	char path[PATH_MAX];
	struct fstate s0, s1;
	struct area a;

	(void)fsname;
	for (i = 0; i < PRIV_PAGES; i++) {
		init[i] = i % 4 == 3 ? 0 : 1;	/* some holes */
		gens[i] = 2;
		all[i] = true;
	}
	snprintf(path, sizeof(path), "%s/.uffd-wp-data-private", dir);
	area_init(&a);
	rc = area_file(&a, path, PRIV_PAGES, init, salt);
	if (!rc)
		rc = area_map(&a, false);
	if (rc)
		goto out;
	fstate(a.fd, &s0);
	read_fault(&a, 0, PRIV_PAGES / 2);
	rc = protect_all(&a, true);
	if (!rc)
		rc = write_phase(&a, all, 2, "MAP_PRIVATE, generation 2, all pages");
	if (rc)
		goto out;
	rc = verify_map("private mapping after the writes", a.map, salt, PRIV_PAGES, gens);
	if (msync(a.map, PRIV_PAGES * psize, MS_SYNC) || fsync(a.fd))
		rc = fail("msync/fsync: %m");
	rc |= verify_file("pread before eviction", a.fd, salt, PRIV_PAGES, init);
	n = evict(a.fd, PRIV_PAGES);
	if (n)
		diag("note: %d page(s) still cached after POSIX_FADV_DONTNEED", n);
	rc |= verify_file("pread after eviction (file unchanged)", a.fd, salt, PRIV_PAGES, init);
	rc |= verify_map("private mapping after eviction", a.map, salt, PRIV_PAGES, gens);
	fstate(a.fd, &s1);
	if (s1.blocks != s0.blocks || mtime_changed(&s0, &s1))
		rc = fail("file changed: st_blocks %lld -> %lld, mtime %s", s0.blocks,
			  s1.blocks, mtime_changed(&s0, &s1) ? "updated" : "unchanged");
out:
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* runner: each case in its own process group, with a hard timeout     */

static struct test_fs fss[MAX_TEST_FS];
static int nr_fs;

enum ckind { C_REMOUNT, C_EVICT, C_ENOSPC_MARKER, C_ENOSPC_PRESENT, C_NOBLOCK, C_PRIVATE };

struct tcase {
	enum ckind kind;
	const char *name;
	const struct test_fs *fs;	/* NULL: the small fs */
	int salt;
};

static int run_tcase(const void *arg)
{
	const struct tcase *t = arg;

	switch (t->kind) {
	case C_REMOUNT:
		return small_fs() ? data_case(small_fs(), "ext4-small", true, t->salt) :
				    fail("UFFDWP_SMALLFS is not set");
	case C_EVICT:
		return data_case(t->fs->dir, t->fs->name, false, t->salt);
	case C_ENOSPC_MARKER:
		return enospc_case(false, t->salt);
	case C_ENOSPC_PRESENT:
		return enospc_case(true, t->salt);
	case C_NOBLOCK:
		return t_no_block(t->fs->dir, t->fs->name, t->salt);
	case C_PRIVATE:
		return t_private(t->fs->dir, t->fs->name, t->salt);
	}
	return FAIL;
}

static int64_t start_ms, budget_ms;

/* put the small fs back if a case left it unmounted */
static void ensure_mounted(const char *dir, const char *dev, const char *type)
{
	char d[512], t[64];

	if (!dir || !dev[0] || find_mount(dir, d, sizeof(d), t, sizeof(t)))
		return;
	if (mount(dev, dir, type, 0, NULL))
		diag("cannot mount %s at %s again: %m", dev, dir);
	else
		diag("mounted %s at %s again after the case", dev, dir);
}

static void cleanup_files(const struct tcase *t)
{
	static const char *names[] = { "probe", "remount", "evict", "sparse", "filler",
				       "noblock", "private" };
	const char *dir = t->fs ? t->fs->dir : small_fs();
	char path[PATH_MAX];
	unsigned int k;

	if (!dir)
		return;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		snprintf(path, sizeof(path), "%s/.uffd-wp-data-%s", dir, names[k]);
		unlink(path);
	}
}

static void run_one(const struct tcase *t, const char *sdev, const char *stype)
{
	int64_t t0 = now_ms(), left = budget_ms - (t0 - start_ms);
	struct isolated iso;
	char desc[256];
	int rc;

	snprintf(desc, sizeof(desc), "%s %s", t->name, t->fs ? t->fs->name : "ext4-small");
	if (!have_wp_file && !expect_wp_file()) {
		tap_result(SKIP, "kernel lacks UFFD_FEATURE_WP_FILE (expected)", "%s", desc);
		return;
	}
	if (left <= 0) {
		fail("time budget of %lld s exhausted", (long long)budget_ms / 1000);
		tap_result(FAIL, NULL, "%s", desc);
		return;
	}
	rc = run_isolated(run_tcase, t, left < CASE_TIMEOUT_S * 1000 ?
			  (int)left : CASE_TIMEOUT_S * 1000, &iso);
	if (iso.why[0])
		fail("case %s", iso.why);
	ensure_mounted(small_fs(), sdev, stype);
	cleanup_files(t);
	if (!have_wp_file) {
		/* expected but missing: the case ran to show what fails */
		diag("UFFD_FEATURE_WP_FILE expected but not advertised; the case itself %s",
		     rc == PASS ? "passed" : "failed");
		rc = FAIL;
	}
	diag("%s: %lld ms", desc, (long long)(now_ms() - t0));
	tap_result(rc, NULL, "%s", desc);
}

int main(void)
{
	static struct tcase cases[3 + 3 * MAX_TEST_FS];
	const char *b = getenv("UFFDWP_BUDGET");
	char sdev[512] = "", stype[64] = "";
	int i, n = 0, e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	start_ms = now_ms();
	budget_ms = (b && atoi(b) > 0 ? atoi(b) : DEFAULT_BUDGET_S) * 1000LL;

	nr_fs = parse_test_fs(fss, MAX_TEST_FS);
	cases[n++] = (struct tcase){ C_REMOUNT, "no-data-loss-remount", NULL, 0 };
	for (i = 0; i < nr_fs; i++)
		cases[n++] = (struct tcase){ C_EVICT, "no-data-loss-evict", &fss[i], 0 };
	cases[n++] = (struct tcase){ C_ENOSPC_MARKER, "enospc-sigbus-marker", NULL, 0 };
	cases[n++] = (struct tcase){ C_ENOSPC_PRESENT, "enospc-sigbus-present", NULL, 0 };
	for (i = 0; i < nr_fs; i++)
		cases[n++] = (struct tcase){ C_NOBLOCK, "no-blocking-while-blocked", &fss[i], 0 };
	for (i = 0; i < nr_fs; i++)
		cases[n++] = (struct tcase){ C_PRIVATE, "private-no-file-modification", &fss[i], 0 };
	for (i = 0; i < n; i++)
		cases[i].salt = 16 * (i + 1);
	tap_plan(n);

	e = uffd_features(&kfeatures);
	if (e)
		diag("userfaultfd unavailable: %s", strerror(e));
	have_wp_file = kfeatures & UFFD_FEATURE_WP_FILE;
	diag("UFFDIO_API features %#llx: UFFD_FEATURE_WP_FILE %s, expected %s",
	     (unsigned long long)kfeatures, have_wp_file ? "advertised" : "not advertised",
	     expect_wp_file() ? "yes" : "no");
	if (small_fs() && !find_mount(small_fs(), sdev, sizeof(sdev), stype, sizeof(stype)))
		diag("UFFDWP_SMALLFS=%s is not a mount point", small_fs());

	for (i = 0; i < n; i++)
		run_one(&cases[i], sdev, stype);

	return tap_totals(start_ms);
}
