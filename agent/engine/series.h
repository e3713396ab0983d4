/* SPDX-License-Identifier: BSD-2-Clause */
/* The engine's aggregation, pure (no kernel, no files): cgroups' record streams summed into
 * labelled series. A series keeps monotonic totals (what its points show) and what they gained
 * since the last snapshot (its delta), whatever its member cgroups do: a member that goes away
 * keeps what it added, a counter that starts again from zero counts as all new, and a member
 * that moves to another series (its labels changed) takes its history along without it
 * showing as an increase. emit.c turns series into snapshot series. */
#ifndef BPFDIAG_ENGINE_SERIES_H
#define BPFDIAG_ENGINE_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/strmap.h"
#include "host/cgroupfs.h"
#include "kernel/collector.h"
#include "model/snapshot.h"

/* The probe family a stream of a cgroup comes from. */
enum stream_family { FAM_CPU = 0, FAM_SAMPLES, FAM_DISK, FAM_FS, FAM_NET, FAM_OOM };

/* What a stream counts: the record of its family. Every field of a record is a u64 counter
 * (collector.h), so gains and sums run over all of them alike; the meaning of each is read by
 * its name only. */
union counts {
	struct cpu_rec cpu;
	uint64_t samples;
	struct disk_rec disk;
	struct fs_rec fs;
	struct net_rec net;
	uint64_t oom_kills; /* oom:mark_victim kills of the cgroup's tasks */
};

/* What an accumulator sums, and the own labels it carries. */
enum acc_kind { ACC_CPU = 0, ACC_SAMPLES, ACC_DISK, ACC_DISKLAT, ACC_FS, ACC_NET, ACC_OOM };

/* Totals of one own-label combination within a series, fed by its members' gains: counts stay
 * monotonic whatever happens to the members. */
struct acc {
	struct acc *next;
	enum acc_kind kind;
	char *own[METRIC_MAX_OWN_LABELS]; /* values of the metrics' own labels, never NULL */
	enum volume_class cls; /* ACC_FS; VOLUME_PSEUDO: an accumulator outside every series */
	enum disk_rec_dir dir; /* ACC_DISK, ACC_DISKLAT */
	union counts total; /* since the series began */
	union counts interval; /* gained since the last snapshot */
};

#define SERIES_CAUSES 8 /* neighbours remembered per series; more are counted, not kept */

/* Run-queue wait of a series' tasks while a neighbour (a workload) held the CPU. */
struct series_cause {
	char *own[3]; /* the neighbour's namespace, workload kind, workload */
	uint64_t who; /* the neighbour's series' who_hash: most compares end there */
	uint64_t total_ns, interval_ns;
};

/* A labelled series: the sum of the cgroups that map to one label set. */
struct series {
	char *key; /* label values joined with \x1f: the identity */
	char *labels[LBL_MAX];
	char *cgroup_path; /* its shallowest member's */
	/* labels and cgroup_path as its snapshot series show them, made at its first emit and
	 * kept while cgroup_path stays (snap_labels: the snapshots share it); NULL none yet */
	struct snap_labels *snap;
	uint64_t who_hash; /* of its namespace, workload kind and workload (series_cause_add) */
	uint64_t cgroup_id;
	struct acc *accs;
	int members;
	time_t empty_since; /* when its last member left */
	bool collected; /* a snapshot had it: its next delta covers an interval */
	struct cgroupfs_cpu cpufs; /* its cgroup's own files, read by the engine */
	bool cpufs_valid;
	uint64_t cpufs_cpu; /* its CPU total when cgroupfs was last read */
	struct cgroupfs_cpu cpufs_last; /* cpufs at the previous snapshot, for the delta */
	struct cgroupfs_mem memfs; /* its memory files, read every collection (the limit less) */
	bool memfs_valid; /* memfs was read once: its limit is known */
	uint64_t memfs_kills; /* its oom:mark_victim kills when memfs was last read */
	struct cgroupfs_mem memfs_last; /* memfs at the previous snapshot, for the delta */
	/* Collections since memory.stat was last read, and the major faults per second over
	 * them: a rate that holds while memory.stat is skipped (cgroupfs_read_memory) */
	unsigned memstat_intervals;
	double major_faults_rate;
	/* OOM kills from two sources, counted once (emit.c, oom_count): since the baseline
	 * (history at the agent's first collection), by the tracepoint (oom_t) and by
	 * memory.events (oom_e); oom_k the count so far, never decreasing. */
	bool oom_based;
	uint64_t oom_t0, oom_e0, oom_t, oom_e, oom_k, oom_gain;
	uint16_t *ports; /* listening ports, rebuilt every collection */
	size_t n_ports;
	uint64_t listening; /* listening sockets of its members, rebuilt every collection */
	bool listen_seen; /* it had some: the gauge stays, at 0, once they close */
	struct snap_peer *peers; /* rebuilt every collection */
	size_t n_peers;
	struct series_cause causes[SERIES_CAUSES];
	unsigned n_causes;
	size_t n_points_last; /* points of its last snapshot series: room made for the next */
};

/* One record stream of a cgroup: (family, key): disk dev << 1 | dir, fs mount id, else 0. */
struct stream {
	struct stream *next;
	enum stream_family fam;
	uint64_t key;
	uint64_t gen; /* the read raw was summed in */
	union counts raw; /* summed over the records of that read */
	union counts last; /* raw when last applied */
	union counts carry; /* history counted in a previous series: the next one's totals */
	bool bound;
	struct acc *acc, *acc2; /* where gains go (disk: bytes and ops, then latency) */
	double unbound_since; /* fs: monotonic time binding was first put off; 0 never */
};

/* A cgroup as a member of a series: its streams and the series they feed (NULL until its
 * labels are known). */
struct member {
	struct series *series;
	struct stream *streams;
};

struct series_table;

/* Returns an empty table, or NULL when out of memory. */
struct series_table *series_table_new(void);
/* Frees the table and its series. Accepts NULL; returns NULL. */
struct series_table *series_table_free(struct series_table *t);
size_t series_table_size(const struct series_table *t);
/* The series of a label set, created when absent; its shallowest member names its cgroup.
 * Returns NULL when out of memory. */
struct series *series_table_get(struct series_table *t, const char *const labels[LBL_MAX],
				const char *path, uint64_t cgid);
void series_table_remove(struct series_table *t, struct series *s);
/* The next series (it starts as STRMAP_ITER_INIT), NULL at the end. The series returned may
 * be removed before the next call. */
struct series *series_table_next(const struct series_table *t, struct strmap_iter *it);
/* Removes the series that had no member for retention seconds at now. Returns how many. */
size_t series_table_expire(struct series_table *t, time_t now, double retention);

/* The accumulators of s, created when absent; NULL when out of memory. The one of a kind
 * without own labels: ACC_CPU, ACC_SAMPLES or ACC_NET. */
struct acc *series_acc(struct series *s, enum acc_kind kind);
/* ACC_DISK (bytes and operations of a device: device set) or ACC_DISKLAT (latency of every
 * device: device NULL) of a direction. */
struct acc *series_acc_disk(struct series *s, enum acc_kind kind, enum disk_rec_dir dir,
			    const char *device);
/* Writes to a volume (claim: its PVC, or ""). */
struct acc *series_acc_fs(struct series *s, enum volume_class cls, const char *volume,
			  const char *claim);
/* The same with its k8s.volume.type (series_acc_fs: the class's, volume_class_k8s_type). */
struct acc *series_acc_fs_typed(struct series *s, enum volume_class cls, const char *volume,
				const char *claim, const char *type);

/* Adds ns of s's run-queue wait to the neighbour whose series is culprit (s itself included).
 * Returns 0, -ENOSPC when s has SERIES_CAUSES other neighbours, or -ENOMEM. */
int series_cause_add(struct series *s, const struct series *culprit, uint64_t ns);

/* Adds a record (size bytes of the family's u64 counters) to m's stream (fam, key) in read
 * gen: records of one key are summed within a read. Returns 0 or -ENOMEM. */
int member_take(struct member *m, enum stream_family fam, uint64_t key, uint64_t gen,
		const void *rec, size_t size);
void member_join(struct member *m, struct series *s);
/* Leaves m's series (at now; when it was the last member, its retention starts). */
void member_leave(struct member *m, time_t now);
/* Moves m to series to (its labels changed): its streams are bound again, carrying what they
 * counted into to's totals but not its delta; the old series goes when no member is left.
 * Returns 0 or -ENOMEM. */
int member_move(struct series_table *t, struct member *m, struct series *to);
/* Frees m's streams (after member_leave). */
void member_free(struct member *m);

/* Where s's gains go from now on (acc2 may be NULL); history it carries joins their totals. */
void stream_bind(struct stream *s, struct acc *acc, struct acc *acc2);
/* Adds what a bound stream gained since it was last applied to its accumulators. */
void stream_apply(struct stream *s);
/* What a counter gained since it was last: a value below it means the counter started again
 * from zero (its map entry, or its cgroup, re-created): all of it is new. */
uint64_t counter_gain(uint64_t now, uint64_t last);

/* Fills out (of snapshot_new) with the series: its labels, points, delta over dt (the
 * interval since the previous snapshot; 0 at the first), rates, listeners and peers. Starts
 * its next interval. Returns 0 or -ENOMEM. */
int series_emit(struct series *se, double dt, struct snap_series *out);
/* qsort order of snapshot series: by labels. */
int series_emit_cmp(const void *a, const void *b);

#endif
