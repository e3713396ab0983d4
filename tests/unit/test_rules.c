// SPDX-License-Identifier: BSD-2-Clause
/* The rules engine on synthetic collections (the snapshot's per-interval deltas): windowed
 * firing at 70 % and clearing below 50 % (hysteresis), warm-up, init and sandbox exclusion, the
 * ignore annotation, static rules, aggregation across a workload's pods, events, evidence,
 * workload identity, the local-mode CPU rules, the rule definitions and --rules-config parsing. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rules/rule_def.h"
#include "rules/rule_window.h"
#include "rules/rules.h"

#define MiB (1024.0 * 1024.0)

/* One fake container: what it does per second, handed to the rules as the snapshot's
 * per-interval deltas (as the engine computes them: none on a series' first collection). */
struct fake {
	struct rules_facts f;
	const char *path;
	double pvc_bps, pvc_fsync_ps, rootfs_bps, rootfs_fsync_ps;
	double pvc_read_bps; /* read from the PVC */
	bool listening;
	uint16_t first_port; /* another listener, listed before 5432 (0: none) */
	double server_cps; /* connections accepted per second */
	double emptydir_bps; /* into the emptyDir volume named emptydir */
	const char *emptydir;
	bool seen; /* collected before: its series has deltas */
};

struct world {
	struct fake c[4];
	int n;
	int started, cleared;
	char last_rule[8];
};

static int facts_of(void *ctx, const struct snap_series *se, struct rules_facts *ret)
{
	struct world *w = ctx;

	for (int i = 0; i < w->n; i++) {
		if (strcmp(se->cgroup_path, w->c[i].path) == 0) {
			*ret = w->c[i].f;
			return 0;
		}
	}
	return -1;
}

static void on_event(void *ctx, const struct rules_event *ev)
{
	struct world *w = ctx;

	if (ev->started)
		w->started++;
	else
		w->cleared++;
	snprintf(w->last_rule, sizeof(w->last_rule), "%s", ev->finding->rule);
}

/* Advances every fake by dt seconds and builds the collection. */
static struct snapshot *collect(struct world *w, double dt)
{
	struct snapshot *s = snapshot_new((size_t)w->n);

	assert_non_null(s);
	for (int i = 0; i < w->n; i++) {
		struct fake *f = &w->c[i];
		struct snap_series *se = &s->series[i];
		struct snap_delta *d = &se->delta;

		se->cgroup_path = strdup(f->path);
		if (f->seen) {
			d->seconds = dt;
			d->fs_write_bytes[VOLUME_ROOTFS] = f->rootfs_bps * dt;
			d->fs_write_bytes[VOLUME_PVC] = f->pvc_bps * dt;
			d->fs_sync_calls[VOLUME_ROOTFS] = f->rootfs_fsync_ps * dt;
			d->fs_sync_calls[VOLUME_PVC] = f->pvc_fsync_ps * dt;
			d->fs_read_bytes[VOLUME_PVC] = f->pvc_read_bps * dt;
			d->conns_opened[ROLE_SERVER] = f->server_cps * dt;
			if (f->emptydir) {
				d->fs_write_bytes[VOLUME_EMPTYDIR] = f->emptydir_bps * dt;
				d->emptydir[0].name = snap_intern(se->strings, f->emptydir);
				d->emptydir[0].write_bytes = f->emptydir_bps * dt;
				d->n_emptydir = 1;
			}
			if (f->pvc_bps > 0 || f->pvc_fsync_ps > 0)
				d->pvc_volume = "data-orders";
		}
		f->seen = true;
		if (f->listening) {
			se->listen_ports = malloc(2 * sizeof(uint16_t));
			if (f->first_port)
				se->listen_ports[se->n_listen_ports++] = f->first_port;
			se->listen_ports[se->n_listen_ports++] = 5432;
		}
	}
	return s;
}

static void deployment(struct fake *f, const char *path, const char *uid)
{
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->f.known = true;
	snprintf(f->f.ns, sizeof(f->f.ns), "shop");
	snprintf(f->f.pod_uid, sizeof(f->f.pod_uid), "%s", uid);
	snprintf(f->f.container, sizeof(f->f.container), "db");
	snprintf(f->f.workload_kind, sizeof(f->f.workload_kind), "Deployment");
	snprintf(f->f.workload, sizeof(f->f.workload), "orders");
	snprintf(f->f.helm_release, sizeof(f->f.helm_release), "orders-prod");
	f->f.has_cpu_request = f->f.has_memory_request = f->f.has_memory_limit = true;
	f->f.readiness_probe = true;
	f->f.read_only_root_fs = true;
	f->f.replicas = 1;
}

static const struct snap_finding *find(const struct snapshot *s, const char *rule)
{
	for (size_t i = 0; i < s->n_findings; i++) {
		if (strcmp(s->findings[i].rule, rule) == 0)
			return &s->findings[i];
	}
	return NULL;
}

/* Runs n one-second collections; returns the last snapshot (caller unrefs). */
/* w->c[i] for each of the n names: a workload of that kind and name (its cgroup path and pod
 * UID too). */
static void workloads(struct world *w, const char *kind, const char *const *names, int n)
{
	for (int i = 0; i < n; i++) {
		deployment(&w->c[i], names[i], names[i]);
		snprintf(w->c[i].f.workload_kind, sizeof(w->c[i].f.workload_kind), "%s", kind);
		snprintf(w->c[i].f.workload, sizeof(w->c[i].f.workload), "%s", names[i]);
	}
}

static struct snapshot *run(struct rules_engine *r, struct world *w, double *now, int n)
{
	struct snapshot *s = NULL;

	for (int i = 0; i < n; i++) {
		snapshot_unref(s);
		*now += 1;
		s = collect(w, 1);
		assert_int_equal(rules_update(r, s, facts_of, w, *now, on_event, w), 0);
	}
	return s;
}

static struct rules_engine *engine(void)
{
	struct rules_config cfg;

	rules_config_default(&cfg, 10, 0);
	return rules_new(&cfg);
}

static void test_wk05_fires_and_clears_with_hysteresis(void **state)
{
	struct world w = { .n = 1 };
	struct rules_engine *r = engine();
	double now = 1000;
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	deployment(&w.c[0], "/a", "u1");
	w.c[0].pvc_bps = 5 * MiB;
	w.c[0].pvc_fsync_ps = 38;
	w.c[0].listening = true;
	/* 6 crossing buckets (plus the first collection, which only sets a baseline): quiet */
	s = run(r, &w, &now, 7);
	assert_null(find(s, "WK-05"));
	snapshot_unref(s);
	/* the 7th crossing bucket of 10 fires it */
	s = run(r, &w, &now, 1);
	f = find(s, "WK-05");
	assert_non_null(f);
	assert_int_equal(w.started, 1);
	assert_string_equal(f->suggested_kind, "StatefulSet");
	assert_string_equal(f->severity, "high");
	assert_string_equal(f->helm_release, "orders-prod");
	assert_non_null(strstr(f->message, "5.0 MiB/s"));
	assert_non_null(strstr(f->message, "pvc data-orders"));
	assert_non_null(strstr(f->message, ":5432"));
	assert_string_equal(f->evidence[0].name, "pvc_write_bytes_per_second");
	assert_true(f->evidence[0].value > 4.9 * MiB && f->evidence[0].value < 5.1 * MiB);
	assert_true(f->since == now);
	snapshot_unref(s);
	/* fill the window, then stop writing: it stays until fewer than 5 of 10 buckets cross */
	s = run(r, &w, &now, 3);
	snapshot_unref(s);
	w.c[0].pvc_bps = 0;
	w.c[0].pvc_fsync_ps = 0;
	s = run(r, &w, &now, 5);
	assert_non_null(find(s, "WK-05"));
	assert_true(find(s, "WK-05")->since < now - 5);
	snapshot_unref(s);
	s = run(r, &w, &now, 1);
	assert_null(find(s, "WK-05"));
	assert_int_equal(w.cleared, 1);
	assert_string_equal(w.last_rule, "WK-05");
	snapshot_unref(s);
	rules_free(r);
}

/* WK-07: a StatefulSet that neither writes nor syncs its claim is stateless, unless it reads
 * the claim at a steady rate (a read replica serving its data). */
static void test_wk07_reads_keep_state(void **state)
{
	struct world w = { .n = 2 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;
	const struct snap_finding *f;

	static const char *const names[] = { "replica", "idle" };

	(void)state;
	workloads(&w, "StatefulSet", names, 2);
	w.c[0].pvc_read_bps = 20 * MiB;
	w.c[1].pvc_read_bps = 1024; /* below 4 KiB/s: a config read now and then */
	s = run(r, &w, &now, 30);
	assert_int_equal(s->n_findings, 1);
	f = find(s, "WK-07");
	assert_non_null(f);
	assert_string_equal(f->workload, "idle");
	assert_string_equal(f->evidence[1].name, "pvc_read_bytes_per_second");
	assert_true(f->evidence[1].value > 1000 && f->evidence[1].value < 1050);
	assert_non_null(strstr(f->message, "read 1 KiB/s from its claims"));
	snapshot_unref(s);
	/* the replica stops reading: it is stateless now */
	w.c[0].pvc_read_bps = 0;
	s = run(r, &w, &now, 10);
	assert_int_equal(s->n_findings, 2);
	snapshot_unref(s);
	rules_free(r);
}

static void test_lookalikes_stay_quiet(void **state)
{
	struct world w = { .n = 2 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;

	(void)state;
	/* a cache that listens but never fsyncs and barely writes */
	deployment(&w.c[0], "/cache", "u1");
	snprintf(w.c[0].f.workload, sizeof(w.c[0].f.workload), "redis-cache");
	w.c[0].listening = true;
	w.c[0].pvc_bps = 1024;
	/* an app appending logs to rootfs without fsync */
	deployment(&w.c[1], "/logger", "u2");
	snprintf(w.c[1].f.workload, sizeof(w.c[1].f.workload), "logger");
	w.c[1].rootfs_bps = 4 * MiB;
	s = run(r, &w, &now, 30);
	assert_int_equal(s->n_findings, 0);
	snapshot_unref(s);
	rules_free(r);
}

static void test_warmup_init_sandbox_and_ignore(void **state)
{
	struct rules_config cfg;
	struct world w = { .n = 4 };
	struct rules_engine *r;
	double now = 10000;
	struct snapshot *s;

	(void)state;
	rules_config_default(&cfg, 10, 300);
	r = rules_new(&cfg);
	for (int i = 0; i < 4; i++) {
		static const char *paths[] = { "/young", "/init", "/pause", "/ignored" };
		char uid[8], name[16];

		snprintf(uid, sizeof(uid), "u%d", i);
		snprintf(name, sizeof(name), "wl%d", i);
		deployment(&w.c[i], paths[i], uid);
		snprintf(w.c[i].f.workload, sizeof(w.c[i].f.workload), "%s", name);
		w.c[i].pvc_bps = 5 * MiB;
		w.c[i].pvc_fsync_ps = 40;
		w.c[i].listening = true;
		w.c[i].f.started_at = 1; /* old enough */
	}
	w.c[0].f.started_at = now; /* younger than the warm-up for the whole run */
	w.c[1].f.init = true;
	w.c[2].f.sandbox = true;
	snprintf(w.c[3].f.ignore_rules, sizeof(w.c[3].f.ignore_rules), "RS-02, WK-05");
	s = run(r, &w, &now, 20);
	assert_int_equal(s->n_findings, 0);
	snapshot_unref(s);
	/* the ignore list names rules: another rule of the same workload still fires */
	snprintf(w.c[3].f.ignore_rules, sizeof(w.c[3].f.ignore_rules), "WK-01");
	s = run(r, &w, &now, 1);
	assert_non_null(find(s, "WK-05"));
	assert_string_equal(find(s, "WK-05")->workload, "wl3");
	snapshot_unref(s);
	snprintf(w.c[3].f.ignore_rules, sizeof(w.c[3].f.ignore_rules), "all");
	s = run(r, &w, &now, 1);
	assert_int_equal(s->n_findings, 0);
	snapshot_unref(s);
	rules_free(r);
}

static void test_static_rules(void **state)
{
	struct world w = { .n = 3 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	deployment(&w.c[0], "/bare", "u1");
	snprintf(w.c[0].f.workload_kind, sizeof(w.c[0].f.workload_kind), "Pod");
	snprintf(w.c[0].f.workload, sizeof(w.c[0].f.workload), "debug-shell");
	w.c[0].f.has_memory_limit = false;
	deployment(&w.c[1], "/agent", "u2");
	snprintf(w.c[1].f.workload_kind, sizeof(w.c[1].f.workload_kind), "DaemonSet");
	snprintf(w.c[1].f.workload, sizeof(w.c[1].f.workload), "node-exporter");
	w.c[1].f.host_pid = w.c[1].f.privileged = true;
	deployment(&w.c[2], "/web", "u3");
	snprintf(w.c[2].f.workload, sizeof(w.c[2].f.workload), "uploads");
	snprintf(w.c[2].f.rwo_claim, sizeof(w.c[2].f.rwo_claim), "uploads-data");
	w.c[2].f.replicas = 3;
	w.c[2].f.host_network = true;
	/* static rules need no window: the first collection decides */
	s = run(r, &w, &now, 1);
	f = find(s, "WK-13");
	assert_non_null(f);
	assert_string_equal(f->workload, "debug-shell");
	assert_non_null(find(s, "RS-01"));
	f = find(s, "WK-03");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "uploads-data"));
	assert_non_null(strstr(f->message, "3 replicas"));
	/* host namespaces: SC-01 for the Deployment, never for the DaemonSet node agent */
	f = find(s, "SC-01");
	assert_non_null(f);
	assert_string_equal(f->workload, "uploads");
	for (size_t i = 0; i < s->n_findings; i++)
		assert_string_not_equal(s->findings[i].workload, "node-exporter");
	/* host network with one replica here: a node agent shipped as a Deployment */
	assert_non_null(find(s, "WK-10"));
	assert_string_equal(find(s, "WK-10")->suggested_kind, "DaemonSet");
	snapshot_unref(s);
	/* the fix clears it at once */
	w.c[2].f.replicas = 1;
	s = run(r, &w, &now, 1);
	assert_null(find(s, "WK-03"));
	snapshot_unref(s);
	rules_free(r);
}

/* WK-03 at one replica: a RollingUpdate Deployment with a ReadWriteOnce claim hangs its
 * rollouts on Multi-Attach; the same Deployment with the Recreate strategy does not. */
static void test_wk03_rolling_update(void **state)
{
	struct world w = { .n = 2 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;
	const struct snap_finding *f;

	static const char *const names[] = { "wiki", "reports" };

	(void)state;
	/* one replica each, no HPA: only the strategy tells them apart */
	workloads(&w, "Deployment", names, 2);
	for (int i = 0; i < 2; i++)
		snprintf(w.c[i].f.rwo_claim, sizeof(w.c[i].f.rwo_claim), "%s-pages", names[i]);
	w.c[0].f.rolling_update = true;
	s = run(r, &w, &now, 1);
	f = find(s, "WK-03");
	assert_non_null(f);
	assert_string_equal(f->workload, "wiki");
	assert_string_equal(f->suggested_kind, "StatefulSet");
	assert_non_null(strstr(f->message, "claim wiki-pages with the RollingUpdate strategy"));
	assert_non_null(strstr(f->message, "strategy: Recreate"));
	assert_string_equal(f->evidence[2].name, "rolling_update");
	assert_true(f->evidence[2].value == 1);
	assert_int_equal(s->n_findings, 1);
	snapshot_unref(s);
	/* switching to Recreate clears it */
	w.c[0].f.rolling_update = false;
	s = run(r, &w, &now, 1);
	assert_null(find(s, "WK-03"));
	snapshot_unref(s);
	rules_free(r);
}

/* WK-04: sustained writes into an emptyDir without a sizeLimit (the facts list those); quiet
 * with a sizeLimit or under the threshold. */
static void test_wk04_emptydir_unbounded(void **state)
{
	struct world w = { .n = 3 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	for (int i = 0; i < 3; i++) {
		static const char *const names[] = { "renderer", "bounded", "trickle" };

		deployment(&w.c[i], names[i], names[i]);
		snprintf(w.c[i].f.workload, sizeof(w.c[i].f.workload), "%s", names[i]);
		w.c[i].emptydir = "scratch";
		w.c[i].emptydir_bps = 1.5 * MiB;
		snprintf(w.c[i].f.unbounded_emptydirs[0], sizeof(w.c[i].f.unbounded_emptydirs[0]),
			 "scratch");
		w.c[i].f.n_unbounded_emptydirs = 1;
	}
	w.c[1].f.n_unbounded_emptydirs = 0; /* its emptyDir has a sizeLimit */
	w.c[2].emptydir_bps = 0.9 * MiB; /* under 1 MiB/s */
	s = run(r, &w, &now, 12);
	f = find(s, "WK-04");
	assert_non_null(f);
	assert_string_equal(f->workload, "renderer");
	assert_string_equal(f->rule_name, "emptydir-unbounded");
	assert_string_equal(f->suggested_kind, "");
	assert_non_null(strstr(f->message, "writes 1.5 MiB/s into emptyDir scratch"));
	assert_non_null(strstr(f->message, "sizeLimit"));
	assert_string_equal(f->evidence[0].name, "emptydir_write_bytes_per_second");
	assert_true(f->evidence[0].value > 1.4 * MiB && f->evidence[0].value < 1.6 * MiB);
	assert_int_equal(s->n_findings, 1);
	snapshot_unref(s);
	rules_free(r);
}

/* A workload whose metadata is still due is not judged: once it arrives, its ignore-rules
 * annotation holds from the start, so no finding starts and clears again. */
static void test_pending_metadata(void **state)
{
	struct world w = { .n = 1 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;

	(void)state;
	deployment(&w.c[0], "/sandbox", "u1");
	w.c[0].f.privileged = true;
	w.c[0].f.has_memory_limit = false;
	w.c[0].f.pending = true;
	s = run(r, &w, &now, 3);
	assert_int_equal(s->n_findings, 0);
	snapshot_unref(s);
	/* the workload's GET answered: ignored altogether */
	w.c[0].f.pending = false;
	snprintf(w.c[0].f.ignore_rules, sizeof(w.c[0].f.ignore_rules), "all");
	s = run(r, &w, &now, 3);
	assert_int_equal(s->n_findings, 0);
	assert_int_equal(w.started, 0);
	snapshot_unref(s);
	/* without the annotation the static rules fire at the next collection */
	w.c[0].f.ignore_rules[0] = '\0';
	s = run(r, &w, &now, 1);
	assert_non_null(find(s, "SC-01"));
	assert_non_null(find(s, "RS-01"));
	snapshot_unref(s);
	rules_free(r);
}

static void test_aggregates_pods_of_a_workload(void **state)
{
	struct world w = { .n = 2 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;

	(void)state;
	/* two replicas each below the threshold, together above it */
	deployment(&w.c[0], "/a", "pod-a");
	deployment(&w.c[1], "/b", "pod-b");
	for (int i = 0; i < 2; i++) {
		w.c[i].rootfs_bps = 300 * 1024;
		w.c[i].rootfs_fsync_ps = 0.15;
		w.c[i].f.replicas = 2;
	}
	s = run(r, &w, &now, 12);
	assert_non_null(find(s, "WK-01"));
	assert_int_equal(s->n_findings, 1);
	snapshot_unref(s);
	rules_free(r);
}

/* RL-01 is judged per container: the container that listens and accepts has the probe, and its
 * probeless sidecar serves nothing, so the pod is fine; without the probe on the listener it
 * fires, naming the listener's port. */
static void test_rl01_per_container(void **state)
{
	struct world w = { .n = 2 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	deployment(&w.c[0], "/db", "u1");
	w.c[0].listening = true;
	w.c[0].server_cps = 3;
	deployment(&w.c[1], "/load", "u1");
	snprintf(w.c[1].f.container, sizeof(w.c[1].f.container), "load");
	w.c[1].f.readiness_probe = false;
	s = run(r, &w, &now, 12);
	assert_null(find(s, "RL-01"));
	snapshot_unref(s);
	rules_free(r);

	r = engine();
	w.c[0].f.readiness_probe = false;
	s = run(r, &w, &now, 12);
	f = find(s, "RL-01");
	assert_non_null(f);
	assert_non_null(strstr(f->message, ":5432"));
	assert_true(f->evidence[1].value > 2.9 && f->evidence[1].value < 3.1);
	snapshot_unref(s);
	rules_free(r);
}

/* A finding names the port the pod spec declares when the container also listens elsewhere
 * (RabbitMQ's epmd on 4369 besides its own 5672), else the first it listens on. */
static void test_named_port_is_the_declared_one(void **state)
{
	struct world w = { .n = 1 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;

	(void)state;
	deployment(&w.c[0], "/mq", "u1");
	w.c[0].pvc_fsync_ps = 40;
	w.c[0].listening = true;
	w.c[0].first_port = 4369;
	w.c[0].f.ports[0] = 5432;
	w.c[0].f.n_ports = 1;
	s = run(r, &w, &now, 12);
	assert_non_null(find(s, "WK-05"));
	assert_non_null(strstr(find(s, "WK-05")->message, "listens on :5432"));
	snapshot_unref(s);
	rules_free(r);

	r = engine();
	w.c[0].f.n_ports = 0;
	s = run(r, &w, &now, 12);
	assert_non_null(strstr(find(s, "WK-05")->message, "listens on :4369"));
	snapshot_unref(s);
	rules_free(r);
}

static void test_config(void **state)
{
	struct rules_config cfg, before;
	char err[256];

	(void)state;
	rules_config_default(&cfg, 600, 300);
	assert_true(cfg.enabled[RULE_WK05]);
	assert_int_equal(
		rules_config_parse("{\"WK-05\": {\"enabled\": false, "
				   "\"pvc_fsync_per_second\": 10}, \"RS-06\": "
				   "{\"runqueue_p99_seconds\": 0.01, \"severity\": \"high\"}, "
				   "\"hysteresis\": "
				   "{\"fire_ratio\": 0.8, \"clear_ratio\": 0.4}}",
				   &cfg, err, sizeof(err)),
		0);
	assert_false(cfg.enabled[RULE_WK05]);
	assert_true(rules_threshold(&cfg, RULE_WK05, "pvc_fsync_per_second") == 10);
	assert_true(rules_threshold(&cfg, RULE_RS06, "runqueue_p99_seconds") == 0.01);
	assert_string_equal(cfg.severity[RULE_RS06], "high");
	assert_true(cfg.fire_ratio == 0.8);
	before = cfg;
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{ "{\"WK-99\": {}}", "unknown rule 'WK-99'" },
		{ "{\"WK-05\": {\"pvc_fsync\": 1}}", "unknown setting 'WK-05.pvc_fsync'" },
		{ "{\"WK-05\": {\"pvc_fsync_per_second\": \"fast\"}}", "must be a number" },
		{ "{\"WK-05\": {\"pvc_fsync_per_second\": -1}}", "out of range" },
		{ "{\"WK-05\": {\"enabled\": 1}}", "must be true or false" },
		{ "{\"WK-05\": {\"severity\": \"urgent\"}}", "severity must be critical" },
		{ "{\"WK-05\": true}", "must be an object" },
		{ "[1]", "top level must be an object" },
		{ "{\"WK-05\": {}", "not valid JSON" },
		{ "{} trailing", "not valid JSON" },
		{ "{\"hysteresis\": {\"clear_ratio\": 0.9}}", "must be below fire_ratio" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(rules_config_parse(bad[i].json, &cfg, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: error '%s' lacks '%s'", bad[i].json, err, bad[i].msg);
		assert_memory_equal(&cfg, &before, sizeof(cfg));
	}
	assert_int_not_equal(rules_config_load("/nonexistent/rules.json", &cfg, err, sizeof(err)),
			     0);
	assert_non_null(strstr(err, "/nonexistent/rules.json"));
}

/* Every rule is one definition: found by its id, named, with a default severity, a kind it
 * applies to, exactly one test (runtime or static), and a message. */
static void test_registry_defines_every_rule(void **state)
{
	static const char *const sev[] = { "critical", "high", "medium", "low", "info" };
	size_t n = rules_wk_n + rules_rs_n + rules_rl_sc_n;

	(void)state;
	assert_int_equal(n, RULE_MAX);
	for (int i = 0; i < RULE_MAX; i++) {
		const struct rule_def *d = rule_def_of((enum rule_id)i);
		struct rule_workload w = { .ns = "",
					   .kind = "Deployment",
					   .name = "x",
					   .helm = "",
					   .missing_resources_container = "",
					   .f = { .rwo_claim = "", .ignore_rules = "" } };
		struct bucket b = { 0 };
		struct snap_finding f = { 0 };
		bool sev_ok = false;

		assert_non_null(d);
		assert_int_equal(d->id, i);
		assert_int_equal(strlen(d->code), 5);
		assert_true(d->code[2] == '-');
		assert_string_equal(rule_code((enum rule_id)i), d->code);
		assert_true(d->name && d->name[0]);
		assert_string_equal(rule_name((enum rule_id)i), d->name);
		for (size_t k = 0; k < sizeof(sev) / sizeof(sev[0]); k++)
			sev_ok |= strcmp(d->severity, sev[k]) == 0;
		assert_true(sev_ok);
		assert_non_null(d->suggests);
		assert_true(d->kinds != 0 && (d->kinds & ~(unsigned)RK_ALL) == 0);
		assert_true((d->crosses != NULL || d->window != NULL) != (d->holds != NULL));
		assert_non_null(d->describe);
		d->describe(&w, &b, 1, &f);
		assert_true(f.message[0]);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(rule_code((enum rule_id)j), d->code);
		for (int k = 0; k < RULES_MAX_KNOBS; k++) {
			const struct rule_knob *kn = &d->knobs[k];

			if (!kn->key) {
				/* settings fill the first slots */
				for (int l = k; l < RULES_MAX_KNOBS; l++)
					assert_null(d->knobs[l].key);
				break;
			}
			assert_true(d->crosses != NULL);
			assert_true(kn->min <= kn->def && kn->def <= kn->max);
		}
	}
	assert_null(rule_def_of(RULE_MAX));
	assert_string_equal(rule_code(RULE_MAX), "");
}

/* A setting's default and range come from its rule's definition. */
static void test_knob_ranges_from_definitions(void **state)
{
	struct rules_config cfg;
	char json[256], err[256];

	(void)state;
	for (int i = 0; i < RULE_MAX; i++) {
		const struct rule_def *d = rule_def_of((enum rule_id)i);

		for (int k = 0; k < RULES_MAX_KNOBS && d->knobs[k].key; k++) {
			const struct rule_knob *kn = &d->knobs[k];
			const double bad[] = { kn->min - 1, kn->max * 2 + 1 };

			rules_config_default(&cfg, 600, 300);
			assert_true(rules_threshold(&cfg, d->id, kn->key) == kn->def);
			assert_true(cfg.threshold[i][k] == kn->def);
			snprintf(json, sizeof(json), "{\"%s\": {\"%s\": %.17g}}", d->code, kn->key,
				 kn->max);
			assert_int_equal(rules_config_parse(json, &cfg, err, sizeof(err)), 0);
			assert_true(rules_threshold(&cfg, d->id, kn->key) == kn->max);
			for (size_t b = 0; b < 2; b++) {
				snprintf(json, sizeof(json), "{\"%s\": {\"%s\": %.17g}}", d->code,
					 kn->key, bad[b]);
				assert_int_equal(rules_config_parse(json, &cfg, err, sizeof(err)),
						 -EINVAL);
				if (!strstr(err, "out of range"))
					fail_msg("%s: error '%s'", json, err);
			}
		}
	}
	/* a rule's settings are its own: WK-07 shares a key name with WK-05, not its value */
	rules_config_default(&cfg, 600, 300);
	assert_int_equal(rules_config_parse("{\"WK-07\": {\"pvc_write_bytes_per_second\": 1}}",
					    &cfg, err, sizeof(err)),
			 0);
	assert_true(rules_threshold(&cfg, RULE_WK07, "pvc_write_bytes_per_second") == 1);
	assert_true(rules_threshold(&cfg, RULE_WK05, "pvc_write_bytes_per_second") == 2 * MiB);
	assert_true(isnan(rules_threshold(&cfg, RULE_WK13, "pvc_write_bytes_per_second")));
}

/* Workloads are told apart by their whole identity, compared: names that would join into one
 * string ("a/Pod/b" + "c" and "a" + "b/Pod/c") stay two workloads with a finding each. */
static void test_identity_is_the_whole_key(void **state)
{
	struct world w = { .n = 2 };
	struct rules_engine *r = engine();
	double now = 0;
	struct snapshot *s;
	int seen = 0;

	(void)state;
	deployment(&w.c[0], "/x", "u1");
	deployment(&w.c[1], "/y", "u2");
	for (int i = 0; i < 2; i++) {
		snprintf(w.c[i].f.workload_kind, sizeof(w.c[i].f.workload_kind), "Pod");
		w.c[i].f.has_memory_limit = false;
	}
	snprintf(w.c[0].f.ns, sizeof(w.c[0].f.ns), "a/Pod/b");
	snprintf(w.c[0].f.workload, sizeof(w.c[0].f.workload), "c");
	snprintf(w.c[1].f.ns, sizeof(w.c[1].f.ns), "a");
	snprintf(w.c[1].f.workload, sizeof(w.c[1].f.workload), "b/Pod/c");
	s = run(r, &w, &now, 1);
	for (size_t i = 0; i < s->n_findings; i++) {
		const struct snap_finding *f = &s->findings[i];

		if (strcmp(f->rule, "RS-01") != 0)
			continue;
		if (strcmp(f->ns, "a/Pod/b") == 0 && strcmp(f->workload, "c") == 0)
			seen |= 1;
		if (strcmp(f->ns, "a") == 0 && strcmp(f->workload, "b/Pod/c") == 0)
			seen |= 2;
		assert_non_null(strstr(f->message, "container db"));
	}
	assert_int_equal(seen, 3);
	snapshot_unref(s);
	rules_free(r);
}

/* Twelve one-second collections of one local-mode container named workload (no Kubernetes:
 * only the rules needing no pod spec apply), its delta at t filled by fill (seconds and CPU
 * already set from t 1 on). Returns the last snapshot (caller unrefs). */
static struct snapshot *run_local_with(struct rules_engine *r, const char *workload,
				       void (*fill)(struct snap_delta *d, int t, const void *ctx),
				       const void *ctx)
{
	struct snapshot *s = NULL;

	for (int t = 0; t < 12; t++) {
		struct snap_delta *d;

		snapshot_unref(s);
		s = snapshot_new(1);
		assert_non_null(s);
		s->series[0].labels[LBL_WORKLOAD_KIND] = strdup("systemd");
		s->series[0].labels[LBL_WORKLOAD] = strdup(workload);
		d = &s->series[0].delta;
		if (t > 0)
			d->seconds = 1;
		fill(d, t, ctx);
		assert_int_equal(rules_update(r, s, rules_local_facts, NULL, 1000 + t, NULL, NULL),
				 0);
	}
	return s;
}

struct cpu_load {
	double limit, cpu_s, throttled;
	unsigned runq_slot;
};

static void fill_cpu(struct snap_delta *d, int t, const void *ctx)
{
	const struct cpu_load *l = ctx;

	d->cpu_limit_cores = l->limit;
	if (t > 0) {
		d->cpu_seconds = l->cpu_s;
		d->periods = 1000;
		d->throttled_periods = l->throttled;
		d->runq_hist[l->runq_slot] = 100;
	}
}

/* A local-mode container (batch.service) from its deltas: 1000 CPU periods per second, 100
 * run-queue waits in a slot. Returns the last snapshot (caller unrefs). */
static struct snapshot *run_local(struct rules_engine *r, double limit, double cpu_s,
				  double throttled, unsigned runq_slot)
{
	const struct cpu_load l = { limit, cpu_s, throttled, runq_slot };

	return run_local_with(r, "batch.service", fill_cpu, &l);
}

static void test_local_cpu_rules(void **state)
{
	struct rules_engine *r = engine();
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	/* throttled in half the periods at 90 % of a 1-core limit; waits 4-8 ms for a CPU */
	s = run_local(r, 1, 0.9, 500, 13);
	f = find(s, "RS-02");
	assert_non_null(f);
	assert_string_equal(f->workload, "batch.service");
	assert_non_null(strstr(f->message, "throttled in 50% of CPU periods while using 90% of"));
	assert_true(f->evidence[0].value > 0.49 && f->evidence[0].value < 0.51);
	assert_true(f->evidence[1].value > 0.89 && f->evidence[1].value < 0.91);
	/* RS-06 needs no throttling; nothing else applies without a pod spec */
	assert_null(find(s, "RS-06"));
	assert_int_equal(s->n_findings, 1);
	snapshot_unref(s);
	rules_free(r);

	r = engine();
	s = run_local(r, 0, 0.5, 0, 13);
	f = find(s, "RS-06");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "waits 8.4 ms (p99)"));
	assert_true(f->evidence[0].value > 0.005);
	/* without a CPU limit RS-02 does not apply */
	assert_int_equal(s->n_findings, 1);
	snapshot_unref(s);
	rules_free(r);
}

/* Waits 8.4 ms (p99), 1 s of wait per second: 80 % while batch/hog ran, 15 % behind itself, 3 %
 * behind web/tiny. */
static void fill_contended(struct snap_delta *d, int t, const void *ctx)
{
	static const struct {
		const char *ns, *kind, *name;
		double s;
	} who[] = { { "batch", "Deployment", "hog", 0.8 },
		    { "", "systemd", "api.service", 0.15 },
		    { "web", "Deployment", "tiny", 0.03 } };

	if (t == 0)
		return;
	d->cpu_seconds = 0.5;
	d->runq_hist[13] = 100;
	/* ctx: the wait's lag behind the causes (the kernel flushes it up to 10 ms later) */
	d->runq_wait_seconds = 1.0 - (ctx ? *(const double *)ctx : 0);
	for (unsigned i = 0; i < 3; i++) {
		d->caused[i].ns = who[i].ns;
		d->caused[i].kind = who[i].kind;
		d->caused[i].name = who[i].name;
		d->caused[i].seconds = who[i].s;
	}
	d->n_caused = 3;
}

/* RS-06 names the neighbours that held the CPU with their share of the wait: not the workload
 * itself, not one under 5 %. */
static void test_rs06_names_neighbours(void **state)
{
	struct rules_engine *r = engine();
	struct snapshot *s = run_local_with(r, "api.service", fill_contended, NULL);
	const struct snap_finding *f = find(s, "RS-06");
	bool share = false;

	(void)state;
	assert_non_null(f);
	assert_non_null(strstr(f->message, "the CPU ran Deployment batch/hog 80 % of that wait"));
	assert_null(strstr(f->message, "tiny"));
	assert_null(strstr(f->message, "api.service 15"));
	for (unsigned i = 0; i < f->n_evidence; i++) {
		if (strcmp(f->evidence[i].name, "share:batch/hog") == 0) {
			share = true;
			assert_true(f->evidence[i].value > 0.79 && f->evidence[i].value < 0.81);
		}
		assert_null(strstr(f->evidence[i].name, "tiny"));
		assert_null(strstr(f->evidence[i].name, "api.service"));
	}
	assert_true(share);
	snapshot_unref(s);
	rules_free(r);
}

/* The wait flushed behind its causes (CI saw 100.1 %): a share never exceeds the whole. */
static void test_rs06_share_at_most_whole(void **state)
{
	static const double lag = 0.05; /* 0.95 s of wait against 0.98 s of causes */
	struct rules_engine *r = engine();
	struct snapshot *s = run_local_with(r, "api.service", fill_contended, &lag);
	const struct snap_finding *f = find(s, "RS-06");
	bool share = false;

	(void)state;
	assert_non_null(f);
	assert_non_null(strstr(f->message, "the CPU ran Deployment batch/hog 82 % of that wait"));
	for (unsigned i = 0; i < f->n_evidence; i++) {
		if (strcmp(f->evidence[i].name, "share:batch/hog") == 0) {
			share = true;
			assert_true(f->evidence[i].value > 0.81 && f->evidence[i].value <= 0.82);
		}
	}
	assert_true(share);
	snapshot_unref(s);
	rules_free(r);
}

struct mem_load {
	double ws, limit;
	int oom_at;
};

static void fill_memory(struct snap_delta *d, int t, const void *ctx)
{
	const struct mem_load *l = ctx;

	d->mem_working_set = l->ws;
	d->mem_limit = l->limit;
	d->cpu_seconds = t > 0 ? 0.1 : 0;
	if (l->oom_at && t == l->oom_at) {
		d->oom_kills = 1;
		d->oom_working_set = l->limit > 0 ? l->limit : 3 * l->ws;
		d->mem_peak = d->oom_working_set;
	}
}

/* A local-mode container (cache.service) with a working set of ws bytes of a limit (0: none),
 * and an OOM kill at t == oom_at (0: none) with the working set then. Returns the last
 * snapshot (caller unrefs). */
static struct snapshot *run_memory(struct rules_engine *r, double ws, double limit, int oom_at)
{
	const struct mem_load l = { ws, limit, oom_at };

	return run_local_with(r, "cache.service", fill_memory, &l);
}

static void test_memory_rules(void **state)
{
	struct rules_engine *r = engine();
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	/* 231 of 256 MiB (90.2 %) for the whole window: RS-03 recommends peak + 15 % */
	s = run_memory(r, 231 * MiB, 256 * MiB, 0);
	f = find(s, "RS-03");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "reached 231 MiB, 90% of its 256 MiB memory limit, "
					   "with 0 OOM kill(s) in the window: raise the limit to "
					   "266 MiB"));
	assert_null(find(s, "RS-05"));
	snapshot_unref(s);
	rules_free(r);

	/* look-alike: 220 MiB (86 %) stays quiet, and so does a working set without a limit */
	r = engine();
	s = run_memory(r, 220 * MiB, 256 * MiB, 0);
	assert_int_equal(s->n_findings, 0);
	snapshot_unref(s);
	rules_free(r);
	r = engine();
	s = run_memory(r, 4000 * MiB, 0, 0);
	assert_int_equal(s->n_findings, 0);
	snapshot_unref(s);
	rules_free(r);

	/* one OOM kill at 128 MiB while mostly at 50 %: RS-05 with count and working set, and
	 * RS-03 from the kill, recommending above the limit the kill cut the peak at */
	r = engine();
	s = run_memory(r, 64 * MiB, 128 * MiB, 3);
	f = find(s, "RS-05");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "OOM-killed 1 time(s) in the window, its working set at "
					   "128 MiB (usage peak 128 MiB) of a 128 MiB limit"));
	assert_true(f->evidence[3].value == 128 * MiB);
	assert_true(f->evidence[0].value == 1);
	assert_true(f->evidence[1].value == 128 * MiB);
	f = find(s, "RS-03");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "with 1 OOM kill(s) in the window: raise the limit to "
					   "148 MiB"));
	snapshot_unref(s);
	rules_free(r);

	/* a kill with no limit (the node's OOM): RS-05 only, saying so */
	r = engine();
	s = run_memory(r, 100 * MiB, 0, 3);
	f = find(s, "RS-05");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "300 MiB with no memory limit"));
	assert_null(find(s, "RS-03"));
	snapshot_unref(s);
	rules_free(r);
}

/* Facts of the memory test's containers: "i" is workload wl<i> of a busy Deployment (a Helm
 * release, a claim, an annotation), "l<i>" a local one as the bench's are. */
static int facts_numbered(void *ctx, const struct snap_series *se, struct rules_facts *ret)
{
	const char *p = se->cgroup_path;

	(void)ctx;
	if (p[0] == 'l')
		return rules_local_facts(NULL, se, ret);
	memset(ret, 0, sizeof(*ret));
	ret->known = true;
	snprintf(ret->ns, sizeof(ret->ns), "shop");
	snprintf(ret->pod_uid, sizeof(ret->pod_uid), "uid-%s", p);
	snprintf(ret->container, sizeof(ret->container), "app");
	snprintf(ret->workload_kind, sizeof(ret->workload_kind), "Deployment");
	snprintf(ret->workload, sizeof(ret->workload), "wl%s", p);
	snprintf(ret->helm_release, sizeof(ret->helm_release), "shop-prod");
	snprintf(ret->rwo_claim, sizeof(ret->rwo_claim), "data-wl%s", p);
	snprintf(ret->ignore_rules, sizeof(ret->ignore_rules), "SC-03");
	snprintf(ret->pod_ips[0], sizeof(ret->pod_ips[0]), "10.1.0.%s", p);
	ret->n_pod_ips = 1;
	ret->replicas = 2;
	return 0;
}

/* One collection of n containers (busy: every field the rules read, else what the bench's
 * shells do: a little CPU, a few run-queue waits behind a neighbour, a working set). */
static struct snapshot *collect_numbered(size_t n, bool busy, int t)
{
	struct snapshot *s = snapshot_new(n);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		struct snap_series *se = &s->series[i];
		struct snap_delta *d = &se->delta;
		char path[48];

		snprintf(path, sizeof(path), "%s%zu", busy ? "" : "l", i);
		se->cgroup_path = strdup(path);
		se->labels[LBL_WORKLOAD_KIND] = snap_intern(se->strings, "Pod");
		se->labels[LBL_WORKLOAD] = snap_intern(se->strings, path);
		d->seconds = 1;
		d->cpu_seconds = 0.001 * (double)(i % 7 + 1);
		d->runq_hist[2] = 3;
		d->runq_hist[4] = 1;
		d->runq_wait_seconds = 1e-5 * (double)(t % 5 + 1);
		snprintf(path, sizeof(path), "l%zu", (i + (size_t)t) % n);
		d->caused[0].ns = "";
		d->caused[0].kind = "Pod";
		d->caused[0].name = snap_intern(se->strings, path);
		d->caused[0].seconds = 1e-5;
		d->n_caused = 1;
		d->mem_working_set = 4096.0 * (double)(100 + i);
		if (!busy)
			continue;
		for (unsigned k = 1; k < SNAP_DELTA_CAUSES; k++) {
			snprintf(path, sizeof(path), "hog-%d", (t + (int)k) % 9);
			d->caused[k].ns = "batch";
			d->caused[k].kind = "Deployment";
			d->caused[k].name = snap_intern(se->strings, path);
			d->caused[k].seconds = 2e-5 * k;
		}
		d->n_caused = SNAP_DELTA_CAUSES;
		for (int h = 0; h < HIST_SLOTS; h++)
			d->runq_hist[h] = (uint64_t)(h * 37 + t);
		for (int v = 0; v < VOLUME_CLASS_MAX; v++) {
			d->fs_write_bytes[v] = 4096.0 * (double)(v + t);
			d->fs_sync_calls[v] = v + 1;
			d->fs_read_bytes[v] = 8192.0 * (double)(v + t);
		}
		snprintf(path, sizeof(path), "data-orders-%zu", i);
		d->pvc_volume = snap_intern(se->strings, path);
		d->emptydir[0].name = "scratch";
		d->emptydir[0].write_bytes = 4096;
		d->n_emptydir = 1;
		d->conns_opened[ROLE_SERVER] = 3;
		d->throttled_periods = 2;
		d->periods = 10;
		d->cpu_limit_cores = 0.5;
		d->mem_limit = 512 * MiB;
		d->oom_kills = t == 3;
		se->listen_ports = malloc(sizeof(uint16_t));
		se->listen_ports[se->n_listen_ports++] = 8080;
	}
	return s;
}

/* What the engine keeps per workload over a full window (every bucket closed): about 2 KiB for
 * the bench's (the rules' window was 10.5 KB of each of its 1000 containers), and bounded for
 * one whose every bucket holds every field. */
static void test_workload_memory_bound(void **state)
{
	static const struct {
		bool busy;
		size_t bound;
	} cases[] = { { false, 2048 }, { true, 4096 } };
	const size_t n = 200;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct rules_config cfg;
		struct rules_engine *r;
		double now = 1e9;
		size_t bytes, got = 0;

		/* Findings (2 KiB each, while they hold) are not the window's: the busy ones would
		 * have some. */
		rules_config_default(&cfg, 10, 0);
		if (cases[c].busy)
			memset(cfg.enabled, 0, sizeof(cfg.enabled));
		r = rules_new(&cfg);
		assert_non_null(r);

		for (int t = 0; t < 25; t++) {
			struct snapshot *s = collect_numbered(n, cases[c].busy, t);

			now += 1;
			assert_int_equal(rules_update(r, s, facts_numbered, NULL, now, NULL, NULL),
					 0);
			assert_int_equal(s->n_findings, 0);
			snapshot_unref(s);
		}
		bytes = rules_workloads_bytes(r, &got);
		assert_int_equal(got, n);
		printf("%s workloads: %zu bytes each\n", cases[c].busy ? "busy" : "bench-like",
		       bytes / n);
		assert_true(bytes / n <= cases[c].bound);
		rules_free(r);
	}
}

#define BUCKET_TEST_SLOTS 10

/* The packed window gives back every byte a bucket was put with: sparse buckets (whole zero
 * words skipped), dense ones, buckets replaced by larger and smaller ones in any slot. */
static void test_ring_exact(void **state)
{
	struct rule_ring r = { 0 };
	struct bucket want[BUCKET_TEST_SLOTS], got;
	unsigned seed = 7;

	(void)state;
	for (unsigned round = 0; round < 200; round++) {
		unsigned slot = round % BUCKET_TEST_SLOTS,
			 n = round < BUCKET_TEST_SLOTS ? round : BUCKET_TEST_SLOTS;
		uint8_t *b = (uint8_t *)&want[slot];
		unsigned fill = round % 3 == 0 ? 2 : round % 3 == 1 ? 40 : 100; /* % of bytes set */

		for (size_t k = 0; k < sizeof(want[slot]); k++) {
			seed = seed * 1103515245u + 12345u;
			b[k] = (seed >> 16) % 100 < fill ? (uint8_t)(seed >> 8 | 1) : 0;
		}
		assert_int_equal(rule_ring_put(&r, slot, n, &want[slot]), 0);
		n = n > slot ? n : slot + 1;
		for (unsigned i = 0; i < n; i++) {
			rule_ring_get(&r, i, n, &got);
			assert_memory_equal(&got, &want[i], sizeof(got));
		}
	}
	rule_ring_get(&r, BUCKET_TEST_SLOTS, BUCKET_TEST_SLOTS, &got);
	memset(&want[0], 0, sizeof(want[0]));
	assert_memory_equal(&got, &want[0], sizeof(got));
	rule_ring_free(&r);
}

/* A bucket put again unchanged leaves the window as it is; one of the same packed length but
 * other bytes (a count moved, no word newly zero or set) replaces it. */
static void test_ring_same_length(void **state)
{
	struct rule_ring r = { 0 };
	struct bucket a = { 0 }, b, got;
	uint8_t *before;
	size_t len;

	(void)state;
	a.cpu_s = 1.5;
	a.server_conns = 3;
	assert_int_equal(rule_ring_put(&r, 0, 0, &a), 0);
	assert_int_equal(rule_ring_put(&r, 1, 1, &a), 0);
	len = r.len;
	before = malloc(len);
	assert_non_null(before);
	memcpy(before, r.buf, len);
	assert_int_equal(rule_ring_put(&r, 1, 2, &a), 0);
	assert_int_equal(r.len, len);
	assert_memory_equal(r.buf, before, len);
	memcpy(&b, &a, sizeof(b));
	b.server_conns = 4; /* the same byte set, another value */
	assert_int_equal(rule_ring_put(&r, 1, 2, &b), 0);
	assert_int_equal(r.len, len);
	rule_ring_get(&r, 1, 2, &got);
	assert_memory_equal(&got, &b, sizeof(got));
	rule_ring_get(&r, 0, 2, &got);
	assert_memory_equal(&got, &a, sizeof(got));
	free(before);
	rule_ring_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_exact),
		cmocka_unit_test(test_ring_same_length),
		cmocka_unit_test(test_wk05_fires_and_clears_with_hysteresis),
		cmocka_unit_test(test_lookalikes_stay_quiet),
		cmocka_unit_test(test_wk07_reads_keep_state),
		cmocka_unit_test(test_warmup_init_sandbox_and_ignore),
		cmocka_unit_test(test_static_rules),
		cmocka_unit_test(test_wk03_rolling_update),
		cmocka_unit_test(test_wk04_emptydir_unbounded),
		cmocka_unit_test(test_pending_metadata),
		cmocka_unit_test(test_aggregates_pods_of_a_workload),
		cmocka_unit_test(test_rl01_per_container),
		cmocka_unit_test(test_named_port_is_the_declared_one),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_registry_defines_every_rule),
		cmocka_unit_test(test_knob_ranges_from_definitions),
		cmocka_unit_test(test_identity_is_the_whole_key),
		cmocka_unit_test(test_local_cpu_rules),
		cmocka_unit_test(test_rs06_names_neighbours),
		cmocka_unit_test(test_rs06_share_at_most_whole),
		cmocka_unit_test(test_memory_rules),
		cmocka_unit_test(test_workload_memory_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
