// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The floor of the benchmark: an empty tp_btf/sched_switch program. What it costs per event is
 * the price of attaching anything there at all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_sched_switch)
{
	return 0;
}
