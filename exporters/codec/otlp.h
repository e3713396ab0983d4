/* SPDX-License-Identifier: BSD-2-Clause */
/* OTLP/protobuf metrics (ExportMetricsServiceRequest) encoded from a snapshot, and the
 * ExportMetricsServiceResponse decoded. A codec: no I/O, no logging. */
#ifndef BPFDIAG_OTLP_H
#define BPFDIAG_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/metrics.h"
#include "model/snapshot.h"

#define OTLP_CONTENT_TYPE "application/x-protobuf"
#define OTLP_SCOPE_NAME "bpfdiag"

/* A string attribute; the encoder borrows both strings. */
struct otlp_attr {
	const char *key;
	const char *value;
};

struct otlp_encode_opts {
	/* Attributes every resource carries (service.name, OTEL_RESOURCE_ATTRIBUTES); a container's
	 * own attributes (k8s.pod.name, …) win over one of the same key. */
	const struct otlp_attr *resource;
	size_t n_resource;
	/* The catalogue the snapshot's metric ids index; NULL: metric_descs (tests pass their own). */
	const struct metric_desc *catalogue;
	size_t n_catalogue;
};

struct otlp_payload {
	uint8_t *data; /* the packed request; free() it */
	size_t len;
	size_t n_resources; /* ResourceMetrics: one per series with points */
	size_t n_points; /* data points, histogram points included */
};

/* Encodes s: one ResourceMetrics per series (k8s.* / container.id / helm.* resource attributes,
 * empty ones omitted), one ScopeMetrics, one Metric per family with a data point per own-label
 * set. Counters are cumulative monotonic Sums from the series' start, gauges Gauges,
 * histograms explicit-bucket Histograms. Returns 0, -ENOMEM, or -EINVAL when a point names a
 * metric outside the catalogue. On error *ret is untouched. */
int otlp_encode(const struct snapshot *s, const struct otlp_encode_opts *opts,
		struct otlp_payload *ret);

/* Resource attribute key for a workload kind ("Deployment" → "k8s.deployment.name"), or NULL
 * for kinds without a semantic-convention attribute (bare pods, local mode). */
const char *otlp_workload_attr(const char *kind);

/* Decodes an ExportMetricsServiceResponse body (len 0 is a valid empty answer). Sets
 * *ret_rejected to partial_success.rejected_data_points and copies its error_message into msg
 * (truncated; "" when none). Returns 0, or -EBADMSG when the body does not decode. */
int otlp_decode_response(const uint8_t *buf, size_t len, int64_t *ret_rejected, char *msg,
			 size_t msglen);
/* The same from the first len bytes of a longer body (an answer past the size cap): finds
 * partial_success.rejected_data_points when it comes before the rest (encoders write fields in
 * number order, so before error_message however long that is) and copies what arrived of the
 * message. Returns 0 when the count was found, else -EBADMSG. */
int otlp_decode_response_prefix(const uint8_t *buf, size_t len, int64_t *ret_rejected, char *msg,
				size_t msglen);

#endif
