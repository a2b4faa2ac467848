#!/usr/bin/env python3
"""Flow control (issue 19): a client that pipelines and does not read its
replies is held back by its window (client_high_watermark /
client_low_watermark), never closed, and the worker's memory stays bounded;
a bulk loader (redis-cli --pipe) is never cut off.  Real redis-servers,
one worker, the default watermarks (1 MiB high, 256 KiB low)."""

import os
import signal
import socket
import subprocess
import threading
import time

import sptest
from test_redis_proxy import count_replies, pool_yaml, resp

MB = 1024 * 1024
RSS_BOUND_KB = 256 * 1024       # the bound for the worker
KEYS = 100


def connect(port, timeout=10.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_replies(sock, n):
    """Bytes of the next n whole replies (the caller sent exactly those)."""
    data = b""
    while count_replies(data) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {count_replies(data)} of {n} replies")
        data += chunk
    return data


class Pipelining:
    """A proxy of one worker in front of two redis-servers, with GLOBAL
    keys and POOL keys, and a client that pipelines without reading."""
    GLOBAL = ""
    POOL = {}

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.backends = [h.start_redis(), h.start_redis()]
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 1\n" + h.worker_stats_yaml()
            + cls.GLOBAL
            + pool_yaml("flow", cls.port,
                        [(b.port, 1, f"s{i}") for i, b in enumerate(cls.backends)],
                        **cls.POOL))

    def worker_rss_kb(self):
        return sptest.rss_kb(self.proxy.worker_pids())

    def pipeline_without_reading(self):
        """100 MB of GETs from a client that reads nothing: it is held
        back, another client is served meanwhile, the worker's memory stays
        bounded; then it reads and gets every reply, in order. Returns the
        worker's stats while it was held."""
        # KEYS keys with values; one block = a GET of each, its replies known
        with connect(self.port) as c:
            c.sendall(b"".join(resp("SET", f"flow:{i}", f"v{i}") for i in range(KEYS)))
            read_replies(c, KEYS)
        block = b"".join(resp("GET", f"flow:{i}") for i in range(KEYS)) * 50
        replies = b"".join(b"$%d\r\nv%d\r\n" % (len(str(i)) + 1, i)
                           for i in range(KEYS)) * 50
        nblocks = (100 * MB) // len(block) + 1          # 100 MB of GETs
        rss_start = self.worker_rss_kb()

        pipeliner = connect(self.port, timeout=120)
        self.addCleanup(pipeliner.close)
        sent = [0]                                      # blocks written

        def write_all():
            try:
                for _ in range(nblocks):
                    pipeliner.sendall(block)
                    sent[0] += 1
            except OSError:
                pass
        writer = threading.Thread(target=write_all, daemon=True)
        writer.start()

        # it is held back: its writes stall far short of 100 MB, and the
        # worker serves another client meanwhile with its memory bounded
        last, still_since = -1, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = sent[0]
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since > 1.0:
                break
            time.sleep(0.05)
        self.assertLess(sent[0], nblocks, "the writer was never held back")
        self.assertLess(sent[0] * len(block), 32 * MB)
        with connect(self.port) as other:
            for i in range(20):
                other.sendall(resp("GET", f"flow:{i}"))
                self.assertEqual(read_replies(other, 1),
                                 b"$%d\r\nv%d\r\n" % (len(str(i)) + 1, i))
        # a writer stalled for a second may only wait for a worker slowed
        # by the machine's load: held is what the worker says, polled
        def held():
            s = sptest.read_stats(self.proxy.worker_stats(0))
            return s if s["clients_held"] == 1 else None
        held_stats = sptest.poll_until(held, "the pipeliner held", timeout=60)
        held_rss = self.worker_rss_kb()
        self.assertLess(held_rss, RSS_BOUND_KB, f"worker RSS {held_rss} kB")

        # it reads: every reply arrives, in order, and the writer finishes
        want = nblocks * len(replies)
        got, peak = 0, held_rss
        view = memoryview(replies)
        deadline = time.monotonic() + 300
        while got < want:
            self.assertLess(time.monotonic(), deadline, f"{got} of {want} bytes")
            chunk = pipeliner.recv(1 << 20)
            self.assertTrue(chunk, f"closed after {got} of {want} bytes")
            off = got % len(replies)
            pos = 0
            while pos < len(chunk):         # compare against the known block
                n = min(len(chunk) - pos, len(replies) - off)
                self.assertEqual(chunk[pos:pos + n], view[off:off + n],
                                 f"reply bytes differ at {got + pos}")
                pos += n
                off = 0
            got += len(chunk)
            if got % (8 * MB) < len(chunk):
                peak = max(peak, self.worker_rss_kb())
        writer.join(30)
        self.assertFalse(writer.is_alive())
        self.assertEqual(sent[0], nblocks)
        self.assertLess(peak, RSS_BOUND_KB, f"worker RSS peak {peak} kB")
        stats = sptest.read_stats(self.proxy.worker_stats(0))
        self.assertEqual(stats["clients_held"], 0)
        self.assertEqual(stats["flow"]["client_err"], 0)
        # the burst's memory comes back while the proxy keeps serving: each
        # look at the RSS also asks for a key on a new connection
        served = [0]

        def back_and_serving():
            with connect(self.port) as c:
                i = served[0] % KEYS
                c.sendall(resp("GET", f"flow:{i}"))
                self.assertEqual(read_replies(c, 1),
                                 b"$%d\r\nv%d\r\n" % (len(str(i)) + 1, i))
            served[0] += 1
            return self.worker_rss_kb() - rss_start < 64 * 1024
        sptest.poll_until(back_and_serving,
                          "the worker's RSS back near its start", timeout=30)
        self.assertGreater(served[0], 0)
        print(f"\n  100 MB of GETs held back at {last * len(block) // 1024} kB "
              f"written; worker RSS {rss_start} kB at the start, {held_rss} kB "
              f"held, {peak} kB peak")
        return held_stats


class FlowControlTest(Pipelining, sptest.HarnessTestCase):
    """The default windows (worker_memory_budget: auto, far above)."""

    def test_pipeliner_that_does_not_read_is_held_not_closed(self):
        stats = self.pipeline_without_reading()
        self.assertGreaterEqual(stats["clients_paused"], 1)
        self.assertEqual(stats["budget_pauses"], 0)

    def test_bulk_load_with_redis_cli_pipe(self):
        n = 1_000_000
        data = self.harness.tmp.path / "bulk.resp"
        with open(data, "wb") as f:
            step = 10_000
            for first in range(0, n, step):
                f.write(b"".join(resp("SET", f"bulk:{i}", f"value-{i}")
                                 for i in range(first, first + step)))
        peak = [self.worker_rss_kb()]
        done = threading.Event()

        def sample():
            while not done.wait(0.2):
                peak[0] = max(peak[0], self.worker_rss_kb())
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with open(data, "rb") as f:
                r = subprocess.run([sptest.require_binary("redis-cli"), "-p",
                                    str(self.port), "--pipe"], stdin=f,
                                   capture_output=True, timeout=300)
        finally:
            done.set()
            sampler.join()
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn(f"errors: 0, replies: {n}", out)
        total = sum(int(sptest.tcp_request(b.port, resp("DBSIZE"))[1:-2])
                    for b in self.backends)
        self.assertEqual(total, n)
        self.assertLess(peak[0], RSS_BOUND_KB, f"worker RSS peak {peak[0]} kB")
        print(f"\n  redis-cli --pipe of {n} SETs: {out.strip().splitlines()[-1]}; "
              f"worker RSS peak {peak[0]} kB")



class MemoryBudgetTest(Pipelining, sptest.HarnessTestCase):
    """No client window: the worker's memory budget (8 MiB) alone holds the
    pipeliner back, its largest holder."""
    GLOBAL = "  worker_memory_budget: 8\n"
    POOL = {"client_high_watermark": 0}

    def test_pipeliner_that_does_not_read_is_held_not_closed(self):
        stats = self.pipeline_without_reading()
        self.assertEqual(stats["memory_budget"], 8 * MB)
        self.assertGreaterEqual(stats["budget_pauses"], 1)
        self.assertEqual(stats["clients_paused"], 0)    # no window pause



class ServerQueueTest(sptest.HarnessTestCase):
    """A server that stops reading: what waits for it in the worker stays
    near server_high_watermark (1 MiB here), its clients wait instead of
    failing, a pool on another server is served meanwhile, and when the
    server goes on every request is applied and answered in order."""
    CLIENTS = 20
    PER_CLIENT = 512 * 1024     # bytes of SETs each

    def test_slow_server_makes_requests_wait(self):
        h = self.harness
        slow, other = h.start_redis(), h.start_redis()
        sport, oport = sptest.free_port(), sptest.free_port()
        proxy = h.start_shardproxy(
            "global:\n  worker_processes: 1\n" + h.worker_stats_yaml()
            + pool_yaml("slow", sport, [(slow.port, 1, "s0")],
                        server_high_watermark=MB,
                        server_low_watermark=MB // 4)
            + pool_yaml("other", oport, [(other.port, 1, "o0")]))
        value = "v" * 1000
        per = self.PER_CLIENT // len(resp("SET", "k:00:0000", value))
        os.kill(slow.pid, signal.SIGSTOP)
        stopped = True
        try:
            clients = [connect(sport, timeout=60) for _ in range(self.CLIENTS)]
            for c in clients:
                self.addCleanup(c.close)
            sent = [0] * self.CLIENTS

            def write(i):
                payload = b"".join(resp("SET", f"k:{i:02}:{j:04}", value)
                                   for j in range(per))
                clients[i].sendall(payload)
                sent[i] = len(payload)
            writers = [threading.Thread(target=write, args=(i,), daemon=True)
                       for i in range(self.CLIENTS)]
            for w in writers:
                w.start()
            # the queue for the stopped server levels off near its mark
            queued = lambda: sptest.read_stats(proxy.worker_stats(0))[
                "slow"]["s0"]["in_queue_bytes"]
            last, since = -1, time.monotonic()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and time.monotonic() - since < 1.0:
                now = queued()
                if now != last:
                    last, since = now, time.monotonic()
                time.sleep(0.05)
            stats = sptest.read_stats(proxy.worker_stats(0))
            self.assertGreaterEqual(stats["server_waits"], 1)
            # the mark, plus at most a read's worth from each client
            self.assertLess(last, MB + self.CLIENTS * 64 * 1024, last)
            self.assertEqual(stats["slow"]["client_err"], 0)
            # the other pool's server is served meanwhile
            with connect(oport) as o:
                t0 = time.monotonic()
                o.sendall(resp("SET", "other", "1") + resp("GET", "other"))
                self.assertEqual(read_replies(o, 2), b"+OK\r\n$1\r\n1\r\n")
                self.assertLess(time.monotonic() - t0, 2.0)
            os.kill(slow.pid, signal.SIGCONT)
            stopped = False
            for i, c in enumerate(clients):
                self.assertEqual(read_replies(c, per), b"+OK\r\n" * per, i)
            for w in writers:
                w.join(30)
                self.assertFalse(w.is_alive())
        finally:
            if stopped:
                os.kill(slow.pid, signal.SIGCONT)
        dbsize = int(sptest.tcp_request(slow.port, resp("DBSIZE"))[1:-2])
        self.assertEqual(dbsize, self.CLIENTS * per)
        print(f"\n  {self.CLIENTS} clients x {per} SETs to a stopped server: "
              f"{last} bytes queued in the worker at most; "
              f"{stats['server_waits']} waits")


if __name__ == "__main__":
    sptest.main()
