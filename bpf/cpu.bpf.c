// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cpu family: on-CPU time per cgroup v2 id from tp_btf/sched_switch. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "cpu.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, CPU_MAX_CGROUPS_DEFAULT);
	__type(key, __u64);
	__type(value, struct cpu_cg_stats);
} cpu_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_cur);
} cpu_cur SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPU_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cpu_counters SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&cpu_counters, &idx);

	if (c)
		*c += n; /* per-CPU slot: no atomics needed */
}

static __always_inline void charge(__u64 cgid, __u64 delta)
{
	struct cpu_cg_stats *s, zero = {};

	s = bpf_map_lookup_elem(&cpu_stats, &cgid);
	if (!s) {
		/* BPF_NOEXIST keeps an entry another CPU created meanwhile; then look it up again. */
		bpf_map_update_elem(&cpu_stats, &cgid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&cpu_stats, &cgid);
		if (!s) {
			count(CPU_CNT_MAP_FULL, 1);
			count(CPU_CNT_DROPPED_NS, delta);
			return;
		}
	}
	s->oncpu_ns += delta;
	s->switches++;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(cpu_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0;
	struct cpu_cur *cur = bpf_map_lookup_elem(&cpu_cur, &zero);
	__u64 now = bpf_ktime_get_ns();

	if (!cur)
		return 0;
	/* Charge the slice that ends now to prev's cgroup as of now: a task moved during its slice
	 * is charged where cpu.stat charges it. The idle task (pid 0) is nobody's work. Direct BTF
	 * loads, no helper calls. */
	if (cur->start_ns && prev->pid && now > cur->start_ns)
		charge(prev->cgroups->dfl_cgrp->kn->id, now - cur->start_ns);
	cur->start_ns = now;
	/* For user space: the slice in progress and whose it is. */
	cur->cgroup_id = next->pid ? next->cgroups->dfl_cgrp->kn->id : 0;
	return 0;
}
