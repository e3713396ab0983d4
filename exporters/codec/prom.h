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
/* Appends v as a label value: backslash, double quote and newline escaped. */
void prom_escape_label(struct strbuf *out, const char *v);
/* Appends v as HELP text: backslash and newline escaped. */
void prom_escape_help(struct strbuf *out, const char *v);

#endif
