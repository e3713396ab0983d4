/* SPDX-License-Identifier: BSD-2-Clause */
/* UTF-8 validation and repair for strings that come from outside (cgroup and volume names,
 * mount paths, Kubernetes objects): every encoder (Prometheus text, JSON, OTLP protobuf) needs
 * valid UTF-8, and one bad byte would otherwise make a whole scrape or export unreadable.
 * Ill-formed sequences (stray continuation bytes, overlong forms, surrogates, code points past
 * U+10FFFF, sequences cut short) are replaced byte by byte with U+FFFD. Pure: no I/O. */
#ifndef BPFDIAG_UTF8_H
#define BPFDIAG_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* Length (1-4) of the well-formed character at s[0, n), or 0 when s does not start one. */
size_t utf8_char_len(const char *s, size_t n);
/* True when s[0, n) is well-formed UTF-8. */
bool utf8_valid(const char *s, size_t n);
/* Returns a malloc'd copy of the NUL-terminated s with each byte of an ill-formed sequence
 * replaced by U+FFFD, or NULL when out of memory. */
char *utf8_repair_dup(const char *s);
/* Repairs the NUL-terminated string in buf (size bytes) in place, U+FFFD for each bad byte;
 * what no longer fits is cut at a character boundary. Returns true when it changed buf. */
bool utf8_repair_buf(char *buf, size_t size);
/* Replaces each byte of an ill-formed sequence with '?' in place (no allocation: the fallback
 * when out of memory). Returns true when it changed s. */
bool utf8_repair_inplace(char *s);

#endif
