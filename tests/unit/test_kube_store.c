// SPDX-License-Identifier: BSD-2-Clause
/* The metadata store: container lookup by pod UID + container id (sandbox and pending
 * rules), owner confirmation and fallback through the fetch schedule, Helm from workload
 * annotations vs pod labels, PVC/PDB/HPA joins, TTLs, backoff, eviction, limits; and the
 * bpfdiag_pod_info / kube self-metric exposition. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kube/kube_store.h"
#include "codec/prom.h"
#include "model/snapshot.h"

#define ID_APP "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define ID_APP_OLD "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080706050403020100f"
#define ID_INIT "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2"
#define ID_SIDECAR "d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3"
#define ID_PAUSE "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define WEB_UID "3f9d1c2a-7b4e-4c1d-9a8f-2e6b5d4c3b2a"

static json_object *fixture(const char *name)
{
	char path[512];
	json_object *o;

	snprintf(path, sizeof(path), "%s/kube/%s", FIXTURES_DIR, name);
	o = json_object_from_file(path);
	assert_non_null(o);
	return o;
}

static struct kube_pod *parse(json_object *o)
{
	struct kube_pod *p = NULL;
	const char *why;

	assert_int_equal(kube_pod_parse(o, &p, &why), 0);
	return p;
}

static struct kube_pod *web_pod(const char *rv)
{
	json_object *o = fixture("pod-web.json");
	struct kube_pod *p;

	json_object_object_add(json_object_object_get(o, "metadata"), "resourceVersion",
			       json_object_new_string(rv));
	p = parse(o);
	json_object_put(o);
	return p;
}

static struct kube_pod *small_pod(const char *uid, const char *name, const char *extra_meta,
				  const char *spec_status)
{
	char json[4096];
	json_object *o;
	struct kube_pod *p;

	snprintf(json, sizeof(json),
		 "{\"kind\":\"Pod\",\"metadata\":{\"uid\":\"%s\",\"name\":\"%s\",\"namespace\":"
		 "\"ops\",\"resourceVersion\":\"1\"%s}%s}",
		 uid, name, extra_meta, spec_status);
	o = json_tokener_parse(json);
	assert_non_null(o);
	p = parse(o);
	json_object_put(o);
	return p;
}

static struct kube_store *new_store(void)
{
	struct kube_store_opts o = { .ttl = 100, .retry_min = 2, .sandbox_grace = 30 };
	struct kube_store *st = kube_store_new(&o);

	assert_non_null(st);
	return st;
}

static void test_container_lookup(void **state)
{
	struct kube_store *st = new_store();
	struct kube_container_info ci;
	struct kube_pod_info *pi;
	struct kube_labels kl;
	uint64_t g0 = kube_store_generation(st);

	(void)state;
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP, 0, 10, &kl), -ENOENT);
	assert_int_equal(kube_store_put_pod(st, web_pod("1"), 5), 1);
	assert_true(kube_store_generation(st) > g0);

	/* an app container: labels before any GET come from the owner reference */
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP, 0, 10, &kl), 0);
	assert_string_equal(kl.ns, "prod");
	assert_string_equal(kl.pod, "web-5d4f8b7c9-x2x9z");
	assert_string_equal(kl.container, "app");
	assert_string_equal(kl.workload_kind, "Deployment");
	assert_string_equal(kl.workload, "web");
	assert_string_equal(kl.helm_release, "shop"); /* pod label fallback */
	/* the previous instance of a restarted container is still that container */
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP_OLD, 0, 10, &kl), 0);
	assert_string_equal(kl.container, "app");

	/* init containers and sidecars are flagged */
	assert_int_equal(kube_store_container(st, WEB_UID, ID_INIT, 0, 10, &ci), 0);
	assert_string_equal(ci.labels.container, "wait-db");
	assert_int_equal(ci.container.type, KUBE_CONTAINER_INIT);
	assert_false(ci.sandbox);
	assert_int_equal(kube_store_container(st, WEB_UID, ID_SIDECAR, 0, 10, &ci), 0);
	assert_int_equal(ci.container.type, KUBE_CONTAINER_INIT);
	assert_true(ci.container.sidecar);

	/* pod-level cgroups and the pause container are the sandbox */
	assert_int_equal(kube_store_container(st, WEB_UID, "", 0, 10, &ci), 0);
	assert_true(ci.sandbox);
	assert_string_equal(ci.labels.container, KUBE_SANDBOX_NAME);
	assert_string_equal(ci.labels.workload, "web");
	assert_int_equal(kube_store_container(st, WEB_UID, ID_PAUSE, 0, 10, &ci), 0);
	assert_true(ci.sandbox);
	assert_string_equal(ci.container_id, ID_PAUSE);

	/* an unknown id seen after the last status may be a container kubelet has not reported
	 * yet: pending until a newer status or the grace period */
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_PAUSE, 7, 10, &kl), -EAGAIN);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_PAUSE, 7, 36.9, &kl), -EAGAIN);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_PAUSE, 7, 37, &kl), 0);
	assert_string_equal(kl.container, KUBE_SANDBOX_NAME);
	assert_int_equal(kube_store_put_pod(st, web_pod("2"), 8), 1);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_PAUSE, 7, 10, &kl), 0);
	assert_string_equal(kl.container, KUBE_SANDBOX_NAME);

	/* the same resourceVersion again changes nothing */
	g0 = kube_store_generation(st);
	assert_int_equal(kube_store_put_pod(st, web_pod("2"), 9), 0);
	assert_int_equal(kube_store_generation(st), g0);

	/* a pod whose containers have not all started: unknown ids stay pending (not sandbox)
	 * until the grace period, even after a newer status */
	assert_int_equal(kube_store_put_pod(st,
					    small_pod("0b-1", "starting", "",
						      ",\"spec\":{\"containers\":[{\"name\":"
						      "\"a\"},{\"name\":\"b\"}]},\"status\":{"
						      "\"containerStatuses\":[{\"name\":\"a\","
						      "\"containerID\":\"containerd://" ID_APP
						      "\"},{\"name\":\"b\",\"state\":{"
						      "\"waiting\":{}}}]}"),
					    20),
			 1);
	assert_int_equal(kube_store_labels(st, "0b-1", ID_APP, 15, 21, &kl), 0);
	assert_string_equal(kl.container, "a");
	assert_int_equal(kube_store_labels(st, "0b-1", ID_PAUSE, 15, 21, &kl), -EAGAIN);
	assert_int_equal(kube_store_labels(st, "0b-1", ID_PAUSE, 15, 45, &kl), 0);
	assert_string_equal(kl.workload_kind, "Pod"); /* a bare pod: never fetched, settled */
	assert_int_equal(kube_store_pod(st, "0b-1", &pi), 0);
	assert_true(pi->workload.settled);
	kube_pod_info_free(pi);
	assert_string_equal(kl.workload, "starting");
	assert_string_equal(kl.helm_release, "");

	/* another pod's container id under this UID is not that container */
	assert_int_equal(kube_store_labels(st, "0b-1", ID_INIT, 0, 45, &kl), 0);
	assert_string_equal(kl.container, KUBE_SANDBOX_NAME);
	assert_string_equal(kl.pod, "starting");

	assert_int_equal(kube_store_delete_pod(st, WEB_UID), 1);
	assert_int_equal(kube_store_delete_pod(st, WEB_UID), 0);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP, 0, 50, &kl), -ENOENT);
	assert_null(kube_store_free(st));
	assert_null(kube_store_free(NULL));
}

/* The containers whose cgroups the collector looks up: running app containers and sidecars
 * with an id, under the UID in their cgroup path. */
static void test_running_containers(void **state)
{
	struct kube_container_ref refs[8];
	struct kube_pod *p = web_pod("1");
	size_t n;

	(void)state;
	n = kube_pod_running_containers(p, refs, 8);
	assert_int_equal(n, 3); /* not the terminated init container wait-db */
	assert_string_equal(refs[0].pod_uid, WEB_UID);
	assert_string_equal(refs[0].id, ID_SIDECAR); /* log-shipper, a running sidecar */
	assert_string_equal(refs[1].id, ID_APP); /* not its previous instance */
	assert_string_equal(refs[2].id,
			    "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1");
	/* counting only, and a short array */
	assert_int_equal(kube_pod_running_containers(p, NULL, 0), 3);
	memset(refs, 0, sizeof(refs));
	assert_int_equal(kube_pod_running_containers(p, refs, 1), 3);
	assert_string_equal(refs[0].id, ID_SIDECAR);
	assert_string_equal(refs[1].id, "");
	kube_pod_free(p);

	/* waiting (no id yet), terminated, running without an id, ephemeral */
	p = small_pod(
		"0b-1", "starting", "",
		",\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":"
		"\"c\"},{\"name\":\"d\"}]},\"status\":{\"containerStatuses\":[{\"name\":"
		"\"a\",\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}},{\"name\":"
		"\"b\",\"containerID\":\"containerd://" ID_INIT "\",\"state\":{\"terminated\":"
		"{\"exitCode\":0}}},{\"name\":\"c\",\"state\":{\"running\":{}}},{\"name\":\"d\","
		"\"containerID\":\"cri-o://" ID_APP "\",\"state\":{\"running\":{}}}],"
		"\"ephemeralContainerStatuses\":[{\"name\":\"debug\",\"containerID\":"
		"\"containerd://" ID_PAUSE "\",\"state\":{\"running\":{}}}]}");
	assert_int_equal(kube_pod_running_containers(p, refs, 8), 1);
	assert_string_equal(refs[0].pod_uid, "0b-1");
	assert_string_equal(refs[0].id, ID_APP);
	kube_pod_free(p);

	/* a static pod's cgroups carry the kubelet's UID, not the mirror pod's */
	p = small_pod(
		"8d1f0b3c-0000-4000-8000-00000000000a", "etcd-node-a",
		",\"annotations\":{\"kubernetes.io/config.mirror\":"
		"\"0123456789abcdef0123456789abcdef\"}",
		",\"spec\":{\"containers\":[{\"name\":\"etcd\"}]},\"status\":{"
		"\"containerStatuses\":[{\"name\":\"etcd\",\"containerID\":\"containerd://" ID_APP
		"\",\"state\":{\"running\":{\"startedAt\":\"2024-05-01T10:00:00Z\"}}}]}");
	assert_int_equal(kube_pod_running_containers(p, refs, 8), 1);
	assert_string_equal(refs[0].pod_uid, "0123456789abcdef0123456789abcdef");
	kube_pod_free(p);
}

static void test_relist_and_limits(void **state)
{
	struct kube_store_opts o = { .max_pods = 2 };
	struct kube_store *st = kube_store_new(&o);
	struct kube_labels kl;

	(void)state;
	assert_int_equal(kube_store_put_pod(st, small_pod("0a", "a", "", ""), 1), 1);
	assert_int_equal(kube_store_put_pod(st, small_pod("0b", "b", "", ""), 1), 1);
	assert_int_equal(kube_store_put_pod(st, small_pod("0c", "c", "", ""), 1), -ENOSPC);
	assert_int_equal(kube_store_n_pods(st), 2);
	/* a relist that no longer has b removes it; the stale b does not hold c back */
	kube_store_mark(st);
	assert_int_equal(kube_store_put_pod(st, small_pod("0a", "a", "", ""), 2), 0);
	assert_int_equal(kube_store_put_pod(st, small_pod("0c", "c", "", ""), 2), 1);
	assert_int_equal(kube_store_put_pod(st, small_pod("0e", "e", "", ""), 2), -ENOSPC);
	assert_int_equal(kube_store_sweep(st), 1);
	assert_int_equal(kube_store_n_pods(st), 2);
	assert_int_equal(kube_store_labels(st, "0b", "", 0, 3, &kl), -ENOENT);
	assert_int_equal(kube_store_labels(st, "0a", "", 0, 3, &kl), 0);
	assert_int_equal(kube_store_labels(st, "0c", "", 0, 3, &kl), 0);
	assert_int_equal(kube_store_delete_pod(st, "0c"), 1);
	/* a static pod's cgroups carry the kubelet UID of its mirror annotation */
	kube_store_mark(st);
	kube_store_put_pod(st,
			   small_pod("0d", "etcd-node-a",
				     ",\"annotations\":{\"kubernetes.io/config.mirror\":"
				     "\"0123456789abcdef0123456789abcdef\"}",
				     ""),
			   4);
	assert_int_equal(kube_store_sweep(st), 1);
	assert_int_equal(kube_store_labels(st, "0123456789abcdef0123456789abcdef", "", 0, 5, &kl),
			 0);
	assert_string_equal(kl.pod, "etcd-node-a");
	assert_int_equal(kube_store_delete_pod(st, "0d"), 1);
	assert_int_equal(kube_store_labels(st, "0123456789abcdef0123456789abcdef", "", 0, 5, &kl),
			 -ENOENT);
	kube_store_free(st);
}

/* How the fake API answers fetches in these tests. */
struct answers {
	int deployment; /* result for Deployments: 0 (with *wl), -ENOENT, -EIO */
	const struct kube_workload *wl;
	int other_workloads; /* result for every other workload kind */
	bool fixtures; /* PVC web-data, PDB and HPA lists from the fixtures; else 404 */
	int lists; /* when !fixtures: result for claims and lists */
};

static void answer(struct kube_store *st, const struct kube_fetch *f, const struct answers *a,
		   double now)
{
	struct kube_pdb *pdbs;
	struct kube_hpa *hpas;
	struct kube_pvc pvc;
	json_object *o;
	const char *why;
	unsigned n;
	bool trunc;

	switch (f->cache) {
	case KUBE_CACHE_WORKLOAD:
		if (f->kind == KUBE_KIND_DEPLOYMENT)
			kube_store_put_workload(st, f, a->deployment, a->wl, now);
		else
			kube_store_put_workload(st, f, a->other_workloads, NULL, now);
		break;
	case KUBE_CACHE_PVC:
		if (a->fixtures && strcmp(f->name, "web-data") == 0) {
			o = fixture("pvc-web-data.json");
			assert_int_equal(kube_pvc_parse(o, &pvc, &why), 0);
			json_object_put(o);
			kube_store_put_pvc(st, f, 0, &pvc, now);
		} else {
			kube_store_put_pvc(st, f, a->fixtures ? -ENOENT : a->lists, NULL, now);
		}
		break;
	case KUBE_CACHE_PDB:
		if (!a->fixtures) {
			kube_store_put_pdbs(st, f, a->lists, NULL, 0, now);
			break;
		}
		o = fixture("pdb-list.json");
		assert_int_equal(kube_pdb_list_parse(o, &pdbs, &n, &trunc), 0);
		json_object_put(o);
		kube_store_put_pdbs(st, f, 0, pdbs, n, now);
		break;
	default:
		if (!a->fixtures) {
			kube_store_put_hpas(st, f, a->lists, NULL, 0, now);
			break;
		}
		o = fixture("hpa-list.json");
		assert_int_equal(kube_hpa_list_parse(o, &hpas, &n, &trunc), 0);
		json_object_put(o);
		kube_store_put_hpas(st, f, 0, hpas, n, now);
		break;
	}
}

/* Answers every fetch due at now; returns how many there were. */
static int answer_all(struct kube_store *st, double now, const struct answers *a)
{
	struct kube_fetch f;
	double next;
	int n = 0;

	while (kube_store_next_fetch(st, now, &f, &next) == 1) {
		answer(st, &f, a, now);
		assert_true(++n < 50);
	}
	return n;
}

static void test_owner_confirmation(void **state)
{
	struct kube_store *st = new_store();
	struct kube_workload wl = { 0 };
	struct kube_pod_info *pi;
	struct kube_fetch f;
	struct kube_labels kl;
	struct answers a = { .deployment = -ENOENT, .other_workloads = -EIO, .lists = -ENOENT };
	json_object *o;
	const char *why;
	double next;
	uint64_t sizes[KUBE_CACHE_MAX];

	(void)state;
	kube_store_put_pod(st, web_pod("1"), 0);
	/* nothing asked yet: not settled (static rules wait) */
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_false(pi->workload.settled);
	kube_pod_info_free(pi);
	/* first the derived Deployment; the PVCs (claim and ephemeral), PDB and HPA lists are
	 * scheduled too */
	assert_int_equal(kube_store_next_fetch(st, 1, &f, &next), 1);
	assert_int_equal(f.cache, KUBE_CACHE_WORKLOAD);
	assert_int_equal(f.kind, KUBE_KIND_DEPLOYMENT);
	assert_string_equal(f.ns, "prod");
	assert_string_equal(f.name, "web");
	kube_store_cache_sizes(st, sizes);
	assert_int_equal(sizes[KUBE_CACHE_WORKLOAD], 1);
	assert_int_equal(sizes[KUBE_CACHE_PVC], 2);
	assert_int_equal(sizes[KUBE_CACHE_PDB], 1);
	assert_int_equal(sizes[KUBE_CACHE_HPA], 1);

	/* 404: the guess was wrong, the ReplicaSet is the workload and gets fetched */
	assert_int_equal(kube_store_put_workload(st, &f, -ENOENT, NULL, 1), 0);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP, 0, 1, &kl), 0);
	assert_string_equal(kl.workload_kind, "ReplicaSet");
	assert_string_equal(kl.workload, "web-5d4f8b7c9");
	assert_int_equal(kube_store_next_fetch(st, 1, &f, &next), 1);
	assert_int_equal(f.kind, KUBE_KIND_REPLICASET);
	assert_string_equal(f.name, "web-5d4f8b7c9");
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_false(pi->workload.settled); /* the ReplicaSet is still to be read */
	kube_pod_info_free(pi);
	/* failures are retried with backoff: 2 s, then 4 s */
	assert_int_equal(answer_all(st, 1, &a), 5);
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_true(pi->workload.settled); /* failed: judged with what is known */
	assert_false(pi->workload.confirmed);
	kube_pod_info_free(pi);
	assert_int_equal(kube_store_next_fetch(st, 2.9, &f, &next), 0);
	assert_float_equal(next, 3, 1e-9);
	assert_int_equal(answer_all(st, 3, &a), 1);
	assert_int_equal(kube_store_next_fetch(st, 6.9, &f, &next), 0);
	assert_float_equal(next, 7, 1e-9);

	/* after the TTL the Deployment is there: confirmed, Helm from its annotations */
	o = fixture("deployment-web.json");
	assert_int_equal(kube_workload_parse(o, KUBE_KIND_DEPLOYMENT, &wl, &why), 0);
	json_object_put(o);
	snprintf(wl.helm_release, sizeof(wl.helm_release), "shop-from-annotation");
	a.deployment = 0;
	a.wl = &wl;
	assert_true(answer_all(st, 101, &a) >= 1);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP, 0, 101, &kl), 0);
	assert_string_equal(kl.workload_kind, "Deployment");
	assert_string_equal(kl.workload, "web");
	assert_string_equal(kl.helm_release, "shop-from-annotation");
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_true(pi->workload.confirmed);
	assert_true(pi->workload.settled);
	assert_int_equal(pi->workload.spec.replicas, 3);
	assert_string_equal(pi->workload.helm.chart, "web-1.2.3");
	assert_string_equal(pi->workload.ignore_rules, "all"); /* the workload's annotation wins */
	assert_int_equal(pi->n_containers, 4);
	assert_int_equal(pi->n_volumes, 6);
	assert_false(pi->volumes[0].pvc_known);
	kube_pod_info_free(pi);

	/* stale-while-revalidate: a failed refresh keeps the confirmed data */
	a.deployment = -EIO;
	a.lists = -EIO;
	assert_true(answer_all(st, 250, &a) >= 1);
	assert_int_equal(kube_store_labels(st, WEB_UID, ID_APP, 0, 250, &kl), 0);
	assert_string_equal(kl.workload_kind, "Deployment");
	assert_string_equal(kl.helm_release, "shop-from-annotation");

	/* once no pod needs them, expired entries are evicted */
	kube_store_delete_pod(st, WEB_UID);
	assert_int_equal(kube_store_next_fetch(st, 1000, &f, &next), 0);
	kube_store_cache_sizes(st, sizes);
	for (int c = 0; c < KUBE_CACHE_MAX; c++)
		assert_int_equal(sizes[c], 0);
	kube_store_free(st);
}

/* Operator-owned and CronJob pods, and the PVC/PDB/HPA joins. */
static void test_joins(void **state)
{
	struct kube_store *st = new_store();
	struct kube_workload wl = { .kind = KUBE_KIND_DEPLOYMENT, .replicas = 2 };
	struct answers a = { .deployment = -ENOENT, .other_workloads = -ENOENT, .lists = -ENOENT };
	struct kube_fetch f;
	struct kube_labels kl;
	struct kube_pod_info *pi;
	double next;

	(void)state;
	kube_store_put_pod(
		st,
		small_pod("0e", "rmq-server-0",
			  ",\"ownerReferences\":[{\"apiVersion\":\"rabbitmq.com/v1beta1\","
			  "\"kind\":\"RabbitmqCluster\",\"name\":\"rmq\",\"controller\":true}]",
			  ""),
		0);
	kube_store_put_pod(st,
			   small_pod("0f", "backup-28391234-x7x2q",
				     ",\"ownerReferences\":[{\"apiVersion\":\"batch/v1\",\"kind\":"
				     "\"Job\",\"name\":\"backup-28391234\",\"controller\":true}]",
				     ""),
			   0);
	assert_int_equal(kube_store_labels(st, "0e", "", 0, 1, &kl), 0);
	assert_string_equal(kl.workload_kind, "RabbitmqCluster");
	assert_string_equal(kl.workload, "rmq");
	assert_int_equal(kube_store_labels(st, "0f", "", 0, 1, &kl), 0);
	assert_string_equal(kl.workload_kind, "CronJob");
	assert_string_equal(kl.workload, "backup");
	/* operators are never fetched: the CronJob guess, then (404) the Job, and one PDB and
	 * one HPA list for the namespace */
	{
		int n = 0, cron_at = -1, job_at = -1, lists = 0;

		while (kube_store_next_fetch(st, 1, &f, &next) == 1) {
			assert_true(n < 10);
			if (f.cache == KUBE_CACHE_WORKLOAD) {
				assert_true(f.kind == KUBE_KIND_CRONJOB || f.kind == KUBE_KIND_JOB);
				*(f.kind == KUBE_KIND_CRONJOB ? &cron_at : &job_at) = n;
			} else {
				assert_true(f.cache == KUBE_CACHE_PDB || f.cache == KUBE_CACHE_HPA);
				assert_string_equal(f.ns, "ops");
				lists++;
			}
			answer(st, &f, &a, 1);
			n++;
		}
		assert_int_equal(n, 4);
		assert_int_equal(lists, 2);
		assert_true(cron_at >= 0 && job_at > cron_at);
	}
	/* CronJob 404: the Job is the workload */
	assert_int_equal(kube_store_labels(st, "0f", "", 0, 1, &kl), 0);
	assert_string_equal(kl.workload_kind, "Job");
	assert_string_equal(kl.workload, "backup-28391234");
	kube_store_free(st);

	/* the web pod with its claim, PDB and HPA */
	st = new_store();
	kube_store_put_pod(st, web_pod("1"), 0);
	snprintf(wl.ns, sizeof(wl.ns), "prod");
	snprintf(wl.name, sizeof(wl.name), "web");
	a = (struct answers){ .deployment = 0, .wl = &wl, .fixtures = true };
	answer_all(st, 1, &a);
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_true(pi->volumes[0].pvc_known);
	assert_int_equal(pi->volumes[0].pvc.access_modes, KUBE_ACCESS_RWO | KUBE_ACCESS_RWOP);
	assert_false(pi->volumes[3].pvc_known); /* the ephemeral claim: 404 */
	assert_true(pi->has_pdb);
	assert_string_equal(pi->pdb_name, "web-pdb");
	assert_string_equal(pi->pdb_max_unavailable, "25%");
	assert_true(pi->workload.has_hpa);
	assert_string_equal(pi->workload.hpa_name, "web");
	assert_int_equal(pi->workload.hpa_min, 2);
	assert_int_equal(pi->workload.hpa_max, 10);
	assert_string_equal(pi->qos, "Burstable");
	assert_int_equal(pi->n_ips, 2);
	assert_string_equal(pi->workload.helm.release, "shop"); /* no annotation: pod label */
	kube_pod_info_free(pi);
	assert_null(kube_pod_info_free(NULL));
	assert_int_equal(kube_store_pod(st, "0-nope", &pi), -ENOENT);
	kube_store_free(st);
}

/* Kubelet's volume directory names back to the pod's volumes: a PV's name through the claim's
 * spec.volumeName once the claim is read, other volumes by their own name. */
static void test_volume_by_dir(void **state)
{
	static const char pv[] = "pvc-4d5e6f70-8192-4a3b-8c4d-5e6f708192a3";
	struct kube_store *st = new_store();
	struct kube_workload wl = { .kind = KUBE_KIND_DEPLOYMENT, .replicas = 1 };
	struct answers a = { .deployment = 0, .wl = &wl, .fixtures = true };
	const struct kube_volume_info *v;
	struct kube_pod_info *pi;

	(void)state;
	snprintf(wl.ns, sizeof(wl.ns), "prod");
	snprintf(wl.name, sizeof(wl.name), "web");
	kube_store_put_pod(st, web_pod("1"), 0);
	/* claims not read yet: a PV name may be one of them */
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_true(pi->volumes[0].pvc_pending);
	assert_false(pi->volumes[1].pvc_pending); /* an emptyDir has no claim */
	assert_int_equal(kube_pod_volume_by_dir(pi, pv, &v), -EAGAIN);
	assert_int_equal(kube_pod_volume_by_dir(pi, "cache", &v), 0);
	assert_string_equal(v->vol.name, "cache");
	assert_int_equal(kube_pod_volume_by_dir(pi, "kube-api-access-x7k2p", &v), 0);
	assert_int_equal(kube_pod_volume_by_dir(pi, "", &v), -ENOENT);
	kube_pod_info_free(pi);
	/* read: web-data is bound to the PV, the ephemeral claim is 404 */
	answer_all(st, 1, &a);
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_false(pi->volumes[0].pvc_pending);
	assert_false(pi->volumes[3].pvc_pending);
	assert_int_equal(kube_pod_volume_by_dir(pi, pv, &v), 0);
	assert_string_equal(v->vol.name, "data");
	assert_string_equal(v->vol.claim, "web-data");
	assert_int_equal(kube_pod_volume_by_dir(pi, "pvc-0000", &v), -ENOENT);
	kube_pod_info_free(pi);
	kube_store_free(st);

	/* claims that cannot be read (403, API away): no waiting, the PV keeps its name */
	st = new_store();
	kube_store_put_pod(st, web_pod("1"), 0);
	a = (struct answers){ .deployment = 0, .wl = &wl, .lists = -EACCES };
	answer_all(st, 1, &a);
	assert_int_equal(kube_store_pod(st, WEB_UID, &pi), 0);
	assert_false(pi->volumes[0].pvc_known);
	assert_false(pi->volumes[0].pvc_pending);
	assert_int_equal(kube_pod_volume_by_dir(pi, pv, &v), -ENOENT);
	kube_pod_info_free(pi);
	kube_store_free(st);
}

/* A cache never grows past its cap, whatever the pods reference. */
static void test_cache_cap(void **state)
{
	struct kube_store_opts so = { .max_cache = 2, .ttl = 10 };
	struct kube_store *st = kube_store_new(&so);
	struct answers a = { .deployment = -ENOENT, .other_workloads = -ENOENT, .lists = -ENOENT };
	struct kube_fetch f;
	uint64_t sizes[KUBE_CACHE_MAX];
	double next;
	char vols[1024] = ",\"spec\":{\"volumes\":[";

	(void)state;
	for (int i = 0; i < 5; i++) {
		char v[96];

		snprintf(v, sizeof(v),
			 "%s{\"name\":\"v%d\",\"persistentVolumeClaim\":{"
			 "\"claimName\":\"claim-%d\"}}",
			 i ? "," : "", i, i);
		strcat(vols, v);
	}
	strcat(vols, "]}");
	kube_store_put_pod(st, small_pod("0a", "many-claims", "", vols), 0);
	answer_all(st, 1, &a);
	kube_store_cache_sizes(st, sizes);
	assert_int_equal(sizes[KUBE_CACHE_PVC], 2);
	/* all fetched, the rest cannot be cached while the first two are in use and fresh */
	assert_int_equal(kube_store_next_fetch(st, 2, &f, &next), -ENOSPC);
	kube_store_free(st);
}

/* Answers every fetch due at now with "not found"; returns how many there were. */
static int answer_not_found(struct kube_store *st, double now)
{
	struct kube_fetch f;
	double next;
	int n = 0;

	while (kube_store_next_fetch(st, now, &f, &next) == 1) {
		if (f.cache == KUBE_CACHE_PVC)
			kube_store_put_pvc(st, &f, -ENOENT, NULL, now);
		else if (f.cache == KUBE_CACHE_PDB)
			kube_store_put_pdbs(st, &f, -ENOENT, NULL, 0, now);
		else if (f.cache == KUBE_CACHE_HPA)
			kube_store_put_hpas(st, &f, -ENOENT, NULL, 0, now);
		else
			kube_store_put_workload(st, &f, -ENOENT, NULL, now);
		assert_true(++n < 1000);
	}
	return n;
}

/* Pod i of many, uid "%04x" and one claim "claim-<i>". */
static struct kube_pod *claim_pod(int i)
{
	char uid[16], name[16], vols[160];

	snprintf(uid, sizeof(uid), "%04x", i);
	snprintf(name, sizeof(name), "p%d", i);
	snprintf(vols, sizeof(vols),
		 ",\"spec\":{\"volumes\":[{\"name\":\"data\",\"persistentVolumeClaim\":{"
		 "\"claimName\":\"claim-%d\"}}]}",
		 i);
	return small_pod(uid, name, "", vols);
}

/* A relist sweep and the cache eviction delete entries while they walk the maps: hundreds at
 * once, every one that is due and none other. */
static void test_sweep_and_evict_many(void **state)
{
	struct kube_store_opts so = { .ttl = 10 };
	struct kube_store *st = kube_store_new(&so);
	uint64_t sizes[KUBE_CACHE_MAX];
	struct kube_labels kl;
	struct kube_fetch f;
	double next;

	(void)state;
	for (int i = 0; i < 300; i++)
		assert_int_equal(kube_store_put_pod(st, claim_pod(i), 0), 1);
	assert_int_equal(answer_not_found(st, 1), 302); /* 300 claims, the PDB and HPA lists */
	kube_store_cache_sizes(st, sizes);
	assert_int_equal(sizes[KUBE_CACHE_PVC], 300);

	/* a relist that lists one pod in three */
	kube_store_mark(st);
	for (int i = 0; i < 300; i += 3)
		assert_int_equal(kube_store_put_pod(st, claim_pod(i), 2), 0);
	assert_int_equal(kube_store_sweep(st), 200);
	assert_int_equal(kube_store_n_pods(st), 100);
	for (int i = 0; i < 300; i++) {
		char uid[16];

		snprintf(uid, sizeof(uid), "%04x", i);
		assert_int_equal(kube_store_labels(st, uid, "", 0, 3, &kl), i % 3 ? -ENOENT : 0);
	}
	assert_int_equal(kube_store_sweep(st), 0);

	/* once expired, the claims of the 200 pods gone are evicted, the 100 in use stay */
	answer_not_found(st, 100);
	kube_store_cache_sizes(st, sizes);
	assert_int_equal(sizes[KUBE_CACHE_PVC], 100);
	assert_int_equal(sizes[KUBE_CACHE_PDB], 1);

	/* and once no pod is left, everything goes */
	kube_store_mark(st);
	assert_int_equal(kube_store_sweep(st), 100);
	assert_int_equal(kube_store_next_fetch(st, 200, &f, &next), 0);
	kube_store_cache_sizes(st, sizes);
	for (int c = 0; c < KUBE_CACHE_MAX; c++)
		assert_int_equal(sizes[c], 0);
	kube_store_free(st);
}

/* bpfdiag_pod_info and the kube self-metrics in the exposition: HELP and TYPE once per
 * family, every sample after its family's header, nothing in local mode. */
static void test_prom(void **state)
{
	struct snapshot *s = snapshot_new(0);
	struct strbuf sb = STRBUF_INIT;
	static const char *const labels[PLBL_MAX] = { "prod",	"web-1",     "0a-1",
						      "node-a", "Burstable", "Deployment",
						      "web",	"shop",	     "web-1.2.3" };
	char *families[64];
	int nf = 0;

	(void)state;
	assert_non_null(s);
	assert_int_equal(prom_encode(s, &sb), 0);
	assert_null(strstr(sb.data, "bpfdiag_pod_info"));
	assert_null(strstr(sb.data, "bpfdiag_agent_kube_"));
	strbuf_reset(&sb);

	s->agent.kube.enabled = true;
	s->agent.kube.up = true;
	s->agent.kube.requests[KUBE_RESULT_SUCCESS] = 7;
	s->agent.kube.errors[KERR_FORBIDDEN] = 2;
	s->pods = calloc(2, sizeof(*s->pods));
	s->n_pods = 2;
	for (int p = 0; p < 2; p++) {
		for (int l = 0; l < PLBL_MAX; l++)
			s->pods[p].labels[l] = strdup(p && l == PLBL_POD ? "we\"b-2" : labels[l]);
	}
	assert_int_equal(prom_encode(s, &sb), 0);
	assert_non_null(strstr(sb.data, "bpfdiag_pod_info{namespace=\"prod\",pod=\"web-1\","
					"uid=\"0a-1\",node=\"node-a\",qos_class=\"Burstable\","
					"workload_kind=\"Deployment\",workload=\"web\","
					"helm_release=\"shop\",helm_chart=\"web-1.2.3\"} 1\n"));
	assert_non_null(strstr(sb.data, "pod=\"we\\\"b-2\""));
	assert_non_null(strstr(sb.data, "\nbpfdiag_agent_kube_api_up 1\n"));
	assert_non_null(
		strstr(sb.data, "\nbpfdiag_agent_kube_api_requests_total{result=\"success\"} 7\n"));
	assert_non_null(
		strstr(sb.data, "\nbpfdiag_agent_kube_api_errors_total{reason=\"forbidden\"} 2\n"));
	assert_non_null(strstr(sb.data, "# TYPE bpfdiag_agent_kube_api_errors_total counter\n"));
	/* promtool's rules: one HELP and one TYPE per family, samples of declared families */
	for (char *line = sb.data; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char name[128];
		size_t n;

		if (strncmp(line, "# TYPE ", 7) == 0) {
			n = strcspn(line + 7, " ");
			snprintf(name, sizeof(name), "%.*s", (int)n, line + 7);
			for (int i = 0; i < nf; i++)
				assert_string_not_equal(families[i], name);
			assert_true(nf < 64);
			families[nf++] = strdup(name);
			continue;
		}
		if (line[0] == '#')
			continue;
		n = strcspn(line, "{ ");
		snprintf(name, sizeof(name), "%.*s", (int)n, line);
		bool declared = false;

		for (int i = 0; i < nf && !declared; i++) {
			size_t fl = strlen(families[i]);

			declared = strcmp(name, families[i]) == 0 ||
				   (strncmp(name, families[i], fl) == 0 &&
				    (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
				     !strcmp(name + fl, "_count")));
		}
		assert_true(declared);
	}
	{
		int helps = 0;

		for (char *p = sb.data; (p = strstr(p, "# HELP bpfdiag_pod_info ")); p++)
			helps++;
		assert_int_equal(helps, 1);
	}
	for (int i = 0; i < nf; i++)
		free(families[i]);
	strbuf_reset(&sb);
	snapshot_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_lookup),
		cmocka_unit_test(test_running_containers),
		cmocka_unit_test(test_relist_and_limits),
		cmocka_unit_test(test_owner_confirmation),
		cmocka_unit_test(test_joins),
		cmocka_unit_test(test_volume_by_dir),
		cmocka_unit_test(test_cache_cap),
		cmocka_unit_test(test_sweep_and_evict_many),
		cmocka_unit_test(test_prom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
