// SPDX-License-Identifier: BSD-2-Clause
#include "codec/accept.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Calls fn(ctx, start, len) on each ';'-separated part of s[0, len), blanks trimmed; stops
 * when fn returns true, and returns true then. */
static bool each_param(const char *s, size_t len,
		       bool (*fn)(const char *p, size_t n, const void *ctx), const void *ctx)
{
	for (const char *p = s, *end = s + len; p && p < end;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;

		while (p < e && isspace((unsigned char)*p))
			p++;
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		if (fn(p, (size_t)(e - p), ctx))
			return true;
		p = semi ? semi + 1 : NULL;
	}
	return false;
}

static bool read_q(const char *p, size_t n, const void *ctx)
{
	if (n < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return false;
	*(double *)ctx = strtod(p + 2, NULL);
	return true;
}

static bool equal_param(const char *p, size_t n, const void *ctx)
{
	const char *want = ctx;

	return n == strlen(want) && strncasecmp(p, want, n) == 0;
}

void accept_each(const char *header, void (*fn)(const struct accept_item *it, void *ctx), void *ctx)
{
	for (const char *p = header; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *semi = memchr(p, ';', len);
		struct accept_item it = { .token = p, .q = 1 };

		it.token_len = semi ? (size_t)(semi - p) : len;
		while (it.token_len && isspace((unsigned char)*it.token))
			it.token++, it.token_len--;
		while (it.token_len && isspace((unsigned char)it.token[it.token_len - 1]))
			it.token_len--;
		if (semi) {
			it.params = semi + 1;
			it.params_len = len - (size_t)(semi + 1 - p);
			/* Only q among the parameters weighs: "gzip;q=0" refuses gzip. */
			each_param(it.params, it.params_len, read_q, &it.q);
		}
		if (it.token_len)
			fn(&it, ctx);
		p = comma ? comma + 1 : NULL;
	}
}

bool accept_is(const struct accept_item *it, const char *tok)
{
	return it->token_len == strlen(tok) && strncasecmp(it->token, tok, it->token_len) == 0;
}

bool accept_has_param(const struct accept_item *it, const char *param)
{
	return it->params && each_param(it->params, it->params_len, equal_param, param);
}
