/* SPDX-License-Identifier: BSD-2-Clause */
/* Prometheus text exposition format 0.0.4, rendered from a snapshot. A codec: no I/O. */
#ifndef BPFDIAG_PROM_H
#define BPFDIAG_PROM_H

#include "base/strbuf.h"
#include "model/snapshot.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the whole exposition of s to out. Returns 0, or -ENOMEM when out failed to grow. */
int prom_encode(const struct snapshot *s, struct strbuf *out);
/* The same over another catalogue (tests): the snapshot's metric ids index cat[0, n_cat). */
int prom_encode_catalogue(const struct snapshot *s, const struct metric_desc *cat, size_t n_cat,
			  struct strbuf *out);
/* The exposition rendered a part at a time (an HTTP response written as it goes). The stream
 * reads s, which must outlive it. */
struct prom_stream;
/* Histograms with every bound of the point (the kernel's slots), not the catalogue's folded
 * buckets: the input of prom_proto_from_text. */
#define PROM_STREAM_SLOTS 1u
struct prom_stream *prom_stream_new(const struct snapshot *s, const struct metric_desc *cat,
				    size_t n_cat, unsigned flags);
/* Appends the next part, about want bytes or more, to out. Returns 1 while more is to come, 0
 * when the exposition is complete, -ENOMEM when out failed to grow. */
int prom_stream_next(struct prom_stream *ps, struct strbuf *out, size_t want);
struct prom_stream *prom_stream_free(struct prom_stream *ps);
/* Appends v as a label value: backslash, double quote and newline escaped. */
void prom_escape_label(struct strbuf *out, const char *v);
/* Appends v as HELP text: backslash and newline escaped. */
void prom_escape_help(struct strbuf *out, const char *v);

#endif
