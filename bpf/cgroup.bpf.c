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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGROUP_MAX_OOM);
	__type(key, __u64);
	__type(value, struct oom_victim);
} oom_victims SEC(".maps");

/* The OOM killer chose task as its victim (newer kernels pass the task, older ones a pid: user
 * space turns the program off there). The victim's cgroup, not the triggering task's
 * (current): the one whose memory ran out is charged. */
SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim, struct task_struct *task, __u32 uid)
{
	struct oom_victim fresh = {}, *v;
	__u64 id = task->cgroups->dfl_cgrp->kn->id;

	v = bpf_map_lookup_elem(&oom_victims, &id);
	if (!v) {
		bpf_map_update_elem(&oom_victims, &id, &fresh, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&oom_victims, &id);
		if (!v) {
			counter_add(&cgroup_counters, CGROUP_CNT_OOM_FULL, 1);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->kills, 1);
	v->last_ns = bpf_ktime_get_ns();
	v->last_pid = task->tgid;
	bpf_probe_read_kernel_str(v->last_comm, sizeof(v->last_comm), task->comm);
	return 0;
}

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
