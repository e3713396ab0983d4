// SPDX-License-Identifier: BSD-2-Clause
#include "host/listen_seed.h"
#include "base/idmap.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_PIDS 4096
#define DEFAULT_MAX_FDS 65536

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads exactly n hex digits at *p into *ret; advances *p. */
static bool hex_n(const char **p, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hexval((*p)[i]);

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*p += n;
	*ret = v;
	return true;
}

/* Length of the run of hex digits at p. */
static size_t hex_len(const char *p)
{
	size_t n = 0;

	while (hexval(p[n]) >= 0)
		n++;
	return n;
}

static const char *skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A decimal field ended by a blank or the end of the line; advances *p. */
static bool dec_field(const char **p, uint64_t max, uint64_t *ret)
{
	const char *s = skip_spaces(*p);
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s && *s != ' ' && *s != '\t' && *s != '\n')
		return false;
	*p = s;
	*ret = v;
	return true;
}

/* "ADDR:PORT" with ADDR 8 or 32 hex digits. family 0 accepts either and sets it. */
static bool addr_field(const char **p, int *family, uint8_t addr[16], uint16_t *port)
{
	const char *s = skip_spaces(*p);
	size_t n = hex_len(s);
	uint64_t v;
	int fam = n == 8 ? AF_INET : n == 32 ? AF_INET6 : 0;

	if (!fam || (*family && *family != fam) || s[n] != ':')
		return false;
	for (size_t w = 0; w < n / 8; w++) {
		uint32_t word;

		if (!hex_n(&s, 8, &v))
			return false;
		word = (uint32_t)v;
		if (addr)
			memcpy(addr + 4 * w, &word, 4);
	}
	s++; /* ':' */
	if (hex_len(s) != 4 || !hex_n(&s, 4, &v))
		return false;
	*family = fam;
	*port = (uint16_t)v;
	*p = s;
	return true;
}

/* "HEX:HEX" of any widths (tx:rx queues, timer:when). */
static bool hexpair_field(const char **p)
{
	const char *s = skip_spaces(*p);
	size_t n = hex_len(s);

	if (!n || s[n] != ':')
		return false;
	s += n + 1;
	n = hex_len(s);
	if (!n)
		return false;
	*p = s + n;
	return true;
}

int procnet_parse_tcp_line(const char *line, struct procnet_sock *ret)
{
	struct procnet_sock sk = { 0 };
	const char *p;
	uint64_t v;
	size_t n;

	if (!line)
		return -EINVAL;
	p = skip_spaces(line);
	if (strncmp(p, "sl ", 3) == 0)
		return -ENOENT;
	/* "  0: " slot number */
	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != ':')
		return -EINVAL;
	if (!addr_field(&p, &sk.family, sk.local_addr, &sk.local_port) ||
	    !addr_field(&p, &sk.family, NULL, &sk.remote_port))
		return -EINVAL;
	p = skip_spaces(p);
	n = hex_len(p);
	if (n != 2 || !hex_n(&p, 2, &v))
		return -EINVAL;
	sk.state = (uint8_t)v;
	if (*p != ' ' && *p != '\t')
		return -EINVAL;
	if (!hexpair_field(&p) || !hexpair_field(&p)) /* tx_queue:rx_queue, tr:tm->when */
		return -EINVAL;
	p = skip_spaces(p);
	if (!hex_len(p)) /* retrnsmt */
		return -EINVAL;
	p += hex_len(p);
	if (!dec_field(&p, UINT32_MAX, &v))
		return -EINVAL;
	sk.uid = (uint32_t)v;
	if (!dec_field(&p, UINT64_MAX, &v)) /* timeout */
		return -EINVAL;
	if (!dec_field(&p, UINT64_MAX, &sk.inode))
		return -EINVAL;
	*ret = sk;
	return 0;
}

int64_t listen_seed_offset(uint32_t seeded, int64_t b_before, int64_t b_after, bool complete,
			   bool *ret_stable)
{
	bool stable = b_before == b_after;
	int64_t b = b_before > b_after ? b_before : b_after;
	int64_t off = (int64_t)seeded - b;

	*ret_stable = stable;
	if (stable && complete)
		return off;
	return off > 0 ? off : 0;
}

uint32_t listen_seed_merged(int64_t b, int64_t off)
{
	int64_t n = b + off;

	if (n <= 0)
		return 0;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* A listening socket of a network namespace. */
struct lsock {
	uint64_t inode;
	uint16_t port;
	uint64_t owner; /* the seeding (struct listen_seeder.seq) that claimed it; 0: none yet */
};

/* The listening sockets of one network namespace, sorted by inode. */
struct netns_tab {
	struct lsock *socks;
	size_t n;
};

struct listen_seeder {
	char *proc_root;
	char *cgroup_root;
	struct listen_seed_limits lim;
	struct idmap *netns; /* namespace inode → struct netns_tab */
	uint64_t seq;
};

struct listen_seeder *listen_seeder_new(const char *proc_root, const char *cgroup_root,
					const struct listen_seed_limits *limits)
{
	struct listen_seeder *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->proc_root = strdup(proc_root ? proc_root : "/proc");
	s->cgroup_root = strdup(cgroup_root ? cgroup_root : "");
	s->netns = idmap_new();
	if (limits)
		s->lim = *limits;
	if (!s->lim.max_pids)
		s->lim.max_pids = DEFAULT_MAX_PIDS;
	if (!s->lim.max_fds)
		s->lim.max_fds = DEFAULT_MAX_FDS;
	if (!s->proc_root || !s->cgroup_root || !s->netns)
		return listen_seeder_free(s);
	return s;
}

struct listen_seeder *listen_seeder_free(struct listen_seeder *s)
{
	size_t pos = 0;
	uint64_t key;
	void *v;

	if (!s)
		return NULL;
	while (s->netns && idmap_next(s->netns, &pos, &key, &v)) {
		struct netns_tab *t = v;

		free(t->socks);
		free(t);
	}
	idmap_free(s->netns);
	free(s->proc_root);
	free(s->cgroup_root);
	free(s);
	return NULL;
}

static int cmp_lsock(const void *a, const void *b)
{
	const struct lsock *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Appends the LISTEN sockets of one tcp table. The kernel lists its listening hash before the
 * established one (tcp_seq_start: listening_get_first, then established_get_first), so the
 * first socket in another state ends the listeners: the rest of a busy table is not read.
 * Returns 0, -ENOMEM, or -errno of the open (-ENOENT for tcp6 without IPv6). */
static int read_tcp_table(const char *path, struct netns_tab *t)
{
	char line[512];
	struct procnet_sock sk;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct lsock *ns;
		int pr = procnet_parse_tcp_line(line, &sk);

		if (pr == -ENOENT)
			continue; /* the header */
		if (pr) {
			log_debug("%s: unexpected line skipped: %.80s", path, line);
			continue;
		}
		if (sk.state != PROCNET_TCP_LISTEN)
			break;
		if (!sk.inode)
			continue;
		ns = realloc(t->socks, (t->n + 1) * sizeof(*ns));
		if (!ns) {
			r = -ENOMEM;
			break;
		}
		t->socks = ns;
		t->socks[t->n++] = (struct lsock){ .inode = sk.inode, .port = sk.local_port };
	}
	fclose(f);
	return r;
}

/* The listening sockets of pid's network namespace, read once per namespace. NULL when they
 * cannot be read (counted); *ret_err -ENOMEM when out of memory. */
static struct netns_tab *netns_of(struct listen_seeder *s, int pid, struct listen_seed_stats *st,
				  int *ret_err)
{
	static const char *const files[] = { "tcp", "tcp6" };
	char path[PATH_MAX];
	struct netns_tab *t;
	struct stat sb;
	int r;

	*ret_err = 0;
	snprintf(path, sizeof(path), "%s/%d/ns/net", s->proc_root, pid);
	if (stat(path, &sb)) {
		log_debug("listener seed: %s: %s", path, strerror(errno));
		st->unreadable++;
		return NULL;
	}
	t = idmap_get(s->netns, (uint64_t)sb.st_ino);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%d/net/%s", s->proc_root, pid, files[i]);
		r = read_tcp_table(path, t);
		if (r == -ENOENT && i == 1)
			r = 0; /* no IPv6 in this kernel */
		if (r)
			break;
	}
	if (r) {
		free(t->socks);
		free(t);
		if (r == -ENOMEM) {
			*ret_err = r;
		} else {
			log_debug("listener seed: %s: %s", path, strerror(-r));
			st->unreadable++;
		}
		return NULL;
	}
	if (t->n)
		qsort(t->socks, t->n, sizeof(*t->socks), cmp_lsock);
	if (idmap_put(s->netns, sb.st_ino ? (uint64_t)sb.st_ino : 1, t)) {
		free(t->socks);
		free(t);
		*ret_err = -ENOMEM;
		return NULL;
	}
	st->netns_reads++;
	return t;
}

/* "socket:[12345]" → 12345; 0 for any other link. */
static uint64_t socket_inode(const char *link)
{
	uint64_t v = 0;
	const char *p;

	if (strncmp(link, "socket:[", 8) != 0)
		return 0;
	for (p = link + 8; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	return *p == ']' && p[1] == '\0' ? v : 0;
}

static int add_port(struct listen_seed_port **ports, size_t *n, uint16_t port)
{
	struct listen_seed_port *p;

	for (size_t i = 0; i < *n; i++) {
		if ((*ports)[i].port == port) {
			(*ports)[i].count++;
			return 0;
		}
	}
	p = realloc(*ports, (*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*ports = p;
	p[(*n)++] = (struct listen_seed_port){ .port = port, .count = 1 };
	return 0;
}

/* Claims for this seeding the listening sockets of t that pid holds. Returns 0 or -ENOMEM;
 * *complete false when its descriptors could not all be read. */
static int scan_fds(struct listen_seeder *s, int pid, struct netns_tab *t, unsigned *fds,
		    struct listen_seed_port **ports, size_t *n, bool *complete,
		    struct listen_seed_stats *st)
{
	char path[PATH_MAX], link[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%d/fd", s->proc_root, pid);
	d = opendir(path);
	if (!d) {
		log_debug("listener seed: %s: %s", path, strerror(errno));
		st->unreadable++;
		*complete = false;
		return 0;
	}
	while ((de = readdir(d))) {
		struct lsock key, *ls;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		if (*fds >= s->lim.max_fds) {
			log_debug(
				"listener seed: %s: more than %u descriptors in the cgroup, the rest "
				"not examined",
				path, s->lim.max_fds);
			st->fds_skipped++;
			*complete = false;
			break;
		}
		(*fds)++;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue; /* closed meanwhile */
		link[len] = '\0';
		key.inode = socket_inode(link);
		if (!key.inode)
			continue;
		ls = bsearch(&key, t->socks, t->n, sizeof(*t->socks), cmp_lsock);
		if (!ls || ls->owner)
			continue; /* not listening, or counted already (shared by fork) */
		ls->owner = s->seq;
		if (add_port(ports, n, ls->port)) {
			closedir(d);
			return -ENOMEM;
		}
		st->listeners++;
	}
	closedir(d);
	return 0;
}

int listen_seeder_cgroup(struct listen_seeder *s, const char *path, struct listen_seed_port **ret,
			 size_t *ret_n, bool *ret_complete, struct listen_seed_stats *st)
{
	struct listen_seed_port *ports = NULL;
	char p[PATH_MAX];
	unsigned fds = 0, n_pids = 0, skipped = 0;
	bool complete = true;
	size_t n = 0;
	int pid, r = 0;
	FILE *f;

	*ret = NULL;
	*ret_n = 0;
	s->seq++;
	st->cgroups++;
	snprintf(p, sizeof(p), "%s%s/cgroup.procs", s->cgroup_root, strcmp(path, "/") ? path : "");
	f = fopen(p, "re");
	if (!f) {
		log_debug("listener seed: %s: %s", p, strerror(errno));
		st->unreadable++;
		*ret_complete = false;
		return 0;
	}
	while (fscanf(f, "%d", &pid) == 1) {
		struct netns_tab *t;

		if (n_pids >= s->lim.max_pids) {
			skipped++;
			complete = false;
			continue;
		}
		n_pids++;
		t = netns_of(s, pid, st, &r);
		if (r)
			break;
		if (!t) {
			complete = false;
			continue;
		}
		if (!t->n)
			continue; /* nothing listens in its namespace: no descriptor to look at */
		r = scan_fds(s, pid, t, &fds, &ports, &n, &complete, st);
		if (r)
			break;
	}
	fclose(f);
	if (r) {
		free(ports);
		return r;
	}
	if (skipped) {
		st->pids_skipped += skipped;
		log_debug("listener seed: %s: %u processes beyond the first %u not examined", p,
			  skipped, s->lim.max_pids);
	}
	*ret = ports;
	*ret_n = n;
	*ret_complete = complete;
	return 0;
}
