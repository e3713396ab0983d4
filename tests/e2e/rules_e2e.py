"""Helpers for the rules e2e tests: a small cluster of fake pods on one node, each pod a
kubelet-shaped cgroup (FakePod) with its own mount namespace (an overlay rootfs, optionally an
emptyDir bind and a loop-device ext4 PVC mounted on the host under the kubelet CSI path), its
Pod object and top-level workload served by the fake API server, and a real workload running
inside (rules_workload.py, CPU burners). Also: every finding the agent ever started
(from its log), and rates computed from a workload's own counters.

Everything is torn down through one ExitStack, in reverse order of creation, even when a test
fails half-way: processes are killed first, then PVCs unmounted and loop devices detached,
then cgroups removed."""
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import bpfdiag_e2e as e2e
import fake_kube_api as fk

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "rules_workload.py")
KUBELET = "/var/lib/kubelet"
KiB = 1024
MiB = 1024 * 1024

# Where a workload kind's object lives in the API.
API_PATHS = {"Deployment": "/apis/apps/v1/namespaces/%s/deployments/%s",
             "StatefulSet": "/apis/apps/v1/namespaces/%s/statefulsets/%s",
             "DaemonSet": "/apis/apps/v1/namespaces/%s/daemonsets/%s",
             "Job": "/apis/batch/v1/namespaces/%s/jobs/%s"}


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def free_port(ip):
    import socket
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PodMounts:
    """A container's mount namespace view, built by kubelet's rules: an overlay rootfs (in the
    pod's own namespace), an emptyDir directory under the kubelet pod dir bind-mounted at
    /<emptydir>, and a PVC (ext4 on a loop device, mounted on the host at
    …/volumes/kubernetes.io~csi/<pv>/mount) bind-mounted at /data. Paths the workload writes
    are under .rootfs."""

    def __init__(self, pod, emptydir=None, pv=None, pvc_mib=32):
        self.pod = pod
        self.emptydir_name = emptydir
        self.pv = pv
        self.pvc_mib = pvc_mib
        self.pod_dir = os.path.join(KUBELET, "pods", pod.uid)
        self.emptydir = emptydir and os.path.join(
            self.pod_dir, "volumes/kubernetes.io~empty-dir", emptydir)
        self.pvc_mount = pv and os.path.join(self.pod_dir, "volumes/kubernetes.io~csi", pv,
                                             "mount")
        self.work = None
        self.loop = None
        self.mounted = False

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix="bpfdiag-rules-", dir="/var/tmp")
        for d in ("lower", "upper", "work", "merged"):
            os.makedirs(os.path.join(self.work, d))
        if self.emptydir:
            os.makedirs(self.emptydir)
        if self.pv:
            os.makedirs(self.pvc_mount)
            img = os.path.join(self.work, "pvc.img")
            with open(img, "wb") as f:
                f.truncate(self.pvc_mib << 20)
            # No lazy init: its background zeroing would be I/O nobody in the pod did.
            sh("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img)
            self.loop = subprocess.run(["losetup", "-f", "--show", img], check=True,
                                       capture_output=True, text=True).stdout.strip()
            sh("mount", self.loop, self.pvc_mount)
            self.mounted = True
        return self

    @property
    def rootfs(self):
        return os.path.join(self.work, "merged")

    def path(self, p):
        """A path as the container sees it ('/data/db') → where it is from the test."""
        return os.path.join(self.rootfs, p.lstrip("/"))

    def shell_setup(self):
        w, m = self.work, self.rootfs
        cmds = ["mount -t overlay overlay -o lowerdir={w}/lower,upperdir={w}/upper,"
                "workdir={w}/work {m}".format(w=w, m=m)]
        if self.emptydir:
            cmds.append("mkdir -p {m}/{n} && mount --bind {e} {m}/{n}".format(
                m=m, n=self.emptydir_name, e=self.emptydir))
        if self.pv:
            cmds.append("mkdir -p {m}/data && mount --bind {p} {m}/data".format(
                m=m, p=self.pvc_mount))
        return " && ".join(cmds)

    def __exit__(self, *exc):
        if self.mounted:
            with contextlib.suppress(subprocess.CalledProcessError):
                sh("umount", "-l", self.pvc_mount)
        if self.loop:
            with contextlib.suppress(subprocess.CalledProcessError):
                sh("losetup", "-d", self.loop)
        shutil.rmtree(self.pod_dir, ignore_errors=True)
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
        return False


class Proc:
    """A process in a pod, started by launch() (the cluster starts them all at once, after
    the agent); when it speaks rules_workload.py's protocol, its counters."""

    def __init__(self, spawn, reports):
        self.spawn = spawn
        self.reports = reports
        self.p = None
        self.history = []  # (t, counters)
        self.lock = threading.Lock()

    def launch(self):
        self.p = self.spawn()
        if self.reports:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with contextlib.suppress(ValueError):
                d = json.loads(line)
                with self.lock:
                    self.history.append((d["t"], d))

    def last(self):
        with self.lock:
            return self.history[-1][1] if self.history else None

    def rate(self, fn, seconds):
        """Rate of fn(counters) over the last `seconds` of reports (None when too few)."""
        with self.lock:
            h = list(self.history)
        if len(h) < 2:
            return None
        t1, d1 = h[-1]
        t0, d0 = h[0]
        for t, d in h:
            if t <= t1 - seconds:
                t0, d0 = t, d
        return (fn(d1) - fn(d0)) / (t1 - t0) if t1 > t0 else None

    def kill(self):
        if not self.p:
            return
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        if self.p.stdout:
            self.p.stdout.close()


class Pod:
    """One fake pod: its cgroup, mounts, Pod object and processes."""

    def __init__(self, cluster, wl, name, ip, fakepod, mounts, obj):
        self.cluster = cluster
        self.wl = wl
        self.name = name
        self.ip = ip
        self.fp = fakepod
        self.mounts = mounts
        self.obj = obj
        self.procs = []

    @property
    def uid(self):
        return self.fp.uid

    @property
    def container_id(self):
        return self.fp.container_id

    def start(self, argv, reports=False, runner=None):
        """A process running argv inside the container (its cgroup and mount namespace),
        started with the others by Cluster.launch(). runner: how to start it (default
        FakePod.run; e.g. a CPU Limit's run), given argv only."""
        if self.mounts:
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    self.mounts.shell_setup() + " && exec " + " ".join(
                        shlex.quote(a) for a in argv)]
        if runner:
            proc = Proc(lambda: runner(argv), False)
        else:
            proc = Proc(lambda: self.fp.run(
                argv, stdout=subprocess.PIPE if reports else subprocess.DEVNULL, text=True,
                env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")), reports)
        self.procs.append(proc)
        self.cluster.procs.append(proc)
        self.cluster.stack.callback(proc.kill)
        return proc

    def workload(self, **cfg):
        """Starts rules_workload.py with cfg; paths in cfg.write are container paths."""
        for w in cfg.get("write", []):
            w["path"] = self.mounts.path(w["path"])
        return self.start([sys.executable, WORKLOAD, json.dumps(cfg)], reports=True)


class Workload:
    def __init__(self, kind, name, ns, helm, obj):
        self.kind, self.name, self.ns, self.helm = kind, name, ns, helm
        self.obj = obj
        self.pods = []
        self.hash = secrets.token_hex(5)[:9]

    @property
    def key(self):
        return (self.ns, self.kind, self.name)


class Cluster:
    """Workloads and pods of the test node, served by a fake API server."""

    def __init__(self, api, stack):
        self.api = api
        self.stack = stack
        self.workloads = []
        self.procs = []
        self.hpas = {}  # ns -> [(name, kind, target, min, max)]
        self.next_ip = 10
        if not os.path.exists(KUBELET):
            os.makedirs(os.path.join(KUBELET, "pods"))
            stack.callback(self._rmdirs, [os.path.join(KUBELET, "pods"), KUBELET])

    @staticmethod
    def _rmdirs(dirs):
        """Removes what we created if it is empty (a test elsewhere may be using it too)."""
        for d in dirs:
            with contextlib.suppress(OSError):
                os.rmdir(d)

    def launch(self):
        """Starts every workload process (after the agent in test_rules_workloads, before it in
        test_rules_listen_before). As kubelet would, the pods' statuses say their containers run from now on (until
        then they were waiting: the agent judges a running container even when it is idle,
        and these were idle only because the test had not started them)."""
        started = fk.now3339()

        def running(cid):
            def fn(pod):
                st = pod["status"]["containerStatuses"][0]
                st.update(containerID="containerd://" + cid, ready=True, started=True,
                          state={"running": {"startedAt": started}})
            return fn
        for wl in self.workloads:
            for pod in wl.pods:
                self.api.modify_pod(pod.uid, running(pod.container_id))
        for p in self.procs:
            p.launch()

    def launch_when_known(self, agent):
        """launch(), once the agent has fetched every workload, claim and HPA list and
        collected twice since: static rules (WK-03) judge them at once."""
        paths = self.api_paths()
        wait_until(lambda: all(self.api.count("get", p) for p in paths), 30,
                   lambda: "GETs of %s" % [p for p in paths if not self.api.count("get", p)],
                   agent)
        agent.wait_collections(2)
        self.launch()

    def api_paths(self):
        """The API paths the agent must have fetched before it judges the pods right."""
        return sorted(p for p in self.api.objects)

    def ip(self):
        """A loopback address of its own for each pod (all of 127/8 is loopback)."""
        self.next_ip += 1
        return "127.77.0.%d" % self.next_ip

    def workload(self, kind, name, ns, replicas=1, helm=None, annotations=None, hpa_max=None,
                 strategy="RollingUpdate"):
        labels, ann = fk.helm_meta(helm, ns, "%s-1.0.0" % name) if helm else ({}, {})
        ann = dict(ann, **(annotations or {}))
        if kind == "Deployment":
            obj = fk.deployment(name, ns, replicas=replicas, labels=labels, annotations=ann,
                                strategy=strategy)
        elif kind == "StatefulSet":
            obj = fk.statefulset(name, ns, replicas=replicas, service=name + "-headless",
                                 claims=["data"], labels=labels, annotations=ann)
        elif kind == "DaemonSet":
            obj = fk.daemonset(name, ns, labels=labels, annotations=ann)
        elif kind == "Job":
            obj = fk.job(name, ns)
            obj["metadata"]["annotations"].update(ann)
        else:
            obj = None  # a bare pod: no object above it
        if obj:
            self.api.put_object(API_PATHS[kind] % (ns, name), obj)
        if hpa_max:
            self.hpas.setdefault(ns, []).append((name, kind, name, 1, hpa_max))
            self.api.put_object(
                "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers" % ns,
                fk.hpa_list(ns, self.hpas[ns]))
        wl = Workload(kind, name, ns, helm or "", obj)
        self.workloads.append(wl)
        return wl

    def pvc(self, ns, name, modes=("ReadWriteOnce",), pv=None):
        """pv: the PV the claim is bound to (spec.volumeName); else a random name."""
        self.api.put_object("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (ns, name),
                            fk.pvc(name, ns, modes=modes, volume_name=pv))

    def pod(self, wl, resources="default", readiness=True, security=None, host=None,
            volumes=(), emptydir=None, pv=None, annotations=None, init=False, cpu_limit=None,
            emptydir_spec=None):
        """A pod of wl on this node. resources: "default" (requests and limits), None (no
        resources at all) or a resources dict; readiness: keep the readinessProbe; security:
        the container's securityContext (default readOnlyRootFilesystem: true); host: pod
        spec fields such as {"hostNetwork": True}; volumes: extra pod volumes; emptydir / pv:
        mount an emptyDir of that name / a PVC on a loop device with that PV name;
        emptydir_spec: the emptyDir's fields ({"sizeLimit": "64Mi"}, {"medium": "Memory"}: the
        volume itself is a kubelet directory on disk either way); init: give
        the pod an init container without resources that runs a short burst first."""
        i = len(wl.pods)
        if wl.kind == "Deployment":
            name = "%s-%s-%s" % (wl.name, wl.hash, secrets.token_hex(3)[:5])
            owner = fk.owner_ref("ReplicaSet", "%s-%s" % (wl.name, wl.hash), "apps/v1")
            labels = {"app": wl.name, "pod-template-hash": wl.hash}
        elif wl.kind == "StatefulSet":
            name = "%s-%d" % (wl.name, i)
            owner = fk.owner_ref("StatefulSet", wl.name, "apps/v1")
            labels = {"app": wl.name}
        elif wl.kind in ("DaemonSet", "Job"):
            name = "%s-%s" % (wl.name, secrets.token_hex(3)[:5])
            owner = fk.owner_ref(wl.kind, wl.name,
                                 "apps/v1" if wl.kind == "DaemonSet" else "batch/v1")
            labels = {"app": wl.name}
        else:
            name, owner, labels = wl.name, None, {"app": wl.name}
        fp = self.stack.enter_context(e2e.FakePod())
        init_c = None
        if init:
            import kube_e2e as ke
            init_c = self.stack.enter_context(ke.ExtraContainer(fp))
        mounts = self.stack.enter_context(PodMounts(fp, emptydir=emptydir, pv=pv))
        ip = self.ip()
        obj = fk.pod(name, wl.ns, fp.uid, [("app", fp.container_id)], owner=owner,
                     labels=labels, annotations=annotations, volumes=volumes, ip=ip,
                     init_containers=[("migrate", init_c.container_id)] if init_c else ())
        c = obj["spec"]["containers"][0]
        if resources is None:
            c["resources"] = {}
        elif resources != "default":
            c["resources"] = resources
        if not readiness:
            del c["readinessProbe"]
        c["securityContext"] = security if security is not None else {
            "readOnlyRootFilesystem": True}
        if init_c:
            obj["spec"]["initContainers"][0]["resources"] = {}
            obj["spec"]["initContainers"][0]["securityContext"] = {}
        obj["spec"].update(host or {})
        if emptydir:
            obj["spec"]["volumes"].append({"name": emptydir, "emptyDir": emptydir_spec or {}})
            c["volumeMounts"].append({"name": emptydir, "mountPath": "/" + emptydir})
        # Created, not started: launch() says it runs.
        st = obj["status"]["containerStatuses"][0]
        del st["containerID"]
        st.update(ready=False, started=False,
                  state={"waiting": {"reason": "ContainerCreating"}})
        self.api.add_pod(obj)
        pod = Pod(self, wl, name, ip, fp, mounts, obj)
        pod.init = init_c
        wl.pods.append(pod)
        return pod


def rules_agent(stack, api, rules_config, window):
    """A KubeAgent on api judging with the given --rules-config and --window (warm-up 0,
    collections every 0.25 s), closed with stack."""
    import kube_e2e as ke

    cfg = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bpfdiag-rules-",
                                      delete=False)
    stack.callback(os.unlink, cfg.name)
    json.dump(rules_config, cfg)
    cfg.close()
    # --kube-qps 500: the workload GETs answer at once (about 50 to wait for).
    return stack.enter_context(ke.KubeAgent(
        api, "--interval", "0.25", "--window", str(window), "--warmup", "0",
        "--rules-config", cfg.name, "--kube-qps", "500"))


def findings(agent):
    status, body = agent.get("/api/v1/findings")
    assert status == 200, (status, body)
    return json.loads(body)["findings"]


_STARTED = re.compile(r"finding ([A-Z]{2}-\d\d) (\S+) (\S+) ([^/\s]+)/(\S+?)(?: release (\S+))?: ")


def fired(agent):
    """Every finding the agent ever started, from its log (one line per start, so nothing is
    missed between polls): {(namespace, kind, workload): {rule, ...}}."""
    out = {}
    for line in agent.logs().splitlines():
        m = _STARTED.search(line)
        if m:
            rule, sev, kind, ns, name = m.group(1, 2, 3, 4, 5)
            out.setdefault(("" if ns == "-" else ns, kind, name), set()).add(rule)
    return out


def wait_until(pred, timeout, what, agent=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.2)
    log = ("\n--- agent log (tail) ---\n" + agent.logs()[-6000:]) if agent else ""
    raise AssertionError("timed out after %ss waiting for %s (last: %r)%s" % (
        timeout, what() if callable(what) else what, last, log))
