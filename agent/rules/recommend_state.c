// SPDX-License-Identifier: BSD-2-Clause
/* The recommender's state file: a header (magic, version, record layout, count, checksum) and
 * the histories as fixed records. Written atomically; read back only when every check passes,
 * so a corrupt, foreign or other-version file is ignored as a whole. */
#include "rules/recommend.h"
#include "base/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_MAGIC "BPFDREC\n"
#define REC_VERSION 1

struct rec_file_header {
	char magic[8];
	uint32_t version;
	uint32_t entry_size; /* sizeof(struct rec_entry) */
	uint32_t cpu_buckets, mem_slots;
	uint32_t n;
	uint32_t key_max;
	double mem_slot_seconds; /* periods of another length would be misread */
	uint64_t checksum; /* FNV-1a of the records */
};

_Static_assert(sizeof(struct rec_file_header) == 48, "state file header layout");
_Static_assert(sizeof(struct rec_entry) % 8 == 0, "state file records are packed");

static uint64_t checksum(const void *data, size_t len)
{
	const unsigned char *b = data;
	uint64_t h = HASH_FNV_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * HASH_FNV_PRIME;
	return h;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int rec_save(const struct recommender *r, const char *path)
{
	size_t n = rec_count(r), len = n * sizeof(struct rec_entry);
	struct rec_file_header h = {
		.magic = REC_MAGIC,
		.version = REC_VERSION,
		.entry_size = sizeof(struct rec_entry),
		.cpu_buckets = REC_CPU_BUCKETS,
		.mem_slots = REC_MEM_SLOTS,
		.n = (uint32_t)n,
		.key_max = REC_KEY_MAX,
		.mem_slot_seconds = rec__params(r)->mem_slot_seconds,
	};
	struct rec_entry *all = malloc(len ? len : 1);
	char tmp[4096];
	int fd = -1, err;

	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		all[i] = *rec__entry(r, i);
	h.checksum = checksum(all, len);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = write_all(fd, &h, sizeof(h));
	if (!err)
		err = write_all(fd, all, len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	free(all);
	return err;
}

static int reject(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

/* A record as saved by us: a terminated key, finite non-negative numbers. */
static bool entry_valid(const struct rec_entry *e)
{
	const double v[] = { e->ref_time,     e->first_seen, e->last_seen, e->observed,
			     e->total_weight, e->throttled,  e->periods,   e->oom_limit };

	if (!memchr(e->key, '\0', sizeof(e->key)) || !e->key[0])
		return false;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (!isfinite(v[i]) || v[i] < 0)
			return false;
	}
	for (int i = 0; i < REC_MEM_SLOTS; i++) {
		if (!isfinite(e->mem_peak[i]) || e->mem_peak[i] < 0)
			return false;
	}
	for (int i = 0; i < REC_CPU_BUCKETS; i++) {
		if (!isfinite(e->cpu[i]) || e->cpu[i] < 0)
			return false;
	}
	return true;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t got = read(fd, p, len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -ENODATA;
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

int rec_load(struct recommender *r, const char *path, char *err, size_t errlen)
{
	const struct rec_params *p = rec__params(r);
	struct rec_file_header h;
	struct rec_entry *all = NULL;
	size_t bound = sizeof(h) + p->max_entries * sizeof(struct rec_entry), len;
	struct stat st;
	int fd, ret;

	err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = reject(err, errlen, "not a regular file");
		goto out;
	}
	if ((size_t)st.st_size > bound) {
		snprintf(err, errlen, "%lld bytes, over the bound of %zu", (long long)st.st_size,
			 bound);
		ret = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size < sizeof(h) || read_all(fd, &h, sizeof(h))) {
		ret = reject(err, errlen, "shorter than its header");
		goto out;
	}
	if (memcmp(h.magic, REC_MAGIC, sizeof(h.magic)) != 0) {
		ret = reject(err, errlen, "not a bpfdiag state file (bad magic)");
		goto out;
	}
	if (h.version != REC_VERSION) {
		snprintf(err, errlen, "version %u, this agent reads version %u", h.version,
			 REC_VERSION);
		ret = -EINVAL;
		goto out;
	}
	if (h.entry_size != sizeof(struct rec_entry) || h.cpu_buckets != REC_CPU_BUCKETS ||
	    h.mem_slots != REC_MEM_SLOTS || h.key_max != REC_KEY_MAX ||
	    h.mem_slot_seconds != p->mem_slot_seconds) {
		ret = reject(err, errlen, "another record layout");
		goto out;
	}
	len = (size_t)h.n * sizeof(struct rec_entry);
	if (h.n > p->max_entries || (size_t)st.st_size != sizeof(h) + len) {
		ret = reject(err, errlen, "its size does not match its record count");
		goto out;
	}
	all = malloc(len ? len : 1);
	if (!all) {
		ret = -ENOMEM;
		goto out;
	}
	if (read_all(fd, all, len)) {
		ret = reject(err, errlen, "truncated");
		goto out;
	}
	if (checksum(all, len) != h.checksum) {
		ret = reject(err, errlen, "checksum mismatch (corrupt)");
		goto out;
	}
	for (size_t i = 0; i < h.n; i++) {
		if (!entry_valid(&all[i])) {
			ret = reject(err, errlen, "a record with invalid values");
			goto out;
		}
	}
	ret = rec__replace(r, all, h.n);
	if (ret == -EINVAL)
		reject(err, errlen, "a history recorded twice");
	if (!ret)
		ret = (int)h.n;
out:
	free(all);
	close(fd);
	return ret;
}
