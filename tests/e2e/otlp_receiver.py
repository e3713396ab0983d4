"""A test OTLP/HTTP metrics receiver on loopback. Every request body is decoded with the official
opentelemetry-proto Python bindings (never with bpfdiag's own code), so what it records is what a
real collector would see."""
import contextlib
import gzip
import http.server
import socket
import sys
import threading
import time

try:
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms_pb2
    from opentelemetry.proto.metrics.v1 import metrics_pb2
except ImportError:  # pragma: no cover - tools/deps.sh test installs it
    print("FAIL: the opentelemetry-proto Python package is missing; run tools/deps.sh test",
          file=sys.stderr)
    raise

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


class Request:
    """One POST as received: when, headers, raw and decoded body."""

    def __init__(self, path, headers, raw):
        self.time = time.monotonic()
        self.path = path
        self.headers = headers
        self.raw = raw
        body = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
        self.msg = ms_pb2.ExportMetricsServiceRequest()
        self.msg.ParseFromString(body)


class Receiver:
    """Answers POST /v1/metrics. responses: a list of (status, {header: value}) used in turn,
    the last one repeated; partial: rejected data point count to report on 200, with message."""

    def __init__(self, responses=((200, {}),), partial=None, message="test rejects some points"):
        self.responses = list(responses)
        self.partial = partial
        self.message = message
        self.requests = []
        self.errors = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    req = Request(self.path, dict(self.headers.items()), raw)
                except Exception as e:  # a request that does not decode fails the test
                    with outer.lock:
                        outer.errors.append("%s: %r" % (self.path, e))
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with outer.lock:
                    outer.requests.append(req)
                    i = len(outer.requests) - 1
                    status, hdrs = outer.responses[min(i, len(outer.responses) - 1)]
                body = b""
                if status == 200:
                    resp = ms_pb2.ExportMetricsServiceResponse()
                    if outer.partial:
                        resp.partial_success.rejected_data_points = outer.partial
                        resp.partial_success.error_message = outer.message
                    body = resp.SerializeToString()
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        default_error = self.server.handle_error

        def handle_error(request, address):
            # a client that stops reading an over-long answer resets: expected, not news
            if not isinstance(sys.exc_info()[1], ConnectionResetError):
                default_error(request, address)

        self.server.handle_error = handle_error
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def wait(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.snapshot()) >= n:
                return self.snapshot()
            time.sleep(0.05)
        raise AssertionError("receiver got %d requests, wanted %d" % (len(self.snapshot()), n))


class Staller:
    """Accepts connections and never answers; counts them. Closes them all on exit."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            with contextlib.suppress(socket.timeout, OSError):
                c, _ = self.sock.accept()
                self.conns.append(c)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()
        return False


def resources(req):
    """[(resource attributes dict, {metric name: Metric})] of a decoded request."""
    out = []
    for rm in req.msg.resource_metrics:
        attrs = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
        metrics = {}
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                metrics[m.name] = m
        out.append((attrs, metrics))
    return out


def point_value(dp):
    return dp.as_double if dp.HasField("as_double") else float(dp.as_int)
