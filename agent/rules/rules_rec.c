// SPDX-License-Identifier: BSD-2-Clause
/* The rules engine's right-sizing step: each container's interval into its history, its
 * recommendation onto its series (points and typed), and its workload's summary for RS-01 and
 * RS-04. */
#include "rules/recommend.h"
#include "rules/rule_def.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static int add_points(struct snap_series *se, const struct rec_values *v)
{
	const char *cpu_req[METRIC_MAX_OWN_LABELS] = { "cpu", "request" };
	const char *mem_req[METRIC_MAX_OWN_LABELS] = { "memory", "request" };
	const char *mem_lim[METRIC_MAX_OWN_LABELS] = { "memory", "limit" };

	if (snap_series_add(se, M_RECOMMENDATION, cpu_req, v->cpu_request))
		return -ENOMEM;
	if (v->mem_request > 0 && (snap_series_add(se, M_RECOMMENDATION, mem_req, v->mem_request) ||
				   snap_series_add(se, M_RECOMMENDATION, mem_lim, v->mem_limit)))
		return -ENOMEM;
	return 0;
}

static void merge(struct rule_rec *s, const char *name, const struct rules_facts *f,
		  const struct rec_values *v)
{
	for (unsigned i = 0; i < s->n && i < 8; i++) {
		if (strcmp(s->names[i], name) == 0)
			return; /* another replica of a container counted already */
	}
	if (s->n < 8)
		s->names[s->n] = name;
	s->observed = s->n ? fmin(s->observed, v->observed) : v->observed;
	s->n++;
	s->cpu_request += f->cpu_request;
	s->mem_request += f->memory_request;
	s->cpu_p += v->cpu_p;
	s->cpu_rec += v->cpu_request;
	s->mem_peak += v->mem_peak;
	s->mem_rec += v->mem_request;
	s->mem_limit_rec += v->mem_limit;
	s->cpu_floor |= v->cpu_floor;
	s->oom |= v->oom;
}

int rules_rec_series(struct recommender *rec, struct snap_series *se, const struct rules_facts *f,
		     struct rule_workload *w, double now)
{
	char key[REC_KEY_MAX];
	struct rec_values v;

	rec_key(key, sizeof(key), f->ns, f->workload_kind, f->workload, se->labels[LBL_CONTAINER]);
	if (se->delta.seconds > 0 && rec_add(rec, key, &se->delta, now))
		return -ENOMEM;
	if (rec_get(rec, key, now, &v))
		return 0;
	se->rec = (struct snap_rec){
		.ready = true,
		.cpu_floor = v.cpu_floor,
		.oom = v.oom,
		.cpu_request = v.cpu_request,
		.mem_request = v.mem_request,
		.mem_limit = v.mem_limit,
		.cpu_p = v.cpu_p,
		.mem_peak = v.mem_peak,
	};
	if (w)
		merge(&w->rec, se->labels[LBL_CONTAINER], f, &v);
	return add_points(se, &v);
}
