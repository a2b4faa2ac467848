#!/usr/bin/python3
"""Instructions and syscalls per request, shardproxy beside nutcracker: a
load-independent measure of proxy CPU (`make bench-instructions`).

Wall-clock CPU per request on shared cores moves by +-10% from run to run;
valgrind's callgrind counts the instructions a process runs, to ~0.1%,
whatever else the machine does. For each cell and each proxy this script
starts the proxy under callgrind (shardproxy with one worker, the worker's
count; nutcracker's one process) in front of its own backends (2
redis-server, 2 memcached, ketama + fnv1a_64, the same config for both),
drives N requests from one client in this process (sequential, or a
pipeline of P, or a new connection per request) and reports

    (instructions after N requests - instructions of a run with none) / N

so start-up and shutdown cancel out. With --strace it counts the proxy's
syscalls per request the same way (strace -f -c). Prints a table and the
ratio shardproxy / nutcracker per cell.

    bench/instructions.py [--cells 'mc-*'] [-n 2000] [--strace]
                          [--targets shardproxy,nutcracker]

SHARDPROXY_BIN (default build/shardproxy) picks the binary.
"""

import argparse
import fnmatch
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
import sptest  # noqa: E402

KEYS = 1000                # keys cycled through (both backends get some)
VALUE16 = b"v" * 16
VALUE512 = b"w" * 512


def rkey(i):
    return b"key:%012d" % (i % KEYS)


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Cell:
    """One request shape: `request(i)` gives the bytes of request i,
    `reply` the bytes of every reply (values are fixed per cell), and how
    requests are sent (pipeline depth, a connection per request)."""

    def __init__(self, name, proto, request, reply, pipeline=1,
                 newconn=False, prefill=None):
        self.name, self.proto, self.request, self.reply = name, proto, request, reply
        self.pipeline, self.newconn, self.prefill = pipeline, newconn, prefill


def cells():
    out = []
    for size, value in ((16, VALUE16), (512, VALUE512)):
        get_reply = b"$%d\r\n%s\r\n" % (len(value), value)
        for pipe in (1, 16):
            out.append(Cell(f"redis-get-{size}-p{pipe}", "redis",
                            lambda i: resp(b"GET", rkey(i)), get_reply, pipe,
                            prefill=value))
            out.append(Cell(f"redis-set-{size}-p{pipe}", "redis",
                            lambda i, v=value: resp(b"SET", rkey(i), v),
                            b"+OK\r\n", pipe))
    out.append(Cell("redis-get-16-newconn", "redis",
                    lambda i: resp(b"GET", rkey(i)),
                    b"$16\r\n" + VALUE16 + b"\r\n", newconn=True, prefill=VALUE16))
    out.append(Cell("redis-set-16-newconn", "redis",
                    lambda i: resp(b"SET", rkey(i), VALUE16), b"+OK\r\n",
                    newconn=True))
    out.append(Cell("redis-mget10-16", "redis",
                    lambda i: resp(b"MGET", *[rkey(i * 10 + k) for k in range(10)]),
                    b"*10\r\n" + (b"$16\r\n" + VALUE16 + b"\r\n") * 10,
                    prefill=VALUE16))
    for size, value in ((16, VALUE16), (512, VALUE512)):
        out.append(Cell(f"mc-get-{size}", "mc",
                        lambda i: b"get " + rkey(i) + b"\r\n",
                        None, prefill=value))
        out.append(Cell(f"mc-set-{size}", "mc",
                        lambda i, v=value: b"set %s 0 0 %d\r\n%s\r\n"
                        % (rkey(i), len(v), v), b"STORED\r\n"))
    out.append(Cell("mc-mget10-16", "mc",
                    lambda i: b"get " + b" ".join(rkey(i * 10 + k) for k in range(10))
                    + b"\r\n", None, prefill=VALUE16))
    out.append(Cell("mc-mget10-16-p16", "mc",
                    lambda i: b"get " + b" ".join(rkey(i * 10 + k) for k in range(10))
                    + b"\r\n", None, pipeline=16, prefill=VALUE16))
    return out


def conf_text(redis, mcs, rport, mport):
    def pool(name, port, is_redis, servers):
        return (f"{name}:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n"
                f"  distribution: ketama\n  redis: {'true' if is_redis else 'false'}\n"
                "  servers:\n" + "".join(f"   - 127.0.0.1:{s.port}:1\n" for s in servers))
    return pool("bench_redis", rport, True, redis) + "\n" + pool("bench_mc", mport, False, mcs)


def exchange(port, payload, want, sock=None):
    """Send payload, read exactly `want` bytes (a reply shorter or longer is
    an error the caller sees as a mismatch)."""
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(payload)
    buf = bytearray()
    while len(buf) < want:
        chunk = sock.recv(max(65536, want - len(buf)))
        if not chunk:
            raise RuntimeError(f"connection closed after {len(buf)} of {want} bytes")
        buf += chunk
    if own:
        sock.close()
    return bytes(buf)


def prefill(h_servers, proto, value):
    for s in h_servers:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        if proto == "redis":
            payload = b"".join(resp(b"SET", rkey(i), value) for i in range(KEYS))
            exchange(s.port, payload, 5 * KEYS, sock)
        else:
            payload = b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (rkey(i), len(value), value)
                               for i in range(KEYS))
            exchange(s.port, payload, 8 * KEYS, sock)
        sock.close()


def drive(cell, port, n, replies):
    """n requests of `cell` through the proxy; every reply checked."""
    if cell.newconn:
        for i in range(n):
            got = exchange(port, cell.request(i), len(replies[i % len(replies)]))
            if got != replies[i % len(replies)]:
                raise RuntimeError(f"{cell.name}: reply {got[:80]!r}")
        return
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = 0
    while i < n:
        batch = range(i, min(n, i + cell.pipeline))
        payload = b"".join(cell.request(j) for j in batch)
        want = b"".join(replies[j % len(replies)] for j in batch)
        got = exchange(port, payload, len(want), sock)
        if got != want:
            raise RuntimeError(f"{cell.name}: reply {got[:80]!r} wanted {want[:80]!r}")
        i += len(batch)
    sock.close()


def callgrind_total(files):
    """The largest `summary:` (totals:) of the callgrind files: the worker's
    (shardproxy) or the only process's (nutcracker)."""
    best = 0
    for f in files:
        text = Path(f).read_text(errors="replace")
        m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        if m:
            best = max(best, int(m.group(1)))
    return best


def strace_total(path):
    """Total calls in strace -c output (its `total` line)."""
    text = Path(path).read_text(errors="replace")
    m = re.search(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total", text, re.M)
    if not m:
        m = re.search(r"^.*\s(\d+)\s+(?:\d+\s+)?total\s*$", text, re.M)
    return int(m.group(1)) if m else 0


class Runner:
    def __init__(self, verbose=False):
        self.verbose = verbose
        self.h = sptest.Harness("instructions")
        self.redis = [self.h.start_redis() for _ in range(2)]
        self.mc = [self.h.start_memcached(extra_args=["-m", "256"]) for _ in range(2)]
        self.exe = os.environ.get("SHARDPROXY_BIN") or str(REPO / "build" / "shardproxy")
        self.replies = {}

    def close(self):
        self.h.close()

    def learn(self, cell):
        """The replies of the cell's requests, by request number modulo
        their count (a memcached get's names its keys)."""
        if cell.reply is not None:
            return [cell.reply]
        out = []
        for i in range(KEYS):
            keys = cell.request(i).split(b"\r\n")[0].split(b" ")[1:]
            out.append(b"".join(b"VALUE %s 0 %d\r\n%s\r\n"
                                % (k, len(cell.prefill), cell.prefill) for k in keys)
                       + b"END\r\n")
        return out

    def start(self, target, tool, outdir, tag):
        rport, mport, sport = sptest.free_port(), sptest.free_port(), sptest.free_port()
        text = conf_text(self.redis, self.mc, rport, mport)
        if target == "shardproxy":
            text = "global:\n  worker_processes: 1\n" + text
            exe = self.exe
        else:
            exe = "nutcracker"
        conf = Path(outdir) / f"{tag}.yml"
        conf.write_text(text)
        if tool == "callgrind":
            prefix = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                      f"--callgrind-out-file={outdir}/{tag}.cg.%p"]
        else:
            prefix = ["strace", "-f", "-c", "-o", f"{outdir}/{tag}.strace"]
        argv = prefix + [exe, "-c", str(conf), "-s", str(sport), "-a", "127.0.0.1",
                         "-o", f"{outdir}/{tag}.log"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=open(f"{outdir}/{tag}.err", "wb"))
        deadline = time.time() + 60
        while not (sptest.tcp_accepts(rport) and sptest.tcp_accepts(mport)):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"{target} did not start: "
                                   + Path(f"{outdir}/{tag}.err").read_text()[-400:])
            time.sleep(0.1)
        return proc, rport, mport

    @staticmethod
    def stop(proc, tool):
        """SIGTERM to the proxy (under strace: strace's child, so that
        strace writes its summary when the proxy has exited)."""
        pid = proc.pid
        if tool == "strace":
            kids = sptest.children(proc.pid)
            pid = kids[0] if kids else pid
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def measure(self, target, tool, cell, n, outdir):
        tag = f"{target}-{tool}-{cell.name if cell else 'idle'}-{n}"
        t0 = time.time()
        proc, rport, mport = self.start(target, tool, outdir, tag)
        t1 = time.time()
        try:
            if cell is not None and n > 0:
                port = rport if cell.proto == "redis" else mport
                drive(cell, port, n, self.replies[cell.name])
        finally:
            t2 = time.time()
            self.stop(proc, tool)
            if self.verbose:
                print(f"  {tag}: start {t1 - t0:.1f}s, run {t2 - t1:.1f}s, "
                      f"stop {time.time() - t2:.1f}s", file=sys.stderr)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if tool == "callgrind":
            return callgrind_total(Path(outdir).glob(f"{tag}.cg.*"))
        return strace_total(f"{outdir}/{tag}.strace")


def select(pattern):
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    return [c for c in cells() if any(fnmatch.fnmatch(c.name, p) for p in pats)]


def measure_all(chosen, n, targets=("shardproxy", "nutcracker"), strace=True,
                callgrind=True, verbose=False, log=print):
    """{(target, tool, cell name): per request, or None (with the reason in
    "errors")} for every chosen cell, target and tool."""
    tools = (["callgrind"] if callgrind else []) + (["strace"] if strace else [])
    for tool in tools:
        if shutil.which("valgrind" if tool == "callgrind" else "strace") is None:
            return {"errors": [f"{tool}: not installed"]}
    r = Runner(verbose)
    results = {"errors": []}
    outdir = tempfile.mkdtemp(prefix="sp-instr-")
    try:
        for cell in chosen:
            if cell.prefill is not None:
                prefill(r.redis if cell.proto == "redis" else r.mc, cell.proto, cell.prefill)
            r.replies[cell.name] = r.learn(cell)
            for tool in tools:
                for t in targets:
                    try:
                        if (t, tool, None) not in results:
                            results[(t, tool, None)] = r.measure(t, tool, None, 0, outdir)
                        total = r.measure(t, tool, cell, n, outdir)
                        per = (total - results[(t, tool, None)]) / n
                    except (OSError, RuntimeError, sptest.StartError) as e:
                        per = None
                        results["errors"].append(f"{cell.name} {t} {tool}: {e}")
                    results[(t, tool, cell.name)] = per
                    log(f"{cell.name:24s} {t:11s} {tool:9s} "
                        + (f"{per:10.1f} per request" if per is not None else "n/a"))
    finally:
        r.close()
        if not os.environ.get("KEEP"):
            shutil.rmtree(outdir, ignore_errors=True)
    return results


def table(results, chosen, targets=("shardproxy", "nutcracker")):
    """Markdown lines: instructions and syscalls per request of each target,
    and the first target's over the second's."""
    a, b = targets[0], targets[1] if len(targets) > 1 else None
    head = "| cell | " + " | ".join(f"{t} instructions" for t in targets)
    head += " | ratio" if b else ""
    head += " | " + " | ".join(f"{t} syscalls" for t in targets)
    head += " | ratio |" if b else " |"
    ncols = 2 * len(targets) + (2 if b else 0)
    lines = [head, "|---|" + "--:|" * ncols]

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    def ratio(tool, name):
        x, y = results.get((a, tool, name)), results.get((b, tool, name))
        return f"{x / y:.3f}" if x is not None and y else "n/a"

    for c in chosen:
        row = [c.name] + [fmt(results.get((t, "callgrind", c.name)), ",.0f") for t in targets]
        row += [ratio("callgrind", c.name)] if b else []
        row += [fmt(results.get((t, "strace", c.name)), ".2f") for t in targets]
        row += [ratio("strace", c.name)] if b else []
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="*")
    ap.add_argument("-n", type=int, default=2000, help="requests per cell")
    ap.add_argument("--targets", default="shardproxy,nutcracker")
    ap.add_argument("--strace", action="store_true", help="also syscalls per request")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    chosen = select(args.cells)
    if args.list:
        for c in chosen:
            print(c.name)
        return 0
    targets = args.targets.split(",")
    results = measure_all(chosen, args.n, targets, args.strace,
                          not args.no_callgrind, args.verbose)
    print(f"\nper request (n={args.n}, one client; instructions: callgrind, "
          "syscalls: strace -f -c)")
    print("\n".join(table(results, chosen, targets)))
    for e in results["errors"]:
        print(f"error: {e}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
