// SPDX-License-Identifier: BSD-2-Clause
/* Answers built from the pods and the caches: a pod's workload, a container's labels and spec,
 * everything about a pod, a volume by its kubelet directory. */
#include "kube/kube_store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	ret->settled = !kube_kind_fetchable(o.kind);
	if (kube_kind_fetchable(o.kind)) {
		e = kube_cache_get(st, KUBE_CACHE_WORKLOAD, o.kind, p->ns, o.name);
		if (e && e->has_data) {
			wl = &e->u.wl;
		} else if (e && e->state == ST_NOTFOUND && kube_kind_fetchable(o.fallback)) {
			/* The guess was wrong (a ReplicaSet or Job of its own): use what is there. */
			snprintf(ret->kind, sizeof(ret->kind), "%s", kube_kind_name(o.fallback));
			snprintf(ret->name, sizeof(ret->name), "%s", o.fallback_name);
			e = kube_cache_get(st, KUBE_CACHE_WORKLOAD, o.fallback, p->ns,
					   o.fallback_name);
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
	e = kube_cache_get(st, KUBE_CACHE_HPA, KUBE_KIND_OTHER, p->ns, "");
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
	const struct pod_ent *pe = kube_store_find(st, uid);
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
	const struct pod_ent *pe = kube_store_find(st, uid);
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
		e = vi->vol.claim[0] ? kube_cache_get(st, KUBE_CACHE_PVC, KUBE_KIND_OTHER, p->ns,
						      vi->vol.claim) :
				       NULL;
		if (e && e->has_data) {
			vi->pvc_known = true;
			vi->pvc = e->u.pvc;
		}
		vi->pvc_pending = vi->vol.claim[0] && (!e || e->state == ST_PENDING);
	}
	pi->n_volumes = p->n_volumes;
	e = kube_cache_get(st, KUBE_CACHE_PDB, KUBE_KIND_OTHER, p->ns, "");
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
