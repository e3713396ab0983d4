// SPDX-License-Identifier: BSD-2-Clause
#include "transport/otlp_sender.h"
#include "base/clock.h"
#include "base/utf8.h"
#include "codec/gzip.h"
#include "codec/otlp.h"
#include "base/strbuf.h"
#include "base/version.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct otlp_sender {
	const struct otlp_config *cfg;
	struct otlp_sender_ops ops;
	struct selfmetrics *stats;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopping; /* atomic: stop asked; transfers in progress abort */
	int flushing; /* atomic: the last export, which stopping does not abort */
	CURL *curl;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	struct strbuf resp;
	bool resp_overflow;
	uint64_t rnd; /* jitter state */
	/* state of the log lines: one per change, not one per attempt */
	bool ever_ok;
	bool failing;
	enum sm_otlp_result failing_kind;
	unsigned failures; /* consecutive failed attempts */
	int64_t last_rejected;
	char last_partial_msg[256];
	double last_ok_snapshot; /* snapshot time of the last accepted export */
};

/* What one attempt did. */
struct attempt {
	enum sm_otlp_result kind;
	double retry_after; /* seconds, < 0 when the answer had none */
	char reason[320];
	int64_t rejected;
	char partial_msg[256];
	size_t points, resources;
	bool aborted; /* stopped by otlp_sender_stop */
};

/* Uniform in [0, 1), xorshift64*: jitter needs spread, not secrecy. */
static double next_rnd(struct otlp_sender *s)
{
	uint64_t x = s->rnd;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rnd = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}

static void say(struct otlp_sender *s, enum otlp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct otlp_sender *s, enum otlp_log_level level, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!s->ops.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->ops.log(s->ops.ctx, level, line);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct otlp_sender *s = ud;
	size_t n = size * nmemb;

	if (s->resp.len + n > OTLP_MAX_RESPONSE) {
		s->resp_overflow = true;
		return 0;
	}
	strbuf_append(&s->resp, ptr, n);
	return strbuf_failed(&s->resp) ? 0 : n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct otlp_sender *s = ud;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&s->flushing, __ATOMIC_ACQUIRE);
}

static void retry_after(struct otlp_sender *s, struct attempt *a)
{
	struct curl_header *h = NULL;
	double secs;

	if (curl_easy_header(s->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
	    otlp_parse_retry_after(h->value, time(NULL), &secs) == 0)
		a->retry_after = secs;
}

/* The receiver's message made fit for a log line: valid UTF-8, no control characters. */
static void printable(char *msg)
{
	utf8_repair_inplace(msg);
	for (char *c = msg; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
}

/* Classifies a 2xx answer's body: success, partial success, or a protocol error when it is
 * over the size cap (its rejected points still counted when they came before the cut) or does
 * not decode. Rejected counts are kept within the points sent. */
static void classify_2xx(struct otlp_sender *s, struct attempt *a)
{
	const uint8_t *body = (const uint8_t *)s->resp.data;

	if (s->resp_overflow) {
		a->kind = SM_OTLP_PROTOCOL_ERROR;
		snprintf(a->reason, sizeof(a->reason),
			 "the answer is larger than %u bytes (a partial success with a long "
			 "message?)",
			 OTLP_MAX_RESPONSE);
		otlp_decode_response_prefix(body, s->resp.len, &a->rejected, a->partial_msg,
					    sizeof(a->partial_msg));
	} else if (otlp_decode_response(body, s->resp.len, &a->rejected, a->partial_msg,
					sizeof(a->partial_msg))) {
		a->kind = SM_OTLP_PROTOCOL_ERROR;
		snprintf(a->reason, sizeof(a->reason),
			 "the answer is not an ExportMetricsServiceResponse");
	} else {
		a->kind = a->rejected > 0 || a->partial_msg[0] ? SM_OTLP_PARTIAL : SM_OTLP_SUCCESS;
	}
	if (a->rejected < 0)
		a->rejected = 0;
	if ((uint64_t)a->rejected > a->points)
		a->rejected = (int64_t)a->points;
	printable(a->partial_msg);
}

/* Encodes snap, POSTs it and classifies the answer. */
static void export_once(struct otlp_sender *s, const struct snapshot *snap, double timeout,
			struct attempt *a)
{
	const struct otlp_config *c = s->cfg;
	struct otlp_encode_opts eo = { .resource = c->resource, .n_resource = c->n_resource };
	struct otlp_payload p;
	uint8_t *body, *gz = NULL;
	size_t len, gzlen;
	long status = 0;
	CURLcode rc;
	int r;

	*a = (struct attempt){ .kind = SM_OTLP_FAILED, .retry_after = -1 };
	r = otlp_encode(snap, &eo, &p);
	if (r) {
		snprintf(a->reason, sizeof(a->reason), "cannot encode the request: %s",
			 strerror(-r));
		return;
	}
	a->points = p.n_points;
	a->resources = p.n_resources;
	body = p.data;
	len = p.len;
	if (c->gzip) {
		r = gzip_compress(p.data, p.len, 6, &gz, &gzlen);
		if (r) {
			free(p.data);
			snprintf(a->reason, sizeof(a->reason), "cannot compress the request: %s",
				 strerror(-r));
			return;
		}
		body = gz;
		len = gzlen;
	}
	strbuf_reset(&s->resp);
	s->resp_overflow = false;
	s->curl_err[0] = '\0';
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000));
	rc = curl_easy_perform(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, NULL);
	selfmetrics_add(s->stats, s->stats ? &s->stats->otlp_request_bytes : NULL, len);
	free(gz);
	free(p.data);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s->resp_overflow))
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 0) {
		a->aborted = rc == CURLE_ABORTED_BY_CALLBACK;
		a->kind = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ?
				  SM_OTLP_FAILED :
				  SM_OTLP_RETRYABLE;
		snprintf(a->reason, sizeof(a->reason), "%s%s%s", curl_easy_strerror(rc),
			 s->curl_err[0] ? ": " : "", s->curl_err);
		return;
	}
	if (status >= 200 && status < 300) {
		classify_2xx(s, a);
		return;
	}
	snprintf(a->reason, sizeof(a->reason), "HTTP %ld", status);
	if (status == 429 || status == 502 || status == 503 || status == 504) {
		a->kind = SM_OTLP_RETRYABLE;
		retry_after(s, a);
	}
}

/* Counts the attempt and logs what changed. */
static void report(struct otlp_sender *s, const struct attempt *a, double next_in, bool last)
{
	const char *url = s->cfg->url;
	struct selfmetrics *m = s->stats;

	selfmetrics_add(m, m ? &m->otlp_exports[a->kind] : NULL, 1);
	/* rejected points count whatever the answer's length (a protocol error included) */
	selfmetrics_add(m, m ? &m->otlp_rejected_points : NULL, (uint64_t)a->rejected);
	if (a->kind == SM_OTLP_SUCCESS || a->kind == SM_OTLP_PARTIAL) {
		selfmetrics_add(m, m ? &m->otlp_points : NULL, a->points);
		selfmetrics_set(m, m ? &m->otlp_last_success_ns : NULL,
				(uint64_t)(clock_unix() * 1e9));
		if (s->failing)
			say(s, OTLP_LOG_INFO,
			    "otlp: export to %s recovered after %u failed attempts (%zu data points)",
			    url, s->failures, a->points);
		else if (!s->ever_ok)
			say(s, OTLP_LOG_INFO,
			    "otlp: first export to %s accepted: %zu resources, %zu data points",
			    url, a->resources, a->points);
		s->ever_ok = true;
		s->failing = false;
		s->failures = 0;
		if (a->kind == SM_OTLP_PARTIAL) {
			bool same = a->rejected == s->last_rejected &&
				    strcmp(a->partial_msg, s->last_partial_msg) == 0;

			say(s, same ? OTLP_LOG_DEBUG : OTLP_LOG_WARN,
			    "otlp: %s accepted the export partially: %" PRId64
			    " of %zu data points rejected (%s); not retried",
			    url, a->rejected, a->points,
			    a->partial_msg[0] ? a->partial_msg : "no message");
			s->last_rejected = a->rejected;
			snprintf(s->last_partial_msg, sizeof(s->last_partial_msg), "%s",
				 a->partial_msg);
		} else {
			s->last_rejected = 0;
			s->last_partial_msg[0] = '\0';
		}
		return;
	}
	s->failures++;
	if (last) {
		say(s, OTLP_LOG_DEBUG, "otlp: last export at shutdown failed: %s", a->reason);
	} else if (!s->failing || s->failing_kind != a->kind) {
		if (a->kind == SM_OTLP_PROTOCOL_ERROR)
			say(s, OTLP_LOG_WARN,
			    "otlp: %s answered the export with 2xx but %s; counted as a protocol "
			    "error (%" PRId64 " of %zu data points reported rejected%s%s), not "
			    "retried; further ones are counted in bpfdiag_agent_otlp_exports_total, "
			    "not logged",
			    url, a->reason, a->rejected, a->points, a->partial_msg[0] ? ": " : "",
			    a->partial_msg);
		else if (a->kind == SM_OTLP_RETRYABLE)
			say(s, OTLP_LOG_WARN,
			    "otlp: export to %s failed: %s; retrying %s (next in %.1fs). "
			    "Counts are cumulative, so nothing is lost meanwhile; further failures "
			    "are counted in bpfdiag_agent_otlp_exports_total, not logged",
			    url, a->reason,
			    a->retry_after >= 0 ? "when the receiver's Retry-After says" :
						  "with backoff",
			    next_in);
		else
			say(s, OTLP_LOG_WARN,
			    "otlp: export to %s failed: %s; not retried (the next export in %.1fs "
			    "carries the totals); further failures are counted in "
			    "bpfdiag_agent_otlp_exports_total, not logged",
			    url, a->reason, next_in);
	} else {
		say(s, OTLP_LOG_DEBUG, "otlp: attempt %u failed: %s; next in %.1fs", s->failures,
		    a->reason, next_in);
	}
	s->failing = true;
	s->failing_kind = a->kind;
}

/* Waits until the monotonic time t or a stop. Called and returns with the lock held. */
static void wait_until(struct otlp_sender *s, double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) && clock_mono() < t) {
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	}
}

static void *run(void *arg)
{
	struct otlp_sender *s = arg;
	const struct otlp_config *c = s->cfg;
	double base = c->interval < 1.0 ? c->interval : 1.0;
	double cap = c->interval > OTLP_BACKOFF_CAP ? c->interval : OTLP_BACKOFF_CAP;
	double next = clock_mono() + c->interval;
	unsigned retries = 0;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct snapshot *snap;
		struct attempt a;
		double t0, delay;

		wait_until(s, next);
		if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
			break;
		pthread_mutex_unlock(&s->lock);
		t0 = clock_mono();
		snap = s->ops.snapshot(s->ops.ctx);
		if (!snap) {
			next = t0 + base; /* no collection yet */
			pthread_mutex_lock(&s->lock);
			continue;
		}
		export_once(s, snap, c->timeout, &a);
		if (a.kind == SM_OTLP_SUCCESS || a.kind == SM_OTLP_PARTIAL)
			s->last_ok_snapshot = snap->time;
		snapshot_unref(snap);
		selfmetrics_set(s->stats, s->stats ? &s->stats->otlp_last_duration_ns : NULL,
				(uint64_t)((clock_mono() - t0) * 1e9));
		if (a.aborted) {
			pthread_mutex_lock(&s->lock);
			break;
		}
		if (a.kind == SM_OTLP_RETRYABLE) {
			retries++;
			delay = a.retry_after >= 0 ? (a.retry_after < OTLP_RETRY_AFTER_MAX ?
							      a.retry_after :
							      OTLP_RETRY_AFTER_MAX) :
						     otlp_backoff(retries, base, cap, next_rnd(s));
			next = clock_mono() + delay;
		} else {
			retries = 0;
			next = t0 + c->interval;
			delay = next - clock_mono();
		}
		report(s, &a, delay > 0 ? delay : 0, false);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);

	/* Last export at shutdown, only while the receiver answers: a dead one must not hold up
	 * the agent's exit. */
	if (s->ever_ok && !s->failing) {
		struct snapshot *snap = s->ops.snapshot(s->ops.ctx);

		if (snap && snap->time > s->last_ok_snapshot) {
			struct attempt a;
			double t = c->timeout < OTLP_FLUSH_TIMEOUT ? c->timeout :
								     OTLP_FLUSH_TIMEOUT;

			__atomic_store_n(&s->flushing, 1, __ATOMIC_RELEASE);
			export_once(s, snap, t, &a);
			report(s, &a, 0, true);
		}
		snapshot_unref(snap);
	}
	return NULL;
}

static struct otlp_sender *sender_free(struct otlp_sender *s)
{
	if (!s)
		return NULL;
	curl_slist_free_all(s->headers);
	if (s->curl)
		curl_easy_cleanup(s->curl);
	strbuf_reset(&s->resp);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	curl_global_cleanup();
	return NULL;
}

static int add_header(struct otlp_sender *s, const char *name, const char *value)
{
	struct curl_slist *l;
	char *line;

	if (asprintf(&line, "%s:%s%s", name, value[0] ? " " : "", value) < 0)
		return -ENOMEM;
	l = curl_slist_append(s->headers, line);
	free(line);
	if (!l)
		return -ENOMEM;
	s->headers = l;
	return 0;
}

int otlp_sender_start(const struct otlp_config *c, const struct otlp_sender_ops *ops,
		      struct selfmetrics *stats, struct otlp_sender **ret, char *err, size_t errlen)
{
	struct otlp_sender *s;
	pthread_condattr_t ca;
	int r;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "otlp: cannot initialise libcurl");
		return -ENOMEM;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->cfg = c;
	s->ops = *ops;
	s->stats = stats;
	s->rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)(clock_mono() * 1e9) ^
		 0x9E3779B97F4A7C15ULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->curl = curl_easy_init();
	if (!s->curl)
		goto oom;
	/* "Expect:" stops libcurl from waiting for a 100 Continue some receivers never send. */
	if (add_header(s, "Content-Type", OTLP_CONTENT_TYPE) || add_header(s, "Expect", "") ||
	    (c->gzip && add_header(s, "Content-Encoding", "gzip")))
		goto oom;
	for (size_t i = 0; i < c->n_headers; i++) {
		if (add_header(s, c->headers[i].key, c->headers[i].value))
			goto oom;
	}
	curl_easy_setopt(s->curl, CURLOPT_URL, c->url);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "bpfdiag/" BPFDIAG_VERSION);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->curl_err);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
	r = pthread_create(&s->thread, NULL, run, s);
	if (r) {
		snprintf(err, errlen, "otlp: cannot start the sender thread: %s", strerror(r));
		sender_free(s);
		return -r;
	}
	s->started = true;
	*ret = s;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	sender_free(s);
	return -ENOMEM;
}

struct otlp_sender *otlp_sender_stop(struct otlp_sender *s)
{
	if (!s)
		return NULL;
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		__atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	return sender_free(s);
}
