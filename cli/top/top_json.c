// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_json.h"
#include "base/json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

static void add_ports(json_object *c, struct top_container *ctr)
{
	json_object *ports = json_get_arr(c, "listening_ports");

	if (!ports)
		return;
	for (size_t i = 0; i < json_object_array_length(ports); i++) {
		if (!top_container_add_port(
			    ctr, json_object_get_int(json_object_array_get_idx(ports, i))))
			return;
	}
}

static int parse_container(json_object *c, struct top_pod *p)
{
	struct top_container *ctr;
	json_object *v;
	struct top_rates r = {
		.cpu_pct = json_get_num(c, "cpu_cores") * 100,
		.runq_p99 = json_get_num(c, "runqueue_p99_seconds"),
		.disk_r = json_get_num(c, "disk_read_bytes_per_second"),
		.disk_w = json_get_num(c, "disk_write_bytes_per_second"),
		.iops = json_get_num(c, "disk_iops"),
		.fs_w = json_get_num(c, "fs_write_bytes_per_second"),
		.fsync = json_get_num(c, "fsync_per_second"),
		.net_rx = json_get_num(c, "network_receive_bytes_per_second"),
		.net_tx = json_get_num(c, "network_transmit_bytes_per_second"),
		.retrans = json_get_num(c, "retransmits_per_second"),
		.mem_ws = json_get_num(c, "memory_working_set_bytes"),
		.oom_kills = json_get_num(c, "oom_kills_total"),
		.rec_cpu = json_get_num(json_get(c, "recommendation"), "cpu_request_cores"),
		.rec_mem = json_get_num(json_get(c, "recommendation"), "memory_request_bytes"),
	};

	ctr = top_pod_add_container(
		p, json_get_str_or_empty(c, "name"), json_get_str_or_empty(c, "id"),
		json_get_str_or_empty(c, "cgroup_path"),
		(v = json_get(c, "cgroup_id")) && json_object_is_type(v, json_type_int) ?
			json_object_get_uint64(v) :
			0,
		&r);
	if (!ctr)
		return -ENOMEM;
	add_ports(c, ctr);
	return 0;
}

static int parse_pod(json_object *p, struct top_pod *ret)
{
	json_object *cs = json_get_arr(p, "containers");
	size_t n = cs ? json_object_array_length(cs) : 0;

	if (n > TOP_MAX_CONTAINERS)
		n = TOP_MAX_CONTAINERS;
	if (top_pod_init(ret, json_get_str_or_empty(p, "namespace"),
			 json_get_str_or_empty(p, "pod"), json_get_str_or_empty(p, "uid"),
			 json_get_str_or_empty(p, "workload_kind"),
			 json_get_str_or_empty(p, "workload"),
			 json_get_str_or_empty(p, "helm_release"), n))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (parse_container(json_object_array_get_idx(cs, i), ret))
			return -ENOMEM;
	}
	/* The pod's own total wins when present: it is what the agent computed. */
	if (json_get(p, "cpu_cores"))
		ret->r.cpu_pct = json_get_num(p, "cpu_cores") * 100;
	return 0;
}

int top_snapshot_parse(const char *doc, struct top_snapshot **ret)
{
	json_object *root = doc ? json_tokener_parse(doc) : NULL,
		    *pods = json_get_arr(root, "pods");
	struct top_snapshot *s = NULL;
	size_t n;
	int r = -ENOMEM;

	if (!pods) {
		json_object_put(root);
		return -EINVAL;
	}
	n = json_object_array_length(pods);
	if (n > TOP_MAX_PODS)
		n = TOP_MAX_PODS;
	s = top_snapshot_new(n, json_get_str_or_empty(root, "node"), json_get_num(root, "time"));
	if (!s)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pods, i);

		if (!json_object_is_type(p, json_type_object))
			continue;
		if (parse_pod(p, &s->pods[s->n_pods++]))
			goto out;
		top_rates_add(&s->total, &s->pods[s->n_pods - 1].r);
	}
	*ret = s;
	s = NULL;
	r = 0;
out:
	top_snapshot_free(s);
	json_object_put(root);
	return r;
}

static int parse_finding(json_object *o, struct top_finding *f)
{
	json_object *ev;

	if (top_finding_init(
		    f, json_get_str_or_empty(o, "namespace"),
		    json_get_str_or_empty(o, "workload_kind"), json_get_str_or_empty(o, "workload"),
		    json_get_str_or_empty(o, "helm_release"), json_get_str_or_empty(o, "rule"),
		    json_get_str_or_empty(o, "severity"),
		    json_get_str_or_empty(o, "suggested_kind"), json_get_str_or_empty(o, "message"),
		    json_get_str_or_empty(o, "since")))
		return -ENOMEM;
	ev = json_get_obj(o, "evidence");
	if (!ev)
		return 0;
	json_object_object_foreach(ev, k, v) {
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			continue;
		if (top_finding_add_evidence(f, k, json_object_get_double(v)))
			return -ENOMEM;
	}
	return 0;
}

int top_findings_parse(const char *doc, struct top_finding **ret, size_t *ret_n)
{
	json_object *root = doc ? json_tokener_parse(doc) : NULL,
		    *arr = json_get_arr(root, "findings");
	struct top_finding *fs = NULL;
	size_t n, got = 0;
	int r = -ENOMEM;

	if (!arr) {
		json_object_put(root);
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	if (n > TOP_MAX_FINDINGS)
		n = TOP_MAX_FINDINGS;
	fs = calloc(n ? n : 1, sizeof(*fs));
	if (!fs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(o, json_type_object))
			continue;
		if (parse_finding(o, &fs[got++]))
			goto out;
	}
	*ret = fs;
	*ret_n = got;
	fs = NULL;
	r = 0;
out:
	top_findings_free(fs, got);
	json_object_put(root);
	return r;
}

int top_snapshot_set_findings(struct top_snapshot *s, const char *doc)
{
	struct top_finding *fs = NULL;
	size_t n = 0;
	int r = top_findings_parse(doc, &fs, &n);

	return r ? r : top_snapshot_take_findings(s, fs, n);
}
