#!/usr/bin/env bash
# Installs the Debian packages bpfdiag needs, idempotently: apt-get runs only when something is
# missing, and for `test` the Python packages of tests/requirements.txt and the Go tools the
# chart and Collector tests use. Usage: tools/deps.sh [--print] build|run|test|bench|fuzz|runtime
#   build, run: what `make` and `make run` need; test and bench include build
#   cluster: what tools/cluster/cluster needs (test includes it)
#   runtime: only the shared libraries (and CA certificates) build/bpfdiag needs at run time,
#            used by the Containerfile's runtime stage
#   --print GROUP lists a group's packages, one per line, and installs nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# gcc builds user space (the code is -Werror clean with gcc, not with clang as host compiler);
# clang only compiles the BPF programs.
build_pkgs=(gcc libc6-dev cmake make pkg-config clang llvm libbpf-dev bpftool libelf-dev
	zlib1g-dev libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev libncurses-dev
	libprotobuf-c-dev protobuf-c-compiler libgnutls28-dev libyaml-dev)
runtime_pkgs=(libbpf1 libelf1 zlib1g libmicrohttpd12 libjson-c5 libcurl4 libncursesw6
	libprotobuf-c1 libgnutls30 libyaml-0-2 ca-certificates)
# mount, e2fsprogs: fake pods' volumes; python3-yaml: rendered chart manifests; buildah and
# mmdebstrap: the container image test; prometheus: promtool and the server the exporter tests
# scrape with; openssl: their self-signed certificates; tmux: the full-screen top tests;
# qemu-system-x86, busybox-static: the `kernels` test's guest; fio: test_uring's io_uring load;
# xfsprogs: test_fs_reads' xfs volume.
test_pkgs=(libcmocka-dev clang-format python3 curl procps util-linux mount e2fsprogs xfsprogs
	python3-yaml buildah mmdebstrap prometheus openssl tmux qemu-system-x86 busybox-static fio)
# bench: the loads (stress-ng, fio, iperf3, perf's syscall bench, a real Redis and PostgreSQL
# with their benchmarks) and the peers measured beside the agent (libbpf-tools). The servers'
# packages must not start their daemons: the bench starts its own, on loopback, in a temp dir.
bench_pkgs=(stress-ng fio iperf3 libbpf-tools bpftool linux-perf redis-server redis-tools
	postgresql)
# The test cluster (tools/cluster/cluster): Debian's containerd, runc and CNI plugins; iptables
# for kube-proxy; openssl for its certificates; gcc, libc6-dev and buildah for the pause image.
cluster_pkgs=(containerd runc containernetworking-plugins iptables iproute2 openssl e2fsprogs
	util-linux mount gcc libc6-dev buildah)

print=0
if [ "${1:-}" = --print ]; then
	print=1
	shift
fi
group=${1:-build}
case "$group" in
build) want=("${build_pkgs[@]}") ;;
run) want=("${build_pkgs[@]}" python3) ;;
demo) want=("${cluster_pkgs[@]}" python3 mmdebstrap) ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${cluster_pkgs[@]}") ;;
cluster) want=("${cluster_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
fuzz) want=("${build_pkgs[@]}" libclang-rt-14-dev) ;;
runtime) want=("${runtime_pkgs[@]}") ;;
*)
	echo "usage: $0 [--print] build|run|demo|test|bench|fuzz|runtime|cluster" >&2
	exit 2
	;;
esac
if [ $print = 1 ]; then
	printf '%s\n' "${want[@]}"
	exit 0
fi

apt_install() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0

	if [ "$(id -u)" != 0 ]; then
		echo "bpfdiag: missing Debian packages: ${missing[*]}" >&2
		echo "bpfdiag: run as root (or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	if ! command -v apt-get >/dev/null; then
		echo "bpfdiag: missing packages ${missing[*]} and no apt-get here; install them by hand" >&2
		exit 1
	fi
	echo "bpfdiag: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Packages with daemons (prometheus, redis-server, postgresql) must not start them: tests and
	# the bench start their own, on loopback. A policy-rc.d that says no does that (Docker images ship one already).
	local policy=/usr/sbin/policy-rc.d made_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	local rc=0
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	[ "$made_policy" = 1 ] && rm -f "$policy"
	return "$rc"
}

# tests/requirements.txt into the python3 the tests run with (the first on PATH, as CMake finds
# it), when its modules are not importable yet.
pip_install_test_deps() {
	python3 -c 'import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2' \
		2>/dev/null && return 0
	if ! python3 -m pip --version >/dev/null 2>&1; then
		apt_install python3-pip
	fi
	echo "bpfdiag: installing Python test packages (tests/requirements.txt)" >&2
	python3 -m pip install -q --disable-pip-version-check -r "$here/../tests/requirements.txt" ||
		# Debian's own python3 refuses pip installs (PEP 668) unless told this machine is fine.
		python3 -m pip install -q --disable-pip-version-check --break-system-packages \
			-r "$here/../tests/requirements.txt"
}

install_go_tools() {
	# Failures here only warn: the chart tests retry the install and report the cause.
	for tool in helm promql-check kube-score otelcol; do
		"$here/install-go-tool.sh" "$tool" >/dev/null ||
			echo "bpfdiag: could not install $tool; the tests that use it will fail" >&2
	done
}

apt_install "${want[@]}"
if [ "$group" = test ]; then
	pip_install_test_deps
	install_go_tools
fi
