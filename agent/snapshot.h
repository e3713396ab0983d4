/* One collection's results: an immutable, reference-counted model that the encoders
 * (Prometheus, JSON API, later OTLP) render. Separate from the encoders and transports. */
#ifndef BPFDIAG_SNAPSHOT_H
#define BPFDIAG_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "collector.h"

/* Labels every per-container series carries, in exposition order. */
enum series_label {
	LBL_NAMESPACE = 0,
	LBL_POD,
	LBL_CONTAINER,
	LBL_WORKLOAD_KIND,
	LBL_WORKLOAD,
	LBL_HELM_RELEASE,
	LBL_POD_UID,
	LBL_CONTAINER_ID,
	LBL_MAX,
};

extern const char *const series_label_names[LBL_MAX];

struct snap_series {
	char *labels[LBL_MAX]; /* never NULL; "" when unknown */
	char *cgroup_path; /* the series' own cgroup, relative to the v2 mount */
	uint64_t cgroup_id;
	double cpu_seconds_total;
	double cpu_cores; /* CPU seconds per second over the last collection interval */
};

struct snap_agent {
	double start_time; /* unix seconds */
	uint64_t collections;
	uint64_t collection_errors;
	double last_collection_seconds;
	uint64_t cgroups_unresolved; /* ids seen in BPF maps that no cgroup path was found for */
	uint64_t cgroup_scans;
	uint64_t cgroup_scan_truncated;
	struct collector_counters bpf;
};

struct snapshot {
	int refcnt;
	double time; /* unix seconds of the collection */
	char *node;
	struct snap_agent agent;
	size_t n_series;
	struct snap_series *series;
};

/* Returns a snapshot with room for n series (labels set to ""), refcount 1, or NULL. */
struct snapshot *snapshot_new(size_t n);
struct snapshot *snapshot_ref(struct snapshot *s);
/* Drops a reference; frees on the last. Accepts NULL; returns NULL. */
struct snapshot *snapshot_unref(struct snapshot *s);

/* A slot the collector publishes into and the HTTP threads read from. */
struct snapshot_slot {
	pthread_mutex_t lock;
	struct snapshot *cur;
};

void snapshot_slot_init(struct snapshot_slot *slot);
/* Publishes s (the slot takes the caller's reference). */
void snapshot_slot_set(struct snapshot_slot *slot, struct snapshot *s);
/* Returns a new reference to the latest snapshot, or NULL before the first. */
struct snapshot *snapshot_slot_get(struct snapshot_slot *slot);
void snapshot_slot_destroy(struct snapshot_slot *slot);

#endif
