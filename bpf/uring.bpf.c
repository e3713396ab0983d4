// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* io_uring family: reads, writes and syncs submitted through io_uring on regular files, per
 * (cgroup, mount id), in the fs family's keys. Counted once per request, at its completion
 * (io_uring_complete fires once per CQE posted, whether the request completed inline, in an
 * io-wq worker or from task work), with the bytes of the CQE's result, and charged to the
 * cgroup of the task that submitted it (the request's io_uring task), not the completer's.
 * Two variants chosen at run time: tp_btf (Linux >= 6.0: the CQE is an argument) or the classic
 * tracepoint's record (req and res fields, Linux >= 5.19; needs tracefs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfdiag.bpf.h"
#include "fs.h"
#include "uring.h"
#include "file_mnt.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* io_uring opcodes (include/uapi/linux/io_uring.h; numbers are ABI). */
#define OP_READV 1
#define OP_WRITEV 2
#define OP_FSYNC 3
#define OP_READ_FIXED 4
#define OP_WRITE_FIXED 5
#define OP_SYNC_FILE_RANGE 8
#define OP_READ 22
#define OP_WRITE 23
#define OP_READV_FIXED 60
#define OP_WRITEV_FIXED 61

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, URING_MAX_KEYS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_key);
	__type(value, struct fs_stats);
} uring_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, URING_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} uring_counters SEC(".maps");

/* Linux 6.13 dropped req->task: the submitter is req->tctx->task since. */
struct io_kiocb___pre613 {
	struct task_struct *task;
} __attribute__((preserve_access_index));

/* The task that submitted the request, or NULL. */
static __always_inline struct task_struct *req_task(struct io_kiocb *req)
{
	if (bpf_core_field_exists(req->tctx))
		return BPF_CORE_READ(req, tctx, task);
	return BPF_CORE_READ((struct io_kiocb___pre613 *)req, task);
}

enum uring_kind { K_NONE, K_READ, K_WRITE, K_SYNC };

static __always_inline enum uring_kind op_kind(__u8 op)
{
	switch (op) {
	case OP_READ:
	case OP_READV:
	case OP_READ_FIXED:
	case OP_READV_FIXED:
		return K_READ;
	case OP_WRITE:
	case OP_WRITEV:
	case OP_WRITE_FIXED:
	case OP_WRITEV_FIXED:
		return K_WRITE;
	case OP_FSYNC:
	case OP_SYNC_FILE_RANGE:
		return K_SYNC;
	}
	return K_NONE;
}

static __always_inline void on_complete(struct io_kiocb *req, int res)
{
	static const struct fs_stats zero;
	enum uring_kind kind;
	struct task_struct *task;
	struct fs_stats *s;
	struct fs_key k = {};
	long mnt;

	if (!req)
		return; /* an auxiliary CQE: no request behind it */
	kind = op_kind(BPF_CORE_READ(req, opcode));
	if (kind == K_NONE || (kind != K_SYNC && res <= 0))
		return;
	mnt = file_mnt_id(BPF_CORE_READ(req, file));
	if (mnt < 0)
		return; /* sockets, pipes, devices: not file I/O */
	task = req_task(req);
	/* Mostly the submitter completes its own request (inline, or in its task work): then one
	 * helper call instead of four reads. An io-wq worker reads the submitter's. (A request
	 * with a file always has a task; the completer is the last resort.) */
	if (task && task != (struct task_struct *)bpf_get_current_task())
		k.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	else
		k.cgroup_id = bpf_get_current_cgroup_id();
	k.mnt_id = (__u32)mnt;
	s = lookup_or_init(&uring_stats, &k, &zero);
	if (!s) {
		counter_add(&uring_counters, URING_CNT_MAP_FULL, 1);
		return;
	}
	if (kind == K_READ) {
		s->read_bytes += res;
		s->read_calls++;
	} else if (kind == K_WRITE) {
		s->write_bytes += res;
		s->write_calls++;
	} else {
		s->sync_calls++;
	}
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	on_complete(req, BPF_CORE_READ(cqe, res));
	return 0;
}

SEC("tracepoint/io_uring/io_uring_complete")
int uring_complete_tp(struct trace_event_raw_io_uring_complete *ctx)
{
	on_complete(ctx->req, ctx->res);
	return 0;
}
