// SPDX-License-Identifier: BSD-2-Clause
/* bpfdiag top: the live view of a node. Reads the agent's API, or runs the collector in-process
 * when no agent answers. A full-screen view on a terminal (top_view.c); plain text tables
 * without one or with --once; --json prints the snapshot. The model is top_model.c. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cluster.h"
#include "opts.h"
#include "top/top_format.h"
#include "top/top_health.h"
#include "top/top_merge.h"
#include "top/top_source.h"
#include "top/top_view.h"

struct top_opts {
	const char *agent;
	bool once;
	bool json;
	double interval;
	double window, warmup; /* in-process rules */
	enum top_sort sort;
	bool cluster;
	struct cluster_opts co;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_sort(const struct cli_opt *opt, const char *value, enum cli_source src, void *opts)
{
	(void)opt;
	(void)src;
	return top_sort_parse(value, &((struct top_opts *)opts)->sort);
}

#define OFF(field) offsetof(struct top_opts, field)

static const struct cli_opt top_opts[] = {
	{ "agent", "URL", "agent to read", .def = DEFAULT_AGENT_URL, .parse = cli_parse_str,
	  .off = OFF(agent) },
	{ "once", NULL, "print one table and exit", .parse = cli_parse_flag, .off = OFF(once) },
	{ "json", NULL, "print the snapshot (pods, findings, source) as JSON instead",
	  .parse = cli_parse_flag, .off = OFF(json) },
	{ "sort", "KEY", "cpu, mem, net, disk or fsync; also runq, iops, retrans, name",
	  .def = "cpu", .parse = parse_sort,
	  .want = "cpu, mem, net, disk or fsync (or runq, iops, retrans, name)" },
	{ "interval", "SEC", "refresh period", .def = "2", .parse = cli_parse_secs, .max = 3600,
	  .off = OFF(interval), .want = "seconds in (0, 3600]" },
	/* As the agent's: in-process top judges what an agent would. */
	{ "window", "SEC",
	  "in-process: rule evaluation window, as the agent's; collections happen every "
	  "window/30 when that is shorter than the interval",
	  .def = "600", .parse = cli_parse_secs, .max = 7 * 86400, .off = OFF(window),
	  .want = "seconds in (0, 604800]" },
	{ "warmup", "SEC", "in-process: container age before runtime rules may fire", .def = "300",
	  .parse = cli_parse_secs0, .max = 7 * 86400, .off = OFF(warmup),
	  .want = "seconds in [0, 604800]" },
	CLUSTER_CLI_OPTS(struct top_opts, cluster, co, "pods, findings and health", "2"),
};

static const struct cli_command top_cmd = {
	.name = "top",
	.usage =
		"[--agent URL] [--once] [--json] [--sort KEY] [--interval SEC]\n"
		"                   [--window SEC] [--warmup SEC]\n"
		"       bpfdiag top --cluster [--kubeconfig FILE] [--context NAME] [--namespace NS]\n"
		"                   [--once] [--json] [--sort KEY] [--interval SEC] [--timeout SEC]",
	.about =
		"Live per-pod view of this node: CPU, run-queue p99, disk, fsync, network,\n"
		"retransmits, workload, Helm release and the workload's findings. Reads a running\n"
		"agent at URL; when none answers, runs the collector in-process (needs root or\n"
		"CAP_BPF+CAP_PERFMON) and says so in the header.\n"
		"On a terminal it is a full-screen view; without one, or with --once, it prints\n"
		"plain text tables (one per interval, or one with --once).\n"
		"With --cluster, reads every agent pod of the cluster through the API server at each\n"
		"refresh (all at once, each request bounded by --timeout) and shows one table with a\n"
		"NODE column; a node whose agent does not answer is listed as NO-ANSWER with why.\n"
		"As the kubectl plugin (kubectl-bpfdiag), top means top --cluster.\n",
	.epilogue =
		"Keys in the full-screen view:\n"
		"  q quit   s/S next/previous sort key   / filter text   n namespace filter\n"
		"  r Helm release filter   c clear filters   Enter expand/collapse a pod's containers\n"
		"  f findings panel (messages, evidence)   ? help   arrows, PgUp/PgDn, Home/End scroll\n"
		"  space refresh now.  NO_COLOR=1 turns colours off (every colour has a text cue too).\n",
	.opts = top_opts,
	.n_opts = sizeof(top_opts) / sizeof(top_opts[0]),
};

enum {
	FCOL_NODE,
	FCOL_SEV,
	FCOL_RULE,
	FCOL_NS,
	FCOL_WORKLOAD,
	FCOL_RELEASE,
	FCOL_SUGGESTS,
	FCOL_MAX
};

/* The cells of a finding's line before its message; wl holds "kind/workload". */
static void finding_cells(const struct top_finding *f, char *wl, size_t size,
			  const char *cell[FCOL_MAX])
{
	snprintf(wl, size, "%s/%s", f->kind, f->workload);
	cell[FCOL_NODE] = f->node && f->node[0] ? f->node : "-";
	cell[FCOL_SEV] = top_severity_tag(f->sev)[0] ? top_severity_tag(f->sev) : f->severity;
	cell[FCOL_RULE] = f->rule;
	cell[FCOL_NS] = f->ns[0] ? f->ns : "-";
	cell[FCOL_WORKLOAD] = wl;
	cell[FCOL_RELEASE] = f->release[0] ? f->release : "-";
	cell[FCOL_SUGGESTS] = f->suggested[0] ? f->suggested : "-";
}

/* The findings table, each column as wide as its longest value. */
static void print_findings(const struct top_snapshot *s)
{
	static const char *const titles[FCOL_MAX] = { "NODE",	  "SEV",     "RULE",	"NAMESPACE",
						      "WORKLOAD", "RELEASE", "SUGGESTS" };
	const char *cell[FCOL_MAX];
	int w[FCOL_MAX], first = s->n_nodes ? FCOL_NODE : FCOL_SEV; /* NODE: a cluster's */
	char ev[1024], wl[512];

	if (!s->findings_known) {
		printf("\nfindings %s\n", s->findings_note);
		return;
	}
	if (!s->n_findings) {
		printf("\nno findings\n");
		return;
	}
	for (int k = 0; k < FCOL_MAX; k++)
		w[k] = (int)strlen(titles[k]);
	for (size_t i = 0; i < s->n_findings; i++) {
		finding_cells(&s->findings[i], wl, sizeof(wl), cell);
		for (int k = first; k < FCOL_MAX; k++) {
			int n = (int)strlen(cell[k]);

			w[k] = n > w[k] ? n : w[k];
		}
	}
	putchar('\n');
	for (int k = first; k < FCOL_MAX; k++)
		printf("%-*s ", w[k], titles[k]);
	puts("MESSAGE");
	for (size_t i = 0; i < s->n_findings; i++) {
		const struct top_finding *f = &s->findings[i];

		finding_cells(f, wl, sizeof(wl), cell);
		for (int k = first; k < FCOL_MAX; k++)
			printf("%-*s ", w[k], cell[k]);
		puts(f->message);
		if (f->n_ev)
			printf("%-*s evidence: %s\n",
			       (first ? 0 : w[FCOL_NODE] + 1) + w[FCOL_SEV] + w[FCOL_RULE] + 1, "",
			       top_fmt_evidence(f, ev, sizeof(ev)));
	}
}

/* A cluster's nodes, each with its agent's health or NO-ANSWER and why. */
static void print_nodes(const struct top_snapshot *s, double now)
{
	int wn = (int)strlen("NODE"), wa = (int)strlen("AGENT");
	char line[512];

	for (size_t i = 0; i < s->n_nodes; i++) {
		int ln = (int)strlen(s->nodes[i].name), la = (int)strlen(s->nodes[i].agent);

		wn = ln > wn ? ln : wn;
		wa = la > wa ? la : wa;
	}
	printf("\n%-*s %-*s %6s %8s STATUS\n", wn, "NODE", wa, "AGENT", "PODS", "FINDINGS");
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct top_node *nd = &s->nodes[i];

		top_node_line(nd, now, 0, line, sizeof(line));
		if (nd->why[0])
			printf("%-*s %-*s %6s %8s %s\n", wn, nd->name[0] ? nd->name : "-", wa,
			       nd->agent, "-", "-", line);
		else
			printf("%-*s %-*s %6zu %8zu %s\n", wn, nd->name, wa, nd->agent, nd->n_pods,
			       nd->n_findings, line);
	}
}

/* The plain-text view: header, pods table (max_rows > 0 limits it), findings table. width 0:
 * columns as wide as their content (no name is ever cut); else the layout of a terminal of
 * that width. */
static int print_text(const struct top_snapshot *s, const char *source, enum top_sort sort,
		      int max_rows, int width)
{
	struct top_row *rows = NULL;
	size_t n = 0;
	int widths[TOP_COL_MAX];
	char ts[32], line[TOP_COL_MAX * (TOP_CELL_MAX + 1) + 1], b[5][24];
	time_t now = time(NULL);
	int r;

	r = top_rows_build(s, sort, NULL, NULL, &rows, &n);
	if (r)
		return r;
	if (width > 0 && s->n_nodes)
		top_layout_nodes(width, widths);
	else if (width > 0)
		top_layout(width, widths);
	else
		top_layout_fit(rows, n, widths);
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
	if (s->n_nodes)
		printf("bpfdiag top - %s - %zu nodes - %s - %zu pods/cgroups - CPU %.1f%% - sort %s\n",
		       ts, s->n_nodes, source, s->n_pods, s->total.cpu_pct, top_sort_name(sort));
	else
		printf("bpfdiag top - %s - node %s - %s - %zu pods/cgroups - CPU %.1f%% - sort %s\n",
		       ts, s->node[0] ? s->node : "?", source, s->n_pods, s->total.cpu_pct,
		       top_sort_name(sort));
	printf("totals: runq p99 %s, disk r %s/s w %s/s, iops %.1f, fsync %.1f/s, net rx %s/s "
	       "tx %s/s, retransmits %.1f/s\n",
	       top_fmt_seconds(s->total.runq_p99, b[0], sizeof(b[0])),
	       top_fmt_bytes(s->total.disk_r, b[1], sizeof(b[1])),
	       top_fmt_bytes(s->total.disk_w, b[2], sizeof(b[2])), s->total.iops, s->total.fsync,
	       top_fmt_bytes(s->total.net_rx, b[3], sizeof(b[3])),
	       top_fmt_bytes(s->total.net_tx, b[4], sizeof(b[4])), s->total.retrans);
	if (s->n_nodes) {
		top_nodes_line(s, line, sizeof(line));
		printf("agents %s\n", line);
	} else {
		top_health_line(s, (double)now, 0, line, sizeof(line));
		printf("%s %s\n", strstr(source, "in-process") ? "collector" : "agent", line);
	}
	puts(top_format_title(widths, line, sizeof(line)));
	for (size_t i = 0; i < n && (max_rows <= 0 || (int)i < max_rows); i++)
		puts(top_format_row(&rows[i], widths, 0, line, sizeof(line)));
	free(rows);
	if (max_rows <= 0 && s->n_nodes)
		print_nodes(s, (double)now);
	if (max_rows <= 0)
		print_findings(s);
	return 0;
}

static void wait_interval(double sec)
{
	struct timespec ts = { (time_t)sec, (long)((sec - floor(sec)) * 1e9) };

	if (!stop)
		nanosleep(&ts, NULL);
}

/* In-process, the first table covers one interval of observation from the open's collection:
 * its rates and what the rules saw meanwhile (with --once, all they will see). */
static void wait_rates(const struct top_source *src, const struct top_opts *o)
{
	double since = top_source__since_fetch(src), want = o->interval;

	if (top_source__in_process(src) && since < want)
		wait_interval(want - since);
}

/* Without a terminal, with --once or --json: tables (or documents) on stdout. */
static int run_text(struct top_source *src, const struct top_opts *o)
{
	bool tty = isatty(STDOUT_FILENO);
	int r = 0;

	while (!stop) {
		struct top_snapshot *s = NULL;
		char err[512], *json = NULL;
		struct winsize ws = { 0 };

		r = top_source__fetch(src, &s, o->json ? &json : NULL, err, sizeof(err));
		if (r == -EAGAIN) { /* polling in the background: nothing new yet */
			wait_interval(0.1);
			continue;
		}
		if (r) {
			r = cli_error("top", "cannot read %s: %s", top_source__name(src), err);
			break;
		}
		if (o->json) {
			puts(json);
		} else {
			if (tty && !o->once) {
				ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
				fputs("\033[H\033[2J", stdout);
			}
			r = print_text(s, top_source__name(src), o->sort,
				       tty && !o->once && ws.ws_row > 5 ? ws.ws_row - 5 : 0,
				       tty && !o->once ? ws.ws_col : 0);
		}
		free(json);
		top_snapshot_free(s);
		fflush(stdout);
		if (r) {
			r = cli_error("top", "out of memory");
			break;
		}
		if (o->once)
			break;
		if (!tty)
			putchar('\n');
		wait_interval(o->interval);
	}
	return r;
}

int do_top(int argc, char **argv)
{
	struct top_opts o;
	struct top_source *src = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[1024];
	bool full = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	int r;

	o = (struct top_opts){ 0 };
	r = cli_opts_parse(&top_cmd, argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	/* Before the view starts, so that curses leaves them to us and restores the terminal. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct top_source_opts so = {
		.url = o.agent, .interval = o.interval, .window = o.window, .warmup = o.warmup
	};

	if (o.cluster || cli_kubectl_plugin)
		r = top_source__open_cluster(&o.co, &src, err, sizeof(err));
	else
		r = top_source__open(&so, &src, err, sizeof(err));
	if (r)
		return cli_error("top", "%s", err);
	if (full && !o.once && !o.json) {
		struct top_view_opts vo = { .interval = o.interval, .sort = o.sort, .stop = &stop };

		/* A cluster's agents are polled on a thread: a slow node never holds the keys. */
		r = top_source__background(src, o.interval, err, sizeof(err));
		if (r) {
			top_source__close(src);
			return cli_error("top", "%s", err);
		}
		r = top_view_run(src, &vo, err, sizeof(err));
		if (r == -ENOTTY) {
			fprintf(stderr, "bpfdiag top: %s; printing tables instead\n", err);
			wait_rates(src, &o);
			r = run_text(src, &o);
		}
	} else {
		wait_rates(src, &o);
		r = run_text(src, &o);
	}
	top_source__close(src);
	return r;
}
