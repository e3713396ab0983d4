#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

const char *const series_label_names[LBL_MAX] = {
	[LBL_NAMESPACE] = "namespace", [LBL_POD] = "pod",
	[LBL_CONTAINER] = "container", [LBL_WORKLOAD_KIND] = "workload_kind",
	[LBL_WORKLOAD] = "workload",   [LBL_HELM_RELEASE] = "helm_release",
	[LBL_POD_UID] = "pod_uid",     [LBL_CONTAINER_ID] = "container_id",
};

static char empty[] = "";

struct snapshot *snapshot_new(size_t n)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refcnt = 1;
	s->node = empty;
	s->series = calloc(n ? n : 1, sizeof(*s->series));
	if (!s->series) {
		free(s);
		return NULL;
	}
	s->n_series = n;
	for (size_t i = 0; i < n; i++) {
		for (int l = 0; l < LBL_MAX; l++)
			s->series[i].labels[l] = empty;
		s->series[i].cgroup_path = empty;
	}
	return s;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
	if (s)
		__atomic_add_fetch(&s->refcnt, 1, __ATOMIC_RELAXED);
	return s;
}

static void free_str(char *p)
{
	if (p != empty)
		free(p);
}

struct snapshot *snapshot_unref(struct snapshot *s)
{
	if (!s || __atomic_sub_fetch(&s->refcnt, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	for (size_t i = 0; i < s->n_series; i++) {
		for (int l = 0; l < LBL_MAX; l++)
			free_str(s->series[i].labels[l]);
		free_str(s->series[i].cgroup_path);
	}
	free_str(s->node);
	free(s->series);
	free(s);
	return NULL;
}

void snapshot_slot_init(struct snapshot_slot *slot)
{
	pthread_mutex_init(&slot->lock, NULL);
	slot->cur = NULL;
}

void snapshot_slot_set(struct snapshot_slot *slot, struct snapshot *s)
{
	struct snapshot *old;

	pthread_mutex_lock(&slot->lock);
	old = slot->cur;
	slot->cur = s;
	pthread_mutex_unlock(&slot->lock);
	snapshot_unref(old);
}

struct snapshot *snapshot_slot_get(struct snapshot_slot *slot)
{
	struct snapshot *s;

	pthread_mutex_lock(&slot->lock);
	s = snapshot_ref(slot->cur);
	pthread_mutex_unlock(&slot->lock);
	return s;
}

void snapshot_slot_destroy(struct snapshot_slot *slot)
{
	snapshot_slot_set(slot, NULL);
	pthread_mutex_destroy(&slot->lock);
}
