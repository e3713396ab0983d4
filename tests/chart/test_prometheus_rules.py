"""The chart's PrometheusRule under Prometheus' own tools: the rendered groups pass `promtool
check rules`, and `promtool test rules` runs the unit tests of tests/chart/rules/ (input series,
expected alerts and recorded samples) against them. Every alert has a test in which it fires
with its exact labels and annotations, and every recording rule a test of what it records; the
cAdvisor-compatible records are opt-in and their extra labels are the user's."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import chartlib  # noqa: E402
from chartlib import Rendered, yaml  # noqa: E402
from test_exporter_fixtures import promtool  # noqa: E402

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules")
ON = ["prometheusRule.enabled=true", "prometheusRule.cadvisor.enabled=true"]
CADVISOR_RECORDS = {"container_cpu_usage_seconds_total", "container_cpu_cfs_periods_total",
                    "container_cpu_cfs_throttled_periods_total",
                    "container_cpu_cfs_throttled_seconds_total"}


def rules_of(rendered):
    return [r for g in rendered.one("PrometheusRule")["spec"]["groups"] for r in g["rules"]]


class PromtoolRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bpfdiag-rules-")
        cls.rendered = Rendered(sets=ON)
        pr = cls.rendered.one("PrometheusRule")
        # The PrometheusRule's spec is a Prometheus rule file.
        with open(os.path.join(cls.tmp, "rules.yaml"), "w") as f:
            yaml.safe_dump({"groups": pr["spec"]["groups"]}, f)
        cls.test_files = sorted(glob.glob(os.path.join(TESTS, "*.test.yaml")))
        for t in cls.test_files:
            shutil.copy(t, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def promtool(self, *args):
        return subprocess.run([promtool()] + list(args), capture_output=True, text=True,
                              timeout=120, cwd=self.tmp)

    def test_check_rules(self):
        r = self.promtool("check", "rules", "rules.yaml")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: %d rules found" % len(rules_of(self.rendered)), r.stdout)

    def test_unit_tests_pass(self):
        self.assertEqual([os.path.basename(t) for t in self.test_files],
                         ["agent.test.yaml", "cadvisor.test.yaml", "findings.test.yaml"])
        for t in self.test_files:
            with self.subTest(file=os.path.basename(t)):
                r = self.promtool("test", "rules", os.path.basename(t))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("SUCCESS", r.stdout)

    def test_every_rule_is_tested(self):
        """Each alert fires in some test (non-empty exp_alerts), each record is queried by
        name in some promql_expr_test with expected samples."""
        fired, queried = set(), []
        for t in self.test_files:
            with open(t) as f:
                doc = yaml.safe_load(f)
            self.assertEqual(doc["rule_files"], ["rules.yaml"], t)
            for case in doc["tests"]:
                for a in case.get("alert_rule_test", []):
                    if a.get("exp_alerts"):
                        fired.add(a["alertname"])
                for e in case.get("promql_expr_test", []):
                    if e.get("exp_samples"):
                        queried.append(e["expr"])
        rules = rules_of(self.rendered)
        alerts = {r["alert"] for r in rules if "alert" in r}
        records = {r["record"] for r in rules if "record" in r}
        self.assertGreaterEqual(len(alerts), 10)
        self.assertEqual(records, CADVISOR_RECORDS)
        self.assertEqual(alerts - fired, set(), "alerts no test fires")
        self.assertEqual(records - {r for r in records if any(r in q for q in queried)},
                         set(), "records no test queries")

    def test_broken_rule_is_caught(self):
        """The unit tests hold the expressions: a record that forgets the cAdvisor guard
        (duplicates) or an alert on a result the agent never exports fails them."""
        with open(os.path.join(self.tmp, "rules.yaml")) as f:
            doc = yaml.safe_load(f)
        for g in doc["groups"]:
            for r in g["rules"]:
                if "record" in r:
                    r["expr"] = r["expr"].split("unless on")[0].strip()
                if r.get("alert") == "BpfdiagExportFailing":
                    r["expr"] = r["expr"].replace('result=~"retryable_error|permanent_error"',
                                                  'result="failure"')
        with open(os.path.join(self.tmp, "broken.yaml"), "w") as f:
            yaml.safe_dump(doc, f)
        for name in ("agent.test.yaml", "cadvisor.test.yaml"):
            with open(os.path.join(TESTS, name)) as f:
                test = yaml.safe_load(f)
            test["rule_files"] = ["broken.yaml"]
            with open(os.path.join(self.tmp, "broken-" + name), "w") as f:
                yaml.safe_dump(test, f)
            with self.subTest(file=name):
                r = self.promtool("test", "rules", "broken-" + name)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn("FAILED", r.stdout + r.stderr)


class CadvisorRecords(unittest.TestCase):
    def test_opt_in(self):
        r = Rendered(sets=["prometheusRule.enabled=true"])
        self.assertEqual([x for x in rules_of(r) if "record" in x], [])
        self.assertNotIn("bpfdiag.cadvisor",
                         [g["name"] for g in r.one("PrometheusRule")["spec"]["groups"]])

    def test_labels(self):
        """The default labels match kube-prometheus-stack's cAdvisor selector; the user's
        replace them, and recorded_by="bpfdiag" is always there."""
        # cAdvisor run as its own DaemonSet and scraped as job="cadvisor"; null drops a
        # default
        mixin = {"prometheusRule": {"cadvisor": {"labels": {"job": "cadvisor",
                                                            "metrics_path": None}}}}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(mixin, f)
            f.flush()
            cases = ((Rendered(sets=ON), {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}),
                     (Rendered([f.name], sets=ON), {"job": "cadvisor"}))
        for rendered, want in cases:
            with self.subTest(want=want):
                rules = [x for x in rules_of(rendered) if "record" in x]
                self.assertEqual({x["record"] for x in rules}, CADVISOR_RECORDS)
                for x in rules:
                    labels = dict(x["labels"])
                    self.assertEqual(labels.pop("recorded_by"), "bpfdiag")
                    if x["record"] == "container_cpu_usage_seconds_total":
                        self.assertEqual(labels.pop("cpu"), "total")
                    self.assertEqual(labels, want)
                    self.assertIn('job="%s-bpfdiag"' % chartlib.RELEASE, x["expr"])
                    self.assertIn('%s{recorded_by=""}' % x["record"], x["expr"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
