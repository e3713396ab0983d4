/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the cgroup lifecycle family. */
#ifndef BPFDIAG_CGROUP_H
#define BPFDIAG_CGROUP_H

#define CGROUP_MAX_DEAD 8192
#define CGROUP_MAX_OOM 4096
#define CGROUP_MAX_BORN 4096
#define CGROUP_BORN_PATH 512

enum cgroup_counter {
	CGROUP_CNT_DEAD_FULL = 0, /* cgroup_dead had no room: the periodic sweep catches these */
	CGROUP_CNT_OOM_FULL, /* oom_victims had no room: memory.events still counts the kill */
	CGROUP_CNT_BORN_FULL, /* cgroup_born had no room: a walk of the tree finds these */
	CGROUP_CNT_MAX,
};

/* A cgroup v2 directory made since the agent last looked (cgroup:cgroup_mkdir), keyed by its
 * id: its path from the hierarchy's root, NUL-terminated; a path that did not fit is cut
 * (len == CGROUP_BORN_PATH) and not used. */
struct cgroup_born {
	__u32 len; /* strlen(path), or CGROUP_BORN_PATH: cut */
	__u32 pad;
	char path[CGROUP_BORN_PATH];
};

/* OOM kills of a cgroup's tasks (oom:mark_victim), keyed by the VICTIM's cgroup v2 id, and
 * the last victim. Deleted with the cgroup's other entries after its last read. */
struct oom_victim {
	__u64 kills;
	__u64 last_ns; /* bpf_ktime_get_ns() of the last kill */
	__u32 last_pid; /* the victim's thread-group id */
	__u32 pad;
	char last_comm[16];
};

#endif
