/* SPDX-License-Identifier: BSD-2-Clause */
/* One string hash for the whole agent (hash_str, hash_bytes): eight bytes a step, each
 * multiplied into the state, rotated and multiplied again (xxHash64's round, one lane), then
 * murmur3's finaliser so that the low bits (a table's index) depend on every
 * byte. Fast and well spread for the keys we hash (cgroup paths, label values, namespace/name
 * pairs, UIDs): a collection hashes every series' labels. Not for keys an attacker chooses to
 * collide, so every map that uses it compares the key too. In memory only: nothing stored or
 * sent depends on its values. hash_add, for a few short parts, is FNV-1a. */
#ifndef BPFDIAG_HASH_H
#define BPFDIAG_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_FNV_OFFSET 0xcbf29ce484222325ULL
#define HASH_FNV_PRIME 0x100000001b3ULL

/* Continues hash h over the bytes of s and a terminator, so that hash_add(hash_add(H, "ab"),
 * "c") differs from hash_add(hash_add(H, "a"), "bc"). Start from HASH_FNV_OFFSET. */
static inline uint64_t hash_add(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * HASH_FNV_PRIME;
	return (h ^ 0x1f) * HASH_FNV_PRIME;
}

/* The hash of n bytes at p. */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)n * 0xc2b2ae3d27d4eb4fULL), w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		h += w * 0xc2b2ae3d27d4eb4fULL;
		h = (h << 31 | h >> 33) * 0x9e3779b185ebca87ULL;
	}
	w = 0;
	memcpy(&w, b, n);
	h = (h ^ w) * 0x4cf5ad432745937fULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* The hash of a string (its bytes, not its terminator). */
static inline uint64_t hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

#endif
