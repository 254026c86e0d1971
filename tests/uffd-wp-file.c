// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-file: the API of synchronous userfaultfd write-protect on regular
 * page-cache files (ext4, xfs, btrfs), MAP_SHARED and MAP_PRIVATE: the
 * registration, protecting and un-protecting, reads, write faults, DONTWAKE
 * and UFFDIO_WAKE, SIGBUS and WP_ASYNC modes, unregistering and closing;
 * the same cases on shmem (memfd) are the reference.  What mm events (fork,
 * mremap, mprotect, writeback, zap, eviction, migration, truncation, hole
 * punch...) do to a protected range: uffd-wp-matrix.
 *
 * Every case of the case table runs on every memory type of the memory type
 * table, each in a process of its own with a hard timeout.  Inside a case the
 * accesses that may fault run in a separate "job" thread while the main
 * thread is the fault handler (poll() with a timeout), so a write that is
 * never reported, or a writer that never wakes up, is a failure, not a hang.
 *
 * Whether a protection of one process blocks other processes (or threads,
 * or writeback): uffd-security's iso-* cases.
 *
 * The register-wp-not-opted-in cases check that file systems that did not opt
 * in keep the upstream behaviour: synchronous MODE_WP refused with EINVAL,
 * WP_ASYNC accepted; on ramfs (mounted under /tmp) and on 9p (a scratch file
 * in UFFDWP_VMDIR, else build/vm, in the repository mounted over 9p).
 *
 * Environment:
 *   UFFDWP_FS              space-separated "name:mountpoint" list
 *                          (default: the current directory as "cwd")
 *   UFFDWP_VMDIR           the VM's directory (9p), for the 9p scratch file
 *   UFFDWP_OVERLAYFS       an overlayfs mount whose layers are on ext4: run
 *                          every case on it too (it must behave as ext4)
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *   UFFDWP_BUDGET          total time budget in seconds (default 600)
 *
 * Output is TAP; exit status 0 when no case failed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#define NPAGES		16
#define ALL_PAGES	((1u << NPAGES) - 1)
#define EVEN_PAGES	0x5555u
#define BIT(n)		(1u << (n))
#define MAXMSG		128
#define MAXEV		8
#define WAIT_MS		5000	/* longest wait for a report / a job */
#define CASE_TIMEOUT_S	20	/* hard limit for one case process */
#define DEFAULT_BUDGET_S 600	/* hard limit for the whole run */
#define TAG		"uffd-wp-file"	/* of the memfds and files (mem_create()) */

static size_t psize;
static uint64_t kfeatures;	/* features advertised by UFFDIO_API */
static bool have_wp_file;

/*
 * The memory types: the rows of tests/lib/mem.c below, on every file system
 * of UFFDWP_FS, then the file rows on the overlayfs of UFFDWP_OVERLAYFS.
 */
static const char *const rows[] = {
	"shmem", "shmem-private", "file-shared", "file-private", NULL
};

static struct mem_type memtypes[MEM_MAX_TYPES + 2];
static int nr_memtypes;

/* ------------------------------------------------------------------ */
/* test area: NPAGES pages, page i filled with one byte, pat(i, gen)   */

struct ctx {
	const struct mem_type *mt;
	struct mem_region r;
	int uffd;
	uint64_t features;
	uint64_t ioctls;	/* returned by UFFDIO_REGISTER */
	char *buf;		/* one page for pread/pwrite */
	int shadow[NPAGES];	/* expected byte of page i via the mapping */
	int fshadow[NPAGES];	/* expected byte of page i via read(2) */
};

static int pat(int page, int gen)
{
	return (0x11 + page * 3 + gen * 0x40) & 0xff;
}

static char *page_addr(struct ctx *c, int i)
{
	return c->r.addr + (size_t)i * psize;
}

/* the byte a page is filled with; -2 if it is not uniform */
static int uniform_byte(const volatile char *p)
{
	unsigned char b = p[0];
	size_t k;

	for (k = 1; k < psize; k++)
		if ((unsigned char)p[k] != b)
			return -2;
	return b;
}

/* page i read with pread(2); -3 if short */
static int file_byte(struct ctx *c, int i)
{
	if (pread(c->r.fd, c->buf, psize, (off_t)i * psize) != (ssize_t)psize)
		return -3;
	return uniform_byte(c->buf);
}

static const char *byte_str(int b, char *s)
{
	if (b == -2)
		return "mixed bytes";
	if (b == -3)
		return "short read";
	sprintf(s, "0x%02x", b);
	return s;
}

static int check_bytes(struct ctx *c, const char *what, bool file)
{
	const int *want = file ? c->fshadow : c->shadow;
	char s1[16], s2[16];
	int i, got, bad = 0;

	for (i = 0; i < NPAGES; i++) {
		got = file ? file_byte(c, i) : uniform_byte(page_addr(c, i));
		if (got == want[i])
			continue;
		if (bad++ < 4)
			diag("%s: page %d holds %s, expected %s", what, i,
			     byte_str(got, s1), byte_str(want[i], s2));
	}
	return bad ? fail("%s: %d page(s) with wrong content", what, bad) : PASS;
}

static int check_map(struct ctx *c, const char *what)
{
	return check_bytes(c, what, false);
}

static int check_file(struct ctx *c, const char *what)
{
	return check_bytes(c, what, true);
}

/* a write of generation gen to the pages in mask has landed */
static void apply_write(struct ctx *c, uint32_t mask, int gen)
{
	int i;

	for (i = 0; i < NPAGES; i++) {
		if (!(mask & BIT(i)))
			continue;
		c->shadow[i] = pat(i, gen);
		if (c->mt->shared)
			c->fshadow[i] = c->shadow[i];
	}
}

static void populate(struct ctx *c)
{
	volatile char *p = c->r.addr;
	int i;

	for (i = 0; i < NPAGES; i++)
		(void)p[(size_t)i * psize];
}

static int protect(struct ctx *c, uint32_t mask, bool wp)
{
	int i, e;

	if (mask == ALL_PAGES) {
		e = uffd_wp(c->uffd, c->r.addr, c->r.len, wp);
		return e ? fail("UFFDIO_WRITEPROTECT(%s) whole area: %s",
				wp ? "WP" : "0", strerror(e)) : PASS;
	}
	for (i = 0; i < NPAGES; i++) {
		if (!(mask & BIT(i)))
			continue;
		e = uffd_wp(c->uffd, page_addr(c, i), psize, wp);
		if (e)
			return fail("UFFDIO_WRITEPROTECT(%s) page %d: %s",
				    wp ? "WP" : "0", i, strerror(e));
	}
	return PASS;
}

static int area_create(struct ctx *c, const struct mem_type *mt)
{
	int i, e;

	memset(c, 0, sizeof(*c));
	c->mt = mt;
	c->r.fd = c->uffd = -1;
	c->buf = malloc(psize);
	if (!c->buf)
		return fail("malloc");
	e = mem_create(&c->r, mt, NPAGES * psize, TAG);
	if (e)
		return fail("create %s: %s", mem_is_file(mt) ? mt->dir : "memfd", strerror(e));
	for (i = 0; i < NPAGES; i++) {
		c->shadow[i] = c->fshadow[i] = pat(i, 0);
		memset(c->buf, pat(i, 0), psize);
		if (pwrite(c->r.fd, c->buf, psize, (off_t)i * psize) != (ssize_t)psize)
			return fail("pwrite: %m");
	}
	if (fsync(c->r.fd))
		return fail("fsync: %m");
	e = mem_map(&c->r);
	if (e)
		return fail("mmap: %s", strerror(e));
	return PASS;
}

static void ctx_teardown(struct ctx *c)
{
	if (c->uffd >= 0)
		close(c->uffd);
	c->uffd = -1;
	mem_release(&c->r);
	free(c->buf);
	c->buf = NULL;
}

static int ctx_setup(struct ctx *c, const struct mem_type *mt,
		     uint64_t features, bool reg)
{
	int e;

	TRY(area_create(c, mt));
	c->features = features;
	c->uffd = uffd_open(features, NULL);
	if (c->uffd < 0)
		return fail("userfaultfd/UFFDIO_API(0x%llx): %s",
			    (unsigned long long)features, strerror(-c->uffd));
	if (!reg)
		return PASS;
	e = uffd_register(c->uffd, c->r.addr, c->r.len, UFFDIO_REGISTER_MODE_WP,
			  &c->ioctls);
	if (e)
		return fail("UFFDIO_REGISTER(MODE_WP) on %s %s: %s",
			    mt->name, mt->fs, strerror(e));
	return PASS;
}

/* ------------------------------------------------------------------ */
/* jobs: accesses done by a separate thread while main handles faults */

struct job {
	struct ctx *c;
	void (*fn)(struct job *j);
	uint32_t mask;
	int gen;
	int err;		/* mismatch count */
	atomic_int tid;
	atomic_int progress;	/* pages completed */
	atomic_bool done;
	int efd;
};

/* fault handler policies */
#define P_CHECK_OLD	0x1	/* page must still hold its old content */
#define P_DONTWAKE	0x2	/* clear WP with DONTWAKE, then UFFDIO_WAKE */
#define P_CLOSE		0x4	/* close the uffd on the first report */

struct fault {
	unsigned long addr;
	uint64_t flags;
	int page;		/* -1: outside the area */
	int seen;		/* byte of the page when reported */
};

struct log {
	int n;
	struct fault f[MAXMSG];
	int nev;
	struct uffd_msg ev[MAXEV];
	int errors;
};

static void write_pages(char *base, uint32_t mask, int gen, atomic_int *progress)
{
	int i;

	for (i = 0; i < NPAGES; i++) {
		if (!(mask & BIT(i)))
			continue;
		memset(base + (size_t)i * psize, pat(i, gen), psize);
		if (progress)
			atomic_fetch_add(progress, 1);
	}
}

static void job_write(struct job *j)
{
	write_pages(j->c->r.addr, j->mask, j->gen, &j->progress);
}

static void job_read(struct job *j)
{
	struct ctx *c = j->c;
	int i;

	for (i = 0; i < NPAGES; i++) {
		if (uniform_byte(page_addr(c, i)) != c->shadow[i])
			j->err++;
		atomic_fetch_add(&j->progress, 1);
	}
}

static void *job_thread(void *arg)
{
	struct job *j = arg;
	uint64_t one = 1;

	atomic_store(&j->tid, (int)gettid());
	j->fn(j);
	atomic_store(&j->done, true);
	if (write(j->efd, &one, sizeof(one)) < 0)
		perror("eventfd");
	return NULL;
}

static int page_index(struct ctx *c, unsigned long addr)
{
	unsigned long base = (unsigned long)c->r.addr;

	if (addr < base || addr >= base + c->r.len)
		return -1;
	return (addr - base) / psize;
}

/* kernel function a task is sleeping in, "0" when it is not asleep */
static void task_wchan(int tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
}

static bool task_asleep(int tid)
{
	char w[128];

	task_wchan(tid, w, sizeof(w));
	return w[0] && strcmp(w, "0") != 0;
}

/*
 * Clear the protection with DONTWAKE: the writer must stay asleep and must
 * not make progress until UFFDIO_WAKE.  The "stays asleep" check is only
 * done once the writer is seen asleep in the kernel (wchan), so it cannot
 * trip on a writer that had not gone to sleep yet.
 */
static void resolve_dontwake(struct job *j, int fd, unsigned long a,
			     struct log *lg)
{
	int before = atomic_load(&j->progress), tid = atomic_load(&j->tid);
	int64_t deadline = now_ms() + (access("/proc/kallsyms", R_OK) ? 0 : 2000);
	bool asleep;
	char w[128];
	int e;

	while (!(asleep = task_asleep(tid)) && now_ms() < deadline)
		usleep(1000);
	if (!asleep)
		diag("writer not seen asleep in the kernel (no wchan?): not-woken check skipped");
	e = uffd_writeprotect(fd, (void *)a, psize, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	if (e) {
		diag("UFFDIO_WRITEPROTECT(0|DONTWAKE): %s", strerror(e));
		lg->errors++;
	}
	task_wchan(tid, w, sizeof(w));
	if (asleep && (!task_asleep(tid) || atomic_load(&j->progress) != before)) {
		diag("writer woken by UFFDIO_WRITEPROTECT with DONTWAKE (wchan '%s', progress %d -> %d)",
		     w, before, atomic_load(&j->progress));
		lg->errors++;
	} else if (asleep) {
		diag("writer still asleep in %s after clear with DONTWAKE", w);
	}
	e = uffd_wake(fd, (void *)a, psize);
	if (e) {
		diag("UFFDIO_WAKE: %s", strerror(e));
		lg->errors++;
	}
}

static void on_msg(struct ctx *c, struct job *j, unsigned int pol,
		   struct log *lg, struct uffd_msg *m)
{
	int fd = c->uffd;
	unsigned long a;
	struct fault *f;
	char s1[16], s2[16];
	int e;

	if (m->event != UFFD_EVENT_PAGEFAULT) {
		if (lg->nev < MAXEV)
			lg->ev[lg->nev] = *m;
		lg->nev++;
		return;
	}

	a = m->arg.pagefault.address & ~(unsigned long)(psize - 1);
	f = &lg->f[lg->n < MAXMSG ? lg->n : MAXMSG - 1];
	lg->n++;
	f->addr = a;
	f->flags = m->arg.pagefault.flags;
	f->page = page_index(c, a);
	f->seen = f->page >= 0 ? uniform_byte(page_addr(c, f->page)) : -1;
	if ((pol & P_CHECK_OLD) && f->page >= 0 && f->seen != c->shadow[f->page]) {
		diag("page %d changed before the fault was resolved: %s, expected %s",
		     f->page, byte_str(f->seen, s1), byte_str(c->shadow[f->page], s2));
		lg->errors++;
	}

	if (pol & P_CLOSE) {
		close(c->uffd);
		c->uffd = -1;
		return;
	}
	if (pol & P_DONTWAKE) {
		resolve_dontwake(j, fd, a, lg);
		return;
	}
	e = uffd_wp(fd, (void *)a, psize, false);
	if (e) {
		diag("resolving fault at %#lx: UFFDIO_WRITEPROTECT(0): %s", a, strerror(e));
		lg->errors++;
	}
}

static void handle_msgs(struct ctx *c, struct job *j, unsigned int pol,
			struct log *lg)
{
	struct uffd_msg m;

	while (c->uffd >= 0 && read(c->uffd, &m, sizeof(m)) == sizeof(m))
		on_msg(c, j, pol, lg, &m);
}

static bool wait_done(struct ctx *c, struct job *j, unsigned int pol,
		      struct log *lg, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms, left;

	while (!atomic_load(&j->done) && (left = deadline - now_ms()) > 0) {
		struct pollfd p[2] = {
			{ .fd = c->uffd, .events = POLLIN },
			{ .fd = j->efd, .events = POLLIN },
		};

		if (poll(p, 2, left) > 0)
			handle_msgs(c, j, pol, lg);
	}
	return atomic_load(&j->done);
}

/*
 * Run job j in a thread, handling the faults it raises until it is done.
 * A job that does not finish within WAIT_MS is a failure: the protection is
 * then dropped so that the thread can finish.
 */
static int run_job(struct ctx *c, struct job *j, unsigned int pol, struct log *lg)
{
	pthread_t th;

	memset(lg, 0, sizeof(*lg));
	j->c = c;
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->efd < 0)
		return fail("eventfd: %m");
	if (pthread_create(&th, NULL, job_thread, j)) {
		close(j->efd);
		return fail("pthread_create failed");
	}
	if (!wait_done(c, j, pol, lg, WAIT_MS)) {
		diag("job still running after %d ms (%d fault(s) reported): blocked?",
		     WAIT_MS, lg->n);
		lg->errors++;
		if (c->uffd >= 0)
			uffd_wp(c->uffd, c->r.addr, c->r.len, false);
		if (!wait_done(c, j, 0, lg, 2000))
			return fail("job stuck even after dropping the protection");
	}
	pthread_join(th, NULL);
	handle_msgs(c, j, pol, lg);	/* anything left over is a report too */
	close(j->efd);
	return lg->errors ? FAIL : PASS;
}

/* the pages in list[0..n) must be exactly the pages of mask, ascending */
static int check_page_list(const char *what, const int *list, int n, uint32_t mask)
{
	int i, k = 0, bad = 0;

	for (i = 0; i < NPAGES; i++) {
		if (!(mask & BIT(i)))
			continue;
		if (k >= n) {
			diag("%s: write to page %d not reported", what, i);
			bad++;
			continue;
		}
		if (list[k] != i) {
			diag("%s: report #%d is for page %d, expected page %d",
			     what, k, list[k], i);
			bad++;
		}
		k++;
	}
	for (; k < n; k++, bad++)
		if (bad < 8)
			diag("%s: unexpected report #%d for page %d", what, k, list[k]);
	return bad ? fail("%s: %d report(s) expected, %d received, %d mismatch(es)",
			  what, __builtin_popcount(mask), n, bad) : PASS;
}

/* uffd reports must be exactly one per page of mask, WP|WRITE */
static int check_reports(struct log *lg, uint32_t mask)
{
	int pages[MAXMSG], i, n = lg->n < MAXMSG ? lg->n : MAXMSG, bad = 0;

	for (i = 0; i < n; i++) {
		struct fault *f = &lg->f[i];

		pages[i] = f->page;
		if (!(f->flags & UFFD_PAGEFAULT_FLAG_WP) ||
		    !(f->flags & UFFD_PAGEFAULT_FLAG_WRITE)) {
			diag("report for page %d has flags %#llx, want WP|WRITE",
			     f->page, (unsigned long long)f->flags);
			bad++;
		}
	}
	if (check_page_list("uffd-wp reports", pages, n, mask))
		bad++;
	return bad ? FAIL : PASS;
}

static int check_events(struct log *lg, uint8_t event, int count)
{
	int i, bad = lg->nev != count;

	for (i = 0; i < lg->nev && i < MAXEV; i++)
		bad |= lg->ev[i].event != event;
	if (!bad)
		return PASS;
	for (i = 0; i < lg->nev && i < MAXEV; i++)
		diag("event #%d: %#x", i, lg->ev[i].event);
	return fail("%d uffd event(s), expected %d of type %#x", lg->nev, count, event);
}

/*
 * Write generation gen to the pages in mask from a job thread; exactly the
 * pages in wp must be reported, each while its old content is still there.
 */
static int write_expect(struct ctx *c, uint32_t mask, int gen, uint32_t wp,
			unsigned int pol)
{
	struct job j = { .fn = job_write, .mask = mask, .gen = gen };
	struct log lg;
	int rc;

	rc = run_job(c, &j, pol | P_CHECK_OLD, &lg);
	rc |= check_reports(&lg, wp);
	rc |= check_events(&lg, 0, 0);
	apply_write(c, mask, gen);
	rc |= check_map(c, "mapping after write");
	return rc ? FAIL : PASS;
}

/* a reader touching every page must never block nor be reported */
static int read_expect(struct ctx *c)
{
	struct job j = { .fn = job_read };
	struct log lg;
	int rc;

	rc = run_job(c, &j, 0, &lg);
	if (lg.n)
		rc = fail("%d read(s) reported as faults; reads must never block", lg.n);
	if (j.err)
		rc = fail("reader saw %d page(s) with unexpected content", j.err);
	return rc | check_events(&lg, 0, 0);
}

/*
 * The content must be right through the mapping, through read(2), and for
 * files also after the pages were written back and dropped from the cache.
 * Private mappings never modify the file.
 */
static int verify_backing(struct ctx *c)
{
	bool shared = c->mt->shared;
	int rc, n;

	rc = check_map(c, "mapping");
	if (shared && msync(c->r.addr, c->r.len, MS_SYNC))
		rc = fail("msync: %m");
	rc |= check_file(c, "pread");
	if (!mem_is_file(c->mt))
		return rc;

	/* unmapped (private copies dropped: not checked after this), evicted */
	madvise(c->r.addr, c->r.len, MADV_DONTNEED);
	n = mem_evict(c->r.fd, c->r.addr, c->r.len, false, NULL);
	if (n)
		diag("note: %d page(s) still cached after POSIX_FADV_DONTNEED", n);
	rc |= check_file(c, "pread after eviction");
	if (shared)
		rc |= check_map(c, "mapping after eviction");
	return rc;
}

/* ------------------------------------------------------------------ */
/* cases                                                               */

static int t_register_ioctls(struct ctx *c)
{
	uint64_t want = (1ULL << _UFFDIO_WAKE) | (1ULL << _UFFDIO_WRITEPROTECT);
	int e;

	diag("UFFDIO_REGISTER(MODE_WP) ioctls = %#llx", (unsigned long long)c->ioctls);
	if (mem_is_file(c->mt) && c->ioctls != want)
		return fail("file range ioctls %#llx, expected exactly WAKE|WRITEPROTECT (%#llx)",
			    (unsigned long long)c->ioctls, (unsigned long long)want);
	if ((c->ioctls & want) != want)
		return fail("ioctls %#llx lack WAKE|WRITEPROTECT",
			    (unsigned long long)c->ioctls);
	TRY(protect(c, ALL_PAGES, true));
	TRY(protect(c, ALL_PAGES, false));
	e = uffd_unregister(c->uffd, c->r.addr, c->r.len);
	if (e)
		return fail("UFFDIO_UNREGISTER: %s", strerror(e));
	e = uffd_wp(c->uffd, c->r.addr, c->r.len, true);
	if (e != ENOENT)
		return fail("UFFDIO_WRITEPROTECT after unregister: %s, expected ENOENT",
			    e ? strerror(e) : "success");
	return PASS;
}

static int t_register_modes(struct ctx *c)
{
	static const struct { uint64_t mode; const char *name; } modes[] = {
		{ UFFDIO_REGISTER_MODE_MISSING, "MISSING" },
		{ UFFDIO_REGISTER_MODE_MINOR, "MINOR" },
		{ UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP, "MISSING|WP" },
		{ UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP, "MINOR|WP" },
	};
	unsigned int k;
	int e, want;

	for (k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		bool minor = modes[k].mode & UFFDIO_REGISTER_MODE_MINOR;

		if (mem_is_file(c->mt))
			want = EINVAL;
		else
			want = minor && !(kfeatures & UFFD_FEATURE_MINOR_SHMEM) ? EINVAL : 0;
		e = uffd_register(c->uffd, c->r.addr, c->r.len, modes[k].mode, NULL);
		if (e != want)
			return fail("UFFDIO_REGISTER(%s): %s, expected %s", modes[k].name,
				    e ? strerror(e) : "success",
				    want ? strerror(want) : "success");
		if (!e && (e = uffd_unregister(c->uffd, c->r.addr, c->r.len)))
			return fail("UFFDIO_UNREGISTER: %s", strerror(e));
	}
	/* a refused registration must leave nothing behind */
	e = uffd_register(c->uffd, c->r.addr, c->r.len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e)
		return fail("UFFDIO_REGISTER(WP) after the refused modes: %s", strerror(e));
	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	return write_expect(c, BIT(0) | BIT(NPAGES - 1), 1, BIT(0) | BIT(NPAGES - 1), 0);
}

static int t_register_rdonly(struct ctx *c)
{
	int want = c->mt->shared ? EPERM : 0;
	char path[64];
	void *m;
	int fd, e;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->r.fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open(%s, O_RDONLY): %m", path);
	m = mmap(NULL, c->r.len, PROT_READ, c->mt->shared ? MAP_SHARED : MAP_PRIVATE,
		 fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return fail("mmap(PROT_READ) of the O_RDONLY file: %m");
	e = uffd_register(c->uffd, m, c->r.len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!e)
		e = uffd_wp(c->uffd, m, c->r.len, true);
	munmap(m, c->r.len);
	if (e != want)
		return fail("MODE_WP on a %s mapping of an O_RDONLY open: %s, expected %s",
			    c->mt->shared ? "MAP_SHARED" : "MAP_PRIVATE",
			    e ? strerror(e) : "success", want ? strerror(want) : "success");
	return PASS;
}

static int t_read_no_block(struct ctx *c)
{
	/* not populated: the protection has to cover pages not mapped yet */
	TRY(protect(c, ALL_PAGES, true));
	TRY(read_expect(c));
	TRY(write_expect(c, ALL_PAGES, 1, ALL_PAGES, 0));
	return verify_backing(c);
}

static int t_write_fault(struct ctx *c)
{
	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	TRY(read_expect(c));
	TRY(write_expect(c, ALL_PAGES, 1, ALL_PAGES, 0));
	/* resolved pages stay writable */
	TRY(write_expect(c, ALL_PAGES, 2, 0, 0));
	return verify_backing(c);
}

static int t_set_clear(struct ctx *c)
{
	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	TRY(protect(c, EVEN_PAGES, false));
	TRY(write_expect(c, ALL_PAGES, 1, ALL_PAGES & ~EVEN_PAGES, 0));
	TRY(protect(c, 0x000f, true));
	TRY(write_expect(c, ALL_PAGES, 2, 0x000f, 0));
	return verify_backing(c);
}

static int t_dontwake(struct ctx *c)
{
	uint32_t mask = BIT(3) | BIT(10);
	int e;

	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	e = uffd_writeprotect(c->uffd, c->r.addr, c->r.len,
			      UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	if (e != EINVAL)
		return fail("UFFDIO_WRITEPROTECT(WP|DONTWAKE): %s, expected EINVAL",
			    e ? strerror(e) : "success");
	TRY(write_expect(c, mask, 1, mask, P_DONTWAKE));
	return verify_backing(c);
}

static int sigbus_uffd = -1;
static atomic_int sigbus_n;
static int sigbus_page[MAXMSG];
static char *sigbus_base;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	unsigned long a = (unsigned long)si->si_addr & ~(unsigned long)(psize - 1);
	int n = atomic_fetch_add(&sigbus_n, 1), e = errno;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)sig;
	(void)uc;
	if (n < MAXMSG)
		sigbus_page[n] = (a - (unsigned long)sigbus_base) / psize;
	/* unprotect and retry; if that fails the next SIGBUS kills us */
	if (n >= 4 * NPAGES || uffd_wp(sigbus_uffd, (void *)a, psize, false))
		sigaction(SIGBUS, &dfl, NULL);
	errno = e;
}

static int t_sigbus(struct ctx *c)
{
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	uint32_t mask = BIT(2) | BIT(7) | BIT(8);
	struct job j = { .fn = job_write, .mask = mask, .gen = 1 };
	struct log lg;
	int rc, n;

	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	sigbus_uffd = c->uffd;
	sigbus_base = c->r.addr;
	if (sigaction(SIGBUS, &sa, NULL))
		return fail("sigaction: %m");
	rc = run_job(c, &j, P_CHECK_OLD, &lg);
	n = atomic_load(&sigbus_n);
	rc |= check_reports(&lg, 0);
	rc |= check_page_list("SIGBUS", sigbus_page, n < MAXMSG ? n : MAXMSG, mask);
	apply_write(c, mask, 1);
	rc |= check_map(c, "mapping after write");
	return rc ? FAIL : verify_backing(c);
}

/* PAGEMAP_SCAN for PAGE_IS_WRITTEN; with wp, the written pages are re-protected */
static int scan_expect(struct ctx *c, bool wp, uint32_t want)
{
	struct page_region r[NPAGES];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_CHECK_WPASYNC | (wp ? PM_SCAN_WP_MATCHING : 0),
		.start = (unsigned long)c->r.addr,
		.end = (unsigned long)c->r.addr + c->r.len,
		.vec = (unsigned long)r,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	uint32_t got = 0;
	unsigned long p;
	int fd, n, i;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open /proc/self/pagemap: %m");
	n = ioctl(fd, PAGEMAP_SCAN, &arg);
	close(fd);
	if (n < 0)
		return fail("PAGEMAP_SCAN: %m");
	for (i = 0; i < n; i++) {
		if (r[i].categories != PAGE_IS_WRITTEN)
			return fail("region %d categories %#llx", i,
				    (unsigned long long)r[i].categories);
		for (p = r[i].start; p < r[i].end; p += psize) {
			if (page_index(c, p) < 0)
				return fail("region %d outside the area", i);
			got |= BIT(page_index(c, p));
		}
	}
	if (got != want)
		return fail("PAGEMAP_SCAN%s: written pages 0x%04x, expected 0x%04x",
			    wp ? "(WP_MATCHING)" : "", got, want);
	return PASS;
}

static int t_async(struct ctx *c)
{
	uint32_t m1 = BIT(1) | BIT(4) | BIT(5) | BIT(9), m2 = BIT(4) | BIT(12);

	TRY(protect(c, ALL_PAGES, true));
	TRY(scan_expect(c, false, 0));
	TRY(write_expect(c, m1, 1, 0, 0));
	TRY(scan_expect(c, true, m1));
	TRY(scan_expect(c, false, 0));
	TRY(write_expect(c, m2, 2, 0, 0));
	TRY(scan_expect(c, false, m2));
	TRY(scan_expect(c, true, m2));
	TRY(scan_expect(c, false, 0));
	return verify_backing(c);
}

static int t_unregister(struct ctx *c)
{
	int e;

	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	e = uffd_unregister(c->uffd, c->r.addr, c->r.len);
	if (e)
		return fail("UFFDIO_UNREGISTER: %s", strerror(e));
	TRY(write_expect(c, ALL_PAGES, 1, 0, 0));
	return verify_backing(c);
}

static int t_close(struct ctx *c)
{
	populate(c);
	TRY(protect(c, ALL_PAGES, true));
	/* the writer blocked on page 0 must be released by close() */
	TRY(write_expect(c, ALL_PAGES, 1, BIT(0), P_CLOSE));
	return verify_backing(c);
}

struct test_case {
	const char *name;
	int (*fn)(struct ctx *c);
	uint64_t features;	/* UFFDIO_API features the case needs */
	bool raw;		/* the case registers by itself */
};

static const struct test_case cases[] = {
	{ .name = "register-ioctls", .fn = t_register_ioctls },
	{ .name = "register-modes", .fn = t_register_modes, .raw = true },
	{ .name = "register-rdonly", .fn = t_register_rdonly, .raw = true },
	{ .name = "read-no-block", .fn = t_read_no_block },
	{ .name = "write-fault", .fn = t_write_fault },
	{ .name = "wp-set-clear", .fn = t_set_clear },
	{ .name = "dontwake-wake", .fn = t_dontwake },
	{ .name = "sigbus", .fn = t_sigbus, .features = UFFD_FEATURE_SIGBUS },
	{ .name = "wp-async-pagemap-scan", .fn = t_async, .features = UFFD_FEATURE_WP_ASYNC },
	{ .name = "unregister", .fn = t_unregister },
	{ .name = "close-uffd", .fn = t_close },
};

#define NR_CASES	((int)(sizeof(cases) / sizeof(cases[0])))

struct case_arg {
	const struct mem_type *mt;
	const struct test_case *tc;
};

static int run_case(const void *arg)
{
	const struct case_arg *ca = arg;
	uint64_t missing = ca->tc->features & ~kfeatures;
	struct ctx c;
	int rc;

	if (!(kfeatures & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return case_skip("kernel has no uffd-wp");
	if (missing)
		return case_skip("kernel lacks uffd feature(s) %#llx", (unsigned long long)missing);
	if (!mem_is_file(ca->mt) && !(kfeatures & UFFD_FEATURE_WP_HUGETLBFS_SHMEM))
		return case_skip("kernel has no uffd-wp on shmem");
	rc = ctx_setup(&c, ca->mt, ca->tc->features, !ca->tc->raw);
	if (!rc)
		rc = ca->tc->fn(&c);
	ctx_teardown(&c);
	if (mem_is_file(ca->mt) && !have_wp_file) {
		/* expected but missing: the case ran to show what fails */
		diag("UFFD_FEATURE_WP_FILE not advertised; the case itself %s",
		     rc == PASS ? "passed" : rc == SKIP ? "skipped" : "failed");
		rc = FAIL;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* global cases                                                        */

static int g_capability(const void *arg)
{
	int i, fd, e;
	uint64_t got = 0;

	(void)arg;
	diag("UFFDIO_API features %#llx, UFFD_FEATURE_WP_FILE %s, expected %s",
	     (unsigned long long)kfeatures, have_wp_file ? "advertised" : "not advertised",
	     expect_wp_file() ? "yes" : "no");

	/* what a plain MODE_WP registration of each file does (diagnostic) */
	for (i = 0; i < nr_memtypes; i++) {
		const struct mem_type *mt = &memtypes[i];
		struct ctx c;

		if (!mem_is_file(mt))
			continue;
		if (access(mt->dir, W_OK)) {
			diag("probe: %s %s: %s not writable: %m", mt->name, mt->fs, mt->dir);
			continue;
		}
		if (ctx_setup(&c, mt, 0, false) == PASS) {
			e = uffd_register(c.uffd, c.r.addr, c.r.len, UFFDIO_REGISTER_MODE_WP, NULL);
			diag("probe: %s %s: UFFDIO_REGISTER(MODE_WP) -> %s%s", mt->name,
			     mt->fs, e ? strerror(e) : "success",
			     !have_wp_file && e == EINVAL ? " (base kernel behaviour)" : "");
		}
		ctx_teardown(&c);
	}

	if (have_wp_file && !expect_wp_file())
		return fail("capability advertised but not expected");
	if (!have_wp_file && expect_wp_file())
		return fail("UFFD_FEATURE_WP_FILE expected but not advertised");
	if (!have_wp_file)
		return PASS;
	/* a pure capability bit, but requesting it must work */
	fd = uffd_open(UFFD_FEATURE_WP_FILE, &got);
	if (fd < 0)
		return fail("UFFDIO_API(UFFD_FEATURE_WP_FILE): %s", strerror(-fd));
	close(fd);
	if (!(got & UFFD_FEATURE_WP_FILE))
		return fail("UFFDIO_API(UFFD_FEATURE_WP_FILE) returned features %#llx",
			    (unsigned long long)got);
	return PASS;
}

static int g_devmem(const void *arg)
{
	const off_t off = 0xA0000;
	void *m;
	int fd, uffd, e;

	(void)arg;
	fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return case_skip("cannot open /dev/mem: %m");
	m = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	close(fd);
	if (m == MAP_FAILED)
		return case_skip("cannot mmap /dev/mem at %#lx: %m", (long)off);
	uffd = uffd_open(0, NULL);
	if (uffd < 0)
		return fail("userfaultfd: %s", strerror(-uffd));
	e = uffd_register(uffd, m, psize, UFFDIO_REGISTER_MODE_WP, NULL);
	close(uffd);
	munmap(m, psize);
	if (e != EINVAL)
		return fail("UFFDIO_REGISTER(MODE_WP) on /dev/mem: %s, expected EINVAL",
			    e ? strerror(e) : "success");
	return PASS;
}

/* ------------------------------------------------------------------ */
/* file systems that do not opt in                                     */

/*
 * Synchronous write-protect is for the file systems that opt in (ext4,
 * xfs, btrfs); every other keeps the upstream behaviour, on the base kernel
 * as on the series: UFFDIO_REGISTER(MODE_WP) of a regular file's mapping
 * fails with EINVAL and leaves nothing registered, while a context with
 * UFFD_FEATURE_WP_ASYNC registers and protects it as before.  ramfs
 * (mounted here) and 9p (the repository, the test's cwd in the guest) are
 * two file systems that fault through the generic filemap path too.
 */
/*
 * The type of the file system path is on: the longest mount point of
 * /proc/self/mounts above it (statfs() cannot tell: 9p reports the type
 * of the host's file system).  0 or an errno.
 */
static int mount_type(const char *path, char *type, size_t len)
{
	char real[PATH_MAX], line[2 * PATH_MAX], dev[PATH_MAX], mnt[PATH_MAX], t[64];
	size_t best = 0, n;
	FILE *f;

	if (!realpath(path, real))
		return errno;
	f = fopen("/proc/self/mounts", "r");
	if (!f)
		return errno;
	type[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%4095s %4095s %63s", dev, mnt, t) != 3)
			continue;
		n = strlen(mnt);
		if (strncmp(real, mnt, n) || (real[n] && real[n] != '/' && strcmp(mnt, "/")))
			continue;
		if (n >= best) {	/* the later of equal ones is the visible one */
			best = n;
			snprintf(type, len, "%s", t);
		}
	}
	fclose(f);
	return type[0] ? 0 : ENOENT;
}

struct refusal {
	const char *fs;		/* "ramfs" or "9p" */
	bool shared;
	char dir[PATH_MAX];	/* set by the runner */
};

static struct refusal refusals[] = {
	{ .fs = "ramfs", .shared = true },
	{ .fs = "ramfs", .shared = false },
	{ .fs = "9p", .shared = true },
	{ .fs = "9p", .shared = false },
};

#define NR_REFUSALS	((int)(sizeof(refusals) / sizeof(refusals[0])))

static bool is_ramfs(const struct refusal *r)
{
	return !strcmp(r->fs, "ramfs");
}

/* the memory type of a refusal case: a file row on r->fs in r->dir */
static void refusal_type(const struct refusal *r, struct mem_type *mt)
{
	mem_type_row(mt, r->shared ? "file-shared" : "file-private", r->fs, r->dir);
}

static int g_refusal(const void *arg)
{
	const struct refusal *r = arg;
	const char *kind = r->shared ? "MAP_SHARED" : "MAP_PRIVATE";
	const uint64_t wp_only = 1ULL << _UFFDIO_WAKE | 1ULL << _UFFDIO_WRITEPROTECT;
	struct mem_type mt;
	uint64_t ioctls = 0;
	int uffd = -1, rc, e;
	struct ctx c;
	size_t size;
	char *m, type[64];

	if (is_ramfs(r)) {
		if (mkdir(r->dir, 0700) && errno != EEXIST)
			return fail("mkdir %s: %m", r->dir);
		if (mount("ramfs", r->dir, "ramfs", 0, "mode=0700"))
			return fail("mount -t ramfs ramfs %s: %m", r->dir);
	}
	e = mount_type(r->dir, type, sizeof(type));
	if (e) {
		errno = e;
		return fail("the file system of %s (/proc/self/mounts): %m", r->dir);
	}
	if (strcmp(type, r->fs))
		return fail("%s is on %s, not %s%s", r->dir, type, r->fs,
			    is_ramfs(r) ? "" : ": the test runs in the guest, from the repository mounted over 9p");
	refusal_type(r, &mt);
	rc = area_create(&c, &mt);
	if (rc)
		goto out;
	m = c.r.addr;
	size = c.r.len;

	/* synchronous: refused, nothing left registered */
	uffd = uffd_open(0, NULL);
	if (uffd < 0) {
		rc = fail("userfaultfd/UFFDIO_API: %s", strerror(-uffd));
		goto out;
	}
	e = uffd_register(uffd, m, size, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e != EINVAL) {
		rc = fail("UFFDIO_REGISTER(MODE_WP) of a %s mapping of a %s file: %s, expected EINVAL (%s does not opt in to synchronous write-protect)",
			  kind, r->fs, e ? strerror(e) : "success", r->fs);
		if (!e)
			uffd_unregister(uffd, m, size);
	} else {
		e = uffd_wp(uffd, m, size, true);
		if (e != ENOENT)
			rc = fail("UFFDIO_WRITEPROTECT after the refused registration: %s, expected ENOENT (nothing registered)",
				  e ? strerror(e) : "success");
	}
	close(uffd);

	/* UFFD_FEATURE_WP_ASYNC: accepted, as upstream */
	uffd = uffd_open(UFFD_FEATURE_WP_ASYNC, NULL);
	if (uffd < 0) {
		rc = fail("UFFDIO_API(UFFD_FEATURE_WP_ASYNC): %s", strerror(-uffd));
		goto out;
	}
	e = uffd_register(uffd, m, size, UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (e) {
		rc = fail("UFFDIO_REGISTER(MODE_WP) of a %s mapping of a %s file with UFFD_FEATURE_WP_ASYNC: %s, expected success (upstream behaviour)",
			  kind, r->fs, strerror(e));
		goto out;
	}
	/*
	 * With the file series, a range that is not anonymous memory, shmem
	 * or hugetlbfs declares only the ioctls that can work there (the
	 * base kernel lists COPY, ZEROPAGE, MOVE, POISON too)
	 */
	if (expect_wp_file() && ioctls != wp_only)
		rc = fail("UFFDIO_REGISTER(MODE_WP, async) of a %s file returned ioctls %#llx, expected %#llx (UFFDIO_WAKE | UFFDIO_WRITEPROTECT)",
			  r->fs, (unsigned long long)ioctls, (unsigned long long)wp_only);
	e = uffd_wp(uffd, m, size, true);
	if (e) {
		rc = fail("UFFDIO_WRITEPROTECT(WP) with UFFD_FEATURE_WP_ASYNC: %s", strerror(e));
	} else {
		/* an async fault resolves itself: the write just lands */
		memset(m + psize, pat(1, 1), psize);
		if (uniform_byte(m + psize) != pat(1, 1))
			rc = fail("write through the async-protected mapping did not land");
	}
	e = uffd_unregister(uffd, m, size);
	if (e)
		rc = fail("UFFDIO_UNREGISTER: %s", strerror(e));
out:
	if (uffd >= 0)
		close(uffd);
	ctx_teardown(&c);
	if (is_ramfs(r) && umount2(r->dir, 0))
		diag("umount %s: %m", r->dir);
	return rc;
}

/* ------------------------------------------------------------------ */
/* runner                                                              */

/* remove the file a case process left (of a memory type, a refusal) */
static void remove_type_file(const struct mem_type *mt, pid_t pid)
{
	char path[PATH_MAX];

	if (mem_is_file(mt)) {
		mem_file_path(path, sizeof(path), mt, TAG, pid);
		unlink(path);
	}
}

static void after_memtype_case(const void *arg, pid_t pid)
{
	remove_type_file(((const struct case_arg *)arg)->mt, pid);
}

static void after_refusal(const void *arg, pid_t pid)
{
	struct mem_type mt;

	refusal_type(arg, &mt);
	remove_type_file(&mt, pid);
}

/* the refusal cases: ramfs under /tmp, a scratch file under the VM's directory (9p) */
static void run_refusal(struct case_runner *cr, struct refusal *r)
{
	const char *vmdir = getenv("UFFDWP_VMDIR");

	if (is_ramfs(r))
		snprintf(r->dir, sizeof(r->dir), "/tmp/uffd-wp-file-ramfs.%d", (int)getpid());
	else
		snprintf(r->dir, sizeof(r->dir), "%s", vmdir && *vmdir ? vmdir : "build/vm");
	cr->after = after_refusal;
	case_run(cr, g_refusal, r, 0, "%s %s register-wp-not-opted-in",
		 r->shared ? "file-shared" : "file-private", r->fs);
	cr->after = NULL;
	if (is_ramfs(r)) {
		umount2(r->dir, MNT_DETACH);	/* if the case could not */
		rmdir(r->dir);
	}
}

static void run_memtype_case(struct case_runner *cr, const struct mem_type *mt,
			     const struct test_case *tc)
{
	struct case_arg ca = { mt, tc };

	/* a file without UFFD_FEATURE_WP_FILE: SKIP, or run it to show what fails (FAIL) */
	if (mem_is_file(mt) && expect_or_skip(have_wp_file, expect_wp_file(), NULL) == SKIP) {
		case_point(cr, SKIP, "kernel does not support sync uffd-wp on files (expected)",
			   "%s %s %s", mt->name, mt->fs, tc->name);
		return;
	}
	cr->after = after_memtype_case;
	case_run(cr, run_case, &ca, 0, "%s %s %s", mt->name, mt->fs, tc->name);
	cr->after = NULL;
}

static void find_memtypes(void)
{
	const char *overlay = getenv("UFFDWP_OVERLAYFS");

	nr_memtypes = mem_types(memtypes, MEM_MAX_TYPES, rows);
	/*
	 * overlayfs hands the mapping to the file of its layer (ext4): it
	 * must behave exactly as that file system, case for case
	 */
	if (overlay && *overlay) {
		mem_type_row(&memtypes[nr_memtypes++], "file-shared", "overlay", overlay);
		mem_type_row(&memtypes[nr_memtypes++], "file-private", "overlay", overlay);
	}
}

int main(void)
{
	const char *b = getenv("UFFDWP_BUDGET");
	int budget = DEFAULT_BUDGET_S;
	struct case_runner cr;
	int i, k, e, plan;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	find_memtypes();
	plan = 2 + NR_REFUSALS + nr_memtypes * NR_CASES;
	if (b && atoi(b) > 0)
		budget = atoi(b);
	cases_start(&cr, "uffd-wp-file", plan, budget, CASE_TIMEOUT_S, NULL);

	e = uffd_features(&kfeatures);
	if (e) {
		diag("userfaultfd unavailable: %s", strerror(e));
		for (i = 0; i < plan; i++)
			case_point(&cr, SKIP, "userfaultfd unavailable", "- - userfaultfd");
		return cases_end(&cr);
	}
	have_wp_file = kfeatures & UFFD_FEATURE_WP_FILE;

	case_run(&cr, g_capability, NULL, 0, "global - wp-file-capability");
	case_run(&cr, g_devmem, NULL, 0, "devmem - register-wp-einval");
	for (i = 0; i < NR_REFUSALS; i++)
		run_refusal(&cr, &refusals[i]);
	for (i = 0; i < nr_memtypes; i++)
		for (k = 0; k < NR_CASES; k++)
			run_memtype_case(&cr, &memtypes[i], &cases[k]);
	return cases_end(&cr);
}
