"""`bpfdiag top` against the real agent and the in-process collector, with fake pods doing
real work (a CPU burner, an fsync loop, a TCP sender): --once tables sorted by each key, and
the full-screen view in tmux (rows, sort keys, text filter, expansion, quitting). In-process,
top runs the rules too: a CPU-throttled pod shows RS-02 in --once's table and findings."""
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import top_tmux  # noqa: E402
from test_cpu_extras import Limit  # noqa: E402
from top_tmux import Tmux  # noqa: E402

BURN = "while True: pass"
FSYNC = """import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
while True:
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    time.sleep(0.005)
"""
SEND = """import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
buf = b"y" * 65536
while True:
    s.sendall(buf)
    time.sleep(0.002)
"""


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink:
    """A loopback TCP listener that reads and discards what it is sent."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.drain, args=(c,), daemon=True).start()

    @staticmethod
    def drain(c):
        with c:
            while c.recv(1 << 20):
                pass

    def close(self):
        self.sock.close()


def rate(text):
    """Bytes per second from top's rendering ("512B", "1.5K", "3.2M")."""
    units = {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
    return float(text[:-1]) * units[text[-1]]


class TopOnRealAgent(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = []
        cls.sink = Sink()
        cls.file = "/var/tmp/bpfdiag-top-e2e-%d" % os.getpid()
        cls.pods = {}
        try:
            for name, argv in (("burn", [sys.executable, "-c", BURN]),
                               ("fsync", [sys.executable, "-c", FSYNC, cls.file]),
                               ("net", [sys.executable, "-c", SEND, str(cls.sink.port)])):
                pod = e2e.FakePod().__enter__()
                cls.stack.append(pod)
                pod.proc = pod.run(argv)
                cls.pods[name] = pod
            cls.agent = e2e.Agent("--interval", "0.5", "--pin-dir", "none").__enter__()
            cls.stack.append(cls.agent)
            cls.agent.wait_collections(3)
            cls.url = "http://127.0.0.1:%d" % cls.agent.port
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for obj in reversed(cls.stack):
            proc = getattr(obj, "proc", None)
            if proc:
                proc.kill()
                proc.wait()
            obj.__exit__(None, None, None)
        cls.sink.close()
        if os.path.exists(cls.file):
            os.unlink(cls.file)

    def ours(self, lines):
        """{pod name: row line} for our fake pods' rows, in the order they appear, found by
        the end of their container id (local mode: the workload is the container id)."""
        out = {}
        for line in lines:
            for name, pod in self.pods.items():
                if pod.container_id[-30:] in line and not line.startswith(" "):
                    out.setdefault(name, line)
        return out

    def test_once_sorted_by_each_key(self):
        for key, first in (("cpu", "burn"), ("fsync", "fsync"), ("net", "net")):
            r = top_tmux.subprocess.run([e2e.BIN, "top", "--once", "--sort", key, "--agent",
                                         self.url], capture_output=True, text=True,
                                        timeout=30, stdin=top_tmux.subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r)
            lines = r.stdout.splitlines()
            self.assertIn("agent " + self.url, lines[0])
            self.assertRegex(lines[2], r"^agent (OK|DEGRADED): \d+ collections")
            title = lines[3]
            rows = self.ours(lines[4:])
            self.assertEqual(sorted(rows), ["burn", "fsync", "net"], r.stdout)
            self.assertEqual(list(rows)[0], first, "sort %s:\n%s" % (key, r.stdout))
            cells = {n: top_tmux.cells(title, l) for n, l in rows.items()}
            self.assertEqual(cells["burn"]["KIND"], "Container")
            if key == "cpu":
                self.assertGreater(float(cells["burn"]["CPU%"]), 50, rows["burn"])
            if key == "fsync":
                self.assertGreater(float(cells["fsync"]["FSYNC"]), 10, rows["fsync"])
                self.assertEqual(float(cells["burn"]["FSYNC"]), 0, rows["burn"])
            if key == "net":
                self.assertGreater(rate(cells["net"]["NET_TX"]), 100e3, rows["net"])

    def test_full_screen_view(self):
        with Tmux("--agent", self.url, "--interval", "0.5") as t:
            tails = [p.container_id[-30:] for p in self.pods.values()]
            s = t.wait(lambda s: all(x in s for x in tails), what="our three pods")
            self.assertIn("agent " + self.url, s.splitlines()[0])
            self.assertRegex(s.splitlines()[2], r"^agent (OK|DEGRADED): \d+ collections")
            self.assertEqual(list(self.ours(top_tmux.table(s)[1]))[0], "burn", s)
            t.keys("s", "s", "s", "s")  # cpu -> runq -> disk -> iops -> fsync
            s = t.wait(lambda s: "sort fsync " in s and
                       list(self.ours(top_tmux.table(s)[1]))[:1] == ["fsync"],
                       what="the fsync pod first")
            t.keys("s")
            t.wait(lambda s: "sort net " in s and
                   list(self.ours(top_tmux.table(s)[1]))[:1] == ["net"],
                   what="the net pod first")
            # Filter by the start of a container id: exactly that pod remains.
            cid = self.pods["net"].container_id
            t.keys("/")
            t.type(cid[:16])
            t.keys("Enter")
            s = t.wait("filter text=" + cid[:16])
            rows = top_tmux.table(s)[1]
            self.assertEqual(len(rows), 1, s)
            self.assertIn(cid[-30:], rows[0])
            # Expand it: its one container (unnamed outside Kubernetes) appears below.
            t.keys("Enter")
            s = t.wait("(container)")
            rows = top_tmux.table(s)[1]
            self.assertEqual(len(rows), 2, s)
            self.assertIn(cid[-20:], rows[1])
            t.keys("q")
            s = t.wait("TOP-EXIT=")
            self.assertIn("TOP-EXIT=0", s)
            self.assertEqual(t.stty("before"), t.stty("after"))
            self.assertEqual(t.stderr(), "")

    def test_full_screen_in_process(self):
        url = "http://127.0.0.1:%d" % dead_port()
        with Tmux("--agent", url, "--interval", "0.5") as t:
            tail = self.pods["burn"].container_id[-30:]
            s = t.wait(lambda s: tail in s, timeout=60, what="the burner's row")
            lines = s.splitlines()
            self.assertIn("in-process collector (no agent at %s)" % url, lines[0])
            self.assertRegex(lines[2], r"^collector (OK|DEGRADED): \d+ collections")
            # The rules run in-process: a count of findings, not a note that there are none.
            self.assertRegex(lines[3], r"^findings \d+")
            title, rows = top_tmux.table(s)
            row = [r for r in rows if tail in r][0]
            self.assertGreater(float(top_tmux.cells(title, row)["CPU%"]), 20, row)
            t.keys("q")
            s = t.wait("TOP-EXIT=", timeout=30)
            self.assertIn("TOP-EXIT=0", s)
            self.assertEqual(t.stderr(), "")


class TopInProcessFindings(unittest.TestCase):
    def test_once_shows_a_throttled_pods_finding(self):
        """As tests/e2e/test_rules_local.py provokes RS-02 (a burner under a 0.2-CPU limit),
        with a rules window as long as --once's one interval: the row of the throttled pod
        names RS-02, an idle pod's names nothing, and the findings table gives the evidence."""
        with e2e.FakePod() as limited, e2e.FakePod() as idle, Limit(limited, 0.2) as limit:
            # The idle pod wakes up now and then: the collector sees it.
            procs = [limit.run([sys.executable, "-c", BURN]),
                     idle.run([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"])]
            try:
                r = top_tmux.subprocess.run(
                    [e2e.BIN, "top", "--once", "--interval", "5", "--window", "5", "--warmup",
                     "0", "--agent", "http://127.0.0.1:%d" % dead_port()],
                    capture_output=True, text=True, timeout=60,
                    stdin=top_tmux.subprocess.DEVNULL)
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.splitlines()
        self.assertIn("in-process collector", lines[0])
        title = lines[3]
        rows = {}
        for line in lines[4:lines.index("")]:  # the pods table ends at a blank line
            for name, pod in (("limited", limited), ("idle", idle)):
                if pod.container_id[-30:] in line:
                    rows[name] = top_tmux.cells(title, line)
        self.assertEqual(sorted(rows), ["idle", "limited"], r.stdout)
        self.assertIn("RS-02", rows["limited"]["FINDINGS"].split(","), r.stdout)
        self.assertEqual(rows["idle"]["FINDINGS"], "-", r.stdout)
        at = [i for i, l in enumerate(lines) if l.split()[1:2] == ["RS-02"] and
              "Container/" + limited.container_id in l]
        self.assertEqual(len(at), 1, r.stdout)
        self.assertIn("throttled_ratio=", lines[at[0] + 1])


if __name__ == "__main__":
    e2e.require_root()
    top_tmux.require_tmux()
    unittest.main(verbosity=2)
