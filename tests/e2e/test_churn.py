"""Churn and overflow: kubelet-shaped cgroups created, made busy and removed ~100 per second
(30 s by default; BPFDIAG_CHURN_SECONDS=120 for the full two minutes) — map entries, series and
memory come back to their baseline, a second round does not grow memory (no leak), and every
removal is counted; more cgroups than a map holds — overflow counted, no crash, the agent keeps
serving."""
import contextlib
import os
import random
import shutil
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
        """Returns [(cgroup id, container id)] of the cgroups churned."""
        done = []
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
                done.append((os.stat(ctr).st_ino, os.path.basename(ctr)[15:79]))
            finally:
                os.rmdir(ctr)
                os.rmdir(pod)
            n += 1
            # Pace to RATE per second.
            ahead = n / RATE - (time.time() - start)
            if ahead > 0:
                time.sleep(ahead)
        return done

    def in_map(self, cgid):
        key = " ".join("%d" % b for b in cgid.to_bytes(8, "little"))
        return subprocess.run(["bpftool", "map", "lookup", "pinned",
                               os.path.join(self.pin, "cpu_stats"), "key"] + key.split(),
                              capture_output=True).returncode == 0

    def settle(self, agent, sample, removed_min, timeout=60):
        """Waits until the removals are counted and the sampled cgroups' entries are freed.
        Only the test's own cgroups are looked at: other cgroups on the machine may come and
        go meanwhile."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            removed = e2e.metric_value(agent.metrics(), "bpfdiag_agent_cgroups_removed_total")
            left = [c for c in sample if self.in_map(c)]
            if removed >= removed_min and not left:
                return removed
            time.sleep(1)
        self.fail("did not settle: %d removed (want >= %d), %d of %d sampled cgroups still in "
                  "cpu_stats" % (removed, removed_min, len(left), len(sample)))

    def test_churn_returns_to_baseline(self):
        qos, made = self.qos()
        home = own_cgroup()
        bpffs = e2e.Bpffs().__enter__()
        self.pin = os.path.join(bpffs.path, "bpfdiag")
        # Little ASan quarantine, so freed memory shows as freed.
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"}
        try:
            with Busy() as busy, e2e.Agent("--interval", "1", "--pin-dir", self.pin,
                                           "--series-retention", "3", env=env) as agent:
                agent.wait_collections(2)
                rss0 = rss_kib(agent.proc.pid)
                rounds = []
                removed = e2e.metric_value(agent.metrics(), "bpfdiag_agent_cgroups_removed_total")
                for i in range(2):
                    done = self.churn_round(busy, qos, home, CHURN_SECONDS / 2)
                    n = len(done)
                    self.assertGreater(n, RATE * CHURN_SECONDS / 2 * 0.5)
                    removed = self.settle(agent, [c for c, _ in random.sample(done, 40)],
                                          removed + int(n * 0.95))
                    # Past the series retention (3 s after each removal, one collection a
                    # second): wait for the series to go rather than a fixed time, which a
                    # collection delayed on a loaded machine could outlast.
                    ours = {cid for _, cid in done}
                    deadline = time.time() + 30
                    while True:
                        left = {l.get("container_id") for n_, l, v in agent.metrics()
                                if n_ == "bpfdiag_cpu_seconds_total"} & ours
                        if not left or time.time() > deadline:
                            break
                        time.sleep(0.5)
                    rounds.append((n, removed, rss_kib(agent.proc.pid)))
                    print("round %d: %d cgroups churned (%.0f/s); after: sampled entries freed, "
                          "%d of their series left, %d removed in all, RSS %d KiB (start %d)"
                          % (i + 1, n, n / (CHURN_SECONDS / 2), len(left), removed,
                             rounds[-1][2], rss0))
                    self.assertEqual(left, set())
                # No growth from one round to the next: nothing leaks per cgroup.
                self.assertLess(rounds[1][2] - rounds[0][2], 4096)
                self.assertEqual(agent.get("/healthz")[0], 200)
        finally:
            self.cleanup(made)
            bpffs.__exit__(None, None, None)

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
                # The full map was read in batches (bpf_map_lookup_batch; this kernel takes
                # them for every map type the agent walks), never key by key.
                batch = e2e.metric_value(m, "bpfdiag_agent_map_reads_total", method="batch")
                per_key = e2e.metric_value(m, "bpfdiag_agent_map_reads_total", method="per_key")
                print("map walks: %d batched, %d per key" % (batch, per_key))
                self.assertGreater(batch, 0)
                self.assertEqual(per_key, 0)
                self.assertEqual(agent.get("/healthz")[0], 200)
                self.assertIsNone(agent.proc.poll())
        finally:
            self.cleanup(dirs + made)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
