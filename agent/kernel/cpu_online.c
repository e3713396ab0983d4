// SPDX-License-Identifier: BSD-2-Clause
#include "kernel/cpu_online.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Words of a mask of ncpus bits (at least one). */
static size_t mask_words(int ncpus)
{
	size_t w = ((size_t)ncpus + 63) / 64;

	return w ? w : 1;
}

/* Reads a decimal CPU number at *p; -1 when there is none or it overflows. */
static long cpu_number(const char **p)
{
	long v = 0;

	if (**p < '0' || **p > '9')
		return -1;
	for (; **p >= '0' && **p <= '9'; (*p)++) {
		v = v * 10 + (**p - '0');
		if (v > 1L << 30)
			return -1;
	}
	return v;
}

int cpu_list_parse(const char *text, uint64_t *mask, int ncpus)
{
	const char *p = text;
	int n = 0;

	memset(mask, 0, mask_words(ncpus) * sizeof(*mask));
	while (*p && *p != '\n') {
		long lo = cpu_number(&p), hi = lo;

		if (lo < 0)
			goto bad;
		if (*p == '-') {
			p++;
			hi = cpu_number(&p);
			if (hi < lo)
				goto bad;
		}
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			goto bad;
		for (long cpu = lo; cpu <= hi && cpu < ncpus; cpu++) {
			if (!cpu_in(mask, (int)cpu))
				n++;
			mask[cpu / 64] |= 1ull << (cpu % 64);
		}
	}
	if (p[0] == '\n' && p[1])
		goto bad;
	return n;
bad:
	memset(mask, 0, mask_words(ncpus) * sizeof(*mask));
	return -1;
}

int cpu_online_open(struct cpu_online *o, const char *path, int ncpus)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->ncpus = ncpus;
	o->mask = calloc(mask_words(ncpus), sizeof(*o->mask));
	if (!o->mask)
		return -ENOMEM;
	for (int cpu = 0; cpu < ncpus; cpu++)
		o->mask[cpu / 64] |= 1ull << (cpu % 64);
	o->online = ncpus;
	o->fd = open(path ? path : "/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
	return 0;
}

int cpu_online_read(struct cpu_online *o)
{
	char buf[sizeof(o->last)];
	uint64_t *mask;
	ssize_t len;
	int n;

	if (o->fd < 0)
		return -1;
	len = pread(o->fd, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	if (strcmp(buf, o->last) == 0)
		return o->online;
	mask = calloc(mask_words(o->ncpus), sizeof(*mask));
	if (!mask)
		return -1;
	n = cpu_list_parse(buf, mask, o->ncpus);
	if (n <= 0) { /* not a list, or no CPU we know: keep the last mask */
		free(mask);
		return -1;
	}
	free(o->mask);
	o->mask = mask;
	o->online = n;
	memcpy(o->last, buf, (size_t)len + 1);
	return n;
}

void cpu_online_close(struct cpu_online *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->mask);
	o->mask = NULL;
}
