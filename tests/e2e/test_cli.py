"""The command line: subcommand dispatch, --help, one clear line and exit 2 for bad input,
the option tables (every option in --help is one the parser takes, environment fallbacks),
HTTP endpoints and their 404s, top and check against a running agent, and check without one:
the pipeline in-process, a throttled pod's RS-02 reported with exit 1, a quiet host exit 0."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
from test_cpu_extras import Limit  # noqa: E402

# SPEC §2: the agent's options and the variables they read.
SPEC_AGENT_OPTIONS = ["listen", "node-name", "kube-api", "kube-token-file", "kube-ca-file",
                      "cgroup-root", "proc-root", "interval", "window", "warmup", "rules-config",
                      "otlp-endpoint", "otlp-interval", "pin-dir", "log-level"]
SPEC_AGENT_ENV = ["BPFDIAG_LISTEN", "NODE_NAME", "BPFDIAG_KUBE_API",
                  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT",
                  "OTEL_METRIC_EXPORT_INTERVAL"]
BURN = "import time\nend=time.time()+%f\nwhile time.time()<end: pass\n"


def run(*args, timeout=30, env=None, prefix=()):
    return subprocess.run(list(prefix) + [e2e.BIN] + list(args), capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, **env) if env else None)


def dead_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return "http://127.0.0.1:%d" % port


def help_options(cmd):
    """{option: takes a value} for every option a command's --help lists."""
    h = run(cmd, "--help")
    assert h.returncode == 0, h
    return {m.group(1): bool(m.group(2))
            for m in re.finditer(r"^  --([a-z-]+)( [^ ]+)?", h.stdout, re.M)}


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

    def test_check_without_agent_or_root(self):
        """Nothing answers and the in-process collector cannot load: one line, exit 2."""
        r = run("check", "--agent", dead_url(),
                prefix=["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "--bounding-set=-all"])
        self.assert_usage_error(r, "no agent answers")
        self.assertIn("the in-process collector cannot start", r.stderr)

    def test_option_tables(self):
        """--help and the parser come from one table: every option --help lists is one the
        parser takes (a value-taking one asks for its value, a flag runs up to --help); the
        SPEC's options and variables are all there; unknown options exit 2."""
        for cmd in ("agent", "top", "check"):
            opts = help_options(cmd)
            self.assertIn("\n  -h, --help ", run(cmd, "--help").stdout)
            for opt, valued in opts.items():
                if valued:
                    self.assert_usage_error(run(cmd, "--" + opt),
                                            "option '--%s' needs a value" % opt)
                else:
                    r = run(cmd, "--" + opt, "--help")
                    self.assertEqual(r.returncode, 0, (cmd, opt, r))
                    self.assertIn("Usage: bpfdiag " + cmd, r.stdout)
            self.assert_usage_error(run(cmd, "--no-such-option"),
                                    "unknown option '--no-such-option'")
        opts = help_options("agent")
        for opt in SPEC_AGENT_OPTIONS:
            self.assertIn(opt, opts)
        text = run("agent", "--help").stdout
        for var in SPEC_AGENT_ENV:
            self.assertIn(var, text)
        self.assertIn("--duration SEC", run("check", "--help").stdout)
        for opt in ("window", "warmup"):
            self.assertIn(opt, help_options("top"))

    def test_environment_fallbacks(self):
        """A variable stands in for its option; the command line wins over it."""
        self.assert_usage_error(run("agent", env={"BPFDIAG_LISTEN": "nonsense"}),
                                "bad listen address")
        r = run("agent", "--listen", "127.0.0.1:0", "--check-config",
                env={"BPFDIAG_LISTEN": "nonsense"})
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, "configuration OK\n")
        self.assert_usage_error(run("agent", "--check-config",
                                    env={"BPFDIAG_KUBE_API": "ftp://example.invalid"}),
                                "--kube-api")

    def test_fs_probe_choices(self):
        """--fs-probe takes the four variants (filesystem tracepoints by default) and off, and
        names them when given anything else; --net-probe likewise."""
        for v in ("auto", "filesystem", "syscalls", "raw", "off"):
            r = run("agent", "--listen", "127.0.0.1:0", "--check-config", "--fs-probe", v)
            self.assertEqual(r.returncode, 0, (v, r))
        self.assert_usage_error(run("agent", "--check-config", "--fs-probe", "kprobe"),
                                "auto, filesystem, syscalls, raw or off")
        for v in ("auto", "tracepoint", "cgroup-skb", "off"):
            r = run("agent", "--listen", "127.0.0.1:0", "--check-config", "--net-probe", v)
            self.assertEqual(r.returncode, 0, (v, r))
        self.assert_usage_error(run("agent", "--check-config", "--net-probe", "xdp"),
                                "auto, tracepoint, cgroup-skb or off")


class AgentEndpoints(unittest.TestCase):
    def test_fs_and_net_probes_off(self):
        """--fs-probe off and --net-probe off leave those families unloaded (no program of
        theirs runs: a measurement can tell their cost apart), the rest working."""
        with e2e.Agent("--interval", "0.5", "--pin-dir", "none", "--fs-probe", "off",
                       "--net-probe", "off") as agent:
            m = agent.metrics()
            for family in ("fs", "net"):
                self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_up", family=family),
                                 0, family)
            self.assertEqual(e2e.metric_value(m, "bpfdiag_agent_probe_up", family="cpu"), 1)
            self.assertIn("fs=off net=off", agent.logs())
            names = set()
            for i in e2e.prog_ids_of(agent.proc.pid):
                r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(i)],
                                   capture_output=True, text=True, check=True)
                names.add(json.loads(r.stdout).get("name", ""))
            self.assertIn("cpu_sched_switch", names)
            self.assertEqual({n for n in names if n.startswith(("fs_", "net_"))}, set())

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
        url = dead_url()
        with e2e.FakePod() as pod:
            # Busy until killed: a fixed 3 s burn could end before the in-process collector
            # (its programs loaded, on a slow machine) has watched it for its interval.
            p = pod.run([sys.executable, "-c", "while True: pass"])
            try:
                r = run("top", "--once", "--interval", "1", "--agent", url)
            finally:
                p.kill()
                p.wait()
            self.assertEqual(r.returncode, 0, r)
            self.assertIn("in-process collector", r.stdout)
            line = [l for l in r.stdout.splitlines() if pod.container_id[-33:] in l]
            self.assertEqual(len(line), 1, r.stdout)
            # The burner ran for the whole second: tens of percent of a CPU at least.
            self.assertGreater(float(line[0].split()[4]), 20.0, line[0])
            # In-process, the rules engine runs too: a findings table, not a note.
            self.assertNotIn("none in-process", r.stdout)
            # --json: the pods document with the source and the findings.
            p = pod.run([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"])
            try:
                j = run("top", "--once", "--json", "--interval", "0.5", "--agent", url)
            finally:
                p.kill()
                p.wait()
            self.assertEqual(j.returncode, 0, j)
            doc = json.loads(j.stdout)
            self.assertIn("in-process collector", doc["source"])
            self.assertIsInstance(doc["findings"], list)
            self.assertIn(pod.container_id, [c["id"] for p in doc["pods"]
                                             for c in p["containers"]])


class CheckInProcess(unittest.TestCase):
    """`bpfdiag check` with no agent runs the pipeline in-process. In local mode only RS-02
    and RS-06 can judge a cgroup; RS-06 (run-queue waits) depends on whatever else loads the
    machine, so these runs turn it off: what is left is deterministic."""

    def setUp(self):
        fd, self.config = tempfile.mkstemp(prefix="bpfdiag-check-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"RS-06": {"enabled": False}}, f)
        self.addCleanup(os.unlink, self.config)

    def check(self, proc):
        """The text report and the JSON document of two 5 s observations while proc runs."""
        try:
            return [run("check", "--agent", dead_url(), "--duration", "5", "--rules-config",
                        self.config, *args, timeout=60) for args in ([], ["--json"])]
        finally:
            proc.kill()
            proc.wait()

    def test_quiet_host_exits_0(self):
        with e2e.FakePod() as idle:
            r, j = self.check(idle.run(["sleep", "30"]))
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, "no findings\n")
        self.assertIn("observing this host in-process for 5s", r.stderr)
        self.assertEqual(j.returncode, 0, j)
        self.assertEqual(json.loads(j.stdout), {"findings": []})

    def test_throttled_pod_exits_1(self):
        with e2e.FakePod() as limited, Limit(limited, 0.2) as limit:
            r, j = self.check(limit.run([sys.executable, "-c", BURN % 30]))
        self.assertEqual(r.returncode, 1, r)
        mine = [l for l in r.stdout.splitlines()
                if l.startswith("RS-02 ") and "Container " + limited.container_id in l]
        self.assertEqual(len(mine), 1, r.stdout)
        self.assertIn("throttled_ratio=", r.stdout)
        self.assertIn("usage_of_limit=", r.stdout)
        self.assertEqual(j.returncode, 1, j)
        f = [x for x in json.loads(j.stdout)["findings"]
             if x["rule"] == "RS-02" and x["workload"] == limited.container_id]
        self.assertEqual(len(f), 1, j.stdout)
        self.assertGreater(f[0]["evidence"]["throttled_ratio"], 0.25)
        self.assertEqual(f[0]["workload_kind"], "Container")


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
