"""The Grafana dashboards and the PrometheusRule: valid JSON generated from
tools/gen-dashboards.py, the template variables, the ConfigMaps that ship them, and every
PromQL expression parsed by Prometheus' own parser (tools/promql-check) and held to the metric
names and labels of docs/METRICS.md."""
import glob
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import chartlib  # noqa: E402

DASHBOARD_DIR = os.path.join(chartlib.CHART, "dashboards")
VARIABLES = ["datasource", "namespace", "helm_release", "workload"]
# Grafana's macros, replaced by what Grafana would substitute before Prometheus sees the query.
MACROS = [("$__rate_interval", "1m"), ("$__interval", "30s"), ("$__range", "1h")]
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$")


def dashboards():
    out = {}
    for path in sorted(glob.glob(os.path.join(DASHBOARD_DIR, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def panels(board):
    for p in board["panels"]:
        yield p
        yield from p.get("panels", [])


def queries(board):
    """(where, PromQL) of every panel target and variable query; label_values(sel, label)
    becomes `sel` plus the label it reads."""
    for p in panels(board):
        for t in p.get("targets", []):
            yield "panel %r" % p["title"], t["expr"], None
    for v in board["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = LABEL_VALUES.match(v["query"]["query"])
        if not m:
            raise AssertionError("variable %s: not a label_values() query" % v["name"])
        yield "variable %s" % v["name"], m.group(1), m.group(2)


def promql_check(exprs):
    tool = chartlib.go_tool("promql-check")
    for name, value in MACROS:
        exprs = [e.replace(name, value) for e in exprs]
    r = subprocess.run([tool], input=json.dumps(exprs), capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError("promql-check: " + r.stderr)
    return json.loads(r.stdout)


class Checker:
    """Holds parsed expressions to the catalogue: known metric names (histograms through
    _bucket/_sum/_count), matcher labels the metric has, and grouping labels that some metric
    of the expression has."""

    def __init__(self):
        cat, self.series = chartlib.metric_catalogue()
        self.names = chartlib.allowed_names(cat)
        # Prometheus' own per-target series.
        self.names["up"] = set()

    def problems(self, report, extra_label=None):
        if report.get("error"):
            return ["does not parse: " + report["error"]]
        out = []
        labels_here = set(chartlib.TARGET_LABELS)
        for s in report["selectors"]:
            if s["name"] not in self.names:
                out.append("unknown metric %r" % s["name"])
                continue
            allowed = self.names[s["name"]] | chartlib.TARGET_LABELS
            labels_here |= allowed
            for label in s["labels"]:
                if label not in allowed:
                    out.append("%s has no label %r" % (s["name"], label))
        if not report["selectors"]:
            out.append("selects no metric")
        for label in report["grouping"] + ([extra_label] if extra_label else []):
            if label not in labels_here:
                out.append("groups or reads label %r that none of its metrics has" % label)
        return out


class Dashboards(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boards = dashboards()

    def test_generated_files_are_current(self):
        r = subprocess.run([sys.executable, os.path.join(chartlib.REPO, "tools",
                                                         "gen-dashboards.py"), "--check"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_three_dashboards(self):
        self.assertEqual(sorted(self.boards), ["agent-health.json", "fleet-overview.json",
                                               "workload.json"])
        uids = [b["uid"] for b in self.boards.values()]
        self.assertEqual(len(set(uids)), 3)

    def test_variables(self):
        for name, board in self.boards.items():
            with self.subTest(dashboard=name):
                variables = {v["name"]: v for v in board["templating"]["list"]}
                for v in VARIABLES:
                    self.assertIn(v, variables)
                ds = variables["datasource"]
                self.assertEqual((ds["type"], ds["query"]), ("datasource", "prometheus"))
                for v in VARIABLES[1:]:
                    self.assertEqual(variables[v]["type"], "query")
                    self.assertEqual(variables[v]["datasource"]["uid"], "${datasource}")
                    self.assertEqual(variables[v]["allValue"], ".*")
                # helm_release depends on namespace, workload on both: the chain narrows.
                self.assertIn("$namespace", variables["helm_release"]["query"]["query"])
                self.assertIn("$helm_release", variables["workload"]["query"]["query"])

    def test_panels(self):
        for name, board in self.boards.items():
            ids = set()
            cells = set()
            for p in panels(board):
                with self.subTest(dashboard=name, panel=p["title"]):
                    self.assertNotIn(p["id"], ids)
                    ids.add(p["id"])
                    g = p["gridPos"]
                    self.assertLessEqual(g["x"] + g["w"], 24)
                    for x in range(g["x"], g["x"] + g["w"]):
                        for y in range(g["y"], g["y"] + g["h"]):
                            self.assertNotIn((x, y), cells, "panels overlap")
                            cells.add((x, y))
                    if p["type"] == "row":
                        continue
                    self.assertEqual(p["datasource"]["uid"], "${datasource}")
                    self.assertTrue(p["targets"])
                    for t in p["targets"]:
                        self.assertEqual(t["datasource"]["uid"], "${datasource}")
                        self.assertTrue(t["expr"].strip())
                        # Dashboards filter on the variables of the data they show.
                        if not re.search(r"bpfdiag_agent_|^time\(", t["expr"]):
                            self.assertIn('namespace=~"$namespace"', t["expr"])

    def test_every_query_is_valid_and_documented(self):
        checker = Checker()
        found = []
        for name, board in self.boards.items():
            found += [(name, where, expr, label) for where, expr, label in queries(board)]
        self.assertGreater(len(found), 40)
        reports = promql_check([expr for _, _, expr, _ in found])
        failures = []
        for (name, where, expr, label), rep in zip(found, reports):
            for p in checker.problems(rep, label):
                failures.append("%s %s: %s\n    %s" % (name, where, p, expr))
        self.assertFalse(failures, "\n" + "\n".join(failures))

    def test_container_metrics_all_shown(self):
        """Every per-container metric of the catalogue appears on some dashboard."""
        cat, _ = chartlib.metric_catalogue()
        text = json.dumps(self.boards)
        for name, m in cat.items():
            if m["section"].startswith("container") or name in ("bpfdiag_finding",
                                                                "bpfdiag_pod_info"):
                self.assertIn(name, text)

    def test_configmaps_ship_the_files(self):
        r = chartlib.Rendered()
        shipped = {}
        for cm in r.all("ConfigMap"):
            self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
            for key, value in cm["data"].items():
                shipped[key] = json.loads(value)
        self.assertEqual(shipped, self.boards)
        off = chartlib.Rendered(sets=["dashboards.enabled=false"])
        self.assertEqual(off.all("ConfigMap"), [])


class Alerts(unittest.TestCase):
    def test_rule_expressions_valid_and_documented(self):
        r = chartlib.Rendered(["everything.yaml"])
        pr = r.one("PrometheusRule")
        # Alerts only: the recording rules read cAdvisor's and kube-state-metrics' names too,
        # and promtool runs them on input series (test_prometheus_rules.py).
        rules = [rule for g in pr["spec"]["groups"] for rule in g["rules"] if "alert" in rule]
        self.assertGreaterEqual(len(rules), 9)
        reports = promql_check([rule["expr"] for rule in rules])
        checker = Checker()
        failures = []
        for rule, rep in zip(rules, reports):
            failures += ["%s: %s" % (rule["alert"], p) for p in checker.problems(rep)]
        self.assertFalse(failures, "\n" + "\n".join(failures))

    def test_off_by_default(self):
        r = chartlib.Rendered()
        self.assertEqual(r.all("PrometheusRule"), [])
        self.assertEqual(r.all("ServiceMonitor"), [])


class CheckerCanFail(unittest.TestCase):
    """The checks above would catch a renamed metric, a label a metric lacks, a grouping
    label from nowhere, and a syntax error."""

    def test_rejects(self):
        checker = Checker()
        cases = {
            'rate(bpfdiag_cpu_second_total{namespace="a"}[5m])': "unknown metric",
            'bpfdiag_network_bytes_total{device="eth0"}': "has no label 'device'",
            "sum by (volume_class) (rate(bpfdiag_cpu_seconds_total[5m]))":
                "groups or reads label 'volume_class'",
            "sum(rate(bpfdiag_cpu_seconds_total[5m])": "does not parse",
            "bpfdiag_disk_latency_seconds{direction=\"read\"}": "unknown metric",
        }
        reports = promql_check(list(cases))
        for (expr, want), rep in zip(cases.items(), reports):
            with self.subTest(expr=expr):
                self.assertTrue(any(want in p for p in checker.problems(rep)),
                                checker.problems(rep))
        ok = promql_check(['histogram_quantile(0.99, sum by (le, direction) '
                           '(rate(bpfdiag_disk_latency_seconds_bucket{pod="x"}[1m])))'])
        self.assertEqual(checker.problems(ok[0]), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
