#!/usr/bin/env python3
"""bpfdiag benchmark: what the agent costs a node, measured side by side with peers.

  1. BPF cost per event (kernel.bpf_stats_enabled: run_time_ns / run_cnt) of each of our
     programs, next to an empty tp_btf sched_switch program (the floor) and libbpf-tools
     runqlat and biolatency, under the same load (stress-ng --switch; fio random I/O).
  2. Workload overhead: stress-ng context switches, getppid() calls (`perf bench syscall
     basic`: the tax on system calls the agent does not trace), fio IOPS, iperf3 loopback
     throughput, redis-benchmark against a real Redis and pgbench against a real PostgreSQL,
     with the agent off and on in 10 interleaved pairs of 3 s: the median of the pairs'
     on/off ratios, its 95 % confidence interval (distribution-free, from order statistics)
     and the agent-off runs' own spread, so that a reader sees what the run can resolve.
  3. Agent cost: CPU seconds per minute, RSS, /metrics render time and bytes per container at
     10, 100 and 1000 live kubelet-layout container cgroups with a little activity each,
     scraped every 15 s as text and as the protobuf Prometheus asks for with native
     histograms.
  4. Accuracy figures from the e2e ground-truth tests.
Then one line per goal of issue 19: met, not met, or (a loss goal whose confidence interval
straddles it) within noise.

Run as root on a BPF-capable host: `make bench` (about 10 minutes; BENCH_ARGS=--quick for a
2-minute smoke run). Prints the report and replaces the block between the bench.py markers of
docs/PERFORMANCE.md, keeping the hand-written rest."""
import argparse
import contextlib
import datetime
import glob
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build")
BIN = os.path.join(BUILD, "bpfdiag")
FLOOR = os.path.join(BUILD, "bench_floor")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split(" - ")[0].split()[4] for l in f if " - cgroup2 " in l]
    return "/sys/fs/cgroup" if "/sys/fs/cgroup" in mounts else mounts[0]


def prog_ids_of(pid):
    ids = set()
    fd_dir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
    return ids


def prog_stats():
    return {p["id"]: p for p in json.loads(sh("bpftool", "-j", "prog", "show"))}


class Proc:
    """A background process, stopped with SIGTERM on exit."""

    def __init__(self, argv, ready=None, **kw):
        self.argv, self.ready, self.kw = argv, ready, kw

    def __enter__(self):
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, **self.kw)
        if self.ready:
            deadline = time.time() + 60
            for line in self.p.stdout:
                if re.search(self.ready, line):
                    break
                if time.time() > deadline:
                    raise RuntimeError("%s not ready" % self.argv[0])
        else:
            time.sleep(1.5)
        if self.p.poll() is not None:
            raise RuntimeError("%s exited: %s" % (self.argv[0], self.p.stdout.read()))
        return self

    @property
    def pid(self):
        return self.p.pid

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return False


def agent(*extra):
    return Proc([BIN, "agent", "--listen", "127.0.0.1:0", "--kube-api", "none", "--pin-dir",
                 "none", "--state-dir", "none"] + list(extra), ready=r"first collection done")


# ---- 1. BPF cost per event ----

def stress_switch(seconds):
    out = subprocess.run(["stress-ng", "--switch", "2", "--timeout", "%ds" % seconds,
                          "--metrics-brief"], capture_output=True, text=True).stderr
    m = re.search(r"switch\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out)
    return float(m.group(2)) if m else float("nan")


def fio(seconds, workdir):
    out = subprocess.run(["fio", "--name=bench", "--directory=" + workdir, "--rw=randrw",
                          "--bs=4k", "--size=64m", "--direct=1", "--ioengine=psync",
                          "--runtime=%d" % seconds, "--time_based", "--output-format=json"],
                         capture_output=True, text=True).stdout
    j = json.loads(out)["jobs"][0]
    return j["read"]["iops"] + j["write"]["iops"]


def iperf(seconds):
    """Loopback TCP bit/s of one stream, as the median of the run's 0.5 s intervals: on a
    shared machine a run now and then spends a second or more at half speed (a task of
    another session taking half the sender's core, docs/PERFORMANCE.md "Network probes"),
    agent off as often as on; that moves a run's mean by up to 50 % and its median interval
    not at all, while a cost that slows every interval moves both alike."""
    with Proc(["iperf3", "-s", "-1", "--forceflush", "-B", "127.0.0.1", "-p", "15201"],
              ready=r"Server listening"):
        out = sh("iperf3", "-c", "127.0.0.1", "-p", "15201", "-t", str(seconds), "-i", "0.5",
                 "-J")
    j = json.loads(out)
    iv = [i["sum"]["bits_per_second"] for i in j["intervals"] if i["sum"]["seconds"] > 0.25]
    return statistics.median(iv) if iv else j["end"]["sum_received"]["bits_per_second"]


def bpf_cost(seconds, workdir):
    log("[1/4] BPF cost per event under stress-ng --switch and fio, %d s each" % seconds)
    sh("sysctl", "-q", "kernel.bpf_stats_enabled=1")
    rows = []
    try:
        with agent() as a, Proc([FLOOR], ready="ready") as fl, \
                Proc(["runqlat", "3600", "1"]) as rq, Proc(["biolatency", "3600", "1"]) as bl:
            owners = {"bpfdiag": prog_ids_of(a.pid), "floor": prog_ids_of(fl.pid),
                      "runqlat": prog_ids_of(rq.pid), "biolatency": prog_ids_of(bl.pid)}
            before = prog_stats()
            switches = stress_switch(seconds)
            iops = fio(seconds, workdir)
            after = prog_stats()
        for who, ids in owners.items():
            for i in sorted(ids):
                if i not in after or i not in before:
                    continue
                runs = after[i].get("run_cnt", 0) - before[i].get("run_cnt", 0)
                ns = after[i].get("run_time_ns", 0) - before[i].get("run_time_ns", 0)
                if runs > 0:
                    rows.append((who, after[i]["name"], runs, ns / runs))
    finally:
        sh("sysctl", "-q", "kernel.bpf_stats_enabled=0")
    return rows, switches, iops


# ---- 2. workload overhead ----

def free_port():
    with contextlib.closing(socket.socket()) as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def syscall_tax(seconds):
    """getppid() calls per second (`perf bench syscall basic`): a system call the agent does
    not trace, so what it loses is the tax every task on the node pays. Median of runs of 2 M
    calls for the given time."""
    rates, t0 = [], time.time()
    while time.time() - t0 < seconds or not rates:
        out = sh("perf", "bench", "syscall", "basic", "-l", "2000000")
        m = re.search(r"(\d+) ops/sec", out)
        if not m:
            raise RuntimeError("perf bench syscall basic: no ops/sec in %r" % out)
        rates.append(float(m.group(1)))
    return statistics.median(rates)


class Redis:
    """A throwaway redis-server on loopback (its own port and dir, nothing saved); run(seconds)
    gives redis-benchmark's SET and GET requests per second, averaged."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        self.port = free_port()
        self.requests = 20000

    def __enter__(self):
        os.mkdir(self.dir)
        self.proc = Proc(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                          "--dir", self.dir, "--save", "", "--appendonly", "no"],
                         ready=r"Ready to accept connections").__enter__()
        rps = self.bench(self.requests)  # warm up and size the runs
        self.requests = max(20000, int(rps))  # about a second per test
        return self

    def bench(self, n):
        out = sh("redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port), "-t", "set,get",
                 "-n", str(n), "-c", "16", "--csv")
        rps = [float(m) for m in re.findall(r'^"(?:SET|GET)","([\d.]+)"', out, re.M)]
        if len(rps) != 2:
            raise RuntimeError("redis-benchmark: unexpected output %r" % out)
        return statistics.mean(rps)

    def run(self, seconds):
        # SET and GET each take about a second with self.requests.
        return self.bench(int(self.requests * seconds / 2))

    def __exit__(self, *exc):
        return self.proc.__exit__(*exc)


class Postgres:
    """A throwaway PostgreSQL cluster (initdb into a temp dir, run as the unprivileged
    `postgres` user, unix socket only); run(seconds) gives pgbench's TPC-B-like transactions per
    second with 4 clients. synchronous_commit is off: commits do not wait on the disk's
    flush, whose latency on a shared VM would bury the agent's cost."""

    def __init__(self, workdir, user="postgres"):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("no initdb under /usr/lib/postgresql/*/bin (tools/deps.sh bench)")
        self.bin = os.path.dirname(bins[-1])
        self.user = user
        self.dir = tempfile.mkdtemp(prefix="bpfdiag-bench-pg-", dir=workdir)
        self.port = free_port()

    def as_user(self, *argv, **kw):
        return sh("runuser", "-u", self.user, "--", *argv, **kw)

    def __enter__(self):
        os.chmod(os.path.dirname(self.dir), 0o711)
        shutil.chown(self.dir, self.user, self.user)
        data = os.path.join(self.dir, "data")
        self.as_user(os.path.join(self.bin, "initdb"), "-D", data, "-U", "postgres",
                     "--auth=trust", "--no-sync")
        self.proc = Proc(["runuser", "-u", self.user, "--", os.path.join(self.bin, "postgres"),
                          "-D", data, "-k", self.dir, "-p", str(self.port),
                          "-c", "listen_addresses=", "-c", "synchronous_commit=off"],
                         ready=r"ready to accept connections").__enter__()
        self.as_user(os.path.join(self.bin, "pgbench"), "-h", self.dir, "-p", str(self.port),
                     "-U", "postgres", "-i", "-q", "-s", "4", "postgres")
        return self

    def run(self, seconds):
        out = self.as_user(os.path.join(self.bin, "pgbench"), "-h", self.dir, "-p",
                           str(self.port), "-U", "postgres", "-c", "4", "-j", "2", "-n", "-T",
                           str(max(1, seconds)), "postgres")
        m = re.search(r"^tps = ([\d.]+)", out, re.M)
        if not m:
            raise RuntimeError("pgbench: no tps in %r" % out)
        return float(m.group(1))

    def __exit__(self, *exc):
        return self.proc.__exit__(*exc)


# Goals of the workload section: the largest loss of throughput the agent may cause (None: shown,
# no goal).
LOSS_GOALS = {"stress-ng switch ops/s": 0.05, "getppid calls/s": 0.02, "fio IOPS": 0.01,
              "iperf3 bit/s": 0.01, "redis-benchmark req/s": None, "pgbench TPS": None}


def median_ci(xs, level=0.95):
    """The median of xs and a distribution-free confidence interval for it: the order
    statistics x(k) and x(n+1-k) (1-based), k the largest with P(Binomial(n, 1/2) < k) <=
    (1 - level) / 2, so the interval holds the true median with at least `level` probability
    whatever the distribution (the sign test's interval; no resampling, no normality). Too few
    values for that (n < 6 at 95 %): the whole range, which then covers less (verdict() then
    reads "too few pairs")."""
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return float("nan"), float("nan"), float("nan")
    k, below = 0, 0.0  # below: P(B < k + 1) as k grows
    while True:
        below += math.comb(n, k) / 2 ** n
        if below > (1 - level) / 2:
            break
        k += 1
    k = max(k, 1)
    return statistics.median(xs), xs[k - 1], xs[n - k]


MIN_PAIRS = 6  # the fewest whose range is a 95 % interval of their median


def verdict(loss_lo, loss_hi, goal, n=MIN_PAIRS):
    """A loss goal against a confidence interval of the loss from n pairs: met when the whole
    interval is within the goal, not met when the whole interval is beyond it, else within
    noise (the run cannot tell the loss from the goal). Fewer than MIN_PAIRS pairs give no 95 %
    interval: too few pairs."""
    if n < MIN_PAIRS:
        return "too few pairs"
    if loss_hi <= goal + 1e-9:
        return "met"
    if loss_lo > goal + 1e-9:
        return "not met"
    return "within noise"


def summarize(offs, ons):
    """One workload's runs, off[i] and on[i] of pair i: median off, median on, the median of
    the pairs' on/off ratios with its 95 % interval (median_ci), and the off runs' own spread
    (half their interquartile range over their median: what the machine moves a run by with the
    agent off)."""
    ratios = [on / off if off else float("nan") for off, on in zip(offs, ons)]
    ratio, lo, hi = median_ci(ratios)
    q = statistics.quantiles(offs, n=4) if len(offs) > 1 else [offs[0]] * 3
    spread = (q[2] - q[0]) / 2 / statistics.median(offs) if statistics.median(offs) else 0
    return {"off": statistics.median(offs), "on": statistics.median(ons), "ratio": ratio,
            "lo": lo, "hi": hi, "spread": spread, "ratios": ratios, "n": len(ratios)}


def overhead(seconds, pairs, workdir, only=None):
    """Every workload with the agent off and on, in pairs: one agent start per pair serves all
    workloads; the order flips every pair (off-on, on-off, ...) so a drift of the machine
    falls on both sides. Per workload: summarize() of the pairs.

    Why this shape (docs/PERFORMANCE.md, "Network probes"): single runs of these workloads on a
    shared 2-core VM spread by several percent and now and then by tens of percent (an iperf3
    run spends a second or more at half speed, agent off as often as on), so a 1 % goal needs
    many pairs and a median with its interval, not long runs: ten pairs of 3 s resolve more
    than five of 5 s in about a minute more. The agent starts before each on-phase's first
    workload; it is ready (programs attached, first collection done) before any run starts, and
    its later collections cost well under 1 % of a core. No CPU pinning: pinning iperf3's
    client and server to their own cores made runs noisier (a pinned task cannot move away from
    another task's burst on its core), not steadier."""
    log("[2/4] workload overhead, agent off vs on, %d interleaved pairs of %d s" % (
        pairs, seconds))
    with Redis(workdir) as redis, Postgres(workdir) as pg:
        runs = {"stress-ng switch ops/s": stress_switch, "getppid calls/s": syscall_tax,
                "fio IOPS": lambda s: fio(s, workdir), "iperf3 bit/s": iperf,
                "redis-benchmark req/s": redis.run, "pgbench TPS": pg.run}
        if only:
            runs = {n: f for n, f in runs.items() if any(w in n for w in only)}
        got = {name: ([], []) for name in runs}

        def phase(on):
            with agent() if on else contextlib.nullcontext():
                for name, fn in runs.items():
                    got[name][on].append(fn(seconds))

        for i in range(pairs):
            for on in ((False, True) if i % 2 == 0 else (True, False)):
                phase(on)
    out = {name: summarize(offs, ons) for name, (offs, ons) in got.items()}
    for name, w in out.items():  # every pair, for whoever wants to look behind a median
        log("  %s: on/off of each pair %s" % (name, " ".join("%.3f" % r for r in w["ratios"])))
    return out


# ---- 3. agent cost at scale ----

def cgroup1_roots():
    """Mount points of the cgroup v1 cpu and memory hierarchies (a hybrid host), by controller."""
    roots = {}
    with open("/proc/self/mountinfo") as f:
        for l in f:
            pre, _, post = l.partition(" - ")
            fields = post.split()
            if fields and fields[0] == "cgroup":
                for c in ("cpu", "memory"):
                    if c in fields[2].split(","):
                        roots.setdefault(c, pre.split()[4])
    return roots


class Cgroups:
    """n kubelet-layout container cgroups, each with a shell that wakes every 2 s. Memory and
    CPU are accounted as kubelet sets them up: the controllers enabled down the v2 tree, or on
    a hybrid host the same paths in the v1 cpu and memory hierarchies, so that the agent reads
    each container's memory and cpu files as on a node."""

    def __init__(self, n):
        self.n = n
        self.root = cgroup2_root()
        with open(os.path.join(self.root, "cgroup.controllers")) as f:
            have = f.read().split()
        self.v2_ctl = [c for c in ("cpu", "memory", "io") if c in have]
        self.v1 = [r for c, r in cgroup1_roots().items() if c not in have]
        self.made = []
        self.procs = []

    def mkdir(self, rel, leaf=False):
        """Makes the cgroup rel in v2 (and the v1 hierarchies); returns its cgroup.procs files."""
        procs = []
        for root in [self.root] + self.v1:
            d = os.path.join(root, rel)
            if not os.path.isdir(d):
                os.mkdir(d)
                self.made.append(d)
            if root == self.root and not leaf and self.v2_ctl:
                with contextlib.suppress(OSError):
                    with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                        f.write(" ".join("+" + c for c in self.v2_ctl))
            procs.append(os.path.join(d, "cgroup.procs"))
        return procs

    def __enter__(self):
        if self.v2_ctl:
            with contextlib.suppress(OSError):
                with open(os.path.join(self.root, "cgroup.subtree_control"), "w") as f:
                    f.write(" ".join("+" + c for c in self.v2_ctl))
        qos = "kubepods.slice/kubepods-burstable.slice"
        self.mkdir("kubepods.slice")
        self.mkdir(qos)
        for _ in range(self.n):
            uid = str(uuid.uuid4()).replace("-", "_")
            pod = os.path.join(qos, "kubepods-burstable-pod%s.slice" % uid)
            self.mkdir(pod)
            procs = self.mkdir(os.path.join(pod, "cri-containerd-%s.scope" % (
                uuid.uuid4().hex * 2)), leaf=True)

            def enter(procs=procs):
                for p in procs:
                    with open(p, "w") as f:
                        f.write(str(os.getpid()))

            self.procs.append(subprocess.Popen(["sh", "-c", "while :; do sleep 2; done"],
                                               preexec_fn=enter))
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for p in self.procs:
            p.wait()
        for d in reversed(self.made):
            for _ in range(50):
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        for pid in f.read().split():
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(int(pid), signal.SIGKILL)
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        return False


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid):
    """VmHWM (peak RSS), VmRSS and its anonymous part, from /proc/PID/status, in MiB."""
    got = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon"):
                got[k] = int(v.split()[0]) / 1024
    return got.get("VmHWM", float("nan")), got.get("VmRSS", float("nan")), \
        got.get("RssAnon", float("nan"))


PROTO_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                "encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,"
                "text/plain;version=0.0.4;q=0.4,*/*;q=0.1")  # Prometheus, native histograms on


def scrape(port, fmt, gzip=False):
    """GET /metrics as text or as the protobuf Prometheus asks for with native histograms;
    returns the body as sent and its Content-Encoding."""
    hdrs = {"Accept": PROTO_ACCEPT} if fmt == "proto" else {}
    if gzip:
        hdrs["Accept-Encoding"] = "gzip"
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, headers=hdrs)
    with urllib.request.urlopen(req) as r:
        return r.read(), r.headers.get("Content-Encoding")


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b):
    """(field, wire type, value) of a protobuf message: ints, 8-byte and length-delimited."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = struct.unpack_from("<d", b, i)[0], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def render_seconds(body, fmt):
    """(sum, count) of bpfdiag_agent_http_render_seconds in a text or protobuf body."""
    name = "bpfdiag_agent_http_render_seconds"
    if fmt == "text":
        got = {}
        for line in body.decode().splitlines():
            for k in ("_sum", "_count"):
                if line.startswith(name + k + " "):
                    got[k] = float(line.split()[1])
        return got["_sum"], int(got["_count"])
    i = 0
    while i < len(body):
        n, i = _varint(body, i)
        fam = dict((f, v) for f, _, v in _fields(body[i:i + n]) if f != 4)
        if fam.get(1) == name.encode():
            for f, _, metric in _fields(body[i:i + n]):
                if f == 4:
                    h = dict((g, v) for g, _, v in _fields(metric) if g == 7)
                    hist = dict((g, v) for g, _, v in _fields(h[7]) if g in (1, 2))
                    return hist[2], hist[1]
        i += n
    raise ValueError("no %s in the protobuf" % name)


def wait_seeded(port, n, timeout):
    """Waits until the agent has seeded the listeners of n cgroups (its
    bpfdiag_agent_listen_seed_cgroups_total); returns the seconds it took, or None past timeout
    (the measurement then includes the rest of the seeding, and the report says so)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        body, _ = scrape(port, "text")
        m = re.search(rb"^bpfdiag_agent_listen_seed_cgroups_total(?:\{[^}]*\})? (\S+)$", body,
                      re.M)
        if m and float(m.group(1)) >= n:
            return time.time() - t0
        time.sleep(1)
    return None


def scale(levels, seconds):
    log("[3/4] agent cost at %s cgroups, %d s each, scrapes every 15 s" % (levels, seconds))
    rows = []
    for n in levels:
        with Cgroups(n):
            logf = tempfile.NamedTemporaryFile("w+", prefix="bpfdiag-bench-")
            a = subprocess.Popen([BIN, "agent", "--listen", "127.0.0.1:0", "--kube-api", "none",
                                  "--pin-dir", "none", "--state-dir", "none"],
                                 stdout=logf, stderr=logf)
            try:
                port = None
                deadline = time.time() + 30
                while time.time() < deadline and not port:
                    logf.seek(0)
                    m = re.search(r"\(port (\d+)\)(?s:.*)first collection", logf.read())
                    port = int(m.group(1)) if m else None
                    time.sleep(0.2)
                if not port:
                    logf.seek(0)
                    raise RuntimeError("agent not ready: %s" % logf.read()[-2000:])
                # Steady state: the agent reads each new cgroup's listening sockets from /proc
                # once (256 cgroups a collection), a start-up cost reported apart, not a
                # per-minute one. Then one collection more past the last of it.
                seeded = wait_seeded(port, n, 120)
                time.sleep(6)
                c0, t0 = cpu_seconds(a.pid), time.time()
                start_cpu = c0
                # Each scrape's body holds the agent's render-time histogram up to the scrape
                # before it: consecutive bodies give each render's own time (the GET's wall
                # time adds the client's reading of megabytes).
                got = {"text": [], "proto": []}
                prev = None
                while True:
                    for fmt in ("text", "proto"):
                        s = time.time()
                        body, _ = scrape(port, fmt)
                        got[fmt].append({"wall": time.time() - s, "size": len(body),
                                         "body": body})
                        cur = render_seconds(body, fmt)
                        if prev is not None:
                            prev[0]["render"] = cur[0] - prev[1][0] if cur[1] == \
                                prev[1][1] + 1 else None
                        prev = (got[fmt][-1], cur)
                    if time.time() - t0 + 15 > seconds:
                        break
                    time.sleep(15)
                time.sleep(max(0, seconds - (time.time() - t0)))
                cpu = (cpu_seconds(a.pid) - c0) / (time.time() - t0) * 60
                # What Prometheus transfers: it asks for gzip, for either format.
                gz = {}
                for fmt in ("text", "proto"):
                    body, enc = scrape(port, fmt, gzip=True)
                    gz[fmt] = len(body) if enc == "gzip" else 0
                    if fmt == "text":  # it holds the render time of the last proto scrape
                        cur = render_seconds(zlib.decompress(body, 31), fmt)
                        prev[0]["render"] = cur[0] - prev[1][0] if cur[1] == \
                            prev[1][1] + 1 else None
                peak, rss, anon = status_mib(a.pid)
                text = got["text"][-1]["body"]
                series = sum(1 for l in text.split(b"\n") if l and not l.startswith(b"#"))
                row = {"n": n, "cpu": cpu, "peak": peak, "rss": rss, "anon": anon,
                       "series": series, "start_cpu": start_cpu, "seeded": seeded}
                for fmt, key in (("text", ""), ("proto", "proto_")):
                    runs = got[fmt]
                    ok = [r["render"] for r in runs if r.get("render") is not None]
                    row[key + "wall"] = statistics.median(r["wall"] for r in runs)
                    row[key + "render"] = statistics.median(ok) if ok else float("nan")
                    row[key + "size"] = runs[-1]["size"]
                    row[key + "gzip"] = gz[fmt]
                rows.append(row)
            finally:
                a.send_signal(signal.SIGTERM)
                a.wait(timeout=30)
                logf.close()
    return rows


# ---- 4. accuracy ----

def accuracy():
    log("[4/4] accuracy: the e2e ground-truth tests")
    tests = os.path.join(REPO, "tests", "e2e")
    env = dict(os.environ, BPFDIAG_BIN=BIN, PYTHONDONTWRITEBYTECODE="1")
    out = ""
    for t in ("test_cpu_attribution.py", "test_volumes_disk.py", "test_network.py"):
        r = subprocess.run([sys.executable, os.path.join(tests, t)], capture_output=True,
                           text=True, env=env, timeout=600)
        out += r.stdout + r.stderr
    lines = [l.strip() for l in out.splitlines()
             if re.search(r"error [\d.]+%|direct I/O on|writeback on|^tx \d", l.strip())
             or " ... " in l and re.search(r"error [\d.]+%|tx \d", l)]
    return [re.sub(r"^.*\.\.\. ", "", l) for l in lines]


# ---- report ----

def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%s, %d CPUs, %s, Linux %s" % (model or platform.machine(), os.cpu_count(),
                                          platform.machine(), platform.release())


def goals(cost, over, sc):
    """One line per goal of issue 19: (goal, measured, met); met is None when not measured."""
    G = []
    ours = {n: ns for w, n, _, ns in cost if w == "bpfdiag"}
    floor = [ns for w, n, _, ns in cost if w == "floor"]
    if floor and "cpu_sched_switch" in ours:
        x = ours["cpu_sched_switch"] / floor[0]
        G.append(("sched_switch ≤ 2 × the empty-program floor",
                  "%.2f × (%.0f vs %.0f ns)" % (x, ours["cpu_sched_switch"], floor[0]), x <= 2))
    else:
        G.append(("sched_switch ≤ 2 × the empty-program floor", "not measured", None))
    # Under stress-ng --switch every wakeup program attached would have run.
    woke = sorted(n for n in ours if "wakeup" in n and "wakeup_new" not in n)
    if not ours:
        G.append(("no sched_wakeup program on the default path", "not measured", None))
    else:
        G.append(("no sched_wakeup program on the default path",
                  ", ".join(woke) + " ran" if woke else "none ran", not woke))
    for name, goal in LOSS_GOALS.items():
        if goal is None:
            continue
        if name not in over:
            G.append(("%s loss ≤ %g %%" % (name, goal * 100), "not measured", None))
            continue
        w = over[name]
        if name == "getppid calls/s":
            # A tax on every system call: the time each takes grows by 1/ratio - 1.
            tax, lo, hi = (1 / x - 1 if x else float("inf") for x in (w["ratio"], w["hi"],
                                                                        w["lo"]))
            G.append(("getppid (untraced system call) tax ≤ +%g %%" % (goal * 100),
                      "%+.1f ns (%+.1f %%; 95 %% CI %+.1f … %+.1f %%)" % (
                          1e9 / w["on"] - 1e9 / w["off"], tax * 100, lo * 100, hi * 100),
                      verdict(lo, hi, goal, w["n"])))
            continue
        loss, lo, hi = 1 - w["ratio"], 1 - w["hi"], 1 - w["lo"]
        G.append(("%s loss ≤ %g %%" % (name, goal * 100),
                  "%+.1f %% (95 %% CI %+.1f … %+.1f %%)" % (loss * 100, lo * 100, hi * 100),
                  verdict(lo, hi, goal, w["n"])))
    if sc:
        r = sc[-1]
        n = r["n"]
        G.append(("RSS ≤ 40 MiB at %d containers" % n, "%.1f MiB peak" % r["peak"],
                  r["peak"] <= 40))
        for fmt, key in (("text", ""), ("protobuf", "proto_")):
            per = r[key + "size"] / n
            G.append(("/metrics %s ≤ 2 KiB per container and ≤ 25 ms render at %d" % (fmt, n),
                      "%.2f KiB, %.1f ms" % (per / 1024, r[key + "render"] * 1e3),
                      per <= 2048 and r[key + "render"] <= 0.025))
        pct = r["cpu"] / 60 * 100
        G.append(("agent CPU ≤ 0.5 %% of a core at %d containers" % n, "%.2f %%" % pct,
                  pct <= 0.5))
    return G


def report(args, cost, switches, iops, over, sc, acc):
    L = []
    L.append("Measured by `tools/bench/bench.py` (`make bench`%s) on %s, %s. Absolute figures "
             "vary between machines and runs; the goals are ratios measured side by side in "
             "this one run.\n" % (" --quick: a smoke run, not a measurement" if args.quick
                                   else "", machine(), datetime.date.today().isoformat()))
    L.append("## Goals (issue 19)\n")
    L.append("| goal | measured | met |\n|---|---|---|")
    for t, m, ok in goals(cost, over, sc):
        ok = "—" if ok is None else ok if isinstance(ok, str) else "met" if ok else "not met"
        L.append("| %s | %s | %s |" % (t, m, "**not met**" if ok == "not met" else ok))
    L.append("\n## 1. BPF cost per event\n")
    L.append("Same run, same load (stress-ng --switch 2: %.0f switches/s; fio 4k random "
             "direct I/O: %.0f IOPS), kernel.bpf_stats_enabled.\n" % (switches, iops))
    L.append("| who | program | events | ns/event |\n|---|---|---|---|")
    for who, name, runs, ns in sorted(cost, key=lambda r: (r[0], -r[2])):
        L.append("| %s | %s | %d | %.0f |" % (who, name, runs, ns))
    ours = {n: ns for w, n, _, ns in cost if w == "bpfdiag"}
    floor = [ns for w, n, _, ns in cost if w == "floor"]
    if floor and "cpu_sched_switch" in ours:
        L.append("\nFloor (an empty tp_btf sched_switch program): %.0f ns/event; our "
                 "sched_switch handler costs %.0f ns above it.\n" % (
                     floor[0], ours["cpu_sched_switch"] - floor[0]))
    L.append("\n## 2. Workload overhead\n")
    L.append("Median of %d interleaved off/on pairs of %d s per workload (one agent start per "
             "pair; the order flips every pair). getppid: `perf bench syscall basic`, a system "
             "call the agent does not trace. redis-benchmark: SET and GET, 16 clients, a "
             "loopback redis-server. pgbench: TPC-B-like, 4 clients, a unix-socket PostgreSQL "
             "with synchronous_commit off. 95 %% CI: a distribution-free confidence interval of "
             "the median of the pairs' ratios (order statistics, the sign test's); off spread: "
             "half the interquartile range of the agent-off runs, what the machine alone moves "
             "a run by. A loss goal is met when its whole interval is within the goal, not met "
             "when the whole interval is beyond it, and within noise otherwise (fewer than "
             "%d pairs give no 95 %% interval: too few pairs). iperf3: the median of each "
             "run's 0.5 s intervals.\n" % (args.pairs, args.seconds, MIN_PAIRS))
    L.append("| workload | agent off | agent on | on/off | 95 % CI | off spread |\n"
             "|---|---|---|---|---|---|")
    for name, w in over.items():
        L.append("| %s | %.4g | %.4g | %.3f | %.3f … %.3f | ±%.1f %% |" % (
            name, w["off"], w["on"], w["ratio"], w["lo"], w["hi"], w["spread"] * 100))
    L.append("\n## 3. Agent cost\n")
    L.append("Live kubelet-layout container cgroups, each with a shell waking every 2 s; "
             "collection every 5 s; /metrics scraped every 15 s; %d s per level, from one "
             "collection after the agent has read every container's listening sockets (once "
             "per new cgroup, 256 a collection; its CPU is the start-up column).\n"
             % args.scale_seconds)
    L.append("| containers | CPU s/min | % of one core | start-up CPU s | peak RSS MiB | "
             "RSS MiB (anon) | series |\n|---|---|---|---|---|---|---|")
    for r in sc:
        L.append("| %d | %.2f | %.2f %% | %.2f%s | %.1f | %.1f (%.1f) | %d |" % (
            r["n"], r["cpu"], r["cpu"] / 60 * 100, r["start_cpu"],
            "" if r["seeded"] is not None else " (seeding unfinished)", r["peak"], r["rss"],
            r["anon"], r["series"]))
    L.append("\n/metrics as text and as the protobuf (native histograms) Prometheus asks for with "
             "`--enable-feature=native-histograms`. Render: the agent's own "
             "`bpfdiag_agent_http_render_seconds` per scrape (median); GET: the scrape's wall "
             "time on loopback, the client's reading included.\n")
    L.append("| containers | format | render | GET | size (gzip) | bytes per container (gzip) |"
             "\n|---|---|---|---|---|---|")
    for r in sc:
        for fmt, key in (("text", ""), ("protobuf", "proto_")):
            L.append("| %d | %s | %.1f ms | %.1f ms | %d KiB (%d KiB) | %d (%d) |" % (
                r["n"], fmt, r[key + "render"] * 1e3, r[key + "wall"] * 1e3,
                r[key + "size"] // 1024, r[key + "gzip"] // 1024, r[key + "size"] // r["n"],
                r[key + "gzip"] // r["n"]))
    if len(sc) > 1:
        a, b = sc[0], sc[-1]
        dn = b["n"] - a["n"]
        L.append("\nEach container beyond %d adds %.1f series and %.0f bytes to /metrics, "
                 "%.1f KiB of RSS (%.1f KiB anonymous) and %.1f ms of agent CPU per minute."
                 % (a["n"], (b["series"] - a["series"]) / dn, (b["size"] - a["size"]) / dn,
                    (b["rss"] - a["rss"]) * 1024 / dn, (b["anon"] - a["anon"]) * 1024 / dn,
                    (b["cpu"] - a["cpu"]) * 1e3 / dn))
    L.append("\n## 4. Accuracy (e2e ground truth)\n")
    for line in acc:
        L.append("- " + line)
    L.append("\nNotes: section 1 turns on kernel.bpf_stats_enabled for its duration (two clock "
             "reads per program run, for ours and the peers' alike); sections 2 and 3 run the "
             "agent as deployed, statistics off.\n")
    return "\n".join(L)


BEGIN, END = "<!-- bench.py: begin -->", "<!-- bench.py: end -->"


def write_doc(path, text):
    """Replaces the part of path between the markers with text; the rest (hand-written
    analysis) stays. A file without the markers gets a title and the block."""
    try:
        with open(path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ""
    block = "%s\n%s\n%s" % (BEGIN, text.rstrip("\n"), END)
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = "# Performance\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs for development (about 2 minutes; numbers not meaningful)")
    ap.add_argument("--seconds", type=int, default=3,
                    help="per workload run of section 2 (default 3)")
    ap.add_argument("--pairs", type=int, default=10,
                    help="off/on pairs of section 2 (default 10; from 9 pairs on, the 95 %% "
                    "interval of the median leaves out the lowest and the highest pair)")
    ap.add_argument("--bpf-seconds", type=int, default=10,
                    help="per load of section 1 (default 10)")
    ap.add_argument("--build", default=BUILD,
                    help="the build directory whose bpfdiag and bench_floor are measured "
                    "(default build/ of this checkout, which `make` builds)")
    ap.add_argument("--scale", default="10,100,1000")
    ap.add_argument("--scale-seconds", type=int, default=46)
    ap.add_argument("--no-accuracy", action="store_true", help="skip the e2e accuracy tests")
    ap.add_argument("--sections", default="1,2,3,4",
                    help="which sections to run (development; the goals need all of them)")
    ap.add_argument("--workloads", default="",
                    help="section 2 only for these comma-separated names (e.g. iperf3,pgbench)")
    ap.add_argument("--output", default=os.path.join(REPO, "docs", "PERFORMANCE.md"),
                    help="the file whose bench.py block is replaced ('-': print only)")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.pairs, args.scale, args.scale_seconds = 2, 1, "10,100", 16
        args.bpf_seconds = 4
        args.no_accuracy = True
    global BIN, FLOOR
    BIN, FLOOR = os.path.join(args.build, "bpfdiag"), os.path.join(args.build, "bench_floor")
    if os.geteuid() != 0:
        sys.exit("bench: run as root (BPF, cgroups, sysctl)")
    for tool in ("stress-ng", "fio", "iperf3", "runqlat", "biolatency", "bpftool", "perf",
                 "redis-server", "redis-benchmark", "runuser"):
        if not shutil.which(tool):
            sys.exit("bench: %s is missing (tools/deps.sh bench installs it)" % tool)
    for b in (BIN, FLOOR):
        if not os.access(b, os.X_OK):
            sys.exit("bench: %s is missing (run make)" % b)
    workdir = tempfile.mkdtemp(prefix="bpfdiag-bench-", dir="/var/tmp")
    t0 = time.time()
    try:
        run = set(args.sections.split(","))
        cost, switches, iops = bpf_cost(args.bpf_seconds, workdir) if "1" in run else ([], 0, 0)
        over = overhead(args.seconds, args.pairs, workdir,
                        [w for w in args.workloads.split(",") if w]) if "2" in run else {}
        sc = scale([int(x) for x in args.scale.split(",")], args.scale_seconds) \
            if "3" in run else []
        acc = [] if args.no_accuracy or "4" not in run else accuracy()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(args, cost, switches, iops, over, sc, acc)
    print(text)
    log("bench took %.0f s" % (time.time() - t0))
    if args.sections != "1,2,3,4" or args.workloads:
        args.output = "-"  # a partial run never replaces the documented one
    if args.output != "-":
        write_doc(args.output, text)
        log("wrote %s" % args.output)


if __name__ == "__main__":
    main()
