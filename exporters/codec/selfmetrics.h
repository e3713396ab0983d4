/* SPDX-License-Identifier: BSD-2-Clause */
/* The exporters' own metrics (bpfdiag_agent_http_*, bpfdiag_agent_otlp_*): counters the HTTP
 * server and the OTLP sender bump from their threads, rendered after the snapshot on /metrics.
 * Lock-free: every field is updated and read with relaxed atomics. */
#ifndef BPFDIAG_SELFMETRICS_H
#define BPFDIAG_SELFMETRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/strbuf.h"

enum sm_path {
	SM_PATH_METRICS = 0,
	SM_PATH_HEALTHZ,
	SM_PATH_READYZ,
	SM_PATH_API_PODS,
	SM_PATH_API_FINDINGS,
	SM_PATH_OTHER,
	SM_PATH_MAX,
};

enum sm_code {
	SM_CODE_200 = 0,
	SM_CODE_400,
	SM_CODE_401,
	SM_CODE_404,
	SM_CODE_405,
	SM_CODE_413,
	SM_CODE_500,
	SM_CODE_503,
	SM_CODE_OTHER,
	SM_CODE_MAX,
};

/* Requests libmicrohttpd answered itself, before any handler: malformed, a Content-Length it
 * cannot hold, URL or headers too large, an HTTP version it does not speak. */
enum sm_rejected {
	SM_REJECTED_400 = 0,
	SM_REJECTED_413,
	SM_REJECTED_414,
	SM_REJECTED_431,
	SM_REJECTED_505,
	SM_REJECTED_OTHER,
	SM_REJECTED_MAX,
};

/* Connections refused at accept, by the limit that refused them. */
enum sm_refused {
	SM_REFUSED_CLIENT_LIMIT = 0,
	SM_REFUSED_SERVER_FULL,
	SM_REFUSED_MAX,
};

/* Connections the server closed before the client did. */
enum sm_closed {
	SM_CLOSED_HEADER_TIMEOUT = 0, /* headers not complete in time */
	SM_CLOSED_REQUEST_TIMEOUT, /* request not answered in time (a slow reader) */
	SM_CLOSED_IDLE_TIMEOUT, /* libmicrohttpd's idle timeout during a request */
	SM_CLOSED_REPLACED, /* waiting for headers, it gave way to a newer connection */
	SM_CLOSED_MAX,
};

enum sm_otlp_result {
	SM_OTLP_SUCCESS = 0,
	SM_OTLP_PARTIAL, /* accepted with rejected points: not retried */
	SM_OTLP_RETRYABLE, /* 429/502/503/504 or no connection: retried with backoff */
	SM_OTLP_FAILED, /* any other answer: not retried, the next export carries the totals */
	SM_OTLP_PROTOCOL_ERROR, /* 2xx with an answer over the size cap or that does not decode */
	SM_OTLP_RESULT_MAX,
};

#define SM_RENDER_BUCKETS 6 /* finite upper bounds of the render-time histogram */

struct selfmetrics {
	uint64_t http_requests[SM_PATH_MAX][SM_CODE_MAX];
	uint64_t render_buckets[SM_RENDER_BUCKETS + 1]; /* per bucket, the last for +Inf */
	uint64_t render_ns;
	uint64_t gzip_responses;
	uint64_t token_reloads;
	uint64_t token_reload_errors;
	uint64_t http_rejected[SM_REJECTED_MAX];
	uint64_t http_refused[SM_REFUSED_MAX];
	uint64_t http_closed[SM_CLOSED_MAX];
	uint64_t http_open; /* connections open now */
	bool otlp_enabled; /* set before the threads start; OTLP families are rendered only then */
	uint64_t otlp_exports[SM_OTLP_RESULT_MAX];
	uint64_t otlp_points; /* data points in successful exports */
	uint64_t otlp_rejected_points;
	uint64_t otlp_request_bytes; /* bytes on the wire (after compression), every attempt */
	uint64_t otlp_last_success_ns; /* unix time */
	uint64_t otlp_last_duration_ns;
};

enum sm_path selfmetrics_path(const char *url);
void selfmetrics_http_request(struct selfmetrics *m, enum sm_path path, unsigned status);
void selfmetrics_http_render(struct selfmetrics *m, double seconds);
/* Counts a request libmicrohttpd refused itself with status. */
void selfmetrics_http_rejected(struct selfmetrics *m, unsigned status);
/* Adds n to a counter field of m; a NULL m is ignored (library users without metrics). */
void selfmetrics_add(struct selfmetrics *m, uint64_t *field, uint64_t n);
void selfmetrics_set(struct selfmetrics *m, uint64_t *field, uint64_t v);
/* Appends the families, HELP and TYPE included, in text format 0.0.4. */
void selfmetrics_prom_encode(const struct selfmetrics *m, struct strbuf *out);

#endif
