// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_health.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
