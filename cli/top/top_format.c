// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_format.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *title;
	int width, min; /* min 0: numeric, fixed width, right-aligned */
	bool keep_end; /* cut long values keeping the end (paths, ids), else the start */
} cols[TOP_COL_MAX] = {
	[TOP_COL_NODE] = { "NODE", 16, 10, false },
	[TOP_COL_NS] = { "NAMESPACE", 14, 9, false },
	[TOP_COL_POD] = { "POD", 20, 14, false },
	[TOP_COL_KIND] = { "KIND", 14, 10, false },
	[TOP_COL_WORKLOAD] = { "WORKLOAD", 34, 14, true },
	[TOP_COL_CPU] = { "CPU%", 6, 0, false },
	[TOP_COL_RUNQ] = { "RQP99", 7, 0, false },
	[TOP_COL_DISK_R] = { "DISK_R", 7, 0, false },
	[TOP_COL_DISK_W] = { "DISK_W", 7, 0, false },
	[TOP_COL_IOPS] = { "IOPS", 6, 0, false },
	[TOP_COL_FSYNC] = { "FSYNC", 6, 0, false },
	[TOP_COL_NET_RX] = { "NET_RX", 7, 0, false },
	[TOP_COL_NET_TX] = { "NET_TX", 7, 0, false },
	[TOP_COL_RETRANS] = { "RETR", 5, 0, false },
	[TOP_COL_MEM] = { "MEM", 7, 0, false },
	[TOP_COL_OOM] = { "OOM", 4, 0, false },
	[TOP_COL_REC] = { "REC", 11, 0, false },
	[TOP_COL_RELEASE] = { "RELEASE", 14, 10, false },
	[TOP_COL_FINDINGS] = { "FINDINGS", 16, 11, false },
};

void top_layout(int width, int widths[TOP_COL_MAX])
{
	/* On narrow screens these go first, in this order; pod, workload, CPU, disk writes,
	 * fsync, received bytes and findings stay. */
	static const enum top_col drop[] = { TOP_COL_KIND,   TOP_COL_RETRANS, TOP_COL_OOM,
					     TOP_COL_IOPS,   TOP_COL_RUNQ,    TOP_COL_NET_TX,
					     TOP_COL_DISK_R, TOP_COL_RELEASE, TOP_COL_NS };
	bool shown[TOP_COL_MAX];
	int fixed, pref, mins, n_drop = 0, all = -1;

	for (int i = 0; i < TOP_COL_MAX; i++) {
		widths[i] = cols[i].width;
		shown[i] = true;
		all += cols[i].width + 1;
	}
	widths[TOP_COL_NODE] = 0;
	shown[TOP_COL_NODE] = false;
	all -= cols[TOP_COL_NODE].width + 1;
	if (width <= 0)
		return;
	/* The recommendations only where every column has its preferred width: they never make
	 * another column narrower. */
	if (width < all)
		shown[TOP_COL_REC] = false;
	for (;;) {
		fixed = -1; /* n columns have n - 1 separators */
		pref = mins = 0;
		for (int i = 0; i < TOP_COL_MAX; i++) {
			if (!shown[i])
				continue;
			fixed++;
			if (cols[i].min) {
				pref += cols[i].width;
				mins += cols[i].min;
			} else {
				fixed += cols[i].width;
			}
		}
		if (width - fixed >= mins || n_drop == (int)(sizeof(drop) / sizeof(drop[0])))
			break;
		shown[drop[n_drop++]] = false;
	}
	for (int i = 0; i < TOP_COL_MAX; i++)
		widths[i] = shown[i] ? (cols[i].min ? cols[i].min : cols[i].width) : 0;
	if (width - fixed <= mins)
		return;
	if (width - fixed >= pref) {
		/* Room to spare: the names that get long (workload, pod) take it. */
		int extra = width - fixed - pref;

		for (int i = 0; i < TOP_COL_MAX; i++)
			widths[i] = shown[i] ? cols[i].width : 0;
		widths[TOP_COL_WORKLOAD] += extra / 2;
		widths[TOP_COL_POD] += extra - extra / 2;
		return;
	}
	/* Between: every text column gives up the same share of its slack. */
	{
		int avail = width - fixed - mins, slack = pref - mins, used = 0;

		for (int i = 0; i < TOP_COL_MAX; i++) {
			if (!shown[i] || !cols[i].min)
				continue;
			widths[i] = cols[i].min + (cols[i].width - cols[i].min) * avail / slack;
			used += widths[i];
		}
		widths[TOP_COL_WORKLOAD] += width - fixed - used;
	}
}

void top_layout_nodes(int width, int widths[TOP_COL_MAX])
{
	int w = cols[TOP_COL_NODE].width;

	top_layout(width > 0 ? width - w - 1 : width, widths);
	widths[TOP_COL_NODE] = w;
}

int top_sort_column(enum top_sort key)
{
	static const int by_key[TOP_SORT_MAX] = {
		[TOP_SORT_CPU] = TOP_COL_CPU,
		[TOP_SORT_RUNQ] = TOP_COL_RUNQ,
		[TOP_SORT_DISK] = TOP_COL_DISK_R,
		[TOP_SORT_IOPS] = TOP_COL_IOPS,
		[TOP_SORT_FSYNC] = TOP_COL_FSYNC,
		[TOP_SORT_NET] = TOP_COL_NET_RX,
		[TOP_SORT_RETRANS] = TOP_COL_RETRANS,
		[TOP_SORT_MEM] = TOP_COL_MEM,
		[TOP_SORT_NAME] = -1,
	};

	return (unsigned)key < TOP_SORT_MAX ? by_key[key] : -1;
}

int top_column_offset(const int widths[TOP_COL_MAX], enum top_col col)
{
	int off = 0;

	for (int i = 0; i < (int)col && i < TOP_COL_MAX; i++)
		off += widths[i] ? widths[i] + 1 : 0;
	return off;
}

/* Appends s in a cell of width w, "-" when empty, left-aligned for text, right-aligned for
 * numbers. A long value is cut with a '~' where text was dropped: at the start when keep_end
 * (paths and ids end in their distinctive part), else in the middle, keeping the last
 * '-'-separated part (a replica suffix "-k2j3h", an ordinal "-0") so that replicas differ. */
static size_t cell(char *buf, size_t size, size_t len, const char *s, int w, bool left,
		   bool keep_end, bool last)
{
	char tmp[1024];
	size_t n = strlen(s);
	int k;

	if (len >= size)
		return len;
	if (w <= 0 || w >= (int)sizeof(tmp))
		w = w <= 0 ? 1 : (int)sizeof(tmp) - 1;
	if (!n)
		snprintf(tmp, sizeof(tmp), "-");
	else if (n <= (size_t)w)
		snprintf(tmp, sizeof(tmp), "%s", s);
	else if (w == 1)
		snprintf(tmp, sizeof(tmp), "~");
	else if (keep_end)
		snprintf(tmp, sizeof(tmp), "~%s", s + n - (size_t)(w - 1));
	else {
		const char *dash = strrchr(s, '-');
		size_t tail = dash && dash != s ? n - (size_t)(dash - s) : 0;

		if (!tail || tail > (size_t)(w - 1) / 2)
			tail = (size_t)(w - 1) / 2;
		snprintf(tmp, sizeof(tmp), "%.*s~%s", w - 1 - (int)tail, s, s + n - tail);
	}
	if (left && last)
		k = snprintf(buf + len, size - len, "%s", tmp);
	else
		k = snprintf(buf + len, size - len, left ? "%-*s%s" : "%*s%s", w, tmp,
			     last ? "" : " ");
	if (k < 0)
		return len;
	return len + (size_t)k >= size ? size - 1 : len + (size_t)k;
}

char *top_format_title(const int widths[TOP_COL_MAX], char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < TOP_COL_MAX; i++) {
		if (widths[i])
			len = cell(buf, size, len, cols[i].title, widths[i], cols[i].min != 0,
				   false, i == TOP_COL_MAX - 1);
	}
	return buf;
}

char *top_fmt_bytes(double bps, char *buf, size_t size)
{
	static const char *const units[] = { "B", "K", "M", "G", "T" };
	int u = 0;

	while (bps >= 1000 && u < 4) {
		bps /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f%s" : "%.0f%s", bps, units[u]);
	return buf;
}

char *top_fmt_count(double v, char *buf, size_t size)
{
	if (v >= 1e6)
		snprintf(buf, size, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, size, "%.1fk", v / 1e3);
	else
		snprintf(buf, size, "%.1f", v);
	return buf;
}

char *top_fmt_seconds(double s, char *buf, size_t size)
{
	if (s <= 0)
		snprintf(buf, size, "0");
	else if (s < 1e-3)
		snprintf(buf, size, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(buf, size, "%.1fms", s * 1e3);
	else
		snprintf(buf, size, "%.2fs", s);
	return buf;
}

/* The cells of a row, as text; v and name hold the formatted ones. */
#define ROW_NAME_MAX 300

static void row_texts(const struct top_row *row, char marker, char v[TOP_COL_MAX][48],
		      char name[ROW_NAME_MAX], const char *text[TOP_COL_MAX])
{
	const struct top_pod *p = row->pod;
	const struct top_container *c = row->ctr;
	const struct top_rates *r = c ? &c->r : &p->r;

	if (c) {
		/* A container line: its name under the pod's, its id as the workload. */
		snprintf(name, ROW_NAME_MAX, "  %s%s%s", c->name[0] ? c->name : "(container)",
			 c->ports[0] ? " :" : "", c->ports);
		text[TOP_COL_NODE] = " "; /* blank, not "-": reads as "same as above" */
		text[TOP_COL_NS] = " ";
		text[TOP_COL_POD] = name;
		text[TOP_COL_KIND] = "container";
		text[TOP_COL_WORKLOAD] = c->id[0] ? c->id : c->cgroup_path;
		text[TOP_COL_RELEASE] = " ";
		text[TOP_COL_FINDINGS] = " ";
	} else {
		if (marker)
			snprintf(name, ROW_NAME_MAX, "%c%s", marker, p->pod);
		else
			snprintf(name, ROW_NAME_MAX, "%s", p->pod);
		text[TOP_COL_NODE] = p->node ? p->node : "";
		text[TOP_COL_NS] = p->ns;
		text[TOP_COL_POD] = name;
		text[TOP_COL_KIND] = p->kind;
		text[TOP_COL_WORKLOAD] = p->workload;
		text[TOP_COL_RELEASE] = p->release;
		text[TOP_COL_FINDINGS] = p->finding_ids;
	}
	snprintf(v[TOP_COL_CPU], sizeof(v[0]), "%.1f", r->cpu_pct);
	text[TOP_COL_CPU] = v[TOP_COL_CPU];
	text[TOP_COL_RUNQ] = top_fmt_seconds(r->runq_p99, v[TOP_COL_RUNQ], sizeof(v[0]));
	text[TOP_COL_DISK_R] = top_fmt_bytes(r->disk_r, v[TOP_COL_DISK_R], sizeof(v[0]));
	text[TOP_COL_DISK_W] = top_fmt_bytes(r->disk_w, v[TOP_COL_DISK_W], sizeof(v[0]));
	text[TOP_COL_IOPS] = top_fmt_count(r->iops, v[TOP_COL_IOPS], sizeof(v[0]));
	text[TOP_COL_FSYNC] = top_fmt_count(r->fsync, v[TOP_COL_FSYNC], sizeof(v[0]));
	text[TOP_COL_NET_RX] = top_fmt_bytes(r->net_rx, v[TOP_COL_NET_RX], sizeof(v[0]));
	text[TOP_COL_NET_TX] = top_fmt_bytes(r->net_tx, v[TOP_COL_NET_TX], sizeof(v[0]));
	text[TOP_COL_RETRANS] = top_fmt_count(r->retrans, v[TOP_COL_RETRANS], sizeof(v[0]));
	text[TOP_COL_MEM] = top_fmt_bytes(r->mem_ws, v[TOP_COL_MEM], sizeof(v[0]));
	snprintf(v[TOP_COL_OOM], sizeof(v[0]), "%.0f", r->oom_kills);
	text[TOP_COL_OOM] = v[TOP_COL_OOM];
	text[TOP_COL_REC] = top_fmt_rec(r->rec_cpu, r->rec_mem, v[TOP_COL_REC], sizeof(v[0]));
}

void top_layout_fit(const struct top_row *rows, size_t n, int widths[TOP_COL_MAX])
{
	bool nodes = false;

	for (int i = 0; i < TOP_COL_MAX; i++)
		widths[i] = (int)strlen(cols[i].title);
	for (size_t j = 0; j < n; j++) {
		char v[TOP_COL_MAX][48], name[ROW_NAME_MAX];
		const char *text[TOP_COL_MAX] = { 0 };

		row_texts(&rows[j], 0, v, name, text);
		for (int i = 0; i < TOP_COL_MAX; i++) {
			int l = (int)strlen(text[i]);

			if (l > widths[i])
				widths[i] = l < TOP_CELL_MAX ? l : TOP_CELL_MAX;
		}
		nodes |= rows[j].pod->node && rows[j].pod->node[0];
	}
	if (!nodes)
		widths[TOP_COL_NODE] = 0;
}

char *top_format_row(const struct top_row *row, const int widths[TOP_COL_MAX], char marker,
		     char *buf, size_t size)
{
	const struct top_container *c = row->ctr;
	char v[TOP_COL_MAX][48], name[ROW_NAME_MAX];
	const char *text[TOP_COL_MAX] = { 0 };
	size_t len = 0;

	row_texts(row, marker, v, name, text);
	buf[0] = '\0';
	for (int i = 0; i < TOP_COL_MAX; i++) {
		if (!widths[i])
			continue;
		len = cell(buf, size, len, text[i], widths[i], cols[i].min != 0,
			   cols[i].keep_end || (c && i == TOP_COL_WORKLOAD), i == TOP_COL_MAX - 1);
		if (len >= size - 1)
			break;
	}
	return buf;
}

char *top_fmt_evidence(const struct top_finding *fi, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < fi->n_ev && len + 1 < size; i++) {
		double v = fi->ev[i].value;
		/* Whole numbers (bytes, ports, counts) in full; the rest to 4 significant digits. */
		int n = v == floor(v) && fabs(v) < 1e15 ?
				snprintf(buf + len, size - len, "%s%s=%.0f", i ? " " : "",
					 fi->ev[i].name, v) :
				snprintf(buf + len, size - len, "%s%s=%.4g", i ? " " : "",
					 fi->ev[i].name, v);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

char *top_fmt_rec(double cpu, double mem, char *buf, size_t size)
{
	char c[16], m[16];

	if (!(cpu > 0)) {
		snprintf(buf, size, "-");
		return buf;
	}
	if (cpu < 1)
		snprintf(c, sizeof(c), "%.0fm", cpu * 1000);
	else
		snprintf(c, sizeof(c), "%.1f", cpu);
	if (!(mem > 0))
		snprintf(m, sizeof(m), "-");
	else if (mem < 1024.0 * 1024 * 1024)
		snprintf(m, sizeof(m), "%.0fMi", mem / (1024.0 * 1024));
	else
		snprintf(m, sizeof(m), "%.1fGi", mem / (1024.0 * 1024 * 1024));
	snprintf(buf, size, "%s/%s", c, m);
	return buf;
}
