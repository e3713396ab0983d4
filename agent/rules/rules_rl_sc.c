// SPDX-License-Identifier: BSD-2-Clause
/* The reliability and security rules (RL-*, SC-*, SPEC §5): probes on what serves, and no more
 * privilege or writable filesystem than the workload uses. */
#include "rules/rule_def.h"

#include <stdio.h>

/* ---- RL-01 missing-probes ---- */

static bool rl01_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)th;
	(void)w;
	(void)t;
	return b->unprobed_conns > 0;
}

static void rl01_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	snprintf(f->message, sizeof(f->message),
		 "%s %s accepts connections on :%u (%.1f/s) but has no readiness probe: add "
		 "one on the observed port.",
		 w->kind, w->name, s->unprobed_port, s->unprobed_conns / t);
	rule_evidence(f, "listening_port", s->unprobed_port);
	rule_evidence(f, "server_connections_per_second", s->unprobed_conns / t);
}

/* ---- SC-01 privileged (static) ---- */

static bool sc01_holds(const struct rule_workload *w)
{
	return w->privileged || w->host_ns;
}

static void sc01_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	(void)s;
	(void)t;
	snprintf(f->message, sizeof(f->message), "%s %s runs %s: drop what it does not need.",
		 w->kind, w->name, w->privileged ? "privileged" : "in host namespaces");
}

/* ---- SC-03 rootfs-could-be-readonly ---- */

static bool sc03_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)th;
	(void)t;
	return b->fs_bytes[VOLUME_ROOTFS] == 0 && w->ro_unset;
}

static void sc03_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	(void)t;
	snprintf(f->message, sizeof(f->message),
		 "%s %s wrote nothing to its container filesystem in %.0f s: set "
		 "readOnlyRootFilesystem.",
		 w->kind, w->name, s->seconds);
	rule_evidence(f, "window_seconds", s->seconds);
}

const struct rule_def rules_rl_sc[] = {
	{
		.id = RULE_RL01,
		.code = "RL-01",
		.name = "missing-probes",
		.severity = "medium",
		.suggests = "",
		.kinds = RK_DEPLOYMENT | RK_STATEFULSET | RK_DAEMONSET,
		.crosses = rl01_crosses,
		.describe = rl01_describe,
	},
	{
		.id = RULE_SC01,
		.code = "SC-01",
		.name = "privileged",
		.severity = "high",
		.suggests = "",
		.kinds = RK_ALL & ~RK_DAEMONSET, /* node agents legitimately use host namespaces */
		.holds = sc01_holds,
		.describe = sc01_describe,
	},
	{
		.id = RULE_SC03,
		.code = "SC-03",
		.name = "rootfs-could-be-readonly",
		.severity = "low",
		.suggests = "",
		.kinds = RK_ALL,
		.crosses = sc03_crosses,
		.describe = sc03_describe,
	},
};

const size_t rules_rl_sc_n = sizeof(rules_rl_sc) / sizeof(rules_rl_sc[0]);
