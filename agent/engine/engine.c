// SPDX-License-Identifier: BSD-2-Clause
/* One collection: the kernel maps read as records into each cgroup's streams (series.h),
 * the cgroups attributed (attribute.c), their streams bound (volumes.c) and applied, the
 * cgroups' own files and listeners read, and a snapshot emitted. */
#include "engine/engine_priv.h"

#include "base/clock.h"
#include "base/log.h"
#include "host/cgroupfs.h"
#include "host/mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_EVERY 12 /* read cpu.max every this many collections */

static struct cg *cg_free(struct cg *c)
{
	if (!c)
		return NULL;
	member_free(&c->m);
	cgroupfs_dirs_close(&c->dirs);
	free(c->path);
	free(c->listen);
	free(c);
	return NULL;
}

static void detect_v1_cpu(struct engine *e)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/self/mountinfo", e->proc_root);
	f = fopen(path, "re");
	if (!f)
		return;
	if (mountinfo_find_cgroup1(f, "cpu", e->v1_cpu_root, sizeof(e->v1_cpu_root)))
		e->v1_cpu_root[0] = '\0';
	rewind(f);
	if (mountinfo_find_cgroup1(f, "memory", e->v1_mem_root, sizeof(e->v1_mem_root)))
		e->v1_mem_root[0] = '\0';
	fclose(f);
}

int engine__open(const struct engine_opts *opts, struct engine **ret, char *err, size_t errlen)
{
	struct collector_opts copts = { .pin_dir = opts->pin_dir,
					.pin_required = opts->pin_required,
					.max_cgroups = opts->max_cgroups,
					.net = opts->net,
					.fs = opts->fs,
					.uring = opts->uring,
					.cpu = opts->cpu,
					.bpf_stats = opts->bpf_stats,
					.sample_hz = opts->sample_hz };
	char root[PATH_MAX];
	struct engine *e;
	int r;

	if (opts->cgroup_root && opts->cgroup_root[0]) {
		snprintf(root, sizeof(root), "%s", opts->cgroup_root);
	} else {
		r = cgroup_root_detect(opts->proc_root, root, sizeof(root));
		if (r) {
			if (r == -ENOENT)
				snprintf(err, errlen,
					 "no cgroup v2 hierarchy is mounted (see mountinfo); "
					 "bpfdiag attributes by cgroup v2 id");
			else
				snprintf(err, errlen, "cannot read mountinfo: %s", strerror(-r));
			return r;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->node = strdup(opts->node_name ? opts->node_name : "");
	e->kube = opts->kube;
	e->retention = opts->series_retention > 0 ? opts->series_retention :
						    ENGINE_SERIES_RETENTION_SECONDS;
	e->proc_root = strdup(opts->proc_root ? opts->proc_root : "/proc");
	e->cgs = idmap_new();
	e->series = series_table_new();
	e->devnames = idmap_new();
	e->tree = cgroup_tree_new(root);
	e->pseudo.kind = ACC_FS;
	e->pseudo.cls = VOLUME_PSEUDO;
	if (!e->node || !e->proc_root || !e->cgs || !e->series || !e->devnames || !e->tree ||
	    strmap_init(&e->tracked)) {
		snprintf(err, errlen, "out of memory");
		engine__close(e);
		return -ENOMEM;
	}
	detect_v1_cpu(e);
	r = cgroup_tree_scan(e->tree);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the cgroup tree at %s: %s", root, strerror(-r));
		engine__close(e);
		return r;
	}
	e->last_scan = time(NULL);
	copts.cgroup_root = root;
	r = collector__open(&copts, &e->collector, err, errlen);
	if (r) {
		engine__close(e);
		return r;
	}
	/* Listeners that predate the probes: read from /proc for each cgroup first seen. */
	e->seed_listeners = collector__set_listen_seed(e->collector, "procfs") == 0;
	e->start_time = clock_unix();
	*ret = e;
	return 0;
}

struct engine *engine__close(struct engine *e)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	if (!e)
		return NULL;
	collector__destroy(e->collector);
	cgroup_tree_free(e->tree);
	idmap_free(e->removed_unseen);
	while (e->cgs && idmap_next(e->cgs, &pos, &key, &v))
		cg_free(v);
	idmap_free(e->cgs);
	series_table_free(e->series);
	if (e->devnames)
		engine_devnames_free(e);
	engine_track_free(e);
	free(e->node);
	free(e->proc_root);
	free(e);
	return NULL;
}

const char *engine__cgroup_root(const struct engine *e)
{
	return cgroup_tree_root(e->tree);
}

const char *engine__features(const struct engine *e)
{
	return collector__features(e->collector);
}

struct read_ctx {
	struct engine *e;
	int err;
};

/* Adds a record to its stream of the cgroup. */
static void take(struct read_ctx *rc, uint64_t cgid, enum stream_family fam, uint64_t key,
		 const void *rec, size_t size)
{
	struct cg *c = engine_cg_get(rc->e, cgid);

	if (!c || member_take(&c->m, fam, key, rc->e->gen, rec, size)) {
		rc->err = -ENOMEM;
		return;
	}
	if (rc->e->removed_unseen && idmap_del(rc->e->removed_unseen, cgid))
		engine_cg_gone(rc->e, c);
	c->gen = rc->e->gen;
}

static void on_cpu(void *ctx, uint64_t cgid, const struct cpu_rec *r)
{
	take(ctx, cgid, FAM_CPU, 0, r, sizeof(*r));
}

static void on_cpu_samples(void *ctx, uint64_t cgid, uint64_t samples)
{
	take(ctx, cgid, FAM_SAMPLES, 0, &samples, sizeof(samples));
}

static void on_disk(void *ctx, uint64_t cgid, uint32_t dev, enum disk_rec_dir dir,
		    const struct disk_rec *r)
{
	take(ctx, cgid, FAM_DISK, (uint64_t)dev << 1 | dir, r, sizeof(*r));
}

static void on_fs(void *ctx, uint64_t cgid, uint32_t mnt_id, const struct fs_rec *r)
{
	take(ctx, cgid, FAM_FS, mnt_id, r, sizeof(*r));
}

static void on_net(void *ctx, uint64_t cgid, const struct net_rec *r)
{
	take(ctx, cgid, FAM_NET, 0, r, sizeof(*r));
}

/* oom:mark_victim's count of the cgroup: a stream like the others, and the last victim for the
 * log line. */
static void on_oom(void *ctx, uint64_t cgid, const struct oom_rec *r)
{
	struct read_ctx *rc = ctx;
	struct cg *c;

	take(rc, cgid, FAM_OOM, 0, &r->kills, sizeof(r->kills));
	c = idmap_get(rc->e->cgs, cgid);
	if (!c || r->kills <= c->oom_seen)
		return;
	c->oom_new += r->kills - c->oom_seen;
	c->oom_seen = r->kills;
	c->oom_pid = r->last_pid;
	memcpy(c->oom_comm, r->last_comm, sizeof(c->oom_comm));
}

/* One log line per cgroup whose tasks were OOM-killed since the last collection, naming the
 * victim (its command and pid) and its container. */
static void log_oom_victims(struct engine *e)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;
		const struct series *se = c->m.series;

		if (!c->oom_new)
			continue;
		if (se)
			log_info(
				"OOM kill: %s (pid %u) killed in container %s of pod %s/%s (%s %s), "
				"cgroup %s; %llu kill(s) seen by oom:mark_victim",
				c->oom_comm, c->oom_pid,
				se->labels[LBL_CONTAINER][0] ? se->labels[LBL_CONTAINER] : "-",
				se->labels[LBL_NAMESPACE][0] ? se->labels[LBL_NAMESPACE] : "-",
				se->labels[LBL_POD][0] ? se->labels[LBL_POD] : "-",
				se->labels[LBL_WORKLOAD_KIND], se->labels[LBL_WORKLOAD],
				se->cgroup_path, (unsigned long long)c->oom_new);
		else
			log_info("OOM kill: %s (pid %u) killed in cgroup id %llu (no path known); "
				 "%llu kill(s) seen by oom:mark_victim",
				 c->oom_comm, c->oom_pid, (unsigned long long)c->id,
				 (unsigned long long)c->oom_new);
		c->oom_new = 0;
	}
}

static void on_removed(void *ctx, uint64_t id)
{
	struct engine *e = ctx;
	struct cg *c = idmap_get(e->cgs, id);

	if (c) {
		engine_cg_gone(e, c); /* and out of the tree's index when freed */
		return;
	}
	if (!e->removed_unseen)
		e->removed_unseen = idmap_new();
	/* Out of memory: its path is forgotten at once, its entries swept as before. */
	if (!e->removed_unseen || idmap_put(e->removed_unseen, id, (void *)1))
		cgroup_tree_forget(e->tree, id);
}

/* The ids removed before any collection saw them and not in this one's read either: out of
 * the tree's index. */
static void forget_removed_unseen(struct engine *e)
{
	size_t pos = 0;
	uint64_t id;
	void *v;

	while (e->removed_unseen && idmap_next(e->removed_unseen, &pos, &id, &v))
		cgroup_tree_forget(e->tree, id);
	e->removed_unseen = idmap_free(e->removed_unseen);
}

/* A cgroup made since the last collection: indexed from the probe's path, so that its id
 * resolves without a walk of the tree (one that cannot be is found by a walk as before). */
static void on_born(void *ctx, uint64_t id, const char *path)
{
	struct engine *e = ctx;
	int r = cgroup_tree_add(e->tree, id, path);

	if (r && r != -ENOENT)
		log_debug("cgroup %s (id %llu) not indexed: %s", path, (unsigned long long)id,
			  strerror(-r));
}

/* A victim's run-queue wait charged to a culprit: both need a series (a cgroup not yet
 * resolved, or seen by no other map yet, loses its share: counted and logged). */
static void on_cause(void *ctx, uint64_t victim, uint64_t culprit, uint64_t ns)
{
	struct engine *e = ctx;
	struct cg *v = idmap_get(e->cgs, victim), *c = idmap_get(e->cgs, culprit);
	int r = v && v->m.series && c && c->m.series ?
			series_cause_add(v->m.series, c->m.series, ns) :
			-ENOENT;

	if (!r)
		return;
	if (!e->causes_lost_ns)
		log_info("run-queue wait caused by neighbours: %s; such waits are not "
			 "attributed (counted at debug level)",
			 r == -ENOSPC ? "a container had more than 8 neighbours" :
			 r == -ENOENT ? "a cgroup without a series yet" :
					"out of memory");
	e->causes_lost_ns += ns;
	log_debug("run-queue wait not attributed to neighbours: %.6f s so far",
		  (double)e->causes_lost_ns / 1e9);
}

static bool is_gone(void *ctx, uint64_t id)
{
	struct engine *e = ctx;
	struct cg *c = idmap_get(e->cgs, id);

	return c && c->gone;
}

static int build_snapshot(struct engine *e, double dt, struct snapshot **ret)
{
	struct snapshot *s = snapshot_new(series_table_size(e->series));
	struct strmap_iter it = STRMAP_ITER_INIT;
	const struct collector_stat *stats;
	size_t i = 0, n_stats;
	struct series *se;

	if (!s)
		return -ENOMEM;
	while ((se = series_table_next(e->series, &it))) {
		if (series_emit(se, dt, &s->series[i++]))
			goto oom;
		s->agent.oom_kills_one_source[0] += se->oom_t > se->oom_e ? se->oom_t - se->oom_e :
									    0;
		s->agent.oom_kills_one_source[1] += se->oom_e > se->oom_t ? se->oom_e - se->oom_t :
									    0;
	}
	qsort(s->series, s->n_series, sizeof(*s->series), series_emit_cmp);
	if (!(s->node = snap_intern(&s->strings, e->node)))
		goto oom;
	collector__stats(e->collector, &stats, &n_stats);
	s->agent.stats = malloc((n_stats ? n_stats : 1) * sizeof(*stats));
	if (!s->agent.stats)
		goto oom;
	memcpy(s->agent.stats, stats, n_stats * sizeof(*stats));
	s->agent.n_stats = n_stats;
	s->agent.seed = (struct seed_stats){
		.enabled = e->seed_listeners,
		.listeners_seeded = e->listeners_seeded,
		.cgroups = e->seed.cgroups,
		.skipped = { [SEED_SKIP_UNREADABLE] = e->seed.unreadable,
			     [SEED_SKIP_PID_LIMIT] = e->seed.pids_skipped,
			     [SEED_SKIP_FD_LIMIT] = e->seed.fds_skipped,
			     [SEED_SKIP_RACED] = e->seed_raced },
	};
	snprintf(s->agent.features, sizeof(s->agent.features), "%s",
		 collector__features(e->collector));
	if (e->kube && kube_meta__fill_snapshot(e->kube, s))
		goto oom;
	*ret = s;
	return 0;
oom:
	/* A failed strdup left NULL, which snapshot_unref frees as nothing. */
	snapshot_unref(s);
	return -ENOMEM;
}

/* Reads the cgroups' own files, each where it can change, at the rates below. Counters stay
 * exact and monotonic: a file not read keeps its previous values, and a reading skipped is at
 * most one slow period (LIMIT_EVERY collections, a minute at the 5 s default) late.
 * - memory.current (v1: memory.usage_in_bytes): every collection (memory changes without the
 *   cgroup running: reclaim, another's page cache).
 * - memory.stat, and v2's memory.swap.current: when the series' CPU time grew (its page
 *   faults need its tasks to run) or its usage changed (a page charged or uncharged), every
 *   CGROUPFS_MEM_STAT_EVERY collections while that goes on, at once when the usage moved by a
 *   sixteenth; else every LIMIT_EVERY collections (cgroupfs_read_memory: what may go stale
 *   meanwhile).
 * - memory.events (v1: memory.oom_control), for OOM kills: where oom:mark_victim is attached,
 *   when it saw a kill in the series, else every LIMIT_EVERY collections (kills it misses, its
 *   map full, are counted up to that late); without it, every collection.
 * - the limits (memory.max, cpu.max): at the collection after a write to them (watched with
 *   inotify: cgroupfs_poll_limits), and every CGROUPFS_LIMIT_SAFETY_EVERY × LIMIT_EVERY
 *   collections; unwatched, every LIMIT_EVERY collections.
 * - cpu.pressure: when the series' CPU time grew (stalls need runnable tasks), every
 *   CGROUPFS_PSI_EVERY collections while it keeps growing (a growth seen by a collection that
 *   skips it is read by the next), else every LIMIT_EVERY collections.
 * - cpu.stat's throttling: when the CPU time grew where there is a quota, every LIMIT_EVERY
 *   collections where there is or was one, once where there never was (the counters move
 *   only under the cgroup's own quota). CPU time itself comes from BPF. */
static void read_cgroupfs(struct engine *e)
{
	bool with_limit = e->collections % LIMIT_EVERY == 0;
	bool oom_probe = collector__oom_probe(e->collector);
	struct strmap_iter it = STRMAP_ITER_INIT;
	struct series *se;

	if (with_limit)
		e->host_swap = cgroupfs_host_swap();
	cgroupfs_poll_limits(); /* limit files written since the last collection */
	while ((se = series_table_next(e->series, &it))) {
		struct cg *c = idmap_get(e->cgs, se->cgroup_id);
		/* The series' cgroup is its member of that id (series.h): its open directories. */
		struct cgroupfs_dirs *dirs =
			c && c->path && strcmp(c->path, se->cgroup_path) == 0 ? &c->dirs : NULL;
		uint64_t cpu = 0, kills = 0;
		bool first;

		se->n_ports = 0;
		se->n_peers = 0;
		se->listening = 0;
		if (!se->members || strcmp(se->cgroup_path, "/") == 0)
			continue;
		for (const struct acc *a = se->accs; a; a = a->next) {
			cpu = a->kind == ACC_CPU ? a->total.cpu.oncpu_ns : cpu;
			kills += a->kind == ACC_OOM ? a->total.oom_kills : 0;
		}
		first = !se->memfs_valid;
		cgroupfs_read_memory(engine__cgroup_root(e),
				     e->v1_mem_root[0] ? e->v1_mem_root : NULL, se->cgroup_path,
				     dirs, with_limit || first,
				     !oom_probe || with_limit || first || kills != se->memfs_kills,
				     !se->cpufs_valid || cpu != se->cpufs_cpu, &se->memfs);
		se->memfs.has_swap = se->memfs.has_swap && (e->host_swap || se->memfs.swap);
		se->memfs_valid = true;
		se->memfs_kills = kills;
		/* Reads nothing unless something is due: cgroupfs_read_cpu. */
		cgroupfs_read_cpu(engine__cgroup_root(e), e->v1_cpu_root[0] ? e->v1_cpu_root : NULL,
				  se->cgroup_path, dirs, with_limit || !se->cpufs_valid,
				  se->cpufs_valid && cpu != se->cpufs_cpu, &se->cpufs);
		se->cpufs_cpu = cpu;
		se->cpufs_valid = true;
	}
}

/* Frees gone cgroups (after their last read) and series empty for the retention time. */
static void expire(struct engine *e)
{
	time_t now = time(NULL);

	/* Only a cgroup on the gone list has entries to forget: no walk of every map without. */
	if (e->gone && collector__forget(e->collector, is_gone, e) < 0)
		log_debug("forgetting removed cgroups failed");
	while (e->gone) {
		struct cg *c = e->gone;

		e->gone = c->next_gone;
		idmap_del(e->cgs, c->id);
		cgroup_tree_forget(e->tree, c->id);
		member_leave(&c->m, now);
		cg_free(c);
		e->removed++;
	}
	series_table_expire(e->series, now, e->retention);
}

int engine__collect(struct engine *e, struct snapshot **ret)
{
	struct read_ctx rc = { .e = e };
	const struct collector_sink sink = { .ctx = &rc,
					     .cpu = on_cpu,
					     .cpu_samples = on_cpu_samples,
					     .disk = on_disk,
					     .fs = on_fs,
					     .net = on_net,
					     .oom = on_oom };
	double t0 = clock_mono(), dt;
	uint64_t unresolved = 0, key, kgen = e->kube ? kube_meta__generation(e->kube) : 0;
	struct snapshot *s = NULL;
	size_t pos = 0;
	void *v;
	int r;

	e->gen++;
	/* Removals first: their entries are read a last time below, then freed. */
	r = collector__take_removed(e->collector, on_removed, e);
	if (!r)
		r = collector__read(e->collector, &sink);
	/* New cgroups indexed after the read: every id it saw was made before it, so its
	 * cgroup_mkdir record is there now. */
	if (collector__take_born(e->collector, on_born, e) < 0)
		log_debug("reading the cgroups made since the last collection failed");
	forget_removed_unseen(e);
	if (!r)
		r = rc.err;
	if (!r)
		r = engine_resolve_all(e, kgen, &unresolved);
	if (!r)
		r = engine_track_containers(e, kgen);
	if (r)
		goto out;
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (!c->m.series)
			continue;
		if (e->kube && !c->gone && (c->kube_gen != kgen || c->kube_pending) &&
		    engine_relabel(e, c, kgen)) {
			r = -ENOMEM;
			goto out;
		}
		for (struct stream *st = c->m.streams; st; st = st->next) {
			if (st->gen != e->gen)
				continue;
			if (!st->bound && engine_bind_stream(e, c, st)) {
				r = -ENOMEM;
				goto out;
			}
			if (st->bound)
				stream_apply(st);
		}
	}
	if (collector__take_causes(e->collector, on_cause, e) < 0)
		log_debug("reading the run-queue waits caused by neighbours failed");
	log_oom_victims(e);
	read_cgroupfs(e);
	if (engine_seed_listeners(e)) {
		r = -ENOMEM;
		goto out;
	}
	engine_read_listeners(e);
	engine_read_peers(e);
	expire(e);
	dt = e->last_time > 0 ? t0 - e->last_time : 0;
	r = build_snapshot(e, dt, &s);
	if (r)
		goto out;
	e->last_time = t0;
	e->collections++;
	s->time = clock_unix();
	s->agent.start_time = e->start_time;
	s->agent.collections = e->collections;
	s->agent.collection_errors = e->errors;
	s->agent.cgroups_unresolved = unresolved;
	s->agent.containers_unresolved = e->tracked_unresolved;
	s->agent.cgroup_scans = cgroup_tree_scans(e->tree);
	s->agent.cgroup_scan_truncated = cgroup_tree_truncated(e->tree);
	s->agent.cgroups_removed = e->removed;
	s->agent.cgroups_swept = e->swept;
	s->agent.cgroupfs_held = cgroupfs_held();
	s->agent.cgroupfs_unheld_reads = cgroupfs_unheld_reads();
	s->agent.cgroupfs_watched_limits = cgroupfs_watched_limits();
	s->agent.cgroupfs_unwatched_limits = cgroupfs_unwatched_limits();
	s->agent.fs_pseudo_write_bytes = e->pseudo.total.fs.write_bytes;
	s->agent.last_collection_seconds = clock_mono() - t0;
	*ret = s;
	return 0;
out:
	e->errors++;
	return r;
}
