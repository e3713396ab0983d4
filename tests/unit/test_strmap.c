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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_hash(void **state)
{
	enum { N = 40 * 256 + 41 };
	static uint64_t h[N], low[1024];
	char s[64], buf[80];
	size_t n = 0;

	(void)state;
	/* Each length from 0 to 40 (every tail length, several words), and each string differing
	 * from another by one byte at one position: no two hashes alike. */
	for (int len = 0; len <= 40; len++) {
		memset(s, 'a', (size_t)len);
		s[len] = '\0';
		h[n++] = hash_str(s);
	}
	for (int pos = 0; pos < 40; pos++) {
		memset(s, 'a', 40);
		s[40] = '\0';
		for (int c = 1; c < 256; c++) {
			if (c == 'a')
				continue;
			s[pos] = (char)c;
			h[n++] = hash_str(s);
		}
	}
	qsort(h, n, sizeof(h[0]), cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(h[i] != h[i - 1]);
	/* The same bytes at any alignment, and hash_bytes of the string's bytes alike. */
	for (int off = 0; off < 8; off++) {
		snprintf(buf + off, sizeof(buf) - 8, "/kubepods.slice/kubepods-pod%d.slice",
			 off % 2);
		assert_true(hash_str(buf + off) ==
			    hash_str(off % 2 ? "/kubepods.slice/kubepods-pod1.slice" :
					       "/kubepods.slice/kubepods-pod0.slice"));
		assert_true(hash_bytes(buf + off, strlen(buf + off)) == hash_str(buf + off));
	}
	/* Low bits (a table's index) spread: 4096 sequential names over 1024 slots, as a uniform
	 * hash would (4 each on average; ~19 slots empty, none above 18 but once in 10^4). */
	for (int i = 0; i < 4096; i++) {
		snprintf(s, sizeof(s), "container-%d", i);
		low[hash_str(s) & 1023]++;
	}
	n = 0;
	for (int i = 0; i < 1024; i++) {
		assert_true(low[i] <= 18);
		n += !low[i];
	}
	assert_true(n <= 40);
	/* hash_add separates its parts. */
	assert_true(hash_add(hash_add(HASH_FNV_OFFSET, "ab"), "c") !=
		    hash_add(hash_add(HASH_FNV_OFFSET, "a"), "bc"));
}

/* strmap_key_join writes what snprintf("%zu/%s%zu/%s%s") wrote (the rules' and right-sizing's
 * keys, which the state file stores), truncated the same way at every buffer size. */
static void test_key_join(void **state)
{
	const char *lists[][4] = {
		{ "shop", "Deployment", "web", "app" },
		{ "", "", "", "" },
		{ "a/b", "1/x", "0123456789012", "c" },
	};

	(void)state;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		const char *const *p = lists[l];

		for (size_t size = 1; size < 48; size++) {
			char want[48], got[48];
			int n3 = snprintf(want, size, "%zu/%s%zu/%s%s", strlen(p[0]), p[0],
					  strlen(p[1]), p[1], p[2]);

			memset(got, 'x', sizeof(got));
			assert_int_equal(strmap_key_join(got, size, p, 3), (size_t)n3);
			assert_string_equal(got, want);
			n3 = snprintf(want, size, "%zu/%s%zu/%s%zu/%s%s", strlen(p[0]), p[0],
				      strlen(p[1]), p[1], strlen(p[2]), p[2], p[3]);
			assert_int_equal(strmap_key_join(got, size, p, 4), (size_t)n3);
			assert_string_equal(got, want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_grow_and_delete_while_iterating),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_key_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
