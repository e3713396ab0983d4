// SPDX-License-Identifier: BSD-2-Clause
/* Where a stream's counts go in its cgroup's series: its block device by kernel name, its
 * mount as a volume of the pod (host/volume.h, with the pod's volume names and claims from
 * Kubernetes metadata). */
#include "engine/engine_priv.h"

#include "base/clock.h"
#include "host/volume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long an fs stream waits for the claims of its pod to be read before its PV-backed volume
 * is named after the PV; its counts wait in the BPF map meanwhile, nothing is lost. */
#define CLAIM_WAIT_SECONDS 30.0

/* Kernel name of a block device ("vda", "loop0"), from sysfs; "MAJ:MIN" when unknown. */
static const char *devname(struct engine *e, uint32_t dev)
{
	unsigned maj = dev >> 20, min = dev & 0xfffff;
	char path[128], line[256], *name = idmap_get(e->devnames, (uint64_t)dev + 1);
	FILE *f;

	if (name)
		return name;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", maj, min);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "DEVNAME=", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			name = strdup(line + 8);
			break;
		}
	}
	if (f)
		fclose(f);
	if (!name) {
		snprintf(line, sizeof(line), "%u:%u", maj, min);
		name = strdup(line);
	}
	if (name && idmap_put(e->devnames, (uint64_t)dev + 1, name)) {
		free(name);
		return "unknown";
	}
	return name ? name : "unknown";
}

void engine_devnames_free(struct engine *e)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	while (idmap_next(e->devnames, &pos, &key, &v))
		free(v);
	e->devnames = idmap_free(e->devnames);
}

/* A process of the cgroup, whose mount namespace shows the cgroup's mounts; 0 when empty. */
static int cgroup_pid(struct engine *e, const char *path)
{
	char p[PATH_MAX];
	int pid = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s%s/cgroup.procs", engine__cgroup_root(e),
		 strcmp(path, "/") ? path : "");
	f = fopen(p, "re");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/* The names of a volume in this container's pod: kubelet's directory name is the pod spec's
 * volume name, except for PV-backed volumes, named after the PV; their claim maps them back.
 * Returns -EAGAIN while a claim of the pod is still being read. */
static int kube_volume_names(struct engine *e, const char *uid, struct volume *v, char *claim,
			     size_t size)
{
	const struct kube_volume_info *vi;
	struct kube_pod_info *p = NULL;
	int r;

	claim[0] = '\0';
	if (!e->kube || !v->pod_volume || kube_meta__pod(e->kube, uid, &p))
		return 0;
	r = kube_pod_volume_by_dir(p, v->name, &vi);
	if (r == 0) {
		snprintf(v->name, sizeof(v->name), "%s", vi->vol.name);
		if (v->cls == VOLUME_PVC)
			snprintf(claim, size, "%s", vi->vol.claim);
	}
	kube_pod_info_free(p);
	return r == -EAGAIN ? r : 0;
}

/* Binds an fs stream (a mount id of the cgroup) to its volume. Leaves it unbound, to be tried
 * again at the next collection, while its volume's claim is being read. */
static int bind_fs(struct engine *e, struct cg *c, struct stream *s)
{
	struct volume v = { .cls = VOLUME_UNKNOWN };
	int pid = cgroup_pid(e, c->path);
	const char *uid = NULL;
	struct cgroup_ident id;
	char name[32], claim[KUBE_NAME_MAX + 1] = "";
	double now = clock_mono();
	struct acc *acc;

	if (cgroup_path_parse(c->path, &id) == 0 &&
	    (id.kind == CGROUP_KUBE_CONTAINER || id.kind == CGROUP_KUBE_POD))
		uid = id.pod_uid;
	/* Mount ids are global: the host's table knows host mounts when the cgroup is
	 * empty. */
	if ((!pid || volume_resolve(e->proc_root, pid, (int)s->key, uid, &v)) &&
	    volume_resolve(e->proc_root, 1, (int)s->key, uid, &v)) {
		snprintf(name, sizeof(name), "mount-%llu", (unsigned long long)s->key);
		acc = series_acc_fs(c->m.series, VOLUME_UNKNOWN, name, "");
	} else if (v.cls == VOLUME_PSEUDO) {
		acc = &e->pseudo;
	} else {
		if (uid && kube_volume_names(e, uid, &v, claim, sizeof(claim)) == -EAGAIN &&
		    !c->gone &&
		    (!s->unbound_since || now - s->unbound_since < CLAIM_WAIT_SECONDS)) {
			if (!s->unbound_since)
				s->unbound_since = now;
			return 0;
		}
		acc = series_acc_fs_typed(c->m.series, v.cls, v.name, claim, v.type);
	}
	if (!acc)
		return -ENOMEM;
	stream_bind(s, acc, NULL);
	return 0;
}

int engine_bind_stream(struct engine *e, struct cg *c, struct stream *s)
{
	struct series *se = c->m.series;
	struct acc *acc = NULL, *acc2 = NULL;

	switch (s->fam) {
	case FAM_CPU:
		acc = series_acc(se, ACC_CPU);
		break;
	case FAM_SAMPLES:
		acc = series_acc(se, ACC_SAMPLES);
		break;
	case FAM_DISK: {
		enum disk_rec_dir dir = s->key & 1 ? DISK_REC_WRITE : DISK_REC_READ;

		acc = series_acc_disk(se, ACC_DISK, dir, devname(e, (uint32_t)(s->key >> 1)));
		acc2 = series_acc_disk(se, ACC_DISKLAT, dir, NULL);
		if (!acc2)
			return -ENOMEM;
		break;
	}
	case FAM_FS:
		return bind_fs(e, c, s);
	case FAM_NET:
		acc = series_acc(se, ACC_NET);
		break;
	case FAM_OOM:
		acc = series_acc(se, ACC_OOM);
		break;
	}
	if (!acc)
		return -ENOMEM;
	stream_bind(s, acc, acc2);
	return 0;
}
