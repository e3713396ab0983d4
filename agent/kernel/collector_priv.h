/* SPDX-License-Identifier: BSD-2-Clause */
/* The collector's parts (collector.c: loading and attaching; collector_read.c: the maps read
 * as records; collector_stats.c: the self-stats) share this object. Private to kernel/. */
#ifndef BPFDIAG_COLLECTOR_PRIV_H
#define BPFDIAG_COLLECTOR_PRIV_H

#include "kernel/collector.h"
#include "kernel/cpu_online.h"

#include <bpf/libbpf.h>

#include "cgroup.skel.h"
#include "cpu.skel.h"
#include "disk.skel.h"
#include "fs.skel.h"
#include "net.skel.h"
#include "uring.skel.h"

/* Self-metric rows of one read: ~110 with --bpf-stats on (two per program, three per map). */
#define COLLECTOR_MAX_STATS 256

/* Slots of the probes in use (CSTAT_PROBE_INFO): the probe families plus the perf_event
 * sampler and where listeners come from. */
enum probe_slot {
	SLOT_CPU,
	SLOT_SAMPLES,
	SLOT_DISK,
	SLOT_FS,
	SLOT_NET,
	SLOT_CGROUP,
	SLOT_URING,
	SLOT_LISTENERS, /* where listeners that predate the probes come from (the engine says) */
	PROBE_SLOTS
};

/* How map walks went (CSTAT_MAP_READS). */
enum map_read_method {
	MAP_READ_BATCH, /* bpf_map_lookup_batch */
	MAP_READ_PER_KEY, /* the kernel refused batch lookups for the map's type */
	MAP_READ_METHODS
};

/* How runs of cpu_flush on a CPU went (CSTAT_CPU_FLUSHES). */
enum flush_result {
	FLUSH_DONE,
	FLUSH_OFFLINE, /* the CPU was offline (the kernel answered ENXIO) */
	FLUSH_FAILED, /* the kernel refused the run */
	FLUSH_RESULTS
};

/* The fs family's program sets (--fs-probe). */
enum fs_variant { FSV_FILESYSTEM = 0, FSV_SYSCALLS, FSV_RAW };

/* A map whose fill and overflow are reported. */
struct watched_map {
	const char *name;
	struct bpf_map *map;
	int counters_fd; /* per-CPU counters array holding its overflow count, or -1 */
	unsigned counter_idx;
	uint64_t entries; /* counted at the last read */
};

struct collector {
	struct cpu_bpf *cpu;
	struct disk_bpf *disk;
	struct fs_bpf *fs;
	struct net_bpf *net;
	struct cgroup_bpf *cg;
	struct uring_bpf *uring; /* optional: NULL when down or off */
	struct bpf_link **perf_links;
	struct bpf_link *skb_links[2];
	int cgroup_fd;
	int stats_fd;
	int ncpus;
	uint32_t max_cgroups;
	/* The program variants this kernel takes, decided before each family loads. */
	bool cpu_sched_info; /* run-queue wait from sched_info, else the sched_wakeup programs */
	bool disk_folio; /* writeback_dirty_folio exists: writeback charged to the dirtier */
	enum fs_variant fs_variant;
	uint32_t fs_tps; /* filesystem variant: bit i set when fs_tps[i]'s tracepoint exists */
	bool net_tracepoints; /* sock_send_length/sock_recv_length, else cgroup_skb */
	bool oom_victim; /* mark_victim passes the victim task (newer kernels; older: a pid only) */
	bool uring_btf; /* tp_btf io_uring_complete, else its classic tracepoint */
	char *vals; /* scratch: ncpus per-CPU values */
	size_t vals_stride_max;
	char *batch; /* scratch of the batched map walks: keys, then values */
	size_t batch_size;
	uint64_t batch_refused; /* 1 << map type: the kernel refused its batch lookups */
	bool causes_batch_refused; /* and batch lookup-and-delete of cpu_causes */
	bool born; /* cgroup:cgroup_mkdir is attached: cgroup_born names new cgroups */
	bool born_batch_refused; /* and batch lookup-and-delete of cgroup_born */
	uint64_t map_reads[MAP_READ_METHODS];
	/* cpu_flush runs on every CPU before each read; false: it cannot (loaded without it, or the
	 * kernel refused it at start), and pending counts wait for a sample or an idle CPU. */
	bool cpu_flush;
	bool sampling; /* the cpu-clock sampler is attached */
	struct cpu_online online; /* the CPUs cpu_flush is run on */
	uint64_t flushes[FLUSH_RESULTS];
	char features[256];
	const char *probe[PROBE_SLOTS]; /* mechanism in use per slot, NULL when down */
	struct watched_map maps[16];
	unsigned n_maps;
	struct collector_stat stats[COLLECTOR_MAX_STATS];
	size_t n_stats;
};

struct btf;

typedef void (*entry_fn)(struct collector *c, const void *key, const void *vals, size_t stride,
			 const void *arg);

/* collector_read.c: calls each() for every entry of map with its values summed by the caller
 * (stride 0: not per-CPU) and records the map's fill; field_sum() sums the u64 at off over the
 * CPUs. Returns 0 or -errno. */
int walk_map(struct collector *c, struct bpf_map *map, entry_fn each,
	     const struct collector_sink *sink);
uint64_t field_sum(const struct collector *c, const void *vals, size_t stride, size_t off);
/* An entry of a map of struct fs_stats (the fs family's, io_uring's) handed to sink->fs. */
void each_fs(struct collector *c, const void *key, const void *vals, size_t stride,
	     const void *arg);

/* collector_uring.c: whether the kernel's io_uring_complete tracepoint hands its CQE to tp_btf
 * (Linux >= 6.0: ctx, req, cqe), and the io_uring records read into the fs sink. */
bool collector_uring_btf_ok(const struct btf *vmlinux);
int collector_uring_read(struct collector *c, const struct collector_sink *sink);

/* collector.c: runs cpu_flush on each online CPU (before the maps are read; the online list
 * read anew each time, parsed when it changed), counting how each run went (offline: a CPU
 * gone offline between the list's read and its run). */
void collector_flush_cpus(struct collector *c);

/* kernel.bpf_stats_enabled set by the administrator (no CAP_SYS_ADMIN needed to read it). */
bool collector_bpf_stats_sysctl(void);

#endif
