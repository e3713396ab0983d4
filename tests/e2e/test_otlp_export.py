"""OTLP/HTTP export against a real receiver on loopback that decodes every request with the
official opentelemetry-proto bindings: names, units, resource attributes, temporality, cumulative
values that never go backwards and agree with /metrics; the OTEL_* variables; Retry-After
honoured without losing counts; no retry on 4xx or partial success; a receiver that stalls or
refuses costs one log line and no memory."""
import os
import re
import socket
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import otlp_receiver as orx  # noqa: E402

# About 40 % of one CPU for `seconds` of CPU time, so the counters move without hogging the box.
BURN = ("import time\n"
        "end = time.process_time() + %f\n"
        "while time.process_time() < end:\n"
        "    t = time.time() + 0.02\n"
        "    while time.time() < t: pass\n"
        "    time.sleep(0.03)\n")


def otlp_log_lines(agent, level=None):
    lines = [l for l in agent.logs().splitlines() if " otlp: " in l]
    return [l for l in lines if level is None or re.search(r"Z %s\s" % level, l)]


def container_points(reqs, container_id, name="container.cpu.time"):
    """[(request, data point)] of one container's metric, in arrival order."""
    out = []
    for r in reqs:
        for attrs, metrics in orx.resources(r):
            if attrs.get("container.id") == container_id and name in metrics:
                m = metrics[name]
                kind = m.WhichOneof("data")
                pts = getattr(m, kind).data_points
                assert len(pts) == 1, m
                out.append((r, pts[0]))
    return out


def assert_cumulative(test, reqs):
    """Across all requests, every cumulative Sum and Histogram point of every resource never
    goes backwards and keeps its start time."""
    seen = {}
    for r in reqs:
        for rm in r.msg.resource_metrics:
            rkey = tuple(sorted((kv.key, kv.value.string_value) for kv in rm.resource.attributes))
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    if kind not in ("sum", "histogram"):
                        continue
                    agg = getattr(m, kind)
                    test.assertEqual(agg.aggregation_temporality, orx.CUMULATIVE, m.name)
                    for p in agg.data_points:
                        pkey = tuple(sorted((kv.key, kv.value.string_value)
                                            for kv in p.attributes))
                        v = orx.point_value(p) if kind == "sum" else p.count
                        test.assertLess(p.start_time_unix_nano, p.time_unix_nano)
                        key = (rkey, m.name, pkey)
                        if key in seen:
                            start, t, old = seen[key]
                            test.assertEqual(p.start_time_unix_nano, start, key)
                            test.assertGreaterEqual(p.time_unix_nano, t, key)
                            test.assertGreaterEqual(v, old, "%s went backwards" % (key,))
                        seen[key] = (p.start_time_unix_nano, p.time_unix_nano, v)
    return seen


def wait_stable(test, agent, rx, pod, timeout=30):
    """Once the pod is idle: waits for two exports with the same CPU value and checks that it
    is exactly what /metrics says (same snapshot), i.e. no count was lost on the way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pts = container_points(rx.snapshot(), pod.container_id)
        if len(pts) >= 2 and orx.point_value(pts[-1][1]) == orx.point_value(pts[-2][1]):
            prom = e2e.metric_value(agent.metrics(), "bpfdiag_cpu_seconds_total",
                                    container_id=pod.container_id)
            got = orx.point_value(pts[-1][1])
            test.assertAlmostEqual(got, prom, delta=1e-9 * max(1.0, prom))
            test.assertGreater(got, 0.2)
            return got
        time.sleep(0.1)
    raise AssertionError("OTLP values never settled")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def agent_metric(agent, name, **labels):
    return e2e.metric_value(agent.metrics(), name, **labels) or 0.0


class OtlpExport(unittest.TestCase):
    def test_contents_and_attributes(self):
        env = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e,team=a%2Cb,"
                                           "k8s.pod.uid=from-env",
               "OTEL_EXPORTER_OTLP_HEADERS": "x-test-key=s%3Dcret",
               "OTEL_EXPORTER_OTLP_TIMEOUT": "5000"}
        with orx.Receiver() as rx, e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.25", "--pin-dir", "none", "--otlp-endpoint", rx.url,
                          "--otlp-interval", "0.5", env=env) as agent:
            p = pod.run([sys.executable, "-c", BURN % 0.5])
            self.assertEqual(p.wait(timeout=60), 0)
            final = wait_stable(self, agent, rx, pod)
            reqs = rx.snapshot()
            self.assertEqual(rx.errors, [])
            self.assertGreaterEqual(len(reqs), 3)
            for r in reqs:
                self.assertEqual(r.path, "/v1/metrics")
                self.assertEqual(r.headers.get("Content-Type"), "application/x-protobuf")
                self.assertEqual(r.headers.get("Content-Encoding"), "gzip")
                self.assertEqual(r.headers.get("x-test-key"), "s=cret")
                self.assertTrue(r.headers.get("User-Agent", "").startswith("bpfdiag/"))
                for attrs, _ in orx.resources(r):
                    self.assertNotIn("", attrs.values(), attrs)
                    self.assertEqual(attrs["service.name"], "bpfdiag")
                    self.assertEqual(attrs["deployment.environment"], "e2e")
                    self.assertEqual(attrs["team"], "a,b")
                    self.assertTrue(attrs["k8s.node.name"])
                for rm in r.msg.resource_metrics:
                    self.assertEqual(rm.scope_metrics[0].scope.name, "bpfdiag")
            pts = container_points(reqs, pod.container_id)
            self.assertGreaterEqual(len(pts), 2)
            attrs = [a for a, _ in orx.resources(pts[-1][0])
                     if a.get("container.id") == pod.container_id][0]
            self.assertEqual(attrs["k8s.pod.uid"], pod.uid)  # its own beats the env's
            self.assertEqual(attrs["bpfdiag.workload.kind"], "Container")
            self.assertEqual(attrs["bpfdiag.workload.name"], pod.container_id)
            self.assertEqual(attrs["k8s.node.name"], socket.gethostname())
            m = orx.resources(pts[-1][0])
            metric = [ms for a, ms in m if a.get("container.id") == pod.container_id][0][
                "container.cpu.time"]
            self.assertEqual(metric.unit, "s")
            self.assertEqual(metric.WhichOneof("data"), "sum")
            self.assertTrue(metric.sum.is_monotonic)
            assert_cumulative(self, reqs)
            self.assertEqual(orx.point_value(pts[-1][1]), final)
            self.assertEqual(otlp_log_lines(agent, "warn"), [])
            self.assertEqual(len([l for l in otlp_log_lines(agent) if "first export" in l]), 1)
            self.assertGreaterEqual(agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                                                 result="success"), len(reqs) - 1)
        self.assertEqual(agent.proc.returncode, 0, "agent exit (LeakSanitizer?)")

    def test_environment_variables(self):
        with orx.Receiver() as rx:
            env = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": rx.url + "/custom/path",
                   "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % free_port(),
                   "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none",
                   "OTEL_METRIC_EXPORT_INTERVAL": "400",
                   "OTEL_SERVICE_NAME": "svc-e2e"}
            with e2e.Agent("--interval", "0.2", "--pin-dir", "none", env=env) as agent:
                reqs = rx.wait(5)
            self.assertEqual(agent.proc.returncode, 0)
            self.assertEqual(rx.errors, [])
            for r in reqs:
                self.assertEqual(r.path, "/custom/path")  # the metrics variable: as is
                self.assertNotIn("Content-Encoding", r.headers)
                for attrs, _ in orx.resources(r):
                    self.assertEqual(attrs["service.name"], "svc-e2e")
            gaps = [b.time - a.time for a, b in zip(reqs, reqs[1:5])]
            self.assertTrue(0.3 < statistics.median(gaps) < 0.8, gaps)

        with orx.Receiver() as rx:
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": rx.url + "/base"}
            with e2e.Agent("--interval", "0.2", "--pin-dir", "none", "--otlp-interval", "0.3",
                           env=env):
                reqs = rx.wait(2)
            self.assertEqual(reqs[0].path, "/base/v1/metrics")  # the generic one: appended
            self.assertEqual(reqs[0].headers.get("Content-Encoding"), "gzip")

    def test_retry_after_is_honoured_and_nothing_is_lost(self):
        responses = [(200, {}), (503, {"Retry-After": "2"}), (200, {})]
        with orx.Receiver(responses) as rx, e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.2", "--pin-dir", "none", "--otlp-endpoint", rx.url,
                          "--otlp-interval", "0.5") as agent:
            p = pod.run([sys.executable, "-c", BURN % 0.6])
            reqs = rx.wait(4)
            self.assertEqual(p.wait(timeout=60), 0)
            wait_stable(self, agent, rx, pod)
            reqs = rx.snapshot()
            t = [r.time for r in reqs]
            self.assertLess(t[1] - t[0], 1.5)  # the normal interval
            # the 503's Retry-After: 2 is waited out, not the 0.5 s interval or a backoff
            self.assertGreaterEqual(t[2] - t[1], 1.9, t)
            self.assertLess(t[2] - t[1], 3.5, t)
            self.assertLess(t[3] - t[2], 1.5, t)  # then back to the interval
            assert_cumulative(self, reqs)
            self.assertEqual(agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                                          result="retryable_error"), 1)
            warns = otlp_log_lines(agent, "warn")
            self.assertEqual(len(warns), 1, warns)
            self.assertIn("HTTP 503", warns[0])
            self.assertEqual(len([l for l in otlp_log_lines(agent) if "recovered" in l]), 1)
        self.assertEqual(agent.proc.returncode, 0)

    def test_no_retry_on_4xx_or_partial_success(self):
        with orx.Receiver([(400, {}), (400, {}), (200, {})]) as rx, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--otlp-endpoint", rx.url,
                          "--otlp-interval", "2") as agent:
            reqs = rx.wait(3)
            t = [r.time for r in reqs]
            # a retry would come after 0.5-1 s; these wait for the next 2 s export
            self.assertGreaterEqual(t[1] - t[0], 1.8, t)
            self.assertGreaterEqual(t[2] - t[1], 1.8, t)
            warns = otlp_log_lines(agent, "warn")
            self.assertEqual(len(warns), 1, warns)
            self.assertIn("HTTP 400", warns[0])
            self.assertIn("not retried", warns[0])
            self.assertEqual(agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                                          result="permanent_error"), 2)

        with orx.Receiver(partial=2) as rx, \
                e2e.Agent("--interval", "0.2", "--pin-dir", "none", "--otlp-endpoint", rx.url,
                          "--otlp-interval", "0.3") as agent:
            reqs = rx.wait(5)
            n = agent_metric(agent, "bpfdiag_agent_otlp_exports_total", result="partial_success")
            self.assertGreaterEqual(n, 4)
            self.assertEqual(agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                                          result="retryable_error"), 0)
            self.assertEqual(agent_metric(agent, "bpfdiag_agent_otlp_rejected_data_points_total"),
                             2 * n)
            warns = otlp_log_lines(agent, "warn")
            self.assertEqual(len(warns), 1, warns)  # the same message is not repeated
            self.assertIn("2 of", warns[0])
            self.assertIn("test rejects some points", warns[0])
        self.assertEqual(agent.proc.returncode, 0)

    def test_stalled_receiver_bounded_memory_one_line(self):
        # ASan's quarantine keeps freed memory on purpose; keep it small so RSS means something.
        env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "300",
               "ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                      "quarantine_size_mb=1",
                                                      "thread_local_quarantine_size_kb=64"]))}
        with orx.Staller() as st, \
                e2e.Agent("--interval", "0.1", "--pin-dir", "none", "--otlp-endpoint", st.url,
                          "--otlp-interval", "0.2", env=env) as agent:
            samples = []
            for _ in range(4):
                time.sleep(3)
                samples.append(rss_kib(agent.proc.pid))
            fails = agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                                 result="retryable_error")
            self.assertGreaterEqual(fails, 5)
            self.assertGreaterEqual(len(st.conns), 5)
            self.assertGreaterEqual(agent_metric(agent, "bpfdiag_agent_collections_total"), 40)
            print("stalled receiver: %d attempts, VmRSS %s KiB" % (fails, samples))
            self.assertLess(max(samples[1:]) - min(samples[1:]), 3 * 1024, samples)
            warns = otlp_log_lines(agent, "warn")
            self.assertEqual(len(warns), 1, warns)
            self.assertRegex(warns[0], r"(?i)timeout|timed out")
            stop = time.monotonic()
        # an export stuck in a stalled connection does not hold up shutdown
        self.assertLess(time.monotonic() - stop, 5)
        self.assertEqual(agent.proc.returncode, 0)

    def test_refused_receiver_one_line(self):
        url = "http://127.0.0.1:%d" % free_port()
        with e2e.Agent("--interval", "0.2", "--pin-dir", "none", "--otlp-endpoint", url,
                       "--otlp-interval", "0.2") as agent:
            # Four refused attempts take 1.6 s at the longest backoff draws (0.2 s, then 0.1-0.2,
            # 0.2-0.4, 0.4-0.8 s): waited for, not slept on.
            deadline = time.monotonic() + 30
            while agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                               result="retryable_error") < 4 and time.monotonic() < deadline:
                time.sleep(0.2)
            self.assertGreaterEqual(agent_metric(agent, "bpfdiag_agent_otlp_exports_total",
                                                 result="retryable_error"), 4)
            self.assertEqual(agent.get("/healthz")[0], 200)
            warns = otlp_log_lines(agent, "warn")
            self.assertEqual(len(warns), 1, warns)
            self.assertRegex(warns[0], r"(?i)connect")
        self.assertEqual(agent.proc.returncode, 0)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
