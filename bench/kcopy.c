// SPDX-License-Identifier: GPL-2.0
/*
 * kcopy: what one page copy costs when the kernel makes it, measured from
 * user space in the same boot as the other rows: pread(2) of a whole page
 * of a memfd (shmem, in the page cache) minus pread(2) of 8 bytes of it,
 * per call.  The kernel copies to user space with the same string
 * instructions it uses for its own page copies (rep movsb on CPUs with
 * ERMS/FSRM, which copy_mc_to_kernel() uses too): under QEMU TCG these are
 * emulated far more slowly than a user-space memcpy(), which uses vector
 * registers, so the floor of copy-before-write ("a fault the kernel
 * resolves alone + one page copy") is given with both copies.
 *
 * Output: one line "kcopy: page N ns (rounds: a b c ...), 8 bytes M ns,
 * copy K ns" with the median of R rounds of I calls each.  Not a test.
 *
 *   kcopy [-r ROUNDS] [-i ITERATIONS]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#define NPAGES 256

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ns per pread of len bytes, cycling over the file's pages */
static double round_ns(int fd, char *buf, size_t len, long psize, int iters)
{
	uint64_t t0 = now_ns();
	int i;

	for (i = 0; i < iters; i++)
		if (pread(fd, buf, len, (off_t)(i % NPAGES) * psize) != (ssize_t)len) {
			perror("pread");
			exit(1);
		}
	return (double)(now_ns() - t0) / iters;
}

int main(int argc, char **argv)
{
	long psize = sysconf(_SC_PAGESIZE);
	int rounds = 7, iters = 2000, opt, r, fd;
	double page[64], small[64];
	char *buf;

	while ((opt = getopt(argc, argv, "r:i:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'i')
			iters = atoi(optarg);
		else
			return 2;
	}
	if (rounds < 1 || rounds > 64 || iters < 1)
		return 2;
	fd = memfd_create("kcopy", 0);
	buf = aligned_alloc(psize, psize);
	if (fd < 0 || !buf || ftruncate(fd, NPAGES * psize)) {
		perror("kcopy setup");
		return 1;
	}
	memset(buf, 0x5a, psize);
	for (r = 0; r < NPAGES; r++)
		if (pwrite(fd, buf, psize, (off_t)r * psize) != psize)
			return 1;
	round_ns(fd, buf, psize, psize, iters);	/* warm-up */
	for (r = 0; r < rounds; r++) {
		page[r] = round_ns(fd, buf, psize, psize, iters);
		small[r] = round_ns(fd, buf, 8, psize, iters);
	}
	printf("kcopy: rounds");
	for (r = 0; r < rounds; r++)
		printf(" %.0f/%.0f", page[r], small[r]);
	qsort(page, rounds, sizeof(double), cmp);
	qsort(small, rounds, sizeof(double), cmp);
	printf("; median page %.0f ns, 8 bytes %.0f ns, page copy %.0f ns\n",
	       page[rounds / 2], small[rounds / 2], page[rounds / 2] - small[rounds / 2]);
	return 0;
}
