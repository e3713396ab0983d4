/* SPDX-License-Identifier: BSD-2-Clause */
/* The pure half of the Kubernetes metadata client: Kubernetes JSON → C structs (kube_text.c,
 * kube_owner.c, kube_pod.c, kube_objects.c), the watch stream splitter (kube_stream.h), owner
 * derivation and the Helm rules of SPEC §4. No I/O, no threads, no logging, so it is unit- and
 * fuzz-tested on real and hostile objects. Every string kept is bounded by the Kubernetes
 * limit of its field; a value over it makes the field absent (or, for identity fields, the
 * object invalid) — never truncated, so nothing is misattributed. */
#ifndef BPFDIAG_KUBE_PARSE_H
#define BPFDIAG_KUBE_PARSE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/cgroup_path.h"
#include "kube/kube_stream.h"
#include "model/kube_stats.h"

#define KUBE_UID_MAX 36 /* metadata.uid: a UUID */
#define KUBE_NS_MAX 63 /* namespace: a DNS label */
#define KUBE_NAME_MAX 253 /* object names: DNS subdomains */
#define KUBE_CNAME_MAX 63 /* container and volume names: DNS labels */
#define KUBE_KINDNAME_MAX 63
#define KUBE_VALUE_MAX 253 /* label and annotation values we keep */
#define KUBE_LABEL_KEY_MAX 317 /* prefix (253) + '/' + name (63) */
#define KUBE_SHORT_MAX 31 /* qosClass, phase, strategy types, quantities as text */
#define KUBE_IP_MAX 45 /* INET6_ADDRSTRLEN - 1 */
#define KUBE_RV_MAX 64

#define KUBE_MAX_CONTAINERS 64 /* init + app + ephemeral per pod */
#define KUBE_MAX_POD_IPS 4
#define KUBE_MAX_VOLUMES 64
#define KUBE_MAX_LABELS 64 /* pod labels kept for PDB selectors */
#define KUBE_MAX_PORTS 16 /* container ports kept per container */
#define KUBE_MAX_VCT 8 /* volumeClaimTemplates kept per StatefulSet */
#define KUBE_MAX_NS_ITEMS 256 /* PDBs or HPAs kept per namespace */
#define KUBE_MAX_SELECTOR 16 /* matchLabels + matchExpressions terms per selector */
#define KUBE_MAX_SELECTOR_VALUES 16

/* Size caps on what the API server may send us. */
#define KUBE_MAX_OBJECT (4u << 20) /* one watch event or one GET body */
#define KUBE_MAX_LIST (32u << 20) /* one page of a list */
/* A watch event still going past this is no event: the watch is restarted. Between the two
 * caps an event is skipped without being buffered and the stream goes on. */
#define KUBE_MAX_EVENT_LINE (4 * KUBE_MAX_OBJECT)

/* Kinds the client knows how to GET. */
enum kube_kind {
	KUBE_KIND_OTHER = 0, /* an operator's resource: kept by name, never fetched */
	KUBE_KIND_POD,
	KUBE_KIND_DEPLOYMENT,
	KUBE_KIND_REPLICASET,
	KUBE_KIND_STATEFULSET,
	KUBE_KIND_DAEMONSET,
	KUBE_KIND_JOB,
	KUBE_KIND_CRONJOB,
	KUBE_KIND_MAX,
};

enum kube_container_type {
	KUBE_CONTAINER_APP = 0,
	KUBE_CONTAINER_INIT,
	KUBE_CONTAINER_EPHEMERAL,
};

/* PVC access modes, a bit set. */
enum kube_access {
	KUBE_ACCESS_RWO = 1 << 0,
	KUBE_ACCESS_ROX = 1 << 1,
	KUBE_ACCESS_RWX = 1 << 2,
	KUBE_ACCESS_RWOP = 1 << 3,
};

enum kube_volume_kind {
	KUBE_VOL_OTHER = 0,
	KUBE_VOL_EMPTYDIR,
	KUBE_VOL_PVC,
	KUBE_VOL_EPHEMERAL, /* generic ephemeral volume: a PVC named <pod>-<volume> */
	KUBE_VOL_HOSTPATH,
	KUBE_VOL_CONFIG, /* configMap, secret, projected, downwardAPI */
};

/* Cores and bytes; negative when not set. */
struct kube_resources {
	double cpu_request;
	double cpu_limit;
	double memory_request;
	double memory_limit;
};

struct kube_ref {
	char kind[KUBE_KINDNAME_MAX + 1]; /* "" when there is no controller reference */
	char api_version[KUBE_KINDNAME_MAX + 1];
	char name[KUBE_NAME_MAX + 1];
};

struct kube_container {
	char name[KUBE_CNAME_MAX + 1];
	char id[CONTAINER_ID_LEN + 1]; /* status containerID, runtime prefix stripped; "" */
	char last_id[CONTAINER_ID_LEN + 1]; /* lastState.terminated.containerID; "" */
	enum kube_container_type type;
	bool has_status;
	bool running; /* status.state.running is set: its cgroup exists */
	bool ready;
	bool sidecar; /* an init container with restartPolicy Always */
	int restart_count;
	double started_at; /* state.running.startedAt, unix seconds; 0 unknown */
	/* lastState.terminated.reason ("OOMKilled", "Error", "Completed"; letters and digits
	 * only, else "") and finishedAt (unix seconds; 0 unknown). */
	char last_reason[KUBE_SHORT_MAX + 1];
	double last_finished_at;
	struct kube_resources res;
	bool readiness_probe;
	bool liveness_probe;
	bool startup_probe;
	bool privileged;
	bool read_only_root_fs;
	uint16_t ports[KUBE_MAX_PORTS]; /* containerPort of TCP ports */
	unsigned n_ports;
};

struct kube_volume {
	char name[KUBE_CNAME_MAX + 1];
	enum kube_volume_kind kind;
	char claim[KUBE_NAME_MAX + 1]; /* PVC name for KUBE_VOL_PVC and KUBE_VOL_EPHEMERAL */
	bool medium_memory; /* emptyDir medium: Memory */
	double size_limit; /* emptyDir sizeLimit in bytes; negative when unset */
};

struct kube_label {
	char *key;
	char *value;
};

struct kube_pod {
	char uid[KUBE_UID_MAX + 1];
	/* A static pod's kubelet UID (annotation kubernetes.io/config.mirror): its cgroups carry
	 * this one, not the mirror pod's metadata.uid. "" for other pods. */
	char mirror_uid[KUBE_UID_MAX + 1];
	char ns[KUBE_NS_MAX + 1];
	char name[KUBE_NAME_MAX + 1];
	char node[KUBE_NAME_MAX + 1];
	char rv[KUBE_RV_MAX + 1];
	char qos[KUBE_SHORT_MAX + 1];
	char phase[KUBE_SHORT_MAX + 1];
	double start_time; /* status.startTime, unix seconds; 0 unknown */
	char ips[KUBE_MAX_POD_IPS][KUBE_IP_MAX + 1];
	unsigned n_ips;
	bool host_network;
	bool host_pid;
	bool host_ipc;
	struct kube_ref controller;
	char template_hash[KUBE_VALUE_MAX + 1]; /* label pod-template-hash */
	char helm_instance[KUBE_VALUE_MAX + 1]; /* app.kubernetes.io/instance when managed by Helm */
	char helm_chart[KUBE_VALUE_MAX + 1]; /* label helm.sh/chart */
	char ignore_rules[KUBE_VALUE_MAX + 1]; /* annotation bpfdiag.io/ignore-rules */
	struct kube_label *labels;
	unsigned n_labels;
	struct kube_container *containers;
	unsigned n_containers;
	struct kube_volume *volumes;
	unsigned n_volumes;
	double updated_at; /* set by the store: monotonic time the object arrived */
};

/* The facts of a top-level workload read with one GET. */
struct kube_workload {
	enum kube_kind kind;
	char ns[KUBE_NS_MAX + 1];
	char name[KUBE_NAME_MAX + 1];
	int32_t replicas; /* spec.replicas (defaulted to 1 for Deployment/StatefulSet/ReplicaSet);
			   * -1 when the kind has none */
	char strategy[KUBE_SHORT_MAX + 1]; /* strategy.type or updateStrategy.type */
	char service_name[KUBE_NAME_MAX + 1]; /* StatefulSet spec.serviceName */
	char vct[KUBE_MAX_VCT][KUBE_CNAME_MAX + 1]; /* StatefulSet volumeClaimTemplates */
	unsigned n_vct;
	char schedule[KUBE_VALUE_MAX + 1]; /* CronJob spec.schedule */
	char helm_release[KUBE_VALUE_MAX + 1]; /* annotation meta.helm.sh/release-name */
	char helm_release_ns[KUBE_NS_MAX + 1]; /* annotation meta.helm.sh/release-namespace */
	char helm_chart[KUBE_VALUE_MAX + 1]; /* label helm.sh/chart */
	char ignore_rules[KUBE_VALUE_MAX + 1]; /* annotation bpfdiag.io/ignore-rules */
	struct kube_ref controller; /* the workload's own controller (an operator), if any */
};

struct kube_pvc {
	char ns[KUBE_NS_MAX + 1];
	char name[KUBE_NAME_MAX + 1];
	unsigned access_modes; /* enum kube_access bits */
	char storage_class[KUBE_NAME_MAX + 1];
	char volume_name[KUBE_NAME_MAX + 1];
	char phase[KUBE_SHORT_MAX + 1];
};

enum kube_selector_op { KUBE_SEL_IN = 0, KUBE_SEL_NOT_IN, KUBE_SEL_EXISTS, KUBE_SEL_NOT_EXISTS };

struct kube_selector_term {
	char *key;
	enum kube_selector_op op;
	char *values[KUBE_MAX_SELECTOR_VALUES];
	unsigned n_values;
};

/* A metav1.LabelSelector. A null selector matches nothing, an empty one everything. */
struct kube_selector {
	bool null;
	struct kube_selector_term terms[KUBE_MAX_SELECTOR];
	unsigned n_terms;
};

struct kube_pdb {
	char name[KUBE_NAME_MAX + 1];
	struct kube_selector selector;
	char min_available[KUBE_SHORT_MAX + 1]; /* int or percentage, as text; "" unset */
	char max_unavailable[KUBE_SHORT_MAX + 1];
};

struct kube_hpa {
	char name[KUBE_NAME_MAX + 1];
	char target_kind[KUBE_KINDNAME_MAX + 1];
	char target_name[KUBE_NAME_MAX + 1];
	int32_t min_replicas;
	int32_t max_replicas;
};

/* Where a pod belongs, derived from its controller reference before any GET. */
struct kube_owner {
	enum kube_kind kind; /* KUBE_KIND_OTHER for an operator's kind */
	char kind_name[KUBE_KINDNAME_MAX + 1]; /* "Deployment", …, "Pod", or the operator's kind */
	char name[KUBE_NAME_MAX + 1];
	/* What the owner is when the derived one does not exist (the GET says 404): the
	 * ReplicaSet of a Deployment guess, the Job of a CronJob guess; KUBE_KIND_OTHER/"" when
	 * the guess is not a guess. */
	enum kube_kind fallback;
	char fallback_name[KUBE_NAME_MAX + 1];
};

struct kube_helm {
	char release[KUBE_VALUE_MAX + 1];
	char release_ns[KUBE_NS_MAX + 1];
	char chart[KUBE_VALUE_MAX + 1];
};

/* ---- scalars ---- */

/* "containerd://<64 hex>", "cri-o://…", "docker://…" (any scheme) → the 64-hex id.
 * Returns 0, or -EINVAL when there is no scheme or the id is not 64 lowercase hex digits. */
int kube_container_id_parse(const char *s, char ret[CONTAINER_ID_LEN + 1]);
/* A resource.Quantity ("250m", "1.5", "64Mi", "1G", "2e3") in base units. Returns 0 or
 * -EINVAL. */
int kube_quantity_parse(const char *s, double *ret);
/* An RFC 3339 time as the API writes it ("2024-05-01T10:00:00Z", fractions and offsets
 * accepted) → unix seconds. Returns 0 or -EINVAL. */
int kube_time_parse(const char *s, double *ret);

enum kube_kind kube_kind_from_name(const char *kind);
const char *kube_kind_name(enum kube_kind kind);
/* The API path of one object of a fetchable kind: "/apis/apps/v1/namespaces/NS/deployments/N".
 * Returns 0, -EINVAL for a kind that cannot be fetched, -ENAMETOOLONG. */
int kube_object_path(enum kube_kind kind, const char *ns, const char *name, char *buf, size_t len);

/* ---- owners and Helm ---- */

/* Derives the top-level workload of a pod from its controller reference (SPEC §4): none →
 * Pod/<pod>; ReplicaSet <d>-<hash> (hash = the pod-template-hash label) → Deployment <d>;
 * Job <c>-<digits> → CronJob <c>; StatefulSet, DaemonSet, Job and a ReplicaSet without the
 * hash suffix as they are; any other kind (or a built-in name from another API group) as
 * the operator's kind. Pure. */
void kube_owner_derive(const char *ctrl_kind, const char *ctrl_api_version, const char *ctrl_name,
		       const char *pod_name, const char *template_hash, struct kube_owner *ret);
/* The Helm release of a pod (SPEC §4): wl (may be NULL) is the top-level workload as read
 * from the API; its meta.helm.sh/release-name annotation wins, else the pod's
 * app.kubernetes.io/instance label when app.kubernetes.io/managed-by is Helm. The chart is the
 * workload's helm.sh/chart label, else the pod's. */
void kube_helm_resolve(const struct kube_workload *wl, const struct kube_pod *pod,
		       struct kube_helm *ret);

/* ---- objects ---- */

/* Parses a Pod. Returns 0 with a new pod in *ret, -EINVAL with a static reason in *ret_why
 * when uid, name or namespace is missing, mistyped or over its limit, or -ENOMEM. Other
 * fields of the wrong type are taken as absent. */
int kube_pod_parse(json_object *obj, struct kube_pod **ret, const char **ret_why);
/* Accepts NULL; returns NULL. */
struct kube_pod *kube_pod_free(struct kube_pod *p);
/* metadata.uid of an object when it is a valid UID string, else NULL (borrowed). */
const char *kube_object_uid(json_object *obj);
/* metadata.resourceVersion of an object or list, or NULL (borrowed). */
const char *kube_resource_version(json_object *obj);
/* A pod's label value, or NULL. */
const char *kube_pod_label(const struct kube_pod *p, const char *key);

/* Parses a Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or CronJob (the object's kind
 * must be `kind`). Returns 0, -EINVAL with a reason. */
int kube_workload_parse(json_object *obj, enum kube_kind kind, struct kube_workload *ret,
			const char **ret_why);
int kube_pvc_parse(json_object *obj, struct kube_pvc *ret, const char **ret_why);
/* Parses a PodDisruptionBudgetList / HorizontalPodAutoscalerList. Returns 0 with a new array
 * (free with kube_pdbs_free / free()) of at most KUBE_MAX_NS_ITEMS items, setting
 * *ret_truncated when there were more; -EINVAL when it is not a list; -ENOMEM. */
int kube_pdb_list_parse(json_object *list, struct kube_pdb **ret, unsigned *ret_n,
			bool *ret_truncated);
void kube_pdbs_free(struct kube_pdb *p, unsigned n);
int kube_hpa_list_parse(json_object *list, struct kube_hpa **ret, unsigned *ret_n,
			bool *ret_truncated);
/* Parses a metav1.LabelSelector (NULL or JSON null: a null selector). Returns 0, -EINVAL for
 * an unknown operator or a term over the limits (the selector is then null: matches
 * nothing), -ENOMEM. Free with kube_selector_clear. */
int kube_selector_parse(json_object *obj, struct kube_selector *ret);
void kube_selector_clear(struct kube_selector *sel);
bool kube_selector_matches(const struct kube_selector *sel, const struct kube_pod *pod);

/* ---- watch events and status ---- */

/* Splits a watch event. Returns 0 with the type and the object (borrowed), or -EINVAL. */
int kube_event_parse(json_object *ev, enum kube_event_type *ret_type, json_object **ret_obj);
/* A Status object (an ERROR event's object or an error body): code (0 when absent), reason
 * and message (borrowed, "" when absent). */
void kube_status_parse(json_object *obj, int *ret_code, const char **ret_reason,
		       const char **ret_message);

#endif
