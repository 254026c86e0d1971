/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cases.h: the one case runner of the C tests.
 *
 * A test is a table of cases.  The runner runs each case in a process of its
 * own (run_isolated(): its own process group, killed with the group when the
 * case overruns its timeout), hands it a result in shared memory (the SKIP
 * reason, a note for the ok line, counters), keeps the whole run inside its
 * time budget, prints one TAP point per case, and at the end the
 * "# stats: name=N ..." line (counters summed over the cases that ran) and
 * the totals.  A test's main():
 *
 *	struct case_runner r;
 *
 *	cases_start(&r, "uffd-foo", ncases, BUDGET_S, CASE_TIMEOUT_S, stat_names);
 *	for (i = 0; i < ncases; i++)
 *		case_run(&r, run_one, &table[i], 0, "%s %s", table[i].name, mt->name);
 *	return cases_end(&r);
 *
 * and a case returns PASS, FAIL (after fail("why")), or case_skip("why").
 * Include it after uffdwp.h.
 */
#ifndef UFFDWP_CASES_H
#define UFFDWP_CASES_H

#include <stdint.h>
#include <sys/types.h>

#include "uffdwp.h"

#define CASE_STATS	8

/* what a case leaves for the runner: MAP_SHARED, zeroed before each case */
struct case_result {
	char skip[160];			/* the reason of a SKIP (case_skip()) */
	char note[160];			/* after the point name of an ok line */
	uint64_t stat[CASE_STATS];	/* counters, summed into "# stats:" */
};

/* in a case's process: its result */
extern struct case_result *case_res;

struct case_runner {
	const char *test;		/* the test's name */
	int64_t start_ms;
	int64_t budget_ms;		/* the whole run */
	int timeout_ms;			/* a case, unless case_run() says otherwise */
	const char *const *stat_name;	/* NULL-terminated: the counters' names */
	uint64_t total[CASE_STATS];
	int ran;			/* cases that ended PASS or FAIL */
	/* optional: called in the runner after each case that was started */
	void (*after)(const void *arg, pid_t pid);
};

/*
 * Set the runner up and print the TAP plan (plan < 0: none, the test prints
 * its own): budget_s for the whole run, timeout_s for a case.  stat_name:
 * the counters' names, NULL-terminated (NULL: no "# stats:" line).
 */
void cases_start(struct case_runner *r, const char *test, int plan, int budget_s,
		 int timeout_s, const char *const *stat_name);

/*
 * Run fn(arg) as a case: one TAP point named by fmt (with the case's note
 * after it when it passed).  timeout_ms 0: the runner's.  Past the budget
 * the case is not started and fails.  Returns PASS, FAIL or SKIP.
 */
int case_run(struct case_runner *r, int (*fn)(const void *arg), const void *arg,
	     int timeout_ms, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* a point for a case that is not run: PASS, FAIL or SKIP with reason */
void case_point(struct case_runner *r, int rc, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* the time left of the budget, in ms (<= 0: exhausted) */
int64_t cases_left_ms(const struct case_runner *r);

/*
 * Print "# stats: name=N ..." and the totals; the exit status of the test
 * (1 when a point failed).
 */
int cases_end(struct case_runner *r);

/* in a case: SKIP with the reason (printf format) */
int case_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* in a case: the note of its ok line (printf format) */
void case_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* in a case: add n to counter i */
static inline void case_count(int i, uint64_t n)
{
	if (case_res && i >= 0 && i < CASE_STATS)
		__atomic_fetch_add(&case_res->stat[i], n, __ATOMIC_RELAXED);
}

#endif /* UFFDWP_CASES_H */
