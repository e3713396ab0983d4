/* Volume classes (SPEC §4): what a mount seen by a container is — its rootfs, an emptyDir, a
 * PVC, configuration, memory, or a host path — found by resolving the mount to a host path. */
#ifndef BPFDIAG_VOLUME_H
#define BPFDIAG_VOLUME_H

#include <stddef.h>

#include "mountinfo.h"

enum volume_class {
	VOLUME_UNKNOWN = 0,
	VOLUME_ROOTFS,
	VOLUME_EMPTYDIR,
	VOLUME_PVC,
	VOLUME_CONFIG,
	VOLUME_MEMORY,
	VOLUME_HOSTPATH,
};

struct volume {
	enum volume_class cls;
	char name[256]; /* volume (directory) name from the kubelet path, else the mount point */
	char host_path[1024]; /* where the mount's root lives on the host; "" when unknown */
};

const char *volume_class_name(enum volume_class cls);

/* Classifies a container mount. m is the mount as the container sees it; host is the host's
 * mountinfo text (<proc>/1/mountinfo), searched for the same device to turn m's root into a host
 * path. Pure: no I/O. Returns 0. */
int volume_classify(const struct mountinfo_entry *m, const char *host_mountinfo,
		    struct volume *ret);

/* Resolves mount mnt_id as seen by process pid under proc_root: reads its mountinfo and the
 * host's (<proc_root>/1/mountinfo). Returns 0, -ENOENT when the process or the mount is gone,
 * or another negative errno. */
int volume_resolve(const char *proc_root, int pid, int mnt_id, struct volume *ret);

#endif
