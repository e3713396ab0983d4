/* SPDX-License-Identifier: BSD-2-Clause */
/* The metric catalogue: one row per family, shared by every encoder (Prometheus, OTLP) and
 * documented in docs/METRICS.md. Engines emit points that name a row by its id. */
#ifndef BPFDIAG_METRICS_H
#define BPFDIAG_METRICS_H

#include <stdint.h>

enum metric_type { MT_COUNTER = 0, MT_GAUGE, MT_HISTOGRAM };

/* Exposition order. Points of a series must come in this order. */
enum metric_id {
	M_CPU_SECONDS = 0,
	M_CPU_RUNQUEUE_WAIT_SECONDS,
	M_CPU_RUNQUEUE_LATENCY,
	M_CPU_RUNQUEUE_WAIT_CAUSED,
	M_CPU_SAMPLES,
	M_CPU_THROTTLED_SECONDS,
	M_CPU_THROTTLED_PERIODS,
	M_CPU_PERIODS,
	M_CPU_LIMIT_CORES,
	M_CPU_PRESSURE_SECONDS,
	M_MEMORY_WORKING_SET_BYTES,
	M_MEMORY_RSS_BYTES,
	M_MEMORY_PAGE_CACHE_BYTES,
	M_MEMORY_SWAP_BYTES,
	M_MEMORY_USAGE_BYTES,
	M_MEMORY_LIMIT_BYTES,
	M_MEMORY_PAGE_FAULTS,
	M_MEMORY_OOM_KILLS,
	M_DISK_BYTES,
	M_DISK_OPERATIONS,
	M_DISK_LATENCY,
	M_FS_WRITE_BYTES,
	M_FS_WRITE_CALLS,
	M_FS_SYNC_CALLS,
	M_FS_READ_BYTES,
	M_NETWORK_BYTES,
	M_TCP_CONNECTIONS_OPENED,
	M_TCP_RETRANSMITS,
	M_TCP_LISTENING_SOCKETS,
	M_RECOMMENDATION, /* last: added by the rules engine after emission */
	M_MAX,
};

#define METRIC_MAX_OWN_LABELS 4

struct metric_desc {
	const char *name; /* Prometheus family name (counters end in _total) */
	enum metric_type type;
	const char *help;
	const char *own_labels[METRIC_MAX_OWN_LABELS]; /* NULL when unused */
	const char *otlp_name; /* OpenTelemetry name */
	const char *otlp_unit; /* UCUM unit */
	/* OTLP attribute names of own_labels, index for index (direction → disk.io.direction);
	 * NULL entries keep the Prometheus label name. */
	const char *otlp_attrs[METRIC_MAX_OWN_LABELS];
	/* Bit o: own label o is an OTLP attribute only, not a Prometheus label. */
	unsigned otlp_only;
	/* Histograms: the bucket bounds exported (seconds, ascending), a subset of the kernel's
	 * log2 slot bounds chosen for the decisions the rules make (docs/METRICS.md); the
	 * encoders fold the slots into them. NULL: every bound of the point. */
	const double *export_bounds;
	unsigned n_export_bounds;
};

extern const struct metric_desc metric_descs[M_MAX];

struct snap_hist;

#define METRIC_HIST_MAX_BUCKETS 64

/* The buckets of h as exported under d: *ret_bounds the finite bounds, counts[0..n] the count
 * of each bucket (not cumulative; counts[n] the +Inf bucket); returns n. d's export_bounds
 * when each is a bound of h (folding is then exact), else h's own bounds. -E2BIG when h has
 * more than METRIC_HIST_MAX_BUCKETS buckets. */
int metric_hist_buckets(const struct metric_desc *d, const struct snap_hist *h,
			const double **ret_bounds, uint64_t counts[METRIC_HIST_MAX_BUCKETS]);

#endif
