/* bpfdiag agent: the collector daemon. Options → engine → HTTP → collection loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "http.h"
#include "kube_meta.h"
#include "log.h"
#include "version.h"

struct agent_opts {
	const char *listen;
	const char *node_name;
	const char *kube_api;
	const char *kube_token_file; /* NULL: the service-account token when present */
	const char *kube_ca_file;
	double kube_stall_timeout;
	double kube_backoff_max;
	double kube_cache_ttl;
	double kube_qps;
	struct kube_config kube;
	const char *cgroup_root;
	const char *proc_root;
	const char *pin_dir;
	double interval;
	enum log_level level;
};

struct agent {
	struct snapshot_slot slot;
	int ready;
	struct kube_meta *kube; /* NULL in local mode */
};

static const char usage_text[] =
	"Usage: bpfdiag agent [options]\n"
	"\n"
	"Runs the collector daemon in the foreground; logs go to stderr.\n"
	"\n"
	"Options (environment variable in brackets):\n"
	"  --listen ADDR:PORT      HTTP endpoint [BPFDIAG_LISTEN] (default 0.0.0.0:9810)\n"
	"  --node-name NAME        node whose pods are watched [NODE_NAME] (default: hostname)\n"
	"  --kube-api URL|auto|none  Kubernetes API [BPFDIAG_KUBE_API] (default auto: in-cluster\n"
	"                          when KUBERNETES_SERVICE_HOST is set, else none = local mode)\n"
	"  --kube-token-file F     bearer token, re-read when it changes (default: the\n"
	"                          service-account token when present)\n"
	"  --kube-ca-file F        CA bundle for https (default: the service-account ca.crt)\n"
	"  --kube-stall-timeout SEC  restart a watch silent for this long (default 120)\n"
	"  --kube-backoff-max SEC  reconnect backoff cap (default 30)\n"
	"  --kube-cache-ttl SEC    workload/PVC/PDB/HPA cache lifetime (default 300)\n"
	"  --kube-qps N            enrichment GETs per second (default 5)\n"
	"  --cgroup-root DIR       cgroup v2 mount (default: detected from mountinfo)\n"
	"  --proc-root DIR         host /proc (default /proc)\n"
	"  --interval SEC          map collection period (default 5)\n"
	"  --pin-dir DIR|none      pinned maps directory (default /sys/fs/bpf/bpfdiag)\n"
	"  --log-level LEVEL       error, warn, info or debug (default info)\n"
	"  -h, --help              this help\n";

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "node-name", required_argument, NULL, 'n' },
		{ "kube-api", required_argument, NULL, 'k' },
		{ "kube-token-file", required_argument, NULL, 'T' },
		{ "kube-ca-file", required_argument, NULL, 'C' },
		{ "kube-stall-timeout", required_argument, NULL, 'S' },
		{ "kube-backoff-max", required_argument, NULL, 'B' },
		{ "kube-cache-ttl", required_argument, NULL, 'U' },
		{ "kube-qps", required_argument, NULL, 'Q' },
		{ "cgroup-root", required_argument, NULL, 'c' },
		{ "proc-root", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	*o = (struct agent_opts){
		.listen = env_or("BPFDIAG_LISTEN", "0.0.0.0:9810"),
		.node_name = env_or("NODE_NAME", NULL),
		.kube_api = env_or("BPFDIAG_KUBE_API", "auto"),
		.proc_root = "/proc",
		.pin_dir = "/sys/fs/bpf/bpfdiag",
		.interval = 5,
		.level = LOG_INFO,
	};
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			o->listen = optarg;
			break;
		case 'n':
			o->node_name = optarg;
			break;
		case 'k':
			o->kube_api = optarg;
			break;
		case 'T':
			o->kube_token_file = optarg;
			break;
		case 'C':
			o->kube_ca_file = optarg;
			break;
		case 'S':
		case 'B':
		case 'U':
		case 'Q': {
			static const char *const names[] = { "kube-stall-timeout",
							     "kube-backoff-max", "kube-cache-ttl",
							     "kube-qps" };
			double *dst[] = { &o->kube_stall_timeout, &o->kube_backoff_max,
					  &o->kube_cache_ttl, &o->kube_qps };
			int i = opt == 'S' ? 0 : opt == 'B' ? 1 : opt == 'U' ? 2 : 3;

			if (cli_parse_seconds(optarg, 86400, dst[i]))
				return cli_error("agent",
						 "bad --%s '%s': want a number in (0, 86400]",
						 names[i], optarg);
			break;
		}
		case 'c':
			o->cgroup_root = optarg;
			break;
		case 'p':
			o->proc_root = optarg;
			break;
		case 'i':
			if (cli_parse_seconds(optarg, 3600, &o->interval))
				return cli_error("agent",
						 "bad --interval '%s': want seconds in (0, 3600]",
						 optarg);
			break;
		case 'P':
			o->pin_dir = strcmp(optarg, "none") == 0 ? NULL : optarg;
			break;
		case 'L':
			if (log_parse_level(optarg, &o->level))
				return cli_error(
					"agent",
					"bad --log-level '%s': want error, warn, info or debug",
					optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			return cli_bad_option("agent", opt, argv);
		}
	}
	if (optind < argc)
		return cli_error("agent", "unexpected argument '%s' (see 'bpfdiag agent --help')",
				 argv[optind]);
	char err[512];

	if (kube_config_resolve(o->kube_api, o->kube_token_file, o->kube_ca_file,
				getenv("KUBERNETES_SERVICE_HOST"),
				getenv("KUBERNETES_SERVICE_PORT"), &o->kube, err, sizeof(err)))
		return cli_error("agent", "%s", err);
	if (access(o->proc_root, R_OK | X_OK))
		return cli_error("agent", "--proc-root '%s': %s", o->proc_root, strerror(errno));
	if (o->cgroup_root && access(o->cgroup_root, R_OK | X_OK))
		return cli_error("agent", "--cgroup-root '%s': %s", o->cgroup_root,
				 strerror(errno));
	return 0;
}

static struct snapshot *get_snapshot(void *ctx)
{
	return snapshot_slot_get(&((struct agent *)ctx)->slot);
}

static bool collected(struct agent *a)
{
	return __atomic_load_n(&a->ready, __ATOMIC_ACQUIRE);
}

/* Ready after the first collection and, with Kubernetes, the first pod list (SPEC §6). */
static bool is_ready(void *ctx)
{
	struct agent *a = ctx;

	return collected(a) && (!a->kube || kube_meta__synced(a->kube));
}

static void kube_log(void *ctx, enum kube_log_level level, const char *msg)
{
	(void)ctx;
	log_msg(level == KUBE_LOG_WARN ? LOG_WARN : LOG_INFO, "kube: %s", msg);
}

static int start_kube(const struct agent_opts *o, struct agent *a)
{
	struct kube_meta_opts ko = {
		.api_url = o->kube.url,
		.token_file = o->kube.token_file[0] ? o->kube.token_file : NULL,
		.token_over_http = o->kube.token_explicit,
		.ca_file = o->kube.ca_file[0] ? o->kube.ca_file : NULL,
		.node_name = o->node_name,
		.stall_timeout = o->kube_stall_timeout,
		.backoff_max = o->kube_backoff_max,
		.cache_ttl = o->kube_cache_ttl,
		.qps = o->kube_qps,
		.log = kube_log,
	};
	char err[512];

	if (!o->kube.enabled)
		return 0;
	if (kube_meta__start(&ko, &a->kube, err, sizeof(err)))
		return cli_error("agent", "%s", err);
	log_info("kube: watching the pods of node %s at %s%s", o->node_name, o->kube.url,
		 o->kube.in_cluster ? " (in-cluster)" : "");
	return 0;
}

int do_agent(int argc, char **argv)
{
	struct agent_opts o;
	struct agent a = { 0 };
	struct engine *e = NULL;
	struct http_server *http = NULL;
	struct engine_opts eo;
	char err[512], host[HOST_NAME_MAX + 1] = "";
	sigset_t mask;
	int sfd = -1, r;

	r = parse_opts(argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	log_set_level(o.level);
	if (!o.node_name) {
		gethostname(host, sizeof(host) - 1);
		o.node_name = host;
	}

	snapshot_slot_init(&a.slot);
	/* Signals arrive on a descriptor, so the loop waits on one poll(). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	struct sigaction ign = { .sa_handler = SIG_IGN, .sa_flags = SA_RESTART };

	sigaction(SIGPIPE, &ign, NULL); /* a scraper hanging up must not kill the agent */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		r = cli_error("agent", "signalfd: %s", strerror(errno));
		goto cleanup;
	}

	struct http_server_ops ops = { .snapshot = get_snapshot, .ready = is_ready, .ctx = &a };

	/* Bind first: a port in use is the most common start-up mistake, and it is cheap. */
	if (http_server_start(o.listen, &ops, &http, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	/* The pod list is fetched while the BPF programs load. */
	r = start_kube(&o, &a);
	if (r)
		goto cleanup;
	eo = (struct engine_opts){ .cgroup_root = o.cgroup_root,
				   .proc_root = o.proc_root,
				   .pin_dir = o.pin_dir,
				   .node_name = o.node_name,
				   .kube = a.kube };
	if (engine__open(&eo, &e, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	log_info("bpfdiag %s (%s) on node %s: cgroup v2 at %s, listening on %s (port %u), "
		 "collecting every %gs",
		 BPFDIAG_VERSION, BPFDIAG_REVISION, o.node_name, engine__cgroup_root(e), o.listen,
		 http_server_port(http), o.interval);

	for (;;) {
		struct snapshot *s = NULL;
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };

		r = engine__collect(e, &s);
		if (r) {
			log_warn("collection failed: %s", strerror(-r));
		} else {
			size_t n = s->n_series;

			snapshot_slot_set(&a.slot, s);
			if (!collected(&a)) {
				__atomic_store_n(&a.ready, 1, __ATOMIC_RELEASE);
				log_info("first collection done: %zu series%s", n,
					 is_ready(&a) ? "; ready" :
							"; ready once the pod list is in");
			}
		}
		r = poll(&pfd, 1, (int)(o.interval * 1000));
		if (r > 0) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: shutting down", si.ssi_signo);
			break;
		}
		if (r < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
	}
	r = 0;
cleanup:
	http = http_server_stop(http);
	e = engine__close(e);
	a.kube = kube_meta__stop(a.kube);
	snapshot_slot_destroy(&a.slot);
	if (sfd >= 0)
		close(sfd);
	return r;
}
