/* SPDX-License-Identifier: BSD-2-Clause */
/* The log2 latency histogram of the kernel side (bpf/hist.h: slot i counts values below
 * 2^(i+10) ns), as seconds: its bucket bounds and the one quantile routine. */
#ifndef BPFDIAG_MODEL_HIST_H
#define BPFDIAG_MODEL_HIST_H

#include <stdint.h>

#include "hist.h"

/* Upper bounds (seconds) of the slots, HIST_SLOTS - 1 of them; the last slot is +Inf. */
extern const double hist_bounds[HIST_SLOTS - 1];

/* Upper bound (seconds) of the slot holding quantile q (0..1) of counts[HIST_SLOTS]; twice the
 * last finite bound when it falls in the +Inf slot; 0 when the histogram is empty. */
double hist_quantile(const uint64_t *counts, double q);

#endif
