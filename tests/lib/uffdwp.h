/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uffdwp.h: what the C tests in tests/ (and bench/wtrack.c) share: uapi
 * fallbacks for older headers, TAP output, time, userfaultfd calls, the
 * environment (UFFDWP_FS, UFFDWP_EXPECT_WP_FILE), NUMA nodes and a runner
 * that isolates a case in a child process.  The memory types and the
 * helpers around a region of one are in mem.h.  Include it after the
 * system headers.
 */
#ifndef UFFDWP_H
#define UFFDWP_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

/* ------------------------------------------------------------------ */
/* uapi bits that older headers do not have                            */

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON		(1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE		(1 << 16)
#endif
#ifndef UFFD_FEATURE_WP_FILE
#define UFFD_FEATURE_WP_FILE		(1 << 17)
#endif
/*
 * The hand-off features of the series: WAKE_ON_CURRENT_CPU is bit 18,
 * BUSY_POLL bit 19 (it was bit 20 while UFFD_FEATURE_WP_RESOLVE, since
 * removed from the series, held bit 19).  Defined here whatever the
 * headers say: uapi headers installed from an older build of the series
 * (build/headers) would carry the old bit, and a test or bench/wtrack
 * would then miss a feature the kernel has.
 */
#undef UFFD_FEATURE_WAKE_ON_CURRENT_CPU
#define UFFD_FEATURE_WAKE_ON_CURRENT_CPU	(1ULL << 18)
#undef UFFD_FEATURE_BUSY_POLL
#define UFFD_FEATURE_BUSY_POLL		(1ULL << 19)
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP		((__u64)1 << 1)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY		1
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE			(0x05)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW		_IO(0xAA, 0x00)
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT			21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE			25
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB			0x0004U
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE			(1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE		0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE		0x02
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE		0x0010
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING		0x0002U
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING	(1 << 0)
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#endif

/* bits of a /proc/PID/pagemap entry */
#define PM_PRESENT		(1ULL << 63)
#define PM_SWAP			(1ULL << 62)
#define PM_FILE			(1ULL << 61)
#define PM_UFFD_WP		(1ULL << 57)
#define PM_PFN			((1ULL << 55) - 1)

/* ------------------------------------------------------------------ */
/* results and TAP output                                              */

/* the result of a case, also the exit status of a case process */
enum { PASS = 0, FAIL = 1, SKIP = 4 };

/* return the result of expr when it is not PASS */
#define TRY(expr) do { int __rc = (expr); if (__rc) return __rc; } while (0)

struct tap_counts {
	int num;		/* results printed so far */
	int pass, fail, skip;
};

extern struct tap_counts tap;

/*
 * prefix and the message as one line, in one call (lines of threads do not
 * mix); errno is kept: %m works, and so does a caller's errno after it
 */
void tap_vline(const char *prefix, const char *fmt, va_list ap);
/* "# " and the message */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "# FAIL: " and the message; returns FAIL */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void tap_plan(int n);
/*
 * "ok N - desc", "ok N - desc # SKIP reason" or "not ok N - desc" for a
 * result of PASS, SKIP or anything else, counted in tap.
 */
void tap_result(int rc, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "# Totals: ..." since start_ms; the exit status: 1 if anything failed */
int tap_totals(int64_t start_ms);

/* ------------------------------------------------------------------ */
/* time                                                                */

int64_t now_ms(void);		/* CLOCK_MONOTONIC */
void sleep_ms(int ms);

/* ------------------------------------------------------------------ */
/* userfaultfd: 0 or a positive errno, unless said otherwise           */

/* userfaultfd(2): the fd or -errno */
int sys_userfaultfd(int flags);
/*
 * A userfaultfd (the syscall, else /dev/userfaultfd) after UFFDIO_API with
 * features; the features the kernel supports in *supported.  The fd or
 * -errno (the syscall's when /dev/userfaultfd cannot be opened either).
 */
int uffd_open_flags(int flags, uint64_t features, uint64_t *supported);
/* the same, O_CLOEXEC | O_NONBLOCK */
int uffd_open(uint64_t features, uint64_t *supported);
/* the features UFFDIO_API advertises into *features (0 on error) */
int uffd_features(uint64_t *features);

int uffd_register(int uffd, void *addr, size_t len, uint64_t mode, uint64_t *ioctls);
int uffd_unregister(int uffd, void *addr, size_t len);
/* UFFDIO_WRITEPROTECT with UFFDIO_WRITEPROTECT_MODE_* flags */
int uffd_writeprotect(int uffd, void *addr, size_t len, uint64_t mode);
/* protect (wp) or un-protect and wake */
int uffd_wp(int uffd, void *addr, size_t len, bool wp);
int uffd_wake(int uffd, void *addr, size_t len);

/* ------------------------------------------------------------------ */
/* environment and system                                              */

/* a file system to test, from UFFDWP_FS="name:mountpoint ..." */
struct test_fs {
	const char *name;
	const char *dir;
};

#define MAX_TEST_FS	16

/* up to max entries into fs[] (default "cwd:."); the number of entries */
int parse_test_fs(struct test_fs *fs, int max);
/* UFFDWP_EXPECT_WP_FILE: is UFFD_FEATURE_WP_FILE expected (default yes) */
bool expect_wp_file(void);
/*
 * UFFDWP_EXPECT_HANDOFF: are the hand-off features expected (default yes):
 * UFFD_FEATURE_WAKE_ON_CURRENT_CPU, _BUSY_POLL
 */
bool expect_handoff(void);
/*
 * UFFDWP_EXPECT_FAULT_INJECTION: is fault injection expected (default no;
 * "1": yes): /proc/thread-self/fail-nth and the failslab and
 * fail_page_alloc knobs in debugfs
 */
bool expect_fault_injection(void);
/* the first two NUMA nodes with memory */
bool two_numa_nodes(int *a, int *b);

/* ------------------------------------------------------------------ */
/* a case in a process of its own                                      */

struct isolated {
	pid_t pid;		/* the child; -1 when fork() failed */
	char why[128];		/* "", or why it failed: "did not finish ..." */
};

/*
 * fn(arg) in a child of its own process group, killed with its group after
 * timeout_ms.  Returns the child's exit status when it is PASS or SKIP,
 * FAIL otherwise; the reason in iso->why when the child itself did not
 * exit: "did not finish within N ms", "process killed by signal N (name)",
 * "process not started: fork: ...".  SIGCHLD is left blocked.
 */
int run_isolated(int (*fn)(const void *arg), const void *arg, int timeout_ms,
		 struct isolated *iso);

#endif /* UFFDWP_H */
