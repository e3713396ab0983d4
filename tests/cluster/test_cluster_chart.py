"""The chart on a real cluster, as a user installs it (docs/INSTALL.md): `helm install` with the
default values (only the image pull policy changed, as no registry serves the image), then
what a user relies on: the DaemonSet Ready through its own readiness probe with the default
capabilities (no CAP_SYS_RESOURCE, which this node's bounding set lacks), the API reached through
the `kubernetes` Service with the projected token, RBAC exactly as needed, Pod Security
admission, a real Prometheus scraping the pod, `helm upgrade` rolling the DaemonSet, and
`helm uninstall` leaving nothing behind."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import clusterlib as cl
sys.path.insert(0, os.path.join(cl.REPO, "tests", "e2e"))
import bpfdiag_e2e as e2e  # noqa: E402
from clusterlib import AGENT_NS, kubectl, kjson


class Chart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cl.precondition()
        cls.agent = cl.Agent()
        t = time.monotonic()
        cls.agent.install()
        cls.pod = cls.agent.ready_pod()
        cl.log("installed and Ready in %.0f s" % (time.monotonic() - t))

    @classmethod
    def tearDownClass(cls):
        cls.agent.uninstall()

    def sa(self):
        return "system:serviceaccount:%s:%s" % (AGENT_NS, self.pod["spec"]["serviceAccountName"])

    def test_0_no_way_out_of_the_namespace(self):
        """The cluster's namespace holds loopback, the node's veth pair (both ends inside), the
        pods' bridge and their veths, and refuses whatever would leave through k8s0."""
        links = json.loads(cl.in_ns("ip", "-j", "link", "show").stdout)
        names = {l["ifname"] for l in links}
        self.assertLessEqual({"lo", "k8s0", "k8s0-end"}, names)
        others = {n for n in names - {"lo", "k8s0", "k8s0-end", "cni0"}
                  if not n.startswith("veth")}
        self.assertEqual(others, set())
        for l in links:
            if l["ifname"] == "k8s0":
                self.assertEqual(l.get("link"), "k8s0-end", l)  # the peer is in this namespace
        rules = cl.in_ns("iptables", "-w", "-S", "OUTPUT").stdout
        self.assertIn("-A OUTPUT -o k8s0 -j REJECT", rules)

    def test_1_ready_through_its_readiness_probe(self):
        ds = kjson("get", "daemonset", "-n", AGENT_NS, "bpfdiag")
        self.assertEqual(ds["status"].get("numberReady"), 1, ds["status"])
        agent = self.pod["spec"]["containers"][0]
        self.assertEqual(agent["readinessProbe"]["httpGet"]["path"], "/readyz")
        # The default capabilities, and none the node cannot grant.
        caps = agent["securityContext"]["capabilities"]["add"]
        self.assertEqual(sorted(caps), ["BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"])
        status = self.pod["status"]["containerStatuses"][0]
        self.assertTrue(status["ready"])
        self.assertEqual(status["restartCount"], 0, self.agent.log(self.pod)[-2000:])
        # The probe's own verdict, from the pod: /readyz answers 200 on the pod IP.
        status, body = cl.http_get(self.agent.url(self.pod, "/readyz"))
        self.assertEqual(status, 200, body)

    def test_1b_sys_resource_would_not_start_here(self):
        """The negative control of the default above: CAP_SYS_RESOURCE, which the chart
        requested before, is outside this node's bounding set, and the runtime then refuses
        the container. Requested only as an opt-in (extraCapabilities) for kernels < 5.11."""
        with open("/proc/self/status") as f:
            bnd = int([l for l in f if l.startswith("CapBnd:")][0].split()[1], 16)
        if bnd & (1 << 24):
            print("SKIP (control only): this host's bounding set has CAP_SYS_RESOURCE")
            return
        agent = cl.Agent(release="bpfdiag-sysres", sets=["extraCapabilities[0]=SYS_RESOURCE",
                                                         "dashboards.enabled=false"])
        try:
            agent.install()

            def refused():
                for p in agent.pods():
                    for st in p["status"].get("containerStatuses", []):
                        w = st.get("state", {}).get("waiting") or {}
                        t = st.get("lastState", {}).get("terminated") or {}
                        msg = (w.get("message") or "") + (t.get("message") or "")
                        if "caps" in msg or "operation not permitted" in msg:
                            return msg
                return None
            msg = cl.wait("the runtime refusing CAP_SYS_RESOURCE", refused, 90, 2)
            self.assertIn("operation not permitted", msg)
        finally:
            agent.uninstall()

    def test_2_in_cluster_api_through_the_service(self):
        env = {e["name"]: e.get("value") for e in self.pod["spec"]["containers"][0].get("env", [])}
        self.assertIn("NODE_NAME", env)
        svc = kjson("get", "service", "-n", "default", "kubernetes")
        ip = svc["spec"]["clusterIP"]
        # The pod's environment holds the Service's address (kubelet injects it); the agent's
        # own process sees it: read it from /proc of the container's main process.
        pid = self.agent_pid()
        with open("/proc/%d/environ" % pid, "rb") as f:
            penv = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        self.assertEqual(penv.get(b"KUBERNETES_SERVICE_HOST", b"").decode(), ip)
        # The projected token is mounted where the agent reads it by default.
        vols = [v for v in self.pod["spec"]["volumes"] if "projected" in v]
        self.assertTrue(any(any("serviceAccountToken" in s for s in v["projected"]["sources"])
                            for v in vols), self.pod["spec"]["volumes"])
        # And it worked: the agent knows its own pod's workload and Helm release from the API.
        pods = json.loads(self.agent.get(self.pod, "/api/v1/pods"))["pods"]
        me = [p for p in pods if p.get("pod") == self.pod["metadata"]["name"]]
        self.assertEqual(len(me), 1, [p.get("pod") for p in pods])
        self.assertEqual(me[0]["workload_kind"], "DaemonSet")
        self.assertEqual(me[0]["workload"], "bpfdiag")
        self.assertEqual(me[0]["helm_release"], "bpfdiag")
        # Its connections to the API are to the Service's address (kube-proxy's DNAT then
        # takes them to the API server): the sockets seen from the pod's network namespace.
        conns = cl.run(["nsenter", "-t", str(pid), "-n", "ss", "-Htn", "state", "established",
                        "dst", ip]).stdout
        self.assertIn("%s:443" % ip, conns)

    def agent_pid(self):
        cid = self.pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cgroup" % d) as f:
                    cg = f.read()
                with open("/proc/%s/comm" % d) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if cid in cg and comm == "bpfdiag":
                return int(d)
        raise AssertionError("no bpfdiag process in container %s" % cid)

    def test_3_rbac_exactly_what_it_needs(self):
        sa = self.sa()

        def can(verb, resource, ns=None):
            args = ["auth", "can-i", verb, resource, "--as", sa]
            args += ["-n", ns] if ns else ["--all-namespaces"]
            r = kubectl(*args, check=False)
            return r.stdout.strip() == "yes"
        for verb, res in (("list", "pods"), ("watch", "pods"), ("get", "deployments.apps"),
                          ("get", "replicasets.apps"), ("get", "statefulsets.apps"),
                          ("get", "daemonsets.apps"), ("get", "jobs.batch"),
                          ("get", "cronjobs.batch"), ("get", "persistentvolumeclaims"),
                          ("list", "poddisruptionbudgets.policy"),
                          ("list", "horizontalpodautoscalers.autoscaling")):
            self.assertTrue(can(verb, res), "%s %s denied" % (verb, res))
        for verb, res in (("get", "secrets"), ("list", "secrets"), ("get", "configmaps"),
                          ("create", "pods"), ("delete", "pods"), ("update", "deployments.apps"),
                          ("patch", "daemonsets.apps"), ("create", "pods/exec"),
                          ("list", "deployments.apps"), ("watch", "deployments.apps"),
                          ("get", "nodes")):
            self.assertFalse(can(verb, res), "%s %s allowed" % (verb, res))
        # What it did with it: no request was refused, in its log or its own metrics.
        time.sleep(3)
        logtext = self.agent.log(self.pod)
        self.assertNotIn("HTTP 403", logtext)
        self.assertNotIn("reason forbidden", logtext)
        samples = cl.parse_prom(self.agent.get(self.pod, "/metrics"))
        errors = {l["reason"]: v for n, l, v in samples
                  if n == "bpfdiag_agent_kube_api_errors_total"}
        self.assertEqual(errors.get("forbidden"), 0, errors)
        self.assertEqual(errors.get("unauthorized"), 0, errors)
        ok = sum(v for n, l, v in samples
                 if n == "bpfdiag_agent_kube_api_requests_total" and l.get("result") == "success")
        self.assertGreater(ok, 0, "no successful API request")

    def test_4_pod_security_admission(self):
        ns = kjson("get", "namespace", AGENT_NS)
        self.assertEqual(ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce"),
                         "privileged")
        # Admitted: no FailedCreate event on the DaemonSet.
        events = kjson("get", "events", "-n", AGENT_NS)["items"]
        self.assertEqual([e["message"] for e in events if e.get("reason") == "FailedCreate"], [])
        # And the label is what makes the difference: under "baseline" the API server's
        # admission refuses the same pod.
        pod = kjson("get", "pod", "-n", AGENT_NS, self.pod["metadata"]["name"])
        spec = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "psa-probe", "namespace": "bpfdiag-psa-baseline"},
                "spec": pod["spec"]}
        for k in ("nodeName", "serviceAccountName", "serviceAccount"):
            spec["spec"].pop(k, None)
        cl.ensure_namespace("bpfdiag-psa-baseline", {"pod-security.kubernetes.io/enforce": "baseline"})
        try:
            cl.wait("the default ServiceAccount", lambda: kubectl(
                "get", "serviceaccount", "default", "-n", "bpfdiag-psa-baseline",
                check=False).returncode == 0, 60)
            r = kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(spec),
                        check=False)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("violates PodSecurity", r.stderr)
            self.assertIn("hostPID", r.stderr)
        finally:
            cl.delete_namespace("bpfdiag-psa-baseline")

    def test_5_prometheus_scrapes_the_pod(self):
        prom = shutil.which("prometheus")
        self.assertIsNotNone(prom, "prometheus is missing: tools/deps.sh test installs it")
        tmp = tempfile.mkdtemp(prefix="bpfdiag-cluster-prom-")
        # Debian's Prometheus is built without Kubernetes service discovery: the pod's
        # address, as the API gives it, is a static target. honor_labels, as NOTES.txt says.
        config = {"global": {"scrape_interval": "2s", "scrape_timeout": "2s"},
                  "scrape_configs": [{
                      "job_name": "bpfdiag", "honor_labels": True,
                      "static_configs": [{"targets": ["%s:9810" % self.pod["status"]["podIP"]]}]}]}
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            json.dump(config, f)
        log = open(os.path.join(tmp, "log"), "w+")
        proc = subprocess.Popen(
            [cl.CLUSTER, "exec", "--", prom, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
             "--web.listen-address=127.0.0.1:19090", "--log.level=warn"],
            stdout=log, stderr=log)
        try:
            def query(q):
                status, body = cl.http_get("http://127.0.0.1:19090/api/v1/query?query=" +
                                           urllib_quote(q))
                if status != 200:
                    return None
                return json.loads(body)["data"]["result"]
            up = cl.wait("Prometheus scraping the agent pod",
                         lambda: [r for r in (query("up{job='bpfdiag'}") or [])
                                  if r["value"][1] == "1"], 90, 2)
            self.assertEqual(up[0]["metric"]["instance"], "%s:9810" % self.pod["status"]["podIP"])
            info = cl.wait("bpfdiag_pod_info in Prometheus",
                           lambda: query("bpfdiag_pod_info{pod='%s'}" %
                                         self.pod["metadata"]["name"]), 60, 2)
            self.assertEqual(info[0]["metric"]["workload_kind"], "DaemonSet")
            self.assertEqual(info[0]["metric"]["namespace"], AGENT_NS)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.seek(0)
            text = log.read()
            log.close()
            shutil.rmtree(tmp, ignore_errors=True)
            if text.strip():
                cl.log("prometheus log:\n" + text[-2000:])

    def test_6_upgrade_rolls_the_daemonset(self):
        before = self.agent.ready_pod()
        gen = kjson("get", "daemonset", "-n", AGENT_NS, "bpfdiag")["metadata"]["generation"]
        cl.helm("upgrade", "bpfdiag", cl.CHART, "--namespace", AGENT_NS, "--reuse-values",
                "--set", "agent.interval=2")
        ds = kjson("get", "daemonset", "-n", AGENT_NS, "bpfdiag")
        self.assertGreater(ds["metadata"]["generation"], gen)
        cl.wait("the rollout", lambda: kubectl("rollout", "status", "-n", AGENT_NS,
                                               "daemonset/bpfdiag", "--timeout=5s",
                                               check=False).returncode == 0, 180, 2)
        after = self.agent.ready_pod()
        self.assertNotEqual(after["metadata"]["uid"], before["metadata"]["uid"])
        self.assertIn("--interval=2", after["spec"]["containers"][0]["args"])
        Chart.pod = after

    def test_7_uninstall_leaves_nothing(self):
        before = self.bpf_programs()
        self.assertGreater(len(before), 5, "the agent's BPF programs are not loaded")
        self.agent.uninstall()
        labels = "app.kubernetes.io/instance=bpfdiag"
        # The DaemonSet's pod goes by cascading deletion, within its grace period.
        cl.wait("the agent pod gone", lambda: not self.agent.pods(), 90, 1)
        for kind in ("all", "serviceaccounts", "configmaps", "secrets", "roles", "rolebindings"):
            r = kubectl("get", kind, "-n", AGENT_NS, "-l", labels, "-o", "name")
            self.assertEqual(r.stdout.strip(), "", kind)
        for kind in ("clusterroles", "clusterrolebindings"):
            r = kubectl("get", kind, "-l", labels, "-o", "name")
            self.assertEqual(r.stdout.strip(), "", kind)
        # On the node: the agent's BPF programs unloaded with it (nothing pinned on this node).
        cl.wait("the agent's BPF programs unloaded",
                lambda: not (before & self.loaded_programs()), 30, 1)

    def bpf_programs(self):
        """The ids of the BPF programs the agent's process holds."""
        return e2e.prog_ids_of(self.agent_pid())

    @staticmethod
    def loaded_programs():
        r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
        return {p["id"] for p in json.loads(r.stdout or "[]")}


def urllib_quote(q):
    import urllib.parse
    return urllib.parse.quote(q, safe="")


if __name__ == "__main__":
    unittest.main(verbosity=2)
