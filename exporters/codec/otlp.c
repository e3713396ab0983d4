// SPDX-License-Identifier: BSD-2-Clause
#include "codec/otlp.h"
#include "base/version.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

/* The generated names are long; these mirror the proto message names. */
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope InstrumentationScope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Gauge Gauge;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest ExportRequest;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse ExportResponse;

#define CUMULATIVE \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

/* Resource attributes of a series, from its labels (SPEC §6; semantic conventions). */
static const char *const label_attrs[LBL_MAX] = {
	[LBL_NAMESPACE] = "k8s.namespace.name",
	[LBL_POD] = "k8s.pod.name",
	[LBL_CONTAINER] = "k8s.container.name",
	[LBL_WORKLOAD_KIND] = "bpfdiag.workload.kind",
	[LBL_WORKLOAD] = "bpfdiag.workload.name",
	[LBL_HELM_RELEASE] = "bpfdiag.helm.release.name",
	[LBL_POD_UID] = "k8s.pod.uid",
	[LBL_CONTAINER_ID] = "container.id",
};

/* Room for the label attributes plus node, workload, chart. */
#define SERIES_ATTRS (LBL_MAX + 3)

const char *otlp_workload_attr(const char *kind)
{
	static const struct {
		const char *kind, *attr;
	} map[] = {
		{ "Deployment", "k8s.deployment.name" }, { "StatefulSet", "k8s.statefulset.name" },
		{ "DaemonSet", "k8s.daemonset.name" },	 { "Job", "k8s.job.name" },
		{ "CronJob", "k8s.cronjob.name" },	 { "ReplicaSet", "k8s.replicaset.name" },
	};

	for (size_t i = 0; kind && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(kind, map[i].kind) == 0)
			return map[i].attr;
	}
	return NULL;
}

/* Nanoseconds since the epoch; the encoder never sends negative or NaN times. */
static uint64_t unix_nano(double t)
{
	return isfinite(t) && t > 0 ? (uint64_t)(t * 1e9) : 0;
}

/* Units counted in whole things (bytes, operations, sockets) go out as integers. */
static bool unit_is_integral(const char *unit)
{
	return unit && (strcmp(unit, "By") == 0 || strcmp(unit, "1") == 0 || unit[0] == '{');
}

/* KeyValue with its string AnyValue: one allocation, the KeyValue first so that freeing it
 * frees both. Strings are borrowed. */
struct kv_pair {
	KeyValue kv;
	AnyValue value;
};

static KeyValue *kv_new(const char *key, const char *value)
{
	struct kv_pair *p = malloc(sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(&p->kv);
	opentelemetry__proto__common__v1__any_value__init(&p->value);
	p->kv.key = (char *)key;
	p->value.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	p->value.string_value = (char *)value;
	p->kv.value = &p->value;
	return &p->kv;
}

static void kvs_destroy(KeyValue **kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++)
		free(kvs[i]); /* the struct kv_pair */
	free(kvs);
}

/* Data-point attributes: the point's non-empty own label values under their OTLP names. */
static int point_attrs(const struct metric_desc *d, const struct snap_point *pt, KeyValue ***ret,
		       size_t *ret_n)
{
	KeyValue **kvs = calloc(METRIC_MAX_OWN_LABELS, sizeof(*kvs));
	size_t n = 0;

	if (!kvs)
		return -ENOMEM;
	for (int o = 0; o < METRIC_MAX_OWN_LABELS && d->own_labels[o]; o++) {
		const char *key = d->otlp_attrs[o] ? d->otlp_attrs[o] : d->own_labels[o];

		if (!pt->own[o] || !pt->own[o][0])
			continue;
		kvs[n] = kv_new(key, pt->own[o]);
		if (!kvs[n]) {
			kvs_destroy(kvs, n);
			return -ENOMEM;
		}
		n++;
	}
	*ret = kvs;
	*ret_n = n;
	return 0;
}

static void ndp_destroy(NumberDataPoint *p)
{
	if (!p)
		return;
	kvs_destroy(p->attributes, p->n_attributes);
	free(p);
}

static NumberDataPoint *ndp_new(const struct metric_desc *d, const struct snap_point *pt,
				uint64_t start, uint64_t now)
{
	NumberDataPoint *p = malloc(sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	if (point_attrs(d, pt, &p->attributes, &p->n_attributes)) {
		free(p);
		return NULL;
	}
	p->start_time_unix_nano = d->type == MT_COUNTER ? start : 0;
	p->time_unix_nano = now;
	if (unit_is_integral(d->otlp_unit) && isfinite(pt->value)) {
		p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
		p->as_int = llround(pt->value);
	} else {
		p->value_case =
			OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
		p->as_double = pt->value;
	}
	return p;
}

static void hdp_destroy(HistogramDataPoint *p)
{
	if (!p)
		return;
	kvs_destroy(p->attributes, p->n_attributes);
	free(p->bucket_counts);
	free(p);
}

static HistogramDataPoint *hdp_new(const struct metric_desc *d, const struct snap_point *pt,
				   uint64_t start, uint64_t now)
{
	const struct snap_hist *h = pt->hist;
	HistogramDataPoint *p = malloc(sizeof(*p));
	uint64_t counts[METRIC_HIST_MAX_BUCKETS];
	const double *bounds;
	int n;

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	if (point_attrs(d, pt, &p->attributes, &p->n_attributes)) {
		free(p);
		return NULL;
	}
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->count = h->count;
	p->sum_present_case =
		OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
	p->sum = h->sum;
	/* OTLP buckets are per bucket like the snapshot's: n bounds, n + 1 counts; the same
	 * folded buckets as /metrics. */
	n = metric_hist_buckets(d, h, &bounds, counts);
	p->bucket_counts = n < 0 ? NULL : malloc(((size_t)n + 1) * sizeof(*p->bucket_counts));
	if (!p->bucket_counts) {
		hdp_destroy(p);
		return NULL;
	}
	memcpy(p->bucket_counts, counts, ((size_t)n + 1) * sizeof(*p->bucket_counts));
	p->n_bucket_counts = (size_t)n + 1;
	p->explicit_bounds = (double *)bounds; /* borrowed */
	p->n_explicit_bounds = (size_t)n;
	return p;
}

static void metric_destroy(Metric *m)
{
	if (!m)
		return;
	switch (m->data_case) {
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
		for (size_t i = 0; i < m->gauge->n_data_points; i++)
			ndp_destroy(m->gauge->data_points[i]);
		free(m->gauge->data_points);
		free(m->gauge);
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
		for (size_t i = 0; i < m->sum->n_data_points; i++)
			ndp_destroy(m->sum->data_points[i]);
		free(m->sum->data_points);
		free(m->sum);
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
		for (size_t i = 0; i < m->histogram->n_data_points; i++)
			hdp_destroy(m->histogram->data_points[i]);
		free(m->histogram->data_points);
		free(m->histogram);
		break;
	default:
		break;
	}
	free(m);
}

/* One Metric from the n points of one family (consecutive in the series). */
static Metric *metric_new(const struct metric_desc *d, const struct snap_point *pts, size_t n,
			  uint64_t start, uint64_t now, size_t *points)
{
	Metric *m = malloc(sizeof(*m));
	void **dps = calloc(n, sizeof(*dps));
	size_t k = 0;

	if (!m || !dps) {
		free(m);
		free(dps);
		return NULL;
	}
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)(d->otlp_name ? d->otlp_name : d->name);
	m->description = (char *)(d->help ? d->help : "");
	m->unit = (char *)(d->otlp_unit ? d->otlp_unit : "");
	if (d->type == MT_HISTOGRAM) {
		Histogram *h = malloc(sizeof(*h));

		if (!h)
			goto oom;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->aggregation_temporality = CUMULATIVE;
		h->data_points = (HistogramDataPoint **)dps;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->histogram = h;
		for (size_t i = 0; i < n; i++) {
			if (!pts[i].hist) /* a histogram row without data has nothing to send */
				continue;
			if (!(dps[k] = hdp_new(d, &pts[i], start, now)))
				goto oom;
			h->n_data_points = ++k;
		}
	} else if (d->type == MT_COUNTER) {
		Sum *s = malloc(sizeof(*s));

		if (!s)
			goto oom;
		opentelemetry__proto__metrics__v1__sum__init(s);
		s->aggregation_temporality = CUMULATIVE;
		s->is_monotonic = 1;
		s->data_points = (NumberDataPoint **)dps;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->sum = s;
		for (size_t i = 0; i < n; i++) {
			if (!(dps[k] = ndp_new(d, &pts[i], start, now)))
				goto oom;
			s->n_data_points = ++k;
		}
	} else {
		Gauge *g = malloc(sizeof(*g));

		if (!g)
			goto oom;
		opentelemetry__proto__metrics__v1__gauge__init(g);
		g->data_points = (NumberDataPoint **)dps;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
		m->gauge = g;
		for (size_t i = 0; i < n; i++) {
			if (!(dps[k] = ndp_new(d, &pts[i], start, now)))
				goto oom;
			g->n_data_points = ++k;
		}
	}
	*points += k;
	return m;
oom:
	if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA__NOT_SET)
		free(dps);
	metric_destroy(m);
	return NULL;
}

static void resource_metrics_destroy(ResourceMetrics *rm)
{
	if (!rm)
		return;
	if (rm->resource) {
		kvs_destroy(rm->resource->attributes, rm->resource->n_attributes);
		free(rm->resource);
	}
	for (size_t i = 0; i < rm->n_scope_metrics; i++) {
		ScopeMetrics *sm = rm->scope_metrics[i];

		for (size_t j = 0; j < sm->n_metrics; j++)
			metric_destroy(sm->metrics[j]);
		free(sm->metrics);
		free(sm->scope);
		free(sm);
	}
	free(rm->scope_metrics);
	free(rm);
}

static bool attr_set(KeyValue **kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kvs[i]->key, key) == 0)
			return true;
	}
	return false;
}

/* The resource of a series: its own attributes, then the configured ones it does not set. */
static Resource *resource_new(const struct snapshot *s, const struct snap_series *se,
			      const struct otlp_encode_opts *o)
{
	struct otlp_attr own[SERIES_ATTRS];
	Resource *r = malloc(sizeof(*r));
	size_t n_own = 0, n = 0;
	const char *wattr;

	if (!r)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(r);
	for (int l = 0; l < LBL_MAX; l++) {
		if (label_attrs[l] && se->labels[l] && se->labels[l][0])
			own[n_own++] = (struct otlp_attr){ label_attrs[l], se->labels[l] };
	}
	if (s->node && s->node[0])
		own[n_own++] = (struct otlp_attr){ "k8s.node.name", s->node };
	wattr = otlp_workload_attr(se->labels[LBL_WORKLOAD_KIND]);
	if (wattr && se->labels[LBL_WORKLOAD][0])
		own[n_own++] = (struct otlp_attr){ wattr, se->labels[LBL_WORKLOAD] };
	if (se->helm_chart && se->helm_chart[0])
		own[n_own++] = (struct otlp_attr){ "bpfdiag.helm.chart.name", se->helm_chart };

	r->attributes = calloc(n_own + o->n_resource + 1, sizeof(*r->attributes));
	if (!r->attributes)
		goto oom;
	for (size_t i = 0; i < n_own; i++, n++) {
		if (!(r->attributes[n] = kv_new(own[i].key, own[i].value)))
			goto oom;
		r->n_attributes = n + 1;
	}
	for (size_t i = 0; i < o->n_resource; i++) {
		if (attr_set(r->attributes, n_own, o->resource[i].key))
			continue;
		if (!(r->attributes[n] = kv_new(o->resource[i].key, o->resource[i].value)))
			goto oom;
		r->n_attributes = ++n;
	}
	return r;
oom:
	kvs_destroy(r->attributes, r->n_attributes);
	free(r);
	return NULL;
}

static ResourceMetrics *resource_metrics_new(const struct snapshot *s, const struct snap_series *se,
					     const struct otlp_encode_opts *o, size_t *points)
{
	ResourceMetrics *rm = malloc(sizeof(*rm));
	ScopeMetrics *sm = NULL;
	uint64_t now = unix_nano(s->time);
	uint64_t start = unix_nano(se->start_time > 0 ? se->start_time : s->agent.start_time);
	size_t groups = 0;

	if (!rm)
		return NULL;
	opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
	/* A cumulative series must start before its point; clocks may say otherwise. */
	if (start == 0 || start >= now)
		start = now ? now - 1 : 0;
	if (!(rm->resource = resource_new(s, se, o)))
		goto oom;
	rm->scope_metrics = calloc(1, sizeof(*rm->scope_metrics));
	sm = malloc(sizeof(*sm));
	if (!rm->scope_metrics || !sm)
		goto oom;
	opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
	rm->scope_metrics[0] = sm;
	rm->n_scope_metrics = 1;
	if (!(sm->scope = malloc(sizeof(*sm->scope))))
		goto oom;
	opentelemetry__proto__common__v1__instrumentation_scope__init(sm->scope);
	sm->scope->name = (char *)OTLP_SCOPE_NAME;
	sm->scope->version = (char *)BPFDIAG_VERSION;

	for (size_t i = 0; i < se->n_points; i++) {
		if (i == 0 || se->points[i].metric != se->points[i - 1].metric)
			groups++;
	}
	if (!(sm->metrics = calloc(groups ? groups : 1, sizeof(*sm->metrics))))
		goto oom;
	for (size_t i = 0, j; i < se->n_points; i = j) {
		const struct metric_desc *d = &o->catalogue[se->points[i].metric];

		for (j = i + 1; j < se->n_points && se->points[j].metric == se->points[i].metric;
		     j++)
			;
		if (!(sm->metrics[sm->n_metrics] =
			      metric_new(d, &se->points[i], j - i, start, now, points)))
			goto oom;
		sm->n_metrics++;
	}
	return rm;
oom:
	if (sm && !rm->n_scope_metrics)
		free(sm);
	resource_metrics_destroy(rm);
	return NULL;
}

static void request_destroy(ExportRequest *req)
{
	for (size_t i = 0; i < req->n_resource_metrics; i++)
		resource_metrics_destroy(req->resource_metrics[i]);
	free(req->resource_metrics);
}

int otlp_encode(const struct snapshot *s, const struct otlp_encode_opts *opts,
		struct otlp_payload *ret)
{
	struct otlp_encode_opts o = *opts;
	ExportRequest req;
	size_t points = 0, len;
	uint8_t *buf;
	int r = -ENOMEM;

	if (!o.catalogue) {
		o.catalogue = metric_descs;
		o.n_catalogue = M_MAX;
	}
	for (size_t i = 0; i < s->n_series; i++) {
		for (size_t p = 0; p < s->series[i].n_points; p++) {
			if ((size_t)s->series[i].points[p].metric >= o.n_catalogue)
				return -EINVAL;
		}
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
	req.resource_metrics = calloc(s->n_series ? s->n_series : 1, sizeof(*req.resource_metrics));
	if (!req.resource_metrics)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_series; i++) {
		ResourceMetrics *rm;

		if (!s->series[i].n_points)
			continue;
		if (!(rm = resource_metrics_new(s, &s->series[i], &o, &points)))
			goto out;
		req.resource_metrics[req.n_resource_metrics++] = rm;
	}
	len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(
		&req);
	buf = malloc(len ? len : 1);
	if (!buf)
		goto out;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req,
											   buf);
	*ret = (struct otlp_payload){
		.data = buf, .len = len, .n_resources = req.n_resource_metrics, .n_points = points
	};
	r = 0;
out:
	request_destroy(&req);
	return r;
}

int otlp_decode_response(const uint8_t *buf, size_t len, int64_t *ret_rejected, char *msg,
			 size_t msglen)
{
	ExportResponse *resp;

	*ret_rejected = 0;
	if (msglen)
		msg[0] = '\0';
	if (len == 0)
		return 0;
	resp = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
		NULL, len, buf);
	if (!resp)
		return -EBADMSG;
	if (resp->partial_success) {
		*ret_rejected = resp->partial_success->rejected_data_points;
		if (msglen && resp->partial_success->error_message)
			snprintf(msg, msglen, "%s", resp->partial_success->error_message);
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(
		resp, NULL);
	return 0;
}

/* A varint at *p (at most 10 bytes, all before end). */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* Skips a field of wire type wt at *p; false when it runs past end or the type is unknown. */
static bool skip_field(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t n;

	switch (wt) {
	case 0:
		return varint(p, end, &n);
	case 1:
		n = 8;
		break;
	case 2:
		if (!varint(p, end, &n))
			return false;
		break;
	case 5:
		n = 4;
		break;
	default:
		return false;
	}
	if (n > (uint64_t)(end - *p))
		return false;
	*p += n;
	return true;
}

/* The fields of a (possibly cut) ExportMetricsPartialSuccess in [p, end). */
static bool partial_prefix(const uint8_t *p, const uint8_t *end, int64_t *ret_rejected, char *msg,
			   size_t msglen)
{
	bool found = false;
	uint64_t tag, v;

	while (p < end && varint(&p, end, &tag)) {
		if (tag == (1 << 3 | 0)) { /* rejected_data_points */
			if (!varint(&p, end, &v))
				break;
			*ret_rejected = (int64_t)v;
			found = true;
		} else if (tag == (2 << 3 | 2)) { /* error_message: what arrived of it */
			size_t avail;

			if (!varint(&p, end, &v))
				break;
			avail = v < (uint64_t)(end - p) ? (size_t)v : (size_t)(end - p);
			if (msglen)
				snprintf(msg, msglen, "%.*s",
					 (int)(avail < msglen ? avail : msglen - 1),
					 (const char *)p);
			p += avail;
		} else if (!skip_field(&p, end, (unsigned)(tag & 7))) {
			break;
		}
	}
	return found;
}

int otlp_decode_response_prefix(const uint8_t *buf, size_t len, int64_t *ret_rejected, char *msg,
				size_t msglen)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t tag, n;

	*ret_rejected = 0;
	if (msglen)
		msg[0] = '\0';
	while (p < end && varint(&p, end, &tag)) {
		if (tag != (1 << 3 | 2)) { /* not partial_success */
			if (!skip_field(&p, end, (unsigned)(tag & 7)))
				break;
			continue;
		}
		if (!varint(&p, end, &n))
			break;
		/* the message may be cut anywhere: read what is there */
		return partial_prefix(p, n < (uint64_t)(end - p) ? p + n : end, ret_rejected, msg,
				      msglen) ?
			       0 :
			       -EBADMSG;
	}
	return -EBADMSG;
}
