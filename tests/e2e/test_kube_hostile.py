"""A hostile API server (issue #22): in-band 410 storms, watch events that never end (fast or
trickling), whitespace that never becomes an event, and an empty token file. Each test states
the property it holds, with bounded counts and times; all on loopback."""
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

UID = "7c0ffee0-1111-4222-8333-944445555666"
CID = "ab" * 32
MAX_EVENT_LINE = 16 << 20  # KUBE_MAX_EVENT_LINE


def sysctl_max(name):
    """The last (maximum) value of a /proc/sys/net entry."""
    with open("/proc/sys/net/" + name.replace(".", "/")) as f:
        return int(f.read().split()[-1])


def write_token(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)  # swapped in, as kubelet rotates projected tokens


class KubeHostile(unittest.TestCase):
    def errors(self, agent, reason):
        return agent.value("bpfdiag_agent_kube_api_errors_total", reason=reason) or 0

    def api(self):
        api = fk.FakeKubeApi(node=ke.NODE)
        api.add_pod(fk.pod("web", "prod", UID, [("app", CID)]))
        return api

    def test_inband_410_storm(self):
        """Property: a server that answers every watch with 200, a BOOKMARK and then an ERROR
        event saying 410 Gone gets at most 6 LISTs in 20 s, whatever the backoff flag says
        (0.5 s here). Relists are paced: the first at once, then 1, 2, 4, 8, 16 s apart, with
        jitter down to half of that; so at worst at 0, 0.5, 1.5, 3.5, 7.5 and 15.5 s, the next
        not before 23.5 s. Each watch is followed by one relist, so watches are bounded too.
        Before the fix the ERROR event counted as progress: 593 LISTs and WATCHes in 20 s."""
        with self.api() as api, ke.KubeAgent(api) as agent:
            api.wait_watchers(1)
            lists0, watches0 = api.count("list"), api.count("watch")
            relists0 = agent.value("bpfdiag_agent_kube_relists_total")
            expired0 = self.errors(agent, "expired")
            api.inband_gone = True
            api.end_watches()
            time.sleep(20)
            api.inband_gone = False
            lists, watches = api.count("list") - lists0, api.count("watch") - watches0
            self.assertGreaterEqual(lists, 2, "the storm was not seen")
            self.assertLessEqual(lists, 6, "%d LISTs in 20 s" % lists)
            self.assertLessEqual(watches, lists + 2)
            # counted: each 410 as expired, each relist
            self.assertGreaterEqual(self.errors(agent, "expired") - expired0, lists - 1)
            relists = agent.value("bpfdiag_agent_kube_relists_total") - relists0
            self.assertLessEqual(abs(relists - lists), 1)
            # the server behaves again: the agent is back within the relist cap (30 s)
            t0 = time.time()
            api.wait_watchers(1, timeout=40)
            self.assertLess(time.time() - t0, 35)
            self.assertTrue(agent.series("bpfdiag_pod_info", uid=UID))
            self.assertEqual(agent.get("/readyz")[0], 200)
            self.assertEqual(agent.log_count("[reason expired;"), 1)

    def test_endless_event_fast(self):
        """Property: an event that never ends, streamed as fast as loopback goes, is cut once
        it passes 16 MiB (checked as bytes arrive, at least every MiB), counted as
        event_limit, and the watch restarts at once: the server gets to write at most 16 MiB
        plus what the socket buffers hold. Before the fix it was skipped for ever (no count,
        no restart, the stall timer refreshed by every byte)."""
        with self.api() as api, ke.KubeAgent(api) as agent:
            api.wait_watchers(1)
            restarts = agent.value("bpfdiag_agent_kube_watch_restarts_total")
            outages = agent.value("bpfdiag_agent_kube_outages_total")
            api.fault("watch", "endless", chunk=256 << 10, seconds=30)
            api.end_watches()
            wait_for(lambda: self.errors(agent, "event_limit") >= 1, timeout=15,
                     what="the endless event cut", agent=agent)
            wait_for(lambda: api.endless_sent, what="the server sees the client leave")
            bound = MAX_EVENT_LINE + sysctl_max("ipv4.tcp_rmem") + \
                sysctl_max("ipv4.tcp_wmem") + (1 << 20)
            self.assertLessEqual(api.endless_sent[0], bound)
            self.assertGreater(api.endless_sent[0], MAX_EVENT_LINE)
            api.wait_watchers(1)
            self.assertGreater(agent.value("bpfdiag_agent_kube_watch_restarts_total"), restarts)
            self.assertEqual(agent.value("bpfdiag_agent_kube_outages_total"), outages)
            self.assertTrue(agent.series("bpfdiag_pod_info", uid=UID))
            self.assertEqual(agent.log_count("[reason event_limit;"), 1)

    def test_endless_event_slow(self):
        """Property: an event that never ends but trickles (a byte every 0.1 s, each of which
        refreshed the stall timer before the fix) is cut once it has taken longer than the
        stall timeout to arrive (2 s here), checked about once a second: within 8 s of the
        watch's end, reconnection included. Counted as event_limit, not an outage. Newlines
        trickling between events are no event either: cut as stalled in the same time."""
        with self.api() as api, ke.KubeAgent(api, "--kube-stall-timeout", "2") as agent:
            api.bookmark_every = 0.5  # the live watches are not stalled
            api.wait_watchers(1)
            outages = agent.value("bpfdiag_agent_kube_outages_total")
            api.fault("watch", "endless", chunk=1, interval=0.1, seconds=30)
            t0 = time.time()
            api.end_watches()
            wait_for(lambda: self.errors(agent, "event_limit") >= 1, timeout=15,
                     what="the trickling event cut", agent=agent)
            self.assertLess(time.time() - t0, 8)
            wait_for(lambda: api.endless_sent, what="the server sees the client leave")
            self.assertLess(api.endless_sent[0], 100)  # about 3 s of a byte per 0.1 s
            api.wait_watchers(1)

            stalled = self.errors(agent, "stalled")
            api.fault("watch", "whitespace", interval=0.1, seconds=30)
            t0 = time.time()
            api.end_watches()
            wait_for(lambda: self.errors(agent, "stalled") > stalled, timeout=15,
                     what="the whitespace trickle cut", agent=agent)
            self.assertLess(time.time() - t0, 8)
            api.wait_watchers(1)
            self.assertEqual(agent.value("bpfdiag_agent_kube_outages_total"), outages)
            self.assertEqual(self.errors(agent, "event_limit"), 1)

    def test_empty_token_file_logged_once(self):
        """Property: an empty token file is logged once per change of state, however many
        requests of however many kinds (list, watch, PDB and HPA GETs) go out with no token
        meanwhile; each of them is counted in errors{reason="token"}. A valid token written
        is logged once as read again, an empty file again once more. Before the fix the
        warning came once per kind of request (three times here), and again after every
        success."""
        tmp = tempfile.mkdtemp(prefix="bpfdiag-kube-token-")
        token = os.path.join(tmp, "token")
        write_token(token, "")
        try:
            with self.api() as api, ke.KubeAgent(api, "--kube-token-file", token) as agent:
                wait_for(lambda: api.count("get", "poddisruptionbudgets") and
                         api.count("get", "horizontalpodautoscalers"), what="enrichment GETs")
                api.wait_watchers(1)
                api.end_watches()
                api.wait_watchers(1)
                wait_for(lambda: self.errors(agent, "token") >= 4, what="token errors",
                         agent=agent)
                self.assertTrue(all("Authorization" not in h for k, p, q, h in api.requests))
                self.assertEqual(agent.log_count("cannot read the token file"), 1)

                write_token(token, "good-token\n")
                api.end_watches()
                wait_for(lambda: api.requests[-1][3].get("Authorization") ==
                         "Bearer good-token", what="the token in use", agent=agent)
                wait_for(lambda: agent.log_count("is read again") == 1, what="read again",
                         agent=agent)
                tokens = self.errors(agent, "token")

                write_token(token, "\n")
                for _ in range(3):  # the watch that read the empty file, and one more
                    watches = api.count("watch")
                    api.end_watches()
                    wait_for(lambda: api.count("watch") > watches, what="a new watch")
                    api.wait_watchers(1)
                wait_for(lambda: self.errors(agent, "token") >= tokens + 2,
                         what="token errors again", agent=agent)
                self.assertEqual(agent.log_count("cannot read the token file"), 2)
                self.assertEqual(agent.log_count("is read again"), 1)
                self.assertEqual(api.requests[-1][3].get("Authorization"), "Bearer good-token")
        finally:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
