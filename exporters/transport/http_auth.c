#include "transport/http_auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int stat_errno; /* the stat() failed with this */
};

struct token_file {
	char *path;
	pthread_mutex_t lock;
	char *token;
	size_t len;
	struct file_id seen; /* the file as last looked at, whether it could be used or not */
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
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->stat_errno == b->stat_errno;
}

/* Reads and trims the token. Returns 0 with *ret (free it), or a negative errno. */
static int read_token(const char *path, char **ret, size_t *ret_len, char *err, size_t errlen)
{
	char buf[TOKEN_MAX_BYTES + 2];
	size_t n = 0, start = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			close(fd);
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
			return -e;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > TOKEN_MAX_BYTES) {
		snprintf(err, errlen, "%s is larger than %d bytes: not a token", path,
			 TOKEN_MAX_BYTES);
		return -EFBIG;
	}
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	while (start < n && isspace((unsigned char)buf[start]))
		start++;
	if (start == n) {
		snprintf(err, errlen, "%s is empty: no token to check", path);
		return -ENODATA;
	}
	for (size_t i = start; i < n; i++) {
		if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] == 0x7f) {
			snprintf(err, errlen,
				 "%s holds whitespace or control characters inside the token",
				 path);
			return -EINVAL;
		}
	}
	*ret = strndup(buf + start, n - start);
	if (!*ret) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*ret_len = n - start;
	return 0;
}

int token_file_open(const char *path, struct token_file **ret, char *err, size_t errlen)
{
	struct token_file *t = calloc(1, sizeof(*t));
	int r;

	if (!t || !(t->path = strdup(path))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	file_id_of(path, &t->seen);
	r = read_token(path, &t->token, &t->len, err, errlen);
	if (r) {
		free(t->path);
		free(t);
		return r;
	}
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

struct token_file *token_file_free(struct token_file *t)
{
	if (!t)
		return NULL;
	pthread_mutex_destroy(&t->lock);
	if (t->token)
		explicit_bzero(t->token, t->len);
	free(t->token);
	free(t->path);
	free(t);
	return NULL;
}

enum token_refresh token_file_refresh(struct token_file *t, char *err, size_t errlen)
{
	struct file_id now;
	enum token_refresh res = TOKEN_UNCHANGED;
	char *tok = NULL, e[256] = "";
	size_t len = 0;

	file_id_of(t->path, &now);
	pthread_mutex_lock(&t->lock);
	if (file_id_equal(&now, &t->seen))
		goto out;
	t->seen = now;
	if (now.stat_errno) {
		snprintf(e, sizeof(e), "cannot read %s: %s", t->path, strerror(now.stat_errno));
		res = TOKEN_RELOAD_FAILED;
	} else if (read_token(t->path, &tok, &len, e, sizeof(e))) {
		res = TOKEN_RELOAD_FAILED;
	} else {
		explicit_bzero(t->token, t->len);
		free(t->token);
		t->token = tok;
		t->len = len;
		res = TOKEN_RELOADED;
	}
out:
	pthread_mutex_unlock(&t->lock);
	if (err && errlen)
		snprintf(err, errlen, "%s", e);
	return res;
}

bool token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* Every byte of a is looked at whatever b holds: no early exit. */
	volatile unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)(i < blen ? b[i] : 0);
	return diff == 0;
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
	bool ok;

	if (!http_bearer_token(authorization, &tok, &len))
		return false;
	pthread_mutex_lock(&t->lock);
	ok = token_equal(t->token, t->len, tok, len);
	pthread_mutex_unlock(&t->lock);
	return ok;
}
