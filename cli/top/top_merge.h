/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top --cluster's model: the snapshots of every node's agent merged into one, each pod
 * and finding carrying its node, and a node whose agent did not answer listed with why. Pure. */
#ifndef BPFDIAG_TOP_MERGE_H
#define BPFDIAG_TOP_MERGE_H

#include <stddef.h>

#include "top/top_model.h"

/* One node's part. */
struct top_part {
	const char *node; /* the node's name */
	const char *agent; /* its agent pod, "namespace/name" */
	struct top_snapshot *s; /* what its agent answered, taken by the merge; NULL: nothing */
	const char *why; /* with s NULL: why not */
};

/* Merges the n parts into a new snapshot (the parts' snapshots are taken and freed, also on
 * failure): pods and findings of every part with their node (a pod's key gets the node in
 * front, so that pods without a uid on two nodes stay apart), totals summed, findings worst
 * first, one top_node per part sorted by name. The findings are known when some node's are.
 * Returns 0 or -ENOMEM. */
int top_snapshot_merge(struct top_part *parts, size_t n, struct top_snapshot **ret);
/* One status line of a node: its agent's health (top_health_line) or "NO-ANSWER: why".
 * Returns the severity: 0 ok, 1 degraded or unknown, 2 stale or no answer. */
int top_node_line(const struct top_node *nd, double now, double stale_after, char *buf,
		  size_t size);
/* "2 of 3 answer; NO-ANSWER: node-c" into buf. Returns 0 when every node answered, else 2. */
int top_nodes_line(const struct top_snapshot *s, char *buf, size_t size);
/* How many of s's nodes answered. */
size_t top_nodes_answered(const struct top_snapshot *s);

#endif
