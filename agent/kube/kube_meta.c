// SPDX-License-Identifier: BSD-2-Clause
/* The metadata client's lifecycle (its two threads, kube_watch.c and kube_fetch.c) and the
 * readers: every lookup copies out of the store under the lock. */
#include "kube/kube_meta_priv.h"
#include "base/clock.h"
#include "model/snapshot.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_MAX (64u << 10)
#define TOKEN_RECHECK 60 /* seconds: read again even without a visible change */

bool kube_stopping(void *ctx)
{
	return __atomic_load_n(&((struct kube_meta *)ctx)->stop, __ATOMIC_ACQUIRE);
}

void kube_wait_until(struct kube_meta *km, double until)
{
	struct timespec ts;
	double whole;

	if (until > clock_mono() + 3600)
		until = clock_mono() + 3600;
	ts.tv_nsec = (long)((until - (whole = (double)(long)until)) * 1e9);
	ts.tv_sec = (time_t)whole;
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	pthread_cond_timedwait(&km->cond, &km->lock, &ts);
}

double kube_rand01(struct kube_meta *km)
{
	/* xorshift64*: jitter only, no secrecy needed */
	km->rng ^= km->rng >> 12;
	km->rng ^= km->rng << 25;
	km->rng ^= km->rng >> 27;
	return (double)((km->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---- lifecycle ---- */

int kube_meta__start(const struct kube_meta_opts *opts, struct kube_meta **ret, char *err,
		     size_t errlen)
{
	struct kube_store_opts so = { 0 };
	struct kube_client_opts co = { 0 };
	struct kube_meta *km;
	pthread_condattr_t ca;
	char esc[3 * KUBE_NAME_MAX + 1];
	int r;

	if (!opts->api_url || !opts->node_name || !*opts->node_name ||
	    strlen(opts->node_name) > KUBE_NAME_MAX ||
	    kube_query_escape(opts->node_name, esc, sizeof(esc))) {
		snprintf(err, errlen,
			 "the Kubernetes client needs an API URL and a node name "
			 "of at most 253 characters");
		return -EINVAL;
	}
	km = calloc(1, sizeof(*km));
	if (!km) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	km->o = *opts;
	if (km->o.stall_timeout <= 0)
		km->o.stall_timeout = 120;
	if (km->o.backoff_max <= 0)
		km->o.backoff_max = 30;
	if (km->o.cache_ttl <= 0)
		km->o.cache_ttl = 300;
	if (km->o.qps <= 0)
		km->o.qps = 5;
	km->url = strdup(opts->api_url);
	km->node = strdup(opts->node_name);
	km->token_file = opts->token_file && *opts->token_file ? strdup(opts->token_file) : NULL;
	km->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
	km->o.api_url = km->url;
	km->o.node_name = km->node;
	km->o.token_file = km->token_file;
	km->o.ca_file = km->ca_file;
	snprintf(km->selector, sizeof(km->selector), "fieldSelector=spec.nodeName%%3D%s", esc);
	km->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)km;
	if (!km->rng)
		km->rng = 1;
	so.ttl = km->o.cache_ttl;
	so.sandbox_grace = km->o.sandbox_grace;
	km->st = kube_store_new(&so);
	km->stream = kube_stream_new(KUBE_MAX_OBJECT);
	if (km->stream)
		kube_stream_set_line_max(km->stream, KUBE_MAX_EVENT_LINE);
	if (km->token_file) {
		struct tokenfile_opts to = { .path = km->token_file,
					     .max_bytes = TOKEN_MAX,
					     .recheck = TOKEN_RECHECK };

		if (tokenfile_new(&to, &km->token))
			km->token = NULL;
	}
	if (!km->url || !km->node || (opts->token_file && *opts->token_file && !km->token) ||
	    (opts->ca_file && !km->ca_file) || !km->st || !km->stream) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = pthread_mutex_init(&km->lock, NULL);
	km->lock_init = !r;
	if (!r && !(r = pthread_condattr_init(&ca))) {
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		r = pthread_cond_init(&km->cond, &ca);
		km->cond_init = !r;
		pthread_condattr_destroy(&ca);
	}
	if (r) {
		snprintf(err, errlen, "cannot create locks: %s", strerror(r));
		r = -r;
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		r = -EIO;
		goto fail;
	}
	km->curl_init = true;
	co.url = km->url;
	co.token = km->token;
	co.token_over_http = opts->token_over_http;
	co.ca_file = km->ca_file;
	co.stop = kube_stopping;
	co.stop_ctx = km;
	if ((r = kube_client_new(&co, &km->wc)) || (r = kube_client_new(&co, &km->gc))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	km->stats.enabled = true;
	km->in_outage = false;
	r = pthread_create(&km->watch_thr, NULL, kube_watch_main, km);
	km->watch_started = !r;
	if (!r) {
		r = pthread_create(&km->work_thr, NULL, kube_fetch_main, km);
		km->work_started = !r;
	}
	if (r) {
		snprintf(err, errlen, "cannot start the Kubernetes threads: %s", strerror(r));
		r = -r;
		goto fail;
	}
	*ret = km;
	return 0;
fail:
	kube_meta__stop(km);
	return r;
}

struct kube_meta *kube_meta__stop(struct kube_meta *km)
{
	if (!km)
		return NULL;
	__atomic_store_n(&km->stop, 1, __ATOMIC_RELEASE);
	if (km->lock_init && km->cond_init) {
		pthread_mutex_lock(&km->lock);
		pthread_cond_broadcast(&km->cond);
		pthread_mutex_unlock(&km->lock);
	}
	if (km->watch_started)
		pthread_join(km->watch_thr, NULL);
	if (km->work_started)
		pthread_join(km->work_thr, NULL);
	kube_client_free(km->wc);
	kube_client_free(km->gc);
	tokenfile_free(km->token);
	if (km->curl_init)
		curl_global_cleanup();
	kube_stream_free(km->stream);
	kube_store_free(km->st);
	if (km->cond_init)
		pthread_cond_destroy(&km->cond);
	if (km->lock_init)
		pthread_mutex_destroy(&km->lock);
	free(km->url);
	free(km->node);
	free(km->token_file);
	free(km->ca_file);
	free(km);
	return NULL;
}

/* ---- readers ---- */

bool kube_meta__synced(struct kube_meta *km)
{
	return __atomic_load_n(&km->synced, __ATOMIC_ACQUIRE);
}

uint64_t kube_meta__generation(struct kube_meta *km)
{
	uint64_t g;

	pthread_mutex_lock(&km->lock);
	g = kube_store_generation(km->st);
	pthread_mutex_unlock(&km->lock);
	return g;
}

int kube_meta__labels(struct kube_meta *km, const char *uid, const char *container_id,
		      double first_seen, struct kube_labels *ret)
{
	int r;

	pthread_mutex_lock(&km->lock);
	r = kube_store_labels(km->st, uid, container_id, first_seen, clock_mono(), ret);
	pthread_mutex_unlock(&km->lock);
	return r;
}

int kube_meta__container(struct kube_meta *km, const char *uid, const char *container_id,
			 double first_seen, struct kube_container_info *ret)
{
	int r;

	pthread_mutex_lock(&km->lock);
	r = kube_store_container(km->st, uid, container_id, first_seen, clock_mono(), ret);
	pthread_mutex_unlock(&km->lock);
	return r;
}

int kube_meta__pod(struct kube_meta *km, const char *uid, struct kube_pod_info **ret)
{
	int r;

	pthread_mutex_lock(&km->lock);
	r = kube_store_pod(km->st, uid, ret);
	pthread_mutex_unlock(&km->lock);
	return r;
}

struct uids_ctx {
	char **uids;
	size_t n;
};

static int add_uid(void *ctx, const struct kube_pod *p)
{
	struct uids_ctx *u = ctx;

	u->uids[u->n] = strdup(p->uid);
	if (!u->uids[u->n])
		return -ENOMEM;
	u->n++;
	return 0;
}

void kube_uids_free(char **uids, size_t n)
{
	for (size_t i = 0; uids && i < n; i++)
		free(uids[i]);
	free(uids);
}

int kube_meta__uids(struct kube_meta *km, char ***ret, size_t *ret_n)
{
	struct uids_ctx u = { 0 };
	int r;

	pthread_mutex_lock(&km->lock);
	u.uids = calloc(kube_store_n_pods(km->st) + 1, sizeof(*u.uids));
	r = u.uids ? kube_store_foreach_pod(km->st, add_uid, &u) : -ENOMEM;
	pthread_mutex_unlock(&km->lock);
	if (r) {
		kube_uids_free(u.uids, u.n);
		return r;
	}
	*ret = u.uids;
	*ret_n = u.n;
	return 0;
}

struct refs_ctx {
	struct kube_container_ref *refs;
	size_t n, cap;
};

static int add_refs(void *ctx, const struct kube_pod *p)
{
	struct refs_ctx *rc = ctx;
	size_t want = kube_pod_running_containers(p, NULL, 0);

	if (rc->n + want > rc->cap) {
		size_t cap = (rc->n + want) * 2;
		struct kube_container_ref *r = realloc(rc->refs, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		rc->refs = r;
		rc->cap = cap;
	}
	rc->n += kube_pod_running_containers(p, rc->refs + rc->n, want);
	return 0;
}

int kube_meta__containers(struct kube_meta *km, struct kube_container_ref **ret, size_t *ret_n)
{
	struct refs_ctx rc = { 0 };
	int r;

	pthread_mutex_lock(&km->lock);
	r = kube_store_foreach_pod(km->st, add_refs, &rc);
	pthread_mutex_unlock(&km->lock);
	if (r) {
		free(rc.refs);
		return r;
	}
	*ret = rc.refs;
	*ret_n = rc.n;
	return 0;
}

/* Stats with the derived fields filled in; lock held. */
static void stats_locked(struct kube_meta *km, struct kube_stats *ret)
{
	*ret = km->stats;
	ret->pods = kube_store_n_pods(km->st);
	kube_store_cache_sizes(km->st, ret->cache_entries);
	if (km->in_outage)
		ret->outage_seconds += clock_mono() - km->outage_start;
}

void kube_meta__stats(struct kube_meta *km, struct kube_stats *ret)
{
	pthread_mutex_lock(&km->lock);
	stats_locked(km, ret);
	pthread_mutex_unlock(&km->lock);
}

struct pods_ctx {
	const struct kube_store *st;
	struct snap_strings *strings;
	struct snap_pod *pods;
	size_t n;
};

static int add_snap_pod(void *ctx, const struct kube_pod *p)
{
	struct pods_ctx *pc = ctx;
	struct snap_pod *sp = &pc->pods[pc->n++];
	struct kube_workload_info wi;
	const char *v[PLBL_MAX];

	kube_store_workload(pc->st, p, &wi);
	v[PLBL_NAMESPACE] = p->ns;
	v[PLBL_POD] = p->name;
	v[PLBL_UID] = p->uid;
	v[PLBL_NODE] = p->node;
	v[PLBL_QOS_CLASS] = p->qos;
	v[PLBL_WORKLOAD_KIND] = wi.kind;
	v[PLBL_WORKLOAD] = wi.name;
	v[PLBL_HELM_RELEASE] = wi.helm.release;
	v[PLBL_HELM_CHART] = wi.helm.chart;
	for (int l = 0; l < PLBL_MAX; l++) {
		if (!(sp->labels[l] = snap_intern(pc->strings, v[l])))
			return -ENOMEM;
	}
	return 0;
}

static int cmp_pod(const void *a, const void *b)
{
	const struct snap_pod *x = a, *y = b;
	int r = strcmp(x->labels[PLBL_NAMESPACE], y->labels[PLBL_NAMESPACE]);

	return r ? r : strcmp(x->labels[PLBL_POD], y->labels[PLBL_POD]);
}

int kube_meta__fill_snapshot(struct kube_meta *km, struct snapshot *s)
{
	struct pods_ctx pc = { 0 };
	int r;

	pthread_mutex_lock(&km->lock);
	pc.st = km->st;
	pc.strings = &s->strings;
	pc.pods = calloc(kube_store_n_pods(km->st) + 1, sizeof(*pc.pods));
	r = pc.pods ? kube_store_foreach_pod(km->st, add_snap_pod, &pc) : -ENOMEM;
	stats_locked(km, &s->agent.kube);
	pthread_mutex_unlock(&km->lock);
	/* The snapshot owns what was built, even on failure: snapshot_unref frees it. */
	s->pods = pc.pods;
	s->n_pods = pc.n;
	if (r)
		return r;
	qsort(s->pods, s->n_pods, sizeof(*s->pods), cmp_pod);
	return 0;
}
