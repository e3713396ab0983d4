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
/* The parts of the exposition the protobuf encoder (prom_proto.h) shares with the text. */
#define PROM_INFO_NAME "bpfdiag_container_info"
#define PROM_INFO_HELP                                                    \
	"Identity of a container's series, always 1: join on namespace, " \
	"pod and container for pod_uid and container_id."
/* The six SPEC §6 labels every per-container sample carries (series_label_names[0, 6)); the
 * identity labels after them are only on PROM_INFO_NAME. */
#define PROM_SERIES_LABELS (LBL_HELM_RELEASE + 1)
/* True when se has a row of PROM_INFO_NAME (a pod UID or a container id). */
bool prom_has_identity(const struct snap_series *se);
/* Sets hidden[i] for each series of s superseded by a newer one with the same six labels
 * (hidden: s->n_series entries, false on entry). Returns how many, or -ENOMEM. */
int prom_superseded(const struct snapshot *s, bool *hidden);
/* What both encoders keep while they write the container families of a snapshot. */
struct prom_walk {
	size_t *cursor; /* per series: its next point; points are ordered by metric id */
	bool *hidden; /* per series: superseded by a newer series with the same six labels */
	size_t superseded;
	struct strbuf lbl; /* per series: its six labels as the encoder writes them, once */
	size_t *lbl_off; /* series i's are lbl.data[lbl_off[i], lbl_off[i + 1]) */
};
/* Sets w up for s, each series' label block written by block. Returns 0 or -ENOMEM (w is then
 * freed). */
int prom_walk_init(struct prom_walk *w, const struct snapshot *s,
		   void (*block)(struct strbuf *out, const struct snap_series *se));
void prom_walk_free(struct prom_walk *w);
/* Appends what follows the container families in text: findings, the agent's metrics from s
 * (superseded: the series left out), the Kubernetes client's. */
void prom_tail(const struct snapshot *s, size_t superseded, struct strbuf *out);
/* Appends v as a label value: backslash, double quote and newline escaped. */
void prom_escape_label(struct strbuf *out, const char *v);
/* Appends v as HELP text: backslash and newline escaped. */
void prom_escape_help(struct strbuf *out, const char *v);

#endif
