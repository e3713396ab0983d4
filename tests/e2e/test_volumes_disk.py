"""One pod writing to its rootfs, an emptyDir and a PVC: each write lands in the right volume
class with exact logical bytes and exact sync calls; direct I/O to the PVC shows on the loop
device within 1 %; buffered writes flushed by a `sync` from outside are charged to the pod,
not to the kworkers (root cgroup) that write them back. A local PV the node mounted elsewhere
first is still the pod's `pvc`, and writes to /proc are no volume (the default filesystem
tracepoints never see them; with `--fs-probe syscalls` they add up in the agent's pseudo
counter)."""
import json
import os
import subprocess
import sys
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
from fakepod_volumes import PodVolumes  # noqa: E402

MiB = 1 << 20
DIRECT = 32 * MiB
BUFFERED = 16 * MiB

WORKLOAD = textwrap.dedent("""
    import mmap, os, sys
    root = sys.argv[1]
    def write(path, total, syncs, datasyncs=0, flags=0):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
        chunk = b"x" * (64 << 10)
        left = total
        while left:
            left -= os.write(fd, chunk[:min(left, len(chunk))])
        for _ in range(syncs):
            os.fsync(fd)
        for _ in range(datasyncs):
            os.fdatasync(fd)
        os.close(fd)
    write(root + "/app.log", 3 << 20, 3)
    write(root + "/cache/scratch", 2 << 20, 5, 2)
    write(root + "/data/db", 1 << 20, 7)
    print("phase1", flush=True)
    sys.stdin.readline()
    # Direct I/O into the preallocated file: page-aligned buffer, no metadata changes.
    fd = os.open(root + "/data/direct.bin", os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 1 << 20)
    buf.write(b"d" * (1 << 20))
    for _ in range(%(direct)d >> 20):
        os.write(fd, buf)
    os.close(fd)
    print("phase2", flush=True)
    sys.stdin.readline()
    write(root + "/data/buffered.bin", %(buffered)d, 0)
    print("phase3", flush=True)
    sys.stdin.readline()
""" % {"direct": DIRECT, "buffered": BUFFERED})


# Writes a local PV and, as container runtimes and apps do, /proc files of its own.
LOCAL_PV_WORKLOAD = textwrap.dedent("""
    import os, sys
    root = sys.argv[1]
    fd = os.open(root + "/data/db", os.O_WRONLY | os.O_CREAT, 0o644)
    for _ in range(16):
        os.write(fd, b"p" * (64 << 10))
    os.fsync(fd)
    os.fsync(fd)
    os.close(fd)
    for _ in range(%(proc_writes)d):
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("100\\n")
        with open("/proc/self/comm", "w") as f:
            f.write("bpfdiag-e2e\\n")
    print("written", flush=True)
    sys.stdin.readline()
""" % {"proc_writes": 50})
PROC_BYTES = 50 * (4 + 12)


# Direct I/O in both directions, for the in-flight tracking tests.
FALLBACK_MIB = 8
TRACKING_EVENTS = ("hash_fallback", "taken_over", "expired", "unmatched", "submitter_evicted")
FALLBACK_WORKLOAD = textwrap.dedent("""
    import mmap, os, sys
    path = sys.argv[1] + "/data/direct.bin"
    buf = mmap.mmap(-1, 1 << 20)
    buf.write(b"f" * (1 << 20))
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    for _ in range(%(mib)d):
        os.write(fd, buf)
    os.close(fd)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    for _ in range(%(mib)d):
        os.readv(fd, [buf])
    os.close(fd)
    print("done", flush=True)
    sys.stdin.readline()
""" % {"mib": FALLBACK_MIB})


def agent_map(agent, name):
    """Id of the agent's BPF map named name (kernel map names stop at 15 characters)."""
    for i in e2e.prog_ids_of(agent.proc.pid, kind="map"):
        out = subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)],
                             capture_output=True, text=True)
        if out.returncode == 0 and json.loads(out.stdout).get("name") == name[:15]:
            return i
    raise AssertionError("the agent holds no map %s" % name)


def value(agent, name, **labels):
    return e2e.metric_value(agent.metrics(), name, **labels) or 0.0


def map_max_entries(map_id):
    return json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                                     capture_output=True, text=True,
                                     check=True).stdout)["max_entries"]


def bpftool_batch(vol, commands):
    batch = os.path.join(vol.work, "maps.batch")
    with open(batch, "w") as f:
        f.write("".join(c + "\n" for c in commands))
    subprocess.run(["bpftool", "batch", "file", batch], check=True, stdout=subprocess.DEVNULL)


HELD = 0xffffffffffffffff  # a request address no request has


def fill_slots(agent, vol, issue_ns):
    """Holds every slot of disk_inflight_slots for a request at HELD issued at issue_ns
    (CLOCK_MONOTONIC nanoseconds)."""
    slots = agent_map(agent, "disk_inflight_slots")
    rec = " ".join("%02x" % b for b in HELD.to_bytes(8, "little") + issue_ns.to_bytes(8, "little")
                   + bytes(24))
    bpftool_batch(vol, ["map update id %d key %s value hex %s" % (
        slots, " ".join(str(b) for b in i.to_bytes(4, "little")), rec)
        for i in range(map_max_entries(slots))])


def held_slots(dump):
    return sum(1 for e in dump if e["formatted"]["value"]["rq"] == HELD)


class VolumesAndDisk(unittest.TestCase):
    def test_volume_classes_and_disk_attribution(self):
        with e2e.FakePod() as pod, PodVolumes(pod) as vol, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            # The PVC file for direct I/O is allocated from outside, before the workload.
            direct = os.path.join(vol.pvc_mount, "direct.bin")
            subprocess.run(["fallocate", "-l", str(DIRECT), direct], check=True)
            subprocess.run(["sync"], check=True)
            p = self.start_workload(pod, vol, WORKLOAD)
            try:
                self.run_phases(agent, pod, vol, p)
            finally:
                self.stop_workload(p)

    @staticmethod
    def start_workload(pod, vol, source):
        """Runs the Python workload source in the pod, in a mount namespace with its volumes."""
        script = os.path.join(vol.work, "workload.py")
        with open(script, "w") as f:
            f.write(source)
        return pod.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        vol.shell_setup() + " && exec %s %s %s" % (sys.executable, script,
                                                                    vol.rootfs)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))

    @staticmethod
    def stop_workload(p):
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()

    def test_local_pv_mounted_elsewhere_first_and_proc_writes(self):
        for probe in ("auto", "syscalls"):
            with self.subTest(fs_probe=probe):
                self.local_pv_and_proc_writes(probe)

    def local_pv_and_proc_writes(self, probe):
        with e2e.FakePod() as pod, PodVolumes(pod, pvc_mib=32, local_pv=True) as vol, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--fs-probe", probe) as agent:
            p = self.start_workload(pod, vol, LOCAL_PV_WORKLOAD)
            try:
                self.step(p, "written")
                agent.wait_collections(2)
                m = agent.metrics()
            finally:
                self.stop_workload(p)
        cid = pod.container_id
        fs = [(n, l, v) for n, l, v in m
              if n.startswith("bpfdiag_fs_") and l.get("container_id") == cid]
        for n, l, v in fs:
            print(n, l.get("volume_class"), l.get("volume"), l.get("persistentvolumeclaim"), v)
        # The host's mountinfo lists <work>/pv before kubelet's local-volume bind of it: the
        # pod's own kubelet path decides.
        pvc = {(l["volume_class"], l["volume"]): v for n, l, v in fs
               if n == "bpfdiag_fs_write_bytes_total" and
               (l["volume"] == vol.pvc_name or l["volume"].endswith("/data"))}
        self.assertEqual(pvc, {("pvc", vol.pvc_name): 1 * MiB})
        self.assertEqual(e2e.metric_value(m, "bpfdiag_fs_sync_calls_total", container_id=cid,
                                          volume_class="pvc"), 2)
        # /proc is no volume: no series, whatever the class
        procfs = [(n, l) for n, l, v in fs
                  if l.get("volume", "").startswith(("/proc", "/sys"))
                  or l.get("volume_class") == "pseudo"]
        self.assertEqual(procfs, [])
        pseudo = e2e.metric_value(m, "bpfdiag_agent_fs_pseudo_write_bytes_total")
        if probe == "syscalls":
            self.assertGreaterEqual(pseudo, PROC_BYTES)
        else:  # procfs has no filesystem tracepoint
            self.assertEqual(pseudo, 0)

    def test_inflight_records_fall_back_to_the_hash(self):
        """Every slot of disk_inflight_slots held by another request in flight since just now:
        each issue's record goes to the disk_inflight hash, counted, and the completion finds
        it there, so direct I/O is still charged exactly, both ways."""
        got, ev, dump = self.direct_io_with(lambda agent, vol: fill_slots(
            agent, vol, time.monotonic_ns()))  # CLOCK_MONOTONIC: the BPF programs' clock
        print("direct I/O with every slot held:", got, ev)
        self.assert_exact(got)
        # The slots were never taken: every request went through the hash, and says so.
        self.assertEqual(len(dump), self.nslots)
        self.assertEqual(held_slots(dump), self.nslots)
        self.assertGreaterEqual(ev["hash_fallback"], 2 * FALLBACK_MIB)
        self.assertEqual(ev["taken_over"], 0)

    def test_stuck_inflight_slots_are_taken_over(self):
        """Every slot held by a request issued at boot, whose completion never comes (as one
        issued before the agent attached and freed without block_rq_complete): the issues that
        hash there take the slots over, counted, and direct I/O is charged exactly."""
        got, ev, dump = self.direct_io_with(lambda agent, vol: fill_slots(agent, vol, 1))
        print("direct I/O with every slot held since boot:", got, ev)
        self.assert_exact(got)
        self.assertGreaterEqual(ev["taken_over"], 1)
        self.assertEqual(ev["hash_fallback"], 0)
        # Every completion found its record in the slot its issue took over.
        self.assertEqual(ev["unmatched"], 0)
        # Slots taken over were released by their new holders' completions.
        self.assertLessEqual(held_slots(dump), self.nslots - ev["taken_over"])

    def test_stale_inflight_hash_entries_expire(self):
        """Every slot held (just now) and the disk_inflight hash full of records of requests
        issued at boot: the first issue that finds the hash full deletes the stale records,
        counted, and direct I/O is charged exactly instead of dropped as map overflow."""
        def prepare(agent, vol):
            fill_slots(agent, vol, time.monotonic_ns())
            h = agent_map(agent, "disk_inflight")
            n = map_max_entries(h)
            rec = " ".join(["01"] + ["00"] * 31)  # issue_ns 1
            bpftool_batch(vol, ["map update id %d key %s value hex %s" % (
                h, " ".join(str(b) for b in (0xdead0000 + i).to_bytes(8, "little")), rec)
                for i in range(n)])
            self.nhash = n

        over = lambda: value(self.agent, "bpfdiag_agent_map_overflow_total", map="disk_inflight")
        got, ev, dump = self.direct_io_with(prepare, extra=over)
        print("direct I/O with the hash full of stale records:", got, ev)
        self.assert_exact(got)
        self.assertGreaterEqual(ev["expired"], self.nhash)
        self.assertEqual(ev["extra"], 0)

    def assert_exact(self, got):
        for d in ("write", "read"):
            self.assertLess(abs(got[d] - FALLBACK_MIB * MiB) / (FALLBACK_MIB * MiB), 0.01, d)

    def direct_io_with(self, prepare, extra=None):
        """Runs FALLBACK_WORKLOAD's direct I/O on a PVC's loop device after prepare(agent, vol)
        has set the BPF maps up: the pod's bytes on the loop device per direction, the
        increase of bpfdiag_agent_disk_tracking_total per event (and of extra() as "extra"),
        and the slots at the end."""
        with e2e.FakePod() as pod, PodVolumes(pod) as vol, \
                e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            self.agent = agent
            subprocess.run(["fallocate", "-l", str(FALLBACK_MIB * MiB),
                            os.path.join(vol.pvc_mount, "direct.bin")], check=True)
            subprocess.run(["sync"], check=True)
            slots = agent_map(agent, "disk_inflight_slots")
            self.nslots = map_max_entries(slots)
            prepare(agent, vol)
            agent.wait_collections(1)

            def counts():
                m = agent.metrics()
                c = {d: e2e.metric_value(m, "bpfdiag_disk_bytes_total", direction=d,
                                         device=vol.loop_name, container_id=pod.container_id)
                     or 0.0 for d in ("write", "read")}
                c.update({e: e2e.metric_value(m, "bpfdiag_agent_disk_tracking_total", event=e)
                          for e in TRACKING_EVENTS})
                c["extra"] = extra() if extra else 0
                return c

            before = counts()
            p = self.start_workload(pod, vol, FALLBACK_WORKLOAD)
            try:
                self.step(p, "done")
                agent.wait_collections(2)
                after = counts()
            finally:
                self.stop_workload(p)
            dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(slots)],
                                             capture_output=True, text=True,
                                             check=True).stdout)
        delta = {k: after[k] - before[k] for k in after}
        return ({d: delta[d] for d in ("write", "read")},
                {k: v for k, v in delta.items() if k not in ("write", "read")}, dump)

    def step(self, p, want):
        line = p.stdout.readline().strip()
        self.assertEqual(line, want, "workload did not reach %s" % want)

    def run_phases(self, agent, pod, vol, p):
        cid = pod.container_id
        self.step(p, "phase1")
        agent.wait_collections(2)
        m = agent.metrics()
        fsw = {l["volume_class"]: (l["volume"], v) for n, l, v in m
               if n == "bpfdiag_fs_write_bytes_total" and l.get("container_id") == cid}
        syncs = {l["volume_class"]: v for n, l, v in m
                 if n == "bpfdiag_fs_sync_calls_total" and l.get("container_id") == cid}
        print("fs writes:", fsw, "syncs:", syncs)
        self.assertEqual(fsw.get("rootfs", (None, 0))[1], 3 * MiB)
        self.assertEqual(fsw.get("emptydir"), ("cache", 2 * MiB))
        self.assertEqual(fsw.get("pvc"), (vol.pvc_name, 1 * MiB))
        # (mount(8) itself writes its utab to a hostPath while building the namespace)
        self.assertEqual({k: syncs.get(k) for k in ("rootfs", "emptydir", "pvc")},
                         {"rootfs": 3, "emptydir": 7, "pvc": 7})

        def loop_writes(**l):
            return value(agent, "bpfdiag_disk_bytes_total", direction="write",
                         device=vol.loop_name, **l)

        before = loop_writes(container_id=cid)
        p.stdin.write("\n")
        p.stdin.flush()
        self.step(p, "phase2")
        agent.wait_collections(2)
        direct = loop_writes(container_id=cid) - before
        err = abs(direct - DIRECT) / DIRECT
        print("direct I/O on %s: %d bytes for %d written (%.3f%%)" % (vol.loop_name, direct,
                                                                   DIRECT, err * 100))
        self.assertLess(err, 0.01)
        self.assertEqual(e2e.metric_value(agent.metrics(), "bpfdiag_fs_write_bytes_total",
                                          container_id=cid, volume_class="pvc"),
                         1 * MiB + DIRECT)

        pod_before = loop_writes(container_id=cid)
        root_before = loop_writes(workload="/")
        p.stdin.write("\n")
        p.stdin.flush()
        self.step(p, "phase3")
        subprocess.run(["sync"], check=True)  # from outside the pod: kworkers write back
        agent.wait_collections(2)
        pod_wb = loop_writes(container_id=cid) - pod_before
        root_wb = loop_writes(workload="/") - root_before
        print("writeback on %s: pod %d, root %d for %d buffered" % (vol.loop_name, pod_wb,
                                                                    root_wb, BUFFERED))
        self.assertGreaterEqual(pod_wb, BUFFERED * 0.99)
        self.assertLess(root_wb, BUFFERED * 0.05)
        # Latency histogram for the pod's writes exists and counts every operation.
        ops = value(agent, "bpfdiag_disk_operations_total", container_id=cid,
                    direction="write", device=vol.loop_name)
        lat_count = value(agent, "bpfdiag_disk_latency_seconds_count", container_id=cid,
                          direction="write")
        self.assertGreater(ops, 0)
        self.assertGreaterEqual(lat_count, ops)
        # Nothing held a slot for long, no hash filled, no bio lost its submitter.
        m = agent.metrics()
        self.assertEqual({e: e2e.metric_value(m, "bpfdiag_agent_disk_tracking_total", event=e)
                          for e in ("taken_over", "expired", "submitter_evicted")},
                         {"taken_over": 0, "expired": 0, "submitter_evicted": 0})


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
