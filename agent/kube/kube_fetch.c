// SPDX-License-Identifier: BSD-2-Clause
/* Enrichment: the GETs of top-level workloads, PVCs and the per-namespace PDB and HPA lists
 * the store asks for, rate-limited, on a thread of its own. */
#include "kube/kube_meta_priv.h"
#include "base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET_TIMEOUT_MS 15000L

static void fetch(struct kube_meta *km, const struct kube_fetch *f)
{
	enum source src = (enum source)(SRC_WORKLOAD + f->cache);
	struct kube_http h = { .err = KERR_MAX };
	struct kube_workload wl = { 0 };
	struct kube_pvc pvc = { 0 };
	struct kube_pdb *pdbs = NULL;
	struct kube_hpa *hpas = NULL;
	unsigned n = 0;
	bool truncated = false;
	json_object *obj = NULL;
	const char *why = NULL;
	char path[KUBE_NS_MAX + KUBE_NAME_MAX + 128];
	int r, result = -EIO;

	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		r = kube_object_path(f->kind, f->ns, f->name, path, sizeof(path));
		break;
	case KUBE_CACHE_PVC:
		r = snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s",
			     f->ns, f->name) >= (int)sizeof(path);
		break;
	case KUBE_CACHE_PDB:
		r = snprintf(path, sizeof(path),
			     "/apis/policy/v1/namespaces/%s/poddisruptionbudgets",
			     f->ns) >= (int)sizeof(path);
		break;
	default:
		r = snprintf(path, sizeof(path),
			     "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers",
			     f->ns) >= (int)sizeof(path);
		break;
	}
	if (r) {
		result = -EINVAL;
		goto store;
	}
	r = kube_client_get(km->gc, path, KUBE_MAX_OBJECT, GET_TIMEOUT_MS, &h);
	kube_count(km, src, r, &h);
	if (r == -ECANCELED)
		goto out;
	if (r < 0) {
		kube_fail(km, src, h.err, false, "GET %s: %s", path, h.msg);
		goto store;
	}
	if (h.status == 404) {
		kube_ok(km, src);
		result = -ENOENT;
		goto store;
	}
	if (h.status != 200) {
		char what[sizeof(path) + 8];

		snprintf(what, sizeof(what), "GET %s", path);
		kube_http_fail(km, src, &h, what, false);
		goto store;
	}
	obj = kube_http_json(&h);
	if (!obj) {
		kube_fail(km, src, KERR_MALFORMED, false, "GET %s: the body is not valid JSON",
			  path);
		goto store;
	}
	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		r = kube_workload_parse(obj, f->kind, &wl, &why);
		if (!r && (strcmp(wl.name, f->name) || strcmp(wl.ns, f->ns))) {
			r = -EINVAL;
			why = "the object's name or namespace is not the one asked for";
		}
		break;
	case KUBE_CACHE_PVC:
		r = kube_pvc_parse(obj, &pvc, &why);
		if (!r && (strcmp(pvc.name, f->name) || strcmp(pvc.ns, f->ns))) {
			r = -EINVAL;
			why = "the object's name or namespace is not the one asked for";
		}
		break;
	case KUBE_CACHE_PDB:
		r = kube_pdb_list_parse(obj, &pdbs, &n, &truncated);
		why = "not a list";
		break;
	default:
		r = kube_hpa_list_parse(obj, &hpas, &n, &truncated);
		why = "not a list";
		break;
	}
	if (r == -ENOMEM) {
		kube_fail(km, src, KERR_LIMIT, false, "out of memory");
		goto store;
	}
	if (r) {
		kube_fail(km, src, KERR_INVALID, false, "GET %s: %s", path, why ? why : "invalid");
		goto store;
	}
	if (truncated)
		kube_fail(km, src, KERR_LIMIT, false,
			  "GET %s: more than %d items; the rest ignored", path, KUBE_MAX_NS_ITEMS);
	kube_ok(km, src);
	result = 0;
store:
	pthread_mutex_lock(&km->lock);
	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		kube_store_put_workload(km->st, f, result, &wl, clock_mono());
		break;
	case KUBE_CACHE_PVC:
		kube_store_put_pvc(km->st, f, result, &pvc, clock_mono());
		break;
	case KUBE_CACHE_PDB:
		kube_store_put_pdbs(km->st, f, result, pdbs, n, clock_mono());
		pdbs = NULL;
		break;
	default:
		kube_store_put_hpas(km->st, f, result, hpas, n, clock_mono());
		hpas = NULL;
		break;
	}
	pthread_mutex_unlock(&km->lock);
out:
	kube_pdbs_free(pdbs, n);
	free(hpas);
	json_object_put(obj);
	kube_http_clear(&h);
}

void *kube_fetch_main(void *arg)
{
	struct kube_meta *km = arg;
	double burst = km->o.qps * 2 < 1 ? 1 : km->o.qps * 2, tokens = burst, last = clock_mono();

	pthread_mutex_lock(&km->lock);
	while (!kube_stopping(km)) {
		struct kube_fetch f;
		double next = 0, now = clock_mono();
		int r = kube_store_next_fetch(km->st, now, &f, &next);

		if (r == -ENOSPC) {
			pthread_mutex_unlock(&km->lock);
			kube_fail(
				km, SRC_WORKLOAD, KERR_LIMIT, false,
				"a metadata cache is full of entries in use; some are not fetched");
			pthread_mutex_lock(&km->lock);
		}
		if (r != 1) {
			kube_wait_until(km, next > 0 ? next : now + 60);
			continue;
		}
		tokens += (now - last) * km->o.qps;
		if (tokens > burst)
			tokens = burst;
		last = now;
		if (tokens < 1) {
			kube_wait_until(km, now + (1 - tokens) / km->o.qps);
			continue;
		}
		tokens -= 1;
		pthread_mutex_unlock(&km->lock);
		fetch(km, &f);
		pthread_mutex_lock(&km->lock);
	}
	pthread_mutex_unlock(&km->lock);
	return NULL;
}
