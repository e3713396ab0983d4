/* SPDX-License-Identifier: BSD-2-Clause */
/* gzip (RFC 1952) of a buffer in memory, for HTTP bodies. A codec: no I/O. */
#ifndef BPFDIAG_GZIP_H
#define BPFDIAG_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* Compresses len bytes of in at level (1-9, or -1 for zlib's default) into a new buffer
 * (*ret, free() it) of *ret_len bytes. Returns 0, -ENOMEM, -E2BIG (len over 4 GiB) or -EIO when zlib fails. */
int gzip_compress(const void *in, size_t len, int level, uint8_t **ret, size_t *ret_len);

#endif
