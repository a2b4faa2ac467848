"""Where a proxy's CPU goes, per request: the profile section of bench/bench.py.

For a few cells (the pipeline-1, new-connection and one-load-thread cells by
default: where CPU per request is furthest from the goals) each proxy runs
the cell's load under `perf record -g -e cpu-clock`, twice, the order
reversed the second time. Every sample is put in one bucket by its call
chain:

- user: the proxy's own code, the C library, anything else in user space;
- kernel: socket sends (whichever call made them: write, writev, sendmsg,
  or io_uring_enter), of which the part spent delivering the bytes to the
  receiving socket (on loopback the sender's call runs the receiver's TCP
  input and wakes it); socket receives, likewise; then, by the system call
  the sample is under, the rest of read/write, epoll (wait, ctl),
  io_uring_enter (the ring's own work and its polls), accept/close and
  other socket calls; and work outside any system call (interrupts,
  softirqs, faults).

A bucket's microseconds per request are its share of the samples times the
proxy's CPU per request over the same runs (utime+stime from /proc, perf's
own cost included: it is the same for every target). The table shows that
at pipeline 1 most of a request is the kernel's TCP work, which both proxies
pay alike; user time is where the proxies differ.

bench.py passes itself as `lib` (run_loadgen, prepare_cell, Snapshot, ...),
so this file holds no copy of them.
"""

import collections
import subprocess

DEFAULT_CELLS = ("redis-get-16-p1,redis-get-512-p1,redis-set-512-p1,redis-mget10-16,"
                 "redis-get-16-newconn,mc-get-16-t1,mc-set-16-t1,redis-get-16-c1")
TARGETS = ("nutcracker", "shardproxy", "shardproxy-uring")
ROUNDS = 2
FREQ = 2999                    # samples per second per CPU

# (bucket, system calls whose kernel frames land in it)
SYSCALL_BUCKETS = (
    ("read", ("read", "readv", "recvfrom", "recvmsg", "recvmmsg")),
    ("write", ("write", "writev", "sendto", "sendmsg", "sendmmsg")),
    ("epoll", ("epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl")),
    ("io_uring", ("io_uring_enter",)),
    ("accept/close", ("accept", "accept4", "close", "shutdown", "socket", "connect",
                      "setsockopt", "getsockopt", "getpeername", "getsockname", "fcntl",
                      "ioctl")),
)
BUCKETS = ("user", "read", "write", "delivery", "epoll", "io_uring", "accept/close",
           "other syscalls", "no syscall")
BUCKET_OF = {name: bucket for bucket, names in SYSCALL_BUCKETS for name in names}
# frames that name a system call without the __x64_sys_ prefix
SYSCALL_FRAMES = {"ksys_read": "read", "ksys_write": "write", "do_writev": "writev",
                  "do_readv": "readv", "__sys_sendmsg": "sendmsg", "__sys_sendto": "sendto",
                  "__sys_recvfrom": "recvfrom", "__sys_recvmsg": "recvmsg",
                  "do_epoll_wait": "epoll_wait", "do_epoll_ctl": "epoll_ctl",
                  "__sys_accept4": "accept4", "__do_sys_io_uring_enter": "io_uring_enter"}
# a frame of the receiving side's input path under a send
DELIVERY_FRAMES = ("net_rx_action", "__netif_receive_skb", "process_backlog", "tcp_v4_rcv")
# frames of a socket send or receive, whichever call (or io_uring) made it
SEND_FRAMES = ("tcp_sendmsg", "unix_stream_sendmsg", "sock_sendmsg")
RECV_FRAMES = ("tcp_recvmsg", "unix_stream_recvmsg", "sock_recvmsg")


def selected_cells(args, all_cells, fnmatch):
    """The cells to profile: --profile-cells (globs; "" or "none": none),
    limited to those the run measures."""
    spec = args.profile_cells
    if spec is None:
        spec = "redis-get-16-p1" if args.quick else DEFAULT_CELLS
    if spec in ("", "none") or args.no_perf:
        return []
    pats = [p.strip() for p in spec.split(",") if p.strip()]
    return [c for c in all_cells if any(fnmatch.fnmatch(c.name, p) for p in pats)]


def classify(frames):
    """The bucket of one sample from its call chain [(symbol, dso), ...],
    innermost frame first."""
    if not frames or frames[0][1] != "[kernel.kallsyms]":
        return "user"
    names = [sym.split("+", 1)[0] for sym, _ in frames]
    if any(n in SEND_FRAMES for n in names):
        return "delivery" if any(n in DELIVERY_FRAMES for n in names) else "write"
    if any(n in RECV_FRAMES for n in names):
        return "read"
    syscall = None
    for sym, dso in frames:
        if dso != "[kernel.kallsyms]":
            break
        base = sym.split("+", 1)[0].split(".", 1)[0]
        if base.startswith("__x64_sys_"):
            syscall = base[len("__x64_sys_"):]
            break
        if base.startswith("__do_sys_"):
            syscall = base[len("__do_sys_"):]
            break
        if base in SYSCALL_FRAMES and syscall is None:
            syscall = SYSCALL_FRAMES[base]
    if syscall is None:
        return "no syscall"                  # an interrupt, softirq or fault
    return BUCKET_OF.get(syscall, "other syscalls")


def parse_script(text):
    """Counter of buckets over the samples of `perf script -F comm,tid,ip,sym,dso`."""
    counts = collections.Counter()
    frames = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if frames is not None:
                counts[classify(frames)] += 1
            frames = None
            continue
        if not line[0].isspace():
            frames = []                      # sample header: comm tid
            continue
        if frames is None:
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        sym, _, dso = rest.rpartition(" (")
        frames.append((sym.strip(), dso.rstrip(")")))
    return counts


def _record(bench, lib, cell, target, n, tag):
    """One run of the cell under perf record: (requests, proxy CPU seconds,
    bucket counts) or an error string."""
    pids = lib.proc_tree(target.proc.pid)
    data = bench.rundir / f"{tag}.perf.data"
    wrap = ["perf", "record", "-q", "-g", "-e", "cpu-clock", "-F", str(FREQ),
            "-o", str(data), "-p", ",".join(map(str, pids)), "--"]
    argv = wrap + [str(a) for a in lib.loadgen_argv(bench, cell, target, n)]
    before = lib.Snapshot(bench, target)
    status, out, errs, _ = lib.run_loadgen(argv, [], bench.rundir, tag,
                                           bench.args.run_timeout)
    after = lib.Snapshot(bench, target)
    if status is None:
        return f"timed out after {bench.args.run_timeout}s"
    try:
        res = (lib.parse_redis_benchmark(out, n) if cell.proto == "redis"
               else lib.parse_memcaslap(out))
    except (ValueError, IndexError, KeyError) as e:
        return f"exit {status}: {e}"
    try:
        script = subprocess.run(["perf", "script", "-i", str(data), "-F",
                                 "comm,tid,ip,sym,dso"], capture_output=True, text=True,
                                timeout=300, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"perf script: {e}"
    finally:
        data.unlink(missing_ok=True)
    counts = parse_script(script.stdout)
    if not counts:
        return "perf recorded no samples"
    return res["requests"], (after.proxy - before.proxy) / lib.HZ, counts


def run(bench, lib, cells):
    """Profile each cell on each proxy target; returns the section's data."""
    targets = [t for t in bench.usable_targets() if t.name in TARGETS and t.proc]
    lib.log(f"profile: {len(cells)} cells, {len(targets)} proxies, perf record -g")
    result = {"cells": [], "rounds": ROUNDS, "freq": FREQ}
    for cell in cells:
        lib.prepare_cell(bench, cell, targets)
        n = lib.run_count(cell, bench.args)
        acc = {t.name: {"requests": 0, "cpu_s": 0.0, "counts": collections.Counter(),
                        "errors": []} for t in targets}
        for r in range(ROUNDS):
            for t in (targets if r % 2 == 0 else targets[::-1]):
                if not t.check_alive():
                    continue
                got = _record(bench, lib, cell, t, n, bench.next_tag(cell, t) + "-prof")
                if isinstance(got, str):
                    acc[t.name]["errors"].append(got)
                    continue
                reqs, cpu, counts = got
                acc[t.name]["requests"] += reqs
                acc[t.name]["cpu_s"] += cpu
                acc[t.name]["counts"].update(counts)
        row = {"cell": cell.name, "what": cell.what, "targets": {}}
        for name, a in acc.items():
            total = sum(a["counts"].values())
            if not a["requests"] or not total:
                row["targets"][name] = {"errors": a["errors"]}
                continue
            us = a["cpu_s"] * 1e6 / a["requests"]
            row["targets"][name] = {
                "cpu_us_per_req": us, "samples": total, "errors": a["errors"],
                "us": {b: us * a["counts"][b] / total for b in BUCKETS}}
        lib.log(f"  {cell.name}: " + "; ".join(
            f"{name} {v['cpu_us_per_req']:.2f}us (user {v['us']['user']:.2f})"
            for name, v in row["targets"].items() if "us" in v))
        result["cells"].append(row)
    return result


def rows(result, fmt):
    """Markdown lines of the section."""
    head = ("| cell | target | CPU us/req | user | read | write | of which delivery "
            "| epoll | io_uring | accept/close | other syscalls | no syscall | samples |")
    lines = [head, "|---|---|" + "--:|" * 11]
    ratio = ["| cell | CPU | user | kernel | read | write incl. delivery | epoll |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for row in result["cells"]:
        for name, v in row["targets"].items():
            if "us" not in v:
                lines.append(f"| {row['cell']} | {name} | n/a: "
                             f"{'; '.join(v['errors'])[:120] or 'no run'} |" + " |" * 10)
                continue
            u = v["us"]
            lines.append(
                f"| {row['cell']} | {name} | {v['cpu_us_per_req']:.2f} | {u['user']:.2f} "
                f"| {u['read']:.2f} | {u['write'] + u['delivery']:.2f} | {u['delivery']:.2f} "
                f"| {u['epoll']:.2f} | {u['io_uring']:.2f} | {u['accept/close']:.2f} "
                f"| {u['other syscalls']:.2f} | {u['no syscall']:.2f} | {v['samples']:,} |")
        sp, nc = row["targets"].get("shardproxy", {}), row["targets"].get("nutcracker", {})
        if "us" in sp and "us" in nc:
            def part(v, keys):
                return sum(v["us"][k] for k in keys)
            kernel = [b for b in BUCKETS if b != "user"]
            pairs = ((sp["cpu_us_per_req"], nc["cpu_us_per_req"]),
                     (part(sp, ["user"]), part(nc, ["user"])),
                     (part(sp, kernel), part(nc, kernel)),
                     (part(sp, ["read"]), part(nc, ["read"])),
                     (part(sp, ["write", "delivery"]), part(nc, ["write", "delivery"])),
                     (part(sp, ["epoll"]), part(nc, ["epoll"])))
            ratio.append(f"| {row['cell']} | " + " | ".join(
                fmt(a / b if b else None, ".3f") for a, b in pairs) + " |")
    return lines, ratio
