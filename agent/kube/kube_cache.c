// SPDX-License-Identifier: BSD-2-Clause
/* The caches of what pods reference (top-level workloads, PVCs, per-namespace PDB and HPA
 * lists) and their fetch schedule: what is due, retries with backoff, eviction. */
#include "kube/kube_store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void centry_clear(struct centry *e)
{
	if (e->key.cache == KUBE_CACHE_PDB && e->has_data)
		kube_pdbs_free(e->u.pdbs.items, e->u.pdbs.n);
	else if (e->key.cache == KUBE_CACHE_HPA && e->has_data)
		free(e->u.hpas.items);
	memset(&e->u, 0, sizeof(e->u));
	e->has_data = false;
}

void kube_cache_entry_free(void *v)
{
	centry_clear(v);
	free(v);
}

static void cache_key(const struct kube_fetch *f, char *buf, size_t len)
{
	snprintf(buf, len, "%d\x1f%d\x1f%s\x1f%s", (int)f->cache, (int)f->kind, f->ns, f->name);
}

struct centry *kube_cache_get(const struct kube_store *st, enum kube_cache cache,
			      enum kube_kind kind, const char *ns, const char *name)
{
	struct kube_fetch f = { .cache = cache, .kind = kind };
	char key[KUBE_NS_MAX + KUBE_NAME_MAX + 32];

	snprintf(f.ns, sizeof(f.ns), "%s", ns);
	snprintf(f.name, sizeof(f.name), "%s", name);
	cache_key(&f, key, sizeof(key));
	return strmap_get(&st->cache, key);
}

static void cache_del(struct kube_store *st, struct centry *e)
{
	char key[KUBE_NS_MAX + KUBE_NAME_MAX + 32];

	cache_key(&e->key, key, sizeof(key));
	strmap_del(&st->cache, key);
	st->n_cache[e->key.cache]--;
	kube_cache_entry_free(e);
}

static bool expired(const struct kube_store *st, const struct centry *e, double now)
{
	return e->state == ST_PENDING || e->state == ST_ERROR || now - e->fetched_at >= st->o.ttl;
}

/* Evicts entries no pod used in the current scan once they are expired. Returns how many. */
static size_t cache_evict(struct kube_store *st, double now, enum kube_cache only, bool any)
{
	size_t n = 0;

	STRMAP_FOREACH(&st->cache, e)
	{
		struct centry *c = e->val;

		if (c->used != st->scan && (!any || c->key.cache == only) && expired(st, c, now)) {
			cache_del(st, c);
			n++;
		}
	}
	return n;
}

struct scan_ctx {
	struct kube_store *st;
	double now;
	struct centry *due;
	double next;
	bool full;
};

static void need(struct scan_ctx *sc, enum kube_cache cache, enum kube_kind kind, const char *ns,
		 const char *name)
{
	struct kube_store *st = sc->st;
	struct centry *e = kube_cache_get(st, cache, kind, ns, name);
	char key[KUBE_NS_MAX + KUBE_NAME_MAX + 32];

	if (!e) {
		if (st->n_cache[cache] >= st->o.max_cache &&
		    cache_evict(st, sc->now, cache, true) == 0) {
			sc->full = true;
			return;
		}
		e = calloc(1, sizeof(*e));
		if (!e) {
			sc->full = true;
			return;
		}
		e->key.cache = cache;
		e->key.kind = kind;
		snprintf(e->key.ns, sizeof(e->key.ns), "%s", ns);
		snprintf(e->key.name, sizeof(e->key.name), "%s", name);
		cache_key(&e->key, key, sizeof(key));
		if (strmap_put(&st->cache, key, e)) {
			free(e);
			sc->full = true;
			return;
		}
		st->n_cache[cache]++;
	}
	e->used = st->scan;
	if (e->next_try <= sc->now) {
		if (!sc->due)
			sc->due = e;
	} else if (sc->next == 0 || e->next_try < sc->next) {
		sc->next = e->next_try;
	}
}

static void pod_needs(struct scan_ctx *sc, const struct kube_pod *p)
{
	struct kube_owner o;

	kube_owner_derive(p->controller.kind, p->controller.api_version, p->controller.name,
			  p->name, p->template_hash, &o);
	if (kube_kind_fetchable(o.kind)) {
		struct centry *e;

		need(sc, KUBE_CACHE_WORKLOAD, o.kind, p->ns, o.name);
		e = kube_cache_get(sc->st, KUBE_CACHE_WORKLOAD, o.kind, p->ns, o.name);
		if (e && e->state == ST_NOTFOUND && kube_kind_fetchable(o.fallback))
			need(sc, KUBE_CACHE_WORKLOAD, o.fallback, p->ns, o.fallback_name);
	}
	for (unsigned i = 0; i < p->n_volumes; i++) {
		if (p->volumes[i].claim[0])
			need(sc, KUBE_CACHE_PVC, KUBE_KIND_OTHER, p->ns, p->volumes[i].claim);
	}
	need(sc, KUBE_CACHE_PDB, KUBE_KIND_OTHER, p->ns, "");
	need(sc, KUBE_CACHE_HPA, KUBE_KIND_OTHER, p->ns, "");
}

int kube_store_next_fetch(struct kube_store *st, double now, struct kube_fetch *ret,
			  double *ret_next)
{
	struct scan_ctx sc = { .st = st, .now = now };

	st->scan++;
	STRMAP_FOREACH(&st->pods, e)
	{
		pod_needs(&sc, ((struct pod_ent *)e->val)->pod);
	}
	cache_evict(st, now, KUBE_CACHE_WORKLOAD, false);
	*ret_next = sc.next;
	if (sc.due) {
		*ret = sc.due->key;
		return 1;
	}
	return sc.full ? -ENOSPC : 0;
}

static struct centry *entry_for(struct kube_store *st, const struct kube_fetch *f)
{
	return kube_cache_get(st, f->cache, f->kind, f->ns, f->name);
}

/* Common bookkeeping of a fetch result. Returns true when the data should be replaced. */
static bool settle(struct kube_store *st, struct centry *e, int result, double now)
{
	if (result == 0 || result == -ENOENT) {
		if (result == -ENOENT && e->state != ST_NOTFOUND)
			st->gen++;
		e->state = result == 0 ? ST_OK : ST_NOTFOUND;
		e->fails = 0;
		e->fetched_at = now;
		e->next_try = now + st->o.ttl;
		if (result == -ENOENT)
			centry_clear(e);
		return result == 0;
	}
	/* Keep serving what we had; retry sooner than the TTL, backing off. */
	double delay = st->o.retry_min;

	for (unsigned i = 0; i < e->fails && delay < st->o.ttl; i++)
		delay *= 2;
	e->fails++;
	e->next_try = now + (delay < st->o.ttl ? delay : st->o.ttl);
	if (e->state == ST_PENDING)
		e->state = ST_ERROR;
	return false;
}

int kube_store_put_workload(struct kube_store *st, const struct kube_fetch *f, int result,
			    const struct kube_workload *wl, double now)
{
	struct centry *e = entry_for(st, f);

	if (!e)
		return -ENOENT;
	if (settle(st, e, result, now)) {
		if (!e->has_data || memcmp(&e->u.wl, wl, sizeof(*wl)) != 0)
			st->gen++;
		e->u.wl = *wl;
		e->has_data = true;
	}
	return 0;
}

int kube_store_put_pvc(struct kube_store *st, const struct kube_fetch *f, int result,
		       const struct kube_pvc *pvc, double now)
{
	struct centry *e = entry_for(st, f);

	if (!e)
		return -ENOENT;
	if (settle(st, e, result, now)) {
		if (!e->has_data || memcmp(&e->u.pvc, pvc, sizeof(*pvc)) != 0)
			st->gen++;
		e->u.pvc = *pvc;
		e->has_data = true;
	}
	return 0;
}

int kube_store_put_pdbs(struct kube_store *st, const struct kube_fetch *f, int result,
			struct kube_pdb *items, unsigned n, double now)
{
	struct centry *e = entry_for(st, f);

	if (!e) {
		kube_pdbs_free(items, n);
		return -ENOENT;
	}
	if (settle(st, e, result, now)) {
		centry_clear(e);
		e->u.pdbs.items = items;
		e->u.pdbs.n = n;
		e->has_data = true;
		st->gen++;
		return 0;
	}
	kube_pdbs_free(items, n);
	return 0;
}

int kube_store_put_hpas(struct kube_store *st, const struct kube_fetch *f, int result,
			struct kube_hpa *items, unsigned n, double now)
{
	struct centry *e = entry_for(st, f);

	if (!e) {
		free(items);
		return -ENOENT;
	}
	if (settle(st, e, result, now)) {
		centry_clear(e);
		e->u.hpas.items = items;
		e->u.hpas.n = n;
		e->has_data = true;
		st->gen++;
		return 0;
	}
	free(items);
	return 0;
}
