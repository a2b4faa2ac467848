#!/bin/bash
# bench/getset_instructions.sh — what a RESP2 GET and SET cost the proxy, in
# instructions (valgrind's callgrind: deterministic to ~0.1%, where CPU time
# on a shared 2-core VM is noisy to +-10%). For before/after comparisons of
# the request path (docs/datapath.md, "What a request costs while it is
# held").
#
# Runs shardproxy with one worker (`worker_processes: 1`) under callgrind
# with --trace-children=yes, in front of one redis-server, and
# `redis-benchmark -t get,set -n N -q` (50 clients, pipeline 1) against it;
# prints the worker's instructions (its callgrind file: the process that ran
# the most), the master's, and the worker's per request. The server is named,
# so ketama places it by its name: by its address, each run's random port
# moved the key's lookup by up to 9 instructions a request.
#
#   bench/getset_instructions.sh [build/shardproxy]     (N=40000 by default;
#   EVENT_BACKEND=io_uring for the io_uring event backend)
set -euo pipefail
bin=${1:-build/shardproxy}
n=${N:-40000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"
start_redis

port=$(free_port); sport=$(free_port)
cat >"$tmp/c.yml" <<EOC
global:
  worker_processes: 1
  event_backend: ${EVENT_BACKEND:-epoll}
alpha:
  listen: 127.0.0.1:$port
  redis: true
  servers:
   - 127.0.0.1:$rport:1 bench
EOC
valgrind --tool=callgrind --trace-children=yes \
    --callgrind-out-file="$tmp/cg.%p" \
    "$bin" -c "$tmp/c.yml" -s "$sport" -a 127.0.0.1 -o "$tmp/sp.log" \
    >/dev/null 2>"$tmp/vg.log" &
vg=$!
pids+=($vg)
wait_port "$port"
redis-benchmark -p "$port" -n "$n" -t get,set -q 2>/dev/null | tr '\r' '\n' | grep 'requests per second'
kill "$vg"; wait "$vg" || true
# each process's total, largest first: the worker, then the master
totals=$(for f in "$tmp"/cg.*; do grep -m1 '^summary:' "$f" | awk '{print $2}'; done | sort -rn)
worker=$(echo "$totals" | sed -n 1p)
master=$(echo "$totals" | sed -n 2p)
[ -n "${KEEP:-}" ] && echo "kept: $tmp"
echo "worker: $worker instructions, $((worker / (2 * n))) per request; master: $master"
