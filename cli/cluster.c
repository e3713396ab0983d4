// SPDX-License-Identifier: BSD-2-Clause
#include "cluster.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/strbuf.h"
#include "cli.h"
#include "kubeconfig.h"
#include "top/top_json.h"

#define CLUSTER_BODY_MAX (32u << 20) /* a pod list or one agent's findings */
#define CLUSTER_PARALLEL 16L /* requests in flight at once */
#define CLUSTER_MAX_AGENTS 10000
#define COL_MAX 40 /* widest padded column; the message is last and not padded */

struct cluster {
	struct cluster_opts o;
	struct kube_target t;
	char ua[64];
	struct cluster_agent *a;
	size_t n;
	int cancel_fd; /* readable: end the requests in flight; -1: none */
};

/* A request in flight. */
struct pending {
	struct strbuf body;
	struct curl_slist *hdrs;
	CURL *curl;
	struct cluster_reply *reply;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct strbuf *sb = ud;
	size_t n = size * nmemb;

	if (sb->len + n > CLUSTER_BODY_MAX)
		return 0;
	strbuf_append(sb, ptr, n);
	return strbuf_failed(sb) ? 0 : n;
}

static void blob_opts(CURL *c, const struct kube_blob *b, CURLoption file_opt, CURLoption blob_opt)
{
	if (b->data) {
		struct curl_blob blob = { .data = b->data, .len = b->len, .flags = CURL_BLOB_COPY };

		curl_easy_setopt(c, blob_opt, &blob);
	} else if (b->file) {
		curl_easy_setopt(c, file_opt, b->file);
	}
}

/* A GET of path on the API server, set up but not performed. */
static CURL *request(const struct cluster *cl, const char *path, struct strbuf *body,
		     struct curl_slist **hdrs)
{
	const struct kube_target *t = &cl->t;
	long timeout_ms = (long)(cl->o.timeout * 1000);
	CURL *c = curl_easy_init();
	char *url = NULL;

	if (!c || asprintf(&url, "%s%s", t->server, path) < 0) {
		curl_easy_cleanup(c);
		return NULL;
	}
	*hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (t->token) {
		char *auth = NULL;

		if (asprintf(&auth, "Authorization: Bearer %s", t->token) >= 0) {
			*hdrs = curl_slist_append(*hdrs, auth);
			explicit_bzero(auth, strlen(auth));
			free(auth);
		}
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, cl->ua);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, t->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, t->insecure ? 0L : 2L);
	blob_opts(c, &t->ca, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB);
	blob_opts(c, &t->cert, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB);
	blob_opts(c, &t->key, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	return c;
}

/* The message of an API Status body, or "". */
static void status_message(const char *body, long status, char *buf, size_t len)
{
	json_object *root = body ? json_tokener_parse(body) : NULL;
	const char *msg = json_get_str(root, "message");

	snprintf(buf, len, "HTTP %ld%s%.200s", status, msg && *msg ? ": " : "", msg ? msg : "");
	json_object_put(root);
}

static void agents_free(struct cluster_agent *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].ns);
		free(a[i].pod);
		free(a[i].node);
	}
	free(a);
}

int cluster_open(const struct cluster_opts *o, const char *cmd, struct cluster **ret, char *err,
		 size_t errlen)
{
	struct cluster *c;
	int r;

	if (o->ns &&
	    (!*o->ns || strspn(o->ns, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(o->ns))) {
		snprintf(err, errlen, "bad --namespace '%s': want a namespace name", o->ns);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->o = *o;
	c->cancel_fd = -1;
	snprintf(c->ua, sizeof(c->ua), "bpfdiag-%s", cmd);
	r = kube_target_resolve(o->kubeconfig, o->context, &c->t, err, errlen);
	if (r) {
		/* The reason, as "--cluster: <why>". */
		char why[1024];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "--cluster: %s", why);
		cluster_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct cluster *cluster_close(struct cluster *c)
{
	if (!c)
		return NULL;
	agents_free(c->a, c->n);
	kube_target_clear(&c->t);
	free(c);
	return NULL;
}

void cluster_cancel_fd(struct cluster *c, int fd)
{
	c->cancel_fd = fd;
}

/* Runs m's transfers until they are done, or the cancel fd is readable. */
static void run(const struct cluster *cl, CURLM *m)
{
	struct curl_waitfd w = { .fd = cl->cancel_fd, .events = CURL_WAIT_POLLIN };
	int running = 0;

	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		w.revents = 0;
		if (running)
			curl_multi_poll(m, &w, cl->cancel_fd >= 0 ? 1 : 0, 1000, NULL);
	} while (running && !w.revents);
}

const struct cluster_agent *cluster_agents(const struct cluster *c, size_t *ret_n)
{
	*ret_n = c->n;
	return c->a;
}

const char *cluster_source(const struct cluster *c)
{
	return c->t.source ? c->t.source : c->t.server;
}

/* The port named "metrics" of the pod's containers (the chart's), else the first one; and
 * whether the agent serves https (--tls-cert in its arguments). Returns the port or 0. */
static int64_t agent_port(json_object *pod, bool *ret_https)
{
	json_object *cs = json_get_arr(json_get_obj(pod, "spec"), "containers");
	int64_t first = 0;

	*ret_https = false;
	for (size_t i = 0; cs && i < json_object_array_length(cs); i++) {
		json_object *c = json_object_array_get_idx(cs, i);
		json_object *ports = json_get_arr(c, "ports"), *args = json_get_arr(c, "args");
		int64_t port = 0;

		for (size_t a = 0; args && a < json_object_array_length(args); a++) {
			const char *s = json_str_of(json_object_array_get_idx(args, a));

			if (s && strncmp(s, "--tls-cert", 10) == 0)
				*ret_https = true;
		}
		for (size_t p = 0; ports && p < json_object_array_length(ports); p++) {
			json_object *po = json_object_array_get_idx(ports, p);
			const char *name = json_get_str(po, "name");

			if (!json_get_int(po, "containerPort", &port))
				continue;
			if (name && strcmp(name, "metrics") == 0)
				return port;
			if (!first)
				first = port;
		}
	}
	return first;
}

/* One agent from an item of the pod list. Returns 0 or -ENOMEM. */
static int agent_of(json_object *p, struct cluster_agent *a)
{
	json_object *meta = json_get_obj(p, "metadata");
	const char *phase = json_get_str_or_empty(json_get_obj(p, "status"), "phase");
	bool https;
	int64_t port = agent_port(p, &https);

	a->ns = strdup(json_get_str_or_empty(meta, "namespace"));
	a->pod = strdup(json_get_str_or_empty(meta, "name"));
	a->node = strdup(json_get_str_or_empty(json_get_obj(p, "spec"), "nodeName"));
	if (!a->ns || !a->pod || !a->node)
		return -ENOMEM;
	if (!a->node[0])
		snprintf(a->why, sizeof(a->why), "pod %s/%s is not scheduled", a->ns, a->pod);
	else if (strcmp(phase, "Running") != 0)
		snprintf(a->why, sizeof(a->why), "pod %s/%s is %s", a->ns, a->pod,
			 phase[0] ? phase : "in no phase");
	else if (port <= 0 || port > 65535)
		snprintf(a->why, sizeof(a->why), "pod %s/%s has no port", a->ns, a->pod);
	else
		snprintf(a->proxy, sizeof(a->proxy), "/api/v1/namespaces/%s/pods/%s%s:%lld/proxy",
			 a->ns, https ? "https:" : "", a->pod, (long long)port);
	return 0;
}

static bool cancelled(const struct cluster *cl)
{
	struct pollfd p = { .fd = cl->cancel_fd, .events = POLLIN };

	return cl->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

/* One transfer, as curl_easy_perform but ended by the cancel fd too. */
static CURLcode perform(const struct cluster *cl, CURL *c)
{
	CURLM *m = curl_multi_init();
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
	CURLMsg *msg;
	int left;

	if (!m)
		return CURLE_OUT_OF_MEMORY;
	curl_multi_add_handle(m, c);
	run(cl, m);
	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg == CURLMSG_DONE)
			rc = msg->data.result;
	}
	curl_multi_remove_handle(m, c);
	curl_multi_cleanup(m);
	return rc;
}

int cluster_list(struct cluster *cl, char *err, size_t errlen)
{
	const struct cluster_opts *o = &cl->o;
	const char *server = cl->t.server;
	struct strbuf body = STRBUF_INIT;
	struct curl_slist *hdrs = NULL;
	json_object *root = NULL, *items;
	struct cluster_agent *a = NULL;
	char path[1024], why[512], *sel;
	long status = 0;
	size_t n = 0;
	CURL *c;
	CURLcode rc;
	int r = -ENOMEM;

	sel = curl_easy_escape(NULL, o->selector, 0);
	if (!sel) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (o->ns)
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", o->ns,
			 sel);
	else
		snprintf(path, sizeof(path), "/api/v1/pods?labelSelector=%s", sel);
	curl_free(sel);
	c = request(cl, path, &body, &hdrs);
	if (!c) {
		curl_slist_free_all(hdrs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = perform(cl, c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	strbuf_puts(&body, "");
	r = -EPROTO;
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "--cluster: %s%s: %s", server, path, curl_easy_strerror(rc));
		r = -ECONNREFUSED;
	} else if (strbuf_failed(&body)) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
	} else if (status != 200) {
		status_message(body.data, status, why, sizeof(why));
		snprintf(err, errlen, "--cluster: listing the agent pods (%s%s): %s", server, path,
			 why);
	} else if (!(items = json_get_arr(root = json_tokener_parse(body.data), "items"))) {
		snprintf(err, errlen, "--cluster: %s%s did not answer a pod list", server, path);
	} else if ((n = json_object_array_length(items)) == 0) {
		snprintf(err, errlen, "--cluster: no agent pods (%s%s): is the chart installed%s?",
			 o->selector, o->ns ? " in that namespace" : "",
			 o->ns ? "" : " and may you list pods in all namespaces");
		r = -ENOENT;
	} else {
		if (n > CLUSTER_MAX_AGENTS)
			n = CLUSTER_MAX_AGENTS;
		a = calloc(n, sizeof(*a));
		r = a ? 0 : -ENOMEM;
		for (size_t i = 0; i < n && !r; i++)
			r = agent_of(json_object_array_get_idx(items, i), &a[i]);
		if (r) {
			snprintf(err, errlen, "out of memory");
			agents_free(a, n);
		} else {
			agents_free(cl->a, cl->n);
			cl->a = a;
			cl->n = n;
		}
	}
	json_object_put(root);
	strbuf_reset(&body);
	return r;
}

void cluster_replies_free(struct cluster_reply *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		free(r[i].body);
	free(r);
}

/* Starts the GET of path on agent a, or gives the reply its why. */
static void start(struct cluster *cl, CURLM *m, const struct cluster_agent *a, const char *path,
		  struct pending *p)
{
	char full[1024];

	p->body = (struct strbuf)STRBUF_INIT;
	if (!a->proxy[0]) {
		snprintf(p->reply->why, sizeof(p->reply->why), "%s", a->why);
		return;
	}
	snprintf(full, sizeof(full), "%s%s", a->proxy, path);
	p->curl = request(cl, full, &p->body, &p->hdrs);
	if (!p->curl) {
		snprintf(p->reply->why, sizeof(p->reply->why), "out of memory");
		return;
	}
	curl_easy_setopt(p->curl, CURLOPT_PRIVATE, p);
	curl_multi_add_handle(m, p->curl);
}

static void finish(struct pending *p, CURLcode result)
{
	struct cluster_reply *rep = p->reply;

	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &rep->status);
	strbuf_puts(&p->body, "");
	rep->body = strbuf_steal(&p->body, NULL);
	if (result != CURLE_OK)
		snprintf(rep->why, sizeof(rep->why), "%s", curl_easy_strerror(result));
	else if (!rep->body)
		snprintf(rep->why, sizeof(rep->why), "out of memory");
	else if (rep->status != 200)
		status_message(rep->body, rep->status, rep->why, sizeof(rep->why));
}

int cluster_get(struct cluster *cl, const char *const *paths, size_t n_paths,
		struct cluster_reply **ret)
{
	size_t n = cl->n * n_paths;
	struct cluster_reply *rep = calloc(n ? n : 1, sizeof(*rep));
	struct pending *p = calloc(n ? n : 1, sizeof(*p));
	CURLM *m = curl_multi_init();
	CURLMsg *msg;
	int left;

	if (!rep || !p || !m) {
		free(rep);
		free(p);
		if (m)
			curl_multi_cleanup(m);
		return -ENOMEM;
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, CLUSTER_PARALLEL);
	for (size_t i = 0; i < n; i++) {
		p[i].reply = &rep[i];
		start(cl, m, &cl->a[i / n_paths], paths[i % n_paths], &p[i]);
	}
	run(cl, m);
	while ((msg = curl_multi_info_read(m, &left))) {
		struct pending *pp = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&pp);
		finish(pp, msg->data.result);
	}
	for (size_t i = 0; i < n; i++) {
		if (!p[i].curl)
			continue;
		if (!rep[i].body && !rep[i].why[0])
			snprintf(rep[i].why, sizeof(rep[i].why), "%s",
				 cancelled(cl) ? "cancelled" : "no answer");
		curl_multi_remove_handle(m, p[i].curl);
		curl_easy_cleanup(p[i].curl);
		curl_slist_free_all(p[i].hdrs);
		strbuf_reset(&p[i].body);
	}
	curl_multi_cleanup(m);
	free(p);
	*ret = rep;
	return 0;
}

/* One agent and its findings, for check --cluster. */
struct agent {
	const char *ns, *pod, *node;
	char why[256]; /* why it did not answer; "" when it did */
	struct top_finding *fs;
	size_t n;
};

/* One row of the merged table. */
struct row {
	const struct agent *a;
	const struct top_finding *f; /* NULL: the agent did not answer */
};

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

static int row_cmp(const void *x, const void *y)
{
	const struct row *p = x, *q = y;
	int c = strcmp(p->a->node, q->a->node);

	if (c)
		return c;
	if (!p->f || !q->f)
		return (p->f != NULL) - (q->f != NULL); /* a node's no-answer first */
	if ((c = strcmp(p->f->ns, q->f->ns)) || (c = strcmp(p->f->workload, q->f->workload)))
		return c;
	return strcmp(p->f->rule, q->f->rule);
}

#define N_COLS 8

static void row_cells(const struct row *r, const char *cell[N_COLS])
{
	cell[0] = dash(r->a->node);
	if (!r->f) {
		cell[1] = cell[2] = cell[3] = cell[4] = cell[6] = "-";
		cell[5] = "NO-ANSWER";
		cell[7] = r->a->why;
		return;
	}
	cell[1] = dash(r->f->ns);
	cell[2] = dash(r->f->kind);
	cell[3] = dash(r->f->workload);
	cell[4] = dash(r->f->release);
	cell[5] = dash(r->f->rule);
	cell[6] = dash(r->f->suggested);
	cell[7] = dash(r->f->message);
}

static void print_table(struct row *rows, size_t n)
{
	static const char *const head[N_COLS] = { "NODE",    "NAMESPACE", "KIND",      "WORKLOAD",
						  "RELEASE", "RULE",	  "SUGGESTED", "MESSAGE" };
	int w[N_COLS];

	for (int c = 0; c < N_COLS; c++)
		w[c] = (int)strlen(head[c]);
	for (size_t i = 0; i < n; i++) {
		const char *cell[N_COLS];

		row_cells(&rows[i], cell);
		for (int c = 0; c < N_COLS - 1; c++) {
			int l = (int)strlen(cell[c]);

			if (l > w[c])
				w[c] = l > COL_MAX ? COL_MAX : l;
		}
	}
	for (int c = 0; c < N_COLS - 1; c++)
		printf("%-*s  ", w[c], head[c]);
	printf("%s\n", head[N_COLS - 1]);
	for (size_t i = 0; i < n; i++) {
		const char *cell[N_COLS];

		row_cells(&rows[i], cell);
		for (int c = 0; c < N_COLS - 1; c++)
			printf("%-*s  ", w[c], cell[c]);
		printf("%s\n", cell[N_COLS - 1]);
	}
}

static void print_json(const struct agent *a, size_t n)
{
	json_object *root = json_object_new_object(), *nodes = json_object_new_array();
	json_object *findings = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		json_object *no = json_object_new_object();

		json_object_object_add(no, "node", json_object_new_string(a[i].node));
		json_object_object_add(no, "namespace", json_object_new_string(a[i].ns));
		json_object_object_add(no, "pod", json_object_new_string(a[i].pod));
		json_object_object_add(no, "answered", json_object_new_boolean(!a[i].why[0]));
		if (a[i].why[0])
			json_object_object_add(no, "error", json_object_new_string(a[i].why));
		json_object_object_add(no, "findings", json_object_new_int64((int64_t)a[i].n));
		json_object_array_add(nodes, no);
		for (size_t k = 0; k < a[i].n; k++) {
			const struct top_finding *f = &a[i].fs[k];
			json_object *fo = json_object_new_object();

			json_object_object_add(fo, "node", json_object_new_string(a[i].node));
			json_object_object_add(fo, "namespace", json_object_new_string(f->ns));
			json_object_object_add(fo, "workload_kind",
					       json_object_new_string(f->kind));
			json_object_object_add(fo, "workload", json_object_new_string(f->workload));
			json_object_object_add(fo, "helm_release",
					       json_object_new_string(f->release));
			json_object_object_add(fo, "rule", json_object_new_string(f->rule));
			json_object_object_add(fo, "severity", json_object_new_string(f->severity));
			json_object_object_add(fo, "suggested_kind",
					       json_object_new_string(f->suggested));
			json_object_object_add(fo, "message", json_object_new_string(f->message));
			json_object_object_add(fo, "since", json_object_new_string(f->since));
			json_object_array_add(findings, fo);
		}
	}
	json_object_object_add(root, "nodes", nodes);
	json_object_object_add(root, "findings", findings);
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	json_object_put(root);
}

/* Every agent's findings: a[i] for agent i. Returns 0 or -ENOMEM. */
static int fetch_findings(struct cluster *cl, struct agent **ret, size_t *ret_n)
{
	static const char *const path[] = { "/api/v1/findings" };
	size_t n;
	const struct cluster_agent *ca = cluster_agents(cl, &n);
	struct cluster_reply *rep = NULL;
	struct agent *a = calloc(n ? n : 1, sizeof(*a));
	int r = a ? cluster_get(cl, path, 1, &rep) : -ENOMEM;

	for (size_t i = 0; i < n && !r; i++) {
		a[i] = (struct agent){ .ns = ca[i].ns, .pod = ca[i].pod, .node = ca[i].node };
		if (rep[i].why[0])
			snprintf(a[i].why, sizeof(a[i].why), "%s", rep[i].why);
		else if (top_findings_parse(rep[i].body, &a[i].fs, &a[i].n))
			snprintf(a[i].why, sizeof(a[i].why), "did not answer a findings document");
	}
	cluster_replies_free(rep, n);
	if (r) {
		free(a);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

int cluster_check(const struct cluster_opts *o)
{
	struct cluster *cl = NULL;
	struct agent *a = NULL;
	struct row *rows = NULL;
	size_t n = 0, n_rows = 0, n_findings = 0, silent = 0;
	char err[1024];
	int r;

	if (cluster_open(o, "check", &cl, err, sizeof(err)) || cluster_list(cl, err, sizeof(err))) {
		r = cli_error("check", "%s", err);
		goto out;
	}
	if (fetch_findings(cl, &a, &n)) {
		r = cli_error("check", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		n_findings += a[i].n;
		silent += a[i].why[0] != '\0';
	}
	if (o->json) {
		print_json(a, n);
	} else {
		rows = calloc(n_findings + silent + 1, sizeof(*rows));
		if (!rows) {
			r = cli_error("check", "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (a[i].why[0])
				rows[n_rows++] = (struct row){ &a[i], NULL };
			for (size_t k = 0; k < a[i].n; k++)
				rows[n_rows++] = (struct row){ &a[i], &a[i].fs[k] };
		}
		qsort(rows, n_rows, sizeof(*rows), row_cmp);
		if (n_rows)
			print_table(rows, n_rows);
		else
			puts("no findings");
	}
	fprintf(stderr, "bpfdiag check: %zu finding%s from %zu of %zu agents (%s)\n", n_findings,
		n_findings == 1 ? "" : "s", n - silent, n, cluster_source(cl));
	r = n_findings ? 1 : silent ? CLI_EXIT_USAGE : 0;
out:
	free(rows);
	for (size_t i = 0; i < n; i++)
		top_findings_free(a[i].fs, a[i].n);
	free(a);
	cluster_close(cl);
	return r;
}
