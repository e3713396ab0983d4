/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the io_uring probe family. Keys are the fs family's (struct fs_key in
 * fs.h): io_uring I/O lands in the same per-(cgroup, mount) records. */
#ifndef BPFDIAG_URING_H
#define BPFDIAG_URING_H

#define URING_MAX_KEYS_DEFAULT 16384

/* Per-CPU value of uring_stats: requests completed on regular files. */
struct uring_stats {
	__u64 write_bytes; /* IORING_OP_WRITE, WRITEV, WRITE_FIXED, WRITEV_FIXED: cqe res > 0 */
	__u64 write_calls;
	__u64 sync_calls; /* IORING_OP_FSYNC, IORING_OP_SYNC_FILE_RANGE */
	__u64 read_bytes; /* IORING_OP_READ, READV, READ_FIXED, READV_FIXED: cqe res > 0 */
	__u64 read_calls;
};

enum uring_counter {
	URING_CNT_MAP_FULL = 0, /* uring_stats had no room */
	URING_CNT_MAX,
};

#endif
