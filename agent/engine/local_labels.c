// SPDX-License-Identifier: BSD-2-Clause
#include "engine/local_labels.h"

void engine_local_labels(const struct cgroup_ident *id, const char *path, const char *ret[LBL_MAX])
{
	for (int i = 0; i < LBL_MAX; i++)
		ret[i] = "";
	switch (id->kind) {
	case CGROUP_KUBE_CONTAINER:
		ret[LBL_POD_UID] = id->pod_uid;
		ret[LBL_CONTAINER_ID] = id->container_id;
		ret[LBL_WORKLOAD_KIND] = "Container";
		ret[LBL_WORKLOAD] = id->container_id;
		return;
	case CGROUP_CONTAINER:
		ret[LBL_CONTAINER_ID] = id->container_id;
		ret[LBL_WORKLOAD_KIND] = "Container";
		ret[LBL_WORKLOAD] = id->container_id;
		return;
	case CGROUP_SYSTEMD_SERVICE:
		ret[LBL_WORKLOAD_KIND] = "SystemdService";
		ret[LBL_WORKLOAD] = id->unit;
		return;
	case CGROUP_KUBE_POD:
		ret[LBL_POD_UID] = id->pod_uid;
		break;
	case CGROUP_KUBE_QOS:
	case CGROUP_PLAIN:
		break;
	}
	ret[LBL_WORKLOAD_KIND] = "Cgroup";
	ret[LBL_WORKLOAD] = path;
}
