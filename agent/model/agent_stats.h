/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's self-stats that a snapshot carries typed — the collector's (kernel/collector.h
 * says what each measures) and listener seeding's — and their metric families: names, help and
 * label names are written here once, and the encoders render the samples this gives. */
#ifndef BPFDIAG_AGENT_STATS_H
#define BPFDIAG_AGENT_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/collector.h"

/* What listener seeding could not read (label `reason`). */
enum seed_skip {
	SEED_SKIP_UNREADABLE = 0, /* a /proc or cgroup entry, as of a process gone meanwhile */
	SEED_SKIP_PID_LIMIT, /* processes past the per-cgroup bound */
	SEED_SKIP_FD_LIMIT, /* descriptors past the per-process bound */
	SEED_SKIP_RACED, /* a seeding done again: a socket entered or left LISTEN meanwhile */
	SEED_SKIP_MAX,
};

/* Listener seeding (host/listen_seed.h); reported only while it runs (the net family is up). */
struct seed_stats {
	bool enabled;
	uint64_t listeners_seeded; /* sockets /proc showed that the BPF probes had not counted */
	uint64_t cgroups; /* cgroups whose listeners were read from /proc */
	uint64_t skipped[SEED_SKIP_MAX];
};

struct agent_stat_family {
	const char *name;
	bool counter; /* else a gauge */
	const char *help;
};

struct agent_sample {
	const struct agent_stat_family *family;
	char labels[128]; /* label pairs, e.g. map="cpu_stats" or family="cpu",probe="x"; "" */
	double value;
};

struct snap_agent;

/* Calls fn for each typed self-stat sample of the agent section, grouped by family in the
 * order the families first appear; first is set on a family's first sample. */
void snap_agent_samples(const struct snap_agent *a,
			void (*fn)(void *ctx, const struct agent_sample *s, bool first), void *ctx);

#endif
