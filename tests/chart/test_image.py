"""The container image: the Containerfile builds with buildah from local Debian bases
(tools/image-bases.sh; no registry needed), the runtime stage holds the binary and its shared
libraries and nothing of the build, and the agent runs from the image the way the chart runs it:
the chart's command and default flags, only the chart's capabilities, no new privileges, a
read-only root filesystem, host /proc at /host/proc."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import chartlib  # noqa: E402

TAG = "localhost/bpfdiag:test-%d" % os.getpid()


def precondition(ok, reason):
    """Skips outside CI with the reason; in CI, where tools/deps.sh test installed everything
    and tests run as root, a missing piece is a failure."""
    if ok:
        return
    if os.environ.get("CI"):
        sys.exit("FAIL: " + reason)
    print("SKIP: " + reason)
    sys.exit(chartlib.SKIP)


def run(*args, timeout=120, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(args), r.returncode,
                                                        r.stdout[-3000:], r.stderr[-3000:]))
    return r.stdout


def revision():
    r = subprocess.run(["git", "-C", chartlib.REPO, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "image-test"


def cap_mask(names):
    """Bit mask of capability names (BPF, SYS_PTRACE, …) from the kernel's numbering."""
    numbers = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
               "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_ADMIN": 12,
               "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "SYS_RESOURCE": 24,
               "PERFMON": 38, "BPF": 39}
    mask = 0
    for n in names:
        mask |= 1 << numbers[n]
    return mask


def proc_status(pid, field):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == field:
                return v.strip()
    raise KeyError(field)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# Runs argv inside the mounted image like a pod of the chart: private mount namespace, the image
# as a read-only root, host /proc at /proc (hostPID) and at /host/proc, host /sys (cgroup, bpffs,
# tracefs, BTF), a tmpfs /tmp; then only the given capabilities and no_new_privs.
SANDBOX = r'''
set -e
R=$1 CAPS=$2
shift 2
mount --bind "$R" "$R"
mkdir -p "$R/host/proc"
mount --rbind /proc "$R/proc"
mount --rbind /proc "$R/host/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o size=16m tmpfs "$R/tmp"
mount -o remount,bind,ro "$R"
exec chroot "$R" /usr/bin/setpriv --bounding-set "-all,$CAPS" --inh-caps -all --no-new-privs "$@"
'''


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        precondition(os.geteuid() == 0, "needs root (buildah storage, mounts, BPF)")
        for cmd in ("buildah", "mmdebstrap", "unshare", "chroot"):
            precondition(chartlib.have(cmd), "%s is not installed (tools/deps.sh test)" % cmd)
        try:
            cls.build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def build(cls):
        bases = dict(l.split("=", 1) for l in run(
            os.path.join(chartlib.REPO, "tools", "image-bases.sh"), timeout=1200).split())
        cls.revision = revision()
        start = time.monotonic()
        run("buildah", "bud", "--isolation", "chroot", "--pull=never", "--quiet",
            "--build-arg", "BUILD_IMAGE=" + bases["BUILD_IMAGE"],
            "--build-arg", "RUNTIME_IMAGE=" + bases["RUNTIME_IMAGE"],
            "--build-arg", "REVISION=" + cls.revision,
            "-f", os.path.join(chartlib.REPO, "Containerfile"), "-t", TAG, chartlib.REPO,
            timeout=900)
        print("image built in %.1f s" % (time.monotonic() - start), file=sys.stderr)
        cls.ctr = run("buildah", "from", "--pull=never", "--quiet", TAG).strip()
        cls.root = run("buildah", "mount", cls.ctr).strip()
        cls.chart = chartlib.Rendered()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "ctr", None):
            subprocess.run(["buildah", "umount", cls.ctr], capture_output=True)
            subprocess.run(["buildah", "rm", cls.ctr], capture_output=True)
        subprocess.run(["buildah", "rmi", TAG], capture_output=True)

    def in_image(self, *argv):
        return run("chroot", self.root, *argv)

    def test_config_matches_the_chart(self):
        config = json.loads(run("buildah", "inspect", "--type", "image", TAG))["OCIv1"]["config"]
        command = self.chart.container()["command"]
        self.assertEqual(config["Entrypoint"], command)
        self.assertEqual(config["Cmd"], ["agent"])
        self.assertEqual(config["User"], "0:0")
        self.assertTrue(os.access(self.root + command[0], os.X_OK))

    def test_version_and_libraries(self):
        out = self.in_image("/usr/bin/bpfdiag", "version")
        version = self.chart.daemonset()["metadata"]["labels"]["app.kubernetes.io/version"]
        self.assertTrue(out.startswith("bpfdiag %s (revision %s," % (version, self.revision)),
                        out)
        ldd = self.in_image("/usr/bin/ldd", "/usr/bin/bpfdiag")
        self.assertIn("libbpf.so.1", ldd)
        self.assertNotIn("not found", ldd)

    def test_runtime_stage_is_small(self):
        """The runtime stage has no compiler, build tree or sources."""
        with open(self.root + "/var/lib/dpkg/status") as f:
            installed = set(re.findall(r"^Package: (\S+)$", f.read(), re.M))
        for pkg in ("libbpf1", "libmicrohttpd12", "libjson-c5", "libcurl4", "ca-certificates"):
            self.assertIn(pkg, installed)
        for pkg in ("clang", "gcc", "cmake", "libbpf-dev", "llvm", "make"):
            self.assertNotIn(pkg, installed)
        for path in ("/src", "/build", "/usr/bin/cc"):
            self.assertFalse(os.path.lexists(self.root + path), path)

    def test_agent_runs_with_the_charts_privileges(self):
        caps = self.chart.container()["securityContext"]["capabilities"]
        self.assertEqual(caps["drop"], ["ALL"])
        # The chart's default flags, except what only makes sense in a cluster.
        port = free_port()
        pin_dir = "/sys/fs/bpf/bpfdiag-image-test-%d" % os.getpid()
        pinning = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/bpf"],
                                 capture_output=True, text=True).stdout.strip() == "bpf_fs"
        flags = self.chart.args()
        flags.update({"--listen": "127.0.0.1:%d" % port, "--kube-api": "none",
                      "--node-name": "image-test", "--interval": "0.5",
                      "--pin-dir": pin_dir if pinning else "none"})
        argv = [self.chart.container()["command"][0], "agent"] + [
            "%s=%s" % kv for kv in flags.items()]
        setpriv_caps = ",".join("+" + c.lower() for c in caps["add"])
        log = open("/tmp/bpfdiag-image-test-%d.log" % os.getpid(), "w+")
        agent = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                  SANDBOX, "sandbox", self.root, setpriv_caps] + argv,
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            status = None
            while time.time() < deadline and agent.poll() is None:
                with contextlib.suppress(OSError):
                    status = get(port, "/readyz")[0]
                    if status == 200:
                        break
                time.sleep(0.2)
            log.seek(0)
            self.assertEqual(status, 200, "agent not ready:\n" + log.read())
            # The process is the image's binary, chrooted, with exactly the chart's
            # capabilities (less any this machine's bounding set lacks), no new privileges.
            self.assertEqual(os.readlink("/proc/%d/root" % agent.pid), self.root)
            self.assertEqual(os.readlink("/proc/%d/exe" % agent.pid),
                             self.root + "/usr/bin/bpfdiag")
            want = cap_mask(caps["add"]) & int(proc_status("self", "CapBnd"), 16)
            self.assertEqual(int(proc_status(agent.pid, "CapEff"), 16), want)
            self.assertEqual(proc_status(agent.pid, "NoNewPrivs"), "1")
            self.assertEqual(get(port, "/healthz"), (200, "ok\n"))
            status, text = get(port, "/metrics")
            self.assertEqual(status, 200)
            self.assertIn('bpfdiag_agent_build_info{version="%s",revision="%s"} 1'
                          % (self.chart.daemonset()["metadata"]["labels"]
                             ["app.kubernetes.io/version"], self.revision), text)
            # BPF works from inside: CPU time shows up once a collection has seen some.
            burn = subprocess.Popen([sys.executable, "-c", "import time\n"
                                     "end = time.process_time() + 0.5\n"
                                     "while time.process_time() < end: pass"])
            self.assertEqual(burn.wait(timeout=30), 0)
            cpu = []
            while time.time() < deadline + 15 and not cpu:
                cpu = [float(v) for v in re.findall(
                    r"(?m)^bpfdiag_cpu_seconds_total\{.*\} (\S+)$", get(port, "/metrics")[1])]
                time.sleep(0.2)
            self.assertTrue(cpu and sum(cpu) > 0, "no CPU time measured")
            if pinning:
                self.assertTrue(os.listdir(pin_dir), "nothing pinned in " + pin_dir)
            agent.send_signal(signal.SIGTERM)
            self.assertEqual(agent.wait(timeout=15), 0)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            log.close()
            os.unlink(log.name)
            shutil.rmtree(pin_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
