// SPDX-License-Identifier: BSD-2-Clause
#include "codec/prom_proto.h"
#include "codec/accept.h"
#include "codec/prom.h"
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

	if (!fam->f.name || !fam->f.n_metric) { /* HELP and TYPE alone: nothing to send */
		family_clear(fam);
		return 0;
	}
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

/* ---- straight from the snapshot ---- */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "doubles are written as they are held");

/* Wire types and the fields written (metrics.proto). */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* A writer: appends to out, or only counts (out NULL) to size a message before it is written. */
struct pw {
	struct strbuf *out;
	size_t n;
};

static void pw_raw(struct pw *w, const void *p, size_t len)
{
	struct strbuf *sb = w->out;

	w->n += len;
	if (!sb)
		return;
	/* Most writes are a few bytes into room there is: no call. */
	if (sb->len + len >= sb->cap) {
		strbuf_append(sb, p, len);
		return;
	}
	memcpy(sb->data + sb->len, p, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

static void pw_varint(struct pw *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	pw_raw(w, b, n);
}

static void pw_tag(struct pw *w, unsigned field, unsigned wt)
{
	pw_varint(w, (uint64_t)field << 3 | wt);
}

static void pw_double(struct pw *w, unsigned field, double v)
{
	uint8_t b[8];

	pw_tag(w, field, WT_I64);
	memcpy(b, &v, 8); /* little-endian hosts (x86_64, aarch64) */
	pw_raw(w, b, 8);
}

static void pw_bytes(struct pw *w, unsigned field, const char *p, size_t len)
{
	pw_tag(w, field, WT_LEN);
	pw_varint(w, len);
	pw_raw(w, p, len);
}

static void pw_string(struct pw *w, unsigned field, const char *v)
{
	pw_bytes(w, field, v, strlen(v));
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Metric.label (1): a LabelPair. */
static void pw_label(struct pw *w, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	struct pw c = { 0 };

	pw_bytes(&c, 1, name, nl);
	pw_bytes(&c, 2, value, vl);
	pw_tag(w, 1, WT_LEN);
	pw_varint(w, c.n);
	pw_bytes(w, 1, name, nl);
	pw_bytes(w, 2, value, vl);
}

enum proto_phase { PP_FAMILIES = 0, PP_INFO, PP_TAIL, PP_DONE };

struct prom_proto_stream {
	const struct snapshot *s;
	const struct metric_desc *cat;
	size_t n_cat;
	prom_text_fn *more;
	void *ctx;
	enum proto_phase phase;
	unsigned m; /* family being written */
	bool headed; /* the current family is encoded in fam */
	struct prom_walk w; /* label blocks: the six labels as Metric.label fields */
	/* The current family, length-delimited, encoded once (its length precedes it, so it is
	 * made whole before its first byte goes out): fam.data[fam_off, fam.len) is still to
	 * go. met and hist: a Metric's and a Histogram's body, whose length precedes it. The
	 * buffers are kept from family to family. */
	struct strbuf fam, met, hist;
	size_t fam_off;
};

/* Histogram (Metric field 7) of a point: the classic buckets as the text has them and, when
 * the buckets are the kernel's slots, the native schema-0 buckets (as nativize does). */
static void pw_histogram(struct pw *w, const struct metric_desc *d, const struct snap_hist *h)
{
	static const struct metric_desc unfolded = { .type = MT_HISTOGRAM };
	uint64_t counts[METRIC_HIST_MAX_BUCKETS], cum = 0;
	bool native = h->n_bounds == HIST_SLOTS - 1;
	const double *bounds;
	int first = -1, last = -1, n;

	for (unsigned i = 0; native && i < h->n_bounds; i++)
		native = fabs(h->bounds[i] - hist_bounds[i]) <= 1e-9 * hist_bounds[i];
	n = metric_hist_buckets(native ? d : &unfolded, h, &bounds, counts);
	if (n < 0)
		return;
	pw_tag(w, 1, WT_VARINT);
	pw_varint(w, h->count);
	pw_double(w, 2, h->sum);
	for (int b = 0; b < n; b++) {
		struct pw c = { 0 };

		cum += counts[b];
		pw_tag(&c, 1, WT_VARINT);
		pw_varint(&c, cum);
		pw_double(&c, 2, bounds[b]);
		pw_tag(w, 3, WT_LEN);
		pw_varint(w, c.n);
		pw_tag(w, 1, WT_VARINT);
		pw_varint(w, cum);
		pw_double(w, 2, bounds[b]);
	}
	if (!native)
		return;
	for (int k = 0; k < HIST_SLOTS; k++) {
		if (h->counts[k] && first < 0)
			first = k;
		if (h->counts[k])
			last = k;
	}
	pw_tag(w, 5, WT_VARINT);
	pw_varint(w, 0); /* schema 0 */
	pw_double(w, 6, 0); /* zero_threshold */
	pw_tag(w, 7, WT_VARINT);
	pw_varint(w, 0); /* zero_count */
	{
		/* no observation: a no-op span, which still marks the histogram native */
		int64_t off = first < 0 ? 0 : first + PROM_NATIVE_SLOT_OFFSET;
		uint64_t len = first < 0 ? 0 : (uint64_t)(last - first + 1);
		struct pw c = { 0 };

		pw_tag(&c, 1, WT_VARINT);
		pw_varint(&c, zigzag(off));
		pw_tag(&c, 2, WT_VARINT);
		pw_varint(&c, len);
		pw_tag(w, 12, WT_LEN);
		pw_varint(w, c.n);
		pw_tag(w, 1, WT_VARINT);
		pw_varint(w, zigzag(off));
		pw_tag(w, 2, WT_VARINT);
		pw_varint(w, len);
	}
	for (int k = first; first >= 0 && k <= last; k++) {
		pw_tag(w, 13, WT_VARINT);
		pw_varint(w, zigzag((int64_t)h->counts[k] -
				    (k > first ? (int64_t)h->counts[k - 1] : 0)));
	}
}

/* Writes sub (a message's body, written into the scratch buffer sub) as field `field` of w,
 * its length first. A scratch buffer out of memory fails w's. */
static void pw_sub(struct pw *w, unsigned field, struct strbuf *sub)
{
	if (strbuf_failed(sub) && w->out)
		w->out->failed = true;
	pw_tag(w, field, WT_LEN);
	pw_varint(w, sub->len);
	pw_raw(w, sub->data, sub->len);
}

/* The body of the Metric of point pt of series i. */
static void pw_metric_body(struct pw *w, struct prom_proto_stream *ps, size_t i,
			   const struct metric_desc *d, const struct snap_point *pt)
{
	pw_raw(w, ps->w.lbl.data + ps->w.lbl_off[i], ps->w.lbl_off[i + 1] - ps->w.lbl_off[i]);
	for (int o = 0; o < METRIC_MAX_OWN_LABELS && d->own_labels[o]; o++)
		if (!(d->otlp_only & (1u << o)))
			pw_label(w, d->own_labels[o], pt->own[o]);
	if (d->type == MT_HISTOGRAM) {
		struct pw h = { .out = &ps->hist };

		ps->hist.len = 0;
		pw_histogram(&h, d, pt->hist);
		pw_sub(w, 7, &ps->hist);
		return;
	}
	pw_tag(w, d->type == MT_COUNTER ? 3 : 2, WT_LEN); /* counter, gauge */
	pw_varint(w, 9);
	pw_double(w, 1, pt->value);
}

/* A point that makes a Metric: a histogram without buckets makes none (as in the text). */
static bool exported(const struct metric_desc *d, const struct snap_point *pt)
{
	return d->type != MT_HISTOGRAM ||
	       (pt->hist && pt->hist->n_bounds + 1 <= METRIC_HIST_MAX_BUCKETS);
}

/* MetricFamily.metric (4) of point pt of series i. */
static void pw_metric(struct pw *w, struct prom_proto_stream *ps, size_t i,
		      const struct metric_desc *d, const struct snap_point *pt)
{
	struct pw m = { .out = &ps->met };

	ps->met.len = 0;
	pw_metric_body(&m, ps, i, d, pt);
	pw_sub(w, 4, &ps->met);
}

static void pw_family_head(struct pw *w, const char *name, const char *help, unsigned type)
{
	pw_string(w, 1, name);
	pw_string(w, 2, help);
	pw_tag(w, 3, WT_VARINT);
	pw_varint(w, type);
}

static unsigned proto_type(enum metric_type t)
{
	return t == MT_COUNTER ? IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER :
	       t == MT_GAUGE   ? IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE :
				 IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM;
}

/* Starts ps->fam with room for the family's length (a varint, at most 10 bytes). */
static void fam_begin(struct prom_proto_stream *ps, struct pw *w)
{
	static const char room[10];

	ps->fam.len = 0;
	w->out = &ps->fam;
	w->n = 0;
	pw_raw(w, room, sizeof(room));
}

/* Writes the family's length just before it: what goes out starts there. A family of no
 * metrics (n_metrics 0) goes out as nothing: decoders such as Go's expfmt refuse an empty
 * MetricFamily. */
static void fam_end(struct prom_proto_stream *ps, size_t n_metrics)
{
	uint8_t b[10];
	size_t len, n = 0;

	if (strbuf_failed(&ps->fam))
		return;
	if (!n_metrics) {
		ps->fam.len = ps->fam_off = 0;
		return;
	}
	len = ps->fam.len - sizeof(b);
	for (uint64_t v = len; n == 0 || v; v >>= 7)
		b[n++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
	ps->fam_off = sizeof(b) - n;
	memcpy(ps->fam.data + ps->fam_off, b, n);
}

/* Encodes family m, every series' points of it (their cursors move past them), into ps->fam. */
static void family_encode(struct prom_proto_stream *ps)
{
	const struct snapshot *s = ps->s;
	const struct metric_desc *d = &ps->cat[ps->m];
	struct pw w;

	size_t n = 0;

	fam_begin(ps, &w);
	pw_family_head(&w, d->name, d->help, proto_type(d->type));
	for (size_t i = 0; i < s->n_series; i++) {
		const struct snap_series *se = &s->series[i];
		size_t *c = &ps->w.cursor[i];

		for (; *c < se->n_points && (unsigned)se->points[*c].metric == ps->m; (*c)++)
			if (!ps->w.hidden[i] && exported(d, &se->points[*c])) {
				pw_metric(&w, ps, i, d, &se->points[*c]);
				n++;
			}
	}
	fam_end(ps, n);
}

static void info_labels(struct pw *w, const struct prom_proto_stream *ps, size_t i)
{
	const struct snap_series *se = &ps->s->series[i];

	pw_raw(w, ps->w.lbl.data + ps->w.lbl_off[i], ps->w.lbl_off[i + 1] - ps->w.lbl_off[i]);
	for (int l = PROM_SERIES_LABELS; l < LBL_MAX; l++)
		pw_label(w, series_label_names[l], se->labels[l]);
	pw_tag(w, 2, WT_LEN); /* gauge 1 */
	pw_varint(w, 9);
	pw_double(w, 1, 1);
}

/* The info family (bpfdiag_container_info) into ps->fam. */
static void info_encode(struct prom_proto_stream *ps)
{
	struct pw w;

	size_t n = 0;

	fam_begin(ps, &w);
	pw_family_head(&w, PROM_INFO_NAME, PROM_INFO_HELP,
		       IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
	for (size_t i = 0; i < ps->s->n_series; i++) {
		struct pw m = { .out = &ps->met };

		if (ps->w.hidden[i] || !prom_has_identity(&ps->s->series[i]))
			continue;
		ps->met.len = 0;
		info_labels(&m, ps, i);
		pw_sub(&w, 4, &ps->met);
		n++;
	}
	fam_end(ps, n);
}

static void proto_block(struct strbuf *out, const struct snap_series *se)
{
	struct pw w = { .out = out };

	for (int l = 0; l < PROM_SERIES_LABELS; l++)
		pw_label(&w, series_label_names[l], se->labels[l]);
}

struct prom_proto_stream *prom_proto_stream_new(const struct snapshot *s,
						const struct metric_desc *cat, size_t n_cat,
						prom_text_fn *more, void *ctx)
{
	struct prom_proto_stream *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->s = s;
	ps->cat = cat;
	ps->n_cat = n_cat;
	ps->more = more;
	ps->ctx = ctx;
	if (prom_walk_init(&ps->w, s, proto_block)) {
		free(ps);
		return NULL;
	}
	return ps;
}

struct prom_proto_stream *prom_proto_stream_free(struct prom_proto_stream *ps)
{
	if (!ps)
		return NULL;
	prom_walk_free(&ps->w);
	strbuf_reset(&ps->fam);
	strbuf_reset(&ps->met);
	strbuf_reset(&ps->hist);
	free(ps);
	return NULL;
}

/* The agent's own metrics (a few hundred samples): the text's, converted, so that they have
 * one encoder. */
static int proto_tail(struct prom_proto_stream *ps, struct strbuf *out)
{
	struct strbuf text = STRBUF_INIT;
	int r;

	prom_tail(ps->s, ps->w.superseded, &text);
	if (ps->more)
		ps->more(ps->ctx, &text);
	r = strbuf_failed(&text) ? -ENOMEM : prom_proto_from_text(text.data, text.len, out);
	strbuf_reset(&text);
	return r;
}

/* Moves what is left of the encoded family to out, up to stop bytes in all. True when all of
 * it went. */
static bool fam_out(struct prom_proto_stream *ps, struct strbuf *out, size_t stop)
{
	size_t left = ps->fam.len - ps->fam_off, room = stop > out->len ? stop - out->len : 0;
	size_t n = left < room ? left : room;

	strbuf_append(out, ps->fam.data + ps->fam_off, n);
	ps->fam_off += n;
	return ps->fam_off == ps->fam.len;
}

int prom_proto_stream_next(struct prom_proto_stream *ps, struct strbuf *out, size_t want)
{
	size_t stop = out->len + want;
	int r = 0;

	while (ps->phase != PP_DONE && out->len < stop && !strbuf_failed(out) && !r) {
		switch (ps->phase) {
		case PP_FAMILIES:
			if (ps->m >= ps->n_cat) {
				ps->phase = PP_INFO;
				ps->headed = false;
				break;
			}
			if (!ps->headed)
				family_encode(ps);
			ps->headed = true;
			if (strbuf_failed(&ps->fam))
				r = -ENOMEM;
			else if (fam_out(ps, out, stop)) {
				ps->m++;
				ps->headed = false;
			}
			break;
		case PP_INFO:
			if (!ps->headed)
				info_encode(ps);
			ps->headed = true;
			if (strbuf_failed(&ps->fam))
				r = -ENOMEM;
			else if (fam_out(ps, out, stop))
				ps->phase = PP_TAIL;
			break;
		case PP_TAIL:
			r = proto_tail(ps, out);
			ps->phase = PP_DONE;
			break;
		case PP_DONE:
			break;
		}
	}
	if (r)
		return r;
	if (strbuf_failed(out))
		return -ENOMEM;
	return ps->phase != PP_DONE;
}
