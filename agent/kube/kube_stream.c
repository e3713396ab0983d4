// SPDX-License-Identifier: BSD-2-Clause
/* The watch stream splitter: a bracket/string scanner feeding json-c's incremental tokener. */
#include "kube/kube_stream.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define STREAM_DEPTH 64 /* pods nest about 20 deep (managedFields); json-c's default is 32 */
#define STREAM_SLICE (1u << 20)

struct kube_stream {
	json_tokener *tok;
	size_t max;
	size_t line_max; /* 0: none */
	size_t len; /* bytes of the current value so far */
	uint64_t depth;
	bool in_value;
	bool in_string;
	bool escape;
	bool skipping; /* over the cap: scanned, not parsed */
	bool bad; /* json-c rejected it: scanned to its end, then reported */
};

struct kube_stream *kube_stream_new(size_t max_value)
{
	struct kube_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tok = json_tokener_new_ex(STREAM_DEPTH);
	if (!s->tok) {
		free(s);
		return NULL;
	}
	s->max = max_value;
	return s;
}

struct kube_stream *kube_stream_free(struct kube_stream *s)
{
	if (!s)
		return NULL;
	json_tokener_free(s->tok);
	free(s);
	return NULL;
}

void kube_stream_reset(struct kube_stream *s)
{
	json_tokener_reset(s->tok);
	s->len = 0;
	s->depth = 0;
	s->in_value = s->in_string = s->escape = s->skipping = s->bad = false;
}

void kube_stream_set_line_max(struct kube_stream *s, size_t max)
{
	s->line_max = max;
}

bool kube_stream_partial(const struct kube_stream *s)
{
	return s->in_value;
}

/* Feeds one slice of the current value to json-c. done: the scanner saw the value end. */
static json_object *tokenize(struct kube_stream *s, const char *p, size_t n, bool done)
{
	json_object *v;

	if (s->skipping || s->bad)
		return NULL;
	v = json_tokener_parse_ex(s->tok, p, (int)n);
	if (done) {
		if (!v)
			s->bad = true;
		return v;
	}
	/* json-c finished before the scanner did, or failed: the value is bad either way. */
	if (v || json_tokener_get_error(s->tok) != json_tokener_continue)
		s->bad = true;
	json_object_put(v);
	return NULL;
}

int kube_stream_feed(struct kube_stream *s, const char *buf, size_t len, kube_stream_fn fn,
		     void *ctx)
{
	size_t i = 0;

	while (i < len) {
		size_t start, n, limit;
		bool done = false;
		json_object *v;
		int r;

		if (!s->in_value) {
			char c = buf[i];

			if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
				i++;
				continue;
			}
			if (c != '{' && c != '[')
				return -EBADMSG;
			kube_stream_reset(s);
			s->in_value = true;
		}
		start = i;
		limit = len - i > STREAM_SLICE ? i + STREAM_SLICE : len;
		for (; i < limit; i++) {
			char c = buf[i];

			if (s->in_string) {
				if (s->escape)
					s->escape = false;
				else if (c == '\\')
					s->escape = true;
				else if (c == '"')
					s->in_string = false;
				continue;
			}
			if (c == '"') {
				s->in_string = true;
			} else if (c == '{' || c == '[') {
				s->depth++;
			} else if ((c == '}' || c == ']') && --s->depth == 0) {
				i++;
				done = true;
				break;
			}
		}
		n = i - start;
		s->len += n;
		if (!done && s->line_max && s->len > s->line_max)
			return -EMSGSIZE; /* a value that never ends: not scanned further */
		if (!s->skipping && s->len > s->max) {
			s->skipping = true;
			json_tokener_reset(s->tok);
		}
		v = tokenize(s, buf + start, n, done);
		if (!done)
			continue;
		r = s->skipping ? fn(ctx, NULL, -E2BIG) :
		    s->bad	? fn(ctx, NULL, -EBADMSG) :
				  fn(ctx, v, 0);
		json_object_put(v);
		kube_stream_reset(s);
		if (r)
			return r;
	}
	return 0;
}
