"""io_uring file I/O per volume (issue 18 §3), on real cgroups, a real ext4 PVC and fio's own
io_uring engine:
- a pod's io_uring writes into its PVC, direct and buffered, land in the pod's `pvc` series
  within 1 % of what fio wrote (exactly, in practice), and so do fio's fsyncs (IORING_OP_FSYNC);
  io_uring writes into the pod's rootfs stay out of the PVC; io_uring reads are counted in the
  family's map for the pod's cgroup and reach the PVC's bpfdiag_fs_read_bytes_total exactly;
- the classic-tracepoint fallback counts the same; `--uring-probe off` leaves the family down
  and the agent up, and proves fio's I/O went through io_uring: without the family no syscall
  probe counts any of it;
- the rules see it: a Deployment that listens and writes its PVC with fio's io_uring engine at
  2.5 MiB/s + 20 fsync/s gets WK-05; its look-alike, the same fio into its rootfs (no volume
  WK-05 looks at), gets WK-01, never WK-05, and its PVC stays at zero.
Every file fio touches is preallocated from outside, so fio lays nothing out with write(2)."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import unittest
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from fakepod_volumes import PodVolumes  # noqa: E402
from rules_e2e import (WORKLOAD, KiB, Cluster, fired, findings, free_port,  # noqa: E402
                       rules_agent, wait_until)

MiB = 1 << 20
WINDOW = 5.0
FIO = shutil.which("fio")


def fio_job(name, path, size, rw="write", direct=1, bs="64k", iodepth=8, fsync=0):
    """fio arguments for one io_uring job on a preallocated file (no layout writes)."""
    args = ["fio", "--name=" + name, "--ioengine=io_uring", "--filename=" + path,
            "--rw=" + rw, "--bs=" + bs, "--size=%d" % size, "--direct=%d" % direct,
            "--iodepth=%d" % iodepth, "--fallocate=none", "--output-format=json"]
    if fsync:
        args.append("--fsync=%d" % fsync)
    return args


def fio_result(out):
    """(bytes, syncs) fio reports for its single job, reads and writes together."""
    job = json.loads(out[out.index("{"):])["jobs"][0]
    done = job["write"]["io_bytes"] + job["read"]["io_bytes"]
    return done, job.get("sync", {}).get("total_ios", 0)


def series(agent, name, cid, cls):
    return e2e.metric_value(agent.metrics(), name, container_id=cid, volume_class=cls) or 0


def uring_reads(agent_pid, cgroup_id):
    """read_bytes the agent's uring_stats map holds for a cgroup (all its mounts, all CPUs)."""
    def bpftool(*args):
        return json.loads(subprocess.run(["bpftool", "-j"] + list(args), check=True,
                                         capture_output=True, text=True).stdout)
    total = 0
    for map_id in e2e.prog_ids_of(agent_pid, "map"):
        if bpftool("map", "show", "id", str(map_id)).get("name") != "uring_stats":
            continue
        for e in bpftool("map", "dump", "id", str(map_id)):
            f = e["formatted"]
            if f["key"]["cgroup_id"] == cgroup_id:
                total += sum(v["value"]["read_bytes"] for v in f["values"])
    return total


class Uring(unittest.TestCase):
    def setUp(self):
        if not FIO:
            self.skipTest("fio is not installed")
        if not os.path.isdir("/sys/kernel/tracing/events/io_uring"):
            self.skipTest("this kernel has no io_uring tracepoints")

    def fio(self, agent, pod, vol, args):
        """Runs fio in the pod (its cgroup, its mount namespace) and keeps the namespace until
        the agent has collected twice (it resolves a mount through a live process of the
        cgroup, as kubelet's containers have); returns fio's (bytes, syncs)."""
        out = os.path.join(vol.work, "fio.json")
        p = pod.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                     vol.shell_setup() + ' && cd / && "$@" --output=%s && echo done && read _'
                     % out, "sh"] + args,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "done", "fio failed")
            agent.wait_collections(2)
        finally:
            p.stdin.close()
            p.wait(timeout=30)
            p.stdout.close()
        with open(out) as f:
            return fio_result(f.read())

    def test_pvc_writes_fsyncs_reads_and_rootfs_look_alike(self):
        with e2e.FakePod() as pod, PodVolumes(pod, pvc_mib=160) as vol, \
                e2e.Agent("--interval", "0.5") as agent:
            cid = pod.container_id
            self.assertIn("uring=io_uring_complete ", agent.logs())
            for f, size in (("direct.bin", 32 * MiB), ("buffered.bin", 16 * MiB)):
                subprocess.run(["fallocate", "-l", str(size), os.path.join(vol.pvc_mount, f)],
                               check=True)
            subprocess.run(["sync"], check=True)
            agent.wait_collections(2)

            def pvc():
                return (series(agent, "bpfdiag_fs_write_bytes_total", cid, "pvc"),
                        series(agent, "bpfdiag_fs_sync_calls_total", cid, "pvc"))

            for what, args in (
                    ("direct", fio_job("direct", vol.rootfs + "/data/direct.bin", 32 * MiB,
                                       fsync=8)),
                    ("buffered", fio_job("buffered", vol.rootfs + "/data/buffered.bin",
                                         16 * MiB, direct=0, bs="16k", iodepth=4,
                                         fsync=16))):
                b0, s0 = pvc()
                wrote, synced = self.fio(agent, pod, vol, args)
                b1, s1 = pvc()
                err = abs((b1 - b0) - wrote) / wrote
                print("%s: pvc %d bytes, %d fsyncs for fio's %d bytes, %d fsyncs (%.3f%%)" % (
                    what, b1 - b0, s1 - s0, wrote, synced, err * 100))
                self.assertLess(err, 0.01, what)
                self.assertGreater(synced, 0)
                self.assertEqual(s1 - s0, synced, what)

            # The look-alike: the same pod's io_uring writes and fsyncs into its rootfs.
            b0, s0 = pvc()
            r0 = series(agent, "bpfdiag_fs_write_bytes_total", cid, "rootfs")
            os.makedirs(os.path.join(vol.work, "upper", "var", "tmp"), exist_ok=True)
            subprocess.run(["fallocate", "-l", str(8 * MiB),
                            os.path.join(vol.work, "upper", "var", "tmp", "scratch")],
                           check=True)
            wrote, _ = self.fio(agent, pod, vol, fio_job("rootfs", vol.rootfs + "/var/tmp/scratch",
                                                  8 * MiB, direct=0, fsync=4))
            rootfs = series(agent, "bpfdiag_fs_write_bytes_total", cid, "rootfs") - r0
            print("rootfs look-alike: rootfs %d bytes for %d, pvc +%d" % (
                rootfs, wrote, pvc()[0] - b0))
            self.assertEqual(pvc(), (b0, s0))
            self.assertLess(abs(rootfs - wrote) / wrote, 0.01)

            # Reads: in the family's map, charged to the pod's cgroup, and on the PVC's read
            # series exactly once (the fs family leaves io_uring's direct reads to this one).
            rd0 = series(agent, "bpfdiag_fs_read_bytes_total", cid, "pvc")
            read, _ = self.fio(agent, pod, vol, fio_job("read", vol.rootfs + "/data/direct.bin",
                                                 32 * MiB, rw="read"))
            got = uring_reads(agent.proc.pid, os.stat(pod.path).st_ino)
            print("reads: %d bytes in uring_stats for fio's %d" % (got, read))
            self.assertEqual(got, read)
            rd = series(agent, "bpfdiag_fs_read_bytes_total", cid, "pvc") - rd0
            print("reads: pvc +%d bytes in bpfdiag_fs_read_bytes_total" % rd)
            self.assertEqual(rd, read)
            self.assertEqual(pvc(), (b0, s0))

    def test_fallback_and_off(self):
        for mode, probe in (("tracepoint", "io_uring_complete_tp"), ("off", None)):
            with self.subTest(mode=mode), e2e.FakePod() as pod, \
                    PodVolumes(pod, pvc_mib=64) as vol, \
                    e2e.Agent("--interval", "0.5", "--uring-probe", mode) as agent:
                cid = pod.container_id
                subprocess.run(["fallocate", "-l", str(8 * MiB),
                                os.path.join(vol.pvc_mount, "f")], check=True)
                wrote, synced = self.fio(agent, pod, vol, fio_job(mode, vol.rootfs + "/data/f",
                                                           8 * MiB, fsync=4))
                m = agent.metrics()
                got = (e2e.metric_value(m, "bpfdiag_fs_write_bytes_total", container_id=cid,
                                        volume_class="pvc") or 0,
                       e2e.metric_value(m, "bpfdiag_fs_sync_calls_total", container_id=cid,
                                        volume_class="pvc") or 0)
                print("%s: pvc %r for fio's %d bytes, %d fsyncs" % (mode, got, wrote, synced))
                if probe:
                    self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_info",
                                                      family="uring", probe=probe), 1)
                    self.assertIn("uring=%s" % probe, agent.logs())
                    self.assertEqual(got, (wrote, synced))
                else:
                    # Nothing else counts io_uring I/O: the family is what sees it.
                    self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_up",
                                                      family="uring"), 0)
                    self.assertIn("uring=off", agent.logs())
                    self.assertEqual(got, (0, 0))

    def test_wk05_for_a_deployment_syncing_its_pvc_through_io_uring(self):
        rate = 20 * 128 * KiB  # 2.5 MiB/s in 128 KiB writes, each followed by an fsync

        def fio_and_listen(pod, port, path):
            """fio at `rate` with an fsync after every write, into a file preallocated from
            outside (on the PVC's host mount, or in the overlay's upper directory)."""
            if path.startswith("/data/"):
                host = os.path.join(pod.mounts.pvc_mount, path[len("/data/"):])
            else:
                host = os.path.join(pod.mounts.work, "upper", path.lstrip("/"))
            os.makedirs(os.path.dirname(host), exist_ok=True)
            subprocess.run(["fallocate", "-l", str(16 * MiB), host], check=True)
            args = [a for a in fio_job(pod.name, pod.mounts.path(path), 16 * MiB, bs="128k",
                                       iodepth=1, fsync=1) if a != "--output-format=json"]
            args += ["--rate=%d" % rate, "--time_based", "--runtime=300"]
            # One process tree per pod: a second one would mount the overlay again.
            listen = [sys.executable, WORKLOAD, json.dumps({"listen": [pod.ip, port]})]
            pod.start(["sh", "-c", " ".join(shlex.quote(a) for a in listen) + ' & exec "$@"',
                       "sh"] + args)

        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            pods = {}
            for name, path in (("orders-db", "/data/wal.log"), ("cache", "/var/tmp/wal.log")):
                c.pvc("shop", name + "-data")
                wl = c.workload("Deployment", name, "shop", helm="shop", strategy="Recreate")
                pod = c.pod(wl, volumes=[{"name": "data", "persistentVolumeClaim": {
                    "claimName": name + "-data"}}], pv="pvc-" + name, security={})
                pods[name] = (pod, free_port(pod.ip))
                fio_and_listen(pod, pods[name][1], path)
            agent = rules_agent(stack, api, {"RS-06": {"enabled": False}}, WINDOW)
            c.launch_when_known(agent)

            def wk05(name):
                for f in findings(agent):
                    if (f["namespace"], f["workload"], f["rule"]) == ("shop", name, "WK-05"):
                        return f
                return None
            f = wait_until(lambda: wk05("orders-db"), 60, "WK-05 for shop/orders-db", agent)
            ev = f["evidence"]
            print("WK-05 evidence:", ev)
            self.assertEqual(ev["listening_port"], pods["orders-db"][1])
            self.assertLess(abs(ev["pvc_write_bytes_per_second"] - rate) / rate, 0.35)
            self.assertLess(abs(ev["pvc_fsync_per_second"] - 20) / 20, 0.35)
            agent.wait_collections(int(2 * WINDOW / 0.25))  # two windows more for the look-alike
            m = agent.metrics()
            cache = pods["cache"][0].container_id
            rootfs = e2e.metric_value(m, "bpfdiag_fs_write_bytes_total", container_id=cache,
                                      volume_class="rootfs") or 0
            print("look-alike: rootfs %d bytes, findings %s" % (
                rootfs, fired(agent).get(("shop", "Deployment", "cache"))))
            self.assertGreater(rootfs, 4 * MiB)
            self.assertFalse(e2e.metric_value(m, "bpfdiag_fs_write_bytes_total",
                                              container_id=cache, volume_class="pvc"))
            self.assertNotIn("WK-05", fired(agent).get(("shop", "Deployment", "cache"), set()))


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
