/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BENCH_CBW_UAPI_H
#define BENCH_CBW_UAPI_H
#include <linux/types.h>
#include <linux/userfaultfd.h>
/*
 * Copy-before-write (series 4-cbw): the uapi of build/headers when it has
 * it, else these copies (a kernel without the feature gives SKIP rows).
 */
#ifndef UFFD_FEATURE_WP_COPY
#define UFFD_FEATURE_WP_COPY		(1ULL << 20)
#endif
#endif
