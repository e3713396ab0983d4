/* Bearer-token protection of the HTTP endpoint: the token comes from a file that is re-read
 * when it changes (Kubernetes rotates projected secrets by swapping a symlink), and presented
 * tokens are compared in constant time. No logging: callers see what changed from the return
 * values. */
#ifndef BPFDIAG_HTTP_AUTH_H
#define BPFDIAG_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_MAX_BYTES 4096

struct token_file;

/* Reads path (surrounding whitespace trimmed; empty or larger than TOKEN_MAX_BYTES is an
 * error). Returns 0, or a negative errno with one line in err. */
int token_file_open(const char *path, struct token_file **ret, char *err, size_t errlen);
/* Accepts NULL; returns NULL. */
struct token_file *token_file_free(struct token_file *t);

enum token_refresh {
	TOKEN_UNCHANGED = 0,
	TOKEN_RELOADED, /* the file changed and the new token is in use */
	TOKEN_RELOAD_FAILED, /* the file changed but cannot be used: the previous token stays */
};

/* Re-reads the file when its identity, size or mtime changed since the last look. A change
 * that fails is reported once, not again until the file changes again. With err, a reason. */
enum token_refresh token_file_refresh(struct token_file *t, char *err, size_t errlen);

/* True when the Authorization header value is "Bearer <the token>" (scheme case-insensitive).
 * Thread-safe. */
bool token_file_check(struct token_file *t, const char *authorization);

/* Compares the expected token a with the presented b in time that depends on alen only. */
bool token_equal(const char *a, size_t alen, const char *b, size_t blen);
/* Points *ret at the token of a "Bearer <token>" header value. Returns false for other schemes
 * or an empty token. */
bool http_bearer_token(const char *authorization, const char **ret, size_t *ret_len);

#endif
