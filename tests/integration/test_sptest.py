"""Self-test of the integration harness (sptest.py).

Owns the guarantees later tests rely on: fresh ports, readiness only when the
port belongs to our pid, retry after a lost port race, clear start errors with
log tails, stop by pid (SIGTERM, then SIGKILL), nothing left running after a
harness closes or after the test runner itself is killed, and the shardproxy
binary lookup / CLI timeout.  Runs in a few seconds.
"""

import os
import signal
import socket
import subprocess
import sys
import unittest
from pathlib import Path

import sptest

HERE = Path(__file__).resolve().parent


def gone(pid, timeout=5.0):
    """Poll until `pid` is no longer alive; True if it went."""
    try:
        sptest.poll_until(lambda: not sptest.pid_alive(pid), f"pid {pid} to exit", timeout)
        return True
    except sptest.StartError:
        return False


class FreePortTest(unittest.TestCase):
    def test_ports_are_fresh_and_bindable(self):
        ports = [sptest.free_port() for _ in range(50)]
        self.assertEqual(len(set(ports)), 50)
        with socket.socket() as s:
            s.bind(("127.0.0.1", ports[-1]))


class ServersTest(sptest.HarnessTestCase):
    def test_redis_answers_and_stops_by_pid(self):
        r = self.harness.start_redis(unixsocket=True)
        self.assertTrue(r.client().ping())
        self.assertTrue(os.path.exists(r.unixsocket))
        self.assertTrue(sptest.owns_listener(r.pid, r.port))
        r.proc.stop()
        self.assertFalse(sptest.pid_alive(r.pid))

    def test_memcached_answers(self):
        m = self.harness.start_memcached()
        self.assertTrue(sptest.tcp_request(m.port, b"version\r\n").startswith(b"VERSION "))

    def test_nutcracker_waits_for_every_pool(self):
        r = self.harness.start_redis()
        sock = self.harness.tmp.path / "nc.sock"
        conf = "".join(f"p{i}:\n  listen: 127.0.0.1:{sptest.free_port()}\n  redis: true\n"
                       f"  servers:\n   - 127.0.0.1:{r.port}:1\n" for i in range(3))
        conf += f"px:\n  listen: {sock} 0600\n  redis: true\n  servers:\n   - {r.addr}:1\n"
        n = self.harness.start_nutcracker(conf)
        self.assertEqual(sorted(n.pools), ["p0", "p1", "p2", "px"])
        self.assertEqual(n.pools["px"], str(sock))
        for pool in ("p0", "p1", "p2"):
            self.assertTrue(sptest.tcp_accepts(n.pools[pool]))
        self.assertTrue(sptest.owns_listener(n.pid, n.stats_port))
        reply = sptest.tcp_request(n.stats_port, b"", until=b"\0")
        self.assertIn(b'"service":"nutcracker"', reply)

    def test_bad_nutcracker_conf_fails_with_log_tail(self):
        conf = "p:\n  listen: 127.0.0.1:1\n  bogus: 1\n  servers:\n   - 127.0.0.1:1:1\n"
        with self.assertRaises(sptest.StartError) as cm:
            self.harness.start_nutcracker(conf)
        self.assertNotIsInstance(cm.exception, sptest.PortTaken)
        self.assertIn('directive "bogus" is unknown', str(cm.exception))

    def test_taken_port_is_reported_or_retried(self):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            taken = blocker.getsockname()[1]
            with self.assertRaises(sptest.PortTaken) as cm:
                self.harness.start_redis(port=taken)        # explicit: no retry
            self.assertIn("Address already in use", str(cm.exception))
            failed = self.harness.procs[-1]
            self.assertFalse(sptest.pid_alive(failed.pid))
            real, first = sptest.free_port, [taken]
            sptest.free_port = lambda: first.pop() if first else real()
            try:
                r = self.harness.start_redis()              # implicit: retried
            finally:
                sptest.free_port = real
            self.assertNotEqual(r.port, taken)
            self.assertTrue(r.client().ping())

    def test_stop_escalates_to_sigkill(self):
        code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(60)")
        proc = self.harness.start_process(
            "stubborn", [sys.executable, "-c", code],
            ready=lambda p: b"ready" in p.stdout_path.read_bytes(), what="ready line")
        self.assertEqual(proc.stop(timeout=0.5), -signal.SIGKILL)
        self.assertFalse(sptest.pid_alive(proc.pid))


class CleanupTest(unittest.TestCase):
    def test_close_stops_every_process_and_removes_tmp(self):
        h = sptest.Harness("cleanup")
        try:
            r = h.start_redis()
            m = h.start_memcached()
            n = h.start_nutcracker(f"p:\n  listen: 127.0.0.1:{sptest.free_port()}\n"
                                   f"  redis: true\n  servers:\n   - {r.addr}:1\n")
            pids = [r.pid, m.pid, n.pid]
        finally:
            h.close()
        self.assertEqual([p for p in pids if sptest.pid_alive(p)], [])
        self.assertFalse(h.tmp.path.exists())

    def test_servers_die_with_a_killed_runner(self):
        """A runner killed outright (ctest timeout) takes its servers along."""
        code = ("import sys, time, sptest; h = sptest.Harness('orphan'); "
                "r = h.start_redis(); print(r.pid, h.tmp.path, flush=True); time.sleep(60)")
        runner = subprocess.Popen([sys.executable, "-c", code], cwd=HERE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            line = runner.stdout.readline().split()
            self.assertEqual(len(line), 2, "runner did not report its redis pid")
            redis_pid, tmp = int(line[0]), line[1].decode()
            self.assertTrue(sptest.pid_alive(redis_pid))
        finally:
            runner.kill()
            runner.wait(5)
            runner.stdout.close()
        self.assertTrue(gone(redis_pid), f"redis pid {redis_pid} outlived its runner")
        subprocess.run(["rm", "-rf", tmp], check=False)


class ShardproxyBinTest(sptest.HarnessTestCase):
    def setUp(self):
        super().setUp()
        saved = os.environ.get("SHARDPROXY_BIN")
        self.addCleanup(lambda: os.environ.__setitem__("SHARDPROXY_BIN", saved)
                        if saved is not None else os.environ.pop("SHARDPROXY_BIN", None))

    def test_missing_binary_fails_or_skips_clearly(self):
        # named explicitly (as ctest does): missing is a failure, never a skip
        os.environ["SHARDPROXY_BIN"] = "/nonexistent/shardproxy"
        with self.assertRaisesRegex(AssertionError, "/nonexistent/shardproxy"):
            sptest.shardproxy_bin()
        with self.assertRaisesRegex(AssertionError, "/nonexistent/shardproxy"):
            sptest.shardproxy_bin(skip_if_missing=True)
        # not named and the default build is missing: a skip when asked
        os.environ.pop("SHARDPROXY_BIN")
        default = sptest.REPO_ROOT / "build" / "shardproxy"
        if not default.exists():
            with self.assertRaises(unittest.SkipTest):
                sptest.shardproxy_bin(skip_if_missing=True)

    def test_cli_run_and_timeout(self):
        fake = self.harness.tmp.file("fake-shardproxy",
                                     "#!/bin/sh\n[ \"$1\" = hang ] && exec sleep 30\n"
                                     "echo \"args:$*\"; cat; exit 3\n")
        fake.chmod(0o755)
        os.environ["SHARDPROXY_BIN"] = str(fake)
        run = self.harness.run_shardproxy(["-c", "x"], input=b"in\n", timeout=5)
        self.assertEqual((run.returncode, run.stdout), (3, b"args:-c x\nin\n"))
        with self.assertRaisesRegex(AssertionError, "did not finish within 0.3s"):
            self.harness.run_shardproxy(["hang"], timeout=0.3)


if __name__ == "__main__":
    sptest.main()
