// SPDX-License-Identifier: BSD-2-Clause
/* bpfdiag: one binary, subcommands dispatched from a table (bpftool-style). */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
	const char *summary;
};

static const struct cmd cmds[] = {
	{ "agent", do_agent, "run the collector daemon (foreground; logs to stderr)" },
	{ "top", do_top, "live per-container view of this node" },
	{ "check", do_check, "one-shot findings report; exit 0 none, 1 findings, 2 error" },
	{ "version", do_version, "print the version" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: bpfdiag COMMAND [options]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nRun 'bpfdiag COMMAND --help' for a command's options.\n");
}

bool cli_kubectl_plugin;

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	int r;

	self = self ? self + 1 : argv[0];
	/* kubectl runs "kubectl bpfdiag check …" as "kubectl-bpfdiag check …" */
	cli_kubectl_plugin = strcmp(self, "kubectl-bpfdiag") == 0;

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return do_version(1, argv + 1);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			curl_global_init(CURL_GLOBAL_DEFAULT);
			r = cmds[i].func(argc - 1, argv + 1);
			curl_global_cleanup();
			return r;
		}
	}
	fprintf(stderr, "bpfdiag: unknown command '%s' (run 'bpfdiag --help')\n", argv[1]);
	return CLI_EXIT_USAGE;
}
