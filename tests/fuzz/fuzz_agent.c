// SPDX-License-Identifier: BSD-2-Clause
/* Fuzz target for the agent's parsers of outside input: kubelet cgroup paths, mountinfo lines
 * and tables, container/host mount pairs (volume classes), cgroupfs files, --rules-config JSON,
 * the Kubernetes watch stream (split at arbitrary chunk boundaries, each event parsed as a pod),
 * Kubernetes scalars, and listen addresses. The first input byte picks the parser (and, for the
 * watch stream, the chunk size). libFuzzer target with -DBPFDIAG_LIBFUZZER; else replay.c runs
 * the seeds in tests/fuzz/corpus/agent/ and seeded mutations of them. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/cgroup_path.h"
#include "host/cgroupfs.h"
#include "engine/local_labels.h"
#include "transport/http.h"
#include "kube/kube_parse.h"
#include "host/mountinfo.h"
#include "rules/rules.h"
#include "host/volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_value(void *ctx, json_object *v, int err)
{
	enum kube_event_type type;
	json_object *obj;
	struct kube_pod *pod = NULL;
	const char *why = NULL;

	(void)ctx;
	if (err || !v)
		return 0;
	if (kube_event_parse(v, &type, &obj) == 0 && kube_pod_parse(obj, &pod, &why) == 0)
		kube_pod_free(pod);
	return 0;
}

static void watch_stream(const char *s, size_t len, unsigned chunk)
{
	struct kube_stream *ks = kube_stream_new(1 << 20);

	if (!ks)
		return;
	chunk = chunk ? chunk : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (kube_stream_feed(ks, s + off, n, on_value, NULL))
			break;
	}
	kube_stream_partial(ks);
	kube_stream_free(ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgroup_ident id;
	struct mountinfo_entry me;
	struct cgroupfs_cpu cf = { 0 };
	struct rules_config rc;
	struct volume vol;
	const char *labels[LBL_MAX];
	char err[256], host[64], cid[CONTAINER_ID_LEN + 1], *s, *nl;
	unsigned port;
	double d;
	FILE *f;

	if (size == 0)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch ((data[0] & 0x0f) % 9) {
	case 0:
		if (cgroup_path_parse(s, &id) == 0)
			engine_local_labels(&id, s, labels);
		break;
	case 1:
		mountinfo_parse_line(s, &me);
		break;
	case 2:
		f = fmemopen(s, size - 1 ? size - 1 : 1, "r");
		if (f) {
			char root[256];

			mountinfo_find_cgroup2(f, root, sizeof(root));
			rewind(f);
			mountinfo_find_cgroup1(f, "cpu", root, sizeof(root));
			fclose(f);
		}
		break;
	case 3:
		/* the container's line, then the host's table */
		nl = strchr(s, '\n');
		if (nl) {
			*nl = '\0';
			if (mountinfo_parse_line(s, &me) == 0)
				volume_classify(&me, nl + 1, NULL, &vol);
		}
		break;
	case 4:
		cgroupfs_parse_cpu_stat(s, &cf);
		cgroupfs_parse_cpu_max(s, &cf);
		cgroupfs_parse_pressure(s, &cf);
		break;
	case 5:
		rules_config_default(&rc, 600, 300);
		rules_config_parse(s, &rc, err, sizeof(err));
		break;
	case 6:
		watch_stream(s, size - 1, (data[0] >> 4) * 37 + 1);
		break;
	case 7:
		kube_quantity_parse(s, &d);
		kube_time_parse(s, &d);
		kube_container_id_parse(s, cid);
		break;
	case 8:
		http_parse_listen(s, host, sizeof(host), &port, err, sizeof(err));
		break;
	}
	free(s);
	return 0;
}
