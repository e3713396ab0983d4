// SPDX-License-Identifier: BSD-2-Clause
/* The rules engine: each workload's window of buckets filled from its containers' deltas, the
 * fire/clear hysteresis, events, and the findings a snapshot carries. The rules themselves are
 * definitions (rule_def.h) this file knows by id only. */
#include "rules/rule_def.h"
#include "base/strmap.h"
#include "rules/recommend.h"
#include "rules/rule_window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 10
#define EXPIRE_TICKS 120

#define NONE SIZE_MAX

/* What a tick keeps of a container's facts for its second pass (struct rules_facts is 2.3 KB,
 * and a tick holds one per container). */
struct tick_facts {
	double started_at;
	bool readiness_probe;
	uint16_t ports[8];
	unsigned n_ports;
	char pod_uid[40];
	char pod_ips[4][46];
	unsigned n_pod_ips;
	char (*unbounded_emptydirs)[64]; /* allocated when there are any */
	unsigned n_unbounded_emptydirs;
};

#define SAME_SIZE(m) (sizeof(((struct tick_facts *)0)->m) == sizeof(((struct rules_facts *)0)->m))
_Static_assert(SAME_SIZE(ports) && SAME_SIZE(pod_uid) && SAME_SIZE(pod_ips) &&
		       sizeof(*((struct tick_facts *)0)->unbounded_emptydirs) ==
			       sizeof(((struct rules_facts *)0)->unbounded_emptydirs[0]),
	       "a tick's facts are copies");

/* A workload in this tick, for feed only: its pods' UIDs and addresses (pointing into the
 * tick's facts, so they cost nothing between ticks) and its containers (tick items). */
struct wl_tick {
	struct wl *w;
	const char *uids[8];
	const char *ips[16];
	unsigned n_ips;
	size_t first, last; /* items, linked by their next; NONE: none */
};

/* A workload, kept EXPIRE_TICKS after it was last seen: sized to what it holds (its strings,
 * its window packed, its findings while they hold), as the bench's 1000 containers are 1000
 * workloads (test_workload_memory_bound). */
struct wl {
	struct rule_workload s; /* what the definitions read */
	uint64_t tick;
	bool pending; /* a container's workload metadata is still due: judge nothing yet */
	struct wl_tick *t; /* during feed of tick `tick` */
	double bucket_start;
	struct rule_ring cur; /* the open bucket in slot 0, packed; empty: nothing added yet */
	struct rule_ring ring; /* the closed buckets */
	struct rule_ring sum; /* their sum in slot 0 once computed, until the next closes */
	uint16_t crossed[RULE_MAX]; /* bit i: bucket i of the ring crossed */
	unsigned n_buckets; /* closed buckets so far, capped at BUCKETS */
	unsigned head;
	bool active[RULE_MAX];
	/* By rule, allocated while the rule is judged to hold (about 2 KiB each; since: the
	 * finding's), the array with the first: most workloads have no finding. */
	struct snap_finding **finding;
	char id[]; /* s.ns, s.kind and s.name */
};

struct rules_engine {
	struct rules_config cfg;
	struct strmap wls; /* workload key (ident_key) → struct wl */
	struct strmap nbs; /* neighbour key (ident_key) → struct rule_neighbour, shared */
	uint64_t tick;
	struct recommender *rec; /* right-sizing histories */
};

/* Sets *dst to a copy of src: allocated, or the literal "" when empty. For a workload's
 * strings that change with its facts. Returns 0 or -ENOMEM (*dst unchanged). */
static int own_str(const char **dst, const char *src)
{
	char *c = NULL;

	if (strcmp(*dst, src) == 0)
		return 0;
	if (src[0] && !(c = strdup(src)))
		return -ENOMEM;
	if ((*dst)[0])
		free((char *)*dst);
	*dst = c ? c : "";
	return 0;
}

static void own_str_free(const char **s)
{
	if ((*s)[0])
		free((char *)*s);
	*s = "";
}

/* The identity of a workload as a map key: namespace, kind and name, each but the last
 * prefixed by its length, so that no two identities share a key whatever their bytes. */
static void ident_key(const char *ns, const char *kind, const char *name, char *buf, size_t size)
{
	const char *parts[] = { ns, kind, name };

	strmap_key_join(buf, size, parts, 3);
}

/* The size of ident_key's buffer for ns, kind and name of len bytes together. */
#define IDENT_KEY_SIZE(len) (2 * 21 + (len) + 1)

/* The neighbour ns/kind/name with a reference taken, or NULL when out of memory. */
static struct rule_neighbour *nb_get(struct rules_engine *r, const char *ns, const char *kind,
				     const char *name)
{
	size_t ln = strlen(ns) + 1, lk = strlen(kind) + 1, lw = strlen(name) + 1;
	char key[IDENT_KEY_SIZE(ln + lk + lw)];
	struct rule_neighbour *n;
	char *p;

	ident_key(ns, kind, name, key, sizeof(key));
	if ((n = strmap_get(&r->nbs, key))) {
		n->refs++;
		return n;
	}
	if (!(n = malloc(sizeof(*n) + ln + lk + lw)))
		return NULL;
	p = (char *)(n + 1);
	n->ns = memcpy(p, ns, ln);
	n->kind = memcpy(p + ln, kind, lk);
	n->name = memcpy(p + ln + lk, name, lw);
	n->id = rule_neighbour_id(ns, kind, name);
	n->refs = 1;
	if (strmap_put(&r->nbs, key, n)) {
		free(n);
		return NULL;
	}
	return n;
}

/* Drops a reference to neighbour n (NULL: none); the last frees it. */
static void nb_put(struct rules_engine *r, const struct rule_neighbour *n)
{
	if (!n || --((struct rule_neighbour *)n)->refs)
		return;

	char key[IDENT_KEY_SIZE(strlen(n->ns) + strlen(n->kind) + strlen(n->name))];

	ident_key(n->ns, n->kind, n->name, key, sizeof(key));
	strmap_del(&r->nbs, key);
	free((void *)n);
}

static void wl_free(struct rules_engine *r, struct wl *w)
{
	for (int id = 0; w->finding && id < RULE_MAX; id++)
		free(w->finding[id]);
	free(w->finding);
	for (unsigned k = 0; k < RULE_NEIGHBOURS; k++)
		nb_put(r, w->s.neighbours[k]);
	own_str_free(&w->s.helm);
	own_str_free(&w->s.missing_resources_container);
	own_str_free(&w->s.f.rwo_claim);
	own_str_free(&w->s.f.ignore_rules);
	rule_ring_free(&w->cur);
	rule_ring_free(&w->ring);
	rule_ring_free(&w->sum);
	free(w);
}

/* src into dst (size bytes), truncated as snprintf truncates. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int rules_local_facts(void *ctx, const struct snap_series *se, struct rules_facts *ret)
{
	(void)ctx;
	memset(ret, 0, sizeof(*ret));
	ret->known = ret->local = true;
	copy_str(ret->workload_kind, sizeof(ret->workload_kind), se->labels[LBL_WORKLOAD_KIND]);
	copy_str(ret->workload, sizeof(ret->workload), se->labels[LBL_WORKLOAD]);
	copy_str(ret->pod_uid, sizeof(ret->pod_uid), se->labels[LBL_POD_UID]);
	ret->has_cpu_limit = se->delta.cpu_limit_cores > 0;
	ret->cpu_limit = se->delta.cpu_limit_cores;
	ret->replicas = -1;
	return 0;
}

struct rules_engine *rules_new(const struct rules_config *cfg)
{
	struct rules_engine *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	struct rec_params rp;

	r->cfg = *cfg;
	/* A recommendation needs one bucket's worth of history. */
	rec_params_default(&rp, cfg->window / BUCKETS);
	if (!(r->rec = rec_new(&rp)))
		goto fail;
	if (strmap_init(&r->wls))
		goto fail;
	if (strmap_init(&r->nbs)) {
		strmap_destroy(&r->wls, NULL);
		goto fail;
	}
	return r;
fail:
	rec_free(r->rec);
	free(r);
	return NULL;
}

struct rules_engine *rules_free(struct rules_engine *r)
{
	if (!r)
		return NULL;
	STRMAP_FOREACH(&r->wls, e)
	{
		struct wl *w = e->val;

		strmap_del(&r->wls, e->key);
		wl_free(r, w);
	}
	strmap_destroy(&r->wls, NULL);
	strmap_destroy(&r->nbs, free); /* empty: the workloads held them */
	rec_free(r->rec);
	free(r);
	return NULL;
}

size_t rules_workloads_bytes(const struct rules_engine *r, size_t *n)
{
	/* What an allocation costs beyond its size, about: glibc's header and rounding. */
	const size_t hdr = 16;
	size_t sum = r->wls.nb * sizeof(void *) + r->nbs.nb * sizeof(void *);

	*n = r->wls.n;
	STRMAP_FOREACH(&r->wls, e)
	{
		const struct wl *w = e->val;
		const char *own[] = { w->s.helm, w->s.missing_resources_container, w->s.f.rwo_claim,
				      w->s.f.ignore_rules };

		sum += sizeof(struct strmap_ent) + strlen(e->key) + 1 + 2 * hdr;
		sum += sizeof(*w) + strlen(w->s.ns) + strlen(w->s.kind) + strlen(w->s.name) + 3 +
		       hdr;
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			sum += own[i][0] ? strlen(own[i]) + 1 + hdr : 0;
		sum += w->ring.len + (w->ring.buf ? hdr : 0);
		sum += w->cur.len + (w->cur.buf ? hdr : 0);
		sum += w->sum.len + (w->sum.buf ? hdr : 0);
		for (int id = 0; w->finding && id < RULE_MAX; id++)
			sum += w->finding[id] ? sizeof(*w->finding[id]) + hdr : 0;
		sum += w->finding ? RULE_MAX * sizeof(*w->finding) + hdr : 0;
	}
	STRMAP_FOREACH(&r->nbs, e)
	{
		const struct rule_neighbour *nb = e->val;

		sum += sizeof(struct strmap_ent) + strlen(e->key) + 1 + 2 * hdr;
		sum += sizeof(*nb) + strlen(nb->ns) + strlen(nb->kind) + strlen(nb->name) + 3 + hdr;
	}
	return sum;
}

struct recommender *rules_recommender(struct rules_engine *r)
{
	return r->rec;
}

static bool ignored(const char *s, enum rule_id id)
{
	const char *code = rule_code(id);
	size_t n = strlen(code);

	if (!s[0])
		return false;
	for (const char *p = s; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");

		if ((len == 3 && strncmp(p, "all", 3) == 0) ||
		    (len == n && strncmp(p, code, n) == 0))
			return true;
		p += len;
	}
	return false;
}

static struct wl *wl_get(struct rules_engine *r, const struct rules_facts *f, double now)
{
	size_t ln = strlen(f->ns) + 1, lk = strlen(f->workload_kind) + 1,
	       lw = strlen(f->workload) + 1;
	char key[IDENT_KEY_SIZE(ln + lk + lw)];
	struct wl *w;

	ident_key(f->ns, f->workload_kind, f->workload, key, sizeof(key));
	w = strmap_get(&r->wls, key);
	if (w)
		return w;
	w = calloc(1, sizeof(*w) + ln + lk + lw);
	if (!w || strmap_put(&r->wls, key, w)) {
		free(w);
		return NULL;
	}
	w->s.ns = memcpy(w->id, f->ns, ln);
	w->s.kind = memcpy(w->id + ln, f->workload_kind, lk);
	w->s.name = memcpy(w->id + ln + lk, f->workload, lw);
	w->s.helm = w->s.missing_resources_container = "";
	w->s.f.rwo_claim = w->s.f.ignore_rules = "";
	w->s.kind_bit = rule_kind_bit(w->s.kind);
	w->s.self_id = rule_neighbour_id(w->s.ns, w->s.kind, w->s.name);
	w->bucket_start = now;
	return w;
}

/* Merges a container's facts f into its workload's view of this tick (tf: the tick's copy,
 * which the pods' UIDs and addresses point into). Returns 0 or -ENOMEM. */
static int merge_facts(struct wl *w, const struct rules_facts *f, const struct tick_facts *tf)
{
	struct rule_workload *s = &w->s;
	struct wl_tick *p = w->t;
	bool seen_pod = false;

	s->f.local = f->local;
	s->f.has_cpu_limit = f->has_cpu_limit;
	s->f.has_memory_limit = f->has_memory_limit;
	s->f.rolling_update = f->rolling_update;
	s->f.replicas = f->replicas;
	s->f.hpa_max = f->hpa_max;
	if (own_str(&s->f.rwo_claim, f->rwo_claim) ||
	    own_str(&s->f.ignore_rules, f->ignore_rules) || own_str(&s->helm, f->helm_release))
		return -ENOMEM;
	if (!f->has_memory_limit || !f->has_cpu_request || !f->has_memory_request) {
		if (!s->missing_resources && own_str(&s->missing_resources_container, f->container))
			return -ENOMEM;
		s->missing_resources = true;
	}
	if (!f->read_only_root_fs)
		s->ro_unset = true;
	if (f->privileged)
		s->privileged = true;
	if (f->host_network || f->host_pid || f->host_ipc)
		s->host_ns = true;
	if (f->host_path)
		s->host_path = true;
	if (f->pending)
		w->pending = true;
	for (unsigned i = 0; i < s->pods_here && i < 8; i++)
		seen_pod |= strcmp(p->uids[i], tf->pod_uid) == 0;
	if (!seen_pod) {
		if (s->pods_here < 8)
			p->uids[s->pods_here] = tf->pod_uid;
		s->pods_here++;
		for (unsigned i = 0; i < tf->n_pod_ips && p->n_ips < 16; i++)
			p->ips[p->n_ips++] = tf->pod_ips[i];
	}
	return 0;
}

/* The port a finding names for a listening container: the first it listens on that its pod
 * spec declares as a containerPort (RabbitMQ listens on epmd's 4369 before its own 5672), else
 * the first it listens on. */
static uint16_t served_port(const struct snap_series *se, const struct tick_facts *f)
{
	for (size_t i = 0; i < se->n_listen_ports; i++) {
		for (unsigned j = 0; j < f->n_ports; j++) {
			if (se->listen_ports[i] == f->ports[j])
				return se->listen_ports[i];
		}
	}
	return se->listen_ports[0];
}

/* Adds the container's writes to its emptyDir volumes without a sizeLimit to bucket b. */
static void add_unbounded_emptydirs(struct bucket *b, const struct snap_delta *d,
				    const struct tick_facts *f)
{
	double most = 0;

	for (unsigned i = 0; i < d->n_emptydir && i < SNAP_DELTA_EMPTYDIRS; i++) {
		bool unbounded = false;

		for (unsigned j = 0; j < f->n_unbounded_emptydirs && j < 8; j++)
			unbounded |= strcmp(d->emptydir[i].name, f->unbounded_emptydirs[j]) == 0;
		if (!unbounded)
			continue;
		b->unbounded_emptydir_bytes += d->emptydir[i].write_bytes;
		if (d->emptydir[i].write_bytes > most) {
			most = d->emptydir[i].write_bytes;
			snprintf(b->unbounded_emptydir, sizeof(b->unbounded_emptydir), "%s",
				 d->emptydir[i].name);
		}
	}
}

/* A bucket's memory from a container's interval: the container nearest its limit, and kills. */
static void add_memory(struct bucket *b, const struct snap_delta *d)
{
	double ratio = d->mem_limit > 0 ? d->mem_working_set / d->mem_limit : 0;

	if (ratio > b->mem_ratio || (!b->mem_limit && d->mem_working_set > b->mem_ws)) {
		b->mem_ratio = ratio;
		b->mem_ws = d->mem_working_set;
		b->mem_limit = d->mem_limit;
	}
	b->oom_kills += d->oom_kills;
	if (d->oom_working_set > b->oom_ws)
		b->oom_ws = d->oom_working_set;
	if (d->oom_kills > 0 && d->mem_peak > b->oom_peak)
		b->oom_peak = d->mem_peak;
}

/* Adds the neighbours that held the CPU while the container waited to bucket b, and names
 * them in w (the most recent RULE_NEIGHBOURS). Returns 0, or -ENOMEM with nothing added. */
static int add_causes(struct rules_engine *r, struct wl *w, struct bucket *b,
		      const struct snap_delta *d)
{
	const unsigned n = d->n_caused < SNAP_DELTA_CAUSES ? d->n_caused : SNAP_DELTA_CAUSES;
	struct rule_neighbour *got[SNAP_DELTA_CAUSES] = { 0 };

	for (unsigned i = 0; i < n; i++) {
		if (!(got[i] = nb_get(r, d->caused[i].ns, d->caused[i].kind, d->caused[i].name))) {
			for (unsigned k = 0; k < i; k++)
				nb_put(r, got[k]);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t id = got[i]->id;
		bool named = false;

		for (unsigned k = 0; k < RULE_NEIGHBOURS && !named; k++)
			named = w->s.neighbours[k] && w->s.neighbours[k]->id == id;
		if (!named) {
			const struct rule_neighbour **slot =
				&w->s.neighbours[w->s.next_neighbour++ % RULE_NEIGHBOURS];

			nb_put(r, *slot);
			*slot = got[i];
			got[i] = NULL;
		}
		nb_put(r, got[i]);
		rule_bucket_cause(b, id, d->caused[i].seconds);
	}
	b->runq_wait_s += d->runq_wait_seconds;
	return 0;
}

/* Adds what a container of w did in the last interval (d) to w's open bucket b. Returns 0, or
 * -ENOMEM with nothing added. */
static int add_delta(struct rules_engine *r, struct wl *w, struct bucket *b,
		     const struct snap_series *se, const struct tick_facts *f)
{
	const struct snap_delta *d = &se->delta;

	if (add_causes(r, w, b, d))
		return -ENOMEM;
	b->data = true;
	for (int vc = 0; vc < VOLUME_CLASS_MAX; vc++) {
		b->fs_bytes[vc] += d->fs_write_bytes[vc];
		b->fs_syncs[vc] += d->fs_sync_calls[vc];
		b->fs_read_bytes[vc] += d->fs_read_bytes[vc];
	}
	b->server_conns += d->conns_opened[ROLE_SERVER];
	b->cpu_s += d->cpu_seconds;
	b->throttled += d->throttled_periods;
	b->periods += d->periods;
	b->limit_core_s += d->cpu_limit_cores * d->seconds;
	for (int h = 0; h < HIST_SLOTS; h++)
		b->runq_hist[h] += d->runq_hist[h];
	if (se->n_listen_ports) {
		uint16_t port = served_port(se, f);

		b->listening = true;
		b->port = port;
		if (!f->readiness_probe) {
			b->unprobed_conns += d->conns_opened[ROLE_SERVER];
			b->unprobed_port = port;
		}
	}
	if (d->pvc_volume && d->pvc_volume[0])
		snprintf(b->pvc_volume, sizeof(b->pvc_volume), "%s", d->pvc_volume);
	add_unbounded_emptydirs(b, d, f);
	add_memory(b, d);
	/* A connection to another replica's address: peers of one workload. */
	for (size_t k = 0; k < se->n_peers; k++) {
		for (unsigned j = 0; j < w->t->n_ips; j++) {
			bool own = false;

			for (unsigned o = 0; o < f->n_pod_ips; o++)
				own |= strcmp(f->pod_ips[o], w->t->ips[j]) == 0;
			if (!own && strcmp(se->peers[k].addr, w->t->ips[j]) == 0)
				b->peer_replica = true;
		}
	}
	return 0;
}

/* Does rule d apply to w: its kind (SPEC §5 "applies to"), or in local mode the rules that
 * need no pod spec, and the rule's own condition? */
static bool applies(const struct rule_def *d, const struct rule_workload *w)
{
	if (w->f.local ? !d->local : !(d->kinds & w->kind_bit))
		return false;
	return !d->applies || d->applies(w);
}

/* The window's buckets summed, for a finding's text and the rules judged on the whole window
 * (every workload, every tick): into *sum, once per judge (*have), and kept packed until a
 * bucket closes. */
static const struct bucket *window_sum(struct wl *w, struct bucket *sum, bool *have)
{
	if (*have)
		return sum;
	*have = true;
	if (w->sum.len) {
		rule_ring_get(&w->sum, 0, 1, sum);
		return sum;
	}
	rule_ring_sum(&w->ring, w->n_buckets, sum);
	/* Out of memory: summed again next time. */
	(void)rule_ring_put(&w->sum, 0, 0, sum);
	return sum;
}

/* Fills the finding's identity, then its text and evidence from the window s. Returns 0 or
 * -ENOMEM. */
static int describe(const struct rules_config *c, struct wl *w, const struct rule_def *d,
		    const struct bucket *s, double now)
{
	struct snap_finding *f;
	double since;

	if (!w->finding && !(w->finding = calloc(RULE_MAX, sizeof(*w->finding))))
		return -ENOMEM;
	f = w->finding[d->id];
	if (!f && !(f = w->finding[d->id] = malloc(sizeof(*f))))
		return -ENOMEM;
	since = w->active[d->id] ? f->since : now;
	memset(f, 0, sizeof(*f));
	snprintf(f->ns, sizeof(f->ns), "%s", w->s.ns);
	snprintf(f->workload_kind, sizeof(f->workload_kind), "%s", w->s.kind);
	snprintf(f->workload, sizeof(f->workload), "%s", w->s.name);
	snprintf(f->helm_release, sizeof(f->helm_release), "%s", w->s.helm);
	snprintf(f->rule, sizeof(f->rule), "%s", d->code);
	snprintf(f->rule_name, sizeof(f->rule_name), "%s", d->name);
	snprintf(f->severity, sizeof(f->severity), "%s",
		 c->severity[d->id][0] ? c->severity[d->id] : d->severity);
	snprintf(f->suggested_kind, sizeof(f->suggested_kind), "%s", d->suggests);
	f->since = since;
	d->describe(&w->s, s, s->seconds > 0 ? s->seconds : 1, f);
	return 0;
}

/* Closes the open bucket, seconds long: pushes it and its verdicts into the ring. Returns 0,
 * or -ENOMEM with the bucket still open. */
static int close_bucket(const struct rules_config *c, struct wl *w, double seconds)
{
	struct bucket cur;
	const struct bucket *b = &cur;
	unsigned slot = w->head;

	rule_ring_get(&w->cur, 0, w->cur.len ? 1 : 0, &cur);
	cur.seconds = seconds;
	if (rule_ring_put(&w->ring, slot, w->n_buckets, b))
		return -ENOMEM;
	for (int id = 0; id < RULE_MAX; id++) {
		const struct rule_def *d = rule_def_of((enum rule_id)id);
		uint16_t bit = (uint16_t)(1u << slot);

		w->crossed[id] &= (uint16_t)~bit;
		if (d->crosses && b->data &&
		    d->crosses(c->threshold[id], &w->s, b, b->seconds > 0 ? b->seconds : 1))
			w->crossed[id] |= bit;
	}
	w->head = (w->head + 1) % BUCKETS;
	if (w->n_buckets < BUCKETS)
		w->n_buckets++;
	rule_ring_free(&w->cur);
	rule_ring_free(&w->sum);
	return 0;
}

static void judge(struct rules_engine *r, struct wl *w, double now, rules_event_fn ev, void *ectx)
{
	const struct rules_config *c = &r->cfg;
	struct bucket sum;
	bool have_sum = false;

	for (int i = 0; i < RULE_MAX; i++) {
		const struct rule_def *d = rule_def_of((enum rule_id)i);
		bool on = w->active[i], want;

		if (!c->enabled[i] || !applies(d, &w->s) || ignored(w->s.f.ignore_rules, d->id)) {
			want = false;
		} else if (d->holds) {
			want = d->holds(&w->s);
		} else {
			/* Out of all 10 buckets: a young workload needs 7 crossing buckets to fire. */
			double ratio = (double)__builtin_popcount(w->crossed[i]) / BUCKETS;

			want = on ? ratio >= c->clear_ratio : ratio >= c->fire_ratio;
			if (!want && d->window)
				want = d->window(c->threshold[i], &w->s,
						 window_sum(w, &sum, &have_sum));
		}
		/* Out of memory: the rule keeps its state and is judged again next tick. */
		if (want && describe(c, w, d, window_sum(w, &sum, &have_sum), now))
			continue;
		if (want == on)
			continue;
		/* since: now when it starts (describe), kept when it clears */
		w->active[i] = want;
		if (ev) {
			struct rules_event e = { .started = want, .finding = w->finding[i] };

			ev(ectx, &e);
		}
		if (!want) {
			free(w->finding[i]);
			w->finding[i] = NULL;
		}
	}
}

/* The pod status of a container onto its series (for /api/v1/pods) and its workload. */
static void pod_status(const struct rules_engine *r, struct snap_series *se,
		       const struct rules_facts *f, struct rule_workload *w, double now)
{
	bool oom = strcmp(f->last_reason, "OOMKilled") == 0;

	if (f->local)
		return;
	se->has_status = true;
	se->restarts = f->restarts;
	snprintf(se->last_reason, sizeof(se->last_reason), "%s", f->last_reason);
	if (!w)
		return;
	w->restarts += f->restarts;
	w->last_oomkilled |= oom;
	w->oomkilled_in_window |= oom && f->last_finished_at > 0 &&
				  now - f->last_finished_at <= r->cfg.window;
}

struct tick_item {
	const struct snap_series *se;
	struct tick_facts f;
	size_t next; /* the next item of its workload, NONE: the last */
};

/* The tick's copy of facts f (the bounds: struct rules_facts' arrays). Returns 0 or -ENOMEM. */
static int tick_facts_of(struct tick_facts *t, const struct rules_facts *f)
{
	const unsigned max_ips = sizeof(f->pod_ips) / sizeof(f->pod_ips[0]);
	const unsigned max_ports = sizeof(f->ports) / sizeof(f->ports[0]);
	const unsigned max_dirs =
		sizeof(f->unbounded_emptydirs) / sizeof(f->unbounded_emptydirs[0]);

	t->started_at = f->started_at;
	t->readiness_probe = f->readiness_probe;
	t->n_ports = f->n_ports < max_ports ? f->n_ports : max_ports;
	memcpy(t->ports, f->ports, sizeof(t->ports));
	memcpy(t->pod_uid, f->pod_uid, sizeof(t->pod_uid));
	t->n_pod_ips = f->n_pod_ips < max_ips ? f->n_pod_ips : max_ips;
	memcpy(t->pod_ips, f->pod_ips, sizeof(t->pod_ips));
	t->n_unbounded_emptydirs = f->n_unbounded_emptydirs < max_dirs ? f->n_unbounded_emptydirs :
									 max_dirs;
	if (!t->n_unbounded_emptydirs)
		return 0;
	t->unbounded_emptydirs =
		malloc(t->n_unbounded_emptydirs * sizeof(f->unbounded_emptydirs[0]));
	if (!t->unbounded_emptydirs)
		return -ENOMEM;
	memcpy(t->unbounded_emptydirs, f->unbounded_emptydirs,
	       t->n_unbounded_emptydirs * sizeof(f->unbounded_emptydirs[0]));
	return 0;
}

static void free_items(struct tick_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++)
		free(items[i].f.unbounded_emptydirs);
	free(items);
}

/* What the containers of workload t did since the last collection, into its open bucket.
 * Returns 0, or -ENOMEM with nothing added. */
static int add_tick(struct rules_engine *r, struct wl_tick *t, const struct tick_item *items,
		    double now)
{
	struct wl *w = t->w;
	struct bucket cur;
	bool added = false;

	rule_ring_get(&w->cur, 0, w->cur.len ? 1 : 0, &cur);
	for (size_t i = t->first; i != NONE; i = items[i].next) {
		const struct tick_item *it = &items[i];
		bool young = it->f.started_at > 0 && now - it->f.started_at < r->cfg.warmup;

		/* A series' first collection has no increase yet, but for OOM kills (emit.c): a
		 * young container's kills count too, as crash-looping ones never grow old. */
		if (!young && it->se->delta.seconds > 0) {
			if (add_delta(r, w, &cur, it->se, &it->f))
				return -ENOMEM;
			added = true;
		} else if (it->se->delta.oom_kills > 0) {
			add_memory(&cur, &it->se->delta);
			added = true;
		}
	}
	return added ? rule_ring_put(&w->cur, 0, w->cur.len ? 1 : 0, &cur) : 0;
}

/* Facts of each judged container and its workload's view of this tick (pass 1), then what
 * each did since the last collection into its workload's bucket (pass 2). */
static int feed(struct rules_engine *r, struct snapshot *s, rules_facts_fn facts, void *fctx,
		double now)
{
	struct tick_item *items = calloc(s->n_series ? s->n_series : 1, sizeof(*items));
	struct wl_tick *ticks = calloc(s->n_series ? s->n_series : 1, sizeof(*ticks));
	size_t n_items = 0, n_ticks = 0;
	struct rules_facts f;

	if (!items || !ticks)
		goto oom;
	for (size_t i = 0; i < s->n_series; i++) {
		struct snap_series *se = &s->series[i];
		struct tick_item *it = &items[n_items];
		struct wl *w = NULL;

		memset(&f, 0, sizeof(f));
		if (!facts || facts(fctx, se, &f) || !f.known || f.sandbox)
			continue;
		/* An init container is right-sized too, but judged by no rule. */
		if (!f.init && !(w = wl_get(r, &f, now)))
			goto oom;
		if (w && w->tick != r->tick) {
			w->tick = r->tick;
			w->s.missing_resources = w->s.ro_unset = false;
			w->s.host_ns = w->s.privileged = w->s.host_path = w->pending = false;
			w->s.pods_here = 0;
			w->t = &ticks[n_ticks++];
			w->t->w = w;
			w->t->first = w->t->last = NONE;
			memset(&w->s.rec, 0, sizeof(w->s.rec));
			w->s.restarts = 0;
			w->s.last_oomkilled = w->s.oomkilled_in_window = false;
		}
		pod_status(r, se, &f, w ? &w->s : NULL, now);
		if (rules_rec_series(r->rec, se, &f, w ? &w->s : NULL, now))
			goto oom;
		if (!w)
			continue;
		if (tick_facts_of(&it->f, &f) || merge_facts(w, &f, &it->f))
			goto oom;
		it->se = se;
		it->next = NONE;
		if (w->t->last == NONE)
			w->t->first = n_items;
		else
			items[w->t->last].next = n_items;
		w->t->last = n_items++;
	}
	/* By workload, its containers in order: one bucket unpacked at a time. */
	for (size_t i = 0; i < n_ticks; i++) {
		if (add_tick(r, &ticks[i], items, now))
			goto oom;
	}
	free(ticks);
	free_items(items, n_items);
	return 0;
oom:
	free(ticks);
	/* with the item that failed, whose copy may hold names */
	free_items(items, items && n_items < s->n_series ? n_items + 1 : n_items);
	return -ENOMEM;
}

/* The snapshot carries the active findings. */
static int copy_findings(struct rules_engine *r, struct snapshot *s)
{
	size_t n = 0;

	STRMAP_FOREACH(&r->wls, e)
	{
		for (int id = 0; id < RULE_MAX; id++)
			n += ((struct wl *)e->val)->active[id];
	}
	free(s->findings);
	s->n_findings = 0;
	s->findings = calloc(n ? n : 1, sizeof(*s->findings));
	if (!s->findings)
		return -ENOMEM;
	STRMAP_FOREACH(&r->wls, e)
	{
		struct wl *w = e->val;

		for (int id = 0; id < RULE_MAX; id++) {
			if (w->active[id])
				s->findings[s->n_findings++] = *w->finding[id];
		}
	}
	return 0;
}

int rules_update(struct rules_engine *r, struct snapshot *s, rules_facts_fn facts, void *fctx,
		 double now, rules_event_fn ev, void *ectx)
{
	const struct rules_config *c = &r->cfg;
	double blen = c->window / BUCKETS;
	int err, oom = 0;

	r->tick++;
	err = feed(r, s, facts, fctx, now);
	if (err)
		return err;
	/* Buckets close on time; every workload seen recently is judged every tick. */
	STRMAP_FOREACH(&r->wls, e)
	{
		struct wl *w = e->val;

		/* Out of memory: the bucket stays open and closes at a later tick. */
		while (now - w->bucket_start >= blen) {
			if (close_bucket(c, w, blen)) {
				oom = -ENOMEM;
				break;
			}
			w->bucket_start += blen;
		}
		/* Until the workload's GET answers, its kind, Helm release and ignore-rules
		 * annotation may still change: findings would start and clear again. */
		if (w->tick == r->tick && !w->pending)
			judge(r, w, now, ev, ectx);
	}
	/* Forget workloads not seen for a while (their findings clear). */
	STRMAP_FOREACH(&r->wls, e)
	{
		struct wl *w = e->val;

		if (r->tick - w->tick <= EXPIRE_TICKS)
			continue;
		strmap_del(&r->wls, e->key);
		for (int id = 0; id < RULE_MAX && ev; id++) {
			if (w->active[id]) {
				struct rules_event ce = { .started = false,
							  .finding = w->finding[id] };

				ev(ectx, &ce);
			}
		}
		wl_free(r, w);
	}
	err = copy_findings(r, s);
	return err ? err : oom;
}
