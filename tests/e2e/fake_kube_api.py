"""A fake Kubernetes API server for tests (Python stdlib only, threaded, loopback only).

It serves what bpfdiag asks for, in the shapes a real API server uses:
  GET /api/v1/pods?fieldSelector=spec.nodeName=N[&limit&continue]    PodList (paged)
  GET /api/v1/pods?...&watch=1&resourceVersion=R&allowWatchBookmarks  chunked watch stream
  GET /apis/apps/v1/namespaces/NS/{deployments,replicasets,statefulsets,daemonsets}/NAME
  GET /apis/batch/v1/namespaces/NS/{jobs,cronjobs}/NAME
  GET /api/v1/namespaces/NS/persistentvolumeclaims/NAME
  GET /apis/policy/v1/namespaces/NS/poddisruptionbudgets              PodDisruptionBudgetList
  GET /apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers      HorizontalPodAutoscalerList
  GET /api/v1[/namespaces/NS]/pods?labelSelector=K=V,...              PodList, every node
  GET /api/v1/namespaces/NS/pods/[https:]NAME:PORT/proxy/PATH         the pod proxy: forwarded
      to the loopback URL set with proxy_to (a 503 Status when nothing answers there)
Anything else is a 404 Status, as the API server answers.

Tests change its state (add_pod, modify_pod, delete_pod, put_object, bookmark) and every open
watch sees the events; a watch started later replays the events after its resourceVersion, or
gets an ERROR 410 event when that version was compacted away. Faults are queued per request
kind and consumed one per request (status codes, truncated/stalled/empty streams, 410s, events
that never end), raw bytes can be pushed into the open watches (truncated JSON, huge objects,
wrong types), and inband_gone makes every watch a 200 that says 410 Gone in an ERROR event."""
import copy
import json
import random
import re
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def now3339(offset=0):
    return time.strftime(RFC3339, time.gmtime(time.time() + offset))


def status(code, reason, message):
    """A metav1.Status as the API server sends with errors."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # As a real API server's: a client asking every agent at once opens a dozen connections;
    # socketserver's default backlog of 5 drops SYNs beyond it (retried only after a second).
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that gave up on a slow pod proxy (its timeout) is no error of the server.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeKubeApi:
    def __init__(self, node="test-node", token=None, page_size=None, tls=None, client_ca=None):
        self.node = node
        self.tls = tls  # (certfile, keyfile): serve https
        self.client_ca = client_ca  # with tls: require a client certificate signed by it
        self.proxies = {}  # (namespace, pod) -> loopback base URL the pod proxy forwards to
        self.token = token  # when set, requests without "Bearer <token>" get 401
        self.page_size = page_size  # server-side cap on list pages (None: honour limit)
        self.cond = threading.Condition()
        self.rv = 1000
        self.oldest_rv = 1000  # watches from before this get 410 Gone
        self.pods = {}  # uid -> pod
        self.objects = {}  # path -> object (GETs)
        self.log = []  # stream entries: {"seq", "rv", "data": [bytes], "raw": bool}
        self.seq = 0
        self.requests = []  # (kind, path, query, headers)
        self.faults = {"list": [], "watch": [], "get": [], "select": [], "proxy": []}
        self.tls_failures = 0  # handshakes the client gave up on
        self.watchers = 0  # watch connections open
        self.live = 0  # watches streaming events (past replay and faults)
        self.end_gen = 0  # bumping it ends the open watches
        self.end_abrupt = False
        self.closing = False
        self.server = None
        self.thread = None
        self.port = None
        self.split_events = True  # deliver each event in several chunks
        self.bookmark_every = None  # seconds: periodic BOOKMARKs on quiet watches, as the
        # API server sends them when allowWatchBookmarks is set
        self.inband_gone = False  # every watch: 200, a BOOKMARK, then ERROR 410, then the end
        self.endless_sent = []  # bytes each "endless" watch sent before the client left

    # ---- lifecycle ----

    def start(self, port=0):
        self.closing = False
        for _ in range(50):
            try:
                self.server = _Server(("127.0.0.1", port), self._handler())
                break
            except OSError:
                if not port:
                    raise
                time.sleep(0.1)  # the old socket of a restart is still closing
        else:
            raise RuntimeError("cannot bind 127.0.0.1:%d" % port)
        self.port = self.server.server_address[1]
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            if self.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(self.client_ca)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Closes the listening socket and every open connection (watches end abruptly)."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None
        deadline = time.time() + 5
        while self.watchers and time.time() < deadline:
            time.sleep(0.02)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    # ---- state ----

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def _chunks(self, data):
        if not self.split_events or len(data) < 8:
            return [data]
        cuts = sorted(random.sample(range(1, len(data)), min(3, len(data) - 1)))
        return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]

    def _post(self, rv, data, raw=False):
        self.seq += 1
        self.log.append({"seq": self.seq, "rv": rv, "data": self._chunks(data), "raw": raw})
        self.cond.notify_all()

    def _event(self, type_, obj):
        line = json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n"
        self._post(int(obj["metadata"]["resourceVersion"]), line.encode())

    def add_pod(self, pod):
        with self.cond:
            pod = copy.deepcopy(pod)
            pod["metadata"]["resourceVersion"] = self._next_rv()
            self.pods[pod["metadata"]["uid"]] = pod
            self._event("ADDED", pod)
        return pod

    def modify_pod(self, uid, fn):
        with self.cond:
            pod = copy.deepcopy(self.pods[uid])
            fn(pod)
            pod["metadata"]["resourceVersion"] = self._next_rv()
            self.pods[uid] = pod
            self._event("MODIFIED", pod)
        return pod

    def delete_pod(self, uid):
        with self.cond:
            pod = self.pods.pop(uid)
            pod["metadata"]["resourceVersion"] = self._next_rv()
            pod["metadata"]["deletionTimestamp"] = now3339()
            self._event("DELETED", pod)

    def bookmark(self):
        with self.cond:
            rv = self._next_rv()
            self._event("BOOKMARK", {"kind": "Pod", "apiVersion": "v1",
                                     "metadata": {"resourceVersion": rv}})

    def compact(self):
        """Forgets history: watches from an older resourceVersion get 410 Gone."""
        with self.cond:
            self.oldest_rv = self.rv

    def proxy_to(self, ns, pod, url):
        """The pod proxy of ns/pod forwards to url (http://127.0.0.1:PORT); None: to nowhere."""
        with self.cond:
            self.proxies[(ns, pod)] = url

    def put_object(self, path, obj):
        with self.cond:
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = self._next_rv()
            self.objects[path] = obj

    def push_raw(self, data):
        """Bytes for the open watches only (not replayed): hostile stream content."""
        with self.cond:
            self._post(None, data if isinstance(data, bytes) else data.encode(), raw=True)

    def end_watches(self, abrupt=False):
        """Ends the open watches: cleanly (terminating chunk, as at timeoutSeconds) or
        abruptly (the connection drops mid-stream)."""
        with self.cond:
            self.end_gen += 1
            self.end_abrupt = abrupt
            self.cond.notify_all()

    def fault(self, kind, action, **kw):
        """Queues a misbehaviour for the next request of kind list/watch/get (get: only
        paths containing kw['match'] when given). Actions: status (kw code), truncate, stall,
        empty, gone_event, garbage, endless (an event that never ends: kw chunk bytes every
        kw interval seconds, for at most kw seconds), whitespace (newlines between events,
        one every kw interval seconds, for at most kw seconds)."""
        with self.cond:
            self.faults[kind].append(dict(kw, action=action))

    def count(self, kind, contains=""):
        with self.cond:
            return sum(1 for k, p, q, h in self.requests if k == kind and contains in p)

    def wait_watchers(self, n=1, timeout=30):
        """Waits until n watches are live: what push_raw sends reaches them. (A watch comes
        within a second or two of a start or a fault here; 30 s is for a loaded CI machine.)"""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.live >= n:
                return
            time.sleep(0.02)
        raise AssertionError("no watch connected")

    def _take_fault(self, kind, path):
        with self.cond:
            for i, f in enumerate(self.faults[kind]):
                if f.get("match", "") in path:
                    return self.faults[kind].pop(i)
        return None

    # ---- HTTP ----

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                self.tls_failed = False
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.settimeout(5)
                    try:
                        self.request.do_handshake()  # in this thread, not the accept loop
                    except (ssl.SSLError, OSError):
                        self.tls_failed = True
                        with api.cond:
                            api.tls_failures += 1
                    self.request.settimeout(None)
                super().setup()

            def handle(self):
                if not self.tls_failed:
                    super().handle()

            def send_json(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                kind = ("watch" if q.get("watch") in ("1", "true") else "list") \
                    if u.path == "/api/v1/pods" else "get"
                m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", u.path)
                if m or (kind == "list" and "labelSelector" in q):
                    kind = "select"
                proxy = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/(https:)?([^/:]+):(\d+)"
                                     r"/proxy(/.*)", u.path)
                if proxy:
                    kind = "proxy"
                with api.cond:
                    api.requests.append((kind, u.path, q, dict(self.headers)))
                if api.token and self.headers.get("Authorization") != "Bearer " + api.token:
                    return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
                f = api._take_fault(kind, u.path)
                if f and f["action"] == "status":
                    return self.send_json(f["code"], status(f["code"], f.get("reason", "Fault"),
                                                            f.get("message", "injected")))
                if kind == "select":
                    return self.select_pods(m.group(1) if m else None, q)
                if kind == "proxy":
                    return self.proxy(*proxy.groups(), u.query)
                if kind == "list":
                    return self.list_pods(q)
                if kind == "watch":
                    return self.watch(q, f)
                obj = api.objects.get(u.path)
                if obj is None:
                    return self.send_json(404, status(404, "NotFound", "%s not found" % u.path))
                if isinstance(obj, bytes):  # hostile body
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(obj)))
                    self.end_headers()
                    return self.wfile.write(obj)
                return self.send_json(200, obj)

            def list_pods(self, q):
                if q.get("fieldSelector") != "spec.nodeName=" + api.node:
                    return self.send_json(400, status(400, "BadRequest", "want a node selector"))
                with api.cond:
                    pods = sorted(api.pods.values(), key=lambda p: p["metadata"]["name"])
                    rv = str(api.rv)
                    limit = int(q.get("limit", "0")) or len(pods) or 1
                    if api.page_size:
                        limit = min(limit, api.page_size)
                    start = int(q.get("continue", "0") or 0)
                    page = copy.deepcopy(pods[start:start + limit])
                meta = {"resourceVersion": rv}
                if start + limit < len(pods):
                    meta["continue"] = str(start + limit)
                self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                                     "items": page})

            def select_pods(self, ns, q):
                want = dict(kv.split("=", 1) for kv in q.get("labelSelector", "").split(",")
                            if "=" in kv)
                with api.cond:
                    pods = [copy.deepcopy(p) for p in api.pods.values()
                            if (ns is None or p["metadata"]["namespace"] == ns)
                            and all(p["metadata"].get("labels", {}).get(k) == v
                                    for k, v in want.items())]
                pods.sort(key=lambda p: p["metadata"]["name"])
                self.send_json(200, {"kind": "PodList", "apiVersion": "v1",
                                     "metadata": {"resourceVersion": str(api.rv)},
                                     "items": pods})

            def proxy(self, ns, https, name, port, rest, query):
                """As the API server: 404 for an unknown pod, 503 when the pod's port does not
                answer, else the pod's answer as it is."""
                with api.cond:
                    known = any(p["metadata"]["namespace"] == ns
                                and p["metadata"]["name"] == name for p in api.pods.values())
                    target = api.proxies.get((ns, name))
                if not known:
                    return self.send_json(404, status(404, "NotFound",
                                                      'pods "%s" not found' % name))
                msg = "error trying to reach service: dial tcp 10.244.0.9:%s: connect: " \
                      "connection refused" % port
                if not target:
                    return self.send_json(503, status(503, "ServiceUnavailable", msg))
                try:
                    with urllib.request.urlopen(target + rest + ("?" + query if query else ""),
                                                timeout=5) as r:
                        code, body = r.status, r.read()
                except urllib.error.HTTPError as e:
                    code, body = e.code, e.read()
                except OSError:
                    return self.send_json(503, status(503, "ServiceUnavailable", msg))
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def watch(self, q, f):
                try:
                    since = int(q.get("resourceVersion", "0"))
                except ValueError:
                    return self.send_json(400, status(400, "BadRequest", "bad resourceVersion"))
                if f and f["action"] == "http_gone":
                    return self.send_json(410, status(410, "Expired", "too old resource version"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                with api.cond:
                    api.watchers += 1
                try:
                    self.stream(since, f)
                except OSError:
                    pass
                finally:
                    with api.cond:
                        api.watchers -= 1
                    self.close_connection = True

            def stream(self, since, f):
                action = f and f["action"]
                if action == "empty":
                    return self.wfile.write(b"0\r\n\r\n")
                if action == "garbage":
                    self.chunk(b"this is not json\n")
                    return self.wfile.write(b"0\r\n\r\n")
                if action == "truncate":
                    ev = json.dumps({"type": "ADDED", "object": {"kind": "Pod", "metadata": {
                        "name": "half", "namespace": "x", "uid": "0000"}}})
                    self.chunk(ev[:len(ev) // 2].encode())
                    return  # connection closes without the terminating chunk
                if action == "stall":
                    deadline = time.time() + f.get("seconds", 30)
                    while time.time() < deadline and not api.closing:
                        time.sleep(0.05)
                    return
                if action in ("endless", "whitespace"):
                    return self.trickle(f)
                if api.inband_gone:
                    rv = str(api.rv)
                    self.chunk(json.dumps({"type": "BOOKMARK", "object": {
                        "kind": "Pod", "apiVersion": "v1",
                        "metadata": {"resourceVersion": rv}}}).encode() + b"\n")
                    ev = {"type": "ERROR", "object": status(
                        410, "Expired", "too old resource version: %s (%s)" % (since, rv))}
                    self.chunk((json.dumps(ev) + "\n").encode())
                    return self.wfile.write(b"0\r\n\r\n")
                if action == "gone_event" or since < api.oldest_rv:
                    ev = {"type": "ERROR", "object": status(
                        410, "Expired", "too old resource version: %d (%d)" % (since, api.rv))}
                    self.chunk((json.dumps(ev) + "\n").encode())
                    return self.wfile.write(b"0\r\n\r\n")
                with api.cond:
                    start_seq = api.seq
                    end_gen = api.end_gen
                    pending = [e for e in api.log if not e["raw"] and e["rv"] > since]
                    api.live += 1
                try:
                    self.follow(pending, start_seq, end_gen)
                finally:
                    with api.cond:
                        api.live -= 1

            def trickle(self, f):
                """An event that never ends (or whitespace that never becomes one), sent
                until the client leaves, the server closes or f['seconds'] pass."""
                sent = 0
                endless = f["action"] == "endless"
                piece = b"x" * f.get("chunk", 1) if endless else b"\n"
                deadline = time.time() + f.get("seconds", 60)
                try:
                    if endless:
                        head = b'{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"'
                        self.chunk(head)
                        sent += len(head)
                    while time.time() < deadline and not api.closing:
                        self.chunk(piece)
                        sent += len(piece)
                        if f.get("interval"):
                            time.sleep(f["interval"])
                finally:
                    with api.cond:
                        api.endless_sent.append(sent)

            def follow(self, pending, cursor, end_gen):
                last = time.time()
                while True:
                    for e in pending:
                        for part in e["data"]:
                            self.chunk(part)
                        last = time.time()
                    pending = []
                    if api.bookmark_every and time.time() - last >= api.bookmark_every:
                        self.chunk(json.dumps({"type": "BOOKMARK", "object": {
                            "kind": "Pod", "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(api.rv)}}}).encode() + b"\n")
                        last = time.time()
                    with api.cond:
                        if not api.closing and api.seq == cursor and api.end_gen == end_gen:
                            api.cond.wait(0.1)
                        if not api.closing and api.seq == cursor and api.end_gen == end_gen:
                            continue
                        if api.closing or (api.end_gen != end_gen and api.end_abrupt):
                            return  # abrupt: as if the server went away
                        if api.end_gen != end_gen:
                            break
                        pending = [e for e in api.log if e["seq"] > cursor]
                        cursor = api.seq
                self.wfile.write(b"0\r\n\r\n")

        return Handler


# ---- object builders: the shapes real clusters produce (kubectl get -o json) ----

def _managed_fields(manager, op="Update"):
    return [{"manager": manager, "operation": op, "apiVersion": "v1", "time": now3339(-60),
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                          "f:spec": {"f:containers": {'k:{"name":"app"}': {
                              ".": {}, "f:image": {}, "f:name": {},
                              "f:resources": {"f:limits": {".": {}, "f:cpu": {}}}}}}}}]


def owner_ref(kind, name, api_version):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": str(_uuid()),
            "controller": True, "blockOwnerDeletion": True}


def _uuid():
    import uuid
    return uuid.uuid4()


def pod(name, ns, uid, containers, node="test-node", owner=None, labels=None, annotations=None,
        init_containers=(), qos="Burstable", volumes=(), ip="10.244.1.23", runtime="containerd"):
    """containers / init_containers: [(name, container id or None)]; a None id is a container
    that has not started (waiting, no containerID)."""
    def spec_c(cname, i):
        return {"name": cname, "image": "registry.example/%s:1.%d" % (cname, i),
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080 + i, "name": "http", "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + i,
                                               "scheme": "HTTP"},
                                   "periodSeconds": 10, "timeoutSeconds": 1,
                                   "successThreshold": 1, "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": True,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}

    def status_c(cname, cid, i, init):
        st = {"name": cname, "image": "registry.example/%s:1.%d" % (cname, i),
              "imageID": "registry.example/%s@sha256:%s" % (cname, "ab" * 32),
              "ready": not init and cid is not None, "restartCount": 0,
              "started": not init and cid is not None, "lastState": {}}
        if cid is None:
            st["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif init:
            st["state"] = {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": now3339(-120), "finishedAt": now3339(-110),
                                          "containerID": "%s://%s" % (runtime, cid)}}
        else:
            st["state"] = {"running": {"startedAt": now3339(-100)}}
        if cid is not None:
            st["containerID"] = "%s://%s" % (runtime, cid)
        return st

    meta = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": "1",
            "creationTimestamp": now3339(-130), "labels": dict(labels or {}),
            "annotations": dict(annotations or {}), "managedFields": _managed_fields("kubelet")}
    if owner:
        meta["ownerReferences"] = [owner]
        meta["generateName"] = owner["name"] + "-"
    vols = [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt",
                                                               "path": "ca.crt"}]}}]}}]
    vols += list(volumes)
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {
            "volumes": vols,
            "initContainers": [spec_c(c, i) for i, (c, _) in enumerate(init_containers)],
            "containers": [spec_c(c, i) for i, (c, _) in enumerate(containers)],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "serviceAccount": "default", "nodeName": node, "securityContext": {},
            "schedulerName": "default-scheduler", "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                            "lastTransitionTime": now3339(-100)}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "hostIP": "192.168.49.2", "hostIPs": [{"ip": "192.168.49.2"}],
            "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now3339(-125),
            "initContainerStatuses": [status_c(c, cid, i, True)
                                      for i, (c, cid) in enumerate(init_containers)],
            "containerStatuses": [status_c(c, cid, i, False)
                                  for i, (c, cid) in enumerate(containers)],
            "qosClass": qos,
        },
    }


def _workload_meta(name, ns, labels=None, annotations=None, owner=None):
    meta = {"name": name, "namespace": ns, "uid": str(_uuid()), "generation": 1,
            "creationTimestamp": now3339(-3600), "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
            "managedFields": _managed_fields("helm", "Update")}
    if owner:
        meta["ownerReferences"] = [owner]
    return meta


def helm_meta(release, ns, chart):
    """Labels and annotations Helm 3 puts on what it installs."""
    return ({"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": release,
             "helm.sh/chart": chart},
            {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns})


def _template(labels, containers=("app",)):
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": c, "image": "registry.example/%s:1.0" % c}
                                    for c in containers]}}


def deployment(name, ns, replicas=2, labels=None, annotations=None, strategy="RollingUpdate"):
    """strategy None: no spec.strategy at all (as a client that relies on the default sends
    it; a real API server would fill in RollingUpdate)."""
    obj = _deployment(name, ns, replicas, labels, annotations, strategy)
    if strategy is None:
        del obj["spec"]["strategy"]
    return obj


def _deployment(name, ns, replicas, labels, annotations, strategy):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _workload_meta(name, ns, labels, annotations),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": strategy, "rollingUpdate": {
                         "maxSurge": "25%", "maxUnavailable": "25%"}} if strategy ==
                     "RollingUpdate" else {"type": strategy},
                     "template": _template({"app": name}), "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600},
            "status": {"observedGeneration": 1, "replicas": replicas,
                       "readyReplicas": replicas, "availableReplicas": replicas}}


def statefulset(name, ns, replicas=3, service="", claims=(), labels=None, annotations=None,
                owner=None):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": _workload_meta(name, ns, labels, annotations, owner),
            "spec": {"replicas": replicas, "serviceName": service,
                     "selector": {"matchLabels": {"app": name}},
                     "template": _template({"app": name}),
                     "volumeClaimTemplates": [
                         {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                          "metadata": {"name": c},
                          "spec": {"accessModes": ["ReadWriteOnce"],
                                   "resources": {"requests": {"storage": "10Gi"}},
                                   "volumeMode": "Filesystem"}} for c in claims],
                     "podManagementPolicy": "OrderedReady",
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"partition": 0}}},
            "status": {"replicas": replicas, "readyReplicas": replicas}}


def daemonset(name, ns, labels=None, annotations=None):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": _workload_meta(name, ns, labels, annotations),
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": _template({"app": name}),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxUnavailable": 1, "maxSurge": 0}}},
            "status": {"currentNumberScheduled": 3, "desiredNumberScheduled": 3}}


def job(name, ns, owner=None):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": _workload_meta(name, ns, owner=owner),
            "spec": {"parallelism": 1, "completions": 1, "backoffLimit": 6,
                     "template": _template({"job-name": name})},
            "status": {"active": 1, "startTime": now3339(-60)}}


def cronjob(name, ns, schedule="*/5 * * * *", labels=None, annotations=None):
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": _workload_meta(name, ns, labels, annotations),
            "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid", "suspend": False,
                     "jobTemplate": {"spec": {"template": _template({})}},
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1},
            "status": {"lastScheduleTime": now3339(-60)}}


def pvc(name, ns, modes=("ReadWriteOnce",), storage_class="standard", volume_name=None):
    """volume_name: the bound PV (spec.volumeName); a random one when None."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns, "uid": str(_uuid()),
                         "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
                         "finalizers": ["kubernetes.io/pvc-protection"]},
            "spec": {"accessModes": list(modes), "storageClassName": storage_class,
                     "resources": {"requests": {"storage": "10Gi"}},
                     "volumeName": volume_name or "pvc-" + str(_uuid()),
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "accessModes": list(modes),
                       "capacity": {"storage": "10Gi"}}}


def pdb_list(ns, items):
    """items: [(name, matchLabels, minAvailable)]"""
    return {"kind": "PodDisruptionBudgetList", "apiVersion": "policy/v1",
            "metadata": {"resourceVersion": "1"},
            "items": [{"metadata": {"name": n, "namespace": ns, "uid": str(_uuid())},
                       "spec": {"minAvailable": m, "selector": {"matchLabels": sel}},
                       "status": {"currentHealthy": 1, "desiredHealthy": 1,
                                  "disruptionsAllowed": 0, "expectedPods": 1}}
                      for n, sel, m in items]}


def hpa_list(ns, items):
    """items: [(name, target kind, target name, min, max)]"""
    return {"kind": "HorizontalPodAutoscalerList", "apiVersion": "autoscaling/v2",
            "metadata": {"resourceVersion": "1"},
            "items": [{"metadata": {"name": n, "namespace": ns, "uid": str(_uuid())},
                       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": k,
                                                   "name": t},
                                "minReplicas": lo, "maxReplicas": hi,
                                "metrics": [{"type": "Resource", "resource": {
                                    "name": "cpu", "target": {"type": "Utilization",
                                                              "averageUtilization": 80}}}]},
                       "status": {"currentReplicas": lo, "desiredReplicas": lo}}
                      for n, k, t, lo, hi in items]}


def agent_pod(name, ns, node, uid, phase="Running", port=9810, release="bpfdiag", tls=False):
    """An agent pod of the chart (charts/bpfdiag/templates/daemonset.yaml): its labels, its
    port named metrics, --tls-cert among its arguments when it serves https."""
    labels = {"app.kubernetes.io/name": "bpfdiag", "app.kubernetes.io/instance": release,
              "app.kubernetes.io/component": "agent", "app.kubernetes.io/part-of": "bpfdiag",
              "app.kubernetes.io/managed-by": "Helm"}
    args = ["agent", "--listen=0.0.0.0:%d" % port]
    if tls:
        args.append("--tls-cert=/etc/bpfdiag/tls/tls.crt")
    return {"metadata": {"name": name, "namespace": ns, "uid": uid, "labels": labels},
            "spec": {"nodeName": node, "containers": [
                {"name": "agent", "args": args,
                 "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
            "status": {"phase": phase}}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
