// SPDX-License-Identifier: BSD-2-Clause
/* The io_uring family's variant choice: tp_btf only where io_uring_complete hands over its CQE
 * (Linux >= 6.0), told from the tracepoint's BTF prototype. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <bpf/btf.h>

#include "kernel/collector_priv.h"

/* A BTF holding btf_trace_io_uring_complete with the given parameters after the void *data:
 * "cqe" a pointer to const struct io_uring_cqe, "ptr" void *, "u64", "int", "uint". */
static struct btf *with_proto(const char *const *params, int n)
{
	struct btf *b = btf__new_empty();
	int vd, u64, i32, u32, cqe, ccqe, pcqe, proto, pproto;

	assert_non_null(b);
	vd = btf__add_ptr(b, 0);
	u64 = btf__add_int(b, "long long unsigned int", 8, 0);
	i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	u32 = btf__add_int(b, "unsigned int", 4, 0);
	cqe = btf__add_struct(b, "io_uring_cqe", 16);
	btf__add_field(b, "user_data", u64, 0, 0);
	ccqe = btf__add_const(b, cqe);
	pcqe = btf__add_ptr(b, ccqe);
	proto = btf__add_func_proto(b, 0);
	btf__add_func_param(b, "", vd);
	for (int i = 0; i < n; i++) {
		int t = strcmp(params[i], "cqe") == 0  ? pcqe :
			strcmp(params[i], "u64") == 0  ? u64 :
			strcmp(params[i], "int") == 0  ? i32 :
			strcmp(params[i], "uint") == 0 ? u32 :
							 vd;

		assert_int_equal(btf__add_func_param(b, "", t), 0);
	}
	pproto = btf__add_ptr(b, proto);
	assert_true(btf__add_typedef(b, "btf_trace_io_uring_complete", pproto) > 0);
	return b;
}

static void test_cqe_argument(void **state)
{
	static const char *const v6[] = { "ptr", "ptr", "cqe" };
	struct btf *b = with_proto(v6, 3);

	(void)state;
	assert_true(collector_uring_btf_ok(b));
	btf__free(b);
}

static void test_pre_6_0_prototype(void **state)
{
	static const char *const v519[] = { "ptr", "ptr", "u64", "int", "uint" };
	static const char *const three_ptrs[] = { "ptr", "ptr", "ptr" };
	struct btf *b = with_proto(v519, 5);

	(void)state;
	assert_false(collector_uring_btf_ok(b));
	btf__free(b);
	b = with_proto(three_ptrs, 3); /* right arity, but no CQE: not ours */
	assert_false(collector_uring_btf_ok(b));
	btf__free(b);
}

static void test_no_tracepoint(void **state)
{
	struct btf *b = btf__new_empty();

	(void)state;
	assert_false(collector_uring_btf_ok(b));
	btf__free(b);
}

static void test_this_kernel(void **state)
{
	struct btf *b = btf__load_vmlinux_btf();

	(void)state;
	if (!b || btf__find_by_name_kind(b, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF) < 0) {
		btf__free(b);
		skip(); /* no kernel BTF, or io_uring not built in */
	}
	assert_true(collector_uring_btf_ok(b));
	btf__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cqe_argument),
		cmocka_unit_test(test_pre_6_0_prototype),
		cmocka_unit_test(test_no_tracepoint),
		cmocka_unit_test(test_this_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
