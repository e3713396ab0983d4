// SPDX-License-Identifier: BSD-2-Clause
#include "base/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_char_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	/* The well-formed table of Unicode 15 §3.9 (Table 3-7): the second byte's range depends
	 * on the first, which rules out overlongs, surrogates and code points past U+10FFFF. */
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

bool utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k) {
		uint64_t w;

		/* ASCII (label values, paths: nearly every string) eight bytes a step */
		if (n - i >= 8 && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ULL))) {
			k = 8;
			continue;
		}
		k = utf8_char_len(s + i, n - i);
		if (!k)
			return false;
	}
	return true;
}

/* Bytes of s[0, n) that start no well-formed character: each becomes one U+FFFD. */
static size_t bad_bytes(const char *s, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0, k; i < n; i += k ? k : 1)
		bad += !(k = utf8_char_len(s + i, n - i));
	return bad;
}

/* Writes the repaired s[0, n) to out (room for cap bytes and a NUL), cut at a character
 * boundary when it does not fit. */
static void repair_into(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0, k; i < n; i += k ? k : 1) {
		const char *c = s + i;
		size_t w;

		k = utf8_char_len(c, n - i);
		if (k) {
			w = k;
		} else {
			c = UTF8_REPLACEMENT;
			w = sizeof(UTF8_REPLACEMENT) - 1;
		}
		if (o + w > cap)
			break;
		memcpy(out + o, c, w);
		o += w;
	}
	out[o] = '\0';
}

char *utf8_repair_dup(const char *s)
{
	size_t n = strlen(s), len = n + bad_bytes(s, n) * (sizeof(UTF8_REPLACEMENT) - 2);
	char *out = malloc(len + 1);

	if (out)
		repair_into(out, len, s, n);
	return out;
}

bool utf8_repair_buf(char *buf, size_t size)
{
	size_t n = size ? strnlen(buf, size - 1) : 0;
	char *copy;

	if (!size || !bad_bytes(buf, n))
		return false;
	copy = strndup(buf, n);
	if (!copy)
		return utf8_repair_inplace(buf);
	repair_into(buf, size - 1, copy, n);
	free(copy);
	return true;
}

bool utf8_repair_inplace(char *s)
{
	size_t n = strlen(s);
	bool changed = false;

	for (size_t i = 0, k; i < n; i += k) {
		k = utf8_char_len(s + i, n - i);
		if (!k) {
			s[i] = '?';
			k = 1;
			changed = true;
		}
	}
	return changed;
}
