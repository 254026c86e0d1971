// SPDX-License-Identifier: GPL-2.0
/*
 * mem.c: the memory types of the tests and the helpers around a region of
 * one; see mem.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "uffdwp.h"
#include "mem.h"

static size_t base_page(void)
{
	static size_t ps;

	if (!ps)
		ps = sysconf(_SC_PAGESIZE);
	return ps;
}

/* ------------------------------------------------------------------ */
/* memory types                                                        */

/*
 * One row per memory type.  A new row of an existing kind, sharing and THP
 * variant is picked up by every test that selects it (mem_types() with
 * NULL or its name); see "Adding a memory type" in README.md.
 */
#define ROW(n, k, s, t)	{ .name = n, .kind = k, .shared = s, .thp = t }

const struct mem_type mem_table[] = {
	/*   name		kind		shared	thp */
	ROW("anon",		MEM_ANON,	false,	false),
	ROW("anon-thp",		MEM_ANON,	false,	true),
	ROW("shmem",		MEM_SHMEM,	true,	false),
	ROW("shmem-private",	MEM_SHMEM,	false,	false),
	ROW("hugetlb",		MEM_HUGETLB,	true,	false),
	ROW("hugetlb-private",	MEM_HUGETLB,	false,	false),
	ROW("shmem-thp",	MEM_SHMEM,	true,	true),
	ROW("file-shared",	MEM_FILE,	true,	false),
	ROW("file-private",	MEM_FILE,	false,	false),
	ROW("file-shared-thp",	MEM_FILE,	true,	true),
	ROW("file-private-thp",	MEM_FILE,	false,	true),
};

const int mem_table_len = sizeof(mem_table) / sizeof(mem_table[0]);

static bool wanted(const struct mem_type *row, const char *const *names)
{
	if (!names)
		return true;
	for (; *names; names++)
		if (!strcmp(*names, row->name))
			return true;
	return false;
}

static void fill_in(struct mem_type *t, const struct mem_type *row, const char *fs,
		    const char *dir)
{
	*t = *row;
	t->fs = row->kind == MEM_ANON ? "-" : row->kind == MEM_FILE ? fs : "memfd";
	t->dir = row->kind == MEM_FILE ? dir : NULL;
	t->lf_expected = false;
}

int mem_types(struct mem_type *out, int max, const char *const *names)
{
	struct test_fs fs[MAX_TEST_FS];
	int nfs = parse_test_fs(fs, MAX_TEST_FS), n = 0, i, r, thp;
	bool any_thp_file = false, lf;
	struct folios f;

	for (r = 0; r < mem_table_len && n < max; r++)
		if (!mem_is_file(&mem_table[r]) && wanted(&mem_table[r], names))
			fill_in(&out[n++], &mem_table[r], NULL, NULL);
	for (i = 0; i < nfs; i++)
		for (r = 0; r < mem_table_len && n < max; r++)
			if (mem_is_file(&mem_table[r]) && !mem_table[r].thp &&
			    wanted(&mem_table[r], names))
				fill_in(&out[n++], &mem_table[r], fs[i].name, fs[i].dir);
	for (r = 0; r < mem_table_len; r++)
		any_thp_file |= mem_is_file(&mem_table[r]) && mem_table[r].thp &&
				wanted(&mem_table[r], names);
	if (!any_thp_file)
		return n;
	/* large page cache folios: where expected, or where the probe finds them */
	for (i = 0; i < nfs; i++) {
		lf = large_folios_expected(fs[i].name);
		if (!probe_large_folios(fs[i].dir, &f))
			diag("large folios on %s: probe failed: %m", fs[i].name);
		else
			diag("large folios on %s (%sexpected): %s", fs[i].name, lf ? "" : "not ",
			     folios_str(&f));
		if (!lf && !(f.pfns && f.large))
			continue;
		for (r = 0; r < mem_table_len && n < max; r++) {
			thp = mem_is_file(&mem_table[r]) && mem_table[r].thp;
			if (!thp || !wanted(&mem_table[r], names))
				continue;
			fill_in(&out[n], &mem_table[r], fs[i].name, fs[i].dir);
			out[n++].lf_expected = lf;
		}
	}
	return n;
}

int mem_type_row(struct mem_type *out, const char *name, const char *fs, const char *dir)
{
	int r;

	for (r = 0; r < mem_table_len; r++) {
		if (!strcmp(mem_table[r].name, name)) {
			fill_in(out, &mem_table[r], fs, dir);
			return 0;
		}
	}
	return ENOENT;
}

size_t mem_page_size(const struct mem_type *mt)
{
	return mt->kind == MEM_HUGETLB ? MEM_HPAGE : base_page();
}

/* ------------------------------------------------------------------ */
/* a region                                                            */

void mem_file_path(char *buf, size_t len, const struct mem_type *mt, const char *tag, pid_t pid)
{
	snprintf(buf, len, "%s/.%s.%d", mt->dir, tag, (int)pid);
}

int mem_create(struct mem_region *r, const struct mem_type *mt, size_t len, const char *tag)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->mt = mt;
	r->fd = -1;
	r->len = len;
	switch (mt->kind) {
	case MEM_ANON:
		return 0;
	case MEM_SHMEM:
		r->fd = memfd_create(tag, MFD_CLOEXEC);
		break;
	case MEM_HUGETLB:
		r->fd = memfd_create(tag, MFD_CLOEXEC | MFD_HUGETLB);
		break;
	case MEM_FILE:
		mem_file_path(r->path, sizeof(r->path), mt, tag, getpid());
		r->fd = open(r->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (r->fd < 0)
			r->path[0] = 0;
		break;
	}
	if (r->fd < 0)
		return errno;
	if (ftruncate(r->fd, len)) {
		e = errno;
		mem_release(r);
		return e;
	}
	return 0;
}

void mem_unlink(struct mem_region *r)
{
	if (r->path[0])
		unlink(r->path);
	r->path[0] = 0;
}

char *mem_map_fd(int fd, size_t len, int flags, bool thp)
{
	char *raw, *p;

	if (!thp)
		return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	raw = mmap(NULL, len + MEM_HPAGE, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return raw;
	p = (char *)(((uintptr_t)raw + MEM_HPAGE - 1) & ~(MEM_HPAGE - 1));
	if (p > raw)
		munmap(raw, p - raw);
	munmap(p + len, raw + MEM_HPAGE - p);
	p = mmap(p, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
	if (p != MAP_FAILED && madvise(p, len, MADV_HUGEPAGE)) {
		int e = errno;

		munmap(p, len);
		errno = e;
		return MAP_FAILED;
	}
	return p;
}

int mem_map(struct mem_region *r)
{
	int flags = r->mt->shared ? MAP_SHARED : MAP_PRIVATE;
	char *p;

	if (r->mt->kind == MEM_ANON)
		flags |= MAP_ANONYMOUS;
	p = mem_map_fd(r->fd, r->len, flags, r->mt->thp);
	if (p == MAP_FAILED)
		return errno;
	r->addr = p;
	return 0;
}

void mem_release(struct mem_region *r)
{
	if (r->addr)
		munmap(r->addr, r->len);
	r->addr = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	mem_unlink(r);
}

void mem_touch(const char *addr, size_t len)
{
	size_t o;

	for (o = 0; o < len; o += base_page())
		(void)*(const volatile char *)(addr + o);
}

int mem_evict(int fd, char *addr, size_t len, bool pageout, const bool *ignore)
{
	size_t n = len / base_page(), u;
	unsigned char *vec = malloc(n ? n : 1);
	int tries, left = 0, e;

	if (!vec)
		return -1;
	for (tries = 0; tries < 50; tries++) {
		fsync(fd);
		if (tries && pageout && madvise(addr, len, MADV_PAGEOUT))
			goto err;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (mincore(addr, len, vec))
			goto err;
		for (left = 0, u = 0; u < n; u++)
			left += !(ignore && ignore[u]) && (vec[u] & 1);
		if (!left)
			break;
		sleep_ms(20);
	}
	free(vec);
	return left;
err:
	e = errno;
	free(vec);
	errno = e;
	return -1;
}

/* ------------------------------------------------------------------ */
/* large folios                                                        */

#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16
#define KPF_THP			22
#define FOLIOS_MAX		512

void folios_of(char *addr, size_t len, struct folios *f)
{
	size_t ps = base_page(), n = len / ps, i;
	uint64_t pm[FOLIOS_MAX], fl;
	int pfd, kfd, run = 0;

	memset(f, 0, sizeof(*f));
	f->pages = n;
	f->huge = pagemap_scan(getpid(), addr, len, PAGE_IS_HUGE, ps, NULL);
	pfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	kfd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (pfd >= 0 && kfd >= 0 && n <= FOLIOS_MAX && !pagemap_read(pfd, addr, n, pm)) {
		for (i = 0; i < n; i++) {
			if (!(pm[i] & PM_PRESENT)) {
				run = 0;
				continue;
			}
			f->present++;
			if (!(pm[i] & PM_PFN) ||
			    pread(kfd, &fl, 8, (pm[i] & PM_PFN) * 8) != 8) {
				run = 0;
				continue;
			}
			f->pfns = true;
			if (fl & (1ULL << KPF_COMPOUND_HEAD)) {
				f->heads++;
				run = 0;
			}
			if (fl & (1ULL << KPF_THP))
				f->thp++;
			if (fl & ((1ULL << KPF_COMPOUND_HEAD) | (1ULL << KPF_COMPOUND_TAIL))) {
				f->large++;
				if (++run > f->biggest)
					f->biggest = run;
			} else {
				run = 0;
			}
		}
	}
	if (pfd >= 0)
		close(pfd);
	if (kfd >= 0)
		close(kfd);
}

const char *folios_str(const struct folios *f)
{
	static char buf[200];

	if (!f->pfns)
		snprintf(buf, sizeof(buf), "%ld bytes PMD-mapped, %d of %d pages mapped, folios unknown (no PFNs or /proc/kpageflags)",
			 f->huge, f->present, f->pages);
	else
		snprintf(buf, sizeof(buf), "%ld bytes PMD-mapped, %d of %d pages mapped, %d in large folios (%d heads, up to %d pages in a row, %d KPF_THP)",
			 f->huge, f->present, f->pages, f->large, f->heads, f->biggest,
			 f->thp);
	return buf;
}

/*
 * A 2 MiB file, written through a 2 MiB aligned MADV_HUGEPAGE shared
 * mapping, read back through another one: its folios into *f.
 */
bool probe_large_folios(const char *dir, struct folios *f)
{
	char path[PATH_MAX], *p;
	bool ok = false;
	int fd;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/.uffdwp-mem.probe.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	unlink(path);
	if (ftruncate(fd, MEM_HPAGE))
		goto out;
	p = mem_map_fd(fd, MEM_HPAGE, MAP_SHARED, true);
	if (p == MAP_FAILED)
		goto out;
	memset(p, 0x5a, MEM_HPAGE);
	munmap(p, MEM_HPAGE);
	p = mem_map_fd(fd, MEM_HPAGE, MAP_SHARED, true);
	if (p == MAP_FAILED)
		goto out;
	mem_touch(p, MEM_HPAGE);
	folios_of(p, MEM_HPAGE, f);
	munmap(p, MEM_HPAGE);
	ok = true;
out:
	close(fd);
	return ok;
}

bool large_folios_expected(const char *fs)
{
	return !strcmp(fs, "xfs");
}

/* ------------------------------------------------------------------ */
/* pagemap                                                             */

int pagemap_read(int fd, const void *addr, size_t n, uint64_t *pm)
{
	off_t off = (off_t)((uintptr_t)addr / base_page()) * 8;
	ssize_t got;
	int own = fd < 0, e;

	if (own)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	got = pread(fd, pm, n * 8, off);
	e = got < 0 ? errno : got != (ssize_t)(n * 8) ? EIO : 0;
	if (own)
		close(fd);
	return e;
}

uint64_t pagemap_entry(const void *addr)
{
	uint64_t e;

	return pagemap_read(-1, addr, 1, &e) ? 0 : e;
}

long pagemap_scan(pid_t pid, const void *addr, size_t len, uint64_t categories,
		  size_t unit, bool *got)
{
	struct page_region r[64];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)addr,
		.end = (uintptr_t)addr + len,
		.vec = (uintptr_t)r,
		.vec_len = 64,
		.category_mask = categories,
		.return_mask = categories,
	};
	char path[64];
	long bytes = 0;
	uintptr_t p;
	int fd, n, i;

	if (got)
		memset(got, 0, len / unit * sizeof(*got));
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do {
		n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			close(fd);
			return -1;
		}
		for (i = 0; i < n; i++) {
			bytes += r[i].end - r[i].start;
			for (p = r[i].start; got && p < r[i].end; p += base_page())
				got[(p - (uintptr_t)addr) / unit] = true;
		}
		arg.start = arg.walk_end;
	} while (arg.walk_end < arg.end && n > 0);
	close(fd);
	return bytes;
}

/* ------------------------------------------------------------------ */
/* userfaultfd messages                                                */

int uffd_wait_msg(int uffd, struct uffd_msg *msg, int ms)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	int64_t end = now_ms() + ms;
	ssize_t n;

	for (;;) {
		int left = (int)(end - now_ms());

		if (left < 0)
			return ETIMEDOUT;
		n = poll(&pfd, 1, left);
		if (n < 0 && errno != EINTR)
			return errno;
		if (n <= 0)
			continue;
		n = read(uffd, msg, sizeof(*msg));
		if (n == sizeof(*msg))
			return 0;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return errno;
	}
}

/* ------------------------------------------------------------------ */
/* sysfs, procfs                                                       */

bool read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	return true;
}

int write_text(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return errno;
	n = write(fd, s, strlen(s));
	e = errno;
	close(fd);
	return n < 0 ? e : 0;
}

long meminfo(const char *key)
{
	char buf[8192], *p;

	if (!read_text("/proc/meminfo", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, key);
	return p ? atol(p + strlen(key)) : -1;
}

/* the value of a knob: the line, or of "a [b] c" the selected word */
static int knob_read(const char *path, char *val, size_t len)
{
	char buf[256], *o, *c, *v = buf;

	if (!read_text(path, buf, sizeof(buf)))
		return errno ? errno : EIO;
	o = strchr(buf, '[');
	c = o ? strchr(o, ']') : NULL;
	if (o && c) {
		*c = 0;
		v = o + 1;
	} else {
		buf[strcspn(buf, "\n")] = 0;
	}
	if (strlen(v) >= len)
		return EOVERFLOW;
	strcpy(val, v);
	return 0;
}

int knob_save(struct knob *k)
{
	int e = knob_read(k->path, k->old, sizeof(k->old));

	k->saved = !e;
	return e;
}

int knob_set(struct knob *k, const char *val)
{
	if (!k->saved)
		TRY(knob_save(k));
	return write_text(k->path, val);
}

int knob_restore(struct knob *k)
{
	char now[sizeof(k->old)];
	int e;

	if (!k->saved)
		return 0;
	e = write_text(k->path, k->old);
	if (!e)
		e = knob_read(k->path, now, sizeof(now));
	if (!e && strcmp(now, k->old))
		e = EIO;
	return e;
}

/* ------------------------------------------------------------------ */
/* results                                                             */

const char *errno_name(int e)
{
	static __thread char buf[24];
	const char *n = strerrorname_np(e);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

int expect_or_skip(bool have, bool expected, const char *fmt, ...)
{
	va_list ap;

	if (have)
		return PASS;
	if (!expected)
		return SKIP;
	if (fmt) {
		va_start(ap, fmt);
		tap_vline("# FAIL: ", fmt, ap);
		va_end(ap);
	}
	return FAIL;
}

/* ------------------------------------------------------------------ */
/* appended                                                            */

int mem_evict_file(int fd, size_t len)
{
	char *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	int left, e;

	if (m == MAP_FAILED)
		return -1;
	left = mem_evict(fd, m, len, false, NULL);
	e = errno;
	munmap(m, len);
	errno = e;
	return left;
}
