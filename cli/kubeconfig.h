/* SPDX-License-Identifier: BSD-2-Clause */
/* Where a user's Kubernetes API is and how to authenticate to it: the current context of a
 * kubeconfig file, or the in-cluster service account. For `bpfdiag check --cluster`. */
#ifndef BPFDIAG_CLI_KUBECONFIG_H
#define BPFDIAG_CLI_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* PEM or token material: a file to read, or bytes (decoded from a kubeconfig's *-data). */
struct kube_blob {
	char *file;
	char *data;
	size_t len;
};

struct kube_target {
	char *server; /* https://HOST[:PORT], no trailing slash */
	char *source; /* the kubeconfig path and context, or "in-cluster", for messages */
	struct kube_blob ca; /* certificate-authority(-data); empty: the system CAs */
	struct kube_blob cert; /* client-certificate(-data) */
	struct kube_blob key; /* client-key(-data) */
	char *token; /* bearer token (token, or tokenFile's contents) */
	bool insecure; /* insecure-skip-tls-verify */
};

/* Resolves the target: path when given, else the first file of $KUBECONFIG, else
 * ~/.kube/config when it exists, else the in-cluster service account when
 * KUBERNETES_SERVICE_HOST is set. context: NULL for the current context. Returns 0 with *ret
 * filled (release with kube_target_clear), or a negative errno with the reason in err. */
int kube_target_resolve(const char *path, const char *context, struct kube_target *ret, char *err,
			size_t errlen);
/* Parses kubeconfig text (YAML); relative file names resolve against dir. */
int kube_target_parse(const char *text, size_t len, const char *dir, const char *context,
		      struct kube_target *ret, char *err, size_t errlen);
void kube_target_clear(struct kube_target *t);

/* Decodes standard base64 (whitespace ignored). Returns 0 with a new NUL-terminated buffer in
 * *ret (length *ret_len), -EINVAL on a bad character, or -ENOMEM. */
int kube_base64_decode(const char *s, char **ret, size_t *ret_len);

#endif
