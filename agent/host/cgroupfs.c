// SPDX-License-Identifier: BSD-2-Clause
#include "host/cgroupfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static unsigned dirs_open;

unsigned cgroupfs_dirs_open(void)
{
	return __atomic_load_n(&dirs_open, __ATOMIC_RELAXED);
}

/* Half the descriptor limit, read once. */
static unsigned dirs_cap(void)
{
	static unsigned cap;
	struct rlimit rl;

	if (!cap)
		cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
				      rl.rlim_cur < 2u * 1048576 ?
			      (unsigned)(rl.rlim_cur / 2) :
			      1048576;
	return cap;
}

static void dir_close(struct cgroupfs_dirs *d, enum cgroupfs_tree t)
{
	if (d->fdp1[t]) {
		close(d->fdp1[t] - 1);
		d->fdp1[t] = 0;
		__atomic_sub_fetch(&dirs_open, 1, __ATOMIC_RELAXED);
	}
}

void cgroupfs_dirs_close(struct cgroupfs_dirs *d)
{
	for (int t = 0; d && t < CGFS_TREES; t++)
		dir_close(d, (enum cgroupfs_tree)t);
}

/* Opens file of the cgroup path under dir: relative to d's directory of tree t when d is given
 * (opening it first), else by its whole path. Returns a descriptor or -1. */
static int open_file(struct cgroupfs_dirs *d, enum cgroupfs_tree t, const char *dir,
		     const char *path, const char *file)
{
	char p[PATH_MAX];
	int n = snprintf(p, sizeof(p), "%s%s", dir, strcmp(path, "/") ? path : ""), fd;

	if (n < 0 || (size_t)n >= sizeof(p))
		return -1;
	if (d && !d->fdp1[t] && cgroupfs_dirs_open() < dirs_cap()) {
		int dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 && errno == ENOENT)
			return -1; /* no such cgroup here: nor its file */
		if (dfd >= 0) {
			d->fdp1[t] = dfd + 1;
			__atomic_add_fetch(&dirs_open, 1, __ATOMIC_RELAXED);
		}
	}
	if (d && d->fdp1[t]) {
		fd = openat(d->fdp1[t] - 1, file, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		/* A file this cgroup lacks, or the directory is gone (every cgroup directory has
		 * cgroup.procs): then the path may name a new cgroup; open the file by path and
		 * the directory again next time. */
		if (faccessat(d->fdp1[t] - 1, "cgroup.procs", F_OK, 0) == 0)
			return -1;
		dir_close(d, t);
	}
	if (snprintf(p + n, sizeof(p) - (size_t)n, "/%s", file) >= (int)(sizeof(p) - (size_t)n))
		return -1;
	return open(p, O_RDONLY | O_CLOEXEC);
}

static bool read_small(struct cgroupfs_dirs *d, enum cgroupfs_tree t, const char *dir,
		       const char *path, const char *file, char *buf, size_t size)
{
	int fd = open_file(d, t, dir, path, file);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static bool key_u64(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			*ret = strtoull(p + kl + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

void cgroupfs_parse_cpu_stat(const char *text, struct cgroupfs_cpu *ret)
{
	uint64_t ns;

	ret->has_throttling = key_u64(text, "nr_periods", &ret->nr_periods) &&
			      key_u64(text, "nr_throttled", &ret->nr_throttled);
	if (key_u64(text, "throttled_usec", &ret->throttled_usec))
		return;
	if (key_u64(text, "throttled_time", &ns)) /* cgroup v1: nanoseconds */
		ret->throttled_usec = ns / 1000;
	else
		ret->has_throttling = false;
}

void cgroupfs_parse_cpu_max(const char *text, struct cgroupfs_cpu *ret)
{
	char quota[32];
	unsigned long long period;

	ret->has_limit = false;
	if (sscanf(text, "%31s %llu", quota, &period) != 2 || strcmp(quota, "max") == 0 ||
	    period == 0)
		return;
	ret->limit_cores = strtod(quota, NULL) / (double)period;
	ret->has_limit = ret->limit_cores > 0;
}

void cgroupfs_parse_pressure(const char *text, struct cgroupfs_cpu *ret)
{
	const char *some = strstr(text, "some "), *full = strstr(text, "full ");
	const char *t;

	ret->has_pressure = false;
	if (some && (t = strstr(some, "total=")) && (!full || t < full || full < some)) {
		ret->pressure_some_usec = strtoull(t + 6, NULL, 10);
		ret->has_pressure = true;
	}
	if (full && (t = strstr(full, "total=")))
		ret->pressure_full_usec = strtoull(t + 6, NULL, 10);
}

void cgroupfs_read_cpu(const char *v2_root, const char *v1_cpu_root, const char *path,
		       struct cgroupfs_dirs *d, bool with_limit, struct cgroupfs_cpu *ret)
{
	char buf[1024];

	ret->has_throttling = false;
	if (read_small(d, CGFS_V2, v2_root, path, "cpu.stat", buf, sizeof(buf)))
		cgroupfs_parse_cpu_stat(buf, ret);
	if (!ret->has_throttling && v1_cpu_root &&
	    read_small(d, CGFS_V1_CPU, v1_cpu_root, path, "cpu.stat", buf, sizeof(buf)))
		cgroupfs_parse_cpu_stat(buf, ret);
	if (read_small(d, CGFS_V2, v2_root, path, "cpu.pressure", buf, sizeof(buf)))
		cgroupfs_parse_pressure(buf, ret);
	if (!with_limit)
		return;
	ret->has_limit = false;
	if (read_small(d, CGFS_V2, v2_root, path, "cpu.max", buf, sizeof(buf))) {
		cgroupfs_parse_cpu_max(buf, ret);
	} else if (v1_cpu_root && read_small(d, CGFS_V1_CPU, v1_cpu_root, path, "cpu.cfs_quota_us",
					     buf, sizeof(buf))) {
		long long quota = strtoll(buf, NULL, 10);
		char pbuf[64];

		if (quota > 0 && read_small(d, CGFS_V1_CPU, v1_cpu_root, path, "cpu.cfs_period_us",
					    pbuf, sizeof(pbuf))) {
			long long period = strtoll(pbuf, NULL, 10);

			if (period > 0) {
				ret->limit_cores = (double)quota / (double)period;
				ret->has_limit = true;
			}
		}
	}
}

void cgroupfs_parse_memory_stat(const char *text, bool v1, struct cgroupfs_mem *ret)
{
	const char *anon = v1 ? "total_rss" : "anon", *file = v1 ? "total_cache" : "file";
	const char *inactive = v1 ? "total_inactive_file" : "inactive_file";

	ret->anon = ret->file = ret->inactive_file = ret->pgfault = ret->pgmajfault = 0;
	key_u64(text, anon, &ret->anon);
	key_u64(text, file, &ret->file);
	key_u64(text, inactive, &ret->inactive_file);
	key_u64(text, v1 ? "total_pgfault" : "pgfault", &ret->pgfault);
	key_u64(text, v1 ? "total_pgmajfault" : "pgmajfault", &ret->pgmajfault);
	if (v1) {
		ret->swap = 0;
		ret->has_swap = key_u64(text, "total_swap", &ret->swap);
	}
}

bool cgroupfs_host_swap(void)
{
	char line[256];
	bool swap = false;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "SwapTotal:", 10)) {
			swap = strtoull(line + 10, NULL, 10) > 0;
			break;
		}
	fclose(f);
	return swap;
}

void cgroupfs_parse_memory_limit(const char *text, struct cgroupfs_mem *ret)
{
	char *end;
	unsigned long long v;

	ret->has_limit = false;
	if (strncmp(text, "max", 3) == 0)
		return;
	v = strtoull(text, &end, 10);
	if (end == text || v == 0 || v >= (1ULL << 62))
		return;
	ret->limit = v;
	ret->has_limit = true;
}

void cgroupfs_parse_oom_kill(const char *text, struct cgroupfs_mem *ret)
{
	ret->has_oom = key_u64(text, "oom_kill", &ret->oom_kills);
}

static bool read_u64(struct cgroupfs_dirs *d, enum cgroupfs_tree t, const char *dir,
		     const char *path, const char *file, uint64_t *ret)
{
	char buf[64];
	char *end;

	if (!read_small(d, t, dir, path, file, buf, sizeof(buf)))
		return false;
	*ret = strtoull(buf, &end, 10);
	return end != buf;
}

void cgroupfs_read_memory(const char *v2_root, const char *v1_mem_root, const char *path,
			  struct cgroupfs_dirs *d, bool with_limit, struct cgroupfs_mem *ret)
{
	char buf[8192]; /* memory.stat: ~1.5 KiB on v1, ~3 KiB on recent v2 kernels */
	const char *root = v1_mem_root ? v1_mem_root : v2_root;
	bool v1 = v1_mem_root != NULL;
	enum cgroupfs_tree t = v1 ? CGFS_V1_MEM : CGFS_V2;
	uint64_t kills = ret->oom_kills;

	ret->has_usage = ret->has_oom = false;
	if (!read_u64(d, t, root, path, v1 ? "memory.usage_in_bytes" : "memory.current",
		      &ret->usage))
		return;
	if (!read_small(d, t, root, path, "memory.stat", buf, sizeof(buf)))
		return;
	if (!v1)
		ret->has_swap = read_u64(d, t, root, path, "memory.swap.current", &ret->swap);
	if (!v1 && !ret->has_swap)
		ret->swap = 0;
	cgroupfs_parse_memory_stat(buf, v1, ret);
	ret->has_usage = true;
	if (read_small(d, t, root, path, v1 ? "memory.oom_control" : "memory.events", buf,
		       sizeof(buf)))
		cgroupfs_parse_oom_kill(buf, ret);
	if (ret->has_oom && ret->oom_kills != kills &&
	    !read_u64(d, t, root, path, v1 ? "memory.max_usage_in_bytes" : "memory.peak",
		      &ret->peak))
		ret->peak = 0;
	if (with_limit) {
		ret->has_limit = false;
		if (read_small(d, t, root, path, v1 ? "memory.limit_in_bytes" : "memory.max", buf,
			       sizeof(buf)))
			cgroupfs_parse_memory_limit(buf, ret);
	}
}
