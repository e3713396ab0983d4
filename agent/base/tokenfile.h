/* SPDX-License-Identifier: BSD-2-Clause */
/* A secret token read from a file that may be rotated: kubelet swaps projected tokens and
 * secrets in through a symlink, so the file is looked at (stat) on every use and read again
 * when its identity, size, times or readability changed, or when `recheck` seconds passed.
 * The token is the file's content with surrounding whitespace trimmed; a file that is empty,
 * larger than the cap, or holds whitespace or control characters inside the token is refused
 * and the previous token stays in use. Every token dropped is zeroed. Thread-safe; no
 * logging: refresh says what changed, once per change of state. */
#ifndef BPFDIAG_TOKENFILE_H
#define BPFDIAG_TOKENFILE_H

#include <stdbool.h>
#include <stddef.h>

struct tokenfile_opts {
	const char *path;
	size_t max_bytes; /* a larger file is refused; 0: 4096 */
	double recheck; /* seconds after which a file that looks unchanged is read again; 0: never */
};

enum token_refresh {
	TOKEN_UNCHANGED = 0,
	TOKEN_RELOADED, /* the file changed (or is usable again) and its token is in use */
	TOKEN_RELOAD_FAILED, /* the file cannot be used, or now for another reason: the previous
			      * token stays. Not said again while the reason stays the same. */
};

struct tokenfile;

/* Returns 0 with a watcher that has read nothing yet, or -ENOMEM. */
int tokenfile_new(const struct tokenfile_opts *opts, struct tokenfile **ret);
/* Zeroes the token. Accepts NULL; returns NULL. */
struct tokenfile *tokenfile_free(struct tokenfile *t);

/* Looks at the file and reads it when it changed (the first call always reads it). With err,
 * the reason of a failure in one line ("" otherwise). */
enum token_refresh tokenfile_refresh(struct tokenfile *t, char *err, size_t errlen);
/* 0 when the last read succeeded (or none was tried), else its negative errno: -ENOENT and
 * the like, -EFBIG over the cap, -ENODATA empty, -EINVAL control characters. */
int tokenfile_error(struct tokenfile *t);
/* A copy of the token in use, "" when none was ever read, or NULL without memory. Release it
 * with tokenfile_drop. */
char *tokenfile_copy(struct tokenfile *t);
/* Zeroes and frees a copy. Accepts NULL. */
void tokenfile_drop(char *token);
/* True when b (blen bytes) is the token in use, compared in constant time; false while none
 * was read. */
bool tokenfile_matches(struct tokenfile *t, const char *b, size_t blen);

/* Compares the expected token a with the presented b in time that depends on alen only. */
bool token_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
