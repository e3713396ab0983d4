// SPDX-License-Identifier: BSD-2-Clause
#include "codec/prom_proto.h"
#include "codec/accept.h"
#include "io/prometheus/client/metrics.pb-c.h"
#include "model/histogram.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef Io__Prometheus__Client__MetricFamily Family;
typedef Io__Prometheus__Client__Metric Metric;
typedef Io__Prometheus__Client__LabelPair LabelPair;
typedef Io__Prometheus__Client__Histogram Histogram;
typedef Io__Prometheus__Client__Bucket Bucket;
typedef Io__Prometheus__Client__BucketSpan BucketSpan;

/* ---- Accept ---- */

struct proto_q {
	double proto, other;
};

static void proto_item(const struct accept_item *it, void *ctx)
{
	struct proto_q *q = ctx;

	if (accept_is(it, "application/vnd.google.protobuf")) {
		if (accept_has_param(it, "proto=io.prometheus.client.MetricFamily") &&
		    accept_has_param(it, "encoding=delimited"))
			q->proto = it->q;
	} else if (it->q > q->other) {
		q->other = it->q;
	}
}

bool prom_proto_accepted(const char *accept)
{
	struct proto_q q = { 0, 0 };

	accept_each(accept, proto_item, &q);
	return q.proto > 0 && q.proto >= q.other;
}

/* ---- the text, read back ---- */

/* A string of the text with \\, \" and \n escapes undone; NULL when out of memory. */
static char *unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len) {
			i++;
			*o++ = s[i] == 'n' ? '\n' : s[i];
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

struct sample {
	char name[128];
	LabelPair **labels; /* without le */
	size_t n_labels;
	char *le; /* NULL when absent */
	double value;
	bool same; /* the labels of the family's current metric (not parsed again) */
};

static void labels_free(LabelPair **l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i]->name);
		free(l[i]->value);
		free(l[i]);
	}
	free(l);
}

static void sample_clear(struct sample *sm)
{
	labels_free(sm->labels, sm->n_labels);
	free(sm->le);
	memset(sm, 0, sizeof(*sm));
}

/* Parses name{l="v",...} value. Returns 0, -EINVAL or -ENOMEM. */
static int parse_sample(const char *line, size_t len, struct sample *sm)
{
	const char *p = line, *end = line + len;
	size_t n = strcspn(line, "{ ");

	if (n == 0 || n >= sizeof(sm->name) || n > len)
		return -EINVAL;
	memcpy(sm->name, line, n);
	sm->name[n] = '\0';
	p += n;
	if (p < end && *p == '{') {
		p++;
		while (p < end && *p != '}') {
			const char *eq = memchr(p, '=', (size_t)(end - p)), *v, *q;
			LabelPair *lp, **grown;

			if (!eq || eq + 1 >= end || eq[1] != '"')
				return -EINVAL;
			v = eq + 2;
			for (q = v; q < end && *q != '"'; q++)
				if (*q == '\\')
					q++;
			if (q >= end)
				return -EINVAL;
			if (eq - p == 2 && !memcmp(p, "le", 2)) {
				if (!(sm->le = unescape(v, (size_t)(q - v))))
					return -ENOMEM;
			} else {
				grown = realloc(sm->labels, (sm->n_labels + 1) * sizeof(*grown));
				if (!grown)
					return -ENOMEM;
				sm->labels = grown;
				lp = malloc(sizeof(*lp));
				if (!lp)
					return -ENOMEM;
				io__prometheus__client__label_pair__init(lp);
				sm->labels[sm->n_labels++] = lp;
				lp->name = unescape(p, (size_t)(eq - p));
				lp->value = unescape(v, (size_t)(q - v));
				if (!lp->name || !lp->value)
					return -ENOMEM;
			}
			p = q + 1;
			if (p < end && *p == ',')
				p++;
		}
		if (p >= end)
			return -EINVAL;
		p++;
	}
	if (p >= end || *p != ' ')
		return -EINVAL;
	p++;
	if (!strncmp(p, "+Inf", 4))
		sm->value = INFINITY;
	else if (!strncmp(p, "-Inf", 4))
		sm->value = -INFINITY;
	else
		sm->value = strtod(p, NULL);
	return 0;
}

static bool same_labels(LabelPair **a, size_t na, LabelPair **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i]->name, b[i]->name) || strcmp(a[i]->value, b[i]->value))
			return false;
	return true;
}

/* ---- families ---- */

struct family {
	Family f;
	const struct metric_desc *desc; /* the catalogue row of a histogram, or NULL */
	size_t cap;
	/* a histogram's current metric: its labels as the text has them, le left out */
	const char *raw;
	size_t raw_len;
};

static void metric_free(Metric *m)
{
	if (!m)
		return;
	labels_free(m->label, m->n_label);
	free(m->gauge);
	free(m->counter);
	free(m->untyped);
	if (m->histogram) {
		for (size_t i = 0; i < m->histogram->n_bucket; i++)
			free(m->histogram->bucket[i]);
		free(m->histogram->bucket);
		for (size_t i = 0; i < m->histogram->n_positive_span; i++)
			free(m->histogram->positive_span[i]);
		free(m->histogram->positive_span);
		free(m->histogram->positive_delta);
		free(m->histogram);
	}
	free(m);
}

static void family_clear(struct family *fam)
{
	for (size_t i = 0; i < fam->f.n_metric; i++)
		metric_free(fam->f.metric[i]);
	free(fam->f.metric);
	free(fam->f.name);
	free(fam->f.help);
	memset(fam, 0, sizeof(*fam));
}

/* A new metric of fam taking over sm's labels; NULL when out of memory. */
static Metric *metric_add(struct family *fam, struct sample *sm)
{
	Metric *m;

	if (fam->f.n_metric == fam->cap) {
		size_t cap = fam->cap ? 2 * fam->cap : 16;
		Metric **grown = realloc(fam->f.metric, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		fam->f.metric = grown;
		fam->cap = cap;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	io__prometheus__client__metric__init(m);
	m->label = sm->labels;
	m->n_label = sm->n_labels;
	sm->labels = NULL;
	sm->n_labels = 0;
	fam->f.metric[fam->f.n_metric++] = m;
	return m;
}

static int scalar(struct family *fam, struct sample *sm)
{
	Metric *m = metric_add(fam, sm);
	Io__Prometheus__Client__Value *v = m ? malloc(sizeof(*v)) : NULL;

	if (!v)
		return -ENOMEM;
	io__prometheus__client__value__init(v);
	v->has_value = true;
	v->value = sm->value;
	if (fam->f.type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER)
		m->counter = v;
	else if (fam->f.type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE)
		m->gauge = v;
	else
		m->untyped = v;
	return 0;
}

static const char *suffix_of(const char *name, const char *family)
{
	size_t fl = strlen(family);

	return strncmp(name, family, fl) ? NULL : name + fl;
}

/* A sample of a histogram family: _bucket, _sum or _count of the current metric (a new one
 * when the labels change). */
static int hist_sample(struct family *fam, struct sample *sm)
{
	const char *sfx = suffix_of(sm->name, fam->f.name);
	Metric *m = fam->f.n_metric ? fam->f.metric[fam->f.n_metric - 1] : NULL;
	Histogram *h;

	if (!sfx)
		return -EINVAL;
	if (!m || (!sm->same && !same_labels(m->label, m->n_label, sm->labels, sm->n_labels))) {
		if (!(m = metric_add(fam, sm)) || !(m->histogram = malloc(sizeof(*h))))
			return -ENOMEM;
		io__prometheus__client__histogram__init(m->histogram);
	}
	h = m->histogram;
	if (!strcmp(sfx, "_bucket") && sm->le && strcmp(sm->le, "+Inf")) {
		Bucket *b = malloc(sizeof(*b)), **grown;

		if (!b)
			return -ENOMEM;
		grown = realloc(h->bucket, (h->n_bucket + 1) * sizeof(*grown));
		if (!grown) {
			free(b);
			return -ENOMEM;
		}
		h->bucket = grown;
		io__prometheus__client__bucket__init(b);
		b->has_cumulative_count = b->has_upper_bound = true;
		b->cumulative_count = (uint64_t)sm->value;
		b->upper_bound = strtod(sm->le, NULL);
		h->bucket[h->n_bucket++] = b;
	} else if (!strcmp(sfx, "_sum")) {
		h->has_sample_sum = true;
		h->sample_sum = sm->value;
	} else if (!strcmp(sfx, "_count")) {
		h->has_sample_count = true;
		h->sample_count = (uint64_t)sm->value;
	}
	return 0;
}

/* The classic buckets of h are the kernel's slots: true, with the count of each slot. */
static bool slot_counts(const Histogram *h, uint64_t counts[HIST_SLOTS])
{
	uint64_t prev = 0;

	if (h->n_bucket != HIST_SLOTS - 1)
		return false;
	for (size_t i = 0; i < h->n_bucket; i++) {
		if (fabs(h->bucket[i]->upper_bound - hist_bounds[i]) > 1e-9 * hist_bounds[i] ||
		    h->bucket[i]->cumulative_count < prev)
			return false;
		counts[i] = h->bucket[i]->cumulative_count - prev;
		prev = h->bucket[i]->cumulative_count;
	}
	if (h->sample_count < prev)
		return false;
	counts[HIST_SLOTS - 1] = h->sample_count - prev;
	return true;
}

/* Adds the native schema-0 buckets of the slots to h, and folds its classic buckets into the
 * catalogue row's. */
static int nativize(Histogram *h, const struct metric_desc *d)
{
	uint64_t counts[HIST_SLOTS], folded[METRIC_HIST_MAX_BUCKETS], cum = 0;
	struct snap_hist sh = { .bounds = hist_bounds, .n_bounds = HIST_SLOTS - 1 };
	const double *bounds;
	int first = -1, last = -1, n;
	BucketSpan *span;

	if (!slot_counts(h, counts))
		return 0;
	for (int k = 0; k < HIST_SLOTS; k++) {
		if (counts[k] && first < 0)
			first = k;
		if (counts[k])
			last = k;
	}
	span = malloc(sizeof(*span));
	h->positive_span = malloc(sizeof(*h->positive_span));
	h->positive_delta = first < 0 ? NULL : malloc((size_t)(last - first + 1) * sizeof(int64_t));
	if (!span || !h->positive_span || (first >= 0 && !h->positive_delta)) {
		free(span);
		return -ENOMEM;
	}
	io__prometheus__client__bucket_span__init(span);
	h->positive_span[0] = span;
	h->n_positive_span = 1;
	span->has_offset = span->has_length = true;
	/* no observation: a no-op span, which still marks the histogram native */
	span->offset = first < 0 ? 0 : first + PROM_NATIVE_SLOT_OFFSET;
	span->length = first < 0 ? 0 : (uint32_t)(last - first + 1);
	for (int k = first; first >= 0 && k <= last; k++)
		h->positive_delta[h->n_positive_delta++] =
			(int64_t)counts[k] - (k > first ? (int64_t)counts[k - 1] : 0);
	h->has_schema = h->has_zero_threshold = h->has_zero_count = true;
	h->schema = 0;
	h->zero_threshold = 0;
	h->zero_count = 0;
	/* the classic buckets as /metrics' text has them */
	sh.counts = counts;
	sh.count = h->sample_count;
	n = d ? metric_hist_buckets(d, &sh, &bounds, folded) : -1;
	if (n < 0 || (size_t)n > h->n_bucket)
		return 0;
	for (int b = 0; b < n; b++) {
		cum += folded[b];
		h->bucket[b]->cumulative_count = cum;
		h->bucket[b]->upper_bound = bounds[b];
	}
	for (size_t b = (size_t)n; b < h->n_bucket; b++)
		free(h->bucket[b]);
	h->n_bucket = (size_t)n;
	return 0;
}

static const struct metric_desc *catalogue_row(const char *name)
{
	for (int m = 0; m < M_MAX; m++)
		if (!strcmp(metric_descs[m].name, name))
			return &metric_descs[m];
	return NULL;
}

/* Packs fam, length-delimited, into out, and clears it. */
static int family_flush(struct family *fam, struct strbuf *out)
{
	uint8_t hdr[10], *buf;
	size_t len, n = 0;
	int r = 0;

	if (!fam->f.name)
		return 0;
	for (size_t i = 0; i < fam->f.n_metric && !r; i++)
		if (fam->f.metric[i]->histogram)
			r = nativize(fam->f.metric[i]->histogram, fam->desc);
	if (r) {
		family_clear(fam);
		return r;
	}
	len = io__prometheus__client__metric_family__get_packed_size(&fam->f);
	for (size_t v = len; n == 0 || v; v >>= 7)
		hdr[n++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
	buf = malloc(len ? len : 1);
	if (buf) {
		io__prometheus__client__metric_family__pack(&fam->f, buf);
		strbuf_append(out, (const char *)hdr, n);
		strbuf_append(out, (const char *)buf, len);
		free(buf);
	}
	family_clear(fam);
	return !buf || strbuf_failed(out) ? -ENOMEM : 0;
}

static int header_line(struct family *fam, const char *line, size_t len, struct strbuf *out)
{
	const char *name = line + 7, *end = line + len;
	const char *sp = memchr(name, ' ', (size_t)(end - name));
	size_t nl = sp ? (size_t)(sp - name) : (size_t)(end - name);
	int r;

	if (!strncmp(line, "# HELP ", 7)) {
		if ((r = family_flush(fam, out)))
			return r;
		io__prometheus__client__metric_family__init(&fam->f);
		fam->f.name = unescape(name, nl);
		fam->f.help = sp ? unescape(sp + 1, (size_t)(end - sp - 1)) : unescape("", 0);
		fam->f.has_type = true;
		fam->f.type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
		return fam->f.name && fam->f.help ? 0 : -ENOMEM;
	}
	if (!strncmp(line, "# TYPE ", 7) && sp && fam->f.name) {
		const char *t = sp + 1;
		size_t tl = (size_t)(end - t);

		fam->f.type = tl == 7 && !strncmp(t, "counter", 7) ?
				      IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER :
			      tl == 5 && !strncmp(t, "gauge", 5) ?
				      IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE :
			      tl == 9 && !strncmp(t, "histogram", 9) ?
				      IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM :
				      IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
		fam->desc = fam->f.type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM ?
				    catalogue_row(fam->f.name) :
				    NULL;
	}
	return 0;
}

/* The label text of a histogram sample line without its le, which the exposition puts last. */
static void raw_labels(const char *line, size_t len, const char **ret, size_t *ret_len)
{
	const char *open = memchr(line, '{', len), *sp = line + len, *le;

	*ret = NULL;
	*ret_len = 0;
	while (sp > line && sp[-1] != ' ')
		sp--;
	if (!open || sp <= open + 1 || sp[-2] != '}')
		return;
	*ret = open + 1;
	*ret_len = (size_t)(sp - 2 - *ret);
	/* ,le=" cannot be inside a value: a value's quotes are escaped */
	le = memmem(*ret, *ret_len, ",le=\"", 5);
	if (le)
		*ret_len = (size_t)(le - *ret);
	else if (*ret_len >= 4 && !memcmp(*ret, "le=\"", 4))
		*ret_len = 0;
}

/* A histogram sample line with the labels of the current metric: its name, le and value read
 * without parsing the labels again. False when the labels differ. */
static bool same_metric(const struct family *fam, const char *line, size_t len, struct sample *sm)
{
	size_t n = strcspn(line, "{ ");
	const char *p = line + n + 1, *end = line + len, *q;

	if (!fam->raw || n >= len || line[n] != '{' || n >= sizeof(sm->name) ||
	    (size_t)(end - p) < fam->raw_len + 3 || memcmp(p, fam->raw, fam->raw_len))
		return false;
	p += fam->raw_len;
	if (!strncmp(p, fam->raw_len ? ",le=\"" : "le=\"", fam->raw_len ? 5 : 4)) {
		p += fam->raw_len ? 5 : 4;
		q = memchr(p, '"', (size_t)(end - p));
		if (!q || !(sm->le = strndup(p, (size_t)(q - p))))
			return false;
		p = q + 1;
	}
	if (end - p < 3 || p[0] != '}' || p[1] != ' ') {
		free(sm->le);
		sm->le = NULL;
		return false;
	}
	memcpy(sm->name, line, n);
	sm->name[n] = '\0';
	sm->value = strtod(p + 2, NULL);
	sm->same = true;
	return true;
}

int prom_proto_from_text(const char *text, size_t len, struct strbuf *out)
{
	struct family fam = { 0 };
	const char *p = text, *end = text + len;
	int r = 0;

	while (p < end && !r) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct sample sm = { 0 };

		if (ll && p[0] == '#') {
			r = header_line(&fam, p, ll, out);
		} else if (ll && fam.f.type == IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM) {
			if (!same_metric(&fam, p, ll, &sm)) {
				r = fam.f.name ? parse_sample(p, ll, &sm) : -EINVAL;
				raw_labels(p, ll, &fam.raw, &fam.raw_len);
			}
			if (!r)
				r = hist_sample(&fam, &sm);
			sample_clear(&sm);
		} else if (ll) {
			r = fam.f.name ? parse_sample(p, ll, &sm) : -EINVAL;
			if (!r)
				r = scalar(&fam, &sm);
			sample_clear(&sm);
		}
		p += ll + 1;
	}
	if (!r)
		r = family_flush(&fam, out);
	family_clear(&fam);
	return r;
}
