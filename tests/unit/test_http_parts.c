// SPDX-License-Identifier: BSD-2-Clause
/* The pieces of the HTTP endpoint that need no server: gzip round trip, Accept-Encoding
 * negotiation, the render gate, bearer tokens (parsing, constant-time compare, the token file
 * re-read on change), the self-metrics text, conflicting Content-Length headers, TLS priority
 * strings, and connection admission with its deadlines (over socket pairs). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "codec/gzip.h"
#include "base/clock.h"
#include "transport/http.h"
#include "transport/http_admit.h"
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
	for (unsigned code = 399; code < 510; code++)
		selfmetrics_http_rejected(&m, code);
	selfmetrics_prom_encode(&m, &sb);
	for (int i = 0; i < 5; i++) {
		static const char *const codes[] = { "400", "413", "414", "431", "505" };
		char want[96];

		snprintf(want, sizeof(want),
			 "bpfdiag_agent_http_requests_rejected_total{code=\"%s\"} 1\n", codes[i]);
		assert_non_null(strstr(sb.data, want));
	}
	assert_non_null(strstr(sb.data,
			       "bpfdiag_agent_http_requests_rejected_total{code=\"other\"} 106\n"));
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

static void test_content_length_conflicts(void **state)
{
	const char *same[] = { "5", "5" }, *differ[] = { "0", "5" }, *list[] = { "5, 5" },
		   *list_differ[] = { "5,6" }, *one[] = { "12" };

	(void)state;
	assert_false(http_content_lengths_conflict(one, 1));
	assert_false(http_content_lengths_conflict(same, 2)); /* RFC 9110: the same value twice */
	assert_false(http_content_lengths_conflict(list, 1));
	assert_true(http_content_lengths_conflict(differ, 2));
	assert_true(http_content_lengths_conflict(list_differ, 1));
	assert_false(http_content_lengths_conflict(NULL, 0));
}

static void test_tls_priorities(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(http_tls_priorities_check(HTTP_TLS_PRIORITIES_DEFAULT, err, sizeof(err)),
			 0);
	assert_int_equal(http_tls_priorities_check("NORMAL:+NO-SUCH-THING", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "NO-SUCH-THING"));
}

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &sin.sin_addr);
	return sin;
}

/* A connection of the admission's from addr: the server's end of a socket pair in *ret_srv
 * (the record's descriptor), the client's end returned. */
static int open_conn(struct http_admit *a, const char *addr, struct http_conn **ret, int *ret_srv)
{
	struct sockaddr_in sin = v4(addr);
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_true(http_admit_accept(a, (struct sockaddr *)&sin, sizeof(sin)));
	*ret = http_admit_opened(a, sv[0], (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(*ret);
	*ret_srv = sv[0];
	return sv[1];
}

/* True when the server shut the connection down (the client end reads EOF at once). */
static bool shut(int client)
{
	char c;
	struct timeval tv = { 0, 1000 };

	setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return recv(client, &c, 1, 0) == 0;
}

static void test_client_keys(void **state)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 }, b = a;
	struct sockaddr_in c = v4("10.1.2.3");
	struct http_client_key ka, kb, kc;

	(void)state;
	inet_pton(AF_INET6, "2001:db8:1:2::1", &a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2:ffff::7", &b.sin6_addr);
	assert_true(http_client_key((struct sockaddr *)&a, sizeof(a), &ka));
	assert_true(http_client_key((struct sockaddr *)&b, sizeof(b), &kb));
	assert_memory_equal(&ka, &kb, sizeof(ka)); /* one /64, one client */
	inet_pton(AF_INET6, "2001:db8:1:3::1", &b.sin6_addr);
	http_client_key((struct sockaddr *)&b, sizeof(b), &kb);
	assert_memory_not_equal(&ka, &kb, sizeof(ka));
	/* an IPv4-mapped address is its IPv4 client */
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &b.sin6_addr);
	http_client_key((struct sockaddr *)&b, sizeof(b), &kb);
	http_client_key((struct sockaddr *)&c, sizeof(c), &kc);
	assert_memory_equal(&kb, &kc, sizeof(kb));
}

/* Slowloris: one client filling its share gives way, the oldest first, to its own newer
 * connections; a client filling the server makes room for others; refusal only when every
 * connection is busy in a request. Each refusal and close is counted. */
static void test_admission(void **state)
{
	struct selfmetrics m = { 0 };
	struct http_admit *a = http_admit_new(&m);
	struct http_conn *c[HTTP_MAX_CONNECTIONS + 8];
	int cli[HTTP_MAX_CONNECTIONS + 8], srv[HTTP_MAX_CONNECTIONS + 8], n = 0;
	char addr[32];
	struct sockaddr_in sin;

	(void)state;
	assert_non_null(a);
	for (; n < HTTP_MAX_PER_CLIENT; n++)
		cli[n] = open_conn(a, "10.0.0.1", &c[n], &srv[n]);
	assert_int_equal(m.http_open, HTTP_MAX_PER_CLIENT);
	/* one more from the same client: its oldest waiting connection makes room */
	cli[n] = open_conn(a, "10.0.0.1", &c[n], &srv[n]);
	n++;
	assert_true(shut(cli[0]));
	assert_false(shut(cli[1]));
	assert_int_equal(m.http_closed[SM_CLOSED_REPLACED], 1);
	/* all of its connections busy in requests: the next is refused */
	for (int i = 0; i < n; i++)
		http_admit_request(a, c[i]);
	sin = v4("10.0.0.1");
	assert_false(http_admit_accept(a, (struct sockaddr *)&sin, sizeof(sin)));
	assert_int_equal(m.http_refused[SM_REFUSED_CLIENT_LIMIT], 1);
	/* another client is not affected */
	sin = v4("10.0.0.2");
	assert_true(http_admit_accept(a, (struct sockaddr *)&sin, sizeof(sin)));
	/* fill the server with three more clients, all waiting for headers */
	for (int k = 2; n < HTTP_MAX_CONNECTIONS + 1; k++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", k);
		for (int j = 0; j < HTTP_MAX_PER_CLIENT && n < HTTP_MAX_CONNECTIONS + 1; j++, n++)
			cli[n] = open_conn(a, addr, &c[n], &srv[n]);
	}
	/* full: a fresh client gets in; the oldest waiting connection of the client holding
	 * the most (10.0.0.2, the first of the equals) gave way */
	cli[n] = open_conn(a, "10.0.0.9", &c[n], &srv[n]);
	n++;
	assert_int_equal(m.http_closed[SM_CLOSED_REPLACED], 2);
	assert_true(shut(cli[HTTP_MAX_PER_CLIENT + 1]));
	/* deadlines: the waiting ones expire after HTTP_HEADER_SECONDS, the busy ones only after
	 * HTTP_REQUEST_SECONDS */
	assert_int_equal(http_admit_expire(a, clock_mono() + 1), 0);
	assert_int_equal(http_admit_expire(a, clock_mono() + HTTP_HEADER_SECONDS + 1),
			 n - 2 - HTTP_MAX_PER_CLIENT);
	assert_int_equal(m.http_closed[SM_CLOSED_HEADER_TIMEOUT],
			 (uint64_t)(n - 2 - HTTP_MAX_PER_CLIENT));
	assert_false(shut(cli[1]));
	assert_int_equal(http_admit_expire(a, clock_mono() + HTTP_REQUEST_SECONDS + 1),
			 HTTP_MAX_PER_CLIENT);
	assert_true(shut(cli[1]));
	/* an answered request waits for headers again, with a fresh deadline */
	http_admit_answered(a, c[1], true);
	assert_int_equal(m.http_closed[SM_CLOSED_IDLE_TIMEOUT], 1);
	for (int i = 0; i < n; i++) {
		http_admit_closed(a, c[i]);
		close(cli[i]);
		close(srv[i]);
	}
	assert_int_equal(m.http_open, 0);
	http_admit_free(a);
}

/* The watchdog sleeps while no connection is open and wakes for the next one: a client that
 * sends no headers is shut down after HTTP_HEADER_SECONDS (and not before). */
static void test_watchdog_wakes(void **state)
{
	struct selfmetrics m = { 0 };
	struct http_admit *a = http_admit_new(&m);
	struct http_conn *c;
	double t0;
	int cli, srv;

	(void)state;
	assert_non_null(a);
	usleep(300 * 1000); /* idle: the watchdog waits for a connection */
	cli = open_conn(a, "10.0.0.1", &c, &srv);
	t0 = clock_mono();
	while (!__atomic_load_n(&m.http_closed[SM_CLOSED_HEADER_TIMEOUT], __ATOMIC_RELAXED) &&
	       clock_mono() - t0 < HTTP_HEADER_SECONDS + 3)
		usleep(50 * 1000);
	assert_int_equal(m.http_closed[SM_CLOSED_HEADER_TIMEOUT], 1);
	assert_true(clock_mono() - t0 >= HTTP_HEADER_SECONDS);
	assert_true(shut(cli));
	http_admit_closed(a, c);
	close(cli);
	close(srv);
	assert_null(http_admit_free(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_round_trip),
		cmocka_unit_test(test_accepts_gzip),
		cmocka_unit_test(test_render_gate),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_selfmetrics_text),
		cmocka_unit_test(test_content_length_conflicts),
		cmocka_unit_test(test_tls_priorities),
		cmocka_unit_test(test_client_keys),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_watchdog_wakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
