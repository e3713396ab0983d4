/* SPDX-License-Identifier: BSD-2-Clause */
/* Connection admission and request deadlines for the HTTP endpoint, so that a few clients
 * cannot starve it (slowloris: many connections each sending a header line now and then).
 *
 * Admission: at most HTTP_MAX_CONNECTIONS connections, HTTP_MAX_PER_CLIENT from one client (an
 * IPv4 address or an IPv6 /64). A connection past either limit takes the place of the oldest
 * connection still waiting for its request headers (of that client at the client limit, of the
 * client holding the most at the server limit): idle and dripping connections give way to
 * fresh ones, so probes and scrapes get in. Only when every candidate is busy in a request is
 * the new connection refused.
 * Deadlines: a request's headers (the TLS handshake included) must be complete within
 * HTTP_HEADER_SECONDS of the connection or of the previous answer; a whole request must be
 * answered within HTTP_REQUEST_SECONDS. A watchdog thread shuts down connections past them.
 * Refusals and closes are counted in the self-metrics. */
#ifndef BPFDIAG_HTTP_ADMIT_H
#define BPFDIAG_HTTP_ADMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "codec/selfmetrics.h"

#define HTTP_MAX_CONNECTIONS 128
#define HTTP_MAX_PER_CLIENT 32 /* connections from one IPv4 address or IPv6 /64 */
#define HTTP_HEADER_SECONDS 5.0 /* to send a request's headers, from connect or last answer */
#define HTTP_REQUEST_SECONDS 30.0 /* from the headers to the end of the answer */
#define HTTP_WATCHDOG_PERIOD 0.25 /* seconds between deadline checks */

/* A client as admission counts it: IPv4 (mapped IPv6 included) by address, IPv6 by /64. */
struct http_client_key {
	uint8_t bytes[16];
};

/* The key of addr, or false for an address family that has none (then never limited). */
bool http_client_key(const struct sockaddr *addr, socklen_t len, struct http_client_key *ret);

struct http_admit;
struct http_conn; /* one open connection */

/* Returns the admission state with its watchdog thread running, or NULL (out of memory,
 * no thread). stats may be NULL. */
struct http_admit *http_admit_new(struct selfmetrics *stats);
/* Stops the watchdog and frees; every connection must be closed already. Accepts NULL;
 * returns NULL. */
struct http_admit *http_admit_free(struct http_admit *a);

/* Decides on a connection from addr about to be accepted: true to accept it (perhaps after
 * shutting down an older one in its place), false when refused (counted). */
bool http_admit_accept(struct http_admit *a, const struct sockaddr *addr, socklen_t len);
/* A connection started (fd, peer addr): returns its record, or NULL when out of memory (the
 * connection is then not subject to deadlines). */
struct http_conn *http_admit_opened(struct http_admit *a, int fd, const struct sockaddr *addr,
				    socklen_t len);
/* Its request headers are complete: the request deadline starts. Accepts NULL. */
void http_admit_request(struct http_admit *a, struct http_conn *c);
/* Its answer is done (or the request ended): the header deadline starts again. timed_out:
 * libmicrohttpd's idle timeout ended it (counted). Accepts NULL. */
void http_admit_answered(struct http_admit *a, struct http_conn *c, bool timed_out);
/* It closed: frees the record. Accepts NULL. */
void http_admit_closed(struct http_admit *a, struct http_conn *c);
/* Shuts down the connections past their deadlines as of the monotonic time now; returns how
 * many (the watchdog calls it; tests call it with a time of their choosing). */
unsigned http_admit_expire(struct http_admit *a, double now);

#endif
