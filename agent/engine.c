#include "engine.h"
#include "cgroup_tree.h"
#include "collector.h"
#include "idmap.h"
#include "kube_meta.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A labelled series: the sum of the cgroups that map to one label set. */
struct series {
	struct series *next; /* hash chain */
	uint64_t hash;
	char *key; /* label values joined with \x1f: the identity */
	char *labels[LBL_MAX];
	char *cgroup_path;
	uint64_t cgroup_id;
	uint64_t cpu_ns; /* accumulated from member deltas: survives members going away */
	uint64_t prev_cpu_ns;
	size_t members; /* cgroups keyed to it; a re-keyed series left with none is dropped */
};

/* A cgroup id seen in the BPF maps. */
struct cg {
	uint64_t raw_ns; /* summed over this collection's callbacks */
	uint64_t last_raw_ns; /* raw value already added to the series */
	uint64_t gen;
	unsigned resolve_tries;
	struct series *series; /* NULL until the id resolves to a path */
	double first_seen; /* monotonic; 0 when seen by the first collection */
	uint64_t kube_gen; /* metadata generation its labels were computed at */
	bool kube_labelled; /* labels come from Kubernetes metadata */
	bool kube_pending; /* its pod is known, its container id not yet */
};

struct engine {
	char *node;
	struct collector *collector;
	struct cgroup_tree *tree;
	struct idmap *cgs; /* id → struct cg */
	struct idmap *series; /* hash → struct series chain */
	size_t n_series;
	struct kube_meta *kube;
	uint64_t gen;
	double start_time;
	double last_time;
	time_t last_scan;
	uint64_t collections;
	uint64_t errors;
};

static double now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void engine_local_labels(const struct cgroup_ident *id, const char *path, const char *ret[LBL_MAX])
{
	for (int i = 0; i < LBL_MAX; i++)
		ret[i] = "";
	switch (id->kind) {
	case CGROUP_KUBE_CONTAINER:
		ret[LBL_POD_UID] = id->pod_uid;
		ret[LBL_CONTAINER_ID] = id->container_id;
		ret[LBL_WORKLOAD_KIND] = "Container";
		ret[LBL_WORKLOAD] = id->container_id;
		return;
	case CGROUP_CONTAINER:
		ret[LBL_CONTAINER_ID] = id->container_id;
		ret[LBL_WORKLOAD_KIND] = "Container";
		ret[LBL_WORKLOAD] = id->container_id;
		return;
	case CGROUP_SYSTEMD_SERVICE:
		ret[LBL_WORKLOAD_KIND] = "SystemdService";
		ret[LBL_WORKLOAD] = id->unit;
		return;
	case CGROUP_KUBE_POD:
		ret[LBL_POD_UID] = id->pod_uid;
		break;
	case CGROUP_KUBE_QOS:
	case CGROUP_PLAIN:
		break;
	}
	ret[LBL_WORKLOAD_KIND] = "Cgroup";
	ret[LBL_WORKLOAD] = path;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h ? h : 1; /* idmap keys are non-zero */
}

static struct series *series_free(struct series *s)
{
	if (!s)
		return NULL;
	for (int i = 0; i < LBL_MAX; i++)
		free(s->labels[i]);
	free(s->key);
	free(s->cgroup_path);
	free(s);
	return NULL;
}

/* Finds or creates the series of a label set. Returns NULL when out of memory. */
static struct series *series_get(struct engine *e, const char *labels[LBL_MAX], const char *path,
				 uint64_t cgid)
{
	size_t keylen = 0;
	struct series *s, *head;
	char *key, *p;
	uint64_t h;

	for (int i = 0; i < LBL_MAX; i++)
		keylen += strlen(labels[i]) + 1;
	key = malloc(keylen);
	if (!key)
		return NULL;
	p = key;
	for (int i = 0; i < LBL_MAX; i++) {
		size_t n = strlen(labels[i]);

		memcpy(p, labels[i], n);
		p[n] = i + 1 < LBL_MAX ? '\x1f' : '\0';
		p += n + 1;
	}
	h = fnv1a(key);
	head = idmap_get(e->series, h);
	for (s = head; s; s = s->next) {
		if (strcmp(s->key, key) == 0) {
			free(key);
			/* The shallowest member names the series (a container, not its children). */
			if (strlen(path) < strlen(s->cgroup_path)) {
				char *np = strdup(path);

				if (np) {
					free(s->cgroup_path);
					s->cgroup_path = np;
					s->cgroup_id = cgid;
				}
			}
			return s;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(key);
		return NULL;
	}
	s->key = key;
	s->hash = h;
	s->cgroup_id = cgid;
	s->cgroup_path = strdup(path);
	for (int i = 0; i < LBL_MAX; i++) {
		s->labels[i] = strdup(labels[i]);
		if (!s->labels[i])
			return series_free(s);
	}
	if (!s->cgroup_path || idmap_put(e->series, h, s))
		return series_free(s);
	s->next = head;
	e->n_series++;
	return s;
}

/* Drops a member from s, and s itself once no cgroup is keyed to it. */
static void series_release(struct engine *e, struct series *s)
{
	struct series *head, **pp;

	if (--s->members > 0)
		return;
	head = idmap_get(e->series, s->hash);
	for (pp = &head; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = s->next;
	/* Delete, then put: the map then never needs to grow, so this cannot fail. */
	idmap_del(e->series, s->hash);
	if (head)
		idmap_put(e->series, s->hash, head);
	e->n_series--;
	series_free(s);
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

int engine__open(const struct engine_opts *opts, struct engine **ret, char *err, size_t errlen)
{
	struct collector_opts copts = { .pin_dir = opts->pin_dir,
					.max_cgroups = opts->max_cgroups };
	char root[PATH_MAX];
	struct engine *e;
	int r;

	if (opts->cgroup_root && opts->cgroup_root[0]) {
		snprintf(root, sizeof(root), "%s", opts->cgroup_root);
	} else {
		r = cgroup_root_detect(opts->proc_root, root, sizeof(root));
		if (r) {
			snprintf(err, errlen,
				 r == -ENOENT ?
					 "no cgroup v2 hierarchy is mounted (see mountinfo); "
					 "bpfdiag attributes by cgroup v2 id" :
					 "cannot read mountinfo: %s",
				 strerror(-r));
			return r;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->node = strdup(opts->node_name ? opts->node_name : "");
	e->kube = opts->kube;
	e->cgs = idmap_new();
	e->series = idmap_new();
	e->tree = cgroup_tree_new(root);
	if (!e->node || !e->cgs || !e->series || !e->tree) {
		snprintf(err, errlen, "out of memory");
		engine__close(e);
		return -ENOMEM;
	}
	r = cgroup_tree_scan(e->tree);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the cgroup tree at %s: %s", root, strerror(-r));
		engine__close(e);
		return r;
	}
	e->last_scan = time(NULL);
	r = collector__open(&copts, &e->collector, err, errlen);
	if (r) {
		engine__close(e);
		return r;
	}
	e->start_time = now_unix();
	*ret = e;
	return 0;
}

struct engine *engine__close(struct engine *e)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	if (!e)
		return NULL;
	collector__destroy(e->collector);
	cgroup_tree_free(e->tree);
	if (e->cgs) {
		while (idmap_next(e->cgs, &pos, &key, &v))
			free(v);
		idmap_free(e->cgs);
	}
	if (e->series) {
		pos = 0;
		while (idmap_next(e->series, &pos, &key, &v)) {
			for (struct series *s = v, *next; s; s = next) {
				next = s->next;
				series_free(s);
			}
		}
		idmap_free(e->series);
	}
	free(e->node);
	free(e);
	return NULL;
}

const char *engine__cgroup_root(const struct engine *e)
{
	return cgroup_tree_root(e->tree);
}

struct read_ctx {
	struct engine *e;
	int err;
};

static void on_cpu(void *ctx, uint64_t cgid, uint64_t ns)
{
	struct read_ctx *rc = ctx;
	struct cg *c = idmap_get(rc->e->cgs, cgid);

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || idmap_put(rc->e->cgs, cgid, c)) {
			free(c);
			rc->err = -ENOMEM;
			return;
		}
		/* What the first collection finds predates the agent: its age is unknown. */
		c->first_seen = rc->e->collections ? now_mono() : 0;
	}
	if (c->gen != rc->e->gen) {
		c->gen = rc->e->gen;
		c->raw_ns = 0;
	}
	c->raw_ns += ns;
}

/* Computes the labels of a cgroup; they point into *id, *kl and the tree's path. Returns
 * -ENOENT when its path is unknown. */
static int cg_labels(struct engine *e, uint64_t cgid, struct cg *c, struct cgroup_ident *id,
		     struct kube_labels *kl, const char *labels[LBL_MAX], const char **ret_path,
		     bool *ret_kube)
{
	const char *path = cgroup_tree_lookup(e->tree, cgid);

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

static int resolve(struct engine *e, uint64_t cgid, struct cg *c, uint64_t kgen)
{
	const char *labels[LBL_MAX], *path;
	struct cgroup_ident id;
	struct kube_labels kl;
	bool kube;

	if (cg_labels(e, cgid, c, &id, &kl, labels, &path, &kube))
		return -ENOENT;
	c->kube_gen = kgen;
	c->kube_labelled = kube;
	c->series = series_get(e, labels, path, cgid);
	if (!c->series)
		return -ENOMEM;
	c->series->members++;
	return 0;
}

/* Metadata changed (or arrived after the cgroup was first collected): when the cgroup's labels
 * change, it moves to the new series with its whole history (last_raw_ns = 0, so the next
 * delta is its cumulative total) and the old series goes once it has no member left. Labels
 * never fall back from Kubernetes to local mode: a deleted pod keeps its attribution. */
static int relabel(struct engine *e, uint64_t cgid, struct cg *c, uint64_t kgen)
{
	const char *labels[LBL_MAX], *path;
	struct cgroup_ident id;
	struct kube_labels kl;
	struct series *s;
	bool kube;

	c->kube_gen = kgen;
	if (cg_labels(e, cgid, c, &id, &kl, labels, &path, &kube))
		return 0; /* gone from the tree: keep what it had */
	if (!kube && c->kube_labelled)
		return 0;
	s = series_get(e, labels, path, cgid);
	if (!s)
		return -ENOMEM;
	if (s == c->series)
		return 0;
	s->members++;
	series_release(e, c->series);
	c->series = s;
	c->last_raw_ns = 0;
	c->kube_labelled = kube;
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	const struct snap_series *x = a, *y = b;

	for (int i = 0; i < LBL_MAX; i++) {
		int r = strcmp(x->labels[i], y->labels[i]);

		if (r)
			return r;
	}
	return 0;
}

static int build_snapshot(struct engine *e, double dt, struct snapshot **ret)
{
	struct snapshot *s = snapshot_new(e->n_series);
	size_t pos = 0, i = 0;
	uint64_t key;
	void *v;

	if (!s)
		return -ENOMEM;
	while (idmap_next(e->series, &pos, &key, &v)) {
		for (struct series *se = v; se; se = se->next) {
			struct snap_series *out = &s->series[i++];

			for (int l = 0; l < LBL_MAX; l++) {
				if (se->labels[l][0] && !(out->labels[l] = strdup(se->labels[l])))
					goto oom;
			}
			if (!(out->cgroup_path = strdup(se->cgroup_path)))
				goto oom;
			out->cgroup_id = se->cgroup_id;
			if (snap_series_add(out, M_CPU_SECONDS, NULL, (double)se->cpu_ns / 1e9))
				goto oom;
			out->rates.cpu_cores =
				dt > 0 ? (double)(se->cpu_ns - se->prev_cpu_ns) / 1e9 / dt : 0;
			se->prev_cpu_ns = se->cpu_ns;
		}
	}
	qsort(s->series, s->n_series, sizeof(*s->series), cmp_series);
	if (e->node[0] && !(s->node = strdup(e->node)))
		goto oom;
	if (e->kube && kube_meta__fill_snapshot(e->kube, s))
		goto oom;
	*ret = s;
	return 0;
oom:
	/* A failed strdup left NULL, which snapshot_unref frees as nothing. */
	snapshot_unref(s);
	return -ENOMEM;
}

int engine__collect(struct engine *e, struct snapshot **ret)
{
	struct read_ctx rc = { .e = e };
	double t0 = now_mono(), dt;
	struct collector_counters counters = { 0 };
	uint64_t unresolved = 0, key, kgen = e->kube ? kube_meta__generation(e->kube) : 0;
	bool need_scan = false, scanned = false;
	struct snapshot *s = NULL;
	size_t pos = 0;
	void *v;
	int r;

	e->gen++;
	r = collector__read_cpu(e->collector, on_cpu, &rc);
	if (!r)
		r = rc.err;
	if (r)
		goto out;

	/* New ids first get a rescan of the tree; ids that stay unknown wait for the next one. */
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (c->gen == e->gen && !c->series && c->resolve_tries == 0)
			need_scan = true;
	}
	if (need_scan || time(NULL) - e->last_scan >= 60) {
		if (cgroup_tree_scan(e->tree) >= 0)
			scanned = true;
		e->last_scan = time(NULL);
	}
	pos = 0;
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (c->gen != e->gen)
			continue;
		if (!c->series && (scanned || c->resolve_tries == 0)) {
			c->resolve_tries++;
			r = resolve(e, key, c, kgen);
			if (r == -ENOMEM)
				goto out;
		}
		if (!c->series) {
			unresolved++;
			continue;
		}
		if (e->kube && (c->kube_gen != kgen || c->kube_pending) &&
		    (r = relabel(e, key, c, kgen)))
			goto out;
		/* Delta accumulation: counts stay monotonic whatever happens to members. */
		if (c->raw_ns >= c->last_raw_ns)
			c->series->cpu_ns += c->raw_ns - c->last_raw_ns;
		c->last_raw_ns = c->raw_ns;
	}
	r = collector__counters(e->collector, &counters);
	if (r)
		goto out;
	dt = e->last_time > 0 ? t0 - e->last_time : 0;
	r = build_snapshot(e, dt, &s);
	if (r)
		goto out;
	e->last_time = t0;
	e->collections++;
	s->time = now_unix();
	s->agent.start_time = e->start_time;
	s->agent.collections = e->collections;
	s->agent.collection_errors = e->errors;
	s->agent.cgroups_unresolved = unresolved;
	s->agent.cgroup_scans = cgroup_tree_scans(e->tree);
	s->agent.cgroup_scan_truncated = cgroup_tree_truncated(e->tree);
	s->agent.bpf = counters;
	s->agent.last_collection_seconds = now_mono() - t0;
	*ret = s;
	return 0;
out:
	e->errors++;
	return r;
}
