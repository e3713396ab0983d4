"""The Prometheus endpoint against real peers: `promtool check metrics` on a full scrape with a
busy fake pod, a real Prometheus server scraping the agent over HTTPS with a bearer token and
answering PromQL for that pod; gzip; TLS and token access rules, token rotation; bad TLS input;
a scrape storm and oversized or unexpected requests."""
import concurrent.futures
import gzip
import http.client
import json
import math
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
from test_exporter_fixtures import check_families, promtool  # noqa: E402

BURN = ("import time\n"
        "end = time.time() + %f\n"
        "while time.time() < end:\n"
        "    t = time.time() + 0.02\n"
        "    while time.time() < t: pass\n"
        "    time.sleep(0.03)\n")


def run(*args, timeout=30):
    return subprocess.run([e2e.BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(d, name="agent"):
    """A self-signed certificate for 127.0.0.1 (EC P-256: quick to make)."""
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                        key, "-out", cert], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl: " + r.stderr)
    return cert, key


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def raw_get(agent, path, headers=None):
    """(status, headers, body bytes) without urllib's decoding."""
    c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def without_http_selfmetrics(text):
    """The exposition minus the lines that count the requests themselves."""
    return [l for l in text.splitlines() if "bpfdiag_agent_http_" not in l
            and "bpfdiag_agent_auth_" not in l]


PROTO_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


class Prometheus:
    """A real Prometheus server on loopback, scraping every second, storage in a temp dir."""

    def __init__(self, tmp, scrape_config, flags=()):
        self.flags = list(flags)
        self.dir = tempfile.mkdtemp(prefix="prom-", dir=tmp)
        self.port = free_port()
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            json.dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                                  "evaluation_interval": "1s"},
                       "scrape_configs": [scrape_config]}, f)  # JSON is YAML
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = None

    def __enter__(self):
        binary = shutil.which("prometheus")
        if not binary:
            raise AssertionError("prometheus is missing: tools/deps.sh test installs it")
        # free_port() is free when asked, not when Prometheus binds it: another process may
        # take it meanwhile (any outgoing connection draws from the same ephemeral range).
        # Then Prometheus exits at once saying so, and starts again on another port.
        for attempt in range(3):
            self.proc = subprocess.Popen(
                [binary, "--config.file=" + self.config,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"] +
                self.flags, stdout=self.log, stderr=self.log)
            if self._wait_ready():
                return self
            self.port = free_port()
        raise AssertionError("prometheus exited:\n" + self.logs())

    def _wait_ready(self):
        """True once ready; False when it exited because its port was taken."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.logs():
                    return False
                raise AssertionError("prometheus exited:\n" + self.logs())
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("prometheus not ready:\n" + self.logs())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def query(self, q):
        with urllib.request.urlopen(self.url("/api/v1/query?" + urllib.parse.urlencode(
                {"query": q})), timeout=10) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def wait_query(self, q, timeout=40):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.query(q)
            if res:
                return res
            time.sleep(0.5)
        raise AssertionError("no result for %s\n%s" % (q, self.logs()))

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if exc[0] is not None:
            print("--- prometheus log ---\n" + self.logs(), file=sys.stderr)
        self.log.close()
        return False


class PrometheusEndpoint(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bpfdiag-prom-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_promtool_clean_full_scrape(self):
        with e2e.FakePod() as pod, e2e.Agent("--interval", "0.3", "--pin-dir", "none") as agent:
            p = pod.run([sys.executable, "-c", BURN % 1.0])
            self.assertEqual(p.wait(timeout=60), 0)
            agent.wait_collections(2)
            status, text = agent.get("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(agent.proc.returncode, 0)
        samples = e2e.parse_prom(text)
        self.assertGreater(e2e.metric_value(samples, "bpfdiag_cpu_seconds_total",
                                            container_id=pod.container_id), 0.1)
        # the identity labels are on the info series only; every sample has one label set
        raw = e2e.parse_prom(text, join=False)
        self.assertEqual([l for n, l, _ in raw if n != "bpfdiag_container_info" and
                          ("pod_uid" in l or "container_id" in l)], [])
        info = [l for n, l, _ in raw if n == "bpfdiag_container_info"
                and l["container_id"] == pod.container_id]
        self.assertEqual(len(info), 1, info)
        self.assertEqual((info[0]["pod_uid"], info[0]["workload"]), (pod.uid, pod.container_id))
        keys = [(n, tuple(sorted(l.items()))) for n, l, _ in raw]
        self.assertEqual(len(keys), len(set(keys)), "a label set repeated")
        types = check_families(self, text)
        self.assertIn("histogram", types.values())  # the render-time histogram, live
        r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "", "promtool lint findings")

    def test_gzip(self):
        # One collection only (interval 1 h), so every scrape renders the same snapshot.
        with e2e.Agent("--interval", "3600", "--pin-dir", "none") as agent:
            st, h, plain = raw_get(agent, "/metrics")
            self.assertEqual(st, 200)
            self.assertNotIn("Content-Encoding", h)
            self.assertEqual(h.get("Vary"), "Accept, Accept-Encoding")  # text or protobuf
            # streamed as rendered (issue 19): chunked, no length known up front
            self.assertEqual(h.get("Transfer-Encoding"), "chunked")
            self.assertNotIn("Content-Length", h)
            print("/metrics: %d bytes" % len(plain))
            st, h, body = raw_get(agent, "/metrics", {"Accept-Encoding": "br;q=1, gzip;q=0.5"})
            self.assertEqual(st, 200)
            self.assertEqual(h.get("Content-Encoding"), "gzip")
            self.assertEqual(h.get("Transfer-Encoding"), "chunked")
            self.assertEqual(h.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
            self.assertLess(len(body), len(plain))
            self.assertEqual(without_http_selfmetrics(gzip.decompress(body).decode()),
                             without_http_selfmetrics(plain.decode()))
            st, h, body = raw_get(agent, "/metrics", {"Accept-Encoding": "gzip;q=0"})
            self.assertNotIn("Content-Encoding", h)
            self.assertTrue(body.startswith(b"# HELP"))
            self.assertGreaterEqual(e2e.metric_value(agent.metrics(),
                                                     "bpfdiag_agent_http_gzip_responses_total"),
                                    1)
        self.assertEqual(agent.proc.returncode, 0)

    def test_native_histograms_over_protobuf(self):
        """Prometheus with native histograms asks for the protobuf format and gets the run-queue
        histogram as a native one (schema 0): histogram_quantile over it answers a sane wait.
        Without the Accept header the text is the classic exposition, unchanged."""
        with e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            # two burners per CPU in the pod: its tasks wait in the run queue
            n = 2 * len(os.sched_getaffinity(0))
            burners = [pod.run([sys.executable, "-c", BURN % 60]) for _ in range(n)]
            try:
                scrape = {"job_name": "bpfdiag",
                          "static_configs": [{"targets": ["127.0.0.1:%d" % agent.port]}]}
                with Prometheus(self.tmp, scrape,
                                ["--enable-feature=native-histograms"]) as prom:
                    # local mode: the pod's series has its container id as workload
                    sel = ('bpfdiag_cpu_runqueue_latency_seconds{workload="%s"}'
                           % pod.container_id)
                    # a native histogram has no _bucket series: the family name selects it
                    res = prom.wait_query('histogram_count(%s) > 0' % sel)
                    self.assertEqual(len(res), 1, res)
                    # rate() over 3 s needs two scrapes in it: with the burners holding both
                    # CPUs, scrapes (every second) may come late, so wait for a value (NaN
                    # until then) rather than a fixed 4 s.
                    deadline = time.monotonic() + 40
                    while True:
                        q = prom.query('histogram_quantile(0.99, rate(%s[3s]))' % sel)
                        p99 = float(q[0]["value"][1]) if q else float("nan")
                        if not math.isnan(p99) or time.monotonic() > deadline:
                            break
                        time.sleep(0.5)
                    print("Prometheus native histogram: run-queue p99 %.3g ms over 3 s" %
                          (p99 * 1e3))
                    self.assertTrue(1e-6 < p99 < 1.0, q)
                    self.assertEqual(prom.query(
                        'count(bpfdiag_cpu_runqueue_latency_seconds_bucket)'), [])
                    # the agent's own counters arrived over protobuf too
                    self.assertTrue(prom.query('bpfdiag_agent_collections_total > 0'))
                    self.assertTrue(prom.query('bpfdiag_container_info{container_id="%s"}'
                                               % pod.container_id))
            finally:
                for b in burners:
                    b.kill()
                    b.wait()
            st, h, body = raw_get(agent, "/metrics")
            self.assertEqual(h.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
            self.assertIn(b"bpfdiag_cpu_runqueue_latency_seconds_bucket{", body)
            st, h, body = raw_get(agent, "/metrics", {"Accept": PROTO_ACCEPT})
            self.assertEqual(st, 200)
            self.assertEqual(h.get("Content-Type"), "application/vnd.google.protobuf; "
                             "proto=io.prometheus.client.MetricFamily; encoding=delimited")
            self.assertEqual(h.get("Vary"), "Accept, Accept-Encoding")
            self.assertLess(len(body), len(raw_get(agent, "/metrics")[2]))
            # streamed like the text, and gzip-compressed as it goes when asked (Prometheus
            # asks): the first message is the first family of the catalogue
            st, h, gz = raw_get(agent, "/metrics", {"Accept": PROTO_ACCEPT,
                                                    "Accept-Encoding": "gzip"})
            self.assertEqual(h.get("Content-Encoding"), "gzip")
            plain = gzip.decompress(gz)
            self.assertIn(b"\n\x19bpfdiag_cpu_seconds_total", plain[:40])
            self.assertIn(b"bpfdiag_agent_collections_total", plain)
        self.assertEqual(agent.proc.returncode, 0)

    def test_tls_and_token(self):
        cert, key = make_cert(self.tmp)
        token = os.path.join(self.tmp, "token")
        write_atomic(token, "first-secret\n")
        with e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--tls-cert", cert,
                       "--tls-key", key, "--auth-token-file", token, ca_file=cert,
                       token="first-secret") as agent:
            # the probes stay open; everything else needs the token
            self.assertEqual(agent.get("/healthz", token=False), (200, "ok\n"))
            self.assertEqual(agent.get("/readyz", token=False)[0], 200)
            for path in ("/metrics", "/api/v1/pods", "/api/v1/findings", "/api/v1/nope"):
                self.assertEqual(agent.get(path, token=False)[0], 401, path)
                self.assertEqual(agent.get(path, token="wrong")[0], 401, path)
                self.assertEqual(agent.get(path, token="first-secre")[0], 401, path)
            req = urllib.request.Request(agent.url("/metrics"))
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(req, timeout=10, context=agent.ssl)
            self.assertEqual(cm.exception.headers.get("WWW-Authenticate"),
                             'Bearer realm="bpfdiag"')
            self.assertEqual(agent.get("/metrics")[0], 200)
            self.assertEqual(agent.get("/api/v1/pods")[0], 200)
            self.assertEqual(agent.get("/api/v1/nope")[0], 404)
            # plain HTTP to the HTTPS port gets no answer
            with self.assertRaises((OSError, http.client.HTTPException)):
                raw_get(agent, "/healthz")
            # without trusting the certificate, no connection
            with self.assertRaises(urllib.error.URLError):
                urllib.request.urlopen(agent.url("/healthz"), timeout=10,
                                       context=ssl.create_default_context())

            # rotation: the new token works at once, the old one stops working
            write_atomic(token, "second-secret\n")
            self.assertEqual(agent.get("/metrics", token="first-secret")[0], 401)
            status, text = agent.get("/metrics", token="second-secret")
            self.assertEqual(status, 200)
            self.assertEqual(e2e.metric_value(e2e.parse_prom(text),
                                              "bpfdiag_agent_auth_token_reloads_total",
                                              result="success"), 1)
            # a broken new file keeps the last good token, and says so once
            write_atomic(token, "\n")
            for _ in range(3):
                self.assertEqual(agent.get("/metrics", token="second-secret")[0], 200)
            lines = [l for l in agent.logs().splitlines() if "previous token" in l]
            self.assertEqual(len(lines), 1, lines)
            text = agent.get("/metrics", token="second-secret")[1]
            self.assertEqual(e2e.metric_value(e2e.parse_prom(text),
                                              "bpfdiag_agent_auth_token_reloads_total",
                                              result="error"), 1)
        self.assertEqual(agent.proc.returncode, 0)

    def test_prometheus_server_scrapes_over_tls_with_token(self):
        cert, key = make_cert(self.tmp)
        token = os.path.join(self.tmp, "token")
        write_atomic(token, "scrape-secret\n")
        with e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--tls-cert", cert,
                          "--tls-key", key, "--auth-token-file", token, ca_file=cert,
                          token="scrape-secret") as agent:
            burner = pod.run([sys.executable, "-c", BURN % 60])
            try:
                scrape = {"job_name": "bpfdiag", "scheme": "https",
                          "tls_config": {"ca_file": cert},
                          "authorization": {"type": "Bearer", "credentials_file": token},
                          "static_configs": [{"targets": ["127.0.0.1:%d" % agent.port]}]}
                with Prometheus(self.tmp, scrape) as prom:
                    up = prom.wait_query('up{job="bpfdiag"} == 1')
                    self.assertEqual(up[0]["metric"]["instance"], "127.0.0.1:%d" % agent.port)
                    # the identity joins in from the info series, kube-state-metrics' way
                    res = prom.wait_query(
                        'rate(bpfdiag_cpu_seconds_total[5s]) * on (namespace, pod, container, '
                        'workload_kind, workload) group_left (pod_uid, container_id) '
                        'bpfdiag_container_info{container_id="%s"} > 0' % pod.container_id)
                    self.assertEqual(len(res), 1, res)
                    labels = res[0]["metric"]
                    self.assertEqual(labels["pod_uid"], pod.uid)
                    self.assertEqual(labels["workload_kind"], "Container")
                    rate = float(res[0]["value"][1])
                    print("Prometheus: rate(bpfdiag_cpu_seconds_total) = %.3f cores" % rate)
                    self.assertLess(rate, 1.5)  # one burner, at most a core (and some slack)
                    # Prometheus's own view of the scrape: no failed samples, all families
                    self.assertTrue(prom.query('scrape_samples_scraped{job="bpfdiag"} > 10'))
            finally:
                burner.kill()
                burner.wait()
        self.assertEqual(agent.proc.returncode, 0)

    def test_bad_tls_and_token_input_exit_2(self):
        cert, key = make_cert(self.tmp)
        other_cert, other_key = make_cert(self.tmp, "other")
        garbage = os.path.join(self.tmp, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
        empty = os.path.join(self.tmp, "empty")
        open(empty, "w").close()
        cases = [
            (["--tls-cert", cert], "--tls-cert and --tls-key go together"),
            (["--tls-cert", "/nonexistent.crt", "--tls-key", key], "/nonexistent.crt"),
            (["--tls-cert", cert, "--tls-key", self.tmp], "--tls-key"),
            (["--tls-cert", garbage, "--tls-key", key], "not a usable certificate"),
            (["--tls-cert", cert, "--tls-key", other_key], "do not match"),
            (["--tls-cert", cert, "--tls-key", cert], "--tls-key"),
            (["--auth-token-file", empty], "empty"),
            (["--auth-token-file", "/nonexistent-token"], "/nonexistent-token"),
            (["--otlp-endpoint", "localhost:4318"], "--otlp-endpoint"),
            (["--otlp-interval", "0"], "--otlp-interval"),
        ]
        for args, needle in cases:
            r = run("agent", "--listen", "127.0.0.1:0", "--pin-dir", "none", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, (args, r.stderr))
            self.assertIn(needle, lines[0], args)
        del other_cert

    def test_scrape_storm_and_request_limits(self):
        with e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            def scrape(_):
                try:
                    st, h, _ = raw_get(agent, "/metrics")
                    return st, h.get("Retry-After")
                except OSError as e:  # the per-client connection cap may refuse some
                    return type(e).__name__, None

            def probe(_):
                return raw_get(agent, "/healthz")[0]

            # 16 clients at once: under the per-client cap, far over the render cap
            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                scrapes = pool.map(scrape, range(200))
                probes = [pool.submit(probe, i) for i in range(16)]
                results = list(scrapes)
                probes = [p.result() for p in probes]
            self.assertEqual(probes, [200] * 16)
            ok = [r for r in results if r[0] == 200]
            busy = [r for r in results if r[0] == 503]
            self.assertTrue(all(r[1] == "1" for r in busy), busy)
            self.assertEqual(len(ok) + len(busy), len(results), results)
            print("storm: %d answered, %d turned away with 503" % (len(ok), len(busy)))
            self.assertIsNone(agent.proc.poll())
            samples = agent.metrics()
            counted = sum(v for n, l, v in samples if n == "bpfdiag_agent_http_requests_total"
                          and l["path"] == "/metrics")
            self.assertGreaterEqual(counted, len(results))

            c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
            c.request("POST", "/metrics", body=b"x" * 1000)
            r = c.getresponse()
            self.assertEqual(r.status, 405)
            self.assertEqual(r.getheader("Allow"), "GET, HEAD")
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
            c.request("GET", "/metrics", body=b"x" * 10)
            self.assertEqual(c.getresponse().status, 413)
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
            c.request("GET", "/metrics", headers={"X-Big": "y" * (100 << 10)})
            try:
                self.assertGreaterEqual(c.getresponse().status, 400)
            except (OSError, http.client.HTTPException):
                pass  # or the connection is just closed
            c.close()
            self.assertEqual(agent.get("/healthz"), (200, "ok\n"))
            st, h, body = raw_get(agent, "/metrics")
            self.assertEqual(st, 200)
            c = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
            c.request("HEAD", "/metrics")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b""))
            c.close()
        self.assertEqual(agent.proc.returncode, 0)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
