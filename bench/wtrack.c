// SPDX-License-Identifier: GPL-2.0
/*
 * wtrack: cost of write-tracking methods (arm, per first write, collect, round).
 *
 * One tracking round = arm (protect the whole range) + writers each write
 * once to their share of the pattern's pages + collect (produce the dirty
 * set as a bitmap).  The collected set is checked against the written set
 * (not timed); a mismatch is reported in the status column.
 *
 * CSV on stdout:
 *   method,memtype,fs,pattern,pages,writers,pin,repeat,arm_ns,per_write_ns,
 *   collect_ns,round_ns,status
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
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_WAKE_ON_CURRENT_CPU
#define UFFD_FEATURE_WAKE_ON_CURRENT_CPU (1ULL << 18)
#endif
#ifndef UFFD_FEATURE_WP_RESOLVE
#define UFFD_FEATURE_WP_RESOLVE (1ULL << 19)
struct uffdio_wp_resolve {
	struct uffdio_range range;
	__u64 mode;
	struct uffd_msg msg;
};
#define _UFFDIO_WP_RESOLVE (0x09)
#define UFFDIO_WP_RESOLVE _IOWR(UFFDIO, _UFFDIO_WP_RESOLVE, struct uffdio_wp_resolve)
#endif
#ifndef UFFD_FEATURE_BUSY_POLL
#define UFFD_FEATURE_BUSY_POLL (1ULL << 20)
#endif
#ifndef UFFD_FEATURE_WP_FILE
#define UFFD_FEATURE_WP_FILE (1ULL << 17)
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef PAGEMAP_SCAN
struct page_region { uint64_t start, end, categories; };
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif

enum method { M_NONE, M_MPROTECT, M_SOFTDIRTY, M_UFFD_READ, M_UFFD_POLL,
	      M_UFFD_SIGBUS, M_ASYNC_WPMATCH, M_ASYNC_REARM,
	      M_UFFD_READ_CPU, M_UFFD_RESOLVE, M_UFFD_RESOLVE_CPU,
	      M_UFFD_READ_SPIN, M_UFFD_RESOLVE_SPIN, M_NMETHODS };
static const char *method_names[] = { "none", "mprotect", "softdirty",
	"uffd-read", "uffd-poll", "uffd-sigbus", "async-scan-wp", "async-scan-rearm",
	"uffd-read-cpu", "uffd-resolve", "uffd-resolve-cpu",
	"uffd-read-spin", "uffd-resolve-spin" };

/* a handler thread serves the faults (not SIGBUS, not async) */
static int thread_method(int m)
{
	return m == M_UFFD_READ || m == M_UFFD_POLL || m == M_UFFD_READ_CPU ||
	       m == M_UFFD_RESOLVE || m == M_UFFD_RESOLVE_CPU ||
	       m == M_UFFD_READ_SPIN || m == M_UFFD_RESOLVE_SPIN;
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
	case M_UFFD_RESOLVE:
		return UFFD_FEATURE_WP_RESOLVE;
	case M_UFFD_RESOLVE_CPU:
		return UFFD_FEATURE_WP_RESOLVE | UFFD_FEATURE_WAKE_ON_CURRENT_CPU;
	case M_UFFD_READ_SPIN:
		return UFFD_FEATURE_BUSY_POLL;
	case M_UFFD_RESOLVE_SPIN:
		return UFFD_FEATURE_WP_RESOLVE | UFFD_FEATURE_BUSY_POLL;
	}
	return 0;
}
enum memtype { T_ANON, T_SHMEM, T_HUGETLB, T_FILE_SHARED, T_FILE_PRIVATE };
static const char *memtype_names[] = { "anon", "shmem", "hugetlb",
	"file-shared", "file-private" };
enum pattern { P_SEQ, P_RAND, P_SCATTER };
static const char *pattern_names[] = { "seq", "rand", "scatter" };

/* configuration */
static enum method method = M_MPROTECT;
static enum memtype memtype = T_ANON;
static enum pattern pattern = P_SEQ;
static size_t size_mib = 16;
static int repeats = 5, nwriters = 1, pin, stride = 2, verbose, timeout_s = 300;
static const char *dir = ".";
static char fslabel[64] = "-";

/* state */
static char *region;
static size_t psize = 4096, npages, nwrites;
static size_t *order;		/* page indices written, in order */
static int uffd = -1, memfd = -1;
static uint64_t uffd_features;
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
static int trace_fd = -1;	/* --trace: trace_marker around the writes */

/* --trace: "wtrack: writes begin|end ..." in the ftrace buffer */
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

static void row(int rep, double arm, double pw, double col, double rnd,
		const char *status)
{
	printf("%s,%s,%s,%s,%zu,%d,%s,%d,", method_names[method],
	       memtype_names[memtype], fslabel, pattern_names[pattern], npages,
	       nwriters, pin ? "pinned" : "free", rep);
	if (rep < 0 && strncmp(status, "ok", 2))
		printf(",,,,%s\n", status);
	else
		printf("%.0f,%.1f,%.0f,%.0f,%s\n", arm, pw, col, rnd, status);
	fflush(stdout);
}

static void skip(const char *why)
{
	char b[256];
	snprintf(b, sizeof(b), "SKIP:%s", why);
	row(-1, 0, 0, 0, 0, b);
	fprintf(stderr, "wtrack: %s/%s/%s/%s: SKIP %s\n", method_names[method],
		memtype_names[memtype], fslabel, pattern_names[pattern], why);
	exit(0);
}

static void fail(const char *why)
{
	char b[256];
	snprintf(b, sizeof(b), "FAIL:%s(%s)", why, strerror(errno));
	row(-1, 0, 0, 0, 0, b);
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
	if (mprotect((void *)a, psize, PROT_READ | PROT_WRITE)) {
		fail_errno = errno;
		atomic_store(&fail_at, atomic_load(&nrec));
		siglongjmp(*writer_jmp, 1);
	}
	record(a);
}

/* ---- uffd ---- */
static int wp_range(uintptr_t start, size_t len, int protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr & ~(psize - 1);
	if (a < (uintptr_t)region || a >= (uintptr_t)region + npages * psize) {
		signal(sig, SIG_DFL);
		return;
	}
	record(a);
	if (wp_range(a, psize, 0)) {
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
		if (wp_range(a, psize, 0) && errno != EAGAIN) {
			perror("UFFDIO_WRITEPROTECT(clear)");
			_exit(4);
		}
	}
}

static void usr1(int s) { (void)s; }

/*
 * UFFDIO_WP_RESOLVE: resolve the previous fault and wait for the next one
 * in one call.  The kernel clears range.len once the range is resolved,
 * so after EINTR/EAGAIN the call is simply repeated.
 */
static void resolve_loop(void)
{
	struct uffdio_wp_resolve r = { 0 };

	while (!stop_handler) {
		if (ioctl(uffd, UFFDIO_WP_RESOLVE, &r)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("UFFDIO_WP_RESOLVE");
			_exit(4);
		}
		if (r.msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uintptr_t a = r.msg.arg.pagefault.address & ~(psize - 1);
		record(a);	/* bookkeeping first: the resolve wakes the writer */
		r.range.start = a;
		r.range.len = psize;
	}
}

static void *handler_thread(void *arg)
{
	(void)arg;
	struct uffd_msg m[16];
	pin_self();
	if (method == M_UFFD_RESOLVE || method == M_UFFD_RESOLVE_CPU ||
	    method == M_UFFD_RESOLVE_SPIN) {
		resolve_loop();
		return NULL;
	}
	while (!stop_handler) {
		if (method == M_UFFD_POLL) {
			struct pollfd p[2] = { { uffd, POLLIN, 0 }, { stop_evfd, POLLIN, 0 } };
			int r = poll(p, 2, -1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) { perror("poll"); _exit(4); }
			if (p[1].revents)
				break;
			if (!(p[0].revents & POLLIN))
				continue;
		}
		ssize_t r = read(uffd, m, sizeof(m));
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
	int flags = MAP_SHARED, fd = -1;
	size_t len = npages * psize;

	switch (memtype) {
	case T_ANON:
		region = mmap(NULL, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case T_SHMEM:
		fd = memfd_create("wtrack", 0);
		if (fd < 0 || ftruncate(fd, len))
			fail("memfd");
		region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		break;
	case T_HUGETLB:
		region = mmap(NULL, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
			      -1, 0);
		if (region == MAP_FAILED)
			skip("no hugetlb 2MiB pages available");
		break;
	case T_FILE_PRIVATE:
		flags = MAP_PRIVATE;
		/* fall through */
	case T_FILE_SHARED: {
		char path[4096];
		snprintf(path, sizeof(path), "%s/wtrack.XXXXXX", dir);
		fd = mkstemp(path);
		if (fd < 0)
			fail("mkstemp in -d DIR");
		unlink(path);
		if (ftruncate(fd, len))
			fail("ftruncate");
		region = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
		break;
	}
	}
	if (region == MAP_FAILED)
		fail("mmap");
	memfd = fd;
	if (memtype != T_HUGETLB)
		madvise(region, len, MADV_NOHUGEPAGE);	/* count 4 KiB pages */
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
			skip("clear_refs 4 (soft-dirty) unsupported");
		close(fd);
		/* probe: a written page must show bit 55 (CONFIG_MEM_SOFT_DIRTY) */
		region[0] = 2;
		uint64_t e = 0;
		int pm = open("/proc/self/pagemap", O_RDONLY);
		if (pm < 0 || pread(pm, &e, 8, ((uintptr_t)region / 4096) * 8) != 8)
			fail("pagemap probe");
		close(pm);
		if (!(e >> 55 & 1))
			skip("soft-dirty bit not set by a write (no CONFIG_MEM_SOFT_DIRTY, or not on this memory)");
		return;
	}
	if (method == M_NONE)
		return;

	/* uffd methods */
	uint64_t want = method_features(method);
	int oflags = O_CLOEXEC;
	if (memtype == T_SHMEM || memtype == T_HUGETLB)
		want |= UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	/* handler threads that block in the kernel need a blocking fd */
	if (!thread_method(method) || method == M_UFFD_POLL)
		oflags |= O_NONBLOCK;

	/* probe the kernel's features first */
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		skip("userfaultfd() unavailable");
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	if (ioctl(uffd, UFFDIO_API, &api))
		fail("UFFDIO_API probe");
	close(uffd);
	uint64_t have = api.features;
	if ((memtype == T_FILE_SHARED || memtype == T_FILE_PRIVATE) &&
	    !(have & UFFD_FEATURE_WP_FILE))
		skip("no UFFD_FEATURE_WP_FILE (uffd-wp on files)");
	if ((want & have) != want) {
		static char why[96];
		snprintf(why, sizeof(why), "uffd feature missing (0x%llx)",
			 (unsigned long long)(want & ~have));
		skip(why);
	}

	uffd = syscall(SYS_userfaultfd, oflags);
	api = (struct uffdio_api){ .api = UFFD_API, .features = want };
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		fail("UFFDIO_API");
	uffd_features = api.features;
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)region, .len = npages * psize },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		if (errno == EINVAL)
			skip("UFFDIO_REGISTER MODE_WP: EINVAL on this memory");
		fail("UFFDIO_REGISTER");
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
			fail("pthread_create");
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
			fail("mprotect(PROT_READ)");
		break;
	case M_SOFTDIRTY: {
		int fd = open("/proc/self/clear_refs", O_WRONLY);
		if (fd < 0 || write(fd, "4", 1) != 1)
			fail("clear_refs");
		close(fd);
		break;
	}
	case M_ASYNC_WPMATCH:
		if (!first)
			break;	/* the previous collect re-protected */
		/* fall through */
	default:
		if (wp_range((uintptr_t)region, len, 1))
			fail("UFFDIO_WRITEPROTECT(WP)");
	}
}

struct writer { size_t from, to; uint64_t ns; size_t done; pthread_t t; };

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	sigjmp_buf jb;
	volatile size_t i = w->from;

	pin_self();
	writer_jmp = &jb;
	uint64_t t0 = now_ns();
	if (sigsetjmp(jb, 1) == 0) {
		for (; i < w->to; i++)
			*(volatile char *)(region + order[i] * psize + 8) = (char)i;
	}
	w->ns = now_ns() - t0;
	w->done = i - w->from;
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
			fail("PAGEMAP_SCAN");
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
		off_t off = ((uintptr_t)region / 4096) * 8;
		ssize_t r = pread(pagemap_fd, pm, cnt * 8, off);
		if (r != (ssize_t)(cnt * 8))
			fail("pread pagemap");
		for (size_t i = 0; i < npages; i++)
			if (pm[i * per] >> 55 & 1)
				dirty[i] = 1;
		break;
	}
	case M_ASYNC_WPMATCH:
	case M_ASYNC_REARM:
		scan_async();
		break;
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

static void usage(void)
{
	fprintf(stderr,
"usage: wtrack [-m METHOD] [-t MEMTYPE] [-p PATTERN] [-s MiB] [-r N] [-w 1|2]\n"
"              [--pin] [-k STRIDE] [-d DIR] [-f FSLABEL] [-T SECONDS] [-H]\n"
"              [--skip WHY]\n"
"  -m none|mprotect|softdirty|uffd-read|uffd-poll|uffd-sigbus|\n"
"     async-scan-wp|async-scan-rearm|uffd-read-cpu|uffd-resolve|\n"
"     uffd-resolve-cpu|uffd-read-spin|uffd-resolve-spin\n"
"  -t anon|shmem|hugetlb|file-shared|file-private (file: in -d DIR)\n"
"  -p seq|rand|scatter (scatter: every STRIDE-th page, default 2)\n"
"  -s size in MiB (default 16), -r measured repeats (default 5; one\n"
"     unmeasured warm-up round first), -w writers (uffd-read/poll: 1 handler)\n"
"  --pin: writers and handler on CPU 0; -H: print the CSV header only\n"
"  --trace: write 'wtrack: writes begin|end N tgid T' to the ftrace\n"
"     trace_marker around the writes of each measured round (bench/trace.sh)\n");
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
				      { "trace", 0, 0, 'M' }, { 0 } };
	int c, fs_given = 0;
	const char *skipwhy = NULL;

	while ((c = getopt_long(argc, argv, "m:t:p:s:r:w:k:d:f:T:Hvh", lo, NULL)) != -1) {
		switch (c) {
		case 'm': method = lookup(optarg, method_names, M_NMETHODS); break;
		case 't': memtype = lookup(optarg, memtype_names, 5); break;
		case 'p': pattern = lookup(optarg, pattern_names, 3); break;
		case 's': size_mib = strtoul(optarg, 0, 0); break;
		case 'r': repeats = atoi(optarg); break;
		case 'w': nwriters = atoi(optarg); break;
		case 'k': stride = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'f': snprintf(fslabel, sizeof(fslabel), "%s", optarg); fs_given = 1; break;
		case 'T': timeout_s = atoi(optarg); break;
		case 'P': pin = 1; break;
		case 'M': trace_fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY | O_CLOEXEC);
			if (trace_fd < 0)
				fail("--trace: open /sys/kernel/tracing/trace_marker");
			break;
		case 'S': skipwhy = optarg; break;
		case 'v': verbose = 1; break;
		case 'H':
			puts("method,memtype,fs,pattern,pages,writers,pin,repeat,arm_ns,"
			     "per_write_ns,collect_ns,round_ns,status");
			return 0;
		default: usage();
		}
	}
	if (nwriters < 1 || nwriters > 64 || stride < 1 || repeats < 1 || !size_mib)
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
	if (skipwhy)
		skip(skipwhy);	/* --skip WHY: only print the SKIP row */
	pin_self();
	setup_memory();
	setup_pattern();
	dirty = calloc(npages, 1);
	rec = calloc(npages * 2, sizeof(*rec));
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		fail("open /proc/self/pagemap");
	setup_method();

	double *pw = calloc(repeats, sizeof(double));
	int measured = 0, bad = 0;
	size_t enomem_at = 0;
	for (int rep = -1; rep < repeats; rep++) {
		atomic_store(&nrec, 0);
		fail_errno = 0;

		uint64_t t0 = now_ns();
		arm(rep == -1);
		uint64_t t1 = now_ns();

		struct writer w[64];
		size_t share = (nwrites + nwriters - 1) / nwriters;
		for (int k = 0; k < nwriters; k++) {
			w[k].from = k * share < nwrites ? k * share : nwrites;
			w[k].to = (k + 1) * share < nwrites ? (k + 1) * share : nwrites;
		}
		if (rep >= 0)
			trace_mark("begin", nwrites);
		if (nwriters == 1) {
			writer_run(&w[0]);
		} else {
			for (int k = 0; k < nwriters; k++)
				pthread_create(&w[k].t, NULL, writer_run, &w[k]);
			for (int k = 0; k < nwriters; k++)
				pthread_join(w[k].t, NULL);
		}
		uint64_t wsum = 0, wmax = 0;
		size_t done = 0;
		for (int k = 0; k < nwriters; k++) {
			wsum += w[k].ns;
			wmax = w[k].ns > wmax ? w[k].ns : wmax;
			done += w[k].done;
		}

		if (rep >= 0)
			trace_mark("end", nwrites);
		uint64_t t2 = now_ns();
		collect();
		uint64_t t3 = now_ns();

		char status[96] = "ok";
		if (fail_errno) {
			long mmc = -1;
			FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
			if (f) {
				if (fscanf(f, "%ld", &mmc) != 1)
					mmc = -1;
				fclose(f);
			}
			enomem_at = atomic_load(&fail_at);
			snprintf(status, sizeof(status), "%s@%zu(max_map_count=%ld)",
				 fail_errno == ENOMEM ? "ENOMEM" : strerror(fail_errno),
				 enomem_at, mmc);
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
		double per = done ? (double)wsum / done : 0;
		pw[measured++] = per;
		row(rep, t1 - t0, per, t3 - t2, (t1 - t0) + wmax + (t3 - t2), status);
		if (fail_errno) {
			/* restore the range for the next round */
			mprotect(region, npages * psize, PROT_READ | PROT_WRITE);
		}
	}
	stop_handler_thread();

	qsort(pw, measured, sizeof(double), cmp_d);
	fprintf(stderr, "wtrack: %-16s %-12s %-6s %-7s %6zu pages (%zu writes) w=%d %-6s "
		"per-write median %.0f ns (min %.0f max %.0f)%s%s\n",
		method_names[method], memtype_names[memtype], fslabel,
		pattern_names[pattern], npages, nwrites, nwriters, pin ? "pinned" : "free",
		pw[measured / 2], pw[0], pw[measured - 1],
		enomem_at ? "  STOPS WORKING (mprotect ENOMEM, vm.max_map_count) after writes: " : "",
		enomem_at ? ({ static char b[32]; snprintf(b, 32, "%zu", enomem_at); b; }) : "");
	if (bad)
		fprintf(stderr, "wtrack: %d round(s) collected a wrong dirty set\n", bad);
	return bad ? 1 : 0;
}
