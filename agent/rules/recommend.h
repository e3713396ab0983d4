/* SPDX-License-Identifier: BSD-2-Clause */
/* Right-sizing (issue 17, SPEC §5 "Recommendations"): per container of a workload (namespace,
 * kind, workload, container name: the replicas, restarts and successive Jobs of a CronJob share
 * one history), a decaying histogram of per-interval CPU use and the peak working set per day,
 * turned into a recommended CPU request and memory request and limit. Bounded: a fixed record
 * per container, at most max_entries of them. The records are plain data, saved to and loaded
 * from a small state file (recommend_state.c) so that histories survive an agent restart.
 * Pure: no logging; the state file functions do file I/O only. */
#ifndef BPFDIAG_RECOMMEND_H
#define BPFDIAG_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/snapshot.h"

/* CPU histogram: bucket 0 holds [0, REC_CPU_FIRST) cores, bucket i >= 1 holds
 * [REC_CPU_FIRST * REC_CPU_RATIO^(i-1), REC_CPU_FIRST * REC_CPU_RATIO^i); the last is open. */
#define REC_CPU_BUCKETS 128
#define REC_CPU_FIRST 0.001 /* cores: 1m */
#define REC_CPU_RATIO 1.1 /* each bucket 10 % wider: 1m … ~180 cores */
#define REC_MEM_SLOTS 14 /* peak working set of each of the last 14 periods (days) */
#define REC_KEY_MAX 448

struct rec_params {
	double cpu_percentile; /* 0.95 */
	double cpu_half_life; /* seconds: a sample's weight halves in this time (86400) */
	double throttled_ratio; /* throttled periods / periods at or above which CPU use is a
				 * floor (0.1) */
	double throttled_margin; /* a floor's request is the percentile * (1 + this) (0.25) */
	double cpu_min; /* cores: the smallest request recommended (0.01) */
	double mem_request_margin; /* request = peak * (1 + this) (0.15) */
	double mem_limit_margin; /* limit = peak * (1 + this) (0.3) */
	double oom_bump; /* after an OOM kill the peak is at least the limit then * this (1.2) */
	double mem_min; /* bytes: the smallest memory recommended (16 MiB) */
	double mem_slot_seconds; /* the length of a memory period (86400) */
	double min_seconds; /* observed time before a container gets a recommendation */
	size_t max_entries; /* containers remembered (4096); the least recently seen goes */
};

/* One container's history: plain data (no pointers), also the state file's record. */
struct rec_entry {
	char key[REC_KEY_MAX]; /* rec_key() */
	double ref_time; /* unix seconds at which a sample weighs its interval's length */
	double first_seen, last_seen; /* unix seconds */
	double observed; /* seconds of intervals added */
	double total_weight; /* of cpu[] */
	double throttled, periods; /* decayed as cpu[] */
	double oom_limit; /* the limit (or working set) at the last OOM kill; 0 none */
	int64_t oom_slot; /* its memory period number */
	int64_t mem_slot[REC_MEM_SLOTS]; /* period number (unix time / mem_slot_seconds) */
	double mem_peak[REC_MEM_SLOTS]; /* the highest working set of that period */
	float cpu[REC_CPU_BUCKETS];
};

/* A container's recommendation now. */
struct rec_values {
	double cpu_p; /* the percentile of per-interval CPU use, cores (bucket upper bound) */
	double cpu_request; /* cores */
	bool cpu_floor; /* throttled: use is a floor, the request is set above it */
	double throttled_ratio; /* throttled periods / periods over the history */
	double mem_peak; /* the peak working set over the periods kept, bytes */
	double mem_request, mem_limit; /* bytes */
	bool oom; /* raised after an OOM kill in the periods kept */
	double observed; /* seconds of history */
};

struct recommender;

void rec_params_default(struct rec_params *p, double min_seconds);
/* Returns a recommender, or NULL when out of memory. */
struct recommender *rec_new(const struct rec_params *p);
/* Accepts NULL; returns NULL. */
struct recommender *rec_free(struct recommender *r);
/* Writes the history key of a container into buf: "<len>/<ns><len>/<kind><len>/<workload>
 * <container>" (no two identities share one). */
void rec_key(char *buf, size_t size, const char *ns, const char *kind, const char *workload,
	     const char *container);
/* Adds a container's last interval d (its seconds > 0; CPU, throttling, working set and OOM
 * kills) at unix time now. A new key beyond max_entries evicts the least recently seen.
 * Returns 0 or -ENOMEM. */
int rec_add(struct recommender *r, const char *key, const struct snap_delta *d, double now);
/* The recommendation of key at now: 0, -ENOENT when it has no history, -EAGAIN while it has
 * less than min_seconds of it. */
int rec_get(const struct recommender *r, const char *key, double now, struct rec_values *ret);
size_t rec_count(const struct recommender *r);
uint64_t rec_evicted(const struct recommender *r);

/* The state file: written to path atomically (a temporary file beside it, fsync, rename).
 * Returns 0 or a negative errno. */
int rec_save(const struct recommender *r, const char *path);
/* Replaces r's histories by those in path. Returns the number of histories read, -ENOENT when
 * there is no file, or -EINVAL with a one-line reason in err for a file that is not ours, of
 * another version or layout, over the size bound, truncated or corrupt (r is then
 * unchanged), or another negative errno. */
int rec_load(struct recommender *r, const char *path, char *err, size_t errlen);

/* Internal to recommend*.c: the histories as an array (for the state file). */
const struct rec_entry *rec__entry(const struct recommender *r, size_t i);
int rec__replace(struct recommender *r, struct rec_entry *entries, size_t n);
const struct rec_params *rec__params(const struct recommender *r);

#endif
