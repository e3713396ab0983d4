// SPDX-License-Identifier: BSD-2-Clause
#include "transport/http_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct token_file {
	struct tokenfile *tf;
};

int token_file_open(const char *path, struct token_file **ret, char *err, size_t errlen)
{
	struct tokenfile_opts o = { .path = path, .max_bytes = TOKEN_MAX_BYTES };
	struct token_file *t = calloc(1, sizeof(*t));

	if (!t || tokenfile_new(&o, &t->tf)) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (tokenfile_refresh(t->tf, err, errlen) != TOKEN_RELOADED) {
		int r = tokenfile_error(t->tf);

		token_file_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

struct token_file *token_file_free(struct token_file *t)
{
	if (!t)
		return NULL;
	tokenfile_free(t->tf);
	free(t);
	return NULL;
}

enum token_refresh token_file_refresh(struct token_file *t, char *err, size_t errlen)
{
	return tokenfile_refresh(t->tf, err, errlen);
}

bool http_bearer_token(const char *authorization, const char **ret, size_t *ret_len)
{
	const char *p = authorization;
	size_t n;

	if (!p || strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return false;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (!n)
		return false;
	*ret = p;
	*ret_len = n;
	return true;
}

bool token_file_check(struct token_file *t, const char *authorization)
{
	const char *tok;
	size_t len;

	return http_bearer_token(authorization, &tok, &len) && tokenfile_matches(t->tf, tok, len);
}
