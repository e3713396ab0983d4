// SPDX-License-Identifier: BSD-2-Clause
#include "host/cgroup_path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_COMPONENTS 64

struct comp {
	const char *s;
	size_t len;
};

static bool has_prefix(struct comp c, const char *p)
{
	size_t n = strlen(p);

	return c.len >= n && memcmp(c.s, p, n) == 0;
}

static bool has_suffix(struct comp c, const char *sfx)
{
	size_t n = strlen(sfx);

	return c.len >= n && memcmp(c.s + c.len - n, sfx, n) == 0;
}

static bool equals(struct comp c, const char *p)
{
	return c.len == strlen(p) && memcmp(c.s, p, c.len) == 0;
}

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* A container id is exactly 64 lowercase hex digits. */
static bool parse_container_id(const char *s, size_t len, char *ret)
{
	if (len != CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_hex(s[i]))
			return false;
	}
	memcpy(ret, s, len);
	ret[len] = '\0';
	return true;
}

/* A pod UID is a UUID with '-' (cgroupfs) or '_' (systemd) separators, or the 32 hex digits
 * kubelet gives static pods. The result uses dashes, as metadata.uid does. */
static bool parse_pod_uid(const char *s, size_t len, char *ret)
{
	if (len == 32) {
		for (size_t i = 0; i < len; i++) {
			if (!is_hex(s[i]))
				return false;
		}
	} else if (len == 36) {
		for (size_t i = 0; i < len; i++) {
			bool sep = i == 8 || i == 13 || i == 18 || i == 23;

			if (sep ? (s[i] != '-' && s[i] != '_') : !is_hex(s[i]))
				return false;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < len; i++)
		ret[i] = s[i] == '_' ? '-' : s[i];
	ret[len] = '\0';
	return true;
}

static int split(const char *path, struct comp *comps, size_t *ret_n)
{
	size_t n = 0;
	bool leading = true;
	const char *p = path;

	while (*p) {
		const char *start;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != '/')
			p++;
		struct comp c = { start, (size_t)(p - start) };

		if (equals(c, "."))
			continue;
		if (equals(c, "..")) {
			/* A cgroup namespace shows the host tree above it as leading "..". */
			if (!leading)
				return -EINVAL;
			continue;
		}
		leading = false;
		if (n == MAX_COMPONENTS)
			return -EINVAL;
		comps[n++] = c;
	}
	*ret_n = n;
	return 0;
}

/* "kubepods.slice", "kubelet-kubepods.slice" → systemd; "kubepods" → cgroupfs. */
static enum cgroup_driver kubepods_root(struct comp c, size_t *ret_prefix_len)
{
	if (equals(c, "kubepods")) {
		*ret_prefix_len = 0;
		return DRIVER_CGROUPFS;
	}
	if (has_suffix(c, ".slice")) {
		struct comp name = { c.s, c.len - strlen(".slice") };

		if (equals(name, "kubepods") || has_suffix(name, "-kubepods")) {
			*ret_prefix_len = name.len; /* children are named "<name>-…" */
			return DRIVER_SYSTEMD;
		}
	}
	return DRIVER_NONE;
}

/* Parses a container cgroup name. systemd: "<runtime>-<id>.scope"; cgroupfs: "<id>",
 * "crio-<id>". Marks crio-conmon as a runtime helper. */
static bool parse_container(struct comp c, enum cgroup_driver driver, struct cgroup_ident *id)
{
	static const struct {
		const char *prefix;
		enum container_runtime rt;
	} runtimes[] = {
		{ "cri-containerd-", RUNTIME_CONTAINERD },
		{ "crio-conmon-", RUNTIME_CRIO },
		{ "crio-", RUNTIME_CRIO },
		{ "docker-", RUNTIME_DOCKER },
	};
	struct comp name = c;

	if (driver == DRIVER_SYSTEMD) {
		if (!has_suffix(c, ".scope"))
			return false;
		name.len -= strlen(".scope");
	} else if (parse_container_id(c.s, c.len, id->container_id)) {
		id->runtime = RUNTIME_UNKNOWN;
		return true;
	}
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		size_t pl = strlen(runtimes[i].prefix);

		if (!has_prefix(name, runtimes[i].prefix))
			continue;
		if (!parse_container_id(name.s + pl, name.len - pl, id->container_id))
			return false;
		id->runtime = runtimes[i].rt;
		id->runtime_helper = strcmp(runtimes[i].prefix, "crio-conmon-") == 0;
		return true;
	}
	return false;
}

/* Parses the components below a kubepods root at comps[0]. Returns false when the shape is
 * not kubelet's, so the caller keeps the cgroup plain. */
static bool parse_kube(const struct comp *comps, size_t n, enum cgroup_driver driver,
		       size_t prefix_len, struct cgroup_ident *id)
{
	static const struct {
		const char *name;
		enum kube_qos qos;
	} classes[] = { { "burstable", QOS_BURSTABLE }, { "besteffort", QOS_BESTEFFORT } };
	/* systemd names children "<parent name>-<child>.slice"; cgroupfs uses "<child>". */
	const char *parent = comps[0].s;
	size_t plen = prefix_len, i = 1;
	char pfx[UNIT_NAME_MAX + 2];

	id->driver = driver;
	id->kind = CGROUP_KUBE_QOS;
	if (n == 1)
		return true;
	id->qos = QOS_GUARANTEED; /* pods directly under kubepods are Guaranteed */
	if (plen + 1 >= sizeof(pfx))
		return false;

	for (size_t q = 0; q < sizeof(classes) / sizeof(classes[0]); q++) {
		struct comp c = comps[i];
		bool match;

		if (driver == DRIVER_SYSTEMD) {
			int len = snprintf(pfx, sizeof(pfx), "%.*s-%s.slice", (int)plen, parent,
					   classes[q].name);
			match = len > 0 && (size_t)len < sizeof(pfx) && equals(c, pfx);
		} else {
			match = equals(c, classes[q].name);
		}
		if (match) {
			id->qos = classes[q].qos;
			parent = c.s;
			plen = c.len - (driver == DRIVER_SYSTEMD ? strlen(".slice") : 0);
			i++;
			break;
		}
	}
	if (i == n)
		return true; /* the QoS slice itself */

	/* The pod: "<parent>-pod<uid_>.slice" or "pod<uid>". */
	struct comp pod = comps[i];
	const char *uid;
	size_t uid_len;

	if (driver == DRIVER_SYSTEMD) {
		int len = snprintf(pfx, sizeof(pfx), "%.*s-pod", (int)plen, parent);

		if (len <= 0 || (size_t)len >= sizeof(pfx) || !has_prefix(pod, pfx) ||
		    !has_suffix(pod, ".slice") || pod.len < (size_t)len + strlen(".slice"))
			return false;
		uid = pod.s + len;
		uid_len = pod.len - (size_t)len - strlen(".slice");
	} else {
		if (!has_prefix(pod, "pod"))
			return false;
		uid = pod.s + 3;
		uid_len = pod.len - 3;
	}
	if (!parse_pod_uid(uid, uid_len, id->pod_uid))
		return false;
	id->kind = CGROUP_KUBE_POD;
	if (++i == n)
		return true;

	if (parse_container(comps[i], driver, id)) {
		id->kind = id->runtime_helper ? CGROUP_KUBE_POD : CGROUP_KUBE_CONTAINER;
		if (id->runtime_helper)
			id->container_id[0] = '\0';
	}
	/* Anything deeper, or an unknown child of the pod, stays with what contains it. */
	id->nested = i + 1 < n || id->kind == CGROUP_KUBE_POD;
	return true;
}

static void copy_comp(char *dst, size_t size, struct comp c)
{
	size_t n = c.len < size - 1 ? c.len : size - 1;

	memcpy(dst, c.s, n);
	dst[n] = '\0';
}

int cgroup_path_parse(const char *path, struct cgroup_ident *ret)
{
	struct comp comps[MAX_COMPONENTS];
	struct cgroup_ident id = { 0 };
	size_t n = 0, len;
	int r;

	if (!path || path[0] != '/')
		return -EINVAL;
	len = strnlen(path, CGROUP_PATH_MAX + 1);
	if (len > CGROUP_PATH_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return -EINVAL;
	}
	r = split(path, comps, &n);
	if (r < 0)
		return r;

	for (size_t i = 0; i < n; i++) {
		size_t prefix_len;
		enum cgroup_driver driver = kubepods_root(comps[i], &prefix_len);

		if (driver == DRIVER_NONE)
			continue;
		struct cgroup_ident kid = { 0 };

		if (parse_kube(comps + i, n - i, driver, prefix_len, &kid)) {
			*ret = kid;
			return 0;
		}
		break; /* a kubepods root with a foreign shape below it: plain */
	}

	for (size_t i = 0; i < n; i++) {
		struct comp c = comps[i];
		struct comp name = { c.s,
				     c.len - (has_suffix(c, ".scope") ? strlen(".scope") : 0) };

		if (has_suffix(c, ".scope") && has_prefix(name, "docker-") &&
		    parse_container_id(name.s + 7, name.len - 7, id.container_id)) {
			id.runtime = RUNTIME_DOCKER;
		} else if (has_suffix(c, ".scope") && has_prefix(name, "libpod-") &&
			   parse_container_id(name.s + 7, name.len - 7, id.container_id)) {
			id.runtime = RUNTIME_PODMAN;
		} else if (i > 0 && equals(comps[i - 1], "docker") &&
			   parse_container_id(c.s, c.len, id.container_id)) {
			id.runtime = RUNTIME_DOCKER;
		} else if (has_suffix(c, ".service") && c.len > strlen(".service")) {
			id.kind = CGROUP_SYSTEMD_SERVICE;
			copy_comp(id.unit, sizeof(id.unit), c);
			id.nested = i + 1 < n;
			break;
		} else {
			continue;
		}
		id.kind = CGROUP_CONTAINER;
		id.nested = i + 1 < n;
		break;
	}
	*ret = id;
	return 0;
}

bool cgroup_path_is_container(const char *path, const char *pod_uid, const char *container_id)
{
	struct cgroup_ident id;

	if (!pod_uid || !container_id || !pod_uid[0] || cgroup_path_parse(path, &id))
		return false;
	return id.kind == CGROUP_KUBE_CONTAINER && !id.nested && strcmp(id.pod_uid, pod_uid) == 0 &&
	       strcmp(id.container_id, container_id) == 0;
}

const char *cgroup_kind_name(enum cgroup_kind kind)
{
	switch (kind) {
	case CGROUP_KUBE_QOS:
		return "kube-qos";
	case CGROUP_KUBE_POD:
		return "kube-pod";
	case CGROUP_KUBE_CONTAINER:
		return "kube-container";
	case CGROUP_CONTAINER:
		return "container";
	case CGROUP_SYSTEMD_SERVICE:
		return "systemd-service";
	case CGROUP_PLAIN:
		break;
	}
	return "plain";
}

const char *kube_qos_name(enum kube_qos qos)
{
	switch (qos) {
	case QOS_GUARANTEED:
		return "Guaranteed";
	case QOS_BURSTABLE:
		return "Burstable";
	case QOS_BESTEFFORT:
		return "BestEffort";
	case QOS_NONE:
		break;
	}
	return "";
}

const char *container_runtime_name(enum container_runtime rt)
{
	switch (rt) {
	case RUNTIME_CONTAINERD:
		return "containerd";
	case RUNTIME_CRIO:
		return "cri-o";
	case RUNTIME_DOCKER:
		return "docker";
	case RUNTIME_PODMAN:
		return "podman";
	case RUNTIME_UNKNOWN:
		return "unknown";
	case RUNTIME_NONE:
		break;
	}
	return "";
}
