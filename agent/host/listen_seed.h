/* SPDX-License-Identifier: BSD-2-Clause */
/* Listening TCP sockets that already existed when the agent started (or before a cgroup was
 * first seen), read from procfs: the inet_sock_set_state probe only sees LISTEN transitions that
 * happen after it is attached. For one cgroup: its processes (cgroup.procs of its v2 directory),
 * the LISTEN sockets of their network namespaces (<proc>/<pid>/net/tcp and tcp6, read once per
 * namespace), and of those the ones a process of the cgroup holds (<proc>/<pid>/fd/ * links to
 * socket:[inode]): containers of a pod share a network namespace, so the owner is found by
 * descriptor, not by namespace. The merge with the BPF counts is listen_seed_offset() below. */
#ifndef BPFDIAG_LISTEN_SEED_H
#define BPFDIAG_LISTEN_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCNET_TCP_LISTEN 0x0A /* TCP_LISTEN as /proc/net/tcp prints it ("0A") */

/* One socket line of /proc/net/tcp or /proc/net/tcp6. */
struct procnet_sock {
	int family; /* AF_INET (8 hex digits of address) or AF_INET6 (32) */
	uint8_t local_addr[16]; /* network order (the kernel prints 32-bit words of memory in host
				   order: parsed on the host that wrote them) */
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t state; /* TCP state number: 0x0A is LISTEN */
	uint32_t uid;
	uint64_t inode; /* 0 for sockets without one (TIME_WAIT) */
};

/* Parses one line of /proc/net/tcp{,6} (trailing newline allowed). Pure. Returns 0 and fills
 * *ret for a socket line, -ENOENT for the header line ("  sl  local_address ..."), -EINVAL for
 * anything malformed (then *ret is untouched). */
int procnet_parse_tcp_line(const char *line, struct procnet_sock *ret);

/* The merge rule, per (cgroup, port). b is the BPF count of net_listen: LISTEN transitions
 * minus LISTEN → CLOSE since the map was created (it survives agent restarts when pinned, and is
 * negative once a listener that predates the map closes). S is the number of sockets seeding
 * found listening, read between two BPF reads b_before and b_after. Sockets listening at time t:
 *
 *     listening(t) = max(0, b(t) + off),   off = S − b_seed
 *
 * because every later open or close moves b and the truth alike: a listener BPF already counts
 * (opened after attach, or kept in a pinned map across a restart) is in S and in b_seed and so
 * cancels, a seeded listener that closes takes b one below b_seed, and an entry that a pinned
 * map kept for a listener closed while no agent ran is taken back by a negative off.
 *
 * With b_before == b_after no transition raced the reading of /proc (*ret_stable true), and
 * off is exact. Otherwise the caller should seed again later; when it gives up, or when the
 * seed is incomplete (a process unreadable, a limit hit: S may be too low), off is
 * max(0, S − max(b_before, b_after)): a doubtful seed may add listeners BPF missed, never hide
 * ones it counts, and never count one twice. Pure. */
int64_t listen_seed_offset(uint32_t seeded, int64_t b_before, int64_t b_after, bool complete,
			   bool *ret_stable);
/* max(0, b + off), the listening sockets of one (cgroup, port). Pure. */
uint32_t listen_seed_merged(int64_t b, int64_t off);

struct listen_seed_limits {
	unsigned max_pids; /* processes of one cgroup looked at (0: default 4096) */
	unsigned max_fds; /* descriptors examined per cgroup, over all its processes (0: 65536) */
};

/* What seeding did, summed over calls. */
struct listen_seed_stats {
	uint64_t cgroups; /* cgroups seeded */
	uint64_t listeners; /* listening sockets found held by the cgroups' processes */
	uint64_t netns_reads; /* network namespaces whose tcp tables were read */
	uint64_t unreadable; /* procfs or cgroupfs entries that could not be read (process gone,
				 EACCES): the seed of that cgroup is incomplete */
	uint64_t pids_skipped; /* processes beyond max_pids */
	uint64_t fds_skipped; /* processes whose descriptors were cut short by max_fds */
};

struct listen_seed_port {
	uint16_t port;
	uint32_t count; /* distinct listening sockets on it */
};

struct listen_seeder;

/* A seeder for one batch of cgroups: network namespaces are read once per batch (their tables
 * are cached) and a socket held by processes of several cgroups is given to the first one.
 * proc_root and cgroup_root are copied. Returns NULL when out of memory. */
struct listen_seeder *listen_seeder_new(const char *proc_root, const char *cgroup_root,
					const struct listen_seed_limits *limits);
/* Accepts NULL; returns NULL. */
struct listen_seeder *listen_seeder_free(struct listen_seeder *s);

/* Seeds the cgroup at path (relative to cgroup_root, "/..."): *ret (malloc'd, NULL when empty)
 * gets its listening ports with counts, *ret_complete whether every process and descriptor was
 * read. Failures to read are counted in st and logged at debug, never fatal. Returns 0, or
 * -ENOMEM. */
int listen_seeder_cgroup(struct listen_seeder *s, const char *path, struct listen_seed_port **ret,
			 size_t *ret_n, bool *ret_complete, struct listen_seed_stats *st);

#endif
