/* The agent's HTTP endpoint: /metrics, /healthz, /readyz, /api/v1/pods, /api/v1/findings.
 * A transport: it asks for the latest snapshot and hands it to the encoders. */
#ifndef BPFDIAG_HTTP_H
#define BPFDIAG_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

#define HTTP_MAX_CONNECTIONS 64
#define HTTP_TIMEOUT_SECONDS 10

struct http_server;

struct http_server_ops {
	/* Returns a new reference to the latest snapshot, or NULL before the first collection. */
	struct snapshot *(*snapshot)(void *ctx);
	/* True once the agent has what /readyz promises. */
	bool (*ready)(void *ctx);
	void *ctx;
};

/* Parses "ADDR:PORT", "[V6]:PORT" or ":PORT". Returns 0, or -EINVAL with a reason in err. */
int http_parse_listen(const char *addr, char *ret_host, size_t hostlen, unsigned *ret_port,
		      char *err, size_t errlen);
/* Binds listen and starts serving on a thread of its own. Returns 0, or a negative errno with
 * a one-line reason in err (e.g. the address is in use). */
int http_server_start(const char *addr, const struct http_server_ops *ops, struct http_server **ret,
		      char *err, size_t errlen);
/* Stops and frees. Accepts NULL; returns NULL. */
struct http_server *http_server_stop(struct http_server *h);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *h);

#endif
