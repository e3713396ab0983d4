// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* disk family: bytes, operations and latency per (cgroup, disk, direction) from
 * tp_btf/block_rq_issue and block_rq_complete. Buffered writeback is charged to the cgroup that
 * dirtied the pages, never to the kworker that writes them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfdiag.bpf.h"
#include "core_fixes.bpf.h"
#include "disk.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define REQ_OP_BITS_MASK 0xff
#define ROOT_CGROUP_ID 1

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DISK_MAX_KEYS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct disk_key);
	__type(value, struct disk_cg_stats);
} disk_stats SEC(".maps");

/* Issue and completion may run on different CPUs: a shared hash keyed by the request. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DISK_MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, struct disk_inflight);
} disk_inflight SEC(".maps");

/* bio → cgroup of the task that submitted it, for requests issued from another context. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DISK_MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, __u64);
} disk_submitter SEC(".maps");

/* inode → cgroup that last dirtied its pages: a cache (LRU) consulted for writeback. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DISK_MAX_INODES);
	__type(key, __u64);
	__type(value, __u64);
} disk_dirtier SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISK_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} disk_counters SEC(".maps");

static __always_inline bool in_kthread(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->flags & PF_KTHREAD;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(disk_dirty_folio, struct folio *folio, struct address_space *mapping)
{
	__u64 inode, cgid, *old;

	if (!mapping || in_kthread())
		return 0;
	inode = (__u64)mapping->host;
	cgid = bpf_get_current_cgroup_id();
	old = bpf_map_lookup_elem(&disk_dirtier, &inode);
	if (!old || *old != cgid) /* update only on change: dirtying is frequent */
		bpf_map_update_elem(&disk_dirtier, &inode, &cgid, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_bio_queue")
int BPF_PROG(disk_bio_queue, struct bio *bio)
{
	__u64 key = (__u64)bio, cgid;

	/* A bio merged into a request is never looked up: its entry stays behind, and a bio later
	 * allocated at the same address by a kernel thread must not inherit it. */
	if (in_kthread()) {
		bpf_map_delete_elem(&disk_submitter, &key);
		return 0;
	}
	cgid = bpf_get_current_cgroup_id();
	bpf_map_update_elem(&disk_submitter, &key, &cgid, BPF_ANY);
	return 0;
}

/* The cgroup that dirtied the page-cache pages a bio writes, or 0. */
static __always_inline __u64 bio_dirtier(struct bio *bio)
{
	struct page *page = bio->bi_io_vec->bv_page;
	/* Read as a number: bit 0 marks anonymous memory, with no inode behind it. */
	__u64 mapping = page ? (__u64)BPF_CORE_READ(page, mapping) : 0, key, *v;

	if (!mapping || (mapping & 1))
		return 0;
	key = (__u64)BPF_CORE_READ((struct address_space *)mapping, host);
	v = bpf_map_lookup_elem(&disk_dirtier, &key);
	return v ? *v : 0;
}

/* The cgroup a request is charged to; see enum disk_via for the methods. Writes of page-cache
 * pages go to whoever dirtied them, even when another task (sync, a flusher) submits them;
 * everything else to the task that submitted the bio. */
static __always_inline __u64 request_cgroup(struct request *rq, __u32 dir, __u32 *via)
{
	struct bio *bio = rq->bio;
	struct blkcg_gq *blkg;
	__u64 key, *v, cgid;

	if (bio) {
		blkg = bio->bi_blkg;
		if (blkg) {
			struct cgroup *cg = blkg->blkcg->css.cgroup;

			/* Hierarchy 0 is cgroup v2; the root blkcg means "io not enabled here". */
			if (cg && cg->root->hierarchy_id == 0) {
				cgid = cg->kn->id;
				if (cgid != ROOT_CGROUP_ID) {
					*via = DISK_VIA_BLKCG;
					return cgid;
				}
			}
		}
		if (dir == DISK_WRITE) {
			cgid = bio_dirtier(bio);
			if (cgid) {
				*via = DISK_VIA_DIRTIER;
				return cgid;
			}
		}
		key = (__u64)bio;
		v = bpf_map_lookup_elem(&disk_submitter, &key);
		if (v) {
			cgid = *v;
			bpf_map_delete_elem(&disk_submitter, &key);
			*via = DISK_VIA_SUBMITTER;
			return cgid;
		}
	}
	if (!in_kthread()) {
		*via = DISK_VIA_CURRENT;
		return bpf_get_current_cgroup_id();
	}
	*via = DISK_VIA_NONE;
	return ROOT_CGROUP_ID;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(disk_rq_issue, struct request *rq)
{
	__u32 op = rq->cmd_flags & REQ_OP_BITS_MASK, via = DISK_VIA_NONE;
	struct disk_inflight in = {};
	struct gendisk *disk;
	__u64 key = (__u64)rq;

	if (op != DISK_READ && op != DISK_WRITE) /* flushes, discards: no data moved */
		return 0;
	disk = request_disk(rq);
	if (!disk)
		return 0;
	in.issue_ns = bpf_ktime_get_ns();
	in.bytes = rq->__data_len;
	in.dir = op;
	in.dev = ((__u32)BPF_CORE_READ(disk, major) << 20) |
		 (__u32)BPF_CORE_READ(disk, first_minor);
	in.cgroup_id = request_cgroup(rq, op, &via);
	if (bpf_map_update_elem(&disk_inflight, &key, &in, BPF_ANY)) {
		counter_add(&disk_counters, DISK_CNT_INFLIGHT_FULL, 1);
		return 0;
	}
	counter_add(&disk_counters, DISK_CNT_VIA_BLKCG + (via < DISK_VIA_MAX ? via : DISK_VIA_NONE),
		    1);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(disk_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	static const struct disk_cg_stats zero;
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns(), lat;
	struct disk_inflight *in = bpf_map_lookup_elem(&disk_inflight, &key);
	struct disk_cg_stats *s;
	struct disk_key k = {};

	if (!in)
		return 0; /* issued before we attached */
	k.cgroup_id = in->cgroup_id;
	k.dev = in->dev;
	k.dir = in->dir;
	lat = now > in->issue_ns ? now - in->issue_ns : 0;
	s = lookup_or_init(&disk_stats, &k, &zero);
	if (s) {
		s->bytes += in->bytes;
		s->ops++;
		s->lat_ns += lat;
		s->hist[hist_slot(lat)]++;
	} else {
		counter_add(&disk_counters, DISK_CNT_MAP_FULL, 1);
	}
	bpf_map_delete_elem(&disk_inflight, &key);
	return 0;
}
