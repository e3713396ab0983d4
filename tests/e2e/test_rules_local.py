"""The rules pipeline end to end in local mode (no Kubernetes): CPU contention and CPU
throttling in fake pods fire RS-06 and RS-02 over a short window; each finding reaches the log
(start and clear), /metrics (bpfdiag_finding), /api/v1/findings (with evidence) and
`bpfdiag check` (exit 1, evidence printed); an idle pod stays quiet; a rules config that
disables a rule silences it; a bad rules config exits 2 with one line. With the Kubernetes API
configured, the host's own cgroups are measured but judged only with --judge-host-cgroups."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import kube_e2e  # noqa: E402
from fake_kube_api import FakeKubeApi  # noqa: E402
from test_cpu_extras import Limit  # noqa: E402

BURN = "import time\nend=time.time()+%f\nwhile time.time()<end: pass\n"
# Busy until the test kills it: the load lasts as long as the test waits for its findings (a
# fixed burn could end first on a slow machine, and the findings with it).
BUSY = "while True: pass\n"


def findings(agent):
    status, body = agent.get("/api/v1/findings")
    assert status == 200
    return json.loads(body)["findings"]


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.5)
    return None


class RulesLocal(unittest.TestCase):
    def test_host_cgroups_judged_only_when_asked(self):
        """Two agents on one API server watch the same contended host cgroup: the one with
        --judge-host-cgroups raises RS-06 on it (the load is real), the default one judges
        no cgroup outside a pod, yet measures it."""
        args = ("--window", "5", "--warmup", "0")
        unit = "bpfdiag-e2e-host-%d.service" % os.getpid()
        with FakeKubeApi(node=kube_e2e.NODE) as api, e2e.FakePod(rel="/" + unit) as host, \
                kube_e2e.KubeAgent(api, *args) as quiet, \
                kube_e2e.KubeAgent(api, *args, "--judge-host-cgroups") as judged:
            procs = [host.run([sys.executable, "-c", BUSY]) for _ in range(4)]
            try:
                f = wait_for(lambda: [x for x in findings(judged) if x["rule"] == "RS-06"
                                      and x["workload"] == unit])
                self.assertTrue(f, "no RS-06 on the host cgroup even when asked: %s"
                                % findings(judged))
                self.assertEqual(f[0]["workload_kind"], "SystemdService")
                m = quiet.metrics()
                self.assertGreater(e2e.metric_value(m, "bpfdiag_cpu_seconds_total",
                                                    workload=unit) or 0, 1)
                outside = [x for x in findings(quiet) if not x.get("namespace")]
                self.assertEqual(outside, [], "findings on cgroups outside pods")
                self.assertEqual([l for l in quiet.metrics() if l[0] == "bpfdiag_finding"
                                  and not l[1].get("namespace")], [])
            finally:
                for p in procs:
                    p.kill()
                    p.wait()

    def test_contention_and_throttling(self):
        with e2e.FakePod() as busy, e2e.FakePod() as idle, e2e.FakePod() as limited, \
                Limit(limited, 0.2) as limit, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--window", "5",
                          "--warmup", "0") as agent:
            procs = [busy.run([sys.executable, "-c", BUSY]) for _ in range(4)]
            procs.append(limit.run([sys.executable, "-c", BUSY]))
            procs.append(idle.run(["sleep", "600"]))
            try:
                def mine():
                    f = findings(agent)
                    got = {(x["rule"], x["workload"]) for x in f}
                    if ("RS-06", busy.container_id) in got and \
                            ("RS-02", limited.container_id) in got:
                        return f
                    return None
                f = wait_for(mine)
                self.assertIsNotNone(f, "no RS-06/RS-02 findings: %s" % findings(agent))
                rs06 = [x for x in f if x["rule"] == "RS-06"
                        and x["workload"] == busy.container_id][0]
                self.assertEqual(rs06["workload_kind"], "Container")
                self.assertGreater(rs06["evidence"]["runqueue_p99_seconds"], 0.005)
                self.assertRegex(rs06["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
                self.assertIn("waits", rs06["message"])
                rs02 = [x for x in f if x["rule"] == "RS-02"
                        and x["workload"] == limited.container_id][0]
                self.assertGreater(rs02["evidence"]["throttled_ratio"], 0.25)
                self.assertGreater(rs02["evidence"]["usage_of_limit"], 0.6)
                self.assertFalse([x for x in f if x["workload"] == idle.container_id])

                m = agent.metrics()
                self.assertEqual(e2e.metric_value(m, "bpfdiag_finding", rule="RS-06",
                                                  workload=busy.container_id), 1)
                self.assertEqual(e2e.metric_value(m, "bpfdiag_finding", rule="RS-02",
                                                  workload=limited.container_id,
                                                  severity="medium"), 1)
                url = "http://127.0.0.1:%d" % agent.port
                c = subprocess.run([e2e.BIN, "check", "--agent", url], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(c.returncode, 1, c)
                self.assertIn("RS-06", c.stdout)
                self.assertIn("runqueue_p99_seconds=", c.stdout)
                self.assertIn("finding RS-06 low Container", agent.logs())
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            # Quiet again: below half the buckets the findings clear, with a log line.
            ours = (busy.container_id, limited.container_id)
            self.assertIsNotNone(wait_for(
                lambda: not [x for x in findings(agent) if x["workload"] in ours]))
            self.assertIn("finding cleared: RS-06 Container", agent.logs())

    def test_rules_config(self):
        bad = "/tmp/bpfdiag-e2e-rules-%d.json" % os.getpid()
        try:
            with open(bad, "w") as f:
                f.write('{"RS-06": {"runqueue_p99": 1}}')
            r = subprocess.run([e2e.BIN, "agent", "--rules-config", bad, "--listen",
                                "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("unknown setting 'RS-06.runqueue_p99'", r.stderr)
            with open(bad, "w") as f:
                f.write('{"RS-06": {"enabled": false}}')
            with e2e.FakePod() as busy, \
                    e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--window", "3",
                              "--warmup", "0", "--rules-config", bad) as agent:
                procs = [busy.run([sys.executable, "-c", BURN % 6]) for _ in range(4)]
                for p in procs:
                    p.wait()
                self.assertFalse([x for x in findings(agent) if x["rule"] == "RS-06"])
        finally:
            os.unlink(bad)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
