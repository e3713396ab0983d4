/* SPDX-License-Identifier: BSD-2-Clause */
/* Option tables: one table per command generates its getopt_long options, its --help text and
 * its environment fallbacks, so that the three cannot drift apart. Values are applied in order:
 * the table's defaults, then the environment, then the command line; each goes through the
 * option's parser, which writes into the command's options struct. */
#ifndef BPFDIAG_CLI_OPTS_H
#define BPFDIAG_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

/* Where a value comes from. */
enum cli_source { CLI_SRC_DEFAULT = 0, CLI_SRC_ENV, CLI_SRC_ARGV };

struct cli_opt;
/* Parses value into opts (the command's options struct; opt->off locates the field). Returns
 * 0, or -EINVAL when the value is bad (the caller names the option and opt->want). */
typedef int (*cli_parse_fn)(const struct cli_opt *opt, const char *value, enum cli_source src,
			    void *opts);

struct cli_opt {
	const char *name; /* the long option, without "--" */
	const char *arg; /* the value's name in --help ("SEC"); NULL: a flag, which takes none */
	const char *help; /* what it does, for --help (wrapped there) */
	const char *env; /* read when the option is not given, or NULL */
	const char *def; /* the default, parsed like a given value and shown in --help; or NULL */
	cli_parse_fn parse; /* for a flag, called with value NULL */
	size_t off; /* offsetof() the field the parser writes */
	double max; /* largest number the numeric parsers accept */
	const char *want; /* a good value, as in "bad --NAME 'VALUE': want WANT" */
	const char *const *choices; /* cli_parse_choice: the words, NULL-terminated */
};

struct cli_command {
	const char *name; /* "agent" */
	const char *usage; /* what follows "Usage: bpfdiag NAME " */
	const char *about; /* the paragraph after the usage line, already wrapped */
	const char *epilogue; /* printed after the options (or NULL), already wrapped */
	const struct cli_opt *opts;
	size_t n_opts;
};

/* Parses argv (argv[0] is the command) into opts. Returns 0; -1 after printing the help on
 * stdout (--help); or CLI_EXIT_USAGE after one line on stderr naming the problem. */
int cli_opts_parse(const struct cli_command *cmd, int argc, char **argv, void *opts);
/* Writes the --help text. */
void cli_opts_help(const struct cli_command *cmd, FILE *f);

/* Parsers for the common field types. */
int cli_parse_str(const struct cli_opt *opt, const char *value, enum cli_source src,
		  void *opts); /* const char *, borrowed from argv, environ or the table */
int cli_parse_flag(const struct cli_opt *opt, const char *value, enum cli_source src,
		   void *opts); /* bool, set to true */
int cli_parse_secs(const struct cli_opt *opt, const char *value, enum cli_source src,
		   void *opts); /* double, seconds in (0, max] */
int cli_parse_secs0(const struct cli_opt *opt, const char *value, enum cli_source src,
		    void *opts); /* double, "0" or seconds in (0, max] */
int cli_parse_choice(const struct cli_opt *opt, const char *value, enum cli_source src,
		     void *opts); /* int, the index of value in opt->choices */

#endif
