"""The seed scenarios as real servers and their load generators, in the shell of the workloads'
image (tests/cluster/workload-image.sh): each is the `main` or `load` script of a release of the
test chart tests/cluster/charts/testapp. test_cluster_workloads.py deploys each in a kind that
fits and one that does not; `make run`'s demo (tools/demo/demo.py) deploys a few of them."""

PG = "/usr/lib/postgresql/15/bin"

POSTGRES = f"""set -e
mkdir -p /data/pg && chown postgres:postgres /data/pg && chmod 700 /data/pg
[ -s /data/pg/PG_VERSION ] || runuser -u postgres -- {PG}/initdb -D /data/pg -A trust -U postgres >/dev/null
exec runuser -u postgres -- {PG}/postgres -D /data/pg -c listen_addresses='*' \\
  -c unix_socket_directories=/tmp -c shared_buffers=16MB -c max_wal_size=64MB"""
PGBENCH = f"""until {PG}/pg_isready -h 127.0.0.1 -U postgres -q; do sleep 1; done
{PG}/pgbench -h 127.0.0.1 -U postgres -i -s 1 -q postgres
while :; do {PG}/pgbench -h 127.0.0.1 -U postgres -c 2 -R 40 -T 600 postgres >/dev/null 2>&1; done"""

REDIS = "exec redis-server --bind 0.0.0.0 --protected-mode no --save '' --port 6379 "
REDIS_CACHE = REDIS + "--appendonly no"
REDIS_AOF = REDIS + "--appendonly yes --appendfsync always --dir /data"
REDIS_LOAD = """until redis-cli ping >/dev/null 2>&1; do sleep 1; done
while :; do redis-benchmark -q -t set,get -n 3000 -c 2 -d 1024 -r 10000 >/dev/null; sleep 1; done"""

NGINX = "exec nginx -g 'daemon off;'"
# The load also writes to procfs, as runtimes and applications do: no volume.
NGINX_LOAD = """until curl -s -o /dev/null http://127.0.0.1/; do sleep 1; done
while :; do curl -s -o /dev/null http://127.0.0.1/; echo 1000 > /proc/self/oom_score_adj
printf load > /proc/self/comm; sleep 0.2; done"""

RABBITMQ = """set -e
mkdir -p /data/rabbitmq && chown -R rabbitmq:rabbitmq /data/rabbitmq
exec runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=rabbit@localhost \\
  RABBITMQ_MNESIA_BASE=/data/rabbitmq/mnesia RABBITMQ_LOG_BASE=/tmp \\
  /usr/lib/rabbitmq/bin/rabbitmq-server"""
RABBITMQ_LOAD = """exec python3 -u -c '
import time, pika
while True:
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
        break
    except Exception:
        time.sleep(2)
ch = conn.channel()
ch.queue_declare("work", durable=True, arguments={"x-queue-type": "quorum"})
ch.confirm_delivery()
body, n = b"x" * 4096, 0
while True:
    ch.basic_publish("", "work", body, pika.BasicProperties(delivery_mode=2))
    n += 1
    if n % 2000 == 0:
        ch.queue_purge("work")
    time.sleep(0.01)
'"""

MOSQUITTO = """printf 'listener 1883 0.0.0.0\\nallow_anonymous true\\npersistence false\\n' > /tmp/m.conf
exec mosquitto -c /tmp/m.conf"""
MOSQUITTO_LOAD = """until mosquitto_pub -h 127.0.0.1 -t up -m 1 2>/dev/null; do sleep 1; done
while :; do date +%s%N; sleep 0.05; done | mosquitto_pub -h 127.0.0.1 -t bench/ticks -q 1 -l"""

# fio's io_uring engine (issue 18 §3): rounds of exactly 8 MiB of direct writes into the PVC, an
# IORING_OP_FSYNC after every 4, ten seconds apart; each round logs what fio says it did
# ("round N BYTES FSYNCS"), for test_cluster_workloads to compare with the agent's counts.
FIO_URING = """set -e
fallocate -l 8M /data/fio.bin
i=0
while :; do
  i=$((i + 1))
  fio --name=r$i --ioengine=io_uring --filename=/data/fio.bin --rw=write --bs=64k --size=8M \\
    --direct=1 --iodepth=1 --fsync=4 --fallocate=none --output-format=json > /tmp/fio.json
  python3 -c 'import json, sys; j = json.load(open("/tmp/fio.json"))["jobs"][0]
print("round", sys.argv[1], j["write"]["io_bytes"], j["sync"]["total_ios"], flush=True)' $i
  sleep 10
done"""

LOG_COLLECTOR = """while :; do find /data -maxdepth 2 -type f -name '*.log' -size -20M \\
  -exec cat {} + >/dev/null 2>&1; sleep 2; done"""
