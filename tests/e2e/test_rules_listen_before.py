"""WK-05 and RL-01 for servers that were already listening when the agent started, as on a real
node where the agent is installed or restarted while databases run (test_rules_workloads starts
its workloads after the agent; here every process starts before it):

  WK-05  shop/orders-db      Deployment, listens, PVC writes 2.5 MiB/s + 20 fsync/s → WK-05
  RL-01  shop/payments-api   Deployment, listens, no readinessProbe, serves ops/loadgen → RL-01

Both listeners are only known from /proc (docs/COLLECTORS.md, "Listeners that predate the
probes"): without seeding neither rule can fire."""
import os
import socket
import sys
import time
import unittest
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(__file__))
import bpfdiag_e2e as e2e  # noqa: E402
import fake_kube_api as fk  # noqa: E402
import kube_e2e as ke  # noqa: E402
from rules_e2e import KiB, Cluster, findings, free_port, rules_agent, wait_until  # noqa: E402

WINDOW = 5.0
RULES_CONFIG = {"RS-06": {"enabled": False}}


def listening(ip, port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class RulesListenBefore(unittest.TestCase):
    def test_servers_listening_before_the_agent(self):
        with ExitStack() as stack:
            api = stack.enter_context(fk.FakeKubeApi(node=ke.NODE))
            c = Cluster(api, stack)
            c.pvc("shop", "orders-db-data")
            odb = c.workload("Deployment", "orders-db", "shop")
            pod = c.pod(odb, volumes=[{"name": "data", "persistentVolumeClaim": {
                "claimName": "orders-db-data"}}], pv="pvc-orders-db")
            db_ip, db_port = pod.ip, free_port(pod.ip)
            pod.workload(listen=[db_ip, db_port], write=[dict(
                name="wal", path="/data/wal.log", chunk=128 * KiB, every=0.05, fsync=True)])
            pay = c.workload("Deployment", "payments-api", "shop")
            pod = c.pod(pay, readiness=False)
            pay_ip, pay_port = pod.ip, free_port(pod.ip)
            pod.workload(listen=[pay_ip, pay_port])
            lg = c.pod(c.workload("Deployment", "loadgen", "ops"))
            lg.workload(connect=dict(src=lg.ip, targets=[[pay_ip, pay_port]], every=0.1))
            c.launch()
            self.assertTrue(listening(db_ip, db_port), "orders-db does not listen")
            self.assertTrue(listening(pay_ip, pay_port), "payments-api does not listen")

            agent = rules_agent(stack, api, RULES_CONFIG, WINDOW)

            def ev(ns, name, rule):
                for f in findings(agent):
                    if (f["namespace"], f["workload"], f["rule"]) == (ns, name, rule):
                        return f
                return None
            wk05 = wait_until(lambda: ev("shop", "orders-db", "WK-05"), 60,
                              "WK-05 for shop/orders-db", agent)
            rl01 = wait_until(lambda: ev("shop", "payments-api", "RL-01"), 60,
                              "RL-01 for shop/payments-api", agent)
            self.assertEqual(wk05["evidence"]["listening_port"], db_port)
            self.assertEqual(rl01["evidence"]["listening_port"], pay_port)
            m = agent.metrics()
            for name in ("orders-db", "payments-api"):
                self.assertEqual(e2e.metric_value(m, "bpfdiag_tcp_listening_sockets",
                                                  namespace="shop", workload=name), 1, name)
            self.assertIsNone(ev("ops", "loadgen", "RL-01"))


if __name__ == "__main__":
    e2e.require_root()
    unittest.main(verbosity=2)
