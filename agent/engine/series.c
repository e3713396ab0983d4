// SPDX-License-Identifier: BSD-2-Clause
#include "engine/series.h"
#include "base/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COUNTS_N (sizeof(union counts) / sizeof(uint64_t))
_Static_assert(sizeof(union counts) % sizeof(uint64_t) == 0, "counts are u64 counters");

struct series_table {
	struct strmap map; /* key → struct series */
};

static const char *const dir_names[] = { [DISK_REC_READ] = "read", [DISK_REC_WRITE] = "write" };

static struct acc *acc_free_all(struct acc *a)
{
	while (a) {
		struct acc *next = a->next;

		for (int i = 0; i < METRIC_MAX_OWN_LABELS; i++)
			free(a->own[i]);
		free(a);
		a = next;
	}
	return NULL;
}

static void series_free(void *v)
{
	struct series *s = v;

	if (!s)
		return;
	for (int i = 0; i < LBL_MAX; i++)
		free(s->labels[i]);
	acc_free_all(s->accs);
	free(s->key);
	free(s->cgroup_path);
	snap_labels_unref(s->snap);
	free(s->ports);
	free(s->peers);
	for (unsigned i = 0; i < s->n_causes; i++) {
		for (int o = 0; o < 3; o++)
			free(s->causes[i].own[o]);
	}
	free(s);
}

struct series_table *series_table_new(void)
{
	struct series_table *t = calloc(1, sizeof(*t));

	if (t && strmap_init(&t->map)) {
		free(t);
		return NULL;
	}
	return t;
}

struct series_table *series_table_free(struct series_table *t)
{
	if (!t)
		return NULL;
	strmap_destroy(&t->map, series_free);
	free(t);
	return NULL;
}

size_t series_table_size(const struct series_table *t)
{
	return t->map.n;
}

static const enum series_label who[3] = { LBL_NAMESPACE, LBL_WORKLOAD_KIND, LBL_WORKLOAD };

/* A series' neighbour identity as a number: causes of other workloads differ in it. */
static uint64_t who_hash(const struct series *s)
{
	return hash_str(s->labels[who[0]]) ^ hash_str(s->labels[who[1]]) * 0x9e3779b97f4a7c15ULL ^
	       hash_str(s->labels[who[2]]) * 0xc2b2ae3d27d4eb4fULL;
}

/* The identity of a label set: its values joined with \x1f. */
static char *series_key(const char *const labels[LBL_MAX])
{
	size_t len = 0;
	char *key, *p;

	for (int i = 0; i < LBL_MAX; i++)
		len += strlen(labels[i]) + 1;
	key = malloc(len);
	if (!key)
		return NULL;
	p = key;
	for (int i = 0; i < LBL_MAX; i++) {
		size_t n = strlen(labels[i]);

		memcpy(p, labels[i], n);
		p[n] = i + 1 < LBL_MAX ? '\x1f' : '\0';
		p += n + 1;
	}
	return key;
}

struct series *series_table_get(struct series_table *t, const char *const labels[LBL_MAX],
				const char *path, uint64_t cgid)
{
	char *key = series_key(labels);
	struct series *s;

	if (!key)
		return NULL;
	s = strmap_get(&t->map, key);
	if (s) {
		free(key);
		/* The shallowest member names the series (a container, not its children). */
		if (strlen(path) < strlen(s->cgroup_path)) {
			char *np = strdup(path);

			if (np) {
				free(s->cgroup_path);
				s->cgroup_path = np;
				/* The next snapshot shows the new path; published ones keep theirs. */
				s->snap = snap_labels_unref(s->snap);
				s->cgroup_id = cgid;
			}
		}
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(key);
		return NULL;
	}
	s->key = key;
	s->cgroup_id = cgid;
	s->cgroup_path = strdup(path);
	for (int i = 0; i < LBL_MAX; i++) {
		s->labels[i] = strdup(labels[i]);
		if (!s->labels[i]) {
			series_free(s);
			return NULL;
		}
	}
	s->who_hash = who_hash(s);
	if (!s->cgroup_path || strmap_put(&t->map, key, s)) {
		series_free(s);
		return NULL;
	}
	return s;
}

void series_table_remove(struct series_table *t, struct series *s)
{
	if (strmap_get(&t->map, s->key) != s)
		return;
	strmap_del(&t->map, s->key);
	series_free(s);
}

struct series *series_table_next(const struct series_table *t, struct strmap_iter *it)
{
	struct strmap_ent *e = strmap_next(&t->map, it);

	return e ? e->val : NULL;
}

size_t series_table_expire(struct series_table *t, time_t now, double retention)
{
	size_t n = 0;

	STRMAP_FOREACH(&t->map, e)
	{
		struct series *s = e->val;

		if (!s->members && s->empty_since && now - s->empty_since >= retention) {
			strmap_del(&t->map, s->key);
			series_free(s);
			n++;
		}
	}
	return n;
}

/* The accumulator of kind with own labels own in s, created when absent. */
static struct acc *acc_get(struct series *s, enum acc_kind kind,
			   const char *const own[METRIC_MAX_OWN_LABELS])
{
	struct acc *a, **tail = &s->accs;
	bool same;

	for (a = s->accs; a; a = a->next) {
		same = a->kind == kind;
		for (int i = 0; same && i < METRIC_MAX_OWN_LABELS; i++)
			same = strcmp(a->own[i], own[i] ? own[i] : "") == 0;
		if (same)
			return a;
		tail = &a->next;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->kind = kind;
	for (int i = 0; i < METRIC_MAX_OWN_LABELS; i++) {
		a->own[i] = strdup(own[i] ? own[i] : "");
		if (!a->own[i])
			return acc_free_all(a);
	}
	*tail = a;
	return a;
}

int series_cause_add(struct series *s, const struct series *culprit, uint64_t ns)
{
	struct series_cause *c = NULL;

	for (unsigned i = 0; i < s->n_causes && !c; i++) {
		bool same = s->causes[i].who == culprit->who_hash;

		for (int o = 0; o < 3; o++)
			same = same && strcmp(s->causes[i].own[o], culprit->labels[who[o]]) == 0;
		c = same ? &s->causes[i] : NULL;
	}
	if (!c) {
		if (s->n_causes == SERIES_CAUSES)
			return -ENOSPC;
		c = &s->causes[s->n_causes];
		for (int o = 0; o < 3; o++) {
			if (!(c->own[o] = strdup(culprit->labels[who[o]]))) {
				while (o--)
					free(c->own[o]);
				return -ENOMEM;
			}
		}
		c->who = culprit->who_hash;
		c->total_ns = c->interval_ns = 0;
		s->n_causes++;
	}
	c->total_ns += ns;
	c->interval_ns += ns;
	return 0;
}

struct acc *series_acc(struct series *s, enum acc_kind kind)
{
	const char *own[METRIC_MAX_OWN_LABELS] = { NULL };

	return acc_get(s, kind, own);
}

struct acc *series_acc_disk(struct series *s, enum acc_kind kind, enum disk_rec_dir dir,
			    const char *device)
{
	const char *own[METRIC_MAX_OWN_LABELS] = { dir_names[dir], device };
	struct acc *a = acc_get(s, kind, own);

	if (a)
		a->dir = dir;
	return a;
}

struct acc *series_acc_fs(struct series *s, enum volume_class cls, const char *volume,
			  const char *claim)
{
	return series_acc_fs_typed(s, cls, volume, claim, volume_class_k8s_type(cls));
}

struct acc *series_acc_fs_typed(struct series *s, enum volume_class cls, const char *volume,
				const char *claim, const char *type)
{
	const char *own[METRIC_MAX_OWN_LABELS] = { volume_class_name(cls), volume, claim, type };
	struct acc *a = acc_get(s, ACC_FS, own);

	if (a)
		a->cls = cls;
	return a;
}

int member_take(struct member *m, enum stream_family fam, uint64_t key, uint64_t gen,
		const void *rec, size_t size)
{
	const uint64_t *v = rec;
	struct stream *s;
	uint64_t *raw;

	for (s = m->streams; s; s = s->next) {
		if (s->fam == fam && s->key == key)
			break;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->fam = fam;
		s->key = key;
		s->next = m->streams;
		m->streams = s;
	}
	if (s->gen != gen) {
		s->gen = gen;
		memset(&s->raw, 0, sizeof(s->raw));
	}
	raw = (uint64_t *)&s->raw;
	for (size_t i = 0; i < size / sizeof(uint64_t) && i < COUNTS_N; i++)
		raw[i] += v[i];
	return 0;
}

void member_join(struct member *m, struct series *s)
{
	m->series = s;
	s->members++;
}

void member_leave(struct member *m, time_t now)
{
	if (m->series && --m->series->members == 0)
		m->series->empty_since = now;
	m->series = NULL;
}

static void counts_add(union counts *dst, const union counts *src)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *v = (const uint64_t *)src;

	for (size_t i = 0; i < COUNTS_N; i++)
		d[i] += v[i];
}

int member_move(struct series_table *t, struct member *m, struct series *to)
{
	struct series *old = m->series;

	if (to == old)
		return 0;
	/* A tracked container that never ran has its zero CPU counters only as an accumulator of
	 * its series (no stream to bind again): the new series gets them too. */
	for (struct acc *a = old->accs; a; a = a->next) {
		if (a->kind == ACC_CPU && !series_acc(to, ACC_CPU))
			return -ENOMEM;
	}
	member_join(m, to);
	/* A series new to the history carries on from the old one's last snapshot. */
	if (!to->collected) {
		to->collected = old->collected;
		if (!to->cpufs_valid && strcmp(to->cgroup_path, old->cgroup_path) == 0) {
			to->cpufs = old->cpufs;
			to->cpufs_valid = old->cpufs_valid;
			to->cpufs_cpu = old->cpufs_cpu;
			to->cpufs_last = old->cpufs_last;
		}
	}
	for (struct stream *s = m->streams; s; s = s->next) {
		if (s->acc && s->acc->cls == VOLUME_PSEUDO)
			continue; /* in no series: nothing to move */
		s->bound = false;
		s->acc = s->acc2 = NULL;
		counts_add(&s->carry, &s->last);
	}
	if (--old->members == 0)
		series_table_remove(t, old);
	return 0;
}

void member_free(struct member *m)
{
	for (struct stream *s = m->streams, *next; s; s = next) {
		next = s->next;
		free(s);
	}
	m->streams = NULL;
}

void stream_bind(struct stream *s, struct acc *acc, struct acc *acc2)
{
	s->acc = acc;
	s->acc2 = acc2;
	s->bound = true;
	counts_add(&acc->total, &s->carry);
	if (acc2)
		counts_add(&acc2->total, &s->carry);
	memset(&s->carry, 0, sizeof(s->carry));
}

uint64_t counter_gain(uint64_t now, uint64_t last)
{
	return now >= last ? now - last : now;
}

void stream_apply(struct stream *s)
{
	uint64_t *raw = (uint64_t *)&s->raw, *last = (uint64_t *)&s->last;
	union counts gain;
	uint64_t *g = (uint64_t *)&gain;

	for (size_t i = 0; i < COUNTS_N; i++) {
		g[i] = counter_gain(raw[i], last[i]);
		last[i] = raw[i];
	}
	counts_add(&s->acc->total, &gain);
	counts_add(&s->acc->interval, &gain);
	if (s->acc2) {
		counts_add(&s->acc2->total, &gain);
		counts_add(&s->acc2->interval, &gain);
	}
}
