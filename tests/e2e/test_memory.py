"""Memory per container from the cgroup's own files (cgroup v2 memory.*, or the v1 memory
controller on hybrid hosts, at the same relative path): the working set agrees with usage -
inactive_file within 2 % for a container holding a known allocation; a container forced past
its memory limit is counted exactly once as OOM-killed, and RS-05 fires for it with the count
and the working set at the kill in its evidence; oom:mark_victim logs the victim's command and
pid naming its container, charges the victim's container and not the one whose allocation
triggered the OOM, and counts a kill whose cgroup is removed before the next collection."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import kube_e2e as ke  # noqa: E402

# Holds n MiB of anonymous memory, touched page by page, until killed.
HOLD = ("import sys, time\n"
        "b = bytearray(%d << 20)\n"
        "for i in range(0, len(b), 4096): b[i] = 1\n"
        "sys.stdout.write('held\\n'); sys.stdout.flush()\n"
        "time.sleep(600)\n")
# Grows by 8 MiB steps until the OOM killer stops it.
GROW = ("chunks = []\n"
        "while True:\n"
        "    c = bytearray(8 << 20)\n"
        "    for i in range(0, len(c), 4096): c[i] = 1\n"
        "    chunks.append(c)\n")
# Grows to n MiB in 4 MiB steps, then holds it.
GROW_TO = ("import sys, time\n"
           "chunks = []\n"
           "for _ in range(%d // 4):\n"
           "    c = bytearray(4 << 20)\n"
           "    for i in range(0, len(c), 4096): c[i] = 1\n"
           "    chunks.append(c)\n"
           "sys.stdout.write('grown\\n'); sys.stdout.flush()\n"
           "time.sleep(600)\n")


class PodMemory:
    """A pod-level memory limit over two container cgroups (a, b: paths relative to the v2
    root): the pod's v2 memory files when v2 has the controller, else v1 memory cgroups at the
    same relative paths. procs(rel): the cgroup.procs files a process of that container joins."""

    def __init__(self, root, rels, limit_mib):
        self.root, self.rels, self.limit = root, rels, limit_mib
        self.made = []

    def __enter__(self):
        pod_rel = os.path.dirname(self.rels[0])
        with open(os.path.join(self.root, "cgroup.controllers")) as f:
            self.v1 = None if "memory" in f.read().split() else e2e.cgroup1_root("memory")
        if self.v1 is None:
            cur = self.root
            for part in pod_rel.strip("/").split("/"):
                with open(os.path.join(cur, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory")
                cur = os.path.join(cur, part)
            self.write(cur, "memory.max", self.limit << 20)
            self.write(cur, "memory.swap.max", 0)
            return self
        pod_dir, self.made = e2e.mkdirs_under(self.v1, pod_rel)
        for rel in self.rels:
            os.mkdir(self.v1 + rel)
            self.made.append(self.v1 + rel)
        self.write(pod_dir, "memory.limit_in_bytes", self.limit << 20)
        if os.path.exists(os.path.join(pod_dir, "memory.memsw.limit_in_bytes")):
            self.write(pod_dir, "memory.memsw.limit_in_bytes", self.limit << 20)
        return self

    @staticmethod
    def write(d, name, value):
        with open(os.path.join(d, name), "w") as f:
            f.write(str(value))

    def procs(self, rel):
        out = [self.root + rel + "/cgroup.procs"]
        if self.v1:
            out.append(self.v1 + rel + "/cgroup.procs")
        return out

    def __exit__(self, *exc):
        e2e.rmdirs(self.made)
        return False


class Memory:
    """The memory controller of a fake pod's container cgroup: the v2 files when the v2
    hierarchy has the controller, else a v1 memory cgroup at the same relative path (the
    process joins both). limit_mib: a limit (and, on v1, the same memory+swap limit)."""

    def __init__(self, pod, limit_mib=None):
        self.pod, self.limit = pod, limit_mib
        self.v1_dirs = []
        self.dir = None

    def __enter__(self):
        with open(os.path.join(self.pod.root, "cgroup.controllers")) as f:
            v2 = "memory" in f.read().split()
        if v2:
            cur = self.pod.root
            for part in self.pod.rel.strip("/").split("/"):
                with open(os.path.join(cur, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory")
                cur = os.path.join(cur, part)
            self.dir, self.v1 = self.pod.path, False
            if self.limit:
                self.write("memory.max", self.limit << 20)
                self.write("memory.swap.max", 0)
            return self
        v1 = e2e.cgroup1_root("memory")
        if not v1:
            raise unittest.SkipTest("no memory controller on v2 or v1")
        cur, self.v1_dirs = e2e.mkdirs_under(v1, self.pod.rel)
        self.dir, self.v1 = cur, True
        if self.limit:
            self.write("memory.limit_in_bytes", self.limit << 20)
            if os.path.exists(os.path.join(cur, "memory.memsw.limit_in_bytes")):
                self.write("memory.memsw.limit_in_bytes", self.limit << 20)
        return self

    def write(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(str(value))

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read()

    def stat(self, key):
        for line in self.read("memory.stat").splitlines():
            k, v = line.split()
            if k == ("total_" + key if self.v1 else key):
                return int(v)
        raise KeyError(key)

    def working_set(self):
        usage = int(self.read("memory.usage_in_bytes" if self.v1 else "memory.current"))
        return max(usage - self.stat("inactive_file"), 0)

    def oom_kills(self):
        name = "memory.oom_control" if self.v1 else "memory.events"
        for line in self.read(name).splitlines():
            k, v = line.split()
            if k == "oom_kill":
                return int(v)
        return 0

    def run(self, argv, **kw):
        procs = [os.path.join(self.pod.path, "cgroup.procs")]
        if self.v1:
            procs.append(os.path.join(self.dir, "cgroup.procs"))
        return e2e.run_in_cgroups(procs, argv, **kw)

    def __exit__(self, *exc):
        e2e.rmdirs(self.v1_dirs)
        return False


def findings(agent):
    status, body = agent.get("/api/v1/findings")
    assert status == 200
    return json.loads(body)["findings"]


class MemoryTest(unittest.TestCase):
    def test_working_set_of_a_known_allocation(self):
        with e2e.FakePod() as pod, Memory(pod) as mem, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            p = mem.run([sys.executable, "-c", HOLD % 96], stdout=subprocess.PIPE)
            try:
                self.assertEqual(p.stdout.readline(), b"held\n")
                agent.wait_collections(2)
                m = agent.metrics()
                cid = pod.container_id
                got = e2e.metric_value(m, "bpfdiag_memory_working_set_bytes", container_id=cid)
                truth = mem.working_set()
                self.assertIsNotNone(got, "no working set for the container")
                err = abs(got - truth) / truth
                rss = e2e.metric_value(m, "bpfdiag_memory_rss_bytes", container_id=cid)
                print("working set: agent %.1f MiB, cgroup %.1f MiB, error %.3f%%; rss %.1f MiB"
                      % (got / 2**20, truth / 2**20, err * 100, rss / 2**20))
                self.assertLess(err, 0.02)
                # The allocation is anonymous memory, all of it resident.
                self.assertGreaterEqual(rss, 96 << 20)
                self.assertGreaterEqual(got, 96 << 20)
                # No limit set: no limit gauge; no kill.
                self.assertIsNone(e2e.metric_value(m, "bpfdiag_memory_limit_bytes",
                                                   container_id=cid))
                self.assertEqual(e2e.metric_value(m, "bpfdiag_memory_oom_kills_total",
                                                  container_id=cid), 0)
            finally:
                p.kill()
                p.wait()
                p.stdout.close()

    def test_oom_kill_counted_once_and_rs05(self):
        with e2e.FakePod() as pod, Memory(pod, limit_mib=64) as mem, \
                e2e.FakePod() as calm, Memory(calm) as calm_mem, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--window", "5",
                          "--warmup", "0") as agent:
            quiet = calm_mem.run([sys.executable, "-c", HOLD % 16], stdout=subprocess.PIPE)
            try:
                self.assertEqual(quiet.stdout.readline(), b"held\n")
                agent.wait_collections(2)
                p = mem.run([sys.executable, "-c", GROW])
                self.assertEqual(p.wait(timeout=60), -9, "the grower was not OOM-killed")
                self.assertEqual(mem.oom_kills(), 1)
                cid = pod.container_id
                deadline = time.time() + 30
                f = []
                while time.time() < deadline and not f:
                    f = [x for x in findings(agent)
                         if x["rule"] == "RS-05" and x["workload"] == cid]
                    time.sleep(0.5)
                self.assertTrue(f, "no RS-05: %s" % findings(agent))
                m = agent.metrics()
                kills = e2e.metric_value(m, "bpfdiag_memory_oom_kills_total", container_id=cid)
                self.assertEqual(kills, 1)
                self.assertEqual(e2e.metric_value(m, "bpfdiag_memory_limit_bytes",
                                                  container_id=cid), 64 << 20)
                ev = f[0]["evidence"]
                print("RS-05: %s; evidence %s" % (f[0]["message"], ev))
                self.assertEqual(ev["oom_kills"], 1)
                self.assertEqual(ev["limit_bytes"], 64 << 20)
                # The grower died within its first interval: the peak usage shows the kill
                # at the limit (within the 8 MiB step it failed at).
                self.assertGreater(ev["peak_usage_bytes"], 56 << 20)
                self.assertLessEqual(ev["peak_usage_bytes"], 64 << 20)
                self.assertIn("OOM-killed 1 time(s)", f[0]["message"])
                # The calm container beside it: no kill, no finding.
                self.assertEqual(e2e.metric_value(m, "bpfdiag_memory_oom_kills_total",
                                                  container_id=calm.container_id), 0)
                self.assertEqual([x for x in findings(agent)
                                  if x["workload"] == calm.container_id], [])
                # Counted once: later collections add nothing.
                agent.wait_collections(3)
                self.assertEqual(e2e.metric_value(agent.metrics(),
                                                  "bpfdiag_memory_oom_kills_total",
                                                  container_id=cid), 1)
                # oom:mark_victim names the victim (its command and pid) and its container in
                # one log line; both sources saw the one kill.
                lines = [l for l in agent.logs().splitlines() if "OOM kill: " in l]
                print("\n".join(lines))
                if "oom=mark_victim" in agent.logs():
                    comm = os.path.basename(sys.executable)[:15]
                    self.assertEqual(len(lines), 1, lines)
                    self.assertIn("OOM kill: %s (pid %d) killed in container" % (comm, p.pid),
                                  lines[0])
                    self.assertIn(cid, lines[0])
                    self.assertIn("1 kill(s) seen by oom:mark_victim", lines[0])
                    m = agent.metrics()
                    for src in ("tracepoint", "memory_events"):
                        self.assertEqual(e2e.metric_value(
                            m, "bpfdiag_agent_oom_kills_one_source", seen_by=src), 0)
                else:
                    print("skip the mark_victim checks: the kernel's oom:mark_victim does "
                          "not pass the victim task")
            finally:
                quiet.kill()
                quiet.wait()
                quiet.stdout.close()

    def test_oom_victim_is_charged_not_the_trigger(self):
        """Two containers under one pod-level limit (96 MiB): a hog holding 56 MiB, then a
        grower in the other container that allocates toward 44 MiB. The grower's allocation
        triggers the OOM; the killer picks the larger, the hog. The kill is the victim's
        container's (the hog's), in the metric and in the log line with its command and pid,
        never the triggering container's."""
        with e2e.FakePod() as pod, ke.ExtraContainer(pod) as other, \
                e2e.Agent("--interval", "0.5", "--window", "5", "--warmup", "0") as agent:
            rel_b = os.path.join(os.path.dirname(pod.rel), os.path.basename(other.path))
            with PodMemory(pod.root, [pod.rel, rel_b], 96) as pm:
                hog = e2e.run_in_cgroups(pm.procs(rel_b), [sys.executable, "-c", HOLD % 56],
                                         stdout=subprocess.PIPE)
                grower = None
                try:
                    self.assertEqual(hog.stdout.readline(), b"held\n")
                    agent.wait_collections(2)
                    grower = e2e.run_in_cgroups(pm.procs(pod.rel),
                                                [sys.executable, "-c", GROW_TO % 44],
                                                stdout=subprocess.PIPE)
                    self.assertEqual(grower.stdout.readline(), b"grown\n")
                    self.assertEqual(hog.wait(timeout=30), -9, "the hog was not OOM-killed")
                    self.assertIsNone(grower.poll(), "the trigger was killed")
                    victim, trigger = other.container_id, pod.container_id
                    deadline = time.time() + 20
                    while time.time() < deadline and e2e.metric_value(
                            agent.metrics(), "bpfdiag_memory_oom_kills_total",
                            container_id=victim) != 1:
                        time.sleep(0.3)
                    agent.wait_collections(2)
                    m = agent.metrics()
                    got = {c: e2e.metric_value(m, "bpfdiag_memory_oom_kills_total",
                                               container_id=c) for c in (victim, trigger)}
                    print("OOM kills: victim %s, trigger %s" % (got[victim], got[trigger]))
                    self.assertEqual(got[victim], 1)
                    self.assertIn(got[trigger], (0, None))
                    lines = [l for l in agent.logs().splitlines() if "OOM kill: " in l]
                    print("\n".join(lines))
                    if "oom=mark_victim" not in agent.logs():
                        print("skip the log line checks: the kernel's oom:mark_victim does "
                              "not pass the victim task")
                        return
                    self.assertEqual(len(lines), 1, lines)
                    self.assertIn("(pid %d) killed in container" % hog.pid, lines[0])
                    self.assertIn(victim, lines[0])
                    self.assertNotIn(trigger, lines[0])
                finally:
                    for p in (hog, grower):
                        if p and p.poll() is None:
                            p.kill()
                        if p:
                            p.wait()
                            p.stdout.close()

    def test_oom_kill_of_a_cgroup_removed_before_the_next_collection(self):
        """A container OOM-killed and its cgroup removed between two collections (3 s apart):
        memory.events is gone with it, oom:mark_victim saw the kill, and its entry is read a
        last time at cgroup_rmdir: counted once, by the tracepoint only."""
        with e2e.FakePod() as pod, \
                e2e.Agent("--interval", "3", "--window", "30", "--warmup", "0") as agent:
            if "oom=mark_victim" not in agent.logs():
                self.skipTest("the kernel's oom:mark_victim does not pass the victim task")
            with ke.ExtraContainer(pod) as gone:
                rel = os.path.join(os.path.dirname(pod.rel), os.path.basename(gone.path))
                with PodMemory(pod.root, [rel], 64) as pm:
                    calm = e2e.run_in_cgroups(pm.procs(rel), [sys.executable, "-c", HOLD % 4],
                                              stdout=subprocess.PIPE)
                    self.assertEqual(calm.stdout.readline(), b"held\n")
                    calm.stdout.close()
                    agent.wait_collections(2)  # the container has its series
                    calm.kill()
                    calm.wait()
                    agent.wait_collections(1)  # right after a collection: 3 s to go
                    t0 = time.time()
                    p = e2e.run_in_cgroups(pm.procs(rel), [sys.executable, "-c", GROW])
                    self.assertEqual(p.wait(timeout=30), -9, "the grower was not OOM-killed")
                    if pm.v1:
                        os.rmdir(pm.made.pop())  # the container's v1 memory cgroup
                    os.rmdir(gone.path)
                    print("killed and removed in %.2f s" % (time.time() - t0))
                    self.assertLess(time.time() - t0, 2.5, "too slow: a collection came between")
            agent.wait_collections(2)
            m = agent.metrics()
            cid = gone.container_id
            kills = e2e.metric_value(m, "bpfdiag_memory_oom_kills_total", container_id=cid)
            one = e2e.metric_value(m, "bpfdiag_agent_oom_kills_one_source", seen_by="tracepoint")
            lines = [l for l in agent.logs().splitlines() if "OOM kill: " in l]
            print("kills %s; seen by the tracepoint only %s\n%s" % (kills, one, "\n".join(lines)))
            self.assertEqual(kills, 1)
            self.assertEqual(one, 1)
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(cid, lines[0])
            self.assertIn("(pid %d)" % p.pid, lines[0])


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
