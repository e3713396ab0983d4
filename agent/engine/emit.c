// SPDX-License-Identifier: BSD-2-Clause
/* Series to snapshot series: points in catalogue order from the totals, the delta from the
 * accumulators' intervals (which then start again), rates from the delta. */
#include "engine/series.h"

#include "model/histogram.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

int series_emit_cmp(const void *a, const void *b)
{
	const struct snap_series *x = a, *y = b;

	for (int i = 0; i < LBL_MAX; i++) {
		int r = strcmp(x->labels[i], y->labels[i]);

		if (r)
			return r;
	}
	return 0;
}

static int emit_acc(struct snap_series *out, const struct acc *a, unsigned m)
{
	const char *own[METRIC_MAX_OWN_LABELS], *dir[METRIC_MAX_OWN_LABELS] = { NULL };
	const union counts *t = &a->total;

	for (int o = 0; o < METRIC_MAX_OWN_LABELS; o++)
		own[o] = a->own[o];

	switch (a->kind) {
	case ACC_CPU:
		if (m == M_CPU_SECONDS)
			return snap_series_add_stable(out, m, NULL, (double)t->cpu.oncpu_ns / 1e9);
		if (m == M_CPU_RUNQUEUE_WAIT_SECONDS)
			return snap_series_add_stable(out, m, NULL,
						      (double)t->cpu.rq_wait_ns / 1e9);
		if (m == M_CPU_RUNQUEUE_LATENCY)
			return snap_series_add_hist_stable(out, m, NULL, hist_bounds,
							   HIST_SLOTS - 1, t->cpu.rq_hist,
							   (double)t->cpu.rq_wait_ns / 1e9);
		return 0;
	case ACC_SAMPLES:
		return m == M_CPU_SAMPLES ?
			       snap_series_add_stable(out, m, NULL, (double)t->samples) :
			       0;
	case ACC_OOM: /* bpfdiag_memory_oom_kills_total comes from oom_count */
		return 0;
	case ACC_DISK:
		if (m == M_DISK_BYTES)
			return snap_series_add_stable(out, m, own, (double)t->disk.bytes);
		if (m == M_DISK_OPERATIONS)
			return snap_series_add_stable(out, m, own, (double)t->disk.ops);
		return 0;
	case ACC_DISKLAT:
		return m == M_DISK_LATENCY ?
			       snap_series_add_hist_stable(out, m, own, hist_bounds, HIST_SLOTS - 1,
							   t->disk.lat_hist,
							   (double)t->disk.lat_ns / 1e9) :
			       0;
	case ACC_FS:
		if (m == M_FS_WRITE_BYTES)
			return snap_series_add_stable(out, m, own, (double)t->fs.write_bytes);
		if (m == M_FS_WRITE_CALLS)
			return snap_series_add_stable(out, m, own, (double)t->fs.write_calls);
		if (m == M_FS_SYNC_CALLS)
			return snap_series_add_stable(out, m, own, (double)t->fs.sync_calls);
		if (m == M_FS_READ_BYTES)
			return snap_series_add_stable(out, m, own, (double)t->fs.read_bytes);
		return 0;
	case ACC_NET:
		if (m == M_NETWORK_BYTES) {
			dir[0] = "transmit";
			if (snap_series_add_stable(out, m, dir, (double)t->net.tx_bytes))
				return -ENOMEM;
			dir[0] = "receive";
			return snap_series_add_stable(out, m, dir, (double)t->net.rx_bytes);
		}
		if (m == M_TCP_CONNECTIONS_OPENED) {
			dir[0] = conn_role_name(ROLE_CLIENT);
			if (snap_series_add_stable(out, m, dir, (double)t->net.conns_client))
				return -ENOMEM;
			dir[0] = conn_role_name(ROLE_SERVER);
			return snap_series_add_stable(out, m, dir, (double)t->net.conns_server);
		}
		if (m == M_TCP_RETRANSMITS)
			return snap_series_add_stable(out, m, NULL, (double)t->net.retransmits);
		return 0; /* M_TCP_LISTENING_SOCKETS: per series, see series_emit */
	}
	return 0;
}

static int emit_cpufs(struct snap_series *out, const struct series *se, unsigned m)
{
	const struct cgroupfs_cpu *f = &se->cpufs;
	const char *kind[METRIC_MAX_OWN_LABELS] = { NULL };
	/* Periods are counted only under a CPU quota: without one (and nothing counted under an
	 * earlier one) the three counters are 0 for good and absent, as cAdvisor leaves out its
	 * container_cpu_cfs_* series. */
	bool throttling = f->has_throttling &&
			  (f->has_limit || f->nr_periods || f->nr_throttled || f->throttled_usec);

	if (!se->cpufs_valid)
		return 0;
	switch (m) {
	case M_CPU_THROTTLED_SECONDS:
		return throttling ? snap_series_add_stable(out, m, NULL,
							   (double)f->throttled_usec / 1e6) :
				    0;
	case M_CPU_THROTTLED_PERIODS:
		return throttling ? snap_series_add_stable(out, m, NULL, (double)f->nr_throttled) :
				    0;
	case M_CPU_PERIODS:
		return throttling ? snap_series_add_stable(out, m, NULL, (double)f->nr_periods) : 0;
	case M_CPU_LIMIT_CORES:
		return f->has_limit ? snap_series_add_stable(out, m, NULL, f->limit_cores) : 0;
	case M_CPU_PRESSURE_SECONDS:
		if (!f->has_pressure)
			return 0;
		kind[0] = "some";
		if (snap_series_add_stable(out, m, kind, (double)f->pressure_some_usec / 1e6))
			return -ENOMEM;
		kind[0] = "full";
		return snap_series_add_stable(out, m, kind, (double)f->pressure_full_usec / 1e6);
	}
	return 0;
}

static int emit_memfs(struct snap_series *out, const struct series *se, unsigned m)
{
	const struct cgroupfs_mem *f = &se->memfs;
	const char *type[METRIC_MAX_OWN_LABELS] = { NULL };
	bool now = f->has_usage && se->members > 0; /* gauges of a gone cgroup: none */

	switch (m) {
	case M_MEMORY_WORKING_SET_BYTES:
		return now ? snap_series_add_stable(out, m, NULL,
						    (double)cgroupfs_mem_working_set(f)) :
			     0;
	case M_MEMORY_RSS_BYTES:
		return now ? snap_series_add_stable(out, m, NULL, (double)f->anon) : 0;
	case M_MEMORY_PAGE_CACHE_BYTES:
		return now ? snap_series_add_stable(out, m, NULL, (double)f->file) : 0;
	case M_MEMORY_SWAP_BYTES: /* absent where swap cannot be used (cgroupfs.h) */
		return now && f->has_swap ? snap_series_add_stable(out, m, NULL, (double)f->swap) :
					    0;
	case M_MEMORY_USAGE_BYTES:
		return now ? snap_series_add_stable(out, m, NULL, (double)f->usage) : 0;
	case M_MEMORY_LIMIT_BYTES:
		return now && f->has_limit ?
			       snap_series_add_stable(out, m, NULL, (double)f->limit) :
			       0;
	case M_MEMORY_PAGE_FAULTS:
		if (!f->has_usage)
			return 0;
		type[0] = "major";
		if (snap_series_add_stable(out, m, type, (double)f->pgmajfault))
			return -ENOMEM;
		type[0] = "minor";
		return snap_series_add_stable(
			out, m, type,
			(double)(f->pgfault > f->pgmajfault ? f->pgfault - f->pgmajfault : 0));
	case M_MEMORY_OOM_KILLS:
		return f->has_oom || se->oom_t ?
			       snap_series_add_stable(out, m, NULL,
						      (double)(se->oom_e0 + se->oom_k)) :
			       0;
	}
	return 0;
}

/* The indexes of se's neighbours with the most total (by_total) or interval wait, at most n,
 * most first. Returns how many. */
static unsigned top_causes(const struct series *se, bool by_total, unsigned *idx, unsigned n)
{
	unsigned k = 0;
	uint32_t taken = 0;

	while (k < n) {
		uint64_t best = 0;
		unsigned at = 0;

		for (unsigned i = 0; i < se->n_causes; i++) {
			uint64_t v = by_total ? se->causes[i].total_ns : se->causes[i].interval_ns;

			if (!(taken & (1u << i)) && v > best) {
				best = v;
				at = i;
			}
		}
		if (!best)
			break;
		taken |= 1u << at;
		idx[k++] = at;
	}
	return k;
}

/* bpfdiag_cpu_runqueue_wait_caused_seconds_total: the top neighbours by total. */
static int emit_causes(struct snap_series *out, const struct series *se, unsigned m)
{
	unsigned idx[SNAP_DELTA_CAUSES], n;

	if (m != M_CPU_RUNQUEUE_WAIT_CAUSED)
		return 0;
	n = top_causes(se, true, idx, SNAP_DELTA_CAUSES);
	for (unsigned i = 0; i < n; i++) {
		const struct series_cause *c = &se->causes[idx[i]];
		const char *own[METRIC_MAX_OWN_LABELS] = { c->own[0], c->own[1], c->own[2] };

		if (snap_series_add_stable(out, m, own, (double)c->total_ns / 1e9))
			return -ENOMEM;
	}
	return 0;
}

/* The delta's neighbours: the top ones of the interval, whose intervals then start again.
 * Returns 0 or -ENOMEM. */
static int delta_causes(struct series *se, struct snap_series *out)
{
	struct snap_delta *d = &out->delta;
	unsigned idx[SNAP_DELTA_CAUSES], n = top_causes(se, false, idx, SNAP_DELTA_CAUSES);

	for (unsigned i = 0; i < n; i++) {
		const struct series_cause *c = &se->causes[idx[i]];

		if (!(d->caused[i].ns = snap_intern_stable(out->strings, c->own[0])) ||
		    !(d->caused[i].kind = snap_intern_stable(out->strings, c->own[1])) ||
		    !(d->caused[i].name = snap_intern_stable(out->strings, c->own[2])))
			return -ENOMEM;
		d->caused[i].seconds = (double)c->interval_ns / 1e9;
		d->n_caused = i + 1;
	}
	for (unsigned i = 0; i < se->n_causes; i++)
		se->causes[i].interval_ns = 0;
	return 0;
}

/* OOM kills, counted once from two sources: the tracepoint oom:mark_victim (the victim's
 * cgroup, seen even when the cgroup is gone before it is read) and memory.events oom_kill (the
 * kernel's own count, also when the probe is down or its map full). Each is taken from its
 * baseline (at the agent's first collection: history of unknown age, not counted) and the
 * count is the larger of the two, never decreasing: a kill both see is one kill, and one the
 * sources see in different collections (the map and the file are read at different moments)
 * is counted when the first sees it. */
static void oom_count(struct series *se, double dt)
{
	uint64_t t = 0, e = se->memfs.has_oom ? se->memfs.oom_kills : 0, k;

	for (const struct acc *a = se->accs; a; a = a->next)
		t += a->kind == ACC_OOM ? a->total.oom_kills : 0;
	if (!se->oom_based) {
		se->oom_based = true;
		if (!se->collected && dt <= 0) {
			se->oom_t0 = t;
			se->oom_e0 = e;
		}
	}
	se->oom_t = t > se->oom_t0 ? t - se->oom_t0 : 0;
	se->oom_e = e > se->oom_e0 ? e - se->oom_e0 : 0;
	k = se->oom_t > se->oom_e ? se->oom_t : se->oom_e;
	se->oom_gain = k > se->oom_k ? k - se->oom_k : 0;
	if (k > se->oom_k)
		se->oom_k = k;
}

/* The memory gauges now and the counters' gains since the previous snapshot. On the agent's
 * first collection (dt 0) the OOM kills are history of unknown age: not an increase. A series
 * new later counts its cgroup's kills: a container killed within its first interval (a crash
 * loop's new container each time) is seen by no other collection. */
static void delta_memfs(struct series *se, struct snap_delta *d, double dt)
{
	const struct cgroupfs_mem *f = &se->memfs;
	struct cgroupfs_mem *last = &se->memfs_last;

	d->oom_kills = (double)se->oom_gain;
	if (!f->has_usage)
		return;
	if (se->members > 0) {
		d->mem_working_set = (double)cgroupfs_mem_working_set(f);
		d->mem_rss = (double)f->anon;
		d->mem_page_cache = (double)f->file;
		d->mem_swap = (double)f->swap;
		d->mem_usage = (double)f->usage;
		d->mem_limit = f->has_limit ? (double)f->limit : 0;
	}
	d->major_faults = (double)counter_gain(f->pgmajfault, last->pgmajfault);
	(void)dt;
	if (d->oom_kills > 0) {
		uint64_t before = cgroupfs_mem_working_set(last),
			 after = cgroupfs_mem_working_set(f);

		d->oom_working_set = (double)(before > after ? before : after);
		d->mem_peak = (double)f->peak;
	}
	*last = *f;
}

/* The cgroupfs counters' gains since the previous snapshot, and the limit. A failed read keeps
 * the previous values: nothing is gained meanwhile. */
static void delta_cpufs(struct series *se, struct snap_delta *d)
{
	const struct cgroupfs_cpu *f = &se->cpufs;
	struct cgroupfs_cpu *last = &se->cpufs_last;

	if (!se->cpufs_valid)
		return;
	d->cpu_limit_cores = f->has_limit ? f->limit_cores : 0;
	if (!f->has_throttling)
		return;
	d->throttled_seconds = (double)counter_gain(f->throttled_usec, last->throttled_usec) / 1e6;
	d->throttled_periods = (double)counter_gain(f->nr_throttled, last->nr_throttled);
	d->periods = (double)counter_gain(f->nr_periods, last->nr_periods);
	*last = *f;
}

/* Adds an emptyDir volume's writes of the interval to the delta's per-volume list. Returns 0
 * or -ENOMEM. */
static int delta_emptydir(struct snap_series *out, const char *name, double bytes)
{
	struct snap_delta *d = &out->delta;
	unsigned i = 0;

	while (i < d->n_emptydir && strcmp(d->emptydir[i].name, name) != 0)
		i++;
	if (i == SNAP_DELTA_EMPTYDIRS)
		return 0;
	if (i == d->n_emptydir) {
		if (!(d->emptydir[i].name = snap_intern_stable(out->strings, name)))
			return -ENOMEM;
		d->n_emptydir++;
	}
	d->emptydir[i].write_bytes += bytes;
	return 0;
}

/* Fills the series' delta from its accumulators' intervals, which start again. Returns 0 or
 * -ENOMEM (the intervals then start again all the same: what they held is lost from the
 * delta, not from the totals). */
static int delta(struct snap_series *out, struct series *se, double dt)
{
	struct snap_delta *d = &out->delta;
	uint64_t pvc_bytes = 0, pvc_syncs = 0; /* of the PVC volume named so far */
	const char *pvc = NULL;
	int err = 0;

	d->seconds = se->collected ? dt : 0;
	for (struct acc *a = se->accs; a; a = a->next) {
		const union counts *i = &a->interval;

		switch (a->kind) {
		case ACC_CPU:
			d->cpu_seconds += (double)i->cpu.oncpu_ns / 1e9;
			d->runq_wait_seconds += (double)i->cpu.rq_wait_ns / 1e9;
			for (int h = 0; h < HIST_SLOTS; h++)
				d->runq_hist[h] += i->cpu.rq_hist[h];
			break;
		case ACC_DISK:
			d->disk_bytes[a->dir] += (double)i->disk.bytes;
			d->disk_ops[a->dir] += (double)i->disk.ops;
			break;
		case ACC_FS:
			d->fs_write_bytes[a->cls] += (double)i->fs.write_bytes;
			d->fs_write_calls[a->cls] += (double)i->fs.write_calls;
			d->fs_sync_calls[a->cls] += (double)i->fs.sync_calls;
			d->fs_read_bytes[a->cls] += (double)i->fs.read_bytes;
			if (a->cls == VOLUME_EMPTYDIR && i->fs.write_bytes && !err)
				err = delta_emptydir(out, a->own[1], (double)i->fs.write_bytes);
			/* Most bytes written; among volumes with none, most syncs (a workload that
			 * only fsyncs its claim still names it). */
			if (a->cls == VOLUME_PVC &&
			    (i->fs.write_bytes > pvc_bytes ||
			     (i->fs.write_bytes == pvc_bytes && i->fs.sync_calls > pvc_syncs))) {
				pvc_bytes = i->fs.write_bytes;
				pvc_syncs = i->fs.sync_calls;
				pvc = a->own[1];
			}
			break;
		case ACC_NET:
			d->net_bytes[0] += (double)i->net.rx_bytes;
			d->net_bytes[1] += (double)i->net.tx_bytes;
			d->retransmits += (double)i->net.retransmits;
			d->conns_opened[ROLE_CLIENT] += (double)i->net.conns_client;
			d->conns_opened[ROLE_SERVER] += (double)i->net.conns_server;
			break;
		case ACC_SAMPLES:
		case ACC_DISKLAT:
		case ACC_OOM:
			break;
		}
		memset(&a->interval, 0, sizeof(a->interval));
	}
	if (pvc && !err && !(d->pvc_volume = snap_intern_stable(out->strings, pvc)))
		err = -ENOMEM;
	delta_cpufs(se, d);
	delta_memfs(se, d, dt);
	if (delta_causes(se, out))
		err = -ENOMEM;
	se->collected = true;
	return err;
}

/* Rates: the delta's increases over the agent's interval dt. */
static void rates(struct snap_rates *r, const struct snap_delta *d, double dt)
{
	double fs_bytes = 0, fs_syncs = 0;

	if (dt <= 0)
		return;
	for (int c = 0; c < VOLUME_CLASS_MAX; c++) {
		fs_bytes += d->fs_write_bytes[c];
		fs_syncs += d->fs_sync_calls[c];
	}
	r->cpu_cores = d->cpu_seconds / dt;
	r->runq_p99_seconds = hist_quantile(d->runq_hist, 0.99);
	r->disk_read_bps = d->disk_bytes[DISK_REC_READ] / dt;
	r->disk_write_bps = d->disk_bytes[DISK_REC_WRITE] / dt;
	r->disk_iops = (d->disk_ops[DISK_REC_READ] + d->disk_ops[DISK_REC_WRITE]) / dt;
	r->fs_write_bps = fs_bytes / dt;
	r->fsync_per_s = fs_syncs / dt;
	r->net_rx_bps = d->net_bytes[0] / dt;
	r->net_tx_bps = d->net_bytes[1] / dt;
	r->retransmits_per_s = d->retransmits / dt;
	r->major_faults_per_s = d->major_faults / dt;
}

int series_emit(struct series *se, double dt, struct snap_series *out)
{
	bool has_net = false;

	/* The labels and path of the last collection's snapshot series, unless the path moved. */
	if (!se->snap &&
	    !(se->snap = snap_labels_new((const char *const *)se->labels, se->cgroup_path)))
		return -ENOMEM;
	snap_series_set_labels(out, se->snap);
	out->cgroup_id = se->cgroup_id;
	out->cgroups = se->members;
	for (const struct acc *a = se->accs; a; a = a->next)
		has_net |= a->kind == ACC_NET;
	oom_count(se, dt);
	/* As many points as the last time, and the rules' recommendation (rules_rec.c). */
	if (snap_series_reserve(out, se->n_points_last + 3))
		return -ENOMEM;
	/* Points in catalogue order: metric by metric, the accumulators that feed it; their own
	 * label values are literals and the accumulators' strings, which outlive the build. */
	for (unsigned m = 0; m < M_MAX; m++) {
		if (emit_cpufs(out, se, m) || emit_memfs(out, se, m) || emit_causes(out, se, m))
			return -ENOMEM;
		for (const struct acc *a = se->accs; a; a = a->next) {
			if (emit_acc(out, a, m))
				return -ENOMEM;
		}
		/* Not a sum of deltas: the sockets listening now, BPF and seed merged. */
		if (m == M_TCP_LISTENING_SOCKETS && (has_net || se->listen_seen) &&
		    snap_series_add_stable(out, m, NULL, (double)se->listening))
			return -ENOMEM;
	}
	se->n_points_last = out->n_points;
	if (delta(out, se, dt))
		return -ENOMEM;
	rates(&out->rates, &out->delta, dt);
	/* memory.stat skipped: its counters' gain comes at the next read, over the intervals
	 * since the last; the rate holds meanwhile instead of reading 0 and then twice as much. */
	se->memstat_intervals++;
	if (!se->memfs.stat_skipped) {
		se->major_faults_rate = out->rates.major_faults_per_s / se->memstat_intervals;
		se->memstat_intervals = 0;
	}
	if (!se->memfs.has_usage)
		se->major_faults_rate = 0;
	out->rates.major_faults_per_s = se->major_faults_rate;
	if (se->n_ports) {
		qsort(se->ports, se->n_ports, sizeof(*se->ports), cmp_u16);
		out->listen_ports = malloc(se->n_ports * sizeof(*se->ports));
		if (!out->listen_ports)
			return -ENOMEM;
		memcpy(out->listen_ports, se->ports, se->n_ports * sizeof(*se->ports));
		out->n_listen_ports = se->n_ports;
	}
	if (se->n_peers) {
		out->peers = malloc(se->n_peers * sizeof(*se->peers));
		if (!out->peers)
			return -ENOMEM;
		memcpy(out->peers, se->peers, se->n_peers * sizeof(*se->peers));
		out->n_peers = se->n_peers;
	}
	return 0;
}
