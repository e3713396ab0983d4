/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the cpu probe family. Fixed-width types, explicit padding. */
#ifndef BPFDIAG_CPU_H
#define BPFDIAG_CPU_H

#include "hist.h"

#define CPU_MAX_CGROUPS_DEFAULT 8192

/* Per-CPU value of the cpu_stats map, keyed by cgroup v2 id. */
struct cpu_cg_stats {
	__u64 oncpu_ns; /* time tasks of the cgroup ran on this CPU */
	__u64 switches; /* times a task of the cgroup was switched out */
	__u64 rq_wait_ns; /* time woken or preempted tasks waited for a CPU */
	__u64 rq_count; /* waits measured */
	__u64 rq_hist[HIST_SLOTS]; /* waits per log2 µs slot */
};

/* A pending record holds at most this much CPU time before it is flushed to cpu_stats
 * (bpf/cpu.bpf.c says when else it is flushed). */
#define CPU_FLUSH_NS (4ULL * 1000 * 1000)

/* Noisy neighbours: each CPU remembers the start of its last CPU_RING slices; a wait of at least
 * CPU_CAUSE_MIN_NS is charged to the cgroups whose slices overlap it, in cpu_causes (at most
 * CPU_MAX_CAUSES victim/culprit pairs between two reads, which drain it). */
#define CPU_RING 16 /* a power of two */
#define CPU_CAUSE_MIN_NS (100ULL * 1000)
#define CPU_MAX_CAUSES 16384

struct cpu_slice {
	__u64 cgid; /* 0: empty */
	__u64 start; /* the task's arrival, clock of the wait method (sched_info: the run queue's) */
};

/* What a CPU charged to one cgroup and has not yet added to cpu_stats. */
struct cpu_pending_cg {
	__u64 cgid; /* 0: empty */
	struct cpu_cg_stats s;
};

/* A CPU keeps pending records for this many cgroups at once (a power of two), the slot chosen by
 * the cgroup id's low bits: a CPU that alternates between a few cgroups adds to cpu_stats when a
 * slot changes hands, not at every switch between them. */
#define CPU_PENDING_SLOTS 4

/* Per-CPU value of the one-entry cpu_pending array: the pending records and the CPU's last
 * slices. */
struct cpu_pending {
	__u64 head; /* the next ring slot */
	struct cpu_slice ring[CPU_RING];
	struct cpu_pending_cg cg[CPU_PENDING_SLOTS];
};

/* Key of cpu_causes (value: u64 ns of the victim's wait while the culprit ran). */
struct cpu_cause_key {
	__u64 victim; /* cgroup v2 ids */
	__u64 culprit;
};

/* Indexes of the per-CPU cpu_counters array: degradations counted, never silent. */
enum cpu_counter {
	CPU_CNT_MAP_FULL = 0, /* cpu_stats had no room for a new cgroup: data was dropped */
	CPU_CNT_DROPPED_NS, /* nanoseconds of CPU time that could therefore not be charged */
	CPU_CNT_SAMPLES_MAP_FULL, /* cpu_samples had no room */
	CPU_CNT_CAUSES_FULL, /* cpu_causes had no room for a victim/culprit pair */
	CPU_CNT_MAX,
};

#endif
