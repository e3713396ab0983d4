/* SPDX-License-Identifier: BSD-2-Clause */
/* Volume classes (SPEC §4): what a mount seen by a container is — its rootfs, an emptyDir, a
 * PVC, configuration, memory, or a host path — found by resolving the mount to a host path.
 * Pseudo filesystems (procfs, sysfs, cgroupfs, …) are not volumes at all. */
#ifndef BPFDIAG_VOLUME_H
#define BPFDIAG_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

#include "host/mountinfo.h"
#include "model/kinds.h"

struct volume {
	enum volume_class cls;
	char name[256]; /* volume (directory) name from the kubelet path, else the mount point */
	char host_path[1024]; /* where the mount's root lives on the host; "" when unknown */
	/* host_path is in the kubelet volume directory of the pod passed to volume_classify:
	 * name is then kubelet's name for the volume (for a PV-backed one, the PV name). */
	bool pod_volume;
	/* Its k8s.volume.type (OTLP): the kubelet plugin's semconv value (configMap, secret,
	 * downwardAPI, emptyDir, persistentVolumeClaim), else ours (volume_class_k8s_type). */
	const char *type;
};

/* True for the filesystem types (mountinfo's fstype) that hold no data of their own: procfs,
 * sysfs, cgroupfs, devpts, mqueue, debugfs, tracefs, bpffs, … */
bool volume_fstype_pseudo(const char *fstype);

/* Classifies a container mount. m is the mount as the container sees it; host is the host's
 * mountinfo text (<proc>/1/mountinfo), searched for the same device to turn m's root into a host
 * path. pod_uid (NULL or "" when unknown) is the UID of the container's pod: when the device is
 * mounted on the host several times, the mount in that pod's kubelet volume directory
 * (…/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>) wins, as kubelet's view of what the mount
 * is; otherwise the host mount with the longest root containing m's root, the first of equals.
 * Pure: no I/O. Returns 0. */
int volume_classify(const struct mountinfo_entry *m, const char *host_mountinfo,
		    const char *pod_uid, struct volume *ret);

/* Resolves mount mnt_id as seen by process pid under proc_root: reads its mountinfo and the
 * host's (<proc_root>/1/mountinfo); pod_uid as for volume_classify. Returns 0, -ENOENT when the
 * process or the mount is gone, or another negative errno. */
int volume_resolve(const char *proc_root, int pid, int mnt_id, const char *pod_uid,
		   struct volume *ret);

#endif
