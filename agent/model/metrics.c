// SPDX-License-Identifier: BSD-2-Clause
#include "model/metrics.h"
#include "model/snapshot.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Exported histogram buckets: a subset of the kernel's log2 slot bounds (2^k × 1.024 µs), so
 * folding the slots is exact. Run-queue wait: fine from 1 to 17 ms, where RS-06 decides (p99
 * over 5 ms by default; configurable, 10 ms in the documented example), one bucket below
 * 262 µs (healthy) and above 67 ms (saturated). Disk latency: one bucket per class of device: local NVMe (< 131 µs), SSD (< 524 µs,
 * 1 ms), network block storage (4 ms), spinning disks (17 ms), stalls (67, 268 ms). */
static const double runq_export_bounds[] = {
	262.144e-6, 1.048576e-3, 2.097152e-3, 4.194304e-3, 8.388608e-3, 16.777216e-3, 67.108864e-3,
};
static const double disk_export_bounds[] = {
	131.072e-6, 524.288e-6, 1.048576e-3, 4.194304e-3, 16.777216e-3, 67.108864e-3, 268.435456e-3,
};

#define EXPORT_BOUNDS(b) .export_bounds = (b), .n_export_bounds = sizeof(b) / sizeof((b)[0])

#define OWN(...)            \
	{                   \
		__VA_ARGS__ \
	}

/* The fs family's series are per volume: the same labels and attributes on each (volume_type is
 * OTLP only, the fourth label). */
#define FS_VOLUME_LABELS \
	.own_labels = OWN("volume_class", "volume", "persistentvolumeclaim", "volume_type")
#define FS_VOLUME_ATTRS                                                                      \
	.otlp_attrs = OWN("bpfdiag.volume.class", "k8s.volume.name", "bpfdiag.volume.claim", \
			  "k8s.volume.type"),                                                \
	.otlp_only = 1u << 3

const struct metric_desc metric_descs[M_MAX] = {
	[M_CPU_SECONDS] = {
		.name = "bpfdiag_cpu_seconds_total",
		.type = MT_COUNTER,
		.help = "CPU time the container's tasks spent running, from sched_switch.",
		.otlp_name = "container.cpu.time",
		.otlp_unit = "s",
	},
	[M_CPU_RUNQUEUE_WAIT_SECONDS] = {
		.name = "bpfdiag_cpu_runqueue_wait_seconds_total",
		.type = MT_COUNTER,
		.help = "Time runnable tasks waited in a run queue for a CPU.",
		.otlp_name = "bpfdiag.cpu.runqueue.wait_time",
		.otlp_unit = "s",
	},
	[M_CPU_RUNQUEUE_LATENCY] = {
		.name = "bpfdiag_cpu_runqueue_latency_seconds",
		.type = MT_HISTOGRAM,
		.help = "Run-queue waits, from wakeup or preemption to running.",
		.otlp_name = "bpfdiag.cpu.runqueue.latency",
		.otlp_unit = "s",
		EXPORT_BOUNDS(runq_export_bounds),
	},
	[M_CPU_RUNQUEUE_WAIT_CAUSED] = {
		.name = "bpfdiag_cpu_runqueue_wait_caused_seconds_total",
		.type = MT_COUNTER,
		.help = "Run-queue wait of the container's tasks (waits of 100 us or more) while a "
			"neighbour's task held the CPU, for its top 3 neighbours.",
		.own_labels = OWN("neighbour_namespace", "neighbour_workload_kind",
				  "neighbour_workload"),
		.otlp_name = "bpfdiag.cpu.runqueue.wait_caused_time",
		.otlp_unit = "s",
		.otlp_attrs = OWN("bpfdiag.neighbour.namespace", "bpfdiag.neighbour.workload.kind",
				  "bpfdiag.neighbour.workload.name"),
	},
	[M_CPU_SAMPLES] = {
		.name = "bpfdiag_cpu_samples_total",
		.type = MT_COUNTER,
		.help = "cpu-clock samples (--cpu-samples HZ, off by default) that found a task of "
			"the container running.",
		.otlp_name = "bpfdiag.cpu.samples",
		.otlp_unit = "{sample}",
	},
	[M_CPU_THROTTLED_SECONDS] = {
		.name = "bpfdiag_cpu_throttled_seconds_total",
		.type = MT_COUNTER,
		.help = "Time the cgroup was throttled by its CPU limit (cpu.stat).",
		.otlp_name = "bpfdiag.cpu.throttled_time",
		.otlp_unit = "s",
	},
	[M_CPU_THROTTLED_PERIODS] = {
		.name = "bpfdiag_cpu_throttled_periods_total",
		.type = MT_COUNTER,
		.help = "Enforcement periods in which the cgroup was throttled.",
		.otlp_name = "bpfdiag.cpu.throttled_periods",
		.otlp_unit = "{period}",
	},
	[M_CPU_PERIODS] = {
		.name = "bpfdiag_cpu_periods_total",
		.type = MT_COUNTER,
		.help = "Enforcement periods of the cgroup's CPU limit that elapsed.",
		.otlp_name = "bpfdiag.cpu.periods",
		.otlp_unit = "{period}",
	},
	[M_CPU_LIMIT_CORES] = {
		.name = "bpfdiag_cpu_limit_cores",
		.type = MT_GAUGE,
		.help = "CPU limit (quota / period); absent when unlimited.",
		.otlp_name = "bpfdiag.cpu.limit",
		.otlp_unit = "{cpu}",
	},
	[M_CPU_PRESSURE_SECONDS] = {
		.name = "bpfdiag_cpu_pressure_seconds_total",
		.type = MT_COUNTER,
		.help = "CPU pressure stall time (PSI): some or all tasks waiting.",
		.own_labels = OWN("kind"),
		.otlp_name = "bpfdiag.cpu.pressure.stall_time",
		.otlp_unit = "s",
		.otlp_attrs = OWN("bpfdiag.pressure.kind"),
	},
	[M_MEMORY_WORKING_SET_BYTES] = {
		.name = "bpfdiag_memory_working_set_bytes",
		.type = MT_GAUGE,
		.help = "Memory working set as kubelet defines it: usage minus inactive file pages.",
		.otlp_name = "container.memory.working_set",
		.otlp_unit = "By",
	},
	[M_MEMORY_RSS_BYTES] = {
		.name = "bpfdiag_memory_rss_bytes",
		.type = MT_GAUGE,
		.help = "Anonymous memory (memory.stat anon; v1 total_rss).",
		.otlp_name = "container.memory.rss",
		.otlp_unit = "By",
	},
	[M_MEMORY_PAGE_CACHE_BYTES] = {
		.name = "bpfdiag_memory_page_cache_bytes",
		.type = MT_GAUGE,
		.help = "File-backed page cache (memory.stat file; v1 total_cache).",
		.otlp_name = "bpfdiag.memory.page_cache",
		.otlp_unit = "By",
	},
	[M_MEMORY_SWAP_BYTES] = {
		.name = "bpfdiag_memory_swap_bytes",
		.type = MT_GAUGE,
		.help = "Memory swapped out (memory.swap.current; v1 total_swap).",
		.otlp_name = "bpfdiag.memory.swap",
		.otlp_unit = "By",
	},
	[M_MEMORY_USAGE_BYTES] = {
		.name = "bpfdiag_memory_usage_bytes",
		.type = MT_GAUGE,
		.help = "Memory charged to the cgroup (memory.current; v1 memory.usage_in_bytes).",
		.otlp_name = "container.memory.usage",
		.otlp_unit = "By",
	},
	[M_MEMORY_LIMIT_BYTES] = {
		.name = "bpfdiag_memory_limit_bytes",
		.type = MT_GAUGE,
		.help = "Memory limit (memory.max; v1 memory.limit_in_bytes); absent when unlimited.",
		.otlp_name = "bpfdiag.memory.limit",
		.otlp_unit = "By",
	},
	[M_MEMORY_PAGE_FAULTS] = {
		.name = "bpfdiag_memory_page_faults_total",
		.type = MT_COUNTER,
		.help = "Page faults of the cgroup's tasks, major (needing I/O) or minor.",
		.own_labels = OWN("type"),
		.otlp_name = "container.paging.faults",
		.otlp_unit = "{fault}",
		.otlp_attrs = OWN("system.paging.fault.type"),
	},
	[M_MEMORY_OOM_KILLS] = {
		.name = "bpfdiag_memory_oom_kills_total",
		.type = MT_COUNTER,
		.help = "Tasks of the cgroup killed by the OOM killer (memory.events oom_kill).",
		.otlp_name = "bpfdiag.memory.oom_kills",
		.otlp_unit = "{kill}",
	},
	[M_DISK_BYTES] = {
		.name = "bpfdiag_disk_bytes_total",
		.type = MT_COUNTER,
		.help = "Bytes read or written by block requests charged to the container.",
		.own_labels = OWN("direction", "device"),
		.otlp_name = "container.disk.io",
		.otlp_unit = "By",
		.otlp_attrs = OWN("disk.io.direction", "system.device"),
	},
	[M_DISK_OPERATIONS] = {
		.name = "bpfdiag_disk_operations_total",
		.type = MT_COUNTER,
		.help = "Block requests completed.",
		.own_labels = OWN("direction", "device"),
		.otlp_name = "bpfdiag.disk.operations",
		.otlp_unit = "{operation}",
		.otlp_attrs = OWN("disk.io.direction", "system.device"),
	},
	[M_DISK_LATENCY] = {
		.name = "bpfdiag_disk_latency_seconds",
		.type = MT_HISTOGRAM,
		.help = "Block request latency, from issue to completion.",
		.own_labels = OWN("direction"),
		.otlp_name = "bpfdiag.disk.latency",
		.otlp_unit = "s",
		.otlp_attrs = OWN("disk.io.direction"),
		EXPORT_BOUNDS(disk_export_bounds),
	},
	[M_FS_WRITE_BYTES] = {
		.name = "bpfdiag_fs_write_bytes_total",
		.type = MT_COUNTER,
		.help = "Bytes written by write(2) and friends to regular files, by volume.",
		FS_VOLUME_LABELS,
		.otlp_name = "bpfdiag.fs.write.io",
		.otlp_unit = "By",
		FS_VOLUME_ATTRS,
	},
	[M_FS_WRITE_CALLS] = {
		.name = "bpfdiag_fs_write_calls_total",
		.type = MT_COUNTER,
		.help = "write(2)-family calls to regular files, by volume.",
		FS_VOLUME_LABELS,
		.otlp_name = "bpfdiag.fs.write.calls",
		.otlp_unit = "{call}",
		FS_VOLUME_ATTRS,
	},
	[M_FS_SYNC_CALLS] = {
		.name = "bpfdiag_fs_sync_calls_total",
		.type = MT_COUNTER,
		.help = "fsync, fdatasync, sync_file_range and msync(MS_SYNC) calls, by volume.",
		FS_VOLUME_LABELS,
		.otlp_name = "bpfdiag.fs.sync.calls",
		.otlp_unit = "{call}",
		FS_VOLUME_ATTRS,
	},
	[M_FS_READ_BYTES] = {
		.name = "bpfdiag_fs_read_bytes_total",
		.type = MT_COUNTER,
		.help = "Bytes read by read(2) and friends from regular files, by volume.",
		FS_VOLUME_LABELS,
		.otlp_name = "bpfdiag.fs.read.io",
		.otlp_unit = "By",
		FS_VOLUME_ATTRS,
	},
	[M_NETWORK_BYTES] = {
		.name = "bpfdiag_network_bytes_total",
		.type = MT_COUNTER,
		.help = "Payload bytes sent and received on TCP/UDP sockets.",
		.own_labels = OWN("direction"),
		.otlp_name = "container.network.io",
		.otlp_unit = "By",
		.otlp_attrs = OWN("network.io.direction"),
	},
	[M_TCP_CONNECTIONS_OPENED] = {
		.name = "bpfdiag_tcp_connections_opened_total",
		.type = MT_COUNTER,
		.help = "TCP connections established, as client or server.",
		.own_labels = OWN("role"),
		.otlp_name = "bpfdiag.tcp.connections.opened",
		.otlp_unit = "{connection}",
		.otlp_attrs = OWN("bpfdiag.tcp.role"),
	},
	[M_TCP_RETRANSMITS] = {
		.name = "bpfdiag_tcp_retransmits_total",
		.type = MT_COUNTER,
		.help = "TCP segments retransmitted.",
		.otlp_name = "bpfdiag.tcp.retransmits",
		.otlp_unit = "{segment}",
	},
	[M_TCP_LISTENING_SOCKETS] = {
		.name = "bpfdiag_tcp_listening_sockets",
		.type = MT_GAUGE,
		.help = "TCP sockets in LISTEN state (those opened before the agent started are read "
			"from /proc).",
		.otlp_name = "bpfdiag.tcp.listening_sockets",
		.otlp_unit = "{socket}",
	},
	[M_RECOMMENDATION] = {
		.name = "bpfdiag_recommendation",
		.type = MT_GAUGE,
		.help = "Recommended CPU request (cores) and memory request and limit (bytes) of the "
			"container, from its observed use.",
		.own_labels = OWN("resource", "kind"),
		.otlp_name = "bpfdiag.recommendation",
		.otlp_unit = "1",
		.otlp_attrs = OWN("bpfdiag.recommendation.resource", "bpfdiag.recommendation.kind"),
	},
};

static bool same_bound(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fabs(b);
}

int metric_hist_buckets(const struct metric_desc *d, const struct snap_hist *h,
			const double **ret_bounds, uint64_t counts[METRIC_HIST_MAX_BUCKETS])
{
	unsigned k = 0, n = d->n_export_bounds;

	if (h->n_bounds + 1 > METRIC_HIST_MAX_BUCKETS)
		return -E2BIG;
	/* Every export bound must be one of h's: then each slot falls in one exported bucket. */
	for (unsigned b = 0; b < h->n_bounds && k < n; b++)
		if (same_bound(h->bounds[b], d->export_bounds[k]))
			k++;
	if (!n || k < n) {
		memcpy(counts, h->counts, (h->n_bounds + 1) * sizeof(*counts));
		*ret_bounds = h->bounds;
		return (int)h->n_bounds;
	}
	memset(counts, 0, (n + 1) * sizeof(*counts));
	k = 0;
	for (unsigned b = 0; b <= h->n_bounds; b++) {
		/* slot b (upper bound h->bounds[b], +Inf for the last) goes to the first exported
		 * bucket whose bound is not below it */
		while (k < n && b < h->n_bounds && h->bounds[b] > d->export_bounds[k] &&
		       !same_bound(h->bounds[b], d->export_bounds[k]))
			k++;
		counts[b < h->n_bounds ? k : n] += h->counts[b];
	}
	*ret_bounds = d->export_bounds;
	return (int)n;
}
