"""Real workloads on the real cluster, judged by the agent installed with helm.

PostgreSQL, Redis, RabbitMQ, Mosquitto and nginx (Debian's packages, in an image built here)
run under real load (pgbench, redis-benchmark, a pika publisher with confirms, mosquitto_pub,
HTTP requests), each once as the controller kind that fits it and once as one that does not,
plus a node-local log collector reading a hostPath (as a Deployment and as a DaemonSet), an idle
StatefulSet whose only process sleeps, a CronJob, two Deployments mounting a ReadWriteOnce claim
(strategy RollingUpdate: WK-03; its look-alike with Recreate: nothing), and fio's io_uring engine
writing and fsyncing a PVC in rounds. Each is a `helm install` of the small
test chart tests/cluster/charts/testapp, so the release annotations are Helm's own. They all
start before the agent, as on a node where the agent is installed last.

Asserted: each misfit gets its finding with the suggested kind, no WK finding lands on a fit,
every series of every test pod carries its workload kind, workload and Helm release, a PVC is
classified as `pvc` with its claim's name (not as the host path where its device is also
mounted), writes to /proc are no volume, the idle pod has container series from the start, and
a round of io_uring writes and fsyncs into a PVC is counted as fio counts it (within 1 %; the
fsyncs exactly).
"""
import json
import sys
import time
import unittest

import clusterlib as cl
from clusterlib import kubectl, kjson
from scenarios import (FIO_URING, LOG_COLLECTOR, MOSQUITTO, MOSQUITTO_LOAD, NGINX, NGINX_LOAD,
                       PGBENCH, POSTGRES, RABBITMQ, RABBITMQ_LOAD, REDIS_AOF, REDIS_CACHE,
                       REDIS_LOAD)

NS = "bpfdiag-apps"

# release: (values, expected WK finding and its suggested kind, or None for a fit)
WORKLOADS = {
    "pg-sts": ({"kind": "StatefulSet", "main": POSTGRES, "load": PGBENCH, "port": 5432,
                "data": {"type": "claimTemplate"}}, None),
    "pg-deploy": ({"kind": "Deployment", "main": POSTGRES, "load": PGBENCH, "port": 5432,
                   "data": {"type": "pvc"}}, ("WK-05", "StatefulSet")),
    "redis-cache": ({"kind": "Deployment", "main": REDIS_CACHE, "load": REDIS_LOAD,
                     "port": 6379}, None),
    "redis-aof": ({"kind": "Deployment", "main": REDIS_AOF, "load": REDIS_LOAD, "port": 6379,
                   "data": {"type": "emptyDir"}}, ("WK-02", "StatefulSet")),
    "nginx-deploy": ({"kind": "Deployment", "main": NGINX, "load": NGINX_LOAD, "port": 80},
                     None),
    "nginx-sts": ({"kind": "StatefulSet", "main": NGINX, "load": NGINX_LOAD, "port": 80},
                  ("WK-07", "Deployment")),
    "idle-sts": ({"kind": "StatefulSet", "main": "exec sleep infinity"},
                 ("WK-07", "Deployment")),
    "rabbit-sts": ({"kind": "StatefulSet", "main": RABBITMQ, "load": RABBITMQ_LOAD,
                    "port": 5672, "data": {"type": "claimTemplate"}}, None),
    "rabbit-deploy": ({"kind": "Deployment", "main": RABBITMQ, "load": RABBITMQ_LOAD,
                       "port": 5672, "data": {"type": "pvc"}}, ("WK-05", "StatefulSet")),
    "mqtt-deploy": ({"kind": "Deployment", "main": MOSQUITTO, "load": MOSQUITTO_LOAD,
                     "port": 1883}, None),
    "mqtt-sts": ({"kind": "StatefulSet", "main": MOSQUITTO, "load": MOSQUITTO_LOAD,
                  "port": 1883}, ("WK-07", "Deployment")),
    "logs-deploy": ({"kind": "Deployment", "main": LOG_COLLECTOR,
                     "data": {"type": "hostPath", "hostPath": "/var/log"}},
                    ("WK-10", "DaemonSet")),
    "logs-ds": ({"kind": "DaemonSet", "main": LOG_COLLECTOR,
                 "data": {"type": "hostPath", "hostPath": "/var/log"}}, None),
    "tick-cron": ({"kind": "CronJob", "main": "echo tick; sleep 45"}, None),
    # A ReadWriteOnce claim on a Deployment: RollingUpdate deadlocks a rollout on Multi-Attach
    # (WK-03, even at one replica); Recreate does not.
    "rwo-rolling": ({"kind": "Deployment", "main": "exec sleep infinity",
                     "strategy": "RollingUpdate", "data": {"type": "pvc", "size": "64Mi"}},
                    ("WK-03", "StatefulSet")),
    "rwo-recreate": ({"kind": "Deployment", "main": "exec sleep infinity",
                      "strategy": "Recreate", "data": {"type": "pvc", "size": "64Mi"}}, None),
    # io_uring into a PVC; it serves nothing, so no WK-05, and Recreate, so no WK-03.
    "fio-uring": ({"kind": "Deployment", "main": FIO_URING, "strategy": "Recreate",
                   "data": {"type": "pvc", "size": "64Mi"}}, None),
}
KINDS = {"StatefulSet": "StatefulSet", "Deployment": "Deployment", "DaemonSet": "DaemonSet",
         "CronJob": "CronJob"}
PSEUDO_MOUNTS = ("/proc", "/sys", "/dev/pts", "/dev/mqueue", "/dev/shm/..", "/sys/fs/cgroup")


class Workloads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cl.precondition()
        with open(cl.WORKLOAD_IMAGE_FILE) as f:
            image = f.read().strip()
        cl.ensure_namespace(NS)
        t = time.monotonic()
        cls.installed = []
        try:
            for release, (values, _) in WORKLOADS.items():
                values = dict(values, image=image)
                cl.in_ns("helm", "install", release, cl.TESTAPP, "--namespace", NS,
                         "-f", "-", input=json.dumps(values), timeout=120)
                cls.installed.append(release)
            cls.wait_running()
            cl.log("%d workloads running in %.0f s" % (len(WORKLOADS), time.monotonic() - t))
            # The agent comes last, as on a node where it is installed into a running cluster:
            # every pod above predates it. Short windows so that the rules can judge in a test.
            cls.agent = cl.Agent(sets=["agent.window=60", "agent.warmup=10", "agent.interval=2"])
            cls.agent.install()
            cls.pod = cls.agent.ready_pod()
            cls.agent_started = time.monotonic()
            cl.log("agent Ready")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "agent", None):
            cls.agent.uninstall()
        for release in getattr(cls, "installed", []):
            cl.helm("uninstall", release, "--namespace", NS, "--wait", "--timeout", "60s",
                    check=False)
        cl.delete_namespace(NS)

    @classmethod
    def wait_running(cls):
        def all_ready():
            pods = kjson("get", "pods", "-n", NS)["items"]
            long_running = [p for p in pods if not p["metadata"]["name"].startswith("tick-cron")]
            ready = [p for p in long_running
                     if all(c.get("ready") for c in p["status"].get("containerStatuses", [{}]))]
            # one pod per release, the CronJob's aside
            return len(ready) >= len(WORKLOADS) - 1 and len(ready) == len(long_running)
        try:
            cl.wait("the workloads Ready", all_ready, 300, 3)
        except AssertionError:
            out = kubectl("get", "pods", "-n", NS, "-o", "wide", check=False).stdout
            ev = kubectl("get", "events", "-n", NS, "--sort-by=.lastTimestamp", check=False).stdout
            raise AssertionError("workloads not Ready:\n%s\n%s" % (out, ev[-4000:]))

    def pods_of(self, release):
        return [p for p in kjson("get", "pods", "-n", NS)["items"]
                if p["metadata"]["labels"].get("app.kubernetes.io/instance") == release]

    def findings(self):
        doc = json.loads(self.agent.get(self.pod, "/api/v1/findings"))
        return [f for f in doc["findings"] if f["namespace"] == NS]

    def test_1_findings_on_misfits_and_none_on_fits(self):
        expected = {(r, exp[0], exp[1]) for r, (_, exp) in WORKLOADS.items() if exp}

        def seen():
            got = {(f["workload"], f["rule"], f["suggested_kind"]) for f in self.findings()}
            return expected <= got and got
        try:
            cl.wait("the expected findings", seen, 300, 5)
        except AssertionError:
            got = {(f["workload"], f["rule"], f["suggested_kind"]) for f in self.findings()}
            raise AssertionError("missing: %s\ngot: %s\n%s" % (
                sorted(expected - got), sorted(got), self.evidence()))
        cl.log("findings after %.0f s" % (time.monotonic() - self.agent_started))
        findings = self.findings()
        for f in findings:
            if f["rule"].startswith("WK-"):
                exp = WORKLOADS[f["workload"]][1]
                self.assertIsNotNone(exp, "WK finding on a fit: %s" % f)
            # Every server has a readiness probe on its port; the load sidecars have none and
            # serve nothing.
            self.assertNotEqual(f["rule"], "RL-01", f)
            kind = WORKLOADS[f["workload"]][0]["kind"]
            self.assertEqual(f["workload_kind"], kind, f)
            self.assertEqual(f["helm_release"], f["workload"], f)
        for f in findings:
            if f["rule"] in ("WK-05", "WK-02"):
                cl.log("%s %s evidence %s" % (f["workload"], f["rule"], f["evidence"]))
            if f["rule"] == "WK-05":
                # The server's own port, not another it also listens on (RabbitMQ's epmd).
                self.assertEqual(f["evidence"]["listening_port"],
                                 WORKLOADS[f["workload"]][0]["port"], f)

    def evidence(self):
        text = self.agent.get(self.pod, "/metrics")
        lines = [l for l in text.splitlines() if 'namespace="%s"' % NS in l and
                 (l.startswith("bpfdiag_fs_") or l.startswith("bpfdiag_tcp_listening"))]
        return "\n".join(lines[:80])

    def samples(self):
        return [s for s in cl.parse_prom(self.agent.get(self.pod, "/metrics"))
                if s[1].get("namespace") == NS]

    def test_2_every_series_names_its_workload_and_release(self):
        # The CronJob's pod: wait for one to have run while the agent watched.
        cl.wait("a tick-cron pod in the agent's series", lambda: any(
            l.get("workload_kind") == "CronJob" and n == "bpfdiag_cpu_seconds_total"
            for n, l, _ in self.samples()), 150, 5)
        samples = self.samples()
        releases_seen = set()
        for name, labels, _ in samples:
            if name in ("bpfdiag_finding",) or not labels.get("pod"):
                continue
            release = labels.get("helm_release")
            self.assertIn(release, WORKLOADS, (name, labels))
            self.assertEqual(labels.get("workload"), release, (name, labels))
            self.assertEqual(labels.get("workload_kind"), KINDS[WORKLOADS[release][0]["kind"]],
                             (name, labels))
            self.assertTrue(labels["pod"].startswith(release + "-"), (name, labels))
            releases_seen.add(release)
        self.assertEqual(releases_seen, set(WORKLOADS))

    def test_3_pvc_by_claim_not_by_host_mount(self):
        pod = self.pods_of("pg-deploy")[0]["metadata"]["name"]

        def writes():
            return [(l, v) for n, l, v in self.samples()
                    if n == "bpfdiag_fs_sync_calls_total" and l.get("pod") == pod and v > 0]
        got = cl.wait("pg-deploy's fsyncs", writes, 60, 2)
        classes = {(l["volume_class"], l.get("volume"), l.get("persistentvolumeclaim"))
                   for l, _ in got}
        self.assertIn(("pvc", "data", "pg-deploy-data"), classes, self.evidence())
        self.assertFalse([c for c in classes if c[0] == "hostpath"], classes)
        sts = [l for n, l, v in self.samples() if n == "bpfdiag_fs_write_bytes_total"
               and l.get("pod") == "pg-sts-0" and l.get("volume_class") == "pvc" and v > 0]
        self.assertTrue(sts, self.evidence())
        self.assertEqual({l.get("persistentvolumeclaim") for l in sts}, {"data-pg-sts-0"})

    def test_4_pseudo_filesystems_are_no_volumes(self):
        # nginx's load writes /proc/self/oom_score_adj and /proc/self/comm every 0.2 s.
        bad = [(n, l) for n, l, _ in self.samples() if n.startswith("bpfdiag_fs_") and
               (l.get("volume", "").startswith(("/proc", "/sys", "/dev")))]
        self.assertEqual(bad, [])
        nginx = [l for n, l, v in self.samples() if n == "bpfdiag_cpu_seconds_total"
                 and l.get("helm_release") == "nginx-deploy" and l.get("container") == "load"]
        self.assertTrue(nginx, "nginx-deploy's load container is not measured")

    def test_5_idle_pod_has_container_series(self):
        series = [(n, l, v) for n, l, v in self.samples()
                  if l.get("pod") == "idle-sts-0" and l.get("container") == "main"]
        names = {n for n, _, _ in series}
        self.assertIn("bpfdiag_cpu_seconds_total", names, sorted(names))
        pods = json.loads(self.agent.get(self.pod, "/api/v1/pods"))["pods"]
        idle = [p for p in pods if p.get("pod") == "idle-sts-0"]
        self.assertEqual(len(idle), 1)
        self.assertEqual([c["name"] for c in idle[0]["containers"]], ["main"])
        self.assertGreater(idle[0]["containers"][0]["cgroup_id"], 0)

    def test_6_io_uring_into_a_pvc_is_counted(self):
        pod = self.pods_of("fio-uring")[0]["metadata"]["name"]

        def rounds():
            out = kubectl("logs", "-n", NS, pod, "-c", "main", check=False).stdout
            return [tuple(int(x) for x in l.split()[1:]) for l in out.splitlines()
                    if l.startswith("round ")]

        def pvc():
            got = [0, 0]
            for n, l, v in self.samples():
                if l.get("pod") == pod and l.get("volume_class") == "pvc":
                    if n == "bpfdiag_fs_write_bytes_total":
                        got[0] += v
                    elif n == "bpfdiag_fs_sync_calls_total":
                        got[1] += v
            return got

        def between_rounds():
            """The agent's counts once a round has ended and been collected (interval 2 s;
            rounds are 10 s apart), with the rounds fio had logged then. The round's line
            came after the last look that did not see it (t), so the next round starts after
            t + 10 s: counts read before then hold no part of it. On a loaded node (slow
            kubectl, late collections) a read may come later: then the next round is used."""
            n = len(cl.wait("a fio round", rounds, 60, 1))
            for _ in range(4):
                deadline = time.monotonic() + 30
                while True:
                    t = time.monotonic()
                    if len(rounds()) > n:
                        break
                    if t > deadline:
                        raise AssertionError("no fio round in 30 s\n" + self.evidence())
                    time.sleep(0.5)
                time.sleep(5)  # two collections (interval 2 s) and their publication
                got, done = pvc(), rounds()
                if time.monotonic() < t + 10 and len(done) == n + 1:
                    return got, done
                cl.log("fio: read %.1f s after the round, maybe into the next: again" % (
                    time.monotonic() - t))
                n = len(done)
            raise AssertionError("never read the agent between two fio rounds\n" +
                                 self.evidence())
        (b0, s0), done0 = between_rounds()
        (b1, s1), done1 = between_rounds()
        new = done1[len(done0):]
        wrote, synced = sum(r[1] for r in new), sum(r[2] for r in new)
        cl.log("io_uring: pvc %d bytes, %d fsyncs for fio's %d bytes, %d fsyncs in %d rounds" % (
            b1 - b0, s1 - s0, wrote, synced, len(new)))
        self.assertTrue(new)
        self.assertLess(abs((b1 - b0) - wrote) / wrote, 0.01, self.evidence())
        self.assertEqual(s1 - s0, synced, self.evidence())
        labels = [l for n, l, v in self.samples() if n == "bpfdiag_fs_write_bytes_total"
                  and l.get("pod") == pod and l.get("volume_class") == "pvc"]
        self.assertEqual({l.get("persistentvolumeclaim") for l in labels}, {"fio-uring-data"})


if __name__ == "__main__":
    unittest.main(verbosity=2, failfast=False)
