// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* fs family: logical bytes written to regular files and sync calls, per (cgroup, mount id).
 * Two variants chosen at run time: the per-syscall tracepoints (cheap: they fire only for
 * these syscalls; need tracefs), or the raw sys_enter/sys_exit tracepoints (every syscall). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfdiag.bpf.h"
#include "fs.h"
#include "file_mnt.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MS_SYNC 4

/* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#if defined(__TARGET_ARCH_x86)
#define NR_write 1
#define NR_pwrite64 18
#define NR_writev 20
#define NR_msync 26
#define NR_fsync 74
#define NR_fdatasync 75
#define NR_sync_file_range 277
#define NR_pwritev 296
#define NR_pwritev2 328
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_ARG1(regs) ((regs)->di)
#define SYSCALL_ARG3(regs) ((regs)->dx)
#elif defined(__TARGET_ARCH_arm64)
/* include/uapi/asm-generic/unistd.h */
#define NR_write 64
#define NR_pwrite64 68
#define NR_writev 66
#define NR_msync 227
#define NR_fsync 82
#define NR_fdatasync 83
#define NR_sync_file_range 84
#define NR_pwritev 70
#define NR_pwritev2 287
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_ARG1(regs) ((regs)->orig_x0)
#define SYSCALL_ARG3(regs) ((regs)->regs[2])
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FS_MAX_KEYS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_key);
	__type(value, struct fs_stats);
} fs_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FS_MAX_PENDING);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct fs_pending);
} fs_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fs_counters SEC(".maps");

/* Mount id of the regular file behind fd of the current task, else -1. */
static __always_inline long fd_mnt_id(unsigned long fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	struct file *f = NULL;

	if (fd >= fdt->max_fds)
		return -1;
	bpf_probe_read_kernel(&f, sizeof(f), (void *)fdt->fd + fd * sizeof(f));
	return file_mnt_id(f);
}

static __always_inline struct fs_stats *stats_of(__u32 mnt_id)
{
	static const struct fs_stats zero;
	struct fs_key k = { .cgroup_id = bpf_get_current_cgroup_id(), .mnt_id = mnt_id };
	struct fs_stats *s = lookup_or_init(&fs_stats, &k, &zero);

	if (!s)
		counter_add(&fs_counters, FS_CNT_MAP_FULL, 1);
	return s;
}

static __always_inline void write_enter(unsigned long fd, __u32 nr)
{
	long mnt = fd_mnt_id(fd);
	struct fs_pending p = { .nr = nr };
	__u64 tid;

	if (mnt < 0)
		return; /* sockets, pipes, ttys: not file writes */
	p.mnt_id = (__u32)mnt;
	tid = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&fs_pending, &tid, &p, BPF_ANY))
		counter_add(&fs_counters, FS_CNT_PENDING_FULL, 1);
}

static __always_inline void write_exit(long ret, __u32 nr)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct fs_pending *p = bpf_map_lookup_elem(&fs_pending, &tid);
	struct fs_stats *s;

	if (!p)
		return;
	if (p->nr == nr && ret > 0) {
		s = stats_of(p->mnt_id);
		if (s) {
			s->write_bytes += ret;
			s->write_calls++;
		}
	}
	bpf_map_delete_elem(&fs_pending, &tid);
}

static __always_inline void sync_call(unsigned long fd)
{
	long mnt = fd_mnt_id(fd);
	struct fs_stats *s;

	if (mnt < 0)
		return;
	s = stats_of((__u32)mnt);
	if (s)
		s->sync_calls++;
}

struct vma_ctx {
	long mnt;
};

static long vma_mnt(struct task_struct *task, struct vm_area_struct *vma, struct vma_ctx *ctx)
{
	ctx->mnt = file_mnt_id(vma->vm_file);
	return 0;
}

static __always_inline void msync_call(unsigned long addr, unsigned long flags)
{
	struct vma_ctx ctx = { .mnt = -1 };
	struct fs_stats *s;

	if (!(flags & MS_SYNC))
		return;
	bpf_find_vma(bpf_get_current_task_btf(), addr, vma_mnt, &ctx, 0);
	if (ctx.mnt < 0)
		return; /* anonymous memory: nothing reaches a file */
	s = stats_of((__u32)ctx.mnt);
	if (s)
		s->sync_calls++;
}

/* Per-syscall tracepoints. */
#define WRITE_TP(name)                                             \
	SEC("tracepoint/syscalls/sys_enter_" #name)                \
	int fs_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                          \
		write_enter(ctx->args[0], NR_##name);              \
		return 0;                                          \
	}                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                 \
	int fs_exit_##name(struct trace_event_raw_sys_exit *ctx)   \
	{                                                          \
		write_exit(ctx->ret, NR_##name);                   \
		return 0;                                          \
	}

WRITE_TP(write)
WRITE_TP(pwrite64)
WRITE_TP(writev)
WRITE_TP(pwritev)
WRITE_TP(pwritev2)

#define SYNC_TP(name)                                              \
	SEC("tracepoint/syscalls/sys_enter_" #name)                \
	int fs_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                          \
		sync_call(ctx->args[0]);                           \
		return 0;                                          \
	}

SYNC_TP(fsync)
SYNC_TP(fdatasync)
SYNC_TP(sync_file_range)

SEC("tracepoint/syscalls/sys_enter_msync")
int fs_enter_msync(struct trace_event_raw_sys_enter *ctx)
{
	msync_call(ctx->args[0], ctx->args[2]);
	return 0;
}

/* Raw variant: one program for every syscall entry and exit, dispatching on the number. */
SEC("tp_btf/sys_enter")
int BPF_PROG(fs_raw_enter, struct pt_regs *regs, long id)
{
	switch (id) {
	case NR_write:
	case NR_pwrite64:
	case NR_writev:
	case NR_pwritev:
	case NR_pwritev2:
		write_enter(SYSCALL_ARG1(regs), id);
		break;
	case NR_fsync:
	case NR_fdatasync:
	case NR_sync_file_range:
		sync_call(SYSCALL_ARG1(regs));
		break;
	case NR_msync:
		msync_call(SYSCALL_ARG1(regs), SYSCALL_ARG3(regs));
		break;
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fs_raw_exit, struct pt_regs *regs, long ret)
{
	long id = SYSCALL_NR(regs);

	switch (id) {
	case NR_write:
	case NR_pwrite64:
	case NR_writev:
	case NR_pwritev:
	case NR_pwritev2:
		write_exit(ret, id);
		break;
	}
	return 0;
}
