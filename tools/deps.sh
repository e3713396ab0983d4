#!/usr/bin/env bash
# Installs the Debian packages bpfdiag needs, idempotently: apt-get runs only when something is
# missing. Usage: tools/deps.sh build|run|test  (test includes build; run includes build).
set -euo pipefail

build_pkgs=(cmake make pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev libncurses-dev
	libprotobuf-c-dev protobuf-c-compiler)
test_pkgs=(libcmocka-dev clang-format python3 curl procps util-linux mount e2fsprogs
	qemu-system-x86 busybox-static) # the last two: the `kernels` test's guest

case "${1:-build}" in
build | run) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
	echo "usage: $0 build|run|test" >&2
	exit 2
	;;
esac

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
