#!/usr/bin/python3
"""Connection storms against 2 workers and real redis-servers (issue 23):
2,000 clients connecting at once, one GET each, in both accept modes — none
waits over 1 s (a SYN dropped at a full listen queue is retried after 1 s),
and the workers share them within 1.15; with accept_lock_threshold 1000 and
3,000 clients every client is answered (the least loaded worker accepts
past the threshold); at the descriptor limit clients get "-ERR max number
of clients reached", not silence; a stopped lock-mode worker does not stop
the other. Clients' times are printed (p50, p99)."""
import unittest

import sptest
from storm import Storm

STORM = 2000
ATTEMPTS = 2        # a storm is retried once: a neighbour's load spike on a
                    # shared 2-core machine may delay a SYN, or stall a
                    # worker longer than the listen queue lasts (in lock
                    # mode the other then takes its share rather than let
                    # the queue overflow); twice is a fault


def conf(port, backend_ports, workers=2, **global_keys):
    lines = ["global:", f"  worker_processes: {workers}"]
    lines += [f"  {k}: {v}" for k, v in global_keys.items()]
    lines += ["alpha:", f"  listen: 127.0.0.1:{port}", "  redis: true",
              "  backlog: 512", "  timeout: 5000", "  servers:"]
    lines += [f"   - 127.0.0.1:{p}:1 s{i}" for i, p in enumerate(backend_ports)]
    return "\n".join(lines) + "\n"


class StormTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        sptest.raise_fd_limit(16384)
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def start(self, pool_keys=(), **global_keys):
        port = sptest.free_port()
        global_keys.setdefault("worker_stats_listen",
                               self.harness.worker_stats_path())
        global_keys.setdefault("max_openfiles", 16384)
        text = conf(port, [b.port for b in self.backends], **global_keys)
        text = text.replace("  redis: true\n", "  redis: true\n" + "".join(
            f"  {key}\n" for key in pool_keys))
        proxy = self.harness.start_shardproxy(text)
        return proxy, port

    def held(self, proxy):
        return [sptest.read_stats(proxy.worker_stats(i))["alpha"]
                ["client_connections"] for i in range(2)]

    def storm(self, port, n, deadline=20.0, connected=None):
        storm = Storm(port, n, deadline=deadline)
        self.addCleanup(storm.close)
        return storm.run(connected)

    def check_storm(self, mode):
        proxy, port = self.start(accept_mode=mode)
        for attempt in range(ATTEMPTS):
            storm = self.storm(port, STORM)
            print(f"\n  {mode}: {storm.summary()}")
            self.assertEqual(storm.silent(), [], "clients never answered")
            self.assertEqual(len(storm.answered()), STORM, storm.summary())
            self.assertEqual(storm.errors(), 0, storm.summary())
            # every client is still connected: the workers hold them all
            self.assertTrue(sptest.poll_until(
                lambda: sum(self.held(proxy)) == STORM, "the clients counted",
                timeout=10))
            held = self.held(proxy)
            print(f"  {mode}: per worker {held}, "
                  f"ratio {max(held) / max(1, min(held)):.3f}")
            late = storm.over(1.0)
            balanced = max(held) <= 1.15 * min(held)
            storm.close()
            self.assertTrue(sptest.poll_until(
                lambda: sum(self.held(proxy)) == 0, "the clients gone",
                timeout=10))
            if (late == 0 and balanced) or attempt == ATTEMPTS - 1:
                break
        self.assertEqual(late, 0, f"{late} clients waited over 1 s")
        self.assertLessEqual(max(held), 1.15 * min(held), held)

    def test_storm_reuseport(self):
        self.check_storm("reuseport")

    def test_storm_lock(self):
        self.check_storm("lock")

    def test_full_workers_still_answer(self):
        """Every worker past accept_lock_threshold: the least loaded takes
        the next client; none waits for one to leave."""
        proxy, port = self.start(accept_mode="lock", accept_lock_threshold=1000)
        storm = self.storm(port, 3000, deadline=10.0)
        print(f"\n  threshold 1000, 3000 clients: {storm.summary()}")
        self.assertEqual(storm.silent(), [], "clients waiting silently")
        self.assertEqual(len(storm.answered()), 3000, storm.summary())
        self.assertLess(max(storm.answered()), 5.0, storm.summary())
        held = self.held(proxy)
        print(f"  per worker {held}")
        self.assertEqual(sum(held), 3000 - storm.errors())

    def test_stopped_worker_does_not_stop_lock_mode(self):
        """SIGSTOP one of two lock-mode workers: nothing it holds keeps new
        clients from the other (it is not waiting in epoll_wait, so the
        kernel wakes the other; the balance stops deferring to it)."""
        import os
        import signal
        proxy, port = self.start(accept_mode="lock")
        stopped = proxy.worker_pids()[0]
        os.kill(stopped, signal.SIGSTOP)
        self.addCleanup(os.kill, stopped, signal.SIGCONT)
        storm = self.storm(port, 1000, deadline=10.0)
        print(f"\n  one worker stopped: {storm.summary()}")
        self.assertEqual(storm.silent(), [], "clients waiting silently")
        self.assertEqual(len(storm.answered()), 1000, storm.summary())
        # issue 23: at least 990 of 1,000 within 6 s, none reset (the
        # release build answers all within 30 ms; the ASan build under a
        # parallel ctest once let 156 retry their SYN after 1 s)
        self.assertLessEqual(storm.over(6.0), 10, storm.summary())

    def test_descriptor_limit_answers_with_an_error(self):
        """At EMFILE the spare descriptor is given up to tell the client
        (nginx/HAProxy), in either mode; nobody waits silently. The server
        connections are not opened in advance (no preconnect), and the
        workers are stopped while the clients connect, so each finds its
        queue full when it runs and accepts up to its limit before it reads
        a request: it keeps a descriptor for each server connection it may
        still open, so the clients it takes are served, none is answered
        "-ERR Connection failed"."""
        import os
        import signal
        for mode in ("lock", "reuseport"):
            proxy, port = self.start(accept_mode=mode, max_openfiles=128)
            workers = proxy.worker_pids()

            def run():
                for pid in workers:
                    os.kill(pid, signal.SIGCONT)
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            try:
                storm = self.storm(port, 400, deadline=10.0, connected=run)
            finally:
                run()
            print(f"\n  {mode}, 128 descriptors a worker: {storm.summary()}")
            self.assertEqual(storm.silent(), [], "clients waiting silently")
            errors = [r for r in storm.reply if r is not None
                      and r.startswith(b"-")]
            failed = errors.count(b"-ERR Connection failed")
            self.assertEqual(failed, 0, f"{failed} clients answered '-ERR "
                             f"Connection failed': {storm.summary()}")
            self.assertGreater(len(errors), 0, storm.summary())
            self.assertEqual(set(errors),
                             {b"-ERR max number of clients reached"})
            self.assertEqual(len(storm.answered()), 400, storm.summary())
            storm.close()
            proxy.proc.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
