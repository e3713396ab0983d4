// SPDX-License-Identifier: BSD-2-Clause
#include "transport/http_metrics.h"
#include "base/clock.h"
#include "codec/gzip.h"
#include "codec/prom.h"
#include "codec/prom_proto.h"
#include "transport/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct metrics_body {
	struct snapshot *s;
	struct prom_stream *ps; /* text, or */
	struct prom_proto_stream *pps; /* protobuf */
	struct gzip_stream *gz; /* NULL: identity encoding */
	struct selfmetrics *stats;
	int *gate;
	struct strbuf text; /* rendered, not compressed yet (gzip only) */
	struct strbuf out; /* ready to send, from off */
	size_t off;
	bool rendered; /* the exposition and the self-metrics are all in text or out */
	double render_seconds; /* spent rendering and compressing, over every step */
};

/* Renders the next part into out (through gzip when asked). Returns 0 or a negative errno. */
static int fill(struct metrics_body *b)
{
	struct strbuf *dst = b->gz ? &b->text : &b->out;
	double t0 = clock_mono();
	int r;

	r = b->pps ? prom_proto_stream_next(b->pps, dst, HTTP_METRICS_PART) :
		     prom_stream_next(b->ps, dst, HTTP_METRICS_PART);
	if (r == 0) {
		if (b->stats && !b->pps) /* the protobuf stream converts them itself (self_text) */
			selfmetrics_prom_encode(b->stats, dst);
		b->rendered = true;
		r = strbuf_failed(dst) ? -ENOMEM : 0;
	}
	if (r >= 0 && b->gz) {
		r = gzip_stream_write(b->gz, b->text.data, b->text.len, b->rendered, &b->out);
		b->text.len = 0;
	}
	b->render_seconds += clock_mono() - t0;
	if (r >= 0 && b->rendered) {
		selfmetrics_http_render(b->stats, b->render_seconds);
		if (b->gz)
			selfmetrics_add(b->stats, b->stats ? &b->stats->gzip_responses : NULL, 1);
	}
	return r < 0 ? r : 0;
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct metrics_body *b = cls;
	size_t n;

	(void)pos;
	while (b->off == b->out.len) {
		b->off = b->out.len = 0; /* the buffer is reused, never grown past a part */
		if (b->rendered)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (fill(b))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = b->out.len - b->off;
	if (n > max)
		n = max;
	memcpy(buf, b->out.data + b->off, n);
	b->off += n;
	return (ssize_t)n;
}

static void body_free(void *cls)
{
	struct metrics_body *b = cls;

	prom_stream_free(b->ps);
	prom_proto_stream_free(b->pps);
	gzip_stream_free(b->gz);
	strbuf_reset(&b->text);
	strbuf_reset(&b->out);
	snapshot_unref(b->s);
	http_gate_leave(b->gate);
	free(b);
}

static void self_text(void *ctx, struct strbuf *text)
{
	selfmetrics_prom_encode(ctx, text);
}

struct MHD_Response *http_metrics_response(struct snapshot *s, bool proto, bool gzip,
					   struct selfmetrics *stats, int *gate)
{
	struct metrics_body *b = calloc(1, sizeof(*b));
	struct MHD_Response *resp;

	if (!b)
		return NULL;
	b->s = s;
	b->stats = stats;
	b->gate = gate;
	if (proto)
		b->pps = prom_proto_stream_new(s, metric_descs, M_MAX, stats ? self_text : NULL,
					       stats);
	else
		b->ps = prom_stream_new(s, metric_descs, M_MAX, 0);
	b->gz = gzip ? gzip_stream_new(6) : NULL;
	if ((!b->ps && !b->pps) || (gzip && !b->gz))
		goto fail;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_METRICS_PART, body_read, b,
						 body_free);
	if (resp)
		return resp;
fail:
	prom_stream_free(b->ps);
	prom_proto_stream_free(b->pps);
	gzip_stream_free(b->gz);
	free(b);
	return NULL;
}
