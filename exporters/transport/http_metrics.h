/* SPDX-License-Identifier: BSD-2-Clause */
/* The /metrics body written as libmicrohttpd sends it: the exposition rendered a part at a time
 * (prom_stream, prom_proto_stream), gzip-compressed as it goes when the client asked, never held whole. */
#ifndef BPFDIAG_HTTP_METRICS_H
#define BPFDIAG_HTTP_METRICS_H

#include <microhttpd.h>
#include <stdbool.h>

#include "codec/selfmetrics.h"
#include "model/snapshot.h"

/* Text rendered per step; gzip makes about a tenth of it. */
#define HTTP_METRICS_PART (32u << 10)

/* A response streaming s (chunked transfer encoding) as text, or as delimited MetricFamily
 * protobuf when proto (codec/prom_proto.h), with the agent's self-metrics (stats, may be
 * NULL) at the end. It takes over the reference to s and one slot of the render gate (*gate,
 * left when libmicrohttpd frees the response). Returns NULL when out of memory; the caller
 * keeps both then. */
struct MHD_Response *http_metrics_response(struct snapshot *s, bool proto, bool gzip,
					   struct selfmetrics *stats, int *gate);

#endif
