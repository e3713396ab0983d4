// SPDX-License-Identifier: BSD-2-Clause
/* The token-file watcher: files refused with their reasons, a rotated file re-read, an
 * unchanged one not read again, each failure said once per change of state (not once per
 * look), and the recheck of a file that looks unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/tokenfile.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/bpfdiag-tokenfile-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/token", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.new", f->path);
	unlink(tmp);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Replaced by rename, the way kubelet swaps projected tokens and secrets in. */
static void write_file(const char *path, const char *data, size_t len)
{
	char tmp[160];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void write_text(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

static struct tokenfile *watcher(const char *path, size_t max, double recheck)
{
	struct tokenfile_opts o = { .path = path, .max_bytes = max, .recheck = recheck };
	struct tokenfile *t = NULL;

	assert_int_equal(tokenfile_new(&o, &t), 0);
	return t;
}

static void assert_token(struct tokenfile *t, const char *want)
{
	char *tok = tokenfile_copy(t);

	assert_non_null(tok);
	assert_string_equal(tok, want);
	tokenfile_drop(tok);
	if (*want)
		assert_true(tokenfile_matches(t, want, strlen(want)));
}

/* read(2) calls this process made so far (/proc/self/io), each look costing one; -1 when the
 * kernel does not count them. */
static long read_calls(void)
{
	char buf[512], *p;
	int fd = open("/proc/self/io", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "syscr:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	struct tokenfile *t = watcher(f->path, 16, 0);
	char err[256], msg[256];

	/* the same reasons, in the same words, as the endpoint's --auth-token-file gave */
	assert_int_equal(tokenfile_refresh(t, err, sizeof(err)), TOKEN_RELOAD_FAILED);
	assert_int_equal(tokenfile_error(t), -ENOENT);
	snprintf(msg, sizeof(msg), "cannot read %s: No such file or directory", f->path);
	assert_string_equal(err, msg);
	assert_token(t, ""); /* nothing read yet */
	assert_false(tokenfile_matches(t, "", 0));

	write_text(f->path, "  \n\t\n");
	assert_int_equal(tokenfile_refresh(t, err, sizeof(err)), TOKEN_RELOAD_FAILED);
	assert_int_equal(tokenfile_error(t), -ENODATA);
	snprintf(msg, sizeof(msg), "%s is empty: no token to check", f->path);
	assert_string_equal(err, msg);

	write_text(f->path, "0123456789abcdefX"); /* 17 bytes over a cap of 16 */
	assert_int_equal(tokenfile_refresh(t, err, sizeof(err)), TOKEN_RELOAD_FAILED);
	assert_int_equal(tokenfile_error(t), -EFBIG);
	snprintf(msg, sizeof(msg), "%s is larger than 16 bytes: not a token", f->path);
	assert_string_equal(err, msg);

	write_text(f->path, "two words\n");
	assert_int_equal(tokenfile_refresh(t, err, sizeof(err)), TOKEN_RELOAD_FAILED);
	assert_int_equal(tokenfile_error(t), -EINVAL);
	snprintf(msg, sizeof(msg), "%s holds whitespace or control characters inside the token",
		 f->path);
	assert_string_equal(err, msg);
	write_file(f->path, "nul\0byte", 8);
	assert_int_equal(tokenfile_refresh(t, err, sizeof(err)), TOKEN_UNCHANGED); /* same reason */
	assert_int_equal(tokenfile_error(t), -EINVAL);
	write_text(f->path, "del\x7f");
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_UNCHANGED);
	assert_int_equal(tokenfile_error(t), -EINVAL);
	assert_token(t, "");

	/* the file exactly at the cap (whitespace included), surrounding whitespace trimmed */
	write_text(f->path, "\t0123456789abc\r\n");
	assert_int_equal(tokenfile_refresh(t, err, sizeof(err)), TOKEN_RELOADED);
	assert_string_equal(err, "");
	assert_int_equal(tokenfile_error(t), 0);
	assert_token(t, "0123456789abc");
	tokenfile_free(t);
}

static void test_rotation(void **state)
{
	struct fixture *f = *state;
	struct tokenfile *t = watcher(f->path, 0, 0);
	long before, baseline;

	write_text(f->path, "first-token\n");
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_RELOADED);
	assert_token(t, "first-token");
	assert_false(tokenfile_matches(t, "first-toke", 10));
	assert_false(tokenfile_matches(t, "first-token2", 12));

	/* an unchanged file is looked at, not read again */
	before = read_calls();
	baseline = read_calls() - before;
	before = read_calls();
	for (int i = 0; i < 10; i++)
		assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_UNCHANGED);
	if (before >= 0)
		assert_int_equal(read_calls() - before, baseline);

	/* rotated: the new token is in use, the old one no longer matches */
	write_text(f->path, "second-token-longer\n");
	before = read_calls();
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_RELOADED);
	if (before >= 0)
		assert_true(read_calls() - before > baseline);
	assert_token(t, "second-token-longer");
	assert_false(tokenfile_matches(t, "first-token", 11));
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_UNCHANGED);
	tokenfile_free(t);
	assert_null(tokenfile_free(NULL));
	tokenfile_drop(NULL);
}

/* #22: an empty token file was reported on every look (and logged three times); now once per
 * change of state, while the last good token stays in use. */
static void test_failure_once(void **state)
{
	struct fixture *f = *state;
	struct tokenfile *t = watcher(f->path, 0, 0);
	int failed = 0;

	write_text(f->path, "good\n");
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_RELOADED);
	write_text(f->path, "\n");
	for (int i = 0; i < 5; i++) {
		failed += tokenfile_refresh(t, NULL, 0) == TOKEN_RELOAD_FAILED;
		assert_int_equal(tokenfile_error(t), -ENODATA);
	}
	/* written again, still empty: a change of the file, not of its state */
	write_text(f->path, "");
	failed += tokenfile_refresh(t, NULL, 0) == TOKEN_RELOAD_FAILED;
	assert_int_equal(failed, 1);
	assert_token(t, "good");

	/* another reason is news; so is the recovery */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_RELOAD_FAILED);
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_UNCHANGED);
	assert_int_equal(tokenfile_error(t), -ENOENT);
	write_text(f->path, "good\n");
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_RELOADED);
	assert_int_equal(tokenfile_error(t), 0);
	assert_token(t, "good");
	tokenfile_free(t);
}

/* With recheck, a file that looks unchanged is read again after that long: the same token is
 * no news. */
static void test_recheck(void **state)
{
	struct fixture *f = *state;
	struct tokenfile *t = watcher(f->path, 0, 0.05);
	struct timespec pause = { 0, 80 * 1000 * 1000 };
	long before, baseline;

	write_text(f->path, "same\n");
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_RELOADED);
	before = read_calls();
	baseline = read_calls() - before;
	nanosleep(&pause, NULL);
	before = read_calls();
	assert_int_equal(tokenfile_refresh(t, NULL, 0), TOKEN_UNCHANGED);
	if (before >= 0)
		assert_true(read_calls() - before > baseline);
	assert_token(t, "same");
	tokenfile_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recheck, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
