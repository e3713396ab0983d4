// SPDX-License-Identifier: BSD-2-Clause
/* bpfdiag top's model over hand-written agent documents: parsing pods and findings, tagging
 * pods with their workload's findings, agent health from /metrics text, sorting, filtering,
 * expansion, column layout and row formatting; and one snapshot read both ways (its documents,
 * as from an agent, and directly, in-process) giving the same rows, findings and health. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "top/top_format.h"
#include "top/top_health.h"
#include "top/top_json.h"
#include "top/top_model.h"
#include "top/top_rows.h"
#include "top/top_snap.h"

#include "base/strbuf.h"
#include "codec/api_json.h"
#include "codec/prom.h"

/* Two Kubernetes pods (one with two containers) and one local-mode cgroup. */
static const char pods_doc[] =
	"{\"node\":\"n1\",\"time\":1000.5,\"pods\":["
	"{\"namespace\":\"shop\",\"pod\":\"db-0\",\"uid\":\"u-db\",\"workload_kind\":\"Deployment\","
	"\"workload\":\"db\",\"helm_release\":\"shop-db\",\"cpu_cores\":0.5,\"containers\":["
	"{\"name\":\"pg\",\"id\":\"c1\",\"cgroup_id\":11,\"cgroup_path\":\"/kubepods/pg\","
	"\"cpu_cores\":0.2,\"runqueue_p99_seconds\":0.004,\"disk_read_bytes_per_second\":100,"
	"\"disk_write_bytes_per_second\":5000,\"disk_iops\":10,\"fs_write_bytes_per_second\":4000,"
	"\"fsync_per_second\":7,\"network_receive_bytes_per_second\":1,"
	"\"network_transmit_bytes_per_second\":2,\"retransmits_per_second\":0,"
	"\"memory_working_set_bytes\":314572800,\"oom_kills_total\":1,"
	"\"listening_ports\":[5432,9187]},"
	"{\"name\":\"exporter\",\"id\":\"c2\",\"cgroup_id\":12,\"cgroup_path\":\"/kubepods/ex\","
	"\"cpu_cores\":0.3,\"runqueue_p99_seconds\":0.001,\"disk_write_bytes_per_second\":1000,"
	"\"fsync_per_second\":1,\"network_receive_bytes_per_second\":10,"
	"\"network_transmit_bytes_per_second\":20,\"memory_working_set_bytes\":20971520}]},"
	"{\"namespace\":\"web\",\"pod\":\"front-abc\",\"uid\":\"u-front\","
	"\"workload_kind\":\"Deployment\",\"workload\":\"front\",\"helm_release\":\"web\","
	"\"cpu_cores\":0.1,\"containers\":[{\"name\":\"nginx\",\"id\":\"ABCDEF\","
	"\"cpu_cores\":0.1,\"network_receive_bytes_per_second\":900000,"
	"\"network_transmit_bytes_per_second\":100000,\"retransmits_per_second\":2.5,"
	"\"memory_working_set_bytes\":524288000}]},"
	"{\"namespace\":\"\",\"pod\":\"\",\"uid\":\"\",\"workload_kind\":\"SystemdService\","
	"\"workload\":\"cron.service\",\"helm_release\":\"\",\"cpu_cores\":0.9,"
	"\"containers\":[{\"name\":\"\",\"id\":\"\",\"cgroup_path\":\"/system.slice/cron.service\","
	"\"cpu_cores\":0.9}]}]}";

static const char findings_doc[] =
	"{\"findings\":["
	"{\"namespace\":\"shop\",\"workload_kind\":\"Deployment\",\"workload\":\"db\","
	"\"helm_release\":\"shop-db\",\"rule\":\"RS-01\",\"severity\":\"medium\","
	"\"suggested_kind\":\"\",\"message\":\"no memory limit\",\"evidence\":{},"
	"\"since\":\"2024-01-01T00:00:00Z\"},"
	"{\"namespace\":\"shop\",\"workload_kind\":\"Deployment\",\"workload\":\"db\","
	"\"helm_release\":\"shop-db\",\"rule\":\"WK-05\",\"severity\":\"high\","
	"\"suggested_kind\":\"StatefulSet\",\"message\":\"fsyncs into a PVC\","
	"\"evidence\":{\"fsync_per_second\":42.5,\"listening_port\":5432,\"bad\":\"x\"},"
	"\"since\":\"2024-01-01T00:00:00Z\"},"
	"{\"namespace\":\"shop\",\"workload_kind\":\"Deployment\",\"workload\":\"db\","
	"\"rule\":\"WK-05\",\"severity\":\"high\",\"message\":\"same rule again\"},"
	"{\"namespace\":\"\",\"workload_kind\":\"SystemdService\",\"workload\":\"cron.service\","
	"\"rule\":\"SC-03\",\"severity\":\"low\",\"message\":\"local\"},"
	"{\"namespace\":\"other\",\"workload_kind\":\"Deployment\",\"workload\":\"db\","
	"\"rule\":\"WK-13\",\"severity\":\"critical\",\"message\":\"another namespace\"}]}";

static struct top_snapshot *parse(void)
{
	struct top_snapshot *s = NULL;

	assert_int_equal(top_snapshot_parse(pods_doc, &s), 0);
	assert_non_null(s);
	return s;
}

static const struct top_pod *pod_named(const struct top_snapshot *s, const char *workload)
{
	for (size_t i = 0; i < s->n_pods; i++) {
		if (strcmp(s->pods[i].workload, workload) == 0)
			return &s->pods[i];
	}
	fail_msg("no pod of workload %s", workload);
	return NULL;
}

static void test_parse_pods(void **state)
{
	struct top_snapshot *s = parse();
	const struct top_pod *db = pod_named(s, "db"), *cron = pod_named(s, "cron.service");

	(void)state;
	assert_string_equal(s->node, "n1");
	assert_true(s->time == 1000.5);
	assert_int_equal(s->n_pods, 3);
	assert_string_equal(db->ns, "shop");
	assert_string_equal(db->pod, "db-0");
	assert_string_equal(db->release, "shop-db");
	assert_string_equal(db->key, "u-db");
	assert_int_equal(db->n_ctrs, 2);
	assert_string_equal(db->ctrs[0].name, "pg");
	assert_int_equal(db->ctrs[0].cgroup_id, 11);
	assert_string_equal(db->ctrs[0].ports, "5432,9187");
	assert_string_equal(db->ctrs[1].ports, "");
	/* Pod rates: sums, except run-queue p99 (the worst container's); CPU is the pod's own. */
	assert_float_equal(db->r.cpu_pct, 50, 1e-9);
	assert_float_equal(db->r.runq_p99, 0.004, 1e-12);
	assert_float_equal(db->r.disk_r, 100, 1e-9);
	assert_float_equal(db->r.disk_w, 6000, 1e-9);
	assert_float_equal(db->r.iops, 10, 1e-9);
	assert_float_equal(db->r.fs_w, 4000, 1e-9);
	assert_float_equal(db->r.fsync, 8, 1e-9);
	assert_float_equal(db->r.net_rx, 11, 1e-9);
	assert_float_equal(db->r.net_tx, 22, 1e-9);
	assert_string_equal(db->finding_ids, "");
	/* Local mode has no uid: the key is built from the names. */
	assert_string_equal(cron->key, "/SystemdService/cron.service/");
	assert_float_equal(s->total.cpu_pct, 150, 1e-9);
	assert_float_equal(s->total.net_rx, 900011, 1e-9);
	assert_float_equal(s->total.runq_p99, 0.004, 1e-12);
	assert_false(s->findings_known);
	top_snapshot_free(s);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"", "not json", "[]", "{\"findings\":[]}", "{\"pods\":{}}", "{\"pods\":3}"
	};
	struct top_snapshot *s = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(top_snapshot_parse(bad[i], &s), -EINVAL);
		assert_null(s);
	}
	assert_int_equal(top_snapshot_parse(NULL, &s), -EINVAL);
	/* Wrong types inside are tolerated: they read as empty or zero. */
	assert_int_equal(top_snapshot_parse("{\"pods\":[{\"namespace\":5,\"cpu_cores\":\"x\","
					    "\"containers\":7},3]}",
					    &s),
			 0);
	assert_int_equal(s->n_pods, 1);
	assert_string_equal(s->pods[0].ns, "");
	assert_float_equal(s->pods[0].r.cpu_pct, 0, 0);
	assert_int_equal(s->pods[0].n_ctrs, 0);
	top_snapshot_free(s);
}

static void test_findings_tag_pods(void **state)
{
	struct top_snapshot *s = parse();
	const struct top_pod *db, *front, *cron;
	char ev[256];

	(void)state;
	assert_int_equal(top_snapshot_set_findings(s, findings_doc), 0);
	assert_true(s->findings_known);
	assert_int_equal(s->n_findings, 5);
	/* Worst first, then by namespace, workload, kind, rule. */
	assert_string_equal(s->findings[0].rule, "WK-13");
	assert_int_equal(s->findings[0].sev, TOP_SEV_CRITICAL);
	assert_string_equal(s->findings[1].rule, "WK-05");
	assert_string_equal(s->findings[3].rule, "RS-01");
	assert_string_equal(s->findings[4].rule, "SC-03");
	db = pod_named(s, "db");
	front = pod_named(s, "front");
	cron = pod_named(s, "cron.service");
	/* A rule appears once, worst first; the same workload name elsewhere does not count. */
	assert_string_equal(db->finding_ids, "WK-05,RS-01");
	assert_int_equal(db->worst, TOP_SEV_HIGH);
	assert_string_equal(front->finding_ids, "");
	assert_int_equal(front->worst, TOP_SEV_NONE);
	assert_string_equal(cron->finding_ids, "SC-03");
	/* Evidence keeps numbers only, in document order. */
	assert_int_equal(s->findings[1].n_ev, 2);
	assert_string_equal(top_fmt_evidence(&s->findings[1], ev, sizeof(ev)),
			    "fsync_per_second=42.5 listening_port=5432");
	assert_string_equal(s->findings[1].suggested, "StatefulSet");
	/* A document that is not a findings document leaves the snapshot as it was. */
	assert_int_equal(top_snapshot_set_findings(s, "{\"pods\":[]}"), -EINVAL);
	assert_int_equal(top_snapshot_set_findings(s, "{\"findings\":{}}"), -EINVAL);
	assert_int_equal(s->n_findings, 5);
	/* A new document replaces the findings and the tags. */
	assert_int_equal(top_snapshot_set_findings(s, "{\"findings\":[]}"), 0);
	assert_int_equal(s->n_findings, 0);
	assert_string_equal(pod_named(s, "db")->finding_ids, "");
	top_snapshot_free(s);
}

static void test_health_from_prom(void **state)
{
	static const char text[] =
		"# HELP bpfdiag_agent_collections_total Map collections completed.\n"
		"# TYPE bpfdiag_agent_collections_total counter\n"
		"bpfdiag_agent_collections_total 42\n"
		"bpfdiag_agent_collection_errors_total 2\n"
		"bpfdiag_agent_collection_duration_seconds 0.25\n"
		"bpfdiag_agent_start_time_seconds 1.7e9\n"
		"bpfdiag_agent_probe_up{family=\"cpu\"} 1\n"
		"bpfdiag_agent_probe_up{note=\"a \\\"q\\\", b\",family=\"net\"} 0\n"
		"bpfdiag_agent_probe_up{family=\"fs\"} 0\n"
		"bpfdiag_agent_map_overflow_total{map=\"a\"} 3\n"
		"bpfdiag_agent_map_overflow_total{map=\"b\"} 4\n"
		"bpfdiag_cpu_seconds_total{pod=\"x\"} 99\n"
		"bpfdiag_agent_broken_line\n"
		"bpfdiag_agent_collections_totalx 7";
	struct top_health h = { 0 };
	struct top_snapshot *s = parse();
	char line[512];

	(void)state;
	assert_int_equal(top_health_parse_prom(&h, text), 10);
	assert_true(h.known);
	assert_float_equal(h.collections, 42, 0);
	assert_float_equal(h.collection_errors, 2, 0);
	assert_float_equal(h.collection_seconds, 0.25, 1e-12);
	assert_float_equal(h.start_time, 1.7e9, 0);
	assert_float_equal(h.map_overflow, 7, 0);
	assert_int_equal(h.probes_total, 3);
	assert_int_equal(h.probes_up, 1);
	assert_string_equal(h.probes_down, "net fs");

	/* Unknown health says why; errors make it DEGRADED; old data makes it STALE. */
	snprintf(s->health_note, sizeof(s->health_note), "HTTP 401 from /metrics");
	assert_int_equal(top_health_line(s, 1001, 15, line, sizeof(line)), 1);
	assert_non_null(strstr(line, "UNKNOWN"));
	assert_non_null(strstr(line, "HTTP 401"));
	s->health = h;
	assert_int_equal(top_health_line(s, 1001, 15, line, sizeof(line)), 1);
	assert_int_equal(strncmp(line, "DEGRADED: 42 collections, 2 errors, 7 map overflows", 51),
			 0);
	assert_non_null(strstr(line, "probes 1/3 up (down: net fs)"));
	assert_non_null(strstr(line, "data 0.5s old"));
	assert_int_equal(top_health_line(s, 1100, 15, line, sizeof(line)), 2);
	assert_int_equal(strncmp(line, "STALE:", 6), 0);
	s->health = (struct top_health){ 0 };
	assert_int_equal(top_health_parse_prom(&s->health,
					       "bpfdiag_agent_collections_total 5\n"
					       "bpfdiag_agent_probe_up{family=\"cpu\"} 1\n"),
			 2);
	assert_int_equal(top_health_line(s, 1001, 15, line, sizeof(line)), 0);
	assert_int_equal(strncmp(line,
				 "OK: 5 collections, 0 errors, 0 map overflows, probes 1/1 up", 59),
			 0);
	top_snapshot_free(s);
}

/* The workloads of the visible rows, "," separated (containers as "ctr:<name>"). */
static const char *order(const struct top_snapshot *s, enum top_sort key,
			 const struct top_filter *f, const struct top_keyset *exp)
{
	static char buf[512];
	struct top_row *rows = NULL;
	size_t n = 0, len = 0;

	assert_int_equal(top_rows_build(s, key, f, exp, &rows, &n), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s%s", i ? "," : "",
					rows[i].ctr ? "ctr:" : "",
					rows[i].ctr ? rows[i].ctr->name : rows[i].pod->workload);
	free(rows);
	return buf;
}

static void test_sort(void **state)
{
	struct top_snapshot *s = parse();
	enum top_sort k;

	(void)state;
	assert_string_equal(order(s, TOP_SORT_CPU, NULL, NULL), "cron.service,db,front");
	assert_string_equal(order(s, TOP_SORT_NET, NULL, NULL), "front,db,cron.service");
	assert_string_equal(order(s, TOP_SORT_DISK, NULL, NULL), "db,cron.service,front");
	assert_string_equal(order(s, TOP_SORT_FSYNC, NULL, NULL), "db,cron.service,front");
	assert_string_equal(order(s, TOP_SORT_RETRANS, NULL, NULL), "front,cron.service,db");
	assert_string_equal(order(s, TOP_SORT_RUNQ, NULL, NULL), "db,cron.service,front");
	/* By working set: the pod's containers summed (db: 300 + 20 MiB), its OOM kills too. */
	assert_string_equal(order(s, TOP_SORT_MEM, NULL, NULL), "front,db,cron.service");
	for (size_t i = 0; i < s->n_pods; i++) {
		if (strcmp(s->pods[i].workload, "db") == 0) {
			assert_true(s->pods[i].r.mem_ws == 320 * 1048576.0);
			assert_true(s->pods[i].r.oom_kills == 1);
		}
	}
	assert_int_equal(top_sort_parse("mem", &k), 0);
	assert_int_equal(k, TOP_SORT_MEM);
	/* By name: namespace first (local mode's empty one sorts first), then workload. */
	assert_string_equal(order(s, TOP_SORT_NAME, NULL, NULL), "cron.service,db,front");
	for (int i = 0; i < TOP_SORT_MAX; i++) {
		assert_int_equal(top_sort_parse(top_sort_name((enum top_sort)i), &k), 0);
		assert_int_equal(k, i);
	}
	assert_int_equal(top_sort_parse("memory", &k), -EINVAL);
	assert_int_equal(top_sort_parse("net", &k), 0);
	assert_int_equal(k, TOP_SORT_NET);
	top_snapshot_free(s);
}

static void test_filter_and_expand(void **state)
{
	struct top_snapshot *s = parse();
	struct top_keyset exp = { 0 };
	struct top_filter f = { 0 };

	(void)state;
	assert_int_equal(top_snapshot_set_findings(s, findings_doc), 0);
	f = (struct top_filter){ .ns = "shop" };
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "db");
	f = (struct top_filter){ .ns = "sho" }; /* namespace and release match exactly */
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "");
	f = (struct top_filter){ .release = "web" };
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "front");
	f = (struct top_filter){ .text = "abcdef" }; /* a container id, any case */
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "front");
	f = (struct top_filter){ .text = "wk-05" }; /* a finding id */
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "db");
	f = (struct top_filter){ .text = "system.slice" }; /* a cgroup path */
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "cron.service");
	f = (struct top_filter){ .ns = "shop", .text = "front" };
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "");
	f = (struct top_filter){ .ns = "", .release = "", .text = "" };
	assert_string_equal(order(s, TOP_SORT_CPU, &f, NULL), "cron.service,db,front");
	/* Findings filter the same way. */
	f = (struct top_filter){ .ns = "shop" };
	assert_true(top_finding_matches(&s->findings[1], &f));
	assert_false(top_finding_matches(&s->findings[0], &f));
	f = (struct top_filter){ .text = "PVC" };
	assert_true(top_finding_matches(&s->findings[1], &f));
	assert_false(top_finding_matches(&s->findings[3], &f));

	/* Expanded pods are followed by their containers, sorted by the same key. */
	assert_int_equal(top_keyset_toggle(&exp, "u-db"), 0);
	assert_true(top_keyset_has(&exp, "u-db"));
	assert_string_equal(order(s, TOP_SORT_CPU, NULL, &exp),
			    "cron.service,db,ctr:exporter,ctr:pg,front");
	assert_string_equal(order(s, TOP_SORT_DISK, NULL, &exp),
			    "db,ctr:pg,ctr:exporter,cron.service,front");
	f = (struct top_filter){ .text = "front" };
	assert_string_equal(order(s, TOP_SORT_CPU, &f, &exp), "front");
	assert_int_equal(top_keyset_toggle(&exp, "u-front"), 0);
	assert_int_equal(top_keyset_toggle(&exp, "u-db"), 0);
	assert_false(top_keyset_has(&exp, "u-db"));
	assert_string_equal(order(s, TOP_SORT_CPU, NULL, &exp), "cron.service,db,front,ctr:nginx");
	top_keyset_clear(&exp);
	assert_int_equal(exp.n, 0);
	top_snapshot_free(s);
}

static int line_width(const int w[TOP_COL_MAX])
{
	int sum = -1;

	for (int i = 0; i < TOP_COL_MAX; i++)
		sum += w[i] ? w[i] + 1 : 0;
	return sum;
}

static void test_layout(void **state)
{
	int w[TOP_COL_MAX], d[TOP_COL_MAX];
	char line[1024];

	(void)state;
	top_layout(0, d);
	for (int i = 0; i < TOP_COL_MAX; i++)
		assert_true(i == TOP_COL_NODE ? d[i] == 0 : d[i] > 0);
	assert_int_equal(d[TOP_COL_WORKLOAD], 34);
	/* Wide: every column, the spare room to workload and pod, the line exactly as wide. */
	top_layout(240, w);
	assert_int_equal(line_width(w), 240);
	assert_true(w[TOP_COL_WORKLOAD] > d[TOP_COL_WORKLOAD]);
	assert_true(w[TOP_COL_POD] > d[TOP_COL_POD]);
	assert_int_equal(w[TOP_COL_CPU], d[TOP_COL_CPU]);
	/* The last column is not padded. */
	assert_int_equal((int)strlen(top_format_title(w, line, sizeof(line))),
			 240 - w[TOP_COL_FINDINGS] + (int)strlen("FINDINGS"));
	assert_true(w[TOP_COL_REC] > 0);
	/* Between: text columns shrink, nothing hidden but the recommendations (shown only where
	 * every other column has its preferred width), still exactly as wide. */
	top_layout(163, w);
	assert_int_equal(w[TOP_COL_REC], 0);
	assert_int_equal(line_width(w), 163);
	for (int i = 0; i < TOP_COL_MAX; i++)
		assert_true(i == TOP_COL_NODE || i == TOP_COL_REC ? w[i] == 0 : w[i] > 0);
	/* Narrow: KIND goes first, then retransmits; pod, workload, CPU and findings stay. */
	top_layout(143, w);
	assert_int_equal(w[TOP_COL_KIND], 0);
	assert_true(w[TOP_COL_RETRANS] > 0);
	assert_true(line_width(w) <= 143);
	assert_null(strstr(top_format_title(w, line, sizeof(line)), "KIND"));
	assert_non_null(strstr(line, "FINDINGS"));
	top_layout(103, w);
	assert_int_equal(w[TOP_COL_RETRANS], 0);
	assert_int_equal(w[TOP_COL_OOM], 0);
	assert_int_equal(w[TOP_COL_REC], 0);
	assert_int_equal(w[TOP_COL_IOPS], 0);
	assert_true(line_width(w) <= 103);
	for (int c = 0; c < TOP_COL_MAX; c++) {
		if (c == TOP_COL_POD || c == TOP_COL_WORKLOAD || c == TOP_COL_CPU ||
		    c == TOP_COL_MEM || c == TOP_COL_FINDINGS)
			assert_true(w[c] > 0);
	}
	assert_int_equal(top_column_offset(w, TOP_COL_POD), w[TOP_COL_NS] + 1);
	assert_int_equal(top_sort_column(TOP_SORT_FSYNC), TOP_COL_FSYNC);
	assert_int_equal(top_sort_column(TOP_SORT_NAME), -1);
	assert_int_equal(top_sort_column(TOP_SORT_MEM), TOP_COL_MEM);
}

static void test_format_rows(void **state)
{
	struct top_snapshot *s = parse();
	struct top_keyset exp = { 0 };
	struct top_row *rows = NULL;
	size_t n = 0;
	int w[TOP_COL_MAX];
	char line[1024], title[1024], b[32];

	(void)state;
	assert_int_equal(top_snapshot_set_findings(s, findings_doc), 0);
	assert_int_equal(top_keyset_toggle(&exp, "u-db"), 0);
	assert_int_equal(top_rows_build(s, TOP_SORT_DISK, NULL, &exp, &rows, &n), 0);
	assert_int_equal(n, 5);
	top_layout(0, w);
	top_format_title(w, title, sizeof(title));
	top_format_row(&rows[0], w, '-', line, sizeof(line));
	/* Columns line up with the titles. */
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_POD), "-db-0 ", 6), 0);
	assert_int_equal(strncmp(title + top_column_offset(w, TOP_COL_FINDINGS), "FINDINGS", 8), 0);
	assert_string_equal(line + top_column_offset(w, TOP_COL_FINDINGS), "WK-05,RS-01");
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_RELEASE), "shop-db ", 8), 0);
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_CPU), "  50.0 ", 7), 0);
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_RUNQ), "  4.0ms ", 8), 0);
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_DISK_W), "   5.9K ", 8), 0);
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_FSYNC), "   8.0 ", 7), 0);
	/* A container row: indented name with its ports, no namespace, its id as workload. */
	top_format_row(&rows[1], w, 0, line, sizeof(line));
	assert_int_equal(strncmp(line, "               ", 15), 0);
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_POD), "  pg :5432,9187 ", 16),
			 0);
	assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_WORKLOAD), "c1 ", 3), 0);
	free(rows);
	/* Long values: '~' where text was cut; paths keep their end, names their start and their
	 * last '-' part (two replicas of one Deployment never print alike). */
	{
		struct top_pod p = { .ns = "a-very-long-namespace-name",
				     .pod = "p",
				     .kind = "Cgroup",
				     .workload = "/system.slice/some-long-unit-name-here.service",
				     .release = "",
				     .finding_ids = "" };
		struct top_row r = { .pod = &p };

		top_format_row(&r, w, 0, line, sizeof(line));
		assert_int_equal(strncmp(line, "a-very-l~-name p ", 17), 0);
		assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_WORKLOAD),
					 "~/some-long-unit-name-here.service ", 35),
				 0);
		assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_RELEASE), "- ", 2), 0);
	}
	{
		char pa[] = "render-7f8c9d6b5-k2j3h", pb[] = "render-7f8c9d6b5-x9q8w", huge[400];
		struct top_pod a = { .ns = "shop",
				     .pod = pa,
				     .kind = "Deployment",
				     .workload = "render",
				     .release = "",
				     .finding_ids = "" };
		struct top_pod a2 = a;
		struct top_row r[2] = { { .pod = &a }, { .pod = &a2 } };
		int fit[TOP_COL_MAX];
		char other[1024];

		a2.pod = pb;
		/* A terminal's width: the middle goes, the replica suffix stays. */
		top_layout(0, w);
		top_format_row(&r[0], w, 0, line, sizeof(line));
		top_format_row(&r[1], w, 0, other, sizeof(other));
		assert_int_equal(strncmp(line + top_column_offset(w, TOP_COL_POD),
					 "render-7f8c9d~-k2j3h ", 21),
				 0);
		assert_int_equal(strncmp(other + top_column_offset(w, TOP_COL_POD),
					 "render-7f8c9d~-x9q8w ", 21),
				 0);
		/* Without a terminal: columns as wide as their content, nothing cut, aligned. */
		top_layout_fit(r, 2, fit);
		assert_int_equal(fit[TOP_COL_POD], 22);
		assert_int_equal(fit[TOP_COL_NS], (int)strlen("NAMESPACE"));
		assert_int_equal(fit[TOP_COL_KIND], (int)strlen("Deployment"));
		assert_int_equal(fit[TOP_COL_RELEASE], (int)strlen("RELEASE"));
		top_format_title(fit, title, sizeof(title));
		top_format_row(&r[0], fit, 0, line, sizeof(line));
		assert_null(strchr(line, '~'));
		assert_int_equal(strncmp(line + top_column_offset(fit, TOP_COL_POD),
					 "render-7f8c9d6b5-k2j3h Deployment render ", 41),
				 0);
		assert_int_equal(
			strncmp(title + top_column_offset(fit, TOP_COL_CPU) - 1, " CPU%", 5), 0);
		assert_int_equal(strncmp(line + top_column_offset(fit, TOP_COL_CPU), " 0.0 ", 5),
				 0);
		/* A value longer than any column: kept whole up to TOP_CELL_MAX. */
		memset(huge, 'p', 253);
		huge[253] = '\0';
		a.pod = huge;
		top_layout_fit(r, 2, fit);
		assert_int_equal(fit[TOP_COL_POD], 253);
	}
	assert_string_equal(top_fmt_bytes(512, b, sizeof(b)), "512B");
	assert_string_equal(top_fmt_bytes(1536, b, sizeof(b)), "1.5K");
	assert_string_equal(top_fmt_bytes(41943040, b, sizeof(b)), "40.0M");
	assert_string_equal(top_fmt_count(12.54, b, sizeof(b)), "12.5");
	assert_string_equal(top_fmt_count(25000, b, sizeof(b)), "25.0k");
	assert_string_equal(top_fmt_seconds(0, b, sizeof(b)), "0");
	assert_string_equal(top_fmt_seconds(0.00085, b, sizeof(b)), "850us");
	assert_string_equal(top_fmt_seconds(2.05, b, sizeof(b)), "2.05s");
	assert_int_equal(top_severity_parse("HIGH"), TOP_SEV_HIGH);
	assert_int_equal(top_severity_parse("bogus"), TOP_SEV_NONE);
	assert_string_equal(top_severity_tag(TOP_SEV_CRITICAL), "CRIT");
	top_keyset_clear(&exp);
	top_snapshot_free(s);
}

/* A snapshot as the pipeline makes it: a pod of two containers whose series are not adjacent,
 * a local-mode cgroup, a second pod; findings with evidence; agent health. */
static void set_series(struct snap_series *se, const char *ns, const char *pod, const char *uid,
		       const char *kind, const char *workload, const char *ctr, const char *id,
		       double cpu)
{
	const char *v[LBL_MAX] = {
		[LBL_NAMESPACE] = ns,	   [LBL_POD] = pod,
		[LBL_CONTAINER] = ctr,	   [LBL_WORKLOAD_KIND] = kind,
		[LBL_WORKLOAD] = workload, [LBL_HELM_RELEASE] = ns[0] ? "rel" : "",
		[LBL_POD_UID] = uid,	   [LBL_CONTAINER_ID] = id
	};

	for (int l = 0; l < LBL_MAX; l++)
		se->labels[l] = strdup(v[l]);
	se->cgroup_path = strdup(id[0] ? id : workload);
	se->cgroup_id = (uint64_t)(cpu * 1000);
	se->rates = (struct snap_rates){ .cpu_cores = cpu,
					 .runq_p99_seconds = cpu / 100,
					 .disk_read_bps = cpu * 1024,
					 .disk_write_bps = 4096 / cpu,
					 .disk_iops = 3,
					 .fs_write_bps = 2048,
					 .fsync_per_s = cpu * 8,
					 .net_rx_bps = 1e6 * cpu,
					 .net_tx_bps = 5e5,
					 .retransmits_per_s = 0.5 };
}

static struct snapshot *pipeline_snapshot(void)
{
	struct snapshot *s = snapshot_new(4);
	struct snap_finding *f;
	struct collector_stat *st;

	assert_non_null(s);
	s->node = strdup("n1");
	s->time = 1000.5;
	set_series(&s->series[0], "shop", "db-0", "u-db", "StatefulSet", "db", "pg", "c1", 0.25);
	set_series(&s->series[1], "", "", "", "SystemdService", "cron.service", "", "", 0.75);
	set_series(&s->series[2], "shop", "db-0", "u-db", "StatefulSet", "db", "exporter", "c2",
		   0.125);
	set_series(&s->series[3], "web", "front-1", "u-front", "Deployment", "front", "nginx", "c3",
		   0.5);
	s->series[0].listen_ports = calloc(2, sizeof(uint16_t));
	s->series[0].listen_ports[0] = 5432;
	s->series[0].listen_ports[1] = 9187;
	s->series[0].n_listen_ports = 2;
	s->findings = f = calloc(3, sizeof(*f));
	s->n_findings = 3;
	f[0] = (struct snap_finding){ .ns = "",
				      .workload_kind = "SystemdService",
				      .workload = "cron.service",
				      .rule = "RS-02",
				      .severity = "medium",
				      .message = "throttled",
				      .since = 1700000000,
				      .n_evidence = 2 };
	snprintf(f[0].evidence[0].name, sizeof(f[0].evidence[0].name), "throttled_ratio");
	f[0].evidence[0].value = 0.875;
	snprintf(f[0].evidence[1].name, sizeof(f[0].evidence[1].name), "usage_of_limit");
	f[0].evidence[1].value = 1;
	f[1] = (struct snap_finding){ .ns = "shop",
				      .workload_kind = "StatefulSet",
				      .workload = "db",
				      .helm_release = "rel",
				      .rule = "WK-07",
				      .severity = "low",
				      .suggested_kind = "Deployment",
				      .message = "stateless",
				      .since = 1700000500 };
	f[2] = (struct snap_finding){ .ns = "shop",
				      .workload_kind = "StatefulSet",
				      .workload = "db",
				      .helm_release = "rel",
				      .rule = "SC-01",
				      .severity = "high",
				      .message = "privileged",
				      .since = 1 };
	s->agent = (struct snap_agent){ .start_time = 1.5e9,
					.collections = 42,
					.collection_errors = 1,
					.last_collection_seconds = 0.25 };
	s->agent.stats = st = calloc(3, sizeof(*st));
	s->agent.n_stats = 3;
	st[0] = (struct collector_stat){ .kind = CSTAT_MAP_OVERFLOW, .subject = "cpu", .value = 3 };
	st[1] = (struct collector_stat){ .kind = CSTAT_PROBE_UP, .subject = "cpu", .value = 1 };
	st[2] = (struct collector_stat){ .kind = CSTAT_PROBE_UP, .subject = "net", .value = 0 };
	return s;
}

/* As an agent serves it: /api/v1/pods, /api/v1/findings and /metrics, parsed by top. */
static struct top_snapshot *through_documents(const struct snapshot *s)
{
	struct strbuf pods = STRBUF_INIT, findings = STRBUF_INIT, metrics = STRBUF_INIT;
	struct top_snapshot *ts = NULL;

	assert_int_equal(api_pods_json(s, &pods), 0);
	assert_int_equal(api_findings_json(s, &findings), 0);
	assert_int_equal(prom_encode(s, &metrics), 0);
	assert_int_equal(top_snapshot_parse(pods.data, &ts), 0);
	assert_int_equal(top_snapshot_set_findings(ts, findings.data), 0);
	assert_true(top_health_parse_prom(&ts->health, metrics.data) > 0);
	ts->health_note[0] = '\0';
	strbuf_reset(&pods);
	strbuf_reset(&findings);
	strbuf_reset(&metrics);
	return ts;
}

/* Every row (all pods expanded) of a sort key, formatted, one per line. */
static char *table(const struct top_snapshot *s, enum top_sort key)
{
	struct top_keyset exp = { 0 };
	struct top_row *rows = NULL;
	struct strbuf out = STRBUF_INIT;
	size_t n = 0;
	int w[TOP_COL_MAX];
	char line[2048];

	for (size_t i = 0; i < s->n_pods; i++)
		assert_int_equal(top_keyset_toggle(&exp, s->pods[i].key), 0);
	assert_int_equal(top_rows_build(s, key, NULL, &exp, &rows, &n), 0);
	top_layout_fit(rows, n, w);
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(&out, top_format_row(&rows[i], w, 0, line, sizeof(line)));
		strbuf_puts(&out, "\n");
	}
	free(rows);
	top_keyset_clear(&exp);
	return strbuf_steal(&out, NULL);
}

static void test_snapshot_both_ways(void **state)
{
	struct snapshot *s = pipeline_snapshot();
	struct top_snapshot *remote = through_documents(s), *local = NULL;
	char a[512], b[512];

	(void)state;
	assert_int_equal(top_snapshot_from(s, &local), 0);
	assert_string_equal(local->node, remote->node);
	assert_true(local->time == remote->time);
	assert_int_equal(local->n_pods, 3);
	assert_int_equal(remote->n_pods, 3);
	/* The pod's two containers are grouped although a local cgroup's series lies between. */
	assert_int_equal(local->pods[0].n_ctrs, 2);
	assert_string_equal(local->pods[0].ctrs[0].ports, "5432,9187");
	for (int k = 0; k < TOP_SORT_MAX; k++) {
		char *x = table(remote, (enum top_sort)k), *y = table(local, (enum top_sort)k);

		assert_string_equal(x, y);
		free(x);
		free(y);
	}
	assert_memory_equal(&local->total, &remote->total, sizeof(local->total));
	assert_string_equal(local->pods[0].finding_ids, "SC-01,WK-07");
	assert_true(local->findings_known);
	assert_int_equal(local->n_findings, remote->n_findings);
	for (size_t i = 0; i < local->n_findings; i++) {
		const struct top_finding *x = &remote->findings[i], *y = &local->findings[i];

		assert_string_equal(x->rule, y->rule);
		assert_string_equal(x->ns, y->ns);
		assert_string_equal(x->kind, y->kind);
		assert_string_equal(x->workload, y->workload);
		assert_string_equal(x->release, y->release);
		assert_string_equal(x->severity, y->severity);
		assert_string_equal(x->suggested, y->suggested);
		assert_string_equal(x->message, y->message);
		assert_string_equal(x->since, y->since);
		assert_string_equal(top_fmt_evidence(x, a, sizeof(a)),
				    top_fmt_evidence(y, b, sizeof(b)));
	}
	assert_string_equal(local->findings[0].rule, "SC-01");
	assert_string_equal(local->findings[1].since, "2023-11-14T22:13:20Z");
	assert_string_equal(top_fmt_evidence(&local->findings[1], a, sizeof(a)),
			    "throttled_ratio=0.875 usage_of_limit=1");
	assert_int_equal(top_health_line(local, 1001, 15, a, sizeof(a)),
			 top_health_line(remote, 1001, 15, b, sizeof(b)));
	assert_string_equal(a, b);
	assert_string_equal(a, "DEGRADED: 42 collections, 1 errors, 3 map overflows, probes 1/2 "
			       "up (down: net), last 250ms, data 0.5s old");
	top_snapshot_free(local);
	top_snapshot_free(remote);
	snapshot_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pods),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_findings_tag_pods),
		cmocka_unit_test(test_health_from_prom),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_filter_and_expand),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_format_rows),
		cmocka_unit_test(test_snapshot_both_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
