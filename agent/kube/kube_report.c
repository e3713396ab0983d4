// SPDX-License-Identifier: BSD-2-Clause
/* Reporting of the metadata client: every request and failure counted, each cause logged once
 * (transient causes again after a recovery). */
#include "kube/kube_meta_priv.h"
#include "base/clock.h"
#include "kube/kube_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const source_what[SRC_MAX] = {
	[SRC_PODS] = "list/watch pods",
	[SRC_WORKLOAD] = "get workloads",
	[SRC_PVC] = "get persistentvolumeclaims",
	[SRC_PDB] = "list poddisruptionbudgets",
	[SRC_HPA] = "list horizontalpodautoscalers",
};

/* Causes that end with the next successful request (and are logged again if they come back
 * after it). The others describe the data (malformed, invalid, too large, limits) and are
 * logged once per process. */
#define TRANSIENT_ERRS                                                              \
	((1u << KERR_UNREACHABLE) | (1u << KERR_TIMEOUT) | (1u << KERR_TLS) |       \
	 (1u << KERR_UNAUTHORIZED) | (1u << KERR_FORBIDDEN) | (1u << KERR_SERVER) | \
	 (1u << KERR_HTTP) | (1u << KERR_STALLED) | (1u << KERR_TRUNCATED) |        \
	 (1u << KERR_WATCH_ERROR))

void kube_emit(struct kube_meta *km, enum kube_log_level level, const char *msg)
{
	if (km->o.log)
		km->o.log(km->o.log_ctx, level, msg);
}

/* Copies at most n printable bytes of s (an API server message) into buf. */
void kube_sanitize(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0;

	for (; s && *s && n && o + 1 < len; s++, n--)
		buf[o++] = *s >= 0x20 && *s < 0x7f ? *s : ' ';
	buf[o] = '\0';
}

static void log_cause(struct kube_meta *km, enum source src, enum kube_err reason,
		      const char *detail)
{
	char msg[640];

	snprintf(msg, sizeof(msg),
		 "%s: %s [reason %s; repeats are counted in "
		 "bpfdiag_agent_kube_api_errors_total, not logged]",
		 source_what[src], detail, kube_err_names[reason]);
	kube_emit(km, reason == KERR_EXPIRED ? KUBE_LOG_INFO : KUBE_LOG_WARN, msg);
}

void kube_fail(struct kube_meta *km, enum source src, enum kube_err reason, bool outage,
	       const char *fmt, ...)
{
	char detail[400];
	bool log = false;
	va_list ap;

	if (reason < 0 || reason >= KERR_MAX)
		reason = KERR_LIMIT; /* a failure with no HTTP-level cause: out of memory */
	pthread_mutex_lock(&km->lock);
	km->stats.errors[reason]++;
	if (outage && src == SRC_PODS) {
		km->stats.up = false;
		if (!km->in_outage) {
			km->in_outage = true;
			km->outage_start = clock_mono();
			km->stats.outages++;
		}
	}
	if (!(km->reported[src] & (1u << reason))) {
		km->reported[src] |= 1u << reason;
		log = true;
	}
	pthread_mutex_unlock(&km->lock);
	if (!log)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	log_cause(km, src, reason, detail);
}

void kube_ok(struct kube_meta *km, enum source src)
{
	bool recovered = false, had;
	double dur = 0;
	char msg[256];

	pthread_mutex_lock(&km->lock);
	if (src == SRC_PODS) {
		km->stats.up = true;
		if (km->in_outage) {
			km->in_outage = false;
			dur = clock_mono() - km->outage_start;
			km->stats.outage_seconds += dur;
			recovered = true;
		}
	}
	had = km->reported[src] & TRANSIENT_ERRS;
	km->reported[src] &= ~TRANSIENT_ERRS;
	pthread_mutex_unlock(&km->lock);
	if (recovered) {
		snprintf(msg, sizeof(msg), "API server answers again after %.1fs", dur);
		kube_emit(km, KUBE_LOG_INFO, msg);
	} else if (had) {
		snprintf(msg, sizeof(msg), "%s: requests succeed again", source_what[src]);
		kube_emit(km, KUBE_LOG_INFO, msg);
	}
}

/* Logs what a request's look at the token file found: said once per change of state. */
static void token_news(struct kube_meta *km, enum source src, const struct kube_http *h)
{
	char detail[400];
	bool recovered;

	if (h->token_change == TOKEN_UNCHANGED)
		return;
	pthread_mutex_lock(&km->lock);
	recovered = h->token_change == TOKEN_RELOADED && km->token_failed;
	if (h->token_change == TOKEN_RELOAD_FAILED || recovered)
		km->token_failed = !recovered;
	pthread_mutex_unlock(&km->lock);
	if (h->token_change == TOKEN_RELOAD_FAILED) {
		snprintf(detail, sizeof(detail), "cannot read the token file %s: %s",
			 km->token_file, strerror(-h->token_err));
		log_cause(km, src, KERR_TOKEN, detail);
	} else if (recovered) {
		snprintf(detail, sizeof(detail),
			 "the token file %s is read again: its token is in use", km->token_file);
		kube_emit(km, KUBE_LOG_INFO, detail);
	}
}

void kube_token_news(struct kube_meta *km, enum source src, struct kube_http *h)
{
	token_news(km, src, h);
	h->token_change = TOKEN_UNCHANGED;
}

void kube_count(struct kube_meta *km, enum source src, int r, const struct kube_http *h)
{
	enum kube_result res;

	if (r == -ECANCELED)
		return;
	if (h->status == 0)
		res = KUBE_RESULT_NETWORK_ERROR;
	else if (h->status >= 200 && h->status < 300)
		res = KUBE_RESULT_SUCCESS;
	else if (h->status >= 500)
		res = KUBE_RESULT_SERVER_ERROR;
	else
		res = KUBE_RESULT_CLIENT_ERROR;
	pthread_mutex_lock(&km->lock);
	km->stats.requests[res]++;
	if (h->token_err)
		km->stats.errors[KERR_TOKEN]++; /* every request that went without a fresh token */
	pthread_mutex_unlock(&km->lock);
	token_news(km, src, h);
}

/* An HTTP answer other than the expected one: reason from the status, detail from the
 * Status body when there is one. */
void kube_http_fail(struct kube_meta *km, enum source src, const struct kube_http *h,
		    const char *what, bool outage)
{
	enum kube_err reason = h->status == 401 ? KERR_UNAUTHORIZED :
			       h->status == 403 ? KERR_FORBIDDEN :
			       h->status == 410 ? KERR_EXPIRED :
			       h->status >= 500 ? KERR_SERVER :
						  KERR_HTTP;
	const char *hint = h->status == 401 ? " (is the service-account token valid?)" :
			   h->status == 403 ? " (RBAC: see docs/KUBERNETES.md)" :
					      "";
	char text[200] = "";
	json_object *st = h->body ? json_tokener_parse(h->body) : NULL;

	if (st) {
		int code;
		const char *sreason, *smsg;

		kube_status_parse(st, &code, &sreason, &smsg);
		kube_sanitize(text, sizeof(text), smsg, 180);
		json_object_put(st);
	}
	kube_fail(km, src, reason, outage, "%s: HTTP %ld%s%s%s", what, h->status,
		  text[0] ? ": " : "", text, hint);
}
