/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Latency histograms shared by kernel and user space: log2 slots of microseconds. */
#ifndef BPFDIAG_HIST_H
#define BPFDIAG_HIST_H

/* Slot 0: < 1 µs (1.024 µs: ns >> 10); slot i: < 2^i µs; the last slot: the rest (+Inf). */
#define HIST_SLOTS 20

#endif
