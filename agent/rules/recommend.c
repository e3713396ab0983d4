// SPDX-License-Identifier: BSD-2-Clause
/* Right-sizing histories and their recommendations (recommend.h). */
#include "rules/recommend.h"
#include "base/strmap.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024.0 * 1024.0)
/* A sample's decay factor is renormalised before it passes 2^RESCALE_EXP. */
#define RESCALE_EXP 20.0

struct recommender {
	struct rec_params p;
	struct rec_entry **v; /* the histories */
	size_t n, cap;
	struct strmap idx; /* key → index into v, plus one */
	uint64_t evicted;
};

void rec_params_default(struct rec_params *p, double min_seconds)
{
	*p = (struct rec_params){
		.cpu_percentile = 0.95,
		.cpu_half_life = 86400,
		.throttled_ratio = 0.1,
		.throttled_margin = 0.25,
		.cpu_min = 0.01,
		.mem_request_margin = 0.15,
		.mem_limit_margin = 0.3,
		.oom_bump = 1.2,
		.mem_min = 16 * MiB,
		.mem_slot_seconds = 86400,
		.min_seconds = min_seconds,
		.max_entries = 4096,
	};
}

struct recommender *rec_new(const struct rec_params *p)
{
	struct recommender *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->p = *p;
	if (strmap_init(&r->idx)) {
		free(r);
		return NULL;
	}
	return r;
}

static void clear(struct recommender *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
	strmap_destroy(&r->idx, NULL);
}

struct recommender *rec_free(struct recommender *r)
{
	if (!r)
		return NULL;
	clear(r);
	free(r);
	return NULL;
}

void rec_key(char *buf, size_t size, const char *ns, const char *kind, const char *workload,
	     const char *container)
{
	const char *parts[] = { ns, kind, workload, container };

	strmap_key_join(buf, size, parts, 4);
}

static long find(const struct recommender *r, const char *key)
{
	uintptr_t i = (uintptr_t)strmap_get(&r->idx, key);

	return i ? (long)i - 1 : -1;
}

static int index_put(struct recommender *r, size_t i)
{
	return strmap_put(&r->idx, r->v[i]->key, (void *)(uintptr_t)(i + 1));
}

/* The slot of a new key: a fresh one, or the least recently seen history's when full. */
static struct rec_entry *slot_for(struct recommender *r, const char *key)
{
	struct rec_entry *e;
	size_t at = r->n;

	if (r->n >= r->p.max_entries && r->n) {
		at = 0;
		for (size_t i = 1; i < r->n; i++) {
			if (r->v[i]->last_seen < r->v[at]->last_seen)
				at = i;
		}
		strmap_del(&r->idx, r->v[at]->key);
		memset(r->v[at], 0, sizeof(*r->v[at]));
		r->evicted++;
	} else {
		if (r->n == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 16;
			struct rec_entry **v = realloc(r->v, cap * sizeof(*v));

			if (!v)
				return NULL;
			r->v = v;
			r->cap = cap;
		}
		if (!(r->v[at] = calloc(1, sizeof(*r->v[at]))))
			return NULL;
		r->n++;
	}
	e = r->v[at];
	snprintf(e->key, sizeof(e->key), "%s", key);
	if (index_put(r, at)) {
		/* Out of memory: the slot stays, unindexed, as the last (or reused) one. */
		if (at == r->n - 1) {
			free(e);
			r->n--;
		}
		return NULL;
	}
	return e;
}

/* The weight of a sample lasting seconds at now, renormalising e's weights first when the
 * decay factor grows too large to keep in a float. */
static double weight(const struct rec_params *p, struct rec_entry *e, double seconds, double now)
{
	double x = (now - e->ref_time) / p->cpu_half_life;

	if (x > RESCALE_EXP || x < -RESCALE_EXP) {
		double k = exp2(-x);

		for (int i = 0; i < REC_CPU_BUCKETS; i++)
			e->cpu[i] = (float)(e->cpu[i] * k);
		e->total_weight *= k;
		e->throttled *= k;
		e->periods *= k;
		e->ref_time = now;
		x = 0;
	}
	return seconds * exp2(x);
}

static int cpu_bucket(double cores)
{
	int i;

	if (!(cores >= REC_CPU_FIRST))
		return 0;
	i = 1 + (int)floor(log(cores / REC_CPU_FIRST) / log(REC_CPU_RATIO));
	return i < REC_CPU_BUCKETS ? i : REC_CPU_BUCKETS - 1;
}

static double cpu_upper(int i)
{
	return REC_CPU_FIRST * pow(REC_CPU_RATIO, i);
}

static int64_t mem_period(const struct rec_params *p, double t)
{
	return (int64_t)floor(t / p->mem_slot_seconds);
}

int rec_add(struct recommender *r, const char *key, const struct snap_delta *d, double now)
{
	const struct rec_params *p = &r->p;
	long i = find(r, key);
	struct rec_entry *e = i >= 0 ? r->v[i] : slot_for(r, key);
	int64_t per = mem_period(p, now);
	unsigned s = (unsigned)(((per % REC_MEM_SLOTS) + REC_MEM_SLOTS) % REC_MEM_SLOTS);
	double w, ws;

	if (!e)
		return -ENOMEM;
	if (!e->first_seen) {
		e->first_seen = now;
		e->ref_time = now;
	}
	e->last_seen = now;
	if (!(d->seconds > 0))
		return 0;
	e->observed += d->seconds;
	w = weight(p, e, d->seconds, now);
	e->cpu[cpu_bucket(d->cpu_seconds / d->seconds)] += (float)w;
	e->total_weight += w;
	e->throttled += w * d->throttled_periods;
	e->periods += w * d->periods;
	if (e->mem_slot[s] != per) {
		e->mem_slot[s] = per;
		e->mem_peak[s] = 0;
	}
	ws = fmax(d->mem_working_set, d->oom_kills > 0 ? d->oom_working_set : 0);
	if (ws > e->mem_peak[s])
		e->mem_peak[s] = ws;
	if (d->oom_kills > 0) {
		e->oom_limit = fmax(fmax(d->mem_limit, d->mem_peak), d->oom_working_set);
		e->oom_slot = per;
	}
	return 0;
}

static double ceil_to(double v, double unit)
{
	return ceil(v / unit - 1e-9) * unit;
}

int rec_get(const struct recommender *r, const char *key, double now, struct rec_values *ret)
{
	const struct rec_params *p = &r->p;
	long i = find(r, key);
	const struct rec_entry *e;
	int64_t per = mem_period(p, now);
	double target, acc = 0, base;

	if (i < 0)
		return -ENOENT;
	e = r->v[i];
	if (e->observed < p->min_seconds || !(e->total_weight > 0))
		return -EAGAIN;
	memset(ret, 0, sizeof(*ret));
	ret->observed = e->observed;
	target = p->cpu_percentile * e->total_weight;
	ret->cpu_p = cpu_upper(REC_CPU_BUCKETS - 1);
	for (int b = 0; b < REC_CPU_BUCKETS; b++) {
		acc += e->cpu[b];
		if (acc >= target) {
			ret->cpu_p = cpu_upper(b);
			break;
		}
	}
	ret->throttled_ratio = e->periods > 0 ? e->throttled / e->periods : 0;
	ret->cpu_floor = ret->throttled_ratio >= p->throttled_ratio;
	ret->cpu_request = ret->cpu_p * (ret->cpu_floor ? 1 + p->throttled_margin : 1);
	ret->cpu_request = fmax(ceil_to(ret->cpu_request, 0.001), p->cpu_min);
	for (int s = 0; s < REC_MEM_SLOTS; s++) {
		if (e->mem_slot[s] <= per && per - e->mem_slot[s] < REC_MEM_SLOTS)
			ret->mem_peak = fmax(ret->mem_peak, e->mem_peak[s]);
	}
	base = ret->mem_peak;
	if (e->oom_limit > 0 && e->oom_slot <= per && per - e->oom_slot < REC_MEM_SLOTS) {
		ret->oom = true;
		base = fmax(base, e->oom_limit * p->oom_bump);
	}
	if (base > 0) {
		ret->mem_request =
			fmax(ceil_to(base * (1 + p->mem_request_margin), MiB), p->mem_min);
		ret->mem_limit = fmax(ceil_to(base * (1 + p->mem_limit_margin), MiB), p->mem_min);
	}
	return 0;
}

size_t rec_count(const struct recommender *r)
{
	return r->n;
}

uint64_t rec_evicted(const struct recommender *r)
{
	return r->evicted;
}

const struct rec_entry *rec__entry(const struct recommender *r, size_t i)
{
	return i < r->n ? r->v[i] : NULL;
}

const struct rec_params *rec__params(const struct recommender *r)
{
	return &r->p;
}

int rec__replace(struct recommender *r, struct rec_entry *entries, size_t n)
{
	struct recommender tmp = { .p = r->p };

	if (strmap_init(&tmp.idx))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct rec_entry *e;

		if (find(&tmp, entries[i].key) >= 0) {
			clear(&tmp);
			return -EINVAL; /* a key twice */
		}
		if (!(e = slot_for(&tmp, entries[i].key))) {
			clear(&tmp);
			return -ENOMEM;
		}
		*e = entries[i];
	}
	clear(r);
	r->v = tmp.v;
	r->n = tmp.n;
	r->cap = tmp.cap;
	r->idx = tmp.idx;
	return 0;
}
