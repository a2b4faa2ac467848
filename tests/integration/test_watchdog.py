#!/usr/bin/python3
"""The master's watchdog (worker_watchdog) against real redis-servers: one
of two workers is SIGSTOPped while 1,000 new clients arrive over 3 s (a
connect and one GET each); the master finds the hung worker, logs its pid,
slot and how long its loop stood still, kills it and starts another in its
slot, which inherits the slot's listening socket: the clients queued on it
are served, none is reset. In reuseport mode and in lock mode. An idle
proxy with the shortest watchdog kills nobody."""
import errno
import os
import re
import selectors
import signal
import socket
import time
import unittest

import sptest

CLIENTS = 1000
SPREAD_S = 3.0          # the clients' connects, evenly over this
REPLY_WITHIN_S = 6.0    # each client's connect to its reply
MIN_SERVED = 990
WATCHDOG_MS = 2000


def conf(port, backend_ports, accept_mode, workers=2, watchdog=WATCHDOG_MS):
    lines = ["global:", f"  worker_processes: {workers}",
             f"  accept_mode: {accept_mode}",
             f"  worker_watchdog: {watchdog}",
             "alpha:", f"  listen: 127.0.0.1:{port}", "  redis: true",
             "  backlog: 2048", "  timeout: 5000", "  servers:"]
    lines += [f"   - 127.0.0.1:{p}:1 s{i}" for i, p in enumerate(backend_ports)]
    return "\n".join(lines) + "\n"


class Client:
    __slots__ = ("sock", "start", "got", "sent", "done_at", "error")

    def __init__(self, sock, start):
        self.sock, self.start = sock, start
        self.got, self.sent = b"", False
        self.done_at, self.error = None, None


def storm(port, clients=CLIENTS, spread=SPREAD_S, within=REPLY_WITHIN_S):
    """`clients` clients connect evenly over `spread` s, each sends one GET
    and waits for its reply; returns (served within `within` s of its own
    connect, resets, the other failures, the slowest reply in s)."""
    sel = selectors.DefaultSelector()
    request = sptest.resp("GET", "watchdog:key")
    t0 = time.monotonic()
    started, live, done = 0, {}, []
    deadline = t0 + spread + within + 1.0
    while time.monotonic() < deadline and (started < clients or live):
        now = time.monotonic()
        while started < clients and now >= t0 + spread * started / clients:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c = Client(s, time.monotonic())
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                c.error = os.strerror(err)
                done.append(c)
                s.close()
            else:
                live[s.fileno()] = c
                sel.register(s, selectors.EVENT_WRITE, c)
            started += 1
        for key, ev in sel.select(timeout=0.005):
            c = key.data
            try:
                if not c.sent:
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err != 0:
                        raise OSError(err, os.strerror(err))
                    c.sock.sendall(request)
                    c.sent = True
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                part = c.sock.recv(4096)
                if not part:
                    raise ConnectionResetError(0, "EOF before the reply")
                c.got += part
                if not c.got.endswith(b"\r\n"):
                    continue
                c.done_at = time.monotonic()
            except OSError as e:
                c.error = e
            sel.unregister(c.sock)
            del live[c.sock.fileno()]
            c.sock.close()
            done.append(c)
    for c in live.values():
        c.error = "no reply"
        c.sock.close()
        done.append(c)
    sel.close()
    served = [c for c in done if c.error is None and c.got == b"$-1\r\n"
              and c.done_at - c.start <= within]
    resets = [c for c in done if isinstance(c.error, ConnectionResetError)]
    others = [c for c in done if c not in served and c not in resets]
    slowest = max((c.done_at - c.start for c in done if c.done_at), default=0)
    return len(served), len(resets), others, slowest


class WatchdogTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        sptest.raise_fd_limit(4 * CLIENTS)
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def start(self, accept_mode, **kw):
        port = sptest.free_port()
        proxy = self.harness.start_shardproxy(
            conf(port, [b.port for b in self.backends], accept_mode, **kw))
        return proxy, port

    def hung_worker_is_replaced(self, accept_mode):
        proxy, port = self.start(accept_mode)
        before = proxy.worker_pids()
        self.assertEqual(len(before), 2)
        victim = before[0]
        # whatever happens, the stopped worker does not outlive the test
        self.addCleanup(lambda: sptest.pid_alive(victim)
                        and os.kill(victim, signal.SIGKILL))
        os.kill(victim, signal.SIGSTOP)
        served, resets, others, slowest = storm(port)
        print(f"\n  {accept_mode}: {served} of {CLIENTS} served within "
              f"{REPLY_WITHIN_S:.0f} s, {resets} reset, {len(others)} other "
              f"failures, slowest reply {slowest:.2f} s")
        self.assertEqual(resets, 0)
        self.assertGreaterEqual(served, MIN_SERVED,
                                [str(c.error) for c in others[:5]])
        self.assertTrue(sptest.poll_until(
            lambda: victim not in proxy.worker_pids()
            and sptest.read_stats(proxy.stats_port)["workers"] == 2,
            "the hung worker's replacement", timeout=10))
        log = proxy.proc.log_text()
        m = re.search(rf"worker #(\d+) \(pid {victim}, generation \d+\) is hung:"
                      rf" its event loop has not turned for (\d+) ms "
                      rf"\(worker_watchdog {WATCHDOG_MS} ms\)", log)
        self.assertIsNotNone(m, proxy.proc.log_tail())
        self.assertGreaterEqual(int(m.group(2)), WATCHDOG_MS)
        self.assertIn(f"a new worker takes slot {m.group(1)}", log)
        stats = sptest.read_stats(proxy.stats_port)
        self.assertEqual(stats["watchdog_kills"], 1)
        print(f"  killed {m.group(2)} ms after its loop's last turn")

    def test_hung_worker_replaced_reuseport(self):
        self.hung_worker_is_replaced("reuseport")

    def test_hung_worker_replaced_lock(self):
        self.hung_worker_is_replaced("lock")

    def test_idle_and_busy_workers_are_not_killed(self):
        """The shortest watchdog, an idle proxy for 3.5 s (longer than the
        limit: the loop's tick keeps it turning), then a storm: nobody is
        killed."""
        for mode in ("reuseport", "lock"):
            proxy, port = self.start(mode)
            workers = sorted(proxy.worker_pids())
            end = time.monotonic() + 3.5
            # idle: the master's stats port answers meanwhile
            while time.monotonic() < end:
                self.assertEqual(
                    sptest.read_stats(proxy.stats_port)["watchdog_kills"], 0)
                time.sleep(0.5)
            served, resets, others, _ = storm(port, clients=300, spread=0.5)
            self.assertEqual((served, resets), (300, 0))
            self.assertEqual(sorted(proxy.worker_pids()), workers)
            self.assertEqual(
                sptest.read_stats(proxy.stats_port)["watchdog_kills"], 0)
            self.assertNotIn("is hung", proxy.proc.log_text())

    def test_watchdog_off(self):
        """worker_watchdog: 0: a stopped worker is left alone."""
        proxy, port = self.start("reuseport", watchdog=0)
        victim = proxy.worker_pids()[0]
        # it runs on afterwards, and stops cleanly with the rest
        self.addCleanup(lambda: sptest.pid_alive(victim)
                        and os.kill(victim, signal.SIGCONT))
        os.kill(victim, signal.SIGSTOP)
        time.sleep(2.5)     # what is tested is that nothing happens
        self.assertIn(victim, proxy.worker_pids())
        self.assertEqual(sptest.read_stats(proxy.stats_port)["watchdog_kills"],
                         0)


if __name__ == "__main__":
    unittest.main()
