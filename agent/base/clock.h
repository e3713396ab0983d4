/* SPDX-License-Identifier: BSD-2-Clause */
/* Wall and monotonic clocks as seconds (doubles) or nanoseconds; one definition for every
 * module. bpf_ktime_get_ns() is CLOCK_MONOTONIC, so clock_mono_ns() compares with it. */
#ifndef BPFDIAG_CLOCK_H
#define BPFDIAG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline double clock_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
