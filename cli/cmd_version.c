// SPDX-License-Identifier: BSD-2-Clause
#include <bpf/libbpf.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "base/version.h"

int do_version(int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			printf("Usage: bpfdiag version\n\nPrints the version, revision and libbpf "
			       "version.\n");
			return 0;
		}
		return cli_error("version",
				 "unexpected argument '%s' (see 'bpfdiag version --help')",
				 argv[1]);
	}
	printf("bpfdiag %s (revision %s, libbpf %s)\n", BPFDIAG_VERSION, BPFDIAG_REVISION,
	       libbpf_version_string());
	return 0;
}
