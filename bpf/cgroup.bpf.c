// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cgroup lifecycle: removed cgroup v2 ids, so user space reads their entries a last time and
 * frees them; new ones with their paths, so it learns of them without walking the tree. */
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

/* Drained by every collection; allocated as used (a mkdir is rare, a collection takes them). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGROUP_MAX_BORN);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct cgroup_born);
} cgroup_born SEC(".maps");

/* An empty record to insert: 520 bytes are too many for the stack's 512. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgroup_born);
} cgroup_born_scratch SEC(".maps");

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

/* A cgroup v2 directory was made: its id and path (the tracepoint's, from the hierarchy's root),
 * so the agent can name it without walking the tree. */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	struct cgroup_born *b;
	__u32 zero = 0;
	__u64 id;
	long n;

	if (cgrp->root->hierarchy_id != 0)
		return 0;
	b = bpf_map_lookup_elem(&cgroup_born_scratch, &zero);
	if (!b)
		return 0;
	n = bpf_probe_read_kernel_str(b->path, sizeof(b->path), path);
	b->len = n <= 0			    ? CGROUP_BORN_PATH :
		 n >= (long)sizeof(b->path) ? CGROUP_BORN_PATH :
					      (__u32)(n - 1);
	id = cgrp->kn->id;
	if (bpf_map_update_elem(&cgroup_born, &id, b, BPF_ANY))
		counter_add(&cgroup_counters, CGROUP_CNT_BORN_FULL, 1);
	return 0;
}
