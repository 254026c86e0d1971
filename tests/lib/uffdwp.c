// SPDX-License-Identifier: GPL-2.0
/*
 * uffdwp.c: helpers shared by the uffd-wp tests; see uffdwp.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "uffdwp.h"

/* ------------------------------------------------------------------ */
/* TAP output                                                          */

struct tap_counts tap;

void tap_vline(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int e = errno;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	printf("%s%s\n", prefix, buf);	/* one call: lines of threads do not mix */
	errno = e;
}

void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline("# ", fmt, ap);
	va_end(ap);
}

int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline("# FAIL: ", fmt, ap);
	va_end(ap);
	return FAIL;
}

void tap_plan(int n)
{
	printf("1..%d\n", n);
}

void tap_result(int rc, const char *reason, const char *fmt, ...)
{
	char desc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	tap.num++;
	if (rc == SKIP) {
		tap.skip++;
		printf("ok %d - %s # SKIP %s\n", tap.num, desc, reason ? reason : "");
	} else if (rc == PASS) {
		tap.pass++;
		printf("ok %d - %s\n", tap.num, desc);
	} else {
		tap.fail++;
		printf("not ok %d - %s\n", tap.num, desc);
	}
	fflush(stdout);
}

int tap_totals(int64_t start_ms)
{
	diag("Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0 (%lld ms)",
	     tap.pass, tap.fail, tap.skip, (long long)(now_ms() - start_ms));
	return tap.fail ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* time                                                                */

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* userfaultfd                                                         */

int sys_userfaultfd(int flags)
{
	int fd = syscall(__NR_userfaultfd, flags);

	return fd < 0 ? -errno : fd;
}

int uffd_open_flags(int flags, uint64_t features, uint64_t *supported)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = sys_userfaultfd(flags), e;

	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev < 0)
			return fd;
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		e = errno;
		close(dev);
		if (fd < 0)
			return -e;
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		e = errno;
		close(fd);
		return -e;
	}
	if (supported)
		*supported = api.features;
	return fd;
}

int uffd_open(uint64_t features, uint64_t *supported)
{
	return uffd_open_flags(O_CLOEXEC | O_NONBLOCK, features, supported);
}

int uffd_features(uint64_t *features)
{
	int fd = uffd_open(0, features);

	if (fd < 0) {
		*features = 0;
		return -fd;
	}
	close(fd);
	return 0;
}

int uffd_register(int uffd, void *addr, size_t len, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = mode,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int uffd_unregister(int uffd, void *addr, size_t len)
{
	struct uffdio_range r = { .start = (unsigned long)addr, .len = len };

	return ioctl(uffd, UFFDIO_UNREGISTER, &r) ? errno : 0;
}

int uffd_writeprotect(int uffd, void *addr, size_t len, uint64_t mode)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (unsigned long)addr, .len = len },
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &w) ? errno : 0;
}

int uffd_wp(int uffd, void *addr, size_t len, bool wp)
{
	return uffd_writeprotect(uffd, addr, len, wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0);
}

int uffd_wake(int uffd, void *addr, size_t len)
{
	struct uffdio_range r = { .start = (unsigned long)addr, .len = len };

	return ioctl(uffd, UFFDIO_WAKE, &r) ? errno : 0;
}

/* ------------------------------------------------------------------ */
/* environment and system                                              */

int parse_test_fs(struct test_fs *fs, int max)
{
	const char *env = getenv("UFFDWP_FS");
	char *s, *tok, *save = NULL, *colon;
	int n = 0;

	if (!env || !*env) {
		fs[0] = (struct test_fs){ "cwd", "." };
		return 1;
	}
	s = strdup(env);
	if (!s)
		return 0;
	for (tok = strtok_r(s, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		colon = strchr(tok, ':');
		if (!colon || colon == tok || !colon[1]) {
			diag("ignoring malformed UFFDWP_FS entry '%s'", tok);
			continue;
		}
		*colon = 0;
		if (n >= max) {
			diag("too many file systems in UFFDWP_FS, ignoring %s", tok);
			continue;
		}
		fs[n++] = (struct test_fs){ tok, colon + 1 };
	}
	/* s stays allocated: fs[] points into it */
	return n;
}

bool expect_wp_file(void)
{
	const char *e = getenv("UFFDWP_EXPECT_WP_FILE");

	return !(e && !strcmp(e, "0"));
}

bool expect_handoff(void)
{
	const char *e = getenv("UFFDWP_EXPECT_HANDOFF");

	return !(e && !strcmp(e, "0"));
}

bool expect_fault_injection(void)
{
	const char *e = getenv("UFFDWP_EXPECT_FAULT_INJECTION");

	return e && !strcmp(e, "1");
}

/* from /sys/devices/system/node/has_memory: "0-1", "0,2", ... */
bool two_numa_nodes(int *a, int *b)
{
	FILE *f = fopen("/sys/devices/system/node/has_memory", "r");
	char line[256], *p, *end;
	int n = 0, nodes[2];
	long lo, hi;

	if (!f)
		return false;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	while (p && n < 2) {
		lo = hi = strtol(p, &end, 10);
		if (end == p)
			break;
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		for (; lo <= hi && n < 2; lo++)
			nodes[n++] = lo;
		p = *end == ',' ? end + 1 : NULL;
	}
	if (n < 2)
		return false;
	*a = nodes[0];
	*b = nodes[1];
	return true;
}

/* ------------------------------------------------------------------ */
/* a case in a process of its own                                      */

/* wait for pid until deadline; false if it is still running */
static bool wait_until(pid_t pid, int *status, int64_t deadline, const sigset_t *chld)
{
	pid_t r;

	while ((r = waitpid(pid, status, WNOHANG)) == 0) {
		int64_t left = deadline - now_ms();
		struct timespec ts = { 0, 100 * 1000000L };

		if (left <= 0)
			break;
		if (left < 100)
			ts.tv_nsec = left * 1000000L;
		sigtimedwait(chld, NULL, &ts);
	}
	return r == pid;
}

int run_isolated(int (*fn)(const void *arg), const void *arg, int timeout_ms,
		 struct isolated *iso)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status = 0, rc;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);	/* for sigtimedwait() */
	iso->why[0] = 0;
	fflush(stdout);
	iso->pid = fork();
	if (iso->pid < 0) {
		snprintf(iso->why, sizeof(iso->why), "process not started: fork: %s",
			 strerror(errno));
		return FAIL;
	}
	if (iso->pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		alarm(timeout_ms / 1000 + 2);
		rc = fn(arg);
		fflush(stdout);
		_exit(rc);
	}
	setpgid(iso->pid, iso->pid);
	if (!wait_until(iso->pid, &status, deadline, &chld)) {
		kill(-iso->pid, SIGKILL);
		kill(iso->pid, SIGKILL);
		waitpid(iso->pid, &status, 0);
		snprintf(iso->why, sizeof(iso->why), "did not finish within %d ms", timeout_ms);
		rc = FAIL;
	} else if (WIFSIGNALED(status)) {
		snprintf(iso->why, sizeof(iso->why), "process killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
		rc = FAIL;
	} else if (WEXITSTATUS(status) == PASS || WEXITSTATUS(status) == SKIP) {
		rc = WEXITSTATUS(status);
	} else {
		rc = FAIL;
	}
	kill(-iso->pid, SIGKILL);	/* leftovers of the case, if any */
	return rc;
}
