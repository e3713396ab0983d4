/* SPDX-License-Identifier: BSD-2-Clause */
/* bpfdiag top's rows: the pods (and expanded pods' containers) that match the filters, sorted
 * by a key. Pure. */
#ifndef BPFDIAG_TOP_ROWS_H
#define BPFDIAG_TOP_ROWS_H

#include <stdbool.h>
#include <stddef.h>

#include "top/top_model.h"

enum top_sort {
	TOP_SORT_CPU = 0,
	TOP_SORT_RUNQ,
	TOP_SORT_DISK,
	TOP_SORT_IOPS,
	TOP_SORT_FSYNC,
	TOP_SORT_NET,
	TOP_SORT_RETRANS,
	TOP_SORT_MEM,
	TOP_SORT_NAME,
	TOP_SORT_MAX,
};

const char *top_sort_name(enum top_sort key);
/* Parses "cpu", "runq", "disk", "iops", "fsync", "net", "retrans" or "name". Returns 0 or
 * -EINVAL. */
int top_sort_parse(const char *s, enum top_sort *ret);

/* Filters; NULL or "" matches everything. ns and release must equal the pod's; text is a
 * case-insensitive substring of any of its names, ids, cgroup paths, finding ids or node. */
struct top_filter {
	const char *text, *ns, *release;
};

bool top_pod_matches(const struct top_pod *p, const struct top_filter *f);
bool top_finding_matches(const struct top_finding *fi, const struct top_filter *f);

/* A set of strings (the keys of expanded pods). */
struct top_keyset {
	char **keys;
	size_t n;
};

bool top_keyset_has(const struct top_keyset *ks, const char *key);
/* Adds key when absent, removes it when present. Returns 0 or -ENOMEM. */
int top_keyset_toggle(struct top_keyset *ks, const char *key);
void top_keyset_clear(struct top_keyset *ks);

/* A display row: a pod, or (ctr set) one of its containers. Points into the snapshot. */
struct top_row {
	const struct top_pod *pod;
	const struct top_container *ctr;
};

/* The visible rows: pods matching f, sorted by key (descending, name ascending on ties and
 * for TOP_SORT_NAME), each followed by its containers (sorted the same way) when its key is in
 * expanded (NULL: none). Returns 0 with *ret (free it) and *ret_n, or -ENOMEM. */
int top_rows_build(const struct top_snapshot *s, enum top_sort key, const struct top_filter *f,
		   const struct top_keyset *expanded, struct top_row **ret, size_t *ret_n);

#endif
