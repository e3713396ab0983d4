"""bpffs on a fresh machine: with the default pin directory and no bpffs at /sys/fs/bpf, an
agent in the host's mount namespace mounts one, pins its maps there, and its counters survive a
SIGKILL and restart. A pin directory that is not on a bpffs is named as such: fatal when asked
for explicitly (exit 2, one line, no word about kernels or capabilities), a warning and an
unpinned run where the agent may not mount (outside the host's mount namespace). The test
leaves /sys/fs/bpf as it found it."""
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

BPF = "/sys/fs/bpf"


class FreshBpffs:
    """/sys/fs/bpf as a fresh machine has it: no bpffs. When this machine has one, a tmpfs is
    stacked over it for the test; on exit every mount stacked since is removed again."""

    def __enter__(self):
        self.depth = e2e.mounts_at(BPF)
        if e2e.fs_type(BPF) == "bpf":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "fresh", BPF], check=True)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(os.path.join(BPF, "bpfdiag"), ignore_errors=True)
        while e2e.mounts_at(BPF) > self.depth:
            subprocess.run(["umount", BPF], check=True)
        return False


class Bpffs(unittest.TestCase):
    def cpu(self, agent, pod):
        return e2e.metric_value(agent.metrics(), "bpfdiag_cpu_seconds_total",
                                container_id=pod.container_id) or 0.0

    def test_default_mounts_bpffs_and_counters_survive_restart(self):
        with FreshBpffs(), e2e.FakePod() as pod:
            self.assertNotEqual(e2e.fs_type(BPF), "bpf")
            # Busy until the second agent has collected: a fixed burn could end before two
            # agent starts do on a slow machine, and then nothing is "still counting".
            with e2e.Busy(pod) as busy:
                with e2e.Agent("--interval", "0.5", default_pin=True) as a:
                    self.assertIn("no bpffs was mounted at /sys/fs/bpf: mounted one there",
                                  a.logs())
                    self.assertEqual(e2e.fs_type(BPF), "bpf")
                    self.assertIn("cpu_stats", os.listdir(os.path.join(BPF, "bpfdiag")))
                    a.wait_collections(2)
                    before = self.cpu(a, pod)
                    a.proc.send_signal(signal.SIGKILL)
                    a.proc.wait()
                with e2e.Agent("--interval", "0.5", default_pin=True) as b:
                    # Mounted once: the second agent finds the bpffs and its maps.
                    self.assertNotIn("mounted one there", b.logs())
                    self.assertNotIn("not on a bpffs", b.logs())
                    after = self.cpu(b, pod)
                    self.assertTrue(busy.stop(b), "the burner stopped early")
                    final = self.cpu(b, pod)
            print("default pin dir: before kill %.3fs, after restart %.3fs, final %.3fs, "
                  "cpu.stat %.3fs" % (before, after, final, pod.usage_seconds()))
            self.assertGreater(before, 0.2)
            self.assertGreaterEqual(after, before)
            self.assertGreater(final, after)

    def test_explicit_pin_dir_not_on_bpffs_is_fatal(self):
        d = "/tmp/bpfdiag-e2e-notbpf-%d" % os.getpid()
        try:
            t0 = time.time()
            r = subprocess.run([e2e.BIN, "agent", "--listen", "127.0.0.1:0", "--kube-api",
                                "none", "--pin-dir", d], capture_output=True, text=True,
                               timeout=60)
            print("exit %d in %.1fs: %s" % (r.returncode, time.time() - t0, r.stderr.strip()))
            self.assertEqual(r.returncode, 2, r.stderr)
            err = [l for l in r.stderr.splitlines() if l.startswith("bpfdiag agent:")]
            self.assertEqual(len(err), 1, r.stderr)
            self.assertIn("pin directory %s is not on a bpffs" % d, err[0])
            self.assertIn("mount -t bpf bpf /sys/fs/bpf", err[0])
            for wrong in ("BTF", "CAP_BPF", "Linux >=", "Invalid argument"):
                self.assertNotIn(wrong, r.stderr)
            self.assertFalse(os.path.exists(d), "nothing is created on the wrong filesystem")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_outside_host_mount_namespace_warns_and_runs_unpinned(self):
        """A container (here: a private mount namespace with a tmpfs at /sys/fs/bpf) may not
        mount for the host: it says what is wrong and what to do, and runs without pins."""
        depth = e2e.mounts_at(BPF)
        ns = ["unshare", "-m", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs -o size=1m container /sys/fs/bpf && exec "$@"', "sh"]
        with e2e.Agent("--interval", "0.5", default_pin=True, prefix=ns) as a:
            logs = a.logs()
            self.assertIn("pin directory /sys/fs/bpf/bpfdiag is not on a bpffs "
                          "(/sys/fs/bpf is on tmpfs)", logs)
            self.assertIn("mount -t bpf bpf /sys/fs/bpf", logs)
            self.assertIn("bpffs.mount=true", logs)
            self.assertNotIn("mounted one there", logs)
            a.wait_collections(2)
            self.assertEqual(e2e.metric_value(a.metrics(), "bpfdiag_agent_probe_up",
                                              family="cpu"), 1)
        self.assertEqual(e2e.mounts_at(BPF), depth, "the host's /sys/fs/bpf is untouched")


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
