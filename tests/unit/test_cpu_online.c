// SPDX-License-Identifier: BSD-2-Clause
/* The online-CPU list cpu_flush is run over: the kernel's CPU-list format parsed, and the file
 * read anew each collection, its last good list kept on a bad read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kernel/cpu_online.h"

/* The CPUs set in mask as a string of 0 and 1, CPU 0 first. */
static const char *bits(const uint64_t *mask, int ncpus)
{
	static char s[256];

	for (int i = 0; i < ncpus; i++)
		s[i] = cpu_in(mask, i) ? '1' : '0';
	s[ncpus] = '\0';
	return s;
}

static void test_parse(void **state)
{
	uint64_t m[3];

	(void)state;
	assert_int_equal(cpu_list_parse("0-1\n", m, 2), 2);
	assert_string_equal(bits(m, 2), "11");
	assert_int_equal(cpu_list_parse("0\n", m, 4), 1);
	assert_string_equal(bits(m, 4), "1000");
	assert_int_equal(cpu_list_parse("0-3,5,7-8", m, 10), 7);
	assert_string_equal(bits(m, 10), "1111010110");
	/* Overlapping ranges count each CPU once. */
	assert_int_equal(cpu_list_parse("1-3,2-4\n", m, 8), 4);
	assert_string_equal(bits(m, 8), "01111000");
	/* Past 64 CPUs: the second and third words. */
	assert_int_equal(cpu_list_parse("0,63-65,130\n", m, 160), 5);
	assert_true(cpu_in(m, 0) && cpu_in(m, 63) && cpu_in(m, 64) && cpu_in(m, 65) &&
		    cpu_in(m, 130));
	assert_false(cpu_in(m, 1) || cpu_in(m, 62) || cpu_in(m, 66) || cpu_in(m, 129));
	/* CPUs the maps have no slot for (past the possible ones) are left out. */
	assert_int_equal(cpu_list_parse("0-7\n", m, 4), 4);
	assert_string_equal(bits(m, 4), "1111");
	assert_int_equal(cpu_list_parse("6-7\n", m, 4), 0);
	/* No CPU online (an empty offline list has the same form). */
	assert_int_equal(cpu_list_parse("\n", m, 4), 0);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = { "x",	  "0-",	    "-1",  "3-1",	  "0,,1",
					   "0 1", "0-1\n2", "1.5", "99999999999", "0-1x" };
	uint64_t m[1];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		m[0] = ~0ull;
		assert_int_equal(cpu_list_parse(bad[i], m, 8), -1);
		assert_int_equal(m[0], 0); /* nothing taken from a bad list */
	}
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_read(void **state)
{
	char path[] = "/tmp/test_cpu_online.XXXXXX";
	struct cpu_online o;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	put(path, "0-3\n");
	assert_int_equal(cpu_online_open(&o, path, 4), 0);
	assert_int_equal(o.online, 4); /* before any read: every possible CPU */
	assert_int_equal(cpu_online_read(&o), 4);
	assert_string_equal(bits(o.mask, 4), "1111");
	/* A CPU goes offline, and comes back: the held file read at offset 0 sees each. */
	put(path, "0-1,3\n");
	assert_int_equal(cpu_online_read(&o), 3);
	assert_string_equal(bits(o.mask, 4), "1101");
	assert_int_equal(cpu_online_read(&o), 3); /* unchanged text: the same list */
	put(path, "0-3\n");
	assert_int_equal(cpu_online_read(&o), 4);
	/* A bad or empty list keeps the last good one. */
	put(path, "0-1,3\n");
	assert_int_equal(cpu_online_read(&o), 3);
	put(path, "garbage\n");
	assert_int_equal(cpu_online_read(&o), -1);
	assert_string_equal(bits(o.mask, 4), "1101");
	put(path, "");
	assert_int_equal(cpu_online_read(&o), -1);
	assert_string_equal(bits(o.mask, 4), "1101");
	cpu_online_close(&o);
	unlink(path);
	/* No file: every CPU stays online. */
	assert_int_equal(cpu_online_open(&o, "/nonexistent/online", 3), 0);
	assert_int_equal(cpu_online_read(&o), -1);
	assert_string_equal(bits(o.mask, 3), "111");
	cpu_online_close(&o);
}

/* The running kernel's list parses, and names at least the CPU this test runs on. */
static void test_this_host(void **state)
{
	struct cpu_online o;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	assert_int_equal(cpu_online_open(&o, NULL, 4096), 0);
	if (o.fd < 0) {
		cpu_online_close(&o);
		skip();
	}
	assert_int_equal(cpu_online_read(&o), n);
	cpu_online_close(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_this_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
