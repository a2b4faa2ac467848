#!/usr/bin/python3
"""TLS on both sides: shardproxy against nutcracker behind stunnel (issue 17).

What users run today, and what shardproxy replaces it with, on the same
TLS-only backend (redis-server --tls-port, certificates made here):

  stunnel:    redis-benchmark --tls -> stunnel (server) -> nutcracker
              -> stunnel (client) -> redis TLS
  shardproxy: redis-benchmark --tls -> shardproxy (tls, server_tls, one
              worker) -> redis TLS

Per run: requests/s and p50/p99 latency from redis-benchmark --csv, and the
proxy side's CPU per request: utime+stime of nutcracker and both stunnels,
or of shardproxy's master and workers (/proc/<pid>/stat, threads included).
shardproxy runs with one worker and with two (stunnel takes a thread per
connection, so on shared cores it gets a larger share of them).
Rounds alternate the order (A B, B A, ...); the report gives medians and the
shardproxy/stunnel+nutcracker ratios (median of per-round ratios), written to
bench/RESULTS-tls.md and printed.

    /usr/bin/python3 bench/tls_bench.py [--rounds 5] [--requests 100000]
        [--clients 50] [--pipeline 1] [--size 16]
"""

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import sptest  # noqa: E402


def openssl(d, *args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                   capture_output=True, timeout=60)


def make_certs(d):
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=bench CA")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key",
            "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "srv.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(d, "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2",
            "-extfile", "srv.ext")


def tls_redis_ready(port, ca):
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"PING\r\n")
                return s.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


class Bench:
    def __init__(self, args):
        self.args = args
        self.h = sptest.Harness("tlsbench")
        self.d = str(self.h.tmp.path)
        make_certs(self.d)
        self.ca = os.path.join(self.d, "ca.pem")
        self.cert = os.path.join(self.d, "srv.pem")
        self.key = os.path.join(self.d, "srv.key")
        self.redis_port = self.start_redis()

    def path(self, name):
        return os.path.join(self.d, name)

    def start_redis(self):
        p = sptest.free_port()
        argv = ["redis-server", "--port", "0", "--tls-port", p, "--bind",
                "127.0.0.1", "--tls-cert-file", self.cert, "--tls-key-file",
                self.key, "--tls-ca-cert-file", self.ca, "--tls-auth-clients",
                "no", "--save", "", "--appendonly", "no", "--logfile", ""]
        self.h.start_process("redis-tls", argv,
                             lambda proc: tls_redis_ready(p, self.ca),
                             "redis TLS PONG")
        return p

    def start_shardproxy(self, workers=1):
        port = sptest.free_port()
        conf = (
            f"global:\n  worker_processes: {workers}\n"
            + sptest.pool_yaml(
                "alpha", port, [self.redis_port], redis="true",
                tls="true", tls_cert_file=self.cert, tls_key_file=self.key,
                server_tls="true", server_tls_ca_file=self.ca,
                server_tls_server_name="localhost"))
        proxy = self.h.start_shardproxy(conf)
        return port, proxy.pids()

    def start_stunnel_nutcracker(self):
        front, nut, back = (sptest.free_port() for _ in range(3))
        conf = sptest.pool_yaml("alpha", nut, [back], redis="true")
        nutcracker = self.h.start_nutcracker(conf)
        st_conf = self.h.tmp.file(self.h.unique("stunnel") + ".conf", f"""
foreground = yes
pid =
debug = 3
[front]
accept = 127.0.0.1:{front}
connect = 127.0.0.1:{nut}
cert = {self.cert}
key = {self.key}
[back]
client = yes
accept = 127.0.0.1:{back}
connect = 127.0.0.1:{self.redis_port}
CAfile = {self.ca}
verifyChain = yes
checkHost = localhost
""")
        st = self.h.start_process(
            self.h.unique("stunnel"), ["stunnel4", str(st_conf)],
            lambda proc: sptest.owns_listener(proc.pid, front)
            and sptest.owns_listener(proc.pid, back), "stunnel listening")
        return front, nutcracker.pids() + [st.pid]

    def run_load(self, port, pids):
        a = self.args
        before = sptest.cpu_seconds(pids)
        r = subprocess.run(
            ["redis-benchmark", "-p", str(port), "--tls", "--cacert", self.ca,
             "-t", "set,get", "-n", str(a.requests), "-c", str(a.clients),
             "-P", str(a.pipeline), "-d", str(a.size), "-r", "100000",
             "--csv"], capture_output=True, timeout=900)
        cpu = sptest.cpu_seconds(pids) - before
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode(errors="replace"))
        rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
        out = {}
        for row in rows:
            out[row["test"]] = {"rps": float(row["rps"]),
                                "p50": float(row["p50_latency_ms"]),
                                "p99": float(row["p99_latency_ms"])}
        total = 2 * a.requests
        out["cpu_us_per_req"] = cpu * 1e6 / total
        return out

    def main(self):
        starters = {"shardproxy": self.start_shardproxy,
                    "shardproxy-2w": lambda: self.start_shardproxy(2),
                    "stunnel+nutcracker": self.start_stunnel_nutcracker}
        results = {name: [] for name in starters}
        for rnd in range(self.args.rounds):
            order = list(starters) if rnd % 2 == 0 else list(starters)[::-1]
            for name in order:
                port, pids = starters[name]()
                # warm up the connections and the sessions
                self.run_load_quiet(port)
                res = self.run_load(port, pids)
                results[name].append(res)
                print(f"round {rnd + 1} {name}: GET {res['GET']['rps']:.0f}/s "
                      f"p99 {res['GET']['p99']:.3f} ms, SET "
                      f"{res['SET']['rps']:.0f}/s p99 {res['SET']['p99']:.3f} "
                      f"ms, proxy CPU {res['cpu_us_per_req']:.2f} us/request",
                      flush=True)
                self.h.stop_all()
                self.redis_port = self.start_redis()
        return results

    def run_load_quiet(self, port):
        subprocess.run(["redis-benchmark", "-p", str(port), "--tls",
                        "--cacert", self.ca, "-t", "ping", "-n", "2000", "-c",
                        str(self.args.clients), "-q"], capture_output=True,
                       timeout=120)


def report(args, results):
    st = results["stunnel+nutcracker"]
    ours = ("shardproxy", "shardproxy-2w")

    def med(runs, f):
        return statistics.median(f(r) for r in runs)

    def ratio(runs, f):
        return statistics.median(f(a) / f(b) for a, b in zip(runs, st) if f(b))

    lines = [
        "# TLS on both sides: shardproxy vs nutcracker behind stunnel",
        "",
        f"redis-benchmark --tls -t set,get -n {args.requests} -c {args.clients} "
        f"-P {args.pipeline} -d {args.size}, {args.rounds} rounds, the order "
        "alternating; one TLS-only redis-server 7.0 behind each; shardproxy "
        "(`tls` + `server_tls`) with one worker and with two, nutcracker 0.5 "
        "between two stunnel4 5.68 (TLS server toward the clients, TLS client "
        "toward redis; a thread per connection); CPU = utime+stime of the "
        "proxy side's processes. Medians; ratios against stunnel+nutcracker, "
        "median of per-round ratios. Load average at the start: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared).",
        "",
        "| | shardproxy | shardproxy-2w | stunnel+nutcracker | ratio 1w | "
        "ratio 2w |",
        "|---|---|---|---|---|---|",
    ]
    rows = []
    for test in ("GET", "SET"):
        for key, label in (("rps", "requests/s"), ("p50", "p50 ms"),
                           ("p99", "p99 ms")):
            rows.append((f"{test} {label}",
                         lambda r, t=test, k=key: r[t][k]))
    rows.append(("proxy CPU per request (us)", lambda r: r["cpu_us_per_req"]))
    for label, f in rows:
        lines.append(f"| {label} | {med(results[ours[0]], f):.3f} | "
                     f"{med(results[ours[1]], f):.3f} | {med(st, f):.3f} | "
                     f"{ratio(results[ours[0]], f):.2f}x | "
                     f"{ratio(results[ours[1]], f):.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "RESULTS-tls.md")
    with open(out, "w") as fh:
        fh.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--size", type=int, default=16)
    args = ap.parse_args()
    for exe in ("redis-server", "redis-benchmark", "nutcracker", "stunnel4",
                "openssl"):
        sptest.require_binary(exe)
    b = Bench(args)
    try:
        results = b.main()
    finally:
        b.h.close()
    report(args, results)


if __name__ == "__main__":
    main()
