/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top's model from an agent's documents (/api/v1/pods, /api/v1/findings; SPEC §6).
 * Documents come from the network: wrong types read as empty or zero, sizes are bounded
 * (top_model.h). */
#ifndef BPFDIAG_TOP_JSON_H
#define BPFDIAG_TOP_JSON_H

#include <stddef.h>

#include "top/top_model.h"

/* Parses a pods document. Returns 0 with a new snapshot, -EINVAL when doc is not a pods
 * document, or -ENOMEM. */
int top_snapshot_parse(const char *doc, struct top_snapshot **ret);
/* Parses a findings document into s and tags every pod with the rule ids of its workload's
 * findings (same namespace, workload kind and workload). Returns 0, -EINVAL when doc is not a
 * findings document (s unchanged), or -ENOMEM. */
int top_snapshot_set_findings(struct top_snapshot *s, const char *doc);
/* The findings of a findings document, in document order (free with top_findings_free).
 * Returns 0, -EINVAL when doc is not a findings document, or -ENOMEM. */
int top_findings_parse(const char *doc, struct top_finding **ret, size_t *ret_n);

#endif
