#include "rules/rules.h"
#include "model/histogram.h"
#include "engine/engine.h"
#include "base/idmap.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 10
#define KiB 1024.0
#define MiB (1024.0 * 1024.0)
#define PREV_EXPIRE_TICKS 120

enum vclass { VC_ROOTFS = 0, VC_EMPTYDIR, VC_PVC, VC_HOSTPATH, VC_N };

static const struct {
	const char *code, *name, *severity;
} rule_info[RULE_MAX] = {
	[RULE_WK01] = { "WK-01", "rootfs-durable-writes", "high" },
	[RULE_WK02] = { "WK-02", "emptydir-as-durable", "high" },
	[RULE_WK03] = { "WK-03", "rwo-pvc-multi-replica", "high" },
	[RULE_WK05] = { "WK-05", "stateful-deployment", "high" },
	[RULE_WK06] = { "WK-06", "peer-identity", "medium" },
	[RULE_WK07] = { "WK-07", "stateless-statefulset", "medium" },
	[RULE_WK10] = { "WK-10", "node-agent-as-deployment", "medium" },
	[RULE_WK11] = { "WK-11", "daemonset-not-node-local", "low" },
	[RULE_WK13] = { "WK-13", "bare-pod", "low" },
	[RULE_RS01] = { "RS-01", "missing-resources", "medium" },
	[RULE_RS02] = { "RS-02", "cpu-throttled", "medium" },
	[RULE_RS06] = { "RS-06", "cpu-contention", "low" },
	[RULE_RL01] = { "RL-01", "missing-probes", "medium" },
	[RULE_SC01] = { "SC-01", "privileged", "high" },
	[RULE_SC03] = { "SC-03", "rootfs-could-be-readonly", "low" },
};

const char *rule_code(enum rule_id id)
{
	return id < RULE_MAX ? rule_info[id].code : "";
}

const char *rule_name(enum rule_id id)
{
	return id < RULE_MAX ? rule_info[id].name : "";
}

static bool is_static(enum rule_id id)
{
	return id == RULE_WK03 || id == RULE_WK10 || id == RULE_WK13 || id == RULE_RS01 ||
	       id == RULE_SC01;
}

void rules_config_default(struct rules_config *cfg, double window, double warmup)
{
	*cfg = (struct rules_config){
		.window = window,
		.warmup = warmup,
		.wk01_rootfs_write_bps = 512 * KiB,
		.wk01_rootfs_fsync_ps = 0.2,
		.wk02_emptydir_fsync_ps = 1,
		.wk02_emptydir_write_bps = 256 * KiB,
		.wk05_pvc_write_bps = 2 * MiB,
		.wk05_pvc_fsync_ps = 5,
		.wk07_pvc_write_bps = 4 * KiB,
		.rs02_throttled_ratio = 0.25,
		.rs02_usage_of_limit = 0.6,
		.rs06_runq_p99_seconds = 0.005,
		.fire_ratio = 0.7,
		.clear_ratio = 0.5,
	};
	for (int i = 0; i < RULE_MAX; i++)
		cfg->enabled[i] = true;
}

int rules_local_facts(void *ctx, const struct snap_series *se, struct rules_facts *ret)
{
	(void)ctx;
	memset(ret, 0, sizeof(*ret));
	ret->known = ret->local = true;
	snprintf(ret->workload_kind, sizeof(ret->workload_kind), "%s",
		 se->labels[LBL_WORKLOAD_KIND]);
	snprintf(ret->workload, sizeof(ret->workload), "%s", se->labels[LBL_WORKLOAD]);
	snprintf(ret->pod_uid, sizeof(ret->pod_uid), "%s", se->labels[LBL_POD_UID]);
	for (size_t i = 0; i < se->n_points; i++) {
		if (se->points[i].metric == M_CPU_LIMIT_CORES) {
			ret->has_cpu_limit = true;
			ret->cpu_limit = se->points[i].value;
		}
	}
	ret->replicas = -1;
	return 0;
}

/* ---- --rules-config ---- */

struct knob {
	const char *rule; /* rule code, or "hysteresis" */
	const char *key;
	size_t off; /* offset of a double in struct rules_config */
	double min, max;
};

#define K(rule, key, field, min, max)                                     \
	{                                                                 \
		rule, key, offsetof(struct rules_config, field), min, max \
	}

static const struct knob knobs[] = {
	K("WK-01", "rootfs_write_bytes_per_second", wk01_rootfs_write_bps, 0, 1e12),
	K("WK-01", "rootfs_fsync_per_second", wk01_rootfs_fsync_ps, 0, 1e9),
	K("WK-02", "emptydir_fsync_per_second", wk02_emptydir_fsync_ps, 0, 1e9),
	K("WK-02", "emptydir_write_bytes_per_second", wk02_emptydir_write_bps, 0, 1e12),
	K("WK-05", "pvc_write_bytes_per_second", wk05_pvc_write_bps, 0, 1e12),
	K("WK-05", "pvc_fsync_per_second", wk05_pvc_fsync_ps, 0, 1e9),
	K("WK-07", "pvc_write_bytes_per_second", wk07_pvc_write_bps, 0, 1e12),
	K("RS-02", "throttled_ratio", rs02_throttled_ratio, 0, 1),
	K("RS-02", "usage_of_limit", rs02_usage_of_limit, 0, 10),
	K("RS-06", "runqueue_p99_seconds", rs06_runq_p99_seconds, 0, 3600),
	K("hysteresis", "fire_ratio", fire_ratio, 0.01, 1),
	K("hysteresis", "clear_ratio", clear_ratio, 0, 1),
};

static int rule_by_code(const char *code)
{
	for (int i = 0; i < RULE_MAX; i++) {
		if (strcmp(rule_info[i].code, code) == 0)
			return i;
	}
	return -1;
}

int rules_config_parse(const char *json, struct rules_config *cfg, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct rules_config c = *cfg;
	json_object *root;
	int r = -EINVAL;

	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	root = json_tokener_parse_ex(tok, json, (int)strlen(json));
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)strlen(json)) {
		/* Trailing garbage after a valid object is an error too. */
		snprintf(err, errlen, "not valid JSON (%s)",
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "the top level must be an object of rule ids");
		goto out;
	}
	json_object_object_foreach(root, rkey, rval) {
		int rule = rule_by_code(rkey);

		if (rule < 0 && strcmp(rkey, "hysteresis") != 0) {
			snprintf(err, errlen, "unknown rule '%s'", rkey);
			goto out;
		}
		if (!json_object_is_type(rval, json_type_object)) {
			snprintf(err, errlen, "'%s' must be an object", rkey);
			goto out;
		}
		json_object_object_foreach(rval, key, val) {
			const struct knob *k = NULL;

			if (rule >= 0 && strcmp(key, "severity") == 0) {
				static const char *const sev[] = { "critical", "high", "medium",
								   "low", "info" };
				const char *v = json_object_is_type(val, json_type_string) ?
							json_object_get_string(val) :
							"";
				bool ok = false;

				for (int i = 0; i < 5; i++)
					ok |= strcmp(v, sev[i]) == 0;
				if (!ok) {
					snprintf(
						err, errlen,
						"%s.severity must be critical, high, medium, low or info",
						rkey);
					goto out;
				}
				snprintf(c.severity[rule], sizeof(c.severity[rule]), "%s", v);
				continue;
			}
			if (rule >= 0 && strcmp(key, "enabled") == 0) {
				if (!json_object_is_type(val, json_type_boolean)) {
					snprintf(err, errlen, "%s.enabled must be true or false",
						 rkey);
					goto out;
				}
				c.enabled[rule] = json_object_get_boolean(val);
				continue;
			}
			for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
				if (strcmp(knobs[i].rule, rkey) == 0 &&
				    strcmp(knobs[i].key, key) == 0)
					k = &knobs[i];
			}
			if (!k) {
				snprintf(err, errlen, "unknown setting '%s.%s'", rkey, key);
				goto out;
			}
			if (!json_object_is_type(val, json_type_double) &&
			    !json_object_is_type(val, json_type_int)) {
				snprintf(err, errlen, "%s.%s must be a number", rkey, key);
				goto out;
			}
			double v = json_object_get_double(val);

			if (!isfinite(v) || v < k->min || v > k->max) {
				snprintf(err, errlen, "%s.%s = %g is out of range [%g, %g]", rkey,
					 key, v, k->min, k->max);
				goto out;
			}
			*(double *)((char *)&c + k->off) = v;
		}
	}
	if (c.clear_ratio >= c.fire_ratio) {
		snprintf(err, errlen, "hysteresis.clear_ratio (%g) must be below fire_ratio (%g)",
			 c.clear_ratio, c.fire_ratio);
		goto out;
	}
	*cfg = c;
	r = 0;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int rules_config_load(const char *path, struct rules_config *cfg, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int r;

	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n == (1 << 20) - 1) {
		free(buf);
		snprintf(err, errlen, "%s: larger than 1 MiB", path);
		return -EINVAL;
	}
	r = rules_config_parse(buf, cfg, err, errlen);
	free(buf);
	return r;
}

/* ---- state ---- */

/* What a workload did in one bucket (sums over its containers and the bucket's ticks). */
struct bucket {
	double seconds; /* observed time */
	bool data;
	double fs_bytes[VC_N], fs_syncs[VC_N];
	double server_conns;
	double cpu_s, throttled, periods, limit_core_s;
	uint64_t runq_hist[HIST_SLOTS];
	bool listening, peer_replica;
	uint16_t port;
	/* Connections accepted by containers that listen without a readiness probe (RL-01 is a
	 * container's: a probeless sidecar that serves nothing does not count). */
	double unprobed_conns;
	uint16_t unprobed_port;
	char pvc_volume[64];
};

struct prev {
	uint64_t key;
	uint64_t tick;
	double t;
	double fs_bytes[VC_N], fs_syncs[VC_N];
	double server_conns, cpu_s, throttled, periods;
	uint64_t runq_hist[HIST_SLOTS];
};

struct wl {
	uint64_t tick;
	char ns[64], kind[64], name[254], helm[254];
	struct rules_facts f; /* facts of the workload's containers, merged */
	bool missing_resources, ro_unset, host_ns, privileged, host_path;
	bool pending; /* a container's workload metadata is still due: judge nothing yet */
	char missing_resources_container[64];
	unsigned pods_here;
	char pod_uids[8][40];
	char pod_ips[16][46];
	unsigned n_ips;
	double bucket_start;
	struct bucket cur;
	struct bucket ring[BUCKETS];
	uint16_t crossed[RULE_MAX]; /* bit i: bucket i of the ring crossed */
	unsigned n_buckets; /* closed buckets so far, capped at BUCKETS */
	unsigned head;
	bool active[RULE_MAX];
	double since[RULE_MAX];
	struct snap_finding finding[RULE_MAX];
};

struct rules_engine {
	struct rules_config cfg;
	struct idmap *prevs; /* series key → struct prev */
	struct idmap *wls; /* workload key → struct wl */
	uint64_t tick;
};

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0x1f) * 0x100000001b3ULL;
}

static uint64_t nz(uint64_t h)
{
	return h ? h : 1;
}

struct rules_engine *rules_new(const struct rules_config *cfg)
{
	struct rules_engine *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cfg = *cfg;
	r->prevs = idmap_new();
	r->wls = idmap_new();
	if (!r->prevs || !r->wls)
		return rules_free(r);
	return r;
}

static void free_all(struct idmap *m)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!m)
		return;
	while (idmap_next(m, &pos, &k, &v))
		free(v);
	idmap_free(m);
}

struct rules_engine *rules_free(struct rules_engine *r)
{
	if (!r)
		return NULL;
	free_all(r->prevs);
	free_all(r->wls);
	free(r);
	return NULL;
}

static int vclass_of(const char *s)
{
	if (strcmp(s, "rootfs") == 0)
		return VC_ROOTFS;
	if (strcmp(s, "emptydir") == 0)
		return VC_EMPTYDIR;
	if (strcmp(s, "pvc") == 0)
		return VC_PVC;
	if (strcmp(s, "hostpath") == 0)
		return VC_HOSTPATH;
	return -1;
}

/* The current totals of a series, in the shape of struct prev. */
static void totals(const struct snap_series *se, struct prev *t, char *pvc_vol, size_t pvlen,
		   double *limit)
{
	double best_pvc = -1;

	*limit = 0;
	for (size_t i = 0; i < se->n_points; i++) {
		const struct snap_point *p = &se->points[i];
		int vc;

		switch (p->metric) {
		case M_FS_WRITE_BYTES:
			vc = vclass_of(p->own[0]);
			if (vc >= 0)
				t->fs_bytes[vc] += p->value;
			if (vc == VC_PVC && p->value > best_pvc) {
				best_pvc = p->value;
				snprintf(pvc_vol, pvlen, "%s", p->own[1]);
			}
			break;
		case M_FS_SYNC_CALLS:
			vc = vclass_of(p->own[0]);
			if (vc >= 0)
				t->fs_syncs[vc] += p->value;
			break;
		case M_TCP_CONNECTIONS_OPENED:
			if (strcmp(p->own[0], "server") == 0)
				t->server_conns += p->value;
			break;
		case M_CPU_SECONDS:
			t->cpu_s += p->value;
			break;
		case M_CPU_THROTTLED_PERIODS:
			t->throttled += p->value;
			break;
		case M_CPU_PERIODS:
			t->periods += p->value;
			break;
		case M_CPU_LIMIT_CORES:
			*limit = p->value;
			break;
		case M_CPU_RUNQUEUE_LATENCY:
			for (unsigned b = 0; p->hist && b <= p->hist->n_bounds && b < HIST_SLOTS;
			     b++)
				t->runq_hist[b] += p->hist->counts[b];
			break;
		default:
			break;
		}
	}
}

static bool ignored(const struct rules_facts *f, enum rule_id id)
{
	const char *s = f->ignore_rules, *code = rule_info[id].code;
	size_t n = strlen(code);

	if (!s[0])
		return false;
	for (const char *p = s; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");

		if ((len == 3 && strncmp(p, "all", 3) == 0) ||
		    (len == n && strncmp(p, code, n) == 0))
			return true;
		p += len;
	}
	return false;
}

static struct wl *wl_get(struct rules_engine *r, const struct rules_facts *f, double now)
{
	uint64_t key = nz(hash_str(
		hash_str(hash_str(0xcbf29ce484222325ULL, f->ns), f->workload_kind), f->workload));
	struct wl *w = idmap_get(r->wls, key);

	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w || idmap_put(r->wls, key, w)) {
		free(w);
		return NULL;
	}
	snprintf(w->ns, sizeof(w->ns), "%s", f->ns);
	snprintf(w->kind, sizeof(w->kind), "%s", f->workload_kind);
	snprintf(w->name, sizeof(w->name), "%s", f->workload);
	w->bucket_start = now;
	return w;
}

/* Merges a container's facts into its workload's view of this tick. */
static void merge_facts(struct wl *w, const struct rules_facts *f, const struct snap_series *se)
{
	bool seen_pod = false;

	(void)se;
	w->f = *f;
	snprintf(w->helm, sizeof(w->helm), "%s", f->helm_release);
	if (!f->has_memory_limit || !f->has_cpu_request || !f->has_memory_request) {
		if (!w->missing_resources)
			snprintf(w->missing_resources_container,
				 sizeof(w->missing_resources_container), "%s", f->container);
		w->missing_resources = true;
	}
	if (!f->read_only_root_fs)
		w->ro_unset = true;
	if (f->privileged)
		w->privileged = true;
	if (f->host_network || f->host_pid || f->host_ipc)
		w->host_ns = true;
	if (f->host_path)
		w->host_path = true;
	if (f->pending)
		w->pending = true;
	for (unsigned i = 0; i < w->pods_here && i < 8; i++)
		seen_pod |= strcmp(w->pod_uids[i], f->pod_uid) == 0;
	if (!seen_pod) {
		if (w->pods_here < 8)
			snprintf(w->pod_uids[w->pods_here], sizeof(w->pod_uids[0]), "%s",
				 f->pod_uid);
		w->pods_here++;
		for (unsigned i = 0; i < f->n_pod_ips && w->n_ips < 16; i++)
			snprintf(w->pod_ips[w->n_ips++], sizeof(w->pod_ips[0]), "%s",
				 f->pod_ips[i]);
	}
}

static void fmt_bytes(char *buf, size_t size, double bps)
{
	if (bps >= MiB)
		snprintf(buf, size, "%.1f MiB/s", bps / MiB);
	else if (bps >= KiB)
		snprintf(buf, size, "%.0f KiB/s", bps / KiB);
	else
		snprintf(buf, size, "%.0f B/s", bps);
}

static void evidence(struct snap_finding *f, const char *name, double v)
{
	if (f->n_evidence >= SNAP_MAX_EVIDENCE)
		return;
	snprintf(f->evidence[f->n_evidence].name, sizeof(f->evidence[0].name), "%s", name);
	f->evidence[f->n_evidence++].value = v;
}

/* Upper bound of the bucket holding the 99th percentile (0 when empty). */
static double p99(const uint64_t *h)
{
	return hist_quantile(h, 0.99);
}

static bool kind_is(const struct wl *w, const char *k)
{
	return strcmp(w->kind, k) == 0;
}

/* Does a rule apply to this workload's kind (SPEC §5 "applies to")? */
static bool applies(const struct wl *w, enum rule_id id)
{
	if (w->f.local)
		return (id == RULE_RS02 && w->f.has_cpu_limit) || id == RULE_RS06;

	bool dep = kind_is(w, "Deployment"), sts = kind_is(w, "StatefulSet"),
	     ds = kind_is(w, "DaemonSet"), pod = kind_is(w, "Pod");

	switch (id) {
	case RULE_WK01:
		return dep || sts || pod;
	case RULE_WK02:
		return dep || pod;
	case RULE_WK03:
	case RULE_WK05:
	case RULE_WK06:
	case RULE_WK10:
		return dep;
	case RULE_WK07:
		return sts;
	case RULE_WK11:
		return ds;
	case RULE_WK13:
		return pod;
	case RULE_RL01:
		return dep || sts || ds;
	case RULE_SC01:
		return !ds; /* node agents legitimately use host namespaces */
	case RULE_RS02:
		return w->f.has_cpu_limit;
	case RULE_RS01:
	case RULE_RS06:
	case RULE_SC03:
		return true;
	case RULE_MAX:
		break;
	}
	return false;
}

/* Runtime rules: does one bucket cross the threshold? */
static bool crosses(const struct rules_config *c, const struct wl *w, const struct bucket *b,
		    enum rule_id id)
{
	double t = b->seconds > 0 ? b->seconds : 1;
	double syncs = 0;

	for (int i = 0; i < VC_N; i++)
		syncs += b->fs_syncs[i];
	if (!b->data)
		return false;
	switch (id) {
	case RULE_WK01:
		return b->fs_bytes[VC_ROOTFS] / t >= c->wk01_rootfs_write_bps &&
		       b->fs_syncs[VC_ROOTFS] / t >= c->wk01_rootfs_fsync_ps;
	case RULE_WK02:
		return b->fs_syncs[VC_EMPTYDIR] / t >= c->wk02_emptydir_fsync_ps &&
		       b->fs_bytes[VC_EMPTYDIR] / t >= c->wk02_emptydir_write_bps;
	case RULE_WK05:
		return b->listening && (b->fs_bytes[VC_PVC] / t >= c->wk05_pvc_write_bps ||
					b->fs_syncs[VC_PVC] / t >= c->wk05_pvc_fsync_ps);
	case RULE_WK06:
		return b->peer_replica && w->pods_here >= 2;
	case RULE_WK07:
		return b->fs_bytes[VC_PVC] / t < c->wk07_pvc_write_bps && syncs == 0 &&
		       !b->peer_replica;
	case RULE_WK11:
		return !w->host_path && !w->host_ns && b->fs_bytes[VC_HOSTPATH] == 0 &&
		       b->server_conns > 0;
	case RULE_RS02:
		return b->periods > 0 && b->throttled / b->periods > c->rs02_throttled_ratio &&
		       b->limit_core_s > 0 && b->cpu_s >= c->rs02_usage_of_limit * b->limit_core_s;
	case RULE_RS06:
		return p99(b->runq_hist) > c->rs06_runq_p99_seconds && b->throttled == 0;
	case RULE_RL01:
		return b->unprobed_conns > 0;
	case RULE_SC03:
		return b->fs_bytes[VC_ROOTFS] == 0 && w->ro_unset;
	default:
		return false;
	}
}

static bool static_holds(const struct wl *w, enum rule_id id)
{
	switch (id) {
	case RULE_WK03:
		return w->f.rwo_claim[0] && (w->f.replicas > 1 || w->f.hpa_max > 1);
	case RULE_WK10:
		return (w->host_path || w->host_ns) && w->pods_here <= 1;
	case RULE_WK13:
		return true;
	case RULE_RS01:
		return w->missing_resources;
	case RULE_SC01:
		return w->privileged || w->host_ns;
	default:
		return false;
	}
}

/* The port a finding names for a listening container: the first it listens on that its pod
 * spec declares as a containerPort (RabbitMQ listens on epmd's 4369 before its own 5672), else
 * the first it listens on. */
static uint16_t served_port(const struct snap_series *se, const struct rules_facts *f)
{
	for (size_t i = 0; i < se->n_listen_ports; i++) {
		for (unsigned j = 0; j < f->n_ports; j++) {
			if (se->listen_ports[i] == f->ports[j])
				return se->listen_ports[i];
		}
	}
	return se->listen_ports[0];
}

/* Sum of the window's buckets, for evidence. */
static void window_sum(const struct wl *w, struct bucket *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < w->n_buckets; i++) {
		const struct bucket *b = &w->ring[i];

		out->seconds += b->seconds;
		out->data |= b->data;
		for (int v = 0; v < VC_N; v++) {
			out->fs_bytes[v] += b->fs_bytes[v];
			out->fs_syncs[v] += b->fs_syncs[v];
		}
		out->server_conns += b->server_conns;
		out->cpu_s += b->cpu_s;
		out->throttled += b->throttled;
		out->periods += b->periods;
		out->limit_core_s += b->limit_core_s;
		for (int h = 0; h < HIST_SLOTS; h++)
			out->runq_hist[h] += b->runq_hist[h];
		out->listening |= b->listening;
		out->peer_replica |= b->peer_replica;
		if (b->port)
			out->port = b->port;
		out->unprobed_conns += b->unprobed_conns;
		if (b->unprobed_port)
			out->unprobed_port = b->unprobed_port;
		if (b->pvc_volume[0])
			snprintf(out->pvc_volume, sizeof(out->pvc_volume), "%s", b->pvc_volume);
	}
}

/* Fills the finding's text and evidence from the window. */
static void describe(const struct rules_config *c, struct wl *w, enum rule_id id, double now)
{
	struct snap_finding *f = &w->finding[id];
	struct bucket s;
	double t;
	char a[32], b[32];
	const char *sk = "";

	window_sum(w, &s);
	t = s.seconds > 0 ? s.seconds : 1;
	memset(f, 0, sizeof(*f));
	snprintf(f->ns, sizeof(f->ns), "%s", w->ns);
	snprintf(f->workload_kind, sizeof(f->workload_kind), "%s", w->kind);
	snprintf(f->workload, sizeof(f->workload), "%s", w->name);
	snprintf(f->helm_release, sizeof(f->helm_release), "%s", w->helm);
	snprintf(f->rule, sizeof(f->rule), "%s", rule_info[id].code);
	snprintf(f->rule_name, sizeof(f->rule_name), "%s", rule_info[id].name);
	snprintf(f->severity, sizeof(f->severity), "%s",
		 c->severity[id][0] ? c->severity[id] : rule_info[id].severity);
	f->since = w->active[id] ? w->since[id] : now;

	switch (id) {
	case RULE_WK01:
		sk = kind_is(w, "StatefulSet") ? "" : "StatefulSet";
		fmt_bytes(a, sizeof(a), s.fs_bytes[VC_ROOTFS] / t);
		snprintf(
			f->message, sizeof(f->message),
			"%s %s writes %s and fsyncs %.1f/s into its container filesystem, which is "
			"lost on restart: put the data on a PVC%s.",
			w->kind, w->name, a, s.fs_syncs[VC_ROOTFS] / t,
			sk[0] ? " (per-replica data: a StatefulSet with volumeClaimTemplates)" :
				"");
		evidence(f, "rootfs_write_bytes_per_second", s.fs_bytes[VC_ROOTFS] / t);
		evidence(f, "rootfs_fsync_per_second", s.fs_syncs[VC_ROOTFS] / t);
		break;
	case RULE_WK02:
		sk = "StatefulSet";
		fmt_bytes(a, sizeof(a), s.fs_bytes[VC_EMPTYDIR] / t);
		snprintf(f->message, sizeof(f->message),
			 "%s %s fsyncs %.1f/s and writes %s into an emptyDir, which dies with the "
			 "pod: use a StatefulSet with volumeClaimTemplates, or set a sizeLimit if "
			 "it is only scratch space.",
			 w->kind, w->name, s.fs_syncs[VC_EMPTYDIR] / t, a);
		evidence(f, "emptydir_fsync_per_second", s.fs_syncs[VC_EMPTYDIR] / t);
		evidence(f, "emptydir_write_bytes_per_second", s.fs_bytes[VC_EMPTYDIR] / t);
		break;
	case RULE_WK03:
		sk = "StatefulSet";
		snprintf(f->message, sizeof(f->message),
			 "Deployment %s shares the ReadWriteOnce claim %s across %d replicas "
			 "(HPA max %d): use a StatefulSet with volumeClaimTemplates, RWX storage, "
			 "or 1 replica with the Recreate strategy.",
			 w->name, w->f.rwo_claim, w->f.replicas, w->f.hpa_max);
		evidence(f, "replicas", w->f.replicas);
		evidence(f, "hpa_max_replicas", w->f.hpa_max);
		break;
	case RULE_WK05:
		sk = "StatefulSet";
		fmt_bytes(a, sizeof(a), s.fs_bytes[VC_PVC] / t);
		snprintf(f->message, sizeof(f->message),
			 "Deployment %s writes %s and fsyncs %.1f/s into pvc %s and listens on :%u "
			 "with %d replica(s): make it a StatefulSet with a headless Service and a "
			 "PodDisruptionBudget.",
			 w->name, a, s.fs_syncs[VC_PVC] / t, s.pvc_volume[0] ? s.pvc_volume : "?",
			 s.port, w->f.replicas);
		evidence(f, "pvc_write_bytes_per_second", s.fs_bytes[VC_PVC] / t);
		evidence(f, "pvc_fsync_per_second", s.fs_syncs[VC_PVC] / t);
		evidence(f, "listening_port", s.port);
		evidence(f, "replicas", w->f.replicas);
		break;
	case RULE_WK06:
		sk = "StatefulSet";
		snprintf(
			f->message, sizeof(f->message),
			"%u replicas of Deployment %s on this node hold TCP connections to each "
			"other: peers need stable identities, so use a StatefulSet with a headless "
			"Service.",
			w->pods_here, w->name);
		evidence(f, "replicas_on_node", w->pods_here);
		break;
	case RULE_WK07:
		sk = "Deployment";
		fmt_bytes(a, sizeof(a), s.fs_bytes[VC_PVC] / t);
		snprintf(f->message, sizeof(f->message),
			 "StatefulSet %s wrote only %s to its volumes with no fsync and no peer "
			 "connections over the window: it keeps no state, so a Deployment (with an "
			 "HPA) would scale and roll out more freely.",
			 w->name, a);
		evidence(f, "pvc_write_bytes_per_second", s.fs_bytes[VC_PVC] / t);
		evidence(f, "window_seconds", s.seconds);
		break;
	case RULE_WK10:
		sk = "DaemonSet";
		snprintf(
			f->message, sizeof(f->message),
			"Deployment %s uses %s with at most one replica on this node: a node agent "
			"belongs in a DaemonSet.",
			w->name, w->host_path ? "a hostPath volume" : "host namespaces");
		evidence(f, "replicas_on_node", w->pods_here);
		break;
	case RULE_WK11:
		sk = "Deployment";
		snprintf(
			f->message, sizeof(f->message),
			"DaemonSet %s uses nothing node-local (no hostPath, host network or host "
			"I/O) and serves %.1f connections/s: a Deployment with an HPA fits better.",
			w->name, s.server_conns / t);
		evidence(f, "server_connections_per_second", s.server_conns / t);
		break;
	case RULE_WK13:
		sk = "Deployment";
		snprintf(
			f->message, sizeof(f->message),
			"Pod %s has no controller: nothing recreates it when its node fails; run it "
			"under a Deployment (or a Job if it runs to completion).",
			w->name);
		break;
	case RULE_RS01:
		snprintf(f->message, sizeof(f->message),
			 "%s %s container %s has no memory limit or no requests: set them from "
			 "observed usage (%.2f CPU cores on average).",
			 w->kind, w->name, w->missing_resources_container,
			 s.seconds > 0 ? s.cpu_s / t : 0);
		evidence(f, "cpu_cores", s.seconds > 0 ? s.cpu_s / t : 0);
		break;
	case RULE_RS02:
		snprintf(f->message, sizeof(f->message),
			 "%s %s was throttled in %.0f%% of CPU periods while using %.0f%% of its "
			 "limit: raise or drop the CPU limit.",
			 w->kind, w->name, s.periods > 0 ? 100 * s.throttled / s.periods : 0,
			 s.limit_core_s > 0 ? 100 * s.cpu_s / s.limit_core_s : 0);
		evidence(f, "throttled_ratio", s.periods > 0 ? s.throttled / s.periods : 0);
		evidence(f, "usage_of_limit", s.limit_core_s > 0 ? s.cpu_s / s.limit_core_s : 0);
		break;
	case RULE_RS06:
		snprintf(a, sizeof(a), "%.1f ms", p99(s.runq_hist) * 1e3);
		snprintf(f->message, sizeof(f->message),
			 "%s %s waits %s (p99) for a CPU without being throttled: the node is "
			 "contended; raise its CPU request or spread it.",
			 w->kind, w->name, a);
		evidence(f, "runqueue_p99_seconds", p99(s.runq_hist));
		break;
	case RULE_RL01:
		snprintf(
			f->message, sizeof(f->message),
			"%s %s accepts connections on :%u (%.1f/s) but has no readiness probe: add "
			"one on the observed port.",
			w->kind, w->name, s.unprobed_port, s.unprobed_conns / t);
		evidence(f, "listening_port", s.unprobed_port);
		evidence(f, "server_connections_per_second", s.unprobed_conns / t);
		break;
	case RULE_SC01:
		snprintf(f->message, sizeof(f->message),
			 "%s %s runs %s: drop what it does not need.", w->kind, w->name,
			 w->privileged ? "privileged" : "in host namespaces");
		break;
	case RULE_SC03:
		snprintf(b, sizeof(b), "%.0f", s.seconds);
		snprintf(f->message, sizeof(f->message),
			 "%s %s wrote nothing to its container filesystem in %s s: set "
			 "readOnlyRootFilesystem.",
			 w->kind, w->name, b);
		evidence(f, "window_seconds", s.seconds);
		break;
	case RULE_MAX:
		break;
	}
	snprintf(f->suggested_kind, sizeof(f->suggested_kind), "%s", sk);
	(void)c;
}

static unsigned popcount(uint16_t v)
{
	return (unsigned)__builtin_popcount(v);
}

/* Closes the current bucket: pushes it and its verdicts into the ring. */
static void close_bucket(const struct rules_config *c, struct wl *w)
{
	unsigned slot = w->head;

	w->ring[slot] = w->cur;
	for (int id = 0; id < RULE_MAX; id++) {
		uint16_t bit = (uint16_t)(1u << slot);

		w->crossed[id] &= (uint16_t)~bit;
		if (!is_static((enum rule_id)id) && crosses(c, w, &w->cur, (enum rule_id)id))
			w->crossed[id] |= bit;
	}
	w->head = (w->head + 1) % BUCKETS;
	if (w->n_buckets < BUCKETS)
		w->n_buckets++;
	memset(&w->cur, 0, sizeof(w->cur));
}

static void judge(struct rules_engine *r, struct wl *w, double now, rules_event_fn ev, void *ectx)
{
	const struct rules_config *c = &r->cfg;

	for (int i = 0; i < RULE_MAX; i++) {
		enum rule_id id = (enum rule_id)i;
		bool on = w->active[id], want;

		if (!c->enabled[id] || !applies(w, id) || ignored(&w->f, id)) {
			want = false;
		} else if (is_static(id)) {
			want = static_holds(w, id);
		} else {
			/* Out of all 10 buckets: a young workload needs 7 crossing buckets to fire. */
			double ratio = (double)popcount(w->crossed[id]) / BUCKETS;

			want = on ? ratio >= c->clear_ratio : ratio >= c->fire_ratio;
		}
		if (want)
			describe(c, w, id, now);
		if (want == on)
			continue;
		w->active[id] = want;
		if (want)
			w->since[id] = now;
		w->finding[id].since = w->since[id];
		if (ev) {
			struct rules_event e = { .started = want, .finding = &w->finding[id] };

			ev(ectx, &e);
		}
	}
}

struct tick_item {
	struct wl *w;
	const struct snap_series *se;
	struct rules_facts f;
};

int rules_update(struct rules_engine *r, struct snapshot *s, rules_facts_fn facts, void *fctx,
		 double now, rules_event_fn ev, void *ectx)
{
	const struct rules_config *c = &r->cfg;
	double blen = c->window / BUCKETS;
	struct tick_item *items = calloc(s->n_series ? s->n_series : 1, sizeof(*items));
	size_t n_items = 0, pos, n;
	uint64_t key;
	void *v;

	if (!items)
		return -ENOMEM;
	r->tick++;
	/* Pass 1: facts, and the workload view of this tick. */
	for (size_t i = 0; i < s->n_series; i++) {
		const struct snap_series *se = &s->series[i];
		struct tick_item *it = &items[n_items];
		struct wl *w;

		memset(&it->f, 0, sizeof(it->f));
		if (!facts || facts(fctx, se, &it->f) || !it->f.known || it->f.sandbox ||
		    it->f.init)
			continue;
		w = wl_get(r, &it->f, now);
		if (!w) {
			free(items);
			return -ENOMEM;
		}
		if (w->tick != r->tick) {
			w->tick = r->tick;
			w->missing_resources = w->ro_unset = false;
			w->host_ns = w->privileged = w->host_path = w->pending = false;
			w->pods_here = 0;
			w->n_ips = 0;
		}
		merge_facts(w, &it->f, se);
		it->w = w;
		it->se = se;
		n_items++;
	}
	/* Pass 2: what each container did since the last collection. */
	for (size_t i = 0; i < n_items; i++) {
		struct tick_item *it = &items[i];
		struct wl *w = it->w;
		struct prev cur = { 0 }, *p;
		char pvc[64] = "";
		double limit = 0, dt;
		bool young = it->f.started_at > 0 && now - it->f.started_at < c->warmup;

		key = nz(hash_str(hash_str(0xcbf29ce484222325ULL, it->se->cgroup_path),
				  it->se->labels[LBL_CONTAINER_ID]));
		totals(it->se, &cur, pvc, sizeof(pvc), &limit);
		cur.key = key;
		cur.t = now;
		cur.tick = r->tick;
		p = idmap_get(r->prevs, key);
		if (!p) {
			p = malloc(sizeof(*p));
			if (!p || idmap_put(r->prevs, key, p)) {
				free(p);
				free(items);
				return -ENOMEM;
			}
			*p = cur;
			continue; /* deltas start at the next collection */
		}
		dt = now - p->t;
		if (!young && dt > 0) {
			struct bucket *b = &w->cur;

			b->data = true;
			for (int vc = 0; vc < VC_N; vc++) {
				b->fs_bytes[vc] += fmax(0, cur.fs_bytes[vc] - p->fs_bytes[vc]);
				b->fs_syncs[vc] += fmax(0, cur.fs_syncs[vc] - p->fs_syncs[vc]);
			}
			b->server_conns += fmax(0, cur.server_conns - p->server_conns);
			b->cpu_s += fmax(0, cur.cpu_s - p->cpu_s);
			b->throttled += fmax(0, cur.throttled - p->throttled);
			b->periods += fmax(0, cur.periods - p->periods);
			b->limit_core_s += limit * dt;
			for (int h = 0; h < HIST_SLOTS; h++)
				b->runq_hist[h] += cur.runq_hist[h] > p->runq_hist[h] ?
							   cur.runq_hist[h] - p->runq_hist[h] :
							   0;
			if (it->se->n_listen_ports) {
				uint16_t port = served_port(it->se, &it->f);

				b->listening = true;
				b->port = port;
				if (!it->f.readiness_probe) {
					b->unprobed_conns +=
						fmax(0, cur.server_conns - p->server_conns);
					b->unprobed_port = port;
				}
			}
			if (pvc[0])
				snprintf(b->pvc_volume, sizeof(b->pvc_volume), "%s", pvc);
			/* A connection to another replica's address: peers of one workload. */
			for (size_t k = 0; k < it->se->n_peers; k++) {
				for (unsigned j = 0; j < w->n_ips; j++) {
					bool own = false;

					for (unsigned o = 0; o < it->f.n_pod_ips; o++)
						own |= strcmp(it->f.pod_ips[o], w->pod_ips[j]) == 0;
					if (!own &&
					    strcmp(it->se->peers[k].addr, w->pod_ips[j]) == 0)
						b->peer_replica = true;
				}
			}
		}
		*p = cur;
	}
	free(items);

	/* Buckets close on time; every workload seen recently is judged every tick. */
	pos = 0;
	while (idmap_next(r->wls, &pos, &key, &v)) {
		struct wl *w = v;

		while (now - w->bucket_start >= blen) {
			w->cur.seconds = blen;
			close_bucket(c, w);
			w->bucket_start += blen;
		}
		/* Until the workload's GET answers, its kind, Helm release and ignore-rules
		 * annotation may still change: findings would start and clear again. */
		if (w->tick == r->tick && !w->pending)
			judge(r, w, now, ev, ectx);
	}

	/* Forget containers and workloads not seen for a while (their findings clear). */
	do {
		uint64_t gone[64];

		n = 0;
		pos = 0;
		while (n < 64 && idmap_next(r->prevs, &pos, &key, &v)) {
			if (r->tick - ((struct prev *)v)->tick > PREV_EXPIRE_TICKS)
				gone[n++] = key;
		}
		for (size_t i = 0; i < n; i++)
			free(idmap_del(r->prevs, gone[i]));
		if (n < 64)
			break;
	} while (1);
	do {
		uint64_t gone[64];

		n = 0;
		pos = 0;
		while (n < 64 && idmap_next(r->wls, &pos, &key, &v)) {
			struct wl *w = v;

			if (r->tick - w->tick > PREV_EXPIRE_TICKS)
				gone[n++] = key;
		}
		for (size_t i = 0; i < n; i++) {
			struct wl *w = idmap_del(r->wls, gone[i]);

			for (int id = 0; id < RULE_MAX && ev; id++) {
				if (w->active[id]) {
					struct rules_event e = { .started = false,
								 .finding = &w->finding[id] };

					ev(ectx, &e);
				}
			}
			free(w);
		}
		if (n < 64)
			break;
	} while (1);

	/* The snapshot carries the active findings. */
	n = 0;
	pos = 0;
	while (idmap_next(r->wls, &pos, &key, &v)) {
		for (int id = 0; id < RULE_MAX; id++)
			n += ((struct wl *)v)->active[id];
	}
	free(s->findings);
	s->findings = calloc(n ? n : 1, sizeof(*s->findings));
	if (!s->findings) {
		s->n_findings = 0;
		return -ENOMEM;
	}
	s->n_findings = 0;
	pos = 0;
	while (idmap_next(r->wls, &pos, &key, &v)) {
		struct wl *w = v;

		for (int id = 0; id < RULE_MAX; id++) {
			if (w->active[id])
				s->findings[s->n_findings++] = w->finding[id];
		}
	}
	return 0;
}
