"""The encoders checked by real peers on a hand-built snapshot that has what the live agent does
not have yet (histograms, own labels, gauges, label values that need escaping): `promtool check
metrics` on the Prometheus text, the official opentelemetry-proto bindings on the OTLP request,
both renderings agreeing value for value; and docs/METRICS.md naming every catalogue row.
Needs no root and no kernel."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import otlp_receiver as orx  # noqa: E402
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2  # noqa: E402

FIXTURE = os.environ.get("BPFDIAG_FIXTURE_BIN", "build-test/tests/exporter_fixture")
SOURCE = os.environ.get("BPFDIAG_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", ".."))


def fixture(mode):
    r = subprocess.run([FIXTURE, mode], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("exporter_fixture %s: exit %d\n%s" % (mode, r.returncode, r.stderr))
    return r.stdout


def promtool():
    path = shutil.which("promtool")
    if not path:
        raise AssertionError("promtool is missing: tools/deps.sh test installs the Debian "
                             "package prometheus")
    return path


def check_families(test, text):
    """Every sample belongs to a family with HELP and TYPE before it; histograms are whole."""
    helps, types = {}, {}
    for line in text.splitlines():
        m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)$", line)
        if m:
            (helps if m.group(1) == "HELP" else types)[m.group(2)] = m.group(3)
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        family = name
        if name not in types:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            test.assertEqual(types.get(family), "histogram", line)
        test.assertIn(family, helps, "no HELP before " + line)
        test.assertTrue(helps[family], "empty HELP for " + family)
    return types


class Fixtures(unittest.TestCase):
    def test_promtool_clean_with_histograms(self):
        text = fixture("prom").decode()
        r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "", "promtool lint findings")
        types = check_families(self, text)
        self.assertEqual(types["bpfdiag_disk_latency_seconds"], "histogram")
        self.assertEqual(types["bpfdiag_agent_http_render_seconds"], "histogram")

        samples = e2e.parse_prom(text)
        # escaping survives the round trip
        weird = [l for n, l, v in samples if n == "bpfdiag_cpu_seconds_total"
                 and l["workload_kind"] == "Deployment"]
        self.assertEqual(weird[0]["workload"], 'web "quoted" \\ back\nslash')
        # the identity labels: on bpfdiag_container_info only, joined on the series labels
        raw = e2e.parse_prom(text, join=False)
        self.assertEqual([n for n, l, _ in raw if n != "bpfdiag_container_info"
                          and ("pod_uid" in l or "container_id" in l)], [])
        info = [l for n, l, _ in raw if n == "bpfdiag_container_info"]
        self.assertEqual([(l["workload_kind"], l["pod_uid"], l["container_id"]) for l in info],
                         [("Deployment", "6f1c2b1e-0000-4000-8000-000000000001", "c0ffee00")])
        self.assertEqual(weird[0]["container_id"], "c0ffee00")
        # histograms: cumulative buckets ending in +Inf == _count, with a _sum
        for name in ("bpfdiag_cpu_runqueue_latency_seconds", "bpfdiag_disk_latency_seconds"):
            groups = {}
            for n, l, v in samples:
                if n.startswith(name):
                    key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                    groups.setdefault(key, []).append((n, l.get("le"), v))
            self.assertEqual(len(groups), 2 if name.startswith("bpfdiag_cpu") else 4)
            for key, rows in groups.items():
                buckets = [(le, v) for n, le, v in rows if n.endswith("_bucket")]
                self.assertEqual(buckets[-1][0], "+Inf")
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), "buckets not cumulative")
                count = [v for n, _, v in rows if n.endswith("_count")]
                self.assertEqual(count, [counts[-1]])
                self.assertEqual(len([1 for n, _, _ in rows if n.endswith("_sum")]), 1)

    def test_otlp_decodes_with_official_bindings(self):
        raw = fixture("otlp")
        req = metrics_service_pb2.ExportMetricsServiceRequest()
        req.ParseFromString(raw)
        self.assertEqual(req.SerializeToString(), raw, "fields the bindings do not know")
        prom = e2e.parse_prom(fixture("prom").decode())
        res = orx.resources(type("R", (), {"msg": req})())
        self.assertEqual(len(res), 2)
        by_kind = {a["bpfdiag.workload.kind"]: (a, m) for a, m in res}
        attrs, metrics = by_kind["Deployment"]
        self.assertEqual(attrs["k8s.deployment.name"], 'web "quoted" \\ back\nslash')
        self.assertEqual(attrs["k8s.namespace.name"], "shop")
        self.assertEqual(attrs["k8s.pod.name"], "web-7d9f-abcde")
        self.assertEqual(attrs["k8s.pod.uid"], "6f1c2b1e-0000-4000-8000-000000000001")
        self.assertEqual(attrs["k8s.container.name"], "nginx")
        self.assertEqual(attrs["container.id"], "c0ffee00")
        self.assertEqual(attrs["k8s.node.name"], "node-1")
        self.assertEqual(attrs["bpfdiag.helm.release.name"], "web-prod")
        self.assertEqual(attrs["bpfdiag.helm.chart.name"], "web-1.2.3")
        self.assertEqual(attrs["service.name"], "bpfdiag")
        local_attrs, _ = by_kind["SystemdService"]
        self.assertNotIn("k8s.pod.name", local_attrs)
        self.assertNotIn("", local_attrs.values())

        cpu = metrics["container.cpu.time"]
        self.assertEqual(cpu.unit, "s")
        self.assertEqual(cpu.WhichOneof("data"), "sum")
        self.assertTrue(cpu.sum.is_monotonic)
        self.assertEqual(cpu.sum.aggregation_temporality, orx.CUMULATIVE)
        dp = cpu.sum.data_points[0]
        # doubles carry unix nanoseconds to within a few hundred
        self.assertLess(abs(dp.start_time_unix_nano - 1700000050 * 10**9), 1000)
        self.assertLess(abs(dp.time_unix_nano - 1700000100250 * 10**6), 1000)

        disk = metrics["container.disk.io"]
        self.assertEqual(disk.unit, "By")
        got = {}
        for p in disk.sum.data_points:
            a = {kv.key: kv.value.string_value for kv in p.attributes}
            self.assertEqual(p.WhichOneof("value"), "as_int")
            got[(a["disk.io.direction"], a["system.device"])] = p.as_int
        want = {(l["direction"], l["device"]): v for n, l, v in prom
                if n == "bpfdiag_disk_bytes_total" and l["workload_kind"] == "Deployment"}
        self.assertEqual(got, {k: int(v) for k, v in want.items()})

        listen = metrics["bpfdiag.tcp.listening_sockets"]
        self.assertEqual(listen.WhichOneof("data"), "gauge")
        self.assertEqual(listen.unit, "{socket}")

        lat = metrics["bpfdiag.disk.latency"]
        self.assertEqual(lat.WhichOneof("data"), "histogram")
        self.assertEqual(lat.histogram.aggregation_temporality, orx.CUMULATIVE)
        self.assertEqual(len(lat.histogram.data_points), 2)
        for p in lat.histogram.data_points:
            a = {kv.key: kv.value.string_value for kv in p.attributes}
            self.assertEqual(list(p.explicit_bounds),
                             [0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5])
            self.assertEqual(len(p.bucket_counts), len(p.explicit_bounds) + 1)
            self.assertEqual(p.count, sum(p.bucket_counts))
            # the sum is present even when it is zero (the oneof keeps presence)
            self.assertTrue(p.HasField("sum"))
            self.assertEqual(p.sum, 1.5 if a["disk.io.direction"] == "read" else 0.0)
            # the same buckets as the Prometheus rendering, de-cumulated
            cum = [v for n, l, v in prom if n == "bpfdiag_disk_latency_seconds_bucket"
                   and l["workload_kind"] == "Deployment"
                   and l["direction"] == a["disk.io.direction"]]
            per = [int(b - a_) for a_, b in zip([0.0] + cum[:-1], cum)]
            self.assertEqual(per, list(p.bucket_counts))

    def test_catalogue_is_documented(self):
        with open(os.path.join(SOURCE, "docs", "METRICS.md")) as f:
            doc = f.read()
        rows = [l.split("\t") for l in fixture("catalogue").decode().splitlines()]
        self.assertGreater(len(rows), 0)
        for row in rows:
            name, kind, otlp_name, unit = row[:4]
            self.assertRegex(name, r"^bpfdiag_[a-z0-9_]+$")
            if kind == "counter":
                self.assertTrue(name.endswith("_total"), name)
            self.assertTrue(otlp_name and unit, name)
            self.assertIn("`%s`" % name, doc, "docs/METRICS.md lacks " + name)
            self.assertIn("`%s`" % otlp_name, doc, "docs/METRICS.md lacks " + otlp_name)
            for own in row[4:]:
                prom_label, otlp_attr = own.split("=")
                self.assertIn("`%s`" % prom_label, doc)
                self.assertIn("`%s`" % otlp_attr, doc)

    def test_random_bytes_in_every_string_stay_readable(self):
        """Property: whatever bytes a cgroup, pod, volume or finding string holds (invalid
        UTF-8, quotes, backslashes, control characters), promtool, a strict JSON parser and the
        official OTLP bindings accept every output of the agent's encoders."""
        n = 40
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([FIXTURE, "hostile", str(n), d], capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            replaced = 0
            for i in range(n):
                base = os.path.join(d, str(i))
                with open(base + ".prom", "rb") as f:
                    text = f.read()
                p = subprocess.run([promtool(), "check", "metrics"], input=text,
                                   capture_output=True, timeout=60)
                self.assertEqual(p.returncode, 0, "%d.prom: %s" % (i, p.stdout + p.stderr))
                replaced += text.decode("utf-8").count("\ufffd")
                for ext in ("pods.json", "findings.json"):
                    with open("%s.%s" % (base, ext), "rb") as f:
                        json.loads(f.read().decode("utf-8"))  # strict: raises on bad UTF-8
                req = metrics_service_pb2.ExportMetricsServiceRequest()
                with open(base + ".otlp", "rb") as f:
                    req.ParseFromString(f.read())  # proto3 strings: raises on bad UTF-8
                self.assertEqual(len(req.resource_metrics), 2)
            self.assertGreater(replaced, 0, "the inputs held no invalid UTF-8")


if __name__ == "__main__":
    unittest.main(verbosity=2)
