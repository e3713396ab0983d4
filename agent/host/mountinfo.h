/* SPDX-License-Identifier: BSD-2-Clause */
/* Parser for /proc/<pid>/mountinfo lines (proc(5)). Pure; used for the cgroup v2 mount now and
 * for volume classes later. */
#ifndef BPFDIAG_MOUNTINFO_H
#define BPFDIAG_MOUNTINFO_H

#include <stdio.h>

struct mountinfo_entry {
	int mount_id;
	int parent_id;
	unsigned major, minor;
	char *root; /* pointers into the caller's line buffer, octal escapes decoded */
	char *mount_point;
	char *mount_options;
	char *fstype;
	char *source;
	char *super_options;
};

/* Parses one line in place (the buffer is modified; fields point into it). Returns 0, or
 * -EINVAL when the line is not a mountinfo line, leaving *ret untouched. */
int mountinfo_parse_line(char *line, struct mountinfo_entry *ret);

/* Finds the cgroup v2 mount in a mountinfo stream: /sys/fs/cgroup when it is cgroup2, else the
 * first cgroup2 mount (hybrid hosts: /sys/fs/cgroup/unified). Returns 0 and copies it to ret,
 * -ENOENT when there is none, -ENAMETOOLONG when it does not fit. */
int mountinfo_find_cgroup2(FILE *f, char *ret, size_t size);

/* Finds the cgroup v1 mount carrying controller (e.g. "cpu") in a mountinfo stream. Returns 0,
 * -ENOENT, or -ENAMETOOLONG. */
int mountinfo_find_cgroup1(FILE *f, const char *controller, char *ret, size_t size);

#endif
