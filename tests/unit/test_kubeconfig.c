// SPDX-License-Identifier: BSD-2-Clause
/* Kubeconfig resolution for check --cluster: the current context (or a named one) picks the
 * cluster and user; files relative to the kubeconfig's folder, *-data decoded from base64,
 * token and tokenFile, flow-style contexts as tools/cluster writes them; missing pieces and
 * unsupported credential plugins refused with a reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kubeconfig.h"

/* As tools/cluster/cluster writes it, plus a second context with base64 data and a token. */
static const char CONFIG[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: bpfdiag\n"
	"  cluster:\n"
	"    server: https://10.200.0.1:6443/\n"
	"    certificate-authority: pki/ca.crt\n"
	"- name: cloud\n"
	"  cluster:\n"
	"    server: https://api.example.test\n"
	"    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n"
	"    insecure-skip-tls-verify: true\n"
	"users:\n"
	"- name: admin\n"
	"  user:\n"
	"    client-certificate: /abs/admin.crt\n"
	"    client-key: pki/admin.key\n"
	"- name: dev\n"
	"  user: {token: abc.def}\n"
	"- name: sso\n"
	"  user:\n"
	"    exec: {command: get-token}\n"
	"contexts:\n"
	"- name: bpfdiag\n"
	"  context: {cluster: bpfdiag, user: admin}\n"
	"- name: cloud\n"
	"  context: {cluster: cloud, user: dev}\n"
	"- name: sso\n"
	"  context: {cluster: cloud, user: sso}\n"
	"- name: broken\n"
	"  context: {cluster: gone, user: dev}\n"
	"current-context: bpfdiag\n";

static int parse(const char *context, struct kube_target *t, char *err, size_t len)
{
	return kube_target_parse(CONFIG, sizeof(CONFIG) - 1, "/etc/kube", context, t, err, len);
}

static void test_client_certificate_context(void **state)
{
	struct kube_target t;
	char err[256];

	(void)state;
	assert_int_equal(parse(NULL, &t, err, sizeof(err)), 0);
	assert_string_equal(t.server, "https://10.200.0.1:6443");
	assert_string_equal(t.ca.file, "/etc/kube/pki/ca.crt");
	assert_string_equal(t.cert.file, "/abs/admin.crt");
	assert_string_equal(t.key.file, "/etc/kube/pki/admin.key");
	assert_null(t.token);
	assert_false(t.insecure);
	kube_target_clear(&t);
}

static void test_data_and_token_context(void **state)
{
	struct kube_target t;
	char err[256];

	(void)state;
	assert_int_equal(parse("cloud", &t, err, sizeof(err)), 0);
	assert_string_equal(t.server, "https://api.example.test");
	assert_null(t.ca.file);
	assert_int_equal(t.ca.len, 27);
	assert_memory_equal(t.ca.data, "-----BEGIN CERTIFICATE-----", 27);
	assert_string_equal(t.token, "abc.def");
	assert_true(t.insecure);
	kube_target_clear(&t);
}

static void test_refusals(void **state)
{
	struct kube_target t;
	char err[256];

	(void)state;
	assert_int_equal(parse("sso", &t, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "exec"));
	assert_int_equal(parse("broken", &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no cluster 'gone'"));
	assert_int_equal(parse("nope", &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no context 'nope'"));
	assert_int_equal(kube_target_parse("[1, 2", 5, NULL, NULL, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not YAML"));
	assert_int_equal(kube_target_parse("a: b\n", 5, NULL, NULL, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "current-context"));
}

static void test_token_file_and_env(void **state)
{
	char dir[] = "/tmp/test_kubeconfig.XXXXXX", path[256], tok[256], err[256];
	struct kube_target t;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(tok, sizeof(tok), "%s/token", dir);
	f = fopen(tok, "w");
	fputs("from-file\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	fputs("clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
	      "users: [{name: u, user: {tokenFile: token}}]\n"
	      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
	      "current-context: x\n",
	      f);
	fclose(f);
	setenv("KUBECONFIG", path, 1);
	assert_int_equal(kube_target_resolve(NULL, NULL, &t, err, sizeof(err)), 0);
	assert_string_equal(t.server, "http://127.0.0.1:1");
	assert_string_equal(t.token, "from-file");
	assert_string_equal(t.source, path);
	kube_target_clear(&t);
	unsetenv("KUBECONFIG");
	setenv("HOME", dir, 1); /* no .kube/config there */
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_target_resolve(NULL, NULL, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no kubeconfig"));
	unlink(tok);
	unlink(path);
	rmdir(dir);
}

static void test_base64(void **state)
{
	char *out;
	size_t n;

	(void)state;
	assert_int_equal(kube_base64_decode("aGVs\nbG8=", &out, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(out, "hello");
	free(out);
	assert_int_equal(kube_base64_decode("a*b", &out, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_certificate_context),
		cmocka_unit_test(test_data_and_token_context),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_token_file_and_env),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
