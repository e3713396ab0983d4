// SPDX-License-Identifier: BSD-2-Clause
#include "model/kube_stats.h"

const char *const kube_result_names[KUBE_RESULT_MAX] = {
	[KUBE_RESULT_SUCCESS] = "success",
	[KUBE_RESULT_CLIENT_ERROR] = "client_error",
	[KUBE_RESULT_SERVER_ERROR] = "server_error",
	[KUBE_RESULT_NETWORK_ERROR] = "network_error",
};

const char *const kube_err_names[KERR_MAX] = {
	[KERR_UNREACHABLE] = "unreachable",
	[KERR_TIMEOUT] = "timeout",
	[KERR_TLS] = "tls",
	[KERR_UNAUTHORIZED] = "unauthorized",
	[KERR_FORBIDDEN] = "forbidden",
	[KERR_EXPIRED] = "expired",
	[KERR_SERVER] = "server_error",
	[KERR_HTTP] = "http_error",
	[KERR_MALFORMED] = "malformed",
	[KERR_INVALID] = "invalid_object",
	[KERR_TOO_LARGE] = "too_large",
	[KERR_TRUNCATED] = "truncated",
	[KERR_STALLED] = "stalled",
	[KERR_WATCH_ERROR] = "watch_error",
	[KERR_LIMIT] = "limit",
	[KERR_TOKEN] = "token",
	[KERR_EVENT_LIMIT] = "event_limit",
};

const char *const kube_event_names[KUBE_EV_MAX] = {
	[KUBE_EV_ADDED] = "ADDED",     [KUBE_EV_MODIFIED] = "MODIFIED",
	[KUBE_EV_DELETED] = "DELETED", [KUBE_EV_BOOKMARK] = "BOOKMARK",
	[KUBE_EV_ERROR] = "ERROR",
};

const char *const kube_cache_names[KUBE_CACHE_MAX] = {
	[KUBE_CACHE_WORKLOAD] = "workload",
	[KUBE_CACHE_PVC] = "pvc",
	[KUBE_CACHE_PDB] = "pdb",
	[KUBE_CACHE_HPA] = "hpa",
};
