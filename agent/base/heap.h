/* SPDX-License-Identifier: BSD-2-Clause */
/* Bounds what the C allocator keeps after a burst: a node churning thousands of cgroups makes
 * the agent build large snapshots, renders and rule state for a while; once they are freed,
 * glibc keeps the pages in its arenas (measured: 200 s after 5,000 cgroups alive at once were
 * removed, RSS stayed near its 290 MB peak with most of the heap free). heap_tune() keeps transient
 * buffers over 256 KiB (renders, compression) in mappings of their own, returned on free;
 * heap_trim_maybe() hands free heap pages back to the kernel at most once a minute. */
#ifndef BPFDIAG_HEAP_H
#define BPFDIAG_HEAP_H

#include <stdbool.h>

#define HEAP_MMAP_THRESHOLD (256u << 10)
#define HEAP_TRIM_SECONDS 60.0

/* Call once at start, before threads. */
void heap_tune(void);
/* Call after each collection with the monotonic time and the caller's *last (0 at first):
 * trims when HEAP_TRIM_SECONDS passed since *last, updating it; returns true when it did. */
bool heap_trim_maybe(double *last, double now);

#endif
