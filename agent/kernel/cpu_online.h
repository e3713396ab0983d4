/* SPDX-License-Identifier: BSD-2-Clause */
/* The online CPUs, from /sys/devices/system/cpu/online: the CPUs cpu_flush is run on. */
#ifndef BPFDIAG_CPU_ONLINE_H
#define BPFDIAG_CPU_ONLINE_H

#include <stdbool.h>
#include <stdint.h>

/* Parses a kernel CPU list ("0-3,5,7-8", a trailing newline allowed) into mask, a bitmap of
 * ncpus bits (mask[i / 64] bit i % 64); CPUs at or past ncpus are left out. Returns the number
 * of CPUs set, or -1 when text is not a CPU list (mask is then all zeros). */
int cpu_list_parse(const char *text, uint64_t *mask, int ncpus);

static inline bool cpu_in(const uint64_t *mask, int cpu)
{
	return (mask[cpu / 64] >> (cpu % 64)) & 1;
}

/* The online file held open and its last mask: cpu_online_read() preads it at offset 0 (sysfs
 * formats it anew) and parses it only when its text changed. */
struct cpu_online {
	int fd; /* -1: not open (cannot be read: every possible CPU is taken as online) */
	int ncpus;
	uint64_t *mask; /* ncpus bits */
	int online; /* bits set in mask */
	char last[256]; /* the text parsed last */
};

/* Opens path (NULL: /sys/devices/system/cpu/online) for ncpus possible CPUs. Returns 0 or
 * -errno (ENOMEM); a file that cannot be opened leaves every CPU online (o->fd -1). */
int cpu_online_open(struct cpu_online *o, const char *path, int ncpus);
/* Reads the online CPUs into o->mask. A failed read or unparsable text keeps the last mask
 * (all CPUs before any read) and returns -1; else the number of online CPUs. */
int cpu_online_read(struct cpu_online *o);
void cpu_online_close(struct cpu_online *o);

#endif
