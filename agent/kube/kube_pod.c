// SPDX-License-Identifier: BSD-2-Clause
/* Pods (metadata, containers and their statuses, volumes, labels) and watch events. */
#include "kube/kube_parse.h"
#include "kube/kube_text.h"
#include "base/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_quantity_field(json_object *o, const char *k, double *ret)
{
	json_object *v = json_get(o, k);
	const char *s = json_str_of(v);

	*ret = -1;
	if (s) {
		if (kube_quantity_parse(s, ret) || *ret < 0)
			*ret = -1;
	} else if (v && (json_object_is_type(v, json_type_int) ||
			 json_object_is_type(v, json_type_double))) {
		*ret = json_object_get_double(v);
		if (*ret < 0)
			*ret = -1;
	}
}

static void parse_container_spec(json_object *c, struct kube_container *ret)
{
	json_object *res = json_get_obj(c, "resources"), *sc = json_get_obj(c, "securityContext");
	json_object *ports = json_get_arr(c, "ports");
	size_t n = ports ? json_object_array_length(ports) : 0;

	parse_quantity_field(json_get_obj(res, "requests"), "cpu", &ret->res.cpu_request);
	parse_quantity_field(json_get_obj(res, "limits"), "cpu", &ret->res.cpu_limit);
	parse_quantity_field(json_get_obj(res, "requests"), "memory", &ret->res.memory_request);
	parse_quantity_field(json_get_obj(res, "limits"), "memory", &ret->res.memory_limit);
	ret->readiness_probe = json_get_obj(c, "readinessProbe") != NULL;
	ret->liveness_probe = json_get_obj(c, "livenessProbe") != NULL;
	ret->startup_probe = json_get_obj(c, "startupProbe") != NULL;
	ret->privileged = json_get_true(sc, "privileged");
	ret->read_only_root_fs = json_get_true(sc, "readOnlyRootFilesystem");
	ret->sidecar = ret->type == KUBE_CONTAINER_INIT && json_get_str(c, "restartPolicy") &&
		       strcmp(json_get_str(c, "restartPolicy"), "Always") == 0;
	for (size_t i = 0; i < n && ret->n_ports < KUBE_MAX_PORTS; i++) {
		json_object *p = json_object_array_get_idx(ports, i);
		const char *proto = json_get_str(p, "protocol");
		int64_t port;

		if (json_get_int(p, "containerPort", &port) && port > 0 && port < 65536 &&
		    (!proto || strcmp(proto, "TCP") == 0))
			ret->ports[ret->n_ports++] = (uint16_t)port;
	}
}

static struct kube_container *find_container(struct kube_pod *p, const char *name,
					     enum kube_container_type type)
{
	for (unsigned i = 0; i < p->n_containers; i++) {
		if (p->containers[i].type == type && strcmp(p->containers[i].name, name) == 0)
			return &p->containers[i];
	}
	return NULL;
}

static struct kube_container *add_container(struct kube_pod *p, const char *name,
					    enum kube_container_type type)
{
	struct kube_container *c;

	if (p->n_containers >= KUBE_MAX_CONTAINERS)
		return NULL;
	c = &p->containers[p->n_containers];
	memset(c, 0, sizeof(*c));
	if (!KUBE_COPY(c->name, name, KUBE_CS_DNS))
		return NULL;
	c->type = type;
	c->res = (struct kube_resources){ -1, -1, -1, -1 };
	p->n_containers++;
	return c;
}

static void parse_specs(struct kube_pod *p, json_object *arr, enum kube_container_type type)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(arr, i);
		const char *name = json_get_str(c, "name");
		struct kube_container *kc;

		if (!name || find_container(p, name, type))
			continue;
		kc = add_container(p, name, type);
		if (kc)
			parse_container_spec(c, kc);
	}
}

/* A termination reason as Kubernetes writes them (a CamelCase word), else "". */
static void parse_reason(const char *s, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	if (!s)
		return;
	for (; s[n]; n++) {
		if (n + 1 >= size ||
		    !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9')))
			return;
	}
	memcpy(out, s, n + 1);
}

static void parse_statuses(struct kube_pod *p, json_object *arr, enum kube_container_type type)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *st = json_object_array_get_idx(arr, i);
		json_object *running = json_get_obj(json_get_obj(st, "state"), "running");
		json_object *last = json_get_obj(json_get_obj(st, "lastState"), "terminated");
		const char *name = json_get_str(st, "name");
		struct kube_container *c;
		int64_t restarts;

		if (!name)
			continue;
		c = find_container(p, name, type);
		if (!c)
			c = add_container(p, name, type); /* a status without a spec: keep the id */
		if (!c)
			continue;
		c->has_status = true;
		if (kube_container_id_parse(json_get_str(st, "containerID"), c->id))
			c->id[0] = '\0';
		if (kube_container_id_parse(json_get_str(last, "containerID"), c->last_id))
			c->last_id[0] = '\0';
		c->running = running != NULL;
		c->ready = json_get_true(st, "ready");
		if (json_get_int(st, "restartCount", &restarts) && restarts >= 0 &&
		    restarts < (1 << 30))
			c->restart_count = (int)restarts;
		if (kube_time_parse(json_get_str(running, "startedAt"), &c->started_at))
			c->started_at = 0;
		parse_reason(json_get_str(last, "reason"), c->last_reason, sizeof(c->last_reason));
		if (kube_time_parse(json_get_str(last, "finishedAt"), &c->last_finished_at))
			c->last_finished_at = 0;
	}
}

static void parse_volumes(struct kube_pod *p, json_object *arr)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n && p->n_volumes < KUBE_MAX_VOLUMES; i++) {
		json_object *v = json_object_array_get_idx(arr, i), *ed;
		struct kube_volume *kv = &p->volumes[p->n_volumes];

		memset(kv, 0, sizeof(*kv));
		kv->size_limit = -1;
		if (!KUBE_COPY(kv->name, json_get_str(v, "name"), KUBE_CS_DNS))
			continue;
		if (json_get_obj(v, "persistentVolumeClaim")) {
			kv->kind = KUBE_VOL_PVC;
			if (!KUBE_COPY(kv->claim,
				       json_get_str(json_get_obj(v, "persistentVolumeClaim"),
						    "claimName"),
				       KUBE_CS_DNS))
				kv->kind = KUBE_VOL_OTHER;
		} else if (json_get_obj(v, "ephemeral")) {
			kv->kind = KUBE_VOL_EPHEMERAL;
			if (snprintf(kv->claim, sizeof(kv->claim), "%s-%s", p->name, kv->name) >=
			    (int)sizeof(kv->claim))
				kv->claim[0] = '\0';
		} else if ((ed = json_get_obj(v, "emptyDir"))) {
			kv->kind = KUBE_VOL_EMPTYDIR;
			kv->medium_memory = json_get_str(ed, "medium") &&
					    !strcmp(json_get_str(ed, "medium"), "Memory");
			parse_quantity_field(ed, "sizeLimit", &kv->size_limit);
		} else if (json_get_obj(v, "hostPath")) {
			kv->kind = KUBE_VOL_HOSTPATH;
		} else if (json_get_obj(v, "configMap") || json_get_obj(v, "secret") ||
			   json_get_obj(v, "projected") || json_get_obj(v, "downwardAPI")) {
			kv->kind = KUBE_VOL_CONFIG;
		}
		p->n_volumes++;
	}
}

static int parse_labels(struct kube_pod *p, json_object *labels)
{
	if (!labels)
		return 0;
	p->labels = calloc(KUBE_MAX_LABELS, sizeof(*p->labels));
	if (!p->labels)
		return -ENOMEM;
	json_object_object_foreach(labels, key, val) {
		const char *v = json_str_of(val);
		char kbuf[KUBE_LABEL_KEY_MAX + 1], vbuf[KUBE_CNAME_MAX + 1] = "";

		if (p->n_labels >= KUBE_MAX_LABELS)
			break;
		if (!v || !KUBE_COPY(kbuf, key, KUBE_CS_KEY) ||
		    (*v && !KUBE_COPY(vbuf, v, KUBE_CS_LABEL)))
			continue;
		p->labels[p->n_labels].key = strdup(kbuf);
		p->labels[p->n_labels].value = strdup(vbuf);
		if (!p->labels[p->n_labels].key || !p->labels[p->n_labels].value) {
			free(p->labels[p->n_labels].key);
			free(p->labels[p->n_labels].value);
			return -ENOMEM;
		}
		p->n_labels++;
	}
	return 0;
}

const char *kube_pod_label(const struct kube_pod *p, const char *key)
{
	for (unsigned i = 0; i < p->n_labels; i++) {
		if (strcmp(p->labels[i].key, key) == 0)
			return p->labels[i].value;
	}
	return NULL;
}

static bool uid_ok(const char *s)
{
	char tmp[KUBE_UID_MAX + 1];

	return KUBE_COPY(tmp, s, KUBE_CS_UID);
}

const char *kube_object_uid(json_object *obj)
{
	const char *uid = json_get_str(json_get_obj(obj, "metadata"), "uid");

	return uid_ok(uid) ? uid : NULL;
}

const char *kube_resource_version(json_object *obj)
{
	const char *rv = json_get_str(json_get_obj(obj, "metadata"), "resourceVersion");
	char tmp[KUBE_RV_MAX + 1];

	return KUBE_COPY(tmp, rv, KUBE_CS_PRINT) ? rv : NULL;
}

struct kube_pod *kube_pod_free(struct kube_pod *p)
{
	if (!p)
		return NULL;
	for (unsigned i = 0; i < p->n_labels; i++) {
		free(p->labels[i].key);
		free(p->labels[i].value);
	}
	free(p->labels);
	free(p->containers);
	free(p->volumes);
	free(p);
	return NULL;
}

int kube_pod_parse(json_object *obj, struct kube_pod **ret, const char **ret_why)
{
	json_object *meta = json_get_obj(obj, "metadata"), *spec = json_get_obj(obj, "spec");
	json_object *status = json_get_obj(obj, "status"), *ips;
	const char *v, *kind = json_get_str(obj, "kind");
	struct kube_pod *p;
	size_t n;
	int r;

	*ret_why = NULL;
	if (!json_object_is_type(obj, json_type_object) || !meta) {
		*ret_why = "not an object with metadata";
		return -EINVAL;
	}
	if (kind && strcmp(kind, "Pod") != 0) {
		*ret_why = "kind is not Pod";
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (!uid_ok(json_get_str(meta, "uid")) ||
	    !KUBE_COPY(p->uid, json_get_str(meta, "uid"), KUBE_CS_UID)) {
		*ret_why = "metadata.uid missing or not a UID string";
		goto invalid;
	}
	if (!KUBE_COPY(p->name, json_get_str(meta, "name"), KUBE_CS_DNS)) {
		*ret_why = "metadata.name missing or not a DNS name";
		goto invalid;
	}
	if (!KUBE_COPY(p->ns, json_get_str(meta, "namespace"), KUBE_CS_DNS)) {
		*ret_why = "metadata.namespace missing or not a DNS label";
		goto invalid;
	}
	if (!KUBE_COPY(p->rv, json_get_str(meta, "resourceVersion"), KUBE_CS_PRINT))
		p->rv[0] = '\0';
	if (!KUBE_COPY(p->node, json_get_str(spec, "nodeName"), KUBE_CS_DNS))
		p->node[0] = '\0';
	r = parse_labels(p, json_get_obj(meta, "labels"));
	if (r)
		goto fail;
	if ((v = kube_pod_label(p, "pod-template-hash")))
		KUBE_COPY(p->template_hash, v, KUBE_CS_LABEL);
	if ((v = kube_pod_label(p, "app.kubernetes.io/managed-by")) && strcmp(v, "Helm") == 0 &&
	    (v = kube_pod_label(p, "app.kubernetes.io/instance")))
		KUBE_COPY(p->helm_instance, v, KUBE_CS_LABEL);
	if ((v = kube_pod_label(p, "helm.sh/chart")))
		KUBE_COPY(p->helm_chart, v, KUBE_CS_LABEL);
	KUBE_COPY(p->ignore_rules,
		  json_get_str(json_get_obj(meta, "annotations"), "bpfdiag.io/ignore-rules"),
		  KUBE_CS_PRINT);
	if (!uid_ok(json_get_str(json_get_obj(meta, "annotations"),
				 "kubernetes.io/config.mirror")) ||
	    !KUBE_COPY(p->mirror_uid,
		       json_get_str(json_get_obj(meta, "annotations"),
				    "kubernetes.io/config.mirror"),
		       KUBE_CS_UID))
		p->mirror_uid[0] = '\0';
	kube_controller_parse(meta, &p->controller);

	p->host_network = json_get_true(spec, "hostNetwork");
	p->host_pid = json_get_true(spec, "hostPID");
	p->host_ipc = json_get_true(spec, "hostIPC");
	p->containers = calloc(KUBE_MAX_CONTAINERS, sizeof(*p->containers));
	p->volumes = calloc(KUBE_MAX_VOLUMES, sizeof(*p->volumes));
	if (!p->containers || !p->volumes) {
		r = -ENOMEM;
		goto fail;
	}
	parse_specs(p, json_get_arr(spec, "initContainers"), KUBE_CONTAINER_INIT);
	parse_specs(p, json_get_arr(spec, "containers"), KUBE_CONTAINER_APP);
	parse_specs(p, json_get_arr(spec, "ephemeralContainers"), KUBE_CONTAINER_EPHEMERAL);
	parse_statuses(p, json_get_arr(status, "initContainerStatuses"), KUBE_CONTAINER_INIT);
	parse_statuses(p, json_get_arr(status, "containerStatuses"), KUBE_CONTAINER_APP);
	parse_statuses(p, json_get_arr(status, "ephemeralContainerStatuses"),
		       KUBE_CONTAINER_EPHEMERAL);
	parse_volumes(p, json_get_arr(spec, "volumes"));

	KUBE_COPY(p->qos, json_get_str(status, "qosClass"), KUBE_CS_KIND);
	KUBE_COPY(p->phase, json_get_str(status, "phase"), KUBE_CS_KIND);
	if (kube_time_parse(json_get_str(status, "startTime"), &p->start_time))
		p->start_time = 0;
	ips = json_get_arr(status, "podIPs");
	n = ips ? json_object_array_length(ips) : 0;
	for (size_t i = 0; i < n && p->n_ips < KUBE_MAX_POD_IPS; i++) {
		const char *ip = json_get_str(json_object_array_get_idx(ips, i), "ip");
		unsigned char buf[16];

		if (ip && strlen(ip) <= KUBE_IP_MAX &&
		    (inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1))
			memcpy(p->ips[p->n_ips++], ip, strlen(ip) + 1);
	}
	if (p->n_ips == 0 && (v = json_get_str(status, "podIP")) && strlen(v) <= KUBE_IP_MAX) {
		unsigned char buf[16];

		if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
			memcpy(p->ips[p->n_ips++], v, strlen(v) + 1);
	}
	*ret = p;
	return 0;
invalid:
	r = -EINVAL;
fail:
	kube_pod_free(p);
	return r;
}

/* ---- watch events and status ---- */

int kube_event_parse(json_object *ev, enum kube_event_type *ret_type, json_object **ret_obj)
{
	static const char *const types[KUBE_EV_MAX] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK",
							"ERROR" };
	const char *type = json_get_str(ev, "type");
	json_object *obj = json_get_obj(ev, "object");

	for (int t = 0; type && obj && t < KUBE_EV_MAX; t++) {
		if (strcmp(type, types[t]) == 0) {
			*ret_type = (enum kube_event_type)t;
			*ret_obj = obj;
			return 0;
		}
	}
	return -EINVAL;
}

void kube_status_parse(json_object *obj, int *ret_code, const char **ret_reason,
		       const char **ret_message)
{
	int64_t code;
	const char *s;

	*ret_code = json_get_int(obj, "code", &code) && code > 0 && code < 1000 ? (int)code : 0;
	*ret_reason = (s = json_get_str(obj, "reason")) ? s : "";
	*ret_message = (s = json_get_str(obj, "message")) ? s : "";
}
