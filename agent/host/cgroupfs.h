/* What a cgroup's own files say: CPU throttling, limit and pressure. cgroup v2 files first;
 * on hybrid hosts whose cpu controller sits on v1, the same relative path on the v1 cpu mount. */
#ifndef BPFDIAG_CGROUPFS_H
#define BPFDIAG_CGROUPFS_H

#include <stdbool.h>
#include <stdint.h>

struct cgroupfs_cpu {
	bool has_throttling;
	uint64_t nr_periods;
	uint64_t nr_throttled;
	uint64_t throttled_usec;
	bool has_limit;
	double limit_cores; /* quota / period */
	bool has_pressure;
	uint64_t pressure_some_usec; /* cpu.pressure "some ... total=" */
	uint64_t pressure_full_usec;
};

/* Parses cpu.stat text (v2 keys throttled_usec; v1 key throttled_time in ns). */
void cgroupfs_parse_cpu_stat(const char *text, struct cgroupfs_cpu *ret);
/* Parses cpu.max ("max 100000" or "50000 100000"). */
void cgroupfs_parse_cpu_max(const char *text, struct cgroupfs_cpu *ret);
/* Parses a PSI file's some/full totals. */
void cgroupfs_parse_pressure(const char *text, struct cgroupfs_cpu *ret);

/* Reads the files of path (relative to the mounts). v1_cpu_root may be NULL. Missing files
 * leave the matching has_* false. */
void cgroupfs_read_cpu(const char *v2_root, const char *v1_cpu_root, const char *path,
		       bool with_limit, struct cgroupfs_cpu *ret);

#endif
