// SPDX-License-Identifier: BSD-2-Clause
#include "kernel/collector_priv.h"

#include "kernel/bpffs.h"
#include "base/log.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cpu.h"
#include "disk.h"
#include "fs.h"
#include "net.h"
#include "uring.h"

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
	/* libbpf warns loudly about probes we then drop on purpose: keep those at debug. */
	log_msg(LOG_DEBUG, "libbpf: %s", line);
	return 0;
}

static void watch(struct collector *c, const char *name, struct bpf_map *map, struct bpf_map *cnt,
		  unsigned idx)
{
	if (c->n_maps >= sizeof(c->maps) / sizeof(c->maps[0]))
		return;
	c->maps[c->n_maps++] = (struct watched_map){ .name = name,
						     .map = map,
						     .counters_fd = cnt ? bpf_map__fd(cnt) : -1,
						     .counter_idx = idx };
}

static int set_pin(struct bpf_map *map, const char *dir)
{
	char path[512];

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
	return bpf_map__set_pin_path(map, path);
}

static void unpin(struct bpf_map *map, const char *dir)
{
	char path[512];

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
	unlink(path);
}

/* Whether the kernel has a tracepoint that tp_btf can attach to (its btf_trace_<name>
 * typedef). */
static bool btf_has_tracepoint(const struct btf *vmlinux, const char *name)
{
	char tname[128];

	snprintf(tname, sizeof(tname), "btf_trace_%s", name);
	return btf__find_by_name_kind(vmlinux, tname, BTF_KIND_TYPEDEF) >= 0;
}

/* Whether tracepoint name's first argument (after the context) is a struct task_struct *. */
static bool btf_tracepoint_takes_task(const struct btf *vmlinux, const char *name)
{
	char tname[128];
	const struct btf_type *t;
	const struct btf_param *p;
	int id;

	snprintf(tname, sizeof(tname), "btf_trace_%s", name);
	id = btf__find_by_name_kind(vmlinux, tname, BTF_KIND_TYPEDEF);
	if (id < 0)
		return false;
	t = btf__type_by_id(vmlinux, btf__resolve_type(vmlinux, (__u32)id));
	if (!t || !btf_is_ptr(t) || !(t = btf__type_by_id(vmlinux, t->type)) ||
	    !btf_is_func_proto(t) || btf_vlen(t) < 2)
		return false;
	p = btf_params(t);
	t = btf__type_by_id(vmlinux, p[1].type);
	if (!t || !btf_is_ptr(t) || !(t = btf__type_by_id(vmlinux, t->type)))
		return false;
	return btf_is_struct(t) &&
	       strcmp(btf__name_by_offset(vmlinux, t->name_off), "task_struct") == 0;
}

/* Effective ids and capabilities decide, as when libbpf opens the file: access(2) would ask
 * with the real uid and ignore CAP_DAC_READ_SEARCH. */
static bool tracefs_has(const char *event)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", event);
	if (faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) == 0)
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s/id", event);
	return faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) == 0;
}

/* Whether the kernel keeps sched_info (CONFIG_SCHED_INFO, and on kernels before 5.14 also
 * delay accounting turned on): the field in BTF, and this process's own pcount moving (the
 * kernel prints "0 0 0" in /proc/<pid>/schedstat when it does not keep it). */
static bool sched_info_kept(const struct btf *vmlinux)
{
	unsigned long long run, delay, pcount = 0;
	int id = btf__find_by_name_kind(vmlinux, "sched_info", BTF_KIND_STRUCT);
	const struct btf_member *m;
	bool field = false;
	FILE *f;

	if (id < 0)
		return false;
	m = btf_members(btf__type_by_id(vmlinux, (unsigned)id));
	for (unsigned i = 0; i < btf_vlen(btf__type_by_id(vmlinux, (unsigned)id)); i++, m++)
		field = field ||
			strcmp(btf__name_by_offset(vmlinux, m->name_off), "run_delay") == 0;
	f = fopen("/proc/self/schedstat", "re");
	if (!field || !f) {
		if (f)
			fclose(f);
		return false;
	}
	if (fscanf(f, "%llu %llu %llu", &run, &delay, &pcount) != 3)
		pcount = 0;
	fclose(f);
	return pcount > 0;
}

static int cfg_cpu(struct collector *c, struct cpu_bpf *s)
{
	struct timespec now;

	if (bpf_map__set_max_entries(s->maps.cpu_stats, c->max_cgroups) ||
	    bpf_map__set_max_entries(s->maps.cpu_samples, c->max_cgroups))
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s->rodata->loaded_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	s->rodata->wait_from_sched_info = c->cpu_sched_info;
	bpf_program__set_autoload(s->progs.cpu_sched_wakeup, !c->cpu_sched_info);
	bpf_program__set_autoload(s->progs.cpu_sched_wakeup_new, !c->cpu_sched_info);
	/* Run, never attached (collector_flush_cpus). */
	bpf_program__set_autoload(s->progs.cpu_flush, c->cpu_flush);
	bpf_program__set_autoattach(s->progs.cpu_flush, false);
	return 0;
}

static int cfg_disk(struct collector *c, struct disk_bpf *s)
{
	/* Without writeback_dirty_folio (Linux < 5.17), writeback falls back to the bio owner. */
	bpf_program__set_autoload(s->progs.disk_dirty_folio, c->disk_folio);
	return 0;
}

/* The filesystem variant's programs, each loaded when its tracepoint exists (in the kernel's
 * BTF, or its module's when the filesystem is a module). */
static const struct fs_tp {
	const char *prog, *tracepoint, *module;
} fs_tps[] = {
	{ "fs_ext4_da_write_end", "ext4_da_write_end", "ext4" },
	{ "fs_ext4_write_end", "ext4_write_end", "ext4" },
	{ "fs_ext4_journalled_write_end", "ext4_journalled_write_end", "ext4" },
	{ "fs_ext4_sync", "ext4_sync_file_enter", "ext4" },
	{ "fs_xfs_buffered_write", "xfs_file_buffered_write", "xfs" },
	{ "fs_xfs_sync", "xfs_file_fsync", "xfs" },
	{ "fs_btrfs_sync", "btrfs_sync_file", "btrfs" },
	{ "fs_dio_complete", "iomap_dio_complete", NULL },
	{ "fs_filemap_get_pages", "mm_filemap_get_pages", NULL },
};
#define N_FS_TPS (sizeof(fs_tps) / sizeof(fs_tps[0]))
/* auto takes the filesystem variant only where direct I/O and buffered reads are seen too
 * (iomap_dio_complete, mm_filemap_get_pages: Linux 6.11 and later); on older kernels it would
 * miss them, so the per-syscall variant counts instead. */
#define FS_TPS_CORE ((1u << (N_FS_TPS - 2)) | (1u << (N_FS_TPS - 1)))
_Static_assert(N_FS_TPS == 9, "fs_dio_complete and fs_filemap_get_pages are the last two");

static bool module_has_tracepoint(const struct btf *vmlinux, const char *module, const char *name)
{
	char path[128];
	struct btf *b;
	bool has;

	snprintf(path, sizeof(path), "/sys/kernel/btf/%s", module);
	if (access(path, R_OK))
		return false;
	b = btf__parse_split(path, (struct btf *)vmlinux);
	has = b && btf_has_tracepoint(b, name);
	btf__free(b);
	return has;
}

/* Bit i: fs_tps[i] can attach here. */
static uint32_t fs_tps_present(const struct btf *vmlinux)
{
	uint32_t m = 0;

	for (size_t i = 0; i < N_FS_TPS; i++) {
		if (btf_has_tracepoint(vmlinux, fs_tps[i].tracepoint) ||
		    (fs_tps[i].module &&
		     module_has_tracepoint(vmlinux, fs_tps[i].module, fs_tps[i].tracepoint)))
			m |= 1u << i;
	}
	return m;
}

static int cfg_fs(struct collector *c, struct fs_bpf *s)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, s->obj) {
		const char *sec = bpf_program__section_name(p);
		bool on;

		if (strncmp(sec, "tracepoint/syscalls/", 20) == 0)
			on = c->fs_variant == FSV_SYSCALLS;
		else if (strncmp(sec, "tp_btf/sys_", 11) == 0)
			on = c->fs_variant == FSV_RAW;
		else
			on = false;
		bpf_program__set_autoload(p, on);
	}
	for (size_t i = 0; c->fs_variant == FSV_FILESYSTEM && i < N_FS_TPS; i++) {
		p = bpf_object__find_program_by_name(s->obj, fs_tps[i].prog);
		if (!p)
			return -ENOENT;
		bpf_program__set_autoload(p, c->fs_tps & (1u << i));
	}
	return 0;
}

static int cfg_net(struct collector *c, struct net_bpf *s)
{
	bpf_program__set_autoload(s->progs.net_sock_send, c->net_tracepoints);
	bpf_program__set_autoload(s->progs.net_sock_recv, c->net_tracepoints);
	bpf_program__set_autoload(s->progs.net_skb_egress, !c->net_tracepoints);
	bpf_program__set_autoload(s->progs.net_skb_ingress, !c->net_tracepoints);
	return 0;
}

static int cfg_uring(struct collector *c, struct uring_bpf *s)
{
	bpf_program__set_autoload(s->progs.uring_complete, c->uring_btf);
	bpf_program__set_autoload(s->progs.uring_complete_tp, !c->uring_btf);
	return 0;
}

static int cfg_cgroup(struct collector *c, struct cgroup_bpf *s)
{
	/* An older mark_victim passes a pid only: OOM kills are then memory.events' alone. */
	return bpf_program__set_autoload(s->progs.oom_mark_victim, c->oom_victim);
}

static int attach_perf(struct collector *c, unsigned hz)
{
	int attached = 0, r = 0;

	c->perf_links = calloc((size_t)c->ncpus, sizeof(*c->perf_links));
	if (!c->perf_links)
		return -ENOMEM;
	for (int cpu = 0; cpu < c->ncpus; cpu++) {
		struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE,
						.size = sizeof(attr),
						.config = PERF_COUNT_SW_CPU_CLOCK,
						.freq = 1,
						.sample_freq = hz };
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1,
				      PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno != ENODEV) /* offline CPU */
				r = -errno;
			continue;
		}
		c->perf_links[cpu] =
			bpf_program__attach_perf_event(c->cpu->progs.cpu_clock_sample, fd);
		if (!c->perf_links[cpu]) {
			r = -errno;
			close(fd);
			continue;
		}
		attached++;
	}
	return attached ? 0 : (r ? r : -ENODEV);
}

/* Runs cpu_flush on cpu (an IPI, or a direct call when this thread is on it). Returns 0 or
 * -errno: ENXIO for an offline CPU. */
static int flush_cpu(struct collector *c, int cpu)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = (__u32)cpu);

	return bpf_prog_test_run_opts(bpf_program__fd(c->cpu->progs.cpu_flush), &o);
}

void collector_flush_cpus(struct collector *c)
{
	if (!c->cpu_flush)
		return;
	/* An offline CPU would refuse the run (ENXIO) every time: only the online ones (a failed
	 * read keeps the last list). */
	cpu_online_read(&c->online);
	for (int cpu = 0; cpu < c->ncpus; cpu++) {
		enum flush_result res;
		int r;

		if (!cpu_in(c->online.mask, cpu))
			continue; /* offline when the list was read */
		r = flush_cpu(c, cpu);
		res = !r ? FLUSH_DONE : r == -ENXIO ? FLUSH_OFFLINE : FLUSH_FAILED;
		if (c->flushes[res]++ || res == FLUSH_DONE)
			continue;
		/* The first of its kind: said once, counted always. */
		if (res == FLUSH_OFFLINE) {
			log_info("collector: CPU %d went offline before its flush: what it counted "
				 "before is read once it is back "
				 "(bpfdiag_agent_cpu_flushes_total{result=\"offline\"})",
				 cpu);
			continue;
		}
		log_warn("collector: cannot flush CPU %d before reading the maps (%s): counts it "
			 "holds are read after its next switch%s "
			 "(bpfdiag_agent_cpu_flushes_total{result=\"failed\"}; logged once)",
			 cpu, strerror(-r),
			 c->sampling ? " or sample" : "; idle CPUs flush them from now on");
		if (!c->sampling)
			c->cpu->bss->flush_on_idle = true;
	}
}

/* Whether the kernel runs cpu_flush on a chosen CPU (BPF_F_TEST_RUN_ON_CPU, Linux 5.10): tried
 * once on the first online CPU. If not, a sampler flushes pending counts, or else idle CPUs do
 * (flush_on_idle). Returns the features word. */
static const char *start_flush(struct collector *c)
{
	int r = -ENOENT;

	cpu_online_read(&c->online);
	for (int cpu = 0; c->cpu_flush && cpu < c->ncpus; cpu++) {
		if (!cpu_in(c->online.mask, cpu))
			continue;
		r = flush_cpu(c, cpu);
		if (r != -ENXIO)
			break;
	}
	if (c->cpu_flush && !r)
		return "collection";
	if (c->cpu_flush)
		log_warn("collector: the kernel does not run cpu_flush on a chosen CPU (%s; "
			 "BPF_F_TEST_RUN_ON_CPU needs Linux >= 5.10)",
			 strerror(-r));
	c->cpu_flush = false;
	if (c->sampling) {
		log_info("collector: the cpu-clock samples flush each CPU's pending counts and "
			 "charge a task that keeps its CPU as it runs");
		return "samples";
	}
	log_warn(
		"collector: a task that keeps its CPU is charged when it switches out, and a "
		"CPU's pending counts are flushed when it goes idle (--cpu-samples HZ bounds both)");
	c->cpu->bss->flush_on_idle = true;
	return "idle";
}

static int attach_skb(struct collector *c, const char *cgroup_root)
{
	c->cgroup_fd = open(cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->cgroup_fd < 0)
		return -errno;
	c->skb_links[0] = bpf_program__attach_cgroup(c->net->progs.net_skb_egress, c->cgroup_fd);
	if (!c->skb_links[0])
		return -errno;
	c->skb_links[1] = bpf_program__attach_cgroup(c->net->progs.net_skb_ingress, c->cgroup_fd);
	if (!c->skb_links[1])
		return -errno;
	return 0;
}

static void feature(struct collector *c, const char *fmt, ...)
{
	size_t n = strlen(c->features);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->features + n, sizeof(c->features) - n, fmt, ap);
	va_end(ap);
}

/* Per-family adapters, so one loader serves every skeleton type. */
struct family_ops {
	const char *name;
	void *(*open)(void);
	int (*configure)(struct collector *c, void *skel);
	int (*load)(void *skel);
	int (*attach)(void *skel);
	void (*destroy)(void *skel);
	size_t (*pins)(void *skel, struct bpf_map **ret,
		       size_t max); /* maps kept across restarts */
};

#define FAMILY(fam, ...)                                                                        \
	static void *fam##_open(void)                                                           \
	{                                                                                       \
		return fam##_bpf__open();                                                       \
	}                                                                                       \
	static int fam##_configure(struct collector *c, void *s)                                \
	{                                                                                       \
		return cfg_##fam(c, s);                                                         \
	}                                                                                       \
	static int fam##_load(void *s)                                                          \
	{                                                                                       \
		return fam##_bpf__load(s);                                                      \
	}                                                                                       \
	static int fam##_attach(void *s)                                                        \
	{                                                                                       \
		return fam##_bpf__attach(s);                                                    \
	}                                                                                       \
	static void fam##_destroy(void *s)                                                      \
	{                                                                                       \
		fam##_bpf__destroy(s);                                                          \
	}                                                                                       \
	static size_t fam##_pins(void *skel, struct bpf_map **ret, size_t max)                  \
	{                                                                                       \
		struct fam##_bpf *s = skel;                                                     \
		struct bpf_map *all[] = { __VA_ARGS__ };                                        \
		size_t n = sizeof(all) / sizeof(all[0]);                                        \
		(void)s;                                                                        \
		for (size_t i = 0; i < n && i < max; i++)                                       \
			ret[i] = all[i];                                                        \
		return n < max ? n : max;                                                       \
	}                                                                                       \
	static const struct family_ops fam##_ops = { #fam,	 fam##_open,   fam##_configure, \
						     fam##_load, fam##_attach, fam##_destroy,   \
						     fam##_pins }

FAMILY(cpu, s->maps.cpu_stats, s->maps.cpu_samples, s->maps.cpu_pending);
FAMILY(disk, s->maps.disk_stats);
FAMILY(fs, s->maps.fs_stats);
FAMILY(net, s->maps.net_stats, s->maps.net_peers, s->maps.net_listen);
FAMILY(cgroup, NULL);
FAMILY(uring, s->maps.uring_stats);

/* Opens, configures, pins, loads and attaches one family. A map pinned by another version has
 * another shape: it is unpinned and the load tried once more. Returns 0 or -errno. */
static int load_family(struct collector *c, const struct family_ops *ops, const char *pin_dir,
		       void **ret)
{
	int r = -ENOENT;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct bpf_map *pins[8];
		size_t n = 0;
		void *s = ops->open();

		if (!s)
			return -errno ? -errno : -ENOMEM;
		r = ops->configure(c, s);
		if (!r && pin_dir)
			n = ops->pins(s, pins, 8);
		for (size_t i = 0; !r && i < n; i++)
			r = pins[i] ? set_pin(pins[i], pin_dir) : 0;
		if (!r)
			r = ops->load(s);
		if (!r)
			r = ops->attach(s);
		if (!r) {
			*ret = s;
			return 0;
		}
		for (size_t i = 0; i < n; i++) {
			if (pins[i])
				unpin(pins[i], pin_dir);
		}
		ops->destroy(s);
		if (!n)
			break;
		log_warn("%s probes: cannot reuse the maps pinned in %s (%s); re-creating them",
			 ops->name, pin_dir, strerror(-r));
	}
	return r;
}

static void family_failed(const char *family, int r, const char *metrics)
{
	log_warn("%s probes unavailable (%s): %s will be absent", family, strerror(-r), metrics);
}

/* io_uring is optional: any failure costs only its share of the fs metrics. */
static void open_uring(struct collector *c, enum collector_probe_choice choice, const char *pin)
{
	int r;

	c->uring_btf = choice != PROBE_FALLBACK && c->uring_btf;
	if (choice != PROBE_FALLBACK && !c->uring_btf)
		log_msg(choice == PROBE_PRIMARY ? LOG_WARN : LOG_INFO,
			"io_uring probes: tp_btf io_uring_complete has no CQE argument (Linux < "
			"6.0); using the classic tracepoint");
	r = load_family(c, &uring_ops, pin, (void **)&c->uring);
	if (r && c->uring_btf) {
		log_warn("io_uring probes: tp_btf failed (%s); trying the classic tracepoint",
			 strerror(-r));
		c->uring_btf = false;
		r = load_family(c, &uring_ops, pin, (void **)&c->uring);
	}
	if (r) {
		family_failed("io_uring", r,
			      "reads, writes and syncs submitted through io_uring in bpfdiag_fs_*");
		return;
	}
	c->probe[SLOT_URING] = c->uring_btf ? "io_uring_complete" : "io_uring_complete_tp";
	feature(c, " uring=%s", c->probe[SLOT_URING]);
	watch(c, "uring_stats", c->uring->maps.uring_stats, c->uring->maps.uring_counters,
	      URING_CNT_MAP_FULL);
}

/* The fs family in the variant asked for, each falling back to the next: filesystem
 * tracepoints, per-syscall tracepoints (when tracefs has them), raw syscalls. */
static int load_fs(struct collector *c, enum collector_fs_probe want, const char *pin)
{
	int r = -ENOENT;

	c->fs_variant = want == FS_PROBE_SYSCALLS ? FSV_SYSCALLS :
			want == FS_PROBE_RAW	  ? FSV_RAW :
						    FSV_FILESYSTEM;
	if (want == FS_PROBE_AUTO && (c->fs_tps & FS_TPS_CORE) != FS_TPS_CORE) {
		log_info(
			"fs probes: no iomap_dio_complete or mm_filemap_get_pages tracepoint "
			"(Linux < 6.11): the filesystem ones would miss direct I/O and reads; using "
			"per-syscall tracepoints (--fs-probe filesystem forces them)");
		c->fs_variant = FSV_SYSCALLS;
	}
	if (c->fs_variant == FSV_FILESYSTEM) {
		r = c->fs_tps ? load_family(c, &fs_ops, pin, (void **)&c->fs) : -ENOENT;
		if (!r)
			return 0;
		log_warn("fs probes: filesystem tracepoints failed (%s); trying per-syscall "
			 "tracepoints",
			 strerror(-r));
		c->fs_variant = FSV_SYSCALLS;
	}
	if (c->fs_variant == FSV_SYSCALLS) {
		if (tracefs_has("syscalls/sys_enter_write")) {
			r = load_family(c, &fs_ops, pin, (void **)&c->fs);
			if (!r)
				return 0;
			log_warn(
				"fs probes: per-syscall tracepoints failed (%s); trying raw syscalls",
				strerror(-r));
		} else {
			log_msg(want == FS_PROBE_SYSCALLS ? LOG_WARN : LOG_INFO,
				"fs probes: per-syscall tracepoints not found in tracefs; using raw "
				"syscall tracepoints");
		}
		c->fs_variant = FSV_RAW;
	}
	return load_family(c, &fs_ops, pin, (void **)&c->fs);
}

/* The fs family is optional: a failure costs only its metrics. */
static void open_fs(struct collector *c, enum collector_fs_probe want, const char *pin)
{
	int r = load_fs(c, want, pin);

	if (r) {
		family_failed("fs", r, "bpfdiag_fs_* metrics");
	} else {
		static const char *const names[] = { [FSV_FILESYSTEM] = "filesystem",
						     [FSV_SYSCALLS] = "syscalls",
						     [FSV_RAW] = "raw_syscalls" };

		c->probe[SLOT_FS] = names[c->fs_variant];
		feature(c, " fs=%s", c->probe[SLOT_FS]);
		watch(c, "fs_stats", c->fs->maps.fs_stats, c->fs->maps.fs_counters,
		      FS_CNT_MAP_FULL);
		watch(c, "fs_pending", c->fs->maps.fs_pending, c->fs->maps.fs_counters,
		      FS_CNT_PENDING_FULL);
	}
}

/* The net family: the sock_*_length tracepoints, else cgroup_skb on the v2 root. Optional: a
 * failure costs only its metrics. */
static void open_net(struct collector *c, const struct collector_opts *opts, const char *pin)
{
	int r;

	if (opts->net != PROBE_FALLBACK && !c->net_tracepoints)
		log_msg(opts->net == PROBE_PRIMARY ? LOG_WARN : LOG_INFO,
			"net probes: sock_send_length/sock_recv_length not in this kernel (Linux "
			">= 6.3); using cgroup_skb");
	r = load_family(c, &net_ops, pin, (void **)&c->net);
	if (!r && !c->net_tracepoints) {
		r = attach_skb(c, opts->cgroup_root);
		if (r) {
			net_bpf__destroy(c->net);
			c->net = NULL;
		}
	}
	if (r) {
		family_failed("net", r, "bpfdiag_network_* and bpfdiag_tcp_* metrics");
	} else {
		c->probe[SLOT_NET] = c->net_tracepoints ? "sock_length" : "cgroup_skb";
		feature(c, " net=%s", c->probe[SLOT_NET]);
		watch(c, "net_stats", c->net->maps.net_stats, c->net->maps.net_counters,
		      NET_CNT_MAP_FULL);
		watch(c, "net_peers", c->net->maps.net_peers, c->net->maps.net_counters,
		      NET_CNT_PEERS_FULL);
		watch(c, "net_listen", c->net->maps.net_listen, c->net->maps.net_counters,
		      NET_CNT_LISTEN_FULL);
	}
}

int collector__open(const struct collector_opts *opts, struct collector **ret, char *err,
		    size_t errlen)
{
	const char *pin = opts->pin_dir && opts->pin_dir[0] ? opts->pin_dir : NULL;
	struct btf *vmlinux = NULL;
	const char *flush;
	struct collector *c;
	int r, hz;

	libbpf_set_print(libbpf_log);
	/* Every program is checked against the kernel's own BTF (tp_btf needs it in the kernel,
	 * CO-RE reads it from user space): without it nothing can load. */
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		snprintf(
			err, errlen,
			"no kernel BTF (/sys/kernel/btf/vmlinux is missing or unreadable): bpfdiag "
			"needs Linux >= 5.12 built with CONFIG_DEBUG_INFO_BTF=y");
		return -EOPNOTSUPP;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		btf__free(vmlinux);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->cgroup_fd = -1;
	c->stats_fd = -1;
	c->online.fd = -1;
	c->max_cgroups = opts->max_cgroups ? opts->max_cgroups : CPU_MAX_CGROUPS_DEFAULT;
	/* Every decision the kernel's BTF informs is taken here, and the parse (7 MiB on 6.18) is
	 * freed before the families load: libbpf parses the same BTF again for each load (11 MiB
	 * while it lasts), and holding ours across those set the agent's peak RSS. */
	c->disk_folio = btf_has_tracepoint(vmlinux, "writeback_dirty_folio");
	c->net_tracepoints = opts->net != PROBE_FALLBACK &&
			     btf_has_tracepoint(vmlinux, "sock_send_length") &&
			     btf_has_tracepoint(vmlinux, "sock_recv_length");
	c->uring_btf = collector_uring_btf_ok(vmlinux); /* open_uring() decides */
	c->cpu_sched_info = sched_info_kept(vmlinux); /* the cpu family decides */
	c->fs_tps = opts->fs == FS_PROBE_SYSCALLS || opts->fs == FS_PROBE_RAW ||
				    opts->fs == FS_PROBE_OFF ?
			    0 :
			    fs_tps_present(vmlinux); /* the filesystem variant's programs */
	c->oom_victim = btf_tracepoint_takes_task(vmlinux, "mark_victim");
	btf__free(vmlinux);
	vmlinux = NULL;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		r = c->ncpus ? c->ncpus : -EINVAL;
		snprintf(err, errlen, "cannot count possible CPUs: %s", strerror(-r));
		goto fail;
	}
	c->vals_stride_max = 256;
	c->vals = calloc((size_t)c->ncpus, c->vals_stride_max);
	if (!c->vals || cpu_online_open(&c->online, NULL, c->ncpus)) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pin) {
		char why[768];

		r = bpffs_prepare(pin, bpffs_in_host_mount_ns(), why, sizeof(why));
		if (r == BPFFS_MOUNTED)
			log_info("no bpffs was mounted at " BPFFS_DEFAULT_MOUNT
				 ": mounted one there for the pinned maps in %s",
				 pin);
		if (r < 0 && opts->pin_required) {
			snprintf(err, errlen, "%s", why);
			goto fail;
		}
		if (r < 0) {
			log_warn("%s; until then counters will not survive agent restarts", why);
			pin = NULL;
		}
	}

	c->cpu_sched_info = opts->cpu != PROBE_FALLBACK && c->cpu_sched_info;
	if (opts->cpu != PROBE_FALLBACK && !c->cpu_sched_info)
		log_msg(opts->cpu == PROBE_PRIMARY ? LOG_WARN : LOG_INFO,
			"cpu probes: the kernel keeps no sched_info (CONFIG_SCHED_INFO, or delay "
			"accounting before Linux 5.14); run-queue waits come from sched_wakeup");
	c->cpu_flush = true;
	r = load_family(c, &cpu_ops, pin, (void **)&c->cpu);
	if (r) {
		/* Optional: without it the family works as before Linux 5.10 (start_flush). */
		int r_flush = r;

		c->cpu_flush = false;
		r = load_family(c, &cpu_ops, pin, (void **)&c->cpu);
		if (!r)
			log_warn("cpu probes: cpu_flush does not load (%s); loaded without it",
				 strerror(-r_flush));
	}
	if (r && c->cpu_sched_info) {
		log_warn("cpu probes: reading sched_info failed (%s); trying sched_wakeup",
			 strerror(-r));
		c->cpu_sched_info = false;
		r = load_family(c, &cpu_ops, pin, (void **)&c->cpu);
	}
	if (r) {
		snprintf(err, errlen,
			 "cannot load the cpu BPF programs: %s (needs Linux >= 5.12 with BTF, and "
			 "root or CAP_BPF+CAP_PERFMON)",
			 strerror(-r));
		goto fail;
	}
	c->probe[SLOT_CPU] = c->cpu_sched_info ? "sched_switch+sched_info" : "sched_switch+wakeup";
	feature(c, "cpu=%s", c->probe[SLOT_CPU]);
	watch(c, "cpu_stats", c->cpu->maps.cpu_stats, c->cpu->maps.cpu_counters, CPU_CNT_MAP_FULL);
	watch(c, "cpu_samples", c->cpu->maps.cpu_samples, c->cpu->maps.cpu_counters,
	      CPU_CNT_SAMPLES_MAP_FULL);
	watch(c, "cpu_causes", c->cpu->maps.cpu_causes, c->cpu->maps.cpu_counters,
	      CPU_CNT_CAUSES_FULL);
	hz = opts->sample_hz;
	r = hz > 0 ? attach_perf(c, (unsigned)hz) : 0;
	if (r) {
		family_failed("perf_event cpu-clock", r, "bpfdiag_cpu_samples_total");
	} else if (hz <= 0) {
		log_info("collector: no cpu-clock samples (--cpu-samples HZ turns them on): no "
			 "bpfdiag_cpu_samples_total");
	} else {
		feature(c, " samples=%dHz", hz);
		c->probe[SLOT_SAMPLES] = "perf_cpu_clock";
		c->sampling = true;
	}
	flush = start_flush(c);

	r = load_family(c, &disk_ops, pin, (void **)&c->disk);
	if (r) {
		family_failed("disk", r, "bpfdiag_disk_* metrics");
	} else {
		c->probe[SLOT_DISK] = c->disk_folio ? "block_rq+dirtier" : "block_rq";
		feature(c, " disk=%s", c->probe[SLOT_DISK]);
		watch(c, "disk_stats", c->disk->maps.disk_stats, c->disk->maps.disk_counters,
		      DISK_CNT_MAP_FULL);
		watch(c, "disk_inflight", c->disk->maps.disk_inflight, c->disk->maps.disk_counters,
		      DISK_CNT_INFLIGHT_FULL);
	}

	if (opts->fs != FS_PROBE_OFF)
		open_fs(c, opts->fs, pin);
	else
		feature(c, " fs=off");
	if (opts->net != PROBE_OFF)
		open_net(c, opts, pin);
	else {
		feature(c, " net=off");
		log_info("net probes off (--net-probe off): bpfdiag_network_* and bpfdiag_tcp_* "
			 "metrics are absent");
	}

	r = load_family(c, &cgroup_ops, NULL, (void **)&c->cg);
	if (r) {
		family_failed("cgroup lifecycle", r, "nothing (removed cgroups are swept instead)");
	} else {
		feature(c, " lifecycle=cgroup_rmdir");
		c->probe[SLOT_CGROUP] = "cgroup_rmdir";
		watch(c, "cgroup_dead", c->cg->maps.cgroup_dead, c->cg->maps.cgroup_counters,
		      CGROUP_CNT_DEAD_FULL);
		c->born = true;
		watch(c, "cgroup_born", c->cg->maps.cgroup_born, c->cg->maps.cgroup_counters,
		      CGROUP_CNT_BORN_FULL);
		if (c->oom_victim) {
			feature(c, " oom=mark_victim");
			watch(c, "oom_victims", c->cg->maps.oom_victims,
			      c->cg->maps.cgroup_counters, CGROUP_CNT_OOM_FULL);
		} else {
			log_info(
				"oom:mark_victim does not pass the victim task on this kernel: OOM "
				"kills are counted from memory.events only");
		}
	}

	if (opts->uring != PROBE_OFF)
		open_uring(c, opts->uring, pin);
	else
		feature(c, " uring=off");
	feature(c, " flush=%s", flush);

	if (opts->bpf_stats) {
		c->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (c->stats_fd < 0 && !collector_bpf_stats_sysctl())
			log_warn(
				"cannot enable BPF run-time statistics (%s; needs CAP_SYS_ADMIN, or "
				"sysctl kernel.bpf_stats_enabled=1): "
				"bpfdiag_agent_bpf_run_seconds_total will be absent",
				strerror(-c->stats_fd));
	}
	*ret = c;
	return 0;
fail:
	btf__free(vmlinux);
	collector__destroy(c);
	return r;
}

struct collector *collector__destroy(struct collector *c)
{
	if (!c)
		return NULL;
	for (int i = 0; c->perf_links && i < c->ncpus; i++)
		bpf_link__destroy(c->perf_links[i]);
	free(c->perf_links);
	bpf_link__destroy(c->skb_links[0]);
	bpf_link__destroy(c->skb_links[1]);
	if (c->cgroup_fd >= 0)
		close(c->cgroup_fd);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	cpu_bpf__destroy(c->cpu);
	disk_bpf__destroy(c->disk);
	fs_bpf__destroy(c->fs);
	net_bpf__destroy(c->net);
	cgroup_bpf__destroy(c->cg);
	uring_bpf__destroy(c->uring);
	free(c->vals);
	free(c->batch);
	cpu_online_close(&c->online);
	free(c);
	return NULL;
}

bool collector__oom_probe(const struct collector *c)
{
	return c->cg && c->oom_victim;
}

const char *collector__features(const struct collector *c)
{
	return c->features;
}

int collector__set_listen_seed(struct collector *c, const char *source)
{
	if (!c->net)
		return -EOPNOTSUPP;
	c->probe[SLOT_LISTENERS] = source;
	feature(c, " listeners=%s", source);
	return 0;
}
