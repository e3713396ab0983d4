// SPDX-License-Identifier: BSD-2-Clause
/* Right-sizing: the recommender on synthetic intervals (percentile, throttling floor, memory
 * peak and margins, the OOM bump, decay, the entry bound), its state file (round trip, corrupt,
 * foreign, other-version, oversized and truncated files), and RS-04/RS-01 through the rules
 * engine (fires for a container using 100m of a 2-CPU request, quiet for a right-sized one). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rules/recommend.h"
#include "rules/rules.h"

#define MiB (1024.0 * 1024.0)

static struct recommender *new_rec(double min_seconds, size_t max_entries)
{
	struct rec_params p;
	struct recommender *r;

	rec_params_default(&p, min_seconds);
	if (max_entries)
		p.max_entries = max_entries;
	r = rec_new(&p);
	assert_non_null(r);
	return r;
}

/* n one-second intervals of key at cores, working set ws, from *now on. */
static void feed(struct recommender *r, const char *key, double *now, int n, double cores,
		 double ws)
{
	for (int i = 0; i < n; i++) {
		struct snap_delta d = { .seconds = 1, .cpu_seconds = cores, .mem_working_set = ws };

		*now += 1;
		assert_int_equal(rec_add(r, key, &d, *now), 0);
	}
}

static void test_cpu_percentile_and_memory_margins(void **state)
{
	struct recommender *r = new_rec(10, 0);
	struct rec_values v;
	double now = 1e9;

	(void)state;
	assert_int_equal(rec_get(r, "a", now, &v), -ENOENT);
	feed(r, "a", &now, 5, 0.1, 50 * MiB);
	assert_int_equal(rec_get(r, "a", now, &v), -EAGAIN); /* 5 s of the 10 needed */
	/* 95 s at 100m and 5 s at 2 cores: p95 stays at 100m (bucket upper bound, +10 %) */
	feed(r, "a", &now, 90, 0.1, 100 * MiB);
	feed(r, "a", &now, 4, 2.0, 80 * MiB);
	assert_int_equal(rec_get(r, "a", now, &v), 0);
	assert_true(v.cpu_p >= 0.1 && v.cpu_p <= 0.11);
	assert_true(v.cpu_request >= 0.1 && v.cpu_request <= 0.11);
	assert_false(v.cpu_floor);
	assert_true(v.mem_peak == 100 * MiB);
	assert_true(v.mem_request == 115 * MiB);
	assert_true(v.mem_limit == 130 * MiB);
	assert_false(v.oom);
	assert_true(v.observed == 99);
	rec_free(r);
}

static void test_throttled_use_is_a_floor(void **state)
{
	struct recommender *r = new_rec(1, 0);
	struct rec_values v;
	double now = 1e9;

	(void)state;
	for (int i = 0; i < 60; i++) {
		struct snap_delta d = {
			.seconds = 1, .cpu_seconds = 0.2, .periods = 10, .throttled_periods = 8
		};

		now += 1;
		assert_int_equal(rec_add(r, "t", &d, now), 0);
	}
	assert_int_equal(rec_get(r, "t", now, &v), 0);
	assert_true(v.cpu_floor);
	assert_true(fabs(v.throttled_ratio - 0.8) < 1e-9);
	/* above the floor: the percentile + 25 % */
	assert_true(v.cpu_request >= 1.25 * v.cpu_p - 0.001 && v.cpu_request > v.cpu_p);
	rec_free(r);
}

static void test_oom_kill_raises_memory(void **state)
{
	struct recommender *r = new_rec(1, 0);
	struct snap_delta kill = { .seconds = 1,
				   .cpu_seconds = 0.05,
				   .mem_limit = 64 * MiB,
				   .oom_kills = 1,
				   .oom_working_set = 63 * MiB };
	struct rec_values v;
	double now = 1e9;

	(void)state;
	feed(r, "o", &now, 10, 0.05, 60 * MiB);
	assert_int_equal(rec_add(r, "o", &kill, now + 1), 0);
	assert_int_equal(rec_get(r, "o", now + 1, &v), 0);
	assert_true(v.oom);
	/* the limit at the kill * 1.2 = 76.8 MiB, + 15 % = 88.3 → 89 MiB; limit + 30 % → 100 */
	assert_true(v.mem_request == 89 * MiB);
	assert_true(v.mem_limit == 100 * MiB);
	/* forgotten once the kill's day has left the 14 kept */
	assert_int_equal(rec_get(r, "o", now + 15 * 86400.0, &v), 0);
	assert_false(v.oom);
	assert_true(v.mem_request == 0);
	rec_free(r);
}

static void test_decay_follows_recent_use(void **state)
{
	struct recommender *r = new_rec(1, 0);
	struct rec_values v;
	double now = 1e9;

	(void)state;
	feed(r, "d", &now, 100, 1.0, 10 * MiB);
	now += 10 * 86400.0; /* ten half-lives later the old samples weigh 1/1024 */
	feed(r, "d", &now, 100, 0.1, 10 * MiB);
	assert_int_equal(rec_get(r, "d", now, &v), 0);
	assert_true(v.cpu_p <= 0.11);
	/* renormalisation (past 2^20) keeps the answer */
	now += 30 * 86400.0;
	feed(r, "d", &now, 100, 0.1, 10 * MiB);
	assert_int_equal(rec_get(r, "d", now, &v), 0);
	assert_true(v.cpu_p >= 0.1 && v.cpu_p <= 0.11);
	rec_free(r);
}

static void test_entries_are_bounded(void **state)
{
	struct recommender *r = new_rec(1, 2);
	struct rec_values v;
	double now = 1e9;

	(void)state;
	feed(r, "old", &now, 3, 0.1, MiB);
	feed(r, "mid", &now, 3, 0.1, MiB);
	feed(r, "new", &now, 3, 0.1, MiB);
	assert_int_equal(rec_count(r), 2);
	assert_int_equal(rec_evicted(r), 1);
	assert_int_equal(rec_get(r, "old", now, &v), -ENOENT);
	assert_int_equal(rec_get(r, "mid", now, &v), 0);
	assert_int_equal(rec_get(r, "new", now, &v), 0);
	rec_free(r);
}

static char *tmp_path(void)
{
	char *p = strdup("/tmp/bpfdiag-test-recommend-XXXXXX");
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	close(fd);
	return p;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

static size_t read_bytes(const char *path, char **ret)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = (size_t)ftell(f);
	rewind(f);
	*ret = malloc(n);
	assert_int_equal(fread(*ret, 1, n, f), n);
	fclose(f);
	return n;
}

static void test_state_round_trip(void **state)
{
	struct recommender *a = new_rec(1, 0), *b = new_rec(1, 0);
	struct rec_values va, vb;
	char *path = tmp_path(), err[256];
	double now = 1e9;

	(void)state;
	feed(a, "x", &now, 50, 0.3, 70 * MiB);
	feed(a, "y", &now, 50, 1.5, 700 * MiB);
	assert_int_equal(rec_save(a, path), 0);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), 2);
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "y" : "x";

		assert_int_equal(rec_get(a, k, now, &va), 0);
		assert_int_equal(rec_get(b, k, now, &vb), 0);
		assert_memory_equal(&va, &vb, sizeof(va));
	}
	/* and it goes on learning after the restart */
	feed(b, "x", &now, 1, 0.3, 90 * MiB);
	assert_int_equal(rec_get(b, "x", now, &vb), 0);
	assert_true(vb.mem_peak == 90 * MiB);
	unlink(path);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), -ENOENT);
	free(path);
	rec_free(a);
	rec_free(b);
}

static void test_state_bad_files_are_ignored(void **state)
{
	struct recommender *a = new_rec(1, 3), *b = new_rec(1, 3), *small = new_rec(1, 2);
	char *path = tmp_path(), *good, *bad, err[256];
	struct rec_values v;
	double now = 1e9;
	size_t n;

	(void)state;
	feed(a, "x", &now, 5, 0.3, MiB);
	feed(a, "y", &now, 5, 0.3, MiB);
	feed(a, "z", &now, 5, 0.3, MiB);
	feed(b, "kept", &now, 5, 0.3, MiB);
	assert_int_equal(rec_save(a, path), 0);
	n = read_bytes(path, &good);
	bad = malloc(n);

	/* a flipped byte in a record: checksum */
	memcpy(bad, good, n);
	bad[n - 100] ^= 0x55;
	write_bytes(path, bad, n);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "checksum"));
	/* another version */
	memcpy(bad, good, n);
	bad[8] = 9;
	write_bytes(path, bad, n);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version 9"));
	/* not ours at all */
	write_bytes(path, "{\"hello\": 1}\n", 13);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), -EINVAL);
	write_bytes(path, "BPF", 3);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), -EINVAL);
	/* truncated in a record */
	write_bytes(path, good, n - 10);
	assert_int_equal(rec_load(b, path, err, sizeof(err)), -EINVAL);
	/* three records where two are the bound: refused by size before reading */
	write_bytes(path, good, n);
	assert_int_equal(rec_load(small, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "over the bound"));
	/* none of these touched what b had */
	assert_int_equal(rec_count(b), 1);
	assert_int_equal(rec_get(b, "kept", now, &v), 0);
	/* the good file still loads */
	assert_int_equal(rec_load(b, path, err, sizeof(err)), 3);
	unlink(path);
	free(path);
	free(good);
	free(bad);
	rec_free(a);
	rec_free(b);
	rec_free(small);
}

/* The rules engine: one container per workload, its facts and a CPU use per second. */
struct box {
	struct rules_facts f;
	double cores, ws;
};

static int box_facts(void *ctx, const struct snap_series *se, struct rules_facts *ret)
{
	struct box *b = ctx;

	*ret = b[se->cgroup_id].f;
	return 0;
}

static struct box make_box(const char *name, double cpu_request, double mem_request, double cores,
			   double ws)
{
	struct box b = { .cores = cores, .ws = ws };

	b.f.known = true;
	snprintf(b.f.ns, sizeof(b.f.ns), "shop");
	snprintf(b.f.container, sizeof(b.f.container), "app");
	snprintf(b.f.workload_kind, sizeof(b.f.workload_kind), "Deployment");
	snprintf(b.f.workload, sizeof(b.f.workload), "%s", name);
	b.f.has_cpu_request = b.f.has_memory_request = b.f.has_memory_limit = true;
	b.f.cpu_request = cpu_request;
	b.f.memory_request = mem_request;
	b.f.memory_limit = mem_request;
	b.f.read_only_root_fs = b.f.readiness_probe = true;
	b.f.replicas = 1;
	return b;
}

static const struct snap_finding *find(const struct snapshot *s, const char *rule, const char *wl)
{
	for (size_t i = 0; i < s->n_findings; i++) {
		if (strcmp(s->findings[i].rule, rule) == 0 &&
		    strcmp(s->findings[i].workload, wl) == 0)
			return &s->findings[i];
	}
	return NULL;
}

static double evidence(const struct snap_finding *f, const char *name)
{
	for (unsigned i = 0; i < f->n_evidence; i++) {
		if (strcmp(f->evidence[i].name, name) == 0)
			return f->evidence[i].value;
	}
	fail_msg("no evidence %s", name);
	return 0;
}

static struct snapshot *run_boxes(struct rules_engine *r, struct box *b, int n, int seconds)
{
	struct snapshot *s = NULL;
	double now = 1e9;

	for (int t = 0; t < seconds; t++) {
		snapshot_unref(s);
		s = snapshot_new((size_t)n);
		assert_non_null(s);
		now += 1;
		for (int i = 0; i < n; i++) {
			struct snap_series *se = &s->series[i];

			se->cgroup_id = (uint64_t)i;
			se->cgroup_path = strdup("/x");
			se->labels[LBL_CONTAINER] = strdup("app");
			se->delta.seconds = t ? 1 : 0;
			se->delta.cpu_seconds = t ? b[i].cores : 0;
			se->delta.mem_working_set = b[i].ws;
		}
		assert_int_equal(rules_update(r, s, box_facts, b, now, NULL, NULL), 0);
	}
	return s;
}

static void test_rs04_and_rs01(void **state)
{
	struct box b[3] = {
		/* 100m of a 2-CPU request and 64 MiB of 512 MiB */
		make_box("idle", 2, 512 * MiB, 0.1, 64 * MiB),
		/* its look-alike, right-sized */
		make_box("snug", 0.15, 96 * MiB, 0.1, 64 * MiB),
		make_box("bare", 0, 0, 0.3, 200 * MiB),
	};
	struct rules_config cfg;
	struct rules_engine *r;
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	b[2].f.has_cpu_request = b[2].f.has_memory_request = b[2].f.has_memory_limit = false;
	rules_config_default(&cfg, 10, 0);
	r = rules_new(&cfg);
	assert_non_null(r);
	s = run_boxes(r, b, 3, 30);
	f = find(s, "RS-04", "idle");
	assert_non_null(f);
	assert_true(fabs(evidence(f, "recommended_cpu_request_cores") - 0.1) <= 0.025);
	assert_true(evidence(f, "cpu_request_cores") == 2);
	assert_true(evidence(f, "recommended_memory_request_bytes") == 74 * MiB);
	assert_non_null(strstr(f->message, "lower the requests to cpu 1"));
	assert_null(find(s, "RS-04", "snug"));
	assert_null(find(s, "RS-04", "bare"));
	f = find(s, "RS-01", "bare");
	assert_non_null(f);
	assert_non_null(strstr(f->message, "requests cpu 3"));
	assert_true(evidence(f, "recommended_memory_limit_bytes") == 260 * MiB);
	/* the gauges on each series: cpu request, memory request, memory limit */
	assert_true(s->series[0].rec.ready);
	assert_true(s->series[0].n_points == 3);
	assert_int_equal(s->series[0].points[0].metric, M_RECOMMENDATION);
	assert_string_equal(s->series[0].points[0].own[0], "cpu");
	assert_string_equal(s->series[0].points[2].own[1], "limit");
	snapshot_unref(s);
	rules_free(r);
}

static void test_rs05_from_the_pod_status(void **state)
{
	struct box b[2] = {
		make_box("crashy", 0.1, 64 * MiB, 0.05, 0),
		make_box("erred", 0.1, 64 * MiB, 0.05, 0), /* its look-alike: not OOMKilled */
	};
	struct rules_config cfg;
	struct rules_engine *r;
	struct snapshot *s;
	const struct snap_finding *f;

	(void)state;
	for (int i = 0; i < 2; i++) {
		b[i].f.restarts = 2;
		b[i].f.last_finished_at = 1e9 + 5;
	}
	snprintf(b[0].f.last_reason, sizeof(b[0].f.last_reason), "OOMKilled");
	snprintf(b[1].f.last_reason, sizeof(b[1].f.last_reason), "Error");
	rules_config_default(&cfg, 10, 0);
	r = rules_new(&cfg);
	assert_non_null(r);
	s = run_boxes(r, b, 2, 12);
	f = find(s, "RS-05", "crashy");
	assert_non_null(f);
	assert_true(evidence(f, "restarts") == 2);
	assert_true(evidence(f, "last_terminated_oomkilled") == 1);
	assert_true(evidence(f, "oom_kills") == 0);
	assert_non_null(strstr(f->message, "2 restart(s), the last one OOMKilled"));
	assert_null(find(s, "RS-05", "erred"));
	/* the status onto the series, for /api/v1/pods */
	assert_true(s->series[0].has_status);
	assert_int_equal(s->series[0].restarts, 2);
	assert_string_equal(s->series[0].last_reason, "OOMKilled");
	snapshot_unref(s);
	rules_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_percentile_and_memory_margins),
		cmocka_unit_test(test_throttled_use_is_a_floor),
		cmocka_unit_test(test_oom_kill_raises_memory),
		cmocka_unit_test(test_decay_follows_recent_use),
		cmocka_unit_test(test_entries_are_bounded),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_bad_files_are_ignored),
		cmocka_unit_test(test_rs04_and_rs01),
		cmocka_unit_test(test_rs05_from_the_pod_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
