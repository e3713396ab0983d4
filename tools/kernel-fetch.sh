#!/usr/bin/env bash
# Fetches a Debian cloud kernel for the `kernels` tests without installing it: the package is
# downloaded with `apt-get download` and unpacked with `dpkg-deb -x` under
# ${BPFDIAG_CACHE:-/var/cache/bpfdiag}/kernels/<package>/, once; later runs reuse the cache
# and need no network. Prints that directory (it holds boot/vmlinuz-* and lib/modules/*).
# Usage: tools/kernel-fetch.sh SERIES     e.g. 6.1 (bookworm) or 6.12 (bookworm-backports)
set -euo pipefail

series=${1:?usage: $0 SERIES (e.g. 6.1)}
cache=${BPFDIAG_CACHE:-/var/cache/bpfdiag}/kernels
re="^linux-image-${series//./\\.}\\.[0-9][-0-9.+a-z]*-cloud-amd64\$"

die() {
	echo "kernel-fetch: $*" >&2
	exit 1
}

# Newest cached unpack of this series first: no apt needed.
newest_cached() {
	local d
	for d in "$cache"/linux-image-*-cloud-amd64; do
		[ -d "$d/boot" ] || continue
		basename "$d"
	done | grep -E "$re" | sort -V | tail -n 1
}

pkg=$(newest_cached || true)
if [ -n "$pkg" ]; then
	echo "$cache/$pkg"
	exit 0
fi

command -v apt-get >/dev/null || die "no cached $series kernel in $cache and no apt-get to fetch one"
mkdir -p "$cache" 2>/dev/null || die "cannot create $cache (run as root, or set BPFDIAG_CACHE)"
[ -w "$cache" ] || die "$cache is not writable (run as root, or set BPFDIAG_CACHE)"

# The newest signed image of the series that the package lists know (names carry the ABI, and
# an update retires the old one: refresh the lists once when the download fails).
candidate() {
	apt-cache search --names-only "$re" 2>/dev/null | cut -d' ' -f1 | sort -V | tail -n 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() {
	(cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$1" >/dev/null 2>&1)
}

pkg=$(candidate)
if [ -z "$pkg" ] || ! fetch "$pkg"; then
	echo "kernel-fetch: refreshing the package lists (apt-get update)" >&2
	apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
	pkg=$(candidate)
	[ -n "$pkg" ] || die "no package matching $re in the Debian package lists"
	fetch "$pkg" || die "apt-get download $pkg failed"
fi

deb=$(ls "$tmp"/*.deb)
mkdir "$tmp/x"
dpkg-deb -x "$deb" "$tmp/x" || die "dpkg-deb -x $deb failed"
ls "$tmp"/x/boot/vmlinuz-* >/dev/null 2>&1 || die "$deb holds no boot/vmlinuz-*"
# Keep only what the tests use: the kernel, its config and the block-device modules.
mkdir -p "$tmp/keep/boot"
cp "$tmp"/x/boot/vmlinuz-* "$tmp"/x/boot/config-* "$tmp/keep/boot/"
(cd "$tmp/x" && find lib/modules -path '*/drivers/block/*' -name '*.ko*' \
	-exec cp --parents {} "$tmp/keep" \;)
rm -rf "${cache:?}/$pkg"
mv "$tmp/keep" "$cache/$pkg"
echo "kernel-fetch: cached $pkg in $cache/$pkg" >&2
echo "$cache/$pkg"
