"""Volumes for fake pods, laid out the way kubelet lays them out: an emptyDir directory and a
PVC (an ext4 filesystem on a loop device, mounted on the host under the kubelet CSI path, or —
a local PV — mounted by the node elsewhere first and bound by kubelet under its local-volume
path), plus an overlay rootfs mounted inside the pod's own mount namespace."""
import contextlib
import os
import shutil
import subprocess
import tempfile

KUBELET = "/var/lib/kubelet"


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


class PodVolumes:
    def __init__(self, pod, pvc_mib=160, local_pv=False):
        """local_pv: a `local:` PersistentVolume — the device is mounted on the host at
        <work>/pv (before kubelet's mount, so it comes first in the host's mountinfo) and
        kubelet binds that to …/volumes/kubernetes.io~local-volume/<pv>."""
        self.pod = pod
        self.pvc_name = "pvc-" + pod.uid[:8]
        self.pod_dir = os.path.join(KUBELET, "pods", pod.uid)
        self.emptydir = os.path.join(self.pod_dir, "volumes/kubernetes.io~empty-dir/cache")
        if local_pv:
            self.pvc_mount = os.path.join(self.pod_dir, "volumes/kubernetes.io~local-volume",
                                          self.pvc_name)
        else:
            self.pvc_mount = os.path.join(self.pod_dir, "volumes/kubernetes.io~csi",
                                          self.pvc_name, "mount")
        self.local_pv = local_pv
        self.host_mount = None
        self.pvc_mib = pvc_mib
        self.work = None
        self.loop = None
        self.mounted = []
        self.made_kubelet = False

    def __enter__(self):
        self.made_kubelet = not os.path.exists(KUBELET)
        os.makedirs(self.emptydir)
        os.makedirs(self.pvc_mount)
        self.work = tempfile.mkdtemp(prefix="bpfdiag-e2e-", dir="/var/tmp")
        img = os.path.join(self.work, "pvc.img")
        with open(img, "wb") as f:
            f.truncate(self.pvc_mib << 20)
        # No lazy init: its background zeroing would be block I/O nobody in the pod did.
        sh("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img)
        self.loop = subprocess.run(["losetup", "-f", "--show", img], check=True,
                                   capture_output=True, text=True).stdout.strip()
        if self.local_pv:
            self.host_mount = os.path.join(self.work, "pv")
            os.makedirs(self.host_mount)
            sh("mount", self.loop, self.host_mount)
            self.mounted.append(self.host_mount)
            sh("mount", "--bind", self.host_mount, self.pvc_mount)
        else:
            sh("mount", self.loop, self.pvc_mount)
        self.mounted.append(self.pvc_mount)
        for d in ("lower", "upper", "work", "merged"):
            os.makedirs(os.path.join(self.work, d))
        return self

    @property
    def loop_name(self):
        return os.path.basename(self.loop)

    def shell_setup(self):
        """Shell commands that build the container's mount namespace view."""
        w = self.work
        m = os.path.join(w, "merged")
        return ("mount -t overlay overlay -o lowerdir={w}/lower,upperdir={w}/upper,"
                "workdir={w}/work {m} && mkdir -p {m}/cache {m}/data && "
                "mount --bind {e} {m}/cache && mount --bind {p} {m}/data").format(
                    w=w, m=m, e=self.emptydir, p=self.pvc_mount)

    @property
    def rootfs(self):
        return os.path.join(self.work, "merged")

    def __exit__(self, *exc):
        for m in reversed(self.mounted):
            with contextlib.suppress(subprocess.CalledProcessError):
                sh("umount", "-l", m)
        if self.loop:
            with contextlib.suppress(subprocess.CalledProcessError):
                sh("losetup", "-d", self.loop)
        shutil.rmtree(self.pod_dir, ignore_errors=True)
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
        if self.made_kubelet:
            shutil.rmtree(KUBELET, ignore_errors=True)
        return False
