// SPDX-License-Identifier: BSD-2-Clause
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

#define CLI_HTTP_MAX_BODY (64u << 20)

int cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bpfdiag %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int opt, char **argv)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return cli_error(cmd, "option '%s' needs a value (see 'bpfdiag %s --help')", arg,
				 cmd);
	if (optopt && optopt != '?')
		return cli_error(cmd, "unknown option '-%c' (see 'bpfdiag %s --help')", optopt,
				 cmd);
	return cli_error(cmd, "unknown option '%s' (see 'bpfdiag %s --help')", arg, cmd);
}

int cli_parse_seconds(const char *s, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct strbuf *sb = ud;
	size_t n = size * nmemb;

	if (sb->len + n > CLI_HTTP_MAX_BODY)
		return 0; /* abort: an agent answer is never this large */
	strbuf_append(sb, ptr, n);
	return strbuf_failed(sb) ? 0 : n;
}

int cli_http_get(const char *url, long timeout_ms, char **ret_body, long *ret_status, char *err,
		 size_t errlen)
{
	struct strbuf sb = STRBUF_INIT;
	CURL *c = curl_easy_init();
	CURLcode rc;
	long status = 0;
	char *body;

	if (!c) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
		strbuf_reset(&sb);
		return -ECONNREFUSED;
	}
	body = strbuf_steal(&sb, NULL);
	if (!body) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*ret_body = body;
	*ret_status = status;
	return 0;
}
