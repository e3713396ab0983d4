"""The CPU rules RS-02 (cpu-throttled) and RS-06 (cpu-contention) end to end on Kubernetes
workloads, each with a look-alike, under one agent (--window 5, --warmup 0):

  RS-02  media/encoder      CPU limit 200m (pod spec and cgroup), a busy loop: throttled in
                            most periods at ~100 % of its limit               → RS-02
         media/thumbnailer  CPU limit 250m, 35 ms bursts every 600 ms: throttled in the
                            period of each burst (its 25 ms quota runs out) but using ~20 % of
                            its limit                                         → none
  RS-06  media/transcoder   no CPU limit, four busy loops pinned to one CPU: each waits for
                            the others (> 5 ms p99)                            → RS-06
         media/encoder      off the CPU most of the time too, but because it is throttled in
                            every bucket: that is RS-02, not contention       → no RS-06
(The thumbnailer is not judged for RS-06: next to the pinned loops it may really be contended,
and a bucket can hold the end of a throttled wait but not the throttling that caused it.)

The limit is set the way the host allows (cpu.max on cgroup v2, or CFS quota on the v1 cpu
hierarchy of a hybrid host: test_cpu_extras.Limit). Default thresholds; only RS-02 and RS-06
are asserted here (test_rules_workloads covers the rest). Quiet means never started, from the
agent log."""
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
from test_cpu_extras import Limit  # noqa: E402

WINDOW = 5.0
BUSY = "while True: pass\n"
BURSTS = ("import time\nwhile True:\n    e = time.process_time() + 0.035\n"
          "    while time.process_time() < e: pass\n    time.sleep(0.6)\n")


def limits(cpu):
    return {"requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": cpu, "memory": "128Mi"}}


def runq_p99(m, ns, name):
    """p99 of the run-queue waits of a workload over the agent's whole run (upper bound of
    the histogram bucket holding it), from /metrics."""
    buckets = {}
    for n, l, v in m:
        if n == "bpfdiag_cpu_runqueue_latency_seconds_bucket" and l.get("namespace") == ns \
                and l.get("workload") == name:
            buckets[float(l["le"])] = buckets.get(float(l["le"]), 0) + v
    total = buckets.get(float("inf"), 0)
    for le in sorted(buckets):
        if total and buckets[le] >= 0.99 * total:
            return le
    return 0


class RulesCpu(unittest.TestCase):
    def test_throttling_and_contention(self):
        t0 = time.time()
        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            enc = c.workload("Deployment", "encoder", "media", helm="media")
            pod = c.pod(enc, resources=limits("200m"))
            lim = stack.enter_context(Limit(pod.fp, 0.2))
            pod.start([sys.executable, "-c", BUSY], runner=lim.run)
            thumb = c.workload("Deployment", "thumbnailer", "media", helm="media")
            pod = c.pod(thumb, resources=limits("250m"))
            lim = stack.enter_context(Limit(pod.fp, 0.25))
            pod.start([sys.executable, "-c", BURSTS], runner=lim.run)
            trans = c.workload("Deployment", "transcoder", "media")
            pod = c.pod(trans)
            cpu = str(max(os.sched_getaffinity(0)))
            for _ in range(4):
                pod.start(["taskset", "-c", cpu, sys.executable, "-c", BUSY])
            agent = c.start_agent(WINDOW)
            self.run_checks(agent, enc, thumb, trans)
        print("total: %.1fs" % (time.time() - t0))

    def run_checks(self, agent, enc, thumb, trans):
        def ours():
            got = {(f["workload"], f["rule"]): f for f in findings(agent)
                   if f["rule"] in ("RS-02", "RS-06")}
            return got if {("encoder", "RS-02"), ("transcoder", "RS-06")} <= set(got) else None
        wait_until(ours, 60, "RS-02 on encoder and RS-06 on transcoder", agent)
        # One more full window for the look-alikes to misfire in.
        fp = enc.pods[0].fp
        u0, t0 = fp.usage_seconds(), time.time()
        agent.wait_collections(int(WINDOW / 0.25) + 4)
        got = ours()
        self.assertIsNotNone(got, "findings cleared: %s" % findings(agent))
        m = agent.metrics()
        u1, t1 = fp.usage_seconds(), time.time()
        ever = fired(agent)
        # Per rule, the workloads it was judged on by design: the thumbnailer is RS-02's
        # look-alike only (next to four pinned busy loops it may really wait for a CPU).
        for wl, judged, want in ((enc, {"RS-02", "RS-06"}, {"RS-02"}),
                                 (thumb, {"RS-02"}, set()),
                                 (trans, {"RS-02", "RS-06"}, {"RS-06"})):
            self.assertEqual(ever.get(wl.key, set()) & judged, want, wl.name)

        rs02 = got[("encoder", "RS-02")]
        self.assertEqual((rs02["namespace"], rs02["workload_kind"], rs02["helm_release"],
                          rs02["severity"], rs02["suggested_kind"]),
                         ("media", "Deployment", "media", "medium", ""))
        ev = rs02["evidence"]
        print("RS-02 encoder evidence:", ev)
        self.assertGreater(ev["throttled_ratio"], 0.25)
        self.assertLessEqual(ev["throttled_ratio"], 1.0)
        self.assertGreaterEqual(ev["usage_of_limit"], 0.6)
        # The truth is the cgroup's own cpu.stat over the last window, scaled by how the
        # collector's on-CPU time compares with cpu.stat over the whole run: on a VM with much
        # stolen time the collector counts the stolen time too (seen: x1.3-x2 on a throttled
        # task), which is the collector's accuracy, not the rule's arithmetic.
        agent_cpu = sum(v for n, l, v in m if n == "bpfdiag_cpu_seconds_total" and
                        l.get("namespace") == "media" and l.get("workload") == "encoder")
        k = agent_cpu / u1
        truth = k * (u1 - u0) / (t1 - t0) / 0.2
        print("encoder: cgroup %.3f cores over the last window; agent/cpu.stat over the run "
              "x%.2f; usage_of_limit %.3f, expected %.3f" % (
                  (u1 - u0) / (t1 - t0), k, ev["usage_of_limit"], truth))
        self.assertAlmostEqual(ev["usage_of_limit"], truth, delta=0.35 * truth)
        rs06 = got[("transcoder", "RS-06")]
        self.assertEqual((rs06["namespace"], rs06["workload_kind"], rs06["helm_release"],
                          rs06["severity"], rs06["suggested_kind"]),
                         ("media", "Deployment", "", "low", ""))
        print("RS-06 transcoder evidence:", rs06["evidence"])
        self.assertGreater(rs06["evidence"]["runqueue_p99_seconds"], 0.005)
        for f in (rs02, rs06):
            self.assertEqual(e2e.metric_value(
                m, "bpfdiag_finding", namespace="media", workload_kind="Deployment",
                workload=f["workload"], helm_release=f["helm_release"], rule=f["rule"],
                severity=f["severity"], suggested_kind=""), 1)

        # The look-alikes came close: the thumbnailer was throttled at times, below 60 % of
        # its limit; the encoder was throttled throughout (its RS-02 evidence above). Whether
        # a throttled task's time off the CPU shows as run-queue wait varies from run to run
        # (134 ms p99 in some, under 1 ms in others): printed, not asserted.
        def total(name, wl):
            return sum(v for n, l, v in m if n == name and l.get("workload") == wl and
                       l.get("namespace") == "media")
        throttled = total("bpfdiag_cpu_throttled_periods_total", "thumbnailer")
        periods = total("bpfdiag_cpu_periods_total", "thumbnailer")
        print("thumbnailer: %d of %d periods throttled" % (throttled, periods))
        self.assertGreater(throttled, 0)
        p99s = {w.name: runq_p99(m, "media", w.name) for w in (enc, thumb, trans)}
        print("run-queue p99 over the run:", p99s)
        self.assertIsNone(e2e.metric_value(m, "bpfdiag_finding", workload="thumbnailer",
                                           rule="RS-02"))
        self.assertIsNone(e2e.metric_value(m, "bpfdiag_finding", workload="encoder",
                                           rule="RS-06"))


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
