// SPDX-License-Identifier: GPL-2.0
/*
 * ops.c: the operations of uffd-fuzz's main thread, drawn from the seed's
 * random numbers (fuzz_op()): mappings, files, uffd ioctls on ranges that
 * are often slightly wrong, forks, batches of accesses, the probe.  Each
 * is logged (oplog()) and brings the model up to date.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "fuzz.h"

/* ------------------------------------------------------------------ */
/* batches of accesses                                                 */

void add_access(struct region *r, int ri, int i, bool write, int byte)
{
	struct access *a = &g.batch[g.nbatch++];

	*a = (struct access){
		.addr = r->addr + i * r->psize, .psize = r->psize, .ri = ri, .page = i,
		.write = write, .byte = byte, .expect = predict(r, i, write),
	};
}

int pick_region(void)
{
	int tries, ri;

	for (tries = 0; tries < 40; tries++) {
		ri = rnd(MAX_REGIONS);
		if (g.regions[ri].used && !g.regions[ri].dead)
			return ri;
	}
	return -1;
}

/* a random batch: mostly accessible pages, some that must fault */
static void make_batch(int n, int write_pct)
{
	int k, tries;

	g.nbatch = 0;
	for (k = 0; k < n; k++) {
		int ri = pick_region(), i = 0;
		bool w = chance(write_pct);
		struct region *r;

		if (ri < 0)
			return;
		r = &g.regions[ri];
		for (tries = 0; tries < 8; tries++) {
			i = rnd(r->npages);
			if (accessible(r, i, w))
				break;
		}
		/* pages beyond EOF or unmapped: only sometimes */
		if (!accessible(r, i, w) && !chance(15))
			continue;
		add_access(r, ri, i, w, 1 + rnd(255));
	}
}


/* ------------------------------------------------------------------ */
/* ranges, often slightly wrong                                        */

struct range {
	unsigned long start, len;
	int ri;
};

static struct range gen_range(void)
{
	int ri = pick_region(), a, n;
	struct region *r;
	struct range rg = { 0, 0, ri };

	if (ri < 0) {
		rg.start = 0x10000;
		rg.len = PS;
		return rg;
	}
	r = &g.regions[ri];
	a = rnd(r->npages);
	n = 1 + rnd(r->npages - a);
	rg.start = (unsigned long)r->addr + a * r->psize;
	rg.len = n * r->psize;
	switch (rnd(24)) {	/* 7 in 24 slightly wrong */
	case 0:
		rg.start += chance(50) ? 1 : PS;	/* unaligned (hugetlb: 4K) */
		break;
	case 1:
		rg.len += r->psize;		/* one page too long */
		break;
	case 2:
		rg.len = 0;
		break;
	case 3:
		rg.start -= r->psize;		/* one page before */
		rg.len += r->psize;
		break;
	case 4:
		rg.len = chance(50) ? -rg.start : 1UL << 47;	/* overflow */
		break;
	case 5:
		rg.len += 1;
		break;
	case 6:
		rg.start = (unsigned long)r->addr;	/* the whole region and more */
		rg.len = (r->npages + rnd(3)) * r->psize;
		break;
	}
	return rg;
}

/*
 * madvise(), mprotect() and msync() act on whatever is mapped: keep their
 * ranges inside the slot of the region they aim at (an overflowing range
 * is still passed, the kernel refuses it first).  False: no region.
 */
static bool clamp(struct range *rg)
{
	unsigned long lo, hi;

	if (rg->ri < 0)
		return false;
	lo = (unsigned long)g.arena + rg->ri * SLICE;
	hi = lo + SLICE;
	if (rg->start < lo)
		rg->start = lo;
	if (rg->start + rg->len < rg->start)
		return true;
	if (rg->start + rg->len > hi)
		rg->len = hi > rg->start ? hi - rg->start : 0;
	return true;
}

/* ------------------------------------------------------------------ */
/* objects and regions                                                 */

static struct obj *new_obj(enum mem_kind kind, int npages)
{
	const struct mem_type *mt = NULL;
	struct obj *o = NULL;
	char tag[32];
	int i, e, fsi = 0;

	for (i = 0; i < MAX_OBJS; i++)
		if (!g.objs[i].used) {
			o = &g.objs[i];
			break;
		}
	if (!o)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->psize = kind == MEM_HUGETLB ? HPS : PS;
	o->cap = kind == MEM_HUGETLB ? HUGE_CAP : MAX_PAGES;
	if (kind == MEM_FILE)
		fsi = rnd(g.nfs);
	/* the fsi-th type of the kind: files once per file system */
	for (i = 0; i < g.ntypes && !mt; i++)
		if (g.types[i].kind == kind && !fsi--)
			mt = &g.types[i];
	snprintf(tag, sizeof(tag), "uffd-fuzz.%d", g.next_id);
	e = mt ? mem_create(&o->mr, mt, 0, tag) : ENOENT;
	if (e) {
		violation(false, "creating a %s object: %s", kind_name(kind), errno_name(e));
		return NULL;
	}
	mem_unlink(&o->mr);
	o->size = npages * o->psize;
	if (kind != MEM_HUGETLB && chance(10))	/* a mapping beyond EOF */
		o->size = rnd(npages + 1) * o->psize;
	if (ftruncate(o->mr.fd, o->size)) {
		violation(false, "ftruncate of a new %s object: %m", kind_name(kind));
		mem_release(&o->mr);
		return NULL;
	}
	for (i = 0; i < o->cap; i++)
		o->shadow[i] = 0;
	/* some initial data */
	if (kind != MEM_HUGETLB) {
		for (i = 0; i < (int)(o->size / PS); i++) {
			unsigned char b = 1 + rnd(255);

			if (!chance(30))
				continue;
			if (pwrite(o->mr.fd, &b, 1, i * PS) != 1 ||
			    pwrite(o->mr.fd, &b, 1, i * PS + PS - 1) != 1) {
				violation(false, "pwrite of a new %s object: %m", kind_name(kind));
				break;
			}
			o->shadow[i] = b;
		}
	}
	o->used = true;
	o->id = g.next_id++;
	o->refs = 0;
	return o;
}

static int free_slot(void)
{
	int i;

	for (i = 0; i < MAX_REGIONS; i++)
		if (!g.regions[i].used)
			return i;
	return -1;
}

static void op_mmap(void)
{
	int ri = free_slot(), npages, i, flags;
	struct region *r;
	struct obj *o = NULL;
	enum mem_kind t;
	bool shared = chance(50), thp = false;
	size_t ps, len;
	int pgoff = 0;
	char *p;

	if (ri < 0 || g.batch_pending)
		return;
	r = &g.regions[ri];
	if (chance(15)) {		/* another mapping of an object */
		int k = rnd(MAX_OBJS);

		if (g.objs[k].used)
			o = &g.objs[k];
	}
	if (g.force_anon) {
		o = NULL;
		t = MEM_ANON;
	} else if (o) {
		t = o->kind;
	} else {
		int x = rnd(100);

		t = x < 25 ? MEM_ANON : x < 45 ? MEM_SHMEM : x < 90 ? MEM_FILE : MEM_HUGETLB;
		if (t == MEM_HUGETLB && !g.hugetlb)
			t = MEM_SHMEM;
	}
	if (t == MEM_ANON)
		shared = false;
	ps = t == MEM_HUGETLB ? HPS : PS;
	if (t == MEM_HUGETLB)
		npages = 1 + rnd(4);
	else if (t != MEM_FILE && chance(15)) {
		npages = MAX_PAGES;	/* 2 MiB, aligned: THP */
		thp = true;
	} else
		npages = 1 + rnd(40);
	if (o) {
		pgoff = rnd(o->cap);
		if (pgoff + npages > o->cap)
			npages = o->cap - pgoff;
	} else if (t != MEM_ANON) {
		o = new_obj(t, npages);
		if (!o)
			return;
	}
	len = npages * ps;
	/* the slot's slice: clean it, then map at its start + 2 MiB (+ a bit) */
	p = g.arena + ri * SLICE;
	if (mmap(p, SLICE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
		 -1, 0) == MAP_FAILED) {
		violation(false, "mmap reserve: %m");
		return;
	}
	p += HPS;
	if (!thp && t != MEM_HUGETLB && chance(50))
		p += PS * rnd(8);
	flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED;
	if (!o)
		flags |= MAP_ANONYMOUS;
	p = mmap(p, len, PROT_READ | PROT_WRITE, flags, o ? o->mr.fd : -1, pgoff * ps);
	oplog("mmap %s %s object %d pgoff %d npages %d -> region %d at %p%s",
	      kind_name(t), shared ? "shared" : "private", o ? o->id : -1, pgoff, npages,
	      g.next_id, p == MAP_FAILED ? NULL : p, p == MAP_FAILED ? " (failed)" : "");
	if (p == MAP_FAILED) {
		/* hugetlb: the pool may be empty */
		if (!(t == MEM_HUGETLB && errno == ENOMEM))
			violation(false, "mmap %s: %m", kind_name(t));
		if (o && !o->refs) {
			o->refs = 1;
			put_obj(o);
		}
		return;
	}
	*r = (struct region){ .used = true, .id = g.next_id++, .obj = o, .kind = t,
			      .shared = shared, .addr = p, .psize = ps, .npages = npages,
			      .pgoff = pgoff };
	if (o)
		o->refs++;
	for (i = 0; i < npages; i++) {
		r->prot[i] = PROT_READ | PROT_WRITE;
		r->priv[i] = o ? FOLLOW : 0;
	}
	/* hugetlbfs: a writable mapping extends the file */
	if (t == MEM_HUGETLB && o->size < (long)((pgoff + npages) * ps))
		o->size = (pgoff + npages) * ps;
	if (thp)
		madvise(p, len, chance(70) ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

static void op_munmap(void)
{
	int ri = pick_region(), a, n, i;
	struct region *r;
	bool any = false;

	if (ri < 0)
		return;
	r = &g.regions[ri];
	if (chance(40)) {
		a = 0;
		n = r->npages;
	} else {
		a = rnd(r->npages);
		n = 1 + rnd(r->npages - a);
	}
	oplog("munmap region %d pages [%d, %d)%s", r->id, a, a + n,
	      g.batch_pending ? " (batch running)" : "");
	if (munmap(r->addr + a * r->psize, n * r->psize))
		violation(false, "munmap region %d [%d, %d): %m", r->id, a, a + n);
	disturb(r);
	for (i = a; i < a + n; i++)
		r->prot[i] = -1;
	for (i = 0; i < r->npages; i++)
		any |= r->prot[i] != -1;
	if (!any) {
		if (g.batch_pending)
			r->dead = true;
		else
			free_region(r);
	}
}

static void op_mremap(void)
{
	int ri = pick_region(), i, n, how;
	struct region *r;
	char *p, *q = NULL;
	size_t old;

	if (ri < 0 || g.batch_pending)
		return;
	r = &g.regions[ri];
	if (r->kind == MEM_HUGETLB)
		return;
	for (i = 0; i < r->npages; i++)
		if (r->prot[i] != r->prot[0])
			return;		/* one vma only */
	if (r->prot[0] < 0)
		return;
	old = r->npages * r->psize;
	how = rnd(3);
	n = how == 0 ? 1 + rnd(r->npages) : 1 + rnd(MAX_PAGES - r->pgoff);
	if (how == 2) {		/* move to the other half of the slice */
		char *lo = g.arena + ri * SLICE + HPS, *hi = lo + SLICE / 2;

		q = r->addr >= hi ? lo : hi;
		q += r->addr - (r->addr >= hi ? hi : lo);	/* same alignment */
		p = mremap(r->addr, old, n * PS, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	} else {
		/* grow in place: make room in the reservation first */
		if ((size_t)n * PS > old)
			munmap(r->addr + old, n * PS - old);
		p = mremap(r->addr, old, n * PS, 0);
	}
	oplog("mremap region %d %d -> %d pages %s -> %p", r->id, r->npages, n,
	      how == 0 ? "in place" : how == 1 ? "maymove" : "fixed", p == MAP_FAILED ? NULL : p);
	if (p == MAP_FAILED) {
		unsigned char vec;
		int err = errno;

		oplog("mremap failed: %s", errno_name(err));
		if (err != ENOMEM && err != EINVAL && err != EFAULT && err != EAGAIN)
			violation(false, "mremap region %d: unexpected %s", r->id, errno_name(err));
		/*
		 * mremap(MREMAP_FIXED) to a smaller size unmaps the tail before it
		 * moves, and may fail after that: ask mincore() what is left
		 */
		for (i = 0; i < r->npages; i++)
			if (mincore(r->addr + i * r->psize, r->psize, &vec) && errno == ENOMEM)
				r->prot[i] = -1;
		return;
	}
	for (i = r->npages; i < n; i++) {
		r->prot[i] = r->prot[0];
		r->priv[i] = r->obj ? FOLLOW : 0;
	}
	r->addr = p;
	r->npages = n;
}

static void op_mprotect(void)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE,
				     PROT_READ | PROT_WRITE };
	struct range rg = gen_range();
	int prot = prots[rnd(4)], err;
	struct page_it it;

	if (!clamp(&rg))
		return;
	err = mprotect((void *)rg.start, rg.len, prot) ? errno : 0;
	oplog("mprotect [%#lx, +%#lx) %d: %s", rg.start, rg.len, prot, errno_name(err));
	if (err && err != EINVAL && err != ENOMEM && err != EACCES)
		violation(false, "mprotect: unexpected %s", errno_name(err));
	it = (struct page_it){ .start = rg.start, .len = rg.len };
	while (next_page(&it)) {
		disturb(it.r);
		/*
		 * on an error, part of it may have changed (EINVAL too: a
		 * hugetlb vma that cannot split at an unaligned end after the
		 * vmas before it changed): assume nothing
		 */
		it.r->prot[it.i] = err ? -2 : prot;
	}
}

static void op_madvise(void)
{
	static const struct { int adv; const char *name; } advs[] = {
		{ MADV_DONTNEED, "DONTNEED" }, { MADV_PAGEOUT, "PAGEOUT" },
		{ MADV_COLD, "COLD" }, { MADV_HUGEPAGE, "HUGEPAGE" },
		{ MADV_NOHUGEPAGE, "NOHUGEPAGE" }, { MADV_COLLAPSE, "COLLAPSE" },
		{ MADV_REMOVE, "REMOVE" }, { MADV_POPULATE_WRITE, "POPULATE_WRITE" },
		{ MADV_POPULATE_READ, "POPULATE_READ" }, { MADV_WILLNEED, "WILLNEED" },
		{ MADV_FREE, "FREE" }, { MADV_DONTNEED, "DONTNEED" },
		{ MADV_PAGEOUT, "PAGEOUT" },
	};
	int k = rnd(sizeof(advs) / sizeof(advs[0])), adv = advs[k].adv;
	struct range rg = gen_range();
	int ri, f, e, tf, te, err;
	struct page_it it;

	if (!clamp(&rg))
		return;
	err = madvise((void *)rg.start, rg.len, adv) ? errno : 0;
	oplog("madvise [%#lx, +%#lx) %s: %s", rg.start, rg.len, advs[k].name, errno_name(err));
	if (err && (err >= 64 || !(A_MADV & E(err))))
		violation(false, "madvise %s: unexpected %s", advs[k].name, errno_name(err));
	it = (struct page_it){ .start = rg.start, .len = rg.len };
	if (adv == MADV_POPULATE_READ || adv == MADV_WILLNEED) {
		while (next_page(&it))
			if (hugetlb_read_detaches(it.r, it.i))
				it.r->priv[it.i] = UNKNOWN;
		return;
	}
	if (adv != MADV_DONTNEED && adv != MADV_REMOVE && adv != MADV_FREE &&
	    adv != MADV_POPULATE_WRITE)
		return;
	while (next_page(&it)) {
		struct region *r = it.r;
		bool full = it.full && !err;
		int i = it.i;

		disturb(r);
		if (adv == MADV_POPULATE_WRITE) {
			if (r->shared || r->priv[i] != FOLLOW)
				continue;
			/* private page copied now, or not */
			r->priv[i] = full ? value(r, i) : UNKNOWN;
		} else if (adv == MADV_REMOVE) {
			if (!r->shared)
				continue;
			if (full && !beyond_eof(r, i))
				set_value(r, i, 0);
			else if (err || !full)
				set_value(r, i, UNKNOWN);
		} else if (r->shared) {
			continue;	/* DONTNEED, FREE: shared data stays */
		} else if (adv == MADV_FREE) {
			r->priv[i] = UNKNOWN;
		} else if (full) {
			r->priv[i] = r->obj ? FOLLOW : 0;
		} else {
			r->priv[i] = UNKNOWN;
		}
	}
	/* a REMOVE on a shared mapping changes every mapping of the object */
	if (adv == MADV_REMOVE)
		for (ri = 0; ri < MAX_REGIONS; ri++) {
			struct region *r = &g.regions[ri];

			if (!r->used || !r->shared)
				continue;
			pages_in(r, rg.start, rg.len, &f, &e, &tf, &te);
			if (te <= tf)
				continue;
			disturb_obj(r->obj);
			if (r->kind == MEM_HUGETLB)	/* private copies may go too */
				cows_dropped(r->obj, 0, true);
		}
}

static struct obj *pick_obj(void)
{
	int tries, k;

	for (tries = 0; tries < 30; tries++) {
		k = rnd(MAX_OBJS);
		if (g.objs[k].used)
			return &g.objs[k];
	}
	return NULL;
}

static void op_ftruncate(void)
{
	struct obj *o = pick_obj();
	long size, oldpages, newfull, i;
	int err;

	if (!o)
		return;
	size = rnd(o->cap + 1) * o->psize;
	if (chance(20))
		size += 1 + rnd(o->psize - 1);	/* unaligned */
	if (size > (long)(o->cap * o->psize))
		size = o->cap * o->psize;
	err = ftruncate(o->mr.fd, size) ? errno : 0;
	oplog("ftruncate object %d (%s) %ld -> %ld: %s", o->id, kind_name(o->kind),
	      o->size, size, errno_name(err));
	if (err) {
		if (!(err == EINVAL && o->kind == MEM_HUGETLB))
			violation(false, "ftruncate: unexpected %s", errno_name(err));
		return;
	}
	disturb_obj(o);
	oldpages = (o->size + o->psize - 1) / o->psize;
	newfull = size / o->psize;
	if (size < o->size) {
		/* beyond: gone (zero when the file grows again) */
		for (i = (size + o->psize - 1) / o->psize; i < o->cap; i++)
			o->shadow[i] = 0;
		if (size % o->psize)
			o->shadow[newfull] = UNKNOWN;	/* its tail is zeroed */
		/* private copies beyond the new EOF are dropped too */
		cows_dropped(o, (size + o->psize - 1) / o->psize, false);
	} else if (o->size % o->psize) {
		/* the old partial page: beyond its old EOF were zeroes */
		o->shadow[o->size / o->psize] = UNKNOWN;
	}
	(void)oldpages;
	o->size = size;
}

static void op_punch(void)
{
	struct obj *o = pick_obj();
	long off, len, i, first, end;
	int err;

	if (!o)
		return;
	off = rnd(o->cap) * o->psize;
	len = (1 + rnd(8)) * o->psize;
	if (chance(20))
		off += rnd(o->psize);
	if (chance(20))
		len += rnd(o->psize);
	err = fallocate(o->mr.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) ? errno : 0;
	oplog("punch object %d (%s) [%ld, +%ld): %s", o->id, kind_name(o->kind), off, len,
	      errno_name(err));
	if (err) {
		if (err != EOPNOTSUPP && err != EINVAL)
			violation(false, "fallocate(PUNCH_HOLE): unexpected %s", errno_name(err));
		return;
	}
	disturb_obj(o);
	first = (off + o->psize - 1) / o->psize;
	end = (off + len) / o->psize;
	for (i = off / o->psize;
	     i < (long)((off + len + o->psize - 1) / o->psize) && i < o->cap; i++) {
		if (i * (long)o->psize >= o->size)
			continue;
		o->shadow[i] = i >= first && i < end ? 0 : UNKNOWN;
	}
	if (o->kind == MEM_HUGETLB)	/* private copies may go too */
		cows_dropped(o, off / o->psize, true);
}

static void op_sync(void)
{
	struct obj *o;
	struct range rg;
	int err, k = rnd(4);

	if (k == 3) {
		static const int fl[] = { MS_SYNC, MS_ASYNC, MS_INVALIDATE,
					  MS_SYNC | MS_INVALIDATE };
		int f = fl[rnd(4)];

		rg = gen_range();
		if (!clamp(&rg))
			return;
		err = msync((void *)(rg.start & ~(PS - 1)), rg.len, f) ? errno : 0;
		oplog("msync [%#lx, +%#lx) %#x: %s", rg.start, rg.len, f, errno_name(err));
		if (err && err != ENOMEM && err != EINVAL && err != EBUSY)
			violation(false, "msync: unexpected %s", errno_name(err));
		return;
	}
	o = pick_obj();
	if (!o)
		return;
	if (k == 0)
		err = fsync(o->mr.fd) ? errno : 0;
	else if (k == 1)
		err = fdatasync(o->mr.fd) ? errno : 0;
	else
		err = posix_fadvise(o->mr.fd, 0, 0, POSIX_FADV_DONTNEED);
	oplog("%s object %d (%s): %s",
	      k == 0 ? "fsync" : k == 1 ? "fdatasync" : "fadvise(DONTNEED)",
	      o->id, kind_name(o->kind), errno_name(err));
	if (err && !(err == EINVAL && k < 2))
		violation(false, "fsync/fadvise: unexpected %s", errno_name(err));
}

static void op_pwrite(void)
{
	struct obj *o = pick_obj();
	unsigned char b = 1 + rnd(255);
	long i;
	int err = 0;

	if (!o || o->kind == MEM_HUGETLB || o->size < (long)o->psize)
		return;
	i = rnd(o->size / o->psize);
	if (pwrite(o->mr.fd, &b, 1, i * o->psize) != 1 ||
	    pwrite(o->mr.fd, &b, 1, i * o->psize + o->psize - 1) != 1)
		err = errno;
	oplog("pwrite object %d (%s) page %ld = %#x: %s", o->id, kind_name(o->kind), i, b,
	      errno_name(err));
	disturb_obj(o);
	if (err) {
		violation(false, "pwrite: %s", errno_name(err));
		o->shadow[i] = UNKNOWN;
		return;
	}
	o->shadow[i] = b;
}

/* ------------------------------------------------------------------ */
/* uffd operations                                                     */

int ensure_uffd(void)
{
	int fd = cur_uffd();

	if (fd >= 0)
		return fd;
	fd = uffd_open(g.features, NULL);
	if (fd < 0) {
		violation(false, "re-opening the uffd: %s", errno_name(-fd));
		return -1;
	}
	__atomic_store_n(&h.uffd, fd, __ATOMIC_RELEASE);
	cbw_setup(fd);
	return fd;
}

enum range_ioctl { RI_REGISTER, RI_UNREGISTER, RI_WRITEPROTECT, RI_WAKE };

/* an ioctl of the uffd on a random range (mode: drawn before the range) */
static void range_ioctl(enum range_ioctl which, uint64_t mode)
{
	static const struct { const char *name; uint64_t allowed; bool mode; } ri[] = {
		[RI_REGISTER] = { "REGISTER", A_REGISTER, true },
		[RI_UNREGISTER] = { "UNREGISTER", A_UNREGISTER, false },
		[RI_WRITEPROTECT] = { "WRITEPROTECT", A_WP, true },
		[RI_WAKE] = { "WAKE", A_WAKE, false },
	};
	struct range rg = gen_range();
	int fd = ensure_uffd(), err;
	void *start = (void *)rg.start;
	char what[32];

	if (fd < 0)
		return;
	if (which == RI_REGISTER)
		err = uffd_register(fd, start, rg.len, mode, NULL);
	else if (which == RI_UNREGISTER)
		err = uffd_unregister(fd, start, rg.len);
	else if (which == RI_WRITEPROTECT)
		err = uffd_writeprotect(fd, start, rg.len, mode);
	else
		err = uffd_wake(fd, start, rg.len);
	if (ri[which].mode)
		oplog("%s [%#lx, +%#lx) mode %#llx: %s", ri[which].name, rg.start, rg.len,
		      (unsigned long long)mode, errno_name(err));
	else
		oplog("%s [%#lx, +%#lx): %s%s", ri[which].name, rg.start, rg.len, errno_name(err),
		      which == RI_UNREGISTER && g.batch_pending ? " (batch running)" : "");
	snprintf(what, sizeof(what), "UFFDIO_%s", ri[which].name);
	check_err(what, err, ri[which].allowed);
}

static void op_register(void)
{
	static const uint64_t modes[] = {
		UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_WP, UFFDIO_REGISTER_MODE_WP,
		UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_MINOR,
		UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING,
		UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR,
		UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
		UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
		0, 1ULL << 7,
	};

	range_ioctl(RI_REGISTER, modes[rnd(sizeof(modes) / sizeof(modes[0]))]);
}

static void op_writeprotect(void)
{
	static const uint64_t modes[] = {
		UFFDIO_WRITEPROTECT_MODE_WP, UFFDIO_WRITEPROTECT_MODE_WP,
		UFFDIO_WRITEPROTECT_MODE_WP, 0, 0,
		UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
		UFFDIO_WRITEPROTECT_MODE_DONTWAKE, 1ULL << 5,
	};

	range_ioctl(RI_WRITEPROTECT, modes[rnd(sizeof(modes) / sizeof(modes[0]))]);
}

static void op_mfill(int which)
{
	static const uint64_t cmodes[] = { 0, 0, UFFDIO_COPY_MODE_WP, UFFDIO_COPY_MODE_DONTWAKE,
					   1ULL << 9 };
	struct range rg = gen_range();
	int fd = ensure_uffd(), err, b = rnd(256);
	uint64_t mode = cmodes[rnd(5)];
	long done = 0;
	size_t len = rg.len;

	if (fd < 0)
		return;
	if (which == 0) {
		if (len > (8UL << 20))
			len = 8UL << 20;
		memset(g.srcbuf, b, len + 1);	/* the source may start 1 byte in */
		err = io_copy(fd, rg.start, (unsigned long)g.srcbuf + (chance(5) ? 1 : 0),
			      rg.len > (8UL << 20) ? len : rg.len, mode, &done);
		oplog("COPY [%#lx, +%#lx) byte %#x mode %#llx: %s, copied %#lx", rg.start,
		      rg.len, b, (unsigned long long)mode, errno_name(err), done);
		check_err("UFFDIO_COPY", err, A_MFILL);
		filled(rg.start, done, b);
	} else if (which == 1) {
		mode = mode == UFFDIO_COPY_MODE_WP ? 0 : mode;
		err = io_zeropage(fd, rg.start, rg.len, mode, &done);
		oplog("ZEROPAGE [%#lx, +%#lx) mode %#llx: %s, zeroed %#lx", rg.start, rg.len,
		      (unsigned long long)mode, errno_name(err), done);
		check_err("UFFDIO_ZEROPAGE", err, A_MFILL);
		filled(rg.start, done, 0);
	} else {
		mode = mode == UFFDIO_COPY_MODE_WP ? UFFDIO_CONTINUE_MODE_WP : mode;
		err = io_continue(fd, rg.start, rg.len, mode);
		oplog("CONTINUE [%#lx, +%#lx) mode %#llx: %s", rg.start, rg.len,
		      (unsigned long long)mode, errno_name(err));
		check_err("UFFDIO_CONTINUE", err, A_MFILL);
	}
}

static void op_move(void)
{
	struct range d = gen_range(), s = gen_range();
	int fd = ensure_uffd(), err, ri;
	struct uffdio_move m = { 0 };
	struct page_it it;
	int16_t vals[MAX_PAGES * 2];
	long npg, k;

	if (fd < 0)
		return;
	m.dst = d.start;
	m.src = s.start;
	m.len = d.len < s.len ? d.len : s.len;
	m.mode = (chance(50) ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0) |
		 (chance(20) ? UFFDIO_MOVE_MODE_DONTWAKE : 0);
	/* the source values, page by page (4K: MOVE is anon only) */
	npg = m.len / PS < MAX_PAGES * 2 ? m.len / PS : MAX_PAGES * 2;
	for (k = 0; k < npg; k++) {
		vals[k] = UNKNOWN;
		for (ri = 0; ri < MAX_REGIONS; ri++) {
			struct region *r = &g.regions[ri];
			unsigned long a = m.src + k * PS;

			if (r->used && a >= (unsigned long)r->addr &&
			    a < (unsigned long)r->addr + r->npages * r->psize &&
			    r->psize == PS && !(a & (PS - 1)) &&
			    r->prot[(a - (unsigned long)r->addr) / PS] >= 0)
				vals[k] = value(r, (a - (unsigned long)r->addr) / PS);
		}
	}
	err = ioctl(fd, UFFDIO_MOVE, &m) ? errno : 0;
	oplog("MOVE [%#llx, +%#llx) -> %#llx mode %#llx: %s, moved %#llx",
	      (unsigned long long)m.src, (unsigned long long)m.len, (unsigned long long)m.dst,
	      (unsigned long long)m.mode, errno_name(err),
	      (unsigned long long)(m.move > 0 ? m.move : 0));
	check_err("UFFDIO_MOVE", err, A_MOVE);
	if (m.move <= 0)
		return;
	/* src and dst never overlap: the order does not matter */
	it = (struct page_it){ .start = m.dst, .len = m.move };
	while (next_page(&it)) {
		k = ((unsigned long)it.r->addr + it.i * it.r->psize - m.dst) / PS;
		disturb(it.r);
		set_value(it.r, it.i, it.full && k < npg && it.r->psize == PS ? vals[k] : UNKNOWN);
	}
	it = (struct page_it){ .start = m.src, .len = m.move };
	while (next_page(&it)) {
		disturb(it.r);
		set_value(it.r, it.i, it.full && it.r->psize == PS ? 0 : UNKNOWN);
	}
}

static void op_pagemap_scan(void)
{
	struct page_region vec[16];
	struct range rg = gen_range();
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = rg.start,
		.end = rg.start + rg.len,
		.vec = (unsigned long)vec,
		.vec_len = rnd(17),
		.max_pages = chance(50) ? 0 : rnd(64),
		.category_mask = chance(50) ? PAGE_IS_WRITTEN : rnd(256),
		.category_anyof_mask = chance(50) ? 0 : rnd(256),
		.category_inverted = chance(80) ? 0 : rnd(256),
		.return_mask = chance(20) ? 0 :
			PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT | rnd(256),
	};
	long r;
	int err;

	if (chance(50))
		a.flags |= PM_SCAN_WP_MATCHING;
	if (chance(50))
		a.flags |= PM_SCAN_CHECK_WPASYNC;
	if (chance(3))
		a.flags |= 1ULL << 7;
	r = ioctl(g.pagemap_fd, PAGEMAP_SCAN, &a);
	err = r < 0 ? errno : 0;
	oplog("PAGEMAP_SCAN [%#lx, %#lx) flags %#llx vec_len %llu: %ld %s", rg.start,
	      rg.start + rg.len, (unsigned long long)a.flags, (unsigned long long)a.vec_len,
	      r, errno_name(err));
	check_err("PAGEMAP_SCAN", err, A_SCAN);
}

static void op_close_uffd(void)
{
	oplog("close uffd (by the handler)%s", g.batch_pending ? " (batch running)" : "");
	handler_request(REQ_CLOSE);
	cbw_closed();
	/* all registrations are gone with it */
	if (chance(70))
		ensure_uffd();
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

static struct obj saved_objs[MAX_OBJS];
static struct region saved_regions[MAX_REGIONS];

static void op_fork(void)
{
	struct access plan[MAX_BATCH];
	int n = 0, k, status = 0;
	int64_t deadline;
	pid_t pid, r;
	bool any_hp = false;

	/* the plan is simulated on the model (a read after a write of the page) */
	memcpy(saved_objs, g.objs, sizeof(g.objs));
	memcpy(saved_regions, g.regions, sizeof(g.regions));
	for (k = 0; k < 1 + (int)rnd(MAX_BATCH); k++) {
		int ri = pick_region(), i;
		struct region *rg;
		bool w = chance(50);

		if (ri < 0)
			break;
		rg = &g.regions[ri];
		i = rnd(rg->npages);
		if (!accessible(rg, i, w))
			continue;
		any_hp |= rg->kind == MEM_HUGETLB;
		plan[n] = (struct access){
			.addr = rg->addr + i * rg->psize, .psize = rg->psize, .ri = ri, .page = i,
			.write = w, .byte = 1 + rnd(255),
			.expect = g.batch_pending ? -1 : value(rg, i),
		};
		if (w)
			set_value(rg, i, plan[n].byte);
		n++;
	}
	memcpy(g.objs, saved_objs, sizeof(g.objs));
	memcpy(g.regions, saved_regions, sizeof(g.regions));
	oplog("fork: child does %d accesses%s", n, g.batch_pending ? " (batch running)" : "");
	case_count(ST_FORKS, 1);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		violation(false, "fork: %m");
		return;
	}
	if (pid == 0) {
		k = cbw_child_check();
		if (k)
			_exit(k);
		for (k = 0; k < n; k++) {
			struct access *a = &plan[k];

			do_access(a, false);
			if (a->result)
				_exit(20 + a->result);
			if (!a->write && a->expect >= 0 &&
			    (a->got0 != a->expect || a->got1 != a->expect)) {
				printf("# FAIL: seed %lu op %d: forked child read %#x/%#x at %p, expected %#x\n",
				       g.seed, g.op, a->got0, a->got1, a->addr, a->expect);
				fflush(stdout);
				_exit(3);
			}
		}
		_exit(0);
	}
	deadline = now_ms() + CHILD_HANG_MS;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
		sleep_ms(5);
	if (r != pid) {
		violation(false, "forked child did not finish within %d s", CHILD_HANG_MS / 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return;
	}
	handler_request(REQ_CLOSE_CHILDREN);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		for (k = 0; k < n; k++) {
			struct region *rg = &g.regions[plan[k].ri];

			if (plan[k].write && rg->shared) {
				set_value(rg, plan[k].page, plan[k].byte);
				disturb(rg);
			}
		}
		return;
	}
	/* the child's uffd (EVENT_FORK) in SIGBUS mode, or hugetlb out of pages */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 20 + SIGBUS &&
	    ((g.mode == UM_SIGBUS && (g.features & UFFD_FEATURE_EVENT_FORK)) || any_hp)) {
		for (k = 0; k < n; k++)
			if (plan[k].write && g.regions[plan[k].ri].shared) {
				set_value(&g.regions[plan[k].ri], plan[k].page, UNKNOWN);
				disturb(&g.regions[plan[k].ri]);
			}
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		violation(true, "forked child read a value the model contradicts");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 6)
		cbw_violation(CBW_API, "forked child: UFFDIO_WP_COPY_SETUP of the parent's uffd is not EPERM");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 7)
		cbw_violation(CBW_API, "forked child: the copy-before-write buffer was inherited");
	else if (WIFEXITED(status))
		violation(false, "forked child: %s", WEXITSTATUS(status) > 20 ?
			  strsignal(WEXITSTATUS(status) - 20) : "exit status");
	else
		violation(false, "forked child killed by signal %d", WTERMSIG(status));
}

/* ------------------------------------------------------------------ */
/* accesses, verification, probe                                       */

static bool op_access(bool async)
{
	make_batch(1 + rnd(async ? 4 : MAX_BATCH), 65);
	oplog("%s batch of %d accesses", async ? "async" : "sync", g.nbatch);
	if (!async)
		return run_batch_sync();
	if (!g.nbatch)
		return true;
	set_hold(chance(50) ? 70 : 0);
	g.batch_async = true;
	post_batch();
	return true;
}

bool verify_all(void)
{
	int ri, i;

	g.nbatch = 0;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->dead)
			continue;
		for (i = 0; i < r->npages; i++) {
			if (value(r, i) < 0 || !accessible(r, i, false))
				continue;
			add_access(r, ri, i, false, 0);
			if (g.nbatch == MAX_BATCH && !run_batch_sync())
				return false;
		}
	}
	return run_batch_sync();
}

/*
 * The targeted invariant: a protected page of a file, shmem or hugetlb
 * mapping that is zapped (DONTNEED) or evicted (PAGEOUT + fadvise) still
 * reports its first write.
 */
static bool op_probe(void)
{
	uint64_t pm1, pm2;
	bool present = false;
	int ri = pick_region(), i, tries, fd, err, how = rnd(3);
	struct region *r;
	char *p;

	if (ri < 0 || g.mode == UM_ASYNC || g.batch_pending)
		return true;
	r = &g.regions[ri];
	if (r->kind == MEM_ANON)
		return true;
	for (tries = 0; tries < 8; tries++) {
		i = rnd(r->npages);
		if (accessible(r, i, true))
			break;
	}
	if (!accessible(r, i, true))
		return true;
	fd = ensure_uffd();
	if (fd < 0)
		return true;
	p = r->addr + i * r->psize;
	case_count(ST_PROBES, 1);
	/*
	 * WP only: a REGISTER never drops modes the range already has
	 * (MINOR would report first, and a plain UFFDIO_CONTINUE maps the
	 * page without protection), so unregister the page first
	 */
	check_err("probe UFFDIO_UNREGISTER", uffd_unregister(fd, p, r->psize), A_UNREGISTER);
	err = uffd_register(fd, p, r->psize, UFFDIO_REGISTER_MODE_WP, NULL);
	if (!err && chance(50)) {	/* make it present first */
		present = true;
		g.nbatch = 0;
		add_access(r, ri, i, false, 0);
		if (!run_batch_sync())
			return false;
	}
	if (!err)
		err = uffd_wp(fd, p, r->psize, true);
	pm1 = pagemap_entry(p);
	oplog("probe region %d (%s %s) page %d at %p: register+protect %s, then %s",
	      r->id, kind_name(r->kind), r->shared ? "shared" : "private", i, p, errno_name(err),
	      how == 0 ? "DONTNEED" : how == 1 ? "PAGEOUT+fadvise" : "fadvise");
	if (err) {		/* e.g. EBUSY: another uffd still holds it */
		__atomic_add_fetch(&g.res.probe_skips, 1, __ATOMIC_RELAXED);
		return true;
	}
	if (how == 0) {
		err = madvise(p, r->psize, MADV_DONTNEED) ? errno : 0;
		if (!err && !r->shared)
			r->priv[i] = FOLLOW;
	} else {
		err = how == 1 && r->kind != MEM_HUGETLB &&
		      madvise(p, r->psize, MADV_PAGEOUT) ? errno : 0;
		posix_fadvise(r->obj->mr.fd, (r->pgoff + i) * r->psize, r->psize,
			      POSIX_FADV_DONTNEED);
	}
	if (err)
		violation(false, "probe madvise: %s", errno_name(err));
	pm2 = pagemap_entry(p);
	h.watch_hits = 0;
	h.watch_len = r->psize;
	h.watch_ps = r->psize;
	g.cbw_wrec[0] = 0;
	h.watch = (unsigned long)p;
	set_hold(0);
	g.nbatch = 0;
	add_access(r, ri, i, true, 1 + rnd(255));
	if (!run_batch_sync())
		return false;
	h.watch = 0;
	/* copy-before-write: a record instead of the report */
	if (g.mode == UM_SYNC ? !h.watch_hits && !g.cbw_wrec[0] : !g.batch[0].bus_retries)
		violation(false, "probe: the first write to protected region %d (%s %s) page %d after %s was not reported: protection lost (%s before; pagemap after protect %#llx, after zap %#llx, after write %#llx)",
			  r->id, kind_name(r->kind), r->shared ? "shared" : "private", i,
			  how == 0 ? "MADV_DONTNEED" : how == 1 ? "MADV_PAGEOUT + fadvise" : "fadvise(DONTNEED)",
			  present ? "read" : "not touched", (unsigned long long)pm1,
			  (unsigned long long)pm2, (unsigned long long)pagemap_entry(p));
	return true;
}

bool selftest_corrupt(void)
{
	int ri, i, tries;

	if (!join_batch())
		return false;
	fix_prots();
	/* no region at all yet, or all full: make room for an anonymous one */
	for (tries = 0; tries < MAX_REGIONS && free_slot() < 0; tries++)
		if (g.regions[tries].used)
			free_region(&g.regions[tries]);
	g.force_anon = true;
	op_mmap();
	g.force_anon = false;
	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];

		if (!r->used || r->dead)
			continue;
		for (i = 0; i < r->npages; i++) {
			int v = value(r, i);

			if (v < 0 || !accessible(r, i, false))
				continue;
			oplog("SELF-TEST: model of region %d page %d corrupted %#x -> %#x",
			      r->id, i, v, v ^ 0x5a);
			if (r->shared || r->priv[i] != FOLLOW)
				set_value(r, i, v ^ 0x5a);
			else
				r->obj->shadow[r->pgoff + i] = v ^ 0x5a;
			g.res.corrupted = 1;
			g.nbatch = 0;
			add_access(r, ri, i, false, 0);
			return run_batch_sync();
		}
	}
	return true;
}


/* ------------------------------------------------------------------ */
/* the mix                                                             */

bool fuzz_op(int x)
{
	bool ok = true;

	/* an async batch runs for a few operations */
	if (g.batch_pending && chance(30))
		ok = join_batch();
	else if (x >= 1000)		/* copy-before-write seeds only */
		ok = cbw_op((x - 1000) * 100 / CBW_OPS);
	else if (x < 70)
		op_mmap();
	else if (x < 110)
		op_munmap();
	else if (x < 135)
		op_mremap();
	else if (x < 170)
		op_mprotect();
	else if (x < 270)
		op_madvise();
	else if (x < 290)
		op_fork();
	else if (x < 315)
		op_ftruncate();
	else if (x < 340)
		op_punch();
	else if (x < 370)
		op_sync();
	else if (x < 395)
		op_pwrite();
	else if (x < 465)
		op_register();
	else if (x < 490)
		range_ioctl(RI_UNREGISTER, 0);
	else if (x < 580)
		op_writeprotect();
	else if (x < 595)
		range_ioctl(RI_WAKE, 0);
	else if (x < 620)
		op_mfill(0);
	else if (x < 635)
		op_mfill(1);
	else if (x < 650)
		op_mfill(2);
	else if (x < 665)
		op_move();
	else if (x < 690)
		op_pagemap_scan();
	else if (x < 698)
		op_close_uffd();
	else if (x < 720)
		ok = op_probe();
	else if (x < 730)
		ok = g.batch_pending || verify_all();
	else if (x < 790 && !g.batch_pending)
		ok = op_access(true);
	else if (!g.batch_pending)
		ok = op_access(false);
	return ok;
}
