/* SPDX-License-Identifier: BSD-2-Clause */
/* The kernel side as seen from user space: loads and attaches the BPF probe families (each on
 * its own, so a missing kernel feature costs only its metrics), picks fallbacks at run time, and
 * reads the maps as records. One object per agent (or per standalone `top`). */
#ifndef BPFDIAG_COLLECTOR_H
#define BPFDIAG_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* PROBE_OFF: the family is not loaded (only optional families offer it). */
enum collector_probe_choice { PROBE_AUTO = 0, PROBE_PRIMARY, PROBE_FALLBACK, PROBE_OFF };
/* The fs family's variants (--fs-probe): auto is filesystem, falling back to syscalls, then
 * raw, when its programs do not load; off: not loaded. */
enum collector_fs_probe {
	FS_PROBE_AUTO = 0,
	FS_PROBE_FILESYSTEM,
	FS_PROBE_SYSCALLS,
	FS_PROBE_RAW,
	FS_PROBE_OFF
};

struct collector_opts {
	const char *pin_dir; /* NULL: no pinning; maps then die with the process */
	bool pin_required; /* pin_dir unusable (no bpffs): fail, instead of running unpinned */
	const char *cgroup_root; /* the v2 mount: cgroup_skb attaches there */
	uint32_t max_cgroups; /* 0: the built-in default */
	enum collector_probe_choice
		net; /* primary: sock_*_length tracepoints; fallback: cgroup_skb; or off */
	enum collector_fs_probe fs; /* filesystem tracepoints, per-syscall ones, raw syscalls, off */
	enum collector_probe_choice uring; /* primary: tp_btf io_uring_complete; fallback: its
					    * classic tracepoint */
	/* run-queue wait; primary: the scheduler's sched_info read at sched_switch; fallback:
	 * sched_wakeup timestamps */
	enum collector_probe_choice cpu;
	bool bpf_stats; /* enable kernel BPF run-time statistics (costs two clock reads per run) */
	int sample_hz; /* cpu-clock samples per second per CPU; <= 0: none (the default) */
};

/* The records of one read: a map entry summed over CPUs, one struct per probe family, named by
 * what each field counts. Every field is a counter that only grows while the entry lives (an
 * entry re-created, as after a restart without pinning, starts again from zero); the keys are
 * given beside the record. */
struct cpu_rec {
	uint64_t oncpu_ns; /* time the cgroup's tasks ran */
	uint64_t rq_wait_ns; /* time its woken or preempted tasks waited for a CPU */
	uint64_t rq_count; /* waits measured */
	uint64_t rq_hist[HIST_SLOTS]; /* the waits per log2 slot (hist.h) */
};

struct disk_rec {
	uint64_t bytes;
	uint64_t ops; /* block requests completed */
	uint64_t lat_ns; /* their time from issue to completion */
	uint64_t lat_hist[HIST_SLOTS]; /* the requests per log2 latency slot */
};

struct fs_rec {
	uint64_t write_bytes; /* written by write(2) and friends to regular files */
	uint64_t write_calls;
	uint64_t sync_calls; /* fsync, fdatasync, sync_file_range, msync(MS_SYNC) */
	uint64_t read_bytes; /* read by read(2) and friends from regular files */
	uint64_t read_calls;
};

struct net_rec {
	uint64_t tx_bytes; /* payload bytes sent on inet sockets */
	uint64_t rx_bytes; /* payload bytes received */
	uint64_t retransmits; /* TCP segments retransmitted */
	uint64_t conns_client; /* TCP connections established as client */
	uint64_t conns_server; /* as server */
};

/* OOM kills of a cgroup's tasks seen by oom:mark_victim (the victim's cgroup), and the last
 * victim. */
struct oom_rec {
	uint64_t kills;
	uint32_t last_pid;
	char last_comm[16];
};

enum disk_rec_dir { DISK_REC_READ = 0, DISK_REC_WRITE = 1 };

/* Where collector__read delivers, one function per family; a NULL function skips its map. */
struct collector_sink {
	void *ctx;
	void (*cpu)(void *ctx, uint64_t cgroup_id, const struct cpu_rec *r);
	/* cpu-clock samples (when asked for) that found a task of the cgroup running */
	void (*cpu_samples)(void *ctx, uint64_t cgroup_id, uint64_t samples);
	/* dev: the whole disk, major << 20 | minor */
	void (*disk)(void *ctx, uint64_t cgroup_id, uint32_t dev, enum disk_rec_dir dir,
		     const struct disk_rec *r);
	/* mnt_id: the global mount id written to, as in /proc/<pid>/mountinfo; 0 unknown. The fs
	 * and io_uring families both deliver here: a key may come from each. */
	void (*fs)(void *ctx, uint64_t cgroup_id, uint32_t mnt_id, const struct fs_rec *r);
	void (*net)(void *ctx, uint64_t cgroup_id, const struct net_rec *r);
	void (*oom)(void *ctx, uint64_t cgroup_id, const struct oom_rec *r);
};

struct collector_peer {
	uint64_t cgroup_id;
	uint8_t addr[16]; /* IPv4 mapped as ::ffff:a.b.c.d */
	uint16_t port;
	uint8_t role; /* 0 client, 1 server */
	uint64_t connections;
};

/* What a self-stat of the collector measures; the metric catalogue side names them
 * (model/agent_stats.h). */
enum collector_stat_kind {
	CSTAT_PROBE_UP = 0, /* subject: a probe family; 1 loaded and attached, 0 not */
	CSTAT_PROBE_INFO, /* subject: a family (or samples, listeners); mechanism: in use; 1 */
	CSTAT_MAP_ENTRIES, /* subject: a map; its entries at the last read */
	CSTAT_MAP_CAPACITY, /* subject: a map; its maximum entries */
	CSTAT_MAP_OVERFLOW, /* subject: a map; events that found it full (their data dropped) */
	CSTAT_CPU_DROPPED_SECONDS, /* CPU time not charged because the cpu map was full */
	CSTAT_DISK_ATTRIBUTIONS, /* subject: how block requests found their cgroup; requests */
	CSTAT_DISK_TRACKING, /* subject: an event of the disk family's request tracking; events */
	CSTAT_BPF_RUN_SECONDS, /* subject: a BPF program; kernel time it ran */
	CSTAT_BPF_RUNS, /* subject: a BPF program; its runs */
	CSTAT_MAP_READS, /* subject: batch, or per_key where the kernel refused batch lookups */
	CSTAT_CPU_FLUSHES, /* subject: done, offline or failed; runs of cpu_flush on a CPU */
	CSTAT_KIND_MAX,
};

struct collector_stat {
	enum collector_stat_kind kind;
	char subject[48]; /* the family, map, method or program; "" none */
	char mechanism[32]; /* CSTAT_PROBE_INFO: the probe in use, e.g. "sched_switch" */
	double value;
};

struct collector;

/* Loads and attaches every probe family it can. Returns 0 and sets *ret when at least the cpu
 * family works; families that fail are logged once with the metrics they cost. Otherwise a
 * negative errno with a one-line reason in err. */
int collector__open(const struct collector_opts *opts, struct collector **ret, char *err,
		    size_t errlen);
/* Detaches and frees. Accepts NULL; returns NULL. */
struct collector *collector__destroy(struct collector *c);

/* Gives every map entry to its family's function in sink, summed over CPUs. Each CPU first
 * charges its running task's time so far and flushes its pending counts (cpu_flush), so the
 * CPU time read is complete up to the read. A key may come more than once within a read: the
 * caller sums them. Returns 0 or -errno. */
int collector__read(struct collector *c, const struct collector_sink *sink);

/* n: TCP sockets of the cgroup that entered LISTEN on port, less those that left it, since the
 * map was created. Every entry is given, n <= 0 included: a listener that predates the probes
 * and then closes takes its entry below zero (see listen_seed_offset in listen_seed.h). */
typedef void (*collector_listen_fn)(void *ctx, uint64_t cgroup_id, uint16_t port, int64_t n);
typedef void (*collector_peer_fn)(void *ctx, const struct collector_peer *p);
int collector__read_listen(struct collector *c, collector_listen_fn fn, void *ctx);
int collector__read_peers(struct collector *c, collector_peer_fn fn, void *ctx);

/* Calls fn for the run-queue wait of a victim cgroup charged to a culprit cgroup (that held
 * the CPU meanwhile) since the last call, ns > 0; the kernel's pairs are drained as they are
 * read (lookup and delete), so the map holds at most one interval's pairs. Returns the number
 * of pairs, or -errno. */
typedef void (*collector_cause_fn)(void *ctx, uint64_t victim, uint64_t culprit, uint64_t ns);
long collector__take_causes(struct collector *c, collector_cause_fn fn, void *ctx);

typedef void (*collector_born_fn)(void *ctx, uint64_t cgroup_id, const char *path);
/* Calls fn for each cgroup v2 directory made since the last call (the cgroup_mkdir probe), with
 * its path from the hierarchy's root ("/a/b"; paths too long for the probe are left out: a walk
 * of the tree finds those). Returns how many were taken (0 without the probe), or -errno. */
long collector__take_born(struct collector *c, collector_born_fn fn, void *ctx);

typedef void (*collector_id_fn)(void *ctx, uint64_t cgroup_id);
/* Calls fn for each cgroup removed since the last call (from the cgroup_rmdir probe). */
int collector__take_removed(struct collector *c, collector_id_fn fn, void *ctx);
/* Deletes every map entry of the given cgroups (after their last read). is_gone(ctx, id) says
 * whether an id is one of them. Returns the number of entries deleted. */
long collector__forget(struct collector *c, bool (*is_gone)(void *ctx, uint64_t id), void *ctx);

/* Self-metrics; *ret points into the collector and lives until the next call. */
int collector__stats(struct collector *c, const struct collector_stat **ret, size_t *ret_n);
/* One line naming the probes in use, e.g. "net=tracepoint fs=syscalls disk=on". */
const char *collector__features(const struct collector *c);
/* oom:mark_victim is attached: it counts OOM kills as they happen. */
bool collector__oom_probe(const struct collector *c);
/* Names (a static string) where listening sockets that predate the probes are read from, for
 * bpfdiag_agent_probe_info{family="listeners"} and the features line. Returns -EOPNOTSUPP when
 * the net family is down: nothing then tracks listeners, and nothing should be seeded. */
int collector__set_listen_seed(struct collector *c, const char *source);

#endif
