"""The API over https: with the cluster CA (--kube-ca-file) the agent lists, watches and labels;
with only the system CAs it refuses the server's certificate (TLS verification is on by
default), counts reason="tls", never becomes ready and never sends a request, let alone the
token."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from kube_e2e import wait_for  # noqa: E402


def make_pki(d):
    """A CA and a server certificate for 127.0.0.1 signed by it (ECDSA: fast)."""
    def ssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-cluster-ca")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext.cnf")
    with open(os.path.join(d, "token"), "w") as f:
        f.write("tls-token\n")
    return {k: os.path.join(d, k) for k in ("ca.crt", "server.crt", "server.key", "token")}


class KubeTls(unittest.TestCase):
    def test_https(self):
        with tempfile.TemporaryDirectory(prefix="bpfdiag-tls-") as d:
            pki = make_pki(d)
            with e2e.FakePod() as pod, \
                    fk.FakeKubeApi(node=ke.NODE, token="tls-token",
                                   tls=(pki["server.crt"], pki["server.key"])) as api:
                self.assertTrue(api.url.startswith("https://127.0.0.1:"))
                api.add_pod(fk.pod("secure", "prod", pod.uid, [("app", pod.container_id)]))
                # the system CAs do not know this cluster's CA: refused, nothing sent
                with ke.KubeAgent(api, "--kube-token-file", pki["token"],
                                  wait_ready=False) as agent:
                    wait_for(lambda: agent.value("bpfdiag_agent_kube_api_errors_total",
                                                 reason="tls") >= 2, what="tls errors",
                             agent=agent)
                    self.assertEqual(agent.get("/readyz")[0], 503)
                    self.assertEqual(api.requests, [])
                    self.assertGreaterEqual(api.tls_failures, 1)
                    self.assertEqual(agent.log_count("[reason tls;"), 1)
                # with the cluster CA: listed, watched, labelled, the token sent
                with ke.KubeAgent(api, "--kube-token-file", pki["token"],
                                  "--kube-ca-file", pki["ca.crt"]) as agent:
                    ke.burn(pod)
                    wait_for(lambda: agent.series(container_id=pod.container_id,
                                                  namespace="prod", pod="secure",
                                                  container="app", workload_kind="Pod"),
                             what="labels over https", agent=agent)
                    self.assertEqual(agent.value("bpfdiag_agent_kube_api_errors_total",
                                                 reason="tls"), 0)
                    api.wait_watchers(1)
                    self.assertEqual({h.get("Authorization") for k, p, q, h in api.requests},
                                     {"Bearer tls-token"})


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
