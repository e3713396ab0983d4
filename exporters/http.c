#include "http.h"
#include "api_json.h"
#include "log.h"
#include "prom.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static mhd_result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
			size_t len)
{
	struct MHD_Response *resp;
	mhd_result r;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static mhd_result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

typedef int (*encoder_fn)(const struct snapshot *s, struct strbuf *out);

static mhd_result serve(struct http_server *h, struct MHD_Connection *conn, encoder_fn enc,
			const char *type)
{
	struct strbuf sb = STRBUF_INIT;
	struct snapshot *s = h->ops.snapshot(h->ops.ctx);
	size_t len;
	char *body;
	int r;

	if (!s)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no collection yet\n");
	r = enc(s, &sb);
	snapshot_unref(s);
	body = r ? NULL : strbuf_steal(&sb, &len);
	if (!body) {
		strbuf_reset(&sb);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return reply(conn, MHD_HTTP_OK, type, body, len);
}

static mhd_result handle(void *cls, struct MHD_Connection *conn, const char *url,
			 const char *method, const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	struct http_server *h = cls;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		if (*upload_data_size) {
			*upload_data_size = 0; /* discard bodies: no endpoint takes one */
			return MHD_YES;
		}
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	}
	if (strcmp(url, "/metrics") == 0)
		return serve(h, conn, prom_encode, PROM_CONTENT_TYPE);
	if (strcmp(url, "/api/v1/pods") == 0)
		return serve(h, conn, api_pods_json, "application/json");
	if (strcmp(url, "/api/v1/findings") == 0)
		return serve(h, conn, api_findings_json, "application/json");
	if (strcmp(url, "/healthz") == 0)
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0) {
		bool ready = h->ops.ready(h->ops.ctx);

		return reply_text(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				  ready ? "ready\n" : "not ready\n");
	}
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_debug("http: %s", line);
}

int http_server_start(const char *addr, const struct http_server_ops *ops, struct http_server **ret,
		      char *err, size_t errlen)
{
	struct http_server *h = calloc(1, sizeof(*h));
	int fd;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fd = bind_listen(addr, &h->port, err, errlen);
	if (fd < 0) {
		free(h);
		return fd;
	}
	h->fd = fd;
	h->ops = *ops;
	h->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG, 0,
		NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(HTTP_MAX_CONNECTIONS / 2), MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)HTTP_TIMEOUT_SECONDS, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
		MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, errlen, "cannot start the HTTP server on %s", addr);
		close(fd);
		free(h);
		return -EIO;
	}
	*ret = h;
	return 0;
}

struct http_server *http_server_stop(struct http_server *h)
{
	if (!h)
		return NULL;
	MHD_stop_daemon(h->mhd);
	close(h->fd);
	free(h);
	return NULL;
}

unsigned http_server_port(const struct http_server *h)
{
	return h->port;
}
