// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int dup_into(char **dst, const char *s)
{
	*dst = strdup(s ? s : "");
	return *dst ? 0 : -ENOMEM;
}

static void container_clear(struct top_container *c)
{
	free(c->name);
	free(c->id);
	free(c->cgroup_path);
}

static void pod_clear(struct top_pod *p)
{
	free(p->ns);
	free(p->pod);
	free(p->uid);
	free(p->kind);
	free(p->workload);
	free(p->release);
	free(p->key);
	free(p->node);
	free(p->finding_ids);
	for (size_t i = 0; i < p->n_ctrs; i++)
		container_clear(&p->ctrs[i]);
	free(p->ctrs);
}

static void finding_clear(struct top_finding *f)
{
	char **strs[] = { &f->ns,	&f->kind,      &f->workload, &f->release, &f->rule,
			  &f->severity, &f->suggested, &f->message,  &f->since,	  &f->node };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (size_t i = 0; i < f->n_ev; i++)
		free(f->ev[i].name);
	free(f->ev);
}

void top_findings_free(struct top_finding *fs, size_t n)
{
	for (size_t i = 0; fs && i < n; i++)
		finding_clear(&fs[i]);
	free(fs);
}

struct top_snapshot *top_snapshot_new(size_t n, const char *node, double time)
{
	struct top_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pods = calloc(n ? n : 1, sizeof(*s->pods));
	if (!s->pods || dup_into(&s->node, node))
		return top_snapshot_free(s);
	s->time = time;
	snprintf(s->findings_note, sizeof(s->findings_note), "not read");
	snprintf(s->health_note, sizeof(s->health_note), "not read");
	return s;
}

struct top_snapshot *top_snapshot_free(struct top_snapshot *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_pods; i++)
		pod_clear(&s->pods[i]);
	free(s->pods);
	top_findings_free(s->findings, s->n_findings);
	for (size_t i = 0; i < s->n_nodes; i++) {
		free(s->nodes[i].name);
		free(s->nodes[i].agent);
		free(s->nodes[i].why);
	}
	free(s->nodes);
	free(s->node);
	free(s);
	return NULL;
}

void top_rates_add(struct top_rates *sum, const struct top_rates *r)
{
	sum->cpu_pct += r->cpu_pct;
	if (r->runq_p99 > sum->runq_p99)
		sum->runq_p99 = r->runq_p99;
	sum->disk_r += r->disk_r;
	sum->disk_w += r->disk_w;
	sum->iops += r->iops;
	sum->fs_w += r->fs_w;
	sum->fsync += r->fsync;
	sum->net_rx += r->net_rx;
	sum->net_tx += r->net_tx;
	sum->retrans += r->retrans;
	sum->mem_ws += r->mem_ws;
	sum->oom_kills += r->oom_kills;
	sum->rec_cpu += r->rec_cpu;
	sum->rec_mem += r->rec_mem;
}

int top_pod_init(struct top_pod *p, const char *ns, const char *pod, const char *uid,
		 const char *kind, const char *workload, const char *release, size_t n)
{
	size_t keylen;

	if (dup_into(&p->ns, ns) || dup_into(&p->pod, pod) || dup_into(&p->uid, uid) ||
	    dup_into(&p->kind, kind) || dup_into(&p->workload, workload) ||
	    dup_into(&p->release, release) || dup_into(&p->finding_ids, ""))
		return -ENOMEM;
	keylen = strlen(p->uid) + strlen(p->ns) + strlen(p->kind) + strlen(p->workload) +
		 strlen(p->pod) + 8;
	p->key = malloc(keylen);
	if (!p->key)
		return -ENOMEM;
	if (p->uid[0])
		snprintf(p->key, keylen, "%s", p->uid);
	else
		snprintf(p->key, keylen, "%s/%s/%s/%s", p->ns, p->kind, p->workload, p->pod);
	p->ctrs = calloc(n ? n : 1, sizeof(*p->ctrs));
	return p->ctrs ? 0 : -ENOMEM;
}

struct top_container *top_pod_add_container(struct top_pod *p, const char *name, const char *id,
					    const char *cgroup_path, uint64_t cgroup_id,
					    const struct top_rates *r)
{
	struct top_container *c;

	if (p->n_ctrs >= TOP_MAX_CONTAINERS)
		return NULL;
	c = &p->ctrs[p->n_ctrs++];
	if (dup_into(&c->name, name) || dup_into(&c->id, id) ||
	    dup_into(&c->cgroup_path, cgroup_path))
		return NULL;
	c->cgroup_id = cgroup_id;
	c->r = *r;
	top_rates_add(&p->r, r);
	return c;
}

bool top_container_add_port(struct top_container *c, int port)
{
	size_t len = strlen(c->ports), size = sizeof(c->ports);
	int n = snprintf(c->ports + len, size - len, "%s%d", len ? "," : "", port);

	if (n < 0 || (size_t)n >= size - len) {
		c->ports[len] = '\0';
		return false;
	}
	return true;
}

enum top_severity top_severity_parse(const char *s)
{
	static const char *const names[] = { "", "info", "low", "medium", "high", "critical" };

	for (int i = TOP_SEV_CRITICAL; i > TOP_SEV_NONE; i--) {
		if (strcasecmp(s, names[i]) == 0)
			return (enum top_severity)i;
	}
	return TOP_SEV_NONE;
}

const char *top_severity_tag(enum top_severity sev)
{
	static const char *const tags[] = { "", "INFO", "LOW", "MED", "HIGH", "CRIT" };

	return (unsigned)sev <= TOP_SEV_CRITICAL ? tags[sev] : "";
}

int top_finding_init(struct top_finding *f, const char *ns, const char *kind, const char *workload,
		     const char *release, const char *rule, const char *severity,
		     const char *suggested, const char *message, const char *since)
{
	if (dup_into(&f->ns, ns) || dup_into(&f->kind, kind) || dup_into(&f->workload, workload) ||
	    dup_into(&f->release, release) || dup_into(&f->rule, rule) ||
	    dup_into(&f->severity, severity) || dup_into(&f->suggested, suggested) ||
	    dup_into(&f->message, message) || dup_into(&f->since, since))
		return -ENOMEM;
	f->sev = top_severity_parse(f->severity);
	return 0;
}

int top_finding_add_evidence(struct top_finding *f, const char *name, double value)
{
	if (f->n_ev == TOP_MAX_EVIDENCE)
		return 0;
	if (!f->ev && !(f->ev = calloc(TOP_MAX_EVIDENCE, sizeof(*f->ev))))
		return -ENOMEM;
	if (dup_into(&f->ev[f->n_ev].name, name))
		return -ENOMEM;
	f->ev[f->n_ev++].value = value;
	return 0;
}

static int cmp_findings(const void *a, const void *b)
{
	const struct top_finding *x = a, *y = b;
	int c;

	if (x->sev != y->sev)
		return x->sev > y->sev ? -1 : 1;
	if ((c = strcmp(x->ns, y->ns)) || (c = strcmp(x->workload, y->workload)) ||
	    (c = strcmp(x->kind, y->kind)) || (c = strcmp(x->rule, y->rule)) ||
	    (c = strcmp(x->message, y->message)))
		return c;
	return strcmp(x->node ? x->node : "", y->node ? y->node : "");
}

void top_findings_sort(struct top_finding *fs, size_t n)
{
	qsort(fs, n, sizeof(*fs), cmp_findings);
}

static bool finding_of(const struct top_finding *f, const struct top_pod *p)
{
	return strcmp(f->ns, p->ns) == 0 && strcmp(f->kind, p->kind) == 0 &&
	       strcmp(f->workload, p->workload) == 0;
}

/* Rule ids of p's findings in findings order (worst first), each once. */
static int tag_pod(struct top_pod *p, const struct top_finding *fs, size_t n)
{
	size_t len = 0, cap = 1;
	char *ids;

	for (size_t i = 0; i < n; i++)
		cap += finding_of(&fs[i], p) ? strlen(fs[i].rule) + 1 : 0;
	ids = calloc(1, cap);
	if (!ids)
		return -ENOMEM;
	p->worst = TOP_SEV_NONE;
	for (size_t i = 0; i < n; i++) {
		const char *rule = fs[i].rule, *hit;
		size_t rl = strlen(rule);
		bool dup = false;

		if (!finding_of(&fs[i], p) || !rl)
			continue;
		if (fs[i].sev > p->worst)
			p->worst = fs[i].sev;
		for (hit = strstr(ids, rule); hit && !dup; hit = strstr(hit + 1, rule))
			dup = (hit == ids || hit[-1] == ',') && (hit[rl] == ',' || !hit[rl]);
		if (dup)
			continue;
		len += (size_t)snprintf(ids + len, cap - len, "%s%s", len ? "," : "", rule);
	}
	free(p->finding_ids);
	p->finding_ids = ids;
	return 0;
}

int top_snapshot_take_findings(struct top_snapshot *s, struct top_finding *fs, size_t n)
{
	top_findings_sort(fs, n);
	for (size_t i = 0; i < s->n_pods; i++) {
		if (tag_pod(&s->pods[i], fs, n)) {
			top_findings_free(fs, n);
			return -ENOMEM;
		}
	}
	top_findings_free(s->findings, s->n_findings);
	s->findings = fs;
	s->n_findings = n;
	s->findings_known = true;
	s->findings_note[0] = '\0';
	return 0;
}
