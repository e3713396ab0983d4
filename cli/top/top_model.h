/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top's model: pods, containers, findings and agent health, as the views show them.
 * Two sources fill it: the agent's documents (top_json.h) and, in-process, a snapshot of the
 * pipeline (top_snap.h); both build through the helpers below, so they give the same model.
 * Rows, filters and sorting are top_rows.h; table layout and formatting top_format.h; health
 * top_health.h. Pure: no I/O, no curses. */
#ifndef BPFDIAG_TOP_MODEL_H
#define BPFDIAG_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what one document (or snapshot) can make the model allocate. */
#define TOP_MAX_PODS 100000
#define TOP_MAX_CONTAINERS 1000
#define TOP_MAX_FINDINGS 100000
#define TOP_MAX_EVIDENCE 64

enum top_severity {
	TOP_SEV_NONE = 0,
	TOP_SEV_INFO,
	TOP_SEV_LOW,
	TOP_SEV_MEDIUM,
	TOP_SEV_HIGH,
	TOP_SEV_CRITICAL,
};

/* Rates of a container, or of a pod (sums; run-queue p99 is the worst container's). */
struct top_rates {
	double cpu_pct; /* percent of one CPU */
	double runq_p99; /* seconds */
	double disk_r, disk_w; /* bytes per second */
	double iops;
	double fs_w; /* logical write bytes per second */
	double fsync; /* sync calls per second */
	double net_rx, net_tx; /* bytes per second */
	double retrans; /* per second */
	double mem_ws; /* memory working set, bytes (a gauge: summed over containers) */
	double oom_kills; /* OOM kills since the series began (a counter's total) */
	/* Recommended CPU request (cores) and memory request (bytes); 0 none yet. */
	double rec_cpu, rec_mem;
};

struct top_container {
	char *name, *id, *cgroup_path;
	uint64_t cgroup_id;
	struct top_rates r;
	char ports[64]; /* listening TCP ports, "80,443", "" when none */
};

struct top_pod {
	char *ns, *pod, *uid, *kind, *workload, *release;
	char *node; /* a cluster's model: the node (top_merge.h); NULL for one agent's */
	char *key; /* stable identity across refreshes: the uid, else kind/workload */
	struct top_rates r;
	struct top_container *ctrs;
	size_t n_ctrs;
	char *finding_ids; /* rule ids of its workload's findings, worst first: "WK-05,RS-01" */
	enum top_severity worst; /* of those findings */
};

struct top_evidence {
	char *name;
	double value;
};

struct top_finding {
	char *ns, *kind, *workload, *release, *rule, *severity, *suggested, *message, *since;
	char *node; /* a cluster's model: the node whose agent found it; NULL for one agent's */
	enum top_severity sev;
	struct top_evidence *ev;
	size_t n_ev;
};

/* Agent self-health from bpfdiag_agent_* samples; all zero when unknown. */
struct top_health {
	bool known;
	double start_time;
	double collections, collection_errors;
	double collection_seconds;
	double map_overflow; /* summed over maps */
	int probes_up, probes_total;
	char probes_down[64]; /* "net fs", families whose probe_up is 0 */
};

/* A cluster's model: one node and what its agent answered. */
struct top_node {
	char *name, *agent; /* the node; its agent pod, "namespace/name" */
	char *why; /* "" when the agent answered, else why not (NO-ANSWER) */
	size_t n_pods, n_findings;
	double time; /* of its pods document */
	struct top_health health;
	char health_note[160];
};

struct top_snapshot {
	char *node; /* "" in a cluster's model: see nodes */
	double time; /* unix seconds of the collection, 0 when the document has none */
	struct top_pod *pods;
	size_t n_pods;
	struct top_rates total;
	struct top_finding *findings; /* worst first */
	size_t n_findings;
	bool findings_known; /* false: no findings document (see findings_note) */
	char findings_note[160];
	struct top_health health;
	char health_note[160]; /* why health is unknown */
	struct top_node *nodes; /* a cluster's model: every agent's node, by name; else NULL */
	size_t n_nodes;
};

/* A snapshot with room for n pods (none used yet), node and time set, notes "not read".
 * Returns NULL when out of memory. */
struct top_snapshot *top_snapshot_new(size_t n, const char *node, double time);
/* Accepts NULL; returns NULL. */
struct top_snapshot *top_snapshot_free(struct top_snapshot *s);

/* Sets a pod's names (copied; NULL reads as "") and its key, with room for n containers
 * (none used yet). Returns 0 or -ENOMEM (what was set is freed with the snapshot). */
int top_pod_init(struct top_pod *p, const char *ns, const char *pod, const char *uid,
		 const char *kind, const char *workload, const char *release, size_t n);
/* Appends a container (names copied) and adds its rates to the pod's. Returns it, or NULL
 * when out of memory or the pod has no room left. */
struct top_container *top_pod_add_container(struct top_pod *p, const char *name, const char *id,
					    const char *cgroup_path, uint64_t cgroup_id,
					    const struct top_rates *r);
/* Appends a listening port to c->ports. Returns false (the port left out) when it is full. */
bool top_container_add_port(struct top_container *c, int port);
/* Adds r into sum: sums, except run-queue p99, the larger. */
void top_rates_add(struct top_rates *sum, const struct top_rates *r);

/* Sets a finding's texts (copied; NULL reads as "") and its severity from severity. Returns 0
 * or -ENOMEM (free with top_findings_free). */
int top_finding_init(struct top_finding *f, const char *ns, const char *kind, const char *workload,
		     const char *release, const char *rule, const char *severity,
		     const char *suggested, const char *message, const char *since);
/* Appends one evidence value; beyond TOP_MAX_EVIDENCE it is dropped. Returns 0 or -ENOMEM. */
int top_finding_add_evidence(struct top_finding *f, const char *name, double value);
/* Sorts findings worst first (then by namespace, workload, kind, rule, message, node). */
void top_findings_sort(struct top_finding *fs, size_t n);
/* Frees n findings and the array. Accepts NULL. */
void top_findings_free(struct top_finding *fs, size_t n);
/* Hands n findings (the array is taken, also on failure) to s: sorted worst first, every pod
 * tagged with the rule ids of its workload's findings (same namespace, kind and workload).
 * Returns 0 or -ENOMEM. */
int top_snapshot_take_findings(struct top_snapshot *s, struct top_finding *fs, size_t n);

enum top_severity top_severity_parse(const char *s);
/* "CRIT", "HIGH", "MED", "LOW", "INFO" or "". */
const char *top_severity_tag(enum top_severity sev);

#endif
