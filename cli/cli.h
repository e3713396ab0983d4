/* SPDX-License-Identifier: BSD-2-Clause */
/* Shared pieces of the bpfdiag subcommands. */
#ifndef BPFDIAG_CLI_H
#define BPFDIAG_CLI_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_EXIT_USAGE 2
#define DEFAULT_AGENT_URL "http://127.0.0.1:9810"

/* Set when run as the kubectl plugin (kubectl-bpfdiag): check and top ask the whole cluster. */
extern bool cli_kubectl_plugin;

int do_agent(int argc, char **argv);
int do_top(int argc, char **argv);
int do_check(int argc, char **argv);
int do_version(int argc, char **argv);

/* Prints "bpfdiag <cmd>: <message>" on one line to stderr; returns CLI_EXIT_USAGE. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports the option getopt_long rejected (argv[optind - 1]); returns CLI_EXIT_USAGE. */
int cli_bad_option(const char *cmd, int opt, char **argv);
/* Parses a positive number of seconds (at most max). Returns 0 or -EINVAL. */
int cli_parse_seconds(const char *s, double max, double *ret);

/* GETs url with a timeout. Returns 0 with *ret_body (free it) and *ret_status, or a negative
 * errno with a reason in err when nothing answered. */
int cli_http_get(const char *url, long timeout_ms, char **ret_body, long *ret_status, char *err,
		 size_t errlen);

#endif
