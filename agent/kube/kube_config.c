// SPDX-License-Identifier: BSD-2-Clause
/* Where the API is: --kube-api, --kube-token-file and --kube-ca-file resolved (SPEC §2). */
#include "kube/kube_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

int kube_config_resolve(const char *api, const char *token_file, const char *ca_file,
			const char *env_host, const char *env_port, struct kube_config *ret,
			char *err, size_t errlen)
{
	const char *host;

	memset(ret, 0, sizeof(*ret));
	if (!api || strcmp(api, "auto") == 0) {
		if (!env_host || !*env_host)
			return 0; /* not in a cluster: local mode */
		for (const char *p = env_host; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':')) {
				snprintf(err, errlen, "KUBERNETES_SERVICE_HOST '%s' is not a host",
					 env_host);
				return -EINVAL;
			}
		}
		if (env_port && *env_port && strspn(env_port, "0123456789") != strlen(env_port)) {
			snprintf(err, errlen, "KUBERNETES_SERVICE_PORT '%s' is not a port",
				 env_port);
			return -EINVAL;
		}
		snprintf(ret->url, sizeof(ret->url),
			 strchr(env_host, ':') ? "https://[%s]:%s" : "https://%s:%s", env_host,
			 env_port && *env_port ? env_port : "443");
		ret->in_cluster = true;
	} else if (strcmp(api, "none") == 0) {
		return 0;
	} else {
		size_t n = strlen(api);

		host = strncmp(api, "https://", 8) == 0 ? api + 8 :
		       strncmp(api, "http://", 7) == 0	? api + 7 :
							  NULL;
		if (!host || !*host || *host == '/' || n >= sizeof(ret->url) ||
		    strcspn(api, " \t\r\n\"'<>\\^`{|}?#") != n) {
			snprintf(
				err, errlen,
				"bad --kube-api '%s': want auto, none or an http(s)://HOST[:PORT] URL",
				api);
			return -EINVAL;
		}
		memcpy(ret->url, api, n + 1);
		while (n > 0 && ret->url[n - 1] == '/')
			ret->url[--n] = '\0';
	}
	if (token_file) {
		if (!readable(token_file)) {
			snprintf(err, errlen, "--kube-token-file '%s': %s", token_file,
				 strerror(errno));
			return -EINVAL;
		}
		snprintf(ret->token_file, sizeof(ret->token_file), "%s", token_file);
		ret->token_explicit = true;
	} else if (readable(KUBE_SA_DIR "/token")) {
		snprintf(ret->token_file, sizeof(ret->token_file), "%s", KUBE_SA_DIR "/token");
	}
	if (ca_file) {
		if (!readable(ca_file)) {
			snprintf(err, errlen, "--kube-ca-file '%s': %s", ca_file, strerror(errno));
			return -EINVAL;
		}
		snprintf(ret->ca_file, sizeof(ret->ca_file), "%s", ca_file);
	} else if (strncmp(ret->url, "https://", 8) == 0 && readable(KUBE_SA_DIR "/ca.crt")) {
		snprintf(ret->ca_file, sizeof(ret->ca_file), "%s", KUBE_SA_DIR "/ca.crt");
	}
	ret->enabled = true;
	return 0;
}
