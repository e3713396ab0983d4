// SPDX-License-Identifier: BSD-2-Clause
#include "kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define KUBECONFIG_MAX (4u << 20) /* a kubeconfig is kilobytes; refuse anything absurd */
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int kube_base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t n = strlen(s), len = 0;
	unsigned acc = 0;
	int bits = 0;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return -ENOMEM;
	for (const char *p = s; *p; p++) {
		int v;

		if (*p >= 'A' && *p <= 'Z')
			v = *p - 'A';
		else if (*p >= 'a' && *p <= 'z')
			v = *p - 'a' + 26;
		else if (*p >= '0' && *p <= '9')
			v = *p - '0' + 52;
		else if (*p == '+')
			v = 62;
		else if (*p == '/')
			v = 63;
		else if (*p == '=' || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		else {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[len] = '\0';
	*ret = out;
	*ret_len = len;
	return 0;
}

static void blob_clear(struct kube_blob *b)
{
	free(b->file);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void kube_target_clear(struct kube_target *t)
{
	free(t->server);
	free(t->source);
	blob_clear(&t->ca);
	blob_clear(&t->cert);
	blob_clear(&t->key);
	if (t->token)
		explicit_bzero(t->token, strlen(t->token));
	free(t->token);
	memset(t, 0, sizeof(*t));
}

/* Reads a whole small file. Returns 0 with a NUL-terminated buffer, or a negative errno. */
static int read_file(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len;

	if (!f)
		return -errno;
	buf = malloc(KUBECONFIG_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, KUBECONFIG_MAX + 1, f);
	if (ferror(f) || len > KUBECONFIG_MAX) {
		int e = ferror(f) ? -EIO : -EFBIG;

		fclose(f);
		free(buf);
		return e;
	}
	fclose(f);
	buf[len] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* --- the YAML document ------------------------------------------------------------------ */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The item of the list under key whose "name" is name; returns its member "inner". */
static yaml_node_t *named(yaml_document_t *d, yaml_node_t *root, const char *key, const char *name,
			  const char *inner)
{
	yaml_node_t *list = map_get(d, root, key);

	if (!list || list->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(d, *i);
		const char *n = scalar(map_get(d, item, "name"));

		if (n && strcmp(n, name) == 0)
			return map_get(d, item, inner);
	}
	return NULL;
}

static char *path_in(const char *dir, const char *file)
{
	char *p;

	if (file[0] == '/' || !dir)
		return strdup(file);
	if (asprintf(&p, "%s/%s", dir, file) < 0)
		return NULL;
	return p;
}

/* Fills b from m's member file_key (a path) or data_key (base64). */
static int blob_from(yaml_document_t *d, yaml_node_t *m, const char *file_key, const char *data_key,
		     const char *dir, struct kube_blob *b, char *err, size_t errlen)
{
	const char *data = scalar(map_get(d, m, data_key));
	const char *file = scalar(map_get(d, m, file_key));

	if (data && *data) {
		if (kube_base64_decode(data, &b->data, &b->len)) {
			snprintf(err, errlen, "%s is not base64", data_key);
			return -EINVAL;
		}
	} else if (file && *file) {
		if (!(b->file = path_in(dir, file)))
			return -ENOMEM;
	}
	return 0;
}

int kube_target_parse(const char *text, size_t len, const char *dir, const char *context,
		      struct kube_target *ret, char *err, size_t errlen)
{
	struct kube_target t = { 0 };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *ctx, *cluster, *user;
	const char *cname, *cluster_name, *user_name, *server, *s;
	int r = -EINVAL;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "not YAML: %s at line %zu",
			 parser.problem ? parser.problem : "error", parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	cname = context ? context : scalar(map_get(&doc, root, "current-context"));
	if (!cname || !*cname) {
		snprintf(err, errlen, "no current-context (give --context)");
		goto out;
	}
	ctx = named(&doc, root, "contexts", cname, "context");
	if (!ctx) {
		snprintf(err, errlen, "no context '%s'", cname);
		goto out;
	}
	cluster_name = scalar(map_get(&doc, ctx, "cluster"));
	user_name = scalar(map_get(&doc, ctx, "user"));
	cluster = cluster_name ? named(&doc, root, "clusters", cluster_name, "cluster") : NULL;
	if (!cluster) {
		snprintf(err, errlen, "context '%s': no cluster '%s'", cname,
			 cluster_name ? cluster_name : "");
		goto out;
	}
	server = scalar(map_get(&doc, cluster, "server"));
	if (!server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))) {
		snprintf(err, errlen, "cluster '%s': no http(s) server", cluster_name);
		goto out;
	}
	r = -ENOMEM;
	if (!(t.server = strdup(server)))
		goto out;
	for (size_t n = strlen(t.server); n > 0 && t.server[n - 1] == '/'; n--)
		t.server[n - 1] = '\0';
	s = scalar(map_get(&doc, cluster, "insecure-skip-tls-verify"));
	t.insecure = s && strcmp(s, "true") == 0;
	r = blob_from(&doc, cluster, "certificate-authority", "certificate-authority-data", dir,
		      &t.ca, err, errlen);
	if (r)
		goto out;
	user = user_name ? named(&doc, root, "users", user_name, "user") : NULL;
	if (user) {
		const char *token = scalar(map_get(&doc, user, "token"));
		const char *token_file = scalar(map_get(&doc, user, "tokenFile"));

		r = blob_from(&doc, user, "client-certificate", "client-certificate-data", dir,
			      &t.cert, err, errlen);
		if (!r)
			r = blob_from(&doc, user, "client-key", "client-key-data", dir, &t.key, err,
				      errlen);
		if (r)
			goto out;
		if (map_get(&doc, user, "exec") || map_get(&doc, user, "auth-provider")) {
			snprintf(err, errlen,
				 "user '%s': exec and auth-provider credentials are not supported "
				 "(use a token, tokenFile or a client certificate)",
				 user_name);
			r = -ENOTSUP;
			goto out;
		}
		if (token && *token) {
			r = -ENOMEM;
			if (!(t.token = strdup(token)))
				goto out;
		} else if (token_file && *token_file) {
			char *p = path_in(dir, token_file);

			r = p ? read_file(p, &t.token, NULL) : -ENOMEM;
			if (r)
				snprintf(err, errlen, "tokenFile %s: %s", p ? p : token_file,
					 strerror(-r));
			free(p);
			if (r)
				goto out;
			t.token[strcspn(t.token, "\r\n")] = '\0';
		}
	}
	r = 0;
	*ret = t;
	memset(&t, 0, sizeof(t));
out:
	kube_target_clear(&t);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

static int in_cluster(struct kube_target *ret, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kube_target t = { 0 };
	int r;

	if (asprintf(&t.server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		     port && *port ? port : "443") < 0)
		return -ENOMEM;
	r = read_file(SA_DIR "/token", &t.token, NULL);
	if (r) {
		snprintf(err, errlen, "in-cluster: %s/token: %s", SA_DIR, strerror(-r));
		kube_target_clear(&t);
		return r;
	}
	t.token[strcspn(t.token, "\r\n")] = '\0';
	t.ca.file = strdup(SA_DIR "/ca.crt");
	t.source = strdup("in-cluster service account");
	if (!t.ca.file || !t.source) {
		kube_target_clear(&t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

int kube_target_resolve(const char *path, const char *context, struct kube_target *ret, char *err,
			size_t errlen)
{
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char *file = NULL, *text = NULL, *dir, *slash;
	size_t len;
	int r;

	if (path && *path) {
		file = strdup(path);
	} else if (env && *env) {
		file = strndup(env, strcspn(env, ":"));
	} else {
		if (home && *home && asprintf(&file, "%s/.kube/config", home) < 0)
			return -ENOMEM;
		if (!file || access(file, F_OK) != 0) {
			const char *host = getenv("KUBERNETES_SERVICE_HOST");

			free(file);
			if (host && *host)
				return in_cluster(ret, err, errlen);
			snprintf(err, errlen,
				 "no kubeconfig: set KUBECONFIG, give --kubeconfig or "
				 "create ~/.kube/config");
			return -ENOENT;
		}
	}
	if (!file)
		return -ENOMEM;
	r = read_file(file, &text, &len);
	if (r) {
		snprintf(err, errlen, "kubeconfig %s: %s", file, strerror(-r));
		free(file);
		return r;
	}
	dir = strdup(file);
	if (dir && (slash = strrchr(dir, '/')))
		*slash = '\0';
	else if (dir)
		strcpy(dir, ".");
	r = dir ? kube_target_parse(text, len, dir, context, ret, err, errlen) : -ENOMEM;
	if (r == 0 && asprintf(&ret->source, "%s", file) < 0)
		ret->source = NULL;
	if (r) {
		char inner[512];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "kubeconfig %s: %s", file, inner);
	}
	free(dir);
	free(text);
	free(file);
	return r;
}
