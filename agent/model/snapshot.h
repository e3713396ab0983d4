/* SPDX-License-Identifier: BSD-2-Clause */
/* One collection's results: an immutable, reference-counted model that the encoders
 * (Prometheus, JSON API, later OTLP) render. Separate from the encoders and transports. */
#ifndef BPFDIAG_SNAPSHOT_H
#define BPFDIAG_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strpool.h"
#include "kernel/collector.h"
#include "model/agent_stats.h"
#include "model/kinds.h"
#include "model/kube_stats.h"
#include "model/metrics.h"

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

/* A snapshot's strings: own-label values, the delta's names, pod labels and the node name
 * interned (each distinct string stored once) and made well-formed UTF-8 on the way in, so
 * that snapshot_sanitize checks each distinct string once, not each use. The engine's series
 * bring their labels and cgroup paths in label sets instead (struct snap_labels). */
struct snap_memo;
struct snap_strings {
	struct strpool pool;
	uint64_t repaired; /* ill-formed strings repaired on the way in */
	struct snap_memo *memo; /* snap_intern_stable's: by address, until sealed */
};

/* Returns the interned, well-formed copy of v ("" for NULL or ""), or NULL when out of memory.
 * ss NULL (a series built outside a snapshot): a heap copy, as is. */
char *snap_intern(struct snap_strings *ss, const char *v);
/* snap_intern of a string whose address keeps its contents while the snapshot is built (a
 * string literal, the engine's own strings): found again by its address, without hashing or
 * comparing it (the thousand series of a node give their points the same few own-label
 * strings). Not for a buffer that is written again meanwhile. */
char *snap_intern_stable(struct snap_strings *ss, const char *v);

/* A series' label values and cgroup path, made well-formed once and shared by the snapshots
 * that show the series: its owner (the engine's series) keeps one while they stay the same and
 * each snapshot series holds a reference, so a series' strings are neither hashed nor copied
 * again each collection. Immutable once made; freed with the last reference (the owner's, or
 * the last snapshot's that shows it), so a series gone under churn leaves nothing behind once
 * the snapshots that showed it are freed. References are atomic: HTTP and export threads drop
 * snapshots while the next is built. */
struct snap_labels {
	int refcnt;
	unsigned repaired; /* ill-formed strings repaired when made (counted at each use) */
	char *labels[LBL_MAX]; /* never NULL; "" when unknown */
	char *cgroup_path;
	char data[];
};

/* Returns a block of copies of labels and path (NULL entries: ""), ill-formed bytes replaced
 * by U+FFFD, refcount 1; or NULL when out of memory. */
struct snap_labels *snap_labels_new(const char *const labels[LBL_MAX], const char *cgroup_path);
struct snap_labels *snap_labels_ref(struct snap_labels *l);
/* Drops a reference; frees on the last. Accepts NULL; returns NULL. */
struct snap_labels *snap_labels_unref(struct snap_labels *l);
/* Label sets allocated and not yet freed, process-wide: what churn must not make grow. */
long snap_labels_live(void);

/* A histogram with fixed upper bounds (le); counts are per bucket, not cumulative. */
struct snap_hist {
	const double *bounds; /* n_bounds finite upper bounds, ascending; +Inf is implicit */
	unsigned n_bounds;
	uint64_t *counts; /* n_bounds + 1 entries, the last for +Inf */
	uint64_t count;
	double sum;
};

/* One sample of a metric family for a series: its own label values and its value. */
struct snap_point {
	enum metric_id metric;
	char *own[METRIC_MAX_OWN_LABELS]; /* values of metric_descs[metric].own_labels */
	double value; /* counters and gauges */
	struct snap_hist *hist; /* histograms */
};

/* Rates over the last collection interval, for top, the API and the rules: the delta's
 * increases over the agent's interval (a series new since the previous collection: all its
 * cgroups counted, as they are new within it); 0 at the agent's first collection. */
struct snap_rates {
	double cpu_cores; /* CPU seconds per second */
	double runq_p99_seconds; /* p99 run-queue wait in the interval (bucket upper bound) */
	double disk_read_bps, disk_write_bps, disk_iops;
	double fs_write_bps, fsync_per_s;
	double net_rx_bps, net_tx_bps;
	double retransmits_per_s;
	double major_faults_per_s;
};

#define SNAP_DELTA_EMPTYDIRS 8
#define SNAP_DELTA_CAUSES 3 /* neighbours per series: the points and the delta's */

/* What a series did in the last collection interval, typed: each counter's increase and the
 * gauges' current values. Rates, top and the rules read these; nothing re-derives them from
 * the points' label strings.
 *
 * An increase is what the series' points grew by since its previous collection, summed over
 * its member cgroups; it is never negative: a member that goes away keeps what it added, and a
 * kernel counter that starts again from zero (its map entry re-created) counts as all new.
 * A series whose labels change (Kubernetes metadata arriving for a cgroup first labelled
 * locally) continues under its new labels: its increases are those of the interval, not the
 * history that moved with it. On a series' first collection seconds is 0 and the increases are
 * all its members counted before (over an unknown time; for cgroups new since the previous
 * collection, within the interval). */
struct snap_delta {
	double seconds; /* the interval; 0 on the series' first collection */
	double cpu_seconds; /* bpfdiag_cpu_seconds_total */
	double runq_wait_seconds; /* bpfdiag_cpu_runqueue_wait_seconds_total */
	uint64_t runq_hist[HIST_SLOTS]; /* run-queue waits of the interval per log2 slot (hist.h) */
	double throttled_seconds; /* bpfdiag_cpu_throttled_seconds_total (cpu.stat) */
	double throttled_periods; /* bpfdiag_cpu_throttled_periods_total */
	double periods; /* bpfdiag_cpu_periods_total */
	double cpu_limit_cores; /* gauge: bpfdiag_cpu_limit_cores now; 0 when no limit */
	/* Memory gauges now (bytes; all 0 when the memory files were not read, limit 0 when
	 * unlimited) and counters' increases. */
	double mem_working_set, mem_rss, mem_page_cache, mem_swap, mem_usage, mem_limit;
	double major_faults; /* bpfdiag_memory_page_faults_total{type="major"} */
	double oom_kills; /* bpfdiag_memory_oom_kills_total; also on a series' first collection
			   * but for the agent's first (see emit.c) */
	double mem_peak; /* with oom_kills: the cgroup's peak usage (memory.peak, v1
			  * memory.max_usage_in_bytes), 0 unknown: a container killed within its
			  * first interval left no working set reading before the kill */
	double oom_working_set; /* with oom_kills: the larger working set of the collections
				 * either side of the kill (cgroupfs sees no instant between) */
	double disk_bytes[2], disk_ops[2]; /* bpfdiag_disk_*, every device: [0] read, [1] write */
	/* bpfdiag_fs_* of the series' volumes of each class summed (VOLUME_UNKNOWN: writes whose
	 * mount was not found; pseudo filesystems are in no series) */
	double fs_write_bytes[VOLUME_CLASS_MAX], fs_write_calls[VOLUME_CLASS_MAX];
	double fs_sync_calls[VOLUME_CLASS_MAX];
	double fs_read_bytes[VOLUME_CLASS_MAX]; /* bpfdiag_fs_read_bytes_total */
	/* The delta's names are the snapshot's strings (snap_intern: never NULL, well-formed). */
	const char *pvc_volume; /* the PVC volume written most in the interval (by bytes, then
				 * sync calls); "" none */
	/* fs_write_bytes[VOLUME_EMPTYDIR] by volume (pod volume names, DNS labels): the first
	 * SNAP_DELTA_EMPTYDIRS emptyDir volumes of the series written in the interval */
	struct {
		const char *name;
		double write_bytes;
	} emptydir[SNAP_DELTA_EMPTYDIRS];
	unsigned n_emptydir;
	double net_bytes[2]; /* bpfdiag_network_bytes_total: [0] received, [1] transmitted */
	double retransmits; /* bpfdiag_tcp_retransmits_total */
	/* bpfdiag_cpu_runqueue_wait_caused_seconds_total: the neighbours (workloads, the series'
	 * own included) that held the CPU while its tasks waited, most of the interval first */
	struct {
		const char *ns, *kind, *name;
		double seconds;
	} caused[SNAP_DELTA_CAUSES];
	unsigned n_caused;
	double conns_opened[ROLE_MAX]; /* bpfdiag_tcp_connections_opened_total by role */
};

/* The right-sizing recommendation of a series' container (rules/recommend.h), set by the
 * rules engine; ready is false while its history is too short. */
struct snap_rec {
	bool ready;
	bool cpu_floor; /* throttled: CPU use is a floor, the request is set above it */
	bool oom; /* raised after an OOM kill */
	double cpu_request; /* cores */
	double mem_request, mem_limit; /* bytes; 0 when no working set was read */
	double cpu_p, mem_peak; /* what they come from: p95 of CPU use (cores), peak working set */
};

struct snap_peer {
	char addr[48]; /* text form: a.b.c.d or IPv6 */
	uint16_t port; /* remote port (client role) or local listening port (server role) */
	uint8_t role; /* 0 client, 1 server */
	uint64_t connections;
};

struct snap_series {
	struct snap_strings *strings; /* the snapshot's (snapshot_new sets it) */
	/* never NULL; "" when unknown; lset's (snap_series_set_labels), else from snap_intern or
	 * the heap */
	char *labels[LBL_MAX];
	char *cgroup_path; /* the series' own cgroup, relative to the v2 mount */
	struct snap_labels *lset; /* a reference: labels and cgroup_path are its strings */
	char *helm_chart; /* helm.sh/chart of the workload, "" when unknown (OTLP resource only) */
	double start_time; /* unix seconds its counters started from; 0: the agent's start */
	uint64_t cgroup_id;
	struct snap_point *points; /* ordered by metric id */
	size_t n_points;
	size_t cap_points; /* allocated; snap_series_reserve */
	struct snap_rates rates;
	struct snap_delta delta;
	struct snap_rec rec;
	/* From the pod status (set by the rules engine with Kubernetes): the container's restarts
	 * and its last termination's reason ("OOMKilled"; letters and digits only). */
	bool has_status;
	int restarts;
	char last_reason[32];
	uint16_t *listen_ports; /* TCP ports in LISTEN, ascending */
	size_t n_listen_ports;
	struct snap_peer *peers;
	size_t n_peers;
	int cgroups; /* live member cgroups; 0 once all are gone (final totals) */
};

#define SNAP_MAX_EVIDENCE 8

/* An active finding of the rules engine (SPEC §5, §6). */
struct snap_finding {
	char ns[64];
	char workload_kind[64];
	char workload[254];
	char helm_release[254];
	char rule[8]; /* "WK-01" */
	char rule_name[48]; /* "rootfs-durable-writes" */
	char severity[12]; /* critical, high, medium, low, info */
	char suggested_kind[16]; /* StatefulSet, Deployment, DaemonSet, Job, CronJob or "" */
	char message[1024];
	struct {
		char name[40];
		double value;
	} evidence[SNAP_MAX_EVIDENCE];
	unsigned n_evidence;
	double since; /* unix seconds */
};

struct snap_agent {
	double start_time; /* unix seconds */
	uint64_t collections;
	uint64_t collection_errors;
	double last_collection_seconds;
	uint64_t cgroups_unresolved; /* ids seen in BPF maps that no cgroup path was found for */
	uint64_t containers_unresolved; /* containers of the pod list whose cgroup is not found */
	uint64_t cgroup_scans;
	uint64_t cgroup_scan_truncated;
	uint64_t cgroups_removed; /* cgroups freed after their last read */
	uint64_t cgroups_swept; /* of those, found gone by the periodic sweep */
	uint64_t cgroupfs_held; /* cgroup directories and files held open (host/cgroupfs.h) */
	uint64_t cgroupfs_unheld_reads; /* reads of such files opened anew: descriptors capped */
	uint64_t cgroupfs_watched_limits; /* limit files watched with inotify (host/cgroupfs.h) */
	uint64_t cgroupfs_unwatched_limits; /* watches of limit files refused or failed */
	uint64_t fs_pseudo_write_bytes; /* written to procfs, sysfs, cgroupfs, …: no volume */
	/* OOM kills of the live series seen by one source only (the other missed them, or has
	 * not seen them yet): [0] by oom:mark_victim, [1] by memory.events (engine/emit.c). */
	uint64_t oom_kills_one_source[2];
	uint64_t invalid_utf8_strings; /* strings snapshot_sanitize repaired (set by it) */
	char features[256]; /* probes in use, e.g. "cpu=sched_switch net=sock_length" */
	struct collector_stat *stats; /* the collector's (model/agent_stats.h names them) */
	size_t n_stats;
	struct seed_stats seed; /* listener seeding */
	struct kube_stats kube; /* Kubernetes metadata client; kube.enabled false in local mode */
};

/* Labels of bpfdiag_pod_info, in exposition order. */
enum pod_label {
	PLBL_NAMESPACE = 0,
	PLBL_POD,
	PLBL_UID,
	PLBL_NODE,
	PLBL_QOS_CLASS,
	PLBL_WORKLOAD_KIND,
	PLBL_WORKLOAD,
	PLBL_HELM_RELEASE,
	PLBL_HELM_CHART,
	PLBL_MAX,
};

extern const char *const pod_label_names[PLBL_MAX];

/* A pod of this node as Kubernetes metadata describes it (one bpfdiag_pod_info each). */
struct snap_pod {
	char *labels[PLBL_MAX]; /* never NULL */
};

struct snapshot {
	int refcnt;
	size_t cap_series; /* series allocated (snapshot_new) */
	double time; /* unix seconds of the collection */
	char *node;
	struct snap_agent agent;
	size_t n_series;
	struct snap_series *series;
	struct snap_finding *findings;
	size_t n_findings;
	size_t n_pods; /* 0 in local mode */
	struct snap_pod *pods; /* sorted by namespace, pod */
	struct snap_strings strings;
};

/* Returns a snapshot with room for n series (labels set to ""), refcount 1, or NULL. The
 * series array of the last snapshot freed is used again when it is large enough (and not
 * more than twice so): a collection does not fault a new one in every time. */
struct snapshot *snapshot_new(size_t n);
/* Sets se's labels and cgroup path to l's strings, taking a reference to l (se must have
 * none yet); l's repaired strings count in se's snapshot as interning them would. */
void snap_series_set_labels(struct snap_series *se, struct snap_labels *l);
/* Makes room for n points in se (a series' count is known from its previous collection).
 * Returns 0 or -ENOMEM. */
int snap_series_reserve(struct snap_series *se, size_t n);
/* Appends a counter or gauge point to se (points must come in metric id order). own holds
 * METRIC_MAX_OWN_LABELS own label values (interned in se->strings; NULL entries become ""), or
 * is NULL. Returns 0 or -ENOMEM. */
int snap_series_add(struct snap_series *se, enum metric_id metric, const char *const *own,
		    double value);
/* Appends a histogram point: counts has n_bounds + 1 per-bucket entries (copied). */
int snap_series_add_hist(struct snap_series *se, enum metric_id metric, const char *const *own,
			 const double *bounds, unsigned n_bounds, const uint64_t *counts,
			 double sum);
/* The same, own label values interned by address (snap_intern_stable: literals and strings
 * that outlive the snapshot's build). */
int snap_series_add_stable(struct snap_series *se, enum metric_id metric, const char *const *own,
			   double value);
int snap_series_add_hist_stable(struct snap_series *se, enum metric_id metric,
				const char *const *own, const double *bounds, unsigned n_bounds,
				const uint64_t *counts, double sum);
/* The value of a series' point without own labels, or 0 when it has none. */
double snap_series_value(const struct snap_series *se, enum metric_id metric);
/* Makes every string of s well-formed UTF-8 (ill-formed bytes become U+FFFD; '?' when out of
 * memory) and sets s->agent.invalid_utf8_strings to the number of strings repaired, which it
 * returns: interned strings were repaired on the way in (counted then), heap strings are checked
 * here. Seals s->strings (drops its index). Call once s is complete, before it is shared. */
uint64_t snapshot_sanitize(struct snapshot *s);
struct snapshot *snapshot_ref(struct snapshot *s);
/* Drops a reference; frees on the last. Accepts NULL; returns NULL. */
struct snapshot *snapshot_unref(struct snapshot *s);

/* A slot the collector publishes into and the HTTP threads read from. */
struct snapshot_slot {
	pthread_mutex_t lock;
	struct snapshot *cur;
};

void snapshot_slot_init(struct snapshot_slot *slot);
/* Publishes s (the slot takes the caller's reference) after snapshot_sanitize(s): the one
 * point every string from outside passes before any encoder sees it. */
void snapshot_slot_set(struct snapshot_slot *slot, struct snapshot *s);
/* Returns a new reference to the latest snapshot, or NULL before the first. */
struct snapshot *snapshot_slot_get(struct snapshot_slot *slot);
void snapshot_slot_destroy(struct snapshot_slot *slot);

#endif
