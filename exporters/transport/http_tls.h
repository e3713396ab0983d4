/* SPDX-License-Identifier: BSD-2-Clause */
/* The HTTPS side of the endpoint's start-up: PEM files read within bounds, and the certificate,
 * key and priority string checked with GnuTLS (the library libmicrohttpd serves HTTPS with)
 * so that a mistake is a clear reason at start. */
#ifndef BPFDIAG_HTTP_TLS_H
#define BPFDIAG_HTTP_TLS_H

#include <stddef.h>

#include "transport/http.h"

/* Reads a PEM file (at most HTTP_MAX_PEM_BYTES) into a NUL-terminated string to free().
 * Returns NULL with a reason naming flag and path in err. */
char *http_tls_read_pem(const char *flag, const char *path, char *err, size_t errlen);
/* Checks that cert parses and key goes with it. Returns 0, -ENOMEM, or -EINVAL with a reason
 * naming o's files in err. */
int http_tls_check_pair(const struct http_server_opts *o, const char *cert, const char *key,
			char *err, size_t errlen);

#endif
