#!/usr/bin/python3
"""shardproxy side by side with nutcracker: the `make bench` harness (DESIGN §7).

Owns the benchmark, start to finish:
  * its own backends on free loopback ports: 2 redis-server (no persistence),
    2 memcached (-m 1024, no UDP);
  * each proxy under test with the SAME nutcracker-format config (a Redis pool
    over the 2 redis, a Memcached pool over the 2 memcached, ketama, fnv1a_64),
    started with `-s <free port> -a 127.0.0.1 -o <log>`: Debian's nutcracker,
    and shardproxy (build/shardproxy or $SHARDPROXY_BIN) twice: with one
    worker ("shardproxy", the comparison the ratios are about) and with two
    ("shardproxy-2w": how it grows with workers), and with one worker on the
    io_uring event backend ("shardproxy-uring", also compared with
    "shardproxy" in a table of its own); a target that cannot start
    is n/a with the reason and the bench goes on;
  * a direct baseline: the same load straight to backend #1, no proxy;
  * the cells (see --list): Redis GET/SET x 16/512 B x pipeline 1/16 with 50
    clients (redis-benchmark), GET/SET with a new connection per request,
    MGET of 10 keys, Memcached get/set x 16/512 B and get of 10 keys with 2
    and with 1 load thread (memcaslap -T), and one synchronous client (-c1
    cells: syscalls and latency of one request alone);
  * per cell, rounds in which every target runs once, the order reversed every
    other round (A B, B A, ...); a round during which other processes used
    much CPU is repeated (bounded);
  * per run: requests/s, p50/p99 latency, proxy CPU microseconds per request
    (utime+stime from /proc/<pid>/stat of the proxy and all its descendants,
    reaped children included), and a check that the backends really saw the
    requests;
  * proxy syscalls per request (perf stat -e raw_syscalls:sys_enter -p <pids>;
    n/a with the reason if perf cannot) in separate perf rounds after the timed
    ones: a counting tracepoint costs the proxy CPU on every syscall (measured
    10-40% more CPU/request), so the timed runs go without it;
  * idle connections: resident memory (VmRSS of the proxy's process tree)
    added by --idle (10,000) client connections that each made one request
    and then sit idle, as app servers' persistent connections do; each
    round starts fresh proxies (an allocator keeps what it was once given),
    the order alternating; median over --idle-rounds;
  * the connection storm: --storm (10,000) clients connect at once and send
    one GET each, against fresh proxies with pool `backlog: 512`: nutcracker,
    and shardproxy with 2 workers in accept_mode reuseport and lock, the
    order alternating over --storm-rounds; time until all are served,
    p50/p99 connect-to-reply, clients over 1 s, listen-queue overflows, RSS
    per held connection, the workers' split (tests/integration/storm.py is
    the client);
  * scaling: shardproxy with one worker against two, cell by cell (paired
    ratios of req/s and CPU per request), with the cores the machine had
    free (before the bench, and during each cell's runs);
  * instructions and syscalls per request, load-independent: each proxy
    under callgrind and under strace -c with one client (bench/instructions.py,
    the cells matching --cells);
  * where the CPU goes (bench/cpu_profile.py): each proxy under `perf record
    -g` in the cells furthest from the goals, its CPU per request split into
    user time and the kernel's, by system call (--profile-cells);
  * the Redis Cluster cells (bench/cluster_cell.py): GET/SET through a
    `distribution: redis_cluster` pool against `redis-benchmark --cluster`
    straight to the same 6-node cluster, as a ratio (--cluster-rounds);
  * the report: per-target medians, shardproxy/nutcracker and
    shardproxy-2w/nutcracker paired ratios (median of the per-round ratios), written to bench/RESULTS.md (+ every run in
    bench/RESULTS.json) and printed.

Process handling (free ports, start, readiness, stop by pid, kill on our
death) is tests/integration/sptest.py's.  Every child is stopped by pid on exit,
Ctrl-C or failure; load generators run in their own process group, killed by
that group id on timeout.  Loopback only, no stdin, every wait bounded.

    /usr/bin/python3 bench/bench.py             full run (5 rounds, every cell)
    /usr/bin/python3 bench/bench.py --quick     smoke test (~1 min): 2 rounds,
                                                small counts, 5 cells, a
                                                2,000-client storm, written
                                                to bench/RESULTS-quick.md
    /usr/bin/python3 bench/bench.py --list      the cells and their counts
    ... --cells 'redis-get-*,mc-*' --rounds 7 --scale 2 --targets nutcracker,direct
"""

import argparse
import csv
import datetime
import fnmatch
import io
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
import sptest  # noqa: E402  (the shared process harness)
from storm import Storm  # noqa: E402  (the storm client of test_storm.py)
import instructions  # noqa: E402  (bench/instructions.py: callgrind + strace per request)
import cluster_cell  # noqa: E402  (the Redis Cluster cells, bench/cluster_cell.py)
import cpu_profile  # noqa: E402  (where the CPU goes, bench/cpu_profile.py)

HZ = os.sysconf("SC_CLK_TCK")
NCPU = len(os.sched_getaffinity(0))
CLIENTS = 50                   # concurrent client connections, every cell
KEYSPACE = 100000              # redis-benchmark -r: keys key:000000000000 ..
MC_THREADS = 2                 # memcaslap -T of the mc-* cells; the mc-*-t1
                               # cells run one load thread (the 50 clients'
                               # requests then arrive in bursts that one
                               # thread sends and reads in turn)
MC_WINDOW = "1k"               # memcaslap -w: get cells first set CLIENTS*1024 keys
MC_OVERWRITE = "0.99"          # memcaslap -o for set cells: 99% overwrite, so
                               # SETs do not fill memcached with new keys
PERF_EVENTS = "raw_syscalls:sys_enter,task-clock"
MIN_FORWARDED = 0.98           # backend commands per request below this: the
                               # target answered without forwarding (errors)
# shardproxy runs with one worker (the issue-7 comparison: the same work as
# nutcracker's one process) and with two (how it grows with workers); and
# with one worker on the io_uring event backend (issue 20: compared with
# nutcracker, and with the epoll one beside it)
SHARDPROXY_WORKERS = {"shardproxy": 1, "shardproxy-2w": 2, "shardproxy-uring": 1}
SHARDPROXY_GLOBALS = {"shardproxy-uring": {"event_backend": "io_uring"}}
# (target, baseline) ratios beside the ones against nutcracker
BACKEND_PAIR = ("shardproxy-uring", "shardproxy")
PROXIES = ("nutcracker",) + tuple(SHARDPROXY_WORKERS)
TARGETS = PROXIES + ("direct",)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- cells

class Cell:
    """One benchmark configuration: a command, value size, pipeline depth,
    connection mode, and the request count of one run (full mode)."""

    def __init__(self, name, proto, op, size, count, pipeline=1,
                 keepalive=True, quick=False, what="", clients=CLIENTS,
                 threads=MC_THREADS):
        self.name, self.proto, self.op, self.size = name, proto, op, size
        self.count, self.pipeline, self.keepalive = count, pipeline, keepalive
        self.quick, self.what = quick, what
        self.clients, self.threads = clients, threads   # threads: memcaslap -T

    def needs_prefill(self):
        """Redis reads need every key of the key space present."""
        return self.proto == "redis" and self.op in ("get", "mget")

    def mc_keys(self):
        """Keys per memcached get (memcaslap -d)."""
        return 10 if self.op == "mget" else 1


def all_cells():
    cells = []
    for op in ("get", "set"):
        for size in (16, 512):
            for pipe, count in ((1, 100000), (16, 500000)):
                cells.append(Cell(f"redis-{op}-{size}-p{pipe}", "redis", op, size,
                                  count, pipeline=pipe,
                                  quick=(op, size, pipe) in (("get", 16, 1), ("set", 512, 16)),
                                  what=f"{op.upper()} {size} B, pipeline {pipe}"))
    for op in ("get", "set"):
        cells.append(Cell(f"redis-{op}-16-newconn", "redis", op, 16, 20000,
                          keepalive=False, quick=op == "get",
                          what=f"{op.upper()} 16 B, new connection per request"))
    cells.append(Cell("redis-mget10-16", "redis", "mget", 16, 50000, quick=True,
                      what="MGET of 10 random keys (16 B values)"))
    for op in ("get", "set"):
        for size in (16, 512):
            for threads, tail in ((MC_THREADS, ""), (1, "-t1")):
                cells.append(Cell(f"mc-{op}-{size}{tail}", "mc", op, size,
                                  300000 if op == "get" else 200000, threads=threads,
                                  quick=(op, size, threads) in (("get", 16, MC_THREADS),
                                                                ("set", 16, 1)),
                                  what=f"memcached {op} {size} B, {threads} load thread(s)"))
    for threads, tail in ((MC_THREADS, ""), (1, "-t1")):
        cells.append(Cell(f"mc-mget10-16{tail}", "mc", "mget", 16, 300000, threads=threads,
                          what=f"memcached get of 10 keys (16 B values), "
                          f"{threads} load thread(s)"))
    # one synchronous client: a request's whole path alone, syscalls and
    # latency per request with nothing to batch with
    for proto, op in (("redis", "get"), ("redis", "set"), ("mc", "get"), ("mc", "set")):
        cells.append(Cell(f"{proto}-{op}-16-c1", proto, op, 16, 20000, clients=1,
                          threads=1, quick=(proto, op) == ("mc", "set"),
                          what=f"{'memcached ' if proto == 'mc' else ''}{op.upper() if proto == 'redis' else op}"
                          f" 16 B, one client"))
    return cells


def select_cells(args):
    cells = all_cells()
    if args.cells:
        pats = [p.strip() for p in args.cells.split(",") if p.strip()]
        cells = [c for c in cells if any(fnmatch.fnmatch(c.name, p) for p in pats)]
    elif args.quick:
        cells = [c for c in cells if c.quick]
    return cells


def run_count(cell, args):
    """Requests in one measured run: the cell's count, scaled (quick: /10)."""
    scale = args.scale * (0.1 if args.quick else 1.0)
    return max(1000, int(cell.count * scale))


# ------------------------------------------------------------ /proc and rusage

def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the command name (index 0 = state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children_map():
    """{ppid: [pid, ...]} of every process now, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = _stat_fields(entry)
            if f is not None:
                children.setdefault(int(f[1]), []).append(int(entry))
    return children


def proc_tree(pid, children=None):
    """pid and all its live descendants (by ppid, from /proc)."""
    children = children_map() if children is None else children
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return [p for p in tree if _stat_fields(p) is not None]


def tree_ticks(pid, children=None):
    """CPU clock ticks used by pid's process tree: utime+stime of every live
    member plus cutime+cstime (children it has reaped, e.g. dead workers)."""
    total = 0
    for p in proc_tree(pid, children):
        f = _stat_fields(p)
        if f is not None:
            total += sum(int(x) for x in f[11:15])
    return total


def machine_busy_ticks():
    """Busy ticks of all CPUs from /proc/stat: user+nice+system+steal.  irq and
    softirq are left out: loopback traffic is mostly softirq work that the
    kernel does not charge to any process, so it is ours but unattributable."""
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, steal = int(f[0]), int(f[1]), int(f[2]), int(f[7])
    return user + nice + system + steal


def free_cores(seconds=2.0):
    """CPUs left idle by every process over `seconds` (/proc/stat busy
    ticks as machine_busy_ticks counts them), as a number of cores."""
    b0, t0 = machine_busy_ticks(), time.monotonic()
    time.sleep(seconds)
    busy = (machine_busy_ticks() - b0) / HZ
    return max(0.0, NCPU - busy / (time.monotonic() - t0))


def rusage_seconds(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


class Snapshot:
    """CPU accounting at one instant: the machine, our processes, one proxy."""

    def __init__(self, bench, target):
        children = children_map()
        self.t = time.monotonic()
        self.busy = machine_busy_ticks()
        self.ours = sum(tree_ticks(p.pid, children) for p in bench.harness.procs if p.alive())
        self.reaped = rusage_seconds(resource.RUSAGE_CHILDREN) + \
            rusage_seconds(resource.RUSAGE_SELF)
        self.proxy = tree_ticks(target.proc.pid, children) if target.proc else None


def other_cpu_fraction(a, b):
    """Share of the machine's CPU capacity used between snapshots a and b by
    processes that are not ours (backends, proxies, load generator, perf,
    this script)."""
    elapsed = max(b.t - a.t, 1e-6)
    other = (b.busy - a.busy - (b.ours - a.ours)) / HZ - (b.reaped - a.reaped)
    return max(0.0, other) / (elapsed * NCPU)


# ----------------------------------------------------------------------- perf

def perf_probe(pid):
    """(True, "") if `perf stat -e raw_syscalls:sys_enter -p pid` works here,
    else (False, why)."""
    exe = shutil.which("perf")
    if exe is None:
        return False, "perf not installed (Debian package linux-perf)"
    try:
        r = subprocess.run([exe, "stat", "-x,", "-e", PERF_EVENTS, "-p", str(pid),
                            "--", "sleep", "0.05"], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, "perf stat did not finish within 20 s"
    if r.returncode != 0 or "raw_syscalls:sys_enter" not in r.stderr:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        why = " / ".join(lines[:3]) or f"exit {r.returncode}"
        return False, f"perf stat failed: {why}"
    if "<not supported>" in r.stderr:
        return False, "perf: raw_syscalls:sys_enter not supported by this kernel"
    return True, ""


def parse_perf(path):
    """{event: count} from `perf stat -x,` output; "<not counted>" is 0 (the
    process never ran during the window)."""
    counts = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return counts
    for line in lines:
        f = line.split(",")
        if len(f) < 3 or line.startswith("#"):
            continue
        value = 0.0 if f[0].startswith("<not counted>") else _float(f[0])
        if value is not None:
            counts[f[2]] = value
    return counts


def _float(text):
    try:
        return float(text)
    except ValueError:
        return None


# ------------------------------------------------------------ load generators

def redis_argv(cell, port, n):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", port, "-c", cell.clients,
            "-n", n, "-r", KEYSPACE, "-P", cell.pipeline, "--csv"]
    if not cell.keepalive:
        argv += ["-k", "0"]
    if cell.op == "mget":
        return argv + ["MGET"] + ["key:__rand_int__"] * 10
    return argv + ["-d", cell.size, "-t", cell.op]


def memcaslap_cfg(bench, cell):
    """memcaslap's -F file: 16 B keys, fixed value size, get-only or set-only."""
    set_prop, get_prop = ("1", "0") if cell.op == "set" else ("0", "1")
    text = (f"key\n16 16 1\nvalue\n{cell.size} {cell.size} 1\n"
            f"cmd\n0 {set_prop}\n1 {get_prop}\n")
    return bench.harness.tmp.file(f"memcaslap-{set_prop}{get_prop}-{cell.size}.cfg", text)


def memcaslap_argv(bench, cell, port, n):
    argv = ["memcaslap", "-s", f"127.0.0.1:{port}", "-F", memcaslap_cfg(bench, cell),
            "-T", cell.threads, "-c", cell.clients, "-x", n, "-X", cell.size,
            "-w", MC_WINDOW, "-S", "3600s"]
    if cell.op == "set":
        argv += ["-o", MC_OVERWRITE]
    if cell.mc_keys() > 1:
        argv += ["-d", cell.mc_keys()]
    return argv


def parse_redis_benchmark(out, n):
    """{rps, p50_ms, p99_ms, requests} from redis-benchmark --csv output."""
    rows = [r for r in csv.reader(io.StringIO(out)) if r]
    for header, row in zip(rows, rows[1:]):
        if "rps" in header and len(row) == len(header):
            d = dict(zip(header, row))
            return {"rps": float(d["rps"]), "p50_ms": float(d["p50_latency_ms"]),
                    "p99_ms": float(d["p99_latency_ms"]), "requests": n}
    raise ValueError("no CSV result line in redis-benchmark output")


def log2_percentile(buckets, q):
    """Percentile q (0..1) in microseconds from memcaslap's log2 histogram:
    bucket i holds latencies in (2^(i-1), 2^i] us; linear within a bucket."""
    total = sum(buckets.values())
    rank, seen = q * total, 0
    for i in sorted(buckets):
        if seen + buckets[i] >= rank and buckets[i]:
            lo, hi = (2 ** (i - 1) if i else 0), 2 ** i
            return lo + (hi - lo) * (rank - seen) / buckets[i]
        seen += buckets[i]
    return float(2 ** max(buckets)) if buckets else None


def parse_memcaslap(out):
    """{rps, p50_ms, p99_ms, requests, measured, get_misses} from memcaslap
    output.  A get-only run first sets its key window (not timed, not in the
    latency statistics, but counted in Ops): rps is the timed ops (the
    'Total Statistics (N events)') over the timed phase (Ops/TPS, since 'Run
    time' is printed to 0.1 s); requests (the CPU and syscall denominator) is
    every op the proxy handled, Ops.  Latency: the final log2 histogram."""
    m = re.search(r"Run time: \S+ Ops: (\d+) TPS: (\d+)", out)
    ev = re.search(r"Total Statistics \((\d+) events\)", out)
    if not m or not ev or not int(m.group(2)):
        raise ValueError("no 'Total Statistics' or 'Run time: ... Ops: ... TPS:' "
                         "in memcaslap output")
    ops, tps, measured = int(m.group(1)), int(m.group(2)), int(ev.group(1))
    buckets = {}
    block = out.split("Total Statistics (", 1)
    if "Log2 Dist:" in block[1]:
        dist = block[1].split("Log2 Dist:", 1)[1]
        for line in dist.splitlines()[1:]:
            if not line.strip():
                break
            first, *counts = line.split()
            base = int(first.rstrip(":"))
            for k, c in enumerate(counts):
                buckets[base + k] = int(c)
    p50 = log2_percentile(buckets, 0.50)
    p99 = log2_percentile(buckets, 0.99)
    misses = re.search(r"get_misses: (\d+)", out)
    return {"rps": measured / (ops / tps), "requests": ops, "measured": measured,
            "p50_ms": p50 / 1000 if p50 is not None else None,
            "p99_ms": p99 / 1000 if p99 is not None else None,
            "get_misses": int(misses.group(1)) if misses else None}


def run_loadgen(argv, perf_pids, outdir, tag, timeout):
    """Run argv (under `perf stat -p perf_pids` when given) in its own process
    group; return (exit status or None on timeout, stdout, stderr, perf counts).
    On timeout or interruption the whole group is killed by its id."""
    argv = [str(a) for a in argv]
    perf_out = outdir / f"{tag}.perf"
    if perf_pids:
        argv = ["perf", "stat", "-x,", "-o", str(perf_out), "-e", PERF_EVENTS,
                "-p", ",".join(map(str, perf_pids)), "--"] + argv
    out_path, err_path = outdir / f"{tag}.stdout", outdir / f"{tag}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True, preexec_fn=sptest.die_with_parent)
    status = None
    try:
        status = p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if p.poll() is None:
            _kill_group(p)
    text = out_path.read_text(errors="replace")
    errs = err_path.read_text(errors="replace")
    return status, text, errs, (parse_perf(perf_out) if perf_pids else {})


def _kill_group(p):
    """SIGKILL the process group we created for p (its id is p's pid)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(10)


# ------------------------------------------------------------------- backends

def redis_call(port, payload, timeout=10.0):
    """Send raw RESP bytes, return the first reply's bytes (bulk strings read
    whole).  Small admin use only (INFO)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        for _ in range(10000):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"$") and b"\r\n" in data:
                head, _, rest = data.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    return rest[:int(head[1:])]
            elif not data.startswith(b"$") and data.endswith(b"\r\n"):
                return data
    raise OSError(f"short reply from redis on port {port}")


def redis_info(port):
    text = redis_call(port, b"INFO stats\r\n").decode()
    return dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)


def memcached_stats(port):
    reply = sptest.tcp_request(port, b"stats\r\n", until=b"END\r\n", timeout=10.0)
    if reply is None:
        raise OSError(f"memcached on port {port} does not answer stats")
    stats = {}
    for line in reply.decode().splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "STAT":
            stats[f[1]] = f[2]
    return stats


def backend_counters(bench, proto):
    """Commands the backends of `proto` have processed so far, summed, and
    read hits/misses (redis) or get misses (memcached)."""
    c = {"commands": 0, "hits": 0, "misses": 0, "each": [], "each_reads": []}
    if proto == "redis":
        for r in bench.redis:
            info = redis_info(r.port)
            hits, misses = int(info["keyspace_hits"]), int(info["keyspace_misses"])
            c["each"].append(int(info["total_commands_processed"]))
            c["each_reads"].append(hits + misses)   # keys looked up, MGET's each
            c["hits"] += hits
            c["misses"] += misses
    else:
        for m in bench.memcached:
            st = memcached_stats(m.port)
            hits, misses = int(st["get_hits"]), int(st["get_misses"])
            c["each"].append(int(st["cmd_get"]) + int(st["cmd_set"]))
            c["each_reads"].append(hits + misses)
            c["hits"] += hits
            c["misses"] += misses
    c["commands"] = sum(c["each"])
    return c


def prefill_redis(bench, size):
    """SET every key redis-benchmark -r KEYSPACE can ask for, on both redis
    servers, so GET and MGET always hit whichever server a key maps to."""
    value = b"v" * size
    for r in bench.redis:
        with socket.create_connection(("127.0.0.1", r.port), timeout=30) as s:
            for start in range(0, KEYSPACE, 5000):
                cmds = b"".join(
                    b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n" % (i, size, value)
                    for i in range(start, min(start + 5000, KEYSPACE)))
                s.sendall(cmds)
                _read_ok_replies(s, min(5000, KEYSPACE - start))


def _read_ok_replies(sock, n):
    data = b""
    for _ in range(100000):
        if data.count(b"\r\n") >= n:
            break
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise OSError("redis closed the connection during prefill")
        data += chunk
    if data.count(b"+OK\r\n") != n:
        raise OSError(f"prefill: expected {n} +OK, got {data[:80]!r}...")


# -------------------------------------------------------------------- targets

class Target:
    """Where the load goes: a proxy (proc) or straight to backend #1 (no proc).
    `reason` is set when the target is n/a."""

    def __init__(self, name, redis_port=None, mc_port=None, proc=None, reason=None):
        self.name, self.redis_port, self.mc_port = name, redis_port, mc_port
        self.proc, self.reason = proc, reason

    def port(self, proto):
        return self.redis_port if proto == "redis" else self.mc_port

    def check_alive(self):
        """Mark the target n/a if its proxy died; True if usable."""
        if self.reason is None and self.proc is not None and not self.proc.alive():
            self.reason = (f"{self.name} exited during the bench (status "
                           f"{self.proc.returncode}); log tail in the report notes")
        return self.reason is None


def pool_conf(redis_servers, mc_servers, backlog=None):
    """A callable giving the nutcracker config text on fresh listen ports:
    the pools `bench_redis` and `bench_mc`, ketama + fnv1a_64 (and
    `backlog` when given)."""
    def pool(name, port, redis, servers):
        lines = [f"{name}:", f"  listen: 127.0.0.1:{port}", "  hash: fnv1a_64",
                 "  distribution: ketama", f"  redis: {'true' if redis else 'false'}"]
        lines += [f"  backlog: {backlog}"] if backlog else []
        lines += ["  servers:"]
        lines += [f"   - 127.0.0.1:{s.port}:1" for s in servers]
        return "\n".join(lines) + "\n"

    def text():
        return (pool("bench_redis", sptest.free_port(), True, redis_servers) + "\n" +
                pool("bench_mc", sptest.free_port(), False, mc_servers))
    return text


def start_nutcracker(h, conf):
    try:
        nc = h.start_nutcracker(conf)
    except sptest.StartError as e:
        return Target("nutcracker", reason=f"did not start: {_first_line(e)}")
    return Target("nutcracker", nc.pools["bench_redis"], nc.pools["bench_mc"], nc.proc)


def shardproxy_exe():
    env = os.environ.get("SHARDPROXY_BIN")
    path = Path(env) if env else REPO / "build" / "shardproxy"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def start_shardproxy(h, conf, name="shardproxy", workers=None, global_keys=None):
    """shardproxy with the nutcracker config unchanged (plus `global:
    worker_processes` and any `global_keys`) and nutcracker's flags. Ready
    when its process tree listens on both pool ports and the master counts
    every worker serving. If it exits or never gets ready, the target is
    n/a with the reason."""
    exe = shardproxy_exe()
    workers = workers or SHARDPROXY_WORKERS[name]
    if exe is None:
        return Target(name, reason="binary not found (build/shardproxy or $SHARDPROXY_BIN)")

    def once():
        text = (f"global:\n  worker_processes: {workers}\n"
                + "".join(f"  {k}: {v}\n" for k, v in (global_keys or {}).items())
                + conf())
        tag = h.unique(name)
        conf_path = h.tmp.file(f"{tag}.yml", text)
        log_path = h.tmp.path / f"{tag}.log"
        pools = sptest.conf_listens(text)
        stats_port = sptest.free_port_block(1 + workers)
        argv = [exe, "-c", conf_path, "-o", log_path, "-s", stats_port,
                "-a", "127.0.0.1"]

        def ready(proc):
            tree = proc_tree(proc.pid)
            return (all(any(sptest.owns_listener(p, port) for p in tree) and
                        sptest.tcp_accepts(port) for port in pools.values())
                    and sptest.read_stats(stats_port).get("workers") == workers)
        proc = h.start_process(tag, argv, ready, f"{name} listening on {sorted(pools)}",
                               extra_logs=[log_path])
        return Target(name, pools["bench_redis"], pools["bench_mc"], proc)

    try:
        return sptest.start_with_retries(sptest.START_ATTEMPTS, once)
    except sptest.StartError as e:
        return Target(name, reason=f"did not start: {_first_line(e)}")


def _first_line(exc):
    return str(exc).strip().splitlines()[0][:200]


# ---------------------------------------------------------------------- bench

class Bench:
    """Everything one bench run owns: the harness (temp dir + processes), the
    backends, the targets, perf availability, and the options."""

    def __init__(self, args):
        self.args = args
        self.harness = sptest.Harness("bench")
        self.rundir = self.harness.tmp.path / "runs"
        self.rundir.mkdir()
        self.redis, self.memcached, self.targets = [], [], []
        self.perf_ok, self.perf_reason = False, "not probed"
        self.notes = []
        self.seq = 0
        self.idle = None            # run_idle's result
        self.storm = None           # run_storm's result
        self.instr = None           # run_instructions's result
        self.free_at_start = None   # cores idle before the backends started
        self.cluster = None         # cluster_cell.run's result
        self.profile = None         # cpu_profile.run's result

    def start(self):
        h = self.harness
        self.free_at_start = free_cores()
        log(f"free cores before starting: {self.free_at_start:.2f} of {NCPU}")
        self.redis = [h.start_redis() for _ in range(2)]
        self.memcached = [h.start_memcached(extra_args=["-m", "1024"]) for _ in range(2)]
        log("backends: redis " + ", ".join(str(r.port) for r in self.redis) +
            "; memcached " + ", ".join(str(m.port) for m in self.memcached))
        conf = pool_conf(self.redis, self.memcached)
        wanted = self.args.targets.split(",")
        if "nutcracker" in wanted:
            self.targets.append(start_nutcracker(h, conf))
        for name in SHARDPROXY_WORKERS:
            if name in wanted:
                self.targets.append(start_shardproxy(
                    h, conf, name, global_keys=SHARDPROXY_GLOBALS.get(name)))
        if "direct" in wanted:
            self.targets.append(Target("direct", self.redis[0].port, self.memcached[0].port))
        for t in self.targets:
            log(f"target {t.name}: " + (f"n/a -- {t.reason}" if t.reason else
                f"redis pool :{t.redis_port}, memcached pool :{t.mc_port}"
                + (f", pid {t.proc.pid}" if t.proc else "")))
        self._probe_perf()

    def _probe_perf(self):
        if self.args.no_perf:
            self.perf_ok, self.perf_reason = False, "disabled by --no-perf"
        else:
            self.perf_ok, self.perf_reason = perf_probe(self.redis[0].pid)
        log("perf: " + ("raw_syscalls:sys_enter counting works" if self.perf_ok
                        else f"n/a -- {self.perf_reason}"))

    def usable_targets(self):
        return [t for t in self.targets if t.check_alive()]

    def next_tag(self, cell, target):
        self.seq += 1
        return f"{self.seq:04d}-{cell.name}-{target.name}"


def loadgen_argv(bench, cell, target, n):
    port = target.port(cell.proto)
    if cell.proto == "redis":
        return redis_argv(cell, port, n)
    return memcaslap_argv(bench, cell, port, n)


def run_once(bench, cell, target, n, perf=False):
    """One bounded run of `cell` through `target` (under perf stat when `perf`
    and the target is a proxy); returns the measurements (or an "error")."""
    pids = proc_tree(target.proc.pid) if target.proc and perf else []
    tag = bench.next_tag(cell, target)
    argv = loadgen_argv(bench, cell, target, n)
    before, counters0 = Snapshot(bench, target), backend_counters(bench, cell.proto)
    status, out, errs, counts = run_loadgen(argv, pids, bench.rundir, tag,
                                            bench.args.run_timeout)
    after, counters1 = Snapshot(bench, target), backend_counters(bench, cell.proto)
    run = {"target": target.name, "tag": tag, "seconds": round(after.t - before.t, 3),
           "other_cpu": round(other_cpu_fraction(before, after), 4)}
    if status is None:
        return dict(run, error=f"timed out after {bench.args.run_timeout}s")
    try:
        res = (parse_redis_benchmark(out, n) if cell.proto == "redis" else parse_memcaslap(out))
    except (ValueError, IndexError, KeyError) as e:
        tail = " / ".join((errs or out).strip().splitlines()[-2:])
        return dict(run, error=f"exit {status}: {e}; {tail[:200]}")
    run.update(res)
    seen = counters1["commands"] - counters0["commands"]
    run["backend_commands"] = seen
    # the guard rail "same share of keys per backend": backend #1's share of
    # the keys (reads: keys looked up, MGET's one by one; sets: commands)
    kind = "each_reads" if cell.op in ("get", "mget") else "each"
    per = [b - a for a, b in zip(counters0[kind], counters1[kind])]
    if sum(per) > 0:
        run["backend1_share"] = per[0] / sum(per)
    reads = (counters1["hits"] - counters0["hits"]) + (counters1["misses"] - counters0["misses"])
    if cell.op in ("get", "mget") and reads:
        run["hit_ratio"] = round((counters1["hits"] - counters0["hits"]) / reads, 4)
    if seen < MIN_FORWARDED * res["requests"]:
        return dict(run, error=f"backends saw {seen} commands for {res['requests']} "
                    f"requests (errors instead of replies?)")
    if target.proc:
        run["cpu_us_per_req"] = (after.proxy - before.proxy) / HZ * 1e6 / res["requests"]
        if "raw_syscalls:sys_enter" in counts:
            run["syscalls_per_req"] = counts["raw_syscalls:sys_enter"] / res["requests"]
        if "task-clock" in counts:
            run["perf_cpu_us_per_req"] = counts["task-clock"] * 1e3 / res["requests"]
    return run


def prepare_cell(bench, cell, targets):
    """Prefill (redis reads), then one short unmeasured warm-up run per target."""
    if cell.needs_prefill():
        prefill_redis(bench, cell.size)
    n = max(1000, run_count(cell, bench.args) // 10)
    for t in targets:
        run = run_once(bench, cell, t, n)
        if "error" in run:
            log(f"  warm-up {t.name}: {run['error']}")


def run_round(bench, cell, order, n, perf):
    """Every target once, in `order`; repeated (bounded) while another process
    used more than --busy-limit of the machine during one of the runs.  Keeps
    the quietest attempt."""
    limit, retries = bench.args.busy_limit, bench.args.retries
    best = None
    for attempt in range(retries + 1):
        runs = [run_once(bench, cell, t, n, perf) for t in order]
        noisy = max(r["other_cpu"] for r in runs)
        if best is None or noisy < best[0]:
            best = (noisy, runs)
        if noisy <= limit:
            break
        log(f"  other processes used {noisy:.0%} of the CPUs during a run"
            + (" -- repeating the round" if attempt < retries else ""))
    return {"perf": perf, "attempts": attempt + 1, "noisy": best[0] > limit,
            "other_cpu": best[0], "runs": best[1]}


def round_plan(bench, targets):
    """[(targets in order, perf?)]: the timed rounds (every target, order
    reversed every other round), then the perf rounds (proxies only)."""
    plan = []
    for r in range(bench.args.rounds):
        plan.append((targets if r % 2 == 0 else targets[::-1], False))
    proxies = [t for t in targets if t.proc is not None]
    if bench.perf_ok and proxies:
        for r in range(bench.args.perf_rounds):
            plan.append((proxies if r % 2 == 0 else proxies[::-1], True))
    return plan


def run_cell(bench, cell, deadline):
    targets = bench.usable_targets()
    n = run_count(cell, bench.args)
    log(f"cell {cell.name} ({cell.what}): {n} requests per run, targets "
        + ", ".join(t.name for t in targets))
    prepare_cell(bench, cell, targets)
    rounds = []
    for i, (order, perf) in enumerate(round_plan(bench, targets)):
        if time.monotonic() > deadline:
            bench.notes.append(f"{cell.name}: stopped after {i} rounds (--max-minutes reached)")
            break
        order = [t for t in order if t.check_alive()]
        if not order:
            break
        rnd = run_round(bench, cell, order, n, perf)
        rounds.append(rnd)
        log(f"  {'perf round' if perf else 'round'} {i + 1}: "
            + "; ".join(_brief(run) for run in rnd["runs"]))
    return {"cell": cell.name, "what": cell.what, "requests_per_run": n, "rounds": rounds}


def _brief(run):
    if "error" in run:
        return f"{run['target']} ERROR {run['error'][:80]}"
    s = f"{run['target']} {run['rps']:.0f}/s"
    if "cpu_us_per_req" in run:
        s += f" {run['cpu_us_per_req']:.2f}us"
    if "syscalls_per_req" in run:
        s += f" {run['syscalls_per_req']:.2f}sc"
    return s


# ------------------------------------------------------------ idle memory

# a request the proxy forwards (a PING it would answer itself): the reply
# comes from a backend, as an app server's requests do
IDLE_GET = b"*2\r\n$3\r\nGET\r\n$10\r\nbench:idle\r\n"


def _fd_count(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def memory_kb(pids):
    """{rss, pss, uss} of the processes, summed (kB), from smaps_rollup.
    RSS counts a shared page (library code) in every process that maps it;
    PSS divides it among them; USS (private pages) is what exiting would
    free."""
    total = {"rss": 0, "pss": 0, "uss": 0}
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[0] == "Rss:":
                total["rss"] += int(f[1])
            elif f[0] == "Pss:":
                total["pss"] += int(f[1])
            elif f[0] in ("Private_Clean:", "Private_Dirty:"):
                total["uss"] += int(f[1])
    return total


def _get_once(sock):
    sock.sendall(IDLE_GET)
    if sock.recv(64) != b"$-1\r\n":
        raise OSError("a client got no (nil) reply to its GET")


def idle_once(bench, name, n):
    """A fresh `name` proxy; its memory before and after n clients connected,
    made one request each (a GET of a missing key, forwarded to a backend),
    one after another, and went idle (the memory of the connections, not of
    a burst of requests). None: could not measure."""
    h, conf = bench.harness, pool_conf(bench.redis, bench.memcached)
    target = (start_nutcracker(h, conf) if name == "nutcracker"
              else start_shardproxy(h, conf, name))
    if target.reason:
        bench.notes.append(f"idle {name}: {target.reason}")
        return None
    socks = []
    try:
        pids = proc_tree(target.proc.pid)
        fds_before = _fd_count(pids)
        with socket.create_connection(("127.0.0.1", target.redis_port), timeout=10) as s:
            _get_once(s)
        before = memory_kb(pids)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", target.redis_port), timeout=10)
            socks.append(s)
            _get_once(s)
        sptest.poll_until(lambda: _fd_count(pids) >= fds_before + n,
                          f"{n} connections held", timeout=30)
        after = memory_kb(pids)
        return {"target": name, "connections": n, "before_kb": before, "after_kb": after,
                "bytes_per_conn": (after["rss"] - before["rss"]) * 1024 / n}
    except (OSError, sptest.StartError) as e:     # StartError: poll timed out
        bench.notes.append(f"idle {name}: {_first_line(e)}")
        return None
    finally:
        for s in socks:
            s.close()
        target.proc.stop()


def run_idle(bench):
    """--idle-rounds rounds of idle_once over the proxies, order alternating."""
    names = [t.name for t in bench.targets if t.proc is not None and not t.reason]
    n = bench.args.idle
    log(f"idle: {n} idle connections per proxy, {bench.args.idle_rounds} rounds, "
        f"fresh proxies each round")
    rounds = []
    for r in range(bench.args.idle_rounds):
        runs = [idle_once(bench, name, n) for name in (names if r % 2 == 0 else names[::-1])]
        runs = [run for run in runs if run is not None]
        log(f"  idle round {r + 1}: " + "; ".join(
            f"{run['target']} +{run['after_kb']['rss'] - run['before_kb']['rss']} kB "
            f"({run['bytes_per_conn']:.0f} B/conn)" for run in runs))
        rounds.append(runs)
    return {"connections": n, "rounds": rounds}


def _targets_seen(rounds):
    """The targets of rounds of runs, in the order they first ran."""
    names = []
    for runs in rounds:
        names += [run["target"] for run in runs if run["target"] not in names]
    return names


def idle_rows(idle):
    """Markdown lines: memory per target (medians) and the paired ratios."""
    if not idle or not idle["rounds"]:
        return []
    names = _targets_seen(idle["rounds"])
    rows = [f"{idle['connections']:,} client connections, each after one request "
            "(a GET forwarded to a backend, one client after another), then idle; fresh proxies each round; "
            "summed over the proxy's processes (master and workers for shardproxy). "
            "Added = RSS with the clients minus RSS before them: the memory the "
            "connections cost. RSS counts the pages of shared libraries in each "
            "process; PSS shares them out; USS is private memory only.", "",
            "| target | added RSS kB | bytes per connection | vs nutcracker "
            "| RSS kB | PSS kB | USS kB | USS vs nutcracker |",
            "|---|--:|--:|--:|--:|--:|--:|--:|"]

    def paired(name, value):
        ratios = []
        for rr in idle["rounds"]:
            by = {run["target"]: run for run in rr}
            if name in by and "nutcracker" in by and value(by["nutcracker"]) > 0:
                ratios.append(value(by[name]) / value(by["nutcracker"]))
        return _median(ratios)

    for name in names:
        runs = [run for rr in idle["rounds"] for run in rr if run["target"] == name]
        nut = name == "nutcracker"
        added = _median([run["after_kb"]["rss"] - run["before_kb"]["rss"] for run in runs])
        rows.append(
            f"| {name} | {added:,.0f} "
            f"| {_median([run['bytes_per_conn'] for run in runs]):.0f} "
            f"| {'-' if nut else _fmt(paired(name, lambda r: r['bytes_per_conn']), '.3f')} "
            + "".join(f"| {_median([run['after_kb'][k] for run in runs]):,.0f} "
                      for k in ("rss", "pss", "uss"))
            + f"| {'-' if nut else _fmt(paired(name, lambda r: r['after_kb']['uss']), '.3f')} |")
    return rows


# ---------------------------------------------------------- connection storm

STORM_BACKLOG = 512            # the pool's listen backlog in the storm cell
STORM_WORKERS = 2
# the storm's targets: nutcracker, and shardproxy with 2 workers in each
# accept mode (name -> accept_mode; None: nutcracker)
STORM_TARGETS = {"nutcracker": None, "shardproxy-2w-reuseport": "reuseport",
                 "shardproxy-2w-lock": "lock"}


def storm_targets(args):
    """The storm's targets --targets allows: nutcracker, and both accept
    modes of shardproxy when shardproxy-2w is one of them."""
    wanted = args.targets.split(",")
    return [name for name, mode in STORM_TARGETS.items()
            if (mode is None and "nutcracker" in wanted)
            or (mode is not None and "shardproxy-2w" in wanted)]


def _worker_clients(path, workers):
    """Clients each shardproxy worker holds in pool bench_redis, from its own
    stats (worker_stats_listen)."""
    return [sptest.read_stats(f"{path}.{i}")["bench_redis"]["client_connections"]
            for i in range(workers)]


def storm_once(bench, name, n):
    """A fresh `name` proxy (pool backlog STORM_BACKLOG); n clients connect
    at once and send one GET each (tests/integration/storm.py); measured:
    time until every client has its reply, each client's time from
    connect() to its reply, clients over 1 s, the listen-queue overflows
    (TcpExt ListenOverflows of the namespace, before and after), the RSS of
    the proxy's processes empty and with the n clients held open, and for
    shardproxy how its workers split them. None: could not measure."""
    h = bench.harness
    conf = pool_conf(bench.redis, bench.memcached, backlog=STORM_BACKLOG)
    mode = STORM_TARGETS[name]
    stats_path = None
    if mode is None:
        target = start_nutcracker(h, conf)
    else:
        stats_path = h.worker_stats_path()
        target = start_shardproxy(h, conf, name, workers=STORM_WORKERS,
                                  global_keys={"accept_mode": mode,
                                               "worker_stats_listen": stats_path})
    if target.reason:
        bench.notes.append(f"storm {name}: {target.reason}")
        return None
    storm = Storm(target.redis_port, n, payload=IDLE_GET, deadline=30.0)
    try:
        pids = proc_tree(target.proc.pid)
        fds_before = _fd_count(pids)
        with socket.create_connection(("127.0.0.1", target.redis_port), timeout=10) as s:
            _get_once(s)                # the server connection is open
        empty = memory_kb(pids)
        load = float(Path("/proc/loadavg").read_text().split()[0])
        before = Snapshot(bench, target)
        storm.run()
        after = Snapshot(bench, target)
        served = sum(1 for r in storm.reply if r == b"$-1")
        run = {"target": name, "clients": n, "served": served,
               "errors": storm.errors(), "silent": len(storm.silent()),
               "failed": sum(1 for f in storm.failed if f),
               "all_served_s": round(storm.elapsed_s, 3) if served == n else None,
               "connect_loop_s": round(storm.connect_loop_s, 3),
               "p50_ms": _ms(storm.percentile(50)), "p99_ms": _ms(storm.percentile(99)),
               "max_ms": _ms(max(storm.answered(), default=None)),
               "over_1s": storm.over(1.0), "listen_overflows": storm.overflows,
               "loadavg": load, "other_cpu": round(other_cpu_fraction(before, after), 4)}
        if stats_path is None:          # fds: the clients and the one server
            sptest.poll_until(lambda: _fd_count(pids) >= fds_before + served,
                              f"{served} clients held", timeout=30)
        else:
            sptest.poll_until(lambda: sum(_worker_clients(stats_path, STORM_WORKERS))
                              == served, f"{served} clients held", timeout=30)
            split = _worker_clients(stats_path, STORM_WORKERS)
            run["per_worker"] = split
            run["balance"] = round(max(split) / max(1, min(split)), 3)
        held = memory_kb(pids)
        run.update(empty_kb=empty, held_kb=held,
                   rss_bytes_per_conn=(held["rss"] - empty["rss"]) * 1024 / n)
        return run
    except (OSError, sptest.StartError) as e:     # StartError: poll timed out
        bench.notes.append(f"storm {name}: {_first_line(e)}")
        return None
    finally:
        storm.close()
        target.proc.stop()


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def run_storm(bench):
    """--storm-rounds rounds of storm_once over the storm's targets, the
    order reversed every other round, fresh proxies each time."""
    names, n = storm_targets(bench.args), bench.args.storm
    log(f"storm: {n} clients at once, {bench.args.storm_rounds} rounds, "
        f"fresh proxies each time: {', '.join(names)}")
    rounds = []
    for r in range(bench.args.storm_rounds):
        runs = [storm_once(bench, name, n) for name in (names if r % 2 == 0 else names[::-1])]
        runs = [run for run in runs if run is not None]
        log(f"  storm round {r + 1}: " + "; ".join(_storm_brief(run) for run in runs))
        rounds.append(runs)
    return {"clients": n, "backlog": STORM_BACKLOG, "workers": STORM_WORKERS,
            "rounds": rounds}


def _storm_brief(run):
    s = (f"{run['target']} all served {_fmt(run['all_served_s'], '.2f')} s, "
         f"p99 {_fmt(run['p99_ms'], '.0f')} ms, {run['over_1s']} over 1 s, "
         f"{run['listen_overflows']} overflows, {run['rss_bytes_per_conn']:.0f} B/conn")
    if "per_worker" in run:
        s += f", workers {'/'.join(map(str, run['per_worker']))}"
    return s


def storm_rows(storm):
    """Markdown lines: medians per target, then every run."""
    if not storm or not storm["rounds"]:
        return []
    names = _targets_seen(storm["rounds"])
    rows = [f"{storm['clients']:,} clients connect at once from one process "
            "(non-blocking connects in a loop, tests/integration/storm.py) and send "
            "one GET each (forwarded to a backend); pool `backlog: "
            f"{storm['backlog']}`; shardproxy with {storm['workers']} workers in "
            "each accept mode; fresh proxies each round, the order reversed every "
            "other round. All served: from the first connect() to the last reply. "
            "p50/p99: each client's time from its connect() to its reply. Over 1 s: "
            "clients whose reply took more than a second (a SYN dropped at a full "
            "listen queue is sent again after 1 s). Overflows: the TcpExt "
            "ListenOverflows delta (/proc/net/netstat; it counts every listener "
            "of the network namespace). Bytes per connection: RSS of the proxy's "
            "processes with every client held open minus before the storm, over "
            "the clients. Workers: max/min of the clients each shardproxy worker "
            "holds (worker_stats_listen).", "",
            "| target | all served s | p50 ms | p99 ms | max ms | over 1 s "
            "| listen overflows | RSS bytes per conn | workers max/min | runs |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for name in names:
        runs = [run for rr in storm["rounds"] for run in rr if run["target"] == name]
        med = lambda key: _median([run.get(key) for run in runs])
        rows.append(
            f"| {name} | {_fmt(med('all_served_s'), '.2f')} | {_fmt(med('p50_ms'), '.1f')} "
            f"| {_fmt(med('p99_ms'), '.1f')} | {_fmt(med('max_ms'), '.0f')} "
            f"| {_fmt(med('over_1s'), '.0f')} | {_fmt(med('listen_overflows'), '.0f')} "
            f"| {_fmt(med('rss_bytes_per_conn'), '.0f')} "
            f"| {_fmt(med('balance'), '.3f') if 'balance' in runs[0] else '-'} "
            f"| {len(runs)} |")
    rows += ["", "Every run (round: target, all served s, p99 ms, over 1 s, "
             "overflows, B/conn, clients per worker, load average):", ""]
    for r, runs in enumerate(storm["rounds"]):
        rows.append(f"- round {r + 1}: " + "; ".join(
            f"{run['target']} {_fmt(run['all_served_s'], '.2f')}, "
            f"{_fmt(run['p99_ms'], '.0f')}, {run['over_1s']}, {run['listen_overflows']}, "
            f"{run['rss_bytes_per_conn']:.0f}"
            + (f", {'/'.join(map(str, run['per_worker']))}" if "per_worker" in run else "")
            + f", {run['loadavg']:.1f}" for run in runs))
    return rows


# ---------------------------------------------------------------- aggregation

METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "syscalls_per_req",
           "backend1_share")


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _rounds_for(metric, cell_result):
    """Syscalls come from the perf rounds, everything else from the timed ones."""
    want_perf = metric == "syscalls_per_req"
    return [rnd for rnd in cell_result["rounds"] if rnd["perf"] == want_perf]


def summarize(cell_result, targets):
    """Per target: median of each metric over its rounds, rps spread
    ((max-min)/median), run and error counts; plus the paired ratios
    shardproxy/nutcracker (median over rounds where both ran)."""
    summary = {}
    for t in targets:
        runs = [run for rnd in cell_result["rounds"] for run in rnd["runs"]
                if run["target"] == t.name]
        s = {"runs": len(runs), "errors": [run["error"] for run in runs if "error" in run]}
        for m in METRICS:
            s[m] = _median([run.get(m) for rnd in _rounds_for(m, cell_result)
                            for run in rnd["runs"]
                            if run["target"] == t.name and "error" not in run])
        rps = [run["rps"] for rnd in _rounds_for("rps", cell_result) for run in rnd["runs"]
               if run["target"] == t.name and "error" not in run]
        s["spread"] = (max(rps) - min(rps)) / s["rps"] if len(rps) > 1 and s["rps"] else None
        summary[t.name] = s
    ratios = {}
    pairs = [(name, "nutcracker", name) for name in SHARDPROXY_WORKERS]
    pairs.append(BACKEND_PAIR + ("/".join(BACKEND_PAIR),))
    for name, base, key in pairs:
        ratios[key] = {}
        for m in METRICS:
            per_round = []
            for rnd in _rounds_for(m, cell_result):
                by = {run["target"]: run for run in rnd["runs"] if "error" not in run}
                a, b = by.get(name, {}).get(m), by.get(base, {}).get(m)
                if a is not None and b:
                    per_round.append(a / b)
            ratios[key][m] = _median(per_round)
    return summary, ratios


# -------------------------------------------------------------------- report

def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def table_rows(bench, results):
    """Markdown table lines: one row per cell and target, then the ratios."""
    head = ["| cell | target | req/s | vs direct | p50 ms | p99 ms | proxy CPU us/req "
            "| proxy syscalls/req | backend #1 share | req/s spread | runs (err) |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    ratio_head = ["| cell | shardproxy | req/s | p50 | p99 | CPU us/req | syscalls/req "
                  "| backend #1 share |",
                  "|---|---|--:|--:|--:|--:|--:|--:|"]
    rows, ratio_rows, backend_rows = [], [], []
    backend_key = "/".join(BACKEND_PAIR)
    for res in results:
        summary, ratios = res["summary"], res["ratios"]
        direct = summary.get("direct", {}).get("rps")
        for t in bench.targets:
            s = summary.get(t.name)
            if s is None or (t.reason and not s["runs"]):
                rows.append(f"| {res['cell']} | {t.name} | n/a | | | | | | | | 0 |")
                continue
            proxy = t.proc is not None
            vs = s["rps"] / direct if direct and s["rps"] and t.name != "direct" else None
            sc = s["syscalls_per_req"] if proxy and bench.perf_ok else None
            rows.append(
                f"| {res['cell']} | {t.name} | {_fmt(s['rps'], ',.0f')} | {_fmt(vs, '.2f')} "
                f"| {_fmt(s['p50_ms'], '.3f')} | {_fmt(s['p99_ms'], '.3f')} "
                f"| {_fmt(s['cpu_us_per_req'], '.2f') if proxy else '-'} "
                f"| {_fmt(sc, '.2f') if proxy else '-'} "
                f"| {_fmt(s['backend1_share'], '.4f')} "
                f"| {_fmt(s['spread'] * 100 if s['spread'] is not None else None, '.1f')}% "
                f"| {s['runs']} ({len(s['errors'])}) |")
        for name in SHARDPROXY_WORKERS:
            if any(ratios[name][m] is not None for m in METRICS):
                ratio_rows.append(f"| {res['cell']} | {name} | " + " | ".join(
                    _fmt(ratios[name][m], ".3f") for m in METRICS) + " |")
        pair = ratios.get(backend_key, {})
        if any(pair.get(m) is not None for m in METRICS):
            backend_rows.append(f"| {res['cell']} | {backend_key} | " + " | ".join(
                _fmt(pair.get(m), ".3f") for m in METRICS) + " |")
    if backend_rows:
        backend_rows = ratio_head[:2] + backend_rows
    return head + rows, ratio_head + ratio_rows, backend_rows


def scaling_rows(bench, results):
    """Markdown lines: one worker against two on the same cell, per cell.
    Free cores: the CPUs that processes other than the bench's (backends,
    proxies, load generator) left idle during the cell's runs (median); the
    load generator and the backends share those with the proxy."""
    if not all(any(t.name == n and not t.reason for t in bench.targets)
               for n in SHARDPROXY_WORKERS):
        return []
    lines = ["| cell | free cores | 1 worker req/s | 2 workers req/s | 2w / 1w req/s "
             "| 1 worker CPU us/req | 2 workers CPU us/req | 2w / 1w CPU/req |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for res in results:
        per_round = {"rps": [], "cpu_us_per_req": []}
        for rnd in _rounds_for("rps", res):
            by = {run["target"]: run for run in rnd["runs"] if "error" not in run}
            one, two = by.get("shardproxy"), by.get("shardproxy-2w")
            for m in per_round:
                if one and two and one.get(m) and two.get(m) is not None:
                    per_round[m].append(two[m] / one[m])
        other = [run["other_cpu"] for r in res["rounds"] if not r["perf"] for run in r["runs"]]
        free = NCPU * (1 - statistics.median(other)) if other else None
        s1, s2 = res["summary"].get("shardproxy", {}), res["summary"].get("shardproxy-2w", {})
        lines.append(
            f"| {res['cell']} | {_fmt(free, '.2f')} | {_fmt(s1.get('rps'), ',.0f')} "
            f"| {_fmt(s2.get('rps'), ',.0f')} | {_fmt(_median(per_round['rps']), '.3f')} "
            f"| {_fmt(s1.get('cpu_us_per_req'), '.2f')} | {_fmt(s2.get('cpu_us_per_req'), '.2f')} "
            f"| {_fmt(_median(per_round['cpu_us_per_req']), '.3f')} |")
    return lines


def instruction_cells(args):
    """The cells of bench/instructions.py this run measures: those matching
    --cells (every one without it; a few in quick mode)."""
    if args.instructions_n <= 0:
        return []
    if args.cells:
        return instructions.select(args.cells)
    return instructions.select("redis-get-16-p1,mc-mget10-16" if args.quick else "*")


def run_instructions(bench):
    """Instructions (callgrind) and syscalls (strace) per request of
    shardproxy's worker and nutcracker, one client: load-independent."""
    chosen = instruction_cells(bench.args)
    log(f"instructions and syscalls per request: {len(chosen)} cells, "
        f"{bench.args.instructions_n} requests each, under callgrind and strace")
    res = instructions.measure_all(chosen, bench.args.instructions_n,
                                   log=lambda m: log("  " + m))
    return {"n": bench.args.instructions_n, "cells": [c.name for c in chosen],
            "lines": instructions.table(res, chosen), "errors": res["errors"]}


def machine_info():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"nproc": NCPU, "cpu": model, "kernel": platform.release(),
            "memory_gib": round(int(mem) / 1048576, 1)}


def tool_version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    text = (r.stdout + r.stderr).strip().splitlines()
    return text[0].strip() if text else f"exit {r.returncode}"


def source_revision():
    """The repository commit the shardproxy build comes from (+ "-dirty")."""
    try:
        r = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return r.stdout.strip() or "unknown"


def versions():
    sp = shardproxy_exe()
    return {"nutcracker": tool_version(["nutcracker", "-V"]),
            "shardproxy": (f"{tool_version([sp, '-V'])} ({sp}, source {source_revision()})"
                           if sp else "not built"),
            "redis-server": tool_version(["redis-server", "--version"]),
            "redis-benchmark": tool_version(["redis-benchmark", "--version"]),
            "memcached": tool_version(["memcached", "-V"]),
            "memcaslap": tool_version(["memcaslap", "-V"]),
            "perf": tool_version(["perf", "--version"]),
            "python": platform.python_version()}


METHOD = """\
- Backends: 2 `redis-server --save '' --appendonly no`, 2 `memcached -m 1024 -U 0`,
  all on free loopback ports, started by the bench. Each proxy gets the same
  nutcracker config (pool `bench_redis` over the 2 redis, pool `bench_mc` over the
  2 memcached; ketama, fnv1a_64, defaults otherwise) and `-s <port> -a 127.0.0.1
  -o <log>`. `direct` sends the same load straight to backend #1 (no proxy).
- Load: redis-benchmark, {clients} clients, `-r {keyspace}` random keys
  (`key:000000000000`..), `-d` value size, `-P` pipeline, `-k 0` for new
  connection per request; MGET = `MGET key:__rand_int__` x10. Redis reads are
  preceded by a prefill of all {keyspace} keys on both redis (hit ratio checked).
  memcaslap `-T {mct} -c {clients} -X <size> -w {mcw}` (the `-t1` cells: `-T 1`,
  one load thread for the 50 clients; `mc-mget10-*`: `-d 10`, gets of 10 keys,
  req/s and latency per get, CPU and syscalls per key): get cells are get-only
  after memcaslap's own untimed prefill of {clients}x1024 keys; their req/s and
  latency cover the timed gets only, while proxy CPU and syscalls per request
  divide by all ops the proxy handled, the prefill SETs included (about 15%).
  Set cells are set-only with `-o {mco}` (99% overwrite existing keys, so
  memcached does not fill up).
- The `-c1` cells: one synchronous client (redis-benchmark `-c 1`, memcaslap
  `-T 1 -c 1`), nothing to batch with: their syscalls/req is the cost of one
  request's whole path, their p50/p99 the latency the proxy adds alone.
- Per cell: one unmeasured warm-up run per target, then {rounds} timed rounds; in
  each round every target runs once with the same request count, the order
  reversed every other round; then {perf_rounds} perf round(s), proxies only.
  A round in which processes other than ours used more than {busy:.0%} of the
  CPUs (/proc/stat user+nice+system+steal minus the CPU of the backends,
  proxies, load generator, perf and this script) is repeated, at most
  {retries} times.
- Per run: req/s and latency from the load generator (redis-benchmark's p50/p99;
  memcaslap's are interpolated from its log2 histogram, so coarse);
  proxy CPU us/req = utime+stime (incl. reaped children) of the proxy's process
  tree from /proc/<pid>/stat, before/after the run, / requests. Proxy
  syscalls/req = `perf stat -e raw_syscalls:sys_enter -p <proxy pids>` /
  requests, from the perf rounds only: the counting tracepoint itself costs the
  proxy CPU on every syscall (10-40% more CPU/request here; see Notes), so the
  timed rounds run without perf. Each run is checked: the backends must
  have processed >= 98% as many commands as requests.
- Table: medians over rounds; `vs direct` = req/s / direct's req/s; spread =
  (max-min)/median of req/s; backend #1 share = backend #1's share of the
  keys both backends served during the run (INFO / stats before and after:
  keys looked up for GET and MGET, each key of an MGET counted; SET
  commands for SET): the same placement gives the same share (direct: 1).
  It shows a split of the key space different from nutcracker's (ketama
  over these two servers gives backend #1 about 52.5%); it cannot tell two
  placements that split it alike. Placement key by key is checked exactly
  by tests/integration/test_placement.py. The memcaslap set cells overwrite
  a small sample of keys (`-o`), so their share spreads by a few percent
  from run to run for every target, nutcracker included. Ratios are shardproxy/nutcracker, median of the
  per-round ratios (both ran in the same round)."""


def render_markdown(bench, results, info, vers, started, elapsed, argv):
    """The report: machine, versions, targets, the cell tables, ratios, idle
    memory, method and notes."""
    main_rows, ratio_rows, backend_rows = table_rows(bench, results)
    out = ["# shardproxy vs nutcracker: benchmark results", "",
           f"Generated by `bench/bench.py` ({'QUICK mode: smoke test, not for comparison' if bench.args.quick else 'full mode'}) "
           f"on {started} in {elapsed / 60:.1f} min; command: `{' '.join(argv)}`.", "",
           "## Machine", "",
           f"- CPUs: {info['nproc']} x {info['cpu']}; memory {info['memory_gib']} GiB; "
           f"kernel {info['kernel']}",
           "- The load generator, the proxies and the 4 backends all share these "
           "CPUs (loopback), so req/s is a whole-system figure; proxy CPU per request "
           "is the proxy's own cost.", "",
           "## Versions", ""]
    out += [f"- {k}: {v}" for k, v in vers.items()]
    out += ["", "## Targets", ""]
    for t in bench.targets:
        out.append(f"- {t.name}: " + (f"n/a -- {t.reason}" if t.reason else "measured"))
    out.append(f"- perf syscall counting: " + ("yes" if bench.perf_ok else f"n/a -- {bench.perf_reason}"))
    out += ["", "## Results (medians)", ""] + main_rows
    out += ["", "## shardproxy / nutcracker (median of per-round ratios; < 1 is "
            "better for latency, CPU and syscalls, > 1 for req/s)", ""] + ratio_rows
    scaling = scaling_rows(bench, results)
    if scaling:
        out += ["", "## Scaling: one worker and two", "",
                f"shardproxy with `worker_processes: 1` and `2` in the same rounds. "
                f"Free cores before the bench started: "
                f"{_fmt(bench.free_at_start, '.2f')} of {NCPU}. Free cores per cell: "
                "what processes other than the bench's left idle during its runs "
                "(median); the load generator and the 4 backends run on those too, "
                "so two workers cannot have two cores to themselves here. "
                "2w / 1w: median of the per-round ratios. The goal (issue 20): "
                "N workers on N free cores serve at least 0.9 N times one worker; "
                "docs/capacity-model.md carries these figures to a bigger host.", ""]
        out += scaling
    if bench.instr:
        out += ["", "## Instructions and syscalls per request (load-independent)", "",
                f"bench/instructions.py: each proxy under valgrind's callgrind "
                f"(shardproxy with one worker: the worker's count) and then under "
                f"`strace -f -c`, in front of its own 2 redis and 2 memcached (the same "
                f"ketama config), {bench.instr['n']} requests from one client "
                f"(sequential; -p16: 16 at a time; newconn: a connection per request), "
                f"every reply checked; (count after the requests - count of a run "
                f"with none) / requests. Counts do not move with the machine's load "
                f"(callgrind to ~0.1%), unlike CPU time on shared cores. Ratio: "
                f"shardproxy / nutcracker.", ""]
        out += bench.instr["lines"]
        out += [f"- error: {e}" for e in bench.instr["errors"]]
    if bench.profile:
        prof_rows, prof_ratio = cpu_profile.rows(bench.profile, _fmt)
        out += ["", "## Where the CPU goes (perf record)", "",
                f"Each proxy ran each of these cells {bench.profile['rounds']} more times "
                f"under `perf record -g -e cpu-clock -F {bench.profile['freq']}` (the order "
                "reversed the second time). Every sample is put in one bucket by its "
                "call chain: user space; socket sends (`write`, whichever call made them, "
                "io_uring's included), `of which delivery` the part spent running the "
                "receiving socket's TCP input (on loopback the sender does it, and wakes "
                "the receiver); socket receives (`read`); else the system call it is "
                "under (`io_uring`: the ring's own work and its polls); "
                "`no syscall`: interrupts, softirqs, faults. Microseconds per request = "
                "the bucket's share of the samples x the proxy's CPU per request over "
                "those runs (perf's own cost included, alike for every target).", ""]
        out += prof_rows
        out += ["", "shardproxy / nutcracker, part by part:", ""] + prof_ratio
    if backend_rows:
        out += ["", "## io_uring / epoll: shardproxy-uring / shardproxy (one worker "
                "each, median of per-round ratios)", ""] + backend_rows
    if bench.idle:
        out += ["", "## Idle connections: resident memory", ""] + idle_rows(bench.idle)
    if bench.storm:
        out += ["", "## Connection storm", ""] + storm_rows(bench.storm)
    if bench.cluster:
        out += ["", "## Redis Cluster: through the proxy vs straight to the cluster",
                ""] + cluster_cell.rows(bench.cluster, _fmt)
    out += ["", "## Method", "", METHOD.format(
        clients=CLIENTS, keyspace=KEYSPACE, mct=MC_THREADS, mcw=MC_WINDOW, mco=MC_OVERWRITE,
        busy=bench.args.busy_limit, retries=bench.args.retries,
        rounds=bench.args.rounds, perf_rounds=bench.args.perf_rounds if bench.perf_ok else 0)]
    notes = list(bench.notes) + result_notes(results)
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def perf_overhead_note(results):
    """How much perf stat itself raised each proxy's CPU per request: median
    over cells of (CPU/req in perf rounds) / (CPU/req in timed rounds)."""
    parts = []
    for name in PROXIES:
        ratios = []
        for res in results:
            by_kind = {True: [], False: []}
            for rnd in res["rounds"]:
                by_kind[rnd["perf"]] += [run["cpu_us_per_req"] for run in rnd["runs"]
                                         if run["target"] == name and "cpu_us_per_req" in run]
            if by_kind[True] and by_kind[False]:
                ratios.append(statistics.median(by_kind[True]) /
                              statistics.median(by_kind[False]))
        if ratios:
            parts.append(f"{name} x{statistics.median(ratios):.2f} "
                         f"(cells: {min(ratios):.2f}..{max(ratios):.2f})")
    if not parts:
        return []
    return ["perf stat's own cost, seen this run (CPU/req in perf rounds over timed "
            "rounds, median of cells): " + "; ".join(parts) +
            " -- why syscalls are counted in separate rounds"]


def result_notes(results):
    """Errors, repeated rounds, low hit ratios, perf's own cost; one line each."""
    notes = perf_overhead_note(results)
    for res in results:
        repeats = sum(r["attempts"] - 1 for r in res["rounds"])
        noisy = sum(1 for r in res["rounds"] if r["noisy"])
        other = [run["other_cpu"] for r in res["rounds"] for run in r["runs"]]
        if repeats or noisy:
            notes.append(f"{res['cell']}: {repeats} round(s) repeated for CPU noise, "
                         f"{noisy} of {len(res['rounds'])} kept noisy; other processes' "
                         f"CPU during runs: median {statistics.median(other):.0%}, "
                         f"max {max(other):.0%} of the machine")
        for name, s in res["summary"].items():
            for err in sorted(set(s["errors"])):
                notes.append(f"{res['cell']} {name}: {s['errors'].count(err)} run(s) failed: {err}")
        hits = [run.get("hit_ratio") for r in res["rounds"] for run in r["runs"]
                if run.get("hit_ratio") is not None]
        if hits and min(hits) < 0.99:
            notes.append(f"{res['cell']}: lowest read hit ratio {min(hits):.3f}")
    return notes


# ----------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 rounds, 1/10 of the counts, 5 cells")
    p.add_argument("--rounds", type=int, help="rounds per cell (default 5; quick 2)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every cell's request count (default 1)")
    p.add_argument("--cells", help="comma-separated cell names or globs (see --list)")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help="comma-separated subset of " + ",".join(TARGETS))
    p.add_argument("--run-timeout", type=float, default=60.0,
                   help="seconds one load-generator run may take (default 60)")
    p.add_argument("--busy-limit", type=float, default=0.10,
                   help="repeat a round when other processes used more than this "
                        "share of all CPUs during a run (default 0.10)")
    p.add_argument("--retries", type=int,
                   help="repeats of a noisy round (default 2; quick 0)")
    p.add_argument("--max-minutes", type=float, default=60.0,
                   help="stop starting new rounds after this long (default 60)")
    p.add_argument("--perf-rounds", type=int,
                   help="extra rounds under perf stat, proxies only, for syscalls/request "
                        "(default 2; quick 1)")
    p.add_argument("--no-perf", action="store_true", help="do not count syscalls")
    p.add_argument("--idle", type=int,
                   help="idle client connections for the memory measurement "
                        "(default 10000; quick 2000; 0: skip it)")
    p.add_argument("--idle-rounds", type=int,
                   help="rounds of the idle memory measurement (default 3; quick 1)")
    p.add_argument("--storm", type=int,
                   help="clients of the connection storm cell (default 10000; "
                        "quick 2000; 0: skip it)")
    p.add_argument("--storm-rounds", type=int,
                   help="rounds of the storm cell (default 3; quick 1)")
    p.add_argument("--instructions-n", type=int,
                   help="requests per cell of the instructions and syscalls table "
                        "(bench/instructions.py; default 2000; quick 300; 0: skip it)")
    p.add_argument("--cluster-rounds", type=int,
                   help="rounds of the Redis Cluster cells (default 3; quick 1; "
                        "0: skip them)")
    p.add_argument("--out", help="markdown report (default bench/RESULTS.md; "
                                 "quick: bench/RESULTS-quick.md); raw runs go beside it "
                                 "as .json")
    p.add_argument("--profile-cells",
                   help="cells profiled under perf record, comma-separated globs "
                        f"(default {cpu_profile.DEFAULT_CELLS}; quick redis-get-16-p1; "
                        "none: skip it)")
    p.add_argument("--list", action="store_true", help="list the cells and exit")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.retries is None:
        args.retries = 0 if args.quick else 2
    if args.perf_rounds is None:
        args.perf_rounds = 1 if args.quick else 2
    if args.idle is None:
        args.idle = 2000 if args.quick else 10000
    if args.idle_rounds is None:
        args.idle_rounds = 1 if args.quick else 3
    if args.storm is None:
        args.storm = 2000 if args.quick else 10000
    if args.storm_rounds is None:
        args.storm_rounds = 1 if args.quick else 3
    if args.instructions_n is None:
        args.instructions_n = 300 if args.quick else 2000
    if args.cluster_rounds is None:
        args.cluster_rounds = 1 if args.quick else 3
    bad = set(args.targets.split(",")) - set(TARGETS)
    if bad or args.rounds < 1:
        p.error(f"unknown target(s) {sorted(bad)}" if bad else "--rounds must be >= 1")
    if args.out is None:
        args.out = str(HERE / ("RESULTS-quick.md" if args.quick else "RESULTS.md"))
    return args


def list_cells(args):
    for c in all_cells():
        mark = "quick" if c.quick else ""
        print(f"{c.name:24} {run_count(c, args):>8}  {mark:6} {c.what}")
    print(f"{'storm':24} {args.storm:>8}  {'quick':6} clients connecting at once, one "
          f"GET each: {', '.join(STORM_TARGETS)} (--storm, --storm-rounds)")
    for line in cluster_cell.list_lines(args, max(1000, int(cluster_cell.COUNT * args.scale))):
        print(line)


def storm_selected(args):
    """The storm cell runs unless --storm 0 or --cells leaves it out."""
    if not args.storm:
        return False
    if not args.cells:
        return True
    return any(fnmatch.fnmatch("storm", p.strip()) for p in args.cells.split(","))


def raise_nofile(want):
    """Raise this process's descriptor limit to `want` (inherited by the
    proxies it starts), the hard limit too if it is lower and we may (root);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            pass                    # not root: up to the hard limit only
    return sptest.raise_fd_limit(want)


def raise_on_term(signum, frame):
    raise SystemExit(128 + signum)


def write_outputs(bench, results, started, t0, argv):
    info, vers = machine_info(), versions()
    md = render_markdown(bench, results, info, vers, started, time.monotonic() - t0, argv)
    out = Path(bench.args.out)
    out.write_text(md)
    raw = {"machine": info, "versions": vers, "started": started, "args": vars(bench.args),
           "perf": bench.perf_ok or bench.perf_reason,
           "targets": {t.name: t.reason or "measured" for t in bench.targets},
           "cells": results, "idle": bench.idle, "storm": bench.storm,
           "instructions": bench.instr, "free_cores_at_start": bench.free_at_start,
           "cluster": bench.cluster, "profile": bench.profile}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
    main_rows, ratio_rows, backend_rows = table_rows(bench, results)
    print("\n".join(main_rows) + "\n\nshardproxy / nutcracker:\n" + "\n".join(ratio_rows)
          + ("\n\nio_uring / epoll:\n" + "\n".join(backend_rows) if backend_rows else ""))
    log(f"wrote {out} and {out.with_suffix('.json').name}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        list_cells(args)
        return 0
    cells = select_cells(args)
    storm = storm_selected(args)
    cluster = cluster_cell.selected(args, fnmatch)
    if not cells and not storm and not cluster:
        log("no cell matches --cells")
        return 2
    for tool in ("redis-server", "redis-benchmark", "memcached", "memcaslap"):
        sptest.require_binary(tool)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited ignored
    signal.signal(signal.SIGTERM, raise_on_term)
    signal.signal(signal.SIGHUP, raise_on_term)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.monotonic()
    if args.idle or storm:
        # the proxies inherit it; root may raise the hard limit too
        limit = raise_nofile(max(args.idle, args.storm if storm else 0) + 1000)
        if limit < args.idle + 1000:
            args.idle = max(0, limit - 1000)
            log(f"idle: descriptor limit {limit}: measuring {args.idle} connections")
        if storm and limit < args.storm + 1000:
            args.storm = max(0, limit - 1000)
            log(f"storm: descriptor limit {limit}: {args.storm} clients")
    bench = Bench(args)
    try:
        bench.start()
        deadline = t0 + args.max_minutes * 60
        results = []
        for cell in cells:
            if not bench.usable_targets():
                log("no target left to measure")
                break
            res = run_cell(bench, cell, deadline)
            res["summary"], res["ratios"] = summarize(res, bench.targets)
            results.append(res)
        if args.idle and time.monotonic() < deadline:
            bench.idle = run_idle(bench)
        elif args.idle:
            bench.notes.append("idle connections: not measured (--max-minutes reached)")
        if storm and args.storm and time.monotonic() < deadline:
            bench.storm = run_storm(bench)
        elif storm and args.storm:
            bench.notes.append("connection storm: not measured (--max-minutes reached)")
        if instruction_cells(args) and time.monotonic() < deadline:
            bench.instr = run_instructions(bench)
        elif instruction_cells(args):
            bench.notes.append("instructions per request: not measured "
                               "(--max-minutes reached)")
        profiled = cpu_profile.selected_cells(args, cells, fnmatch)
        if profiled and bench.perf_ok and time.monotonic() < deadline:
            bench.profile = cpu_profile.run(bench, sys.modules[__name__], profiled)
        elif profiled:
            bench.notes.append("where the CPU goes: not measured (" +
                               ("--max-minutes reached" if bench.perf_ok
                                else f"perf: {bench.perf_reason}") + ")")
        if cluster and time.monotonic() < deadline:
            bench.cluster = cluster_cell.run(bench, sys.modules[__name__])
        elif cluster:
            bench.notes.append("cluster cells: not measured (--max-minutes reached)")
        for t in bench.targets:
            if t.proc is not None and t.reason and not t.proc.alive():
                bench.notes.append(f"{t.name} log tail: " + " / ".join(
                    t.proc.log_tail(5).splitlines()[-5:]))
        write_outputs(bench, results, started, t0, ["bench/bench.py"] + argv)
        return 0
    except (KeyboardInterrupt, SystemExit):
        log("interrupted; stopping everything")
        raise
    except BaseException:
        bench.harness.failed = True   # keep the temp dir, show log tails
        raise
    finally:
        bench.harness.close()
        log(f"done in {time.monotonic() - t0:.0f}s; every process started was stopped")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
