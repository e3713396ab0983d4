// SPDX-License-Identifier: BSD-2-Clause
#include "transport/otlp_config.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The value of name, or NULL when it is unset or empty (the OpenTelemetry rule: an empty
 * variable means the default). */
static const char *env(otlp_getenv_fn fn, const char *name)
{
	const char *v = fn ? fn(name) : getenv(name);

	return v && *v ? v : NULL;
}

/* The first set of the metrics-specific variable and the generic one; *ret_name says which. */
static const char *env2(otlp_getenv_fn fn, const char *metrics, const char *generic,
			const char **ret_name)
{
	const char *v = env(fn, metrics);

	*ret_name = metrics;
	if (v)
		return v;
	*ret_name = generic;
	return env(fn, generic);
}

void otlp_kv_free(struct otlp_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void otlp_config_free(struct otlp_config *c)
{
	free(c->url);
	otlp_kv_free(c->headers, c->n_headers);
	otlp_kv_free(c->resource_kv, c->n_resource);
	free(c->resource);
	*c = (struct otlp_config){ 0 };
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Trims spaces and percent-decodes s[0, n) into a new string. Returns NULL on a bad escape, a
 * decoded control character (tab allowed) or ENOMEM (errno says which). */
static char *decode(const char *s, size_t n)
{
	char *out, *o;

	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	out = o = malloc(n + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			goto bad;
		*o++ = (char)c;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}

int otlp_parse_kv_list(const char *s, struct otlp_kv **ret, size_t *ret_n, char *err, size_t errlen)
{
	struct otlp_kv *kv = NULL;
	size_t n = 0;
	const char *p = s;

	for (;;) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct otlp_kv *grown;
		char *k, *v;

		eq = memchr(p, '=', len);
		if (!eq) {
			/* Empty items ("a=1,,b=2", a trailing comma) carry nothing: skip them. */
			size_t i = 0;

			while (i < len && isspace((unsigned char)p[i]))
				i++;
			if (i == len)
				goto next;
			snprintf(err, errlen, "item '%.*s' has no '='", (int)(len > 40 ? 40 : len),
				 p);
			goto bad;
		}
		if (n == OTLP_MAX_LIST_ITEMS) {
			snprintf(err, errlen, "more than %d items", OTLP_MAX_LIST_ITEMS);
			goto bad;
		}
		k = decode(p, (size_t)(eq - p));
		v = k ? decode(eq + 1, len - (size_t)(eq - p) - 1) : NULL;
		if (!k || !v || !k[0]) {
			int e = errno;

			snprintf(err, errlen, "%s in item '%.*s'",
				 e == ENOMEM	 ? "out of memory" :
				 k && v && !k[0] ? "empty key" :
						   "bad percent-encoding or control character",
				 (int)(len > 40 ? 40 : len), p);
			free(k);
			free(v);
			otlp_kv_free(kv, n);
			return e == ENOMEM ? -ENOMEM : -EINVAL;
		}
		grown = realloc(kv, (n + 1) * sizeof(*kv));
		if (!grown) {
			free(k);
			free(v);
			snprintf(err, errlen, "out of memory");
			otlp_kv_free(kv, n);
			return -ENOMEM;
		}
		kv = grown;
		kv[n++] = (struct otlp_kv){ k, v };
next:
		if (!end)
			break;
		p = end + 1;
	}
	*ret = kv;
	*ret_n = n;
	return 0;
bad:
	otlp_kv_free(kv, n);
	return -EINVAL;
}

int otlp_endpoint_url(const char *endpoint, bool append, char **ret, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *path = NULL, *full = NULL;
	int r = -EINVAL;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		snprintf(err, errlen, "'%s' is not a URL (want http://HOST:PORT[/PATH])", endpoint);
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		snprintf(err, errlen, "'%s': only http:// and https:// are supported", endpoint);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		snprintf(err, errlen, "'%s' is not a URL", endpoint);
		goto out;
	}
	if (append) {
		size_t pl = strlen(path);
		char *np = malloc(pl + sizeof("/" OTLP_METRICS_PATH));

		if (!np) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		snprintf(np, pl + sizeof("/" OTLP_METRICS_PATH), "%s%s" OTLP_METRICS_PATH, path,
			 pl && path[pl - 1] == '/' ? "" : "/");
		r = curl_url_set(u, CURLUPART_PATH, np, 0) == CURLUE_OK ? 0 : -EINVAL;
		free(np);
		if (r) {
			snprintf(err, errlen, "'%s': cannot append /" OTLP_METRICS_PATH, endpoint);
			goto out;
		}
	}
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		r = -EINVAL;
		snprintf(err, errlen, "'%s' is not a URL", endpoint);
		goto out;
	}
	*ret = strdup(full);
	r = *ret ? 0 : -ENOMEM;
	if (r)
		snprintf(err, errlen, "out of memory");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(full);
	curl_url_cleanup(u);
	return r;
}

/* Milliseconds > 0 from a variable, as seconds. */
static int env_ms(const char *name, const char *v, double *ret, char *err, size_t errlen)
{
	char *end;
	long long ms;

	errno = 0;
	ms = strtoll(v, &end, 10);
	if (errno || end == v || *end || ms <= 0 || ms > 86400000LL) {
		snprintf(err, errlen, "bad %s '%s': want milliseconds in (0, 86400000]", name, v);
		return -EINVAL;
	}
	*ret = (double)ms / 1000.0;
	return 0;
}

/* An HTTP header name is an RFC 9110 token. */
static bool header_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	}
	return true;
}

static int load_resource(struct otlp_config *c, otlp_getenv_fn fn, char *err, size_t errlen)
{
	const char *ra = env(fn, "OTEL_RESOURCE_ATTRIBUTES"), *svc = env(fn, "OTEL_SERVICE_NAME");
	struct otlp_kv *kv = NULL;
	size_t n = 0, k = 0;
	char e[160];
	int r;

	if (ra && (r = otlp_parse_kv_list(ra, &kv, &n, e, sizeof(e)))) {
		snprintf(err, errlen, "bad OTEL_RESOURCE_ATTRIBUTES: %s", e);
		return r;
	}
	/* service.name first: OTEL_SERVICE_NAME, else the attribute, else the default. */
	c->resource_kv = calloc(n + 1, sizeof(*c->resource_kv));
	c->resource = calloc(n + 1, sizeof(*c->resource));
	if (!c->resource_kv || !c->resource)
		goto oom;
	c->resource_kv[0].key = strdup("service.name");
	if (!c->resource_kv[0].key)
		goto oom;
	c->n_resource = 1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i].key, "service.name") == 0) {
			if (!svc)
				svc = kv[i].value;
			continue;
		}
		/* A repeated key: the last one wins, as in the SDKs. */
		for (k = 1; k < c->n_resource; k++) {
			if (strcmp(c->resource_kv[k].key, kv[i].key) == 0)
				break;
		}
		if (k == c->n_resource) {
			c->resource_kv[k].key = kv[i].key;
			c->n_resource++;
		} else {
			free(kv[i].key);
			free(c->resource_kv[k].value);
		}
		c->resource_kv[k].value = kv[i].value;
		kv[i].key = kv[i].value = NULL;
	}
	c->resource_kv[0].value = strdup(svc ? svc : OTLP_DEFAULT_SERVICE_NAME);
	if (!c->resource_kv[0].value)
		goto oom;
	for (size_t i = 0; i < c->n_resource; i++)
		c->resource[i] =
			(struct otlp_attr){ c->resource_kv[i].key, c->resource_kv[i].value };
	otlp_kv_free(kv, n);
	return 0;
oom:
	otlp_kv_free(kv, n);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int otlp_config_load(struct otlp_config *c, const char *flag_endpoint, double flag_interval,
		     otlp_getenv_fn getenv_fn, char *err, size_t errlen)
{
	const char *name, *v;
	char e[256];
	int r;

	*c = (struct otlp_config){ .gzip = true,
				   .timeout = OTLP_DEFAULT_TIMEOUT,
				   .interval = OTLP_DEFAULT_INTERVAL };
	/* The flag is a base endpoint like OTEL_EXPORTER_OTLP_ENDPOINT, unless it already names
	 * the metrics path. */
	if (flag_endpoint && *flag_endpoint) {
		size_t fl = strlen(flag_endpoint), pl = strlen("/" OTLP_METRICS_PATH);
		bool full = fl >= pl && strcmp(flag_endpoint + fl - pl, "/" OTLP_METRICS_PATH) == 0;

		name = "--otlp-endpoint";
		r = otlp_endpoint_url(flag_endpoint, !full, &c->url, e, sizeof(e));
	} else if ((v = env(getenv_fn, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))) {
		name = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
		r = otlp_endpoint_url(v, false, &c->url, e, sizeof(e));
	} else if ((v = env(getenv_fn, "OTEL_EXPORTER_OTLP_ENDPOINT"))) {
		name = "OTEL_EXPORTER_OTLP_ENDPOINT";
		r = otlp_endpoint_url(v, true, &c->url, e, sizeof(e));
	} else {
		return 0; /* export is off */
	}
	if (r) {
		snprintf(err, errlen, "bad %s: %s", name, e);
		return r;
	}

	v = env2(getenv_fn, "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS",
		 &name);
	if (v) {
		if ((r = otlp_parse_kv_list(v, &c->headers, &c->n_headers, e, sizeof(e)))) {
			snprintf(err, errlen, "bad %s: %s", name, e);
			return r;
		}
		for (size_t i = 0; i < c->n_headers; i++) {
			if (!header_name_ok(c->headers[i].key)) {
				snprintf(err, errlen, "bad %s: '%s' is not a header name", name,
					 c->headers[i].key);
				return -EINVAL;
			}
		}
	}

	v = env2(getenv_fn, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
		 "OTEL_EXPORTER_OTLP_COMPRESSION", &name);
	if (v) {
		if (strcasecmp(v, "gzip") == 0) {
			c->gzip = true;
		} else if (strcasecmp(v, "none") == 0) {
			c->gzip = false;
		} else {
			snprintf(err, errlen, "bad %s '%s': want gzip or none", name, v);
			return -EINVAL;
		}
	}

	v = env2(getenv_fn, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT",
		 &name);
	if (v && (r = env_ms(name, v, &c->timeout, err, errlen)))
		return r;

	if (flag_interval > 0)
		c->interval = flag_interval;
	else if ((v = env(getenv_fn, "OTEL_METRIC_EXPORT_INTERVAL")) &&
		 (r = env_ms("OTEL_METRIC_EXPORT_INTERVAL", v, &c->interval, err, errlen)))
		return r;

	return load_resource(c, getenv_fn, err, errlen);
}

int otlp_parse_retry_after(const char *v, time_t now, double *ret_seconds)
{
	const char *p = v;
	time_t t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (isdigit((unsigned char)*p)) {
		char *end;
		unsigned long long s;

		errno = 0;
		s = strtoull(p, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || *end)
			return -EINVAL;
		*ret_seconds = s > 86400ULL * 365 ? 86400.0 * 365 : (double)s;
		return 0;
	}
	/* HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) */
	if (!*p || (t = curl_getdate(p, NULL)) == (time_t)-1)
		return -EINVAL;
	*ret_seconds = t > now ? difftime(t, now) : 0;
	return 0;
}

double otlp_backoff(unsigned attempt, double base, double cap, double rnd)
{
	double d = base;

	for (unsigned i = 1; i < attempt && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	if (!(rnd >= 0) || rnd >= 1)
		rnd = 0;
	return d / 2 + d / 2 * rnd;
}
