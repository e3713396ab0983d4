// SPDX-License-Identifier: BSD-2-Clause
#include "kernel/bpffs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
/* PROC_PID_INIT_INO (include/linux/proc_ns.h): the initial PID namespace's inode. */
#define INIT_PID_NS_INO 0xeffffffcUL

/* The filesystem type a statfs magic names, or NULL when unknown. */
static const char *fs_name(unsigned long magic)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} names[] = {
		{ 0xcafe4a11, "bpf" },	   { 0x01021994, "tmpfs" },   { 0x62656572, "sysfs" },
		{ 0x9fa0, "proc" },	   { 0xef53, "ext4" },	      { 0x58465342, "xfs" },
		{ 0x9123683e, "btrfs" },   { 0x794c7630, "overlay" }, { 0x63677270, "cgroup2" },
		{ 0x27e0eb, "cgroup" },	   { 0x858458f6, "ramfs" },   { 0x6969, "nfs" },
		{ 0x64626720, "debugfs" }, { 0x74726163, "tracefs" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (magic == names[i].magic)
			return names[i].name;
	}
	return NULL;
}

bool bpffs_in_host_mount_ns(void)
{
	struct stat self_mnt, init_mnt, self_pid;

	if (stat("/proc/self/ns/pid", &self_pid) || self_pid.st_ino != INIT_PID_NS_INO)
		return false;
	/* kthreadd (PID 2) lives in the initial mount namespace and its ns links are readable by
	 * root even where PID 1's are not (a PID 1 that forbids ptrace access). */
	if (stat("/proc/self/ns/mnt", &self_mnt) ||
	    (stat("/proc/2/ns/mnt", &init_mnt) && stat("/proc/1/ns/mnt", &init_mnt)))
		return false;
	return self_mnt.st_ino == init_mnt.st_ino && self_mnt.st_dev == init_mnt.st_dev;
}

/* The nearest ancestor of path (itself included) that exists, into buf. Returns 0 or -errno. */
static int existing_ancestor(const char *path, char *buf, size_t size, struct statfs *ret)
{
	char *slash;

	if (snprintf(buf, size, "%s", path) >= (int)size)
		return -ENAMETOOLONG;
	for (;;) {
		if (!statfs(buf, ret))
			return 0;
		if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
		slash = strrchr(buf, '/');
		if (!slash)
			return -ENOENT;
		if (slash == buf) {
			buf[1] = '\0';
			if (statfs(buf, ret))
				return -errno;
			return 0;
		}
		*slash = '\0';
	}
}

static int mkdirs(const char *dir)
{
	char buf[PATH_MAX];
	size_t n;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	n = strlen(buf);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		if (i < n)
			buf[i] = '/';
	}
	return 0;
}

static bool under_default_mount(const char *dir)
{
	size_t n = strlen(BPFFS_DEFAULT_MOUNT);

	return strncmp(dir, BPFFS_DEFAULT_MOUNT, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

int bpffs_prepare(const char *dir, bool may_mount, char *err, size_t errlen)
{
	static const char fix[] = "mount one with 'mount -t bpf bpf " BPFFS_DEFAULT_MOUNT
				  "' (or, with the Helm chart, set bpffs.mount=true), or pass "
				  "--pin-dir none to run without pinned maps";
	enum bpffs_status status = BPFFS_READY;
	char anc[PATH_MAX], other[32];
	struct statfs st;
	const char *fs;
	int r;

	if (!dir || dir[0] != '/') {
		snprintf(err, errlen, "pin directory '%s' is not an absolute path", dir ? dir : "");
		return -EINVAL;
	}
	r = existing_ancestor(dir, anc, sizeof(anc), &st);
	if (r) {
		snprintf(err, errlen, "pin directory %s: %s", dir, strerror(-r));
		return r;
	}
	if ((unsigned long)st.f_type != BPF_FS_MAGIC) {
		fs = fs_name((unsigned long)st.f_type);
		if (!fs) {
			snprintf(other, sizeof(other), "filesystem type 0x%lx",
				 (unsigned long)st.f_type);
			fs = other;
		}
		if (!may_mount || !under_default_mount(dir)) {
			snprintf(err, errlen,
				 "pin directory %s is not on a bpffs (%s is on %s): %s", dir, anc,
				 fs, fix);
			return -ENOTSUP;
		}
		if (mount("bpf", BPFFS_DEFAULT_MOUNT, "bpf", 0, "mode=0700")) {
			r = -errno;
			snprintf(
				err, errlen,
				"pin directory %s is not on a bpffs (%s is on %s) and mounting one "
				"at " BPFFS_DEFAULT_MOUNT " failed: %s%s; %s",
				dir, anc, fs, strerror(-r),
				r == -EPERM ? " (needs CAP_SYS_ADMIN)" : "", fix);
			return r;
		}
		status = BPFFS_MOUNTED;
	}
	r = mkdirs(dir);
	if (r) {
		snprintf(err, errlen, "cannot create pin directory %s on its bpffs: %s", dir,
			 strerror(-r));
		return r;
	}
	return (int)status;
}
