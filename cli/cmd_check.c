/* bpfdiag check: one-shot findings report from a running agent. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "base/json.h"

static const char usage_text[] =
	"Usage: bpfdiag check [--agent URL] [--json]\n"
	"\n"
	"Prints the findings of the agent at URL (default " DEFAULT_AGENT_URL ").\n"
	"Exit status: 0 no findings, 1 findings, 2 error.\n"
	"\n"
	"  --agent URL  agent to ask\n"
	"  --json       print the findings document as JSON\n"
	"  -h, --help   this help\n";

int do_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *agent = DEFAULT_AGENT_URL;
	json_object *root = NULL, *findings;
	char url[1024], err[512], *doc = NULL;
	bool json = false;
	long status = 0;
	size_t n;
	int opt, r;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			agent = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return cli_bad_option("check", opt, argv);
		}
	}
	if (optind < argc)
		return cli_error("check", "unexpected argument '%s' (see 'bpfdiag check --help')",
				 argv[optind]);
	snprintf(url, sizeof(url), "%s/api/v1/findings", agent);
	r = cli_http_get(url, 5000, &doc, &status, err, sizeof(err));
	if (r)
		return cli_error("check",
				 "no agent answers at %s (%s); start one with 'bpfdiag agent' "
				 "(in-process checks need the rules engine, not in this build yet)",
				 agent, err);
	if (status != 200) {
		free(doc);
		return cli_error("check", "%s answered HTTP %ld", url, status);
	}
	root = json_tokener_parse(doc);
	free(doc);
	if (!root || !json_object_object_get_ex(root, "findings", &findings) ||
	    !json_object_is_type(findings, json_type_array)) {
		json_object_put(root);
		return cli_error("check", "%s did not answer a findings document", url);
	}
	n = json_object_array_length(findings);
	if (json) {
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	} else if (n == 0) {
		puts("no findings");
	} else {
		for (size_t i = 0; i < n; i++) {
			json_object *f = json_object_array_get_idx(findings, i), *ev;
			const char *kind = json_get_str_or_empty(f, "workload_kind"),
				   *ns = json_get_str_or_empty(f, "namespace");

			printf("%s %-8s %s %s%s%s", json_get_str_or_empty(f, "rule"),
			       json_get_str_or_empty(f, "severity"), kind, ns[0] ? ns : "",
			       ns[0] ? "/" : "", json_get_str_or_empty(f, "workload"));
			if (json_get_str_or_empty(f, "helm_release")[0])
				printf(" (release %s)", json_get_str_or_empty(f, "helm_release"));
			if (json_get_str_or_empty(f, "suggested_kind")[0])
				printf(" -> %s", json_get_str_or_empty(f, "suggested_kind"));
			printf("\n    %s\n    since %s", json_get_str_or_empty(f, "message"),
			       json_get_str_or_empty(f, "since"));
			if (json_object_object_get_ex(f, "evidence", &ev) &&
			    json_object_is_type(ev, json_type_object)) {
				json_object_object_foreach(ev, k, v) {
					printf("; %s=%g", k, json_object_get_double(v));
				}
			}
			putchar('\n');
		}
	}
	json_object_put(root);
	return n ? 1 : 0;
}
