// SPDX-License-Identifier: BSD-2-Clause
/* The scalars of Kubernetes objects: character classes, container ids, resource quantities
 * and RFC 3339 times. */
#include "kube/kube_text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- character classes: what we export as label values stays plain ASCII ---- */

bool kube_char_ok(char c, enum kube_charset cs)
{
	bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
	bool upper = c >= 'A' && c <= 'Z';

	switch (cs) {
	case KUBE_CS_DNS:
		return alnum || c == '-' || c == '.';
	case KUBE_CS_LABEL:
		return alnum || upper || c == '-' || c == '_' || c == '.';
	case KUBE_CS_KEY:
		return alnum || upper || c == '-' || c == '_' || c == '.' || c == '/';
	case KUBE_CS_KIND:
		return alnum || upper;
	case KUBE_CS_UID:
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
	case KUBE_CS_PRINT:
		return c >= 0x20 && c < 0x7f;
	}
	return false;
}

bool kube_text_copy(char *dst, size_t size, const char *s, enum kube_charset cs)
{
	size_t n;

	if (!s || !*s)
		return false;
	n = strlen(s);
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!kube_char_ok(s[i], cs))
			return false;
	}
	memcpy(dst, s, n + 1);
	return true;
}

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
