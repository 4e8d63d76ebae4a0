#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the source that the npm package
# node-llama-cpp ships (a git bundle), once, and caches the binary under
#   ${LLAMA_CACHE_DIR:-~/.cache/botserver-go/llama}/<node-llama-cpp version>/bin/llama-server
# There is no llama.cpp package and no downloadable binary here, so this is
# how botllm's integration test gets a real OpenAI-compatible server.
# Prints the binary's path on the last line of stdout. Needs npm, git, a C++
# compiler and cmake (installed with apt-get when missing and run as root).
set -euo pipefail

version="${NODE_LLAMA_CPP_VERSION:-3.22.1}"
cache="${LLAMA_CACHE_DIR:-$HOME/.cache/botserver-go/llama}/$version"
bin="$cache/bin/llama-server"
jobs="${LLAMA_BUILD_JOBS:-2}"

if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
	echo "llama-server: another build is running; waiting for it" >&2
	flock 9
	if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
fi

need() { command -v "$1" >/dev/null 2>&1; }
for tool in npm git c++ make; do
	need "$tool" || { echo "llama-server: '$tool' is missing; install it to build llama-server" >&2; exit 1; }
done
if ! need cmake; then
	if [[ $(id -u) -eq 0 ]] && need apt-get; then
		echo "llama-server: installing cmake with apt-get" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >&2
	else
		echo "llama-server: cmake is missing (apt-get install cmake as root)" >&2
		exit 1
	fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "llama-server: fetching node-llama-cpp@$version (llama.cpp source bundle)" >&2
(cd "$work" && npm pack --silent "node-llama-cpp@$version" >/dev/null 2>&1)
tar -xzf "$work"/node-llama-cpp-*.tgz -C "$work" package/llama/gitRelease.bundle
git clone -q "$work/package/llama/gitRelease.bundle" "$work/src" 2>/dev/null ||
	git clone -q "$work/package/llama/gitRelease.bundle" "$work/src"

echo "llama-server: building with cmake -j$jobs (about 5 minutes on 2 cores)" >&2
started=$(date +%s)
nice -n 10 cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
	-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=ON \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF \
	-DGGML_NATIVE=OFF >"$work/configure.log" 2>&1 || { tail -40 "$work/configure.log" >&2; exit 1; }
nice -n 10 cmake --build "$work/build" --target llama-server -j "$jobs" >"$work/build.log" 2>&1 ||
	{ tail -60 "$work/build.log" >&2; exit 1; }

mkdir -p "$cache/bin"
cp "$work/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
git -C "$work/src" rev-parse HEAD >"$cache/llama.cpp.commit"
echo "llama-server: built in $(( $(date +%s) - started ))s" >&2
echo "$bin"
