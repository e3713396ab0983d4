/* SPDX-License-Identifier: BSD-2-Clause */
/* Classifies a cgroup v2 path: kubelet layouts (systemd and cgroupfs drivers, every QoS class,
 * containerd / CRI-O / docker), local containers, systemd services, or a plain cgroup. Pure:
 * no I/O, so it is unit- and fuzz-tested on tables of real and hostile paths. */
#ifndef BPFDIAG_CGROUP_PATH_H
#define BPFDIAG_CGROUP_PATH_H

#include <stdbool.h>

#define CGROUP_PATH_MAX 4096
#define POD_UID_MAX 36
#define CONTAINER_ID_LEN 64
#define UNIT_NAME_MAX 255

enum cgroup_kind {
	CGROUP_PLAIN = 0, /* a shape we do not know: kept as a plain cgroup */
	CGROUP_KUBE_QOS, /* kubepods or one of its QoS slices */
	CGROUP_KUBE_POD, /* a pod's own cgroup (or a pod-level helper such as crio-conmon) */
	CGROUP_KUBE_CONTAINER, /* a container of a pod, or a cgroup nested inside one */
	CGROUP_CONTAINER, /* a container outside Kubernetes (docker-, libpod- scopes) */
	CGROUP_SYSTEMD_SERVICE, /* a systemd service, or a cgroup nested inside one */
};

enum kube_qos { QOS_NONE = 0, QOS_GUARANTEED, QOS_BURSTABLE, QOS_BESTEFFORT };

enum cgroup_driver { DRIVER_NONE = 0, DRIVER_SYSTEMD, DRIVER_CGROUPFS };

enum container_runtime {
	RUNTIME_NONE = 0,
	RUNTIME_CONTAINERD,
	RUNTIME_CRIO,
	RUNTIME_DOCKER,
	RUNTIME_PODMAN,
	RUNTIME_UNKNOWN, /* cgroupfs driver: a bare id does not name its runtime */
};

struct cgroup_ident {
	enum cgroup_kind kind;
	enum kube_qos qos;
	enum cgroup_driver driver;
	enum container_runtime runtime;
	bool nested; /* below the container's (or service's, or pod's) own cgroup */
	bool runtime_helper; /* crio-conmon: the runtime's monitor, not a container */
	char pod_uid[POD_UID_MAX + 1]; /* dashed form, as in metadata.uid */
	char container_id[CONTAINER_ID_LEN + 1]; /* lowercase hex, no runtime prefix */
	char unit[UNIT_NAME_MAX + 1]; /* systemd unit, for CGROUP_SYSTEMD_SERVICE */
};

/* Classifies path (absolute, as in /proc/<pid>/cgroup or relative to the v2 mount; leading
 * "/.." components of a cgroup-namespace view are skipped). Fills *ret and returns 0 for any
 * well-formed path, known shape or not; returns -EINVAL for NULL, empty, relative, over-long
 * paths, ".." after the start, or control characters, and then leaves *ret untouched. */
int cgroup_path_parse(const char *path, struct cgroup_ident *ret);

/* True when path is the own cgroup of container container_id (64 hex) of the pod pod_uid
 * (dashed form) in a kubelet layout, either driver: not a cgroup nested in it, not a runtime
 * helper. Pure. */
bool cgroup_path_is_container(const char *path, const char *pod_uid, const char *container_id);

const char *cgroup_kind_name(enum cgroup_kind kind);
/* "Guaranteed", "Burstable", "BestEffort" as in status.qosClass; "" for none. */
const char *kube_qos_name(enum kube_qos qos);
const char *container_runtime_name(enum container_runtime rt);

#endif
