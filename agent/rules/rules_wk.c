// SPDX-License-Identifier: BSD-2-Clause
/* The workload-kind rules (WK-*, SPEC §5): does the controller kind fit what the workload does?
 * Storage and peers want a StatefulSet, the stateless a Deployment, node agents a DaemonSet. */
#include "rules/rule_def.h"

#include <stdio.h>
#include <string.h>

/* ---- WK-01 rootfs-durable-writes ---- */

enum { WK01_WRITE_BPS, WK01_FSYNC_PS };

static bool wk01_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	return b->fs_bytes[VOLUME_ROOTFS] / t >= th[WK01_WRITE_BPS] &&
	       b->fs_syncs[VOLUME_ROOTFS] / t >= th[WK01_FSYNC_PS];
}

static void wk01_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32];

	/* Per-replica data in a StatefulSet: a claim template, not another kind. */
	if (w->kind_bit == RK_STATEFULSET)
		f->suggested_kind[0] = '\0';
	rule_fmt_bytes(a, sizeof(a), s->fs_bytes[VOLUME_ROOTFS] / t);
	snprintf(f->message, sizeof(f->message),
		 "%s %s writes %s and fsyncs %.1f/s into its container filesystem, which is "
		 "lost on restart: put the data on a PVC%s.",
		 w->kind, w->name, a, s->fs_syncs[VOLUME_ROOTFS] / t,
		 f->suggested_kind[0] ?
			 " (per-replica data: a StatefulSet with volumeClaimTemplates)" :
			 "");
	rule_evidence(f, "rootfs_write_bytes_per_second", s->fs_bytes[VOLUME_ROOTFS] / t);
	rule_evidence(f, "rootfs_fsync_per_second", s->fs_syncs[VOLUME_ROOTFS] / t);
}

/* ---- WK-02 emptydir-as-durable ---- */

enum { WK02_FSYNC_PS, WK02_WRITE_BPS };

static bool wk02_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	return b->fs_syncs[VOLUME_EMPTYDIR] / t >= th[WK02_FSYNC_PS] &&
	       b->fs_bytes[VOLUME_EMPTYDIR] / t >= th[WK02_WRITE_BPS];
}

static void wk02_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32];

	rule_fmt_bytes(a, sizeof(a), s->fs_bytes[VOLUME_EMPTYDIR] / t);
	snprintf(f->message, sizeof(f->message),
		 "%s %s fsyncs %.1f/s and writes %s into an emptyDir, which dies with the "
		 "pod: use a StatefulSet with volumeClaimTemplates, or set a sizeLimit if "
		 "it is only scratch space.",
		 w->kind, w->name, s->fs_syncs[VOLUME_EMPTYDIR] / t, a);
	rule_evidence(f, "emptydir_fsync_per_second", s->fs_syncs[VOLUME_EMPTYDIR] / t);
	rule_evidence(f, "emptydir_write_bytes_per_second", s->fs_bytes[VOLUME_EMPTYDIR] / t);
}

/* ---- WK-03 rwo-pvc-multi-replica (static) ---- */

/* Several replicas share a ReadWriteOnce claim, or a rollout would: RollingUpdate starts the
 * new pod before the old one stops, at any replica count. */
static bool wk03_holds(const struct rule_workload *w)
{
	return w->f.rwo_claim[0] && (w->f.replicas > 1 || w->f.hpa_max > 1 || w->f.rolling_update);
}

static void wk03_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	(void)s;
	(void)t;
	if (w->f.replicas > 1 || w->f.hpa_max > 1)
		snprintf(f->message, sizeof(f->message),
			 "Deployment %s shares the ReadWriteOnce claim %s across %d replicas "
			 "(HPA max %d): use a StatefulSet with volumeClaimTemplates, RWX storage, "
			 "or 1 replica with the Recreate strategy.",
			 w->name, w->f.rwo_claim, w->f.replicas, w->f.hpa_max);
	else
		snprintf(f->message, sizeof(f->message),
			 "Deployment %s mounts the ReadWriteOnce claim %s with the RollingUpdate "
			 "strategy: each rollout starts the new pod before the old one stops, and "
			 "it hangs on Multi-Attach when the new pod lands on another node: use a "
			 "StatefulSet with volumeClaimTemplates, or strategy: Recreate if it must "
			 "stay a Deployment.",
			 w->name, w->f.rwo_claim);
	rule_evidence(f, "replicas", w->f.replicas);
	rule_evidence(f, "hpa_max_replicas", w->f.hpa_max);
	rule_evidence(f, "rolling_update", w->f.rolling_update);
}

/* ---- WK-04 emptydir-unbounded ---- */

enum { WK04_WRITE_BPS };

static bool wk04_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	return b->unbounded_emptydir_bytes / t >= th[WK04_WRITE_BPS];
}

static void wk04_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32];

	rule_fmt_bytes(a, sizeof(a), s->unbounded_emptydir_bytes / t);
	snprintf(f->message, sizeof(f->message),
		 "%s %s writes %s into emptyDir %s, which has no sizeLimit: it fills the "
		 "node's ephemeral storage until kubelet evicts pods; set a sizeLimit (only this "
		 "pod is evicted then), or put the data on a PVC.",
		 w->kind, w->name, a, s->unbounded_emptydir[0] ? s->unbounded_emptydir : "?");
	rule_evidence(f, "emptydir_write_bytes_per_second", s->unbounded_emptydir_bytes / t);
}

/* ---- WK-05 stateful-deployment ---- */

enum { WK05_WRITE_BPS, WK05_FSYNC_PS };

static bool wk05_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)w;
	return b->listening && (b->fs_bytes[VOLUME_PVC] / t >= th[WK05_WRITE_BPS] ||
				b->fs_syncs[VOLUME_PVC] / t >= th[WK05_FSYNC_PS]);
}

static void wk05_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32];

	rule_fmt_bytes(a, sizeof(a), s->fs_bytes[VOLUME_PVC] / t);
	snprintf(f->message, sizeof(f->message),
		 "Deployment %s writes %s and fsyncs %.1f/s into pvc %s and listens on :%u "
		 "with %d replica(s): make it a StatefulSet with a headless Service and a "
		 "PodDisruptionBudget.",
		 w->name, a, s->fs_syncs[VOLUME_PVC] / t, s->pvc_volume[0] ? s->pvc_volume : "?",
		 s->port, w->f.replicas);
	rule_evidence(f, "pvc_write_bytes_per_second", s->fs_bytes[VOLUME_PVC] / t);
	rule_evidence(f, "pvc_fsync_per_second", s->fs_syncs[VOLUME_PVC] / t);
	rule_evidence(f, "listening_port", s->port);
	rule_evidence(f, "replicas", w->f.replicas);
}

/* ---- WK-06 peer-identity ---- */

static bool wk06_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)th;
	(void)t;
	return b->peer_replica && w->pods_here >= 2;
}

static void wk06_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	(void)s;
	(void)t;
	snprintf(f->message, sizeof(f->message),
		 "%u replicas of Deployment %s on this node hold TCP connections to each "
		 "other: peers need stable identities, so use a StatefulSet with a headless "
		 "Service.",
		 w->pods_here, w->name);
	rule_evidence(f, "replicas_on_node", w->pods_here);
}

/* ---- WK-07 stateless-statefulset ---- */

enum { WK07_WRITE_BPS, WK07_READ_BPS };

static bool wk07_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	/* The volumes a workload keeps state on (or means to): not config, memory or unknown. */
	static const enum volume_class kept[] = { VOLUME_ROOTFS, VOLUME_EMPTYDIR, VOLUME_PVC,
						  VOLUME_HOSTPATH };
	double syncs = 0;

	(void)w;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		syncs += b->fs_syncs[kept[i]];
	/* A claim read at a steady rate holds data the workload serves: state too. */
	return b->fs_bytes[VOLUME_PVC] / t < th[WK07_WRITE_BPS] &&
	       b->fs_read_bytes[VOLUME_PVC] / t < th[WK07_READ_BPS] && syncs == 0 &&
	       !b->peer_replica;
}

static void wk07_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	char a[32], r[32];

	rule_fmt_bytes(a, sizeof(a), s->fs_bytes[VOLUME_PVC] / t);
	rule_fmt_bytes(r, sizeof(r), s->fs_read_bytes[VOLUME_PVC] / t);
	snprintf(f->message, sizeof(f->message),
		 "StatefulSet %s wrote only %s to its volumes and read %s from its claims, with "
		 "no fsync and no peer connections over the window: it keeps no state, so a "
		 "Deployment (with an HPA) would scale and roll out more freely.",
		 w->name, a, r);
	rule_evidence(f, "pvc_write_bytes_per_second", s->fs_bytes[VOLUME_PVC] / t);
	rule_evidence(f, "pvc_read_bytes_per_second", s->fs_read_bytes[VOLUME_PVC] / t);
	rule_evidence(f, "window_seconds", s->seconds);
}

/* ---- WK-10 node-agent-as-deployment (static) ---- */

static bool wk10_holds(const struct rule_workload *w)
{
	return (w->host_path || w->host_ns) && w->pods_here <= 1;
}

static void wk10_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	(void)s;
	(void)t;
	snprintf(f->message, sizeof(f->message),
		 "Deployment %s uses %s with at most one replica on this node: a node agent "
		 "belongs in a DaemonSet.",
		 w->name, w->host_path ? "a hostPath volume" : "host namespaces");
	rule_evidence(f, "replicas_on_node", w->pods_here);
}

/* ---- WK-11 daemonset-not-node-local ---- */

static bool wk11_crosses(const double *th, const struct rule_workload *w, const struct bucket *b,
			 double t)
{
	(void)th;
	(void)t;
	return !w->host_path && !w->host_ns && b->fs_bytes[VOLUME_HOSTPATH] == 0 &&
	       b->server_conns > 0;
}

static void wk11_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	snprintf(f->message, sizeof(f->message),
		 "DaemonSet %s uses nothing node-local (no hostPath, host network or host "
		 "I/O) and serves %.1f connections/s: a Deployment with an HPA fits better.",
		 w->name, s->server_conns / t);
	rule_evidence(f, "server_connections_per_second", s->server_conns / t);
}

/* ---- WK-13 bare-pod (static) ---- */

static bool wk13_holds(const struct rule_workload *w)
{
	(void)w;
	return true;
}

static void wk13_describe(const struct rule_workload *w, const struct bucket *s, double t,
			  struct snap_finding *f)
{
	(void)s;
	(void)t;
	snprintf(f->message, sizeof(f->message),
		 "Pod %s has no controller: nothing recreates it when its node fails; run it "
		 "under a Deployment (or a Job if it runs to completion).",
		 w->name);
}

const struct rule_def rules_wk[] = {
	{
		.id = RULE_WK01,
		.code = "WK-01",
		.name = "rootfs-durable-writes",
		.severity = "high",
		.suggests = "StatefulSet",
		.kinds = RK_DEPLOYMENT | RK_STATEFULSET | RK_POD,
		.knobs = {
			[WK01_WRITE_BPS] = { "rootfs_write_bytes_per_second", 512 * KiB, 0, 1e12 },
			[WK01_FSYNC_PS] = { "rootfs_fsync_per_second", 0.2, 0, 1e9 },
		},
		.crosses = wk01_crosses,
		.describe = wk01_describe,
	},
	{
		.id = RULE_WK02,
		.code = "WK-02",
		.name = "emptydir-as-durable",
		.severity = "high",
		.suggests = "StatefulSet",
		.kinds = RK_DEPLOYMENT | RK_POD,
		.knobs = {
			[WK02_FSYNC_PS] = { "emptydir_fsync_per_second", 1, 0, 1e9 },
			[WK02_WRITE_BPS] = { "emptydir_write_bytes_per_second", 256 * KiB, 0, 1e12 },
		},
		.crosses = wk02_crosses,
		.describe = wk02_describe,
	},
	{
		.id = RULE_WK03,
		.code = "WK-03",
		.name = "rwo-pvc-multi-replica",
		.severity = "high",
		.suggests = "StatefulSet",
		.kinds = RK_DEPLOYMENT,
		.holds = wk03_holds,
		.describe = wk03_describe,
	},
	{
		.id = RULE_WK04,
		.code = "WK-04",
		.name = "emptydir-unbounded",
		.severity = "medium",
		.suggests = "",
		.kinds = RK_DEPLOYMENT | RK_STATEFULSET | RK_POD,
		.knobs = {
			[WK04_WRITE_BPS] = { "emptydir_write_bytes_per_second", 1 * MiB, 0, 1e12 },
		},
		.crosses = wk04_crosses,
		.describe = wk04_describe,
	},
	{
		.id = RULE_WK05,
		.code = "WK-05",
		.name = "stateful-deployment",
		.severity = "high",
		.suggests = "StatefulSet",
		.kinds = RK_DEPLOYMENT,
		.knobs = {
			[WK05_WRITE_BPS] = { "pvc_write_bytes_per_second", 2 * MiB, 0, 1e12 },
			[WK05_FSYNC_PS] = { "pvc_fsync_per_second", 5, 0, 1e9 },
		},
		.crosses = wk05_crosses,
		.describe = wk05_describe,
	},
	{
		.id = RULE_WK06,
		.code = "WK-06",
		.name = "peer-identity",
		.severity = "medium",
		.suggests = "StatefulSet",
		.kinds = RK_DEPLOYMENT,
		.crosses = wk06_crosses,
		.describe = wk06_describe,
	},
	{
		.id = RULE_WK07,
		.code = "WK-07",
		.name = "stateless-statefulset",
		.severity = "medium",
		.suggests = "Deployment",
		.kinds = RK_STATEFULSET,
		.knobs = {
			[WK07_WRITE_BPS] = { "pvc_write_bytes_per_second", 4 * KiB, 0, 1e12 },
			[WK07_READ_BPS] = { "pvc_read_bytes_per_second", 4 * KiB, 0, 1e12 },
		},
		.crosses = wk07_crosses,
		.describe = wk07_describe,
	},
	{
		.id = RULE_WK10,
		.code = "WK-10",
		.name = "node-agent-as-deployment",
		.severity = "medium",
		.suggests = "DaemonSet",
		.kinds = RK_DEPLOYMENT,
		.holds = wk10_holds,
		.describe = wk10_describe,
	},
	{
		.id = RULE_WK11,
		.code = "WK-11",
		.name = "daemonset-not-node-local",
		.severity = "low",
		.suggests = "Deployment",
		.kinds = RK_DAEMONSET,
		.crosses = wk11_crosses,
		.describe = wk11_describe,
	},
	{
		.id = RULE_WK13,
		.code = "WK-13",
		.name = "bare-pod",
		.severity = "low",
		.suggests = "Deployment",
		.kinds = RK_POD,
		.holds = wk13_holds,
		.describe = wk13_describe,
	},
};

const size_t rules_wk_n = sizeof(rules_wk) / sizeof(rules_wk[0]);
