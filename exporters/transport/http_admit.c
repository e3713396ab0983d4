// SPDX-License-Identifier: BSD-2-Clause
#include "transport/http_admit.h"
#include "base/clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum conn_phase {
	PHASE_HEADERS = 0, /* waiting for a request's headers (TLS handshake included) */
	PHASE_REQUEST, /* headers in, being answered */
};

struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	bool keyed; /* has a client key (IPv4 or IPv6) */
	bool doomed; /* shut down by us: no longer counted, closing */
	struct http_client_key key;
	enum conn_phase phase;
	double since; /* monotonic start of the phase */
};

struct http_admit {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t watchdog;
	bool stopping;
	struct http_conn *head; /* open connections, oldest first */
	struct http_conn *tail;
	struct selfmetrics *stats;
};

bool http_client_key(const struct sockaddr *addr, socklen_t len, struct http_client_key *ret)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(ret, 0, sizeof(*ret));
	if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(ret->bytes, mapped, sizeof(mapped));
		memcpy(ret->bytes + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		return true;
	}
	if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const uint8_t *a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;

		/* An IPv4-mapped address is its IPv4 client; any other IPv6 client is its /64,
		 * which one holder can fill with addresses at will. */
		memcpy(ret->bytes, a, memcmp(a, mapped, sizeof(mapped)) == 0 ? 16 : 8);
		return true;
	}
	return false;
}

static void count(struct http_admit *a, uint64_t *field)
{
	selfmetrics_add(a->stats, field, 1);
}

/* Connections of key that are not closing; *ret_oldest: the oldest of them waiting for
 * headers, or NULL. Called with the lock held. */
static unsigned client_conns(struct http_admit *a, const struct http_client_key *key,
			     struct http_conn **ret_oldest)
{
	unsigned n = 0;

	*ret_oldest = NULL;
	for (struct http_conn *c = a->head; c; c = c->next) {
		if (c->doomed || !c->keyed || memcmp(&c->key, key, sizeof(*key)) != 0)
			continue;
		n++;
		if (!*ret_oldest && c->phase == PHASE_HEADERS)
			*ret_oldest = c;
	}
	return n;
}

/* Open connections not closing, and the oldest waiting for headers of the client holding
 * the most connections (among clients that have one waiting). Called with the lock held. */
static unsigned server_conns(struct http_admit *a, struct http_conn **ret_victim)
{
	unsigned n = 0, most = 0;

	*ret_victim = NULL;
	for (struct http_conn *c = a->head; c; c = c->next) {
		struct http_conn *oldest;
		unsigned k;

		if (c->doomed)
			continue;
		n++;
		if (c->phase != PHASE_HEADERS)
			continue;
		/* quadratic in the worst case, over at most a few hundred connections */
		k = c->keyed ? client_conns(a, &c->key, &oldest) : 1;
		if (k > most) {
			most = k;
			*ret_victim = c->keyed ? oldest : c;
		}
	}
	return n;
}

/* Shuts c down; libmicrohttpd then sees the socket end and closes it (and tells
 * http_admit_closed). The descriptor stays valid until then: the record exists. */
static void doom(struct http_admit *a, struct http_conn *c, enum sm_closed why)
{
	c->doomed = true;
	shutdown(c->fd, SHUT_RDWR);
	count(a, a->stats ? &a->stats->http_closed[why] : NULL);
}

bool http_admit_accept(struct http_admit *a, const struct sockaddr *addr, socklen_t len)
{
	struct http_client_key key;
	struct http_conn *victim = NULL;
	enum sm_refused why = SM_REFUSED_MAX;
	bool keyed = http_client_key(addr, len, &key);

	pthread_mutex_lock(&a->lock);
	if (keyed && client_conns(a, &key, &victim) >= HTTP_MAX_PER_CLIENT)
		why = SM_REFUSED_CLIENT_LIMIT;
	else if (server_conns(a, &victim) >= HTTP_MAX_CONNECTIONS)
		why = SM_REFUSED_SERVER_FULL;
	if (why != SM_REFUSED_MAX) {
		if (victim)
			doom(a, victim, SM_CLOSED_REPLACED);
		else
			count(a, a->stats ? &a->stats->http_refused[why] : NULL);
	}
	pthread_mutex_unlock(&a->lock);
	return why == SM_REFUSED_MAX || victim;
}

struct http_conn *http_admit_opened(struct http_admit *a, int fd, const struct sockaddr *addr,
				    socklen_t len)
{
	struct http_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->keyed = http_client_key(addr, len, &c->key);
	c->phase = PHASE_HEADERS;
	c->since = clock_mono();
	pthread_mutex_lock(&a->lock);
	c->prev = a->tail;
	if (a->tail) {
		a->tail->next = c;
	} else {
		a->head = c;
		pthread_cond_signal(&a->cond); /* the watchdog has deadlines to watch again */
	}
	a->tail = c;
	pthread_mutex_unlock(&a->lock);
	if (a->stats)
		selfmetrics_add(a->stats, &a->stats->http_open, 1);
	return c;
}

static void set_phase(struct http_admit *a, struct http_conn *c, enum conn_phase phase)
{
	pthread_mutex_lock(&a->lock);
	c->phase = phase;
	c->since = clock_mono();
	pthread_mutex_unlock(&a->lock);
}

void http_admit_request(struct http_admit *a, struct http_conn *c)
{
	if (c && c->phase != PHASE_REQUEST)
		set_phase(a, c, PHASE_REQUEST);
}

void http_admit_answered(struct http_admit *a, struct http_conn *c, bool timed_out)
{
	if (!c)
		return;
	if (timed_out)
		count(a, a->stats ? &a->stats->http_closed[SM_CLOSED_IDLE_TIMEOUT] : NULL);
	set_phase(a, c, PHASE_HEADERS);
}

void http_admit_closed(struct http_admit *a, struct http_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&a->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		a->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		a->tail = c->prev;
	pthread_mutex_unlock(&a->lock);
	if (a->stats)
		__atomic_sub_fetch(&a->stats->http_open, 1, __ATOMIC_RELAXED);
	free(c);
}

unsigned http_admit_expire(struct http_admit *a, double now)
{
	unsigned n = 0;

	pthread_mutex_lock(&a->lock);
	for (struct http_conn *c = a->head; c; c = c->next) {
		double limit = c->phase == PHASE_HEADERS ? HTTP_HEADER_SECONDS :
							   HTTP_REQUEST_SECONDS;

		if (c->doomed || now - c->since <= limit)
			continue;
		doom(a, c,
		     c->phase == PHASE_HEADERS ? SM_CLOSED_HEADER_TIMEOUT :
						 SM_CLOSED_REQUEST_TIMEOUT);
		n++;
	}
	pthread_mutex_unlock(&a->lock);
	return n;
}

static void *watchdog(void *arg)
{
	struct http_admit *a = arg;

	pthread_mutex_lock(&a->lock);
	while (!a->stopping) {
		struct timespec ts;
		double t = clock_mono() + HTTP_WATCHDOG_PERIOD;

		/* No connection, no deadline: asleep until the next one opens (it was four
		 * wake-ups a second for nothing between scrapes). */
		if (!a->head) {
			pthread_cond_wait(&a->cond, &a->lock);
			continue;
		}
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&a->cond, &a->lock, &ts);
		if (a->stopping)
			break;
		pthread_mutex_unlock(&a->lock);
		http_admit_expire(a, clock_mono());
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

struct http_admit *http_admit_new(struct selfmetrics *stats)
{
	struct http_admit *a = calloc(1, sizeof(*a));
	pthread_condattr_t ca;

	if (!a)
		return NULL;
	a->stats = stats;
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&a->watchdog, NULL, watchdog, a)) {
		pthread_cond_destroy(&a->cond);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return NULL;
	}
	return a;
}

struct http_admit *http_admit_free(struct http_admit *a)
{
	if (!a)
		return NULL;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->watchdog, NULL);
	while (a->head) /* none after libmicrohttpd stopped; tests may leave some */
		http_admit_closed(a, a->head);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return NULL;
}
