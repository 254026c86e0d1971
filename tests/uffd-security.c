// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-security: who may create which userfaultfd, and what a write
 * protection on a file mapping can do to other processes.
 *
 * A table of cases, each run on the memory types it applies to, one TAP
 * point per (case, memory type), each in a process of its own under a hard
 * timeout (the case runner of tests/lib/cases.h), so a hang is one failing
 * point:
 *
 * priv-*   (as the non-root UFFDWP_USER, capabilities dropped) creation of
 *          a userfaultfd with vm.unprivileged_userfaultfd 0 and 1, with and
 *          without UFFD_USER_MODE_ONLY, through userfaultfd(2) and through
 *          /dev/userfaultfd (mode 0600 and 0666), and what becomes of a
 *          kernel-mode fault (read(2) from a pipe into a write-protected
 *          range: copy_to_user() faults) and of a user-mode fault: reported,
 *          or not reported and EFAULT.  The sysctl and the device mode are
 *          changed by the root parent and restored after every case.
 *          uffd-hostile checks the creation errnos alone; here they are the
 *          first step of a case that then exercises the fd.
 * iso-*    "a blocked writer never blocks anybody else", the one place it
 *          is tested: process A (root) write-protects its MAP_SHARED or
 *          MAP_PRIVATE mapping of a file (or memfd, the reference; also
 *          the file rows on the overlayfs of UFFDWP_OVERLAYFS) and leaves
 *          three writers blocked on protected pages, a dirty one, a clean
 *          one and a marker over a hole of the file, its handler not
 *          resolving; then a thread of A (A's mm: a second mapping, and
 *          pread, pwrite, fsync, extending ftruncate, hole punch through an
 *          open of its own), process B (the non-root user where a user can
 *          do it: pwrite(2), writes through its own MAP_SHARED mapping,
 *          fsync/fdatasync/syncfs, truncate and hole punch), root (sync(2)
 *          and drop_caches) or the flusher (writing back A's dirty
 *          protected pages, vm.dirty_* shortened, restored) does its part.
 *          Nobody is blocked (hang bound HANG_MS, not a timing assertion);
 *          B's data is in the file and in A's mapping where A has no copy
 *          of its own, A's reads never block, A's writers are still
 *          blocked afterwards and nothing else was reported; once A
 *          un-protects, the writers complete (their byte beside B's data,
 *          in the file when shared, also after a write back and an
 *          eviction), and A's protection of another page outlived it all
 *          (its write is reported).
 * ro-*     a non-root user with only read access to a root-owned file (and
 *          a read-only memfd fd) never gets write access through uffd.
 * scm-*    a uffd passed over SCM_RIGHTS to an unrelated non-root process
 *          operates on the creator's mm only, and after the creator exited
 *          its ioctls fail.
 *
 * Errnos are asserted where documentation gives them; the document is
 * cited next to each.  "userfaultfd.rst" and "vm.rst" are
 * Documentation/admin-guide/mm/userfaultfd.rst and
 * Documentation/admin-guide/sysctl/vm.rst of the series' tree; the
 * man pages are those of Debian 12 (manpages-dev 6.03).
 *
 * File cases need UFFD_FEATURE_WP_FILE: without it they SKIP when
 * UFFDWP_EXPECT_WP_FILE=0 and fail when it is expected.  Cases that need
 * root and UFFDWP_USER SKIP without them (they are always there in the
 * harness's guest).
 *
 * Environment: UFFDWP_FS, UFFDWP_OVERLAYFS, UFFDWP_EXPECT_WP_FILE,
 * UFFDWP_USER (see tests/lib/uffdwp.h), UFFDWP_BUDGET (seconds of the whole
 * run, default 540).
 *
 * Output is TAP; exit status 0 when no case failed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#include "uffdwp.h"
#include "mem.h"
#include "cases.h"

#define CASE_TIMEOUT_S		40	/* hard limit for one case process */
#define DEFAULT_BUDGET_S	540	/* hard limit for the whole run (UFFDWP_BUDGET) */
#define HANG_MS			10000	/* an operation that must not block */
#define WAIT_MS			5000	/* longest wait for a report */
#define NPAGES			8
#define KWLEN			64	/* bytes written by the kernel-mode write */

/* ------------------------------------------------------------------ */
/* memory types                                                        */

/* the rows of tests/lib/mem.c a case runs on: anon, shmem, files */
static const char *const rows[] = {
	"anon", "shmem", "shmem-private", "file-shared", "file-private", NULL
};

/* a memory type of the run and its label in point names */
struct memtype {
	struct mem_type t;
	char label[64];		/* "anon", "shmem", "file-shared:ext4" */
	bool overlay;		/* on the overlayfs of UFFDWP_OVERLAYFS: iso-* only */
};

static struct memtype memtypes[MEM_MAX_TYPES + 2];
static int nr_memtypes;

static size_t ps;
static bool have_wp_file, expect_wp, have_user, have_dev;
static uid_t user_uid;
static gid_t user_gid;
/* vm.unprivileged_userfaultfd, vm.dirty_expire_centisecs, vm.dirty_writeback_centisecs */
static struct knob k_unpriv = { .path = "/proc/sys/vm/unprivileged_userfaultfd" };
static struct knob k_expire = { .path = "/proc/sys/vm/dirty_expire_centisecs" };
static struct knob k_wb = { .path = "/proc/sys/vm/dirty_writeback_centisecs" };
static mode_t orig_devmode;

/* ------------------------------------------------------------------ */
/* state shared by the processes of a case                             */

struct shared {
	atomic_int stage;
	char step[160];		/* what the case is doing (for a hang) */
};

static struct shared *S;

static void __attribute__((format(printf, 1, 2))) step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(S->step, sizeof(S->step), fmt, ap);
	va_end(ap);
}

/* wait until S->stage >= n; false after ms */
static bool wait_stage(int n, int ms)
{
	int64_t end = now_ms() + ms;

	while (atomic_load(&S->stage) < n) {
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* stages only move forward */
static void set_stage(int n)
{
	int cur = atomic_load(&S->stage);

	while (cur < n && !atomic_compare_exchange_weak(&S->stage, &cur, n))
		;
}

/* ------------------------------------------------------------------ */
/* system knobs                                                        */

#define SYSCTL_UNPRIV	"/proc/sys/vm/unprivileged_userfaultfd"
#define SYSCTL_EXPIRE	"/proc/sys/vm/dirty_expire_centisecs"
#define SYSCTL_WB	"/proc/sys/vm/dirty_writeback_centisecs"
#define DEV_UFFD	"/dev/userfaultfd"

/* put the knobs back; false (and a diagnostic) when one was not restored */
static bool restore_system(void)
{
	struct knob *const knobs[] = { &k_unpriv, &k_expire, &k_wb };
	struct stat st;
	bool ok = true;
	int i;

	if (geteuid() != 0)
		return true;
	for (i = 0; i < 3; i++) {
		if (knob_restore(knobs[i])) {
			diag("%s not restored to %s", knobs[i]->path, knobs[i]->old);
			ok = false;
		}
	}
	if (have_dev && (chmod(DEV_UFFD, orig_devmode) || stat(DEV_UFFD, &st) ||
			 (st.st_mode & 07777) != orig_devmode)) {
		diag("mode of %s not restored to %#o", DEV_UFFD, (unsigned int)orig_devmode);
		ok = false;
	}
	return ok;
}

/* ------------------------------------------------------------------ */
/* processes                                                           */

static void child_exit(int rc)
{
	fflush(stdout);
	_exit(rc);
}

/* become the non-root user, without any capability */
static int drop_to_user(void)
{
	char line[256];
	bool capok = false;
	FILE *f;

	if (setgroups(0, NULL) || setresgid(user_gid, user_gid, user_gid) ||
	    setresuid(user_uid, user_uid, user_uid))
		return fail("cannot become uid %d: %m", (int)user_uid);
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			capok = strtoull(line + 7, NULL, 16) == 0;
	if (f)
		fclose(f);
	if (!capok || geteuid() != user_uid)
		return fail("still privileged after setresuid(%d)", (int)user_uid);
	return PASS;
}

/* fork; the child runs fn(arg) (as the non-root user if as_user) */
static pid_t spawn(int (*fn)(void *), void *arg, bool as_user)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (as_user && drop_to_user())
			child_exit(FAIL);
		child_exit(fn(arg));
	}
	if (pid < 0)
		fail("fork: %m");
	return pid;
}

/* the result of child pid; FAIL if it does not exit within ms (a hang) */
static int reap(pid_t pid, const char *who, int ms)
{
	int64_t end = now_ms() + ms;
	int status;
	pid_t r;

	if (pid < 0)
		return FAIL;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			return fail("%s did not finish within %d ms (blocked), at: %s",
				    who, ms, S->step);
		}
		sleep_ms(5);
	}
	if (r != pid)
		return fail("waitpid %s: %m", who);
	if (WIFSIGNALED(status))
		return fail("%s killed by signal %d (%s), at: %s", who, WTERMSIG(status),
			    strsignal(WTERMSIG(status)), S->step);
	return WEXITSTATUS(status) == PASS ? PASS : FAIL;
}

static int run_child(int (*fn)(void *), void *arg, bool as_user, const char *who, int ms)
{
	return reap(spawn(fn, arg, as_user), who, ms);
}

/* ------------------------------------------------------------------ */
/* memory                                                              */

struct mem {
	const struct memtype *mt;
	char path[PATH_MAX];	/* file kinds */
	int fd;			/* read-write backing fd, -1 for anon */
	char *p;
	size_t len;
};

static char pat(int page)
{
	return (char)(0x10 + page);
}

/*
 * The backing file (or memfd) of m, NPAGES pages of pat() but page hole (-1:
 * none), which is left a hole; owned by owner.
 */
static int mem_backing(struct mem *m, const struct memtype *mt, uid_t owner, mode_t mode,
		       int hole)
{
	static int seq;
	struct mem_region r;
	char buf[4096], tag[32];
	int i, e;

	memset(m, 0, sizeof(*m));
	m->mt = mt;
	m->fd = -1;
	m->len = NPAGES * ps;
	snprintf(tag, sizeof(tag), "uffd-security-%d", seq++);
	e = mem_create(&r, &mt->t, m->len, tag);
	if (e)
		return fail("memfd_create/open (%s): %s",
			    mem_is_file(&mt->t) ? mt->t.dir : "memfd", strerror(e));
	if (!mem_has_fd(&mt->t))
		return PASS;
	m->fd = r.fd;
	snprintf(m->path, sizeof(m->path), "%s", r.path);
	if (mem_is_file(&mt->t) && (fchown(m->fd, owner, owner) || fchmod(m->fd, mode)))
		return fail("chown/chmod %s: %m", m->path);
	for (i = 0; i < NPAGES; i++) {
		if (i == hole)
			continue;
		memset(buf, pat(i), sizeof(buf));
		if (pwrite(m->fd, buf, ps < sizeof(buf) ? ps : sizeof(buf),
			   (off_t)i * ps) < 0)
			return fail("fill: %m");
	}
	return PASS;
}

static void mem_cleanup(struct mem *m)
{
	if (m->path[0])
		unlink(m->path);
}

/* map fd (the kind's sharing) at at (MAP_FIXED) or anywhere */
static char *map_kind(const struct mem_type *k, int fd, size_t len, int prot, void *at)
{
	int fl = k->shared ? MAP_SHARED : MAP_PRIVATE;
	void *p;

	if (at)
		fl |= MAP_FIXED;
	if (k->kind == MEM_ANON) {
		fl |= MAP_ANONYMOUS;
		fd = -1;
	}
	p = mmap(at, len, prot, fl, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* the byte at offset off of the file (pread), or -1 */
static int file_byte(int fd, off_t off)
{
	unsigned char c;

	return pread(fd, &c, 1, off) == 1 ? c : -1;
}

/* ------------------------------------------------------------------ */
/* faults                                                              */

/* a thread that writes one byte */
struct writer {
	volatile char *p;
	char val;
	atomic_int done;
	pthread_t t;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;

	*w->p = w->val;
	atomic_store(&w->done, 1);
	return NULL;
}

static int writer_start(struct writer *w, void *p, char val)
{
	w->p = p;
	w->val = val;
	atomic_store(&w->done, 0);
	if (pthread_create(&w->t, NULL, writer_fn, w))
		return fail("pthread_create: %m");
	return PASS;
}

static bool writer_wait(struct writer *w, int ms)
{
	int64_t end = now_ms() + ms;

	while (!atomic_load(&w->done)) {
		if (now_ms() > end)
			return false;
		sleep_ms(2);
	}
	pthread_join(w->t, NULL);
	return true;
}

/*
 * The next messages: one WP fault on each page of want, a mask of the
 * pages from the page of base, in any order.
 */
static int expect_wp_msgs(int uffd, void *base, unsigned int want, const char *what)
{
	unsigned long first = (unsigned long)base / ps, pg;
	unsigned int got = 0;
	struct uffd_msg msg;
	int e;

	while (got != want) {
		e = uffd_wait_msg(uffd, &msg, WAIT_MS);
		if (e)
			return fail("%s: %d of %d reports within %d ms: %s", what,
				    __builtin_popcount(got), __builtin_popcount(want), WAIT_MS,
				    strerror(e));
		pg = msg.arg.pagefault.address / ps - first;
		if (msg.event != UFFD_EVENT_PAGEFAULT ||
		    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ||
		    msg.arg.pagefault.address / ps < first || pg >= 32 ||
		    !(want & ~got & (1u << pg)))
			return fail("%s: unexpected message event %#x flags %#llx address %#llx",
				    what, msg.event, (unsigned long long)msg.arg.pagefault.flags,
				    (unsigned long long)msg.arg.pagefault.address);
		got |= 1u << pg;
	}
	return PASS;
}

/* the next message must be a WP fault at addr (page) */
static int expect_wp_msg(int uffd, void *addr, const char *what)
{
	return expect_wp_msgs(uffd, addr, 1, what);
}

/* no message pending on uffd */
static int expect_no_msg(int uffd, const char *what)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };

	if (poll(&pfd, 1, 0) > 0)
		return fail("%s: a message is pending on the userfaultfd", what);
	return PASS;
}

/* handler thread: one WP report at addr, then un-protect */
struct handler {
	int uffd;
	void *addr;
	int rc;
	pthread_t t;
};

static void *handler_fn(void *arg)
{
	struct handler *h = arg;

	h->rc = expect_wp_msg(h->uffd, h->addr, "handler");
	if (uffd_wp(h->uffd, (void *)((unsigned long)h->addr & ~(ps - 1)), ps, false))
		h->rc = fail("handler: un-protect: %m");
	return NULL;
}

/* a store of val to p with a handler thread for its report: PASS when it was reported */
static int reported_write(int uffd, char *p, char val)
{
	struct handler h = { .uffd = uffd, .addr = p };

	if (pthread_create(&h.t, NULL, handler_fn, &h))
		return fail("pthread_create: %m");
	*(volatile char *)p = val;
	pthread_join(h.t, NULL);
	return h.rc;
}

/*
 * The kernel writes KWLEN bytes of val to dst: read(2) from a pipe, so the
 * write fault is taken by copy_to_user() in kernel mode.  0 or the errno of
 * read(2); *sigbus counts SIGBUS signals taken meanwhile.
 */
static volatile sig_atomic_t sigbus_count;

static void on_sigbus(int sig)
{
	(void)sig;
	sigbus_count++;
}

static int kernel_write(char *dst, char val)
{
	char buf[KWLEN];
	int p[2], e = 0;
	ssize_t n;

	memset(buf, val, sizeof(buf));
	if (pipe2(p, O_CLOEXEC))
		return errno;
	if (write(p[1], buf, sizeof(buf)) != sizeof(buf))
		e = errno ? errno : EIO;
	if (!e) {
		n = read(p[0], dst, sizeof(buf));
		if (n < 0)
			e = errno;
		else if (n != sizeof(buf))
			e = EIO;
	}
	close(p[0]);
	close(p[1]);
	return e;
}

/* a write to p: 0, or the signal it raised */
static sigjmp_buf probe_jb;
static volatile sig_atomic_t probe_sig;

static void on_probe(int sig)
{
	probe_sig = sig;
	siglongjmp(probe_jb, 1);
}

static int try_write(volatile char *p, char val)
{
	struct sigaction sa = { .sa_handler = on_probe }, o1, o2;

	probe_sig = 0;
	sigaction(SIGSEGV, &sa, &o1);
	sigaction(SIGBUS, &sa, &o2);
	if (!sigsetjmp(probe_jb, 1))
		*p = val;
	sigaction(SIGSEGV, &o1, NULL);
	sigaction(SIGBUS, &o2, NULL);
	return probe_sig;
}

/* ------------------------------------------------------------------ */
/* the cases                                                           */

struct tcase;

struct ctx {
	const struct tcase *tc;
	const struct memtype *mt;
	struct mem m;
	int rofd;		/* read-only fd of the backing (ro-*) */
};

struct tcase {
	const char *name;
	const char *types;	/* rows of tests/lib/mem.c; NULL: once, not per type */
	int (*fn)(struct ctx *c);
	int arg;
	bool nonroot;		/* needs root and UFFDWP_USER */
};

/* ---- priv-*: creating a userfaultfd as the non-root user ---------- */

enum {
	PR_SYS0_KERNEL, PR_SYS0_UMO, PR_SYS1_KERNEL, PR_SYS1_UMO, PR_DEV0600,
	PR_DEV0666_KERNEL, PR_DEV0666_UMO,
};

/* how: { vm.unprivileged_userfaultfd, /dev/userfaultfd mode (0: as it is) } */
static const struct { const char *sysctl; mode_t devmode; } priv_setup[] = {
	[PR_SYS0_KERNEL] = { "0", 0 },
	[PR_SYS0_UMO] = { "0", 0 },
	[PR_SYS1_KERNEL] = { "1", 0 },
	[PR_SYS1_UMO] = { "1", 0 },
	[PR_DEV0600] = { "1", 0600 },
	[PR_DEV0666_KERNEL] = { "0", 0666 },
	[PR_DEV0666_UMO] = { "0", 0666 },
};

/* the userfaultfd of a priv case, or -errno; its creation flags in *flags */
static int priv_open(int how, int *flags)
{
	int dev, fd;

	switch (how) {
	case PR_SYS0_KERNEL:
	case PR_SYS1_KERNEL:
		*flags = O_CLOEXEC | O_NONBLOCK;
		return sys_userfaultfd(*flags);
	case PR_SYS0_UMO:
	case PR_SYS1_UMO:
		*flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
		return sys_userfaultfd(*flags);
	}
	/* /dev/userfaultfd: the flags of USERFAULTFD_IOC_NEW, both ways */
	*flags = how == PR_DEV0666_UMO ? O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY : 0;
	dev = open(DEV_UFFD, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, *flags);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

static int priv_user(void *arg)
{
	struct ctx *c = arg;
	int how = c->tc->arg, flags, fd, fl, fdfl, e, rc = PASS, i;
	bool umo, anon;
	struct uffdio_api api = { .api = UFFD_API };
	struct sigaction sa = { .sa_handler = on_sigbus };
	/* pages: 0 mapped (written), 2 never touched (not for anon) */
	int kpages[2] = { 0, 2 };
	struct handler h;
	char *p;

	step("create the userfaultfd");
	fd = priv_open(how, &flags);
	umo = flags & UFFD_USER_MODE_ONLY;
	if (how == PR_SYS0_KERNEL) {
		/*
		 * vm.rst: "users without SYS_CAP_PTRACE must pass
		 * UFFD_USER_MODE_ONLY in order for userfaultfd to succeed";
		 * userfaultfd(2) ERRORS: "EPERM ... The caller is not privileged
		 * ... and /proc/sys/vm/unprivileged_userfaultfd has the value 0."
		 */
		if (fd != -EPERM)
			return fail("userfaultfd(O_CLOEXEC) as uid %d with the sysctl 0: %s, "
				    "want EPERM", (int)user_uid,
				    fd < 0 ? strerror(-fd) : "success");
		return PASS;
	}
	if (how == PR_DEV0600) {
		/*
		 * userfaultfd.rst: "access to /dev/userfaultfd is controlled via
		 * normal filesystem permissions (user/group/mode)"; open(2):
		 * "EACCES The requested access to the file is not allowed".
		 */
		if (fd != -EACCES)
			return fail("open %s (0600 root) as uid %d: %s, want EACCES", DEV_UFFD,
				    (int)user_uid, fd < 0 ? strerror(-fd) : "success");
		return PASS;
	}
	/*
	 * userfaultfd.rst: "Any user can always create a userfaultfd which
	 * traps userspace page faults only ... with the flag
	 * UFFD_USER_MODE_ONLY"; "either the process needs the CAP_SYS_PTRACE
	 * capability, or the system must have vm.unprivileged_userfaultfd set
	 * to 1"; "Users who have access to /dev/userfaultfd can always create
	 * userfaultfds that trap kernel page faults; vm.unprivileged_userfaultfd
	 * is not considered."  So every remaining case creates its fd.
	 */
	if (fd < 0)
		return fail("creating the userfaultfd (flags %#x) as uid %d: %s", flags,
			    (int)user_uid, strerror(-fd));
	/* the creation flags are honoured, through either interface */
	fl = fcntl(fd, F_GETFL);
	fdfl = fcntl(fd, F_GETFD);
	if (!!(fl & O_NONBLOCK) != !!(flags & O_NONBLOCK) ||
	    !!(fdfl & FD_CLOEXEC) != !!(flags & O_CLOEXEC))
		rc = fail("creation flags %#x not honoured: F_GETFL %#x F_GETFD %#x", flags,
			  fl, fdfl);
	if (ioctl(fd, UFFDIO_API, &api))
		return fail("UFFDIO_API: %m");
	if (flags & O_NONBLOCK) {
		struct uffd_msg msg;

		/* read(2) of an empty non-blocking uffd: EAGAIN (userfaultfd(2)) */
		if (read(fd, &msg, sizeof(msg)) != -1 || errno != EAGAIN)
			rc = fail("read of an empty O_NONBLOCK userfaultfd: not EAGAIN (%m)");
	}

	step("map and protect %s", c->mt->label);
	anon = c->mt->t.kind == MEM_ANON;
	p = map_kind(&c->mt->t, c->m.fd, c->m.len, PROT_READ | PROT_WRITE, NULL);
	if (!p)
		return fail("mmap %s: %m", c->mt->label);
	p[0] = 1;
	p[ps] = 1;
	if (anon)
		p[2 * ps] = 1;	/* anon: none ptes are not protected without WP_UNPOPULATED */
	e = uffd_register(fd, p, c->m.len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e)
		return fail("UFFDIO_REGISTER(WP) of %s as uid %d: %s", c->mt->label,
			    (int)user_uid, strerror(e));
	if (uffd_wp(fd, p, c->m.len, true))
		return fail("UFFDIO_WRITEPROTECT: %m");

	sigaction(SIGBUS, &sa, NULL);
	for (i = 0; i < 2; i++) {
		char *dst = p + kpages[i] * ps;

		step("kernel-mode write into page %d", kpages[i]);
		if (umo) {
			/*
			 * UFFD_USER_MODE_ONLY: userfaultfd.rst, the fd "traps
			 * userspace page faults only"; vm.rst: the restriction
			 * prohibits "use of userfaultfd for handling faults from
			 * kernel mode".  handle_userfault() gives VM_FAULT_SIGBUS,
			 * copy_to_user() fails: read(2) "EFAULT buf is outside
			 * your accessible address space".  (userfaultfd(2) says
			 * a SIGBUS is delivered: counted and printed, not
			 * asserted; the kernel delivers none to a kernel-mode
			 * access.)
			 */
			sigbus_count = 0;
			e = kernel_write(dst, 0x5a);
			if (e != EFAULT)
				rc = fail("kernel-mode write to protected page %d with "
					  "UFFD_USER_MODE_ONLY: %s, want EFAULT", kpages[i],
					  e ? strerror(e) : "success");
			if (dst[0] == 0x5a)
				rc = fail("the kernel-mode write landed on protected page %d",
					  kpages[i]);
			TRY(expect_no_msg(fd, "kernel-mode write with UFFD_USER_MODE_ONLY"));
			if (sigbus_count)
				diag("page %d: %d SIGBUS delivered for the kernel-mode fault",
				     kpages[i], (int)sigbus_count);
		} else {
			/* a uffd that may trap kernel faults reports it, the write completes */
			h = (struct handler){ .uffd = fd, .addr = dst };
			if (pthread_create(&h.t, NULL, handler_fn, &h))
				return fail("pthread_create: %m");
			e = kernel_write(dst, 0x5a);
			pthread_join(h.t, NULL);
			if (h.rc)
				rc = fail("the kernel-mode write to page %d was not reported",
					  kpages[i]);
			if (e || dst[0] != 0x5a)
				rc = fail("kernel-mode write to page %d after the report: %s, "
					  "byte %#x", kpages[i], e ? strerror(e) : "success",
					  (unsigned char)dst[0]);
		}
	}
	/* a user-mode write is reported in every mode */
	step("user-mode write into page 1");
	if (reported_write(fd, p + ps, 0x33))
		rc = fail("the user-mode write was not reported");
	return rc;
}

static int c_priv(struct ctx *c)
{
	const char *sv = priv_setup[c->tc->arg].sysctl;
	mode_t dm = priv_setup[c->tc->arg].devmode;
	int e, rc;

	if (write_text(SYSCTL_UNPRIV, sv))
		return fail("cannot set vm.unprivileged_userfaultfd=%s: %m", sv);
	if (dm) {
		if (!have_dev)
			return fail("no %s", DEV_UFFD);
		if (chmod(DEV_UFFD, dm))
			return fail("chmod %s: %m", DEV_UFFD);
	}
	if (c->mt) {
		/* the user's own file */
		e = mem_backing(&c->m, c->mt, user_uid, 0600, -1);
		if (e)
			return e;
	} else {
		c->m = (struct mem){ .fd = -1 };
	}
	rc = run_child(priv_user, c, true, "the non-root process", HANG_MS + WAIT_MS);
	mem_cleanup(&c->m);
	return rc;
}

/* ---- iso-*: A's blocked writers never block anybody else --------- */

/*
 * What runs while A's writers are blocked: ISO_AREAD nothing (A's reads,
 * done in every case), ISO_THREAD a thread of A (its mm: the mmap_lock)
 * with the accesses of ISO_PREAD, ISO_PWRITE, ISO_MMAP, ISO_FSYNC and
 * ISO_EXTEND in turn, the others B (the non-root user) or root.
 */
enum {
	ISO_AREAD, ISO_THREAD, ISO_PWRITE, ISO_MMAP, ISO_FSYNC, ISO_SYNC, ISO_FLUSHER,
	ISO_TRUNC, ISO_PREAD, ISO_EXTEND,
};

static const char *const iso_what[] = {
	[ISO_AREAD] = "A's reads (mapping and pread)",
	[ISO_THREAD] = "a thread of A (pread, pwrite, a second mapping, fsync, extend, punch)",
	[ISO_PWRITE] = "B's pwrite(2)",
	[ISO_MMAP] = "B's own MAP_SHARED mapping",
	[ISO_FSYNC] = "B's fsync/fdatasync/syncfs/sync_file_range",
	[ISO_SYNC] = "sync(2) and drop_caches",
	[ISO_FLUSHER] = "flusher writeback",
	[ISO_TRUNC] = "B's ftruncate and hole punch",
};

static const int thread_ops[] = { ISO_PREAD, ISO_PWRITE, ISO_MMAP, ISO_FSYNC, ISO_EXTEND };

/*
 * A's pages: 0 written before the protection (dirty; a copy of its own
 * when private), 1 read (mapped clean), 2 untouched (a marker) over a hole
 * of the file, 3 written like 0; 4-7 untouched.  A's writers block on
 * 0-2; A writes 3 after the others' accesses.
 */
#define A_BLOCKED	3			/* pages 0 .. A_BLOCKED - 1 */
#define A_HOLE		2
#define A_VAL(page)	((char)(0xe0 + (page)))	/* what A's writers write at byte 0 */
#define B_VAL(page)	((char)(0xb0 + (page)))
#define B_OFF		128	/* B writes [B_OFF, ps) of a page: not A's byte 0 */
#define B_PAGES		4	/* B writes pages 0 .. B_PAGES - 1 */

/* does the case write B's data to pages 0 .. B_PAGES - 1 */
static bool b_writes(int what)
{
	return what == ISO_THREAD || what == ISO_PWRITE || what == ISO_MMAP || what == ISO_FSYNC;
}

/* B's fd of the backing: an open of its own (a memfd through /proc/self/fd) */
static int b_open(struct ctx *c)
{
	char path[64];
	const char *p = c->m.path;
	int fd;

	if (!mem_is_file(&c->mt->t)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->m.fd);
		p = path;
	}
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("B: open %s as uid %d: %m", p, (int)getuid());
	return fd;
}

/* pages 0 .. B_PAGES - 1 at B_OFF, through fd: B_VAL (b), else what the backing holds */
static int b_check_pages(int fd, bool b)
{
	int i, v, want;

	for (i = 0; i < B_PAGES; i++) {
		v = file_byte(fd, (off_t)i * ps + B_OFF);
		want = (unsigned char)(b ? B_VAL(i) : i == A_HOLE ? 0 : pat(i));
		if (v != want)
			return fail("page %d of the file reads %#x at %d, want %#x (%s)", i, v,
				    B_OFF, want, b ? "B's data" : "the backing's");
	}
	return PASS;
}

/* B's data into [B_OFF, ps) of pages 0 .. B_PAGES - 1 of m */
static void b_fill(char *m)
{
	int i;

	for (i = 0; i < B_PAGES; i++) {
		step("B: store to page %d of B's mapping", i);
		memset(m + i * ps + B_OFF, B_VAL(i), ps - B_OFF);
	}
}

/* one access of B (or of a thread of A) through fd */
static int iso_op(struct ctx *c, int fd, int op)
{
	char buf[4096];
	char *q;
	int i;

	switch (op) {
	case ISO_PREAD:
		step("pread of A's pages");
		return b_check_pages(fd, false);
	case ISO_PWRITE:
		for (i = 0; i < B_PAGES; i++) {
			step("pwrite page %d", i);
			memset(buf, B_VAL(i), sizeof(buf));
			if (pwrite(fd, buf, ps - B_OFF, (off_t)i * ps + B_OFF) !=
			    (ssize_t)(ps - B_OFF))
				return fail("pwrite page %d: %m", i);
		}
		return b_check_pages(fd, true);
	case ISO_MMAP:
		step("mmap MAP_SHARED");
		q = mmap(NULL, c->m.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (q == MAP_FAILED)
			return fail("mmap MAP_SHARED of the file: %m");
		b_fill(q);
		step("msync");
		if (msync(q, c->m.len, MS_SYNC))
			return fail("msync: %m");
		step("munmap");
		munmap(q, c->m.len);
		return b_check_pages(fd, true);
	case ISO_FSYNC:
		TRY(iso_op(c, fd, ISO_PWRITE));
		step("fsync");
		if (fsync(fd))
			return fail("fsync: %m");
		step("fdatasync");
		if (fdatasync(fd))
			return fail("fdatasync: %m");
		step("syncfs");
		if (syncfs(fd))
			return fail("syncfs: %m");
		step("sync_file_range");
		if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
				    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER))
			return fail("sync_file_range: %m");
		return PASS;
	case ISO_SYNC:
		/* root: the kernel writes back and drops what it can */
		step("root: sync");
		sync();
		step("root: drop_caches");
		if (write_text("/proc/sys/vm/drop_caches", "3"))
			return fail("drop_caches: %m");
		step("root: sync again");
		sync();
		return PASS;
	case ISO_TRUNC:
		step("ftruncate to 2 pages");
		if (ftruncate(fd, 2 * ps))
			return fail("ftruncate shrink: %m");
		step("ftruncate back to %d pages", NPAGES);
		if (ftruncate(fd, c->m.len))
			return fail("ftruncate grow: %m");
		step("punch hole in pages 0-1");
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 * ps))
			return fail("punch hole: %m");
		return PASS;
	case ISO_EXTEND:
		step("ftruncate extending to %d pages", NPAGES + 2);
		if (ftruncate(fd, c->m.len + 2 * ps))
			return fail("ftruncate extend: %m");
		step("ftruncate back to %d pages", NPAGES);
		if (ftruncate(fd, c->m.len))
			return fail("ftruncate back: %m");
		step("punch hole in page 5");
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * ps, ps))
			return fail("punch hole: %m");
		return PASS;
	}
	return fail("unknown iso access %d", op);
}

static int iso_b(void *arg)
{
	struct ctx *c = arg;
	int fd = c->tc->arg == ISO_SYNC ? -1 : b_open(c);

	if (fd < 0 && c->tc->arg != ISO_SYNC)
		return FAIL;
	return iso_op(c, fd, c->tc->arg);
}

/* ISO_THREAD: the accesses of thread_ops[] in a thread of A */
struct iso_thread {
	struct ctx *c;
	int rc;
	atomic_int done;
};

static void *iso_thread_fn(void *arg)
{
	struct iso_thread *t = arg;
	int fd = b_open(t->c);
	size_t i;

	t->rc = fd < 0 ? FAIL : PASS;
	for (i = 0; !t->rc && i < sizeof(thread_ops) / sizeof(thread_ops[0]); i++)
		t->rc = iso_op(t->c, fd, thread_ops[i]);
	if (fd >= 0)
		close(fd);
	atomic_store(&t->done, 1);
	return NULL;
}

/* the thread's result; stuck (still blocked after HANG_MS) */
static int iso_thread(struct ctx *c, bool *stuck)
{
	static struct iso_thread t;	/* a stuck thread may use it until the case exits */
	int64_t end = now_ms() + HANG_MS;
	pthread_t th;

	t = (struct iso_thread){ .c = c };
	if (pthread_create(&th, NULL, iso_thread_fn, &t))
		return fail("pthread_create: %m");
	while (!atomic_load(&t.done) && now_ms() < end)
		sleep_ms(2);
	if (!atomic_load(&t.done)) {
		*stuck = true;
		return fail("A's thread did not finish within %d ms (blocked), at: %s", HANG_MS,
			    S->step);
	}
	pthread_join(th, NULL);
	return t.rc;
}

/* bytes of smaps' Shared_Dirty + Private_Dirty of the VMA at p, or -1 */
static long vma_dirty_kb(void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi;
	bool in = false, seen = false;
	long kb, sum = 0;
	char line[512];

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (unsigned long)p >= lo && (unsigned long)p < hi;
			seen |= in;
			continue;
		}
		if (in && (sscanf(line, "Shared_Dirty: %ld kB", &kb) == 1 ||
			   sscanf(line, "Private_Dirty: %ld kB", &kb) == 1))
			sum += kb;
	}
	fclose(f);
	return seen ? sum : -1;
}

static int iso_flusher(char *p)
{
	int64_t end;
	long kb;

	kb = vma_dirty_kb(p);
	if (kb <= 0)
		return fail("A's protected mapping has no dirty pages to write back (%ld kB)", kb);
	if (write_text(SYSCTL_EXPIRE, "1") || write_text(SYSCTL_WB, "10"))
		return fail("cannot shorten vm.dirty_expire/writeback_centisecs: %m");
	step("flusher: wait for A's dirty protected pages to be written back");
	end = now_ms() + HANG_MS;
	while ((kb = vma_dirty_kb(p)) > 0 && now_ms() < end)
		sleep_ms(20);
	write_text(SYSCTL_EXPIRE, k_expire.old);
	write_text(SYSCTL_WB, k_wb.old);
	if (kb != 0)
		return fail("%ld kB of A's protected pages still dirty %d ms after the flusher "
			    "was told to write back everything older than 10 ms (blocked?)",
			    kb, HANG_MS);
	return PASS;
}

/*
 * The file's pages 0 .. A_BLOCKED - 1 after A's writers completed (when
 * the data went through a write back and an eviction: after): A's byte 0
 * there when shared, never when private; B's data at B_OFF too.
 */
static int iso_check_file(struct ctx *c, const char *when)
{
	bool shared = c->mt->t.shared, b = b_writes(c->tc->arg);
	int i, v, rc = PASS;

	for (i = 0; i < A_BLOCKED; i++) {
		v = file_byte(c->m.fd, (off_t)i * ps);
		if (shared && v != (unsigned char)A_VAL(i))
			rc = fail("A's MAP_SHARED write to page %d is not in the file %s: %#x", i,
				  when, v);
		if (!shared && v == (unsigned char)A_VAL(i))
			rc = fail("A's MAP_PRIVATE write to page %d reached the file", i);
		v = file_byte(c->m.fd, (off_t)i * ps + B_OFF);
		if (b && v != (unsigned char)B_VAL(i))
			rc = fail("page %d of the file %s: %#x at %d, want B's %#x", i, when, v,
				  B_OFF, (unsigned char)B_VAL(i));
	}
	return rc;
}

static int c_iso(struct ctx *c)
{
	int what = c->tc->arg, uffd, rc = PASS, i, v, n;
	const struct mem_type *k = &c->mt->t;
	bool b = b_writes(what), stuck = false;
	struct writer w[A_BLOCKED];
	struct stat st;
	volatile char sink;
	char *p;

	/* the file is the user's, so that B (uid UFFDWP_USER) may open it */
	TRY(mem_backing(&c->m, c->mt, user_uid, 0600, A_HOLE));
	step("A: map, populate, protect");
	p = map_kind(k, c->m.fd, c->m.len, PROT_READ | PROT_WRITE, NULL);
	if (!p)
		return fail("A: mmap: %m");
	p[0] = (char)0xa1;		/* mapped, dirty */
	sink = p[ps];			/* mapped read-only */
	p[3 * ps] = (char)0xa3;		/* mapped, dirty; 2, 4-7 untouched */
	(void)sink;
	uffd = uffd_open(0, NULL);
	if (uffd < 0)
		return fail("A: userfaultfd: %s", strerror(-uffd));
	if (uffd_register(uffd, p, c->m.len, UFFDIO_REGISTER_MODE_WP, NULL) ||
	    uffd_wp(uffd, p, c->m.len, true))
		return fail("A: register/protect %s: %m", c->mt->label);
	step("A: writers block on pages 0 (dirty), 1 (clean) and 2 (a marker over a hole)");
	for (i = 0; i < A_BLOCKED; i++)
		TRY(writer_start(&w[i], p + i * ps, A_VAL(i)));
	TRY(expect_wp_msgs(uffd, p, (1u << A_BLOCKED) - 1, "A's writers on pages 0-2"));
	/* the handler does not resolve: the writers stay blocked */

	switch (what) {
	case ISO_AREAD:
		break;	/* below, as in every case */
	case ISO_FLUSHER:
		rc = iso_flusher(p);
		break;
	case ISO_THREAD:
		rc = iso_thread(c, &stuck);
		if (stuck)
			return rc;
		break;
	default:
		rc = run_child(iso_b, c, what != ISO_SYNC,
			       what == ISO_SYNC ? "root's sync/drop_caches" : "process B", HANG_MS);
		break;
	}

	/* A's read-only access never blocks (a hang is the case's timeout) */
	for (i = 0; i < NPAGES; i++) {
		step("A: read page %d of the protected mapping", i);
		sink = p[i * ps + B_OFF];
	}
	step("A: pread the file");
	if (file_byte(c->m.fd, B_OFF) < 0)
		rc = fail("A: pread: %m");
	/*
	 * B's data is in A's mapping where A has no page of its own: every
	 * page of a MAP_SHARED mapping, page 1 of a MAP_PRIVATE one (the
	 * writer blocked on its present pte has no copy yet; the one blocked on
	 * the marker of page 2 may have)
	 */
	for (i = 0; b && i < B_PAGES; i++) {
		if (!k->shared && i != 1)
			continue;
		v = (unsigned char)p[i * ps + B_OFF];
		if (v != (unsigned char)B_VAL(i))
			rc = fail("A's %s mapping, page %d: %#x after %s, want %#x",
				  k->shared ? "MAP_SHARED" : "MAP_PRIVATE", i, v, iso_what[what],
				  (unsigned char)B_VAL(i));
	}
	for (i = 0; i < A_BLOCKED; i++)
		if (atomic_load(&w[i].done))
			rc = fail("A's writer on the protected page %d completed without being "
				  "resolved (after %s)", i, iso_what[what]);
	if (expect_no_msg(uffd, "after the others' accesses"))
		rc = FAIL;

	step("A: resolve; the writers complete");
	if (uffd_wp(uffd, p, A_BLOCKED * ps, false))
		return fail("A: un-protect: %m");
	for (i = 0; i < A_BLOCKED; i++) {
		if (!writer_wait(&w[i], WAIT_MS))
			return fail("A's writer on page %d still blocked %d ms after the un-protect",
				    i, WAIT_MS);
		if (p[i * ps] != A_VAL(i))
			rc = fail("A's write to page %d lost: byte 0 is %#x", i,
				  (unsigned char)p[i * ps]);
		/* the private copy of page 1, made after B's write, has B's data */
		v = (unsigned char)p[i * ps + B_OFF];
		if (b && !k->shared && i == 1 && v != (unsigned char)B_VAL(i))
			rc = fail("A's private copy of page %d, made after %s: %#x, want %#x", i,
				  iso_what[what], v, (unsigned char)B_VAL(i));
	}
	rc |= iso_check_file(c, "");

	/* the protection outlived the others' accesses (not the truncation) */
	if (what != ISO_TRUNC) {
		step("A: write page 3, still protected");
		if (reported_write(uffd, p + 3 * ps, A_VAL(3)))
			rc = fail("A's write to the protected page 3 after %s was not reported",
				  iso_what[what]);
	}
	close(uffd);

	/* written back and evicted, the file holds the same */
	if (mem_is_file(k)) {
		step("A: write back, evict, pread");
		if (k->shared && msync(p, c->m.len, MS_SYNC))
			rc = fail("A: msync: %m");
		munmap(p, c->m.len);
		p = NULL;
		n = mem_evict_file(c->m.fd, c->m.len);
		if (n)
			diag("%d page(s) still cached after fsync and POSIX_FADV_DONTNEED", n);
		rc |= iso_check_file(c, "after the write back and eviction");
	}
	if (fstat(c->m.fd, &st) || st.st_size != (off_t)c->m.len)
		rc = fail("file size %lld, want %zu", (long long)st.st_size, c->m.len);
	if (p)
		munmap(p, c->m.len);
	mem_cleanup(&c->m);
	return rc;
}

/* ---- ro-*: read access never becomes write access ----------------- */

static int ro_user(void *arg)
{
	struct ctx *c = arg;
	const struct mem_type *k = &c->mt->t;
	int fd, uffd, e, sig, rc = PASS, i, b;
	char *p;

	/* only the read-only fd: the root parent's read-write one is closed */
	close(c->m.fd);
	step("user: open read-only, map PROT_READ");
	fd = mem_is_file(k) ? open(c->m.path, O_RDONLY | O_CLOEXEC) : c->rofd;
	if (fd < 0)
		return fail("open %s read-only: %m", c->m.path);
	if (mem_is_file(k) && open(c->m.path, O_RDWR | O_CLOEXEC) >= 0)
		return fail("uid %d can open the root-owned 0644 file for writing", (int)getuid());
	p = map_kind(k, fd, c->m.len, PROT_READ, NULL);
	if (!p)
		return fail("mmap PROT_READ: %m");
	for (i = 0; i < 2; i++)
		(void)*(volatile char *)(p + i * ps);	/* page 0, 1 mapped; the rest not */
	/* whatever the sysctl: userfaultfd.rst, UFFD_USER_MODE_ONLY is always allowed */
	uffd = uffd_open_flags(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, NULL);
	if (uffd < 0)
		return fail("userfaultfd(UFFD_USER_MODE_ONLY): %s", strerror(-uffd));

	e = uffd_register(uffd, p, c->m.len, UFFDIO_REGISTER_MODE_WP, NULL);
	if (k->shared) {
		/*
		 * userfaultfd.rst: "A MAP_SHARED mapping of a file opened
		 * read-only cannot be registered (EPERM)."
		 */
		if (e != EPERM)
			rc = fail("UFFDIO_REGISTER(WP) of a read-only MAP_SHARED mapping: %s, "
				  "want EPERM", e ? strerror(e) : "success");
		/*
		 * ioctl_userfaultfd(2) UFFDIO_WRITEPROTECT: "ENOENT The range
		 * specified in range is not valid" (not registered)
		 */
		e = uffd_wp(uffd, p, c->m.len, false);
		if (e != ENOENT)
			rc = fail("UFFDIO_WRITEPROTECT(clear) of the unregistered read-only "
				  "mapping: %s, want ENOENT", e ? strerror(e) : "success");
		/*
		 * mprotect(2): "EACCES ... if you mmap(2) a file to which you
		 * have read-only access, then ask mprotect() to mark it
		 * PROT_WRITE."
		 */
		if (!mprotect(p, c->m.len, PROT_READ | PROT_WRITE) || errno != EACCES)
			rc = fail("mprotect(PROT_WRITE) of the read-only MAP_SHARED mapping: "
				  "%m, want EACCES");
	} else {
		/* a private mapping may be registered: its writes never reach the file */
		if (e)
			return fail("UFFDIO_REGISTER(WP) of a read-only MAP_PRIVATE mapping: %s",
				    strerror(e));
		if (uffd_wp(uffd, p, c->m.len, true) || uffd_wp(uffd, p, c->m.len, false))
			return fail("UFFDIO_WRITEPROTECT: %m");
	}
	/* un-protecting never made the PROT_READ mapping writable */
	for (i = 0; i < 3; i++) {
		step("user: write page %d of the PROT_READ mapping", i);
		sig = try_write(p + i * ps, 0x66);
		if (sig != SIGSEGV)
			rc = fail("write to page %d of the PROT_READ mapping after "
				  "UFFDIO_WRITEPROTECT: %s, want SIGSEGV", i,
				  sig ? strsignal(sig) : "it succeeded");
	}
	if (!k->shared) {
		/* made writable: a protected write is reported, lands privately */
		step("user: mprotect RW, protect, write page 1");
		if (mprotect(p, c->m.len, PROT_READ | PROT_WRITE))
			return fail("mprotect(PROT_WRITE) of MAP_PRIVATE: %m");
		if (uffd_wp(uffd, p, c->m.len, true))
			return fail("UFFDIO_WRITEPROTECT: %m");
		if (reported_write(uffd, p + ps, 0x77))
			rc = fail("write to the protected MAP_PRIVATE page was not reported");
		if (p[ps] != 0x77)
			rc = fail("the private write was lost");
	}
	for (i = 0; i < 3; i++) {
		b = file_byte(fd, (off_t)i * ps);
		if (b != (unsigned char)pat(i))
			rc = fail("page %d of the file changed: %#x, want %#x", i, b,
				  (unsigned char)pat(i));
	}
	return rc;
}

static int c_ro(struct ctx *c)
{
	char path[64];
	int rc, b, i;

	/* root's file, 0644: the user may read it, not write it */
	TRY(mem_backing(&c->m, c->mt, 0, 0644, -1));
	c->rofd = -1;
	if (!mem_is_file(&c->mt->t)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->m.fd);
		c->rofd = open(path, O_RDONLY);	/* inherited by the user's process */
		if (c->rofd < 0)
			return fail("reopen the memfd read-only: %m");
	}
	rc = run_child(ro_user, c, true, "the non-root process", HANG_MS + WAIT_MS);
	for (i = 0; i < 3; i++) {
		b = file_byte(c->m.fd, (off_t)i * ps);
		if (b != (unsigned char)pat(i))
			rc = fail("root: page %d of the file changed: %#x", i, b);
	}
	mem_cleanup(&c->m);
	return rc;
}

/* ---- scm-*: a passed uffd acts on its creator's mm only ----------- */

struct scm {
	struct ctx *c;
	char *X;		/* A's protected mapping; B maps the file here too */
	char *Y;		/* B's mapping where A has nothing */
	int sv[2];
};

static int scm_a(void *arg)
{
	struct scm *s = arg;
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { .iov_base = "u", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int uffd, rc = PASS;

	step("A: map, protect, send the uffd");
	munmap(s->Y, NPAGES * ps);	/* A has nothing at Y */
	if (!map_kind(&s->c->mt->t, s->c->m.fd, NPAGES * ps, PROT_READ | PROT_WRITE, s->X))
		return fail("A: mmap: %m");
	s->X[0] = (char)0xa1;		/* page 0 mapped, page 1 not */
	uffd = uffd_open(0, NULL);
	if (uffd < 0)
		return fail("A: userfaultfd: %s", strerror(-uffd));
	if (uffd_register(uffd, s->X, NPAGES * ps, UFFDIO_REGISTER_MODE_WP, NULL) ||
	    uffd_wp(uffd, s->X, NPAGES * ps, true))
		return fail("A: register/protect: %m");
	if (!(pagemap_entry(s->X) & PM_UFFD_WP))
		return fail("A: page 0 not uffd-wp in pagemap after protecting");
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &uffd, sizeof(int));
	set_stage(1);
	if (sendmsg(s->sv[0], &mh, 0) != 1)
		return fail("A: sendmsg SCM_RIGHTS: %m");
	if (!wait_stage(2, HANG_MS + WAIT_MS))
		return fail("A: B did not get to un-protecting A's page 0, at: %s", S->step);
	/* B's UFFDIO_WRITEPROTECT acted on A's page tables */
	if (pagemap_entry(s->X) & PM_UFFD_WP)
		rc = fail("A: page 0 still uffd-wp after B un-protected it through the "
			  "passed fd");
	if (!(pagemap_entry(s->X + ps) & PM_UFFD_WP))
		rc = fail("A: page 1 lost its protection");
	if (expect_no_msg(uffd, "A: after B's writes to B's own mapping"))
		rc = FAIL;
	step("A: exits");
	return rc;
}

static int scm_b(void *arg)
{
	struct scm *s = arg;
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	char c1;
	struct iovec iov = { .iov_base = &c1, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct pollfd pfd = { .fd = s->sv[1], .events = POLLIN };
	struct cmsghdr *cm;
	struct uffd_msg msg;
	int fd, uffd = -1, e, rc = PASS;

	fd = b_open(s->c);
	if (fd < 0)
		return FAIL;
	step("B: map the same file at X and at Y");
	if (!map_kind(&s->c->mt->t, fd, NPAGES * ps, PROT_READ | PROT_WRITE, s->X) ||
	    !map_kind(&s->c->mt->t, fd, NPAGES * ps, PROT_READ | PROT_WRITE, s->Y))
		return fail("B: mmap: %m");
	step("B: receive the uffd");
	if (poll(&pfd, 1, HANG_MS) != 1 || recvmsg(s->sv[1], &mh, 0) != 1)
		return fail("B: recvmsg: %m");
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&uffd, CMSG_DATA(cm), sizeof(int));
	if (uffd < 0)
		return fail("B: no fd received");

	/*
	 * The ioctls act on ctx->mm, A's.  ioctl_userfaultfd(2)
	 * UFFDIO_REGISTER: "EINVAL There is no mapping in the specified address
	 * range" (A has none at Y, B's own mapping there does not count).
	 */
	step("B: UFFDIO_REGISTER of B's own mapping at Y");
	e = uffd_register(uffd, s->Y, NPAGES * ps, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e != EINVAL)
		rc = fail("B: UFFDIO_REGISTER of B's mapping at Y through A's uffd: %s, "
			  "want EINVAL", e ? strerror(e) : "success");
	/* UFFDIO_WRITEPROTECT: "ENOENT The range specified in range is not valid" */
	e = uffd_wp(uffd, s->Y, NPAGES * ps, true);
	if (e != ENOENT)
		rc = fail("B: UFFDIO_WRITEPROTECT of Y: %s, want ENOENT",
			  e ? strerror(e) : "success");
	/* B's memory at X is not A's: B's writes never fault into the uffd */
	step("B: write B's own mapping at X");
	s->X[0] = (char)0xb0;
	s->X[ps] = (char)0xb1;
	if (pagemap_entry(s->X) & PM_UFFD_WP)
		rc = fail("B: B's own page at X is uffd-wp");
	if (read(uffd, &msg, sizeof(msg)) != -1 || errno != EAGAIN)
		rc = fail("B: a message about B's writes, or read: %m");
	/* ... but the fd's authority over A's mm moved with it */
	step("B: un-protect A's page 0 through the uffd");
	e = uffd_wp(uffd, s->X, ps, false);
	if (e)
		rc = fail("B: UFFDIO_WRITEPROTECT(clear) of A's page 0: %s", strerror(e));
	set_stage(2);
	step("B: wait for A to exit");
	if (!wait_stage(4, HANG_MS + WAIT_MS))
		return fail("B: A did not exit");
	/*
	 * A's mm is gone.  ioctl_userfaultfd(2) gives ESRCH "The faulting
	 * process has exited" for UFFDIO_COPY/ZEROPAGE/CONTINUE and says
	 * nothing for UFFDIO_WRITEPROTECT: fs/userfaultfd.c
	 * userfaultfd_writeprotect() returns ESRCH too ("if
	 * (mmget_not_zero(ctx->mm)) ... else return -ESRCH").  The
	 * UFFDIO_REGISTER section notes "ENOMEM if the process is exiting and
	 * the mm_struct has gone by the time userfault grabs it."
	 */
	step("B: ioctls after A exited");
	e = uffd_wp(uffd, s->X, ps, true);
	if (e != ESRCH)
		rc = fail("B: UFFDIO_WRITEPROTECT after the creator exited: %s, want ESRCH",
			  e ? strerror(e) : "success");
	e = uffd_register(uffd, s->X, NPAGES * ps, UFFDIO_REGISTER_MODE_WP, NULL);
	if (e != ENOMEM)
		rc = fail("B: UFFDIO_REGISTER after the creator exited: %s, want ENOMEM",
			  e ? strerror(e) : "success");
	/* and B's own mapping still works */
	s->X[2 * ps] = (char)0xb2;
	if (file_byte(fd, 2 * ps) != 0xb2 || file_byte(fd, 0) != 0xb0)
		rc = fail("B: B's writes at X are not in the file");
	close(uffd);
	return rc;
}

static int c_scm(struct ctx *c)
{
	struct scm s = { .c = c };
	pid_t a, b;
	char *r;
	int rc;

	TRY(mem_backing(&c->m, c->mt, user_uid, 0600, -1));
	r = mmap(NULL, 2 * NPAGES * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return fail("reserve: %m");
	s.X = r;
	s.Y = r + NPAGES * ps;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.sv))
		return fail("socketpair: %m");
	a = spawn(scm_a, &s, false);
	b = spawn(scm_b, &s, true);
	rc = reap(a, "A (the creator)", 2 * HANG_MS + WAIT_MS);
	set_stage(4);		/* A is reaped: its mm is gone */
	if (reap(b, "B (the receiver)", HANG_MS + WAIT_MS))
		rc = FAIL;
	mem_cleanup(&c->m);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the table                                                           */

#define T_ISO		"shmem shmem-private file-shared file-private"
#define T_PRIV		"anon shmem file-shared file-private"

static const struct tcase cases[] = {
	{ "priv-sysctl0-userfaultfd(0)-EPERM", NULL, c_priv, PR_SYS0_KERNEL, true },
	{ "priv-sysctl0-USER_MODE_ONLY-kernel-fault-EFAULT", T_PRIV, c_priv, PR_SYS0_UMO, true },
	{ "priv-sysctl1-userfaultfd(0)-kernel-fault-reported", T_PRIV, c_priv, PR_SYS1_KERNEL,
	  true },
	{ "priv-sysctl1-USER_MODE_ONLY-kernel-fault-EFAULT", T_PRIV, c_priv, PR_SYS1_UMO, true },
	{ "priv-dev-0600-EACCES", NULL, c_priv, PR_DEV0600, true },
	{ "priv-dev-0666-sysctl0-IOC_NEW(0)-kernel-fault-reported", T_PRIV, c_priv,
	  PR_DEV0666_KERNEL, true },
	{ "priv-dev-0666-IOC_NEW(USER_MODE_ONLY|CLOEXEC|NONBLOCK)-kernel-fault-EFAULT", T_PRIV,
	  c_priv, PR_DEV0666_UMO, true },
	{ "iso-A-reads-never-block", T_ISO, c_iso, ISO_AREAD, false },
	{ "iso-A-thread-ops", T_ISO, c_iso, ISO_THREAD, false },
	{ "iso-B-pwrite", T_ISO, c_iso, ISO_PWRITE, true },
	{ "iso-B-own-MAP_SHARED", T_ISO, c_iso, ISO_MMAP, true },
	{ "iso-B-fsync-syncfs", T_ISO, c_iso, ISO_FSYNC, true },
	{ "iso-sync-drop_caches", T_ISO, c_iso, ISO_SYNC, false },
	{ "iso-flusher-writeback", "file-shared", c_iso, ISO_FLUSHER, false },
	{ "iso-B-truncate-punch", T_ISO, c_iso, ISO_TRUNC, true },
	{ "ro-no-write-access", T_ISO, c_ro, 0, true },
	{ "scm-fd-acts-on-creator-mm", "shmem file-shared", c_scm, 0, true },
};

#define NR_CASES	(int)(sizeof(cases) / sizeof(cases[0]))

/* in the case process: the case, then the knobs put back */
static int run_case(const void *arg)
{
	struct ctx *c = (struct ctx *)arg;
	int rc = c->tc->fn(c);

	if (!restore_system())
		rc = FAIL;
	if (rc == PASS)
		S->step[0] = 0;		/* nothing to say after it */
	return rc;
}

/* in the runner, after a case process: where it was, the knobs put back (a killed case) */
static void after_case(const void *arg, pid_t pid)
{
	(void)arg;
	(void)pid;
	if (S->step[0])
		diag("the case's last step: %s", S->step);
	if (!restore_system())
		tap.fail++;
}

static void run_one(struct case_runner *cr, const struct tcase *tc, const struct memtype *mt)
{
	const char *label = mt ? mt->label : "nonroot";
	struct ctx c = { .tc = tc, .mt = mt, .rofd = -1 };
	int rc;

	if (tc->nonroot && (geteuid() != 0 || !have_user)) {
		case_point(cr, SKIP, "needs root and UFFDWP_USER", "%s %s", label, tc->name);
		return;
	}
	if (mt && mem_is_file(&mt->t)) {
		rc = expect_or_skip(have_wp_file, expect_wp,
				    "UFFD_FEATURE_WP_FILE is expected but not advertised: a file range cannot be write-protected");
		if (rc) {
			case_point(cr, rc, "needs sync uffd-wp on files, absent from this kernel (expected)",
				   "%s %s", label, tc->name);
			return;
		}
	}
	memset(S, 0, sizeof(*S));
	case_run(cr, run_case, &c, 0, "%s %s", label, tc->name);
}

/* does the case run on the memory type */
static bool runs_on(const struct tcase *tc, const struct memtype *mt)
{
	const char *p = tc->types;
	size_t l = strlen(mt->t.name);

	if (mt->overlay && tc->fn != c_iso)
		return false;
	while (p && (p = strstr(p, mt->t.name))) {
		if ((p == tc->types || p[-1] == ' ') && (!p[l] || p[l] == ' '))
			return true;
		p += l;
	}
	return false;
}

static void probe(void)
{
	const char *name = getenv("UFFDWP_USER"), *overlay = getenv("UFFDWP_OVERLAYFS");
	static struct mem_type t[MEM_MAX_TYPES + 2];
	int i, n = mem_types(t, MEM_MAX_TYPES, rows);
	uint64_t features = 0;
	struct passwd *pw;
	struct stat st;

	/*
	 * overlayfs hands the mapping to the file of its layer (ext4): the
	 * iso-* cases run on its file rows too
	 */
	if (overlay && *overlay) {
		for (i = 0; i < 2; i++) {
			mem_type_row(&t[n], i ? "file-private" : "file-shared", "overlay", overlay);
			memtypes[n++].overlay = true;
		}
	}
	for (i = 0; i < n; i++) {
		memtypes[i].t = t[i];
		if (mem_is_file(&t[i]))
			snprintf(memtypes[i].label, sizeof(memtypes[0].label), "%s:%s",
				 t[i].name, t[i].fs);
		else
			snprintf(memtypes[i].label, sizeof(memtypes[0].label), "%s", t[i].name);
	}
	nr_memtypes = n;
	uffd_features(&features);
	have_wp_file = features & UFFD_FEATURE_WP_FILE;
	expect_wp = expect_wp_file();
	if (name && *name) {
		pw = getpwnam(name);
		if (pw) {
			user_uid = pw->pw_uid;
			user_gid = pw->pw_gid;
			have_user = user_uid != 0;
		}
	}
	knob_save(&k_unpriv);
	knob_save(&k_expire);
	knob_save(&k_wb);
	if (!stat(DEV_UFFD, &st)) {
		orig_devmode = st.st_mode & 07777;
		have_dev = true;
	}
	diag("UFFDIO_API features %#llx: UFFD_FEATURE_WP_FILE %s, expected %s",
	     (unsigned long long)features, have_wp_file ? "advertised" : "not advertised",
	     expect_wp ? "yes" : "no");
	diag("user %s uid %d; vm.unprivileged_userfaultfd %.1s; %s mode %#o",
	     name ? name : "(none)", (int)user_uid, k_unpriv.old, DEV_UFFD,
	     (unsigned int)orig_devmode);
}

int main(void)
{
	const char *b = getenv("UFFDWP_BUDGET");
	int budget = DEFAULT_BUDGET_S;
	struct case_runner cr;
	int i, k, plan = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ps = sysconf(_SC_PAGESIZE);
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	probe();
	for (i = 0; i < NR_CASES; i++) {
		if (!cases[i].types)
			plan++;
		for (k = 0; k < nr_memtypes; k++)
			plan += runs_on(&cases[i], &memtypes[k]);
	}
	if (b && atoi(b) > 0)
		budget = atoi(b);
	cases_start(&cr, "uffd-security", plan, budget, CASE_TIMEOUT_S, NULL);
	cr.after = after_case;
	for (i = 0; i < NR_CASES; i++) {
		if (!cases[i].types)
			run_one(&cr, &cases[i], NULL);
		for (k = 0; k < nr_memtypes; k++)
			if (runs_on(&cases[i], &memtypes[k]))
				run_one(&cr, &cases[i], &memtypes[k]);
	}
	if (!restore_system())
		tap.fail++;
	return cases_end(&cr);
}
