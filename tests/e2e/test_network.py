"""Network bytes per pod within 0.5 % of what was sent and received, on both probe paths
(sock_send/recv_length tracepoints and the cgroup_skb fallback, forced by flag); TCP
connections by role, listening sockets and ports, and peers."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402

TX = 8_000_000
RX = 3_000_000

WORKLOAD = textwrap.dedent("""
    import socket, sys
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    print(lst.getsockname()[1], flush=True)
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    c.sendall(b"t" * %(tx)d)
    c.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        got += len(b)
    c.close()
    conn, _ = lst.accept()
    hello = conn.recv(16)
    conn.close()
    print("done", got, len(hello), flush=True)
    sys.stdin.readline()
""" % {"tx": TX})


def serve_once(srv, result):
    conn, _ = srv.accept()
    n = 0
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        n += len(b)
    conn.sendall(b"r" * RX)
    conn.close()
    result.append(n)


def start_server():
    """A loopback listener served once by serve_once on a thread: (socket, result, thread)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = []
    t = threading.Thread(target=serve_once, args=(srv, got))
    t.start()
    return srv, got, t


def retrans_segs():
    """The host's TCP RetransSegs (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Tcp:")]
    return int(rows[1][rows[0].index("RetransSegs")])


class Network(unittest.TestCase):
    def run_mode(self, mode, feature):
        srv, got, t = start_server()
        with e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--net-probe", mode) as agent:
            self.assertIn("net=" + feature, agent.logs())
            self.resent0 = retrans_segs()
            p = pod.run([sys.executable, "-c", WORKLOAD, str(srv.getsockname()[1])],
                        stdin=__import__("subprocess").PIPE,
                        stdout=__import__("subprocess").PIPE, text=True)
            try:
                port = int(p.stdout.readline())
                with socket.create_connection(("127.0.0.1", port)) as c:
                    c.sendall(b"hi")
                done = p.stdout.readline().split()
                t.join(timeout=60)
                self.assertEqual(done, ["done", str(RX), "2"])
                self.assertEqual(got, [TX])
                agent.wait_collections(2)
                self.check(agent, pod, port, srv.getsockname()[1], mode)
            finally:
                p.kill()
                p.wait()
                p.stdin.close()
                p.stdout.close()
                srv.close()

    def check(self, agent, pod, port, server_port, mode):
        cid = pod.container_id
        m = agent.metrics()
        tx = e2e.metric_value(m, "bpfdiag_network_bytes_total", container_id=cid,
                              direction="transmit")
        rx = e2e.metric_value(m, "bpfdiag_network_bytes_total", container_id=cid,
                              direction="receive")
        print("tx %d for %d sent, rx %d for %d received" % (tx, TX, rx, RX + 2))
        # cgroup_skb sees packets: a retransmitted segment is counted again (docs/KERNELS.md),
        # so that path may exceed by what was retransmitted. One tcp_retransmit_skb event (what
        # the agent counts) may resend several MSS-sized segments of a loopback GSO skb, so the
        # bound takes the larger of its count and the kernel's own RetransSegs over the test
        # (system-wide: it can only loosen the bound), each at most a 64 KiB loopback segment.
        resent = 0
        if mode == "cgroup-skb":
            agent_resent = e2e.metric_value(m, "bpfdiag_tcp_retransmits_total",
                                            container_id=cid) or 0
            resent = 65536 * max(agent_resent, retrans_segs() - self.resent0)
        self.assertLess(abs(tx - TX), 0.005 * TX + resent)
        self.assertLess(abs(rx - (RX + 2)) / (RX + 2), 0.005)
        self.assertEqual(e2e.metric_value(m, "bpfdiag_tcp_connections_opened_total",
                                          container_id=cid, role="client"), 1)
        self.assertEqual(e2e.metric_value(m, "bpfdiag_tcp_connections_opened_total",
                                          container_id=cid, role="server"), 1)
        self.assertEqual(e2e.metric_value(m, "bpfdiag_tcp_listening_sockets",
                                          container_id=cid), 1)
        if mode != "cgroup-skb":
            # Loopback rarely retransmits, but may on a loaded machine: never more than the
            # kernel's own count of retransmitted segments over the test (0 when it has none).
            kernel = retrans_segs() - self.resent0
            self.assertLessEqual(e2e.metric_value(m, "bpfdiag_tcp_retransmits_total",
                                                  container_id=cid), kernel)
        status, body = agent.get("/api/v1/pods")
        self.assertEqual(status, 200)
        c = [c for p in json.loads(body)["pods"] if p["uid"] == pod.uid
             for c in p["containers"]][0]
        self.assertEqual(c["listening_ports"], [port])
        peers = {(x["addr"], x["port"], x["role"]) for x in c["peers"]}
        self.assertIn(("127.0.0.1", server_port, "client"), peers)
        self.assertIn(("127.0.0.1", port, "server"), peers)

    def test_tracepoints(self):
        self.run_mode("tracepoint", "sock_length")

    def test_cgroup_skb_fallback(self):
        self.run_mode("cgroup-skb", "cgroup_skb")

    def test_off(self):
        """--net-probe off: no net program is loaded, the family reports down, and the bytes a
        pod sends leave no series (nothing else counts them)."""
        srv, got, t = start_server()
        with e2e.FakePod() as pod, \
                e2e.Agent("--interval", "0.5", "--net-probe", "off") as agent:
            try:
                self.assertIn("net=off", agent.logs())
                names = set()
                for i in e2e.prog_ids_of(agent.proc.pid):
                    r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(i)],
                                       capture_output=True, text=True)
                    if r.returncode == 0:
                        names.add(json.loads(r.stdout).get("name", ""))
                self.assertTrue(any(n.startswith("cpu_") for n in names))  # names were read
                self.assertEqual({n for n in names if n.startswith("net_")}, set())
                pod.run([sys.executable, "-c",
                         "import socket, sys\n"
                         "c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
                         "c.sendall(b't' * 100000)\n"
                         "c.shutdown(socket.SHUT_WR)\n"
                         "while c.recv(1 << 16): pass\n",
                         str(srv.getsockname()[1])]).wait(timeout=60)
                t.join(timeout=60)
                self.assertEqual(got, [100000])
                agent.wait_collections(2)
                m = agent.metrics()
                self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_up", family="net"), 0)
                self.assertIsNone(e2e.metric_value(m, "bpfdiag_agent_probe_info",
                                                   family="net", probe="sock_length"))
                self.assertIsNone(e2e.metric_value(m, "bpfdiag_network_bytes_total",
                                                   container_id=pod.container_id,
                                                   direction="transmit"))
            finally:
                srv.close()


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
