"""Helpers for the chart tests: the pinned helm and promql-check (installed by
tools/install-go-tool.sh), rendering the chart into objects, and the metric catalogue of
docs/METRICS.md."""
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(REPO, "charts", "bpfdiag")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "chart")
SKIP = 77  # ctest SKIP_RETURN_CODE
RELEASE = "diag"
NAMESPACE = "observability"

try:
    import yaml
except ImportError:
    # CMake may have picked an interpreter (pyenv, venv) without PyYAML; Debian's python3-yaml
    # (tools/deps.sh test) is in the system interpreter.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("FAIL: PyYAML missing: run tools/deps.sh test (installs python3-yaml)")


def go_tool(name):
    """Path of a Go tool from tools/install-go-tool.sh, which builds it on first use. A
    failure to install is a test failure, except outside CI on a machine without Go."""
    r = subprocess.run([os.path.join(REPO, "tools", "install-go-tool.sh"), name],
                       capture_output=True, text=True, timeout=1200)
    if r.returncode == 0:
        return r.stdout.strip().splitlines()[-1]
    no_go = "no Go toolchain" in r.stderr
    if no_go and not os.environ.get("CI"):
        print("SKIP: %s cannot be installed: %s" % (name, r.stderr.strip()))
        sys.exit(SKIP)
    sys.exit("FAIL: tools/install-go-tool.sh %s:\n%s" % (name, r.stderr))


_helm = None


def helm(*args, check=True):
    global _helm
    if _helm is None:
        _helm = go_tool("helm")
    r = subprocess.run([_helm] + list(args), capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("helm %s failed (%d):\n%s" % (" ".join(args), r.returncode,
                                                           r.stderr))
    return r


def fixture(name):
    return os.path.join(FIXTURES, name)


def template_args(values=(), sets=(), kube_version=None):
    args = ["template", RELEASE, CHART, "--namespace", NAMESPACE]
    for v in values:
        args += ["-f", fixture(v) if not os.path.isabs(v) else v]
    for s in sets:
        args += ["--set", s]
    if kube_version:
        args += ["--kube-version", kube_version]
    return args


class Rendered:
    """The objects of one `helm template` run."""

    def __init__(self, values=(), sets=(), kube_version=None):
        out = helm(*template_args(values, sets, kube_version)).stdout
        self.objects = [d for d in yaml.safe_load_all(out) if d]

    def all(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind, name=None):
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        if len(found) != 1:
            raise AssertionError("want one %s%s, got %d" % (
                kind, " " + name if name else "", len(found)))
        return found[0]

    def kinds(self):
        return sorted(o["kind"] for o in self.objects)

    def daemonset(self):
        return self.one("DaemonSet")

    def pod_spec(self):
        return self.daemonset()["spec"]["template"]["spec"]

    def container(self):
        containers = self.pod_spec()["containers"]
        if len(containers) != 1:
            raise AssertionError("want one container, got %d" % len(containers))
        return containers[0]

    def args(self):
        """The agent's flags as {flag: value}; a repeated flag would be a bug."""
        c = self.container()
        assert c["args"][0] == "agent", c["args"]
        flags = {}
        for a in c["args"][1:]:
            k, _, v = a.partition("=")
            assert k not in flags, "flag %s given twice" % k
            flags[k] = v
        return flags

    def env(self):
        return {e["name"]: e for e in self.container().get("env", [])}

    def mounts(self):
        """{mountPath: (volume, readOnly)}"""
        vols = {v["name"]: v for v in self.pod_spec()["volumes"]}
        out = {}
        for m in self.container()["volumeMounts"]:
            out[m["mountPath"]] = (vols[m["name"]], bool(m.get("readOnly", False)))
        return out


# The agent's options (SPEC §2 plus the TLS/auth options of §6): the chart may pass no other.
AGENT_FLAGS = {"--listen", "--node-name", "--kube-api", "--kube-token-file", "--kube-ca-file",
               "--cgroup-root", "--proc-root", "--interval", "--window", "--warmup",
               "--rules-config", "--otlp-endpoint", "--otlp-interval", "--pin-dir", "--state-dir",
               "--log-level", "--tls-cert", "--tls-key", "--auth-token-file"}

# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"instance", "job"}


def markdown_rows(path):
    """(section, cells) of each table row of a Markdown file: the section is the lower-cased
    title of the "## " heading above it, the cells are stripped."""
    section = None
    with open(path) as f:
        for line in f:
            if line.startswith("## "):
                section = line[3:].strip().lower()
            elif line.startswith("|"):
                yield section, [c.strip() for c in line.strip().strip("|").split("|")]


def metric_catalogue(path=os.path.join(REPO, "docs", "METRICS.md")):
    """{name: {"type", "labels", "section"}} from the tables of docs/METRICS.md. A name cell
    holds one or more names separated by " / ", each optionally followed by {own,labels}; a
    name starting with "_" continues the first name's prefix (bpfdiag_agent_map_entries{map} /
    _map_capacity{map}). Per-container metrics also carry the series labels table."""
    series = set()
    cat = {}
    for section, cells in markdown_rows(path):
        cells = [c.replace("`", "") for c in cells]
        if section == "series labels" and cells[0] not in ("label", "") and \
                not cells[0].startswith("-"):
            series.update(l.strip() for l in cells[0].split(","))
            continue
        if not cells[0].startswith("bpfdiag_"):
            continue
        mtype = cells[1].split()[0] if len(cells) > 1 else ""
        first = None
        for part in cells[0].split(" / "):
            m = re.fullmatch(r"(_?[a-z0-9_]+)(\{([a-z0-9_, ]*)\})?", part.strip().strip("`"))
            if not m:
                raise ValueError("METRICS.md: cannot read metric cell %r" % cells[0])
            name = m.group(1)
            if name.startswith("_"):
                name = "_".join(first.split("_")[:2]) + name
            first = first or name
            own = {l.strip() for l in (m.group(3) or "").split(",") if l.strip()}
            cat[name] = {"type": mtype, "labels": own, "section": section}
    for name, m in cat.items():
        if m["section"].startswith("container"):
            m["labels"] |= series
    return cat, series


def allowed_names(cat):
    """Names a query may select: histograms expose _bucket (with le), _sum and _count."""
    names = {}
    for name, m in cat.items():
        if m["type"] == "histogram":
            names[name + "_bucket"] = m["labels"] | {"le"}
            names[name + "_sum"] = m["labels"]
            names[name + "_count"] = m["labels"]
        else:
            names[name] = m["labels"]
    return names


def have(cmd):
    return shutil.which(cmd) is not None
