// SPDX-License-Identifier: BSD-2-Clause
/* OTLP exporter configuration from flags and OTEL_* variables (precedence, /v1/metrics
 * appending, header and resource-attribute lists), Retry-After parsing and backoff bounds. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transport/otlp_config.h"

/* A fake environment: NAME=value strings, NULL-terminated. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
	size_t n = strlen(name);

	for (const char *const *e = fake_env; e && *e; e++) {
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	}
	return NULL;
}

/* Loads with env; returns the error code, err holds the message. */
static int load(struct otlp_config *c, const char *flag, double interval, const char *const *env,
		char *err, size_t errlen)
{
	fake_env = env;
	err[0] = '\0';
	return otlp_config_load(c, flag, interval, fake_getenv, err, errlen);
}

static const char *resource(const struct otlp_config *c, const char *key)
{
	for (size_t i = 0; i < c->n_resource; i++) {
		if (strcmp(c->resource[i].key, key) == 0)
			return c->resource[i].value;
	}
	return NULL;
}

static void test_endpoints(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	/* nothing set: export off */
	assert_int_equal(load(&c, NULL, 0, (const char *[]){ NULL }, err, sizeof(err)), 0);
	assert_null(c.url);
	otlp_config_free(&c);
	/* an empty variable is unset */
	assert_int_equal(load(&c, NULL, 0, (const char *[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=", NULL },
			      err, sizeof(err)),
			 0);
	assert_null(c.url);
	otlp_config_free(&c);

	static const struct {
		const char *generic, *metrics, *flag, *want;
	} cases[] = {
		{ "http://127.0.0.1:4318", NULL, NULL, "http://127.0.0.1:4318/v1/metrics" },
		{ "http://127.0.0.1:4318/", NULL, NULL, "http://127.0.0.1:4318/v1/metrics" },
		{ "https://collector:4318/otlp", NULL, NULL,
		  "https://collector:4318/otlp/v1/metrics" },
		/* the signal-specific one is used as is, and wins */
		{ "http://a:1", "http://b:2/custom/path", NULL, "http://b:2/custom/path" },
		{ NULL, "http://b:2", NULL, "http://b:2/" },
		/* the flag wins over both; a base gets the path, a full URL is kept */
		{ "http://a:1", "http://b:2/x", "http://c:3", "http://c:3/v1/metrics" },
		{ NULL, NULL, "http://c:3/v1/metrics", "http://c:3/v1/metrics" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char g[128], m[128];
		const char *env[3] = { NULL };
		int n = 0;

		if (cases[i].generic) {
			snprintf(g, sizeof(g), "OTEL_EXPORTER_OTLP_ENDPOINT=%s", cases[i].generic);
			env[n++] = g;
		}
		if (cases[i].metrics) {
			snprintf(m, sizeof(m), "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=%s",
				 cases[i].metrics);
			env[n++] = m;
		}
		if (load(&c, cases[i].flag, 0, env, err, sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_non_null(c.url);
		if (strcmp(c.url, cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, c.url, cases[i].want);
		/* defaults */
		assert_true(c.gzip);
		assert_true(c.timeout == 10.0);
		assert_true(c.interval == 60.0);
		assert_string_equal(resource(&c, "service.name"), "bpfdiag");
		assert_string_equal(c.resource[0].key, "service.name");
		otlp_config_free(&c);
	}

	static const char *const bad[] = { "ftp://h/", "not a url", "http://", "127.0.0.1:4318" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load(&c, bad[i], 0, (const char *[]){ NULL }, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted endpoint '%s'", bad[i]);
		assert_non_null(strstr(err, "--otlp-endpoint"));
		otlp_config_free(&c);
	}
	assert_int_equal(load(&c, NULL, 0,
			      (const char *[]){ "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=x:y", NULL },
			      err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"));
	otlp_config_free(&c);
}

static void test_options(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	assert_int_equal(load(&c, "http://h:1", 0,
			      (const char *[]){ "OTEL_EXPORTER_OTLP_HEADERS=a=1,b=2",
						"OTEL_EXPORTER_OTLP_METRICS_HEADERS="
						"api-key=s%3Dcret%2C1 , x-tenant = t1 ,",
						"OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
						"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION=NONE",
						"OTEL_EXPORTER_OTLP_TIMEOUT=5000",
						"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=1500",
						"OTEL_METRIC_EXPORT_INTERVAL=250", NULL },
			      err, sizeof(err)),
			 0);
	/* the metrics-specific headers replace the generic ones */
	assert_int_equal(c.n_headers, 2);
	assert_string_equal(c.headers[0].key, "api-key");
	assert_string_equal(c.headers[0].value, "s=cret,1");
	assert_string_equal(c.headers[1].key, "x-tenant");
	assert_string_equal(c.headers[1].value, "t1");
	assert_false(c.gzip);
	assert_true(c.timeout == 1.5);
	assert_true(c.interval == 0.25);
	otlp_config_free(&c);
	/* the flag's interval beats the variable */
	assert_int_equal(load(&c, "http://h:1", 7,
			      (const char *[]){ "OTEL_METRIC_EXPORT_INTERVAL=250", NULL }, err,
			      sizeof(err)),
			 0);
	assert_true(c.interval == 7);
	otlp_config_free(&c);

	static const struct {
		const char *env, *needle;
	} bad[] = {
		{ "OTEL_EXPORTER_OTLP_COMPRESSION=zstd", "OTEL_EXPORTER_OTLP_COMPRESSION" },
		{ "OTEL_EXPORTER_OTLP_TIMEOUT=soon", "OTEL_EXPORTER_OTLP_TIMEOUT" },
		{ "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=0", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT" },
		{ "OTEL_EXPORTER_OTLP_TIMEOUT=-5", "OTEL_EXPORTER_OTLP_TIMEOUT" },
		{ "OTEL_METRIC_EXPORT_INTERVAL=1.5", "OTEL_METRIC_EXPORT_INTERVAL" },
		{ "OTEL_EXPORTER_OTLP_HEADERS=novalue", "OTEL_EXPORTER_OTLP_HEADERS" },
		{ "OTEL_EXPORTER_OTLP_HEADERS=bad name=1", "not a header name" },
		{ "OTEL_EXPORTER_OTLP_HEADERS=a=line%0Abreak", "OTEL_EXPORTER_OTLP_HEADERS" },
		{ "OTEL_EXPORTER_OTLP_METRICS_HEADERS==v", "empty key" },
		{ "OTEL_RESOURCE_ATTRIBUTES=a=%4", "OTEL_RESOURCE_ATTRIBUTES" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load(&c, "http://h:1", 0, (const char *[]){ bad[i].env, NULL }, err,
			 sizeof(err)) != -EINVAL)
			fail_msg("accepted %s", bad[i].env);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: message '%s' lacks '%s'", bad[i].env, err, bad[i].needle);
		assert_null(strchr(err, '\n'));
		otlp_config_free(&c);
	}
}

static void test_resource(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	/* service.name from the attributes when OTEL_SERVICE_NAME is unset; last duplicate wins */
	assert_int_equal(load(&c, "http://h:1", 0,
			      (const char *[]){ "OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs,"
						"deployment.environment=prod,team=a%2Cb,team=c%20d",
						NULL },
			      err, sizeof(err)),
			 0);
	assert_int_equal(c.n_resource, 3);
	assert_string_equal(c.resource[0].key, "service.name");
	assert_string_equal(c.resource[0].value, "from-attrs");
	assert_string_equal(resource(&c, "deployment.environment"), "prod");
	assert_string_equal(resource(&c, "team"), "c d");
	otlp_config_free(&c);
	/* OTEL_SERVICE_NAME wins */
	assert_int_equal(load(&c, "http://h:1", 0,
			      (const char *[]){ "OTEL_RESOURCE_ATTRIBUTES=service.name=x",
						"OTEL_SERVICE_NAME=svc", NULL },
			      err, sizeof(err)),
			 0);
	assert_int_equal(c.n_resource, 1);
	assert_string_equal(resource(&c, "service.name"), "svc");
	otlp_config_free(&c);
}

static void test_kv_list(void **state)
{
	struct otlp_kv *kv;
	size_t n;
	char err[128], many[64 * 8 + 16] = "";

	(void)state;
	assert_int_equal(otlp_parse_kv_list("", &kv, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	otlp_kv_free(kv, n);
	assert_int_equal(otlp_parse_kv_list(" a = 1 ,, b=, c=x=y ", &kv, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(kv[0].key, "a");
	assert_string_equal(kv[0].value, "1");
	assert_string_equal(kv[1].key, "b");
	assert_string_equal(kv[1].value, "");
	assert_string_equal(kv[2].key, "c");
	assert_string_equal(kv[2].value, "x=y");
	otlp_kv_free(kv, n);
	assert_int_equal(otlp_parse_kv_list("k%20ey=%e2%82%AC", &kv, &n, err, sizeof(err)), 0);
	assert_string_equal(kv[0].key, "k ey");
	assert_string_equal(kv[0].value, "\xe2\x82\xac");
	otlp_kv_free(kv, n);
	static const char *const bad[] = { "a",	    "a=1,b", "=1",    "a=%",
					   "a=%g1", "a=%0",  "a=%00", "a=\x01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (otlp_parse_kv_list(bad[i], &kv, &n, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(err[0] != '\0');
	}
	for (int i = 0; i < 65; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "k%d=v,", i);
	assert_int_equal(otlp_parse_kv_list(many, &kv, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 64"));
}

static void test_retry_after(void **state)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	const time_t t = 1445412480;
	double s;

	(void)state;
	assert_int_equal(otlp_parse_retry_after("2", t, &s), 0);
	assert_true(s == 2);
	assert_int_equal(otlp_parse_retry_after(" 120 ", t, &s), 0);
	assert_true(s == 120);
	assert_int_equal(otlp_parse_retry_after("0", t, &s), 0);
	assert_true(s == 0);
	assert_int_equal(otlp_parse_retry_after("99999999999999", t, &s), 0);
	assert_true(s == 86400.0 * 365); /* clamped, not overflowed */
	assert_int_equal(otlp_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", t, &s), 0);
	assert_true(s == 30);
	assert_int_equal(otlp_parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", t, &s), 0);
	assert_true(s == 60);
	assert_int_equal(otlp_parse_retry_after("Wed Oct 21 07:28:05 2015", t, &s), 0);
	assert_true(s == 5);
	assert_int_equal(otlp_parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", t, &s), 0);
	assert_true(s == 0); /* in the past: now */
	static const char *const bad[] = { "", " ", "-1", "1.5", "2 s", "soon", "12abc" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (otlp_parse_retry_after(bad[i], t, &s) != -EINVAL)
			fail_msg("accepted Retry-After '%s'", bad[i]);
	}
}

static void test_backoff(void **state)
{
	static const double rnds[] = { 0, 0.25, 0.5, 0.999999, -1, 2, NAN };

	(void)state;
	for (unsigned a = 1; a < 200; a++) {
		double full = a < 40 ? fmin(30.0, 1.0 * pow(2, a - 1)) : 30.0;

		for (size_t r = 0; r < sizeof(rnds) / sizeof(rnds[0]); r++) {
			double d = otlp_backoff(a, 1.0, 30.0, rnds[r]);

			/* jittered into [full/2, full): never beyond the cap, never zero */
			if (!(d >= full / 2 && d < full + 1e-9))
				fail_msg("attempt %u rnd %g: %g not in [%g, %g)", a, rnds[r], d,
					 full / 2, full);
		}
	}
	assert_true(otlp_backoff(1, 1, 30, 0) == 0.5);
	assert_true(otlp_backoff(3, 1, 30, 0) == 2);
	assert_true(fabs(otlp_backoff(4, 0.2, 30, 0.5) - 1.2) < 1e-12);
	assert_true(otlp_backoff(0, 1, 30, 0) == 0.5); /* attempt 0 acts as the first */
	assert_true(otlp_backoff(UINT32_MAX, 1, 60, 0) == 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),   cmocka_unit_test(test_options),
		cmocka_unit_test(test_resource),    cmocka_unit_test(test_kv_list),
		cmocka_unit_test(test_retry_after), cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
