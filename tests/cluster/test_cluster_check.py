"""`bpfdiag check --cluster` on the real cluster (docs/INSTALL.md §6): the chart installed with
rbac.findingsReader bound to a ServiceAccount; a kubeconfig holding only that account's token
and the cluster's CA reads the agent's findings through the real API server's pod proxy with
--namespace (exactly the Role's rights), and is refused without it (listing pods in all
namespaces is more than the Role grants). The admin kubeconfig tools/cluster writes (client
certificate) reads them in all namespaces. `bpfdiag top --cluster --once` (and `--json`) reads
the agent's pods the same way: one node, its agent answering, every pod with that node."""
import json
import os
import tempfile
import unittest

import clusterlib as cl
from clusterlib import AGENT_NS, kubectl

BIN = os.environ.get("BPFDIAG_BIN", os.path.join(cl.REPO, "build", "bpfdiag"))
VIEWER = "findings-viewer"


class ClusterCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cl.precondition()
        cls.agent = cl.Agent(sets=[
            "rbac.findingsReader.create=true",
            "rbac.findingsReader.subjects[0].kind=ServiceAccount",
            "rbac.findingsReader.subjects[0].name=" + VIEWER,
            "rbac.findingsReader.subjects[0].namespace=" + AGENT_NS])
        cls.agent.install()
        cls.pod = cls.agent.ready_pod()
        kubectl("create", "serviceaccount", VIEWER, "-n", AGENT_NS)

    @classmethod
    def tearDownClass(cls):
        kubectl("delete", "serviceaccount", VIEWER, "-n", AGENT_NS, "--ignore-not-found",
                check=False)
        cls.agent.uninstall()

    def check(self, *args):
        return cl.in_ns(BIN, "check", "--cluster", *args, check=False, timeout=60)

    def assert_answered(self, r):
        self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
        self.assertIn("from 1 of 1 agents", r.stderr)
        self.assertNotIn("NO-ANSWER", r.stdout)
        if r.returncode == 0:
            self.assertEqual(r.stdout, "no findings\n")
        else:
            node = self.pod["spec"]["nodeName"]
            rows = r.stdout.splitlines()[1:]
            self.assertTrue(rows and all(row.split()[0] == node for row in rows), r.stdout)

    def test_admin_client_certificate(self):
        self.assert_answered(self.check())

    def top(self, *args):
        return cl.in_ns(BIN, "top", "--cluster", "--once", "--timeout", "10", *args,
                        check=False, timeout=60)

    def test_top_cluster(self):
        node = self.pod["spec"]["nodeName"]
        r = self.top()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("agents 1 of 1 answer", r.stdout)
        self.assertNotIn("NO-ANSWER", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^NODE +NAMESPACE +POD ")
        self.assertRegex(r.stdout, r"(?m)^%s +%s +\d+ +\d+ [A-Z]+: " % (
            node, AGENT_NS + "/" + self.pod["metadata"]["name"]))
        # the agent's own pod is among the pods it sees, on its node
        r = self.top("--json", "--namespace", AGENT_NS)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual([(n["node"], n["pod"], n["answered"]) for n in doc["nodes"]],
                         [(node, self.pod["metadata"]["name"], True)])
        self.assertTrue(doc["pods"] and all(p["node"] == node for p in doc["pods"]))
        self.assertIn(self.pod["metadata"]["name"], {p["pod"] for p in doc["pods"]})

    def test_findings_reader_token(self):
        token = kubectl("create", "token", VIEWER, "-n", AGENT_NS).stdout.strip()
        server = kubectl("config", "view", "--raw", "-o",
                         "jsonpath={.clusters[0].cluster.server}").stdout.strip()
        ca = kubectl("config", "view", "--raw", "-o",
                     "jsonpath={.clusters[0].cluster.certificate-authority}").stdout.strip()
        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig") as f:
            f.write("clusters: [{name: c, cluster: {server: '%s', certificate-authority: '%s'}}]\n"
                    "users: [{name: v, user: {token: '%s'}}]\n"
                    "contexts: [{name: v, context: {cluster: c, user: v}}]\n"
                    "current-context: v\n" % (server, ca, token))
            f.flush()
            self.assert_answered(self.check("--kubeconfig", f.name, "--namespace", AGENT_NS))
            # top --cluster needs no more than check --cluster
            r = self.top("--kubeconfig", f.name, "--namespace", AGENT_NS)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("agents 1 of 1 answer", r.stdout)
            r = self.check("--kubeconfig", f.name)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("HTTP 403", r.stderr)


if __name__ == "__main__":
    unittest.main()
