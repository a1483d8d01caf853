#!/usr/bin/env bash
# Runs the benchmarks in bench/ against a fresh build. Needs wrk (apt-get install wrk) and moto_server.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
command -v moto_server >/dev/null || { echo "moto_server is not installed (python3 -m pip install 'moto[server]')" >&2; exit 1; }
node_modules/.bin/bun build.ts
PATH="$PWD/node_modules/.bin:$PATH" node_modules/.bin/bun bench/serve.bench.ts "$@"
PATH="$PWD/node_modules/.bin:$PATH" node_modules/.bin/bun bench/broker.bench.ts
if command -v hyperfine >/dev/null; then node_modules/.bin/bun bench/binary.bench.ts; node_modules/.bin/bun bench/npm-launcher.bench.ts; else echo "hyperfine not installed (apt-get install hyperfine): skipping the binary start-up benchmark" >&2; fi
node_modules/.bin/bun bench/config-parse.ts
node_modules/.bin/bun bench/leaf-mint.bench.ts
PATH="$PWD/node_modules/.bin:$PATH" node_modules/.bin/bun bench/proxy-aws.bench.ts
if command -v hey >/dev/null && [ -x /usr/bin/mitmdump ]; then node_modules/.bin/bun bench/proxy.bench.ts; else echo "hey or mitmdump not installed (apt-get install hey mitmproxy): skipping the proxy benchmark" >&2; fi
if [ -n "${BENCH_BASE_BIN:-}" ]; then PATH="$PWD/node_modules/.bin:$PATH" node_modules/.bin/bun bench/serve-footprint.bench.ts; else echo "BENCH_BASE_BIN not set: skipping the before/after start-up and memory comparison" >&2; fi
# The tunnel benchmark compares with sshuttle when sshuttle and sshd are installed (apt-get install sshuttle openssh-server openssh-client).
if command -v iperf3 >/dev/null && [ "$(id -u)" = 0 ]; then node_modules/.bin/bun bench/tunnel.bench.ts; else echo "iperf3 not installed (apt-get install iperf3) or not root: skipping the tunnel benchmark" >&2; fi
