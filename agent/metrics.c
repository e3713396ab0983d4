#include "metrics.h"

#include <stddef.h>

const struct metric_desc metric_descs[M_MAX] = {
	[M_CPU_SECONDS] = {
		.name = "bpfdiag_cpu_seconds_total",
		.type = MT_COUNTER,
		.help = "CPU time the container's tasks spent running, from sched_switch.",
		.otlp_name = "container.cpu.time",
		.otlp_unit = "s",
	},
};
