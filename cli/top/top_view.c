// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_view.h"
#include "base/clock.h"
#include "top/top_format.h"
#include "top/top_health.h"
#include "top/top_merge.h"
#include "top/top_panel.h"

#include <curses.h>
#include <term.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024
#define HEADER_LINES 5
#define NOTHING_NEW_WAIT \
	0.1 /* seconds before asking a background source again */ /* title, totals, health, findings/sort/filters, column titles */

/* Colour pairs; every one of them also carries a non-colour cue (a word, bold, reverse). */
enum { PAIR_TITLE = 1, PAIR_BAD, PAIR_WARN, PAIR_OK, PAIR_INFO };

enum prompt { PROMPT_NONE = 0, PROMPT_TEXT, PROMPT_NS, PROMPT_RELEASE };

struct view {
	struct top_source *src;
	const struct top_view_opts *o;
	struct top_snapshot *snap;
	struct top_row *rows;
	size_t n_rows;
	enum top_sort sort;
	struct top_keyset expanded;
	char text[128], ns[128], release[128]; /* filters, "" for none */
	char sel_key[512]; /* selected row: pod key, then a tab and the container id */
	size_t sel, top;
	bool findings_open, help_open, color, quit;
	size_t findings_top;
	enum prompt prompt;
	char edit[128];
	char error[512]; /* the last fetch error, "" when the last fetch worked */
	double fetched_at; /* wall time of the snapshot on screen */
};

static attr_t pair_attr(const struct view *v, int pair)
{
	return v->color ? COLOR_PAIR(pair) : 0;
}

/* Colour and a non-colour cue for a severity: high and critical are also bold. */
static attr_t severity_attr(const struct view *v, enum top_severity sev)
{
	switch (sev) {
	case TOP_SEV_CRITICAL:
	case TOP_SEV_HIGH:
		return pair_attr(v, PAIR_BAD) | A_BOLD;
	case TOP_SEV_MEDIUM:
		return pair_attr(v, PAIR_WARN);
	case TOP_SEV_LOW:
	case TOP_SEV_INFO:
		return pair_attr(v, PAIR_INFO);
	case TOP_SEV_NONE:
		break;
	}
	return A_NORMAL;
}

static void row_key(const struct top_row *r, char *buf, size_t size)
{
	snprintf(buf, size, "%s\t%s", r->pod->key, r->ctr ? r->ctr->id : "");
}

static struct top_filter filter_of(const struct view *v)
{
	return (struct top_filter){ .text = v->text, .ns = v->ns, .release = v->release };
}

/* Rebuilds the rows from the snapshot, keeping the selection on the same pod or container. */
static void rebuild(struct view *v)
{
	struct top_filter f = filter_of(v);
	struct top_row *rows = NULL;
	size_t n = 0;
	char key[512];

	if (!v->snap)
		return;
	if (top_rows_build(v->snap, v->sort, &f, &v->expanded, &rows, &n)) {
		snprintf(v->error, sizeof(v->error), "out of memory");
		return;
	}
	free(v->rows);
	v->rows = rows;
	v->n_rows = n;
	for (size_t i = 0; i < n && v->sel_key[0]; i++) {
		row_key(&rows[i], key, sizeof(key));
		if (strcmp(key, v->sel_key) == 0) {
			v->sel = i;
			return;
		}
	}
	if (v->sel >= n)
		v->sel = n ? n - 1 : 0;
	if (n)
		row_key(&rows[v->sel], v->sel_key, sizeof(v->sel_key));
}

static void select_row(struct view *v, long delta)
{
	long s = (long)v->sel + delta;

	if (!v->n_rows)
		return;
	if (s < 0)
		s = 0;
	if (s >= (long)v->n_rows)
		s = (long)v->n_rows - 1;
	v->sel = (size_t)s;
	row_key(&v->rows[v->sel], v->sel_key, sizeof(v->sel_key));
}

/* Returns false when the source had nothing new (ask again shortly). */
static bool fetch(struct view *v)
{
	struct top_snapshot *s = NULL;
	char err[512];
	int r = top_source__fetch(v->src, &s, NULL, err, sizeof(err));

	if (r == -EAGAIN)
		return false; /* a source polling in the background has nothing new yet */
	if (r) {
		snprintf(v->error, sizeof(v->error), "%s", err);
		return true;
	}
	top_snapshot_free(v->snap);
	v->snap = s;
	v->error[0] = '\0';
	v->fetched_at = clock_unix();
	rebuild(v);
	return true;
}

/* Writes s at (y, x), clipped to the screen width, with attr. */
static void put(int y, int x, attr_t attr, const char *s)
{
	int w = COLS - x;

	if (y < 0 || y >= LINES || w <= 0)
		return;
	attron(attr);
	mvaddnstr(y, x, s, w);
	attroff(attr);
}

static int putf(int y, int x, attr_t attr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* printf into the screen at (y, x); returns the column after the text. */
static int putf(int y, int x, attr_t attr, const char *fmt, ...)
{
	char buf[LINE_MAX_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	put(y, x, attr, buf);
	return x + (int)strlen(buf);
}

static void draw_header(struct view *v, int widths[TOP_COL_MAX])
{
	const struct top_snapshot *s = v->snap;
	char t[32], b[6][24], line[LINE_MAX_BYTES];
	time_t tt = (time_t)v->fetched_at;
	double stale_after = fmax(15, 3 * v->o->interval);
	int x, hl, sc;
	size_t nf = 0, by_sev[TOP_SEV_CRITICAL + 1] = { 0 };

	strftime(t, sizeof(t), "%H:%M:%S", localtime(&tt));
	/* Line 0: what this is, where the data comes from. */
	attron(pair_attr(v, PAIR_TITLE) | A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	attroff(pair_attr(v, PAIR_TITLE) | A_REVERSE);
	if (s && s->n_nodes)
		snprintf(line, sizeof(line), "%zu nodes", s->n_nodes);
	else
		snprintf(line, sizeof(line), "node %s", s && s->node[0] ? s->node : "?");
	putf(0, 0, pair_attr(v, PAIR_TITLE) | A_REVERSE | A_BOLD,
	     " bpfdiag top  %s  %s  %s  every %gs", line, top_source__name(v->src), t,
	     v->o->interval);
	if (!s) {
		if (v->error[0])
			putf(2, 0, pair_attr(v, PAIR_BAD) | A_BOLD, "UNREACHABLE: %s (retrying)",
			     v->error);
		else
			put(2, 0, A_BOLD,
			    top_source__in_process(v->src) ?
				    "starting the in-process collector..." :
				    "reading the agent(s)...");
		return;
	}
	/* Line 1: node totals. */
	putf(1, 0, A_NORMAL,
	     "CPU %.1f%%  runq p99 %s  disk r %s/s w %s/s  iops %.1f  fsync %.1f/s  net rx %s/s "
	     "tx %s/s  retrans %.1f/s  pods %zu",
	     s->total.cpu_pct, top_fmt_seconds(s->total.runq_p99, b[0], sizeof(b[0])),
	     top_fmt_bytes(s->total.disk_r, b[1], sizeof(b[1])),
	     top_fmt_bytes(s->total.disk_w, b[2], sizeof(b[2])), s->total.iops, s->total.fsync,
	     top_fmt_bytes(s->total.net_rx, b[3], sizeof(b[3])),
	     top_fmt_bytes(s->total.net_tx, b[4], sizeof(b[4])), s->total.retrans, s->n_pods);
	/* Line 2: agent health, or why there is none (a cluster's: the agents that answered and
	 * the nodes whose did not); a fetch error overrides. */
	if (s->n_nodes)
		hl = top_nodes_line(s, line, sizeof(line));
	else
		hl = top_health_line(s, clock_unix(), stale_after, line, sizeof(line));
	x = putf(2, 0, A_NORMAL, "%s ",
		 s->n_nodes			? "agents" :
		 top_source__in_process(v->src) ? "collector" :
						  "agent");
	if (v->error[0]) {
		putf(2, x, pair_attr(v, PAIR_BAD) | A_BOLD,
		     "UNREACHABLE: %s (retrying; data from %s)", v->error, t);
	} else {
		char *colon = strchr(line, ':');
		size_t wl = colon ? (size_t)(colon - line) : 0;

		attron(A_BOLD | pair_attr(v, hl == 0 ? PAIR_OK : hl == 1 ? PAIR_WARN : PAIR_BAD));
		mvaddnstr(2, x, line, (int)wl);
		attroff(A_BOLD | pair_attr(v, hl == 0 ? PAIR_OK : hl == 1 ? PAIR_WARN : PAIR_BAD));
		put(2, x + (int)wl, A_NORMAL, line + wl);
	}
	/* Line 3: findings summary, sort key, filters. */
	if (s->findings_known) {
		struct top_filter f = filter_of(v);

		for (size_t i = 0; i < s->n_findings; i++) {
			if (top_finding_matches(&s->findings[i], &f)) {
				nf++;
				by_sev[s->findings[i].sev]++;
			}
		}
		x = putf(3, 0, nf ? A_BOLD : A_NORMAL, "findings %zu", nf);
		for (int sev = TOP_SEV_CRITICAL, first = 1; sev >= TOP_SEV_INFO; sev--) {
			if (!by_sev[sev])
				continue;
			x = putf(3, x, A_NORMAL, first ? ": " : ", ");
			x = putf(3, x, severity_attr(v, (enum top_severity)sev), "%zu %s",
				 by_sev[sev], top_severity_tag((enum top_severity)sev));
			first = 0;
		}
	} else {
		x = putf(3, 0, A_NORMAL, "findings %s", s->findings_note);
	}
	x = putf(3, x, A_NORMAL, "  |  sort ");
	x = putf(3, x, A_BOLD, "%s", top_sort_name(v->sort));
	x = putf(3, x, A_NORMAL, "  |  filter ");
	if (!v->ns[0] && !v->release[0] && !v->text[0]) {
		putf(3, x, A_NORMAL, "none  |  %zu rows", v->n_rows);
	} else {
		char f[512];
		int n = snprintf(f, sizeof(f), "%s%s%s", v->ns[0] ? " ns=" : "", v->ns,
				 v->release[0] ? " release=" : "");

		snprintf(f + n, sizeof(f) - (size_t)n, "%s%s%s", v->release,
			 v->text[0] ? " text=" : "", v->text);
		x = putf(3, x, A_BOLD, "%s", f + 1);
		putf(3, x, A_NORMAL, "  |  %zu rows", v->n_rows);
	}
	/* Line 4: column titles, the sort column underlined (and named on line 3). */
	top_format_title(widths, line, sizeof(line));
	attron(A_REVERSE);
	mvhline(4, 0, ' ', COLS);
	attroff(A_REVERSE);
	put(4, 0, A_REVERSE | A_BOLD, line);
	sc = top_sort_column(v->sort);
	if (sc >= 0) {
		int off = top_column_offset(widths, (enum top_col)sc);
		int w = widths[sc] +
			(sc == TOP_COL_NET_RX || sc == TOP_COL_DISK_R ? widths[sc + 1] + 1 : 0);

		if (widths[sc] && off < COLS)
			mvchgat(4, off, w, A_REVERSE | A_BOLD | A_UNDERLINE, 0, NULL);
	}
}

static void draw_rows(struct view *v, const int widths[TOP_COL_MAX], int y0, int y1)
{
	char line[LINE_MAX_BYTES];
	int visible = y1 - y0;

	if (visible <= 0)
		return;
	if (!v->n_rows) {
		put(y0, 0, A_NORMAL,
		    v->text[0] || v->ns[0] || v->release[0] ?
			    "no pod matches the filter (c clears it)" :
			    "no pods or cgroups with activity yet");
		return;
	}
	if (v->sel < v->top)
		v->top = v->sel;
	if (v->sel >= v->top + (size_t)visible)
		v->top = v->sel - (size_t)visible + 1;
	if (v->top + (size_t)visible > v->n_rows)
		v->top = v->n_rows > (size_t)visible ? v->n_rows - (size_t)visible : 0;
	for (int i = 0; i < visible && v->top + (size_t)i < v->n_rows; i++) {
		size_t idx = v->top + (size_t)i;
		const struct top_row *r = &v->rows[idx];
		char marker = r->ctr ? 0 : top_keyset_has(&v->expanded, r->pod->key) ? '-' : '+';
		attr_t base = idx == v->sel ? A_REVERSE : A_NORMAL;
		int y = y0 + i;

		top_format_row(r, widths, marker, line, sizeof(line));
		if (idx == v->sel) {
			attron(A_REVERSE);
			mvhline(y, 0, ' ', COLS);
			attroff(A_REVERSE);
		}
		put(y, 0, base | (r->ctr ? A_DIM : A_NORMAL), line);
		if (!r->ctr && r->pod->r.cpu_pct >= 50) {
			int off = top_column_offset(widths, TOP_COL_CPU);

			if (widths[TOP_COL_CPU] && off < COLS)
				mvchgat(y, off, widths[TOP_COL_CPU], base | A_BOLD, 0, NULL);
		}
		if (!r->ctr && r->pod->worst != TOP_SEV_NONE) {
			int off = top_column_offset(widths, TOP_COL_FINDINGS);
			attr_t a = severity_attr(v, r->pod->worst) | base;

			if (widths[TOP_COL_FINDINGS] && off < COLS)
				mvchgat(y, off, widths[TOP_COL_FINDINGS], a & ~A_COLOR,
					PAIR_NUMBER(a & A_COLOR), NULL);
		}
	}
}

static void draw_findings(struct view *v, int y0, int y1)
{
	const struct top_snapshot *s = v->snap;
	struct top_filter f = filter_of(v);
	struct top_panel p = { 0 };
	char line[LINE_MAX_BYTES], ev[LINE_MAX_BYTES];
	size_t shown = 0;
	int rows = y1 - y0 - 1;

	attron(A_REVERSE);
	mvhline(y0, 0, ' ', COLS);
	attroff(A_REVERSE);
	for (size_t i = 0; s && s->findings_known && i < s->n_findings; i++) {
		const struct top_finding *fi = &s->findings[i];

		if (!top_finding_matches(fi, &f))
			continue;
		shown++;
		p.cur = severity_attr(v, fi->sev) | A_BOLD;
		snprintf(line, sizeof(line), "%-4s %-6s %s%s%s/%s%s%s%s%s  since %s%s%s",
			 top_severity_tag(fi->sev)[0] ? top_severity_tag(fi->sev) : fi->severity,
			 fi->rule, fi->ns, fi->ns[0] ? " " : "", fi->kind, fi->workload,
			 fi->release[0] ? "  release " : "", fi->release,
			 fi->suggested[0] ? "  -> " : "", fi->suggested,
			 fi->since[0] ? fi->since : "?", fi->node ? "  node " : "",
			 fi->node ? fi->node : "");
		top_panel_add(&p, line);
		p.cur = A_NORMAL;
		top_panel_wrap(&p, fi->message, COLS - 8);
		if (fi->n_ev) {
			snprintf(line, sizeof(line), "evidence: %s",
				 top_fmt_evidence(fi, ev, sizeof(ev)));
			p.cur = A_DIM;
			top_panel_wrap(&p, line, COLS - 8);
		}
	}
	putf(y0, 0, A_REVERSE | A_BOLD, " FINDINGS %zu%s  (up/down/PgUp/PgDn scroll, f close)",
	     shown, s && !s->findings_known ? "" : " shown");
	if (s && !s->findings_known)
		putf(y0 + 1, 0, A_NORMAL, "findings %s", s->findings_note);
	else if (!shown)
		put(y0 + 1, 0, A_NORMAL, "no findings for the workloads shown");
	/* Scrolling stops when the last line reaches the bottom. */
	if (rows > 0 && v->findings_top + (size_t)rows > p.n)
		v->findings_top = p.n > (size_t)rows ? p.n - (size_t)rows : 0;
	for (int i = 0; i < rows && v->findings_top + (size_t)i < p.n; i++)
		put(y0 + 1 + i, 0, p.attr[v->findings_top + (size_t)i],
		    p.text[v->findings_top + (size_t)i]);
	top_panel_clear(&p);
}

static const char *const help_lines[] = {
	"bpfdiag top - keys",
	"",
	"  q            quit (Ctrl-C too)",
	"  s / S        next / previous sort key: cpu runq disk iops fsync net retrans mem name",
	"  /            filter by text (names, ids, cgroup paths, finding ids; any case)",
	"  n            filter by namespace (exact; empty clears)",
	"  r            filter by Helm release (exact; empty clears)",
	"  c            clear all filters",
	"  Enter        expand / collapse the selected pod into its containers",
	"  f            findings panel: messages and evidence (arrows scroll it while open)",
	"  up/down      move the selection (also k / j); PgUp / PgDn page; Home / End",
	"  space        refresh now",
	"  ?            this help (any key closes it)",
	"",
	"Columns: CPU% of one CPU, RQP99 run-queue wait p99, DISK_R/DISK_W block bytes/s,",
	"IOPS block requests/s, FSYNC sync calls/s, NET_RX/NET_TX bytes/s, RETR TCP",
	"retransmits/s, RELEASE Helm release, FINDINGS rule ids of the workload's findings;",
	"with --cluster, NODE the pod's node (the filter text matches it too).",
	"In a prompt: Enter applies, Esc cancels, Backspace and Ctrl-U edit.",
};

static void draw_help(void)
{
	for (size_t i = 0; i < sizeof(help_lines) / sizeof(help_lines[0]); i++)
		put(1 + (int)i, 1, i ? A_NORMAL : A_BOLD, help_lines[i]);
}

static void draw(struct view *v)
{
	int widths[TOP_COL_MAX], bottom = LINES - 1, panel_y;

	erase();
	if (LINES < HEADER_LINES + 3 || COLS < 30) {
		put(0, 0, A_BOLD, "terminal too small for bpfdiag top");
		refresh();
		return;
	}
	if (v->snap && v->snap->n_nodes)
		top_layout_nodes(COLS, widths);
	else
		top_layout(COLS, widths);
	if (v->help_open) {
		draw_help();
		put(bottom, 0, A_REVERSE, "any key closes the help");
		refresh();
		return;
	}
	draw_header(v, widths);
	panel_y = v->findings_open ? HEADER_LINES + (bottom - HEADER_LINES) * 2 / 5 : bottom;
	if (v->snap)
		draw_rows(v, widths, HEADER_LINES, panel_y);
	if (v->findings_open)
		draw_findings(v, panel_y, bottom);
	if (v->prompt) {
		static const char *const names[] = { "", "filter text", "namespace",
						     "Helm release" };

		putf(bottom, 0, A_BOLD, "%s: %s_", names[v->prompt], v->edit);
	} else {
		put(bottom, 0, A_DIM,
		    "q quit  ? help  s/S sort  / filter  n namespace  r release  c clear  Enter "
		    "expand  f findings");
	}
	refresh();
}

static void start_prompt(struct view *v, enum prompt p)
{
	const char *cur = p == PROMPT_TEXT ? v->text : p == PROMPT_NS ? v->ns : v->release;

	v->prompt = p;
	snprintf(v->edit, sizeof(v->edit), "%s", cur);
}

static void prompt_key(struct view *v, int ch)
{
	size_t n = strlen(v->edit);

	if (ch == 27) {
		v->prompt = PROMPT_NONE;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		char *dst = v->prompt == PROMPT_TEXT ? v->text :
			    v->prompt == PROMPT_NS   ? v->ns :
						       v->release;

		snprintf(dst, sizeof(v->text), "%s", v->edit);
		v->prompt = PROMPT_NONE;
		v->top = 0;
		rebuild(v);
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (n)
			v->edit[n - 1] = '\0';
	} else if (ch == 21) { /* Ctrl-U */
		v->edit[0] = '\0';
	} else if (ch >= 32 && ch < 127 && n + 1 < sizeof(v->edit)) {
		v->edit[n] = (char)ch;
		v->edit[n + 1] = '\0';
	}
}

/* Returns true when the next fetch should happen now. */
static bool key(struct view *v, int ch)
{
	int page = LINES - HEADER_LINES - 1; /* the table's rows, between header and bottom bar */

	if (page < 1)
		page = 1;
	if (ch == KEY_RESIZE)
		return false;
	if (v->prompt) {
		prompt_key(v, ch);
		return false;
	}
	if (v->help_open) {
		v->help_open = false;
		if (ch != 'q')
			return false;
	}
	if (v->findings_open) {
		switch (ch) {
		case KEY_UP:
		case 'k':
			v->findings_top -= v->findings_top ? 1 : 0;
			return false;
		case KEY_DOWN:
		case 'j':
			v->findings_top++;
			return false;
		case KEY_PPAGE:
			v->findings_top -= v->findings_top > (size_t)page / 2 ? (size_t)page / 2 :
										v->findings_top;
			return false;
		case KEY_NPAGE:
			v->findings_top += (size_t)page / 2;
			return false;
		case 27:
			v->findings_open = false;
			return false;
		}
	}
	switch (ch) {
	case 'q':
	case 'Q':
		v->quit = true;
		break;
	case 's':
	case 'S':
		v->sort = (enum top_sort)((v->sort + (ch == 's' ? 1 : TOP_SORT_MAX - 1)) %
					  TOP_SORT_MAX);
		v->top = 0;
		rebuild(v);
		break;
	case '/':
		start_prompt(v, PROMPT_TEXT);
		break;
	case 'n':
		start_prompt(v, PROMPT_NS);
		break;
	case 'r':
		start_prompt(v, PROMPT_RELEASE);
		break;
	case 'c':
		v->text[0] = v->ns[0] = v->release[0] = '\0';
		rebuild(v);
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (v->n_rows && top_keyset_toggle(&v->expanded, v->rows[v->sel].pod->key) == 0) {
			/* Collapsing from a container row selects its pod. */
			snprintf(v->sel_key, sizeof(v->sel_key), "%s\t", v->rows[v->sel].pod->key);
			rebuild(v);
		}
		break;
	case 'f':
		v->findings_open = !v->findings_open;
		v->findings_top = 0;
		break;
	case '?':
	case 'h':
		v->help_open = true;
		break;
	case KEY_UP:
	case 'k':
		select_row(v, -1);
		break;
	case KEY_DOWN:
	case 'j':
		select_row(v, 1);
		break;
	case KEY_PPAGE: /* the view and the selection move by a page */
		v->top = v->top > (size_t)page ? v->top - (size_t)page : 0;
		select_row(v, -page);
		break;
	case KEY_NPAGE:
		v->top += (size_t)page;
		select_row(v, page);
		break;
	case KEY_HOME:
		select_row(v, -(long)v->n_rows);
		break;
	case KEY_END:
		select_row(v, (long)v->n_rows);
		break;
	case ' ':
		return true;
	}
	return false;
}

int top_view_run(struct top_source *src, const struct top_view_opts *o, char *err, size_t errlen)
{
	struct view v = { .src = src, .o = o, .sort = o->sort };
	SCREEN *scr;
	double next;
	int terr = 0;

	/* Wide characters for the terminal only: numbers keep the C locale's decimal point. */
	setlocale(LC_CTYPE, "");
	/* Ask terminfo first: a failed newterm() leaks its half-made screen. */
	if (setupterm(NULL, STDOUT_FILENO, &terr) != OK) {
		snprintf(err, errlen, "cannot drive terminal '%s'",
			 getenv("TERM") ? getenv("TERM") : "(TERM unset)");
		return -ENOTTY;
	}
	del_curterm(cur_term);
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		snprintf(err, errlen, "cannot drive terminal '%s'",
			 getenv("TERM") ? getenv("TERM") : "(TERM unset)");
		return -ENOTTY;
	}
	set_term(scr);
	cbreak(); /* not raw: Ctrl-C stays a signal, which the caller turns into *stop */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	v.color = has_colors() && !getenv("NO_COLOR");
	if (v.color && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_TITLE, COLOR_WHITE, COLOR_BLUE);
		init_pair(PAIR_BAD, COLOR_RED, -1);
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
		init_pair(PAIR_OK, COLOR_GREEN, -1);
		init_pair(PAIR_INFO, COLOR_CYAN, -1);
	} else {
		v.color = false;
	}
	/* The in-process collector's first collection was at open: give rates an interval. */
	next = clock_mono() +
	       (top_source__in_process(src) ?
			fmax(0, fmin(1, o->interval) - top_source__since_fetch(src)) :
			0);
	draw(&v);
	while (!*o->stop && !v.quit) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		double wait = next - clock_mono();
		bool redraw = false;
		int ch;

		if (wait <= 0) {
			redraw = fetch(&v);
			wait = redraw ? o->interval : NOTHING_NEW_WAIT;
			next = clock_mono() + wait;
		}
		if (redraw)
			draw(&v);
		/* A signal (SIGWINCH, SIGINT) interrupts the wait; getch then reports it. */
		if (poll(&pfd, 1, (int)ceil(wait * 1000)) > 0 &&
		    (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
			break; /* the terminal went away */
		while (!*o->stop && (ch = getch()) != ERR) {
			if (key(&v, ch))
				next = clock_mono();
			redraw = true;
			if (v.quit)
				break;
		}
		if (redraw && !v.quit)
			draw(&v);
	}
	endwin();
	delscreen(scr);
	top_keyset_clear(&v.expanded);
	free(v.rows);
	top_snapshot_free(v.snap);
	return 0;
}
