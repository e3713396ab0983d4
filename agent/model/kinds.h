/* SPDX-License-Identifier: BSD-2-Clause */
/* Typed values the snapshot carries where labels would otherwise be compared as strings: the
 * volume class of a write (SPEC §4) and the role of a TCP connection. Their label values are
 * named here, once. */
#ifndef BPFDIAG_MODEL_KINDS_H
#define BPFDIAG_MODEL_KINDS_H

enum volume_class {
	VOLUME_UNKNOWN = 0,
	VOLUME_ROOTFS,
	VOLUME_EMPTYDIR,
	VOLUME_PVC,
	VOLUME_CONFIG,
	VOLUME_MEMORY,
	VOLUME_HOSTPATH,
	VOLUME_PSEUDO, /* procfs, sysfs, cgroupfs, devpts, …: not a volume, never exported */
	VOLUME_CLASS_MAX,
};

/* The label value: "rootfs", "emptydir", "pvc", "config", "memory", "hostpath", "pseudo",
 * "unknown". */
const char *volume_class_name(enum volume_class cls);
/* The OTLP attribute k8s.volume.type of a volume of class cls when nothing finer is known:
 * semconv's "emptyDir" and "persistentVolumeClaim", else ours ("bpfdiag.rootfs",
 * "bpfdiag.hostPath", "bpfdiag.memory", "bpfdiag.config", "bpfdiag.unknown", …). */
const char *volume_class_k8s_type(enum volume_class cls);

enum conn_role { ROLE_CLIENT = 0, ROLE_SERVER, ROLE_MAX };

/* "client" or "server". */
const char *conn_role_name(enum conn_role role);

#endif
