// SPDX-License-Identifier: BSD-2-Clause
/* The pure Kubernetes pieces: container-id prefixes, quantities, times, owner derivation,
 * the Helm rules, object parsers over realistic and hostile JSON, label selectors, and the
 * watch stream splitter over arbitrary chunk splits. */
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

#include "kube/kube_parse.h"

#define HEX64 "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

static char *slurp(const char *name, size_t *ret_len)
{
	char path[512];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/kube/%s", FIXTURES_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

static json_object *fixture(const char *name)
{
	char *text = slurp(name, NULL);
	json_object *o = json_tokener_parse(text);

	free(text);
	assert_non_null(o);
	return o;
}

static void test_container_id(void **state)
{
	char id[CONTAINER_ID_LEN + 1];

	(void)state;
	assert_int_equal(kube_container_id_parse("containerd://" HEX64, id), 0);
	assert_string_equal(id, HEX64);
	assert_int_equal(kube_container_id_parse("cri-o://" HEX64, id), 0);
	assert_string_equal(id, HEX64);
	assert_int_equal(kube_container_id_parse("docker://" HEX64, id), 0);
	assert_string_equal(id, HEX64);
	memset(id, 'x', sizeof(id));
	assert_int_equal(kube_container_id_parse(HEX64, id), -EINVAL); /* no scheme */
	assert_int_equal(id[0], 'x'); /* untouched on failure */
	assert_int_equal(kube_container_id_parse("://" HEX64, id), -EINVAL);
	assert_int_equal(kube_container_id_parse("containerd://" HEX64 "0", id), -EINVAL);
	assert_int_equal(kube_container_id_parse("containerd://abc", id), -EINVAL);
	assert_int_equal(kube_container_id_parse("containerd://"
						 "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718"
						 "293A4B5C6D7E8F90",
						 id),
			 -EINVAL);
	assert_int_equal(kube_container_id_parse("", id), -EINVAL);
	assert_int_equal(kube_container_id_parse(NULL, id), -EINVAL);
}

static void test_quantity(void **state)
{
	static const struct {
		const char *s;
		double v;
	} ok[] = {
		{ "100m", 0.1 },       { "1", 1 },	  { "1.5", 1.5 },     { "64Mi", 67108864 },
		{ "1Gi", 1073741824 }, { "1G", 1e9 },	  { "2e3", 2000 },    { "1E", 1e18 },
		{ "1Ki", 1024 },       { "0.5Ki", 512 },  { "250u", 250e-6 }, { "+3k", 3000 },
		{ ".5", 0.5 },	       { "1e-3", 0.001 },
	};
	static const char *const bad[] = { "",	 "abc",	  "1x", "0x10", "inf", "nan",
					   "1e", "1.2.3", "Mi", "1 Mi", "--1", "1Mii" };
	double v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(kube_quantity_parse(ok[i].s, &v), 0);
		assert_float_equal(v, ok[i].v, ok[i].v * 1e-12);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kube_quantity_parse(bad[i], &v), -EINVAL);
	assert_int_equal(kube_quantity_parse(NULL, &v), -EINVAL);
}

static void test_time(void **state)
{
	double t;

	(void)state;
	assert_int_equal(kube_time_parse("2024-05-01T10:00:00Z", &t), 0);
	assert_float_equal(t, 1714557600.0, 1e-6);
	assert_int_equal(kube_time_parse("2024-05-01T10:00:06.250Z", &t), 0);
	assert_float_equal(t, 1714557606.25, 1e-6);
	assert_int_equal(kube_time_parse("2024-05-01T12:00:00+02:00", &t), 0);
	assert_float_equal(t, 1714557600.0, 1e-6);
	assert_int_equal(kube_time_parse("2024-05-01T05:30:00-04:30", &t), 0);
	assert_float_equal(t, 1714557600.0, 1e-6);
	assert_int_equal(kube_time_parse("2024-05-01 10:00:00Z", &t), -EINVAL);
	assert_int_equal(kube_time_parse("2024-05-01T10:00:00", &t), -EINVAL);
	assert_int_equal(kube_time_parse("2024-13-01T10:00:00Z", &t), -EINVAL);
	assert_int_equal(kube_time_parse("2024-05-01T10:00:00Zjunk", &t), -EINVAL);
	assert_int_equal(kube_time_parse("2024-05-01T10:00:00.Z", &t), -EINVAL);
	assert_int_equal(kube_time_parse(NULL, &t), -EINVAL);
}

static void owner(const char *kind, const char *apiv, const char *name, const char *hash,
		  enum kube_kind want_kind, const char *want_kind_name, const char *want_name,
		  enum kube_kind want_fb, const char *want_fb_name)
{
	struct kube_owner o;

	kube_owner_derive(kind, apiv, name, "the-pod", hash, &o);
	assert_int_equal(o.kind, want_kind);
	assert_string_equal(o.kind_name, want_kind_name);
	assert_string_equal(o.name, want_name);
	assert_int_equal(o.fallback, want_fb);
	assert_string_equal(o.fallback_name, want_fb_name);
}

static void test_owner_derive(void **state)
{
	(void)state;
	owner(NULL, NULL, NULL, NULL, KUBE_KIND_POD, "Pod", "the-pod", KUBE_KIND_OTHER, "");
	owner("", "", "", "", KUBE_KIND_POD, "Pod", "the-pod", KUBE_KIND_OTHER, "");
	/* ReplicaSet → Deployment by the pod-template-hash suffix */
	owner("ReplicaSet", "apps/v1", "web-5d4f8b7c9", "5d4f8b7c9", KUBE_KIND_DEPLOYMENT,
	      "Deployment", "web", KUBE_KIND_REPLICASET, "web-5d4f8b7c9");
	owner("ReplicaSet", "apps/v1", "my-app-v2-6b8f", "6b8f", KUBE_KIND_DEPLOYMENT, "Deployment",
	      "my-app-v2", KUBE_KIND_REPLICASET, "my-app-v2-6b8f");
	owner("ReplicaSet", "apps/v1", "web-5d4f8b7c9", "", KUBE_KIND_REPLICASET, "ReplicaSet",
	      "web-5d4f8b7c9", KUBE_KIND_OTHER, "");
	owner("ReplicaSet", "apps/v1", "web-5d4f8b7c9", "ffff", KUBE_KIND_REPLICASET, "ReplicaSet",
	      "web-5d4f8b7c9", KUBE_KIND_OTHER, "");
	owner("ReplicaSet", "apps/v1", "web5d4f8b7c9", "5d4f8b7c9", KUBE_KIND_REPLICASET,
	      "ReplicaSet", "web5d4f8b7c9", KUBE_KIND_OTHER, "");
	owner("ReplicaSet", "apps/v1", "-5d4f", "5d4f", KUBE_KIND_REPLICASET, "ReplicaSet", "-5d4f",
	      KUBE_KIND_OTHER, "");
	/* Job → CronJob by the -<scheduled minutes> suffix */
	owner("Job", "batch/v1", "backup-28391234", NULL, KUBE_KIND_CRONJOB, "CronJob", "backup",
	      KUBE_KIND_JOB, "backup-28391234");
	owner("Job", "batch/v1", "db-migrate", NULL, KUBE_KIND_JOB, "Job", "db-migrate",
	      KUBE_KIND_OTHER, "");
	owner("Job", "batch/v1", "x-", NULL, KUBE_KIND_JOB, "Job", "x-", KUBE_KIND_OTHER, "");
	owner("Job", "batch/v1", "-123", NULL, KUBE_KIND_JOB, "Job", "-123", KUBE_KIND_OTHER, "");
	owner("StatefulSet", "apps/v1", "db", NULL, KUBE_KIND_STATEFULSET, "StatefulSet", "db",
	      KUBE_KIND_OTHER, "");
	owner("DaemonSet", "apps/v1", "node-agent", NULL, KUBE_KIND_DAEMONSET, "DaemonSet",
	      "node-agent", KUBE_KIND_OTHER, "");
	owner("DaemonSet", "extensions/v1beta1", "old", NULL, KUBE_KIND_OTHER, "DaemonSet", "old",
	      KUBE_KIND_OTHER, "");
	/* operators keep their kind; built-in names from other groups are operators too */
	owner("RabbitmqCluster", "rabbitmq.com/v1beta1", "rmq", NULL, KUBE_KIND_OTHER,
	      "RabbitmqCluster", "rmq", KUBE_KIND_OTHER, "");
	owner("ReplicaSet", "example.com/v1", "web-5d4f8b7c9", "5d4f8b7c9", KUBE_KIND_OTHER,
	      "ReplicaSet", "web-5d4f8b7c9", KUBE_KIND_OTHER, "");
	owner("Job", "apps/v1", "backup-28391234", NULL, KUBE_KIND_OTHER, "Job", "backup-28391234",
	      KUBE_KIND_OTHER, "");
	owner("Node", "v1", "node-a", NULL, KUBE_KIND_OTHER, "Node", "node-a", KUBE_KIND_OTHER, "");
}

static struct kube_pod *pod_from(const char *json)
{
	json_object *o = json_tokener_parse(json);
	struct kube_pod *p = NULL;
	const char *why;

	assert_non_null(o);
	assert_int_equal(kube_pod_parse(o, &p, &why), 0);
	json_object_put(o);
	return p;
}

static void test_helm(void **state)
{
	struct kube_workload wl = { 0 };
	struct kube_helm h;
	struct kube_pod *with_label = pod_from(
		"{\"metadata\":{\"uid\":\"a-1\",\"name\":\"p\",\"namespace\":\"ns\",\"labels\":{"
		"\"app.kubernetes.io/instance\":\"rel\",\"app.kubernetes.io/managed-by\":\"Helm\","
		"\"helm.sh/chart\":\"chart-1.0.0\"}}}");
	struct kube_pod *not_helm = pod_from(
		"{\"metadata\":{\"uid\":\"a-2\",\"name\":\"p\",\"namespace\":\"ns\",\"labels\":{"
		"\"app.kubernetes.io/instance\":\"rel\",\"app.kubernetes.io/managed-by\":\"argocd\""
		"}}}");

	(void)state;
	/* annotations on the workload win */
	snprintf(wl.ns, sizeof(wl.ns), "ns");
	snprintf(wl.helm_release, sizeof(wl.helm_release), "from-annotation");
	snprintf(wl.helm_release_ns, sizeof(wl.helm_release_ns), "releases");
	kube_helm_resolve(&wl, with_label, &h);
	assert_string_equal(h.release, "from-annotation");
	assert_string_equal(h.release_ns, "releases");
	assert_string_equal(h.chart, "chart-1.0.0"); /* the workload has no chart label */
	snprintf(wl.helm_chart, sizeof(wl.helm_chart), "wl-chart-2.0.0");
	kube_helm_resolve(&wl, with_label, &h);
	assert_string_equal(h.chart, "wl-chart-2.0.0");
	/* no annotation: the pod's instance label, only when managed by Helm */
	wl.helm_release[0] = wl.helm_chart[0] = '\0';
	kube_helm_resolve(&wl, with_label, &h);
	assert_string_equal(h.release, "rel");
	assert_string_equal(h.release_ns, "ns");
	kube_helm_resolve(NULL, with_label, &h);
	assert_string_equal(h.release, "rel");
	kube_helm_resolve(NULL, not_helm, &h);
	assert_string_equal(h.release, "");
	assert_string_equal(h.chart, "");
	kube_pod_free(with_label);
	kube_pod_free(not_helm);
}

static void test_pod_parse_real(void **state)
{
	json_object *o = fixture("pod-web.json");
	struct kube_pod *p = NULL;
	const struct kube_container *c;
	const char *why;

	(void)state;
	assert_int_equal(kube_pod_parse(o, &p, &why), 0);
	json_object_put(o);
	assert_string_equal(p->uid, "3f9d1c2a-7b4e-4c1d-9a8f-2e6b5d4c3b2a");
	assert_string_equal(p->ns, "prod");
	assert_string_equal(p->name, "web-5d4f8b7c9-x2x9z");
	assert_string_equal(p->node, "node-a");
	assert_string_equal(p->rv, "48213");
	assert_string_equal(p->qos, "Burstable");
	assert_string_equal(p->phase, "Running");
	assert_float_equal(p->start_time, 1714557600.0, 1e-6);
	/* the controller, not the first owner reference */
	assert_string_equal(p->controller.kind, "ReplicaSet");
	assert_string_equal(p->controller.name, "web-5d4f8b7c9");
	assert_string_equal(p->controller.api_version, "apps/v1");
	assert_string_equal(p->template_hash, "5d4f8b7c9");
	assert_string_equal(p->helm_instance, "shop");
	assert_string_equal(p->helm_chart, "web-1.2.3");
	assert_string_equal(p->ignore_rules, "WK-01,RS-02");
	assert_string_equal(kube_pod_label(p, "app"), "web");
	assert_null(kube_pod_label(p, "nope"));
	/* dual stack; the invalid third entry is dropped */
	assert_int_equal(p->n_ips, 2);
	assert_string_equal(p->ips[0], "10.244.1.23");
	assert_string_equal(p->ips[1], "fd00:10:244:1::17");
	/* init containers first, then app containers */
	assert_int_equal(p->n_containers, 4);
	c = &p->containers[0];
	assert_string_equal(c->name, "wait-db");
	assert_int_equal(c->type, KUBE_CONTAINER_INIT);
	assert_false(c->sidecar);
	assert_false(c->running); /* terminated */
	assert_string_equal(c->id,
			    "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2");
	c = &p->containers[1];
	assert_string_equal(c->name, "log-shipper");
	assert_int_equal(c->type, KUBE_CONTAINER_INIT);
	assert_true(c->sidecar);
	assert_true(c->running);
	assert_string_equal(c->id,
			    "d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3");
	c = &p->containers[2];
	assert_string_equal(c->name, "app");
	assert_int_equal(c->type, KUBE_CONTAINER_APP);
	assert_string_equal(c->id, HEX64);
	assert_string_equal(c->last_id,
			    "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080706050403020100f");
	assert_int_equal(c->restart_count, 1);
	assert_true(c->ready);
	assert_true(c->running);
	assert_float_equal(c->started_at, 1714557608.0, 1e-6);
	/* lastState.terminated: why and when the previous instance ended */
	assert_string_equal(c->last_reason, "OOMKilled");
	assert_float_equal(c->last_finished_at, 1714557607.0, 1e-6);
	assert_float_equal(c->res.cpu_request, 0.1, 1e-9);
	assert_float_equal(c->res.cpu_limit, 0.5, 1e-9);
	assert_float_equal(c->res.memory_request, 134217728, 0.5);
	assert_float_equal(c->res.memory_limit, 268435456, 0.5);
	assert_true(c->readiness_probe);
	assert_true(c->liveness_probe);
	assert_false(c->startup_probe);
	assert_true(c->read_only_root_fs);
	assert_false(c->privileged);
	assert_int_equal(c->n_ports, 2); /* TCP 8080, 9090 (default TCP); not UDP 53 */
	assert_int_equal(c->ports[0], 8080);
	assert_int_equal(c->ports[1], 9090);
	c = &p->containers[3];
	assert_string_equal(c->name, "proxy");
	assert_string_equal(c->id,
			    "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1");
	assert_float_equal(c->res.cpu_request, 1, 1e-9); /* a JSON number */
	assert_float_equal(c->res.cpu_limit, -1, 1e-9);
	assert_true(c->privileged);
	assert_float_equal(c->started_at, 1714557606.25, 1e-6);
	assert_string_equal(c->last_reason, ""); /* lastState {} */
	/* volumes */
	assert_int_equal(p->n_volumes, 6);
	assert_int_equal(p->volumes[0].kind, KUBE_VOL_PVC);
	assert_string_equal(p->volumes[0].claim, "web-data");
	assert_int_equal(p->volumes[1].kind, KUBE_VOL_EMPTYDIR);
	assert_true(p->volumes[1].medium_memory);
	assert_float_equal(p->volumes[1].size_limit, 67108864, 0.5);
	assert_int_equal(p->volumes[2].kind, KUBE_VOL_HOSTPATH);
	assert_int_equal(p->volumes[3].kind, KUBE_VOL_EPHEMERAL);
	assert_string_equal(p->volumes[3].claim, "web-5d4f8b7c9-x2x9z-scratch");
	assert_int_equal(p->volumes[4].kind, KUBE_VOL_CONFIG);
	assert_int_equal(p->volumes[5].kind, KUBE_VOL_CONFIG);
	assert_false(p->host_network);
	kube_pod_free(p);
}

/* A field of the wrong type is absent; wrong identity fields reject the object. */
static void test_pod_parse_hostile(void **state)
{
	static const char *const invalid[] = {
		"[]",
		"{}",
		"{\"metadata\":[]}",
		"{\"metadata\":{\"uid\":12345,\"name\":\"p\",\"namespace\":\"ns\"}}",
		"{\"metadata\":{\"uid\":\"u\",\"name\":\"p\"}}",
		"{\"metadata\":{\"uid\":\"u\",\"name\":\"P_Upper\",\"namespace\":\"ns\"}}",
		"{\"metadata\":{\"uid\":\"not-hex-zz\",\"name\":\"p\",\"namespace\":\"ns\"}}",
		"{\"metadata\":{\"uid\":\"u\",\"name\":\"p\",\"namespace\":\"ns\\u0000x\"}}",
		"{\"metadata\":{\"uid\":\"u\",\"name\":\"p\",\"namespace\":\"\"}}",
		"{\"metadata\":{\"uid\":\"u\",\"name\":\"p\",\"namespace\":null}}",
		"{\"kind\":\"Node\",\"metadata\":{\"uid\":\"a\",\"name\":\"p\",\"namespace\":\"ns\"}}",
	};
	char long_name[400];
	json_object *o;
	struct kube_pod *p;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		o = json_tokener_parse(invalid[i]);
		assert_non_null(o);
		p = NULL;
		why = NULL;
		assert_int_equal(kube_pod_parse(o, &p, &why), -EINVAL);
		assert_null(p);
		assert_non_null(why);
		json_object_put(o);
	}
	memset(long_name, 'a', 300);
	snprintf(long_name + 300, 100, "\"");
	{
		char json[600];

		snprintf(json, sizeof(json),
			 "{\"metadata\":{\"uid\":\"a\",\"namespace\":\"ns\",\"name\":\"%s}}",
			 long_name);
		o = json_tokener_parse(json);
		assert_non_null(o);
		assert_int_equal(kube_pod_parse(o, &p, &why), -EINVAL);
		json_object_put(o);
	}
	/* mistyped optional fields read as absent */
	p = pod_from("{\"metadata\":{\"uid\":\"0a-1b\",\"name\":\"p\",\"namespace\":\"ns\","
		     "\"labels\":[\"a\"],\"annotations\":\"x\",\"ownerReferences\":{\"kind\":1}},"
		     "\"spec\":{\"containers\":{\"name\":\"x\"},\"nodeName\":7,\"volumes\":[1,null,"
		     "{\"name\":5}],\"hostNetwork\":\"true\"},"
		     "\"status\":{\"containerStatuses\":\"running\",\"podIPs\":[{\"ip\":5}],"
		     "\"qosClass\":[],\"startTime\":\"yesterday\"}}");
	assert_string_equal(p->uid, "0a-1b");
	assert_int_equal(p->n_labels, 0);
	assert_int_equal(p->n_containers, 0);
	assert_int_equal(p->n_volumes, 0);
	assert_int_equal(p->n_ips, 0);
	assert_string_equal(p->node, "");
	assert_string_equal(p->qos, "");
	assert_string_equal(p->controller.kind, "");
	assert_false(p->host_network);
	assert_float_equal(p->start_time, 0, 0);
	kube_pod_free(p);
	/* statuses with bad ids and types keep the container, without an id */
	p = pod_from("{\"metadata\":{\"uid\":\"0a\",\"name\":\"p\",\"namespace\":\"ns\"},"
		     "\"spec\":{\"containers\":[{\"name\":\"app\"},{\"name\":\"BAD NAME\"},"
		     "{\"name\":\"app\"}]},\"status\":{\"containerStatuses\":[{\"name\":\"app\","
		     "\"containerID\":\"containerd://xyz\",\"restartCount\":\"many\","
		     "\"state\":{\"running\":{\"startedAt\":17}}},{\"name\":\"ghost\","
		     "\"containerID\":\"containerd://" HEX64 "\"}]}}");
	assert_int_equal(p->n_containers, 2); /* app once, and the ghost from its status */
	assert_string_equal(p->containers[0].name, "app");
	assert_string_equal(p->containers[0].id, "");
	assert_int_equal(p->containers[0].restart_count, 0);
	assert_true(p->containers[0].running); /* a bad startedAt is only that */
	assert_string_equal(p->containers[1].name, "ghost");
	assert_string_equal(p->containers[1].id, HEX64);
	assert_false(p->containers[1].running); /* no state */
	kube_pod_free(p);
	/* a static pod's mirror keeps the kubelet UID its cgroups use */
	p = pod_from("{\"metadata\":{\"uid\":\"8d1f0b3c-0000-4000-8000-00000000000a\","
		     "\"name\":\"etcd-node-a\",\"namespace\":\"kube-system\",\"annotations\":{"
		     "\"kubernetes.io/config.mirror\":\"0123456789abcdef0123456789abcdef\","
		     "\"kubernetes.io/config.source\":\"file\"}}}");
	assert_string_equal(p->mirror_uid, "0123456789abcdef0123456789abcdef");
	kube_pod_free(p);
	assert_null(kube_pod_free(NULL));
}

static void test_workloads(void **state)
{
	json_object *o = fixture("deployment-web.json");
	struct kube_workload wl;
	struct kube_pvc pvc;
	const char *why;

	(void)state;
	assert_int_equal(kube_workload_parse(o, KUBE_KIND_DEPLOYMENT, &wl, &why), 0);
	assert_string_equal(wl.name, "web");
	assert_string_equal(wl.ns, "prod");
	assert_int_equal(wl.replicas, 3);
	assert_string_equal(wl.strategy, "RollingUpdate");
	assert_string_equal(wl.helm_release, "shop");
	assert_string_equal(wl.helm_release_ns, "prod");
	assert_string_equal(wl.helm_chart, "web-1.2.3");
	assert_string_equal(wl.ignore_rules, "all");
	assert_string_equal(wl.controller.kind, "");
	/* a Deployment body is not a StatefulSet */
	assert_int_equal(kube_workload_parse(o, KUBE_KIND_STATEFULSET, &wl, &why), -EINVAL);
	json_object_object_del(json_object_object_get(o, "spec"), "replicas");
	assert_int_equal(kube_workload_parse(o, KUBE_KIND_DEPLOYMENT, &wl, &why), 0);
	assert_int_equal(wl.replicas, 1); /* the API default */
	json_object_put(o);

	o = fixture("statefulset-db.json");
	assert_int_equal(kube_workload_parse(o, KUBE_KIND_STATEFULSET, &wl, &why), 0);
	assert_int_equal(wl.replicas, 3);
	assert_string_equal(wl.service_name, "db-headless");
	assert_int_equal(wl.n_vct, 2);
	assert_string_equal(wl.vct[0], "data");
	assert_string_equal(wl.vct[1], "wal");
	assert_string_equal(wl.strategy, "RollingUpdate");
	assert_string_equal(wl.controller.kind, "Cluster"); /* an operator above it */
	assert_string_equal(wl.controller.name, "pg-main");
	assert_string_equal(wl.helm_release, "");
	json_object_put(o);

	o = fixture("pvc-web-data.json");
	assert_int_equal(kube_pvc_parse(o, &pvc, &why), 0);
	assert_string_equal(pvc.name, "web-data");
	assert_int_equal(pvc.access_modes, KUBE_ACCESS_RWO | KUBE_ACCESS_RWOP);
	assert_string_equal(pvc.storage_class, "local-path");
	assert_string_equal(pvc.phase, "Bound");
	assert_int_equal(kube_workload_parse(o, KUBE_KIND_DEPLOYMENT, &wl, &why), -EINVAL);
	json_object_put(o);
	o = json_tokener_parse("{\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":3}}");
	assert_int_equal(kube_pvc_parse(o, &pvc, &why), -EINVAL);
	json_object_put(o);
}

static void test_selectors_and_lists(void **state)
{
	json_object *o = fixture("pdb-list.json");
	struct kube_pod *web =
		pod_from("{\"metadata\":{\"uid\":\"1\",\"name\":\"w\",\"namespace\":"
			 "\"prod\",\"labels\":{\"app\":\"web\",\"pod-template-hash\":"
			 "\"5d\"}}}");
	struct kube_pod *debug = pod_from(
		"{\"metadata\":{\"uid\":\"2\",\"name\":\"d\",\"namespace\":\"prod\",\"labels\":{"
		"\"app\":\"web\",\"pod-template-hash\":\"5d\",\"track\":\"debug\"}}}");
	struct kube_pod *db = pod_from("{\"metadata\":{\"uid\":\"3\",\"name\":\"d\",\"namespace\":"
				       "\"prod\",\"labels\":{\"app\":\"db\"}}}");
	struct kube_pdb *pdbs;
	struct kube_hpa *hpas;
	struct kube_selector sel;
	unsigned n;
	bool trunc;

	(void)state;
	assert_int_equal(kube_pdb_list_parse(o, &pdbs, &n, &trunc), 0);
	json_object_put(o);
	assert_false(trunc);
	assert_int_equal(n, 3);
	assert_string_equal(pdbs[0].name, "db-pdb");
	assert_string_equal(pdbs[0].min_available, "2");
	assert_string_equal(pdbs[1].max_unavailable, "25%");
	assert_true(kube_selector_matches(&pdbs[0].selector, db));
	assert_false(kube_selector_matches(&pdbs[0].selector, web));
	assert_true(kube_selector_matches(&pdbs[1].selector, web));
	assert_false(kube_selector_matches(&pdbs[1].selector, debug)); /* NotIn debug */
	assert_false(kube_selector_matches(&pdbs[1].selector, db));
	assert_false(kube_selector_matches(&pdbs[2].selector, web)); /* no selector: none */
	kube_pdbs_free(pdbs, n);

	/* an empty selector selects everything; an unknown operator nothing */
	o = json_tokener_parse("{}");
	assert_int_equal(kube_selector_parse(o, &sel), 0);
	assert_true(kube_selector_matches(&sel, db));
	kube_selector_clear(&sel);
	json_object_put(o);
	o = json_tokener_parse("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Like\"}]}");
	assert_int_equal(kube_selector_parse(o, &sel), -EINVAL);
	assert_false(kube_selector_matches(&sel, db));
	kube_selector_clear(&sel);
	json_object_put(o);

	o = fixture("hpa-list.json");
	assert_int_equal(kube_hpa_list_parse(o, &hpas, &n, &trunc), 0);
	json_object_put(o);
	assert_int_equal(n, 2); /* "broken" has no target name */
	assert_string_equal(hpas[0].target_kind, "Deployment");
	assert_string_equal(hpas[0].target_name, "web");
	assert_int_equal(hpas[0].min_replicas, 2);
	assert_int_equal(hpas[0].max_replicas, 10);
	assert_int_equal(hpas[1].min_replicas, 1); /* the API default */
	free(hpas);
	o = json_tokener_parse("{\"items\":5}");
	assert_int_equal(kube_hpa_list_parse(o, &hpas, &n, &trunc), -EINVAL);
	assert_int_equal(kube_pdb_list_parse(o, &pdbs, &n, &trunc), -EINVAL);
	json_object_put(o);
	kube_pod_free(web);
	kube_pod_free(debug);
	kube_pod_free(db);
}

static void test_events(void **state)
{
	static const char *const bad[] = { "{\"type\":\"ADDED\"}",
					   "{\"type\":\"SYNC\",\"object\":{}}",
					   "{\"type\":1,\"object\":{}}",
					   "{\"type\":\"ADDED\",\"object\":[]}" };
	enum kube_event_type t;
	json_object *o, *obj;
	const char *reason, *msg;
	int code;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_tokener_parse(bad[i]);
		assert_int_equal(kube_event_parse(o, &t, &obj), -EINVAL);
		json_object_put(o);
	}
	o = json_tokener_parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			       "\"reason\":\"Expired\",\"message\":\"too old\"}}");
	assert_int_equal(kube_event_parse(o, &t, &obj), 0);
	assert_int_equal(t, KUBE_EV_ERROR);
	kube_status_parse(obj, &code, &reason, &msg);
	assert_int_equal(code, 410);
	assert_string_equal(reason, "Expired");
	assert_string_equal(msg, "too old");
	json_object_put(o);
	o = json_tokener_parse("{\"code\":\"410\"}");
	kube_status_parse(o, &code, &reason, &msg);
	assert_int_equal(code, 0);
	assert_string_equal(reason, "");
	json_object_put(o);
}

/* ---- the stream splitter ---- */

#define MAX_SEEN 16

struct seen {
	int n;
	int errs[MAX_SEEN];
	char types[MAX_SEEN][16];
	char rvs[MAX_SEEN][32];
	int stop_at; /* return non-zero at this value (1-based); 0 never */
};

static int collect(void *ctx, json_object *v, int err)
{
	struct seen *s = ctx;
	enum kube_event_type t;
	json_object *obj;

	assert_true(s->n < MAX_SEEN);
	s->errs[s->n] = err;
	s->types[s->n][0] = s->rvs[s->n][0] = '\0';
	if (v && !kube_event_parse(v, &t, &obj)) {
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s", kube_event_names[t]);
		snprintf(s->rvs[s->n], sizeof(s->rvs[0]), "%s",
			 kube_resource_version(obj) ? kube_resource_version(obj) : "");
	}
	s->n++;
	return s->stop_at && s->n == s->stop_at ? 42 : 0;
}

static void expect_fixture_events(const struct seen *s)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "BOOKMARK", "DELETED", "ERROR" };
	static const char *const rvs[] = { "48214", "48215", "48300", "48301", "" };

	assert_int_equal(s->n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(s->errs[i], 0);
		assert_string_equal(s->types[i], types[i]);
		assert_string_equal(s->rvs[i], rvs[i]);
	}
}

static void feed_chunks(const char *buf, size_t len, const size_t *cuts, size_t ncuts,
			struct seen *s)
{
	struct kube_stream *ks = kube_stream_new(KUBE_MAX_OBJECT);
	size_t at = 0;

	assert_non_null(ks);
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		assert_int_equal(kube_stream_feed(ks, buf + at, end - at, collect, s), 0);
		at = end;
	}
	assert_false(kube_stream_partial(ks));
	kube_stream_free(ks);
}

static void test_stream_splits(void **state)
{
	size_t len, cuts[4];
	char *buf = slurp("watch-pods.jsonl", &len);
	struct seen s;
	unsigned seed = 12345;

	(void)state;
	feed_chunks(buf, len, NULL, 0, &s);
	expect_fixture_events(&s);
	/* two chunks, split all over the stream (inside strings, escapes, numbers) and at every
	 * byte around each event boundary */
	for (size_t cut = 1; cut < len; cut++) {
		bool near_boundary = false;

		for (size_t d = 0; d < 16 && !near_boundary; d++)
			near_boundary = (cut > d && buf[cut - d - 1] == '\n') ||
					(cut + d < len && buf[cut + d] == '\n');
		if (cut % 31 && !near_boundary)
			continue;
		cuts[0] = cut;
		feed_chunks(buf, len, cuts, 1, &s);
		expect_fixture_events(&s);
	}
	/* four chunks at random places */
	for (int round = 0; round < 60; round++) {
		for (int i = 0; i < 3; i++)
			cuts[i] = 1 + (size_t)(rand_r(&seed) % (unsigned)(len - 1));
		for (int i = 0; i < 3; i++) {
			for (int j = i + 1; j < 3; j++) {
				if (cuts[j] < cuts[i]) {
					size_t t = cuts[i];

					cuts[i] = cuts[j];
					cuts[j] = t;
				}
			}
		}
		feed_chunks(buf, len, cuts, 3, &s);
		expect_fixture_events(&s);
	}
	/* one byte at a time */
	{
		struct kube_stream *ks = kube_stream_new(KUBE_MAX_OBJECT);

		memset(&s, 0, sizeof(s));
		for (size_t i = 0; i < len; i++)
			assert_int_equal(kube_stream_feed(ks, buf + i, 1, collect, &s), 0);
		expect_fixture_events(&s);
		kube_stream_free(ks);
	}
	free(buf);
}

static void test_stream_hostile(void **state)
{
	struct kube_stream *ks = kube_stream_new(1024);
	char *big = malloc(5000), *deep = malloc(400);
	const char *small = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
			    "\"7\"}}}\n";
	struct seen s = { 0 };
	size_t n;

	(void)state;
	assert_non_null(ks);
	/* a value over the cap between two good ones: skipped, the stream goes on */
	n = (size_t)snprintf(big, 5000, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"a\":\"");
	memset(big + n, 'x', 4000);
	snprintf(big + n + 4000, 1000 - n, "\"}}}\n");
	assert_int_equal(kube_stream_feed(ks, small, strlen(small), collect, &s), 0);
	for (size_t i = 0; i < strlen(big); i += 100) {
		size_t k = strlen(big) - i < 100 ? strlen(big) - i : 100;

		assert_int_equal(kube_stream_feed(ks, big + i, k, collect, &s), 0);
	}
	assert_int_equal(kube_stream_feed(ks, small, strlen(small), collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.errs[0], 0);
	assert_int_equal(s.errs[1], -E2BIG);
	assert_int_equal(s.errs[2], 0);
	assert_string_equal(s.rvs[2], "7");

	/* JSON json-c rejects inside balanced brackets: reported, then resynced */
	memset(&s, 0, sizeof(s));
	const char *bad = "{\"type\":\"ADDED\",\"object\":{\"metadata\":tru}}\n"
			  "{\"type\": [1 2]}\n";
	assert_int_equal(kube_stream_feed(ks, bad, strlen(bad), collect, &s), 0);
	assert_int_equal(kube_stream_feed(ks, small, strlen(small), collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.errs[0], -EBADMSG);
	assert_int_equal(s.errs[1], -EBADMSG);
	assert_int_equal(s.errs[2], 0);

	/* nesting deeper than the tokener allows */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 100; i++) {
		deep[i] = '[';
		deep[199 - i] = ']';
	}
	assert_int_equal(kube_stream_feed(ks, deep, 200, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.errs[0], -EBADMSG);

	/* bytes that cannot start a value: the caller must reconnect */
	assert_int_equal(kube_stream_feed(ks, "  \nnot json\n", 12, collect, &s), -EBADMSG);

	/* a truncated stream is visible */
	kube_stream_reset(ks);
	assert_int_equal(kube_stream_feed(ks, small, 20, collect, &s), 0);
	assert_true(kube_stream_partial(ks));
	kube_stream_reset(ks);
	assert_false(kube_stream_partial(ks));

	/* the callback can stop the feed */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	{
		char two[512];

		snprintf(two, sizeof(two), "%s%s%s", small, small, small);
		assert_int_equal(kube_stream_feed(ks, two, strlen(two), collect, &s), 42);
		assert_int_equal(s.n, 2);
	}
	kube_stream_free(ks);
	assert_null(kube_stream_free(NULL));
	free(big);
	free(deep);
}

/* A value that never ends is cut at the line limit as its bytes arrive: one over the skip cap
 * but under the line limit is skipped and the stream goes on, one still going past the limit
 * fails the feed (the watch is restarted), whatever the chunk sizes. */
static void test_stream_endless(void **state)
{
	const char *head = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"a\":\"";
	const char *small = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}\n";
	char chunk[700];
	struct seen s = { 0 };

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	for (size_t step = 1; step <= sizeof(chunk); step = step * 3 + 1) {
		struct kube_stream *ks = kube_stream_new(1024);
		size_t fed = strlen(head);
		int r = 0;

		assert_non_null(ks);
		kube_stream_set_line_max(ks, 4096);
		memset(&s, 0, sizeof(s));
		/* 3000 bytes: over the skip cap, under the line limit */
		assert_int_equal(kube_stream_feed(ks, head, strlen(head), collect, &s), 0);
		for (; fed < 3000; fed += step)
			assert_int_equal(kube_stream_feed(ks, chunk, step, collect, &s), 0);
		assert_int_equal(kube_stream_feed(ks, "\"}}}\n", 5, collect, &s), 0);
		assert_int_equal(kube_stream_feed(ks, small, strlen(small), collect, &s), 0);
		assert_int_equal(s.n, 2);
		assert_int_equal(s.errs[0], -E2BIG);
		assert_int_equal(s.errs[1], 0);
		/* endless: cut once past the limit, never later */
		assert_int_equal(kube_stream_feed(ks, head, strlen(head), collect, &s), 0);
		for (fed = strlen(head); !r; fed += step) {
			r = kube_stream_feed(ks, chunk, step, collect, &s);
			assert_true(fed <= 4096 || r);
		}
		assert_int_equal(r, -EMSGSIZE);
		assert_true(fed > 4096 && fed <= 4096 + step);
		assert_true(kube_stream_partial(ks));
		assert_int_equal(s.n, 2);
		/* a new connection starts clean */
		kube_stream_reset(ks);
		assert_int_equal(kube_stream_feed(ks, small, strlen(small), collect, &s), 0);
		assert_int_equal(s.n, 3);
		kube_stream_free(ks);
	}
}

static void test_paths(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(kube_object_path(KUBE_KIND_DEPLOYMENT, "prod", "web", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/apis/apps/v1/namespaces/prod/deployments/web");
	assert_int_equal(kube_object_path(KUBE_KIND_CRONJOB, "ops", "backup", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/apis/batch/v1/namespaces/ops/cronjobs/backup");
	assert_int_equal(kube_object_path(KUBE_KIND_OTHER, "ops", "x", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(kube_object_path(KUBE_KIND_JOB, "ops", "../x", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(kube_object_path(KUBE_KIND_JOB, "ops", "a/b", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(kube_object_path(KUBE_KIND_JOB, "ops", "x", buf, 10), -ENAMETOOLONG);
	assert_int_equal(kube_kind_from_name("StatefulSet"), KUBE_KIND_STATEFULSET);
	assert_int_equal(kube_kind_from_name("statefulset"), KUBE_KIND_OTHER);
	assert_string_equal(kube_kind_name(KUBE_KIND_DAEMONSET), "DaemonSet");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_id),
		cmocka_unit_test(test_quantity),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_owner_derive),
		cmocka_unit_test(test_helm),
		cmocka_unit_test(test_pod_parse_real),
		cmocka_unit_test(test_pod_parse_hostile),
		cmocka_unit_test(test_workloads),
		cmocka_unit_test(test_selectors_and_lists),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_stream_splits),
		cmocka_unit_test(test_stream_hostile),
		cmocka_unit_test(test_stream_endless),
		cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
