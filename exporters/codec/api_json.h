/* SPDX-License-Identifier: BSD-2-Clause */
/* JSON documents of the agent API (/api/v1/pods, /api/v1/findings), rendered from a snapshot.
 * A codec: no I/O. */
#ifndef BPFDIAG_API_JSON_H
#define BPFDIAG_API_JSON_H

#include "base/strbuf.h"
#include "model/snapshot.h"

/* {"node", "time", "pods": [{"namespace", "pod", "uid", "workload_kind", "workload",
 * "helm_release", "cpu_cores", "containers": [{"name", "id", "cgroup_id", "cgroup_path",
 * "cpu_seconds_total", "cpu_cores"}]}]}. Series of one pod UID group into one pod; every other
 * series (local mode) is a pod entry of its own. Returns 0 or -ENOMEM. */
int api_pods_json(const struct snapshot *s, struct strbuf *out);
/* {"findings": [...]} per SPEC §6. Returns 0 or -ENOMEM. */
int api_findings_json(const struct snapshot *s, struct strbuf *out);

#endif
