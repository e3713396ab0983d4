// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* net family: bytes sent and received per cgroup (tp_btf sock_send_length/sock_recv_length on
 * Linux >= 6.3, else cgroup_skb egress/ingress on the v2 root, chosen at run time), TCP
 * connections by role, listening sockets and ports, retransmits and peers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bpfdiag.bpf.h"
#include "net.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, NET_MAX_CGROUPS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct net_stats);
} net_stats SEC(".maps");

/* Connection events are rare next to bytes: shared maps with atomic adds are fine here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct net_peer_key);
	__type(value, __u64);
} net_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_MAX_LISTEN);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct net_listen_key);
	__type(value, __s64);
} net_listen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NET_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} net_counters SEC(".maps");

static __always_inline struct net_stats *stats_of(__u64 cgid)
{
	static const struct net_stats zero;
	struct net_stats *s = lookup_or_init(&net_stats, &cgid, &zero);

	if (!s)
		counter_add(&net_counters, NET_CNT_MAP_FULL, 1);
	return s;
}

static __always_inline bool is_inet(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return family == AF_INET || family == AF_INET6;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(net_sock_send, struct sock *sk, int ret, int flags)
{
	struct net_stats *s;

	if (ret <= 0 || !is_inet(sk))
		return 0;
	s = stats_of(bpf_get_current_cgroup_id());
	if (s)
		s->tx_bytes += ret;
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(net_sock_recv, struct sock *sk, int ret, int flags)
{
	struct net_stats *s;

	/* MSG_PEEK reads leave the data queued: counting them would count it twice. */
	if (ret <= 0 || (flags & 2) || !is_inet(sk))
		return 0;
	s = stats_of(bpf_get_current_cgroup_id());
	if (s)
		s->rx_bytes += ret;
	return 0;
}

/* Transport payload of an skb at the IP layer: its length less the IP and TCP/UDP headers,
 * so the fallback counts what applications sent, as the tracepoints do. */
static __always_inline __u64 skb_payload(struct __sk_buff *skb)
{
	__u32 len = skb->len, l3, l4;
	__u8 b[2], proto;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, b, 1))
			return 0;
		l3 = (b[0] & 0xf) * 4;
		if (bpf_skb_load_bytes(skb, 9, &proto, 1))
			return 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		l3 = 40; /* extension headers are rare on pod traffic; counted as payload */
		if (bpf_skb_load_bytes(skb, 6, &proto, 1))
			return 0;
	} else {
		return 0;
	}
	if (proto == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l3 + 12, b, 1))
			return 0;
		l4 = (b[0] >> 4) * 4;
	} else if (proto == IPPROTO_UDP) {
		l4 = 8;
	} else {
		return 0;
	}
	return len > l3 + l4 ? len - l3 - l4 : 0;
}

SEC("cgroup_skb/egress")
int net_skb_egress(struct __sk_buff *skb)
{
	__u64 n = skb_payload(skb);
	struct net_stats *s;

	if (n) {
		s = stats_of(bpf_skb_cgroup_id(skb));
		if (s)
			s->tx_bytes += n;
	}
	return 1; /* observe only: always let the packet through */
}

SEC("cgroup_skb/ingress")
int net_skb_ingress(struct __sk_buff *skb)
{
	__u64 n = skb_payload(skb);
	struct net_stats *s;

	if (n) {
		s = stats_of(bpf_skb_cgroup_id(skb));
		if (s)
			s->rx_bytes += n;
	}
	return 1;
}

static __always_inline void add_peer(const struct sock *sk, __u64 cgid, __u8 role)
{
	struct net_peer_key k = { .cgroup_id = cgid, .role = role };
	static const __u64 zero;
	__u64 *n;

	if (sk->__sk_common.skc_family == AF_INET) {
		__u32 a = sk->__sk_common.skc_daddr;

		k.addr[10] = 0xff;
		k.addr[11] = 0xff;
		__builtin_memcpy(&k.addr[12], &a, 4);
	} else {
		BPF_CORE_READ_INTO(&k.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	k.port = role == NET_ROLE_CLIENT ? bpf_ntohs(sk->__sk_common.skc_dport) :
					   sk->__sk_common.skc_num;
	n = lookup_or_init(&net_peers, &k, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		counter_add(&net_counters, NET_CNT_PEERS_FULL, 1);
}

/* The port of a listener leaving LISTEN. tcp_set_state(TCP_CLOSE) releases the bound port
 * before the state changes (and the tracepoint fires): a port the kernel chose (bind to port 0)
 * is gone from inet_num by then, and only inet_sport, set when listening started, still has it.
 * A listener whose open was counted on port 0 (listen() without bind: the kernel picks the
 * port after the LISTEN transition) is taken back from port 0 when its port has no count. */
static __always_inline void listen_close_key(const struct sock *sk, struct net_listen_key *k)
{
	struct net_listen_key k0 = { .cgroup_id = k->cgroup_id };
	__s64 *n;

	if (!k->port)
		k->port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	n = bpf_map_lookup_elem(&net_listen, k);
	if (n && *n > 0)
		return;
	n = bpf_map_lookup_elem(&net_listen, &k0);
	if (n && *n > 0)
		k->port = 0;
}

static __always_inline void listen_change(const struct sock *sk, __u64 cgid, __s64 d)
{
	struct net_listen_key k = { .cgroup_id = cgid, .port = sk->__sk_common.skc_num };
	static const __s64 zero;
	__s64 *n;

	if (d < 0)
		listen_close_key(sk, &k);
	n = lookup_or_init(&net_listen, &k, &zero);

	if (n)
		__sync_fetch_and_add(n, d);
	else
		counter_add(&net_counters, NET_CNT_LISTEN_FULL, 1);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(net_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct net_stats *s;
	__u64 cgid;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* Runs in softirq too: the socket's cgroup, not the current task's. */
	cgid = sock_cgroup_id(sk);
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		__u8 role = oldstate == TCP_SYN_SENT ? NET_ROLE_CLIENT : NET_ROLE_SERVER;

		s = stats_of(cgid);
		if (s) {
			if (role == NET_ROLE_CLIENT)
				s->conn_client++;
			else
				s->conn_server++;
		}
		add_peer(sk, cgid, role);
	} else if (newstate == TCP_LISTEN) {
		s = stats_of(cgid);
		if (s)
			s->listen_open++;
		listen_change(sk, cgid, 1);
	} else if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
		/* Only LISTEN → CLOSE: a child socket is cloned from its listener and so starts
		 * with LISTEN → SYN_RECV. */
		s = stats_of(cgid);
		if (s)
			s->listen_close++;
		listen_change(sk, cgid, -1);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(net_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	struct net_stats *s = stats_of(sock_cgroup_id(sk));

	if (s)
		s->retransmits++;
	return 0;
}
