/* SPDX-License-Identifier: BSD-2-Clause */
/* The pipeline: collect → attribute → rules → snapshot → publish, the agent's one loop. The
 * daemon (`bpfdiag agent`, with the HTTP and OTLP exporters reading its slot), in-process
 * `bpfdiag top` and in-process `bpfdiag check` all run this code.
 *
 * Each collection: the engine reads the kernel maps and attributes every cgroup (engine.h),
 * the rules engine judges the snapshot and adds its findings (rules.h; Kubernetes facts from
 * kube_meta, else local facts), and the snapshot is published into the slot, from which any
 * thread takes a reference. The pipeline logs (base/log.h) what the daemon's log shows:
 * findings starting and clearing, the first collection, failed collections.
 *
 * Thread safety: pipeline__snapshot and pipeline__ready may be called from any thread; the
 * other functions from the thread that runs the collections. */
#ifndef BPFDIAG_PIPELINE_H
#define BPFDIAG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "kube/kube_meta.h"
#include "model/snapshot.h"
#include "rules/rules.h"

struct pipeline_opts {
	struct engine_opts engine; /* .kube is the pipeline's own (set by pipeline__new) */
	const struct kube_meta_opts *kube; /* NULL: local mode, no Kubernetes */
	struct rules_config rules;
	bool judge_host; /* with Kubernetes, also judge cgroups outside pods */
	/* Right-sizing histories kept across restarts: the state file <state_dir>/
	 * recommendations.state, read by pipeline__new, written every state_save seconds (of
	 * collections) and by pipeline__save. NULL: not kept. */
	const char *state_dir;
	double state_save;
};

struct pipeline;

/* Creates the rules engine and the slot and, with Kubernetes, starts the metadata threads (the
 * pod list is fetched from now on). The collector is not loaded yet: pipeline__load. Returns
 * 0, or a negative errno with a one-line reason in err. */
int pipeline__new(const struct pipeline_opts *o, struct pipeline **ret, char *err, size_t errlen);
/* Loads the BPF collector and the cgroup index (engine__open). Returns 0, or a negative errno
 * with a one-line reason in err. */
int pipeline__load(struct pipeline *p, char *err, size_t errlen);
/* Stops everything. Accepts NULL; returns NULL. */
struct pipeline *pipeline__free(struct pipeline *p);

/* Writes the state file now (at a clean exit); logs a failure. Returns 0 or a negative errno
 * (0 without a state directory). */
int pipeline__save(struct pipeline *p);
/* One collection, judged and published. Returns 0, or a negative errno when the collection
 * failed (nothing is published; the previous snapshot stays). */
int pipeline__collect(struct pipeline *p);
/* Collects every interval seconds until stop_fd (-1: none) is readable, which it does not read,
 * or, with duration > 0, until a collection happens duration seconds or more after the first.
 * A failed collection is logged and the loop goes on. Returns 0, or a negative errno when
 * waiting failed. */
int pipeline__run(struct pipeline *p, double interval, int stop_fd, double duration);

/* A new reference to the latest snapshot, or NULL before the first collection. */
struct snapshot *pipeline__snapshot(struct pipeline *p);
/* Ready after the first collection and, with Kubernetes, the first pod list (SPEC §6). */
bool pipeline__ready(struct pipeline *p);
/* The metadata client, or NULL in local mode. */
struct kube_meta *pipeline__kube(struct pipeline *p);
/* The engine (after pipeline__load), for its cgroup root and features. */
struct engine *pipeline__engine(struct pipeline *p);

#endif
