// SPDX-License-Identifier: BSD-2-Clause
/* cgroup_path_parse on a table of real-shaped kubelet, runtime and systemd paths, and on
 * malformed and hostile ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/cgroup_path.h"
#include "engine/local_labels.h"

#define UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define UID_ "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0"
#define CID "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
#define CID2 "aaaa1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2b"

struct want {
	const char *path;
	enum cgroup_kind kind;
	enum kube_qos qos;
	enum cgroup_driver driver;
	enum container_runtime runtime;
	const char *pod_uid;
	const char *container_id;
	bool nested;
	const char *unit;
};

static const struct want table[] = {
	/* systemd driver, every QoS class and runtime */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/cri-containerd-" CID ".scope",
	  CGROUP_KUBE_CONTAINER, QOS_BURSTABLE, DRIVER_SYSTEMD, RUNTIME_CONTAINERD, UID, CID },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-" CID ".scope",
	  CGROUP_KUBE_CONTAINER, QOS_BESTEFFORT, DRIVER_SYSTEMD, RUNTIME_CRIO, UID, CID },
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID ".scope", CGROUP_KUBE_CONTAINER,
	  QOS_GUARANTEED, DRIVER_SYSTEMD, RUNTIME_DOCKER, UID, CID },
	/* CRI-O's conmon is the runtime's monitor: it belongs to the pod, not to a container */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/crio-conmon-" CID ".scope",
	  CGROUP_KUBE_POD, QOS_BURSTABLE, DRIVER_SYSTEMD, RUNTIME_CRIO, UID, "", true },
	/* pod, QoS and root levels */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice",
	  CGROUP_KUBE_POD, QOS_BURSTABLE, DRIVER_SYSTEMD, RUNTIME_NONE, UID, "" },
	{ "/kubepods.slice/kubepods-besteffort.slice", CGROUP_KUBE_QOS, QOS_BESTEFFORT,
	  DRIVER_SYSTEMD, RUNTIME_NONE, "", "" },
	{ "/kubepods.slice", CGROUP_KUBE_QOS, QOS_NONE, DRIVER_SYSTEMD, RUNTIME_NONE, "", "" },
	/* a cgroup nested inside a container (systemd in a container, cgroup-aware apps) */
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope/init.scope",
	  CGROUP_KUBE_CONTAINER, QOS_GUARANTEED, DRIVER_SYSTEMD, RUNTIME_CONTAINERD, UID, CID,
	  true },
	/* kubelet with a cgroup root of its own (kind: /kubelet.slice) */
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
	  "kubelet-kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope",
	  CGROUP_KUBE_CONTAINER, QOS_BURSTABLE, DRIVER_SYSTEMD, RUNTIME_CONTAINERD, UID, CID },
	/* cgroupfs driver */
	{ "/kubepods/burstable/pod" UID "/" CID, CGROUP_KUBE_CONTAINER, QOS_BURSTABLE,
	  DRIVER_CGROUPFS, RUNTIME_UNKNOWN, UID, CID },
	{ "/kubepods/besteffort/pod" UID "/" CID, CGROUP_KUBE_CONTAINER, QOS_BESTEFFORT,
	  DRIVER_CGROUPFS, RUNTIME_UNKNOWN, UID, CID },
	{ "/kubepods/pod" UID "/" CID, CGROUP_KUBE_CONTAINER, QOS_GUARANTEED, DRIVER_CGROUPFS,
	  RUNTIME_UNKNOWN, UID, CID },
	{ "/kubepods/burstable/pod" UID "/crio-" CID, CGROUP_KUBE_CONTAINER, QOS_BURSTABLE,
	  DRIVER_CGROUPFS, RUNTIME_CRIO, UID, CID },
	{ "/kubepods/burstable/pod" UID, CGROUP_KUBE_POD, QOS_BURSTABLE, DRIVER_CGROUPFS,
	  RUNTIME_NONE, UID, "" },
	/* static pods have 32-hex UIDs */
	{ "/kubepods/burstable/pod0123456789abcdef0123456789abcdef/" CID, CGROUP_KUBE_CONTAINER,
	  QOS_BURSTABLE, DRIVER_CGROUPFS, RUNTIME_UNKNOWN, "0123456789abcdef0123456789abcdef",
	  CID },
	/* seen from inside a cgroup namespace: leading ".." resolve against the host tree */
	{ "/../../kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	  ".slice/cri-containerd-" CID ".scope",
	  CGROUP_KUBE_CONTAINER, QOS_BURSTABLE, DRIVER_SYSTEMD, RUNTIME_CONTAINERD, UID, CID },
	{ "//kubepods//burstable/./pod" UID "/" CID "/", CGROUP_KUBE_CONTAINER, QOS_BURSTABLE,
	  DRIVER_CGROUPFS, RUNTIME_UNKNOWN, UID, CID },
	/* local containers and services */
	{ "/system.slice/docker-" CID ".scope", CGROUP_CONTAINER, QOS_NONE, DRIVER_NONE,
	  RUNTIME_DOCKER, "", CID },
	{ "/machine.slice/libpod-" CID ".scope/container", CGROUP_CONTAINER, QOS_NONE, DRIVER_NONE,
	  RUNTIME_PODMAN, "", CID, true },
	{ "/docker/" CID, CGROUP_CONTAINER, QOS_NONE, DRIVER_NONE, RUNTIME_DOCKER, "", CID },
	{ "/system.slice/containerd.service", CGROUP_SYSTEMD_SERVICE, QOS_NONE, DRIVER_NONE,
	  RUNTIME_NONE, "", "", false, "containerd.service" },
	{ "/system.slice/kubelet.service/sub", CGROUP_SYSTEMD_SERVICE, QOS_NONE, DRIVER_NONE,
	  RUNTIME_NONE, "", "", true, "kubelet.service" },
	{ "/", CGROUP_PLAIN },
	{ "/user.slice/user-0.slice/session-1.scope", CGROUP_PLAIN },
	/* near misses stay plain: never attributed to a pod they do not prove */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podnot-a-uid.slice",
	  CGROUP_PLAIN },
	{ "/kubepods/burstable/pod" UID "x/" CID, CGROUP_PLAIN },
	{ "/kubepods/burstable/podZZZZZZZZ-4b5a-6978-8796-a5b4c3d2e1f0/" CID, CGROUP_PLAIN },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod" UID_ ".slice",
	  CGROUP_PLAIN },
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice", CGROUP_KUBE_POD, QOS_GUARANTEED,
	  DRIVER_SYSTEMD, RUNTIME_NONE, UID, "" },
	/* a container name with a short, upper-case or over-long id is not a container */
	{ "/kubepods/pod" UID "/abc123", CGROUP_KUBE_POD, QOS_GUARANTEED, DRIVER_CGROUPFS,
	  RUNTIME_NONE, UID, "", true },
	{ "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID "0.scope",
	  CGROUP_KUBE_POD, QOS_GUARANTEED, DRIVER_SYSTEMD, RUNTIME_NONE, UID, "", true },
	{ "/kubepods.slice/kubepods-pod" UID_
	  ".slice/cri-containerd-3F2A1B0C9D8E7F6A5B4C3D2E1F0A9B8C7D6E5F4A3B2C1D0E9F8A7B6C5D4E3F2A.scope",
	  CGROUP_KUBE_POD, QOS_GUARANTEED, DRIVER_SYSTEMD, RUNTIME_NONE, UID, "", true },
	{ "/system.slice/.service", CGROUP_PLAIN },
	{ "/system.slice/docker-" CID2 "x.scope", CGROUP_PLAIN },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct want *w = &table[i];
		struct cgroup_ident id;

		memset(&id, 0x5a, sizeof(id));
		if (cgroup_path_parse(w->path, &id) != 0)
			fail_msg("row %zu: %s: rejected", i, w->path);
		if (id.kind != w->kind)
			fail_msg("row %zu: %s: kind %s, want %s", i, w->path,
				 cgroup_kind_name(id.kind), cgroup_kind_name(w->kind));
		assert_int_equal(id.qos, w->qos);
		assert_int_equal(id.driver, w->driver);
		assert_int_equal(id.runtime, w->runtime);
		assert_string_equal(id.pod_uid, w->pod_uid ? w->pod_uid : "");
		assert_string_equal(id.container_id, w->container_id ? w->container_id : "");
		if (id.nested != w->nested)
			fail_msg("row %zu: %s: nested %d", i, w->path, id.nested);
		assert_string_equal(id.unit, w->unit ? w->unit : "");
	}
}

static void test_rejects_malformed(void **state)
{
	static const char *bad[] = {
		"",	     "kubepods/burstable",    "/kubepods/../etc",
		"/a/b/../c", "/kubepods\n/burstable", "/kube\tpods",
		"/\x7f",
	};
	char *longpath;
	struct cgroup_ident id = { .kind = CGROUP_SYSTEMD_SERVICE };

	(void)state;
	assert_int_equal(cgroup_path_parse(NULL, &id), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cgroup_path_parse(bad[i], &id) != -EINVAL)
			fail_msg("accepted malformed path %zu", i);
	}
	/* *ret untouched on failure */
	assert_int_equal(id.kind, CGROUP_SYSTEMD_SERVICE);

	/* over-long: more than CGROUP_PATH_MAX bytes, and more than 64 components */
	longpath = malloc(CGROUP_PATH_MAX + 16);
	assert_non_null(longpath);
	memset(longpath, 'a', CGROUP_PATH_MAX + 8);
	longpath[0] = '/';
	longpath[CGROUP_PATH_MAX + 8] = '\0';
	assert_int_equal(cgroup_path_parse(longpath, &id), -EINVAL);
	for (int i = 0; i < 100; i++)
		memcpy(longpath + i * 2, "/a", 2);
	longpath[200] = '\0';
	assert_int_equal(cgroup_path_parse(longpath, &id), -EINVAL);
	free(longpath);
}

static void test_hostile_components(void **state)
{
	char path[CGROUP_PATH_MAX];
	struct cgroup_ident id;
	char big[300];

	(void)state;
	/* an enormous slice prefix must not overflow the parser's name buffer */
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(path, sizeof(path), "/%s-kubepods.slice/%s-kubepods-pod" UID_ ".slice", big, big);
	assert_int_equal(cgroup_path_parse(path, &id), 0);
	assert_int_equal(id.kind, CGROUP_PLAIN);
	/* an over-long unit name is cut, not overflowed */
	snprintf(path, sizeof(path), "/system.slice/%s%s.service", big, big);
	assert_int_equal(cgroup_path_parse(path, &id), 0);
	assert_int_equal(id.kind, CGROUP_SYSTEMD_SERVICE);
	assert_int_equal(strlen(id.unit), UNIT_NAME_MAX);
}

/* cgroup_path_is_container: a container's own cgroup, by pod UID and container id. */
static void test_is_container(void **state)
{
	static const char *const yes[] = {
		"/kubepods/burstable/pod" UID "/" CID,
		"/kubepods/besteffort/pod" UID "/" CID,
		"/kubepods/pod" UID "/" CID, /* Guaranteed, cgroupfs */
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		".slice/cri-containerd-" CID ".scope",
		"/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" CID ".scope",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
		".slice/docker-" CID ".scope",
		"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_
		".slice/cri-containerd-" CID ".scope",
		"/../../kubepods/burstable/pod" UID "/" CID, /* a cgroup namespace's view */
	};
	static const char *const no[] = {
		"/kubepods/burstable/pod" UID "/" CID2, /* another container */
		"/kubepods/burstable/pod" UID "/" CID "/init", /* nested in it */
		"/kubepods/burstable/pod" UID, /* the pod itself */
		"/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" CID ".scope",
		"/kubepods/burstable/pod0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1/" CID, /* other pod */
		"/system.slice/docker-" CID ".scope", /* a container, not a pod's */
		"/kubepods/burstable/pod" UID "/" CID "x",
		"kubepods/burstable/pod" UID "/" CID, /* relative */
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!cgroup_path_is_container(yes[i], UID, CID))
			fail_msg("not taken for the container: %s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (cgroup_path_is_container(no[i], UID, CID))
			fail_msg("taken for the container: %s", no[i]);
	}
	assert_false(cgroup_path_is_container(NULL, UID, CID));
	assert_false(cgroup_path_is_container(yes[0], "", CID));
	assert_false(cgroup_path_is_container(yes[0], NULL, CID));
	assert_false(cgroup_path_is_container(yes[0], UID, NULL));
	assert_false(cgroup_path_is_container(yes[0], UID, ""));
}

static void test_local_labels(void **state)
{
	const char *labels[LBL_MAX];
	struct cgroup_ident id;
	const char *kp = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			 ".slice/cri-containerd-" CID ".scope";

	(void)state;
	assert_int_equal(cgroup_path_parse(kp, &id), 0);
	engine_local_labels(&id, kp, labels);
	assert_string_equal(labels[LBL_POD_UID], UID);
	assert_string_equal(labels[LBL_CONTAINER_ID], CID);
	assert_string_equal(labels[LBL_WORKLOAD_KIND], "Container");
	assert_string_equal(labels[LBL_WORKLOAD], CID);
	assert_string_equal(labels[LBL_NAMESPACE], "");

	assert_int_equal(cgroup_path_parse("/system.slice/cron.service/x", &id), 0);
	engine_local_labels(&id, "/system.slice/cron.service/x", labels);
	assert_string_equal(labels[LBL_WORKLOAD_KIND], "SystemdService");
	assert_string_equal(labels[LBL_WORKLOAD], "cron.service");

	assert_int_equal(cgroup_path_parse("/user.slice", &id), 0);
	engine_local_labels(&id, "/user.slice", labels);
	assert_string_equal(labels[LBL_WORKLOAD_KIND], "Cgroup");
	assert_string_equal(labels[LBL_WORKLOAD], "/user.slice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_rejects_malformed),
		cmocka_unit_test(test_hostile_components),
		cmocka_unit_test(test_is_container),
		cmocka_unit_test(test_local_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
