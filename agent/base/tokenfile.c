// SPDX-License-Identifier: BSD-2-Clause
#include "base/tokenfile.h"
#include "base/clock.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX 4096

/* What stat() says of the file: a change of any of it makes a re-read. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime; /* a chmod that makes the file readable changes only this */
	int stat_errno;
};

struct tokenfile {
	char *path;
	size_t max;
	double recheck;
	pthread_mutex_t lock;
	char *token; /* NULL until a read succeeded */
	size_t len;
	int err; /* of the last read: 0 or a negative errno */
	bool looked;
	struct file_id seen; /* the file as last read, whether it could be used or not */
	double read_at; /* monotonic */
};

static void file_id_of(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st)) {
		id->stat_errno = errno;
		return;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
	id->ctime = st.st_ctim;
}

static bool ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       ts_equal(&a->mtime, &b->mtime) && ts_equal(&a->ctime, &b->ctime) &&
	       a->stat_errno == b->stat_errno;
}

/* Reads up to max + 1 bytes of path into buf. Returns how many, or a negative errno. */
static ssize_t read_capped(const char *path, char *buf, size_t max)
{
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), e;

	if (fd < 0)
		return -errno;
	while (n < max + 1 && (r = read(fd, buf + n, max + 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			return -e;
		}
		n += (size_t)r;
	}
	close(fd);
	return (ssize_t)n;
}

/* Reads and checks the token. Returns 0 with a new *ret (zero it before freeing), or a
 * negative errno with one line in err. */
static int read_token(const struct tokenfile *t, char **ret, size_t *ret_len, char *err,
		      size_t errlen)
{
	char *buf = malloc(t->max + 1);
	size_t start = 0, n;
	ssize_t got;
	int r = 0;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	got = read_capped(t->path, buf, t->max);
	if (got < 0) {
		snprintf(err, errlen, "cannot read %s: %s", t->path, strerror((int)-got));
		r = (int)got;
		goto out;
	}
	n = (size_t)got;
	if (n > t->max) {
		snprintf(err, errlen, "%s is larger than %zu bytes: not a token", t->path, t->max);
		r = -EFBIG;
		goto out;
	}
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	while (start < n && isspace((unsigned char)buf[start]))
		start++;
	if (start == n) {
		snprintf(err, errlen, "%s is empty: no token to check", t->path);
		r = -ENODATA;
		goto out;
	}
	for (size_t i = start; i < n; i++) {
		if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] == 0x7f) {
			snprintf(err, errlen,
				 "%s holds whitespace or control characters inside the token",
				 t->path);
			r = -EINVAL;
			goto out;
		}
	}
	*ret = strndup(buf + start, n - start);
	if (!*ret) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	*ret_len = n - start;
out:
	explicit_bzero(buf, t->max + 1);
	free(buf);
	return r;
}

int tokenfile_new(const struct tokenfile_opts *opts, struct tokenfile **ret)
{
	struct tokenfile *t = calloc(1, sizeof(*t));

	if (!t || !(t->path = strdup(opts->path))) {
		free(t);
		return -ENOMEM;
	}
	t->max = opts->max_bytes ? opts->max_bytes : DEFAULT_MAX;
	t->recheck = opts->recheck;
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

static void drop_token(struct tokenfile *t)
{
	if (t->token)
		explicit_bzero(t->token, t->len);
	free(t->token);
	t->token = NULL;
	t->len = 0;
}

struct tokenfile *tokenfile_free(struct tokenfile *t)
{
	if (!t)
		return NULL;
	drop_token(t);
	pthread_mutex_destroy(&t->lock);
	free(t->path);
	free(t);
	return NULL;
}

enum token_refresh tokenfile_refresh(struct tokenfile *t, char *err, size_t errlen)
{
	enum token_refresh res = TOKEN_UNCHANGED;
	struct file_id now;
	char *tok = NULL, e[512] = "";
	size_t len = 0;
	bool changed;
	int r;

	file_id_of(t->path, &now);
	pthread_mutex_lock(&t->lock);
	changed = !t->looked || !file_id_equal(&now, &t->seen);
	if (!changed && (t->recheck <= 0 || clock_mono() - t->read_at < t->recheck))
		goto out;
	t->looked = true;
	t->seen = now;
	t->read_at = clock_mono();
	if (now.stat_errno) {
		snprintf(e, sizeof(e), "cannot read %s: %s", t->path, strerror(now.stat_errno));
		r = -now.stat_errno;
	} else {
		r = read_token(t, &tok, &len, e, sizeof(e));
	}
	if (r) {
		/* Said once per reason: a file that stays broken is no news. */
		res = r == t->err ? TOKEN_UNCHANGED : TOKEN_RELOAD_FAILED;
		t->err = r;
		goto out;
	}
	if (!changed && !t->err && t->token && len == t->len && !memcmp(tok, t->token, len)) {
		explicit_bzero(tok, len); /* a recheck found the same token */
		free(tok);
		goto out;
	}
	drop_token(t);
	t->token = tok;
	t->len = len;
	t->err = 0;
	res = TOKEN_RELOADED;
out:
	pthread_mutex_unlock(&t->lock);
	if (err && errlen)
		snprintf(err, errlen, "%s", res == TOKEN_RELOAD_FAILED ? e : "");
	return res;
}

int tokenfile_error(struct tokenfile *t)
{
	int r;

	pthread_mutex_lock(&t->lock);
	r = t->err;
	pthread_mutex_unlock(&t->lock);
	return r;
}

char *tokenfile_copy(struct tokenfile *t)
{
	char *s;

	pthread_mutex_lock(&t->lock);
	s = t->token ? strndup(t->token, t->len) : strdup("");
	pthread_mutex_unlock(&t->lock);
	return s;
}

void tokenfile_drop(char *token)
{
	if (!token)
		return;
	explicit_bzero(token, strlen(token));
	free(token);
}

bool token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* Every byte of a is looked at whatever b holds: no early exit. */
	volatile unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)(i < blen ? b[i] : 0);
	return diff == 0;
}

bool tokenfile_matches(struct tokenfile *t, const char *b, size_t blen)
{
	bool ok;

	pthread_mutex_lock(&t->lock);
	ok = t->token && token_equal(t->token, t->len, b, blen);
	pthread_mutex_unlock(&t->lock);
	return ok;
}
