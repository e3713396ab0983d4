"""Helpers shared by the Kubernetes metadata e2e tests: an agent wired to the fake API
server, extra container cgroups inside a FakePod (sandbox, init container), CPU burners and
polling on /metrics."""
import contextlib
import os
import re
import secrets
import signal
import sys
import time

import bpfdiag_e2e as e2e

NODE = "test-node"
# A few ms of CPU: enough to put the cgroup into the BPF map.
BURN = ("import time\n"
        "end = time.process_time() + %f\n"
        "while time.process_time() < end: pass\n")

# Catch use-after-return and friends in the agent (stack frames are checked too).
os.environ["ASAN_OPTIONS"] = ":".join(
    x for x in [os.environ.get("ASAN_OPTIONS", ""), "detect_stack_use_after_return=1"] if x)
# Loopback only: never let a proxy from the environment see the fake API traffic.
for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)


class KubeAgent(e2e.Agent):
    """The agent against a fake API server, with fast timings. wait_ready=False returns as
    soon as the HTTP port is known (for tests of a failing start)."""

    def __init__(self, api, *args, wait_ready=True):
        super().__init__("--kube-api", api.url, "--node-name", NODE, "--interval", "0.5",
                         "--pin-dir", "none", "--kube-backoff-max", "0.5",
                         "--kube-stall-timeout", "30", "--kube-qps", "50", *args)
        self.wait_ready = wait_ready
        self.exit_code = None

    def __enter__(self):
        if self.wait_ready:
            return super().__enter__()
        self.log = open(self.log_path, "w+")
        import subprocess
        self.proc = subprocess.Popen(
            [e2e.BIN, "agent", "--listen", "127.0.0.1:0", "--kube-api", "none"] + self.args,
            stderr=self.log, stdout=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"\(port (\d+)\)", self.logs())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited:\n" + self.logs())
            time.sleep(0.05)
        raise RuntimeError("agent did not start:\n" + self.logs())

    def __exit__(self, *exc):
        # Keep the exit status: LeakSanitizer reports leaks through it.
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=15)
            except Exception:
                pass
        text = self.logs()
        if exc[0] is None and self.exit_code != 0:
            print("--- agent log ---\n" + text, file=sys.stderr)
            raise AssertionError("agent exited %r (sanitizer report above?)" % self.exit_code)
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if bad in text and exc[0] is None:
                print("--- agent log ---\n" + text, file=sys.stderr)
                raise AssertionError("sanitizer report in the agent log")
        return super().__exit__(*exc)

    def series(self, name="bpfdiag_cpu_seconds_total", **labels):
        return [(l, v) for n, l, v in self.metrics()
                if n == name and all(l.get(k) == x for k, x in labels.items())]

    def value(self, name, **labels):
        return e2e.metric_value(self.metrics(), name, **labels)

    def log_count(self, needle):
        return sum(1 for line in self.logs().splitlines() if needle in line)


def wait_for(fn, timeout=30, what="condition", agent=None):
    """Polls fn until it returns something truthy; returns it. The default deadline is for
    conditions a collection or two bring about (seconds on this VM): 30 s leaves room for a
    loaded CI machine running an ASan build, and costs nothing while the condition comes."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            last = fn()
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)%s" % (
        what, last, ("\n--- agent log ---\n" + agent.logs()) if agent else ""))


class ExtraContainer:
    """Another container cgroup in a FakePod's pod (a sandbox, an init container), named the
    way the pod's runtime names them. Remove it before the pod (nest the with blocks)."""

    def __init__(self, pod):
        self.pod = pod
        self.container_id = secrets.token_hex(32)
        parent, leaf = os.path.split(pod.path)
        self.path = os.path.join(parent, leaf.replace(pod.container_id, self.container_id))

    def __enter__(self):
        os.mkdir(self.path)
        return self

    def run(self, argv):
        procs = os.path.join(self.path, "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        import subprocess
        return subprocess.Popen(argv, preexec_fn=enter)

    def __exit__(self, *exc):
        for _ in range(50):
            try:
                with open(os.path.join(self.path, "cgroup.procs")) as f:
                    for p in f.read().split():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(p), signal.SIGKILL)
                os.rmdir(self.path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        return False


def burn(container, seconds=0.03):
    """Runs a short CPU burner in a FakePod or ExtraContainer and waits for it."""
    p = container.run([sys.executable, "-c", BURN % seconds])
    assert p.wait(timeout=60) == 0
