// SPDX-License-Identifier: BSD-2-Clause
/* The io_uring family seen from user space: which variant this kernel takes, and its map read
 * into the fs family's records (same keys, so the engine sums both into one stream). */
#include "kernel/collector_priv.h"

#include <bpf/btf.h>
#include <stddef.h>
#include <string.h>

#include "fs.h"
#include "uring.h"

/* The type id behind typedefs and qualifiers. */
static int skip_mods(const struct btf *btf, int id)
{
	return id < 0 ? id : btf__resolve_type(btf, (__u32)id);
}

/* Whether id is a pointer to the struct named name. */
static bool is_ptr_to(const struct btf *btf, int id, const char *name)
{
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, (__u32)id) : NULL;

	if (!t || !btf_is_ptr(t))
		return false;
	id = skip_mods(btf, (int)t->type);
	t = id > 0 ? btf__type_by_id(btf, (__u32)id) : NULL;
	return t && btf_is_struct(t) && strcmp(btf__name_by_offset(btf, t->name_off), name) == 0;
}

bool collector_uring_btf_ok(const struct btf *btf)
{
	int id = btf__find_by_name_kind(btf, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, (__u32)id) : NULL;

	/* typedef void (*btf_trace_io_uring_complete)(void *, void *ctx, void *req,
	 *					       struct io_uring_cqe *cqe) since Linux 6.0;
	 * before, (…, u64 user_data, int res, unsigned cflags). */
	t = t ? btf__type_by_id(btf, t->type) : NULL;
	t = t && btf_is_ptr(t) ? btf__type_by_id(btf, t->type) : NULL;
	if (!t || !btf_is_func_proto(t) || btf_vlen(t) != 4)
		return false;
	return is_ptr_to(btf, skip_mods(btf, (int)btf_params(t)[3].type), "io_uring_cqe");
}

int collector_uring_read(struct collector *c, const struct collector_sink *sink)
{
	return walk_map(c, c->uring->maps.uring_stats, each_fs, sink);
}
