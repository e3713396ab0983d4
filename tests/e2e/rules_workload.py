"""A configurable workload for the rules e2e tests, run inside a fake pod's cgroup (and its
mount namespace): file writers with or without fsync, file readers, a TCP listener that answers each
connection, a client that connects to a list of peers from its own pod IP, and a CPU burner.
Configuration is one JSON argument:

  {"write": [{"name": "db", "path": P, "chunk": BYTES, "every": SEC, "fsync": bool,
              "wrap": BYTES}],
   "read": [{"name": "db", "path": P, "size": BYTES, "chunk": BYTES, "every": SEC}],
   "listen": [IP, PORT],
   "connect": {"src": IP, "targets": [[IP, PORT], ...], "every": SEC},
   "burn": {"cpu": SEC, "every": SEC}}

It prints one JSON line of cumulative counters every 0.25 s to stdout (a pipe, not a file, so
the report itself is no file write): {"t": unix time, "written": {name: bytes}, "syncs":
{name: calls}, "read": {name: bytes}, "accepted": n, "connected": n, "errors": n, "cpu": process CPU seconds}. The
test computes the workload's true rates from them. It runs until killed."""
import json
import os
import socket
import sys
import threading
import time

cfg = json.loads(sys.argv[1])
lock = threading.Lock()
stats = {"written": {}, "syncs": {}, "read": {}, "accepted": 0, "connected": 0, "errors": 0}


def bump(key, sub=None, n=1):
    with lock:
        if sub is None:
            stats[key] += n
        else:
            stats[key][sub] = stats[key].get(sub, 0) + n


def writer(w):
    name = w["name"]
    os.makedirs(os.path.dirname(w["path"]), exist_ok=True)
    fd = os.open(w["path"], os.O_WRONLY | os.O_CREAT, 0o644)
    chunk = b"w" * w["chunk"]
    wrap = w.get("wrap", 8 << 20)
    off = 0
    nxt = time.monotonic()
    while True:
        if off >= wrap:  # rewrite the same region: the volume never fills
            os.lseek(fd, 0, os.SEEK_SET)
            off = 0
        n = os.write(fd, chunk)
        off += n
        bump("written", name, n)
        if w.get("fsync"):
            os.fsync(fd)
            bump("syncs", name)
        nxt += w["every"]
        time.sleep(max(0.0, nxt - time.monotonic()))
        nxt = max(nxt, time.monotonic() - w["every"])  # no catch-up bursts after a stall


def reader(r):
    """Writes a file of r["size"] bytes once, then reads it round and round (pread, from the
    page cache after the first pass), r["chunk"] bytes every r["every"] seconds."""
    os.makedirs(os.path.dirname(r["path"]), exist_ok=True)
    fd = os.open(r["path"], os.O_RDWR | os.O_CREAT, 0o644)
    block = b"r" * (1 << 20)
    for off in range(0, r["size"], len(block)):
        os.pwrite(fd, block[:r["size"] - off], off)
    off = 0
    nxt = time.monotonic()
    while True:
        if off >= r["size"]:
            off = 0
        n = len(os.pread(fd, r["chunk"], off))
        off += n
        bump("read", r["name"], n)
        nxt += r["every"]
        time.sleep(max(0.0, nxt - time.monotonic()))
        nxt = max(nxt, time.monotonic() - r["every"])


def serve(ip, port):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((ip, port))
    lst.listen(64)
    while True:
        conn, _ = lst.accept()
        bump("accepted")
        try:
            conn.settimeout(2)
            conn.recv(64)
            conn.sendall(b"ok\n")
        except OSError:
            pass
        finally:
            conn.close()


def client(c):
    nxt = time.monotonic()
    while True:
        for ip, port in c["targets"]:
            try:
                s = socket.socket()
                s.settimeout(2)
                s.bind((c["src"], 0))  # from this pod's own IP, as a pod would
                s.connect((ip, port))
                s.sendall(b"ping\n")
                s.recv(16)
                s.close()
                bump("connected")
            except OSError:
                bump("errors")
        nxt += c["every"]
        time.sleep(max(0.0, nxt - time.monotonic()))
        nxt = max(nxt, time.monotonic() - c["every"])


def burner(b):
    while True:
        end = time.process_time() + b["cpu"]
        while time.process_time() < end:
            pass
        time.sleep(b["every"])


threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in cfg.get("write", [])]
threads += [threading.Thread(target=reader, args=(r,), daemon=True) for r in cfg.get("read", [])]
if cfg.get("listen"):
    ip, port = cfg["listen"]
    threads.append(threading.Thread(target=serve, args=(ip, port), daemon=True))
if cfg.get("connect"):
    threads.append(threading.Thread(target=client, args=(cfg["connect"],), daemon=True))
if cfg.get("burn"):
    threads.append(threading.Thread(target=burner, args=(cfg["burn"],), daemon=True))
for t in threads:
    t.start()
while True:
    with lock:
        line = json.dumps(dict(stats, t=time.time(), cpu=time.process_time()))
    print(line, flush=True)
    time.sleep(0.25)
