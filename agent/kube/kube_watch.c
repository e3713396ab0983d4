// SPDX-License-Identifier: BSD-2-Clause
/* The pods of this node: a paged list, then a watch from its resourceVersion, on a thread of
 * its own; relists after 410 Gone at a bounded rate; reconnects with backoff after any failure,
 * in-band (an ERROR event, an event that never ends) or not. */
#include "kube/kube_meta_priv.h"
#include "base/clock.h"
#include "base/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 500
#define LIST_TIMEOUT_MS 60000L
#define BACKOFF_BASE 0.2
/* A watch that lasted this long was healthy, whatever ended it: failures count from zero again.
 * Events do not count: a server can send a BOOKMARK before every ERROR. */
#define WATCH_HEALTHY 5.0
/* Relists: the first of a row at once, then at most one per 1, 2, 4 … 30 s (jittered) whatever
 * the server says, until RELIST_QUIET passes without one; like client-go's reflector, whose
 * list/watch backoff goes from 0.8 to 30 s and resets after 2 min. */
#define RELIST_MIN 1.0
#define RELIST_MAX 30.0
#define RELIST_QUIET 120.0

/* Parses and stores one pod. Returns 0, or -ENOMEM. */
static int apply_pod(struct kube_meta *km, json_object *obj)
{
	struct kube_pod *p = NULL;
	const char *why;
	char ns[KUBE_NS_MAX + 1], name[KUBE_NAME_MAX + 1];
	int r = kube_pod_parse(obj, &p, &why);

	if (r == -ENOMEM)
		return r;
	if (r) {
		kube_fail(km, SRC_PODS, KERR_INVALID, false, "pod skipped: %s", why);
		return 0;
	}
	if (strcmp(p->node, km->node) != 0) {
		/* Never attach cgroups of this node to a pod placed elsewhere. */
		kube_fail(km, SRC_PODS, KERR_INVALID, false,
			  "pod %s/%s skipped: spec.nodeName is '%s', not '%s'", p->ns, p->name,
			  p->node, km->node);
		kube_pod_free(p);
		return 0;
	}
	memcpy(ns, p->ns, sizeof(ns));
	memcpy(name, p->name, sizeof(name));
	pthread_mutex_lock(&km->lock);
	r = kube_store_put_pod(km->st, p, clock_mono());
	if (r > 0)
		pthread_cond_broadcast(&km->cond);
	pthread_mutex_unlock(&km->lock);
	if (r == -ENOSPC)
		kube_fail(km, SRC_PODS, KERR_LIMIT, false, "pod table full: %s/%s not tracked", ns,
			  name);
	return r == -ENOMEM ? r : 0;
}

/* One page of the pod list: applies its items, returns its continue token (or NULL) in
 * *ret_cont and, for the first page, its resourceVersion in rv. Returns 0 or a negative errno
 * after reporting why. */
static int list_page(struct kube_meta *km, const struct kube_http *h, bool first, char *rv,
		     size_t rvlen, char **ret_cont)
{
	json_object *list = kube_http_json(h), *items;
	const char *cont;
	int r = 0;

	*ret_cont = NULL;
	if (!list) {
		kube_fail(km, SRC_PODS, KERR_MALFORMED, true, "the pod list is not valid JSON");
		return -EBADMSG;
	}
	items = json_get_arr(list, "items");
	if (!items || (first && !kube_resource_version(list))) {
		kube_fail(km, SRC_PODS, KERR_INVALID, true,
			  "the pod list has no items array or no metadata.resourceVersion");
		json_object_put(list);
		return -EBADMSG;
	}
	if (first)
		snprintf(rv, rvlen, "%s", kube_resource_version(list));
	for (size_t i = 0; !r && i < json_object_array_length(items); i++)
		r = apply_pod(km, json_object_array_get_idx(items, i));
	cont = json_get_str(json_get_obj(list, "metadata"), "continue");
	if (!r && cont && *cont && !(*ret_cont = strdup(cont)))
		r = -ENOMEM;
	json_object_put(list);
	return r;
}

/* Lists the pods of the node, page by page, and replaces the store's set with them. Returns 0,
 * -ECANCELED, or a negative errno after reporting why. */
static int do_list(struct kube_meta *km)
{
	struct kube_http h = { .err = KERR_MAX };
	char *cont = NULL, *path = NULL, rv[KUBE_RV_MAX + 1] = "", esc[2048];
	bool restarted = false, was_synced;
	size_t n_pods;
	int r;

	pthread_mutex_lock(&km->lock);
	kube_store_mark(km->st);
	pthread_mutex_unlock(&km->lock);
	for (;;) {
		char *next = NULL;

		if (cont && kube_query_escape(cont, esc, sizeof(esc))) {
			kube_fail(km, SRC_PODS, KERR_INVALID, true,
				  "the list continue token is too long");
			r = -EINVAL;
			goto out;
		}
		free(path);
		if (asprintf(&path, "/api/v1/pods?%s&limit=%d%s%s", km->selector, LIST_PAGE,
			     cont ? "&continue=" : "", cont ? esc : "") < 0) {
			path = NULL;
			r = -ENOMEM;
			goto out;
		}
		r = kube_client_get(km->wc, path, KUBE_MAX_LIST, LIST_TIMEOUT_MS, &h);
		kube_count(km, SRC_PODS, r, &h);
		if (r == -ECANCELED)
			goto out;
		if (r < 0) {
			kube_fail(km, SRC_PODS, h.err, true, "GET %s: %s", path, h.msg);
			goto out;
		}
		if (h.status == 410 && cont && !restarted) {
			/* The continue token expired: start over, once. */
			restarted = true;
			free(cont);
			cont = NULL;
			pthread_mutex_lock(&km->lock);
			kube_store_mark(km->st);
			pthread_mutex_unlock(&km->lock);
			continue;
		}
		if (h.status != 200) {
			kube_http_fail(km, SRC_PODS, &h, "list pods", true);
			r = -EIO;
			goto out;
		}
		r = list_page(km, &h, !cont, rv, sizeof(rv), &next);
		free(cont);
		cont = next;
		if (r)
			goto out;
		if (!cont)
			break;
	}
	pthread_mutex_lock(&km->lock);
	kube_store_sweep(km->st);
	n_pods = kube_store_n_pods(km->st);
	was_synced = km->stats.synced;
	if (was_synced)
		km->stats.relists++;
	km->stats.synced = true;
	pthread_cond_broadcast(&km->cond);
	pthread_mutex_unlock(&km->lock);
	__atomic_store_n(&km->synced, 1, __ATOMIC_RELEASE);
	memcpy(km->rv, rv, sizeof(km->rv));
	kube_ok(km, SRC_PODS);
	if (!was_synced) {
		char msg[KUBE_NAME_MAX + 128];

		snprintf(msg, sizeof(msg), "pod list of node %s: %zu pods (resourceVersion %s)",
			 km->node, n_pods, rv);
		kube_emit(km, KUBE_LOG_INFO, msg);
	}
	r = 0;
out:
	kube_http_clear(&h);
	free(cont);
	free(path);
	return r;
}

enum watch_end { W_STOP = 0, W_ENDED, W_GONE, W_FAILED };

struct watch_ctx {
	struct kube_meta *km;
	struct kube_http *h;
	unsigned values; /* JSON values that ended, events or not */
	bool gone;
	bool error_event;
	bool desync;
	bool endless; /* an event still going at KUBE_MAX_EVENT_LINE bytes */
};

static int on_event(void *ctx, json_object *v, int err)
{
	struct watch_ctx *wc = ctx;
	struct kube_meta *km = wc->km;
	enum kube_event_type type;
	json_object *obj;
	const char *rv, *uid;
	int r, code;

	wc->values++;
	if (err == -E2BIG) {
		kube_fail(km, SRC_PODS, KERR_TOO_LARGE, false,
			  "a watch event over %u MiB was skipped (its pod stays unknown)",
			  KUBE_MAX_OBJECT >> 20);
		return 0;
	}
	if (err) {
		kube_fail(km, SRC_PODS, KERR_MALFORMED, false, "a watch event is not valid JSON");
		return 0;
	}
	if (kube_event_parse(v, &type, &obj)) {
		kube_fail(km, SRC_PODS, KERR_INVALID, false,
			  "a watch event has no known type/object");
		return 0;
	}
	pthread_mutex_lock(&km->lock);
	km->stats.events[type]++;
	pthread_mutex_unlock(&km->lock);
	switch (type) {
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED:
		r = apply_pod(km, obj);
		if (r)
			return r;
		break;
	case KUBE_EV_DELETED:
		uid = kube_object_uid(obj);
		if (!uid) {
			kube_fail(km, SRC_PODS, KERR_INVALID, false, "DELETED event without a uid");
			break;
		}
		pthread_mutex_lock(&km->lock);
		kube_store_delete_pod(km->st, uid);
		pthread_mutex_unlock(&km->lock);
		break;
	case KUBE_EV_BOOKMARK:
		break;
	case KUBE_EV_ERROR: {
		const char *reason, *msg;
		char text[200];

		kube_status_parse(obj, &code, &reason, &msg);
		if (code == 410) {
			wc->gone = true;
		} else {
			wc->error_event = true;
			kube_sanitize(text, sizeof(text), msg, 180);
			kube_fail(km, SRC_PODS, KERR_WATCH_ERROR, false, "watch ERROR event: %d %s",
				  code, text);
		}
		return -ECONNABORTED; /* the watch ends here */
	}
	default:
		break;
	}
	rv = kube_resource_version(obj);
	if (rv)
		snprintf(km->rv, sizeof(km->rv), "%s", rv);
	return 0;
}

static int on_watch_data(void *ctx, const char *buf, size_t len)
{
	struct watch_ctx *wc = ctx;
	unsigned before = wc->values;
	int r;

	if (!buf) { /* 200 headers: the watch is open */
		kube_token_news(wc->km, SRC_PODS, wc->h);
		kube_ok(wc->km, SRC_PODS);
		return 0;
	}
	r = kube_stream_feed(wc->km->stream, buf, len, on_event, wc);
	wc->desync = r == -EBADMSG;
	wc->endless = r == -EMSGSIZE;
	if (r)
		return r;
	return (wc->values != before ? KUBE_DATA_EVENT : 0) |
	       (kube_stream_partial(wc->km->stream) ? KUBE_DATA_INSIDE : 0);
}

static enum watch_end do_watch(struct kube_meta *km)
{
	struct kube_http h = { .err = KERR_MAX };
	struct watch_ctx wc = { .km = km, .h = &h };
	enum watch_end end = W_FAILED;
	char rv[3 * KUBE_RV_MAX + 1], *path = NULL;
	unsigned timeout = 300 + (unsigned)(kube_rand01(km) * 300); /* spread reconnects */
	long stall_ms = (long)(km->o.stall_timeout * 1000);
	int r;

	if (kube_query_escape(km->rv, rv, sizeof(rv)) ||
	    asprintf(&path,
		     "/api/v1/pods?%s&watch=1&allowWatchBookmarks=true&resourceVersion=%s"
		     "&timeoutSeconds=%u",
		     km->selector, rv, timeout) < 0)
		return W_FAILED;
	kube_stream_reset(km->stream);
	r = kube_client_stream(km->wc, path, stall_ms, on_watch_data, &wc, &h);
	kube_count(km, SRC_PODS, r, &h);
	if (r == -ECANCELED || kube_stopping(km)) {
		end = W_STOP;
	} else if (wc.gone) {
		kube_fail(km, SRC_PODS, KERR_EXPIRED, false,
			  "watch resourceVersion expired (410 Gone): relisting");
		end = W_GONE;
	} else if (wc.error_event) {
		end = W_FAILED;
	} else if (wc.desync) {
		kube_fail(km, SRC_PODS, KERR_MALFORMED, false,
			  "the watch stream is not a sequence of JSON objects: reconnecting");
	} else if (wc.endless) {
		kube_fail(km, SRC_PODS, KERR_EVENT_LIMIT, false,
			  "a watch event was still going at %u MiB: reconnecting",
			  KUBE_MAX_EVENT_LINE >> 20);
	} else if (r == -ENOMEM) {
		kube_fail(km, SRC_PODS, KERR_LIMIT, false, "out of memory applying a watch event");
	} else if (r < 0) {
		/* A silent or slow stream is restarted; only failing to reconnect makes an outage. */
		kube_fail(km, SRC_PODS, h.err, h.err != KERR_STALLED && h.err != KERR_EVENT_LIMIT,
			  "watch: %s", h.msg);
	} else if (h.status == 410) {
		kube_fail(km, SRC_PODS, KERR_EXPIRED, false,
			  "watch resourceVersion expired (410 Gone): relisting");
		end = W_GONE;
	} else if (h.status != 200) {
		kube_http_fail(km, SRC_PODS, &h, "watch pods", true);
	} else if (kube_stream_partial(km->stream)) {
		kube_fail(km, SRC_PODS, KERR_TRUNCATED, true,
			  "the watch stream ended inside an event: reconnecting");
	} else {
		end = W_ENDED;
	}
	kube_http_clear(&h);
	free(path);
	return end;
}

/* Sleeps until the monotonic time until, or until kube_meta__stop. */
static void sleep_until(struct kube_meta *km, double until)
{
	pthread_mutex_lock(&km->lock);
	while (!kube_stopping(km) && clock_mono() < until)
		kube_wait_until(km, until);
	pthread_mutex_unlock(&km->lock);
}

static void backoff(struct kube_meta *km, unsigned fails)
{
	double d = BACKOFF_BASE;

	for (unsigned i = 1; i < fails && d < km->o.backoff_max; i++)
		d *= 2;
	if (d > km->o.backoff_max)
		d = km->o.backoff_max;
	d *= 0.5 + 0.5 * kube_rand01(km); /* jitter: nodes do not reconnect in lockstep */
	sleep_until(km, clock_mono() + d);
}

/* Waits until the next relist is allowed (RELIST_*). */
static void relist_gate(struct kube_meta *km)
{
	double d = 0;

	if (km->relist_at > 0 && clock_mono() - km->relist_at >= RELIST_QUIET)
		km->relists_in_row = 0;
	if (km->relists_in_row > 0) {
		d = RELIST_MIN;
		for (unsigned i = 1; i < km->relists_in_row && d < RELIST_MAX; i++)
			d *= 2;
		if (d > RELIST_MAX)
			d = RELIST_MAX;
		d *= 0.5 + 0.5 * kube_rand01(km);
	}
	km->relists_in_row++;
	sleep_until(km, km->relist_at + d);
	km->relist_at = clock_mono();
}

void *kube_watch_main(void *arg)
{
	struct kube_meta *km = arg;
	bool need_list = true;
	unsigned fails = 0;

	while (!kube_stopping(km)) {
		enum watch_end end;
		bool healthy;
		double t0;

		if (need_list) {
			int r;

			if (km->stats.synced) /* written by this thread only */
				relist_gate(km);
			r = do_list(km);
			if (r == -ECANCELED)
				break;
			if (r) {
				backoff(km, ++fails);
				continue;
			}
			need_list = false;
		}
		t0 = clock_mono();
		end = do_watch(km);
		if (end == W_STOP)
			break;
		pthread_mutex_lock(&km->lock);
		km->stats.watch_restarts++;
		pthread_mutex_unlock(&km->lock);
		healthy = clock_mono() - t0 >= WATCH_HEALTHY;
		if (healthy)
			fails = 0;
		if (end == W_GONE) {
			fails++;
			need_list = true; /* paced by relist_gate */
			continue;
		}
		/* A watch the server ended after a while is renewed at once; one that failed, or
		 * ended at once, after a backoff. */
		if (end == W_ENDED && healthy)
			continue;
		backoff(km, ++fails);
	}
	return NULL;
}
