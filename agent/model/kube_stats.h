/* SPDX-License-Identifier: BSD-2-Clause */
/* Counters of the Kubernetes metadata client, copied into every snapshot and exported as
 * bpfdiag_agent_kube_* self-metrics. Plain data: no locking, no I/O. */
#ifndef BPFDIAG_KUBE_STATS_H
#define BPFDIAG_KUBE_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* Outcome of one HTTP request to the API server (label `result`). */
enum kube_result {
	KUBE_RESULT_SUCCESS = 0, /* 2xx */
	KUBE_RESULT_CLIENT_ERROR, /* 4xx, including the expected 404 of an unconfirmed owner */
	KUBE_RESULT_SERVER_ERROR, /* 5xx */
	KUBE_RESULT_NETWORK_ERROR, /* no HTTP answer: connect, TLS, timeout, stall */
	KUBE_RESULT_MAX,
};

/* Why something went wrong (label `reason`). Each cause is logged once, then only counted. */
enum kube_err {
	KERR_UNREACHABLE = 0, /* connection refused, reset, DNS */
	KERR_TIMEOUT,
	KERR_TLS,
	KERR_UNAUTHORIZED, /* 401 */
	KERR_FORBIDDEN, /* 403: RBAC */
	KERR_EXPIRED, /* 410 Gone: resourceVersion too old, relist */
	KERR_SERVER, /* 5xx */
	KERR_HTTP, /* any other unexpected status */
	KERR_MALFORMED, /* not JSON, or JSON json-c refuses */
	KERR_INVALID, /* JSON of the wrong shape: missing or mistyped identity fields */
	KERR_TOO_LARGE, /* an object or response over its size cap: skipped */
	KERR_TRUNCATED, /* the stream ended inside an object */
	KERR_STALLED, /* no byte for the stall timeout */
	KERR_WATCH_ERROR, /* an ERROR watch event other than 410 */
	KERR_LIMIT, /* a cache or the pod table is full */
	KERR_TOKEN, /* the token file cannot be read */
	KERR_EVENT_LIMIT, /* a watch event over the line cap or slower than the stall timeout */
	KERR_MAX,
};

enum kube_event_type {
	KUBE_EV_ADDED = 0,
	KUBE_EV_MODIFIED,
	KUBE_EV_DELETED,
	KUBE_EV_BOOKMARK,
	KUBE_EV_ERROR,
	KUBE_EV_MAX,
};

enum kube_cache {
	KUBE_CACHE_WORKLOAD = 0,
	KUBE_CACHE_PVC,
	KUBE_CACHE_PDB, /* one entry per namespace */
	KUBE_CACHE_HPA, /* one entry per namespace */
	KUBE_CACHE_MAX,
};

struct kube_stats {
	bool enabled; /* a Kubernetes API is configured */
	bool up; /* the last list/watch request got an answer */
	bool synced; /* the first pod list completed */
	uint64_t requests[KUBE_RESULT_MAX];
	uint64_t errors[KERR_MAX];
	uint64_t events[KUBE_EV_MAX];
	uint64_t watch_restarts;
	uint64_t relists; /* lists after the first one */
	uint64_t outages; /* transitions from reachable (or start) to unreachable */
	double outage_seconds; /* total time unreachable, the current outage included */
	uint64_t pods;
	uint64_t cache_entries[KUBE_CACHE_MAX];
};

extern const char *const kube_result_names[KUBE_RESULT_MAX];
extern const char *const kube_err_names[KERR_MAX];
extern const char *const kube_event_names[KUBE_EV_MAX];
extern const char *const kube_cache_names[KUBE_CACHE_MAX];

#endif
