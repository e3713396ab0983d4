"""Listening sockets that exist before the agent starts (SPEC §3 net: "listeners that exist at
start seeded from an iter/tcp iterator or /proc").

A fake pod's server runs in a network namespace of its own (`unshare -n`, as a pod's) and opens
its first listener (IPv6 when the kernel has it, else IPv4) before the agent starts; a sidecar
container of the same pod joins that namespace and listens on nothing. Then, with the agent
running:
- from the first collections the server's container has bpfdiag_tcp_listening_sockets 1 and
  its port in /api/v1/pods, the sidecar none (the owner is found by descriptor, not by
  namespace), bpfdiag_agent_listeners_seeded_total counts it and probe_info says `procfs`;
- a second listener opened after the agent started makes 2, not 3 (seed and BPF merged);
- closing the first (a LISTEN → CLOSE BPF sees for a socket it never saw open) makes 1, closing
  the second 0.
And across a restart with pinned maps: a listener opened under the first agent is in the pinned
net_listen map and in /proc when the second agent seeds: counted once."""
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import unittest
import contextlib

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

# Commands on stdin: "open 4|6" opens a listener on an ephemeral port (bound to port 0, then
# listen), "open unbound" one that listen() gives a port without bind; each prints its port.
# "close N" closes the N-th opened. A thread wakes every 50 ms so that the container runs (and is seen by the agent)
# while the main thread waits.
SERVER = textwrap.dedent("""
    import socket, sys, threading, time
    def tick():
        while True:
            time.sleep(0.05)
    threading.Thread(target=tick, daemon=True).start()
    socks = []
    for line in sys.stdin:
        cmd, arg = line.split()
        if cmd == "open":
            fam, host = (socket.AF_INET6, "::1") if arg == "6" else (socket.AF_INET, "127.0.0.1")
            s = socket.socket(fam)
            if arg != "unbound":
                s.bind((host, 0))
            s.listen(8)
            socks.append(s)
            print(s.getsockname()[1], flush=True)
        elif cmd == "close":
            socks[int(arg)].close()
            print("closed", flush=True)
""")

TICK = "import time\nwhile True: time.sleep(0.05)\n"


def has_ipv6():
    return os.path.exists("/proc/net/if_inet6")


class Server:
    """SERVER in its own network namespace inside a fake pod's container."""

    def __init__(self, pod):
        self.p = pod.run(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1"',
                          sys.executable, SERVER],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        if not out:
            raise RuntimeError("server died")
        return out

    def netns(self):
        return "/proc/%d/ns/net" % self.p.pid

    def close(self):
        self.p.kill()
        self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()


class Sidecar:
    """A second container cgroup of the pod, whose process joins the server's namespace."""

    def __init__(self, pod, netns):
        self.container_id = secrets.token_hex(32)
        self.path = os.path.join(os.path.dirname(pod.path),
                                 "cri-containerd-%s.scope" % self.container_id)
        os.mkdir(self.path)
        procs = os.path.join(self.path, "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        self.p = subprocess.Popen(["nsenter", "--net=" + netns, sys.executable, "-c", TICK],
                                  preexec_fn=enter)

    def close(self):
        self.p.kill()
        self.p.wait()
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def listening(agent, cid):
    return e2e.metric_value(agent.metrics(), "bpfdiag_tcp_listening_sockets", container_id=cid)


def ports(agent, uid, cid):
    status, body = agent.get("/api/v1/pods")
    assert status == 200, status
    for p in json.loads(body)["pods"]:
        for c in p["containers"] if p["uid"] == uid else []:
            if c["id"] == cid:
                return c["listening_ports"]
    return None


def wait_value(fn, want, timeout=15):
    """fn() once it equals want, else its last value."""
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.1)


class ListenSeed(unittest.TestCase):
    def test_listeners_before_the_agent(self):
        fam = "6" if has_ipv6() else "4"
        with contextlib.ExitStack() as stack:
            pod = stack.enter_context(e2e.FakePod())
            srv = Server(pod)
            stack.callback(srv.close)
            first = int(srv.cmd("open " + fam))
            side = Sidecar(pod, srv.netns())
            stack.callback(side.close)
            time.sleep(0.3)  # the sidecar has joined the namespace

            agent = stack.enter_context(e2e.Agent("--interval", "0.25"))
            agent.wait_collections(2)
            cid = pod.container_id
            m = agent.metrics()
            self.assertEqual(e2e.metric_value(m, "bpfdiag_tcp_listening_sockets",
                                              container_id=cid), 1,
                             "a listener opened before the agent is not counted")
            self.assertEqual(ports(agent, pod.uid, cid), [first])
            self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_info", family="listeners",
                                              probe="procfs"), 1)
            self.assertIn("listeners=procfs", agent.logs())
            self.assertGreaterEqual(e2e.metric_value(m, "bpfdiag_agent_listeners_seeded_total"),
                                    1)
            self.assertGreaterEqual(e2e.metric_value(m, "bpfdiag_agent_listen_seed_cgroups_total"),
                                    2)
            # Same namespace, no descriptor: not the sidecar's.
            self.assertIn(listening(agent, side.container_id), (None, 0))
            self.assertIn(ports(agent, pod.uid, side.container_id), (None, []))

            second = int(srv.cmd("open 4"))
            agent.wait_collections(2)
            self.assertEqual(wait_value(lambda: listening(agent, cid), 2, 3), 2,
                             "a listener opened after the agent started")
            self.assertEqual(ports(agent, pod.uid, cid), sorted([first, second]))

            srv.cmd("close 0")
            self.assertEqual(wait_value(lambda: listening(agent, cid), 1), 1,
                             "the seeded listener closed")
            self.assertEqual(ports(agent, pod.uid, cid), [second])
            srv.cmd("close 1")
            self.assertEqual(wait_value(lambda: listening(agent, cid), 0), 0)
            self.assertEqual(ports(agent, pod.uid, cid), [])
            self.assertIn(listening(agent, side.container_id), (None, 0))

            # listen() without bind: the LISTEN transition happens before the kernel picks the
            # port (counted on port 0); its close is taken back from there.
            srv.cmd("open unbound")
            self.assertEqual(wait_value(lambda: listening(agent, cid), 1), 1)
            srv.cmd("close 2")
            self.assertEqual(wait_value(lambda: listening(agent, cid), 0), 0)

    def test_pinned_map_across_restart(self):
        with contextlib.ExitStack() as stack:
            fs = stack.enter_context(e2e.Bpffs())
            pin = os.path.join(fs.path, "bpfdiag")
            pod = stack.enter_context(e2e.FakePod())
            srv = Server(pod)
            stack.callback(srv.close)
            cid = pod.container_id
            with e2e.Agent("--interval", "0.25", "--pin-dir", pin) as agent:
                agent.wait_collections(1)
                port = int(srv.cmd("open 4"))  # seen by BPF, kept in the pinned map
                self.assertEqual(wait_value(lambda: listening(agent, cid), 1), 1)
            with e2e.Agent("--interval", "0.25", "--pin-dir", pin) as agent:
                agent.wait_collections(3)
                self.assertEqual(listening(agent, cid), 1, "counted by the map and the seed")
                self.assertEqual(ports(agent, pod.uid, cid), [port])
                srv.cmd("close 0")
                self.assertEqual(wait_value(lambda: listening(agent, cid), 0), 0)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
