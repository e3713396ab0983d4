/* SPDX-License-Identifier: BSD-2-Clause */
/* The OTLP/HTTP transport: a thread of its own that POSTs the latest snapshot every interval.
 *
 * Nothing is queued. Counters are cumulative, so the newest snapshot carries everything the
 * ones before it did: a failed export loses nothing, and memory stays the same however long the
 * receiver is away. 429/502/503/504 and connection failures are retried with exponential
 * backoff and jitter (or after Retry-After), each retry with the newest totals; other answers
 * and partial successes are not retried. The collection loop never waits for this thread. */
#ifndef BPFDIAG_OTLP_SENDER_H
#define BPFDIAG_OTLP_SENDER_H

#include <stddef.h>

#include "transport/otlp_config.h"
#include "codec/selfmetrics.h"
#include "model/snapshot.h"

#define OTLP_BACKOFF_CAP 30.0 /* seconds; or the interval when that is longer */
#define OTLP_RETRY_AFTER_MAX 300.0 /* seconds a Retry-After may ask for */
#define OTLP_MAX_RESPONSE (64u << 10) /* answer bytes read; more is a protocol error */
#define OTLP_FLUSH_TIMEOUT 2.0 /* seconds for the last export at shutdown */

enum otlp_log_level { OTLP_LOG_ERROR = 0, OTLP_LOG_WARN, OTLP_LOG_INFO, OTLP_LOG_DEBUG };

struct otlp_sender_ops {
	/* Returns a new reference to the latest snapshot, or NULL before the first collection. */
	struct snapshot *(*snapshot)(void *ctx);
	/* Where the sender's few lines go (a state change each: failing, recovered, partial). */
	void (*log)(void *ctx, enum otlp_log_level level, const char *line);
	void *ctx;
};

struct otlp_sender;

/* Starts the sender thread. c is borrowed until otlp_sender_stop. Returns 0, or a negative
 * errno with a reason in err. */
int otlp_sender_start(const struct otlp_config *c, const struct otlp_sender_ops *ops,
		      struct selfmetrics *stats, struct otlp_sender **ret, char *err,
		      size_t errlen);
/* Stops the thread (an export in progress is abandoned; when the receiver was answering, one
 * last export of the newest snapshot is tried for up to OTLP_FLUSH_TIMEOUT), joins and frees.
 * Accepts NULL; returns NULL. */
struct otlp_sender *otlp_sender_stop(struct otlp_sender *s);

#endif
