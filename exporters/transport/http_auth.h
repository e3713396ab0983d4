/* SPDX-License-Identifier: BSD-2-Clause */
/* Bearer-token protection of the HTTP endpoint: the token comes from a file that is re-read
 * when it changes (Kubernetes rotates projected secrets by swapping a symlink), and presented
 * tokens are compared in constant time. No logging: callers see what changed from the return
 * values. */
#ifndef BPFDIAG_HTTP_AUTH_H
#define BPFDIAG_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/tokenfile.h" /* enum token_refresh, token_equal */

#define TOKEN_MAX_BYTES 4096

struct token_file;

/* Reads path (surrounding whitespace trimmed; empty or larger than TOKEN_MAX_BYTES is an
 * error). Returns 0, or a negative errno with one line in err. */
int token_file_open(const char *path, struct token_file **ret, char *err, size_t errlen);
/* Accepts NULL; returns NULL. */
struct token_file *token_file_free(struct token_file *t);

/* Re-reads the file when its identity, size or times changed since the last look
 * (tokenfile_refresh): a failure is reported once, not again while its reason stays the same.
 * With err, a reason. */
enum token_refresh token_file_refresh(struct token_file *t, char *err, size_t errlen);

/* True when the Authorization header value is "Bearer <the token>" (scheme case-insensitive).
 * Thread-safe. */
bool token_file_check(struct token_file *t, const char *authorization);

/* Points *ret at the token of a "Bearer <token>" header value. Returns false for other schemes
 * or an empty token. */
bool http_bearer_token(const char *authorization, const char **ret, size_t *ret_len);

#endif
