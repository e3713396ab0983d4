/* bpfdiag top's model: the agent's documents (/api/v1/pods, /api/v1/findings, the
 * bpfdiag_agent_* lines of /metrics) parsed into pods, containers, findings and agent health,
 * then sorted and filtered into display rows and formatted into table lines. Pure: no I/O, no
 * curses; the plain-text and the full-screen views share it. */
#ifndef BPFDIAG_TOP_MODEL_H
#define BPFDIAG_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum top_sort {
	TOP_SORT_CPU = 0,
	TOP_SORT_RUNQ,
	TOP_SORT_DISK,
	TOP_SORT_IOPS,
	TOP_SORT_FSYNC,
	TOP_SORT_NET,
	TOP_SORT_RETRANS,
	TOP_SORT_NAME,
	TOP_SORT_MAX,
};

enum top_severity {
	TOP_SEV_NONE = 0,
	TOP_SEV_INFO,
	TOP_SEV_LOW,
	TOP_SEV_MEDIUM,
	TOP_SEV_HIGH,
	TOP_SEV_CRITICAL,
};

/* Rates of a container, or of a pod (sums; run-queue p99 is the worst container's). */
struct top_rates {
	double cpu_pct; /* percent of one CPU */
	double runq_p99; /* seconds */
	double disk_r, disk_w; /* bytes per second */
	double iops;
	double fs_w; /* logical write bytes per second */
	double fsync; /* sync calls per second */
	double net_rx, net_tx; /* bytes per second */
	double retrans; /* per second */
};

struct top_container {
	char *name, *id, *cgroup_path;
	uint64_t cgroup_id;
	struct top_rates r;
	char ports[64]; /* listening TCP ports, "80,443", "" when none */
};

struct top_pod {
	char *ns, *pod, *uid, *kind, *workload, *release;
	char *key; /* stable identity across refreshes: the uid, else kind/workload */
	struct top_rates r;
	struct top_container *ctrs;
	size_t n_ctrs;
	char *finding_ids; /* rule ids of its workload's findings, worst first: "WK-05,RS-01" */
	enum top_severity worst; /* of those findings */
};

struct top_evidence {
	char *name;
	double value;
};

struct top_finding {
	char *ns, *kind, *workload, *release, *rule, *severity, *suggested, *message, *since;
	enum top_severity sev;
	struct top_evidence *ev;
	size_t n_ev;
};

/* Agent self-health from bpfdiag_agent_* samples; all zero when unknown. */
struct top_health {
	bool known;
	double start_time;
	double collections, collection_errors;
	double collection_seconds;
	double map_overflow; /* summed over maps */
	int probes_up, probes_total;
	char probes_down[64]; /* "net fs", families whose probe_up is 0 */
};

struct top_snapshot {
	char *node;
	double time; /* unix seconds of the collection, 0 when the document has none */
	struct top_pod *pods;
	size_t n_pods;
	struct top_rates total;
	struct top_finding *findings; /* worst first */
	size_t n_findings;
	bool findings_known; /* false: no findings document (see findings_note) */
	char findings_note[160];
	struct top_health health;
	char health_note[160]; /* why health is unknown */
};

/* Parses a pods document. Returns 0 with a new snapshot, -EINVAL when doc is not a pods
 * document, or -ENOMEM. */
int top_snapshot_parse(const char *doc, struct top_snapshot **ret);
/* Accepts NULL; returns NULL. */
struct top_snapshot *top_snapshot_free(struct top_snapshot *s);
/* Parses a findings document into s and tags every pod with the rule ids of its workload's
 * findings (same namespace, workload kind and workload). Returns 0, -EINVAL when doc is not a
 * findings document (s unchanged), or -ENOMEM. */
int top_snapshot_set_findings(struct top_snapshot *s, const char *doc);

/* Folds one bpfdiag_agent_* sample into h (labels as in the exposition, without braces);
 * other names are ignored. */
void top_health_sample(struct top_health *h, const char *name, const char *labels, double value);
/* Folds every bpfdiag_agent_* sample of a Prometheus text exposition into h. Returns the
 * number of samples used. */
int top_health_parse_prom(struct top_health *h, const char *text);

const char *top_sort_name(enum top_sort key);
/* Parses "cpu", "runq", "disk", "iops", "fsync", "net", "retrans" or "name". Returns 0 or
 * -EINVAL. */
int top_sort_parse(const char *s, enum top_sort *ret);
enum top_severity top_severity_parse(const char *s);
/* "CRIT", "HIGH", "MED", "LOW", "INFO" or "". */
const char *top_severity_tag(enum top_severity sev);

/* Filters; NULL or "" matches everything. ns and release must equal the pod's; text is a
 * case-insensitive substring of any of its names, ids, cgroup paths or finding ids. */
struct top_filter {
	const char *text, *ns, *release;
};

bool top_pod_matches(const struct top_pod *p, const struct top_filter *f);
bool top_finding_matches(const struct top_finding *fi, const struct top_filter *f);

/* A set of strings (the keys of expanded pods). */
struct top_keyset {
	char **keys;
	size_t n;
};

bool top_keyset_has(const struct top_keyset *ks, const char *key);
/* Adds key when absent, removes it when present. Returns 0 or -ENOMEM. */
int top_keyset_toggle(struct top_keyset *ks, const char *key);
void top_keyset_clear(struct top_keyset *ks);

/* A display row: a pod, or (ctr set) one of its containers. Points into the snapshot. */
struct top_row {
	const struct top_pod *pod;
	const struct top_container *ctr;
};

/* The visible rows: pods matching f, sorted by key (descending, name ascending on ties and
 * for TOP_SORT_NAME), each followed by its containers (sorted the same way) when its key is in
 * expanded (NULL: none). Returns 0 with *ret (free it) and *ret_n, or -ENOMEM. */
int top_rows_build(const struct top_snapshot *s, enum top_sort key, const struct top_filter *f,
		   const struct top_keyset *expanded, struct top_row **ret, size_t *ret_n);

enum top_col {
	TOP_COL_NS = 0,
	TOP_COL_POD,
	TOP_COL_KIND,
	TOP_COL_WORKLOAD,
	TOP_COL_CPU,
	TOP_COL_RUNQ,
	TOP_COL_DISK_R,
	TOP_COL_DISK_W,
	TOP_COL_IOPS,
	TOP_COL_FSYNC,
	TOP_COL_NET_RX,
	TOP_COL_NET_TX,
	TOP_COL_RETRANS,
	TOP_COL_RELEASE,
	TOP_COL_FINDINGS,
	TOP_COL_MAX,
};

/* Column widths for a line of width characters (0: the plain-text defaults, all columns).
 * Text columns share what the numeric ones leave, never below their minimum; when even that
 * does not fit, less important columns are hidden (width 0) until it does. */
void top_layout(int width, int widths[TOP_COL_MAX]);
/* Column widths that fit every row's content whole (text output without a terminal, rows
 * formatted without a marker): each column as wide as its longest value or its title, up to
 * TOP_CELL_MAX. */
#define TOP_CELL_MAX 1000
void top_layout_fit(const struct top_row *rows, size_t n, int widths[TOP_COL_MAX]);
/* The column a sort key orders by, or -1 (name). */
int top_sort_column(enum top_sort key);
/* The table's title line. Returns buf. */
char *top_format_title(const int widths[TOP_COL_MAX], char *buf, size_t size);
/* One table line for a row; marker (may be 0) precedes the pod name: '+'/'-' for a
 * collapsed/expanded pod. Returns buf. */
char *top_format_row(const struct top_row *row, const int widths[TOP_COL_MAX], char marker,
		     char *buf, size_t size);
/* Byte offset of a column in lines formatted with widths. */
int top_column_offset(const int widths[TOP_COL_MAX], enum top_col col);

/* Human forms used in tables and headers. Each returns buf. */
char *top_fmt_bytes(double bps, char *buf, size_t size); /* "512B", "1.5K", "3.2M" */
char *top_fmt_count(double v, char *buf, size_t size); /* "0.0", "12.5", "1.2k" */
char *top_fmt_seconds(double s, char *buf, size_t size); /* "850us", "1.2ms", "2.05s" */
/* "fsync_per_second=12.5 listening_port=5432" into buf. Returns buf. */
char *top_fmt_evidence(const struct top_finding *fi, char *buf, size_t size);
/* One summary line of the health ("OK: 12 collections, 0 errors, ..."); stale_after > 0 and
 * now - snapshot time beyond it reports the data as stale. Returns the status word's severity:
 * 0 ok, 1 degraded or unknown, 2 stale. */
int top_health_line(const struct top_snapshot *s, double now, double stale_after, char *buf,
		    size_t size);

#endif
