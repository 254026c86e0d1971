// SPDX-License-Identifier: GPL-2.0
/*
 * threads.c: the threads of a uffd-fuzz seed besides the main one: the
 * handler (polls the uffd and the uffds of forked children, resolves
 * faults, reads events, may hold the writer's WP faults back), the writer
 * (the batches of reads and writes, catching SIGSEGV and SIGBUS) and the
 * watchdog (a main-thread operation that never returns); the batches
 * between the main thread and the writer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "fuzz.h"

struct handler h;

static __thread sigjmp_buf *tls_jb;
static __thread volatile int tls_in_access;
static __thread volatile int tls_sig;

/* ------------------------------------------------------------------ */
/* signals                                                             */

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char buf[200];
	int n;

	(void)uc;
	if (tls_in_access && tls_jb) {
		tls_in_access = 0;
		tls_sig = sig;
		siglongjmp(*tls_jb, 1);
	}
	n = snprintf(buf, sizeof(buf),
		     "# FAIL: seed %lu op %d: unexpected signal %d at %p outside an access"
		     " (replay: UFFDWP_FUZZ_SEED=%lu build/tests/uffd-fuzz)\n",
		     g.seed, g.op, sig, si->si_addr, g.seed);
	if (write(1, buf, n) < 0)
		_exit(FAIL);
	signal(sig, SIG_DFL);
}

void install_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* uffd calls returning 0 or errno                                     */

int cur_uffd(void)
{
	return __atomic_load_n(&h.uffd, __ATOMIC_ACQUIRE);
}

int io_copy(int fd, unsigned long dst, unsigned long src, size_t len, uint64_t mode,
	    long *done)
{
	struct uffdio_copy c = { .dst = dst, .src = src, .len = len, .mode = mode };
	int r = ioctl(fd, UFFDIO_COPY, &c) ? errno : 0;

	*done = c.copy > 0 ? c.copy : 0;
	return r;
}

int io_zeropage(int fd, unsigned long dst, size_t len, uint64_t mode, long *done)
{
	struct uffdio_zeropage z = { .range = { dst, len }, .mode = mode };
	int r = ioctl(fd, UFFDIO_ZEROPAGE, &z) ? errno : 0;

	*done = z.zeropage > 0 ? z.zeropage : 0;
	return r;
}

int io_continue(int fd, unsigned long dst, size_t len, uint64_t mode)
{
	struct uffdio_continue c = { .range = { dst, len }, .mode = mode };

	return ioctl(fd, UFFDIO_CONTINUE, &c) ? errno : 0;
}

/* ------------------------------------------------------------------ */
/* the handler thread                                                  */

static void note_zeroed(unsigned long addr)
{
	pthread_mutex_lock(&h.lock);
	if (h.nzeroed < (int)(sizeof(h.zeroed) / sizeof(h.zeroed[0])))
		h.zeroed[h.nzeroed++] = addr;
	else
		h.zeroed_lost = true;
	pthread_mutex_unlock(&h.lock);
}

/* resolve a fault at addr: try the base page, then the huge page */
static void resolve(int fd, unsigned long addr, int kind)
{
	unsigned long a4 = addr & ~(PS - 1), a2 = addr & ~(HPS - 1);
	long done;
	int r;

	if (kind == 'W') {
		r = uffd_wp(fd, (void *)a4, PS, false);
		if (r == EINVAL)
			r = uffd_wp(fd, (void *)a2, HPS, false);
		check_err("handler UFFDIO_WRITEPROTECT(clear)", r, A_WP);
	} else if (kind == 'I') {
		r = io_continue(fd, a4, PS, 0);
		if (r == EINVAL)
			r = io_continue(fd, a2, HPS, 0);
		check_err("handler UFFDIO_CONTINUE", r, A_MFILL);
	} else {
		r = io_zeropage(fd, a4, PS, 0, &done);
		/*
		 * Upstream: a MISSING fault is reported on a uffd-wp pte
		 * marker (anon with WP_UNPOPULATED, private shmem), but
		 * UFFDIO_ZEROPAGE wants pte_none() and says EEXIST while
		 * UFFDIO_COPY (pte_none_mostly()) fills it.  A handler that
		 * only zeroes would livelock: COPY zeroes instead.
		 */
		if (r == EEXIST) {
			r = io_copy(fd, a4, (unsigned long)g.zerobuf, PS, 0, &done);
			if (!r)
				__atomic_add_fetch(&g.res.zeropage_eexist, 1, __ATOMIC_RELAXED);
		}
		if (r == EINVAL)
			r = io_copy(fd, a2, (unsigned long)g.zerobuf, HPS, 0, &done);
		if (r == EINVAL)
			r = io_copy(fd, a4, (unsigned long)g.zerobuf, PS, 0, &done);
		check_err("handler UFFDIO_ZEROPAGE/COPY", r, A_MFILL);
		if (!r && fd == cur_uffd())
			note_zeroed(addr);
	}
	if (r) {
		h.last_fail_addr = addr;
		h.last_fail_err = r;
		h.last_fail_kind = kind;
		r = uffd_wake(fd, (void *)a2, HPS);
		check_err("handler UFFDIO_WAKE", r, A_WAKE);
	}
}

static void release_held(void)
{
	int i;

	for (i = 0; i < h.nheld; i++)
		resolve(h.held[i].fd, h.held[i].addr, 'W');
	h.nheld = 0;
}

static void handle_msg(int fd, struct uffd_msg *m)
{
	unsigned long addr;
	int kind;

	h.last_active = now_ms();
	if (m->event == UFFD_EVENT_FORK) {
		case_count(ST_EVENTS, 1);
		pthread_mutex_lock(&h.lock);
		if (h.nchild < MAX_CHILD_UFFD)
			h.child[h.nchild++] = m->arg.fork.ufd;
		else
			close(m->arg.fork.ufd);
		pthread_mutex_unlock(&h.lock);
		return;
	}
	if (m->event != UFFD_EVENT_PAGEFAULT) {
		case_count(ST_EVENTS, 1);
		return;
	}
	addr = m->arg.pagefault.address;
	if (addr == h.last_fault_addr)
		h.same_addr_faults++;
	else
		h.same_addr_faults = 0;
	h.last_fault_addr = addr;
	if (h.same_addr_faults == 100000)
		violation(false, "livelock: 100000 faults in a row at %#lx, the last failed resolution: %c at %#lx: %s",
			  addr, h.last_fail_kind, h.last_fail_addr, errno_name(h.last_fail_err));
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
		kind = 'W';
		case_count(ST_WP_FAULTS, 1);
		if (h.watch && addr >= h.watch && addr < h.watch + h.watch_len) {
			h.watch_hits++;
			if ((addr - h.watch) / h.watch_ps < CBW_PROBE)
				h.watch_page[(addr - h.watch) / h.watch_ps]++;
		}
	} else if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) {
		kind = 'I';
		case_count(ST_MINOR_FAULTS, 1);
	} else {
		kind = 'M';
		case_count(ST_MISSING_FAULTS, 1);
	}
	pthread_mutex_lock(&h.lock);
	if (kind == 'W' && h.nheld < MAX_HELD &&
	    (pid_t)m->arg.pagefault.feat.ptid == g.writer_tid &&
	    (int)(xrand(&h.rng) % 100) < h.hold_pct) {
		h.held[h.nheld].fd = fd;
		h.held[h.nheld].addr = addr;
		h.nheld++;
		pthread_mutex_unlock(&h.lock);
		return;
	}
	pthread_mutex_unlock(&h.lock);
	resolve(fd, addr, kind);
}

static void drain(int fd)
{
	struct uffd_msg msgs[8];
	ssize_t n;
	int i;

	for (;;) {
		n = read(fd, msgs, sizeof(msgs));
		if (n <= 0)
			return;
		for (i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			handle_msg(fd, &msgs[i]);
	}
}

static void *handler_thread(void *arg)
{
	struct pollfd pfd[1 + MAX_CHILD_UFFD];
	int n, i;

	(void)arg;
	while (!g.stop) {
		pthread_mutex_lock(&h.lock);
		if (h.req) {
			if (h.req & (REQ_RELEASE | REQ_CLOSE))
				release_held();
			if ((h.req & REQ_CLOSE) && h.uffd >= 0) {
				close(h.uffd);
				__atomic_store_n(&h.uffd, -1, __ATOMIC_RELEASE);
			}
			if (h.req & REQ_CLOSE_CHILDREN) {
				for (i = 0; i < h.nchild; i++)
					close(h.child[i]);
				h.nchild = 0;
			}
			h.req = 0;
			h.done_seq = h.req_seq;
		}
		n = 0;
		if (h.uffd >= 0)
			pfd[n++] = (struct pollfd){ .fd = h.uffd, .events = POLLIN };
		for (i = 0; i < h.nchild; i++)
			pfd[n++] = (struct pollfd){ .fd = h.child[i], .events = POLLIN };
		pthread_mutex_unlock(&h.lock);
		if (poll(pfd, n, 20) <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				drain(pfd[i].fd);
	}
	return NULL;
}

void handler_request(int req)
{
	int64_t deadline = now_ms() + 30000;
	long seq;

	pthread_mutex_lock(&h.lock);
	h.req |= req;
	seq = ++h.req_seq;
	pthread_mutex_unlock(&h.lock);
	while (__atomic_load_n(&h.done_seq, __ATOMIC_ACQUIRE) < seq) {
		if (now_ms() > deadline) {
			violation(false, "the handler thread did not answer a request within 30 s");
			return;
		}
		sleep_ms(1);
	}
}

void set_hold(int pct)
{
	pthread_mutex_lock(&h.lock);
	h.hold_pct = pct;
	pthread_mutex_unlock(&h.lock);
}

/* ------------------------------------------------------------------ */
/* the writer thread                                                   */

/* SIGBUS mode: what the handler would do, from the faulting thread */
static void sigbus_resolve(struct access *a)
{
	unsigned long addr = (unsigned long)a->addr;
	int fd = cur_uffd();
	long done;

	if (fd < 0)
		return;
	if (uffd_wp(fd, (void *)addr, a->psize, false) == 0)
		return;
	if (io_continue(fd, addr, a->psize, 0) == 0)
		return;
	if (a->psize == PS ? !io_zeropage(fd, addr, PS, 0, &done) ||
			     !io_copy(fd, addr, (unsigned long)g.zerobuf, PS, 0, &done) :
	    !io_copy(fd, addr, (unsigned long)g.zerobuf, HPS, 0, &done))
		note_zeroed(addr);
}

void do_access(struct access *a, bool sigbus_mode)
{
	volatile char *p = a->addr, *q = a->addr + a->psize - 1;
	volatile int tries = 0;
	sigjmp_buf jb;

again:
	tls_jb = &jb;
	if (sigsetjmp(jb, 1)) {
		if (tls_sig == SIGBUS && sigbus_mode && tries < 4) {
			tries++;
			a->bus_retries++;
			__atomic_add_fetch(&g.res.sigbus_resolved, 1, __ATOMIC_RELAXED);
			sigbus_resolve(a);
			goto again;
		}
		a->result = tls_sig;
		return;
	}
	tls_in_access = 1;
	if (a->write) {
		*p = a->byte;
		*q = a->byte;
	} else {
		a->got0 = (unsigned char)*p;
		a->got1 = (unsigned char)*q;
	}
	tls_in_access = 0;
	a->result = 0;
}

static void *writer_thread(void *arg)
{
	int i, seen = 0;

	(void)arg;
	g.writer_tid = syscall(SYS_gettid);
	pthread_mutex_lock(&g.wlock);
	for (;;) {
		while (g.batch_posted == seen && !g.stop)
			pthread_cond_wait(&g.wcond, &g.wlock);
		if (g.stop)
			break;
		seen = g.batch_posted;
		pthread_mutex_unlock(&g.wlock);
		for (i = 0; i < g.nbatch; i++) {
			g.cur_access = i;
			g.access_start = now_ms();
			do_access(&g.batch[i], g.mode == UM_SIGBUS);
		}
		g.access_start = 0;
		pthread_mutex_lock(&g.wlock);
		g.batch_done = seen;
		pthread_cond_broadcast(&g.wcond);
	}
	pthread_mutex_unlock(&g.wlock);
	return NULL;
}

static void *watchdog_thread(void *arg)
{
	(void)arg;
	while (!g.stop) {
		sleep_ms(500);
		if (g.op_start && now_ms() - g.op_start > OP_HANG_MS) {
			violation(false, "operation blocked for more than %d s", OP_HANG_MS / 1000);
			fflush(stdout);
			_exit(FAIL);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* batches of accesses                                                 */

void post_batch(void)
{
	pthread_mutex_lock(&g.wlock);
	g.batch_posted++;
	g.batch_pending = true;
	pthread_cond_broadcast(&g.wcond);
	pthread_mutex_unlock(&g.wlock);
}

/* wait for the writer; false (after reporting) when it hangs */
static bool wait_batch(void)
{
	struct timespec ts;
	int64_t deadline = now_ms() + WRITER_HANG_MS;
	bool done;

	pthread_mutex_lock(&g.wlock);
	while (g.batch_done != g.batch_posted) {
		int64_t t = deadline;

		if (now_ms() >= deadline)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		t = deadline - now_ms();
		if (t > 200)
			t = 200;
		ts.tv_nsec += t * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&g.wcond, &g.wlock, &ts);
	}
	done = g.batch_done == g.batch_posted;
	pthread_mutex_unlock(&g.wlock);
	if (!done) {
		struct access *a = &g.batch[g.cur_access];
		int64_t idle = now_ms() - h.last_active;
		int fd = cur_uffd(), woke;

		if (fd >= 0)
			uffd_wake(fd, a->addr, a->psize);
		sleep_ms(2000);
		woke = g.batch_done == g.batch_posted;
		violation(false, "lost wakeup? the %s of %p (region %d page %d) blocked for %d s, handler idle for %lld ms, %d fault(s) held; UFFDIO_WAKE %s it; %ld faults in a row at %#lx, last failed resolution %c at %#lx: %s",
			  a->write ? "write" : "read", a->addr, g.regions[a->ri].id, a->page,
			  WRITER_HANG_MS / 1000, (long long)idle, h.nheld,
			  woke ? "unblocked" : "did not unblock", h.same_addr_faults,
			  h.last_fault_addr, h.last_fail_kind ? h.last_fail_kind : '-',
			  h.last_fail_addr, errno_name(h.last_fail_err));
	}
	return done;
}

bool join_batch(void)
{
	int i;

	if (!g.batch_pending)
		return true;
	oplog("join the async batch");
	set_hold(0);
	handler_request(REQ_RELEASE);
	if (!wait_batch())
		return false;
	g.batch_pending = false;
	check_results();
	for (i = 0; i < MAX_REGIONS; i++) {
		g.regions[i].disturbed = false;
		if (g.regions[i].used && g.regions[i].dead)
			free_region(&g.regions[i]);
	}
	return true;
}

bool run_batch_sync(void)
{
	if (!g.nbatch)
		return true;
	g.batch_async = false;
	post_batch();
	if (!wait_batch())
		return false;
	g.batch_pending = false;
	check_results();
	return true;
}

void threads_start(void)
{
	pthread_t t;

	pthread_mutex_init(&g.wlock, NULL);
	pthread_cond_init(&g.wcond, NULL);
	pthread_mutex_init(&h.lock, NULL);
	/* never joined: the seed's process ends with them */
	pthread_create(&t, NULL, handler_thread, NULL);
	pthread_create(&t, NULL, writer_thread, NULL);
	pthread_create(&t, NULL, watchdog_thread, NULL);
	while (!g.writer_tid)
		sleep_ms(1);
}
