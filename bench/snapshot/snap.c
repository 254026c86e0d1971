// SPDX-License-Identifier: GPL-2.0
/*
 * snap: a point-in-time snapshot of a running writer's memory to a file,
 * three ways (bench/README.md, "A real client: snapshot").
 *
 * A writer thread writes generation numbers into a range (anon or a shared
 * file mapping, tests/lib/mem.c rows): each write picks a page (a fixed-seed
 * pseudo-random sequence over the range), bumps the writer's generation g and
 * stores (g, page index) at the start and at the end of the page, then
 * records last[page] = g in a private table.  Every write is timed (one
 * CLOCK_MONOTONIC read after it).
 *
 * The snapshot instant: the controller asks the writer to stop at the top of
 * its loop (as QEMU stops the VM to protect its memory), copies last[] (the
 * last generation written to each page before the instant) and the writer's
 * generation, arms the method (protect the whole range with
 * UFFDIO_WRITEPROTECT, or fork()), and lets the writer go on.  The time the
 * writer is stopped is reported (pause_us) and is not in its per-write
 * figures.  Then the snapshot is written to a file while the writer writes:
 *
 *   uffd  synchronous uffd-wp: a handler thread reads each fault, saves the
 *         page (pwrite() from the still protected page to the file) and
 *         un-protects it; the controller sweeps the range in 64-page chunks,
 *         saving and un-protecting the pages nobody saved yet (QEMU's
 *         background snapshot: ram_write_tracking + ram_save_host_page)
 *   cbw   copy-before-write (UFFD_FEATURE_WP_COPY): the kernel saves the
 *         page into a slot on its first write and the writer goes on; the
 *         controller drains the ring (writes each slot to the file, frees the
 *         slots) between chunks of the same sweep; a fault with no free slot
 *         is reported and saved as in uffd (the fallback)
 *   fork  fork() copy-on-write (anon only): the child writes its copy of the
 *         range to the file and exits
 *
 * Then every page of the file is checked against last[] at the instant:
 * words 0 and 511 hold that generation, words 1 and 510 the page index (a
 * torn copy fails too).  CSV on stdout (snap -H: header), one row per
 * snapshot; a human line on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uffdwp.h"
#include "mem.h"
#include "../cbw-uapi.h"

enum method { S_UFFD, S_CBW, S_FORK };
static const char *method_names[] = { "uffd", "cbw", "fork" };

static enum method method = S_UFFD;
static const char *memtype = "anon";
static const char *dir = ".";
static char fslabel[64] = "-";
static size_t size_mib = 256;
static int repeats = 1, base_ms = 1000, timeout_s = 600;
static uint32_t nslots = 4096;

static char *region;
static size_t npages;
static const size_t psize = 4096;
#define WPP (4096 / 8)		/* words per page */
#define CHUNK 64		/* pages per sweep step */

/* ---- the writer ---- */
static atomic_int pause_req, paused_seq, stop_writer;
static atomic_int phase;	/* 0: baseline, 1: snapshot window, 2: not counted */
static uint64_t gen;		/* the writer's generation (read while it is stopped) */
static uint64_t *last;		/* last generation written to each page */
static uint64_t *expect;	/* last[] at the instant */

/* log-linear latency histogram: 32 buckets per power of two (~3%) */
#define NB 2048
struct hist {
	uint64_t n, max, b[NB];
};
static struct hist hist[2];

static unsigned bucket(uint64_t v)
{
	if (v < 32)
		return v;
	unsigned e = 63 - __builtin_clzll(v);
	return ((e - 4) << 5) | ((v >> (e - 5)) & 31);
}

static double bucket_mid(unsigned i)
{
	if (i < 32)
		return i;
	unsigned e = (i >> 5) + 4;
	double lo = (double)((32 | (i & 31)) << 0) * (double)(1ull << (e - 5));
	return lo + (double)(1ull << (e - 5)) / 2;
}

static double hist_pct(const struct hist *h, double p)
{
	uint64_t want = (uint64_t)(p / 100.0 * h->n + 0.999999), c = 0;

	if (!h->n)
		return -1;
	for (unsigned i = 0; i < NB; i++) {
		c += h->b[i];
		if (c >= want)
			return i == NB - 1 || bucket_mid(i) > h->max ? h->max : bucket_mid(i);
	}
	return h->max;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *writer(void *arg)
{
	uint64_t x = 0x9E3779B97F4A7C15ull, t = now_ns();

	(void)arg;
	for (;;) {
		if (atomic_load_explicit(&pause_req, memory_order_acquire)) {
			atomic_fetch_add_explicit(&paused_seq, 1, memory_order_release);
			while (atomic_load_explicit(&pause_req, memory_order_acquire))
				;
			if (atomic_load(&stop_writer))
				return NULL;
			t = now_ns();
			continue;
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t p = x % npages;
		uint64_t g = ++gen;
		volatile uint64_t *w = (volatile uint64_t *)(region + p * psize);
		w[0] = g;
		w[1] = p;
		w[WPP - 2] = p;
		w[WPP - 1] = g;
		last[p] = g;
		uint64_t t2 = now_ns();
		int ph = atomic_load_explicit(&phase, memory_order_relaxed);
		if (ph < 2) {
			struct hist *h = &hist[ph];
			uint64_t d = t2 - t;
			h->n++;
			h->b[bucket(d) < NB ? bucket(d) : NB - 1]++;
			if (d > h->max)
				h->max = d;
		}
		t = t2;
	}
}

static void stop_the_writer(void)
{
	int s = atomic_load_explicit(&paused_seq, memory_order_acquire);

	atomic_store_explicit(&pause_req, 1, memory_order_release);
	while (atomic_load_explicit(&paused_seq, memory_order_acquire) == s)
		;
}

static void resume_the_writer(void)
{
	atomic_store_explicit(&pause_req, 0, memory_order_release);
}

/* ---- the snapshot ---- */
static int uffd = -1, outfd = -1;
static _Atomic uint8_t *state;	/* 0 not saved, 1 being saved, 2 saved */
static atomic_ulong nreports, nrecords;
static volatile int stop_handler;
static pthread_t handler_tid;
static struct uffdio_wp_copy_setup cbw_s;
static char *cbw_buf;
static struct uffd_wp_copy_ring *ring;
static uint32_t *free_list;
static uint32_t peak_inuse;
static int break_no_protect;	/* BENCH_SNAP_BREAK_NO_PROTECT=1: a broken snapshot (verify must fail) */

/* a row without numbers: SKIP:why or FAIL:why (commas become ';') */
static void empty_row(const char *st)
{
	char b[256];

	snprintf(b, sizeof(b), "%s", st);
	for (char *q = b; *q; q++)
		if (*q == ',' || *q == '\n')
			*q = ';';
	printf("%s,%s,%s,%zu,%zu,-1", method_names[method], memtype, fslabel, size_mib, npages);
	for (int i = 6; i < 28; i++)	/* the 22 number columns */
		putchar(',');
	printf(",%s\n", b);
	fflush(stdout);
}

static void fail_exit(const char *what)
{
	char b[200];
	int e = errno;

	fprintf(stderr, "snap: %s/%s: %s: %s\n", method_names[method], memtype, what, strerror(e));
	snprintf(b, sizeof(b), "FAIL:%s(%s)", what, strerror(e));
	empty_row(b);
	exit(1);
}

static void save_pages(size_t p, size_t n)
{
	size_t len = n * psize;

	if (pwrite(outfd, region + p * psize, len, p * psize) != (ssize_t)len)
		fail_exit("pwrite(snapshot)");
}

static void unprotect(size_t p, size_t n)
{
	int e = uffd_wp(uffd, region + p * psize, n * psize, false);

	if (e && e != EAGAIN) {
		errno = e;
		fail_exit("UFFDIO_WRITEPROTECT(clear)");
	}
}

/* a reported fault: save the page unless the sweep is saving it, un-protect */
static void *handler(void *arg)
{
	struct uffd_msg m[16];

	(void)arg;
	while (!stop_handler) {
		ssize_t r = read(uffd, m, sizeof(m));

		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fail_exit("read(uffd)");
		}
		for (int i = 0; i < (int)(r / sizeof(m[0])); i++) {
			if (m[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			size_t p = (m[i].arg.pagefault.address - (uintptr_t)region) / psize;
			uint8_t z = 0;

			atomic_fetch_add(&nreports, 1);
			if (atomic_compare_exchange_strong(&state[p], &z, 1)) {
				save_pages(p, 1);
				atomic_store(&state[p], 2);
			} else {
				while (atomic_load(&state[p]) != 2)
					sched_yield();
			}
			unprotect(p, 1);
		}
	}
	return NULL;
}

static void usr1(int s) { (void)s; }

static void stop_handler_thread(void)
{
	stop_handler = 1;
	while (pthread_tryjoin_np(handler_tid, NULL) == EBUSY) {
		pthread_kill(handler_tid, SIGUSR1);
		usleep(1000);
	}
	stop_handler = 0;
}

/*
 * cbw: write every record's slot to the file (the page as it was at the
 * instant: it was copied before the first write after protection, so it
 * wins over a sweep copy of the same page, which may be torn), free them
 */
static void drain_ring(void)
{
	uint32_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE), tail = ring->tail, n = 0;

	if (head == tail)
		return;
	if (head - tail > peak_inuse)
		peak_inuse = head - tail;
	for (uint32_t k = tail; k != head; k++) {
		const struct uffd_wp_copy_rec *r = &ring->recs[k & (ring->nr_entries - 1)];
		size_t p = (r->address - (uintptr_t)region) / psize;

		if (pwrite(outfd, cbw_buf + cbw_s.slots_offset + (size_t)r->slot * psize, psize,
			   p * psize) != (ssize_t)psize)
			fail_exit("pwrite(slot)");
		atomic_store(&state[p], 2);
		free_list[n++] = r->slot;
	}
	struct uffdio_wp_copy_free fr = { .slots = (uintptr_t)free_list, .nr = n, .tail = head };
	if (ioctl(uffd, UFFDIO_WP_COPY_FREE, &fr))
		fail_exit("UFFDIO_WP_COPY_FREE");
	atomic_fetch_add(&nrecords, n);
}

/* the sweep: save and un-protect every page nobody saved yet */
static void sweep(void)
{
	for (size_t c = 0; c < npages; c += CHUNK) {
		size_t end = c + CHUNK < npages ? c + CHUNK : npages, run = 0, p;

		if (method == S_CBW)
			drain_ring();
		if (break_no_protect)
			usleep(1000);	/* let the writer write during the broken snapshot */
		for (p = c; p <= end; p++) {
			uint8_t z = 0;

			if (p < end && atomic_compare_exchange_strong(&state[p], &z, 1)) {
				run++;
				continue;
			}
			if (!run)
				continue;
			/* the run [p - run, p) is ours: save it, then un-protect it */
			save_pages(p - run, run);
			for (size_t q = p - run; q < p; q++)
				atomic_store(&state[q], 2);
			unprotect(p - run, run);
			run = 0;
		}
	}
	if (method == S_CBW)
		drain_ring();	/* records of writes during the last chunk */
}

/*
 * fork: in the child at the end of its copy, the pages of the range that are
 * mapped by the child alone (pagemap bit 56, "exclusively mapped"): the
 * parent's writes copied them away (copy-on-write), one page each
 */
static long child_cow_pages(void)
{
	static uint64_t pm[4096];
	long n = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	for (size_t p = 0; p < npages; p += 4096) {
		size_t k = npages - p < 4096 ? npages - p : 4096;

		if (pread(fd, pm, k * 8, ((uintptr_t)region / psize + p) * 8) != (ssize_t)(k * 8)) {
			close(fd);
			return -1;
		}
		for (size_t i = 0; i < k; i++)
			n += (pm[i] >> 63 & 1) && (pm[i] >> 56 & 1);
	}
	close(fd);
	return n;
}

static int cpfd[2];

static void fork_child(void)
{
	/* only system calls and stack buffers after fork() of a threaded process */
	for (size_t p = 0; p < npages; p += 256)
		save_pages(p, npages - p < 256 ? npages - p : 256);
	long v[3] = { child_cow_pages(), 0, 0 };
	if (write(cpfd[1], v, sizeof(v)) != sizeof(v))
		_exit(3);
	_exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* every page of the snapshot against the last generation written before the instant */
static size_t verify(char *why, size_t wlen)
{
	static uint64_t buf[256 * WPP];
	size_t bad = 0;

	for (size_t c = 0; c < npages; c += 256) {
		size_t n = npages - c < 256 ? npages - c : 256;

		if (pread(outfd, buf, n * psize, c * psize) != (ssize_t)(n * psize))
			fail_exit("pread(snapshot)");
		for (size_t i = 0; i < n; i++) {
			uint64_t *w = buf + i * WPP, p = c + i;

			if (w[0] == expect[p] && w[1] == p && w[WPP - 2] == p && w[WPP - 1] == expect[p])
				continue;
			if (!bad++)
				snprintf(why, wlen, "page %llu: (%llu %llu .. %llu %llu) want gen %llu",
					 (unsigned long long)p, (unsigned long long)w[0],
					 (unsigned long long)w[1], (unsigned long long)w[WPP - 2],
					 (unsigned long long)w[WPP - 1], (unsigned long long)expect[p]);
		}
	}
	return bad;
}

static void run_window(int ph, int ms)
{
	atomic_store(&phase, ph);
	usleep(ms * 1000);
	atomic_store(&phase, 2);
}

static const char header[] =
	"method,memtype,fs,mib,pages,rep,slots,gen_instant,pause_us,arm_us,snap_ms,"
	"base_wps,snap_wps,tput_rel,snap_writes,p50_ns,p99_ns,max_ns,base_p50_ns,"
	"base_p99_ns,base_max_ns,reports,records,extra_kib,extra_peak_kib,minflt,csw,"
	"bad_pages,status";

static void on_alarm(int s)
{
	static const char m[] = "snap: watchdog timeout\n";

	(void)s;
	if (write(2, m, sizeof(m) - 1)) {}
	_exit(3);
}

static void usage(void)
{
	fprintf(stderr,
"usage: snap [-m uffd|cbw|fork] [-t anon|file-shared] [-d DIR] [-f FS] [-s MiB]\n"
"            [-r N] [-b BASE_MS] [-n SLOTS] [-T SECONDS] [-H] [--skip WHY]\n"
"  -d DIR: the snapshot file (and the file-shared range) is made in DIR\n"
"  -s MiB: the writer's range (256); -r: snapshots (1); -b: ms of writing\n"
"     without a snapshot before each one (the throughput baseline, 1000)\n"
"  -n SLOTS: cbw slots (4096 = 16 MiB); -H: the CSV header\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct option lo[] = { { "skip", 1, 0, 'S' }, { 0 } };
	const char *skipwhy = NULL;
	int c, fs_given = 0;

	while ((c = getopt_long(argc, argv, "m:t:d:f:s:r:b:n:T:Hh", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			for (method = 0; method < 3 && strcmp(optarg, method_names[method]); method++)
				;
			if (method == 3)
				usage();
			break;
		case 't': memtype = optarg; break;
		case 'd': dir = optarg; break;
		case 'f': snprintf(fslabel, sizeof(fslabel), "%s", optarg); fs_given = 1; break;
		case 's': size_mib = strtoul(optarg, 0, 0); break;
		case 'r': repeats = atoi(optarg); break;
		case 'b': base_ms = atoi(optarg); break;
		case 'n': nslots = strtoul(optarg, 0, 0); break;
		case 'T': timeout_s = atoi(optarg); break;
		case 'S': skipwhy = optarg; break;
		case 'H': puts(header); return 0;
		default: usage();
		}
	}
	if (strcmp(memtype, "anon") && strcmp(memtype, "file-shared"))
		usage();
	if (!size_mib || repeats < 1 || base_ms < 10 || !nslots)
		usage();
	npages = (size_mib << 20) / psize;
	if (!strcmp(memtype, "file-shared") && !fs_given) {
		struct statfs sf;

		snprintf(fslabel, sizeof(fslabel), "%s",
			 !statfs(dir, &sf) && sf.f_type == 0xEF53 ? "ext4" :
			 !statfs(dir, &sf) && sf.f_type == 0x58465342 ? "xfs" :
			 !statfs(dir, &sf) && sf.f_type == 0x9123683E ? "btrfs" : "file");
	}
	char status[256] = "";
	if (skipwhy)
		snprintf(status, sizeof(status), "SKIP:%s", skipwhy);
	else if (method == S_FORK && strcmp(memtype, "anon"))
		snprintf(status, sizeof(status), "SKIP:fork copy-on-write is for anon memory only");
	if (!status[0] && method != S_FORK) {
		uint64_t have = 0;
		if (uffd_features(&have))
			snprintf(status, sizeof(status), "SKIP:userfaultfd() unavailable");
		else if (method == S_CBW && !(have & UFFD_FEATURE_WP_COPY))
			snprintf(status, sizeof(status), "SKIP:no UFFD_FEATURE_WP_COPY");
		else if (strcmp(memtype, "anon") && !(have & UFFD_FEATURE_WP_FILE))
			snprintf(status, sizeof(status), "SKIP:no UFFD_FEATURE_WP_FILE");
	}
	if (status[0]) {
		empty_row(status);
		fprintf(stderr, "snap: %s/%s: %s\n", method_names[method], memtype, status);
		return 0;
	}
	signal(SIGALRM, on_alarm);
	alarm(timeout_s);
	break_no_protect = getenv("BENCH_SNAP_BREAK_NO_PROTECT") != NULL;

	/* the range (tests/lib/mem.c's rows), populated: page p holds generation p + 1 */
	static struct mem_type mt;
	static struct mem_region r;
	if (mem_type_row(&mt, memtype, fslabel, dir))
		fail_exit("memory type not in tests/lib/mem.c");
	errno = mem_create(&r, &mt, npages * psize, "snap");
	if (!errno)
		errno = mem_map(&r);
	if (errno)
		fail_exit("create/map the range");
	mem_unlink(&r);
	region = r.addr;
	madvise(region, npages * psize, MADV_NOHUGEPAGE);	/* 4 KiB pages, 4 KiB slots */
	last = calloc(npages, 8);
	expect = calloc(npages, 8);
	state = calloc(npages, 1);
	if (!last || !expect || !state)
		fail_exit("calloc");
	for (size_t p = 0; p < npages; p++) {
		uint64_t *w = (uint64_t *)(region + p * psize);
		w[0] = w[WPP - 1] = last[p] = p + 1;
		w[1] = w[WPP - 2] = p;
	}
	gen = npages;

	char path[4096];
	snprintf(path, sizeof(path), "%s/snap-%d.img", dir, getpid());

	struct sigaction su = { .sa_handler = usr1 };	/* no SA_RESTART */
	sigaction(SIGUSR1, &su, NULL);
	atomic_store(&phase, 2);
	pthread_t wt;
	if (pthread_create(&wt, NULL, writer, NULL))
		fail_exit("pthread_create(writer)");

	int rc = 0;
	for (int rep = 0; rep < repeats; rep++) {
		outfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (outfd < 0 || ftruncate(outfd, npages * psize))
			fail_exit("create the snapshot file");
		unlink(path);
		memset((void *)state, 0, npages);
		atomic_store(&nreports, 0);
		atomic_store(&nrecords, 0);
		peak_inuse = 0;
		memset(hist, 0, sizeof(hist));

		/* set up before the instant (not part of the writer's stop) */
		if (method != S_FORK) {
			uffd = uffd_open_flags(O_CLOEXEC, method == S_CBW ? UFFD_FEATURE_WP_COPY : 0, NULL);
			if (uffd < 0) {
				errno = -uffd;
				fail_exit("UFFDIO_API");
			}
			if (method == S_CBW) {
				cbw_s = (struct uffdio_wp_copy_setup){ .nr_slots = nslots };
				if (ioctl(uffd, UFFDIO_WP_COPY_SETUP, &cbw_s))
					fail_exit("UFFDIO_WP_COPY_SETUP");
				cbw_buf = mmap(NULL, cbw_s.mmap_size, PROT_READ, MAP_SHARED, uffd, 0);
				if (cbw_buf == MAP_FAILED)
					fail_exit("mmap(copy-before-write buffer)");
				ring = (struct uffd_wp_copy_ring *)(cbw_buf + cbw_s.ring_offset);
				free_list = calloc(ring->nr_entries, sizeof(*free_list));
			}
			errno = uffd_register(uffd, region, npages * psize, UFFDIO_REGISTER_MODE_WP, NULL);
			if (errno)
				fail_exit("UFFDIO_REGISTER(WP)");
			if (pthread_create(&handler_tid, NULL, handler, NULL))
				fail_exit("pthread_create(handler)");
		} else if (pipe(cpfd)) {
			fail_exit("pipe");
		}

		/* the baseline: the same writer, no snapshot */
		uint64_t b0 = now_ns();
		run_window(0, base_ms);
		double base_s = (now_ns() - b0) / 1e9;

		/* the instant */
		stop_the_writer();
		uint64_t s0 = now_ns();
		memcpy(expect, last, npages * 8);
		uint64_t ginst = gen;
		uint64_t a0 = now_ns();
		pid_t child = -1;
		if (method == S_FORK) {
			child = fork();
			if (child < 0)
				fail_exit("fork");
			if (!child)
				fork_child();
		} else if (!break_no_protect) {
			errno = uffd_wp(uffd, region, npages * psize, true);
			if (errno)
				fail_exit("UFFDIO_WRITEPROTECT(WP)");
		}
		uint64_t a1 = now_ns();
		struct rusage ru0, ru1;
		getrusage(RUSAGE_SELF, &ru0);
		atomic_store(&phase, 1);
		uint64_t w0 = now_ns();
		resume_the_writer();

		/* the snapshot */
		long cv[3] = { -1, -1, -1 };
		if (method == S_FORK) {
			int st;
			if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
				fail_exit("the fork child failed");
			if (read(cpfd[0], cv, sizeof(cv)) != sizeof(cv))
				fail_exit("read the child's smaps");
			close(cpfd[0]);
			close(cpfd[1]);
		} else {
			sweep();
		}
		uint64_t w1 = now_ns();
		atomic_store(&phase, 2);
		getrusage(RUSAGE_SELF, &ru1);
		if (method != S_FORK) {
			stop_handler_thread();
			if (uffd_unregister(uffd, region, npages * psize))
				fail_exit("UFFDIO_UNREGISTER");
			if (method == S_CBW) {
				munmap(cbw_buf, cbw_s.mmap_size);
				free(free_list);
			}
			close(uffd);
		}

		/* check every page */
		char why[200] = "";
		size_t bad = verify(why, sizeof(why));
		close(outfd);

		double snap_s = (w1 - w0) / 1e9;
		double bwps = hist[0].n / base_s, swps = hist[1].n / snap_s;
		long extra = 0, peak = 0;
		if (method == S_CBW) {
			extra = cbw_s.nr_slots * psize / 1024;
			peak = (long)peak_inuse * psize / 1024;
		} else if (method == S_FORK) {
			/* the child's pages the parent's writes COW-copied away */
			extra = peak = cv[0] < 0 ? -1 : cv[0] * (long)psize / 1024;
		}
		if (bad)
			snprintf(status, sizeof(status), "BAD:%zu pages(%s)", bad, why);
		else
			snprintf(status, sizeof(status), "ok");
		for (char *q = status; *q; q++)
			if (*q == ',')
				*q = ';';
		printf("%s,%s,%s,%zu,%zu,%d,%u,%llu,%.1f,%.1f,%.1f,%.0f,%.0f,%.4g,%llu,%.0f,%.0f,%llu,"
		       "%.0f,%.0f,%llu,%lu,%lu,%ld,%ld,%ld,%ld,%zu,%s\n",
		       method_names[method], memtype, fslabel, size_mib, npages, rep,
		       method == S_CBW ? nslots : 0, (unsigned long long)ginst,
		       (w0 - s0) / 1e3, (a1 - a0) / 1e3, snap_s * 1e3, bwps, swps, swps / bwps,
		       (unsigned long long)hist[1].n, hist_pct(&hist[1], 50), hist_pct(&hist[1], 99),
		       (unsigned long long)hist[1].max, hist_pct(&hist[0], 50), hist_pct(&hist[0], 99),
		       (unsigned long long)hist[0].max, atomic_load(&nreports), atomic_load(&nrecords),
		       extra, peak, ru1.ru_minflt - ru0.ru_minflt,
		       (ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw), bad, status);
		fflush(stdout);
		fprintf(stderr, "snap: %-4s %-11s %-5s %4zu MiB rep %d: snapshot %.0f ms, writer stopped %.0f us, "
			"stall p50/p99/max %.0f/%.0f/%llu ns (without: %.0f/%.0f/%llu), throughput %.2fx, "
			"%lu reports, %lu records, extra %ld KiB (peak %ld), %s\n",
			method_names[method], memtype, fslabel, size_mib, rep, snap_s * 1e3,
			(w0 - s0) / 1e3, hist_pct(&hist[1], 50), hist_pct(&hist[1], 99),
			(unsigned long long)hist[1].max, hist_pct(&hist[0], 50), hist_pct(&hist[0], 99),
			(unsigned long long)hist[0].max, swps / bwps, atomic_load(&nreports),
			atomic_load(&nrecords), extra, peak, bad ? status : "every page verified");
		if (bad)
			rc = 1;
	}
	atomic_store(&stop_writer, 1);
	stop_the_writer();
	resume_the_writer();
	pthread_join(wt, NULL);
	(void)cmp_u64;
	return rc;
}
