"""How late the cgroup files read less often than every collection may be (docs/COLLECTORS.md,
cpu and memory): a container that keeps running has its cpu.pressure read every other
collection and its memory.stat every third, so whatever either file said is exported within
that many collections, never later (a change missed for longer fails here); the counters
stay monotonic."""
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


if __name__ == "__main__":
    e2e.require_root()
    unittest.main()
