/* SPDX-License-Identifier: BSD-2-Clause */
/* The Prometheus protobuf exposition format (io.prometheus.client.MetricFamily, varint-length
 * delimited), offered when a scraper asks for it: the same families as the text format, and
 * the latency histograms as native histograms (schema 0) besides their classic buckets.
 * A codec: no I/O. */
#ifndef BPFDIAG_PROM_PROTO_H
#define BPFDIAG_PROM_PROTO_H

#include <stdbool.h>

#include "base/strbuf.h"
#include "model/snapshot.h"

#define PROM_PROTO_CONTENT_TYPE                                                      \
	"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; " \
	"encoding=delimited"

/* True when an Accept header asks for the delimited MetricFamily protobuf (with a q above that
 * of any text format it also lists). */
bool prom_proto_accepted(const char *accept);

/* Appends the exposition text (as prom_stream renders it with PROM_STREAM_SLOTS) converted to
 * delimited MetricFamily messages to out. A histogram whose buckets are the kernel's log2 slots
 * (model/histogram.h) becomes a native histogram of schema 0, its classic buckets folded as
 * the catalogue exports them. Returns 0, -ENOMEM, or -EINVAL on text it cannot read. */
int prom_proto_from_text(const char *text, size_t len, struct strbuf *out);

/* The exposition written a part at a time straight from the snapshot (no text in between for
 * the container families): the same messages, byte for byte, as prom_proto_from_text makes of
 * prom_stream's PROM_STREAM_SLOTS text. The agent's own families at the end are rendered as
 * text and converted (one encoder for them); more, when set, appends further text families
 * there (the exporters' self-metrics). The stream reads s, which must outlive it. */
typedef void prom_text_fn(void *ctx, struct strbuf *text);
struct prom_proto_stream;
struct prom_proto_stream *prom_proto_stream_new(const struct snapshot *s,
						const struct metric_desc *cat, size_t n_cat,
						prom_text_fn *more, void *ctx);
/* Appends the next part, about want bytes or more, to out. Returns 1 while more is to come, 0
 * when complete, -ENOMEM (or -EINVAL from the conversion). */
int prom_proto_stream_next(struct prom_proto_stream *ps, struct strbuf *out, size_t want);
struct prom_proto_stream *prom_proto_stream_free(struct prom_proto_stream *ps);

/* Native schema-0 buckets of the kernel's slots: slot k (upper bound 2^k × 1.024 µs) goes to
 * bucket k - 20, whose upper bound 2^(k-20) s is the slot's divided by 1.073741824 (the
 * boundary error documented in docs/METRICS.md). */
#define PROM_NATIVE_SLOT_OFFSET (-20)

#endif
