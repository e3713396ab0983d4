// SPDX-License-Identifier: BSD-2-Clause
/* The pods of this node by UID (and by a static pod's kubelet UID), with the relist mark and
 * sweep. */
#include "kube/kube_store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pod_ent_free(void *v)
{
	struct pod_ent *pe = v;

	kube_pod_free(pe->pod);
	free(pe);
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
	strmap_destroy(&st->cache, kube_cache_entry_free);
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

struct pod_ent *kube_store_find(const struct kube_store *st, const char *uid)
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
	size_t removed = 0;

	STRMAP_FOREACH(&st->pods, e)
	{
		struct pod_ent *pe = e->val;

		if (pe->seen != st->mark)
			removed += kube_store_delete_pod(st, pe->pod->uid);
	}
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
