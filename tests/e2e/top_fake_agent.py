"""A fake bpfdiag agent on loopback for `bpfdiag top` tests: serves /api/v1/pods,
/api/v1/findings and /metrics documents shaped like the real agent's (exporters/codec/api_json.c,
SPEC §6), including findings with evidence, which the real agent cannot produce until the
rules engine runs. Documents can be swapped while it serves."""
import http.server
import json
import threading
import time


def container(name, cid, cgroup_id, cpu=0.0, runq=0.0, disk_r=0.0, disk_w=0.0, iops=0.0,
              fs_w=0.0, fsync=0.0, rx=0.0, tx=0.0, retrans=0.0, ports=(), mem=0.0, ooms=0):
    return {
        "name": name, "id": cid, "cgroup_id": cgroup_id,
        "cgroup_path": "/kubepods.slice/kubepods-burstable.slice/cri-containerd-%s.scope" % cid,
        "cpu_seconds_total": cpu * 100, "cpu_cores": cpu, "runqueue_p99_seconds": runq,
        "disk_read_bytes_per_second": disk_r, "disk_write_bytes_per_second": disk_w,
        "disk_iops": iops, "fs_write_bytes_per_second": fs_w, "fsync_per_second": fsync,
        "network_receive_bytes_per_second": rx, "network_transmit_bytes_per_second": tx,
        "retransmits_per_second": retrans, "cgroups": 1, "listening_ports": list(ports),
        "peers": [], "memory_working_set_bytes": mem, "oom_kills_total": ooms,
    }


def pod(ns, name, uid, kind, workload, release, containers):
    return {"namespace": ns, "pod": name, "uid": uid, "workload_kind": kind,
            "workload": workload, "helm_release": release,
            "cpu_cores": sum(c["cpu_cores"] for c in containers), "containers": containers}


def hexid(c):
    return (c * 64)[:64]


# A node with a busy web tier, a database run as a Deployment (fsyncing into a PVC), a
# network-heavy cache and a quiet node agent.
PODS = {
    "node": "worker-7", "time": 0,
    "pods": [
        pod("shop", "web-6d9f7c-abcde", "11111111-1111-1111-1111-111111111111", "Deployment",
            "web", "shop", [
                container("nginx", hexid("a"), 101, cpu=0.85, runq=0.0042, rx=250000,
                          tx=1800000, ports=[80], mem=50 << 20),
                container("php", hexid("b"), 102, cpu=0.40, runq=0.0011, disk_r=4096,
                          mem=200 << 20),
            ]),
        pod("shop", "orders-db-7f8b9-xyz12", "22222222-2222-2222-2222-222222222222",
            "Deployment", "orders-db", "shop-db", [
                container("postgres", hexid("c"), 201, cpu=0.30, disk_w=41943040, iops=950,
                          fs_w=40000000, fsync=42.5, rx=90000, tx=50000, ports=[5432],
                          mem=900 << 20, ooms=2),
            ]),
        pod("payments", "cache-0", "33333333-3333-3333-3333-333333333333", "StatefulSet",
            "cache", "payments-cache", [
                container("redis", hexid("d"), 301, cpu=0.05, rx=90000000, tx=120000000,
                          retrans=3.5, ports=[6379], mem=10 << 20),
            ]),
        pod("kube-system", "node-exporter-q2w3e", "44444444-4444-4444-4444-444444444444",
            "DaemonSet", "node-exporter", "", [
                container("exporter", hexid("e"), 401, cpu=0.01, mem=400 << 20),
            ]),
    ],
}

FINDINGS = {"findings": [
    {"namespace": "shop", "workload_kind": "Deployment", "workload": "orders-db",
     "helm_release": "shop-db", "rule": "WK-05", "severity": "high",
     "suggested_kind": "StatefulSet",
     "message": "This Deployment fsyncs 40 MiB/s into a PVC and listens on 5432: make it a "
                "StatefulSet with a headless Service and a PodDisruptionBudget",
     "evidence": {"pvc_write_bytes_per_second": 41943040, "fsync_per_second": 42.5,
                  "listening_port": 5432},
     "since": "2024-05-01T10:00:00Z"},
    {"namespace": "shop", "workload_kind": "Deployment", "workload": "orders-db",
     "helm_release": "shop-db", "rule": "RS-01", "severity": "medium", "suggested_kind": "",
     "message": "container postgres has no memory limit",
     "evidence": {"memory_working_set_bytes": 1073741824}, "since": "2024-05-01T09:00:00Z"},
    {"namespace": "payments", "workload_kind": "StatefulSet", "workload": "cache",
     "helm_release": "payments-cache", "rule": "WK-07", "severity": "low",
     "suggested_kind": "Deployment",
     "message": "This StatefulSet writes nothing to its volumes and has no peers: a Deployment "
                "with an HPA fits it",
     "evidence": {"pvc_write_bytes_per_second": 0, "peer_connections": 0},
     "since": "2024-05-01T08:00:00Z"},
]}

METRICS = """# HELP bpfdiag_agent_collections_total Map collections completed.
# TYPE bpfdiag_agent_collections_total counter
bpfdiag_agent_collections_total 1234
# TYPE bpfdiag_agent_collection_errors_total counter
bpfdiag_agent_collection_errors_total 0
# TYPE bpfdiag_agent_collection_duration_seconds gauge
bpfdiag_agent_collection_duration_seconds 0.012
# TYPE bpfdiag_agent_probe_up gauge
bpfdiag_agent_probe_up{family="cpu"} 1
bpfdiag_agent_probe_up{family="disk"} 1
bpfdiag_agent_probe_up{family="fs"} 1
bpfdiag_agent_probe_up{family="net"} 0
bpfdiag_agent_probe_up{family="cgroup"} 1
# TYPE bpfdiag_agent_map_overflow_total counter
bpfdiag_agent_map_overflow_total{map="cpu"} 0
bpfdiag_agent_map_overflow_total{map="net_peers"} 7
"""


class FakeAgent:
    """Serves the documents above (or replacements) on 127.0.0.1 at a free port."""

    def __init__(self, pods=None, findings=None, metrics=None, live_time=True):
        self.live_time = live_time  # stamp the pods document with the time of each request
        self.docs = {"/api/v1/pods": json.dumps(pods or PODS),
                     "/api/v1/findings": json.dumps(findings if findings is not None
                                                    else FINDINGS),
                     "/metrics": metrics if metrics is not None else METRICS}
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(self.path)
                body = fake.docs.get(self.path)
                if self.path == "/api/v1/pods" and fake.live_time:
                    doc = json.loads(body)
                    doc["time"] = time.time()
                    body = json.dumps(doc)
                if body is None:
                    self.send_response(404)
                    body = "not found\n"
                else:
                    self.send_response(200)
                data = body.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def set(self, path, doc):
        self.docs[path] = doc if isinstance(doc, str) else json.dumps(doc)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False


if __name__ == "__main__":
    with FakeAgent() as a:
        print(a.url, flush=True)
        time.sleep(3600)
