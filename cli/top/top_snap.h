/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top's model built straight from a pipeline snapshot (in-process `top` and `check`):
 * the same pods, containers, findings and health that an agent's documents of that snapshot
 * give through top_json.h and top_health.h, without rendering them first. */
#ifndef BPFDIAG_TOP_SNAP_H
#define BPFDIAG_TOP_SNAP_H

#include <stddef.h>

#include "model/snapshot.h"
#include "top/top_model.h"

/* The snapshot's pods (series of one pod UID grouped into one pod, every other series a pod
 * of its own, as /api/v1/pods), findings and agent health. Returns 0 with a new model, or
 * -ENOMEM. */
int top_snapshot_from(const struct snapshot *s, struct top_snapshot **ret);
/* The snapshot's findings in its order (free with top_findings_free). Returns 0 or -ENOMEM. */
int top_findings_from(const struct snapshot *s, struct top_finding **ret, size_t *ret_n);
/* The agent's self-health from the snapshot's agent section. */
void top_health_from(struct top_health *h, const struct snap_agent *a);

#endif
