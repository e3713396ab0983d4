// SPDX-License-Identifier: BSD-2-Clause
#include "model/kinds.h"

const char *volume_class_name(enum volume_class cls)
{
	switch (cls) {
	case VOLUME_ROOTFS:
		return "rootfs";
	case VOLUME_EMPTYDIR:
		return "emptydir";
	case VOLUME_PVC:
		return "pvc";
	case VOLUME_CONFIG:
		return "config";
	case VOLUME_MEMORY:
		return "memory";
	case VOLUME_HOSTPATH:
		return "hostpath";
	case VOLUME_PSEUDO:
		return "pseudo";
	case VOLUME_UNKNOWN:
	case VOLUME_CLASS_MAX:
		break;
	}
	return "unknown";
}

const char *volume_class_k8s_type(enum volume_class cls)
{
	switch (cls) {
	case VOLUME_ROOTFS:
		return "bpfdiag.rootfs";
	case VOLUME_EMPTYDIR:
		return "emptyDir";
	case VOLUME_PVC:
		return "persistentVolumeClaim";
	case VOLUME_CONFIG:
		return "bpfdiag.config";
	case VOLUME_MEMORY:
		return "bpfdiag.memory";
	case VOLUME_HOSTPATH:
		return "bpfdiag.hostPath";
	case VOLUME_PSEUDO:
		return "bpfdiag.pseudo";
	case VOLUME_UNKNOWN:
	case VOLUME_CLASS_MAX:
		break;
	}
	return "bpfdiag.unknown";
}

const char *conn_role_name(enum conn_role role)
{
	return role == ROLE_SERVER ? "server" : "client";
}
