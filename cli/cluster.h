/* SPDX-License-Identifier: BSD-2-Clause */
/* `bpfdiag check --cluster`: the findings of every agent of a cluster, read through the API
 * server's pod proxy and merged into one table (SPEC §2; docs/KUBERNETES.md). */
#ifndef BPFDIAG_CLI_CLUSTER_H
#define BPFDIAG_CLI_CLUSTER_H

#include <stdbool.h>

struct cluster_opts {
	const char *kubeconfig; /* NULL: $KUBECONFIG, ~/.kube/config, in-cluster */
	const char *context; /* NULL: the current context */
	const char *ns; /* the agents' namespace; NULL: all namespaces */
	const char *selector; /* label selector of the agent pods */
	double timeout; /* seconds per request */
	bool json;
};

/* The chart's labels on every agent pod (charts/bpfdiag/templates/_helpers.tpl). */
#define CLUSTER_AGENT_SELECTOR "app.kubernetes.io/part-of=bpfdiag,app.kubernetes.io/component=agent"

/* Prints the merged findings. Returns 0 (none, every agent answered), 1 (findings) or 2 (an
 * error: no agent found, the API refused, or an agent did not answer and none had findings). */
int cluster_check(const struct cluster_opts *o);

#endif
