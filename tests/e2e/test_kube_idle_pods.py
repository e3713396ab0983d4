"""Idle pods are seen: every running container of the pod list has its series from the first
collection, found from its pod UID and container id, whether or not it ever runs while the
agent is up (an idle container is never in the BPF maps).

- cold/archive-0, a StatefulSet pod in the kubelet cgroupfs layout whose only process is a
  `sleep` started before the agent (it never runs again): its series are in /metrics with 0
  CPU seconds, /api/v1/pods lists the container with its cgroup id, and WK-07 (a StatefulSet
  that does nothing stateful) fires with suggested kind Deployment.
- Containers listed as running whose cgroups do not exist yet do not crash the agent, are
  counted in bpfdiag_agent_containers_unresolved, and get their series once the cgroup is
  created: cold/late-0 (the pod's directory exists, the container's is created later:
  found by listing the pod's directory) and cold/later-… (systemd layout, nothing exists
  until later: found by a new walk of the tree)."""
import json
import os
import sys
import unittest
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from kube_e2e import wait_for  # noqa: E402

NS = "cold"
WINDOW = 4.0


def pod_entry(agent, uid):
    status, body = agent.get("/api/v1/pods")
    assert status == 200, (status, body)
    for p in json.loads(body)["pods"]:
        if p["uid"] == uid:
            return p
    return None


def finding(agent, kind, name, rule):
    status, body = agent.get("/api/v1/findings")
    assert status == 200, (status, body)
    for f in json.loads(body)["findings"]:
        if (f["namespace"], f["workload_kind"], f["workload"], f["rule"]) == (NS, kind, name,
                                                                              rule):
            return f
    return None


def asleep(pid, comm):
    """pid runs comm (after its exec) and is in an interruptible sleep."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
    return name == comm and state == "S"


class IdlePods(unittest.TestCase):
    def test_idle_and_late_containers(self):
        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            sts_owner = fk.owner_ref("StatefulSet", "archive", "apps/v1")
            api.put_object("/apis/apps/v1/namespaces/%s/statefulsets/archive" % NS,
                           fk.statefulset("archive", NS, replicas=1, service="archive",
                                          claims=["data"]))
            api.put_object("/apis/apps/v1/namespaces/%s/statefulsets/late" % NS,
                           fk.statefulset("late", NS, replicas=1, service="late"))
            api.put_object("/apis/apps/v1/namespaces/%s/deployments/later" % NS,
                           fk.deployment("later", NS, replicas=1))

            # The idle pod: one sleeping process, started before the agent.
            idle = stack.enter_context(e2e.FakePod(driver="cgroupfs", qos="besteffort"))
            sleeper = idle.run(["sleep", "100000"])
            stack.callback(sleeper.wait)
            stack.callback(sleeper.kill)
            api.add_pod(fk.pod("archive-0", NS, idle.uid, [("app", idle.container_id)],
                               owner=sts_owner, labels={"app": "archive"}, qos="BestEffort",
                               ip="10.244.1.40"))
            # Its pod's cgroup exists, its container's not yet.
            late = stack.enter_context(e2e.FakePod(driver="cgroupfs", qos="burstable"))
            os.rmdir(late.path)
            api.add_pod(fk.pod("late-0", NS, late.uid, [("app", late.container_id)],
                               owner=fk.owner_ref("StatefulSet", "late", "apps/v1"),
                               labels={"app": "late"}, ip="10.244.1.41"))
            # Nothing exists yet (systemd layout, a pod of its own).
            later = e2e.FakePod(driver="systemd", qos="burstable")
            later_name = "later-6c9f7d5b8-k2m4p"
            api.add_pod(fk.pod(later_name, NS, later.uid, [("app", later.container_id)],
                               owner=fk.owner_ref("ReplicaSet", "later-6c9f7d5b8", "apps/v1"),
                               labels={"app": "later", "pod-template-hash": "6c9f7d5b8"},
                               ip="10.244.1.42"))
            # It must not run after this: wait until it has exec'd and sleeps (a fixed pause
            # could end before the fork and exec on a loaded machine).
            wait_for(lambda: asleep(sleeper.pid, "sleep"), what="sleep to exec and sleep")
            idle_cpu = idle.usage_seconds()

            agent = stack.enter_context(ke.KubeAgent(
                api, "--interval", "0.25", "--window", str(WINDOW), "--warmup", "1",
                "--log-level", "debug"))

            # The idle container: its series with zero CPU, in /metrics and /api/v1/pods.
            got = wait_for(lambda: agent.series(namespace=NS, pod="archive-0", container="app"),
                           timeout=15, what="series of the idle container", agent=agent)
            self.assertEqual(len(got), 1, got)
            labels, cpu = got[0]
            self.assertEqual(cpu, 0)
            self.assertEqual(labels["workload_kind"], "StatefulSet")
            self.assertEqual(labels["workload"], "archive")
            self.assertEqual(labels["container_id"], idle.container_id)
            self.assertEqual(agent.value("bpfdiag_cpu_runqueue_wait_seconds_total",
                                         namespace=NS, pod="archive-0"), 0)
            entry = pod_entry(agent, idle.uid)
            self.assertIsNotNone(entry)
            self.assertEqual(entry["pod"], "archive-0")
            self.assertEqual(entry["workload_kind"], "StatefulSet")
            by_name = {c["name"]: c for c in entry["containers"]}
            self.assertIn("app", by_name, entry)
            self.assertEqual(by_name["app"]["id"], idle.container_id)
            self.assertEqual(by_name["app"]["cgroup_id"], os.stat(idle.path).st_ino)
            self.assertEqual(by_name["app"]["cgroup_path"], idle.rel)
            self.assertEqual(by_name["app"]["cpu_seconds_total"], 0)

            # The containers whose cgroups are missing: counted, no crash, no series.
            self.assertEqual(agent.value("bpfdiag_agent_containers_unresolved"), 2)
            self.assertEqual(agent.series(container_id=late.container_id), [])
            self.assertEqual(agent.series(container_id=later.container_id), [])
            self.assertIsNone(agent.proc.poll())

            # WK-07 judges the idle StatefulSet after warm-up and a window of nothing.
            f = wait_for(lambda: finding(agent, "StatefulSet", "archive", "WK-07"),
                         timeout=30, what="WK-07 on the idle StatefulSet", agent=agent)
            self.assertEqual(f["suggested_kind"], "Deployment")
            self.assertEqual(f["evidence"]["pvc_write_bytes_per_second"], 0)
            self.assertEqual(agent.value("bpfdiag_finding", namespace=NS, workload="archive",
                                         rule="WK-07"), 1)

            # The cgroups appear: the containers get their series.
            os.mkdir(late.path)
            stack.enter_context(later)
            for fp, pod in ((late, "late-0"), (later, later_name)):
                got = wait_for(lambda: agent.series(container_id=fp.container_id),
                               timeout=40, what="series of %s once its cgroup exists" % pod,
                               agent=agent)
                self.assertEqual(len(got), 1, got)
                self.assertEqual(got[0][0]["pod"], pod)
                self.assertEqual(got[0][0]["container"], "app")
                self.assertEqual(got[0][1], 0)
                entry = wait_for(lambda: pod_entry(agent, fp.uid), what="pod entry")
                self.assertEqual([(c["name"], c["cgroup_id"]) for c in entry["containers"]],
                                 [("app", os.stat(fp.path).st_ino)])
            wait_for(lambda: agent.value("bpfdiag_agent_containers_unresolved") == 0,
                     what="no container left unresolved", agent=agent)
            self.assertIn("no cgroup yet", agent.logs())

            # The premise: the idle container never ran while the agent was up.
            self.assertEqual(idle.usage_seconds(), idle_cpu)
            self.assertEqual(agent.value("bpfdiag_cpu_seconds_total", namespace=NS,
                                         pod="archive-0"), 0)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
