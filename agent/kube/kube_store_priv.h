/* SPDX-License-Identifier: BSD-2-Clause */
/* Inside the metadata store (kube_store.c: the pods; kube_cache.c: what they reference and its
 * fetch schedule; kube_lookup.c: the answers built from both). */
#ifndef BPFDIAG_KUBE_STORE_PRIV_H
#define BPFDIAG_KUBE_STORE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "base/strmap.h"
#include "kube/kube_store.h"

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

/* The pod with this UID, or with this static pod's kubelet UID; NULL. */
struct pod_ent *kube_store_find(const struct kube_store *st, const char *uid);

/* A cache entry, or NULL. */
struct centry *kube_cache_get(const struct kube_store *st, enum kube_cache cache,
			      enum kube_kind kind, const char *ns, const char *name);
/* Frees an entry and what it holds (a strmap value destructor). */
void kube_cache_entry_free(void *v);

/* Kinds the enrichment thread GETs: the built-in workloads, not pods nor operators' kinds. */
static inline bool kube_kind_fetchable(enum kube_kind k)
{
	return k > KUBE_KIND_POD && k < KUBE_KIND_MAX;
}

#endif
