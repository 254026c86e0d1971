// SPDX-License-Identifier: GPL-2.0
/*
 * wtrack: cost of write-tracking methods (arm, per first write, collect, round).
 *
 * One tracking round = arm (protect the whole range) + writers each write
 * once to their share of the pattern's pages + collect (produce the dirty
 * set as a bitmap).  The collected set is checked against the written set
 * (not timed); a mismatch is reported in the status column.
 *
 * The main figure, arm_write_ns, times what a plain loop "protect the
 * range, then write each page once" sees: arming (mprotect(PROT_READ) or
 * UFFDIO_WRITEPROTECT of the whole range, ...) plus the writes, divided by
 * the writes.  per_write_ns keeps its old meaning (the writers' loops
 * only, arming excluded).  Every write is timed (one CLOCK_MONOTONIC read
 * after each write, clock_ns = the cost of one read, included in all the
 * per-write figures); p50/p90/p99/max are per-write latencies of the round.
 * cpu_ns is the CPU time of all threads of the process over arm + writes,
 * per write (polling is not free); wcpu_ns the writer threads' own, hcpu_ns
 * the handler thread's.
 *
 * CSV on stdout (wtrack -H prints the header):
 *   method,memtype,fs,pattern,pages,writers,pin,repeat,arm_ns,per_write_ns,
 *   collect_ns,round_ns,hdelay_us,fresh,arm_write_ns,cpu_ns,wcpu_ns,hcpu_ns,
 *   p50_ns,p90_ns,p99_ns,max_ns,clock_ns,poll_us,minflt_pw,csw_pw,sysc_pw,status
 * (the first 12 columns as before; status last)
 * status: ok | SKIP:<why> | ENOMEM@<N> (mprotect stopped working after N
 * tracked writes) | MISMATCH:<got>/<want> | FAIL:<why>
 *
 * Human summary on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

/* uapi fallbacks and the memory types: tests/lib (-Itests/lib, tests/lib/[*].c) */
#include "uffdwp.h"
#include "mem.h"

#include "cbw-uapi.h"	/* copy-before-write uapi fallbacks */
#ifndef UFFDIO_WP_COPY_SETUP
struct uffdio_wp_copy_setup {
	__u64 nr_slots, flags, ring_offset, slots_offset, mmap_size;
};
struct uffd_wp_copy_rec {
	__u64 address;
	__u32 slot, flags;
};
struct uffd_wp_copy_ring {
	__u32 head, tail, nr_entries, reserved1;
	__u64 reserved2[6];
	struct uffd_wp_copy_rec recs[];
};
struct uffdio_wp_copy_free {
	__u64 slots, nr, tail, flags;
};
#define UFFDIO_WP_COPY_SETUP	_IOWR(UFFDIO, 0x09, struct uffdio_wp_copy_setup)
#define UFFDIO_WP_COPY_FREE	_IOW(UFFDIO, 0x0A, struct uffdio_wp_copy_free)
#define UFFD_WP_COPY_MAX_SLOTS	65536
#endif

enum method { M_NONE, M_MPROTECT, M_SOFTDIRTY, M_UFFD_READ, M_UFFD_POLL,
	      M_UFFD_SIGBUS, M_ASYNC_WPMATCH, M_ASYNC_REARM,
	      M_UFFD_READ_CPU, M_UFFD_READ_SPIN, M_UFFD_READ_SPIN_CPU,
	      M_UFFD_CBW, M_NMETHODS };
static const char *method_names[] = { "none", "mprotect", "softdirty",
	"uffd-read", "uffd-poll", "uffd-sigbus", "async-scan-wp", "async-scan-rearm",
	"uffd-read-cpu", "uffd-read-spin", "uffd-read-spin-cpu", "uffd-cbw" };

/*
 * a handler thread serves the faults (not SIGBUS, not async); uffd-cbw's
 * only serves the fallback reports (no free slot), which --copy handles
 */
static int thread_method(int m)
{
	return m == M_UFFD_READ || m == M_UFFD_POLL || m == M_UFFD_READ_CPU ||
	       m == M_UFFD_READ_SPIN || m == M_UFFD_READ_SPIN_CPU || m == M_UFFD_CBW;
}

/* the uffd features a method needs beyond the memory type's */
static uint64_t method_features(int m)
{
	switch (m) {
	case M_UFFD_SIGBUS:
		return UFFD_FEATURE_SIGBUS;
	case M_ASYNC_WPMATCH:
	case M_ASYNC_REARM:
		return UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	case M_UFFD_READ_CPU:
		return UFFD_FEATURE_WAKE_ON_CURRENT_CPU;
	case M_UFFD_READ_SPIN:
		return UFFD_FEATURE_BUSY_POLL;
	case M_UFFD_READ_SPIN_CPU:
		return UFFD_FEATURE_BUSY_POLL | UFFD_FEATURE_WAKE_ON_CURRENT_CPU;
	case M_UFFD_CBW:
		return UFFD_FEATURE_WP_COPY;
	}
	return 0;
}
enum memtype { T_ANON, T_SHMEM, T_HUGETLB, T_FILE_SHARED, T_FILE_PRIVATE };
static const char *memtype_names[] = { "anon", "shmem", "hugetlb",
	"file-shared", "file-private" };
/*
 * their rows in tests/lib/mem.c; "hugetlb" is a private hugetlb mapping,
 * as it was when it was MAP_ANONYMOUS | MAP_HUGETLB
 */
static const char *memtype_rows[] = { "anon", "shmem", "hugetlb-private",
	"file-shared", "file-private" };
enum pattern { P_SEQ, P_RAND, P_SCATTER };
static const char *pattern_names[] = { "seq", "rand", "scatter" };

/* configuration */
static enum method method = M_MPROTECT;
static enum memtype memtype = T_ANON;
static enum pattern pattern = P_SEQ;
static size_t size_mib = 16;
static int repeats = 5, nwriters = 1, pin, stride = 2, verbose, timeout_s = 300;
static int warmups = 1;		/* -W: unmeasured rounds before the measured ones */
static unsigned handler_delay_us;	/* --handler-delay-us: busy per message */
static int lat_off;		/* --no-lat: no clock read per write */
static int fresh;		/* --fresh: MADV_DONTNEED the range before each round */
/*
 * --copy: every first write's old page is saved before the write goes on,
 * as a snapshotter does: by the handler (SIGSEGV/SIGBUS handler or handler
 * thread: memcpy of the page into save[] before it un-protects), by the
 * writer itself for "none" (memcpy of the page, then the write: the cost
 * of one user-space page copy), by the kernel for uffd-cbw (implied).  The
 * method column then reads "<method>+copy" (uffd-cbw: as is).
 */
static int copy_mode;
static char *save;		/* --copy: npages pages, pre-faulted */
/* uffd-cbw: the buffer mapped from the userfaultfd */
static struct uffdio_wp_copy_setup cbw_s;
static char *cbw_buf;
static struct uffd_wp_copy_ring *cbw_ring;
static uint32_t *cbw_free_slots;
static size_t cbw_fallbacks;	/* faults reported (no free slot), all rounds */
/* system calls made in the timed region, counted by the program */
static atomic_ulong nsys;
static const char *dir = ".";
static char fslabel[64] = "-";

/* state */
static char *region;
static size_t psize = 4096, npages, nwrites;
static size_t *order;		/* page indices written, in order */
static int uffd = -1, memfd = -1;
static uint64_t uffd_feats;
static uint8_t *dirty;		/* collected bitmap (1 byte per page) */
static uintptr_t *rec;		/* addresses recorded by handlers */
static atomic_size_t nrec;
static volatile sig_atomic_t fail_errno;
static atomic_size_t fail_at;
static __thread sigjmp_buf *writer_jmp;
static volatile int stop_handler;
static int stop_evfd = -1;
static pthread_t handler_tid;
static int have_handler;
static struct page_region *pmvec;
static int trace_fd = -1;	/* --trace: trace_marker around arm + writes */
static uint64_t *lat;		/* per-write latency of the round, by write index */
static double clock_cost_ns;	/* one CLOCK_MONOTONIC read (clock_ns) */
static long poll_us = -1;	/* vm.userfaultfd_busy_poll_us, -1: no such sysctl */

/* --trace: "wtrack: writes begin|end ..." in the ftrace buffer (begin is
 * written before arming: the events of the timed region, arm + writes) */
static void trace_mark(const char *what, size_t writes)
{
	char buf[128];
	int n;

	if (trace_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "wtrack: writes %s %zu tgid %d\n", what,
		     writes, getpid());
	if (write(trace_fd, buf, n) != n)
		perror("trace_marker");
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* a number in a sysctl file; -1 when it cannot be read */
static long sysctl_long(const char *path)
{
	char buf[32], *end;
	long v;

	if (!read_text(path, buf, sizeof(buf)))
		return -1;
	v = strtol(buf, &end, 10);
	return end == buf ? -1 : v;
}

static void pin_self(void)
{
	cpu_set_t s;
	if (!pin)
		return;
	CPU_ZERO(&s);
	CPU_SET(0, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		perror("sched_setaffinity");
}

/* one round's figures (ns; per write unless named otherwise) */
struct figures {
	double arm, pw, col, rnd;	/* arm_ns, per_write_ns, collect_ns, round_ns */
	double armw, cpu, wcpu, hcpu;	/* arm_write_ns, cpu_ns, wcpu_ns, hcpu_ns (<0: none) */
	double p50, p90, p99, max;	/* per-write latency percentiles (<0: none) */
	double minflt, csw, sysc;	/* per write: minor faults, context switches, syscalls */
};

static const char csv_header[] =
	"method,memtype,fs,pattern,pages,writers,pin,repeat,arm_ns,per_write_ns,"
	"collect_ns,round_ns,hdelay_us,fresh,arm_write_ns,cpu_ns,wcpu_ns,hcpu_ns,"
	"p50_ns,p90_ns,p99_ns,max_ns,clock_ns,poll_us,minflt_pw,csw_pw,sysc_pw,status";

static void num(double v, const char *f)
{
	if (v >= 0)
		printf(f, v);
	putchar(',');
}

static void row(int rep, const struct figures *f, const char *status_in)
{
	char status[256];

	/* status is a CSV field: no commas (a SKIP reason may have some) */
	snprintf(status, sizeof(status), "%s", status_in);
	for (char *p = status; *p; p++)
		if (*p == ',' || *p == '\n')
			*p = ';';
	printf("%s%s,%s,%s,%s,%zu,%d,%s,%d,", method_names[method],
	       copy_mode && method != M_UFFD_CBW ? "+copy" : "",
	       memtype_names[memtype], fslabel, pattern_names[pattern], npages,
	       nwriters, pin ? "pinned" : "free", rep);
	if (!f) {	/* SKIP/FAIL row: no numbers */
		printf(",,,,%u,%d,,,,,,,,,,,,,,%s\n", handler_delay_us, fresh, status);
		fflush(stdout);
		return;
	}
	num(f->arm, "%.0f");
	num(f->pw, "%.1f");
	num(f->col, "%.0f");
	num(f->rnd, "%.0f");
	printf("%u,%d,", handler_delay_us, fresh);
	num(f->armw, "%.1f");
	num(f->cpu, "%.1f");
	num(f->wcpu, "%.1f");
	num(f->hcpu, "%.1f");
	num(f->p50, "%.0f");
	num(f->p90, "%.0f");
	num(f->p99, "%.0f");
	num(f->max, "%.0f");
	num(clock_cost_ns, "%.0f");
	num(poll_us, "%.0f");
	num(f->minflt, "%.3f");
	num(f->csw, "%.3f");
	num(f->sysc, "%.3f");
	printf("%s\n", status);
	fflush(stdout);
}

static void skip_row(const char *why)
{
	char b[256];
	snprintf(b, sizeof(b), "SKIP:%s", why);
	row(-1, NULL, b);
	fprintf(stderr, "wtrack: %s/%s/%s/%s: SKIP %s\n", method_names[method],
		memtype_names[memtype], fslabel, pattern_names[pattern], why);
	exit(0);
}

static void die(const char *why)
{
	char b[256];
	snprintf(b, sizeof(b), "FAIL:%s(%s)", why, strerror(errno));
	row(-1, NULL, b);
	fprintf(stderr, "wtrack: %s/%s/%s/%s: FAIL %s: %s\n", method_names[method],
		memtype_names[memtype], fslabel, pattern_names[pattern], why,
		strerror(errno));
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "wtrack: watchdog timeout\n";
	if (write(2, m, sizeof(m) - 1)) {}
	_exit(3);
}

static inline void record(uintptr_t a)
{
	size_t i = atomic_fetch_add(&nrec, 1);
	if (i < npages * 2)
		rec[i] = a;
}

/*
 * --handler-delay-us N: the handler spends N us on each message (fault
 * notification) before it un-protects, busy (a handler doing real work:
 * copying the page, logging it).  clock_gettime() is async-signal-safe.
 */
static void handler_work(void)
{
	if (!handler_delay_us)
		return;
	uint64_t end = now_ns() + handler_delay_us * 1000ull;
	while (now_ns() < end)
		;
}

/* ---- mprotect + SIGSEGV ---- */
static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr & ~(psize - 1);
	if (a < (uintptr_t)region || a >= (uintptr_t)region + npages * psize ||
	    !writer_jmp) {
		signal(sig, SIG_DFL);
		return;
	}
	handler_work();
	if (copy_mode)
		memcpy(save + (a - (uintptr_t)region), (void *)a, psize);
	/* mprotect and the signal's rt_sigreturn */
	atomic_fetch_add_explicit(&nsys, 2, memory_order_relaxed);
	if (mprotect((void *)a, psize, PROT_READ | PROT_WRITE)) {
		fail_errno = errno;
		atomic_store(&fail_at, atomic_load(&nrec));
		siglongjmp(*writer_jmp, 1);
	}
	record(a);
}

/* ---- uffd (tests/lib: uffd_wp() and the others return 0 or an errno) ---- */
static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr & ~(psize - 1);
	if (a < (uintptr_t)region || a >= (uintptr_t)region + npages * psize) {
		signal(sig, SIG_DFL);
		return;
	}
	record(a);
	handler_work();
	if (copy_mode)
		memcpy(save + (a - (uintptr_t)region), (void *)a, psize);
	atomic_fetch_add_explicit(&nsys, 2, memory_order_relaxed);
	if (uffd_wp(uffd, (void *)a, psize, false)) {
		signal(sig, SIG_DFL);
		return;
	}
}

static void handle_msgs(struct uffd_msg *m, int n)
{
	for (int i = 0; i < n; i++) {
		if (m[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		uintptr_t a = m[i].arg.pagefault.address & ~(psize - 1);
		record(a);	/* bookkeeping first: the clear wakes the writer */
		handler_work();
		if (copy_mode)	/* the page is still protected: its old contents */
			memcpy(save + (a - (uintptr_t)region), (void *)a, psize);
		if (method == M_UFFD_CBW)
			cbw_fallbacks++;
		atomic_fetch_add_explicit(&nsys, 1, memory_order_relaxed);
		int e = uffd_wp(uffd, (void *)a, psize, false);
		if (e && e != EAGAIN) {
			fprintf(stderr, "UFFDIO_WRITEPROTECT(clear): %s\n", strerror(e));
			_exit(4);
		}
	}
}

static void usr1(int s) { (void)s; }

static void *handler_thread(void *arg)
{
	(void)arg;
	struct uffd_msg m[16];
	pin_self();
	while (!stop_handler) {
		if (method == M_UFFD_POLL) {
			struct pollfd p[2] = { { uffd, POLLIN, 0 }, { stop_evfd, POLLIN, 0 } };
			int r = poll(p, 2, -1);
			atomic_fetch_add_explicit(&nsys, 1, memory_order_relaxed);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) { perror("poll"); _exit(4); }
			if (p[1].revents)
				break;
			if (!(p[0].revents & POLLIN))
				continue;
		}
		ssize_t r = read(uffd, m, sizeof(m));
		atomic_fetch_add_explicit(&nsys, 1, memory_order_relaxed);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("read(uffd)");
			_exit(4);
		}
		handle_msgs(m, r / sizeof(m[0]));
	}
	return NULL;
}

static void stop_handler_thread(void)
{
	if (!have_handler)
		return;
	stop_handler = 1;
	if (method == M_UFFD_POLL) {
		uint64_t one = 1;
		if (write(stop_evfd, &one, 8)) {}
		pthread_join(handler_tid, NULL);
	} else {
		/* interrupt the blocking read() until the thread is gone */
		while (pthread_tryjoin_np(handler_tid, NULL) == EBUSY) {
			pthread_kill(handler_tid, SIGUSR1);
			usleep(1000);
		}
	}
	have_handler = 0;
}

/* ---- setup ---- */
static void setup_memory(void)
{
	static struct mem_type mt;
	static struct mem_region r;
	int e;

	if (mem_type_row(&mt, memtype_rows[memtype], fslabel, dir))
		die("memory type not in tests/lib/mem.c");
	e = mem_create(&r, &mt, npages * psize, "wtrack");
	if (!e)
		e = mem_map(&r);
	if (e && memtype == T_HUGETLB)
		skip_row("no hugetlb 2MiB pages available");
	errno = e;
	if (e)
		die(mem_is_file(&mt) ? "create/mmap a file in -d DIR" : "memfd/mmap");
	mem_unlink(&r);
	region = r.addr;
	memfd = r.fd;
	if (memtype != T_HUGETLB)
		madvise(region, npages * psize, MADV_NOHUGEPAGE);	/* count 4 KiB pages */
	/* populate: every page present and written once */
	for (size_t i = 0; i < npages; i++)
		region[i * psize] = 1;
}

static void setup_pattern(void)
{
	order = malloc(npages * sizeof(*order));
	nwrites = 0;
	if (pattern == P_SCATTER) {
		for (size_t i = 0; i < npages; i += stride)
			order[nwrites++] = i;
	} else {
		for (size_t i = 0; i < npages; i++)
			order[nwrites++] = i;
	}
	if (pattern == P_RAND) {
		unsigned s = 12345;
		for (size_t i = nwrites - 1; i > 0; i--) {
			s = s * 1103515245 + 12345;
			size_t j = ((size_t)s << 16 ^ (s >> 8)) % (i + 1);
			size_t t = order[i]; order[i] = order[j]; order[j] = t;
		}
	}
}

static void setup_method(void)
{
	struct sigaction sa = { .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigemptyset(&sa.sa_mask);

	if (method == M_MPROTECT) {
		sa.sa_sigaction = segv_handler;
		sigaction(SIGSEGV, &sa, NULL);
		return;
	}
	if (method == M_SOFTDIRTY) {
		int fd = open("/proc/self/clear_refs", O_WRONLY);
		if (fd < 0 || write(fd, "4", 1) != 1)
			skip_row("clear_refs 4 (soft-dirty) unsupported");
		close(fd);
		/* probe: a written page must show bit 55 (CONFIG_MEM_SOFT_DIRTY) */
		region[0] = 2;
		uint64_t e = 0;
		errno = pagemap_read(-1, region, 1, &e);
		if (errno)
			die("pagemap probe");
		if (!(e >> 55 & 1))
			skip_row("soft-dirty bit not set by a write (no CONFIG_MEM_SOFT_DIRTY, or not on this memory)");
		return;
	}
	if (method == M_NONE)
		return;

	/* uffd methods */
	uint64_t want = method_features(method);
	int oflags = O_CLOEXEC;
	if (memtype == T_SHMEM || memtype == T_HUGETLB)
		want |= UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	/* --fresh: protect the page table entries that the zap left empty */
	if (fresh)
		want |= UFFD_FEATURE_WP_UNPOPULATED;
	/* handler threads that block in the kernel need a blocking fd */
	if (!thread_method(method) || method == M_UFFD_POLL)
		oflags |= O_NONBLOCK;

	/* probe the kernel's features first */
	uint64_t have;
	if (uffd_features(&have))
		skip_row("userfaultfd() unavailable");
	if ((memtype == T_FILE_SHARED || memtype == T_FILE_PRIVATE) &&
	    !(have & UFFD_FEATURE_WP_FILE))
		skip_row("no UFFD_FEATURE_WP_FILE (uffd-wp on files)");
	if ((want & have) != want) {
		static char why[96];
		snprintf(why, sizeof(why), "uffd feature missing (0x%llx)",
			 (unsigned long long)(want & ~have));
		skip_row(why);
	}

	uffd = uffd_open_flags(oflags, want, &uffd_feats);
	if (uffd < 0) {
		errno = -uffd;
		die("UFFDIO_API");
	}
	errno = uffd_register(uffd, region, npages * psize, UFFDIO_REGISTER_MODE_WP, NULL);
	if (errno == EINVAL)
		skip_row("UFFDIO_REGISTER MODE_WP: EINVAL on this memory");
	if (errno)
		die("UFFDIO_REGISTER");
	if (method == M_UFFD_CBW) {
		/* one slot per page of the range (at most the documented limit) */
		cbw_s.nr_slots = npages < UFFD_WP_COPY_MAX_SLOTS ? npages : UFFD_WP_COPY_MAX_SLOTS;
		if (ioctl(uffd, UFFDIO_WP_COPY_SETUP, &cbw_s))
			die("UFFDIO_WP_COPY_SETUP");
		cbw_buf = mmap(NULL, cbw_s.mmap_size, PROT_READ, MAP_SHARED, uffd, 0);
		if (cbw_buf == MAP_FAILED)
			die("mmap of the copy-before-write buffer");
		cbw_ring = (struct uffd_wp_copy_ring *)(cbw_buf + cbw_s.ring_offset);
		cbw_free_slots = calloc(cbw_ring->nr_entries, sizeof(*cbw_free_slots));
	}
	if (method == M_UFFD_SIGBUS) {
		sa.sa_sigaction = sigbus_handler;
		sigaction(SIGBUS, &sa, NULL);
	}
	if (thread_method(method)) {
		struct sigaction su = { .sa_handler = usr1 };	/* no SA_RESTART */
		sigaction(SIGUSR1, &su, NULL);
		stop_evfd = eventfd(0, EFD_CLOEXEC);
		if (pthread_create(&handler_tid, NULL, handler_thread, NULL))
			die("pthread_create");
		have_handler = 1;
	}
	if (method == M_ASYNC_WPMATCH || method == M_ASYNC_REARM)
		pmvec = calloc(npages + 1, sizeof(*pmvec));
}

/* ---- one round ---- */
static int pagemap_fd = -1;

static void arm(int first)
{
	size_t len = npages * psize;
	switch (method) {
	case M_NONE:
		break;
	case M_MPROTECT:
		if (mprotect(region, len, PROT_READ))
			die("mprotect(PROT_READ)");
		break;
	case M_SOFTDIRTY: {
		int fd = open("/proc/self/clear_refs", O_WRONLY);
		if (fd < 0 || write(fd, "4", 1) != 1)
			die("clear_refs");
		close(fd);
		break;
	}
	case M_ASYNC_WPMATCH:
		if (!first && !fresh)
			break;	/* the previous collect re-protected */
		/* fall through */
	default:
		if (uffd_wp(uffd, region, len, true))
			die("UFFDIO_WRITEPROTECT(WP)");
	}
	if (method != M_NONE)
		atomic_fetch_add_explicit(&nsys, 1, memory_order_relaxed);
}

struct writer {
	size_t from, to;
	volatile size_t pos;	/* the write in progress (read after a siglongjmp) */
	uint64_t ns, cpu_ns;	/* the loop's wall time, the thread's CPU time in it */
	size_t done;
	pthread_t t;
};

/*
 * One first write to each page of the writer's share, in order.  Unless
 * --no-lat, one CLOCK_MONOTONIC read after each write: lat[i] = from the
 * previous read to this one (the write, its fault and hand-off, one clock
 * read and the loop), so the latencies of a writer add up to its loop time.
 */
static __attribute__((noinline)) void write_loop(struct writer *w)
{
	size_t i = w->pos;

	if (copy_mode && method == M_NONE) {
		/* the writer saves the page itself: one user-space page copy */
		uint64_t t = now_ns();
		for (; i < w->to; i++) {
			w->pos = i;
			memcpy(save + order[i] * psize, region + order[i] * psize, psize);
			*(volatile char *)(region + order[i] * psize + 8) = (char)i;
			if (!lat_off) {
				uint64_t t2 = now_ns();
				lat[i] = t2 - t;
				t = t2;
			}
		}
	} else if (lat_off) {
		for (; i < w->to; i++) {
			w->pos = i;
			*(volatile char *)(region + order[i] * psize + 8) = (char)i;
		}
	} else {
		uint64_t t = now_ns();
		for (; i < w->to; i++) {
			w->pos = i;
			*(volatile char *)(region + order[i] * psize + 8) = (char)i;
			uint64_t t2 = now_ns();
			lat[i] = t2 - t;
			t = t2;
		}
	}
	w->pos = i;
}

static uint64_t cpu_ns(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts))
		return 0;
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	sigjmp_buf jb;

	pin_self();
	writer_jmp = &jb;
	w->pos = w->from;
	const uint64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	const uint64_t t0 = now_ns();
	if (sigsetjmp(jb, 1) == 0)
		write_loop(w);
	w->ns = now_ns() - t0;
	w->cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	w->done = w->pos - w->from;
	writer_jmp = NULL;
	return NULL;
}

static size_t scan_async(void)
{
	size_t n = 0;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = method == M_ASYNC_WPMATCH ?
			 PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
		.start = (uintptr_t)region,
		.end = (uintptr_t)region + npages * psize,
		.vec = (uintptr_t)pmvec,
		.vec_len = npages + 1,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	for (;;) {
		long r = ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
		if (r < 0)
			die("PAGEMAP_SCAN");
		for (long k = 0; k < r; k++)
			for (uint64_t p = pmvec[k].start; p < pmvec[k].end; p += psize)
				dirty[(p - (uintptr_t)region) / psize] = 1, n++;
		if (a.walk_end >= a.end)
			break;
		a.start = a.walk_end;
	}
	return n;
}

static void collect(void)
{
	memset(dirty, 0, npages);
	switch (method) {
	case M_NONE:
		break;
	case M_SOFTDIRTY: {
		size_t per = psize / 4096, cnt = npages * per;
		static uint64_t *pm;
		if (!pm)
			pm = malloc(cnt * 8);
		errno = pagemap_read(pagemap_fd, region, cnt, pm);
		if (errno)
			die("pread pagemap");
		for (size_t i = 0; i < npages; i++)
			if (pm[i * per] >> 55 & 1)
				dirty[i] = 1;
		break;
	}
	case M_ASYNC_WPMATCH:
	case M_ASYNC_REARM:
		scan_async();
		break;
	case M_UFFD_CBW: {
		/* the kernel's records, then free their slots (tail = head) */
		uint32_t head = __atomic_load_n(&cbw_ring->head, __ATOMIC_ACQUIRE);
		uint32_t tail = cbw_ring->tail, n = 0;
		for (uint32_t k = tail; k != head; k++) {
			const struct uffd_wp_copy_rec *r =
				&cbw_ring->recs[k & (cbw_ring->nr_entries - 1)];
			if (r->address >= (uintptr_t)region &&
			    r->address < (uintptr_t)region + npages * psize)
				dirty[(r->address - (uintptr_t)region) / psize] = 1;
			cbw_free_slots[n++] = r->slot;
		}
		struct uffdio_wp_copy_free fr = { .slots = (uintptr_t)cbw_free_slots,
						  .nr = n, .tail = head };
		if (n && ioctl(uffd, UFFDIO_WP_COPY_FREE, &fr))
			die("UFFDIO_WP_COPY_FREE");
	}
		/* the fallback reports the handler thread saved */
		/* fall through */
	default: {
		size_t n = atomic_load(&nrec);
		if (n > npages * 2)
			n = npages * 2;
		for (size_t i = 0; i < n; i++)
			dirty[(rec[i] - (uintptr_t)region) / psize] = 1;
	}
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of n sorted values */
static double pct(const uint64_t *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * n + 0.999999);
	return v[k ? k - 1 : 0];
}

/* the cost of one CLOCK_MONOTONIC read: the best of 5 runs of 1000 */
static double clock_cost(void)
{
	double best = 1e18;
	for (int r = 0; r < 5; r++) {
		uint64_t t0 = now_ns(), t = t0;
		for (int i = 0; i < 1000; i++)
			t = now_ns();
		if ((double)(t - t0) / 1000 < best)
			best = (double)(t - t0) / 1000;
	}
	return best;
}

static void usage(void)
{
	fprintf(stderr,
"usage: wtrack [-m METHOD] [-t MEMTYPE] [-p PATTERN] [-s MiB] [-r N] [-W N]\n"
"              [-w N] [--pin] [--handler-delay-us N] [--fresh] [--no-lat] [-k STRIDE]\n"
"              [-d DIR] [-f FSLABEL] [-T SECONDS] [--trace] [-H] [--skip WHY]\n"
"  -m none|mprotect|softdirty|uffd-read|uffd-poll|uffd-sigbus|\n"
"     async-scan-wp|async-scan-rearm|uffd-read-cpu|uffd-read-spin|\n"
"     uffd-read-spin-cpu|uffd-cbw\n"
"     uffd-read*: a handler thread in blocking read(2), then\n"
"     UFFDIO_WRITEPROTECT of the faulting page; -cpu: with\n"
"     UFFD_FEATURE_WAKE_ON_CURRENT_CPU (1<<18), -spin: with\n"
"     UFFD_FEATURE_BUSY_POLL (1<<19), -spin-cpu: both\n"
"     uffd-cbw: copy-before-write (UFFD_FEATURE_WP_COPY, 1<<20): the kernel\n"
"     saves the page into a slot (one per page of the range); collect reads\n"
"     the ring and frees the slots; a handler thread copies fallback reports\n"
"  -t anon|shmem|hugetlb|file-shared|file-private (file: in -d DIR)\n"
"  -p seq|rand|scatter (scatter: every STRIDE-th page, default 2)\n"
"  -s size in MiB (default 16), -r measured repeats (default 5), -W\n"
"     unmeasured warm-up rounds first (default 1; 0: the first round counts)\n"
"  -w writers (one handler thread or signal handler serves them all)\n"
"  --pin: writers and handler on CPU 0\n"
"  --handler-delay-us N: the handler (thread or signal handler) spends N us,\n"
"     busy, on each message before it un-protects\n"
"  --fresh: MADV_DONTNEED the range before each round (not timed): every\n"
"     first write also populates its page (uffd: UFFD_FEATURE_WP_UNPOPULATED)\n"
"  --copy: the old page of every first write is saved (memcpy into a\n"
"     pre-faulted buffer) before the write goes on: by the handler (signal\n"
"     handler or thread) before it un-protects, by the writer itself for\n"
"     'none' (a user-space page copy), by the kernel for uffd-cbw (implied);\n"
"     the method column reads '<method>+copy'\n"
"  --no-lat: no clock read per write (no p50..max; per-write figures then\n"
"     exclude the clock_ns that every write otherwise includes)\n"
"  --trace: write 'wtrack: writes begin|end N tgid T' to the ftrace\n"
"     trace_marker around arm + writes of each measured round (trace.sh)\n"
"  -H: print the CSV header only\n"
"What is timed, per round (CSV, one row per measured round):\n"
"  arm_write_ns  (arm + the writers' loops) / writes: protect the whole\n"
"                range (mprotect(PROT_READ), UFFDIO_WRITEPROTECT, ...) and\n"
"                write each page once -- what a plain loop timing protect +\n"
"                writes sees; the same for every method, mprotect+SIGSEGV\n"
"                included, so ratios compare like with like\n"
"  per_write_ns  the writers' loops / writes (arming excluded)\n"
"  arm_ns, collect_ns, round_ns  arm, collect, arm + slowest writer + collect\n"
"  cpu_ns        CPU time of all threads of the process over arm + writes,\n"
"                per write (CLOCK_PROCESS_CPUTIME_ID): polling is counted\n"
"  wcpu_ns       the writer threads' own CPU time in their loops, per write\n"
"  hcpu_ns       the handler thread's CPU time over arm + writes, per write\n"
"  p50_ns p90_ns p99_ns max_ns  per-write latency percentiles of the round\n"
"  clock_ns      one CLOCK_MONOTONIC read (included in every write's time)\n"
"  poll_us       vm.userfaultfd_busy_poll_us (empty: no such sysctl)\n"
"  minflt_pw csw_pw  minor faults, context switches (voluntary + involuntary)\n"
"                of the process over arm + writes, per write (getrusage)\n"
"  sysc_pw       system calls wtrack makes over arm + writes, per write,\n"
"                counted in the program (arming, each read/poll/ioctl/mprotect\n"
"                of a handler, a signal's rt_sigreturn)\n");
	exit(2);
}

static int lookup(const char *s, const char **names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	usage();
	return -1;
}

int main(int argc, char **argv)
{
	static struct option lo[] = { { "pin", 0, 0, 'P' }, { "skip", 1, 0, 'S' }, { "help", 0, 0, 'h' },
				      { "trace", 0, 0, 'M' }, { "handler-delay-us", 1, 0, 'D' },
				      { "no-lat", 0, 0, 'L' }, { "fresh", 0, 0, 'F' },
				      { "copy", 0, 0, 'C' }, { 0 } };
	int c, fs_given = 0;
	const char *skipwhy = NULL;

	while ((c = getopt_long(argc, argv, "m:t:p:s:r:W:w:k:d:f:T:Hvh", lo, NULL)) != -1) {
		switch (c) {
		case 'm': method = lookup(optarg, method_names, M_NMETHODS); break;
		case 't': memtype = lookup(optarg, memtype_names, 5); break;
		case 'p': pattern = lookup(optarg, pattern_names, 3); break;
		case 's': size_mib = strtoul(optarg, 0, 0); break;
		case 'r': repeats = atoi(optarg); break;
		case 'W': warmups = atoi(optarg); break;
		case 'w': nwriters = atoi(optarg); break;
		case 'k': stride = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'f': snprintf(fslabel, sizeof(fslabel), "%s", optarg); fs_given = 1; break;
		case 'T': timeout_s = atoi(optarg); break;
		case 'P': pin = 1; break;
		case 'D': handler_delay_us = strtoul(optarg, 0, 0); break;
		case 'L': lat_off = 1; break;
		case 'F': fresh = 1; break;
		case 'C': copy_mode = 1; break;
		case 'M': trace_fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY | O_CLOEXEC);
			if (trace_fd < 0)
				die("--trace: open /sys/kernel/tracing/trace_marker");
			break;
		case 'S': skipwhy = optarg; break;
		case 'v': verbose = 1; break;
		case 'H':
			puts(csv_header);
			return 0;
		default: usage();
		}
	}
	if (nwriters < 1 || nwriters > 64 || stride < 1 || repeats < 1 || !size_mib ||
	    warmups < 0 || handler_delay_us > 1000000)
		usage();
	signal(SIGALRM, on_alarm);
	alarm(timeout_s);

	if (memtype == T_FILE_SHARED || memtype == T_FILE_PRIVATE) {
		if (!fs_given) {
			struct statfs sf;
			const char *n = "file";
			if (!statfs(dir, &sf)) {
				switch ((unsigned long)sf.f_type) {
				case 0xEF53: n = "ext4"; break;
				case 0x58465342: n = "xfs"; break;
				case 0x9123683E: n = "btrfs"; break;
				case 0x01021994: n = "tmpfs"; break;
				}
			}
			snprintf(fslabel, sizeof(fslabel), "%s", n);
		}
	}
	if (memtype == T_HUGETLB)
		psize = 2 << 20;
	npages = (size_mib << 20) / psize;
	if (!npages)
		usage();
	poll_us = sysctl_long("/proc/sys/vm/userfaultfd_busy_poll_us");
	if (method == M_UFFD_CBW)
		copy_mode = 1;	/* the kernel copies; a fallback report is copied too */
	if (skipwhy)
		skip_row(skipwhy);	/* --skip WHY: only print the SKIP row */
	if (handler_delay_us && method != M_MPROTECT && method != M_UFFD_SIGBUS &&
	    !thread_method(method))
		skip_row("--handler-delay-us: this method has no handler");
	if (copy_mode && method != M_NONE && method != M_MPROTECT &&
	    method != M_UFFD_SIGBUS && !thread_method(method))
		skip_row("--copy: this method has no handler to copy");
	pin_self();
	clock_cost_ns = lat_off ? -1 : clock_cost();
	setup_memory();
	setup_pattern();
	dirty = calloc(npages, 1);
	rec = calloc(npages * 2, sizeof(*rec));
	if (copy_mode) {	/* pre-faulted: the copies do not fault on it */
		save = malloc(npages * psize);
		if (!save)
			die("malloc(save)");
		memset(save, 0, npages * psize);
	}
	lat = calloc(nwrites ? nwrites : 1, sizeof(*lat));
	uint64_t *lsort = calloc(nwrites ? nwrites : 1, sizeof(*lsort));
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		die("open /proc/self/pagemap");
	setup_method();
	clockid_t hclock = CLOCK_MONOTONIC;	/* placeholder: no handler thread */
	if (have_handler && pthread_getcpuclockid(handler_tid, &hclock))
		die("pthread_getcpuclockid(handler)");

	double *pw = calloc(repeats, sizeof(double));
	double *aw = calloc(repeats, sizeof(double));
	double *cw = calloc(repeats, sizeof(double));
	double *p99 = calloc(repeats, sizeof(double));
	int measured = 0, bad = 0;
	size_t enomem_at = 0;
	for (int rep = -warmups; rep < repeats; rep++) {
		atomic_store(&nrec, 0);
		fail_errno = 0;
		/* --fresh: every first write also populates its page (not timed) */
		if (fresh && madvise(region, npages * psize, MADV_DONTNEED))
			die("madvise(MADV_DONTNEED)");

		struct writer w[64];
		size_t share = (nwrites + nwriters - 1) / nwriters;
		for (int k = 0; k < nwriters; k++) {
			w[k].from = k * share < nwrites ? k * share : nwrites;
			w[k].to = (k + 1) * share < nwrites ? (k + 1) * share : nwrites;
		}
		/* the timed region: arm + writes */
		if (rep >= 0)
			trace_mark("begin", nwrites);
		struct rusage ru0, ru1;
		getrusage(RUSAGE_SELF, &ru0);
		atomic_store(&nsys, 0);
		uint64_t h0 = have_handler ? cpu_ns(hclock) : 0;
		uint64_t c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
		uint64_t t0 = now_ns();
		arm(rep == -warmups);
		uint64_t t1 = now_ns();
		if (nwriters == 1) {
			writer_run(&w[0]);
		} else {
			for (int k = 0; k < nwriters; k++)
				pthread_create(&w[k].t, NULL, writer_run, &w[k]);
			for (int k = 0; k < nwriters; k++)
				pthread_join(w[k].t, NULL);
		}
		uint64_t c1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
		uint64_t h1 = have_handler ? cpu_ns(hclock) : 0;
		unsigned long sys1 = atomic_load(&nsys);
		getrusage(RUSAGE_SELF, &ru1);
		if (rep >= 0)
			trace_mark("end", nwrites);
		uint64_t wsum = 0, wmax = 0, wcpu = 0;
		size_t done = 0, nl = 0;
		for (int k = 0; k < nwriters; k++) {
			wsum += w[k].ns;
			wmax = w[k].ns > wmax ? w[k].ns : wmax;
			wcpu += w[k].cpu_ns;
			done += w[k].done;
			if (!lat_off) {
				memcpy(lsort + nl, lat + w[k].from, w[k].done * sizeof(*lat));
				nl += w[k].done;
			}
		}

		uint64_t t2 = now_ns();
		collect();
		uint64_t t3 = now_ns();

		char status[96] = "ok";
		if (fail_errno) {
			long mmc = sysctl_long("/proc/sys/vm/max_map_count");
			enomem_at = atomic_load(&fail_at);
			snprintf(status, sizeof(status), "%s@%zu(max_map_count=%ld)",
				 fail_errno == ENOMEM ? "ENOMEM" : strerror(fail_errno),
				 enomem_at, mmc);
			/* restore the range for the next round */
			mprotect(region, npages * psize, PROT_READ | PROT_WRITE);
		} else if (method != M_NONE) {
			size_t got = 0, miss = 0;
			for (size_t i = 0; i < npages; i++)
				got += dirty[i];
			for (size_t i = 0; i < nwrites; i++)
				miss += !dirty[order[i]];
			if (miss || got != nwrites) {
				snprintf(status, sizeof(status), "MISMATCH:%zu/%zu", got, nwrites);
				bad++;
			}
		}
		if (rep < 0)
			continue;	/* warm-up round */
		struct figures f = { .p50 = -1, .p90 = -1, .p99 = -1, .max = -1, .hcpu = -1 };
		double d = done ? done : 1;
		f.arm = t1 - t0;
		f.pw = wsum / d;
		f.col = t3 - t2;
		f.rnd = (t1 - t0) + wmax + (t3 - t2);
		f.armw = ((t1 - t0) + wsum) / d;
		f.cpu = (c1 - c0) / d;
		f.wcpu = wcpu / d;
		if (have_handler)
			f.hcpu = (h1 - h0) / d;
		f.minflt = (ru1.ru_minflt - ru0.ru_minflt) / d;
		f.csw = (ru1.ru_nvcsw - ru0.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nivcsw) / d;
		f.sysc = sys1 / d;
		if (nl) {
			qsort(lsort, nl, sizeof(*lsort), cmp_u64);
			f.p50 = pct(lsort, nl, 50);
			f.p90 = pct(lsort, nl, 90);
			f.p99 = pct(lsort, nl, 99);
			f.max = lsort[nl - 1];
		}
		pw[measured] = f.pw;
		aw[measured] = f.armw;
		cw[measured] = f.cpu;
		p99[measured++] = f.p99;
		row(rep, &f, status);
	}
	stop_handler_thread();

	qsort(pw, measured, sizeof(double), cmp_d);
	qsort(aw, measured, sizeof(double), cmp_d);
	qsort(cw, measured, sizeof(double), cmp_d);
	qsort(p99, measured, sizeof(double), cmp_d);
	fprintf(stderr, "wtrack: %-18s %-12s %-6s %-7s %6zu pages (%zu writes) w=%d %-6s%s "
		"per write (arm incl.) median %.0f ns (min %.0f max %.0f), writes only %.0f, "
		"CPU %.0f, p99 %s%s%s\n",
		method_names[method], memtype_names[memtype], fslabel,
		pattern_names[pattern], npages, nwrites, nwriters, pin ? "pinned" : "free",
		handler_delay_us ? ({ static char b[32]; snprintf(b, 32, " handler+%uus", handler_delay_us); b; }) : "",
		aw[measured / 2], aw[0], aw[measured - 1], pw[measured / 2],
		cw[measured / 2],
		p99[measured / 2] < 0 ? "-" : ({ static char b[32]; snprintf(b, 32, "%.0f", p99[measured / 2]); b; }),
		enomem_at ? "  STOPS WORKING (mprotect ENOMEM, vm.max_map_count) after writes: " : "",
		enomem_at ? ({ static char b[32]; snprintf(b, 32, "%zu", enomem_at); b; }) : "");
	if (bad)
		fprintf(stderr, "wtrack: %d round(s) collected a wrong dirty set\n", bad);
	if (method == M_UFFD_CBW)
		fprintf(stderr, "wtrack: uffd-cbw: %llu slots, %zu fault(s) reported (no free slot) in all rounds\n",
			(unsigned long long)cbw_s.nr_slots, cbw_fallbacks);
	return bad ? 1 : 0;
}
