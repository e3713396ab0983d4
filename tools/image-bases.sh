#!/usr/bin/env bash
# Base images for the Containerfile on machines that cannot pull from a container registry.
#
# Makes two Debian bookworm "minbase" root filesystems with mmdebstrap from the Debian mirror
# (the same content as debian:bookworm-slim), one with `tools/deps.sh --print build` and one
# with `tools/deps.sh --print runtime` preinstalled, and imports them into buildah's storage as
# localhost/bpfdiag-base-{build,runtime}:<hash of the inputs>. The image build then needs no
# network: the Containerfile's deps.sh steps find everything installed.
#
# Idempotent: an image whose tag matches the inputs is reused (seconds); buildah's storage is the
# cache. The rootfs tarballs are made in $BPFDIAG_CACHE/image (default /var/cache/bpfdiag/image)
# and removed once imported. Needs root, buildah and mmdebstrap (tools/deps.sh test installs
# them); a first run takes a minute or two. BPFDIAG_DEBIAN_MIRROR picks another Debian mirror.
#
# Prints the build arguments for the Containerfile, one per line:
#   BUILD_IMAGE=localhost/bpfdiag-base-build:<hash>
#   RUNTIME_IMAGE=localhost/bpfdiag-base-runtime:<hash>
set -euo pipefail

SUITE=bookworm
tools=$(cd "$(dirname "$0")" && pwd)
cache=${BPFDIAG_CACHE:-/var/cache/bpfdiag}/image
mirror=${BPFDIAG_DEBIAN_MIRROR:-}

for cmd in buildah mmdebstrap; do
	if ! command -v $cmd >/dev/null; then
		echo "image-bases: $cmd is missing (tools/deps.sh test installs it)" >&2
		exit 1
	fi
done
mkdir -p "$cache"

# Like debian:bookworm-slim: no manuals, translations or docs, but keep the copyright files.
strip_opts=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
	--dpkgopt='path-include=/usr/share/doc/*/copyright')

# base NAME GROUP: ensures localhost/bpfdiag-base-NAME:<hash> exists and prints its reference.
base() {
	local name=$1 group=$2 pkgs hash repo ref tar ctr
	pkgs=$("$tools/deps.sh" --print "$group" | sort | paste -sd, -)
	hash=$( (
		echo "$SUITE $mirror $pkgs"
		printf '%s\n' "${strip_opts[@]}"
		sed -n '/^base()/,/^}/p' "$0"
	) | sha256sum | cut -c1-12)
	repo=localhost/bpfdiag-base-$name
	ref=$repo:$hash
	if ! buildah inspect --type image "$ref" >/dev/null 2>&1; then
		tar=$cache/$name-$hash.tar
		if [ ! -s "$tar" ]; then
			echo "image-bases: making the $name base ($SUITE minbase + $group packages)" \
				"from ${mirror:-the Debian mirror}" >&2
			# ${mirror:+…}: with no mirror, mmdebstrap uses deb.debian.org with updates and
			# security.
			mmdebstrap --quiet --format=tar --variant=minbase --include="$pkgs" "${strip_opts[@]}" \
				"$SUITE" "$tar.tmp" ${mirror:+"$mirror"} >&2
			mv -f "$tar.tmp" "$tar"
		fi
		echo "image-bases: importing $tar as $ref" >&2
		ctr=$(buildah from scratch)
		buildah add --quiet "$ctr" "$tar" / >/dev/null
		buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			--cmd /bin/bash --label "bpfdiag.base.packages=$pkgs" "$ctr"
		buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
		# The tarball is only a step towards the image.
		rm -f "$tar"
	fi
	# Bases of older inputs are of no further use.
	buildah images --format '{{.Name}}:{{.Tag}}' --filter "reference=$repo" 2>/dev/null |
		grep -vxF "$ref" | xargs -r buildah rmi >/dev/null 2>&1 || true
	echo "$ref"
}

echo "BUILD_IMAGE=$(base build build)"
echo "RUNTIME_IMAGE=$(base runtime runtime)"
