// SPDX-License-Identifier: BSD-2-Clause
/* The resource rules (RS-*, SPEC §5): requests and limits set, and set to what the workload
 * uses. */
#include "rules/rule_def.h"

#include <math.h>
#include <stdio.h>

/* ---- RS-01 missing-resources (static) ---- */

static bool rs01_holds(const struct rule_workload *w)
{
	return w->missing_resources;
}

/* "250m" or "1.50" (cores); "4096 MiB". */
static void fmt_cpu(char *buf, size_t size, double cores)
{
	if (cores < 1)
		snprintf(buf, size, "%.0fm", cores * 1000);
	else
		snprintf(buf, size, "%.2f", cores);
}

/* A workload's right-sizing as evidence: what it used and what is recommended. */
static void rec_evidence(struct snap_finding *f, const struct rule_rec *r)
{
	rule_evidence(f, "cpu_p95_cores", r->cpu_p);
	rule_evidence(f, "recommended_cpu_request_cores", r->cpu_rec);
	rule_evidence(f, "memory_peak_bytes", r->mem_peak);
	rule_evidence(f, "recommended_memory_request_bytes", r->mem_rec);
	rule_evidence(f, "recommended_memory_limit_bytes", r->mem_limit_rec);
	rule_evidence(f, "history_seconds", r->observed);
}

static void rs01_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	const struct rule_rec *r = &w->rec;
	double cores = s->seconds > 0 ? s->cpu_s / t : 0;
	char cpu[32], p[32], mem[160] = "";

	if (!r->n) {
		snprintf(f->message, sizeof(f->message),
			 "%s %s container %s has no memory limit or no requests: set them from "
			 "observed usage (%.2f CPU cores on average; no recommendation yet: too "
			 "little history).",
			 w->kind, w->name, w->missing_resources_container, cores);
		rule_evidence(f, "cpu_cores", cores);
		return;
	}
	fmt_cpu(cpu, sizeof(cpu), r->cpu_rec);
	fmt_cpu(p, sizeof(p), r->cpu_p);
	if (r->mem_rec > 0)
		snprintf(mem, sizeof(mem),
			 " and memory %.0f MiB, and a memory limit of %.0f MiB (peak working set "
			 "%.0f MiB%s)",
			 r->mem_rec / MiB, r->mem_limit_rec / MiB, r->mem_peak / MiB,
			 r->oom ? ", raised after an OOM kill" : "");
	snprintf(f->message, sizeof(f->message),
		 "%s %s container %s has no memory limit or no requests: set, from %.0f s of "
		 "observed usage, requests cpu %s (p95 %s%s)%s.",
		 w->kind, w->name, w->missing_resources_container, r->observed, cpu, p,
		 r->cpu_floor ? ", a floor: it was throttled" : "", mem);
	rule_evidence(f, "cpu_cores", cores);
	rule_evidence(f, "cpu_usage_is_floor", r->cpu_floor);
	rec_evidence(f, r);
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

/* ---- RS-03 memory-near-limit, RS-05 oom-killed ---- */

enum { RS03_WORKING_SET_OF_LIMIT };

/* The headroom of a recommended limit over the peak working set: KRR's max + 15 %. */
#define RS03_LIMIT_MARGIN 0.15

static bool rs03_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	(void)t;
	return b->mem_limit > 0 && b->mem_ratio >= th[RS03_WORKING_SET_OF_LIMIT];
}

static bool rs03_window(const double *th, const struct rule_workload *w, const struct bucket *s)
{
	(void)th;
	(void)w;
	return s->oom_kills > 0 && s->mem_limit > 0;
}

/* A new limit: the peak working set (at a kill, the limit itself: the kill cut the peak short)
 * plus the margin, rounded up to a MiB. */
static double rs03_new_limit(const struct bucket *s, double margin)
{
	double peak = s->mem_ws > s->oom_ws ? s->mem_ws : s->oom_ws;

	if (s->oom_kills > 0 && s->mem_limit > peak)
		peak = s->mem_limit;
	return ceil(peak * (1 + margin) / MiB) * MiB;
}

static void rs03_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	double next = rs03_new_limit(s, RS03_LIMIT_MARGIN);
	char ws[32], lim[32], nl[32];

	(void)t;
	snprintf(ws, sizeof(ws), "%.0f MiB", s->mem_ws / MiB);
	snprintf(lim, sizeof(lim), "%.0f MiB", s->mem_limit / MiB);
	snprintf(nl, sizeof(nl), "%.0f MiB", next / MiB);
	snprintf(f->message, sizeof(f->message),
		 "%s %s's working set reached %s, %.0f%% of its %s memory limit, with %.0f OOM "
		 "kill(s) in the window: raise the limit to %s.",
		 w->kind, w->name, ws, s->mem_limit > 0 ? 100 * s->mem_ws / s->mem_limit : 0, lim,
		 s->oom_kills, nl);
	rule_evidence(f, "working_set_bytes", s->mem_ws);
	rule_evidence(f, "limit_bytes", s->mem_limit);
	rule_evidence(f, "working_set_of_limit", s->mem_ratio);
	rule_evidence(f, "oom_kills", s->oom_kills);
	rule_evidence(f, "recommended_limit_bytes", next);
}

/* ---- RS-04 over-provisioned ---- */

enum { RS04_REQUEST_OF_USE, RS04_CPU_SLACK, RS04_MEMORY_SLACK };

static bool rs04_cpu_over(const double *th, const struct rule_rec *r)
{
	/* Throttled use is a floor: compare with the request set above it. */
	double used = r->cpu_floor ? r->cpu_rec : r->cpu_p;

	return r->cpu_request > 0 && r->cpu_request >= th[RS04_REQUEST_OF_USE] * used &&
	       r->cpu_request - used >= th[RS04_CPU_SLACK];
}

static bool rs04_mem_over(const double *th, const struct rule_rec *r)
{
	/* After an OOM kill the peak was cut short: never over-provisioned then. */
	return r->mem_request > 0 && r->mem_peak > 0 && !r->oom &&
	       r->mem_request >= th[RS04_REQUEST_OF_USE] * r->mem_peak &&
	       r->mem_request - r->mem_peak >= th[RS04_MEMORY_SLACK];
}

static bool rs04_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)b;
	(void)t;
	return w->rec.n && (rs04_cpu_over(th, &w->rec) || rs04_mem_over(th, &w->rec));
}

static void rs04_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	const struct rule_rec *r = &w->rec;
	char req[32], p[32], rec[32], mem[160] = "";

	(void)s;
	(void)t;
	fmt_cpu(req, sizeof(req), r->cpu_request);
	fmt_cpu(p, sizeof(p), r->cpu_p);
	fmt_cpu(rec, sizeof(rec), r->cpu_rec);
	/* Memory only when it was read (a working set) and requested. */
	if (r->mem_peak > 0 && r->mem_request > 0)
		snprintf(mem, sizeof(mem),
			 "; it requests memory %.0f MiB and its working set peaked at %.0f MiB: "
			 "request %.0f MiB",
			 r->mem_request / MiB, r->mem_peak / MiB, r->mem_rec / MiB);
	snprintf(f->message, sizeof(f->message),
		 "%s %s requests cpu %s but used %s (p95 over %.0f s)%s: lower the requests to "
		 "cpu %s%s.",
		 w->kind, w->name, req, p, r->observed, r->cpu_floor ? ", throttled (a floor)" : "",
		 rec, mem);
	rule_evidence(f, "cpu_request_cores", r->cpu_request);
	rule_evidence(f, "memory_request_bytes", r->mem_request);
	rec_evidence(f, r);
}

static bool rs05_window(const double *th, const struct rule_workload *w, const struct bucket *s)
{
	(void)th;
	/* The kernel's count, or the pod status: a kill before the agent started, or one whose
	 * cgroup was gone before it was read. */
	return s->oom_kills > 0 || w->oomkilled_in_window;
}

static void rs05_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char status[96] = "";

	(void)t;
	if (w->last_oomkilled)
		snprintf(status, sizeof(status),
			 "; its pods report %d restart(s), the last one OOMKilled", w->restarts);
	if (!s->oom_kills)
		snprintf(f->message, sizeof(f->message),
			 "%s %s was OOM-killed%s (seen in its pod status, not by the kernel "
			 "probes while the agent ran): %s.",
			 w->kind, w->name, status,
			 s->mem_limit > 0 || w->f.has_memory_limit ? "raise the memory limit" :
								     "set a memory limit");
	else if (s->mem_limit > 0)
		snprintf(f->message, sizeof(f->message),
			 "%s %s was OOM-killed %.0f time(s) in the window, its working set at "
			 "%.0f MiB (usage peak %.0f MiB) of a %.0f MiB limit%s: raise the memory "
			 "limit.",
			 w->kind, w->name, s->oom_kills, s->oom_ws / MiB, s->oom_peak / MiB,
			 s->mem_limit / MiB, status);
	else
		snprintf(
			f->message, sizeof(f->message),
			"%s %s was OOM-killed %.0f time(s) in the window, its working set at "
			"%.0f MiB with no memory limit%s: the node ran out of memory; set requests "
			"and limits.",
			w->kind, w->name, s->oom_kills, s->oom_ws / MiB, status);
	rule_evidence(f, "oom_kills", s->oom_kills);
	rule_evidence(f, "working_set_bytes_at_kill", s->oom_ws);
	rule_evidence(f, "limit_bytes", s->mem_limit);
	rule_evidence(f, "peak_usage_bytes", s->oom_peak);
	rule_evidence(f, "restarts", w->restarts);
	rule_evidence(f, "last_terminated_oomkilled", w->last_oomkilled);
}

/* ---- RS-06 cpu-contention ---- */

enum { RS06_RUNQ_P99 };
/* A neighbour is named when it held the CPU for at least this share of the wait (what the
 * message says, not whether the rule fires). */
#define RS06_NAMED_SHARE 0.05

static bool rs06_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	(void)t;
	return rule_p99(b->runq_hist) > th[RS06_RUNQ_P99] && b->throttled == 0;
}

/* The neighbour of w with id, or NULL when no longer named. */
static const struct rule_neighbour *rs06_neighbour(const struct rule_workload *w, uint64_t id)
{
	for (unsigned k = 0; k < RULE_NEIGHBOURS; k++) {
		if (w->neighbours[k] && w->neighbours[k]->id == id)
			return w->neighbours[k];
	}
	return NULL;
}

/* The wait the causes are a share of. The kernel side adds causes at once but flushes the wait
 * itself from a per-CPU record up to about 10 ms later, so at a window's edge the causes can be
 * slightly ahead of it: never more than the causes themselves, so no share exceeds 100 %. */
static double rs06_wait(const struct bucket *s)
{
	double caused = 0;

	for (unsigned i = 0; i < RULE_CAUSES; i++)
		caused += s->caused[i].id ? s->caused[i].s : 0;
	return caused > s->runq_wait_s ? caused : s->runq_wait_s;
}

/* ", Deployment batch/hog 85 %" for each neighbour other than w itself holding at least
 * min_share of its wait, largest first (at most 3); their shares in the evidence. */
static void rs06_neighbours(const struct rule_workload *w, const struct bucket *s, double min_share,
			    struct snap_finding *f, char *out, size_t size)
{
	const double wait = rs06_wait(s);
	unsigned taken = 0;
	size_t len = 0;

	out[0] = '\0';
	for (int n = 0; n < 3 && wait > 0; n++) {
		const struct rule_neighbour *nb;
		/* "share:", a namespace and a name (evidence names are shorter still) */
		char ev[64 + 254 + 8];
		int best = -1;

		for (unsigned i = 0; i < RULE_CAUSES; i++) {
			if (s->caused[i].id && s->caused[i].id != w->self_id &&
			    !(taken & (1u << i)) &&
			    (best < 0 || s->caused[i].s > s->caused[best].s))
				best = (int)i;
		}
		if (best < 0 || s->caused[best].s < min_share * wait)
			break;
		taken |= 1u << best;
		if (!(nb = rs06_neighbour(w, s->caused[best].id)))
			continue;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0,
					"%s%s %s%s%s %.0f %%", len ? ", " : "", nb->kind, nb->ns,
					nb->ns[0] ? "/" : "", nb->name,
					100 * s->caused[best].s / wait);
		snprintf(ev, sizeof(ev), "share:%s%s%s", nb->ns, nb->ns[0] ? "/" : "", nb->name);
		rule_evidence(f, ev, s->caused[best].s / wait);
	}
}

static void rs06_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32], who[512];

	(void)t;
	snprintf(a, sizeof(a), "%.1f ms", rule_p99(s->runq_hist) * 1e3);
	rule_evidence(f, "runqueue_p99_seconds", rule_p99(s->runq_hist));
	rs06_neighbours(w, s, RS06_NAMED_SHARE, f, who, sizeof(who));
	snprintf(f->message, sizeof(f->message),
		 "%s %s waits %s (p99) for a CPU without being throttled: the node is "
		 "contended%s%s%s; raise its CPU request or spread it.",
		 w->kind, w->name, a, who[0] ? " (while it waited, the CPU ran " : "", who,
		 who[0] ? " of that wait)" : "");
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
		.id = RULE_RS03,
		.code = "RS-03",
		.name = "memory-near-limit",
		.severity = "high",
		.suggests = "",
		.kinds = RK_ALL,
		.local = true,
		.knobs = {
			[RS03_WORKING_SET_OF_LIMIT] = { "working_set_of_limit", 0.9, 0, 1 },
		},
		.crosses = rs03_crosses,
		.window = rs03_window,
		.describe = rs03_describe,
	},
	{
		.id = RULE_RS04,
		.code = "RS-04",
		.name = "over-provisioned",
		.severity = "low",
		.suggests = "",
		.kinds = RK_ALL,
		.knobs = {
			[RS04_REQUEST_OF_USE] = { "request_of_use", 3, 1, 1000 },
			[RS04_CPU_SLACK] = { "cpu_slack_cores", 0.2, 0, 1024 },
			[RS04_MEMORY_SLACK] = { "memory_slack_bytes", 268435456, 0, 1e15 },
		},
		.crosses = rs04_crosses,
		.describe = rs04_describe,
	},
	{
		.id = RULE_RS05,
		.code = "RS-05",
		.name = "oom-killed",
		.severity = "high",
		.suggests = "",
		.kinds = RK_ALL,
		.local = true,
		.window = rs05_window,
		.describe = rs05_describe,
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
