// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_merge.h"
#include "top/top_health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *node_key(const char *node, const char *key)
{
	size_t len = strlen(node) + strlen(key) + 2;
	char *k = malloc(len);

	if (k)
		snprintf(k, len, "%s/%s", node, key);
	return k;
}

/* Moves the pods and findings of part p into m (findings into fs at *nf). */
static int take_part(struct top_snapshot *m, struct top_finding *fs, size_t *nf,
		     const struct top_part *p)
{
	struct top_snapshot *s = p->s;

	for (size_t i = 0; i < s->n_pods; i++) {
		struct top_pod *d = &m->pods[m->n_pods];
		char *key = node_key(p->node, s->pods[i].key), *node = strdup(p->node);

		if (!key || !node) {
			free(key);
			free(node);
			return -ENOMEM;
		}
		*d = s->pods[i];
		free(d->key);
		d->key = key;
		d->node = node;
		memset(&s->pods[i], 0, sizeof(s->pods[i]));
		m->n_pods++;
	}
	for (size_t i = 0; i < s->n_findings; i++) {
		char *node = strdup(p->node);

		if (!node)
			return -ENOMEM;
		fs[*nf] = s->findings[i];
		fs[*nf].node = node;
		memset(&s->findings[i], 0, sizeof(s->findings[i]));
		(*nf)++;
	}
	top_rates_add(&m->total, &s->total);
	if (s->time > m->time)
		m->time = s->time;
	return 0;
}

static int node_init(struct top_node *d, const struct top_part *p)
{
	const struct top_snapshot *s = p->s;

	d->name = strdup(p->node ? p->node : "");
	d->agent = strdup(p->agent ? p->agent : "");
	d->why = strdup(s ? "" : p->why && p->why[0] ? p->why : "no answer");
	if (!d->name || !d->agent || !d->why)
		return -ENOMEM;
	if (!s) {
		snprintf(d->health_note, sizeof(d->health_note), "no answer");
		return 0;
	}
	d->n_pods = s->n_pods;
	d->n_findings = s->n_findings;
	d->time = s->time;
	d->health = s->health;
	snprintf(d->health_note, sizeof(d->health_note), "%s", s->health_note);
	return 0;
}

static int cmp_nodes(const void *a, const void *b)
{
	const struct top_node *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->agent, y->agent);
}

int top_snapshot_merge(struct top_part *parts, size_t n, struct top_snapshot **ret)
{
	struct top_snapshot *m = NULL;
	struct top_finding *fs = NULL;
	size_t n_pods = 0, n_findings = 0, nf = 0;
	const char *note = NULL;
	int r = -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		if (!parts[i].s)
			continue;
		n_pods += parts[i].s->n_pods;
		n_findings += parts[i].s->n_findings;
	}
	m = top_snapshot_new(n_pods, "", 0);
	fs = calloc(n_findings ? n_findings : 1, sizeof(*fs));
	if (!m || !fs || !(m->nodes = calloc(n ? n : 1, sizeof(*m->nodes))))
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct top_snapshot *s = parts[i].s;

		if (node_init(&m->nodes[m->n_nodes++], &parts[i]))
			goto out;
		if (!s)
			continue;
		if (take_part(m, fs, &nf, &parts[i]))
			goto out;
		if (s->findings_known)
			m->findings_known = true;
		else if (!note)
			note = s->findings_note;
	}
	qsort(m->nodes, m->n_nodes, sizeof(*m->nodes), cmp_nodes);
	top_findings_sort(fs, nf);
	m->findings = fs;
	m->n_findings = nf;
	fs = NULL;
	if (m->findings_known)
		m->findings_note[0] = '\0';
	else
		snprintf(m->findings_note, sizeof(m->findings_note), "%s",
			 note ? note : "unavailable: no node answered");
	snprintf(m->health_note, sizeof(m->health_note), "per node");
	*ret = m;
	m = NULL;
	r = 0;
out:
	top_findings_free(fs, nf);
	top_snapshot_free(m);
	for (size_t i = 0; i < n; i++)
		parts[i].s = top_snapshot_free(parts[i].s);
	return r;
}

size_t top_nodes_answered(const struct top_snapshot *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		k += !s->nodes[i].why[0];
	return k;
}

int top_node_line(const struct top_node *nd, double now, double stale_after, char *buf, size_t size)
{
	struct top_snapshot one = { .time = nd->time, .health = nd->health };

	if (nd->why[0]) {
		snprintf(buf, size, "NO-ANSWER: %s", nd->why);
		return 2;
	}
	snprintf(one.health_note, sizeof(one.health_note), "%s", nd->health_note);
	return top_health_line(&one, now, stale_after, buf, size);
}

int top_nodes_line(const struct top_snapshot *s, char *buf, size_t size)
{
	size_t answered = top_nodes_answered(s), len;
	int n = snprintf(buf, size, "%zu of %zu answer", answered, s->n_nodes);

	len = n < 0 ? 0 : (size_t)n;
	for (size_t i = 0, k = 0; i < s->n_nodes && len < size; i++) {
		const struct top_node *nd = &s->nodes[i];

		if (!nd->why[0])
			continue;
		n = snprintf(buf + len, size - len, "%s%s",
			     k++ ? ", " : "; NO-ANSWER: ", nd->name[0] ? nd->name : nd->agent);
		len += n < 0 ? 0 : (size_t)n;
	}
	return answered == s->n_nodes ? 0 : 2;
}
