"""Helpers for bpfdiag end-to-end tests: the agent as a subprocess, fake pods laid out the way
kubelet lays them out under the cgroup v2 mount, and a Prometheus text parser."""
import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid

BIN = os.environ.get("BPFDIAG_BIN", "build/bpfdiag")
SKIP = 77  # ctest SKIP_RETURN_CODE


def ensure_tracefs():
    """Real nodes have tracefs mounted (systemd does it); a fresh VM may not. Without it the
    fs probes take their raw-syscall fallback, so tests mount it to exercise the main path."""
    if os.path.exists("/sys/kernel/tracing/events"):
        return
    r = subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                       capture_output=True)
    if r.returncode == 0:
        # Leave the machine as it was found (a later test mounts it again).
        atexit.register(subprocess.run, ["umount", "/sys/kernel/tracing"], capture_output=True)


def mounts_at(path):
    """How many mounts are stacked on path (/proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if line.split()[4] == path)


def fs_type(path):
    """The filesystem type of the top mount covering path ('bpf', 'sysfs', …)."""
    path = os.path.realpath(path)
    best, fstype = "", None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            mp = left.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, fstype = mp, right.split()[0]
    return fstype


class Bpffs:
    """A private bpffs instance mounted on a fresh directory for one test's pinned maps, so
    that no test needs (or leaves behind) a bpffs at /sys/fs/bpf. .path is the mount point;
    owner: chown it (a non-root agent pins there)."""

    def __init__(self, owner=None):
        self.path = "/run/bpfdiag-e2e-bpffs-%d-%d" % (os.getpid(), id(self))
        self.owner = owner

    def __enter__(self):
        os.makedirs(self.path)
        subprocess.run(["mount", "-t", "bpf", "bpf", self.path], check=True)
        if self.owner:
            shutil.chown(self.path, self.owner)
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", self.path], check=False)
        with contextlib.suppress(OSError):
            os.rmdir(self.path)
        return False


def require_root():
    """E2E tests need root for BPF and cgroups. Outside CI, skip with the reason; in CI, where
    BPF is available, a missing privilege is a failure, never a skip."""
    if os.geteuid() == 0:
        ensure_tracefs()
        return
    if os.environ.get("CI"):
        sys.exit("FAIL: e2e tests must run as root in CI")
    print("SKIP: needs root (BPF programs and cgroup creation)")
    sys.exit(SKIP)


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split(" - ")[0].split()[4] for l in f if " - cgroup2 " in l]
    if "/sys/fs/cgroup" in mounts:
        return "/sys/fs/cgroup"
    if not mounts:
        raise RuntimeError("no cgroup2 mount")
    return mounts[0]


def cgroup1_root(controller):
    """The mount point of the cgroup v1 hierarchy carrying controller, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if fields[0] == "cgroup" and controller in fields[2].split(","):
                return pre.split()[4]
    return None


def run_in_cgroups(procs_files, argv, **kw):
    """Starts argv inside the cgroups whose cgroup.procs files are given (joined before
    exec)."""
    def enter():
        for p in procs_files:
            with open(p, "w") as f:
                f.write(str(os.getpid()))

    return subprocess.Popen(argv, preexec_fn=enter, **kw)


def rmdirs(dirs):
    """Removes directories (cgroups) in reverse order of creation, waiting for each to empty."""
    for d in reversed(dirs):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.1)


def mkdirs_under(root, rel):
    """Creates root + rel part by part; returns (its path, the directories it created)."""
    cur, made = root, []
    for part in rel.strip("/").split("/"):
        cur = os.path.join(cur, part)
        if not os.path.isdir(cur):
            os.mkdir(cur)
            made.append(cur)
    return cur, made


class FakePod:
    """A pod's cgroups in a kubelet layout. driver: 'systemd' or 'cgroupfs'; qos: 'burstable',
    'besteffort' or 'guaranteed'; rel: another path under the v2 root instead (a cgroup outside
    any pod, as a system service's). Removes every cgroup it created, killing what runs
    inside."""

    def __init__(self, driver="systemd", qos="burstable", runtime="cri-containerd", rel=None):
        self.uid = str(uuid.uuid4())
        self.container_id = secrets.token_hex(32)
        self.root = cgroup2_root()
        self.created = []
        if driver == "systemd":
            parts = ["kubepods.slice"]
            prefix = "kubepods"
            if qos != "guaranteed":
                prefix += "-" + qos
                parts.append(prefix + ".slice")
            parts.append("%s-pod%s.slice" % (prefix, self.uid.replace("-", "_")))
            parts.append("%s-%s.scope" % (runtime, self.container_id))
        else:
            parts = ["kubepods"] + ([qos] if qos != "guaranteed" else [])
            parts += ["pod" + self.uid, self.container_id]
        self.rel = rel or "/" + "/".join(parts)
        self.path = self.root + self.rel

    def __enter__(self):
        cur = self.root
        for part in self.rel.strip("/").split("/"):
            cur = os.path.join(cur, part)
            if not os.path.isdir(cur):
                os.mkdir(cur)
                self.created.append(cur)
        return self

    def run(self, argv, **kw):
        """Starts argv inside the container cgroup (moved in before exec)."""
        procs = os.path.join(self.path, "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        return subprocess.Popen(argv, preexec_fn=enter, **kw)

    def usage_seconds(self):
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                k, v = line.split()
                if k == "usage_usec":
                    return int(v) / 1e6
        raise RuntimeError("no usage_usec in cpu.stat")

    def __exit__(self, *exc):
        for d in reversed(self.created):
            for _ in range(50):
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        pids = [int(p) for p in f.read().split()]
                except FileNotFoundError:
                    pids = []
                for p in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                print("warning: could not remove cgroup %s" % d, file=sys.stderr)
        return False


class Busy:
    """A busy loop in a FakePod until stop() or the end of the with block: load that lasts as
    long as the test needs it (a fixed burn could end first on a slow machine)."""

    def __init__(self, pod):
        self.pod = pod
        self.proc = None

    def __enter__(self):
        self.proc = self.pod.run([sys.executable, "-c", "while True: pass\n"])
        return self

    def stop(self, agent):
        """Kills the loop once agent has collected twice while it ran, then waits for two
        more collections (its last slice charged and read). False if it had stopped."""
        agent.wait_collections(2)
        alive = self.proc.poll() is None
        self.proc.kill()
        self.proc.wait()
        agent.wait_collections(2)
        return alive

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return False


def terminate(proc, timeout=15):
    """SIGTERM to a child still running, SIGKILL if it has not exited after timeout seconds."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Agent:
    """`bpfdiag agent` on a loopback port of its choosing; the port is read from its log.
    env: extra environment variables; ca_file: speak HTTPS, trusting this certificate;
    token: send it as a bearer token."""

    def __init__(self, *args, env=None, ca_file=None, token=None, prefix=None,
                 default_pin=False):
        self.args = list(args)
        if "--pin-dir" not in self.args and not default_pin:
            # Tests pin only where they ask to (a Bpffs of their own): the default pin
            # directory would mount a bpffs at /sys/fs/bpf and leave it behind.
            self.args += ["--pin-dir", "none"]
        if "--state-dir" not in self.args:
            # Right-sizing histories only where a test asks (a directory of its own): the
            # default /var/lib/bpfdiag would carry them from test to test.
            self.args += ["--state-dir", "none"]
        self.prefix = list(prefix or [])  # e.g. setpriv, to run with fewer privileges
        self.env = dict(os.environ, **(env or {}))
        self.ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.token = token
        self.proc = None
        self.port = None
        self.log_path = "/tmp/bpfdiag-e2e-agent-%d-%d.log" % (os.getpid(), id(self))

    def __enter__(self):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            self.prefix + [BIN, "agent", "--listen", "127.0.0.1:0", "--kube-api", "none"] +
            self.args,
            stderr=self.log, stdout=self.log, env=self.env)
        try:
            return self._wait_ready()
        except BaseException:
            # __exit__ is not called when __enter__ fails: no agent may outlive its test
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            raise

    def _wait_ready(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited %d:\n%s" % (self.proc.returncode, self.logs()))
            m = re.search(r"\(port (\d+)\)", self.logs())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("agent did not start:\n" + self.logs())
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                if self.get("/readyz")[0] == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("agent not ready:\n" + self.logs())

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def url(self, path=""):
        return "%s://127.0.0.1:%d%s" % ("https" if self.ssl else "http", self.port, path)

    def get(self, path, token=None, headers=None):
        """(status, text) of GET path; token overrides the agent's (False: send none)."""
        token = self.token if token is None else token
        req = urllib.request.Request(self.url(path), headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.ssl) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        # 503 until the first collection is done (the agent's documented answer): a test that
        # reads right after start waits for it instead of failing on the race.
        deadline = time.time() + 30
        status, text = self.get("/metrics")
        while status == 503 and time.time() < deadline:
            time.sleep(0.1)
            status, text = self.get("/metrics")
        assert status == 200, status
        return parse_prom(text)

    def wait_collections(self, n):
        """Waits until n more collections have completed."""
        start = metric_value(self.metrics(), "bpfdiag_agent_collections_total")
        deadline = time.time() + 60
        while time.time() < deadline:
            if metric_value(self.metrics(), "bpfdiag_agent_collections_total") >= start + n:
                return
            time.sleep(0.1)
        raise RuntimeError("collections stalled:\n" + self.logs())

    def __exit__(self, *exc):
        terminate(self.proc)
        if exc[0] is not None:
            print("--- agent log ---\n" + self.logs(), file=sys.stderr)
        self.log.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)
        return False


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


SERIES_LABELS = ("namespace", "pod", "container", "workload_kind", "workload", "helm_release")
IDENTITY_LABELS = ("pod_uid", "container_id")


def join_info(samples):
    """Each per-container sample with pod_uid and container_id from its bpfdiag_container_info
    row (matched on the six series labels, as a PromQL group_left join does; "" without one),
    so that tests select a container by its id."""
    info = {tuple(l.get(k, "") for k in SERIES_LABELS): l
            for n, l, _ in samples if n == "bpfdiag_container_info"}
    out = []
    for n, l, v in samples:
        if n != "bpfdiag_container_info" and "container" in l and "workload" in l:
            row = info.get(tuple(l.get(k, "") for k in SERIES_LABELS), {})
            l = dict(l, **{k: row.get(k, "") for k in IDENTITY_LABELS})
        out.append((n, l, v))
    return out


def parse_prom(text, join=True):
    """[(name, {label: value}, float)] of the sample lines; join: with join_info applied."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError("bad sample line: %r" % line)
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in
                  _LABEL.findall(m.group(3) or "")}
        out.append((m.group(1), labels, float(m.group(4))))
    return join_info(out) if join else out


def metric_value(samples, name, **labels):
    """The value of the one sample of name matching labels; None when there is none."""
    found = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    if len(found) > 1:
        raise AssertionError("%d samples of %s %s" % (len(found), name, labels))
    return found[0] if found else None


def prog_ids_of(pid, kind="prog"):
    """BPF program ids (kind "map": map ids) a process holds (its fds' fdinfo), so that other
    agents running on the same machine do not count."""
    ids = set()
    fd_dir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith(kind + "_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids
