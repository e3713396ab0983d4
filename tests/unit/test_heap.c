// SPDX-License-Identifier: BSD-2-Clause
/* base/heap: the trim is rate-limited to once per HEAP_TRIM_SECONDS (what it returns to the
 * kernel is measured on a release build: under ASan malloc_trim has nothing to do). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/heap.h"

static void test_trim_rate(void **state)
{
	double last = 0;

	(void)state;
	heap_tune();
	assert_true(heap_trim_maybe(&last, 1000));
	assert_false(heap_trim_maybe(&last, 1000 + HEAP_TRIM_SECONDS - 1));
	assert_true(heap_trim_maybe(&last, 1000 + HEAP_TRIM_SECONDS + 1));
	assert_true(last == 1000 + HEAP_TRIM_SECONDS + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
