#!/usr/bin/env bash
# Measures the build time of each binary and writes a Markdown table to
# docs/buildtimes.md (and stdout):
#   cold        — empty GOCACHE: every package, standard library included;
#   botstate changed — an exported change to botstate/app after a full build:
#                 it and everything above it recompile (dependencies cached);
#   incremental — a code change in the service package after a full build.
# Build flags are the Makefile's (CGO_ENABLED=0, -trimpath, static).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- botcore botauth botchat botauto botllm botvectordb botdrive botmail bottasks botcontacts botcompliance botvideo botserver
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"; rm -f */zz_buildtime_probe.go botstate/app/zz_buildtime_probe.go' EXIT
export CGO_ENABLED=0
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'; }
build() { go build -trimpath -ldflags "-s -w" -o "$scratch/out" "./$1/cmd/$1"; }
rows=""
for bin in "$@"; do
	cache="$scratch/cache-$bin"
	cold=$(GOCACHE="$cache" secs build "$bin")
	# Change content, not mtime: Go's build cache is content-addressed.
	# An exported change to botstate/app (imported by every binary): it and
	# every package above it recompile, then the link.
	echo "package app; const ZZBuildtimeProbe = \"$(date +%s%N)\"" > botstate/app/zz_buildtime_probe.go
	deps=$(GOCACHE="$cache" secs build "$bin")
	rm -f botstate/app/zz_buildtime_probe.go
	GOCACHE="$cache" build "$bin"
	pkg=$(go list -f '{{.Name}}' "./$bin")
	# A change inside the service package (as editing a function body): one
	# package recompiles, then the link.
	echo "package $pkg; var zzBuildtimeProbe = \"$(date +%s%N)\"; func init() { _ = zzBuildtimeProbe }" > "$bin/zz_buildtime_probe.go"
	incr=$(GOCACHE="$cache" secs build "$bin")
	rm -f "$bin/zz_buildtime_probe.go"
	size=$(du -m "$scratch/out" | cut -f1)
	rows+="| \`$bin\` | $cold s | $deps s | $incr s | $size MB |"$'\n'
	rm -rf "$cache"
	echo "$bin: cold ${cold}s, botstate changed ${deps}s, incremental ${incr}s, ${size} MB" >&2
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
table="| binary | cold (empty cache) | botstate changed | incremental (service file changed) | size |
|---|---|---|---|---|
${rows}
Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($cpu), $(go version | cut -d' ' -f3), \`CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\"\`; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
mkdir -p docs
printf '%s\n' "$table" > docs/buildtimes.md
printf '%s\n' "$table"
