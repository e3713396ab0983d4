"""Helpers for the tests on the real single-node cluster of tools/cluster/cluster: running
kubectl, helm and curl inside its network namespace, the images, and the bpfdiag release.

The cluster itself is brought up by setup.py (the ctest fixture `cluster`) and removed by
teardown.py; each test installs what it needs and removes it. `make run`'s demo
(tools/demo/demo.py) uses the same helpers."""
import fnmatch
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER = os.path.join(REPO, "tools", "cluster", "cluster")
CHART = os.path.join(REPO, "charts", "bpfdiag")
TESTAPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "charts", "testapp")
SKIP = 77
AGENT_NS = "bpfdiag-system"
# The image the chart names by default: localhost/bpfdiag:<appVersion>.
with open(os.path.join(CHART, "Chart.yaml")) as _f:
    APP_VERSION = re.search(r'^appVersion:\s*"?([^"\s]+)', _f.read(), re.M).group(1)
AGENT_IMAGE = "localhost/bpfdiag:" + APP_VERSION
WORKLOAD_IMAGE_FILE = "/run/bpfdiag-cluster/workload-image"  # its reference, written by setup
WORKLOAD_IMAGE_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload-image.sh")
CONTAINERD_SOCK = "/run/bpfdiag-cluster/containerd.sock"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def precondition():
    """Root is needed; outside CI a non-root run skips with the reason."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            sys.exit("FAIL: the cluster tests must run as root in CI")
        print("SKIP: the cluster tests need root (mounts, cgroups, a network namespace)")
        sys.exit(SKIP)


def run(argv, timeout=120, check=True, input=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(argv), r.returncode,
                                                       r.stdout[-3000:], r.stderr[-3000:]))
    return r


def cluster(*args, timeout=120, check=True, input=None):
    return run([CLUSTER] + list(args), timeout=timeout, check=check, input=input)


def in_ns(*argv, timeout=120, check=True, input=None):
    """Runs argv inside the cluster's network namespace (KUBECONFIG set, kubectl and helm on
    PATH)."""
    return cluster("exec", "--", *argv, timeout=timeout, check=check, input=input)


def node_images():
    """The image references the node's containerd holds."""
    return set(in_ns("ctr", "--address", CONTAINERD_SOCK, "--namespace", "k8s.io", "images",
                     "ls", "-q").stdout.split())


def context_files(root):
    """The build context of the Containerfile at root: every file under it that
    .containerignore does not exclude (its `path`, `glob` and `**/name` forms; with a `!`
    exception anywhere, nothing is taken as excluded), as paths relative to root, sorted."""
    try:
        with open(os.path.join(root, ".containerignore")) as f:
            pats = [l.strip().rstrip("/") for l in f if l.strip() and not l.startswith("#")]
    except FileNotFoundError:
        pats = []
    if any(p.startswith("!") for p in pats):
        pats = []
    pats = [p.split("/") for p in pats]

    def ignored(rel):
        parts = rel.split("/")
        for pat in pats:
            anywhere = pat[0] == "**"
            pat = pat[1:] if anywhere else pat
            for i in range(len(parts) - len(pat) + 1 if anywhere else 1):
                if len(parts) - i >= len(pat) and all(
                        fnmatch.fnmatchcase(a, b) for a, b in zip(parts[i:], pat)):
                    return True
        return False
    out = []
    for d, dirs, files in os.walk(root):
        rel_d = os.path.relpath(d, root)
        rel = (lambda n: n) if rel_d == "." else (lambda n: rel_d + "/" + n)
        dirs[:] = [n for n in dirs if not ignored(rel(n))]
        out += [rel(n) for n in files if not ignored(rel(n))]
    return sorted(out)


def build_agent_image():
    """Builds AGENT_IMAGE from the Containerfile (on the local Debian bases of
    tools/image-bases.sh), unless buildah already holds one built from the same sources: the
    image's label io.bpfdiag.source is a hash of its build context, bases and revision.
    Returns True when it built."""
    bases = dict(line.split("=", 1) for line in run(
        [os.path.join(REPO, "tools", "image-bases.sh")], timeout=1200).stdout.split())
    rev = run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], check=False)
    rev = rev.stdout.strip() or "unknown"
    h = hashlib.sha256(("%s %s %s\0" % (bases["BUILD_IMAGE"], bases["RUNTIME_IMAGE"],
                                        rev)).encode())
    for rel in context_files(REPO):
        path = os.path.join(REPO, rel)
        st = os.lstat(path)
        h.update(("%s\0%o\0" % (rel, st.st_mode)).encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(path).encode())
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    source = h.hexdigest()[:16]
    have = run(["buildah", "inspect", "--type", "image", "--format",
                '{{index .OCIv1.Config.Labels "io.bpfdiag.source"}}', AGENT_IMAGE], check=False)
    if have.returncode == 0 and have.stdout.strip() == source:
        return False
    run(["buildah", "bud", "--isolation", "chroot", "--pull=never", "--quiet",
         "--build-arg", "BUILD_IMAGE=" + bases["BUILD_IMAGE"],
         "--build-arg", "RUNTIME_IMAGE=" + bases["RUNTIME_IMAGE"],
         "--build-arg", "REVISION=" + rev, "--label", "io.bpfdiag.source=" + source,
         "-f", os.path.join(REPO, "Containerfile"), "-t", AGENT_IMAGE, REPO], timeout=1200)
    # The previous build of the tag is now dangling.
    run(["buildah", "rmi", "--prune"], check=False)
    return True


def load_agent_image(tmp):
    """Imports AGENT_IMAGE from buildah's storage into the node (tmp holds the archive)."""
    archive = os.path.join(tmp, "bpfdiag.tar")
    run(["buildah", "push", "--quiet", AGENT_IMAGE, "oci-archive:%s:%s" % (archive, AGENT_IMAGE)],
        timeout=300)
    cluster("load-image", archive, timeout=300)
    os.unlink(archive)


def load_workload_image(tmp):
    """Makes the workloads' image (tests/cluster/workload-image.sh: cached by the hash of its
    inputs) and imports it into the node unless the node has it already; returns its
    reference."""
    ref = run([WORKLOAD_IMAGE_SH, "--ref"]).stdout.strip()
    if ref in node_images():
        return ref
    archive = os.path.join(tmp, "workloads.tar")
    ref = run([WORKLOAD_IMAGE_SH, archive], timeout=1500).stdout.strip()
    cluster("load-image", archive, timeout=600)
    os.unlink(archive)
    return ref


def kubectl(*args, timeout=120, check=True, input=None):
    return in_ns("kubectl", *args, timeout=timeout, check=check, input=input)


def kjson(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def helm(*args, timeout=300, check=True):
    return in_ns("helm", *args, timeout=timeout, check=check)


def http_get(url, timeout=10, headers=()):
    """GET url from inside the namespace: (status, body)."""
    argv = ["curl", "-sS", "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}"]
    for h in headers:
        argv += ["-H", h]
    r = in_ns(*(argv + [url]), timeout=timeout + 10, check=False)
    if r.returncode != 0:
        return 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def wait(what, pred, timeout, interval=1.0):
    """Polls pred until it returns a true value, which it returns; fails naming what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            got = pred()
            if got:
                return got
        except AssertionError as e:
            last = e
        time.sleep(interval)
    raise AssertionError("%s: not within %d s%s" % (what, timeout,
                                                     ("\nlast error: %s" % last) if last else ""))


def ensure_namespace(name, labels=None):
    if kubectl("get", "namespace", name, check=False).returncode != 0:
        kubectl("create", "namespace", name)
    for k, v in (labels or {}).items():
        kubectl("label", "--overwrite", "namespace", name, "%s=%s" % (k, v))


def delete_namespace(name):
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=120s",
            timeout=150, check=False)


class Agent:
    """The bpfdiag release installed by helm into AGENT_NS, as NOTES.txt tells users to."""

    def __init__(self, release="bpfdiag", sets=()):
        self.release = release
        # The right-sizing state lives in the cluster's own directory, which `cluster down`
        # removes, not in the host's /var/lib/bpfdiag (the chart's default).
        self.sets = ["image.pullPolicy=Never",
                     "agent.stateDir=/var/lib/bpfdiag-cluster/agent-state"] + list(sets)

    def install(self):
        # NOTES.txt: the pods need host access, so the namespace enforces "privileged".
        ensure_namespace(AGENT_NS, {"pod-security.kubernetes.io/enforce": "privileged"})
        args = ["install", self.release, CHART, "--namespace", AGENT_NS]
        for s in self.sets:
            args += ["--set", s]
        return helm(*args)

    def uninstall(self):
        return helm("uninstall", self.release, "--namespace", AGENT_NS, "--wait",
                    "--timeout", "120s", check=False)

    def pods(self):
        return kjson("get", "pods", "-n", AGENT_NS, "-l",
                     "app.kubernetes.io/instance=%s" % self.release)["items"]

    def ready_pod(self, timeout=180):
        """The agent pod once it is Ready (its readiness probe passed)."""
        def ready():
            for p in self.pods():
                if p["metadata"].get("deletionTimestamp"):
                    continue
                conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
                if conds.get("Ready") == "True" and p["status"].get("podIP"):
                    return p
            return None
        try:
            return wait("the agent pod Ready", ready, timeout, 2)
        except AssertionError:
            raise AssertionError("the agent pod is not Ready:\n%s" % self.describe())

    def describe(self):
        out = kubectl("describe", "pods", "-n", AGENT_NS, "-l",
                      "app.kubernetes.io/instance=%s" % self.release, check=False)
        logs = kubectl("logs", "-n", AGENT_NS, "-l", "app.kubernetes.io/instance=%s" %
                       self.release, "--tail=40", check=False)
        return out.stdout[-4000:] + out.stderr + "\n--- agent log ---\n" + logs.stdout[-4000:]

    def url(self, pod, path):
        return "http://%s:9810%s" % (pod["status"]["podIP"], path)

    def get(self, pod, path):
        status, body = http_get(self.url(pod, path))
        if status != 200:
            raise AssertionError("GET %s: %s %s" % (path, status, body[:300]))
        return body

    def log(self, pod):
        return kubectl("logs", "-n", AGENT_NS, pod["metadata"]["name"], check=False).stdout


def parse_prom(text):
    """Prometheus text → [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                 m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out
