"""SPEC §8: "Prometheus scrapes the agent and every dashboard query returns data".

Two pods of one Helm-released Deployment (shop/web, release "shop") are served by the fake
Kubernetes API; one has no resource limits (RS-01 fires at once), the other a CPU limit
(throttling). Real work runs in them: more CPU burners than CPUs (run-queue waits), buffered
and direct writes with fsync into an emptyDir and a PVC, TCP between a listener in one pod and
a client in the other. The agent exports OTLP to a local receiver (the OTLP self-metrics exist).
A real Prometheus scrapes the agent every second; then every target expression and template
variable query of every dashboard in charts/bpfdiag/dashboards/ is evaluated through the
Prometheus HTTP API, with the variables set to this test's workload and to "All" (.*), and
must return data. Expressions that cannot, and why, are listed in KNOWN_EMPTY and printed."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(HERE, "..", "e2e")
sys.path.insert(0, E2E)
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from fakepod_volumes import PodVolumes  # noqa: E402
from otlp_receiver import Receiver  # noqa: E402
from test_cpu_extras import Limit  # noqa: E402
from test_memory import Memory  # noqa: E402
from test_prometheus import Prometheus  # noqa: E402

DASHBOARDS = os.path.join(HERE, "..", "..", "charts", "bpfdiag", "dashboards")
NS, RELEASE, WORKLOAD = "shop", "shop", "web"
SCRAPE_SECONDS = 20  # how long Prometheus collects before the queries
WORK_SECONDS = SCRAPE_SECONDS + 25  # the workloads outlive the queries (deadline-bounded)

# Expressions that cannot return data in this environment, with the reason. Matched against
# the substituted expression by substring; each is printed, never skipped silently.
KNOWN_EMPTY = {}

# What the pods' work must move, not merely expose: for the selected workload every panel on
# these series must show a value above zero (loopback TCP has no retransmits, hence not those).
ACTIVE = ("bpfdiag_cpu_seconds_total", "bpfdiag_cpu_throttled_seconds_total",
          "bpfdiag_cpu_runqueue_wait_seconds_total", "bpfdiag_cpu_throttled_periods_total",
          "bpfdiag_cpu_limit_cores", "bpfdiag_cpu_samples_total", "bpfdiag_disk_bytes_total",
          "bpfdiag_disk_operations_total", "bpfdiag_fs_write_bytes_total",
          "bpfdiag_fs_sync_calls_total", "bpfdiag_fs_write_calls_total",
          "bpfdiag_fs_read_bytes_total",
          "bpfdiag_network_bytes_total", "bpfdiag_tcp_connections_opened_total",
          "bpfdiag_tcp_listening_sockets")

BURN = "import time\nend=time.time()+%f\nwhile time.time()<end: pass\n"

SERVER = textwrap.dedent("""
    import socket, threading
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    print(lst.getsockname()[1], flush=True)
    def serve(c):
        with c:
            n = 0
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                n += len(b)
            c.sendall(b"r" * n)
    while True:
        c, _ = lst.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
""")

CLIENT = textwrap.dedent("""
    import socket, sys, time
    port, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
    while time.time() < end:
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(b"q" * (256 << 10))
            c.shutdown(socket.SHUT_WR)
            while c.recv(1 << 16):
                pass
        time.sleep(0.2)
""")

# Runs in the pod's own mount namespace (rootfs overlay, /cache emptyDir, /data PVC).
WRITER = textwrap.dedent("""
    import mmap, os, sys, time
    root, end = sys.argv[1], time.time() + float(sys.argv[2])
    buf = mmap.mmap(-1, 1 << 20)
    buf.write(b"d" * (1 << 20))
    chunk = b"x" * (64 << 10)
    print("ready", flush=True)
    while time.time() < end:
        for path in (root + "/cache/scratch", root + "/data/db"):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for _ in range(8):
                os.write(fd, chunk)
            os.fsync(fd)
            os.close(fd)
        fd = os.open(root + "/data/direct.bin", os.O_WRONLY | os.O_DIRECT)
        for _ in range(2):
            os.write(fd, buf)
        os.close(fd)
        with open(root + "/data/db", "rb") as f:  # reads by volume (WK-07's other half)
            while f.read(64 << 10):
                pass
        time.sleep(0.3)
""")


def limited(limit, mem):
    """Like Limit.run (the pod's cgroup and, on hybrid hosts, the v1 cpu cgroup) and
    Memory.run (the v1 memory cgroup there), with Popen keyword arguments."""
    files = [os.path.join(limit.pod.path, "cgroup.procs")]
    if limit.procs_v1:
        files.append(limit.procs_v1)
    if mem.v1:
        files.append(os.path.join(mem.dir, "cgroup.procs"))

    def enter():
        for f in files:
            with open(f, "w") as fd:
                fd.write(str(os.getpid()))

    return lambda argv, **kw: subprocess.Popen(argv, preexec_fn=enter, **kw)


def no_limits(pod):
    for c in pod["spec"]["containers"]:
        c["resources"] = {}
    pod["status"]["qosClass"] = "BestEffort"
    return pod


def dashboards():
    """[(dashboard file, panel title, expression)] and [(file, variable, query)]."""
    targets, variables = [], []
    for name in sorted(os.listdir(DASHBOARDS)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(DASHBOARDS, name)) as f:
            doc = json.load(f)
        for v in doc.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            variables.append((name, v["name"], q))

        def walk(panels):
            for p in panels:
                for t in p.get("targets") or []:
                    if t.get("expr"):
                        targets.append((name, p.get("title", ""), t["expr"]))
                walk(p.get("panels") or [])

        walk(doc.get("panels", []))
    return targets, variables


def substitute(expr, values):
    expr = expr.replace("$__rate_interval", "10s").replace("${__rate_interval}", "10s")
    for k, v in values.items():
        expr = expr.replace("${%s}" % k, v).replace("$" + k, v)
    left = re.findall(r"\$\{?\w+", expr)
    assert not left, "unsubstituted variable %s in %s" % (left, expr)
    return expr


def without_fallback(expr):
    """The expression minus a trailing `or vector(0)`, or None when it has none."""
    m = re.match(r"^(.*)\s+or\s+vector\(0\)\s*$", expr, re.S)
    return m.group(1) if m else None


class DashboardData(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bpfdiag-dash-")
        self.procs = []

    def tearDown(self):
        self.stop_work()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stop_work(self):
        """Kills the workloads (before their cgroups and mounts go)."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for s in (p.stdin, p.stdout):
                if s:
                    s.close()
        self.procs = []

    def start(self, runner, argv, **kw):
        p = runner(argv, **kw)
        self.procs.append(p)
        return p

    def test_every_dashboard_query_returns_data(self):
        t0 = time.monotonic()
        targets, variables = dashboards()
        self.assertGreater(len(targets), 20)
        self.assertGreater(len(variables), 3)
        with fk.FakeKubeApi(node=ke.NODE) as api, Receiver() as otlp, \
                e2e.FakePod("systemd", "burstable") as pod_a, \
                e2e.FakePod("systemd", "besteffort") as pod_b, \
                Limit(pod_a, 0.2) as limit, Memory(pod_a, limit_mib=512) as mem, \
                PodVolumes(pod_b, pvc_mib=64) as vol:
            self.mem = mem  # pod A's memory cgroup and limit: the memory panels' data
            labels, ann = fk.helm_meta(RELEASE, NS, "web-1.0.0")
            api.put_object("/apis/apps/v1/namespaces/%s/deployments/%s" % (NS, WORKLOAD),
                           fk.deployment(WORKLOAD, NS, labels=labels, annotations=ann))
            pod_labels = {"app": WORKLOAD, "pod-template-hash": "7c9d8f6b5"}
            rs = fk.owner_ref("ReplicaSet", "web-7c9d8f6b5", "apps/v1")
            api.add_pod(fk.pod("web-7c9d8f6b5-aaaaa", NS, pod_a.uid, [("app", pod_a.container_id)],
                               owner=rs, labels=pod_labels, ip="10.244.1.10"))
            api.add_pod(no_limits(fk.pod("web-7c9d8f6b5-bbbbb", NS, pod_b.uid,
                                         [("app", pod_b.container_id)], owner=rs,
                                         labels=pod_labels, qos="BestEffort",
                                         ip="10.244.1.11")))
            # --cpu-samples 99: the samples are opt-in (agent.cpuSamplesHz), and the workload
            # dashboard's "sampled" line divides by 99.
            with ke.KubeAgent(api, "--interval", "1", "--window", "5", "--warmup", "0", "--bpf-stats", "on",
                              "--cpu-samples", "99",
                              "--otlp-endpoint", otlp.url, "--otlp-interval", "1") as agent:
                print("agent up after %.1fs" % (time.monotonic() - t0))
                try:
                    self.scrape_and_query(agent, otlp, pod_a, pod_b, limit, vol, targets,
                                          variables)
                finally:
                    self.stop_work()
        print("total %.1fs" % (time.monotonic() - t0))

    def scrape_and_query(self, agent, otlp, pod_a, pod_b, limit, vol, targets, variables):
        self.run_work(pod_a, pod_b, limit, vol)
        scrape = {"job_name": "bpfdiag",
                  "static_configs": [{"targets": ["127.0.0.1:%d" % agent.port]}]}
        with Prometheus(self.tmp, scrape) as prom:
            prom.wait_query('up{job="bpfdiag"} == 1')
            # the test's pods and a finding are in Prometheus before the clock starts
            prom.wait_query('bpfdiag_pod_info{namespace="%s",workload="%s"}'
                            % (NS, WORKLOAD))
            prom.wait_query('bpfdiag_finding{rule="RS-01",namespace="%s"}' % NS)
            time.sleep(SCRAPE_SECONDS)
            self.evaluate(prom, targets, variables)
        for p in self.procs:  # the workloads stayed alive the whole time
            if p.poll() is not None and p.returncode != 0:
                raise AssertionError("a workload exited %d" % p.returncode)
        self.assertEqual(otlp.errors, [])

    def run_work(self, pod_a, pod_b, limit, vol):
        n = (os.cpu_count() or 2) + 1
        # pod A: a CPU-limited burner (throttling) and the TCP listener
        self.start(limited(limit, self.mem), [sys.executable, "-c", BURN % WORK_SECONDS])
        server = self.start(limited(limit, self.mem), [sys.executable, "-c", SERVER],
                            stdout=subprocess.PIPE, text=True)
        port = int(ke.wait_for(server.stdout.readline, timeout=30, what="listener port"))
        # pod B: more burners than CPUs (run-queue waits), the client, the writer
        for _ in range(n):
            self.start(pod_b.run, [sys.executable, "-c", BURN % WORK_SECONDS])
        self.start(pod_b.run, [sys.executable, "-c", CLIENT, str(port), str(WORK_SECONDS)])
        direct = os.path.join(vol.pvc_mount, "direct.bin")
        subprocess.run(["fallocate", "-l", str(4 << 20), direct], check=True)
        script = os.path.join(vol.work, "writer.py")
        with open(script, "w") as f:
            f.write(WRITER)
        w = self.start(pod_b.run, ["unshare", "-m", "--propagation", "private", "sh", "-c",
                                   vol.shell_setup() + " && exec %s %s %s %d" % (
                                       sys.executable, script, vol.rootfs, WORK_SECONDS)],
                       stdout=subprocess.PIPE, text=True,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(w.stdout.readline().strip(), "ready")

    def evaluate(self, prom, targets, variables):
        modes = [("selected", {"namespace": NS, "helm_release": RELEASE,
                               "workload": WORKLOAD, "instance": ".*"}),
                 ("all", {"namespace": ".*", "helm_release": ".*", "workload": ".*",
                          "instance": ".*"})]
        rows, failures, excepted, idle = [], [], [], []
        for mode, values in modes:
            for dash, var, q in variables:
                m = re.match(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", q, re.S)
                self.assertTrue(m, "variable %s/%s: not label_values(selector, label): %s"
                                % (dash, var, q))
                sel, label = substitute(m.group(1), values), m.group(2)
                vals = sorted({r["metric"].get(label, "") for r in prom.query(sel)} - {""})
                rows.append((mode, dash, "$" + var, "label_values(%s, %s)" % (sel, label),
                             len(vals), None))
                if not vals:
                    failures.append((mode, dash, "$" + var, q))
            for dash, title, expr in targets:
                e = substitute(expr, values)
                res = prom.query(e)
                n = len(res)
                bare = without_fallback(e)
                nb = len(prom.query(bare)) if bare else None
                rows.append((mode, dash, title, e, n, nb))
                vals = [float(r["value"][1]) for r in res]
                top = max((v for v in vals if v == v), default=0.0)  # NaN-free maximum
                if mode == "selected" and "histogram_quantile" not in e and \
                        any(m + "{" in e for m in ACTIVE) and not top > 0:
                    idle.append((dash, title, e, vals))
                if n == 0:
                    reason = next((r for k, r in KNOWN_EMPTY.items() if k in e), None)
                    if reason:
                        excepted.append((mode, dash, title, e, reason))
                    else:
                        failures.append((mode, dash, title, e))
        print("\n%-8s %-20s %-30s %7s %9s  %s" % ("mode", "dashboard", "panel/variable",
                                                 "series", "no-vec(0)", "expression"))
        for mode, dash, title, e, n, nb in rows:
            print("%-8s %-20s %-30.30s %7d %9s  %s" % (mode, dash, title, n,
                                                       "-" if nb is None else nb, e))
        for mode, dash, title, e, reason in excepted:
            print("KNOWN EXCEPTION [%s] %s / %s: %s\n    %s" % (mode, dash, title, reason, e))
        fallback_only = [(r[0], r[2]) for r in rows if r[5] == 0]
        if fallback_only:
            print("answered only by `or vector(0)`: %s" % fallback_only)
        self.assertEqual(failures, [], "dashboard queries without data")
        self.assertEqual(idle, [], "panels of the selected workload showing no activity")


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
