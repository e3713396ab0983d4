// SPDX-License-Identifier: BSD-2-Clause
/* strpool: one copy per distinct string, found again after growth, long strings, sealing; and
 * a snapshot's strings interned and repaired on the way in (snap_intern, snapshot_sanitize). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/hash.h"
#include "base/strpool.h"
#include "model/snapshot.h"

static void test_one_copy_per_string(void **state)
{
	struct strpool p = STRPOOL_INIT;
	char a[] = "kube-system", b[] = "kube-system", *heap = strdup("kube-system");
	char *x, *y, *z;

	(void)state;
	assert_null(strpool_find(&p, a));
	x = strpool_intern(&p, a);
	y = strpool_intern(&p, b);
	z = strpool_intern(&p, "default");
	assert_non_null(x);
	assert_ptr_equal(x, y);
	assert_ptr_not_equal(x, a);
	assert_string_equal(z, "default");
	assert_ptr_not_equal(x, z);
	assert_ptr_equal(strpool_find(&p, "default"), z);
	/* With the hash given: the same copies, one new string stored once. */
	assert_ptr_equal(strpool_find_hashed(&p, "default", hash_str("default")), z);
	assert_ptr_equal(strpool_intern_hashed(&p, b, strlen(b), hash_str(b)), x);
	y = strpool_intern_hashed(&p, "kube-public", 11, hash_str("kube-public"));
	assert_ptr_equal(strpool_intern(&p, "kube-public"), y);
	assert_ptr_equal(strpool_find(&p, "kube-public"), y);
	assert_true(strpool_owns(&p, x) && strpool_owns(&p, z));
	assert_false(strpool_owns(&p, heap));
	assert_false(strpool_owns(&p, a));
	free(heap);
	strpool_destroy(&p);
	assert_null(p.chunks);
}

static void test_growth_and_long_strings(void **state)
{
	struct strpool p = STRPOOL_INIT;
	static char *got[5000];
	char buf[64], *big = malloc(100000), *bigp;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 99999);
	big[99999] = '\0';
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "cri-containerd-%d.scope", i);
		got[i] = strpool_intern(&p, buf);
		assert_non_null(got[i]);
		if (i == 2500) {
			bigp = strpool_intern(&p, big);
			assert_non_null(bigp);
		}
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "cri-containerd-%d.scope", i);
		assert_ptr_equal(strpool_find(&p, buf), got[i]);
		assert_ptr_equal(strpool_intern(&p, buf), got[i]);
	}
	assert_ptr_equal(strpool_find(&p, big), bigp);
	assert_true(strpool_owns(&p, bigp + 50000));
	assert_int_equal(strlen(bigp), 99999);
	/* Storage is the bytes themselves, not a heap block per string. */
	assert_true(strpool_bytes(&p) < 5000 * 24 + 100000 + 64 * 1024 + 16384 * 16);
	free(big);
	strpool_destroy(&p);
}

static void test_seal(void **state)
{
	struct strpool p = STRPOOL_INIT;
	char *a = strpool_intern(&p, "a"), *a2;

	(void)state;
	strpool_seal(&p);
	assert_null(p.slots);
	assert_null(strpool_find(&p, "a"));
	assert_string_equal(a, "a");
	a2 = strpool_intern(&p, "a"); /* stored again: no index to find the first */
	assert_non_null(a2);
	assert_ptr_not_equal(a, a2);
	assert_true(strpool_owns(&p, a) && strpool_owns(&p, a2));
	strpool_destroy(&p);
}

/* Series share one copy of each label value; an ill-formed value is repaired once per use on
 * the way in and counted by snapshot_sanitize, which then drops the index; heap strings set by
 * hand are still checked and freed. */
static void test_snapshot_interns(void **state)
{
	struct snapshot *s = snapshot_new(3);
	const char *own[METRIC_MAX_OWN_LABELS] = { "8:0", "write" };

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 3; i++) {
		struct snap_series *se = &s->series[i];

		assert_ptr_equal(se->strings, &s->strings);
		se->labels[LBL_NAMESPACE] = snap_intern(se->strings, "shop");
		se->labels[LBL_POD] = snap_intern(se->strings, i == 2 ? "bad\xff" : "web");
		assert_int_equal(snap_series_add(se, M_DISK_BYTES, own, 1), 0);
	}
	assert_ptr_equal(s->series[0].labels[LBL_NAMESPACE], s->series[2].labels[LBL_NAMESPACE]);
	assert_ptr_equal(s->series[0].labels[LBL_POD], s->series[1].labels[LBL_POD]);
	assert_ptr_equal(s->series[0].points[0].own[0], s->series[1].points[0].own[0]);
	assert_string_equal(s->series[2].labels[LBL_POD], "bad\xef\xbf\xbd");
	assert_ptr_equal(snap_intern(&s->strings, NULL), snap_intern(&s->strings, ""));
	assert_string_equal(snap_intern(&s->strings, NULL), "");
	assert_int_equal(s->strings.repaired, 1);
	s->series[1].helm_chart = strdup("chart\xfe");
	assert_int_equal(snapshot_sanitize(s), 2);
	assert_int_equal(s->agent.invalid_utf8_strings, 2);
	assert_string_equal(s->series[1].helm_chart, "chart\xef\xbf\xbd");
	assert_null(s->strings.pool.slots);
	assert_null(snapshot_unref(s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_copy_per_string),
		cmocka_unit_test(test_growth_and_long_strings),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_snapshot_interns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
