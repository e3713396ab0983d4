/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top's full-screen view (ncursesw): header with node totals and agent health, one row
 * per pod (expandable to containers), sorting, filters, a findings panel and a help screen. */
#ifndef BPFDIAG_TOP_VIEW_H
#define BPFDIAG_TOP_VIEW_H

#include <signal.h>
#include <stddef.h>

#include "top/top_rows.h"
#include "top/top_source.h"

struct top_view_opts {
	double interval; /* seconds between fetches */
	enum top_sort sort;
	volatile sig_atomic_t *stop; /* set by SIGINT/SIGTERM: leave, restoring the terminal */
};

/* Runs the view until `q` or *stop, then restores the terminal. Returns 0, or -ENOTTY with a
 * reason in err when the terminal cannot be driven (nothing was drawn: fall back to text). */
int top_view_run(struct top_source *src, const struct top_view_opts *o, char *err, size_t errlen);

#endif
