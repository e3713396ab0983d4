"""RS-06 (cpu-contention) names the noisy neighbour (issue 17 §5), end to end on Kubernetes
workloads under one agent (--window 5, --warmup 0), everything pinned to one CPU (taskset):

  shop/api     a CPU-bound service (one busy loop): it waits while the hog's threads run
                                                            → RS-06 naming batch/hog ≥ 80 %
  batch/hog    a three-thread batch hog (threads hashing with the GIL released)
  shop/clock   a sleeper: wakes every 10 ms and runs a few µs; EEVDF runs a woken task at once
                                                            → never RS-06

The wait the hog caused the service is also a series of its own,
bpfdiag_cpu_runqueue_wait_caused_seconds_total{neighbour_*}, among the api's top 3."""
import os
import sys
import time
import unittest
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from rules_e2e import Cluster, fired, findings, wait_until  # noqa: E402

WINDOW = 5.0
BUSY = "while True: pass\n"
HOG = ("import hashlib, threading\nbig = b'x' * (1 << 20)\n"
       "def burn():\n    while True: hashlib.sha256(big).digest()\n"
       "ts = [threading.Thread(target=burn) for _ in range(3)]\n"
       "[t.start() for t in ts]\n[t.join() for t in ts]\n")
SLEEPER = "import time\nwhile True:\n    time.sleep(0.01)\n    sum(range(200))\n"


class RulesContention(unittest.TestCase):
    def test_noisy_neighbour(self):
        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            cpu = str(max(os.sched_getaffinity(0)))
            svc = c.workload("Deployment", "api", "shop")
            c.pod(svc).start(["taskset", "-c", cpu, sys.executable, "-c", BUSY])
            hog = c.workload("Deployment", "hog", "batch")
            c.pod(hog).start(["taskset", "-c", cpu, sys.executable, "-c", HOG])
            clock = c.workload("Deployment", "clock", "shop")
            c.pod(clock).start(["taskset", "-c", cpu, sys.executable, "-c", SLEEPER])
            self.run_checks(c.start_agent(WINDOW))

    def run_checks(self, agent):
        def rs06():
            got = [f for f in findings(agent) if f["rule"] == "RS-06" and
                   f["workload"] == "api" and
                   any(k.startswith("share:batch/hog") for k in f["evidence"])]
            return got[0] if got else None
        f = wait_until(rs06, 60, "RS-06 on shop/api naming batch/hog", agent)
        # One more full window: the share over a whole window, and for the sleeper to misfire.
        agent.wait_collections(int(WINDOW / 0.25) + 4)
        f = rs06() or f
        print("RS-06 api:", f["message"], f["evidence"])
        share = f["evidence"]["share:batch/hog"]
        self.assertGreaterEqual(share, 0.8, f["message"])
        self.assertLessEqual(share, 1.0)
        self.assertIn("Deployment batch/hog", f["message"])
        self.assertGreater(f["evidence"]["runqueue_p99_seconds"], 0.005)

        m = agent.metrics()
        caused = e2e.metric_value(m, "bpfdiag_cpu_runqueue_wait_caused_seconds_total",
                                  namespace="shop", workload="api",
                                  neighbour_namespace="batch",
                                  neighbour_workload_kind="Deployment",
                                  neighbour_workload="hog")
        wait = e2e.metric_value(m, "bpfdiag_cpu_runqueue_wait_seconds_total",
                                namespace="shop", workload="api")
        print("api: wait %.3fs, caused by batch/hog %.3fs" % (wait, caused or 0))
        self.assertIsNotNone(caused, "no caused-by series for shop/api")
        self.assertGreater(caused, 0.5 * wait)
        # A wait and the causes it charges are added at the same switch-out, but the wait goes
        # through the CPU's pending record (flushed at its next switch to another cgroup or
        # its next 99 Hz sample, bpf/cpu.bpf.c): at a collection the api's last wait on its
        # pinned CPU may be missing from the total while its causes are in. One such wait is
        # a few slices of the hog's threads (p99 ~17 ms here): 50 ms covers it.
        self.assertLessEqual(caused, wait * 1.01 + 0.05)
        neighbours = [l for n, l, v in m
                      if n == "bpfdiag_cpu_runqueue_wait_caused_seconds_total" and
                      l.get("workload") == "api"]
        self.assertLessEqual(len(neighbours), 3)

        ever = fired(agent)
        self.assertNotIn("RS-06", ever.get(("shop", "Deployment", "clock"), set()),
                         "the sleeper got RS-06: %s" % findings(agent))


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
