// SPDX-License-Identifier: BSD-2-Clause
/* mountinfo parsing and cgroup v2 mount detection on real-shaped tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "host/mountinfo.h"

static int find_in(const char *fixture, char *ret, size_t size)
{
	char path[1024];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/mountinfo/%s", FIXTURES_DIR, fixture);
	f = fopen(path, "r");
	assert_non_null(f);
	r = mountinfo_find_cgroup2(f, ret, size);
	fclose(f);
	return r;
}

static void test_parse_line(void **state)
{
	char line[] = "412 24 259:1 /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache "
		      "/mnt/cache\\040dir rw,relatime shared:1 master:2 - ext4 /dev/nvme0n1p1 rw\n";
	struct mountinfo_entry e;

	(void)state;
	assert_int_equal(mountinfo_parse_line(line, &e), 0);
	assert_int_equal(e.mount_id, 412);
	assert_int_equal(e.parent_id, 24);
	assert_int_equal(e.major, 259);
	assert_int_equal(e.minor, 1);
	assert_string_equal(e.root,
			    "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache");
	assert_string_equal(e.mount_point, "/mnt/cache dir");
	assert_string_equal(e.fstype, "ext4");
	assert_string_equal(e.source, "/dev/nvme0n1p1");
	assert_string_equal(e.super_options, "rw");
}

static void test_rejects_garbage(void **state)
{
	static const char *bad[] = {
		"",
		"this is not mountinfo",
		"1 2",
		"x y 0:1 / /a rw - t s o",
		"5 6 0:1 / /a rw shared:1 t s o",
		"7 8 a:b / /a rw - t s o",
		"9 10 0:1 / /a rw -",
		"-1 2 0:1 / /a rw - t s o",
		"1 2 0:1 / /a rw - t s",
	};
	struct mountinfo_entry e = { .mount_id = 77 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "%s", bad[i]);
		if (mountinfo_parse_line(buf, &e) != -EINVAL)
			fail_msg("accepted bad line %zu: %s", i, bad[i]);
	}
	assert_int_equal(e.mount_id, 77);
}

static void test_find_cgroup2(void **state)
{
	char root[64];

	(void)state;
	assert_int_equal(find_in("hybrid-debian.txt", root, sizeof(root)), 0);
	assert_string_equal(root, "/sys/fs/cgroup/unified");
	/* /sys/fs/cgroup wins over a later nested cgroup2 mount */
	assert_int_equal(find_in("unified-kubelet-node.txt", root, sizeof(root)), 0);
	assert_string_equal(root, "/sys/fs/cgroup");
	assert_int_equal(find_in("v1-only.txt", root, sizeof(root)), -ENOENT);
	assert_int_equal(find_in("garbage.txt", root, sizeof(root)), -ENOENT);
	assert_int_equal(find_in("hybrid-debian.txt", root, 8), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_rejects_garbage),
		cmocka_unit_test(test_find_cgroup2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
