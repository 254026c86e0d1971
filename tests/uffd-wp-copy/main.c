// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-copy: copy-before-write (UFFD_FEATURE_WP_COPY) of synchronous
 * userfaultfd write-protect.
 *
 * Cases (one TAP point each; <type> is anon, shmem, and file-shared and
 * file-private once per file system of UFFDWP_FS: "file-shared ext4", ...):
 *   api                  UFFDIO_API accepts UFFD_FEATURE_WP_COPY and reports
 *                        UFFDIO_WP_COPY_{SETUP,FREE}, refuses it with WP_ASYNC
 *                        or SIGBUS (EINVAL); on a kernel without the feature:
 *                        refused with EINVAL (and every other case skips, or
 *                        fails when UFFDWP_EXPECT_WP_COPY=1)
 *   bad-input            exact errnos: setup without the feature, nr_slots 0
 *                        and too big, unknown flags, second setup (EBUSY),
 *                        setup from another process (EPERM),
 *                        mmap before setup, at a wrong offset or size,
 *                        MAP_PRIVATE, PROT_WRITE, mprotect(PROT_WRITE); FREE
 *                        with unknown flags, a bad pointer, a slot out of
 *                        range, not in use, listed twice, a tail past head
 *                        (nothing changed after a failed FREE); the buffer
 *                        after MADV_DONTNEED
 *   bad-limits           the rest of the hostile input, errnos checked
 *                        against the kernel source: mmap (the raw system
 *                        call) at offsets 1, psize/2, psize+8 (EINVAL from
 *                        mmap itself), 2^62 (EINVAL from ->mmap), -psize
 *                        (EOVERFLOW); of 0 bytes (EINVAL), 1 byte and
 *                        mmap_size - psize + 1 (rounded up: accepted),
 *                        mmap_size + 1 and psize + 1 at the last page
 *                        (EINVAL), 2^64 - psize + 1 (ENOMEM); FREE of nr 0
 *                        (a no-op, NULL or bad pointer), slots NULL with nr
 *                        1, 4 and 65536 (EFAULT), nr 2^32, 2^63, 65537
 *                        (EINVAL), tail 2^32-1, 2^63, 2^64-2 (EINVAL), an
 *                        array crossing into a PROT_NONE page (EFAULT, tail
 *                        unchanged), an array and a setup argument at odd
 *                        addresses (accepted); setup with nr_slots 2^32+4 and
 *                        2^64-1 (EINVAL) and UFFD_WP_COPY_MAX_SLOTS (65536:
 *                        accepted unless ENOMEM; layout, last slot zeroed,
 *                        slot 65536 out of range)
 *   snapshot <type>      64 pages of generation 1, protected, 32 slots; a
 *                        writer writes generation 2 into every page while a
 *                        handler serves the fallback reports (it only
 *                        un-protects).  Every page has exactly one record
 *                        whose slot holds generation 1, or exactly one
 *                        report, never both; 32 records; the memory holds
 *                        generation 2.  Then all slots are freed with the
 *                        tail, the pages protected again and generation 3
 *                        written: the slots are reused (records across the
 *                        ring's wrap) and hold generation 2.
 *   unpopulated <type>   pages not mapped when protected (pte markers; anon
 *                        with UFFD_FEATURE_WP_UNPOPULATED): the fault maps
 *                        the page still protected, its retry is copied: a
 *                        record per page, holding the file's data (zeroes on
 *                        anon), no report
 *   events <type>        with slots in use, UFFD_FEATURE_EVENT_REMAP and a
 *                        handler that counts reports: (a) a page
 *                        un-protected (UFFDIO_WRITEPROTECT mode 0) before
 *                        any write: no record, no report; (d) mremap() of
 *                        the protected range: the handler reads the remap
 *                        event, the protection moved, a write at the new
 *                        address is copied (record with the NEW address,
 *                        the old contents), the older records keep their old
 *                        addresses and slots; (b) UFFDIO_UNREGISTER with 3
 *                        records in the ring: records and slots unchanged,
 *                        later writes neither copied nor reported, FREE of
 *                        the 3 slots works; (c) munmap() of the range with a
 *                        slot in use: slot and record unchanged, FREE works
 *                        (and a second FREE of it is EINVAL), fdinfo shows
 *                        every slot free; (e) exit: a child sets up its own
 *                        userfaultfd and buffer on the type, takes 2 records,
 *                        leaves a writer blocked on a report (no free slot)
 *                        and exits without freeing, closing or unmapping:
 *                        reaped within 10 s with status 0
 *   ring-full            4 slots: slots freed but records not consumed fill
 *                        the ring; a write then is reported; after the tail
 *                        moves, writes are copied again
 *   swap-anon            protected anon pages swapped out (MADV_PAGEOUT, zram
 *                        in the VM): the write swaps the page in, still
 *                        protected, and copies it in the same fault
 *   stress <type>        anon and shmem, 4 writers writing whole pages at
 *                        random, a consumer freeing slots and moving the tail
 *                        as records come (holding them 60 ms every 300 ms),
 *                        the handler un-protecting reported pages, and a
 *                        thread protecting everything again and again (new
 *                        epochs) and un-protecting halves, for 3 s: every
 *                        record names a page of the area and a slot in range,
 *                        and its slot holds words of that page only; the
 *                        slots ran out (some reports: the fallback) and were
 *                        reused (more records than slots)
 *   record-wins          the documented race step by step (anon, 1 slot):
 *                        writer A writes page P with the slot in use (a
 *                        report; A waits), the slot is freed, writer B
 *                        writes P (a record; B does not wait): the kernel
 *                        wakes A, withdraws its report if nobody read it,
 *                        and the record holds P before both writes; when
 *                        the report was read first, the handler's copy,
 *                        un-protection and head show the record (the record
 *                        wins); both writes land
 *   proc-mem             a write through /proc/self/mem (GUP that may not
 *                        retry the fault): with no free slot it fails with
 *                        EIO and changes nothing (as without the feature);
 *                        with a free slot it is copied, succeeds and gives a
 *                        record holding the old page
 *   memlock              as uid 65534 with RLIMIT_MEMLOCK 64 KiB: 32 slots
 *                        ENOMEM with nothing charged, 8 slots accepted and
 *                        charged to VmLck until the last fd and mapping go
 *   same-page <type>     anon, shmem and the file rows of the first file
 *                        system: one page, 1 slot, 3 writers storing into it
 *                        (staggered 0-300 us) in each protect epoch, a
 *                        consumer freeing the slot after a random delay, a
 *                        handler that follows the documented rule (copy the
 *                        reported page, un-protect it, then read head), for
 *                        1.5 s (at most 3000 epochs): per epoch at most one
 *                        record, a record or a report (never neither), every
 *                        record holds the page as it was before the epoch's
 *                        first write (no writer's word: not copied after a
 *                        write); with no record since the protection the
 *                        handler's copy holds it too, and no record comes
 *                        after its un-protection (the record wins
 *                        otherwise); the note counts the epochs with both
 *   hugetlb-fallback     hugetlb pages (MAP_SHARED) are never copied: every
 *                        first write is reported, the ring stays empty
 *   hugetlb-fallback-private  the same, MAP_PRIVATE
 *   close-mapped         close() of the userfaultfd while its buffer is mapped
 *                        releases it as always: a writer blocked on a report
 *                        is woken, the protection is dropped; the buffer stays
 *                        readable (the mapping holds the buffer, not the fd)
 *   fork                 the buffer mapping is not inherited; the context of
 *                        a child (UFFD_FEATURE_EVENT_FORK) has no slots: its
 *                        writes are reported, mmap() of it fails with ENODEV
 *   bench-anon           time per first write (emulated when run under TCG):
 *                        copy-before-write against a handler thread that
 *                        copies the page and un-protects it
 *
 * Environment:
 *   UFFDWP_FS              "name:mountpoint ..."; the file types run on
 *                          each (default: the current directory)
 *   UFFDWP_EXPECT_WP_COPY  1 (default) or 0: is UFFD_FEATURE_WP_COPY expected
 *   UFFDWP_BUDGET          total time budget in seconds (default 300)
 *
 * Output is TAP; exit status 0 when no case failed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#ifndef UFFD_FEATURE_WP_COPY
#error "needs the uapi headers of the copy-before-write kernel (UFFD_FEATURE_WP_COPY)"
#endif

#define NPAGES			64
#define NSLOTS			32
#define NHUGE			4
#define BENCH_PAGES		256
#define BENCH_ROUNDS		5
#define WAIT_MS			10000
#define CASE_TIMEOUT_S		120
#define DEFAULT_BUDGET_S	300

enum { ST_RECORDS, ST_REPORTS, ST_PAGES };
static const char *const stat_names[] = { "records", "reports", "pages", NULL };

static size_t psize;
static uint64_t kfeatures;
static bool have_wp_copy;

static bool expect_wp_copy(void)
{
	const char *e = getenv("UFFDWP_EXPECT_WP_COPY");

	return !(e && !strcmp(e, "0"));
}

/* ------------------------------------------------------------------ */
/* data patterns: every 8-byte word of (salt, page, gen) is unique      */

/* generation 0 is a page of zeroes */
static uint64_t word(int salt, int page, int gen, size_t k)
{
	if (!gen)
		return 0;
	return (0xC5ULL << 56) | ((uint64_t)(salt & 0xff) << 48) |
	       ((uint64_t)(gen & 0xff) << 40) | ((uint64_t)(page & 0xffff) << 24) | k;
}

/* the first store of the loop is the write fault */
static void fill_page(char *p, size_t len, int salt, int page, int gen)
{
	volatile uint64_t *w = (volatile uint64_t *)p;
	size_t k;

	for (k = 0; k < len / 8; k++)
		w[k] = word(salt, page, gen, k);
}

/* the number of wrong words; the first one is described */
static int check_page(const char *what, const char *p, size_t len, int salt, int page, int gen)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t k, first = 0;
	int bad = 0;

	for (k = 0; k < len / 8; k++) {
		if (w[k] == word(salt, page, gen, k))
			continue;
		if (!bad++)
			first = k;
	}
	if (bad)
		diag("%s: page %d: %d/%zu word(s) wrong, first at byte %zu: %#llx, expected gen %d (%#llx)",
		     what, page, bad, len / 8, first * 8, (unsigned long long)w[first], gen,
		     (unsigned long long)word(salt, page, gen, first));
	return bad;
}

/* ------------------------------------------------------------------ */
/* the copy-before-write calls: 0 or an errno                          */

static int cbw_setup(int uffd, uint64_t nr_slots, uint64_t flags, struct uffdio_wp_copy_setup *out)
{
	struct uffdio_wp_copy_setup s = { .nr_slots = nr_slots, .flags = flags };

	if (ioctl(uffd, UFFDIO_WP_COPY_SETUP, &s))
		return errno;
	if (out)
		*out = s;
	return 0;
}

static int cbw_free(int uffd, const uint32_t *slots, uint64_t nr, uint64_t tail, uint64_t flags)
{
	struct uffdio_wp_copy_free f = {
		.slots = (uintptr_t)slots, .nr = nr, .tail = tail, .flags = flags,
	};

	return ioctl(uffd, UFFDIO_WP_COPY_FREE, &f) ? errno : 0;
}

/* mmap() of the buffer: the mapping, or NULL with errno */
static void *cbw_map(int uffd, size_t len, int prot, int flags, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, uffd, off);

	return p == MAP_FAILED ? NULL : p;
}

/* a context with copy-before-write, its buffer mapped */
struct cbw {
	int uffd;
	struct uffdio_wp_copy_setup s;
	char *buf;
	struct uffd_wp_copy_ring *ring;
};

static int cbw_open(struct cbw *c, uint64_t features, uint32_t nr_slots)
{
	int e;

	memset(c, 0, sizeof(*c));
	c->uffd = uffd_open(UFFD_FEATURE_WP_COPY | features, NULL);
	if (c->uffd < 0)
		return fail("userfaultfd with UFFD_FEATURE_WP_COPY: %s", strerror(-c->uffd));
	e = cbw_setup(c->uffd, nr_slots, 0, &c->s);
	if (e)
		return fail("UFFDIO_WP_COPY_SETUP(%u): %s", nr_slots, strerror(e));
	c->buf = cbw_map(c->uffd, c->s.mmap_size, PROT_READ, MAP_SHARED, 0);
	if (!c->buf)
		return fail("mmap of the buffer (%llu bytes): %m",
			    (unsigned long long)c->s.mmap_size);
	c->ring = (struct uffd_wp_copy_ring *)(c->buf + c->s.ring_offset);
	return PASS;
}

/* register [addr, addr + len) for write-protect and protect it */
static int cbw_arm(struct cbw *c, void *addr, size_t len)
{
	int e = uffd_register(c->uffd, addr, len, UFFDIO_REGISTER_MODE_WP, NULL);

	if (!e)
		e = uffd_wp(c->uffd, addr, len, true);
	return e ? fail("register/protect: %s", strerror(e)) : PASS;
}

static void cbw_close(struct cbw *c)
{
	if (c->buf)
		munmap(c->buf, c->s.mmap_size);
	if (c->uffd >= 0)
		close(c->uffd);
	c->buf = NULL;
	c->uffd = -1;
}

static const char *cbw_slot(const struct cbw *c, uint32_t slot)
{
	return c->buf + c->s.slots_offset + (size_t)slot * psize;
}

static uint32_t cbw_head(const struct cbw *c)
{
	return __atomic_load_n(&c->ring->head, __ATOMIC_ACQUIRE);
}

static const struct uffd_wp_copy_rec *cbw_rec(const struct cbw *c, uint32_t idx)
{
	return &c->ring->recs[idx & (c->ring->nr_entries - 1)];
}

/* ------------------------------------------------------------------ */
/* writer and handler threads                                          */

struct writer {
	char *addr;
	size_t page;		/* page size of the memory */
	int npages;
	int salt, gen;
	bool reverse;
	bool one_word;		/* bench: one store per page */
	int64_t ns;		/* how long the writes took */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	int64_t t0 = now_ns();
	int i, p;

	for (i = 0; i < w->npages; i++) {
		p = w->reverse ? w->npages - 1 - i : i;
		if (w->one_word)
			*(volatile uint64_t *)(w->addr + (size_t)p * w->page) =
				word(w->salt, p, w->gen, 0);
		else
			fill_page(w->addr + (size_t)p * w->page, w->page, w->salt, p, w->gen);
	}
	w->ns = now_ns() - t0;
	return NULL;
}

/*
 * The handler of the fallback reports: counts each reported page and
 * un-protects it (which wakes the writer); with save, it first copies the
 * page as a handler without copy-before-write would.
 */
struct handler {
	int uffd;
	char *addr;
	size_t page;
	int npages;
	int reports[512];
	int bad;			/* reports outside the area, not WP */
	char *save;			/* NULL, or npages * page bytes */
	atomic_bool stop;
	int err;
	/* UFFD_EVENT_REMAP (events): the move, and addr follows it */
	int remaps;
	unsigned long remap_from, remap_to, remap_len;
};

static void *handler_fn(void *arg)
{
	struct handler *h = arg;
	struct uffd_msg msg;
	unsigned long a;
	char *pg;
	int e, i;

	while (!atomic_load(&h->stop)) {
		e = uffd_wait_msg(h->uffd, &msg, 20);
		if (e == ETIMEDOUT)
			continue;
		if (e) {
			h->err = e;
			break;
		}
		if (msg.event == UFFD_EVENT_REMAP) {
			h->remap_from = msg.arg.remap.from;
			h->remap_to = msg.arg.remap.to;
			h->remap_len = msg.arg.remap.len;
			if (h->remap_from == (unsigned long)h->addr)
				h->addr = (char *)h->remap_to;
			__atomic_fetch_add(&h->remaps, 1, __ATOMIC_RELEASE);
			continue;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT ||
		    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
			h->bad++;
			continue;
		}
		a = msg.arg.pagefault.address;
		i = (int)((a - (unsigned long)h->addr) / h->page);
		if (a < (unsigned long)h->addr || i >= h->npages) {
			h->bad++;
			continue;
		}
		pg = h->addr + (size_t)i * h->page;
		if (h->save)
			memcpy(h->save + (size_t)i * h->page, pg, h->page);
		h->reports[i]++;
		e = uffd_wp(h->uffd, pg, h->page, false);
		if (e) {
			h->err = e;
			break;
		}
	}
	return NULL;
}

/* write gen into every page from a writer thread while h serves reports */
static int write_all(struct handler *h, int salt, int gen, bool reverse, bool one_word,
		     int64_t *ns)
{
	struct writer w = {
		.addr = h->addr, .page = h->page, .npages = h->npages,
		.salt = salt, .gen = gen, .reverse = reverse, .one_word = one_word,
	};
	pthread_t ht, wt;

	atomic_store(&h->stop, false);
	if (pthread_create(&ht, NULL, handler_fn, h))
		return fail("pthread_create: %m");
	if (pthread_create(&wt, NULL, writer_fn, &w)) {
		atomic_store(&h->stop, true);
		pthread_join(ht, NULL);
		return fail("pthread_create: %m");
	}
	pthread_join(wt, NULL);
	atomic_store(&h->stop, true);
	pthread_join(ht, NULL);
	if (ns)
		*ns = w.ns;
	if (h->err)
		return fail("handler: %s", strerror(h->err));
	if (h->bad)
		return fail("handler: %d unexpected message(s)", h->bad);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* api                                                                 */

static int api_refused(uint64_t features, const char *what)
{
	int fd = uffd_open(features, NULL);

	if (fd >= 0) {
		close(fd);
		return fail("UFFDIO_API with %s succeeded, expected EINVAL", what);
	}
	if (fd != -EINVAL)
		return fail("UFFDIO_API with %s: %s, expected EINVAL", what, errno_name(-fd));
	return PASS;
}

static int t_api(const void *arg)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_COPY };
	int fd;

	(void)arg;
	if (!have_wp_copy) {
		TRY(api_refused(UFFD_FEATURE_WP_COPY, "UFFD_FEATURE_WP_COPY"));
		case_note("refused with EINVAL (kernel without copy-before-write)");
		return PASS;
	}
	fd = uffd_open(0, NULL);
	if (fd < 0)
		return fail("userfaultfd: %s", strerror(-fd));
	close(fd);
	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail("userfaultfd: %s", strerror(-fd));
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return fail("UFFDIO_API(UFFD_FEATURE_WP_COPY): %m");
	}
	close(fd);
	if ((api.ioctls & UFFD_API_WP_COPY_IOCTLS) != UFFD_API_WP_COPY_IOCTLS)
		return fail("UFFDIO_API ioctls %#llx lack UFFDIO_WP_COPY_{SETUP,FREE}",
			    (unsigned long long)api.ioctls);
	TRY(api_refused(UFFD_FEATURE_WP_COPY | UFFD_FEATURE_WP_ASYNC, "WP_COPY | WP_ASYNC"));
	TRY(api_refused(UFFD_FEATURE_WP_COPY | UFFD_FEATURE_SIGBUS, "WP_COPY | SIGBUS"));
	return PASS;
}

/* ------------------------------------------------------------------ */
/* bad input                                                           */

#define EXPECT_ERR(call, want, what) do {					\
	int __e = (call);							\
	if (__e != (want))							\
		return fail("%s: %s, expected %s", what, __e ? errno_name(__e) : "success", \
			    errno_name(want));					\
} while (0)

static int map_err(int uffd, size_t len, int prot, int flags, off_t off)
{
	void *p = cbw_map(uffd, len, prot, flags, off);

	if (p) {
		munmap(p, len);
		return 0;
	}
	return errno;
}

/* write one protected page of an anonymous area (handled by copy-before-write) */
static int one_cbw_write(struct cbw *c, char *area, int page, uint32_t head)
{
	area[(size_t)page * psize] = 1;
	if (cbw_head(c) != head + 1)
		return fail("write to protected page %d: ring head %u, expected %u", page,
			    cbw_head(c), head + 1);
	return PASS;
}

static int t_bad_input(const void *arg)
{
	struct uffdio_wp_copy_setup s;
	uint32_t slots[4];
	struct cbw c;
	char *area, fdinfo[4096], path[64];
	int fd, e, status;
	pid_t pid;

	(void)arg;
	/* without the feature */
	fd = uffd_open(0, NULL);
	if (fd < 0)
		return fail("userfaultfd: %s", strerror(-fd));
	EXPECT_ERR(cbw_setup(fd, 4, 0, NULL), EINVAL, "UFFDIO_WP_COPY_SETUP without the feature");
	EXPECT_ERR(cbw_free(fd, NULL, 0, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "UFFDIO_WP_COPY_FREE without the feature");
	EXPECT_ERR(map_err(fd, psize, PROT_READ, MAP_SHARED, 0), ENODEV,
		   "mmap of a userfaultfd without the feature");
	close(fd);

	fd = uffd_open(UFFD_FEATURE_WP_COPY, NULL);
	if (fd < 0)
		return fail("userfaultfd with UFFD_FEATURE_WP_COPY: %s", strerror(-fd));
	EXPECT_ERR(map_err(fd, psize, PROT_READ, MAP_SHARED, 0), ENODEV, "mmap before setup");
	EXPECT_ERR(cbw_free(fd, NULL, 0, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL, "FREE before setup");
	EXPECT_ERR(cbw_setup(fd, 0, 0, NULL), EINVAL, "setup with nr_slots 0");
	EXPECT_ERR(cbw_setup(fd, UFFD_WP_COPY_MAX_SLOTS + 1, 0, NULL), EINVAL,
		   "setup with nr_slots UFFD_WP_COPY_MAX_SLOTS + 1");
	EXPECT_ERR(cbw_setup(fd, 1ULL << 40, 0, NULL), EINVAL, "setup with nr_slots 2^40");
	EXPECT_ERR(cbw_setup(fd, 4, 1, NULL), EINVAL, "setup with flags 1");
	EXPECT_ERR(cbw_setup(fd, 4, 1ULL << 63, NULL), EINVAL, "setup with flags 1 << 63");
	EXPECT_ERR(ioctl(fd, UFFDIO_WP_COPY_SETUP, (void *)16) ? errno : 0, EFAULT,
		   "setup with a bad pointer");
	/* only the process whose memory it tracks sets it up */
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
	if (pid == 0)
		_exit(cbw_setup(fd, 4, 0, NULL));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != EPERM)
		return fail("setup from a child (another mm): status %#x, expected exit %d (EPERM)",
			    status, EPERM);
	close(fd);

	/* a set-up context: 4 slots, one ring page */
	TRY(cbw_open(&c, 0, 4));
	if (c.s.ring_offset != 0 || c.s.slots_offset != psize || c.s.mmap_size != 5 * psize)
		return fail("setup(4): ring_offset %llu slots_offset %llu mmap_size %llu, expected 0 %zu %zu",
			    (unsigned long long)c.s.ring_offset,
			    (unsigned long long)c.s.slots_offset,
			    (unsigned long long)c.s.mmap_size, psize, 5 * psize);
	if (c.ring->nr_entries != 4 || c.ring->head || c.ring->tail)
		return fail("fresh ring: nr_entries %u head %u tail %u, expected 4 0 0",
			    c.ring->nr_entries, c.ring->head, c.ring->tail);
	EXPECT_ERR(cbw_setup(c.uffd, 4, 0, &s), EBUSY, "second setup");
	EXPECT_ERR(cbw_setup(c.uffd, 8, 0, &s), EBUSY, "second setup (8 slots)");

	/* mmap: offsets, sizes, modes */
	EXPECT_ERR(map_err(c.uffd, psize, PROT_READ, MAP_SHARED, c.s.mmap_size), EINVAL,
		   "mmap at offset mmap_size");
	EXPECT_ERR(map_err(c.uffd, psize, PROT_READ, MAP_SHARED, 64 * c.s.mmap_size), EINVAL,
		   "mmap far beyond the buffer");
	EXPECT_ERR(map_err(c.uffd, 2 * psize, PROT_READ, MAP_SHARED, c.s.mmap_size - psize),
		   EINVAL, "mmap across the end of the buffer");
	EXPECT_ERR(map_err(c.uffd, c.s.mmap_size + psize, PROT_READ, MAP_SHARED, 0), EINVAL,
		   "mmap longer than the buffer");
	EXPECT_ERR(map_err(c.uffd, psize, PROT_READ, MAP_PRIVATE, 0), EINVAL, "MAP_PRIVATE mmap");
	EXPECT_ERR(map_err(c.uffd, psize, PROT_READ | PROT_WRITE, MAP_SHARED, 0), EACCES,
		   "PROT_WRITE mmap");
	EXPECT_ERR(map_err(c.uffd, psize, PROT_READ | PROT_EXEC, MAP_SHARED, 0), EPERM,
		   "PROT_EXEC mmap");
	EXPECT_ERR(map_err(c.uffd, psize, PROT_READ, MAP_SHARED, c.s.slots_offset + 3 * psize), 0,
		   "mmap of the last slot");
	EXPECT_ERR(mprotect(c.buf, psize, PROT_READ | PROT_WRITE) ? errno : 0, EACCES,
		   "mprotect(PROT_WRITE) of the buffer");

	/* FREE on an empty ring */
	slots[0] = 0;
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 1), EINVAL, "FREE with flags 1");
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of a slot not in use");
	slots[0] = 4;
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of slot 4 of 4");
	slots[0] = UINT32_MAX;
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of slot 2^32-1");
	EXPECT_ERR(cbw_free(c.uffd, (uint32_t *)16, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EFAULT,
		   "FREE with a bad pointer");
	EXPECT_ERR(cbw_free(c.uffd, slots, 5, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of 5 slots of 4");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, 1, 0), EINVAL, "FREE moving tail past head");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, 1ULL << 32, 0), EINVAL, "FREE with tail 2^32");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, 0, 0), 0, "FREE with tail == head");

	/* two records: slots 0 and 1 in use */
	area = mmap(NULL, 4 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	memset(area, 7, 4 * psize);
	TRY(cbw_arm(&c, area, 4 * psize));
	TRY(one_cbw_write(&c, area, 0, 0));
	TRY(one_cbw_write(&c, area, 1, 1));
	if (cbw_rec(&c, 0)->slot != 0 || cbw_rec(&c, 1)->slot != 1 ||
	    cbw_rec(&c, 0)->address != (uintptr_t)area ||
	    cbw_rec(&c, 1)->address != (uintptr_t)area + psize ||
	    cbw_rec(&c, 0)->flags || cbw_rec(&c, 1)->flags)
		return fail("records (%#llx, %u, %u) (%#llx, %u, %u), expected slots 0 and 1 of pages 0, 1",
			    (unsigned long long)cbw_rec(&c, 0)->address, cbw_rec(&c, 0)->slot,
			    cbw_rec(&c, 0)->flags, (unsigned long long)cbw_rec(&c, 1)->address,
			    cbw_rec(&c, 1)->slot, cbw_rec(&c, 1)->flags);
	/* failed FREEs change nothing */
	slots[0] = 0; slots[1] = 0;
	EXPECT_ERR(cbw_free(c.uffd, slots, 2, 2, 0), EINVAL, "FREE of slot 0 twice in one call");
	slots[0] = 0; slots[1] = 2;
	EXPECT_ERR(cbw_free(c.uffd, slots, 2, 2, 0), EINVAL, "FREE of slots 0 (in use) and 2 (not)");
	slots[0] = 1; slots[1] = 0; slots[2] = 9;
	EXPECT_ERR(cbw_free(c.uffd, slots, 3, 2, 0), EINVAL, "FREE of slots 1, 0 and 9 (out of range)");
	slots[0] = 0; slots[1] = 1;
	EXPECT_ERR(cbw_free(c.uffd, slots, 2, 3, 0), EINVAL, "FREE of slots 0, 1 with tail past head");
	if (c.ring->tail != 0)
		return fail("ring tail %u after failed FREEs, expected 0", c.ring->tail);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", c.uffd);
	if (!read_text(path, fdinfo, sizeof(fdinfo)) ||
	    !strstr(fdinfo, "wp_copy:\tslots 4 free 2 ring 4 head 2 tail 0"))
		return fail("fdinfo after failed FREEs:\n%s", fdinfo);
	/* and the same slots free fine */
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, 1, 0), 0, "FREE of slot 0, tail 1");
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of slot 0 again");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, 0, 0), EINVAL, "FREE moving tail back");
	EXPECT_ERR(cbw_free(c.uffd, slots + 1, 1, 2, 0), 0, "FREE of slot 1, tail 2");
	if (c.ring->tail != 2)
		return fail("ring tail %u, expected 2", c.ring->tail);
	/* MADV_DONTNEED on the buffer: its pages come back on the next access */
	if (madvise(c.buf, c.s.mmap_size, MADV_DONTNEED))
		return fail("MADV_DONTNEED of the buffer: %m");
	if (c.ring->head != 2 || c.ring->nr_entries != 4 || cbw_rec(&c, 1)->slot != 1)
		return fail("ring after MADV_DONTNEED: head %u nr_entries %u", c.ring->head,
			    c.ring->nr_entries);
	for (e = 0; e < (int)psize; e++)
		if (cbw_slot(&c, 1)[e] != 7)
			return fail("slot 1 after MADV_DONTNEED: byte %d is %d, expected 7", e,
				    cbw_slot(&c, 1)[e]);
	cbw_close(&c);
	munmap(area, 4 * psize);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* close() while the buffer is mapped                                  */

static void *write_page_fn(void *arg)
{
	*(volatile char *)arg = 9;
	return NULL;
}

/*
 * A writer blocked on a report (no free slot) must be woken by close() of
 * the userfaultfd even though the buffer is still mapped; the protection
 * goes away with the registration, and the buffer stays readable.
 */
static int t_close_mapped(const void *arg)
{
	struct timespec ts;
	struct cbw c;
	pthread_t t;
	char *area;
	int e, i;

	(void)arg;
	area = mmap(NULL, 4 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	memset(area, 5, 4 * psize);
	TRY(cbw_open(&c, 0, 1));
	TRY(cbw_arm(&c, area, 4 * psize));
	TRY(one_cbw_write(&c, area, 0, 0));
	/* no free slot: this write waits for a handler that never comes */
	if (pthread_create(&t, NULL, write_page_fn, area + psize))
		return fail("pthread_create: %m");
	sleep_ms(200);
	if (!(pagemap_entry(area + 2 * psize) & PM_UFFD_WP))
		return fail("page 2 not protected before close()");
	close(c.uffd);
	c.uffd = -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	e = pthread_timedjoin_np(t, NULL, &ts);
	if (e)
		return fail("writer blocked on a report still waits 10 s after close() "
			    "(the mapping keeps the userfaultfd alive?): %s", strerror(e));
	if (pagemap_entry(area + 2 * psize) & PM_UFFD_WP)
		return fail("page 2 still protected after close()");
	area[2 * psize] = 6;
	if (cbw_head(&c) != 1 || cbw_rec(&c, 0)->address != (uintptr_t)area)
		return fail("ring after close(): head %u, record 0 at %#llx", cbw_head(&c),
			    (unsigned long long)cbw_rec(&c, 0)->address);
	for (i = 0; i < (int)psize; i++)
		if (cbw_slot(&c, 0)[i] != 5)
			return fail("slot 0 after close(): byte %d is %d, expected 5", i,
				    cbw_slot(&c, 0)[i]);
	cbw_close(&c);
	munmap(area, 4 * psize);
	case_note("blocked writer woken, protection dropped, buffer still readable");
	return PASS;
}

/* ------------------------------------------------------------------ */
/* snapshot of a memory type                                           */

struct snap_case {
	const struct mem_type *mt;
	int salt;
};

/*
 * Check the records [from, to) of c against area: each names a page of the
 * area at most once (rec[page] counts) and a slot at most once, and the
 * slot holds generation gen of that page.  The slots go into slots[].
 */
static int check_records(const struct cbw *c, const char *area, int npages, int salt, int gen,
			 uint32_t from, uint32_t to, int *rec, uint32_t *slots)
{
	bool used[NSLOTS] = { false };
	const struct uffd_wp_copy_rec *r;
	uint32_t i;
	int page;

	for (i = from; i != to; i++) {
		r = cbw_rec(c, i);
		if (r->address < (uintptr_t)area || (r->address - (uintptr_t)area) % psize ||
		    (r->address - (uintptr_t)area) / psize >= (uint64_t)npages)
			return fail("record %u: address %#llx outside the area %p", i,
				    (unsigned long long)r->address, area);
		page = (r->address - (uintptr_t)area) / psize;
		if (r->slot >= NSLOTS || r->flags)
			return fail("record %u (page %d): slot %u flags %#x", i, page, r->slot,
				    r->flags);
		if (used[r->slot])
			return fail("record %u (page %d): slot %u recorded twice", i, page, r->slot);
		used[r->slot] = true;
		slots[i - from] = r->slot;
		if (rec[page]++)
			return fail("record %u: page %d recorded twice", i, page);
		if (check_page("slot", cbw_slot(c, r->slot), psize, salt, page, gen))
			return fail("record %u: slot %u does not hold generation %d of page %d",
				    i, r->slot, gen, page);
	}
	return PASS;
}

/* every page exactly once: a record or a report */
static int check_once(const int *rec, const int *rep, int npages, const char *phase)
{
	int i;

	for (i = 0; i < npages; i++)
		if (rec[i] + rep[i] != 1)
			return fail("%s: page %d: %d record(s), %d report(s), expected one in all",
				    phase, i, rec[i], rep[i]);
	return PASS;
}

static int snapshot_phase(struct cbw *c, struct handler *h, int salt, int gen, bool reverse,
			  uint32_t *slots, int *nrec, const char *phase)
{
	int rec[NPAGES] = { 0 }, nrep = 0, i;
	uint32_t tail = c->ring->tail, head;

	memset(h->reports, 0, sizeof(h->reports));
	TRY(write_all(h, salt, gen + 1, reverse, false, NULL));
	head = cbw_head(c);
	if (head - tail > NSLOTS)
		return fail("%s: %u records for %d slots", phase, head - tail, NSLOTS);
	TRY(check_records(c, h->addr, NPAGES, salt, gen, tail, head, rec, slots));
	TRY(check_once(rec, h->reports, NPAGES, phase));
	for (i = 0; i < NPAGES; i++)
		nrep += h->reports[i];
	*nrec = head - tail;
	case_count(ST_RECORDS, *nrec);
	case_count(ST_REPORTS, nrep);
	case_count(ST_PAGES, NPAGES);
	/* a single writer, present pages: the slots run out after 32 writes */
	if (*nrec != NSLOTS)
		return fail("%s: %d records and %d reports, expected %d records", phase, *nrec,
			    nrep, NSLOTS);
	for (i = 0; i < NPAGES; i++)
		if (check_page("memory", h->addr + (size_t)i * psize, psize, salt, i, gen + 1))
			return fail("%s: page %d does not hold generation %d", phase, i, gen + 1);
	return PASS;
}

static int t_snapshot(const void *arg)
{
	const struct snap_case *sc = arg;
	struct mem_region r = { .fd = -1 };
	static struct handler h;
	uint32_t slots1[NSLOTS], slots2[NSLOTS];
	int nrec1, nrec2, i, j, e, reused = 0;
	struct cbw c;

	e = mem_create(&r, sc->mt, NPAGES * psize, "uffd-wp-copy");
	if (!e)
		e = mem_map(&r);
	if (e)
		return fail("%s: create/map: %s", sc->mt->name, strerror(e));
	/* a file is removed at once: the case leaves nothing behind */
	mem_unlink(&r);
	for (i = 0; i < NPAGES; i++)
		fill_page(r.addr + (size_t)i * psize, psize, sc->salt, i, 1);

	TRY(cbw_open(&c, 0, NSLOTS));
	TRY(cbw_arm(&c, r.addr, r.len));
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = r.addr;
	h.page = psize;
	h.npages = NPAGES;

	/* generation 1 -> 2, pages in order */
	TRY(snapshot_phase(&c, &h, sc->salt, 1, false, slots1, &nrec1, "first snapshot"));

	/* free every slot, consume every record, protect again: 2 -> 3 */
	e = cbw_free(c.uffd, slots1, nrec1, cbw_head(&c), 0);
	if (e)
		return fail("FREE of the %d slots: %s", nrec1, strerror(e));
	if (c.ring->tail != cbw_head(&c))
		return fail("tail %u after FREE, head %u", c.ring->tail, cbw_head(&c));
	e = uffd_wp(c.uffd, r.addr, r.len, true);
	if (e)
		return fail("protect again: %s", strerror(e));
	TRY(snapshot_phase(&c, &h, sc->salt, 2, true, slots2, &nrec2, "second snapshot"));
	for (i = 0; i < nrec2; i++)
		for (j = 0; j < nrec1; j++)
			if (slots2[i] == slots1[j])
				reused++;
	if (reused != nrec2)
		return fail("second snapshot: %d of %d slots were slots of the first", reused, nrec2);
	case_note("%d + %d records, %d + %d reports, ring %u entries, head %u", nrec1, nrec2,
		  NPAGES - nrec1, NPAGES - nrec2, c.ring->nr_entries, cbw_head(&c));
	cbw_close(&c);
	mem_release(&r);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* unpopulated pages                                                   */

#define NUNPOP	8

static int t_unpopulated(const void *arg)
{
	const struct snap_case *sc = arg;
	bool anon = sc->mt->kind == MEM_ANON;
	int gen = anon ? 0 : 1, rec[NUNPOP] = { 0 }, i, e;
	struct mem_region r = { .fd = -1 };
	uint32_t slots[NSLOTS];
	static struct handler h;
	uint64_t pm;
	struct cbw c;
	char *buf;

	e = mem_create(&r, sc->mt, NUNPOP * psize, "uffd-wp-copy-unpop");
	if (e)
		return fail("%s: create: %s", sc->mt->name, strerror(e));
	mem_unlink(&r);
	buf = malloc(psize);
	if (!buf)
		return fail("malloc");
	/* the data in the page cache, never mapped */
	for (i = 0; !anon && i < NUNPOP; i++) {
		fill_page(buf, psize, sc->salt, i, gen);
		if (pwrite(r.fd, buf, psize, (off_t)i * psize) != (ssize_t)psize)
			return fail("pwrite: %m");
	}
	free(buf);
	e = mem_map(&r);
	if (e)
		return fail("%s: map: %s", sc->mt->name, strerror(e));
	TRY(cbw_open(&c, anon ? UFFD_FEATURE_WP_UNPOPULATED : 0, NUNPOP));
	TRY(cbw_arm(&c, r.addr, r.len));
	for (i = 0; i < NUNPOP; i++) {
		pm = pagemap_entry(r.addr + (size_t)i * psize);
		if ((pm & PM_PRESENT) || !(pm & PM_UFFD_WP))
			return fail("page %d before the write: pagemap %#llx, expected a uffd-wp marker",
				    i, (unsigned long long)pm);
	}
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = r.addr;
	h.page = psize;
	h.npages = NUNPOP;
	TRY(write_all(&h, sc->salt, 2, false, false, NULL));
	if (cbw_head(&c) != NUNPOP)
		return fail("%u records for %d unpopulated pages, expected one each", cbw_head(&c),
			    NUNPOP);
	TRY(check_records(&c, r.addr, NUNPOP, sc->salt, gen, 0, NUNPOP, rec, slots));
	TRY(check_once(rec, h.reports, NUNPOP, "unpopulated"));
	for (i = 0; i < NUNPOP; i++)
		if (check_page("memory", r.addr + (size_t)i * psize, psize, sc->salt, i, 2))
			return fail("page %d does not hold generation 2", i);
	case_count(ST_RECORDS, NUNPOP);
	case_count(ST_PAGES, NUNPOP);
	case_note("%d records (%s), no report", NUNPOP, anon ? "zeroes" : "the file's data");
	cbw_close(&c);
	mem_release(&r);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* ring full                                                           */

/* a handler thread for the whole case: reports counted, pages un-protected */
static int handler_start(struct handler *h, pthread_t *t)
{
	atomic_store(&h->stop, false);
	if (pthread_create(t, NULL, handler_fn, h))
		return fail("pthread_create: %m");
	return PASS;
}

static int handler_stop(struct handler *h, pthread_t t)
{
	atomic_store(&h->stop, true);
	pthread_join(t, NULL);
	if (h->err)
		return fail("handler: %s", strerror(h->err));
	if (h->bad)
		return fail("handler: %d unexpected message(s)", h->bad);
	return PASS;
}

/* write page p: a record (new head) or a report */
static int write_expect(struct cbw *c, struct handler *h, int p, bool record)
{
	uint32_t head = cbw_head(c);
	int reports = h->reports[p];

	fill_page(h->addr + (size_t)p * psize, psize, 55, p, 2);
	if (record && (cbw_head(c) != head + 1 || h->reports[p] != reports))
		return fail("write to page %d: head %u -> %u, %d report(s), expected a record",
			    p, head, cbw_head(c), h->reports[p] - reports);
	if (!record && (cbw_head(c) != head || h->reports[p] != reports + 1))
		return fail("write to page %d: head %u -> %u, %d report(s), expected a report",
			    p, head, cbw_head(c), h->reports[p] - reports);
	if (record && (cbw_rec(c, head)->address != (uintptr_t)h->addr + (size_t)p * psize ||
		       check_page("slot", cbw_slot(c, cbw_rec(c, head)->slot), psize, 55, p, 1)))
		return fail("write to page %d: record %u is (%#llx, slot %u)", p, head,
			    (unsigned long long)cbw_rec(c, head)->address, cbw_rec(c, head)->slot);
	return PASS;
}

static int t_ring_full(const void *arg)
{
	static struct handler h;
	uint32_t slots[2];
	struct cbw c;
	pthread_t t;
	char *area;
	int i, e;

	(void)arg;
	area = mmap(NULL, 8 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	for (i = 0; i < 8; i++)
		fill_page(area + (size_t)i * psize, psize, 55, i, 1);
	TRY(cbw_open(&c, 0, 4));
	TRY(cbw_arm(&c, area, 8 * psize));
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = area;
	h.page = psize;
	h.npages = 8;
	TRY(handler_start(&h, &t));
	TRY(write_expect(&c, &h, 0, true));
	TRY(write_expect(&c, &h, 1, true));
	/* free the slots, keep the records: 2 of 4 ring entries used */
	slots[0] = cbw_rec(&c, 0)->slot;
	slots[1] = cbw_rec(&c, 1)->slot;
	e = cbw_free(c.uffd, slots, 2, UFFD_WP_COPY_TAIL_KEEP, 0);
	if (e)
		return fail("FREE of 2 slots: %s", strerror(e));
	TRY(write_expect(&c, &h, 2, true));
	TRY(write_expect(&c, &h, 3, true));
	/* free those slots too: 4 free slots, a full ring */
	slots[0] = cbw_rec(&c, 2)->slot;
	slots[1] = cbw_rec(&c, 3)->slot;
	e = cbw_free(c.uffd, slots, 2, UFFD_WP_COPY_TAIL_KEEP, 0);
	if (e)
		return fail("FREE of 2 more slots: %s", strerror(e));
	TRY(write_expect(&c, &h, 4, false));
	/* consume 3 records: room again */
	e = cbw_free(c.uffd, NULL, 0, 3, 0);
	if (e)
		return fail("FREE moving the tail to 3: %s", strerror(e));
	TRY(write_expect(&c, &h, 5, true));
	/* the ring wrapped: record 4 is in entry 0 */
	if (&c.ring->recs[0] != cbw_rec(&c, 4))
		return fail("record 4 is not in ring entry 0");
	TRY(handler_stop(&h, t));
	case_note("records 0-3, page 4 reported on a full ring, record 4 after the tail moved");
	cbw_close(&c);
	munmap(area, 8 * psize);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* swap                                                                */

#define NSWAP	16

static int t_swap(const void *arg)
{
	int rec[NSWAP] = { 0 }, i, e, swapped = 0;
	uint32_t slots[NSLOTS];
	static struct handler h;
	size_t len = NSWAP * psize;
	struct cbw c;
	uint64_t pm;
	char *area;

	(void)arg;
	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	for (i = 0; i < NSWAP; i++)
		fill_page(area + (size_t)i * psize, psize, 66, i, 1);
	TRY(cbw_open(&c, 0, NSWAP));
	TRY(cbw_arm(&c, area, len));
	for (i = 0; i < 5 && swapped < NSWAP; i++) {
		if (madvise(area, len, MADV_PAGEOUT))
			return case_skip("MADV_PAGEOUT: %m");
		for (swapped = 0, e = 0; e < NSWAP; e++) {
			pm = pagemap_entry(area + (size_t)e * psize);
			swapped += (pm & PM_SWAP) && (pm & PM_UFFD_WP);
		}
	}
	if (!swapped)
		return case_skip("no page went to swap (no swap device?)");
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = area;
	h.page = psize;
	h.npages = NSWAP;
	TRY(write_all(&h, 66, 2, false, false, NULL));
	TRY(check_records(&c, area, NSWAP, 66, 1, 0, cbw_head(&c), rec, slots));
	TRY(check_once(rec, h.reports, NSWAP, "swap"));
	if (cbw_head(&c) != NSWAP)
		return fail("%u records for %d pages (%d swapped out)", cbw_head(&c), NSWAP, swapped);
	case_count(ST_RECORDS, NSWAP);
	case_count(ST_PAGES, NSWAP);
	case_note("%d of %d pages swapped out, %d records", swapped, NSWAP, NSWAP);
	cbw_close(&c);
	munmap(area, len);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* stress                                                              */

#define STRESS_PAGES	64
#define STRESS_WRITERS	4
#define STRESS_MS	3000

struct stress {
	struct cbw *c;
	struct handler *h;
	char *addr;
	int salt;
	atomic_bool stop;
	atomic_long records, epochs, writes;
	atomic_int bad;
	char why[256];
};

static void stress_fail(struct stress *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void stress_fail(struct stress *st, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&st->bad, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
	atomic_store(&st->stop, true);
}

static void *stress_writer(void *arg)
{
	struct stress *st = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed;
	int p, gen = 1;

	while (!atomic_load(&st->stop)) {
		p = rand_r(&seed) % STRESS_PAGES;
		fill_page(st->addr + (size_t)p * psize, psize, st->salt, p, 1 + (gen++ % 200));
		atomic_fetch_add(&st->writes, 1);
	}
	return NULL;
}

/* every word of a saved page: this test's salt, the record's page */
static bool stress_slot_ok(const char *slot, int salt, int page)
{
	const uint64_t *w = (const uint64_t *)slot;
	size_t k;

	for (k = 0; k < psize / 8; k++) {
		if ((w[k] >> 56) != 0xC5 || (int)((w[k] >> 48) & 0xff) != (salt & 0xff) ||
		    (int)((w[k] >> 24) & 0xffff) != page || (w[k] & 0xffffff) != k)
			return false;
	}
	return true;
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;
	struct cbw *c = st->c;
	uint32_t slots[NSLOTS], tail, head, i;
	const struct uffd_wp_copy_rec *r;
	int64_t next_hold = now_ms() + 300;
	int n, e, page;

	while (!atomic_load(&st->stop)) {
		/* now and then hold the slots a while: the writers run out */
		if (now_ms() >= next_hold) {
			sleep_ms(60);
			next_hold = now_ms() + 300;
		}
		tail = c->ring->tail;
		head = cbw_head(c);
		if (head == tail) {
			usleep(100);
			continue;
		}
		if (head - tail > NSLOTS) {
			stress_fail(st, "%u records pending for %d slots", head - tail, NSLOTS);
			break;
		}
		for (n = 0, i = tail; i != head; i++, n++) {
			r = cbw_rec(c, i);
			page = (int)((r->address - (uintptr_t)st->addr) / psize);
			if (r->address < (uintptr_t)st->addr || page >= STRESS_PAGES ||
			    r->address % psize || r->slot >= NSLOTS) {
				stress_fail(st, "record %u: address %#llx slot %u", i,
					    (unsigned long long)r->address, r->slot);
				return NULL;
			}
			if (!stress_slot_ok(cbw_slot(c, r->slot), st->salt, page)) {
				stress_fail(st, "record %u: slot %u does not hold page %d", i,
					    r->slot, page);
				return NULL;
			}
			slots[n] = r->slot;
		}
		e = cbw_free(c->uffd, slots, n, head, 0);
		if (e) {
			stress_fail(st, "FREE of %d slots, tail %u: %s", n, head, strerror(e));
			break;
		}
		atomic_fetch_add(&st->records, n);
	}
	return NULL;
}

static void *stress_epochs(void *arg)
{
	struct stress *st = arg;
	size_t len = STRESS_PAGES * psize;
	int e, k = 0;

	while (!atomic_load(&st->stop)) {
		usleep(20000);
		/* now and then un-protect half of it first */
		if (++k % 3 == 0)
			e = uffd_wp(st->c->uffd, st->addr + (k % 2) * len / 2, len / 2, false);
		else
			e = uffd_wp(st->c->uffd, st->addr, len, true);
		if (e) {
			stress_fail(st, "UFFDIO_WRITEPROTECT: %s", strerror(e));
			break;
		}
		atomic_fetch_add(&st->epochs, 1);
	}
	return NULL;
}

static int t_stress(const void *arg)
{
	const struct snap_case *sc = arg;
	pthread_t w[STRESS_WRITERS], tc, te, th;
	struct mem_region r = { .fd = -1 };
	static struct handler h;
	static struct stress st;
	int i, e, nrep = 0;
	struct cbw c;

	e = mem_create(&r, sc->mt, STRESS_PAGES * psize, "uffd-wp-copy-stress");
	if (!e)
		e = mem_map(&r);
	if (e)
		return fail("%s: create/map: %s", sc->mt->name, strerror(e));
	mem_unlink(&r);
	for (i = 0; i < STRESS_PAGES; i++)
		fill_page(r.addr + (size_t)i * psize, psize, sc->salt, i, 1);
	TRY(cbw_open(&c, 0, NSLOTS));
	TRY(cbw_arm(&c, r.addr, r.len));
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = r.addr;
	h.page = psize;
	h.npages = STRESS_PAGES;
	memset(&st, 0, sizeof(st));
	st.c = &c;
	st.h = &h;
	st.addr = r.addr;
	st.salt = sc->salt;
	TRY(handler_start(&h, &th));
	if (pthread_create(&tc, NULL, stress_consumer, &st) ||
	    pthread_create(&te, NULL, stress_epochs, &st))
		return fail("pthread_create: %m");
	for (i = 0; i < STRESS_WRITERS; i++)
		if (pthread_create(&w[i], NULL, stress_writer, &st))
			return fail("pthread_create: %m");
	for (i = 0; i < STRESS_MS / 100 && !atomic_load(&st.stop); i++)
		sleep_ms(100);
	atomic_store(&st.stop, true);
	pthread_join(te, NULL);
	/* writers blocked on a report are woken by the handler */
	for (i = 0; i < STRESS_WRITERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(tc, NULL);
	TRY(handler_stop(&h, th));
	if (atomic_load(&st.bad))
		return fail("%s", st.why);
	for (i = 0; i < STRESS_PAGES; i++)
		nrep += h.reports[i];
	if (!atomic_load(&st.records))
		return fail("no record in %d ms (%d reports, %ld epochs)", STRESS_MS, nrep,
			    atomic_load(&st.epochs));
	/* the slots ran out (fallback) and were reused */
	if (!nrep)
		return fail("no report in %d ms: the slots never ran out (%ld records)", STRESS_MS,
			    atomic_load(&st.records));
	if (atomic_load(&st.records) <= NSLOTS)
		return fail("%ld records for %d slots: no slot was reused",
			    atomic_load(&st.records), NSLOTS);
	case_count(ST_RECORDS, atomic_load(&st.records));
	case_count(ST_REPORTS, nrep);
	case_note("%ld writes, %ld records consumed, %d reports, %ld protect/unprotect rounds",
		  atomic_load(&st.writes), atomic_load(&st.records), nrep,
		  atomic_load(&st.epochs));
	cbw_close(&c);
	mem_release(&r);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* events: un-protect, unregister, munmap, mremap, exit with slots in use */

#define NEV	8
#define EV_SLOTS 4

/* the number of protected pages of [addr, addr + n pages) per pagemap */
static int nr_protected(const char *addr, int n)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		k += !!(pagemap_entry(addr + (size_t)i * psize) & PM_UFFD_WP);
	return k;
}

/* record idx is (addr, a slot holding generation gen of page) */
static int check_rec(const struct cbw *c, uint32_t idx, const char *addr, int page, int salt,
		     int gen, const char *when)
{
	const struct uffd_wp_copy_rec *r = cbw_rec(c, idx);

	if (r->address != (uintptr_t)addr || r->slot >= EV_SLOTS || r->flags)
		return fail("%s: record %u is (%#llx, slot %u, flags %#x), expected address %p",
			    when, idx, (unsigned long long)r->address, r->slot, r->flags, addr);
	if (check_page("slot", cbw_slot(c, r->slot), psize, salt, page, gen))
		return fail("%s: record %u: slot %u does not hold generation %d of page %d", when,
			    idx, r->slot, gen, page);
	return PASS;
}

/* write page p of h's area (gen): expect a new record (or none) and no report */
static int ev_write(struct cbw *c, struct handler *h, char *area, int p, int salt, int gen,
		    bool record, const char *when)
{
	uint32_t head = cbw_head(c);
	int reports = h->reports[p];

	fill_page(area + (size_t)p * psize, psize, salt, p, gen);
	if (h->reports[p] != reports)
		return fail("%s: the write to page %d was reported", when, p);
	if (cbw_head(c) != head + record)
		return fail("%s: the write to page %d moved head %u -> %u, expected %s", when, p,
			    head, cbw_head(c), record ? "one record" : "no record");
	return PASS;
}

/*
 * The child of "exit": its own userfaultfd, buffer and region; two records
 * taken, a thread left blocked on a report (no free slot, nobody reads),
 * then exit without freeing, closing or unmapping anything.  Exit codes:
 * 0 done, 20+ a step failed.
 */
static void ev_exit_child(const struct mem_type *mt, int salt)
{
	struct mem_region r = { .fd = -1 };
	struct cbw c;
	pthread_t t;
	int i;

	if (mem_create(&r, mt, 4 * psize, "uffd-wp-copy-exit") || mem_map(&r))
		_exit(20);
	mem_unlink(&r);
	for (i = 0; i < 4; i++)
		fill_page(r.addr + (size_t)i * psize, psize, salt, i, 1);
	if (cbw_open(&c, 0, 2) != PASS)
		_exit(21);
	if (uffd_register(c.uffd, r.addr, r.len, UFFDIO_REGISTER_MODE_WP, NULL) ||
	    uffd_wp(c.uffd, r.addr, r.len, true))
		_exit(22);
	fill_page(r.addr, psize, salt, 0, 2);
	fill_page(r.addr + psize, psize, salt, 1, 2);
	if (cbw_head(&c) != 2)
		_exit(23);
	if (pthread_create(&t, NULL, write_page_fn, r.addr + 2 * psize))
		_exit(24);
	sleep_ms(100);
	_exit(0);
}

static int ev_exit(const struct mem_type *mt, int salt)
{
	int64_t end = now_ms() + WAIT_MS;
	int status;
	pid_t pid, w;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
	if (pid == 0)
		ev_exit_child(mt, salt);
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < end)
		sleep_ms(10);
	if (w != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return fail("exit: the child (records taken, a writer blocked on a report) was not reaped within %d ms",
			    WAIT_MS);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fail("exit: child status %#x (20-24: a setup step failed)", status);
	return PASS;
}

static int t_events(const void *arg)
{
	const struct snap_case *sc = arg;
	struct mem_region r = { .fd = -1 };
	size_t len = NEV * psize;
	static struct handler h;
	char fdinfo[4096], path[64], *old, *to;
	uint32_t slots[EV_SLOTS];
	struct cbw c;
	pthread_t t;
	int i, e;

	e = mem_create(&r, sc->mt, len, "uffd-wp-copy-events");
	if (!e)
		e = mem_map(&r);
	if (e)
		return fail("%s: create/map: %s", sc->mt->name, strerror(e));
	mem_unlink(&r);
	for (i = 0; i < NEV; i++)
		fill_page(r.addr + (size_t)i * psize, psize, sc->salt, i, 1);
	TRY(cbw_open(&c, UFFD_FEATURE_EVENT_REMAP, EV_SLOTS));
	TRY(cbw_arm(&c, r.addr, len));
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = r.addr;
	h.page = psize;
	h.npages = NEV;
	TRY(handler_start(&h, &t));

	/* (a) un-protected before any write: neither copied nor reported */
	e = uffd_wp(c.uffd, r.addr, psize, false);
	if (e)
		return fail("un-protect page 0: %s", strerror(e));
	if (nr_protected(r.addr, NEV) != NEV - 1)
		return fail("unprotect: %d pages protected, expected %d", nr_protected(r.addr, NEV),
			    NEV - 1);
	TRY(ev_write(&c, &h, r.addr, 0, sc->salt, 2, false, "unprotect"));

	/* records 0, 1: pages 1, 2 */
	TRY(ev_write(&c, &h, r.addr, 1, sc->salt, 2, true, "records"));
	TRY(ev_write(&c, &h, r.addr, 2, sc->salt, 2, true, "records"));
	TRY(check_rec(&c, 0, r.addr + psize, 1, sc->salt, 1, "records"));
	TRY(check_rec(&c, 1, r.addr + 2 * psize, 2, sc->salt, 1, "records"));

	/* (d) mremap of the protected range: the move is reported, the
	 * protection moves with it, old records keep their address */
	to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED)
		return fail("mmap: %m");
	old = r.addr;
	if (mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) != to)
		return fail("mremap of the protected range: %m");
	r.addr = to;
	for (i = 0; i < 500 && !__atomic_load_n(&h.remaps, __ATOMIC_ACQUIRE); i++)
		sleep_ms(10);
	if (h.remaps != 1 || h.remap_from != (uintptr_t)old || h.remap_to != (uintptr_t)to ||
	    h.remap_len != len)
		return fail("mremap: %d remap event(s), (%#lx -> %#lx, %lu), expected (%p -> %p, %zu)",
			    h.remaps, h.remap_from, h.remap_to, h.remap_len, old, to, len);
	if (nr_protected(r.addr, NEV) != NEV - 3)
		return fail("mremap: %d pages protected at the new address, expected %d",
			    nr_protected(r.addr, NEV), NEV - 3);
	TRY(ev_write(&c, &h, r.addr, 3, sc->salt, 2, true, "mremap"));
	TRY(check_rec(&c, 0, old + psize, 1, sc->salt, 1, "mremap"));
	TRY(check_rec(&c, 1, old + 2 * psize, 2, sc->salt, 1, "mremap"));
	TRY(check_rec(&c, 2, r.addr + 3 * psize, 3, sc->salt, 1, "mremap (new address)"));

	/* (b) unregister with 3 slots in use: records and slots kept, FREE
	 * works, later writes neither copied nor reported */
	e = uffd_unregister(c.uffd, r.addr, len);
	if (e)
		return fail("unregister: %s", strerror(e));
	if (nr_protected(r.addr, NEV))
		return fail("unregister: %d pages still protected", nr_protected(r.addr, NEV));
	TRY(ev_write(&c, &h, r.addr, 4, sc->salt, 2, false, "unregister"));
	TRY(check_rec(&c, 0, old + psize, 1, sc->salt, 1, "unregister"));
	TRY(check_rec(&c, 1, old + 2 * psize, 2, sc->salt, 1, "unregister"));
	TRY(check_rec(&c, 2, r.addr + 3 * psize, 3, sc->salt, 1, "unregister"));
	for (i = 0; i < 3; i++)
		slots[i] = cbw_rec(&c, i)->slot;
	e = cbw_free(c.uffd, slots, 3, 3, 0);
	if (e)
		return fail("unregister: FREE of 3 slots, tail 3: %s", strerror(e));

	/* (c) munmap with a slot in use: slot kept, FREE works */
	e = uffd_register(c.uffd, r.addr, len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!e)
		e = uffd_wp(c.uffd, r.addr, len, true);
	if (e)
		return fail("register/protect again: %s", strerror(e));
	TRY(ev_write(&c, &h, r.addr, 5, sc->salt, 2, true, "munmap"));
	TRY(check_rec(&c, 3, r.addr + 5 * psize, 5, sc->salt, 1, "munmap"));
	if (munmap(r.addr, len))
		return fail("munmap: %m");
	to = r.addr;
	r.addr = NULL;
	TRY(check_rec(&c, 3, to + 5 * psize, 5, sc->salt, 1, "after munmap"));
	slots[0] = cbw_rec(&c, 3)->slot;
	e = cbw_free(c.uffd, slots, 1, 4, 0);
	if (e)
		return fail("munmap: FREE of the slot, tail 4: %s", strerror(e));
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "munmap: FREE of the same slot again");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", c.uffd);
	if (!read_text(path, fdinfo, sizeof(fdinfo)) ||
	    !strstr(fdinfo, "wp_copy:\tslots 4 free 4 ring 4 head 4 tail 4"))
		return fail("fdinfo at the end:\n%s", fdinfo);
	TRY(handler_stop(&h, t));
	for (i = 0; i < NEV; i++)
		if (h.reports[i])
			return fail("page %d: %d report(s), expected none", i, h.reports[i]);
	cbw_close(&c);
	mem_release(&r);

	/* (e) exit of a process with records taken and a writer blocked */
	TRY(ev_exit(sc->mt, sc->salt));
	case_count(ST_RECORDS, 4);
	case_note("unprotect, mremap (record at the new address), unregister, munmap, exit");
	return PASS;
}

/* ------------------------------------------------------------------ */
/* same page: several writers, one slot, a consumer freeing in a loop   */

#define SP_WRITERS	3
#define SP_MAX_EPOCHS	3000
#define SP_MS		1500

struct samepage {
	struct cbw *c;
	char *page;
	atomic_int epoch;		/* the current protect epoch */
	atomic_uint prot_head;		/* ring head before the page was protected */
	atomic_bool quit;		/* writers */
	atomic_bool stop;		/* handler and consumer */
	atomic_int busy;		/* the handler holds a message */
	pthread_barrier_t go, done;
	uint8_t rec[SP_MAX_EPOCHS];	/* consumer: records per epoch */
	uint8_t rep[SP_MAX_EPOCHS];	/* handler: reports per epoch */
	uint8_t kept_in[SP_MAX_EPOCHS];	/* handler: no record before its un-protection */
	long kept, dropped, dups;
	atomic_int bad;
	char why[256];
};

/* word k of the page in epoch e (before the writers' stores) */
static uint64_t sp_word(int e, size_t k)
{
	return (0xA5ULL << 56) | ((uint64_t)(e & 0xffffff) << 24) | k;
}

static void sp_fail(struct samepage *sp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sp_fail(struct samepage *sp, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&sp->bad, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(sp->why, sizeof(sp->why), fmt, ap);
	va_end(ap);
}

/* the first word that is not epoch e's, or -1 */
static int sp_bad_word(const char *p, int e)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t k;

	for (k = 0; k < psize / 8; k++)
		if (w[k] != sp_word(e, k))
			return (int)k;
	return -1;
}

struct sp_writer {
	struct samepage *sp;
	int id;
};

static void *sp_writer_fn(void *arg)
{
	struct sp_writer *w = arg;
	struct samepage *sp = w->sp;
	unsigned int seed = 7 + w->id;
	int e, d;

	for (;;) {
		pthread_barrier_wait(&sp->go);
		if (atomic_load(&sp->quit))
			break;
		e = atomic_load(&sp->epoch);
		/* stagger: a later writer may find the slot freed meanwhile */
		d = rand_r(&seed) % 4;
		if (d)
			usleep(d * 100);
		((volatile uint64_t *)sp->page)[1 + w->id] = (0xB0ULL << 56) |
							       ((uint64_t)w->id << 32) | (unsigned int)e;
		pthread_barrier_wait(&sp->done);
	}
	return NULL;
}

/*
 * The handler of the reports: copies the page as a snapshot handler would,
 * then re-reads head.  A record since the protection means "the record
 * wins": the copy is dropped.  Otherwise the copy, taken while the page was
 * still protected, must hold the contents before the first write.
 */
static void *sp_handler_fn(void *arg)
{
	struct samepage *sp = arg;
	struct pollfd pfd = { .fd = sp->c->uffd, .events = POLLIN };
	char *copy = malloc(psize);
	struct uffd_msg msg;
	uint32_t ha;
	int e, k;

	while (copy && !atomic_load(&sp->stop)) {
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		atomic_store(&sp->busy, 1);
		if (read(sp->c->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			atomic_store(&sp->busy, 0);
			continue;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT ||
		    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
		    (msg.arg.pagefault.address & ~(psize - 1)) != (uintptr_t)sp->page) {
			sp_fail(sp, "unexpected message: event %#x flags %#llx address %#llx",
				msg.event, (unsigned long long)msg.arg.pagefault.flags,
				(unsigned long long)msg.arg.pagefault.address);
			uffd_wp(sp->c->uffd, sp->page, psize, false);
			atomic_store(&sp->busy, 0);
			continue;
		}
		e = atomic_load(&sp->epoch);
		if (sp->rep[e]++) {
			/*
			 * A second report in one epoch: a writer that queued its
			 * fault while the page was being un-protected.  The page
			 * may hold writes by now: nothing to copy.
			 */
			sp->dups++;
			if (uffd_wp(sp->c->uffd, sp->page, psize, false))
				sp_fail(sp, "un-protect: %m");
			atomic_store(&sp->busy, 0);
			continue;
		}
		/*
		 * The documented rule: read the page in place, un-protect it,
		 * then read head: a record since the page was protected is the
		 * authority (the record wins), else the copy must hold the page
		 * as it was before the epoch's first write.
		 */
		memcpy(copy, sp->page, psize);
		if (uffd_wp(sp->c->uffd, sp->page, psize, false))
			sp_fail(sp, "un-protect: %m");
		ha = cbw_head(sp->c);
		k = sp_bad_word(copy, e);
		if (ha != atomic_load(&sp->prot_head)) {
			sp->dropped++;
		} else if (k >= 0) {
			sp_fail(sp, "epoch %d: report %d: no record since the protection, but the handler's copy (read before its un-protection) has word %d = %#llx, expected %#llx",
				e, sp->rep[e], k, (unsigned long long)((uint64_t *)copy)[k],
				(unsigned long long)sp_word(e, k));
		} else {
			sp->kept++;
			sp->kept_in[e] = 1;
		}
		atomic_store(&sp->busy, 0);
	}
	free(copy);
	return NULL;
}

/* frees every record's slot and moves the tail, after a random delay */
static void *sp_consumer_fn(void *arg)
{
	struct samepage *sp = arg;
	struct cbw *c = sp->c;
	unsigned int seed = 99;
	const struct uffd_wp_copy_rec *r;
	uint32_t slots[4], tail, head, i;
	int n, e, k;

	for (;;) {
		head = cbw_head(c);
		tail = c->ring->tail;
		if (head == tail) {
			if (atomic_load(&sp->stop))
				break;
			usleep(50);
			continue;
		}
		if (head - tail > 1) {
			sp_fail(sp, "%u records pending with 1 slot", head - tail);
			break;
		}
		for (n = 0, i = tail; i != head; i++) {
			r = cbw_rec(c, i);
			e = (int)((*(const uint64_t *)cbw_slot(c, r->slot) >> 24) & 0xffffff);
			k = sp_bad_word(cbw_slot(c, r->slot), e);
			if (r->address != (uintptr_t)sp->page || r->slot || r->flags || k >= 0 ||
			    e >= SP_MAX_EPOCHS || e > atomic_load(&sp->epoch)) {
				sp_fail(sp, "record %u: (%#llx, slot %u, flags %#x), slot word %d = %#llx (epoch %d): not the page before its first write",
					i, (unsigned long long)r->address, r->slot, r->flags, k,
					k >= 0 ? (unsigned long long)((const uint64_t *)cbw_slot(c, r->slot))[k] : 0ULL,
					e);
				return NULL;
			}
			sp->rec[e]++;
			slots[n++] = r->slot;
		}
		/* hold the slot a while: the next epochs find none, or find it freed late */
		k = rand_r(&seed) % 8;
		if (k)
			usleep(k * 150);
		e = cbw_free(c->uffd, slots, n, head, 0);
		if (e) {
			sp_fail(sp, "FREE of the slot, tail %u: %s", head, strerror(e));
			break;
		}
	}
	return NULL;
}

static int t_same_page(const void *arg)
{
	const struct snap_case *sc = arg;
	struct mem_region r = { .fd = -1 };
	struct sp_writer w[SP_WRITERS];
	pthread_t wt[SP_WRITERS], ht, ct;
	static struct samepage sp;
	int i, e, ne, both = 0, rec_only = 0, rep_only = 0;
	int64_t end;
	size_t k;
	struct cbw c;

	e = mem_create(&r, sc->mt, psize, "uffd-wp-copy-same");
	if (!e)
		e = mem_map(&r);
	if (e)
		return fail("%s: create/map: %s", sc->mt->name, strerror(e));
	mem_unlink(&r);
	memset(&sp, 0, sizeof(sp));
	sp.page = r.addr;
	for (k = 0; k < psize / 8; k++)
		((uint64_t *)r.addr)[k] = sp_word(0, k);
	TRY(cbw_open(&c, 0, 1));
	sp.c = &c;
	e = uffd_register(c.uffd, r.addr, psize, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e)
		return fail("register: %s", strerror(e));
	pthread_barrier_init(&sp.go, NULL, SP_WRITERS + 1);
	pthread_barrier_init(&sp.done, NULL, SP_WRITERS + 1);
	if (pthread_create(&ht, NULL, sp_handler_fn, &sp) ||
	    pthread_create(&ct, NULL, sp_consumer_fn, &sp))
		return fail("pthread_create: %m");
	for (i = 0; i < SP_WRITERS; i++) {
		w[i].sp = &sp;
		w[i].id = i;
		if (pthread_create(&wt[i], NULL, sp_writer_fn, &w[i]))
			return fail("pthread_create: %m");
	}
	end = now_ms() + SP_MS;
	for (ne = 0; ne < SP_MAX_EPOCHS && now_ms() < end && !atomic_load(&sp.bad); ne++) {
		/* the page is writable again: epoch ne's contents */
		if (ne)
			for (k = 0; k < psize / 8; k++)
				((volatile uint64_t *)r.addr)[k] = sp_word(ne, k);
		atomic_store(&sp.epoch, ne);
		atomic_store(&sp.prot_head, cbw_head(&c));
		e = uffd_wp(c.uffd, r.addr, psize, true);
		if (e) {
			sp_fail(&sp, "protect: %s", strerror(e));
			break;
		}
		pthread_barrier_wait(&sp.go);
		pthread_barrier_wait(&sp.done);
		/* a message read before its writer went on is served first */
		while (atomic_load(&sp.busy))
			sched_yield();
	}
	atomic_store(&sp.quit, true);
	pthread_barrier_wait(&sp.go);
	for (i = 0; i < SP_WRITERS; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&sp.stop, true);
	pthread_join(ht, NULL);
	pthread_join(ct, NULL);
	if (atomic_load(&sp.bad))
		return fail("%s", sp.why);
	for (i = 0; i < ne; i++) {
		if (sp.rec[i] > 1)
			return fail("epoch %d: %d records of one page", i, sp.rec[i]);
		if (!sp.rec[i] && !sp.rep[i])
			return fail("epoch %d: the write was neither copied nor reported", i);
		if (sp.rec[i] && sp.kept_in[i])
			return fail("epoch %d: a record of the page appeared after the handler had un-protected it (and found none)",
				    i);
		both += sp.rec[i] && sp.rep[i];
		rec_only += sp.rec[i] && !sp.rep[i];
		rep_only += !sp.rec[i] && sp.rep[i];
	}
	case_count(ST_RECORDS, rec_only + both);
	case_count(ST_REPORTS, rep_only + both);
	case_count(ST_PAGES, ne);
	case_note("%d epochs: %d record only, %d report only, %d both (%ld handler copies dropped: the record wins), %ld duplicate reports",
		  ne, rec_only, rep_only, both, sp.dropped, sp.dups);
	if (ne < 20)
		return fail("only %d epochs in %d ms", ne, SP_MS);
	cbw_close(&c);
	mem_release(&r);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* bad-limits: mmap offsets and sizes, the slot limit, FREE's fields    */

/* the mmap system call itself (not glibc's checks): 0 or an errno */
static int raw_map_err(int fd, size_t len, unsigned long off)
{
	long p = syscall(SYS_mmap, 0UL, len, PROT_READ, MAP_SHARED, fd, off);

	if (p == -1)
		return errno;
	munmap((void *)p, len);
	return 0;
}

static int t_bad_limits(const void *arg)
{
	struct uffdio_wp_copy_setup s;
	size_t ring_bytes, ring_pages;
	char *area, *guard, raw[64];
	uint32_t slots[4], *odd;
	struct cbw c;
	int e, i;

	(void)arg;
	TRY(cbw_open(&c, 0, 4));
	/* mmap: offsets that are not page aligned fail in mmap() itself */
	EXPECT_ERR(raw_map_err(c.uffd, psize, 1), EINVAL, "mmap at offset 1");
	EXPECT_ERR(raw_map_err(c.uffd, psize, psize / 2), EINVAL, "mmap at offset psize/2");
	EXPECT_ERR(raw_map_err(c.uffd, psize, psize + 8), EINVAL, "mmap at offset psize+8");
	/* aligned but past the buffer: ->mmap(); past any file offset: mmap() */
	EXPECT_ERR(raw_map_err(c.uffd, psize, 1UL << 62), EINVAL, "mmap at offset 2^62");
	EXPECT_ERR(raw_map_err(c.uffd, psize, -psize), EOVERFLOW, "mmap at offset -psize");
	/* sizes: 0, rounded up to pages, past the buffer, overflowing */
	EXPECT_ERR(raw_map_err(c.uffd, 0, 0), EINVAL, "mmap of 0 bytes");
	EXPECT_ERR(raw_map_err(c.uffd, 1, 0), 0, "mmap of 1 byte");
	EXPECT_ERR(raw_map_err(c.uffd, c.s.mmap_size - psize + 1, 0), 0,
		   "mmap of mmap_size - psize + 1 bytes");
	EXPECT_ERR(raw_map_err(c.uffd, c.s.mmap_size + 1, 0), EINVAL, "mmap of mmap_size + 1 bytes");
	EXPECT_ERR(raw_map_err(c.uffd, psize + 1, c.s.mmap_size - psize), EINVAL,
		   "mmap of psize + 1 bytes at the last page");
	EXPECT_ERR(raw_map_err(c.uffd, -psize + 1, 0), ENOMEM, "mmap of 2^64 - psize + 1 bytes");

	/* FREE: nr 0 is a no-op whatever the pointer */
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, UFFD_WP_COPY_TAIL_KEEP, 0), 0, "FREE of nr 0, NULL");
	EXPECT_ERR(cbw_free(c.uffd, (uint32_t *)16, 0, UFFD_WP_COPY_TAIL_KEEP, 0), 0,
		   "FREE of nr 0, a bad pointer");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EFAULT,
		   "FREE of nr 1, slots NULL");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 4, UFFD_WP_COPY_TAIL_KEEP, 0), EFAULT,
		   "FREE of nr 4, slots NULL");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 1ULL << 32, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of nr 2^32");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 1ULL << 63, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of nr 2^63");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, UINT32_MAX, 0), EINVAL, "FREE with tail 2^32-1");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, 1ULL << 63, 0), EINVAL, "FREE with tail 2^63");
	EXPECT_ERR(cbw_free(c.uffd, NULL, 0, UFFD_WP_COPY_TAIL_KEEP - 1, 0), EINVAL,
		   "FREE with tail 2^64-2");

	/* a slot in use: misaligned arrays work, a half-readable one fails */
	area = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	guard = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || guard == MAP_FAILED)
		return fail("mmap: %m");
	memset(area, 8, 2 * psize);
	TRY(cbw_arm(&c, area, 2 * psize));
	TRY(one_cbw_write(&c, area, 0, 0));
	/* the array's second entry on a page that cannot be read */
	if (mprotect(guard + psize, psize, PROT_NONE))
		return fail("mprotect: %m");
	odd = (uint32_t *)(guard + psize - 4);
	*odd = cbw_rec(&c, 0)->slot;
	EXPECT_ERR(cbw_free(c.uffd, odd, 2, 1, 0), EFAULT, "FREE of an array that crosses into PROT_NONE");
	if (c.ring->tail != 0)
		return fail("tail %u after the failed FREE, expected 0", c.ring->tail);
	/* the array at an odd address */
	odd = (uint32_t *)(raw + 1);
	slots[0] = cbw_rec(&c, 0)->slot;
	memcpy(odd, slots, 4);
	EXPECT_ERR(cbw_free(c.uffd, odd, 1, 1, 0), 0, "FREE of an array at an odd address");
	/* the setup argument at an odd address: EBUSY (set up), so it was read */
	memset(raw, 0, sizeof(raw));
	s.nr_slots = 4;
	s.flags = 0;
	memcpy(raw + 3, &s, sizeof(s));
	EXPECT_ERR(ioctl(c.uffd, UFFDIO_WP_COPY_SETUP, raw + 3) ? errno : 0, EBUSY,
		   "second setup with the argument at an odd address");
	munmap(area, 2 * psize);
	munmap(guard, 2 * psize);
	cbw_close(&c);

	/* the setup argument at an odd address, on a fresh context */
	e = uffd_open(UFFD_FEATURE_WP_COPY, NULL);
	if (e < 0)
		return fail("userfaultfd: %s", strerror(-e));
	c.uffd = e;
	EXPECT_ERR(cbw_setup(c.uffd, (1ULL << 32) + 4, 0, NULL), EINVAL, "setup with nr_slots 2^32 + 4");
	EXPECT_ERR(cbw_setup(c.uffd, ~0ULL, 0, NULL), EINVAL, "setup with nr_slots 2^64-1");
	EXPECT_ERR(ioctl(c.uffd, UFFDIO_WP_COPY_SETUP, raw + 3) ? errno : 0, 0,
		   "setup with the argument at an odd address");
	memcpy(&s, raw + 3, sizeof(s));
	if (s.mmap_size != 5 * psize)
		return fail("setup at an odd address: mmap_size %llu", (unsigned long long)s.mmap_size);
	close(c.uffd);

	/* the limit: UFFD_WP_COPY_MAX_SLOTS slots (ENOMEM allowed) */
	e = uffd_open(UFFD_FEATURE_WP_COPY, NULL);
	if (e < 0)
		return fail("userfaultfd: %s", strerror(-e));
	c.uffd = e;
	e = cbw_setup(c.uffd, UFFD_WP_COPY_MAX_SLOTS, 0, &s);
	if (e == ENOMEM) {
		close(c.uffd);
		case_note("UFFD_WP_COPY_MAX_SLOTS: ENOMEM in this VM");
		return PASS;
	}
	if (e)
		return fail("setup with nr_slots UFFD_WP_COPY_MAX_SLOTS: %s", strerror(e));
	ring_bytes = sizeof(struct uffd_wp_copy_ring) +
		     (size_t)UFFD_WP_COPY_MAX_SLOTS * sizeof(struct uffd_wp_copy_rec);
	ring_pages = (ring_bytes + psize - 1) / psize;
	if (s.ring_offset || s.slots_offset != ring_pages * psize ||
	    s.mmap_size != (ring_pages + UFFD_WP_COPY_MAX_SLOTS) * psize)
		return fail("setup(%d): ring_offset %llu slots_offset %llu mmap_size %llu, expected 0 %zu %zu",
			    UFFD_WP_COPY_MAX_SLOTS, (unsigned long long)s.ring_offset,
			    (unsigned long long)s.slots_offset, (unsigned long long)s.mmap_size,
			    ring_pages * psize, (ring_pages + UFFD_WP_COPY_MAX_SLOTS) * psize);
	c.buf = cbw_map(c.uffd, s.mmap_size, PROT_READ, MAP_SHARED, 0);
	if (!c.buf)
		return fail("mmap of %llu bytes: %m", (unsigned long long)s.mmap_size);
	c.s = s;
	c.ring = (struct uffd_wp_copy_ring *)c.buf;
	if (c.ring->nr_entries != UFFD_WP_COPY_MAX_SLOTS)
		return fail("nr_entries %u, expected %d", c.ring->nr_entries, UFFD_WP_COPY_MAX_SLOTS);
	for (i = 0; i < (int)psize; i++)
		if (cbw_slot(&c, UFFD_WP_COPY_MAX_SLOTS - 1)[i])
			return fail("the last slot is not zeroed");
	slots[0] = UFFD_WP_COPY_MAX_SLOTS;
	EXPECT_ERR(cbw_free(c.uffd, slots, 1, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL,
		   "FREE of slot UFFD_WP_COPY_MAX_SLOTS");
	EXPECT_ERR(cbw_free(c.uffd, NULL, UFFD_WP_COPY_MAX_SLOTS + 1, UFFD_WP_COPY_TAIL_KEEP, 0),
		   EINVAL, "FREE of UFFD_WP_COPY_MAX_SLOTS + 1 slots");
	EXPECT_ERR(cbw_free(c.uffd, NULL, UFFD_WP_COPY_MAX_SLOTS, UFFD_WP_COPY_TAIL_KEEP, 0),
		   EFAULT, "FREE of UFFD_WP_COPY_MAX_SLOTS slots, slots NULL");
	cbw_close(&c);
	case_note("UFFD_WP_COPY_MAX_SLOTS: %llu bytes mapped", (unsigned long long)s.mmap_size);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* record-wins: a report and a record for one page, step by step       */

struct rw_writer {
	volatile uint64_t *where;
	uint64_t val;
	atomic_bool done;
};

static void *rw_write_fn(void *arg)
{
	struct rw_writer *w = arg;

	*w->where = w->val;
	atomic_store(&w->done, true);
	return NULL;
}

/*
 * The documented race, made deterministic on anon memory with 1 slot:
 * page x takes the slot; writer A writes page p (no free slot: a report,
 * A waits); with read_first the handler reads the report now; the slot is
 * freed and writer B writes p: a record, B does not wait.  The kernel
 * wakes A (it needs no handler any more) and withdraws its report if it
 * was not read.  The record holds p before both writes; a handler that
 * read the report copies p, un-protects it, reads head and finds the
 * record: its copy is dropped (the record wins).
 */
static int record_wins_round(struct cbw *c, char *area, int x, int p, bool read_first,
			     uint32_t *slot)
{
	struct rw_writer a = { 0 }, b = { 0 };
	char *pp = area + (size_t)p * psize;
	uint32_t head = cbw_head(c), prot_head;
	struct pollfd pfd = { .fd = c->uffd, .events = POLLIN };
	struct uffd_msg msg = { 0 };
	pthread_t ta, tb;
	char copy[64];
	int e, i;

	/* page x takes the only slot */
	prot_head = head;
	fill_page(area + (size_t)x * psize, psize, 88, x, 2);
	if (cbw_head(c) != head + 1)
		return fail("write to page %d: head %u, expected %u", x, cbw_head(c), head + 1);
	*slot = cbw_rec(c, head)->slot;
	/* A: no free slot, a report; A waits */
	a.where = (volatile uint64_t *)pp;
	a.val = 0xAAAAAAAAAAAAAAAAULL;
	if (pthread_create(&ta, NULL, rw_write_fn, &a))
		return fail("pthread_create: %m");
	if (poll(&pfd, 1, WAIT_MS) != 1)
		return fail("A's write to page %d (no free slot) was not reported within %d ms", p,
			    WAIT_MS);
	if (read_first) {
		e = uffd_wait_msg(c->uffd, &msg, WAIT_MS);
		if (e || msg.event != UFFD_EVENT_PAGEFAULT ||
		    (msg.arg.pagefault.address & ~(psize - 1)) != (uintptr_t)pp)
			return fail("A's report: %s, event %#x address %#llx",
				    e ? strerror(e) : "read", msg.event,
				    (unsigned long long)msg.arg.pagefault.address);
	}
	sleep_ms(50);
	if (atomic_load(&a.done))
		return fail("A's write went on before anything un-protected page %d", p);
	/* the slot is freed; B writes the same page: a record, B goes on */
	e = cbw_free(c->uffd, slot, 1, head + 1, 0);
	if (e)
		return fail("FREE: %s", strerror(e));
	b.where = (volatile uint64_t *)pp + 1;
	b.val = 0xBBBBBBBBBBBBBBBBULL;
	if (pthread_create(&tb, NULL, rw_write_fn, &b))
		return fail("pthread_create: %m");
	for (i = 0; i < WAIT_MS / 10 && !(atomic_load(&b.done) && atomic_load(&a.done)); i++)
		sleep_ms(10);
	if (!atomic_load(&b.done) || !atomic_load(&a.done)) {
		uffd_wp(c->uffd, pp, psize, false);
		return fail("%s's write to page %d still waits %d ms after B's record (A: %s, B: %s)",
			    atomic_load(&b.done) ? "A" : "B", p, WAIT_MS,
			    atomic_load(&a.done) ? "done" : "waiting",
			    atomic_load(&b.done) ? "done" : "waiting");
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (cbw_head(c) != head + 2 || cbw_rec(c, head + 1)->address != (uintptr_t)pp)
		return fail("B's write: head %u, record %u for %#llx, expected a record of page %d",
			    cbw_head(c), head + 1, (unsigned long long)cbw_rec(c, head + 1)->address,
			    p);
	*slot = cbw_rec(c, head + 1)->slot;
	if (check_page("slot", cbw_slot(c, *slot), psize, 88, p, 1))
		return fail("the record of page %d does not hold it as it was before A's and B's writes",
			    p);
	if (!read_first) {
		/* the report that nobody read was withdrawn */
		if (poll(&pfd, 1, 0) != 0 || uffd_wait_msg(c->uffd, &msg, 100) != ETIMEDOUT)
			return fail("A's report was not withdrawn after B's record woke A (event %#x address %#llx)",
				    msg.event, (unsigned long long)msg.arg.pagefault.address);
	} else {
		/* the handler serves the report it read: copy, un-protect, head */
		memcpy(copy, pp, sizeof(copy));
		e = uffd_wp(c->uffd, pp, psize, false);
		if (e)
			return fail("un-protect of page %d after its record: %s", p, strerror(e));
		if (cbw_head(c) == prot_head + 1)
			return fail("the handler finds no record of page %d after its un-protection", p);
		if (((uint64_t *)copy)[0] != a.val || ((uint64_t *)copy)[1] != b.val)
			return fail("the handler's copy of page %d misses A's or B's write", p);
	}
	if (((volatile uint64_t *)pp)[0] != a.val || ((volatile uint64_t *)pp)[1] != b.val)
		return fail("page %d lost A's or B's write", p);
	return PASS;
}

/*
 * A write that cannot wait for a handler: through /proc/self/mem (GUP
 * without FOLL_UNLOCKABLE, so the fault may not be retried).  With a free
 * slot it is copied and succeeds, with a record holding the old contents;
 * without one it fails with EIO and changes nothing, as on a kernel
 * without the feature.
 */
static int t_proc_mem(const void *arg)
{
	const uint64_t v = 0x5eedULL;
	uint64_t now, pm;
	uint32_t slot;
	struct cbw c;
	char *area;
	ssize_t n;
	int fd, i, e;

	(void)arg;
	area = mmap(NULL, 5 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	for (i = 0; i < 5; i++)
		fill_page(area + (size_t)i * psize, psize, 61, i, 1);
	TRY(cbw_open(&c, 0, 4));
	TRY(cbw_arm(&c, area, 5 * psize));
	fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("open /proc/self/mem: %m");
	/* pages 1-4 take every slot */
	for (i = 1; i < 5; i++)
		*(volatile char *)(area + (size_t)i * psize + 8) = 1;
	if (cbw_head(&c) != 4)
		return fail("4 writes gave %u records, expected 4", cbw_head(&c));
	n = pwrite(fd, &v, sizeof(v), (off_t)(uintptr_t)area);
	if (n != -1 || errno != EIO)
		return fail("pwrite to a protected page with no free slot: %zd (%m), expected -1 EIO", n);
	memcpy(&now, area, sizeof(now));
	pm = pagemap_entry(area);
	if (now != word(61, 0, 1, 0) || !(pm & PM_UFFD_WP) || cbw_head(&c) != 4)
		return fail("a failed pwrite changed something: word %#llx, uffd-wp %d, head %u",
			    (unsigned long long)now, !!(pm & PM_UFFD_WP), cbw_head(&c));
	/* one slot and one ring entry free */
	slot = cbw_rec(&c, 0)->slot;
	e = cbw_free(c.uffd, &slot, 1, 1, 0);
	if (e)
		return fail("FREE of one slot and record: %s", strerror(e));
	n = pwrite(fd, &v, sizeof(v), (off_t)(uintptr_t)area);
	if (n != (ssize_t)sizeof(v))
		return fail("pwrite to a protected page with a free slot: %zd (%m), expected %zu",
			    n, sizeof(v));
	close(fd);
	memcpy(&now, area, sizeof(now));
	if (now != v)
		return fail("the pwrite did not reach the page: %#llx", (unsigned long long)now);
	if (cbw_head(&c) != 5 || cbw_rec(&c, 4)->address != (uintptr_t)area)
		return fail("no record for the page written through /proc/self/mem (head %u)",
			    cbw_head(&c));
	if (check_page("slot of the /proc/self/mem write", cbw_slot(&c, cbw_rec(&c, 4)->slot),
		       psize, 61, 0, 1))
		return FAIL;
	if (pagemap_entry(area) & PM_UFFD_WP)
		return fail("the page is still protected after its copy");
	case_count(ST_RECORDS, 5);
	case_note("no free slot: EIO, nothing changed; a free slot: written, a record with the old page");
	cbw_close(&c);
	munmap(area, 5 * psize);
	return PASS;
}

/* VmLck of this process in kB, or -1 */
static long vmlck_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/*
 * The buffer is charged to RLIMIT_MEMLOCK (as VmLck) for a process without
 * CAP_IPC_LOCK: nobody (uid 65534) with a 64 KiB limit gets ENOMEM for 32
 * slots and nothing charged, 8 slots (36 KiB with the ring page) work and
 * show in VmLck until the last mapping and fd are gone.
 */
static int memlock_child(void)
{
	struct rlimit rl = { 64 << 10, 64 << 10 };
	struct uffdio_wp_copy_setup s = { 0 };
	long before, after, mapped, gone;
	int uffd, e;
	void *m;

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return fail("setrlimit(RLIMIT_MEMLOCK, 64 KiB): %m");
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return fail("cannot become uid 65534: %m");
	uffd = uffd_open_flags(UFFD_USER_MODE_ONLY, UFFD_FEATURE_WP_COPY, NULL);
	if (uffd < 0)
		return fail("userfaultfd(UFFD_USER_MODE_ONLY) as uid 65534: %s", strerror(-uffd));
	before = vmlck_kb();
	e = cbw_setup(uffd, 32, 0, NULL);
	if (e != ENOMEM || vmlck_kb() != before)
		return fail("32 slots over a 64 KiB RLIMIT_MEMLOCK: %s, VmLck %ld -> %ld kB; expected ENOMEM, unchanged",
			    e ? strerror(e) : "accepted", before, vmlck_kb());
	e = cbw_setup(uffd, 8, 0, &s);
	if (e)
		return fail("8 slots under a 64 KiB RLIMIT_MEMLOCK: %s", strerror(e));
	after = vmlck_kb();
	if (after - before != (long)(s.mmap_size >> 10))
		return fail("VmLck %ld -> %ld kB for a %llu-byte buffer", before, after,
			    (unsigned long long)s.mmap_size);
	m = cbw_map(uffd, s.mmap_size, PROT_READ, MAP_SHARED, 0);
	if (!m)
		return fail("mmap of the buffer: %m");
	close(uffd);
	mapped = vmlck_kb();
	munmap(m, s.mmap_size);
	gone = vmlck_kb();
	if (mapped != after || gone != before)
		return fail("VmLck after close (still mapped) %ld kB, after munmap %ld kB; expected %ld, %ld",
			    mapped, gone, after, before);
	case_note("32 slots: ENOMEM; 8 slots: VmLck +%ld kB until the last mapping went", after - before);
	return PASS;
}

static int t_memlock(const void *arg)
{
	int status;
	pid_t pid;

	(void)arg;
	if (geteuid() != 0)
		return case_skip("needs root to drop to uid 65534 without CAP_IPC_LOCK");
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
	if (!pid) {
		fflush(stdout);
		_exit(memlock_child());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return fail("the uid 65534 child did not exit");
	return WEXITSTATUS(status);
}

static int t_record_wins(const void *arg)
{
	struct cbw c;
	uint32_t slot;
	char *area;
	int e, i;

	(void)arg;
	area = mmap(NULL, 4 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	for (i = 0; i < 4; i++)
		fill_page(area + (size_t)i * psize, psize, 88, i, 1);
	TRY(cbw_open(&c, 0, 1));
	TRY(cbw_arm(&c, area, 4 * psize));
	/* the report not read yet: withdrawn */
	TRY(record_wins_round(&c, area, 0, 1, false, &slot));
	e = cbw_free(c.uffd, &slot, 1, cbw_head(&c), 0);
	if (e)
		return fail("FREE: %s", strerror(e));
	/* the report read first: the handler drops its copy */
	TRY(record_wins_round(&c, area, 2, 3, true, &slot));
	cbw_close(&c);
	munmap(area, 4 * psize);
	case_note("A woken by B's record, an unread report withdrawn, a read one served, the record holds the page before both writes");
	return PASS;
}

/* ------------------------------------------------------------------ */
/* hugetlb: synchronous fallback                                       */

static int t_hugetlb(const void *arg)
{
	const struct mem_type *mt = arg;
	struct mem_region r = { .fd = -1 };
	static struct handler h;
	struct cbw c;
	int i, e;

	e = mem_create(&r, mt, NHUGE * MEM_HPAGE, "uffd-wp-copy-huge");
	if (!e)
		e = mem_map(&r);
	if (e == ENOMEM || e == ENOSPC)
		return case_skip("no %d free hugetlb pages: %s", NHUGE, strerror(e));
	if (e)
		return fail("hugetlb: create/map: %s", strerror(e));
	for (i = 0; i < NHUGE; i++)
		fill_page(r.addr + i * MEM_HPAGE, MEM_HPAGE, 77, i, 1);
	TRY(cbw_open(&c, 0, NSLOTS));
	TRY(cbw_arm(&c, r.addr, r.len));
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = r.addr;
	h.page = MEM_HPAGE;
	h.npages = NHUGE;
	TRY(write_all(&h, 77, 2, false, false, NULL));
	if (cbw_head(&c))
		return fail("hugetlb: %u records, expected none", cbw_head(&c));
	for (i = 0; i < NHUGE; i++)
		if (h.reports[i] != 1)
			return fail("hugetlb page %d: %d reports, expected 1", i, h.reports[i]);
	for (i = 0; i < NHUGE; i++)
		if (check_page("memory", r.addr + i * MEM_HPAGE, MEM_HPAGE, 77, i, 2))
			return fail("hugetlb page %d does not hold generation 2", i);
	case_count(ST_REPORTS, NHUGE);
	case_count(ST_PAGES, NHUGE);
	case_note("%d reports, no record", NHUGE);
	cbw_close(&c);
	mem_release(&r);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

struct fork_ev {
	int uffd;
	int child_uffd;
	int err;
};

static void *fork_event_fn(void *arg)
{
	struct fork_ev *f = arg;
	struct uffd_msg msg;

	f->err = uffd_wait_msg(f->uffd, &msg, WAIT_MS);
	if (!f->err && msg.event != UFFD_EVENT_FORK)
		f->err = EPROTO;
	if (!f->err)
		f->child_uffd = msg.arg.fork.ufd;
	return NULL;
}

static int t_fork(const void *arg)
{
	struct fork_ev f = { .child_uffd = -1 };
	struct uffd_msg msg;
	unsigned char vec;
	pthread_t t;
	int e, status;
	struct cbw c;
	char *area;
	pid_t pid;

	(void)arg;
	TRY(cbw_open(&c, UFFD_FEATURE_EVENT_FORK, 4));
	area = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	memset(area, 3, 2 * psize);
	TRY(cbw_arm(&c, area, 2 * psize));

	f.uffd = c.uffd;
	if (pthread_create(&t, NULL, fork_event_fn, &f))
		return fail("pthread_create: %m");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
	if (pid == 0) {
		/* the buffer is not inherited (VM_DONTCOPY) */
		if (mincore(c.buf, psize, &vec) == 0 || errno != ENOMEM)
			_exit(10);
		/* a write to a protected page: reported through the child's context */
		area[0] = 4;
		_exit(area[0] == 4 ? 0 : 11);
	}
	pthread_join(t, NULL);
	if (f.err) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return fail("fork event: %s", strerror(f.err));
	}
	e = map_err(f.child_uffd, psize, PROT_READ, MAP_SHARED, 0);
	if (e != ENODEV) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return fail("mmap of the child's context: %s, expected ENODEV",
			    e ? errno_name(e) : "success");
	}
	e = uffd_wait_msg(f.child_uffd, &msg, WAIT_MS);
	if (e || msg.event != UFFD_EVENT_PAGEFAULT ||
	    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
	    msg.arg.pagefault.address != (uintptr_t)area) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return fail("child's write: %s, event %#x flags %#llx address %#llx",
			    e ? strerror(e) : "a message", msg.event,
			    (unsigned long long)msg.arg.pagefault.flags,
			    (unsigned long long)msg.arg.pagefault.address);
	}
	e = uffd_wp(f.child_uffd, area, psize, false);
	if (e)
		return fail("un-protect in the child: %s", strerror(e));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return fail("child: status %#x (10: buffer inherited, 11: lost write)", status);
	if (cbw_head(&c))
		return fail("the child's write left %u records in the parent's ring", cbw_head(&c));
	/* the parent's own write is still copied */
	TRY(one_cbw_write(&c, area, 0, 0));
	close(f.child_uffd);
	cbw_close(&c);
	munmap(area, 2 * psize);
	case_note("child context: no slots, write reported; buffer not inherited");
	return PASS;
}

/* ------------------------------------------------------------------ */
/* bench                                                               */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* one round: ns per first write, with copy-before-write or a copying handler */
static int bench_round(bool cbw, int64_t *ns)
{
	static struct handler h;
	size_t len = BENCH_PAGES * psize;
	struct cbw c;
	char *area, *save = NULL;
	int i, nrec;

	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return fail("mmap: %m");
	for (i = 0; i < BENCH_PAGES; i++)
		fill_page(area + (size_t)i * psize, psize, 99, i, 1);
	if (cbw) {
		TRY(cbw_open(&c, 0, BENCH_PAGES));
	} else {
		memset(&c, 0, sizeof(c));
		c.uffd = uffd_open(0, NULL);
		if (c.uffd < 0)
			return fail("userfaultfd: %s", strerror(-c.uffd));
		save = malloc(len);
		if (!save)
			return fail("malloc");
		memset(save, 0, len);
	}
	TRY(cbw_arm(&c, area, len));
	memset(&h, 0, sizeof(h));
	h.uffd = c.uffd;
	h.addr = area;
	h.page = psize;
	h.npages = BENCH_PAGES;
	h.save = save;
	TRY(write_all(&h, 99, 2, false, true, ns));
	*ns /= BENCH_PAGES;
	nrec = cbw ? (int)cbw_head(&c) : 0;
	for (i = 0; i < BENCH_PAGES; i++)
		if (h.reports[i] != (cbw ? 0 : 1))
			return fail("bench (%s): page %d reported %d times",
				    cbw ? "copy-before-write" : "handler", i, h.reports[i]);
	if (cbw && nrec != BENCH_PAGES)
		return fail("bench: %d records for %d pages", nrec, BENCH_PAGES);
	if (!cbw && check_page("saved", save + psize, psize, 99, 1, 1))
		return fail("bench: the handler's copy of page 1 is wrong");
	cbw_close(&c);
	free(save);
	munmap(area, len);
	return PASS;
}

static int t_bench(const void *arg)
{
	int64_t t_cbw[BENCH_ROUNDS], t_hdl[BENCH_ROUNDS];
	int i;

	(void)arg;
	for (i = 0; i < BENCH_ROUNDS; i++) {
		TRY(bench_round(true, &t_cbw[i]));
		TRY(bench_round(false, &t_hdl[i]));
	}
	qsort(t_cbw, BENCH_ROUNDS, sizeof(t_cbw[0]), cmp_i64);
	qsort(t_hdl, BENCH_ROUNDS, sizeof(t_hdl[0]), cmp_i64);
	diag("bench (emulated if under TCG): first write to a protected anon page, %d pages x %d rounds: "
	     "copy-before-write median %.1f us (%.1f-%.1f), handler thread (copy + un-protect) "
	     "median %.1f us (%.1f-%.1f), ratio of medians %.1fx",
	     BENCH_PAGES, BENCH_ROUNDS, t_cbw[BENCH_ROUNDS / 2] / 1000.0, t_cbw[0] / 1000.0,
	     t_cbw[BENCH_ROUNDS - 1] / 1000.0, t_hdl[BENCH_ROUNDS / 2] / 1000.0,
	     t_hdl[0] / 1000.0, t_hdl[BENCH_ROUNDS - 1] / 1000.0,
	     (double)t_hdl[BENCH_ROUNDS / 2] / (double)(t_cbw[BENCH_ROUNDS / 2] ?: 1));
	case_note("cbw %.1f us/write, handler %.1f us/write, ratio %.1fx (median of %d)",
		  t_cbw[BENCH_ROUNDS / 2] / 1000.0, t_hdl[BENCH_ROUNDS / 2] / 1000.0,
		  (double)t_hdl[BENCH_ROUNDS / 2] / (double)(t_cbw[BENCH_ROUNDS / 2] ?: 1),
		  BENCH_ROUNDS);
	return PASS;
}

/* ------------------------------------------------------------------ */

/* the cases of this run, in order: run them all, or give each the same point */
struct entry {
	int (*fn)(const void *arg);
	const void *arg;
	char name[96];
};

#define MAX_ENTRIES	(16 + 6 * MEM_MAX_TYPES)

static struct entry entries[MAX_ENTRIES];
static int nentries;

static void add(int (*fn)(const void *arg), const void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add(int (*fn)(const void *arg), const void *arg, const char *fmt, ...)
{
	va_list ap;

	if (nentries >= MAX_ENTRIES)
		return;
	entries[nentries].fn = fn;
	entries[nentries].arg = arg;
	va_start(ap, fmt);
	vsnprintf(entries[nentries].name, sizeof(entries[nentries].name), fmt, ap);
	va_end(ap);
	nentries++;
}

/* "anon", "shmem", "file-shared ext4", ... */
static const char *type_name(const struct mem_type *mt)
{
	static char buf[MEM_MAX_TYPES][64];
	static int n;
	char *b = buf[n++ % MEM_MAX_TYPES];

	if (mem_is_file(mt))
		snprintf(b, 64, "%s %s", mt->name, mt->fs);
	else
		snprintf(b, 64, "%s", mt->name);
	return b;
}

int main(void)
{
	static const char *const rows[] = { "anon", "shmem", "file-shared", "file-private", NULL };
	static const char *const huge_rows[] = { "hugetlb", "hugetlb-private", NULL };
	static struct mem_type types[MEM_MAX_TYPES], huge[4];
	static struct snap_case snaps[MEM_MAX_TYPES];
	const char *b = getenv("UFFDWP_BUDGET");
	const char *fs0 = NULL;
	struct case_runner cr;
	int i, n, nh, rc;
	bool expected = expect_wp_copy();

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);

	/* the file rows once per file system of UFFDWP_FS */
	n = mem_types(types, MEM_MAX_TYPES, rows);
	for (i = 0; i < n; i++) {
		snaps[i].mt = &types[i];
		snaps[i].salt = 10 + i;
		if (!fs0 && mem_is_file(&types[i]))
			fs0 = types[i].fs;
	}
	nh = mem_types(huge, 4, huge_rows);

	add(t_api, NULL, "api");
	add(t_bad_input, NULL, "bad-input");
	add(t_bad_limits, NULL, "bad-limits");
	for (i = 0; i < n; i++)
		add(t_snapshot, &snaps[i], "snapshot %s", type_name(snaps[i].mt));
	for (i = 0; i < n; i++)
		add(t_unpopulated, &snaps[i], "unpopulated %s", type_name(snaps[i].mt));
	for (i = 0; i < n; i++)
		add(t_events, &snaps[i], "events %s", type_name(snaps[i].mt));
	add(t_ring_full, NULL, "ring-full");
	add(t_swap, NULL, "swap-anon");
	for (i = 0; i < n; i++)
		if (!mem_is_file(snaps[i].mt))
			add(t_stress, &snaps[i], "stress %s", snaps[i].mt->name);
	add(t_record_wins, NULL, "record-wins");
	add(t_proc_mem, NULL, "proc-mem");
	add(t_memlock, NULL, "memlock");
	/* the same page: anon, shmem and the files of the first file system */
	for (i = 0; i < n; i++)
		if (!mem_is_file(snaps[i].mt) || !strcmp(snaps[i].mt->fs, fs0))
			add(t_same_page, &snaps[i], "same-page %s", type_name(snaps[i].mt));
	for (i = 0; i < nh; i++)
		add(t_hugetlb, &huge[i], "hugetlb-fallback%s", huge[i].shared ? "" : "-private");
	add(t_close_mapped, NULL, "close-mapped");
	add(t_fork, NULL, "fork");
	add(t_bench, NULL, "bench-anon");

	cases_start(&cr, "uffd-wp-copy", nentries + (nh ? 0 : 1),
		    b && atoi(b) > 0 ? atoi(b) : DEFAULT_BUDGET_S, CASE_TIMEOUT_S, stat_names);
	rc = uffd_features(&kfeatures);
	if (rc)
		diag("userfaultfd unavailable: %s", strerror(rc));
	have_wp_copy = kfeatures & UFFD_FEATURE_WP_COPY;
	diag("UFFDIO_API features %#llx: UFFD_FEATURE_WP_COPY %s, expected %s",
	     (unsigned long long)kfeatures, have_wp_copy ? "advertised" : "not advertised",
	     expected ? "yes" : "no");

	case_run(&cr, t_api, NULL, 0, "api");
	rc = expect_or_skip(have_wp_copy, expected, "UFFD_FEATURE_WP_COPY expected but not advertised");
	for (i = 1; i < nentries; i++) {
		if (rc != PASS)
			case_point(&cr, rc, rc == SKIP ? "kernel lacks UFFD_FEATURE_WP_COPY (expected)" : NULL,
				   "%s", entries[i].name);
		else
			case_run(&cr, entries[i].fn, entries[i].arg, 0, "%s", entries[i].name);
	}
	if (!nh)
		case_point(&cr, SKIP, "no hugetlb memory type", "hugetlb-fallback");
	return cases_end(&cr);
}
