// SPDX-License-Identifier: BSD-2-Clause
#include "kube/kube_client.h"
#include "base/clock.h"
#include "base/version.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_BODY_MAX (64u << 10)
#define CONNECT_TIMEOUT_MS 5000L

struct kube_client {
	CURL *curl;
	char *url;
	struct tokenfile *token; /* borrowed */
	char *ca_file;
	bool send_token;
	bool (*stop)(void *ctx);
	void *stop_ctx;
	char errbuf[CURL_ERROR_SIZE];
};

/* Per-transfer state shared with the curl callbacks. */
struct xfer {
	struct kube_client *c;
	struct kube_http *h;
	size_t max; /* body cap (GET) */
	bool too_large;
	bool stalled;
	bool cancelled;
	/* streams */
	bool stream;
	bool opened;
	kube_data_fn data;
	void *ctx;
	int data_err; /* the data callback's negative return: the stream was aborted */
	long stall_ms;
	bool inside; /* the bytes so far end inside an event */
	bool slow_event; /* the stall timer ran out inside an event */
	/* Monotonic times: the request began, the stream opened or an event ended; the current
	 * event's first bytes arrived; the last byte arrived. */
	double boundary;
	double event_start;
	double last;
};

void kube_http_clear(struct kube_http *h)
{
	free(h->body);
	memset(h, 0, sizeof(*h));
	h->err = KERR_MAX;
}

int kube_client_new(const struct kube_client_opts *opts, struct kube_client **ret)
{
	struct kube_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->curl = curl_easy_init();
	c->url = strdup(opts->url);
	c->token = opts->token;
	c->ca_file = opts->ca_file && *opts->ca_file ? strdup(opts->ca_file) : NULL;
	if (!c->curl || !c->url || (opts->ca_file && *opts->ca_file && !c->ca_file)) {
		kube_client_free(c);
		return -ENOMEM;
	}
	c->send_token = c->token && (strncmp(c->url, "https://", 8) == 0 || opts->token_over_http);
	c->stop = opts->stop;
	c->stop_ctx = opts->stop_ctx;
	*ret = c;
	return 0;
}

struct kube_client *kube_client_free(struct kube_client *c)
{
	if (!c)
		return NULL;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->ca_file);
	free(c);
	return NULL;
}

/* A piece of a 200 stream: the stall timer restarts when an event ends, and the event timer
 * when one begins; bytes between events (whitespace) restart neither. */
static size_t on_data(struct xfer *x, char *ptr, size_t n)
{
	int r = x->data(x->ctx, ptr, n);

	if (r < 0) {
		x->data_err = r;
		return 0;
	}
	if (r & KUBE_DATA_EVENT)
		x->boundary = x->last;
	if ((r & KUBE_DATA_INSIDE) && (!x->inside || (r & KUBE_DATA_EVENT)))
		x->event_start = x->last;
	x->inside = r & KUBE_DATA_INSIDE;
	return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct kube_http *h = x->h;
	size_t n = size * nmemb, cap = x->max;
	char *nb;

	x->last = clock_mono();
	if (x->stream) {
		long status = 0;

		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200)
			return on_data(x, ptr, n);
		cap = ERROR_BODY_MAX;
		if (h->len + n > cap)
			n = h->len < cap ? cap - h->len : 0; /* keep a prefix of an error body */
		if (n == 0)
			return size * nmemb;
	} else if (h->len + n > cap) {
		x->too_large = true;
		return 0;
	}
	nb = realloc(h->body, h->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + h->len, ptr, n);
	h->body = nb;
	h->len += n;
	h->body[h->len] = '\0';
	return x->stream ? size * nmemb : n;
}

/* The blank line after a stream's 200 headers: tell the caller the watch is open. */
static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = 0;

	if (x->stream && !x->opened &&
	    ((n == 2 && buf[0] == '\r' && buf[1] == '\n') || (n == 1 && buf[0] == '\n'))) {
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200) {
			x->opened = true;
			int r = x->data(x->ctx, NULL, 0);

			x->boundary = x->last = clock_mono();
			if (r < 0) {
				x->data_err = r;
				return 0;
			}
		}
	}
	return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (x->c->stop && x->c->stop(x->c->stop_ctx)) {
		x->cancelled = true;
		return 1;
	}
	if (x->stall_ms > 0 && (clock_mono() - (x->inside ? x->event_start : x->boundary)) * 1000 >
				       (double)x->stall_ms) {
		x->stalled = true;
		x->slow_event = x->inside;
		return 1;
	}
	return 0;
}

static enum kube_err classify(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return KERR_TIMEOUT;
	case CURLE_PARTIAL_FILE:
		return KERR_TRUNCATED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		return KERR_TLS;
	default:
		return KERR_UNREACHABLE;
	}
}

static int perform(struct kube_client *c, const char *path, struct xfer *x, long timeout_ms)
{
	struct curl_slist *hdrs = NULL, *tmp;
	struct kube_http *h = x->h;
	size_t ulen = strlen(c->url) + strlen(path) + 1;
	char *url = malloc(ulen), *auth = NULL;
	CURL *cu = c->curl;
	CURLcode cc;
	int r = 0;

	kube_http_clear(h);
	h->err = KERR_LIMIT; /* until curl runs: only allocation can fail */
	snprintf(h->msg, sizeof(h->msg), "out of memory");
	if (!url)
		return -ENOMEM;
	snprintf(url, ulen, "%s%s", c->url, path);
	if (c->send_token) {
		char *token;

		h->token_change = tokenfile_refresh(c->token, NULL, 0);
		h->token_err = tokenfile_error(c->token);
		token = tokenfile_copy(c->token);
		if (token && token[0] && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
			auth = NULL;
		if (!token || (token[0] && !auth)) {
			tokenfile_drop(token);
			free(url);
			return -ENOMEM;
		}
		tokenfile_drop(token);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (hdrs && auth && (tmp = curl_slist_append(hdrs, auth)))
		hdrs = tmp;
	else if (auth)
		r = -ENOMEM;
	if (!hdrs || r) {
		r = -ENOMEM;
		goto out;
	}
	curl_easy_reset(cu); /* keeps live connections, DNS and TLS session caches */
	c->errbuf[0] = '\0';
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(cu, CURLOPT_USERAGENT, "bpfdiag/" BPFDIAG_VERSION);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(cu, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(cu, CURLOPT_CAINFO, c->ca_file);
	if (!x->stream)
		curl_easy_setopt(cu, CURLOPT_ACCEPT_ENCODING, ""); /* the cap applies decoded */
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(cu, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, c->errbuf);
	x->boundary = x->last = clock_mono();

	h->err = KERR_MAX;
	h->msg[0] = '\0';
	cc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &h->status);
	if (cc == CURLE_OK) {
		r = 0;
	} else if (x->cancelled) {
		r = -ECANCELED;
	} else if (x->stream && x->data_err) {
		r = x->data_err;
	} else {
		h->err = x->too_large  ? KERR_TOO_LARGE :
			 x->slow_event ? KERR_EVENT_LIMIT :
			 x->stalled    ? KERR_STALLED :
					 classify(cc);
		snprintf(h->msg, sizeof(h->msg), "%s",
			 x->slow_event ? "an event took longer than the stall timeout" :
			 x->stalled && x->last > x->boundary ? "no event for the stall timeout" :
			 x->stalled			     ? "no data for the stall timeout" :
			 c->errbuf[0]			     ? c->errbuf :
							       curl_easy_strerror(cc));
		r = x->too_large				 ? -EFBIG :
		    cc == CURLE_OPERATION_TIMEDOUT || x->stalled ? -ETIMEDOUT :
								   -EIO;
	}
out:
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(url);
	return r;
}

int kube_client_get(struct kube_client *c, const char *path, size_t max, long timeout_ms,
		    struct kube_http *h)
{
	struct xfer x = { .c = c, .h = h, .max = max };

	return perform(c, path, &x, timeout_ms);
}

int kube_client_stream(struct kube_client *c, const char *path, long stall_ms, kube_data_fn data,
		       void *ctx, struct kube_http *h)
{
	struct xfer x = {
		.c = c, .h = h, .stream = true, .data = data, .ctx = ctx, .stall_ms = stall_ms
	};

	return perform(c, path, &x, 0);
}

json_object *kube_http_json(const struct kube_http *h)
{
	json_tokener *tok;
	json_object *v;

	if (!h->body || h->len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return NULL;
	v = json_tokener_parse_ex(tok, h->body, (int)h->len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(v);
		v = NULL;
	}
	json_tokener_free(tok);
	return v;
}

int kube_query_escape(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			     ch == '~';

		if (o + (plain ? 1 : 3) >= len)
			return -ENAMETOOLONG;
		if (plain) {
			buf[o++] = (char)ch;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	buf[o] = '\0';
	return 0;
}
