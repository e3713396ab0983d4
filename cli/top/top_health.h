/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's self-health in bpfdiag top: folded from bpfdiag_agent_* samples (an agent's
 * /metrics, or in-process the snapshot's agent section, top_snap.h) and summed up in one
 * header line. Pure. */
#ifndef BPFDIAG_TOP_HEALTH_H
#define BPFDIAG_TOP_HEALTH_H

#include <stddef.h>

#include "top/top_model.h"

/* Folds one bpfdiag_agent_* sample into h (labels as in the exposition, without braces);
 * other names are ignored. */
void top_health_sample(struct top_health *h, const char *name, const char *labels, double value);
/* Folds every bpfdiag_agent_* sample of a Prometheus text exposition into h. Returns the
 * number of samples used. */
int top_health_parse_prom(struct top_health *h, const char *text);
/* One summary line of the health ("OK: 12 collections, 0 errors, ..."); stale_after > 0 and
 * now - snapshot time beyond it reports the data as stale. Returns the status word's severity:
 * 0 ok, 1 degraded or unknown, 2 stale. */
int top_health_line(const struct top_snapshot *s, double now, double stale_after, char *buf,
		    size_t size);

#endif
