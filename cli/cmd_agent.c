/* bpfdiag agent: the collector daemon. Options → engine → HTTP → collection loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "engine/engine.h"
#include "base/clock.h"
#include "base/heap.h"
#include "transport/http.h"
#include "kube/kube_meta.h"
#include "base/log.h"
#include "rules/rules.h"
#include "rules/rules_kube.h"
#include "transport/otlp_sender.h"
#include "base/version.h"

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
	bool judge_host;
	bool pin_explicit; /* --pin-dir DIR given: a DIR that cannot hold pins is fatal */
	double interval;
	enum log_level level;
	enum collector_probe_choice net, fs;
	bool bpf_stats;
	uint32_t max_cgroups;
	double window, warmup;
	const char *rules_config;
	bool check_config;
	double series_retention;
	const char *tls_cert, *tls_key, *tls_priorities, *auth_token_file;
	const char *otlp_endpoint;
	double otlp_interval; /* 0: OTEL_METRIC_EXPORT_INTERVAL or the default */
};

struct agent {
	struct snapshot_slot slot;
	int ready;
	struct rules_engine *rules;
	struct selfmetrics stats; /* the exporters' own counters */
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
	"  --window SEC            rule evaluation window (default 600)\n"
	"  --warmup SEC            container age before runtime rules may fire (default 300)\n"
	"  --rules-config FILE     JSON thresholds per rule, rules on/off (docs/RULES.md)\n"
	"  --check-config          validate the options, --rules-config and OTLP settings, then exit\n"
	"  --pin-dir DIR|none      pinned maps directory (default /sys/fs/bpf/bpfdiag)\n"
	"  --tls-cert FILE, --tls-key FILE\n"
	"                          serve HTTPS with this PEM certificate and key\n"
	"  --tls-priorities STR    GnuTLS priority string for HTTPS (default: TLS 1.2+, forward-\n"
	"                          secret AEAD ciphers only; docs/SECURITY.md)\n"
	"  --auth-token-file FILE  require Authorization: Bearer <token> for /metrics and /api\n"
	"                          (re-read when the file changes; /healthz, /readyz stay open)\n"
	"  --otlp-endpoint URL     OTLP/HTTP metrics export to URL/v1/metrics\n"
	"                          [OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT]\n"
	"                          (default off; OTEL_EXPORTER_OTLP_* variables apply)\n"
	"  --otlp-interval SEC     OTLP export period [OTEL_METRIC_EXPORT_INTERVAL in ms] (default 60)\n"
	"  --log-level LEVEL       error, warn, info or debug (default info)\n"
	"  --net-probe MODE        auto, tracepoint (sock_send/recv_length, Linux >= 6.3) or\n"
	"                          cgroup-skb (the fallback); default auto\n"
	"  --fs-probe MODE         auto, syscalls (per-syscall tracepoints, needs tracefs) or\n"
	"                          raw (sys_enter/sys_exit); default auto\n"
	"  --bpf-stats on|off      turn on kernel BPF run-time statistics (needs CAP_SYS_ADMIN;\n"
	"                          they cost every BPF program on the node two clock reads per run;\n"
	"                          default off: reported anyway when kernel.bpf_stats_enabled=1)\n"
	"  --max-cgroups N         per-cgroup BPF map size (default 8192)\n"
	"  --series-retention SEC  how long a series outlives its last cgroup (default 300)\n"
	"  --judge-host-cgroups    with the Kubernetes API, also judge cgroups outside pods (the\n"
	"                          host's services); they are always measured and exported\n"
	"  -h, --help              this help\n";

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static int parse_probe(const char *s, const char *primary, const char *fallback,
		       enum collector_probe_choice *ret)
{
	if (strcmp(s, "auto") == 0)
		*ret = PROBE_AUTO;
	else if (strcmp(s, primary) == 0)
		*ret = PROBE_PRIMARY;
	else if (strcmp(s, fallback) == 0)
		*ret = PROBE_FALLBACK;
	else
		return -EINVAL;
	return 0;
}

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "node-name", required_argument, NULL, 'n' },
		{ "kube-api", required_argument, NULL, 'k' },
		{ "kube-token-file", required_argument, NULL, 't' },
		{ "kube-ca-file", required_argument, NULL, 'a' },
		{ "kube-stall-timeout", required_argument, NULL, 'S' },
		{ "kube-backoff-max", required_argument, NULL, 'b' },
		{ "kube-cache-ttl", required_argument, NULL, 'u' },
		{ "kube-qps", required_argument, NULL, 'Q' },
		{ "cgroup-root", required_argument, NULL, 'c' },
		{ "proc-root", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "net-probe", required_argument, NULL, 'N' },
		{ "fs-probe", required_argument, NULL, 'F' },
		{ "bpf-stats", required_argument, NULL, 'B' },
		{ "max-cgroups", required_argument, NULL, 'M' },
		{ "window", required_argument, NULL, 'W' },
		{ "warmup", required_argument, NULL, 'U' },
		{ "rules-config", required_argument, NULL, 'R' },
		{ "check-config", no_argument, NULL, 'X' },
		{ "series-retention", required_argument, NULL, 'Y' },
		{ "judge-host-cgroups", no_argument, NULL, 'J' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-priorities", required_argument, NULL, 'G' },
		{ "auth-token-file", required_argument, NULL, 'T' },
		{ "otlp-endpoint", required_argument, NULL, 'O' },
		{ "otlp-interval", required_argument, NULL, 'I' },
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
		.window = 600,
		.warmup = 300,
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
		case 't':
			o->kube_token_file = optarg;
			break;
		case 'a':
			o->kube_ca_file = optarg;
			break;
		case 'S':
		case 'b':
		case 'u':
		case 'Q': {
			static const char *const names[] = { "kube-stall-timeout",
							     "kube-backoff-max", "kube-cache-ttl",
							     "kube-qps" };
			double *dst[] = { &o->kube_stall_timeout, &o->kube_backoff_max,
					  &o->kube_cache_ttl, &o->kube_qps };
			int i = opt == 'S' ? 0 : opt == 'b' ? 1 : opt == 'u' ? 2 : 3;

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
			o->pin_explicit = o->pin_dir != NULL;
			break;
		case 'L':
			if (log_parse_level(optarg, &o->level))
				return cli_error(
					"agent",
					"bad --log-level '%s': want error, warn, info or debug",
					optarg);
			break;
		case 'N':
			if (parse_probe(optarg, "tracepoint", "cgroup-skb", &o->net))
				return cli_error("agent",
						 "bad --net-probe '%s': want auto, tracepoint or "
						 "cgroup-skb",
						 optarg);
			break;
		case 'F':
			if (parse_probe(optarg, "syscalls", "raw", &o->fs))
				return cli_error("agent",
						 "bad --fs-probe '%s': want auto, syscalls or raw",
						 optarg);
			break;
		case 'B':
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return cli_error("agent", "bad --bpf-stats '%s': want on or off",
						 optarg);
			o->bpf_stats = strcmp(optarg, "on") == 0;
			break;
		case 'M': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || end == optarg || n < 64 || n > 1000000)
				return cli_error("agent",
						 "bad --max-cgroups '%s': want 64 to 1000000",
						 optarg);
			o->max_cgroups = (uint32_t)n;
			break;
		}
		case 'W':
			if (cli_parse_seconds(optarg, 7 * 86400, &o->window))
				return cli_error("agent",
						 "bad --window '%s': want seconds in (0, 604800]",
						 optarg);
			break;
		case 'U':
			if (strcmp(optarg, "0") == 0)
				o->warmup = 0;
			else if (cli_parse_seconds(optarg, 7 * 86400, &o->warmup))
				return cli_error("agent",
						 "bad --warmup '%s': want seconds in [0, 604800]",
						 optarg);
			break;
		case 'R':
			o->rules_config = optarg;
			break;
		case 'X':
			o->check_config = true;
			break;
		case 'J':
			o->judge_host = true;
			break;
		case 'Y':
			if (cli_parse_seconds(optarg, 7 * 86400, &o->series_retention))
				return cli_error("agent",
						 "bad --series-retention '%s': want seconds in (0, "
						 "604800]",
						 optarg);
			break;
		case 'C':
			o->tls_cert = optarg;
			break;
		case 'K':
			o->tls_key = optarg;
			break;
		case 'G':
			o->tls_priorities = optarg;
			break;
		case 'T':
			o->auth_token_file = optarg;
			break;
		case 'O':
			o->otlp_endpoint = optarg;
			break;
		case 'I':
			if (cli_parse_seconds(optarg, 86400, &o->otlp_interval))
				return cli_error(
					"agent",
					"bad --otlp-interval '%s': want seconds in (0, 86400]",
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

/* One log line when a finding starts and when it clears. */
static void on_rules_event(void *ctx, const struct rules_event *ev)
{
	const struct snap_finding *f = ev->finding;

	(void)ctx;
	if (ev->started)
		log_info("finding %s %s %s %s/%s%s%s: %s", f->rule, f->severity, f->workload_kind,
			 f->ns[0] ? f->ns : "-", f->workload, f->helm_release[0] ? " release " : "",
			 f->helm_release, f->message);
	else
		log_info("finding cleared: %s %s %s/%s", f->rule, f->workload_kind,
			 f->ns[0] ? f->ns : "-", f->workload);
}

static struct snapshot *get_snapshot(void *ctx)
{
	return snapshot_slot_get(&((struct agent *)ctx)->slot);
}

static void otlp_log(void *ctx, enum otlp_log_level level, const char *line)
{
	_Static_assert((int)OTLP_LOG_DEBUG == (int)LOG_DEBUG, "log levels line up");
	(void)ctx;
	log_msg((enum log_level)level, "%s", line);
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
	struct otlp_sender *otlp = NULL;
	struct otlp_config oc = { 0 };
	struct engine_opts eo;
	struct rules_config rcfg;
	char err[512], host[HOST_NAME_MAX + 1] = "";
	sigset_t mask;
	int sfd = -1, r;

	r = parse_opts(argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	log_set_level(o.level);
	rules_config_default(&rcfg, o.window, o.warmup);
	if (o.rules_config && rules_config_load(o.rules_config, &rcfg, err, sizeof(err)))
		return cli_error("agent", "--rules-config %s: %s", o.rules_config, err);
	a.rules = rules_new(&rcfg);
	if (!a.rules)
		return cli_error("agent", "out of memory");
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
	heap_tune(); /* before any thread: see base/heap.h */
	struct sigaction ign = { .sa_handler = SIG_IGN, .sa_flags = SA_RESTART };

	sigaction(SIGPIPE, &ign, NULL); /* a scraper hanging up must not kill the agent */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		r = cli_error("agent", "signalfd: %s", strerror(errno));
		goto cleanup;
	}

	struct http_server_ops ops = { .snapshot = get_snapshot, .ready = is_ready, .ctx = &a };
	struct http_server_opts hopts = { .listen = o.listen,
					  .tls_cert_file = o.tls_cert,
					  .tls_key_file = o.tls_key,
					  .tls_priorities = o.tls_priorities,
					  .auth_token_file = o.auth_token_file,
					  .stats = &a.stats };

	if (otlp_config_load(&oc, o.otlp_endpoint, o.otlp_interval, NULL, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	a.stats.otlp_enabled = oc.url != NULL;
	if (o.tls_priorities && http_tls_priorities_check(o.tls_priorities, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	if (o.check_config) {
		printf("configuration OK\n");
		r = 0;
		goto cleanup;
	}
	/* The pod list is fetched while the BPF programs load. */
	r = start_kube(&o, &a);
	if (r)
		goto cleanup;
	/* Bind first: a port in use is the most common start-up mistake, and it is cheap. */
	if (http_server_start(&hopts, &ops, &http, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	if (o.auth_token_file && !o.tls_cert)
		log_warn("--auth-token-file without --tls-cert: the token crosses the network in "
			 "clear text");
	eo = (struct engine_opts){ .cgroup_root = o.cgroup_root,
				   .proc_root = o.proc_root,
				   .pin_dir = o.pin_dir,
				   .pin_required = o.pin_explicit,
				   .node_name = o.node_name,
				   .max_cgroups = o.max_cgroups,
				   .net = o.net,
				   .fs = o.fs,
				   .bpf_stats = o.bpf_stats,
				   .kube = a.kube,
				   .series_retention = o.series_retention };
	if (engine__open(&eo, &e, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	log_info("bpfdiag %s (%s) on node %s: cgroup v2 at %s, listening on %s (port %u), "
		 "collecting every %gs; probes: %s",
		 BPFDIAG_VERSION, BPFDIAG_REVISION, o.node_name, engine__cgroup_root(e), o.listen,
		 http_server_port(http), o.interval, engine__features(e));
	if (oc.url) {
		struct otlp_sender_ops sops = { .snapshot = get_snapshot,
						.log = otlp_log,
						.ctx = &a };

		if (otlp_sender_start(&oc, &sops, &a.stats, &otlp, err, sizeof(err))) {
			r = cli_error("agent", "%s", err);
			goto cleanup;
		}
		log_info("otlp: exporting to %s every %gs (%s, timeout %gs)", oc.url, oc.interval,
			 oc.gzip ? "gzip" : "uncompressed", oc.timeout);
	}

	double last_trim = 0;

	for (;;) {
		struct snapshot *s = NULL;
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };

		heap_trim_maybe(&last_trim, clock_mono());
		r = engine__collect(e, &s);
		if (!r) {
			struct rules_kube_ctx kctx = { .km = a.kube, .judge_host = o.judge_host };

			r = rules_update(a.rules, s, a.kube ? rules_kube_facts : rules_local_facts,
					 &kctx, s->time, on_rules_event, NULL);
			rules_kube_ctx_reset(&kctx);
		}
		if (r) {
			log_warn("collection failed: %s", strerror(-r));
			snapshot_unref(s);
			s = NULL;
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
	otlp = otlp_sender_stop(otlp);
	otlp_config_free(&oc);
	http = http_server_stop(http);
	e = engine__close(e);
	a.kube = kube_meta__stop(a.kube);
	snapshot_slot_destroy(&a.slot);
	a.rules = rules_free(a.rules);
	if (sfd >= 0)
		close(sfd);
	return r;
}
