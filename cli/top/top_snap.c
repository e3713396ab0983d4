// SPDX-License-Identifier: BSD-2-Clause
#include "model/agent_stats.h"
#include "top/top_snap.h"
#include "top/top_health.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/strmap.h"

static int add_container(struct top_pod *p, const struct snap_series *se)
{
	const struct snap_rates *sr = &se->rates;
	struct top_rates r = {
		.cpu_pct = sr->cpu_cores * 100,
		.runq_p99 = sr->runq_p99_seconds,
		.disk_r = sr->disk_read_bps,
		.disk_w = sr->disk_write_bps,
		.iops = sr->disk_iops,
		.fs_w = sr->fs_write_bps,
		.fsync = sr->fsync_per_s,
		.net_rx = sr->net_rx_bps,
		.net_tx = sr->net_tx_bps,
		.retrans = sr->retransmits_per_s,
		.mem_ws = se->delta.mem_working_set,
		.oom_kills = snap_series_value(se, M_MEMORY_OOM_KILLS),
		.rec_cpu = se->rec.ready ? se->rec.cpu_request : 0,
		.rec_mem = se->rec.ready ? se->rec.mem_request : 0,
	};
	struct top_container *c = top_pod_add_container(p, se->labels[LBL_CONTAINER],
							se->labels[LBL_CONTAINER_ID],
							se->cgroup_path, se->cgroup_id, &r);

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < se->n_listen_ports; i++) {
		if (!top_container_add_port(c, se->listen_ports[i]))
			break;
	}
	return 0;
}

/* owner[i]: the first series of series i's pod UID (i itself without a UID); count[i]: the
 * series of the pod series i owns. */
static int group_by_uid(const struct snapshot *s, size_t *owner, size_t *count)
{
	struct strmap first;

	if (strmap_init(&first))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_series; i++) {
		const char *uid = s->series[i].labels[LBL_POD_UID];
		void *v = uid[0] ? strmap_get(&first, uid) : NULL;

		owner[i] = v ? (size_t)(uintptr_t)v - 1 : i;
		count[owner[i]]++;
		if (uid[0] && !v && strmap_put(&first, uid, (void *)(uintptr_t)(i + 1))) {
			strmap_destroy(&first, NULL);
			return -ENOMEM;
		}
	}
	strmap_destroy(&first, NULL);
	return 0;
}

static int add_pods(const struct snapshot *s, struct top_snapshot *ts)
{
	size_t n = s->n_series ? s->n_series : 1;
	size_t *owner = calloc(n, sizeof(*owner)), *count = calloc(n, sizeof(*count));
	size_t *pod = calloc(n, sizeof(*pod)); /* of an owning series: its pod's index */
	int r = -ENOMEM;

	if (!owner || !count || !pod || group_by_uid(s, owner, count))
		goto out;
	for (size_t i = 0; i < s->n_series; i++) {
		const struct snap_series *se = &s->series[i];

		if (owner[i] == i) {
			pod[i] = ts->n_pods++;
			if (top_pod_init(&ts->pods[pod[i]], se->labels[LBL_NAMESPACE],
					 se->labels[LBL_POD], se->labels[LBL_POD_UID],
					 se->labels[LBL_WORKLOAD_KIND], se->labels[LBL_WORKLOAD],
					 se->labels[LBL_HELM_RELEASE], count[i]))
				goto out;
		}
		if (add_container(&ts->pods[pod[owner[i]]], se))
			goto out;
	}
	for (size_t i = 0; i < ts->n_pods; i++)
		top_rates_add(&ts->total, &ts->pods[i].r);
	r = 0;
out:
	free(owner);
	free(count);
	free(pod);
	return r;
}

int top_findings_from(const struct snapshot *s, struct top_finding **ret, size_t *ret_n)
{
	struct top_finding *fs = calloc(s->n_findings ? s->n_findings : 1, sizeof(*fs));
	size_t n = 0;

	if (!fs)
		return -ENOMEM;
	for (; n < s->n_findings; n++) {
		const struct snap_finding *f = &s->findings[n];
		time_t t = (time_t)f->since;
		char since[32];
		struct tm tm;

		/* RFC 3339, as /api/v1/findings gives it. */
		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (top_finding_init(&fs[n], f->ns, f->workload_kind, f->workload, f->helm_release,
				     f->rule, f->severity, f->suggested_kind, f->message, since))
			goto oom;
		for (unsigned e = 0; e < f->n_evidence; e++) {
			if (top_finding_add_evidence(&fs[n], f->evidence[e].name,
						     f->evidence[e].value))
				goto oom;
		}
	}
	*ret = fs;
	*ret_n = n;
	return 0;
oom:
	top_findings_free(fs, n + 1);
	return -ENOMEM;
}

static void health_sample(void *ctx, const struct agent_sample *s, bool first)
{
	(void)first;
	top_health_sample(ctx, s->family->name, s->labels, s->value);
}

void top_health_from(struct top_health *h, const struct snap_agent *a)
{
	*h = (struct top_health){
		.known = true,
		.start_time = a->start_time,
		.collections = (double)a->collections,
		.collection_errors = (double)a->collection_errors,
		.collection_seconds = a->last_collection_seconds,
	};
	/* Map overflows and probes come as the collector's own samples. */
	snap_agent_samples(a, health_sample, h);
}

int top_snapshot_from(const struct snapshot *s, struct top_snapshot **ret)
{
	struct top_snapshot *ts = top_snapshot_new(s->n_series, s->node, s->time);
	struct top_finding *fs = NULL;
	size_t n = 0;

	if (!ts || add_pods(s, ts) || top_findings_from(s, &fs, &n) ||
	    top_snapshot_take_findings(ts, fs, n)) {
		top_snapshot_free(ts);
		return -ENOMEM;
	}
	top_health_from(&ts->health, &s->agent);
	ts->health_note[0] = '\0';
	*ret = ts;
	return 0;
}
