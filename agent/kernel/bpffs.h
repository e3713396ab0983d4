/* SPDX-License-Identifier: BSD-2-Clause */
/* The BPF filesystem that pinned maps live on: check a pin directory, and mount a bpffs at
 * /sys/fs/bpf where the host lacks one and the agent may do it (as Cilium does). */
#ifndef BPFDIAG_BPFFS_H
#define BPFDIAG_BPFFS_H

#include <stdbool.h>
#include <stddef.h>

#define BPFFS_DEFAULT_MOUNT "/sys/fs/bpf"

enum bpffs_status {
	BPFFS_READY = 0, /* dir exists (created if needed) on a bpffs */
	BPFFS_MOUNTED, /* as READY, after mounting a bpffs at /sys/fs/bpf (say so in the log) */
};

/* True when this process is in the host's mount namespace: the namespace of kthreadd (PID 2;
 * else PID 1) of the initial PID namespace. A container (even with hostPID) is not, and then
 * mounting here would not reach the host. */
bool bpffs_in_host_mount_ns(void);

/* Makes dir usable for pinning: when the nearest existing ancestor of dir is on a bpffs, creates
 * the missing levels (mode 0700). Otherwise, when may_mount and dir is /sys/fs/bpf or below it,
 * mounts a bpffs at /sys/fs/bpf first. Returns a bpffs_status (>= 0), or -errno with one line in
 * err naming the cause and the fix: "pin directory X is not on a bpffs (it is on tmpfs): …". */
int bpffs_prepare(const char *dir, bool may_mount, char *err, size_t errlen);

#endif
