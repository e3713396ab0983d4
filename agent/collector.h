/* The kernel side as seen from user space: loads and attaches the BPF probe families and reads
 * their maps. One object per agent (or per standalone `top`). */
#ifndef BPFDIAG_COLLECTOR_H
#define BPFDIAG_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

struct collector_opts {
	const char *pin_dir; /* NULL: no pinning; maps then die with the process */
	uint32_t max_cgroups; /* 0: the built-in default */
};

struct collector_counters {
	uint64_t cpu_map_full; /* events that found no room for a new cgroup */
	uint64_t cpu_dropped_ns; /* CPU time that could therefore not be charged */
	uint64_t cgroups; /* entries in the per-cgroup CPU map */
	uint64_t max_cgroups;
};

struct collector;

/* Loads and attaches every probe. Returns 0 and sets *ret, or a negative errno with a
 * one-line reason in err. */
int collector__open(const struct collector_opts *opts, struct collector **ret, char *err,
		    size_t errlen);
/* Detaches and frees. Accepts NULL; returns NULL. */
struct collector *collector__destroy(struct collector *c);

typedef void (*collector_cpu_fn)(void *ctx, uint64_t cgroup_id, uint64_t oncpu_ns);
/* Calls fn with on-CPU ns per cgroup: its cumulative committed time, then once more for each
 * slice still running now (so a task that never switches out is seen too); the caller sums.
 * Returns 0 or a negative errno. */
int collector__read_cpu(struct collector *c, collector_cpu_fn fn, void *ctx);
int collector__counters(struct collector *c, struct collector_counters *ret);

#endif
