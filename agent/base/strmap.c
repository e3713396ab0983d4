// SPDX-License-Identifier: BSD-2-Clause
#include "base/strmap.h"
#include "base/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strmap_init(struct strmap *m)
{
	m->nb = 64;
	m->n = 0;
	m->b = calloc(m->nb, sizeof(*m->b));
	return m->b ? 0 : -ENOMEM;
}

static struct strmap_ent **slot(const struct strmap *m, const char *key, uint64_t h)
{
	struct strmap_ent **pp = &m->b[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			break;
	}
	return pp;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_ent *e = m->b ? *slot(m, key, hash_str(key)) : NULL;

	return e ? e->val : NULL;
}

static void grow(struct strmap *m)
{
	size_t nb = m->nb * 2;
	struct strmap_ent **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* keep the longer chains: correct, only slower */
	for (size_t i = 0; i < m->nb; i++) {
		for (struct strmap_ent *e = m->b[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

int strmap_put(struct strmap *m, const char *key, void *val)
{
	struct strmap_ent *e = calloc(1, sizeof(*e));
	uint64_t h = hash_str(key);

	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	if (m->n >= m->nb)
		grow(m);
	e->hash = h;
	e->val = val;
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	m->n++;
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_ent **pp, *e;
	void *v;

	if (!m->b)
		return NULL;
	pp = slot(m, key, hash_str(key));
	e = *pp;
	if (!e)
		return NULL;
	*pp = e->next;
	v = e->val;
	free(e->key);
	free(e);
	m->n--;
	return v;
}

struct strmap_ent *strmap_next(const struct strmap *m, struct strmap_iter *it)
{
	struct strmap_ent *e;

	if (!m->b)
		return NULL;
	if (!it->started) {
		it->started = 1;
		it->bucket = 0;
		it->next = m->b[0];
	}
	/* it->next was read before the caller could delete the entry returned last. */
	while (!it->next && ++it->bucket < m->nb)
		it->next = m->b[it->bucket];
	if (!it->next)
		return NULL;
	e = it->next;
	it->next = e->next;
	return e;
}

void strmap_destroy(struct strmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; m->b && i < m->nb; i++) {
		for (struct strmap_ent *e = m->b[i], *next; e; e = next) {
			next = e->next;
			if (free_val)
				free_val(e->val);
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	m->b = NULL;
	m->n = 0;
}

/* Appends len bytes of s at *at within buf of size bytes (the last kept for the NUL). */
static void key_put(char *buf, size_t size, size_t *at, const char *s, size_t len)
{
	if (*at + 1 < size) {
		size_t room = size - 1 - *at;

		memcpy(buf + *at, s, len < room ? len : room);
	}
	*at += len;
}

size_t strmap_key_join(char *buf, size_t size, const char *const *parts, size_t n)
{
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(parts[i]);

		if (i + 1 < n) {
			char num[24];
			size_t k = sizeof(num);
			size_t v = len;

			num[--k] = '/';
			do
				num[--k] = (char)('0' + v % 10);
			while ((v /= 10));
			key_put(buf, size, &at, num + k, sizeof(num) - k);
		}
		key_put(buf, size, &at, parts[i], len);
	}
	if (size)
		buf[at < size ? at : size - 1] = '\0';
	return at;
}
