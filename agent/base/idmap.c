// SPDX-License-Identifier: BSD-2-Clause
#include "base/idmap.h"
#include "base/hash.h"

#include <errno.h>
#include <stdlib.h>

struct slot {
	uint64_t key; /* 0: empty */
	void *value;
};

struct idmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t size;
};

static size_t hash(uint64_t k)
{
	/* splitmix64 finaliser: cgroup ids are sequential, spread them. */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return (size_t)k;
}

struct idmap *idmap_new(void)
{
	struct idmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 64;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

struct idmap *idmap_free(struct idmap *m)
{
	if (m) {
		free(m->slots);
		free(m);
	}
	return NULL;
}

static struct slot *find(const struct idmap *m, uint64_t key)
{
	size_t mask = m->cap - 1;

	for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
		if (m->slots[i].key == key || m->slots[i].key == 0)
			return &m->slots[i];
	}
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
	struct slot *s;

	if (!key)
		return NULL;
	s = find(m, key);
	return s->key ? s->value : NULL;
}

static int resize(struct idmap *m, size_t cap)
{
	struct slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key)
			*find(m, old[i].key) = old[i];
	}
	free(old);
	return 0;
}

int idmap_put(struct idmap *m, uint64_t key, void *value)
{
	struct slot *s;

	if (!key || !value)
		return -EINVAL;
	/* Keep the load factor under 1/2 so probes stay short. */
	if ((m->size + 1) * 2 > m->cap && resize(m, m->cap * 2))
		return -ENOMEM;
	s = find(m, key);
	if (!s->key) {
		s->key = key;
		m->size++;
	}
	s->value = value;
	return 0;
}

void *idmap_del(struct idmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i, j;
	void *value;
	struct slot *s;

	if (!key)
		return NULL;
	s = find(m, key);
	if (!s->key)
		return NULL;
	value = s->value;
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	i = (size_t)(s - m->slots);
	j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!m->slots[j].key)
			break;
		size_t home = hash(m->slots[j].key) & mask;
		/* Move j back to i when its home is not cyclically within (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = 0;
	m->slots[i].value = NULL;
	m->size--;
	return value;
}

size_t idmap_size(const struct idmap *m)
{
	return m->size;
}

int idmap_next(const struct idmap *m, size_t *pos, uint64_t *ret_key, void **ret_value)
{
	for (size_t i = *pos; i < m->cap; i++) {
		if (m->slots[i].key) {
			*ret_key = m->slots[i].key;
			*ret_value = m->slots[i].value;
			*pos = i + 1;
			return 1;
		}
	}
	*pos = m->cap;
	return 0;
}

uint64_t idmap_str_key(const char *s)
{
	uint64_t h = hash_str(s);

	return h ? h : 1;
}
