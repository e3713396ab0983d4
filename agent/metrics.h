/* The metric catalogue: one row per family, shared by every encoder (Prometheus, OTLP) and
 * documented in docs/METRICS.md. Engines emit points that name a row by its id. */
#ifndef BPFDIAG_METRICS_H
#define BPFDIAG_METRICS_H

enum metric_type { MT_COUNTER = 0, MT_GAUGE, MT_HISTOGRAM };

enum metric_id {
	M_CPU_SECONDS = 0,
	M_MAX,
};

#define METRIC_MAX_OWN_LABELS 2

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
};

extern const struct metric_desc metric_descs[M_MAX];

#endif
