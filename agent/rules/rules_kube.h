/* SPDX-License-Identifier: BSD-2-Clause */
/* Rules facts from Kubernetes metadata: the pod spec, its workload and its volumes, as the
 * metadata client knows them. */
#ifndef BPFDIAG_RULES_KUBE_H
#define BPFDIAG_RULES_KUBE_H

#include "kube/kube_meta.h"
#include "rules/rules.h"

/* Context of one rules_update pass: caches the pod last looked up (a pod's containers are
 * adjacent in a snapshot). */
struct rules_kube_ctx {
	struct kube_meta *km;
	bool judge_host; /* also judge cgroups outside pods (as local workloads) */
	char uid[KUBE_UID_MAX + 1];
	struct kube_pod_info *pod;
};

/* rules_facts_fn: Kubernetes facts for containers of known pods, local facts for pods the
 * metadata does not know (yet). Cgroups outside pods (the root cgroup, system services) are
 * measured but not judged (non-zero), unless judge_host: then local facts. */
int rules_kube_facts(void *ctx, const struct snap_series *se, struct rules_facts *ret);
/* Frees what the context cached; call after each rules_update. */
void rules_kube_ctx_reset(struct rules_kube_ctx *c);

#endif
