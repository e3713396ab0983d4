// SPDX-License-Identifier: BSD-2-Clause
#include "rules/rules_kube.h"

#include <stdio.h>
#include <string.h>

static const struct kube_container *find_container(const struct kube_pod_info *p, const char *id)
{
	for (unsigned i = 0; id[0] && i < p->n_containers; i++) {
		if (strcmp(p->containers[i].id, id) == 0 ||
		    strcmp(p->containers[i].last_id, id) == 0)
			return &p->containers[i];
	}
	return NULL;
}

int rules_kube_facts(void *ctx, const struct snap_series *se, struct rules_facts *ret)
{
	struct rules_kube_ctx *c = ctx;
	const char *uid = se->labels[LBL_POD_UID];
	const struct kube_container *ct;
	const struct kube_pod_info *p;

	/* Not a pod: the host's own, judged only when asked. */
	if (!uid[0])
		return c->judge_host ? rules_local_facts(NULL, se, ret) : -1;
	/* A pod the metadata does not know (yet): judged as a local workload. */
	if (!se->labels[LBL_NAMESPACE][0])
		return rules_local_facts(NULL, se, ret);
	if (!c->pod || strcmp(c->uid, uid) != 0) {
		rules_kube_ctx_reset(c);
		if (kube_meta__pod(c->km, uid, &c->pod))
			return rules_local_facts(NULL, se, ret);
		snprintf(c->uid, sizeof(c->uid), "%s", uid);
	}
	p = c->pod;
	memset(ret, 0, sizeof(*ret));
	ret->known = true;
	snprintf(ret->ns, sizeof(ret->ns), "%s", se->labels[LBL_NAMESPACE]);
	snprintf(ret->pod, sizeof(ret->pod), "%s", se->labels[LBL_POD]);
	snprintf(ret->pod_uid, sizeof(ret->pod_uid), "%s", uid);
	snprintf(ret->container, sizeof(ret->container), "%s", se->labels[LBL_CONTAINER]);
	snprintf(ret->workload_kind, sizeof(ret->workload_kind), "%s",
		 se->labels[LBL_WORKLOAD_KIND]);
	snprintf(ret->workload, sizeof(ret->workload), "%s", se->labels[LBL_WORKLOAD]);
	snprintf(ret->helm_release, sizeof(ret->helm_release), "%s", se->labels[LBL_HELM_RELEASE]);
	ret->sandbox = strcmp(se->labels[LBL_CONTAINER], KUBE_SANDBOX_NAME) == 0;
	ct = find_container(p, se->labels[LBL_CONTAINER_ID]);
	if (!ct && !ret->sandbox)
		return -1; /* a container the pod does not list (yet): no facts to judge it by */
	if (ct) {
		ret->init = ct->type == KUBE_CONTAINER_INIT && !ct->sidecar;
		ret->started_at = ct->started_at > 0 ? ct->started_at : p->start_time;
		ret->has_cpu_request = ct->res.cpu_request >= 0;
		ret->has_memory_request = ct->res.memory_request >= 0;
		ret->has_memory_limit = ct->res.memory_limit >= 0;
		ret->has_cpu_limit = ct->res.cpu_limit > 0;
		ret->cpu_limit = ct->res.cpu_limit > 0 ? ct->res.cpu_limit : 0;
		ret->cpu_request = ct->res.cpu_request > 0 ? ct->res.cpu_request : 0;
		ret->memory_request = ct->res.memory_request > 0 ? ct->res.memory_request : 0;
		ret->memory_limit = ct->res.memory_limit > 0 ? ct->res.memory_limit : 0;
		ret->restarts = ct->restart_count;
		snprintf(ret->last_reason, sizeof(ret->last_reason), "%s", ct->last_reason);
		ret->last_finished_at = ct->last_finished_at;
		ret->readiness_probe = ct->readiness_probe;
		for (unsigned i = 0; i < ct->n_ports && ret->n_ports < 8; i++)
			ret->ports[ret->n_ports++] = ct->ports[i];
		ret->privileged = ct->privileged;
		ret->read_only_root_fs = ct->read_only_root_fs;
	}
	ret->host_network = p->host_network;
	ret->host_pid = p->host_pid;
	ret->host_ipc = p->host_ipc;
	for (unsigned i = 0; i < p->n_volumes; i++) {
		const struct kube_volume_info *v = &p->volumes[i];

		if (v->vol.kind == KUBE_VOL_HOSTPATH)
			ret->host_path = true;
		/* A Memory emptyDir fills the pod's memory (its limit), not the node's disk. */
		if (v->vol.kind == KUBE_VOL_EMPTYDIR && !v->vol.medium_memory &&
		    v->vol.size_limit < 0 && ret->n_unbounded_emptydirs < 8)
			snprintf(ret->unbounded_emptydirs[ret->n_unbounded_emptydirs++],
				 sizeof(ret->unbounded_emptydirs[0]), "%s", v->vol.name);
		if (v->pvc_known && (v->pvc.access_modes & (KUBE_ACCESS_RWO | KUBE_ACCESS_RWOP)) &&
		    !ret->rwo_claim[0])
			snprintf(ret->rwo_claim, sizeof(ret->rwo_claim), "%s", v->pvc.name);
	}
	ret->pending = !p->workload.settled;
	ret->replicas = p->workload.confirmed ? p->workload.spec.replicas : -1;
	ret->rolling_update = p->workload.confirmed &&
			      p->workload.spec.kind == KUBE_KIND_DEPLOYMENT &&
			      (!p->workload.spec.strategy[0] ||
			       strcmp(p->workload.spec.strategy, "RollingUpdate") == 0);
	ret->hpa_max = p->workload.has_hpa ? p->workload.hpa_max : 0;
	for (unsigned i = 0; i < p->n_ips && i < 4; i++)
		snprintf(ret->pod_ips[ret->n_pod_ips++], sizeof(ret->pod_ips[0]), "%s", p->ips[i]);
	snprintf(ret->ignore_rules, sizeof(ret->ignore_rules), "%s", p->workload.ignore_rules);
	return 0;
}

void rules_kube_ctx_reset(struct rules_kube_ctx *c)
{
	c->pod = kube_pod_info_free(c->pod);
	c->uid[0] = '\0';
}
