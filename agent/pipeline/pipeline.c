// SPDX-License-Identifier: BSD-2-Clause
#include "pipeline/pipeline.h"
#include "base/heap.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "rules/recommend.h"
#include "rules/rules_kube.h"

struct pipeline {
	struct engine_opts eo;
	bool judge_host;
	struct engine *engine; /* NULL until pipeline__load */
	struct kube_meta *kube; /* NULL in local mode */
	struct rules_engine *rules;
	struct snapshot_slot slot;
	int collected; /* atomic: a snapshot was published */
	char state_path[4096]; /* "" none */
	double state_save, last_save; /* seconds; clock_mono of the last write */
	int save_err; /* the last write's result: a failure is logged when it changes */
	bool state_loaded;
};

/* Reads the state file into the rules' recommender: a missing file starts empty, a corrupt,
 * foreign or other-version one is logged and ignored (the next write replaces it). */
static void state_load(struct pipeline *p)
{
	char why[256];
	int r = rec_load(rules_recommender(p->rules), p->state_path, why, sizeof(why));

	if (r >= 0)
		log_info("state: %d right-sizing histories read from %s", r, p->state_path);
	else if (r == -ENOENT)
		log_info("state: no %s yet: right-sizing histories start empty", p->state_path);
	else if (r == -EINVAL)
		log_warn("state: %s ignored: %s; right-sizing histories start empty", p->state_path,
			 why);
	else
		log_warn("state: cannot read %s: %s; right-sizing histories start empty",
			 p->state_path, strerror(-r));
}

int pipeline__save(struct pipeline *p)
{
	int r;

	if (!p->state_path[0] || !p->state_loaded)
		return 0; /* nothing was read: an empty write would lose the file */
	r = rec_save(rules_recommender(p->rules), p->state_path);
	if (r && r != p->save_err)
		log_warn("state: cannot write %s: %s; right-sizing histories will not survive a "
			 "restart",
			 p->state_path, strerror(-r));
	else if (!r && p->save_err)
		log_info("state: %s written again", p->state_path);
	p->save_err = r;
	p->last_save = clock_mono();
	return r;
}

int pipeline__new(const struct pipeline_opts *o, struct pipeline **ret, char *err, size_t errlen)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snapshot_slot_init(&p->slot);
	p->eo = o->engine;
	p->judge_host = o->judge_host;
	p->rules = rules_new(&o->rules);
	if (!p->rules) {
		snprintf(err, errlen, "out of memory");
		pipeline__free(p);
		return -ENOMEM;
	}
	if (o->state_dir) {
		if (snprintf(p->state_path, sizeof(p->state_path), "%s/recommendations.state",
			     o->state_dir) >= (int)sizeof(p->state_path)) {
			snprintf(err, errlen, "--state-dir: path too long");
			pipeline__free(p);
			return -ENAMETOOLONG;
		}
		p->state_save = o->state_save > 0 ? o->state_save : 60;
		p->last_save = clock_mono();
	}
	if (o->kube) {
		r = kube_meta__start(o->kube, &p->kube, err, errlen);
		if (r) {
			pipeline__free(p);
			return r;
		}
	}
	p->eo.kube = p->kube;
	*ret = p;
	return 0;
}

int pipeline__load(struct pipeline *p, char *err, size_t errlen)
{
	return engine__open(&p->eo, &p->engine, err, errlen);
}

struct pipeline *pipeline__free(struct pipeline *p)
{
	if (!p)
		return NULL;
	/* The engine borrows the metadata client: it goes first. */
	p->engine = engine__close(p->engine);
	p->kube = kube_meta__stop(p->kube);
	snapshot_slot_destroy(&p->slot);
	p->rules = rules_free(p->rules);
	free(p);
	return NULL;
}

/* One log line when a finding starts and when it clears. */
static void on_rules_event(void *ctx, const struct rules_event *ev)
{
	const struct snap_finding *f = ev->finding;

	(void)ctx;
	if (ev->started)
		log_info("finding %s %s %s %s/%s%s%s: %s", f->rule, f->severity, f->workload_kind,
			 f->ns[0] ? f->ns : "-", f->workload, f->helm_release[0] ? " release " : "",
			 f->helm_release, f->message);
	else
		log_info("finding cleared: %s %s %s/%s", f->rule, f->workload_kind,
			 f->ns[0] ? f->ns : "-", f->workload);
}

static bool collected(struct pipeline *p)
{
	return __atomic_load_n(&p->collected, __ATOMIC_ACQUIRE);
}

bool pipeline__ready(struct pipeline *p)
{
	return collected(p) && (!p->kube || kube_meta__synced(p->kube));
}

int pipeline__collect(struct pipeline *p)
{
	struct snapshot *s = NULL;
	int r;

	/* The state file is read at the first collection: a start that fails on its options or
	 * its probes says only why. */
	if (p->state_path[0] && !p->state_loaded) {
		p->state_loaded = true;
		state_load(p);
	}
	r = engine__collect(p->engine, &s);
	if (!r) {
		struct rules_kube_ctx kctx = { .km = p->kube, .judge_host = p->judge_host };

		r = rules_update(p->rules, s, p->kube ? rules_kube_facts : rules_local_facts, &kctx,
				 s->time, on_rules_event, NULL);
		rules_kube_ctx_reset(&kctx);
	}
	if (r) {
		snapshot_unref(s);
		return r;
	}
	if (p->state_path[0] && clock_mono() - p->last_save >= p->state_save)
		pipeline__save(p);
	if (!collected(p)) {
		size_t n = s->n_series;

		snapshot_slot_set(&p->slot, s);
		__atomic_store_n(&p->collected, 1, __ATOMIC_RELEASE);
		log_info("first collection done: %zu series%s", n,
			 pipeline__ready(p) ? "; ready" : "; ready once the pod list is in");
	} else {
		snapshot_slot_set(&p->slot, s);
	}
	return 0;
}

int pipeline__run(struct pipeline *p, double interval, int stop_fd, double duration)
{
	double start = clock_mono(), last_trim = 0;

	for (;;) {
		struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };
		double wait = interval;
		int r;

		heap_trim_maybe(&last_trim, clock_mono()); /* base/heap.h: after churn */
		r = pipeline__collect(p);

		if (r)
			log_warn("collection failed: %s", strerror(-r));
		if (duration > 0) {
			double left = start + duration - clock_mono();

			if (left <= 0)
				return 0;
			wait = fmin(wait, left);
		}
		/* poll() ignores a negative fd: then it only waits. */
		r = poll(&pfd, 1, (int)ceil(wait * 1000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			r = -errno;
			log_error("poll: %s", strerror(-r));
			return r;
		}
	}
}

struct snapshot *pipeline__snapshot(struct pipeline *p)
{
	return snapshot_slot_get(&p->slot);
}

struct kube_meta *pipeline__kube(struct pipeline *p)
{
	return p->kube;
}

struct engine *pipeline__engine(struct pipeline *p)
{
	return p->engine;
}
