/* SPDX-License-Identifier: BSD-2-Clause */
/* A string-keyed hash map (chained, keys copied and compared, values borrowed) with iteration
 * that may delete the entry it stands on. The one map for string keys in the agent. */
#ifndef BPFDIAG_STRMAP_H
#define BPFDIAG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_ent {
	struct strmap_ent *next;
	uint64_t hash;
	char *key;
	void *val;
};

struct strmap {
	struct strmap_ent **b;
	size_t nb; /* buckets, a power of two */
	size_t n;
};

/* Iteration state: start with STRMAP_ITER_INIT. */
struct strmap_iter {
	size_t bucket;
	struct strmap_ent *next;
	int started;
	int done; /* for STRMAP_FOREACH */
};
#define STRMAP_ITER_INIT      \
	{                     \
		0, NULL, 0, 0 \
	}

/* Returns 0 or -ENOMEM. */
int strmap_init(struct strmap *m);
/* Frees the entries (and, with free_val, their values). The map may be initialised again. */
void strmap_destroy(struct strmap *m, void (*free_val)(void *));
void *strmap_get(const struct strmap *m, const char *key);
/* Sets key (which must be absent) to val. Returns 0 or -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *val);
/* Removes key and returns its value, or NULL when absent. */
void *strmap_del(struct strmap *m, const char *key);
/* The next entry, or NULL at the end. The entry returned may be deleted (strmap_del) before
 * the next call; inserting during an iteration may visit an entry twice or not at all. */
struct strmap_ent *strmap_next(const struct strmap *m, struct strmap_iter *it);

/* for (each entry e of m): the body may delete e (and break out). */
#define STRMAP_FOREACH(m, e)                                                              \
	for (struct strmap_iter e##_it = STRMAP_ITER_INIT; !e##_it.done; e##_it.done = 1) \
		for (struct strmap_ent * e; (e = strmap_next((m), &e##_it)) != NULL;)

/* Writes a key of n strings into buf (size bytes, truncated as snprintf truncates): each but
 * the last prefixed by its length and '/', so that no two lists share a key whatever their
 * bytes ("4/shop10/Deploymentweb"). Returns the key's length untruncated. */
size_t strmap_key_join(char *buf, size_t size, const char *const *parts, size_t n);

#endif
