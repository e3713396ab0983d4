#include "collector.h"
#include "log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "cpu.skel.h"

_Static_assert(sizeof(struct cpu_cg_stats) == 16, "cpu_cg_stats layout is shared with BPF");
_Static_assert(sizeof(struct cpu_cur) == 16, "cpu_cur layout is shared with BPF");

struct collector {
	struct cpu_bpf *cpu;
	int ncpus;
	uint32_t max_cgroups;
	struct cpu_cg_stats *vals; /* ncpus values, for per-CPU lookups */
	struct cpu_cur *curs;
	uint64_t *cnts;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && log_get_level() < LOG_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, "libbpf: %s", line);
	return 0;
}

static int pin_maps(struct cpu_bpf *skel, const char *dir)
{
	char path[512];

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/cpu_stats", dir);
	return bpf_map__set_pin_path(skel->maps.cpu_stats, path);
}

static int load(const struct collector_opts *opts, struct cpu_bpf **ret, uint32_t max_cgroups,
		bool pin)
{
	struct cpu_bpf *skel = cpu_bpf__open();
	int r;

	if (!skel)
		return -errno ? -errno : -ENOMEM;
	r = bpf_map__set_max_entries(skel->maps.cpu_stats, max_cgroups);
	if (!r && pin)
		r = pin_maps(skel, opts->pin_dir);
	if (!r)
		r = cpu_bpf__load(skel);
	if (r) {
		cpu_bpf__destroy(skel);
		return r;
	}
	*ret = skel;
	return 0;
}

int collector__open(const struct collector_opts *opts, struct collector **ret, char *err,
		    size_t errlen)
{
	struct collector *c;
	bool pin = opts->pin_dir && opts->pin_dir[0];
	int r;

	libbpf_set_print(libbpf_log);
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->max_cgroups = opts->max_cgroups ? opts->max_cgroups : CPU_MAX_CGROUPS_DEFAULT;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		r = c->ncpus ? c->ncpus : -EINVAL;
		snprintf(err, errlen, "cannot count possible CPUs: %s", strerror(-r));
		goto fail;
	}
	c->vals = calloc((size_t)c->ncpus, sizeof(*c->vals));
	c->curs = calloc((size_t)c->ncpus, sizeof(*c->curs));
	c->cnts = calloc((size_t)c->ncpus, sizeof(*c->cnts));
	if (!c->vals || !c->curs || !c->cnts) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = load(opts, &c->cpu, c->max_cgroups, pin);
	if (r && pin) {
		/* A map pinned by another version has another shape: start it afresh. */
		char path[512];

		snprintf(path, sizeof(path), "%s/cpu_stats", opts->pin_dir);
		log_warn("cannot reuse pinned maps in %s (%s); re-creating them", opts->pin_dir,
			 strerror(-r));
		unlink(path);
		r = load(opts, &c->cpu, c->max_cgroups, pin);
	}
	if (r) {
		snprintf(
			err, errlen,
			"cannot load the cpu BPF programs: %s (needs a kernel with BTF and tp_btf, "
			"and root or CAP_BPF+CAP_PERFMON)",
			strerror(-r));
		goto fail;
	}
	r = cpu_bpf__attach(c->cpu);
	if (r) {
		snprintf(err, errlen, "cannot attach tp_btf/sched_switch: %s", strerror(-r));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	collector__destroy(c);
	return r;
}

struct collector *collector__destroy(struct collector *c)
{
	if (!c)
		return NULL;
	cpu_bpf__destroy(c->cpu);
	free(c->vals);
	free(c->curs);
	free(c->cnts);
	free(c);
	return NULL;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int collector__read_cpu(struct collector *c, collector_cpu_fn fn, void *ctx)
{
	int stats_fd = bpf_map__fd(c->cpu->maps.cpu_stats);
	int cur_fd = bpf_map__fd(c->cpu->maps.cpu_cur);
	uint64_t key, next, now;
	uint32_t zero = 0;
	bool first = true;
	int r;

	/* Committed time first, then the slices in progress: read in the other order, a switch
	 * in between would count one slice twice. */
	while ((r = bpf_map_get_next_key(stats_fd, first ? NULL : &key, &next)) == 0) {
		uint64_t sum = 0;

		first = false;
		key = next;
		if (bpf_map_lookup_elem(stats_fd, &key, c->vals))
			continue; /* deleted meanwhile */
		for (int i = 0; i < c->ncpus; i++)
			sum += c->vals[i].oncpu_ns;
		fn(ctx, key, sum);
	}
	if (r && errno != ENOENT)
		return -errno;
	if (bpf_map_lookup_elem(cur_fd, &zero, c->curs))
		return -errno;
	now = monotonic_ns();
	for (int i = 0; i < c->ncpus; i++) {
		if (c->curs[i].cgroup_id && c->curs[i].start_ns && now > c->curs[i].start_ns)
			fn(ctx, c->curs[i].cgroup_id, now - c->curs[i].start_ns);
	}
	return 0;
}

int collector__counters(struct collector *c, struct collector_counters *ret)
{
	int fd = bpf_map__fd(c->cpu->maps.cpu_counters), stats_fd;
	struct collector_counters out = { 0 };
	uint64_t key, next;
	bool first = true;

	for (uint32_t idx = 0; idx < CPU_CNT_MAX; idx++) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, &idx, c->cnts))
			return -errno;
		for (int i = 0; i < c->ncpus; i++)
			sum += c->cnts[i];
		if (idx == CPU_CNT_MAP_FULL)
			out.cpu_map_full = sum;
		else if (idx == CPU_CNT_DROPPED_NS)
			out.cpu_dropped_ns = sum;
	}
	stats_fd = bpf_map__fd(c->cpu->maps.cpu_stats);
	while (bpf_map_get_next_key(stats_fd, first ? NULL : &key, &next) == 0) {
		first = false;
		key = next;
		out.cgroups++;
	}
	out.max_cgroups = c->max_cgroups;
	*ret = out;
	return 0;
}
