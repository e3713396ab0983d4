// SPDX-License-Identifier: BSD-2-Clause
#include "cluster.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
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

/* One agent pod and what it answered. */
struct agent {
	char *ns, *pod, *node;
	char proxy[768]; /* the pod proxy path of its findings */
	char why[256]; /* why it did not answer; "" when it did */
	struct top_finding *fs;
	size_t n;
	struct strbuf body;
	CURL *curl;
	struct curl_slist *hdrs;
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
static CURL *request(const struct kube_target *t, const char *path, long timeout_ms,
		     struct strbuf *body, struct curl_slist **hdrs)
{
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
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bpfdiag-check");
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

static void agents_free(struct agent *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].ns);
		free(a[i].pod);
		free(a[i].node);
		top_findings_free(a[i].fs, a[i].n);
		strbuf_reset(&a[i].body);
		curl_easy_cleanup(a[i].curl);
		curl_slist_free_all(a[i].hdrs);
	}
	free(a);
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

/* The agent pods, from the API's pod list. Returns 0, or 2 after printing why. */
static int list_agents(const struct kube_target *t, const struct cluster_opts *o,
		       struct agent **ret, size_t *ret_n)
{
	struct strbuf body = STRBUF_INIT;
	struct curl_slist *hdrs = NULL;
	json_object *root = NULL, *items;
	struct agent *a = NULL;
	char path[1024], why[512], *sel;
	long status = 0;
	size_t n = 0;
	CURL *c;
	CURLcode rc;
	int r = CLI_EXIT_USAGE;

	sel = curl_easy_escape(NULL, o->selector, 0);
	if (!sel)
		return cli_error("check", "out of memory");
	if (o->ns)
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", o->ns,
			 sel);
	else
		snprintf(path, sizeof(path), "/api/v1/pods?labelSelector=%s", sel);
	curl_free(sel);
	c = request(t, path, (long)(o->timeout * 1000), &body, &hdrs);
	if (!c) {
		curl_slist_free_all(hdrs);
		return cli_error("check", "out of memory");
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		r = cli_error("check", "--cluster: %s%s: %s", t->server, path,
			      curl_easy_strerror(rc));
		goto out;
	}
	strbuf_puts(&body, "");
	if (status != 200) {
		status_message(body.data, status, why, sizeof(why));
		r = cli_error("check", "--cluster: listing the agent pods (%s%s): %s", t->server,
			      path, why);
		goto out;
	}
	root = json_tokener_parse(body.data);
	items = json_get_arr(root, "items");
	if (!items) {
		r = cli_error("check", "--cluster: %s%s did not answer a pod list", t->server,
			      path);
		goto out;
	}
	n = json_object_array_length(items);
	if (n == 0) {
		r = cli_error("check", "--cluster: no agent pods (%s%s): is the chart installed%s?",
			      o->selector, o->ns ? " in that namespace" : "",
			      o->ns ? "" : " and may you list pods in all namespaces");
		goto out;
	}
	if (n > CLUSTER_MAX_AGENTS)
		n = CLUSTER_MAX_AGENTS;
	a = calloc(n, sizeof(*a));
	if (!a) {
		r = cli_error("check", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(items, i);
		json_object *meta = json_get_obj(p, "metadata");
		const char *phase = json_get_str_or_empty(json_get_obj(p, "status"), "phase");
		bool https;
		int64_t port = agent_port(p, &https);

		a[i].body = (struct strbuf)STRBUF_INIT;
		a[i].ns = strdup(json_get_str_or_empty(meta, "namespace"));
		a[i].pod = strdup(json_get_str_or_empty(meta, "name"));
		a[i].node = strdup(json_get_str_or_empty(json_get_obj(p, "spec"), "nodeName"));
		if (!a[i].ns || !a[i].pod || !a[i].node) {
			agents_free(a, n);
			a = NULL;
			r = cli_error("check", "out of memory");
			goto out;
		}
		if (!a[i].node[0])
			snprintf(a[i].why, sizeof(a[i].why), "pod %s/%s is not scheduled", a[i].ns,
				 a[i].pod);
		else if (strcmp(phase, "Running") != 0)
			snprintf(a[i].why, sizeof(a[i].why), "pod %s/%s is %s", a[i].ns, a[i].pod,
				 phase[0] ? phase : "in no phase");
		else if (port <= 0 || port > 65535)
			snprintf(a[i].why, sizeof(a[i].why), "pod %s/%s has no port", a[i].ns,
				 a[i].pod);
		else
			snprintf(a[i].proxy, sizeof(a[i].proxy),
				 "/api/v1/namespaces/%s/pods/%s%s:%lld/proxy/api/v1/findings",
				 a[i].ns, https ? "https:" : "", a[i].pod, (long long)port);
	}
	*ret = a;
	*ret_n = n;
	r = 0;
out:
	json_object_put(root);
	strbuf_reset(&body);
	return r;
}

/* Asks every agent with a proxy path, CLUSTER_PARALLEL at a time. */
static int fetch_findings(const struct kube_target *t, const struct cluster_opts *o,
			  struct agent *a, size_t n)
{
	CURLM *m = curl_multi_init();
	int running = 0;
	CURLMsg *msg;
	int left;

	if (!m)
		return -ENOMEM;
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, CLUSTER_PARALLEL);
	for (size_t i = 0; i < n; i++) {
		if (!a[i].proxy[0])
			continue;
		a[i].curl =
			request(t, a[i].proxy, (long)(o->timeout * 1000), &a[i].body, &a[i].hdrs);
		if (!a[i].curl) {
			snprintf(a[i].why, sizeof(a[i].why), "out of memory");
			continue;
		}
		curl_easy_setopt(a[i].curl, CURLOPT_PRIVATE, &a[i]);
		curl_multi_add_handle(m, a[i].curl);
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	} while (running);
	while ((msg = curl_multi_info_read(m, &left))) {
		struct agent *ag = NULL;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ag);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		strbuf_puts(&ag->body, "");
		if (msg->data.result != CURLE_OK)
			snprintf(ag->why, sizeof(ag->why), "%s",
				 curl_easy_strerror(msg->data.result));
		else if (status != 200)
			status_message(ag->body.data, status, ag->why, sizeof(ag->why));
		else if (top_findings_parse(ag->body.data, &ag->fs, &ag->n))
			snprintf(ag->why, sizeof(ag->why), "did not answer a findings document");
	}
	for (size_t i = 0; i < n; i++) {
		if (a[i].curl) {
			curl_multi_remove_handle(m, a[i].curl);
			if (!a[i].why[0] && !a[i].fs && a[i].body.len == 0)
				snprintf(a[i].why, sizeof(a[i].why), "no answer");
		}
	}
	curl_multi_cleanup(m);
	return 0;
}

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

int cluster_check(const struct cluster_opts *o)
{
	struct kube_target t = { 0 };
	struct agent *a = NULL;
	struct row *rows = NULL;
	size_t n = 0, n_rows = 0, n_findings = 0, silent = 0;
	char err[1024];
	int r;

	if (kube_target_resolve(o->kubeconfig, o->context, &t, err, sizeof(err)))
		return cli_error("check", "--cluster: %s", err);
	r = list_agents(&t, o, &a, &n);
	if (r)
		goto out;
	if (fetch_findings(&t, o, a, n)) {
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
		n_findings == 1 ? "" : "s", n - silent, n, t.source ? t.source : t.server);
	r = n_findings ? 1 : silent ? CLI_EXIT_USAGE : 0;
out:
	free(rows);
	agents_free(a, n);
	kube_target_clear(&t);
	return r;
}
