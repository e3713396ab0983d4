// SPDX-License-Identifier: BSD-2-Clause
#include "transport/http.h"
#include "base/clock.h"
#include "base/log.h"
#include "codec/accept.h"
#include "codec/api_json.h"
#include "codec/gzip.h"
#include "codec/prom.h"
#include "codec/prom_proto.h"
#include "transport/http_admit.h"
#include "transport/http_auth.h"
#include "transport/http_metrics.h"
#include "transport/http_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_server_ops ops;
	int fd;
	unsigned port;
	int renders; /* in flight, through http_gate_* */
	struct token_file *auth;
	struct http_admit *admit;
	struct selfmetrics *stats;
	char *tls_cert, *tls_key; /* PEM, kept while the daemon runs */
	char start_err[256]; /* libmicrohttpd's first complaint while starting */
	int starting;
};

int http_parse_listen(const char *addr, char *ret_host, size_t hostlen, unsigned *ret_port,
		      char *err, size_t errlen)
{
	const char *colon, *host = addr;
	size_t len;
	char *end;
	long port;

	if (!addr || !*addr) {
		snprintf(err, errlen, "empty listen address");
		return -EINVAL;
	}
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':') {
			snprintf(err, errlen, "bad listen address '%s': want [ADDR]:PORT", addr);
			return -EINVAL;
		}
		host = addr + 1;
		len = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr))) {
			snprintf(err, errlen, "bad listen address '%s': want ADDR:PORT", addr);
			return -EINVAL;
		}
		len = (size_t)(colon - addr);
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535) {
		snprintf(err, errlen, "bad port in listen address '%s'", addr);
		return -EINVAL;
	}
	if (len >= hostlen) {
		snprintf(err, errlen, "listen address '%s' is too long", addr);
		return -EINVAL;
	}
	memcpy(ret_host, host, len);
	ret_host[len] = '\0';
	*ret_port = (unsigned)port;
	return 0;
}

static int bind_listen(const char *addr, unsigned *ret_port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai = NULL;
	char host[256], port[8];
	unsigned p;
	int fd = -1, one = 1, r;

	r = http_parse_listen(addr, host, sizeof(host), &p, err, errlen);
	if (r)
		return r;
	snprintf(port, sizeof(port), "%u", p);
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "bad listen address '%s': %s (want a numeric address)", addr,
			 gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create a socket for %s: %s", addr, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
		r = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
			 errno == EADDRINUSE ? "address already in use" : strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*ret_port = ntohs(ss.ss_family == AF_INET6 ?
					  ((struct sockaddr_in6 *)&ss)->sin6_port :
					  ((struct sockaddr_in *)&ss)->sin_port);
	r = fd;
out:
	freeaddrinfo(ai);
	return r;
}

struct gzip_q {
	double gzip, star; /* -1: not listed */
};

static void gzip_item(const struct accept_item *it, void *ctx)
{
	struct gzip_q *q = ctx;

	if (accept_is(it, "gzip") || accept_is(it, "x-gzip"))
		q->gzip = it->q;
	else if (accept_is(it, "*"))
		q->star = it->q;
}

bool http_accepts_gzip(const char *ae)
{
	struct gzip_q q = { -1, -1 };

	accept_each(ae, gzip_item, &q);
	return q.gzip >= 0 ? q.gzip > 0 : q.star > 0;
}

bool http_gate_try_enter(int *inflight, int max)
{
	if (__atomic_add_fetch(inflight, 1, __ATOMIC_ACQ_REL) <= max)
		return true;
	__atomic_sub_fetch(inflight, 1, __ATOMIC_ACQ_REL);
	return false;
}

void http_gate_leave(int *inflight)
{
	__atomic_sub_fetch(inflight, 1, __ATOMIC_ACQ_REL);
}

/* Queues body (freed by libmicrohttpd) with optional extra headers (name, value, …, NULL). */
static mhd_result reply_hdrs(struct http_server *h, struct MHD_Connection *conn, enum sm_path path,
			     unsigned status, const char *type, char *body, size_t len,
			     const char *const *hdrs)
{
	struct MHD_Response *resp;
	mhd_result r;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (; hdrs && hdrs[0]; hdrs += 2)
		MHD_add_response_header(resp, hdrs[0], hdrs[1]);
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	selfmetrics_http_request(h->stats, path, status);
	return r;
}

static mhd_result reply_text(struct http_server *h, struct MHD_Connection *conn, enum sm_path path,
			     unsigned status, const char *text, const char *const *hdrs)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply_hdrs(h, conn, path, status, "text/plain; charset=utf-8", body, strlen(body),
			  hdrs);
}

enum render_kind { RENDER_METRICS, RENDER_METRICS_PROTO, RENDER_PODS, RENDER_FINDINGS };

static int render(struct http_server *h, enum render_kind kind, const struct snapshot *s,
		  struct strbuf *out)
{
	switch (kind) {
	case RENDER_METRICS: /* streamed: serve_metrics */
	case RENDER_METRICS_PROTO:
		break;
	case RENDER_PODS:
		return api_pods_json(s, out);
	case RENDER_FINDINGS:
		return api_findings_json(s, out);
	}
	return -EINVAL;
}

/* [0] the API, [1] /metrics, whose format also follows Accept: identity, then gzip. */
static const char *const vary_hdrs[2][2][5] = {
	{ { MHD_HTTP_HEADER_VARY, "Accept-Encoding", NULL },
	  { MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip", MHD_HTTP_HEADER_VARY, "Accept-Encoding",
	    NULL } },
	{ { MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding", NULL },
	  { MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip", MHD_HTTP_HEADER_VARY,
	    "Accept, Accept-Encoding", NULL } },
};

/* /metrics, rendered as it is sent; the response holds s and the render slot until it is
 * freed. */
static mhd_result serve_metrics(struct http_server *h, struct MHD_Connection *conn,
				enum sm_path path, struct snapshot *s, bool proto, bool gzip)
{
	struct MHD_Response *resp = http_metrics_response(s, proto, gzip, h->stats, &h->renders);
	mhd_result r;

	if (!resp) {
		snapshot_unref(s);
		http_gate_leave(&h->renders);
		return reply_text(h, conn, path, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
				  NULL);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				proto ? PROM_PROTO_CONTENT_TYPE : PROM_CONTENT_TYPE);
	for (const char *const *p = vary_hdrs[1][gzip]; p[0]; p += 2)
		MHD_add_response_header(resp, p[0], p[1]);
	r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	selfmetrics_http_request(h->stats, path, MHD_HTTP_OK);
	return r;
}

static mhd_result serve(struct http_server *h, struct MHD_Connection *conn, enum sm_path path,
			enum render_kind kind, const char *type)
{
	static const char *const busy_hdrs[] = { "Retry-After", "1", NULL };
	struct strbuf sb = STRBUF_INIT;
	struct snapshot *s;
	const char *ae;
	uint8_t *gz = NULL;
	size_t len, gzlen;
	double t0;
	char *body;
	int r;

	/* Bounded work under a scrape storm: renders beyond the cap are turned away at once. */
	if (!http_gate_try_enter(&h->renders, HTTP_MAX_RENDERS))
		return reply_text(h, conn, path, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "busy: too many renders in progress\n", busy_hdrs);
	s = h->ops.snapshot(h->ops.ctx);
	if (!s) {
		http_gate_leave(&h->renders);
		return reply_text(h, conn, path, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "no collection yet\n", busy_hdrs);
	}
	ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (kind == RENDER_METRICS || kind == RENDER_METRICS_PROTO)
		return serve_metrics(h, conn, path, s, kind == RENDER_METRICS_PROTO,
				     ae && http_accepts_gzip(ae));
	t0 = clock_mono();
	r = render(h, kind, s, &sb);
	snapshot_unref(s);
	body = r ? NULL : strbuf_steal(&sb, &len);
	if (!body) {
		strbuf_reset(&sb);
		http_gate_leave(&h->renders);
		return reply_text(h, conn, path, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
				  NULL);
	}
	if (ae && http_accepts_gzip(ae) && gzip_compress(body, len, 6, &gz, &gzlen) == 0) {
		free(body);
		body = (char *)gz;
		len = gzlen;
	}
	selfmetrics_http_render(h->stats, clock_mono() - t0);
	http_gate_leave(&h->renders);
	if (gz)
		selfmetrics_add(h->stats, h->stats ? &h->stats->gzip_responses : NULL, 1);
	return reply_hdrs(h, conn, path, MHD_HTTP_OK, type, body, len,
			  vary_hdrs[kind == RENDER_METRICS_PROTO][gz != NULL]);
}

/* True when the request may see /metrics and /api: no token configured, or the right one. */
static bool authorized(struct http_server *h, struct MHD_Connection *conn)
{
	char e[300];

	if (!h->auth)
		return true;
	switch (token_file_refresh(h->auth, e, sizeof(e))) {
	case TOKEN_RELOADED:
		log_info("http: auth token file changed: new token in use");
		selfmetrics_add(h->stats, h->stats ? &h->stats->token_reloads : NULL, 1);
		break;
	case TOKEN_RELOAD_FAILED:
		log_warn("http: auth token file changed but %s; the previous token stays in use",
			 e);
		selfmetrics_add(h->stats, h->stats ? &h->stats->token_reload_errors : NULL, 1);
		break;
	case TOKEN_UNCHANGED:
		break;
	}
	return token_file_check(h->auth,
				MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							    MHD_HTTP_HEADER_AUTHORIZATION));
}

bool http_content_lengths_conflict(const char *const *values, size_t n)
{
	const char *first = NULL;
	size_t first_len = 0;

	for (size_t i = 0; i < n; i++) {
		for (const char *p = values[i]; p && *p;) {
			size_t len;

			p += strspn(p, " \t,");
			len = strcspn(p, " \t,");
			if (!len)
				break;
			if (!first) {
				first = p;
				first_len = len;
			} else if (len != first_len || memcmp(p, first, len) != 0) {
				return true;
			}
			p += len;
		}
	}
	return false;
}

#define MAX_CL_HEADERS 8

struct cl_values {
	const char *v[MAX_CL_HEADERS];
	size_t n;
	bool overflow;
};

static mhd_result collect_cl(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct cl_values *cl = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (cl->n == MAX_CL_HEADERS) {
		cl->overflow = true;
		return MHD_NO;
	}
	cl->v[cl->n++] = value;
	return MHD_YES;
}

/* Several Content-Length headers (or one listing several values) that disagree. */
static bool conflicting_length(struct MHD_Connection *conn)
{
	struct cl_values cl = { .n = 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_cl, &cl);
	return cl.overflow || http_content_lengths_conflict(cl.v, cl.n);
}

/* A request body on a GET is refused rather than read: no endpoint takes one. */
static bool has_body(struct MHD_Connection *conn)
{
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	return cl && strspn(cl, "0 \t") != strlen(cl);
}

static mhd_result handle(void *cls, struct MHD_Connection *conn, const char *url,
			 const char *method, const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	static const char *const allow_hdrs[] = { "Allow", "GET, HEAD", NULL };
	static const char *const auth_hdrs[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						 "Bearer realm=\"bpfdiag\"", NULL };
	static const char *const close_hdrs[] = { MHD_HTTP_HEADER_CONNECTION, "close", NULL };
	struct http_server *h = cls;
	enum sm_path path = selfmetrics_path(url);
	const union MHD_ConnectionInfo *ci;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	/* Every answer is queued on the first call, before any body is read: libmicrohttpd then
	 * closes the connection instead of reading what the client still wants to send. */
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* Headers complete: the connection's request deadline starts. */
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci)
		http_admit_request(h->admit, ci->socket_context);
	if (conflicting_length(conn))
		return reply_text(h, conn, path, MHD_HTTP_BAD_REQUEST,
				  "conflicting Content-Length headers\n", close_hdrs);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_text(h, conn, path, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed\n", allow_hdrs);
	if (has_body(conn))
		return reply_text(h, conn, path, MHD_HTTP_CONTENT_TOO_LARGE,
				  "request bodies are not accepted\n", NULL);
	if (path == SM_PATH_HEALTHZ)
		return reply_text(h, conn, path, MHD_HTTP_OK, "ok\n", NULL);
	if (path == SM_PATH_READYZ) {
		bool ready = h->ops.ready(h->ops.ctx);

		return reply_text(h, conn, path, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				  ready ? "ready\n" : "not ready\n", NULL);
	}
	if (path == SM_PATH_METRICS || strncmp(url, "/api/", 5) == 0) {
		if (!authorized(h, conn))
			return reply_text(h, conn, path, MHD_HTTP_UNAUTHORIZED,
					  "unauthorized: send Authorization: Bearer <token>\n",
					  auth_hdrs);
		if (path == SM_PATH_METRICS &&
		    prom_proto_accepted(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								    MHD_HTTP_HEADER_ACCEPT)))
			return serve(h, conn, path, RENDER_METRICS_PROTO, PROM_PROTO_CONTENT_TYPE);
		if (path == SM_PATH_METRICS)
			return serve(h, conn, path, RENDER_METRICS, PROM_CONTENT_TYPE);
		if (path == SM_PATH_API_PODS)
			return serve(h, conn, path, RENDER_PODS, "application/json");
		if (path == SM_PATH_API_FINDINGS)
			return serve(h, conn, path, RENDER_FINDINGS, "application/json");
	}
	return reply_text(h, conn, path, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *h = cls;
	char line[512];
	size_t n;

	/* libmicrohttpd answers malformed and oversized requests itself (400, 413, 414, 431, 505)
	 * before any handler runs; this message, whose first argument is the status, is the one
	 * place it says so. */
	if (strstr(fmt, "HTTP response code is %u")) {
		va_list copy;

		va_copy(copy, ap);
		selfmetrics_http_rejected(h->stats, va_arg(copy, unsigned));
		va_end(copy);
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (h->starting && !h->start_err[0])
		snprintf(h->start_err, sizeof(h->start_err), "%.*s", (int)sizeof(h->start_err) - 1,
			 line);
	log_debug("http: %s", line);
}

static mhd_result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_server *h = cls;

	return http_admit_accept(h->admit, addr, len) ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *h = cls;
	const union MHD_ConnectionInfo *fd, *addr;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_admit_closed(h->admit, *socket_context);
		*socket_context = NULL;
		return;
	}
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	*socket_context = fd && addr ?
				  http_admit_opened(h->admit, fd->connect_fd, addr->client_addr,
						    sizeof(struct sockaddr_storage)) :
				  NULL;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct http_server *h = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)con_cls;
	if (ci)
		http_admit_answered(h->admit, ci->socket_context,
				    code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED);
}

static struct http_server *server_free(struct http_server *h)
{
	if (!h)
		return NULL;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	if (h->fd >= 0)
		close(h->fd);
	token_file_free(h->auth);
	http_admit_free(h->admit);
	if (h->tls_key)
		explicit_bzero(h->tls_key, strlen(h->tls_key));
	free(h->tls_key);
	free(h->tls_cert);
	free(h);
	return NULL;
}

int http_server_start(const struct http_server_opts *o, const struct http_server_ops *ops,
		      struct http_server **ret, char *err, size_t errlen)
{
	struct http_server *h = calloc(1, sizeof(*h));
	struct MHD_OptionItem tls[4] = { { MHD_OPTION_END, 0, NULL } };
	const char *prio = o->tls_priorities ? o->tls_priorities : HTTP_TLS_PRIORITIES_DEFAULT;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
			 MHD_USE_ERROR_LOG;
	int r = -EINVAL;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->fd = -1;
	h->ops = *ops;
	h->stats = o->stats;
	if (!o->tls_cert_file != !o->tls_key_file) {
		snprintf(err, errlen, "--tls-cert and --tls-key go together: give both or neither");
		goto fail;
	}
	if (o->tls_cert_file) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			snprintf(err, errlen, "--tls-cert: this libmicrohttpd has no TLS support");
			goto fail;
		}
		if (!(h->tls_cert =
			      http_tls_read_pem("--tls-cert", o->tls_cert_file, err, errlen)) ||
		    !(h->tls_key = http_tls_read_pem("--tls-key", o->tls_key_file, err, errlen)))
			goto fail;
		r = http_tls_check_pair(o, h->tls_cert, h->tls_key, err, errlen);
		if (!r)
			r = http_tls_priorities_check(prio, err, errlen);
		if (r)
			goto fail;
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert };
		tls[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio };
		tls[3] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	} else if (o->tls_priorities) {
		snprintf(err, errlen, "--tls-priorities needs --tls-cert and --tls-key");
		goto fail;
	}
	h->admit = http_admit_new(o->stats);
	if (!h->admit) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	if (o->auth_token_file) {
		char e[256];

		r = token_file_open(o->auth_token_file, &h->auth, e, sizeof(e));
		if (r) {
			snprintf(err, errlen, "--auth-token-file: %s", e);
			goto fail;
		}
	}
	h->fd = bind_listen(o->listen, &h->port, err, errlen);
	if (h->fd < 0) {
		r = h->fd;
		goto fail;
	}
	h->starting = 1;
	/* The logger first: libmicrohttpd routes messages to it only from there on. */
	/* Admission is http_admit's (counted, with room made for fresh clients); libmicrohttpd's
	 * own limit, split among its threads, is only a backstop above it. */
	h->mhd = MHD_start_daemon(flags, 0, on_accept, h, handle, h, MHD_OPTION_EXTERNAL_LOGGER,
				  mhd_log, h, MHD_OPTION_LISTEN_SOCKET, h->fd,
				  MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)(2 * HTTP_MAX_CONNECTIONS),
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_SECONDS,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_REQUEST_MEMORY,
				  MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	h->starting = 0;
	if (!h->mhd) {
		if (o->tls_cert_file)
			snprintf(err, errlen,
				 "cannot start HTTPS on %s with --tls-cert %s and --tls-key %s: %s",
				 o->listen, o->tls_cert_file, o->tls_key_file,
				 h->start_err[0] ? h->start_err : "the certificate or key is bad");
		else
			snprintf(err, errlen, "cannot start the HTTP server on %s%s%s", o->listen,
				 h->start_err[0] ? ": " : "", h->start_err);
		r = -EIO;
		goto fail;
	}
	*ret = h;
	return 0;
fail:
	server_free(h);
	return r;
}

struct http_server *http_server_stop(struct http_server *h)
{
	return server_free(h);
}

unsigned http_server_port(const struct http_server *h)
{
	return h->port;
}
