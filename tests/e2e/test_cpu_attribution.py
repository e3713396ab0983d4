"""CPU burnt inside kubelet-shaped fake pods is attributed to the right container, and the
agent's counter agrees with the cgroup's own cpu.stat usage_usec within 2 %."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

BURN = ("import time\n"
        "end = time.process_time() + %f\n"
        "while time.process_time() < end: pass\n")


class CpuAttribution(unittest.TestCase):
    def check_pod(self, agent, pod, expect_min):
        samples = agent.metrics()
        got = e2e.metric_value(samples, "bpfdiag_cpu_seconds_total",
                               container_id=pod.container_id)
        self.assertIsNotNone(got, "no series for container %s" % pod.container_id)
        labels = [l for n, l, v in samples if n == "bpfdiag_cpu_seconds_total"
                  and l.get("container_id") == pod.container_id][0]
        self.assertEqual(labels["pod_uid"], pod.uid)
        self.assertEqual(labels["workload_kind"], "Container")
        self.assertEqual(labels["workload"], pod.container_id)
        truth = pod.usage_seconds()
        self.assertGreater(truth, expect_min)
        err = abs(got - truth) / truth
        print("%s: agent %.4fs, cpu.stat %.4fs, error %.3f%%" % (pod.rel, got, truth, err * 100))
        self.assertLess(err, 0.02, "agent %.4fs vs cpu.stat %.4fs" % (got, truth))

    def test_two_pods_two_drivers(self):
        with e2e.FakePod("systemd", "burstable") as a, \
                e2e.FakePod("cgroupfs", "besteffort") as b, \
                e2e.FakePod("systemd", "guaranteed") as idle, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            # Two burners in a, one in b: the kernel schedules them across both CPUs.
            procs = [a.run([sys.executable, "-c", BURN % 1.5]) for _ in range(2)]
            procs.append(b.run([sys.executable, "-c", BURN % 1.0]))
            # While they run, the counter already moves (slices in progress are counted): wait
            # for it rather than a fixed time (the burners compete with the agent for the two
            # CPUs, so a collection may come late), but only as long as a's burners run.
            while True:
                live = e2e.metric_value(agent.metrics(), "bpfdiag_cpu_seconds_total",
                                        container_id=a.container_id)
                running = any(p.poll() is None for p in procs[:2])  # after the read
                if live or not running:
                    break
                time.sleep(0.05)
            self.assertIsNotNone(live, "no live series for the busy container")
            self.assertGreater(live, 0.0)
            self.assertTrue(running, "the counter moved only once the burners were done")
            for p in procs:
                self.assertEqual(p.wait(timeout=60), 0)
            agent.wait_collections(2)
            self.check_pod(agent, a, 2.9)
            self.check_pod(agent, b, 0.95)
            # Nothing ran in the idle pod: no CPU may be attributed to it.
            idle_cpu = e2e.metric_value(agent.metrics(), "bpfdiag_cpu_seconds_total",
                                        container_id=idle.container_id) or 0.0
            self.assertLess(idle_cpu, 0.001)
            # Counters never go backwards across collections.
            before = e2e.metric_value(agent.metrics(), "bpfdiag_cpu_seconds_total",
                                      container_id=a.container_id)
            agent.wait_collections(1)
            after = e2e.metric_value(agent.metrics(), "bpfdiag_cpu_seconds_total",
                                     container_id=a.container_id)
            self.assertGreaterEqual(after, before)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
