// SPDX-License-Identifier: BSD-2-Clause
/* The engine's aggregation (engine/series.h), without a kernel: records fed to cgroups'
 * streams as the collector would give them, bound and applied as a collection does, and the
 * series emitted. Deltas and rates, counter resets, a member that goes away, relabelling with
 * history, expiry after the retention time, the delta typed by volume class and role, the
 * cgroupfs counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "engine/series.h"

#define NS 1000000000ull

struct fixture {
	struct series_table *t;
	struct snapshot *snap; /* the last emitted */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->t = series_table_new();
	assert_non_null(f->t);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	snapshot_unref(f->snap);
	series_table_free(f->t);
	free(f);
	return 0;
}

/* A series of local labels naming workload w. */
static struct series *series(struct fixture *f, const char *w, const char *path)
{
	const char *labels[LBL_MAX] = { "", "", "", "Cgroup", w, "", "", "" };
	struct series *s = series_table_get(f->t, labels, path, 1);

	assert_non_null(s);
	return s;
}

/* One read of a cgroup's cpu_stats entry at gen, bound and applied as a collection does. */
static void cpu(struct member *m, uint64_t gen, uint64_t oncpu_ns, unsigned rq_slot)
{
	struct cpu_rec r = { .oncpu_ns = oncpu_ns, .rq_wait_ns = oncpu_ns / 10, .rq_count = 1 };

	r.rq_hist[rq_slot] = oncpu_ns / NS;
	assert_int_equal(member_take(m, FAM_CPU, 0, gen, &r, sizeof(r)), 0);
	for (struct stream *s = m->streams; s; s = s->next) {
		if (s->fam != FAM_CPU)
			continue;
		if (!s->bound)
			stream_bind(s, series_acc(m->series, ACC_CPU), NULL);
		stream_apply(s);
	}
}

/* The stream (fam, key) of m at gen, bound to acc (and acc2) when it is not. */
static void feed(struct member *m, enum stream_family fam, uint64_t key, uint64_t gen,
		 const void *rec, size_t size, struct acc *acc, struct acc *acc2)
{
	assert_int_equal(member_take(m, fam, key, gen, rec, size), 0);
	for (struct stream *s = m->streams; s; s = s->next) {
		if (s->fam != fam || s->key != key)
			continue;
		if (!s->bound)
			stream_bind(s, acc, acc2);
		stream_apply(s);
	}
}

static const struct snap_series *emit(struct fixture *f, struct series *s, double dt)
{
	snapshot_unref(f->snap);
	f->snap = snapshot_new(1);
	assert_non_null(f->snap);
	assert_int_equal(series_emit(s, dt, &f->snap->series[0]), 0);
	return &f->snap->series[0];
}

/* The value of a point with own labels o0 and o1 (NULL: any). */
static double point(const struct snap_series *se, enum metric_id m, const char *o0, const char *o1)
{
	for (size_t i = 0; i < se->n_points; i++) {
		const struct snap_point *p = &se->points[i];

		if (p->metric == m && (!o0 || strcmp(p->own[0], o0) == 0) &&
		    (!o1 || strcmp(p->own[1], o1) == 0))
			return p->value;
	}
	fail_msg("no point %d %s %s", m, o0 ? o0 : "", o1 ? o1 : "");
	return 0;
}

static void test_delta_and_rates(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *s = series(f, "/a", "/a");
	const struct snap_series *out;

	member_join(&m, s);
	cpu(&m, 1, 3 * NS, 4);
	/* First collection: no interval yet, the increase is what the cgroup counted before. */
	out = emit(f, s, 0);
	assert_true(out->delta.seconds == 0);
	assert_true(out->delta.cpu_seconds == 3);
	assert_true(out->rates.cpu_cores == 0);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 3);
	assert_int_equal(out->cgroups, 1);

	cpu(&m, 2, 5 * NS, 4);
	out = emit(f, s, 4);
	assert_true(out->delta.seconds == 4);
	assert_true(out->delta.cpu_seconds == 2);
	assert_true(out->delta.runq_wait_seconds == 0.2);
	assert_int_equal(out->delta.runq_hist[4], 2);
	assert_true(out->rates.cpu_cores == 0.5);
	assert_true(out->rates.runq_p99_seconds > 0);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 5);

	/* Nothing read: nothing gained; the totals stay. */
	out = emit(f, s, 4);
	assert_true(out->delta.cpu_seconds == 0);
	assert_int_equal(out->delta.runq_hist[4], 0);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 5);
	member_leave(&m, 1);
	member_free(&m);
}

/* A map entry re-created (its counters back near zero) counts as all new, never negative. */
static void test_counter_reset(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *s = series(f, "/a", "/a");
	const struct snap_series *out;

	member_join(&m, s);
	cpu(&m, 1, 10 * NS, 0);
	emit(f, s, 0);
	cpu(&m, 2, 4 * NS, 0);
	out = emit(f, s, 5);
	assert_true(out->delta.cpu_seconds == 4);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 14);
	cpu(&m, 3, 6 * NS, 0);
	out = emit(f, s, 5);
	assert_true(out->delta.cpu_seconds == 2);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 16);
	member_leave(&m, 1);
	member_free(&m);
}

/* Records of one key within a read are summed (per-CPU maps, or keys met twice). */
static void test_records_of_a_read_summed(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *s = series(f, "/a", "/a");
	struct fs_rec w = { .write_bytes = 100, .write_calls = 1 };
	struct acc *rootfs = series_acc_fs(s, VOLUME_ROOTFS, "rootfs", "");
	const struct snap_series *out;

	member_join(&m, s);
	assert_int_equal(member_take(&m, FAM_FS, 7, 1, &w, sizeof(w)), 0);
	feed(&m, FAM_FS, 7, 1, &w, sizeof(w), rootfs, NULL);
	out = emit(f, s, 0);
	assert_true(out->delta.fs_write_bytes[VOLUME_ROOTFS] == 200);
	/* The next read sums its own records again: nothing was written meanwhile. */
	assert_int_equal(member_take(&m, FAM_FS, 7, 2, &w, sizeof(w)), 0);
	feed(&m, FAM_FS, 7, 2, &w, sizeof(w), rootfs, NULL);
	out = emit(f, s, 5);
	assert_true(out->delta.fs_write_bytes[VOLUME_ROOTFS] == 0);
	assert_true(point(out, M_FS_WRITE_BYTES, "rootfs", "rootfs") == 200);
	member_leave(&m, 1);
	member_free(&m);
}

/* A member that goes away keeps what it added: the totals never drop, the delta is what the
 * others gained. */
static void test_member_goes_away(void **state)
{
	struct fixture *f = *state;
	struct member a = { 0 }, b = { 0 };
	struct series *s = series(f, "/svc", "/svc");
	const struct snap_series *out;

	member_join(&a, s);
	member_join(&b, s);
	cpu(&a, 1, 2 * NS, 0);
	cpu(&b, 1, 5 * NS, 0);
	out = emit(f, s, 0);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 7);
	assert_int_equal(out->cgroups, 2);

	cpu(&a, 2, 3 * NS, 0);
	cpu(&b, 2, 6 * NS, 0); /* its last read */
	member_leave(&b, 100);
	member_free(&b);
	out = emit(f, s, 5);
	assert_true(out->delta.cpu_seconds == 2);
	assert_int_equal(out->cgroups, 1);

	cpu(&a, 3, 4 * NS, 0);
	out = emit(f, s, 5);
	assert_true(out->delta.cpu_seconds == 1);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 10);
	assert_int_equal(s->empty_since, 0);
	member_leave(&a, 1);
	member_free(&a);
}

/* Metadata arriving re-keys a cgroup's series: its history moves into the new series' totals,
 * its delta stays that of the interval and the old series goes. */
static void test_relabel_keeps_history(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *local = series(f, "/kubepods/pod1/c1", "/kubepods/pod1/c1"), *kube;
	struct fs_rec w = { .write_bytes = 1000, .write_calls = 10, .sync_calls = 1 };
	struct acc pseudo = { .kind = ACC_FS, .cls = VOLUME_PSEUDO };
	const struct snap_series *out;

	member_join(&m, local);
	cpu(&m, 1, 3 * NS, 2);
	feed(&m, FAM_FS, 9, 1, &w, sizeof(w), series_acc_fs(local, VOLUME_EMPTYDIR, "cache", ""),
	     NULL);
	feed(&m, FAM_FS, 10, 1, &w, sizeof(w), &pseudo, NULL);
	local->cpufs = (struct cgroupfs_cpu){ .has_throttling = true, .nr_periods = 10 };
	local->cpufs_valid = true;
	emit(f, local, 0);

	kube = series(f, "web", "/kubepods/pod1/c1");
	assert_int_equal(member_move(f->t, &m, kube), 0);
	assert_int_equal(series_table_size(f->t), 1);
	assert_int_equal(kube->members, 1);
	/* The streams are bound again, as the engine's next collection does. */
	w.write_bytes = 1500;
	cpu(&m, 2, 4 * NS, 2);
	feed(&m, FAM_FS, 9, 2, &w, sizeof(w), series_acc_fs(kube, VOLUME_EMPTYDIR, "cache", ""),
	     NULL);
	feed(&m, FAM_FS, 10, 2, &w, sizeof(w), NULL, NULL); /* still bound outside the series */
	kube->cpufs.nr_periods = 12;
	out = emit(f, kube, 5);
	assert_true(out->delta.seconds == 5);
	assert_true(out->delta.cpu_seconds == 1);
	assert_int_equal(out->delta.runq_hist[2], 1);
	assert_true(out->delta.fs_write_bytes[VOLUME_EMPTYDIR] == 500);
	assert_true(out->delta.periods == 2);
	assert_true(out->rates.cpu_cores == 0.2);
	assert_true(point(out, M_CPU_SECONDS, NULL, NULL) == 4);
	assert_true(point(out, M_FS_WRITE_BYTES, "emptydir", "cache") == 1500);
	assert_true(point(out, M_FS_SYNC_CALLS, "emptydir", "cache") == 1);
	assert_true(point(out, M_CPU_PERIODS, NULL, NULL) == 12);
	assert_true(pseudo.total.fs.write_bytes == 1500);
	member_leave(&m, 1);
	member_free(&m);
}

/* A series without members is kept for the retention time, then removed. */
static void test_expiry(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *s = series(f, "/gone", "/gone");
	const double retention = ENGINE_SERIES_RETENTION_SECONDS;

	series(f, "/stays", "/stays"); /* created, never a member: not expiring */
	member_join(&m, s);
	cpu(&m, 1, NS, 0);
	assert_int_equal(series_table_expire(f->t, 5000, retention), 0);
	member_leave(&m, 1000);
	member_free(&m);
	assert_int_equal(series_table_expire(f->t, 1000 + ENGINE_SERIES_RETENTION_SECONDS - 1,
					     retention),
			 0);
	assert_int_equal(series_table_size(f->t), 2);
	assert_int_equal(
		series_table_expire(f->t, 1000 + ENGINE_SERIES_RETENTION_SECONDS, retention), 1);
	assert_int_equal(series_table_size(f->t), 1);
}

/* The delta is typed: fs writes and reads summed per volume class, the PVC written most in the interval,
 * disk by direction, connections by role, network by direction. */
static void test_delta_typed(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *s = series(f, "db", "/db");
	struct acc *data = series_acc_fs(s, VOLUME_PVC, "data", "data-db-0"),
		   *wal = series_acc_fs(s, VOLUME_PVC, "wal", "wal-db-0"),
		   *root = series_acc_fs(s, VOLUME_ROOTFS, "rootfs", ""),
		   *unknown = series_acc_fs(s, VOLUME_UNKNOWN, "mount-44", "");
	struct fs_rec d = { 4096, 1, 1, 1 << 20, 3 }, l = { 100, 2, 2, 7, 1 },
		      r = { 10, 1, 0, 5, 1 }, u = { 1, 1, 0 };
	struct disk_rec rd = { .bytes = 512, .ops = 1 }, wr = { .bytes = 8192, .ops = 2 };
	struct net_rec n = { .tx_bytes = 70, .rx_bytes = 30, .conns_client = 1, .conns_server = 3 };
	const struct snap_series *out;

	member_join(&m, s);
	feed(&m, FAM_FS, 1, 1, &d, sizeof(d), data, NULL);
	feed(&m, FAM_FS, 2, 1, &l, sizeof(l), wal, NULL);
	feed(&m, FAM_FS, 3, 1, &r, sizeof(r), root, NULL);
	feed(&m, FAM_FS, 4, 1, &u, sizeof(u), unknown, NULL);
	feed(&m, FAM_DISK, 8u << 1 | DISK_REC_READ, 1, &rd, sizeof(rd),
	     series_acc_disk(s, ACC_DISK, DISK_REC_READ, "vda"),
	     series_acc_disk(s, ACC_DISKLAT, DISK_REC_READ, NULL));
	feed(&m, FAM_DISK, 8u << 1 | DISK_REC_WRITE, 1, &wr, sizeof(wr),
	     series_acc_disk(s, ACC_DISK, DISK_REC_WRITE, "vda"),
	     series_acc_disk(s, ACC_DISKLAT, DISK_REC_WRITE, NULL));
	feed(&m, FAM_NET, 0, 1, &n, sizeof(n), series_acc(s, ACC_NET), NULL);
	out = emit(f, s, 0);
	assert_true(out->delta.fs_write_bytes[VOLUME_PVC] == 4196);
	assert_true(out->delta.fs_sync_calls[VOLUME_PVC] == 3);
	assert_true(out->delta.fs_write_calls[VOLUME_PVC] == 3);
	assert_true(out->delta.fs_write_bytes[VOLUME_ROOTFS] == 10);
	assert_true(out->delta.fs_write_bytes[VOLUME_UNKNOWN] == 1);
	assert_true(out->delta.fs_write_bytes[VOLUME_EMPTYDIR] == 0);
	assert_true(out->delta.fs_read_bytes[VOLUME_PVC] == (1 << 20) + 7);
	assert_true(out->delta.fs_read_bytes[VOLUME_ROOTFS] == 5);
	assert_string_equal(out->delta.pvc_volume, "data");
	assert_true(out->delta.disk_bytes[DISK_REC_READ] == 512);
	assert_true(out->delta.disk_bytes[DISK_REC_WRITE] == 8192);
	assert_true(out->delta.disk_ops[DISK_REC_WRITE] == 2);
	assert_true(out->delta.net_bytes[0] == 30);
	assert_true(out->delta.net_bytes[1] == 70);
	assert_true(out->delta.conns_opened[ROLE_CLIENT] == 1);
	assert_true(out->delta.conns_opened[ROLE_SERVER] == 3);
	assert_true(point(out, M_FS_WRITE_BYTES, "pvc", "data") == 4096);
	assert_true(point(out, M_FS_READ_BYTES, "pvc", "data") == 1 << 20);
	assert_true(point(out, M_FS_READ_BYTES, "pvc", "wal") == 7);
	assert_true(point(out, M_DISK_BYTES, "write", "vda") == 8192);
	assert_true(point(out, M_TCP_CONNECTIONS_OPENED, "server", NULL) == 3);
	assert_true(point(out, M_NETWORK_BYTES, "receive", NULL) == 30);

	/* The next interval: the WAL is written most; the rates use the interval. */
	d.write_bytes += 10;
	l.write_bytes += 1000;
	feed(&m, FAM_FS, 1, 2, &d, sizeof(d), NULL, NULL);
	feed(&m, FAM_FS, 2, 2, &l, sizeof(l), NULL, NULL);
	out = emit(f, s, 2);
	assert_string_equal(out->delta.pvc_volume, "wal");
	assert_true(out->delta.fs_write_bytes[VOLUME_PVC] == 1010);
	assert_true(out->rates.fs_write_bps == 505);
	assert_true(out->rates.disk_write_bps == 0);

	/* Only syncs on a claim in the interval: it is still named (WK-05 on a workload that
	 * fsyncs its claim without writing names the claim). */
	d.sync_calls += 2;
	feed(&m, FAM_FS, 1, 3, &d, sizeof(d), NULL, NULL);
	out = emit(f, s, 2);
	assert_true(out->delta.fs_write_bytes[VOLUME_PVC] == 0);
	assert_string_equal(out->delta.pvc_volume, "data");

	/* No PVC write or sync in the interval: no volume named. */
	out = emit(f, s, 2);
	assert_string_equal(out->delta.pvc_volume, "");
	member_leave(&m, 1);
	member_free(&m);
}

/* The delta lists each emptyDir volume's writes by name (WK-04 judges volumes, not the class);
 * a volume's k8s.volume.type is its points' last own label. */
static void test_delta_emptydirs(void **state)
{
	struct fixture *f = *state;
	struct member m = { 0 };
	struct series *s = series(f, "render", "/render");
	struct acc *scratch = series_acc_fs_typed(s, VOLUME_EMPTYDIR, "scratch", "", "emptyDir"),
		   *cache = series_acc_fs(s, VOLUME_EMPTYDIR, "cache", ""),
		   *tls = series_acc_fs_typed(s, VOLUME_CONFIG, "tls", "", "secret");
	struct fs_rec a = { 300, 3, 0 }, b = { 50, 1, 0 }, c = { 7, 1, 0 };
	const struct snap_series *out;

	member_join(&m, s);
	feed(&m, FAM_FS, 1, 1, &a, sizeof(a), scratch, NULL);
	feed(&m, FAM_FS, 2, 1, &b, sizeof(b), cache, NULL);
	feed(&m, FAM_FS, 3, 1, &c, sizeof(c), tls, NULL);
	out = emit(f, s, 1);
	assert_int_equal(out->delta.n_emptydir, 2);
	for (unsigned i = 0; i < 2; i++) {
		bool first = strcmp(out->delta.emptydir[i].name, "scratch") == 0;

		assert_string_equal(out->delta.emptydir[i].name, first ? "scratch" : "cache");
		assert_true(out->delta.emptydir[i].write_bytes == (first ? 300 : 50));
	}
	assert_true(out->delta.fs_write_bytes[VOLUME_EMPTYDIR] == 350);
	for (size_t i = 0; i < out->n_points; i++) {
		const struct snap_point *p = &out->points[i];

		if (p->metric == M_FS_WRITE_BYTES && strcmp(p->own[1], "tls") == 0)
			assert_string_equal(p->own[3], "secret");
		if (p->metric == M_FS_WRITE_BYTES && strcmp(p->own[1], "cache") == 0)
			assert_string_equal(p->own[3], "emptyDir"); /* the class's */
	}
	/* the next interval wrote nothing: no volume listed */
	out = emit(f, s, 1);
	assert_int_equal(out->delta.n_emptydir, 0);
	member_leave(&m, 1);
	member_free(&m);
}

/* cgroupfs counters: gains between snapshots, a failed read gains nothing and keeps the
 * baseline, the limit is a gauge. */
static void test_cpufs_delta(void **state)
{
	struct fixture *f = *state;
	struct series *s = series(f, "/lim", "/lim");
	const struct snap_series *out;

	s->cpufs = (struct cgroupfs_cpu){ .has_throttling = true,
					  .nr_periods = 100,
					  .nr_throttled = 10,
					  .throttled_usec = 2000000,
					  .has_limit = true,
					  .limit_cores = 0.5 };
	s->cpufs_valid = true;
	emit(f, s, 0);
	s->cpufs.nr_periods = 150;
	s->cpufs.nr_throttled = 30;
	s->cpufs.throttled_usec = 2500000;
	out = emit(f, s, 5);
	assert_true(out->delta.periods == 50);
	assert_true(out->delta.throttled_periods == 20);
	assert_true(out->delta.throttled_seconds == 0.5);
	assert_true(out->delta.cpu_limit_cores == 0.5);

	s->cpufs.has_throttling = false; /* the read failed */
	out = emit(f, s, 5);
	assert_true(out->delta.periods == 0);
	s->cpufs.has_throttling = true;
	s->cpufs.nr_periods = 160;
	out = emit(f, s, 5);
	assert_true(out->delta.periods == 10);
	s->cpufs.has_limit = false;
	out = emit(f, s, 5);
	assert_true(out->delta.cpu_limit_cores == 0);
}

static bool has_point(const struct snap_series *se, enum metric_id m)
{
	for (size_t i = 0; i < se->n_points; i++)
		if (se->points[i].metric == m)
			return true;
	return false;
}

/* Series that cannot move are not exported: the throttling counters of a cgroup without a CPU
 * quota (none counted under an earlier one), swap where the cgroup cannot swap. */
static void test_structurally_absent(void **state)
{
	struct fixture *f = *state;
	struct series *s = series(f, "/free", "/free");
	const struct snap_series *out;

	s->cpufs = (struct cgroupfs_cpu){ .has_throttling = true, .has_pressure = true };
	s->cpufs_valid = true;
	s->memfs = (struct cgroupfs_mem){ .has_usage = true, .usage = 1 << 20 };
	s->members = 1;
	out = emit(f, s, 0);
	assert_false(has_point(out, M_CPU_PERIODS));
	assert_false(has_point(out, M_CPU_THROTTLED_PERIODS));
	assert_false(has_point(out, M_CPU_THROTTLED_SECONDS));
	assert_false(has_point(out, M_CPU_LIMIT_CORES));
	assert_false(has_point(out, M_MEMORY_SWAP_BYTES));
	assert_true(point(out, M_CPU_PRESSURE_SECONDS, "some", NULL) == 0);
	assert_true(point(out, M_MEMORY_USAGE_BYTES, NULL, NULL) == 1 << 20);
	/* a quota: the counters from 0 */
	s->cpufs.has_limit = true;
	s->cpufs.limit_cores = 1;
	s->memfs.has_swap = true;
	out = emit(f, s, 5);
	assert_true(point(out, M_CPU_PERIODS, NULL, NULL) == 0);
	assert_true(point(out, M_CPU_THROTTLED_PERIODS, NULL, NULL) == 0);
	assert_true(point(out, M_CPU_THROTTLED_SECONDS, NULL, NULL) == 0);
	assert_true(point(out, M_MEMORY_SWAP_BYTES, NULL, NULL) == 0);
	/* the quota removed: what was counted under it stays exported */
	s->cpufs.has_limit = false;
	s->cpufs.nr_periods = 7;
	out = emit(f, s, 5);
	assert_true(point(out, M_CPU_PERIODS, NULL, NULL) == 7);
	assert_true(point(out, M_CPU_THROTTLED_SECONDS, NULL, NULL) == 0);
}

/* Memory: gauges now (working set = usage - inactive_file), page faults by type, OOM kills as
 * gains; the agent's first collection counts no kill (history of unknown age), a series new
 * later counts its cgroup's (a container killed within its first interval). */
static void test_memfs_delta(void **state)
{
	struct fixture *f = *state;
	struct series *s = series(f, "/mem", "/mem"), *late;
	const struct snap_series *out;

	s->memfs = (struct cgroupfs_mem){ .has_usage = true,
					  .usage = 100 << 20,
					  .inactive_file = 30 << 20,
					  .anon = 60 << 20,
					  .pgfault = 1000,
					  .pgmajfault = 10,
					  .has_oom = true,
					  .oom_kills = 3,
					  .has_limit = true,
					  .limit = 128 << 20 };
	s->members = 1; /* a live cgroup: its gauges are current */
	out = emit(f, s, 0);
	assert_true(out->delta.oom_kills == 0);
	assert_true(point(out, M_MEMORY_OOM_KILLS, NULL, NULL) == 3);
	assert_true(point(out, M_MEMORY_WORKING_SET_BYTES, NULL, NULL) == 70 << 20);
	assert_true(point(out, M_MEMORY_PAGE_FAULTS, "major", NULL) == 10);
	assert_true(point(out, M_MEMORY_PAGE_FAULTS, "minor", NULL) == 990);
	assert_true(out->delta.mem_working_set == 70 << 20);
	assert_true(out->delta.mem_limit == 128 << 20);
	s->memfs.oom_kills = 4;
	s->memfs.pgmajfault = 15;
	s->memfs.usage = 40 << 20; /* after the kill */
	s->memfs.peak = 128 << 20;
	out = emit(f, s, 5);
	assert_true(out->delta.oom_kills == 1);
	assert_true(out->delta.oom_working_set == 70 << 20); /* the reading before the kill */
	assert_true(out->delta.mem_peak == 128 << 20);
	assert_true(out->delta.major_faults == 5);
	out = emit(f, s, 5);
	assert_true(out->delta.oom_kills == 0);
	/* memory.stat skipped (cgroupfs_read_memory): the major-fault rate holds; at the next
	 * read the gain is spread over the intervals since the last. */
	s->memfs.pgmajfault = 25;
	out = emit(f, s, 5);
	assert_true(out->delta.major_faults == 10);
	assert_true(out->rates.major_faults_per_s == 2);
	s->memfs.stat_skipped = true;
	out = emit(f, s, 5);
	assert_true(out->delta.major_faults == 0);
	assert_true(out->rates.major_faults_per_s == 2);
	s->memfs.stat_skipped = false;
	s->memfs.pgmajfault = 45;
	out = emit(f, s, 5);
	assert_true(out->delta.major_faults == 20);
	assert_true(out->rates.major_faults_per_s == 2);
	/* Gone: no gauges of memory that is no more; the counters stay. */
	s->members = 0;
	out = emit(f, s, 5);
	for (size_t i = 0; i < out->n_points; i++)
		assert_int_not_equal(out->points[i].metric, M_MEMORY_WORKING_SET_BYTES);
	assert_true(point(out, M_MEMORY_OOM_KILLS, NULL, NULL) == 4);

	late = series(f, "/late", "/late");
	late->memfs = (struct cgroupfs_mem){ .has_usage = true, .has_oom = true, .oom_kills = 1 };
	out = emit(f, late, 5);
	assert_true(out->delta.oom_kills == 1);
}

/* A series' labels and path are made once (snap_labels) and shared by the snapshots that show
 * it unchanged: the same strings, a reference each, not interned again per collection. */
static void test_labels_carried_over(void **state)
{
	struct fixture *f = *state;
	struct series *s = series(f, "/keep", "/keep");
	struct snapshot *a = snapshot_new(1), *b = snapshot_new(1);
	long live = snap_labels_live();

	assert_int_equal(series_emit(s, 0, &a->series[0]), 0);
	assert_non_null(s->snap);
	assert_int_equal(snap_labels_live(), live + 1);
	assert_int_equal(series_emit(s, 5, &b->series[0]), 0);
	assert_int_equal(snap_labels_live(), live + 1); /* the same set, not a new one */
	assert_ptr_equal(a->series[0].lset, s->snap);
	assert_ptr_equal(b->series[0].lset, s->snap);
	assert_ptr_equal(a->series[0].cgroup_path, b->series[0].cgroup_path);
	assert_ptr_equal(a->series[0].labels[LBL_WORKLOAD], b->series[0].labels[LBL_WORKLOAD]);
	assert_string_equal(b->series[0].labels[LBL_WORKLOAD], "/keep");
	assert_string_equal(b->series[0].labels[LBL_WORKLOAD_KIND], "Cgroup");
	assert_string_equal(b->series[0].labels[LBL_POD], "");
	assert_string_equal(b->series[0].cgroup_path, "/keep");
	assert_int_equal(s->snap->refcnt, 3); /* the series' and both snapshots' */
	/* Well-formed strings: nothing to repair, nothing counted. */
	assert_int_equal(snapshot_sanitize(a), 0);
	assert_int_equal(snapshot_sanitize(b), 0);
	assert_null(snapshot_unref(a));
	assert_int_equal(s->snap->refcnt, 2);
	assert_string_equal(b->series[0].cgroup_path, "/keep");
	assert_null(snapshot_unref(b));
	assert_int_equal(s->snap->refcnt, 1);
}

/* A published snapshot keeps what it showed while the next is built: the series' path moves
 * to a shallower member, the next snapshot shows the new one in a new set, the published one
 * the old, which goes with it. */
static void test_labels_published_unaffected(void **state)
{
	struct fixture *f = *state;
	const char *labels[LBL_MAX] = { "", "", "", "Cgroup", "/wl", "", "", "" };
	struct series *s = series_table_get(f->t, labels, "/wl/child", 7);
	struct snapshot_slot slot;
	struct snapshot *pub, *next;
	struct snap_labels *old;
	long live = snap_labels_live();

	snapshot_slot_init(&slot);
	assert_non_null(s);
	next = snapshot_new(1);
	assert_int_equal(series_emit(s, 0, &next->series[0]), 0);
	snapshot_slot_set(&slot, next);
	pub = snapshot_slot_get(&slot); /* a reader holds it, as an HTTP render does */
	old = pub->series[0].lset;

	assert_ptr_equal(series_table_get(f->t, labels, "/wl", 8), s);
	assert_null(s->snap); /* dropped: the next emit makes a set for the new path */
	assert_int_equal(old->refcnt, 1); /* the published snapshot's only */
	next = snapshot_new(1);
	assert_int_equal(series_emit(s, 5, &next->series[0]), 0);
	assert_ptr_not_equal(next->series[0].lset, old);
	assert_string_equal(next->series[0].cgroup_path, "/wl");
	assert_string_equal(pub->series[0].cgroup_path, "/wl/child");
	assert_int_equal(snap_labels_live(), live + 2);
	snapshot_slot_set(&slot, next); /* the slot drops the old snapshot; the reader has it */
	assert_string_equal(pub->series[0].cgroup_path, "/wl/child");
	assert_string_equal(pub->series[0].labels[LBL_WORKLOAD], "/wl");
	assert_null(snapshot_unref(pub));
	assert_int_equal(snap_labels_live(), live + 1); /* the old set went with the last reader */
	snapshot_slot_destroy(&slot);
	assert_int_equal(snap_labels_live(), live + 1); /* the series' own */
}

/* Churn: series that come and go leave no label set behind once the snapshots that showed
 * them are freed; the count stays flat over rounds. */
static void test_labels_bounded_under_churn(void **state)
{
	struct fixture *f = *state;
	struct snapshot_slot slot;
	long live = snap_labels_live();

	snapshot_slot_init(&slot);
	for (int round = 0; round < 20; round++) {
		struct series *got[50];
		struct snapshot *snap = snapshot_new(50);

		for (int i = 0; i < 50; i++) {
			char w[64], path[64];
			const char *labels[LBL_MAX] = { "ns", "pod", "c", "Cgroup", w, "", "", "" };

			snprintf(w, sizeof(w), "/churn-%d-%d", round, i);
			snprintf(path, sizeof(path), "/kubepods/%d/%d", round, i);
			got[i] = series_table_get(f->t, labels, path, 100 + i);
			assert_non_null(got[i]);
			assert_int_equal(series_emit(got[i], 5, &snap->series[i]), 0);
		}
		snapshot_slot_set(&slot, snap); /* the last round's snapshot is freed */
		for (int i = 0; i < 50; i++)
			series_table_remove(f->t, got[i]);
		/* The series are gone; the published snapshot alone holds their sets. */
		assert_int_equal(snap_labels_live(), live + 50);
		assert_string_equal(snap->series[49].labels[LBL_NAMESPACE], "ns");
	}
	snapshot_slot_destroy(&slot);
	assert_int_equal(snap_labels_live(), live);
}

/* An ill-formed label is repaired once, when its set is made, and counted in each snapshot
 * that shows it, as interning it there was. */
static void test_labels_repaired(void **state)
{
	struct fixture *f = *state;
	const char *labels[LBL_MAX] = { "n\xffs", "", "", "Cgroup", "/bad", "", "", "" };
	struct series *s = series_table_get(f->t, labels, "/bad", 3);

	assert_non_null(s);
	for (int i = 0; i < 2; i++) {
		struct snapshot *snap = snapshot_new(1);

		assert_int_equal(series_emit(s, i * 5, &snap->series[0]), 0);
		assert_string_equal(snap->series[0].labels[LBL_NAMESPACE], "n\xef\xbf\xbds");
		assert_int_equal(snapshot_sanitize(snap), 1);
		assert_int_equal(snap->agent.invalid_utf8_strings, 1);
		assert_null(snapshot_unref(snap));
	}
}

/* Neighbours are told apart by workload (namespace, kind, name), not by series: two pods of
 * one workload are one cause; workloads whose names share a prefix, or whose fields joined
 * would read the same, are not; past SERIES_CAUSES more are refused. */
static void test_causes_by_workload(void **state)
{
	struct fixture *f = *state;
	struct series *victim = series(f, "/victim", "/victim");
	const char *p1[LBL_MAX] = { "ns", "web-1", "c", "Deployment", "web", "", "u1", "" };
	const char *p2[LBL_MAX] = { "ns", "web-2", "c", "Deployment", "web", "", "u2", "" };
	const char *other[LBL_MAX] = { "ns", "web2-1", "c", "Deployment", "web2", "", "u3", "" };
	const char *kind[LBL_MAX] = { "ns", "web-3", "c", "StatefulSet", "web", "", "u4", "" };
	struct series *a = series_table_get(f->t, p1, "/p1", 11);
	struct series *b = series_table_get(f->t, p2, "/p2", 12);
	struct series *c = series_table_get(f->t, other, "/p3", 13);
	struct series *d = series_table_get(f->t, kind, "/p4", 14);

	assert_true(a && b && c && d);
	assert_int_equal(series_cause_add(victim, a, 10), 0);
	assert_int_equal(series_cause_add(victim, b, 20), 0);
	assert_int_equal(victim->n_causes, 1);
	assert_int_equal(victim->causes[0].total_ns, 30);
	assert_int_equal(series_cause_add(victim, c, 5), 0);
	assert_int_equal(series_cause_add(victim, d, 7), 0);
	assert_int_equal(victim->n_causes, 3);
	assert_string_equal(victim->causes[1].own[2], "web2");
	assert_string_equal(victim->causes[2].own[1], "StatefulSet");
	assert_int_equal(series_cause_add(victim, a, 1), 0);
	assert_int_equal(victim->causes[0].interval_ns, 31);
	for (int i = 3; i < SERIES_CAUSES + 1; i++) {
		char w[32];

		snprintf(w, sizeof(w), "/n%d", i);
		assert_int_equal(series_cause_add(victim, series(f, w, w), 1),
				 i < SERIES_CAUSES ? 0 : -ENOSPC);
	}
	assert_int_equal(victim->n_causes, SERIES_CAUSES);
	assert_int_equal(series_cause_add(victim, b, 1), 0); /* known ones still count */
	assert_int_equal(victim->causes[0].total_ns, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delta_and_rates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records_of_a_read_summed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_goes_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relabel_keeps_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta_typed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta_emptydirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpufs_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_structurally_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfs_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_carried_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_published_unaffected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_bounded_under_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_causes_by_workload, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
