#!/usr/bin/env bash
# Installs the Debian packages bpfdiag needs, idempotently: apt-get runs only when something is
# missing. Usage: tools/deps.sh build|run|test|bench|runtime  (test, bench and run include build)
#   runtime: only the shared libraries (and CA certificates) build/bpfdiag needs at run time,
#            used by the Containerfile's runtime stage
#   test:    also installs the Go tools the chart tests use (tools/install-go-tool.sh)
# tools/deps.sh --print GROUP lists a group's packages, one per line, and installs nothing.
set -euo pipefail

# gcc builds user space (the code is -Werror clean with gcc, not with clang as host compiler);
# clang only compiles the BPF programs.
build_pkgs=(gcc libc6-dev cmake make pkg-config clang llvm libbpf-dev bpftool libelf-dev
	zlib1g-dev libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev libncurses-dev
	libprotobuf-c-dev protobuf-c-compiler)
runtime_pkgs=(libbpf1 libelf1 zlib1g libmicrohttpd12 libjson-c5 libcurl4 libncursesw6
	libprotobuf-c1 ca-certificates)
# python3-yaml: rendered chart manifests; buildah + mmdebstrap: the container image test.
test_pkgs=(libcmocka-dev clang-format python3 curl procps util-linux mount e2fsprogs
	python3-yaml buildah mmdebstrap)

print=0
if [ "${1:-}" = --print ]; then
	print=1
	shift
fi
group=${1:-build}
case "$group" in
build | run) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" stress-ng fio iperf3 libbpf-tools bpftool) ;;
runtime) want=("${runtime_pkgs[@]}") ;;
*)
	echo "usage: $0 [--print] build|run|test|bench|runtime" >&2
	exit 2
	;;
esac
if [ $print = 1 ]; then
	printf '%s\n' "${want[@]}"
	exit 0
fi

install_go_tools() {
	# Failures here only warn: the chart tests retry the install and report the cause.
	[ "$group" = test ] || return 0
	for tool in helm promql-check; do
		"$(dirname "$0")/install-go-tool.sh" "$tool" >/dev/null ||
			echo "bpfdiag: could not install $tool; the chart tests will fail" >&2
	done
}

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	install_go_tools
	exit 0
fi

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
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_go_tools
