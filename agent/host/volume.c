// SPDX-License-Identifier: BSD-2-Clause
#include "host/volume.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOUNTINFO_MAX (8u << 20)

bool volume_fstype_pseudo(const char *fstype)
{
	/* Kernel interfaces and virtual filesystems: what is written there is a setting or a
	 * message to the kernel (oom_score_adj, cgroup limits, /sys knobs), not stored data.
	 * tmpfs and ramfs are not here: their files are data, the `memory` class. fuse.lxcfs
	 * serves /proc and /sys files to containers; other FUSE filesystems may be storage. */
	static const char pseudo[] = " autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs "
				     "devpts devtmpfs efivarfs fuse.lxcfs fusectl hugetlbfs "
				     "mqueue nfsd nsfs proc pstore resctrl rpc_pipefs securityfs "
				     "selinuxfs smackfs sysfs tracefs ";
	char word[64];
	int n = fstype ? snprintf(word, sizeof(word), " %s ", fstype) : -1;

	return n > 2 && (size_t)n < sizeof(word) && !strchr(fstype, ' ') && strstr(pseudo, word);
}

/* Copies the path component after prefix in path (up to the next '/'). */
static void component_after(const char *path, const char *prefix, char *ret, size_t size)
{
	const char *p = strstr(path, prefix), *end;
	size_t n;

	ret[0] = '\0';
	if (!p)
		return;
	p += strlen(prefix);
	end = strchr(p, '/');
	n = end ? (size_t)(end - p) : strlen(p);
	if (n >= size)
		n = size - 1;
	memcpy(ret, p, n);
	ret[n] = '\0';
}

/* Kubelet volume layout: .../pods/<uid>/volumes/kubernetes.io~<plugin>/<name>[/mount] */
static enum volume_class classify_kubelet(const char *host_path, char *name, size_t size,
					  const char **ret_type)
{
	static const struct {
		const char *plugin;
		enum volume_class cls;
		const char *type; /* k8s.volume.type; NULL: the class's */
	} plugins[] = {
		{ "kubernetes.io~empty-dir/", VOLUME_EMPTYDIR, NULL },
		{ "kubernetes.io~configmap/", VOLUME_CONFIG, "configMap" },
		{ "kubernetes.io~secret/", VOLUME_CONFIG, "secret" },
		{ "kubernetes.io~projected/", VOLUME_CONFIG, "bpfdiag.projected" },
		{ "kubernetes.io~downward-api/", VOLUME_CONFIG, "downwardAPI" },
	};

	if (!strstr(host_path, "/pods/") || !strstr(host_path, "/volumes/kubernetes.io~"))
		return VOLUME_UNKNOWN;
	for (size_t i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++) {
		if (strstr(host_path, plugins[i].plugin)) {
			component_after(host_path, plugins[i].plugin, name, size);
			*ret_type = plugins[i].type;
			return plugins[i].cls;
		}
	}
	/* Every other plugin (csi, local, nfs, iscsi, rbd, …) is a persistent volume, named by
	 * the directory after kubernetes.io~<plugin>/. */
	const char *plugin =
		strstr(host_path, "/volumes/kubernetes.io~") + strlen("/volumes/kubernetes.io~");
	const char *dir = strchr(plugin, '/');

	if (dir)
		component_after(dir, "/", name, size);
	return VOLUME_PVC;
}

/* Joins a host mount point with the part of root below the host mount's own root. */
static int join_host_path(const char *mount_point, const char *host_root, const char *root,
			  char *ret, size_t size)
{
	size_t hl = strlen(host_root);
	const char *rest;
	int n;

	if (strcmp(host_root, "/") == 0)
		rest = root;
	else if (strncmp(root, host_root, hl) == 0 && (root[hl] == '/' || root[hl] == '\0'))
		rest = root + hl;
	else
		return -ENOENT;
	n = snprintf(ret, size, "%s%s", strcmp(mount_point, "/") == 0 ? "" : mount_point,
		     rest[0] ? rest : "");
	if (n <= 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (!ret[0])
		snprintf(ret, size, "/");
	return 0;
}

/* True when path is in the kubelet volume directory of pod uid. */
static bool in_pod_volumes(const char *path, const char *uid)
{
	char dir[128];

	if (!uid || !uid[0] || strchr(uid, '/'))
		return false;
	snprintf(dir, sizeof(dir), "/pods/%s/volumes/kubernetes.io~", uid);
	return strstr(path, dir) != NULL;
}

/* Finds where m's root lives on the host: a host mount of the same device whose root contains
 * m's root. A device can be mounted several times (a local PV's own mount and kubelet's bind of
 * it into the pod; a CSI staging mount and the pod's publish mount; a subPath's bind): the path
 * in the kubelet volume directory of pod uid wins, then the longest host root, then the first.
 * Sets *ret_pod when the pod's directory won. */
static int host_path_of(const struct mountinfo_entry *m, const char *host, const char *uid,
			char *ret, size_t size, bool *ret_pod)
{
	const char *line = host;
	size_t best = 0;
	int r = -ENOENT;

	*ret_pod = false;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char buf[4096];
		struct mountinfo_entry h;

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			if (mountinfo_parse_line(buf, &h) == 0 && h.major == m->major &&
			    h.minor == m->minor) {
				size_t hl = strlen(h.root);
				char cand[1024];
				bool pod;

				if (join_host_path(h.mount_point, h.root, m->root, cand,
						   sizeof(cand)) == 0) {
					pod = in_pod_volumes(cand, uid);
					if (r != 0 || (pod && !*ret_pod) ||
					    (pod == *ret_pod && hl > best)) {
						snprintf(ret, size, "%s", cand);
						best = hl;
						*ret_pod = pod;
						r = 0;
					}
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return r;
}

int volume_classify(const struct mountinfo_entry *m, const char *host_mountinfo,
		    const char *pod_uid, struct volume *ret)
{
	struct volume v = { 0 };

	/* A pseudo filesystem is what it is wherever it is mounted (a hostPath of /proc too). */
	if (volume_fstype_pseudo(m->fstype)) {
		v.cls = VOLUME_PSEUDO;
		snprintf(v.name, sizeof(v.name), "%s", m->mount_point);
		v.type = volume_class_k8s_type(v.cls);
		*ret = v;
		return 0;
	}
	if (host_path_of(m, host_mountinfo ? host_mountinfo : "", pod_uid, v.host_path,
			 sizeof(v.host_path), &v.pod_volume) == 0)
		v.cls = classify_kubelet(v.host_path, v.name, sizeof(v.name), &v.type);
	if (v.cls == VOLUME_UNKNOWN)
		v.pod_volume = false;
	/* A kubelet path wins: a memory-backed emptyDir is still an emptyDir. */
	if (v.cls == VOLUME_UNKNOWN) {
		if (strcmp(m->fstype, "overlay") == 0)
			v.cls = VOLUME_ROOTFS;
		else if (strcmp(m->fstype, "tmpfs") == 0 || strcmp(m->fstype, "ramfs") == 0)
			v.cls = VOLUME_MEMORY;
		else
			v.cls = VOLUME_HOSTPATH;
	}
	if (!v.name[0])
		snprintf(v.name, sizeof(v.name), "%s",
			 v.cls == VOLUME_ROOTFS ? "/" : m->mount_point);
	if (!v.type)
		v.type = volume_class_k8s_type(v.cls);
	*ret = v;
	return 0;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t cap = 65536, len = 0, n;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *nb = cap < MOUNTINFO_MAX ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

int volume_resolve(const char *proc_root, int pid, int mnt_id, const char *pod_uid,
		   struct volume *ret)
{
	char path[PATH_MAX], *mine, *host, *line, *save = NULL;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "%s/%d/mountinfo", proc_root, pid);
	mine = read_text(path);
	if (!mine)
		return -errno ? -errno : -ENOMEM;
	snprintf(path, sizeof(path), "%s/1/mountinfo", proc_root);
	host = read_text(path);
	if (!host) {
		free(mine);
		return -errno ? -errno : -ENOMEM;
	}
	for (line = strtok_r(mine, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mountinfo_entry e;

		if (mountinfo_parse_line(line, &e) == 0 && e.mount_id == mnt_id) {
			r = volume_classify(&e, host, pod_uid, ret);
			break;
		}
	}
	free(mine);
	free(host);
	return r;
}
