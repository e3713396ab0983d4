// SPDX-License-Identifier: BSD-2-Clause
/* Listening sockets and peers of every series, rebuilt at each collection: the net family's
 * maps merged with what /proc showed when a cgroup was first seen (host/listen_seed.h). */
#include "engine/engine_priv.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEED_MAX_CGROUPS 256 /* cgroups whose listeners are read from /proc per collection */
#define SEED_TRIES 3 /* seedings raced by a LISTEN transition before one is taken as is */

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

	if (!c || !c->m.series)
		return;
	l = cg_listen_find(c, port);
	if (l) {
		off = l->off;
		l->gen = e->gen;
	}
	series_listen(c->m.series, port, listen_seed_merged(n, off));
}

/* The listening sockets of every series, rebuilt each collection. Merge rule, per (cgroup,
 * port): listening = max(0, b + off) with b the net_listen count and off = S − b_seed fixed
 * when the cgroup was seeded (S the sockets /proc showed, b_seed the count then; see
 * listen_seed.h): a listener BPF counts already (opened after attach, or in a map pinned across
 * a restart) cancels out, a seeded one that closes takes b below b_seed and drops out. Then
 * the seeded ports without an entry (nothing opened or closed there since attach). */
void engine_read_listeners(struct engine *e)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	collector__read_listen(e->collector, on_listen, e);
	while (idmap_next(e->cgs, &pos, &key, &v)) {
		struct cg *c = v;

		for (size_t i = 0; c->m.series && i < c->n_listen; i++) {
			if (c->listen[i].gen != e->gen)
				series_listen(c->m.series, c->listen[i].port,
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
int engine_seed_listeners(struct engine *e)
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
		if (c->path && c->m.series)
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
	struct series *s = c ? c->m.series : NULL;
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

void engine_read_peers(struct engine *e)
{
	collector__read_peers(e->collector, on_peer, e);
}
