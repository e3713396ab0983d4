// SPDX-License-Identifier: BSD-2-Clause
/* strmap and hash: keys compared (not hash alone), growth, deletion while iterating. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/hash.h"
#include "base/strmap.h"

static void test_put_get_del(void **state)
{
	struct strmap m;
	int a = 1, b = 2;

	(void)state;
	assert_int_equal(strmap_init(&m), 0);
	assert_null(strmap_get(&m, "a"));
	assert_int_equal(strmap_put(&m, "a", &a), 0);
	assert_int_equal(strmap_put(&m, "b", &b), 0);
	assert_ptr_equal(strmap_get(&m, "a"), &a);
	assert_ptr_equal(strmap_get(&m, "b"), &b);
	assert_null(strmap_get(&m, "ab"));
	assert_ptr_equal(strmap_del(&m, "a"), &a);
	assert_null(strmap_del(&m, "a"));
	assert_int_equal(m.n, 1);
	strmap_destroy(&m, NULL);
	assert_null(strmap_get(&m, "b"));
	assert_null(strmap_del(&m, "b"));
}

static void test_grow_and_delete_while_iterating(void **state)
{
	struct strmap m;
	char key[32];
	size_t seen = 0, left = 0;

	(void)state;
	assert_int_equal(strmap_init(&m), 0);
	for (int i = 0; i < 1000; i++) {
		int *v = malloc(sizeof(*v));

		assert_non_null(v);
		*v = i;
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(strmap_put(&m, key, v), 0);
	}
	assert_true(m.nb >= 1000);
	/* Delete every odd value as the walk reaches it: every entry is still visited once. */
	STRMAP_FOREACH(&m, e)
	{
		int *v = e->val;

		seen++;
		if (*v % 2) {
			assert_ptr_equal(strmap_del(&m, e->key), v);
			free(v);
		}
	}
	assert_int_equal(seen, 1000);
	assert_int_equal(m.n, 500);
	STRMAP_FOREACH(&m, e)
	{
		assert_int_equal(*(int *)e->val % 2, 0);
		left++;
	}
	assert_int_equal(left, 500);
	for (int i = 0; i < 1000; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_non_null(strmap_get(&m, key));
	}
	strmap_destroy(&m, free);
}

static void test_hash(void **state)
{
	(void)state;
	/* FNV-1a test vectors. */
	assert_true(hash_str("") == 0xcbf29ce484222325ULL);
	assert_true(hash_str("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_str("foobar") == 0x85944171f73967e8ULL);
	/* hash_add separates its parts. */
	assert_true(hash_add(hash_add(HASH_FNV_OFFSET, "ab"), "c") !=
		    hash_add(hash_add(HASH_FNV_OFFSET, "a"), "bc"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_grow_and_delete_while_iterating),
		cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
