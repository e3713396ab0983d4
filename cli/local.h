/* SPDX-License-Identifier: BSD-2-Clause */
/* The pipeline `bpfdiag top` and `bpfdiag check` run in-process when no agent answers (SPEC
 * §2): local mode (no Kubernetes), no pinned maps, this host's name as the node. */
#ifndef BPFDIAG_CLI_LOCAL_H
#define BPFDIAG_CLI_LOCAL_H

#include <stddef.h>

#include "pipeline/pipeline.h"

/* Loads the collector and makes the first collection; the log shows errors only. url and why
 * name the agent that did not answer and how. Returns 0, or a negative errno with one line in
 * err saying that neither the agent nor the in-process collector works, and why. */
int cli_local_pipeline(const struct rules_config *rules, const char *url, const char *why,
		       struct pipeline **ret, char *err, size_t errlen);

#endif
