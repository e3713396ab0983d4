// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_rows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const sort_names[TOP_SORT_MAX] = { "cpu", "runq",	"disk", "iops", "fsync",
						      "net", "retrans", "mem",	"name" };

const char *top_sort_name(enum top_sort key)
{
	return (unsigned)key < TOP_SORT_MAX ? sort_names[key] : "?";
}

int top_sort_parse(const char *s, enum top_sort *ret)
{
	for (int i = 0; i < TOP_SORT_MAX; i++) {
		if (strcmp(s, sort_names[i]) == 0) {
			*ret = (enum top_sort)i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool has_ci(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle) != NULL;
}

bool top_pod_matches(const struct top_pod *p, const struct top_filter *f)
{
	const char *t;

	if (!f)
		return true;
	if (f->ns && f->ns[0] && strcmp(f->ns, p->ns) != 0)
		return false;
	if (f->release && f->release[0] && strcmp(f->release, p->release) != 0)
		return false;
	t = f->text;
	if (!t || !t[0])
		return true;
	if (has_ci(p->ns, t) || has_ci(p->pod, t) || has_ci(p->kind, t) || has_ci(p->workload, t) ||
	    has_ci(p->release, t) || has_ci(p->finding_ids, t) || has_ci(p->uid, t) ||
	    has_ci(p->node, t))
		return true;
	for (size_t i = 0; i < p->n_ctrs; i++) {
		if (has_ci(p->ctrs[i].name, t) || has_ci(p->ctrs[i].id, t) ||
		    has_ci(p->ctrs[i].cgroup_path, t))
			return true;
	}
	return false;
}

bool top_finding_matches(const struct top_finding *fi, const struct top_filter *f)
{
	const char *t;

	if (!f)
		return true;
	if (f->ns && f->ns[0] && strcmp(f->ns, fi->ns) != 0)
		return false;
	if (f->release && f->release[0] && strcmp(f->release, fi->release) != 0)
		return false;
	t = f->text;
	return !t || !t[0] || has_ci(fi->ns, t) || has_ci(fi->kind, t) || has_ci(fi->workload, t) ||
	       has_ci(fi->release, t) || has_ci(fi->rule, t) || has_ci(fi->message, t) ||
	       has_ci(fi->node, t);
}

bool top_keyset_has(const struct top_keyset *ks, const char *key)
{
	for (size_t i = 0; ks && i < ks->n; i++) {
		if (strcmp(ks->keys[i], key) == 0)
			return true;
	}
	return false;
}

int top_keyset_toggle(struct top_keyset *ks, const char *key)
{
	char **keys, *k;

	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(ks->keys[i], key) == 0) {
			free(ks->keys[i]);
			ks->keys[i] = ks->keys[--ks->n];
			return 0;
		}
	}
	keys = realloc(ks->keys, (ks->n + 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	ks->keys = keys;
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	ks->keys[ks->n++] = k;
	return 0;
}

void top_keyset_clear(struct top_keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		free(ks->keys[i]);
	free(ks->keys);
	*ks = (struct top_keyset){ 0 };
}

static double sort_value(const struct top_rates *r, enum top_sort key)
{
	switch (key) {
	case TOP_SORT_RUNQ:
		return r->runq_p99;
	case TOP_SORT_DISK:
		return r->disk_r + r->disk_w;
	case TOP_SORT_IOPS:
		return r->iops;
	case TOP_SORT_FSYNC:
		return r->fsync;
	case TOP_SORT_NET:
		return r->net_rx + r->net_tx;
	case TOP_SORT_RETRANS:
		return r->retrans;
	case TOP_SORT_MEM:
		return r->mem_ws;
	case TOP_SORT_NAME:
		return 0;
	case TOP_SORT_CPU:
	case TOP_SORT_MAX:
		break;
	}
	return r->cpu_pct;
}

/* qsort has no context argument: the key travels beside the element. */
struct sortable {
	const void *item;
	double v;
	const char *names[4];
};

static int cmp_sortable(const void *a, const void *b)
{
	const struct sortable *x = a, *y = b;
	int c;

	if (x->v != y->v)
		return x->v < y->v ? 1 : -1;
	for (int i = 0; i < 4; i++) {
		if ((c = strcmp(x->names[i], y->names[i])))
			return c;
	}
	return 0;
}

int top_rows_build(const struct top_snapshot *s, enum top_sort key, const struct top_filter *f,
		   const struct top_keyset *expanded, struct top_row **ret, size_t *ret_n)
{
	struct sortable *pods = calloc(s->n_pods ? s->n_pods : 1, sizeof(*pods)), *cs = NULL;
	struct top_row *rows = NULL;
	size_t np = 0, nr = 0, cap = 0;

	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_pods; i++) {
		const struct top_pod *p = &s->pods[i];

		if (!top_pod_matches(p, f))
			continue;
		pods[np++] = (struct sortable){ p,
						sort_value(&p->r, key),
						{ p->ns, p->workload, p->pod, p->key } };
		cap += 1 + (top_keyset_has(expanded, p->key) ? p->n_ctrs : 0);
	}
	qsort(pods, np, sizeof(*pods), cmp_sortable);
	rows = calloc(cap ? cap : 1, sizeof(*rows));
	if (!rows)
		goto oom;
	for (size_t i = 0; i < np; i++) {
		const struct top_pod *p = pods[i].item;

		rows[nr++] = (struct top_row){ .pod = p };
		if (!top_keyset_has(expanded, p->key) || !p->n_ctrs)
			continue;
		free(cs);
		cs = calloc(p->n_ctrs, sizeof(*cs));
		if (!cs)
			goto oom;
		for (size_t c = 0; c < p->n_ctrs; c++)
			cs[c] = (struct sortable){ &p->ctrs[c],
						   sort_value(&p->ctrs[c].r, key),
						   { p->ctrs[c].name, p->ctrs[c].id, "", "" } };
		qsort(cs, p->n_ctrs, sizeof(*cs), cmp_sortable);
		for (size_t c = 0; c < p->n_ctrs; c++)
			rows[nr++] = (struct top_row){ .pod = p, .ctr = cs[c].item };
	}
	free(cs);
	free(pods);
	*ret = rows;
	*ret_n = nr;
	return 0;
oom:
	free(cs);
	free(pods);
	free(rows);
	return -ENOMEM;
}
