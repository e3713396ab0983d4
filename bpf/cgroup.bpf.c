// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cgroup lifecycle: removed cgroup v2 ids, so user space reads their entries a last time and
 * frees them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfdiag.bpf.h"
#include "cgroup.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGROUP_MAX_DEAD);
	__type(key, __u64);
	__type(value, __u64); /* bpf_ktime_get_ns() of the removal */
} cgroup_dead SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CGROUP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cgroup_counters SEC(".maps");

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	__u64 id, now;

	if (cgrp->root->hierarchy_id != 0) /* v1 hierarchies have ids of their own */
		return 0;
	id = cgrp->kn->id;
	now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&cgroup_dead, &id, &now, BPF_ANY))
		counter_add(&cgroup_counters, CGROUP_CNT_DEAD_FULL, 1);
	return 0;
}
