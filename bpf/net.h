/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Kernel/user structs of the net probe family. */
#ifndef BPFDIAG_NET_H
#define BPFDIAG_NET_H

#define NET_MAX_CGROUPS_DEFAULT 8192
#define NET_MAX_PEERS 16384
#define NET_MAX_LISTEN 4096

/* Per-CPU value of net_stats, keyed by cgroup v2 id. */
struct net_stats {
	__u64 tx_bytes; /* payload bytes sent on inet sockets */
	__u64 rx_bytes; /* payload bytes received */
	__u64 retransmits; /* TCP segments retransmitted */
	__u64 conn_client; /* TCP connections established as client (SYN_SENT → ESTABLISHED) */
	__u64 conn_server; /* as server (SYN_RECV → ESTABLISHED) */
	__u64 listen_open; /* sockets entering LISTEN */
	__u64 listen_close; /* sockets leaving LISTEN */
};

enum net_role { NET_ROLE_CLIENT = 0, NET_ROLE_SERVER = 1 };

/* A TCP peer of a cgroup: for clients the remote address and port, for servers the remote
 * address and the local (listening) port. */
struct net_peer_key {
	__u64 cgroup_id;
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u16 port; /* host order */
	__u8 role; /* enum net_role */
	__u8 pad[5];
};

struct net_listen_key {
	__u64 cgroup_id;
	__u16 port; /* host order */
	__u16 pad[3];
};

enum net_counter {
	NET_CNT_MAP_FULL = 0, /* net_stats had no room */
	NET_CNT_PEERS_FULL, /* net_peers had no room: a peer was not recorded */
	NET_CNT_LISTEN_FULL, /* net_listen had no room */
	NET_CNT_MAX,
};

#endif
