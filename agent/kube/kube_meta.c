#include "kube/kube_meta.h"
#include "base/clock.h"
#include "base/json.h"
#include "kube/kube_client.h"
#include "kube/kube_store.h"
#include "model/snapshot.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What a request was for: each source logs each cause once. */
enum source { SRC_PODS = 0, SRC_WORKLOAD, SRC_PVC, SRC_PDB, SRC_HPA, SRC_MAX };

static const char *const source_what[SRC_MAX] = {
	[SRC_PODS] = "list/watch pods",
	[SRC_WORKLOAD] = "get workloads",
	[SRC_PVC] = "get persistentvolumeclaims",
	[SRC_PDB] = "list poddisruptionbudgets",
	[SRC_HPA] = "list horizontalpodautoscalers",
};

/* Causes that end with the next successful request (and are logged again if they come back
 * after it). The others describe the data (malformed, invalid, too large, limits) and are
 * logged once per process. */
#define TRANSIENT_ERRS                                                              \
	((1u << KERR_UNREACHABLE) | (1u << KERR_TIMEOUT) | (1u << KERR_TLS) |       \
	 (1u << KERR_UNAUTHORIZED) | (1u << KERR_FORBIDDEN) | (1u << KERR_SERVER) | \
	 (1u << KERR_HTTP) | (1u << KERR_STALLED) | (1u << KERR_TRUNCATED) |        \
	 (1u << KERR_WATCH_ERROR) | (1u << KERR_TOKEN))

#define LIST_PAGE 500
#define LIST_TIMEOUT_MS 60000L
#define GET_TIMEOUT_MS 15000L
#define BACKOFF_BASE 0.2

struct kube_meta {
	struct kube_meta_opts o;
	char *url;
	char *token_file;
	char *ca_file;
	char *node;
	char selector[800]; /* fieldSelector=spec.nodeName%3D<node> */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* store changed, or stop */
	bool lock_init;
	bool cond_init;
	bool curl_init;
	int stop;
	int synced;
	pthread_t watch_thr;
	pthread_t work_thr;
	bool watch_started;
	bool work_started;

	/* under lock */
	struct kube_store *st;
	struct kube_stats stats;
	bool in_outage;
	double outage_start;
	uint32_t reported[SRC_MAX];

	/* watch thread only */
	struct kube_client *wc;
	struct kube_stream *stream;
	char rv[KUBE_RV_MAX + 1];
	uint64_t rng;

	/* enrichment thread only */
	struct kube_client *gc;
};

static bool stopping(void *ctx)
{
	return __atomic_load_n(&((struct kube_meta *)ctx)->stop, __ATOMIC_ACQUIRE);
}

/* Waits on the condition until the monotonic time `until` (lock held). */
static void wait_until(struct kube_meta *km, double until)
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

static double rand01(struct kube_meta *km)
{
	/* xorshift64*: jitter only, no secrecy needed */
	km->rng ^= km->rng >> 12;
	km->rng ^= km->rng << 25;
	km->rng ^= km->rng >> 27;
	return (double)((km->rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* ---- reporting: count everything, log each cause once ---- */

static void emit(struct kube_meta *km, enum kube_log_level level, const char *msg)
{
	if (km->o.log)
		km->o.log(km->o.log_ctx, level, msg);
}

/* Copies at most n printable bytes of s (an API server message) into buf. */
static void sanitize(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0;

	for (; s && *s && n && o + 1 < len; s++, n--)
		buf[o++] = *s >= 0x20 && *s < 0x7f ? *s : ' ';
	buf[o] = '\0';
}

static void failure(struct kube_meta *km, enum source src, enum kube_err reason, bool outage,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void failure(struct kube_meta *km, enum source src, enum kube_err reason, bool outage,
		    const char *fmt, ...)
{
	char detail[400], msg[640];
	bool log = false;
	va_list ap;

	if (reason < 0 || reason >= KERR_MAX)
		reason = KERR_LIMIT; /* a failure with no HTTP-level cause: out of memory */
	pthread_mutex_lock(&km->lock);
	km->stats.errors[reason]++;
	if (outage && src == SRC_PODS) {
		km->stats.up = false;
		if (!km->in_outage) {
			km->in_outage = true;
			km->outage_start = clock_mono();
			km->stats.outages++;
		}
	}
	if (!(km->reported[src] & (1u << reason))) {
		km->reported[src] |= 1u << reason;
		log = true;
	}
	pthread_mutex_unlock(&km->lock);
	if (!log)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg),
		 "%s: %s [reason %s; repeats are counted in "
		 "bpfdiag_agent_kube_api_errors_total, not logged]",
		 source_what[src], detail, kube_err_names[reason]);
	emit(km, reason == KERR_EXPIRED ? KUBE_LOG_INFO : KUBE_LOG_WARN, msg);
}

static void success(struct kube_meta *km, enum source src)
{
	bool recovered = false, had;
	double dur = 0;
	char msg[256];

	pthread_mutex_lock(&km->lock);
	if (src == SRC_PODS) {
		km->stats.up = true;
		if (km->in_outage) {
			km->in_outage = false;
			dur = clock_mono() - km->outage_start;
			km->stats.outage_seconds += dur;
			recovered = true;
		}
	}
	had = km->reported[src] & TRANSIENT_ERRS;
	km->reported[src] &= ~TRANSIENT_ERRS;
	pthread_mutex_unlock(&km->lock);
	if (recovered) {
		snprintf(msg, sizeof(msg), "API server answers again after %.1fs", dur);
		emit(km, KUBE_LOG_INFO, msg);
	} else if (had) {
		snprintf(msg, sizeof(msg), "%s: requests succeed again", source_what[src]);
		emit(km, KUBE_LOG_INFO, msg);
	}
}

static void count_request(struct kube_meta *km, enum source src, int r, const struct kube_http *h)
{
	enum kube_result res;

	if (r == -ECANCELED)
		return;
	if (h->status == 0)
		res = KUBE_RESULT_NETWORK_ERROR;
	else if (h->status >= 200 && h->status < 300)
		res = KUBE_RESULT_SUCCESS;
	else if (h->status >= 500)
		res = KUBE_RESULT_SERVER_ERROR;
	else
		res = KUBE_RESULT_CLIENT_ERROR;
	pthread_mutex_lock(&km->lock);
	km->stats.requests[res]++;
	pthread_mutex_unlock(&km->lock);
	if (h->token_err)
		failure(km, src, KERR_TOKEN, false, "cannot read the token file %s: %s",
			km->token_file, strerror(-h->token_err));
}

/* An HTTP answer other than the expected one: reason from the status, detail from the
 * Status body when there is one. */
static void http_failure(struct kube_meta *km, enum source src, const struct kube_http *h,
			 const char *what, bool outage)
{
	enum kube_err reason = h->status == 401 ? KERR_UNAUTHORIZED :
			       h->status == 403 ? KERR_FORBIDDEN :
			       h->status == 410 ? KERR_EXPIRED :
			       h->status >= 500 ? KERR_SERVER :
						  KERR_HTTP;
	const char *hint = h->status == 401 ? " (is the service-account token valid?)" :
			   h->status == 403 ? " (RBAC: see docs/KUBERNETES.md)" :
					      "";
	char text[200] = "";
	json_object *st = h->body ? json_tokener_parse(h->body) : NULL;

	if (st) {
		int code;
		const char *sreason, *smsg;

		kube_status_parse(st, &code, &sreason, &smsg);
		sanitize(text, sizeof(text), smsg, 180);
		json_object_put(st);
	}
	failure(km, src, reason, outage, "%s: HTTP %ld%s%s%s", what, h->status, text[0] ? ": " : "",
		text, hint);
}

/* ---- pods ---- */

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
		failure(km, SRC_PODS, KERR_INVALID, false, "pod skipped: %s", why);
		return 0;
	}
	if (strcmp(p->node, km->node) != 0) {
		/* Never attach cgroups of this node to a pod placed elsewhere. */
		failure(km, SRC_PODS, KERR_INVALID, false,
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
		failure(km, SRC_PODS, KERR_LIMIT, false, "pod table full: %s/%s not tracked", ns,
			name);
	return r == -ENOMEM ? r : 0;
}

static json_object *parse_body(const struct kube_http *h)
{
	json_tokener *tok;
	json_object *v;

	if (!h->body || h->len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return NULL;
	v = json_tokener_parse_ex(tok, h->body, (int)h->len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(v);
		v = NULL;
	}
	json_tokener_free(tok);
	return v;
}

/* One page of the pod list: applies its items, returns its continue token (or NULL) in
 * *ret_cont and, for the first page, its resourceVersion in rv. Returns 0 or a negative errno
 * after reporting why. */
static int list_page(struct kube_meta *km, const struct kube_http *h, bool first, char *rv,
		     size_t rvlen, char **ret_cont)
{
	json_object *list = parse_body(h), *items;
	const char *cont;
	int r = 0;

	*ret_cont = NULL;
	if (!list) {
		failure(km, SRC_PODS, KERR_MALFORMED, true, "the pod list is not valid JSON");
		return -EBADMSG;
	}
	items = json_get_arr(list, "items");
	if (!items || (first && !kube_resource_version(list))) {
		failure(km, SRC_PODS, KERR_INVALID, true,
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
			failure(km, SRC_PODS, KERR_INVALID, true,
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
		count_request(km, SRC_PODS, r, &h);
		if (r == -ECANCELED)
			goto out;
		if (r < 0) {
			failure(km, SRC_PODS, h.err, true, "GET %s: %s", path, h.msg);
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
			http_failure(km, SRC_PODS, &h, "list pods", true);
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
	success(km, SRC_PODS);
	if (!was_synced) {
		char msg[KUBE_NAME_MAX + 128];

		snprintf(msg, sizeof(msg), "pod list of node %s: %zu pods (resourceVersion %s)",
			 km->node, n_pods, rv);
		emit(km, KUBE_LOG_INFO, msg);
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
	unsigned events;
	bool gone;
	bool error_event;
	bool desync;
};

static int on_event(void *ctx, json_object *v, int err)
{
	struct watch_ctx *wc = ctx;
	struct kube_meta *km = wc->km;
	enum kube_event_type type;
	json_object *obj;
	const char *rv, *uid;
	int r, code;

	if (err == -E2BIG) {
		failure(km, SRC_PODS, KERR_TOO_LARGE, false,
			"a watch event over %u MiB was skipped (its pod stays unknown)",
			KUBE_MAX_OBJECT >> 20);
		return 0;
	}
	if (err) {
		failure(km, SRC_PODS, KERR_MALFORMED, false, "a watch event is not valid JSON");
		return 0;
	}
	if (kube_event_parse(v, &type, &obj)) {
		failure(km, SRC_PODS, KERR_INVALID, false,
			"a watch event has no known type/object");
		return 0;
	}
	wc->events++;
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
			failure(km, SRC_PODS, KERR_INVALID, false, "DELETED event without a uid");
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
			sanitize(text, sizeof(text), msg, 180);
			failure(km, SRC_PODS, KERR_WATCH_ERROR, false, "watch ERROR event: %d %s",
				code, text);
		}
		return 1;
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
	int r;

	if (!buf) { /* 200 headers: the watch is open */
		success(wc->km, SRC_PODS);
		return 0;
	}
	r = kube_stream_feed(wc->km->stream, buf, len, on_event, wc);
	if (r == -EBADMSG) {
		wc->desync = true;
		return 1;
	}
	return r;
}

static enum watch_end do_watch(struct kube_meta *km, unsigned *ret_events)
{
	struct watch_ctx wc = { .km = km };
	struct kube_http h = { .err = KERR_MAX };
	enum watch_end end = W_FAILED;
	char rv[3 * KUBE_RV_MAX + 1], *path = NULL;
	unsigned timeout = 300 + (unsigned)(rand01(km) * 300); /* spread reconnects */
	long stall_ms = (long)(km->o.stall_timeout * 1000);
	int r;

	*ret_events = 0;
	if (kube_query_escape(km->rv, rv, sizeof(rv)) ||
	    asprintf(&path,
		     "/api/v1/pods?%s&watch=1&allowWatchBookmarks=true&resourceVersion=%s"
		     "&timeoutSeconds=%u",
		     km->selector, rv, timeout) < 0)
		return W_FAILED;
	kube_stream_reset(km->stream);
	r = kube_client_stream(km->wc, path, stall_ms, on_watch_data, &wc, &h);
	*ret_events = wc.events;
	count_request(km, SRC_PODS, r, &h);
	if (r == -ECANCELED || stopping(km)) {
		end = W_STOP;
	} else if (wc.gone) {
		failure(km, SRC_PODS, KERR_EXPIRED, false,
			"watch resourceVersion expired (410 Gone): relisting");
		end = W_GONE;
	} else if (wc.error_event) {
		end = W_FAILED;
	} else if (wc.desync) {
		failure(km, SRC_PODS, KERR_MALFORMED, false,
			"the watch stream is not a sequence of JSON objects: reconnecting");
	} else if (r == -ENOMEM) {
		failure(km, SRC_PODS, KERR_LIMIT, false, "out of memory applying a watch event");
	} else if (r < 0) {
		/* A silent stream is restarted; only failing to reconnect makes an outage. */
		failure(km, SRC_PODS, h.err, h.err != KERR_STALLED, "watch: %s", h.msg);
	} else if (h.status == 410) {
		failure(km, SRC_PODS, KERR_EXPIRED, false,
			"watch resourceVersion expired (410 Gone): relisting");
		end = W_GONE;
	} else if (h.status != 200) {
		http_failure(km, SRC_PODS, &h, "watch pods", true);
	} else if (kube_stream_partial(km->stream)) {
		failure(km, SRC_PODS, KERR_TRUNCATED, true,
			"the watch stream ended inside an event: reconnecting");
	} else {
		end = W_ENDED;
	}
	kube_http_clear(&h);
	free(path);
	return end;
}

static void backoff(struct kube_meta *km, unsigned fails)
{
	double d = BACKOFF_BASE;

	for (unsigned i = 1; i < fails && d < km->o.backoff_max; i++)
		d *= 2;
	if (d > km->o.backoff_max)
		d = km->o.backoff_max;
	d *= 0.5 + 0.5 * rand01(km); /* jitter: nodes do not reconnect in lockstep */
	pthread_mutex_lock(&km->lock);
	if (!stopping(km))
		wait_until(km, clock_mono() + d);
	pthread_mutex_unlock(&km->lock);
}

static void *watch_main(void *arg)
{
	struct kube_meta *km = arg;
	bool need_list = true;
	unsigned fails = 0;

	while (!stopping(km)) {
		enum watch_end end;
		unsigned events;
		double t0;

		if (need_list) {
			int r = do_list(km);

			if (r == -ECANCELED)
				break;
			if (r) {
				backoff(km, ++fails);
				continue;
			}
			need_list = false;
		}
		t0 = clock_mono();
		end = do_watch(km, &events);
		if (end == W_STOP)
			break;
		pthread_mutex_lock(&km->lock);
		km->stats.watch_restarts++;
		pthread_mutex_unlock(&km->lock);
		if (events > 0)
			fails = 0;
		if (end == W_GONE) {
			need_list = true;
			if (events == 0 && ++fails > 1)
				backoff(km, fails);
			continue;
		}
		/* A watch that the server ends normally is renewed at once, unless it ended so
		 * soon without news that renewing at once would spin. */
		if (end == W_ENDED && (events > 0 || clock_mono() - t0 >= 5)) {
			fails = 0;
			continue;
		}
		backoff(km, ++fails);
	}
	return NULL;
}

/* ---- enrichment ---- */

static void fetch(struct kube_meta *km, const struct kube_fetch *f)
{
	enum source src = (enum source)(SRC_WORKLOAD + f->cache);
	struct kube_http h = { .err = KERR_MAX };
	struct kube_workload wl = { 0 };
	struct kube_pvc pvc = { 0 };
	struct kube_pdb *pdbs = NULL;
	struct kube_hpa *hpas = NULL;
	unsigned n = 0;
	bool truncated = false;
	json_object *obj = NULL;
	const char *why = NULL;
	char path[KUBE_NS_MAX + KUBE_NAME_MAX + 128];
	int r, result = -EIO;

	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		r = kube_object_path(f->kind, f->ns, f->name, path, sizeof(path));
		break;
	case KUBE_CACHE_PVC:
		r = snprintf(path, sizeof(path), "/api/v1/namespaces/%s/persistentvolumeclaims/%s",
			     f->ns, f->name) >= (int)sizeof(path);
		break;
	case KUBE_CACHE_PDB:
		r = snprintf(path, sizeof(path),
			     "/apis/policy/v1/namespaces/%s/poddisruptionbudgets",
			     f->ns) >= (int)sizeof(path);
		break;
	default:
		r = snprintf(path, sizeof(path),
			     "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers",
			     f->ns) >= (int)sizeof(path);
		break;
	}
	if (r) {
		result = -EINVAL;
		goto store;
	}
	r = kube_client_get(km->gc, path, KUBE_MAX_OBJECT, GET_TIMEOUT_MS, &h);
	count_request(km, src, r, &h);
	if (r == -ECANCELED)
		goto out;
	if (r < 0) {
		failure(km, src, h.err, false, "GET %s: %s", path, h.msg);
		goto store;
	}
	if (h.status == 404) {
		success(km, src);
		result = -ENOENT;
		goto store;
	}
	if (h.status != 200) {
		char what[sizeof(path) + 8];

		snprintf(what, sizeof(what), "GET %s", path);
		http_failure(km, src, &h, what, false);
		goto store;
	}
	obj = parse_body(&h);
	if (!obj) {
		failure(km, src, KERR_MALFORMED, false, "GET %s: the body is not valid JSON", path);
		goto store;
	}
	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		r = kube_workload_parse(obj, f->kind, &wl, &why);
		if (!r && (strcmp(wl.name, f->name) || strcmp(wl.ns, f->ns))) {
			r = -EINVAL;
			why = "the object's name or namespace is not the one asked for";
		}
		break;
	case KUBE_CACHE_PVC:
		r = kube_pvc_parse(obj, &pvc, &why);
		if (!r && (strcmp(pvc.name, f->name) || strcmp(pvc.ns, f->ns))) {
			r = -EINVAL;
			why = "the object's name or namespace is not the one asked for";
		}
		break;
	case KUBE_CACHE_PDB:
		r = kube_pdb_list_parse(obj, &pdbs, &n, &truncated);
		why = "not a list";
		break;
	default:
		r = kube_hpa_list_parse(obj, &hpas, &n, &truncated);
		why = "not a list";
		break;
	}
	if (r == -ENOMEM) {
		failure(km, src, KERR_LIMIT, false, "out of memory");
		goto store;
	}
	if (r) {
		failure(km, src, KERR_INVALID, false, "GET %s: %s", path, why ? why : "invalid");
		goto store;
	}
	if (truncated)
		failure(km, src, KERR_LIMIT, false, "GET %s: more than %d items; the rest ignored",
			path, KUBE_MAX_NS_ITEMS);
	success(km, src);
	result = 0;
store:
	pthread_mutex_lock(&km->lock);
	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		kube_store_put_workload(km->st, f, result, &wl, clock_mono());
		break;
	case KUBE_CACHE_PVC:
		kube_store_put_pvc(km->st, f, result, &pvc, clock_mono());
		break;
	case KUBE_CACHE_PDB:
		kube_store_put_pdbs(km->st, f, result, pdbs, n, clock_mono());
		pdbs = NULL;
		break;
	default:
		kube_store_put_hpas(km->st, f, result, hpas, n, clock_mono());
		hpas = NULL;
		break;
	}
	pthread_mutex_unlock(&km->lock);
out:
	kube_pdbs_free(pdbs, n);
	free(hpas);
	json_object_put(obj);
	kube_http_clear(&h);
}

static void *work_main(void *arg)
{
	struct kube_meta *km = arg;
	double burst = km->o.qps * 2 < 1 ? 1 : km->o.qps * 2, tokens = burst, last = clock_mono();

	pthread_mutex_lock(&km->lock);
	while (!stopping(km)) {
		struct kube_fetch f;
		double next = 0, now = clock_mono();
		int r = kube_store_next_fetch(km->st, now, &f, &next);

		if (r == -ENOSPC) {
			pthread_mutex_unlock(&km->lock);
			failure(km, SRC_WORKLOAD, KERR_LIMIT, false,
				"a metadata cache is full of entries in use; some are not fetched");
			pthread_mutex_lock(&km->lock);
		}
		if (r != 1) {
			wait_until(km, next > 0 ? next : now + 60);
			continue;
		}
		tokens += (now - last) * km->o.qps;
		if (tokens > burst)
			tokens = burst;
		last = now;
		if (tokens < 1) {
			wait_until(km, now + (1 - tokens) / km->o.qps);
			continue;
		}
		tokens -= 1;
		pthread_mutex_unlock(&km->lock);
		fetch(km, &f);
		pthread_mutex_lock(&km->lock);
	}
	pthread_mutex_unlock(&km->lock);
	return NULL;
}

/* ---- configuration ---- */

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

int kube_config_resolve(const char *api, const char *token_file, const char *ca_file,
			const char *env_host, const char *env_port, struct kube_config *ret,
			char *err, size_t errlen)
{
	const char *host;

	memset(ret, 0, sizeof(*ret));
	if (!api || strcmp(api, "auto") == 0) {
		if (!env_host || !*env_host)
			return 0; /* not in a cluster: local mode */
		for (const char *p = env_host; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':')) {
				snprintf(err, errlen, "KUBERNETES_SERVICE_HOST '%s' is not a host",
					 env_host);
				return -EINVAL;
			}
		}
		if (env_port && *env_port && strspn(env_port, "0123456789") != strlen(env_port)) {
			snprintf(err, errlen, "KUBERNETES_SERVICE_PORT '%s' is not a port",
				 env_port);
			return -EINVAL;
		}
		snprintf(ret->url, sizeof(ret->url),
			 strchr(env_host, ':') ? "https://[%s]:%s" : "https://%s:%s", env_host,
			 env_port && *env_port ? env_port : "443");
		ret->in_cluster = true;
	} else if (strcmp(api, "none") == 0) {
		return 0;
	} else {
		size_t n = strlen(api);

		host = strncmp(api, "https://", 8) == 0 ? api + 8 :
		       strncmp(api, "http://", 7) == 0	? api + 7 :
							  NULL;
		if (!host || !*host || *host == '/' || n >= sizeof(ret->url) ||
		    strcspn(api, " \t\r\n\"'<>\\^`{|}?#") != n) {
			snprintf(
				err, errlen,
				"bad --kube-api '%s': want auto, none or an http(s)://HOST[:PORT] URL",
				api);
			return -EINVAL;
		}
		memcpy(ret->url, api, n + 1);
		while (n > 0 && ret->url[n - 1] == '/')
			ret->url[--n] = '\0';
	}
	if (token_file) {
		if (!readable(token_file)) {
			snprintf(err, errlen, "--kube-token-file '%s': %s", token_file,
				 strerror(errno));
			return -EINVAL;
		}
		snprintf(ret->token_file, sizeof(ret->token_file), "%s", token_file);
		ret->token_explicit = true;
	} else if (readable(KUBE_SA_DIR "/token")) {
		snprintf(ret->token_file, sizeof(ret->token_file), "%s", KUBE_SA_DIR "/token");
	}
	if (ca_file) {
		if (!readable(ca_file)) {
			snprintf(err, errlen, "--kube-ca-file '%s': %s", ca_file, strerror(errno));
			return -EINVAL;
		}
		snprintf(ret->ca_file, sizeof(ret->ca_file), "%s", ca_file);
	} else if (strncmp(ret->url, "https://", 8) == 0 && readable(KUBE_SA_DIR "/ca.crt")) {
		snprintf(ret->ca_file, sizeof(ret->ca_file), "%s", KUBE_SA_DIR "/ca.crt");
	}
	ret->enabled = true;
	return 0;
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
	km->token_file = opts->token_file ? strdup(opts->token_file) : NULL;
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
	if (!km->url || !km->node || (opts->token_file && !km->token_file) ||
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
	co.token_file = km->token_file;
	co.token_over_http = opts->token_over_http;
	co.ca_file = km->ca_file;
	co.stop = stopping;
	co.stop_ctx = km;
	if ((r = kube_client_new(&co, &km->wc)) || (r = kube_client_new(&co, &km->gc))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	km->stats.enabled = true;
	km->in_outage = false;
	r = pthread_create(&km->watch_thr, NULL, watch_main, km);
	km->watch_started = !r;
	if (!r) {
		r = pthread_create(&km->work_thr, NULL, work_main, km);
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
		if (!(sp->labels[l] = strdup(v[l])))
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
