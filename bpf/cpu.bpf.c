// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cpu family: on-CPU time and run-queue wait per cgroup v2 id (tp_btf sched_switch,
 * sched_wakeup, sched_wakeup_new), and 99 Hz cpu-clock samples per cgroup (perf_event).
 * On-CPU time is the task's own se.sum_exec_runtime, the clock cpu.stat adds up: wall time would
 * also count interrupts and, in VMs, time stolen by the hypervisor. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfdiag.bpf.h"
#include "core_fixes.bpf.h"
#include "cpu.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, CPU_MAX_CGROUPS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the cgroups really seen */
	__type(key, __u64);
	__type(value, struct cpu_cg_stats);
} cpu_stats SEC(".maps");

/* Per task (task storage: no pid-keyed hash to overflow): when it became runnable, and how much
 * of its sum_exec_runtime has been charged. Per task, so a missed event costs nothing. */
struct task_cpu {
	__u64 enqueued_ns;
	__u64 charged;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_cpu);
} cpu_enqueued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, CPU_MAX_CGROUPS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} cpu_samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPU_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cpu_counters SEC(".maps");

static const struct cpu_cg_stats zero_stats;

static __always_inline struct cpu_cg_stats *stats_of(__u64 cgid, __u64 lost_ns)
{
	struct cpu_cg_stats *s = lookup_or_init(&cpu_stats, &cgid, &zero_stats);

	if (!s) {
		counter_add(&cpu_counters, CPU_CNT_MAP_FULL, 1);
		counter_add(&cpu_counters, CPU_CNT_DROPPED_NS, lost_ns);
	}
	return s;
}

/* The task's storage; a new one starts with everything it ran so far counted as charged (that
 * time predates us). */
static __always_inline struct task_cpu *task_cpu(struct task_struct *p)
{
	struct task_cpu *tc = bpf_task_storage_get(&cpu_enqueued, p, 0, 0);

	if (tc)
		return tc;
	tc = bpf_task_storage_get(&cpu_enqueued, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tc)
		tc->charged = p->se.sum_exec_runtime;
	return tc;
}

static __always_inline void mark_enqueued(struct task_struct *p, __u64 now)
{
	struct task_cpu *tc = task_cpu(p);

	if (tc)
		tc->enqueued_ns = now;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(cpu_sched_wakeup, struct task_struct *p)
{
	mark_enqueued(p, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(cpu_sched_wakeup_new, struct task_struct *p)
{
	mark_enqueued(p, bpf_ktime_get_ns());
	return 0;
}

/* Charges task t the runtime it gained since it was last charged. */
static __always_inline void charge_runtime(struct task_struct *t, bool switched)
{
	struct task_cpu *tc = task_cpu(t);
	__u64 rt = t->se.sum_exec_runtime;
	struct cpu_cg_stats *s;

	if (!tc || rt <= tc->charged)
		return;
	s = stats_of(task_cgroup_id(t), rt - tc->charged);
	if (s) {
		s->oncpu_ns += rt - tc->charged;
		s->switches += switched;
	}
	tc->charged = rt;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(cpu_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_cpu *tc;
	struct cpu_cg_stats *s;
	__u64 now;

	/* The slice that ends now, charged to prev's cgroup as of now: a task moved during its
	 * slice is charged where cpu.stat charges it. The idle task (pid 0) is nobody's work. */
	if (prev->pid) {
		charge_runtime(prev, true);
		/* Preempted while runnable: it waits in the run queue from now. */
		if (task_state(prev) == 0)
			mark_enqueued(prev, bpf_ktime_get_ns());
	}
	if (!next->pid)
		return 0;

	/* The wait that ends now, charged to the task that waited. */
	tc = bpf_task_storage_get(&cpu_enqueued, next, 0, 0);
	if (!tc || !tc->enqueued_ns)
		return 0;
	now = bpf_ktime_get_ns();
	if (now > tc->enqueued_ns) {
		__u64 wait = now - tc->enqueued_ns;

		s = stats_of(task_cgroup_id(next), 0);
		if (s) {
			s->rq_wait_ns += wait;
			s->rq_count++;
			s->rq_hist[hist_slot(wait)]++;
		}
	}
	tc->enqueued_ns = 0;
	return 0;
}

SEC("perf_event")
int cpu_clock_sample(struct bpf_perf_event_data *ctx)
{
	static const __u64 zero64;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 cgid, *n;

	/* The idle task has pid 0; its samples say the CPU was free. */
	if (!t->pid)
		return 0;
	/* A task that keeps the CPU is charged as it runs, not only when it switches out. */
	charge_runtime(t, false);
	cgid = task_cgroup_id(t);
	n = lookup_or_init(&cpu_samples, &cgid, &zero64);
	if (n)
		(*n)++;
	else
		counter_add(&cpu_counters, CPU_CNT_SAMPLES_MAP_FULL, 1);
	return 0;
}
