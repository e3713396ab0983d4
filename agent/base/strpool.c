// SPDX-License-Identifier: BSD-2-Clause
#include "base/strpool.h"

#include "base/hash.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES (32u << 10)

struct strpool_chunk {
	struct strpool_chunk *next;
	size_t used, size;
	char data[];
};

struct strpool_slot {
	uint64_t hash;
	char *str; /* NULL: free */
};

/* Stores a copy of s (len bytes and a NUL) in the newest chunk, or a new one. */
static char *store(struct strpool *p, const char *s, size_t len)
{
	struct strpool_chunk *c = p->chunks;
	char *r;

	if (!c || c->size - c->used < len + 1) {
		/* A long string gets a chunk of its own, behind the current one, which keeps
		 * filling. */
		size_t size = len + 1 > CHUNK_BYTES / 4 ? len + 1 : CHUNK_BYTES;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = size;
		if (size != CHUNK_BYTES && p->chunks) {
			c->next = p->chunks->next;
			p->chunks->next = c;
		} else {
			c->next = p->chunks;
			p->chunks = c;
		}
	}
	r = c->data + c->used;
	memcpy(r, s, len);
	r[len] = '\0';
	c->used += len + 1;
	return r;
}

static struct strpool_slot *slot_of(const struct strpool *p, uint64_t h, const char *s)
{
	size_t mask = p->n_slots - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strpool_slot *sl = &p->slots[i];

		if (!sl->str || (sl->hash == h && strcmp(sl->str, s) == 0))
			return sl;
	}
}

/* Doubles the index (from 256 slots), keeping it at most half full. */
static int grow(struct strpool *p)
{
	size_t n = p->n_slots ? p->n_slots * 2 : 256;
	struct strpool_slot *old = p->slots, *slots = calloc(n, sizeof(*slots));
	size_t old_n = p->n_slots;

	if (!slots)
		return -1;
	p->slots = slots;
	p->n_slots = n;
	for (size_t i = 0; i < old_n; i++) {
		if (old[i].str)
			*slot_of(p, old[i].hash, old[i].str) = old[i];
	}
	free(old);
	return 0;
}

char *strpool_find_hashed(const struct strpool *p, const char *s, uint64_t h)
{
	if (!p->slots)
		return NULL;
	return slot_of(p, h, s)->str;
}

char *strpool_find(const struct strpool *p, const char *s)
{
	return strpool_find_hashed(p, s, hash_str(s));
}

char *strpool_intern_hashed(struct strpool *p, const char *s, size_t len, uint64_t h)
{
	struct strpool_slot *sl;

	if (p->sealed)
		return store(p, s, len);
	if ((p->n + 1) * 2 > p->n_slots && grow(p))
		return NULL;
	sl = slot_of(p, h, s);
	if (!sl->str) {
		if (!(sl->str = store(p, s, len)))
			return NULL;
		sl->hash = h;
		p->n++;
	}
	return sl->str;
}

char *strpool_intern(struct strpool *p, const char *s)
{
	size_t len = strlen(s);

	return strpool_intern_hashed(p, s, len, hash_bytes(s, len));
}

bool strpool_owns(const struct strpool *p, const char *str)
{
	for (const struct strpool_chunk *c = p->chunks; c; c = c->next) {
		if (str >= c->data && str < c->data + c->used)
			return true;
	}
	return false;
}

void strpool_seal(struct strpool *p)
{
	free(p->slots);
	p->slots = NULL;
	p->n_slots = 0;
	p->n = 0;
	p->sealed = true;
}

size_t strpool_bytes(const struct strpool *p)
{
	size_t n = p->n_slots * sizeof(*p->slots);

	for (const struct strpool_chunk *c = p->chunks; c; c = c->next)
		n += sizeof(*c) + c->size;
	return n;
}

void strpool_destroy(struct strpool *p)
{
	while (p->chunks) {
		struct strpool_chunk *c = p->chunks;

		p->chunks = c->next;
		free(c);
	}
	free(p->slots);
	memset(p, 0, sizeof(*p));
}
