/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the cgroup lifecycle family. */
#ifndef BPFDIAG_CGROUP_H
#define BPFDIAG_CGROUP_H

#define CGROUP_MAX_DEAD 8192

enum cgroup_counter {
	CGROUP_CNT_DEAD_FULL = 0, /* cgroup_dead had no room: the periodic sweep catches these */
	CGROUP_CNT_MAX,
};

#endif
