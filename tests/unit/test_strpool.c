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
#include "base/utf8.h"
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

/* snap_intern_stable finds a string again by its address: a buffer written again at the same
 * address is not what it is for, but a string interned by address and by contents is one
 * copy; an ill-formed one is repaired and counted at each use, as snap_intern counts it. */
static void test_snapshot_intern_stable(void **state)
{
	struct snapshot *s = snapshot_new(2);
	char a[] = "volume-a", b[] = "volume-a", bad[] = "x\xff";
	const char *own[METRIC_MAX_OWN_LABELS] = { a, "write" };

	(void)state;
	assert_non_null(s);
	assert_ptr_equal(snap_intern_stable(&s->strings, a), snap_intern_stable(&s->strings, a));
	assert_ptr_equal(snap_intern_stable(&s->strings, b), snap_intern(&s->strings, a));
	assert_ptr_not_equal(snap_intern_stable(&s->strings, a), a);
	assert_string_equal(snap_intern_stable(&s->strings, NULL), "");
	assert_string_equal(snap_intern_stable(&s->strings, bad), "x\xef\xbf\xbd");
	assert_string_equal(snap_intern_stable(&s->strings, bad), "x\xef\xbf\xbd");
	assert_int_equal(s->strings.repaired, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(snap_series_add_stable(&s->series[i], M_FS_WRITE_BYTES, own, i),
				 0);
	assert_ptr_equal(s->series[0].points[0].own[0], s->series[1].points[0].own[0]);
	assert_string_equal(s->series[1].points[0].own[1], "write");
	assert_int_equal(snapshot_sanitize(s), 2);
	assert_null(s->strings.memo);
	/* sealed: still interned, no memo */
	assert_string_equal(snap_intern_stable(&s->strings, a), "volume-a");
	assert_null(s->strings.memo);
	assert_null(snapshot_unref(s));
}

/* A snapshot's series array is used again by the next snapshot: zeroed, nothing of the last
 * one's left (a stale point, label or delta would be served as the new collection's). Points
 * reserved are room, not points; more than reserved grow. */
static void test_snapshot_series_reused(void **state)
{
	struct snapshot *s = snapshot_new(40), *t;
	struct snap_series *old;

	(void)state;
	assert_non_null(s);
	old = s->series;
	for (int i = 0; i < 40; i++) {
		struct snap_series *se = &s->series[i];

		se->labels[LBL_POD] = snap_intern(se->strings, "web");
		se->delta.cpu_seconds = 7;
		se->rates.cpu_cores = 3;
		se->cgroups = 2;
		assert_int_equal(snap_series_reserve(se, 2), 0);
		assert_int_equal(se->n_points, 0);
		for (int p = 0; p < 5; p++)
			assert_int_equal(snap_series_add(se, M_CPU_SECONDS, NULL, p), 0);
		assert_int_equal(se->n_points, 5);
		assert_true(se->cap_points >= 5);
		assert_true(se->points[4].value == 4);
	}
	assert_null(snapshot_unref(s));
	t = snapshot_new(38);
	assert_non_null(t);
	assert_ptr_equal(t->series, old); /* the same storage… */
	for (int i = 0; i < 38; i++) {
		const struct snap_series *se = &t->series[i];

		assert_ptr_equal(se->strings, &t->strings); /* …set up anew */
		assert_string_equal(se->labels[LBL_POD], "");
		assert_int_equal(se->n_points, 0);
		assert_int_equal(se->cap_points, 0);
		assert_null(se->points);
		assert_true(se->delta.cpu_seconds == 0 && se->rates.cpu_cores == 0);
		assert_int_equal(se->cgroups, 0);
	}
	/* larger than it: a new array; much smaller: not kept for it */
	s = snapshot_new(400);
	assert_non_null(s);
	assert_int_equal(s->n_series, 400);
	assert_true(s->cap_series >= 400);
	s->series[399].cgroups = 1;
	assert_null(snapshot_unref(s));
	s = snapshot_new(1);
	assert_true(s->cap_series < 400);
	assert_null(snapshot_unref(s));
	assert_null(snapshot_unref(t));
}

/* utf8_valid takes ASCII eight bytes at a time: a bad byte, a good multi-byte character or
 * one cut short is found wherever it stands. */
static void test_utf8_valid_any_offset(void **state)
{
	(void)state;
	for (size_t at = 0; at < 24; at++) {
		char s[32];

		memset(s, 'a', sizeof(s));
		s[at] = (char)0xff;
		assert_false(utf8_valid(s, 26));
		assert_true(utf8_valid(s, at));
		s[at] = (char)0xc3; /* é */
		s[at + 1] = (char)0xa9;
		assert_true(utf8_valid(s, 26));
		assert_false(utf8_valid(s, at + 1)); /* cut short */
		s[at + 1] = 'a';
		assert_false(utf8_valid(s, 26)); /* a lead byte without its continuation */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_copy_per_string),
		cmocka_unit_test(test_growth_and_long_strings),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_snapshot_interns),
		cmocka_unit_test(test_snapshot_intern_stable),
		cmocka_unit_test(test_snapshot_series_reused),
		cmocka_unit_test(test_utf8_valid_any_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
