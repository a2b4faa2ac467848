#!/usr/bin/python3
"""Zero-loss operations under continuous load: HUP reloads with live
connection handoff (alternating configs, one adding a pool), an invalid
config, the USR2 binary upgrade with WINCH and QUIT of the old master, its
rollback, a broken new binary, log rotation with USR1 and the -k verbs.

The load: 16 persistent connections, each sending pipelined batches of
SET/GET pairs with fresh values and checking every reply; a request written
on a connection that then closes without its reply is lost."""
import os
import shutil
import signal
import socket
import stat
import threading
import time

import sptest

NCONN = 16
PAIRS = 4               # SET/GET pairs per pipelined batch


resp = sptest.resp


class Reader:
    """Just enough RESP for +OK, -ERR, $bulk replies."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return line


class Load:
    """NCONN threads of pipelined SET/GET batches. `reconnect`: after a
    close by the proxy, connect again (an upgrade closes at request
    boundaries); else that connection stops."""

    def __init__(self, port, reconnect=False, tag="load"):
        self.port, self.reconnect, self.tag = port, reconnect, tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = self.replies = self.lost = self.wrong = 0
        self.closed = self.connects = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(NCONN)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def run(self, i):
        seq = 0
        while not self.stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError as e:
                self.errors.append(f"connect: {e}")
                time.sleep(0.05)        # the listener is gone: a bounded retry
                if len(self.errors) > 100:
                    return
                continue
            self.count(connects=1)
            reader = Reader(sock)
            try:
                while not self.stop.is_set():
                    seq += 1
                    batch, expect = [], []
                    for j in range(PAIRS):
                        key, val = f"{self.tag}:{i}:{j}", f"v{seq}-{i}-{j}"
                        batch += [resp("SET", key, val), resp("GET", key)]
                        expect += [b"+OK", val.encode()]
                    sock.sendall(b"".join(batch))
                    self.count(requests=len(expect))
                    got = 0
                    try:
                        for want in expect:
                            r = reader.reply()
                            got += 1
                            if r != want:
                                self.count(wrong=1)
                                self.errors.append(f"conn {i}: {r!r} != {want!r}")
                    except (EOFError, ConnectionResetError, socket.timeout) as e:
                        self.count(replies=got, lost=len(expect) - got, closed=1)
                        if len(expect) - got:
                            self.errors.append(f"conn {i}: {type(e).__name__} with "
                                               f"{len(expect) - got} replies owed")
                        break
                    self.count(replies=got)
            except (BrokenPipeError, ConnectionResetError):
                self.count(closed=1)
            finally:
                sock.close()
            if not self.reconnect:
                return

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return self

    def snapshot(self):
        with self.lock:
            return self.replies

    def wait_progress(self, n=200, timeout=20):
        start = self.snapshot()
        sptest.poll_until(lambda: self.snapshot() >= start + n,
                          f"{n} more replies", timeout=timeout)


def two_pools_conf(port, beta_port, backends, workers=2, shutdown=10,
                   accept_mode="reuseport"):
    text = (f"global:\n  worker_processes: {workers}\n"
            f"  worker_shutdown_timeout: {shutdown}\n"
            f"  accept_mode: {accept_mode}\n"
            f"alpha:\n  listen: 127.0.0.1:{port}\n  redis: true\n  servers:\n")
    text += "".join(f"   - 127.0.0.1:{b.port}:1 s{i}\n" for i, b in enumerate(backends))
    if beta_port:
        text += (f"beta:\n  listen: 127.0.0.1:{beta_port}\n  redis: true\n"
                 f"  servers:\n   - 127.0.0.1:{backends[0].port}:1 b0\n")
    return text


def ping(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp("PING"))
        return Reader(s).reply()


class ReloadTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def start(self, beta=False, **kw):
        self.port, self.beta_port = sptest.free_port(), sptest.free_port()
        text = two_pools_conf(self.port, self.beta_port if beta else None,
                              self.backends, **kw)
        proxy = self.harness.start_shardproxy(text)
        return proxy

    def stats(self, proxy):
        return sptest.read_stats(proxy.stats_port)

    def wait_generation(self, proxy, gen, timeout=20):
        """Generation `gen` serves with every worker and no older one is left."""
        def converged():
            s = self.stats(proxy)
            return (s["generation"] == gen and s["workers"] == proxy.nworkers
                    and s["retiring"] == 0)
        self.assertTrue(sptest.poll_until(converged, f"generation {gen} alone",
                                          timeout=timeout))

    def test_ten_reloads_under_load_lose_nothing(self):
        proxy = self.start(beta=False)
        path = proxy.conf_path
        confs = [two_pools_conf(self.port, None, self.backends),
                 two_pools_conf(self.port, self.beta_port, self.backends)]
        load = Load(self.port, reconnect=False, tag="hup").start()
        self.addCleanup(load.finish)
        load.wait_progress()
        sockets = sptest.listening_inodes(self.port)
        self.assertEqual(len(sockets), proxy.nworkers)      # one per worker
        timings = []
        for n in range(10):
            with_beta = n % 2 == 0
            path.write_text(confs[1 if with_beta else 0])
            before = load.snapshot()
            t0 = time.monotonic()
            proxy.proc.signal(signal.SIGHUP)
            self.wait_generation(proxy, n + 2)
            timings.append((time.monotonic() - t0, load.snapshot() - before))
            if with_beta:
                self.assertEqual(ping(self.beta_port), b"+PONG")
            else:
                self.assertFalse(proxy.listens_on(self.beta_port))
            load.wait_progress(100)
        load.finish()
        # the very same listening sockets all along: never closed, reopened
        self.assertEqual(sptest.listening_inodes(self.port), sockets)
        self.assertEqual(load.errors, [])
        self.assertEqual(load.lost, 0)
        self.assertEqual(load.wrong, 0)
        self.assertEqual(load.closed, 0)          # every connection followed
        self.assertEqual(load.connects, NCONN)
        stats = self.stats(proxy)
        self.assertEqual(stats["reloads"], 10)
        self.assertEqual(stats["reload_failed"], 0)
        self.assertGreater(stats["handoffs"], 0)
        self.assertEqual(stats["handoffs_closed"], 0)
        # counters carried over the generations: every request counted once
        served = sum(v["requests"] for v in stats["alpha"].values()
                     if isinstance(v, dict))
        self.assertGreaterEqual(served, load.replies)
        worst = max(t for t, _ in timings)
        print(f"\n  10 HUPs under load: {load.replies} replies, 0 lost, 0 wrong, "
              f"0 closed, {stats['handoffs']} handoffs; converged in "
              f"{min(t for t, _ in timings) * 1000:.0f}-{worst * 1000:.0f} ms, "
              f"{min(r for _, r in timings)}-{max(r for _, r in timings)} replies "
              f"during each")

    def test_accept_mode_and_worker_count_change_under_load(self):
        proxy = self.start()
        load = Load(self.port, tag="modes").start()
        self.addCleanup(load.finish)
        load.wait_progress()
        steps = [dict(workers=2, accept_mode="lock"),
                 dict(workers=1, accept_mode="reuseport"),
                 dict(workers=2, accept_mode="reuseport")]
        for n, keys in enumerate(steps):
            proxy.conf_path.write_text(two_pools_conf(self.port, None,
                                                      self.backends, **keys))
            proxy.nworkers = keys["workers"]
            proxy.proc.signal(signal.SIGHUP)
            self.wait_generation(proxy, n + 2)
            load.wait_progress()
            # no socket too many left taking connections nobody accepts
            want = keys["workers"] if keys["accept_mode"] == "reuseport" else 1
            self.assertTrue(sptest.poll_until(
                lambda: len(sptest.listening_inodes(self.port)) == want,
                f"{want} listening socket(s)", timeout=10))
        load.finish()
        self.assertEqual(self.stats(proxy)["reload_failed"], 0)
        self.assertEqual((load.lost, load.wrong, load.closed), (0, 0, 0),
                         load.errors[:3])

    def test_invalid_config_keeps_the_running_generation(self):
        proxy = self.start()
        good = proxy.conf_path.read_text()
        load = Load(self.port, tag="bad").start()
        self.addCleanup(load.finish)
        load.wait_progress()
        proxy.conf_path.write_text(good.replace("redis: true", "redis: maybe", 1))
        proxy.proc.signal(signal.SIGHUP)
        self.assertTrue(sptest.poll_until(
            lambda: self.stats(proxy)["reload_failed"] == 1, "the failed reload",
            timeout=10))
        load.wait_progress()
        load.finish()
        log = proxy.proc.log_text()
        self.assertRegex(log, r"reload failed: \S+\.yml:\d+:\d+: pool 'alpha': "
                              r"redis 'maybe'")
        stats = self.stats(proxy)
        self.assertEqual(stats["generation"], 1)
        self.assertEqual(stats["workers"], 2)
        self.assertEqual((load.lost, load.wrong, load.closed), (0, 0, 0))
        proxy.conf_path.write_text(good)           # and a good one works after
        proxy.proc.signal(signal.SIGHUP)
        self.wait_generation(proxy, 2)

    def test_hup_during_a_reload_and_a_half_sent_request(self):
        proxy = self.start()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        whole = resp("SET", "half", "sent")
        reader = Reader(s)
        # one write: the PING's reply proves the worker read the partial SET
        # behind it, which generation 1 now holds
        s.sendall(resp("PING") + whole[:-6])
        self.assertEqual(reader.reply(), b"+PONG")
        proxy.proc.signal(signal.SIGHUP)
        self.assertTrue(sptest.poll_until(
            lambda: self.stats(proxy)["generation"] == 2
            and self.stats(proxy)["workers"] == 2, "generation 2", timeout=10))
        self.assertEqual(self.stats(proxy)["retiring"], 1)   # waits for our request
        proxy.proc.signal(signal.SIGHUP)                      # a HUP during a reload
        self.assertTrue(sptest.poll_until(
            lambda: self.stats(proxy)["generation"] == 3, "generation 3", timeout=10))
        # generation 2 (no client) retires at once; 1 still holds our request
        self.assertTrue(sptest.poll_until(
            lambda: self.stats(proxy)["retiring"] == 1, "generation 2 retired",
            timeout=10))
        s.sendall(whole[-6:])
        self.assertEqual(reader.reply(), b"+OK")             # from generation 1
        self.wait_generation(proxy, 3)                        # then handed over
        s.sendall(resp("GET", "half"))
        self.assertEqual(reader.reply(), b"sent")            # from generation 3
        # handed over once (1 -> 3), or twice if generation 1 had not read
        # the partial request before it retired (1 -> 2 -> 3)
        self.assertIn(self.stats(proxy)["handoffs"], (1, 2))

    def test_a_thousand_idle_clients_follow_a_reload(self):
        limit = sptest.raise_fd_limit(4096)
        if limit < 1200:
            self.skipTest(f"a descriptor limit of {limit} is too low")
        proxy = self.start()
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            socks.append(s)
        for s in socks:                     # each served once by generation 1
            s.sendall(resp("PING"))
        for s in socks:
            self.assertEqual(Reader(s).reply(), b"+PONG")
        t0 = time.monotonic()
        proxy.proc.signal(signal.SIGHUP)
        self.wait_generation(proxy, 2, timeout=30)
        took = time.monotonic() - t0
        for s in socks:                     # ... and by generation 2 now
            s.sendall(resp("PING"))
        for s in socks:
            self.assertEqual(Reader(s).reply(), b"+PONG")
        stats = self.stats(proxy)
        self.assertEqual(stats["handoffs"], 1000)
        self.assertEqual(stats["handoffs_closed"], 0)
        self.assertEqual(stats["alpha"]["client_connections"], 1000)
        print(f"\n  1000 idle clients handed over in {took * 1000:.0f} ms")

    def test_removed_pool_closes_its_clients_at_a_boundary(self):
        proxy = self.start(beta=True)
        with socket.create_connection(("127.0.0.1", self.beta_port), timeout=5) as s:
            s.sendall(resp("SET", "beta:1", "x"))
            self.assertEqual(Reader(s).reply(), b"+OK")
            # only ours: the start's readiness probes are gone (one whose EOF
            # was not read yet would be handed over and closed too)
            sptest.poll_until(
                lambda: self.stats(proxy)["beta"]["client_connections"] == 1,
                "beta's one client", timeout=10)
            proxy.conf_path.write_text(two_pools_conf(self.port, None, self.backends))
            proxy.proc.signal(signal.SIGHUP)
            self.wait_generation(proxy, 2)
            self.assertEqual(s.recv(10), b"")          # closed, nothing lost
        self.assertFalse(proxy.listens_on(self.beta_port))
        # ours, and perhaps readiness probes of the start that still sat in
        # a worker's accept queue (a retiring worker takes what waits there
        # first, then finds its pool gone)
        self.assertGreaterEqual(self.stats(proxy)["handoffs_closed"], 1)


class UpgradeTest(sptest.HarnessTestCase):
    """USR2: the new binary gets our sockets; pid files at every step."""

    @classmethod
    def setUpHarness(cls):
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def start(self, exe=None):
        self.port = sptest.free_port()
        self.pid_file = self.harness.tmp.path / f"sp-{self.port}.pid"
        self.oldbin = self.pid_file.with_name(self.pid_file.name + ".oldbin")
        text = two_pools_conf(self.port, None, self.backends, shutdown=10)
        proxy = self.harness.start_shardproxy(
            text, extra_args=["-p", self.pid_file], exe=exe)
        self.assertEqual(int(self.pid_file.read_text()), proxy.pid)
        return proxy

    def new_master(self, old):
        """After USR2: the new master's pid, once it serves with its workers."""
        def up():
            if not self.oldbin.exists() or not self.pid_file.exists():
                return False
            text = self.pid_file.read_text().strip()
            return text.isdigit() and int(text) != old.pid and len(
                sptest.children(int(text))) == old.nworkers
        self.assertTrue(sptest.poll_until(up, "the new master", timeout=20))
        pid = int(self.pid_file.read_text())
        self.assertEqual(int(self.oldbin.read_text()), old.pid)
        self.addCleanup(lambda: sptest.pid_alive(pid) and os.kill(pid, signal.SIGKILL))
        return pid

    def wait_gone(self, pid, timeout=20):
        self.assertTrue(sptest.poll_until(lambda: not sptest.pid_alive(pid),
                                          f"pid {pid} exits", timeout=timeout))

    def test_upgrade_winch_quit(self):
        old = self.start()
        old_workers = old.worker_pids()
        load = Load(self.port, reconnect=True, tag="up").start()
        self.addCleanup(load.finish)
        load.wait_progress()
        old.proc.signal(signal.SIGUSR2)
        new = self.new_master(old)
        load.wait_progress()
        old.proc.signal(signal.SIGWINCH)           # old workers drain
        self.assertTrue(sptest.poll_until(
            lambda: not any(sptest.pid_alive(p) for p in old_workers),
            "the old workers exit", timeout=20))
        load.wait_progress()                       # the new ones serve
        self.assertTrue(old.proc.alive())          # the old master stays
        old.proc.signal(signal.SIGQUIT)
        old.proc.popen.wait(20)
        self.assertEqual(old.proc.returncode, 0)
        self.assertFalse(self.oldbin.exists())
        self.assertEqual(int(self.pid_file.read_text()), new)
        load.wait_progress()
        load.finish()
        self.assertEqual(load.lost, 0, load.errors[:5])
        self.assertEqual(load.wrong, 0)
        # handed over between the masters: no client saw a close
        self.assertEqual(load.closed, 0)
        self.assertEqual(load.connects, NCONN)
        os.kill(new, signal.SIGTERM)
        self.wait_gone(new)
        self.assertFalse(self.pid_file.exists())
        print(f"\n  USR2+WINCH+QUIT under load: {load.replies} replies, 0 lost, "
              f"0 wrong, 0 connections closed")

    def test_rollback(self):
        old = self.start()
        load = Load(self.port, reconnect=True, tag="rb").start()
        self.addCleanup(load.finish)
        load.wait_progress()
        old_workers = old.worker_pids()
        old.proc.signal(signal.SIGUSR2)
        new = self.new_master(old)
        old.proc.signal(signal.SIGWINCH)
        self.assertTrue(sptest.poll_until(
            lambda: not any(sptest.pid_alive(p) for p in old_workers),
            "the old workers exit", timeout=20))
        old.proc.signal(signal.SIGHUP)             # roll back: workers again
        self.assertTrue(sptest.poll_until(
            lambda: len(sptest.children(old.pid)) == 1 + old.nworkers,  # + new master
            "the old master's workers are back", timeout=20))
        os.kill(new, signal.SIGQUIT)
        self.wait_gone(new)
        self.assertTrue(sptest.poll_until(
            lambda: self.pid_file.exists() and not self.oldbin.exists()
            and int(self.pid_file.read_text()) == old.pid,
            "the old master's pid file is back", timeout=10))
        load.wait_progress()
        load.finish()
        self.assertEqual(load.lost, 0, load.errors[:5])
        self.assertEqual(load.wrong, 0)
        self.assertEqual(load.closed, 0)            # back to the old master
        self.assertEqual(load.connects, NCONN)
        print(f"\n  rollback under load: {load.replies} replies, 0 lost, 0 wrong, "
              f"0 connections closed")

    def test_broken_new_binary(self):
        exe = self.harness.tmp.path / "shardproxy-copy"
        shutil.copy(sptest.shardproxy_bin(), exe)
        old = self.start(exe=str(exe))
        load = Load(self.port, tag="broken").start()
        self.addCleanup(load.finish)
        load.wait_progress()
        exe.unlink()                               # "install" a broken build
        exe.write_text("#!/bin/sh\necho broken build >&2\nexit 1\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        old.proc.signal(signal.SIGUSR2)
        self.assertTrue(sptest.poll_until(
            lambda: "upgrade: the new binary" in old.proc.log_text()
            and self.pid_file.exists() and not self.oldbin.exists(),
            "the failed upgrade and the pid file back", timeout=10))
        self.assertEqual(int(self.pid_file.read_text()), old.pid)
        load.wait_progress()
        load.finish()
        self.assertEqual((load.lost, load.wrong, load.closed), (0, 0, 0))


class LogRotateTest(sptest.HarnessTestCase):

    def start_with_pid_file(self, name):
        """A proxy of two pools over one redis-server, writing pid file
        `name`; returns (proxy, pid file)."""
        backend = self.harness.start_redis()
        pid_file = self.harness.tmp.path / name
        proxy = self.harness.start_shardproxy(
            two_pools_conf(sptest.free_port(), None, [backend]),
            extra_args=["-p", pid_file])
        return proxy, pid_file

    def test_move_then_reopen(self):
        proxy, pid_file = self.start_with_pid_file("rot.pid")
        log = self.harness.tmp.path / (proxy.proc.name + ".log")
        self.assertTrue(log.exists())
        rotated = log.with_name(log.name + ".1")
        os.rename(log, rotated)
        r = self.harness.run_shardproxy(["-p", pid_file, "-k", "reopen"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(sptest.poll_until(log.exists, "the new log file", timeout=10))
        proxy.proc.signal(signal.SIGTTIN)
        workers = proxy.worker_pids()
        sptest.poll_until(lambda: "SIGTTIN" in log.read_text(), "TTIN", timeout=10)
        size = rotated.stat().st_size
        self.assertTrue(sptest.poll_until(
            lambda: all(f"{p} notice: log file reopened" in log.read_text()
                        for p in [proxy.pid] + workers),
            "master and workers write to the new file", timeout=10))
        self.assertIn(f"{proxy.pid} notice: signal 21 (SIGTTIN) received",
                      log.read_text())
        self.assertEqual(rotated.stat().st_size, size)   # nothing more there
        self.assertIn("signal 10 (SIGUSR1) received", rotated.read_text())

    def test_k_verbs(self):
        proxy, pid_file = self.start_with_pid_file("k.pid")
        r = self.harness.run_shardproxy(["-p", pid_file, "-k", "reload"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(sptest.poll_until(
            lambda: sptest.read_stats(proxy.stats_port)["reloads"] == 1,
            "the reload", timeout=10))
        r = self.harness.run_shardproxy(["-p", pid_file, "-k", "bogus"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"reload, reopen, quit, stop, upgrade", r.stderr)
        r = self.harness.run_shardproxy(["-k", "stop"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"needs the pid file", r.stderr)
        r = self.harness.run_shardproxy(["-p", pid_file, "-k", "stop"])
        self.assertEqual(r.returncode, 0)
        proxy.proc.popen.wait(10)
        self.assertEqual(proxy.proc.returncode, 0)
        self.assertFalse(pid_file.exists())
        r = self.harness.run_shardproxy(["-p", pid_file, "-k", "stop"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot read pid file", r.stderr)


if __name__ == "__main__":
    sptest.main()
