// SPDX-License-Identifier: BSD-2-Clause
/* Volume classes from real-shaped container/host mountinfo pairs (inline, and the fixtures of a
 * node with local PVs, CSI staging mounts, subPaths and pseudo filesystems read through a fake
 * proc root), the cgroupfs parsers (cpu.stat v2 and v1, cpu.max, PSI), and the cgroup files
 * held open (read from offset 0, given back, capped). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/cgroupfs.h"
#include "host/volume.h"

#define UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define KP "/var/lib/kubelet/pods/" UID "/volumes/"

static const char host[] =
	"24 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw\n"
	"30 24 0:25 / /run rw,nosuid shared:5 - tmpfs tmpfs rw\n"
	"412 24 7:3 / " KP "kubernetes.io~csi/pvc-7d1c/mount rw,relatime shared:200 - ext4 "
	"/dev/loop3 rw\n"
	"413 24 0:61 / " KP "kubernetes.io~empty-dir/shm rw shared:201 - tmpfs tmpfs rw\n"
	"414 24 0:62 / " KP "kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw\n"
	"415 24 0:63 / " KP "kubernetes.io~secret/tls rw - tmpfs tmpfs rw\n"
	"500 24 259:2 /srv /data rw,relatime shared:300 - xfs /dev/nvme1n1 rw\n";

/* type: its k8s.volume.type (OTLP) */
static void check(const char *container_line, const char *cls, const char *name, const char *type)
{
	char line[1024];
	struct mountinfo_entry m;
	struct volume v;

	snprintf(line, sizeof(line), "%s", container_line);
	assert_int_equal(mountinfo_parse_line(line, &m), 0);
	assert_int_equal(volume_classify(&m, host, NULL, &v), 0);
	if (strcmp(volume_class_name(v.cls), cls) != 0 || strcmp(v.name, name) != 0)
		fail_msg("%s: got %s/%s, want %s/%s", container_line, volume_class_name(v.cls),
			 v.name, cls, name);
	assert_non_null(v.type);
	if (strcmp(v.type, type) != 0)
		fail_msg("%s: k8s.volume.type %s, want %s", container_line, v.type, type);
}

static void test_classes(void **state)
{
	(void)state;
	/* the container's root: an overlay */
	check("900 800 0:70 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w",
	      "rootfs", "/", "bpfdiag.rootfs");
	/* emptyDir: a bind of the kubelet directory; its root already is the host path */
	check("901 900 259:1 " KP "kubernetes.io~empty-dir/cache /cache rw - ext4 /dev/nvme0n1p1 "
	      "rw",
	      "emptydir", "cache", "emptyDir");
	/* memory-backed emptyDir: still an emptyDir */
	check("902 900 0:61 / /dev/shm rw - tmpfs tmpfs rw", "emptydir", "shm", "emptyDir");
	/* CSI PVC: its own device, mounted on the host under the kubelet path */
	check("903 900 7:3 / /var/lib/postgresql/data rw - ext4 /dev/loop3 rw", "pvc", "pvc-7d1c",
	      "persistentVolumeClaim");
	/* a subPath of a PVC resolves under the same host mount */
	check("904 900 7:3 /pgdata /data rw - ext4 /dev/loop3 rw", "pvc", "pvc-7d1c",
	      "persistentVolumeClaim");
	/* projected service-account token: configuration */
	check("905 900 0:62 / /var/run/secrets/kubernetes.io/serviceaccount ro - tmpfs tmpfs rw",
	      "config", "kube-api-access-x", "bpfdiag.projected");
	/* a secret: configuration too, its own semconv type */
	check("909 900 0:63 / /etc/tls ro - tmpfs tmpfs rw", "config", "tls", "secret");
	/* a plain tmpfs of the container's own */
	check("906 900 0:80 / /tmp rw - tmpfs tmpfs rw", "memory", "/tmp", "bpfdiag.memory");
	/* hostPath: a host directory */
	check("907 900 259:2 /srv/logs /logs rw - xfs /dev/nvme1n1 rw", "hostpath", "/logs",
	      "bpfdiag.hostPath");
	/* a device the host does not show: still a host path, named by its mount point */
	check("908 900 8:16 / /mnt/x rw - ext4 /dev/sdb rw", "hostpath", "/mnt/x",
	      "bpfdiag.hostPath");
}

/* The pod of tests/fixtures/mountinfo/{host,container}-local-pv.txt, and another pod on the
 * same node that mounts one of its PVs too. */
#define PV_UID "5b0c9a6e-2f41-4d7b-9c3e-8a1f6d2e4b70"
#define OTHER_UID "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"
#define CONTAINER_PID 4242

static void copy_fixture(const char *fixture, const char *dir, int pid)
{
	char src[PATH_MAX], dst[PATH_MAX], buf[4096];
	FILE *in, *out;
	size_t n;

	snprintf(src, sizeof(src), "%s/mountinfo/%s", FIXTURES_DIR, fixture);
	snprintf(dst, sizeof(dst), "%s/%d", dir, pid);
	assert_int_equal(mkdir(dst, 0700), 0);
	snprintf(dst, sizeof(dst), "%s/%d/mountinfo", dir, pid);
	in = fopen(src, "r");
	out = fopen(dst, "w");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

/* A proc root whose pid 1 is the node and CONTAINER_PID the pod's container. */
static int setup_proc(void **state)
{
	char *dir = strdup("/tmp/bpfdiag-test-proc-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	copy_fixture("host-local-pv.txt", dir, 1);
	copy_fixture("container-local-pv.txt", dir, CONTAINER_PID);
	*state = dir;
	return 0;
}

static int teardown_proc(void **state)
{
	char path[PATH_MAX], *dir = *state;

	snprintf(path, sizeof(path), "%s/1/mountinfo", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%d/mountinfo", dir, CONTAINER_PID);
	unlink(path);
	snprintf(path, sizeof(path), "%s/1", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/%d", dir, CONTAINER_PID);
	rmdir(path);
	rmdir(dir);
	free(dir);
	return 0;
}

static void resolve(const char *proc, int mnt_id, const char *uid, const char *cls,
		    const char *name, bool pod_volume)
{
	struct volume v;

	assert_int_equal(volume_resolve(proc, CONTAINER_PID, mnt_id, uid, &v), 0);
	if (strcmp(volume_class_name(v.cls), cls) != 0 || strcmp(v.name, name) != 0 ||
	    v.pod_volume != pod_volume)
		fail_msg("mount %d of pod %s: got %s/%s%s (%s), want %s/%s%s", mnt_id,
			 uid ? uid : "-", volume_class_name(v.cls), v.name,
			 v.pod_volume ? " in the pod's volumes" : "", v.host_path, cls, name,
			 pod_volume ? " in the pod's volumes" : "");
}

/* A device mounted on the host several times: kubelet's mount of it for this pod wins over the
 * node's own mount (/data/pv1, mounted first), another pod's mount of it, a CSI staging mount
 * and a subPath's bind. */
static void test_kubelet_view_wins(void **state)
{
	const char *proc = *state;

	/* local PV: /data/pv1 comes first in the host table, the pod's bind of it later */
	resolve(proc, 1407, PV_UID, "pvc", "pv1", true);
	/* a subPath of it: the kubelet's volume-subpaths bind has the longest root */
	resolve(proc, 1408, PV_UID, "pvc", "pv1", true);
	/* a PV another pod mounts too, before this one */
	resolve(proc, 1409, PV_UID, "pvc", "pv2", true);
	/* CSI: the staging globalmount comes before the pod's publish mount */
	resolve(proc, 1410, PV_UID, "pvc", "pvc-3b9d2f4e-1c6a-4e8b-9d0f-2a7c5e1b3d9f", true);
	/* a subPath of an emptyDir on the root filesystem */
	resolve(proc, 1411, PV_UID, "emptydir", "scratch", true);
	resolve(proc, 1415, PV_UID, "config", "kube-api-access-7tq2m", true);
	/* kubelet files that are no volume */
	resolve(proc, 1412, PV_UID, "hostpath", "/etc/hosts", false);
	resolve(proc, 1413, PV_UID, "hostpath", "/dev/termination-log", false);
	resolve(proc, 1400, PV_UID, "rootfs", "/", false);
	resolve(proc, 1414, PV_UID, "memory", "/dev/shm", false);
	/* Without the pod: the first host mount, as before. */
	resolve(proc, 1407, NULL, "hostpath", "/data", false);
	resolve(proc, 1407, "", "hostpath", "/data", false);
	/* The other pod's directory is not this pod's. */
	resolve(proc, 1407, OTHER_UID, "hostpath", "/data", false);
	resolve(proc, 1409, OTHER_UID, "pvc", "pv2", true);
}

/* Kernel interfaces are no volume, wherever they are mounted (a hostPath of /proc too). */
static void test_pseudo_filesystems(void **state)
{
	static const int pseudo[] = { 1401, 1403, 1404, 1405, 1406, 1417, 1418 };
	static const char *const yes[] = { "proc",	 "sysfs",	"cgroup",    "cgroup2",
					   "devpts",	 "mqueue",	"debugfs",   "tracefs",
					   "securityfs", "pstore",	"bpf",	     "configfs",
					   "fusectl",	 "binfmt_misc", "nsfs",	     "autofs",
					   "efivarfs",	 "selinuxfs",	"hugetlbfs", "devtmpfs" };
	static const char *const no[] = { "ext4", "xfs",   "overlay", "tmpfs", "ramfs",	 "nfs4",
					  "fuse", "btrfs", "",	      "pro",   "procfs", "proc " };
	const char *proc = *state;
	struct volume v;

	for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++) {
		assert_int_equal(volume_resolve(proc, CONTAINER_PID, pseudo[i], PV_UID, &v), 0);
		if (v.cls != VOLUME_PSEUDO)
			fail_msg("mount %d: got %s/%s, want pseudo", pseudo[i],
				 volume_class_name(v.cls), v.name);
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!volume_fstype_pseudo(yes[i]))
			fail_msg("%s should be a pseudo filesystem", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (volume_fstype_pseudo(no[i]))
			fail_msg("'%s' should not be a pseudo filesystem", no[i]);
	}
	assert_false(volume_fstype_pseudo(NULL));
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

static void test_memory_files(void **state)
{
	struct cgroupfs_mem m = { 0 };

	(void)state;
	/* v2: "file" must not be taken from file_mapped, nor anon from anon_thp */
	m.usage = 100 << 20;
	cgroupfs_parse_memory_stat("anon_thp 7\nanon 41943040\nfile_mapped 9\nfile 52428800\n"
				   "inactive_file 31457280\npgfault 1000\npgmajfault 12\n",
				   false, &m);
	assert_int_equal(m.anon, 41943040);
	assert_int_equal(m.file, 52428800);
	assert_int_equal(m.inactive_file, 31457280);
	assert_int_equal(m.pgfault, 1000);
	assert_int_equal(m.pgmajfault, 12);
	assert_int_equal(cgroupfs_mem_working_set(&m), (100 << 20) - 31457280);
	/* v1: the hierarchical total_* keys, not the cgroup's own */
	cgroupfs_parse_memory_stat("cache 1\nrss 2\ninactive_file 3\npgmajfault 4\nswap 5\n"
				   "total_cache 10\ntotal_rss 20\ntotal_inactive_file 30\n"
				   "total_pgfault 45\ntotal_pgmajfault 40\ntotal_swap 50\n",
				   true, &m);
	assert_int_equal(m.file, 10);
	assert_int_equal(m.anon, 20);
	assert_int_equal(m.inactive_file, 30);
	assert_int_equal(m.pgfault, 45);
	assert_int_equal(m.pgmajfault, 40);
	assert_int_equal(m.swap, 50);
	assert_true(m.has_swap);
	{
		/* v1 without swap accounting: no total_swap, no swap */
		struct cgroupfs_mem n = { .swap = 9, .has_swap = true };

		cgroupfs_parse_memory_stat("total_cache 10\ntotal_rss 20\n", true, &n);
		assert_false(n.has_swap);
		assert_int_equal(n.swap, 0);
		/* A line without a value, a key as a prefix of another, no last newline. */
		cgroupfs_parse_memory_stat("junk\ntotal_rss_huge 8\ntotal_cache\n\ntotal_rss 21",
					   true, &n);
		assert_int_equal(n.anon, 21);
		assert_int_equal(n.file, 0);
	}
	/* floored at 0: inactive_file can exceed a racing usage read */
	m.usage = 20;
	assert_int_equal(cgroupfs_mem_working_set(&m), 0);
	cgroupfs_parse_memory_limit("268435456\n", &m);
	assert_true(m.has_limit);
	assert_int_equal(m.limit, 268435456);
	cgroupfs_parse_memory_limit("max\n", &m);
	assert_false(m.has_limit);
	cgroupfs_parse_memory_limit("9223372036854771712\n", &m); /* v1 unlimited */
	assert_false(m.has_limit);
	cgroupfs_parse_oom_kill("low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n", &m);
	assert_true(m.has_oom);
	assert_int_equal(m.oom_kills, 1);
	cgroupfs_parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", &m);
	assert_int_equal(m.oom_kills, 4);
	cgroupfs_parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n", &m);
	assert_false(m.has_oom);
}

static void put(const char *dir, const char *file, const char *text)
{
	char p[PATH_MAX + 32];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A cgroup made at the path (v2 files), with its CPU and memory values. */
static void make_cgroup(const char *dir, unsigned periods, unsigned long usage)
{
	char text[128];

	assert_int_equal(mkdir(dir, 0755), 0);
	put(dir, "cgroup.procs", "");
	snprintf(text, sizeof(text),
		 "usage_usec 9\nnr_periods %u\nnr_throttled 1\n"
		 "throttled_usec 5\n",
		 periods);
	put(dir, "cpu.stat", text);
	put(dir, "cpu.pressure", "some avg10=0.00 total=7\nfull avg10=0.00 total=3\n");
	put(dir, "cpu.max", "50000 100000\n");
	snprintf(text, sizeof(text), "%lu\n", usage);
	put(dir, "memory.current", text);
	put(dir, "memory.stat", "anon 10\nfile 20\ninactive_file 5\n");
	put(dir, "memory.events", "oom_kill 0\n");
}

static void remove_cgroup(const char *dir)
{
	static const char *const files[] = { "cgroup.procs",  "cpu.stat",	"cpu.pressure",
					     "cpu.max",	      "memory.current", "memory.stat",
					     "memory.events", "memory.max" };
	char p[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* What kernfs does to the held files of a removed cgroup (a read fails with ENODEV): here the
 * held descriptors are made to fail a read (a directory in their place: EISDIR). */
static void fail_held(const struct cgroupfs_dirs *d, const char *root)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(dfd >= 0);
	for (int f = 0; f < CGF_FILES; f++)
		if (d->filep1[f])
			assert_int_equal(dup2(dfd, d->filep1[f] - 1), d->filep1[f] - 1);
	close(dfd);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Files read through the cgroup's open directory: the same values as by path; the files read
 * every collection are held open and read again from offset 0 (new contents, no new
 * descriptor); a file the cgroup lacks keeps the directory and is looked for again with the
 * limit; a cgroup removed and made again at
 * the same path is read anew; closing gives every descriptor back. */
static void test_dirs_held_open(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX];
	struct cgroupfs_dirs d = { 0 };
	struct cgroupfs_cpu c = { 0 };
	struct cgroupfs_mem m = { 0 };
	unsigned before = cgroupfs_held();
	uint64_t unheld = cgroupfs_unheld_reads();
	int fdp1, held[CGF_FILES];

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/pod", root);
	make_cgroup(dir, 11, 1000);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_true(c.has_throttling && c.has_pressure);
	assert_int_equal(c.nr_periods, 11);
	assert_true(m.has_usage);
	assert_int_equal(m.usage, 1000);
	assert_int_equal(m.anon, 10);
	assert_int_not_equal(d.fdp1[CGFS_V2], 0);
	assert_int_equal(d.fdp1[CGFS_V1_CPU], 0);
	/* The directory and the files read every collection; memory.swap.current is missing. */
	assert_int_not_equal(d.filep1[CGF_CPU_STAT], 0);
	assert_int_not_equal(d.filep1[CGF_CPU_PRESSURE], 0);
	assert_int_not_equal(d.filep1[CGF_MEM_USAGE], 0);
	assert_int_not_equal(d.filep1[CGF_MEM_STAT], 0);
	assert_int_equal(d.filep1[CGF_MEM_SWAP], 0);
	assert_int_equal(cgroupfs_held(), before + 5);
	fdp1 = d.fdp1[CGFS_V2];
	memcpy(held, d.filep1, sizeof(held));

	/* New contents (the same files, rewritten): read through the same descriptors. */
	put(dir, "cpu.stat", "nr_periods 12\nnr_throttled 2\nthrottled_usec 6\n");
	put(dir, "memory.current", "1500\n");
	put(dir, "memory.stat", "anon 15\nfile 20\ninactive_file 5\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_int_equal(c.nr_periods, 12);
	assert_int_equal(c.throttled_usec, 6);
	assert_int_equal(m.usage, 1500);
	assert_int_equal(m.anon, 15);
	assert_memory_equal(held, d.filep1, sizeof(held));
	assert_int_equal(cgroupfs_held(), before + 5);
	assert_int_equal(cgroupfs_unheld_reads(), unheld);

	/* A held file gone (its read fails): opened again, found missing, not held. */
	{
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/cpu.pressure", dir);
		assert_int_equal(unlink(p), 0);
	}
	fail_held(&d, root);
	memset(&c, 0, sizeof(c));
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	assert_false(c.has_pressure);
	assert_true(c.has_throttling);
	assert_int_equal(d.filep1[CGF_CPU_PRESSURE], 0);
	assert_int_equal(d.fdp1[CGFS_V2], fdp1);
	/* Missing: not looked for again until a read with the limit. */
	put(dir, "cpu.pressure", "some avg10=0.00 total=9\nfull avg10=0.00 total=3\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_false(c.has_pressure);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	assert_true(c.has_pressure);
	assert_int_equal(c.pressure_some_usec, 9);
	assert_int_not_equal(d.filep1[CGF_CPU_PRESSURE], 0);

	/* Removed and made again: the held files fail their reads (ENODEV on kernfs), the
	 * directory is found stale; all are opened anew. */
	fail_held(&d, root);
	remove_cgroup(dir);
	make_cgroup(dir, 22, 2000);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_int_equal(c.nr_periods, 22);
	assert_int_equal(m.usage, 2000);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	assert_int_equal(c.nr_periods, 22);
	assert_int_not_equal(d.fdp1[CGFS_V2], 0);
	assert_int_equal(cgroupfs_held(), before + 5);
	memcpy(held, d.filep1, sizeof(held));
	held[0] = d.fdp1[CGFS_V2]; /* the directory in the place of cpu.stat's */
	assert_true(fd_open(held[0] - 1));

	cgroupfs_dirs_close(&d);
	assert_int_equal(d.fdp1[CGFS_V2], 0);
	for (int f = 0; f < CGF_FILES; f++)
		assert_int_equal(d.filep1[f], 0);
	assert_int_equal(cgroupfs_held(), before);
	assert_false(fd_open(held[0] - 1));
	assert_false(fd_open(held[CGF_MEM_STAT] - 1));
	/* No such cgroup: nothing read, nothing held. */
	cgroupfs_read_cpu(root, NULL, "/gone", &d, true, true, &c);
	assert_false(c.has_throttling);
	assert_int_equal(d.fdp1[CGFS_V2], 0);
	assert_int_equal(cgroupfs_held(), before);
	remove_cgroup(dir);
	rmdir(root);
}

/* Past the cap on held descriptors, files are opened for each read (counted), with the same
 * values; when open() finds the descriptors spent, the cap drops below what is held, and held
 * files past it are given back as they are read. */
static void test_held_cap(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX];
	struct cgroupfs_dirs d = { 0 }, d2 = { 0 };
	struct cgroupfs_cpu c = { 0 };
	struct cgroupfs_mem m = { 0 };
	unsigned before = cgroupfs_held();
	uint64_t unheld = cgroupfs_unheld_reads();
	struct rlimit rl, low;
	int probe;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/pod", root);
	make_cgroup(dir, 11, 1000);
	cgroupfs_set_held_cap(before + 2); /* the directory and cpu.stat */
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_int_equal(cgroupfs_held(), before + 2);
	assert_int_not_equal(d.filep1[CGF_CPU_STAT], 0);
	assert_int_equal(d.filep1[CGF_MEM_STAT], 0);
	assert_true(c.has_pressure);
	assert_int_equal(m.usage, 1000);
	assert_int_equal(m.anon, 10);
	/* cpu.pressure, memory.current and memory.stat: opened, read, closed. */
	assert_int_equal(cgroupfs_unheld_reads(), unheld + 3);
	put(dir, "memory.current", "1200\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_int_equal(m.usage, 1200);
	assert_int_equal(cgroupfs_held(), before + 2);
	cgroupfs_dirs_close(&d);
	assert_int_equal(cgroupfs_held(), before);

	/* Descriptors spent: a soft limit of three more than are open now. */
	cgroupfs_set_held_cap(1000);
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = (rlim_t)probe + 3;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, false, &c); /* idle: pressure read */
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* The directory, cpu.stat and cpu.pressure (cpu.max was opened and closed). */
	assert_int_equal(cgroupfs_held(), before + 3);
	assert_false(m.has_usage); /* memory.current found no descriptor left */
	unheld = cgroupfs_unheld_reads();
	cgroupfs_read_memory(root, NULL, "/pod", &d2, false, true, true, &m);
	assert_true(m.has_usage);
	assert_int_equal(m.usage, 1200);
	assert_int_equal(cgroupfs_held(), before + 3); /* the cap: an eighth below what was held */
	assert_true(cgroupfs_unheld_reads() > unheld);
	/* A cap below what is held: held files are given back as they are read, same values. */
	cgroupfs_set_held_cap(before + 1);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, false, &c);
	assert_true(c.has_pressure);
	assert_int_equal(c.pressure_some_usec, 7);
	assert_int_equal(d.filep1[CGF_CPU_STAT], 0);
	assert_int_equal(d.filep1[CGF_CPU_PRESSURE], 0);
	assert_int_equal(cgroupfs_held(), before + 1); /* the directory */
	cgroupfs_dirs_close(&d);
	cgroupfs_dirs_close(&d2);
	assert_int_equal(cgroupfs_held(), before);
	cgroupfs_set_held_cap(0);
	remove_cgroup(dir);
	rmdir(root);
}

/* A limit read forces cpu.pressure and memory.stat only where the cgroup is idle: a running
 * one has them read on their cadence anyway (within CGROUPFS_*_EVERY - 1 calls). */
static void test_limit_read_forces_idle_only(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX];
	struct cgroupfs_dirs d = { 0 };
	struct cgroupfs_cpu c = { 0 };
	struct cgroupfs_mem m = { 0 };

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/pod", root);
	make_cgroup(dir, 11, 1000);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c); /* the first: read */
	cgroupfs_read_memory(root, NULL, "/pod", &d, true, true, true, &m);
	assert_int_equal(c.pressure_some_usec, 7);
	assert_int_equal(m.anon, 10);
	put(dir, "cpu.pressure", "some avg10=0.00 total=8\nfull avg10=0.00 total=3\n");
	put(dir, "memory.stat", "anon 11\nfile 20\ninactive_file 5\n");
	/* Running, with the limit, right after a read: not read. */
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	cgroupfs_read_memory(root, NULL, "/pod", &d, true, true, true, &m);
	assert_int_equal(c.pressure_some_usec, 7);
	assert_int_equal(m.anon, 10);
	/* The change seen is read on the cadence, run or not. */
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, false, &c);
	assert_int_equal(c.pressure_some_usec, 8);
	/* Idle, with the limit: read. */
	put(dir, "cpu.pressure", "some avg10=0.00 total=9\nfull avg10=0.00 total=3\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, false, &c);
	cgroupfs_read_memory(root, NULL, "/pod", &d, true, true, false, &m);
	assert_int_equal(c.pressure_some_usec, 9);
	assert_int_equal(m.anon, 11);
	cgroupfs_dirs_close(&d);
	remove_cgroup(dir);
	rmdir(root);
}

/* What is read when: cpu.stat's throttling with the limit and, in between, only under a quota
 * (then held); memory.events only when asked; values not read stay. */
static void test_read_rates(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX];
	struct cgroupfs_dirs d = { 0 };
	struct cgroupfs_cpu c = { 0 };
	struct cgroupfs_mem m = { 0 };
	unsigned before = cgroupfs_held();

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/pod", root);
	make_cgroup(dir, 11, 1000);
	put(dir, "cpu.max", "max 100000\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	assert_false(c.has_limit);
	assert_true(c.has_throttling);
	assert_int_equal(c.nr_periods, 11);
	assert_int_equal(d.filep1[CGF_CPU_STAT], 0); /* no quota: not held */
	assert_int_not_equal(d.filep1[CGF_CPU_PRESSURE], 0);
	/* Between limit reads, no quota: cpu.stat is not read, its counters stay. */
	put(dir, "cpu.stat", "nr_periods 12\nnr_throttled 1\nthrottled_usec 5\n");
	put(dir, "cpu.pressure", "some avg10=0.00 total=8\nfull avg10=0.00 total=4\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_true(c.has_throttling);
	assert_int_equal(c.nr_periods, 11);
	/* cpu.pressure: the cgroup ran right after a read, read at the next call, run or not. */
	assert_int_equal(c.pressure_some_usec, 7);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, false, &c);
	assert_int_equal(c.pressure_some_usec, 8);
	/* Idle: not read, its values stay. */
	put(dir, "cpu.pressure", "some avg10=0.00 total=9\nfull avg10=0.00 total=4\n");
	for (int i = 0; i < 3; i++)
		cgroupfs_read_cpu(root, NULL, "/pod", &d, false, false, &c);
	assert_int_equal(c.pressure_some_usec, 8);
	/* It ran after being idle: read at once. */
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_int_equal(c.pressure_some_usec, 9);
	/* A quota set: the write is seen by the watch (cgroupfs_poll_limits, once a collection)
	 * and read at the next call, limit read or not; then cpu.stat is read (and held) each
	 * time. */
	put(dir, "cpu.max", "50000 100000\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_false(c.has_limit); /* not polled yet */
	assert_int_equal(c.nr_periods, 11);
	cgroupfs_poll_limits();
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_true(c.has_limit);
	assert_int_equal(c.nr_periods, 12);
	assert_int_not_equal(d.filep1[CGF_CPU_STAT], 0);
	put(dir, "cpu.stat", "nr_periods 13\nnr_throttled 2\nthrottled_usec 9\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_int_equal(c.nr_periods, 13);
	assert_int_equal(c.throttled_usec, 9);
	/* The quota removed: the last counters read, cpu.stat given back. */
	put(dir, "cpu.max", "max 100000\n");
	put(dir, "cpu.stat", "nr_periods 14\nnr_throttled 2\nthrottled_usec 9\n");
	cgroupfs_poll_limits();
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, false, &c);
	assert_false(c.has_limit);
	assert_int_equal(c.nr_periods, 14);
	assert_int_equal(d.filep1[CGF_CPU_STAT], 0);
	/* Still no quota at the next limit read: cpu.stat is not read again (its counters cannot
	 * move without one; read once, they stay). */
	put(dir, "cpu.stat", "nr_periods 15\nnr_throttled 3\nthrottled_usec 10\n");
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	assert_true(c.has_throttling);
	assert_int_equal(c.nr_periods, 14);
	assert_int_equal(c.nr_throttled, 2);
	/* Until a write is polled, a watched quota is read only at every
	 * CGROUPFS_LIMIT_SAFETY_EVERY-th limit read since its last read (a safety net for writes
	 * a watch misses; the limit read just above was the first). */
	put(dir, "cpu.max", "20000 100000\n");
	for (int i = 2; i < CGROUPFS_LIMIT_SAFETY_EVERY; i++) {
		cgroupfs_read_cpu(root, NULL, "/pod", &d, true, false, &c);
		assert_false(c.has_limit);
	}
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, false, &c);
	assert_true(c.has_limit);
	assert_true(c.limit_cores > 0.19 && c.limit_cores < 0.21);
	assert_int_equal(c.nr_periods, 15);
	/* From then on the new file is watched: a write is read at the next call. */
	put(dir, "cpu.max", "40000 100000\n");
	cgroupfs_poll_limits();
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, false, &c);
	assert_true(c.limit_cores > 0.39 && c.limit_cores < 0.41);
	/* The memory limit alike; a struct that never read it reads it at once. */
	put(dir, "memory.max", "1000000\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_true(m.has_limit && m.limit_read);
	assert_int_equal(m.limit, 1000000);
	put(dir, "memory.max", "2000000\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, true, false, false, &m);
	assert_int_equal(m.limit, 1000000); /* watched, unwritten as far as it was polled */
	cgroupfs_poll_limits();
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.limit, 2000000);
	/* Without dirs: read with every limit read, as nothing watches it. */
	{
		struct cgroupfs_mem m2 = { 0 };

		cgroupfs_read_memory(root, NULL, "/pod", NULL, true, false, false, &m2);
		put(dir, "memory.max", "3000000\n");
		cgroupfs_read_memory(root, NULL, "/pod", NULL, false, false, false, &m2);
		assert_int_equal(m2.limit, 2000000);
		cgroupfs_read_memory(root, NULL, "/pod", NULL, true, false, false, &m2);
		assert_int_equal(m2.limit, 3000000);
	}
	/* The same struct through new directories (its container restarted into a new cgroup):
	 * read at once. */
	{
		struct cgroupfs_dirs d2 = { 0 };

		put(dir, "memory.max", "4000000\n");
		cgroupfs_read_memory(root, NULL, "/pod", &d2, false, false, false, &m);
		assert_int_equal(m.limit, 4000000);
		cgroupfs_dirs_close(&d2);
	}
	cgroupfs_poll_limits();
	memset(&m, 0, sizeof(m));

	/* memory.events: read only when asked; the count stays in between. */
	put(dir, "memory.events", "oom 1\noom_kill 1\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, true, true, true, &m);
	assert_true(m.has_oom);
	assert_int_equal(m.oom_kills, 1);
	put(dir, "memory.events", "oom 2\noom_kill 2\n");
	put(dir, "memory.current", "3000\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, true, &m);
	assert_int_equal(m.usage, 3000);
	assert_true(m.has_oom);
	assert_int_equal(m.oom_kills, 1);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, true, true, &m);
	assert_int_equal(m.oom_kills, 2);
	cgroupfs_dirs_close(&d);
	assert_int_equal(cgroupfs_held(), before);
	remove_cgroup(dir);
	rmdir(root);
}

/* The agent takes at most its budget of inotify watches (shared with kubelet and containerd
 * under the same user); past it a limit is read every limit read, unwatched and counted. */
static void test_watch_budget(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX], f[PATH_MAX];
	struct cgroupfs_dirs d1 = { 0 }, d2 = { 0 };
	struct cgroupfs_mem m1 = { 0 }, m2 = { 0 };
	unsigned watched = cgroupfs_watched_limits();
	uint64_t unwatched = cgroupfs_unwatched_limits();

	(void)state;
	assert_non_null(mkdtemp(root));
	/* the budget: an eighth of the user's limit, bounded; a default when unreadable */
	snprintf(f, sizeof(f), "%s/max_user_watches", root);
	put(root, "max_user_watches", "8192\n");
	assert_int_equal(cgroupfs_watch_budget(f), 1024);
	put(root, "max_user_watches", "1000000000\n");
	assert_int_equal(cgroupfs_watch_budget(f), CGROUPFS_WATCH_MAX);
	put(root, "max_user_watches", "lots\n");
	assert_int_equal(cgroupfs_watch_budget(f), CGROUPFS_WATCH_DEFAULT);
	unlink(f);
	assert_int_equal(cgroupfs_watch_budget(f), CGROUPFS_WATCH_DEFAULT);

	snprintf(dir, sizeof(dir), "%s/a", root);
	make_cgroup(dir, 1, 1000);
	put(dir, "memory.max", "1000000\n");
	snprintf(dir, sizeof(dir), "%s/b", root);
	make_cgroup(dir, 1, 1000);
	put(dir, "memory.max", "1000000\n");
	cgroupfs_set_watch_budget(watched + 1);
	cgroupfs_read_memory(root, NULL, "/a", &d1, true, false, false, &m1);
	assert_int_equal(cgroupfs_watched_limits(), watched + 1);
	cgroupfs_read_memory(root, NULL, "/b", &d2, true, false, false, &m2);
	assert_int_equal(cgroupfs_watched_limits(), watched + 1); /* budget used up */
	assert_true(cgroupfs_unwatched_limits() > unwatched);
	assert_int_equal(m2.limit, 1000000);
	/* unwatched: a write is read at the next limit read, not only at the safety net's */
	put(dir, "memory.max", "2000000\n");
	cgroupfs_poll_limits();
	cgroupfs_read_memory(root, NULL, "/b", &d2, true, false, false, &m2);
	assert_int_equal(m2.limit, 2000000);
	/* a watch given back makes room */
	cgroupfs_dirs_close(&d1);
	assert_int_equal(cgroupfs_watched_limits(), watched);
	cgroupfs_dirs_close(&d2);
	d2 = (struct cgroupfs_dirs){ 0 };
	cgroupfs_read_memory(root, NULL, "/b", &d2, true, false, false, &m2);
	assert_int_equal(cgroupfs_watched_limits(), watched + 1);
	cgroupfs_dirs_close(&d2);
	cgroupfs_set_watch_budget(0);
	remove_cgroup(dir);
	snprintf(dir, sizeof(dir), "%s/a", root);
	remove_cgroup(dir);
	rmdir(root);
}

/* A cgroup's cpu.pressure gone (PSI turned off for it, or its file removed) since the last
 * read: no pressure, not the last values read. */
static void test_pressure_gone(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX], p[PATH_MAX + 16];
	struct cgroupfs_dirs d = { 0 };
	struct cgroupfs_cpu c = { 0 }, c2 = { 0 };

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/pod", root);
	make_cgroup(dir, 11, 1000);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, true, true, &c);
	cgroupfs_read_cpu(root, NULL, "/pod", NULL, true, true, &c2);
	assert_true(c.has_pressure && c2.has_pressure);
	assert_int_equal(c2.pressure_some_usec, 7);
	snprintf(p, sizeof(p), "%s/cpu.pressure", dir);
	assert_int_equal(unlink(p), 0);
	/* Opened by path for each read: ENOENT. Running right after a read: the next call
	 * reads it (CGROUPFS_PSI_EVERY), the values stay until then. */
	cgroupfs_read_cpu(root, NULL, "/pod", NULL, false, true, &c2);
	assert_true(c2.has_pressure);
	cgroupfs_read_cpu(root, NULL, "/pod", NULL, false, true, &c2);
	assert_false(c2.has_pressure);
	/* Held open: its read fails (ENODEV on kernfs), opened again: ENOENT. */
	fail_held(&d, root);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	cgroupfs_read_cpu(root, NULL, "/pod", &d, false, true, &c);
	assert_false(c.has_pressure);
	assert_true(c.has_throttling);
	cgroupfs_dirs_close(&d);
	remove_cgroup(dir);
	rmdir(root);
}

/* memory.stat is read where it can have changed (the cgroup ran, its usage changed, with the
 * limit, or no reading yet), every CGROUPFS_MEM_STAT_EVERY calls while it keeps changing unless
 * the usage moved by a sixteenth since its last read; else its values stay while the usage is
 * read every time. */
static void test_memory_stat_when_changed(void **state)
{
	char root[] = "/tmp/bpfdiag-cgfs-XXXXXX", dir[PATH_MAX];
	struct cgroupfs_dirs d = { 0 };
	struct cgroupfs_mem m = { 0 };

	(void)state;
	assert_int_equal(CGROUPFS_MEM_STAT_EVERY, 3); /* the calls below count on it */
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/pod", root);
	make_cgroup(dir, 11, 1000);
	/* The first reading: memory.stat whether or not the cgroup ran. */
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_true(m.has_usage);
	assert_int_equal(m.anon, 10);
	/* Idle, usage unchanged: memory.stat not read, its values stay. */
	put(dir, "memory.stat", "anon 15\nfile 20\ninactive_file 5\npgfault 3\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_true(m.has_usage);
	assert_true(m.stat_skipped);
	assert_int_equal(m.anon, 10);
	assert_int_equal(m.pgfault, 0);
	/* It ran, two calls or more after the last read: read at once. */
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, true, &m);
	assert_false(m.stat_skipped);
	assert_int_equal(m.anon, 15);
	assert_int_equal(m.pgfault, 3);
	/* It ran again right after a read: not read; then idle: still not (one call after a
	 * skip); the call after: read, the change still due though idle. */
	put(dir, "memory.stat", "anon 16\nfile 20\ninactive_file 5\npgfault 4\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, true, &m);
	assert_int_equal(m.pgfault, 3);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.pgfault, 3);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.pgfault, 4);
	/* Running every call: read every third call, never more than two calls old. */
	for (int i = 0; i < 6; i++) {
		char text[96];

		snprintf(text, sizeof(text), "anon 16\nfile 20\ninactive_file 5\npgfault %d\n",
			 10 + i);
		put(dir, "memory.stat", text);
		cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, true, &m);
		assert_int_equal(m.pgfault, i % 3 == 2 ? 10 + i : i < 2 ? 4 : 12);
		assert_int_equal(m.stat_skipped, i % 3 != 2);
	}
	/* The usage moved by more than a sixteenth: read at once, idle or not. */
	put(dir, "memory.stat", "anon 25\nfile 20\ninactive_file 5\npgfault 16\n");
	put(dir, "memory.current", "1100\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.usage, 1100);
	assert_int_equal(m.anon, 25);
	/* By less, right after a read: the usage is new, memory.stat two calls on. */
	put(dir, "memory.stat", "anon 26\nfile 20\ninactive_file 6\npgfault 16\n");
	put(dir, "memory.current", "1101\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.usage, 1101);
	assert_int_equal(m.anon, 25);
	assert_int_equal(cgroupfs_mem_working_set(&m), 1101 - 5);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.anon, 25);
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.anon, 26);
	/* Idle, unchanged, with the limit: read. */
	put(dir, "memory.stat", "anon 26\nfile 20\ninactive_file 9\npgfault 16\n");
	for (int i = 0; i < 4; i++)
		cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_int_equal(m.inactive_file, 6);
	cgroupfs_read_memory(root, NULL, "/pod", &d, true, false, false, &m);
	assert_int_equal(m.inactive_file, 9);
	assert_int_equal(cgroupfs_mem_working_set(&m), 1101 - 9);
	/* The usage unreadable: no reading; the next one reads memory.stat again. */
	put(dir, "memory.current", "");
	cgroupfs_read_memory(root, NULL, "/pod", NULL, false, false, false, &m);
	assert_false(m.has_usage);
	put(dir, "memory.current", "1101\n");
	put(dir, "memory.stat", "anon 30\nfile 20\ninactive_file 9\npgfault 16\n");
	cgroupfs_read_memory(root, NULL, "/pod", &d, false, false, false, &m);
	assert_true(m.has_usage);
	assert_int_equal(m.anon, 30);
	cgroupfs_dirs_close(&d);
	remove_cgroup(dir);
	rmdir(root);
}

/* The cadence of cpu.pressure and memory.stat, over every pattern of 12 calls (a cgroup that
 * runs or not at each, with or without the limit's read): a change is read at most every - 1
 * calls after it was seen; a cgroup that keeps changing is read every every-th call, no more
 * often; one idle for every - 1 calls or more is read at its first change; nothing is read
 * without a change or force. */
static void test_cadence(void **state)
{
	(void)state;
	for (unsigned every = 1; every <= 4; every++) {
		for (unsigned pat = 0; pat < 1u << 12; pat++) {
			struct cgroupfs_cadence c = { 0 };
			int unread = -1; /* the call of the oldest change not read yet */
			int last = -1; /* the last read: a zeroed cadence was just read */

			for (int i = 0; i < 12; i++) {
				bool changed = pat >> i & 1, force = i % 5 == 4 && pat & 1;
				bool read = cgroupfs_cadence_read(&c, changed, force, every);

				if (changed && unread < 0)
					unread = i;
				if (read && !force && (unread < 0 || i - last < (int)every))
					fail_msg("every %u, pattern %#x: call %d read too soon",
						 every, pat, i);
				if (!read && unread >= 0 &&
				    (i - last >= (int)every || i - unread >= (int)every - 1))
					fail_msg(
						"every %u, pattern %#x: change of call %d unread at "
						"%d",
						every, pat, unread, i);
				if (read) {
					last = i;
					unread = -1;
				}
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test_setup_teardown(test_kubelet_view_wins, setup_proc, teardown_proc),
		cmocka_unit_test_setup_teardown(test_pseudo_filesystems, setup_proc, teardown_proc),
		cmocka_unit_test(test_cpu_stat),
		cmocka_unit_test(test_cpu_max_and_pressure),
		cmocka_unit_test(test_memory_files),
		cmocka_unit_test(test_dirs_held_open),
		cmocka_unit_test(test_held_cap),
		cmocka_unit_test(test_read_rates),
		cmocka_unit_test(test_watch_budget),
		cmocka_unit_test(test_limit_read_forces_idle_only),
		cmocka_unit_test(test_pressure_gone),
		cmocka_unit_test(test_memory_stat_when_changed),
		cmocka_unit_test(test_cadence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
