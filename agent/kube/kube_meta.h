/* SPDX-License-Identifier: BSD-2-Clause */
/* Kubernetes metadata for this node's pods (SPEC §4): a list + watch of the node's pods on a
 * thread of its own, and owner/PVC/PDB/HPA enrichment through cached, rate-limited GETs on a
 * second thread. Readers (the collector, the rules engine) never block on the API: every
 * lookup copies out of an in-memory store under a short lock, and the store keeps serving
 * what it last knew while the API is away.
 *
 * Thread safety: every kube_meta__* function may be called from any thread. Results are
 * copies owned by the caller. */
#ifndef BPFDIAG_KUBE_META_H
#define BPFDIAG_KUBE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube_parse.h"
#include "model/kube_stats.h"

/* The container label of a pod's sandbox (pause) cgroup and of pod-level cgroups (the pod
 * slice itself, crio-conmon): not a workload container, so rules exclude it. */
#define KUBE_SANDBOX_NAME "POD"

/* The series labels the collector gives a container cgroup when its pod is known. */
struct kube_labels {
	char ns[KUBE_NS_MAX + 1];
	char pod[KUBE_NAME_MAX + 1];
	char container[KUBE_CNAME_MAX + 1]; /* container name, or KUBE_SANDBOX_NAME */
	char workload_kind[KUBE_KINDNAME_MAX + 1];
	char workload[KUBE_NAME_MAX + 1];
	char helm_release[KUBE_VALUE_MAX + 1];
};

/* A pod's top-level workload as resolved so far. */
struct kube_workload_info {
	/* Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet (no Deployment above it),
	 * Pod (bare pod), or an operator's kind taken from the pod's controller reference. */
	char kind[KUBE_KINDNAME_MAX + 1];
	char name[KUBE_NAME_MAX + 1];
	/* True once the workload was read from the API; spec then holds its facts. False while
	 * the GET is pending or failing, or for kinds that are never fetched (Pod, operators):
	 * kind and name are then derived from the owner reference alone. */
	bool confirmed;
	/* True once what the workload is will not change soon: it was read, its GET failed or
	 * found nothing, or it is a kind that is never fetched. False while the first GET is due
	 * or in flight (static rules wait for it). */
	bool settled;
	struct kube_workload spec;
	struct kube_helm helm;
	char ignore_rules[KUBE_VALUE_MAX + 1]; /* workload annotation, else the pod's; "" none */
	/* The workload's own controller, e.g. RabbitmqCluster over a StatefulSet; "" none. */
	struct kube_ref operator_ref;
	bool has_hpa; /* an HPA of this namespace targets kind/name */
	char hpa_name[KUBE_NAME_MAX + 1];
	int32_t hpa_min;
	int32_t hpa_max;
};

struct kube_volume_info {
	struct kube_volume vol;
	bool pvc_known; /* pvc holds the claim as read from the API */
	bool pvc_pending; /* a claim not read yet: its first GET is due or under way */
	struct kube_pvc pvc;
};

/* Everything known about one pod (kube_meta__pod). */
struct kube_pod_info {
	char uid[KUBE_UID_MAX + 1];
	char ns[KUBE_NS_MAX + 1];
	char name[KUBE_NAME_MAX + 1];
	char node[KUBE_NAME_MAX + 1];
	char qos[KUBE_SHORT_MAX + 1];
	char phase[KUBE_SHORT_MAX + 1];
	double start_time; /* unix seconds; 0 unknown */
	char ips[KUBE_MAX_POD_IPS][KUBE_IP_MAX + 1];
	unsigned n_ips;
	bool host_network;
	bool host_pid;
	bool host_ipc;
	struct kube_workload_info workload;
	struct kube_container *containers; /* n_containers entries, init containers first */
	unsigned n_containers;
	struct kube_volume_info *volumes;
	unsigned n_volumes;
	bool has_pdb; /* a PDB of the namespace selects this pod */
	char pdb_name[KUBE_NAME_MAX + 1];
	char pdb_min_available[KUBE_SHORT_MAX + 1];
	char pdb_max_unavailable[KUBE_SHORT_MAX + 1];
};

/* One container cgroup (kube_meta__container). */
struct kube_container_info {
	struct kube_labels labels;
	char pod_uid[KUBE_UID_MAX + 1];
	char container_id[CONTAINER_ID_LEN + 1]; /* "" for a pod-level cgroup */
	bool sandbox; /* the pause container or a pod-level cgroup: container is unset */
	struct kube_container container; /* name, init/sidecar/ephemeral type, resources, … */
};

/* A running container of this node, named as its cgroup names it (kube_meta__containers). */
struct kube_container_ref {
	char pod_uid[KUBE_UID_MAX + 1]; /* the UID in its cgroup path: a static pod's kubelet UID */
	char id[CONTAINER_ID_LEN + 1]; /* 64 hex, runtime prefix stripped */
};

/* Log hook: the library decides *when* (once per cause, recoveries), the caller *how*. */
enum kube_log_level { KUBE_LOG_WARN = 0, KUBE_LOG_INFO };
typedef void (*kube_log_fn)(void *ctx, enum kube_log_level level, const char *msg);

struct kube_meta_opts {
	const char *api_url; /* "http(s)://host[:port][/prefix]" */
	const char *token_file; /* NULL: no Authorization header */
	bool token_over_http; /* send the token to an http:// URL too (explicit --kube-token-file) */
	const char *ca_file; /* NULL: the system CAs */
	const char *node_name;
	/* Seconds without an event, or for one event to arrive, before a watch is restarted;
	 * 0: 120. */
	double stall_timeout;
	double backoff_max; /* reconnect backoff cap in seconds; 0: 30 */
	double cache_ttl; /* workload/PVC/PDB/HPA cache lifetime in seconds; 0: 300 */
	double qps; /* enrichment GETs per second; 0: 5 */
	double sandbox_grace; /* seconds before an unknown container id is taken for the sandbox;
			       * 0: 30 */
	kube_log_fn log;
	void *log_ctx;
};

/* Where the API is, from --kube-api/--kube-token-file/--kube-ca-file (SPEC §2). */
struct kube_config {
	bool enabled; /* false: local mode */
	bool in_cluster;
	char url[512];
	char token_file[4096]; /* "" none */
	bool token_explicit;
	char ca_file[4096]; /* "" system CAs */
};

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Resolves api ("auto", "none" or an http(s) URL) and the optional file options (NULL when
 * not given). Explicit files must be readable; service-account defaults are used when they
 * exist. env_host/env_port are KUBERNETES_SERVICE_HOST/PORT (NULL when unset). Returns 0, or
 * -EINVAL with a one-line reason in err. */
int kube_config_resolve(const char *api, const char *token_file, const char *ca_file,
			const char *env_host, const char *env_port, struct kube_config *ret,
			char *err, size_t errlen);

struct kube_meta;

/* Starts the watch and enrichment threads. Returns 0, or a negative errno with a one-line
 * reason in err. */
int kube_meta__start(const struct kube_meta_opts *opts, struct kube_meta **ret, char *err,
		     size_t errlen);
/* Stops and joins the threads and frees everything. Accepts NULL; returns NULL. */
struct kube_meta *kube_meta__stop(struct kube_meta *km);

/* True once the first pod list has completed (/readyz waits for it). */
bool kube_meta__synced(struct kube_meta *km);
/* Changes whenever anything a lookup returns may have changed. */
uint64_t kube_meta__generation(struct kube_meta *km);

/* Series labels of a container cgroup. uid: the pod UID parsed from the cgroup path;
 * container_id: its 64-hex id, or "" for a pod-level cgroup. first_seen: monotonic seconds
 * when the collector first saw the cgroup, 0 for cgroups that predate the agent. Returns 0;
 * -ENOENT when the pod is unknown; -EAGAIN when the pod is known but the id is neither in
 * its container statuses nor old enough to be taken for the sandbox (ask again later). */
int kube_meta__labels(struct kube_meta *km, const char *uid, const char *container_id,
		      double first_seen, struct kube_labels *ret);
/* The same lookup with the container's spec and status. Returns as kube_meta__labels. */
int kube_meta__container(struct kube_meta *km, const char *uid, const char *container_id,
			 double first_seen, struct kube_container_info *ret);
/* Everything known about a pod: a new copy in *ret (free with kube_pod_info_free). Returns 0,
 * -ENOENT, -ENOMEM. */
int kube_meta__pod(struct kube_meta *km, const char *uid, struct kube_pod_info **ret);
/* Accepts NULL; returns NULL. */
struct kube_pod_info *kube_pod_info_free(struct kube_pod_info *p);
/* The volume of pod p that kubelet keeps in the volume directory named dir
 * (…/pods/<uid>/volumes/kubernetes.io~<plugin>/<dir>): kubelet names the directory of a volume
 * backed by a PersistentVolume after the PV (found through the claim's spec.volumeName), every
 * other one after the pod's volume. Pure (in kube_lookup.c). Returns 0 with *ret pointing into
 * p, -EAGAIN when a claim of the pod has not been read yet (ask again later), -ENOENT. */
int kube_pod_volume_by_dir(const struct kube_pod_info *p, const char *dir,
			   const struct kube_volume_info **ret);
/* UIDs of the pods of this node: a new array of *ret_n strings (free with
 * kube_uids_free). Returns 0 or -ENOMEM. */
int kube_meta__uids(struct kube_meta *km, char ***ret, size_t *ret_n);
void kube_uids_free(char **uids, size_t n);
/* The containers whose cgroups exist on this node as the pod statuses say: running app
 * containers and sidecars with a container id (init and ephemeral containers are skipped).
 * A new array of *ret_n entries in *ret (free()). Returns 0 or -ENOMEM. */
int kube_meta__containers(struct kube_meta *km, struct kube_container_ref **ret, size_t *ret_n);
void kube_meta__stats(struct kube_meta *km, struct kube_stats *ret);

struct snapshot;
/* Adds the pods of this node (bpfdiag_pod_info) and the client's counters to a snapshot
 * being built. Returns 0 or -ENOMEM. */
int kube_meta__fill_snapshot(struct kube_meta *km, struct snapshot *s);

#endif
