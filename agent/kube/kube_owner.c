// SPDX-License-Identifier: BSD-2-Clause
/* Kinds and their API paths, the top-level workload derived from a controller reference, and
 * the Helm release rules of SPEC §4. */
#include "kube/kube_parse.h"
#include "kube/kube_text.h"
#include "base/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[KUBE_KIND_MAX] = {
	[KUBE_KIND_OTHER] = "",
	[KUBE_KIND_POD] = "Pod",
	[KUBE_KIND_DEPLOYMENT] = "Deployment",
	[KUBE_KIND_REPLICASET] = "ReplicaSet",
	[KUBE_KIND_STATEFULSET] = "StatefulSet",
	[KUBE_KIND_DAEMONSET] = "DaemonSet",
	[KUBE_KIND_JOB] = "Job",
	[KUBE_KIND_CRONJOB] = "CronJob",
};

enum kube_kind kube_kind_from_name(const char *kind)
{
	for (int k = 1; kind && k < KUBE_KIND_MAX; k++) {
		if (strcmp(kind, kind_names[k]) == 0)
			return (enum kube_kind)k;
	}
	return KUBE_KIND_OTHER;
}

const char *kube_kind_name(enum kube_kind kind)
{
	return kind >= 0 && kind < KUBE_KIND_MAX ? kind_names[kind] : "";
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!kube_char_ok(s[i], KUBE_CS_DNS))
			return false;
	}
	return true;
}

int kube_object_path(enum kube_kind kind, const char *ns, const char *name, char *buf, size_t len)
{
	static const struct {
		const char *prefix;
		const char *resource;
	} res[KUBE_KIND_MAX] = {
		[KUBE_KIND_POD] = { "/api/v1", "pods" },
		[KUBE_KIND_DEPLOYMENT] = { "/apis/apps/v1", "deployments" },
		[KUBE_KIND_REPLICASET] = { "/apis/apps/v1", "replicasets" },
		[KUBE_KIND_STATEFULSET] = { "/apis/apps/v1", "statefulsets" },
		[KUBE_KIND_DAEMONSET] = { "/apis/apps/v1", "daemonsets" },
		[KUBE_KIND_JOB] = { "/apis/batch/v1", "jobs" },
		[KUBE_KIND_CRONJOB] = { "/apis/batch/v1", "cronjobs" },
	};
	int n;

	if (kind <= KUBE_KIND_OTHER || kind >= KUBE_KIND_MAX || !name_ok(ns, KUBE_NS_MAX) ||
	    !name_ok(name, KUBE_NAME_MAX))
		return -EINVAL;
	n = snprintf(buf, len, "%s/namespaces/%s/%s/%s", res[kind].prefix, ns, res[kind].resource,
		     name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- owners and Helm ---- */

static void set_owner(struct kube_owner *o, enum kube_kind kind, const char *kind_name,
		      const char *name, size_t name_len)
{
	o->kind = kind;
	snprintf(o->kind_name, sizeof(o->kind_name), "%s", kind_name);
	if (name_len > KUBE_NAME_MAX)
		name_len = KUBE_NAME_MAX;
	memcpy(o->name, name, name_len);
	o->name[name_len] = '\0';
}

/* The API group of "apps/v1" is "apps"; of "v1" the core group "". */
static bool in_group(const char *api_version, const char *group)
{
	const char *slash;

	if (!api_version || !*api_version)
		return true; /* required by the API; when missing, trust the kind */
	slash = strchr(api_version, '/');
	if (!slash)
		return group[0] == '\0';
	return (size_t)(slash - api_version) == strlen(group) &&
	       memcmp(api_version, group, strlen(group)) == 0;
}

void kube_owner_derive(const char *ctrl_kind, const char *ctrl_api_version, const char *ctrl_name,
		       const char *pod_name, const char *template_hash, struct kube_owner *ret)
{
	enum kube_kind k;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (!ctrl_kind || !*ctrl_kind || !ctrl_name || !*ctrl_name) {
		set_owner(ret, KUBE_KIND_POD, "Pod", pod_name ? pod_name : "",
			  pod_name ? strlen(pod_name) : 0);
		return;
	}
	k = kube_kind_from_name(ctrl_kind);
	switch (k) {
	case KUBE_KIND_DEPLOYMENT:
	case KUBE_KIND_REPLICASET:
	case KUBE_KIND_STATEFULSET:
	case KUBE_KIND_DAEMONSET:
		if (!in_group(ctrl_api_version, "apps"))
			k = KUBE_KIND_OTHER;
		break;
	case KUBE_KIND_JOB:
	case KUBE_KIND_CRONJOB:
		if (!in_group(ctrl_api_version, "batch"))
			k = KUBE_KIND_OTHER;
		break;
	default:
		k = KUBE_KIND_OTHER;
		break;
	}
	n = strlen(ctrl_name);
	set_owner(ret, k, k == KUBE_KIND_OTHER ? ctrl_kind : kind_names[k], ctrl_name, n);
	if (k == KUBE_KIND_REPLICASET && template_hash && *template_hash) {
		size_t h = strlen(template_hash);

		/* <deployment>-<pod-template-hash> */
		if (n > h + 1 && ctrl_name[n - h - 1] == '-' &&
		    strcmp(ctrl_name + n - h, template_hash) == 0) {
			set_owner(ret, KUBE_KIND_DEPLOYMENT, "Deployment", ctrl_name, n - h - 1);
			ret->fallback = KUBE_KIND_REPLICASET;
			snprintf(ret->fallback_name, sizeof(ret->fallback_name), "%s", ctrl_name);
		}
	} else if (k == KUBE_KIND_JOB) {
		size_t d = 0;

		/* <cronjob>-<scheduled time in minutes> */
		while (d < n && ctrl_name[n - 1 - d] >= '0' && ctrl_name[n - 1 - d] <= '9')
			d++;
		if (d > 0 && n > d + 1 && ctrl_name[n - d - 1] == '-') {
			set_owner(ret, KUBE_KIND_CRONJOB, "CronJob", ctrl_name, n - d - 1);
			ret->fallback = KUBE_KIND_JOB;
			snprintf(ret->fallback_name, sizeof(ret->fallback_name), "%s", ctrl_name);
		}
	}
}

void kube_helm_resolve(const struct kube_workload *wl, const struct kube_pod *pod,
		       struct kube_helm *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (wl && wl->helm_release[0]) {
		snprintf(ret->release, sizeof(ret->release), "%s", wl->helm_release);
		snprintf(ret->release_ns, sizeof(ret->release_ns), "%s",
			 wl->helm_release_ns[0] ? wl->helm_release_ns : wl->ns);
	} else if (pod && pod->helm_instance[0]) {
		snprintf(ret->release, sizeof(ret->release), "%s", pod->helm_instance);
		snprintf(ret->release_ns, sizeof(ret->release_ns), "%s", pod->ns);
	}
	if (wl && wl->helm_chart[0])
		snprintf(ret->chart, sizeof(ret->chart), "%s", wl->helm_chart);
	else if (pod && pod->helm_chart[0])
		snprintf(ret->chart, sizeof(ret->chart), "%s", pod->helm_chart);
}

/* ---- the controller reference ---- */

void kube_controller_parse(json_object *meta, struct kube_ref *ret)
{
	json_object *refs = json_get_arr(meta, "ownerReferences");
	size_t n = refs ? json_object_array_length(refs) : 0;

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(refs, i);

		if (!json_get_true(r, "controller"))
			continue;
		if (KUBE_COPY(ret->kind, json_get_str(r, "kind"), KUBE_CS_KIND) &&
		    KUBE_COPY(ret->name, json_get_str(r, "name"), KUBE_CS_DNS)) {
			if (!KUBE_COPY(ret->api_version, json_get_str(r, "apiVersion"),
				       KUBE_CS_KEY))
				ret->api_version[0] = '\0';
			return;
		}
		memset(ret, 0, sizeof(*ret));
	}
}
