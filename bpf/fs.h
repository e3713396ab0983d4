/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the fs probe family. */
#ifndef BPFDIAG_FS_H
#define BPFDIAG_FS_H

#define FS_MAX_KEYS_DEFAULT 16384
#define FS_MAX_PENDING 16384

struct fs_key {
	__u64 cgroup_id;
	__u32 mnt_id; /* global mount id, as in /proc/<pid>/mountinfo; 0: unknown */
	__u32 pad;
};

/* Per-CPU value of fs_stats. */
struct fs_stats {
	__u64 write_bytes; /* bytes written by write(2) and friends to regular files */
	__u64 write_calls;
	__u64 sync_calls; /* fsync, fdatasync, sync_file_range, msync(MS_SYNC) */
	__u64 read_bytes; /* bytes read by read(2) and friends from regular files */
	__u64 read_calls;
};

/* Task storage of the filesystem variant: the write and the read syscall last seen. */
struct fs_task {
	__u64 mark[2]; /* ioac.syscw + 1 ([0]), syscr + 1 ([1]) during the syscall last seen */
	__s32 mnt[2]; /* the mount of its fd; -1: not a regular file */
};

/* A read or write syscall between entry and exit (syscall variants). */
struct fs_pending {
	__u32 mnt_id;
	__u32 nr; /* syscall number, checked at exit */
};

enum fs_counter {
	FS_CNT_MAP_FULL = 0, /* fs_stats had no room */
	FS_CNT_PENDING_FULL, /* fs_pending had no room: a write was not counted */
	FS_CNT_MAX,
};

#endif
