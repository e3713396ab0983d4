// SPDX-License-Identifier: BSD-2-Clause
#include "kernel/collector_priv.h"

#include <bpf/bpf.h>
#include <stdio.h>

#include "base/log.h"
#include "cpu.h"
#include "disk.h"

static const char *const slot_names[PROBE_SLOTS] = {
	[SLOT_CPU] = "cpu",	[SLOT_SAMPLES] = "samples",
	[SLOT_DISK] = "disk",	[SLOT_FS] = "fs",
	[SLOT_NET] = "net",	[SLOT_CGROUP] = "cgroup",
	[SLOT_URING] = "uring", [SLOT_LISTENERS] = "listeners",
};

bool collector_bpf_stats_sysctl(void)
{
	char c = '0';
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");

	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = '0';
		fclose(f);
	}
	return c == '1';
}

static void stat_add(struct collector *c, enum collector_stat_kind kind, double value,
		     const char *subject, const char *mechanism)
{
	struct collector_stat *s;

	static bool logged;

	if (c->n_stats >= COLLECTOR_MAX_STATS) {
		if (!logged)
			log_warn("collector: more than %d self-metric rows; %s and later rows are "
				 "not exported",
				 COLLECTOR_MAX_STATS, subject ? subject : "?");
		logged = true;
		return;
	}
	s = &c->stats[c->n_stats++];
	s->kind = kind;
	s->value = value;
	snprintf(s->subject, sizeof(s->subject), "%s", subject ? subject : "");
	snprintf(s->mechanism, sizeof(s->mechanism), "%s", mechanism ? mechanism : "");
}

static uint64_t percpu_counter(struct collector *c, int fd, uint32_t idx)
{
	uint64_t *v = (uint64_t *)c->vals, sum = 0;

	if (fd < 0 || bpf_map_lookup_elem(fd, &idx, v))
		return 0;
	for (int i = 0; i < c->ncpus; i++)
		sum += v[i];
	return sum;
}

static void prog_stats(struct collector *c, struct bpf_object *obj)
{
	struct bpf_program *p;

	if (!obj)
		return;
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = { 0 };
		uint32_t len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		stat_add(c, CSTAT_BPF_RUN_SECONDS, (double)info.run_time_ns / 1e9,
			 bpf_program__name(p), NULL);
		stat_add(c, CSTAT_BPF_RUNS, (double)info.run_cnt, bpf_program__name(p), NULL);
	}
}

int collector__stats(struct collector *c, const struct collector_stat **ret, size_t *ret_n)
{
	static const char *const families[] = { "cpu", "disk", "fs", "net", "cgroup", "uring" };
	const bool up[] = { c->cpu != NULL, c->disk != NULL, c->fs != NULL,
			    c->net != NULL, c->cg != NULL,   c->uring != NULL };

	c->n_stats = 0;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		stat_add(c, CSTAT_PROBE_UP, up[i], families[i], NULL);
	for (size_t i = 0; i < PROBE_SLOTS; i++) {
		if (c->probe[i])
			stat_add(c, CSTAT_PROBE_INFO, 1, slot_names[i], c->probe[i]);
	}
	for (unsigned i = 0; i < c->n_maps; i++)
		stat_add(c, CSTAT_MAP_ENTRIES, (double)c->maps[i].entries, c->maps[i].name, NULL);
	for (unsigned i = 0; i < c->n_maps; i++)
		stat_add(c, CSTAT_MAP_CAPACITY, (double)bpf_map__max_entries(c->maps[i].map),
			 c->maps[i].name, NULL);
	for (unsigned i = 0; i < c->n_maps; i++)
		stat_add(c, CSTAT_MAP_OVERFLOW,
			 (double)percpu_counter(c, c->maps[i].counters_fd, c->maps[i].counter_idx),
			 c->maps[i].name, NULL);
	stat_add(c, CSTAT_MAP_READS, (double)c->map_reads[MAP_READ_BATCH], "batch", NULL);
	stat_add(c, CSTAT_MAP_READS, (double)c->map_reads[MAP_READ_PER_KEY], "per_key", NULL);
	if (c->cpu_flush) {
		static const char *const results[FLUSH_RESULTS] = { "done", "offline", "failed" };

		for (unsigned i = 0; i < FLUSH_RESULTS; i++)
			stat_add(c, CSTAT_CPU_FLUSHES, (double)c->flushes[i], results[i], NULL);
	}
	stat_add(c, CSTAT_CPU_DROPPED_SECONDS,
		 (double)percpu_counter(c, bpf_map__fd(c->cpu->maps.cpu_counters),
					CPU_CNT_DROPPED_NS) /
			 1e9,
		 NULL, NULL);
	if (c->disk) {
		static const char *const via[] = { "blkcg", "submitter", "current", "dirtier",
						   "none" };
		static const char *const tracking[DISK_CNT_MAX] = {
			[DISK_CNT_INFLIGHT_HASH] = "hash_fallback",
			[DISK_CNT_INFLIGHT_TAKEN_OVER] = "taken_over",
			[DISK_CNT_INFLIGHT_EXPIRED] = "expired",
			[DISK_CNT_UNMATCHED] = "unmatched",
			[DISK_CNT_SUBMITTER_EVICTED] = "submitter_evicted",
		};
		int fd = bpf_map__fd(c->disk->maps.disk_counters);

		for (unsigned i = 0; i < DISK_VIA_MAX; i++)
			stat_add(c, CSTAT_DISK_ATTRIBUTIONS,
				 (double)percpu_counter(c, fd, DISK_CNT_VIA_BLKCG + i), via[i],
				 NULL);
		for (unsigned i = 0; i < DISK_CNT_MAX; i++) {
			if (tracking[i])
				stat_add(c, CSTAT_DISK_TRACKING, (double)percpu_counter(c, fd, i),
					 tracking[i], NULL);
		}
	}
	if (c->stats_fd >= 0 || collector_bpf_stats_sysctl()) {
		prog_stats(c, c->cpu->obj);
		prog_stats(c, c->disk ? c->disk->obj : NULL);
		prog_stats(c, c->fs ? c->fs->obj : NULL);
		prog_stats(c, c->net ? c->net->obj : NULL);
		prog_stats(c, c->cg ? c->cg->obj : NULL);
		prog_stats(c, c->uring ? c->uring->obj : NULL);
	}
	*ret = c->stats;
	*ret_n = c->n_stats;
	return 0;
}
