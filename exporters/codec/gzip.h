/* SPDX-License-Identifier: BSD-2-Clause */
/* gzip (RFC 1952) for HTTP bodies: of a buffer in memory, or streamed a part at a time. A
 * codec: no I/O. */
#ifndef BPFDIAG_GZIP_H
#define BPFDIAG_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

/* Compresses len bytes of in at level (1-9, or -1 for zlib's default) into a new buffer
 * (*ret, free() it) of *ret_len bytes. Returns 0, -ENOMEM, -E2BIG (len over 4 GiB) or -EIO when zlib fails. */
int gzip_compress(const void *in, size_t len, int level, uint8_t **ret, size_t *ret_len);

/* A gzip stream: parts of the input in, compressed bytes appended to a strbuf as zlib makes
 * them. */
struct gzip_stream;
/* Returns a stream at level, or NULL when out of memory. */
struct gzip_stream *gzip_stream_new(int level);
/* Compresses len bytes of in (finish: and ends the stream, with the gzip trailer), appending
 * the output to out. Returns 0, -ENOMEM or -EIO. */
int gzip_stream_write(struct gzip_stream *g, const void *in, size_t len, bool finish,
		      struct strbuf *out);
/* Accepts NULL; returns NULL. */
struct gzip_stream *gzip_stream_free(struct gzip_stream *g);

#endif
