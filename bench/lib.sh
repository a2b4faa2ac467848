# bench/lib.sh — helpers the callgrind scripts share (sourced, not run):
# a free loopback port, waiting for a port to accept, and a throwaway
# redis-server whose pid joins the caller's `pids` and whose port is `rport`
# (the caller owns `tmp` and ends what `pids` holds).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# up to 30 s: a proxy started under valgrind takes seconds to listen
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_redis() {
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$tmp/redis.log" 2>&1 &
    pids+=($!)
    wait_port "$rport"
}
