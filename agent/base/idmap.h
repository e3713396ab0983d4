/* SPDX-License-Identifier: BSD-2-Clause */
/* An open-addressing hash map from non-zero u64 keys (cgroup ids) to pointers. */
#ifndef BPFDIAG_IDMAP_H
#define BPFDIAG_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap;

/* Returns a new empty map, or NULL when out of memory. */
struct idmap *idmap_new(void);
/* Frees the map (not the values). Accepts NULL; returns NULL. */
struct idmap *idmap_free(struct idmap *m);
/* Returns the value for key, or NULL. */
void *idmap_get(const struct idmap *m, uint64_t key);
/* Sets key to value (value must not be NULL). Returns 0, -EINVAL for key 0, or -ENOMEM. */
int idmap_put(struct idmap *m, uint64_t key, void *value);
/* Removes key and returns its value, or NULL when absent. */
void *idmap_del(struct idmap *m, uint64_t key);
size_t idmap_size(const struct idmap *m);
/* Iteration: start with *pos = 0; returns 0 when done. The map must not change meanwhile
 * (collect keys first, then delete). */
int idmap_next(const struct idmap *m, size_t *pos, uint64_t *ret_key, void **ret_value);
/* A key for a string (FNV-1a, never 0); equal strings get equal keys, others may collide. */
uint64_t idmap_str_key(const char *s);

#endif
