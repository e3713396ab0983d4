/* The pieces of the HTTP endpoint that need no socket: gzip round trip, Accept-Encoding
 * negotiation, the render gate, bearer tokens (parsing, constant-time compare, the token file
 * re-read on change) and the self-metrics text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "codec/gzip.h"
#include "transport/http.h"
#include "transport/http_auth.h"
#include "codec/selfmetrics.h"

static void test_gzip_round_trip(void **state)
{
	size_t n = 200000, outlen;
	char *text = malloc(n), *back = malloc(n + 1);
	uint8_t *gz;
	z_stream z = { 0 };

	(void)state;
	for (size_t i = 0; i < n; i++)
		text[i] = "bpfdiag_cpu_seconds_total{pod=\"x\"} 1.5\n"[i % 40];
	assert_int_equal(gzip_compress(text, n, 6, &gz, &outlen), 0);
	assert_true(outlen < n / 10);
	assert_int_equal(gz[0], 0x1f); /* gzip magic, not a zlib stream */
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = gz;
	z.avail_in = (uInt)outlen;
	z.next_out = (Bytef *)back;
	z.avail_out = (uInt)n + 1;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, n);
	assert_memory_equal(back, text, n);
	inflateEnd(&z);
	free(gz);
	/* an empty body is a valid gzip stream too */
	assert_int_equal(gzip_compress("", 0, -1, &gz, &outlen), 0);
	assert_true(outlen >= 18);
	free(gz);
	free(text);
	free(back);
}

static void test_accepts_gzip(void **state)
{
	static const char *const yes[] = {
		"gzip", "GZIP",	  "deflate, gzip",     "gzip;q=0.5", "br;q=1.0, gzip;q=0.8",
		"*",	"x-gzip", " identity , gzip ", "gzip ; q=1", "*;q=0.1, br"
	};
	static const char *const no[] = {
		"",	 "identity",	"deflate, br", "gzip;q=0", "gzip;q=0.000",
		"*;q=0", "gzip;q=0, *", "gzipx",       "xgzip"
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!http_accepts_gzip(yes[i]))
			fail_msg("'%s' should accept gzip", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (http_accepts_gzip(no[i]))
			fail_msg("'%s' should not accept gzip", no[i]);
	}
}

static void test_render_gate(void **state)
{
	int inflight = 0;

	(void)state;
	for (int i = 0; i < HTTP_MAX_RENDERS; i++)
		assert_true(http_gate_try_enter(&inflight, HTTP_MAX_RENDERS));
	assert_false(http_gate_try_enter(&inflight, HTTP_MAX_RENDERS));
	assert_false(http_gate_try_enter(&inflight, HTTP_MAX_RENDERS));
	assert_int_equal(inflight, HTTP_MAX_RENDERS); /* refusals leave no trace */
	http_gate_leave(&inflight);
	assert_true(http_gate_try_enter(&inflight, HTTP_MAX_RENDERS));
	for (int i = 0; i < HTTP_MAX_RENDERS; i++)
		http_gate_leave(&inflight);
	assert_int_equal(inflight, 0);
}

static void test_tokens(void **state)
{
	const char *t;
	size_t n;

	(void)state;
	assert_true(token_equal("abc", 3, "abc", 3));
	assert_false(token_equal("abc", 3, "abd", 3));
	assert_false(token_equal("abc", 3, "ab", 2));
	assert_false(token_equal("abc", 3, "abcd", 4));
	assert_false(token_equal("abc", 3, "", 0));
	assert_true(http_bearer_token("Bearer s3cret", &t, &n));
	assert_int_equal(n, 6);
	assert_memory_equal(t, "s3cret", 6);
	assert_true(http_bearer_token("bearer   tok  ", &t, &n));
	assert_int_equal(n, 3);
	assert_false(http_bearer_token("Basic dXNlcjpwYXNz", &t, &n));
	assert_false(http_bearer_token("Bearer", &t, &n));
	assert_false(http_bearer_token("Bearer   ", &t, &n));
	assert_false(http_bearer_token("Bearertok", &t, &n));
	assert_false(http_bearer_token(NULL, &t, &n));
}

static void write_file(const char *path, const char *text)
{
	char tmp[256];
	FILE *f;

	/* replaced by rename, the way kubelet swaps projected secrets */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

static void test_token_file(void **state)
{
	char dir[] = "/tmp/bpfdiag-token-XXXXXX", path[256], err[256];
	struct token_file *tf = NULL;
	char big[TOKEN_MAX_BYTES + 10];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_int_equal(token_file_open(path, &tf, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	write_file(path, "  \n");
	assert_int_equal(token_file_open(path, &tf, err, sizeof(err)), -ENODATA);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big);
	assert_int_equal(token_file_open(path, &tf, err, sizeof(err)), -EFBIG);
	write_file(path, "two words\n");
	assert_int_equal(token_file_open(path, &tf, err, sizeof(err)), -EINVAL);

	write_file(path, "first-token\n");
	assert_int_equal(token_file_open(path, &tf, err, sizeof(err)), 0);
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_UNCHANGED);
	assert_true(token_file_check(tf, "Bearer first-token"));
	assert_false(token_file_check(tf, "Bearer first-toke"));
	assert_false(token_file_check(tf, NULL));

	/* rotated: the new token works, the old one stops working */
	write_file(path, "second-token-longer\n");
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_RELOADED);
	assert_true(token_file_check(tf, "Bearer second-token-longer"));
	assert_false(token_file_check(tf, "Bearer first-token"));
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_UNCHANGED);

	/* gone or broken: reported once, the last good token stays */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_RELOAD_FAILED);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_UNCHANGED);
	assert_true(token_file_check(tf, "Bearer second-token-longer"));
	write_file(path, "\n");
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_RELOAD_FAILED);
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_UNCHANGED);
	assert_true(token_file_check(tf, "Bearer second-token-longer"));
	write_file(path, "third\n");
	assert_int_equal(token_file_refresh(tf, err, sizeof(err)), TOKEN_RELOADED);
	assert_true(token_file_check(tf, "Bearer third"));

	tf = token_file_free(tf);
	assert_null(tf);
	unlink(path);
	rmdir(dir);
}

static void test_selfmetrics_text(void **state)
{
	struct selfmetrics m = { 0 };
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	selfmetrics_http_request(&m, selfmetrics_path("/metrics"), 200);
	selfmetrics_http_request(&m, selfmetrics_path("/metrics"), 503);
	selfmetrics_http_request(&m, selfmetrics_path("/nope"), 404);
	selfmetrics_http_render(&m, 0.002);
	selfmetrics_http_render(&m, 10);
	selfmetrics_http_request(NULL, SM_PATH_METRICS, 200); /* no metrics: ignored */
	selfmetrics_prom_encode(&m, &sb);
	assert_non_null(strstr(
		sb.data, "bpfdiag_agent_http_requests_total{path=\"/metrics\",code=\"200\"} 1\n"));
	assert_non_null(strstr(
		sb.data, "bpfdiag_agent_http_requests_total{path=\"/metrics\",code=\"503\"} 1\n"));
	assert_non_null(strstr(
		sb.data, "bpfdiag_agent_http_requests_total{path=\"other\",code=\"404\"} 1\n"));
	assert_non_null(strstr(sb.data,
			       "bpfdiag_agent_http_render_seconds_bucket{le=\"0.001\"} 0\n"
			       "bpfdiag_agent_http_render_seconds_bucket{le=\"0.005\"} 1\n"));
	assert_non_null(
		strstr(sb.data, "bpfdiag_agent_http_render_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(sb.data, "bpfdiag_agent_http_render_seconds_count 2\n"));
	assert_null(strstr(sb.data, "otlp")); /* OTLP families only when export is on */
	strbuf_reset(&sb);
	m.otlp_enabled = true;
	selfmetrics_add(&m, &m.otlp_exports[SM_OTLP_RETRYABLE], 3);
	selfmetrics_prom_encode(&m, &sb);
	assert_non_null(strstr(sb.data,
			       "bpfdiag_agent_otlp_exports_total{result=\"retryable_error\"} 3\n"));
	assert_non_null(strstr(sb.data, "# TYPE bpfdiag_agent_otlp_exports_total counter\n"));
	strbuf_reset(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_round_trip), cmocka_unit_test(test_accepts_gzip),
		cmocka_unit_test(test_render_gate),	cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_file),	cmocka_unit_test(test_selfmetrics_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
