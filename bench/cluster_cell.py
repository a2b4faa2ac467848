"""The Redis Cluster cells of bench/bench.py: GET and SET (16 B, 50
clients, redis-benchmark) through a `distribution: redis_cluster` pool of
shardproxy against the same load sent straight to the cluster by a
cluster-aware client (`redis-benchmark --cluster`), reported as the ratio
proxy req/s / direct req/s (median of the per-round ratios).

Owns: making the cluster (6 redis-servers, 3 primaries with a replica each,
tests/integration/sp_cluster.py), starting shardproxy with a cluster pool
(1 worker, and 2 for shardproxy-2w, as --targets says), the prefill of every
key either load can read, the rounds (every target once per round per cell,
the order reversed every other round, after one unmeasured warm-up run
per target), and the report's section. Whatever
cannot run (no cluster support in redis-server, a shardproxy without cluster
pools) makes the section n/a with the reason; the rest of the bench goes on.

bench.py passes itself as `lib` (run_loadgen, parse_redis_benchmark,
redis_info, tree_ticks, HZ, log, ...), so this file holds no copy of them.
"""

import statistics
import time

import sptest
import sp_cluster

CELLS = ("cluster-get-16", "cluster-set-16")
COUNT = 100000                 # requests per run (full mode)
CLIENTS = 50
KEYSPACE = 100000
DIRECT = "direct-cluster"


def selected(args, fnmatch):
    """Runs unless --cluster-rounds 0 or --cells leaves both cells out."""
    if not args.cluster_rounds:
        return False
    if not args.cells:
        return True
    pats = [p.strip() for p in args.cells.split(",") if p.strip()]
    return any(fnmatch.fnmatch(c, p) for c in CELLS for p in pats)


def list_lines(args, run_count):
    return [f"{c:24} {run_count:>8}  {'':6} {c.split('-')[1].upper()} 16 B through a "
            f"cluster pool vs redis-benchmark --cluster (--cluster-rounds)"
            for c in CELLS]


def _argv(op, port, n, cluster):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", port, "-c", CLIENTS,
            "-n", n, "-r", KEYSPACE, "-d", 16, "-t", op, "--csv"]
    return argv + (["--cluster"] if cluster else [])


def _commands(ports, lib):
    return sum(int(lib.redis_info(p)["total_commands_processed"]) for p in ports)


def _prefill(cluster, proxy_port, lib, rundir):
    """Every key either load reads: "key:<12 digits>" (the proxy's load,
    spread over all slots, SET through the proxy) and redis-benchmark
    --cluster's "key:{tag}:<12 digits>" (one tag per primary, found by a
    short SET run, SET straight on its primary)."""
    primaries = cluster.primaries()
    status, out, errs, _ = lib.run_loadgen(
        _argv("set", primaries[0], 5000, True), [], rundir, "cluster-tags", 60)
    prefixes = {}
    for p in primaries:
        reply = sp_cluster.ask(p, "SCAN", 0, "MATCH", "key:{*", "COUNT", 1000)
        for key in reply[1] if isinstance(reply, list) else []:
            prefixes[p] = key[:-12]
            break
    value = b"v" * 16
    targets = [(proxy_port, b"key:")] + [(p, pre) for p, pre in prefixes.items()]
    for port, prefix in targets:
        with sp_cluster.RespConn(port, timeout=30) as c:
            for start in range(0, KEYSPACE, 5000):
                c.send(*[("SET", prefix + b"%012d" % i, value)
                         for i in range(start, min(start + 5000, KEYSPACE))])
                for _ in range(min(5000, KEYSPACE - start)):
                    reply = c.read()
                    if reply != b"OK":
                        raise OSError(f"prefill on {port}: {reply!r}")
    return len(prefixes)


def _start_proxy(bench, seeds, workers):
    port = sptest.free_port()
    text = (f"global:\n  worker_processes: {workers}\n"
            + sp_cluster.proxy_pool(port, seeds, timeout=3000))
    proxy = bench.harness.start_shardproxy(text)
    sp_cluster.wait_proxy_serving(port, 20.0)
    return proxy, port


def run(bench, lib):
    """The section's result dict (None: not run), notes in bench.notes."""
    args = bench.args
    why = sp_cluster.cluster_support()
    if why:
        bench.notes.append(f"cluster cells: n/a -- {why}")
        return None
    lib.log("cluster: 6 redis-servers, 3 primaries + 3 replicas")
    try:
        cluster = sp_cluster.RealCluster(bench.harness, nodes=6, replicas=1,
                                         node_timeout=5000).start()
    except (AssertionError, OSError) as e:       # StartError is one
        bench.notes.append(f"cluster cells: n/a -- no cluster: {lib._first_line(e)}")
        return None
    primaries = cluster.primaries()
    seeds = [primaries[0], [n.port for n in cluster.live() if n.port not in primaries][0]]
    wanted = args.targets.split(",")
    targets = {}                    # name -> (port, proc or None)
    for name, workers in lib.SHARDPROXY_WORKERS.items():
        if name not in wanted:
            continue
        if lib.shardproxy_exe() is None:
            bench.notes.append(f"cluster {name}: n/a -- binary not found")
            continue
        try:
            proxy, port = _start_proxy(bench, seeds, workers)
        except (AssertionError, OSError) as e:
            bench.notes.append(f"cluster {name}: n/a -- {lib._first_line(e)}")
            continue
        targets[name] = (port, proxy.proc)
    if not targets:
        bench.notes.append("cluster cells: n/a -- no shardproxy serves a cluster pool")
        return None
    targets[DIRECT] = (primaries[0], None)
    try:
        tags = _prefill(cluster, next(iter(targets.values()))[0], lib, bench.rundir)
    except OSError as e:
        bench.notes.append(f"cluster cells: prefill failed: {e}")
        return None
    n = max(1000, int(COUNT * args.scale * (0.1 if args.quick else 1.0)))
    lib.log(f"cluster: {n} requests per run, {tags} redis-benchmark tags prefilled, "
            f"targets {', '.join(targets)}")
    result = {"requests_per_run": n, "targets": list(targets), "cells": {}}
    names = list(targets)
    for cell in CELLS:
        op = cell.split("-")[1]
        for name in names:          # unmeasured: connections made, caches warm
            _run_once(bench, lib, cell, op, name, targets[name], max(1000, n // 10),
                      primaries)
        rounds = []
        for r in range(args.cluster_rounds):
            order = names if r % 2 == 0 else names[::-1]
            runs = [_run_once(bench, lib, cell, op, name, targets[name], n, primaries)
                    for name in order]
            rounds.append(runs)
            lib.log(f"  {cell} round {r + 1}: " + "; ".join(
                f"{x['target']} " + (f"ERROR {x['error'][:60]}" if "error" in x
                                     else f"{x['rps']:.0f}/s") for x in runs))
        result["cells"][cell] = {"rounds": rounds, "summary": _summary(rounds, names)}
    return result


def _run_once(bench, lib, cell, op, name, target, n, primaries):
    port, proc = target
    tag = f"{cell}-{name}-{time.monotonic_ns()}"
    t0 = lib.tree_ticks(proc.pid) if proc else None
    before = _commands(primaries, lib)
    status, out, errs, _ = lib.run_loadgen(_argv(op, port, n, proc is None), [],
                                           bench.rundir, tag, bench.args.run_timeout)
    seen = _commands(primaries, lib) - before
    run = {"target": name}
    if status is None:
        return dict(run, error=f"timed out after {bench.args.run_timeout}s")
    try:
        run.update(lib.parse_redis_benchmark(out, n))
    except (ValueError, KeyError, IndexError) as e:
        return dict(run, error=f"exit {status}: {e}; {(errs or out).strip()[-150:]}")
    run["backend_commands"] = seen
    if seen < lib.MIN_FORWARDED * n:
        return dict(run, error=f"primaries saw {seen} commands for {n} requests")
    if proc:
        run["cpu_us_per_req"] = (lib.tree_ticks(proc.pid) - t0) / lib.HZ * 1e6 / n
    return run


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _summary(rounds, names):
    s = {}
    for name in names:
        runs = [x for rr in rounds for x in rr if x["target"] == name]
        good = [x for x in runs if "error" not in x]
        ratios = []
        for rr in rounds:
            by = {x["target"]: x for x in rr if "error" not in x}
            if name in by and DIRECT in by and by[DIRECT]["rps"]:
                ratios.append(by[name]["rps"] / by[DIRECT]["rps"])
        s[name] = {"runs": len(runs), "errors": [x["error"] for x in runs if "error" in x],
                   "rps": _median([x["rps"] for x in good]),
                   "p50_ms": _median([x["p50_ms"] for x in good]),
                   "p99_ms": _median([x["p99_ms"] for x in good]),
                   "cpu_us_per_req": _median([x.get("cpu_us_per_req") for x in good]),
                   "vs_direct": _median(ratios) if name != DIRECT else None}
    return s


def rows(result, fmt):
    """Markdown lines of the section."""
    if not result:
        return []
    out = [f"GET/SET 16 B, {CLIENTS} clients, `-r {KEYSPACE}`, "
           f"{result['requests_per_run']:,} requests per run, against a cluster of 3 "
           "primaries with a replica each: through shardproxy's cluster pool "
           "(redis-benchmark as a plain client, keys over every slot) and straight "
           f"to the cluster (`{DIRECT}`: `redis-benchmark --cluster`, its clients "
           "spread over the primaries, one hash tag per primary). Every key read "
           "was written first. `vs direct` is the median of the per-round ratios "
           "of req/s (> 1: the proxy serves more).", "",
           "| cell | target | req/s | vs direct | p50 ms | p99 ms | proxy CPU us/req "
           "| runs (err) |", "|---|---|--:|--:|--:|--:|--:|--:|"]
    for cell, res in result["cells"].items():
        for name, s in res["summary"].items():
            out.append(f"| {cell} | {name} | {fmt(s['rps'], ',.0f')} "
                       f"| {fmt(s['vs_direct'], '.3f') if name != DIRECT else '-'} "
                       f"| {fmt(s['p50_ms'], '.3f')} | {fmt(s['p99_ms'], '.3f')} "
                       f"| {fmt(s['cpu_us_per_req'], '.2f') if name != DIRECT else '-'} "
                       f"| {s['runs']} ({len(s['errors'])}) |")
    return out
