"""A misbehaving API server: 401 until the token file rotates, 403 on a workload GET, 500s,
objects of the wrong shape, a pod of another node, truncated and malformed JSON, a 10 MB
object, a stalled stream, watches that end without an event, 410 Gone as an event and as a
status. The agent never crashes (and exits sanitizer-clean), never attaches a container to
the wrong pod, keeps every good label, counts every failure by reason and logs each cause
once."""
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from kube_e2e import wait_for  # noqa: E402


def event_line(type_, obj):
    return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()


class KubeFaults(unittest.TestCase):
    def errors(self, agent, reason):
        return agent.value("bpfdiag_agent_kube_api_errors_total", reason=reason)

    def wait_errors(self, agent, reason, n):
        return wait_for(lambda: self.errors(agent, reason) >= n,
                        what="%d %s errors" % (n, reason), agent=agent)

    def is_local(self, agent, pod):
        """The container has only local-mode labels: attached to no pod."""
        got = agent.series(container_id=pod.container_id)
        return len(got) == 1 and got[0][0]["workload_kind"] == "Container" and \
            got[0][0]["namespace"] == "" and got[0][0]["pod_uid"] == pod.uid

    def test_misbehaving_api(self):
        names = ["web", "wrongnode", "weird", "huge", "after"]
        pods = {n: e2e.FakePod("systemd", "burstable") for n in names}
        tmp = tempfile.mkdtemp(prefix="bpfdiag-kube-")
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("expired-token\n")
        api = fk.FakeKubeApi(node=ke.NODE, token="fresh-token")
        api.bookmark_every = 0.5
        for p in pods.values():
            p.__enter__()
        try:
            api.start()
            h_labels, h_ann = fk.helm_meta("shop", "prod", "web-1.2.3")
            api.put_object("/apis/apps/v1/namespaces/prod/deployments/web",
                           fk.deployment("web", "prod", labels=h_labels, annotations=h_ann))
            api.add_pod(fk.pod("web-5d4f8b7c9-x2x9z", "prod", pods["web"].uid,
                               [("app", pods["web"].container_id)],
                               owner=fk.owner_ref("ReplicaSet", "web-5d4f8b7c9", "apps/v1"),
                               labels={"pod-template-hash": "5d4f8b7c9"}))
            api.fault("get", "status", code=403, reason="Forbidden", match="deployments/web",
                      message='deployments.apps "web" is forbidden: User "system:serviceaccount:'
                              'bpfdiag:bpfdiag" cannot get resource "deployments"')
            with ke.KubeAgent(api, "--kube-token-file", token, "--kube-stall-timeout", "2",
                              wait_ready=False) as agent:
                self.run_faults(api, agent, pods, token)
        finally:
            api.stop()
            for p in reversed(list(pods.values())):
                p.__exit__(None, None, None)
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)

    def run_faults(self, api, agent, pods, token):
        # 401 while the token file holds an expired token: metrics are served, not ready
        self.wait_errors(agent, "unauthorized", 2)
        self.assertEqual(agent.get("/readyz")[0], 503)
        self.assertEqual(agent.value("bpfdiag_agent_kube_synced"), 0)
        self.assertEqual(agent.value("bpfdiag_agent_kube_api_up"), 0)
        # the projected token rotates (a new file swapped in): it is re-read
        with open(token + ".new", "w") as f:
            f.write("fresh-token\n")
        os.replace(token + ".new", token)
        wait_for(lambda: agent.get("/readyz")[0] == 200, what="ready", agent=agent)
        self.assertEqual(api.requests[-1][3].get("Authorization"), "Bearer fresh-token")
        self.assertTrue(all(h.get("Authorization", "").startswith("Bearer ")
                            for k, p, q, h in api.requests))
        # 403 on the Deployment: the derived owner stands meanwhile
        for p in ("web",):
            ke.burn(pods[p])
        wait_for(lambda: agent.series(container_id=pods["web"].container_id,
                                      workload_kind="Deployment", workload="web"),
                 what="web labelled", agent=agent)
        self.wait_errors(agent, "forbidden", 1)
        api.wait_watchers(1)
        restarts = agent.value("bpfdiag_agent_kube_watch_restarts_total")

        # objects of the wrong shape, three times the same cause
        for i in range(3):
            bad = fk.pod("bad-%d" % i, "prod", "0" * 8, [("app", None)])
            bad["metadata"]["uid"] = 12345 + i
            bad["metadata"]["resourceVersion"] = str(5000 + i)
            api.push_raw(event_line("ADDED", bad))
        # a pod of another node with the UID and container id of a cgroup of this one
        wn = pods["wrongnode"]
        other = fk.pod("elsewhere", "prod", wn.uid, [("app", wn.container_id)],
                       node="other-node")
        api.push_raw(event_line("ADDED", other))
        # wrong types in optional fields: the pod is known, its containers are not
        weird = pods["weird"]
        wp = fk.pod("weird", "prod", weird.uid, [("app", weird.container_id)])
        wp["status"]["containerStatuses"] = "running"
        wp["metadata"]["labels"] = ["app", "weird"]
        wp["spec"]["nodeName"] = ke.NODE
        api.push_raw(event_line("ADDED", wp))
        # malformed JSON inside a well-formed stream, twice
        for _ in range(2):
            api.push_raw(b'{"type":"ADDED","object":{"metadata":{"uid":tru}}}\n')
        # a 10 MB pod, then a normal one: the big one is skipped, the stream goes on
        huge = pods["huge"]
        hp = fk.pod("huge", "prod", huge.uid, [("app", huge.container_id)])
        hp["metadata"]["annotations"]["blob"] = "x" * (10 << 20)
        api.push_raw(event_line("ADDED", hp))
        after = pods["after"]
        api.add_pod(fk.pod("after", "prod", after.uid, [("app", after.container_id)]))
        for p in ("wrongnode", "weird", "huge", "after"):
            ke.burn(pods[p])
        wait_for(lambda: agent.series(container_id=after.container_id, namespace="prod",
                                      pod="after", container="app", workload_kind="Pod"),
                 what="the pod after the big one", agent=agent)
        self.assertEqual(self.errors(agent, "invalid_object"), 4)
        self.assertEqual(self.errors(agent, "malformed"), 2)
        self.assertEqual(self.errors(agent, "too_large"), 1)
        # none of that broke the stream
        self.assertEqual(agent.value("bpfdiag_agent_kube_watch_restarts_total"), restarts)
        agent.wait_collections(2)
        self.assertTrue(self.is_local(agent, wn), agent.series(container_id=wn.container_id))
        self.assertTrue(self.is_local(agent, huge))
        self.assertTrue(self.is_local(agent, weird))  # its container is unknown: pending
        self.assertTrue(agent.series("bpfdiag_pod_info", uid=weird.uid))
        self.assertFalse(agent.series("bpfdiag_pod_info", uid=wn.uid))
        self.assertFalse(agent.series("bpfdiag_pod_info", uid=huge.uid))

        # a stream cut in the middle of an event
        api.push_raw(b'{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"na')
        time.sleep(0.3)
        api.end_watches(abrupt=True)
        self.wait_errors(agent, "truncated", 1)
        # bytes that are no JSON at all between events: reconnect (not an outage)
        api.wait_watchers(1)
        outages = agent.value("bpfdiag_agent_kube_outages_total")
        restarts = agent.value("bpfdiag_agent_kube_watch_restarts_total")
        api.push_raw(b"this is not json\n")
        self.wait_errors(agent, "malformed", 3)
        wait_for(lambda: agent.value("bpfdiag_agent_kube_watch_restarts_total") > restarts,
                 what="reconnect after garbage")
        self.assertEqual(agent.value("bpfdiag_agent_kube_outages_total"), outages)
        # three 500s in a row
        for _ in range(3):
            api.fault("watch", "status", code=500, reason="InternalError",
                      message="etcdserver: request timed out")
        api.wait_watchers(1)
        api.end_watches()
        self.wait_errors(agent, "server_error", 3)
        wait_for(lambda: agent.value("bpfdiag_agent_kube_api_up") == 1, what="up again")
        # a stream that stalls: restarted after the stall timeout, not an outage
        outages = agent.value("bpfdiag_agent_kube_outages_total")
        api.fault("watch", "stall", seconds=4)
        api.wait_watchers(1)
        api.end_watches()
        self.wait_errors(agent, "stalled", 1)
        self.assertEqual(agent.value("bpfdiag_agent_kube_outages_total"), outages)
        # watches that end at once without an event: renewed with backoff, not in a loop
        api.wait_watchers(1)
        for _ in range(3):
            api.fault("watch", "empty")
        t0, before = time.time(), api.count("watch")
        api.end_watches()
        wait_for(lambda: not api.faults["watch"], what="empty watches consumed")
        api.wait_watchers(1)
        self.assertEqual(api.count("watch") - before, 4)  # three empty ones, then a live one
        # jittered exponential backoff between them: at least 0.1 + 0.2 + 0.25 s
        self.assertGreater(time.time() - t0, 0.5)
        # 410 Gone as an ERROR event, then as the status of a watch request: relist
        api.push_raw(event_line("ERROR", fk.status(410, "Expired",
                                                   "too old resource version: 1 (2000)")))
        wait_for(lambda: agent.value("bpfdiag_agent_kube_relists_total") == 1, what="relist")
        api.fault("watch", "http_gone")
        api.wait_watchers(1)
        api.end_watches()
        wait_for(lambda: agent.value("bpfdiag_agent_kube_relists_total") == 2,
                 what="second relist", agent=agent)
        self.assertGreaterEqual(self.errors(agent, "expired"), 2)

        # the retried GET got the Deployment: Helm release from its annotations
        wait_for(lambda: agent.series(container_id=pods["web"].container_id,
                                      helm_release="shop"), timeout=20,
                 what="helm release after the 403 retry", agent=agent)
        self.assertEqual(api.count("get", "deployments/web"), 2)
        # everything good is still there
        self.assertTrue(agent.series(container_id=after.container_id, pod="after"))
        self.assertTrue(self.is_local(agent, wn))
        self.assertIsNone(agent.proc.poll())
        # each cause logged once, however often it happened
        for reason in ("unauthorized", "forbidden", "invalid_object", "malformed", "too_large",
                       "truncated", "server_error", "stalled", "expired"):
            self.assertEqual(agent.log_count("[reason %s;" % reason), 1, reason)
        self.assertEqual(agent.log_count("RBAC"), 1)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
