// SPDX-License-Identifier: BSD-2-Clause
/* The packed window of a workload (rule_window.h). A packed bucket is a bitmap of the struct's
 * non-zero 8-byte words, then for each of them a bitmap of its non-zero bytes and those bytes:
 * an idle bucket takes a few bytes, counts a byte or two, a double nine at most. */
#include "rules/rule_window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS (sizeof(struct bucket) / 8)
#define MAP ((WORDS + 7) / 8)
#define PACKED_MAX (MAP + WORDS * 9)

_Static_assert(sizeof(struct bucket) % 8 == 0, "a bucket is whole words");

/* Packs b into out (PACKED_MAX bytes); returns the length. */
static size_t pack(const struct bucket *b, uint8_t *out)
{
	const uint8_t *in = (const uint8_t *)b;
	size_t n = MAP;

	memset(out, 0, MAP);
	for (size_t i = 0; i < WORDS; i++) {
		size_t at = n + 1;
		uint8_t mask = 0;
		uint64_t word;

		memcpy(&word, in + 8 * i, 8);
		if (!word) /* most of a bucket: a word at a time */
			continue;
		for (unsigned k = 0; k < 8; k++) {
			if (in[8 * i + k]) {
				mask |= (uint8_t)(1u << k);
				out[at++] = in[8 * i + k];
			}
		}
		if (!mask)
			continue;
		out[i / 8] |= (uint8_t)(1u << (i % 8));
		out[n] = mask;
		n = at;
	}
	return n;
}

/* Unpacks the bucket at in into b, when b is not NULL; returns its packed length. Only the
 * set bits of the word map and of each word's byte mask are visited. */
static size_t unpack(const uint8_t *in, struct bucket *b)
{
	uint8_t *out = (uint8_t *)b;
	size_t n = MAP;

	if (b)
		memset(b, 0, sizeof(*b));
	for (size_t m = 0; m < MAP; m++) {
		for (unsigned bits = in[m]; bits; bits &= bits - 1) {
			size_t i = 8 * m + (size_t)__builtin_ctz(bits);
			unsigned mask = in[n++];

			if (!b) {
				n += (size_t)__builtin_popcount(mask);
				continue;
			}
			for (; mask; mask &= mask - 1)
				out[8 * i + (size_t)__builtin_ctz(mask)] = in[n++];
		}
	}
	return n;
}

int rule_ring_put(struct rule_ring *r, unsigned slot, unsigned n, const struct bucket *b)
{
	uint8_t packed[PACKED_MAX];
	size_t len = pack(b, packed), off = 0, old = 0;

	for (unsigned i = 0; i < slot; i++)
		off += unpack(r->buf + off, NULL);
	if (slot < n)
		old = unpack(r->buf + off, NULL);
	if (len == old && memcmp(r->buf + off, packed, len) == 0)
		return 0; /* unchanged (an idle workload's open bucket) */
	if (len > old) {
		uint8_t *p = realloc(r->buf, r->len - old + len);

		if (!p)
			return -ENOMEM;
		r->buf = p;
	}
	memmove(r->buf + off + len, r->buf + off + old, r->len - off - old);
	memcpy(r->buf + off, packed, len);
	r->len = r->len - old + len;
	if (len < old) {
		/* Shrinking: a failure keeps the larger block. */
		uint8_t *p = realloc(r->buf, r->len);

		if (p)
			r->buf = p;
	}
	return 0;
}

void rule_ring_get(const struct rule_ring *r, unsigned slot, unsigned n, struct bucket *b)
{
	size_t off = 0;

	if (slot >= n) {
		memset(b, 0, sizeof(*b));
		return;
	}
	for (unsigned i = 0; i < slot; i++)
		off += unpack(r->buf + off, NULL);
	unpack(r->buf + off, b);
}

void rule_ring_free(struct rule_ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
}

/* Adds bucket b to the window's sum out. */
static void add(struct bucket *out, const struct bucket *b)
{
	out->seconds += b->seconds;
	out->data |= b->data;
	for (int v = 0; v < VOLUME_CLASS_MAX; v++) {
		out->fs_bytes[v] += b->fs_bytes[v];
		out->fs_syncs[v] += b->fs_syncs[v];
		out->fs_read_bytes[v] += b->fs_read_bytes[v];
	}
	out->server_conns += b->server_conns;
	out->cpu_s += b->cpu_s;
	out->throttled += b->throttled;
	out->periods += b->periods;
	out->limit_core_s += b->limit_core_s;
	for (int h = 0; h < HIST_SLOTS; h++)
		out->runq_hist[h] += b->runq_hist[h];
	out->runq_wait_s += b->runq_wait_s;
	for (unsigned k = 0; k < RULE_CAUSES && b->caused[k].id; k++)
		rule_bucket_cause(out, b->caused[k].id, b->caused[k].s);
	out->listening |= b->listening;
	out->peer_replica |= b->peer_replica;
	if (b->port)
		out->port = b->port;
	out->unprobed_conns += b->unprobed_conns;
	if (b->unprobed_port)
		out->unprobed_port = b->unprobed_port;
	if (b->pvc_volume[0])
		snprintf(out->pvc_volume, sizeof(out->pvc_volume), "%s", b->pvc_volume);
	out->unbounded_emptydir_bytes += b->unbounded_emptydir_bytes;
	if (b->unbounded_emptydir[0])
		snprintf(out->unbounded_emptydir, sizeof(out->unbounded_emptydir), "%s",
			 b->unbounded_emptydir);
	if (b->mem_ratio > out->mem_ratio || (!out->mem_limit && b->mem_ws > out->mem_ws)) {
		out->mem_ratio = b->mem_ratio;
		out->mem_ws = b->mem_ws;
		out->mem_limit = b->mem_limit;
	}
	out->oom_kills += b->oom_kills;
	if (b->oom_ws > out->oom_ws)
		out->oom_ws = b->oom_ws;
	if (b->oom_peak > out->oom_peak)
		out->oom_peak = b->oom_peak;
}

void rule_ring_sum(const struct rule_ring *r, unsigned n, struct bucket *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n; i++) {
		struct bucket b;

		off += unpack(r->buf + off, &b);
		add(out, &b);
	}
}
