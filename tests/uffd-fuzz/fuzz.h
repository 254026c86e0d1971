/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz.h: what the parts of uffd-fuzz share (main.c describes the test).
 *
 *	main.c		arguments, seeds, TAP, the log and violations, one seed
 *	model.c		the expected state: shadow values, predictions, checks
 *	ops.c		the operations the main thread draws
 *	threads.c	the handler, writer and watchdog threads, signals, batches
 *
 * All state is the seed's, in its own process (cases.h): g (the seed, its
 * model and the batch) and h (the handler thread's).
 */
#ifndef UFFD_FUZZ_H
#define UFFD_FUZZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#ifndef MADV_COLD
#define MADV_COLD		20
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
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
#define HPS		MEM_HPAGE
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

/* the errnos an operation may fail with, as a mask */
#define E(x)		(1ULL << (x))
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

enum umode { UM_SYNC, UM_SIGBUS, UM_ASYNC };
extern const char *const um_name[];

/* the counters of a seed in its case result (cases.h), summed into "# stats:" */
enum {
	ST_OPS, ST_ACCESSES, ST_WP_FAULTS, ST_MISSING_FAULTS, ST_MINOR_FAULTS, ST_EVENTS,
	ST_FORKS, ST_PROBES,
};

static inline uint64_t stat_of(int i)
{
	if (!case_res)
		return 0;
	return case_res->stat[i];
}

/* a memory kind as in the operation log */
static inline const char *kind_name(enum mem_kind k)
{
	static const char *const name[] = {
		[MEM_ANON] = "anon", [MEM_SHMEM] = "shmem", [MEM_HUGETLB] = "hugetlb",
		[MEM_FILE] = "file",
	};

	return name[k];
}

/* a memfd or a file, mapped by one region or more */
struct obj {
	bool used;
	int id;
	enum mem_kind kind;
	struct mem_region mr;	/* the fd; never mapped through it */
	size_t psize;
	long size;		/* file size, bytes */
	int cap;		/* pages the shadow covers */
	int refs;
	int16_t shadow[MAX_PAGES];
};

/* a mapping, in its slot of the arena */
struct region {
	bool used;
	bool dead;		/* all unmapped, freed at the next join */
	bool disturbed;		/* changed while a batch was running */
	int id;
	struct obj *obj;	/* NULL: anonymous */
	enum mem_kind kind;
	bool shared;
	char *addr;
	size_t psize;
	int npages;
	int pgoff;
	int8_t prot[MAX_PAGES];	/* -1: unmapped */
	int16_t priv[MAX_PAGES];
};

/* what the seed's process knows beyond the counters of its case result */
struct fuzz_res {
	long probe_skips, sigbus_resolved, ioctl_ok, ioctl_err;
	long zeropage_eexist;	/* MISSING on a uffd-wp marker: ZEROPAGE says EEXIST */
	long violations;
	int corrupted;		/* self-test: the model was corrupted */
	int mismatch;		/* a shadow mismatch was reported */
	char first[512];
};

/* a read or write of the writer thread (or of a forked child) */
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

struct fuzz {
	/* configuration of the run (main) */
	uint64_t supported;
	struct mem_type types[MEM_MAX_TYPES];	/* anon, shmem, hugetlb, a file per fs */
	int ntypes;
	int nfs;		/* file systems drawn from */
	bool hugetlb;
	/* configuration of the seed */
	unsigned long seed;
	bool selftest;
	bool trace;		/* UFFDWP_FUZZ_TRACE=1: print every operation */
	bool force_anon;	/* the next mmap: anonymous (self-test) */
	int nops;
	enum umode mode;
	uint64_t features;
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
	struct fuzz_res res;
};

extern struct fuzz g;

/* handler state, behind h.lock */
struct handler {
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
};

extern struct handler h;

enum { REQ_RELEASE = 1, REQ_CLOSE = 2, REQ_CLOSE_CHILDREN = 4 };

/* ------------------------------------------------------------------ */
/* random numbers (xorshift64*)                                        */

static inline unsigned long xrand(unsigned long *s)
{
	unsigned long x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline unsigned long rnd(unsigned long n)
{
	return n ? xrand(&g.rng) % n : 0;
}

static inline bool chance(int pct)
{
	return (int)rnd(100) < pct;
}

/* ------------------------------------------------------------------ */
/* main.c: the log and violations                                      */

void oplog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a broken invariant (mismatch: a value the model contradicts) */
void violation(bool mismatch, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* model.c                                                             */

/* err (0 or errno) of what: a violation when not in allowed; err */
int check_err(const char *what, int err, uint64_t allowed);
/* the byte page i of r holds (UNKNOWN: not known), and setting it */
int value(struct region *r, int i);
void set_value(struct region *r, int i, int v);
bool beyond_eof(struct region *r, int i);
/* the outcome of an access the model predicts: 0, SIGSEGV, SIGBUS; -1: any */
int predict(struct region *r, int i, bool write);
bool accessible(struct region *r, int i, bool write);
/* a running batch must not trust what it sees of r / of every mapping of o */
void disturb(struct region *r);
void disturb_obj(struct obj *o);
void put_obj(struct obj *o);
void free_region(struct region *r);
/* pages of r in [start, start + len): fully covered [first, end), touched [tfirst, tend) */
void pages_in(struct region *r, unsigned long start, unsigned long len,
	      int *first, int *end, int *tfirst, int *tend);

/*
 * The mapped pages that [start, start + len) touches, region by region:
 *	struct page_it it = { .start = s, .len = l };
 *	while (next_page(&it))
 *		it.r, it.i: the region and its page; it.full: covered entirely
 */
struct page_it {
	unsigned long start, len;
	struct region *r;
	int i;
	bool full;
	int ri, first, end, tend;	/* where it is */
};

bool next_page(struct page_it *it);
/* pages [start, start + done) of every region now hold v */
void filled(unsigned long start, long done, int v);
/* every private region of o: pages at index >= from follow the file again */
void cows_dropped(struct obj *o, int from, bool unknown);
/* a hugetlb MAP_PRIVATE page that a read detaches from the file */
bool hugetlb_read_detaches(struct region *r, int i);
/* what the handler zeroed on MISSING faults: private pages detach */
void apply_zeroed(void);
/* the results of the batch against the model */
void check_results(void);
/* mprotect() failures leave prot -2: make those pages read-write again */
void fix_prots(void);
/* the files (pread) agree with the model */
void verify_files(void);

/* ------------------------------------------------------------------ */
/* ops.c                                                               */

/* run operation x (0 to 999: drawn by the caller) of the mix: false when the seed must stop */
bool fuzz_op(int x);
/* the self-test: corrupt the model of a known page and read it back */
bool selftest_corrupt(void);
/* read every page the model knows */
bool verify_all(void);

/* ------------------------------------------------------------------ */
/* threads.c                                                           */

void install_signals(void);
/* the handler, writer and watchdog threads */
void threads_start(void);
int cur_uffd(void);
/* UFFDIO_COPY, _ZEROPAGE (done: bytes), _CONTINUE: 0 or errno */
int io_copy(int fd, unsigned long dst, unsigned long src, size_t len, uint64_t mode,
	    long *done);
int io_zeropage(int fd, unsigned long dst, size_t len, uint64_t mode, long *done);
int io_continue(int fd, unsigned long dst, size_t len, uint64_t mode);
/* ask the handler for REQ_* and wait until it is done */
void handler_request(int req);
/* the share of the writer's WP faults the handler holds back */
void set_hold(int pct);
/* one access, catching SIGSEGV and SIGBUS (resolved and retried in SIGBUS mode) */
void do_access(struct access *a, bool sigbus_mode);
/* g.batch to the writer: posted and left running, or run to the end */
void post_batch(void);
bool run_batch_sync(void);
/* join the running batch (release held faults first) and check it */
bool join_batch(void);

#endif /* UFFD_FUZZ_H */
