// SPDX-License-Identifier: BSD-2-Clause
#include "codec/prom.h"
#include "base/version.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Appends v with backslash and newline escaped, and double quotes too when quote is set. */
static void escape(struct strbuf *out, const char *v, bool quote)
{
	const char *run = v;

	for (; *v; v++) {
		const char *rep = *v == '\\'	     ? "\\\\" :
				  *v == '\n'	     ? "\\n" :
				  quote && *v == '"' ? "\\\"" :
						       NULL;

		if (!rep)
			continue;
		strbuf_append(out, run, (size_t)(v - run));
		strbuf_puts(out, rep);
		run = v + 1;
	}
	strbuf_append(out, run, (size_t)(v - run));
}

void prom_escape_label(struct strbuf *out, const char *v)
{
	escape(out, v, true);
}

void prom_escape_help(struct strbuf *out, const char *v)
{
	escape(out, v, false);
}

static void header(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_printf(out, "# HELP %s ", name);
	prom_escape_help(out, help);
	strbuf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* n in decimal at b; returns its length. */
static size_t fmt_u64(char *b, uint64_t n)
{
	char t[20];
	size_t k = 0;

	do
		t[k++] = (char)('0' + n % 10);
	while (n /= 10);
	for (size_t i = 0; i < k; i++)
		b[i] = t[k - 1 - i];
	return k;
}

/* v as the decimal n / 10^9 when that is the double v exactly and has at most 15 significant
 * digits: then it is what %.15g prints (the double is within 2^-53 of that decimal, far inside
 * half a step of 15 digits) and reads back as v. Counters of nanoseconds and microseconds
 * turned into seconds all are. Returns the length, 0 otherwise. */
static size_t fmt_nanos(char *b, double v)
{
	uint64_t n, ip, fp;
	size_t k = 0, digits;
	char frac[9];
	int nf = 9;

	if (!(v >= 1e-4 && v < 1e6))
		return 0;
	n = (uint64_t)llround(v * 1e9);
	if ((double)n / 1e9 != v)
		return 0;
	ip = n / 1000000000u;
	fp = n % 1000000000u;
	for (int i = 8; i >= 0; i--, fp /= 10)
		frac[i] = (char)('0' + fp % 10);
	while (nf > 0 && frac[nf - 1] == '0')
		nf--;
	/* significant digits: from the first non-zero one */
	if (ip) {
		digits = fmt_u64(b, ip) + (size_t)nf;
		k = digits - (size_t)nf;
	} else {
		int z = 0;

		while (z < nf && frac[z] == '0')
			z++;
		digits = (size_t)(nf - z);
		b[k++] = '0';
	}
	if (digits > 15)
		return 0;
	if (nf) {
		b[k++] = '.';
		memcpy(b + k, frac, (size_t)nf);
		k += (size_t)nf;
	}
	return k;
}

/* Doubles the way Prometheus parses them: shortest round-trip form, and +Inf/-Inf/NaN. Returns
 * the length written to buf (32 bytes). */
static size_t format_value(char *buf, size_t len, double v)
{
	size_t k;

	if (isnan(v))
		return (size_t)snprintf(buf, len, "NaN");
	if (isinf(v))
		return (size_t)snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
	if (v == (double)(long long)v && fabs(v) < 1e15) {
		k = v < 0 ? 1 : 0;
		buf[0] = '-';
		k += fmt_u64(buf + k, (uint64_t)fabs(v));
		buf[k] = '\0';
		return k;
	}
	if ((k = fmt_nanos(buf, v))) {
		buf[k] = '\0';
		return k;
	}
	/* Shortest of %.15g/%.17g that reads back as the same double. */
	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
	return strlen(buf);
}

static void value(struct strbuf *out, double v)
{
	char buf[32];

	strbuf_append(out, buf, format_value(buf, sizeof(buf), v));
}

_Static_assert(LBL_POD_UID == PROM_SERIES_LABELS && LBL_CONTAINER_ID == PROM_SERIES_LABELS + 1 &&
		       LBL_MAX == PROM_SERIES_LABELS + 2,
	       "the identity labels follow the six series labels");

static void label_set(struct strbuf *out, const struct snap_series *se, int n)
{
	for (int l = 0; l < n; l++) {
		strbuf_printf(out, "%s%s=\"", l ? "," : "", series_label_names[l]);
		prom_escape_label(out, se->labels[l]);
		strbuf_puts(out, "\"");
	}
}

/* The text of one sample line's labels after the six series labels. */
struct line_labels {
	const char *block; /* the series' six labels, escaped: namespace="…",…,helm_release="…" */
	size_t block_len;
	const char *le; /* NULL: none */
	size_t le_len;
};

static void sample(struct strbuf *out, const struct metric_desc *d, const char *suffix,
		   const struct line_labels *ll, const struct snap_point *pt, double v)
{
	strbuf_puts(out, d->name);
	strbuf_puts(out, suffix);
	strbuf_append(out, "{", 1);
	strbuf_append(out, ll->block, ll->block_len);
	for (int o = 0; o < METRIC_MAX_OWN_LABELS && d->own_labels[o]; o++) {
		if (d->otlp_only & (1u << o))
			continue;
		strbuf_append(out, ",", 1);
		strbuf_puts(out, d->own_labels[o]);
		strbuf_append(out, "=\"", 2);
		prom_escape_label(out, pt->own[o]);
		strbuf_append(out, "\"", 1);
	}
	if (ll->le) {
		strbuf_append(out, ",le=\"", 5);
		strbuf_append(out, ll->le, ll->le_len);
		strbuf_append(out, "\"", 1);
	}
	strbuf_append(out, "} ", 2);
	value(out, v);
	strbuf_append(out, "\n", 1);
}

/* The le texts of a histogram's bounds, formatted once per set of bounds (the catalogue's, or
 * the kernel's slots), not once per line. */
struct le_cache {
	const double *bounds;
	int n;
	char le[METRIC_HIST_MAX_BUCKETS][32];
	size_t len[METRIC_HIST_MAX_BUCKETS];
};

static void point(struct strbuf *out, const struct metric_desc *d, struct line_labels *ll,
		  const struct snap_point *pt, bool fold, struct le_cache *lc)
{
	static const struct metric_desc unfolded = { .type = MT_HISTOGRAM };
	const struct snap_hist *h = pt->hist;
	uint64_t cum = 0, counts[METRIC_HIST_MAX_BUCKETS];
	const double *bounds;
	int n;

	ll->le = NULL;
	if (d->type != MT_HISTOGRAM) {
		sample(out, d, "", ll, pt, pt->value);
		return;
	}
	if (!h || (n = metric_hist_buckets(fold ? d : &unfolded, h, &bounds, counts)) < 0)
		return;
	if (lc->bounds != bounds || lc->n != n) {
		for (int b = 0; b < n; b++)
			lc->len[b] = format_value(lc->le[b], sizeof(lc->le[b]), bounds[b]);
		lc->bounds = bounds;
		lc->n = n;
	}
	for (int b = 0; b < n; b++) {
		cum += counts[b];
		ll->le = lc->le[b];
		ll->le_len = lc->len[b];
		sample(out, d, "_bucket", ll, pt, (double)cum);
	}
	ll->le = "+Inf";
	ll->le_len = 4;
	sample(out, d, "_bucket", ll, pt, (double)h->count);
	ll->le = NULL;
	sample(out, d, "_sum", ll, pt, h->sum);
	sample(out, d, "_count", ll, pt, (double)h->count);
}

static void agent_metric(struct strbuf *out, const char *name, const char *type, const char *help,
			 const char *labels, double v)
{
	header(out, name, type, help);
	strbuf_puts(out, name);
	if (labels && labels[0])
		strbuf_printf(out, "{%s}", labels);
	strbuf_puts(out, " ");
	value(out, v);
	strbuf_puts(out, "\n");
}

static void agent_sample(void *ctx, const struct agent_sample *s, bool first)
{
	struct strbuf *out = ctx;

	if (first)
		header(out, s->family->name, s->family->counter ? "counter" : "gauge",
		       s->family->help);
	strbuf_puts(out, s->family->name);
	if (s->labels[0])
		strbuf_printf(out, "{%s}", s->labels);
	strbuf_puts(out, " ");
	value(out, s->value);
	strbuf_puts(out, "\n");
}

static void agent_metrics(const struct snapshot *s, struct strbuf *out)
{
	const struct snap_agent *a = &s->agent;
	char labels[256];

	snprintf(labels, sizeof(labels), "version=\"%s\",revision=\"%s\"", BPFDIAG_VERSION,
		 BPFDIAG_REVISION);
	agent_metric(out, "bpfdiag_agent_build_info", "gauge",
		     "Build of the running agent; always 1.", labels, 1);
	agent_metric(out, "bpfdiag_agent_start_time_seconds", "gauge",
		     "Unix time the agent started.", NULL, a->start_time);
	agent_metric(out, "bpfdiag_agent_collections_total", "counter",
		     "Map collections completed.", NULL, (double)a->collections);
	agent_metric(out, "bpfdiag_agent_collection_errors_total", "counter",
		     "Map collections that failed.", NULL, (double)a->collection_errors);
	agent_metric(out, "bpfdiag_agent_collection_duration_seconds", "gauge",
		     "Wall time of the last collection.", NULL, a->last_collection_seconds);
	agent_metric(out, "bpfdiag_agent_cgroups_unresolved", "gauge",
		     "Cgroup ids in BPF maps with no cgroup path found in the last collection.",
		     NULL, (double)a->cgroups_unresolved);
	agent_metric(out, "bpfdiag_agent_containers_unresolved", "gauge",
		     "Running containers of the pod list whose cgroup was not found yet.", NULL,
		     (double)a->containers_unresolved);
	agent_metric(out, "bpfdiag_agent_cgroup_scans_total", "counter",
		     "Walks of the cgroup v2 tree.", NULL, (double)a->cgroup_scans);
	agent_metric(out, "bpfdiag_agent_cgroup_scan_truncated_total", "counter",
		     "Cgroups skipped by tree walks for exceeding depth or size limits.", NULL,
		     (double)a->cgroup_scan_truncated);
	agent_metric(out, "bpfdiag_agent_cgroups_removed_total", "counter",
		     "Cgroups freed after their last read (removed, or found gone by the sweep).",
		     NULL, (double)a->cgroups_removed);
	agent_metric(out, "bpfdiag_agent_cgroups_swept_total", "counter",
		     "Removed cgroups found by the periodic sweep rather than the rmdir probe.",
		     NULL, (double)a->cgroups_swept);
	agent_metric(out, "bpfdiag_agent_cgroupfs_held_descriptors", "gauge",
		     "Cgroup directories and files held open between collections.", NULL,
		     (double)a->cgroupfs_held);
	agent_metric(out, "bpfdiag_agent_cgroupfs_unheld_reads_total", "counter",
		     "Reads of cgroup files that are held open, opened and closed instead because "
		     "held descriptors reached half the descriptor limit.",
		     NULL, (double)a->cgroupfs_unheld_reads);
	agent_metric(out, "bpfdiag_agent_cgroupfs_watched_limits", "gauge",
		     "Cgroup limit files (CPU quota, memory limit) watched with inotify, so that a "
		     "write is read at the next collection.",
		     NULL, (double)a->cgroupfs_watched_limits);
	agent_metric(out, "bpfdiag_agent_cgroupfs_unwatched_limits_total", "counter",
		     "Watches of cgroup limit files refused (the agent's budget, an eighth of "
		     "fs.inotify.max_user_watches) or failed; such limits are read every minute.",
		     NULL, (double)a->cgroupfs_unwatched_limits);
	agent_metric(
		out, "bpfdiag_agent_fs_pseudo_write_bytes_total", "counter",
		"Bytes written to pseudo filesystems (procfs, sysfs, cgroupfs, ...): no volume, "
		"in no bpfdiag_fs_* series.",
		NULL, (double)a->fs_pseudo_write_bytes);
	header(out, "bpfdiag_agent_oom_kills_one_source", "gauge",
	       "OOM kills of live series seen by one source only: counted once, from it.");
	for (int i = 0; i < 2; i++) {
		strbuf_printf(out, "bpfdiag_agent_oom_kills_one_source{seen_by=\"%s\"} ",
			      i ? "memory_events" : "tracepoint");
		value(out, (double)a->oom_kills_one_source[i]);
		strbuf_puts(out, "\n");
	}
	agent_metric(out, "bpfdiag_agent_invalid_utf8_strings", "gauge",
		     "Strings from outside (cgroup, pod, volume names...) in the last collection "
		     "that held invalid UTF-8; each bad byte is exported as U+FFFD.",
		     NULL, (double)a->invalid_utf8_strings);
	snap_agent_samples(a, agent_sample, out); /* the typed ones, each family once */
}

/* One family with one sample per label value (a counter or gauge array). */
static void labelled_family(struct strbuf *out, const char *name, const char *type,
			    const char *help, const char *label, const char *const *values,
			    const uint64_t *counts, unsigned n)
{
	header(out, name, type, help);
	for (unsigned i = 0; i < n; i++) {
		strbuf_printf(out, "%s{%s=\"", name, label);
		prom_escape_label(out, values[i]);
		strbuf_puts(out, "\"} ");
		value(out, (double)counts[i]);
		strbuf_puts(out, "\n");
	}
}

/* bpfdiag_pod_info and the Kubernetes client's self-metrics; nothing in local mode. */
static void kube_metrics(const struct snapshot *s, struct strbuf *out)
{
	const struct kube_stats *k = &s->agent.kube;

	if (!k->enabled)
		return;
	header(out, "bpfdiag_pod_info", "gauge",
	       "A pod of this node from Kubernetes metadata; always 1.");
	for (size_t i = 0; i < s->n_pods; i++) {
		strbuf_puts(out, "bpfdiag_pod_info{");
		for (int l = 0; l < PLBL_MAX; l++) {
			strbuf_printf(out, "%s%s=\"", l ? "," : "", pod_label_names[l]);
			prom_escape_label(out, s->pods[i].labels[l]);
			strbuf_puts(out, "\"");
		}
		strbuf_puts(out, "} 1\n");
	}
	agent_metric(out, "bpfdiag_agent_kube_api_up", "gauge",
		     "1 while the pod list/watch reaches the Kubernetes API server.", NULL, k->up);
	agent_metric(out, "bpfdiag_agent_kube_synced", "gauge",
		     "1 once the first pod list of this node completed.", NULL, k->synced);
	labelled_family(out, "bpfdiag_agent_kube_api_requests_total", "counter",
			"Requests to the Kubernetes API server by outcome.", "result",
			kube_result_names, k->requests, KUBE_RESULT_MAX);
	labelled_family(out, "bpfdiag_agent_kube_api_errors_total", "counter",
			"Kubernetes API failures and rejected objects by reason.", "reason",
			kube_err_names, k->errors, KERR_MAX);
	labelled_family(out, "bpfdiag_agent_kube_watch_events_total", "counter",
			"Pod watch events received by type.", "type", kube_event_names, k->events,
			KUBE_EV_MAX);
	agent_metric(out, "bpfdiag_agent_kube_watch_restarts_total", "counter",
		     "Pod watches that ended and were started again.", NULL,
		     (double)k->watch_restarts);
	agent_metric(out, "bpfdiag_agent_kube_relists_total", "counter",
		     "Pod lists after the first (410 Gone, expired resourceVersion).", NULL,
		     (double)k->relists);
	agent_metric(out, "bpfdiag_agent_kube_outages_total", "counter",
		     "Times the pod list/watch lost the API server.", NULL, (double)k->outages);
	agent_metric(out, "bpfdiag_agent_kube_outage_seconds_total", "counter",
		     "Time the pod list/watch spent without the API server; cached metadata "
		     "was served meanwhile.",
		     NULL, k->outage_seconds);
	agent_metric(out, "bpfdiag_agent_kube_pods", "gauge",
		     "Pods of this node in the metadata cache.", NULL, (double)k->pods);
	labelled_family(out, "bpfdiag_agent_kube_cache_entries", "gauge",
			"Entries in the workload, PVC, PDB and HPA caches.", "cache",
			kube_cache_names, k->cache_entries, KUBE_CACHE_MAX);
}

enum prom_phase { PH_FAMILIES = 0, PH_INFO, PH_TAIL, PH_DONE };

struct prom_stream {
	const struct snapshot *s;
	const struct metric_desc *cat;
	size_t n_cat;
	enum prom_phase phase;
	unsigned m; /* family being rendered (PH_FAMILIES) */
	size_t i; /* next series of family m, or of the info family */
	bool headed; /* the header of family m, or of the info family, is out */
	struct prom_walk w; /* label blocks: namespace="…",…,helm_release="…" escaped */
	unsigned flags;
	struct le_cache le;
};

/* Series order for finding equal six-label sets: the labels, then the preferred series last
 * (live before gone, later start before earlier, later position before earlier). */
static int by_labels(const void *a, const void *b, void *base)
{
	const struct snap_series *x = (const struct snap_series *)base + *(const size_t *)a,
				 *y = (const struct snap_series *)base + *(const size_t *)b;

	for (int l = 0; l < PROM_SERIES_LABELS; l++) {
		int c = strcmp(x->labels[l], y->labels[l]);

		if (c)
			return c;
	}
	if ((x->cgroups > 0) != (y->cgroups > 0))
		return x->cgroups > 0 ? 1 : -1;
	if (x->start_time != y->start_time)
		return x->start_time > y->start_time ? 1 : -1;
	return *(const size_t *)a > *(const size_t *)b ? 1 : -1;
}

static bool same_labels(const struct snap_series *x, const struct snap_series *y)
{
	for (int l = 0; l < PROM_SERIES_LABELS; l++)
		if (strcmp(x->labels[l], y->labels[l]))
			return false;
	return true;
}

int prom_superseded(const struct snapshot *s, bool *hidden)
{
	size_t *order, n = 0;

	if (s->n_series < 2)
		return 0;
	order = malloc(s->n_series * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_series; i++)
		order[i] = i;
	qsort_r(order, s->n_series, sizeof(*order), by_labels, s->series);
	for (size_t k = 0; k + 1 < s->n_series; k++) {
		if (same_labels(&s->series[order[k]], &s->series[order[k + 1]])) {
			hidden[order[k]] = true;
			n++;
		}
	}
	free(order);
	return (int)(n > INT32_MAX ? INT32_MAX : n);
}

void prom_walk_free(struct prom_walk *w)
{
	free(w->cursor);
	free(w->hidden);
	free(w->lbl_off);
	strbuf_reset(&w->lbl);
	memset(w, 0, sizeof(*w));
}

int prom_walk_init(struct prom_walk *w, const struct snapshot *s,
		   void (*block)(struct strbuf *out, const struct snap_series *se))
{
	size_t n = s->n_series ? s->n_series : 1;
	int r;

	memset(w, 0, sizeof(*w));
	w->cursor = calloc(n, sizeof(*w->cursor));
	w->hidden = calloc(n, sizeof(*w->hidden));
	w->lbl_off = calloc(n + 1, sizeof(*w->lbl_off));
	r = w->cursor && w->hidden && w->lbl_off ? prom_superseded(s, w->hidden) : -ENOMEM;
	if (r >= 0) {
		w->superseded = (size_t)r;
		/* each series' labels are written once, not once per point */
		for (size_t i = 0; i < s->n_series; i++) {
			block(&w->lbl, &s->series[i]);
			w->lbl_off[i + 1] = w->lbl.len;
		}
		r = strbuf_failed(&w->lbl) ? -ENOMEM : 0;
	}
	if (r < 0)
		prom_walk_free(w);
	return r < 0 ? r : 0;
}

static void text_block(struct strbuf *out, const struct snap_series *se)
{
	label_set(out, se, PROM_SERIES_LABELS);
}

struct prom_stream *prom_stream_new(const struct snapshot *s, const struct metric_desc *cat,
				    size_t n_cat, unsigned flags)
{
	struct prom_stream *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->s = s;
	ps->cat = cat;
	ps->n_cat = n_cat;
	ps->flags = flags;
	if (prom_walk_init(&ps->w, s, text_block)) {
		free(ps);
		return NULL;
	}
	return ps;
}

struct prom_stream *prom_stream_free(struct prom_stream *ps)
{
	if (!ps)
		return NULL;
	prom_walk_free(&ps->w);
	free(ps);
	return NULL;
}

static void family_header(struct strbuf *out, const struct metric_desc *d)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };

	header(out, d->name, types[d->type], d->help);
}

/* The points of family m of series i; its cursor walks each series' points once. */
static void series_points(struct prom_stream *ps, struct strbuf *out, size_t i)
{
	const struct snap_series *se = &ps->s->series[i];
	struct line_labels ll = { .block = ps->w.lbl.data + ps->w.lbl_off[i],
				  .block_len = ps->w.lbl_off[i + 1] - ps->w.lbl_off[i] };
	size_t *c = &ps->w.cursor[i];

	while (*c < se->n_points && (unsigned)se->points[*c].metric == ps->m) {
		if (!ps->w.hidden[i]) {
			/* HELP and TYPE with the family's first sample: a family no series has
			 * (an absent series' metric on every container) is left out whole. */
			if (!ps->headed)
				family_header(out, &ps->cat[ps->m]);
			ps->headed = true;
			point(out, &ps->cat[ps->m], &ll, &se->points[*c],
			      !(ps->flags & PROM_STREAM_SLOTS), &ps->le);
		}
		(*c)++;
	}
}

bool prom_has_identity(const struct snap_series *se)
{
	return se->labels[LBL_POD_UID][0] || se->labels[LBL_CONTAINER_ID][0];
}

static void info_row(struct strbuf *out, const struct prom_stream *ps, size_t i)
{
	const struct snap_series *se = &ps->s->series[i];

	strbuf_puts(out, PROM_INFO_NAME "{");
	strbuf_append(out, ps->w.lbl.data + ps->w.lbl_off[i],
		      ps->w.lbl_off[i + 1] - ps->w.lbl_off[i]);
	for (int l = PROM_SERIES_LABELS; l < LBL_MAX; l++) {
		strbuf_append(out, ",", 1);
		strbuf_puts(out, series_label_names[l]);
		strbuf_append(out, "=\"", 2);
		prom_escape_label(out, se->labels[l]);
		strbuf_append(out, "\"", 1);
	}
	strbuf_puts(out, "} 1\n");
}

static void findings(const struct snapshot *s, struct strbuf *out)
{
	header(out, "bpfdiag_finding", "gauge",
	       "An active finding of the rules engine (1 while it holds); details in "
	       "/api/v1/findings.");
	for (size_t i = 0; i < s->n_findings; i++) {
		const struct snap_finding *f = &s->findings[i];
		const char *vals[] = { f->ns,	f->workload_kind, f->workload,	    f->helm_release,
				       f->rule, f->severity,	  f->suggested_kind };
		static const char *const names[] = { "namespace",     "workload_kind", "workload",
						     "helm_release",  "rule",	       "severity",
						     "suggested_kind" };

		strbuf_puts(out, "bpfdiag_finding{");
		for (int l = 0; l < 7; l++) {
			strbuf_printf(out, "%s%s=\"", l ? "," : "", names[l]);
			prom_escape_label(out, vals[l]);
			strbuf_puts(out, "\"");
		}
		strbuf_puts(out, "} 1\n");
	}
}

void prom_tail(const struct snapshot *s, size_t superseded, struct strbuf *out)
{
	findings(s, out);
	agent_metrics(s, out);
	agent_metric(out, "bpfdiag_agent_series_superseded", "gauge",
		     "Series left out of this exposition because a newer series has "
		     "the same six labels (a restarted or re-created container).",
		     NULL, (double)superseded);
	kube_metrics(s, out);
}

int prom_stream_next(struct prom_stream *ps, struct strbuf *out, size_t want)
{
	const struct snapshot *s = ps->s;
	size_t stop = out->len + want;

	while (ps->phase != PH_DONE && out->len < stop && !strbuf_failed(out)) {
		switch (ps->phase) {
		case PH_FAMILIES:
			if (ps->m >= ps->n_cat) {
				ps->phase = PH_INFO;
				ps->i = 0;
				ps->headed = false;
				break;
			}
			while (ps->i < s->n_series && out->len < stop)
				series_points(ps, out, ps->i++);
			if (ps->i == s->n_series) {
				ps->m++;
				ps->i = 0;
				ps->headed = false;
			}
			break;
		case PH_INFO:
			for (; ps->i < s->n_series && out->len < stop; ps->i++) {
				if (ps->w.hidden[ps->i] || !prom_has_identity(&s->series[ps->i]))
					continue;
				if (!ps->headed)
					header(out, PROM_INFO_NAME, "gauge", PROM_INFO_HELP);
				ps->headed = true;
				info_row(out, ps, ps->i);
			}
			if (ps->i == s->n_series)
				ps->phase = PH_TAIL;
			break;
		case PH_TAIL:
			prom_tail(s, ps->w.superseded, out);
			ps->phase = PH_DONE;
			break;
		case PH_DONE:
			break;
		}
	}
	if (strbuf_failed(out))
		return -ENOMEM;
	return ps->phase != PH_DONE;
}

int prom_encode(const struct snapshot *s, struct strbuf *out)
{
	return prom_encode_catalogue(s, metric_descs, M_MAX, out);
}

int prom_encode_catalogue(const struct snapshot *s, const struct metric_desc *cat, size_t n_cat,
			  struct strbuf *out)
{
	struct prom_stream *ps = prom_stream_new(s, cat, n_cat, 0);
	int r;

	if (!ps)
		return -ENOMEM;
	do
		r = prom_stream_next(ps, out, SIZE_MAX / 2);
	while (r > 0);
	prom_stream_free(ps);
	return r;
}
