/* SPDX-License-Identifier: BSD-2-Clause */
/* The watch stream splitter (kube_stream.c): pure, no I/O, fuzzed. */
#ifndef BPFDIAG_KUBE_STREAM_H
#define BPFDIAG_KUBE_STREAM_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Splits a byte stream (a chunked watch response) into top-level JSON values, feeding them
 * to json-c's incremental tokener as they arrive, whatever the chunk boundaries. A value
 * over max_value bytes is skipped without being buffered. */
struct kube_stream;

/* Called per value: (value, 0) — value is borrowed and released after the call; (NULL,
 * -E2BIG) for a value over the cap; (NULL, -EBADMSG) for a value json-c rejects. A non-zero
 * return stops kube_stream_feed, which returns it. */
typedef int (*kube_stream_fn)(void *ctx, json_object *value, int err);

/* Returns a new splitter, or NULL. */
struct kube_stream *kube_stream_new(size_t max_value);
/* Accepts NULL; returns NULL. */
struct kube_stream *kube_stream_free(struct kube_stream *s);
/* A value still going after max bytes (over the skip cap max_value, scanned so far) makes
 * kube_stream_feed fail: it would otherwise be scanned for ever. 0: no limit (the default). */
void kube_stream_set_line_max(struct kube_stream *s, size_t max);
/* Feeds len bytes. Returns 0, fn's non-zero return, -EBADMSG when the stream is not a
 * sequence of JSON objects (bytes outside any value other than whitespace), or -EMSGSIZE when
 * the current value passed the line limit (checked at least every MiB as bytes arrive). The
 * stream is then partial until kube_stream_reset. */
int kube_stream_feed(struct kube_stream *s, const char *buf, size_t len, kube_stream_fn fn,
		     void *ctx);
/* True when a value has begun and not ended: a stream closing now was truncated. */
bool kube_stream_partial(const struct kube_stream *s);
/* Forgets any partial value (for a new connection). */
void kube_stream_reset(struct kube_stream *s);

#endif
