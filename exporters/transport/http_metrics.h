/* SPDX-License-Identifier: BSD-2-Clause */
/* The /metrics body written as libmicrohttpd sends it: the exposition rendered a part at a time
 * (prom_stream), gzip-compressed as it goes when the client asked, never held whole. */
#ifndef BPFDIAG_HTTP_METRICS_H
#define BPFDIAG_HTTP_METRICS_H

#include <microhttpd.h>
#include <stdbool.h>

#include "codec/selfmetrics.h"
#include "model/snapshot.h"

/* Text rendered per step; gzip makes about a tenth of it. */
#define HTTP_METRICS_PART (32u << 10)

/* A response streaming s (chunked transfer encoding), with the agent's self-metrics (stats,
 * may be NULL) at the end. It takes over the reference to s and one slot of the render gate
 * (*gate, left when libmicrohttpd frees the response). Returns NULL when out of memory; the
 * caller keeps both then. */
struct MHD_Response *http_metrics_response(struct snapshot *s, bool gzip, struct selfmetrics *stats,
					   int *gate);

/* The exposition as delimited MetricFamily protobuf (codec/prom_proto.h), self-metrics included,
 * appended to out. Returns 0 or a negative errno. Rendered whole: the messages are about a
 * third of the text. */
int http_metrics_proto(const struct snapshot *s, struct selfmetrics *stats, struct strbuf *out);

#endif
