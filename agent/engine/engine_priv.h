/* SPDX-License-Identifier: BSD-2-Clause */
/* The engine's parts share this object: engine.c (open, close, one collection), attribute.c
 * (cgroup → labels and series, Kubernetes metadata, the pod list's containers), volumes.c
 * (where a stream's counts go: devices, volumes) and listeners.c (listening sockets, peers).
 * The aggregation itself is series.h, pure. Private to engine/. */
#ifndef BPFDIAG_ENGINE_PRIV_H
#define BPFDIAG_ENGINE_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/idmap.h"
#include "base/strmap.h"
#include "engine/engine.h"
#include "engine/series.h"
#include "host/cgroup_tree.h"
#include "host/listen_seed.h"
#include "kube/kube_meta.h"

#define RESCAN_UNKNOWN_SECONDS 5 /* tree walks for ids still unknown, at most this often */
/* A walk of the whole tree with nothing waiting to resolve: a safety sweep (it drops removed
 * cgroups' paths from the index, finds a directory renamed). A new id in the maps, or a
 * tracked container not found, walks it at once, not on this cadence. */
#define TREE_SWEEP_SECONDS 600

/* What seeding found for one port of a cgroup: listening = max(0, BPF count + off). */
struct cg_listen {
	uint16_t port;
	int64_t off;
	uint64_t gen; /* collection whose net_listen read had the port */
};

/* A cgroup id seen in the BPF maps (or found for a container of the pod list). */
struct cg {
	uint64_t id;
	struct member m; /* its streams and series; no series until the id resolves to a path */
	uint64_t gen; /* the last read that had it */
	unsigned resolve_tries;
	unsigned missing_scans;
	bool gone; /* removed: freed after its last read */
	struct cg *next_gone;
	char *path;
	double first_seen; /* monotonic; 0 when seen by the first collection */
	uint64_t kube_gen; /* metadata generation its labels were computed at */
	bool kube_labelled; /* labels come from Kubernetes metadata */
	bool kube_pending; /* its pod is known, its container id not yet */
	bool seed_pending; /* its listeners are to be read from /proc (first resolved) */
	unsigned seed_tries;
	struct cg_listen *listen; /* seeded offsets, by port */
	size_t n_listen;
	/* oom:mark_victim: kills seen so far, the last victim, and a log line due. */
	uint64_t oom_seen, oom_new;
	uint32_t oom_pid;
	char oom_comm[16];
	struct cgroupfs_dirs dirs; /* its directories, open while its files are read */
};

struct engine {
	char *node;
	char *proc_root;
	char v1_cpu_root[PATH_MAX];
	char v1_mem_root[PATH_MAX]; /* the v1 memory controller's mount, "" none */
	bool host_swap; /* the host has swap space (read with the limits, once a minute) */
	struct collector *collector;
	struct cgroup_tree *tree;
	struct idmap *cgs; /* id → struct cg */
	struct cg *gone; /* the cgroups removed since the last collection's end */
	/* ids removed (cgroup_rmdir) before any collection saw them: a record of theirs in this
	 * collection's read makes a cgroup that is gone at once (freed after the read, no series:
	 * attribute.c), and the tree's index forgets the rest at the read's end */
	struct idmap *removed_unseen;
	struct series_table *series;
	struct idmap *devnames; /* dev + 1 → name */
	struct kube_meta *kube;
	struct strmap tracked; /* container id → struct tracked (Kubernetes only) */
	uint64_t tracked_gen; /* metadata generation the tracked list was taken at */
	uint64_t tracked_unresolved; /* tracked containers whose cgroup is not found yet */
	double retention;
	uint64_t gen;
	double start_time;
	double last_time;
	time_t last_scan;
	uint64_t collections;
	uint64_t errors;
	uint64_t removed, swept;
	uint64_t causes_lost_ns; /* neighbours' run-queue wait no series could take */
	/* Writes to pseudo filesystems (procfs, sysfs, cgroupfs, …): no volume, no series;
	 * their bytes only feed bpfdiag_agent_fs_pseudo_write_bytes_total. */
	struct acc pseudo;
	bool seed_listeners; /* the net family is up: listeners of new cgroups come from /proc */
	bool seed_wanted; /* some cgroup may have its seed pending: look for it */
	struct listen_seed_stats seed; /* what seeding read and skipped */
	uint64_t seed_raced; /* seedings raced by a LISTEN transition, done again */
	uint64_t listeners_seeded; /* sockets seeding added to what BPF counted */
};

/* attribute.c */
/* The cgroup of an id, created when absent; NULL when out of memory. */
struct cg *engine_cg_get(struct engine *e, uint64_t id);
/* Marks a cgroup removed: it is read a last time, then freed (engine_expire). */
void engine_cg_gone(struct engine *e, struct cg *c);
/* Resolves the ids of this read to series (walking the tree when new ids appeared) and sweeps
 * ids that stayed absent from it. Returns 0 or -ENOMEM. */
int engine_resolve_all(struct engine *e, uint64_t kgen, uint64_t *ret_unresolved);
/* Moves a cgroup whose labels changed with metadata generation kgen. Returns 0 or -ENOMEM. */
int engine_relabel(struct engine *e, struct cg *c, uint64_t kgen);
/* Gives every running container of the pod list a series, ran or not. Returns 0 or -errno. */
int engine_track_containers(struct engine *e, uint64_t kgen);
void engine_track_free(struct engine *e);

/* volumes.c */
/* Binds a stream of a resolved cgroup to its accumulators, or leaves it unbound while its
 * volume's claim is being read. Returns 0 or -ENOMEM. */
int engine_bind_stream(struct engine *e, struct cg *c, struct stream *s);
void engine_devnames_free(struct engine *e);

/* listeners.c */
/* Reads the listening sockets of cgroups seen for the first time from /proc. Returns 0 or
 * -ENOMEM. */
int engine_seed_listeners(struct engine *e);
/* Rebuilds every series' listening sockets and peers from the maps. */
void engine_read_listeners(struct engine *e);
void engine_read_peers(struct engine *e);

#endif
