"""How late the cgroup files read less often than every collection may be (docs/COLLECTORS.md,
cpu and memory): a container that keeps running has its cpu.pressure read every other
collection and its memory.stat every third, so whatever either file said is exported within
that many collections, never later (a change missed for longer fails here); the counters
stay monotonic. The limits (CPU quota, memory limit) are watched for writes: one written while
the agent runs (a pod resized in place) is exported at the next collection, not at the next
minute's limit read."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

PSI_EVERY, MEM_STAT_EVERY = 2, 3  # host/cgroupfs.h CGROUPFS_PSI_EVERY, _MEM_STAT_EVERY

# Busy, and touching fresh pages all the time: CPU time, page faults and (three of them on
# this VM's two CPUs) CPU pressure grow every collection.
CHURN = ("import mmap\n"
         "while True:\n"
         "    m = mmap.mmap(-1, 1 << 20)\n"  # fresh pages each time (malloc would reuse them)
         "    for i in range(0, len(m), 4096): m[i] = 1\n"
         "    m.close()\n")


def file_value(path, key, field=None):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == key:
                if field is None:
                    return int(parts[1])
                return int(dict(p.split("=") for p in parts[1:])[field])
    raise KeyError(key)


class Cadence(unittest.TestCase):
    def test_running_container_within_documented_lag(self):
        mem_root = None
        with open(os.path.join(e2e.cgroup2_root(), "cgroup.controllers")) as f:
            if "memory" not in f.read().split():
                mem_root = e2e.cgroup1_root("memory")
        with e2e.FakePod() as pod:
            made = []
            procs = [pod.path + "/cgroup.procs"]
            mem_dir = pod.path
            if mem_root:
                mem_dir, made = e2e.mkdirs_under(mem_root, pod.rel)
                procs.append(mem_dir + "/cgroup.procs")
            stat_key = "total_pgfault" if mem_root else "pgfault"
            workers = [e2e.run_in_cgroups(procs, [sys.executable, "-c", CHURN])
                       for _ in range(3)]
            try:
                with e2e.Agent("--interval", "0.5", "--pin-dir", "none") as a:
                    a.wait_collections(3)
                    first = None
                    for _ in range(6):
                        psi = file_value(pod.path + "/cpu.pressure", "some", "total") / 1e6
                        faults = file_value(mem_dir + "/memory.stat", stat_key)
                        # One collection may be under way: it read the files before us.
                        a.wait_collections(PSI_EVERY + 1)
                        m = a.metrics()
                        got_psi = e2e.metric_value(m, "bpfdiag_cpu_pressure_seconds_total",
                                                   container_id=pod.container_id, kind="some")
                        a.wait_collections(MEM_STAT_EVERY - PSI_EVERY)
                        m = a.metrics()
                        got_faults = sum(
                            e2e.metric_value(m, "bpfdiag_memory_page_faults_total",
                                             container_id=pod.container_id, type=t) or 0
                            for t in ("major", "minor"))
                        print("cpu.pressure %.6f s, exported %.6f; pgfault %d, exported %d" % (
                            psi, got_psi or -1, faults, got_faults))
                        self.assertIsNotNone(got_psi)
                        self.assertGreaterEqual(got_psi, psi - 1e-6)
                        self.assertGreaterEqual(got_faults, faults)
                        if first is None:
                            first = (got_psi, got_faults)
                    # Both kept moving: the files were read while the container ran.
                    self.assertGreater(got_psi, first[0])
                    self.assertGreater(got_faults, first[1])
            finally:
                for w in workers:
                    w.kill()
                    w.wait()
                e2e.rmdirs(made)

    def test_limit_written_seen_at_next_collection(self):
        """A quota and a memory limit written mid-run, three times at different points of the
        agent's limit-read cycle (LIMIT_EVERY = 12 collections), are each exported within two
        collections: a read every 12 collections alone would miss that (all three: 1 in 216)."""
        root = e2e.cgroup2_root()
        with open(os.path.join(root, "cgroup.controllers")) as f:
            have = f.read().split()
        with e2e.FakePod() as pod:
            made, procs = [], [pod.path + "/cgroup.procs"]
            cpu_dir = mem_dir = pod.path
            try:
                if "cpu" not in have:
                    cpu_dir, m1 = e2e.mkdirs_under(e2e.cgroup1_root("cpu"), pod.rel)
                    made += m1
                    procs.append(cpu_dir + "/cgroup.procs")
                if "memory" not in have:
                    mem_dir, m2 = e2e.mkdirs_under(e2e.cgroup1_root("memory"), pod.rel)
                    made += m2
                    procs.append(mem_dir + "/cgroup.procs")
                if "cpu" in have or "memory" in have:
                    cur = root
                    for part in pod.rel.strip("/").split("/"):
                        with open(os.path.join(cur, "cgroup.subtree_control"), "w") as f:
                            f.write(" ".join("+" + c for c in ("cpu", "memory") if c in have))
                        cur = os.path.join(cur, part)

                def set_limits(cores, mib):
                    if "cpu" in have:
                        with open(cpu_dir + "/cpu.max", "w") as f:
                            f.write("%d 100000" % int(cores * 100000))
                    else:
                        with open(cpu_dir + "/cpu.cfs_period_us", "w") as f:
                            f.write("100000")
                        with open(cpu_dir + "/cpu.cfs_quota_us", "w") as f:
                            f.write(str(int(cores * 100000)))
                    with open(mem_dir + ("/memory.max" if "memory" in have
                                         else "/memory.limit_in_bytes"), "w") as f:
                        f.write(str(mib << 20))

                worker = e2e.run_in_cgroups(procs, ["sh", "-c", "while :; do sleep 0.2; done"])
                try:
                    set_limits(0.5, 512)
                    with e2e.Agent("--interval", "0.5", "--pin-dir", "none") as a:
                        a.wait_collections(3)
                        cid = pod.container_id
                        for i, (cores, mib, skip) in enumerate(((0.3, 300, 1), (0.7, 700, 4),
                                                                (0.2, 200, 3))):
                            a.wait_collections(skip)  # a different point of the cycle
                            set_limits(cores, mib)
                            a.wait_collections(2)
                            m = a.metrics()
                            lim = e2e.metric_value(m, "bpfdiag_cpu_limit_cores",
                                                   container_id=cid)
                            mem = e2e.metric_value(m, "bpfdiag_memory_limit_bytes",
                                                   container_id=cid)
                            print("written %.1f cores, %d MiB; exported %s cores, %s bytes" % (
                                cores, mib, lim, mem))
                            self.assertIsNotNone(lim)
                            self.assertAlmostEqual(lim, cores, places=3)
                            self.assertEqual(mem, mib << 20)
                finally:
                    worker.kill()
                    worker.wait()
            finally:
                e2e.rmdirs(made)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main()
