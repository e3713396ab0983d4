#include "kube/kube_parse.h"
#include "base/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- character classes: what we export as label values stays plain ASCII ---- */

enum charset {
	CS_DNS, /* lowercase alphanumerics, '-', '.': object names, namespaces */
	CS_LABEL, /* alphanumerics, '-', '_', '.': label values, Helm release names */
	CS_KEY, /* CS_LABEL plus '/': label keys */
	CS_KIND, /* alphanumerics: kinds */
	CS_UID, /* hex digits and '-' */
	CS_PRINT, /* printable ASCII */
};

static bool char_ok(char c, enum charset cs)
{
	bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
	bool upper = c >= 'A' && c <= 'Z';

	switch (cs) {
	case CS_DNS:
		return alnum || c == '-' || c == '.';
	case CS_LABEL:
		return alnum || upper || c == '-' || c == '_' || c == '.';
	case CS_KEY:
		return alnum || upper || c == '-' || c == '_' || c == '.' || c == '/';
	case CS_KIND:
		return alnum || upper;
	case CS_UID:
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
	case CS_PRINT:
		return c >= 0x20 && c < 0x7f;
	}
	return false;
}

/* Copies s into dst[size] when it is non-empty, fits and is of charset cs. */
static bool copy_checked(char *dst, size_t size, const char *s, enum charset cs)
{
	size_t n;

	if (!s || !*s)
		return false;
	n = strlen(s);
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!char_ok(s[i], cs))
			return false;
	}
	memcpy(dst, s, n + 1);
	return true;
}

#define COPY(dst, s, cs) copy_checked((dst), sizeof(dst), (s), (cs))

/* ---- scalars ---- */

int kube_container_id_parse(const char *s, char ret[CONTAINER_ID_LEN + 1])
{
	const char *id;

	if (!s || !(id = strstr(s, "://")) || id == s)
		return -EINVAL;
	id += 3;
	if (strlen(id) != CONTAINER_ID_LEN)
		return -EINVAL;
	for (size_t i = 0; i < CONTAINER_ID_LEN; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return -EINVAL;
	}
	memcpy(ret, id, CONTAINER_ID_LEN + 1);
	return 0;
}

/* A decimal number with optional fraction and exponent, locale-independent. Sets *ret_end to
 * the first byte after it. */
static int parse_decimal(const char *s, double *ret, const char **ret_end)
{
	double v = 0, scale = 1;
	bool neg = false, digits = false;
	long ex = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++, digits = true)
		v = v * 10 + (*s - '0');
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
			v += (*s - '0') * (scale /= 10);
	}
	if (!digits)
		return -EINVAL;
	/* An exponent only when digits follow: "1E" is one exa, "1e3" is a thousand. */
	if ((*s == 'e' || *s == 'E') &&
	    ((s[1] >= '0' && s[1] <= '9') ||
	     ((s[1] == '+' || s[1] == '-') && s[2] >= '0' && s[2] <= '9'))) {
		bool eneg = false;

		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		for (; *s >= '0' && *s <= '9'; s++) {
			if (ex < 1000)
				ex = ex * 10 + (*s - '0');
		}
		for (long i = 0; i < ex && v != 0; i++)
			v = eneg ? v / 10 : v * 10;
	}
	*ret = neg ? -v : v;
	*ret_end = s;
	return 0;
}

int kube_quantity_parse(const char *s, double *ret)
{
	static const struct {
		const char *sfx;
		double mult;
	} sfx[] = {
		{ "", 1 },
		{ "n", 1e-9 },
		{ "u", 1e-6 },
		{ "m", 1e-3 },
		{ "k", 1e3 },
		{ "M", 1e6 },
		{ "G", 1e9 },
		{ "T", 1e12 },
		{ "P", 1e15 },
		{ "E", 1e18 },
		{ "Ki", 1024.0 },
		{ "Mi", 1048576.0 },
		{ "Gi", 1073741824.0 },
		{ "Ti", 1099511627776.0 },
		{ "Pi", 1125899906842624.0 },
		{ "Ei", 1152921504606846976.0 },
	};
	const char *end;
	double v;

	if (!s || parse_decimal(s, &v, &end))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (strcmp(end, sfx[i].sfx) == 0) {
			v *= sfx[i].mult;
			if (v != v || v > 1e300 || v < -1e300)
				return -EINVAL;
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}

int kube_time_parse(const char *s, double *ret)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, n = 0;
	double frac = 0;
	time_t t;
	long off = 0;
	const char *p;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	p = s + n;
	if (*p == '.') {
		double scale = 1;

		if (!(p[1] >= '0' && p[1] <= '9'))
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++)
			frac += (*p - '0') * (scale /= 10);
	}
	if (*p == 'Z' && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh, om;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
			return -EINVAL;
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
	} else {
		return -EINVAL;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = (double)(t - off) + frac;
	return 0;
}

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
		if (!char_ok(s[i], CS_DNS))
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

/* ---- objects ---- */

static void parse_controller(json_object *meta, struct kube_ref *ret)
{
	json_object *refs = json_get_arr(meta, "ownerReferences");
	size_t n = refs ? json_object_array_length(refs) : 0;

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(refs, i);

		if (!json_get_true(r, "controller"))
			continue;
		if (COPY(ret->kind, json_get_str(r, "kind"), CS_KIND) &&
		    COPY(ret->name, json_get_str(r, "name"), CS_DNS)) {
			if (!COPY(ret->api_version, json_get_str(r, "apiVersion"), CS_KEY))
				ret->api_version[0] = '\0';
			return;
		}
		memset(ret, 0, sizeof(*ret));
	}
}

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
	if (!COPY(c->name, name, CS_DNS))
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
		if (!COPY(kv->name, json_get_str(v, "name"), CS_DNS))
			continue;
		if (json_get_obj(v, "persistentVolumeClaim")) {
			kv->kind = KUBE_VOL_PVC;
			if (!COPY(kv->claim,
				  json_get_str(json_get_obj(v, "persistentVolumeClaim"),
					       "claimName"),
				  CS_DNS))
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
		if (!v || !COPY(kbuf, key, CS_KEY) || (*v && !COPY(vbuf, v, CS_LABEL)))
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

	return COPY(tmp, s, CS_UID);
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

	return COPY(tmp, rv, CS_PRINT) ? rv : NULL;
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
	    !COPY(p->uid, json_get_str(meta, "uid"), CS_UID)) {
		*ret_why = "metadata.uid missing or not a UID string";
		goto invalid;
	}
	if (!COPY(p->name, json_get_str(meta, "name"), CS_DNS)) {
		*ret_why = "metadata.name missing or not a DNS name";
		goto invalid;
	}
	if (!COPY(p->ns, json_get_str(meta, "namespace"), CS_DNS)) {
		*ret_why = "metadata.namespace missing or not a DNS label";
		goto invalid;
	}
	if (!COPY(p->rv, json_get_str(meta, "resourceVersion"), CS_PRINT))
		p->rv[0] = '\0';
	if (!COPY(p->node, json_get_str(spec, "nodeName"), CS_DNS))
		p->node[0] = '\0';
	r = parse_labels(p, json_get_obj(meta, "labels"));
	if (r)
		goto fail;
	if ((v = kube_pod_label(p, "pod-template-hash")))
		COPY(p->template_hash, v, CS_LABEL);
	if ((v = kube_pod_label(p, "app.kubernetes.io/managed-by")) && strcmp(v, "Helm") == 0 &&
	    (v = kube_pod_label(p, "app.kubernetes.io/instance")))
		COPY(p->helm_instance, v, CS_LABEL);
	if ((v = kube_pod_label(p, "helm.sh/chart")))
		COPY(p->helm_chart, v, CS_LABEL);
	COPY(p->ignore_rules,
	     json_get_str(json_get_obj(meta, "annotations"), "bpfdiag.io/ignore-rules"), CS_PRINT);
	if (!uid_ok(json_get_str(json_get_obj(meta, "annotations"),
				 "kubernetes.io/config.mirror")) ||
	    !COPY(p->mirror_uid,
		  json_get_str(json_get_obj(meta, "annotations"), "kubernetes.io/config.mirror"),
		  CS_UID))
		p->mirror_uid[0] = '\0';
	parse_controller(meta, &p->controller);

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

	COPY(p->qos, json_get_str(status, "qosClass"), CS_KIND);
	COPY(p->phase, json_get_str(status, "phase"), CS_KIND);
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

static bool kind_matches(json_object *obj, enum kube_kind kind)
{
	const char *k = json_get_str(obj, "kind");

	return !k || strcmp(k, kube_kind_name(kind)) == 0;
}

int kube_workload_parse(json_object *obj, enum kube_kind kind, struct kube_workload *ret,
			const char **ret_why)
{
	json_object *meta = json_get_obj(obj, "metadata"), *spec = json_get_obj(obj, "spec");
	json_object *ann = json_get_obj(meta, "annotations"), *vct;
	const char *strategy = NULL;
	int64_t replicas;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	*ret_why = NULL;
	if (kind <= KUBE_KIND_POD || kind >= KUBE_KIND_MAX || !meta || !kind_matches(obj, kind)) {
		*ret_why = "not an object of the expected kind";
		return -EINVAL;
	}
	ret->kind = kind;
	if (!COPY(ret->name, json_get_str(meta, "name"), CS_DNS) ||
	    !COPY(ret->ns, json_get_str(meta, "namespace"), CS_DNS)) {
		*ret_why = "metadata.name or metadata.namespace missing or invalid";
		return -EINVAL;
	}
	COPY(ret->helm_release, json_get_str(ann, "meta.helm.sh/release-name"), CS_LABEL);
	COPY(ret->helm_release_ns, json_get_str(ann, "meta.helm.sh/release-namespace"), CS_DNS);
	COPY(ret->ignore_rules, json_get_str(ann, "bpfdiag.io/ignore-rules"), CS_PRINT);
	COPY(ret->helm_chart, json_get_str(json_get_obj(meta, "labels"), "helm.sh/chart"),
	     CS_LABEL);
	parse_controller(meta, &ret->controller);
	ret->replicas = -1;
	switch (kind) {
	case KUBE_KIND_DEPLOYMENT:
	case KUBE_KIND_REPLICASET:
	case KUBE_KIND_STATEFULSET:
		ret->replicas = 1; /* the API default */
		if (json_get_int(spec, "replicas", &replicas) && replicas >= 0 &&
		    replicas < INT32_MAX)
			ret->replicas = (int32_t)replicas;
		break;
	default:
		break;
	}
	if (kind == KUBE_KIND_DEPLOYMENT)
		strategy = json_get_str(json_get_obj(spec, "strategy"), "type");
	else if (kind == KUBE_KIND_STATEFULSET || kind == KUBE_KIND_DAEMONSET)
		strategy = json_get_str(json_get_obj(spec, "updateStrategy"), "type");
	COPY(ret->strategy, strategy, CS_KIND);
	if (kind == KUBE_KIND_STATEFULSET) {
		COPY(ret->service_name, json_get_str(spec, "serviceName"), CS_DNS);
		vct = json_get_arr(spec, "volumeClaimTemplates");
		n = vct ? json_object_array_length(vct) : 0;
		for (size_t i = 0; i < n && ret->n_vct < KUBE_MAX_VCT; i++) {
			json_object *t = json_object_array_get_idx(vct, i);

			if (COPY(ret->vct[ret->n_vct],
				 json_get_str(json_get_obj(t, "metadata"), "name"), CS_DNS))
				ret->n_vct++;
		}
	}
	if (kind == KUBE_KIND_CRONJOB)
		COPY(ret->schedule, json_get_str(spec, "schedule"), CS_PRINT);
	return 0;
}

int kube_pvc_parse(json_object *obj, struct kube_pvc *ret, const char **ret_why)
{
	static const struct {
		const char *name;
		unsigned bit;
	} modes[] = {
		{ "ReadWriteOnce", KUBE_ACCESS_RWO },
		{ "ReadOnlyMany", KUBE_ACCESS_ROX },
		{ "ReadWriteMany", KUBE_ACCESS_RWX },
		{ "ReadWriteOncePod", KUBE_ACCESS_RWOP },
	};
	json_object *meta = json_get_obj(obj, "metadata"), *spec = json_get_obj(obj, "spec");
	json_object *am = json_get_arr(spec, "accessModes");
	const char *k = json_get_str(obj, "kind");
	size_t n = am ? json_object_array_length(am) : 0;

	memset(ret, 0, sizeof(*ret));
	*ret_why = NULL;
	if ((k && strcmp(k, "PersistentVolumeClaim") != 0) ||
	    !COPY(ret->name, json_get_str(meta, "name"), CS_DNS) ||
	    !COPY(ret->ns, json_get_str(meta, "namespace"), CS_DNS)) {
		*ret_why = "not a PersistentVolumeClaim with a name and namespace";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *m = json_str_of(json_object_array_get_idx(am, i));

		for (size_t j = 0; m && j < sizeof(modes) / sizeof(modes[0]); j++) {
			if (strcmp(m, modes[j].name) == 0)
				ret->access_modes |= modes[j].bit;
		}
	}
	COPY(ret->storage_class, json_get_str(spec, "storageClassName"), CS_DNS);
	COPY(ret->volume_name, json_get_str(spec, "volumeName"), CS_DNS);
	COPY(ret->phase, json_get_str(json_get_obj(obj, "status"), "phase"), CS_KIND);
	return 0;
}

void kube_selector_clear(struct kube_selector *sel)
{
	for (unsigned i = 0; i < sel->n_terms; i++) {
		free(sel->terms[i].key);
		for (unsigned j = 0; j < sel->terms[i].n_values; j++)
			free(sel->terms[i].values[j]);
	}
	memset(sel, 0, sizeof(*sel));
	sel->null = true;
}

static struct kube_selector_term *add_term(struct kube_selector *sel, const char *key,
					   enum kube_selector_op op)
{
	struct kube_selector_term *t;
	char kbuf[KUBE_LABEL_KEY_MAX + 1];

	if (sel->n_terms >= KUBE_MAX_SELECTOR || !COPY(kbuf, key, CS_KEY))
		return NULL;
	t = &sel->terms[sel->n_terms];
	memset(t, 0, sizeof(*t));
	t->op = op;
	t->key = strdup(kbuf);
	if (!t->key)
		return NULL;
	sel->n_terms++;
	return t;
}

static int add_value(struct kube_selector_term *t, const char *v)
{
	char vbuf[KUBE_CNAME_MAX + 1] = "";

	if (!v || t->n_values >= KUBE_MAX_SELECTOR_VALUES || (*v && !COPY(vbuf, v, CS_LABEL)))
		return -EINVAL;
	t->values[t->n_values] = strdup(vbuf);
	if (!t->values[t->n_values])
		return -ENOMEM;
	t->n_values++;
	return 0;
}

int kube_selector_parse(json_object *obj, struct kube_selector *ret)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	json_object *ml = json_get_obj(obj, "matchLabels"),
		    *me = json_get_arr(obj, "matchExpressions");
	size_t n = me ? json_object_array_length(me) : 0;
	int r = -EINVAL;

	memset(ret, 0, sizeof(*ret));
	ret->null = true;
	if (!obj || !json_object_is_type(obj, json_type_object))
		return obj ? -EINVAL : 0;
	ret->null = false;
	if (ml) {
		json_object_object_foreach(ml, key, val) {
			struct kube_selector_term *t = add_term(ret, key, KUBE_SEL_IN);

			if (!t || (r = add_value(t, json_str_of(val))))
				goto bad;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(me, i), *vals;
		const char *op = json_get_str(e, "operator");
		struct kube_selector_term *t = NULL;
		size_t nv;

		for (unsigned o = 0; op && o < 4 && !t; o++) {
			if (strcmp(op, ops[o]) == 0 &&
			    !(t = add_term(ret, json_get_str(e, "key"), (enum kube_selector_op)o)))
				goto bad;
		}
		if (!t)
			goto bad;
		vals = json_get_arr(e, "values");
		nv = vals ? json_object_array_length(vals) : 0;
		for (size_t j = 0; j < nv; j++) {
			if ((r = add_value(t, json_str_of(json_object_array_get_idx(vals, j)))))
				goto bad;
		}
	}
	return 0;
bad:
	kube_selector_clear(ret);
	return r == -ENOMEM ? -ENOMEM : -EINVAL;
}

bool kube_selector_matches(const struct kube_selector *sel, const struct kube_pod *pod)
{
	if (sel->null)
		return false;
	for (unsigned i = 0; i < sel->n_terms; i++) {
		const struct kube_selector_term *t = &sel->terms[i];
		const char *v = kube_pod_label(pod, t->key);
		bool in = false;

		for (unsigned j = 0; v && j < t->n_values; j++)
			in |= strcmp(v, t->values[j]) == 0;
		switch (t->op) {
		case KUBE_SEL_IN:
			if (!in)
				return false;
			break;
		case KUBE_SEL_NOT_IN:
			if (in)
				return false;
			break;
		case KUBE_SEL_EXISTS:
			if (!v)
				return false;
			break;
		case KUBE_SEL_NOT_EXISTS:
			if (v)
				return false;
			break;
		}
	}
	return true;
}

/* An intstr field (minAvailable: 2 or "50%") as text. */
static void intstr(json_object *o, const char *k, char *dst, size_t size)
{
	json_object *v = json_get(o, k);
	int64_t i;

	dst[0] = '\0';
	if (json_get_int(o, k, &i))
		snprintf(dst, size, "%lld", (long long)i);
	else
		copy_checked(dst, size, json_str_of(v), CS_PRINT);
}

static json_object *list_items(json_object *list)
{
	return json_object_is_type(list, json_type_object) ? json_get_arr(list, "items") : NULL;
}

void kube_pdbs_free(struct kube_pdb *p, unsigned n)
{
	for (unsigned i = 0; p && i < n; i++)
		kube_selector_clear(&p[i].selector);
	free(p);
}

int kube_pdb_list_parse(json_object *list, struct kube_pdb **ret, unsigned *ret_n,
			bool *ret_truncated)
{
	json_object *items = list_items(list);
	size_t n = items ? json_object_array_length(items) : 0;
	struct kube_pdb *out;
	unsigned k = 0;

	if (!items)
		return -EINVAL;
	*ret_truncated = n > KUBE_MAX_NS_ITEMS;
	out = calloc(n < KUBE_MAX_NS_ITEMS ? (n ? n : 1) : KUBE_MAX_NS_ITEMS, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n && k < KUBE_MAX_NS_ITEMS; i++) {
		json_object *it = json_object_array_get_idx(items, i),
			    *spec = json_get_obj(it, "spec");
		struct kube_pdb *p = &out[k];
		int r;

		if (!COPY(p->name, json_get_str(json_get_obj(it, "metadata"), "name"), CS_DNS))
			continue;
		r = kube_selector_parse(json_get(spec, "selector"), &p->selector);
		if (r == -ENOMEM) {
			kube_pdbs_free(out, k);
			return r;
		}
		intstr(spec, "minAvailable", p->min_available, sizeof(p->min_available));
		intstr(spec, "maxUnavailable", p->max_unavailable, sizeof(p->max_unavailable));
		k++;
	}
	*ret = out;
	*ret_n = k;
	return 0;
}

int kube_hpa_list_parse(json_object *list, struct kube_hpa **ret, unsigned *ret_n,
			bool *ret_truncated)
{
	json_object *items = list_items(list);
	size_t n = items ? json_object_array_length(items) : 0;
	struct kube_hpa *out;
	unsigned k = 0;

	if (!items)
		return -EINVAL;
	*ret_truncated = n > KUBE_MAX_NS_ITEMS;
	out = calloc(n < KUBE_MAX_NS_ITEMS ? (n ? n : 1) : KUBE_MAX_NS_ITEMS, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n && k < KUBE_MAX_NS_ITEMS; i++) {
		json_object *it = json_object_array_get_idx(items, i),
			    *spec = json_get_obj(it, "spec");
		json_object *ref = json_get_obj(spec, "scaleTargetRef");
		struct kube_hpa *h = &out[k];
		int64_t v;

		if (!COPY(h->name, json_get_str(json_get_obj(it, "metadata"), "name"), CS_DNS) ||
		    !COPY(h->target_kind, json_get_str(ref, "kind"), CS_KIND) ||
		    !COPY(h->target_name, json_get_str(ref, "name"), CS_DNS))
			continue;
		h->min_replicas = json_get_int(spec, "minReplicas", &v) && v >= 0 && v < INT32_MAX ?
					  (int32_t)v :
					  1;
		h->max_replicas = json_get_int(spec, "maxReplicas", &v) && v >= 0 && v < INT32_MAX ?
					  (int32_t)v :
					  -1;
		k++;
	}
	*ret = out;
	*ret_n = k;
	return 0;
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

/* ---- the stream splitter ---- */

#define STREAM_DEPTH 64 /* pods nest about 20 deep (managedFields); json-c's default is 32 */
#define STREAM_SLICE (1u << 20)

struct kube_stream {
	json_tokener *tok;
	size_t max;
	size_t len; /* bytes of the current value so far */
	uint64_t depth;
	bool in_value;
	bool in_string;
	bool escape;
	bool skipping; /* over the cap: scanned, not parsed */
	bool bad; /* json-c rejected it: scanned to its end, then reported */
};

struct kube_stream *kube_stream_new(size_t max_value)
{
	struct kube_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tok = json_tokener_new_ex(STREAM_DEPTH);
	if (!s->tok) {
		free(s);
		return NULL;
	}
	s->max = max_value;
	return s;
}

struct kube_stream *kube_stream_free(struct kube_stream *s)
{
	if (!s)
		return NULL;
	json_tokener_free(s->tok);
	free(s);
	return NULL;
}

void kube_stream_reset(struct kube_stream *s)
{
	json_tokener_reset(s->tok);
	s->len = 0;
	s->depth = 0;
	s->in_value = s->in_string = s->escape = s->skipping = s->bad = false;
}

bool kube_stream_partial(const struct kube_stream *s)
{
	return s->in_value;
}

/* Feeds one slice of the current value to json-c. done: the scanner saw the value end. */
static json_object *tokenize(struct kube_stream *s, const char *p, size_t n, bool done)
{
	json_object *v;

	if (s->skipping || s->bad)
		return NULL;
	v = json_tokener_parse_ex(s->tok, p, (int)n);
	if (done) {
		if (!v)
			s->bad = true;
		return v;
	}
	/* json-c finished before the scanner did, or failed: the value is bad either way. */
	if (v || json_tokener_get_error(s->tok) != json_tokener_continue)
		s->bad = true;
	json_object_put(v);
	return NULL;
}

int kube_stream_feed(struct kube_stream *s, const char *buf, size_t len, kube_stream_fn fn,
		     void *ctx)
{
	size_t i = 0;

	while (i < len) {
		size_t start, n, limit;
		bool done = false;
		json_object *v;
		int r;

		if (!s->in_value) {
			char c = buf[i];

			if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
				i++;
				continue;
			}
			if (c != '{' && c != '[')
				return -EBADMSG;
			kube_stream_reset(s);
			s->in_value = true;
		}
		start = i;
		limit = len - i > STREAM_SLICE ? i + STREAM_SLICE : len;
		for (; i < limit; i++) {
			char c = buf[i];

			if (s->in_string) {
				if (s->escape)
					s->escape = false;
				else if (c == '\\')
					s->escape = true;
				else if (c == '"')
					s->in_string = false;
				continue;
			}
			if (c == '"') {
				s->in_string = true;
			} else if (c == '{' || c == '[') {
				s->depth++;
			} else if ((c == '}' || c == ']') && --s->depth == 0) {
				i++;
				done = true;
				break;
			}
		}
		n = i - start;
		s->len += n;
		if (!s->skipping && s->len > s->max) {
			s->skipping = true;
			json_tokener_reset(s->tok);
		}
		v = tokenize(s, buf + start, n, done);
		if (!done)
			continue;
		r = s->skipping ? fn(ctx, NULL, -E2BIG) :
		    s->bad	? fn(ctx, NULL, -EBADMSG) :
				  fn(ctx, v, 0);
		json_object_put(v);
		kube_stream_reset(s);
		if (r)
			return r;
	}
	return 0;
}
