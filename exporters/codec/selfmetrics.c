// SPDX-License-Identifier: BSD-2-Clause
#include "codec/selfmetrics.h"

#include <string.h>

static const char *const path_names[SM_PATH_MAX] = {
	[SM_PATH_METRICS] = "/metrics",
	[SM_PATH_HEALTHZ] = "/healthz",
	[SM_PATH_READYZ] = "/readyz",
	[SM_PATH_API_PODS] = "/api/v1/pods",
	[SM_PATH_API_FINDINGS] = "/api/v1/findings",
	[SM_PATH_OTHER] = "other",
};

static const char *const code_names[SM_CODE_MAX] = {
	[SM_CODE_200] = "200", [SM_CODE_400] = "400", [SM_CODE_401] = "401",
	[SM_CODE_404] = "404", [SM_CODE_405] = "405", [SM_CODE_413] = "413",
	[SM_CODE_500] = "500", [SM_CODE_503] = "503", [SM_CODE_OTHER] = "other",
};

static const char *const rejected_names[SM_REJECTED_MAX] = {
	[SM_REJECTED_400] = "400", [SM_REJECTED_413] = "413", [SM_REJECTED_414] = "414",
	[SM_REJECTED_431] = "431", [SM_REJECTED_505] = "505", [SM_REJECTED_OTHER] = "other",
};

static const char *const refused_names[SM_REFUSED_MAX] = {
	[SM_REFUSED_CLIENT_LIMIT] = "client_limit",
	[SM_REFUSED_SERVER_FULL] = "server_full",
};

static const char *const closed_names[SM_CLOSED_MAX] = {
	[SM_CLOSED_HEADER_TIMEOUT] = "header_timeout",
	[SM_CLOSED_REQUEST_TIMEOUT] = "request_timeout",
	[SM_CLOSED_IDLE_TIMEOUT] = "idle_timeout",
	[SM_CLOSED_REPLACED] = "replaced",
};

static const char *const otlp_results[SM_OTLP_RESULT_MAX] = {
	[SM_OTLP_SUCCESS] = "success",
	[SM_OTLP_PARTIAL] = "partial_success",
	[SM_OTLP_RETRYABLE] = "retryable_error",
	[SM_OTLP_FAILED] = "permanent_error",
	[SM_OTLP_PROTOCOL_ERROR] = "protocol_error",
};

static const double render_bounds[SM_RENDER_BUCKETS] = { 0.001, 0.005, 0.025, 0.1, 0.5, 2.5 };
static const char *const render_les[SM_RENDER_BUCKETS] = { "0.001", "0.005", "0.025",
							   "0.1",   "0.5",   "2.5" };

enum sm_path selfmetrics_path(const char *url)
{
	for (int p = 0; p < SM_PATH_OTHER; p++) {
		if (strcmp(url, path_names[p]) == 0)
			return (enum sm_path)p;
	}
	return SM_PATH_OTHER;
}

static enum sm_code code_of(unsigned status)
{
	switch (status) {
	case 200:
		return SM_CODE_200;
	case 400:
		return SM_CODE_400;
	case 401:
		return SM_CODE_401;
	case 404:
		return SM_CODE_404;
	case 405:
		return SM_CODE_405;
	case 413:
		return SM_CODE_413;
	case 500:
		return SM_CODE_500;
	case 503:
		return SM_CODE_503;
	default:
		return SM_CODE_OTHER;
	}
}

void selfmetrics_add(struct selfmetrics *m, uint64_t *field, uint64_t n)
{
	if (m)
		__atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

void selfmetrics_set(struct selfmetrics *m, uint64_t *field, uint64_t v)
{
	if (m)
		__atomic_store_n(field, v, __ATOMIC_RELAXED);
}

void selfmetrics_http_request(struct selfmetrics *m, enum sm_path path, unsigned status)
{
	if (m)
		selfmetrics_add(m, &m->http_requests[path][code_of(status)], 1);
}

void selfmetrics_http_rejected(struct selfmetrics *m, unsigned status)
{
	enum sm_rejected r = status == 400 ? SM_REJECTED_400 :
			     status == 413 ? SM_REJECTED_413 :
			     status == 414 ? SM_REJECTED_414 :
			     status == 431 ? SM_REJECTED_431 :
			     status == 505 ? SM_REJECTED_505 :
					     SM_REJECTED_OTHER;

	if (m)
		selfmetrics_add(m, &m->http_rejected[r], 1);
}

void selfmetrics_http_render(struct selfmetrics *m, double seconds)
{
	unsigned b = 0;

	if (!m)
		return;
	while (b < SM_RENDER_BUCKETS && seconds > render_bounds[b])
		b++;
	selfmetrics_add(m, &m->render_buckets[b], 1);
	selfmetrics_add(m, &m->render_ns, (uint64_t)(seconds * 1e9));
}

static uint64_t get(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

static void family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter family with one sample per label value. */
static void labelled(struct strbuf *out, const char *name, const char *help, const char *label,
		     const char *const *values, const uint64_t *counts, int n)
{
	family(out, name, "counter", help);
	for (int i = 0; i < n; i++)
		strbuf_printf(out, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
			      (unsigned long long)get(&counts[i]));
}

void selfmetrics_prom_encode(const struct selfmetrics *m, struct strbuf *out)
{
	uint64_t cum = 0, count;

	family(out, "bpfdiag_agent_http_requests_total", "counter",
	       "HTTP requests answered, by path and status code.");
	for (int p = 0; p < SM_PATH_MAX; p++) {
		for (int c = 0; c < SM_CODE_MAX; c++) {
			uint64_t v = get(&m->http_requests[p][c]);

			/* /metrics 200 is always there, so the family is never empty */
			if (v || (p == SM_PATH_METRICS && c == SM_CODE_200))
				strbuf_printf(out,
					      "bpfdiag_agent_http_requests_total{path=\"%s\","
					      "code=\"%s\"} %llu\n",
					      path_names[p], code_names[c], (unsigned long long)v);
		}
	}
	labelled(
		out, "bpfdiag_agent_http_requests_rejected_total",
		"Requests libmicrohttpd refused before any handler, by status code (400 malformed, "
		"413 Content-Length too large, 414 URL too long, 431 headers too large, 505 HTTP "
		"version).",
		"code", rejected_names, m->http_rejected, SM_REJECTED_MAX);
	family(out, "bpfdiag_agent_http_connections", "gauge", "Open HTTP connections.");
	strbuf_printf(out, "bpfdiag_agent_http_connections %llu\n",
		      (unsigned long long)get(&m->http_open));
	labelled(out, "bpfdiag_agent_http_connections_refused_total",
		 "Connections refused at accept: client_limit (the client holds its share, none of "
		 "it waiting for headers), server_full (every connection busy in a request).",
		 "reason", refused_names, m->http_refused, SM_REFUSED_MAX);
	labelled(out, "bpfdiag_agent_http_connections_closed_total",
		 "Connections the server closed: header_timeout, request_timeout, idle_timeout, or "
		 "replaced (waiting for headers, it made room for a newer connection).",
		 "reason", closed_names, m->http_closed, SM_CLOSED_MAX);
	family(out, "bpfdiag_agent_http_render_seconds", "histogram",
	       "Time to render /metrics and /api answers (encoding and compression).");
	for (int b = 0; b <= SM_RENDER_BUCKETS; b++) {
		cum += get(&m->render_buckets[b]);
		strbuf_printf(out, "bpfdiag_agent_http_render_seconds_bucket{le=\"%s\"} %llu\n",
			      b < SM_RENDER_BUCKETS ? render_les[b] : "+Inf",
			      (unsigned long long)cum);
	}
	count = cum;
	strbuf_printf(out, "bpfdiag_agent_http_render_seconds_sum %.9f\n",
		      (double)get(&m->render_ns) / 1e9);
	strbuf_printf(out, "bpfdiag_agent_http_render_seconds_count %llu\n",
		      (unsigned long long)count);
	family(out, "bpfdiag_agent_http_gzip_responses_total", "counter",
	       "Answers sent gzip-compressed (the client sent Accept-Encoding: gzip).");
	strbuf_printf(out, "bpfdiag_agent_http_gzip_responses_total %llu\n",
		      (unsigned long long)get(&m->gzip_responses));
	family(out, "bpfdiag_agent_auth_token_reloads_total", "counter",
	       "Re-reads of --auth-token-file after it changed, by result (a failed one keeps the "
	       "previous token).");
	strbuf_printf(out, "bpfdiag_agent_auth_token_reloads_total{result=\"success\"} %llu\n",
		      (unsigned long long)get(&m->token_reloads));
	strbuf_printf(out, "bpfdiag_agent_auth_token_reloads_total{result=\"error\"} %llu\n",
		      (unsigned long long)get(&m->token_reload_errors));
	if (!m->otlp_enabled)
		return;
	labelled(out, "bpfdiag_agent_otlp_exports_total", "OTLP export requests, by result.",
		 "result", otlp_results, m->otlp_exports, SM_OTLP_RESULT_MAX);
	family(out, "bpfdiag_agent_otlp_data_points_total", "counter",
	       "Data points in OTLP exports the receiver accepted.");
	strbuf_printf(out, "bpfdiag_agent_otlp_data_points_total %llu\n",
		      (unsigned long long)get(&m->otlp_points));
	family(out, "bpfdiag_agent_otlp_rejected_data_points_total", "counter",
	       "Data points the receiver reported rejected (partial success).");
	strbuf_printf(out, "bpfdiag_agent_otlp_rejected_data_points_total %llu\n",
		      (unsigned long long)get(&m->otlp_rejected_points));
	family(out, "bpfdiag_agent_otlp_sent_bytes_total", "counter",
	       "Request body bytes sent to the OTLP receiver, after compression.");
	strbuf_printf(out, "bpfdiag_agent_otlp_sent_bytes_total %llu\n",
		      (unsigned long long)get(&m->otlp_request_bytes));
	family(out, "bpfdiag_agent_otlp_last_success_timestamp_seconds", "gauge",
	       "Unix time of the last accepted OTLP export; 0 before the first.");
	strbuf_printf(out, "bpfdiag_agent_otlp_last_success_timestamp_seconds %.3f\n",
		      (double)get(&m->otlp_last_success_ns) / 1e9);
	family(out, "bpfdiag_agent_otlp_export_duration_seconds", "gauge",
	       "Wall time of the last OTLP export attempt (encoding, compression, request).");
	strbuf_printf(out, "bpfdiag_agent_otlp_export_duration_seconds %.6f\n",
		      (double)get(&m->otlp_last_duration_ns) / 1e9);
}
