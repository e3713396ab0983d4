/* SPDX-License-Identifier: BSD-2-Clause */
/* A workload's window as the engine keeps it: its closed buckets packed, each without its zero
 * bytes (a bucket is mostly zeros: a few volume classes written, a few run-queue slots, no
 * names), so that a window costs what its workload did rather than 10 × sizeof(struct bucket).
 * Exact: a bucket read back has the bytes it was put with. Internal to rules/. */
#ifndef BPFDIAG_RULE_WINDOW_H
#define BPFDIAG_RULE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "rules/rule_def.h"

/* The packed buckets of slots 0, 1, … one after the other. */
struct rule_ring {
	uint8_t *buf;
	size_t len;
};

/* Puts bucket b into slot of the n slots filled (slot == n: a new one). Returns 0, or -ENOMEM
 * with the ring unchanged. */
int rule_ring_put(struct rule_ring *r, unsigned slot, unsigned n, const struct bucket *b);
/* Bucket slot of the n filled into b (slot >= n: an empty bucket). */
void rule_ring_get(const struct rule_ring *r, unsigned slot, unsigned n, struct bucket *b);
/* The n filled slots summed in slot order into out, as a finding's text reads the window. */
void rule_ring_sum(const struct rule_ring *r, unsigned n, struct bucket *out);
/* Frees the buckets; the ring is empty again. */
void rule_ring_free(struct rule_ring *r);

#endif
