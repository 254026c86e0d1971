// SPDX-License-Identifier: GPL-2.0
/* cases.c: the one case runner of the C tests (see cases.h) */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uffdwp.h"
#include "cases.h"

struct case_result *case_res;

static struct case_result *result_page(void)
{
	if (!case_res) {
		case_res = mmap(NULL, sizeof(*case_res), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (case_res == MAP_FAILED) {
			perror("cases: mmap");
			exit(1);
		}
	}
	return case_res;
}

void cases_start(struct case_runner *r, const char *test, int plan, int budget_s,
		 int timeout_s, const char *const *stat_name)
{
	memset(r, 0, sizeof(*r));
	r->test = test;
	r->start_ms = now_ms();
	r->budget_ms = budget_s * 1000LL;
	r->timeout_ms = timeout_s * 1000;
	r->stat_name = stat_name;
	result_page();
	if (plan >= 0)
		tap_plan(plan);
}

int64_t cases_left_ms(const struct case_runner *r)
{
	return r->budget_ms - (now_ms() - r->start_ms);
}

static void vpoint(int rc, const char *reason, const char *note, const char *fmt, va_list ap)
{
	char desc[900];

	vsnprintf(desc, sizeof(desc), fmt, ap);
	if (rc == PASS && note && note[0])
		tap_result(rc, NULL, "%s: %s", desc, note);
	else
		tap_result(rc, reason, "%s", desc);
}

void case_point(struct case_runner *r, int rc, const char *reason, const char *fmt, ...)
{
	va_list ap;

	(void)r;
	va_start(ap, fmt);
	vpoint(rc, reason, NULL, fmt, ap);
	va_end(ap);
}

int case_run(struct case_runner *r, int (*fn)(const void *arg), const void *arg,
	     int timeout_ms, const char *fmt, ...)
{
	struct case_result *res = result_page();
	struct isolated iso;
	int64_t left = cases_left_ms(r);
	va_list ap;
	int rc, i;

	if (!timeout_ms)
		timeout_ms = r->timeout_ms;
	memset(res, 0, sizeof(*res));
	if (left <= 0) {
		fail("time budget of %lld s exhausted", (long long)r->budget_ms / 1000);
		rc = FAIL;
	} else {
		rc = run_isolated(fn, arg, left < timeout_ms ? (int)left : timeout_ms, &iso);
		if (iso.why[0])
			fail("case %s", iso.why);
		if (r->after && iso.pid > 0)
			r->after(arg, iso.pid);
		if (rc == PASS || rc == FAIL) {
			r->ran++;
			for (i = 0; i < CASE_STATS; i++)
				r->total[i] += res->stat[i];
		}
	}
	va_start(ap, fmt);
	vpoint(rc, res->skip[0] ? res->skip : "not supported", res->note, fmt, ap);
	va_end(ap);
	return rc;
}

int case_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(result_page()->skip, sizeof(case_res->skip), fmt, ap);
	va_end(ap);
	return SKIP;
}

void case_note(const char *fmt, ...)
{
	char *note = result_page()->note;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(note, sizeof(case_res->note), fmt, ap);
	va_end(ap);
}

int cases_end(struct case_runner *r)
{
	char line[512] = "";
	int i, o = 0;

	if (r->stat_name) {
		for (i = 0; i < CASE_STATS && r->stat_name[i]; i++)
			o += snprintf(line + o, sizeof(line) - o, " %s=%llu", r->stat_name[i],
				      (unsigned long long)r->total[i]);
		diag("stats:%s", line);
	}
	return tap_totals(r->start_ms);
}
