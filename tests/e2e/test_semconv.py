"""Semantic-conventions audit: every OTLP metric name, unit, data-point attribute and resource
attribute bpfdiag exports is either a convention listed in tests/fixtures/semconv.tsv (with the
convention's unit and well-known values) or carries the bpfdiag. prefix. Checked on the metric
catalogue (every row), on the names the OTLP encoder's source can emit, and on a request the
encoder really produced, decoded by the official bindings. Needs no root and no kernel."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import otlp_receiver as orx  # noqa: E402
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2  # noqa: E402
from test_exporter_fixtures import SOURCE, fixture  # noqa: E402

PREFIX = "bpfdiag."
TABLE = os.path.join(SOURCE, "tests", "fixtures", "semconv.tsv")
# The sources whose string literals are OTLP names (the catalogue and the encoder).
ENCODER_SOURCES = ("agent/model/metrics.c", "exporters/codec/otlp.c")


def semconv():
    """{(kind, name): (unit or type, set of well-known values or None, version)}"""
    table = {}
    with open(TABLE) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            kind, name, unit, values, version, model = line.rstrip("\n").split("\t")
            assert kind in ("metric", "attribute"), line
            # a release tag, or main at a date for names merged after the last release we
            # checked (their pull request named in the model column)
            assert re.fullmatch(r"v\d+\.\d+\.\d+|main@\d{4}-\d{2}-\d{2}", version), line
            assert model.startswith("model/"), line
            table[(kind, name)] = (unit, None if values == "-" else set(values.split(",")),
                                   version)
    return table


class Semconv(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.table = semconv()

    def assert_metric(self, name, unit):
        if name.startswith(PREFIX):
            return
        self.assertTrue(("metric", name) in self.table,
                      "%s is not a semantic convention in %s: use the bpfdiag. prefix"
                      % (name, TABLE))
        self.assertEqual(unit, self.table[("metric", name)][0], "unit of " + name)

    def assert_attr(self, key, value=None):
        if key.startswith(PREFIX):
            return
        self.assertTrue(("attribute", key) in self.table,
                      "%s is not a semantic convention in %s: use the bpfdiag. prefix"
                      % (key, TABLE))
        values = self.table[("attribute", key)][1]
        if value is not None and values is not None:
            self.assertIn(value, values, "value of " + key)

    def test_table_is_not_a_blank_cheque(self):
        """Names that look like conventions but are not must never enter the table."""
        for kind, name in (("metric", "container.disk.operations"),
                           ("attribute", "helm.release.name"),
                           ("attribute", "helm.chart.name")):
            self.assertNotIn((kind, name), self.table)
        # one release checked, and main only for the names #3862 renamed after it
        self.assertEqual({v for _, _, v in self.table.values()}, {"v1.38.0", "main@2026-07-08"})

    def test_catalogue(self):
        rows = [l.split("\t") for l in fixture("catalogue").decode().splitlines()]
        self.assertGreater(len(rows), 10)
        for row in rows:
            self.assert_metric(row[2], row[3])
            for own in row[4:]:
                self.assert_attr(own.split("=")[1])

    def test_encoder_source_names(self):
        """Every dotted name literal of the catalogue and the encoder, including the resource
        attributes of kinds or labels the fixture request does not carry."""
        names = set()
        for rel in ENCODER_SOURCES:
            with open(os.path.join(SOURCE, rel)) as f:
                names |= set(re.findall(r'"([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)"', f.read()))
        self.assertIn("k8s.pod.uid", names)
        metrics = {n for (k, n) in self.table if k == "metric"}
        for name in sorted(names):
            if name in metrics:
                continue
            self.assert_attr(name)

    def test_encoded_request(self):
        raw = fixture("otlp")
        req = metrics_service_pb2.ExportMetricsServiceRequest()
        req.ParseFromString(raw)
        res = orx.resources(type("R", (), {"msg": req})())
        self.assertGreater(len(res), 0)
        seen = set()
        for attrs, metrics in res:
            for key, value in attrs.items():
                self.assert_attr(key, value)
                seen.add(key)
            for name, m in metrics.items():
                self.assert_metric(name, m.unit)
                data = getattr(m, m.WhichOneof("data"))
                for p in data.data_points:
                    for kv in p.attributes:
                        self.assert_attr(kv.key, kv.value.string_value)
                        seen.add(kv.key)
        # the fixture exercises the attributes with well-known values and the pod's uid
        self.assertTrue({"disk.io.direction", "k8s.pod.uid", "bpfdiag.helm.release.name"} <= seen,
                        seen)


if __name__ == "__main__":
    unittest.main()
