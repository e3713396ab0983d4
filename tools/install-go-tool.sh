#!/usr/bin/env bash
# Installs a Go tool the tests need, idempotently, outside the repository, into
# $BPFDIAG_CACHE/bin (default /var/cache/bpfdiag/bin), and prints its path on stdout.
#   helm          helm.sh/helm/v3 at the pinned version (`go install`; a few minutes, first time)
#   promql-check  tools/promql-check, Prometheus' own PromQL parser (a minute, first time)
#   kube          tools/cluster/kube, the test cluster's components: etcd and Kubernetes
#                 $KUBE_VERSION in one binary (about 5 minutes and 2.7 GB of memory, first time)
#   kube-score    github.com/zegl/kube-score at the pinned version, the chart's linter (under a
#                 minute, first time)
#   otelcol       an OpenTelemetry Collector built by the OpenTelemetry Collector Builder from
#                 tools/otelcol/builder.yaml: otlp receiver, prometheus and debug exporters
#                 (about 2 minutes, first time)
# Later runs only check the version (helm, kube-score) or the source hash (the others) and exit.
# Usage: tools/install-go-tool.sh helm|promql-check|kube|kube-score|otelcol
set -euo pipefail

HELM_VERSION=v3.22.0
KUBE_SCORE_VERSION=v1.20.0
# Must match k8s.io/kubernetes in tools/cluster/kube/go.mod. The servers report it (helm's
# semverCompare on .Capabilities.KubeVersion needs a real one, not v0.0.0-master).
KUBE_VERSION=v1.34.4
cache=${BPFDIAG_CACHE:-/var/cache/bpfdiag}
src_dir=$(cd "$(dirname "$0")" && pwd)

find_go() {
	local go
	go=$(command -v go || true)
	[ -z "$go" ] && [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go
	if [ -z "$go" ]; then
		echo "install-go-tool: no Go toolchain (looked in PATH and /usr/local/go/bin);" \
			"install Go >= 1.26 from https://go.dev/dl/" >&2
		exit 1
	fi
	echo "$go"
}

# build NAME DEST CMD...: runs CMD with GOBIN set to a private directory, then moves NAME to
# DEST, so a half-written binary is never found by the tests.
build() {
	local name=$1 dest=$2 tmp
	shift 2
	mkdir -p "$cache/bin"
	tmp=$(mktemp -d "$cache/bin/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand $tmp now
	trap "rm -rf '$tmp'" EXIT
	GOBIN=$tmp GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$@" >&2
	mv -f "$tmp/$name" "$dest"
}

case "${1:-}" in
helm)
	bin=$cache/bin/helm
	have() {
		[ -x "$bin" ] &&
			[ "$("$bin" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]
	}
	if ! have; then
		go=$(find_go)
		echo "install-go-tool: building helm $HELM_VERSION with $("$go" version | cut -d' ' -f3)" \
			"into $cache/bin (first time only; takes a few minutes)" >&2
		build helm "$bin" "$go" install -trimpath \
			-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
			"helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
		if ! have; then
			echo "install-go-tool: $bin does not report $HELM_VERSION" >&2
			exit 1
		fi
	fi
	;;
promql-check)
	dir=$src_dir/promql-check
	hash=$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go | sha256sum | cut -c1-16)
	bin=$cache/bin/promql-check-$hash
	if [ ! -x "$bin" ]; then
		go=$(find_go)
		echo "install-go-tool: building promql-check (Prometheus' PromQL parser) into" \
			"$cache/bin (first time only)" >&2
		(cd "$dir" && build promql-check "$bin" "$go" install -trimpath -ldflags "-s -w" .)
		# Older builds of other sources are of no further use.
		find "$cache/bin" -maxdepth 1 -name 'promql-check-*' ! -name "promql-check-$hash" -delete
	fi
	;;
kube)
	dir=$src_dir/cluster/kube
	hash=$( (
		echo "$KUBE_VERSION"
		cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go
	) | sha256sum | cut -c1-16)
	bin=$cache/bin/kube-$hash
	if [ ! -x "$bin" ]; then
		go=$(find_go)
		echo "install-go-tool: building the test cluster's components (Kubernetes" \
			"$KUBE_VERSION, etcd) into $cache/bin (first time only; about 5 minutes)" >&2
		minor=${KUBE_VERSION#v1.}
		minor=${minor%%.*}
		ldflags="-s -w"
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
			ldflags+=" -X $pkg.gitTreeState=clean"
		done
		(cd "$dir" && build kube "$bin" "$go" install -trimpath -ldflags "$ldflags" .)
		find "$cache/bin" -maxdepth 1 -name 'kube-*' ! -name "kube-$hash" -delete
	fi
	;;
kube-score)
	bin=$cache/bin/kube-score
	have() {
		[ -x "$bin" ] && "$bin" version 2>/dev/null | grep -qF "version: $KUBE_SCORE_VERSION,"
	}
	if ! have; then
		go=$(find_go)
		echo "install-go-tool: building kube-score $KUBE_SCORE_VERSION into $cache/bin" \
			"(first time only)" >&2
		build kube-score "$bin" "$go" install -trimpath \
			-ldflags "-s -w -X main.version=$KUBE_SCORE_VERSION" \
			"github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
		if ! have; then
			echo "install-go-tool: $bin does not report $KUBE_SCORE_VERSION" >&2
			exit 1
		fi
	fi
	;;
otelcol)
	manifest=$src_dir/otelcol/builder.yaml
	# The builder's release is the Collector's (dist.version in the manifest).
	version=$(sed -n 's/^  version: *//p' "$manifest")
	hash=$(sha256sum <"$manifest" | cut -c1-16)
	bin=$cache/bin/otelcol-$hash
	if [ ! -x "$bin" ]; then
		go=$(find_go)
		echo "install-go-tool: building an OpenTelemetry Collector $version with its builder" \
			"into $cache/bin (first time only; about 2 minutes)" >&2
		mkdir -p "$cache/bin"
		work=$(mktemp -d "$cache/bin/.build.XXXXXX")
		# shellcheck disable=SC2064 # expand $work now
		trap "rm -rf '$work'" EXIT
		GOBIN=$work GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$go" install -trimpath \
			-ldflags "-s -w" "go.opentelemetry.io/collector/cmd/builder@v$version" >&2
		# The builder writes the sources and the binary to dist.output_path, relative to here.
		(cd "$work" && GOFLAGS=-buildvcs=false PATH="$(dirname "$go"):$PATH" \
			./builder --config "$manifest" --ldflags "-s -w") >&2
		mv -f "$work/otelcol-bpfdiag/otelcol-bpfdiag" "$bin"
		find "$cache/bin" -maxdepth 1 -name 'otelcol-*' ! -name "otelcol-$hash" -delete
	fi
	;;
*)
	echo "usage: $0 helm|promql-check|kube|kube-score|otelcol" >&2
	exit 2
	;;
esac
echo "$bin"
