// SPDX-License-Identifier: BSD-2-Clause
/* What pods reference: top-level workloads, PVCs, and the per-namespace PDB and HPA lists with
 * their label selectors. */
#include "kube/kube_parse.h"
#include "kube/kube_text.h"
#include "base/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (!KUBE_COPY(ret->name, json_get_str(meta, "name"), KUBE_CS_DNS) ||
	    !KUBE_COPY(ret->ns, json_get_str(meta, "namespace"), KUBE_CS_DNS)) {
		*ret_why = "metadata.name or metadata.namespace missing or invalid";
		return -EINVAL;
	}
	KUBE_COPY(ret->helm_release, json_get_str(ann, "meta.helm.sh/release-name"), KUBE_CS_LABEL);
	KUBE_COPY(ret->helm_release_ns, json_get_str(ann, "meta.helm.sh/release-namespace"),
		  KUBE_CS_DNS);
	KUBE_COPY(ret->ignore_rules, json_get_str(ann, "bpfdiag.io/ignore-rules"), KUBE_CS_PRINT);
	KUBE_COPY(ret->helm_chart, json_get_str(json_get_obj(meta, "labels"), "helm.sh/chart"),
		  KUBE_CS_LABEL);
	kube_controller_parse(meta, &ret->controller);
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
	KUBE_COPY(ret->strategy, strategy, KUBE_CS_KIND);
	if (kind == KUBE_KIND_STATEFULSET) {
		KUBE_COPY(ret->service_name, json_get_str(spec, "serviceName"), KUBE_CS_DNS);
		vct = json_get_arr(spec, "volumeClaimTemplates");
		n = vct ? json_object_array_length(vct) : 0;
		for (size_t i = 0; i < n && ret->n_vct < KUBE_MAX_VCT; i++) {
			json_object *t = json_object_array_get_idx(vct, i);

			if (KUBE_COPY(ret->vct[ret->n_vct],
				      json_get_str(json_get_obj(t, "metadata"), "name"),
				      KUBE_CS_DNS))
				ret->n_vct++;
		}
	}
	if (kind == KUBE_KIND_CRONJOB)
		KUBE_COPY(ret->schedule, json_get_str(spec, "schedule"), KUBE_CS_PRINT);
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
	    !KUBE_COPY(ret->name, json_get_str(meta, "name"), KUBE_CS_DNS) ||
	    !KUBE_COPY(ret->ns, json_get_str(meta, "namespace"), KUBE_CS_DNS)) {
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
	KUBE_COPY(ret->storage_class, json_get_str(spec, "storageClassName"), KUBE_CS_DNS);
	KUBE_COPY(ret->volume_name, json_get_str(spec, "volumeName"), KUBE_CS_DNS);
	KUBE_COPY(ret->phase, json_get_str(json_get_obj(obj, "status"), "phase"), KUBE_CS_KIND);
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

	if (sel->n_terms >= KUBE_MAX_SELECTOR || !KUBE_COPY(kbuf, key, KUBE_CS_KEY))
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

	if (!v || t->n_values >= KUBE_MAX_SELECTOR_VALUES ||
	    (*v && !KUBE_COPY(vbuf, v, KUBE_CS_LABEL)))
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
		kube_text_copy(dst, size, json_str_of(v), KUBE_CS_PRINT);
}

/* Parses the items of a list with item (1: kept, 0: skipped, -ENOMEM) into a new zeroed array
 * of elements of size bytes in *ret: at most KUBE_MAX_NS_ITEMS, *ret_n of them, setting
 * *ret_truncated when there were more. Returns 0, -EINVAL when it is not a list, or -ENOMEM
 * (with *ret and *ret_n set when the array was made: the caller frees what was kept). */
static int list_parse(json_object *list, size_t size, int (*item)(json_object *it, void *elem),
		      void **ret, unsigned *ret_n, bool *ret_truncated)
{
	json_object *items = json_get_arr(list, "items");
	size_t n = items ? json_object_array_length(items) : 0;
	unsigned k = 0;
	char *out;
	int r;

	*ret_n = 0;
	if (!items)
		return -EINVAL;
	*ret_truncated = n > KUBE_MAX_NS_ITEMS;
	out = calloc(n < KUBE_MAX_NS_ITEMS ? (n ? n : 1) : KUBE_MAX_NS_ITEMS, size);
	if (!out)
		return -ENOMEM;
	*ret = out;
	for (size_t i = 0; i < n && k < KUBE_MAX_NS_ITEMS; i++) {
		r = item(json_object_array_get_idx(items, i), out + k * size);
		if (r < 0) {
			*ret_n = k;
			return r;
		}
		if (r)
			k++;
		else
			memset(out + k * size, 0, size);
	}
	*ret_n = k;
	return 0;
}

void kube_pdbs_free(struct kube_pdb *p, unsigned n)
{
	for (unsigned i = 0; p && i < n; i++)
		kube_selector_clear(&p[i].selector);
	free(p);
}

static int pdb_item(json_object *it, void *elem)
{
	json_object *spec = json_get_obj(it, "spec");
	struct kube_pdb *p = elem;

	if (!KUBE_COPY(p->name, json_get_str(json_get_obj(it, "metadata"), "name"), KUBE_CS_DNS))
		return 0;
	if (kube_selector_parse(json_get(spec, "selector"), &p->selector) == -ENOMEM)
		return -ENOMEM;
	intstr(spec, "minAvailable", p->min_available, sizeof(p->min_available));
	intstr(spec, "maxUnavailable", p->max_unavailable, sizeof(p->max_unavailable));
	return 1;
}

int kube_pdb_list_parse(json_object *list, struct kube_pdb **ret, unsigned *ret_n,
			bool *ret_truncated)
{
	struct kube_pdb *out = NULL;
	int r = list_parse(list, sizeof(*out), pdb_item, (void **)&out, ret_n, ret_truncated);

	if (r) {
		kube_pdbs_free(out, *ret_n);
		return r;
	}
	*ret = out;
	return 0;
}

static int hpa_item(json_object *it, void *elem)
{
	json_object *spec = json_get_obj(it, "spec");
	json_object *ref = json_get_obj(spec, "scaleTargetRef");
	struct kube_hpa *h = elem;
	int64_t v;

	if (!KUBE_COPY(h->name, json_get_str(json_get_obj(it, "metadata"), "name"), KUBE_CS_DNS) ||
	    !KUBE_COPY(h->target_kind, json_get_str(ref, "kind"), KUBE_CS_KIND) ||
	    !KUBE_COPY(h->target_name, json_get_str(ref, "name"), KUBE_CS_DNS))
		return 0;
	h->min_replicas =
		json_get_int(spec, "minReplicas", &v) && v >= 0 && v < INT32_MAX ? (int32_t)v : 1;
	h->max_replicas =
		json_get_int(spec, "maxReplicas", &v) && v >= 0 && v < INT32_MAX ? (int32_t)v : -1;
	return 1;
}

int kube_hpa_list_parse(json_object *list, struct kube_hpa **ret, unsigned *ret_n,
			bool *ret_truncated)
{
	struct kube_hpa *out = NULL;
	int r = list_parse(list, sizeof(*out), hpa_item, (void **)&out, ret_n, ret_truncated);

	if (r) {
		free(out);
		return r;
	}
	*ret = out;
	return 0;
}
