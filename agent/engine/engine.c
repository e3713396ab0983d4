#include "engine/engine.h"
#include "model/histogram.h"
#include "base/clock.h"
#include "host/cgroup_tree.h"
#include "host/cgroupfs.h"
#include "kernel/collector.h"
#include "base/idmap.h"
#include "kube/kube_meta.h"
#include "host/listen_seed.h"
#include "base/log.h"
#include "host/mountinfo.h"
#include "host/volume.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROOT_CGROUP_ID 1
#define SWEEP_AFTER_SCANS 2 /* ids absent from this many tree walks are gone */
#define LIMIT_EVERY 12 /* read cpu.max every this many collections */
#define RESCAN_UNKNOWN_SECONDS 5
#define TRACK_RETRY_MAX 30.0 /* seconds between lookups of a container's cgroup, at most */
#define SEED_MAX_CGROUPS 256 /* cgroups whose listeners are read from /proc per collection */
#define SEED_TRIES 3 /* seedings raced by a LISTEN transition before one is taken as is */

/* Histogram bounds: slot i of the BPF histograms counts waits below 2^i * 1.024 µs. */

/* The probe family a stream of a cgroup comes from. */
enum stream_family { FAM_CPU = 0, FAM_SAMPLES, FAM_DISK, FAM_FS, FAM_NET };

/* What a stream counts: the record of its family. Every field of a record is a u64 counter
 * (collector.h), so gains and sums run over all of them alike; the meaning of each is read by
 * its name only. */
union counts {
	struct cpu_rec cpu;
	uint64_t samples;
	struct disk_rec disk;
	struct fs_rec fs;
	struct net_rec net;
};

#define COUNTS_N (sizeof(union counts) / sizeof(uint64_t))
_Static_assert(sizeof(union counts) % sizeof(uint64_t) == 0, "counts are u64 counters");

/* What an accumulator sums, and the own labels it carries. */
enum acc_kind { ACC_CPU = 0, ACC_SAMPLES, ACC_DISK, ACC_DISKLAT, ACC_FS, ACC_NET };

/* Totals of one own-label combination within a series, fed by member deltas: counts stay
 * monotonic whatever happens to the members. */
struct acc {
	struct acc *next;
	enum acc_kind kind;
	char *own[METRIC_MAX_OWN_LABELS];
	enum volume_class cls; /* ACC_FS */
	enum disk_rec_dir dir; /* ACC_DISK, ACC_DISKLAT */
	union counts total; /* since the series began */
	union counts interval; /* gained since the last snapshot */
};

/* A labelled series: the sum of the cgroups that map to one label set. */
struct series {
	struct series *next; /* hash chain */
	uint64_t hash;
	char *key; /* label values joined with \x1f: the identity */
	char *labels[LBL_MAX];
	char *cgroup_path;
	uint64_t cgroup_id;
	struct acc *accs;
	int members;
	time_t empty_since;
	bool collected; /* a snapshot had it: its next delta covers an interval */
	struct cgroupfs_cpu cpufs;
	bool cpufs_valid;
	uint64_t cpufs_cpu; /* its CPU total when cgroupfs was last read */
	struct cgroupfs_cpu cpufs_last; /* cpufs at the previous snapshot, for the delta */
	uint16_t *ports; /* rebuilt every collection */
	size_t n_ports;
	uint64_t listening; /* listening sockets of its members, rebuilt every collection */
	bool listen_seen; /* it had some: the gauge stays, at 0, once they close */
	struct snap_peer *peers;
	size_t n_peers;
};

/* One record stream of a cgroup: (family, key): disk dev << 1 | dir, fs mount id, else 0. */
struct sub {
	struct sub *next;
	enum stream_family fam;
	uint64_t key;
	uint64_t gen;
	union counts raw; /* summed over the records of the current read */
	union counts last; /* raw when last applied */
	union counts carry; /* history counted in a previous series: the next one's totals */
	bool bound;
	struct acc *acc, *acc2; /* where deltas go (disk: bytes/ops, then latency) */
	double unbound_since; /* fs: monotonic time binding was first put off; 0 never */
};

/* What seeding found for one port of a cgroup: listening = max(0, BPF count + off). */
struct cg_listen {
	uint16_t port;
	int64_t off;
	uint64_t gen; /* collection whose net_listen read had the port */
};

/* A cgroup id seen in the BPF maps. */
struct cg {
	uint64_t gen;
	unsigned resolve_tries;
	unsigned missing_scans;
	bool gone;
	struct series *series; /* NULL until the id resolves to a path */
	struct sub *subs;
	char *path;
	double first_seen; /* monotonic; 0 when seen by the first collection */
	uint64_t kube_gen; /* metadata generation its labels were computed at */
	bool kube_labelled; /* labels come from Kubernetes metadata */
	bool kube_pending; /* its pod is known, its container id not yet */
	bool seed_pending; /* its listeners are to be read from /proc (first resolved) */
	unsigned seed_tries;
	struct cg_listen *listen; /* seeded offsets, by port */
	size_t n_listen;
};

/* A running container of the pod list, tracked from the list rather than from BPF activity:
 * an idle container (a pod that only sleeps) never shows up in the maps. */
struct tracked {
	struct kube_container_ref ref;
	uint64_t cgid; /* its cgroup, 0 until found */
	uint64_t list_gen; /* the last pod list that had it */
	unsigned tries;
	double next_try; /* monotonic seconds */
};

struct engine {
	char *node;
	char *proc_root;
	char v1_cpu_root[PATH_MAX];
	struct collector *collector;
	struct cgroup_tree *tree;
	struct idmap *cgs; /* id → struct cg */
	struct idmap *series; /* hash → struct series chain */
	struct idmap *devnames; /* dev + 1 → name */
	struct kube_meta *kube;
	struct idmap *tracked; /* hash of a container id → struct tracked (Kubernetes only) */
	uint64_t tracked_gen; /* metadata generation the tracked list was taken at */
	uint64_t tracked_unresolved; /* tracked containers whose cgroup is not found yet */
	double retention;
	size_t n_series;
	uint64_t gen;
	double start_time;
	double last_time;
	time_t last_scan;
	uint64_t collections;
	uint64_t errors;
	uint64_t removed, swept;
	/* Writes to pseudo filesystems (procfs, sysfs, cgroupfs, …): no volume, no series;
	 * their bytes only feed bpfdiag_agent_fs_pseudo_write_bytes_total. */
	struct acc pseudo;
	bool seed_listeners; /* the net family is up: listeners of new cgroups come from /proc */
	bool seed_wanted; /* some cgroup may have its seed pending: look for it */
	struct listen_seed_stats seed; /* what seeding read and skipped */
	uint64_t seed_raced; /* seedings raced by a LISTEN transition, done again */
	uint64_t listeners_seeded; /* sockets seeding added to what BPF counted */
};

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

static struct acc *acc_free_all(struct acc *a)
{
	while (a) {
		struct acc *next = a->next;

		for (int i = 0; i < METRIC_MAX_OWN_LABELS; i++)
			free(a->own[i]);
		free(a);
		a = next;
	}
	return NULL;
}

static struct series *series_free(struct series *s)
{
	if (!s)
		return NULL;
	for (int i = 0; i < LBL_MAX; i++)
		free(s->labels[i]);
	acc_free_all(s->accs);
	free(s->key);
	free(s->cgroup_path);
	free(s->ports);
	free(s->peers);
	free(s);
	return NULL;
}

/* The accumulator of kind with own labels in series s, created when absent. */
static struct acc *acc_get(struct series *s, enum acc_kind kind, const char *o0, const char *o1,
			   const char *o2)
{
	const char *own[METRIC_MAX_OWN_LABELS] = { o0 ? o0 : "", o1 ? o1 : "", o2 ? o2 : "" };
	struct acc *a, **tail = &s->accs;
	bool same;

	for (a = s->accs; a; a = a->next) {
		same = a->kind == kind;
		for (int i = 0; same && i < METRIC_MAX_OWN_LABELS; i++)
			same = strcmp(a->own[i], own[i]) == 0;
		if (same)
			return a;
		tail = &a->next;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->kind = kind;
	for (int i = 0; i < METRIC_MAX_OWN_LABELS; i++) {
		a->own[i] = strdup(own[i]);
		if (!a->own[i]) {
			while (i--)
				free(a->own[i]);
			free(a);
			return NULL;
		}
	}
	*tail = a;
	return a;
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
	h = idmap_str_key(key);
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

static void series_remove(struct engine *e, struct series *s)
{
	struct series *head = idmap_get(e->series, s->hash), **pp = &head;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = s->next;
	if (head)
		idmap_put(e->series, s->hash, head);
	else
		idmap_del(e->series, s->hash);
	e->n_series--;
	series_free(s);
}

static struct cg *cg_free(struct cg *c)
{
	if (!c)
		return NULL;
	for (struct sub *s = c->subs, *next; s; s = next) {
		next = s->next;
		free(s);
	}
	free(c->path);
	free(c->listen);
	free(c);
	return NULL;
}

static void cg_unbind(struct cg *c)
{
	if (c->series && --c->series->members == 0)
		c->series->empty_since = time(NULL);
	c->series = NULL;
}

static void detect_v1_cpu(struct engine *e)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/self/mountinfo", e->proc_root);
	f = fopen(path, "re");
	if (!f)
		return;
	if (mountinfo_find_cgroup1(f, "cpu", e->v1_cpu_root, sizeof(e->v1_cpu_root)))
		e->v1_cpu_root[0] = '\0';
	fclose(f);
}

int engine__open(const struct engine_opts *opts, struct engine **ret, char *err, size_t errlen)
{
	struct collector_opts copts = { .pin_dir = opts->pin_dir,
					.pin_required = opts->pin_required,
					.max_cgroups = opts->max_cgroups,
					.net = opts->net,
					.fs = opts->fs,
					.bpf_stats = opts->bpf_stats };
	char root[PATH_MAX];
	struct engine *e;
	int r;

	if (opts->cgroup_root && opts->cgroup_root[0]) {
		snprintf(root, sizeof(root), "%s", opts->cgroup_root);
	} else {
		r = cgroup_root_detect(opts->proc_root, root, sizeof(root));
		if (r) {
			if (r == -ENOENT)
				snprintf(err, errlen,
					 "no cgroup v2 hierarchy is mounted (see mountinfo); "
					 "bpfdiag attributes by cgroup v2 id");
			else
				snprintf(err, errlen, "cannot read mountinfo: %s", strerror(-r));
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
	e->retention = opts->series_retention > 0 ? opts->series_retention :
						    ENGINE_SERIES_RETENTION_SECONDS;
	e->proc_root = strdup(opts->proc_root ? opts->proc_root : "/proc");
	e->cgs = idmap_new();
	e->series = idmap_new();
	e->devnames = idmap_new();
	e->tracked = idmap_new();
	e->tree = cgroup_tree_new(root);
	if (!e->node || !e->proc_root || !e->cgs || !e->series || !e->devnames || !e->tracked ||
	    !e->tree) {
		snprintf(err, errlen, "out of memory");
		engine__close(e);
		return -ENOMEM;
	}
	detect_v1_cpu(e);
	r = cgroup_tree_scan(e->tree);
	if (r < 0) {
		snprintf(err, errlen, "cannot read the cgroup tree at %s: %s", root, strerror(-r));
		engine__close(e);
		return r;
	}
	e->last_scan = time(NULL);
	copts.cgroup_root = root;
	r = collector__open(&copts, &e->collector, err, errlen);
	if (r) {
		engine__close(e);
		return r;
	}
	/* Listeners that predate the probes: read from /proc for each cgroup first seen. */
	e->seed_listeners = collector__set_listen_seed(e->collector, "procfs") == 0;
	e->start_time = clock_unix();
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
			cg_free(v);
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
	if (e->devnames) {
		pos = 0;
		while (idmap_next(e->devnames, &pos, &key, &v))
			free(v);
		idmap_free(e->devnames);
	}
	if (e->tracked) {
		pos = 0;
		while (idmap_next(e->tracked, &pos, &key, &v))
			free(v);
		idmap_free(e->tracked);
	}
	free(e->node);
	free(e->proc_root);
	free(e);
	return NULL;
}

const char *engine__cgroup_root(const struct engine *e)
{
	return cgroup_tree_root(e->tree);
}

const char *engine__features(const struct engine *e)
{
	return collector__features(e->collector);
}

struct read_ctx {
	struct engine *e;
	int err;
};

static struct cg *cg_get(struct engine *e, uint64_t id)
{
	struct cg *c = idmap_get(e->cgs, id);

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c || idmap_put(e->cgs, id, c)) {
		free(c);
		return NULL;
	}
	/* What the first collection finds predates the agent: its age is unknown. */
	c->first_seen = e->collections ? clock_mono() : 0;
	return c;
}

/* Adds a record (size bytes of u64 counters) to its stream of the cgroup: records of one key
 * are summed within a read. */
static void take(struct read_ctx *rc, uint64_t cgid, enum stream_family fam, uint64_t key,
		 const void *rec, size_t size)
{
	struct cg *c = cg_get(rc->e, cgid);
	uint64_t *raw;
	struct sub *s;

	if (!c) {
		rc->err = -ENOMEM;
		return;
	}
	c->gen = rc->e->gen;
	for (s = c->subs; s; s = s->next) {
		if (s->fam == fam && s->key == key)
			break;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			rc->err = -ENOMEM;
			return;
		}
		s->fam = fam;
		s->key = key;
		s->next = c->subs;
		c->subs = s;
	}
	if (s->gen != rc->e->gen) {
		s->gen = rc->e->gen;
		memset(&s->raw, 0, sizeof(s->raw));
	}
	raw = (uint64_t *)&s->raw;
	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		raw[i] += ((const uint64_t *)rec)[i];
}

static void on_cpu(void *ctx, uint64_t cgid, const struct cpu_rec *r)
{
	take(ctx, cgid, FAM_CPU, 0, r, sizeof(*r));
}

static void on_cpu_samples(void *ctx, uint64_t cgid, uint64_t samples)
{
	take(ctx, cgid, FAM_SAMPLES, 0, &samples, sizeof(samples));
}

static void on_disk(void *ctx, uint64_t cgid, uint32_t dev, enum disk_rec_dir dir,
		    const struct disk_rec *r)
{
	take(ctx, cgid, FAM_DISK, (uint64_t)dev << 1 | dir, r, sizeof(*r));
}

static void on_fs(void *ctx, uint64_t cgid, uint32_t mnt_id, const struct fs_rec *r)
{
	take(ctx, cgid, FAM_FS, mnt_id, r, sizeof(*r));
}

static void on_net(void *ctx, uint64_t cgid, const struct net_rec *r)
{
	take(ctx, cgid, FAM_NET, 0, r, sizeof(*r));
}

static void on_removed(void *ctx, uint64_t id)
{
	struct engine *e = ctx;
	struct cg *c = idmap_get(e->cgs, id);

	if (c)
		c->gone = true;
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
	c->seed_pending = e->seed_listeners && !c->path;
	e->seed_wanted |= c->seed_pending;
	free(c->path);
	c->path = strdup(path);
	return c->path ? 0 : -ENOMEM;
}

/* Metadata changed (or arrived after the cgroup was first collected): when the cgroup's labels
 * change, it moves to the new series with its whole history — what its streams counted so far
 * is carried into the new series' totals when they are bound, not into its deltas — and the
 * old series, whose history moved with it, goes at once when no member is left. Labels never fall back from Kubernetes to local
 * mode: a deleted pod keeps its attribution. */
static int relabel(struct engine *e, uint64_t cgid, struct cg *c, uint64_t kgen)
{
	const char *labels[LBL_MAX], *path;
	struct cgroup_ident id;
	struct kube_labels kl;
	struct series *s, *old = c->series;
	bool kube;

	c->kube_gen = kgen;
	if (cg_labels(e, cgid, c, &id, &kl, labels, &path, &kube))
		return 0; /* gone from the tree: keep what it had */
	if (!kube && c->kube_labelled)
		return 0;
	s = series_get(e, labels, path, cgid);
	if (!s)
		return -ENOMEM;
	if (s == old)
		return 0;
	s->members++;
	c->series = s;
	c->kube_labelled = kube;
	/* A series new to the history carries on from the old one's last collection. */
	if (!s->collected) {
		s->collected = old->collected;
		if (!s->cpufs_valid && strcmp(s->cgroup_path, old->cgroup_path) == 0) {
			s->cpufs = old->cpufs;
			s->cpufs_valid = old->cpufs_valid;
			s->cpufs_cpu = old->cpufs_cpu;
			s->cpufs_last = old->cpufs_last;
		}
	}
	for (struct sub *sb = c->subs; sb; sb = sb->next) {
		uint64_t *carry = (uint64_t *)&sb->carry, *last = (uint64_t *)&sb->last;

		if (sb->acc == &e->pseudo)
			continue; /* in no series: nothing to move */
		sb->bound = false;
		sb->acc = sb->acc2 = NULL;
		for (size_t i = 0; i < COUNTS_N; i++)
			carry[i] += last[i];
	}
	/* A tracked container that never ran has its zero CPU counters only as an accumulator of
	 * its series (no stream to rebind): the new series gets them too. */
	for (struct acc *a = old->accs; a; a = a->next) {
		if (a->kind == ACC_CPU) {
			if (!acc_get(s, ACC_CPU, NULL, NULL, NULL))
				return -ENOMEM;
			break;
		}
	}
	if (--old->members == 0)
		series_remove(e, old);
	return 0;
}

/* Kernel name of a block device ("vda", "loop0"), from sysfs; "MAJ:MIN" when unknown. */
static const char *devname(struct engine *e, uint32_t dev)
{
	unsigned maj = dev >> 20, min = dev & 0xfffff;
	char path[128], line[256], *name = idmap_get(e->devnames, (uint64_t)dev + 1);
	FILE *f;

	if (name)
		return name;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", maj, min);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "DEVNAME=", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			name = strdup(line + 8);
			break;
		}
	}
	if (f)
		fclose(f);
	if (!name) {
		snprintf(line, sizeof(line), "%u:%u", maj, min);
		name = strdup(line);
	}
	if (name && idmap_put(e->devnames, (uint64_t)dev + 1, name)) {
		free(name);
		return "unknown";
	}
	return name ? name : "unknown";
}

/* A process of the cgroup, whose mount namespace shows the cgroup's mounts; 0 when empty. */
static int cgroup_pid(struct engine *e, const char *path)
{
	char p[PATH_MAX];
	int pid = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s%s/cgroup.procs", engine__cgroup_root(e),
		 strcmp(path, "/") ? path : "");
	f = fopen(p, "re");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/* How long an fs stream waits for the claims of its pod to be read before its PV-backed volume
 * is named after the PV; its counts wait in the BPF map meanwhile, nothing is lost. */
#define CLAIM_WAIT_SECONDS 30.0

/* The names of a volume in this container's pod: kubelet's directory name is the pod spec's
 * volume name, except for PV-backed volumes, named after the PV; their claim maps them back.
 * Returns -EAGAIN while a claim of the pod is still being read. */
static int kube_volume_names(struct engine *e, const char *uid, struct volume *v, char *claim,
			     size_t size)
{
	const struct kube_volume_info *vi;
	struct kube_pod_info *p = NULL;
	int r;

	claim[0] = '\0';
	if (!e->kube || !v->pod_volume || kube_meta__pod(e->kube, uid, &p))
		return 0;
	r = kube_pod_volume_by_dir(p, v->name, &vi);
	if (r == 0) {
		snprintf(v->name, sizeof(v->name), "%s", vi->vol.name);
		if (v->cls == VOLUME_PVC)
			snprintf(claim, size, "%s", vi->vol.claim);
	}
	kube_pod_info_free(p);
	return r == -EAGAIN ? r : 0;
}

/* Binds an fs stream (a mount id of the cgroup) to its volume. Leaves it unbound, to be tried
 * again at the next collection, while its volume's claim is being read. */
static int bind_fs(struct engine *e, struct cg *c, struct sub *s)
{
	struct volume v = { .cls = VOLUME_UNKNOWN };
	int pid = cgroup_pid(e, c->path);
	const char *uid = NULL;
	struct cgroup_ident id;
	char name[32], claim[KUBE_NAME_MAX + 1] = "";
	double now = clock_mono();

	if (cgroup_path_parse(c->path, &id) == 0 &&
	    (id.kind == CGROUP_KUBE_CONTAINER || id.kind == CGROUP_KUBE_POD))
		uid = id.pod_uid;
	/* Mount ids are global: the host's table knows host mounts when the cgroup is
	 * empty. */
	if ((!pid || volume_resolve(e->proc_root, pid, (int)s->key, uid, &v)) &&
	    volume_resolve(e->proc_root, 1, (int)s->key, uid, &v)) {
		snprintf(name, sizeof(name), "mount-%llu", (unsigned long long)s->key);
		s->acc = acc_get(c->series, ACC_FS, "unknown", name, NULL);
	} else if (v.cls == VOLUME_PSEUDO) {
		s->acc = &e->pseudo;
	} else {
		if (uid && kube_volume_names(e, uid, &v, claim, sizeof(claim)) == -EAGAIN &&
		    !c->gone &&
		    (!s->unbound_since || now - s->unbound_since < CLAIM_WAIT_SECONDS)) {
			if (!s->unbound_since)
				s->unbound_since = now;
			return 0;
		}
		s->acc = acc_get(c->series, ACC_FS, volume_class_name(v.cls), v.name, claim);
		if (s->acc)
			s->acc->cls = v.cls;
	}
	if (!s->acc)
		return -ENOMEM;
	s->bound = true;
	return 0;
}

/* Decides where a sub's deltas go: its own labels (device, volume) in the cgroup's series. */
static int bind_sub(struct engine *e, struct cg *c, struct sub *s)
{
	static const char *const dirs[] = { "read", "write" };
	struct series *se = c->series;

	switch (s->fam) {
	case FAM_CPU:
		s->acc = acc_get(se, ACC_CPU, NULL, NULL, NULL);
		break;
	case FAM_SAMPLES:
		s->acc = acc_get(se, ACC_SAMPLES, NULL, NULL, NULL);
		break;
	case FAM_DISK: {
		enum disk_rec_dir dir = s->key & 1 ? DISK_REC_WRITE : DISK_REC_READ;

		s->acc =
			acc_get(se, ACC_DISK, dirs[dir], devname(e, (uint32_t)(s->key >> 1)), NULL);
		s->acc2 = acc_get(se, ACC_DISKLAT, dirs[dir], NULL, NULL);
		if (!s->acc || !s->acc2)
			return -ENOMEM;
		s->acc->dir = s->acc2->dir = dir;
		break;
	}
	case FAM_FS:
		return bind_fs(e, c, s);
	case FAM_NET:
		s->acc = acc_get(se, ACC_NET, NULL, NULL, NULL);
		break;
	}
	if (!s->acc)
		return -ENOMEM;
	s->bound = true;
	return 0;
}

/* Adds n u64 counters of src to dst. */
static void counts_add(union counts *dst, const union counts *src)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *v = (const uint64_t *)src;

	for (size_t i = 0; i < COUNTS_N; i++)
		d[i] += v[i];
}

/* A bound stream's history from previous series joins its accumulators' totals. */
static void carry_in(struct sub *s)
{
	counts_add(&s->acc->total, &s->carry);
	if (s->acc2)
		counts_add(&s->acc2->total, &s->carry);
	memset(&s->carry, 0, sizeof(s->carry));
}

/* What a counter gained since last: a value below it means the counter started again from
 * zero (its map entry re-created): all of it is new. */
static uint64_t counter_gain(uint64_t now, uint64_t last)
{
	return now >= last ? now - last : now;
}

/* Adds what a sub gained since the last collection to its accumulators' totals and
 * intervals. */
static void apply(struct sub *s)
{
	uint64_t *raw = (uint64_t *)&s->raw, *last = (uint64_t *)&s->last;
	union counts gain;
	uint64_t *g = (uint64_t *)&gain;

	for (size_t i = 0; i < COUNTS_N; i++) {
		g[i] = counter_gain(raw[i], last[i]);
		last[i] = raw[i];
	}
	counts_add(&s->acc->total, &gain);
	counts_add(&s->acc->interval, &gain);
	if (s->acc2) {
		counts_add(&s->acc2->total, &gain);
		counts_add(&s->acc2->interval, &gain);
	}
}

static bool is_gone(void *ctx, uint64_t id)
{
	struct engine *e = ctx;
	struct cg *c = idmap_get(e->cgs, id);

	return c && c->gone;
}

static struct cg_listen *cg_listen_find(struct cg *c, uint16_t port)
{
	for (size_t i = 0; i < c->n_listen; i++) {
		if (c->listen[i].port == port)
			return &c->listen[i];
	}
	return NULL;
}

/* Adds n listening sockets on port to a series. */
static void series_listen(struct series *s, uint16_t port, uint32_t n)
{
	uint16_t *p;

	if (!n)
		return;
	s->listening += n;
	s->listen_seen = true;
	for (size_t i = 0; i < s->n_ports; i++) {
		if (s->ports[i] == port)
			return;
	}
	p = realloc(s->ports, (s->n_ports + 1) * sizeof(*p));
	if (!p)
		return;
	s->ports = p;
	s->ports[s->n_ports++] = port;
}

/* One (cgroup, port) of net_listen, merged with what seeding found (listen_seed.h). */
static void on_listen(void *ctx, uint64_t cgid, uint16_t port, int64_t n)
{
	struct engine *e = ctx;
	struct cg *c = idmap_get(e->cgs, cgid);
	struct cg_listen *l;
	int64_t off = 0;

	if (!c || !c->series)
		return;
	l = cg_listen_find(c, port);
	if (l) {
		off = l->off;
		l->gen = e->gen;
	}
	series_listen(c->series, port, listen_seed_merged(n, off));
}

/* The listening sockets of every series, rebuilt each collection. Merge rule, per (cgroup,
 * port): listening = max(0, b + off) with b the net_listen count and off = S − b_seed fixed
 * when the cgroup was seeded (S the sockets /proc showed, b_seed the count then; see
 * listen_seed.h): a listener BPF counts already (opened after attach, or in a map pinned across
 * a restart) cancels out, a seeded one that closes takes b below b_seed and drops out. Then
 * the seeded ports without an entry (nothing opened or closed there since attach). */
static void read_listeners(struct engine *e)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	collector__read_listen(e->collector, on_listen, e);
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		for (size_t i = 0; c->series && i < c->n_listen; i++) {
			if (c->listen[i].gen != e->gen)
				series_listen(c->series, c->listen[i].port,
					      listen_seed_merged(0, c->listen[i].off));
		}
	}
}

/* A cgroup being seeded: the ports of its seed and of net_listen, with both BPF reads. */
struct seed_port {
	uint16_t port;
	uint32_t seeded;
	int64_t b[2]; /* net_listen before and after /proc was read */
};

struct seed_item {
	uint64_t cgid;
	struct cg *c;
	bool complete;
	struct seed_port *ports;
	size_t n_ports;
};

struct seed_ctx {
	struct idmap *items; /* cgroup id → struct seed_item */
	int phase; /* 0: before, 1: after */
	int err;
};

static struct seed_port *seed_port_get(struct seed_item *it, uint16_t port)
{
	struct seed_port *p;

	for (size_t i = 0; i < it->n_ports; i++) {
		if (it->ports[i].port == port)
			return &it->ports[i];
	}
	p = realloc(it->ports, (it->n_ports + 1) * sizeof(*p));
	if (!p)
		return NULL;
	it->ports = p;
	p = &p[it->n_ports++];
	memset(p, 0, sizeof(*p));
	p->port = port;
	return p;
}

static void on_seed_listen(void *ctx, uint64_t cgid, uint16_t port, int64_t n)
{
	struct seed_ctx *sc = ctx;
	struct seed_item *it = idmap_get(sc->items, cgid);
	struct seed_port *p;

	if (!it)
		return;
	p = seed_port_get(it, port);
	if (!p) {
		sc->err = -ENOMEM;
		return;
	}
	p->b[sc->phase] = n;
}

/* Takes a seeding: per port off = S − b (listen_seed_offset). A seeding raced by a LISTEN
 * transition of the cgroup is done again at the next collection, SEED_TRIES times at most. */
static int seed_take(struct engine *e, struct seed_item *it)
{
	struct cg *c = it->c;
	struct cg_listen *l;
	uint64_t added = 0;
	bool stable = true;
	size_t n = 0;

	for (size_t i = 0; i < it->n_ports; i++) {
		struct seed_port *p = &it->ports[i];
		bool st;

		listen_seed_offset(p->seeded, p->b[0], p->b[1], it->complete, &st);
		stable &= st;
	}
	if (!stable && ++c->seed_tries < SEED_TRIES) {
		e->seed_raced++;
		e->seed_wanted = true;
		log_debug("listener seed: %s: a socket entered or left LISTEN meanwhile; again at "
			  "the next collection",
			  c->path);
		return 0;
	}
	l = calloc(it->n_ports ? it->n_ports : 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < it->n_ports; i++) {
		struct seed_port *p = &it->ports[i];
		bool st;
		int64_t off = listen_seed_offset(p->seeded, p->b[0], p->b[1], it->complete, &st);

		if (p->seeded)
			log_debug("listener seed: %s: %u listening on port %u (BPF counted %lld)",
				  c->path, p->seeded, p->port, (long long)p->b[1]);
		if (!off)
			continue;
		if (off > 0)
			added += (uint64_t)off;
		l[n++] = (struct cg_listen){ .port = p->port, .off = off };
	}
	free(c->listen);
	c->listen = n ? l : NULL;
	c->n_listen = n;
	if (!n)
		free(l);
	c->seed_pending = false;
	e->listeners_seeded += added;
	return 0;
}

/* Seeds the listeners of cgroups seen for the first time (SEED_MAX_CGROUPS per collection, the
 * rest at the next ones) from /proc: see listen_seed.h. Only these cgroups cost a read of /proc,
 * never the ones already seeded. */
static int seed_listeners(struct engine *e)
{
	struct seed_item items[SEED_MAX_CGROUPS];
	struct seed_ctx sc = { 0 };
	struct listen_seeder *seeder = NULL;
	size_t n = 0, pos = 0;
	uint64_t key;
	void *v;
	int r = 0;

	/* Most collections have no cgroup to seed: no walk of every cgroup for them. */
	if (!e->seed_listeners || !e->seed_wanted)
		return 0;
	e->seed_wanted = false;
	while (n < SEED_MAX_CGROUPS && idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (!c->seed_pending || c->gone)
			continue;
		if (c->path && c->series)
			items[n++] = (struct seed_item){ .cgid = key, .c = c };
		else
			e->seed_wanted = true; /* not ready yet: at a later collection */
	}
	/* More than this batch, raced seedings (seed_take) or a failure keep it wanted. */
	e->seed_wanted |= n == SEED_MAX_CGROUPS;
	if (!n)
		return 0;
	sc.items = idmap_new();
	seeder = listen_seeder_new(e->proc_root, engine__cgroup_root(e), NULL);
	if (!sc.items || !seeder) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (idmap_put(sc.items, items[i].cgid, &items[i])) {
			r = -ENOMEM;
			goto out;
		}
	}
	collector__read_listen(e->collector, on_seed_listen, &sc);
	for (size_t i = 0; !sc.err && i < n; i++) {
		struct listen_seed_port *ports;
		size_t np;

		r = listen_seeder_cgroup(seeder, items[i].c->path, &ports, &np, &items[i].complete,
					 &e->seed);
		if (r)
			goto out;
		for (size_t j = 0; j < np; j++) {
			struct seed_port *p = seed_port_get(&items[i], ports[j].port);

			if (!p) {
				free(ports);
				r = -ENOMEM;
				goto out;
			}
			p->seeded = ports[j].count;
		}
		free(ports);
	}
	sc.phase = 1;
	collector__read_listen(e->collector, on_seed_listen, &sc);
	r = sc.err;
	for (size_t i = 0; !r && i < n; i++)
		r = seed_take(e, &items[i]);
out:
	if (r)
		e->seed_wanted = true;
	for (size_t i = 0; i < n; i++)
		free(items[i].ports);
	listen_seeder_free(seeder);
	idmap_free(sc.items);
	return r;
}

static void on_peer(void *ctx, const struct collector_peer *cp)
{
	struct engine *e = ctx;
	struct cg *c = idmap_get(e->cgs, cp->cgroup_id);
	struct series *s = c ? c->series : NULL;
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct snap_peer *p;

	if (!s || s->n_peers >= 256) /* a bounded sample per series is all the rules need */
		return;
	p = realloc(s->peers, (s->n_peers + 1) * sizeof(*p));
	if (!p)
		return;
	s->peers = p;
	p = &s->peers[s->n_peers++];
	memset(p, 0, sizeof(*p));
	if (memcmp(cp->addr, v4mapped, 12) == 0)
		inet_ntop(AF_INET, cp->addr + 12, p->addr, sizeof(p->addr));
	else
		inet_ntop(AF_INET6, cp->addr, p->addr, sizeof(p->addr));
	p->port = cp->port;
	p->role = cp->role;
	p->connections = cp->connections;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
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

static int emit_acc(struct snap_series *out, const struct acc *a, unsigned m)
{
	const char *own[METRIC_MAX_OWN_LABELS] = { a->own[0], a->own[1], a->own[2] };
	const char *dir[METRIC_MAX_OWN_LABELS] = { NULL };
	const union counts *t = &a->total;

	switch (a->kind) {
	case ACC_CPU:
		if (m == M_CPU_SECONDS)
			return snap_series_add(out, m, NULL, (double)t->cpu.oncpu_ns / 1e9);
		if (m == M_CPU_RUNQUEUE_WAIT_SECONDS)
			return snap_series_add(out, m, NULL, (double)t->cpu.rq_wait_ns / 1e9);
		if (m == M_CPU_RUNQUEUE_LATENCY)
			return snap_series_add_hist(out, m, NULL, hist_bounds, HIST_SLOTS - 1,
						    t->cpu.rq_hist,
						    (double)t->cpu.rq_wait_ns / 1e9);
		return 0;
	case ACC_SAMPLES:
		return m == M_CPU_SAMPLES ? snap_series_add(out, m, NULL, (double)t->samples) : 0;
	case ACC_DISK:
		if (m == M_DISK_BYTES)
			return snap_series_add(out, m, own, (double)t->disk.bytes);
		if (m == M_DISK_OPERATIONS)
			return snap_series_add(out, m, own, (double)t->disk.ops);
		return 0;
	case ACC_DISKLAT:
		return m == M_DISK_LATENCY ? snap_series_add_hist(out, m, own, hist_bounds,
								  HIST_SLOTS - 1, t->disk.lat_hist,
								  (double)t->disk.lat_ns / 1e9) :
					     0;
	case ACC_FS:
		if (m == M_FS_WRITE_BYTES)
			return snap_series_add(out, m, own, (double)t->fs.write_bytes);
		if (m == M_FS_WRITE_CALLS)
			return snap_series_add(out, m, own, (double)t->fs.write_calls);
		if (m == M_FS_SYNC_CALLS)
			return snap_series_add(out, m, own, (double)t->fs.sync_calls);
		return 0;
	case ACC_NET:
		if (m == M_NETWORK_BYTES) {
			dir[0] = "transmit";
			if (snap_series_add(out, m, dir, (double)t->net.tx_bytes))
				return -ENOMEM;
			dir[0] = "receive";
			return snap_series_add(out, m, dir, (double)t->net.rx_bytes);
		}
		if (m == M_TCP_CONNECTIONS_OPENED) {
			dir[0] = conn_role_name(ROLE_CLIENT);
			if (snap_series_add(out, m, dir, (double)t->net.conns_client))
				return -ENOMEM;
			dir[0] = conn_role_name(ROLE_SERVER);
			return snap_series_add(out, m, dir, (double)t->net.conns_server);
		}
		if (m == M_TCP_RETRANSMITS)
			return snap_series_add(out, m, NULL, (double)t->net.retransmits);
		return 0; /* M_TCP_LISTENING_SOCKETS: per series, see build_series */
	}
	return 0;
}

static int emit_cpufs(struct snap_series *out, const struct series *se, unsigned m)
{
	const struct cgroupfs_cpu *f = &se->cpufs;
	const char *kind[METRIC_MAX_OWN_LABELS] = { NULL };

	if (!se->cpufs_valid)
		return 0;
	switch (m) {
	case M_CPU_THROTTLED_SECONDS:
		return f->has_throttling ?
			       snap_series_add(out, m, NULL, (double)f->throttled_usec / 1e6) :
			       0;
	case M_CPU_THROTTLED_PERIODS:
		return f->has_throttling ? snap_series_add(out, m, NULL, (double)f->nr_throttled) :
					   0;
	case M_CPU_PERIODS:
		return f->has_throttling ? snap_series_add(out, m, NULL, (double)f->nr_periods) : 0;
	case M_CPU_LIMIT_CORES:
		return f->has_limit ? snap_series_add(out, m, NULL, f->limit_cores) : 0;
	case M_CPU_PRESSURE_SECONDS:
		if (!f->has_pressure)
			return 0;
		kind[0] = "some";
		if (snap_series_add(out, m, kind, (double)f->pressure_some_usec / 1e6))
			return -ENOMEM;
		kind[0] = "full";
		return snap_series_add(out, m, kind, (double)f->pressure_full_usec / 1e6);
	}
	return 0;
}

/* The cgroupfs counters' gains since the previous snapshot, and the limit. A failed read keeps
 * the previous values: nothing is gained meanwhile. */
static void delta_cpufs(struct series *se, struct snap_delta *d)
{
	const struct cgroupfs_cpu *f = &se->cpufs;
	struct cgroupfs_cpu *last = &se->cpufs_last;

	if (!se->cpufs_valid)
		return;
	d->cpu_limit_cores = f->has_limit ? f->limit_cores : 0;
	if (!f->has_throttling)
		return;
	d->throttled_seconds = (double)counter_gain(f->throttled_usec, last->throttled_usec) / 1e6;
	d->throttled_periods = (double)counter_gain(f->nr_throttled, last->nr_throttled);
	d->periods = (double)counter_gain(f->nr_periods, last->nr_periods);
	*last = *f;
}

/* Fills the series' delta from its accumulators' intervals, which start again. */
static void delta(struct snap_series *out, struct series *se, double dt)
{
	struct snap_delta *d = &out->delta;
	uint64_t pvc_best = 0;

	d->seconds = se->collected ? dt : 0;
	for (struct acc *a = se->accs; a; a = a->next) {
		const union counts *i = &a->interval;

		switch (a->kind) {
		case ACC_CPU:
			d->cpu_seconds += (double)i->cpu.oncpu_ns / 1e9;
			d->runq_wait_seconds += (double)i->cpu.rq_wait_ns / 1e9;
			for (int h = 0; h < HIST_SLOTS; h++)
				d->runq_hist[h] += i->cpu.rq_hist[h];
			break;
		case ACC_DISK:
			d->disk_bytes[a->dir] += (double)i->disk.bytes;
			d->disk_ops[a->dir] += (double)i->disk.ops;
			break;
		case ACC_FS:
			d->fs_write_bytes[a->cls] += (double)i->fs.write_bytes;
			d->fs_write_calls[a->cls] += (double)i->fs.write_calls;
			d->fs_sync_calls[a->cls] += (double)i->fs.sync_calls;
			if (a->cls == VOLUME_PVC && i->fs.write_bytes > pvc_best) {
				pvc_best = i->fs.write_bytes;
				snprintf(d->pvc_volume, sizeof(d->pvc_volume), "%s", a->own[1]);
			}
			break;
		case ACC_NET:
			d->net_bytes[0] += (double)i->net.rx_bytes;
			d->net_bytes[1] += (double)i->net.tx_bytes;
			d->retransmits += (double)i->net.retransmits;
			d->conns_opened[ROLE_CLIENT] += (double)i->net.conns_client;
			d->conns_opened[ROLE_SERVER] += (double)i->net.conns_server;
			break;
		case ACC_SAMPLES:
		case ACC_DISKLAT:
			break;
		}
		memset(&a->interval, 0, sizeof(a->interval));
	}
	delta_cpufs(se, d);
	se->collected = true;
}

/* Rates: the delta's increases over the agent's interval dt. */
static void rates(struct snap_rates *r, const struct snap_delta *d, double dt)
{
	double fs_bytes = 0, fs_syncs = 0;

	if (dt <= 0)
		return;
	for (int c = 0; c < VOLUME_CLASS_MAX; c++) {
		fs_bytes += d->fs_write_bytes[c];
		fs_syncs += d->fs_sync_calls[c];
	}
	r->cpu_cores = d->cpu_seconds / dt;
	r->runq_p99_seconds = hist_quantile(d->runq_hist, 0.99);
	r->disk_read_bps = d->disk_bytes[DISK_REC_READ] / dt;
	r->disk_write_bps = d->disk_bytes[DISK_REC_WRITE] / dt;
	r->disk_iops = (d->disk_ops[DISK_REC_READ] + d->disk_ops[DISK_REC_WRITE]) / dt;
	r->fs_write_bps = fs_bytes / dt;
	r->fsync_per_s = fs_syncs / dt;
	r->net_rx_bps = d->net_bytes[0] / dt;
	r->net_tx_bps = d->net_bytes[1] / dt;
	r->retransmits_per_s = d->retransmits / dt;
}

static int build_series(struct snap_series *out, struct series *se, double dt)
{
	bool has_net = false;

	for (int l = 0; l < LBL_MAX; l++) {
		if (se->labels[l][0] && !(out->labels[l] = strdup(se->labels[l])))
			return -ENOMEM;
	}
	if (!(out->cgroup_path = strdup(se->cgroup_path)))
		return -ENOMEM;
	out->cgroup_id = se->cgroup_id;
	out->cgroups = se->members;
	for (const struct acc *a = se->accs; a; a = a->next)
		has_net |= a->kind == ACC_NET;
	/* Points in catalogue order: metric by metric, the accumulators that feed it. */
	for (unsigned m = 0; m < M_MAX; m++) {
		if (emit_cpufs(out, se, m))
			return -ENOMEM;
		for (const struct acc *a = se->accs; a; a = a->next) {
			if (emit_acc(out, a, m))
				return -ENOMEM;
		}
		/* Not a sum of deltas: the sockets listening now, BPF and seed merged. */
		if (m == M_TCP_LISTENING_SOCKETS && (has_net || se->listen_seen) &&
		    snap_series_add(out, m, NULL, (double)se->listening))
			return -ENOMEM;
	}
	delta(out, se, dt);
	rates(&out->rates, &out->delta, dt);
	if (se->n_ports) {
		qsort(se->ports, se->n_ports, sizeof(*se->ports), cmp_u16);
		out->listen_ports = malloc(se->n_ports * sizeof(*se->ports));
		if (!out->listen_ports)
			return -ENOMEM;
		memcpy(out->listen_ports, se->ports, se->n_ports * sizeof(*se->ports));
		out->n_listen_ports = se->n_ports;
	}
	if (se->n_peers) {
		out->peers = malloc(se->n_peers * sizeof(*se->peers));
		if (!out->peers)
			return -ENOMEM;
		memcpy(out->peers, se->peers, se->n_peers * sizeof(*se->peers));
		out->n_peers = se->n_peers;
	}
	return 0;
}

#define SEED_STATS 6

/* The self-metrics of listener seeding (none when the net family is down). Returns how many. */
static size_t seed_stats(const struct engine *e, struct collector_stat *st)
{
	static const char skipped_help[] =
		"What listener seeding could not read (unreadable: a /proc or cgroup entry, as of a "
		"process gone meanwhile; pid_limit, fd_limit: processes past the per-cgroup bounds; "
		"raced: a seeding done again because a socket entered or left LISTEN meanwhile).";
	const struct {
		const char *reason;
		uint64_t v;
	} skipped[] = { { "unreadable", e->seed.unreadable },
			{ "pid_limit", e->seed.pids_skipped },
			{ "fd_limit", e->seed.fds_skipped },
			{ "raced", e->seed_raced } };
	size_t n = 0;

	if (!e->seed_listeners)
		return 0;
	st[n++] = (struct collector_stat){
		.name = "bpfdiag_agent_listeners_seeded_total",
		.help = "Listening TCP sockets found in /proc when their cgroup was first seen that "
			"the BPF probes had not counted (opened before they were attached).",
		.counter = true,
		.value = (double)e->listeners_seeded
	};
	st[n++] = (struct collector_stat){
		.name = "bpfdiag_agent_listen_seed_cgroups_total",
		.help = "Cgroups whose listening sockets were read from /proc (once each, when first "
			"seen).",
		.counter = true,
		.value = (double)e->seed.cgroups
	};
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		st[n] = (struct collector_stat){ .name = "bpfdiag_agent_listen_seed_skipped_total",
						 .help = skipped_help,
						 .counter = true,
						 .value = (double)skipped[i].v };
		snprintf(st[n].labels, sizeof(st[n].labels), "reason=\"%s\"", skipped[i].reason);
		n++;
	}
	return n;
}

static int build_snapshot(struct engine *e, double dt, struct snapshot **ret)
{
	struct snapshot *s = snapshot_new(e->n_series);
	const struct collector_stat *stats;
	size_t pos = 0, i = 0, n_stats;
	uint64_t key;
	void *v;

	if (!s)
		return -ENOMEM;
	while (idmap_next(e->series, &pos, &key, &v)) {
		for (struct series *se = v; se; se = se->next) {
			if (build_series(&s->series[i++], se, dt))
				goto oom;
		}
	}
	qsort(s->series, s->n_series, sizeof(*s->series), cmp_series);
	if (e->node[0] && !(s->node = strdup(e->node)))
		goto oom;
	collector__stats(e->collector, &stats, &n_stats);
	s->agent.stats = malloc((n_stats + SEED_STATS) * sizeof(*stats));
	if (!s->agent.stats)
		goto oom;
	memcpy(s->agent.stats, stats, n_stats * sizeof(*stats));
	s->agent.n_stats = n_stats + seed_stats(e, s->agent.stats + n_stats);
	snprintf(s->agent.features, sizeof(s->agent.features), "%s",
		 collector__features(e->collector));
	if (e->kube && kube_meta__fill_snapshot(e->kube, s))
		goto oom;
	*ret = s;
	return 0;
oom:
	/* A failed strdup left NULL, which snapshot_unref frees as nothing. */
	snapshot_unref(s);
	return -ENOMEM;
}

/* Scans the tree when new ids appeared (or a minute passed), resolves what it can and
 * sweeps ids that stayed absent from the tree. */
static int resolve_all(struct engine *e, uint64_t kgen, uint64_t *ret_unresolved)
{
	bool need_scan = false, scanned = false;
	uint64_t key, unresolved = 0;
	size_t pos = 0;
	void *v;
	int r;

	bool waiting = false;

	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (c->gen == e->gen && !c->series && !c->gone) {
			need_scan |= c->resolve_tries == 0;
			waiting = true;
		}
	}
	/* New ids: now. Ids still unknown: every few seconds, so the sweep can decide. */
	if (need_scan || time(NULL) - e->last_scan >= (waiting ? RESCAN_UNKNOWN_SECONDS : 60)) {
		if (cgroup_tree_scan(e->tree) >= 0)
			scanned = true;
		e->last_scan = time(NULL);
	}
	pos = 0;
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (c->series || c->gone || (!scanned && c->resolve_tries))
			continue;
		c->resolve_tries++;
		r = resolve(e, key, c, kgen);
		if (r == -ENOMEM)
			return r;
		if (!c->series) {
			unresolved++;
			/* Removed while nobody looked (agent down, rmdir map full): sweep. */
			if (scanned && ++c->missing_scans >= SWEEP_AFTER_SCANS) {
				c->gone = true;
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
			c->gone = true;
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
	uint64_t key, gone[256];
	size_t n = 0, pos, n_gone;
	void *v;
	int r;

	r = kube_meta__containers(e->kube, &refs, &n);
	if (r)
		return r;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = idmap_str_key(refs[i].id);
		struct tracked *t = idmap_get(e->tracked, h);

		if (t && strcmp(t->ref.id, refs[i].id))
			continue; /* two ids with one hash: the first one is tracked */
		if (!t) {
			t = calloc(1, sizeof(*t));
			if (!t || idmap_put(e->tracked, h, t)) {
				free(t);
				free(refs);
				return -ENOMEM;
			}
			t->ref = refs[i];
		}
		t->list_gen = kgen;
	}
	free(refs);
	do {
		n_gone = 0;
		pos = 0;
		while (n_gone < sizeof(gone) / sizeof(gone[0]) &&
		       idmap_next(e->tracked, &pos, &key, &v)) {
			if (((struct tracked *)v)->list_gen != kgen)
				gone[n_gone++] = key;
		}
		for (size_t i = 0; i < n_gone; i++)
			untrack(e, idmap_del(e->tracked, gone[i]));
	} while (n_gone == sizeof(gone) / sizeof(gone[0]));
	e->tracked_gen = kgen;
	return 0;
}

/* Gives a found container cgroup its series, with CPU counters at zero until it runs. */
static int track_found(struct engine *e, struct tracked *t, uint64_t cgid, uint64_t kgen)
{
	struct cg *c = cg_get(e, cgid);
	int r;

	if (!c)
		return -ENOMEM;
	if (!c->series && !c->gone) {
		c->resolve_tries++;
		r = resolve(e, cgid, c, kgen);
		if (r == -ENOMEM)
			return r;
	}
	if (!c->series)
		return -ENOENT;
	if (!acc_get(c->series, ACC_CPU, NULL, NULL, NULL))
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
static int track_containers(struct engine *e, uint64_t kgen)
{
	double now = clock_mono();
	bool scanned = false;
	uint64_t key, cgid;
	size_t pos = 0;
	void *v;
	int r;

	e->tracked_unresolved = 0;
	if (!e->kube)
		return 0;
	if (kgen != e->tracked_gen) {
		r = track_refresh(e, kgen);
		if (r)
			return r;
	}
	while (idmap_next(e->tracked, &pos, &key, &v)) {
		struct tracked *t = v;

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

static void read_cgroupfs(struct engine *e)
{
	bool with_limit = e->collections % LIMIT_EVERY == 0;
	size_t pos = 0;
	uint64_t key;
	void *v;

	while (idmap_next(e->series, &pos, &key, &v)) {
		for (struct series *se = v; se; se = se->next) {
			se->n_ports = 0;
			se->n_peers = 0;
			se->listening = 0;
			if (!se->members || strcmp(se->cgroup_path, "/") == 0)
				continue;
			/* Throttling and CPU stalls grow only while a cgroup runs: an idle one is
			 * read once a minute, not every collection (files cost an open each). */
			uint64_t cpu = 0;

			for (const struct acc *a = se->accs; a; a = a->next)
				cpu = a->kind == ACC_CPU ? a->total.cpu.oncpu_ns : cpu;

			if (se->cpufs_valid && !with_limit && cpu == se->cpufs_cpu)
				continue;
			se->cpufs_cpu = cpu;
			cgroupfs_read_cpu(engine__cgroup_root(e),
					  e->v1_cpu_root[0] ? e->v1_cpu_root : NULL,
					  se->cgroup_path, with_limit || !se->cpufs_valid,
					  &se->cpufs);
			se->cpufs_valid = true;
		}
	}
}

/* Frees gone cgroups (after their last read) and series empty for the retention time. */
static void expire(struct engine *e)
{
	uint64_t ids[256], key;
	size_t n, pos;
	time_t now = time(NULL);
	void *v;

	if (collector__forget(e->collector, is_gone, e) < 0)
		log_debug("forgetting removed cgroups failed");
	do {
		n = 0;
		pos = 0;
		while (n < sizeof(ids) / sizeof(ids[0]) && idmap_next(e->cgs, &pos, &key, &v)) {
			if (((struct cg *)v)->gone)
				ids[n++] = key;
		}
		for (size_t i = 0; i < n; i++) {
			struct cg *c = idmap_del(e->cgs, ids[i]);

			cg_unbind(c);
			cg_free(c);
			e->removed++;
		}
	} while (n == sizeof(ids) / sizeof(ids[0]));
	do {
		struct series *victims[64];

		n = 0;
		pos = 0;
		while (n < 64 && idmap_next(e->series, &pos, &key, &v)) {
			for (struct series *se = v; se && n < 64; se = se->next) {
				if (!se->members && se->empty_since &&
				    now - se->empty_since >= e->retention)
					victims[n++] = se;
			}
		}
		for (size_t i = 0; i < n; i++)
			series_remove(e, victims[i]);
		if (n < 64)
			break;
	} while (1);
}

int engine__collect(struct engine *e, struct snapshot **ret)
{
	struct read_ctx rc = { .e = e };
	const struct collector_sink sink = { .ctx = &rc,
					     .cpu = on_cpu,
					     .cpu_samples = on_cpu_samples,
					     .disk = on_disk,
					     .fs = on_fs,
					     .net = on_net };
	double t0 = clock_mono(), dt;
	uint64_t unresolved = 0, key, kgen = e->kube ? kube_meta__generation(e->kube) : 0;
	struct snapshot *s = NULL;
	size_t pos = 0;
	void *v;
	int r;

	e->gen++;
	/* Removals first: their entries are read a last time below, then freed. */
	r = collector__take_removed(e->collector, on_removed, e);
	if (!r)
		r = collector__read(e->collector, &sink);
	if (!r)
		r = rc.err;
	if (!r)
		r = resolve_all(e, kgen, &unresolved);
	if (!r)
		r = track_containers(e, kgen);
	if (r)
		goto out;
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		if (!c->series)
			continue;
		if (e->kube && !c->gone && (c->kube_gen != kgen || c->kube_pending) &&
		    relabel(e, key, c, kgen)) {
			r = -ENOMEM;
			goto out;
		}
		for (struct sub *sb = c->subs; sb; sb = sb->next) {
			if (sb->gen != e->gen)
				continue;
			if (!sb->bound) {
				if (bind_sub(e, c, sb)) {
					r = -ENOMEM;
					goto out;
				}
				if (sb->bound)
					carry_in(sb);
			}
			if (sb->bound)
				apply(sb);
		}
	}
	read_cgroupfs(e);
	if (seed_listeners(e)) {
		r = -ENOMEM;
		goto out;
	}
	read_listeners(e);
	collector__read_peers(e->collector, on_peer, e);
	expire(e);
	dt = e->last_time > 0 ? t0 - e->last_time : 0;
	r = build_snapshot(e, dt, &s);
	if (r)
		goto out;
	e->last_time = t0;
	e->collections++;
	s->time = clock_unix();
	s->agent.start_time = e->start_time;
	s->agent.collections = e->collections;
	s->agent.collection_errors = e->errors;
	s->agent.cgroups_unresolved = unresolved;
	s->agent.containers_unresolved = e->tracked_unresolved;
	s->agent.cgroup_scans = cgroup_tree_scans(e->tree);
	s->agent.cgroup_scan_truncated = cgroup_tree_truncated(e->tree);
	s->agent.cgroups_removed = e->removed;
	s->agent.cgroups_swept = e->swept;
	s->agent.fs_pseudo_write_bytes = e->pseudo.total.fs.write_bytes;
	s->agent.last_collection_seconds = clock_mono() - t0;
	*ret = s;
	return 0;
out:
	e->errors++;
	return r;
}
