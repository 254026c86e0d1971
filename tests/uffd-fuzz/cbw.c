// SPDX-License-Identifier: GPL-2.0
/*
 * cbw.c: copy-before-write (UFFD_FEATURE_WP_COPY) in uffd-fuzz.
 *
 * When the kernel advertises it, the synchronous seeds whose number is not
 * a multiple of 4 (derived from the seed, not drawn, so the other seeds
 * draw exactly what they drew before) open every uffd with it, set the
 * buffer up with UFFDIO_WP_COPY_SETUP (a random nr_slots, after some wrong
 * calls whose errnos must be exact), map it, and add their own operations
 * to the mix: UFFDIO_WP_COPY_FREE (valid lists and tails, and wrong ones:
 * flags, too many, bad pointers, slots out of range, not in use, listed
 * twice, tails behind, past head or above 2^32-1: EINVAL or EFAULT exactly,
 * nothing changed), wrong setups and mmaps of the live buffer, a check of
 * the ring header and fdinfo against the model, and the copy-before-write
 * probe.
 *
 * The model (exact while no batch runs: only the writer thread and the
 * main thread's MADV_POPULATE_WRITE fault on the seed's memory, and a
 * forked child's context has no slots):
 *  - every record is read after the batch (or operation) that made it: its
 *    slot is in range and was not in use, flags 0, its address a page a
 *    write of that batch touched, and its slot holds the value the model
 *    knew for the page before that write (the first write of a synchronous
 *    batch; any write of a batch left running, which re-protections may
 *    interleave);
 *  - the probe registers a few pages with MODE_WP alone, protects them
 *    (anon ones made present first), zaps or evicts some (not anon), and
 *    writes each: every page gets a record or a report, never neither (a
 *    lost write), never both, at most one record; with enough free slots
 *    and ring entries (often after freeing everything: slots are reusable)
 *    pages that can be copied (not hugetlb, not in a region that can hold a
 *    PMD) get records only;
 *  - fdinfo's "wp_copy:" line and the ring's header agree with the slots
 *    in use, head and tail the model knows.
 * Each violation also counts in its class (lost, content, api), summed over
 * the seeds into three TAP points at the end of the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "fuzz.h"

static struct cbw_sum seed_n;	/* this seed's counters (the violations go to g.cbw_sum at once) */

/*
 * The buffers are mapped at fixed places of a reservation of their own:
 * mmap(NULL) could land in a hole the fuzzer's munmap()s leave in the
 * arena, and the next op_mmap() of that slot (MAP_FIXED) would replace it.
 * Two halves: the current uffd's buffer and a closed one's.
 */
#define CBW_AREA	(4UL << 20)	/* > 3 ring pages + CBW_MAX_SLOTS slots */
static char *cbw_area;

/* give a buffer's place back to the reservation */
static void cbw_unmap(struct cbw_buf *b)
{
	if (b->map && mmap(b->map, CBW_AREA, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		violation(false, "copy-before-write: unmapping a buffer: %s", errno_name(errno));
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

static const char *en(int e)
{
	return e ? errno_name(e) : "success";
}

void cbw_violation(int cls, const char *fmt, ...)
{
	struct cbw_sum *s = g.cbw_sum;
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && !__atomic_fetch_add(&s->viol[cls], 1, __ATOMIC_RELAXED))
		snprintf(s->first[cls], sizeof(s->first[cls]), "seed %lu op %d: %s", g.seed, g.op,
			 msg);
	violation(false, "copy-before-write: %s", msg);
}

/* err must be exactly want */
static void expect_err(const char *what, int err, int want)
{
	if (err)
		__atomic_add_fetch(&g.res.ioctl_err, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&g.res.ioctl_ok, 1, __ATOMIC_RELAXED);
	if (err != want)
		cbw_violation(CBW_API, "%s: %s, expected %s", what, en(err), en(want));
}

void cbw_pick(void)
{
	g.cbw = (g.seed % 4) && !g.selftest && g.mode == UM_SYNC &&
		(g.supported & UFFD_FEATURE_WP_COPY);
	if (g.cbw)
		g.features |= UFFD_FEATURE_WP_COPY;
}

/* ------------------------------------------------------------------ */
/* ioctls                                                              */

static int io_setup(int fd, struct uffdio_wp_copy_setup *s)
{
	return ioctl(fd, UFFDIO_WP_COPY_SETUP, s) ? errno : 0;
}

static int io_free(int fd, const uint32_t *slots, uint64_t nr, uint64_t tail, uint64_t flags)
{
	struct uffdio_wp_copy_free f = {
		.slots = (uintptr_t)slots, .nr = nr, .tail = tail, .flags = flags,
	};

	return ioctl(fd, UFFDIO_WP_COPY_FREE, &f) ? errno : 0;
}

static uint32_t ring_head(const struct cbw_buf *b)
{
	return __atomic_load_n(&b->ring->head, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------ */
/* setup and mmap                                                      */

/* a wrong setup: EINVAL, or EFAULT for a bad pointer (before EBUSY too) */
static void bad_setup(int fd)
{
	struct uffdio_wp_copy_setup s = { .nr_slots = 1 + rnd(64) };
	const char *what;
	int want = EINVAL, err;

	switch (rnd(5)) {
	case 0:
		s.nr_slots = 0;
		what = "nr_slots 0";
		break;
	case 1:
		s.nr_slots = UFFD_WP_COPY_MAX_SLOTS + 1 + rnd(3);
		what = "nr_slots above UFFD_WP_COPY_MAX_SLOTS";
		break;
	case 2:
		s.nr_slots = 1ULL << (32 + rnd(32));
		what = "nr_slots 2^32 or more";
		break;
	case 3:
		s.flags = 1ULL << rnd(64);
		what = "unknown flags";
		break;
	default:
		want = EFAULT;
		what = "bad pointer";
		break;
	}
	err = want == EFAULT ? (ioctl(fd, UFFDIO_WP_COPY_SETUP, (void *)8) ? errno : 0) :
			       io_setup(fd, &s);
	oplog("UFFDIO_WP_COPY_SETUP (%s, nr_slots %#llx flags %#llx): %s", what,
	      (unsigned long long)s.nr_slots, (unsigned long long)s.flags, en(err));
	expect_err("UFFDIO_WP_COPY_SETUP with a wrong argument", err, want);
}

/* a wrong mmap() of the buffer (size: mmap_size), or mprotect(PROT_WRITE) of a right one */
static void bad_mmap(int fd, size_t size)
{
	static const struct { int prot, flags, want; const char *what; } t[] = {
		{ PROT_READ, MAP_PRIVATE, EINVAL, "MAP_PRIVATE" },
		{ PROT_READ | PROT_WRITE, MAP_SHARED, EACCES, "PROT_WRITE" },
		{ PROT_READ | PROT_EXEC, MAP_SHARED, EPERM, "PROT_EXEC" },
		{ PROT_READ, MAP_SHARED, EINVAL, "at offset mmap_size" },
		{ PROT_READ, MAP_SHARED, EINVAL, "longer than the buffer" },
		{ PROT_READ, MAP_SHARED, EINVAL, "across the end" },
		{ PROT_READ, MAP_SHARED, EACCES, "mprotect(PROT_WRITE)" },
	};
	int k = rnd(7), err;
	size_t len = k == 4 ? size + PS : k == 5 ? 2 * PS : PS;
	off_t off = k == 3 ? (off_t)size : k == 5 ? (off_t)(size - PS) : 0;
	char what[80];
	void *p;

	p = mmap(NULL, len, t[k].prot, t[k].flags, fd, off);
	err = p == MAP_FAILED ? errno : 0;
	if (k == 6 && !err) {
		err = mprotect(p, len, PROT_READ | PROT_WRITE) ? errno : 0;
		munmap(p, len);
	} else if (!err) {
		munmap(p, len);
	}
	oplog("mmap of the copy-before-write buffer %s: %s", t[k].what, en(err));
	snprintf(what, sizeof(what), "mmap of the buffer, %s", t[k].what);
	expect_err(what, err, t[k].want);
}

static uint32_t pick_nr_slots(void)
{
	switch (rnd(10)) {
	case 0:
		return 1;
	case 1:
		return 2 + rnd(3);
	case 6:
	case 7:
		return 32 + rnd(97);
	case 8:
		return 128 + rnd(CBW_MAX_SLOTS - 127);
	case 9:
		return 16;
	default:
		return 4 + rnd(29);
	}
}

static uint32_t pow2_up(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

void cbw_setup(int fd)
{
	struct cbw_buf *b = &g.cbwb;
	struct uffdio_wp_copy_setup s;
	uint32_t nr, entries;
	int err, k;
	void *p;

	if (!g.cbw)
		return;
	if (!cbw_area) {
		cbw_area = mmap(NULL, 2 * CBW_AREA, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (cbw_area == MAP_FAILED) {
			cbw_area = NULL;
			violation(false, "copy-before-write: reserving room for the buffers: %s",
				  errno_name(errno));
			return;
		}
	}
	cbw_unmap(b);		/* not retired (cannot happen): drop it */
	if (chance(30)) {	/* before setup: mmap ENODEV, FREE EINVAL */
		p = mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0);
		err = p == MAP_FAILED ? errno : 0;
		if (!err)
			munmap(p, PS);
		expect_err("mmap of a uffd before UFFDIO_WP_COPY_SETUP", err, ENODEV);
		expect_err("UFFDIO_WP_COPY_FREE before UFFDIO_WP_COPY_SETUP",
			   io_free(fd, NULL, 0, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL);
	}
	for (k = rnd(3); k > 0; k--)
		bad_setup(fd);
	nr = pick_nr_slots();
	entries = pow2_up(nr);
	s = (struct uffdio_wp_copy_setup){ .nr_slots = nr };
	err = io_setup(fd, &s);
	oplog("UFFDIO_WP_COPY_SETUP nr_slots %u: %s, slots at %#llx, mmap_size %#llx", nr, en(err),
	      (unsigned long long)s.slots_offset, (unsigned long long)s.mmap_size);
	if (err == ENOMEM) {	/* documented; this uffd goes without */
		__atomic_add_fetch(&g.res.ioctl_err, 1, __ATOMIC_RELAXED);
		return;
	}
	expect_err("UFFDIO_WP_COPY_SETUP", err, 0);
	if (err)
		return;
	if (s.nr_slots != nr || s.flags || s.slots_offset % PS || s.ring_offset % PS ||
	    s.slots_offset < s.ring_offset + sizeof(struct uffd_wp_copy_ring) +
			     entries * sizeof(struct uffd_wp_copy_rec) ||
	    s.mmap_size != s.slots_offset + nr * PS) {
		cbw_violation(CBW_API, "UFFDIO_WP_COPY_SETUP(%u slots) answered ring at %#llx, slots at %#llx, mmap_size %#llx",
			      nr, (unsigned long long)s.ring_offset,
			      (unsigned long long)s.slots_offset, (unsigned long long)s.mmap_size);
		return;
	}
	if (chance(30)) {
		struct uffdio_wp_copy_setup s2 = { .nr_slots = 1 + rnd(8) };

		expect_err("a second UFFDIO_WP_COPY_SETUP", io_setup(fd, &s2), EBUSY);
	}
	if (chance(20))
		bad_setup(fd);
	if (chance(30))
		bad_mmap(fd, s.mmap_size);
	if (s.mmap_size > CBW_AREA) {
		cbw_violation(CBW_API, "mmap_size %#llx for %u slots", (unsigned long long)s.mmap_size,
			      nr);
		return;
	}
	/* the half the closed uffd's buffer does not use */
	p = cbw_area + (g.cbw_old.map == cbw_area ? CBW_AREA : 0);
	p = mmap(p, s.mmap_size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		cbw_violation(CBW_API, "mmap of the buffer (%#llx bytes): %s",
			      (unsigned long long)s.mmap_size, en(errno));
		return;
	}
	b->map = p;
	b->size = s.mmap_size;
	b->fd = fd;
	b->ring = (volatile struct uffd_wp_copy_ring *)((char *)p + s.ring_offset);
	b->slots = (char *)p + s.slots_offset;
	b->nr_slots = nr;
	b->nr_entries = entries;
	if (b->ring->nr_entries != entries || b->ring->head || b->ring->tail)
		cbw_violation(CBW_API, "new ring: nr_entries %u head %u tail %u, expected %u 0 0",
			      b->ring->nr_entries, b->ring->head, b->ring->tail, entries);
	seed_n.setups++;
}

void cbw_closed(void)
{
	if (!g.cbw || !g.cbwb.map)
		return;
	if (!g.batch_pending) {
		cbw_consume(false);
		cbw_unmap(&g.cbwb);
	} else {		/* the records of the running batch are read at its join */
		cbw_unmap(&g.cbw_old);
		g.cbw_old = g.cbwb;
		g.cbw_old.retired = true;
		memset(&g.cbwb, 0, sizeof(g.cbwb));
		g.cbwb.fd = -1;
	}
}

/* ------------------------------------------------------------------ */
/* reading the records                                                 */

/* the region and page mapping addr (4K pages), or NULL */
static struct region *region_of(unsigned long addr, int *page)
{
	int ri, i;

	for (ri = 0; ri < MAX_REGIONS; ri++) {
		struct region *r = &g.regions[ri];
		unsigned long a = (unsigned long)r->addr;

		if (!r->used || r->dead || addr < a || addr >= a + r->npages * r->psize)
			continue;
		i = (addr - a) / r->psize;
		if (r->prot[i] == -1)
			continue;
		*page = i;
		return r;
	}
	return NULL;
}

/* the slot of record idx (addr, slot) against what the page held before the write */
static void check_record(struct cbw_buf *b, uint32_t idx, unsigned long addr, uint32_t slot,
			 bool batch)
{
	const unsigned char *sp = (const unsigned char *)b->slots + (size_t)slot * PS;
	int s0 = sp[0], s1 = sp[PS - 1], want = UNKNOWN, k, page;
	bool found = false, unknown = false, ok = false;
	struct region *r;

	if (h.watch && h.watch_ps == PS && addr >= h.watch && addr < h.watch + h.watch_len &&
	    (addr - h.watch) / PS < CBW_PROBE)
		g.cbw_wrec[(addr - h.watch) / PS]++;
	r = region_of(addr, &page);
	if (r && r->kind == MEM_HUGETLB) {
		cbw_violation(CBW_API, "record %u: %#lx is a hugetlb page (reported, never copied)",
			      idx, addr);
		return;
	}
	if (batch) {
		for (k = 0; k < g.nbatch; k++) {
			struct access *a = &g.batch[k];

			if (!a->write || a->psize != PS || (unsigned long)a->addr != addr)
				continue;
			if (!found)
				want = a->pre;
			found = true;
			if (a->pre < 0)
				unknown = true;
			else if (s0 == a->pre && s1 == a->pre)
				ok = true;
			if (!g.batch_async)
				break;	/* a synchronous batch: the first write faulted */
		}
		if (!found) {
			if (!g.batch_async)
				cbw_violation(CBW_API, "record %u: %#lx, which no write of the batch touched",
					      idx, addr);
			return;
		}
		if (unknown)
			return;
		seed_n.checked++;
		if (!ok)
			cbw_violation(CBW_CONTENT, "record %u of %#lx (%s): slot %u holds %#x/%#x, the page held %#x before the write",
				      idx, addr, g.batch_async ? "async batch, any of its writes" :
				      "sync batch", slot, s0, s1, want);
		return;
	}
	/* an operation of the main thread (MADV_POPULATE_WRITE): the data did not change */
	if (!r)
		return;
	want = value(r, page);
	if (want < 0)
		return;
	seed_n.checked++;
	if (s0 != want || s1 != want)
		cbw_violation(CBW_CONTENT, "record %u of %#lx (region %d page %d, not a batch): slot %u holds %#x/%#x, the page holds %#x",
			      idx, addr, r->id, page, slot, s0, s1, want);
}

static void consume_buf(struct cbw_buf *b, bool batch)
{
	uint32_t head = ring_head(b), idx;

	if (head - b->ktail > b->nr_entries || head - b->seen > b->nr_entries) {
		cbw_violation(CBW_API, "ring head %u: tail %u, %u records read, %u entries", head,
			      b->ktail, b->seen, b->nr_entries);
		b->seen = head;
		return;
	}
	for (idx = b->seen; idx != head; idx++) {
		const volatile struct uffd_wp_copy_rec *rec =
			&b->ring->recs[idx & (b->nr_entries - 1)];
		unsigned long addr = rec->address;
		uint32_t slot = rec->slot, flags = rec->flags;

		seed_n.records++;
		if (flags || slot >= b->nr_slots || (addr & (PS - 1))) {
			cbw_violation(CBW_API, "record %u: address %#lx slot %u flags %#x (%u slots)",
				      idx, addr, slot, flags, b->nr_slots);
			continue;
		}
		if (b->in_use[slot])
			cbw_violation(CBW_API, "record %u (%#lx): slot %u handed out again before it was freed",
				      idx, addr, slot);
		else
			b->nr_in_use++;
		b->in_use[slot] = true;
		check_record(b, idx, addr, slot, batch);
	}
	b->seen = head;
}

void cbw_consume(bool batch)
{
	if (!g.cbw)
		return;
	if (g.cbw_old.map) {
		consume_buf(&g.cbw_old, batch);
		if (!g.batch_pending)
			cbw_unmap(&g.cbw_old);
	}
	if (g.cbwb.map)
		consume_buf(&g.cbwb, batch);
}

/* ------------------------------------------------------------------ */
/* UFFDIO_WP_COPY_FREE                                                 */

/* the slots in use, shuffled */
static int in_use_list(const struct cbw_buf *b, uint32_t *list)
{
	int n = 0, i, j;
	uint32_t t;

	for (i = 0; i < (int)b->nr_slots; i++)
		if (b->in_use[i])
			list[n++] = i;
	for (i = n - 1; i > 0; i--) {
		j = rnd(i + 1);
		t = list[i];
		list[i] = list[j];
		list[j] = t;
	}
	return n;
}

static void head_swap(uint32_t *list, int i, int j)
{
	uint32_t t = list[i];

	list[i] = list[j];
	list[j] = t;
}

/* a FREE the model says succeeds: the model follows */
static void freed(struct cbw_buf *b, const uint32_t *list, int n, uint64_t tail)
{
	int i;

	for (i = 0; i < n; i++) {
		b->in_use[list[i]] = false;
		b->nr_in_use--;
	}
	if (tail != UFFD_WP_COPY_TAIL_KEEP)
		b->ktail = tail;
}

static void check_tail(struct cbw_buf *b, const char *after)
{
	if (b->ring->tail != b->ktail)
		cbw_violation(CBW_API, "ring tail %u after %s, expected %u", b->ring->tail, after,
			      b->ktail);
}

/* free every slot and consume every record */
static void free_all(struct cbw_buf *b)
{
	uint32_t list[CBW_MAX_SLOTS];
	int n = in_use_list(b, list), err;

	err = io_free(b->fd, list, n, b->seen, 0);
	oplog("UFFDIO_WP_COPY_FREE all %d slots, tail %u: %s", n, b->seen, en(err));
	expect_err("UFFDIO_WP_COPY_FREE of every slot in use", err, 0);
	seed_n.frees++;
	if (!err)
		freed(b, list, n, b->seen);
	check_tail(b, "FREE");
}

static void op_cbw_free(void)
{
	struct cbw_buf *b = &g.cbwb;
	uint32_t list[CBW_MAX_SLOTS + 8], head;
	uint64_t tail = UFFD_WP_COPY_TAIL_KEEP, flags = 0, nr;
	int n, kind = rnd(14), want = 0, err, i;
	const uint32_t *ptr = list;
	const char *what = "valid";

	if (!b->map || cur_uffd() != b->fd || g.batch_pending)
		return;
	cbw_consume(false);
	head = b->seen;
	n = in_use_list(b, list);
	if (!chance(40))
		n = rnd(n + 1);
	if (chance(70))
		tail = chance(50) ? head : b->ktail + rnd(head - b->ktail + 1);
	nr = n;
	switch (kind) {
	case 7:
		flags = 1ULL << rnd(64);
		what = "unknown flags";
		want = EINVAL;
		break;
	case 8:
		nr = b->nr_slots + 1 + rnd(4);
		what = "more than nr_slots";
		want = EINVAL;
		break;
	case 9:
		nr = 1 + rnd(b->nr_slots < 4 ? b->nr_slots : 4);
		ptr = (const uint32_t *)8;
		what = "bad slots pointer";
		want = EFAULT;
		break;
	case 10:		/* a slot out of range, somewhere in the list */
		i = rnd(n + 1);
		list[n] = list[i];
		list[i] = chance(50) ? b->nr_slots + rnd(8) : 0xffffffffu;
		nr = ++n;
		what = "a slot out of range";
		want = EINVAL;
		break;
	case 11:		/* a slot not in use, or one listed twice */
		if (b->nr_in_use < (int)b->nr_slots && (n == 0 || chance(50))) {
			uint32_t s;

			do
				s = rnd(b->nr_slots);
			while (b->in_use[s]);
			list[n] = s;
			what = "a slot not in use";
		} else if (n) {
			list[n] = list[rnd(n)];
			what = "a slot listed twice";
		} else {
			break;
		}
		i = rnd(n + 1);		/* somewhere in the list */
		head_swap(list, i, n);
		nr = ++n;
		want = EINVAL;
		break;
	case 12:		/* a tail behind, past head, or above 2^32 - 1 */
		switch (rnd(3)) {
		case 0:
			tail = (uint32_t)(b->ktail - 1 - rnd(4));
			what = "a tail behind the tail";
			break;
		case 1:
			tail = (uint32_t)(head + 1 + rnd(8));
			what = "a tail past head";
			break;
		default:
			tail = (1ULL << 32) | b->ktail;
			what = "a tail above 2^32 - 1";
			break;
		}
		want = EINVAL;
		break;
	case 13:		/* the argument itself */
		err = ioctl(b->fd, UFFDIO_WP_COPY_FREE, (void *)8) ? errno : 0;
		oplog("UFFDIO_WP_COPY_FREE bad argument pointer: %s", en(err));
		expect_err("UFFDIO_WP_COPY_FREE with a bad argument pointer", err, EFAULT);
		check_tail(b, "a failed FREE");
		return;
	}
	err = io_free(b->fd, ptr, nr, tail, flags);
	oplog("UFFDIO_WP_COPY_FREE (%s) %llu slots, tail %lld (tail %u head %u), flags %#llx: %s",
	      what, (unsigned long long)nr, tail == UFFD_WP_COPY_TAIL_KEEP ? -1LL : (long long)tail,
	      b->ktail, head, (unsigned long long)flags, en(err));
	expect_err("UFFDIO_WP_COPY_FREE", err, want);
	if (want)
		seed_n.free_errs++;
	else
		seed_n.frees++;
	if (!err && !want)
		freed(b, list, n, tail);
	check_tail(b, want ? "a failed FREE" : "FREE");
}

/* ------------------------------------------------------------------ */
/* the state: fdinfo and the ring header                               */

static void op_cbw_state(void)
{
	struct cbw_buf *b = &g.cbwb;
	unsigned int slots, nfree, ring, head, tail;
	char path[64], buf[2048], *l;
	FILE *f;
	size_t n;

	if (!b->map || cur_uffd() != b->fd || g.batch_pending)
		return;
	cbw_consume(false);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", b->fd);
	f = fopen(path, "r");
	if (!f) {
		cbw_violation(CBW_API, "%s: %s", path, en(errno));
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	l = strstr(buf, "wp_copy:");
	oplog("copy-before-write state: %d slots in use, head %u tail %u", b->nr_in_use, b->seen,
	      b->ktail);
	if (!l || sscanf(l, "wp_copy: slots %u free %u ring %u head %u tail %u", &slots, &nfree,
			 &ring, &head, &tail) != 5) {
		cbw_violation(CBW_API, "fdinfo has no wp_copy line");
		return;
	}
	if (slots != b->nr_slots || nfree != b->nr_slots - b->nr_in_use ||
	    ring != b->nr_entries || head != b->seen || tail != b->ktail)
		cbw_violation(CBW_API, "fdinfo: slots %u free %u ring %u head %u tail %u, expected %u %u %u %u %u",
			      slots, nfree, ring, head, tail, b->nr_slots,
			      b->nr_slots - b->nr_in_use, b->nr_entries, b->seen, b->ktail);
	if (b->ring->tail != b->ktail || b->ring->nr_entries != b->nr_entries ||
	    ring_head(b) != b->seen)
		cbw_violation(CBW_API, "ring header: head %u tail %u nr_entries %u, expected %u %u %u",
			      ring_head(b), b->ring->tail, b->ring->nr_entries, b->seen, b->ktail,
			      b->nr_entries);
}

/* wrong calls on a live buffer, and a uffd without the feature */
static void op_cbw_wrong(void)
{
	struct cbw_buf *b = &g.cbwb;
	struct uffdio_wp_copy_setup s = { .nr_slots = 1 };
	int fd, err;
	void *p;

	if (chance(30)) {
		fd = uffd_open(g.features & ~(uint64_t)UFFD_FEATURE_WP_COPY, NULL);
		if (fd < 0) {
			cbw_violation(CBW_API, "a uffd without UFFD_FEATURE_WP_COPY: %s", en(-fd));
			return;
		}
		expect_err("UFFDIO_WP_COPY_SETUP without the feature", io_setup(fd, &s), EINVAL);
		p = mmap(NULL, PS, PROT_READ, MAP_SHARED, fd, 0);
		err = p == MAP_FAILED ? errno : 0;
		if (!err)
			munmap(p, PS);
		expect_err("mmap of a uffd without the feature", err, ENODEV);
		expect_err("UFFDIO_WP_COPY_FREE without the feature",
			   io_free(fd, NULL, 0, UFFD_WP_COPY_TAIL_KEEP, 0), EINVAL);
		oplog("a uffd without UFFD_FEATURE_WP_COPY: SETUP, mmap, FREE refused");
		close(fd);
		return;
	}
	if (!b->map || cur_uffd() != b->fd)
		return;
	if (chance(40)) {
		s.nr_slots = 1 + rnd(CBW_MAX_SLOTS);
		err = io_setup(b->fd, &s);
		oplog("UFFDIO_WP_COPY_SETUP again: %s", en(err));
		expect_err("a second UFFDIO_WP_COPY_SETUP", err, EBUSY);
	} else if (chance(50)) {
		bad_setup(b->fd);
	} else {
		bad_mmap(b->fd, b->size);
	}
}

/* ------------------------------------------------------------------ */
/* the probe                                                           */

static bool op_cbw_probe(void)
{
	struct cbw_buf *b = &g.cbwb;
	int ri = pick_region(), a, n, i, fd, err, nw = 0, free_slots, room;
	int order[CBW_PROBE], first[CBW_PROBE];
	bool anon_unpop, want_rec;
	struct region *r;
	size_t len;
	char *p;

	if (ri < 0 || g.batch_pending)
		return true;
	fd = ensure_uffd();
	if (fd < 0 || !b->map || fd != b->fd)
		return true;
	r = &g.regions[ri];
	a = rnd(r->npages);
	n = 1 + rnd(r->npages - a < CBW_PROBE ? r->npages - a : CBW_PROBE);
	for (i = 0; i < n; i++)		/* mapped pages only */
		if (r->prot[a + i] == -1)
			break;
	n = i;
	if (!n)
		return true;
	p = r->addr + a * r->psize;
	len = n * r->psize;
	seed_n.probes++;
	if (chance(50))
		free_all(b);
	check_err("cbw probe UFFDIO_UNREGISTER", uffd_unregister(fd, p, len), A_UNREGISTER);
	err = uffd_register(fd, p, len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (err) {
		oplog("cbw probe region %d pages [%d, %d): register %s", r->id, a, a + n, en(err));
		check_err("cbw probe UFFDIO_REGISTER", err, A_REGISTER);
		__atomic_add_fetch(&g.res.probe_skips, 1, __ATOMIC_RELAXED);
		return true;
	}
	/* present first: anon without WP_UNPOPULATED always (a pte_none is not protected) */
	anon_unpop = r->kind == MEM_ANON && !(g.features & UFFD_FEATURE_WP_UNPOPULATED);
	g.nbatch = 0;
	for (i = 0; i < n; i++)
		if (accessible(r, a + i, false) && (anon_unpop || chance(50)))
			add_access(r, ri, a + i, false, 0);
	if (!run_batch_sync())
		return false;
	err = uffd_wp(fd, p, len, true);
	oplog("cbw probe region %d (%s %s) pages [%d, %d) at %p: protect %s", r->id,
	      kind_name(r->kind), r->shared ? "shared" : "private", a, a + n, p, en(err));
	if (err) {
		check_err("cbw probe UFFDIO_WRITEPROTECT", err, A_WP);
		__atomic_add_fetch(&g.res.probe_skips, 1, __ATOMIC_RELAXED);
		return true;
	}
	/* zap or evict some: file, shmem and hugetlb pages keep a pte marker */
	if (r->kind != MEM_ANON && chance(40)) {
		for (i = 0; i < n; i++) {
			char *q = p + i * r->psize;

			if (!chance(50))
				continue;
			if (chance(50)) {
				err = madvise(q, r->psize, MADV_DONTNEED) ? errno : 0;
				if (!err && !r->shared)
					r->priv[a + i] = FOLLOW;
			} else {
				err = r->kind != MEM_HUGETLB &&
				      madvise(q, r->psize, MADV_PAGEOUT) ? errno : 0;
				posix_fadvise(r->obj->mr.fd, (r->pgoff + a + i) * r->psize, r->psize,
					      POSIX_FADV_DONTNEED);
			}
			if (err)
				violation(false, "cbw probe madvise: %s", en(err));
		}
	}
	cbw_consume(false);
	free_slots = b->nr_slots - b->nr_in_use;
	room = b->nr_entries - (b->seen - b->ktail);
	/* every page that can be written, once, in a random order; one again at times */
	for (i = 0; i < n; i++)
		if (accessible(r, a + i, true))
			order[nw++] = i;
	for (i = nw - 1; i > 0; i--) {
		int j = rnd(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	g.nbatch = 0;
	for (i = 0; i < n; i++)
		first[i] = -1;
	for (i = 0; i < nw; i++) {
		first[order[i]] = g.nbatch;
		add_access(r, ri, a + order[i], true, 1 + rnd(255));
	}
	if (nw && nw < MAX_BATCH && chance(30))
		add_access(r, ri, a + order[rnd(nw)], true, 1 + rnd(255));
	memset((void *)h.watch_page, 0, sizeof(h.watch_page));
	memset(g.cbw_wrec, 0, sizeof(g.cbw_wrec));
	h.watch_hits = 0;
	h.watch_ps = r->psize;
	h.watch_len = len;
	h.watch = (unsigned long)p;
	set_hold(0);
	oplog("cbw probe: %d writes, %d free slots, %d free ring entries", nw, free_slots, room);
	if (!run_batch_sync())
		return false;
	h.watch = 0;
	seed_n.probe_pages += nw;
	/* copied for sure: nothing PMD-mapped (fewer than 512 pages), slots and entries enough */
	want_rec = r->kind != MEM_HUGETLB && r->npages < MAX_PAGES && free_slots >= nw &&
		   room >= nw;
	for (i = 0; i < n; i++) {
		int rec = g.cbw_wrec[i], rep = h.watch_page[i];

		seed_n.reports += rep;
		if (first[i] < 0 || g.batch[first[i]].result) {
			if (rec)
				cbw_violation(CBW_API, "probe region %d page %d: %d record(s), but it was not written",
					      r->id, a + i, rec);
			continue;
		}
		if (!rec && !rep)
			cbw_violation(CBW_LOST, "probe region %d (%s %s) page %d at %p: the first write to the protected page was neither recorded nor reported",
				      r->id, kind_name(r->kind), r->shared ? "shared" : "private",
				      a + i, p + i * r->psize);
		else if (rec > 1 || (rec && rep))
			cbw_violation(CBW_API, "probe region %d page %d: %d record(s) and %d report(s) for one first write",
				      r->id, a + i, rec, rep);
		else if (want_rec && rep)
			cbw_violation(CBW_API, "probe region %d (%s %s) page %d: reported although %d slots and %d ring entries were free for %d writes",
				      r->id, kind_name(r->kind), r->shared ? "shared" : "private",
				      a + i, free_slots, room, nw);
	}
	return true;
}

/* ------------------------------------------------------------------ */

bool cbw_op(int x)
{
	if (x < 40)
		return op_cbw_probe();
	if (x < 75)
		op_cbw_free();
	else if (x < 88)
		op_cbw_state();
	else
		op_cbw_wrong();
	return true;
}

int cbw_child_check(void)
{
	struct uffdio_wp_copy_setup s = { .nr_slots = 1 };
	struct access acc = { 0 };
	int fd = cur_uffd();

	if (!g.cbw)
		return 0;
	if (fd >= 0 && io_setup(fd, &s) != EPERM)
		return 6;	/* setup from another mm */
	if (g.cbwb.map) {
		acc.addr = g.cbwb.map;
		acc.psize = PS;
		do_access(&acc, false);
		if (acc.result != SIGSEGV)
			return 7;	/* the buffer was inherited */
	}
	return 0;
}

void cbw_seed_diag(void)
{
	struct cbw_sum *s = g.cbw_sum;

	if (!g.cbw)
		return;
	diag("seed %lu: copy-before-write: %ld setups, %ld records (%ld slots checked), %ld probes (%ld pages written, %ld reported), %ld FREEs ok, %ld wrong FREEs",
	     g.seed, seed_n.setups, seed_n.records, seed_n.checked, seed_n.probes,
	     seed_n.probe_pages, seed_n.reports, seed_n.frees, seed_n.free_errs);
	if (!s)
		return;
	__atomic_add_fetch(&s->seeds, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->setups, seed_n.setups, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->records, seed_n.records, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->checked, seed_n.checked, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->probes, seed_n.probes, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->probe_pages, seed_n.probe_pages, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->reports, seed_n.reports, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->frees, seed_n.frees, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->free_errs, seed_n.free_errs, __ATOMIC_RELAXED);
}
