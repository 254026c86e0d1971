/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mem.h: the memory types the C tests (and bench/wtrack.c) run on, and the
 * helpers around a region of one: create/map/release, eviction from the
 * page cache with a mincore() proof, pagemap entries and PAGEMAP_SCAN, the
 * wait for a uffd message, sysfs/sysctl knobs saved, set and restored,
 * errno names and the expected-or-skip rule.  Include it after uffdwp.h.
 *
 * The memory types are one table, mem_table[] in mem.c: a row per type
 * (name as in the tests' TAP point names, kind, shared or private, THP
 * variant).  mem_types() turns the rows a test asks for into the types of
 * this run: a file row once per file system of UFFDWP_FS.
 */
#ifndef UFFDWP_MEM_H
#define UFFDWP_MEM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"

#define MEM_HPAGE	(2UL << 20)	/* a PMD, a hugetlb page */

/* ------------------------------------------------------------------ */
/* memory types                                                        */

enum mem_kind {
	MEM_ANON,	/* MAP_ANONYMOUS */
	MEM_SHMEM,	/* memfd_create() */
	MEM_HUGETLB,	/* memfd_create(MFD_HUGETLB), 2 MiB pages */
	MEM_FILE,	/* a regular file in a directory of UFFDWP_FS */
};

struct mem_type {
	const char *name;	/* as in point names: "anon", "file-shared-thp", ... */
	enum mem_kind kind;
	bool shared;		/* MAP_SHARED, else MAP_PRIVATE */
	bool thp;		/* THP variant: 2 MiB aligned, MADV_HUGEPAGE */
	/* filled in by mem_types() */
	const char *fs;		/* "-" (anon), "memfd" (shmem, hugetlb), a UFFDWP_FS name */
	const char *dir;	/* files: the directory from UFFDWP_FS; else NULL */
	bool lf_expected;	/* THP files: large folios expected on this fs */
};

/* the rows, in the order tests list them */
extern const struct mem_type mem_table[];
extern const int mem_table_len;

#define MEM_MAX_TYPES	(16 + 8 * MAX_TEST_FS)

/*
 * The memory types of this run, in table order, a file row once per file
 * system of UFFDWP_FS (file systems outer, rows inner; THP file rows after
 * the others): those named in names (NULL-terminated; NULL: every row).  A
 * THP file row is kept only on a file system that is expected to have large
 * page cache folios or where a probe finds some (one "# large folios on FS"
 * line per file system).  The number of types written to out[].
 */
int mem_types(struct mem_type *out, int max, const char *const *names);
/* one row by name, for the file system fs in dir (files): 0 or ENOENT */
int mem_type_row(struct mem_type *out, const char *name, const char *fs, const char *dir);

static inline bool mem_is_file(const struct mem_type *mt)
{
	return mt->kind == MEM_FILE;
}

/* backed by an fd: everything but anonymous memory */
static inline bool mem_has_fd(const struct mem_type *mt)
{
	return mt->kind != MEM_ANON;
}

/* the page size of the type: 2 MiB for hugetlb, else the base page */
size_t mem_page_size(const struct mem_type *mt);

/* ------------------------------------------------------------------ */
/* a region of a memory type                                           */

struct mem_region {
	const struct mem_type *mt;
	int fd;			/* the memfd or the file; -1: anonymous */
	char path[PATH_MAX];	/* the file while it exists, else "" */
	char *addr;		/* the mapping, NULL when not mapped */
	size_t len;
};

/*
 * The backing object of len bytes: a memfd named tag (hugetlb:
 * MFD_HUGETLB), or the file DIR/.TAG.PID created (0600), truncated and
 * sized; nothing for anonymous memory.  Not mapped.  0 or an errno.
 */
int mem_create(struct mem_region *r, const struct mem_type *mt, size_t len, const char *tag);
/* the path mem_create() gives a file of process pid (to remove it after pid) */
void mem_file_path(char *buf, size_t len, const struct mem_type *mt, const char *tag, pid_t pid);
/* remove the file, keep the fd */
void mem_unlink(struct mem_region *r);
/*
 * A mapping of fd (-1 and MAP_ANONYMOUS in flags: anonymous) of len bytes,
 * read-write; with thp 2 MiB aligned and MADV_HUGEPAGE.  MAP_FAILED and
 * errno on failure.
 */
char *mem_map_fd(int fd, size_t len, int flags, bool thp);
/* map the region with its type's sharing and THP: r->addr; 0 or an errno */
int mem_map(struct mem_region *r);
/* unmap, close, remove the file */
void mem_release(struct mem_region *r);
/* read a byte of every page of [addr, addr + len): the page cache gets mapped */
void mem_touch(const char *addr, size_t len);

/*
 * Evict the file pages of a mapping [addr, addr + len) of fd from the page
 * cache, proven with mincore(): up to 50 times 20 ms apart: fsync,
 * MADV_PAGEOUT again (from the second try, when pageout: reclaim may
 * leave a folio mapped, busy or under writeback, and POSIX_FADV_DONTNEED
 * does not drop mapped folios), POSIX_FADV_DONTNEED, mincore().  Pages with
 * ignore[page] set are not counted (private copies; ignore may be NULL).
 * The number of pages still resident (0: evicted), or -1 with errno when
 * madvise() or mincore() failed.
 */
int mem_evict(int fd, char *addr, size_t len, bool pageout, const bool *ignore);

/* ------------------------------------------------------------------ */
/* large folios                                                        */

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

/* through pagemap and /proc/kpageflags (up to 512 pages) */
void folios_of(char *addr, size_t len, struct folios *f);
/* one line for a diagnostic (a static buffer) */
const char *folios_str(const struct folios *f);
/* do files in dir get large page cache folios: false when it cannot be tried */
bool probe_large_folios(const char *dir, struct folios *f);
/* the file systems whose page cache has large folios in Linux 6.12 */
bool large_folios_expected(const char *fs);

/* ------------------------------------------------------------------ */
/* pagemap                                                             */

/*
 * n entries of /proc/self/pagemap from the page of addr into pm[], through
 * fd (-1: opened for the call).  0 or an errno.
 */
int pagemap_read(int fd, const void *addr, size_t n, uint64_t *pm);
/* the entry of addr; 0 when it cannot be read */
uint64_t pagemap_entry(const void *addr);
/*
 * PAGEMAP_SCAN of /proc/PID/pagemap over [addr, addr + len) for the pages
 * in categories: the bytes found, or -1 with errno.  With got, got[(page -
 * addr) / unit] is set for every page found (len / unit entries, cleared
 * first).
 */
long pagemap_scan(pid_t pid, const void *addr, size_t len, uint64_t categories,
		  size_t unit, bool *got);

/* ------------------------------------------------------------------ */
/* userfaultfd messages                                                */

/*
 * The next message on uffd within ms: 0, ETIMEDOUT or an errno.  EINTR,
 * EAGAIN and wakeups without a message are retried until the deadline.
 */
int uffd_wait_msg(int uffd, struct uffd_msg *msg, int ms);

/* ------------------------------------------------------------------ */
/* sysfs, procfs                                                       */

/* the file into buf (up to len - 1 bytes, NUL-terminated); false on error */
bool read_text(const char *path, char *buf, size_t len);
/* write s: 0 or an errno */
int write_text(const char *path, const char *s);
/* the number after key in /proc/meminfo ("HugePages_Free:"), -1 if none */
long meminfo(const char *key);

/* a knob (sysctl, sysfs file) a test changes and puts back */
struct knob {
	const char *path;
	char old[64];		/* the value; of "a [b] c", the selected word */
	bool saved;
};

/* remember the value: 0 or an errno */
int knob_save(struct knob *k);
/* save it (the first time), then write val: 0 or an errno */
int knob_set(struct knob *k, const char *val);
/*
 * When saved, write the old value back and read it again: 0, an errno, or
 * EIO when it reads differently.
 */
int knob_restore(struct knob *k);

/* ------------------------------------------------------------------ */
/* results                                                             */

/* "EINVAL", ...; "errno N" when it has no name (a per-thread buffer) */
const char *errno_name(int e);

/*
 * The expected-or-skip rule for a capability a case needs: PASS when the
 * kernel has it.  When it lacks it: SKIP when it is not expected on this
 * kernel (UFFDWP_EXPECT_WP_FILE=0, UFFDWP_EXPECT_HANDOFF=0, fault
 * injection not expected: expect_*() in uffdwp.h), FAIL when it is, with
 * "# FAIL: " and fmt printed (nothing when fmt is NULL).
 */
int expect_or_skip(bool have, bool expected, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* appended                                                            */

/*
 * mem_evict() of the first len bytes of the file of fd, which the caller
 * does not map (or not any more): through a read-only MAP_SHARED mapping
 * of its own, for the mincore() proof.  The pages still resident (0:
 * evicted), or -1 with errno.
 */
int mem_evict_file(int fd, size_t len);

#endif /* UFFDWP_MEM_H */
