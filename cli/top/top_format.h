/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top's table: column layout for a terminal's width (or to fit every value whole),
 * title and row lines, and the human forms of rates, durations and evidence. Pure; the
 * plain-text and the full-screen views share it. */
#ifndef BPFDIAG_TOP_FORMAT_H
#define BPFDIAG_TOP_FORMAT_H

#include <stddef.h>

#include "top/top_model.h"
#include "top/top_rows.h"

enum top_col {
	TOP_COL_NODE = 0, /* a cluster's model only (top_layout_nodes) */
	TOP_COL_NS,
	TOP_COL_POD,
	TOP_COL_KIND,
	TOP_COL_WORKLOAD,
	TOP_COL_CPU,
	TOP_COL_RUNQ,
	TOP_COL_DISK_R,
	TOP_COL_DISK_W,
	TOP_COL_IOPS,
	TOP_COL_FSYNC,
	TOP_COL_NET_RX,
	TOP_COL_NET_TX,
	TOP_COL_RETRANS,
	TOP_COL_MEM,
	TOP_COL_OOM,
	TOP_COL_REC,
	TOP_COL_RELEASE,
	TOP_COL_FINDINGS,
	TOP_COL_MAX,
};

/* Column widths for a line of width characters (0: the plain-text defaults, all columns).
 * Text columns share what the numeric ones leave, never below their minimum; when even that
 * does not fit, less important columns are hidden (width 0) until it does. */
/* The recommended requests "120m/96Mi" (CPU cores, memory bytes), "-" when there is none. */
char *top_fmt_rec(double cpu, double mem, char *buf, size_t size);
void top_layout(int width, int widths[TOP_COL_MAX]);
/* The same with the NODE column first, for a cluster's model (top_layout hides it). */
void top_layout_nodes(int width, int widths[TOP_COL_MAX]);
/* Column widths that fit every row's content whole (text output without a terminal, rows
 * formatted without a marker): each column as wide as its longest value or its title, up to
 * TOP_CELL_MAX; NODE only when a row has a node. */
#define TOP_CELL_MAX 1000
void top_layout_fit(const struct top_row *rows, size_t n, int widths[TOP_COL_MAX]);
/* The column a sort key orders by, or -1 (name). */
int top_sort_column(enum top_sort key);
/* The table's title line. Returns buf. */
char *top_format_title(const int widths[TOP_COL_MAX], char *buf, size_t size);
/* One table line for a row; marker (may be 0) precedes the pod name: '+'/'-' for a
 * collapsed/expanded pod. Returns buf. */
char *top_format_row(const struct top_row *row, const int widths[TOP_COL_MAX], char marker,
		     char *buf, size_t size);
/* Byte offset of a column in lines formatted with widths. */
int top_column_offset(const int widths[TOP_COL_MAX], enum top_col col);

/* Human forms used in tables and headers. Each returns buf. */
char *top_fmt_bytes(double bps, char *buf, size_t size); /* "512B", "1.5K", "3.2M" */
char *top_fmt_count(double v, char *buf, size_t size); /* "0.0", "12.5", "1.2k" */
char *top_fmt_seconds(double s, char *buf, size_t size); /* "850us", "1.2ms", "2.05s" */
/* "fsync_per_second=12.5 listening_port=5432" into buf. Returns buf. */
char *top_fmt_evidence(const struct top_finding *fi, char *buf, size_t size);

#endif
