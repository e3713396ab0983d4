/* The resource rules (RS-*, SPEC §5): requests and limits set, and set to what the workload
 * uses. */
#include "rules/rule_def.h"

#include <stdio.h>

/* ---- RS-01 missing-resources (static) ---- */

static bool rs01_holds(const struct rule_workload *w)
{
	return w->missing_resources;
}

static void rs01_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	double cores = s->seconds > 0 ? s->cpu_s / t : 0;

	snprintf(f->message, sizeof(f->message),
		 "%s %s container %s has no memory limit or no requests: set them from "
		 "observed usage (%.2f CPU cores on average).",
		 w->kind, w->name, w->missing_resources_container, cores);
	rule_evidence(f, "cpu_cores", cores);
}

/* ---- RS-02 cpu-throttled ---- */

enum { RS02_THROTTLED_RATIO, RS02_USAGE_OF_LIMIT };

static bool rs02_applies(const struct rule_workload *w)
{
	return w->f.has_cpu_limit;
}

static bool rs02_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	(void)t;
	return b->periods > 0 && b->throttled / b->periods > th[RS02_THROTTLED_RATIO] &&
	       b->limit_core_s > 0 && b->cpu_s >= th[RS02_USAGE_OF_LIMIT] * b->limit_core_s;
}

static void rs02_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	double throttled = s->periods > 0 ? s->throttled / s->periods : 0;
	double usage = s->limit_core_s > 0 ? s->cpu_s / s->limit_core_s : 0;

	(void)t;
	snprintf(f->message, sizeof(f->message),
		 "%s %s was throttled in %.0f%% of CPU periods while using %.0f%% of its "
		 "limit: raise or drop the CPU limit.",
		 w->kind, w->name, s->periods > 0 ? 100 * s->throttled / s->periods : 0,
		 s->limit_core_s > 0 ? 100 * s->cpu_s / s->limit_core_s : 0);
	rule_evidence(f, "throttled_ratio", throttled);
	rule_evidence(f, "usage_of_limit", usage);
}

/* ---- RS-06 cpu-contention ---- */

enum { RS06_RUNQ_P99 };

static bool rs06_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	(void)t;
	return rule_p99(b->runq_hist) > th[RS06_RUNQ_P99] && b->throttled == 0;
}

static void rs06_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32];

	(void)t;
	snprintf(a, sizeof(a), "%.1f ms", rule_p99(s->runq_hist) * 1e3);
	snprintf(f->message, sizeof(f->message),
		 "%s %s waits %s (p99) for a CPU without being throttled: the node is "
		 "contended; raise its CPU request or spread it.",
		 w->kind, w->name, a);
	rule_evidence(f, "runqueue_p99_seconds", rule_p99(s->runq_hist));
}

const struct rule_def rules_rs[] = {
	{
		.id = RULE_RS01,
		.code = "RS-01",
		.name = "missing-resources",
		.severity = "medium",
		.suggests = "",
		.kinds = RK_ALL,
		.holds = rs01_holds,
		.describe = rs01_describe,
	},
	{
		.id = RULE_RS02,
		.code = "RS-02",
		.name = "cpu-throttled",
		.severity = "medium",
		.suggests = "",
		.kinds = RK_ALL,
		.local = true,
		.applies = rs02_applies,
		.knobs = {
			[RS02_THROTTLED_RATIO] = { "throttled_ratio", 0.25, 0, 1 },
			[RS02_USAGE_OF_LIMIT] = { "usage_of_limit", 0.6, 0, 10 },
		},
		.crosses = rs02_crosses,
		.describe = rs02_describe,
	},
	{
		.id = RULE_RS06,
		.code = "RS-06",
		.name = "cpu-contention",
		.severity = "low",
		.suggests = "",
		.kinds = RK_ALL,
		.local = true,
		.knobs = {
			[RS06_RUNQ_P99] = { "runqueue_p99_seconds", 0.005, 0, 3600 },
		},
		.crosses = rs06_crosses,
		.describe = rs06_describe,
	},
};

const size_t rules_rs_n = sizeof(rules_rs) / sizeof(rules_rs[0]);
