#include "top/top_model.h"
#include "base/json.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Documents come from the network: bound what one of them can make us allocate. */
#define TOP_MAX_PODS 100000
#define TOP_MAX_CONTAINERS 1000
#define TOP_MAX_FINDINGS 100000
#define TOP_MAX_EVIDENCE 64

static int dup_into(char **dst, const char *s)
{
	*dst = strdup(s ? s : "");
	return *dst ? 0 : -ENOMEM;
}

static void container_clear(struct top_container *c)
{
	free(c->name);
	free(c->id);
	free(c->cgroup_path);
}

static void pod_clear(struct top_pod *p)
{
	free(p->ns);
	free(p->pod);
	free(p->uid);
	free(p->kind);
	free(p->workload);
	free(p->release);
	free(p->key);
	free(p->finding_ids);
	for (size_t i = 0; i < p->n_ctrs; i++)
		container_clear(&p->ctrs[i]);
	free(p->ctrs);
}

static void finding_clear(struct top_finding *f)
{
	char **strs[] = { &f->ns,	&f->kind,      &f->workload, &f->release, &f->rule,
			  &f->severity, &f->suggested, &f->message,  &f->since };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	for (size_t i = 0; i < f->n_ev; i++)
		free(f->ev[i].name);
	free(f->ev);
}

static void findings_free(struct top_finding *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		finding_clear(&fs[i]);
	free(fs);
}

struct top_snapshot *top_snapshot_free(struct top_snapshot *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_pods; i++)
		pod_clear(&s->pods[i]);
	free(s->pods);
	findings_free(s->findings, s->n_findings);
	free(s->node);
	free(s);
	return NULL;
}

static void ports_text(json_object *c, char *buf, size_t size)
{
	json_object *ports;
	size_t len = 0;

	buf[0] = '\0';
	if (!json_object_object_get_ex(c, "listening_ports", &ports) ||
	    !json_object_is_type(ports, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(ports) && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%d", len ? "," : "",
				 json_object_get_int(json_object_array_get_idx(ports, i)));

		if (n < 0 || (size_t)n >= size - len) {
			buf[len] = '\0';
			return;
		}
		len += (size_t)n;
	}
}

static int parse_container(json_object *c, struct top_container *ret)
{
	json_object *v;

	if (dup_into(&ret->name, json_get_str_or_empty(c, "name")) ||
	    dup_into(&ret->id, json_get_str_or_empty(c, "id")) ||
	    dup_into(&ret->cgroup_path, json_get_str_or_empty(c, "cgroup_path")))
		return -ENOMEM;
	if (json_object_object_get_ex(c, "cgroup_id", &v))
		ret->cgroup_id = json_object_get_uint64(v);
	ret->r = (struct top_rates){
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
	};
	ports_text(c, ret->ports, sizeof(ret->ports));
	return 0;
}

static void rates_add(struct top_rates *sum, const struct top_rates *r)
{
	sum->cpu_pct += r->cpu_pct;
	if (r->runq_p99 > sum->runq_p99)
		sum->runq_p99 = r->runq_p99;
	sum->disk_r += r->disk_r;
	sum->disk_w += r->disk_w;
	sum->iops += r->iops;
	sum->fs_w += r->fs_w;
	sum->fsync += r->fsync;
	sum->net_rx += r->net_rx;
	sum->net_tx += r->net_tx;
	sum->retrans += r->retrans;
}

static int parse_pod(json_object *p, struct top_pod *ret)
{
	json_object *cs, *cores;
	size_t n = 0, keylen;

	if (dup_into(&ret->ns, json_get_str_or_empty(p, "namespace")) ||
	    dup_into(&ret->pod, json_get_str_or_empty(p, "pod")) ||
	    dup_into(&ret->uid, json_get_str_or_empty(p, "uid")) ||
	    dup_into(&ret->kind, json_get_str_or_empty(p, "workload_kind")) ||
	    dup_into(&ret->workload, json_get_str_or_empty(p, "workload")) ||
	    dup_into(&ret->release, json_get_str_or_empty(p, "helm_release")) ||
	    dup_into(&ret->finding_ids, ""))
		return -ENOMEM;
	keylen = strlen(ret->uid) + strlen(ret->ns) + strlen(ret->kind) + strlen(ret->workload) +
		 strlen(ret->pod) + 8;
	ret->key = malloc(keylen);
	if (!ret->key)
		return -ENOMEM;
	if (ret->uid[0])
		snprintf(ret->key, keylen, "%s", ret->uid);
	else
		snprintf(ret->key, keylen, "%s/%s/%s/%s", ret->ns, ret->kind, ret->workload,
			 ret->pod);
	if (json_object_object_get_ex(p, "containers", &cs) &&
	    json_object_is_type(cs, json_type_array))
		n = json_object_array_length(cs);
	if (n > TOP_MAX_CONTAINERS)
		n = TOP_MAX_CONTAINERS;
	ret->ctrs = calloc(n ? n : 1, sizeof(*ret->ctrs));
	if (!ret->ctrs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ret->n_ctrs++;
		if (parse_container(json_object_array_get_idx(cs, i), &ret->ctrs[i]))
			return -ENOMEM;
		rates_add(&ret->r, &ret->ctrs[i].r);
	}
	/* The pod's own total wins when present: it is what the agent computed. */
	if (json_object_object_get_ex(p, "cpu_cores", &cores))
		ret->r.cpu_pct = json_get_num(p, "cpu_cores") * 100;
	return 0;
}

int top_snapshot_parse(const char *doc, struct top_snapshot **ret)
{
	json_object *root = doc ? json_tokener_parse(doc) : NULL, *pods;
	struct top_snapshot *s = NULL;
	size_t n;
	int r = -ENOMEM;

	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "pods", &pods) ||
	    !json_object_is_type(pods, json_type_array)) {
		json_object_put(root);
		return -EINVAL;
	}
	n = json_object_array_length(pods);
	if (n > TOP_MAX_PODS)
		n = TOP_MAX_PODS;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->pods = calloc(n ? n : 1, sizeof(*s->pods));
	if (!s->pods || dup_into(&s->node, json_get_str_or_empty(root, "node")))
		goto out;
	s->time = json_get_num(root, "time");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pods, i);

		if (!json_object_is_type(p, json_type_object))
			continue;
		if (parse_pod(p, &s->pods[s->n_pods++]))
			goto out;
		rates_add(&s->total, &s->pods[s->n_pods - 1].r);
	}
	snprintf(s->findings_note, sizeof(s->findings_note), "not read");
	snprintf(s->health_note, sizeof(s->health_note), "not read");
	*ret = s;
	s = NULL;
	r = 0;
out:
	top_snapshot_free(s);
	json_object_put(root);
	return r;
}

enum top_severity top_severity_parse(const char *s)
{
	static const char *const names[] = { "", "info", "low", "medium", "high", "critical" };

	for (int i = TOP_SEV_CRITICAL; i > TOP_SEV_NONE; i--) {
		if (strcasecmp(s, names[i]) == 0)
			return (enum top_severity)i;
	}
	return TOP_SEV_NONE;
}

const char *top_severity_tag(enum top_severity sev)
{
	static const char *const tags[] = { "", "INFO", "LOW", "MED", "HIGH", "CRIT" };

	return (unsigned)sev <= TOP_SEV_CRITICAL ? tags[sev] : "";
}

static int parse_finding(json_object *o, struct top_finding *f)
{
	json_object *ev;

	if (dup_into(&f->ns, json_get_str_or_empty(o, "namespace")) ||
	    dup_into(&f->kind, json_get_str_or_empty(o, "workload_kind")) ||
	    dup_into(&f->workload, json_get_str_or_empty(o, "workload")) ||
	    dup_into(&f->release, json_get_str_or_empty(o, "helm_release")) ||
	    dup_into(&f->rule, json_get_str_or_empty(o, "rule")) ||
	    dup_into(&f->severity, json_get_str_or_empty(o, "severity")) ||
	    dup_into(&f->suggested, json_get_str_or_empty(o, "suggested_kind")) ||
	    dup_into(&f->message, json_get_str_or_empty(o, "message")) ||
	    dup_into(&f->since, json_get_str_or_empty(o, "since")))
		return -ENOMEM;
	f->sev = top_severity_parse(f->severity);
	if (!json_object_object_get_ex(o, "evidence", &ev) ||
	    !json_object_is_type(ev, json_type_object))
		return 0;
	f->ev = calloc(TOP_MAX_EVIDENCE, sizeof(*f->ev));
	if (!f->ev)
		return -ENOMEM;
	json_object_object_foreach(ev, k, v) {
		if (f->n_ev == TOP_MAX_EVIDENCE)
			break;
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			continue;
		if (dup_into(&f->ev[f->n_ev].name, k))
			return -ENOMEM;
		f->ev[f->n_ev++].value = json_object_get_double(v);
	}
	return 0;
}

static int cmp_findings(const void *a, const void *b)
{
	const struct top_finding *x = a, *y = b;
	int c;

	if (x->sev != y->sev)
		return x->sev > y->sev ? -1 : 1;
	if ((c = strcmp(x->ns, y->ns)) || (c = strcmp(x->workload, y->workload)) ||
	    (c = strcmp(x->kind, y->kind)) || (c = strcmp(x->rule, y->rule)))
		return c;
	return strcmp(x->message, y->message);
}

static bool finding_of(const struct top_finding *f, const struct top_pod *p)
{
	return strcmp(f->ns, p->ns) == 0 && strcmp(f->kind, p->kind) == 0 &&
	       strcmp(f->workload, p->workload) == 0;
}

/* Rule ids of p's findings in findings order (worst first), each once. */
static int tag_pod(struct top_pod *p, const struct top_finding *fs, size_t n)
{
	size_t len = 0, cap = 1;
	char *ids;

	for (size_t i = 0; i < n; i++)
		cap += finding_of(&fs[i], p) ? strlen(fs[i].rule) + 1 : 0;
	ids = calloc(1, cap);
	if (!ids)
		return -ENOMEM;
	p->worst = TOP_SEV_NONE;
	for (size_t i = 0; i < n; i++) {
		const char *rule = fs[i].rule, *hit;
		size_t rl = strlen(rule);
		bool dup = false;

		if (!finding_of(&fs[i], p) || !rl)
			continue;
		if (fs[i].sev > p->worst)
			p->worst = fs[i].sev;
		for (hit = strstr(ids, rule); hit && !dup; hit = strstr(hit + 1, rule))
			dup = (hit == ids || hit[-1] == ',') && (hit[rl] == ',' || !hit[rl]);
		if (dup)
			continue;
		len += (size_t)snprintf(ids + len, cap - len, "%s%s", len ? "," : "", rule);
	}
	free(p->finding_ids);
	p->finding_ids = ids;
	return 0;
}

int top_snapshot_set_findings(struct top_snapshot *s, const char *doc)
{
	json_object *root = doc ? json_tokener_parse(doc) : NULL, *arr;
	struct top_finding *fs = NULL;
	size_t n, got = 0;
	int r = -ENOMEM;

	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "findings", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
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
	qsort(fs, got, sizeof(*fs), cmp_findings);
	for (size_t i = 0; i < s->n_pods; i++) {
		if (tag_pod(&s->pods[i], fs, got))
			goto out;
	}
	findings_free(s->findings, s->n_findings);
	s->findings = fs;
	s->n_findings = got;
	s->findings_known = true;
	s->findings_note[0] = '\0';
	fs = NULL;
	got = 0;
	r = 0;
out:
	findings_free(fs, got);
	json_object_put(root);
	return r;
}

/* The value of label k in an exposition label list (`a="x",b="y"`), into buf. */
static bool label_value(const char *labels, const char *k, char *buf, size_t size)
{
	const char *p = labels;
	size_t kl = strlen(k);

	while (*p) {
		const char *eq = strchr(p, '=');
		bool match;
		size_t i = 0;

		if (!eq || eq[1] != '"')
			return false;
		match = (size_t)(eq - p) == kl && strncmp(p, k, kl) == 0;
		for (p = eq + 2; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (match && i + 1 < size)
				buf[i++] = *p;
		}
		if (match) {
			buf[i] = '\0';
			return true;
		}
		if (!*p)
			return false;
		p++;
		if (*p == ',')
			p++;
	}
	return false;
}

void top_health_sample(struct top_health *h, const char *name, const char *labels, double value)
{
	char family[32];

	if (strncmp(name, "bpfdiag_agent_", 14) != 0 || !isfinite(value))
		return;
	name += 14;
	h->known = true;
	if (strcmp(name, "collections_total") == 0) {
		h->collections = value;
	} else if (strcmp(name, "collection_errors_total") == 0) {
		h->collection_errors = value;
	} else if (strcmp(name, "collection_duration_seconds") == 0) {
		h->collection_seconds = value;
	} else if (strcmp(name, "start_time_seconds") == 0) {
		h->start_time = value;
	} else if (strcmp(name, "map_overflow_total") == 0) {
		h->map_overflow += value;
	} else if (strcmp(name, "probe_up") == 0) {
		h->probes_total++;
		if (value > 0) {
			h->probes_up++;
		} else if (label_value(labels ? labels : "", "family", family, sizeof(family))) {
			size_t len = strlen(h->probes_down);

			snprintf(h->probes_down + len, sizeof(h->probes_down) - len, "%s%s",
				 len ? " " : "", family);
		}
	}
}

/* Parses `name{labels} value` (labels optional) in a NUL-terminated line. */
static bool parse_sample(char *line, char **ret_name, char **ret_labels, double *ret_value)
{
	char *sp, *brace = strchr(line, '{'), *end;
	size_t nl = strcspn(line, "{ ");

	*ret_labels = line + strlen(line); /* "" */
	if (brace && brace == line + nl) {
		char *close = strrchr(brace, '}');

		if (!close)
			return false;
		*close = '\0';
		*ret_labels = brace + 1;
		sp = close + 1;
	} else {
		sp = line + nl;
	}
	if (*sp != ' ')
		return false;
	line[nl] = '\0';
	*ret_value = strtod(sp + 1, &end);
	*ret_name = line;
	return end != sp + 1;
}

int top_health_parse_prom(struct top_health *h, const char *text)
{
	int used = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[1024], *name, *labels;
		double v;

		if (len < sizeof(buf) && strncmp(line, "bpfdiag_agent_", 14) == 0) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			if (parse_sample(buf, &name, &labels, &v)) {
				top_health_sample(h, name, labels, v);
				used++;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return used;
}

static const char *const sort_names[TOP_SORT_MAX] = { "cpu",   "runq", "disk",	  "iops",
						      "fsync", "net",  "retrans", "name" };

const char *top_sort_name(enum top_sort key)
{
	return (unsigned)key < TOP_SORT_MAX ? sort_names[key] : "?";
}

int top_sort_parse(const char *s, enum top_sort *ret)
{
	for (int i = 0; i < TOP_SORT_MAX; i++) {
		if (strcmp(s, sort_names[i]) == 0) {
			*ret = (enum top_sort)i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool has_ci(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle) != NULL;
}

bool top_pod_matches(const struct top_pod *p, const struct top_filter *f)
{
	const char *t;

	if (!f)
		return true;
	if (f->ns && f->ns[0] && strcmp(f->ns, p->ns) != 0)
		return false;
	if (f->release && f->release[0] && strcmp(f->release, p->release) != 0)
		return false;
	t = f->text;
	if (!t || !t[0])
		return true;
	if (has_ci(p->ns, t) || has_ci(p->pod, t) || has_ci(p->kind, t) || has_ci(p->workload, t) ||
	    has_ci(p->release, t) || has_ci(p->finding_ids, t) || has_ci(p->uid, t))
		return true;
	for (size_t i = 0; i < p->n_ctrs; i++) {
		if (has_ci(p->ctrs[i].name, t) || has_ci(p->ctrs[i].id, t) ||
		    has_ci(p->ctrs[i].cgroup_path, t))
			return true;
	}
	return false;
}

bool top_finding_matches(const struct top_finding *fi, const struct top_filter *f)
{
	const char *t;

	if (!f)
		return true;
	if (f->ns && f->ns[0] && strcmp(f->ns, fi->ns) != 0)
		return false;
	if (f->release && f->release[0] && strcmp(f->release, fi->release) != 0)
		return false;
	t = f->text;
	return !t || !t[0] || has_ci(fi->ns, t) || has_ci(fi->kind, t) || has_ci(fi->workload, t) ||
	       has_ci(fi->release, t) || has_ci(fi->rule, t) || has_ci(fi->message, t);
}

bool top_keyset_has(const struct top_keyset *ks, const char *key)
{
	for (size_t i = 0; ks && i < ks->n; i++) {
		if (strcmp(ks->keys[i], key) == 0)
			return true;
	}
	return false;
}

int top_keyset_toggle(struct top_keyset *ks, const char *key)
{
	char **keys, *k;

	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(ks->keys[i], key) == 0) {
			free(ks->keys[i]);
			ks->keys[i] = ks->keys[--ks->n];
			return 0;
		}
	}
	keys = realloc(ks->keys, (ks->n + 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	ks->keys = keys;
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	ks->keys[ks->n++] = k;
	return 0;
}

void top_keyset_clear(struct top_keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		free(ks->keys[i]);
	free(ks->keys);
	*ks = (struct top_keyset){ 0 };
}

static double sort_value(const struct top_rates *r, enum top_sort key)
{
	switch (key) {
	case TOP_SORT_RUNQ:
		return r->runq_p99;
	case TOP_SORT_DISK:
		return r->disk_r + r->disk_w;
	case TOP_SORT_IOPS:
		return r->iops;
	case TOP_SORT_FSYNC:
		return r->fsync;
	case TOP_SORT_NET:
		return r->net_rx + r->net_tx;
	case TOP_SORT_RETRANS:
		return r->retrans;
	case TOP_SORT_NAME:
		return 0;
	case TOP_SORT_CPU:
	case TOP_SORT_MAX:
		break;
	}
	return r->cpu_pct;
}

/* qsort has no context argument: the key travels beside the element. */
struct sortable {
	const void *item;
	double v;
	const char *names[4];
};

static int cmp_sortable(const void *a, const void *b)
{
	const struct sortable *x = a, *y = b;
	int c;

	if (x->v != y->v)
		return x->v < y->v ? 1 : -1;
	for (int i = 0; i < 4; i++) {
		if ((c = strcmp(x->names[i], y->names[i])))
			return c;
	}
	return 0;
}

int top_rows_build(const struct top_snapshot *s, enum top_sort key, const struct top_filter *f,
		   const struct top_keyset *expanded, struct top_row **ret, size_t *ret_n)
{
	struct sortable *pods = calloc(s->n_pods ? s->n_pods : 1, sizeof(*pods)), *cs = NULL;
	struct top_row *rows = NULL;
	size_t np = 0, nr = 0, cap = 0;

	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_pods; i++) {
		const struct top_pod *p = &s->pods[i];

		if (!top_pod_matches(p, f))
			continue;
		pods[np++] = (struct sortable){ p,
						sort_value(&p->r, key),
						{ p->ns, p->workload, p->pod, p->key } };
		cap += 1 + (top_keyset_has(expanded, p->key) ? p->n_ctrs : 0);
	}
	qsort(pods, np, sizeof(*pods), cmp_sortable);
	rows = calloc(cap ? cap : 1, sizeof(*rows));
	if (!rows)
		goto oom;
	for (size_t i = 0; i < np; i++) {
		const struct top_pod *p = pods[i].item;

		rows[nr++] = (struct top_row){ .pod = p };
		if (!top_keyset_has(expanded, p->key) || !p->n_ctrs)
			continue;
		free(cs);
		cs = calloc(p->n_ctrs, sizeof(*cs));
		if (!cs)
			goto oom;
		for (size_t c = 0; c < p->n_ctrs; c++)
			cs[c] = (struct sortable){ &p->ctrs[c],
						   sort_value(&p->ctrs[c].r, key),
						   { p->ctrs[c].name, p->ctrs[c].id, "", "" } };
		qsort(cs, p->n_ctrs, sizeof(*cs), cmp_sortable);
		for (size_t c = 0; c < p->n_ctrs; c++)
			rows[nr++] = (struct top_row){ .pod = p, .ctr = cs[c].item };
	}
	free(cs);
	free(pods);
	*ret = rows;
	*ret_n = nr;
	return 0;
oom:
	free(cs);
	free(pods);
	free(rows);
	return -ENOMEM;
}

static const struct {
	const char *title;
	int width, min; /* min 0: numeric, fixed width, right-aligned */
	bool keep_end; /* cut long values keeping the end (paths, ids), else the start */
} cols[TOP_COL_MAX] = {
	[TOP_COL_NS] = { "NAMESPACE", 14, 9, false },
	[TOP_COL_POD] = { "POD", 20, 14, false },
	[TOP_COL_KIND] = { "KIND", 14, 10, false },
	[TOP_COL_WORKLOAD] = { "WORKLOAD", 34, 14, true },
	[TOP_COL_CPU] = { "CPU%", 6, 0, false },
	[TOP_COL_RUNQ] = { "RQP99", 7, 0, false },
	[TOP_COL_DISK_R] = { "DISK_R", 7, 0, false },
	[TOP_COL_DISK_W] = { "DISK_W", 7, 0, false },
	[TOP_COL_IOPS] = { "IOPS", 6, 0, false },
	[TOP_COL_FSYNC] = { "FSYNC", 6, 0, false },
	[TOP_COL_NET_RX] = { "NET_RX", 7, 0, false },
	[TOP_COL_NET_TX] = { "NET_TX", 7, 0, false },
	[TOP_COL_RETRANS] = { "RETR", 5, 0, false },
	[TOP_COL_RELEASE] = { "RELEASE", 14, 10, false },
	[TOP_COL_FINDINGS] = { "FINDINGS", 16, 11, false },
};

void top_layout(int width, int widths[TOP_COL_MAX])
{
	/* On narrow screens these go first, in this order; pod, workload, CPU, disk writes,
	 * fsync, received bytes and findings stay. */
	static const enum top_col drop[] = { TOP_COL_KIND,    TOP_COL_RETRANS, TOP_COL_IOPS,
					     TOP_COL_RUNQ,    TOP_COL_NET_TX,  TOP_COL_DISK_R,
					     TOP_COL_RELEASE, TOP_COL_NS };
	bool shown[TOP_COL_MAX];
	int fixed, pref, mins, n_drop = 0;

	for (int i = 0; i < TOP_COL_MAX; i++) {
		widths[i] = cols[i].width;
		shown[i] = true;
	}
	if (width <= 0)
		return;
	for (;;) {
		fixed = -1; /* n columns have n - 1 separators */
		pref = mins = 0;
		for (int i = 0; i < TOP_COL_MAX; i++) {
			if (!shown[i])
				continue;
			fixed++;
			if (cols[i].min) {
				pref += cols[i].width;
				mins += cols[i].min;
			} else {
				fixed += cols[i].width;
			}
		}
		if (width - fixed >= mins || n_drop == (int)(sizeof(drop) / sizeof(drop[0])))
			break;
		shown[drop[n_drop++]] = false;
	}
	for (int i = 0; i < TOP_COL_MAX; i++)
		widths[i] = shown[i] ? (cols[i].min ? cols[i].min : cols[i].width) : 0;
	if (width - fixed <= mins)
		return;
	if (width - fixed >= pref) {
		/* Room to spare: the names that get long (workload, pod) take it. */
		int extra = width - fixed - pref;

		for (int i = 0; i < TOP_COL_MAX; i++)
			widths[i] = shown[i] ? cols[i].width : 0;
		widths[TOP_COL_WORKLOAD] += extra / 2;
		widths[TOP_COL_POD] += extra - extra / 2;
		return;
	}
	/* Between: every text column gives up the same share of its slack. */
	{
		int avail = width - fixed - mins, slack = pref - mins, used = 0;

		for (int i = 0; i < TOP_COL_MAX; i++) {
			if (!shown[i] || !cols[i].min)
				continue;
			widths[i] = cols[i].min + (cols[i].width - cols[i].min) * avail / slack;
			used += widths[i];
		}
		widths[TOP_COL_WORKLOAD] += width - fixed - used;
	}
}

int top_sort_column(enum top_sort key)
{
	static const int by_key[TOP_SORT_MAX] = {
		[TOP_SORT_CPU] = TOP_COL_CPU,	      [TOP_SORT_RUNQ] = TOP_COL_RUNQ,
		[TOP_SORT_DISK] = TOP_COL_DISK_R,     [TOP_SORT_IOPS] = TOP_COL_IOPS,
		[TOP_SORT_FSYNC] = TOP_COL_FSYNC,     [TOP_SORT_NET] = TOP_COL_NET_RX,
		[TOP_SORT_RETRANS] = TOP_COL_RETRANS, [TOP_SORT_NAME] = -1,
	};

	return (unsigned)key < TOP_SORT_MAX ? by_key[key] : -1;
}

int top_column_offset(const int widths[TOP_COL_MAX], enum top_col col)
{
	int off = 0;

	for (int i = 0; i < (int)col && i < TOP_COL_MAX; i++)
		off += widths[i] ? widths[i] + 1 : 0;
	return off;
}

/* Appends s in a cell of width w, "-" when empty, left-aligned for text, right-aligned for
 * numbers. A long value is cut with a '~' where text was dropped: at the start when keep_end
 * (paths and ids end in their distinctive part), else in the middle, keeping the last
 * '-'-separated part (a replica suffix "-k2j3h", an ordinal "-0") so that replicas differ. */
static size_t cell(char *buf, size_t size, size_t len, const char *s, int w, bool left,
		   bool keep_end, bool last)
{
	char tmp[1024];
	size_t n = strlen(s);
	int k;

	if (len >= size)
		return len;
	if (w <= 0 || w >= (int)sizeof(tmp))
		w = w <= 0 ? 1 : (int)sizeof(tmp) - 1;
	if (!n)
		snprintf(tmp, sizeof(tmp), "-");
	else if (n <= (size_t)w)
		snprintf(tmp, sizeof(tmp), "%s", s);
	else if (w == 1)
		snprintf(tmp, sizeof(tmp), "~");
	else if (keep_end)
		snprintf(tmp, sizeof(tmp), "~%s", s + n - (size_t)(w - 1));
	else {
		const char *dash = strrchr(s, '-');
		size_t tail = dash && dash != s ? n - (size_t)(dash - s) : 0;

		if (!tail || tail > (size_t)(w - 1) / 2)
			tail = (size_t)(w - 1) / 2;
		snprintf(tmp, sizeof(tmp), "%.*s~%s", w - 1 - (int)tail, s, s + n - tail);
	}
	if (left && last)
		k = snprintf(buf + len, size - len, "%s", tmp);
	else
		k = snprintf(buf + len, size - len, left ? "%-*s%s" : "%*s%s", w, tmp,
			     last ? "" : " ");
	if (k < 0)
		return len;
	return len + (size_t)k >= size ? size - 1 : len + (size_t)k;
}

char *top_format_title(const int widths[TOP_COL_MAX], char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < TOP_COL_MAX; i++) {
		if (widths[i])
			len = cell(buf, size, len, cols[i].title, widths[i], cols[i].min != 0,
				   false, i == TOP_COL_MAX - 1);
	}
	return buf;
}

char *top_fmt_bytes(double bps, char *buf, size_t size)
{
	static const char *const units[] = { "B", "K", "M", "G", "T" };
	int u = 0;

	while (bps >= 1000 && u < 4) {
		bps /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f%s" : "%.0f%s", bps, units[u]);
	return buf;
}

char *top_fmt_count(double v, char *buf, size_t size)
{
	if (v >= 1e6)
		snprintf(buf, size, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, size, "%.1fk", v / 1e3);
	else
		snprintf(buf, size, "%.1f", v);
	return buf;
}

char *top_fmt_seconds(double s, char *buf, size_t size)
{
	if (s <= 0)
		snprintf(buf, size, "0");
	else if (s < 1e-3)
		snprintf(buf, size, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(buf, size, "%.1fms", s * 1e3);
	else
		snprintf(buf, size, "%.2fs", s);
	return buf;
}

/* The cells of a row, as text; v and name hold the formatted ones. */
#define ROW_NAME_MAX 300

static void row_texts(const struct top_row *row, char marker, char v[TOP_COL_MAX][48],
		      char name[ROW_NAME_MAX], const char *text[TOP_COL_MAX])
{
	const struct top_pod *p = row->pod;
	const struct top_container *c = row->ctr;
	const struct top_rates *r = c ? &c->r : &p->r;

	if (c) {
		/* A container line: its name under the pod's, its id as the workload. */
		snprintf(name, ROW_NAME_MAX, "  %s%s%s", c->name[0] ? c->name : "(container)",
			 c->ports[0] ? " :" : "", c->ports);
		text[TOP_COL_NS] = " "; /* blank, not "-": reads as "same as above" */
		text[TOP_COL_POD] = name;
		text[TOP_COL_KIND] = "container";
		text[TOP_COL_WORKLOAD] = c->id[0] ? c->id : c->cgroup_path;
		text[TOP_COL_RELEASE] = " ";
		text[TOP_COL_FINDINGS] = " ";
	} else {
		if (marker)
			snprintf(name, ROW_NAME_MAX, "%c%s", marker, p->pod);
		else
			snprintf(name, ROW_NAME_MAX, "%s", p->pod);
		text[TOP_COL_NS] = p->ns;
		text[TOP_COL_POD] = name;
		text[TOP_COL_KIND] = p->kind;
		text[TOP_COL_WORKLOAD] = p->workload;
		text[TOP_COL_RELEASE] = p->release;
		text[TOP_COL_FINDINGS] = p->finding_ids;
	}
	snprintf(v[TOP_COL_CPU], sizeof(v[0]), "%.1f", r->cpu_pct);
	text[TOP_COL_CPU] = v[TOP_COL_CPU];
	text[TOP_COL_RUNQ] = top_fmt_seconds(r->runq_p99, v[TOP_COL_RUNQ], sizeof(v[0]));
	text[TOP_COL_DISK_R] = top_fmt_bytes(r->disk_r, v[TOP_COL_DISK_R], sizeof(v[0]));
	text[TOP_COL_DISK_W] = top_fmt_bytes(r->disk_w, v[TOP_COL_DISK_W], sizeof(v[0]));
	text[TOP_COL_IOPS] = top_fmt_count(r->iops, v[TOP_COL_IOPS], sizeof(v[0]));
	text[TOP_COL_FSYNC] = top_fmt_count(r->fsync, v[TOP_COL_FSYNC], sizeof(v[0]));
	text[TOP_COL_NET_RX] = top_fmt_bytes(r->net_rx, v[TOP_COL_NET_RX], sizeof(v[0]));
	text[TOP_COL_NET_TX] = top_fmt_bytes(r->net_tx, v[TOP_COL_NET_TX], sizeof(v[0]));
	text[TOP_COL_RETRANS] = top_fmt_count(r->retrans, v[TOP_COL_RETRANS], sizeof(v[0]));
}

void top_layout_fit(const struct top_row *rows, size_t n, int widths[TOP_COL_MAX])
{
	for (int i = 0; i < TOP_COL_MAX; i++)
		widths[i] = (int)strlen(cols[i].title);
	for (size_t j = 0; j < n; j++) {
		char v[TOP_COL_MAX][48], name[ROW_NAME_MAX];
		const char *text[TOP_COL_MAX] = { 0 };

		row_texts(&rows[j], 0, v, name, text);
		for (int i = 0; i < TOP_COL_MAX; i++) {
			int l = (int)strlen(text[i]);

			if (l > widths[i])
				widths[i] = l < TOP_CELL_MAX ? l : TOP_CELL_MAX;
		}
	}
}

char *top_format_row(const struct top_row *row, const int widths[TOP_COL_MAX], char marker,
		     char *buf, size_t size)
{
	const struct top_container *c = row->ctr;
	char v[TOP_COL_MAX][48], name[ROW_NAME_MAX];
	const char *text[TOP_COL_MAX] = { 0 };
	size_t len = 0;

	row_texts(row, marker, v, name, text);
	buf[0] = '\0';
	for (int i = 0; i < TOP_COL_MAX; i++) {
		if (!widths[i])
			continue;
		len = cell(buf, size, len, text[i], widths[i], cols[i].min != 0,
			   cols[i].keep_end || (c && i == TOP_COL_WORKLOAD), i == TOP_COL_MAX - 1);
		if (len >= size - 1)
			break;
	}
	return buf;
}

char *top_fmt_evidence(const struct top_finding *fi, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < fi->n_ev && len + 1 < size; i++) {
		double v = fi->ev[i].value;
		/* Whole numbers (bytes, ports, counts) in full; the rest to 4 significant digits. */
		int n = v == floor(v) && fabs(v) < 1e15 ?
				snprintf(buf + len, size - len, "%s%s=%.0f", i ? " " : "",
					 fi->ev[i].name, v) :
				snprintf(buf + len, size - len, "%s%s=%.4g", i ? " " : "",
					 fi->ev[i].name, v);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

int top_health_line(const struct top_snapshot *s, double now, double stale_after, char *buf,
		    size_t size)
{
	const struct top_health *h = &s->health;
	double age = s->time > 0 ? now - s->time : 0;
	bool stale = stale_after > 0 && s->time > 0 && age > stale_after;
	bool degraded = h->collection_errors > 0 || h->map_overflow > 0 ||
			h->probes_up < h->probes_total;
	char probes[96], age_text[48] = "";

	if (!h->known) {
		snprintf(buf, size, "%s: health unknown (%s)%s", stale ? "STALE" : "UNKNOWN",
			 s->health_note[0] ? s->health_note : "no self-metrics", "");
		return stale ? 2 : 1;
	}
	if (h->probes_down[0])
		snprintf(probes, sizeof(probes), "probes %d/%d up (down: %s)", h->probes_up,
			 h->probes_total, h->probes_down);
	else
		snprintf(probes, sizeof(probes), "probes %d/%d up", h->probes_up, h->probes_total);
	if (s->time > 0)
		snprintf(age_text, sizeof(age_text), ", data %.1fs old", age > 0 ? age : 0);
	snprintf(buf, size,
		 "%s: %.0f collections, %.0f errors, %.0f map overflows, %s, last %.0fms%s",
		 stale	  ? "STALE" :
		 degraded ? "DEGRADED" :
			    "OK",
		 h->collections, h->collection_errors, h->map_overflow, probes,
		 h->collection_seconds * 1e3, age_text);
	return stale ? 2 : degraded ? 1 : 0;
}
