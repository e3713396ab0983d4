"""The Helm chart: helm lint, helm template with default and non-default values, schema
rejection of bad values (with the message), and what the rendered manifests grant: security
context, RBAC to the verb, mounts, probes, flags, and optional objects only when enabled."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import chartlib  # noqa: E402
from chartlib import Rendered  # noqa: E402

GOOD_FIXTURES = ["everything.yaml", "privileged.yaml", "external.yaml"]
DEFAULT_CAPS = ["BPF", "PERFMON", "DAC_READ_SEARCH", "SYS_PTRACE"]
RBAC = {
    ("", "pods", "list"), ("", "pods", "watch"),
    ("", "persistentvolumeclaims", "get"),
    ("apps", "deployments", "get"), ("apps", "replicasets", "get"),
    ("apps", "statefulsets", "get"), ("apps", "daemonsets", "get"),
    ("batch", "jobs", "get"), ("batch", "cronjobs", "get"),
    ("policy", "poddisruptionbudgets", "list"),
    ("autoscaling", "horizontalpodautoscalers", "list"),
}
OPTIONAL_FLAGS = ["--rules-config", "--otlp-endpoint", "--otlp-interval", "--tls-cert",
                  "--tls-key", "--auth-token-file", "--cgroup-root", "--window", "--warmup"]
FULLNAME = chartlib.RELEASE + "-bpfdiag"


def rbac_triples(role):
    out = set()
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for v in rule["verbs"]:
                    out.add((g, r, v))
    return out


class Lint(unittest.TestCase):
    def test_lint_default_and_fixtures(self):
        for values in [None] + GOOD_FIXTURES:
            with self.subTest(values=values):
                args = ["lint", "--strict", chartlib.CHART]
                if values:
                    args += ["-f", chartlib.fixture(values)]
                r = chartlib.helm(*args, check=False)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("0 chart(s) failed", r.stdout)
                self.assertNotIn("[WARNING]", r.stdout)
                self.assertNotIn("[ERROR]", r.stdout)

    def test_chart_metadata(self):
        with open(os.path.join(chartlib.CHART, "Chart.yaml")) as f:
            chart = chartlib.yaml.safe_load(f)
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["name"], "bpfdiag")
        # The default image tag is appVersion: it must be the version the binary reports.
        with open(os.path.join(chartlib.REPO, "CMakeLists.txt")) as f:
            cmake = f.read()
        self.assertIn("project(bpfdiag VERSION %s " % chart["appVersion"], cmake)


class Schema(unittest.TestCase):
    def test_bad_values_rejected_with_message(self):
        bad = sorted(glob.glob(os.path.join(chartlib.FIXTURES, "bad", "*.yaml")))
        self.assertGreaterEqual(len(bad), 10)
        for path in bad:
            with open(path) as f:
                first = f.readline()
            self.assertTrue(first.startswith("# expect: "), path)
            expect = first[len("# expect: "):].rstrip("\n")
            with self.subTest(fixture=os.path.basename(path)):
                r = chartlib.helm(*chartlib.template_args([path]), check=False)
                self.assertNotEqual(r.returncode, 0, "accepted:\n" + r.stdout[:400])
                self.assertEqual(r.stdout, "")
                self.assertIn("values don't meet the specifications of the schema", r.stderr)
                self.assertIn(expect, r.stderr)

    def test_schema_covers_every_value(self):
        """Every key of values.yaml is described by the schema (no silently accepted typo
        paths), and the schema forbids unknown top-level keys."""
        with open(os.path.join(chartlib.CHART, "values.schema.json")) as f:
            schema = json.load(f)
        with open(os.path.join(chartlib.CHART, "values.yaml")) as f:
            values = chartlib.yaml.safe_load(f)
        self.assertIs(schema["additionalProperties"], False)

        def walk(v, s, path):
            if not isinstance(v, dict) or s.get("type") != "object" or "properties" not in s:
                return
            for k, sub in v.items():
                self.assertIn(k, s["properties"], "values.yaml key %s.%s has no schema"
                              % (path, k))
                walk(sub, s["properties"][k], path + "." + k)

        walk(values, schema, "")


class Defaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = Rendered()

    def test_objects(self):
        self.assertEqual(self.r.kinds(), sorted([
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "DaemonSet",
            "ConfigMap", "ConfigMap", "ConfigMap"]))
        for o in self.r.all("ConfigMap"):
            self.assertEqual(o["metadata"]["labels"]["grafana_dashboard"], "1")

    def test_recommended_labels(self):
        for o in self.r.objects:
            with self.subTest(kind=o["kind"], name=o["metadata"]["name"]):
                labels = o["metadata"]["labels"]
                self.assertEqual(labels["app.kubernetes.io/name"], "bpfdiag")
                self.assertEqual(labels["app.kubernetes.io/instance"], chartlib.RELEASE)
                self.assertEqual(labels["app.kubernetes.io/managed-by"], "Helm")
                self.assertRegex(labels["app.kubernetes.io/version"], r"^\d+\.\d+\.\d+")
                self.assertRegex(labels["helm.sh/chart"], r"^bpfdiag-\d+\.\d+\.\d+")
                if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
                    self.assertEqual(o["metadata"]["namespace"], chartlib.NAMESPACE)

    def test_least_privilege(self):
        spec = self.r.pod_spec()
        sc = self.r.container()["securityContext"]
        self.assertNotIn("privileged", sc)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(sorted(sc["capabilities"]["add"]), sorted(DEFAULT_CAPS))
        self.assertIs(spec["hostPID"], True)
        for ns in ("hostNetwork", "hostIPC"):
            self.assertNotIn(ns, spec)
        self.assertEqual(spec["securityContext"]["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertNotIn("privileged", json.dumps(self.r.daemonset()))

    def test_host_mounts(self):
        m = self.r.mounts()
        want = {"/sys/fs/cgroup": ("/sys/fs/cgroup", True),
                "/sys/fs/bpf": ("/sys/fs/bpf", False),
                "/sys/kernel/tracing": ("/sys/kernel/tracing", True),
                "/host/proc": ("/proc", True),
                "/var/lib/bpfdiag": ("/var/lib/bpfdiag", False)}
        host = {path: (vol["hostPath"]["path"], ro) for path, (vol, ro) in m.items()
                if "hostPath" in vol}
        self.assertEqual(host, want)
        # The right-sizing state file's directory: created on the node, off with "none".
        self.assertEqual(m["/var/lib/bpfdiag"][0]["hostPath"]["type"], "DirectoryOrCreate")
        self.assertEqual(self.r.args()["--state-dir"], "/var/lib/bpfdiag")
        off = Rendered(sets=["agent.stateDir=none"])
        self.assertEqual(off.args()["--state-dir"], "none")
        self.assertNotIn("/var/lib/bpfdiag", off.mounts())
        vol, ro = m["/tmp"]
        self.assertIn("emptyDir", vol)
        self.assertFalse(ro)

    def test_node_name_and_flags(self):
        env = self.r.env()
        self.assertEqual(env["NODE_NAME"]["valueFrom"],
                         {"fieldRef": {"fieldPath": "spec.nodeName"}})
        c = self.r.container()
        self.assertEqual(c["command"], ["/usr/bin/bpfdiag"])
        flags = self.r.args()
        self.assertLessEqual(set(flags), chartlib.AGENT_FLAGS)
        self.assertEqual(flags["--node-name"], "$(NODE_NAME)")
        self.assertEqual(flags["--proc-root"], "/host/proc")
        self.assertEqual(flags["--kube-api"], "auto")
        # The default pin directory is the agent's own: not passed, so that a node without a
        # bpffs runs unpinned (an explicit --pin-dir there is fatal).
        self.assertNotIn("--pin-dir", flags)
        self.assertNotIn("initContainers", self.r.pod_spec())
        self.assertEqual(Rendered(sets=["agent.pinDir=/sys/fs/bpf/diag"]).args()["--pin-dir"],
                         "/sys/fs/bpf/diag")
        self.assertEqual(flags["--listen"], "0.0.0.0:9810")
        for f in OPTIONAL_FLAGS:
            self.assertNotIn(f, flags)
        for e in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_RESOURCE_ATTRIBUTES"):
            self.assertNotIn(e, env)
        self.assertEqual(c["ports"], [{"name": "metrics", "containerPort": 9810,
                                       "protocol": "TCP"}])

    def test_probes_resources_scheduling(self):
        c = self.r.container()
        self.assertEqual(c["livenessProbe"]["httpGet"],
                         {"path": "/healthz", "port": "metrics", "scheme": "HTTP"})
        self.assertEqual(c["readinessProbe"]["httpGet"],
                         {"path": "/readyz", "port": "metrics", "scheme": "HTTP"})
        for kind in ("requests", "limits"):
            self.assertEqual(set(c["resources"][kind]), {"cpu", "memory", "ephemeral-storage"})
        spec = self.r.pod_spec()
        # One toleration with operator Exists and no key or effect tolerates every taint.
        self.assertEqual(spec["tolerations"], [{"operator": "Exists"}])
        self.assertNotIn("priorityClassName", spec)
        ds = self.r.daemonset()["spec"]
        self.assertEqual(ds["updateStrategy"], {"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 1}})

    def test_rbac_exact(self):
        role = self.r.one("ClusterRole", FULLNAME)
        self.assertEqual(rbac_triples(role), RBAC)
        binding = self.r.one("ClusterRoleBinding", FULLNAME)
        self.assertEqual(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                              "kind": "ClusterRole", "name": FULLNAME})
        sa = self.r.one("ServiceAccount")
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount",
                                                "name": sa["metadata"]["name"],
                                                "namespace": chartlib.NAMESPACE}])
        self.assertEqual(self.r.pod_spec()["serviceAccountName"], sa["metadata"]["name"])

    def test_service_selects_the_pods(self):
        svc = self.r.one("Service")
        ds = self.r.daemonset()
        pod_labels = ds["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(svc["spec"]["selector"].items() <= pod_labels.items())
        self.assertEqual(ds["spec"]["selector"]["matchLabels"], svc["spec"]["selector"])
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "metrics")

    def test_apparmor_by_kubernetes_version(self):
        """AppArmor is a securityContext field from Kubernetes 1.30, an annotation before."""
        old = Rendered(kube_version="1.29.0")
        self.assertEqual(old.daemonset()["spec"]["template"]["metadata"]["annotations"],
                         {"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"})
        self.assertNotIn("appArmorProfile", old.container()["securityContext"])
        new = Rendered(kube_version="1.31.0")
        self.assertNotIn("annotations", new.daemonset()["spec"]["template"]["metadata"])
        self.assertEqual(new.container()["securityContext"]["appArmorProfile"],
                         {"type": "Unconfined"})


class Everything(unittest.TestCase):
    """tests/fixtures/chart/everything.yaml: every optional object and flag on."""

    @classmethod
    def setUpClass(cls):
        cls.r = Rendered(["everything.yaml"])

    def test_objects(self):
        self.assertEqual(self.r.kinds(), sorted([
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "DaemonSet",
            "ConfigMap", "ConfigMap", "ConfigMap", "ConfigMap", "Secret", "ServiceMonitor",
            "PrometheusRule", "NetworkPolicy", "Role", "RoleBinding"]))

    def test_findings_reader(self):
        """rbac.findingsReader: exactly what `bpfdiag check --cluster --namespace` needs."""
        role = self.r.one("Role", FULLNAME + "-findings-reader")
        self.assertEqual(role["rules"], [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]}])
        binding = self.r.one("RoleBinding", FULLNAME + "-findings-reader")
        self.assertEqual(binding["roleRef"]["name"], FULLNAME + "-findings-reader")
        self.assertEqual(binding["subjects"], [{"kind": "Group", "name": "sre",
                                                "apiGroup": "rbac.authorization.k8s.io"}])

    def test_rules_config(self):
        cm = self.r.one("ConfigMap", FULLNAME + "-rules")
        rendered = cm["data"]["rules.json"]
        self.assertEqual(json.loads(rendered), {
            "WK-02": {"emptydir_fsync_per_second": 2, "emptydir_write_bytes_per_second": 524288},
            "SC-03": {"enabled": False},
            "RS-01": {"severity": "low"}})
        # The agent itself accepts what the chart renders.
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(rendered)
            f.flush()
            check = subprocess.run([os.environ.get("BPFDIAG_BIN", "build/bpfdiag"), "agent",
                                    "--rules-config", f.name, "--check-config"],
                                   capture_output=True, text=True, timeout=30)
            self.assertEqual(check.returncode, 0, check.stderr)
        path = self.r.args()["--rules-config"]
        vol, ro = self.r.mounts()[os.path.dirname(path)]
        self.assertTrue(ro)
        self.assertEqual(vol["configMap"]["name"], cm["metadata"]["name"])
        self.assertEqual(os.path.basename(path), "rules.json")
        ann = self.r.daemonset()["spec"]["template"]["metadata"]["annotations"]
        self.assertRegex(ann["checksum/rules"], r"^[0-9a-f]{64}$")
        self.assertEqual(ann["example.test/owner"], "sre")

    def test_otlp(self):
        flags = self.r.args()
        self.assertEqual(flags["--otlp-endpoint"], "http://otel-collector.observability:4318")
        self.assertEqual(flags["--otlp-interval"], "15")
        env = self.r.env()
        ref = env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"]
        secret = self.r.one("Secret", ref["name"])
        self.assertEqual(secret["stringData"][ref["key"]], "x-api-key=s3cret,x-tenant=team-a")
        self.assertEqual(env["OTEL_RESOURCE_ATTRIBUTES"]["value"], "k8s.cluster.name=prod-eu")
        self.assertEqual(env["OTEL_SERVICE_NAME"]["value"], "bpfdiag-prod")
        # The headers stay out of the pod spec.
        self.assertNotIn("s3cret", json.dumps(self.r.daemonset()))

    def test_tls_and_auth(self):
        flags = self.r.args()
        m = self.r.mounts()
        for flag, secret in (("--tls-cert", "bpfdiag-tls"), ("--tls-key", "bpfdiag-tls"),
                             ("--auth-token-file", "bpfdiag-token")):
            vol, ro = m[os.path.dirname(flags[flag])]
            self.assertEqual(vol["secret"]["secretName"], secret)
            self.assertTrue(ro)
        self.assertEqual(os.path.basename(flags["--auth-token-file"]), "token")
        c = self.r.container()
        self.assertEqual(c["livenessProbe"]["httpGet"]["scheme"], "HTTPS")
        self.assertEqual(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS")

    def test_flags_and_security(self):
        flags = self.r.args()
        self.assertLessEqual(set(flags), chartlib.AGENT_FLAGS)
        self.assertEqual(flags["--listen"], "0.0.0.0:9911")
        self.assertEqual(flags["--cgroup-root"], "/sys/fs/cgroup/unified")
        self.assertEqual(flags["--pin-dir"], "none")
        self.assertEqual((flags["--interval"], flags["--window"], flags["--warmup"]),
                         ("2", "120", "60"))
        self.assertNotIn("/sys/fs/bpf", self.r.mounts())
        sc = self.r.container()["securityContext"]
        self.assertEqual(sc["capabilities"]["add"], DEFAULT_CAPS + ["NET_ADMIN"])
        self.assertNotIn("privileged", sc)
        self.assertEqual(self.r.container()["image"],
                         "registry.example.test/obs/bpfdiag@sha256:"
                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

    def test_scheduling(self):
        spec = self.r.pod_spec()
        self.assertEqual(spec["priorityClassName"], "system-node-critical")
        self.assertEqual(spec["nodeSelector"], {"kubernetes.io/os": "linux",
                                                "node-role.kubernetes.io/worker": ""})
        self.assertIn("nodeAffinity", spec["affinity"])
        self.assertEqual(spec["tolerations"][0]["key"], "dedicated")
        self.assertEqual(self.r.daemonset()["spec"]["updateStrategy"], {"type": "OnDelete"})
        self.assertEqual(self.r.container()["resources"]["limits"],
                         {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "128Mi"})

    def test_service_monitor(self):
        sm = self.r.one("ServiceMonitor")
        svc = self.r.one("Service")
        self.assertEqual(sm["metadata"]["labels"]["release"], "kube-prometheus-stack")
        self.assertTrue(sm["spec"]["selector"]["matchLabels"].items()
                        <= svc["metadata"]["labels"].items())
        self.assertEqual(sm["spec"]["namespaceSelector"], {"matchNames": [chartlib.NAMESPACE]})
        (ep,) = sm["spec"]["endpoints"]
        self.assertEqual(ep["port"], svc["spec"]["ports"][0]["name"])
        self.assertIs(ep["honorLabels"], True)
        self.assertEqual(ep["scheme"], "https")
        self.assertEqual(ep["tlsConfig"]["serverName"], "bpfdiag")
        self.assertEqual(ep["authorization"]["credentials"], {"name": "bpfdiag-token",
                                                              "key": "token"})
        self.assertEqual(ep["interval"], "15s")
        self.assertIn({"sourceLabels": ["__meta_kubernetes_pod_node_name"],
                       "targetLabel": "instance"}, ep["relabelings"])

    def test_prometheus_rule(self):
        pr = self.r.one("PrometheusRule")
        rules = {r["alert"]: r for g in pr["spec"]["groups"] for r in g["rules"] if "alert" in r}
        records = {r["record"]: r for g in pr["spec"]["groups"] for r in g["rules"]
                   if "record" in r}
        # cAdvisor's names, with the fixture's job label (test_prometheus_rules.py tests them)
        self.assertEqual(len(records), 4)
        for r in records.values():
            self.assertEqual(r["labels"]["job"], "cadvisor")
            self.assertEqual(r["labels"]["recorded_by"], "bpfdiag")
        # medium: null in the fixture turns that alert off; the mapping sets alert severity.
        findings = {a: r["labels"]["severity"] for a, r in rules.items()
                    if a.startswith("BpfdiagFinding")}
        self.assertEqual(findings, {"BpfdiagFindingCritical": "page",
                                    "BpfdiagFindingHigh": "warning",
                                    "BpfdiagFindingLow": "info"})
        self.assertIn('severity="critical"', rules["BpfdiagFindingCritical"]["expr"])
        self.assertIn("bpfdiag_finding", rules["BpfdiagFindingLow"]["expr"])
        self.assertEqual(rules["BpfdiagFindingHigh"]["for"], "5m")
        want = {"BpfdiagProbeDown": "bpfdiag_agent_probe_up",
                "BpfdiagMapOverflow": "bpfdiag_agent_map_overflow_total",
                "BpfdiagMapNearlyFull": "bpfdiag_agent_map_capacity",
                "BpfdiagKubeApiErrors": "bpfdiag_agent_kube_api_errors_total",
                "BpfdiagExportFailing": "bpfdiag_agent_otlp_exports_total",
                "BpfdiagCollectionErrors": "bpfdiag_agent_collection_errors_total",
                "BpfdiagAgentDown": "up{"}
        for alert, metric in want.items():
            self.assertIn(metric, rules[alert]["expr"], alert)
            self.assertIn('job="%s"' % FULLNAME, rules[alert]["expr"], alert)
            self.assertIn("summary", rules[alert]["annotations"])
        self.assertTrue(rules["BpfdiagMapNearlyFull"]["expr"].endswith("> 0.8"))
        # Prometheus' own templating survives Helm's.
        self.assertIn("{{ $labels.instance }}", rules["BpfdiagMapOverflow"]["annotations"]
                      ["summary"])

    def test_dashboards_placement(self):
        for cm in self.r.all("ConfigMap"):
            if cm["metadata"]["name"].endswith("-rules"):
                continue
            self.assertEqual(cm["metadata"]["namespace"], "monitoring")
            self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
            self.assertEqual(cm["metadata"]["labels"]["team"], "sre")
            self.assertEqual(cm["metadata"]["annotations"], {"grafana_folder": "bpfdiag"})


class Privileged(unittest.TestCase):
    def test_privileged_opt_in(self):
        r = Rendered(["privileged.yaml"])
        sc = r.container()["securityContext"]
        self.assertEqual(sc, {"privileged": True, "readOnlyRootFilesystem": True})
        self.assertNotIn("securityContext", r.pod_spec())
        self.assertNotIn("annotations", r.daemonset()["spec"]["template"]["metadata"])
        # Same mounts and flags as by default: privilege is the only difference.
        self.assertEqual(r.mounts().keys(), Rendered().mounts().keys())


class Bpffs(unittest.TestCase):
    def test_mount_init_container_opt_in(self):
        """bpffs.mount: a privileged init container mounts a bpffs on the host through a
        Bidirectional hostPath; the agent container stays unprivileged and sees the mount."""
        r = Rendered(sets=["bpffs.mount=true"])
        init = r.pod_spec()["initContainers"]
        self.assertEqual([c["name"] for c in init], ["mount-bpffs"])
        self.assertEqual(init[0]["securityContext"], {"privileged": True,
                                                      "readOnlyRootFilesystem": True})
        self.assertEqual(init[0]["volumeMounts"], [{"name": "bpffs", "mountPath": "/sys/fs/bpf",
                                                    "mountPropagation": "Bidirectional"}])
        self.assertIn("mount -t bpf bpf /sys/fs/bpf", init[0]["args"][0])
        self.assertEqual(init[0]["image"], r.container()["image"])
        mount = [m for m in r.container()["volumeMounts"] if m["name"] == "bpffs"]
        self.assertEqual(mount[0]["mountPropagation"], "HostToContainer")
        # By default no propagation: it needs a shared /sys on the node, which nodes without
        # systemd lack (the kubelet then refuses the container; seen on the test cluster).
        mount = [m for m in Rendered().container()["volumeMounts"] if m["name"] == "bpffs"]
        self.assertNotIn("mountPropagation", mount[0])
        self.assertNotIn("privileged", r.container()["securityContext"])
        # Without pinning there is nothing to mount.
        r = Rendered(sets=["bpffs.mount=true", "agent.pinDir=none"])
        self.assertNotIn("initContainers", r.pod_spec())


class External(unittest.TestCase):
    """tests/fixtures/chart/external.yaml: service account, RBAC and the OTLP header Secret
    come from outside the chart; no dashboards."""

    def test_external(self):
        r = Rendered(["external.yaml"], kube_version="1.29.0")
        self.assertEqual(r.kinds(), ["DaemonSet", "Service"])
        spec = r.pod_spec()
        self.assertEqual(spec["serviceAccountName"], "observability-agents")
        self.assertEqual(r.daemonset()["metadata"]["name"], "node-diag")
        ref = r.env()["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"]
        self.assertEqual(ref, {"name": "otlp-credentials", "key": "OTEL_HEADERS"})
        flags = r.args()
        self.assertEqual(flags["--kube-api"], "none")
        self.assertEqual(flags["--otlp-endpoint"], "https://otlp.example.test:4318/")
        self.assertNotIn("/sys/fs/bpf", r.mounts())
        self.assertEqual(spec["securityContext"]["seccompProfile"], {"type": "Unconfined"})
        self.assertEqual(r.daemonset()["spec"]["template"]["metadata"]["annotations"],
                         {"container.apparmor.security.beta.kubernetes.io/agent":
                          "runtime/default"})

    def test_headers_secret_without_endpoint_is_not_used(self):
        r = Rendered(sets=["otlp.headers.x-key=1"])
        self.assertEqual(r.all("Secret"), [])
        self.assertNotIn("OTEL_EXPORTER_OTLP_HEADERS", r.env())
        self.assertNotIn("--otlp-endpoint", r.args())


class Notes(unittest.TestCase):
    def render_notes(self, *values):
        """NOTES.txt as Helm renders it. `helm install --dry-run` wants a cluster and
        `helm template` skips NOTES.txt, so a copy of the chart renders it into a ConfigMap."""
        with tempfile.TemporaryDirectory() as tmp:
            chart = os.path.join(tmp, "bpfdiag")
            shutil.copytree(chartlib.CHART, chart)
            notes = os.path.join(chart, "templates", "NOTES.txt")
            with open(notes) as f:
                text = f.read()
            os.unlink(notes)
            with open(os.path.join(chart, "templates", "_notes.tpl"), "w") as f:
                f.write('{{- define "test.notes" -}}\n' + text + "{{- end }}\n")
            with open(os.path.join(chart, "templates", "notes.yaml"), "w") as f:
                f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
                        'data:\n  notes: {{ include "test.notes" . | quote }}\n')
            args = ["template", chartlib.RELEASE, chart, "--namespace", chartlib.NAMESPACE,
                    "--show-only", "templates/notes.yaml"]
            for v in values:
                args += ["-f", chartlib.fixture(v)]
            out = chartlib.helm(*args).stdout
        return chartlib.yaml.safe_load(out)["data"]["notes"]

    def test_notes(self):
        """NOTES.txt tells how to reach the agent, and warns about privileged mode only when
        it is on."""
        notes = self.render_notes()
        self.assertIn("daemonset/%s" % FULLNAME, notes)
        self.assertIn("bpfdiag check --agent http://127.0.0.1:9810", notes)
        self.assertIn("pod-security.kubernetes.io/enforce=privileged", notes)
        self.assertIn("honor_labels: true", notes)
        self.assertNotIn("WARNING", notes)
        self.assertIn("WARNING: privileged: true", self.render_notes("privileged.yaml"))
        notes = self.render_notes("everything.yaml")
        self.assertIn("bpfdiag check --agent https://127.0.0.1:9911", notes)
        self.assertIn("ServiceMonitor %s" % FULLNAME, notes)
        self.assertIn("OTLP export to http://otel-collector.observability:4318", notes)


if __name__ == "__main__":
    unittest.main(verbosity=2)
