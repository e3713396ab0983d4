/* SPDX-License-Identifier: BSD-2-Clause */
/* The rules engine (SPEC §5): compares what a workload does (observed in snapshots) with what
 * it is (facts from Kubernetes metadata) and keeps findings with evidence. Runtime rules are
 * judged over a window of 10 buckets, firing when >= 70 % of buckets cross their threshold and
 * clearing when < 50 % do; static rules (spec facts alone) fire and clear at once. Pure: no I/O,
 * no logging — start and clear events are handed to the caller. */
#ifndef BPFDIAG_RULES_H
#define BPFDIAG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/snapshot.h"

enum rule_id {
	RULE_WK01 = 0, /* rootfs-durable-writes */
	RULE_WK02, /* emptydir-as-durable */
	RULE_WK03, /* rwo-pvc-multi-replica */
	RULE_WK04, /* emptydir-unbounded */
	RULE_WK05, /* stateful-deployment */
	RULE_WK06, /* peer-identity */
	RULE_WK07, /* stateless-statefulset */
	RULE_WK10, /* node-agent-as-deployment */
	RULE_WK11, /* daemonset-not-node-local */
	RULE_WK13, /* bare-pod */
	RULE_RS01, /* missing-resources */
	RULE_RS02, /* cpu-throttled */
	RULE_RS03, /* memory-near-limit */
	RULE_RS04, /* over-provisioned */
	RULE_RS05, /* oom-killed */
	RULE_RS06, /* cpu-contention */
	RULE_RL01, /* missing-probes */
	RULE_SC01, /* privileged */
	RULE_SC03, /* rootfs-could-be-readonly */
	RULE_MAX,
};

/* Most threshold settings a rule has (its definition names them: struct rule_def). */
#define RULES_MAX_KNOBS 3

/* Thresholds (SPEC §5 defaults, from each rule's definition), overridable by --rules-config. */
struct rules_config {
	double window; /* seconds; buckets are window / 10 */
	double warmup; /* container age before runtime rules may use its data */
	bool enabled[RULE_MAX];
	double threshold[RULE_MAX][RULES_MAX_KNOBS]; /* in the order of the rule's knobs */
	double fire_ratio, clear_ratio; /* 0.7 and 0.5 */
	char severity[RULE_MAX][12]; /* "" keeps the rule's own */
};

/* Facts about a container from its pod spec and workload, filled by the metadata adapter. A
 * container without facts (local mode) is judged by the rules that apply to "all" only. */
struct rules_facts {
	bool known;
	bool local; /* no Kubernetes: only rules needing no pod spec (RS-02, RS-06) apply */
	char ns[64], pod[254], pod_uid[40], container[64];
	char workload_kind[64], workload[254], helm_release[254];
	bool init; /* init container (not a restartable sidecar) */
	bool sandbox; /* the pause container or a pod-level cgroup */
	bool pending; /* its workload's metadata has neither arrived nor failed yet: not judged */
	double started_at; /* unix seconds; 0 unknown */
	bool has_cpu_request, has_memory_request, has_memory_limit, has_cpu_limit;
	double cpu_limit; /* cores; 0 none */
	/* The container's requests and memory limit from its pod spec (cores, bytes); 0 none. */
	double cpu_request, memory_request, memory_limit;
	/* From the pod status: restarts, the last termination's reason and end (unix seconds). */
	int restarts;
	char last_reason[32];
	double last_finished_at;
	bool readiness_probe;
	uint16_t ports[8]; /* the container's declared TCP containerPorts */
	unsigned n_ports;
	bool privileged, read_only_root_fs;
	bool host_network, host_pid, host_ipc, host_path;
	int32_t replicas; /* -1 unknown or not applicable */
	int32_t hpa_max; /* 0 none */
	char rwo_claim[254]; /* a ReadWriteOnce(Pod) claim the pod mounts; "" none */
	/* A Deployment read from the API whose strategy is RollingUpdate (set, or unset: the
	 * default); false for Recreate, other kinds, or while the workload is unknown. */
	bool rolling_update;
	/* The pod's disk-backed emptyDir volumes without a sizeLimit (WK-04), by name. */
	char unbounded_emptydirs[8][64];
	unsigned n_unbounded_emptydirs;
	char pod_ips[4][46];
	unsigned n_pod_ips;
	char ignore_rules[254]; /* bpfdiag.io/ignore-rules: "WK-01,RS-02" or "all" */
};

/* Facts source: fills *ret for a series (a container). Return 0, or non-zero when unknown. */
typedef int (*rules_facts_fn)(void *ctx, const struct snap_series *se, struct rules_facts *ret);

struct rules_event {
	bool started; /* false: cleared */
	const struct snap_finding *finding;
};
typedef void (*rules_event_fn)(void *ctx, const struct rules_event *ev);

struct rules_engine;
struct recommender;

/* Defaults of SPEC §5 for a window and warm-up. */
void rules_config_default(struct rules_config *cfg, double window, double warmup);
/* Applies a JSON document to cfg: {"WK-01": {"enabled": false, "severity": "low"}, "RS-06":
 * {"runqueue_p99_seconds": 0.01}, …}. Unknown rules or keys and bad values are rejected.
 * Returns 0, or -EINVAL with a one-line reason in err (cfg then unchanged). */
int rules_config_parse(const char *json, struct rules_config *cfg, char *err, size_t errlen);
/* As rules_config_parse, reading a file. */
int rules_config_load(const char *path, struct rules_config *cfg, char *err, size_t errlen);
/* The threshold of rule id that --rules-config names key ("pvc_fsync_per_second"), or NAN when
 * the rule has no such setting. */
double rules_threshold(const struct rules_config *cfg, enum rule_id id, const char *key);

const char *rule_code(enum rule_id id); /* "WK-01" */
const char *rule_name(enum rule_id id); /* "rootfs-durable-writes" */

/* Facts of a series in local mode (no Kubernetes): its workload labels and its CPU limit as
 * the cgroup states it. Always returns 0. */
int rules_local_facts(void *ctx, const struct snap_series *se, struct rules_facts *ret);

/* Returns a new engine, or NULL when out of memory. */
struct rules_engine *rules_new(const struct rules_config *cfg);
/* Accepts NULL; returns NULL. */
struct rules_engine *rules_free(struct rules_engine *r);
/* The engine's right-sizing histories (rules/recommend.h): fed by rules_update, saved and
 * loaded by the caller. */
struct recommender *rules_recommender(struct rules_engine *r);
/* The heap the engine holds for its workloads (their windows, strings, findings and the
 * neighbours they name; each allocation counted with a 16-byte header), in bytes, and their
 * number in *n. */
size_t rules_workloads_bytes(const struct rules_engine *r, size_t *n);
/* Feeds one collection (snapshots in time order), evaluates, and copies the active findings
 * into s (s->findings). now: unix seconds. Events go to ev. Returns 0 or -ENOMEM. */
int rules_update(struct rules_engine *r, struct snapshot *s, rules_facts_fn facts, void *fctx,
		 double now, rules_event_fn ev, void *ectx);

#endif
