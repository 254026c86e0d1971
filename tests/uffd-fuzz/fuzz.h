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

#ifndef UFFD_FEATURE_WP_COPY	/* headers of a kernel without copy-before-write */
#define UFFD_FEATURE_WP_COPY		(1 << 20)
#define _UFFDIO_WP_COPY_SETUP		(0x09)
#define _UFFDIO_WP_COPY_FREE		(0x0A)
#define UFFD_WP_COPY_MAX_SLOTS		65536
#define UFFD_WP_COPY_TAIL_KEEP		(~(__u64)0)
struct uffdio_wp_copy_setup {
	__u64 nr_slots;
	__u64 flags;
	__u64 ring_offset;
	__u64 slots_offset;
	__u64 mmap_size;
};
struct uffd_wp_copy_rec {
	__u64 address;
	__u32 slot;
	__u32 flags;
};
struct uffd_wp_copy_ring {
	__u32 head;
	__u32 tail;
	__u32 nr_entries;
	__u32 reserved1;
	__u64 reserved2[6];
	struct uffd_wp_copy_rec recs[];
};
struct uffdio_wp_copy_free {
	__u64 slots;
	__u64 nr;
	__u64 tail;
	__u64 flags;
};
#define UFFDIO_WP_COPY_SETUP	_IOWR(UFFDIO, _UFFDIO_WP_COPY_SETUP, \
				      struct uffdio_wp_copy_setup)
#define UFFDIO_WP_COPY_FREE	_IOW(UFFDIO, _UFFDIO_WP_COPY_FREE, \
				     struct uffdio_wp_copy_free)
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
#define CBW_MAX_SLOTS	512		/* the most slots a seed sets up */
#define CBW_PROBE	16		/* pages of a copy-before-write probe */
#define CBW_OPS		60		/* in 1000 + CBW_OPS operations of a cbw seed */

#define WRITER_HANG_MS	30000		/* an access blocked this long: lost wakeup */
#define OP_HANG_MS	90000		/* a main-thread operation this long */
#define CHILD_HANG_MS	30000
#define SEED_CAP_MS	12000		/* operations of one seed (then verify) */
#define DEFAULT_OPS	3000

/* shadow values: a known byte, or */
#define UNKNOWN		(-1)
#define FOLLOW		(-2)		/* private page not copied: the object's value */
#define PRE_NONE	(-9)		/* access.pre: the region was disturbed */

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
	int pre;		/* a write: the page's model value before it (check_results) */
};

/*
 * Copy-before-write (UFFD_FEATURE_WP_COPY, cbw.c): the buffer of a uffd as
 * the main thread knows it.  Exact while no batch runs: only the writer
 * thread (and the main thread's own MADV_POPULATE_WRITE) fault on the
 * seed's memory; a forked child's context has no slots.
 */
struct cbw_buf {
	int fd;			/* its uffd */
	char *map;		/* NULL: none */
	size_t size;
	volatile struct uffd_wp_copy_ring *ring;
	const char *slots;
	uint32_t nr_slots, nr_entries;
	uint32_t seen;		/* records [seen, head) not read yet */
	uint32_t ktail;		/* the kernel's tail, as FREE moved it */
	int nr_in_use;
	bool in_use[CBW_MAX_SLOTS];	/* slot of a record read and not freed */
	bool retired;		/* its uffd was closed: read its last records, unmap */
};

/* the violation classes of copy-before-write, summed over the seeds */
enum { CBW_LOST, CBW_CONTENT, CBW_API, CBW_CLASSES };

/* shared by the seeds' processes (MAP_SHARED): the summary points */
struct cbw_sum {
	long seeds, setups, records, checked, reports, probes, probe_pages, frees, free_errs;
	long viol[CBW_CLASSES];
	char first[CBW_CLASSES][400];
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
	bool cbw;		/* UFFD_FEATURE_WP_COPY: a buffer on every uffd */
	struct cbw_buf cbwb, cbw_old;	/* the current uffd's buffer, a closed one's */
	struct cbw_sum *cbw_sum;
	bool batch_async;	/* the batch in g.batch was left running */
	int cbw_wrec[CBW_PROBE];	/* records per page of the watched range */
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
	volatile size_t watch_ps;	/* page size of the watched range */
	volatile int watch_page[CBW_PROBE];	/* reports per page of it */
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

/* a random used region (-1: none); an access to page i of r (region ri) into g.batch */
int pick_region(void);
void add_access(struct region *r, int ri, int i, bool write, int byte);
/* run operation x (0 to 999: drawn by the caller) of the mix: false when the seed must stop */
bool fuzz_op(int x);
/* the uffd, opened again after a close */
int ensure_uffd(void);
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

/* ------------------------------------------------------------------ */
/* cbw.c: copy-before-write                                            */

/* a copy-before-write violation of class cls (CBW_*): also a violation */
void cbw_violation(int cls, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the seed uses UFFD_FEATURE_WP_COPY (in pick_mode) */
void cbw_pick(void);
/* fd was opened: set its buffer up (with some wrong calls first) */
void cbw_setup(int fd);
/* the uffd is closed (by the handler): its buffer retires */
void cbw_closed(void);
/* read the new records: batch (g.batch, after check_results' model update) or not */
void cbw_consume(bool batch);
/* the operations of cbw seeds (x: 0 to 99) */
bool cbw_op(int x);
/* the forked child: setup from another mm is EPERM, the buffer is not mapped */
int cbw_child_check(void);
/* the seed's line */
void cbw_seed_diag(void);

#endif /* UFFD_FUZZ_H */
