/* SPDX-License-Identifier: BSD-2-Clause */
/* Interned strings: each distinct string stored once, back to back in large chunks that are
 * freed together. A snapshot interns its label values here: the thousand series of a node
 * share a handful of namespaces, workload kinds and own-label values, and each string costs
 * its bytes instead of a heap block each. The index that finds a string again can be dropped
 * once no more strings come (strpool_seal); the strings stay. */
#ifndef BPFDIAG_STRPOOL_H
#define BPFDIAG_STRPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strpool_chunk;

struct strpool {
	struct strpool_chunk *chunks; /* the newest first */
	struct strpool_slot *slots; /* open addressing; NULL before the first string and sealed */
	size_t n_slots; /* a power of two */
	size_t n; /* strings indexed */
	bool sealed;
};

/* An empty pool is all zeros. */
#define STRPOOL_INIT \
	{            \
		0    \
	}

/* Returns the pool's copy of s, stored on first sight, or NULL when out of memory. A sealed
 * pool stores every string it is given (no more index). */
char *strpool_intern(struct strpool *p, const char *s);
/* The pool's copy of s, or NULL when it has none (or is sealed). */
char *strpool_find(const struct strpool *p, const char *s);
/* strpool_find and strpool_intern of s (len bytes) whose hash_str h the caller has: a string
 * looked for and then stored is hashed once. */
char *strpool_find_hashed(const struct strpool *p, const char *s, uint64_t h);
char *strpool_intern_hashed(struct strpool *p, const char *s, size_t len, uint64_t h);
/* Whether str points into the pool's storage. */
bool strpool_owns(const struct strpool *p, const char *str);
/* Frees the index: the strings stay, nothing is found again. */
void strpool_seal(struct strpool *p);
/* Bytes held: storage and index. */
size_t strpool_bytes(const struct strpool *p);
/* Frees everything; the pool is empty again. */
void strpool_destroy(struct strpool *p);

#endif
