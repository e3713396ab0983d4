// SPDX-License-Identifier: BSD-2-Clause
#include "base/heap.h"

#include <malloc.h>

void heap_tune(void)
{
	/* A fixed threshold also stops glibc raising it after each large free, which would put
	 * the next multi-megabyte render back inside the heap. */
	mallopt(M_MMAP_THRESHOLD, (int)HEAP_MMAP_THRESHOLD);
}

bool heap_trim_maybe(double *last, double now)
{
	if (*last && now - *last < HEAP_TRIM_SECONDS)
		return false;
	*last = now;
	malloc_trim(0);
	return true;
}
