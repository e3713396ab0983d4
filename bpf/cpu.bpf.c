// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cpu family: on-CPU time and run-queue wait per cgroup v2 id, from one tp_btf sched_switch
 * program, and, when asked for (--cpu-samples HZ), cpu-clock samples per cgroup (perf_event).
 *
 * On-CPU time is the task's own se.sum_exec_runtime, the clock cpu.stat adds up: wall time would
 * also count interrupts and, in VMs, time stolen by the hypervisor.
 *
 * Run-queue wait, primary method (sched_info): the scheduler already keeps it. trace_sched_switch
 * fires in __schedule before context_switch → prepare_task_switch → sched_info_switch →
 * sched_info_arrive(next), which adds the wait that ends to next->sched_info.run_delay and counts
 * it in pcount. So when prev switches out, its run_delay already holds the wait that preceded the
 * slice ending now: the delta since its last switch-out is the wait since then (a pcount delta
 * of 1: one exact wait, for the histogram). No wakeup program and no lookup for next.
 * Fallback (wakeup, kernels without sched_info or with it off): sched_wakeup and sched_wakeup_new
 * stamp the enqueue in task storage, the switch-in adds the wait to the same task-storage
 * counters, and the switch-out charges them as above.
 *
 * Per-switch cost: one task-storage lookup for prev, and the slice is added to a per-CPU pending
 * record (a one-entry per-CPU array, inlined by the verifier) instead of the per-cgroup hash.
 * Each CPU has CPU_PENDING_SLOTS records, one per cgroup, the slot chosen by the cgroup id's low
 * bits, so a CPU that alternates between a few cgroups (a database and its clients, the node's
 * daemons) does not go to the hash at each switch between them. A record is flushed to
 * cpu_stats when its slot is needed by another cgroup, once it holds CPU_FLUSH_NS of CPU time,
 * and all of them when the collector runs cpu_flush on the CPU before each read of the maps
 * (which also charges the running task its time so far), and at every cpu-clock sample when
 * sampling. Where the kernel refuses to run cpu_flush, and nothing samples, a CPU flushes when
 * it goes idle instead. So a read sees every count up to its start, and none are lost when a
 * task exits (its last switch-out is charged) or its cgroup is removed (the record is flushed
 * before the read that follows the removal).
 *
 * Noisy neighbours: a task's wait ended when its slice began (its arrival), so at its
 * switch-out the wait spans [arrival - wait, arrival]. Each CPU keeps the starts of its last
 * CPU_RING slices with their cgroups (a slice ends where the next begins: a CPU with a waiting
 * task is not idle); a single wait of at least CPU_CAUSE_MIN_NS walks them back and charges the
 * overlap to (victim cgroup, culprit cgroup) in cpu_causes. Shorter waits cost nothing more. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfdiag.bpf.h"
#include "core_fixes.bpf.h"
#include "cpu.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load (agent/kernel/collector.c). */
const volatile bool wait_from_sched_info = false; /* else: the wakeup programs are loaded */
const volatile __u64 loaded_ns = 0; /* CLOCK_MONOTONIC at load: tasks started later count whole */
/* Set after load when the collector cannot run cpu_flush on each CPU (bpf/cpu.bpf.c's end) and
 * no cpu-clock sampler is attached: flush when a CPU goes idle. */
volatile bool flush_on_idle = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, CPU_MAX_CGROUPS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the cgroups really seen */
	__type(key, __u64);
	__type(value, struct cpu_cg_stats);
} cpu_stats SEC(".maps");

/* Per task (task storage: no pid-keyed hash to overflow). */
struct task_cpu {
	__u64 charged; /* sum_exec_runtime charged so far */
	__u64 delay_seen; /* run-queue wait (run_delay) and waits (pcount) charged so far */
	__u64 count_seen;
	/* wakeup method only: when it became runnable (0: not queued), and its own run_delay and
	 * pcount, kept here as the kernel keeps them in sched_info */
	__u64 enqueued_ns;
	__u64 fb_delay;
	__u64 fb_count;
	__u64 fb_arrival;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_cpu);
} cpu_enqueued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_pending);
} cpu_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, CPU_MAX_CGROUPS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} cpu_samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CPU_MAX_CAUSES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cpu_cause_key);
	__type(value, __u64);
} cpu_causes SEC(".maps");

/* Per CPU: 1 while cpu_flush runs there. When the collector runs it on its own CPU, the kernel
 * calls it in task context with interrupts on, so a cpu-clock sample may interrupt it: the
 * sample then leaves the pending records and the task's charge to it. (Run by IPI on another
 * CPU, it has interrupts off, as sched_switch and the sample do: nothing else interleaves.) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cpu_flushing SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPU_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cpu_counters SEC(".maps");

static const struct cpu_cg_stats zero_stats;

/* Adds a pending record to cpu_stats and empties it. */
static __always_inline void flush_slot(struct cpu_pending_cg *pc)
{
	struct cpu_cg_stats *s;

	if (!pc->cgid)
		return;
	s = lookup_or_init(&cpu_stats, &pc->cgid, &zero_stats);
	if (!s) {
		counter_add(&cpu_counters, CPU_CNT_MAP_FULL, 1);
		counter_add(&cpu_counters, CPU_CNT_DROPPED_NS, pc->s.oncpu_ns);
	} else {
		s->oncpu_ns += pc->s.oncpu_ns;
		s->switches += pc->s.switches;
		if (pc->s.rq_count || pc->s.rq_wait_ns) {
			s->rq_wait_ns += pc->s.rq_wait_ns;
			s->rq_count += pc->s.rq_count;
			for (int i = 0; i < HIST_SLOTS; i++)
				s->rq_hist[i] += pc->s.rq_hist[i];
		}
	}
	if (pc->s.rq_count || pc->s.rq_wait_ns)
		__builtin_memset(&pc->s, 0, sizeof(pc->s));
	else
		pc->s.oncpu_ns = pc->s.switches = 0;
	pc->cgid = 0;
}

/* Adds every pending record of this CPU to cpu_stats. */
static __always_inline void flush(struct cpu_pending *pd)
{
	for (int i = 0; i < CPU_PENDING_SLOTS; i++)
		flush_slot(&pd->cg[i]);
}

static __always_inline struct cpu_pending *pending(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_pending, &zero);
}

/* The run-queue wait of t so far, and the number of waits, as the chosen method keeps them. */
static __always_inline __u64 wait_total(struct task_struct *t, const struct task_cpu *tc)
{
	if (wait_from_sched_info && bpf_core_field_exists(t->sched_info.run_delay))
		return t->sched_info.run_delay;
	return tc->fb_delay;
}

static __always_inline __u64 wait_count(struct task_struct *t, const struct task_cpu *tc)
{
	if (wait_from_sched_info && bpf_core_field_exists(t->sched_info.pcount))
		return t->sched_info.pcount;
	return tc->fb_count;
}

/* When t's current slice began, on the clock of the wait method. */
static __always_inline __u64 arrival(struct task_struct *t, const struct task_cpu *tc)
{
	if (wait_from_sched_info && bpf_core_field_exists(t->sched_info.last_arrival))
		return t->sched_info.last_arrival;
	return tc->fb_arrival;
}

/* The task's storage. A new one counts as charged what predates us: everything the task ran
 * and waited, unless it started after we loaded (then it all counts, first slice included). */
static __always_inline struct task_cpu *task_cpu(struct task_struct *p)
{
	struct task_cpu *tc = bpf_task_storage_get(&cpu_enqueued, p, 0, 0);

	if (tc)
		return tc;
	tc = bpf_task_storage_get(&cpu_enqueued, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tc && p->start_time < loaded_ns) {
		tc->charged = p->se.sum_exec_runtime;
		tc->delay_seen = wait_total(p, tc);
		tc->count_seen = wait_count(p, tc);
	}
	return tc;
}

/* The pending record of cgid's slot, made cgid's (the previous owner's flushed). */
static __always_inline struct cpu_cg_stats *pending_for(struct cpu_pending *pd, __u64 cgid)
{
	struct cpu_pending_cg *pc = &pd->cg[cgid & (CPU_PENDING_SLOTS - 1)];

	if (pc->cgid != cgid || pc->s.oncpu_ns >= CPU_FLUSH_NS) {
		flush_slot(pc);
		pc->cgid = cgid;
	}
	return &pc->s;
}

/* Charges t the CPU time it gained since it was last charged. */
static __always_inline void charge_runtime(struct cpu_cg_stats *s, struct task_struct *t,
					   struct task_cpu *tc)
{
	__u64 rt = t->se.sum_exec_runtime;

	if (rt > tc->charged) {
		s->oncpu_ns += rt - tc->charged;
		tc->charged = rt;
	}
}

/* Charges t the run-queue waits it had since they were last charged. Returns the wait when
 * there was exactly one (it ended when the current slice began), else 0. */
static __always_inline __u64 charge_waits(struct cpu_cg_stats *s, struct task_struct *t,
					  struct task_cpu *tc)
{
	__u64 n = wait_count(t, tc), dn, dw;

	if (n == tc->count_seen)
		return 0;
	dn = n - tc->count_seen;
	dw = wait_total(t, tc) - tc->delay_seen;
	tc->count_seen = n;
	tc->delay_seen += dw;
	s->rq_wait_ns += dw;
	s->rq_count += dn;
	/* One wait is exact; several (a missed switch-out) go in at their mean. */
	if (dn == 1) {
		s->rq_hist[hist_slot(dw)]++;
		return dw;
	}
	s->rq_hist[hist_slot(dw / dn)] += dn;
	return 0;
}

static __always_inline void cause_add(__u64 victim, __u64 culprit, __u64 ns)
{
	struct cpu_cause_key k = { .victim = victim, .culprit = culprit };
	__u64 *v = bpf_map_lookup_elem(&cpu_causes, &k);

	if (v) {
		__sync_fetch_and_add(v, ns);
		return;
	}
	if (bpf_map_update_elem(&cpu_causes, &k, &ns, BPF_NOEXIST) == 0)
		return;
	v = bpf_map_lookup_elem(&cpu_causes, &k); /* another CPU created it meanwhile */
	if (v)
		__sync_fetch_and_add(v, ns);
	else
		counter_add(&cpu_counters, CPU_CNT_CAUSES_FULL, 1);
}

/* Charges the wait of victim's cgroup that ended at end to the slices of this CPU during it. */
static __always_inline void blame(struct cpu_pending *pd, __u64 victim, __u64 end, __u64 wait)
{
	__u64 from = end > wait ? end - wait : 0;

	for (__u32 i = 0; i < CPU_RING; i++) {
		struct cpu_slice *sl = &pd->ring[(pd->head - 1 - i) & (CPU_RING - 1)];
		__u64 lo;

		if (!sl->cgid)
			break;
		if (sl->start >= end) /* not before the end seen so far: no overlap left */
			continue;
		lo = sl->start > from ? sl->start : from;
		cause_add(victim, sl->cgid, end - lo);
		if (sl->start <= from)
			break;
		end = sl->start;
	}
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(cpu_sched_wakeup, struct task_struct *p)
{
	struct task_cpu *tc = task_cpu(p);

	if (tc)
		tc->enqueued_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(cpu_sched_wakeup_new, struct task_struct *p)
{
	struct task_cpu *tc = task_cpu(p);

	if (tc)
		tc->enqueued_ns = bpf_ktime_get_ns();
	return 0;
}

/* Wakeup method: the wait of next that ends now, kept in its storage until its switch-out. */
static __always_inline void wait_ends(struct task_struct *next)
{
	struct task_cpu *tc = bpf_task_storage_get(&cpu_enqueued, next, 0, 0);
	__u64 now;

	if (!tc || !tc->enqueued_ns)
		return;
	now = bpf_ktime_get_ns();
	if (now > tc->enqueued_ns)
		tc->fb_delay += now - tc->enqueued_ns;
	tc->fb_count++;
	tc->fb_arrival = now;
	tc->enqueued_ns = 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(cpu_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct cpu_pending *pd;
	struct task_cpu *tc;

	/* The slice that ends now, charged to prev's cgroup as of now: a task moved during its
	 * slice is charged where cpu.stat charges it. The idle task (pid 0) is nobody's work. */
	if (prev->pid && (tc = task_cpu(prev)) && (pd = pending())) {
		__u64 cgid = task_cgroup_id(prev), wait, start = arrival(prev, tc);
		struct cpu_cg_stats *s = pending_for(pd, cgid);

		charge_runtime(s, prev, tc);
		s->switches++;
		wait = charge_waits(s, prev, tc);
		if (wait >= CPU_CAUSE_MIN_NS)
			blame(pd, cgid, start, wait);
		pd->ring[pd->head & (CPU_RING - 1)] =
			(struct cpu_slice){ .cgid = cgid, .start = start };
		pd->head++;
		/* Preempted while runnable: it waits in the run queue from now. */
		if (!wait_from_sched_info && task_state(prev) == 0)
			tc->enqueued_ns = bpf_ktime_get_ns();
	}
	if (!next->pid) {
		if (flush_on_idle && (pd = pending()))
			flush(pd);
		return 0;
	}
	if (!wait_from_sched_info)
		wait_ends(next);
	return 0;
}

/* Charges the task running on this CPU what it ran since it was last charged (a task that keeps
 * the CPU is charged as it runs, not only when it switches out; the idle task, pid 0, is
 * nobody's work), then adds every pending record of this CPU to cpu_stats. Runs where
 * sched_switch cannot (interrupts off, or preemption off on this CPU), so the charge and the
 * switch-out's never overlap: each moves tc->charged up to what it adds. cgid: t's cgroup id
 * (the caller's, looked up once; unused for the idle task). */
static __always_inline void charge_current_and_flush(struct task_struct *t, __u64 cgid)
{
	struct cpu_pending *pd = pending();
	struct task_cpu *tc;

	if (!pd)
		return;
	/* NULL when the interrupted code holds the CPU's task-storage lock: flush only. */
	if (t->pid && (tc = task_cpu(t)))
		charge_runtime(pending_for(pd, cgid), t, tc);
	flush(pd);
}

static __always_inline __u32 *flushing(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_flushing, &zero);
}

SEC("perf_event")
int cpu_clock_sample(struct bpf_perf_event_data *ctx)
{
	static const __u64 zero64;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 cgid = t->pid ? task_cgroup_id(t) : 0, *n;
	__u32 *busy = flushing();

	/* A sample flushes this CPU's pending records: that bounds how late counts reach
	 * cpu_stats. Not when it interrupted cpu_flush, which is doing it. */
	if (busy && !*(volatile __u32 *)busy)
		charge_current_and_flush(t, cgid);
	/* The idle task's samples say the CPU was free. */
	if (!t->pid)
		return 0;
	n = lookup_or_init(&cpu_samples, &cgid, &zero64);
	if (n)
		(*n)++;
	else
		counter_add(&cpu_counters, CPU_CNT_SAMPLES_MAP_FULL, 1);
	return 0;
}

/* Not attached: the collector runs it on every online CPU before each read of the maps
 * (bpf_prog_test_run_opts with BPF_F_TEST_RUN_ON_CPU: an IPI to that CPU, or a direct call with
 * preemption off when the collector is on it), so the read sees every count up to then: the
 * running task's time so far and the CPU's pending records. */
SEC("raw_tp")
int cpu_flush(void *ctx)
{
	__u32 *busy = flushing();
	struct task_struct *t;

	if (!busy)
		return 0;
	*(volatile __u32 *)busy = 1;
	asm volatile("" ::: "memory");
	t = bpf_get_current_task_btf();
	charge_current_and_flush(t, t->pid ? task_cgroup_id(t) : 0);
	asm volatile("" ::: "memory");
	*(volatile __u32 *)busy = 0;
	return 0;
}
