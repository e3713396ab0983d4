/* SPDX-License-Identifier: BSD-2-Clause */
/* The lines of bpfdiag top's findings panel (text and curses attribute each), word-wrapped
 * and built before drawing so that the panel can scroll (top_view.c). */
#ifndef BPFDIAG_TOP_PANEL_H
#define BPFDIAG_TOP_PANEL_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>

#define TOP_PANEL_LINE_MAX 1024

struct top_panel {
	char (*text)[TOP_PANEL_LINE_MAX];
	attr_t *attr;
	size_t n, cap;
	attr_t cur; /* the attribute of the lines added next; not bold: indented */
	bool failed; /* out of memory: lines were left out */
};

/* Appends one line with p->cur. */
void top_panel_add(struct top_panel *p, const char *line);
/* Appends s word-wrapped into lines of at most width bytes. */
void top_panel_wrap(struct top_panel *p, const char *s, int width);
void top_panel_clear(struct top_panel *p);

#endif
