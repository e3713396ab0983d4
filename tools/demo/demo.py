#!/usr/bin/env python3
"""`make run`: bpfdiag's main job shown live, or `bpfdiag top` on this host.

On a machine that is no Kubernetes node of its own, a demo on the real single-node cluster of
tools/cluster/cluster: it brings the cluster up, builds and loads the agent's image and the
workloads' image, `helm install`s charts/bpfdiag (with a short rules window, so that findings
come within a minute or two) and four releases of the seed scenarios with light real load
(tests/cluster/charts/testapp, scripts from tests/cluster/scenarios.py), waits for their pods,
and opens `bpfdiag top` on the agent pod. Quitting top tears it all down, unless --keep.
Without a terminal (or with --once) it waits for the demo's findings, prints `top --once` and
tears down: tests/cluster/test_demo.py runs it so.

On a real node (real_node() says why), or with --local, it runs `bpfdiag top` on this host.

Usage: tools/demo/demo.py --bpfdiag PATH [--local] [--keep] [--once] [--timeout SEC]
"""
import argparse
import glob
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "cluster"))
import clusterlib as cl  # noqa: E402
from scenarios import (LOG_COLLECTOR, NGINX, NGINX_LOAD, PGBENCH, POSTGRES,  # noqa: E402
                       REDIS_CACHE, REDIS_LOAD)

NS = "demo"
# The agent's rules judge over --window (default 600 s) and ignore containers younger than
# --warmup (default 300 s): shortened so that findings come about a minute after the agent starts.
AGENT_SETS = ["agent.window=60", "agent.warmup=10", "agent.interval=2"]
# release: (what it is, the test chart's values, the expected finding: rule and suggested kind)
RELEASES = {
    "orders-db": ("PostgreSQL + pgbench, a Deployment on a PVC",
                  {"kind": "Deployment", "main": POSTGRES, "load": PGBENCH, "port": 5432,
                   "data": {"type": "pvc"}}, ("WK-05", "StatefulSet")),
    "session-cache": ("Redis cache + redis-benchmark, a Deployment",
                      {"kind": "Deployment", "main": REDIS_CACHE, "load": REDIS_LOAD,
                       "port": 6379}, None),
    "storefront": ("nginx + curl, a StatefulSet that keeps nothing",
                   {"kind": "StatefulSet", "main": NGINX, "load": NGINX_LOAD, "port": 80},
                   ("WK-07", "Deployment")),
    "log-shipper": ("reads the node's /var/log, a Deployment",
                    {"kind": "Deployment", "main": LOG_COLLECTOR,
                     "data": {"type": "hostPath", "hostPath": "/var/log"}},
                    ("WK-10", "DaemonSet")),
}
# Process names of a kubelet (k3s runs it inside its own server or agent process).
KUBELETS = ("kubelet", "k3s-server", "k3s-agent")


def real_node():
    """Why this host is a Kubernetes node of its own, or None. A node: a kubelet runs that is
    not the demo cluster's own (those run in the cgroup bpfdiag-cluster), or the agent would
    reach a Kubernetes API from here (KUBERNETES_SERVICE_HOST: this runs in a pod;
    BPFDIAG_KUBE_API set to a URL). A kubeconfig alone does not count: it names a cluster, not
    this machine as one of its nodes."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "KUBERNETES_SERVICE_HOST is set (this runs in a pod)"
    api = os.environ.get("BPFDIAG_KUBE_API", "")
    if api not in ("", "auto", "none"):
        return "BPFDIAG_KUBE_API=%s" % api
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
            if comm not in KUBELETS:
                continue
            with open("/proc/%s/cgroup" % pid) as f:
                if "/bpfdiag-cluster" in f.read():
                    continue
        except OSError:
            continue
        return "%s runs (pid %s)" % (comm, pid)
    return None


def say(msg, end="\n"):
    print("bpfdiag: " + msg, end=end, file=sys.stderr, flush=True)


class Step:
    """One line per long step: what it does, how long it usually takes, how long it took."""

    def __init__(self, what, usually):
        self.what, self.usually = what, usually

    def __enter__(self):
        self.t0 = time.monotonic()
        say("%s (%s)… " % (self.what, self.usually), end="")
        return self

    def __exit__(self, kind, *_):
        took = time.monotonic() - self.t0
        print("%s in %.0f s" % ("failed" if kind else "done", took), file=sys.stderr, flush=True)
        return False


def on_signal(sig, _):
    if sig == signal.SIGHUP:  # no terminal to write to: teardown must not fail on EIO
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
    raise KeyboardInterrupt


def bring_up():
    """The cluster, the images, the agent and the demo's releases, their pods Ready: returns the
    agent's URL."""
    subprocess.run([os.path.join(REPO, "tools", "deps.sh"), "demo"], check=True)
    cache = os.environ.get("BPFDIAG_CACHE", "/var/cache/bpfdiag")
    first = not glob.glob(os.path.join(cache, "bin", "kube-*"))
    with Step("starting the single-node cluster", "first time about 5 min: Kubernetes is built "
              "with Go; then about 15 s" if first else "about 15 s"):
        cl.cluster("up", timeout=2400)
    with tempfile.TemporaryDirectory(prefix="bpfdiag-demo-") as tmp:
        with Step("building the agent's image and loading it into the node",
                  "first time about 4 min with its Debian bases; about 30 s after a "
                  "change; else seconds"):
            cl.build_agent_image()
            cl.load_agent_image(tmp)
        with Step("building the workloads' image (PostgreSQL, Redis, nginx… from Debian "
                  "packages) and loading it", "first time 2 to 3 min; then about 30 s"):
            image = cl.load_workload_image(tmp)
    agent = cl.Agent(sets=AGENT_SETS)
    with Step("installing charts/bpfdiag and %d demo releases with helm" % len(RELEASES),
              "about 10 s"):
        # A cluster kept from a previous run (KEEP=1): start the releases afresh.
        present = set(cl.helm("list", "-A", "-q").stdout.split())
        for release in present & (set(RELEASES) | {agent.release}):
            ns = cl.AGENT_NS if release == agent.release else NS
            cl.helm("uninstall", release, "--namespace", ns, "--wait", "--timeout", "120s")
        cl.ensure_namespace(NS)
        for release, (_, values, _) in RELEASES.items():
            cl.in_ns("helm", "install", release, cl.TESTAPP, "--namespace", NS, "-f", "-",
                     input=json.dumps(dict(values, image=image)))
        agent.install()
    with Step("waiting for the agent and the demo's pods to be Ready", "about 15 s"):
        pod = agent.ready_pod(timeout=240)
        cl.wait("the demo's pods Ready", demo_ready, 240, 2)
    return agent.url(pod, "")


def demo_ready():
    pods = cl.kjson("get", "pods", "-n", NS)["items"]
    return len(pods) == len(RELEASES) and all(
        all(c.get("ready") for c in p["status"].get("containerStatuses", [{}])) for p in pods)


def explain(url):
    say("the demo runs. `bpfdiag top` reads the agent pod at %s: one row per pod (and "
        "the node's own cgroups) with its KIND, WORKLOAD and Helm RELEASE; FINDINGS names the "
        "rules its workload breaks. Namespace %s holds %d releases:" % (url, NS, len(RELEASES)))
    for release, (what, _, expect) in RELEASES.items():
        verdict = ("%s: should be a %s" % expect) if expect else "fits its kind"
        print("    %-14s %-48s expect %s" % (release, what, verdict), file=sys.stderr)
    say("the agent judges over a %s s window after a %s s warm-up (defaults 600 and 300, "
        "shortened for the demo): findings come about a minute after it starts. Keys: f "
        "findings panel, n namespace filter, ? help, q quit." % tuple(
            s.split("=")[1] for s in AGENT_SETS[:2]))


def top(bpfdiag, url, *args, **kw):
    return cl.in_ns(bpfdiag, "top", "--agent", url, *args, **kw)


def wait_findings(bpfdiag, url, timeout):
    """Waits until top's findings hold every expected (rule, workload, suggested kind) of the
    demo; returns those still missing."""
    want = {(e[0], r, e[1]) for r, (_, _, e) in RELEASES.items() if e}
    missing = want
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        time.sleep(5)
        r = top(bpfdiag, url, "--once", "--json", check=False)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            continue
        got = {(f.get("rule"), f.get("workload"), f.get("suggested_kind"))
               for f in doc.get("findings") or [] if f.get("namespace") == NS}
        missing = want - got
    return missing


def show(bpfdiag, url, once, timeout):
    explain(url)
    if once:
        with Step("waiting for the demo's findings", "about a minute"):
            missing = wait_findings(bpfdiag, url, timeout)
        sys.stdout.write(top(bpfdiag, url, "--once").stdout)
        if missing:
            say("findings missing after %d s: %s" % (timeout, sorted(missing)))
        return not missing
    say("opening `bpfdiag top` in 10 s (Enter: now)")
    if select.select([sys.stdin], [], [], 10)[0]:
        sys.stdin.readline()
    # top handles Ctrl-C itself (it quits); the demo then tears down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call([cl.CLUSTER, "exec", "--", bpfdiag, "top", "--agent", url]) == 0
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bpfdiag", default=os.path.join(REPO, "build", "bpfdiag"))
    ap.add_argument("--local", action="store_true", help="`bpfdiag top` on this host")
    ap.add_argument("--keep", action="store_true", help="leave the demo up after top")
    ap.add_argument("--once", action="store_true",
                    help="wait for the findings, print `top --once`, tear down")
    ap.add_argument("--timeout", type=int, default=300, help="--once: how long to wait")
    args = ap.parse_args()
    bpfdiag = os.path.abspath(args.bpfdiag)
    why = "LOCAL=1" if args.local else real_node()
    if why:
        say("%s: `bpfdiag top` on this host" % why)
        os.execv(bpfdiag, [bpfdiag, "top"] + (["--once"] if args.once else []))
    if os.geteuid() != 0:
        sys.exit("bpfdiag: the demo needs root (a cluster: mounts, cgroups, a network namespace)")
    once = args.once or not (sys.stdin.isatty() and sys.stdout.isatty())
    say("no Kubernetes node here: a demo on a single-node cluster of its own (LOCAL=1: `top` "
        "on this host)")
    # SIGTERM, or the terminal gone (SIGHUP): tear down as after Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    ok, url = False, None
    try:
        url = bring_up()
        ok = show(bpfdiag, url, once, args.timeout)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        say("interrupted")
    except (AssertionError, subprocess.CalledProcessError) as e:
        say("the demo failed: %s" % e)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if args.keep:
            rel = os.path.relpath(cl.CLUSTER)
            say("KEEP=1: the cluster stays up. Reach it with:")
            print("    %s exec -- kubectl get pods -A\n"
                  "    %s exec -- helm list -A\n"
                  "    %s exec -- %s top --agent %s\n"
                  "  and remove it with: %s down" % (
                      rel, rel, rel, os.path.relpath(bpfdiag), url or "http://AGENT-POD-IP:9810",
                      rel), file=sys.stderr)
        else:
            try:
                with Step("tearing the demo down (KEEP=1 keeps it)", "about 5 s"):
                    cl.cluster("down", timeout=300)
            except AssertionError as e:
                say("%s: %s" % (e, "run tools/cluster/cluster down again"))
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
