"""Reads per volume, and the fs family's default probes (issue 19 part 1, issue 18 part 2).

One pod reads its PVC (an ext4 loop device: a cold pass with 1 MiB reads, a warm pass with
unaligned 100000-byte reads, 4 KiB preads, readv and preadv, then O_DIRECT), its emptyDir and
its overlay rootfs. bpfdiag_fs_read_bytes_total per volume is within 2 % of what the workload
read (it is exact but for the first read of a file at its end, which asks for more than is
there: the agent counts what the read returns). The same run with `--fs-probe syscalls`
counts the same, and the writes too. With the default probes the agent holds no program on a
syscall tracepoint (per-syscall or raw): nothing puts the node's syscalls on the tracing slow
path; with `--fs-probe syscalls` it does, which is how this check is known to see them. On
xfs (when mkfs.xfs is installed) writes, fsync and reads are exact too."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
from fakepod_volumes import PodVolumes  # noqa: E402
import test_volumes_disk as tvd  # noqa: E402

MiB = 1 << 20

WORKLOAD = textwrap.dedent("""
    import json, mmap, os, sys
    root = sys.argv[1]
    read = {}
    def make(path, size):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        block = b"r" * MiB
        for off in range(0, size, MiB):
            os.write(fd, block[:size - off])
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # the first pass reads the disk
        os.close(fd)
    def buffered(cls, path, size):
        fd = os.open(path, os.O_RDONLY)
        n = 0
        while True:  # cold, 1 MiB at a time
            b = os.read(fd, MiB)
            if not b:
                break
            n += len(b)
        os.lseek(fd, 0, os.SEEK_SET)
        while True:  # warm, unaligned
            b = os.read(fd, 100000)
            if not b:
                break
            n += len(b)
        for i in range(256):  # small preads here and there, one past the end
            n += len(os.pread(fd, 4096, (i * 7919 * 4096 + 123) % (size + 4096)))
        bufs = [bytearray(3000), bytearray(5000), bytearray(70000)]
        os.lseek(fd, 4321, os.SEEK_SET)
        for _ in range(32):
            n += os.readv(fd, bufs)
        for i in range(32):
            n += os.preadv(fd, bufs, i * 65536 + 17)
        os.close(fd)
        read[cls] = read.get(cls, 0) + n
    def direct(cls, path, size):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, MiB)  # page-aligned
        n = 0
        for off in range(0, size, MiB):
            n += os.preadv(fd, [buf], off)
        os.close(fd)
        read[cls + "_direct"] = n
    MiB = 1 << 20
    make(root + "/data/pvc.bin", 16 * MiB)
    make(root + "/cache/empty.bin", 4 * MiB)
    make(root + "/rootfs.bin", 2 * MiB)
    print("made", flush=True)
    sys.stdin.readline()
    buffered("pvc", root + "/data/pvc.bin", 16 * MiB)
    buffered("emptydir", root + "/cache/empty.bin", 4 * MiB)
    buffered("rootfs", root + "/rootfs.bin", 2 * MiB)
    direct("pvc", root + "/data/pvc.bin", 16 * MiB)
    print(json.dumps(read), flush=True)
    sys.stdin.readline()
""")

SYSCALL_PROGS = ("fs_enter_", "fs_exit_", "fs_raw_")

# 10 MiB buffered in 64 KiB writes and one fsync, 8 MiB O_DIRECT; both read back the same way.
XFS_WORKLOAD = ("cd %(d)s && dd if=/dev/zero of=w.bin bs=64k count=160 conv=fsync status=none"
                " && dd if=/dev/zero of=d.bin bs=1M count=8 oflag=direct status=none"
                " && dd if=w.bin of=/dev/null bs=100k status=none"
                " && dd if=d.bin of=/dev/null bs=1M iflag=direct status=none")


def agent_fs_programs(pid):
    """Names of the fs programs the agent holds, and the syscall tracepoints it is attached
    to through perf events (classic tracepoints)."""
    names = set()
    for pid_ in e2e.prog_ids_of(pid):
        r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(pid_)],
                           capture_output=True, text=True)
        if r.returncode == 0:
            names.add(json.loads(r.stdout).get("name", ""))
    perf = subprocess.run(["bpftool", "-j", "perf", "show"], capture_output=True, text=True)
    tps = {e.get("tracepoint", "") for e in json.loads(perf.stdout or "[]")
           if e.get("pid") == pid}
    return {n for n in names if n.startswith("fs_")}, {t for t in tps if t.startswith("sys_")}


class FsReads(unittest.TestCase):
    def test_default_reads_per_volume_and_no_syscall_tracepoint(self):
        self.run_variant("auto", "filesystem")

    def test_syscalls_opt_in_still_counts(self):
        self.run_variant("syscalls", "syscalls")

    def run_variant(self, probe, info):
        with e2e.FakePod() as pod, PodVolumes(pod, pvc_mib=64) as vol, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--fs-probe", probe) as a:
            self.assertEqual(e2e.metric_value(a.metrics(), "bpfdiag_agent_probe_info",
                                              family="fs", probe=info), 1)
            progs, tps = agent_fs_programs(a.proc.pid)
            print("fs programs:", sorted(progs), "syscall tracepoints:", sorted(tps))
            on_syscalls = {n for n in progs if n.startswith(SYSCALL_PROGS)}
            if probe == "auto":
                self.assertEqual(on_syscalls, set())
                self.assertEqual(tps, set())
                self.assertIn("fs_filemap_get_pages", progs)
                self.assertIn("fs_ext4_da_write_end", progs)
            else:
                self.assertIn("fs_enter_read", on_syscalls)
                self.assertIn("sys_enter_write", tps)
            p = tvd.VolumesAndDisk.start_workload(pod, vol, WORKLOAD)
            try:
                self.assertEqual(p.stdout.readline().strip(), "made")
                a.wait_collections(2)
                before = self.reads(a.metrics(), pod.container_id)
                p.stdin.write("\n")
                p.stdin.flush()
                want = json.loads(p.stdout.readline())
                a.wait_collections(2)
                m = a.metrics()
            finally:
                tvd.VolumesAndDisk.stop_workload(p)
        got = self.reads(m, pod.container_id)
        print("workload read:", want, "agent (before the reads):", before, "agent:", got)
        want_cls = {"pvc": want["pvc"] + want["pvc_direct"], "emptydir": want["emptydir"],
                    "rootfs": want["rootfs"]}
        for cls, n in want_cls.items():
            with self.subTest(volume_class=cls):
                delta = got.get(cls, 0) - before.get(cls, 0)
                self.assertAlmostEqual(delta, n, delta=0.02 * n,
                                       msg="%s: agent %d, workload %d" % (cls, delta, n))
        # the direct reads alone (the buffered ones came first, in other collections):
        self.assertGreaterEqual(got["pvc"] - before.get("pvc", 0), want["pvc_direct"])
        # the files were written through the same probes: exact bytes per volume
        writes = {l["volume_class"]: v for n, l, v in m
                  if n == "bpfdiag_fs_write_bytes_total" and
                  l.get("container_id") == pod.container_id}
        self.assertEqual({c: writes.get(c) for c in ("pvc", "emptydir", "rootfs")},
                         {"pvc": 16 * MiB, "emptydir": 4 * MiB, "rootfs": 2 * MiB})

    def test_xfs(self):
        """xfs through its own tracepoints (buffered writes, fsync) and the shared ones
        (iomap direct I/O, page-cache reads): exact, as the syscall variant counts."""
        if not shutil.which("mkfs.xfs"):
            self.skipTest("mkfs.xfs not installed (xfsprogs)")
        work = tempfile.mkdtemp(prefix="bpfdiag-e2e-xfs-", dir="/var/tmp")
        img, mnt = os.path.join(work, "xfs.img"), os.path.join(work, "mnt")
        os.makedirs(mnt)
        with open(img, "wb") as f:
            f.truncate(400 * MiB)
        subprocess.run(["mkfs.xfs", "-q", "-f", img], check=True)
        loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                              text=True).stdout.strip()
        try:
            subprocess.run(["mount", loop, mnt], check=True)
            try:
                with e2e.FakePod() as pod, \
                        e2e.Agent("--interval", "0.5", "--pin-dir", "none") as a:
                    p = pod.run(["sh", "-c", XFS_WORKLOAD % {"d": mnt}])
                    self.assertEqual(p.wait(timeout=120), 0)
                    a.wait_collections(2)
                    m = a.metrics()
            finally:
                subprocess.run(["umount", mnt], check=True)
        finally:
            subprocess.run(["losetup", "-d", loop], check=True)
            shutil.rmtree(work, ignore_errors=True)

        def v(name):
            return e2e.metric_value(m, name, container_id=pod.container_id, volume=mnt)
        self.assertEqual(v("bpfdiag_fs_write_bytes_total"), 18 * MiB)
        self.assertEqual(v("bpfdiag_fs_write_calls_total"), 160 + 8)
        self.assertEqual(v("bpfdiag_fs_sync_calls_total"), 1)
        self.assertEqual(v("bpfdiag_fs_read_bytes_total"), 18 * MiB)

    @staticmethod
    def reads(m, cid):
        out = {}
        for n, l, v in m:
            if n == "bpfdiag_fs_read_bytes_total" and l.get("container_id") == cid:
                out[l["volume_class"]] = out.get(l["volume_class"], 0) + v
        return out


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
