// SPDX-License-Identifier: BSD-2-Clause
#include "host/cgroupfs.h"

#include "base/idmap.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

static unsigned held; /* descriptors held, directories and files */
static unsigned held_cap; /* 0: not read yet */
static uint64_t unheld_reads;
static bool unheld_logged;

unsigned cgroupfs_held(void)
{
	return __atomic_load_n(&held, __ATOMIC_RELAXED);
}

uint64_t cgroupfs_unheld_reads(void)
{
	return __atomic_load_n(&unheld_reads, __ATOMIC_RELAXED);
}

void cgroupfs_set_held_cap(unsigned cap)
{
	held_cap = cap;
}

/* Half the descriptor limit, read once (after the agent raised it). */
static unsigned cap(void)
{
	struct rlimit rl;

	if (!held_cap)
		held_cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
					   rl.rlim_cur < 2u * 1048576 ?
				   (unsigned)(rl.rlim_cur / 2) :
				   1048576;
	return held_cap;
}

static void unheld(const char *why)
{
	__atomic_add_fetch(&unheld_reads, 1, __ATOMIC_RELAXED);
	if (!unheld_logged) {
		unheld_logged = true;
		log_warn("cgroup files: %u descriptors held (%s); further cgroup files are opened "
			 "for each read (bpfdiag_agent_cgroupfs_unheld_reads_total)",
			 cgroupfs_held(), why);
	}
}

/* open() failed: with the descriptors spent, hold an eighth fewer than now (held files are
 * given back as they are read, leaving room for the reads that open their files). */
static void spent(int err)
{
	unsigned h = cgroupfs_held();

	if ((err == EMFILE || err == ENFILE) && h - h / 8 < cap())
		held_cap = h - h / 8 ? h - h / 8 : 1;
}

static void release(int *fdp1)
{
	if (*fdp1) {
		close(*fdp1 - 1);
		*fdp1 = 0;
		__atomic_sub_fetch(&held, 1, __ATOMIC_RELAXED);
	}
}

static void hold(int *fdp1, int fd)
{
	*fdp1 = fd + 1;
	__atomic_add_fetch(&held, 1, __ATOMIC_RELAXED);
}

/* The inotify instance watching limit files (-1: not made yet, -2: cannot be), and which
 * struct cgroupfs_dirs each watch is for. */
static int ino = -1;
static struct idmap *watches;
static uint64_t unwatched;
static bool unwatched_logged;
static unsigned n_watched, watch_cap;

uint64_t cgroupfs_unwatched_limits(void)
{
	return unwatched;
}

unsigned cgroupfs_watched_limits(void)
{
	return n_watched;
}

unsigned cgroupfs_watch_budget(const char *max_user_watches_file)
{
	char buf[32];
	ssize_t n;
	unsigned long v;
	char *end;
	int fd = open(max_user_watches_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return CGROUPFS_WATCH_DEFAULT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return CGROUPFS_WATCH_DEFAULT;
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return CGROUPFS_WATCH_DEFAULT;
	v /= CGROUPFS_WATCH_SHARE;
	return v > CGROUPFS_WATCH_MAX ? CGROUPFS_WATCH_MAX : (unsigned)v;
}

void cgroupfs_set_watch_budget(unsigned n)
{
	watch_cap = n;
}

static enum cgroupfs_limit_kind limit_kind(int l)
{
	return l == CGL_MEM_LIMIT ? CGLK_MEM : CGLK_CPU;
}

static void unwatch(struct cgroupfs_dirs *d, int l)
{
	if (!d->limit_wd[l])
		return;
	if (ino >= 0)
		inotify_rm_watch(ino, d->limit_wd[l] - 1);
	if (watches && idmap_get(watches, (uint64_t)(d->limit_wd[l] - 1)) == d) {
		idmap_del(watches, (uint64_t)(d->limit_wd[l] - 1));
		n_watched--;
	}
	d->limit_wd[l] = 0;
}

/* Drops d's watches (its cgroup gone or made again at the path: the next read watches the new
 * files), its limits and cpu.stat due. */
static void unwatch_all(struct cgroupfs_dirs *d)
{
	d->throttling_read = false;
	d->limit_tried = 0;
	for (int l = 0; l < 3; l++)
		if (d->limit_wd[l]) {
			unwatch(d, l);
			d->limit_due |= (uint8_t)(1u << limit_kind(l));
		}
}

static void unwatched_limit(const char *file, int err)
{
	unwatched++;
	if (!unwatched_logged) {
		unwatched_logged = true;
		log_warn(
			"cgroup files: cannot watch %s for writes (%s); limits not watched are read "
			"once a minute (the agent takes at most %u watches, 1/%d of "
			"fs.inotify.max_user_watches, shared with kubelet and containerd)",
			file, err == EDQUOT ? "the agent's watch budget is used up" : strerror(err),
			watch_cap, CGROUPFS_WATCH_SHARE);
	}
}

/* Watches limit file l of d (path: the file's whole path; d has no watch of it yet), before
 * it is read: a write from then on marks it due. Returns whether it is watched. */
static bool watch(struct cgroupfs_dirs *d, int l, const char *path)
{
	int wd;

	if (ino == -1) {
		ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		watches = ino >= 0 ? idmap_new() : NULL;
		if (ino >= 0 && !watches) {
			close(ino);
			errno = ENOMEM;
			ino = -1;
		}
		if (ino < 0)
			ino = -2;
	}
	if (ino < 0) {
		unwatched_limit(path, errno ? errno : ENOSYS);
		return false;
	}
	/* The user's watches are shared with kubelet, containerd and every other process of the
	 * node's root: the agent takes at most its budget of them. */
	if (!watch_cap)
		watch_cap = cgroupfs_watch_budget("/proc/sys/fs/inotify/max_user_watches");
	if (n_watched >= watch_cap) {
		unwatched_limit(path, EDQUOT);
		return false;
	}
	wd = inotify_add_watch(ino, path, IN_MODIFY);
	if (wd < 0) {
		if (errno != ENOENT)
			unwatched_limit(path, errno);
		return false;
	}
	/* One watch per inode: another dirs of the same file (a path reused) keeps it. */
	if (idmap_get(watches, (uint64_t)wd) || idmap_put(watches, (uint64_t)wd, d))
		return false;
	n_watched++;
	d->limit_wd[l] = wd + 1;
	return true;
}

static void mark_due(struct cgroupfs_dirs *d, int wd, bool gone)
{
	for (int l = 0; l < 3; l++)
		if (d->limit_wd[l] == wd + 1) {
			d->limit_due |= (uint8_t)(1u << limit_kind(l));
			if (gone) { /* the kernel dropped the watch */
				if (idmap_del(watches, (uint64_t)wd))
					n_watched--;
				d->limit_wd[l] = 0;
			}
		}
}

void cgroupfs_poll_limits(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while (ino >= 0 && (n = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			struct cgroupfs_dirs *d;
			size_t pos = 0;
			uint64_t wd;
			void *v;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) { /* events lost: every limit read anew */
				while (idmap_next(watches, &pos, &wd, &v))
					((struct cgroupfs_dirs *)v)->limit_due = 3;
				continue;
			}
			d = idmap_get(watches, (uint64_t)ev->wd);
			if (d)
				mark_due(d, ev->wd, ev->mask & IN_IGNORED);
		}
	}
}

void cgroupfs_dirs_close(struct cgroupfs_dirs *d)
{
	for (int t = 0; d && t < CGFS_TREES; t++)
		release(&d->fdp1[t]);
	for (int f = 0; d && f < CGF_FILES; f++)
		release(&d->filep1[f]);
	for (int l = 0; d && l < 3; l++)
		unwatch(d, l);
	if (d) {
		d->throttling_read = false;
		d->limit_tried = 0;
	}
}

/* Whether this call reads limit kind k of d: with_limit without dirs or where the files are not
 * watched; else when written since its last read, and every CGROUPFS_LIMIT_SAFETY_EVERY-th
 * with_limit call; and never_read (the caller's struct has none), or the first time through
 * d (its cgroup new to the caller's struct: a container restarted). Clears what it reads. */
static bool limit_read(struct cgroupfs_dirs *d, enum cgroupfs_limit_kind k, bool with_limit,
		       bool watched, bool never_read)
{
	/* Not tried through these directories yet (a cgroup new to them): read and watch now. */
	bool due = never_read || (d && (d->limit_due & (1u << k) || !(d->limit_tried & (1u << k))));
	bool read;

	if (watched && with_limit && ++d->limit_skips[k] >= CGROUPFS_LIMIT_SAFETY_EVERY)
		due = true;
	read = watched ? due : with_limit || due;
	if (read && d) {
		d->limit_due &= (uint8_t) ~(1u << k);
		d->limit_tried |= (uint8_t)(1u << k);
		d->limit_skips[k] = 0;
	}
	return read;
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
	if (d && !d->fdp1[t] && cgroupfs_held() < cap()) {
		int dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 && errno == ENOENT)
			return -1; /* no such cgroup here: nor its file */
		if (dfd >= 0)
			hold(&d->fdp1[t], dfd);
		else
			spent(errno);
	}
	if (d && d->fdp1[t]) {
		fd = openat(d->fdp1[t] - 1, file, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT) {
			if (fd < 0)
				spent(errno);
			return fd;
		}
		/* A file this cgroup lacks, or the directory is gone (every cgroup directory has
		 * cgroup.procs): then the path may name a new cgroup; open the file by path and
		 * the directory again next time. */
		if (faccessat(d->fdp1[t] - 1, "cgroup.procs", F_OK, 0) == 0)
			return -1;
		release(&d->fdp1[t]);
		unwatch_all(d);
	}
	if (snprintf(p + n, sizeof(p) - (size_t)n, "/%s", file) >= (int)(sizeof(p) - (size_t)n))
		return -1;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		spent(errno);
	return fd;
}

/* Reads file of the cgroup into buf (NUL-terminated): through its held descriptor when it is
 * one of d's held files (f < CGF_FILES), else opened for this read. A held file is read from
 * offset 0 (kernfs formats it anew); a failed read closes it (ENODEV: its cgroup is gone) and
 * opens it again; one read while more than the cap are held is closed after the read. One the cgroup lacks (PSI off, no swap accounting) is not looked for again
 * until d->missing is cleared. */
static bool read_file(struct cgroupfs_dirs *d, enum cgroupfs_tree t, int f, const char *dir,
		      const char *path, const char *file, char *buf, size_t size)
{
	bool keep = d && f < CGF_FILES;
	ssize_t n;
	int fd;

	if (keep && (d->missing & (1u << f)))
		return false;
	if (keep && d->filep1[f]) {
		n = pread(d->filep1[f] - 1, buf, size - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			if (cgroupfs_held() > cap()) /* the cap was lowered: give it back */
				release(&d->filep1[f]);
			return true;
		}
		release(&d->filep1[f]);
	}
	fd = open_file(d, t, dir, path, file);
	if (fd < 0) {
		/* The directory still open: the cgroup is there, without this file. */
		if (keep && errno == ENOENT && d->fdp1[t])
			d->missing |= (uint8_t)(1u << f);
		return false;
	}
	n = read(fd, buf, size - 1);
	if (keep && n > 0 && cgroupfs_held() < cap()) {
		hold(&d->filep1[f], fd);
	} else {
		if (keep && n > 0)
			unheld("half the descriptor limit, or none left");
		close(fd);
	}
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

#define NOT_HELD CGF_FILES /* read_file's f for a file read on a slower cadence */

/* One key of a "key value" file (memory.stat, cpu.stat) to look for. */
struct key_want {
	const char *key;
	uint64_t *ret;
	bool found;
};

/* Reads the values of n (at most 8) keys in one pass over text's lines (stopping once all are found);
 * each found key sets its found. */
static void keys_u64(const char *text, struct key_want *w, unsigned n)
{
	size_t kl[8];
	unsigned left = n;

	for (unsigned i = 0; i < n && i < 8; i++)
		kl[i] = strlen(w[i].key);
	for (const char *p = text; left && *p;) {
		const char *nl = strchrnul(p, '\n'), *sp = memchr(p, ' ', (size_t)(nl - p));

		for (unsigned i = 0; sp && i < n && i < 8; i++) {
			if (!w[i].found && (size_t)(sp - p) == kl[i] &&
			    memcmp(p, w[i].key, kl[i]) == 0) {
				*w[i].ret = strtoull(sp + 1, NULL, 10);
				w[i].found = true;
				left--;
				break;
			}
		}
		p = *nl ? nl + 1 : nl;
	}
}

static bool key_u64(const char *text, const char *key, uint64_t *ret)
{
	struct key_want w = { key, ret, false };

	keys_u64(text, &w, 1);
	return w.found;
}

void cgroupfs_parse_cpu_stat(const char *text, struct cgroupfs_cpu *ret)
{
	uint64_t ns = 0;
	struct key_want w[] = {
		{ "nr_periods", &ret->nr_periods, false },
		{ "nr_throttled", &ret->nr_throttled, false },
		{ "throttled_usec", &ret->throttled_usec, false },
		{ "throttled_time", &ns, false }, /* cgroup v1: nanoseconds */
	};

	/* One pass: read every collection where the cgroup has a CPU quota. */
	keys_u64(text, w, 4);
	ret->has_throttling = w[0].found && w[1].found && (w[2].found || w[3].found);
	if (!w[2].found && w[3].found)
		ret->throttled_usec = ns / 1000;
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

/* Watches limit file l (file, of the cgroup path under dir) of d, before it is read; false
 * when it cannot be watched. */
static bool watch_limit(struct cgroupfs_dirs *d, int l, const char *dir, const char *path,
			const char *file)
{
	char p[PATH_MAX];
	int n;

	if (d->limit_wd[l])
		return true;
	n = snprintf(p, sizeof(p), "%s%s/%s", dir, strcmp(path, "/") ? path : "", file);
	return n > 0 && (size_t)n < sizeof(p) && watch(d, l, p);
}

/* Reads the CPU quota (cpu.max, v1 cpu.cfs_quota_us and cpu.cfs_period_us) into ret, watching
 * its files first when d is given (enum cgroupfs_limit). */
static void read_cpu_limit(const char *v2_root, const char *v1_cpu_root, const char *path,
			   struct cgroupfs_dirs *d, struct cgroupfs_cpu *ret)
{
	char buf[64], pbuf[64];
	long long quota, period;

	if (d && !v1_cpu_root)
		watch_limit(d, CGL_CPU_QUOTA, v2_root, path, "cpu.max");
	if (d && v1_cpu_root &&
	    watch_limit(d, CGL_CPU_QUOTA, v1_cpu_root, path, "cpu.cfs_quota_us"))
		watch_limit(d, CGL_CPU_PERIOD, v1_cpu_root, path, "cpu.cfs_period_us");
	ret->has_limit = false;
	if (!v1_cpu_root) {
		if (read_file(d, CGFS_V2, NOT_HELD, v2_root, path, "cpu.max", buf, sizeof(buf)))
			cgroupfs_parse_cpu_max(buf, ret);
		return;
	}
	if (!read_file(d, CGFS_V1_CPU, NOT_HELD, v1_cpu_root, path, "cpu.cfs_quota_us", buf,
		       sizeof(buf)) ||
	    (quota = strtoll(buf, NULL, 10)) <= 0 ||
	    !read_file(d, CGFS_V1_CPU, NOT_HELD, v1_cpu_root, path, "cpu.cfs_period_us", pbuf,
		       sizeof(pbuf)) ||
	    (period = strtoll(pbuf, NULL, 10)) <= 0)
		return;
	ret->limit_cores = (double)quota / (double)period;
	ret->has_limit = true;
}

bool cgroupfs_cadence_read(struct cgroupfs_cadence *c, bool changed, bool force, unsigned every)
{
	bool read;

	changed = changed || c->due;
	read = force || (changed && c->skips + 1u >= every);
	c->due = changed && !read;
	c->skips = read ? 0 : (uint8_t)(c->skips < UINT8_MAX ? c->skips + 1 : UINT8_MAX);
	return read;
}

void cgroupfs_read_cpu(const char *v2_root, const char *v1_cpu_root, const char *path,
		       struct cgroupfs_dirs *d, bool with_limit, bool ran, struct cgroupfs_cpu *ret)
{
	/* The cpu controller lives in one hierarchy: on v1 when it is mounted there (v2's
	 * cpu.stat then has no throttling keys). */
	const char *cpu_root = v1_cpu_root ? v1_cpu_root : v2_root;
	enum cgroupfs_tree cpu_tree = v1_cpu_root ? CGFS_V1_CPU : CGFS_V2;
	bool had_limit = ret->has_limit;
	bool watched = d && d->limit_wd[CGL_CPU_QUOTA] &&
		       (!v1_cpu_root || d->limit_wd[CGL_CPU_PERIOD]);
	bool limit = limit_read(d, CGLK_CPU, with_limit, watched, !ret->limit_read);
	char buf[1024];

	if (with_limit && d)
		d->missing = 0; /* look for missing files again */
	if (limit)
		read_cpu_limit(v2_root, v1_cpu_root, path, d, ret);
	ret->limit_read = ret->limit_read || limit;
	/* The throttling counters move only under the cgroup's own quota: read where there is one
	 * (held open there, not elsewhere) when it ran, and with the limit where there is one or
	 * was one at the last limit read (what it counted up to the quota's removal); without a
	 * quota, only until they were read once. */
	if (((with_limit || limit) &&
	     (had_limit || ret->has_limit || !ret->has_throttling || !d || !d->throttling_read)) ||
	    (ran && ret->has_limit)) {
		ret->has_throttling = false;
		if (read_file(d, cpu_tree, ret->has_limit ? CGF_CPU_STAT : NOT_HELD, cpu_root, path,
			      "cpu.stat", buf, sizeof(buf)))
			cgroupfs_parse_cpu_stat(buf, ret);
		if (d)
			d->throttling_read = ret->has_throttling;
		if (!ret->has_limit && d)
			release(&d->filep1[CGF_CPU_STAT]);
	}
	/* with_limit forces the read of an idle cgroup, or one without a reading: a running one is
	 * read on the cadence anyway, within CGROUPFS_PSI_EVERY - 1 calls. */
	if (!cgroupfs_cadence_read(&ret->psi, ran, with_limit && (!ran || !ret->has_pressure),
				   CGROUPFS_PSI_EVERY))
		return;
	/* A file gone (PSI turned off, the cgroup removed) leaves no pressure, not the last. */
	ret->has_pressure = false;
	if (read_file(d, CGFS_V2, CGF_CPU_PRESSURE, v2_root, path, "cpu.pressure", buf,
		      sizeof(buf)))
		cgroupfs_parse_pressure(buf, ret);
}

void cgroupfs_parse_memory_stat(const char *text, bool v1, struct cgroupfs_mem *ret)
{
	struct key_want w[] = {
		{ v1 ? "total_rss" : "anon", &ret->anon, false },
		{ v1 ? "total_cache" : "file", &ret->file, false },
		{ v1 ? "total_inactive_file" : "inactive_file", &ret->inactive_file, false },
		{ v1 ? "total_pgfault" : "pgfault", &ret->pgfault, false },
		{ v1 ? "total_pgmajfault" : "pgmajfault", &ret->pgmajfault, false },
		{ "total_swap", &ret->swap, false },
	};

	ret->anon = ret->file = ret->inactive_file = ret->pgfault = ret->pgmajfault = 0;
	if (v1)
		ret->swap = 0;
	keys_u64(text, w, v1 ? 6 : 5);
	if (v1)
		ret->has_swap = w[5].found;
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

static bool read_u64(struct cgroupfs_dirs *d, enum cgroupfs_tree t, int f, const char *dir,
		     const char *path, const char *file, uint64_t *ret)
{
	char buf[64];
	char *end;

	if (!read_file(d, t, f, dir, path, file, buf, sizeof(buf)))
		return false;
	*ret = strtoull(buf, &end, 10);
	return end != buf;
}

void cgroupfs_read_memory(const char *v2_root, const char *v1_mem_root, const char *path,
			  struct cgroupfs_dirs *d, bool with_limit, bool with_events, bool ran,
			  struct cgroupfs_mem *ret)
{
	char buf[8192]; /* memory.stat: ~1.5 KiB on v1, ~3 KiB on recent v2 kernels */
	const char *root = v1_mem_root ? v1_mem_root : v2_root;
	bool v1 = v1_mem_root != NULL, had = ret->has_usage, stat, changed;
	enum cgroupfs_tree t = v1 ? CGFS_V1_MEM : CGFS_V2;
	uint64_t kills = ret->oom_kills, usage = ret->usage, moved;

	ret->has_usage = false;
	if (with_limit && d)
		d->missing = 0; /* look for missing files again */
	if (!read_u64(d, t, CGF_MEM_USAGE, root, path,
		      v1 ? "memory.usage_in_bytes" : "memory.current", &ret->usage))
		return;
	/* memory.stat (and v2's swap) where it can have changed, on its cadence unless the usage
	 * moved by a sixteenth since its last read: see cgroupfs.h. */
	moved = ret->usage > ret->stat_usage ? ret->usage - ret->stat_usage :
					       ret->stat_usage - ret->usage;
	changed = ran || ret->usage != usage;
	/* with_limit forces the read where nothing changed (an idle cgroup's reclaim): a changing
	 * one is read on the cadence anyway, within CGROUPFS_MEM_STAT_EVERY - 1 calls. */
	stat = cgroupfs_cadence_read(&ret->stat, changed,
				     !had || (with_limit && !changed) ||
					     moved > ret->stat_usage / 16,
				     CGROUPFS_MEM_STAT_EVERY);
	ret->stat_skipped = !stat;
	if (stat) {
		ret->stat_usage = ret->usage;
		if (!read_file(d, t, CGF_MEM_STAT, root, path, "memory.stat", buf, sizeof(buf)))
			return;
		if (!v1)
			ret->has_swap = read_u64(d, t, CGF_MEM_SWAP, root, path,
						 "memory.swap.current", &ret->swap);
		if (!v1 && !ret->has_swap)
			ret->swap = 0;
		cgroupfs_parse_memory_stat(buf, v1, ret);
	}
	ret->has_usage = true;
	if (with_events) {
		ret->has_oom = false;
		if (read_file(d, t, NOT_HELD, root, path,
			      v1 ? "memory.oom_control" : "memory.events", buf, sizeof(buf)))
			cgroupfs_parse_oom_kill(buf, ret);
	}
	if (ret->has_oom && ret->oom_kills != kills &&
	    !read_u64(d, t, NOT_HELD, root, path, v1 ? "memory.max_usage_in_bytes" : "memory.peak",
		      &ret->peak))
		ret->peak = 0;
	if (limit_read(d, CGLK_MEM, with_limit, d && d->limit_wd[CGL_MEM_LIMIT],
		       !ret->limit_read)) {
		const char *file = v1 ? "memory.limit_in_bytes" : "memory.max";

		ret->limit_read = true;
		if (d)
			watch_limit(d, CGL_MEM_LIMIT, root, path, file); /* before the read */
		ret->has_limit = false;
		if (read_file(d, t, NOT_HELD, root, path, file, buf, sizeof(buf)))
			cgroupfs_parse_memory_limit(buf, ret);
	}
}
