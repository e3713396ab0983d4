// SPDX-License-Identifier: BSD-2-Clause
#include "kernel/collector_priv.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "base/log.h"
#include "cpu.h"
#include "disk.h"
#include "fs.h"
#include "net.h"
#include "cgroup.h"

_Static_assert(sizeof(struct cpu_cg_stats) == 8 * (4 + HIST_SLOTS), "cpu_cg_stats layout");
_Static_assert(sizeof(struct oom_victim) == 40, "oom_victim layout");
_Static_assert(sizeof(struct cgroup_born) == 8 + CGROUP_BORN_PATH, "cgroup_born layout");
_Static_assert(sizeof(struct disk_key) == 16, "disk_key layout");
_Static_assert(sizeof(struct cpu_cause_key) == 16, "cpu_cause_key layout");
_Static_assert(sizeof(struct disk_cg_stats) == 8 * (3 + HIST_SLOTS), "disk_cg_stats layout");
_Static_assert(sizeof(struct fs_key) == 16, "fs_key layout");
_Static_assert(sizeof(struct fs_stats) == 40, "fs_stats layout");
_Static_assert(sizeof(struct net_stats) == 8 * 7, "net_stats layout");
_Static_assert(sizeof(struct net_peer_key) == 32, "net_peer_key layout");
_Static_assert(sizeof(struct net_listen_key) == 16, "net_listen_key layout");

/* Per-CPU values are laid out at 8-byte strides. */
static size_t percpu_stride(size_t size)
{
	return (size + 7) & ~(size_t)7;
}

/* Calls each() for every entry of the map, two system calls per entry. Returns the number of
 * entries, or -errno. */
static long map_each_key(struct collector *c, int fd, size_t ksz, size_t stride, bool percpu,
			 entry_fn each, const void *arg)
{
	char key[64], next[64];
	bool first = true;
	long n = 0;

	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		first = false;
		memcpy(key, next, ksz);
		if (bpf_map_lookup_elem(fd, key, c->vals))
			continue; /* deleted meanwhile */
		n++;
		each(c, key, c->vals, percpu ? stride : 0, arg);
	}
	return errno == ENOENT || !errno ? n : -errno;
}

/* A batch holds at least this many entries, more while they fit BATCH_BYTES; it grows (to
 * BATCH_GROW_BYTES at most) only when one hash bucket holds more entries than it. */
#define BATCH_MIN 16
#define BATCH_BYTES (64 * 1024)
#define BATCH_GROW_BYTES (16u << 20)

/* Grows the batch scratch to size bytes. */
static int batch_reserve(struct collector *c, size_t size)
{
	char *p;

	if (size <= c->batch_size)
		return 0;
	p = realloc(c->batch, size);
	if (!p)
		return -ENOMEM;
	c->batch = p;
	c->batch_size = size;
	return 0;
}

/* Calls each() for every entry of the map read with bpf_map_lookup_batch (take: and deleted,
 * bpf_map_lookup_and_delete_batch): a few system calls for the whole map. Returns the number of
 * entries; -EOPNOTSUPP when the kernel refused the first batch, its error in *why (nothing was
 * handed to each(): the caller may walk the map key by key), or another -errno. */
static long map_each_batch(struct collector *c, int fd, size_t ksz, size_t elem, size_t stride,
			   bool percpu, bool take, entry_fn each, const void *arg, int *why)
{
	size_t kspan = (ksz + 7) & ~(size_t)7;
	size_t max = BATCH_BYTES / (kspan + elem);
	uint64_t in[8], out[8]; /* the map's batch position (a bucket or a key) */
	bool first = true, done = false;
	long n = 0;

	if (max < BATCH_MIN)
		max = BATCH_MIN;
	while (!done) {
		uint32_t count = (uint32_t)max;
		char *keys, *vals;
		int err;

		if (batch_reserve(c, max * (kspan + elem)))
			return -ENOMEM;
		keys = c->batch;
		vals = c->batch + max * kspan;
		err = take ? bpf_map_lookup_and_delete_batch(fd, first ? NULL : in, out, keys, vals,
							     &count, NULL) :
			     bpf_map_lookup_batch(fd, first ? NULL : in, out, keys, vals, &count,
						  NULL);
		if (err < 0 && err != -ENOENT) {
			/* ENOSPC: one hash bucket holds more entries than the batch; retry the same
			 * position with room for twice as many. */
			if (err == -ENOSPC && count == 0 &&
			    max * 2 * (kspan + elem) <= BATCH_GROW_BYTES) {
				max *= 2;
				continue;
			}
			*why = err;
			return first ? -EOPNOTSUPP : err;
		}
		done = err == -ENOENT;
		for (uint32_t i = 0; i < count; i++)
			each(c, keys + i * ksz, vals + i * elem, percpu ? stride : 0, arg);
		n += count;
		memcpy(in, out, sizeof(in));
		first = false;
	}
	return n;
}

/* Calls each() for every entry of a map (per-CPU or not) with its values (stride 0: not
 * per-CPU): batched where the kernel takes batch lookups for the map's type, else key by key
 * (counted in c->map_reads; a type once refused is not asked again). Returns the number of
 * entries, or -errno. */
static long map_each(struct collector *c, struct bpf_map *map, entry_fn each, const void *arg)
{
	size_t ksz = bpf_map__key_size(map), vsz = bpf_map__value_size(map);
	enum bpf_map_type type = bpf_map__type(map);
	bool percpu = type == BPF_MAP_TYPE_PERCPU_HASH;
	size_t stride = percpu ? percpu_stride(vsz) : vsz;
	uint64_t bit = type < 64 ? 1ull << type : 0;
	int fd = bpf_map__fd(map), why = 0;
	long n;

	if (ksz > 64 || stride > c->vals_stride_max)
		return -E2BIG;
	if (!(c->batch_refused & bit)) {
		n = map_each_batch(c, fd, ksz, percpu ? stride * (size_t)c->ncpus : vsz, stride,
				   percpu, false, each, arg, &why);
		if (n != -EOPNOTSUPP) {
			c->map_reads[MAP_READ_BATCH]++;
			return n;
		}
		c->batch_refused |= bit;
		log_info("BPF maps of type %s: the kernel refused batch lookups (%s); reading them "
			 "key by key (bpfdiag_agent_map_reads_total{method=\"per_key\"})",
			 libbpf_bpf_map_type_str(type), strerror(-why));
	}
	c->map_reads[MAP_READ_PER_KEY]++;
	return map_each_key(c, fd, ksz, stride, percpu, each, arg);
}

/* map_each() over a map of records, counting its entries for the map's fill metric. Returns 0
 * or -errno. */
int walk_map(struct collector *c, struct bpf_map *map, entry_fn each,
	     const struct collector_sink *sink)
{
	long n = map_each(c, map, each, sink);

	if (n < 0)
		return (int)n;
	for (unsigned i = 0; i < c->n_maps; i++) {
		if (c->maps[i].map == map)
			c->maps[i].entries = (uint64_t)n;
	}
	return 0;
}

/* Sums n u64 fields over CPUs (stride 0: not per-CPU, one value). */
static void sum_u64(const struct collector *c, const void *vals, size_t stride, size_t off,
		    size_t n, uint64_t *out)
{
	int cpus = stride ? c->ncpus : 1;

	for (int cpu = 0; cpu < cpus; cpu++) {
		const uint64_t *v =
			(const uint64_t *)((const char *)vals + (size_t)cpu * stride + off);

		for (size_t i = 0; i < n; i++)
			out[i] += v[i];
	}
}

/* The u64 at off of a per-CPU value, summed over CPUs. */
uint64_t field_sum(const struct collector *c, const void *vals, size_t stride, size_t off)
{
	uint64_t v = 0;

	sum_u64(c, vals, stride, off, 1, &v);
	return v;
}

static void each_cpu(struct collector *c, const void *key, const void *vals, size_t stride,
		     const void *arg)
{
	const struct collector_sink *sink = arg;
	struct cpu_rec r = { 0 };
	uint64_t id;

	memcpy(&id, key, 8);
	r.oncpu_ns = field_sum(c, vals, stride, offsetof(struct cpu_cg_stats, oncpu_ns));
	r.rq_wait_ns = field_sum(c, vals, stride, offsetof(struct cpu_cg_stats, rq_wait_ns));
	r.rq_count = field_sum(c, vals, stride, offsetof(struct cpu_cg_stats, rq_count));
	sum_u64(c, vals, stride, offsetof(struct cpu_cg_stats, rq_hist), HIST_SLOTS, r.rq_hist);
	sink->cpu(sink->ctx, id, &r);
}

static void each_sample(struct collector *c, const void *key, const void *vals, size_t stride,
			const void *arg)
{
	const struct collector_sink *sink = arg;
	uint64_t id, samples = 0;

	memcpy(&id, key, 8);
	sum_u64(c, vals, stride, 0, 1, &samples);
	sink->cpu_samples(sink->ctx, id, samples);
}

static void each_disk(struct collector *c, const void *key, const void *vals, size_t stride,
		      const void *arg)
{
	const struct collector_sink *sink = arg;
	const struct disk_key *k = key;
	struct disk_rec r = { 0 };

	r.bytes = field_sum(c, vals, stride, offsetof(struct disk_cg_stats, bytes));
	r.ops = field_sum(c, vals, stride, offsetof(struct disk_cg_stats, ops));
	r.lat_ns = field_sum(c, vals, stride, offsetof(struct disk_cg_stats, lat_ns));
	sum_u64(c, vals, stride, offsetof(struct disk_cg_stats, hist), HIST_SLOTS, r.lat_hist);
	sink->disk(sink->ctx, k->cgroup_id, k->dev,
		   k->dir == DISK_WRITE ? DISK_REC_WRITE : DISK_REC_READ, &r);
}

void each_fs(struct collector *c, const void *key, const void *vals, size_t stride, const void *arg)
{
	const struct collector_sink *sink = arg;
	const struct fs_key *k = key;
	struct fs_rec r = { 0 };

	r.write_bytes = field_sum(c, vals, stride, offsetof(struct fs_stats, write_bytes));
	r.write_calls = field_sum(c, vals, stride, offsetof(struct fs_stats, write_calls));
	r.sync_calls = field_sum(c, vals, stride, offsetof(struct fs_stats, sync_calls));
	r.read_bytes = field_sum(c, vals, stride, offsetof(struct fs_stats, read_bytes));
	r.read_calls = field_sum(c, vals, stride, offsetof(struct fs_stats, read_calls));
	sink->fs(sink->ctx, k->cgroup_id, k->mnt_id, &r);
}

static void each_net(struct collector *c, const void *key, const void *vals, size_t stride,
		     const void *arg)
{
	const struct collector_sink *sink = arg;
	struct net_rec r = { 0 };
	uint64_t id;

	memcpy(&id, key, 8);
	r.tx_bytes = field_sum(c, vals, stride, offsetof(struct net_stats, tx_bytes));
	r.rx_bytes = field_sum(c, vals, stride, offsetof(struct net_stats, rx_bytes));
	r.retransmits = field_sum(c, vals, stride, offsetof(struct net_stats, retransmits));
	r.conns_client = field_sum(c, vals, stride, offsetof(struct net_stats, conn_client));
	r.conns_server = field_sum(c, vals, stride, offsetof(struct net_stats, conn_server));
	sink->net(sink->ctx, id, &r);
}

static void each_oom(struct collector *c, const void *key, const void *vals, size_t stride,
		     const void *arg)
{
	const struct collector_sink *sink = arg;
	const struct oom_victim *v = vals;
	struct oom_rec r = { .kills = v->kills, .last_pid = v->last_pid };
	uint64_t id;

	(void)c;
	(void)stride;
	memcpy(&id, key, 8);
	memcpy(r.last_comm, v->last_comm, sizeof(r.last_comm));
	r.last_comm[sizeof(r.last_comm) - 1] = '\0';
	sink->oom(sink->ctx, id, &r);
}

int collector__read(struct collector *c, const struct collector_sink *sink)
{
	int r = 0;

	if (sink->cpu || sink->cpu_samples)
		collector_flush_cpus(c);
	if (sink->cpu)
		r = walk_map(c, c->cpu->maps.cpu_stats, each_cpu, sink);
	/* Empty unless the sampler is attached: not walked (8192 buckets) without it. */
	if (!r && sink->cpu_samples && c->sampling)
		r = walk_map(c, c->cpu->maps.cpu_samples, each_sample, sink);
	if (!r && sink->disk && c->disk)
		r = walk_map(c, c->disk->maps.disk_stats, each_disk, sink);
	if (!r && sink->fs && c->fs)
		r = walk_map(c, c->fs->maps.fs_stats, each_fs, sink);
	if (!r && sink->net && c->net)
		r = walk_map(c, c->net->maps.net_stats, each_net, sink);
	if (!r && sink->fs && c->uring)
		r = collector_uring_read(c, sink);
	if (!r && sink->oom && c->cg && c->oom_victim)
		r = walk_map(c, c->cg->maps.oom_victims, each_oom, sink);
	return r;
}

struct listen_arg {
	collector_listen_fn fn;
	void *ctx;
};

static void each_listen(struct collector *c, const void *key, const void *vals, size_t stride,
			const void *arg)
{
	const struct net_listen_key *k = key;
	const struct listen_arg *la = arg;
	int64_t n;

	(void)c;
	(void)stride;
	memcpy(&n, vals, sizeof(n));
	la->fn(la->ctx, k->cgroup_id, k->port, n);
}

int collector__read_listen(struct collector *c, collector_listen_fn fn, void *ctx)
{
	const struct listen_arg la = { fn, ctx };

	if (c->net)
		map_each(c, c->net->maps.net_listen, each_listen, &la);
	return 0;
}

struct peer_arg {
	collector_peer_fn fn;
	void *ctx;
};

static void each_peer(struct collector *c, const void *key, const void *vals, size_t stride,
		      const void *arg)
{
	const struct net_peer_key *k = key;
	const struct peer_arg *pa = arg;
	struct collector_peer p = { .cgroup_id = k->cgroup_id, .port = k->port, .role = k->role };

	(void)c;
	(void)stride;
	memcpy(p.addr, k->addr, sizeof(p.addr));
	memcpy(&p.connections, vals, sizeof(p.connections));
	pa->fn(pa->ctx, &p);
}

int collector__read_peers(struct collector *c, collector_peer_fn fn, void *ctx)
{
	const struct peer_arg pa = { fn, ctx };

	if (c->net)
		map_each(c, c->net->maps.net_peers, each_peer, &pa);
	return 0;
}

struct cause_arg {
	collector_cause_fn fn;
	void *ctx;
};

static void each_cause(struct collector *c, const void *key, const void *vals, size_t stride,
		       const void *arg)
{
	const struct cause_arg *ca = arg;
	struct cpu_cause_key k;
	uint64_t ns;

	(void)c;
	(void)stride;
	memcpy(&k, key, sizeof(k));
	memcpy(&ns, vals, sizeof(ns));
	if (ns)
		ca->fn(ca->ctx, k.victim, k.culprit, ns);
}

/* Takes every entry of a (non-per-CPU) hash map key by key, where the kernel refuses batch
 * lookup-and-delete: the keys are listed in one walk, then each is taken. (A walk restarted from
 * the first key after each delete scans the empty buckets before it every time: quadratic in
 * the map's size.) Entries added meanwhile are taken by the next call. */
static long take_by_key(struct collector *c, int fd, size_t ksz, size_t vsz, entry_fn each,
			const void *arg)
{
	size_t kspan = (ksz + 7) & ~(size_t)7, n_keys = 0, i;
	char key[64];
	long n = 0;

	if (ksz > sizeof(key))
		return -E2BIG;
	while (bpf_map_get_next_key(fd, n_keys ? key : NULL, key) == 0) {
		if (batch_reserve(c, (n_keys + 1) * kspan))
			return -ENOMEM;
		memcpy(c->batch + n_keys++ * kspan, key, ksz);
	}
	if (batch_reserve(c, n_keys * kspan + vsz))
		return -ENOMEM;
	for (i = 0; i < n_keys; i++) {
		const char *k = c->batch + i * kspan;
		char *v = c->batch + n_keys * kspan;

		/* Hash maps take lookup-and-delete from Linux 5.14; before, two calls (what is
		 * added between them is lost: a wait's nanoseconds, a mkdir walked to instead). */
		if (bpf_map_lookup_and_delete_elem(fd, k, v) &&
		    (errno == ENOENT || bpf_map_lookup_elem(fd, k, v) ||
		     bpf_map_delete_elem(fd, k))) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		n++;
		each(c, k, v, 0, arg);
	}
	return n;
}

/* Takes (reads and deletes) every entry of a hash map: in batches, else key by key (*refused
 * set, logged once, the kernel's reason). Returns the number taken or -errno; sets the map's
 * fill metric. */
static long map_take(struct collector *c, struct bpf_map *map, bool *refused, entry_fn each,
		     const void *arg)
{
	size_t ksz = bpf_map__key_size(map), vsz = bpf_map__value_size(map);
	int fd = bpf_map__fd(map), why = 0;
	long n = -EOPNOTSUPP;

	if (!*refused) {
		n = map_each_batch(c, fd, ksz, vsz, 0, false, true, each, arg, &why);
		if (n == -EOPNOTSUPP) {
			*refused = true;
			log_info(
				"%s: the kernel refused batch lookup-and-delete (%s); taking it key "
				"by key",
				bpf_map__name(map), strerror(-why));
		}
	}
	if (n == -EOPNOTSUPP)
		n = take_by_key(c, fd, ksz, vsz, each, arg);
	if (n < 0)
		return n;
	for (unsigned i = 0; i < c->n_maps; i++) {
		if (c->maps[i].map == map)
			c->maps[i].entries = (uint64_t)n;
	}
	return n;
}

long collector__take_causes(struct collector *c, collector_cause_fn fn, void *ctx)
{
	const struct cause_arg ca = { fn, ctx };

	return map_take(c, c->cpu->maps.cpu_causes, &c->causes_batch_refused, each_cause, &ca);
}

struct born_arg {
	collector_born_fn fn;
	void *ctx;
};

static void each_born(struct collector *c, const void *key, const void *vals, size_t stride,
		      const void *arg)
{
	const struct born_arg *ba = arg;
	struct cgroup_born b;
	uint64_t id;

	(void)c;
	(void)stride;
	memcpy(&id, key, sizeof(id));
	memcpy(&b, vals, sizeof(b));
	b.path[sizeof(b.path) - 1] = '\0';
	if (b.len < sizeof(b.path) && b.path[0] == '/')
		ba->fn(ba->ctx, id, b.path);
}

long collector__take_born(struct collector *c, collector_born_fn fn, void *ctx)
{
	const struct born_arg ba = { fn, ctx };

	if (!c->cg || !c->born)
		return 0;
	return map_take(c, c->cg->maps.cgroup_born, &c->born_batch_refused, each_born, &ba);
}

int collector__take_removed(struct collector *c, collector_id_fn fn, void *ctx)
{
	uint64_t key, next;
	int fd;

	if (!c->cg)
		return 0;
	fd = bpf_map__fd(c->cg->maps.cgroup_dead);
	/* Delete as we go: restart from the first key each time. */
	while (bpf_map_get_next_key(fd, NULL, &next) == 0) {
		key = next;
		fn(ctx, key);
		if (bpf_map_delete_elem(fd, &key))
			return -errno;
	}
	return 0;
}

/* Deletes the entries of one map whose key starts with a gone cgroup id. */
static long forget_in(struct bpf_map *map, bool (*is_gone)(void *, uint64_t), void *ctx)
{
	int fd = bpf_map__fd(map);
	char key[64], next[64];
	size_t ksz = bpf_map__key_size(map);
	bool first = true;
	long n = 0;

	if (ksz > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		uint64_t id;

		memcpy(&id, next, 8);
		if (is_gone(ctx, id) && bpf_map_delete_elem(fd, next) == 0) {
			n++;
			/* The iteration restarts: deleting the current key loses its place. */
			first = true;
			continue;
		}
		first = false;
		memcpy(key, next, ksz);
	}
	return n;
}

long collector__forget(struct collector *c, bool (*is_gone)(void *ctx, uint64_t id), void *ctx)
{
	long n = forget_in(c->cpu->maps.cpu_stats, is_gone, ctx) +
		 forget_in(c->cpu->maps.cpu_samples, is_gone, ctx);

	if (c->disk)
		n += forget_in(c->disk->maps.disk_stats, is_gone, ctx);
	if (c->fs)
		n += forget_in(c->fs->maps.fs_stats, is_gone, ctx);
	if (c->uring)
		n += forget_in(c->uring->maps.uring_stats, is_gone, ctx);
	if (c->net)
		n += forget_in(c->net->maps.net_stats, is_gone, ctx) +
		     forget_in(c->net->maps.net_peers, is_gone, ctx) +
		     forget_in(c->net->maps.net_listen, is_gone, ctx);
	if (c->cg)
		n += forget_in(c->cg->maps.oom_victims, is_gone, ctx);
	return n;
}
