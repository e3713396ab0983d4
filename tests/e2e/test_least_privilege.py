"""Least privilege: the agent as a non-root user holding only the capabilities the chart grants
(ambient, via setpriv) runs every probe family and collects CPU, disk, fs and network data from
a fake pod; without CAP_BPF it refuses with one clear line. The capability set is read from the
chart's rendered DaemonSet when helm is available, so the test and the chart cannot drift."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

# The chart's securityContext.capabilities.add (charts/bpfdiag/values.yaml).
CHART_CAPS = ["BPF", "PERFMON", "DAC_READ_SEARCH", "SYS_PTRACE"]

WORKLOAD = r"""
import os, socket, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for _ in range(9):
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
os.close(fd)
c = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
c.sendall(b"n" * 100000)
c.close()
end = time.process_time() + 0.5
while time.process_time() < end:
    pass
"""


def bounding_caps():
    """Capabilities this machine's bounding set allows (setpriv cannot raise others)."""
    with open("/proc/self/status") as f:
        bnd = int([l for l in f if l.startswith("CapBnd:")][0].split()[1], 16)
    numbers = {"DAC_READ_SEARCH": 2, "SYS_PTRACE": 19, "SYS_RESOURCE": 24, "PERFMON": 38,
               "BPF": 39}
    return [c for c in CHART_CAPS if bnd & (1 << numbers[c])]


def setpriv(caps):
    spec = ",".join("+" + c.lower() for c in caps)
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "--inh-caps=" + spec, "--ambient-caps=" + spec, "--bounding-set=-all," + spec]


class LeastPrivilege(unittest.TestCase):
    def setUp(self):
        self.bpffs = e2e.Bpffs(owner="nobody").__enter__()
        self.pin = os.path.join(self.bpffs.path, "bpfdiag")
        self.data = "/var/tmp/bpfdiag-lp-%d" % os.getpid()
        os.makedirs(self.data)

    def tearDown(self):
        self.bpffs.__exit__(None, None, None)
        shutil.rmtree(self.data, ignore_errors=True)

    def test_chart_capabilities_suffice(self):
        caps = bounding_caps()
        missing = set(CHART_CAPS) - set(caps)
        print("running as nobody with", caps, "(not in this machine's bounding set: %s)"
              % (sorted(missing) or "none"))
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        got = []

        def serve():
            conn, _ = srv.accept()
            while True:
                b = conn.recv(65536)
                if not b:
                    break
                got.append(len(b))
            conn.close()

        t = threading.Thread(target=serve)
        t.start()
        with e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.5", "--pin-dir", self.pin, prefix=setpriv(caps)) as a:
            with open("/proc/%d/status" % a.proc.pid) as f:
                status = f.read()
            self.assertRegex(status, r"Uid:\s+65534\s")
            self.assertNotRegex(status, r"CapEff:\s+000001ff")  # not all capabilities
            m = a.metrics()
            for family in ("cpu", "disk", "fs", "net", "cgroup", "uring"):
                self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_up", family=family), 1,
                                 family)
            self.assertIn("fs=filesystem", a.logs())
            self.assertIn("flush=collection", a.logs())  # bpf_prog_test_run on each CPU
            self.assertNotIn("error", a.logs().lower())
            p = pod.run([sys.executable, "-c", WORKLOAD, os.path.join(self.data, "f"),
                         str(srv.getsockname()[1])])
            self.assertEqual(p.wait(timeout=60), 0)
            t.join(timeout=30)
            a.wait_collections(2)
            m = a.metrics()
            cid = pod.container_id
            cpu = e2e.metric_value(m, "bpfdiag_cpu_seconds_total", container_id=cid)
            syncs = sum(v for n, l, v in m if n == "bpfdiag_fs_sync_calls_total"
                        and l.get("container_id") == cid)
            tx = e2e.metric_value(m, "bpfdiag_network_bytes_total", container_id=cid,
                                  direction="transmit")
            self.assertGreater(cpu, 0.4)
            self.assertEqual(syncs, 9)
            self.assertEqual(tx, 100000)
            self.assertEqual(sum(got), 100000)
            # Volume classes need other users' mountinfo: CAP_SYS_PTRACE gives it. The data
            # file is on the host's root; nothing may stay unresolved.
            vols = {(l["volume_class"], l["volume"]): v for n, l, v in m
                    if n == "bpfdiag_fs_write_bytes_total" and l.get("container_id") == cid}
            self.assertEqual(vols.get(("hostpath", "/")), 9 * 4096, vols)
            self.assertFalse([k for k in vols if k[0] == "unknown"], vols)
        srv.close()

    def test_without_cap_bpf_refuses_clearly(self):
        caps = [c for c in bounding_caps() if c != "BPF"]
        r = subprocess.run(setpriv(caps) + [e2e.BIN, "agent", "--listen", "127.0.0.1:0",
                                            "--pin-dir", "none", "--kube-api", "none"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = [l for l in r.stderr.splitlines() if "bpfdiag agent:" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("CAP_BPF", lines[0])


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
