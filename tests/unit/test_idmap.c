// SPDX-License-Identifier: BSD-2-Clause
/* idmap: puts, gets, deletes with backward shift, growth, iteration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "base/idmap.h"

static void test_basic(void **state)
{
	struct idmap *m = idmap_new();
	int a = 1, b = 2;

	(void)state;
	assert_non_null(m);
	assert_null(idmap_get(m, 5));
	assert_int_equal(idmap_put(m, 0, &a), -EINVAL);
	assert_int_equal(idmap_put(m, 5, NULL), -EINVAL);
	assert_int_equal(idmap_put(m, 5, &a), 0);
	assert_int_equal(idmap_put(m, 5, &b), 0);
	assert_ptr_equal(idmap_get(m, 5), &b);
	assert_int_equal(idmap_size(m), 1);
	assert_ptr_equal(idmap_del(m, 5), &b);
	assert_null(idmap_del(m, 5));
	assert_int_equal(idmap_size(m), 0);
	idmap_free(m);
	assert_null(idmap_free(NULL));
}

/* Many keys, deletes of every third: every survivor must stay reachable (probe chains intact
 * after backward-shift deletion) and iteration must see each exactly once. */
static void test_churn(void **state)
{
	enum { N = 20000 };
	struct idmap *m = idmap_new();
	uint64_t key, sum = 0, want = 0;
	size_t pos = 0, seen = 0;
	void *v;

	(void)state;
	for (uint64_t k = 1; k <= N; k++)
		assert_int_equal(idmap_put(m, k * 4096, (void *)(uintptr_t)k), 0);
	for (uint64_t k = 1; k <= N; k += 3)
		assert_ptr_equal(idmap_del(m, k * 4096), (void *)(uintptr_t)k);
	for (uint64_t k = 1; k <= N; k++) {
		void *got = idmap_get(m, k * 4096);

		if ((k - 1) % 3 == 0) {
			assert_null(got);
		} else {
			assert_ptr_equal(got, (void *)(uintptr_t)k);
			want += k;
		}
	}
	while (idmap_next(m, &pos, &key, &v)) {
		assert_int_equal(key, (uint64_t)(uintptr_t)v * 4096);
		sum += (uint64_t)(uintptr_t)v;
		seen++;
	}
	assert_int_equal(seen, idmap_size(m));
	assert_int_equal(sum, want);
	idmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
