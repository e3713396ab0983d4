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

/* Issue and completion may run on different CPUs: a shared record per request. Most requests
 * take the slot their address hashes to (an inlined array lookup, a compare-and-swap; no hash
 * update, lookup and delete); one whose slot another request in flight holds goes to the hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << DISK_INFLIGHT_SLOT_BITS);
	__type(key, __u32);
	__type(value, struct disk_inflight_slot);
} disk_inflight_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DISK_MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, struct disk_inflight);
} disk_inflight SEC(".maps");

/* bio → cgroup of the task that submitted it, for requests issued from another context: a
 * direct-mapped cache (a bio evicted by a later one hashing to its slot before it is issued
 * loses its submitter, as the least recent entry of an LRU would; counted when it is issued,
 * DISK_CNT_SUBMITTER_EVICTED). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << DISK_SUBMITTER_SLOT_BITS);
	__type(key, __u32);
	__type(value, struct disk_submitter_slot);
} disk_submitters SEC(".maps");

/* Per slot of disk_submitters, the address of the last bio whose entry a later bio overwrote
 * (0: none), so that its issue counts the loss. Apart from the slots: only an eviction writes
 * it and only an issue that finds another bio's entry reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << DISK_SUBMITTER_SLOT_BITS);
	__type(key, __u32);
	__type(value, __u64);
} disk_submitter_evicted SEC(".maps");

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

/* The verifier allows no arithmetic on a kernel pointer, but a pointer stored into a map value
 * reads back as a number. One per-CPU entry per program: the kernel never runs a tracing
 * program nested in itself on a CPU (bpf_trace_run's per-program recursion guard), while
 * another may interrupt it (a completion in an interrupt). */
enum { SCRATCH_QUEUE, SCRATCH_ISSUE, SCRATCH_COMPLETE, SCRATCH_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_MAX);
	__type(key, __u32);
	__type(value, __u64);
} disk_scratch SEC(".maps");

/* p as a number; false if it could not be had. */
static __always_inline bool addr_of(const void *p, __u32 who, __u64 *addr)
{
	volatile __u64 *v = bpf_map_lookup_elem(&disk_scratch, &who);

	if (!v)
		return false;
	*v = (__u64)p;
	*addr = *v;
	return true;
}

/* Slot of an address in a table of 2^bits slots (Fibonacci hashing: the high bits of the
 * product, which every bit of the address feeds). */
static __always_inline __u32 addr_slot(__u64 addr, __u32 bits)
{
	return (__u32)((addr * 0x9e3779b97f4a7c15ULL) >> (64 - bits));
}

/* The slot of bio's address (*addr: that address, *i: the slot's index); NULL if it could not
 * be had. */
static __always_inline struct disk_submitter_slot *submitter_slot(struct bio *bio, __u32 who,
								  __u64 *addr, __u32 *i)
{
	if (!addr_of(bio, who, addr))
		return NULL;
	*i = addr_slot(*addr, DISK_SUBMITTER_SLOT_BITS);
	return bpf_map_lookup_elem(&disk_submitters, i);
}

/* Takes the bio at addr out of its slot s: the cgroup that queued it, or 0 if s holds another. */
static __always_inline __u64 take_submitter(struct disk_submitter_slot *s, __u64 addr)
{
	__u64 tag = s->tag, cgid = s->cgroup_id;

	if (!tag || (tag ^ cgid) != addr)
		return 0;
	__sync_val_compare_and_swap(&s->tag, tag, 0);
	return cgid;
}

/* Clears the eviction mark of the bio at addr in slot i: true if it had one. Each mark counts
 * once, and a later bio at the same address was not evicted. */
static __always_inline bool unmark_evicted(__u32 i, __u64 addr)
{
	__u64 *e = bpf_map_lookup_elem(&disk_submitter_evicted, &i);

	if (!e || *e != addr)
		return false;
	*e = 0;
	return true;
}

SEC("tp_btf/block_bio_queue")
int BPF_PROG(disk_bio_queue, struct bio *bio)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct disk_submitter_slot *s;
	__u64 addr, cgid, prev, *e;
	__u32 i;

	s = submitter_slot(bio, SCRATCH_QUEUE, &addr, &i);
	if (!s)
		return 0;
	/* A bio merged into a request is never looked up: its entry stays behind, and a bio later
	 * allocated at the same address by a kernel thread must not inherit it (nor its mark). */
	if (t->flags & PF_KTHREAD) {
		if (!take_submitter(s, addr))
			unmark_evicted(i, addr);
		return 0;
	}
	cgid = task_cgroup_id(t);
	/* Another bio's entry is overwritten: mark it, so that its issue counts the loss (the
	 * entry a merged bio left behind is marked too, and never looked up). */
	prev = s->tag ^ s->cgroup_id;
	if (s->tag && prev != addr) {
		e = bpf_map_lookup_elem(&disk_submitter_evicted, &i);
		if (e)
			*e = prev;
	}
	s->cgroup_id = cgid;
	s->tag = addr ^ cgid;
	return 0;
}

/* The cgroup of the task that queued bio, taken out of its slot; 0 if none is known. */
static __always_inline __u64 bio_submitter(struct bio *bio)
{
	struct disk_submitter_slot *s;
	__u64 addr, cgid;
	__u32 i;

	s = submitter_slot(bio, SCRATCH_ISSUE, &addr, &i);
	if (!s)
		return 0;
	cgid = take_submitter(s, addr);
	if (!cgid && unmark_evicted(i, addr))
		counter_add(&disk_counters, DISK_CNT_SUBMITTER_EVICTED, 1);
	return cgid;
}

/* The cgroup that dirtied the page-cache pages a bio writes, or 0. */
static __always_inline __u64 bio_dirtier(struct bio *bio)
{
	struct page *page = bio->bi_io_vec->bv_page;
	struct address_space *mapping = page ? page->mapping : NULL;
	__u64 m, key, *v;

	/* The low bits of page->mapping mark anonymous (and movable) memory, with no inode
	 * behind it: test them on the number. */
	if (!mapping || !addr_of(mapping, SCRATCH_ISSUE, &m) || (m & 3))
		return 0;
	key = (__u64)mapping->host;
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
	__u64 cgid;

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
		cgid = bio_submitter(bio);
		if (cgid) {
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

/* The slot rq's address hashes to; NULL if its address could not be had. */
static __always_inline struct disk_inflight_slot *inflight_slot(struct request *rq, __u32 who)
{
	__u64 addr;
	__u32 i;

	if (!addr_of(rq, who, &addr))
		return NULL;
	i = addr_slot(addr, DISK_INFLIGHT_SLOT_BITS);
	return bpf_map_lookup_elem(&disk_inflight_slots, &i);
}

static __always_inline bool stale(__u64 issue_ns, __u64 now)
{
	return issue_ns && now > issue_ns && now - issue_ns > DISK_INFLIGHT_STALE_NS;
}

/* Takes the slot held since long by the request at held for the one at key, issued at now.
 * Of issues racing for it, the one that moves in.issue_ns off the stale time wins (the others
 * then read a fresh time); a late completion of the holder releases the slot only while it
 * still holds it (disk_rq_complete), so one of the two fails and its request goes to the hash,
 * or goes uncounted. A completion in that very instant may read the new time: no latency. */
static __always_inline bool take_over(struct disk_inflight_slot *slot, __u64 held, __u64 key,
				      __u64 now)
{
	__u64 ts = slot->in.issue_ns;

	if (!stale(ts, now) || __sync_val_compare_and_swap(&slot->in.issue_ns, ts, now) != ts)
		return false;
	return __sync_val_compare_and_swap(&slot->rq, held, key) == held;
}

struct expire_ctx {
	__u64 now;
	bool deleted; /* a flag, not a count: the verifier walks the callback until its state
		       * repeats */
};

static long expire_inflight(struct bpf_map *map, __u64 *key, struct disk_inflight *in,
			    struct expire_ctx *ctx)
{
	if (stale(in->issue_ns, ctx->now) && !bpf_map_delete_elem(map, key)) {
		counter_add(&disk_counters, DISK_CNT_INFLIGHT_EXPIRED, 1);
		ctx->deleted = true;
	}
	return 0;
}

/* The last sweep of disk_inflight: at most one per second, whatever fills it. */
__u64 expire_sweep_ns;

/* The hash is full: deletes its entries held past DISK_INFLIGHT_STALE_NS (requests whose
 * completion will never be seen). True if any was. */
static __always_inline bool expire_stale_inflight(__u64 now)
{
	struct expire_ctx ctx = { .now = now };
	__u64 last = expire_sweep_ns;

	if (now - last < 1000000000ULL ||
	    __sync_val_compare_and_swap(&expire_sweep_ns, last, now) != last)
		return false;
	bpf_for_each_map_elem(&disk_inflight, expire_inflight, &ctx, 0);
	return ctx.deleted;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(disk_rq_issue, struct request *rq)
{
	__u32 op = rq->cmd_flags & REQ_OP_BITS_MASK, via = DISK_VIA_NONE;
	struct disk_inflight in = {};
	struct disk_inflight_slot *slot;
	struct gendisk *disk;
	__u64 key = (__u64)rq, held;

	if (op != DISK_READ && op != DISK_WRITE) /* flushes, discards: no data moved */
		return 0;
	disk = request_disk(rq);
	if (!disk)
		return 0;
	in.issue_ns = bpf_ktime_get_ns();
	in.bytes = rq->__data_len;
	in.dir = op;
	in.dev = ((__u32)disk->major << 20) | (__u32)disk->first_minor;
	in.cgroup_id = request_cgroup(rq, op, &via);
	slot = inflight_slot(rq, SCRATCH_ISSUE);
	if (!slot)
		goto hash;
	/* A free slot gets its time before it is claimed, so that an issue finding it held between
	 * the claim and the record below never reads the time of its previous holder as this
	 * one's (and takes it over). */
	if (!slot->rq)
		slot->in.issue_ns = in.issue_ns;
	/* Free, or already this request's (issued again after a requeue): take it. The completion
	 * cannot read it before the driver has the request, after this program. */
	held = __sync_val_compare_and_swap(&slot->rq, 0, key);
	if (held == 0 || held == key) {
		slot->in = in;
		goto counted;
	}
	/* Held for longer than any request lasts: by one whose completion will never come. */
	if (take_over(slot, held, key, in.issue_ns)) {
		slot->in = in;
		counter_add(&disk_counters, DISK_CNT_INFLIGHT_TAKEN_OVER, 1);
		goto counted;
	}
	counter_add(&disk_counters, DISK_CNT_INFLIGHT_HASH, 1);
hash:
	if (bpf_map_update_elem(&disk_inflight, &key, &in, BPF_ANY) &&
	    (!expire_stale_inflight(in.issue_ns) ||
	     bpf_map_update_elem(&disk_inflight, &key, &in, BPF_ANY))) {
		counter_add(&disk_counters, DISK_CNT_INFLIGHT_FULL, 1);
		return 0;
	}
counted:
	counter_add(&disk_counters, DISK_CNT_VIA_BLKCG + (via < DISK_VIA_MAX ? via : DISK_VIA_NONE),
		    1);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(disk_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	static const struct disk_cg_stats zero;
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns(), lat;
	struct disk_inflight_slot *slot = inflight_slot(rq, SCRATCH_COMPLETE);
	struct disk_inflight in, *p;
	struct disk_cg_stats *s;
	struct disk_key k = {};
	__u32 op;

	if (slot && slot->rq == key) {
		in = slot->in;
		/* A full barrier: the record is read before another request can take the slot. It
		 * fails if an issue took the slot over meanwhile (this request held it too long):
		 * the record read may be the new holder's. */
		if (__sync_val_compare_and_swap(&slot->rq, key, 0) != key)
			goto unmatched;
	} else {
		p = bpf_map_lookup_elem(&disk_inflight, &key);
		if (!p)
			goto unmatched;
		in = *p;
		bpf_map_delete_elem(&disk_inflight, &key);
	}
	k.cgroup_id = in.cgroup_id;
	k.dev = in.dev;
	k.dir = in.dir;
	lat = now > in.issue_ns ? now - in.issue_ns : 0;
	s = lookup_or_init(&disk_stats, &k, &zero);
	if (s) {
		s->bytes += in.bytes;
		s->ops++;
		s->lat_ns += lat;
		s->hist[hist_slot(lat)]++;
	} else {
		counter_add(&disk_counters, DISK_CNT_MAP_FULL, 1);
	}
	return 0;
unmatched:
	/* Issued before we attached, or its slot or entry was taken as stale; flushes and
	 * discards are never recorded. */
	op = rq->cmd_flags & REQ_OP_BITS_MASK;
	if (op == DISK_READ || op == DISK_WRITE)
		counter_add(&disk_counters, DISK_CNT_UNMATCHED, 1);
	return 0;
}
