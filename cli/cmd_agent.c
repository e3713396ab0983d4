// SPDX-License-Identifier: BSD-2-Clause
/* bpfdiag agent: the collector daemon. Options → pipeline (agent/pipeline) → HTTP and OTLP
 * exporters reading its snapshots → the pipeline's collection loop until a signal. */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"
#include "base/heap.h"
#include "base/log.h"
#include "base/version.h"
#include "pipeline/pipeline.h"
#include "transport/http.h"
#include "transport/otlp_sender.h"

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
	const char *state_dir; /* NULL: none */
	double state_save;
	bool judge_host;
	bool pin_explicit; /* --pin-dir DIR given: a DIR that cannot hold pins is fatal */
	double interval;
	enum log_level level;
	enum collector_probe_choice net, uring, cpu; /* cli_parse_choice: ints */
	enum collector_fs_probe fs;
	bool bpf_stats;
	int sample_hz; /* collector_opts.sample_hz: 0 none */
	uint32_t max_cgroups;
	double window, warmup;
	const char *rules_config;
	bool check_config;
	double series_retention;
	const char *tls_cert, *tls_key, *tls_priorities, *auth_token_file;
	const char *otlp_endpoint;
	double otlp_interval; /* 0: OTEL_METRIC_EXPORT_INTERVAL or the default */
};

static int parse_pin_dir(const struct cli_opt *opt, const char *value, enum cli_source src,
			 void *opts)
{
	struct agent_opts *o = opts;

	(void)opt;
	o->pin_dir = strcmp(value, "none") == 0 ? NULL : value;
	/* --pin-dir DIR given: a DIR that cannot hold pins is fatal; the default is not. */
	o->pin_explicit = src == CLI_SRC_ARGV && o->pin_dir;
	return 0;
}

static int parse_state_dir(const struct cli_opt *opt, const char *value, enum cli_source src,
			   void *opts)
{
	struct agent_opts *o = opts;

	(void)opt;
	(void)src;
	o->state_dir = strcmp(value, "none") == 0 ? NULL : value;
	return 0;
}

static int parse_log_level(const struct cli_opt *opt, const char *value, enum cli_source src,
			   void *opts)
{
	(void)src;
	return log_parse_level(value, (enum log_level *)((char *)opts + opt->off));
}

static int parse_on_off(const struct cli_opt *opt, const char *value, enum cli_source src,
			void *opts)
{
	(void)src;
	if (strcmp(value, "on") && strcmp(value, "off"))
		return -EINVAL;
	*(bool *)((char *)opts + opt->off) = strcmp(value, "on") == 0;
	return 0;
}

static int parse_max_cgroups(const struct cli_opt *opt, const char *value, enum cli_source src,
			     void *opts)
{
	char *end;
	unsigned long n = strtoul(value, &end, 10);

	(void)src;
	if (*end || end == value || n < 64 || n > (unsigned long)opt->max)
		return -EINVAL;
	*(uint32_t *)((char *)opts + opt->off) = (uint32_t)n;
	return 0;
}

/* --cpu-samples: samples per second per CPU, 1 to opt->max, or 0 for none. */
static int parse_sample_hz(const struct cli_opt *opt, const char *value, enum cli_source src,
			   void *opts)
{
	char *end;
	unsigned long n = strtoul(value, &end, 10);

	(void)src;
	if (*end || end == value || value[0] == '-' || n > (unsigned long)opt->max)
		return -EINVAL;
	*(int *)((char *)opts + opt->off) = (int)n;
	return 0;
}

_Static_assert(sizeof(enum collector_probe_choice) == sizeof(int), "choices are ints");
_Static_assert(sizeof(enum collector_fs_probe) == sizeof(int), "choices are ints");
static const char *const net_probes[] = { "auto", "tracepoint", "cgroup-skb", "off", NULL };
/* In enum collector_fs_probe's order. */
static const char *const fs_probes[] = { "auto", "filesystem", "syscalls", "raw", "off", NULL };
static const char *const uring_probes[] = { "auto", "tp-btf", "tracepoint", "off", NULL };
static const char *const cpu_probes[] = { "auto", "sched-info", "wakeup", NULL };

#define OFF(field) offsetof(struct agent_opts, field)
#define SECS(max_) .parse = cli_parse_secs, .max = (max_)
#define WEEK (7 * 86400)

/* SPEC §2; each option once: getopt_long's table, --help and the environment come from here. */
static const struct cli_opt agent_opts[] = {
	{ "listen", "ADDR:PORT", "HTTP endpoint", "BPFDIAG_LISTEN", "0.0.0.0:9810", cli_parse_str,
	  OFF(listen) },
	{ "node-name", "NAME", "node whose pods are watched (default: the hostname)", "NODE_NAME",
	  NULL, cli_parse_str, OFF(node_name) },
	{ "kube-api", "URL|auto|none",
	  "Kubernetes API; auto: in-cluster when KUBERNETES_SERVICE_HOST is set, else none = "
	  "local mode",
	  "BPFDIAG_KUBE_API", "auto", cli_parse_str, OFF(kube_api) },
	{ "kube-token-file", "F",
	  "bearer token, re-read when it changes (default: the service-account token when "
	  "present)",
	  .parse = cli_parse_str, .off = OFF(kube_token_file) },
	{ "kube-ca-file", "F", "CA bundle for https (default: the service-account ca.crt)",
	  .parse = cli_parse_str, .off = OFF(kube_ca_file) },
	{ "kube-stall-timeout", "SEC", "restart a watch silent for this long (default 120)",
	  SECS(86400), .off = OFF(kube_stall_timeout), .want = "a number in (0, 86400]" },
	{ "kube-backoff-max", "SEC", "reconnect backoff cap (default 30)", SECS(86400),
	  .off = OFF(kube_backoff_max), .want = "a number in (0, 86400]" },
	{ "kube-cache-ttl", "SEC", "workload/PVC/PDB/HPA cache lifetime (default 300)", SECS(86400),
	  .off = OFF(kube_cache_ttl), .want = "a number in (0, 86400]" },
	{ "kube-qps", "N", "enrichment GETs per second (default 5)", SECS(86400),
	  .off = OFF(kube_qps), .want = "a number in (0, 86400]" },
	{ "cgroup-root", "DIR", "cgroup v2 mount (default: detected from mountinfo)",
	  .parse = cli_parse_str, .off = OFF(cgroup_root) },
	{ "proc-root", "DIR", "host /proc", .def = "/proc", .parse = cli_parse_str,
	  .off = OFF(proc_root) },
	{ "interval", "SEC", "map collection period", .def = "5", SECS(3600), .off = OFF(interval),
	  .want = "seconds in (0, 3600]" },
	{ "window", "SEC", "rule evaluation window", .def = "600", SECS(WEEK), .off = OFF(window),
	  .want = "seconds in (0, 604800]" },
	{ "warmup", "SEC", "container age before runtime rules may fire", .def = "300",
	  .parse = cli_parse_secs0, .max = WEEK, .off = OFF(warmup),
	  .want = "seconds in [0, 604800]" },
	{ "rules-config", "FILE", "JSON thresholds per rule, rules on/off (docs/RULES.md)",
	  .parse = cli_parse_str, .off = OFF(rules_config) },
	{ "check-config", NULL, "validate the options, --rules-config and OTLP settings, then exit",
	  .parse = cli_parse_flag, .off = OFF(check_config) },
	{ "pin-dir", "DIR|none", "pinned maps directory", .def = "/sys/fs/bpf/bpfdiag",
	  .parse = parse_pin_dir },
	{ "state-dir", "DIR|none",
	  "where right-sizing histories are kept across restarts (recommendations.state; the "
	  "directory must exist)",
	  "BPFDIAG_STATE_DIR", "/var/lib/bpfdiag", .parse = parse_state_dir },
	{ "state-save", "SEC", "how often the state file is written (default 60; and at exit)",
	  SECS(86400), .off = OFF(state_save), .want = "seconds in (0, 86400]" },
	{ "tls-cert", "FILE", "serve HTTPS with this PEM certificate (and --tls-key)",
	  .parse = cli_parse_str, .off = OFF(tls_cert) },
	{ "tls-key", "FILE", "the PEM private key of --tls-cert", .parse = cli_parse_str,
	  .off = OFF(tls_key) },
	{ "tls-priorities", "STR",
	  "GnuTLS priority string for HTTPS (default: TLS 1.2+, forward-secret AEAD ciphers "
	  "only; docs/SECURITY.md)",
	  .parse = cli_parse_str, .off = OFF(tls_priorities) },
	{ "auth-token-file", "FILE",
	  "require Authorization: Bearer <token> for /metrics and /api (re-read when the file "
	  "changes; /healthz, /readyz stay open)",
	  .parse = cli_parse_str, .off = OFF(auth_token_file) },
	/* The OTLP variables follow the OpenTelemetry SDK's rules (otlp_config.c), not a plain
	 * fallback: they are named in the text. */
	{ "otlp-endpoint", "URL",
	  "OTLP/HTTP metrics export to URL/v1/metrics [OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "
	  "OTEL_EXPORTER_OTLP_ENDPOINT] (default off; OTEL_EXPORTER_OTLP_* variables apply)",
	  .parse = cli_parse_str, .off = OFF(otlp_endpoint) },
	{ "otlp-interval", "SEC",
	  "OTLP export period [OTEL_METRIC_EXPORT_INTERVAL in ms] (default 60)", SECS(86400),
	  .off = OFF(otlp_interval), .want = "seconds in (0, 86400]" },
	{ "log-level", "LEVEL", "error, warn, info or debug", .def = "info",
	  .parse = parse_log_level, .off = OFF(level), .want = "error, warn, info or debug" },
	{ "net-probe", "MODE",
	  "auto, tracepoint (sock_send/recv_length, Linux >= 6.3), cgroup-skb (the fallback) "
	  "or off (no network or TCP metrics; no probe runs per send, receive or packet)",
	  .def = "auto", .parse = cli_parse_choice, .off = OFF(net), .choices = net_probes,
	  .want = "auto, tracepoint, cgroup-skb or off" },
	{ "fs-probe", "MODE",
	  "auto or filesystem (ext4/xfs/btrfs/iomap/page-cache tracepoints; no syscall pays), "
	  "syscalls (per-syscall tracepoints: every filesystem, tmpfs too, but every syscall on "
	  "the node takes the tracing slow path; needs tracefs), raw (sys_enter/sys_exit) or off "
	  "(no filesystem metrics)",
	  .def = "auto", .parse = cli_parse_choice, .off = OFF(fs), .choices = fs_probes,
	  .want = "auto, filesystem, syscalls, raw or off" },
	{ "uring-probe", "MODE",
	  "io_uring file I/O: auto, tp-btf (Linux >= 6.0), tracepoint (the fallback, needs "
	  "tracefs) or off",
	  .def = "auto", .parse = cli_parse_choice, .off = OFF(uring), .choices = uring_probes,
	  .want = "auto, tp-btf, tracepoint or off" },
	{ "cpu-probe", "MODE",
	  "auto, sched-info (run-queue wait from the scheduler's own sched_info) or wakeup "
	  "(sched_wakeup timestamps, the fallback)",
	  .def = "auto", .parse = cli_parse_choice, .off = OFF(cpu), .choices = cpu_probes,
	  .want = "auto, sched-info or wakeup" },
	{ "cpu-samples", "HZ",
	  "perf cpu-clock samples per second per CPU (bpfdiag_cpu_samples_total), e.g. 99, or "
	  "0: none (every sample interrupts the CPU it lands on; CPU time is exact without them)",
	  .def = "0", .parse = parse_sample_hz, .off = OFF(sample_hz), .max = 1000,
	  .want = "0 to 1000" },
	{ "bpf-stats", "on|off",
	  "turn on kernel BPF run-time statistics (needs CAP_SYS_ADMIN; they cost every BPF "
	  "program on the node two clock reads per run; off, they are reported anyway when "
	  "kernel.bpf_stats_enabled=1)",
	  .def = "off", .parse = parse_on_off, .off = OFF(bpf_stats), .want = "on or off" },
	{ "max-cgroups", "N", "per-cgroup BPF map size (default 8192)", .parse = parse_max_cgroups,
	  .off = OFF(max_cgroups), .max = 1000000, .want = "64 to 1000000" },
	{ "series-retention", "SEC", "how long a series outlives its last cgroup (default 300)",
	  SECS(WEEK), .off = OFF(series_retention), .want = "seconds in (0, 604800]" },
	{ "judge-host-cgroups", NULL,
	  "with the Kubernetes API, also judge cgroups outside pods (the host's services); they "
	  "are always measured and exported",
	  .parse = cli_parse_flag, .off = OFF(judge_host) },
};

static const struct cli_command agent_cmd = {
	.name = "agent",
	.usage = "[options]",
	.about = "Runs the collector daemon in the foreground; logs go to stderr.\n",
	.opts = agent_opts,
	.n_opts = sizeof(agent_opts) / sizeof(agent_opts[0]),
};

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
	char err[512];
	int r;

	*o = (struct agent_opts){ 0 };
	r = cli_opts_parse(&agent_cmd, argc, argv, o);
	if (r)
		return r;
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

/* The exporters read the pipeline's slot. */
static struct snapshot *get_snapshot(void *ctx)
{
	return pipeline__snapshot(ctx);
}

static bool is_ready(void *ctx)
{
	return pipeline__ready(ctx);
}

static void otlp_log(void *ctx, enum otlp_log_level level, const char *line)
{
	_Static_assert((int)OTLP_LOG_DEBUG == (int)LOG_DEBUG, "log levels line up");
	(void)ctx;
	log_msg((enum log_level)level, "%s", line);
}

static void kube_log(void *ctx, enum kube_log_level level, const char *msg)
{
	(void)ctx;
	log_msg(level == KUBE_LOG_WARN ? LOG_WARN : LOG_INFO, "kube: %s", msg);
}

/* The pipeline, its Kubernetes metadata threads started (the pod list is fetched while the
 * BPF programs load); the collector is loaded later. */
static int new_pipeline(const struct agent_opts *o, const struct rules_config *rcfg,
			struct pipeline **ret)
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
	struct pipeline_opts po = {
		.engine = { .cgroup_root = o->cgroup_root,
			    .proc_root = o->proc_root,
			    .pin_dir = o->pin_dir,
			    .pin_required = o->pin_explicit,
			    .node_name = o->node_name,
			    .max_cgroups = o->max_cgroups,
			    .net = o->net,
			    .fs = o->fs,
			    .uring = o->uring,
			    .cpu = o->cpu,
			    .bpf_stats = o->bpf_stats,
			    .sample_hz = o->sample_hz,
			    .series_retention = o->series_retention },
		.kube = o->kube.enabled ? &ko : NULL,
		.rules = *rcfg,
		.judge_host = o->judge_host,
		.state_dir = o->state_dir,
		.state_save = o->state_save,
	};
	char err[512];

	if (pipeline__new(&po, ret, err, sizeof(err)))
		return cli_error("agent", "%s", err);
	if (o->kube.enabled)
		log_info("kube: watching the pods of node %s at %s%s", o->node_name, o->kube.url,
			 o->kube.in_cluster ? " (in-cluster)" : "");
	return 0;
}

/* The descriptor limit up to its hard limit (2^20 at most): the engine keeps each container's
 * cgroup directories and the files it reads every collection open (host/cgroupfs.h), up to
 * half the soft limit; past it, it opens them for each read as before. Every descriptor user here polls with epoll or poll, never select. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max < (1u << 20) ? rl.rlim_max : (1u << 20);
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_debug("cannot raise the descriptor limit: %s", strerror(errno));
}

int do_agent(int argc, char **argv)
{
	struct agent_opts o;
	struct pipeline *pl = NULL;
	struct selfmetrics stats = { 0 }; /* the exporters' own counters */
	struct http_server *http = NULL;
	struct otlp_sender *otlp = NULL;
	struct otlp_config oc = { 0 };
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
	if (!o.node_name) {
		gethostname(host, sizeof(host) - 1);
		o.node_name = host;
	}

	/* Signals arrive on a descriptor, so the loop waits on one poll(). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	heap_tune(); /* before any thread: see base/heap.h */
	raise_nofile();
	struct sigaction ign = { .sa_handler = SIG_IGN, .sa_flags = SA_RESTART };

	sigaction(SIGPIPE, &ign, NULL); /* a scraper hanging up must not kill the agent */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		r = cli_error("agent", "signalfd: %s", strerror(errno));
		goto cleanup;
	}

	struct http_server_opts hopts = { .listen = o.listen,
					  .tls_cert_file = o.tls_cert,
					  .tls_key_file = o.tls_key,
					  .tls_priorities = o.tls_priorities,
					  .auth_token_file = o.auth_token_file,
					  .stats = &stats };

	if (o.tls_priorities && http_tls_priorities_check(o.tls_priorities, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	if (otlp_config_load(&oc, o.otlp_endpoint, o.otlp_interval, NULL, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	stats.otlp_enabled = oc.url != NULL;
	if (o.check_config) {
		printf("configuration OK\n");
		r = 0;
		goto cleanup;
	}
	r = new_pipeline(&o, &rcfg, &pl);
	if (r)
		goto cleanup;
	/* Bind first: a port in use is the most common start-up mistake, and it is cheap. */
	struct http_server_ops ops = { .snapshot = get_snapshot, .ready = is_ready, .ctx = pl };

	if (http_server_start(&hopts, &ops, &http, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	if (o.auth_token_file && !o.tls_cert)
		log_warn("--auth-token-file without --tls-cert: the token crosses the network in "
			 "clear text");
	if (pipeline__load(pl, err, sizeof(err))) {
		r = cli_error("agent", "%s", err);
		goto cleanup;
	}
	log_info("bpfdiag %s (%s) on node %s: cgroup v2 at %s, listening on %s (port %u), "
		 "collecting every %gs; probes: %s",
		 BPFDIAG_VERSION, BPFDIAG_REVISION, o.node_name,
		 engine__cgroup_root(pipeline__engine(pl)), o.listen, http_server_port(http),
		 o.interval, engine__features(pipeline__engine(pl)));
	if (oc.url) {
		struct otlp_sender_ops sops = { .snapshot = get_snapshot,
						.log = otlp_log,
						.ctx = pl };

		if (otlp_sender_start(&oc, &sops, &stats, &otlp, err, sizeof(err))) {
			r = cli_error("agent", "%s", err);
			goto cleanup;
		}
		log_info("otlp: exporting to %s every %gs (%s, timeout %gs)", oc.url, oc.interval,
			 oc.gzip ? "gzip" : "uncompressed", oc.timeout);
	}

	if (pipeline__run(pl, o.interval, sfd, 0) == 0) {
		struct signalfd_siginfo si;

		if (read(sfd, &si, sizeof(si)) == sizeof(si))
			log_info("signal %u: shutting down", si.ssi_signo);
	}
	pipeline__save(pl);
	r = 0;
cleanup:
	/* The exporters read the pipeline's slot: they stop first. */
	otlp = otlp_sender_stop(otlp);
	otlp_config_free(&oc);
	http = http_server_stop(http);
	pl = pipeline__free(pl);
	if (sfd >= 0)
		close(sfd);
	return r;
}
