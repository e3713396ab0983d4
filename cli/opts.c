// SPDX-License-Identifier: BSD-2-Clause
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define HELP_INDENT 26 /* where option descriptions start */
#define HELP_WIDTH 92 /* where they wrap */
#define OPT_VAL_BASE 256 /* getopt_long's value for table entry i: OPT_VAL_BASE + i */

static void *field(const struct cli_opt *opt, void *opts)
{
	return (char *)opts + opt->off;
}

int cli_parse_str(const struct cli_opt *opt, const char *value, enum cli_source src, void *opts)
{
	(void)src;
	*(const char **)field(opt, opts) = value;
	return 0;
}

int cli_parse_flag(const struct cli_opt *opt, const char *value, enum cli_source src, void *opts)
{
	(void)value;
	(void)src;
	*(bool *)field(opt, opts) = true;
	return 0;
}

int cli_parse_secs(const struct cli_opt *opt, const char *value, enum cli_source src, void *opts)
{
	(void)src;
	return cli_parse_seconds(value, opt->max, (double *)field(opt, opts));
}

int cli_parse_secs0(const struct cli_opt *opt, const char *value, enum cli_source src, void *opts)
{
	if (strcmp(value, "0") == 0) {
		*(double *)field(opt, opts) = 0;
		return 0;
	}
	return cli_parse_secs(opt, value, src, opts);
}

int cli_parse_choice(const struct cli_opt *opt, const char *value, enum cli_source src, void *opts)
{
	(void)src;
	for (int i = 0; opt->choices[i]; i++) {
		if (strcmp(value, opt->choices[i]) == 0) {
			*(int *)field(opt, opts) = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Applies one value, or names the problem ("--interval" or the variable) and returns
 * CLI_EXIT_USAGE. */
static int apply(const struct cli_command *cmd, const struct cli_opt *opt, const char *value,
		 enum cli_source src, void *opts)
{
	if (!opt->parse(opt, value, src, opts))
		return 0;
	if (src == CLI_SRC_ENV)
		return cli_error(cmd->name, "bad %s '%s': want %s", opt->env, value, opt->want);
	return cli_error(cmd->name, "bad --%s '%s': want %s", opt->name, value, opt->want);
}

/* Writes text word-wrapped from column col up to HELP_WIDTH, continuation lines indented to
 * HELP_INDENT. NBSP joins words that stay on one line; it prints as a space. */
#define NBSP '\x01'

static void wrap(FILE *f, int col, const char *text)
{
	const char *p = text;
	bool first = true;

	while (*p) {
		size_t n = strcspn(p, " ");

		if (!first && col + 1 + (int)n > HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_INDENT, "");
			col = HELP_INDENT;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		for (size_t i = 0; i < n; i++)
			fputc(p[i] == NBSP ? ' ' : p[i], f);
		col += (int)n;
		p += n;
		p += strspn(p, " ");
		first = false;
	}
	fputc('\n', f);
}

void cli_opts_help(const struct cli_command *cmd, FILE *f)
{
	bool env = false;

	for (size_t i = 0; i < cmd->n_opts; i++)
		env |= cmd->opts[i].env != NULL;
	fprintf(f, "Usage: bpfdiag %s %s\n\n%s\n%s\n", cmd->name, cmd->usage, cmd->about,
		env ? "Options (environment variable in brackets):" : "Options:");
	for (size_t i = 0; i < cmd->n_opts; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		char label[128], text[1024];
		int col;

		col = snprintf(label, sizeof(label), "  --%s%s%s", o->name, o->arg ? " " : "",
			       o->arg ? o->arg : "");
		snprintf(text, sizeof(text), "%s%s%s%s%s%s%s", o->help, o->env ? " [" : "",
			 o->env ? o->env : "", o->env ? "]" : "", o->def ? " (default " : "",
			 o->def ? o->def : "", o->def ? ")" : "");
		/* "(default 60)" is never cut after "(default". */
		for (char *q = text; (q = strstr(q, "(default ")); q += 9)
			q[8] = NBSP;
		/* A long label pushes its text to the right: two spaces after it. */
		fprintf(f, "%s%*s", label, col + 2 > HELP_INDENT ? 2 : HELP_INDENT - col, "");
		wrap(f, col + 2 > HELP_INDENT ? col + 2 : HELP_INDENT, text);
	}
	fprintf(f, "  -h, --help%*sthis help\n", HELP_INDENT - 12, "");
	if (cmd->epilogue)
		fprintf(f, "\n%s", cmd->epilogue);
}

int cli_opts_parse(const struct cli_command *cmd, int argc, char **argv, void *opts)
{
	struct option *longopts = calloc(cmd->n_opts + 2, sizeof(*longopts));
	int opt, r = 0;

	if (!longopts)
		return cli_error(cmd->name, "out of memory");
	for (size_t i = 0; i < cmd->n_opts && !r; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		const char *v = o->env ? getenv(o->env) : NULL;

		longopts[i] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					       NULL, OPT_VAL_BASE + (int)i };
		if (o->def)
			r = apply(cmd, o, o->def, CLI_SRC_DEFAULT, opts);
		if (!r && v && *v)
			r = apply(cmd, o, v, CLI_SRC_ENV, opts);
	}
	longopts[cmd->n_opts] = (struct option){ "help", no_argument, NULL, 'h' };
	opterr = 0;
	optind = 1;
	while (!r && (opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			cli_opts_help(cmd, stdout);
			r = -1;
		} else if (opt >= OPT_VAL_BASE && opt < OPT_VAL_BASE + (int)cmd->n_opts) {
			r = apply(cmd, &cmd->opts[opt - OPT_VAL_BASE], optarg, CLI_SRC_ARGV, opts);
		} else {
			r = cli_bad_option(cmd->name, opt, argv);
		}
	}
	if (!r && optind < argc)
		r = cli_error(cmd->name, "unexpected argument '%s' (see 'bpfdiag %s --help')",
			      argv[optind], cmd->name);
	free(longopts);
	return r;
}
