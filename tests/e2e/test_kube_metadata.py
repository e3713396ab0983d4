"""Kubernetes metadata end to end: kubelet-shaped fake pods served by a fake API server that
speaks real Kubernetes JSON. Series get namespace/pod/container/workload_kind/workload/
helm_release from metadata (Deployment, StatefulSet, DaemonSet, CronJob via Job, bare pod,
operator-owned pod, ReplicaSet without a Deployment; Helm from workload annotations or the pod
label fallback), bpfdiag_pod_info lists the node's pods, pods added and deleted later are
reflected, the API going away and coming back keeps the labels, and a cgroup whose metadata
arrives late is re-keyed with its whole CPU history."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from kube_e2e import wait_for  # noqa: E402


def rs_owner(name):
    return fk.owner_ref("ReplicaSet", name, "apps/v1")


class Cluster:
    """The pods of the test node and the objects above them."""

    def __init__(self, api, fp):
        self.api = api
        self.fp = fp  # name -> FakePod
        self.expect = {}  # container id -> expected series labels
        self.pod_info = {}  # pod uid -> expected bpfdiag_pod_info labels

    def add(self, key, name, ns, kind, workload, helm, qos, containers=None, chart="", **kw):
        p = self.fp[key]
        containers = containers or [("app", p.container_id)]
        pod = fk.pod(name, ns, p.uid, containers, qos=qos, **kw)
        self.api.add_pod(pod)
        for cname, cid in containers + list(kw.get("init_containers", [])):
            self.expect[cid] = {"namespace": ns, "pod": name, "container": cname,
                                "workload_kind": kind, "workload": workload,
                                "helm_release": helm, "pod_uid": p.uid}
        self.pod_info[p.uid] = {"namespace": ns, "pod": name, "uid": p.uid, "node": ke.NODE,
                                "qos_class": qos, "workload_kind": kind, "workload": workload,
                                "helm_release": helm, "helm_chart": chart}
        return pod


def labelled(agent, cid, want):
    """The series of container id cid, when it carries exactly the wanted labels."""
    got = agent.series(container_id=cid)
    if len(got) != 1:
        return None
    labels = got[0][0]
    return got[0] if all(labels.get(k) == v for k, v in want.items()) else None


class KubeMetadata(unittest.TestCase):
    def build(self, api, fp, extra):
        c = Cluster(api, fp)
        # Deployment with Helm annotations; the pod's own instance label says otherwise and
        # must lose. An init container and the pause container have cgroups of their own.
        h_labels, h_ann = fk.helm_meta("shop", "prod", "web-1.2.3")
        api.put_object("/apis/apps/v1/namespaces/prod/deployments/web",
                       fk.deployment("web", "prod", labels=h_labels, annotations=h_ann))
        c.add("web", "web-5d4f8b7c9-x2x9z", "prod", "Deployment", "web", "shop", "Burstable",
              chart="web-1.2.3", owner=rs_owner("web-5d4f8b7c9"),
              init_containers=[("migrate", extra["init"].container_id)],
              labels={"app": "web", "pod-template-hash": "5d4f8b7c9",
                      "app.kubernetes.io/instance": "not-this-one",
                      "app.kubernetes.io/managed-by": "Helm"})
        c.expect[extra["pause"].container_id] = dict(c.expect[fp["web"].container_id],
                                                     container="POD")
        # StatefulSet without Helm, with a PVC
        api.put_object("/apis/apps/v1/namespaces/prod/statefulsets/db",
                       fk.statefulset("db", "prod", service="db-headless", claims=["data"]))
        api.put_object("/api/v1/namespaces/prod/persistentvolumeclaims/data-db-0",
                       fk.pvc("data-db-0", "prod"))
        c.add("db", "db-0", "prod", "StatefulSet", "db", "", "BestEffort",
              owner=fk.owner_ref("StatefulSet", "db", "apps/v1"), labels={"app": "db"},
              volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}])
        # DaemonSet; Helm only through the pod's labels
        api.put_object("/apis/apps/v1/namespaces/monitoring/daemonsets/node-agent",
                       fk.daemonset("node-agent", "monitoring"))
        c.add("ds", "node-agent-x7k2p", "monitoring", "DaemonSet", "node-agent", "monitoring",
              "Guaranteed", chart="node-agent-0.3.0",
              owner=fk.owner_ref("DaemonSet", "node-agent", "apps/v1"),
              labels={"app.kubernetes.io/instance": "monitoring",
                      "app.kubernetes.io/managed-by": "Helm",
                      "helm.sh/chart": "node-agent-0.3.0"})
        # CronJob via its Job, CRI-O runtime, Helm annotations on the CronJob
        h_labels, h_ann = fk.helm_meta("ops-jobs", "ops", "jobs-2.0.0")
        api.put_object("/apis/batch/v1/namespaces/ops/cronjobs/backup",
                       fk.cronjob("backup", "ops", labels=h_labels, annotations=h_ann))
        c.add("cron", "backup-28391234-q8z5n", "ops", "CronJob", "backup", "ops-jobs",
              "Burstable", chart="jobs-2.0.0", runtime="cri-o",
              owner=fk.owner_ref("Job", "backup-28391234", "batch/v1"))
        # a bare pod
        c.add("bare", "debug", "ops", "Pod", "debug", "", "BestEffort")
        # an operator-owned pod keeps the operator's kind; Helm through the pod labels
        c.add("op", "rmq-server-0", "queues", "RabbitmqCluster", "rmq", "rmq", "Burstable",
              owner=fk.owner_ref("RabbitmqCluster", "rmq", "rabbitmq.com/v1beta1"),
              labels={"app.kubernetes.io/instance": "rmq",
                      "app.kubernetes.io/managed-by": "Helm"})
        # a ReplicaSet whose derived Deployment does not exist (404): the ReplicaSet it is
        api.put_object("/apis/apps/v1/namespaces/prod/replicasets/legacy-7f9c",
                       {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": "legacy-7f9c", "namespace": "prod"},
                        "spec": {"replicas": 1}})
        c.add("legacy", "legacy-7f9c-abcde", "prod", "ReplicaSet", "legacy-7f9c", "",
              "Burstable", owner=rs_owner("legacy-7f9c"), labels={"pod-template-hash": "7f9c"})
        return c

    def check_exposition(self, text):
        """promtool's structural rules: HELP and TYPE once per family and before its samples;
        no duplicate series."""
        helps, types, seen = set(), set(), set()
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name = line.split()[2]
                self.assertNotIn(name, helps, "second HELP for " + name)
                helps.add(name)
            elif line.startswith("# TYPE "):
                name = line.split()[2]
                self.assertNotIn(name, types, "second TYPE for " + name)
                types.add(name)
            elif line:
                name = line.split("{")[0].split(" ")[0]
                base = name
                for sfx in ("_bucket", "_sum", "_count"):
                    if name.endswith(sfx) and name[:-len(sfx)] in types:
                        base = name[:-len(sfx)]
                self.assertIn(base, types, "sample before its TYPE: " + line)
                key = line.rsplit(" ", 1)[0]
                self.assertNotIn(key, seen, "duplicate series " + key)
                seen.add(key)
        self.assertEqual(helps, types)

    def test_metadata_lifecycle(self):
        keys = [("web", "systemd", "burstable", "cri-containerd"),
                ("db", "cgroupfs", "besteffort", "cri-containerd"),
                ("ds", "systemd", "guaranteed", "cri-containerd"),
                ("cron", "systemd", "burstable", "crio"),
                ("bare", "cgroupfs", "besteffort", "cri-containerd"),
                ("op", "systemd", "burstable", "cri-containerd"),
                ("legacy", "systemd", "burstable", "cri-containerd"),
                ("late", "cgroupfs", "burstable", "cri-containerd"),
                ("outage", "systemd", "burstable", "cri-containerd")]
        pods = {k: e2e.FakePod(d, q, r) for k, d, q, r in keys}
        # pages of 3 pods: the first list takes three requests (continue tokens)
        with fk.FakeKubeApi(node=ke.NODE, page_size=3) as api:
            for p in pods.values():
                p.__enter__()
            try:
                with ke.ExtraContainer(pods["web"]) as pause, \
                        ke.ExtraContainer(pods["web"]) as init:
                    cluster = self.build(api, pods, {"pause": pause, "init": init})
                    self.run_lifecycle(api, pods, cluster, pause, init)
            finally:
                for p in reversed(list(pods.values())):  # children before shared parents
                    p.__exit__(None, None, None)

    def run_lifecycle(self, api, pods, cluster, pause, init):
        listed_rv = str(api.rv)
        with ke.KubeAgent(api) as agent:
            for k in ("web", "db", "ds", "cron", "bare", "op", "legacy"):
                ke.burn(pods[k])
            ke.burn(pause)
            ke.burn(init)
            # The pause cgroup is newer than the pod's last status: until kubelet reports
            # again (or the grace period ends) it could be a container not reported yet.
            agent.wait_collections(2)
            pause_series = agent.series(container_id=pause.container_id)
            self.assertEqual([l["workload_kind"] for l, v in pause_series], ["Container"])
            api.modify_pod(pods["web"].uid, lambda p: p["status"]["conditions"][1].update(
                lastTransitionTime=fk.now3339()))

            # every container of every pod gets its metadata labels, the local series go
            for cid, want in cluster.expect.items():
                wait_for(lambda: labelled(agent, cid, want), what="labels %s" % want,
                         agent=agent)
                self.assertEqual(agent.series(container_id=cid, workload_kind="Container"), [])
            # one bpfdiag_pod_info per pod, with the node, QoS class and Helm chart
            infos = agent.series("bpfdiag_pod_info")
            self.assertEqual(len(infos), 7)
            for uid, want in cluster.pod_info.items():
                got = [l for l, v in infos if l["uid"] == uid]
                self.assertEqual(len(got), 1, uid)
                self.assertEqual(got[0], want)
            status, text = agent.get("/metrics")
            self.check_exposition(text)
            # the pods API groups by pod with the metadata names
            body = json.loads(agent.get("/api/v1/pods")[1])
            web = [p for p in body["pods"] if p["uid"] == pods["web"].uid]
            self.assertEqual(len(web), 1)
            self.assertEqual((web[0]["namespace"], web[0]["pod"], web[0]["workload_kind"],
                              web[0]["workload"], web[0]["helm_release"]),
                             ("prod", "web-5d4f8b7c9-x2x9z", "Deployment", "web", "shop"))
            self.assertEqual(sorted(c["name"] for c in web[0]["containers"]),
                             ["POD", "app", "migrate"])

            # what was asked of the API: the node's pods, a watch from the list's version
            lists = [q for k, p, q, h in api.requests if k == "list"]
            self.assertEqual(lists[0]["fieldSelector"], "spec.nodeName=" + ke.NODE)
            self.assertEqual([q.get("continue") for q in lists], [None, "3", "6"])
            watches = [q for k, p, q, h in api.requests if k == "watch"]
            self.assertEqual(watches[0]["allowWatchBookmarks"], "true")
            self.assertEqual(watches[0]["resourceVersion"], listed_rv)
            # one cached GET per workload, however many collections ran
            agent.wait_collections(3)
            for path in ("deployments/web", "statefulsets/db", "daemonsets/node-agent",
                         "cronjobs/backup", "deployments/legacy", "replicasets/legacy-7f9c",
                         "persistentvolumeclaims/data-db-0"):
                self.assertEqual(api.count("get", path), 1, path)
            self.assertEqual(api.count("get", "rmq"), 0)  # operators are not fetched
            self.assertEqual(api.count("get", "jobs/backup-28391234"), 0)  # CronJob found
            self.assertEqual(api.count("get", "/namespaces/prod/poddisruptionbudgets"), 1)
            self.assertEqual(api.count("get", "/namespaces/prod/horizontalpodautoscalers"), 1)
            self.assertEqual(agent.value("bpfdiag_agent_kube_api_up"), 1)
            self.assertEqual(agent.value("bpfdiag_agent_kube_pods"), 7)
            self.assertEqual(agent.value("bpfdiag_agent_kube_api_errors_total",
                                         reason="invalid_object"), 0)

            # a pod added later
            late = pods["late"]
            ke.burn(late)
            cluster.add("late", "api-0", "prod", "StatefulSet", "api", "", "Burstable",
                        owner=fk.owner_ref("StatefulSet", "api", "apps/v1"))
            wait_for(lambda: labelled(agent, late.container_id, cluster.expect[
                late.container_id]), what="late pod labels", agent=agent)
            wait_for(lambda: agent.series("bpfdiag_pod_info", uid=late.uid),
                     what="late pod_info")
            self.assertGreaterEqual(agent.value("bpfdiag_agent_kube_watch_events_total",
                                                type="ADDED"), 1)
            # a modification and a bookmark
            api.modify_pod(pods["bare"].uid, lambda p: p["status"]["containerStatuses"][0]
                           .update(restartCount=3))
            api.bookmark()
            wait_for(lambda: agent.value("bpfdiag_agent_kube_watch_events_total",
                                         type="BOOKMARK") == 1, what="bookmark")
            self.assertEqual(agent.value("bpfdiag_agent_kube_watch_events_total",
                                         type="MODIFIED"), 2)
            # a pod deleted: gone from pod_info; its finished container keeps its attribution
            api.delete_pod(pods["bare"].uid)
            wait_for(lambda: not agent.series("bpfdiag_pod_info", uid=pods["bare"].uid),
                     what="deleted pod gone from pod_info")
            self.assertEqual(agent.value("bpfdiag_agent_kube_pods"), 7)
            self.assertIsNotNone(labelled(agent, pods["bare"].container_id,
                                          cluster.expect[pods["bare"].container_id]))

            # the API goes away: cached metadata keeps serving, the outage is counted
            api.stop()
            wait_for(lambda: agent.value("bpfdiag_agent_kube_api_up") == 0, what="api down")
            wait_for(lambda: agent.value("bpfdiag_agent_kube_api_errors_total",
                                         reason="unreachable") >= 1, what="unreachable")
            agent.wait_collections(2)
            for cid, want in cluster.expect.items():
                self.assertIsNotNone(labelled(agent, cid, want), want)
            self.assertEqual(len(agent.series("bpfdiag_pod_info")), 7)
            self.assertEqual(agent.get("/readyz")[0], 200)
            self.assertGreaterEqual(agent.value("bpfdiag_agent_kube_outages_total"), 1)
            # meanwhile a pod is created; after the API is back the watch resumes from its
            # resourceVersion and sees it
            outage = pods["outage"]
            ke.burn(outage)
            cluster.add("outage", "during-outage", "ops", "Pod", "during-outage", "",
                        "BestEffort")
            api.start(port=api.port)
            wait_for(lambda: agent.value("bpfdiag_agent_kube_api_up") == 1, what="api back",
                     agent=agent)
            wait_for(lambda: labelled(agent, outage.container_id, cluster.expect[
                outage.container_id]), what="pod created during the outage", agent=agent)
            self.assertGreater(agent.value("bpfdiag_agent_kube_outage_seconds_total"), 0)
            for cid, want in cluster.expect.items():
                self.assertIsNotNone(labelled(agent, cid, want), want)
            self.assertEqual(agent.log_count("API server answers again"), 1)
            self.assertEqual(agent.value("bpfdiag_agent_kube_relists_total"), 0)

            # down again; a pod is deleted and the history compacted meanwhile: the watch
            # gets 410 Gone, the relist drops the pod it no longer lists
            api.stop()
            wait_for(lambda: agent.value("bpfdiag_agent_kube_api_up") == 0, what="down again")
            api.delete_pod(pods["op"].uid)
            api.compact()
            api.start(port=api.port)
            wait_for(lambda: agent.value("bpfdiag_agent_kube_relists_total") == 1,
                     what="relist after 410", agent=agent)
            wait_for(lambda: not agent.series("bpfdiag_pod_info", uid=pods["op"].uid),
                     what="pod deleted while away", agent=agent)
            self.assertEqual(len(agent.series("bpfdiag_pod_info")), 7)
            self.assertTrue(agent.series("bpfdiag_pod_info", uid=outage.uid))

    def test_late_metadata_rekeys_whole_history(self):
        """Collected before its pod is known, a container first has local labels; when the
        metadata arrives its series is re-keyed and counts everything the cgroup ever used:
        the kube series has the local series' whole total, the local series is gone."""
        with e2e.FakePod("systemd", "burstable") as pod, fk.FakeKubeApi(node=ke.NODE) as api, \
                ke.KubeAgent(api) as agent:
            procs = [pod.run([sys.executable, "-c", ke.BURN % 0.6]) for _ in range(2)]
            local = wait_for(lambda: agent.series(container_id=pod.container_id,
                                                  workload_kind="Container"),
                             what="local series", agent=agent)
            self.assertEqual(local[0][0]["pod_uid"], pod.uid)
            for p in procs:
                self.assertEqual(p.wait(timeout=60), 0)
            agent.wait_collections(2)
            before = agent.value("bpfdiag_cpu_seconds_total", container_id=pod.container_id)
            self.assertGreater(before, 1.0)
            api.add_pod(fk.pod("late-web-6c8d9", "prod", pod.uid, [("app", pod.container_id)],
                               owner=rs_owner("late-web-6c8d9"),
                               labels={"pod-template-hash": "6c8d9"}))
            got = wait_for(lambda: labelled(agent, pod.container_id,
                                            {"namespace": "prod", "container": "app",
                                             "workload_kind": "ReplicaSet"}),
                           what="re-keyed series", agent=agent)
            self.assertEqual(agent.series(container_id=pod.container_id,
                                          workload_kind="Container"), [])
            agent.wait_collections(1)
            got = agent.value("bpfdiag_cpu_seconds_total", container_id=pod.container_id)
            truth = pod.usage_seconds()
            print("re-keyed: agent %.4fs, cpu.stat %.4fs (local series had %.4fs)" % (
                got, truth, before))
            # the whole history moved (nothing ran since): not just the deltas after the
            # re-key, and not counted twice
            self.assertAlmostEqual(got, before, delta=0.01)
            # and it is the cgroup's CPU time, not a part or a double of it (collector
            # accuracy is test_cpu_attribution's business; it degrades on a loaded machine)
            self.assertLess(abs(got - truth) / truth, 0.15)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
