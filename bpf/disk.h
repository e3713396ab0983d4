/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the disk probe family. */
#ifndef BPFDIAG_DISK_H
#define BPFDIAG_DISK_H

#include "hist.h"

#define DISK_MAX_KEYS_DEFAULT 16384
#define DISK_MAX_INFLIGHT 16384 /* the hash a request falls back to when its slot is taken */
#define DISK_MAX_INODES 65536
/* Direct-mapped slots, indexed by a hash of the request's (bio's) address: powers of two. */
#define DISK_INFLIGHT_SLOT_BITS 12
#define DISK_SUBMITTER_SLOT_BITS 16
/* A request in flight longer than this is taken for one whose completion will never be seen
 * (issued before the agent attached, or freed without block_rq_complete): its slot goes to the
 * next request that hashes there, and its hash entry may be deleted when the hash is full.
 * Four times the block layer's default request timeout (30 s): by then a request has completed,
 * been requeued (issued again, with a new time) or been failed by the timeout handler. */
#define DISK_INFLIGHT_STALE_NS (120ULL * 1000000000ULL)

enum disk_dir { DISK_READ = 0, DISK_WRITE = 1 };

/* How a request found its cgroup. Preference: blkcg; for writes of page-cache pages the
 * dirtier; then the submitter; then the issuing task; else none. */
enum disk_via {
	DISK_VIA_BLKCG = 0, /* the bio's blkcg (cgroup v2 io controller; cgroup writeback) */
	DISK_VIA_SUBMITTER, /* the task that submitted the bio */
	DISK_VIA_CURRENT, /* the task issuing the request */
	DISK_VIA_DIRTIER, /* the cgroup that last dirtied the inode (writeback by others) */
	DISK_VIA_NONE, /* none: charged to the root cgroup */
	DISK_VIA_MAX,
};

struct disk_key {
	__u64 cgroup_id;
	__u32 dev; /* whole-disk dev_t, MKDEV-encoded as major << 20 | minor */
	__u32 dir; /* enum disk_dir */
};

/* Per-CPU value of the disk_stats map. */
struct disk_cg_stats {
	__u64 bytes;
	__u64 ops;
	__u64 lat_ns; /* issue to completion */
	__u64 hist[HIST_SLOTS];
};

/* A request between issue and completion. */
struct disk_inflight {
	__u64 issue_ns;
	__u64 cgroup_id;
	__u32 bytes;
	__u32 dev;
	__u32 dir;
	__u32 pad;
};

/* A slot of disk_inflight_slots: the request holding it (0: free) and its record; in.issue_ns
 * also tells how long the slot has been held. */
struct disk_inflight_slot {
	__u64 rq;
	struct disk_inflight in;
};

/* A slot of disk_submitters: the cgroup of the task that queued a bio. tag is the bio's address
 * XOR cgroup_id (0: free), so a slot read while another CPU rewrites it fails the check. */
struct disk_submitter_slot {
	__u64 tag;
	__u64 cgroup_id;
};

enum disk_counter {
	DISK_CNT_MAP_FULL = 0, /* disk_stats had no room: the request was dropped */
	DISK_CNT_INFLIGHT_FULL, /* disk_inflight had no room: the request was dropped */
	DISK_CNT_VIA_BLKCG, /* DISK_CNT_VIA_BLKCG + enum disk_via: attributions per method */
	DISK_CNT_VIA_SUBMITTER,
	DISK_CNT_VIA_CURRENT,
	DISK_CNT_VIA_DIRTIER,
	DISK_CNT_VIA_NONE,
	DISK_CNT_INFLIGHT_HASH, /* the request's slot was held by another: its record went to the hash */
	DISK_CNT_INFLIGHT_TAKEN_OVER, /* a slot held past DISK_INFLIGHT_STALE_NS was taken over */
	DISK_CNT_INFLIGHT_EXPIRED, /* hash entries past DISK_INFLIGHT_STALE_NS deleted (hash full) */
	DISK_CNT_UNMATCHED, /* completions with no record: not counted (see docs/COLLECTORS.md) */
	DISK_CNT_SUBMITTER_EVICTED, /* bios issued after another took their submitter slot */
	DISK_CNT_MAX,
};

#endif
