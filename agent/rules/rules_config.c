// SPDX-License-Identifier: BSD-2-Clause
/* --rules-config: SPEC §5 defaults from the rule definitions, and a JSON document that
 * overrides them, checked against the definitions' keys and ranges. */
#include "rules/rule_def.h"
#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (1 << 20)

/* The window's own settings, under "hysteresis". */
static const struct {
	const char *key;
	size_t off; /* of a double in struct rules_config */
	double min, max;
} hysteresis[] = {
	{ "fire_ratio", offsetof(struct rules_config, fire_ratio), 0.01, 1 },
	{ "clear_ratio", offsetof(struct rules_config, clear_ratio), 0, 1 },
};

void rules_config_default(struct rules_config *cfg, double window, double warmup)
{
	*cfg = (struct rules_config){
		.window = window,
		.warmup = warmup,
		.fire_ratio = 0.7,
		.clear_ratio = 0.5,
	};
	for (int i = 0; i < RULE_MAX; i++) {
		const struct rule_def *d = rule_def_of((enum rule_id)i);

		cfg->enabled[i] = true;
		for (int k = 0; d && k < RULES_MAX_KNOBS; k++)
			cfg->threshold[i][k] = d->knobs[k].def;
	}
}

/* The slot of rule id's setting key, or -1 when it has none. */
static int knob_of(enum rule_id id, const char *key)
{
	const struct rule_def *d = rule_def_of(id);

	for (int k = 0; d && k < RULES_MAX_KNOBS; k++) {
		if (d->knobs[k].key && strcmp(d->knobs[k].key, key) == 0)
			return k;
	}
	return -1;
}

double rules_threshold(const struct rules_config *cfg, enum rule_id id, const char *key)
{
	int k = knob_of(id, key);

	return k >= 0 ? cfg->threshold[id][k] : NAN;
}

static int rule_by_code(const char *code)
{
	for (int i = 0; i < RULE_MAX; i++) {
		if (strcmp(rule_code((enum rule_id)i), code) == 0)
			return i;
	}
	return -1;
}

/* The number setting rkey.key of c (rule: rkey's rule id, or -1 for "hysteresis"): its place
 * and range. Returns NULL when there is no such setting. */
static double *setting(struct rules_config *c, int rule, const char *key, double *ret_min,
		       double *ret_max)
{
	if (rule >= 0) {
		int k = knob_of((enum rule_id)rule, key);
		const struct rule_knob *kn;

		if (k < 0)
			return NULL;
		kn = &rule_def_of((enum rule_id)rule)->knobs[k];
		*ret_min = kn->min;
		*ret_max = kn->max;
		return &c->threshold[rule][k];
	}
	for (size_t i = 0; i < sizeof(hysteresis) / sizeof(hysteresis[0]); i++) {
		if (strcmp(hysteresis[i].key, key) == 0) {
			*ret_min = hysteresis[i].min;
			*ret_max = hysteresis[i].max;
			return (double *)((char *)c + hysteresis[i].off);
		}
	}
	return NULL;
}

static bool is_severity(const char *v)
{
	static const char *const sev[] = { "critical", "high", "medium", "low", "info" };

	for (size_t i = 0; v && i < sizeof(sev) / sizeof(sev[0]); i++) {
		if (strcmp(v, sev[i]) == 0)
			return true;
	}
	return false;
}

/* Applies one key of a rule's (or the hysteresis') object to c. Returns 0, or -EINVAL with the
 * reason in err. */
static int apply(struct rules_config *c, int rule, const char *rkey, const char *key,
		 json_object *val, char *err, size_t errlen)
{
	double *v, min, max, x;

	if (rule >= 0 && strcmp(key, "severity") == 0) {
		const char *sev = json_str_of(val);

		if (!is_severity(sev)) {
			snprintf(err, errlen,
				 "%s.severity must be critical, high, medium, low or info", rkey);
			return -EINVAL;
		}
		snprintf(c->severity[rule], sizeof(c->severity[rule]), "%s", sev);
		return 0;
	}
	if (rule >= 0 && strcmp(key, "enabled") == 0) {
		if (!json_object_is_type(val, json_type_boolean)) {
			snprintf(err, errlen, "%s.enabled must be true or false", rkey);
			return -EINVAL;
		}
		c->enabled[rule] = json_object_get_boolean(val);
		return 0;
	}
	v = setting(c, rule, key, &min, &max);
	if (!v) {
		snprintf(err, errlen, "unknown setting '%s.%s'", rkey, key);
		return -EINVAL;
	}
	if (!json_object_is_type(val, json_type_double) &&
	    !json_object_is_type(val, json_type_int)) {
		snprintf(err, errlen, "%s.%s must be a number", rkey, key);
		return -EINVAL;
	}
	x = json_object_get_double(val);
	if (!isfinite(x) || x < min || x > max) {
		snprintf(err, errlen, "%s.%s = %g is out of range [%g, %g]", rkey, key, x, min,
			 max);
		return -EINVAL;
	}
	*v = x;
	return 0;
}

int rules_config_parse(const char *json, struct rules_config *cfg, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct rules_config c = *cfg;
	json_object *root;
	int r = -EINVAL;

	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	root = json_tokener_parse_ex(tok, json, (int)strlen(json));
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)strlen(json)) {
		/* Trailing garbage after a valid object is an error too. */
		snprintf(err, errlen, "not valid JSON (%s)",
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "the top level must be an object of rule ids");
		goto out;
	}
	json_object_object_foreach(root, rkey, rval) {
		int rule = rule_by_code(rkey);

		if (rule < 0 && strcmp(rkey, "hysteresis") != 0) {
			snprintf(err, errlen, "unknown rule '%s'", rkey);
			goto out;
		}
		if (!json_object_is_type(rval, json_type_object)) {
			snprintf(err, errlen, "'%s' must be an object", rkey);
			goto out;
		}
		json_object_object_foreach(rval, key, val) {
			if (apply(&c, rule, rkey, key, val, err, errlen))
				goto out;
		}
	}
	if (c.clear_ratio >= c.fire_ratio) {
		snprintf(err, errlen, "hysteresis.clear_ratio (%g) must be below fire_ratio (%g)",
			 c.clear_ratio, c.fire_ratio);
		goto out;
	}
	*cfg = c;
	r = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int rules_config_load(const char *path, struct rules_config *cfg, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	buf = malloc(MAX_FILE);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = fread(buf, 1, MAX_FILE - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n == MAX_FILE - 1) {
		free(buf);
		snprintf(err, errlen, "%s: larger than 1 MiB", path);
		return -EINVAL;
	}
	r = rules_config_parse(buf, cfg, err, errlen);
	free(buf);
	return r;
}
