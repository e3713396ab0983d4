// SPDX-License-Identifier: BSD-2-Clause
/* The registry of rule definitions: the families, and the helpers their messages share. */
#include "rules/rule_def.h"
#include "base/hash.h"
#include "model/histogram.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const struct rule_def *defs;
	const size_t *n;
} families[] = {
	{ rules_wk, &rules_wk_n },
	{ rules_rs, &rules_rs_n },
	{ rules_rl_sc, &rules_rl_sc_n },
};

const struct rule_def *rule_def_of(enum rule_id id)
{
	/* Found once per rule (the engine asks for each rule of each workload every tick). */
	static const struct rule_def *by_id[RULE_MAX];
	const struct rule_def *d;

	if ((unsigned)id >= RULE_MAX)
		return NULL;
	if ((d = __atomic_load_n(&by_id[id], __ATOMIC_RELAXED)))
		return d;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]) && !d; i++) {
		for (size_t j = 0; j < *families[i].n && !d; j++) {
			if (families[i].defs[j].id == id)
				d = &families[i].defs[j];
		}
	}
	if (d)
		__atomic_store_n(&by_id[id], d, __ATOMIC_RELAXED);
	return d;
}

const char *rule_code(enum rule_id id)
{
	const struct rule_def *d = rule_def_of(id);

	return d ? d->code : "";
}

const char *rule_name(enum rule_id id)
{
	const struct rule_def *d = rule_def_of(id);

	return d ? d->name : "";
}

unsigned rule_kind_bit(const char *kind)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kinds[] = {
		{ "Deployment", RK_DEPLOYMENT },
		{ "StatefulSet", RK_STATEFULSET },
		{ "DaemonSet", RK_DAEMONSET },
		{ "Pod", RK_POD },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kind, kinds[i].name) == 0)
			return kinds[i].bit;
	}
	return RK_OTHER;
}

uint64_t rule_neighbour_id(const char *ns, const char *kind, const char *name)
{
	uint64_t h = hash_add(hash_add(hash_add(HASH_FNV_OFFSET, ns), kind), name);

	return h ? h : 1;
}

void rule_bucket_cause(struct bucket *b, uint64_t id, double s)
{
	unsigned small = 0;

	for (unsigned i = 0; i < RULE_CAUSES; i++) {
		if (b->caused[i].id == id || !b->caused[i].id) {
			b->caused[i].id = id;
			b->caused[i].s += s;
			return;
		}
		if (b->caused[i].s < b->caused[small].s)
			small = i;
	}
	if (s > b->caused[small].s) {
		b->caused[small].id = id;
		b->caused[small].s = s;
	}
}

void rule_evidence(struct snap_finding *f, const char *name, double v)
{
	if (f->n_evidence >= SNAP_MAX_EVIDENCE)
		return;
	snprintf(f->evidence[f->n_evidence].name, sizeof(f->evidence[0].name), "%s", name);
	f->evidence[f->n_evidence++].value = v;
}

void rule_fmt_bytes(char *buf, size_t size, double bps)
{
	if (bps >= MiB)
		snprintf(buf, size, "%.1f MiB/s", bps / MiB);
	else if (bps >= KiB)
		snprintf(buf, size, "%.0f KiB/s", bps / KiB);
	else
		snprintf(buf, size, "%.0f B/s", bps);
}

double rule_p99(const uint64_t *hist)
{
	return hist_quantile(hist, 0.99);
}
