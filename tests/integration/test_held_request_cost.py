#!/usr/bin/env python3
"""What one small pipelined request costs the proxy while it is held (issue
19): a client pipelines N `GET key` and reads none of the replies, the window
and the worker's budget off, so every request, its message and its reply stay
in the worker. The worker's jemalloc `stats.allocated` (`memory_used` in its
stats, read on its 1 s tick) with them held, minus the same figure idle, over
the messages held (`messages_in_use`: the replies the kernel took off the
proxy's hands are not held; the free lists are trimmed first), minus the request's and
the reply's own bytes, is the proxy's own cost per request. docs/datapath.md
("What a request costs while it is held") cites the figure this prints.

HELD_REQUESTS=N changes N (default 100,000)."""

import os
import socket
import time

import sptest
from test_redis_proxy import pool_yaml, resp

N = int(os.environ.get("HELD_REQUESTS", "100000"))
VALUE = b"v" * 100
MSG_KEEP = 256      # sp_worker.c: messages and buffers kept through idle
MBUF_KEEP = 64
# issue 19: at most 100 bytes beyond the request's and reply's own (a 96-byte
# message: docs/datapath.md)
LIMIT = 100


class HeldRequestCostTest(sptest.HarnessTestCase):
    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.backend = h.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 1\n  worker_memory_budget: 0\n"
            + h.worker_stats_yaml()
            + pool_yaml("held", cls.port, [(cls.backend.port, 1, None)],
                        client_high_watermark=0, client_buffer_limit=0))

    def settled(self):
        """The worker's stats once nothing moves: the same messages and
        memory_used over two reads a tick (1 s) apart, and its free lists
        trimmed (what the replies the kernel took left there is freed after
        10 s unused, down to what a worker keeps idle)."""
        last = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = sptest.read_stats(self.proxy.worker_stats(0))
            now = (s["messages_allocated"], s["messages_free"],
                   s["memory_used"], s["buffers_in_use"], s["buffers_free"])
            if (now == last and s["messages_free"] <= MSG_KEEP
                    and s["buffers_free"] <= MBUF_KEEP):
                return s
            last = now
            time.sleep(1.2)
        raise AssertionError(f"the worker's memory never settled: {last}")

    def test_bytes_per_held_request(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            c.sendall(resp("SET", "key", VALUE))
            self.assertEqual(c.recv(100), b"+OK\r\n")
        with open(f"/proc/{self.proxy.worker_pids()[0]}/maps") as f:
            if "libjemalloc" not in f.read():
                self.skipTest("no jemalloc: memory_used is not measured")
        idle = self.settled()
        req = resp("GET", "key")
        reply = b"$%d\r\n%s\r\n" % (len(VALUE), VALUE)
        with socket.socket() as c:
            # a small receive window: most replies stay in the proxy
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.settimeout(60)
            c.connect(("127.0.0.1", self.port))
            c.sendall(req * N)
            s = self.settled()
            # every request answered by the server, none closed
            self.assertEqual(s["held"]["client_err"], 0)
            held = s["messages_in_use"] - idle["messages_in_use"]
            self.assertGreater(held, N // 2, "most replies held")
            grown = s["memory_used"] - idle["memory_used"]
            per = grown / held
            own = per - len(req) - len(reply)
            print(f"\n  {held} of {N} GETs held ({len(req)} B request, "
                  f"{len(reply)} B reply): {grown} B more allocated, "
                  f"{per:.0f} B each, {own:.0f} B beyond its own bytes "
                  f"({s['buffers_in_use']} buffers in use)")
            # they are all still served, in order
            c.settimeout(120)
            want, got = len(reply) * N, 0
            while got < want:
                chunk = c.recv(1 << 20)
                self.assertTrue(chunk, f"closed after {got} of {want} bytes")
                got += len(chunk)
            self.assertEqual(got, want)
        self.assertLessEqual(own, LIMIT)


if __name__ == "__main__":
    sptest.main()
