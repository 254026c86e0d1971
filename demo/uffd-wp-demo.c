// SPDX-License-Identifier: GPL-2.0
/*
 * uffd-wp-demo: write tracking with userfaultfd write-protect, shown on
 * every memory type.  For each type, 64 pages are registered with
 * UFFDIO_REGISTER_MODE_WP and write-protected; a writer thread writes to
 * a few pages (some twice); the handler thread records each reported
 * page and un-protects it, which wakes the writer.  The table shows what
 * was written, what was reported, and whether the two sets are equal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_FEATURE_WP_FILE
#define UFFD_FEATURE_WP_FILE (1 << 17)
#endif

#define NPAGES 64
static const int writes[] = { 3, 17, 42, 17, 63, 3 };	/* 4 distinct pages */
#define NWRITES (sizeof(writes) / sizeof(writes[0]))

struct run {
	int uffd;
	char *area;
	long psize;
	int reported[NPAGES];
	int nreports;
	volatile int done;
};

static void *handler(void *arg)
{
	struct run *r = arg;
	struct pollfd pfd = { .fd = r->uffd, .events = POLLIN };

	while (!r->done) {
		struct uffd_msg msg;
		struct uffdio_writeprotect wp;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(r->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT ||
		    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
			continue;
		long pg = (msg.arg.pagefault.address - (unsigned long)r->area) / r->psize;

		r->reported[pg]++;
		r->nreports++;
		wp.range.start = (unsigned long)r->area + pg * r->psize;
		wp.range.len = r->psize;
		wp.mode = 0;	/* un-protect: the writer continues */
		ioctl(r->uffd, UFFDIO_WRITEPROTECT, &wp);
	}
	return NULL;
}

static void *writer(void *arg)
{
	struct run *r = arg;

	for (size_t i = 0; i < NWRITES; i++)
		r->area[writes[i] * r->psize] = 'w';
	return NULL;
}

static void demo(const char *type, const char *path, int flags, __u64 features)
{
	struct run r = { .psize = sysconf(_SC_PAGESIZE) };
	size_t len = NPAGES * r.psize;
	int fd = -1, written[NPAGES] = { 0 };
	char wset[128] = "", rset[128] = "";
	pthread_t h, w;

	if (path) {
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, len)) {
			printf("%-22s cannot create %s: %s\n", type, path, strerror(errno));
			return;
		}
	} else if (flags & MAP_SHARED) {
		fd = memfd_create("demo", 0);
		if (ftruncate(fd, len))
			return;
	}
	r.area = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (r.area == MAP_FAILED) {
		printf("%-22s mmap: %s\n", type, strerror(errno));
		return;
	}
	memset(r.area, 'r', len);	/* populate: the pages exist */
	r.uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (unsigned long)r.area, len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (r.uffd < 0 || ioctl(r.uffd, UFFDIO_API, &api)) {
		printf("%-22s userfaultfd: %s\n", type, strerror(errno));
		return;
	}
	if (ioctl(r.uffd, UFFDIO_REGISTER, &reg)) {
		printf("%-22s UFFDIO_REGISTER(MODE_WP) refused: %s%s\n", type,
		       strerror(errno),
		       (path && !(features & UFFD_FEATURE_WP_FILE)) ?
		       " (this kernel has no UFFD_FEATURE_WP_FILE)" : "");
		goto out;
	}
	struct uffdio_writeprotect wp = { .range = reg.range,
					  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	if (ioctl(r.uffd, UFFDIO_WRITEPROTECT, &wp)) {
		printf("%-22s UFFDIO_WRITEPROTECT: %s\n", type, strerror(errno));
		goto out;
	}
	pthread_create(&h, NULL, handler, &r);
	pthread_create(&w, NULL, writer, &r);
	pthread_join(w, NULL);
	r.done = 1;
	pthread_join(h, NULL);

	int same = 1;
	for (size_t i = 0; i < NWRITES; i++)
		written[writes[i]] = 1;
	for (int i = 0; i < NPAGES; i++) {
		if (written[i])
			sprintf(wset + strlen(wset), "%d ", i);
		if (r.reported[i])
			sprintf(rset + strlen(rset), "%d%s ", i,
				r.reported[i] > 1 ? "(x2)" : "");
		if (!!written[i] != !!r.reported[i] || r.reported[i] > 1)
			same = 0;
	}
	printf("%-22s written pages: %-14s reported: %-14s %s\n", type, wset,
	       rset, same ? "tracked exactly" : "MISMATCH");
out:
	munmap(r.area, len);
	close(r.uffd);
	if (fd >= 0)
		close(fd);
	if (path)
		unlink(path);
}

int main(int argc, char **argv)
{
	char path[4096];
	__u64 features = 0;
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API };

	if (uffd >= 0 && !ioctl(uffd, UFFDIO_API, &api))
		features = api.features;
	close(uffd);
	printf("uffd-wp write tracking demo: %d pages protected per memory type, %zu writes to pages",
	       NPAGES, NWRITES);
	for (size_t i = 0; i < NWRITES; i++)
		printf(" %d", writes[i]);
	printf("\nUFFD_FEATURE_WP_FILE (sync uffd-wp on regular files): %s\n\n",
	       features & UFFD_FEATURE_WP_FILE ? "supported" : "not supported");
	demo("anon", NULL, MAP_PRIVATE | MAP_ANONYMOUS, features);
	demo("shmem (memfd)", NULL, MAP_SHARED, features);
	for (int i = 1; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		char name[64];

		if (!colon)
			continue;
		snprintf(path, sizeof(path), "%s/uffd-wp-demo", colon + 1);
		snprintf(name, sizeof(name), "%.*s file, shared", (int)(colon - argv[i]), argv[i]);
		demo(name, path, MAP_SHARED, features);
		snprintf(name, sizeof(name), "%.*s file, private", (int)(colon - argv[i]), argv[i]);
		demo(name, path, MAP_PRIVATE, features);
	}
	return 0;
}
