/* SPDX-License-Identifier: BSD-2-Clause */
/* The metadata store behind kube_meta: the pods of this node by UID, and the caches of what
 * they reference (top-level workloads, PVCs, per-namespace PDB and HPA lists) with their
 * fetch schedule. A plain data structure: no locking (kube_meta holds one lock around it), no
 * I/O, explicit time, so the resolution rules are unit-tested directly. */
#ifndef BPFDIAG_KUBE_STORE_H
#define BPFDIAG_KUBE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kube/kube_meta.h"
#include "kube/kube_parse.h"

struct kube_store_opts {
	size_t max_pods; /* 0: 1024 */
	size_t max_cache; /* entries per cache; 0: 4096 */
	double ttl; /* seconds a fetched entry stays fresh; 0: 300 */
	double retry_min; /* first retry after a failed fetch; doubles up to ttl; 0: 5 */
	double sandbox_grace; /* 0: 30 */
};

/* One fetch the enrichment thread should do. */
struct kube_fetch {
	enum kube_cache cache;
	enum kube_kind kind; /* KUBE_CACHE_WORKLOAD only */
	char ns[KUBE_NS_MAX + 1];
	char name[KUBE_NAME_MAX + 1]; /* "" for the per-namespace lists */
};

struct kube_store;

/* Returns a new store, or NULL. */
struct kube_store *kube_store_new(const struct kube_store_opts *opts);
/* Accepts NULL; returns NULL. */
struct kube_store *kube_store_free(struct kube_store *st);

/* Adds or replaces a pod (the store takes p; now is monotonic seconds). Returns 1 when the
 * store changed, 0 when the same resourceVersion was there already, -ENOSPC when the table is
 * full, -ENOMEM (p is freed on errors). */
int kube_store_put_pod(struct kube_store *st, struct kube_pod *p, double now);
/* Returns 1 when a pod was removed, 0 when uid was unknown. */
int kube_store_delete_pod(struct kube_store *st, const char *uid);
/* Relist: mark every pod, put the listed ones, then sweep the rest. */
void kube_store_mark(struct kube_store *st);
/* Removes the pods not put since kube_store_mark; returns how many. */
size_t kube_store_sweep(struct kube_store *st);
size_t kube_store_n_pods(const struct kube_store *st);
uint64_t kube_store_generation(const struct kube_store *st);
void kube_store_cache_sizes(const struct kube_store *st, uint64_t ret[KUBE_CACHE_MAX]);

/* The next entry a current pod needs that is missing or stale at now. Returns 1 with *ret,
 * 0 when nothing is due (*ret_next: when the next one will be, or 0 for never), -ENOSPC when
 * a cache is full of entries still in use. Evicts entries no pod uses once they expire. */
int kube_store_next_fetch(struct kube_store *st, double now, struct kube_fetch *ret,
			  double *ret_next);
/* Results of a fetch. result: 0 found (data valid), -ENOENT not found, anything else a
 * failure (the old data is kept and the fetch retried with backoff). The list variants take
 * items (freed on every path). Return 0, or -ENOENT when the entry was evicted meanwhile. */
int kube_store_put_workload(struct kube_store *st, const struct kube_fetch *f, int result,
			    const struct kube_workload *wl, double now);
int kube_store_put_pvc(struct kube_store *st, const struct kube_fetch *f, int result,
		       const struct kube_pvc *pvc, double now);
int kube_store_put_pdbs(struct kube_store *st, const struct kube_fetch *f, int result,
			struct kube_pdb *items, unsigned n, double now);
int kube_store_put_hpas(struct kube_store *st, const struct kube_fetch *f, int result,
			struct kube_hpa *items, unsigned n, double now);

/* Lookups; see kube_meta__labels for the arguments and returns. */
int kube_store_labels(const struct kube_store *st, const char *uid, const char *container_id,
		      double first_seen, double now, struct kube_labels *ret);
int kube_store_container(const struct kube_store *st, const char *uid, const char *container_id,
			 double first_seen, double now, struct kube_container_info *ret);
int kube_store_pod(const struct kube_store *st, const char *uid, struct kube_pod_info **ret);
/* The top-level workload and Helm release of a stored pod. */
void kube_store_workload(const struct kube_store *st, const struct kube_pod *p,
			 struct kube_workload_info *ret);
/* The containers of p that have a cgroup, as kube_meta__containers lists them: running app
 * containers and sidecars with an id, under the UID their cgroups carry (the mirror pod of a
 * static pod names the kubelet's). Fills up to max entries of ret; returns how many there are
 * (maybe more than max). Pure. */
size_t kube_pod_running_containers(const struct kube_pod *p, struct kube_container_ref *ret,
				   size_t max);
/* Calls fn for each pod (in no particular order); stops at a non-zero return and returns it. */
int kube_store_foreach_pod(const struct kube_store *st,
			   int (*fn)(void *ctx, const struct kube_pod *p), void *ctx);

#endif
