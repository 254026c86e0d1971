// SPDX-License-Identifier: GPL-2.0
/*
 * model.c: what uffd-fuzz expects.  A shadow value per page (a known byte,
 * UNKNOWN, or for a private page FOLLOW: the object's), per object for
 * shared memory and per mapping for private memory; the protection of each
 * page; the outcome an access must have; the errnos an operation may fail
 * with.  A batch's results, a forked child's reads and the files are
 * checked against it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fuzz.h"

int check_err(const char *what, int err, uint64_t allowed)
{
	if (!err) {
		__atomic_add_fetch(&g.res.ioctl_ok, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_add_fetch(&g.res.ioctl_err, 1, __ATOMIC_RELAXED);
	if (err >= 64 || !(allowed & E(err)))
		violation(false, "%s: unexpected %s", what, errno_name(err));
	return err;
}

int value(struct region *r, int i)
{
	int v;

	if (r->shared)
		return r->obj->shadow[r->pgoff + i];
	v = r->priv[i];
	if (v == FOLLOW)
		return r->obj ? r->obj->shadow[r->pgoff + i] : 0;
	return v;
}

void set_value(struct region *r, int i, int v)
{
	if (r->shared)
		r->obj->shadow[r->pgoff + i] = v;
	else
		r->priv[i] = v;
}

bool beyond_eof(struct region *r, int i)
{
	return r->obj && (long)((r->pgoff + i) * r->psize) >= r->obj->size;
}

/* the access outcome the model predicts; -1: any */
int predict(struct region *r, int i, bool write)
{
	int p = r->prot[i];

	if (p < 0 || !(p & PROT_READ) || (write && !(p & PROT_WRITE)))
		return SIGSEGV;
	if (beyond_eof(r, i))
		/* hugetlb MAP_PRIVATE: UFFDIO_COPY maps a page beyond EOF */
		return r->kind == MEM_HUGETLB && !r->shared ? -1 : SIGBUS;
	return 0;
}

bool accessible(struct region *r, int i, bool write)
{
	return predict(r, i, write) == 0;	/* -1 (anything) is not */
}

void disturb_obj(struct obj *o)
{
	int i;

	if (!g.batch_pending || !o)
		return;
	for (i = 0; i < MAX_REGIONS; i++)
		if (g.regions[i].used && g.regions[i].obj == o)
			g.regions[i].disturbed = true;
}

void disturb(struct region *r)
{
	if (!g.batch_pending)
		return;
	r->disturbed = true;
	if (r->shared)
		disturb_obj(r->obj);
}

void put_obj(struct obj *o)
{
	if (o && --o->refs == 0) {
		mem_release(&o->mr);
		o->used = false;
	}
}

void free_region(struct region *r)
{
	put_obj(r->obj);
	r->used = false;
	r->dead = false;
}

/* pages of r in [start, start + len): fully covered, or touched */
void pages_in(struct region *r, unsigned long start, unsigned long len,
	      int *first, int *end, int *tfirst, int *tend)
{
	unsigned long a = (unsigned long)r->addr, ps = r->psize;
	unsigned long s = start, e = start + len;
	long f, l, tf, tl;

	if (e < s)		/* overflow */
		e = ~0UL;
	if (e <= a || s >= a + r->npages * ps) {
		*first = *end = *tfirst = *tend = 0;
		return;
	}
	if (s < a)
		s = a;
	if (e > a + r->npages * ps)
		e = a + r->npages * ps;
	f = (s - a + ps - 1) / ps;
	l = (e - a) / ps;
	tf = (s - a) / ps;
	tl = (e - a + ps - 1) / ps;
	*first = f;
	*end = l > f ? l : f;
	*tfirst = tf;
	*tend = tl;
}

bool next_page(struct page_it *it)
{
	int tfirst;

	for (;;) {
		if (it->r && ++it->i < it->tend) {
			if (it->r->prot[it->i] == -1)
				continue;
			it->full = it->i >= it->first && it->i < it->end;
			return true;
		}
		if (it->ri == MAX_REGIONS)
			return false;
		it->r = &g.regions[it->ri++];
		it->i = it->tend = 0;
		if (it->r->used) {
			pages_in(it->r, it->start, it->len, &it->first, &it->end, &tfirst,
				 &it->tend);
			it->i = tfirst - 1;
		}
	}
}

/*
 * Pages the handler (or the writer, in SIGBUS mode) filled with zeroes on
 * a MISSING fault: a private page is detached from its file from then on.
 */
void apply_zeroed(void)
{
	unsigned long z[256];
	int n, k, ri, i;
	bool lost;

	pthread_mutex_lock(&h.lock);
	n = h.nzeroed;
	memcpy(z, h.zeroed, n * sizeof(z[0]));
	lost = h.zeroed_lost;
	h.nzeroed = 0;
	h.zeroed_lost = false;
	pthread_mutex_unlock(&h.lock);
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->shared || !r->obj)
			continue;
		for (k = 0; k < n; k++) {
			unsigned long a = (unsigned long)r->addr;

			if (z[k] < a || z[k] >= a + r->npages * r->psize)
				continue;
			i = (z[k] - a) / r->psize;
			if (r->priv[i] == FOLLOW)
				r->priv[i] = 0;
		}
		if (lost)
			for (i = 0; i < r->npages; i++)
				if (r->priv[i] == FOLLOW)
					r->priv[i] = UNKNOWN;
	}
}

/*
 * A read fault of a hugetlb MAP_PRIVATE page that is not in the page cache
 * maps a private zeroed page: from then on it does not follow the file.
 * (The model's 0 may be a hole or a cached page: it does not know which.)
 */
bool hugetlb_read_detaches(struct region *r, int i)
{
	return r->kind == MEM_HUGETLB && !r->shared && r->priv[i] == FOLLOW &&
	       r->obj->shadow[r->pgoff + i] == 0;
}

void check_results(void)
{
	int k;

	apply_zeroed();
	for (k = 0; k < g.nbatch; k++) {
		struct access *a = &g.batch[k];
		struct region *r = &g.regions[a->ri];
		bool dist = r->disturbed || !r->used || r->dead;
		int v;

		/* what the page held before a write (copy-before-write records) */
		if (a->write)
			a->pre = dist ? PRE_NONE : value(r, a->page);

		case_count(ST_ACCESSES, 1);
		if (g.trace)
			diag("trace:   %s region %d page %d %#x: result %d got %#x/%#x model %d%s",
			     a->write ? "write" : "read", r->id, a->page, a->byte, a->result,
			     a->got0, a->got1, r->used ? value(r, a->page) : -9,
			     dist ? " (disturbed)" : "");
		if (dist) {
			if (r->used && a->write)
				set_value(r, a->page, UNKNOWN);
			continue;
		}
		if (a->expect >= 0 && a->result != a->expect) {
			bool ok = false;

			/* SIGBUS mode gave up, or hugetlb out of pages */
			if (a->result == SIGBUS && a->expect == 0 &&
			    (g.mode == UM_SIGBUS || r->kind == MEM_HUGETLB))
				ok = true;
			if (!ok) {
				violation(false, "%s of region %d (%s %s) page %d at %p: %s, expected %s",
					  a->write ? "write" : "read", r->id, kind_name(r->kind),
					  r->shared ? "shared" : "private", a->page, a->addr,
					  a->result ? strsignal(a->result) : "no signal",
					  a->expect ? strsignal(a->expect) : "no signal");
			}
			if (a->write)
				set_value(r, a->page, UNKNOWN);
			continue;
		}
		if (a->result)
			continue;
		if (a->write) {
			/* a page across EOF: its tail is not kept (writeback zeroes it) */
			if (r->shared && (long)((r->pgoff + a->page + 1) * r->psize) > r->obj->size)
				set_value(r, a->page, UNKNOWN);
			else
				set_value(r, a->page, a->byte);
			continue;
		}
		v = value(r, a->page);
		if (hugetlb_read_detaches(r, a->page))
			r->priv[a->page] = UNKNOWN;
		if (v >= 0 && (a->got0 != v || a->got1 != v))
			violation(true, "read of region %d (%s %s, object %d) page %d at %p: bytes %#x/%#x, expected %#x",
				  r->id, kind_name(r->kind), r->shared ? "shared" : "private",
				  r->obj ? r->obj->id : -1, a->page, a->addr, a->got0, a->got1, v);
		else if (v < 0 && a->got0 == a->got1 && r->shared &&
			 (long)((r->pgoff + a->page + 1) * r->psize) <= r->obj->size)
			/*
			 * learn it: only shared pages within EOF tell the truth
			 * (private ones may follow the file, MADV_FREE'd anon
			 * pages may still become zero)
			 */
			set_value(r, a->page, a->got0);
	}
	cbw_consume(true);
	g.nbatch = 0;
}

/* mprotect ENOMEM leaves prot -2: we do not know it; restore it */
void fix_prots(void)
{
	int ri, i;

	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used)
			continue;
		for (i = 0; i < r->npages; i++)
			if (r->prot[i] == -2) {
				if (mprotect(r->addr + i * r->psize, r->psize,
					     PROT_READ | PROT_WRITE))
					violation(false, "restoring prot of region %d page %d: %m",
						  r->id, i);
				r->prot[i] = PROT_READ | PROT_WRITE;
			}
	}
}

/* every private region of o: pages at index >= from follow the file again */
void cows_dropped(struct obj *o, int from, bool unknown)
{
	int ri, i;

	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->obj != o || r->shared)
			continue;
		for (i = 0; i < r->npages; i++)
			if (r->pgoff + i >= from) {
				r->priv[i] = unknown ? UNKNOWN : FOLLOW;
				disturb(r);
			}
	}
}

/* pages [start, start + done) of every region now hold v */
void filled(unsigned long start, long done, int v)
{
	struct page_it it = { .start = start, .len = done };

	if (done <= 0)
		return;
	while (next_page(&it)) {
		disturb(it.r);
		set_value(it.r, it.i, it.full ? v : UNKNOWN);
	}
}

/* the file (pread) agrees with the model: false when it cannot be read */
static bool verify_file(struct obj *o)
{
	unsigned char b0, b1;
	int i;

	for (i = 0; i < o->cap && (long)((i + 1) * o->psize) <= o->size; i++) {
		if (o->shadow[i] < 0)
			continue;
		if (pread(o->mr.fd, &b0, 1, i * o->psize) != 1 ||
		    pread(o->mr.fd, &b1, 1, i * o->psize + o->psize - 1) != 1) {
			violation(false, "pread of object %d (%s): %m", o->id, kind_name(o->kind));
			return false;
		}
		if (b0 != o->shadow[i] || b1 != o->shadow[i])
			violation(true, "pread of object %d (%s) page %d: %#x/%#x, expected %#x",
				  o->id, kind_name(o->kind), i, b0, b1, o->shadow[i]);
	}
	return true;
}

void verify_files(void)
{
	int k;

	for (k = 0; k < MAX_OBJS; k++)
		if (g.objs[k].used && !verify_file(&g.objs[k]))
			return;
}
