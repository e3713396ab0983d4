"""OTLP export to a real OpenTelemetry Collector (built by the OpenTelemetry Collector Builder:
tools/install-go-tool.sh otelcol) whose prometheus exporter a real Prometheus scrapes.

The agent watches a fake Kubernetes API with one Helm-released Deployment pod doing CPU, file,
disk and TCP work. Through the Collector, every series of that pod's container arrives in
Prometheus under the name the OpenTelemetry-to-Prometheus translation gives the OTLP name and
unit of docs/METRICS.md, with the resource attributes of the series labels table as labels, and
with the value the agent's own /metrics shows at the same moment (within 1 %). The Collector's
debug exporter counts exactly the data points the agent counts as accepted.

Also: gzip and uncompressed requests both accepted; a 503 with Retry-After waited out with
nothing lost (the Collector's receiver sets Retry-After only for pipeline errors carrying gRPC
RetryInfo, which none of its stock components produce, so a small proxy in front of it answers
the 503); a Collector restart costs one warning and one recovery line, and the counters in
Prometheus continue without a reset."""
import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "chart"))
import bpfdiag_e2e as e2e  # noqa: E402
import chartlib  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from test_prometheus import Prometheus  # noqa: E402

METRICS_MD = os.path.join(HERE, "..", "..", "docs", "METRICS.md")
NS, RELEASE, WORKLOAD, POD = "shop", "shop", "web", "web-7c9d8f6b5-aaaaa"
TOLERANCE = 0.01
# OTel unit → Prometheus suffix (the translation's table, for the units METRICS.md uses).
UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": ""}

# CPU for about a second, 4 MiB written and fsynced, 1 MiB both ways over loopback TCP.
WORK = textwrap.dedent("""
    import os, socket, sys, threading, time
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    path = os.path.join(sys.argv[1], "data")
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(b"x" * 65536)
        f.flush()
        os.fsync(f.fileno())
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    def serve():
        c, _ = lst.accept()
        n = 0
        while n < 1 << 20:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        c.sendall(b"r" * n)
        c.close()
    t = threading.Thread(target=serve)
    t.start()
    with socket.create_connection(lst.getsockname()) as c:
        c.sendall(b"q" * (1 << 20))
        got = 0
        while got < 1 << 20:
            got += len(c.recv(65536))
    t.join()
""")


def catalogue():
    """From docs/METRICS.md: {series label: resource attribute} and, per container metric,
    (Prometheus name, type, OTLP name, OTLP unit, {own label: attribute})."""
    series, metrics = {}, []
    for section, cells in chartlib.markdown_rows(METRICS_MD):
        ticks = [re.findall(r"`([^`]+)`", c) for c in cells]
        if section in ("series labels", "container identity") and len(ticks) > 1 and \
                ticks[0] and ticks[1]:
            series[ticks[0][0]] = ticks[1][0]
        elif section == "container metrics" and len(cells) >= 5 and ticks[0] and \
                ticks[0][0].startswith("bpfdiag_"):  # not the bucket and volume tables
            m = re.match(r"`([^`]+)` \(([^)]*)\)", cells[2])
            # "OTLP only: `x` → `attr`": attributes /metrics has no label for
            shown = re.findall(r"`([^`]+)`", cells[3].split("OTLP only:")[0])
            own = dict(zip(shown[0::2], shown[1::2]))
            if cells[3] == "same":
                own = metrics[-1][4]
            metrics.append((ticks[0][0], cells[1].split()[0], m.group(1), m.group(2), own))
    return series, metrics


def prometheus_name(otlp_name, unit, mtype):
    """The name the Collector's prometheus exporter gives an OTLP metric (the OTel
    specification's translation with suffixes): tokens joined by "_", the unit's word appended
    unless already there (annotations in braces have none), "total" last for counters."""
    tokens = [t for t in re.split(r"[^a-zA-Z0-9:]+", otlp_name) if t]
    suffix = "" if unit.startswith("{") else UNITS[unit]
    if suffix and suffix not in tokens:
        tokens.append(suffix)
    if mtype == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    return "_".join(tokens)


def label_name(attr):
    return re.sub(r"[^a-zA-Z0-9_]", "_", attr)


class Collector:
    """The Collector on loopback: OTLP/HTTP in; out to a Prometheus exporter (resource
    attributes as labels, OpenMetrics) and the debug exporter (one log line per
    batch, with its data point count). Restartable on the same ports."""

    def __init__(self, binary, tmp):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="otelcol-", dir=tmp)
        self.config = os.path.join(self.dir, "config.yaml")
        self.choose_ports()
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "a+")
        self.proc = None
        self.starts = self.rebinds = 0

    def choose_ports(self):
        """Free ports for its receiver and its exporter, in its config."""
        self.otlp_port = fk.free_port()
        self.prom_port = fk.free_port()
        with open(self.config, "w") as f:
            json.dump({  # JSON is YAML
                "receivers": {"otlp": {"protocols": {"http": {
                    "endpoint": "127.0.0.1:%d" % self.otlp_port}}}},
                "exporters": {
                    "prometheus": {"endpoint": "127.0.0.1:%d" % self.prom_port,
                                   "resource_constant_labels": {"included": ["*"]},
                                   "enable_open_metrics": True},
                    "debug": {"verbosity": "basic"}},
                "service": {"telemetry": {"metrics": {"level": "none"}},
                            "pipelines": {"metrics": {"receivers": ["otlp"],
                                                      "exporters": ["prometheus", "debug"]}}},
            }, f)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.otlp_port

    def start(self):
        mark = len(self.logs())
        self.proc = subprocess.Popen([self.binary, "--config", "file:" + self.config],
                                     stdout=self.log, stderr=self.log)
        self.starts += 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                # free_port() is free when asked, not when the Collector binds it: another
                # process may take it meanwhile. At the first start (no agent has its URL
                # yet), try other ports; a restart must keep its ports.
                if self.starts == 1 and "address already in use" in self.logs()[mark:] and \
                        self.rebinds < 3:
                    self.rebinds += 1
                    self.choose_ports()
                    self.starts = 0
                    return self.start()
                raise AssertionError("otelcol exited %d:\n%s" % (self.proc.returncode,
                                                                 self.logs()))
            if "Everything is ready" in self.logs()[mark:]:
                return self
            time.sleep(0.1)
        raise AssertionError("otelcol not ready:\n" + self.logs())

    def stop(self):
        e2e.terminate(self.proc)

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def debug_data_points(self):
        """Data points the debug exporter logged, over every run."""
        return sum(int(n) for n in re.findall(r'"data points": (\d+)', self.logs()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print("--- otelcol log (tail) ---\n" + self.logs()[-4000:], file=sys.stderr)
        self.log.close()
        return False


class Proxy:
    """Between the agent and the Collector: passes each request on and records it (arrival
    time, Content-Encoding, body size, decoded size, the status sent back); answers the next
    `fail` requests itself with 503 and Retry-After."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.requests = []
        self.fail = []  # [Retry-After value] for the next requests
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                enc = self.headers.get("Content-Encoding")
                plain = gzip.decompress(body) if enc == "gzip" else body
                rec = {"time": time.monotonic(), "encoding": enc, "size": len(body),
                       "plain": len(plain)}
                with outer.lock:
                    fault = outer.fail.pop(0) if outer.fail else None
                if fault is not None:
                    status, headers, reply = 503, {"Retry-After": fault}, b""
                else:
                    status, headers, reply = outer.forward(self.path, self.headers, body)
                rec["status"] = status
                with outer.lock:
                    outer.requests.append(rec)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def forward(self, path, headers, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=10)
        try:
            fwd = {k: headers[k] for k in ("Content-Type", "Content-Encoding") if headers[k]}
            conn.request("POST", path, body=body, headers=fwd)
            r = conn.getresponse()
            return r.status, {"Content-Type": r.getheader("Content-Type", "")}, r.read()
        except OSError:
            return 502, {}, b""
        finally:
            conn.close()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False


def scrape_config(col):
    # honor_labels: job and instance are the exporter's (service.name, service.instance.id)
    return {"job_name": "otelcol", "honor_labels": True,
            "static_configs": [{"targets": ["127.0.0.1:%d" % col.prom_port]}]}


class CollectorExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = chartlib.go_tool("otelcol")
        cls.series_attrs, cls.metrics = catalogue()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bpfdiag-otelcol-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def setup(self, col_url=None, env=None):
        """The fake API with the test's pod, the Collector, the proxy in front of it, a
        Prometheus scraping the Collector, and the agent exporting every second to
        col_url(collector, proxy) (default: the proxy)."""
        with fk.FakeKubeApi(node=ke.NODE) as api, e2e.FakePod() as pod, \
                Collector(self.binary, self.tmp) as col, Proxy(col.otlp_port) as px, \
                Prometheus(self.tmp, scrape_config(col)) as prom:
            labels, ann = fk.helm_meta(RELEASE, NS, "web-1.0.0")
            api.put_object("/apis/apps/v1/namespaces/%s/deployments/%s" % (NS, WORKLOAD),
                           fk.deployment(WORKLOAD, NS, labels=labels, annotations=ann))
            rs = fk.owner_ref("ReplicaSet", "web-7c9d8f6b5", "apps/v1")
            api.add_pod(fk.pod(POD, NS, pod.uid, [("app", pod.container_id)], owner=rs,
                               labels={"app": WORKLOAD, "pod-template-hash": "7c9d8f6b5"}))
            url = (col_url or (lambda c, p: p.url))(col, px)
            saved = dict(os.environ)
            os.environ.update(env or {})
            try:
                agent = ke.KubeAgent(api, "--otlp-endpoint", url, "--otlp-interval", "1")
            finally:
                os.environ.clear()
                os.environ.update(saved)
            with agent:
                yield agent, pod, col, px, prom

    def work(self, pod, during=None):
        """Runs WORK in the pod's container to its end; during() runs while it works."""
        d = tempfile.mkdtemp(dir=self.tmp)
        p = pod.run([sys.executable, "-c", WORK, d])
        if during:
            during()
        self.assertEqual(p.wait(timeout=60), 0)

    def cpu(self, prom, pod):
        res = prom.query('container_cpu_time_seconds_total{container_id="%s"}'
                         % pod.container_id)
        return float(res[0]["value"][1]) if res else None

    def settle(self, agent, prom, pod, timeout=30):
        """Once the pod is idle: waits until the agent's CPU total has stopped moving and
        Prometheus has scraped a Collector that received it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            now = agent.value("bpfdiag_cpu_seconds_total", container_id=pod.container_id)
            if now is not None and now == last:
                break
            last = now
            time.sleep(1.5)
        while time.monotonic() < deadline:
            got = self.cpu(prom, pod)
            if got is not None and abs(got - last) <= TOLERANCE * last:
                return last
            time.sleep(0.5)
        raise AssertionError("the pod's CPU never reached Prometheus: agent %r, Prometheus %r"
                             % (last, self.cpu(prom, pod)))

    def expected(self, agent_samples, container_id):
        """{(Prometheus name via the Collector, frozen labels): value} of one container from
        the agent's own /metrics, translated by the catalogue."""
        out = {}
        for prom_name, mtype, otlp, unit, own in self.metrics:
            name = prometheus_name(otlp, unit, mtype)
            for n, labels, v in agent_samples:
                if labels.get("container_id") != container_id:
                    continue
                if mtype == "histogram":
                    if n not in (prom_name + "_sum", prom_name + "_count"):
                        continue
                    key_name = name + n[len(prom_name):]
                elif n == prom_name:
                    key_name = name
                else:
                    continue
                attrs = {label_name(own[k]): x for k, x in labels.items() if k in own and x}
                out[(key_name, frozenset(attrs.items()))] = v
        return out

    def test_series_names_units_attributes_values(self):
        env = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e"}
        with self.setup(env=env) as (agent, pod, col, px, prom):
            def moving():
                """While the CPU counter climbs, Prometheus' value trails the agent's by the
                export interval plus the scrape interval: printed, not held to 1 %."""
                time.sleep(0.6)  # into the CPU burn
                mine = agent.value("bpfdiag_cpu_seconds_total", container_id=pod.container_id)
                theirs = self.cpu(prom, pod) or 0.0
                print("while the CPU counter climbs: agent %.3f s, via the Collector %.3f s"
                      % (mine, theirs))
            self.work(pod, during=moving)
            self.settle(agent, prom, pod)
            # the same moment: the agent's /metrics and Prometheus' newest samples
            mine = agent.metrics()
            theirs = prom.query('{container_id="%s"}' % pod.container_id)
            points_agent = agent.value("bpfdiag_agent_otlp_data_points_total")
            want = self.expected(mine, pod.container_id)
            got, series_labels = {}, []
            for r in theirs:
                labels = dict(r["metric"])
                name = labels.pop("__name__")
                series_labels.append(labels)
                own = {k: v for k, v in labels.items() if k in
                       {label_name(a) for _, _, _, _, o in self.metrics for a in o.values()}}
                got[(name, frozenset(own.items()))] = float(r["value"][1])
            self.assertGreaterEqual(len(want), 10)
            missing = sorted(set(want) - set(got))
            self.assertEqual(missing, [], "series not arriving through the Collector")
            worst = 0.0
            for key, v in want.items():
                diff = abs(got[key] - v)
                rel = diff / v if v else diff
                worst = max(worst, rel)
                self.assertLessEqual(rel, TOLERANCE, "%s: agent %r, via Collector %r"
                                     % (key, v, got[key]))
            print("%d series of the pod compared; largest relative difference %.3g %%"
                  % (len(want), 100 * worst))
            cpu_key = ("container_cpu_time_seconds_total", frozenset())
            self.assertGreater(want[cpu_key], 0.5)

            # resource attributes: the series labels of /metrics, under the attribute names
            row = [l for n, l, _ in mine if n == "bpfdiag_cpu_seconds_total" and
                   l.get("container_id") == pod.container_id][0]
            self.assertEqual((row["namespace"], row["pod"], row["workload"]), (NS, POD, WORKLOAD))
            for labels in series_labels:
                for label, attr in self.series_attrs.items():
                    if row.get(label):
                        self.assertEqual(labels.get(label_name(attr)), row[label],
                                         (label, attr, labels))
                self.assertEqual(labels["k8s_deployment_name"], WORKLOAD)
                self.assertEqual(labels["k8s_node_name"], ke.NODE)
                self.assertEqual(labels["deployment_environment"], "e2e")
                self.assertEqual(labels["job"], "bpfdiag")  # service.name

            # Units: the exporter writes no # UNIT line, but each name's suffix (seconds, bytes,
            # none for {annotations}) comes from the unit that arrived, and every expected name
            # is there. Types and descriptions reach Prometheus' metadata (an OpenMetrics
            # counter's family has no _total).
            with urllib.request.urlopen(prom.url("/api/v1/metadata")) as r:
                meta = json.load(r)["data"]
            cpu = meta.get("container_cpu_time_seconds") or \
                meta.get("container_cpu_time_seconds_total")
            self.assertTrue(cpu, sorted(meta))
            self.assertEqual(cpu[0]["type"], "counter")
            self.assertIn("CPU time", cpu[0]["help"])

            # the debug exporter saw every data point the agent counts as accepted
            deadline = time.monotonic() + 10
            while col.debug_data_points() != points_agent and time.monotonic() < deadline:
                time.sleep(0.2)
                now = agent.value("bpfdiag_agent_otlp_data_points_total")
                if now != points_agent:
                    points_agent = now
            self.assertEqual(col.debug_data_points(), points_agent)
            reqs = px.snapshot()
            self.assertGreaterEqual(len(reqs), 3)
            self.assertEqual({r["status"] for r in reqs}, {200})
            self.assertEqual({r["encoding"] for r in reqs}, {"gzip"})
            self.assertLess(sum(r["size"] for r in reqs), sum(r["plain"] for r in reqs) / 2)
            self.assertEqual(agent.value("bpfdiag_agent_otlp_exports_total",
                                         result="retryable_error"), 0)

    def test_uncompressed(self):
        with self.setup(env={"OTEL_EXPORTER_OTLP_COMPRESSION": "none"}) as (
                agent, pod, col, px, prom):
            self.work(pod)
            self.settle(agent, prom, pod)
            reqs = px.snapshot()
            self.assertEqual({r["encoding"] for r in reqs}, {None})
            self.assertEqual({r["status"] for r in reqs}, {200})
            self.assertTrue(all(r["size"] == r["plain"] for r in reqs))

    def test_503_with_retry_after(self):
        with self.setup() as (agent, pod, col, px, prom):
            ke.wait_for(lambda: len(px.snapshot()) >= 2, what="two exports")
            px.fail.append("2")
            self.work(pod)
            before = len(px.snapshot())
            ke.wait_for(lambda: len(px.snapshot()) >= before + 3, timeout=20,
                        what="exports after the 503")
            reqs = px.snapshot()
            i = [r["status"] for r in reqs].index(503)
            gap = reqs[i + 1]["time"] - reqs[i]["time"]
            # Retry-After: 2 is waited out, not the 1 s interval or a shorter backoff
            self.assertGreaterEqual(gap, 1.9, gap)
            self.assertLess(gap, 3.5, gap)
            self.assertEqual(reqs[i + 1]["status"], 200)
            got = self.settle(agent, prom, pod)  # nothing lost: the totals arrive whole
            self.assertGreater(got, 0.5)
            self.assertEqual(agent.value("bpfdiag_agent_otlp_exports_total",
                                         result="retryable_error"), 1)
            warns = [l for l in agent.logs().splitlines() if " otlp: " in l and
                     re.search(r"Z warn\s", l)]
            self.assertEqual(len(warns), 1, warns)
            self.assertIn("HTTP 503", warns[0])

    def test_collector_restart(self):
        with self.setup(col_url=lambda c, p: c.url) as (agent, pod, col, px, prom):
            self.work(pod)
            before = self.settle(agent, prom, pod)
            col.stop()
            ke.wait_for(lambda: agent.value("bpfdiag_agent_otlp_exports_total",
                                            result="retryable_error"), timeout=20,
                        what="failed exports while the Collector is down")
            self.work(pod)  # the counters move while nothing receives them
            col.start()
            after = self.settle(agent, prom, pod, timeout=60)
            self.assertGreater(after, before + 0.5)
            # cumulative totals with their start time: the series continues, no reset
            res = prom.query('resets(container_cpu_time_seconds_total{container_id="%s"}[5m])'
                             % pod.container_id)
            self.assertEqual(float(res[0]["value"][1]), 0.0)
            lines = [l for l in agent.logs().splitlines() if " otlp: " in l]
            warns = [l for l in lines if re.search(r"Z warn\s", l)]
            self.assertEqual(len(warns), 1, warns)
            self.assertRegex(warns[0], r"(?i)connect")
            self.assertEqual(len([l for l in lines if "recovered" in l]), 1, lines)
            self.assertEqual(col.starts, 2)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
