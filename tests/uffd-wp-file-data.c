// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-file-data: data integrity, ENOSPC, freezing, truncation and writeback of
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
 *   private-no-file-modification <fs>  MAP_PRIVATE writes never reach the file
 *   fifreeze-blocked-shared <fs>   FIFREEZE returns while two writers are
 *   fifreeze-blocked-private <fs>  blocked on protected pages (reports read,
 *                                  not resolved); un-protected while frozen,
 *                                  shared writers wait for FITHAW (in
 *                                  ->page_mkwrite), private ones finish; then
 *                                  frozen before the writes: the mapped page
 *                                  is reported while frozen, the unmapped one
 *                                  after the thaw; one report per write, data
 *                                  checked after eviction
 *   truncate-blocked-{shared,private}-vs-shmem <fs>
 *   punch-blocked-{shared,private}-vs-shmem <fs>
 *                                  another thread truncates / punches out the
 *                                  page a writer is blocked on, then the
 *                                  handler un-protects it: everything seen is
 *                                  compared with shmem doing the same (truncate:
 *                                  SIGBUS; punch: the write lands in a fresh
 *                                  zero-filled page; one report)
 *   stable-writeback-blocked <stable>  a dirty protected page written back
 *                                  (fsync; sync_file_range just before the
 *                                  un-protect) on a disk with stable_writes
 *                                  while a writer is blocked on it: the write
 *                                  reaches the disk (O_DIRECT, then eviction)
 *   large-folio-pmd-wp <xfs>       a PMD-mapped 2 MiB folio (FilePmdMapped):
 *                                  4 KiB protected in its middle, then all of
 *                                  it, every page written once: exactly the
 *                                  protected pages reported, once each
 *
 * Whether writers blocked on protected pages block anybody else (other
 * threads, processes, writeback): uffd-security's iso-* cases.
 *
 * The fifreeze cases freeze the file systems of UFFDWP_FS for well under a
 * second each; a guard process thaws them after THAW_GUARD_MS whatever
 * happens to the case.
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
 *   UFFDWP_STABLEFS        mount point of an ext4 whose disk has stable_writes
 *                          set (checked)
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
#include "mem.h"
#include "cases.h"

#define MAXPG			512	/* the most pages of an area (2 MiB) */
#define WAIT_MS			10000	/* longest wait for a report / writers */
#define OP_TIMEOUT_S		10	/* longest a cut or a writeback may take */
#define CASE_TIMEOUT_S		60	/* hard limit for one case process */
#define DEFAULT_BUDGET_S	110	/* hard limit for the whole run */
#define NWRITERS		4

static size_t psize;
static atomic_int evseq;	/* orders reports read and SIGBUS taken */
static uint64_t kfeatures;
static bool have_wp_file;

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

/* the first len bytes; the first store of this loop is the write fault */
static void fill_bytes(char *p, int salt, int page, int gen, size_t len)
{
	volatile uint64_t *w = (volatile uint64_t *)p;
	size_t k;

	for (k = 0; k < len / 8; k++)
		w[k] = word(salt, page, gen, k);
}

static void fill_page(char *p, int salt, int page, int gen)
{
	fill_bytes(p, salt, page, gen, psize);
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
	struct mem_type t;	/* a file row on the case's fs, or shmem(-private) */
	struct mem_region r;	/* r.mt is &t */
	int uffd;
	int n;			/* pages */
	int salt;
	size_t wlen;		/* bytes the writers write per page (0: the page) */
};

static const char *file_row(bool shared)
{
	return shared ? "file-shared" : "file-private";
}

static char *page_addr(struct area *a, int i)
{
	return a->r.addr + (size_t)i * psize;
}

/*
 * The backing of n pages of the memory type row (on the file system fs
 * mounted at dir), DIR/.uffd-wp-data-NAME.PID or a memfd; gens[i] is
 * written to page i, generation 0 pages are left as holes.  A file is
 * written back and dropped from the page cache, so that the first access
 * reads it back.  Not mapped.
 */
static int area_create(struct area *a, const char *row, const char *fs, const char *dir,
		       const char *name, int n, const int *gens, int salt)
{
	char tag[64];
	int i, e;

	memset(a, 0, sizeof(*a));
	a->uffd = -1;
	a->r.fd = -1;
	a->n = n;
	a->salt = salt;
	if (mem_type_row(&a->t, row, fs, dir))
		return fail("no memory type %s", row);
	snprintf(tag, sizeof(tag), "uffd-wp-data-%s", name);
	e = mem_create(&a->r, &a->t, (size_t)n * psize, tag);
	if (e)
		return fail("create %s %s: %s", row, mem_is_file(&a->t) ? dir : "memfd",
			    strerror(e));
	for (i = 0; i < n; i++)
		if (gens[i] && (e = pwrite_page(a->r.fd, salt, i, gens[i]))) {
			errno = e;
			return fail("pwrite page %d: %m", i);
		}
	if (!mem_is_file(&a->t))
		return PASS;
	if (fsync(a->r.fd))
		return fail("fsync: %m");
	posix_fadvise(a->r.fd, 0, 0, POSIX_FADV_DONTNEED);
	return PASS;
}

/* open a userfaultfd, register the whole mapping in WP mode */
static int area_register(struct area *a)
{
	int e;

	a->uffd = uffd_open(0, NULL);
	if (a->uffd < 0)
		return fail("userfaultfd/UFFDIO_API: %s", strerror(-a->uffd));
	e = uffd_register(a->uffd, a->r.addr, a->r.len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e)
		return fail("UFFDIO_REGISTER(MODE_WP) on a %s mapping of %s: %s%s",
			    a->t.shared ? "MAP_SHARED" : "MAP_PRIVATE",
			    a->r.path[0] ? a->r.path : "a memfd", strerror(e),
			    e == EINVAL && !have_wp_file ? " (kernel without UFFD_FEATURE_WP_FILE)" : "");
	return PASS;
}

/* map (the type's sharing), open a userfaultfd, register the whole mapping in WP mode */
static int area_map(struct area *a)
{
	int e = mem_map(&a->r);

	if (e)
		return fail("mmap: %s", strerror(e));
	return area_register(a);
}

/* area_create() + area_map(): a file of n pages on fs, mapped */
static int area_file_mapped(struct area *a, const char *fs, const char *dir, const char *name,
			    int n, const int *init, int salt, bool shared)
{
	TRY(area_create(a, file_row(shared), fs, dir, name, n, init, salt));
	return area_map(a);
}

static int protect_page(struct area *a, int i, bool wp)
{
	int e = uffd_wp(a->uffd, page_addr(a, i), psize, wp);

	return e ? (errno = e, fail("UFFDIO_WRITEPROTECT(%s) page %d: %m", wp ? "WP" : "0", i)) : PASS;
}

static int protect_all(struct area *a, bool wp)
{
	int e = uffd_wp(a->uffd, a->r.addr, a->r.len, wp);

	return e ? (errno = e, fail("UFFDIO_WRITEPROTECT(%s) whole area: %m", wp ? "WP" : "0")) : PASS;
}

static void read_fault(struct area *a, int from, int to)
{
	volatile char *p = a->r.addr;
	int i;

	for (i = from; i < to; i++)
		(void)p[(size_t)i * psize + 8];
}

static void area_unmap(struct area *a)
{
	if (a->r.addr)
		munmap(a->r.addr, a->r.len);
	a->r.addr = NULL;
	if (a->uffd >= 0)
		close(a->uffd);
	a->uffd = -1;
}

static void area_destroy(struct area *a)
{
	area_unmap(a);
	mem_release(&a->r);
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
	unsigned long addr, base = (unsigned long)a->r.addr;
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
		if (addr < base || addr >= base + a->r.len) {
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
/* volatile: the stores around an inlined access must not be merged away */
static __thread sigjmp_buf *volatile bus_jb;
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

/* 1 when the fill of len bytes raised SIGBUS */
static int guarded_fill(char *p, int salt, int page, int gen, size_t len)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		bus_jb = NULL;
		return 1;
	}
	bus_jb = &jb;
	fill_bytes(p, salt, page, gen, len);
	bus_jb = NULL;
	return 0;
}

/* copy a page from a mapping; 1 when reading it raised SIGBUS */
static int guarded_copy(char *dst, const char *src)
{
	const volatile uint64_t *s = (const volatile uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;
	sigjmp_buf jb;
	size_t k;

	if (sigsetjmp(jb, 1)) {
		bus_jb = NULL;
		return 1;
	}
	bus_jb = &jb;
	for (k = 0; k < psize / 8; k++)
		d[k] = s[k];
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

		if (guarded_fill(page_addr(w->a, pg), w->a->salt, pg, w->gen,
				 w->a->wlen ? w->a->wlen : psize)) {
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
		uffd_wp(h->a->uffd, h->a->r.addr, h->a->r.len, false);
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

/* write back and drop the file's n pages: the number left in the cache, -1 on error */
static int evict(int fd, int n)
{
	return mem_evict_file(fd, (size_t)n * psize);
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
	struct area a;
	int k, rc = PASS;

	rc = area_file_mapped(&a, fsname, dir, "probe", 4, gens, salt, true);
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
		fstate(a.r.fd, &s0);
		pm0 = pagemap_entry(page_addr(&a, k));
		sleep_ms(30);		/* past the coarse timestamp granularity */
		handler_reset(&h, &a, true);
		rc = crew_start(&c, &a, want, 1, 1);
		if (rc)
			break;
		if (!wait_reports(&h, 1, WAIT_MS))
			rc = fail("%s: write to a protected hole page %s not reported", fsname, kind[k]);
		fstate(a.r.fd, &s1);
		pm1 = pagemap_entry(page_addr(&a, k));
		if (!rc && atomic_load(&c.w[0].done))
			rc = fail("%s: writer finished while its report was held", fsname);
		sleep_ms(30);		/* an mtime update after the resolve shows */
		if (!rc)
			rc = protect_page(&a, k, false);
		h.hold = false;
		rc |= crew_finish(&c, &h, WAIT_MS);
		fstate(a.r.fd, &s2);
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

/*
 * A file of n pages (init), mapped shared or private, its first half
 * mapped read-only (present ptes), the second half not (markers), all of
 * it protected; the file's state in *before (if not NULL); then generation
 * 2 written to every page, one report each.
 */
static int area_written(struct area *a, const char *fs, const char *dir, const char *name,
			int n, const int *init, int salt, bool shared, struct fstate *before,
			const char *what)
{
	bool all[MAXPG];
	int i;

	for (i = 0; i < n; i++)
		all[i] = true;
	TRY(area_file_mapped(a, fs, dir, name, n, init, salt, shared));
	if (before)
		fstate(a->r.fd, before);
	read_fault(a, 0, n / 2);
	TRY(protect_all(a, true));
	return write_phase(a, all, 2, what);
}

static int data_case(const char *dir, const char *fsname, bool remount, int salt)
{
	int init[DATA_PAGES], gens[DATA_PAGES], i, n, rc;
	bool odd[DATA_PAGES];
	char dev[512], type[64];
	struct area a;

	if (remount && !find_mount(dir, dev, sizeof(dev), type, sizeof(type)))
		return fail("%s is not a mount point (/proc/mounts)", dir);
	if (remount && strcmp(type, "ext4"))
		return fail("%s is %s, not ext4", dir, type);

	TRY(probe_order(dir, fsname, salt + 1));

	/* even pages hold data, odd pages are holes */
	for (i = 0; i < DATA_PAGES; i++) {
		init[i] = i % 2 ? 0 : 1;
		odd[i] = i % 2;
	}
	rc = area_written(&a, fsname, dir, remount ? "remount" : "evict", DATA_PAGES, init, salt,
			  true, NULL, "generation 2, all pages");
	if (rc)
		goto out;
	for (i = 0; i < DATA_PAGES; i++)
		gens[i] = 2;
	/* protect the odd pages again; drop the last quarter's ptes (markers) */
	for (i = 1; i < DATA_PAGES && !rc; i += 2)
		rc = protect_page(&a, i, true);
	if (!rc && madvise(page_addr(&a, 3 * DATA_PAGES / 4), DATA_PAGES / 4 * psize,
			   MADV_DONTNEED))
		rc = fail("MADV_DONTNEED: %m");
	if (!rc)
		rc = write_phase(&a, odd, 3, "generation 3, odd pages re-protected");
	if (rc)
		goto out;
	for (i = 1; i < DATA_PAGES; i += 2)
		gens[i] = 3;
	rc = verify_map("mapping after the writes", a.r.addr, salt, DATA_PAGES, gens);
	if (msync(a.r.addr, DATA_PAGES * psize, MS_SYNC))
		rc = fail("msync: %m");
	area_unmap(&a);

	if (remount) {
		close(a.r.fd);
		a.r.fd = -1;
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
		a.r.fd = open(a.r.path, O_RDONLY | O_CLOEXEC);
		if (a.r.fd < 0) {
			rc = fail("open %s after the remount: %m", a.r.path);
			goto out;
		}
		rc |= verify_file("pread after umount + mount", a.r.fd, salt, DATA_PAGES, gens);
	} else {
		if (fsync(a.r.fd))
			rc = fail("fsync: %m");
		n = evict(a.r.fd, DATA_PAGES);
		if (n)
			rc = fail("%d/%d page(s) still in the page cache after fsync + POSIX_FADV_DONTNEED",
				  n, DATA_PAGES);
		else
			diag("all %d pages left the page cache (mincore)", DATA_PAGES);
		rc |= verify_file("pread after eviction", a.r.fd, salt, DATA_PAGES, gens);
	}
	{
		struct stat st;

		if (a.r.fd >= 0 && !fstat(a.r.fd, &st) &&
		    st.st_size != (off_t)DATA_PAGES * (off_t)psize)
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
	struct fstate s0, s1;
	struct handler h;
	struct crew c;
	struct area a;
	uint64_t pm;

	if (!dir)
		return fail("UFFDWP_SMALLFS is not set");
	rc = area_create(&a, "file-shared", "ext4-small", dir, "sparse", SPARSE_PAGES, gens, salt);
	if (rc)
		goto out;
	fstate(a.r.fd, &s0);
	diag("sparse file: %d pages, st_blocks %lld", SPARSE_PAGES, s0.blocks);
	rc = fill_fs(dir, &filler);
	if (!rc)
		rc = area_map(&a);
	if (!rc)
		rc = install_bus_handler();
	if (rc)
		goto out;
	if (present)
		read_fault(&a, 0, SPARSE_PAGES);
	rc = protect_all(&a, true);
	if (rc)
		goto out;
	pm = pagemap_entry(page_addr(&a, ENOSPC_PAGE));
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
	fstate(a.r.fd, &s1);
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
	     pm_str(pagemap_entry(page_addr(&a, ENOSPC_PAGE))));
	if (h.bad)
		rc = fail("%d bad report(s)", h.bad);
	if (!sigbus) {
		/* no SIGBUS: then the data must really be in the file */
		int e = msync(a.r.addr, SPARSE_PAGES * psize, MS_SYNC) ? errno : 0;
		int e2 = fsync(a.r.fd) ? errno : 0;

		diag("msync: %s, fsync: %s", strerror(e), strerror(e2));
		gens[ENOSPC_PAGE] = 1;
		if (!e && !e2) {
			area_unmap(&a);
			evict(a.r.fd, SPARSE_PAGES);
			if (!verify_file("pread after writeback (no SIGBUS)", a.r.fd, salt,
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
	rc |= verify_file("pread after the SIGBUS (all zeroes)", a.r.fd, salt, SPARSE_PAGES, gens);
out:
	area_destroy(&a);
	unfill_fs(dir, filler);
	return rc;
}

/* ------------------------------------------------------------------ */
/* case 6: MAP_PRIVATE never modifies the file                         */

#define PRIV_PAGES	32

static int t_private(const char *dir, const char *fsname, int salt)
{
	int init[PRIV_PAGES], gens[PRIV_PAGES], i, n, rc;
	struct fstate s0, s1;
	struct area a;

	for (i = 0; i < PRIV_PAGES; i++) {
		init[i] = i % 4 == 3 ? 0 : 1;	/* some holes */
		gens[i] = 2;
	}
	rc = area_written(&a, fsname, dir, "private", PRIV_PAGES, init, salt, false, &s0,
			  "MAP_PRIVATE, generation 2, all pages");
	if (rc)
		goto out;
	rc = verify_map("private mapping after the writes", a.r.addr, salt, PRIV_PAGES, gens);
	if (msync(a.r.addr, PRIV_PAGES * psize, MS_SYNC) || fsync(a.r.fd))
		rc = fail("msync/fsync: %m");
	rc |= verify_file("pread before eviction", a.r.fd, salt, PRIV_PAGES, init);
	n = evict(a.r.fd, PRIV_PAGES);
	if (n)
		diag("note: %d page(s) still cached after POSIX_FADV_DONTNEED", n);
	rc |= verify_file("pread after eviction (file unchanged)", a.r.fd, salt, PRIV_PAGES, init);
	rc |= verify_map("private mapping after eviction", a.r.addr, salt, PRIV_PAGES, gens);
	fstate(a.r.fd, &s1);
	if (s1.blocks != s0.blocks || mtime_changed(&s0, &s1))
		rc = fail("file changed: st_blocks %lld -> %lld, mtime %s", s0.blocks,
			  s1.blocks, mtime_changed(&s0, &s1) ? "updated" : "unchanged");
out:
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* helpers of the cases below                                          */

/* fn(arg) in a thread of its own */
struct bounded {
	int (*fn)(void *arg);
	void *arg;
	int err;
	atomic_bool done;
};

static void *bounded_fn(void *p)
{
	struct bounded *b = p;

	b->err = b->fn(b->arg);
	atomic_store(&b->done, true);
	return NULL;
}

/*
 * Start b->fn in a thread and wait up to ms for it, handling reports with h
 * (held or resolved, as h says) meanwhile.  True when it returned.  The
 * thread is detached: a caller that gets false must either make it finish
 * (and wait for b->done) or never return past b's lifetime.
 */
static bool bounded_call(struct bounded *b, struct handler *h, int ms)
{
	int64_t deadline = now_ms() + ms;
	pthread_t th;

	atomic_store(&b->done, false);
	if (pthread_create(&th, NULL, bounded_fn, b)) {
		b->err = EAGAIN;
		atomic_store(&b->done, true);
		return true;
	}
	pthread_detach(th);
	while (!atomic_load(&b->done) && now_ms() < deadline) {
		sleep_ms(5);
		if (h)
			drain(h);
	}
	return atomic_load(&b->done);
}

/*
 * Wait for a bounded call that missed its bound, once the caller removed
 * what held it; exit the case process if it still does not return.
 */
static void bounded_rescue(struct bounded *b, struct handler *h, const char *what)
{
	int64_t deadline = now_ms() + WAIT_MS;

	while (!atomic_load(&b->done) && now_ms() < deadline) {
		sleep_ms(5);
		if (h)
			drain(h);
	}
	if (atomic_load(&b->done))
		return;
	fail("%s still blocked %d ms after the protection was dropped", what, WAIT_MS);
	fflush(stdout);
	_exit(FAIL);	/* the thread uses b: never return from here */
}

/* the number of writers of c that finished */
static int crew_finished(struct crew *c)
{
	int k, n = 0;

	for (k = 0; k < c->nw; k++)
		n += c->w[k].started && atomic_load(&c->w[k].done);
	return n;
}

/* handle reports (h) for ms */
static void handle_for(struct handler *h, int ms)
{
	int64_t deadline = now_ms() + ms, left;

	drain(h);
	while ((left = deadline - now_ms()) > 0) {
		struct pollfd p = { .fd = h->a->uffd, .events = POLLIN };

		if (poll(&p, 1, left) > 0)
			drain(h);
	}
}

/* un-protect the pages of the reports h held, and resolve from now on */
static int release_held(struct handler *h)
{
	int k, rc = PASS;

	drain(h);
	for (k = 0; k < h->nheld; k++)
		rc |= protect_page(h->a, h->held[k], false);
	h->nheld = 0;
	h->hold = false;
	return rc;
}

/* ------------------------------------------------------------------ */
/* case 7: freezing the file system (FIFREEZE) around blocked writers  */

#define FZ_PAGES		8
#define FZ_PRESENT		2	/* writer on a mapped page */
#define FZ_MARKER		5	/* writer on a pte marker */
#define FREEZE_WAIT_MS		5000	/* longest FIFREEZE/FITHAW may take */
#define FROZEN_HOLD_MS		300	/* how long the writers are watched frozen */
#define FREEZE_CASE_TIMEOUT_S	30	/* hard limit for one freeze case */
#define THAW_GUARD_MS		20000	/* the runner thaws after this, whatever */

/* FIFREEZE or FITHAW of the file system mounted at dir: 0 or an errno */
static int fs_freeze(const char *dir, bool freeze)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;

	if (fd < 0)
		return errno;
	if (ioctl(fd, freeze ? FIFREEZE : FITHAW, 0))
		e = errno;
	close(fd);
	return e;
}

static int freeze_fn(void *dir)
{
	return fs_freeze(dir, true);
}

static int thaw_fn(void *dir)
{
	return fs_freeze(dir, false);
}

/* FITHAW, bounded; PASS or FAIL */
static int thaw(const char *dir, struct handler *h, bool *frozen)
{
	struct bounded b = { .fn = thaw_fn, .arg = (void *)dir };

	if (!bounded_call(&b, h, FREEZE_WAIT_MS)) {
		fail("FITHAW %s did not return within %d ms", dir, FREEZE_WAIT_MS);
		fflush(stdout);
		_exit(FAIL);	/* the runner's guard thaws */
	}
	*frozen = false;
	if (b.err) {
		errno = b.err;
		return fail("FITHAW %s: %m", dir);
	}
	return PASS;
}

/* a freeze round: FIFREEZE of dir and two writers on FZ_PRESENT and FZ_MARKER */
struct fzround {
	struct area *a;
	const char *dir, *fsname;
	bool *frozen;		/* the case's: dir is frozen */
	struct bounded fz;	/* FIFREEZE */
	struct handler h;	/* holds the reports until release_held() */
	struct crew c;
	bool want[FZ_PAGES];
};

/*
 * The writers blocked on the protected pages, their reports read and held;
 * FIFREEZE must return; the un-protect while frozen lets a MAP_PRIVATE
 * writer finish (copy-on-write, no file system involved) while a
 * MAP_SHARED writer waits in ->page_mkwrite() for the thaw.  -1: given up,
 * the writers finished.
 */
static int freeze_during(struct fzround *r, int gen)
{
	struct area *a = r->a;
	int64_t t0;
	int rc = PASS, n;

	if (crew_start(&r->c, a, r->want, gen, 2))
		return -1;
	if (!wait_reports(&r->h, 2, WAIT_MS)) {
		fail("%d of 2 writes reported", r->h.total);
		crew_finish(&r->c, &r->h, 0);
		return -1;
	}
	t0 = now_ms();
	if (!bounded_call(&r->fz, &r->h, FREEZE_WAIT_MS)) {
		fail("%s: FIFREEZE did not return within %d ms while two writers were blocked on protected pages (reports read, not resolved): the blocked faults hold the file system's freeze protection",
		     r->fsname, FREEZE_WAIT_MS);
		/* undo: resolve, let the freeze finish, thaw */
		release_held(&r->h);
		bounded_rescue(&r->fz, &r->h, "FIFREEZE");
		if (!r->fz.err)
			thaw(r->dir, &r->h, r->frozen);
		crew_finish(&r->c, &r->h, WAIT_MS);
		return -1;
	}
	if (r->fz.err) {
		errno = r->fz.err;
		fail("FIFREEZE %s: %m", r->dir);
		release_held(&r->h);
		crew_finish(&r->c, &r->h, WAIT_MS);
		return -1;
	}
	*r->frozen = true;
	diag("%s %s: FIFREEZE returned in %lld ms with writers blocked on page %d (pte %s) and page %d (pte %s)",
	     r->fsname, a->t.shared ? "shared" : "private", (long long)(now_ms() - t0), FZ_PRESENT,
	     pm_str(pagemap_entry(page_addr(a, FZ_PRESENT))), FZ_MARKER,
	     pm_str(pagemap_entry(page_addr(a, FZ_MARKER))));
	drain(&r->h);
	if (crew_finished(&r->c))
		rc = fail("a writer went past its protected page before the un-protect");

	/* un-protect while frozen */
	rc |= release_held(&r->h);
	if (a->t.shared) {
		handle_for(&r->h, FROZEN_HOLD_MS);
		n = crew_finished(&r->c);
		if (n)
			rc = fail("%s: %d write(s) to MAP_SHARED pages completed while the file system was frozen (no ->page_mkwrite() after the un-protect?)",
				  r->fsname, n);
		else
			diag("%s: both resolved writers still wait after %d ms frozen (->page_mkwrite)",
			     r->fsname, FROZEN_HOLD_MS);
	} else if (!crew_wait(&r->c, &r->h, WAIT_MS)) {
		rc = fail("%s: MAP_PRIVATE writers not done %d ms after the un-protect while frozen (copy-on-write needs no file system)",
			  r->fsname, WAIT_MS);
	}
	return rc | thaw(r->dir, &r->h, r->frozen);
}

/*
 * Freeze first, then the writers: on MAP_SHARED the write to the mapped
 * page is reported while frozen (the report comes before
 * ->page_mkwrite()), the write to the marker page waits in ->page_mkwrite()
 * and is reported after the thaw; on MAP_PRIVATE both are reported while
 * frozen.  Then thaw and un-protect.  -1: given up, no writer started.
 */
static int freeze_before(struct fzround *r, int gen)
{
	struct handler *h = &r->h;
	int rc, n;

	if (!bounded_call(&r->fz, NULL, FREEZE_WAIT_MS)) {
		fail("FIFREEZE %s did not return within %d ms (nothing blocked)", r->dir,
		     FREEZE_WAIT_MS);
		fflush(stdout);
		_exit(FAIL);
	}
	if (r->fz.err) {
		errno = r->fz.err;
		fail("FIFREEZE %s: %m", r->dir);
		return -1;
	}
	*r->frozen = true;
	if (crew_start(&r->c, r->a, r->want, gen, 2)) {
		thaw(r->dir, NULL, r->frozen);
		return -1;
	}
	rc = PASS;
	if (r->a->t.shared) {
		/* the mapped page's report first, then a while to see nothing else come */
		wait_reports(h, 1, WAIT_MS);
		handle_for(h, FROZEN_HOLD_MS);
		n = crew_finished(&r->c);
		diag("%s shared, frozen before the writes: %d report(s) (page %d: %d, page %d: %d), %d writer(s) done, %d ms after the first report",
		     r->fsname, h->total, FZ_PRESENT, h->counts[FZ_PRESENT], FZ_MARKER,
		     h->counts[FZ_MARKER], n, FROZEN_HOLD_MS);
		if (n)
			rc = fail("%s: %d write(s) to MAP_SHARED pages completed while the file system was frozen",
				  r->fsname, n);
		if (h->counts[FZ_PRESENT] != 1)
			rc = fail("%s: the write to the mapped protected page %d was not reported while frozen (documented: reported before ->page_mkwrite())",
				  r->fsname, FZ_PRESENT);
		if (h->counts[FZ_MARKER])
			rc = fail("%s: the write to the unmapped page %d was reported while frozen (documented: ->page_mkwrite(), which waits for the thaw, runs first)",
				  r->fsname, FZ_MARKER);
	} else if (!wait_reports(h, 2, WAIT_MS)) {
		rc = fail("%s: %d of 2 MAP_PRIVATE writes reported while frozen", r->fsname,
			  h->total);
	}
	rc |= thaw(r->dir, h, r->frozen);
	return rc | release_held(h);
}

/*
 * A freeze round with writes of gen: frozen while the writers are blocked
 * (freeze_during()) or before they start (before, freeze_before()); after
 * the thaw every write lands, each reported exactly once.
 */
static int freeze_round(struct area *a, const char *dir, const char *fsname, int gen,
			bool *frozen, bool before)
{
	struct fzround r = { .a = a, .dir = dir, .fsname = fsname, .frozen = frozen,
			     .fz = { .fn = freeze_fn, .arg = (void *)dir } };
	int rc;

	r.want[FZ_PRESENT] = r.want[FZ_MARKER] = true;
	handler_reset(&r.h, a, true);
	rc = before ? freeze_before(&r, gen) : freeze_during(&r, gen);
	if (rc < 0)
		return FAIL;
	rc |= crew_finish(&r.c, &r.h, WAIT_MS);
	rc |= check_counts(&r.h, r.want, before ? "freeze before the writes" :
			   "freeze while blocked");
	return rc ? FAIL : PASS;
}

static int t_freeze(const char *dir, const char *fsname, bool shared, int salt)
{
	int init[FZ_PAGES], gens[FZ_PAGES], i, k, rc;
	bool frozen = false;
	struct area a;

	for (i = 0; i < FZ_PAGES; i++)
		init[i] = gens[i] = 1;
	rc = area_file_mapped(&a, fsname, dir, "freeze", FZ_PAGES, init, salt, shared);
	if (rc)
		goto out;
	read_fault(&a, FZ_PRESENT, FZ_PRESENT + 1);
	/*
	 * round 0 (generation 2): frozen while the writers wait for the
	 * handler; round 1 (generation 3): frozen before the writes,
	 * FZ_MARKER a marker again
	 */
	for (k = 0; k < 2; k++) {
		if (k && madvise(page_addr(&a, FZ_MARKER), psize, MADV_DONTNEED)) {
			rc = fail("MADV_DONTNEED: %m");
			goto out;
		}
		rc = protect_all(&a, true);
		if (!rc)
			rc = freeze_round(&a, dir, fsname, 2 + k, &frozen, k);
		if (rc)
			goto out;
		gens[FZ_PRESENT] = gens[FZ_MARKER] = 2 + k;
	}

	rc = verify_map("mapping after the thaw", a.r.addr, salt, FZ_PAGES, gens);
	if (msync(a.r.addr, FZ_PAGES * psize, MS_SYNC) || fsync(a.r.fd))
		rc = fail("msync/fsync: %m");
	area_unmap(&a);
	i = evict(a.r.fd, FZ_PAGES);
	if (i)
		rc = fail("%d/%d page(s) still in the page cache after fsync + POSIX_FADV_DONTNEED",
			  i, FZ_PAGES);
	rc |= verify_file("pread after eviction", a.r.fd, salt, FZ_PAGES, shared ? gens : init);
out:
	if (frozen)
		fs_freeze(dir, false);
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* cases 8, 9: truncate / punch the page a writer is blocked on        */

#define CUT_PAGES	8
#define CUT_PAGE	5	/* the writer's page; truncate cuts pages 5-7 */

/* what a half page holds */
#define HS_MIXED	-1
#define HS_SIGBUS	-2	/* reading the mapping raised SIGBUS */
#define HS_EOF		-3	/* pread: beyond the end of the file */

/* the generation of the words of p in [from, to) bytes, HS_MIXED if several */
static int span_gen(const char *p, int salt, int page, size_t from, size_t to)
{
	const uint64_t *w = (const uint64_t *)p;
	int g = -100, x, gen;
	size_t k;

	for (k = from / 8; k < to / 8; k++) {
		for (x = -1, gen = 0; gen < 8 && x < 0; gen++)
			if (w[k] == word(salt, page, gen, k))
				x = gen;
		if (x < 0 || (g != -100 && g != x))
			return HS_MIXED;
		g = x;
	}
	return g;
}

static const char *hs_str(int lo, int hi, char *s)
{
	static const char *special[] = { "", "mixed", "SIGBUS", "EOF" };

	if (lo < 0 && lo == hi)
		return special[-lo];
	sprintf(s, "%s%d|%s%d", lo < 0 ? special[-lo] : "gen ", lo < 0 ? 0 : lo,
		hi < 0 ? special[-hi] : "gen ", hi < 0 ? 0 : hi);
	return s;
}

struct cut_outcome {
	int cut_err;		/* errno of ftruncate / fallocate */
	int held;		/* reports up to the un-protect */
	bool early;		/* writer done before the un-protect */
	int unprotect_err;	/* errno of UFFDIO_WRITEPROTECT(0) of the page */
	int reports;		/* reports for the page in all */
	int total;		/* reports in all */
	int sigbus;		/* the writer's SIGBUS count */
	int map_lo, map_hi;	/* the page through the mapping afterwards */
	int file_lo, file_hi;	/* the page with pread (files: after eviction) */
	long long size;		/* file size, pages */
	int others_bad;		/* other pages with wrong content */
};

struct cutter {
	int fd;
	bool punch;
};

static int cut_fn(void *arg)
{
	struct cutter *ct = arg;
	int r;

	if (ct->punch)
		r = fallocate(ct->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)CUT_PAGE * psize, psize);
	else
		r = ftruncate(ct->fd, (off_t)CUT_PAGE * psize);
	return r ? errno : 0;
}

/*
 * The writer writes the first half of protected, mapped page CUT_PAGE
 * (gen 2) and blocks; with its report held, another thread truncates the
 * file to CUT_PAGE pages or punches that page out; then the handler
 * un-protects the page (and wakes the range if that fails, as a handler
 * must: the writer waits for it).  Everything seen is recorded in o.
 */
static int cut_run(struct area *a, bool punch, struct cut_outcome *o)
{
	struct cutter ct = { .fd = a->r.fd, .punch = punch };
	struct bounded b = { .fn = cut_fn, .arg = &ct };
	bool want[CUT_PAGES] = { false };
	char *buf = malloc(psize);
	struct handler h;
	struct crew c;
	struct stat st;
	int i, rc = PASS;
	ssize_t r;

	memset(o, 0, sizeof(*o));
	if (!buf)
		return fail("malloc");
	a->wlen = psize / 2;
	read_fault(a, 0, CUT_PAGES);
	rc = protect_all(a, true);
	want[CUT_PAGE] = true;
	handler_reset(&h, a, true);
	if (!rc)
		rc = crew_start(&c, a, want, 2, 1);
	if (rc)
		goto out;
	if (!wait_reports(&h, 1, WAIT_MS)) {
		rc = fail("%s: the write to the protected page was not reported", a->r.path);
		crew_finish(&c, &h, 0);
		goto out;
	}
	if (!bounded_call(&b, &h, OP_TIMEOUT_S * 1000)) {
		fail("%s: %s of the page a writer is blocked on did not return within %d s",
		     a->r.path, punch ? "fallocate(PUNCH_HOLE)" : "ftruncate", OP_TIMEOUT_S);
		protect_all(a, false);
		h.hold = false;
		bounded_rescue(&b, &h, punch ? "fallocate(PUNCH_HOLE)" : "ftruncate");
		crew_finish(&c, &h, WAIT_MS);
		rc = FAIL;
		goto out;
	}
	o->cut_err = b.err;
	handle_for(&h, 50);
	o->held = h.total;
	o->early = crew_finished(&c);
	o->unprotect_err = uffd_wp(a->uffd, page_addr(a, CUT_PAGE), psize, false);
	if (o->unprotect_err)
		uffd_wake(a->uffd, page_addr(a, CUT_PAGE), psize);
	h.hold = false;
	rc = crew_finish(&c, &h, WAIT_MS);
	o->reports = h.counts[CUT_PAGE];
	o->total = h.total;
	o->sigbus = c.w[0].sigbus;
	if (o->sigbus && c.w[0].sigbus_page != CUT_PAGE)
		rc = fail("SIGBUS for page %d, the writer wrote page %d", c.w[0].sigbus_page, CUT_PAGE);

	/* the page and the others, through the mapping */
	if (guarded_copy(buf, page_addr(a, CUT_PAGE))) {
		o->map_lo = o->map_hi = HS_SIGBUS;
	} else {
		o->map_lo = span_gen(buf, a->salt, CUT_PAGE, 0, psize / 2);
		o->map_hi = span_gen(buf, a->salt, CUT_PAGE, psize / 2, psize);
	}
	for (i = 0; i < CUT_PAGES; i++)
		if (i < CUT_PAGE || (punch && i > CUT_PAGE))
			o->others_bad += check_page("mapping, other pages", page_addr(a, i),
						    a->salt, i, 1) != 0;

	/* and in the file: written back and evicted first */
	if (mem_is_file(&a->t)) {
		if (a->t.shared && msync(a->r.addr, a->r.len, MS_SYNC))
			rc = fail("msync: %m");
		if (fsync(a->r.fd))
			rc = fail("fsync: %m");
		area_unmap(a);
		evict(a->r.fd, CUT_PAGES);
	}
	r = pread(a->r.fd, buf, psize, (off_t)CUT_PAGE * psize);
	if (r == 0) {
		o->file_lo = o->file_hi = HS_EOF;
	} else if (r != (ssize_t)psize) {
		rc = fail("pread page %d: %zd (%m)", CUT_PAGE, r);
		o->file_lo = o->file_hi = HS_MIXED;
	} else {
		o->file_lo = span_gen(buf, a->salt, CUT_PAGE, 0, psize / 2);
		o->file_hi = span_gen(buf, a->salt, CUT_PAGE, psize / 2, psize);
	}
	for (i = 0; i < CUT_PAGES; i++) {
		if (!(i < CUT_PAGE || (punch && i > CUT_PAGE)))
			continue;
		if (pread(a->r.fd, buf, psize, (off_t)i * psize) != (ssize_t)psize)
			o->others_bad++;
		else
			o->others_bad += check_page("pread, other pages", buf, a->salt, i, 1) != 0;
	}
	o->size = fstat(a->r.fd, &st) ? -1 : (long long)(st.st_size / (off_t)psize);
out:
	a->wlen = 0;
	free(buf);
	return rc;
}

static int t_cut(const char *dir, const char *fsname, bool punch, bool shared, int salt)
{
	const char *what = punch ? "punch" : "truncate";
	int init[CUT_PAGES], i, rc, bad = 0;
	struct cut_outcome f, s;
	char a1[4][32], a2[4][32];
	struct area a;

	for (i = 0; i < CUT_PAGES; i++)
		init[i] = 1;
	TRY(install_bus_handler());
	rc = area_file_mapped(&a, fsname, dir, "cut", CUT_PAGES, init, salt, shared);
	if (!rc)
		rc = cut_run(&a, punch, &f);
	area_destroy(&a);
	if (rc)
		return rc;

	/* the same sequence on shmem */
	rc = area_create(&a, shared ? "shmem" : "shmem-private", NULL, NULL, "cut", CUT_PAGES,
			 init, salt);
	if (!rc)
		rc = area_map(&a);
	if (!rc)
		rc = cut_run(&a, punch, &s);
	area_destroy(&a);
	if (rc)
		return fail("the reference run on shmem failed");

	diag("%s %s %s: cut %s, reports held %d, writer done before the un-protect %s, un-protect %s, reports %d (page) %d (all), SIGBUS %d, mapping %s, file %s, size %lld pages",
	     what, shared ? "shared" : "private", fsname, strerror(f.cut_err), f.held,
	     f.early ? "yes" : "no", strerror(f.unprotect_err), f.reports, f.total, f.sigbus,
	     hs_str(f.map_lo, f.map_hi, a1[0]), hs_str(f.file_lo, f.file_hi, a1[1]), f.size);
	diag("%s %s shmem: cut %s, reports held %d, writer done before the un-protect %s, un-protect %s, reports %d (page) %d (all), SIGBUS %d, mapping %s, file %s, size %lld pages",
	     what, shared ? "shared" : "private", strerror(s.cut_err), s.held,
	     s.early ? "yes" : "no", strerror(s.unprotect_err), s.reports, s.total, s.sigbus,
	     hs_str(s.map_lo, s.map_hi, a2[0]), hs_str(s.file_lo, s.file_hi, a2[1]), s.size);

	/* the same as shmem */
#define SAME(field, fmt)						\
	do {								\
		if (f.field != s.field) {				\
			diag(#field ": " fmt " on %s, " fmt " on shmem",	\
			     f.field, fsname, s.field);			\
			bad++;						\
		}							\
	} while (0)
	SAME(cut_err, "%d");
	SAME(held, "%d");
	SAME(early, "%d");
	SAME(unprotect_err, "%d");
	SAME(reports, "%d");
	SAME(total, "%d");
	SAME(sigbus, "%d");
	SAME(map_lo, "%d");
	SAME(map_hi, "%d");
	SAME(file_lo, "%d");
	SAME(file_hi, "%d");
	SAME(size, "%lld");
#undef SAME
	if (bad)
		rc = fail("%s of the page a writer is blocked on: %d difference(s) from shmem", what, bad);
	if (f.others_bad || s.others_bad)
		rc = fail("other pages changed: %d on %s, %d on shmem", f.others_bad, fsname, s.others_bad);

	/* and what shmem does, spelled out */
	if (f.cut_err || f.held != 1 || f.early || f.reports != 1 || f.total != 1)
		rc = fail("%s: expected the cut to succeed and exactly one report, with the writer blocked until the un-protect",
			  fsname);
	if (!punch && (f.sigbus != 1 || f.map_lo != HS_SIGBUS || f.file_lo != HS_EOF ||
		       f.size != CUT_PAGE))
		rc = fail("%s: truncate: expected SIGBUS for the writer and the page gone", fsname);
	if (punch && (f.sigbus || f.map_lo != 2 || f.map_hi != 0 ||
		      f.file_lo != (shared ? 2 : 0) || f.file_hi != 0 || f.size != CUT_PAGES))
		rc = fail("%s: punch: expected the write in a fresh zero-filled page (gen 2|gen 0), %s in the file",
			  fsname, shared ? "there too" : "a hole");
	return rc;
}

/* ------------------------------------------------------------------ */
/* case 10: writeback with stable pages while a writer is blocked      */

#define ST_PAGES	8
#define ST_DONE		2	/* the writeback ends before the un-protect */
#define ST_FLIGHT	5	/* the un-protect right after it started */

static const char *stable_fs(void)
{
	const char *s = getenv("UFFDWP_STABLEFS");

	return s && *s ? s : NULL;
}

/* stable_writes of the disk mounted at dir: 1 or 0, -1 if unknown; what was read in desc */
static int stable_writes(const char *dir, char *desc, size_t len)
{
	char dev[256], type[64], p[640], v[16] = "";
	const char *name;
	FILE *f;

	if (!find_mount(dir, dev, sizeof(dev), type, sizeof(type))) {
		snprintf(desc, len, "%s is not a mount point", dir);
		return -1;
	}
	name = strrchr(dev, '/');
	name = name ? name + 1 : dev;
	snprintf(p, sizeof(p), "/sys/class/block/%s/queue/stable_writes", name);
	f = fopen(p, "r");
	if (!f) {	/* a partition: the disk's queue */
		snprintf(p, sizeof(p), "/sys/class/block/%s/../queue/stable_writes", name);
		f = fopen(p, "r");
	}
	if (!f) {
		snprintf(desc, len, "%s: %s on %s, no stable_writes attribute", dir, type, dev);
		return -1;
	}
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	v[strcspn(v, "\n")] = 0;
	snprintf(desc, len, "%s: %s on %s, %s = %s", dir, type, dev, p, v);
	return v[0] == '1' ? 1 : v[0] == '0' ? 0 : -1;
}

static int fsync_fn(void *fd)
{
	return fsync(*(int *)fd) ? errno : 0;
}

static int start_wb_fn(void *fd)
{
	return sync_file_range(*(int *)fd, (off_t)ST_FLIGHT * psize, psize,
			       SYNC_FILE_RANGE_WRITE) ? errno : 0;
}

/* one writer blocked on page pg; writeback (b) while it is; then the un-protect */
static int stable_round(struct area *a, int pg, struct bounded *b, bool wait_wb)
{
	bool want[ST_PAGES] = { false };
	struct handler h;
	struct crew c;
	int64_t t0;
	int rc = PASS;

	want[pg] = true;
	handler_reset(&h, a, true);
	TRY(crew_start(&c, a, want, 3, 1));
	if (!wait_reports(&h, 1, WAIT_MS)) {
		rc = fail("the write to the protected dirty page %d was not reported", pg);
		crew_finish(&c, &h, 0);
		return rc;
	}
	t0 = now_ms();
	if (!bounded_call(b, &h, wait_wb ? OP_TIMEOUT_S * 1000 : WAIT_MS)) {
		rc = fail("writeback (%s) of a dirty page a writer is blocked on did not finish within %d s",
			  wait_wb ? "fsync" : "sync_file_range(WRITE)", OP_TIMEOUT_S);
		release_held(&h);
		bounded_rescue(b, &h, "writeback");
		crew_finish(&c, &h, WAIT_MS);
		return rc;
	}
	if (b->err) {
		errno = b->err;
		rc = fail("%s: %m", wait_wb ? "fsync" : "sync_file_range(WRITE)");
	}
	drain(&h);
	if (crew_finished(&c))
		rc = fail("the writer went past its protected page during writeback");
	diag("page %d: %s returned in %lld ms with the writer blocked (pte %s)", pg,
	     wait_wb ? "fsync" : "sync_file_range(WRITE)", (long long)(now_ms() - t0),
	     pm_str(pagemap_entry(page_addr(a, pg))));
	t0 = now_ms();
	rc |= release_held(&h);
	rc |= crew_finish(&c, &h, WAIT_MS);
	diag("page %d: the writer finished %lld ms after the un-protect", pg,
	     (long long)(now_ms() - t0));
	rc |= check_counts(&h, want, wait_wb ? "writeback done before the un-protect" :
			   "un-protect while writeback is under way");
	return rc ? FAIL : PASS;
}

/* page pg as it is on the disk (O_DIRECT), compared with gen */
static int check_direct(const char *path, int salt, int pg, int gen)
{
	void *buf = NULL;
	ssize_t r;
	int fd, rc = PASS;

	if (posix_memalign(&buf, psize, psize))
		return fail("posix_memalign");
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return fail("open(%s, O_DIRECT): %m", path);
	}
	r = pread(fd, buf, psize, (off_t)pg * psize);
	if (r != (ssize_t)psize)
		rc = fail("O_DIRECT pread page %d: %zd (%m)", pg, r);
	else if (check_page("O_DIRECT read after fsync, mapping still in place", buf, salt, pg, gen))
		rc = fail("page %d on the disk is not the blocked writer's data after fsync: the write after the un-protect did not dirty the page (no ->page_mkwrite(), lost on eviction)",
			  pg);
	close(fd);
	free(buf);
	return rc;
}

static int t_stable(int salt)
{
	const char *dir = stable_fs();
	int init[ST_PAGES], gens[ST_PAGES], i, rc;
	char desc[2 * PATH_MAX];
	struct bounded b;
	struct area a;

	if (!dir)
		return fail("UFFDWP_STABLEFS is not set");
	i = stable_writes(dir, desc, sizeof(desc));
	diag("%s", desc);
	if (i != 1)
		return fail("%s has no stable writes (stable_writes must be 1 before the mount, scripts/guest-init): the case would not test stable pages",
			    dir);
	for (i = 0; i < ST_PAGES; i++)
		init[i] = gens[i] = 1;
	rc = area_file_mapped(&a, "ext4-stable", dir, "stable", ST_PAGES, init, salt, true);
	if (rc)
		goto out;
	/* dirty both pages (not protected yet), then protect them dirty */
	fill_page(page_addr(&a, ST_DONE), salt, ST_DONE, 2);
	fill_page(page_addr(&a, ST_FLIGHT), salt, ST_FLIGHT, 2);
	rc = protect_all(&a, true);
	if (rc)
		goto out;

	b = (struct bounded){ .fn = fsync_fn, .arg = &a.r.fd };
	rc = stable_round(&a, ST_DONE, &b, true);
	if (rc)
		goto out;
	b = (struct bounded){ .fn = start_wb_fn, .arg = &a.r.fd };
	rc = stable_round(&a, ST_FLIGHT, &b, false);
	if (rc)
		goto out;
	gens[ST_DONE] = gens[ST_FLIGHT] = 3;
	rc = verify_map("mapping after the writes", a.r.addr, salt, ST_PAGES, gens);
	if (fsync(a.r.fd))
		rc = fail("fsync: %m");
	rc |= check_direct(a.r.path, salt, ST_DONE, 3);
	rc |= check_direct(a.r.path, salt, ST_FLIGHT, 3);
	area_unmap(&a);
	i = evict(a.r.fd, ST_PAGES);
	if (i)
		rc = fail("%d/%d page(s) still in the page cache after fsync + POSIX_FADV_DONTNEED",
			  i, ST_PAGES);
	rc |= verify_file("pread after eviction", a.r.fd, salt, ST_PAGES, gens);
out:
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* case 11: a 2 MiB large folio mapped by a PMD (xfs)                  */

#define LF_SIZE		(2UL << 20)
#define LF_PAGES	((int)(LF_SIZE / 4096))
#define LF_MID		(LF_PAGES / 2)

/* FilePmdMapped of the vma that starts at addr (/proc/self/smaps), kB; -1 if none */
static long file_pmd_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi;
	char line[512];
	bool in = false;
	long kb = -1, v;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = lo == (unsigned long)addr;
		else if (in && sscanf(line, "FilePmdMapped: %ld kB", &v) == 1) {
			kb = v;
			break;
		}
	}
	fclose(f);
	return kb;
}

/* a 2 MiB aligned MAP_SHARED MADV_HUGEPAGE mapping of a->r.fd, read-faulted; its FilePmdMapped */
/* a 2 MiB aligned MADV_HUGEPAGE mapping (file-shared-thp), read-faulted: FilePmdMapped */
static long lf_map(struct area *a)
{
	int e = mem_map(&a->r);

	if (e) {
		errno = e;
		return -2;
	}
	read_fault(a, 0, LF_PAGES);
	return file_pmd_kb(a->r.addr);
}

/* map (lf_map) until a PMD maps the file: PASS, SKIP or FAIL */
static int lf_map_pmd(struct area *a, const char *fsname, const char *when)
{
	long kb = -1;
	int tries, n;

	/* what pread() brought in is not what a MADV_HUGEPAGE fault would */
	evict(a->r.fd, LF_PAGES);
	for (tries = 0; tries < 3; tries++) {
		if (tries) {
			area_unmap(a);
			n = evict(a->r.fd, LF_PAGES);
			diag("%s: not PMD-mapped (FilePmdMapped %ld kB), try %d; %d page(s) still cached before it",
			     fsname, kb, tries + 1, n);
		}
		kb = lf_map(a);
		if (kb == -2)
			return fail("mmap, MADV_HUGEPAGE: %m");
		if (kb > 0)
			break;
	}
	diag("%s %s: FilePmdMapped %ld kB (2 MiB aligned MAP_SHARED MADV_HUGEPAGE mapping, read-faulted)",
	     fsname, when, kb);
	if (kb > 0)
		return PASS;
	if (access("/sys/kernel/mm/transparent_hugepage", F_OK))
		return case_skip("kernel without transparent huge pages: file folios are never PMD-mapped");
	return fail("%s %s: the aligned 2 MiB MADV_HUGEPAGE mapping is not PMD-mapped (FilePmdMapped %ld kB): xfs has large folios in Linux 6.12 and its read fault maps a 2 MiB folio with a PMD",
		    fsname, when, kb);
}

/* write gen to the pages in written (NWRITERS threads); exactly those in reported reported, once */
static int lf_write(struct area *a, const bool *written, const bool *reported, int gen,
		    const char *what)
{
	struct handler h;
	struct crew c;
	int rc;

	handler_reset(&h, a, false);
	TRY(crew_start(&c, a, written, gen, NWRITERS));
	rc = crew_finish(&c, &h, 3 * WAIT_MS);
	rc |= check_counts(&h, reported, what);
	return rc ? FAIL : PASS;
}

/* the mapping holds gens; msync, fsync, unmap, evict: so does the file */
static int lf_settle(struct area *a, const int *gens, const char *what)
{
	char w[128];
	int n, rc;

	snprintf(w, sizeof(w), "mapping %s", what);
	rc = verify_map(w, a->r.addr, a->salt, LF_PAGES, gens);
	if (msync(a->r.addr, LF_SIZE, MS_SYNC) || fsync(a->r.fd))
		rc = fail("msync/fsync: %m");
	area_unmap(a);
	n = evict(a->r.fd, LF_PAGES);
	if (n)
		rc = fail("%d/%d page(s) still in the page cache after fsync + POSIX_FADV_DONTNEED",
			  n, LF_PAGES);
	snprintf(w, sizeof(w), "pread after eviction, %s", what);
	rc |= verify_file(w, a->r.fd, a->salt, LF_PAGES, gens);
	return rc;
}

static int t_large(const char *dir, const char *fsname, int salt)
{
	static int init[LF_PAGES], gens[LF_PAGES];
	static bool all[LF_PAGES], mid[LF_PAGES];
	struct area a;
	int i, rc;

	if (psize != 4096)
		return fail("page size %zu, the case assumes 4096", psize);
	for (i = 0; i < LF_PAGES; i++) {
		init[i] = 1;
		all[i] = true;
		mid[i] = i == LF_MID;
	}
	rc = area_create(&a, "file-shared-thp", fsname, dir, "large", LF_PAGES, init, salt);
	if (!rc)
		rc = lf_map_pmd(&a, fsname, "before the 4 KiB protection");
	if (!rc)
		rc = area_register(&a);
	if (rc)
		goto out;

	/* 1: 4 KiB in the middle protected; every page written once */
	rc = protect_page(&a, LF_MID, true);
	if (rc)
		goto out;
	diag("%s: 4 KiB at page %d protected: FilePmdMapped %ld kB, pte of the page %s, of its neighbours %s / %s",
	     fsname, LF_MID, file_pmd_kb(a.r.addr), pm_str(pagemap_entry(page_addr(&a, LF_MID))),
	     pm_str(pagemap_entry(page_addr(&a, LF_MID - 1))),
	     pm_str(pagemap_entry(page_addr(&a, LF_MID + 1))));
	rc = lf_write(&a, all, mid, 2, "4 KiB protected in a PMD-mapped 2 MiB folio, every page written");
	for (i = 0; i < LF_PAGES; i++)
		gens[i] = 2;
	if (!rc)
		rc = lf_settle(&a, gens, "after the 4 KiB round");
	if (rc)
		goto out;

	/* 2: PMD-mapped again, the whole 2 MiB protected; every page written once */
	rc = lf_map_pmd(&a, fsname, "before the 2 MiB protection");
	if (!rc)
		rc = area_register(&a);
	if (!rc)
		rc = protect_all(&a, true);
	if (rc)
		goto out;
	diag("%s: 2 MiB protected: FilePmdMapped %ld kB, pte of page 0 %s", fsname,
	     file_pmd_kb(a.r.addr), pm_str(pagemap_entry(a.r.addr)));
	rc = lf_write(&a, all, all, 3, "2 MiB protected, every page written once");
	for (i = 0; i < LF_PAGES; i++)
		gens[i] = 3;
	if (!rc)
		rc = lf_settle(&a, gens, "after the 2 MiB round");
out:
	area_destroy(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* runner                                                              */

enum ckind {
	C_REMOUNT, C_EVICT, C_ENOSPC_MARKER, C_ENOSPC_PRESENT, C_PRIVATE,
	C_FREEZE_SHARED, C_FREEZE_PRIVATE, C_TRUNC_SHARED, C_TRUNC_PRIVATE,
	C_PUNCH_SHARED, C_PUNCH_PRIVATE, C_STABLE, C_LARGE,
};

struct tcase {
	enum ckind kind;
	const char *name;
	const struct mem_type *fs;	/* file-shared on the case's file system */
	int salt;
};

static bool is_freeze(const struct tcase *t)
{
	return t->kind == C_FREEZE_SHARED || t->kind == C_FREEZE_PRIVATE;
}

static int run_kind(const struct tcase *t)
{
	const char *dir = t->fs->dir, *fs = t->fs->fs;

	switch (t->kind) {
	case C_REMOUNT:
		return dir ? data_case(dir, fs, true, t->salt) : fail("UFFDWP_SMALLFS is not set");
	case C_EVICT:
		return data_case(dir, fs, false, t->salt);
	case C_ENOSPC_MARKER:
		return enospc_case(false, t->salt);
	case C_ENOSPC_PRESENT:
		return enospc_case(true, t->salt);
	case C_PRIVATE:
		return t_private(dir, fs, t->salt);
	case C_FREEZE_SHARED:
	case C_FREEZE_PRIVATE:
		return t_freeze(dir, fs, t->kind == C_FREEZE_SHARED, t->salt);
	case C_TRUNC_SHARED:
	case C_TRUNC_PRIVATE:
		return t_cut(dir, fs, false, t->kind == C_TRUNC_SHARED, t->salt);
	case C_PUNCH_SHARED:
	case C_PUNCH_PRIVATE:
		return t_cut(dir, fs, true, t->kind == C_PUNCH_SHARED, t->salt);
	case C_STABLE:
		return t_stable(t->salt);
	case C_LARGE:
		return t_large(dir, fs, t->salt);
	}
	return FAIL;
}

static int run_tcase(const void *arg)
{
	const struct tcase *t = arg;
	int rc = run_kind(t);

	if (is_freeze(t) && !fs_freeze(t->fs->dir, false))
		rc = fail("the case left %s frozen (thawed now)", t->fs->dir);
	if (!have_wp_file) {
		/* expected but missing (else not run): the case ran to show what fails */
		diag("UFFD_FEATURE_WP_FILE expected but not advertised; the case itself %s",
		     rc == PASS ? "passed" : rc == SKIP ? "skipped" : "failed");
		rc = FAIL;
	}
	return rc;
}

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

/* the files a case process pid may have left */
static void cleanup_files(const void *arg, pid_t pid)
{
	static const char *names[] = { "probe", "remount", "evict", "sparse", "private",
				       "freeze", "cut", "stable", "large" };
	const struct tcase *t = arg;
	char path[PATH_MAX], tag[64];
	unsigned int k;

	if (!t->fs->dir)
		return;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		snprintf(tag, sizeof(tag), "uffd-wp-data-%s", names[k]);
		mem_file_path(path, sizeof(path), t->fs, tag, pid);
		unlink(path);
	}
	filler_path(path, sizeof(path), t->fs->dir);
	unlink(path);
}

/*
 * A process that thaws dir after ms: a freeze case that dies or hangs
 * frozen cannot thaw, and its blocked threads (in ->page_mkwrite()) keep
 * it from exiting until somebody does.
 */
static pid_t thaw_guard(const char *dir, int ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		sleep_ms(ms);
		if (!fs_freeze(dir, false))
			printf("# thaw guard: %s was still frozen after %d ms: thawed\n", dir, ms);
		_exit(0);
	}
	return pid;
}

static void run_one(struct case_runner *cr, const struct tcase *t, const char *sdev,
		    const char *stype)
{
	int tmo = (is_freeze(t) ? FREEZE_CASE_TIMEOUT_S : CASE_TIMEOUT_S) * 1000;
	pid_t guard = -1;

	if (expect_or_skip(have_wp_file, expect_wp_file(), NULL) == SKIP) {
		case_point(cr, SKIP, "kernel lacks UFFD_FEATURE_WP_FILE (expected)", "%s %s",
			   t->name, t->fs->fs);
		return;
	}
	if (is_freeze(t)) {
		fflush(stdout);
		guard = thaw_guard(t->fs->dir, THAW_GUARD_MS);
	}
	case_run(cr, run_tcase, t, tmo, "%s %s", t->name, t->fs->fs);
	if (guard > 0) {
		kill(guard, SIGKILL);
		waitpid(guard, NULL, 0);
		if (!fs_freeze(t->fs->dir, false))
			diag("%s was left frozen by the case process: thawed", t->fs->dir);
	}
	ensure_mounted(small_fs(), sdev, stype);
}

int main(void)
{
	static struct mem_type fss[MEM_MAX_TYPES], small_t, stable_t;
	static const char *const fs_rows[] = { "file-shared", NULL };
	static struct tcase cases[5 + 10 * MEM_MAX_TYPES];
	char lt[512], ltype[64], sdev[512] = "", stype[64] = "";
	const char *b = getenv("UFFDWP_BUDGET");
	int budget = DEFAULT_BUDGET_S;
	struct case_runner cr;
	int i, n = 0, e, nr_fs;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);

	nr_fs = mem_types(fss, MEM_MAX_TYPES, fs_rows);
	/* the small fs (UFFDWP_SMALLFS) and the stable-pages fs (UFFDWP_STABLEFS) */
	mem_type_row(&small_t, "file-shared", "ext4-small", small_fs());
	mem_type_row(&stable_t, "file-shared", "ext4-stable", stable_fs());
	cases[n++] = (struct tcase){ C_REMOUNT, "no-data-loss-remount", &small_t, 0 };
	for (i = 0; i < nr_fs; i++)
		cases[n++] = (struct tcase){ C_EVICT, "no-data-loss-evict", &fss[i], 0 };
	cases[n++] = (struct tcase){ C_ENOSPC_MARKER, "enospc-sigbus-marker", &small_t, 0 };
	cases[n++] = (struct tcase){ C_ENOSPC_PRESENT, "enospc-sigbus-present", &small_t, 0 };
	for (i = 0; i < nr_fs; i++)
		cases[n++] = (struct tcase){ C_PRIVATE, "private-no-file-modification", &fss[i], 0 };
	for (i = 0; i < nr_fs; i++) {
		cases[n++] = (struct tcase){ C_FREEZE_SHARED, "fifreeze-blocked-shared", &fss[i], 0 };
		cases[n++] = (struct tcase){ C_FREEZE_PRIVATE, "fifreeze-blocked-private", &fss[i], 0 };
	}
	for (i = 0; i < nr_fs; i++) {
		cases[n++] = (struct tcase){ C_TRUNC_SHARED, "truncate-blocked-shared-vs-shmem",
					     &fss[i], 0 };
		cases[n++] = (struct tcase){ C_TRUNC_PRIVATE, "truncate-blocked-private-vs-shmem",
					     &fss[i], 0 };
		cases[n++] = (struct tcase){ C_PUNCH_SHARED, "punch-blocked-shared-vs-shmem",
					     &fss[i], 0 };
		cases[n++] = (struct tcase){ C_PUNCH_PRIVATE, "punch-blocked-private-vs-shmem",
					     &fss[i], 0 };
	}
	cases[n++] = (struct tcase){ C_STABLE, "stable-writeback-blocked", &stable_t, 0 };
	/* large folios: the file systems that have them in 6.12 (xfs) */
	for (i = 0; i < nr_fs; i++)
		if (find_mount(fss[i].dir, lt, sizeof(lt), ltype, sizeof(ltype)) &&
		    !strcmp(ltype, "xfs"))
			cases[n++] = (struct tcase){ C_LARGE, "large-folio-pmd-wp", &fss[i], 0 };
	for (i = 0; i < n; i++)
		cases[i].salt = 16 * (i + 1);
	if (b && atoi(b) > 0)
		budget = atoi(b);
	cases_start(&cr, "uffd-wp-file-data", n, budget, CASE_TIMEOUT_S, NULL);
	cr.after = cleanup_files;

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
		run_one(&cr, &cases[i], sdev, stype);
	return cases_end(&cr);
}
