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
#include "rules/rules_kube.h"

struct pipeline {
	struct engine_opts eo;
	bool judge_host;
	struct engine *engine; /* NULL until pipeline__load */
	struct kube_meta *kube; /* NULL in local mode */
	struct rules_engine *rules;
	struct snapshot_slot slot;
	int collected; /* atomic: a snapshot was published */
};

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
	int r = engine__collect(p->engine, &s);

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
