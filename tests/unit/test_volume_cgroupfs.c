/* Volume classes from real-shaped container/host mountinfo pairs, and the cgroupfs parsers
 * (cpu.stat v2 and v1, cpu.max, PSI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cgroupfs.h"
#include "volume.h"

#define UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define KP "/var/lib/kubelet/pods/" UID "/volumes/"

static const char host[] =
	"24 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw\n"
	"30 24 0:25 / /run rw,nosuid shared:5 - tmpfs tmpfs rw\n"
	"412 24 7:3 / " KP "kubernetes.io~csi/pvc-7d1c/mount rw,relatime shared:200 - ext4 "
	"/dev/loop3 rw\n"
	"413 24 0:61 / " KP "kubernetes.io~empty-dir/shm rw shared:201 - tmpfs tmpfs rw\n"
	"414 24 0:62 / " KP "kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw\n"
	"500 24 259:2 /srv /data rw,relatime shared:300 - xfs /dev/nvme1n1 rw\n";

static void check(const char *container_line, const char *cls, const char *name)
{
	char line[1024];
	struct mountinfo_entry m;
	struct volume v;

	snprintf(line, sizeof(line), "%s", container_line);
	assert_int_equal(mountinfo_parse_line(line, &m), 0);
	assert_int_equal(volume_classify(&m, host, &v), 0);
	if (strcmp(volume_class_name(v.cls), cls) != 0 || strcmp(v.name, name) != 0)
		fail_msg("%s: got %s/%s, want %s/%s", container_line, volume_class_name(v.cls),
			 v.name, cls, name);
}

static void test_classes(void **state)
{
	(void)state;
	/* the container's root: an overlay */
	check("900 800 0:70 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w",
	      "rootfs", "/");
	/* emptyDir: a bind of the kubelet directory; its root already is the host path */
	check("901 900 259:1 " KP "kubernetes.io~empty-dir/cache /cache rw - ext4 /dev/nvme0n1p1 "
	      "rw",
	      "emptydir", "cache");
	/* memory-backed emptyDir: still an emptyDir */
	check("902 900 0:61 / /dev/shm rw - tmpfs tmpfs rw", "emptydir", "shm");
	/* CSI PVC: its own device, mounted on the host under the kubelet path */
	check("903 900 7:3 / /var/lib/postgresql/data rw - ext4 /dev/loop3 rw", "pvc", "pvc-7d1c");
	/* a subPath of a PVC resolves under the same host mount */
	check("904 900 7:3 /pgdata /data rw - ext4 /dev/loop3 rw", "pvc", "pvc-7d1c");
	/* projected service-account token: configuration */
	check("905 900 0:62 / /var/run/secrets/kubernetes.io/serviceaccount ro - tmpfs tmpfs rw",
	      "config", "kube-api-access-x");
	/* a plain tmpfs of the container's own */
	check("906 900 0:80 / /tmp rw - tmpfs tmpfs rw", "memory", "/tmp");
	/* hostPath: a host directory */
	check("907 900 259:2 /srv/logs /logs rw - xfs /dev/nvme1n1 rw", "hostpath", "/logs");
	/* a device the host does not show: still a host path, named by its mount point */
	check("908 900 8:16 / /mnt/x rw - ext4 /dev/sdb rw", "hostpath", "/mnt/x");
}

static void test_cpu_stat(void **state)
{
	struct cgroupfs_cpu c = { 0 };

	(void)state;
	cgroupfs_parse_cpu_stat("usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 50\n"
				"nr_throttled 20\nthrottled_usec 123456\nnr_bursts 0\n",
				&c);
	assert_true(c.has_throttling);
	assert_int_equal(c.nr_periods, 50);
	assert_int_equal(c.nr_throttled, 20);
	assert_int_equal(c.throttled_usec, 123456);
	/* v1: throttled_time in ns */
	cgroupfs_parse_cpu_stat("nr_periods 7\nnr_throttled 3\nthrottled_time 5000000\n", &c);
	assert_true(c.has_throttling);
	assert_int_equal(c.throttled_usec, 5000);
	/* no cpu controller: usage only */
	cgroupfs_parse_cpu_stat("usage_usec 100\nuser_usec 60\nsystem_usec 40\n", &c);
	assert_false(c.has_throttling);
	cgroupfs_parse_cpu_stat("", &c);
	assert_false(c.has_throttling);
}

static void test_cpu_max_and_pressure(void **state)
{
	struct cgroupfs_cpu c = { 0 };

	(void)state;
	cgroupfs_parse_cpu_max("50000 100000\n", &c);
	assert_true(c.has_limit);
	assert_true(c.limit_cores > 0.499 && c.limit_cores < 0.501);
	cgroupfs_parse_cpu_max("max 100000\n", &c);
	assert_false(c.has_limit);
	cgroupfs_parse_cpu_max("garbage", &c);
	assert_false(c.has_limit);
	cgroupfs_parse_pressure("some avg10=1.00 avg60=0.50 avg300=0.10 total=4242\n"
				"full avg10=0.00 avg60=0.00 avg300=0.00 total=17\n",
				&c);
	assert_true(c.has_pressure);
	assert_int_equal(c.pressure_some_usec, 4242);
	assert_int_equal(c.pressure_full_usec, 17);
	cgroupfs_parse_pressure("nonsense", &c);
	assert_false(c.has_pressure);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_cpu_stat),
		cmocka_unit_test(test_cpu_max_and_pressure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
