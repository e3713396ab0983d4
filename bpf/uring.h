/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the io_uring probe family. Keys are the fs family's (struct fs_key in
 * fs.h): io_uring I/O lands in the same per-(cgroup, mount) records. */
#ifndef BPFDIAG_URING_H
#define BPFDIAG_URING_H

#define URING_MAX_KEYS_DEFAULT 16384

/* The per-CPU value of uring_stats is the fs family's struct fs_stats: the same fields, read
 * by the same code. */

enum uring_counter {
	URING_CNT_MAP_FULL = 0, /* uring_stats had no room */
	URING_CNT_MAX,
};

#endif
