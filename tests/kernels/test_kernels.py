"""Kernel reach: boots a Debian cloud kernel (default: 6.1, the one without the
sock_send/recv_length tracepoints) in QEMU with the freshly built release agent, and checks
inside the guest that every probe family loads and attaches with the probes expected for that
kernel (run-time fallbacks where a feature is missing, forced fallbacks by flag), that a small
workload in its own cgroup shows up in /metrics with the right numbers, and that a kernel
without BTF and a cgroup v1-only host each stop the agent with one clear line.

Environment: BPFDIAG_KERNEL_SERIES (default 6.1), BPFDIAG_RELEASE_BIN (default
<source>/build/bpfdiag), BPFDIAG_CACHE (default /var/cache/bpfdiag), BPFDIAG_QEMU_TIMEOUT
(seconds, default 240), BPFDIAG_QEMU_ACCEL=kvm (default: TCG), BPFDIAG_KEEP_GUEST=1 keeps
the guest directory for inspection."""
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import bpfdiag_e2e as e2e  # noqa: E402

SERIES = os.environ.get("BPFDIAG_KERNEL_SERIES", "6.1")
RELEASE_BIN = os.environ.get("BPFDIAG_RELEASE_BIN", os.path.join(SRC, "build", "bpfdiag"))
TIMEOUT = float(os.environ.get("BPFDIAG_QEMU_TIMEOUT", "240"))

# Agent configurations, run one after another in one boot: (cgroup layout, name, arguments).
# The layout goes from unified (cgroup v2 at /sys/fs/cgroup) to hybrid (cpu on cgroup v1, v2
# at /sys/fs/cgroup/unified); tests/kernels/guest_init.sh switches it.
# --cpu-samples 99 everywhere: the samples are opt-in, and the checks count them.
CONFIGS = [
    ("unified", "auto", ["--cpu-samples", "99"]),
    ("unified", "fallback", ["--net-probe", "cgroup-skb", "--fs-probe", "raw", "--cpu-probe",
                             "wakeup", "--cpu-samples", "99"]),
    ("hybrid", "hybrid", ["--net-probe", "tracepoint", "--fs-probe", "syscalls",
                          "--cpu-samples", "99"]),
]

MIB = 1 << 20
# What the guest workload does (tests/kernels/guest_init.sh, workload()).
FS_WRITE_BYTES = 5 * MIB  # 2 MiB fsync'ed, 2 MiB buffered, 1 MiB O_DIRECT
FS_WRITE_CALLS = 80  # 64 KiB each
FS_SYNC_CALLS = 1
NET_RX = 1 * MIB  # an HTTP download (plus the response header)
NET_TX = 512 * 1024  # nc upload (plus the HTTP request)


def fail_or_skip(reason):
    """A missing prerequisite: a failure in CI, a skip with the reason elsewhere."""
    if os.environ.get("CI"):
        sys.exit("FAIL: " + reason)
    print("SKIP: " + reason)
    sys.exit(e2e.SKIP)


def kernel_version(release):
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def config_args(name):
    args = next(a for _, n, a in CONFIGS if n == name)
    return dict(zip(args[0::2], args[1::2]))


def expected_probes(version, name, facts):
    """family → probe the agent must report on this kernel with this configuration's flags
    (facts: the guest's own tracepoints)."""
    args = config_args(name)
    net = "sock_length" if version >= (6, 3) else "cgroup_skb"
    if args.get("--net-probe") == "cgroup-skb":
        net = "cgroup_skb"
    # auto: the filesystem tracepoints only where direct I/O and reads have theirs too
    full = all(facts.get(t) == "yes" for t in ("tp_iomap_dio_complete",
                                              "tp_mm_filemap_get_pages"))
    fs = {"raw": "raw_syscalls", "syscalls": "syscalls"}.get(
        args.get("--fs-probe"), "filesystem" if full else "syscalls")
    disk = "block_rq+dirtier" if version >= (5, 17) else "block_rq"
    # Debian's kernels keep sched_info (CONFIG_SCHED_INFO=y, sched_info_on() since 5.14).
    cpu = "sched_switch+wakeup" if args.get("--cpu-probe") == "wakeup" else \
        "sched_switch+sched_info"
    return {"cpu": cpu, "samples": "perf_cpu_clock", "disk": disk, "fs": fs,
            "net": net, "cgroup": "cgroup_rmdir"}


# --- the initramfs, written as a newc cpio archive ---

class Cpio:
    def __init__(self):
        self.out = bytearray()
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08x" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
        self.ino += 1
        self.out += hdr.encode() + name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def mkdir(self, path):
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, 0o040755)

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self.mkdir(os.path.dirname(path))
        self._entry(path, 0o100000 | mode, data)

    def copy(self, host_path, guest_path=None, mode=None):
        with open(host_path, "rb") as f:
            data = f.read()
        if mode is None:
            mode = os.stat(host_path).st_mode & 0o777
        self.file(guest_path or host_path, data, mode)

    def chardev(self, path, major, minor):
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path.strip("/"), 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


def shared_libraries(binary):
    """Paths of the shared libraries ldd lists for binary, the dynamic loader included."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def is_static(binary):
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return r.returncode != 0 or "not a dynamic executable" in (r.stdout + r.stderr)


def build_initramfs(kernel_dir, busybox, configs):
    c = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "mnt", "test", "lib/modules"):
        c.mkdir(d)
    c.chardev("dev/console", 5, 1)
    c.copy(busybox, "bin/busybox")
    c.copy(os.path.join(HERE, "guest_init.sh"), "init", mode=0o755)
    c.copy(RELEASE_BIN, "bin/bpfdiag")
    for lib in shared_libraries(RELEASE_BIN):
        c.copy(lib)
    # The loop driver, uncompressed for busybox insmod (Debian compresses modules from 6.x).
    for root, _, files in os.walk(os.path.join(kernel_dir, "lib", "modules")):
        for name in ("loop.ko", "loop.ko.xz"):
            if name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                c.file("lib/modules/loop.ko", lzma.decompress(data) if name.endswith(".xz")
                       else data)
    c.file("test/configs", "".join("%s %s %s\n" % (layout, name, " ".join(args))
                                   for layout, name, args in configs).encode())
    return c.finish()


# --- the guest's report ---

class Report:
    """BPFDIAG-RESULT key=value lines and BPFDIAG-BEGIN/END blocks from the results port."""

    def __init__(self, text):
        self.results = {}
        self.blocks = {}
        cur = None
        for line in text.replace("\r", "").splitlines():
            if cur is not None:
                if line == "BPFDIAG-END " + cur:
                    cur = None
                else:
                    self.blocks[cur].append(line)
            elif line.startswith("BPFDIAG-BEGIN "):
                cur = line[len("BPFDIAG-BEGIN "):]
                self.blocks[cur] = []
            elif line.startswith("BPFDIAG-RESULT "):
                fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
                key = fields.pop("config", "")
                self.results.setdefault(key, {}).update(fields)

    def block(self, name):
        return "\n".join(self.blocks.get(name, []))


def run_guest(kernel_dir, busybox, workdir):
    vmlinuz = sorted(f for f in os.listdir(os.path.join(kernel_dir, "boot"))
                     if f.startswith("vmlinuz-"))[-1]
    initrd = os.path.join(workdir, "initrd.cpio")
    with open(initrd, "wb") as f:
        f.write(build_initramfs(kernel_dir, busybox, CONFIGS))
    console = os.path.join(workdir, "console.log")
    results = os.path.join(workdir, "results.log")
    # TCG by default: /dev/kvm may exist and still fail (nested virtualisation without the
    # MSRs QEMU wants), and a hang there would cost the whole timeout. One host thread runs
    # both vCPUs: with multi-threaded TCG, the kernel patching its own text (static keys
    # flipped when the agent attaches and detaches tracepoints) races the other vCPU's
    # translated code, and the guest oopses on a stray int3 or locks up (seen on 6.1 and 6.12
    # with QEMU 7.2). It also leaves the other host core to the rest of the machine.
    accel = ["-accel", "kvm", "-cpu", "host"] if os.environ.get("BPFDIAG_QEMU_ACCEL") == "kvm" \
        else ["-accel", "tcg,thread=single", "-cpu", "max"]
    # No network device at all (-nodefaults, -nic none): the guest talks to itself on loopback.
    argv = ["qemu-system-x86_64", "-nodefaults", "-nic", "none", "-display", "none",
            "-no-reboot", "-m", "1024", "-smp", "2"] + accel + [
            "-serial", "file:" + console, "-serial", "file:" + results,
            "-kernel", os.path.join(kernel_dir, "boot", vmlinuz), "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1 softlockup_panic=1"]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        qemu_out, _ = proc.communicate(timeout=TIMEOUT)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        qemu_out, _ = proc.communicate()
        timed_out = True
    elapsed = time.monotonic() - start

    def read(p):
        try:
            with open(p, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
    return Report(read(results)), read(console), read(results), qemu_out, elapsed, timed_out


class KernelReach(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("qemu-system-x86_64", "ldd"):
            if not shutil.which(tool):
                fail_or_skip("%s is not installed (tools/deps.sh test installs it)" % tool)
        busybox = shutil.which("busybox")
        if not busybox or not is_static(busybox):
            fail_or_skip("a static busybox is needed for the guest (Debian: busybox-static; "
                         "tools/deps.sh test installs it)")
        if not os.access(RELEASE_BIN, os.X_OK):
            fail_or_skip("no release binary at %s (run `make` first, or set "
                         "BPFDIAG_RELEASE_BIN)" % RELEASE_BIN)
        fetch = subprocess.run([os.path.join(SRC, "tools", "kernel-fetch.sh"), SERIES],
                               capture_output=True, text=True)
        if fetch.returncode != 0:
            fail_or_skip("cannot get the Debian %s cloud kernel: %s" %
                         (SERIES, fetch.stderr.strip()))
        cls.kernel_dir = fetch.stdout.strip().splitlines()[-1]
        cls.workdir = tempfile.mkdtemp(prefix="bpfdiag-kernels-")
        (cls.report, cls.console, cls.raw, qemu_out, cls.elapsed, timed_out) = run_guest(
            cls.kernel_dir, busybox, cls.workdir)
        facts = cls.report.results.get("", {})
        print("guest: %s running %s, %.1f s wall from QEMU start to power-off (guest uptime at "
              "the end: %s s)" % (facts.get("kernel", "?"), RELEASE_BIN, cls.elapsed,
                                  facts.get("end_uptime", "?")), flush=True)
        cls.failed_setup = None
        cls.guest_log_printed = False
        if timed_out:
            cls.failed_setup = "guest did not power off within %g s" % TIMEOUT
        elif facts.get("finished") != "yes":
            cls.failed_setup = "guest stopped before its last step (a panic? QEMU said: %s)" % \
                (qemu_out.strip() or "nothing")

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "workdir", None) and not os.environ.get("BPFDIAG_KEEP_GUEST"):
            shutil.rmtree(cls.workdir, ignore_errors=True)
        elif getattr(cls, "workdir", None):
            print("guest files kept in %s" % cls.workdir)

    def run(self, result=None):
        """On the first failure, prints the guest's console and results (once)."""
        failures = len(result.failures) + len(result.errors) if result else 0
        super().run(result)
        cls = type(self)
        if result and len(result.failures) + len(result.errors) > failures and \
                not cls.guest_log_printed and hasattr(cls, "console"):
            cls.guest_log_printed = True
            print("\n--- guest console (ttyS0) ---\n%s\n--- guest results (ttyS1) ---\n%s" %
                  (cls.console[-20000:], cls.raw[-60000:]), file=sys.stderr)

    def guest(self):
        if self.failed_setup:
            self.fail(self.failed_setup)
        return self.report

    def kernel(self):
        return kernel_version(self.guest().results[""]["kernel"])

    def test_boots_kernel_of_series(self):
        facts = self.guest().results[""]
        self.assertTrue(facts["kernel"].startswith(SERIES + "."), facts["kernel"])
        self.assertEqual(facts.get("btf"), "yes")
        self.assertEqual(facts.get("disk"), "loop0")
        # What the probe choices rest on (docs/KERNELS.md): block_rq_* everywhere, the
        # sock_*_length tracepoints from 6.3, writeback_dirty_folio from 5.17.
        version = self.kernel()
        self.assertEqual(facts.get("tp_block_rq_issue"), "yes")
        self.assertEqual(facts.get("tp_sys_enter_write"), "yes")
        self.assertEqual(facts.get("tp_sock_send_length"), "yes" if version >= (6, 3) else "no")
        self.assertEqual(facts.get("tp_writeback_dirty_folio"),
                         "yes" if version >= (5, 17) else "no")

    def check_config(self, name):
        rep = self.guest()
        res = rep.results.get(name, {})
        log = rep.block("log " + name)
        layout = next(lay for lay, n, _ in CONFIGS if n == name)
        self.assertEqual(res.get("ready"), "yes", "agent %s never became ready:\n%s" % (name, log))
        self.assertEqual(res.get("exit"), "0", "agent %s exit status:\n%s" % (name, log))
        samples = e2e.parse_prom(rep.block("metrics " + name))
        want = expected_probes(self.kernel(), name, rep.results[""])

        # Every family is up, with the probes expected on this kernel.
        for fam in ("cpu", "disk", "fs", "net", "cgroup"):
            self.assertEqual(e2e.metric_value(samples, "bpfdiag_agent_probe_up", family=fam),
                             1, "%s: family %s not up" % (name, fam))
        for fam, probe in want.items():
            self.assertEqual(e2e.metric_value(samples, "bpfdiag_agent_probe_info",
                                              family=fam, probe=probe), 1,
                             "%s: %s should use %s" % (name, fam, probe))
        self.assertIn("probes: cpu=%s samples=99Hz disk=%s fs=%s net=%s "
                      "lifecycle=cgroup_rmdir" % (want["cpu"], want["disk"], want["fs"],
                                                  want["net"]), log)
        # A fallback the kernel forces is said once: info under auto, warn when the flag asked
        # for what the kernel lacks.
        asked = config_args(name).get("--net-probe", "auto")
        fell_back = want["net"] == "cgroup_skb" and asked != "cgroup-skb"
        said = re.search(r" (\w+) +net probes: sock_send_length/sock_recv_length not in this "
                         r"kernel \(Linux >= 6\.3\); using cgroup_skb", log)
        if fell_back:
            self.assertIsNotNone(said, log)
            self.assertEqual(said.group(1), "warn" if asked == "tracepoint" else "info")
        else:
            self.assertIsNone(said, log)
        self.assertNotIn("unavailable", log)
        cgroot = "/sys/fs/cgroup/unified" if layout == "hybrid" else "/sys/fs/cgroup"
        self.assertIn("cgroup v2 at %s," % cgroot, log)

        wl = dict(workload_kind="Cgroup", workload="/wl-" + name)

        def value(metric, **labels):
            v = e2e.metric_value(samples, metric, **wl, **labels)
            self.assertIsNotNone(v, "%s: no %s %s for the workload" % (name, metric, labels))
            return v

        # CPU: the busy second, as the cgroup's own cpu.stat counts it.
        usage = int(re.search(r"usage_usec (\d+)", rep.block("cpu.stat " + name)).group(1)) / 1e6
        cpu = value("bpfdiag_cpu_seconds_total")
        self.assertGreater(usage, 0.3)
        self.assertLess(abs(cpu - usage), 0.05 * usage + 0.02, "cpu %.3f vs cpu.stat %.3f" %
                        (cpu, usage))
        self.assertGreater(value("bpfdiag_cpu_samples_total"), 10)

        # fs: every byte written through write(2) to the loop-device volume, and the fsync.
        self.assertEqual(value("bpfdiag_fs_write_bytes_total", volume="/mnt/vol"),
                         FS_WRITE_BYTES)
        self.assertEqual(value("bpfdiag_fs_write_calls_total", volume="/mnt/vol"),
                         FS_WRITE_CALLS)
        self.assertEqual(value("bpfdiag_fs_sync_calls_total", volume="/mnt/vol"),
                         FS_SYNC_CALLS)

        # disk: the data reached loop0 and was charged to the workload, including the buffered
        # file flushed by a sync from the root cgroup (through its dirtier on >= 5.17).
        disk = value("bpfdiag_disk_bytes_total", direction="write", device="loop0")
        self.assertGreaterEqual(disk, FS_WRITE_BYTES)
        self.assertLess(disk, FS_WRITE_BYTES + MIB // 2)
        self.assertGreater(value("bpfdiag_disk_operations_total", direction="write",
                                 device="loop0"), 0)
        self.assertGreater(value("bpfdiag_disk_latency_seconds_count", direction="write"), 0)
        if want["disk"].endswith("+dirtier"):
            self.assertGreater(e2e.metric_value(samples, "bpfdiag_agent_disk_attributions_total",
                                                method="dirtier"), 0)

        # net: the download and the upload, payload bytes, whichever probe counts them.
        # cgroup_skb sees segments, so a retransmitted one (TCG stalls make even loopback
        # retransmit) is counted again on both ends: up to 64 KiB (a GSO segment on lo) for
        # each retransmit, which is charged to the sender (here the peer may be the root).
        rx = value("bpfdiag_network_bytes_total", direction="receive")
        tx = value("bpfdiag_network_bytes_total", direction="transmit")
        retrans = sum(v for n, _, v in samples if n == "bpfdiag_tcp_retransmits_total")
        resent = retrans * 65536 if want["net"] == "cgroup_skb" else 0
        self.assertGreaterEqual(rx, NET_RX)
        self.assertLess(rx, NET_RX + 1024 + resent,
                        "rx beyond the payload, one HTTP header and %d retransmits" % retrans)
        self.assertGreaterEqual(tx, NET_TX)
        self.assertLess(tx, NET_TX + 1024 + resent,
                        "tx beyond the payload, one HTTP request and %d retransmits" % retrans)
        self.assertGreaterEqual(value("bpfdiag_tcp_connections_opened_total", role="client"), 2)
        self.assertGreaterEqual(value("bpfdiag_tcp_listening_sockets"), 1)

        if layout == "hybrid":
            # cpu.cfs_quota_us on the v1 cpu cgroup of the same path: half a CPU, throttled.
            self.assertEqual(value("bpfdiag_cpu_limit_cores"), 0.5)
            self.assertGreater(value("bpfdiag_cpu_throttled_periods_total"), 0)
            self.assertGreater(value("bpfdiag_cpu_throttled_seconds_total"), 0)

    def test_auto_configuration(self):
        self.check_config("auto")

    def test_forced_fallbacks(self):
        self.check_config("fallback")

    def test_hybrid_cgroups_with_tracepoint_flag(self):
        self.assertEqual(self.guest().results.get("", {}).get("layout"), "v1only")
        self.check_config("hybrid")

    def test_missing_btf_is_one_clear_line(self):
        rep = self.guest()
        log = rep.block("log nobtf")
        self.assertEqual(rep.results.get("nobtf", {}).get("exit"), "2", log)
        lines = [l for l in log.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("CONFIG_DEBUG_INFO_BTF", lines[0])
        self.assertIn("/sys/kernel/btf/vmlinux", lines[0])

    def test_cgroup_v1_only_is_one_clear_line(self):
        rep = self.guest()
        self.assertEqual(rep.results.get("", {}).get("layout"), "v1only")
        log = rep.block("log v1only")
        self.assertEqual(rep.results.get("v1only", {}).get("exit"), "2", log)
        lines = [l for l in log.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("no cgroup v2 hierarchy", lines[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
