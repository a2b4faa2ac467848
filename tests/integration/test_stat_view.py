"""`shardproxy --stat`: the live view of a running proxy (issue 18).

A proxy with two workers in front of a redis-server, under redis-benchmark
load: the view, piped, prints plain blocks (no escape codes) whose pool,
server and worker lines show non-zero rates and interval percentiles; on a
pseudo-terminal it redraws the screen (home + clear) with the same
figures in k/M units. A view of a port nobody answers exits 1 and says so;
-i takes seconds with --stat, and is bounded.

Run standalone:
    SHARDPROXY_BIN=build/shardproxy SP_SOURCE_DIR=. \\
        /usr/bin/python3 tests/integration/test_stat_view.py
"""

import os
import pty
import re
import select
import subprocess
import time
import unittest

import sptest

CLEAR = b"\x1b[H\x1b[2J"
READ_TIMEOUT = 15.0         # seconds for the view to show what is asked


def parse_block(lines):
    """{"pools": {name: row}, "servers": {name: row}, "workers": [row]}
    from one sample's lines; a row is the list of its columns."""
    out = {"pools": {}, "servers": {}, "workers": []}
    section = None
    for line in lines:
        if line.startswith("POOL / SERVER"):
            section = "pools"
            continue
        if line.startswith("WORKER"):
            section = "workers"
            continue
        if not line.strip() or section is None:
            continue
        if section == "workers":
            out["workers"].append(line.split())
        elif line.startswith("  "):
            cols = line.split(None, 9)
            out["servers"][cols[0]] = cols
        else:
            cols = line.split(None, 9)
            out["pools"][cols[0]] = cols
    return out


def number(text):
    """A column's value: "12", "3.4k", "1.2M"; None for "-"."""
    if text == "-":
        return None
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


class StatViewTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.redis = h.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 2\n"
            + sptest.pool_yaml("alpha", cls.port, [(cls.redis.port, 1, "r1")],
                               redis="true"))
        # load for the whole class: a benchmark that runs until ended
        exe = sptest.require_binary("redis-benchmark")
        cls.bench = h.start_process(
            "bench", [exe, "-h", "127.0.0.1", "-p", cls.port, "-c", "8",
                      "-n", "100000000", "-t", "get,set", "-q"])
        sptest.poll_until(
            lambda: sptest.read_stats(cls.proxy.stats_port)["alpha"]["r1"]
            ["requests"] > 1000, "load through the proxy", proc=cls.bench)

    def stat_argv(self, interval="0.5"):
        return [sptest.shardproxy_bin(), "--stat", "-a", "127.0.0.1",
                "-s", str(self.proxy.stats_port), "-i", interval]

    def check_sample(self, block, human):
        self.assertIn("alpha", block["pools"], block)
        pool = block["pools"]["alpha"]
        server = block["servers"]["r1"]
        for row in (pool, server):
            req, err, bin_, bout = (number(c) for c in row[1:5])
            self.assertGreater(req, 100, row)
            self.assertEqual(err, 0, row)
            self.assertGreater(bin_, req, row)      # a GET/SET is > 1 byte
            self.assertGreater(bout, 0, row)
            p50, p99 = float(row[7]), float(row[8])
            self.assertGreater(p50, 0, row)
            self.assertGreaterEqual(p99, p50, row)
        self.assertEqual(number(pool[5]), 8, pool)     # the benchmark's clients
        self.assertEqual(server[5], "-", server)       # clients are the pool's
        self.assertEqual(number(server[6]), 2, server)  # one per worker
        self.assertEqual(server[9], "-", server)        # never ejected
        self.assertEqual(pool[9], "0", pool)
        workers = block["workers"]
        self.assertEqual(sorted(int(w[1]) for w in workers),
                         sorted(self.proxy.worker_pids()))
        self.assertEqual(sum(number(w[2]) for w in workers), 8)
        total = sum(number(w[4]) for w in workers)
        # the workers' lines and the pool's come from the same two reads
        self.assertAlmostEqual(total, number(pool[1]),
                               delta=max(0.02 * total, 200 if human else 1))
        if not human:
            self.assertTrue(all(re.fullmatch(r"\d+", c) for c in pool[1:7]), pool)

    def test_piped(self):
        proc = subprocess.Popen(self.stat_argv(), stdout=subprocess.PIPE, bufsize=0,
                                stderr=subprocess.PIPE,
                                preexec_fn=sptest.die_with_parent)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        blocks, lines = [], []
        deadline = time.monotonic() + READ_TIMEOUT
        while len(blocks) < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not ready:
                continue
            line = proc.stdout.readline().decode()
            if line == "":
                self.fail("the view ended: " + proc.stderr.read().decode())
            self.assertNotIn("\x1b", line)
            if line.startswith("# ") and lines:
                blocks.append(lines)
                lines = []
            lines.append(line.rstrip("\n"))
        self.assertGreaterEqual(len(blocks), 3, blocks)
        for block in blocks[1:]:
            self.assertRegex(block[0], r"^# \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
                                       rf"127\.0\.0\.1:{self.proxy.stats_port}$")
            self.assertRegex(block[1], r"^shardproxy \d+\.\d+\.\d+ on .*, "
                                       r"2 workers, generation 1, ")
            self.check_sample(parse_block(block), human=False)

    def test_terminal(self):
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execv(self.stat_argv()[0], self.stat_argv())
            finally:
                os._exit(127)
        self.addCleanup(os.close, fd)
        self.addCleanup(lambda: os.waitpid(pid, 0))
        self.addCleanup(lambda: sptest.pid_alive(pid) and os.kill(pid, 9))
        data = b""
        deadline = time.monotonic() + READ_TIMEOUT
        while data.count(CLEAR) < 4 and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
        frames = data.split(CLEAR)
        self.assertGreaterEqual(len(frames), 4, data[-2000:])
        # each frame is a whole sample: a redraw, no timestamp lines
        for frame in frames[2:-1]:
            text = frame.decode().replace("\r\n", "\n")
            self.assertNotIn("\n# ", text)
            self.check_sample(parse_block(text.splitlines()), human=True)

    def test_unanswered_port(self):
        port = sptest.free_port()
        r = self.harness.run_shardproxy(["--stat", "-s", port, "-i", "1"],
                                        timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertRegex(r.stderr.decode(),
                         rf"^shardproxy: cannot read the stats port "
                         rf"127\.0\.0\.1:{port}: Connection refused\n$")

    def test_interval_in_seconds(self):
        for bad in ("0", "0.05", "3601", "x", "-1"):
            r = self.harness.run_shardproxy(["--stat", "-i", bad])
            self.assertEqual(r.returncode, 1, bad)
            self.assertEqual(r.stderr.decode(),
                             "shardproxy: option -i requires a number of seconds "
                             "between 0.1 and 3600 with --stat\n", bad)
        # without --stat, -i stays nutcracker's milliseconds
        r = self.harness.run_shardproxy(["-i", "0.5", "-t", "-c",
                                         self.proxy.conf_path])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"option -i requires a number of milliseconds", r.stderr)

    def test_stats_carry_what_the_view_reads(self):
        stats = sptest.read_stats(self.proxy.stats_port)
        per = stats["per_worker"]
        self.assertEqual([w["worker"] for w in per], [0, 1])
        self.assertEqual(sorted(w["pid"] for w in per),
                         sorted(self.proxy.worker_pids()))
        self.assertEqual(sum(w["clients"] for w in per),
                         stats["alpha"]["client_connections"])
        # per worker requests add up to the server's (the workers count on
        # while the master reads, so within a hair)
        self.assertAlmostEqual(sum(w["requests"] for w in per),
                               stats["alpha"]["r1"]["requests"],
                               delta=0.01 * stats["alpha"]["r1"]["requests"])
        for obj, prefix in ((stats["alpha"], "latency"),
                            (stats["alpha"]["r1"], "rtt")):
            buckets = obj[f"{prefix}_buckets"]
            self.assertEqual(len(buckets), 17)
            self.assertGreater(sum(buckets), 1000)


if __name__ == "__main__":
    sptest.main()
