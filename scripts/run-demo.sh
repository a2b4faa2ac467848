#!/usr/bin/env bash
# run-demo.sh BINARY CONF — the `make run` demo: start the backends that
# CONF (conf/shardproxy.yml) points at — two redis-servers on 6379/6380 and
# a memcached on 11211, all on 127.0.0.1 — then shardproxy in the foreground.
# Ctrl-C (or any exit) stops every process this script started, by pid.
set -euo pipefail

bin=${1:?usage: run-demo.sh BINARY CONF}
conf=${2:?usage: run-demo.sh BINARY CONF}
rundir=$(pwd)/.run
mkdir -p "$rundir"
pids=()

cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    echo "run-demo: stopped everything it started"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        port_busy "$port" && return 0
        sleep 0.05
    done
    echo "run-demo: nothing answers on 127.0.0.1:$port" >&2
    return 1
}

# 22222: the summed stats; 22223.. one per worker (worker_processes: auto)
for port in 6379 6380 11211 22121 22122 $(seq 22222 $((22222 + $(nproc)))); do
    if port_busy "$port"; then
        echo "run-demo: 127.0.0.1:$port is already in use (a system redis or" \
             "memcached?); stop it or edit $conf" >&2
        exit 1
    fi
done

for port in 6379 6380; do
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --logfile "$rundir/redis-$port.log" &
    pids+=($!)
done
memcached -u "$(id -un)" -l 127.0.0.1 -p 11211 -U 0 >"$rundir/memcached.log" 2>&1 &
pids+=($!)
for port in 6379 6380 11211; do
    wait_port "$port"
done
echo "run-demo: redis-server on 6379 and 6380, memcached on 11211 (logs in $rundir)"

"$bin" -t -c "$conf"
echo "run-demo: shardproxy in the foreground; in another terminal try:"
echo "run-demo:   redis-cli -p 22121 set user:1 alice; redis-cli -p 22121 mget user:1 user:2"
echo "run-demo:   printf 'set k 0 0 1\\r\\nv\\r\\nget k\\r\\n' | nc -q1 127.0.0.1 22122"
echo "run-demo:   nc 127.0.0.1 22222        (stats, summed over workers; worker i on 22223+i);  Ctrl-C stops everything"
status=0
"$bin" -c "$conf" -s 22222 -a 127.0.0.1 || status=$?
exit "$status"
