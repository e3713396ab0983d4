/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's HTTP endpoint: /metrics, /healthz, /readyz, /api/v1/pods, /api/v1/findings.
 * A transport: it asks for the latest snapshot and hands it to the encoders. Optional TLS and
 * bearer-token protection (/metrics and everything under /api/; the probes stay open); gzip when asked. */
#ifndef BPFDIAG_HTTP_H
#define BPFDIAG_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/selfmetrics.h"
#include "model/snapshot.h"

/* Connection limits and request deadlines are in http_admit.h. */
#define HTTP_TIMEOUT_SECONDS 10 /* idle: no byte either way */
/* Worker threads: a render in progress leaves the others free for /healthz and /readyz. */
#define HTTP_THREADS 4
/* Renders (/metrics, /api/...) at once; one more is answered 503 with Retry-After. */
#define HTTP_MAX_RENDERS 2
/* Headers and URL of one request; larger ones are refused by libmicrohttpd. */
#define HTTP_REQUEST_MEMORY (64u << 10)
#define HTTP_MAX_PEM_BYTES (1u << 20)
/* With --tls-cert: TLS 1.2 and 1.3 only, forward-secret key exchange (ECDHE, DHE; TLS 1.3's
 * are all), AEAD ciphers only (AES-GCM, ChaCha20-Poly1305). GnuTLS priority syntax. */
#define HTTP_TLS_PRIORITIES_DEFAULT                                                         \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:+DHE-RSA:"       \
	"%SERVER_PRECEDENCE"

struct http_server;

struct http_server_ops {
	/* Returns a new reference to the latest snapshot, or NULL before the first collection. */
	struct snapshot *(*snapshot)(void *ctx);
	/* True once the agent has what /readyz promises. */
	bool (*ready)(void *ctx);
	void *ctx;
};

struct http_server_opts {
	const char *listen; /* ADDR:PORT */
	const char *tls_cert_file; /* PEM; with tls_key_file, serve HTTPS only */
	const char *tls_key_file;
	const char *tls_priorities; /* GnuTLS priority string; NULL: HTTP_TLS_PRIORITIES_DEFAULT */
	const char *auth_token_file; /* NULL: no token needed */
	struct selfmetrics *stats; /* NULL: no self-metrics */
};

/* Parses "ADDR:PORT", "[V6]:PORT" or ":PORT". Returns 0, or -EINVAL with a reason in err. */
int http_parse_listen(const char *addr, char *ret_host, size_t hostlen, unsigned *ret_port,
		      char *err, size_t errlen);
/* Reads the TLS and token files, binds and starts serving on threads of its own. Returns 0, or
 * a negative errno with a one-line reason in err (the address is in use, a file is unreadable,
 * the certificate does not load). */
int http_server_start(const struct http_server_opts *opts, const struct http_server_ops *ops,
		      struct http_server **ret, char *err, size_t errlen);
/* Stops and frees. Accepts NULL; returns NULL. */
struct http_server *http_server_stop(struct http_server *h);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *h);

/* True when a request's Content-Length headers (n values) disagree: the request must be refused,
 * since a proxy in front may have read another length than we do (request smuggling). Values
 * that are comma-separated lists count as each of their elements. */
bool http_content_lengths_conflict(const char *const *values, size_t n);
/* Checks a GnuTLS priority string. Returns 0, or -EINVAL with the reason in err. */
int http_tls_priorities_check(const char *priorities, char *err, size_t errlen);
/* True when an Accept-Encoding value accepts gzip (gzip, x-gzip or *, with q > 0). */
bool http_accepts_gzip(const char *accept_encoding);

/* Admission of renders: at most max at once. try_enter returns false when full (the caller
 * answers 503); every true is paired with one leave. */
bool http_gate_try_enter(int *inflight, int max);
void http_gate_leave(int *inflight);

#endif
