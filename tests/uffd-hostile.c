// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-hostile: invalid and hostile userfaultfd / PAGEMAP_SCAN calls.
 *
 * A table of rows, each one call with bad arguments or in a hostile
 * situation, run on the memory types of tests/lib/mem.c named in
 * type_names[]: anon, shmem (memfd MAP_SHARED), shmem-private (memfd
 * MAP_PRIVATE), hugetlb-private (hugetlb memfd MAP_PRIVATE, 2 MiB pages)
 * and file-shared / file-private on every file system of UFFDWP_FS.  Every
 * row asserts the exact errno (or the documented behaviour) that the kernel
 * source gives; the expected values were read in fs/userfaultfd.c,
 * mm/userfaultfd.c, mm/hugetlb.c, mm/shmem.c, mm/memfd.c and
 * fs/proc/task_mmu.c of Linux 6.12 (+ this series) and the check that
 * produces each one is cited next to its row group.  A table of global rows
 * (UFFDIO_API, calls before UFFDIO_API, PAGEMAP_SCAN argument checks,
 * non-root access) runs once.
 *
 * Each row is a case of tests/lib/cases.h: a process of its own with a
 * fresh mapping and a fresh userfaultfd, under a hard timeout, so a crash
 * or a hang is one failing row, not a stuck test.  Rows that block a thread
 * in a fault always resolve it with a timeout.
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
 * UFFDWP_EXPECT_WP_FILE=0 and fail when it is 1 (expect_or_skip()).  Rows
 * whose expected errno differs between the base kernel and the series (a
 * file VMA is refused by vma_can_userfault() on the base) assert the value
 * of the expected kernel.
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
#include "mem.h"
#include "cases.h"

#define ROW_TIMEOUT_S		15	/* hard limit for one row process */
#define WAIT_MS			5000	/* longest wait for a fault / a wake-up */
#define STAY_BLOCKED_MS		300	/* "still blocked" observation window */
#define DEFAULT_BUDGET_S	400	/* the debug kernel on a slow host needs ~120 s */
#define NOTE_LEN		120
#define HOSTILE_ADDR		(1UL << 62)	/* above TASK_SIZE, 4 and 5 levels */
#define KERNEL_ADDR		0xffff888000000000UL
#define NO_RESULT		INT_MIN

/* ------------------------------------------------------------------ */
/* memory types                                                        */

/*
 * The rows of tests/lib/mem.c the table runs on.  The THP rows are left
 * out (the layout below is four base pages), and so is the shared
 * "hugetlb" row: the rows' expectations for hugetlb were read for a
 * private mapping.  A name added here runs every row whose kinds (KIND()
 * below) include its kind, expecting what the row says for its name, else
 * for its kind, else the row's default (struct want): no row needs an edit
 * unless the new type behaves unlike its kind.
 */
static const char *const type_names[] = {
	"anon", "shmem", "shmem-private", "hugetlb-private", "file-shared", "file-private",
	NULL
};

/* a memory type of the run and its label in point names */
struct memtype {
	struct mem_type t;
	char label[64];		/* "anon", "hugetlb-private", "file-shared:ext4" */
};

static struct memtype memtypes[MEM_MAX_TYPES];
static int nr_memtypes;

/* the kinds of memory a row runs on (a mask of enum mem_kind bits) */
#define KIND(k)		(1u << (k))
#define ALL		(KIND(MEM_ANON) | KIND(MEM_SHMEM) | KIND(MEM_HUGETLB) | KIND(MEM_FILE))
#define NOT_FILE	(ALL & ~KIND(MEM_FILE))
/* rows that reopen, seal, truncate or close the fd (not read for hugetlb) */
#define SHMEM_FILE	(KIND(MEM_SHMEM) | KIND(MEM_FILE))

/* the name of a kind in struct want: "file" for every file row */
static const char *const kind_name[] = {
	[MEM_ANON] = "anon", [MEM_SHMEM] = "shmem", [MEM_HUGETLB] = "hugetlb",
	[MEM_FILE] = "file",
};

static size_t psize;
static bool have_wp_file, expect_wp, hugetlb_ok;
static char hugetlb_reason[160];
static struct mem_type nb_type;	/* anon's neighbour: file-shared on the first fs */
static uid_t user_uid;
static gid_t user_gid;
static const char *user_name;
static struct knob k_unpriv = { .path = "/proc/sys/vm/unprivileged_userfaultfd" };
static mode_t devmode_orig;
static bool devmode_saved;

/* ------------------------------------------------------------------ */
/* a row's result (in its case process)                                */

struct res {
	int got;		/* errno observed, 0 for success */
	int want;		/* errno expected */
	char note[NOTE_LEN];	/* what else was verified (printed when ok) */
};

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

/* "success", "errno EINVAL", "no result" */
static const char *ename(int e, char *buf, size_t len)
{
	const char *n;

	if (e == 0)
		return "success";
	if (e == NO_RESULT)
		return "no result";
	n = errno_name(e);
	if (!strncmp(n, "errno ", 6))
		return n;
	snprintf(buf, len, "errno %s", n);
	return buf;
}

/*
 * The end of a row's case: the result for the ok line ("errno EINVAL;
 * note") or why it failed.
 */
static int finish(struct res *r, int rc)
{
	char b1[48], b2[48];

	if (rc == PASS)
		case_note("%s%s%s", ename(r->got, b1, sizeof(b1)), r->note[0] ? "; " : "",
			  r->note);
	else if (rc == FAIL && r->got != NO_RESULT && r->got != r->want)
		fail("got %s, want %s", ename(r->got, b1, sizeof(b1)),
		     ename(r->want, b2, sizeof(b2)));
	return rc;
}

/* ------------------------------------------------------------------ */
/* expected values                                                     */

/*
 * An expected errno is a short: the errno, or KD(s, b), a value that
 * depends on the expected kernel: s with UFFD_FEATURE_WP_FILE (the
 * series), b without (the base), where a regular file VMA is refused by
 * vma_can_userfault() before any other check.
 */
#define KD(s, b)	((short)(0x4000 | ((s) << 7) | (b)))
/* the same for the hand-off features (UFFDWP_EXPECT_HANDOFF) */
#define HD(s, b)	((short)(0x2000 | ((s) << 7) | (b)))

static int decode_want(short v)
{
	if (v & 0x4000)
		return expect_wp ? (v >> 7) & 0x3f : v & 0x7f;
	if (v & 0x2000)
		return expect_handoff() ? (v >> 7) & 0x3f : v & 0x7f;
	return v;
}

/*
 * What a row expects on some memory types, unlike its default: type is
 * the name of a row of tests/lib/mem.c ("shmem-private", "file-shared")
 * or of a kind (kind_name[]: "anon", "shmem", "hugetlb", "file").  A
 * memory type takes the entry with its own name, else the entry with its
 * kind's name, else the row's default: a new type of an existing kind
 * takes what its kind expects (a name that is both, "shmem", is the kind).
 */
struct want {
	const char *type;
	short err;
};

#define MAX_OVER	4

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

struct fx {
	const struct memtype *mt;
	struct mem_region m;	/* M's backing object: m.fd, -1 for anon */
	size_t u, len;
	char *A;
	char *src;		/* one unit of prefaulted anon memory */
	int uffd;
};

/* map fd (anon: none) with the sharing of mt at addr (MAP_FIXED) */
static int map_at(const struct mem_type *mt, char *addr, size_t len, int fd, int prot)
{
	int fl = MAP_FIXED | (mt->shared ? MAP_SHARED : MAP_PRIVATE);

	if (mt->kind == MEM_ANON) {
		fl |= MAP_ANONYMOUS;
		fd = -1;
	}
	return mmap(addr, len, prot, fl, fd, 0) == MAP_FAILED ? errno : 0;
}

/* the backing object of t, len bytes, its file (if any) already removed */
static int backing(struct mem_region *m, const struct mem_type *t, size_t len, const char *tag)
{
	int e = mem_create(m, t, len, tag);

	if (e)
		return fail("setup: create %s backing: %s", t->name, strerror(e));
	mem_unlink(m);
	return PASS;
}

static int fx_setup(struct fx *f, const struct memtype *mt, unsigned int flags)
{
	size_t u = mem_page_size(&mt->t), res_len = 17 * u, used;
	char *res, *base;
	int e;

	memset(f, 0, sizeof(*f));
	f->mt = mt;
	f->u = u;
	f->len = 4 * u;
	f->uffd = -1;

	/* the source buffer first, so that it never lands in the holes */
	f->src = mmap(NULL, u, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->src == MAP_FAILED)
		return fail("setup: mmap source: %m");
	memset(f->src, 0x77, u);

	res = mmap(NULL, res_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return fail("setup: reserve: %m");
	base = (char *)(((unsigned long)res + u - 1) & ~(u - 1));
	f->A = base + 4 * u;

	TRY(backing(&f->m, &mt->t, f->len, "uffd-hostile"));
	e = map_at(&mt->t, f->A, f->len, f->m.fd, PROT_READ | PROT_WRITE);
	if (e)
		return fail("setup: mmap %s: %s", mt->label, strerror(e));

	used = 4 * u;
	if (flags & NB) {
		char *n = f->A + 4 * u;
		struct mem_region nb;

		if (mt->t.kind == MEM_ANON) {
			/* a regular file mapping next to anonymous memory */
			TRY(backing(&nb, &nb_type, 4 * psize, "uffd-hostile-nb"));
			e = map_at(&nb_type, n, 4 * u, nb.fd, PROT_READ | PROT_WRITE);
		} else {
			e = mmap(n, 4 * u, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ?
			    errno : 0;
		}
		if (e)
			return fail("setup: mmap neighbour: %s", strerror(e));
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
		return fail("setup: userfaultfd: %s", strerror(-f->uffd));
	if (flags & (REG_WP | REG_MISSING)) {
		uint64_t mode = flags & REG_WP ? UFFDIO_REGISTER_MODE_WP :
						 UFFDIO_REGISTER_MODE_MISSING;

		e = uffd_register(f->uffd, f->A, f->len, mode, NULL);
		if (e)
			return fail("setup: UFFDIO_REGISTER(%s) of %s: %s",
				    flags & REG_WP ? "WP" : "MISSING", mt->label, strerror(e));
	}
	if (flags & TRUNC) {
		if (ftruncate(f->m.fd, u))
			return fail("setup: ftruncate to one page: %m");
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

/* a write to unit 0 of the write-protected M blocks and is reported */
static int block_writer(struct fx *f, struct waiter *w)
{
	struct uffd_msg m;
	int e;

	e = uffd_wp(f->uffd, f->A, f->len, true);
	if (e)
		return fail("setup: UFFDIO_WRITEPROTECT(WP): %s", strerror(e));
	if (waiter_start(w, f->A + 8, true, 0x5a))
		return fail("setup: pthread_create failed");
	e = uffd_wait_msg(f->uffd, &m, WAIT_MS);
	if (e)
		return fail("the write to the protected page was not reported: %s",
			     strerror(e));
	if (m.event != UFFD_EVENT_PAGEFAULT || !(m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
		return fail("unexpected message: event %#x flags %#llx", m.event,
			     (unsigned long long)m.arg.pagefault.flags);
	if (atomic_load(&w->done))
		return fail("the writer did not block");
	return PASS;
}

static int check_landed(struct fx *f, struct waiter *w, const char *by)
{
	if (!waiter_wait(w, WAIT_MS))
		return fail("the writer is still blocked %d ms after %s", WAIT_MS, by);
	if (f->A[8] != 0x5a)
		return fail("the write did not land: byte %#x", (unsigned char)f->A[8]);
	return PASS;
}

/* ------------------------------------------------------------------ */
/* the row table                                                       */

struct row {
	int op;
	const char *name;
	unsigned int kinds;	/* KIND() mask: the memory types it runs on */
	unsigned int flags;
	int rng;
	uint64_t mode;
	int (*fn)(struct fx *f, const struct row *rw, struct res *r);	/* NULL: generic */
	short want;		/* expected, unless over[] names the memory type */
	struct want over[MAX_OVER];
};

/* the expected errno of row rw on the memory type of f (see struct want) */
static int want_of(const struct row *rw, const struct fx *f)
{
	const struct mem_type *mt = &f->mt->t;
	const struct want *w, *kind = NULL;

	for (w = rw->over; w < rw->over + MAX_OVER && w->type; w++) {
		if (!strcmp(w->type, mt->name))
			return decode_want(w->err);
		if (!strcmp(w->type, kind_name[mt->kind]))
			kind = w;
	}
	return decode_want(kind ? kind->err : rw->want);
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
	switch (f->mt->t.kind) {
	case MEM_ANON:
	case MEM_FILE:
		want_ioctls = b << _UFFDIO_WAKE | b << _UFFDIO_WRITEPROTECT;
		break;
	case MEM_HUGETLB:
		want_ioctls = UFFD_API_RANGE_IOCTLS_BASIC & ~(b << _UFFDIO_CONTINUE);
		break;
	default:
		want_ioctls = UFFD_API_RANGE_IOCTLS & ~(b << _UFFDIO_CONTINUE);
		break;
	}
	if (ioctls != want_ioctls)
		return fail("ioctls %#llx, want %#llx", (unsigned long long)ioctls,
			     (unsigned long long)want_ioctls);
	rnote(r, "ioctls %#llx", (unsigned long long)ioctls);
	return PASS;
}

/* EBUSY: the VMA is already owned by another uffd (userfaultfd_register()) */
static int r_busy(struct fx *f, const struct row *rw, struct res *r)
{
	int u2 = uffd_open(0, NULL);

	if (u2 < 0)
		return fail("second userfaultfd: %s", strerror(-u2));
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

	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->m.fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return fail("reopen read-only: %m");
	e = map_at(&f->mt->t, f->A, f->len, ro, PROT_READ);
	if (e)
		return fail("mmap of the read-only fd: %s", strerror(e));
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
	int fd = memfd_create("uffd-hostile-seal", MFD_CLOEXEC | MFD_ALLOW_SEALING), e;
	void *p;

	/* mem_create()'s memfd cannot be sealed: a sealable one in its place */
	if (fd < 0 || ftruncate(fd, f->len))
		return fail("memfd_create(MFD_ALLOW_SEALING): %m");
	e = map_at(&f->mt->t, f->A, f->len, fd, PROT_READ | PROT_WRITE);
	if (e)
		return fail("mmap of the sealable memfd: %s", strerror(e));
	f->A[0] = 1;
	f->A[f->u] = 1;
	close(f->m.fd);
	f->m.fd = fd;
	/* drop the writable shared mapping: F_SEAL_WRITE needs none (EBUSY) */
	p = mmap(f->A, f->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return fail("unmap: %m");
	if (fcntl(f->m.fd, F_ADD_SEALS, (int)rw->mode))
		return fail("F_ADD_SEALS(%#x): %m", (int)rw->mode);
	e = map_at(&f->mt->t, f->A, f->len, f->m.fd, PROT_READ);
	if (e)
		return fail("mmap of the sealed memfd: %s", strerror(e));
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

	rc = block_writer(f, &w);
	if (rc)
		return rc;
	rc = expect(r, uffd_unregister(f->uffd, f->A, f->len), want_of(rw, f));
	if (rc)
		return rc;
	if (waiter_wait(&w, STAY_BLOCKED_MS))
		return fail("UFFDIO_UNREGISTER woke the writer blocked in a WP fault, "
			     "but fs/userfaultfd.c wakes only VM_UFFD_MISSING ranges");
	e = uffd_wake(f->uffd, f->A, f->u);
	if (e)
		return fail("UFFDIO_WAKE after unregister: %s", strerror(e));
	rc = check_landed(f, &w, "UFFDIO_WAKE");
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
		return fail("pthread_create failed");
	e = uffd_wait_msg(f->uffd, &m, WAIT_MS);
	if (e)
		return fail("the missing fault was not reported: %s", strerror(e));
	if (m.event != UFFD_EVENT_PAGEFAULT || (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
		return fail("unexpected message: event %#x flags %#llx", m.event,
			     (unsigned long long)m.arg.pagefault.flags);
	rc = expect(r, uffd_unregister(f->uffd, f->A, f->len), want_of(rw, f));
	if (rc)
		return rc;
	if (!waiter_wait(&w, WAIT_MS))
		return fail("the reader blocked in a MISSING fault was not woken by "
			     "UFFDIO_UNREGISTER");
	if (w.seen != 0)
		return fail("the reader saw %#x, want 0", (unsigned char)w.seen);
	rnote(r, "the blocked reader was woken and read 0");
	return PASS;
}

/* close() of the uffd: userfaultfd_release() unprotects and wakes everything */
static int r_close_blocked(struct fx *f, const struct row *rw, struct res *r)
{
	struct waiter w;
	int rc;

	rc = block_writer(f, &w);
	if (rc)
		return rc;
	rc = expect(r, close(f->uffd) ? errno : 0, want_of(rw, f));
	f->uffd = -1;
	if (rc)
		return rc;
	rc = check_landed(f, &w, "close()");
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

	if (ftruncate(f->m.fd, f->u))
		return fail("ftruncate: %m");
	rc = expect(r, uffd_wp(f->uffd, (void *)s, l, true), want_of(rw, f));
	if (rc)
		return rc;
	if (!access_sigbus(f->A + 2 * f->u, false))
		return fail("reading beyond EOF did not raise SIGBUS");
	if (!access_sigbus(f->A + 3 * f->u, true))
		return fail("writing beyond EOF did not raise SIGBUS");
	e = uffd_wp(f->uffd, (void *)s, l, false);
	if (e)
		return fail("UFFDIO_WRITEPROTECT(0) beyond EOF: %s", strerror(e));
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

	close(f->m.fd);
	f->m.fd = -1;
	e = uffd_unregister(f->uffd, f->A, f->len);
	if (e)
		return fail("UFFDIO_UNREGISTER after close: %s", strerror(e));
	rc = expect(r, uffd_register(f->uffd, f->A, f->len, UFFDIO_REGISTER_MODE_WP, NULL),
		    want_of(rw, f));
	if (rc)
		return rc;
	rc = block_writer(f, &w);
	if (rc)
		return rc;
	e = uffd_wp(f->uffd, f->A, f->u, false);
	if (e)
		return fail("UFFDIO_WRITEPROTECT(0): %s", strerror(e));
	rc = check_landed(f, &w, "UFFDIO_WRITEPROTECT(0)");
	if (!rc)
		rnote(r, "re-registered after close(fd); the write was reported and landed");
	return rc;
}

/*
 * The result of a PAGEMAP_SCAN that returned n (e: its errno): e as
 * expected and, when it succeeded, no region found and the whole range
 * walked (note for the ok line).
 */
static int expect_empty_scan(struct res *r, long n, int e, int want,
			     const struct pm_scan_arg *a, const char *note)
{
	int rc = expect(r, e, want);

	if (rc || e)
		return rc;
	if (n != 0)
		return fail("%ld regions reported, want 0", n);
	if (a->walk_end != a->end)
		return fail("walk_end %#llx, want end %#llx", (unsigned long long)a->walk_end,
			    (unsigned long long)a->end);
	rnote(r, "%s", note);
	return PASS;
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
	int pm, e;

	if (rw->mode & PM_SCAN_WP_MATCHING)
		a.category_mask = PAGE_IS_WRITTEN;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return fail("open /proc/self/pagemap: %m");
	n = ioctl(pm, PAGEMAP_SCAN, &a);
	e = n < 0 ? errno : 0;
	return expect_empty_scan(r, n, e, want_of(rw, f), &a, "0 regions, VMA skipped");
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
		return fail("socketpair: %m");
	pid = fork();
	if (pid < 0)
		return fail("fork: %m");
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
		return fail("recvmsg: %m");
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid: %m");
	if (child_e)
		return fail("the child could not register: %s",
			     child_e > 0 ? strerror(child_e) : "no message");
	if (fd < 0)
		return fail("no uffd received");
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

/*
 * A row: the call, its point name, the kinds it runs on, the fixture's
 * flags, the range, the mode, the function (NULL: r_generic()), the
 * expected result, then { "memory type or kind", expected } where a type
 * expects something else (struct want).
 */
#define ROW(op, name, kinds, flags, rng, mode, fn, want, ...)	\
	{ op, name, kinds, flags, rng, mode, fn, want, { __VA_ARGS__ } }

/*
 * validate_range() of every ioctl (EINVAL on every type): start not page
 * aligned, len not page aligned, len 0, start + len wrapping, start >=
 * TASK_SIZE.
 */
#define RANGE_ROWS(op, mode, unaligned_start, beyond)				\
	ROW(op, unaligned_start, ALL, 0, RG_UNALIGNED_START, mode, NULL, EINVAL),	\
	ROW(op, "unaligned-len", ALL, 0, RG_UNALIGNED_LEN, mode, NULL, EINVAL),	\
	ROW(op, "zero-len", ALL, 0, RG_ZERO_LEN, mode, NULL, EINVAL),		\
	ROW(op, "wrapping-range", ALL, 0, RG_WRAP, mode, NULL, EINVAL),		\
	ROW(op, beyond, ALL, 0, RG_BEYOND, mode, NULL, EINVAL)

/* hugetlb: a start or a length that is not huge page aligned (EINVAL) */
#define HUGETLB_ROWS(op, flags, mode)							\
	ROW(op, "hugetlb-unaligned-start", KIND(MEM_HUGETLB), flags, RG_HUGE_START, mode,	\
	    NULL, EINVAL),									\
	ROW(op, "hugetlb-unaligned-len", KIND(MEM_HUGETLB), flags, RG_HUGE_LEN, mode, NULL,	\
	    EINVAL)

/*
 * COPY, ZEROPAGE and CONTINUE: a mode bit they do not know (EINVAL), then
 * mfill_atomic()'s VMA lookup (ENOENT)
 */
#define MFILL_ROWS(op, unknown_mode, unregistered)					\
	ROW(op, "unknown-mode-bit", ALL, 0, RG_UNIT0, unknown_mode, NULL, EINVAL),	\
	ROW(op, "unregistered-range", ALL, 0, unregistered, 0, NULL, ENOENT),		\
	ROW(op, "unmapped", ALL, 0, RG_UNMAPPED, 0, NULL, ENOENT),			\
	ROW(op, "partly-unmapped-head", ALL, 0, RG_HOLE_HEAD, 0, NULL, ENOENT),		\
	ROW(op, "partly-unmapped-tail", ALL, REG_WP, RG_HOLE_TAIL, 0, NULL, ENOENT),	\
	ROW(op, "cross-vma", ALL, REG_WP | NB, RG_CROSS, 0, NULL, ENOENT)

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
	 * anon's cross-vma neighbour is a regular file: it expects what a file
	 * does.  A MAP_SHARED mapping of a read-only or write-sealed fd cannot
	 * be registered (EPERM, see r_rdonly() and r_seal()), a private one can.
	 */
	RANGE_ROWS(OP_REG, WP, "unaligned-start", "beyond-task-size"),
	ROW(OP_REG, "unmapped", ALL, 0, RG_UNMAPPED, WP, NULL, EINVAL),
	ROW(OP_REG, "partly-unmapped-head", ALL, 0, RG_HOLE_HEAD, WP, NULL, 0,
	    { "file", FILE_KD }),
	ROW(OP_REG, "partly-unmapped-tail", ALL, 0, RG_HOLE_TAIL, WP, NULL, 0,
	    { "file", FILE_KD }),
	ROW(OP_REG, "cross-vma", ALL, NB, RG_CROSS, WP, r_cross, 0,
	    { "anon", FILE_KD }, { "file", FILE_KD }),
	ROW(OP_REG, "cross-vma-mode-missing", ALL, NB, RG_CROSS, MISSING, NULL, 0,
	    { "anon", EINVAL }, { "file", EINVAL }),
	ROW(OP_REG, "mode-0", ALL, 0, RG_WHOLE, 0, NULL, EINVAL),
	ROW(OP_REG, "unknown-mode-bit", ALL, 0, RG_WHOLE, WP | (1 << 3), NULL, EINVAL),
	ROW(OP_REG, "mode-missing", ALL, 0, RG_WHOLE, MISSING, NULL, 0,
	    { "file", EINVAL }),
	ROW(OP_REG, "mode-minor", ALL, 0, RG_WHOLE, MINOR, NULL, 0,
	    { "anon", EINVAL }, { "file", EINVAL }),
	ROW(OP_REG, "mode-missing-wp", ALL, 0, RG_WHOLE, MISSING | WP, NULL, 0,
	    { "file", EINVAL }),
	ROW(OP_REG, "mode-minor-wp", ALL, 0, RG_WHOLE, MINOR | WP, NULL, 0,
	    { "anon", EINVAL }, { "file", EINVAL }),
	ROW(OP_REG, "owned-by-other-uffd", ALL, REG_WP, RG_WHOLE, WP, r_busy, EBUSY),
	ROW(OP_REG, "readonly-fd", SHMEM_FILE, 0, RG_WHOLE, WP, r_rdonly, EPERM,
	    { "shmem-private", 0 }, { "file-shared", KD(EPERM, EINVAL) },
	    { "file-private", FILE_KD }),
	ROW(OP_REG, "sealed-F_SEAL_WRITE", KIND(MEM_SHMEM), 0, RG_WHOLE, F_SEAL_WRITE, r_seal,
	    EPERM, { "shmem-private", 0 }),
	ROW(OP_REG, "sealed-F_SEAL_FUTURE_WRITE", KIND(MEM_SHMEM), 0, RG_WHOLE,
	    F_SEAL_FUTURE_WRITE, r_seal, EPERM, { "shmem-private", 0 }),
	HUGETLB_ROWS(OP_REG, 0, WP),

	/*
	 * UFFDIO_UNREGISTER (userfaultfd_unregister()): validate_range() and
	 * "if (!vma)" as for REGISTER (EINVAL); every VMA of the range must pass
	 * vma_can_userfault(cur, cur->vm_flags, ..) even when it is not
	 * registered, so on the base kernel a plain file VMA makes it EINVAL;
	 * unregistered VMAs are otherwise skipped (0).  hugetlb: only the start
	 * is checked; an unaligned end fails when the VMA is split
	 * (hugetlb_vm_op_split(): EINVAL).
	 */
	RANGE_ROWS(OP_UNREG, 0, "unaligned-start", "beyond-task-size"),
	ROW(OP_UNREG, "unmapped", ALL, 0, RG_UNMAPPED, 0, NULL, EINVAL),
	ROW(OP_UNREG, "unregistered-range", ALL, 0, RG_WHOLE, 0, NULL, 0,
	    { "file", FILE_KD }),
	ROW(OP_UNREG, "partly-unmapped-tail", ALL, REG_WP, RG_HOLE_TAIL, 0, NULL, 0),
	ROW(OP_UNREG, "cross-vma", ALL, NB, RG_CROSS, 0, NULL, 0,
	    { "anon", FILE_KD }, { "file", FILE_KD }),
	HUGETLB_ROWS(OP_UNREG, REG_WP, 0),
	ROW(OP_UNREG, "while-writer-blocked-in-wp-fault", ALL, REG_WP, RG_WHOLE, 0,
	    r_unreg_blocked, 0),
	ROW(OP_UNREG, "while-reader-blocked-in-missing-fault", NOT_FILE, REG_MISSING,
	    RG_WHOLE, 0, r_unreg_missing, 0),

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
	RANGE_ROWS(OP_WP, WPM, "unaligned-start", "beyond-task-size"),
	ROW(OP_WP, "unknown-mode-bit", ALL, 0, RG_UNIT0, 1 << 2, NULL, EINVAL),
	ROW(OP_WP, "mode-wp-with-dontwake", ALL, 0, RG_UNIT0,
	    WPM | UFFDIO_WRITEPROTECT_MODE_DONTWAKE, NULL, EINVAL),
	ROW(OP_WP, "unregistered-range", ALL, 0, RG_WHOLE, WPM, NULL, ENOENT),
	ROW(OP_WP, "unmapped", ALL, 0, RG_UNMAPPED, WPM, NULL, ENOENT),
	ROW(OP_WP, "partly-unmapped-head", ALL, REG_WP, RG_HOLE_HEAD, WPM, NULL, 0),
	ROW(OP_WP, "partly-unmapped-tail", ALL, REG_WP, RG_HOLE_TAIL, WPM, NULL, 0),
	ROW(OP_WP, "cross-vma-unregistered-neighbour", ALL, REG_WP | NB, RG_CROSS, WPM, NULL,
	    ENOENT),
	ROW(OP_WP, "missing-only-range", NOT_FILE, REG_MISSING, RG_WHOLE, WPM, NULL, ENOENT),
	HUGETLB_ROWS(OP_WP, REG_WP, WPM),
	ROW(OP_WP, "beyond-eof-after-truncate", SHMEM_FILE, REG_WP, RG_WHOLE, 0, r_wp_eof, 0),
	ROW(OP_WP, "after-fd-closed", SHMEM_FILE, REG_WP, RG_WHOLE, 0, r_fd_closed, 0),

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
	RANGE_ROWS(OP_COPY, 0, "unaligned-dst", "dst-beyond-task-size"),
	ROW(OP_COPY, "src-beyond-task-size", ALL, SRC_BEYOND, RG_UNIT0, 0, NULL, EINVAL),
	MFILL_ROWS(OP_COPY, 1 << 2, RG_UNIT3),
	ROW(OP_COPY, "wp-only-range-present-page", ALL, REG_WP, RG_UNIT0, 0, NULL, EEXIST,
	    { "file", EINVAL }),
	ROW(OP_COPY, "wp-only-range-hole", ALL, REG_WP, RG_UNIT3, 0, NULL, 0,
	    { "file", EINVAL }),
	ROW(OP_COPY, "src-unmapped", ALL, REG_WP | SRC_HOLE, RG_UNIT3, 0, NULL, EFAULT,
	    { "file", EINVAL }),
	ROW(OP_COPY, "mode-wp-on-missing-only-range", NOT_FILE, REG_MISSING, RG_UNIT3,
	    UFFDIO_COPY_MODE_WP, NULL, EINVAL),
	ROW(OP_COPY, "beyond-eof-after-truncate", SHMEM_FILE, REG_WP | TRUNC, RG_UNIT3, 0, NULL,
	    EFAULT, { "file", EINVAL }),

	/*
	 * UFFDIO_ZEROPAGE (userfaultfd_zeropage()): validate_range() and
	 * "mode & ~DONTWAKE" (EINVAL), then mfill_atomic() as for COPY, plus
	 * mfill_atomic_hugetlb(): "There is no default zero huge page" -> EINVAL.
	 */
	RANGE_ROWS(OP_ZERO, 0, "unaligned-start", "beyond-task-size"),
	MFILL_ROWS(OP_ZERO, 1 << 1, RG_UNIT3),
	ROW(OP_ZERO, "wp-only-range-present-page", ALL, REG_WP, RG_UNIT0, 0, NULL, EEXIST,
	    { "hugetlb", EINVAL }, { "file", EINVAL }),
	ROW(OP_ZERO, "wp-only-range-hole", ALL, REG_WP, RG_UNIT3, 0, NULL, 0,
	    { "hugetlb", EINVAL }, { "file", EINVAL }),
	ROW(OP_ZERO, "beyond-eof-after-truncate", SHMEM_FILE, REG_WP | TRUNC, RG_UNIT3, 0, NULL,
	    EFAULT, { "file", EINVAL }),

	/*
	 * UFFDIO_CONTINUE (userfaultfd_continue()): validate_range() and
	 * "mode & ~(DONTWAKE|WP)" (EINVAL); mfill_atomic() as for COPY, plus
	 * "!vma_is_shmem(dst_vma) && MFILL_ATOMIC_CONTINUE" -> EINVAL (anon);
	 * shmem: mfill_atomic_pte_continue() turns the SGP_NOALLOC miss into
	 * EFAULT and a present pte is EEXIST; hugetlb:
	 * filemap_lock_hugetlb_folio() finds no page-cache folio for a private
	 * mapping -> EFAULT.
	 */
	RANGE_ROWS(OP_CONT, 0, "unaligned-start", "beyond-task-size"),
	MFILL_ROWS(OP_CONT, 1 << 2, RG_UNIT0),
	ROW(OP_CONT, "wp-only-range-present-page", ALL, REG_WP, RG_UNIT0, 0, NULL, EINVAL,
	    { "shmem", EEXIST }, { "hugetlb-private", EFAULT }),
	ROW(OP_CONT, "wp-only-range-hole", ALL, REG_WP, RG_UNIT3, 0, NULL, EINVAL,
	    { "shmem", EFAULT }, { "hugetlb", EFAULT }),
	ROW(OP_CONT, "mode-wp-on-missing-only-range", NOT_FILE, REG_MISSING, RG_UNIT0,
	    UFFDIO_CONTINUE_MODE_WP, NULL, EINVAL),

	/*
	 * UFFDIO_WAKE (userfaultfd_wake()): only validate_range() (EINVAL; a
	 * zero length would mean "wake all"); no VMA is looked up: an unmapped
	 * or unregistered range is 0.
	 */
	RANGE_ROWS(OP_WAKE, 0, "unaligned-start", "beyond-task-size"),
	ROW(OP_WAKE, "unmapped", ALL, 0, RG_UNMAPPED, 0, NULL, 0),
	ROW(OP_WAKE, "unregistered-range", ALL, 0, RG_WHOLE, 0, NULL, 0),

	/* PAGEMAP_SCAN on M (see r_scan()) */
	ROW(OP_SCAN, "CHECK_WPASYNC-unregistered", ALL, 0, RG_WHOLE, PM_SCAN_CHECK_WPASYNC,
	    r_scan, EPERM),
	ROW(OP_SCAN, "CHECK_WPASYNC-sync-wp-range", ALL, REG_WP, RG_WHOLE,
	    PM_SCAN_CHECK_WPASYNC, r_scan, EPERM),
	ROW(OP_SCAN, "WP_MATCHING-sync-wp-range", ALL, REG_WP, RG_WHOLE, PM_SCAN_WP_MATCHING,
	    r_scan, 0),

	/* the mm of the uffd exited (see r_mm_exited()) */
	ROW(OP_REG, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, ENOMEM),
	ROW(OP_UNREG, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, ENOMEM),
	ROW(OP_WP, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, ESRCH),
	ROW(OP_COPY, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, ESRCH),
	ROW(OP_ZERO, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, ESRCH),
	ROW(OP_CONT, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, ESRCH),
	ROW(OP_WAKE, "after-mm-exit", ALL, NEEDFEAT, 0, 0, r_mm_exited, 0),

	/* close() of the uffd with a writer blocked (see r_close_blocked()) */
	ROW(OP_CLOSE, "while-writer-blocked-in-wp-fault", ALL, REG_WP, RG_WHOLE, 0,
	    r_close_blocked, 0),
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
		return fail("UFFD_FEATURE_WP_FILE is %s but UFFDWP_EXPECT_WP_FILE=%d",
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
       API_FORK, API_HANDOFF, API_BIT22, API_IOCTL9 };

static int g_api(const struct grow *g, struct res *r)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd, e, rc;

	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail("userfaultfd: %s", strerror(-fd));
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
	case API_BIT22:
		/*
		 * Bit 20 was UFFD_FEATURE_WP_RESOLVE of earlier versions of
		 * the hand-off series and is UFFD_FEATURE_WP_COPY now (3-cbw);
		 * 21 and 22 are the next unknown bits.
		 */
		api.features = 1ULL << 22;
		break;
	case API_IOCTL9: {
		/* ioctl number 9: UFFDIO_WP_RESOLVE of earlier versions */
		struct { uint64_t start, len, mode; unsigned char msg[32]; } res = { };

		if (ioctl(fd, UFFDIO_API, &api))
			return fail("UFFDIO_API: %m");
		e = ioctl(fd, _IOWR(UFFDIO, 0x09, res), &res) ? errno : 0;
		close(fd);
		return expect(r, e, decode_want(g->want));
	}
	case API_WPFILE:
		api.features = UFFD_FEATURE_WP_FILE;
		break;
	case API_TWICE:
		if (ioctl(fd, UFFDIO_API, &api))
			return fail("first UFFDIO_API: %m");
		api = (struct uffdio_api){ .api = UFFD_API };
		break;
	case API_RETRY:
		api.features = 1ULL << 63;
		if (!ioctl(fd, UFFDIO_API, &api) || errno != EINVAL)
			return fail("first UFFDIO_API with an unknown feature: %m");
		api = (struct uffdio_api){ .api = UFFD_API };
		break;
	case API_NULL:
		return expect(r, ioctl(fd, UFFDIO_API, NULL) ? errno : 0, g->want);
	case API_FORK:
		if (geteuid())
			return case_skip("needs root (CAP_SYS_PTRACE)");
		api.features = UFFD_FEATURE_EVENT_FORK;
		break;
	}
	api.ioctls = 0xdead;
	e = ioctl(fd, UFFDIO_API, &api) ? errno : 0;
	rc = expect(r, e, decode_want(g->want));
	if (rc)
		return rc;
	if (e && (api.features || api.ioctls || api.api))
		return fail("the failed UFFDIO_API left api %#llx features %#llx ioctls "
			     "%#llx, want all zero", (unsigned long long)api.api,
			     (unsigned long long)api.features, (unsigned long long)api.ioctls);
	if (e)
		rnote(r, "struct zeroed");
	if (!e && g->arg == API_WPFILE && !(api.features & UFFD_FEATURE_WP_FILE))
		return fail("features %#llx lack UFFD_FEATURE_WP_FILE",
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
		return fail("setup: %m");
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
			return fail("userfaultfd: %s", strerror(-fd));
		return expect(r, ioctl(fd, _IO(UFFDIO, 0x3f)) ? errno : 0, g->want);
	case MISC_SYS_FLAGS:	/* new_userfaultfd(): "flags & ~(..)" */
		fd = sys_userfaultfd(O_CLOEXEC | 0x10);
		return expect(r, fd < 0 ? -fd : 0, g->want);
	}
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return case_skip("cannot open /dev/userfaultfd: %m");
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
	int pm, e;

	if (buf == MAP_FAILED)
		return fail("mmap: %m");
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
			return fail("pipe: %m");
		pid = fork();
		if (pid < 0)
			return fail("fork: %m");
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
			return fail("open %s: %m", path);
	} else if (g->arg == PM_NOT_PAGEMAP) {
		pm = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	} else {
		pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	}
	if (pm < 0)
		return fail("open: %m");

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
	return expect_empty_scan(r, n, e, g->want, &a, "0 regions, walk_end = end");
}

/* ---- non-root ---------------------------------------------------- */

/* fn runs as the unprivileged user in a child; its return value (an errno) */
static int as_user(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -fail("fork: %m");
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(user_gid) || setuid(user_uid) ||
		    geteuid() != user_uid)
			_exit(255);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -fail("the unprivileged child failed (status %#x)", status);
	if (WEXITSTATUS(status) == 255)
		return -fail("cannot switch to uid %d", (int)user_uid);
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
		return case_skip("needs root and UFFDWP_USER "
				 "(changes vm.unprivileged_userfaultfd)");
	e = knob_set(&k_unpriv, sysval[g->arg]);
	if (e)
		return fail("cannot set vm.unprivileged_userfaultfd: %s", strerror(e));
	if (g->arg == NR_DEV0600 || g->arg == NR_DEV0666) {
		if (!devmode_saved)
			return case_skip("no /dev/userfaultfd");
		if (chmod("/dev/userfaultfd", g->arg == NR_DEV0600 ? 0600 : 0666))
			return fail("chmod /dev/userfaultfd: %m");
	}
	e = as_user(fns[g->arg]);
	if (e < 0)
		return FAIL;
	return expect(r, e, g->want);
}

/* put vm.unprivileged_userfaultfd and /dev/userfaultfd back; false on failure */
static bool restore_system(void)
{
	struct stat st;
	bool ok = true;

	if (knob_restore(&k_unpriv)) {
		diag("vm.unprivileged_userfaultfd not restored to %s", k_unpriv.old);
		ok = false;
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
	{ "global", "UFFDIO_API", "unknown-feature-bit-22", API_BIT22, EINVAL, g_api, false },
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
/* runner: every row a case of tests/lib/cases.h                       */

struct mrow_arg {
	const struct memtype *mt;
	const struct row *rw;
};

static int run_mrow(const void *arg)
{
	const struct mrow_arg *a = arg;
	struct res r = { .got = NO_RESULT, .want = NO_RESULT };
	struct fx f;
	int rc;

	rc = fx_setup(&f, a->mt, a->rw->flags);
	if (!rc)
		rc = a->rw->fn ? a->rw->fn(&f, a->rw, &r) : r_generic(&f, a->rw, &r);
	return finish(&r, rc);
}

static int run_grow(const void *arg)
{
	const struct grow *g = arg;
	struct res r = { .got = NO_RESULT, .want = NO_RESULT };

	return finish(&r, g->fn(g, &r));
}

static bool needs_file_reg(const struct row *rw)
{
	return rw->flags & (REG_WP | NEEDFEAT);
}

static void run_memtype_row(struct case_runner *cr, const struct memtype *mt,
			    const struct row *rw)
{
	struct mrow_arg a = { mt, rw };
	char desc[200];
	int rc;

	snprintf(desc, sizeof(desc), "%s %s %s", mt->label, op_name[rw->op], rw->name);
	if (mt->t.kind == MEM_HUGETLB && !hugetlb_ok) {
		case_point(cr, SKIP, hugetlb_reason, "%s", desc);
		return;
	}
	if (mem_is_file(&mt->t) && needs_file_reg(rw)) {
		rc = expect_or_skip(have_wp_file, expect_wp, "UFFD_FEATURE_WP_FILE is expected but "
				    "not advertised: the file range cannot be registered for WP");
		if (rc) {
			case_point(cr, rc, "needs sync uffd-wp on files, absent from this kernel "
				   "(expected)", "%s", desc);
			return;
		}
	}
	case_run(cr, run_mrow, &a, 0, "%s", desc);
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

static void add_memtypes(void)
{
	struct mem_type t[MEM_MAX_TYPES];
	int i, n = mem_types(t, MEM_MAX_TYPES, type_names);
	struct memtype *mt;

	for (i = 0; i < n; i++) {
		mt = &memtypes[nr_memtypes++];
		mt->t = t[i];
		if (mem_is_file(&t[i]))
			snprintf(mt->label, sizeof(mt->label), "%s:%s", t[i].name, t[i].fs);
		else
			snprintf(mt->label, sizeof(mt->label), "%s", t[i].name);
		/* anon's cross-vma neighbour: file-shared on the first file system */
		if (mem_is_file(&t[i]) && !nb_type.name)
			mem_type_row(&nb_type, "file-shared", t[i].fs, t[i].dir);
	}
	if (!nb_type.name)
		mem_type_row(&nb_type, "file-shared", "cwd", ".");
}

/* a name in struct want: a kind or a row of tests/lib/mem.c */
static bool known_type(const char *name)
{
	struct mem_type t;
	size_t k;

	for (k = 0; k < sizeof(kind_name) / sizeof(kind_name[0]); k++)
		if (!strcmp(name, kind_name[k]))
			return true;
	return !mem_type_row(&t, name, NULL, NULL);
}

/* every type and kind named in a row's expectations exists */
static bool check_rows(void)
{
	const struct want *w;
	bool ok = true;
	int i;

	for (i = 0; i < NR_ROWS; i++) {
		for (w = rows[i].over; w < rows[i].over + MAX_OVER && w->type; w++) {
			if (known_type(w->type))
				continue;
			fprintf(stderr, "uffd-hostile: row %s %s names no memory type: %s\n",
				op_name[rows[i].op], rows[i].name, w->type);
			ok = false;
		}
	}
	return ok;
}

/* can the hugetlb types get their 4 pages */
static void probe_hugetlb(void)
{
	struct mem_region m;
	struct mem_type t;
	int e;

	mem_type_row(&t, "hugetlb-private", NULL, NULL);
	e = mem_create(&m, &t, 4 * MEM_HPAGE, "uffd-hostile-probe");
	if (!e) {
		e = mem_map(&m);
		mem_release(&m);
	}
	if (e) {
		snprintf(hugetlb_reason, sizeof(hugetlb_reason),
			 "no hugetlb pages can be allocated (HugePages_Free %ld, mmap: %s)",
			 meminfo("HugePages_Free:"), strerror(e));
		return;
	}
	hugetlb_ok = true;
}

static void probe_user(void)
{
	const char *name = getenv("UFFDWP_USER");
	struct passwd *pw;
	struct stat st;

	if (!name || !*name)
		return;
	user_name = name;
	pw = getpwnam(name);
	user_uid = pw ? pw->pw_uid : 4242;
	user_gid = pw ? pw->pw_gid : 4242;
	knob_save(&k_unpriv);
	if (!stat("/dev/userfaultfd", &st)) {
		devmode_orig = st.st_mode & 07777;
		devmode_saved = true;
	}
}

static bool row_applies(const struct row *rw, const struct memtype *mt)
{
	return rw->kinds & KIND(mt->t.kind);
}

/* every row of mt's kind on mt */
static void run_memtype(struct case_runner *cr, const struct memtype *mt)
{
	int k;

	for (k = 0; k < NR_ROWS; k++)
		if (row_applies(&rows[k], mt))
			run_memtype_row(cr, mt, &rows[k]);
}

int main(void)
{
	const char *b = getenv("UFFDWP_BUDGET");
	struct case_runner cr;
	uint64_t features = 0;
	int i, k, plan, e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	expect_wp = expect_wp_file();
	if (!check_rows())
		return 1;

	add_memtypes();
	plan = NR_GROWS;
	for (i = 0; i < nr_memtypes; i++)
		for (k = 0; k < NR_ROWS; k++)
			plan += row_applies(&rows[k], &memtypes[i]);
	cases_start(&cr, "uffd-hostile", plan, b && atoi(b) > 0 ? atoi(b) : DEFAULT_BUDGET_S,
		    ROW_TIMEOUT_S, NULL);

	e = uffd_features(&features);
	have_wp_file = features & UFFD_FEATURE_WP_FILE;
	probe_hugetlb();
	probe_user();
	diag("kernel UFFDIO_API features %#llx; UFFD_FEATURE_WP_FILE %s, expected %s",
	     (unsigned long long)features, have_wp_file ? "advertised" : "not advertised",
	     expect_wp ? "yes" : "no");
	diag("%d memory types, %d rows each at most, %d global rows; anon's cross-vma "
	     "neighbour: file-shared in %s; hugetlb: %s", nr_memtypes, NR_ROWS, NR_GROWS,
	     nb_type.dir, hugetlb_ok ? "ok" : hugetlb_reason);
	if (e)
		diag("userfaultfd unavailable: %s", strerror(e));

	for (i = 0; i < NR_GROWS; i++) {
		case_run(&cr, run_grow, &grows[i], 0, "%s %s %s", grows[i].label, grows[i].ioctl,
			 grows[i].name);
		if (grows[i].nonroot)
			restore_system();
	}
	for (i = 0; i < nr_memtypes; i++)
		run_memtype(&cr, &memtypes[i]);
	if (!restore_system())
		tap.fail++;
	return cases_end(&cr);
}
