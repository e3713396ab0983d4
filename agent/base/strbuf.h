/* SPDX-License-Identifier: BSD-2-Clause */
/* A growable byte buffer for encoders. Allocation failure is sticky: check strbuf_failed(). */
#ifndef BPFDIAG_STRBUF_H
#define BPFDIAG_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data; /* always NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	bool failed;
};

#define STRBUF_INIT \
	{           \
		0   \
	}

void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when an append could not allocate; the buffer then holds a truncated prefix. */
bool strbuf_failed(const struct strbuf *sb);
/* Hands the buffer to the caller (free() it); sb is reset. Returns NULL after a failure. */
char *strbuf_steal(struct strbuf *sb, size_t *ret_len);
void strbuf_reset(struct strbuf *sb);

#endif
