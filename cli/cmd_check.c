/* bpfdiag check: one-shot findings report from a running agent. */
#include <stddef.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "base/json.h"

struct check_opts {
	const char *agent;
	bool json;
};

#define OFF(field) offsetof(struct check_opts, field)

static const struct cli_opt check_opts[] = {
	{ "agent", "URL", "agent to ask", .def = DEFAULT_AGENT_URL, .parse = cli_parse_str,
	  .off = OFF(agent) },
	{ "json", NULL, "print the findings document as JSON", .parse = cli_parse_flag,
	  .off = OFF(json) },
};

static const struct cli_command check_cmd = {
	.name = "check",
	.usage = "[--agent URL] [--json]",
	.about = "Prints the findings of the agent at URL.\n"
		 "Exit status: 0 no findings, 1 findings, 2 error.\n",
	.opts = check_opts,
	.n_opts = sizeof(check_opts) / sizeof(check_opts[0]),
};

int do_check(int argc, char **argv)
{
	struct check_opts o = { 0 };
	json_object *root = NULL, *findings;
	char url[1024], err[512], *doc = NULL;
	long status = 0;
	size_t n;
	int r;

	r = cli_opts_parse(&check_cmd, argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	snprintf(url, sizeof(url), "%s/api/v1/findings", o.agent);
	r = cli_http_get(url, 5000, &doc, &status, err, sizeof(err));
	if (r)
		return cli_error("check",
				 "no agent answers at %s (%s); start one with 'bpfdiag agent' "
				 "(in-process checks need the rules engine, not in this build yet)",
				 o.agent, err);
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
	if (o.json) {
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
