"""Run-queue waits (sum and histogram), cpu-clock samples (opt-in), the CPU time of a task that
keeps its CPU at each collection, and CPU throttling and limit read from the cgroup's own files
(cgroup v2 cpu.max, or the v1 cpu controller on hybrid hosts, at the same relative path)."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

BURN = "import time\nend=time.time()+%f\nwhile time.time()<end: pass\n"
# Burns, then prints the kernel's own count of the time this task waited on a run queue.
BURN_DELAY = BURN + "print(open('/proc/self/schedstat').read().split()[1])\n"


def v1_cpu_root():
    return e2e.cgroup1_root("cpu")


class Limit:
    """A CPU limit on the pod's container cgroup: cpu.max when the v2 hierarchy has the cpu
    controller, else cfs quota on the v1 cpu hierarchy (the process joins both)."""

    def __init__(self, pod, cores):
        self.pod, self.cores = pod, cores
        self.v1_dirs = []
        self.enabled = []

    def __enter__(self):
        root = self.pod.root
        with open(os.path.join(root, "cgroup.controllers")) as f:
            v2 = "cpu" in f.read().split()
        if v2:
            cur = root
            for part in self.pod.rel.strip("/").split("/")[:-1]:
                with open(os.path.join(cur, "cgroup.subtree_control"), "w") as f:
                    f.write("+cpu")
                cur = os.path.join(cur, part)
            with open(os.path.join(cur, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
            with open(os.path.join(self.pod.path, "cpu.max"), "w") as f:
                f.write("%d 100000" % int(self.cores * 100000))
            self.procs_v1 = None
        else:
            cur, self.v1_dirs = e2e.mkdirs_under(v1_cpu_root(), self.pod.rel)
            with open(os.path.join(cur, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(cur, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(int(self.cores * 100000)))
            self.procs_v1 = os.path.join(cur, "cgroup.procs")
        return self

    def run(self, argv):
        procs = [os.path.join(self.pod.path, "cgroup.procs")]
        if self.procs_v1:
            procs.append(self.procs_v1)
        return e2e.run_in_cgroups(procs, argv)

    def __exit__(self, *exc):
        e2e.rmdirs(self.v1_dirs)
        return False


class CpuExtras(unittest.TestCase):
    def test_runqueue_and_samples(self):
        with e2e.FakePod() as pod, e2e.Agent("--interval", "0.5", "--pin-dir", "none",
                                             "--cpu-samples", "99") as agent:
            # Three busy tasks on two CPUs: someone always waits.
            procs = [pod.run([sys.executable, "-c", BURN % 2.0]) for _ in range(3)]
            for p in procs:
                self.assertEqual(p.wait(timeout=60), 0)
            agent.wait_collections(2)
            m = agent.metrics()
            cid = pod.container_id
            wait = e2e.metric_value(m, "bpfdiag_cpu_runqueue_wait_seconds_total",
                                    container_id=cid)
            count = e2e.metric_value(m, "bpfdiag_cpu_runqueue_latency_seconds_count",
                                     container_id=cid)
            inf = e2e.metric_value(m, "bpfdiag_cpu_runqueue_latency_seconds_bucket",
                                   container_id=cid, le="+Inf")
            hsum = e2e.metric_value(m, "bpfdiag_cpu_runqueue_latency_seconds_sum",
                                    container_id=cid)
            samples = e2e.metric_value(m, "bpfdiag_cpu_samples_total", container_id=cid)
            cpu = e2e.metric_value(m, "bpfdiag_cpu_seconds_total", container_id=cid)
            print("cpu %.2fs, run-queue wait %.2fs over %d waits, %d samples" % (
                cpu, wait, count, samples))
            # 6 s of demand on 2 CPUs for ~2 s: about a third of it was spent waiting.
            self.assertGreater(wait, 0.5)
            self.assertEqual(count, inf)
            self.assertAlmostEqual(hsum, wait, places=6)
            # 99 Hz sampling of ~4 CPU-seconds: hundreds of samples, within a loose band.
            self.assertGreater(samples, cpu * 99 * 0.6)
            self.assertLess(samples, cpu * 99 * 1.4)

    def test_sample_rate_and_none(self):
        """--cpu-samples sets the sampling rate (19 Hz: ~19 samples per CPU-second); by default
        no perf event is opened at all: no samples series, no samples probe, and the CPU time
        still equals cpu.stat's (each collection flushes every CPU's pending counts)."""
        for hz in (19, None):
            args = ("--cpu-samples", str(hz)) if hz else ()
            with self.subTest(hz=hz), e2e.FakePod() as pod, \
                    e2e.Agent("--interval", "0.5", "--pin-dir", "none", *args) as agent:
                procs = [pod.run([sys.executable, "-c", BURN % 1.5]) for _ in range(2)]
                for p in procs:
                    self.assertEqual(p.wait(timeout=60), 0)
                truth = pod.usage_seconds()
                agent.wait_collections(2)
                m = agent.metrics()
                cid = pod.container_id
                cpu = e2e.metric_value(m, "bpfdiag_cpu_seconds_total", container_id=cid)
                samples = e2e.metric_value(m, "bpfdiag_cpu_samples_total", container_id=cid)
                probe = e2e.metric_value(m, "bpfdiag_agent_probe_info", family="samples",
                                         probe="perf_cpu_clock")
                print("--cpu-samples %s: cpu %.3fs (cpu.stat %.3fs), samples %s" % (
                    hz, cpu, truth, samples))
                # cpu.stat read after the burners exited; the agent may add the exits' tail.
                self.assertGreater(truth, 2.0)
                self.assertLess(abs(cpu - truth), truth * 0.02 + 0.01)
                self.assertIn("flush=collection", agent.logs())
                if hz:
                    self.assertIn("samples=19Hz", agent.logs())
                    self.assertEqual(probe, 1)
                    self.assertGreater(samples, cpu * hz * 0.6)
                    self.assertLess(samples, cpu * hz * 1.4)
                else:
                    self.assertIn("no cpu-clock samples", agent.logs())
                    self.assertNotIn("samples=", agent.logs())
                    self.assertIsNone(probe)
                    self.assertIsNone(samples)
                    fds = os.listdir("/proc/%d/fd" % agent.proc.pid)
                    links = [os.readlink("/proc/%d/fd/%s" % (agent.proc.pid, f)) for f in fds]
                    self.assertNotIn("anon_inode:[perf_event]", links)

    def test_running_task_charged_at_each_collection(self):
        """Without samples (the default), each collection first charges the task running on
        every CPU its time so far (and flushes the CPU's pending counts): a task that keeps its
        CPU shows at every collection the CPU time cpu.stat gives it, not only what it had at
        its last switch-out. The loop runs SCHED_FIFO on one CPU, so no other task of this busy
        machine takes that CPU from it for more than moments (a few switch-outs a second)."""
        cpu = max(os.sched_getaffinity(0))
        with e2e.FakePod() as pod, e2e.Agent("--interval", "0.3", "--pin-dir", "none") as agent:
            proc = pod.run(["chrt", "-f", "1", "taskset", "-c", str(cpu), sys.executable,
                            "-c", BURN % 4.0])
            cid = pod.container_id
            checked = []
            prev = None  # (monotonic time before the scrape, collections it saw)
            while proc.poll() is None and len(checked) < 10:
                t0 = time.monotonic()
                m = agent.metrics()
                usage = pod.usage_seconds()
                t1 = time.monotonic()
                n = e2e.metric_value(m, "bpfdiag_agent_collections_total")
                got = e2e.metric_value(m, "bpfdiag_cpu_seconds_total", container_id=cid)
                if prev and n == prev[1] + 1 and got and usage > 0.2 and proc.poll() is None:
                    # This collection ended after the previous scrape began, so it began (and
                    # flushed) at most its duration before that. The loop, one thread, gains
                    # at most one CPU-second per second since then; 10 ms for the clocks'
                    # ticks (sum_exec_runtime moves at each tick and switch, for both sides).
                    dur = e2e.metric_value(m, "bpfdiag_agent_collection_duration_seconds")
                    bound = (t1 - prev[0]) + dur + 0.01
                    checked.append((usage - got, bound))
                prev = (t0, n)
            self.assertEqual(proc.wait(timeout=60), 0)
            print("behind cpu.stat (s) / bound, at %d collections while the loop ran: %s" % (
                len(checked), ", ".join("%.4f/%.4f" % c for c in checked)))
            self.assertGreaterEqual(len(checked), 5, "too few collections seen while it ran")
            for lag, bound in checked:
                self.assertLess(lag, bound, "the running task's time is missing")
            m = agent.metrics()
            self.assertGreater(e2e.metric_value(m, "bpfdiag_agent_cpu_flushes_total",
                                                result="done"), 0)
            self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_cpu_flushes_total",
                                              result="failed"), 0)
            self.assertIsNone(e2e.metric_value(m, "bpfdiag_cpu_samples_total"))

    def test_runqueue_wait_both_methods(self):
        """The run-queue wait agrees with the kernel's own run_delay of the tasks that waited,
        read from sched_info at sched_switch (the default), and from sched_wakeup timestamps
        (the fallback, asked for), each reported as the probe in use."""
        for mode, probe, tolerance in (("sched-info", "sched_switch+sched_info", 0.02),
                                       ("wakeup", "sched_switch+wakeup", 0.05)):
            with self.subTest(mode=mode), e2e.FakePod() as pod, \
                    e2e.Agent("--interval", "0.5", "--pin-dir", "none",
                              "--cpu-probe", mode) as agent:
                self.assertEqual(e2e.metric_value(agent.metrics(), "bpfdiag_agent_probe_info",
                                                  family="cpu", probe=probe), 1)
                procs = [pod.run([sys.executable, "-c", BURN_DELAY % 1.5],
                                 stdout=subprocess.PIPE, text=True) for _ in range(3)]
                truth = sum(int(p.communicate(timeout=60)[0]) for p in procs) / 1e9
                agent.wait_collections(2)
                m = agent.metrics()
                wait = e2e.metric_value(m, "bpfdiag_cpu_runqueue_wait_seconds_total",
                                        container_id=pod.container_id)
                print("%s: agent %.4fs, kernel run_delay %.4fs" % (mode, wait, truth))
                self.assertGreater(truth, 0.3)
                # The agent also counts the waits after the tasks printed (their exit).
                self.assertLess(abs(wait - truth), truth * tolerance + 0.005)

    def test_throttling_and_limit(self):
        with e2e.FakePod() as pod, Limit(pod, 0.2) as limit, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            p = limit.run([sys.executable, "-c", BURN % 2.0])
            self.assertEqual(p.wait(timeout=60), 0)
            agent.wait_collections(2)
            m = agent.metrics()
            cid = pod.container_id
            lim = e2e.metric_value(m, "bpfdiag_cpu_limit_cores", container_id=cid)
            periods = e2e.metric_value(m, "bpfdiag_cpu_periods_total", container_id=cid)
            throttled = e2e.metric_value(m, "bpfdiag_cpu_throttled_periods_total",
                                         container_id=cid)
            tsec = e2e.metric_value(m, "bpfdiag_cpu_throttled_seconds_total", container_id=cid)
            cpu = e2e.metric_value(m, "bpfdiag_cpu_seconds_total", container_id=cid)
            print("limit %.2f cores, %d/%d periods throttled, %.2fs throttled, cpu %.2fs" % (
                lim, throttled, periods, tsec, cpu))
            self.assertAlmostEqual(lim, 0.2, places=3)
            self.assertGreater(periods, 10)
            self.assertGreater(throttled / periods, 0.5)
            self.assertGreater(tsec, 0.5)
            # 2 s at 0.2 cores: the burner got about 0.4 s.
            self.assertLess(cpu, 0.7)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
