/* SPDX-License-Identifier: BSD-2-Clause */
/* Index of the cgroup v2 tree: cgroup id (the directory's inode number on 64-bit kernels) to
 * its path relative to the mount. Rebuilt by walking the tree, at any depth (one directory open
 * at a time), within limits on the number of cgroups and the length of a path. */
#ifndef BPFDIAG_CGROUP_TREE_H
#define BPFDIAG_CGROUP_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "host/cgroup_path.h"

#define CGROUP_TREE_MAX_ENTRIES 262144 /* and paths shorter than CGROUP_PATH_MAX */

struct cgroup_tree;

/* Finds the cgroup v2 mount from <proc_root>/self/mountinfo. Returns 0, -ENOENT (no cgroup2
 * mount: a v1-only host), or another negative errno. */
int cgroup_root_detect(const char *proc_root, char *ret, size_t size);

/* Returns an empty index of the tree mounted at root (copied), or NULL when out of memory. */
struct cgroup_tree *cgroup_tree_new(const char *root);
/* Accepts NULL; returns NULL. */
struct cgroup_tree *cgroup_tree_free(struct cgroup_tree *t);
/* Walks the tree and replaces the index. Returns the number of cgroups indexed, or a negative
 * errno when the root cannot be read (the old index is kept). Subtrees past the limits are
 * skipped and counted in cgroup_tree_truncated(). */
int cgroup_tree_scan(struct cgroup_tree *t);
/* Indexes one cgroup made since the last scan (the cgroup_mkdir probe's id and path from the
 * hierarchy's root) without a walk: where the last scan found the mount showing the hierarchy
 * from its root (its directory is cgroup id 1), as given, even when removed since; elsewhere
 * only when the directory at that path under the mount is that id. Returns 0 (indexed, or
 * known already), -ENOENT (not indexed: a walk finds it if it is there), -ENOSPC (the index is
 * full: counted in cgroup_tree_truncated()) or -ENOMEM. */
int cgroup_tree_add(struct cgroup_tree *t, uint64_t id, const char *path);
/* Drops a removed cgroup from the index (the cgroup_rmdir probe's id), so that the index does
 * not keep removed cgroups until the next scan. */
void cgroup_tree_forget(struct cgroup_tree *t, uint64_t id);
/* Path of id relative to the mount ("/" for the root, "/a/b" below it), or NULL. The string
 * lives until the next scan or cgroup_tree_forget() of id. */
const char *cgroup_tree_lookup(const struct cgroup_tree *t, uint64_t id);
/* Finds the cgroup of container container_id (64 hex) of pod pod_uid: the indexed directory
 * whose kubelet path names both (either driver, any QoS class, any runtime prefix). When the
 * index has none but has the pod's own cgroup, lists that one directory (a container started
 * since the last scan) and indexes what it finds there; nothing else is read, so a caller
 * rescans the tree when a pod's cgroup itself is new. Returns 0 with *ret_id, -ENOENT, or
 * -ENOMEM. */
int cgroup_tree_find_container(struct cgroup_tree *t, const char *pod_uid, const char *container_id,
			       uint64_t *ret_id);
const char *cgroup_tree_root(const struct cgroup_tree *t);
uint64_t cgroup_tree_truncated(const struct cgroup_tree *t);
uint64_t cgroup_tree_scans(const struct cgroup_tree *t);

#endif
