#!/usr/bin/env bash
# The image of the cluster tests' workloads: Debian bookworm (minbase) with PostgreSQL, Redis,
# RabbitMQ, Mosquitto and nginx, and their load generators (pgbench, redis-benchmark, pika,
# mosquitto_pub, curl), and fio (for its io_uring engine), made with mmdebstrap from the Debian
# mirror and committed with buildah: no container registry is needed.
#
# Idempotent: the image is tagged with a hash of its inputs, and buildah's storage is the cache
# (a first run takes two or three minutes; later ones, seconds). Writes the image as an OCI
# archive to OUT (for `tools/cluster/cluster load-image`) and prints its reference; with --ref it
# only prints the reference the inputs give (to skip the archive when the node has that image).
# Usage: tests/cluster/workload-image.sh OUT|--ref
set -euo pipefail

SUITE=bookworm
PKGS=postgresql,postgresql-client,redis-server,redis-tools,rabbitmq-server,python3-pika,mosquitto,mosquitto-clients,nginx,curl,procps,python3,ca-certificates,fio
out=${1:?usage: $0 OUT|--ref}
cache=${BPFDIAG_CACHE:-/var/cache/bpfdiag}/image
mirror=${BPFDIAG_DEBIAN_MIRROR:-}

for cmd in buildah mmdebstrap; do
	command -v $cmd >/dev/null || {
		echo "workload-image: $cmd is missing (tools/deps.sh test installs it)" >&2
		exit 1
	}
done
hash=$( (
	echo "$SUITE $mirror $PKGS"
	sed -n '/^# build:/,$p' "$0"
) | sha256sum | cut -c1-12)
repo=localhost/bpfdiag-workloads
ref=$repo:$hash
if [ "$out" = --ref ]; then
	echo "$ref"
	exit 0
fi

# build:
if ! buildah inspect --type image "$ref" >/dev/null 2>&1; then
	mkdir -p "$cache"
	tar=$cache/workloads-$hash.tar
	echo "workload-image: making $ref ($SUITE minbase + servers) from ${mirror:-the Debian mirror}" >&2
	# Services must not start inside the build: mmdebstrap's chroot has no init, and a
	# policy-rc.d that says no keeps the packages' scripts from trying.
	mmdebstrap --quiet --format=tar --variant=minbase --include="$PKGS" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--essential-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
		--customize-hook='rm -f "$1/usr/sbin/policy-rc.d"' \
		"$SUITE" "$tar.tmp" ${mirror:+"$mirror"} >&2
	mv -f "$tar.tmp" "$tar"
	ctr=$(buildah from scratch)
	buildah add --quiet "$ctr" "$tar" / >/dev/null
	buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--cmd /bin/bash "$ctr"
	buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
	rm -f "$tar"
fi
buildah images --format '{{.Name}}:{{.Tag}}' --filter "reference=$repo" 2>/dev/null |
	grep -vxF "$ref" | xargs -r buildah rmi >/dev/null 2>&1 || true
rm -f "$out"
buildah push --quiet "$ref" "oci-archive:$out:$ref" >/dev/null
echo "$ref"
