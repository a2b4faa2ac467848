"""A short network fuzz against a running proxy (issue #24): random and
mutated bad input on one connection at a time, to a Redis pool and a
Memcached pool (two real redis-servers, two real memcacheds, one worker),
checking after each input that the long-lived bystander client still gets
its exact reply in time and a fresh client gets a good one (netfuzz.py); and
at the end that no server connection failed, timed out or was ejected
(auto_eject_hosts with server_failure_limit 1, so one failure would show)
and the worker is the one it started with.

MemoryComesBackTest: after a burst of 100,000 bad requests the worker's
RSS, up by tens of MB, is back within 10 MB of its idle figure in 40 s.

Bounded: NETFUZZ_SECONDS (default 50) in all, at most NETFUZZ_ROUNDS rounds
per protocol; NETFUZZ_SEED repeats a run (the seed is in every failure).

Run: /usr/bin/python3 tests/integration/test_netfuzz.py
"""

import os
import random
import socket
import time

import netfuzz
import sptest

SECONDS = float(os.environ.get("NETFUZZ_SECONDS", "50"))
ROUNDS = int(os.environ.get("NETFUZZ_ROUNDS", "20000"))


def conf(rport, mport, redis_servers, mc_servers, extra=()):
    common = ["  hash: fnv1a_64", "  distribution: ketama",
              "  auto_eject_hosts: true", "  server_failure_limit: 1",
              "  server_retry_timeout: 60000", "  timeout: 3000"] + list(extra)
    lines = ["global:", "  worker_processes: 1",
             "rp:", f"  listen: 127.0.0.1:{rport}", "  redis: true"] + common
    lines += ["  servers:"] + [f"   - 127.0.0.1:{p}:1" for p in redis_servers]
    lines += ["mp:", f"  listen: 127.0.0.1:{mport}"] + common
    lines += ["  servers:"] + [f"   - 127.0.0.1:{p}:1" for p in mc_servers]
    return "\n".join(lines) + "\n"


def failures(stats):
    """(ejects, server connection failures) per pool."""
    out = {}
    for name in ("rp", "mp"):
        pool = stats[name]
        servers = [v for v in pool.values() if isinstance(v, dict)]
        out[name] = (pool["server_ejects"],
                     sum(s["server_err"] + s["server_eof"]
                         + s["server_timedout"] for s in servers))
    return out


class NetFuzzTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        redis = [h.start_redis() for _ in range(2)]
        mc = [h.start_memcached() for _ in range(2)]
        cls.rport, cls.mport = sptest.free_port(), sptest.free_port()
        cls.proxy = h.start_shardproxy(conf(
            cls.rport, cls.mport, [r.port for r in redis],
            [m.port for m in mc]))

    def test_bad_input_harms_nobody_else(self):
        seed = int(os.environ.get("NETFUZZ_SEED", random.randrange(1 << 30)))
        workers = self.proxy.worker_pids()
        before = failures(sptest.read_stats(self.proxy.stats_port))
        done = netfuzz.run([netfuzz.redis_proto(self.rport),
                            netfuzz.memcache_proto(self.mport)],
                           SECONDS, ROUNDS, seed, log=print)
        after = failures(sptest.read_stats(self.proxy.stats_port))
        self.assertEqual(after, before, f"server failures (seed {seed})")
        self.assertEqual(self.proxy.worker_pids(), workers,
                         f"a worker died (seed {seed})")
        for name, n in done.items():
            self.assertGreater(n, 100, f"{name}: too few rounds ran")


class MemoryComesBackTest(sptest.HarnessTestCase):
    """After a burst of bad input stops, the worker's memory comes back: the
    free lists shed their surplus within their 10 s window and the pages go
    back to the system (sp_alloc.h), instead of staying resident because an
    idle worker never moves jemalloc's decay clock."""

    BURST_LINES = 100000        # empty lines: one ERROR reply each
    RISE_KB = 20 * 1024         # the burst must show (or it proves nothing)
    BACK_KB = 10 * 1024         # back within this of the idle figure
    DEADLINE = 40.0             # seconds, well past the 10 s trim window

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        redis = [h.start_redis()]
        mc = [h.start_memcached()]
        cls.rport, cls.mport = sptest.free_port(), sptest.free_port()
        # no client window: one client's burst is to fill the worker (with
        # one, flow control holds it at ~1 MiB; test_flow_control.py)
        cls.proxy = h.start_shardproxy(conf(
            cls.rport, cls.mport, [r.port for r in redis],
            [m.port for m in mc], ["  client_high_watermark: 0"]))

    def burst(self):
        """100,000 requests in one write; read every reply, then close."""
        want = b"ERROR\r\n" * self.BURST_LINES
        with socket.create_connection(("127.0.0.1", self.mport),
                                      timeout=20) as sock:
            sock.sendall(b"\r\n" * self.BURST_LINES)
            got = b""
            deadline = time.monotonic() + 30
            while len(got) < len(want) and time.monotonic() < deadline:
                part = sock.recv(1 << 20)
                if not part:
                    break
                got += part
        self.assertEqual(got, want)

    def test_memory_comes_back_after_a_burst(self):
        worker = self.proxy.worker_pids()
        with open(f"/proc/{worker[0]}/maps") as f:
            if "libasan" in f.read():
                # ASan's allocator keeps freed memory in its quarantine
                self.skipTest("an AddressSanitizer build")
        idle = sptest.rss_kb(worker)
        self.burst()
        peak = sptest.rss_kb(worker)
        self.assertGreater(peak - idle, self.RISE_KB, (idle, peak))
        start = time.monotonic()
        rss = peak
        while time.monotonic() - start < self.DEADLINE:
            rss = sptest.rss_kb(worker)
            if rss < idle + self.BACK_KB:
                break
            time.sleep(0.5)
        print(f"worker RSS: idle {idle} kB, after the burst {peak} kB, "
              f"{rss} kB {time.monotonic() - start:.1f} s later")
        self.assertLess(rss, idle + self.BACK_KB,
                        f"idle {idle} kB, peak {peak} kB, still {rss} kB "
                        f"after {self.DEADLINE} s")


if __name__ == "__main__":
    sptest.main()
