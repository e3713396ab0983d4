"""The command line: subcommand dispatch, --help, one clear line and exit 2 for bad input,
HTTP endpoints and their 404s, top and check against a running agent."""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402


def run(*args, timeout=30):
    return subprocess.run([e2e.BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout)


class Cli(unittest.TestCase):
    def assert_usage_error(self, r, needle):
        self.assertEqual(r.returncode, 2, r)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])

    def test_dispatch_and_help(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ("agent", "top", "check", "version"):
            self.assertIn(cmd, r.stdout)
            h = run(cmd, "--help")
            self.assertEqual(h.returncode, 0, h)
            self.assertIn("Usage: bpfdiag " + cmd, h.stdout)
        v = run("version")
        self.assertEqual(v.returncode, 0)
        self.assertRegex(v.stdout, r"^bpfdiag \d+\.\d+\.\d+ ")
        self.assertEqual(run().returncode, 2)

    def test_bad_input_exits_2_with_one_line(self):
        self.assert_usage_error(run("frobnicate"), "unknown command 'frobnicate'")
        self.assert_usage_error(run("agent", "--bogus"), "unknown option '--bogus'")
        self.assert_usage_error(run("agent", "--interval"), "needs a value")
        self.assert_usage_error(run("agent", "--interval", "-3"), "bad --interval")
        self.assert_usage_error(run("agent", "--listen", "nonsense"), "bad listen address")
        self.assert_usage_error(run("agent", "--log-level", "loud"), "bad --log-level")
        self.assert_usage_error(run("agent", "--proc-root", "/nonexistent"), "--proc-root")
        self.assert_usage_error(run("agent", "--kube-api", "ftp://example.invalid"), "--kube-api")
        self.assert_usage_error(run("agent", "--kube-api", "http://"), "bad --kube-api")
        self.assert_usage_error(run("agent", "--kube-api", "http://127.0.0.1:1",
                                    "--kube-token-file", "/nonexistent"), "--kube-token-file")
        self.assert_usage_error(run("agent", "--kube-api", "https://127.0.0.1:1",
                                    "--kube-ca-file", "/nonexistent"), "--kube-ca-file")
        self.assert_usage_error(run("agent", "--kube-stall-timeout", "0"), "bad --kube-stall-timeout")
        self.assert_usage_error(run("top", "--sort", "bogus"), "bad --sort")
        self.assert_usage_error(run("check", "--bogus"), "unknown option '--bogus'")
        self.assert_usage_error(run("version", "extra"), "unexpected argument")

    def test_port_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            r = run("agent", "--listen", "127.0.0.1:%d" % s.getsockname()[1])
            self.assert_usage_error(r, "address already in use")
        finally:
            s.close()

    def test_check_without_agent(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        r = run("check", "--agent", "http://127.0.0.1:%d" % port)
        self.assert_usage_error(r, "no agent answers")


class AgentEndpoints(unittest.TestCase):
    def test_endpoints_top_and_check(self):
        with e2e.FakePod() as pod, e2e.Agent("--interval", "0.5", "--pin-dir", "none") as agent:
            self.assertEqual(agent.get("/healthz"), (200, "ok\n"))
            self.assertEqual(agent.get("/readyz")[0], 200)
            self.assertEqual(agent.get("/nope")[0], 404)
            self.assertEqual(agent.get("/metricsx")[0], 404)
            p = pod.run([sys.executable, "-c", "import time\nend=time.process_time()+0.3\n"
                         "while time.process_time()<end: pass"])
            self.assertEqual(p.wait(timeout=30), 0)
            agent.wait_collections(2)

            status, body = agent.get("/api/v1/pods")
            self.assertEqual(status, 200)
            pods = json.loads(body)["pods"]
            mine = [x for x in pods if x["uid"] == pod.uid]
            self.assertEqual(len(mine), 1, pods)
            self.assertEqual(mine[0]["containers"][0]["id"], pod.container_id)
            self.assertEqual(mine[0]["containers"][0]["cgroup_path"], pod.rel)
            self.assertGreater(mine[0]["containers"][0]["cpu_seconds_total"], 0.25)

            url = "http://127.0.0.1:%d" % agent.port
            top = run("top", "--once", "--agent", url)
            self.assertEqual(top.returncode, 0, top)
            self.assertIn("agent " + url, top.stdout)
            self.assertIn(pod.container_id[-33:], top.stdout)
            for key in ("net", "disk", "fsync"):
                self.assertEqual(run("top", "--once", "--sort", key, "--agent", url).returncode,
                                 0)
            j = run("top", "--once", "--json", "--agent", url)
            self.assertEqual(j.returncode, 0, j)
            self.assertIn("pods", json.loads(j.stdout))

            c = run("check", "--agent", url)
            self.assertEqual(c.returncode, 0, c)
            self.assertEqual(c.stdout.strip(), "no findings")
            cj = run("check", "--json", "--agent", url)
            self.assertEqual(json.loads(cj.stdout), {"findings": []})

    def test_top_standalone_when_no_agent(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with e2e.FakePod() as pod:
            p = pod.run([sys.executable, "-c", "import time\nend=time.process_time()+3\n"
                         "while time.process_time()<end: pass"])
            try:
                r = run("top", "--once", "--interval", "1", "--agent",
                        "http://127.0.0.1:%d" % port)
            finally:
                p.kill()
                p.wait()
            self.assertEqual(r.returncode, 0, r)
            self.assertIn("in-process collector", r.stdout)
            line = [l for l in r.stdout.splitlines() if pod.container_id[-33:] in l]
            self.assertEqual(len(line), 1, r.stdout)
            # The burner ran for the whole second: tens of percent of a CPU at least.
            self.assertGreater(float(line[0].split()[4]), 20.0, line[0])


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
