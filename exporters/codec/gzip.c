// SPDX-License-Identifier: BSD-2-Clause
#include "codec/gzip.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

struct gzip_stream {
	z_stream z;
};

struct gzip_stream *gzip_stream_new(int level)
{
	struct gzip_stream *g = calloc(1, sizeof(*g));

	/* windowBits 15 + 16 asks zlib for a gzip header and trailer instead of zlib's. */
	if (g && deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		return NULL;
	}
	return g;
}

struct gzip_stream *gzip_stream_free(struct gzip_stream *g)
{
	if (g) {
		deflateEnd(&g->z);
		free(g);
	}
	return NULL;
}

int gzip_stream_write(struct gzip_stream *g, const void *in, size_t len, bool finish,
		      struct strbuf *out)
{
	unsigned char buf[16384];
	int r;

	if (len > UINT_MAX)
		return -E2BIG;
	g->z.next_in = (Bytef *)in;
	g->z.avail_in = (uInt)len;
	do {
		g->z.next_out = buf;
		g->z.avail_out = sizeof(buf);
		r = deflate(&g->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (r == Z_STREAM_ERROR || (finish && r == Z_BUF_ERROR))
			return -EIO;
		strbuf_append(out, (const char *)buf, sizeof(buf) - g->z.avail_out);
		if (strbuf_failed(out))
			return -ENOMEM;
		/* a full buffer may leave output pending; Z_FINISH runs to the trailer */
	} while (g->z.avail_out == 0 || (finish && r != Z_STREAM_END));
	return 0;
}

int gzip_compress(const void *in, size_t len, int level, uint8_t **ret, size_t *ret_len)
{
	struct strbuf out = STRBUF_INIT;
	struct gzip_stream *g;
	int r;

	if (len > UINT_MAX)
		return -E2BIG; /* one deflate() call: bodies are far below 4 GiB */
	g = gzip_stream_new(level);
	if (!g)
		return -ENOMEM;
	r = gzip_stream_write(g, in, len, true, &out);
	gzip_stream_free(g);
	if (!r && !(*ret = (uint8_t *)strbuf_steal(&out, ret_len)))
		r = -ENOMEM;
	if (r)
		strbuf_reset(&out);
	return r;
}
