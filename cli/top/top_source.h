/* SPDX-License-Identifier: BSD-2-Clause */
/* Where bpfdiag top's snapshots come from: the agent's HTTP API (/api/v1/pods, and when they
 * answer /api/v1/findings and /metrics for agent health), or, when no agent answers, the
 * pipeline run in-process (needs root or CAP_BPF + CAP_PERFMON) on a thread of its own, with
 * its rules engine: the model is then built from its snapshots directly (top_snap.h). Or, with
 * --cluster, every agent of a cluster through the API server's pod proxy (cluster.h), merged
 * into one model with a node per pod (top_merge.h). */
#ifndef BPFDIAG_TOP_SOURCE_H
#define BPFDIAG_TOP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "top/top_model.h"

struct top_source_opts {
	const char *url; /* the agent to read */
	/* In-process: the refresh period, and the rules' window and warm-up. Collections happen
	 * every interval, or every window / 30 (three per rule bucket, at least 0.1 s) when that
	 * is shorter. */
	double interval, window, warmup;
};

struct top_source;
struct cluster_opts;

/* Probes the agent at o->url; when it does not answer with a pods document, starts the
 * in-process pipeline (its first collection done). Returns 0, or a negative errno with a
 * one-line reason in err when neither works. */
int top_source__open(const struct top_source_opts *o, struct top_source **ret, char *err,
		     size_t errlen);
/* Every agent of the cluster (o->timeout bounds each request; the agents are asked all at
 * once, and listed anew at every fetch). Returns 0, or a negative errno with a one-line reason
 * in err when the kubeconfig cannot be used. */
int top_source__open_cluster(const struct cluster_opts *o, struct top_source **ret, char *err,
			     size_t errlen);
/* Accepts NULL; returns NULL. */
struct top_source *top_source__close(struct top_source *src);
/* Reads a new snapshot. The pods document is required; findings and health are best effort
 * (their notes say why they are missing). With ret_json, also returns the snapshot as one JSON
 * document (the pods document plus "source" and "findings"; free it). A cluster's: "nodes"
 * (each agent's node, pod and whether it answered, with why not), and "pods" and "findings"
 * of every node, each with its "node". Returns 0, or a negative errno with the reason in err
 * (a cluster's: its agents could not be listed; an agent that does not answer is a node
 * with its why, not an error). */
int top_source__fetch(struct top_source *src, struct top_snapshot **ret, char **ret_json, char *err,
		      size_t errlen);
/* A cluster's source only (else nothing happens): polls the agents on a thread of its own
 * every interval from now on, so that a slow node never holds up the caller; fetches without
 * ret_json then return the latest round's model, or -EAGAIN when there is none new since the
 * last fetch. Returns 0, or a negative errno with the reason in err. */
int top_source__background(struct top_source *src, double interval, char *err, size_t errlen);
/* "agent URL", "in-process collector (no agent at URL)" or "cluster KUBECONFIG". */
const char *top_source__name(const struct top_source *src);
bool top_source__in_process(const struct top_source *src);
/* Seconds since the source was opened or last fetched (the in-process collector's rates need
 * an interval behind them). */
double top_source__since_fetch(const struct top_source *src);

#endif
