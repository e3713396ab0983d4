// SPDX-License-Identifier: BSD-2-Clause
#include "model/snapshot.h"
#include "base/hash.h"
#include "base/utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const series_label_names[LBL_MAX] = {
	[LBL_NAMESPACE] = "namespace", [LBL_POD] = "pod",
	[LBL_CONTAINER] = "container", [LBL_WORKLOAD_KIND] = "workload_kind",
	[LBL_WORKLOAD] = "workload",   [LBL_HELM_RELEASE] = "helm_release",
	[LBL_POD_UID] = "pod_uid",     [LBL_CONTAINER_ID] = "container_id",
};

const char *const pod_label_names[PLBL_MAX] = {
	[PLBL_NAMESPACE] = "namespace",
	[PLBL_POD] = "pod",
	[PLBL_UID] = "uid",
	[PLBL_NODE] = "node",
	[PLBL_QOS_CLASS] = "qos_class",
	[PLBL_WORKLOAD_KIND] = "workload_kind",
	[PLBL_WORKLOAD] = "workload",
	[PLBL_HELM_RELEASE] = "helm_release",
	[PLBL_HELM_CHART] = "helm_chart",
};

static char empty[] = "";

char *snap_intern(struct snap_strings *ss, const char *v)
{
	char *p, *fixed;
	uint64_t h;
	size_t len;

	if (!v || !v[0])
		return empty;
	if (!ss)
		return strdup(v);
	len = strlen(v);
	h = hash_bytes(v, len);
	if ((p = strpool_find_hashed(&ss->pool, v, h)))
		return p; /* valid: only well-formed strings get in */
	if (utf8_valid(v, len))
		return strpool_intern_hashed(&ss->pool, v, len, h);
	/* Each use of an ill-formed string counts, as each heap copy would. */
	ss->repaired++;
	fixed = utf8_repair_dup(v);
	if (!fixed)
		return NULL;
	p = strpool_intern(&ss->pool, fixed);
	free(fixed);
	return p;
}

#define LSET_STRS (LBL_MAX + 1) /* the labels, then the path */

static long lsets_live;

long snap_labels_live(void)
{
	return __atomic_load_n(&lsets_live, __ATOMIC_RELAXED);
}

struct snap_labels *snap_labels_new(const char *const labels[LBL_MAX], const char *cgroup_path)
{
	const char *src[LSET_STRS];
	char *fixed[LSET_STRS] = { NULL };
	size_t len[LSET_STRS], total = 0;
	struct snap_labels *l = NULL;
	unsigned repaired = 0;
	char *d;

	for (int i = 0; i < LSET_STRS; i++) {
		src[i] = i < LBL_MAX ? labels[i] : cgroup_path;
		src[i] = src[i] ? src[i] : "";
		len[i] = strlen(src[i]);
		if (!utf8_valid(src[i], len[i])) {
			if (!(fixed[i] = utf8_repair_dup(src[i])))
				goto out;
			src[i] = fixed[i];
			len[i] = strlen(src[i]);
			repaired++;
		}
		total += len[i] + 1;
	}
	l = malloc(sizeof(*l) + total);
	if (!l)
		goto out;
	__atomic_add_fetch(&lsets_live, 1, __ATOMIC_RELAXED);
	l->refcnt = 1;
	l->repaired = repaired;
	d = l->data;
	for (int i = 0; i < LSET_STRS; i++) {
		char **dst = i < LBL_MAX ? &l->labels[i] : &l->cgroup_path;

		memcpy(d, src[i], len[i] + 1);
		*dst = d;
		d += len[i] + 1;
	}
out:
	for (int i = 0; i < LSET_STRS; i++)
		free(fixed[i]);
	return l;
}

struct snap_labels *snap_labels_ref(struct snap_labels *l)
{
	if (l)
		__atomic_add_fetch(&l->refcnt, 1, __ATOMIC_RELAXED);
	return l;
}

struct snap_labels *snap_labels_unref(struct snap_labels *l)
{
	if (l && __atomic_sub_fetch(&l->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
		__atomic_sub_fetch(&lsets_live, 1, __ATOMIC_RELAXED);
		free(l);
	}
	return NULL;
}

void snap_series_set_labels(struct snap_series *se, struct snap_labels *l)
{
	se->lset = snap_labels_ref(l);
	for (int i = 0; i < LBL_MAX; i++)
		se->labels[i] = l->labels[i];
	se->cgroup_path = l->cgroup_path;
	if (se->strings)
		se->strings->repaired += l->repaired;
}

#define MEMO_BITS 9

/* snap_intern_stable's: the interned copy of a string, by the string's address (direct
 * mapped; a collision interns again). */
struct snap_memo {
	const char *src[1u << MEMO_BITS];
	char *dst[1u << MEMO_BITS];
};

char *snap_intern_stable(struct snap_strings *ss, const char *v)
{
	uint64_t a = (uint64_t)(uintptr_t)v;
	unsigned k;
	char *p;

	if (!v || !v[0])
		return empty;
	if (!ss)
		return strdup(v);
	if (!ss->memo && !ss->pool.sealed)
		ss->memo = calloc(1, sizeof(*ss->memo)); /* none: interned the usual way */
	if (!ss->memo)
		return snap_intern(ss, v);
	a = (a ^ (a >> 29)) * 0xbf58476d1ce4e5b9ULL;
	k = (unsigned)(a >> (64 - MEMO_BITS));
	if (ss->memo->src[k] == v)
		return ss->memo->dst[k];
	p = snap_intern(ss, v);
	/* A repaired string is not remembered: each use of it counts (snap_intern). */
	if (p && strcmp(p, v) == 0) {
		ss->memo->src[k] = v;
		ss->memo->dst[k] = p;
	}
	return p;
}

static void memo_free(struct snap_strings *ss)
{
	free(ss->memo);
	ss->memo = NULL;
}

/* The series array of the last snapshot freed, for the next one (snapshot_new). */
static struct {
	pthread_mutex_t lock;
	struct snap_series *series;
	size_t cap;
} spare = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Room for n series, zeroed: the spare array when it fits, else a new one with some room to
 * grow. *cap: its size. */
static struct snap_series *series_alloc(size_t n, size_t *cap)
{
	struct snap_series *got = NULL, *old = NULL;

	if (!n)
		n = 1;
	pthread_mutex_lock(&spare.lock);
	if (spare.series && spare.cap >= n && spare.cap <= 2 * n + 64) {
		got = spare.series;
		*cap = spare.cap;
	} else {
		old = spare.series; /* too small, or too large to keep for a shrunken node */
	}
	spare.series = NULL;
	spare.cap = 0;
	pthread_mutex_unlock(&spare.lock);
	free(old);
	if (got) {
		memset(got, 0, n * sizeof(*got));
		return got;
	}
	*cap = n + n / 16 + 16;
	return calloc(*cap, sizeof(*got));
}

/* Keeps a freed snapshot's series array for the next snapshot (the larger of two). */
static void series_release(struct snap_series *series, size_t cap)
{
	pthread_mutex_lock(&spare.lock);
	if (!spare.series || spare.cap < cap) {
		struct snap_series *t = spare.series;

		spare.series = series;
		spare.cap = cap;
		series = t;
	}
	pthread_mutex_unlock(&spare.lock);
	free(series);
}

/* Frees a string of the snapshot unless it is the shared "" or interned. */
static void free_str(const struct snap_strings *ss, char *p)
{
	if (p != empty && !(ss && strpool_owns(&ss->pool, p)))
		free(p);
}

struct snapshot *snapshot_new(size_t n)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refcnt = 1;
	s->node = empty;
	s->series = series_alloc(n, &s->cap_series);
	if (!s->series) {
		free(s);
		return NULL;
	}
	s->n_series = n;
	for (size_t i = 0; i < n; i++) {
		s->series[i].strings = &s->strings;
		for (int l = 0; l < LBL_MAX; l++)
			s->series[i].labels[l] = empty;
		s->series[i].cgroup_path = empty;
		s->series[i].helm_chart = empty;
		s->series[i].delta.pvc_volume = empty;
	}
	return s;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
	if (s)
		__atomic_add_fetch(&s->refcnt, 1, __ATOMIC_RELAXED);
	return s;
}

int snap_series_reserve(struct snap_series *se, size_t n)
{
	struct snap_point *pts;

	if (n <= se->cap_points)
		return 0;
	pts = realloc(se->points, n * sizeof(*pts));
	if (!pts)
		return -ENOMEM;
	se->points = pts;
	se->cap_points = n;
	return 0;
}

static struct snap_point *push_point(struct snap_series *se, enum metric_id metric,
				     const char *const *own, bool stable)
{
	struct snap_point *p;

	/* Beyond what was reserved: grow by doubling. */
	if (se->n_points >= se->cap_points) {
		size_t cap = se->cap_points ? se->cap_points * 2 : 4;

		if (snap_series_reserve(se, cap > se->n_points ? cap : se->n_points * 2 + 4))
			return NULL;
	}
	p = &se->points[se->n_points];
	memset(p, 0, sizeof(*p));
	p->metric = metric;
	for (int i = 0; i < METRIC_MAX_OWN_LABELS; i++) {
		const char *v = own ? own[i] : NULL;

		if (!v || !v[0]) /* most: a point without own labels */
			p->own[i] = empty;
		else
			p->own[i] = stable ? snap_intern_stable(se->strings, v) :
					     snap_intern(se->strings, v);
		if (!p->own[i]) {
			for (int j = 0; j < i; j++)
				free_str(se->strings, p->own[j]);
			return NULL;
		}
	}
	se->n_points++;
	return p;
}

static int add_value(struct snap_series *se, enum metric_id metric, const char *const *own,
		     double value, bool stable)
{
	struct snap_point *p = push_point(se, metric, own, stable);

	if (!p)
		return -ENOMEM;
	p->value = value;
	return 0;
}

int snap_series_add(struct snap_series *se, enum metric_id metric, const char *const *own,
		    double value)
{
	return add_value(se, metric, own, value, false);
}

int snap_series_add_stable(struct snap_series *se, enum metric_id metric, const char *const *own,
			   double value)
{
	return add_value(se, metric, own, value, true);
}

static int add_hist(struct snap_series *se, enum metric_id metric, const char *const *own,
		    const double *bounds, unsigned n_bounds, const uint64_t *counts, double sum,
		    bool stable)
{
	struct snap_hist *h = calloc(1, sizeof(*h));
	struct snap_point *p;

	if (!h || !(h->counts = calloc(n_bounds + 1, sizeof(*h->counts)))) {
		free(h);
		return -ENOMEM;
	}
	h->bounds = bounds;
	h->n_bounds = n_bounds;
	h->sum = sum;
	for (unsigned i = 0; i <= n_bounds; i++) {
		h->counts[i] = counts[i];
		h->count += counts[i];
	}
	p = push_point(se, metric, own, stable);
	if (!p) {
		free(h->counts);
		free(h);
		return -ENOMEM;
	}
	p->hist = h;
	return 0;
}

int snap_series_add_hist(struct snap_series *se, enum metric_id metric, const char *const *own,
			 const double *bounds, unsigned n_bounds, const uint64_t *counts,
			 double sum)
{
	return add_hist(se, metric, own, bounds, n_bounds, counts, sum, false);
}

int snap_series_add_hist_stable(struct snap_series *se, enum metric_id metric,
				const char *const *own, const double *bounds, unsigned n_bounds,
				const uint64_t *counts, double sum)
{
	return add_hist(se, metric, own, bounds, n_bounds, counts, sum, true);
}

double snap_series_value(const struct snap_series *se, enum metric_id metric)
{
	for (size_t i = 0; i < se->n_points; i++) {
		if (se->points[i].metric == metric && se->points[i].own[0][0] == '\0')
			return se->points[i].value;
	}
	return 0;
}

struct snapshot *snapshot_unref(struct snapshot *s)
{
	const struct snap_strings *ss;

	if (!s || __atomic_sub_fetch(&s->refcnt, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	ss = &s->strings;
	for (size_t i = 0; i < s->n_series; i++) {
		struct snap_series *se = &s->series[i];

		for (int l = 0; l < LBL_MAX && !se->lset; l++)
			free_str(ss, se->labels[l]);
		if (!se->lset)
			free_str(ss, se->cgroup_path);
		snap_labels_unref(se->lset);
		free_str(ss, se->helm_chart);
		for (size_t p = 0; p < se->n_points; p++) {
			/* Own labels are interned in the series' snapshot (push_point). */
			for (int o = 0; o < METRIC_MAX_OWN_LABELS && !se->strings; o++)
				free_str(ss, se->points[p].own[o]);
			if (se->points[p].hist) {
				free(se->points[p].hist->counts);
				free(se->points[p].hist);
			}
		}
		free(se->points);
		free(se->listen_ports);
		free(se->peers);
	}
	free(s->agent.stats);
	free(s->findings);
	for (size_t i = 0; i < s->n_pods; i++) {
		for (int l = 0; l < PLBL_MAX; l++)
			free_str(ss, s->pods[i].labels[l]);
	}
	free(s->pods);
	free_str(ss, s->node);
	series_release(s->series, s->cap_series);
	memo_free(&s->strings);
	strpool_destroy(&s->strings.pool);
	free(s);
	return NULL;
}

/* Repairs a heap string of the snapshot (the shared "" never needs it, interned strings were
 * repaired on the way in). */
static uint64_t fix_str(const struct snap_strings *ss, char **p)
{
	char *r;

	if (!*p || **p == '\0' || strpool_owns(&ss->pool, *p) || utf8_valid(*p, strlen(*p)))
		return 0;
	r = utf8_repair_dup(*p);
	if (!r)
		return utf8_repair_inplace(*p);
	free(*p);
	*p = r;
	return 1;
}

#define FIX_BUF(a) utf8_repair_buf((a), sizeof(a))

uint64_t snapshot_sanitize(struct snapshot *s)
{
	const struct snap_strings *ss = &s->strings;
	uint64_t n = s->strings.repaired;

	n += fix_str(ss, &s->node);
	for (size_t i = 0; i < s->n_series; i++) {
		struct snap_series *se = &s->series[i];

		/* A label set's strings were repaired when it was made (counted then). */
		for (int l = 0; l < LBL_MAX && !se->lset; l++)
			n += fix_str(ss, &se->labels[l]);
		if (!se->lset)
			n += fix_str(ss, &se->cgroup_path);
		n += fix_str(ss, &se->helm_chart);
		for (size_t p = 0; p < se->n_points && !se->strings; p++) {
			for (int o = 0; o < METRIC_MAX_OWN_LABELS; o++)
				n += fix_str(ss, &se->points[p].own[o]);
		}
	}
	for (size_t i = 0; i < s->n_findings; i++) {
		struct snap_finding *f = &s->findings[i];

		n += FIX_BUF(f->ns) + FIX_BUF(f->workload_kind) + FIX_BUF(f->workload) +
		     FIX_BUF(f->helm_release) + FIX_BUF(f->rule) + FIX_BUF(f->rule_name) +
		     FIX_BUF(f->severity) + FIX_BUF(f->suggested_kind) + FIX_BUF(f->message);
		for (unsigned e = 0; e < f->n_evidence && e < SNAP_MAX_EVIDENCE; e++)
			n += FIX_BUF(f->evidence[e].name);
	}
	for (size_t i = 0; i < s->n_pods; i++) {
		for (int l = 0; l < PLBL_MAX; l++)
			n += fix_str(ss, &s->pods[i].labels[l]);
	}
	n += FIX_BUF(s->agent.features);
	for (size_t i = 0; i < s->agent.n_stats; i++)
		n += FIX_BUF(s->agent.stats[i].subject) + FIX_BUF(s->agent.stats[i].mechanism);
	s->agent.invalid_utf8_strings = n;
	memo_free(&s->strings);
	strpool_seal(&s->strings.pool);
	return n;
}

void snapshot_slot_init(struct snapshot_slot *slot)
{
	pthread_mutex_init(&slot->lock, NULL);
	slot->cur = NULL;
}

void snapshot_slot_set(struct snapshot_slot *slot, struct snapshot *s)
{
	struct snapshot *old;

	if (s)
		snapshot_sanitize(s);
	pthread_mutex_lock(&slot->lock);
	old = slot->cur;
	slot->cur = s;
	pthread_mutex_unlock(&slot->lock);
	snapshot_unref(old);
}

struct snapshot *snapshot_slot_get(struct snapshot_slot *slot)
{
	struct snapshot *s;

	pthread_mutex_lock(&slot->lock);
	s = snapshot_ref(slot->cur);
	pthread_mutex_unlock(&slot->lock);
	return s;
}

void snapshot_slot_destroy(struct snapshot_slot *slot)
{
	snapshot_slot_set(slot, NULL);
	pthread_mutex_destroy(&slot->lock);
}
