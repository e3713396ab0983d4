/* SPDX-License-Identifier: BSD-2-Clause */
/* One string hash for the whole agent: 64-bit FNV-1a. Fast and well spread for the short keys
 * we hash (cgroup paths, namespace/name pairs, UIDs); not for keys an attacker chooses to
 * collide, so every map that uses it compares the key too. */
#ifndef BPFDIAG_HASH_H
#define BPFDIAG_HASH_H

#include <stdint.h>

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

/* The plain FNV-1a hash of a string. */
static inline uint64_t hash_str(const char *s)
{
	uint64_t h = HASH_FNV_OFFSET;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * HASH_FNV_PRIME;
	return h;
}

#endif
