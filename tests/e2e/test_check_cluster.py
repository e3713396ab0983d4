"""`bpfdiag check --cluster` and the kubectl plugin against the fake API server (loopback only, no
root): agent pods found by the chart's labels, their findings read through the pod proxy and
merged into one table; an agent whose port does not answer, one not running and one the proxy
refuses are NO-ANSWER rows; exit status 1 with findings, 2 when an agent is silent and none has
findings, 0 when all answered none. Kubeconfigs as tools/cluster writes them (https, a CA file,
a client certificate and key) and as cloud providers do (base64 *-data, a bearer token)."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fake_kube_api as fk  # noqa: E402
import top_fake_agent as tfa  # noqa: E402
from test_kube_tls import make_pki  # noqa: E402

BIN = os.environ.get("BPFDIAG_BIN", "build/bpfdiag")
NS = "bpfdiag"
HEADER = ["NODE", "NAMESPACE", "KIND", "WORKLOAD", "RELEASE", "RULE", "SUGGESTED", "MESSAGE"]
NODE2_FINDINGS = {"findings": [
    {"namespace": "web", "workload_kind": "Deployment", "workload": "frontend",
     "helm_release": "", "rule": "RS-02", "severity": "medium", "suggested_kind": "",
     "message": "container nginx is CPU-throttled", "evidence": {},
     "since": "2024-05-01T10:00:00Z"},
]}


def kubeconfig(path, server, user, cluster_extra):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: test",
             "  cluster:", "    server: " + server]
    lines += ["    %s: %s" % kv for kv in cluster_extra.items()]
    lines += ["users:", "- name: someone", "  user:"]
    lines += ["    %s: %s" % kv for kv in user.items()] or ["    {}"]
    lines += ["contexts:", "- name: other", "  context: {cluster: nowhere, user: someone}",
              "- name: test", "  context: {cluster: test, user: someone}",
              "current-context: test", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def cells(line):
    return line.split()


class CheckCluster(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.agents = [tfa.FakeAgent().__enter__(),
                       tfa.FakeAgent(findings=NODE2_FINDINGS).__enter__()]

    def tearDown(self):
        for a in self.agents:
            a.__exit__(None, None, None)
        self.tmp.cleanup()

    def populate(self, api):
        """node-a and node-b answer with findings, node-c's port is closed, node-d's pod is
        Pending; an unrelated pod of another app is no agent."""
        api.add_pod(fk.agent_pod("bpfdiag-a1", NS, "node-a", "u-a"))
        api.add_pod(fk.agent_pod("bpfdiag-b1", NS, "node-b", "u-b", tls=True))
        api.add_pod(fk.agent_pod("bpfdiag-c1", NS, "node-c", "u-c"))
        api.add_pod(fk.agent_pod("bpfdiag-d1", NS, "node-d", "u-d", phase="Pending"))
        other = fk.agent_pod("web-1", "web", "node-a", "u-w")
        other["metadata"]["labels"] = {"app.kubernetes.io/name": "web"}
        api.add_pod(other)
        api.proxy_to(NS, "bpfdiag-a1", self.agents[0].url)
        api.proxy_to(NS, "bpfdiag-b1", self.agents[1].url)

    def run_check(self, *args, env=None, argv0=BIN):
        e = dict(os.environ, HOME=self.d)
        e.pop("KUBECONFIG", None)
        e.pop("KUBERNETES_SERVICE_HOST", None)
        e.update(env or {})
        return subprocess.run([argv0, "check"] + list(args), capture_output=True, text=True,
                              timeout=60, env=e)

    def assert_table(self, out):
        lines = out.splitlines()
        self.assertEqual(cells(lines[0]), HEADER, out)
        rows = [cells(line) for line in lines[1:]]
        by_node = {}
        for r in rows:
            by_node.setdefault(r[0], []).append(r)
        self.assertEqual(sorted(by_node), ["node-a", "node-b", "node-c", "node-d"], out)
        # node-a: the three findings of its agent, with workload, release, rule, suggestion
        a = {(r[1], r[2], r[3], r[4], r[5], r[6]) for r in by_node["node-a"]}
        self.assertEqual(a, {("shop", "Deployment", "orders-db", "shop-db", "WK-05",
                              "StatefulSet"),
                             ("shop", "Deployment", "orders-db", "shop-db", "RS-01", "-"),
                             ("payments", "StatefulSet", "cache", "payments-cache", "WK-07",
                              "Deployment")}, out)
        self.assertIn("fsyncs 40 MiB/s into a PVC", out)
        self.assertEqual(by_node["node-b"][0][1:7],
                         ["web", "Deployment", "frontend", "-", "RS-02", "-"])
        # the silent ones are listed, with why
        self.assertEqual(by_node["node-c"][0][5], "NO-ANSWER")
        self.assertIn("503", " ".join(by_node["node-c"][0][7:]))
        self.assertIn("connection refused", " ".join(by_node["node-c"][0][7:]))
        self.assertEqual(by_node["node-d"][0][5], "NO-ANSWER")
        self.assertIn("Pending", " ".join(by_node["node-d"][0][7:]))

    def test_client_certificate_kubeconfig_as_tools_cluster_writes(self):
        pki = make_pki(self.d)
        # a client certificate signed by the same CA
        subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", "admin.key", "-out",
                        "admin.csr", "-subj", "/CN=admin/O=system:masters"],
                       cwd=self.d, check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey",
                        "ca.key", "-CAcreateserial", "-out", "admin.crt", "-days", "1"],
                       cwd=self.d, check=True, capture_output=True)
        with fk.FakeKubeApi(tls=(pki["server.crt"], pki["server.key"]),
                            client_ca=pki["ca.crt"]) as api:
            self.populate(api)
            server = "https://127.0.0.1:%d" % api.port
            cfg = kubeconfig(os.path.join(self.d, "admin.kubeconfig"), server,
                             {"client-certificate": "admin.crt", "client-key": "admin.key"},
                             {"certificate-authority": pki["ca.crt"]})
            r = self.run_check("--cluster", "--kubeconfig", cfg)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assert_table(r.stdout)
            self.assertIn("4 findings from 2 of 4 agents", r.stderr)
            # the pods were found by the chart's labels, the findings through the pod proxy
            # (https: for the agent serving TLS), nothing else
            kinds = {(k, p, q.get("labelSelector")) for k, p, q, _ in api.requests}
            self.assertIn(("select", "/api/v1/pods", fk_selector()), kinds)
            proxied = sorted(p for k, p, _, _ in api.requests if k == "proxy")
            self.assertEqual(proxied, [
                "/api/v1/namespaces/bpfdiag/pods/bpfdiag-a1:9810/proxy/api/v1/findings",
                "/api/v1/namespaces/bpfdiag/pods/bpfdiag-c1:9810/proxy/api/v1/findings",
                "/api/v1/namespaces/bpfdiag/pods/https:bpfdiag-b1:9810/proxy/api/v1/findings"])

            # without the client certificate the API server refuses the handshake: an error
            bad = kubeconfig(os.path.join(self.d, "nocert.kubeconfig"), server, {},
                             {"certificate-authority": pki["ca.crt"]})
            r = self.run_check("--cluster", "--kubeconfig", bad)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertEqual(r.stdout, "")
            # a CA that did not sign the server: refused too (TLS is verified)
            os.mkdir(os.path.join(self.d, "x"))
            other = make_pki(os.path.join(self.d, "x"))
            bad = kubeconfig(os.path.join(self.d, "wrongca.kubeconfig"), server,
                             {"client-certificate": "admin.crt", "client-key": "admin.key"},
                             {"certificate-authority": other["ca.crt"]})
            r = self.run_check("--cluster", "--kubeconfig", bad)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def test_token_and_data_kubeconfig_kubectl_plugin_json_and_exit_codes(self):
        pki = make_pki(self.d)
        with open(pki["ca.crt"], "rb") as f:
            ca_data = base64.b64encode(f.read()).decode()
        with fk.FakeKubeApi(tls=(pki["server.crt"], pki["server.key"]), token="s3cret") as api:
            self.populate(api)
            cfg = kubeconfig(os.path.join(self.d, "config"), "https://127.0.0.1:%d/" % api.port,
                             {"token": "s3cret"}, {"certificate-authority-data": ca_data})
            # as a kubectl plugin, from $KUBECONFIG: check means check --cluster
            plugin = os.path.join(self.d, "kubectl-bpfdiag")
            os.symlink(os.path.abspath(BIN), plugin)
            r = self.run_check(env={"KUBECONFIG": cfg}, argv0=plugin)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assert_table(r.stdout)
            self.assertTrue(all(h.get("Authorization") == "Bearer s3cret"
                                for _, _, _, h in api.requests))

            # --json: every agent with whether it answered, and the findings with their node
            r = self.run_check("--cluster", "--json", env={"KUBECONFIG": cfg})
            self.assertEqual(r.returncode, 1, r.stderr)
            doc = json.loads(r.stdout)
            nodes = {n["node"]: n for n in doc["nodes"]}
            self.assertEqual([nodes[k]["answered"] for k in sorted(nodes)],
                             [True, True, False, False])
            self.assertEqual(nodes["node-a"]["findings"], 3)
            self.assertIn("Pending", nodes["node-d"]["error"])
            self.assertEqual(sorted({(f["node"], f["rule"]) for f in doc["findings"]}),
                             [("node-a", "RS-01"), ("node-a", "WK-05"), ("node-a", "WK-07"),
                              ("node-b", "RS-02")])

            # ~/.kube/config is the default; no findings but a silent agent: 2, listed
            os.makedirs(os.path.join(self.d, ".kube"))
            os.rename(cfg, os.path.join(self.d, ".kube", "config"))
            for a in self.agents:
                a.set("/api/v1/findings", {"findings": []})
            r = self.run_check("--cluster")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertEqual([cells(line)[0] for line in r.stdout.splitlines()[1:]],
                             ["node-c", "node-d"])

            # every agent answers none: 0 and "no findings"
            with api.cond:
                for uid in ("u-c", "u-d"):
                    del api.pods[uid]
            r = self.run_check("--cluster")
            self.assertEqual((r.returncode, r.stdout), (0, "no findings\n"), r.stderr)

            # the proxy refused (RBAC: no get on pods/proxy): the node is listed with why
            api.fault("proxy", "status", match="bpfdiag-a1", code=403, reason="Forbidden",
                      message='pods "bpfdiag-a1" is forbidden: User "dev" cannot get '
                              'resource "pods/proxy"')
            r = self.run_check("--cluster", "--namespace", NS)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("HTTP 403", r.stdout)
            self.assertIn("pods/proxy", r.stdout)

            # a wrong token: the list is refused, an error naming it
            with open(os.path.join(self.d, ".kube", "config")) as f:
                text = f.read()
            with open(os.path.join(self.d, ".kube", "config"), "w") as f:
                f.write(text.replace("s3cret", "wrong"))
            r = self.run_check("--cluster")
            self.assertEqual(r.returncode, 2)
            self.assertIn("HTTP 401", r.stderr)

    def test_no_kubeconfig_no_agents(self):
        r = self.run_check("--cluster")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no kubeconfig", r.stderr)
        with fk.FakeKubeApi() as api:
            cfg = kubeconfig(os.path.join(self.d, "c"), api.url, {}, {})
            r = self.run_check("--cluster", "--kubeconfig", cfg)
            self.assertEqual(r.returncode, 2)
            self.assertIn("no agent pods", r.stderr)
            r = self.run_check("--cluster", "--kubeconfig", cfg, "--context", "other")
            self.assertEqual(r.returncode, 2)
            self.assertIn("no cluster 'nowhere'", r.stderr)


def fk_selector():
    return "app.kubernetes.io/part-of=bpfdiag,app.kubernetes.io/component=agent"


if __name__ == "__main__":
    unittest.main()
