"""The rendered chart under kube-score (tools/install-go-tool.sh kube-score), default checks
plus the optional seccomp and container-ports checks, for the default values and each fixture:
no warning and no critical finding. Every check the chart silences (its kube-score/ignore
annotation) really fails without the annotation, nothing else does, and each one has its reason
in docs/SECURITY.md. Polaris is not used: the Go module proxy does not serve it."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import chartlib  # noqa: E402
from chartlib import Rendered  # noqa: E402

KUBE_VERSION = "v1.31"
OPTIONAL = ["container-seccomp-profile", "container-ports-check"]
CONFIGS = {
    "default": ([], []),
    "everything": (["everything.yaml"], []),
    "privileged": (["privileged.yaml"], []),
    "external": (["external.yaml"], []),
    "bpffs-mount": ([], ["bpffs.mount=true"]),
    "network-policy": ([], ["networkPolicy.enabled=true"]),
    "pull-always": ([], ["image.pullPolicy=Always"]),
}
ANNOTATION = "kube-score/ignore"


def documented_reasons():
    """{check id: reason} from the "Chart linting" table of docs/SECURITY.md."""
    with open(os.path.join(chartlib.REPO, "docs", "SECURITY.md")) as f:
        text = f.read()
    m = re.search(r"^## Chart linting\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, "docs/SECURITY.md has no Chart linting section"
    out = {}
    for line in m.group(1).splitlines():
        row = re.match(r"^\| `([a-z0-9-]+)` \| (.+?) \|", line)
        if row:
            out[row.group(1)] = row.group(2).strip()
    return out


class KubeScore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kube_score = chartlib.go_tool("kube-score")

    def render(self, name):
        values, sets = CONFIGS[name]
        args = chartlib.template_args(values, sets)
        return chartlib.helm(*args).stdout, Rendered(values, sets)

    def score(self, manifests, *extra):
        args = [self.kube_score, "score", "--kubernetes-version", KUBE_VERSION]
        for t in OPTIONAL:
            args += ["--enable-optional-test", t]
        return subprocess.run(args + list(extra) + ["-"], input=manifests, capture_output=True,
                              text=True, timeout=120)

    def test_clean(self):
        for name in CONFIGS:
            with self.subTest(values=name):
                manifests, _ = self.render(name)
                r = self.score(manifests, "--exit-one-on-warning", "--output-format", "ci")
                findings = [l for l in r.stdout.splitlines()
                            if l.startswith(("[WARNING]", "[CRITICAL]"))]
                self.assertEqual(findings, [])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("[OK]", r.stdout)

    def test_every_silenced_check_is_needed_and_documented(self):
        reasons = documented_reasons()
        used = set()
        for name in CONFIGS:
            with self.subTest(values=name):
                manifests, rendered = self.render(name)
                ann = rendered.daemonset()["metadata"]["annotations"][ANNOTATION]
                ignored = set(ann.split(","))
                used |= ignored
                r = self.score(manifests, "--disable-ignore-checks-annotations",
                               "--output-format", "json")
                failing = {}
                for obj in chartlib.yaml.safe_load(r.stdout):
                    for c in obj["checks"]:
                        if c["grade"] < 10 and not c["skipped"]:
                            failing.setdefault(obj["type_meta"]["kind"], set()).add(
                                c["check"]["id"])
                self.assertEqual(failing, {"DaemonSet": ignored})
                # the annotation is on no other object, and the pods carry none of their own
                for o in rendered.objects:
                    if o["kind"] != "DaemonSet":
                        self.assertNotIn(ANNOTATION, o["metadata"].get("annotations") or {})
                self.assertNotIn(ANNOTATION, rendered.daemonset()["spec"]["template"]
                                 ["metadata"].get("annotations") or {})
        self.assertEqual(sorted(used), sorted(reasons), "docs/SECURITY.md's Chart linting "
                         "table lists exactly the checks the chart can silence")
        for check, reason in reasons.items():
            self.assertGreater(len(reason), 20, check)


class NetworkPolicy(unittest.TestCase):
    def test_selects_the_pods_and_the_metrics_port(self):
        r = Rendered(["everything.yaml"])
        (np,) = r.all("NetworkPolicy")
        pod_labels = r.daemonset()["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(np["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items())
        self.assertEqual(np["spec"]["policyTypes"], ["Ingress", "Egress"])
        (rule,) = np["spec"]["ingress"]
        self.assertEqual(rule["ports"], [{"port": "metrics", "protocol": "TCP"}])
        self.assertEqual(rule["from"], [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}])
        self.assertEqual(np["spec"]["egress"], [{}])
        self.assertEqual(r.container()["ports"][0]["name"], "metrics")
        # by default: none, and no `from` (anyone may scrape) when enabled without peers
        self.assertEqual(Rendered().all("NetworkPolicy"), [])
        (np,) = Rendered(sets=["networkPolicy.enabled=true"]).all("NetworkPolicy")
        self.assertNotIn("from", np["spec"]["ingress"][0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
