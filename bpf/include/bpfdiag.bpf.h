/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Small helpers shared by the probe families. Everything inline, loop-free, no helper calls
 * where a direct BTF load does. */
#ifndef BPFDIAG_BPF_H
#define BPFDIAG_BPF_H

#include "hist.h"

#ifndef PF_KTHREAD
#define PF_KTHREAD 0x00200000
#endif

/* cgroup v2 id of a task: its default-hierarchy cgroup's kernfs id. */
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

/* cgroup v2 id a socket is charged to (set when it was created; children inherit the
 * listener's). sock_cgroup_data holds a plain cgroup pointer since Linux 5.15. */
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id;
}

/* Log2 histogram slot of a duration in ns: slot 0 is < 1 µs, slot i (1..HIST_SLOTS-2) is
 * [2^(i-1), 2^i) µs, the last slot is everything longer. */
static __always_inline __u32 hist_slot(__u64 ns)
{
	__u64 us = ns >> 10; /* ~µs: a shift, not a division */
	__u32 r = 0;

	if (!us)
		return 0;
	if (us >> 16) {
		us >>= 16;
		r += 16;
	}
	if (us >> 8) {
		us >>= 8;
		r += 8;
	}
	if (us >> 4) {
		us >>= 4;
		r += 4;
	}
	if (us >> 2) {
		us >>= 2;
		r += 2;
	}
	if (us >> 1)
		r += 1;
	r += 1;
	return r < HIST_SLOTS ? r : HIST_SLOTS - 1;
}

/* Looks key up in a hash map, inserting init when absent. NULL when the map is full. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	/* BPF_NOEXIST keeps an entry another CPU created meanwhile; then look it up again. */
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Adds n to slot idx of a per-CPU counters array: per-CPU, so no atomics. */
static __always_inline void counter_add(void *map, __u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(map, &idx);

	if (c)
		*c += n;
}

#endif
