#include "top/top_source.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/api_json.h"
#include "cli.h"
#include "engine/engine.h"
#include "base/clock.h"
#include "base/log.h"
#include "top/top_health.h"
#include "top/top_json.h"

#define TOP_HTTP_TIMEOUT_MS 2000

struct top_source {
	char *url;
	struct engine *engine; /* NULL: reading the agent */
	char name[1200];
	double last_fetch; /* monotonic seconds */
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
	engine__close(src->engine);
	free(src->url);
	free(src);
	return NULL;
}

/* Pods JSON of a new in-process collection, with its snapshot's agent health. */
static int collect_local(struct top_source *src, char **ret_doc, struct top_health *ret_health)
{
	struct strbuf sb = STRBUF_INIT;
	struct snapshot *s = NULL;
	int r = engine__collect(src->engine, &s);

	if (r)
		return r;
	if (ret_health) {
		const struct snap_agent *a = &s->agent;

		*ret_health = (struct top_health){ 0 };
		top_health_sample(ret_health, "bpfdiag_agent_start_time_seconds", "",
				  a->start_time);
		top_health_sample(ret_health, "bpfdiag_agent_collections_total", "",
				  (double)a->collections);
		top_health_sample(ret_health, "bpfdiag_agent_collection_errors_total", "",
				  (double)a->collection_errors);
		top_health_sample(ret_health, "bpfdiag_agent_collection_duration_seconds", "",
				  a->last_collection_seconds);
		for (size_t i = 0; i < a->n_stats; i++)
			top_health_sample(ret_health, a->stats[i].name, a->stats[i].labels,
					  a->stats[i].value);
	}
	r = api_pods_json(s, &sb);
	snapshot_unref(s);
	if (!r && !(*ret_doc = strbuf_steal(&sb, NULL)))
		r = -ENOMEM;
	strbuf_reset(&sb);
	return r;
}

int top_source__open(const char *url, struct top_source **ret, char *err, size_t errlen)
{
	struct top_source *src = calloc(1, sizeof(*src));
	struct engine_opts eo = { 0 };
	char host[256] = "", why[512] = "", *doc = NULL;
	size_t wl;
	int r;

	if (!src || !(src->url = strdup(url))) {
		snprintf(err, errlen, "out of memory");
		free(src);
		return -ENOMEM;
	}
	/* An agent counts when it answers a pods document, not just any HTTP. */
	r = get(url, "/api/v1/pods", &doc, why, sizeof(why));
	if (!r) {
		struct top_snapshot *probe = NULL;

		r = top_snapshot_parse(doc, &probe);
		top_snapshot_free(probe);
		free(doc);
		if (r)
			snprintf(why, sizeof(why), "its /api/v1/pods is not a pods document");
	}
	if (!r) {
		snprintf(src->name, sizeof(src->name), "agent %s", url);
		src->last_fetch = clock_mono();
		*ret = src;
		return 0;
	}
	gethostname(host, sizeof(host) - 1);
	eo.node_name = host;
	log_set_level(LOG_ERROR);
	wl = strlen(why);
	snprintf(why + wl, sizeof(why) - wl, "; in-process: ");
	wl = strlen(why);
	r = engine__open(&eo, &src->engine, why + wl, sizeof(why) - wl);
	if (r) {
		snprintf(err, errlen,
			 "no agent answers at %s and the in-process collector cannot start (it "
			 "needs root): %s",
			 url, why);
		top_source__close(src);
		return r;
	}
	snprintf(src->name, sizeof(src->name), "in-process collector (no agent at %s)", url);
	/* Rates need two collections: this is the first. */
	r = collect_local(src, &doc, NULL);
	free(doc);
	if (r) {
		snprintf(err, errlen, "the in-process collector failed: %s", strerror(-r));
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

int top_source__fetch(struct top_source *src, struct top_snapshot **ret, char **ret_json, char *err,
		      size_t errlen)
{
	struct top_snapshot *s = NULL;
	struct top_health health = { 0 };
	char *pods = NULL, *findings = NULL, *metrics = NULL, note[128] = "";
	int r;

	if (src->engine) {
		r = collect_local(src, &pods, &health);
		if (r)
			snprintf(err, errlen, "the in-process collector failed: %s", strerror(-r));
	} else {
		r = get(src->url, "/api/v1/pods", &pods, err, errlen);
	}
	src->last_fetch = clock_mono();
	if (r)
		return r;
	r = top_snapshot_parse(pods, &s);
	if (r) {
		snprintf(err, errlen, "%s did not answer a pods document", src->name);
		goto out;
	}
	if (src->engine) {
		s->health = health;
		snprintf(s->findings_note, sizeof(s->findings_note),
			 "none in-process: findings come from an agent's rules engine");
		s->health_note[0] = '\0';
	} else {
		if (get(src->url, "/api/v1/findings", &findings, note, sizeof(note)) == 0 &&
		    top_snapshot_set_findings(s, findings) == -EINVAL)
			snprintf(note, sizeof(note), "/api/v1/findings is not a findings document");
		if (!s->findings_known)
			snprintf(s->findings_note, sizeof(s->findings_note), "unavailable: %s",
				 note);
		if (get(src->url, "/metrics", &metrics, note, sizeof(note)) == 0 &&
		    top_health_parse_prom(&s->health, metrics) > 0)
			s->health_note[0] = '\0';
		else
			snprintf(s->health_note, sizeof(s->health_note), "%s",
				 note[0] && !metrics ? note : "no bpfdiag_agent_* metrics");
	}
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

const char *top_source__name(const struct top_source *src)
{
	return src->name;
}

bool top_source__in_process(const struct top_source *src)
{
	return src->engine != NULL;
}

double top_source__since_fetch(const struct top_source *src)
{
	return clock_mono() - src->last_fetch;
}
