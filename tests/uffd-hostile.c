// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-hostile: invalid and hostile userfaultfd / PAGEMAP_SCAN calls.
 *
 * A table of rows, each one call with bad arguments or in a hostile
 * situation, run on every memory type: anon, shmem (memfd MAP_SHARED),
 * shmem-private (memfd MAP_PRIVATE), hugetlb (MAP_HUGETLB, default huge
 * page size) and file-shared / file-private on every file system of
 * UFFDWP_FS.  Every row asserts the exact errno (or the documented
 * behaviour) that the kernel source gives; the expected values were read
 * in fs/userfaultfd.c, mm/userfaultfd.c, mm/hugetlb.c, mm/shmem.c,
 * mm/memfd.c and fs/proc/task_mmu.c of Linux 6.12 (+ this series) and the
 * check that produces each one is cited next to its row group.  A table of
 * global rows (UFFDIO_API, calls before UFFDIO_API, PAGEMAP_SCAN argument
 * checks, non-root access) runs once.
 *
 * Each row runs in a process of its own with a fresh mapping and a fresh
 * userfaultfd, under a hard timeout, so a crash or a hang is one failing
 * row, not a stuck test.  Rows that block a thread in a fault always
 * resolve it with a timeout.
 *
 * Layout of a row's memory (u = the memory type's page size):
 *
 *	[A-4u, A)	hole (unmapped)
 *	[A, A+4u)	M, the memory type under test; units 0 and 1 populated
 *	[A+4u, A+8u)	N, a VMA of another type (only for "cross-vma" rows):
 *			a file-shared mapping next to anon, anon next to the rest
 *			(a hole otherwise)
 *
 * Rows that need a successful write-protect registration of a regular
 * file range need UFFD_FEATURE_WP_FILE: without it they SKIP when
 * UFFDWP_EXPECT_WP_FILE=0 and fail when it is 1.  Rows whose expected
 * errno differs between the base kernel and the series (a file VMA is
 * refused by vma_can_userfault() on the base) assert the value of the
 * expected kernel.
 *
 * Environment:
 *   UFFDWP_FS              space-separated "name:mountpoint" list
 *                          (default: the current directory as "cwd")
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *   UFFDWP_USER            non-root user for the privilege rows; they change
 *                          vm.unprivileged_userfaultfd and the mode of
 *                          /dev/userfaultfd (restored), so they run only when
 *                          it is set and we are root, and SKIP otherwise
 *   UFFDWP_BUDGET          time budget in seconds (default 400)
 *
 * Output is TAP; exit status 0 when no row failed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"

#define ROW_TIMEOUT_MS		15000	/* hard limit for one row process */
#define WAIT_MS			5000	/* longest wait for a fault / a wake-up */
#define STAY_BLOCKED_MS		300	/* "still blocked" observation window */
#define DEFAULT_BUDGET_S	400	/* the debug kernel on a slow host needs ~120 s */
#define MSG_LEN			1024
#define NOTE_LEN		200
#define HOSTILE_ADDR		(1UL << 62)	/* above TASK_SIZE, 4 and 5 levels */
#define KERNEL_ADDR		0xffff888000000000UL
#define NO_RESULT		INT_MIN

/* ------------------------------------------------------------------ */
/* memory types                                                        */

enum kind { K_ANON, K_SHMEM, K_SHMEMP, K_HUGE, K_FSHARED, K_FPRIVATE, NKINDS };

#define T(k)		(1u << (k))
#define T_ALL		((1u << NKINDS) - 1)
#define T_FILE		(T(K_FSHARED) | T(K_FPRIVATE))
#define T_NONFILE	(T_ALL & ~T_FILE)
#define T_FD		(T(K_SHMEM) | T(K_SHMEMP) | T_FILE)	/* has a file descriptor */

struct memtype {
	char label[64];		/* "anon", "file-shared:ext4", ... */
	enum kind kind;
	const char *dir;	/* mountpoint of a file type */
};

#define MAX_MEMTYPES	(4 + 2 * MAX_TEST_FS)
static struct memtype memtypes[MAX_MEMTYPES];
static int nr_memtypes;

static bool is_file_kind(enum kind k)
{
	return k == K_FSHARED || k == K_FPRIVATE;
}

static size_t psize, hpsize;
static bool have_wp_file, expect_wp, hugetlb_ok;
static char hugetlb_reason[160];
static const char *nb_dir;	/* where anon's file neighbour lives */
static uid_t user_uid;
static gid_t user_gid;
static const char *user_name;
static char sysctl_orig[16];
static mode_t devmode_orig;
static bool devmode_saved;

/* ------------------------------------------------------------------ */
/* row results, shared with the row processes                          */

struct res {
	int got;		/* errno observed, 0 for success */
	int want;		/* errno expected */
	char note[NOTE_LEN];	/* what else was verified (printed when ok) */
	char msg[MSG_LEN];	/* diagnostics (printed as # lines) */
};

static struct res *R;

static int __attribute__((format(printf, 2, 3))) rfail(struct res *r, const char *fmt, ...)
{
	size_t n = strlen(r->msg);
	va_list ap;

	if (n + 2 < MSG_LEN) {
		if (n)
			r->msg[n++] = '\n';
		va_start(ap, fmt);
		vsnprintf(r->msg + n, MSG_LEN - n, fmt, ap);
		va_end(ap);
	}
	return FAIL;
}

static int __attribute__((format(printf, 2, 3))) rskip(struct res *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, MSG_LEN, fmt, ap);
	va_end(ap);
	return SKIP;
}

static void __attribute__((format(printf, 2, 3))) rnote(struct res *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->note, NOTE_LEN, fmt, ap);
	va_end(ap);
}

static int expect(struct res *r, int got, int want)
{
	r->got = got;
	r->want = want;
	return got == want ? PASS : FAIL;
}

static const char *ename(int e, char *buf, size_t len)
{
	const char *n;

	if (e == 0)
		return "success";
	if (e == NO_RESULT)
		return "no result";
	n = strerrorname_np(e);
	if (n)
		snprintf(buf, len, "errno %s", n);
	else
		snprintf(buf, len, "errno %d", e);
	return buf;
}

/* ------------------------------------------------------------------ */
/* expected values                                                     */

/*
 * want[] holds one expected errno per memory type.  KD(s, b) is a value
 * that depends on the expected kernel: s with UFFD_FEATURE_WP_FILE (the
 * series), b without (the base), where a regular file VMA is refused by
 * vma_can_userfault() before any other check.
 */
#define KD(s, b)	((short)(0x4000 | ((s) << 7) | (b)))
/* the same for the hand-off features (UFFDWP_EXPECT_HANDOFF) */
#define HD(s, b)	((short)(0x2000 | ((s) << 7) | (b)))
#define ALLW(e)		{ e, e, e, e, e, e }
/*          anon shmem shmem-private hugetlb file-shared file-private */
#define W6(a, s, p, h, f, q)	{ a, s, p, h, f, q }
#define NA		0	/* memory type not in the row's types */

static int decode_want(short v)
{
	if (v & 0x4000)
		return expect_wp ? (v >> 7) & 0x3f : v & 0x7f;
	if (v & 0x2000)
		return expect_handoff() ? (v >> 7) & 0x3f : v & 0x7f;
	return v;
}

/* ------------------------------------------------------------------ */
/* raw calls (the others are in uffdwp.h): 0 or the errno, arguments as given */

static int ucopy(int uffd, unsigned long dst, unsigned long src, unsigned long len,
		 uint64_t mode)
{
	struct uffdio_copy c = { .dst = dst, .src = src, .len = len, .mode = mode };

	return ioctl(uffd, UFFDIO_COPY, &c) ? errno : 0;
}

static int uzero(int uffd, unsigned long start, unsigned long len, uint64_t mode)
{
	struct uffdio_zeropage z = { .range = { start, len }, .mode = mode };

	return ioctl(uffd, UFFDIO_ZEROPAGE, &z) ? errno : 0;
}

static int ucont(int uffd, unsigned long start, unsigned long len, uint64_t mode)
{
	struct uffdio_continue c = { .range = { start, len }, .mode = mode };

	return ioctl(uffd, UFFDIO_CONTINUE, &c) ? errno : 0;
}

enum op { OP_REG, OP_UNREG, OP_WP, OP_COPY, OP_ZERO, OP_CONT, OP_WAKE, OP_SCAN,
	  OP_CLOSE };

static const char *const op_name[] = {
	[OP_REG] = "UFFDIO_REGISTER", [OP_UNREG] = "UFFDIO_UNREGISTER",
	[OP_WP] = "UFFDIO_WRITEPROTECT", [OP_COPY] = "UFFDIO_COPY",
	[OP_ZERO] = "UFFDIO_ZEROPAGE", [OP_CONT] = "UFFDIO_CONTINUE",
	[OP_WAKE] = "UFFDIO_WAKE", [OP_SCAN] = "PAGEMAP_SCAN", [OP_CLOSE] = "close()",
};

static int do_op(int uffd, int op, unsigned long s, unsigned long l, uint64_t mode,
		 unsigned long src, uint64_t *ioctls)
{
	switch (op) {
	case OP_REG:	return uffd_register(uffd, (void *)s, l, mode, ioctls);
	case OP_UNREG:	return uffd_unregister(uffd, (void *)s, l);
	case OP_WP:	return uffd_writeprotect(uffd, (void *)s, l, mode);
	case OP_COPY:	return ucopy(uffd, s, src, l, mode);
	case OP_ZERO:	return uzero(uffd, s, l, mode);
	case OP_CONT:	return ucont(uffd, s, l, mode);
	case OP_WAKE:	return uffd_wake(uffd, (void *)s, l);
	}
	return EINVAL;
}

/* ------------------------------------------------------------------ */
/* fixture                                                             */

enum rng {
	RG_UNALIGNED_START,	/* (A+1, u) */
	RG_UNALIGNED_LEN,	/* (A, u+1) */
	RG_ZERO_LEN,		/* (A, 0) */
	RG_WRAP,		/* (A, 2^64-A+u): start+len wraps to u */
	RG_BEYOND,		/* (1<<62, u): start >= TASK_SIZE */
	RG_UNMAPPED,		/* (A-4u, 4u) */
	RG_HOLE_HEAD,		/* (A-2u, 4u): hole then M */
	RG_HOLE_TAIL,		/* (A+2u, 4u): M then hole */
	RG_CROSS,		/* (A+2u, 4u): M then N */
	RG_WHOLE,		/* (A, 4u) */
	RG_UNIT0,		/* (A, u), populated */
	RG_UNIT3,		/* (A+3u, u), not populated */
	RG_HUGE_START,		/* (A+4K, u): hugetlb start not huge-aligned */
	RG_HUGE_LEN,		/* (A, u+4K): hugetlb end not huge-aligned */
};

/* row flags */
#define REG_WP		(1u << 0)	/* M registered MODE_WP */
#define REG_MISSING	(1u << 1)	/* M registered MODE_MISSING */
#define NEEDFEAT	(1u << 2)	/* needs a file WP registration (done by the row) */
#define NB		(1u << 3)	/* N mapped next to M */
#define SRC_HOLE	(1u << 4)	/* UFFDIO_COPY source in the hole */
#define SRC_BEYOND	(1u << 5)	/* UFFDIO_COPY source above TASK_SIZE */
#define TRUNC		(1u << 6)	/* file truncated to one unit after setup */
#define NEEDROOT	(1u << 7)

struct fx {
	const struct memtype *mt;
	size_t u, len;
	char *A;
	char *src;		/* one unit of prefaulted anon memory */
	int fd, nfd, uffd;
};

static size_t unit_of(const struct memtype *mt)
{
	return mt->kind == K_HUGE ? hpsize : psize;
}

static int new_file(const char *dir, size_t size, struct res *r)
{
	static int seq;
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/.uffd-hostile.%d.%d", dir, (int)getpid(), seq++);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -rfail(r, "setup: open %s: %m", path);
	unlink(path);
	if (ftruncate(fd, size)) {
		rfail(r, "setup: ftruncate %s: %m", path);
		close(fd);
		return -FAIL;
	}
	return fd;
}

static int backing_fd(const struct memtype *mt, size_t size, struct res *r)
{
	int fd;

	if (is_file_kind(mt->kind))
		return new_file(mt->dir, size, r);
	fd = memfd_create("uffd-hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -rfail(r, "setup: memfd_create: %m");
	if (ftruncate(fd, size)) {
		rfail(r, "setup: ftruncate memfd: %m");
		close(fd);
		return -FAIL;
	}
	return fd;
}

/* map the memory type at addr (MAP_FIXED) */
static int map_mt(const struct memtype *mt, char *addr, size_t len, int fd, int prot)
{
	int fl = MAP_FIXED;
	void *p;

	switch (mt->kind) {
	case K_ANON:
		fl |= MAP_PRIVATE | MAP_ANONYMOUS;
		fd = -1;
		break;
	case K_HUGE:
		fl |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
		fd = -1;
		break;
	case K_SHMEM:
	case K_FSHARED:
		fl |= MAP_SHARED;
		break;
	default:
		fl |= MAP_PRIVATE;
		break;
	}
	p = mmap(addr, len, prot, fl, fd, 0);
	return p == MAP_FAILED ? errno : 0;
}

static int fx_setup(struct fx *f, const struct memtype *mt, unsigned int flags,
		    struct res *r)
{
	size_t u = unit_of(mt), res_len = 17 * u, used;
	char *res, *base;
	int e;

	memset(f, 0, sizeof(*f));
	f->mt = mt;
	f->u = u;
	f->len = 4 * u;
	f->fd = f->nfd = f->uffd = -1;

	/* the source buffer first, so that it never lands in the holes */
	f->src = mmap(NULL, u, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->src == MAP_FAILED)
		return rfail(r, "setup: mmap source: %m");
	memset(f->src, 0x77, u);

	res = mmap(NULL, res_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return rfail(r, "setup: reserve: %m");
	base = (char *)(((unsigned long)res + u - 1) & ~(u - 1));
	f->A = base + 4 * u;

	if (mt->kind != K_ANON && mt->kind != K_HUGE) {
		f->fd = backing_fd(mt, f->len, r);
		if (f->fd < 0)
			return -f->fd;
	}
	e = map_mt(mt, f->A, f->len, f->fd, PROT_READ | PROT_WRITE);
	if (e)
		return rfail(r, "setup: mmap %s: %s", mt->label, strerror(e));

	used = 4 * u;
	if (flags & NB) {
		char *n = f->A + 4 * u;
		void *p;

		if (mt->kind == K_ANON) {
			/* a regular file mapping next to anonymous memory */
			f->nfd = new_file(nb_dir, 4 * psize, r);
			if (f->nfd < 0)
				return -f->nfd;
			p = mmap(n, 4 * u, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 f->nfd, 0);
		} else {
			p = mmap(n, 4 * u, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		}
		if (p == MAP_FAILED)
			return rfail(r, "setup: mmap neighbour: %m");
		used = 8 * u;
	}
	/* the holes */
	munmap(res, f->A - res);
	munmap(f->A + used, res + res_len - (f->A + used));

	/* populate units 0 and 1 */
	f->A[0] = 1;
	f->A[u] = 1;

	f->uffd = uffd_open(0, NULL);
	if (f->uffd < 0)
		return rfail(r, "setup: userfaultfd: %s", strerror(-f->uffd));
	if (flags & (REG_WP | REG_MISSING)) {
		uint64_t mode = flags & REG_WP ? UFFDIO_REGISTER_MODE_WP :
						 UFFDIO_REGISTER_MODE_MISSING;

		e = uffd_register(f->uffd, f->A, f->len, mode, NULL);
		if (e)
			return rfail(r, "setup: UFFDIO_REGISTER(%s) of %s: %s",
				     flags & REG_WP ? "WP" : "MISSING", mt->label, strerror(e));
	}
	if (flags & TRUNC) {
		if (ftruncate(f->fd, u))
			return rfail(r, "setup: ftruncate to one page: %m");
	}
	return PASS;
}

static void range_of(const struct fx *f, int rng, unsigned long *s, unsigned long *l)
{
	unsigned long A = (unsigned long)f->A, u = f->u;

	switch (rng) {
	case RG_UNALIGNED_START: *s = A + 1;		*l = u;		break;
	case RG_UNALIGNED_LEN:	*s = A;			*l = u + 1;	break;
	case RG_ZERO_LEN:	*s = A;			*l = 0;		break;
	case RG_WRAP:		*s = A;			*l = 0UL - A + u; break;
	case RG_BEYOND:		*s = HOSTILE_ADDR;	*l = u;		break;
	case RG_UNMAPPED:	*s = A - 4 * u;		*l = 4 * u;	break;
	case RG_HOLE_HEAD:	*s = A - 2 * u;		*l = 4 * u;	break;
	case RG_HOLE_TAIL:
	case RG_CROSS:		*s = A + 2 * u;		*l = 4 * u;	break;
	case RG_WHOLE:		*s = A;			*l = 4 * u;	break;
	case RG_UNIT0:		*s = A;			*l = u;		break;
	case RG_UNIT3:		*s = A + 3 * u;		*l = u;		break;
	case RG_HUGE_START:	*s = A + psize;		*l = u;		break;
	case RG_HUGE_LEN:	*s = A;			*l = u + psize;	break;
	default:		*s = A;			*l = u;		break;
	}
}

/* ------------------------------------------------------------------ */
/* blocked threads                                                     */

struct waiter {
	volatile char *p;
	bool write;
	char val;
	char seen;
	atomic_int done;
	pthread_t t;
};

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;

	if (w->write)
		w->p[0] = w->val;
	else
		w->seen = w->p[0];
	atomic_store(&w->done, 1);
	return NULL;
}

static int waiter_start(struct waiter *w, char *p, bool write, char val)
{
	w->p = p;
	w->write = write;
	w->val = val;
	w->seen = -1;
	atomic_init(&w->done, 0);
	return pthread_create(&w->t, NULL, waiter_fn, w);
}

static bool waiter_wait(struct waiter *w, int ms)
{
	int64_t end = now_ms() + ms;

	while (!atomic_load(&w->done)) {
		if (now_ms() >= end)
			return false;
		sleep_ms(2);
	}
	pthread_join(w->t, NULL);
	return true;
}

/* the next message from a non-blocking uffd: 0, ETIMEDOUT or an errno */
static int wait_msg(int uffd, struct uffd_msg *m, int ms)
{
	struct pollfd p = { .fd = uffd, .events = POLLIN };
	int n = poll(&p, 1, ms);

	if (n < 0)
		return errno;
	if (n == 0)
		return ETIMEDOUT;
	if (read(uffd, m, sizeof(*m)) != sizeof(*m))
		return errno ? errno : EIO;
	return 0;
}

/* a write to unit 0 of the write-protected M blocks and is reported */
static int block_writer(struct fx *f, struct waiter *w, struct res *r)
{
	struct uffd_msg m;
	int e;

	e = uffd_wp(f->uffd, f->A, f->len, true);
	if (e)
		return rfail(r, "setup: UFFDIO_WRITEPROTECT(WP): %s", strerror(e));
	if (waiter_start(w, f->A + 8, true, 0x5a))
		return rfail(r, "setup: pthread_create failed");
	e = wait_msg(f->uffd, &m, WAIT_MS);
	if (e)
		return rfail(r, "the write to the protected page was not reported: %s",
			     strerror(e));
	if (m.event != UFFD_EVENT_PAGEFAULT || !(m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
		return rfail(r, "unexpected message: event %#x flags %#llx", m.event,
			     (unsigned long long)m.arg.pagefault.flags);
	if (atomic_load(&w->done))
		return rfail(r, "the writer did not block");
	return PASS;
}

static int check_landed(struct fx *f, struct waiter *w, const char *by, struct res *r)
{
	if (!waiter_wait(w, WAIT_MS))
		return rfail(r, "the writer is still blocked %d ms after %s", WAIT_MS, by);
	if (f->A[8] != 0x5a)
		return rfail(r, "the write did not land: byte %#x", (unsigned char)f->A[8]);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* the row table                                                       */

struct row {
	int op;
	const char *name;
	unsigned int types;
	unsigned int flags;
	int rng;
	uint64_t mode;
	short want[NKINDS];
	int (*fn)(struct fx *f, const struct row *rw, struct res *r);
};

static int want_of(const struct row *rw, const struct fx *f)
{
	return decode_want(rw->want[f->mt->kind]);
}

static int r_generic(struct fx *f, const struct row *rw, struct res *r)
{
	unsigned long s, l, src = (unsigned long)f->src;

	range_of(f, rw->rng, &s, &l);
	if (rw->flags & SRC_HOLE)
		src = (unsigned long)f->A - 4 * f->u;
	if (rw->flags & SRC_BEYOND)
		src = HOSTILE_ADDR;
	return expect(r, do_op(f->uffd, rw->op, s, l, rw->mode, src, NULL), want_of(rw, f));
}

/*
 * Register M and N together.  On success the ioctls returned are those of
 * the most restrictive VMA: hugetlb gives UFFD_API_RANGE_IOCTLS_BASIC, a
 * regular file only WAKE and WRITEPROTECT (the series), CONTINUE only with
 * MODE_MINOR (userfaultfd_register()).
 */
static int r_cross(struct fx *f, const struct row *rw, struct res *r)
{
	const uint64_t b = 1;
	uint64_t ioctls = 0, want_ioctls;
	unsigned long s, l;
	int e, rc;

	range_of(f, RG_CROSS, &s, &l);
	e = uffd_register(f->uffd, (void *)s, l, rw->mode, &ioctls);
	rc = expect(r, e, want_of(rw, f));
	if (rc || e)
		return rc;
	switch (f->mt->kind) {
	case K_ANON:
	case K_FSHARED:
	case K_FPRIVATE:
		want_ioctls = b << _UFFDIO_WAKE | b << _UFFDIO_WRITEPROTECT;
		break;
	case K_HUGE:
		want_ioctls = UFFD_API_RANGE_IOCTLS_BASIC & ~(b << _UFFDIO_CONTINUE);
		break;
	default:
		want_ioctls = UFFD_API_RANGE_IOCTLS & ~(b << _UFFDIO_CONTINUE);
		break;
	}
	if (ioctls != want_ioctls)
		return rfail(r, "ioctls %#llx, want %#llx", (unsigned long long)ioctls,
			     (unsigned long long)want_ioctls);
	rnote(r, "ioctls %#llx", (unsigned long long)ioctls);
	return PASS;
}

/* EBUSY: the VMA is already owned by another uffd (userfaultfd_register()) */
static int r_busy(struct fx *f, const struct row *rw, struct res *r)
{
	int u2 = uffd_open(0, NULL);

	if (u2 < 0)
		return rfail(r, "second userfaultfd: %s", strerror(-u2));
	return expect(r, uffd_register(u2, f->A, f->len, rw->mode, NULL), want_of(rw, f));
}

/*
 * A MAP_SHARED mapping of a read-only fd has VM_MAYWRITE cleared (do_mmap():
 * "if (!(file->f_mode & FMODE_WRITE)) vm_flags &= ~(VM_MAYWRITE | VM_SHARED)"),
 * and userfaultfd_register() refuses it with EPERM ("if (unlikely(!(cur->vm_flags
 * & VM_MAYWRITE)))"), since UFFDIO_COPY could fill holes of the file.  A
 * MAP_PRIVATE mapping keeps VM_MAYWRITE (COW): registration succeeds.
 */
static int r_rdonly(struct fx *f, const struct row *rw, struct res *r)
{
	char path[64];
	int ro, e;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return rfail(r, "reopen read-only: %m");
	e = map_mt(f->mt, f->A, f->len, ro, PROT_READ);
	if (e)
		return rfail(r, "mmap of the read-only fd: %s", strerror(e));
	return expect(r, uffd_register(f->uffd, f->A, f->len, rw->mode, NULL),
		      want_of(rw, f));
}

/*
 * A write-sealed memfd (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE) can only be
 * mapped MAP_SHARED read-only, and then without VM_MAYWRITE (mm/memfd.c
 * check_write_seal(): "*vm_flags_ptr &= ~VM_MAYWRITE"): EPERM at
 * registration, like a read-only fd.  Private mappings are not affected.
 */
static int r_seal(struct fx *f, const struct row *rw, struct res *r)
{
	void *p;
	int e;

	/* drop the writable shared mapping: F_SEAL_WRITE needs none (EBUSY) */
	p = mmap(f->A, f->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return rfail(r, "unmap: %m");
	if (fcntl(f->fd, F_ADD_SEALS, (int)rw->mode))
		return rfail(r, "F_ADD_SEALS(%#x): %m", (int)rw->mode);
	e = map_mt(f->mt, f->A, f->len, f->fd, PROT_READ);
	if (e)
		return rfail(r, "mmap of the sealed memfd: %s", strerror(e));
	return expect(r, uffd_register(f->uffd, f->A, f->len, UFFDIO_REGISTER_MODE_WP, NULL),
		      want_of(rw, f));
}

/*
 * UFFDIO_UNREGISTER while a writer is blocked in a WP fault: the range is
 * unprotected (userfaultfd_clear_vma() -> uffd_wp_range(.., false)) but the
 * writer is NOT woken: userfaultfd_unregister() calls wake_userfault() only
 * "if (userfaultfd_missing(vma))".  It sleeps until UFFDIO_WAKE (which needs
 * no registration) or close(); it then retries the fault and the write
 * lands without being reported again.
 */
static int r_unreg_blocked(struct fx *f, const struct row *rw, struct res *r)
{
	struct waiter w;
	int rc, e;

	rc = block_writer(f, &w, r);
	if (rc)
		return rc;
	rc = expect(r, uffd_unregister(f->uffd, f->A, f->len), want_of(rw, f));
	if (rc)
		return rc;
	if (waiter_wait(&w, STAY_BLOCKED_MS))
		return rfail(r, "UFFDIO_UNREGISTER woke the writer blocked in a WP fault, "
			     "but fs/userfaultfd.c wakes only VM_UFFD_MISSING ranges");
	e = uffd_wake(f->uffd, f->A, f->u);
	if (e)
		return rfail(r, "UFFDIO_WAKE after unregister: %s", strerror(e));
	rc = check_landed(f, &w, "UFFDIO_WAKE", r);
	if (!rc)
		rnote(r, "writer stayed blocked until UFFDIO_WAKE, then the write landed");
	return rc;
}

/* the MISSING counterpart: userfaultfd_unregister() wakes the reader */
static int r_unreg_missing(struct fx *f, const struct row *rw, struct res *r)
{
	struct uffd_msg m;
	struct waiter w;
	int rc, e;

	if (waiter_start(&w, f->A + 3 * f->u, false, 0))
		return rfail(r, "pthread_create failed");
	e = wait_msg(f->uffd, &m, WAIT_MS);
	if (e)
		return rfail(r, "the missing fault was not reported: %s", strerror(e));
	if (m.event != UFFD_EVENT_PAGEFAULT || (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
		return rfail(r, "unexpected message: event %#x flags %#llx", m.event,
			     (unsigned long long)m.arg.pagefault.flags);
	rc = expect(r, uffd_unregister(f->uffd, f->A, f->len), want_of(rw, f));
	if (rc)
		return rc;
	if (!waiter_wait(&w, WAIT_MS))
		return rfail(r, "the reader blocked in a MISSING fault was not woken by "
			     "UFFDIO_UNREGISTER");
	if (w.seen != 0)
		return rfail(r, "the reader saw %#x, want 0", (unsigned char)w.seen);
	rnote(r, "the blocked reader was woken and read 0");
	return PASS;
}

/* close() of the uffd: userfaultfd_release() unprotects and wakes everything */
static int r_close_blocked(struct fx *f, const struct row *rw, struct res *r)
{
	struct waiter w;
	int rc;

	rc = block_writer(f, &w, r);
	if (rc)
		return rc;
	rc = expect(r, close(f->uffd) ? errno : 0, want_of(rw, f));
	f->uffd = -1;
	if (rc)
		return rc;
	rc = check_landed(f, &w, "close()", r);
	if (!rc)
		rnote(r, "the blocked writer was woken and the write landed");
	return rc;
}

/* SIGBUS catcher for the beyond-EOF accesses */
static sigjmp_buf bus_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_env, 1);
}

static bool access_sigbus(volatile char *p, bool write)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile bool hit = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_env, 1))
		hit = true;
	else if (write)
		*p = 1;
	else
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return hit;
}

/*
 * After the file shrank to one unit, [A+u, A+4u) is beyond EOF but still
 * inside the VMA.  mwriteprotect_range() only looks at VMAs: it succeeds
 * (and installs pte markers); accessing those pages is still SIGBUS (the
 * fault goes through the marker to ->fault(), which finds no page), not a
 * userfault, and un-protecting succeeds too.
 */
static int r_wp_eof(struct fx *f, const struct row *rw, struct res *r)
{
	unsigned long s = (unsigned long)f->A + f->u, l = 3 * f->u;
	int rc, e;

	if (ftruncate(f->fd, f->u))
		return rfail(r, "ftruncate: %m");
	rc = expect(r, uffd_wp(f->uffd, (void *)s, l, true), want_of(rw, f));
	if (rc)
		return rc;
	if (!access_sigbus(f->A + 2 * f->u, false))
		return rfail(r, "reading beyond EOF did not raise SIGBUS");
	if (!access_sigbus(f->A + 3 * f->u, true))
		return rfail(r, "writing beyond EOF did not raise SIGBUS");
	e = uffd_wp(f->uffd, (void *)s, l, false);
	if (e)
		return rfail(r, "UFFDIO_WRITEPROTECT(0) beyond EOF: %s", strerror(e));
	rnote(r, "reads and writes beyond EOF are SIGBUS; un-protect succeeds");
	return PASS;
}

/*
 * The mapping, not the fd, is what userfaultfd works on: with the fd
 * closed, unregister/register/protect work and a write is still reported
 * and resolved.
 */
static int r_fd_closed(struct fx *f, const struct row *rw, struct res *r)
{
	struct waiter w;
	int rc, e;

	close(f->fd);
	f->fd = -1;
	e = uffd_unregister(f->uffd, f->A, f->len);
	if (e)
		return rfail(r, "UFFDIO_UNREGISTER after close: %s", strerror(e));
	rc = expect(r, uffd_register(f->uffd, f->A, f->len, UFFDIO_REGISTER_MODE_WP, NULL),
		    want_of(rw, f));
	if (rc)
		return rc;
	rc = block_writer(f, &w, r);
	if (rc)
		return rc;
	e = uffd_wp(f->uffd, f->A, f->u, false);
	if (e)
		return rfail(r, "UFFDIO_WRITEPROTECT(0): %s", strerror(e));
	rc = check_landed(f, &w, "UFFDIO_WRITEPROTECT(0)", r);
	if (!rc)
		rnote(r, "re-registered after close(fd); the write was reported and landed");
	return rc;
}

/*
 * PAGEMAP_SCAN on M.  pagemap_scan_test_walk(): a VMA without async uffd-wp
 * is "-EPERM" under PM_SCAN_CHECK_WPASYNC and silently skipped under
 * PM_SCAN_WP_MATCHING (a sync registration is not wp_allowed).
 */
static int r_scan(struct fx *f, const struct row *rw, struct res *r)
{
	struct page_region v[8];
	struct pm_scan_arg a = {
		.size = sizeof(a), .flags = rw->mode,
		.start = (unsigned long)f->A, .end = (unsigned long)f->A + f->len,
		.vec = (unsigned long)v, .vec_len = 8,
		.return_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT,
	};
	long n;
	int pm, rc;

	if (rw->mode & PM_SCAN_WP_MATCHING)
		a.category_mask = PAGE_IS_WRITTEN;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return rfail(r, "open /proc/self/pagemap: %m");
	n = ioctl(pm, PAGEMAP_SCAN, &a);
	rc = expect(r, n < 0 ? errno : 0, want_of(rw, f));
	if (rc || n < 0)
		return rc;
	if (n != 0)
		return rfail(r, "%ld regions reported, want 0 (VMA skipped)", n);
	if (a.walk_end != a.end)
		return rfail(r, "walk_end %#llx, want %#llx", (unsigned long long)a.walk_end,
			     (unsigned long long)a.end);
	rnote(r, "0 regions, VMA skipped");
	return PASS;
}

/*
 * A uffd whose mm is gone: a child creates it, registers its copy of M,
 * passes it over a unix socket (SCM_RIGHTS) and exits.  The ctx keeps the
 * mm_struct (mmgrab() in new_userfaultfd()), so validate_range() still
 * reads mm->task_size, but mmget_not_zero() fails: userfaultfd_register()
 * and userfaultfd_unregister() return ENOMEM ("ret = -ENOMEM; if
 * (!mmget_not_zero(mm))"), WRITEPROTECT, COPY, ZEROPAGE and CONTINUE
 * ESRCH ("} else { return -ESRCH; }"), and UFFDIO_WAKE, which never looks
 * at the mm, succeeds.
 */
static int r_mm_exited(struct fx *f, const struct row *rw, struct res *r)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct msghdr mh = { 0 };
	struct iovec iov;
	struct cmsghdr *c;
	unsigned long s = (unsigned long)f->A, l = f->u;
	int sv[2], child_e = -1, fd = -1, status, got;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv))
		return rfail(r, "socketpair: %m");
	pid = fork();
	if (pid < 0)
		return rfail(r, "fork: %m");
	if (pid == 0) {
		int u2 = uffd_open(0, NULL), e;

		e = u2 < 0 ? -u2 : uffd_register(u2, f->A, f->len, UFFDIO_REGISTER_MODE_WP,
						 NULL);
		iov = (struct iovec){ &e, sizeof(e) };
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (u2 >= 0) {
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &u2, sizeof(int));
		}
		_exit(sendmsg(sv[1], &mh, 0) < 0 ? 1 : 0);
	}
	iov = (struct iovec){ &child_e, sizeof(child_e) };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	if (recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC) < 0)
		return rfail(r, "recvmsg: %m");
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (waitpid(pid, &status, 0) != pid)
		return rfail(r, "waitpid: %m");
	if (child_e)
		return rfail(r, "the child could not register: %s",
			     child_e > 0 ? strerror(child_e) : "no message");
	if (fd < 0)
		return rfail(r, "no uffd received");
	switch (rw->op) {
	case OP_REG:
	case OP_UNREG:
	case OP_WP:
		l = f->len;
		break;
	case OP_COPY:
		s += 3 * f->u;
		break;
	}
	got = do_op(fd, rw->op, s, l, rw->op == OP_REG ? UFFDIO_REGISTER_MODE_WP :
		    rw->op == OP_WP ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
		    (unsigned long)f->src, NULL);
	return expect(r, got, want_of(rw, f));
}

#define WP		UFFDIO_REGISTER_MODE_WP
#define MISSING		UFFDIO_REGISTER_MODE_MISSING
#define MINOR		UFFDIO_REGISTER_MODE_MINOR
#define FILE_KD		KD(0, EINVAL)	/* file VMA: ok with the series */
#define WPM		UFFDIO_WRITEPROTECT_MODE_WP

static const struct row rows[] = {
	/*
	 * UFFDIO_REGISTER (fs/userfaultfd.c userfaultfd_register()):
	 * "if (!uffdio_register.mode)" and "mode & ~UFFD_API_REGISTER_MODES"
	 * -> EINVAL; validate_range(): start or len not page aligned, len 0,
	 * start >= TASK_SIZE, "len > task_size - start" (covers wrapping)
	 * -> EINVAL; "vma = vma_find(&vmi, end); if (!vma)" -> EINVAL (nothing
	 * mapped).  Holes inside the range are NOT checked: the VMAs found are
	 * registered (for_each_vma_range()).  Each VMA must pass
	 * vma_can_userfault() (EINVAL): MINOR only on shmem/hugetlb; a regular
	 * file only with the series and only MODE_WP.  hugetlb: start of the
	 * first VMA and end of the last must be huge page aligned (EINVAL).
	 */
	{ OP_REG, "unaligned-start", T_ALL, 0, RG_UNALIGNED_START, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "zero-len", T_ALL, 0, RG_ZERO_LEN, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "wrapping-range", T_ALL, 0, RG_WRAP, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "beyond-task-size", T_ALL, 0, RG_BEYOND, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "unmapped", T_ALL, 0, RG_UNMAPPED, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "partly-unmapped-head", T_ALL, 0, RG_HOLE_HEAD, WP,
	  W6(0, 0, 0, 0, FILE_KD, FILE_KD), NULL },
	{ OP_REG, "partly-unmapped-tail", T_ALL, 0, RG_HOLE_TAIL, WP,
	  W6(0, 0, 0, 0, FILE_KD, FILE_KD), NULL },
	{ OP_REG, "cross-vma", T_ALL, NB, RG_CROSS, WP,
	  W6(FILE_KD, 0, 0, 0, FILE_KD, FILE_KD), r_cross },
	{ OP_REG, "cross-vma-mode-missing", T_ALL, NB, RG_CROSS, MISSING,
	  W6(EINVAL, 0, 0, 0, EINVAL, EINVAL), NULL },
	{ OP_REG, "mode-0", T_ALL, 0, RG_WHOLE, 0, ALLW(EINVAL), NULL },
	{ OP_REG, "unknown-mode-bit", T_ALL, 0, RG_WHOLE, WP | (1 << 3), ALLW(EINVAL), NULL },
	{ OP_REG, "mode-missing", T_ALL, 0, RG_WHOLE, MISSING,
	  W6(0, 0, 0, 0, EINVAL, EINVAL), NULL },
	{ OP_REG, "mode-minor", T_ALL, 0, RG_WHOLE, MINOR,
	  W6(EINVAL, 0, 0, 0, EINVAL, EINVAL), NULL },
	{ OP_REG, "mode-missing-wp", T_ALL, 0, RG_WHOLE, MISSING | WP,
	  W6(0, 0, 0, 0, EINVAL, EINVAL), NULL },
	{ OP_REG, "mode-minor-wp", T_ALL, 0, RG_WHOLE, MINOR | WP,
	  W6(EINVAL, 0, 0, 0, EINVAL, EINVAL), NULL },
	{ OP_REG, "owned-by-other-uffd", T_ALL, REG_WP, RG_WHOLE, WP, ALLW(EBUSY), r_busy },
	{ OP_REG, "readonly-fd", T_FD, 0, RG_WHOLE, WP,
	  W6(NA, EPERM, 0, NA, KD(EPERM, EINVAL), FILE_KD), r_rdonly },
	{ OP_REG, "sealed-F_SEAL_WRITE", T(K_SHMEM) | T(K_SHMEMP), 0, RG_WHOLE,
	  F_SEAL_WRITE, W6(NA, EPERM, 0, NA, NA, NA), r_seal },
	{ OP_REG, "sealed-F_SEAL_FUTURE_WRITE", T(K_SHMEM) | T(K_SHMEMP), 0, RG_WHOLE,
	  F_SEAL_FUTURE_WRITE, W6(NA, EPERM, 0, NA, NA, NA), r_seal },
	{ OP_REG, "hugetlb-unaligned-start", T(K_HUGE), 0, RG_HUGE_START, WP, ALLW(EINVAL), NULL },
	{ OP_REG, "hugetlb-unaligned-len", T(K_HUGE), 0, RG_HUGE_LEN, WP, ALLW(EINVAL), NULL },

	/*
	 * UFFDIO_UNREGISTER (userfaultfd_unregister()): validate_range() and
	 * "if (!vma)" as for REGISTER (EINVAL); every VMA of the range must pass
	 * vma_can_userfault(cur, cur->vm_flags, ..) even when it is not
	 * registered, so on the base kernel a plain file VMA makes it EINVAL;
	 * unregistered VMAs are otherwise skipped (0).  hugetlb: only the start
	 * is checked; an unaligned end fails when the VMA is split
	 * (hugetlb_vm_op_split(): EINVAL).
	 */
	{ OP_UNREG, "unaligned-start", T_ALL, 0, RG_UNALIGNED_START, 0, ALLW(EINVAL), NULL },
	{ OP_UNREG, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_UNREG, "zero-len", T_ALL, 0, RG_ZERO_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_UNREG, "wrapping-range", T_ALL, 0, RG_WRAP, 0, ALLW(EINVAL), NULL },
	{ OP_UNREG, "beyond-task-size", T_ALL, 0, RG_BEYOND, 0, ALLW(EINVAL), NULL },
	{ OP_UNREG, "unmapped", T_ALL, 0, RG_UNMAPPED, 0, ALLW(EINVAL), NULL },
	{ OP_UNREG, "unregistered-range", T_ALL, 0, RG_WHOLE, 0,
	  W6(0, 0, 0, 0, FILE_KD, FILE_KD), NULL },
	{ OP_UNREG, "partly-unmapped-tail", T_ALL, REG_WP, RG_HOLE_TAIL, 0, ALLW(0), NULL },
	{ OP_UNREG, "cross-vma", T_ALL, NB, RG_CROSS, 0,
	  W6(FILE_KD, 0, 0, 0, FILE_KD, FILE_KD), NULL },
	{ OP_UNREG, "hugetlb-unaligned-start", T(K_HUGE), REG_WP, RG_HUGE_START, 0,
	  ALLW(EINVAL), NULL },
	{ OP_UNREG, "hugetlb-unaligned-len", T(K_HUGE), REG_WP, RG_HUGE_LEN, 0,
	  ALLW(EINVAL), NULL },
	{ OP_UNREG, "while-writer-blocked-in-wp-fault", T_ALL, REG_WP, RG_WHOLE, 0, ALLW(0),
	  r_unreg_blocked },
	{ OP_UNREG, "while-reader-blocked-in-missing-fault", T_NONFILE, REG_MISSING,
	  RG_WHOLE, 0, ALLW(0), r_unreg_missing },

	/*
	 * UFFDIO_WRITEPROTECT (userfaultfd_writeprotect()): validate_range()
	 * (EINVAL), "mode & ~(DONTWAKE | WP)" (EINVAL), "mode_wp &&
	 * mode_dontwake" (EINVAL); then mwriteprotect_range(): "err = -ENOENT;
	 * for_each_vma_range(..) if (!userfaultfd_wp(dst_vma)) -ENOENT" -- so
	 * nothing mapped is ENOENT, holes between registered VMAs are skipped
	 * (0), an unregistered VMA in the range is ENOENT (after protecting
	 * the VMAs before it); hugetlb: "(start & page_mask) || (len &
	 * page_mask)" -> EINVAL.
	 */
	{ OP_WP, "unaligned-start", T_ALL, 0, RG_UNALIGNED_START, WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "zero-len", T_ALL, 0, RG_ZERO_LEN, WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "wrapping-range", T_ALL, 0, RG_WRAP, WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "beyond-task-size", T_ALL, 0, RG_BEYOND, WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "unknown-mode-bit", T_ALL, 0, RG_UNIT0, 1 << 2, ALLW(EINVAL), NULL },
	{ OP_WP, "mode-wp-with-dontwake", T_ALL, 0, RG_UNIT0,
	  WPM | UFFDIO_WRITEPROTECT_MODE_DONTWAKE, ALLW(EINVAL), NULL },
	{ OP_WP, "unregistered-range", T_ALL, 0, RG_WHOLE, WPM, ALLW(ENOENT), NULL },
	{ OP_WP, "unmapped", T_ALL, 0, RG_UNMAPPED, WPM, ALLW(ENOENT), NULL },
	{ OP_WP, "partly-unmapped-head", T_ALL, REG_WP, RG_HOLE_HEAD, WPM, ALLW(0), NULL },
	{ OP_WP, "partly-unmapped-tail", T_ALL, REG_WP, RG_HOLE_TAIL, WPM, ALLW(0), NULL },
	{ OP_WP, "cross-vma-unregistered-neighbour", T_ALL, REG_WP | NB, RG_CROSS,
	  WPM, ALLW(ENOENT), NULL },
	{ OP_WP, "missing-only-range", T_NONFILE, REG_MISSING, RG_WHOLE, WPM, ALLW(ENOENT), NULL },
	{ OP_WP, "hugetlb-unaligned-start", T(K_HUGE), REG_WP, RG_HUGE_START,
	  WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "hugetlb-unaligned-len", T(K_HUGE), REG_WP, RG_HUGE_LEN, WPM, ALLW(EINVAL), NULL },
	{ OP_WP, "beyond-eof-after-truncate", T_FD, REG_WP, RG_WHOLE, 0, ALLW(0), r_wp_eof },
	{ OP_WP, "after-fd-closed", T_FD, REG_WP, RG_WHOLE, 0, ALLW(0), r_fd_closed },

	/*
	 * UFFDIO_COPY (userfaultfd_copy()): validate_unaligned_range(src) and
	 * validate_range(dst) (EINVAL), "mode & ~(DONTWAKE|WP)" (EINVAL).
	 * mfill_atomic(): uffd_mfill_lock() -> ENOENT when no VMA holds dst,
	 * when dst+len passes its end, or when it is not registered
	 * (validate_dst_vma()); "(flags & MFILL_ATOMIC_WP) && !(vm_flags &
	 * VM_UFFD_WP)" -> EINVAL; "!vma_is_anonymous(dst_vma) &&
	 * !vma_is_shmem(dst_vma)" -> EINVAL: that is a registered regular file
	 * range (WP only, the series): EINVAL is right since the range IS
	 * registered (no ENOENT) but no page can be filled into a file.  The
	 * registration mode is not checked: a WP-only anon/shmem/hugetlb range
	 * accepts UFFDIO_COPY into a hole (0) and gives EEXIST on a present
	 * page (mfill_atomic_install_pte() "if (!pte_none_mostly(..))",
	 * shmem_add_to_page_cache(), hugetlb "!huge_pte_none_mostly()").  An
	 * unreadable source is EFAULT (the copy_from_user() retry).  shmem
	 * beyond EOF: "if (unlikely(pgoff >= max_off))" / mfill_file_over_size()
	 * -> EFAULT.
	 */
	{ OP_COPY, "unaligned-dst", T_ALL, 0, RG_UNALIGNED_START, 0, ALLW(EINVAL), NULL },
	{ OP_COPY, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_COPY, "zero-len", T_ALL, 0, RG_ZERO_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_COPY, "wrapping-range", T_ALL, 0, RG_WRAP, 0, ALLW(EINVAL), NULL },
	{ OP_COPY, "dst-beyond-task-size", T_ALL, 0, RG_BEYOND, 0, ALLW(EINVAL), NULL },
	{ OP_COPY, "src-beyond-task-size", T_ALL, SRC_BEYOND, RG_UNIT0, 0, ALLW(EINVAL), NULL },
	{ OP_COPY, "unknown-mode-bit", T_ALL, 0, RG_UNIT0, 1 << 2, ALLW(EINVAL), NULL },
	{ OP_COPY, "unregistered-range", T_ALL, 0, RG_UNIT3, 0, ALLW(ENOENT), NULL },
	{ OP_COPY, "unmapped", T_ALL, 0, RG_UNMAPPED, 0, ALLW(ENOENT), NULL },
	{ OP_COPY, "partly-unmapped-head", T_ALL, 0, RG_HOLE_HEAD, 0, ALLW(ENOENT), NULL },
	{ OP_COPY, "partly-unmapped-tail", T_ALL, REG_WP, RG_HOLE_TAIL, 0, ALLW(ENOENT), NULL },
	{ OP_COPY, "cross-vma", T_ALL, REG_WP | NB, RG_CROSS, 0, ALLW(ENOENT), NULL },
	{ OP_COPY, "wp-only-range-present-page", T_ALL, REG_WP, RG_UNIT0, 0,
	  W6(EEXIST, EEXIST, EEXIST, EEXIST, EINVAL, EINVAL), NULL },
	{ OP_COPY, "wp-only-range-hole", T_ALL, REG_WP, RG_UNIT3, 0,
	  W6(0, 0, 0, 0, EINVAL, EINVAL), NULL },
	{ OP_COPY, "src-unmapped", T_ALL, REG_WP | SRC_HOLE, RG_UNIT3, 0,
	  W6(EFAULT, EFAULT, EFAULT, EFAULT, EINVAL, EINVAL), NULL },
	{ OP_COPY, "mode-wp-on-missing-only-range", T_NONFILE, REG_MISSING, RG_UNIT3,
	  UFFDIO_COPY_MODE_WP, ALLW(EINVAL), NULL },
	{ OP_COPY, "beyond-eof-after-truncate", T_FD, REG_WP | TRUNC, RG_UNIT3, 0,
	  W6(NA, EFAULT, EFAULT, NA, EINVAL, EINVAL), NULL },

	/*
	 * UFFDIO_ZEROPAGE (userfaultfd_zeropage()): validate_range() and
	 * "mode & ~DONTWAKE" (EINVAL), then mfill_atomic() as for COPY, plus
	 * mfill_atomic_hugetlb(): "There is no default zero huge page" -> EINVAL.
	 */
	{ OP_ZERO, "unaligned-start", T_ALL, 0, RG_UNALIGNED_START, 0, ALLW(EINVAL), NULL },
	{ OP_ZERO, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_ZERO, "zero-len", T_ALL, 0, RG_ZERO_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_ZERO, "wrapping-range", T_ALL, 0, RG_WRAP, 0, ALLW(EINVAL), NULL },
	{ OP_ZERO, "beyond-task-size", T_ALL, 0, RG_BEYOND, 0, ALLW(EINVAL), NULL },
	{ OP_ZERO, "unknown-mode-bit", T_ALL, 0, RG_UNIT0, 1 << 1, ALLW(EINVAL), NULL },
	{ OP_ZERO, "unregistered-range", T_ALL, 0, RG_UNIT3, 0, ALLW(ENOENT), NULL },
	{ OP_ZERO, "unmapped", T_ALL, 0, RG_UNMAPPED, 0, ALLW(ENOENT), NULL },
	{ OP_ZERO, "partly-unmapped-head", T_ALL, 0, RG_HOLE_HEAD, 0, ALLW(ENOENT), NULL },
	{ OP_ZERO, "partly-unmapped-tail", T_ALL, REG_WP, RG_HOLE_TAIL, 0, ALLW(ENOENT), NULL },
	{ OP_ZERO, "cross-vma", T_ALL, REG_WP | NB, RG_CROSS, 0, ALLW(ENOENT), NULL },
	{ OP_ZERO, "wp-only-range-present-page", T_ALL, REG_WP, RG_UNIT0, 0,
	  W6(EEXIST, EEXIST, EEXIST, EINVAL, EINVAL, EINVAL), NULL },
	{ OP_ZERO, "wp-only-range-hole", T_ALL, REG_WP, RG_UNIT3, 0,
	  W6(0, 0, 0, EINVAL, EINVAL, EINVAL), NULL },
	{ OP_ZERO, "beyond-eof-after-truncate", T_FD, REG_WP | TRUNC, RG_UNIT3, 0,
	  W6(NA, EFAULT, EFAULT, NA, EINVAL, EINVAL), NULL },

	/*
	 * UFFDIO_CONTINUE (userfaultfd_continue()): validate_range() and
	 * "mode & ~(DONTWAKE|WP)" (EINVAL); mfill_atomic() as for COPY, plus
	 * "!vma_is_shmem(dst_vma) && MFILL_ATOMIC_CONTINUE" -> EINVAL (anon);
	 * shmem: mfill_atomic_pte_continue() turns the SGP_NOALLOC miss into
	 * EFAULT and a present pte is EEXIST; hugetlb:
	 * filemap_lock_hugetlb_folio() finds no page-cache folio for a private
	 * mapping -> EFAULT.
	 */
	{ OP_CONT, "unaligned-start", T_ALL, 0, RG_UNALIGNED_START, 0, ALLW(EINVAL), NULL },
	{ OP_CONT, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_CONT, "zero-len", T_ALL, 0, RG_ZERO_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_CONT, "wrapping-range", T_ALL, 0, RG_WRAP, 0, ALLW(EINVAL), NULL },
	{ OP_CONT, "beyond-task-size", T_ALL, 0, RG_BEYOND, 0, ALLW(EINVAL), NULL },
	{ OP_CONT, "unknown-mode-bit", T_ALL, 0, RG_UNIT0, 1 << 2, ALLW(EINVAL), NULL },
	{ OP_CONT, "unregistered-range", T_ALL, 0, RG_UNIT0, 0, ALLW(ENOENT), NULL },
	{ OP_CONT, "unmapped", T_ALL, 0, RG_UNMAPPED, 0, ALLW(ENOENT), NULL },
	{ OP_CONT, "partly-unmapped-head", T_ALL, 0, RG_HOLE_HEAD, 0, ALLW(ENOENT), NULL },
	{ OP_CONT, "partly-unmapped-tail", T_ALL, REG_WP, RG_HOLE_TAIL, 0, ALLW(ENOENT), NULL },
	{ OP_CONT, "cross-vma", T_ALL, REG_WP | NB, RG_CROSS, 0, ALLW(ENOENT), NULL },
	{ OP_CONT, "wp-only-range-present-page", T_ALL, REG_WP, RG_UNIT0, 0,
	  W6(EINVAL, EEXIST, EEXIST, EFAULT, EINVAL, EINVAL), NULL },
	{ OP_CONT, "wp-only-range-hole", T_ALL, REG_WP, RG_UNIT3, 0,
	  W6(EINVAL, EFAULT, EFAULT, EFAULT, EINVAL, EINVAL), NULL },
	{ OP_CONT, "mode-wp-on-missing-only-range", T_NONFILE, REG_MISSING, RG_UNIT0,
	  UFFDIO_CONTINUE_MODE_WP, ALLW(EINVAL), NULL },

	/*
	 * UFFDIO_WAKE (userfaultfd_wake()): only validate_range() (EINVAL; a
	 * zero length would mean "wake all"); no VMA is looked up: an unmapped
	 * or unregistered range is 0.
	 */
	{ OP_WAKE, "unaligned-start", T_ALL, 0, RG_UNALIGNED_START, 0, ALLW(EINVAL), NULL },
	{ OP_WAKE, "unaligned-len", T_ALL, 0, RG_UNALIGNED_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_WAKE, "zero-len", T_ALL, 0, RG_ZERO_LEN, 0, ALLW(EINVAL), NULL },
	{ OP_WAKE, "wrapping-range", T_ALL, 0, RG_WRAP, 0, ALLW(EINVAL), NULL },
	{ OP_WAKE, "beyond-task-size", T_ALL, 0, RG_BEYOND, 0, ALLW(EINVAL), NULL },
	{ OP_WAKE, "unmapped", T_ALL, 0, RG_UNMAPPED, 0, ALLW(0), NULL },
	{ OP_WAKE, "unregistered-range", T_ALL, 0, RG_WHOLE, 0, ALLW(0), NULL },

	/* PAGEMAP_SCAN on M (see r_scan()) */
	{ OP_SCAN, "CHECK_WPASYNC-unregistered", T_ALL, 0, RG_WHOLE, PM_SCAN_CHECK_WPASYNC,
	  ALLW(EPERM), r_scan },
	{ OP_SCAN, "CHECK_WPASYNC-sync-wp-range", T_ALL, REG_WP, RG_WHOLE,
	  PM_SCAN_CHECK_WPASYNC, ALLW(EPERM), r_scan },
	{ OP_SCAN, "WP_MATCHING-sync-wp-range", T_ALL, REG_WP, RG_WHOLE, PM_SCAN_WP_MATCHING,
	  ALLW(0), r_scan },

	/* the mm of the uffd exited (see r_mm_exited()) */
	{ OP_REG, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(ENOMEM), r_mm_exited },
	{ OP_UNREG, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(ENOMEM), r_mm_exited },
	{ OP_WP, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(ESRCH), r_mm_exited },
	{ OP_COPY, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(ESRCH), r_mm_exited },
	{ OP_ZERO, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(ESRCH), r_mm_exited },
	{ OP_CONT, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(ESRCH), r_mm_exited },
	{ OP_WAKE, "after-mm-exit", T_ALL, NEEDFEAT, 0, 0, ALLW(0), r_mm_exited },

	/* close() of the uffd with a writer blocked (see r_close_blocked()) */
	{ OP_CLOSE, "while-writer-blocked-in-wp-fault", T_ALL, REG_WP, RG_WHOLE, 0, ALLW(0),
	  r_close_blocked },
};

#define NR_ROWS	(int)(sizeof(rows) / sizeof(rows[0]))

/* ------------------------------------------------------------------ */
/* global rows                                                         */

struct grow {
	const char *label;
	const char *ioctl;
	const char *name;
	int arg;
	short want;
	int (*fn)(const struct grow *g, struct res *r);
	bool nonroot;		/* changes the sysctl / device mode */
};

static int g_capability(const struct grow *g, struct res *r)
{
	(void)g;
	rnote(r, "UFFD_FEATURE_WP_FILE %s, expected %s", have_wp_file ? "advertised" :
	      "not advertised", expect_wp ? "yes" : "no");
	r->got = r->want = 0;
	if (have_wp_file != expect_wp)
		return rfail(r, "UFFD_FEATURE_WP_FILE is %s but UFFDWP_EXPECT_WP_FILE=%d",
			     have_wp_file ? "advertised" : "missing", expect_wp);
	return PASS;
}

/*
 * UFFDIO_API (userfaultfd_api()): "uffdio_api.api != UFFD_API" -> EINVAL;
 * EVENT_FORK without CAP_SYS_PTRACE -> EPERM; "features &
 * ~uffdio_api.features" -> EINVAL; a second call: "cmpxchg(&ctx->features,
 * 0, ctx_features) != 0" -> EINVAL.  Every failure zeroes the user's struct
 * (err_out: memset + copy_to_user).  A failed call does not initialise the
 * context (the cmpxchg is the last step), so it can be retried.
 */
enum { API_BADAPI, API_BIT63, API_BIT21, API_WPFILE, API_TWICE, API_RETRY, API_NULL,
       API_FORK, API_HANDOFF, API_BIT20, API_IOCTL9 };

static int g_api(const struct grow *g, struct res *r)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd, e, rc;

	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return rfail(r, "userfaultfd: %s", strerror(-fd));
	switch (g->arg) {
	case API_BADAPI:
		api.api = 0xab;
		break;
	case API_BIT63:
		api.features = 1ULL << 63;
		break;
	case API_BIT21:
		api.features = 1ULL << 21;
		break;
	case API_HANDOFF:
		api.features = UFFD_FEATURE_WAKE_ON_CURRENT_CPU |
			       UFFD_FEATURE_BUSY_POLL;
		break;
	case API_BIT20:
		/* UFFD_FEATURE_WP_RESOLVE of earlier versions of the series */
		api.features = 1ULL << 20;
		break;
	case API_IOCTL9: {
		/* ioctl number 9: UFFDIO_WP_RESOLVE of earlier versions */
		struct { uint64_t start, len, mode; unsigned char msg[32]; } res = { };

		if (ioctl(fd, UFFDIO_API, &api))
			return rfail(r, "UFFDIO_API: %m");
		e = ioctl(fd, _IOWR(UFFDIO, 0x09, res), &res) ? errno : 0;
		close(fd);
		return expect(r, e, decode_want(g->want));
	}
	case API_WPFILE:
		api.features = UFFD_FEATURE_WP_FILE;
		break;
	case API_TWICE:
		if (ioctl(fd, UFFDIO_API, &api))
			return rfail(r, "first UFFDIO_API: %m");
		api = (struct uffdio_api){ .api = UFFD_API };
		break;
	case API_RETRY:
		api.features = 1ULL << 63;
		if (!ioctl(fd, UFFDIO_API, &api) || errno != EINVAL)
			return rfail(r, "first UFFDIO_API with an unknown feature: %m");
		api = (struct uffdio_api){ .api = UFFD_API };
		break;
	case API_NULL:
		return expect(r, ioctl(fd, UFFDIO_API, NULL) ? errno : 0, g->want);
	case API_FORK:
		if (geteuid())
			return rskip(r, "needs root (CAP_SYS_PTRACE)");
		api.features = UFFD_FEATURE_EVENT_FORK;
		break;
	}
	api.ioctls = 0xdead;
	e = ioctl(fd, UFFDIO_API, &api) ? errno : 0;
	rc = expect(r, e, decode_want(g->want));
	if (rc)
		return rc;
	if (e && (api.features || api.ioctls || api.api))
		return rfail(r, "the failed UFFDIO_API left api %#llx features %#llx ioctls "
			     "%#llx, want all zero", (unsigned long long)api.api,
			     (unsigned long long)api.features, (unsigned long long)api.ioctls);
	if (e)
		rnote(r, "struct zeroed");
	if (!e && g->arg == API_WPFILE && !(api.features & UFFD_FEATURE_WP_FILE))
		return rfail(r, "features %#llx lack UFFD_FEATURE_WP_FILE",
			     (unsigned long long)api.features);
	return PASS;
}

/* userfaultfd_ioctl(): "cmd != UFFDIO_API && !userfaultfd_is_initialized(ctx)" */
static int g_before_api(const struct grow *g, struct res *r)
{
	char *buf = mmap(NULL, 4 * psize, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 || buf == MAP_FAILED)
		return rfail(r, "setup: %m");
	return expect(r, do_op(fd, g->arg, (unsigned long)buf, psize,
			       g->arg == OP_REG ? UFFDIO_REGISTER_MODE_WP : 0,
			       (unsigned long)buf + psize, NULL), g->want);
}

enum { MISC_UNKNOWN_IOCTL, MISC_SYS_FLAGS, MISC_DEV_FLAGS, MISC_DEV_IOCTL };

static int g_misc(const struct grow *g, struct res *r)
{
	int fd, dev, e;

	switch (g->arg) {
	case MISC_UNKNOWN_IOCTL:	/* userfaultfd_ioctl(): "int ret = -EINVAL" */
		fd = uffd_open(0, NULL);
		if (fd < 0)
			return rfail(r, "userfaultfd: %s", strerror(-fd));
		return expect(r, ioctl(fd, _IO(UFFDIO, 0x3f)) ? errno : 0, g->want);
	case MISC_SYS_FLAGS:	/* new_userfaultfd(): "flags & ~(..)" */
		fd = sys_userfaultfd(O_CLOEXEC | 0x10);
		return expect(r, fd < 0 ? -fd : 0, g->want);
	}
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return rskip(r, "cannot open /dev/userfaultfd: %m");
	if (g->arg == MISC_DEV_FLAGS)	/* same new_userfaultfd() check */
		e = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | 0x10) < 0 ? errno : 0;
	else	/* userfaultfd_dev_ioctl(): "cmd != USERFAULTFD_IOC_NEW" */
		e = ioctl(dev, _IO(0xAA, 0x3f)) < 0 ? errno : 0;
	return expect(r, e, g->want);
}

/*
 * PAGEMAP_SCAN arguments (fs/proc/task_mmu.c pagemap_scan_get_args()):
 * copy_from_user (EFAULT); "arg->size != sizeof(struct pm_scan_arg)",
 * "flags & ~PM_SCAN_FLAGS", any category mask "& ~PM_SCAN_CATEGORIES",
 * "!IS_ALIGNED(arg->start, PAGE_SIZE)" -> EINVAL; "!access_ok(start, end -
 * start)" -> EFAULT (end < start makes the size wrap, an end beyond user
 * space fails too); "!arg->vec && arg->vec_len" -> EINVAL; "!access_ok(vec,
 * vec_len * sizeof(struct page_region))" -> EFAULT.  vec_len 0 with a vec
 * is allowed (no output, returns 0); start == end walks nothing (0).
 * do_pagemap_scan(): "if (!mmget_not_zero(mm)) return -ESRCH" first;
 * do_pagemap_cmd(): other commands EINVAL; a /proc file without
 * ->unlocked_ioctl: ENOTTY (vfs_ioctl()).
 */
enum { PM_SIZE0, PM_SIZE_SHORT, PM_SIZE_LONG, PM_FLAG, PM_CAT_MASK, PM_CAT_INV,
       PM_CAT_ANY, PM_RET_MASK, PM_UNALIGNED, PM_END_BEFORE, PM_END_BEYOND, PM_VEC_NULL,
       PM_VEC_LEN0, PM_VEC_KERNEL, PM_EMPTY, PM_NULL, PM_CMD, PM_EXITED, PM_NOT_PAGEMAP };

static int g_pagemap(const struct grow *g, struct res *r)
{
	char *buf = mmap(NULL, 4 * psize, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct page_region v[4];
	struct pm_scan_arg a;
	long n;
	int pm, e, rc;

	if (buf == MAP_FAILED)
		return rfail(r, "mmap: %m");
	memset(buf, 1, 4 * psize);
	a = (struct pm_scan_arg){
		.size = sizeof(a), .start = (unsigned long)buf,
		.end = (unsigned long)buf + 4 * psize, .vec = (unsigned long)v,
		.vec_len = 4, .return_mask = PAGE_IS_PRESENT,
	};
	if (g->arg == PM_EXITED) {
		char path[64];
		int p[2], status;
		pid_t pid;

		if (pipe(p))
			return rfail(r, "pipe: %m");
		pid = fork();
		if (pid < 0)
			return rfail(r, "fork: %m");
		if (pid == 0) {
			char c;

			close(p[1]);
			_exit(read(p[0], &c, 1) < 0);
		}
		close(p[0]);
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
		pm = open(path, O_RDONLY | O_CLOEXEC);
		close(p[1]);
		waitpid(pid, &status, 0);
		if (pm < 0)
			return rfail(r, "open %s: %m", path);
	} else if (g->arg == PM_NOT_PAGEMAP) {
		pm = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	} else {
		pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	}
	if (pm < 0)
		return rfail(r, "open: %m");

	switch (g->arg) {
	case PM_SIZE0:		a.size = 0; break;
	case PM_SIZE_SHORT:	a.size = sizeof(a) - 8; break;
	case PM_SIZE_LONG:	a.size = sizeof(a) + 8; break;
	case PM_FLAG:		a.flags = 1ULL << 63; break;
	case PM_CAT_MASK:	a.category_mask = 1ULL << 63; break;
	case PM_CAT_INV:	a.category_inverted = 1ULL << 63; break;
	case PM_CAT_ANY:	a.category_anyof_mask = 1ULL << 63; break;
	case PM_RET_MASK:	a.return_mask |= 1ULL << 63; break;
	case PM_UNALIGNED:	a.start += 1; break;
	case PM_END_BEFORE:	a.start += 2 * psize; a.end = (unsigned long)buf; break;
	case PM_END_BEYOND:	a.end = HOSTILE_ADDR; break;
	case PM_VEC_NULL:	a.vec = 0; a.vec_len = 1; break;
	case PM_VEC_LEN0:	a.vec_len = 0; break;
	case PM_VEC_KERNEL:	a.vec = KERNEL_ADDR; a.vec_len = 1; break;
	case PM_EMPTY:		a.end = a.start; break;
	}
	if (g->arg == PM_NULL)
		n = ioctl(pm, PAGEMAP_SCAN, NULL);
	else if (g->arg == PM_CMD)
		n = ioctl(pm, _IOWR('f', 99, struct pm_scan_arg), &a);
	else
		n = ioctl(pm, PAGEMAP_SCAN, &a);
	e = n < 0 ? errno : 0;
	rc = expect(r, e, g->want);
	if (rc || e)
		return rc;
	if (n != 0)
		return rfail(r, "returned %ld regions, want 0", n);
	if (a.walk_end != a.end)
		return rfail(r, "walk_end %#llx, want end %#llx", (unsigned long long)a.walk_end,
			     (unsigned long long)a.end);
	rnote(r, "0 regions, walk_end = end");
	return PASS;
}

/* ---- non-root ---------------------------------------------------- */

static int write_sysctl(const char *val)
{
	int fd = open("/proc/sys/vm/unprivileged_userfaultfd", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? errno : 0;
}

/* fn runs as the unprivileged user in a child; its return value (an errno) */
static int as_user(int (*fn)(void), struct res *r)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -rfail(r, "fork: %m");
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(user_gid) || setuid(user_uid) ||
		    geteuid() != user_uid)
			_exit(255);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -rfail(r, "the unprivileged child failed (status %#x)", status);
	if (WEXITSTATUS(status) == 255)
		return -rfail(r, "cannot switch to uid %d", (int)user_uid);
	return WEXITSTATUS(status);
}

static int u_uffd_kernel(void)
{
	int fd = sys_userfaultfd(O_CLOEXEC);

	return fd < 0 ? -fd : 0;
}

static int u_uffd_user(void)
{
	int fd = uffd_open_flags(O_CLOEXEC | UFFD_USER_MODE_ONLY, 0, NULL);

	return fd < 0 ? -fd : 0;
}

static int u_event_fork(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_FORK };
	int fd = sys_userfaultfd(O_CLOEXEC | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return 254;
	return ioctl(fd, UFFDIO_API, &api) ? errno : 0;
}

static int u_dev_open(void)
{
	int fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	return fd < 0 ? errno : 0;
}

static int u_dev_new(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC), fd;

	if (dev < 0)
		return errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
	if (fd < 0)
		return errno;
	return ioctl(fd, UFFDIO_API, &api) ? errno : 0;
}

/*
 * userfaultfd_syscall_allowed(): UFFD_USER_MODE_ONLY is always allowed;
 * otherwise CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1, else EPERM.
 * /dev/userfaultfd bypasses the sysctl: only its file mode gates it
 * (misc device, 0600 root by default -> EACCES for others).
 */
enum { NR_SYS0_KERNEL, NR_SYS0_USER, NR_SYS1_KERNEL, NR_SYS1_USER, NR_FORK, NR_DEV0600,
       NR_DEV0666 };

static int g_nonroot(const struct grow *g, struct res *r)
{
	static const char *const sysval[] = {
		[NR_SYS0_KERNEL] = "0", [NR_SYS0_USER] = "0", [NR_SYS1_KERNEL] = "1",
		[NR_SYS1_USER] = "1", [NR_FORK] = "1", [NR_DEV0600] = "1", [NR_DEV0666] = "0",
	};
	static int (*const fns[])(void) = {
		[NR_SYS0_KERNEL] = u_uffd_kernel, [NR_SYS0_USER] = u_uffd_user,
		[NR_SYS1_KERNEL] = u_uffd_kernel, [NR_SYS1_USER] = u_uffd_user,
		[NR_FORK] = u_event_fork, [NR_DEV0600] = u_dev_open, [NR_DEV0666] = u_dev_new,
	};
	int e;

	if (geteuid() != 0 || !user_name)
		return rskip(r, "needs root and UFFDWP_USER (changes vm.unprivileged_userfaultfd)");
	e = write_sysctl(sysval[g->arg]);
	if (e)
		return rfail(r, "cannot set vm.unprivileged_userfaultfd: %s", strerror(e));
	if (g->arg == NR_DEV0600 || g->arg == NR_DEV0666) {
		if (!devmode_saved)
			return rskip(r, "no /dev/userfaultfd");
		if (chmod("/dev/userfaultfd", g->arg == NR_DEV0600 ? 0600 : 0666))
			return rfail(r, "chmod /dev/userfaultfd: %m");
	}
	e = as_user(fns[g->arg], r);
	if (e < 0)
		return FAIL;
	return expect(r, e, g->want);
}

/* put vm.unprivileged_userfaultfd and /dev/userfaultfd back; false on failure */
static bool restore_system(void)
{
	char now[16] = "";
	struct stat st;
	bool ok = true;
	FILE *f;

	if (sysctl_orig[0]) {
		write_sysctl(sysctl_orig);
		f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
		if (!f || !fgets(now, sizeof(now), f) || strcmp(now, sysctl_orig)) {
			diag("vm.unprivileged_userfaultfd not restored to %s", sysctl_orig);
			ok = false;
		}
		if (f)
			fclose(f);
	}
	if (devmode_saved &&
	    (chmod("/dev/userfaultfd", devmode_orig) || stat("/dev/userfaultfd", &st) ||
	     (st.st_mode & 07777) != devmode_orig)) {
		diag("mode of /dev/userfaultfd not restored to %#o", (unsigned int)devmode_orig);
		ok = false;
	}
	return ok;
}

static const struct grow grows[] = {
	{ "global", "UFFDIO_API", "wp-file-capability-as-expected", 0, 0, g_capability, false },
	{ "global", "UFFDIO_API", "bad-api-version", API_BADAPI, EINVAL, g_api, false },
	{ "global", "UFFDIO_API", "unknown-feature-bit-63", API_BIT63, EINVAL, g_api, false },
	{ "global", "UFFDIO_API", "unknown-feature-bit-21", API_BIT21, EINVAL, g_api, false },
	{ "global", "UFFDIO_API", "unknown-feature-bit-20", API_BIT20, EINVAL, g_api, false },
	{ "global", "UFFDIO_API", "features-WAKE_ON_CURRENT_CPU|BUSY_POLL-bits-18-19",
	  API_HANDOFF, HD(0, EINVAL), g_api, false },
	{ "global", "ioctl", "unknown-ioctl-9", API_IOCTL9, EINVAL, g_api, false },
	{ "global", "UFFDIO_API", "feature-WP_FILE-bit-17", API_WPFILE, KD(0, EINVAL),
	  g_api, false },
	{ "global", "UFFDIO_API", "called-twice", API_TWICE, EINVAL, g_api, false },
	{ "global", "UFFDIO_API", "retry-after-failed-call", API_RETRY, 0, g_api, false },
	{ "global", "UFFDIO_API", "null-argument", API_NULL, EFAULT, g_api, false },
	{ "global", "UFFDIO_API", "EVENT_FORK-as-root", API_FORK, 0, g_api, false },
	{ "global", "UFFDIO_REGISTER", "before-UFFDIO_API", OP_REG, EINVAL, g_before_api, false },
	{ "global", "UFFDIO_UNREGISTER", "before-UFFDIO_API", OP_UNREG, EINVAL,
	  g_before_api, false },
	{ "global", "UFFDIO_WRITEPROTECT", "before-UFFDIO_API", OP_WP, EINVAL,
	  g_before_api, false },
	{ "global", "UFFDIO_COPY", "before-UFFDIO_API", OP_COPY, EINVAL, g_before_api, false },
	{ "global", "UFFDIO_ZEROPAGE", "before-UFFDIO_API", OP_ZERO, EINVAL, g_before_api, false },
	{ "global", "UFFDIO_CONTINUE", "before-UFFDIO_API", OP_CONT, EINVAL, g_before_api, false },
	{ "global", "UFFDIO_WAKE", "before-UFFDIO_API", OP_WAKE, EINVAL, g_before_api, false },
	{ "global", "ioctl", "unknown-uffd-command", MISC_UNKNOWN_IOCTL, EINVAL, g_misc, false },
	{ "global", "userfaultfd()", "unknown-flags", MISC_SYS_FLAGS, EINVAL, g_misc, false },
	{ "global", "USERFAULTFD_IOC_NEW", "unknown-flags", MISC_DEV_FLAGS, EINVAL, g_misc, false },
	{ "global", "/dev/userfaultfd", "unknown-ioctl", MISC_DEV_IOCTL, EINVAL, g_misc, false },
	{ "anon", "PAGEMAP_SCAN", "size-0", PM_SIZE0, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "size-short", PM_SIZE_SHORT, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "size-long", PM_SIZE_LONG, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "unknown-flag", PM_FLAG, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "unknown-category_mask-bit", PM_CAT_MASK, EINVAL, g_pagemap,
	  false },
	{ "anon", "PAGEMAP_SCAN", "unknown-category_inverted-bit", PM_CAT_INV, EINVAL,
	  g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "unknown-category_anyof_mask-bit", PM_CAT_ANY, EINVAL,
	  g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "unknown-return_mask-bit", PM_RET_MASK, EINVAL, g_pagemap,
	  false },
	{ "anon", "PAGEMAP_SCAN", "unaligned-start", PM_UNALIGNED, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "end-before-start", PM_END_BEFORE, EFAULT, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "end-beyond-user-space", PM_END_BEYOND, EFAULT, g_pagemap,
	  false },
	{ "anon", "PAGEMAP_SCAN", "vec-null-with-vec_len", PM_VEC_NULL, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "vec-with-vec_len-0", PM_VEC_LEN0, 0, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "vec-kernel-address", PM_VEC_KERNEL, EFAULT, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "empty-range", PM_EMPTY, 0, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "null-argument", PM_NULL, EFAULT, g_pagemap, false },
	{ "anon", "ioctl", "unknown-pagemap-command", PM_CMD, EINVAL, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "pagemap-of-exited-process", PM_EXITED, ESRCH, g_pagemap, false },
	{ "anon", "PAGEMAP_SCAN", "on-/proc/self/maps", PM_NOT_PAGEMAP, ENOTTY, g_pagemap, false },
	{ "nonroot", "userfaultfd()", "unprivileged_userfaultfd=0-kernel-faults",
	  NR_SYS0_KERNEL, EPERM, g_nonroot, true },
	{ "nonroot", "userfaultfd()", "unprivileged_userfaultfd=0-UFFD_USER_MODE_ONLY",
	  NR_SYS0_USER, 0, g_nonroot, true },
	{ "nonroot", "userfaultfd()", "unprivileged_userfaultfd=1-kernel-faults",
	  NR_SYS1_KERNEL, 0, g_nonroot, true },
	{ "nonroot", "userfaultfd()", "unprivileged_userfaultfd=1-UFFD_USER_MODE_ONLY",
	  NR_SYS1_USER, 0, g_nonroot, true },
	{ "nonroot", "UFFDIO_API", "EVENT_FORK-without-CAP_SYS_PTRACE", NR_FORK, EPERM,
	  g_nonroot, true },
	{ "nonroot", "open", "/dev/userfaultfd-mode-0600", NR_DEV0600, EACCES, g_nonroot, true },
	{ "nonroot", "USERFAULTFD_IOC_NEW", "/dev/userfaultfd-mode-0666-sysctl-0", NR_DEV0666,
	  0, g_nonroot, true },
};

#define NR_GROWS	(int)(sizeof(grows) / sizeof(grows[0]))

/* ------------------------------------------------------------------ */
/* runner: every row in its own process group, with a hard timeout     */

static int64_t start_ms, budget_ms;

typedef int (*row_fn)(const void *arg);

/* fn in a process of its own; its result, the diagnostics in *R */
static int run_row(row_fn fn, const void *arg, int timeout_ms)
{
	struct isolated iso;
	int rc;

	memset(R, 0, sizeof(*R));
	R->got = R->want = NO_RESULT;
	rc = run_isolated(fn, arg, timeout_ms, &iso);
	if (iso.why[0])
		rfail(R, "the row %s", iso.why);
	return rc;
}

static void report(int rc, const char *label, const char *ioctl_name, const char *name)
{
	char b1[48], b2[48], *line, *save = NULL;

	if (rc == SKIP) {
		tap_result(rc, R->msg, "%s %s %s", label, ioctl_name, name);
		return;
	}
	if (rc == PASS) {
		tap_result(rc, NULL, "%s %s %s: %s%s%s", label, ioctl_name, name,
			   ename(R->got, b1, sizeof(b1)), R->note[0] ? "; " : "", R->note);
		return;
	}
	if (R->got != NO_RESULT && R->got != R->want)
		tap_result(FAIL, NULL, "%s %s %s: got %s, want %s", label, ioctl_name, name,
			   ename(R->got, b1, sizeof(b1)), ename(R->want, b2, sizeof(b2)));
	else
		tap_result(FAIL, NULL, "%s %s %s", label, ioctl_name, name);
	for (line = strtok_r(R->msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
}

static int timeout_left(void)
{
	int64_t left = budget_ms - (now_ms() - start_ms);

	return left < ROW_TIMEOUT_MS ? (int)left : ROW_TIMEOUT_MS;
}

struct mrow_arg {
	const struct memtype *mt;
	const struct row *rw;
};

static int run_mrow(const void *arg)
{
	const struct mrow_arg *a = arg;
	struct fx f;
	int rc;

	rc = fx_setup(&f, a->mt, a->rw->flags, R);
	if (rc)
		return rc;
	return a->rw->fn ? a->rw->fn(&f, a->rw, R) : r_generic(&f, a->rw, R);
}

static int run_grow(const void *arg)
{
	const struct grow *g = arg;

	return g->fn(g, R);
}

static bool needs_file_reg(const struct row *rw)
{
	return rw->flags & (REG_WP | NEEDFEAT);
}

static void run_memtype_row(const struct memtype *mt, const struct row *rw)
{
	struct mrow_arg a = { mt, rw };
	int rc;

	memset(R, 0, sizeof(*R));
	R->got = R->want = NO_RESULT;
	if (mt->kind == K_HUGE && !hugetlb_ok) {
		rc = rskip(R, "%s", hugetlb_reason);
	} else if (is_file_kind(mt->kind) && needs_file_reg(rw) && !have_wp_file) {
		if (expect_wp)
			rc = rfail(R, "UFFD_FEATURE_WP_FILE is expected but not advertised: "
				   "the file range cannot be registered for WP");
		else
			rc = rskip(R, "needs sync uffd-wp on files, absent from this kernel "
				   "(expected)");
	} else if (timeout_left() <= 0) {
		rc = rfail(R, "time budget of %lld s exhausted", (long long)budget_ms / 1000);
	} else {
		rc = run_row(run_mrow, &a, timeout_left());
	}
	report(rc, mt->label, op_name[rw->op], rw->name);
}

static void run_global_row(const struct grow *g)
{
	int rc;

	if (timeout_left() <= 0) {
		memset(R, 0, sizeof(*R));
		R->got = R->want = NO_RESULT;
		rc = rfail(R, "time budget exhausted");
	} else {
		rc = run_row(run_grow, g, timeout_left());
	}
	if (g->nonroot)
		restore_system();
	report(rc, g->label, g->ioctl, g->name);
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

static void add_memtype(const char *fmt, const char *name, enum kind k, const char *dir)
{
	struct memtype *mt = &memtypes[nr_memtypes++];

	snprintf(mt->label, sizeof(mt->label), fmt, name);
	mt->kind = k;
	mt->dir = dir;
}

static void parse_fs(void)
{
	struct test_fs fs[MAX_TEST_FS];
	int i, n = parse_test_fs(fs, MAX_TEST_FS);

	add_memtype("%s", "anon", K_ANON, NULL);
	add_memtype("%s", "shmem", K_SHMEM, NULL);
	add_memtype("%s", "shmem-private", K_SHMEMP, NULL);
	add_memtype("%s", "hugetlb", K_HUGE, NULL);
	for (i = 0; i < n; i++) {
		add_memtype("file-shared:%s", fs[i].name, K_FSHARED, fs[i].dir);
		add_memtype("file-private:%s", fs[i].name, K_FPRIVATE, fs[i].dir);
	}
	nb_dir = n ? fs[0].dir : ".";
}

static void probe_hugetlb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long kb = 0, nfree = -1;
	void *p;

	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "Hugepagesize: %ld kB", &kb);
		sscanf(line, "HugePages_Free: %ld", &nfree);
	}
	if (f)
		fclose(f);
	hpsize = kb > 0 ? (size_t)kb * 1024 : 2UL << 20;
	p = mmap(NULL, 4 * hpsize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED) {
		snprintf(hugetlb_reason, sizeof(hugetlb_reason),
			 "no hugetlb pages can be allocated (HugePages_Free %ld, mmap: %s)",
			 nfree, strerror(errno));
		return;
	}
	munmap(p, 4 * hpsize);
	hugetlb_ok = true;
}

static void probe_user(void)
{
	const char *name = getenv("UFFDWP_USER");
	struct passwd *pw;
	struct stat st;
	FILE *f;

	if (!name || !*name)
		return;
	user_name = name;
	pw = getpwnam(name);
	user_uid = pw ? pw->pw_uid : 4242;
	user_gid = pw ? pw->pw_gid : 4242;
	f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	if (f) {
		if (!fgets(sysctl_orig, sizeof(sysctl_orig), f))
			sysctl_orig[0] = 0;
		fclose(f);
	}
	if (!stat("/dev/userfaultfd", &st)) {
		devmode_orig = st.st_mode & 07777;
		devmode_saved = true;
	}
}

static bool row_applies(const struct row *rw, const struct memtype *mt)
{
	return rw->types & T(mt->kind);
}

int main(void)
{
	const char *b = getenv("UFFDWP_BUDGET");
	uint64_t features = 0;
	int i, k, plan, e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	start_ms = now_ms();
	budget_ms = (b && atoi(b) > 0 ? atoi(b) : DEFAULT_BUDGET_S) * 1000LL;
	expect_wp = expect_wp_file();
	R = mmap(NULL, sizeof(*R), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (R == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	parse_fs();
	plan = NR_GROWS;
	for (i = 0; i < nr_memtypes; i++)
		for (k = 0; k < NR_ROWS; k++)
			plan += row_applies(&rows[k], &memtypes[i]);
	tap_plan(plan);

	e = uffd_features(&features);
	have_wp_file = features & UFFD_FEATURE_WP_FILE;
	probe_hugetlb();
	probe_user();
	diag("kernel UFFDIO_API features %#llx; UFFD_FEATURE_WP_FILE %s, expected %s",
	     (unsigned long long)features, have_wp_file ? "advertised" : "not advertised",
	     expect_wp ? "yes" : "no");
	diag("%d memory types, %d rows each at most, %d global rows; anon's cross-vma "
	     "neighbour: file-shared in %s; hugetlb: %s", nr_memtypes, NR_ROWS, NR_GROWS,
	     nb_dir, hugetlb_ok ? "ok" : hugetlb_reason);
	if (e)
		diag("userfaultfd unavailable: %s", strerror(e));

	for (i = 0; i < NR_GROWS; i++)
		run_global_row(&grows[i]);
	for (i = 0; i < nr_memtypes; i++)
		for (k = 0; k < NR_ROWS; k++)
			if (row_applies(&rows[k], &memtypes[i]))
				run_memtype_row(&memtypes[i], &rows[k]);
	if (!restore_system())
		tap.fail++;

	return tap_totals(start_ms);
}
