// SPDX-License-Identifier: BSD-2-Clause
#include "host/mountinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Decodes the \ooo escapes the kernel uses for space, tab, newline and backslash. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static char *next_field(char **cursor)
{
	char *s = *cursor, *end;

	while (*s == ' ')
		s++;
	if (!*s || *s == '\n')
		return NULL;
	end = s;
	while (*end && *end != ' ' && *end != '\n')
		end++;
	if (*end)
		*end++ = '\0';
	*cursor = end;
	return s;
}

static int parse_int(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 0x7fffffff)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int mountinfo_parse_line(char *line, struct mountinfo_entry *ret)
{
	struct mountinfo_entry e = { 0 };
	char *cur = line, *f[6], *dev, *colon, *tag;
	int major, minor;

	/* 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue */
	for (int i = 0; i < 6; i++) {
		f[i] = next_field(&cur);
		if (!f[i])
			return -EINVAL;
	}
	if (parse_int(f[0], &e.mount_id) || parse_int(f[1], &e.parent_id))
		return -EINVAL;
	dev = f[2];
	colon = strchr(dev, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (parse_int(dev, &major) || parse_int(colon + 1, &minor))
		return -EINVAL;
	e.major = (unsigned)major;
	e.minor = (unsigned)minor;
	e.root = f[3];
	e.mount_point = f[4];
	e.mount_options = f[5];
	/* Optional fields until the lone "-". */
	for (;;) {
		tag = next_field(&cur);
		if (!tag)
			return -EINVAL;
		if (strcmp(tag, "-") == 0)
			break;
	}
	e.fstype = next_field(&cur);
	e.source = next_field(&cur);
	e.super_options = next_field(&cur);
	if (!e.fstype || !e.source || !e.super_options)
		return -EINVAL;
	unescape(e.root);
	unescape(e.mount_point);
	unescape(e.source);
	*ret = e;
	return 0;
}

int mountinfo_find_cgroup2(FILE *f, char *ret, size_t size)
{
	char *line = NULL, found[4096] = "";
	size_t cap = 0;
	int r = -ENOENT;

	while (getline(&line, &cap, f) > 0) {
		struct mountinfo_entry e;

		if (mountinfo_parse_line(line, &e) || strcmp(e.fstype, "cgroup2") != 0)
			continue;
		if (strcmp(e.mount_point, "/sys/fs/cgroup") == 0 || !found[0]) {
			if (strlen(e.mount_point) >= sizeof(found))
				continue;
			strcpy(found, e.mount_point);
		}
	}
	free(line);
	if (found[0]) {
		if (strlen(found) >= size)
			return -ENAMETOOLONG;
		strcpy(ret, found);
		r = 0;
	}
	return r;
}

static bool has_option(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = opts; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

int mountinfo_find_cgroup1(FILE *f, const char *controller, char *ret, size_t size)
{
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	while (r == -ENOENT && getline(&line, &cap, f) > 0) {
		struct mountinfo_entry e;

		if (mountinfo_parse_line(line, &e) || strcmp(e.fstype, "cgroup") != 0 ||
		    !has_option(e.super_options, controller))
			continue;
		if (strlen(e.mount_point) >= size) {
			r = -ENAMETOOLONG;
			break;
		}
		strcpy(ret, e.mount_point);
		r = 0;
	}
	free(line);
	return r;
}
