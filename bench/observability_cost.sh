#!/bin/bash
# bench/observability_cost.sh — what always-on observability costs per
# request, in instructions (valgrind's callgrind: deterministic to ~0.1%,
# where CPU time on a shared 2-core VM is noisy to +-10%).
#
# Runs one single-process shardproxy under callgrind twice, with the same
# fixed load (redis-benchmark GET/SET, one client, pipeline 1 and 16), once
# with latency histograms and hot-key sampling on (the default) and once
# with both off, and prints instructions per request and the ratio.
#
#   bench/observability_cost.sh [build/shardproxy]
set -euo pipefail
bin=${1:-build/shardproxy}
n=${N:-20000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; echo "$tmp" > /tmp/obs_tmp; }
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"
start_redis

run() {     # $1: on|off -> instructions per request, for pipeline $2
    local flag=$1 pipe=$2 port sport
    port=$(free_port); sport=$(free_port)
    cat >"$tmp/c.yml" <<EOC
global:
  worker_processes: 0
  latency_histograms: $([ "$flag" = on ] && echo true || echo false)
  hot_keys: $([ "$flag" = on ] && echo true || echo false)
alpha:
  listen: 127.0.0.1:$port
  redis: true
  servers:
   - 127.0.0.1:$rport:1
EOC
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$flag.$pipe" \
        "$bin" -c "$tmp/c.yml" -s "$sport" -a 127.0.0.1 -o "$tmp/sp.log" \
        >/dev/null 2>"$tmp/vg.log" &
    local vg=$!
    wait_port "$port"
    redis-benchmark -p "$port" -c 1 -P "$pipe" -n "$n" -r 1000 -t get,set -q >/dev/null
    kill "$vg"; wait "$vg" || true
    local ir
    ir=$(grep -m1 '^summary:' "$tmp/cg.$flag.$pipe" | awk '{print $2}')
    echo $((ir / (2 * n)))
}

for pipe in 1 16; do
    on=$(run on "$pipe"); off=$(run off "$pipe")
    python3 -c "print(f'pipeline $pipe: {$on} instructions/request with observability, {$off} without: x{$on/$off:.4f} (+{($on-$off)/$off*100:.2f}%)')"
done
