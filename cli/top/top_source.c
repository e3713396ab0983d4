// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_source.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/json.h"
#include "cli.h"
#include "cluster.h"
#include "codec/api_json.h"
#include "local.h"
#include "top/top_health.h"
#include "top/top_json.h"
#include "top/top_merge.h"
#include "top/top_snap.h"

#define TOP_HTTP_TIMEOUT_MS 2000
#define TOP_FRESH_WAIT 2.0 /* seconds a fetch waits for the in-process pipeline's next snapshot */

struct top_source {
	char *url;
	char name[1200];
	double last_fetch; /* monotonic seconds */
	/* In-process: the pipeline collecting on a thread of its own until stop[1] is written. */
	struct pipeline *pl; /* NULL: reading the agent */
	double cadence; /* seconds between collections */
	pthread_t thread;
	bool running;
	int stop[2];
	struct snapshot *first; /* the open's collection: no rates yet */
	struct cluster *cl; /* --cluster: every agent through the API server */
	/* --cluster in the background (a thread polling the agents every interval, on the
	 * stop pipe; fetches take its latest model): */
	bool bg;
	double bg_interval;
	pthread_mutex_t mu;
	struct top_snapshot *latest; /* not handed out yet; NULL: nothing new */
	int latest_r; /* the last round's error, not handed out yet; 0: none */
	char latest_err[512];
};

/* GETs url + path: 0 with *ret_body on HTTP 200, else a negative errno with the reason. */
static int get(const char *base, const char *path, char **ret_body, char *err, size_t errlen)
{
	char url[1100], *body = NULL;
	long status = 0;
	int r;

	snprintf(url, sizeof(url), "%s%s", base, path);
	r = cli_http_get(url, TOP_HTTP_TIMEOUT_MS, &body, &status, err, errlen);
	if (r)
		return r;
	if (status != 200) {
		snprintf(err, errlen, "HTTP %ld from %s", status, path);
		free(body);
		return -EPROTO;
	}
	*ret_body = body;
	return 0;
}

struct top_source *top_source__close(struct top_source *src)
{
	if (!src)
		return NULL;
	if (src->running) {
		(void)!write(src->stop[1], "", 1);
		pthread_join(src->thread, NULL);
	}
	for (int i = 0; i < 2; i++) {
		if (src->stop[i] >= 0)
			close(src->stop[i]);
	}
	snapshot_unref(src->first);
	pipeline__free(src->pl);
	cluster_close(src->cl);
	top_snapshot_free(src->latest);
	if (src->bg)
		pthread_mutex_destroy(&src->mu);
	free(src->url);
	free(src);
	return NULL;
}

/* The pipeline's thread: the second collection after at most a second (a view's first rates),
 * then one every cadence, until stopped. */
static void *collect_thread(void *arg)
{
	struct top_source *src = arg;
	struct pollfd pfd = { .fd = src->stop[0], .events = POLLIN };

	if (poll(&pfd, 1, (int)ceil(fmin(1, src->cadence) * 1000)) == 0)
		pipeline__run(src->pl, src->cadence, src->stop[0], 0);
	return NULL;
}

/* Runs fn on a thread of its own, stopped through the stop pipe. Returns 0, or a negative
 * errno with the reason in err. */
static int start_thread(struct top_source *src, void *(*fn)(void *), const char *what, char *err,
			size_t errlen)
{
	sigset_t all, old;
	int r;

	if (pipe2(src->stop, O_CLOEXEC)) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		return r;
	}
	/* Signals (SIGINT, SIGTERM, SIGWINCH) are for the view's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&src->thread, NULL, fn, src);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "cannot start the %s thread: %s", what, strerror(-r));
		return r;
	}
	src->running = true;
	return 0;
}

static int start_local(struct top_source *src, const struct top_source_opts *o, const char *why,
		       char *err, size_t errlen)
{
	struct rules_config rcfg;
	int r;

	rules_config_default(&rcfg, o->window, o->warmup);
	r = cli_local_pipeline(&rcfg, o->url, why, &src->pl, err, errlen);
	if (r)
		return r;
	src->first = pipeline__snapshot(src->pl);
	src->cadence = fmin(o->interval, fmax(0.1, o->window / 30));
	r = start_thread(src, collect_thread, "collection", err, errlen);
	if (r)
		return r;
	snprintf(src->name, sizeof(src->name), "in-process collector (no agent at %s)", o->url);
	return 0;
}

int top_source__open(const struct top_source_opts *o, struct top_source **ret, char *err,
		     size_t errlen)
{
	struct top_source *src = calloc(1, sizeof(*src));
	char why[512] = "", *doc = NULL;
	int r;

	if (!src || !(src->url = strdup(o->url))) {
		snprintf(err, errlen, "out of memory");
		free(src);
		return -ENOMEM;
	}
	src->stop[0] = src->stop[1] = -1;
	/* An agent counts when it answers a pods document, not just any HTTP. */
	r = get(o->url, "/api/v1/pods", &doc, why, sizeof(why));
	if (!r) {
		struct top_snapshot *probe = NULL;

		r = top_snapshot_parse(doc, &probe);
		top_snapshot_free(probe);
		free(doc);
		if (r)
			snprintf(why, sizeof(why), "its /api/v1/pods is not a pods document");
	}
	if (!r)
		snprintf(src->name, sizeof(src->name), "agent %s", o->url);
	else
		r = start_local(src, o, why, err, errlen);
	if (r) {
		top_source__close(src);
		return r;
	}
	src->last_fetch = clock_mono();
	*ret = src;
	return 0;
}

/* The pods document with "source" and "findings" (the findings array, when known) added. */
static int combine_json(const char *pods, const char *findings, const char *source, char **ret)
{
	json_object *root = json_tokener_parse(pods), *fr = NULL, *arr;
	const char *text;
	int r = -ENOMEM;

	if (!root)
		return -EINVAL;
	if (json_object_object_add(root, "source", json_object_new_string(source)))
		goto out;
	fr = findings ? json_tokener_parse(findings) : NULL;
	if (fr && json_object_object_get_ex(fr, "findings", &arr)) {
		if (json_object_object_add(root, "findings", json_object_get(arr)))
			goto out;
	}
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (text && (*ret = strdup(text)))
		r = 0;
out:
	json_object_put(fr);
	json_object_put(root);
	return r;
}

/* The in-process pipeline's latest snapshot; rates need one after the open's. */
static struct snapshot *latest(struct top_source *src)
{
	struct snapshot *s = pipeline__snapshot(src->pl);
	double deadline = clock_mono() + src->cadence + TOP_FRESH_WAIT;

	while (s == src->first && clock_mono() < deadline) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		snapshot_unref(s);
		nanosleep(&ts, NULL);
		s = pipeline__snapshot(src->pl);
	}
	return s;
}

/* In-process: the model straight from the pipeline's snapshot; the documents only for --json. */
static int fetch_local(struct top_source *src, struct top_snapshot **ret, char **ret_json,
		       char *err, size_t errlen)
{
	struct snapshot *s = latest(src);
	struct strbuf pods = STRBUF_INIT, findings = STRBUF_INIT;
	int r = top_snapshot_from(s, ret);

	if (!r && ret_json) {
		r = api_pods_json(s, &pods);
		if (!r)
			r = api_findings_json(s, &findings);
		if (!r)
			r = combine_json(pods.data, findings.data, src->name, ret_json);
		if (r)
			*ret = top_snapshot_free(*ret);
	}
	if (r)
		snprintf(err, errlen, "the in-process snapshot: %s", strerror(-r));
	strbuf_reset(&pods);
	strbuf_reset(&findings);
	snapshot_unref(s);
	return r;
}

/* The agent's findings and health into s, best effort: findings (NULL: not read, why in
 * fnote) and metrics (NULL: not read, why in mnote). */
static void add_findings_health(struct top_snapshot *s, const char *findings, const char *fnote,
				const char *metrics, const char *mnote)
{
	const char *why = fnote;

	if (findings && top_snapshot_set_findings(s, findings) == -EINVAL)
		why = "/api/v1/findings is not a findings document";
	if (!s->findings_known)
		snprintf(s->findings_note, sizeof(s->findings_note), "unavailable: %s", why);
	if (metrics && top_health_parse_prom(&s->health, metrics) > 0)
		s->health_note[0] = '\0';
	else
		snprintf(s->health_note, sizeof(s->health_note), "%s",
			 mnote[0] && !metrics ? mnote : "no bpfdiag_agent_* metrics");
}

static int fetch_agent(struct top_source *src, struct top_snapshot **ret, char **ret_json,
		       char *err, size_t errlen)
{
	struct top_snapshot *s = NULL;
	char *pods = NULL, *findings = NULL, *metrics = NULL, note[128] = "", mnote[128] = "";
	int r = get(src->url, "/api/v1/pods", &pods, err, errlen);

	if (r)
		return r;
	r = top_snapshot_parse(pods, &s);
	if (r) {
		snprintf(err, errlen, "%s did not answer a pods document", src->name);
		goto out;
	}
	get(src->url, "/api/v1/findings", &findings, note, sizeof(note));
	get(src->url, "/metrics", &metrics, mnote, sizeof(mnote));
	add_findings_health(s, findings, note, metrics, mnote);
	if (ret_json) {
		r = combine_json(pods, s->findings_known ? findings : NULL, src->name, ret_json);
		if (r) {
			snprintf(err, errlen, "cannot render the snapshot as JSON: %s",
				 strerror(-r));
			goto out;
		}
	}
	*ret = s;
	s = NULL;
out:
	top_snapshot_free(s);
	free(pods);
	free(findings);
	free(metrics);
	return r;
}

int top_source__open_cluster(const struct cluster_opts *o, struct top_source **ret, char *err,
			     size_t errlen)
{
	struct top_source *src = calloc(1, sizeof(*src));
	int r;

	if (!src) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	src->stop[0] = src->stop[1] = -1;
	r = cluster_open(o, "top", &src->cl, err, errlen);
	if (r) {
		top_source__close(src);
		return r;
	}
	snprintf(src->name, sizeof(src->name), "cluster %s", cluster_source(src->cl));
	src->last_fetch = clock_mono();
	*ret = src;
	return 0;
}

/* Adds each element of doc's array `key`, with "node" set, to out. */
static void add_with_node(json_object *out, const char *doc, const char *key, const char *node)
{
	json_object *root = doc ? json_tokener_parse(doc) : NULL;
	json_object *arr = json_get_arr(root, key);

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_object))
			continue;
		json_object_object_add(e, "node", json_object_new_string(node));
		json_object_array_add(out, json_object_get(e));
	}
	json_object_put(root);
}

enum { CL_PODS, CL_FINDINGS, CL_METRICS, CL_PATHS };

/* A cluster's JSON document: its nodes, and every node's pods and findings with the node. */
static int cluster_json(const struct top_source *src, const struct cluster_agent *a,
			char (*agents)[512], size_t n, const struct cluster_reply *rep,
			const struct top_snapshot *m, char **ret)
{
	json_object *root = json_object_new_object(), *nodes = json_object_new_array();
	json_object *pods = json_object_new_array(), *findings = json_object_new_array();
	const char *text;
	int r = -ENOMEM;

	if (!root || !nodes || !pods || !findings) {
		json_object_put(nodes);
		json_object_put(pods);
		json_object_put(findings);
		goto out;
	}
	json_object_object_add(root, "source", json_object_new_string(src->name));
	json_object_object_add(root, "time", json_object_new_double(m->time));
	for (size_t i = 0; i < n; i++) {
		const struct cluster_reply *p = &rep[i * CL_PATHS];
		json_object *no = json_object_new_object();
		const struct top_node *nd = NULL;

		for (size_t k = 0; k < m->n_nodes && !nd; k++) {
			if (strcmp(m->nodes[k].agent, agents[i]) == 0)
				nd = &m->nodes[k];
		}
		json_object_object_add(no, "node", json_object_new_string(a[i].node));
		json_object_object_add(no, "namespace", json_object_new_string(a[i].ns));
		json_object_object_add(no, "pod", json_object_new_string(a[i].pod));
		json_object_object_add(no, "answered", json_object_new_boolean(nd && !nd->why[0]));
		if (nd && nd->why[0])
			json_object_object_add(no, "error", json_object_new_string(nd->why));
		json_object_object_add(no, "pods",
				       json_object_new_int64(nd ? (int64_t)nd->n_pods : 0));
		json_object_object_add(no, "findings",
				       json_object_new_int64(nd ? (int64_t)nd->n_findings : 0));
		json_object_array_add(nodes, no);
		if (!nd || nd->why[0])
			continue;
		add_with_node(pods, p[CL_PODS].body, "pods", a[i].node);
		if (!p[CL_FINDINGS].why[0])
			add_with_node(findings, p[CL_FINDINGS].body, "findings", a[i].node);
	}
	json_object_object_add(root, "nodes", nodes);
	json_object_object_add(root, "pods", pods);
	json_object_object_add(root, "findings", findings);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (text && (*ret = strdup(text)))
		r = 0;
out:
	json_object_put(root);
	return r;
}

/* One agent's part: its pods document with findings and health, or why it has none. */
static void cluster_part(const struct cluster_agent *a, const struct cluster_reply *p, char *agent,
			 size_t agent_len, struct top_part *part)
{
	snprintf(agent, agent_len, "%s/%s", a->ns, a->pod);
	*part = (struct top_part){ .node = a->node, .agent = agent, .why = p[CL_PODS].why };
	if (p[CL_PODS].why[0])
		return;
	if (top_snapshot_parse(p[CL_PODS].body, &part->s)) {
		part->why = "did not answer a pods document";
		return;
	}
	add_findings_health(part->s, p[CL_FINDINGS].why[0] ? NULL : p[CL_FINDINGS].body,
			    p[CL_FINDINGS].why, p[CL_METRICS].why[0] ? NULL : p[CL_METRICS].body,
			    p[CL_METRICS].why);
}

static int fetch_cluster(struct top_source *src, struct top_snapshot **ret, char **ret_json,
			 char *err, size_t errlen)
{
	static const char *const paths[CL_PATHS] = { "/api/v1/pods", "/api/v1/findings",
						     "/metrics" };
	struct cluster_reply *rep = NULL;
	struct top_part *parts = NULL;
	char(*agents)[512] = NULL;
	const struct cluster_agent *a;
	size_t n = 0;
	int r = cluster_list(src->cl, err, errlen);

	if (r)
		return r;
	a = cluster_agents(src->cl, &n);
	parts = calloc(n ? n : 1, sizeof(*parts));
	agents = calloc(n ? n : 1, sizeof(*agents));
	r = parts && agents ? cluster_get(src->cl, paths, CL_PATHS, &rep) : -ENOMEM;
	for (size_t i = 0; i < n && !r; i++)
		cluster_part(&a[i], &rep[i * CL_PATHS], agents[i], sizeof(agents[i]), &parts[i]);
	if (!r)
		r = top_snapshot_merge(parts, n, ret);
	if (!r && ret_json) {
		r = cluster_json(src, a, agents, n, rep, *ret, ret_json);
		if (r)
			*ret = top_snapshot_free(*ret);
	}
	if (r)
		snprintf(err, errlen, "out of memory");
	for (size_t i = 0; parts && i < n; i++)
		top_snapshot_free(parts[i].s);
	cluster_replies_free(rep, n * CL_PATHS);
	free(parts);
	free(agents);
	return r;
}

/* The poller: a round, its model (or error) left for the next fetch, then the interval's wait;
 * until stopped. A round in flight ends when stop[1] is written (cluster_cancel_fd). */
static void *cluster_thread(void *arg)
{
	struct top_source *src = arg;
	struct pollfd pfd = { .fd = src->stop[0], .events = POLLIN };

	cluster_cancel_fd(src->cl, src->stop[0]);
	do {
		struct top_snapshot *s = NULL;
		char err[512] = "";
		int r = fetch_cluster(src, &s, NULL, err, sizeof(err));

		pthread_mutex_lock(&src->mu);
		top_snapshot_free(src->latest);
		src->latest = s; /* NULL after an error */
		src->latest_r = r;
		snprintf(src->latest_err, sizeof(src->latest_err), "%s", err);
		pthread_mutex_unlock(&src->mu);
	} while (poll(&pfd, 1, (int)ceil(src->bg_interval * 1000)) == 0);
	return NULL;
}

int top_source__background(struct top_source *src, double interval, char *err, size_t errlen)
{
	if (!src->cl)
		return 0;
	pthread_mutex_init(&src->mu, NULL);
	src->bg = true;
	src->bg_interval = interval;
	return start_thread(src, cluster_thread, "polling", err, errlen);
}

/* In the background: the poller's latest model, or -EAGAIN when it has nothing new. */
static int fetch_latest(struct top_source *src, struct top_snapshot **ret, char *err, size_t errlen)
{
	int r = -EAGAIN;

	pthread_mutex_lock(&src->mu);
	if (src->latest_r) {
		r = src->latest_r;
		snprintf(err, errlen, "%s", src->latest_err);
		src->latest_r = 0;
	} else if (src->latest) {
		*ret = src->latest;
		src->latest = NULL;
		r = 0;
	}
	pthread_mutex_unlock(&src->mu);
	return r;
}

int top_source__fetch(struct top_source *src, struct top_snapshot **ret, char **ret_json, char *err,
		      size_t errlen)
{
	if (src->bg && !ret_json)
		return fetch_latest(src, ret, err, errlen);

	int r = src->cl ? fetch_cluster(src, ret, ret_json, err, errlen) :
		src->pl ? fetch_local(src, ret, ret_json, err, errlen) :
			  fetch_agent(src, ret, ret_json, err, errlen);

	src->last_fetch = clock_mono();
	return r;
}

const char *top_source__name(const struct top_source *src)
{
	return src->name;
}

bool top_source__in_process(const struct top_source *src)
{
	return src->pl != NULL;
}

double top_source__since_fetch(const struct top_source *src)
{
	return clock_mono() - src->last_fetch;
}
