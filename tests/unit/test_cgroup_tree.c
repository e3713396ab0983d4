// SPDX-License-Identifier: BSD-2-Clause
/* cgroup_tree on a directory tree laid out like kubelet's (ids are inode numbers on any
 * filesystem): finding a container's cgroup from its pod UID and container id, in the index
 * of the last walk, by listing its pod's directory when the container is newer than the walk,
 * and not at all when the pod itself is newer (a walk is needed); trees far deeper than any
 * kubelet's are walked whole, and only paths too long to open are skipped, and counted. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/cgroup_tree.h"

#define UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define UID2 "1a2b3c4d-5e6f-4789-9abc-def012345678"
#define UID2_ "1a2b3c4d_5e6f_4789_9abc_def012345678"
#define UID3 "9f8e7d6c-5b4a-4321-8fed-cba987654321"
#define CID "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
#define CID2 "aaaa1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2b"
#define CID3 "bbbb1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2c"

static char root[PATH_MAX];

static void mk(const char *rel)
{
	char path[PATH_MAX * 2], *p;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

static uint64_t ino(const char *rel)
{
	char path[PATH_MAX * 2];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_ino;
}

static void rm_dir(const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s%s", root, rel);
	assert_int_equal(rmdir(path), 0);
}

static int rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/bpfdiag-test-cgroup-tree-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_find_container(void **state)
{
	const char *c1 = "/kubepods/burstable/pod" UID "/" CID;
	const char *pod2 = "/kubepods.slice/kubepods-pod" UID2_ ".slice";
	const char *c2 = "/kubepods.slice/kubepods-pod" UID2_ ".slice/cri-containerd-" CID2
			 ".scope";
	const char *c3 = "/kubepods/besteffort/pod" UID3 "/" CID3;
	struct cgroup_tree *t;
	uint64_t id = 0;

	(void)state;
	mk(c1);
	mk("/kubepods/burstable/pod" UID "/" CID "/nested");
	mk(pod2);
	mk("/kubepods.slice/kubepods-pod" UID2_ ".slice/crio-conmon-" CID2 ".scope");
	t = cgroup_tree_new(root);
	assert_non_null(t);
	assert_int_equal(cgroup_tree_scan(t), 9); /* with the root */

	/* in the index of the walk */
	assert_int_equal(cgroup_tree_find_container(t, UID, CID, &id), 0);
	assert_int_equal(id, ino(c1));
	/* the id under another pod's UID is not that container */
	assert_int_equal(cgroup_tree_find_container(t, UID2, CID, &id), -ENOENT);

	/* started after the walk, in a pod the walk saw: its pod's directory is listed (the
	 * runtime helper there is not it) and the cgroup is indexed for id lookups */
	assert_int_equal(cgroup_tree_find_container(t, UID2, CID2, &id), -ENOENT);
	mk(c2);
	assert_int_equal(cgroup_tree_find_container(t, UID2, CID2, &id), 0);
	assert_int_equal(id, ino(c2));
	assert_string_equal(cgroup_tree_lookup(t, id), c2);
	assert_int_equal(cgroup_tree_find_container(t, UID2, CID2, &id), 0);
	assert_int_equal(id, ino(c2));

	/* in a pod newer than the walk: only a walk finds it */
	mk(c3);
	assert_int_equal(cgroup_tree_find_container(t, UID3, CID3, &id), -ENOENT);
	assert_int_equal(cgroup_tree_scan(t), 13);
	assert_int_equal(cgroup_tree_find_container(t, UID3, CID3, &id), 0);
	assert_int_equal(id, ino(c3));
	assert_int_equal(cgroup_tree_find_container(t, UID2, CID2, &id), 0);
	assert_int_equal(id, ino(c2));

	/* gone since the walk: not found by listing its pod's directory either */
	rm_dir(c3);
	assert_int_equal(cgroup_tree_scan(t), 12);
	assert_int_equal(cgroup_tree_find_container(t, UID3, CID3, &id), -ENOENT);
	assert_null(cgroup_tree_free(t));
}

/* Cgroups made since the walk, indexed from the cgroup_mkdir probe's id and path (no walk): only
 * when that path under the mount is that id; a pod and its container so indexed are found by
 * the kubelet lookup, and forgotten when removed (cgroup_rmdir), from the id and kubelet
 * indexes both. */
static void test_add_and_forget(void **state)
{
	const char *pod = "/kubepods/besteffort/pod" UID3;
	const char *c3 = "/kubepods/besteffort/pod" UID3 "/" CID3;
	struct cgroup_tree *t;
	uint64_t id = 0, pod_id;

	(void)state;
	mk("/kubepods/besteffort");
	t = cgroup_tree_new(root);
	assert_non_null(t);
	assert_int_equal(cgroup_tree_scan(t), 3);
	/* the kubelet index built before the adds: kept up to date by them */
	assert_int_equal(cgroup_tree_find_container(t, UID3, CID3, &id), -ENOENT);
	mk(c3);
	pod_id = ino(pod);
	/* not there, another id at that path, a relative path: not indexed */
	assert_int_equal(cgroup_tree_add(t, pod_id, "/kubepods/burstable/pod" UID3), -ENOENT);
	assert_int_equal(cgroup_tree_add(t, pod_id + 1000000, pod), -ENOENT);
	assert_int_equal(cgroup_tree_add(t, pod_id, pod + 1), -ENOENT);
	assert_null(cgroup_tree_lookup(t, pod_id));
	assert_int_equal(cgroup_tree_add(t, pod_id, pod), 0);
	assert_int_equal(cgroup_tree_add(t, ino(c3), c3), 0);
	assert_int_equal(cgroup_tree_add(t, ino(c3), c3), 0); /* twice: once */
	assert_int_equal(cgroup_tree_scans(t), 1);
	assert_string_equal(cgroup_tree_lookup(t, pod_id), pod);
	assert_string_equal(cgroup_tree_lookup(t, ino(c3)), c3);
	assert_int_equal(cgroup_tree_find_container(t, UID3, CID3, &id), 0);
	assert_int_equal(id, ino(c3));
	/* removed: gone from the index, and from the kubelet lookup */
	cgroup_tree_forget(t, ino(c3));
	cgroup_tree_forget(t, ino(c3));
	assert_null(cgroup_tree_lookup(t, id));
	rm_dir(c3);
	assert_int_equal(cgroup_tree_find_container(t, UID3, CID3, &id), -ENOENT);
	/* the next walk agrees with what was added and forgotten */
	assert_int_equal(cgroup_tree_scan(t), 4);
	assert_string_equal(cgroup_tree_lookup(t, pod_id), pod);
	assert_null(cgroup_tree_free(t));
}

/* 50-deep nesting (a user can make it) once fell off the walk, and its CPU from every
 * series: now any depth is indexed; what cannot be (a path of 4096 bytes or more) is counted. */
static void test_deep_trees(void **state)
{
	enum { DEEP = 300, LONG = 25 };
	char rel[4 * DEEP], name[201];
	int fds[LONG + 1];
	struct cgroup_tree *t;
	struct stat st;
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(rel, sizeof(rel), "/deep");
	for (int i = 1; i < DEEP; i++)
		n += (size_t)snprintf(rel + n, sizeof(rel) - n, "/%c", 'a' + i % 26);
	mk(rel);
	t = cgroup_tree_new(root);
	assert_non_null(t);
	assert_int_equal(cgroup_tree_scan(t), DEEP + 1);
	assert_int_equal(cgroup_tree_truncated(t), 0);
	assert_string_equal(cgroup_tree_lookup(t, ino(rel)), rel);
	rel[sizeof("/deep") - 1 + 2 * 49] = '\0'; /* the 50th level */
	assert_string_equal(cgroup_tree_lookup(t, ino(rel)), rel);

	/* 25 levels of 200-byte names: the 21st makes the path 4096 bytes or more */
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	fds[0] = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fds[0] >= 0);
	for (int i = 1; i <= LONG; i++) {
		assert_int_equal(mkdirat(fds[i - 1], name, 0755), 0);
		fds[i] = openat(fds[i - 1], name, O_RDONLY | O_DIRECTORY);
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(cgroup_tree_scan(t), DEEP + 1 + 20);
	assert_int_equal(cgroup_tree_truncated(t), 1);
	assert_int_equal(fstat(fds[20], &st), 0);
	assert_non_null(cgroup_tree_lookup(t, (uint64_t)st.st_ino));
	assert_int_equal(strlen(cgroup_tree_lookup(t, (uint64_t)st.st_ino)), 20 * 201);
	assert_int_equal(fstat(fds[21], &st), 0);
	assert_null(cgroup_tree_lookup(t, (uint64_t)st.st_ino));
	for (int i = LONG; i >= 1; i--) {
		close(fds[i]);
		assert_int_equal(unlinkat(fds[i - 1], name, AT_REMOVEDIR), 0);
	}
	close(fds[0]);
	assert_null(cgroup_tree_free(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find_container, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_trees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_and_forget, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
