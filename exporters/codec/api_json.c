// SPDX-License-Identifier: BSD-2-Clause
#include "codec/api_json.h"
#include "base/idmap.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int add_str(json_object *o, const char *k, const char *v)
{
	json_object *s = json_object_new_string(v ? v : "");

	return s ? json_object_object_add(o, k, s) : -ENOMEM;
}

static int add_double(json_object *o, const char *k, double v)
{
	json_object *d = json_object_new_double(v);

	return d ? json_object_object_add(o, k, d) : -ENOMEM;
}

static int add_ports_peers(json_object *c, const struct snap_series *se)
{
	json_object *ports = json_object_new_array(), *peers = json_object_new_array();

	if (!ports || !peers || json_object_object_add(c, "listening_ports", ports)) {
		json_object_put(ports);
		json_object_put(peers);
		return -ENOMEM;
	}
	if (json_object_object_add(c, "peers", peers)) {
		json_object_put(peers);
		return -ENOMEM;
	}
	for (size_t i = 0; i < se->n_listen_ports; i++) {
		if (json_object_array_add(ports, json_object_new_int(se->listen_ports[i])))
			return -ENOMEM;
	}
	for (size_t i = 0; i < se->n_peers; i++) {
		const struct snap_peer *p = &se->peers[i];
		json_object *o = json_object_new_object();

		if (!o || json_object_array_add(peers, o)) {
			json_object_put(o);
			return -ENOMEM;
		}
		if (add_str(o, "addr", p->addr) ||
		    json_object_object_add(o, "port", json_object_new_int(p->port)) ||
		    add_str(o, "role", p->role ? "server" : "client") ||
		    json_object_object_add(o, "connections",
					   json_object_new_uint64(p->connections)))
			return -ENOMEM;
	}
	return 0;
}

/* "recommendation": the container's right-sizing, null while it has too little history. */
static int add_rec(json_object *c, const struct snap_series *se)
{
	const struct snap_rec *r = &se->rec;
	json_object *o;

	if (!r->ready)
		return json_object_object_add(c, "recommendation", NULL);
	o = json_object_new_object();
	if (!o || json_object_object_add(c, "recommendation", o)) {
		json_object_put(o);
		return -ENOMEM;
	}
	if (add_double(o, "cpu_request_cores", r->cpu_request) ||
	    add_double(o, "memory_request_bytes", r->mem_request) ||
	    add_double(o, "memory_limit_bytes", r->mem_limit) ||
	    add_double(o, "cpu_p95_cores", r->cpu_p) ||
	    add_double(o, "memory_peak_bytes", r->mem_peak) ||
	    json_object_object_add(o, "cpu_usage_is_floor",
				   json_object_new_boolean(r->cpu_floor)) ||
	    json_object_object_add(o, "raised_after_oom_kill", json_object_new_boolean(r->oom)))
		return -ENOMEM;
	return 0;
}

/* "restarts" and "last_termination_reason" from the pod status; null without Kubernetes. */
static int add_status(json_object *c, const struct snap_series *se)
{
	if (!se->has_status)
		return json_object_object_add(c, "restarts", NULL) ||
		       json_object_object_add(c, "last_termination_reason", NULL);
	if (json_object_object_add(c, "restarts", json_object_new_int(se->restarts)))
		return -ENOMEM;
	if (!se->last_reason[0])
		return json_object_object_add(c, "last_termination_reason", NULL);
	return add_str(c, "last_termination_reason", se->last_reason);
}

static json_object *container_json(const struct snap_series *se)
{
	const struct snap_rates *r = &se->rates;
	json_object *c = json_object_new_object();

	if (!c)
		return NULL;
	if (add_str(c, "name", se->labels[LBL_CONTAINER]) ||
	    add_str(c, "id", se->labels[LBL_CONTAINER_ID]) ||
	    json_object_object_add(c, "cgroup_id", json_object_new_uint64(se->cgroup_id)) ||
	    add_str(c, "cgroup_path", se->cgroup_path) ||
	    add_double(c, "cpu_seconds_total", snap_series_value(se, M_CPU_SECONDS)) ||
	    add_double(c, "cpu_cores", r->cpu_cores) ||
	    add_double(c, "runqueue_p99_seconds", r->runq_p99_seconds) ||
	    add_double(c, "disk_read_bytes_per_second", r->disk_read_bps) ||
	    add_double(c, "disk_write_bytes_per_second", r->disk_write_bps) ||
	    add_double(c, "disk_iops", r->disk_iops) ||
	    add_double(c, "fs_write_bytes_per_second", r->fs_write_bps) ||
	    add_double(c, "fsync_per_second", r->fsync_per_s) ||
	    add_double(c, "network_receive_bytes_per_second", r->net_rx_bps) ||
	    add_double(c, "network_transmit_bytes_per_second", r->net_tx_bps) ||
	    add_double(c, "retransmits_per_second", r->retransmits_per_s) ||
	    add_double(c, "memory_working_set_bytes", se->delta.mem_working_set) ||
	    add_double(c, "memory_limit_bytes", se->delta.mem_limit) ||
	    add_double(c, "oom_kills_total", snap_series_value(se, M_MEMORY_OOM_KILLS)) ||
	    json_object_object_add(c, "cgroups", json_object_new_int(se->cgroups)) ||
	    add_rec(c, se) || add_status(c, se) || add_ports_peers(c, se)) {
		json_object_put(c);
		return NULL;
	}
	return c;
}

static json_object *pod_json(const struct snap_series *se)
{
	json_object *p = json_object_new_object(), *cs = json_object_new_array();

	if (!p || !cs ||
	    json_object_object_add(p, "namespace",
				   json_object_new_string(se->labels[LBL_NAMESPACE])) ||
	    add_str(p, "pod", se->labels[LBL_POD]) || add_str(p, "uid", se->labels[LBL_POD_UID]) ||
	    add_str(p, "workload_kind", se->labels[LBL_WORKLOAD_KIND]) ||
	    add_str(p, "workload", se->labels[LBL_WORKLOAD]) ||
	    add_str(p, "helm_release", se->labels[LBL_HELM_RELEASE]) ||
	    json_object_object_add(p, "containers", cs)) {
		json_object_put(p);
		json_object_put(cs);
		return NULL;
	}
	return p;
}

static int render(json_object *root, struct strbuf *out)
{
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);

	if (!text) {
		json_object_put(root);
		return -ENOMEM;
	}
	strbuf_puts(out, text);
	strbuf_puts(out, "\n");
	json_object_put(root);
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* Finds the pod entry of uid in the index (open addressing over hash values). */
static json_object *pod_lookup(struct idmap *pods, const char *uid, uint64_t *ret_key)
{
	uint64_t k = idmap_str_key(uid);
	json_object *p, *u;

	while ((p = idmap_get(pods, k))) {
		if (json_object_object_get_ex(p, "uid", &u) &&
		    strcmp(json_object_get_string(u), uid) == 0)
			return p;
		k = k + 1 ? k + 1 : 1;
	}
	*ret_key = k;
	return NULL;
}

int api_pods_json(const struct snapshot *s, struct strbuf *out)
{
	json_object *root = json_object_new_object(), *pods = json_object_new_array();
	/* Series are sorted by labels, not by pod: group them through an index of pod UIDs. */
	struct idmap *by_uid = idmap_new();

	if (!root || !pods || !by_uid)
		goto oom;
	if (add_str(root, "node", s->node) || add_double(root, "time", s->time)) {
		goto oom;
	}
	if (json_object_object_add(root, "pods", pods)) {
		json_object_put(pods);
		pods = NULL;
		goto oom;
	}
	for (size_t i = 0; i < s->n_series; i++) {
		const struct snap_series *se = &s->series[i];
		json_object *pod = NULL, *c, *cs, *cores;
		uint64_t key = 0;
		bool grouped = se->labels[LBL_POD_UID][0] != '\0';

		if (grouped)
			pod = pod_lookup(by_uid, se->labels[LBL_POD_UID], &key);
		if (!pod) {
			pod = pod_json(se);
			if (!pod || json_object_array_add(pods, pod)) {
				json_object_put(pod);
				goto oom_rooted;
			}
			if (add_double(pod, "cpu_cores", 0) ||
			    (grouped && idmap_put(by_uid, key, pod)))
				goto oom_rooted;
		}
		c = container_json(se);
		json_object_object_get_ex(pod, "containers", &cs);
		if (!c || json_object_array_add(cs, c)) {
			json_object_put(c);
			goto oom_rooted;
		}
		json_object_object_get_ex(pod, "cpu_cores", &cores);
		json_object_set_double(cores, json_object_get_double(cores) + se->rates.cpu_cores);
	}
	idmap_free(by_uid);
	return render(root, out);
oom:
	json_object_put(pods);
oom_rooted:
	json_object_put(root);
	idmap_free(by_uid);
	return -ENOMEM;
}

static int finding_json(json_object *arr, const struct snap_finding *f)
{
	json_object *o = json_object_new_object(), *ev = json_object_new_object();
	char since[32];
	time_t t = (time_t)f->since;
	struct tm tm;

	if (!o || !ev || json_object_array_add(arr, o)) {
		json_object_put(o);
		json_object_put(ev);
		return -ENOMEM;
	}
	gmtime_r(&t, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json_object_object_add(o, "evidence", ev) || add_str(o, "namespace", f->ns) ||
	    add_str(o, "workload_kind", f->workload_kind) || add_str(o, "workload", f->workload) ||
	    add_str(o, "helm_release", f->helm_release) || add_str(o, "rule", f->rule) ||
	    add_str(o, "rule_name", f->rule_name) || add_str(o, "severity", f->severity) ||
	    add_str(o, "suggested_kind", f->suggested_kind) || add_str(o, "message", f->message) ||
	    add_str(o, "since", since))
		return -ENOMEM;
	for (unsigned i = 0; i < f->n_evidence; i++) {
		if (add_double(ev, f->evidence[i].name, f->evidence[i].value))
			return -ENOMEM;
	}
	return 0;
}

int api_findings_json(const struct snapshot *s, struct strbuf *out)
{
	json_object *root = json_object_new_object(), *findings = json_object_new_array();

	if (!root || !findings || json_object_object_add(root, "findings", findings)) {
		json_object_put(findings);
		json_object_put(root);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_findings; i++) {
		if (finding_json(findings, &s->findings[i])) {
			json_object_put(root);
			return -ENOMEM;
		}
	}
	return render(root, out);
}
