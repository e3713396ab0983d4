/* SPDX-License-Identifier: BSD-2-Clause */
/* The labels of a cgroup without Kubernetes metadata (local mode, or before it arrives). */
#ifndef BPFDIAG_ENGINE_LOCAL_LABELS_H
#define BPFDIAG_ENGINE_LOCAL_LABELS_H

#include "host/cgroup_path.h"
#include "model/snapshot.h"

/* Local-mode labels of a cgroup (no Kubernetes metadata): workload_kind SystemdService,
 * Container or Cgroup, workload the unit, container id or cgroup path; kubelet-shaped cgroups
 * also carry pod_uid and container_id. Pure; ret[] points into id/path or at "". Nested
 * cgroups get the labels of what contains them, so they add up to one series. */
void engine_local_labels(const struct cgroup_ident *id, const char *path, const char *ret[LBL_MAX]);

#endif
