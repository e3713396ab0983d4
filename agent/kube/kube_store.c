#include "kube/kube_store.h"
#include "base/strmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the store ---- */

struct pod_ent {
	struct kube_pod *pod;
	uint64_t seen; /* relist mark */
};

enum entry_state { ST_PENDING = 0, ST_OK, ST_NOTFOUND, ST_ERROR };

struct centry {
	struct kube_fetch key;
	enum entry_state state;
	bool has_data;
	double fetched_at;
	double next_try;
	unsigned fails;
	uint64_t used; /* scan number that last found a pod needing it */
	union {
		struct kube_workload wl;
		struct kube_pvc pvc;
		struct {
			struct kube_pdb *items;
			unsigned n;
		} pdbs;
		struct {
			struct kube_hpa *items;
			unsigned n;
		} hpas;
	} u;
};

struct kube_store {
	struct kube_store_opts o;
	struct strmap pods; /* uid → pod_ent */
	struct strmap mirrors; /* static pod kubelet uid → pod_ent (not owned) */
	struct strmap cache; /* key → centry */
	uint64_t n_cache[KUBE_CACHE_MAX];
	uint64_t gen;
	uint64_t mark;
	size_t n_fresh; /* pods put since the last mark: stale ones do not hold a relist back */
	uint64_t scan;
};

static void pod_ent_free(void *v)
{
	struct pod_ent *pe = v;

	kube_pod_free(pe->pod);
	free(pe);
}

static void centry_clear(struct centry *e)
{
	if (e->key.cache == KUBE_CACHE_PDB && e->has_data)
		kube_pdbs_free(e->u.pdbs.items, e->u.pdbs.n);
	else if (e->key.cache == KUBE_CACHE_HPA && e->has_data)
		free(e->u.hpas.items);
	memset(&e->u, 0, sizeof(e->u));
	e->has_data = false;
}

static void centry_free(void *v)
{
	centry_clear(v);
	free(v);
}

struct kube_store *kube_store_new(const struct kube_store_opts *opts)
{
	struct kube_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->o = *opts;
	if (!st->o.max_pods)
		st->o.max_pods = 1024;
	if (!st->o.max_cache)
		st->o.max_cache = 4096;
	if (st->o.ttl <= 0)
		st->o.ttl = 300;
	if (st->o.retry_min <= 0)
		st->o.retry_min = 5;
	if (st->o.sandbox_grace <= 0)
		st->o.sandbox_grace = 30;
	st->gen = 1;
	if (strmap_init(&st->pods) || strmap_init(&st->mirrors) || strmap_init(&st->cache))
		return kube_store_free(st);
	return st;
}

struct kube_store *kube_store_free(struct kube_store *st)
{
	if (!st)
		return NULL;
	strmap_destroy(&st->mirrors, NULL);
	strmap_destroy(&st->pods, pod_ent_free);
	strmap_destroy(&st->cache, centry_free);
	free(st);
	return NULL;
}

size_t kube_pod_running_containers(const struct kube_pod *p, struct kube_container_ref *ret,
				   size_t max)
{
	const char *uid = p->mirror_uid[0] ? p->mirror_uid : p->uid;
	size_t n = 0;

	for (unsigned i = 0; i < p->n_containers; i++) {
		const struct kube_container *c = &p->containers[i];

		if (!c->running || !c->id[0] || c->type == KUBE_CONTAINER_EPHEMERAL ||
		    (c->type == KUBE_CONTAINER_INIT && !c->sidecar))
			continue;
		if (n < max) {
			snprintf(ret[n].pod_uid, sizeof(ret[n].pod_uid), "%s", uid);
			snprintf(ret[n].id, sizeof(ret[n].id), "%s", c->id);
		}
		n++;
	}
	return n;
}

static struct pod_ent *pod_find(const struct kube_store *st, const char *uid)
{
	struct pod_ent *pe;

	if (!uid || !*uid)
		return NULL;
	pe = strmap_get(&st->pods, uid);
	return pe ? pe : strmap_get(&st->mirrors, uid);
}

static void mirror_del(struct kube_store *st, struct pod_ent *pe)
{
	const char *m = pe->pod->mirror_uid;

	if (m[0] && strmap_get(&st->mirrors, m) == pe)
		strmap_del(&st->mirrors, m);
}

static void mirror_add(struct kube_store *st, struct pod_ent *pe)
{
	const char *m = pe->pod->mirror_uid;

	/* An alias never shadows a real UID, and the first pod claiming one keeps it. */
	if (m[0] && !strmap_get(&st->pods, m) && !strmap_get(&st->mirrors, m))
		strmap_put(&st->mirrors, m, pe);
}

int kube_store_put_pod(struct kube_store *st, struct kube_pod *p, double now)
{
	struct pod_ent *pe = strmap_get(&st->pods, p->uid);

	p->updated_at = now;
	if (pe) {
		if (pe->seen != st->mark)
			st->n_fresh++;
		pe->seen = st->mark;
		if (p->rv[0] && strcmp(pe->pod->rv, p->rv) == 0) {
			kube_pod_free(p);
			return 0;
		}
		mirror_del(st, pe);
		kube_pod_free(pe->pod);
		pe->pod = p;
		mirror_add(st, pe);
		st->gen++;
		return 1;
	}
	/* During a relist the pods not listed yet are on their way out: they do not count,
	 * up to twice the limit in total. */
	if (st->n_fresh >= st->o.max_pods || st->pods.n >= 2 * st->o.max_pods) {
		kube_pod_free(p);
		return -ENOSPC;
	}
	pe = calloc(1, sizeof(*pe));
	if (!pe || strmap_put(&st->pods, p->uid, pe)) {
		free(pe);
		kube_pod_free(p);
		return -ENOMEM;
	}
	pe->pod = p;
	pe->seen = st->mark;
	st->n_fresh++;
	mirror_add(st, pe);
	st->gen++;
	return 1;
}

int kube_store_delete_pod(struct kube_store *st, const char *uid)
{
	struct pod_ent *pe = strmap_get(&st->pods, uid);

	if (!pe)
		return 0;
	if (pe->seen == st->mark)
		st->n_fresh--;
	mirror_del(st, pe);
	strmap_del(&st->pods, uid);
	pod_ent_free(pe);
	st->gen++;
	return 1;
}

void kube_store_mark(struct kube_store *st)
{
	st->mark++;
	st->n_fresh = 0;
}

size_t kube_store_sweep(struct kube_store *st)
{
	char *gone[64];
	size_t removed = 0, n;

	/* Collect, then delete: the map must not change while it is walked. */
	do {
		n = 0;
		STRMAP_FOREACH(&st->pods, e)
		{
			struct pod_ent *pe = e->val;

			if (pe->seen != st->mark && n < 64)
				gone[n++] = pe->pod->uid;
		}
		for (size_t i = 0; i < n; i++) {
			char uid[KUBE_UID_MAX + 1];

			snprintf(uid, sizeof(uid), "%s", gone[i]);
			removed += kube_store_delete_pod(st, uid);
		}
	} while (n == 64);
	return removed;
}

size_t kube_store_n_pods(const struct kube_store *st)
{
	return st->pods.n;
}

uint64_t kube_store_generation(const struct kube_store *st)
{
	return st->gen;
}

void kube_store_cache_sizes(const struct kube_store *st, uint64_t ret[KUBE_CACHE_MAX])
{
	memcpy(ret, st->n_cache, sizeof(st->n_cache));
}

/* ---- caches ---- */

static void cache_key(const struct kube_fetch *f, char *buf, size_t len)
{
	snprintf(buf, len, "%d\x1f%d\x1f%s\x1f%s", (int)f->cache, (int)f->kind, f->ns, f->name);
}

static struct centry *cache_get(const struct kube_store *st, enum kube_cache cache,
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
	centry_free(e);
}

static bool expired(const struct kube_store *st, const struct centry *e, double now)
{
	return e->state == ST_PENDING || e->state == ST_ERROR || now - e->fetched_at >= st->o.ttl;
}

/* Evicts entries no pod used in the current scan once they are expired. Returns how many. */
static size_t cache_evict(struct kube_store *st, double now, enum kube_cache only, bool any)
{
	struct centry *victims[64];
	size_t n = 0, total = 0;

	do {
		n = 0;
		STRMAP_FOREACH(&st->cache, e)
		{
			struct centry *c = e->val;

			if (n < 64 && c->used != st->scan && (!any || c->key.cache == only) &&
			    expired(st, c, now))
				victims[n++] = c;
		}
		for (size_t i = 0; i < n; i++)
			cache_del(st, victims[i]);
		total += n;
	} while (n == 64);
	return total;
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
	struct centry *e = cache_get(st, cache, kind, ns, name);
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

static bool fetchable(enum kube_kind k)
{
	return k > KUBE_KIND_POD && k < KUBE_KIND_MAX;
}

static void pod_needs(struct scan_ctx *sc, const struct kube_pod *p)
{
	struct kube_owner o;

	kube_owner_derive(p->controller.kind, p->controller.api_version, p->controller.name,
			  p->name, p->template_hash, &o);
	if (fetchable(o.kind)) {
		struct centry *e;

		need(sc, KUBE_CACHE_WORKLOAD, o.kind, p->ns, o.name);
		e = cache_get(sc->st, KUBE_CACHE_WORKLOAD, o.kind, p->ns, o.name);
		if (e && e->state == ST_NOTFOUND && fetchable(o.fallback))
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
	return cache_get(st, f->cache, f->kind, f->ns, f->name);
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

/* ---- lookups ---- */

void kube_store_workload(const struct kube_store *st, const struct kube_pod *p,
			 struct kube_workload_info *ret)
{
	const struct kube_workload *wl = NULL;
	const struct centry *e;
	struct kube_owner o;

	memset(ret, 0, sizeof(*ret));
	kube_owner_derive(p->controller.kind, p->controller.api_version, p->controller.name,
			  p->name, p->template_hash, &o);
	snprintf(ret->kind, sizeof(ret->kind), "%s", o.kind_name);
	snprintf(ret->name, sizeof(ret->name), "%s", o.name);
	ret->settled = !fetchable(o.kind);
	if (fetchable(o.kind)) {
		e = cache_get(st, KUBE_CACHE_WORKLOAD, o.kind, p->ns, o.name);
		if (e && e->has_data) {
			wl = &e->u.wl;
		} else if (e && e->state == ST_NOTFOUND && fetchable(o.fallback)) {
			/* The guess was wrong (a ReplicaSet or Job of its own): use what is there. */
			snprintf(ret->kind, sizeof(ret->kind), "%s", kube_kind_name(o.fallback));
			snprintf(ret->name, sizeof(ret->name), "%s", o.fallback_name);
			e = cache_get(st, KUBE_CACHE_WORKLOAD, o.fallback, p->ns, o.fallback_name);
			if (e && e->has_data)
				wl = &e->u.wl;
		}
		ret->settled = e && e->state != ST_PENDING;
	}
	if (wl) {
		ret->confirmed = true;
		ret->spec = *wl;
		ret->operator_ref = wl->controller;
	}
	kube_helm_resolve(wl, p, &ret->helm);
	snprintf(ret->ignore_rules, sizeof(ret->ignore_rules), "%s",
		 wl && wl->ignore_rules[0] ? wl->ignore_rules : p->ignore_rules);
	e = cache_get(st, KUBE_CACHE_HPA, KUBE_KIND_OTHER, p->ns, "");
	for (unsigned i = 0; e && e->has_data && i < e->u.hpas.n; i++) {
		const struct kube_hpa *h = &e->u.hpas.items[i];

		if (strcmp(h->target_kind, ret->kind) == 0 &&
		    strcmp(h->target_name, ret->name) == 0) {
			ret->has_hpa = true;
			snprintf(ret->hpa_name, sizeof(ret->hpa_name), "%s", h->name);
			ret->hpa_min = h->min_replicas;
			ret->hpa_max = h->max_replicas;
			break;
		}
	}
}

/* An id that is in no container status: the sandbox, or a container kubelet has not reported
 * yet. It is the sandbox once the pod's statuses are complete and were refreshed after the
 * cgroup appeared, or once the cgroup is older than the grace period. */
static bool sandbox_ok(const struct kube_store *st, const struct kube_pod *p, double first_seen,
		       double now)
{
	bool complete = true;

	if (first_seen <= 0)
		return true; /* it predates the agent: not a container started just now */
	for (unsigned i = 0; i < p->n_containers; i++) {
		if (p->containers[i].type != KUBE_CONTAINER_EPHEMERAL && !p->containers[i].id[0])
			complete = false;
	}
	return (complete && p->updated_at > first_seen) || now - first_seen >= st->o.sandbox_grace;
}

int kube_store_container(const struct kube_store *st, const char *uid, const char *container_id,
			 double first_seen, double now, struct kube_container_info *ret)
{
	const struct pod_ent *pe = pod_find(st, uid);
	const struct kube_container *c = NULL;
	struct kube_workload_info wi;
	const struct kube_pod *p;

	if (!pe)
		return -ENOENT;
	p = pe->pod;
	if (container_id && *container_id) {
		for (unsigned i = 0; i < p->n_containers && !c; i++) {
			if (strcmp(p->containers[i].id, container_id) == 0 ||
			    strcmp(p->containers[i].last_id, container_id) == 0)
				c = &p->containers[i];
		}
		if (!c && !sandbox_ok(st, p, first_seen, now))
			return -EAGAIN;
	}
	memset(ret, 0, sizeof(*ret));
	kube_store_workload(st, p, &wi);
	snprintf(ret->labels.ns, sizeof(ret->labels.ns), "%s", p->ns);
	snprintf(ret->labels.pod, sizeof(ret->labels.pod), "%s", p->name);
	snprintf(ret->labels.container, sizeof(ret->labels.container), "%s",
		 c ? c->name : KUBE_SANDBOX_NAME);
	snprintf(ret->labels.workload_kind, sizeof(ret->labels.workload_kind), "%s", wi.kind);
	snprintf(ret->labels.workload, sizeof(ret->labels.workload), "%s", wi.name);
	snprintf(ret->labels.helm_release, sizeof(ret->labels.helm_release), "%s", wi.helm.release);
	snprintf(ret->pod_uid, sizeof(ret->pod_uid), "%s", p->uid);
	snprintf(ret->container_id, sizeof(ret->container_id), "%s",
		 container_id ? container_id : "");
	ret->sandbox = !c;
	if (c)
		ret->container = *c;
	return 0;
}

int kube_store_labels(const struct kube_store *st, const char *uid, const char *container_id,
		      double first_seen, double now, struct kube_labels *ret)
{
	struct kube_container_info ci;
	int r = kube_store_container(st, uid, container_id, first_seen, now, &ci);

	if (!r)
		*ret = ci.labels;
	return r;
}

struct kube_pod_info *kube_pod_info_free(struct kube_pod_info *p)
{
	if (!p)
		return NULL;
	free(p->containers);
	free(p->volumes);
	free(p);
	return NULL;
}

int kube_store_pod(const struct kube_store *st, const char *uid, struct kube_pod_info **ret)
{
	const struct pod_ent *pe = pod_find(st, uid);
	const struct kube_pod *p;
	struct kube_pod_info *pi;
	const struct centry *e;

	if (!pe)
		return -ENOENT;
	p = pe->pod;
	pi = calloc(1, sizeof(*pi));
	if (!pi)
		return -ENOMEM;
	pi->containers = calloc(p->n_containers ? p->n_containers : 1, sizeof(*pi->containers));
	pi->volumes = calloc(p->n_volumes ? p->n_volumes : 1, sizeof(*pi->volumes));
	if (!pi->containers || !pi->volumes) {
		kube_pod_info_free(pi);
		return -ENOMEM;
	}
	memcpy(pi->uid, p->uid, sizeof(pi->uid));
	memcpy(pi->ns, p->ns, sizeof(pi->ns));
	memcpy(pi->name, p->name, sizeof(pi->name));
	memcpy(pi->node, p->node, sizeof(pi->node));
	memcpy(pi->qos, p->qos, sizeof(pi->qos));
	memcpy(pi->phase, p->phase, sizeof(pi->phase));
	memcpy(pi->ips, p->ips, sizeof(pi->ips));
	pi->n_ips = p->n_ips;
	pi->start_time = p->start_time;
	pi->host_network = p->host_network;
	pi->host_pid = p->host_pid;
	pi->host_ipc = p->host_ipc;
	kube_store_workload(st, p, &pi->workload);
	memcpy(pi->containers, p->containers, p->n_containers * sizeof(*p->containers));
	pi->n_containers = p->n_containers;
	for (unsigned i = 0; i < p->n_volumes; i++) {
		struct kube_volume_info *vi = &pi->volumes[i];

		vi->vol = p->volumes[i];
		e = vi->vol.claim[0] ?
			    cache_get(st, KUBE_CACHE_PVC, KUBE_KIND_OTHER, p->ns, vi->vol.claim) :
			    NULL;
		if (e && e->has_data) {
			vi->pvc_known = true;
			vi->pvc = e->u.pvc;
		}
		vi->pvc_pending = vi->vol.claim[0] && (!e || e->state == ST_PENDING);
	}
	pi->n_volumes = p->n_volumes;
	e = cache_get(st, KUBE_CACHE_PDB, KUBE_KIND_OTHER, p->ns, "");
	for (unsigned i = 0; e && e->has_data && i < e->u.pdbs.n; i++) {
		const struct kube_pdb *d = &e->u.pdbs.items[i];

		if (kube_selector_matches(&d->selector, p)) {
			pi->has_pdb = true;
			memcpy(pi->pdb_name, d->name, sizeof(pi->pdb_name));
			memcpy(pi->pdb_min_available, d->min_available,
			       sizeof(pi->pdb_min_available));
			memcpy(pi->pdb_max_unavailable, d->max_unavailable,
			       sizeof(pi->pdb_max_unavailable));
			break;
		}
	}
	*ret = pi;
	return 0;
}

int kube_pod_volume_by_dir(const struct kube_pod_info *p, const char *dir,
			   const struct kube_volume_info **ret)
{
	bool pending = false;

	if (!dir || !dir[0])
		return -ENOENT;
	/* PV names first: a pod volume may happen to carry some PV's name. */
	for (unsigned i = 0; i < p->n_volumes; i++) {
		const struct kube_volume_info *v = &p->volumes[i];

		if (v->vol.claim[0] && v->pvc_known && strcmp(v->pvc.volume_name, dir) == 0) {
			*ret = v;
			return 0;
		}
		pending |= v->pvc_pending;
	}
	for (unsigned i = 0; i < p->n_volumes; i++) {
		if (strcmp(p->volumes[i].vol.name, dir) == 0) {
			*ret = &p->volumes[i];
			return 0;
		}
	}
	return pending ? -EAGAIN : -ENOENT;
}

int kube_store_foreach_pod(const struct kube_store *st,
			   int (*fn)(void *ctx, const struct kube_pod *p), void *ctx)
{
	STRMAP_FOREACH(&st->pods, e)
	{
		int r = fn(ctx, ((struct pod_ent *)e->val)->pod);

		if (r)
			return r;
	}
	return 0;
}
