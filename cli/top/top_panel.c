// SPDX-License-Identifier: BSD-2-Clause
#include "top/top_panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void top_panel_add(struct top_panel *p, const char *line)
{
	if (p->failed)
		return;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		char(*t)[TOP_PANEL_LINE_MAX] = realloc(p->text, cap * sizeof(*t));
		attr_t *a;

		if (!t) {
			p->failed = true;
			return;
		}
		p->text = t;
		a = realloc(p->attr, cap * sizeof(*a));
		if (!a) {
			p->failed = true;
			return;
		}
		p->attr = a;
		p->cap = cap;
	}
	snprintf(p->text[p->n], TOP_PANEL_LINE_MAX, "%s%s", p->cur & A_BOLD ? "" : "      ", line);
	p->attr[p->n++] = p->cur;
}

void top_panel_wrap(struct top_panel *p, const char *s, int width)
{
	char line[TOP_PANEL_LINE_MAX];
	size_t n = strlen(s);

	if (width < 10)
		width = 10;
	if (width >= (int)sizeof(line))
		width = (int)sizeof(line) - 1;
	while (n > (size_t)width) {
		size_t cut = (size_t)width;

		while (cut > 0 && s[cut] != ' ')
			cut--;
		if (!cut)
			cut = (size_t)width;
		memcpy(line, s, cut);
		line[cut] = '\0';
		top_panel_add(p, line);
		s += cut;
		n -= cut;
		while (*s == ' ') {
			s++;
			n--;
		}
	}
	if (n)
		top_panel_add(p, s);
}

void top_panel_clear(struct top_panel *p)
{
	free(p->text);
	free(p->attr);
	*p = (struct top_panel){ 0 };
}
