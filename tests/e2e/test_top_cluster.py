"""`bpfdiag top --cluster` and `kubectl bpfdiag top` against the fake API server (loopback only,
no root): the agent pods found by the chart's labels, each one's /api/v1/pods, findings and
/metrics read through the pod proxy and merged into one table with a NODE column, sorted as
top sorts; a node whose agent never answers (a stalled port) and one whose port is closed are
listed as NO-ANSWER with why, and bound the run by --timeout instead of stalling it. Plain
text, JSON and the full-screen view (in tmux, when there is one)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fake_kube_api as fk  # noqa: E402
import top_fake_agent as tfa  # noqa: E402
from test_check_cluster import NODE2_FINDINGS, kubeconfig  # noqa: E402
from top_tmux import Tmux, cells, pod_rows  # noqa: E402

BIN = os.environ.get("BPFDIAG_BIN", "build/bpfdiag")
NS = "bpfdiag"
# node-b's agent: one busy pod of its own (the busiest of the cluster by CPU and memory).
PODS_B = {"node": "node-b", "time": 0, "pods": [
    tfa.pod("web", "frontend-7c9d-k2j3h", "55555555-5555-5555-5555-555555555555", "Deployment",
            "frontend", "", [tfa.container("nginx", tfa.hexid("f"), 501, cpu=2.0,
                                           mem=2 << 30)]),
]}
NODE_A_PODS = {p["pod"] for p in tfa.PODS["pods"]}


def table_rows(out):
    """{column: cell} of the pods table of a plain-text table, in order."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NODE ") and
                 "CPU%" in line)
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(cells(lines[start], line))
    return rows


def section(out, title):
    """The lines of the section whose title line starts with title, up to a blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def screen_names(rows):
    """(node, pod) of the rows on screen: the pod names without their +/- marker, each matched
    to the full name it stands for when the column cut it ("orders-db-~-xyz12")."""
    full = NODE_A_PODS | {"frontend-7c9d-k2j3h"}
    out = []
    for r in rows:
        name = r["POD"].lstrip("+-")
        head, _, tail = name.partition("~")
        match = [p for p in full if p.startswith(head) and p.endswith(tail)]
        out.append((r["NODE"], match[0] if len(match) == 1 else name))
    return out


class TopCluster(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.d = self.tmp.name
        self.agents = [tfa.FakeAgent().__enter__(),
                       tfa.FakeAgent(pods=PODS_B, findings=NODE2_FINDINGS).__enter__()]
        for a in self.agents:
            self.addCleanup(a.__exit__, None, None, None)
        # node-c's agent: a port that accepts and never answers
        self.stalled = socket.socket()
        self.stalled.bind(("127.0.0.1", 0))
        self.stalled.listen(64)
        self.addCleanup(self.stalled.close)
        self.api = fk.FakeKubeApi(token="s3cret").__enter__()
        self.addCleanup(self.api.__exit__, None, None, None)
        api = self.api
        api.add_pod(fk.agent_pod("bpfdiag-a1", NS, "node-a", "u-a"))
        api.add_pod(fk.agent_pod("bpfdiag-b1", NS, "node-b", "u-b"))
        api.add_pod(fk.agent_pod("bpfdiag-c1", NS, "node-c", "u-c"))
        api.add_pod(fk.agent_pod("bpfdiag-d1", NS, "node-d", "u-d"))
        other = fk.agent_pod("web-1", "web", "node-a", "u-w")
        other["metadata"]["labels"] = {"app.kubernetes.io/name": "web"}
        api.add_pod(other)
        api.proxy_to(NS, "bpfdiag-a1", self.agents[0].url)
        api.proxy_to(NS, "bpfdiag-b1", self.agents[1].url)
        api.proxy_to(NS, "bpfdiag-c1", "http://127.0.0.1:%d" % self.stalled.getsockname()[1])
        self.cfg = kubeconfig(os.path.join(self.d, "config"), api.url, {"token": "s3cret"}, {})

    def run_top(self, *args, env=None, argv0=BIN):
        e = dict(os.environ, HOME=self.d)
        e.pop("KUBECONFIG", None)
        e.pop("KUBERNETES_SERVICE_HOST", None)
        e.update(env or {})
        t = time.monotonic()
        r = subprocess.run([argv0, "top"] + list(args), capture_output=True, text=True,
                           timeout=60, env=e, stdin=subprocess.DEVNULL)
        return r, time.monotonic() - t

    def assert_merged_text(self, out):
        rows = table_rows(out)
        got = {(r["NODE"], r["POD"]) for r in rows}
        self.assertEqual(got, {("node-a", p) for p in NODE_A_PODS} |
                         {("node-b", "frontend-7c9d-k2j3h")}, out)
        # sorted by CPU over the whole cluster: node-b's pod (200 %) first
        self.assertEqual((rows[0]["NODE"], rows[0]["POD"], rows[0]["CPU%"]),
                         ("node-b", "frontend-7c9d-k2j3h", "200.0"), out)
        cpu = [float(r["CPU%"]) for r in rows]
        self.assertEqual(cpu, sorted(cpu, reverse=True))
        # the findings of each node's agent tag only that node's pods
        by_pod = {(r["NODE"], r["POD"]): r for r in rows}
        self.assertEqual(by_pod[("node-a", "orders-db-7f8b9-xyz12")]["FINDINGS"], "WK-05,RS-01")
        self.assertEqual(by_pod[("node-b", "frontend-7c9d-k2j3h")]["FINDINGS"], "RS-02")
        self.assertIn("agents 2 of 4 answer; NO-ANSWER: node-c, node-d", out)
        nodes = {line.split()[0]: line for line in section(out, "NODE   AGENT")}
        self.assertEqual(sorted(nodes), ["node-a", "node-b", "node-c", "node-d"], out)
        self.assertRegex(nodes["node-a"], r"bpfdiag/bpfdiag-a1\s+4\s+3 DEGRADED")
        self.assertRegex(nodes["node-b"], r"bpfdiag/bpfdiag-b1\s+1\s+1 DEGRADED")
        self.assertIn("NO-ANSWER: ", nodes["node-c"])
        self.assertIn("Timeout", nodes["node-c"])
        self.assertIn("NO-ANSWER: HTTP 503", nodes["node-d"])
        self.assertIn("connection refused", nodes["node-d"])
        findings = {(line.split()[0], line.split()[2]) for line in section(out, "NODE   SEV")
                    if not line.startswith(" ")}
        self.assertEqual(findings, {("node-a", "WK-05"), ("node-a", "RS-01"),
                                    ("node-a", "WK-07"), ("node-b", "RS-02")}, out)

    def test_once_text_and_json(self):
        r, took = self.run_top("--cluster", "--once", "--kubeconfig", self.cfg, "--timeout", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # the stalled node costs one --timeout (all agents are asked at once), not more
        self.assertLess(took, 4, "took %.1fs" % took)
        self.assert_merged_text(r.stdout)
        self.assertIn("5 pods/cgroups", r.stdout)
        self.assertIn("4 nodes", r.stdout.splitlines()[0])
        # the pods were found by the chart's labels; pods, findings and health of each agent
        # were read through the pod proxy, with the kubeconfig's token
        proxied = {p for k, p, _, _ in self.api.requests if k == "proxy"}
        for node in ("a1", "b1", "c1", "d1"):
            for path in ("/api/v1/pods", "/api/v1/findings", "/metrics"):
                self.assertIn("/api/v1/namespaces/bpfdiag/pods/bpfdiag-%s:9810/proxy%s"
                              % (node, path), proxied)
        self.assertTrue(all(h.get("Authorization") == "Bearer s3cret"
                            for _, _, _, h in self.api.requests))
        self.assertTrue(all("bpfdiag-top" in h.get("User-Agent", "")
                            for _, _, _, h in self.api.requests))

        # another sort key sorts the merged table
        r, _ = self.run_top("--cluster", "--once", "--kubeconfig", self.cfg, "--timeout", "1",
                            "--sort", "mem")
        mem = [r["POD"] for r in table_rows(r.stdout)]
        self.assertEqual(mem[:3], ["frontend-7c9d-k2j3h", "orders-db-7f8b9-xyz12",
                                   "node-exporter-q2w3e"], r.stdout)

        r, took = self.run_top("--cluster", "--once", "--json", "--kubeconfig", self.cfg,
                               "--timeout", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(took, 4)
        doc = json.loads(r.stdout)
        nodes = {n["node"]: n for n in doc["nodes"]}
        self.assertEqual({k: n["answered"] for k, n in nodes.items()},
                         {"node-a": True, "node-b": True, "node-c": False, "node-d": False})
        self.assertEqual((nodes["node-a"]["pods"], nodes["node-a"]["findings"]), (4, 3))
        self.assertEqual(nodes["node-a"]["pod"], "bpfdiag-a1")
        self.assertIn("503", nodes["node-d"]["error"])
        self.assertIn("Timeout", nodes["node-c"]["error"])
        self.assertEqual({(p["node"], p["pod"]) for p in doc["pods"]},
                         {("node-a", p) for p in NODE_A_PODS} |
                         {("node-b", "frontend-7c9d-k2j3h")})
        self.assertEqual(sorted((f["node"], f["rule"]) for f in doc["findings"]),
                         [("node-a", "RS-01"), ("node-a", "WK-05"), ("node-a", "WK-07"),
                          ("node-b", "RS-02")])
        self.assertTrue(doc["source"].startswith("cluster "))

    def test_kubectl_plugin(self):
        # as a kubectl plugin, from $KUBECONFIG: top means top --cluster
        plugin = os.path.join(self.d, "kubectl-bpfdiag")
        os.symlink(os.path.abspath(BIN), plugin)
        r, took = self.run_top("--once", "--timeout", "1", env={"KUBECONFIG": self.cfg},
                               argv0=plugin)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertLess(took, 4)
        self.assert_merged_text(r.stdout)
        # --namespace lists the agents of that namespace only
        r, _ = self.run_top("--once", "--timeout", "1", "--namespace", "elsewhere",
                            env={"KUBECONFIG": self.cfg}, argv0=plugin)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no agent pods", r.stderr)

    def test_errors(self):
        r, _ = self.run_top("--cluster", "--once")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no kubeconfig", r.stderr)
        r, _ = self.run_top("--cluster", "--once", "--kubeconfig", self.cfg, "--namespace",
                            "Bad_NS")
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad --namespace 'Bad_NS'", r.stderr)
        r, _ = self.run_top("--cluster", "--once", "--kubeconfig", self.cfg, "--timeout", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad --timeout '0'", r.stderr)
        bad = kubeconfig(os.path.join(self.d, "bad"), self.api.url, {"token": "wrong"}, {})
        r, _ = self.run_top("--cluster", "--once", "--kubeconfig", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("HTTP 401", r.stderr)
        self.assertEqual(r.stdout, "")

    @unittest.skipUnless(shutil.which("tmux"), "needs tmux (tools/deps.sh test installs it)")
    def test_full_screen(self):
        # Every round waits --timeout (4 s) for the stalled node; the agents are polled on a
        # thread, so keys are handled meanwhile and q ends the round in flight.
        t = Tmux("--cluster", "--kubeconfig", self.cfg, "--interval", "0.5", "--timeout", "4",
                 env={"HOME": self.d})
        self.addCleanup(t.close)
        s = t.wait("NO-ANSWER: node-c, node-d", what="the cluster's first table")
        self.assertIn("4 nodes", s.splitlines()[0])
        self.assertIn("agents 2 of 4 answer", s)
        rows = pod_rows(s)
        self.assertEqual(sorted(screen_names(rows)), sorted(
            [("node-a", p) for p in NODE_A_PODS] + [("node-b", "frontend-7c9d-k2j3h")]), s)
        self.assertEqual(rows[0]["NODE"], "node-b")
        # the filter matches node names too
        t.type("/")
        t.type("node-b")
        t.keys("Enter")
        s = t.wait(lambda s: len(pod_rows(s)) == 1, what="the node filter")
        self.assertEqual(screen_names(pod_rows(s)), [("node-b", "frontend-7c9d-k2j3h")])
        # mid-round (the next one started 0.5 s after the last), keys answer at once
        time.sleep(1.5)
        start = time.monotonic()
        t.keys("?")
        t.wait("bpfdiag top - keys", what="the help screen")
        self.assertLess(time.monotonic() - start, 1.5)
        t.keys("Escape")
        t.wait("NO-ANSWER: node-c", what="the table again")
        start = time.monotonic()
        t.keys("q")
        t.wait("TOP-EXIT=0", what="top to exit")
        self.assertLess(time.monotonic() - start, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
