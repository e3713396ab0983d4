// SPDX-License-Identifier: BSD-2-Clause
#include "host/cgroup_tree.h"
#include "host/cgroup_path.h"
#include "base/idmap.h"
#include "host/mountinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Cgroup ids are kept in the pointers of the container and pod indexes. */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a pointer holds a cgroup id");

struct cgroup_tree {
	char *root;
	struct idmap *paths; /* id → malloc'd path */
	size_t entries;
	uint64_t truncated;
	uint64_t scans;
	/* Kubelet cgroups of the index, built when first asked after a scan. */
	struct idmap *containers; /* hash of a container id → its cgroup id */
	struct idmap *pods; /* hash of a pod UID → the pod's own cgroup id */
	uint64_t indexed_scans; /* scans when they were built */
	dev_t dev; /* the mount's, from the last scan */
	bool top; /* the mount shows the hierarchy from its root (cgroup id 1), as the probe does */
};

int cgroup_root_detect(const char *proc_root, char *ret, size_t size)
{
	char path[PATH_MAX];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/self/mountinfo", proc_root ? proc_root : "/proc");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = mountinfo_find_cgroup2(f, ret, size);
	fclose(f);
	return r;
}

static void clear_paths(struct idmap *m)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	while (idmap_next(m, &pos, &key, &v))
		free(v);
}

struct cgroup_tree *cgroup_tree_new(const char *root)
{
	struct cgroup_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->root = strdup(root);
	t->paths = idmap_new();
	if (!t->root || !t->paths)
		return cgroup_tree_free(t);
	return t;
}

struct cgroup_tree *cgroup_tree_free(struct cgroup_tree *t)
{
	if (!t)
		return NULL;
	if (t->paths)
		clear_paths(t->paths);
	idmap_free(t->paths);
	idmap_free(t->containers);
	idmap_free(t->pods);
	free(t->root);
	free(t);
	return NULL;
}

struct walk {
	struct idmap *paths;
	size_t entries;
	uint64_t truncated;
	dev_t dev; /* the mount's: the walk never leaves it */
	bool top;
	const char **todo; /* indexed directories still to list (their stored paths) */
	size_t n_todo, cap_todo;
};

/* Indexes id at path (len bytes) and queues it for listing. An id seen already (a bind mount
 * of a subtree inside the tree) is neither indexed again nor listed again: no loop. */
static int add(struct walk *w, uint64_t id, const char *path, size_t len)
{
	char *p;

	if (idmap_get(w->paths, id))
		return 0;
	if (w->n_todo == w->cap_todo) {
		size_t cap = w->cap_todo ? w->cap_todo * 2 : 64;
		const char **todo = realloc(w->todo, cap * sizeof(*todo));

		if (!todo)
			return -ENOMEM;
		w->todo = todo;
		w->cap_todo = cap;
	}
	p = strndup(len ? path : "/", len ? len : 1);
	if (!p)
		return -ENOMEM;
	if (idmap_put(w->paths, id, p)) {
		free(p);
		return -ENOMEM;
	}
	w->todo[w->n_todo++] = p;
	w->entries++;
	return 0;
}

/* Lists the indexed directory path ("/" for the root) and indexes its subdirectories. One
 * directory is open at a time whatever the depth: the walk keeps paths, not descriptors. */
static int list_dir(struct walk *w, int root_fd, const char *path)
{
	char child[CGROUP_PATH_MAX];
	size_t len = strcmp(path, "/") == 0 ? 0 : strlen(path);
	struct dirent *de;
	int fd, r = 0;
	DIR *d;

	fd = openat(root_fd, len ? path + 1 : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0; /* removed meanwhile: not an error */
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return errno == ENOMEM ? -ENOMEM : 0;
	}
	memcpy(child, path, len);
	while ((de = readdir(d))) {
		struct stat st;
		size_t nlen;

		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode) || st.st_dev != w->dev)
			continue;
		nlen = strlen(de->d_name);
		if (w->entries >= CGROUP_TREE_MAX_ENTRIES || len + 1 + nlen >= sizeof(child)) {
			w->truncated++;
			continue;
		}
		child[len] = '/';
		memcpy(child + len + 1, de->d_name, nlen + 1);
		r = add(w, (uint64_t)st.st_ino, child, len + 1 + nlen);
		if (r)
			break;
	}
	closedir(d);
	return r;
}

int cgroup_tree_scan(struct cgroup_tree *t)
{
	struct walk *w;
	struct stat st;
	int fd, r;

	fd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w = calloc(1, sizeof(*w));
	if (!w || fstat(fd, &st)) {
		r = w ? -errno : -ENOMEM;
		close(fd);
		free(w);
		return r;
	}
	w->dev = st.st_dev;
	w->top = st.st_ino == 1; /* the root cgroup's id */
	w->paths = idmap_new();
	r = w->paths ? add(w, (uint64_t)st.st_ino, "", 0) : -ENOMEM;
	/* depth first (the queue used as a stack): memory stays within the entries bound */
	while (!r && w->n_todo)
		r = list_dir(w, fd, w->todo[--w->n_todo]);
	close(fd);
	free(w->todo);
	if (r) {
		if (w->paths)
			clear_paths(w->paths);
		idmap_free(w->paths);
		free(w);
		return r;
	}
	clear_paths(t->paths);
	idmap_free(t->paths);
	t->dev = w->dev;
	t->top = w->top;
	t->paths = w->paths;
	t->entries = w->entries;
	t->truncated += w->truncated;
	t->scans++;
	r = (int)w->entries;
	free(w);
	return r;
}

const char *cgroup_tree_lookup(const struct cgroup_tree *t, uint64_t id)
{
	return idmap_get(t->paths, id);
}

/* The kubelet indexes are current (built since the last scan): kept up to date as cgroups are
 * added and forgotten, else built anew when next asked. */
static bool kube_indexed(const struct cgroup_tree *t)
{
	return t->containers && t->indexed_scans == t->scans;
}

/* Indexes (put) or unindexes (!put: where it still names id) the kubelet cgroup id at path in
 * the container and pod indexes. Returns 0 or -ENOMEM. */
static int index_one(struct idmap *cs, struct idmap *ps, uint64_t id, const char *path, bool put)
{
	struct cgroup_ident ci;
	struct idmap *m;
	uint64_t key;

	if (cgroup_path_parse(path, &ci) || ci.nested)
		return 0;
	if (ci.kind == CGROUP_KUBE_CONTAINER) {
		m = cs;
		key = idmap_str_key(ci.container_id);
	} else if (ci.kind == CGROUP_KUBE_POD) {
		m = ps;
		key = idmap_str_key(ci.pod_uid);
	} else {
		return 0;
	}
	if (put)
		return idmap_put(m, key, (void *)(uintptr_t)id) ? -ENOMEM : 0;
	if ((uint64_t)(uintptr_t)idmap_get(m, key) == id)
		idmap_del(m, key);
	return 0;
}

/* Indexes the kubelet cgroups of the current scan: containers by id, pods by UID. */
static int index_kube(struct cgroup_tree *t)
{
	struct idmap *cs = idmap_new(), *ps = idmap_new();
	size_t pos = 0;
	uint64_t id;
	void *v;

	if (!cs || !ps)
		goto oom;
	while (idmap_next(t->paths, &pos, &id, &v)) {
		if (index_one(cs, ps, id, v, true))
			goto oom;
	}
	idmap_free(t->containers);
	idmap_free(t->pods);
	t->containers = cs;
	t->pods = ps;
	t->indexed_scans = t->scans;
	return 0;
oom:
	idmap_free(cs);
	idmap_free(ps);
	return -ENOMEM;
}

/* Lists the pod's own directory for the container's; indexes it when found. */
static int probe_pod_dir(struct cgroup_tree *t, const char *pod_path, const char *pod_uid,
			 const char *container_id, uint64_t *ret_id)
{
	char dir[PATH_MAX], rel[PATH_MAX];
	struct dirent *de;
	int fd, r = -ENOENT;
	DIR *d;

	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", t->root, pod_path) >= sizeof(dir))
		return -ENOENT;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT; /* the pod went away since the scan */
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOENT;
	}
	while ((de = readdir(d))) {
		struct stat st;
		char *p, *old;

		if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", pod_path, de->d_name) >=
			    sizeof(rel) ||
		    !cgroup_path_is_container(rel, pod_uid, container_id))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
			continue;
		p = strdup(rel);
		old = idmap_get(t->paths, (uint64_t)st.st_ino);
		if (!p || idmap_put(t->paths, (uint64_t)st.st_ino, p)) {
			free(p);
			r = -ENOMEM;
			break;
		}
		if (old)
			free(old);
		else
			t->entries++;
		if (idmap_put(t->containers, idmap_str_key(container_id),
			      (void *)(uintptr_t)st.st_ino)) {
			r = -ENOMEM;
			break;
		}
		*ret_id = (uint64_t)st.st_ino;
		r = 0;
		break;
	}
	closedir(d);
	return r;
}

int cgroup_tree_find_container(struct cgroup_tree *t, const char *pod_uid, const char *container_id,
			       uint64_t *ret_id)
{
	uint64_t id;
	const char *path;

	if (!kube_indexed(t)) {
		int r = index_kube(t);

		if (r)
			return r;
	}
	id = (uint64_t)(uintptr_t)idmap_get(t->containers, idmap_str_key(container_id));
	path = id ? idmap_get(t->paths, id) : NULL;
	if (path && cgroup_path_is_container(path, pod_uid, container_id)) {
		*ret_id = id;
		return 0;
	}
	id = (uint64_t)(uintptr_t)idmap_get(t->pods, idmap_str_key(pod_uid));
	path = id ? idmap_get(t->paths, id) : NULL;
	if (!path)
		return -ENOENT;
	return probe_pod_dir(t, path, pod_uid, container_id, ret_id);
}

int cgroup_tree_add(struct cgroup_tree *t, uint64_t id, const char *path)
{
	char full[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;
	char *p;

	if (idmap_get(t->paths, id))
		return 0;
	if (path[0] != '/' || len >= CGROUP_PATH_MAX)
		return -ENOENT;
	/* The path is the hierarchy's: where the mount shows it from its root, the path names
	 * the cgroup, removed since or not. Else (a cgroup namespace, --cgroup-root) only the
	 * directory of that id at that path under the mount counts. */
	if (!t->top &&
	    ((size_t)snprintf(full, sizeof(full), "%s%s", t->root, path) >= sizeof(full) ||
	     lstat(full, &st) || !S_ISDIR(st.st_mode) || (uint64_t)st.st_ino != id ||
	     st.st_dev != t->dev))
		return -ENOENT;
	if (t->entries >= CGROUP_TREE_MAX_ENTRIES) {
		t->truncated++;
		return -ENOSPC;
	}
	p = strndup(len > 1 ? path : "/", len > 1 ? len : 1);
	if (!p || idmap_put(t->paths, id, p)) {
		free(p);
		return -ENOMEM;
	}
	t->entries++;
	if (kube_indexed(t) && index_one(t->containers, t->pods, id, p, true)) {
		/* Built anew when next asked. */
		t->containers = idmap_free(t->containers);
		t->pods = idmap_free(t->pods);
	}
	return 0;
}

void cgroup_tree_forget(struct cgroup_tree *t, uint64_t id)
{
	char *p = idmap_del(t->paths, id);

	if (!p)
		return;
	if (kube_indexed(t))
		index_one(t->containers, t->pods, id, p, false);
	free(p);
	t->entries--;
}

const char *cgroup_tree_root(const struct cgroup_tree *t)
{
	return t->root;
}

uint64_t cgroup_tree_truncated(const struct cgroup_tree *t)
{
	return t->truncated;
}

uint64_t cgroup_tree_scans(const struct cgroup_tree *t)
{
	return t->scans;
}
