// SPDX-License-Identifier: BSD-2-Clause
#include "model/agent_stats.h"

#include "model/snapshot.h"

#include <stdio.h>
#include <string.h>

#define SEED_SAMPLES (2 + SEED_SKIP_MAX)

/* A family and the names of the labels its samples carry (subject, then mechanism). */
struct family_row {
	struct agent_stat_family family;
	const char *labels[2];
};

static const struct family_row collector_rows[CSTAT_KIND_MAX] = {
	[CSTAT_PROBE_UP] = { { "bpfdiag_agent_probe_up", false,
			       "1 when a BPF probe family is loaded and attached, 0 when the kernel "
			       "lacks what it needs." },
			     { "family" } },
	[CSTAT_PROBE_INFO] = { { "bpfdiag_agent_probe_info", false,
				 "The mechanism a probe family uses on this kernel (run-time "
				 "fallbacks and --net-probe/--fs-probe choices); 1 per family in "
				 "use." },
			       { "family", "probe" } },
	[CSTAT_MAP_ENTRIES] = { { "bpfdiag_agent_map_entries", false,
				  "Entries in a BPF map at the last read." },
				{ "map" } },
	[CSTAT_MAP_CAPACITY] = { { "bpfdiag_agent_map_capacity", false,
				   "Maximum entries of a BPF map." },
				 { "map" } },
	[CSTAT_MAP_OVERFLOW] = { { "bpfdiag_agent_map_overflow_total", true,
				   "Events that found a BPF map full; their data was dropped and "
				   "counted here." },
				 { "map" } },
	[CSTAT_CPU_DROPPED_SECONDS] = { { "bpfdiag_agent_cpu_dropped_seconds_total", true,
					  "CPU time that could not be charged because the cpu map "
					  "was full." },
					{ NULL } },
	[CSTAT_DISK_ATTRIBUTIONS] = { { "bpfdiag_agent_disk_attributions_total", true,
					"Block requests by how their cgroup was found (none: "
					"charged to the root cgroup)." },
				      { "method" } },
	[CSTAT_DISK_TRACKING] = { { "bpfdiag_agent_disk_tracking_total", true,
				    "Events of the disk family's request tracking: hash_fallback "
				    "(exact, slower), taken_over and expired (a request in flight "
				    "over 120 s dropped), unmatched (a completion with no issue "
				    "record, not counted), submitter_evicted (charged by fallback)." },
				  { "event" } },
	[CSTAT_BPF_RUN_SECONDS] = { { "bpfdiag_agent_bpf_run_seconds_total", true,
				      "Kernel time spent in a BPF program "
				      "(kernel.bpf_stats_enabled)." },
				    { "program" } },
	[CSTAT_BPF_RUNS] = { { "bpfdiag_agent_bpf_runs_total", true, "Runs of a BPF program." },
			     { "program" } },
	[CSTAT_MAP_READS] = { { "bpfdiag_agent_map_reads_total", true,
				"Walks of the BPF maps by method: batch (bpf_map_lookup_batch), "
				"per_key where the kernel refused batch lookups for a map type "
				"(two system calls per entry)." },
			      { "method" } },
	[CSTAT_CPU_FLUSHES] = { { "bpfdiag_agent_cpu_flushes_total", true,
				  "Runs of the cpu family's flush on a CPU before the maps are read "
				  "(done; offline: the CPU was; failed: the kernel refused the run)." },
				{ "result" } },
};

static const struct agent_stat_family seeded_family = {
	"bpfdiag_agent_listeners_seeded_total", true,
	"Listening TCP sockets found in /proc when their cgroup was first seen that the BPF "
	"probes had not counted (opened before they were attached)."
};

static const struct agent_stat_family seed_cgroups_family = {
	"bpfdiag_agent_listen_seed_cgroups_total", true,
	"Cgroups whose listening sockets were read from /proc (once each, when first seen)."
};

static const struct agent_stat_family seed_skipped_family = {
	"bpfdiag_agent_listen_seed_skipped_total", true,
	"What listener seeding could not read (unreadable: a /proc or cgroup entry, as of a "
	"process gone meanwhile; pid_limit, fd_limit: processes past the per-cgroup bounds; "
	"raced: a seeding done again because a socket entered or left LISTEN meanwhile)."
};

static const char *const seed_skip_names[SEED_SKIP_MAX] = {
	[SEED_SKIP_UNREADABLE] = "unreadable",
	[SEED_SKIP_PID_LIMIT] = "pid_limit",
	[SEED_SKIP_FD_LIMIT] = "fd_limit",
	[SEED_SKIP_RACED] = "raced",
};

static void collector_sample(const struct collector_stat *st, struct agent_sample *ret)
{
	const struct family_row *row = &collector_rows[st->kind];
	const char *values[2] = { st->subject, st->mechanism };
	size_t n = 0;

	ret->family = &row->family;
	ret->value = st->value;
	ret->labels[0] = '\0';
	for (int i = 0; i < 2 && row->labels[i]; i++) {
		int w = snprintf(ret->labels + n, sizeof(ret->labels) - n, "%s%s=\"%s\"",
				 i ? "," : "", row->labels[i], values[i]);

		if (w < 0 || (size_t)w >= sizeof(ret->labels) - n)
			break;
		n += (size_t)w;
	}
}

static const struct agent_stat_family *seed_family(size_t i)
{
	return i == 0 ? &seeded_family : i == 1 ? &seed_cgroups_family : &seed_skipped_family;
}

static void seed_sample(const struct seed_stats *seed, size_t i, struct agent_sample *ret)
{
	ret->family = seed_family(i);
	ret->labels[0] = '\0';
	if (i == 0)
		ret->value = (double)seed->listeners_seeded;
	else if (i == 1)
		ret->value = (double)seed->cgroups;
	else {
		ret->value = (double)seed->skipped[i - 2];
		snprintf(ret->labels, sizeof(ret->labels), "reason=\"%s\"", seed_skip_names[i - 2]);
	}
}

/* Sample i: the collector's stats, then seeding's. */
static const struct agent_stat_family *family_at(const struct snap_agent *a, size_t i)
{
	return i < a->n_stats ? &collector_rows[a->stats[i].kind].family :
				seed_family(i - a->n_stats);
}

static void sample_at(const struct snap_agent *a, size_t i, struct agent_sample *ret)
{
	if (i < a->n_stats)
		collector_sample(&a->stats[i], ret);
	else
		seed_sample(&a->seed, i - a->n_stats, ret);
}

void snap_agent_samples(const struct snap_agent *a,
			void (*fn)(void *ctx, const struct agent_sample *s, bool first), void *ctx)
{
	size_t n = a->n_stats + (a->seed.enabled ? SEED_SAMPLES : 0);
	struct agent_sample s;

	for (size_t i = 0; i < n; i++) {
		const struct agent_stat_family *f = family_at(a, i);
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = family_at(a, j) == f;
		if (seen)
			continue;
		for (size_t j = i; j < n; j++) {
			if (family_at(a, j) != f)
				continue;
			sample_at(a, j, &s);
			fn(ctx, &s, j == i);
		}
	}
}
