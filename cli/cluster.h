/* SPDX-License-Identifier: BSD-2-Clause */
/* Every agent of a cluster through the API server (SPEC §2; docs/KUBERNETES.md): the agent
 * pods found by the chart's labels, and GETs of their API through the pod proxy, all agents
 * at once with a bounded timeout. `check --cluster` merges their findings into one table;
 * `top --cluster` their pods and findings into one model (top/top_source.c). */
#ifndef BPFDIAG_CLI_CLUSTER_H
#define BPFDIAG_CLI_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

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

/* The option-table entries of --cluster and its settings, for a command whose options struct
 * `type` has a bool `flag` and a struct cluster_opts `co` (opts.h; `timeout_def` seconds). */
/* clang-format off */
#define CLUSTER_CLI_OPTS(type, flag, co, what, timeout_def)                                      \
	{ "cluster", NULL,                                                                       \
	  "every agent of the cluster instead: read each one's " what " through the API "       \
	  "server's pod proxy and merge them, with a NODE column (needs list on pods and get "   \
	  "on pods/proxy)",                                                                      \
	  .parse = cli_parse_flag, .off = offsetof(type, flag) },                                 \
	{ "kubeconfig", "FILE",                                                                  \
	  "--cluster: the kubeconfig (default $KUBECONFIG, ~/.kube/config, "                     \
	  "else the in-cluster service account)",                                                \
	  .parse = cli_parse_str, .off = offsetof(type, co.kubeconfig) },                         \
	{ "context", "NAME", "--cluster: the kubeconfig context (default its current-context)",  \
	  .parse = cli_parse_str, .off = offsetof(type, co.context) },                            \
	{ "namespace", "NS", "--cluster: the agents' namespace (default all namespaces)",         \
	  .parse = cli_parse_str, .off = offsetof(type, co.ns) },                                 \
	{ "selector", "LABELS", "--cluster: label selector of the agent pods",                   \
	  .def = CLUSTER_AGENT_SELECTOR, .parse = cli_parse_str,                                 \
	  .off = offsetof(type, co.selector) },                                                   \
	{ "timeout", "SEC", "--cluster: how long each request to the API server may take",       \
	  .def = timeout_def, .parse = cli_parse_secs, .max = 300,                               \
	  .off = offsetof(type, co.timeout), .want = "seconds in (0, 300]" }
/* clang-format on */

/* One agent pod. */
struct cluster_agent {
	char *ns, *pod, *node;
	char proxy[768]; /* the pod proxy path of its API; "" when it cannot be asked */
	char why[256]; /* why it cannot be asked */
};

/* One agent's answer to one GET. */
struct cluster_reply {
	char *body; /* NUL-terminated; NULL when nothing came */
	long status;
	char why[256]; /* "" when it answered HTTP 200, else why not */
};

struct cluster;

/* Checks o and resolves the kubeconfig (cmd names the command in the User-Agent). Returns 0,
 * or a negative errno with a one-line reason in err. */
int cluster_open(const struct cluster_opts *o, const char *cmd, struct cluster **ret, char *err,
		 size_t errlen);
/* Accepts NULL; returns NULL. */
struct cluster *cluster_close(struct cluster *c);
/* Lists the agent pods anew (the previous list is dropped). Returns 0, or a negative errno
 * with the reason in err (the API refused, or no agent pod). */
int cluster_list(struct cluster *c, char *err, size_t errlen);
/* A readable fd (or -1: none) ends the requests in flight: theirs is "cancelled". */
void cluster_cancel_fd(struct cluster *c, int fd);
const struct cluster_agent *cluster_agents(const struct cluster *c, size_t *ret_n);
/* GETs every path of every agent that can be asked, all at once, each bounded by the timeout.
 * ret holds n_agents * n_paths replies, agent-major (free with cluster_replies_free); an agent
 * that cannot be asked gets its why. Returns 0 or -ENOMEM. */
int cluster_get(struct cluster *c, const char *const *paths, size_t n_paths,
		struct cluster_reply **ret);
void cluster_replies_free(struct cluster_reply *r, size_t n);
/* The kubeconfig and context (or the server), for messages. */
const char *cluster_source(const struct cluster *c);

/* Prints the merged findings. Returns 0 (none, every agent answered), 1 (findings) or 2 (an
 * error: no agent found, the API refused, or an agent did not answer and none had findings). */
int cluster_check(const struct cluster_opts *o);

#endif
