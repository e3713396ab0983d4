"""Right-sizing end to end on fake Kubernetes pods (real cgroups, real CPU use, Pod objects
from the fake API server):

  shop/idle   requests cpu 2 and memory 128Mi, uses ~100m     → RS-04, the recommended CPU
              request within 25 % of what its cgroup's cpu.stat says it used
  shop/snug   requests cpu 150m, the same ~100m of use         → no RS-04 (its look-alike)

and the recommendations survive a SIGKILL of the agent: a restarted agent reading the same
--state-dir serves the same bpfdiag_recommendation values at once, before a fresh agent could
have any (one bucket, window / 10, of history)."""
import glob
import json
import os
import signal
import sys
import tempfile
import time
import unittest
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from rules_e2e import Cluster, fired, findings, wait_until  # noqa: E402
from test_memory import Memory  # noqa: E402

# ~100m: 5 ms of CPU every 50 ms (short cycles: steady from one interval to the next).
DUTY = ("import time\nwhile True:\n    e = time.process_time() + 0.005\n"
        "    while time.process_time() < e: pass\n    time.sleep(0.045)\n")


def resources(cpu):
    return {"requests": {"cpu": cpu, "memory": "128Mi"},
            "limits": {"memory": "128Mi"}}


def recs(agent, cid):
    """{(resource, kind): value} of a container's bpfdiag_recommendation gauges."""
    return {(l["resource"], l["kind"]): v for n, l, v in agent.metrics()
            if n == "bpfdiag_recommendation" and l.get("container_id") == cid
            and l.get("namespace")}


def same_collection(agent, cid):
    """(recs(agent, cid), the /api/v1/pods body) of one collection: read again while a
    collection was published between the reads (bpfdiag_agent_collections_total moved)."""
    for _ in range(20):
        c0 = e2e.metric_value(agent.metrics(), "bpfdiag_agent_collections_total")
        got = recs(agent, cid)
        status, body = agent.get("/api/v1/pods")
        assert status == 200, (status, body)
        if e2e.metric_value(agent.metrics(), "bpfdiag_agent_collections_total") == c0:
            return got, body
    raise AssertionError("a collection between every two reads")


def busy_pod(c, stack, wl, cpu):
    """A pod of wl requesting cpu that runs DUTY in its container's cgroups (its memory
    controller too); returns (pod, its Memory)."""
    pod = c.pod(wl, resources=resources(cpu))
    mem = stack.enter_context(Memory(pod.fp))
    pod.start([sys.executable, "-c", DUTY], runner=mem.run)
    return pod, mem


class RightSizing(unittest.TestCase):
    def test_rs04_over_provisioned(self):
        window = 8.0
        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            pod, mem = busy_pod(c, stack, c.workload("Deployment", "idle", "shop"), "2")
            snug = c.workload("Deployment", "snug", "shop")
            c.pod(snug, resources=resources("150m")).start([sys.executable, "-c", DUTY])
            agent = stack.enter_context(ke.KubeAgent(
                api, "--interval", "0.5", "--window", str(window), "--warmup", "0"))
            wait_until(lambda: all(api.count("get", p) for p in c.api_paths()), 30,
                       "workload GETs", agent)
            c.launch()
            fp = pod.fp
            u0, t0 = fp.usage_seconds(), time.time()

            def rs04():
                return [f for f in findings(agent)
                        if f["rule"] == "RS-04" and f["workload"] == "idle"]
            wait_until(rs04, 60, "RS-04 on idle", agent)
            # One more window for the look-alike to misfire in.
            agent.wait_collections(int(window / 0.5) + 2)
            f = rs04()[0]
            used = (fp.usage_seconds() - u0) / (time.time() - t0)
            ev = f["evidence"]
            print("RS-04:", f["message"])
            print("real use %.3f cores; evidence %s" % (used, ev))
            self.assertEqual(ev["cpu_request_cores"], 2)
            self.assertLess(abs(ev["recommended_cpu_request_cores"] - used) / used, 0.25)
            self.assertIn("lower the requests to cpu", f["message"])
            self.assertEqual((f["severity"], f["suggested_kind"]), ("low", ""))
            self.assertNotIn("RS-04", fired(agent).get(("shop", "Deployment", "snug"), set()))
            # The same recommendation as a gauge and in /api/v1/pods, read from one collection
            # (the values may move from one to the next as the histories grow).
            got, body = same_collection(agent, pod.container_id)
            self.assertLess(abs(got[("cpu", "request")] - used) / used, 0.25)
            # The memory pair: the peak working set (the cgroup's own files) + 15 % and + 30 %.
            peak = mem.working_set()
            print("recommendations %s; working set now %.1f MiB" % (got, peak / 2**20))
            self.assertGreaterEqual(got[("memory", "request")], 16 << 20)
            self.assertGreaterEqual(got[("memory", "request")], peak * 1.15)
            self.assertGreaterEqual(got[("memory", "limit")], got[("memory", "request")])
            pods = {p["pod"]: p for p in json.loads(body)["pods"]}
            rec = pods[pod.name]["containers"][0]["recommendation"]
            self.assertEqual(rec["cpu_request_cores"], got[("cpu", "request")])
            self.assertFalse(rec["cpu_usage_is_floor"])

    def test_recommendations_survive_sigkill(self):
        # --window 100: a fresh agent needs 10 s of history before its first recommendation.
        with ExitStack() as stack:
            state = tempfile.mkdtemp(prefix="bpfdiag-state-")
            stack.callback(os.rmdir, state)
            stack.callback(lambda: [os.unlink(f) for f in glob.glob(state + "/*")] and None)
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            pod, _ = busy_pod(c, stack, c.workload("Deployment", "steady", "shop"), "2")
            args = ("--interval", "1", "--window", "100", "--warmup", "0",
                    "--state-dir", state, "--state-save", "0.1")
            path = os.path.join(state, "recommendations.state")
            first = ke.KubeAgent(api, *args)
            first.__enter__()
            try:
                c.launch()
                wait_until(lambda: recs(first, pod.container_id), 60,
                           "a recommendation for steady", first)
                agent_pid = first.proc.pid
                # The values the file holds: read right after a write (every collection
                # here), twice (a collection writes the file just before it publishes, so a
                # read in between still sees the previous one), then the agent is stopped
                # and the file checked unchanged since the write: no later collection wrote
                # other values before the kill. Else try again with the next write.
                for _ in range(10):
                    m0 = os.stat(path).st_mtime_ns
                    m1 = wait_until(lambda: os.stat(path).st_mtime_ns != m0 and
                                    os.stat(path).st_mtime_ns, 10, "a state write", first)
                    before = recs(first, pod.container_id)
                    again = recs(first, pod.container_id)
                    os.kill(agent_pid, signal.SIGSTOP)
                    if before == again and os.stat(path).st_mtime_ns == m1:
                        break
                    os.kill(agent_pid, signal.SIGCONT)
                else:
                    self.fail("no quiet moment between two state writes")
                os.kill(agent_pid, signal.SIGKILL)
                first.proc.wait()
                first.exit_code = 0  # killed on purpose
            finally:
                first.__exit__(None, None, None)
            print("before the kill:", before)
            t0 = time.time()
            agent = stack.enter_context(ke.KubeAgent(api, *args))
            self.assertRegex(agent.logs(), r"state: \d+ right-sizing histories read from ")
            wait_until(lambda: recs(agent, pod.container_id), 10,
                       "the recommendation after the restart", agent)
            after = recs(agent, pod.container_id)
            print("after the restart (%.1f s): %s" % (time.time() - t0, after))
            self.assertLess(time.time() - t0, 10, "not from the state file")
            self.assertEqual(after, before)

    def test_restarts_and_oomkilled_from_pod_status(self):
        """The pod status says the container restarted twice, the last time OOMKilled (before
        the agent could see it): /api/v1/pods shows it, and RS-05 fires with it in its
        evidence; a look-alike whose last termination was an Error stays quiet."""
        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            pods = {}
            for name, reason in (("crashy", "OOMKilled"), ("erred", "Error")):
                wl = c.workload("Deployment", name, "shop")
                pods[name] = c.pod(wl, resources=resources("100m"))
                pods[name].start(["sleep", "600"])
            agent = stack.enter_context(ke.KubeAgent(api, "--window", "6", "--warmup", "0"))
            c.launch()
            finished = fk.now3339()
            for name, reason in (("crashy", "OOMKilled"), ("erred", "Error")):
                def status(pod, reason=reason):
                    st = pod["status"]["containerStatuses"][0]
                    st.update(restartCount=2, lastState={"terminated": {
                        "exitCode": 137 if reason == "OOMKilled" else 1, "reason": reason,
                        "startedAt": finished, "finishedAt": finished}})
                api.modify_pod(pods[name].uid, status)

            def rs05():
                return [f for f in findings(agent)
                        if f["rule"] == "RS-05" and f["workload"] == "crashy"]
            wait_until(rs05, 30, "RS-05 on crashy", agent)
            f = rs05()[0]
            print("RS-05:", f["message"], f["evidence"])
            self.assertEqual(f["evidence"]["restarts"], 2)
            self.assertEqual(f["evidence"]["last_terminated_oomkilled"], 1)
            self.assertEqual(f["evidence"]["oom_kills"], 0)
            self.assertIn("2 restart(s), the last one OOMKilled", f["message"])
            status, body = agent.get("/api/v1/pods")
            got = {p["pod"]: p["containers"][0] for p in json.loads(body)["pods"]
                   if p["pod"] in (pods["crashy"].name, pods["erred"].name)}
            self.assertEqual((got[pods["crashy"].name]["restarts"],
                              got[pods["crashy"].name]["last_termination_reason"]),
                             (2, "OOMKilled"))
            self.assertEqual((got[pods["erred"].name]["restarts"],
                              got[pods["erred"].name]["last_termination_reason"]),
                             (2, "Error"))
            agent.wait_collections(4)
            self.assertNotIn("RS-05", fired(agent).get(("shop", "Deployment", "erred"), set()))

    def test_corrupt_state_file_is_ignored(self):
        with ExitStack() as stack:
            state = tempfile.mkdtemp(prefix="bpfdiag-state-")
            path = os.path.join(state, "recommendations.state")
            stack.callback(os.rmdir, state)
            stack.callback(lambda: os.path.exists(path) and os.unlink(path))
            with open(path, "wb") as f:
                f.write(b"BPFDREC\n" + os.urandom(200))
            agent = stack.enter_context(e2e.Agent("--interval", "0.2", "--state-dir", state,
                                                  "--state-save", "0.1"))
            agent.wait_collections(3)
            self.assertRegex(agent.logs(), r"state: .*recommendations.state ignored: ")
            # ...and replaced by a good one.
            with open(path, "rb") as f:
                self.assertEqual(f.read(12), b"BPFDREC\n\x01\x00\x00\x00")


if __name__ == "__main__":
    unittest.main()
