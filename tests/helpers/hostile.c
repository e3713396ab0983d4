// SPDX-License-Identifier: BSD-2-Clause
#include "hostile.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "codec/api_json.h"
#include "codec/otlp.h"
#include "codec/prom.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

struct pieces {
	const uint8_t *data;
	size_t n, pos;
};

/* The next NUL-separated piece (wrapping around), as a heap string. */
static char *piece(struct pieces *p)
{
	size_t start, len;
	char *s;

	if (!p->n)
		return strdup("\xff\xfe");
	if (p->pos >= p->n)
		p->pos = 0;
	start = p->pos;
	while (p->pos < p->n && p->data[p->pos])
		p->pos++;
	len = p->pos - start;
	p->pos++;
	s = malloc(len + 1);
	if (s) {
		memcpy(s, p->data + start, len);
		s[len] = '\0';
	}
	return s;
}

static void piece_buf(struct pieces *p, char *buf, size_t size)
{
	char *s = piece(p);

	snprintf(buf, size, "%s", s ? s : "");
	free(s);
}

struct snapshot *hostile_snapshot(const uint8_t *data, size_t n)
{
	static const double bounds[] = { 0.001, 0.01 };
	static const uint64_t counts[] = { 1, 2, 3 };
	struct pieces p = { data, n, 0 };
	struct snapshot *s = snapshot_new(2);
	char *own[METRIC_MAX_OWN_LABELS] = { 0 };
	bool ok = s != NULL;

	if (!s)
		return NULL;
	s->time = 1700000100;
	s->agent.start_time = 1700000000;
	s->agent.kube.enabled = true;
	ok = ok && (s->node = piece(&p));
	for (size_t i = 0; ok && i < s->n_series; i++) {
		struct snap_series *se = &s->series[i];

		for (int l = 0; ok && l < LBL_MAX; l++)
			ok = (se->labels[l] = piece(&p)) != NULL;
		ok = ok && (se->cgroup_path = piece(&p)) && (se->helm_chart = piece(&p));
		for (int o = 0; ok && o < METRIC_MAX_OWN_LABELS; o++)
			ok = (own[o] = piece(&p)) != NULL;
		ok = ok && snap_series_add(se, M_CPU_SECONDS, NULL, 1.5) == 0 &&
		     snap_series_add(se, M_DISK_BYTES, (const char *const *)own, 4096) == 0 &&
		     snap_series_add_hist(se, M_DISK_LATENCY, (const char *const *)own, bounds, 2,
					  counts, 0.25) == 0;
		for (int o = 0; o < METRIC_MAX_OWN_LABELS; o++) {
			free(own[o]);
			own[o] = NULL;
		}
	}
	s->pods = calloc(1, sizeof(*s->pods));
	ok = ok && s->pods;
	if (ok) {
		s->n_pods = 1;
		for (int l = 0; ok && l < PLBL_MAX; l++)
			ok = (s->pods[0].labels[l] = piece(&p)) != NULL;
	}
	s->findings = calloc(1, sizeof(*s->findings));
	ok = ok && s->findings;
	if (ok) {
		struct snap_finding *f = &s->findings[0];

		s->n_findings = 1;
		piece_buf(&p, f->ns, sizeof(f->ns));
		piece_buf(&p, f->workload_kind, sizeof(f->workload_kind));
		piece_buf(&p, f->workload, sizeof(f->workload));
		piece_buf(&p, f->helm_release, sizeof(f->helm_release));
		piece_buf(&p, f->rule, sizeof(f->rule));
		piece_buf(&p, f->severity, sizeof(f->severity));
		piece_buf(&p, f->message, sizeof(f->message));
		piece_buf(&p, f->evidence[0].name, sizeof(f->evidence[0].name));
		f->n_evidence = 1;
	}
	if (!ok)
		return snapshot_unref(s);
	return s;
}

int hostile_render(const struct snapshot *s, struct hostile_out *o)
{
	struct otlp_encode_opts eo = { 0 };
	struct otlp_payload p;
	int r;

	memset(o, 0, sizeof(*o));
	r = prom_encode(s, &o->prom);
	if (!r)
		r = api_pods_json(s, &o->pods);
	if (!r)
		r = api_findings_json(s, &o->findings);
	if (!r)
		r = otlp_encode(s, &eo, &p);
	if (r) {
		hostile_out_reset(o);
		return r;
	}
	o->otlp = p.data;
	o->otlp_len = p.len;
	return 0;
}

void hostile_out_reset(struct hostile_out *o)
{
	strbuf_reset(&o->prom);
	strbuf_reset(&o->pods);
	strbuf_reset(&o->findings);
	free(o->otlp);
	memset(o, 0, sizeof(*o));
}

/* A quoted label value at *p: only \\, \" and \n escapes, no raw newline, ends with '"'. */
static bool label_value(const char **p)
{
	const char *c = *p;

	if (*c++ != '"')
		return false;
	for (; *c && *c != '"'; c++) {
		if (*c == '\n')
			return false;
		if (*c == '\\' && !strchr("\\\"n", *++c))
			return false;
	}
	if (*c != '"')
		return false;
	*p = c + 1;
	return true;
}

/* One sample line: name, optional {name="value",...}, a space, a value. */
static bool sample_line(const char *line)
{
	const char *c = line + strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:"
					    "0123456789");

	if (c == line)
		return false;
	if (*c == '{') {
		c++;
		while (*c != '}') {
			const char *name = c;

			c += strspn(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
				       "0123456789");
			if (c == name || *c++ != '=' || !label_value(&c))
				return false;
			if (*c == ',')
				c++;
			else if (*c != '}')
				return false;
		}
		c++;
	}
	return *c == ' ' && c[1] && c[1] != '\n';
}

static int check_prom(const struct strbuf *sb, char *why, size_t whylen)
{
	const char *line = sb->data;

	if (!utf8_valid(sb->data, sb->len)) {
		snprintf(why, whylen, "prometheus text is not UTF-8");
		return -1;
	}
	while (line && *line) {
		const char *nl = strchr(line, '\n');

		if (line[0] != '#' && !sample_line(line)) {
			snprintf(why, whylen, "bad sample line: %.*s", (int)(nl ? nl - line : 80),
				 line);
			return -1;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

static int check_json(const char *what, const struct strbuf *sb, char *why, size_t whylen)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	int r = 0;

	if (!tok)
		return -1;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, sb->data, (int)sb->len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(why, whylen, "%s: %s", what,
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		r = -1;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

static bool kvs_utf8(Opentelemetry__Proto__Common__V1__KeyValue **kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = kvs[i]->value ? kvs[i]->value->string_value : NULL;

		if (!utf8_valid(kvs[i]->key, strlen(kvs[i]->key)) ||
		    (v && !utf8_valid(v, strlen(v))))
			return false;
	}
	return true;
}

/* n data points (NumberDataPoint or HistogramDataPoint: hist says which): their attributes. */
static bool points_utf8(void **pts, size_t n, bool hist)
{
	for (size_t i = 0; i < n; i++) {
		const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *np = pts[i];
		const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *hp = pts[i];

		if (hist ? !kvs_utf8(hp->attributes, hp->n_attributes) :
			   !kvs_utf8(np->attributes, np->n_attributes))
			return false;
	}
	return true;
}

static bool metric_utf8(const Opentelemetry__Proto__Metrics__V1__Metric *m)
{
	switch (m->data_case) {
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
		return points_utf8((void **)m->sum->data_points, m->sum->n_data_points, false);
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
		return points_utf8((void **)m->gauge->data_points, m->gauge->n_data_points, false);
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
		return points_utf8((void **)m->histogram->data_points, m->histogram->n_data_points,
				   true);
	default:
		return true;
	}
}

static int check_otlp(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req;
	bool ok = true;

	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	if (!req) {
		snprintf(why, whylen, "otlp request does not decode");
		return -1;
	}
	for (size_t i = 0; ok && i < req->n_resource_metrics; i++) {
		const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm =
			req->resource_metrics[i];

		ok = kvs_utf8(rm->resource->attributes, rm->resource->n_attributes);
		for (size_t j = 0; ok && j < rm->n_scope_metrics; j++) {
			for (size_t k = 0; ok && k < rm->scope_metrics[j]->n_metrics; k++)
				ok = metric_utf8(rm->scope_metrics[j]->metrics[k]);
		}
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	if (!ok)
		snprintf(why, whylen, "an otlp string is not UTF-8");
	return ok ? 0 : -1;
}

int hostile_check(const struct hostile_out *o, char *why, size_t whylen)
{
	if (check_prom(&o->prom, why, whylen) || check_json("pods", &o->pods, why, whylen) ||
	    check_json("findings", &o->findings, why, whylen) ||
	    check_otlp(o->otlp, o->otlp_len, why, whylen))
		return -1;
	return 0;
}
