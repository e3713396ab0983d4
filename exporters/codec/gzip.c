// SPDX-License-Identifier: BSD-2-Clause
#include "codec/gzip.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

int gzip_compress(const void *in, size_t len, int level, uint8_t **ret, size_t *ret_len)
{
	z_stream z = { 0 };
	uLong bound;
	uint8_t *out;
	int r;

	if (len > UINT_MAX)
		return -E2BIG; /* one deflate() call: bodies are far below 4 GiB */
	/* windowBits 15 + 16 asks zlib for a gzip header and trailer instead of zlib's. */
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	/* deflateBound leaves room for the gzip wrapper once the stream knows it is gzip. */
	bound = deflateBound(&z, (uLong)len);
	out = malloc(bound);
	if (!out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)bound;
	r = deflate(&z, Z_FINISH);
	if (r != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return -EIO;
	}
	*ret_len = z.total_out;
	deflateEnd(&z);
	*ret = out;
	return 0;
}
