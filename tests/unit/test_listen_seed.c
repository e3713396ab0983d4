// SPDX-License-Identifier: BSD-2-Clause
/* Listener seeding: the /proc/net/tcp{,6} line parser (real lines, IPv6, hostile ones), the
 * merge rule of seed and BPF counts, and the seeder on a fake proc root and cgroup tree built in
 * a temporary directory (shared network namespaces read once, owners found by descriptor,
 * sockets shared by fork counted once, processes gone, the pid and descriptor bounds). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/listen_seed.h"

#define TCP_HEADER                                                                            \
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  " \
	"timeout inode                                                     \n"
#define TCP6_HEADER                                                                             \
	"  sl  local_address                         remote_address                        st " \
	"tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

static const char v4_listen[] = "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 "
				"00:00000000 00000000     0        0 1148 1 00000000811d3a22 100 0 "
				"0 10 0                      \n";
static const char v4_timewait[] = "   1: 0100007F:A6F3 0100007F:A64A 06 00000000:00000000 "
				  "03:00000F63 00000000     0        0 0 3 00000000a4d13efb     \n";
static const char v6_listen[] =
	"   2: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000   999        0 424242 1 0000000000000000 100 0 0 "
	"10 0\n";
static const char v6_established[] =
	"  13: 0000000000000000FFFF00000100007F:1538 0000000000000000FFFF00000100007F:D2F0 01 "
	"00000000:00000000 00:00000000 00000000    70        0 77 1 0000000000000000 20 4 30 10 "
	"-1\n";

static void test_parse_listen_v4(void **state)
{
	struct procnet_sock sk;
	uint32_t any = 0;

	(void)state;
	assert_int_equal(procnet_parse_tcp_line(v4_listen, &sk), 0);
	assert_int_equal(sk.family, AF_INET);
	assert_int_equal(sk.state, PROCNET_TCP_LISTEN);
	assert_int_equal(sk.local_port, 2024);
	assert_int_equal(sk.remote_port, 0);
	assert_int_equal(sk.uid, 0);
	assert_int_equal(sk.inode, 1148);
	assert_memory_equal(sk.local_addr, &any, 4);

	assert_int_equal(procnet_parse_tcp_line(v4_timewait, &sk), 0);
	assert_int_equal(sk.state, 6);
	assert_int_equal(sk.local_port, 0xA6F3);
	assert_int_equal(sk.remote_port, 0xA64A);
	assert_int_equal(sk.inode, 0);
}

static void test_parse_listen_v6(void **state)
{
	struct procnet_sock sk;
	char text[INET6_ADDRSTRLEN];

	(void)state;
	assert_int_equal(procnet_parse_tcp_line(v6_listen, &sk), 0);
	assert_int_equal(sk.family, AF_INET6);
	assert_int_equal(sk.state, PROCNET_TCP_LISTEN);
	assert_int_equal(sk.local_port, 8080);
	assert_int_equal(sk.uid, 999);
	assert_int_equal(sk.inode, 424242);
	/* Words of memory printed in host order: read back on the same host, network order. */
	if (htonl(1) != 1) {
		assert_non_null(inet_ntop(AF_INET6, sk.local_addr, text, sizeof(text)));
		assert_string_equal(text, "::1");
	}

	assert_int_equal(procnet_parse_tcp_line(v6_established, &sk), 0);
	assert_int_equal(sk.state, 1);
	assert_int_equal(sk.local_port, 5432);
	assert_int_equal(sk.inode, 77);
	if (htonl(1) != 1) {
		assert_non_null(inet_ntop(AF_INET6, sk.local_addr, text, sizeof(text)));
		assert_string_equal(text, "::ffff:127.0.0.1");
	}
}

static void test_parse_header_and_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"   0:",
		"   0 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   x: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		/* address of 7 and of 9 digits */
		"   0: 0000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   0: 000000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		/* local IPv4, remote IPv6 */
		"   0: 00000000:07E8 00000000000000000000000000000000:0000 0A 00000000:00000000 "
		"00:00000000 00000000 0 0 1",
		/* port of 3 and of 5 digits, not hex */
		"   0: 00000000:7E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   0: 00000000:107E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   0: 0000000G:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
		/* state of 1 and 3 digits */
		"   0: 00000000:07E8 00000000:0000 A 00000000:00000000 00:00000000 00000000 0 0 1",
		"   0: 00000000:07E8 00000000:0000 0AA 00000000:00000000 00:00000000 00000000 0 0 1",
		/* truncated before the inode, inode not a number, uid negative or too large */
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0",
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x1",
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1",
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
		"4294967296 0 1",
		"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"99999999999999999999",
		"   0: 00000000:07E8 00000000:0000 0A 0000000000000000 00:00000000 00000000 0 0 1",
	};
	struct procnet_sock sk, untouched;

	(void)state;
	assert_int_equal(procnet_parse_tcp_line(TCP_HEADER, &sk), -ENOENT);
	assert_int_equal(procnet_parse_tcp_line(TCP6_HEADER, &sk), -ENOENT);
	assert_int_equal(procnet_parse_tcp_line(NULL, &sk), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&sk, 0x5a, sizeof(sk));
		untouched = sk;
		if (procnet_parse_tcp_line(bad[i], &sk) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_memory_equal(&sk, &untouched, sizeof(sk));
	}
	/* No trailing fields after the inode, tabs: still a line. */
	assert_int_equal(procnet_parse_tcp_line("0: 0100007F:0016 00000000:0000 0A 0:0 0:0 0\t0 0 "
						"9",
						&sk),
			 0);
	assert_int_equal(sk.local_port, 22);
	assert_int_equal(sk.inode, 9);
}

/* listening = max(0, b + S − b_seed), cases by name. */
static void test_merge_rule(void **state)
{
	bool stable;
	int64_t off;

	(void)state;
	/* Listening before the agent, nothing in the map: counted from the seed. */
	off = listen_seed_offset(1, 0, 0, true, &stable);
	assert_true(stable);
	assert_int_equal(off, 1);
	assert_int_equal(listen_seed_merged(0, off), 1);
	/* ... then a second one on the same port (SO_REUSEPORT) after the seed: 2, not 3. */
	assert_int_equal(listen_seed_merged(1, off), 2);
	/* ... then the seeded one closes (BPF: -1 for a socket it never saw open). */
	assert_int_equal(listen_seed_merged(-1, off), 0);
	assert_int_equal(listen_seed_merged(0, off), 1);

	/* Opened after attach, before the seed (or kept in a pinned map across a restart): in the
	 * seed and in the map, counted once. */
	off = listen_seed_offset(1, 1, 1, true, &stable);
	assert_int_equal(off, 0);
	assert_int_equal(listen_seed_merged(1, off), 1);
	assert_int_equal(listen_seed_merged(0, off), 0); /* closed */

	/* A pinned entry of a listener closed while no agent ran: taken back. */
	off = listen_seed_offset(0, 1, 1, true, &stable);
	assert_int_equal(off, -1);
	assert_int_equal(listen_seed_merged(1, off), 0);
	assert_int_equal(listen_seed_merged(2, off), 1); /* a new one later */

	/* A transition raced the reading: unstable; taken conservatively when given up. */
	off = listen_seed_offset(2, 0, 1, true, &stable);
	assert_false(stable);
	assert_int_equal(off, 1); /* 1 before + 1 opened meanwhile, both seen */
	assert_int_equal(listen_seed_merged(1, off), 2);
	off = listen_seed_offset(1, 0, 1, true, &stable);
	assert_int_equal(off, 0); /* the new one missed by /proc: never counted twice */
	off = listen_seed_offset(1, 1, 0, true, &stable);
	assert_false(stable);
	assert_int_equal(off, 0); /* closed meanwhile but still seen */
	assert_int_equal(listen_seed_merged(0, off), 0);

	/* An incomplete seed never hides what BPF counts. */
	off = listen_seed_offset(0, 2, 2, false, &stable);
	assert_true(stable);
	assert_int_equal(off, 0);
	assert_int_equal(listen_seed_merged(2, off), 2);
	off = listen_seed_offset(3, 1, 1, false, &stable);
	assert_int_equal(off, 2);

	assert_int_equal(listen_seed_merged(INT64_MAX / 2, INT64_MAX / 2), UINT32_MAX);
}

/* A fake proc root and cgroup v2 tree. */
struct fake {
	char dir[256];
	char proc[512];
	char cg[512];
};

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void mkdirs(const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
}

/* A process: its network namespace (the file <proc>/ns-<netns>, linked so that processes of
 * one namespace share its inode), tables and descriptors (links, e.g. "socket:[1001]"). */
static void fake_pid(struct fake *f, int pid, const char *netns, const char *tcp, const char *tcp6,
		     const char *const *fds)
{
	char path[PATH_MAX], target[1024];

	mkdirs("%s/%d/ns", f->proc, pid);
	mkdirs("%s/%d/net", f->proc, pid);
	mkdirs("%s/%d/fd", f->proc, pid);
	snprintf(target, sizeof(target), "%s/ns-%s", f->proc, netns);
	if (access(target, F_OK))
		put_file(target, "");
	snprintf(path, sizeof(path), "%s/%d/ns/net", f->proc, pid);
	assert_int_equal(link(target, path), 0);
	snprintf(path, sizeof(path), "%s/%d/net/tcp", f->proc, pid);
	put_file(path, tcp);
	if (tcp6) {
		snprintf(path, sizeof(path), "%s/%d/net/tcp6", f->proc, pid);
		put_file(path, tcp6);
	}
	for (int i = 0; fds && fds[i]; i++) {
		snprintf(path, sizeof(path), "%s/%d/fd/%d", f->proc, pid, i);
		assert_int_equal(symlink(fds[i], path), 0);
	}
}

static void fake_cgroup(struct fake *f, const char *rel, const char *procs)
{
	char path[PATH_MAX];

	mkdirs("%s%s", f->cg, rel);
	snprintf(path, sizeof(path), "%s%s/cgroup.procs", f->cg, rel);
	put_file(path, procs);
}

/* Netns "pod": IPv4 listeners 1001 (:5432) and 1004 (:9187), IPv6 listener 1002 (:6379), an
 * established socket 1003, then a LISTEN line after it that the kernel never writes there
 * (the reader stops at the first socket that is not listening). */
#define POD_TCP                                                                              \
	TCP_HEADER                                                                           \
	"   0: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999 " \
	"0 1001 1 0000000000000000 100 0 0 10 0\n"                                           \
	"   1: 00000000:23E3 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999 " \
	"0 1004 1 0000000000000000 100 0 0 10 0\n"                                           \
	"   2: 0100007F:1538 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   999 " \
	"0 1003 1 0000000000000000 20 4 30 10 -1\n"                                          \
	"   3: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999 " \
	"0 1005 1 0000000000000000 100 0 0 10 0\n"
#define POD_TCP6                                                                                 \
	TCP6_HEADER                                                                              \
	"   0: 00000000000000000000000000000000:18EB 00000000000000000000000000000000:0000 0A "  \
	"00000000:00000000 00:00000000 00000000   999        0 1002 1 0000000000000000 100 0 0 " \
	"10 0\n"

static int setup(void **state)
{
	static const char *const db[] = { "socket:[1001]", "/dev/null",	    "socket:[1003]",
					  "pipe:[55]",	   "socket:[1005]", NULL };
	static const char *const db_child[] = { "socket:[1001]", "anon_inode:[eventfd]", NULL };
	static const char *const cache[] = { "socket:[1002]", "socket:[1004]", NULL };
	static const char *const other[] = { "socket:[1001]", NULL };
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/bpfdiag-test-listen-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
	snprintf(f->cg, sizeof(f->cg), "%s/cgroup", f->dir);
	/* Pod: the database (100, and 101 forked from it sharing its listener), the cache
	 * sidecar 200 in the same namespace; 300 in a namespace of its own, holding an inode
	 * that is a listener in the pod's namespace only. */
	fake_pid(f, 100, "pod", POD_TCP, POD_TCP6, db);
	fake_pid(f, 101, "pod", POD_TCP, POD_TCP6, db_child);
	fake_pid(f, 200, "pod", POD_TCP, POD_TCP6, cache);
	fake_pid(f, 300, "other", TCP_HEADER, NULL, other);
	fake_cgroup(f, "/kubepods/pod1/db", "100\n101\n");
	fake_cgroup(f, "/kubepods/pod1/cache", "200\n");
	fake_cgroup(f, "/kubepods/pod1/gone", "300\n4000000\n"); /* 4000000: exited */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static uint32_t port_count(const struct listen_seed_port *p, size_t n, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i].port == port)
			return p[i].count;
	}
	return 0;
}

static void test_seeder(void **state)
{
	struct fake *f = *state;
	struct listen_seed_stats st = { 0 };
	struct listen_seeder *s = listen_seeder_new(f->proc, f->cg, NULL);
	struct listen_seed_port *p;
	bool complete;
	size_t n;

	assert_non_null(s);
	/* The database: :5432 once (held by two processes), not the established socket, not
	 * the listener printed after it, not the sidecar's. */
	assert_int_equal(listen_seeder_cgroup(s, "/kubepods/pod1/db", &p, &n, &complete, &st), 0);
	assert_true(complete);
	assert_int_equal(n, 1);
	assert_int_equal(port_count(p, n, 5432), 1);
	free(p);
	/* The sidecar, same namespace (read once): its own two, IPv4 and IPv6. */
	assert_int_equal(listen_seeder_cgroup(s, "/kubepods/pod1/cache", &p, &n, &complete, &st),
			 0);
	assert_true(complete);
	assert_int_equal(n, 2);
	assert_int_equal(port_count(p, n, 6379), 1);
	assert_int_equal(port_count(p, n, 9187), 1);
	free(p);
	/* A process gone: incomplete, counted, no crash; a namespace without tcp6 is fine. */
	assert_int_equal(listen_seeder_cgroup(s, "/kubepods/pod1/gone", &p, &n, &complete, &st), 0);
	assert_false(complete);
	assert_int_equal(n, 0);
	assert_null(p);
	/* A cgroup removed meanwhile. */
	assert_int_equal(listen_seeder_cgroup(s, "/kubepods/pod1/none", &p, &n, &complete, &st), 0);
	assert_false(complete);
	assert_int_equal(n, 0);

	assert_int_equal(st.cgroups, 4);
	assert_int_equal(st.listeners, 3);
	assert_int_equal(st.netns_reads, 2);
	assert_int_equal(st.unreadable, 2);
	assert_int_equal(st.pids_skipped, 0);
	assert_int_equal(st.fds_skipped, 0);
	listen_seeder_free(s);
}

static void test_seeder_bounds(void **state)
{
	struct fake *f = *state;
	struct listen_seed_limits one_pid = { .max_pids = 1 }, two_fds = { .max_fds = 2 };
	struct listen_seed_stats st = { 0 };
	struct listen_seeder *s = listen_seeder_new(f->proc, f->cg, &one_pid);
	struct listen_seed_port *p;
	bool complete;
	size_t n;

	assert_non_null(s);
	assert_int_equal(listen_seeder_cgroup(s, "/kubepods/pod1/db", &p, &n, &complete, &st), 0);
	assert_false(complete);
	assert_int_equal(port_count(p, n, 5432), 1);
	assert_int_equal(st.pids_skipped, 1);
	free(p);
	listen_seeder_free(s);

	/* Two descriptors in all: the first process's first two, then nothing. */
	memset(&st, 0, sizeof(st));
	s = listen_seeder_new(f->proc, f->cg, &two_fds);
	assert_non_null(s);
	assert_int_equal(listen_seeder_cgroup(s, "/kubepods/pod1/db", &p, &n, &complete, &st), 0);
	assert_false(complete);
	assert_true(st.fds_skipped >= 1);
	assert_true(n <= 1);
	free(p);
	listen_seeder_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen_v4),
		cmocka_unit_test(test_parse_listen_v6),
		cmocka_unit_test(test_parse_header_and_malformed),
		cmocka_unit_test(test_merge_rule),
		cmocka_unit_test_setup_teardown(test_seeder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seeder_bounds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
