"""Hostile input against a running agent, on loopback only, each attack bounded in count and
time (the whole file runs in well under a minute). Each test names the property it holds;
docs/SECURITY.md lists the attacks, the limits and the self-metric that shows each."""
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import otlp_receiver as orx  # noqa: E402

HEADER_SECONDS = 5.0  # exporters/transport/http_admit.h
PER_CLIENT = 32


def raw_request(port, data, src="127.0.0.1", timeout=5, whole=False):
    """Sends data on a fresh connection; returns what came back until the server closed or
    went quiet (whole: until it closed, however long the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(src, 0)) as s:
        s.sendall(data)
        out = b""
        with contextlib.suppress(socket.timeout, ConnectionResetError):
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if not whole and b"\r\n\r\n" in out and b"Content-Length: 0" not in out and \
                        len(out) > 4096:
                    break
        return out


def status_of(reply):
    line = reply.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else None


def fetch(port, path, timeout=3):
    """(status, body bytes, seconds) of GET path from 127.0.0.1."""
    t0 = time.monotonic()
    reply = raw_request(port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" %
                        path.encode(), timeout=timeout, whole=True)
    head, _, body = reply.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return status_of(head), body, time.monotonic() - t0


def dechunk(data):
    """The payload of a chunked body (/metrics is streamed: RFC 9112 chunked coding)."""
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2:]
    return out


def metrics(agent):
    status, body, _ = fetch(agent.port, "/metrics", timeout=10)
    assert status == 200, status
    return body


def value(body, sample):
    """The value of the sample line starting with sample (name and labels as rendered)."""
    for line in body.decode("utf-8").splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


SPIN = [sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 30: pass"]


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        e2e.require_root()
        cls.rx = orx.Receiver().__enter__()
        cls.agent = e2e.Agent("--interval", "0.5", "--otlp-endpoint", cls.rx.url,
                              "--otlp-interval", "0.5").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        cls.rx.__exit__(None, None, None)

    def test_invalid_utf8_cgroup_name(self):
        """A cgroup named with the bytes \\xff\\xfe (any local user allowed to create a cgroup
        can) breaks neither /metrics (promtool), /api/v1/pods (strict JSON) nor OTLP (the
        official bindings); the bytes read as U+FFFD and the repair is counted."""
        # surrogateescape: the str name is the bytes \xff\xfe on disk
        with e2e.FakePod(rel="/bpfdiag-hostile-\udcff\udcfe") as pod:
            pod.run(SPIN)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                status, pods, _ = fetch(self.agent.port, "/api/v1/pods")
                if status == 200 and "bpfdiag-hostile-\ufffd\ufffd" in pods.decode("utf-8"):
                    break
                time.sleep(0.3)
            doc = json.loads(pods.decode("utf-8"))  # strict: bad UTF-8 raises
            paths = [c["cgroup_path"] for p in doc["pods"] for c in p["containers"]]
            self.assertIn("/bpfdiag-hostile-\ufffd\ufffd", paths)
            body = metrics(self.agent)
            r = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"],
                               input=body, capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertGreaterEqual(value(body, "bpfdiag_agent_invalid_utf8_strings"), 1)
            # OTLP: every request decodes with the official bindings, and carries the name
            n = len(self.rx.snapshot())
            reqs = self.rx.wait(n + 2)
            self.assertEqual(self.rx.errors, [])
            names = {a.value.string_value for q in reqs[n:] for rm in q.msg.resource_metrics
                     for a in rm.resource.attributes}
            self.assertTrue(any("\ufffd\ufffd" in v for v in names), names)

    def test_deep_cgroups_are_scanned(self):
        """A CPU-busy cgroup nested 50 deep is attributed like any other: it has a series
        with its CPU, and nothing is truncated from the scan."""
        rel = "/bpfdiag-deep" + "".join("/l%d" % i for i in range(2, 51))
        before = value(metrics(self.agent), "bpfdiag_agent_cgroup_scan_truncated_total")
        with e2e.FakePod(rel=rel) as pod:
            pod.run(SPIN)
            cpu, deadline = 0, time.monotonic() + 20
            while time.monotonic() < deadline and cpu <= 0.2:
                time.sleep(0.3)
                status, pods, _ = fetch(self.agent.port, "/api/v1/pods")
                doc = json.loads(pods.decode("utf-8"))
                cpu = max([c["cpu_seconds_total"] for p in doc["pods"]
                           for c in p["containers"] if c["cgroup_path"] == rel] or [0])
            self.assertGreater(cpu, 0.2, "no CPU for the 50-deep cgroup " + rel)
        after = value(metrics(self.agent), "bpfdiag_agent_cgroup_scan_truncated_total")
        self.assertEqual(after, before)

    def test_slowloris_does_not_lock_out_probes(self):
        """4 source addresses x 32 connections, each sending one header line per second,
        cannot lock out /healthz and /metrics for a fifth client: every probe is answered in
        under 2 s, and no dripping connection lives past the header deadline."""
        port = self.agent.port
        before = metrics(self.agent)
        stop = threading.Event()
        lifetimes, lock = [], threading.Lock()

        def drip(src):
            socks = {}
            while not stop.is_set():
                while len(socks) < PER_CLIENT and not stop.is_set():
                    with contextlib.suppress(OSError):
                        s = socket.create_connection(("127.0.0.1", port), timeout=1,
                                                     source_address=(src, 0))
                        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                        socks[s] = time.monotonic()
                for s, t0 in list(socks.items()):
                    try:
                        s.sendall(b"X-Drip: 1\r\n")
                        s.setblocking(False)
                        closed = s.recv(1) == b""
                    except BlockingIOError:
                        closed = False
                    except OSError:
                        closed = True
                    s.setblocking(True)
                    if closed:
                        with lock:
                            lifetimes.append(time.monotonic() - t0)
                        s.close()
                        del socks[s]
                stop.wait(1.0)
            for s in socks:
                s.close()

        threads = [threading.Thread(target=drip, args=("127.0.0.%d" % i,)) for i in (2, 3, 4, 5)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)  # the attack fills the server
            worst = 0.0
            end = time.monotonic() + 2 * HEADER_SECONDS
            while time.monotonic() < end:
                for path in ("/healthz", "/readyz", "/metrics"):
                    status, _, took = fetch(port, path, timeout=5)
                    self.assertEqual(status, 200, path)
                    worst = max(worst, took)
                time.sleep(0.5)
            self.assertLess(worst, 2.0)
        finally:
            stop.set()
            for t in threads:
                t.join()
        after = metrics(self.agent)
        self.assertTrue(lifetimes, "the server closed no dripping connection")
        self.assertLess(max(lifetimes), HEADER_SECONDS + 2.0)
        closed = sum(value(after, 'bpfdiag_agent_http_connections_closed_total{reason="%s"}'
                           % r) - value(before, 'bpfdiag_agent_http_connections_closed_total'
                                                '{reason="%s"}' % r)
                     for r in ("header_timeout", "replaced"))
        self.assertGreaterEqual(closed, len(lifetimes) * 0.9)

    def test_refused_requests_are_counted(self):
        """Requests libmicrohttpd refuses itself (URL or headers too large, malformed, an HTTP
        version it does not speak) are answered and counted by status code."""
        port = self.agent.port
        cases = [
            (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (414,)),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
             (431,)),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", (400,)),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999"
             b"\r\n\r\n", (413,)),
            (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", (505,)),
        ]
        before = metrics(self.agent)
        for data, want in cases:
            self.assertIn(status_of(raw_request(port, data)), want, data[:40])
        after = metrics(self.agent)
        for code in ("414", "431", "400", "413", "505"):
            name = 'bpfdiag_agent_http_requests_rejected_total{code="%s"}' % code
            self.assertGreaterEqual(value(after, name) - value(before, name), 1, code)

    def test_conflicting_content_length_refused(self):
        """Two Content-Length headers that disagree (a request-smuggling shape) are refused
        with 400 and the connection is closed; the refusal is counted."""
        before = metrics(self.agent)
        reply = raw_request(self.agent.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Length: 0\r\nContent-Length: 5\r\n\r\nGET /x")
        self.assertEqual(status_of(reply), 400, reply[:200])
        self.assertEqual(reply.count(b"HTTP/1.1 "), 1, "the smuggled request was answered")
        after = metrics(self.agent)
        name = 'bpfdiag_agent_http_requests_total{path="/healthz",code="400"}'
        self.assertEqual(value(after, name) - value(before, name), 1)

    def connections(self):
        """The agent's open HTTP connections (the gauge is read when rendered: live)."""
        return value(metrics(self.agent), "bpfdiag_agent_http_connections")

    def quiet_connections(self):
        """connections() once two reads agree (earlier clients' closes have been seen)."""
        last, deadline = None, time.monotonic() + 5
        while time.monotonic() < deadline:
            now = self.connections()
            if now == last:
                return now
            last = now
            time.sleep(0.05)
        return last

    def test_one_client_past_its_share_gives_way(self):
        """One address opening more connections than its share (32) without sending a request,
        one after the other: its oldest connections are closed to make room (exactly the 8 past
        the share, well before the 5 s header deadline would close them all), counted as
        replaced, and the endpoint stays open to others. (Connections accepted at the same
        instant can pass the share by those in flight: a known race, docs/SECURITY.md.)"""
        before = metrics(self.agent)
        # The known race is the test's to avoid: each connection past the share must find
        # the ones before it registered. The 32 are opened 20 ms apart, then the open
        # connections (the scrape's own included, as in base) are waited for; each one past
        # the share is opened once the previous one has closed its victim (its accept
        # decision, which its registration follows within the same accept) and 20 ms more.
        # All of it takes about a second, well inside the 5 s header deadline.
        base = self.quiet_connections()
        socks = []

        def connect():
            socks.append(socket.create_connection(("127.0.0.1", self.agent.port), timeout=2,
                                                  source_address=("127.0.0.6", 0)))
            socks[-1].setblocking(False)

        def victims():
            n = 0
            for s in socks:
                with contextlib.suppress(BlockingIOError, ConnectionResetError):
                    n += s.recv(1, socket.MSG_PEEK) == b""
            return n
        try:
            for _ in range(PER_CLIENT):
                connect()
                time.sleep(0.02)
            deadline = time.monotonic() + 2
            while self.connections() != base + PER_CLIENT and time.monotonic() < deadline:
                time.sleep(0.02)
            for i in range(8):
                connect()
                deadline = time.monotonic() + 1
                while victims() < i + 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.02)
            status, _, took = fetch(self.agent.port, "/healthz")
            self.assertEqual(status, 200)
            # The replaced connections' FINs may take a moment on a loaded machine: wait for
            # them (bounded, well inside the header deadline), then hold that exactly the 8
            # past the share were closed.
            closed, deadline = set(), time.monotonic() + 1.5

            def look():
                for i, s in enumerate(socks):
                    with contextlib.suppress(BlockingIOError):
                        if i not in closed and s.recv(1) == b"":
                            closed.add(i)

            while len(closed) < 8 and time.monotonic() < deadline:
                look()
                time.sleep(0.05)
            time.sleep(0.2)  # none beyond the 8 follows
            look()
            self.assertEqual(len(closed), 8)
        finally:
            for s in socks:
                s.close()
        after = metrics(self.agent)
        name = 'bpfdiag_agent_http_connections_closed_total{reason="replaced"}'
        self.assertGreaterEqual(value(after, name) - value(before, name), 8)


def self_signed(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True, timeout=60)
    return cert, key


def handshake(port, version, ciphers=None):
    """The negotiated (version, cipher) of a TLS handshake, or None when refused."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s) as t:
                return t.version(), t.cipher()[0]
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return None


class OldTls(unittest.TestCase):
    def test_tls_1_0_and_1_1_and_static_rsa_refused(self):
        """With --tls-cert, TLS 1.0 and 1.1 handshakes and static-RSA ciphers (AES128-SHA)
        are refused; TLS 1.2 negotiates a forward-secret AEAD cipher and TLS 1.3 works. The
        client is shown able to speak TLS 1.0 against an agent configured to allow it."""
        e2e.require_root()
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1, tried on purpose
        weak = "ALL:@SECLEVEL=0"
        with tempfile.TemporaryDirectory() as d:
            cert, key = self_signed(d)
            tls = ["--tls-cert", cert, "--tls-key", key]
            with e2e.Agent(*tls, "--tls-priorities",
                           "NORMAL:+VERS-TLS1.0:+VERS-TLS1.1:+RSA:+AES-128-CBC:+SHA1",
                           ca_file=cert) as old:
                if handshake(old.port, ssl.TLSVersion.TLSv1, weak) is None:
                    self.skipTest("this OpenSSL cannot speak TLS 1.0")
            with e2e.Agent(*tls, ca_file=cert) as agent:
                self.assertIsNone(handshake(agent.port, ssl.TLSVersion.TLSv1, weak))
                self.assertIsNone(handshake(agent.port, ssl.TLSVersion.TLSv1_1, weak))
                self.assertIsNone(handshake(agent.port, ssl.TLSVersion.TLSv1_2,
                                            "AES128-SHA:@SECLEVEL=0"))
                v12 = handshake(agent.port, ssl.TLSVersion.TLSv1_2, weak)
                self.assertIsNotNone(v12)
                self.assertRegex(v12[1], r"^(ECDHE|DHE)-.*(GCM|CHACHA20)", v12)
                self.assertEqual(handshake(agent.port, ssl.TLSVersion.TLSv1_3)[0], "TLSv1.3")
                self.assertEqual(agent.get("/healthz")[0], 200)


class OtlpAnswers(unittest.TestCase):
    def test_oversized_partial_success_is_a_protocol_error(self):
        """A 2xx answer over the 64 KiB cap (a partial success with a 200 kB message) is
        counted as a protocol error, never a success, and its rejected points are counted."""
        e2e.require_root()
        with orx.Receiver(partial=7, message="m" * 200000) as rx, \
                e2e.Agent("--interval", "0.5", "--otlp-endpoint", rx.url,
                          "--otlp-interval", "0.3") as agent:
            rx.wait(3)
            time.sleep(0.3)
            body = metrics(agent)
        exports = 'bpfdiag_agent_otlp_exports_total{result="%s"}'
        self.assertGreaterEqual(value(body, exports % "protocol_error"), 2)
        self.assertEqual(value(body, exports % "success"), 0)
        self.assertEqual(value(body, exports % "partial_success"), 0)
        self.assertGreaterEqual(value(body, "bpfdiag_agent_otlp_rejected_data_points_total"),
                                7 * value(body, exports % "protocol_error"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
