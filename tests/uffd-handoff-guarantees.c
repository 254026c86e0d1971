// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-handoff-guarantees: the guarantees of the uffd-wp API that the
 * hand-off features must not change, checked with and without them, so that
 * the test passes on an upstream kernel (where only the feature-less
 * combination runs) and holds the series to the same promises.  Feature
 * combinations: none, wake-on-current-cpu, busy-poll and
 * busy-poll+wake-on-current-cpu (UFFD_FEATURE_WAKE_ON_CURRENT_CPU,
 * UFFD_FEATURE_BUSY_POLL); one the kernel does not advertise is a SKIP with
 * UFFDWP_EXPECT_HANDOFF=0 and a failure otherwise.  The memory types are
 * rows of tests/lib/mem.c; every point is a case of tests/lib/cases.h (a
 * process of its own with a timeout); a watchdog thread in it prints where
 * the threads are, with their kernel stacks, before it ends a hang as a
 * failure.
 *
 * unprotect-returns-writable MEMTYPE FEATURES {all-modes,user-mode-only}
 *   MEMTYPE: anon, shmem (memfd), hugetlb (a 2 MiB hugetlb memfd, MAP_SHARED;
 *   SKIP when too few are free) and file-shared/FS, file-private/FS on every file system
 *   of UFFDWP_FS.  A blocking uffd (read(2) blocks: where BUSY_POLL polls),
 *   without and with UFFD_USER_MODE_ONLY.  The area is protected as a whole
 *   each round; a writer thread writes one byte into each page in order
 *   (varying offsets, varying pauses before each write, so that the fault
 *   comes both while the handler is still busy and while it waits in
 *   read(2)).  The handler thread reads each report, checks it is the
 *   write-protect fault of the expected page, un-protects exactly that page
 *   (UFFDIO_WRITEPROTECT, mode 0: wakes) and at once, in varying order:
 *    (a) /proc/self/pagemap shows the page without PM_UFFD_WP;
 *    (b) read(2) from a pipe into the page, a kernel-mode write, succeeds:
 *        from the handler itself with UFFD_USER_MODE_ONLY, on every page
 *        (EFAULT: the kernel treated the page as still protected); without
 *        it from a helper thread with a 1 s timeout, on one page in four (a
 *        kernel-mode fault there is reported to this very handler: the
 *        handler then reads the report, counts "page N reported again" and
 *        un-protects it again);
 *    (c) the handler writes into the page itself (a report would block it
 *        for good: the watchdog turns that into a failure with a reason).
 *   At the end of a round, with the uffd switched to O_NONBLOCK, no message
 *   may be left ("page N reported again after its un-protection
 *   returned"), and every byte written by the writer, the pipe and the
 *   handler must be in place.  Each failure kind is counted; one diag line
 *   per point gives the counts (and, as evidence only, how often the
 *   handler's write faulted or slept when it came first).  Faults with
 *   busy-poll: 1024 on anon and on the first file system's file-shared,
 *   512 on the other types, 64 on hugetlb (where a polling writer on
 *   another CPU races with the un-protection); half that with
 *   busy-poll+wake-on-current-cpu, 128 (hugetlb 32) without busy polling;
 *   rounds after the first only while the point is under 1.5 s (a loaded
 *   machine, where every hand-off waits for a tick, does fewer).
 *
 * no-lost-wakeup MEMTYPE FEATURES {read,poll,epoll}
 *   anon and file-shared on the first file system.  Two handler threads on
 *   one uffd: reader A reads exactly one message with a blocking read(2)
 *   (where a BUSY_POLL reader polls), resolves it and exits; reader B, asleep
 *   before each iteration starts, waits in a blocking read(2) ("read"), in
 *   poll(2) ("poll") or in epoll_wait(2) ("epoll"), then reads with
 *   RWF_NOWAIT, and resolves whatever it gets.  Two writer threads, released
 *   together by a barrier as A starts reading, fault on two different
 *   protected pages; both must finish within 5 s: a writer still blocked
 *   with its fault queued is a lost wakeup.  poll(2) on a blocking uffd
 *   says EPOLLERR, so for poll and epoll the uffd is O_NONBLOCK except while
 *   A enters its read(2) (B is asleep in poll/epoll_wait by then, A's read
 *   stays blocking).  100 iterations with busy-poll, 50 without (the first
 *   lost wakeup ends the point); each page reported exactly once.
 *
 * fifo-same-cpu MEMTYPE FEATURES
 *   anon and file-shared on the first file system.  Writer and handler
 *   pinned to one CPU (the first allowed, CPU 0 in the VM), the handler
 *   SCHED_FIFO priority 1 (SKIP when that is not permitted), the writer
 *   SCHED_OTHER.  200 faults on 64 pages (the handler re-protects the page
 *   half a lap behind the writer): all must complete within 10 s, i.e. a
 *   real-time handler never waits for the writer it preempts; checks (a)
 *   and (c) after each un-protect; the longest fault is printed.
 *
 * resolve-paths MEMTYPE FEATURES
 *   Every memory type, 6 units in three VMAs (MADV_DONTFORK on the middle
 *   two).  One UFFDIO_WRITEPROTECT over all three VMAs protects every unit
 *   and one over units 1-4 un-protects exactly those (pagemap), as does
 *   one inside the middle VMA; the un-protected units then take writes
 *   without a report.  Then, protected again, with a handler thread in a
 *   blocking read(2): a GUP write (an O_DIRECT read(2) of a file on the
 *   first test file system into the page)
 *   and a user-mode write, each once resolved at its first report
 *   (reported once) and once only woken by UFFDIO_WAKE first (the access
 *   faults and reports again: twice); every written byte is in place and
 *   pagemap shows what was resolved and what was not; the user write
 *   resolved at once counts one page fault in getrusage() (not on files).
 *
 * unregister-vs-protect MEMTYPE {writeprotect,copy-wp}
 *   A protector thread write-protects the area (64 units, hugetlb 4; one
 *   VMA) with UFFDIO_WRITEPROTECT(WP) over and over, or, on anon and
 *   shmem, empties a unit and fills it with UFFDIO_COPY(MODE_WP), while
 *   the main thread unregisters the area, checks that pagemap shows no
 *   unit write-protected (the protector's calls fail with ENOENT from
 *   then on, so any bit is stale: left by a call that was in flight when
 *   the unregistration reset the protection), and registers it again,
 *   for 1 s.  Both calls may run under the VMA's read lock alone.
 *
 * Environment:
 *   UFFDWP_FS              "name:mountpoint ..." (default "cwd:.")
 *   UFFDWP_EXPECT_WP_FILE  1 (default) or 0: is UFFD_FEATURE_WP_FILE expected
 *   UFFDWP_EXPECT_HANDOFF  1 (default) or 0: are the hand-off features expected
 *   UFFDWP_BUDGET          time budget in seconds (default 600): points
 *                          after it fail
 *
 * Ends with "# stats: faults=N" (write-protect faults handled) and the
 * totals.  Output is TAP; exit status 0 when no point failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT		0x00000008
#endif

#define T1_PAGES		256	/* pages per round */
#define T1_HPAGES		16	/* hugetlb pages per round */
#define T1_ROUNDS_MAIN		4	/* anon, first file-shared: 1024 faults */
#define T1_ROUNDS		2	/* other types: 512 faults */
#define T1_HROUNDS		4	/* hugetlb: 64 faults */
#define T1_PAGES_PLAIN		128	/* pages per round without busy polling */
#define T1_SOFT_MS		1500	/* rounds after the first only below this */
#define HELPER_MS		1000	/* a kernel-mode access may take this long */

#define T2_ITERS		100	/* with BUSY_POLL; half without */
#define T2_BOUND_MS		5000	/* both writers done within */
#define T2_ASLEEP_MS		2000	/* reader B asleep within */

#define T3_PAGES		64
#define T3_FAULTS		200
#define T3_BOUND_MS		10000

#define T1_TIMEOUT_MS		20000
#define T2_TIMEOUT_MS		40000
#define T3_TIMEOUT_MS		20000
#define T4_UNITS		6
#define T4_TIMEOUT_MS		20000
#define T5_UNITS		64
#define T5_MS			1000	/* unregister-vs-protect, per point */
#define T5_REGISTERED_US	50	/* ... registered this long each time */
#define T5_TIMEOUT_MS		20000
#define WD_SLACK_MS		3000	/* the watchdog fires this much earlier */
#define DEFAULT_BUDGET_S	600
#define MAXDIAG			8	/* failure lines printed per point */
#define PIPE_BYTE		'P'

/* ------------------------------------------------------------------ */
/* tables                                                              */

/* a row of tests/lib/mem.c and what this test does on it */
struct memtype {
	struct mem_type t;
	char name[128];		/* anon, shmem, hugetlb, file-shared/ext4, ... */
	int pages, rounds;	/* unprotect-returns-writable */
};

static const struct combo {
	const char *name;
	uint64_t feat;
} combos[] = {
	{ "none", 0 },
	{ "wake-on-current-cpu", UFFD_FEATURE_WAKE_ON_CURRENT_CPU },
	{ "busy-poll", UFFD_FEATURE_BUSY_POLL },
	{ "busy-poll+wake-on-current-cpu",
	  UFFD_FEATURE_BUSY_POLL | UFFD_FEATURE_WAKE_ON_CURRENT_CPU },
};
#define NCOMBOS		((int)(sizeof(combos) / sizeof(combos[0])))

enum { S_READ, S_POLL, S_EPOLL, NSTYLES };
static const char *const style_name[NSTYLES] = { "read", "poll", "epoll" };

static struct memtype memtypes[MEM_MAX_TYPES];
static int nr_memtypes;
static const struct memtype *mt_anon, *mt_file;	/* no-lost-wakeup, fifo-same-cpu */

/* ------------------------------------------------------------------ */
/* what a point's process counts (the faults also in "# stats:")      */

enum { ST_FAULTS };
static const char *const stat_names[] = { "faults", NULL };

struct result {
	unsigned long long faults;	/* write-protect faults handled */
	/* unprotect-returns-writable */
	unsigned long long still_wp;	/* (a) PM_UFFD_WP still set */
	unsigned long long efault;	/* (b) EFAULT */
	unsigned long long kmode_err;	/* (b) other errors */
	unsigned long long kmode_blocked;	/* (b) blocked (all-modes run) */
	unsigned long long again;		/* a page reported again after its un-protect */
	unsigned long long leftover;	/* ... of which found queued at a round's end */
	unsigned long long unexpected;	/* a report of the wrong page, or not WP */
	unsigned long long wp_err;	/* UFFDIO_WRITEPROTECT errors, protect not seen */
	unsigned long long bad_bytes;	/* contents */
	unsigned long long hwrite_faulted; /* (c) first: the handler's write faulted (diag) */
	unsigned long long hwrite_slept;	/* ... and slept: blocked somewhere (diag) */
	/* no-lost-wakeup */
	unsigned long long iters, lost, stuck, dup, unreported, b_awake, b_err_polls;
	unsigned long long a_got, b_got;
	/* fifo-same-cpu */
	long long max_fault_us, run_ms;
	int nfail;		/* failure lines so far */
};

static struct result res;	/* in a point's process */
static size_t psize;
static uint64_t kfeat;
static bool have_uffd, have_wp_file;
static int uffd_errno;

/* ------------------------------------------------------------------ */
/* in a point's process                                               */

static char cell[256];		/* the point's name (set before its case_run()) */
static pthread_mutex_t fail_mtx = PTHREAD_MUTEX_INITIALIZER;

#define CNT(f)		__atomic_add_fetch(&res.f, 1, __ATOMIC_RELAXED)

/* a write-protect fault handled */
static void count_fault(void)
{
	CNT(faults);
	case_count(ST_FAULTS, 1);
}

/* a failure: MAXDIAG are printed, the others counted */
static void cfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cfail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&fail_mtx);
	if (res.nfail < MAXDIAG)
		fail("%s: %s", cell, buf);
	else if (res.nfail == MAXDIAG)
		diag("%s: more failures, only counted", cell);
	res.nfail++;
	pthread_mutex_unlock(&fail_mtx);
	errno = e;
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

/* no SA_RESTART: a signal ends a blocking read(2), poll(2), ... */
static void install_sigusr1(void)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void spin_us(int us)
{
	int64_t end;

	if (us <= 0)
		return;
	end = now_us() + us;
	while (now_us() < end)
		;
}

/* the state letter of a thread of this process: R, S, D, ... */
static char task_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	snprintf(buf, len, "?");
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* every thread of this process: name, state, wchan, kernel stack */
static void dump_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[320], comm[64], wchan[64], line[256];
		FILE *f;
		int k = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		read_line(path, comm, sizeof(comm));
		snprintf(path, sizeof(path), "/proc/self/task/%s/wchan", e->d_name);
		read_line(path, wchan, sizeof(wchan));
		diag("%s: thread %s (%s): state %c, wchan %s", cell, e->d_name, comm,
		     task_state(atoi(e->d_name)), wchan);
		snprintf(path, sizeof(path), "/proc/self/task/%s/stack", e->d_name);
		f = fopen(path, "r");
		while (f && k++ < 16 && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = 0;
			diag("    %s", line);
		}
		if (f)
			fclose(f);
	}
	closedir(d);
}

/* watchdog: a point that hangs ends as a failure, with where it hung */
static atomic_int wd_done;
static int64_t wd_start, wd_deadline;
static void (*wd_state)(char *buf, size_t len);

static void *watchdog_main(void *arg)
{
	char st[256] = "";

	(void)arg;
	prctl(PR_SET_NAME, "watchdog");
	while (!atomic_load(&wd_done)) {
		if (now_ms() >= wd_deadline) {
			if (wd_state)
				wd_state(st, sizeof(st));
			cfail("hang: not done after %lld ms: %s",
			      (long long)(now_ms() - wd_start), st);
			dump_tasks();
			fflush(stdout);
			_exit(FAIL);
		}
		sleep_ms(20);
	}
	return NULL;
}

/* the end of a point's process: the watchdog stops; FAIL after any failure */
static int point_end(int rc)
{
	atomic_store(&wd_done, 1);
	return rc == PASS && !res.nfail ? PASS : FAIL;
}

static void watchdog_start(int ms, void (*state)(char *, size_t))
{
	pthread_t th;

	wd_start = now_ms();
	wd_deadline = wd_start + ms;
	wd_state = state;
	if (!pthread_create(&th, NULL, watchdog_main, NULL))
		pthread_detach(th);
}

/* the uffd-wp bit of the page at addr in /proc/self/pagemap */
static int pm_fd = -1;

static bool pm_wp(const void *addr, bool *wp)
{
	uint64_t e;

	if (pagemap_read(pm_fd, addr, 1, &e))
		return false;
	*wp = e & PM_UFFD_WP;
	return true;
}

static const char *pm_str(const void *addr)
{
	bool wp;

	if (!pm_wp(addr, &wp))
		return "pagemap unreadable";
	return wp ? "pagemap: still write-protected" : "pagemap: not write-protected";
}

static long hugepages_free(void)
{
	return meminfo("HugePages_Free:");
}

/* read messages without blocking whatever the uffd's flags: >0, 0 or -errno */
static ssize_t read_nowait(int uffd, struct uffd_msg *m, int n)
{
	struct iovec iov = { m, n * sizeof(*m) };
	ssize_t k = preadv2(uffd, &iov, 1, -1, RWF_NOWAIT);

	if (k < 0 && errno == EAGAIN)
		return 0;
	return k < 0 ? -errno : k / (ssize_t)sizeof(*m);
}

/* ------------------------------------------------------------------ */
/* memory                                                              */

struct area {
	struct mem_region r;
	char *base;
	size_t unit, len;	/* unit: the memory type's page size */
	int n;
};

static char *unit_addr(const struct area *a, int i)
{
	return a->base + (size_t)i * a->unit;
}

/*
 * In a point's process, first: can it run on this kernel?  PASS; SKIP
 * with the reason when what it needs is missing and not expected; FAIL
 * when it is expected (expect_or_skip()).
 */
static int gate(const struct memtype *m, int combo)
{
	uint64_t want = combos[combo].feat;
	int rc;

	if (!have_uffd)
		return case_skip("userfaultfd unavailable: %s", strerror(uffd_errno));
	rc = expect_or_skip(!(want & ~kfeat), expect_handoff(),
			    "the kernel does not advertise %s (features %#llx) but the hand-off features are expected (UFFDWP_EXPECT_HANDOFF)",
			    combos[combo].name, (unsigned long long)kfeat);
	if (rc == SKIP)
		return case_skip("kernel without the hand-off features (expected)");
	if (rc == PASS && mem_is_file(&m->t)) {
		rc = expect_or_skip(have_wp_file, expect_wp_file(),
				    "UFFD_FEATURE_WP_FILE is expected but the kernel does not advertise it");
		if (rc == SKIP)
			return case_skip("kernel does not support sync uffd-wp on files (expected)");
	}
	if (rc == PASS && m->t.kind == MEM_HUGETLB && hugepages_free() < m->pages)
		return case_skip("fewer than %d free hugetlb pages (HugePages_Free %ld)", m->pages,
				 hugepages_free());
	return rc;
}

/*
 * map n units of m (a file: removed, the mapping keeps it), every unit
 * written once, and open /proc/self/pagemap; PASS, FAIL or SKIP
 */
static int area_setup(const struct memtype *m, int n, struct area *a)
{
	int i, e;

	memset(a, 0, sizeof(*a));
	a->n = n;
	a->unit = mem_page_size(&m->t);
	a->len = a->unit * n;
	e = mem_create(&a->r, &m->t, a->len, "uffd-handoff-guarantees");
	if (e)
		return cfail("creating %s: %s", m->name, strerror(e)), FAIL;
	mem_unlink(&a->r);
	e = mem_map(&a->r);
	if (e == ENOMEM && m->t.kind == MEM_HUGETLB)
		return case_skip("cannot map %d hugetlb pages: ENOMEM (HugePages_Free %ld)",
				 n, hugepages_free());
	if (e)
		return cfail("mmap %s: %s", m->name, strerror(e)), FAIL;
	a->base = a->r.addr;
	for (i = 0; i < n; i++)
		*(volatile char *)unit_addr(a, i) = 1;
	pm_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return cfail("open /proc/self/pagemap: %m"), FAIL;
	return PASS;
}

/* a blocking uffd (or O_NONBLOCK) with features, the area registered for WP */
static int uffd_setup(const struct area *a, int flags, uint64_t feat, int *uffdp)
{
	uint64_t ioctls = 0;
	int uffd, e;

	uffd = uffd_open_flags(O_CLOEXEC | flags, feat, NULL);
	if (uffd < 0)
		return cfail("userfaultfd(%s%s)/UFFDIO_API(features %#llx): %s",
			     flags & UFFD_USER_MODE_ONLY ? "UFFD_USER_MODE_ONLY" : "0",
			     flags & O_NONBLOCK ? "|O_NONBLOCK" : "",
			     (unsigned long long)feat, strerror(-uffd)), FAIL;
	e = uffd_register(uffd, a->base, a->len, UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (e)
		return cfail("UFFDIO_REGISTER(MODE_WP): %s", strerror(e)), FAIL;
	if (!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT)))
		return cfail("UFFDIO_REGISTER returned ioctls %#llx without UFFDIO_WRITEPROTECT",
			     (unsigned long long)ioctls), FAIL;
	*uffdp = uffd;
	return PASS;
}

/* a write-protect fault in a; its unit index, or -1 (reported) */
static int msg_unit(const struct area *a, const struct uffd_msg *m, const char *who)
{
	uint64_t addr = m->arg.pagefault.address;

	if (m->event != UFFD_EVENT_PAGEFAULT) {
		CNT(unexpected);
		cfail("%s: unexpected uffd event %u", who, m->event);
		return -1;
	}
	if (addr < (uintptr_t)a->base || addr >= (uintptr_t)a->base + a->len) {
		CNT(unexpected);
		cfail("%s: fault at %#llx outside the area", who, (unsigned long long)addr);
		return -1;
	}
	if (!(m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
		CNT(unexpected);
		cfail("%s: fault on unit %d without UFFD_PAGEFAULT_FLAG_WP (flags %#llx)", who,
		      (int)((addr - (uintptr_t)a->base) / a->unit),
		      (unsigned long long)m->arg.pagefault.flags);
	}
	return (int)((addr - (uintptr_t)a->base) / a->unit);
}

/* ------------------------------------------------------------------ */
/* unprotect-returns-writable                                          */

struct t1cell {
	const struct memtype *mt;
	int combo;
	bool umo;
	int pages, rounds;
};

enum { ST_IDLE, ST_READ, ST_UNPROTECT, ST_PAGEMAP, ST_KMODE, ST_HWRITE, ST_END };
static const char *const step_name[] = {
	"idle", "read(2) of the uffd", "UFFDIO_WRITEPROTECT(0)", "pagemap read",
	"kernel-mode write (read(2) from a pipe into the page)",
	"its own write into the page", "end of round (join, drain, contents)",
};

static const struct t1cell *t1;
static struct area a1;
static int t1_uffd = -1, t1_pipe[2];
static int t1_round;
static atomic_int t1_wpos, t1_hstep, t1_hpage;
static unsigned char *t1_pipe_ok;	/* per page: (b) wrote PIPE_BYTE */

/* helper thread for (b) without UFFD_USER_MODE_ONLY */
static sem_t h_req, h_done;
static char *h_target;
static ssize_t h_ret;
static int h_errno;
static atomic_bool h_quit;

/* offsets and values of the writer (w), the pipe (p) and the handler (h) */
static size_t off_w(const struct area *a, int i, int r)
{
	return 1 + (size_t)(i * 61 + r * 17) % (a->unit / 4);
}

static size_t off_p(const struct area *a, int i, int r)
{
	return a->unit / 4 + 1 + (size_t)(i * 37 + r * 29) % (a->unit / 4);
}

static size_t off_h(const struct area *a, int i, int r)
{
	return a->unit / 2 + 1 + (size_t)(i * 53 + r * 11) % (a->unit / 4);
}

static unsigned char val_w(int i, int r)
{
	return (unsigned char)(i * 7 + r * 13) | 0x80;
}

static unsigned char val_h(int i, int r)
{
	return (unsigned char)(i * 11 + r * 5) | 0x01;
}

/* pauses before a write, so that faults meet the handler busy and waiting */
static const int pause_us[] = { 0, 5, 10, 20, 0, 30, 40, 60, 2, 80, 15, 25, 50, 0, 100 };
#define NPAUSE	((int)(sizeof(pause_us) / sizeof(pause_us[0])))

static void t1_state(char *buf, size_t len)
{
	int s = atomic_load(&t1_hstep);

	snprintf(buf, len, "round %d: handler in %s (page %d), writer at page %d of %d",
		 t1_round, s >= 0 && s <= ST_END ? step_name[s] : "?", atomic_load(&t1_hpage),
		 atomic_load(&t1_wpos), a1.n);
}

static void *t1_writer(void *arg)
{
	int r = t1_round, i;

	(void)arg;
	prctl(PR_SET_NAME, "writer");
	for (i = 0; i < a1.n; i++) {
		atomic_store(&t1_wpos, i);
		spin_us(pause_us[(i * 7 + r) % NPAUSE]);
		*(volatile unsigned char *)(unit_addr(&a1, i) + off_w(&a1, i, r)) = val_w(i, r);
	}
	atomic_store(&t1_wpos, a1.n);
	return NULL;
}

static void *t1_helper(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "kmode-helper");
	for (;;) {
		while (sem_wait(&h_req) && errno == EINTR)
			;
		if (atomic_load(&h_quit))
			break;
		h_ret = read(t1_pipe[0], h_target, 1);
		h_errno = errno;
		if (h_ret == 1 && write(t1_pipe[1], "P", 1) != 1)
			h_ret = -2;
		sem_post(&h_done);
	}
	return NULL;
}

static int sem_wait_ms(sem_t *s, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (sem_clockwait(s, CLOCK_MONOTONIC, &ts)) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static void kmode_result(int p, ssize_t k, int e, const char *how)
{
	if (k == 1) {
		t1_pipe_ok[p] = 1;
		return;
	}
	if (k < 0 && e == EFAULT) {
		CNT(efault);
		cfail("round %d page %d: kernel-mode access to an un-protected page failed: read(2) from a pipe into it (%s): EFAULT",
		      t1_round, p, how);
	} else {
		CNT(kmode_err);
		cfail("round %d page %d: read(2) from a pipe into the page (%s) returned %zd: %s",
		      t1_round, p, how, k, k == -2 ? "refilling the pipe failed" : strerror(e));
	}
}

/* (b) with UFFD_USER_MODE_ONLY: in the handler itself */
static void t1_kmode_direct(int p)
{
	char *t = unit_addr(&a1, p) + off_p(&a1, p, t1_round);
	ssize_t k = read(t1_pipe[0], t, 1);
	int e = errno;

	if (k == 1 && write(t1_pipe[1], "P", 1) != 1)
		k = -2;
	kmode_result(p, k, e, "handler thread");
}

/*
 * (b) without UFFD_USER_MODE_ONLY: a kernel-mode fault would be reported to
 * this handler, so the access runs in a helper thread; when it does not
 * finish in time, take its report and resolve it.  FAIL when it is stuck.
 */
static int t1_kmode_helper(int p)
{
	struct uffd_msg m[8];
	ssize_t k;
	int i, q;

	h_target = unit_addr(&a1, p) + off_p(&a1, p, t1_round);
	sem_post(&h_req);
	if (sem_wait_ms(&h_done, HELPER_MS)) {
		CNT(kmode_blocked);
		cfail("round %d page %d: kernel-mode access to the un-protected page (read(2) from a pipe, helper thread) still blocked after %d ms (%s)",
		      t1_round, p, HELPER_MS, pm_str(unit_addr(&a1, p)));
		k = read_nowait(t1_uffd, m, 8);
		for (i = 0; i < k; i++) {
			q = msg_unit(&a1, &m[i], "drain");
			if (q < 0)
				continue;
			count_fault();
			CNT(again);
			cfail("round %d: page %d reported again after its un-protection returned (kernel-mode access)",
			      t1_round, q);
			uffd_wp(t1_uffd, unit_addr(&a1, q), a1.unit, false);
		}
		if (sem_wait_ms(&h_done, 5000)) {
			cfail("round %d page %d: the helper thread's kernel-mode access is still blocked after 6 s",
			      t1_round, p);
			return FAIL;
		}
	}
	kmode_result(p, h_ret, h_errno, "helper thread");
	return PASS;
}

static void t1_check_pagemap(int p)
{
	bool wp;

	if (!pm_wp(unit_addr(&a1, p), &wp)) {
		cfail("pread /proc/self/pagemap: %m");
		return;
	}
	if (wp) {
		CNT(still_wp);
		cfail("round %d page %d: still write-protected in /proc/self/pagemap right after UFFDIO_WRITEPROTECT(0) returned",
		      t1_round, p);
	}
}

/* un-protect page p, then the checks (a), (b), (c) in an order that varies */
static int t1_resolve(int p)
{
	static const char *const orders_umo[4] = { "abc", "abc", "bac", "cab" };
	/* the helper's kernel-mode access costs two wakeups: one page in 4 */
	static const char *const orders_all[4] = { "ac", "ac", "acb", "ca" };
	const char *first = (t1->umo ? orders_umo : orders_all)[p % 4], *o;
	char *page = unit_addr(&a1, p);
	struct rusage ru0, ru1;
	int e;

	/*
	 * (c) first: did the handler's own write fault, did it sleep?  A diag,
	 * not a failure: a minor fault may be legitimate (a read-only pte of a
	 * shared mapping), and so may sleeping on a lock in the fault path
	 */
	if (first[0] == 'c')
		getrusage(RUSAGE_THREAD, &ru0);
	atomic_store(&t1_hstep, ST_UNPROTECT);
	e = uffd_wp(t1_uffd, page, a1.unit, false);
	if (e) {
		CNT(wp_err);
		cfail("round %d page %d: UFFDIO_WRITEPROTECT(0): %s", t1_round, p, strerror(e));
	}
	for (o = first; *o; o++) {
		switch (*o) {
		case 'a':
			atomic_store(&t1_hstep, ST_PAGEMAP);
			t1_check_pagemap(p);
			break;
		case 'b':
			atomic_store(&t1_hstep, ST_KMODE);
			if (t1->umo)
				t1_kmode_direct(p);
			else
				TRY(t1_kmode_helper(p));
			break;
		case 'c':
			atomic_store(&t1_hstep, ST_HWRITE);
			*(volatile unsigned char *)(page + off_h(&a1, p, t1_round)) =
				val_h(p, t1_round);
			if (o == first) {
				getrusage(RUSAGE_THREAD, &ru1);
				if (ru1.ru_minflt > ru0.ru_minflt || ru1.ru_majflt > ru0.ru_majflt)
					CNT(hwrite_faulted);
				if (ru1.ru_nvcsw > ru0.ru_nvcsw)
					CNT(hwrite_slept);
			}
			break;
		}
	}
	return PASS;
}

static int t1_one_round(int r)
{
	struct uffd_msg m;
	pthread_t wth;
	int expect = 0, i, p, e, fl;
	ssize_t k;
	bool wp;

	t1_round = r;
	/* the bytes this round writes start at 0; every page present and dirty */
	for (i = 0; i < a1.n; i++) {
		char *u = unit_addr(&a1, i);

		u[off_w(&a1, i, r)] = 0;
		u[off_p(&a1, i, r)] = 0;
		u[off_h(&a1, i, r)] = 0;
	}
	memset(t1_pipe_ok, 0, a1.n);
	e = uffd_wp(t1_uffd, a1.base, a1.len, true);
	if (e)
		return cfail("round %d: UFFDIO_WRITEPROTECT(WP) of the area: %s", r, strerror(e)), FAIL;
	for (i = 0; i < a1.n; i++) {
		if (pm_wp(unit_addr(&a1, i), &wp) && !wp) {
			CNT(wp_err);
			cfail("round %d page %d: not write-protected in /proc/self/pagemap after UFFDIO_WRITEPROTECT(WP)",
			      r, i);
		}
	}
	atomic_store(&t1_wpos, -1);
	if (pthread_create(&wth, NULL, t1_writer, NULL))
		return cfail("pthread_create failed"), FAIL;

	while (expect < a1.n) {
		atomic_store(&t1_hstep, ST_READ);
		atomic_store(&t1_hpage, expect);
		k = read(t1_uffd, &m, sizeof(m));
		if (k < 0 && errno == EINTR)
			continue;
		if (k != (ssize_t)sizeof(m))
			return cfail("round %d: read(uffd) returned %zd: %m", r, k), FAIL;
		p = msg_unit(&a1, &m, "handler");
		if (p < 0)
			return FAIL;
		count_fault();
		if (p != expect) {
			if (p < expect) {
				CNT(again);
				cfail("round %d: page %d reported again after its un-protection returned (while waiting for page %d; %s)",
				      r, p, expect, pm_str(unit_addr(&a1, p)));
			} else {
				CNT(unexpected);
				cfail("round %d: page %d reported while page %d was expected (writer at %d)",
				      r, p, expect, atomic_load(&t1_wpos));
			}
			uffd_wp(t1_uffd, unit_addr(&a1, p), a1.unit, false);
			continue;
		}
		TRY(t1_resolve(p));
		expect++;
	}

	atomic_store(&t1_hstep, ST_END);
	pthread_join(wth, NULL);
	/* nothing may be left: every page was un-protected once */
	fl = fcntl(t1_uffd, F_GETFL);
	if (fl < 0 || fcntl(t1_uffd, F_SETFL, fl | O_NONBLOCK))
		return cfail("fcntl(uffd, O_NONBLOCK): %m"), FAIL;
	while ((k = read(t1_uffd, &m, sizeof(m))) == (ssize_t)sizeof(m)) {
		p = msg_unit(&a1, &m, "end of round");
		if (p < 0)
			continue;
		count_fault();
		CNT(again);
		CNT(leftover);
		cfail("round %d: page %d reported again after its un-protection returned (still queued at the end of the round; %s)",
		      r, p, pm_str(unit_addr(&a1, p)));
		uffd_wp(t1_uffd, unit_addr(&a1, p), a1.unit, false);
	}
	if (k >= 0 || errno != EAGAIN)
		cfail("round %d: read(uffd) at the end of the round: %zd, %m (want EAGAIN)", r, k);
	if (fcntl(t1_uffd, F_SETFL, fl))
		return cfail("fcntl(uffd, blocking): %m"), FAIL;

	/* contents */
	for (i = 0; i < a1.n; i++) {
		const unsigned char *u = (const unsigned char *)unit_addr(&a1, i);
		unsigned char w = u[off_w(&a1, i, r)], h = u[off_h(&a1, i, r)];
		unsigned char pb = u[off_p(&a1, i, r)];

		if (w != val_w(i, r) || h != val_h(i, r) ||
		    (t1_pipe_ok[i] && pb != PIPE_BYTE)) {
			CNT(bad_bytes);
			cfail("round %d page %d: writer's byte %#x (want %#x), handler's %#x (want %#x), pipe's %#x (want %#x)",
			      r, i, w, val_w(i, r), h, val_h(i, r), pb,
			      t1_pipe_ok[i] ? PIPE_BYTE : pb);
		}
	}
	return PASS;
}

static int t1_run(const void *arg)
{
	pthread_t hth;
	int r, rc = PASS;
	int64_t t0 = now_ms();

	t1 = arg;
	TRY(gate(t1->mt, t1->combo));
	watchdog_start(T1_TIMEOUT_MS - WD_SLACK_MS, t1_state);
	TRY(area_setup(t1->mt, t1->pages, &a1));
	TRY(uffd_setup(&a1, t1->umo ? UFFD_USER_MODE_ONLY : 0, combos[t1->combo].feat,
		       &t1_uffd));
	if (pipe2(t1_pipe, O_CLOEXEC) || write(t1_pipe[1], "PPPPPPPP", 8) != 8)
		return cfail("pipe: %m"), FAIL;
	t1_pipe_ok = calloc(a1.n, 1);
	if (!t1_pipe_ok)
		return cfail("calloc failed"), FAIL;
	if (!t1->umo) {
		sem_init(&h_req, 0, 0);
		sem_init(&h_done, 0, 0);
		if (pthread_create(&hth, NULL, t1_helper, NULL))
			return cfail("pthread_create failed"), FAIL;
	}
	prctl(PR_SET_NAME, "handler");

	/* a slow (loaded) machine does fewer rounds: the time is bounded */
	for (r = 0; r < t1->rounds && rc == PASS; r++) {
		if (r && now_ms() - t0 > T1_SOFT_MS) {
			diag("%s: %d of %d rounds done in %lld ms, no more (slow machine)",
			     cell, r, t1->rounds, (long long)(now_ms() - t0));
			break;
		}
		rc = t1_one_round(r);
	}

	if (rc == PASS && !t1->umo) {
		atomic_store(&h_quit, true);
		sem_post(&h_req);
		pthread_join(hth, NULL);
	}
	diag("%s: faults=%llu still-wp=%llu efault=%llu kmode-other-errors=%llu kmode-blocked=%llu reported-again=%llu (queued at round end %llu) unexpected=%llu wp-errors=%llu bad-pages=%llu handler-write-minflt=%llu handler-write-slept=%llu in %lld ms",
	     cell, res.faults, res.still_wp, res.efault, res.kmode_err, res.kmode_blocked,
	     res.again, res.leftover, res.unexpected, res.wp_err, res.bad_bytes,
	     res.hwrite_faulted, res.hwrite_slept, (long long)(now_ms() - t0));
	return point_end(rc);
}

/* ------------------------------------------------------------------ */
/* no-lost-wakeup                                                      */

struct t2cell {
	const struct memtype *mt;
	int combo;
	int style;
	int iters;
};

static const struct t2cell *t2;
static struct area a2;
static int t2_uffd = -1, t2_efd = -1, t2_epfd = -1;
static pthread_barrier_t t2_bar;
static atomic_int t2_it, t2_quit, a_reading, a_returned, a_stop, b_waiting, b_quit;
static atomic_int w_done[2], msgs[2];
static atomic_int t2_phase;
static pid_t b_tid;

static size_t t2_off(int it, int k)
{
	return 64 + (size_t)(it * 41 + k * 7) % (a2.unit - 128);
}

static unsigned char t2_val(int it, int k)
{
	return (unsigned char)(it * 3 + k) | 0x40;
}

static void t2_state(char *buf, size_t len)
{
	snprintf(buf, len, "iteration %d phase %d: writers done %d/%d, reader A %s, reader B %s (state %c)",
		 atomic_load(&t2_it), atomic_load(&t2_phase), atomic_load(&w_done[0]),
		 atomic_load(&w_done[1]),
		 atomic_load(&a_returned) ? "returned" :
		 atomic_load(&a_reading) ? "in read(2)" : "not started",
		 atomic_load(&b_waiting) ? "waiting" : "busy", task_state(b_tid));
}

static void t2_resolve(const struct uffd_msg *m, const char *who)
{
	int q = msg_unit(&a2, m, who), e;

	if (q < 0)
		return;
	count_fault();
	atomic_fetch_add(&msgs[q], 1);
	e = uffd_wp(t2_uffd, unit_addr(&a2, q), a2.unit, false);
	if (e)
		cfail("%s: UFFDIO_WRITEPROTECT(0) of page %d: %s", who, q, strerror(e));
}

static void *t2_writer(void *arg)
{
	int k = (int)(intptr_t)arg, it;
	int64_t until;

	prctl(PR_SET_NAME, k ? "writer-2" : "writer-1");
	for (;;) {
		pthread_barrier_wait(&t2_bar);
		if (atomic_load(&t2_quit))
			break;
		it = atomic_load(&t2_it);
		/* fault as reader A starts reading: where a reader polls */
		until = now_ms() + 1000;
		while (!atomic_load(&a_reading) && now_ms() < until)
			sched_yield();
		spin_us((it * 7) % 9 * 6 + (k ? it % 3 : 0));
		*(volatile unsigned char *)(unit_addr(&a2, k) + t2_off(it, k)) = t2_val(it, k);
		atomic_store(&w_done[k], 1);
	}
	return NULL;
}

/* reader A: exactly one message, with a blocking read(2) */
static void *t2_reader_a(void *arg)
{
	struct uffd_msg m;
	ssize_t k;

	(void)arg;
	prctl(PR_SET_NAME, "reader-a");
	atomic_store(&a_reading, 1);
	for (;;) {
		k = read(t2_uffd, &m, sizeof(m));
		if (k == (ssize_t)sizeof(m)) {
			CNT(a_got);
			t2_resolve(&m, "reader A");
			break;
		}
		if (k < 0 && errno == EINTR) {
			if (atomic_load(&a_stop))
				break;
			continue;
		}
		/*
		 * poll/epoll: the uffd is O_NONBLOCK again only once both
		 * writers are done (reader B took both messages) or A returned
		 */
		if (k < 0 && errno == EAGAIN && t2->style != S_READ &&
		    atomic_load(&w_done[0]) && atomic_load(&w_done[1]))
			break;
		cfail("reader A: read(uffd) returned %zd: %m", k);
		break;
	}
	atomic_store(&a_returned, 1);
	return NULL;
}

/* read and resolve what is queued, without blocking; the number of messages */
static int t2_drain(const char *who)
{
	struct uffd_msg m[4];
	ssize_t k;
	int i, n = 0;

	while ((k = read_nowait(t2_uffd, m, 4)) > 0) {
		for (i = 0; i < k; i++)
			t2_resolve(&m[i], who);
		n += k;
	}
	if (k < 0)
		cfail("%s: preadv2(uffd, RWF_NOWAIT): %s", who, strerror(-k));
	return n;
}

/* reader B: waits in the style of the point, resolves whatever it gets */
static void *t2_reader_b(void *arg)
{
	struct uffd_msg m[4];
	ssize_t k;
	int i, n;

	(void)arg;
	prctl(PR_SET_NAME, "reader-b");
	b_tid = gettid();
	for (;;) {
		if (t2->style == S_READ) {
			atomic_store(&b_waiting, 1);
			k = read(t2_uffd, m, sizeof(m));
			atomic_store(&b_waiting, 0);
			if (k < 0) {
				if (errno == EINTR) {
					if (atomic_load(&b_quit))
						break;
					continue;
				}
				cfail("reader B: read(uffd): %m");
				break;
			}
			for (i = 0; i < k / (ssize_t)sizeof(m[0]); i++) {
				CNT(b_got);
				t2_resolve(&m[i], "reader B");
			}
			continue;
		}

		bool uffd_ev = false, uffd_err = false, stop = false;

		atomic_store(&b_waiting, 1);
		if (t2->style == S_POLL) {
			struct pollfd pfd[2] = {
				{ .fd = t2_uffd, .events = POLLIN },
				{ .fd = t2_efd, .events = POLLIN },
			};

			n = poll(pfd, 2, -1);
			if (n > 0) {
				uffd_ev = pfd[0].revents;
				uffd_err = pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL);
				stop = pfd[1].revents;
			}
		} else {
			struct epoll_event ev[2];

			n = epoll_wait(t2_epfd, ev, 2, -1);
			for (i = 0; i < n; i++) {
				if (ev[i].data.u32 == 1) {
					uffd_ev = true;
					uffd_err = ev[i].events & (EPOLLERR | EPOLLHUP);
				} else {
					stop = true;
				}
			}
		}
		atomic_store(&b_waiting, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cfail("reader B: %s: %m", style_name[t2->style]);
			break;
		}
		if (stop)
			break;
		if (!uffd_ev)
			continue;
		k = t2_drain("reader B");
		res.b_got += k;
		if (!k && uffd_err) {
			/*
			 * EPOLLERR: the uffd is blocking while reader A enters
			 * its read(2); we were woken, so look again shortly
			 */
			CNT(b_err_polls);
			usleep(50);
		}
	}
	return NULL;
}

/* wait until reader B sleeps in its wait; false if it does not */
static bool t2_b_asleep(void)
{
	int64_t until = now_ms() + T2_ASLEEP_MS;

	while (now_ms() < until) {
		if (atomic_load(&b_waiting) && task_state(b_tid) == 'S')
			return true;
		usleep(50);
	}
	return false;
}

static int t2_set_nonblock(bool on)
{
	if (fcntl(t2_uffd, F_SETFL, on ? O_NONBLOCK : 0))
		return cfail("fcntl(uffd, F_SETFL, %s): %m", on ? "O_NONBLOCK" : "0"), FAIL;
	return PASS;
}

/* both writers done within the bound, or the lost wakeup analysed; FAIL if hopeless */
static int t2_wait_writers(int it, int64_t t0, bool *failed)
{
	struct uffd_msg m[4];
	bool found[2] = { false, false };
	ssize_t k;
	int i, q, w;

	while (!(atomic_load(&w_done[0]) && atomic_load(&w_done[1])) &&
	       now_ms() - t0 < T2_BOUND_MS)
		usleep(100);
	if (atomic_load(&w_done[0]) && atomic_load(&w_done[1]))
		return PASS;

	*failed = true;
	atomic_store(&t2_phase, 9);
	/* what is queued: a writer's fault queued while nobody woke up is lost */
	while ((k = read_nowait(t2_uffd, m, 4)) > 0) {
		for (i = 0; i < k; i++) {
			q = msg_unit(&a2, &m[i], "main");
			if (q < 0)
				continue;
			if (!atomic_load(&w_done[q]) && !found[q]) {
				found[q] = true;
				CNT(lost);
				cfail("iteration %d: writer %d still blocked after %d ms with its fault queued: lost wakeup (reader A %s, reader B in %s, %s, state %c)",
				      it, q + 1, T2_BOUND_MS,
				      atomic_load(&a_returned) ? "took one message and returned" :
				      "still in read(2)", style_name[t2->style],
				      atomic_load(&b_waiting) ? "waiting" : "busy",
				      task_state(b_tid));
			}
			t2_resolve(&m[i], "main (after the bound)");
		}
	}
	for (w = 0; w < 2; w++) {
		if (atomic_load(&w_done[w]) || found[w])
			continue;
		CNT(stuck);
		cfail("iteration %d: writer %d still blocked after %d ms, no message queued for its page (%s)",
		      it, w + 1, T2_BOUND_MS, pm_str(unit_addr(&a2, w)));
		uffd_wp(t2_uffd, unit_addr(&a2, w), a2.unit, false);
	}
	t0 = now_ms();
	while (!(atomic_load(&w_done[0]) && atomic_load(&w_done[1])) && now_ms() - t0 < 2000)
		usleep(1000);
	if (!(atomic_load(&w_done[0]) && atomic_load(&w_done[1])))
		return cfail("iteration %d: a writer is still blocked after its page was un-protected again",
			     it), FAIL;
	return PASS;
}

static int t2_iteration(int it, bool *failed)
{
	pthread_t ath;
	int64_t t0;
	int e, k;

	atomic_store(&t2_it, it);
	atomic_store(&t2_phase, 1);
	for (k = 0; k < 2; k++) {
		unit_addr(&a2, k)[t2_off(it, k)] = 0;
		atomic_store(&w_done[k], 0);
		atomic_store(&msgs[k], 0);
	}
	atomic_store(&a_reading, 0);
	atomic_store(&a_returned, 0);
	atomic_store(&a_stop, 0);
	e = uffd_wp(t2_uffd, a2.base, a2.len, true);
	if (e)
		return cfail("UFFDIO_WRITEPROTECT(WP): %s", strerror(e)), FAIL;

	/* B asleep in its wait: only a wakeup gets it going */
	atomic_store(&t2_phase, 2);
	if (!t2_b_asleep())
		CNT(b_awake);
	if (t2->style != S_READ)
		TRY(t2_set_nonblock(false));	/* for reader A's read(2) */

	atomic_store(&t2_phase, 3);
	pthread_barrier_wait(&t2_bar);		/* writers: go as A reads */
	t0 = now_ms();
	if (pthread_create(&ath, NULL, t2_reader_a, NULL))
		return cfail("pthread_create failed"), FAIL;
	atomic_store(&t2_phase, 4);
	while (!atomic_load(&a_returned) &&
	       !(atomic_load(&w_done[0]) && atomic_load(&w_done[1])) &&
	       now_ms() - t0 < T2_BOUND_MS)
		usleep(50);
	if (t2->style != S_READ)
		TRY(t2_set_nonblock(true));
	atomic_store(&t2_phase, 5);
	TRY(t2_wait_writers(it, t0, failed));

	/* reader A: B may have taken both messages */
	atomic_store(&t2_phase, 6);
	atomic_store(&a_stop, 1);
	while (pthread_tryjoin_np(ath, NULL) == EBUSY) {
		pthread_kill(ath, SIGUSR1);
		usleep(200);
	}
	atomic_store(&t2_phase, 7);
	/* every page reported once; the writes landed */
	for (k = 0; k < 2; k++) {
		int n = atomic_load(&msgs[k]);
		unsigned char v = unit_addr(&a2, k)[t2_off(it, k)];

		if (n > 1) {
			CNT(dup);
			cfail("iteration %d: page %d reported %d times", it, k, n);
		} else if (!n) {
			CNT(unreported);
			cfail("iteration %d: page %d written without a report", it, k);
		}
		if (v != t2_val(it, k)) {
			CNT(bad_bytes);
			cfail("iteration %d: page %d holds %#x, writer %d wrote %#x", it, k, v, k + 1,
			      t2_val(it, k));
		}
	}
	CNT(iters);
	return PASS;
}

static int t2_run(const void *arg)
{
	struct epoll_event ev;
	pthread_t wth[2], bth;
	struct uffd_msg m;
	bool failed = false;
	int it, k, rc = PASS;
	int64_t t0 = now_ms();

	t2 = arg;
	TRY(gate(t2->mt, t2->combo));
	watchdog_start(T2_TIMEOUT_MS - WD_SLACK_MS, t2_state);
	install_sigusr1();
	TRY(area_setup(t2->mt, 2, &a2));
	TRY(uffd_setup(&a2, t2->style == S_READ ? 0 : O_NONBLOCK, combos[t2->combo].feat,
		       &t2_uffd));
	t2_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t2_efd < 0)
		return cfail("eventfd: %m"), FAIL;
	if (t2->style == S_EPOLL) {
		t2_epfd = epoll_create1(EPOLL_CLOEXEC);
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
		if (t2_epfd < 0 || epoll_ctl(t2_epfd, EPOLL_CTL_ADD, t2_uffd, &ev))
			return cfail("epoll_create1/epoll_ctl(uffd): %m"), FAIL;
		ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
		if (epoll_ctl(t2_epfd, EPOLL_CTL_ADD, t2_efd, &ev))
			return cfail("epoll_ctl(eventfd): %m"), FAIL;
	}
	pthread_barrier_init(&t2_bar, NULL, 3);
	for (k = 0; k < 2; k++)
		if (pthread_create(&wth[k], NULL, t2_writer, (void *)(intptr_t)k))
			return cfail("pthread_create failed"), FAIL;
	if (pthread_create(&bth, NULL, t2_reader_b, NULL))
		return cfail("pthread_create failed"), FAIL;

	for (it = 0; it < t2->iters && !failed && rc == PASS; it++)
		rc = t2_iteration(it, &failed);
	if (rc != PASS)
		return FAIL;	/* threads may be stuck: the exit ends them */

	atomic_store(&t2_phase, 8);
	atomic_store(&t2_quit, 1);
	pthread_barrier_wait(&t2_bar);
	for (k = 0; k < 2; k++)
		pthread_join(wth[k], NULL);
	atomic_store(&b_quit, 1);
	if (t2->style == S_READ) {
		while (pthread_tryjoin_np(bth, NULL) == EBUSY) {
			pthread_kill(bth, SIGUSR1);
			usleep(200);
		}
	} else {
		uint64_t one = 1;

		if (write(t2_efd, &one, sizeof(one)) != sizeof(one))
			return cfail("write(eventfd): %m"), FAIL;
		pthread_join(bth, NULL);
	}
	if (read_nowait(t2_uffd, &m, 1) != 0)
		cfail("a message (or an error) left at the end, want EAGAIN");
	diag("%s: iterations=%llu faults=%llu (reader A %llu, reader B %llu) lost-wakeups=%llu blocked-unqueued=%llu duplicates=%llu unreported=%llu bad-bytes=%llu reader-B-not-asleep=%llu reader-B-EPOLLERR=%llu in %lld ms",
	     cell, res.iters, res.faults, res.a_got, res.b_got, res.lost, res.stuck, res.dup,
	     res.unreported, res.bad_bytes, res.b_awake, res.b_err_polls,
	     (long long)(now_ms() - t0));
	return point_end(PASS);
}

/* ------------------------------------------------------------------ */
/* fifo-same-cpu                                                       */

struct t3cell {
	const struct memtype *mt;
	int combo;
};

static const struct t3cell *t3;
static struct area a3;
static int t3_uffd = -1, t3_cpu;
static atomic_int t3_ready, t3_wk, t3_handled, t3_sched_err, t3_hdone;

static size_t t3_off_w(int p, int lap)
{
	return 1 + (size_t)(p * 13 + lap * 97) % (a3.unit / 2);
}

static size_t t3_off_h(int p, int lap)
{
	return a3.unit / 2 + 1 + (size_t)(p * 29 + lap * 89) % (a3.unit / 2 - 2);
}

static void t3_state(char *buf, size_t len)
{
	snprintf(buf, len, "writer at write %d of %d, handler handled %d faults (on CPU %d)",
		 atomic_load(&t3_wk), T3_FAULTS, atomic_load(&t3_handled), t3_cpu);
}

/* a thread of fifo-same-cpu: its name, on t3_cpu alone */
static void t3_thread(const char *name)
{
	cpu_set_t set;

	prctl(PR_SET_NAME, name);
	CPU_ZERO(&set);
	CPU_SET(t3_cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		cfail("%s: sched_setaffinity(CPU %d): %m", name, t3_cpu);
}

static void *t3_writer(void *arg)
{
	int k, p;
	int64_t t;

	(void)arg;
	t3_thread("writer");
	while (!atomic_load(&t3_ready))
		sched_yield();
	if (atomic_load(&t3_ready) < 0)
		return NULL;
	for (k = 0; k < T3_FAULTS; k++) {
		p = k % T3_PAGES;
		t = now_us();
		*(volatile unsigned char *)(unit_addr(&a3, p) + t3_off_w(p, k / T3_PAGES)) =
			val_w(p, k / T3_PAGES);
		t = now_us() - t;
		if (t > res.max_fault_us)
			res.max_fault_us = t;
		atomic_store(&t3_wk, k + 1);
	}
	return NULL;
}

static void *t3_handler(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	struct uffd_msg m;
	int p, e, expect, lap;
	ssize_t k;
	bool wp;

	(void)arg;
	t3_thread("handler-fifo");
	if (sched_setscheduler(0, SCHED_FIFO, &sp)) {
		atomic_store(&t3_sched_err, errno);
		atomic_store(&t3_ready, -1);
		return NULL;
	}
	atomic_store(&t3_ready, 1);
	while (atomic_load(&t3_handled) < T3_FAULTS) {
		k = read(t3_uffd, &m, sizeof(m));
		if (k < 0 && errno == EINTR)
			continue;
		if (k != (ssize_t)sizeof(m)) {
			cfail("handler: read(uffd) returned %zd: %m", k);
			break;
		}
		p = msg_unit(&a3, &m, "handler");
		if (p < 0)
			break;
		count_fault();
		expect = atomic_load(&t3_handled) % T3_PAGES;
		if (p != expect) {
			CNT(again);
			cfail("fault %d: page %d reported, page %d expected", atomic_load(&t3_handled),
			      p, expect);
			uffd_wp(t3_uffd, unit_addr(&a3, p), a3.unit, false);
			continue;
		}
		lap = atomic_load(&t3_handled) / T3_PAGES;
		e = uffd_wp(t3_uffd, unit_addr(&a3, p), a3.unit, false);
		if (e) {
			CNT(wp_err);
			cfail("UFFDIO_WRITEPROTECT(0) page %d: %s", p, strerror(e));
		}
		/* (a) and (c) as in unprotect-returns-writable */
		if (pm_wp(unit_addr(&a3, p), &wp) && wp) {
			CNT(still_wp);
			cfail("fault %d page %d: still write-protected in /proc/self/pagemap right after UFFDIO_WRITEPROTECT(0) returned",
			      atomic_load(&t3_handled), p);
		}
		*(volatile unsigned char *)(unit_addr(&a3, p) + t3_off_h(p, lap)) = val_h(p, lap);
		/* re-arm the page half a lap ahead of the writer */
		e = uffd_wp(t3_uffd, unit_addr(&a3, (p + T3_PAGES / 2) % T3_PAGES), a3.unit, true);
		if (e) {
			CNT(wp_err);
			cfail("UFFDIO_WRITEPROTECT(WP) page %d: %s", (p + T3_PAGES / 2) % T3_PAGES,
			      strerror(e));
		}
		atomic_fetch_add(&t3_handled, 1);
	}
	sp.sched_priority = 0;
	if (sched_setscheduler(0, SCHED_OTHER, &sp))
		cfail("handler: restoring SCHED_OTHER: %m");
	atomic_store(&t3_hdone, 1);
	return NULL;
}

static int first_cpu(void)
{
	cpu_set_t set;
	int c;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

static int t3_run(const void *arg)
{
	pthread_t wth, hth;
	struct timespec ts;
	int64_t t0;
	int k, p, lap, e;

	t3 = arg;
	TRY(gate(t3->mt, t3->combo));
	watchdog_start(T3_TIMEOUT_MS - WD_SLACK_MS, t3_state);
	TRY(area_setup(t3->mt, T3_PAGES, &a3));
	TRY(uffd_setup(&a3, 0, combos[t3->combo].feat, &t3_uffd));
	e = uffd_wp(t3_uffd, a3.base, a3.len, true);
	if (e)
		return cfail("UFFDIO_WRITEPROTECT(WP): %s", strerror(e)), FAIL;
	t3_cpu = first_cpu();

	t0 = now_ms();
	if (pthread_create(&hth, NULL, t3_handler, NULL) ||
	    pthread_create(&wth, NULL, t3_writer, NULL))
		return cfail("pthread_create failed"), FAIL;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += T3_BOUND_MS / 1000;
	e = pthread_timedjoin_np(wth, NULL, &ts);
	res.run_ms = now_ms() - t0;
	if (atomic_load(&t3_ready) < 0) {
		pthread_join(hth, NULL);
		pthread_join(wth, NULL);
		e = atomic_load(&t3_sched_err);
		atomic_store(&wd_done, 1);
		if (e == EPERM)
			return case_skip("SCHED_FIFO not permitted (EPERM): needs root or CAP_SYS_NICE");
		return cfail("sched_setscheduler(SCHED_FIFO, 1): %s", strerror(e)), FAIL;
	}
	if (e) {
		cfail("livelock or hang: %d of %d faults done in %d ms (handler handled %d)",
		      atomic_load(&t3_wk), T3_FAULTS, T3_BOUND_MS, atomic_load(&t3_handled));
		dump_tasks();
		return FAIL;
	}
	for (k = 0; k < 200 && !atomic_load(&t3_hdone); k++)
		sleep_ms(10);
	if (!atomic_load(&t3_hdone)) {
		cfail("the handler did not finish within 2 s after the writer (handled %d)",
		      atomic_load(&t3_handled));
		dump_tasks();
		return FAIL;
	}
	pthread_join(hth, NULL);
	res.run_ms = now_ms() - t0;
	/* contents: every lap's writer byte and handler byte */
	for (k = 0; k < T3_FAULTS; k++) {
		const unsigned char *u;

		p = k % T3_PAGES;
		lap = k / T3_PAGES;
		u = (const unsigned char *)unit_addr(&a3, p);
		if (u[t3_off_w(p, lap)] != val_w(p, lap) || u[t3_off_h(p, lap)] != val_h(p, lap)) {
			CNT(bad_bytes);
			cfail("page %d lap %d: writer's byte %#x (want %#x), handler's %#x (want %#x)",
			      p, lap, u[t3_off_w(p, lap)], val_w(p, lap), u[t3_off_h(p, lap)],
			      val_h(p, lap));
		}
	}
	if (res.run_ms > T3_BOUND_MS)
		cfail("%d faults took %lld ms (bound %d ms): livelock", T3_FAULTS,
		      res.run_ms, T3_BOUND_MS);
	diag("%s: faults=%llu on CPU %d in %lld ms, longest fault %lld us, still-wp=%llu wrong-page=%llu wp-errors=%llu bad-bytes=%llu",
	     cell, res.faults, t3_cpu, res.run_ms, res.max_fault_us, res.still_wp, res.again,
	     res.wp_err, res.bad_bytes);
	return point_end(PASS);
}

/* ------------------------------------------------------------------ */
/* resolve-paths                                                       */

struct t4cell {
	const struct memtype *mt;
	int combo;
};

static struct area a4;
static int t4_uffd = -1;
static atomic_int t4_wake_first;	/* units: their first report is only woken */
static atomic_int t4_reports[T4_UNITS];
static atomic_int t4_stop;

/* VMAs in /proc/self/maps that overlap [addr, addr + len), or -1 */
static int count_vmas(const char *addr, size_t len)
{
	unsigned long s, e, lo = (uintptr_t)addr, hi = lo + len;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo)
			n++;
	fclose(f);
	return n;
}

/* units [i, i + n) of a4 are write-protected in pagemap exactly when wp */
static int t4_expect_wp(int i, int n, bool wp, const char *after)
{
	int k, rc = PASS;
	bool w;

	for (k = i; k < i + n; k++) {
		if (!pm_wp(unit_addr(&a4, k), &w))
			return cfail("%s: pagemap of unit %d unreadable", after, k), FAIL;
		if (w != wp) {
			cfail("%s: unit %d %s", after, k,
			      w ? "still write-protected in pagemap" :
				  "not write-protected in pagemap");
			rc = FAIL;
		}
	}
	return rc;
}

/* UFFDIO_WRITEPROTECT of units [i, i + n) of a4, which must succeed */
static int t4_wp(int i, int n, bool wp)
{
	int e = uffd_wp(t4_uffd, unit_addr(&a4, i), (size_t)n * a4.unit, wp);

	if (e) {
		CNT(wp_err);
		return cfail("UFFDIO_WRITEPROTECT(%s) of units %d-%d: %s",
			     wp ? "WP" : "0", i, i + n - 1, strerror(e)), FAIL;
	}
	return PASS;
}

/*
 * The handler: a blocking read(2) (where BUSY_POLL polls); a unit in
 * t4_wake_first gets UFFDIO_WAKE alone for its first report (the faulting
 * access must fault and report again), every other report is resolved by
 * un-protecting the unit.  Ends on t4_stop (SIGUSR1 ends the read).
 */
static void *t4_handler(void *arg)
{
	struct uffd_msg m;
	ssize_t k;
	int u, e;

	(void)arg;
	while (!atomic_load(&t4_stop)) {
		k = read(t4_uffd, &m, sizeof(m));
		if (k < 0 && errno == EINTR)
			continue;
		if (k != (ssize_t)sizeof(m)) {
			cfail("handler: read(uffd): %zd (%m)", k);
			return NULL;
		}
		u = msg_unit(&a4, &m, "handler");
		if (u < 0)
			continue;
		count_fault();
		if (atomic_fetch_add(&t4_reports[u], 1) == 0 &&
		    (atomic_load(&t4_wake_first) & (1 << u)))
			e = uffd_wake(t4_uffd, unit_addr(&a4, u), a4.unit);
		else
			e = uffd_wp(t4_uffd, unit_addr(&a4, u), a4.unit, false);
		if (e) {
			CNT(wp_err);
			cfail("handler: resolving unit %d: %s", u, strerror(e));
		}
	}
	return NULL;
}

/*
 * An O_DIRECT read(2) of one page of a file on the first test file system
 * into unit u: the kernel pins the page for writing (GUP), faulting it in
 * with FAULT_FLAG_ALLOW_RETRY.  The file's bytes are v.
 */
static int t4_gup_write(int u, unsigned char v)
{
	char path[PATH_MAX], *buf;
	int fd, rc = PASS;
	ssize_t k;

	if (!mt_file)
		return cfail("GUP write: no test file system (UFFDWP_FS) to read from"), FAIL;
	snprintf(path, sizeof(path), "%s/.uffd-handoff-guarantees-dio.%d", mt_file->t.dir,
		 (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cfail("open %s: %m", path), FAIL;
	unlink(path);
	buf = malloc(psize);
	if (!buf)
		rc = FAIL, cfail("malloc: %m");
	else {
		memset(buf, v, psize);
		if (pwrite(fd, buf, psize, 0) != (ssize_t)psize || fsync(fd))
			rc = FAIL, cfail("writing %s: %m", path);
		free(buf);
	}
	if (!rc && fcntl(fd, F_SETFL, O_DIRECT))
		rc = FAIL, cfail("fcntl(F_SETFL, O_DIRECT) on %s: %m", mt_file->t.dir);
	if (!rc) {
		k = pread(fd, unit_addr(&a4, u), psize, 0);
		if (k != (ssize_t)psize)
			rc = FAIL, cfail("O_DIRECT read into unit %d: %zd (%m)", u, k);
	}
	close(fd);
	return rc;
}

static int t4_reports_of(int u, int want, const char *what)
{
	int got = atomic_load(&t4_reports[u]);

	if (got == want)
		return PASS;
	CNT(again);
	return cfail("%s: unit %d reported %d times, expected %d", what, u, got, want), FAIL;
}

static int t4_run(const void *arg)
{
	const struct t4cell *t = arg;
	struct rusage ru0, ru1;
	pthread_t h;
	int i, rc = PASS, n;
	long nflt;

	TRY(gate(t->mt, t->combo));
	install_sigusr1();
	TRY(area_setup(t->mt, T4_UNITS, &a4));
	/* three VMAs: units 0-1, 2-3 (VM_DONTCOPY), 4-5 */
	if (madvise(unit_addr(&a4, 2), 2 * a4.unit, MADV_DONTFORK))
		return cfail("madvise(MADV_DONTFORK) of units 2-3: %m"), FAIL;
	n = count_vmas(a4.base, a4.len);
	if (n != 3)
		return cfail("the area is %d VMAs after MADV_DONTFORK of its middle, not 3", n),
		       FAIL;
	TRY(uffd_setup(&a4, 0, combos[t->combo].feat, &t4_uffd));

	/* one call over three VMAs, one inside the middle one */
	TRY(t4_wp(0, T4_UNITS, true));
	TRY(t4_expect_wp(0, T4_UNITS, true, "after protecting 3 VMAs in one call"));
	TRY(t4_wp(1, 4, false));
	rc |= t4_expect_wp(1, 4, false, "after un-protecting units 1-4 (3 VMAs) in one call");
	rc |= t4_expect_wp(0, 1, true, "after un-protecting units 1-4");
	rc |= t4_expect_wp(5, 1, true, "after un-protecting units 1-4");
	TRY(t4_wp(2, 2, true));
	TRY(t4_wp(3, 1, false));
	rc |= t4_expect_wp(2, 1, true, "after un-protecting unit 3 alone");
	rc |= t4_expect_wp(3, 2, false, "after un-protecting unit 3 alone");
	if (rc)
		return FAIL;
	/* the un-protected units take writes without a report */
	for (i = 1; i < 5; i++)
		if (i != 2)
			*(volatile char *)unit_addr(&a4, i) = 2;

	/* faults from GUP and from user mode, resolved or only woken first */
	TRY(t4_wp(0, T4_UNITS, true));
	atomic_store(&t4_wake_first, (1 << 1) | (1 << 4));
	if (pthread_create(&h, NULL, t4_handler, NULL))
		return cfail("pthread_create: %m"), FAIL;
	rc |= t4_gup_write(0, 0x40);	/* resolved at the first report */
	rc |= t4_gup_write(1, 0x41);	/* woken first: reported twice */
	getrusage(RUSAGE_THREAD, &ru0);
	*(volatile unsigned char *)(unit_addr(&a4, 3) + 7) = 0x43;
	getrusage(RUSAGE_THREAD, &ru1);
	*(volatile unsigned char *)(unit_addr(&a4, 4) + 7) = 0x44;	/* twice */
	/*
	 * A write resolved at its first report is one page fault, however
	 * the kernel ends it (not on files: writeback may have cleaned the
	 * page, which then takes a second fault for ->page_mkwrite()).
	 */
	nflt = ru1.ru_minflt + ru1.ru_majflt - ru0.ru_minflt - ru0.ru_majflt;
	if (!mem_is_file(&t->mt->t) && nflt != 1) {
		cfail("a user write resolved at its first report counted %ld page faults (getrusage), not 1",
		      nflt);
		rc = FAIL;
	}
	atomic_store(&t4_stop, 1);
	for (i = 0; i < 200 && pthread_tryjoin_np(h, NULL); i++) {
		pthread_kill(h, SIGUSR1);
		usleep(10000);
	}
	if (i == 200)
		return cfail("the handler thread does not end"), FAIL;
	rc |= t4_reports_of(0, 1, "GUP write (O_DIRECT read into it), resolved");
	rc |= t4_reports_of(1, 2, "GUP write, UFFDIO_WAKE alone first");
	rc |= t4_reports_of(3, 1, "user write, resolved");
	rc |= t4_reports_of(4, 2, "user write, UFFDIO_WAKE alone first");
	rc |= t4_reports_of(2, 0, "unit not written");
	rc |= t4_reports_of(5, 0, "unit not written");
	if (unit_addr(&a4, 0)[5] != 0x40 || unit_addr(&a4, 1)[5] != 0x41 ||
	    unit_addr(&a4, 3)[7] != 0x43 || unit_addr(&a4, 4)[7] != 0x44) {
		CNT(bad_bytes);
		cfail("a resolved write is not in place (%#x %#x %#x %#x)",
		      (unsigned char)unit_addr(&a4, 0)[5], (unsigned char)unit_addr(&a4, 1)[5],
		      (unsigned char)unit_addr(&a4, 3)[7], (unsigned char)unit_addr(&a4, 4)[7]);
		rc = FAIL;
	}
	rc |= t4_expect_wp(0, 2, false, "after the resolutions");
	rc |= t4_expect_wp(3, 2, false, "after the resolutions");
	rc |= t4_expect_wp(2, 1, true, "unit 2, never resolved");
	return rc ? FAIL : PASS;
}

/* ------------------------------------------------------------------ */
/* unregister-vs-protect                                               */

struct t5cell {
	const struct memtype *mt;
	bool copy;		/* UFFDIO_COPY(MODE_WP), else UFFDIO_WRITEPROTECT */
};

static struct area a5;
static int t5_uffd = -1;
static atomic_int t5_stop;
static atomic_long t5_calls, t5_done, t5_enoent, t5_eexist, t5_einval;

/*
 * The protector: UFFDIO_WRITEPROTECT(WP) of the whole area (one VMA), or
 * for copy, MADV_DONTNEED of a unit then UFFDIO_COPY(MODE_WP) into it,
 * over and over; ENOENT and EINVAL (unregistered meanwhile) and EEXIST
 * are expected, any other error is a failure.
 */
static void *t5_protector(void *arg)
{
	const struct t5cell *t = arg;
	struct uffdio_copy cp;
	char *src;
	int u = 0, e;

	src = mmap(NULL, a5.unit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED) {
		cfail("protector: mmap: %m");
		return NULL;
	}
	memset(src, 0x5a, a5.unit);
	while (!atomic_load(&t5_stop)) {
		atomic_fetch_add(&t5_calls, 1);
		if (!t->copy) {
			e = uffd_wp(t5_uffd, a5.base, a5.len, true);
		} else {
			u = (u + 1) % a5.n;
			/* shmem: MADV_REMOVE frees the page cache page too */
			if (madvise(unit_addr(&a5, u), a5.unit,
				    t->mt->t.kind == MEM_ANON ? MADV_DONTNEED : MADV_REMOVE)) {
				cfail("protector: madvise(%s): %m",
				      t->mt->t.kind == MEM_ANON ? "MADV_DONTNEED" : "MADV_REMOVE");
				break;
			}
			cp = (struct uffdio_copy){ .dst = (uintptr_t)unit_addr(&a5, u),
						   .src = (uintptr_t)src, .len = a5.unit,
						   .mode = UFFDIO_COPY_MODE_WP };
			e = ioctl(t5_uffd, UFFDIO_COPY, &cp) ? errno : 0;
			if (e == EAGAIN)
				e = 0;
		}
		if (!e)
			atomic_fetch_add(&t5_done, 1);
		else if (e == ENOENT)
			atomic_fetch_add(&t5_enoent, 1);
		else if (e == EEXIST)
			atomic_fetch_add(&t5_eexist, 1);
		else if (e == EINVAL)
			atomic_fetch_add(&t5_einval, 1);
		else {
			CNT(wp_err);
			cfail("protector: %s: %s", t->copy ? "UFFDIO_COPY(MODE_WP)" :
			      "UFFDIO_WRITEPROTECT(WP)", strerror(e));
			break;
		}
	}
	munmap(src, a5.unit);
	return NULL;
}

static int t5_run(const void *arg)
{
	const struct t5cell *t = arg;
	uint64_t mode = UFFDIO_REGISTER_MODE_WP, ioctls;
	int64_t end;
	pthread_t p;
	long iters = 0, stale = 0;
	int i, e, rc = PASS;
	bool wp;

	TRY(gate(t->mt, 0));
	TRY(area_setup(t->mt, t->mt->t.kind == MEM_HUGETLB ? 4 : T5_UNITS, &a5));
	if (t->copy)
		mode |= UFFDIO_REGISTER_MODE_MISSING;
	t5_uffd = uffd_open_flags(O_CLOEXEC | O_NONBLOCK, 0, NULL);
	if (t5_uffd < 0)
		return cfail("userfaultfd: %s", strerror(-t5_uffd)), FAIL;
	e = uffd_register(t5_uffd, a5.base, a5.len, mode, &ioctls);
	if (e)
		return cfail("UFFDIO_REGISTER: %s", strerror(e)), FAIL;
	if (pthread_create(&p, NULL, t5_protector, (void *)t))
		return cfail("pthread_create: %m"), FAIL;
	/*
	 * T5_MS of races; on a loaded host the protector may not have got in
	 * once by then (a pass would then prove nothing): go on, up to 4 x
	 * T5_MS, until it has.
	 */
	end = now_ms() + T5_MS;
	while ((now_ms() < end || (!atomic_load(&t5_done) && now_ms() < end + 3 * T5_MS)) && !rc) {
		e = uffd_unregister(t5_uffd, a5.base, a5.len);
		if (e) {
			rc = FAIL;
			cfail("UFFDIO_UNREGISTER: %s", strerror(e));
			break;
		}
		/* nothing may set a bit now: every bit is a stale one */
		for (i = 0; i < a5.n; i++) {
			if (!pm_wp(unit_addr(&a5, i), &wp)) {
				rc = FAIL;
				cfail("pagemap unreadable");
				break;
			}
			if (wp && !stale++)
				cfail("iteration %ld: unit %d still write-protected in pagemap after UFFDIO_UNREGISTER returned",
				      iters, i);
		}
		e = uffd_register(t5_uffd, a5.base, a5.len, mode, &ioctls);
		if (e) {
			rc = FAIL;
			cfail("UFFDIO_REGISTER: %s", strerror(e));
		}
		/* let the protector work on a registered area for a while */
		spin_us(T5_REGISTERED_US);
		iters++;
		if (stale)
			rc = FAIL;
	}
	atomic_store(&t5_stop, 1);
	pthread_join(p, NULL);
	diag("%s: %ld unregistrations, %ld stale uffd-wp bits, protector %ld calls (%ld took effect, ENOENT %ld, EEXIST %ld, EINVAL %ld)",
	     cell, iters, stale, atomic_load(&t5_calls), atomic_load(&t5_done),
	     atomic_load(&t5_enoent), atomic_load(&t5_eexist), atomic_load(&t5_einval));
	if (!atomic_load(&t5_done))
		rc = FAIL, cfail("the protector never protected anything");
	return rc;
}

/* ------------------------------------------------------------------ */
/* runner                                                              */

/* the point's name into cell, then its case */
static void point(struct case_runner *r, int (*fn)(const void *), const void *arg,
		  int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void point(struct case_runner *r, int (*fn)(const void *), const void *arg,
		  int timeout_ms, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cell, sizeof(cell), fmt, ap);
	va_end(ap);
	case_run(r, fn, arg, timeout_ms, "%s", cell);
}

/*
 * Rounds of unprotect-returns-writable: all of them where BUSY_POLL alone
 * is requested (a polling writer on another CPU than its handler: where a
 * hand-off can race with the un-protection), half with
 * busy-poll+wake-on-current-cpu, one (two on hugetlb) without busy polling.
 */
static int t1_rounds(const struct memtype *m, int combo)
{
	uint64_t f = combos[combo].feat;

	if (f == UFFD_FEATURE_BUSY_POLL)
		return m->rounds;
	if (f & UFFD_FEATURE_BUSY_POLL)
		return m->rounds > 1 ? m->rounds / 2 : 1;
	return m->t.kind == MEM_HUGETLB ? 2 : 1;
}

/* pages per round: fewer without busy polling (hugetlb: always all) */
static int t1_pages(const struct memtype *m, int combo)
{
	if (m->t.kind == MEM_HUGETLB || (combos[combo].feat & UFFD_FEATURE_BUSY_POLL))
		return m->pages;
	return T1_PAGES_PLAIN;
}

/*
 * The memory types of this run (tests/lib/mem.c): anon, shmem, hugetlb,
 * then file-shared and file-private on every file system of UFFDWP_FS;
 * anon and the first file-shared (also no-lost-wakeup's and
 * fifo-same-cpu's) do the most rounds of unprotect-returns-writable.
 */
static void memtypes_of_run(void)
{
	static const char *const rows[] = {
		"anon", "shmem", "hugetlb", "file-shared", "file-private", NULL
	};
	static struct mem_type t[MEM_MAX_TYPES];
	struct memtype *m;
	int i, n = mem_types(t, MEM_MAX_TYPES, rows);

	for (i = 0; i < n; i++) {
		m = &memtypes[nr_memtypes++];
		m->t = t[i];
		/* "file-shared/ext4": a file type on its file system */
		snprintf(m->name, sizeof(m->name), "%s%s%.100s", t[i].name,
			 mem_is_file(&t[i]) ? "/" : "", mem_is_file(&t[i]) ? t[i].fs : "");
		m->pages = t[i].kind == MEM_HUGETLB ? T1_HPAGES : T1_PAGES;
		m->rounds = t[i].kind == MEM_HUGETLB ? T1_HROUNDS : T1_ROUNDS;
		if (t[i].kind == MEM_ANON && !mt_anon)
			mt_anon = m;
		if (mem_is_file(&t[i]) && t[i].shared && !mt_file)
			mt_file = m;
		if (m == mt_anon || m == mt_file)
			m->rounds = T1_ROUNDS_MAIN;
	}
}

int main(void)
{
	const char *b = getenv("UFFDWP_BUDGET");
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN), nt, i, c, s, e, plan;
	struct case_runner r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = sysconf(_SC_PAGESIZE);
	e = uffd_features(&kfeat);
	have_uffd = !e;
	uffd_errno = e;
	have_wp_file = kfeat & UFFD_FEATURE_WP_FILE;
	memtypes_of_run();

	/* no UFFDWP_FS entry at all: no file type for no-lost-wakeup, fifo-same-cpu */
	nt = mt_file ? 2 : 1;
	plan = NCOMBOS * nr_memtypes * 2 + NCOMBOS * NSTYLES * nt + NCOMBOS * nt +
	       NCOMBOS * nr_memtypes + nr_memtypes + 2;
	cases_start(&r, "uffd-handoff-guarantees", plan,
		    b && atoi(b) > 0 ? atoi(b) : DEFAULT_BUDGET_S, T1_TIMEOUT_MS / 1000, stat_names);
	diag("uffd features %#llx (%s); WAKE_ON_CURRENT_CPU %s, BUSY_POLL %s, WP_FILE %s; expected: hand-off %s, wp-file %s; HugePages_Free %ld; %d CPUs online",
	     (unsigned long long)kfeat, have_uffd ? "userfaultfd available" : strerror(uffd_errno),
	     kfeat & UFFD_FEATURE_WAKE_ON_CURRENT_CPU ? "yes" : "no",
	     kfeat & UFFD_FEATURE_BUSY_POLL ? "yes" : "no", have_wp_file ? "yes" : "no",
	     expect_handoff() ? "yes" : "no", expect_wp_file() ? "yes" : "no",
	     hugepages_free(), ncpu);
	if (ncpu < 3)
		diag("%d CPU(s) online: a race between a polling reader and two faulting writers needs three CPUs (no-lost-wakeup); with fewer it shows only when a CPU is preempted by its hypervisor",
		     ncpu);

	for (i = 0; i < nr_memtypes; i++) {
		for (c = 0; c < NCOMBOS; c++) {
			for (s = 0; s < 2; s++) {
				struct t1cell t = { &memtypes[i], c, s, t1_pages(&memtypes[i], c),
						    t1_rounds(&memtypes[i], c) };

				point(&r, t1_run, &t, T1_TIMEOUT_MS,
				      "unprotect-returns-writable %.128s %s %s", memtypes[i].name,
				      combos[c].name, s ? "user-mode-only" : "all-modes");
			}
		}
	}
	for (i = 0; i < nt; i++) {
		const struct memtype *m = i ? mt_file : mt_anon;

		for (c = 0; c < NCOMBOS; c++) {
			for (s = 0; s < NSTYLES; s++) {
				struct t2cell t = { m, c, s,
						    combos[c].feat & UFFD_FEATURE_BUSY_POLL ?
						    T2_ITERS : T2_ITERS / 2 };

				point(&r, t2_run, &t, T2_TIMEOUT_MS, "no-lost-wakeup %.128s %s %s",
				      m->name, combos[c].name, style_name[s]);
			}
		}
	}
	for (i = 0; i < nt; i++) {
		const struct memtype *m = i ? mt_file : mt_anon;

		for (c = 0; c < NCOMBOS; c++) {
			struct t3cell t = { m, c };

			point(&r, t3_run, &t, T3_TIMEOUT_MS, "fifo-same-cpu %.128s %s", m->name,
			      combos[c].name);
		}
	}
	for (i = 0; i < nr_memtypes; i++) {
		for (c = 0; c < NCOMBOS; c++) {
			struct t4cell t = { &memtypes[i], c };

			point(&r, t4_run, &t, T4_TIMEOUT_MS, "resolve-paths %.128s %s",
			      memtypes[i].name, combos[c].name);
		}
	}
	for (i = 0; i < nr_memtypes + 2; i++) {
		/* UFFDIO_WRITEPROTECT on every type, then UFFDIO_COPY on anon, shmem */
		struct t5cell t = { &memtypes[i % nr_memtypes], i >= nr_memtypes };

		point(&r, t5_run, &t, T5_TIMEOUT_MS, "unregister-vs-protect %.128s %s",
		      t.mt->name, t.copy ? "copy-wp" : "writeprotect");
	}
	return cases_end(&r);
}
