// SPDX-License-Identifier: BSD-2-Clause
#include "local.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

int cli_local_pipeline(const struct rules_config *rules, const char *url, const char *why,
		       struct pipeline **ret, char *err, size_t errlen)
{
	struct pipeline_opts po = { .rules = *rules };
	struct pipeline *p = NULL;
	char host[256] = "", reason[512] = "";
	int r;

	gethostname(host, sizeof(host) - 1);
	po.engine.node_name = host;
	/* Its log lines would tear through the output: errors only. */
	log_set_level(LOG_ERROR);
	r = pipeline__new(&po, &p, reason, sizeof(reason));
	if (!r)
		r = pipeline__load(p, reason, sizeof(reason));
	if (r) {
		snprintf(err, errlen,
			 "no agent answers at %s and the in-process collector cannot start (it "
			 "needs root): %s; in-process: %s",
			 url, why, reason);
		pipeline__free(p);
		return r;
	}
	r = pipeline__collect(p);
	if (r) {
		snprintf(err, errlen, "the in-process collector failed: %s", strerror(-r));
		pipeline__free(p);
		return r;
	}
	*ret = p;
	return 0;
}
