/* SPDX-License-Identifier: BSD-2-Clause */
/* Comma-separated HTTP header lists with parameters and q-values (Accept, Accept-Encoding,
 * RFC 9110 §12.5): one reader for content negotiation. A codec: no I/O. */
#ifndef BPFDIAG_ACCEPT_H
#define BPFDIAG_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>

/* One element of the list: its token ("gzip", "text/plain") without surrounding blanks, its
 * parameters (what follows the first ';', or NULL) and its q (1 when absent). */
struct accept_item {
	const char *token;
	size_t token_len;
	const char *params;
	size_t params_len;
	double q;
};

/* Calls fn on each non-empty element of header (NULL: none). */
void accept_each(const char *header, void (*fn)(const struct accept_item *it, void *ctx),
		 void *ctx);
/* True when the item's token is tok (case-insensitive). */
bool accept_is(const struct accept_item *it, const char *tok);
/* True when one of the item's parameters is exactly param ("encoding=delimited"),
 * case-insensitive, blanks around it ignored. */
bool accept_has_param(const struct accept_item *it, const char *param);

#endif
