"""`bpfdiag top` against a fake agent (top_fake_agent.py: realistic pods, findings with
evidence and self-metrics), driven in tmux: header, rows, sorting, filtering, expansion, the
findings panel, help, resizing, colours with and without colour, a vanishing agent, quitting
(q, Ctrl-C, SIGTERM) with the terminal restored; and the plain-text and JSON outputs."""
import json
import os
import select
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import top_fake_agent as fake  # noqa: E402
import top_tmux  # noqa: E402
from top_tmux import Tmux, pod_rows  # noqa: E402

SORT_KEYS = ["cpu", "runq", "disk", "iops", "fsync", "net", "retrans", "mem", "name"]


def metric(p, key):
    cs = p["containers"]

    def s(k):
        return sum(c[k] for c in cs)

    return {
        "cpu": p["cpu_cores"],
        "runq": max(c["runqueue_p99_seconds"] for c in cs),
        "disk": s("disk_read_bytes_per_second") + s("disk_write_bytes_per_second"),
        "iops": s("disk_iops"),
        "fsync": s("fsync_per_second"),
        "net": s("network_receive_bytes_per_second") + s("network_transmit_bytes_per_second"),
        "retrans": s("retransmits_per_second"),
        "mem": s("memory_working_set_bytes"),
        "name": 0,
    }[key]


def expected_order(key, pods=None):
    """Pod names in the order top must show them: descending by the key, then by namespace,
    workload and pod name."""
    pods = pods if pods is not None else fake.PODS["pods"]
    return [p["pod"] for p in sorted(pods, key=lambda p: (-metric(p, key), p["namespace"],
                                                          p["workload"], p["pod"]))]


def names(rows):
    return [r["POD"].lstrip("+-") for r in rows]


def same_names(got, want):
    """True when the shown names are want's, allowing a cut marked with '~' in the middle: the
    start and the end (the replica suffix) are kept."""
    def cut_of(g, w):
        head, sep, tail = g.partition("~")
        return sep and len(g) < len(w) and w.startswith(head) and w.endswith(tail)
    return len(got) == len(want) and all(g == w or cut_of(g, w) for g, w in zip(got, want))


def fake_pod(name):
    return next(p for p in fake.PODS["pods"] if p["pod"] == name)


def bytes_text(v):
    """top's rendering of a byte rate (same units as top_fmt_bytes)."""
    u = 0
    while v >= 1000 and u < 4:
        v /= 1024
        u += 1
    return ("%.1f%s" % (v, "BKMGT"[u])) if u else "%.0fB" % v


def run(*args, timeout=30):
    return subprocess.run([e2e.BIN, "top"] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class TopTui(unittest.TestCase):
    def setUp(self):
        self.agent = fake.FakeAgent().__enter__()
        self.addCleanup(self.agent.__exit__, None, None, None)

    def start(self, *args, **kw):
        t = Tmux("--agent", self.agent.url, "--interval", "0.5", *args, **kw)
        self.addCleanup(t.close)
        t.wait("node-exporter", what="the first table")
        return t

    def quit(self, t, key="q"):
        t.keys(key)
        s = t.wait("TOP-EXIT=", what="top to exit")
        return s

    def test_header_and_rows(self):
        t = self.start()
        s = t.stable()
        lines = s.splitlines()
        self.assertIn("node worker-7", lines[0])
        self.assertIn("agent " + self.agent.url, lines[0])
        # Node totals from the pods document.
        total_cpu = sum(p["cpu_cores"] for p in fake.PODS["pods"]) * 100
        self.assertIn("CPU %.1f%%" % total_cpu, lines[1])
        self.assertIn("pods 4", lines[1])
        # Agent health from the fake /metrics: net probe down, 7 overflows.
        self.assertRegex(lines[2], r"^agent DEGRADED: 1234 collections, 0 errors, "
                                   r"7 map overflows, probes 4/5 up \(down: net\)")
        self.assertIn("findings 3: 1 HIGH, 1 MED, 1 LOW", lines[3])
        self.assertIn("sort cpu", lines[3])
        rows = pod_rows(s)
        self.assertEqual(names(rows), expected_order("cpu"))
        by_pod = {n: r for n, r in zip(names(rows), rows)}
        for p in fake.PODS["pods"]:
            r = by_pod[p["pod"]]
            cs = p["containers"]
            self.assertEqual(r["NAMESPACE"], p["namespace"])
            self.assertEqual(r["KIND"], p["workload_kind"])
            self.assertEqual(r["WORKLOAD"], p["workload"])
            self.assertEqual(r["RELEASE"], p["helm_release"] or "-")
            self.assertEqual(r["CPU%"], "%.1f" % (p["cpu_cores"] * 100))
            self.assertEqual(r["DISK_W"],
                             bytes_text(sum(c["disk_write_bytes_per_second"] for c in cs)))
            self.assertEqual(r["NET_RX"], bytes_text(
                sum(c["network_receive_bytes_per_second"] for c in cs)))
            self.assertEqual(r["FSYNC"], "%.1f" % sum(c["fsync_per_second"] for c in cs))
            self.assertEqual(r["RETR"], "%.1f" % sum(c["retransmits_per_second"] for c in cs))
            # The workload's findings, worst first.
            ids = [f["rule"] for f in fake.FINDINGS["findings"]
                   if (f["namespace"], f["workload_kind"], f["workload"]) ==
                   (p["namespace"], p["workload_kind"], p["workload"])]
            self.assertEqual(r["FINDINGS"], ",".join(ids) or "-")
        self.assertEqual(by_pod["web-6d9f7c-abcde"]["RQP99"], "4.2ms")
        self.assertEqual(by_pod["orders-db-7f8b9-xyz12"]["FINDINGS"], "WK-05,RS-01")
        self.quit(t)

    def test_sorting(self):
        t = self.start()
        for key in SORT_KEYS[1:] + SORT_KEYS[:1]:  # s cycles through all and back to cpu
            t.keys("s")
            s = t.wait("sort %s " % key)
            self.assertEqual(names(pod_rows(s)), expected_order(key), key)
        t.keys("S")  # backwards: cpu -> name
        s = t.wait("sort name ")
        self.assertEqual(names(pod_rows(s)), expected_order("name"))
        # The order differs between keys: the test would notice a sort that does nothing.
        self.assertNotEqual(expected_order("net"), expected_order("cpu"))
        self.assertNotEqual(expected_order("fsync"), expected_order("cpu"))
        self.assertNotEqual(expected_order("mem"), expected_order("cpu"))
        # --sort picks the starting key.
        self.quit(t)
        t2 = self.start("--sort", "fsync")
        self.assertEqual(names(pod_rows(t2.wait("sort fsync "))), expected_order("fsync"))

    def test_filters(self):
        t = self.start()
        t.keys("/")
        t.wait("filter text: _")
        t.type("CACHE")
        t.keys("Enter")
        s = t.wait("filter text=CACHE")
        self.assertEqual(names(pod_rows(s)), ["cache-0"])
        self.assertIn("findings 1: 1 LOW", s)
        t.keys("c")
        s = t.wait("filter none")
        self.assertEqual(len(pod_rows(s)), 4)
        # Namespace: exact match; a finding id matches as text.
        t.keys("n")
        t.type("shop")
        t.keys("Enter")
        s = t.wait("filter ns=shop ")
        self.assertEqual(names(pod_rows(s)), [p for p in expected_order("cpu")
                                             if fake_pod(p)["namespace"] == "shop"])
        self.assertIn("findings 2: 1 HIGH, 1 MED", s)
        t.keys("r")
        t.type("shop-db")
        t.keys("Enter")
        s = t.wait("filter ns=shop release=shop-db ")
        self.assertEqual(names(pod_rows(s)), ["orders-db-7f8b9-xyz12"])
        t.keys("c", "/")
        t.type("wk-07")
        t.keys("Enter")
        s = t.wait("filter text=wk-07")
        self.assertEqual(names(pod_rows(s)), ["cache-0"])
        # Esc cancels a prompt without changing the filter.
        t.keys("n")
        t.type("kube-system")
        t.keys("Escape")
        s = t.wait(lambda s: "namespace:" not in s and "filter text=wk-07" in s)
        self.assertEqual(names(pod_rows(s)), ["cache-0"])
        t.keys("c", "/")
        t.type("no-such-thing")
        t.keys("Enter")
        t.wait("no pod matches the filter")
        self.quit(t)

    def test_expand_to_containers(self):
        t = self.start()
        order = expected_order("cpu")
        idx = order.index("orders-db-7f8b9-xyz12")
        t.keys(*["Down"] * idx, "Enter")
        s = t.wait("postgres :5432")
        title, rows = top_tmux.table(s)
        at = [i for i, r in enumerate(rows) if "orders-db-7f8b9-xyz12" in r][0]
        self.assertTrue(rows[at].split()[1].startswith("-"), rows[at])  # expanded marker
        ctr = rows[at + 1]
        self.assertTrue(ctr.startswith(" "), ctr)
        self.assertIn("container", ctr)
        self.assertIn(fake.hexid("c")[-20:], ctr)  # its id, cut keeping the end
        self.assertEqual(len(rows), 5)
        # Collapse from the container row: back to pods only.
        t.keys("Down", "Enter")
        s = t.wait(lambda s: "postgres :5432" not in s)
        self.assertEqual(len(top_tmux.table(s)[1]), 4)
        # A pod with two containers lists them sorted by the sort key (CPU).
        t.keys("Home", "Enter")
        s = t.wait("nginx :80")
        rows = top_tmux.table(s)[1]
        self.assertIn("nginx :80", rows[1])
        self.assertIn("php", rows[2])
        self.quit(t)

    def test_findings_panel(self):
        t = self.start()
        t.keys("f")
        s = t.wait("FINDINGS 3 shown")
        panel = s[s.index(" FINDINGS 3 shown"):]
        for f in fake.FINDINGS["findings"]:
            self.assertIn("%s/%s" % (f["workload_kind"], f["workload"]), panel)
            self.assertIn(f["rule"], panel)
            ev = " ".join("%s=%s" % (k, ("%.0f" % v) if v == int(v) else "%g" % v)
                          for k, v in f["evidence"].items())
            self.assertIn("evidence: " + ev, panel)
        lines = panel.splitlines()
        high = [i for i, l in enumerate(lines) if l.startswith("HIGH WK-05")]
        self.assertEqual(len(high), 1, panel)
        self.assertIn("shop Deployment/orders-db  release shop-db  -> StatefulSet  since "
                      "2024-05-01T10:00:00Z", lines[high[0]])
        # The message, word-wrapped under its finding, then the evidence.
        msg = " ".join(l.strip() for l in lines[high[0] + 1:high[0] + 4]
                       if not l.strip().startswith("evidence"))
        self.assertIn(fake.FINDINGS["findings"][0]["message"], msg)
        # Worst first: HIGH, then MED, then LOW.
        sev = [l.split()[0] for l in lines if l[:4] in ("HIGH", "MED ", "LOW ")]
        self.assertEqual(sev, ["HIGH", "MED", "LOW"])
        # Filters apply to the panel too.
        t.keys("n")
        t.type("payments")
        t.keys("Enter")
        s = t.wait("FINDINGS 1 shown")
        self.assertIn("LOW  WK-07", s)
        self.assertNotIn("WK-05", s[s.index(" FINDINGS 1 shown"):])
        t.keys("f")
        t.wait(lambda s: " FINDINGS " not in s)
        self.quit(t)

    def test_help_screen(self):
        t = self.start()
        t.keys("?")
        s = t.wait("bpfdiag top - keys")
        for k in ("q            quit", "s / S", "/            filter", "n            filter by "
                  "namespace", "r            filter by Helm release", "Enter", "f            "
                  "findings panel"):
            self.assertIn(k, s)
        self.assertNotIn("node-exporter", s)
        t.keys("x")  # any key closes it
        t.wait("node-exporter")
        self.quit(t)

    def test_resize(self):
        t = self.start()
        title, _ = top_tmux.table(t.stable())
        self.assertIn("KIND", title)
        self.assertIn("RETR", title)
        t.resize(100, 30)
        s = t.wait(lambda s: "KIND" not in top_tmux.table(s)[0], what="a narrower table")
        title, rows = top_tmux.table(s)
        self.assertLessEqual(len(title.rstrip()), 100)
        self.assertIn("FINDINGS", title)
        self.assertNotIn("RETR", title)
        self.assertTrue(same_names(names(pod_rows(s)), expected_order("cpu")), s)
        # Cut in the middle: the replica suffix stays, so replicas never print alike.
        self.assertTrue(any("~-" in n for n in names(pod_rows(s))), s)
        self.assertIn("WK-05,RS-01", s)
        t.resize(200, 50)
        s = t.wait(lambda s: "KIND" in top_tmux.table(s)[0], what="the wide table again")
        self.assertIn("RETR", top_tmux.table(s)[0])
        self.quit(t)

    def test_colours_and_no_colour(self):
        t = self.start()
        s = t.stable(escapes=True)
        row = [l for l in s.splitlines() if "WK-05,RS-01" in l][0]
        # High severity: red and bold; the text itself says the same without colour.
        self.assertRegex(row, r"\x1b\[[0-9;]*31[;m].*WK-05,RS-01")
        self.quit(t)
        t2 = self.start(env={"NO_COLOR": "1"})
        s = t2.stable(escapes=True)
        row = [l for l in s.splitlines() if "WK-05,RS-01" in l][0]
        self.assertNotRegex(s, r"\x1b\[[0-9;]*3[1-7][;m]")
        self.assertRegex(row, r"\x1b\[[0-9;]*1[;m].*WK-05,RS-01")  # bold is the cue
        self.assertIn("DEGRADED", s)
        self.assertIn("1 HIGH", s)

    def test_agent_goes_away_and_partial_api(self):
        # No findings endpoint, no self-metrics: rows still show, the header says why.
        self.agent.docs.pop("/api/v1/findings")
        self.agent.docs.pop("/metrics")
        t = self.start()
        s = t.wait("findings unavailable: HTTP 404 from /api/v1/findings")
        self.assertIn("health unknown (HTTP 404 from /metrics)", s)
        self.assertTrue(all(r["FINDINGS"] == "-" for r in pod_rows(s)))
        self.agent.__exit__(None, None, None)
        s = t.wait("UNREACHABLE")
        self.assertEqual(names(pod_rows(s)), expected_order("cpu"))  # last data stays
        self.quit(t)

    def test_scrolling(self):
        # More pods and findings than fit: the selection scrolls the table, the panel scrolls.
        pods = [fake.pod("bulk", "p%02d" % i, "uid-%02d" % i, "Deployment", "w%02d" % i, "",
                         [fake.container("c", fake.hexid("%x" % (i % 16)), i,
                                         cpu=(100 - i) / 100)]) for i in range(80)]
        findings = [{"namespace": "bulk", "workload_kind": "Deployment",
                     "workload": "w%02d" % i, "helm_release": "", "rule": "RS-%02d" % i,
                     "severity": "medium", "suggested_kind": "", "message": "finding %02d" % i,
                     "evidence": {"n": i}, "since": "2024-05-01T00:00:00Z"} for i in range(40)]
        self.agent.set("/api/v1/pods", {"node": "big", "time": 0, "pods": pods})
        self.agent.set("/api/v1/findings", {"findings": findings})
        t = Tmux("--agent", self.agent.url, "--interval", "0.5", height=30)
        self.addCleanup(t.close)
        s = t.wait("p00")
        shown = names(pod_rows(s))
        self.assertEqual(shown[0], "p00")
        self.assertLess(len(shown), 80)
        self.assertNotIn("p79", s)
        t.keys("End")
        s = t.wait(lambda s: "p79" in s and "p00" not in s, what="the last pod")
        self.assertEqual(names(pod_rows(s))[-1], "p79")
        t.keys("PPage")
        s = t.wait(lambda s: "p79" not in s, what="a page up")
        t.keys("Home")
        t.wait(lambda s: "p00" in s and "p79" not in s, what="the first pod")
        t.keys("f")
        s = t.wait("FINDINGS 40 shown")
        self.assertIn("finding 00", s)
        self.assertNotIn("finding 39", s)
        t.keys(*["NPage"] * 20)
        s = t.wait(lambda s: "finding 39" in s and "finding 00" not in s,
                   what="the panel's end")
        t.keys("Up")
        t.keys(*["PPage"] * 30)
        t.wait(lambda s: "finding 00" in s, what="the panel's start")
        self.quit(t)

    def test_unknown_terminal_falls_back_to_text(self):
        t = Tmux("--agent", self.agent.url, "--interval", "0.5",
                 env={"TERM": "no-such-terminal"})
        self.addCleanup(t.close)
        s = t.wait("bpfdiag top - ", what="a plain-text table")
        self.assertIn("WK-05,RS-01", s)
        t.keys("C-c")
        s = t.wait("TOP-EXIT=")
        self.assertIn("TOP-EXIT=0", s)
        self.assertIn("cannot drive terminal 'no-such-terminal'; printing tables instead",
                      t.stderr())

    def test_quit_restores_terminal(self):
        for how in ("q", "C-c", "TERM"):
            t = self.start()
            if how == "TERM":
                os.kill(t.top_pid(), signal.SIGTERM)
                s = t.wait("TOP-EXIT=")
            else:
                s = self.quit(t, how)
            self.assertIn("TOP-EXIT=0", s, how)
            # The alternate screen is gone: what was there before is back, no table left.
            self.assertIn("BEFORE-TOP", s, how)
            self.assertNotIn("node-exporter", s, how)
            # Terminal modes (echo, canonical input) are as they were.
            self.assertEqual(t.stty("before"), t.stty("after"), how)
            self.assertEqual(t.stderr(), "", how)
            t.close()


class TopText(unittest.TestCase):
    def test_once_tables_and_json(self):
        with fake.FakeAgent() as agent:
            r = run("--once", "--agent", agent.url)
            self.assertEqual(r.returncode, 0, r)
            lines = r.stdout.splitlines()
            self.assertIn("node worker-7", lines[0])
            self.assertIn("agent " + agent.url, lines[0])
            self.assertIn("sort cpu", lines[0])
            self.assertRegex(lines[2], r"^agent DEGRADED: .*probes 4/5 up \(down: net\)")
            title = lines[3]
            self.assertEqual(title.split(), ["NAMESPACE", "POD", "KIND", "WORKLOAD", "CPU%",
                                             "RQP99", "DISK_R", "DISK_W", "IOPS", "FSYNC",
                                             "NET_RX", "NET_TX", "RETR", "MEM", "OOM", "REC",
                                             "RELEASE", "FINDINGS"])
            rows = [top_tmux.cells(title, l) for l in lines[4:8]]
            # Without a terminal no name is cut (issue 14: grep finds every pod).
            self.assertEqual([r["POD"] for r in rows], expected_order("cpu"))
            self.assertNotIn("~", "\n".join(lines[3:8]))
            self.assertEqual(rows[1]["FINDINGS"], "WK-05,RS-01")
            self.assertEqual(lines[8], "")
            # The findings table with messages and evidence, worst first.
            self.assertEqual(lines[9].split()[:3], ["SEV", "RULE", "NAMESPACE"])
            self.assertEqual(lines[10].split()[:3], ["HIGH", "WK-05", "shop"], lines[10])
            self.assertIn(fake.FINDINGS["findings"][0]["message"], lines[10])
            self.assertIn("evidence: pvc_write_bytes_per_second=41943040 fsync_per_second=42.5"
                          " listening_port=5432", lines[11])
            self.assertTrue(lines[12].startswith("MED  RS-01"), lines[12])

            for key in ("net", "disk", "fsync", "retrans", "name"):
                r = run("--once", "--sort", key, "--agent", agent.url)
                self.assertEqual(r.returncode, 0, r)
                got = [l.split()[1] for l in r.stdout.splitlines()[4:8]]
                self.assertEqual(got, expected_order(key), key)

            j = run("--once", "--json", "--agent", agent.url)
            self.assertEqual(j.returncode, 0, j)
            doc = json.loads(j.stdout)
            self.assertEqual(doc["source"], "agent " + agent.url)
            self.assertEqual([p["uid"] for p in doc["pods"]],
                             [p["uid"] for p in fake.PODS["pods"]])
            self.assertEqual(doc["findings"], fake.FINDINGS["findings"])

    def test_without_tty_repeats_tables(self):
        with fake.FakeAgent() as agent:
            p = subprocess.Popen([e2e.BIN, "top", "--interval", "0.3", "--agent", agent.url],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, text=True)
            # Three tables at 0.3 s take about a second; wait for them to be printed (read as
            # they come) rather than a fixed time a slow start could outlast.
            head, deadline = [], time.monotonic() + 30
            while min("".join(head).count(x) for x in ("bpfdiag top - ", "orders-db-7f8b9-xyz12 "))\
                    < 3 and time.monotonic() < deadline:
                if not select.select([p.stdout], [], [], 1.0)[0]:
                    continue  # nothing printed yet: look at the deadline again
                line = p.stdout.readline()
                if not line:
                    break
                head.append(line)
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=15)
            out = "".join(head) + out
            self.assertEqual(p.returncode, 0, err)
            self.assertGreaterEqual(out.count("bpfdiag top - "), 3, out)
            self.assertGreaterEqual(out.count("orders-db-7f8b9-xyz12 "), 3)
            self.assertNotIn("\x1b", out)  # plain text: no terminal control sequences

    def test_bad_documents(self):
        with fake.FakeAgent() as agent:
            agent.set("/api/v1/pods", "{\"not\": \"pods\"}")
            # Not an agent: without root it cannot fall back, with root it collects itself;
            # either way it never shows the bogus document as pods.
            r = run("--once", "--interval", "0.2", "--agent", agent.url)
            if r.returncode == 0:
                self.assertIn("in-process collector (no agent at %s)" % agent.url, r.stdout)
            else:
                self.assertEqual(r.returncode, 2)
                self.assertIn("not a pods document", r.stderr)


if __name__ == "__main__":
    top_tmux.require_tmux()
    unittest.main(verbosity=2)
