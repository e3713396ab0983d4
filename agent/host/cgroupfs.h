/* SPDX-License-Identifier: BSD-2-Clause */
/* What a cgroup's own files say: CPU throttling, limit and pressure. cgroup v2 files first;
 * on hybrid hosts whose cpu controller sits on v1, the same relative path on the v1 cpu mount. */
#ifndef BPFDIAG_CGROUPFS_H
#define BPFDIAG_CGROUPFS_H

#include <stdbool.h>
#include <stdint.h>

/* When a file whose values move only while its cgroup runs (or changes) is read: always with
 * force; else when a change was seen (the caller's, or one seen by a call that skipped it) and
 * the last read is at least every - 1 calls back. So a cgroup that keeps running has the file
 * read every every-th call (its values at most every - 1 calls old), and one that ran once
 * after being idle has it read at once; a change is never left unread past every - 1 calls.
 * Zeroed: as if just read (the caller forces the first read). */
struct cgroupfs_cadence {
	uint8_t skips; /* calls since the last read, up to 255 */
	bool due; /* a change seen since the last read */
};

/* Decides (and records) whether this call reads the file, as above. */
bool cgroupfs_cadence_read(struct cgroupfs_cadence *c, bool changed, bool force, unsigned every);

/* A running container's cpu.pressure is read every CGROUPFS_PSI_EVERY calls, its memory.stat
 * every CGROUPFS_MEM_STAT_EVERY (docs/COLLECTORS.md: what goes stale). */
#define CGROUPFS_PSI_EVERY 2
#define CGROUPFS_MEM_STAT_EVERY 3

struct cgroupfs_cpu {
	bool has_throttling;
	uint64_t nr_periods;
	uint64_t nr_throttled;
	uint64_t throttled_usec;
	bool has_limit;
	bool limit_read; /* the quota was read into this struct (else it is read at the next call) */
	double limit_cores; /* quota / period */
	bool has_pressure;
	uint64_t pressure_some_usec; /* cpu.pressure "some ... total=" */
	uint64_t pressure_full_usec;
	struct cgroupfs_cadence psi; /* cgroupfs_read_cpu's, for cpu.pressure */
};

/* Parses cpu.stat text (v2 keys throttled_usec; v1 key throttled_time in ns). */
void cgroupfs_parse_cpu_stat(const char *text, struct cgroupfs_cpu *ret);
/* Parses cpu.max ("max 100000" or "50000 100000"). */
void cgroupfs_parse_cpu_max(const char *text, struct cgroupfs_cpu *ret);
/* Parses a PSI file's some/full totals. */
void cgroupfs_parse_pressure(const char *text, struct cgroupfs_cpu *ret);

/* The hierarchies a cgroup's files are read from. */
enum cgroupfs_tree { CGFS_V2, CGFS_V1_CPU, CGFS_V1_MEM, CGFS_TREES };

/* The files read every collection (cpu.stat: of a cgroup with a CPU quota): held open and read with pread() at offset 0, which makes kernfs format the file anew
 * (a seq file starts again at 0), so a collection costs no open() or close() of them. Files
 * read on a slower cadence (cpu.max, memory.max, memory.events, ...) are opened for each read.
 * What the engine reads when, and how late a reading may be: engine.c, read_cgroupfs. */
enum cgroupfs_file {
	CGF_CPU_STAT, /* cpu.stat of the hierarchy the cpu controller is on */
	CGF_CPU_PRESSURE,
	CGF_MEM_USAGE, /* memory.current (v1: memory.usage_in_bytes) */
	CGF_MEM_STAT,
	CGF_MEM_SWAP, /* memory.swap.current (v2) */
	CGF_FILES
};

/* A cgroup's directories held open (O_PATH), so that each read opens its file relative to them
 * instead of walking the cgroup's path through kernfs again (a fifth of the agent's CPU at
 * 1000 containers), and its files read every collection held open too. All zeros: none open.
 * A held file whose read fails (ENODEV: its cgroup was removed, perhaps made again at the same
 * path) is closed and opened anew; a directory removed (and made again) is noticed and opened
 * anew. Held descriptors (directories and files) are capped at half the descriptor limit (the
 * agent raises it to the hard limit at start): past it, or when open() finds the descriptors
 * spent (EMFILE, ENFILE; the cap then drops to an eighth below what is held, and held files
 * past it are closed as they are read), files are opened and closed for each read as before,
 * counted by cgroupfs_unheld_reads() and logged once. */
struct cgroupfs_dirs {
	int fdp1[CGFS_TREES]; /* descriptor + 1; 0: not open */
	int filep1[CGF_FILES]; /* descriptor + 1 of a held file; 0: not held */
	uint8_t missing; /* 1 << enum cgroupfs_file: the cgroup lacks it (PSI off, no swap
			  * accounting); looked for again at the next read with the limit */
	int limit_wd[3]; /* inotify watch + 1 of the limit files (enum cgroupfs_limit); 0: none */
	uint8_t limit_due; /* 1 << enum cgroupfs_limit_kind: written since its last read */
	uint8_t limit_tried; /* 1 << enum cgroupfs_limit_kind: read (and watched) through these */
	uint8_t limit_skips[2]; /* with_limit calls that skipped a watched limit, per kind */
	bool throttling_read; /* cpu.stat read from these directories (cgroupfs_read_cpu) */
};

/* The limit files (cpu.max, or v1 cpu.cfs_quota_us and cpu.cfs_period_us; memory.max, or v1
 * memory.limit_in_bytes) change only when someone writes them (a pod resized in place). Where
 * a cgroup has struct cgroupfs_dirs, they are watched with inotify (IN_MODIFY: every write(2)
 * to them) from their first read on: a write is read at the next call after
 * cgroupfs_poll_limits() saw it, and the files are otherwise read only every
 * CGROUPFS_LIMIT_SAFETY_EVERY-th with_limit call (a safety net for writes inotify cannot see).
 * Unwatched (no dirs, no inotify, the user's watch limit or the agent's budget of watches
 * reached: logged once, counted by cgroupfs_unwatched_limits()), they are read with every
 * with_limit. */
enum cgroupfs_limit { CGL_CPU_QUOTA, CGL_CPU_PERIOD, CGL_MEM_LIMIT };
enum cgroupfs_limit_kind { CGLK_CPU, CGLK_MEM };
#define CGROUPFS_LIMIT_SAFETY_EVERY 10

/* Reads the inotify events of the watched limit files (non-blocking): each marks its cgroup's
 * limit due. An event queue overflow marks every watched limit due. Once per collection,
 * before the reads. */
void cgroupfs_poll_limits(void);
/* Limit files that could not be watched (read on the with_limit cadence instead). */
uint64_t cgroupfs_unwatched_limits(void);
/* Limit files watched now. */
unsigned cgroupfs_watched_limits(void);
/* The watches the agent takes at most: inotify watches are counted per user, and the node's
 * root user also runs kubelet and containerd, which watch files too (Linux < 5.11 allows 8192
 * by default). An eighth of the limit read from max_user_watches_file
 * (/proc/sys/fs/inotify/max_user_watches), at most CGROUPFS_WATCH_MAX; CGROUPFS_WATCH_DEFAULT
 * when it cannot be read. */
#define CGROUPFS_WATCH_SHARE 8
#define CGROUPFS_WATCH_MAX 65536u
#define CGROUPFS_WATCH_DEFAULT 1024u
unsigned cgroupfs_watch_budget(const char *max_user_watches_file);
/* Sets the budget (0: read it at the next watch). For tests. */
void cgroupfs_set_watch_budget(unsigned n);

/* Closes d's directories and files (when its cgroup path changes or its owner goes). */
void cgroupfs_dirs_close(struct cgroupfs_dirs *d);
/* Descriptors held now (directories and files), over every struct cgroupfs_dirs. */
unsigned cgroupfs_held(void);
/* Reads of a file of enum cgroupfs_file that opened and closed it because the held
 * descriptors were at their cap (bpfdiag_agent_cgroupfs_unheld_reads_total). */
uint64_t cgroupfs_unheld_reads(void);
/* Sets the cap on held descriptors (tests); 0: half the soft descriptor limit, read anew. */
void cgroupfs_set_held_cap(unsigned cap);

/* Reads the files of path (relative to the mounts), through dirs when not NULL (a read with
 * the limit looks again for files found missing). v1_cpu_root may be NULL: the cpu controller
 * is on v2. ran: the cgroup's tasks ran since the last call (stalls need runnable tasks; the
 * throttling counters move only while they run). cpu.pressure on ret->psi's cadence (changed:
 * ran; force: with_limit where it did not run, or no reading yet), every CGROUPFS_PSI_EVERY
 * calls while it runs; the quota with with_limit or when written (see enum cgroupfs_limit;
 * else the previous one stays); cpu.stat's throttling counters (they move only under the
 * cgroup's own quota) when it ran where the last quota read found one, and with with_limit or
 * a quota read where that read or the one before found one, or where they were not read yet
 * through dirs (no dirs: every with_limit); else the previous ones stay. Missing files leave
 * the matching has_* false (a cpu.pressure gone since its last read too). */
void cgroupfs_read_cpu(const char *v2_root, const char *v1_cpu_root, const char *path,
		       struct cgroupfs_dirs *dirs, bool with_limit, bool ran,
		       struct cgroupfs_cpu *ret);

/* A cgroup's memory: v2 memory.current, memory.stat, memory.swap.current, memory.events and
 * memory.max; or, on hybrid hosts, the v1 memory controller's memory.usage_in_bytes,
 * memory.stat total_* keys, memory.limit_in_bytes and memory.oom_control. Bytes. */
struct cgroupfs_mem {
	bool has_usage; /* usage and the memory.stat values below were read */
	uint64_t usage; /* memory.current (v1: memory.usage_in_bytes) */
	uint64_t anon; /* anon (v1: total_rss) */
	uint64_t file; /* file (v1: total_cache) */
	uint64_t inactive_file; /* inactive_file (v1: total_inactive_file) */
	uint64_t swap; /* memory.swap.current (v1: total_swap) */
	/* swap was read (the kernel accounts it) and the host has swap (cgroupfs_host_swap) or
	 * the cgroup uses some: otherwise swap is 0 for good and bpfdiag_memory_swap_bytes is
	 * absent */
	bool has_swap;
	uint64_t pgfault, pgmajfault; /* counters: all faults, major faults */
	bool has_oom;
	uint64_t oom_kills; /* memory.events oom_kill (v1: memory.oom_control oom_kill) */
	uint64_t peak; /* memory.peak (v1: memory.max_usage_in_bytes); 0 when absent */
	bool has_limit;
	bool limit_read; /* the limit was read into this struct (else it is read at the next call) */
	uint64_t limit; /* memory.max (v1: memory.limit_in_bytes); has_limit false when unlimited */
	/* cgroupfs_read_memory's: the usage at the last memory.stat read, whether the last call
	 * skipped it (the values above are older than the usage), and its cadence */
	uint64_t stat_usage;
	bool stat_skipped;
	struct cgroupfs_cadence stat;
};

/* True when the host has swap space (/proc/meminfo SwapTotal above 0); false when unreadable. */
bool cgroupfs_host_swap(void);
/* Parses memory.stat: v1 selects the total_* keys of the v1 controller. */
void cgroupfs_parse_memory_stat(const char *text, bool v1, struct cgroupfs_mem *ret);
/* Parses memory.max (v2, "max" or bytes) or memory.limit_in_bytes (v1, where "unlimited" is a
 * huge page-rounded number: anything at or above 2^62 counts as none). */
void cgroupfs_parse_memory_limit(const char *text, struct cgroupfs_mem *ret);
/* Parses the oom_kill key of memory.events (v2) or memory.oom_control (v1). */
void cgroupfs_parse_oom_kill(const char *text, struct cgroupfs_mem *ret);
/* The working set as kubelet and cAdvisor define it: usage - inactive_file, floored at 0. */
static inline uint64_t cgroupfs_mem_working_set(const struct cgroupfs_mem *m)
{
	return m->usage > m->inactive_file ? m->usage - m->inactive_file : 0;
}

/* Reads the memory files of path: those of v1_mem_root when it is given (a controller lives in
 * one hierarchy: mounted on v1, it is not on v2), else the v2 files. The usage every call;
 * memory.stat (and v2's memory.swap.current) only where it can have changed since the last
 * read, on ret->stat's cadence: changed when ran (the cgroup's tasks ran since: page faults
 * need them) or the usage changed (a page charged or uncharged: anon, file, swap out), so
 * every CGROUPFS_MEM_STAT_EVERY calls while that goes on (a change seen by a call that skips
 * it is read within that many calls, run or not); forced with with_limit where neither ran nor
 * the usage changed, when the usage moved by more than a sixteenth since memory.stat's last
 * read, and when the last read found no usage. Else its values stay (what may go stale
 * meanwhile: a running cgroup's values CGROUPFS_MEM_STAT_EVERY - 1 calls; an idle one's
 * inactive_file, pages moved between LRU lists by reclaim without a charge, and the gauges of
 * a page charged and another uncharged in the same interval, until with_limit). The limit is
 * read with with_limit or when written (see enum cgroupfs_limit), else the previous one stays;
 * memory.events (v1: memory.oom_control) only with with_events, else the previous OOM-kill
 * count stays; the peak only when the OOM-kill count grew (it is reported at a kill).
 * Missing files leave the matching has_* false. */
void cgroupfs_read_memory(const char *v2_root, const char *v1_mem_root, const char *path,
			  struct cgroupfs_dirs *d, bool with_limit, bool with_events, bool ran,
			  struct cgroupfs_mem *ret);

#endif
