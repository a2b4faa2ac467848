#!/usr/bin/python3
"""event_backend: the workers on io_uring serve (small and large requests,
pipelines, a value bigger than the ring's buffers), a reload moves their
clients to epoll workers and back without a lost connection, and where
io_uring is refused (a seccomp filter: no_io_uring.py) the master logs one
line and the workers run on epoll. The data path's suites run on io_uring
too (ctest's *_io_uring entries, SP_TEST_EVENT_BACKEND)."""
import os
import signal
import socket
import unittest
from pathlib import Path

import sptest

HERE = Path(__file__).resolve().parent
resp = sptest.resp


def conf(port, backends, backend, workers=2):
    lines = ["global:", f"  worker_processes: {workers}",
             f"  event_backend: {backend}",
             "alpha:", f"  listen: 127.0.0.1:{port}", "  redis: true",
             "  timeout: 5000", "  servers:"]
    lines += [f"   - 127.0.0.1:{b.port}:1 s{i}" for i, b in enumerate(backends)]
    return "\n".join(lines) + "\n"


def rings(pid):
    """io_uring instances process pid holds."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]":
                n += 1
        except OSError:
            continue
    return n


def read_reply(sock, want):
    """Bytes until `want` bytes arrived (bounded by the socket timeout)."""
    data = b""
    while len(data) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def exercise(sock, tag):
    """SET/GET, a 500-request pipeline in one send, and a 300 KB value
    (much more than one of the ring's 4 KiB buffers) through one client."""
    sock.sendall(resp("SET", f"k:{tag}", tag))
    assert read_reply(sock, 5) == b"+OK\r\n"
    sock.sendall(resp("GET", f"k:{tag}", ))
    want = b"$%d\r\n%s\r\n" % (len(tag), tag.encode())
    assert read_reply(sock, len(want)) == want, tag
    sock.sendall(resp("PING") * 500)
    assert read_reply(sock, 7 * 500) == b"+PONG\r\n" * 500
    big = os.urandom(150 * 1024).hex().encode()
    sock.sendall(resp("SET", f"big:{tag}", big))
    assert read_reply(sock, 5) == b"+OK\r\n"
    sock.sendall(resp("GET", f"big:{tag}"))
    want = b"$%d\r\n%s\r\n" % (len(big), big)
    assert read_reply(sock, len(want)) == want, f"{tag}: 300 KB value"


class EventBackendTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def workers(self, proxy):
        return sptest.children(proxy.pid)

    def wait_generation(self, proxy, gen):
        def converged():
            s = sptest.read_stats(proxy.stats_port)
            return (s["generation"] == gen and s["workers"] == proxy.nworkers
                    and s["retiring"] == 0)
        self.assertTrue(sptest.poll_until(converged, f"generation {gen} alone",
                                          timeout=30))

    def test_io_uring_serves_and_reloads_to_epoll_and_back(self):
        port = sptest.free_port()
        proxy = self.harness.start_shardproxy(conf(port, self.backends,
                                                   "io_uring"))
        self.assertIn("event_backend io_uring", proxy.proc.log_text())
        pids = self.workers(proxy)
        self.assertEqual(len(pids), 2)
        self.assertEqual([rings(p) for p in pids], [1, 1])

        socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
                 for _ in range(20)]
        self.addCleanup(lambda: [s.close() for s in socks])
        for i, s in enumerate(socks):
            exercise(s, f"u{i}")

        # to epoll: the clients are handed to workers without a ring
        proxy.conf_path.write_text(conf(port, self.backends, "epoll"))
        proxy.proc.signal(signal.SIGHUP)
        self.wait_generation(proxy, 2)
        self.assertEqual([rings(p) for p in self.workers(proxy)], [0, 0])
        for i, s in enumerate(socks):
            exercise(s, f"e{i}")
        stats = sptest.read_stats(proxy.stats_port)
        self.assertEqual(stats["handoffs"], 20)
        self.assertEqual(stats["handoffs_closed"], 0)

        # and back: the epoll workers' clients go to io_uring ones
        proxy.conf_path.write_text(conf(port, self.backends, "io_uring"))
        proxy.proc.signal(signal.SIGHUP)
        self.wait_generation(proxy, 3)
        self.assertEqual([rings(p) for p in self.workers(proxy)], [1, 1])
        for i, s in enumerate(socks):
            exercise(s, f"v{i}")
        stats = sptest.read_stats(proxy.stats_port)
        self.assertEqual(stats["handoffs"], 40)
        self.assertEqual(stats["handoffs_closed"], 0)
        self.assertEqual(stats["alpha"]["client_connections"], 20)

    def test_refused_io_uring_falls_back_to_epoll_with_one_line(self):
        port = sptest.free_port()
        proxy = self.harness.start_shardproxy(
            conf(port, self.backends, "io_uring"),
            prefix=["/usr/bin/python3", str(HERE / "no_io_uring.py")])
        log = proxy.proc.log_text()
        self.assertEqual(log.count("event_backend io_uring is not available"),
                         1, log)
        self.assertIn("event_backend epoll", log)
        self.assertEqual([rings(p) for p in self.workers(proxy)], [0, 0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            exercise(s, "fallback")
        # a reload asks again, and says so once more
        proxy.proc.signal(signal.SIGHUP)
        self.wait_generation(proxy, 2)
        log = proxy.proc.log_text()
        self.assertEqual(log.count("event_backend io_uring is not available"),
                         2, log)
        self.assertEqual([rings(p) for p in self.workers(proxy)], [0, 0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
