// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* fs family: logical bytes written to and read from regular files, and sync calls, per
 * (cgroup, mount id). Three variants chosen at run time:
 * - filesystem tracepoints (the default): ext4's write_end and sync_file_enter, xfs's
 *   buffered write and fsync, btrfs's sync_file, iomap's direct-I/O completion and the page
 *   cache's filemap_get_pages. They fire inside the syscall that caused them, so the syscall's
 *   saved registers give its number and fd, and the fd the mount the user named (an overlay's,
 *   not its upper layer's). Untraced syscalls pay nothing.
 * - per-syscall tracepoints (opt-in; need tracefs): every filesystem, tmpfs included, but
 *   enabling any of them puts every syscall of every task on the tracing slow path;
 * - raw sys_enter/sys_exit (opt-in; every syscall runs the program). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfdiag.bpf.h"
#include "fs.h"
#include "file_mnt.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MS_SYNC 4
#ifndef PF_IO_WORKER
#define PF_IO_WORKER 0x00000010
#endif
#define FS_MAX_IOV 16 /* iovecs summed for a readv's request; more are not counted */

/* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_pread64 17
#define NR_readv 19
#define NR_sendfile 40
#define NR_splice 275
#define NR_preadv 295
#define NR_copy_file_range 326
#define NR_preadv2 327
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
#define SYSCALL_ARG2(regs) ((regs)->si)
#define SYSCALL_ARG3(regs) ((regs)->dx)
#define SYSCALL_ARG4(regs) ((regs)->r10)
#elif defined(__TARGET_ARCH_arm64)
/* include/uapi/asm-generic/unistd.h */
#define NR_read 63
#define NR_write 64
#define NR_pread64 67
#define NR_readv 65
#define NR_sendfile 71
#define NR_splice 76
#define NR_preadv 69
#define NR_copy_file_range 285
#define NR_preadv2 286
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
#define SYSCALL_ARG2(regs) ((regs)->regs[1])
#define SYSCALL_ARG3(regs) ((regs)->regs[2])
#define SYSCALL_ARG4(regs) ((regs)->regs[3])
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

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fs_task);
} fs_task SEC(".maps");

/* The struct file behind fd of the current task, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *t, unsigned long fd)
{
	struct fdtable *fdt = t->files->fdt;
	struct file *f = NULL;

	if (fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), (void *)fdt->fd + fd * sizeof(f));
	return f;
}

/* Mount id of f, a regular file the kernel handed the event (a BTF pointer): direct loads and
 * one probe read, where file_mnt_id() takes four. */
static __always_inline long btf_file_mnt_id(struct file *f)
{
	int id = 0;

	if ((f->f_inode->i_mode & S_IFMT) != S_IFREG)
		return -1;
	/* struct mount embeds the vfsmount: step back to it and read mnt_id. */
	bpf_probe_read_kernel(&id, sizeof(id),
			      (void *)f->f_path.mnt - bpf_core_field_offset(struct mount, mnt) +
				      bpf_core_field_offset(struct mount, mnt_id));
	return id;
}

/* Mount id of the regular file behind fd of the current task, else -1. */
static __always_inline long fd_mnt_id(unsigned long fd)
{
	return file_mnt_id(fd_file(bpf_get_current_task_btf(), fd));
}

static __always_inline struct fs_stats *stats_of(__u32 mnt_id)
{
	static const struct fs_stats zero;
	struct fs_key k = { .cgroup_id = task_cgroup_id(bpf_get_current_task_btf()),
			    .mnt_id = mnt_id };
	struct fs_stats *s = lookup_or_init(&fs_stats, &k, &zero);

	if (!s)
		counter_add(&fs_counters, FS_CNT_MAP_FULL, 1);
	return s;
}

static __always_inline bool is_write_nr(long nr)
{
	return nr == NR_write || nr == NR_pwrite64 || nr == NR_writev || nr == NR_pwritev ||
	       nr == NR_pwritev2;
}

static __always_inline bool is_read_nr(long nr)
{
	return nr == NR_read || nr == NR_pread64 || nr == NR_readv || nr == NR_preadv ||
	       nr == NR_preadv2;
}

/* Syscall variants: the fd is checked at entry, the bytes taken from the return value. */
static __always_inline void io_enter(unsigned long fd, __u32 nr)
{
	long mnt = fd_mnt_id(fd);
	struct fs_pending p = { .nr = nr };
	__u64 tid;

	if (mnt < 0)
		return; /* sockets, pipes, ttys: not file I/O */
	p.mnt_id = (__u32)mnt;
	tid = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&fs_pending, &tid, &p, BPF_ANY))
		counter_add(&fs_counters, FS_CNT_PENDING_FULL, 1);
}

static __always_inline void io_exit(long ret, __u32 nr)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct fs_pending *p = bpf_map_lookup_elem(&fs_pending, &tid);
	struct fs_stats *s;

	if (!p)
		return;
	if (p->nr == nr && ret > 0) {
		s = stats_of(p->mnt_id);
		if (s && is_read_nr(nr)) {
			s->read_bytes += ret;
			s->read_calls++;
		} else if (s) {
			s->write_bytes += ret;
			s->write_calls++;
		}
	}
	bpf_map_delete_elem(&fs_pending, &tid);
}

static __always_inline void sync_mnt(long mnt)
{
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

/* The mount of the file mapped at addr; -1 for anonymous memory (nothing reaches a file). */
static __always_inline long addr_mnt(unsigned long addr)
{
	struct vma_ctx ctx = { .mnt = -1 };

	bpf_find_vma(bpf_get_current_task_btf(), addr, vma_mnt, &ctx, 0);
	return ctx.mnt;
}

static __always_inline void msync_call(unsigned long addr, unsigned long flags)
{
	if (flags & MS_SYNC)
		sync_mnt(addr_mnt(addr));
}

/* Per-syscall tracepoints. */
#define IO_TP(name)                                                \
	SEC("tracepoint/syscalls/sys_enter_" #name)                \
	int fs_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                          \
		io_enter(ctx->args[0], NR_##name);                 \
		return 0;                                          \
	}                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                 \
	int fs_exit_##name(struct trace_event_raw_sys_exit *ctx)   \
	{                                                          \
		io_exit(ctx->ret, NR_##name);                      \
		return 0;                                          \
	}

IO_TP(write)
IO_TP(pwrite64)
IO_TP(writev)
IO_TP(pwritev)
IO_TP(pwritev2)
IO_TP(read)
IO_TP(pread64)
IO_TP(readv)
IO_TP(preadv)
IO_TP(preadv2)

#define SYNC_TP(name)                                              \
	SEC("tracepoint/syscalls/sys_enter_" #name)                \
	int fs_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                          \
		sync_mnt(fd_mnt_id(ctx->args[0]));                 \
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
	if (is_write_nr(id) || is_read_nr(id))
		io_enter(SYSCALL_ARG1(regs), id);
	else if (id == NR_fsync || id == NR_fdatasync || id == NR_sync_file_range)
		sync_mnt(fd_mnt_id(SYSCALL_ARG1(regs)));
	else if (id == NR_msync)
		msync_call(SYSCALL_ARG1(regs), SYSCALL_ARG3(regs));
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fs_raw_exit, struct pt_regs *regs, long ret)
{
	long id = SYSCALL_NR(regs);

	if (is_write_nr(id) || is_read_nr(id))
		io_exit(ret, id);
	return 0;
}

/* Filesystem variant. */

enum fs_op { FS_OP_NONE = 0, FS_OP_WRITE, FS_OP_READ, FS_OP_SYNC, FS_OP_MSYNC };

/* The syscall the current task is in, as far as file I/O goes, and the fd it names. Kernel
 * threads and io_uring's workers have no syscall behind them (io_uring is its own family). */
struct sys_io {
	struct task_struct *task;
	struct pt_regs *regs;
	unsigned long fd;
	struct file *file; /* set by syscall_mnt() at the syscall's first event */
	struct file *kfile; /* the file the event names (its BTF pointer), or NULL */
	int op;
};

static __always_inline void cur_syscall(struct sys_io *io)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs;
	long nr;

	io->task = t;
	io->kfile = NULL;
	io->op = FS_OP_NONE;
	if (t->flags & (PF_KTHREAD | PF_IO_WORKER))
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(t);
	io->regs = regs;
	io->fd = SYSCALL_ARG1(regs);
	nr = SYSCALL_NR(regs);
	if (is_write_nr(nr) || nr == NR_sendfile) {
		io->op = FS_OP_WRITE;
	} else if (nr == NR_splice || nr == NR_copy_file_range) {
		io->op = FS_OP_WRITE; /* the fd written to is the third argument */
		io->fd = SYSCALL_ARG3(regs);
	} else if (is_read_nr(nr)) {
		io->op = FS_OP_READ;
	} else if (nr == NR_fsync || nr == NR_fdatasync) {
		io->op = FS_OP_SYNC;
	} else if (nr == NR_msync) {
		io->op = FS_OP_MSYNC;
	}
}

/* The mount of the current syscall's fd, resolved at its first event and kept in task storage
 * for the others (a buffered write runs one event per folio); *first: this is the first. The
 * kernel bumps ioac.syscw (syscr) as each write (read) syscall returns, so that value names the
 * syscall. -1: not a regular file. */
static __always_inline long syscall_mnt(struct sys_io *io, bool *first)
{
	struct task_struct *t = io->task;
	struct fs_task *ft = bpf_task_storage_get(&fs_task, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	int i = io->op == FS_OP_READ;
	__u64 mark = (i ? t->ioac.syscr : t->ioac.syscw) + 1;
	long mnt;

	*first = true;
	if (ft && ft->mark[i] == mark) {
		*first = false;
		return ft->mnt[i];
	}
	io->file = fd_file(t, io->fd);
	/* The fd decides (an overlay's file, not the upper layer's the filesystem sees); when it is
	 * the event's own file, that one is read the cheaper way. */
	mnt = io->kfile && io->file == io->kfile ? btf_file_mnt_id(io->kfile) :
						   file_mnt_id(io->file);
	if (ft) {
		ft->mark[i] = mark;
		ft->mnt[i] = (__s32)mnt;
	}
	return mnt;
}

/* Adds bytes to mnt; call: the first event of its syscall. */
static __always_inline void count_io(struct sys_io *io, long mnt, __u64 bytes, bool call)
{
	struct fs_stats *s;

	if (mnt < 0 || !bytes)
		return;
	s = stats_of((__u32)mnt);
	if (!s)
		return;
	if (io->op == FS_OP_READ) {
		s->read_bytes += bytes;
		s->read_calls += call;
	} else {
		s->write_bytes += bytes;
		s->write_calls += call;
	}
}

/* Bytes of a write or a direct read: every event of the syscall adds. */
static __always_inline void count_syscall_io(struct sys_io *io, __u64 bytes)
{
	bool first;
	long mnt = syscall_mnt(io, &first);

	count_io(io, mnt, bytes, first);
}

/* Bytes written by a buffered write, chunk by chunk (exact: what was copied); kfile: the file
 * the event names, or NULL. */
static __always_inline void buffered_write(__u64 copied, struct file *kfile)
{
	struct sys_io io;

	cur_syscall(&io);
	io.kfile = kfile;
	if (io.op == FS_OP_WRITE)
		count_syscall_io(&io, copied);
}

/* ext4's write_end tracepoints (delalloc, nodelalloc, data=journal): one per folio copied. */
#define EXT4_WRITE_END(name)                                                       \
	SEC("tp_btf/" #name)                                                       \
	int BPF_PROG(fs_##name, struct inode *inode, loff_t pos, unsigned int len, \
		     unsigned int copied)                                          \
	{                                                                          \
		buffered_write(copied, NULL);                                      \
		return 0;                                                          \
	}

EXT4_WRITE_END(ext4_da_write_end)
EXT4_WRITE_END(ext4_write_end)
EXT4_WRITE_END(ext4_journalled_write_end)

/* xfs's buffered writes (iomap) have no per-chunk tracepoint: the request, at its start. */
SEC("tp_btf/xfs_file_buffered_write")
int BPF_PROG(fs_xfs_buffered_write, struct kiocb *iocb, struct iov_iter *from)
{
	buffered_write(from->count, iocb->ki_filp);
	return 0;
}

/* Direct I/O through iomap (ext4, xfs, btrfs), at its completion. Only a synchronous request
 * completes in its submitter's syscall; AIO and io_uring (ki_complete set) are not counted. */
SEC("tp_btf/iomap_dio_complete")
int BPF_PROG(fs_dio_complete, struct kiocb *iocb, int error, ssize_t ret)
{
	struct sys_io io;

	if (ret <= 0 || iocb->ki_complete)
		return 0;
	cur_syscall(&io);
	io.kfile = iocb->ki_filp;
	if (io.op == FS_OP_WRITE || io.op == FS_OP_READ)
		count_syscall_io(&io, ret);
	return 0;
}

/* The bytes a readv/preadv asked for: its iovecs summed (the first FS_MAX_IOV). */
static __always_inline __u64 iov_len(const struct iovec *iov, unsigned long n)
{
	__u64 sum = 0;

	for (unsigned long i = 0; i < FS_MAX_IOV; i++) {
		struct iovec v;

		if (i >= n || bpf_probe_read_user(&v, sizeof(v), iov + i))
			break;
		sum += v.iov_len;
	}
	return sum;
}

/* Buffered reads through the page cache (filemap_read: ext4, xfs, btrfs, …). The tracepoint
 * fires once per batch of folios (not for a batch cut short while pages are read in): the read
 * is counted at its first event, as what it returns, min(asked, size - pos) at its start. */
SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(fs_filemap_get_pages, struct address_space *mapping, unsigned long index,
	     unsigned long last_index)
{
	struct sys_io io;
	struct file *f;
	__s64 pos, size, asked;
	long nr, mnt;
	bool first;

	cur_syscall(&io);
	if (io.op != FS_OP_READ)
		return 0;
	mnt = syscall_mnt(&io, &first);
	if (!first || mnt < 0)
		return 0;
	f = io.file; /* a regular file: mnt >= 0 */
	nr = SYSCALL_NR(io.regs);
	pos = (nr == NR_pread64 || nr == NR_preadv || nr == NR_preadv2) ?
		      (__s64)SYSCALL_ARG4(io.regs) :
		      -1;
	if (pos < 0) /* read, readv, and preadv2 at offset -1: the file position */
		pos = BPF_CORE_READ(f, f_pos);
	if (nr == NR_read || nr == NR_pread64)
		asked = SYSCALL_ARG3(io.regs);
	else
		asked = iov_len((const struct iovec *)SYSCALL_ARG2(io.regs), SYSCALL_ARG3(io.regs));
	size = mapping->host->i_size - pos;
	if (size < asked)
		asked = size;
	if (asked > 0)
		count_io(&io, mnt, asked, true);
	return 0;
}

/* Sync calls: one fsync or fdatasync reaches the filesystem's fsync once; msync(MS_SYNC) once
 * per file mapping in its range. sync_file_range reaches none of these. */
static __always_inline void sync_event(void)
{
	struct sys_io io;

	cur_syscall(&io);
	if (io.op == FS_OP_SYNC)
		sync_mnt(file_mnt_id(fd_file(io.task, io.fd)));
	else if (io.op == FS_OP_MSYNC)
		sync_mnt(addr_mnt(SYSCALL_ARG1(io.regs)));
}

SEC("tp_btf/ext4_sync_file_enter")
int BPF_PROG(fs_ext4_sync, struct file *file, int datasync)
{
	sync_event();
	return 0;
}

SEC("tp_btf/xfs_file_fsync")
int BPF_PROG(fs_xfs_sync, struct xfs_inode *ip)
{
	sync_event();
	return 0;
}

SEC("tp_btf/btrfs_sync_file")
int BPF_PROG(fs_btrfs_sync, const struct file *file, int datasync)
{
	sync_event();
	return 0;
}
