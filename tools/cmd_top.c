/* bpfdiag top: the live view. Reads the agent's /api/v1/pods, or runs the collector in-process
 * when no agent answers. This is the plain-text view; the full-screen view builds on it. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "api_json.h"
#include "cli.h"
#include "engine.h"
#include "log.h"

enum sort_key { SORT_CPU = 0, SORT_NET, SORT_DISK, SORT_FSYNC };

struct top_opts {
	const char *agent;
	bool once;
	bool json;
	double interval;
	enum sort_key sort;
};

struct row {
	const char *ns, *pod, *kind, *workload;
	double cpu_pct, runq_p99, disk_r, disk_w, fsync, net_rx, net_tx;
	size_t containers;
};

static enum sort_key sort_by;

static const char usage_text[] =
	"Usage: bpfdiag top [--agent URL] [--once] [--json] [--sort cpu] [--interval SEC]\n"
	"\n"
	"Shows CPU per pod (or per cgroup, outside Kubernetes) on this node. Reads a running agent\n"
	"at URL (default " DEFAULT_AGENT_URL "); when none answers, runs the collector in-process\n"
	"(needs root or CAP_BPF+CAP_PERFMON).\n"
	"\n"
	"  --agent URL     agent to read\n"
	"  --once          print one table and exit (also the behaviour without a TTY... per refresh)\n"
	"  --json          print the pods snapshot as JSON instead of a table\n"
	"  --sort KEY      cpu (default), net, disk or fsync\n"
	"  --interval SEC  refresh period (default 2)\n"
	"  -h, --help      this help\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_opts(int argc, char **argv, struct top_opts *o)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "once", no_argument, NULL, '1' },
		{ "json", no_argument, NULL, 'j' },
		{ "sort", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	*o = (struct top_opts){ .agent = DEFAULT_AGENT_URL, .interval = 2 };
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			o->agent = optarg;
			break;
		case '1':
			o->once = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 's': {
			static const char *const keys[] = { "cpu", "net", "disk", "fsync" };
			bool found = false;

			for (int k = 0; k < 4; k++) {
				if (strcmp(optarg, keys[k]) == 0) {
					o->sort = (enum sort_key)k;
					found = true;
				}
			}
			if (!found)
				return cli_error("top",
						 "bad --sort '%s': want cpu, net, disk or fsync",
						 optarg);
			break;
		}
		case 'i':
			if (cli_parse_seconds(optarg, 3600, &o->interval))
				return cli_error("top",
						 "bad --interval '%s': want seconds in (0, 3600]",
						 optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			return cli_bad_option("top", opt, argv);
		}
	}
	if (optind < argc)
		return cli_error("top", "unexpected argument '%s' (see 'bpfdiag top --help')",
				 argv[optind]);
	return 0;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static double jnum(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	return json_object_get_double(v);
}

static double sort_value(const struct row *r)
{
	switch (sort_by) {
	case SORT_NET:
		return r->net_rx + r->net_tx;
	case SORT_DISK:
		return r->disk_r + r->disk_w;
	case SORT_FSYNC:
		return r->fsync;
	case SORT_CPU:
		break;
	}
	return r->cpu_pct;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	double vx = sort_value(x), vy = sort_value(y);

	if (vx != vy)
		return vx < vy ? 1 : -1;
	return strcmp(x->workload, y->workload);
}

/* Bytes per second, human-readable in 7 columns. */
static const char *rate(char *buf, size_t size, double bps)
{
	static const char *const units[] = { "B", "K", "M", "G" };
	int u = 0;

	while (bps >= 1000 && u < 3) {
		bps /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f%s" : "%.0f%s", bps, units[u]);
	return buf;
}

static void cut(char *dst, size_t width, const char *s)
{
	size_t n = strlen(s);

	if (n <= width) {
		memcpy(dst, s[0] ? s : "-", s[0] ? n + 1 : 2);
		return;
	}
	/* Keep the end: it is the distinctive part of paths and ids. */
	snprintf(dst, width + 1, "~%s", s + n - (width - 1));
}

/* Prints the table of a pods document. Returns 0, or -EINVAL when the document is not one. */
static int print_table(const char *doc, const char *source, int max_rows)
{
	json_object *root = json_tokener_parse(doc), *pods;
	struct row *rows = NULL;
	size_t n = 0;
	double total = 0;
	char ts[32];
	time_t now = time(NULL);

	if (!root || !json_object_object_get_ex(root, "pods", &pods) ||
	    !json_object_is_type(pods, json_type_array)) {
		json_object_put(root);
		return -EINVAL;
	}
	n = json_object_array_length(pods);
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		json_object_put(root);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pods, i), *cs;

		rows[i] = (struct row){ .ns = jstr(p, "namespace"),
					.pod = jstr(p, "pod"),
					.kind = jstr(p, "workload_kind"),
					.workload = jstr(p, "workload"),
					.cpu_pct = jnum(p, "cpu_cores") * 100 };
		if (json_object_object_get_ex(p, "containers", &cs)) {
			rows[i].containers = json_object_array_length(cs);
			for (size_t c = 0; c < rows[i].containers; c++) {
				json_object *ct = json_object_array_get_idx(cs, c);
				double p99 = jnum(ct, "runqueue_p99_seconds") * 1e3;

				if (p99 > rows[i].runq_p99)
					rows[i].runq_p99 = p99;
				rows[i].disk_r += jnum(ct, "disk_read_bytes_per_second");
				rows[i].disk_w += jnum(ct, "disk_write_bytes_per_second");
				rows[i].fsync += jnum(ct, "fsync_per_second");
				rows[i].net_rx += jnum(ct, "network_receive_bytes_per_second");
				rows[i].net_tx += jnum(ct, "network_transmit_bytes_per_second");
			}
		}
		total += rows[i].cpu_pct;
	}
	qsort(rows, n, sizeof(*rows), cmp_rows);
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
	printf("bpfdiag top - %s - node %s - %s - %zu pods/cgroups - CPU %.1f%%\n", ts,
	       jstr(root, "node")[0] ? jstr(root, "node") : "?", source, n, total);
	printf("%-14s %-20s %-14s %-34s %6s %6s %7s %7s %6s %7s %7s %4s\n", "NAMESPACE", "POD",
	       "KIND", "WORKLOAD", "CPU%", "RQP99", "DISK_R", "DISK_W", "FSYNC", "NET_RX", "NET_TX",
	       "CTRS");
	for (size_t i = 0; i < n && (max_rows <= 0 || (int)i < max_rows); i++) {
		char ns[15], pod[21], kind[15], wl[35], b[6][16];

		cut(ns, 14, rows[i].ns);
		cut(pod, 20, rows[i].pod);
		cut(kind, 14, rows[i].kind);
		cut(wl, 34, rows[i].workload);
		snprintf(b[5], sizeof(b[5]), "%.1fms", rows[i].runq_p99);
		printf("%-14s %-20s %-14s %-34s %6.1f %6s %7s %7s %6.1f %7s %7s %4zu\n", ns, pod,
		       kind, wl, rows[i].cpu_pct, b[5], rate(b[0], sizeof(b[0]), rows[i].disk_r),
		       rate(b[1], sizeof(b[1]), rows[i].disk_w), rows[i].fsync,
		       rate(b[2], sizeof(b[2]), rows[i].net_rx),
		       rate(b[3], sizeof(b[3]), rows[i].net_tx), rows[i].containers);
	}
	free(rows);
	json_object_put(root);
	return 0;
}

static int collect_local(struct engine *e, char **ret)
{
	struct strbuf sb = STRBUF_INIT;
	struct snapshot *s = NULL;
	int r = engine__collect(e, &s);

	if (r)
		return r;
	r = api_pods_json(s, &sb);
	snapshot_unref(s);
	if (!r && !(*ret = strbuf_steal(&sb, NULL)))
		r = -ENOMEM;
	strbuf_reset(&sb);
	return r;
}

static void wait_interval(double sec)
{
	struct timespec ts = { (time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9) };

	if (!stop)
		nanosleep(&ts, NULL);
}

int do_top(int argc, char **argv)
{
	struct top_opts o;
	struct engine *e = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[512], url[1024], source[1200], *doc = NULL;
	bool tty = isatty(STDOUT_FILENO);
	long status = 0;
	int r;

	r = parse_opts(argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	sort_by = o.sort;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	snprintf(url, sizeof(url), "%s/api/v1/pods", o.agent);
	r = cli_http_get(url, 1000, &doc, &status, err, sizeof(err));
	if (!r && status == 200) {
		snprintf(source, sizeof(source), "agent %s", o.agent);
	} else {
		struct engine_opts eo = { .node_name = NULL };
		char host[256] = "";

		free(doc);
		doc = NULL;
		if (!r)
			snprintf(err, sizeof(err), "HTTP %ld", status);
		gethostname(host, sizeof(host) - 1);
		eo.node_name = host;
		log_set_level(LOG_ERROR);
		if (engine__open(&eo, &e, err + strlen(err), sizeof(err) - strlen(err))) {
			return cli_error("top",
					 "no agent answers at %s and the in-process collector "
					 "cannot start: %s",
					 o.agent, err);
		}
		snprintf(source, sizeof(source), "in-process collector (no agent at %s)", o.agent);
		/* Rates need two collections. */
		r = collect_local(e, &doc);
		free(doc);
		doc = NULL;
		wait_interval(o.once ? (o.interval < 1 ? o.interval : 1) : o.interval);
	}

	while (!stop) {
		struct winsize ws = { 0 };

		if (e)
			r = collect_local(e, &doc);
		else if (!doc)
			r = cli_http_get(url, 2000, &doc, &status, err, sizeof(err));
		if (r || !doc) {
			r = cli_error("top", "cannot read %s: %s", e ? "the collector" : url,
				      e ? strerror(-r) : err);
			break;
		}
		if (o.json) {
			fputs(doc, stdout);
		} else {
			if (tty && !o.once) {
				ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
				fputs("\033[H\033[2J", stdout);
			}
			r = print_table(doc, source,
					tty && !o.once && ws.ws_row > 3 ? ws.ws_row - 3 : 0);
			if (r) {
				r = cli_error("top", "the answer from %s is not a pods document",
					      source);
				break;
			}
		}
		fflush(stdout);
		free(doc);
		doc = NULL;
		if (o.once)
			break;
		if (!tty)
			putchar('\n');
		wait_interval(o.interval);
	}
	free(doc);
	engine__close(e);
	return r;
}
