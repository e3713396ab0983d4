/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The mount a file lives on, shared by the probe families that count file I/O per
 * (cgroup, mount): the fs family and io_uring. */
#ifndef BPFDIAG_FILE_MNT_BPF_H
#define BPFDIAG_FILE_MNT_BPF_H

#ifndef S_IFMT
#define S_IFMT 00170000
#endif
#ifndef S_IFREG
#define S_IFREG 0100000
#endif

/* Mount id of a file if it is a regular file, else -1. */
static __always_inline long file_mnt_id(struct file *f)
{
	struct vfsmount *vfsmnt;
	int id = 0;

	/* f came from a probe read: read through it the same way. */
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFREG)
		return -1;
	/* struct mount embeds the vfsmount: step back to it and read mnt_id. */
	vfsmnt = BPF_CORE_READ(f, f_path.mnt);
	bpf_probe_read_kernel(&id, sizeof(id),
			      (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt) +
				      bpf_core_field_offset(struct mount, mnt_id));
	return id;
}

#endif
