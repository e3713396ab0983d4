// SPDX-License-Identifier: BSD-2-Clause
/* The option tables (cli/opts.c): defaults, environment and command line in that order, one
 * line and exit 2 for bad input, and a --help that lists every option with its value, variable
 * and default. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"
#include "opts.h"

struct test_opts {
	const char *listen;
	const char *file;
	double interval, warmup;
	bool once;
	int mode;
	int custom; /* the source a custom parser saw */
};

static int parse_custom(const struct cli_opt *opt, const char *value, enum cli_source src,
			void *opts)
{
	(void)opt;
	if (strcmp(value, "bad") == 0)
		return -EINVAL;
	((struct test_opts *)opts)->custom = (int)src;
	return 0;
}

static const char *const modes[] = { "auto", "fast", "slow", NULL };

#define OFF(field) offsetof(struct test_opts, field)

static const struct cli_opt opts[] = {
	{ "listen", "ADDR:PORT", "HTTP endpoint", "TEST_LISTEN", "0.0.0.0:1", cli_parse_str,
	  OFF(listen) },
	{ "file", "FILE",
	  "a file whose help text is long enough to wrap onto a second line: "
	  "the words of this second line start under the first",
	  .parse = cli_parse_str, .off = OFF(file) },
	{ "interval", "SEC", "period", "TEST_INTERVAL", "5", cli_parse_secs, OFF(interval), 3600,
	  "seconds in (0, 3600]" },
	{ "warmup", "SEC", "age", .def = "300", .parse = cli_parse_secs0, .off = OFF(warmup),
	  .max = 600, .want = "seconds in [0, 600]" },
	{ "once", NULL, "one round", .parse = cli_parse_flag, .off = OFF(once) },
	{ "mode", "MODE", "how", .def = "auto", .parse = cli_parse_choice, .off = OFF(mode),
	  .choices = modes, .want = "auto, fast or slow" },
	{ "custom", "X", "custom", .def = "x", .parse = parse_custom, .want = "not bad" },
};

static const struct cli_command cmd = {
	.name = "test",
	.usage = "[options]",
	.about = "A test command.\n",
	.epilogue = "After the options.\n",
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
};

/* stderr and stdout of the last parse. */
static char *err_text, *out_text;

static int parse(struct test_opts *o, ...)
{
	char *argv[16] = { "test" };
	int argc = 1, r;
	size_t en = 0, on = 0;
	FILE *saved_err = stderr, *saved_out = stdout;
	va_list ap;

	va_start(ap, o);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	free(err_text);
	free(out_text);
	stderr = open_memstream(&err_text, &en);
	stdout = open_memstream(&out_text, &on);
	*o = (struct test_opts){ 0 };
	r = cli_opts_parse(&cmd, argc, argv, o);
	fclose(stderr);
	fclose(stdout);
	stderr = saved_err;
	stdout = saved_out;
	return r;
}

static void test_defaults_env_argv(void **state)
{
	struct test_opts o;

	(void)state;
	unsetenv("TEST_LISTEN");
	unsetenv("TEST_INTERVAL");
	assert_int_equal(parse(&o, NULL), 0);
	assert_string_equal(o.listen, "0.0.0.0:1");
	assert_null(o.file);
	assert_float_equal(o.interval, 5, 0);
	assert_float_equal(o.warmup, 300, 0);
	assert_false(o.once);
	assert_int_equal(o.mode, 0);
	assert_int_equal(o.custom, CLI_SRC_DEFAULT);
	/* The environment beats the default, the command line beats both; "" is unset. */
	setenv("TEST_LISTEN", "127.0.0.1:2", 1);
	setenv("TEST_INTERVAL", "", 1);
	assert_int_equal(parse(&o, NULL), 0);
	assert_string_equal(o.listen, "127.0.0.1:2");
	assert_float_equal(o.interval, 5, 0);
	setenv("TEST_INTERVAL", "0.5", 1);
	assert_int_equal(parse(&o, "--listen", "127.0.0.1:3", "--once", "--mode", "slow",
			       "--warmup", "0", "--file=f", "--custom", "y", NULL),
			 0);
	assert_string_equal(o.listen, "127.0.0.1:3");
	assert_float_equal(o.interval, 0.5, 0);
	assert_float_equal(o.warmup, 0, 0);
	assert_true(o.once);
	assert_int_equal(o.mode, 2);
	assert_string_equal(o.file, "f");
	assert_int_equal(o.custom, CLI_SRC_ARGV);
	assert_string_equal(err_text, "");
	unsetenv("TEST_LISTEN");
	unsetenv("TEST_INTERVAL");
}

static void test_bad_input(void **state)
{
	struct test_opts o;

	(void)state;
	assert_int_equal(parse(&o, "--bogus", NULL), CLI_EXIT_USAGE);
	assert_string_equal(err_text, "bpfdiag test: unknown option '--bogus' (see 'bpfdiag test "
				      "--help')\n");
	assert_int_equal(parse(&o, "-x", NULL), CLI_EXIT_USAGE);
	assert_non_null(strstr(err_text, "unknown option '-x'"));
	assert_int_equal(parse(&o, "--interval", NULL), CLI_EXIT_USAGE);
	assert_string_equal(err_text, "bpfdiag test: option '--interval' needs a value (see "
				      "'bpfdiag test --help')\n");
	assert_int_equal(parse(&o, "--interval", "0", NULL), CLI_EXIT_USAGE);
	assert_string_equal(err_text,
			    "bpfdiag test: bad --interval '0': want seconds in (0, 3600]\n");
	assert_int_equal(parse(&o, "--warmup", "601", NULL), CLI_EXIT_USAGE);
	assert_int_equal(parse(&o, "--warmup", "0.0", NULL), CLI_EXIT_USAGE);
	assert_int_equal(parse(&o, "--mode", "Fast", NULL), CLI_EXIT_USAGE);
	assert_string_equal(err_text, "bpfdiag test: bad --mode 'Fast': want auto, fast or slow\n");
	assert_int_equal(parse(&o, "--custom", "bad", NULL), CLI_EXIT_USAGE);
	assert_int_equal(parse(&o, "extra", NULL), CLI_EXIT_USAGE);
	assert_string_equal(err_text, "bpfdiag test: unexpected argument 'extra' (see 'bpfdiag "
				      "test --help')\n");
	/* A bad variable is named as such. */
	setenv("TEST_INTERVAL", "soon", 1);
	assert_int_equal(parse(&o, NULL), CLI_EXIT_USAGE);
	assert_string_equal(err_text,
			    "bpfdiag test: bad TEST_INTERVAL 'soon': want seconds in (0, 3600]\n");
	unsetenv("TEST_INTERVAL");
	assert_string_equal(out_text, "");
}

static void test_help(void **state)
{
	struct test_opts o;
	const char *line;

	(void)state;
	assert_int_equal(parse(&o, "--once", "--help", "--bogus", NULL), -1);
	assert_string_equal(err_text, "");
	assert_int_equal(
		strncmp(out_text, "Usage: bpfdiag test [options]\n\nA test command.\n", 47), 0);
	assert_non_null(strstr(out_text, "Options (environment variable in brackets):\n"));
	/* Every option, with its value, variable and default, the description at one column. */
	for (size_t i = 0; i < cmd.n_opts; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n  --%s%s%s", opts[i].name, opts[i].arg ? " " : "",
			 opts[i].arg ? opts[i].arg : "");
		line = strstr(out_text, want);
		assert_non_null(line);
		assert_int_equal(line[strlen(want)], ' ');
		assert_int_not_equal(line[27], ' ');
		assert_int_equal(line[26], ' ');
	}
	assert_non_null(strstr(out_text, "HTTP endpoint [TEST_LISTEN] (default 0.0.0.0:1)\n"));
	assert_non_null(strstr(out_text, "period [TEST_INTERVAL] (default 5)\n"));
	/* Long text wraps under its column. */
	assert_non_null(
		strstr(out_text, "line:\n                          the words of this second line"));
	assert_non_null(strstr(out_text, "\n  -h, --help              this help\n\nAfter the "
					 "options.\n"));
	for (line = out_text; (line = strchr(line, '\n')); line++)
		assert_true(strcspn(line + 1, "\n") <= 92);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_env_argv),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_help),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	free(err_text);
	free(out_text);
	return r;
}
