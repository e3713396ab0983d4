// SPDX-License-Identifier: BSD-2-Clause
/* --kube-api auto|none|URL, --kube-token-file and --kube-ca-file resolution (SPEC §2): the
 * in-cluster URL from KUBERNETES_SERVICE_HOST/PORT (IPv6 in brackets), URLs accepted and
 * refused with one clear line, unreadable explicit files refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kube/kube_meta.h"

#define FIXTURE FIXTURES_DIR "/kube/pod-web.json"

static bool sa_present(void)
{
	return access(KUBE_SA_DIR "/token", R_OK) == 0;
}

static void test_modes(void **state)
{
	struct kube_config c;
	char err[256];

	(void)state;
	assert_int_equal(kube_config_resolve("none", NULL, NULL, "10.96.0.1", "443", &c, err,
					     sizeof(err)),
			 0);
	assert_false(c.enabled);
	/* auto outside a cluster: local mode */
	assert_int_equal(kube_config_resolve("auto", NULL, NULL, NULL, NULL, &c, err, sizeof(err)),
			 0);
	assert_false(c.enabled);
	assert_int_equal(kube_config_resolve(NULL, NULL, NULL, "", "", &c, err, sizeof(err)), 0);
	assert_false(c.enabled);
	/* auto in a cluster */
	assert_int_equal(kube_config_resolve("auto", NULL, NULL, "10.96.0.1", "443", &c, err,
					     sizeof(err)),
			 0);
	assert_true(c.enabled);
	assert_true(c.in_cluster);
	assert_string_equal(c.url, "https://10.96.0.1:443");
	assert_int_equal(kube_config_resolve("auto", NULL, NULL, "fd00:10:96::1", NULL, &c, err,
					     sizeof(err)),
			 0);
	assert_string_equal(c.url, "https://[fd00:10:96::1]:443");
	if (!sa_present()) {
		assert_string_equal(c.token_file, "");
		assert_string_equal(c.ca_file, "");
	}
	assert_int_equal(kube_config_resolve("auto", NULL, NULL, "evil/host", "443", &c, err,
					     sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	assert_int_equal(kube_config_resolve("auto", NULL, NULL, "10.0.0.1", "44a", &c, err,
					     sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_PORT"));
}

static void test_urls(void **state)
{
	static const char *const bad[] = { "ftp://x",	    "http://",	      "http:///pods",
					   "https://a b",   "127.0.0.1:8080", "https://x/\"",
					   "http://x/?q=1", "HTTP://x",	      "" };
	struct kube_config c;
	char err[256];

	(void)state;
	assert_int_equal(kube_config_resolve("http://127.0.0.1:8001/", NULL, NULL, "10.0.0.1", "1",
					     &c, err, sizeof(err)),
			 0);
	assert_true(c.enabled);
	assert_false(c.in_cluster); /* an explicit URL wins over the environment */
	assert_string_equal(c.url, "http://127.0.0.1:8001");
	assert_string_equal(c.ca_file, ""); /* no CA for http */
	assert_int_equal(kube_config_resolve("https://api.example:6443/k8s/clusters/c-1", NULL,
					     NULL, NULL, NULL, &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.url, "https://api.example:6443/k8s/clusters/c-1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(kube_config_resolve(bad[i], NULL, NULL, NULL, NULL, &c, err,
						     sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "bad --kube-api"));
		assert_null(strchr(err, '\n'));
	}
}

static void test_files(void **state)
{
	struct kube_config c;
	char err[256];

	(void)state;
	assert_int_equal(kube_config_resolve("https://127.0.0.1:6443", FIXTURE, FIXTURE, NULL, NULL,
					     &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.token_file, FIXTURE);
	assert_true(c.token_explicit);
	assert_string_equal(c.ca_file, FIXTURE);
	assert_int_equal(kube_config_resolve("https://127.0.0.1:6443", "/nonexistent/token", NULL,
					     NULL, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "--kube-token-file '/nonexistent/token'"));
	assert_int_equal(kube_config_resolve("https://127.0.0.1:6443", NULL, "/nonexistent/ca",
					     NULL, NULL, &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "--kube-ca-file '/nonexistent/ca'"));
	if (!sa_present()) {
		assert_int_equal(kube_config_resolve("https://127.0.0.1:6443", NULL, NULL, NULL,
						     NULL, &c, err, sizeof(err)),
				 0);
		assert_string_equal(c.token_file, "");
		assert_false(c.token_explicit);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
