#include "metrics.h"

#include <stddef.h>

const struct metric_desc metric_descs[M_MAX] = {
	[M_CPU_SECONDS] = { "bpfdiag_cpu_seconds_total",
			    MT_COUNTER,
			    "CPU time the container's tasks spent running, from sched_switch.",
			    { NULL },
			    "container.cpu.time",
			    "s" },
};
