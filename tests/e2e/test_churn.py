"""Churn and overflow: kubelet-shaped cgroups created, made busy and removed ~100 per second
(30 s by default; BPFDIAG_CHURN_SECONDS=120 for the full two minutes) — map entries, series and
memory come back to their baseline, a second round does not grow memory (no leak), and every
removal is counted; more cgroups than a map holds — overflow counted, no crash, the agent keeps
serving."""
import contextlib
import os
import signal
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

CHURN_SECONDS = float(os.environ.get("BPFDIAG_CHURN_SECONDS", "30"))
RATE = 100

# A helper that runs once per byte it reads: moved into a cgroup, woken, it is charged there.
HELPER = r"""
import os, sys
while True:
    b = os.read(0, 1)
    if not b:
        break
    os.write(1, b)
"""


class Busy:
    """One helper process moved from cgroup to cgroup and woken in each."""

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, bufsize=0)
        return self

    def visit(self, path, home):
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(self.p.pid))
        self.p.stdin.write(b"x")
        self.p.stdout.read(1)  # it ran inside, then blocked: its slice is charged there
        with open(os.path.join(home, "cgroup.procs"), "w") as f:
            f.write(str(self.p.pid))

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()
        return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([l for l in f if l.startswith("VmRSS:")][0].split()[1])


def own_cgroup():
    with open("/proc/self/cgroup") as f:
        rel = [l.split(":", 2)[2].strip() for l in f if l.startswith("0::")][0]
    return os.path.join(e2e.cgroup2_root(), rel.lstrip("/"))


class Churn(unittest.TestCase):
    def qos(self):
        root = e2e.cgroup2_root()
        made = []
        for d in ("kubepods.slice", "kubepods.slice/kubepods-besteffort.slice"):
            d = os.path.join(root, d)
            if not os.path.isdir(d):
                os.mkdir(d)
                made.append(d)
        return os.path.join(root, "kubepods.slice/kubepods-besteffort.slice"), made

    def cleanup(self, dirs):
        for d in reversed(dirs):
            with contextlib.suppress(OSError):
                os.rmdir(d)

    def churn_round(self, busy, qos, home, seconds):
        n = 0
        start = time.time()
        while time.time() - start < seconds:
            uid = str(uuid.uuid4())
            pod = os.path.join(qos, "kubepods-besteffort-pod%s.slice" % uid.replace("-", "_"))
            ctr = os.path.join(pod, "cri-containerd-%s.scope" % (uuid.uuid4().hex * 2))
            os.mkdir(pod)
            os.mkdir(ctr)
            try:
                busy.visit(ctr, home)
            finally:
                os.rmdir(ctr)
                os.rmdir(pod)
            n += 1
            # Pace to RATE per second.
            ahead = n / RATE - (time.time() - start)
            if ahead > 0:
                time.sleep(ahead)
        return n

    def settle(self, agent, entries_max, removed_min, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = agent.metrics()
            entries = e2e.metric_value(m, "bpfdiag_agent_map_entries", map="cpu_stats")
            removed = e2e.metric_value(m, "bpfdiag_agent_cgroups_removed_total")
            series = len({l.get("container_id") for n, l, v in m
                          if n == "bpfdiag_cpu_seconds_total"})
            if entries <= entries_max and removed >= removed_min:
                return entries, removed, series
            time.sleep(1)
        self.fail("did not settle: %d cpu_stats entries (want <= %d), %d removed (want >= %d)"
                  % (entries, entries_max, removed, removed_min))

    def test_churn_returns_to_baseline(self):
        qos, made = self.qos()
        home = own_cgroup()
        # Little ASan quarantine, so freed memory shows as freed.
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"}
        try:
            with Busy() as busy, e2e.Agent("--interval", "1", "--pin-dir", "none",
                                           "--series-retention", "3", env=env) as agent:
                agent.wait_collections(2)
                m = agent.metrics()
                entries0 = e2e.metric_value(m, "bpfdiag_agent_map_entries", map="cpu_stats")
                series0 = len({l.get("container_id") for n, l, v in m
                               if n == "bpfdiag_cpu_seconds_total"})
                rss0 = rss_kib(agent.proc.pid)
                rounds = []
                for i in range(2):
                    n = self.churn_round(busy, qos, home, CHURN_SECONDS / 2)
                    removed_before = rounds[-1][1] if rounds else 0
                    entries, removed, series = self.settle(agent, entries0 + 5,
                                                           removed_before + int(n * 0.95))
                    time.sleep(4)  # past the series retention
                    agent.wait_collections(2)
                    m = agent.metrics()
                    series = len({l.get("container_id") for n_, l, v in m
                                  if n_ == "bpfdiag_cpu_seconds_total"})
                    rounds.append((n, removed, entries, series, rss_kib(agent.proc.pid)))
                    print("round %d: %d cgroups churned (%.0f/s); after: %d cpu_stats entries "
                          "(baseline %d), %d series (baseline %d), %d removed, RSS %d KiB "
                          "(baseline %d)" % (i + 1, n, n / (CHURN_SECONDS / 2), entries,
                                             entries0, series, series0, removed,
                                             rounds[-1][4], rss0))
                    self.assertGreater(n, RATE * CHURN_SECONDS / 2 * 0.5)
                    self.assertLessEqual(series, series0 + 5)
                # No growth from one round to the next: nothing leaks per cgroup.
                self.assertLess(rounds[1][4] - rounds[0][4], 4096)
                self.assertEqual(agent.get("/healthz")[0], 200)
        finally:
            self.cleanup(made)

    def test_more_cgroups_than_the_map_holds(self):
        qos, made = self.qos()
        home = own_cgroup()
        dirs = []
        try:
            with Busy() as busy, e2e.Agent("--interval", "0.5", "--pin-dir", "none",
                                           "--max-cgroups", "64") as agent:
                for _ in range(100):
                    uid = str(uuid.uuid4()).replace("-", "_")
                    pod = os.path.join(qos, "kubepods-besteffort-pod%s.slice" % uid)
                    ctr = os.path.join(pod, "cri-containerd-%s.scope" % (uuid.uuid4().hex * 2))
                    os.mkdir(pod)
                    os.mkdir(ctr)
                    dirs += [pod, ctr]
                    busy.visit(ctr, home)
                agent.wait_collections(2)
                m = agent.metrics()
                overflow = e2e.metric_value(m, "bpfdiag_agent_map_overflow_total",
                                            map="cpu_stats")
                entries = e2e.metric_value(m, "bpfdiag_agent_map_entries", map="cpu_stats")
                cap = e2e.metric_value(m, "bpfdiag_agent_map_capacity", map="cpu_stats")
                print("cpu_stats: %d of %d entries, %d overflows" % (entries, cap, overflow))
                self.assertEqual(cap, 64)
                self.assertEqual(entries, 64)
                self.assertGreater(overflow, 0)
                self.assertGreater(e2e.metric_value(m, "bpfdiag_agent_cpu_dropped_seconds_total"),
                                   0)
                self.assertEqual(agent.get("/healthz")[0], 200)
                self.assertIsNone(agent.proc.poll())
        finally:
            self.cleanup(dirs + made)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
