// SPDX-License-Identifier: BSD-2-Clause
/* bpfdiag check: one-shot findings report, from a running agent or, when none answers, from
 * the pipeline run in-process over a short observation (SPEC §2). */
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster.h"
#include "codec/api_json.h"
#include "local.h"
#include "opts.h"
#include "top/top_json.h"
#include "top/top_snap.h"

#define CHECK_COLLECTIONS 30 /* in-process: collections over the observation */

struct check_opts {
	const char *agent;
	bool json;
	double duration;
	const char *rules_config;
	bool cluster;
	struct cluster_opts co;
};

#define OFF(field) offsetof(struct check_opts, field)

static const struct cli_opt check_opts[] = {
	{ "agent", "URL", "agent to ask", .def = DEFAULT_AGENT_URL, .parse = cli_parse_str,
	  .off = OFF(agent) },
	{ "json", NULL, "print the findings document as JSON", .parse = cli_parse_flag,
	  .off = OFF(json) },
	{ "duration", "SEC",
	  "in-process: how long to observe this host; the rules judge that window, with no "
	  "warm-up, from a collection every SEC/30",
	  .def = "30", .parse = cli_parse_secs, .max = 3600, .off = OFF(duration),
	  .want = "seconds in (0, 3600]" },
	{ "rules-config", "FILE",
	  "in-process: JSON thresholds per rule, rules on/off, as the agent's (docs/RULES.md)",
	  .parse = cli_parse_str, .off = OFF(rules_config) },
	CLUSTER_CLI_OPTS(struct check_opts, cluster, co, "findings", "10"),
};

static const struct cli_command check_cmd = {
	.name = "check",
	.usage = "[--agent URL] [--json] [--duration SEC] [--rules-config FILE]\n"
		 "       bpfdiag check --cluster [--kubeconfig FILE] [--context NAME] "
		 "[--namespace NS] [--json]",
	.about = "Prints the findings of the agent at URL. When nothing answers there, observes\n"
		 "this host in-process for --duration seconds (the collector and the rules, needs\n"
		 "root or CAP_BPF+CAP_PERFMON) and prints what the rules found.\n"
		 "With --cluster, asks every agent pod of the cluster through the API server and\n"
		 "prints one table: node, namespace, workload kind, workload, Helm release, rule,\n"
		 "suggested kind, message; an agent that does not answer is a NO-ANSWER row.\n"
		 "As the kubectl plugin (kubectl-bpfdiag), check means check --cluster.\n"
		 "Exit status: 0 no findings, 1 findings, 2 error.\n",
	.opts = check_opts,
	.n_opts = sizeof(check_opts) / sizeof(check_opts[0]),
};

static void print_report(const struct top_finding *fs, size_t n)
{
	if (n == 0) {
		puts("no findings");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct top_finding *f = &fs[i];

		printf("%s %-8s %s %s%s%s", f->rule, f->severity, f->kind, f->ns,
		       f->ns[0] ? "/" : "", f->workload);
		if (f->release[0])
			printf(" (release %s)", f->release);
		if (f->suggested[0])
			printf(" -> %s", f->suggested);
		printf("\n    %s\n    since %s", f->message, f->since);
		for (size_t e = 0; e < f->n_ev; e++)
			printf("; %s=%g", f->ev[e].name, f->ev[e].value);
		putchar('\n');
	}
}

/* The agent's findings; *ret_answered false when nothing answers at the URL. */
static int ask_agent(const struct check_opts *o, bool *ret_answered, char *why, size_t whylen)
{
	struct top_finding *fs = NULL;
	char url[1024], *doc = NULL;
	long status = 0;
	size_t n = 0;

	snprintf(url, sizeof(url), "%s/api/v1/findings", o->agent);
	*ret_answered = cli_http_get(url, 5000, &doc, &status, why, whylen) == 0;
	if (!*ret_answered)
		return 0;
	if (status != 200) {
		free(doc);
		return cli_error("check", "%s answered HTTP %ld", url, status);
	}
	if (top_findings_parse(doc, &fs, &n)) {
		free(doc);
		return cli_error("check", "%s did not answer a findings document", url);
	}
	if (o->json) {
		json_object *root = json_tokener_parse(doc);

		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
		json_object_put(root);
	} else {
		print_report(fs, n);
	}
	free(doc);
	top_findings_free(fs, n);
	return n ? 1 : 0;
}

/* No agent: the pipeline in-process for o->duration, then its findings. */
static int check_local(const struct check_opts *o, const char *why)
{
	struct rules_config rcfg;
	struct pipeline *pl = NULL;
	struct snapshot *s = NULL;
	struct top_finding *fs = NULL;
	struct strbuf doc = STRBUF_INIT;
	char err[1024];
	size_t n = 0;
	int r;

	/* The rules judge the whole observation: their window is its length. */
	rules_config_default(&rcfg, o->duration, 0);
	if (o->rules_config && rules_config_load(o->rules_config, &rcfg, err, sizeof(err)))
		return cli_error("check", "--rules-config %s: %s", o->rules_config, err);
	if (cli_local_pipeline(&rcfg, o->agent, why, &pl, err, sizeof(err)))
		return cli_error("check", "%s", err);
	fprintf(stderr, "bpfdiag check: no agent at %s; observing this host in-process for %gs\n",
		o->agent, o->duration);
	pipeline__run(pl, o->duration / CHECK_COLLECTIONS, -1, o->duration);
	s = pipeline__snapshot(pl);
	r = top_findings_from(s, &fs, &n);
	if (!r && o->json)
		r = api_findings_json(s, &doc);
	if (r) {
		r = cli_error("check", "out of memory");
	} else {
		if (o->json)
			fputs(doc.data, stdout);
		else
			print_report(fs, n);
		r = n ? 1 : 0;
	}
	strbuf_reset(&doc);
	top_findings_free(fs, n);
	snapshot_unref(s);
	pipeline__free(pl);
	return r;
}

int do_check(int argc, char **argv)
{
	struct check_opts o = { 0 };
	char why[512] = "";
	bool answered;
	int r;

	r = cli_opts_parse(&check_cmd, argc, argv, &o);
	if (r)
		return r < 0 ? 0 : r;
	if (o.cluster || cli_kubectl_plugin) {
		o.co.json = o.json;
		return cluster_check(&o.co);
	}
	r = ask_agent(&o, &answered, why, sizeof(why));
	return answered ? r : check_local(&o, why);
}
