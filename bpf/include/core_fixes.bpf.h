/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel-version differences in one place, as CO-RE struct flavours. Each names the kernel
 * change it papers over. */
#ifndef BPFDIAG_CORE_FIXES_H
#define BPFDIAG_CORE_FIXES_H

#include <bpf/bpf_core_read.h>

/* Linux 5.14 (commit 2f064a59a11f, "sched: Change task_struct::state") renamed state to
 * __state. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* Linux 5.16 (commit f3d2b4bd81d1, "block: remove the ->rq_disk field in struct request")
 * moved the disk to the queue. */
struct request___pre516 {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* rq: a tp_btf argument; direct loads (no helper call). */
static __always_inline struct gendisk *request_disk(struct request *rq)
{
	if (bpf_core_field_exists(((struct request___pre516 *)rq)->rq_disk))
		return ((struct request___pre516 *)rq)->rq_disk;
	return rq->q->disk;
}

#endif
