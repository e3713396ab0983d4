/* SPDX-License-Identifier: BSD-2-Clause */
/* OTLP exporter configuration: the --otlp-* flags and the OpenTelemetry environment variables
 * (OTEL_EXPORTER_OTLP_{,METRICS_}{ENDPOINT,HEADERS,COMPRESSION,TIMEOUT},
 * OTEL_METRIC_EXPORT_INTERVAL, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), and the pure
 * helpers of the sender's retry policy. No I/O, no logging. */
#ifndef BPFDIAG_OTLP_CONFIG_H
#define BPFDIAG_OTLP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "codec/otlp.h"

#define OTLP_DEFAULT_INTERVAL 60.0 /* seconds */
#define OTLP_DEFAULT_TIMEOUT 10.0 /* seconds */
#define OTLP_DEFAULT_SERVICE_NAME "bpfdiag"
#define OTLP_METRICS_PATH "v1/metrics"
#define OTLP_MAX_LIST_ITEMS 64 /* headers or resource attributes */

/* A key and value pair owned by the list it is in. */
struct otlp_kv {
	char *key;
	char *value;
};

struct otlp_config {
	char *url; /* where requests are POSTed; NULL: export is off */
	struct otlp_kv *headers; /* extra request headers */
	size_t n_headers;
	bool gzip;
	double timeout; /* seconds per request */
	double interval; /* seconds between exports */
	/* service.name first, then OTEL_RESOURCE_ATTRIBUTES; as encoder attributes (borrowed from
	 * resource_kv). */
	struct otlp_attr *resource;
	struct otlp_kv *resource_kv;
	size_t n_resource;
};

typedef const char *(*otlp_getenv_fn)(const char *name);

/* Fills c from the flags (flag_endpoint NULL and flag_interval 0 when not given) and the
 * environment read through getenv (NULL: getenv(3)). Precedence: flag, then
 * OTEL_EXPORTER_OTLP_METRICS_*, then OTEL_EXPORTER_OTLP_*. Without any endpoint c->url stays NULL
 * and nothing else is checked. Returns 0, or -EINVAL/-ENOMEM with one line in err naming the
 * flag or variable. Free with otlp_config_free either way. */
int otlp_config_load(struct otlp_config *c, const char *flag_endpoint, double flag_interval,
		     otlp_getenv_fn getenv_fn, char *err, size_t errlen);
void otlp_config_free(struct otlp_config *c);

/* The URL requests go to: endpoint as is when append is false (OTEL_…_METRICS_ENDPOINT),
 * else endpoint with "v1/metrics" appended after a '/' (OTEL_EXPORTER_OTLP_ENDPOINT). Only
 * http and https URLs with a host are accepted. Returns 0 with *ret (free() it), or -EINVAL
 * with a reason in err. */
int otlp_endpoint_url(const char *endpoint, bool append, char **ret, char *err, size_t errlen);

/* Parses a W3C-baggage-like list "k1=v1,k2=v2" (spaces around items ignored, keys and values
 * percent-decoded) as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES use. Keys must be
 * non-empty; no decoded key or value may hold a control character. Returns 0 with *ret and
 * *ret_n (free with otlp_kv_free), or -EINVAL with a reason in err. */
int otlp_parse_kv_list(const char *s, struct otlp_kv **ret, size_t *ret_n, char *err,
		       size_t errlen);
void otlp_kv_free(struct otlp_kv *kv, size_t n);

/* A Retry-After value in seconds from now: delta-seconds, or an HTTP-date (a date in the past
 * gives 0). Returns 0 with *ret_seconds, or -EINVAL. */
int otlp_parse_retry_after(const char *v, time_t now, double *ret_seconds);

/* Delay before retry number attempt (1 = first retry): base·2^(attempt-1) capped at cap, then
 * jittered into [d/2, d) by rnd in [0, 1). */
double otlp_backoff(unsigned attempt, double base, double cap, double rnd);

#endif
