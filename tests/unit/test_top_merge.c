// SPDX-License-Identifier: BSD-2-Clause
/* bpfdiag top --cluster's merge (top_merge.h) over hand-written agent documents: pods and
 * findings of two nodes in one model, each with its node; a node that did not answer listed
 * with why; keys kept apart across nodes; totals, health lines, findings known per node;
 * sorting, the node filter and the NODE column of the layout and rows. */
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
#include "top/top_merge.h"
#include "top/top_rows.h"

/* Node a: a database pod and a cgroup without a uid; node b: a web pod of the same
 * Deployment name in another namespace, a replica of a's database, and the same uid-less
 * cgroup (local mode on both nodes). */
static const char pods_a[] =
	"{\"node\":\"node-a\",\"time\":1000,\"pods\":["
	"{\"namespace\":\"shop\",\"pod\":\"db-0\",\"uid\":\"u-db0\",\"workload_kind\":\"Deployment\","
	"\"workload\":\"db\",\"helm_release\":\"shop-db\",\"containers\":[{\"name\":\"pg\","
	"\"id\":\"c1\",\"cpu_cores\":0.5,\"runqueue_p99_seconds\":0.004,"
	"\"memory_working_set_bytes\":1000}]},"
	"{\"namespace\":\"\",\"pod\":\"\",\"uid\":\"\",\"workload_kind\":\"systemd\","
	"\"workload\":\"sshd.service\",\"containers\":[{\"name\":\"\",\"id\":\"\","
	"\"cgroup_path\":\"/system.slice/sshd.service\",\"cpu_cores\":0.01}]}]}";
static const char pods_b[] =
	"{\"node\":\"node-b\",\"time\":1002,\"pods\":["
	"{\"namespace\":\"web\",\"pod\":\"front-1\",\"uid\":\"u-f1\",\"workload_kind\":\"Deployment\","
	"\"workload\":\"front\",\"containers\":[{\"name\":\"nginx\",\"id\":\"c2\",\"cpu_cores\":1.5,"
	"\"runqueue_p99_seconds\":0.001,\"memory_working_set_bytes\":500}]},"
	"{\"namespace\":\"shop\",\"pod\":\"db-1\",\"uid\":\"u-db1\",\"workload_kind\":\"Deployment\","
	"\"workload\":\"db\",\"helm_release\":\"shop-db\",\"containers\":[{\"name\":\"pg\","
	"\"id\":\"c3\",\"cpu_cores\":0.25}]},"
	"{\"namespace\":\"\",\"pod\":\"\",\"uid\":\"\",\"workload_kind\":\"systemd\","
	"\"workload\":\"sshd.service\",\"containers\":[{\"name\":\"\",\"id\":\"\","
	"\"cgroup_path\":\"/system.slice/sshd.service\",\"cpu_cores\":0.02}]}]}";
static const char findings_a[] =
	"{\"findings\":[{\"namespace\":\"shop\",\"workload_kind\":\"Deployment\",\"workload\":\"db\","
	"\"helm_release\":\"shop-db\",\"rule\":\"RS-01\",\"severity\":\"medium\","
	"\"message\":\"no memory limit\"}]}";
static const char findings_b[] =
	"{\"findings\":[{\"namespace\":\"web\",\"workload_kind\":\"Deployment\",\"workload\":\"front\","
	"\"rule\":\"WK-05\",\"severity\":\"high\",\"message\":\"fsyncs into a PVC\"}]}";
static const char metrics[] = "bpfdiag_agent_collections_total 12\n"
			      "bpfdiag_agent_collection_errors_total 0\n"
			      "bpfdiag_agent_probe_up{family=\"cpu\"} 1\n";

static struct top_snapshot *part(const char *pods, const char *findings, const char *prom)
{
	struct top_snapshot *s = NULL;

	assert_int_equal(top_snapshot_parse(pods, &s), 0);
	if (findings)
		assert_int_equal(top_snapshot_set_findings(s, findings), 0);
	if (prom)
		assert_true(top_health_parse_prom(&s->health, prom) > 0);
	return s;
}

static struct top_snapshot *merged(bool b_findings)
{
	struct top_part parts[] = {
		{ "node-c", "bpfdiag/agent-c", NULL, "HTTP 503: connection refused" },
		{ "node-b", "bpfdiag/agent-b", part(pods_b, b_findings ? findings_b : NULL, NULL),
		  NULL },
		{ "node-a", "bpfdiag/agent-a", part(pods_a, findings_a, metrics), NULL },
	};
	struct top_snapshot *m = NULL;

	assert_int_equal(top_snapshot_merge(parts, 3, &m), 0);
	for (size_t i = 0; i < 3; i++)
		assert_null(parts[i].s); /* taken */
	return m;
}

static const struct top_pod *find_pod(const struct top_snapshot *m, const char *node,
				      const char *workload)
{
	for (size_t i = 0; i < m->n_pods; i++) {
		if (strcmp(m->pods[i].node, node) == 0 &&
		    strcmp(m->pods[i].workload, workload) == 0)
			return &m->pods[i];
	}
	fail_msg("no pod %s on %s", workload, node);
	return NULL;
}

static void test_merge_pods_findings_nodes(void **state)
{
	struct top_snapshot *m = merged(true);
	char line[256];

	(void)state;
	assert_int_equal(m->n_pods, 5);
	assert_string_equal(m->node, "");
	/* Totals summed over the nodes; run-queue p99 the worst; time the latest. */
	assert_float_equal(m->total.cpu_pct, (0.5 + 0.01 + 1.5 + 0.25 + 0.02) * 100, 1e-6);
	assert_float_equal(m->total.runq_p99, 0.004, 1e-12);
	assert_float_equal(m->total.mem_ws, 1500, 1e-9);
	assert_float_equal(m->time, 1002, 1e-9);
	/* Each pod with its node; the uid-less cgroup of both nodes under two keys. */
	assert_string_not_equal(find_pod(m, "node-a", "sshd.service")->key,
				find_pod(m, "node-b", "sshd.service")->key);
	assert_string_equal(find_pod(m, "node-a", "sshd.service")->key,
			    "node-a//systemd/sshd.service/");
	assert_string_equal(find_pod(m, "node-b", "front")->key, "node-b/u-f1");
	/* A node's findings tag its own pods only: db on node-b has none of node-a's RS-01. */
	assert_string_equal(find_pod(m, "node-a", "db")->finding_ids, "RS-01");
	assert_string_equal(find_pod(m, "node-b", "db")->finding_ids, "");
	assert_string_equal(find_pod(m, "node-b", "front")->finding_ids, "WK-05");
	/* Findings of every node, worst first, each with its node. */
	assert_true(m->findings_known);
	assert_int_equal(m->n_findings, 2);
	assert_string_equal(m->findings[0].rule, "WK-05");
	assert_string_equal(m->findings[0].node, "node-b");
	assert_string_equal(m->findings[1].node, "node-a");
	/* Every node, by name; the silent one with why; counts and health per node. */
	assert_int_equal(m->n_nodes, 3);
	assert_string_equal(m->nodes[0].name, "node-a");
	assert_string_equal(m->nodes[1].name, "node-b");
	assert_string_equal(m->nodes[2].name, "node-c");
	assert_string_equal(m->nodes[2].agent, "bpfdiag/agent-c");
	assert_string_equal(m->nodes[2].why, "HTTP 503: connection refused");
	assert_string_equal(m->nodes[0].why, "");
	assert_int_equal(m->nodes[0].n_pods, 2);
	assert_int_equal(m->nodes[0].n_findings, 1);
	assert_int_equal(m->nodes[1].n_pods, 3);
	assert_int_equal(top_nodes_answered(m), 2);
	assert_int_equal(top_nodes_line(m, line, sizeof(line)), 2);
	assert_string_equal(line, "2 of 3 answer; NO-ANSWER: node-c");
	assert_int_equal(top_node_line(&m->nodes[2], 1003, 0, line, sizeof(line)), 2);
	assert_string_equal(line, "NO-ANSWER: HTTP 503: connection refused");
	assert_int_equal(top_node_line(&m->nodes[0], 1003, 0, line, sizeof(line)), 0);
	assert_non_null(strstr(line, "OK: 12 collections"));
	assert_int_equal(top_node_line(&m->nodes[1], 1003, 0, line, sizeof(line)), 1);
	assert_non_null(strstr(line, "health unknown"));
	top_snapshot_free(m);
}

static void test_merge_findings_known_and_empty(void **state)
{
	struct top_snapshot *m = merged(false);
	struct top_part dead[] = { { "node-x", "ns/x", NULL, "" } };
	char line[256];

	(void)state;
	/* node-b's findings were not read: node-a's still make the findings known. */
	assert_true(m->findings_known);
	assert_int_equal(m->n_findings, 1);
	assert_string_equal(find_pod(m, "node-b", "front")->finding_ids, "");
	top_snapshot_free(m);
	/* Nobody answered: no pods, every node listed, findings unknown with why. */
	assert_int_equal(top_snapshot_merge(dead, 1, &m), 0);
	assert_int_equal(m->n_pods, 0);
	assert_false(m->findings_known);
	assert_non_null(strstr(m->findings_note, "no node answered"));
	assert_string_equal(m->nodes[0].why, "no answer");
	assert_int_equal(top_nodes_line(m, line, sizeof(line)), 2);
	assert_string_equal(line, "0 of 1 answer; NO-ANSWER: node-x");
	top_snapshot_free(m);
	/* No agents at all. */
	assert_int_equal(top_snapshot_merge(NULL, 0, &m), 0);
	assert_int_equal(m->n_nodes, 0);
	top_snapshot_free(m);
}

static void test_rows_filter_layout(void **state)
{
	struct top_snapshot *m = merged(true);
	struct top_filter f = { .text = "NODE-B" };
	struct top_row *rows = NULL;
	int w[TOP_COL_MAX], sum = 0;
	char buf[1024];
	size_t n = 0;

	(void)state;
	/* Sorted over the whole cluster: node-b's front (150 %) before node-a's db (50 %). */
	assert_int_equal(top_rows_build(m, TOP_SORT_CPU, NULL, NULL, &rows, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(rows[0].pod->node, "node-b");
	assert_string_equal(rows[0].pod->pod, "front-1");
	assert_string_equal(rows[1].pod->node, "node-a");
	/* Fit to content: NODE first, as wide as the longest node name. */
	top_layout_fit(rows, n, w);
	assert_int_equal(w[TOP_COL_NODE], (int)strlen("node-a"));
	top_format_row(&rows[0], w, 0, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "node-b web ", 11), 0);
	free(rows);
	/* The text filter matches the node (any case). */
	assert_int_equal(top_rows_build(m, TOP_SORT_NAME, &f, NULL, &rows, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(rows[i].pod->node, "node-b");
	free(rows);
	assert_true(top_finding_matches(&m->findings[0], &f));
	assert_false(top_finding_matches(&m->findings[1], &f));
	/* A terminal's layout with the NODE column: exactly the width, NODE shown. */
	top_layout_nodes(200, w);
	for (int i = 0; i < TOP_COL_MAX; i++)
		sum += w[i] ? w[i] + 1 : 0;
	assert_int_equal(sum - 1, 200);
	assert_true(w[TOP_COL_NODE] > 0);
	assert_int_equal(strncmp(top_format_title(w, buf, sizeof(buf)), "NODE ", 5), 0);
	top_layout(200, w);
	assert_int_equal(w[TOP_COL_NODE], 0);
	top_snapshot_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_pods_findings_nodes),
		cmocka_unit_test(test_merge_findings_known_and_empty),
		cmocka_unit_test(test_rows_filter_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
