/* SPDX-License-Identifier: BSD-2-Clause */
/* A minimal Kubernetes API client over libcurl: bounded GETs and streamed watches with a
 * bearer token from a watched file (base/tokenfile.h: projected tokens rotate) and TLS
 * verification on. One client per thread; no logging — failures come back classified as a
 * kube_err reason with curl's message. */
#ifndef BPFDIAG_KUBE_CLIENT_H
#define BPFDIAG_KUBE_CLIENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/tokenfile.h"
#include "model/kube_stats.h"

struct kube_client_opts {
	const char *url; /* base URL, no trailing slash */
	struct tokenfile *token; /* NULL: no token; borrowed, may be shared between clients */
	bool token_over_http; /* also send the token over plain http */
	const char *ca_file; /* NULL: system CAs */
	/* Polled about once a second during a transfer; true aborts it (-ECANCELED). */
	bool (*stop)(void *ctx);
	void *stop_ctx;
};

/* The outcome of one request. */
struct kube_http {
	long status; /* HTTP status; 0 when no answer arrived */
	enum kube_err err; /* why the request failed; KERR_MAX when it did not */
	int token_err; /* 0, or the negative errno of the token file's last read, which failed
			* (the request went out with the previous token, or none) */
	enum token_refresh token_change; /* what this request's look at the token file found:
					  * TOKEN_RELOAD_FAILED once per new reason */
	char *body; /* the body (GET) or, for a stream that was not 200, its error body */
	size_t len;
	char msg[256]; /* curl's error text for transport failures */
};

struct kube_client;

/* Returns 0 with a new client in *ret, or -ENOMEM. */
int kube_client_new(const struct kube_client_opts *opts, struct kube_client **ret);
/* Accepts NULL; returns NULL. */
struct kube_client *kube_client_free(struct kube_client *c);
/* Frees h->body and resets h. */
void kube_http_clear(struct kube_http *h);

/* GETs path (starting with '/'), keeping at most max body bytes. Returns 0 when an HTTP
 * answer arrived (any status: see h->status), -ECANCELED when stop() said so, or another
 * negative errno with h->err set (KERR_TOO_LARGE when the body exceeded max). */
int kube_client_get(struct kube_client *c, const char *path, size_t max, long timeout_ms,
		    struct kube_http *h);

/* What a stream's data callback says of the bytes it was given: flags, or a negative errno
 * that aborts the stream (and is returned by kube_client_stream). */
enum {
	KUBE_DATA_EVENT = 1 << 0, /* at least one event ended in them */
	KUBE_DATA_INSIDE = 1 << 1, /* they end inside an event */
};

/* Called once with (NULL, 0) when a 200 answer's headers are in (the stream is open), then
 * with each piece of its body as it arrives; returns KUBE_DATA_* flags or a negative errno. */
typedef int (*kube_data_fn)(void *ctx, const char *buf, size_t len);

/* Streams path (a watch). stall_ms: abort with KERR_STALLED when no event ends for that long
 * (bytes between events do not count), or with KERR_EVENT_LIMIT when one event takes longer
 * than that to arrive. Returns 0 when the server ended the response (see h->status: for
 * anything but 200 h->body holds up to 64 KiB of its error body), data's negative return,
 * -ECANCELED, or another negative errno with h->err set. */
int kube_client_stream(struct kube_client *c, const char *path, long stall_ms, kube_data_fn data,
		       void *ctx, struct kube_http *h);

/* The body as JSON: a new object, or NULL when it is not one valid JSON value. */
json_object *kube_http_json(const struct kube_http *h);

/* Percent-encodes s for a query value into buf. Returns 0 or -ENAMETOOLONG. */
int kube_query_escape(const char *s, char *buf, size_t len);

#endif
