/* SPDX-License-Identifier: BSD-2-Clause */
/* The collection engine: BPF collector + cgroup index + attribution, producing snapshots.
 * Shared by the daemon (`bpfdiag agent`) and the standalone views (`top` without an agent). */
#ifndef BPFDIAG_ENGINE_H
#define BPFDIAG_ENGINE_H

#include <stddef.h>

#include "kernel/collector.h"
#include "model/snapshot.h"

#define ENGINE_SERIES_RETENTION_SECONDS 300

struct engine_opts {
	const char *cgroup_root; /* NULL or "": detect from <proc_root>/self/mountinfo */
	const char *proc_root; /* NULL: /proc */
	const char *pin_dir; /* NULL or "": no pinning */
	bool pin_required; /* a pin_dir that cannot be used fails the open */
	const char *node_name;
	uint32_t max_cgroups; /* 0: default */
	enum collector_probe_choice net, uring, cpu;
	enum collector_fs_probe fs;
	bool bpf_stats;
	int sample_hz; /* collector_opts.sample_hz */
	struct kube_meta *kube; /* NULL: local mode; else borrowed, must outlive the engine */
	double series_retention; /* seconds a series outlives its last cgroup; 0: default */
};

struct engine;
struct kube_meta;

/* Opens the collector and the cgroup index. Returns 0, or a negative errno with a one-line
 * reason in err. */
int engine__open(const struct engine_opts *opts, struct engine **ret, char *err, size_t errlen);
/* Accepts NULL; returns NULL. */
struct engine *engine__close(struct engine *e);
/* Reads the kernel maps, attributes every cgroup and returns a new snapshot (the caller owns
 * the reference). Returns 0 or a negative errno. */
int engine__collect(struct engine *e, struct snapshot **ret);
const char *engine__cgroup_root(const struct engine *e);
const char *engine__features(const struct engine *e);

#endif
