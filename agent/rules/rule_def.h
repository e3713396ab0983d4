/* SPDX-License-Identifier: BSD-2-Clause */
/* One rule, defined in one place (rules/rules_<family>.c): its identity, default severity, the
 * workloads it applies to, its threshold settings, its test (a window bucket crossing, or spec
 * facts holding) and its message with evidence. The engine (rules.c) and the config parser
 * (rules_config.c) read these definitions and know no rule by name. Internal to rules/. */
#ifndef BPFDIAG_RULE_DEF_H
#define BPFDIAG_RULE_DEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/kinds.h"
#include "model/snapshot.h"
#include "rules/rules.h"

#define KiB 1024.0
#define MiB (1024.0 * 1024.0)

#define RULE_CAUSES 4 /* neighbours kept per bucket (the largest) */
#define RULE_NEIGHBOURS 6 /* neighbours named per workload (the most recent) */

/* What a workload did in one bucket: its containers' deltas summed over the bucket's
 * collections (or, for a finding's text, the window's buckets summed). The engine keeps its
 * closed buckets packed (mostly zeros): what the definitions read is this whole struct. */
struct bucket {
	double seconds; /* observed time */
	bool data;
	double fs_bytes[VOLUME_CLASS_MAX], fs_syncs[VOLUME_CLASS_MAX]; /* written, sync calls */
	double fs_read_bytes[VOLUME_CLASS_MAX];
	double server_conns;
	double cpu_s, throttled, periods, limit_core_s;
	uint64_t runq_hist[HIST_SLOTS];
	double runq_wait_s;
	/* The neighbours that held the CPU while it waited (RS-06), by id (rule_workload's
	 * neighbours name them): their share of runq_wait_s in seconds. */
	struct {
		uint64_t id;
		double s;
	} caused[RULE_CAUSES];
	bool listening, peer_replica;
	uint16_t port;
	/* Connections accepted by containers that listen without a readiness probe (RL-01 is a
	 * container's: a probeless sidecar that serves nothing does not count). */
	double unprobed_conns;
	uint16_t unprobed_port;
	char pvc_volume[64];
	/* Writes to disk-backed emptyDir volumes without a sizeLimit (WK-04), and the one of
	 * them a container wrote most in an interval. */
	double unbounded_emptydir_bytes;
	char unbounded_emptydir[64];
	/* Memory: the highest working set / limit of a container in the bucket (0: none with a
	 * limit), that container's working set and limit; OOM kills and the largest working set
	 * at one. */
	double mem_ratio, mem_ws, mem_limit;
	double oom_kills, oom_ws, oom_peak; /* oom_peak: the peak usage (memory.peak) then */
};

/* A workload's right-sizing this collection (rules_rec.c): its containers that have a
 * recommendation, each container name once (replicas share a history), summed. */
struct rule_rec {
	unsigned n;
	const char *names[8]; /* the snapshot's container labels: compared within the tick only */
	double cpu_request, mem_request; /* the containers' requests (0: none set) */
	double cpu_p, cpu_rec; /* the percentile of CPU use and the recommended request, cores */
	double mem_peak, mem_rec, mem_limit_rec; /* bytes */
	bool cpu_floor, oom;
	double observed; /* seconds: the shortest history of them */
};

/* Workload kinds, as bits of struct rule_def's kinds. */
enum {
	RK_DEPLOYMENT = 1 << 0,
	RK_STATEFULSET = 1 << 1,
	RK_DAEMONSET = 1 << 2,
	RK_POD = 1 << 3, /* a bare pod */
	RK_OTHER = 1 << 4, /* Job, CronJob, ReplicaSet, operator kinds, … */
	RK_ALL = (1 << 5) - 1,
};

/* The kind bit of a workload kind ("Deployment" → RK_DEPLOYMENT). */
unsigned rule_kind_bit(const char *kind);

/* The facts of a workload's last container that the definitions read (pod-level facts are
 * the pods'): the rest of struct rules_facts is merged into struct rule_workload or not kept. */
struct rule_facts {
	bool local, has_cpu_limit, has_memory_limit, rolling_update;
	int32_t replicas, hpa_max;
	const char *rwo_claim; /* never NULL; "" none */
	const char *ignore_rules; /* never NULL */
};

/* A neighbour workload, named once for every workload it held the CPU of (the engine's). */
struct rule_neighbour {
	uint64_t id; /* rule_neighbour_id(ns, kind, name) */
	const char *ns, *kind, *name;
	unsigned refs; /* workloads naming it */
};

/* What the rules know of a workload this collection: its identity and its containers' facts
 * on this node, merged. Strings are never NULL. */
struct rule_workload {
	const char *ns, *kind, *name, *helm;
	unsigned kind_bit; /* RK_* of kind */
	struct rule_facts f; /* facts of its last container */
	bool missing_resources, ro_unset, host_ns, privileged, host_path;
	const char *missing_resources_container;
	unsigned pods_here;
	uint64_t self_id; /* its own id as a neighbour */
	const struct rule_neighbour *neighbours[RULE_NEIGHBOURS]; /* NULL unused */
	unsigned next_neighbour;
	struct rule_rec rec;
	/* Pod status this tick: restarts of its containers summed; one last terminated
	 * OOMKilled (within the window: the kill may predate the agent). */
	int restarts;
	bool last_oomkilled, oomkilled_in_window;
};

/* The id of a neighbour workload (never 0). */
uint64_t rule_neighbour_id(const char *ns, const char *kind, const char *name);
/* Adds s seconds of a neighbour's wait to bucket b: merged by id; when b is full, it replaces
 * the smallest if larger. */
void rule_bucket_cause(struct bucket *b, uint64_t id, double s);

/* A threshold setting: its --rules-config key, SPEC §5 default and accepted range. */
struct rule_knob {
	const char *key; /* NULL: no setting in this slot */
	double def, min, max;
};

struct rule_def {
	enum rule_id id;
	const char *code; /* "WK-01" */
	const char *name; /* "rootfs-durable-writes" */
	const char *severity; /* default: critical, high, medium, low or info */
	const char *suggests; /* the kind a finding suggests, "" none (describe may change it) */
	unsigned kinds; /* RK_* of the workloads it applies to with Kubernetes */
	bool local; /* applies in local mode too (needs no pod spec) */
	/* Optional: a further condition on the workload for the rule to apply. */
	bool (*applies)(const struct rule_workload *w);
	struct rule_knob knobs[RULES_MAX_KNOBS];
	/* A runtime rule has crosses (does bucket b, with data, lasting t seconds (never 0),
	 * cross? th: its knobs' values); a static rule has holds (do the spec facts alone make a
	 * finding?). */
	bool (*crosses)(const double *th, const struct rule_workload *w, const struct bucket *b,
			double t);
	bool (*holds)(const struct rule_workload *w);
	/* Optional, for a runtime rule: does the window as a whole (its buckets summed) make a
	 * finding whatever the share of crossing buckets (one OOM kill in it)? */
	bool (*window)(const double *th, const struct rule_workload *w, const struct bucket *s);
	/* Fills f's message, evidence and suggested kind (set to suggests before) from the
	 * window s (its buckets summed) lasting t seconds (never 0). */
	void (*describe)(const struct rule_workload *w, const struct bucket *s, double t,
			 struct snap_finding *f);
};

/* Right-sizing glue (rules_rec.c): adds series se's last interval to its container's history
 * (facts f) and, when it has a recommendation, adds the bpfdiag_recommendation points and
 * se->rec, and merges it into w's summary (w NULL: none). Returns 0 or -ENOMEM. */
struct recommender;
int rules_rec_series(struct recommender *rec, struct snap_series *se, const struct rules_facts *f,
		     struct rule_workload *w, double now);

/* The definition of rule id (every id below RULE_MAX has one), or NULL. */
const struct rule_def *rule_def_of(enum rule_id id);

/* The families, each an array in its own file, and their sizes. */
extern const struct rule_def rules_wk[];
extern const size_t rules_wk_n;
extern const struct rule_def rules_rs[];
extern const size_t rules_rs_n;
extern const struct rule_def rules_rl_sc[];
extern const size_t rules_rl_sc_n;

/* Helpers of the definitions' describe. */
void rule_evidence(struct snap_finding *f, const char *name, double v);
/* "5.0 MiB/s", "300 KiB/s", "12 B/s". */
void rule_fmt_bytes(char *buf, size_t size, double bps);
/* Upper bound of the bucket holding the 99th percentile (0 when empty). */
double rule_p99(const uint64_t *hist);

#endif
