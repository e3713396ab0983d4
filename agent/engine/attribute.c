// SPDX-License-Identifier: BSD-2-Clause
/* Attribution: which series a cgroup id feeds. Its path in the cgroup tree gives local labels
 * (local_labels.h), Kubernetes metadata the pod's; the running containers of the pod list are
 * tracked so that idle ones have a series too. */
#include "engine/engine_priv.h"

#include "base/clock.h"
#include "base/log.h"
#include "engine/local_labels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SWEEP_AFTER_SCANS 2 /* ids absent from this many tree walks are gone */
#define TRACK_RETRY_MAX 30.0 /* seconds between lookups of a container's cgroup, at most */

/* A running container of the pod list, tracked from the list rather than from BPF activity:
 * an idle container (a pod that only sleeps) never shows up in the maps. */
struct tracked {
	struct kube_container_ref ref;
	uint64_t cgid; /* its cgroup, 0 until found */
	uint64_t list_gen; /* the last pod list that had it */
	unsigned tries;
	double next_try; /* monotonic seconds */
};

struct cg *engine_cg_get(struct engine *e, uint64_t id)
{
	struct cg *c = idmap_get(e->cgs, id);

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c || idmap_put(e->cgs, id, c)) {
		free(c);
		return NULL;
	}
	c->id = id;
	/* What the first collection finds predates the agent: its age is unknown. */
	c->first_seen = e->collections ? clock_mono() : 0;
	return c;
}

void engine_cg_gone(struct engine *e, struct cg *c)
{
	if (c->gone)
		return;
	c->gone = true;
	c->next_gone = e->gone;
	e->gone = c;
}

/* Overrides local labels with Kubernetes metadata when the cgroup's pod is known. kl holds the
 * strings. Returns true when it did. */
static bool kube_labels(struct engine *e, const struct cgroup_ident *id, struct cg *c,
			struct kube_labels *kl, const char *labels[LBL_MAX])
{
	int r;

	c->kube_pending = false;
	if (!e->kube || (id->kind != CGROUP_KUBE_CONTAINER && id->kind != CGROUP_KUBE_POD))
		return false;
	/* Pod-level cgroups (the pod slice, crio-conmon) are labelled as the sandbox. */
	r = kube_meta__labels(e->kube, id->pod_uid,
			      id->kind == CGROUP_KUBE_CONTAINER ? id->container_id : "",
			      c->first_seen, kl);
	if (r) {
		c->kube_pending = r == -EAGAIN;
		return false;
	}
	labels[LBL_NAMESPACE] = kl->ns;
	labels[LBL_POD] = kl->pod;
	labels[LBL_CONTAINER] = kl->container;
	labels[LBL_WORKLOAD_KIND] = kl->workload_kind;
	labels[LBL_WORKLOAD] = kl->workload;
	labels[LBL_HELM_RELEASE] = kl->helm_release;
	return true;
}

/* Computes the labels of a cgroup; they point into *id, *kl and the tree's path. Returns
 * -ENOENT when its path is unknown. */
static int cg_labels(struct engine *e, struct cg *c, struct cgroup_ident *id,
		     struct kube_labels *kl, const char *labels[LBL_MAX], const char **ret_path,
		     bool *ret_kube)
{
	const char *path = cgroup_tree_lookup(e->tree, c->id);

	if (!path)
		return -ENOENT;
	if (cgroup_path_parse(path, id)) {
		/* Not a path we can classify: keep it as a plain cgroup, never drop it. */
		memset(id, 0, sizeof(*id));
	}
	engine_local_labels(id, path, labels);
	*ret_kube = kube_labels(e, id, c, kl, labels);
	*ret_path = path;
	return 0;
}

static int resolve(struct engine *e, struct cg *c, uint64_t kgen)
{
	const char *labels[LBL_MAX], *path;
	struct cgroup_ident id;
	struct kube_labels kl;
	struct series *s;
	bool kube;

	if (cg_labels(e, c, &id, &kl, labels, &path, &kube))
		return -ENOENT;
	c->kube_gen = kgen;
	c->kube_labelled = kube;
	s = series_table_get(e->series, labels, path, c->id);
	if (!s)
		return -ENOMEM;
	member_join(&c->m, s);
	c->seed_pending = e->seed_listeners && !c->path;
	e->seed_wanted |= c->seed_pending;
	free(c->path);
	c->path = strdup(path);
	return c->path ? 0 : -ENOMEM;
}

/* Metadata changed (or arrived after the cgroup was first collected): when the cgroup's labels
 * change, it moves to the new series with its whole history (member_move) and the old series,
 * whose history moved with it, goes at once when no member is left. Labels never fall back
 * from Kubernetes to local mode: a deleted pod keeps its attribution. */
int engine_relabel(struct engine *e, struct cg *c, uint64_t kgen)
{
	const char *labels[LBL_MAX], *path;
	struct cgroup_ident id;
	struct kube_labels kl;
	struct series *s;
	bool kube;

	c->kube_gen = kgen;
	if (cg_labels(e, c, &id, &kl, labels, &path, &kube))
		return 0; /* gone from the tree: keep what it had */
	if (!kube && c->kube_labelled)
		return 0;
	s = series_table_get(e->series, labels, path, c->id);
	if (!s)
		return -ENOMEM;
	if (s == c->m.series)
		return 0;
	if (member_move(e->series, &c->m, s))
		return -ENOMEM;
	c->kube_labelled = kube;
	return 0;
}

int engine_resolve_all(struct engine *e, uint64_t kgen, uint64_t *ret_unresolved)
{
	bool need_scan = false, scanned = false, waiting = false;
	uint64_t key, unresolved = 0;
	size_t pos = 0;
	void *v;
	int r;

	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (c->gen == e->gen && !c->m.series && !c->gone) {
			/* A new id in the index (a walk's, or the cgroup_mkdir probe's) resolves
			 * without a walk; one not in it, or that did not resolve, needs one. */
			bool indexed = cgroup_tree_lookup(e->tree, c->id) != NULL;

			need_scan |= c->resolve_tries == 0 && !indexed;
			waiting |= c->resolve_tries > 0 || !indexed;
		}
	}
	/* New ids: now. Ids still unknown: every few seconds, so the sweep can decide. */
	if (need_scan ||
	    time(NULL) - e->last_scan >= (waiting ? RESCAN_UNKNOWN_SECONDS : TREE_SWEEP_SECONDS)) {
		if (cgroup_tree_scan(e->tree) >= 0)
			scanned = true;
		e->last_scan = time(NULL);
	}
	pos = 0;
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		/* A gone cgroup gets no series: one made and removed between two collections would
		 * otherwise leave a series, a rules window and a right-sizing history behind for
		 * every short-lived cgroup (test_churn's RSS grew ~3 KB per cgroup). */
		if (c->m.series || c->gone || (!scanned && c->resolve_tries))
			continue;
		c->resolve_tries++;
		r = resolve(e, c, kgen);
		if (r == -ENOMEM)
			return r;
		if (!c->m.series) {
			unresolved++;
			/* Removed while nobody looked (agent down, rmdir map full): sweep. */
			if (scanned && ++c->missing_scans >= SWEEP_AFTER_SCANS) {
				engine_cg_gone(e, c);
				e->swept++;
			}
		}
	}
	*ret_unresolved = unresolved;
	return 0;
}

/* A tracked container left the pod list (stopped, or its pod was deleted): when its cgroup
 * is gone as well, it is freed like a removed one (the rmdir probe normally says so first). */
static void untrack(struct engine *e, struct tracked *t)
{
	struct cg *c = t->cgid ? idmap_get(e->cgs, t->cgid) : NULL;
	char path[PATH_MAX];

	if (c && !c->gone && c->path) {
		snprintf(path, sizeof(path), "%s%s", engine__cgroup_root(e), c->path);
		if (access(path, F_OK) && errno == ENOENT) {
			engine_cg_gone(e, c);
			e->swept++;
		}
	}
	free(t);
}

/* Takes the running containers of the pod list (after any metadata change): new ones are
 * looked up at once, those no longer listed are dropped. */
static int track_refresh(struct engine *e, uint64_t kgen)
{
	struct kube_container_ref *refs = NULL;
	size_t n = 0;
	int r;

	r = kube_meta__containers(e->kube, &refs, &n);
	if (r)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct tracked *t = strmap_get(&e->tracked, refs[i].id);

		if (!t) {
			t = calloc(1, sizeof(*t));
			if (!t || strmap_put(&e->tracked, refs[i].id, t)) {
				free(t);
				free(refs);
				return -ENOMEM;
			}
			t->ref = refs[i];
		}
		t->list_gen = kgen;
	}
	free(refs);
	STRMAP_FOREACH(&e->tracked, ent)
	{
		if (((struct tracked *)ent->val)->list_gen != kgen)
			untrack(e, strmap_del(&e->tracked, ent->key));
	}
	e->tracked_gen = kgen;
	return 0;
}

/* Gives a found container cgroup its series, with CPU counters at zero until it runs. */
static int track_found(struct engine *e, struct tracked *t, uint64_t cgid, uint64_t kgen)
{
	struct cg *c = engine_cg_get(e, cgid);
	int r;

	if (!c)
		return -ENOMEM;
	if (!c->m.series && !c->gone) {
		c->resolve_tries++;
		r = resolve(e, c, kgen);
		if (r == -ENOMEM)
			return r;
	}
	if (!c->m.series)
		return -ENOENT;
	if (!series_acc(c->m.series, ACC_CPU))
		return -ENOMEM;
	if (t->tries)
		log_debug("container %s of pod %s: cgroup %s found after %u lookups", t->ref.id,
			  t->ref.pod_uid, c->path ? c->path : "?", t->tries + 1);
	t->cgid = cgid;
	return 0;
}

/* Every running container of the pod list has a series from the first collection, whether
 * or not it ever ran: its cgroup is found from its pod UID and container id (the index of
 * the last tree walk, else one listing of its pod's directory, else — at most every
 * RESCAN_UNKNOWN_SECONDS — a new walk). Lookups happen when the list changes and, for a
 * container whose cgroup is not there yet (just starting), again with backoff. */
int engine_track_containers(struct engine *e, uint64_t kgen)
{
	double now = clock_mono();
	bool scanned = false;
	uint64_t cgid;
	int r;

	e->tracked_unresolved = 0;
	if (!e->kube)
		return 0;
	if (kgen != e->tracked_gen) {
		r = track_refresh(e, kgen);
		if (r)
			return r;
	}
	STRMAP_FOREACH(&e->tracked, ent)
	{
		struct tracked *t = ent->val;

		if (t->cgid)
			continue;
		if (now < t->next_try) {
			e->tracked_unresolved++;
			continue;
		}
		r = cgroup_tree_find_container(e->tree, t->ref.pod_uid, t->ref.id, &cgid);
		if (r == -ENOENT && !scanned &&
		    time(NULL) - e->last_scan >= RESCAN_UNKNOWN_SECONDS) {
			/* Its pod's cgroup is newer than the last walk, or elsewhere. */
			scanned = true;
			if (cgroup_tree_scan(e->tree) >= 0)
				r = cgroup_tree_find_container(e->tree, t->ref.pod_uid, t->ref.id,
							       &cgid);
			e->last_scan = time(NULL);
		}
		if (!r)
			r = track_found(e, t, cgid, kgen);
		if (r == -ENOMEM)
			return r;
		if (r) {
			double wait = t->tries < 5 ? (double)(1u << t->tries) : TRACK_RETRY_MAX;

			if (!t->tries)
				log_debug("container %s of pod %s: no cgroup yet, looking again",
					  t->ref.id, t->ref.pod_uid);
			t->tries++;
			t->next_try = now + (wait < TRACK_RETRY_MAX ? wait : TRACK_RETRY_MAX);
			e->tracked_unresolved++;
		}
	}
	return 0;
}

void engine_track_free(struct engine *e)
{
	strmap_destroy(&e->tracked, free);
}
