#!/usr/bin/python3
"""The master and its workers against real redis-servers: both accept modes,
the accept-lock threshold, CPU pinning and process titles, a master with no
client sockets, kill -9 of a worker under load (respawn time measured),
respawn backoff, a worker failing its initialisation, QUIT under load with
no lost reply, TERM within 1 s, per-worker and summed stats, privileges and
descriptor limits, the single-process mode, and no orphan after the
master's death."""
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import sptest


def conf(port, backend_ports, workers=2, pool="alpha", **global_keys):
    lines = ["global:", f"  worker_processes: {workers}"]
    lines += [f"  {k}: {v}" for k, v in global_keys.items()]
    lines += [f"{pool}:", f"  listen: 127.0.0.1:{port}", "  redis: true",
              "  timeout: 5000", "  servers:"]
    lines += [f"   - 127.0.0.1:{p}:1 s{i}" for i, p in enumerate(backend_ports)]
    return "\n".join(lines) + "\n"


resp = sptest.resp


def read_line(sock):
    """One RESP line (status, error, integer); b"" at EOF."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            return b""
        data += chunk
    return data


def ping(sock):
    sock.sendall(resp("PING"))
    return read_line(sock)


def connect(port, timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def cpus_allowed(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].split()
    return None


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[0].decode()


class WorkersTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def start(self, workers=2, ready_workers=None, **global_keys):
        port = sptest.free_port()
        global_keys.setdefault("worker_stats_listen",
                               self.harness.worker_stats_path())
        proxy = self.harness.start_shardproxy(
            conf(port, [b.port for b in self.backends], workers, **global_keys),
            ready_workers=ready_workers)
        return proxy, port

    def worker_stats(self, proxy, index):
        return sptest.read_stats(proxy.worker_stats(index))

    def hold_connections(self, port, n):
        """n connections, each answered once (so each has been accepted)."""
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(n):
            s = connect(port)
            socks.append(s)
            self.assertEqual(ping(s), b"+PONG\r\n")
        return socks

    def spread(self, proxy, port, n, balanced, attempts=3):
        """How n held connections spread over the two workers, measured
        until `balanced(held)` or `attempts` times: the balance depends on
        both workers being scheduled while the connections come, which a
        2-core machine loaded by a parallel suite sometimes denies for a
        whole round ([0, 200] seen). Every round's spread is returned."""
        rounds = []
        for _ in range(attempts):
            socks = self.hold_connections(port, n)
            held = [self.worker_stats(proxy, i)["alpha"]["client_connections"]
                    for i in range(2)]
            self.assertEqual(sum(held), n)
            rounds.append(held)
            for s in socks:
                s.close()
            self.assertTrue(sptest.poll_until(lambda: sum(
                self.worker_stats(proxy, i)["alpha"]["client_connections"]
                for i in range(2)) == 0, "the round's clients gone", timeout=10))
            if balanced(held):
                break
        return rounds

    # -- accepting -----------------------------------------------------------
    def check_both_accept(self, proxy, port):
        rounds = self.spread(proxy, port, 200, lambda held: min(held) > 0)
        self.assertGreater(min(rounds[-1]), 0,
                           f"one worker took them all: {rounds}")
        socks = self.hold_connections(port, 10)
        total = sptest.read_stats(proxy.stats_port)["alpha"]["client_connections"]
        self.assertEqual(total, len(socks))
        print(f"\n  200 connections over 2 workers: {rounds}")

    def test_both_workers_accept_reuseport(self):
        proxy, port = self.start(accept_mode="reuseport")
        self.check_both_accept(proxy, port)

    def test_both_workers_accept_lock(self):
        proxy, port = self.start(accept_mode="lock")
        self.check_both_accept(proxy, port)

    def test_lock_mode_survives_the_death_of_the_lock_holder(self):
        proxy, port = self.start(accept_mode="lock")
        self.hold_connections(port, 4)
        # one of them holds the accept lock while it sleeps: kill both, one
        # after the other, and the lock must not die with its holder
        for pid in proxy.worker_pids():
            os.kill(pid, signal.SIGKILL)
            self.assertTrue(sptest.poll_until(
                lambda: sptest.read_stats(proxy.stats_port)["workers"] == 2
                and pid not in proxy.worker_pids(), "the respawn", timeout=10))
        socks = self.hold_connections(port, 20)
        held = [self.worker_stats(proxy, i)["alpha"]["client_connections"]
                for i in range(2)]
        self.assertEqual(sum(held), 20)

    def test_lock_threshold_moves_connections_to_the_other_worker(self):
        proxy, port = self.start(accept_mode="lock", accept_lock_threshold=10)
        held = self.spread(proxy, port, 18,
                           lambda h: max(h) <= 14 and min(h) >= 4)[-1]
        # past 10 a worker leaves the socket to the other; it takes a client
        # back only when the other left it waiting 5 ms (the look: nobody
        # waits), which a loaded 2-core machine sometimes does: [5, 13] was
        # seen under a parallel ctest. Without the threshold it is [0, 18].
        self.assertLessEqual(max(held), 14, held)
        self.assertGreaterEqual(min(held), 4, held)

    def test_two_instances_on_adjacent_stats_ports(self):
        """nutcracker binds one stats port, and so does the master by
        default: instances with -s N and -s N+1 (nutcracker's own test
        suite's layout) both start, in either order, and each reports its
        own pool."""
        base = sptest.free_port_block(2)
        for order in ((0, 1), (1, 0)):
            started = []
            for i in order:
                port = sptest.free_port()
                proxy = self.harness.start_shardproxy(
                    conf(port, [b.port for b in self.backends], pool=f"p{i}"),
                    stats_port=base + i)
                started.append((i, proxy, port))
            for i, proxy, port in started:
                stats = sptest.read_stats(base + i)
                self.assertEqual(stats["workers"], 2)
                self.assertIn(f"p{i}", stats)
                self.assertNotIn(f"p{1 - i}", stats)
                with connect(port) as s:
                    self.assertEqual(ping(s), b"+PONG\r\n")
            for _, proxy, _ in started:
                self.assertEqual(proxy.proc.stop(), 0)

    def test_unix_listener_shared_by_all_workers(self):
        path = str(self.harness.tmp.path / "w.sock")
        text = conf(0, [b.port for b in self.backends],
                    worker_stats_listen=self.harness.worker_stats_path()
                    ).replace("listen: 127.0.0.1:0", f"listen: {path} 0600")
        proxy = self.harness.start_shardproxy(text)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(100):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(path)
            socks.append(s)
            self.assertEqual(ping(s), b"+PONG\r\n")
        held = [self.worker_stats(proxy, i)["alpha"]["client_connections"]
                for i in range(2)]
        self.assertEqual(sum(held), 100)
        self.assertGreater(min(held), 0, held)

    # -- the processes ------------------------------------------------------------
    def test_pinning_titles_and_master_without_clients(self):
        proxy, port = self.start()
        workers = proxy.worker_pids()
        self.assertEqual(len(workers), 2)
        self.assertTrue(cmdline(proxy.pid).startswith("shardproxy: master process "),
                        cmdline(proxy.pid))
        allowed = sorted(os.sched_getaffinity(0))
        for pid in workers:
            index = self.worker_index(proxy, pid)
            self.assertEqual(cmdline(pid), f"shardproxy: worker process #{index}")
            if len(workers) >= len(allowed):    # auto: a CPU each
                self.assertEqual(cpus_allowed(pid), str(allowed[index % len(allowed)]))
            else:                               # auto: cores to spare, unpinned
                self.assertEqual(cpus_allowed(pid), cpus_allowed(proxy.pid))
        socks = self.hold_connections(port, 20)
        for s in socks:
            owner = sptest.connection_owner(port, s.getsockname()[1],
                                            proxy.pids())
            self.assertIn(owner, workers)      # never the master
        self.assertNotEqual(cpus_allowed(proxy.pid), "0")   # master unpinned

    def worker_index(self, proxy, pid):
        for i in range(proxy.nworkers):
            if self.worker_stats(proxy, i)["pid"] == pid:
                return i
        self.fail(f"no worker slot has pid {pid}")

    def test_auto_affinity_follows_the_cpus_the_proxy_may_use(self):
        """auto pins only with a worker per CPU, and only to the CPUs the
        proxy was given (taskset): never outside them."""
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) >= 2:
            proxy, _ = self.start(workers=1)    # a core to spare: unpinned
            (pid,) = proxy.worker_pids()
            self.assertEqual(cpus_allowed(pid), cpus_allowed(proxy.pid))
            self.assertNotEqual(cpus_allowed(pid), str(allowed[0]))
        last = str(allowed[-1])
        for workers, want in ((2, 2), ("auto", 1)):
            proxy = self.harness.start_shardproxy(
                conf(sptest.free_port(), [b.port for b in self.backends], workers,
                     worker_stats_listen=self.harness.worker_stats_path()),
                prefix=("taskset", "-c", last), ready_workers=want)
            self.assertEqual(cpus_allowed(proxy.pid), last)
            pids = proxy.worker_pids()
            self.assertEqual(len(pids), want)   # auto: one per CPU it may use
            for pid in pids:
                self.assertEqual(cpus_allowed(pid), last)

    def test_explicit_affinity_list_and_off(self):
        proxy, _ = self.start(worker_cpu_affinity="[1, 0]")
        self.assertEqual(cpus_allowed(self.worker_stats(proxy, 0)["pid"]), "1")
        self.assertEqual(cpus_allowed(self.worker_stats(proxy, 1)["pid"]), "0")
        proxy, _ = self.start(worker_cpu_affinity="off")
        every = cpus_allowed(proxy.pid)
        for pid in proxy.worker_pids():
            self.assertEqual(cpus_allowed(pid), every)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_user_and_fd_limit(self):
        proxy, port = self.start(user="nobody", max_openfiles=4096)
        import pwd
        nobody = pwd.getpwnam("nobody")
        for pid in proxy.worker_pids():
            self.assertEqual(int(status_field(pid, "Uid")[0]), nobody.pw_uid)
            with open(f"/proc/{pid}/limits") as f:
                limits = [l for l in f if l.startswith("Max open files")][0]
            self.assertEqual(limits.split()[3], "4096")
        self.assertEqual(int(status_field(proxy.pid, "Uid")[0]), 0)
        with open(f"/proc/{proxy.pid}/limits") as f:      # the master too
            limits = [l for l in f if l.startswith("Max open files")][0]
        self.assertEqual(limits.split()[3], "4096")
        s = self.hold_connections(port, 1)[0]
        s.sendall(resp("SET", "u", "1"))
        self.assertEqual(read_line(s), b"+OK\r\n")

    # -- crashes -----------------------------------------------------------------------
    def test_kill9_worker_under_load(self):
        proxy, port = self.start()
        socks = self.hold_connections(port, 40)
        workers = proxy.worker_pids()
        owner = {s: sptest.connection_owner(port, s.getsockname()[1], workers)
                 for s in socks}
        victim = workers[0]
        victim_slot = self.worker_index(proxy, victim)
        survivors = [s for s in socks if owner[s] != victim]
        doomed = [s for s in socks if owner[s] == victim]
        self.assertTrue(survivors and doomed, f"connections not spread: {owner}")

        errors, served, stop = [], [0], threading.Event()

        def load():
            n = 0
            while not stop.is_set() and n < 100000:
                for s in survivors:
                    s.sendall(resp("INCR", "survivor-load"))
                    line = read_line(s)
                    if not line.startswith(b":"):
                        errors.append(line)
                        return
                    served[0] += 1
                n += 1
        t = threading.Thread(target=load)
        t.start()
        try:
            sptest.poll_until(lambda: served[0] > 200, "load running", timeout=10)
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            # the slot's stats socket stays open in the master: this read
            # waits in its queue until the respawned worker answers
            new = sptest.read_stats(proxy.worker_stats(victim_slot), timeout=5)
            respawn_s = time.monotonic() - t0
            before = served[0]
            sptest.poll_until(lambda: served[0] > before + 200,
                              "survivors keep being served", timeout=10)
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(errors, [])
        self.assertNotEqual(new["pid"], victim)
        # at once (no backoff: the log says "respawning"); measured, with
        # room for a slow machine
        self.assertLess(respawn_s, 5.0)
        for s in doomed:        # the killed worker's clients: closed, nothing else
            try:
                s.sendall(resp("PING"))
                self.assertEqual(read_line(s), b"")
            except (ConnectionResetError, BrokenPipeError):
                pass
        fresh = connect(port)
        self.addCleanup(fresh.close)
        self.assertEqual(ping(fresh), b"+PONG\r\n")
        stats = sptest.read_stats(proxy.stats_port)
        self.assertEqual(stats["respawns"], 1)
        self.assertEqual(stats["workers"], 2)
        self.assertIn("killed by signal 9 (SIGKILL); respawning",
                      proxy.proc.log_text())
        print(f"\n  respawned worker #{victim_slot} served its stats "
              f"{respawn_s * 1000:.0f} ms after kill -9; {served[0]} requests "
              f"on the other worker, 0 errors")

    def test_segv_logs_a_backtrace_and_is_respawned(self):
        proxy, port = self.start()
        victim = self.worker_stats(proxy, 1)["pid"]
        os.kill(victim, signal.SIGSEGV)
        self.assertTrue(sptest.poll_until(
            lambda: sptest.read_stats(proxy.stats_port)["respawns"] == 1
            and sptest.read_stats(proxy.stats_port)["workers"] == 2,
            "the crashed worker is respawned", timeout=10))
        log = proxy.proc.log_text()
        self.assertIn(f"{victim} signal 11 (SIGSEGV) received, backtrace:", log)
        self.assertIn("sp_worker_run", log)     # a symbolised frame
        self.assertIn(f"worker #1 (pid {victim}) killed by signal 11 (SIGSEGV)", log)
        self.assertNotEqual(self.worker_stats(proxy, 1)["pid"], victim)

    def test_daemon_with_pid_file(self):
        port = sptest.free_port()
        stats = sptest.free_port_block(3)
        tmp = self.harness.tmp
        conf_path = tmp.file("daemon.yml", conf(port, [b.port for b in self.backends]))
        pid_path, log_path = tmp.path / "sp.pid", tmp.path / "daemon.log"
        r = subprocess.run([sptest.shardproxy_bin(), "-d", "-p", pid_path, "-c",
                            conf_path, "-o", log_path, "-s", str(stats), "-a",
                            "127.0.0.1"], timeout=10, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(sptest.poll_until(lambda: pid_path.exists()
                                          and pid_path.read_text().strip(),
                                          "the pid file", timeout=10))
        master = int(pid_path.read_text())
        self.addCleanup(lambda: sptest.pid_alive(master) and os.kill(master, signal.SIGKILL))
        self.assertTrue(sptest.poll_until(
            lambda: sptest.tcp_accepts(port)
            and sptest.read_stats(stats).get("workers") == 2,
            "the daemon serves", timeout=10))
        self.assertTrue(cmdline(master).startswith("shardproxy: master process"))
        self.assertEqual(len(sptest.children(master)), 2)
        s = self.hold_connections(port, 1)[0]
        s.close()
        os.kill(master, signal.SIGTERM)
        self.assertTrue(sptest.poll_until(lambda: not sptest.pid_alive(master),
                                          "the daemon exits", timeout=10))
        self.assertFalse(pid_path.exists())
        self.assertIn("signal 15 (SIGTERM) received", log_path.read_text())

    def test_crash_after_log_reopen_writes_to_the_log(self):
        """logrotate moves the log and sends USR1; a worker that crashes
        afterwards writes its backtrace to the new log file, never to the
        client socket that could take the old file's descriptor number."""
        proxy, port = self.start(workers=1)
        log = self.harness.tmp.path / f"{proxy.proc.name}.log"
        os.rename(log, log.with_name(log.name + ".1"))
        os.kill(proxy.pid, signal.SIGUSR1)
        # the master's reopen, then its worker's (told over the channel)
        sptest.poll_until(lambda: log.exists()
                          and log.read_text().count("log file reopened") >= 2,
                          "both processes reopened the log", timeout=10)
        clients = self.hold_connections(port, 20)
        victim = sptest.children(proxy.pid)[0]
        os.kill(victim, signal.SIGSEGV)
        sptest.poll_until(lambda: "backtrace" in log.read_text(),
                          "the crash in the new log", timeout=10)
        self.assertIn(f"[crash] {victim} signal 11 (SIGSEGV) received",
                      log.read_text())
        for c in clients:           # the worker is gone: EOF, and no byte
            c.settimeout(5)
            try:
                data = c.recv(65536)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"", "a client received crash output")
        sptest.poll_until(
            lambda: sptest.read_stats(proxy.stats_port)["respawns"] == 1
            and sptest.read_stats(proxy.stats_port)["workers"] == 1,
            "the crashed worker replaced", timeout=10)

    def test_a_worker_quit_alone_is_replaced(self):
        proxy, port = self.start()
        victim = self.worker_stats(proxy, 0)["pid"]
        os.kill(victim, signal.SIGQUIT)     # not through the master
        self.assertTrue(sptest.poll_until(
            lambda: sptest.read_stats(proxy.stats_port)["respawns"] == 1
            and sptest.read_stats(proxy.stats_port)["workers"] == 2,
            "the slot served again", timeout=10))
        self.assertIn(f"worker #0 (pid {victim}) exited with code 0; respawning",
                      proxy.proc.log_text())
        # its socket still gets its share of new connections: all served
        self.hold_connections(port, 40)

    def test_five_kills_in_a_second_back_off(self):
        proxy, port = self.start()
        slot_port = proxy.worker_stats(0)
        t0 = time.monotonic()
        killed = []
        while len(killed) < 5 and time.monotonic() - t0 < 5:
            pid = sptest.read_stats(slot_port, timeout=10)["pid"]
            if pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        self.assertEqual(len(killed), 5)
        self.assertTrue(proxy.proc.alive())
        # it comes back, later each time, and then serves
        self.assertTrue(sptest.poll_until(
            lambda: sptest.read_stats(proxy.stats_port)["workers"] == 2,
            "both workers back", timeout=15))
        log = proxy.proc.log_text()
        self.assertIn("it keeps dying", log)
        self.assertRegex(log, r"respawning in \d+ ms")
        s = self.hold_connections(port, 5)

    def test_worker_failing_init_is_not_respawned(self):
        proxy, port = self.start(worker_cpu_affinity="[0, 999]", ready_workers=1)
        self.assertTrue(sptest.poll_until(
            lambda: "not respawned" in proxy.proc.log_text(),
            "the master gives up on worker #1", timeout=10))
        log = proxy.proc.log_text()
        self.assertIn("worker #1", log)
        self.assertIn("exited with code 2 (its initialisation failed)", log)
        self.assertIn("sched_setaffinity(CPU 999) failed", log)
        # its socket closed: one listener left on the port
        self.assertTrue(sptest.poll_until(
            lambda: len(sptest.listening_inodes(port)) == 1,
            "the dead slot's socket closed", timeout=10))
        self.assertNotIn("respawning", proxy.proc.log_text())
        self.assertEqual(len(proxy.worker_pids()), 1)
        # the other worker takes every new connection (the dead slot's
        # socket is closed, so the kernel stops routing to it)
        socks = self.hold_connections(port, 50)
        self.assertEqual(sptest.read_stats(proxy.stats_port)["alpha"]
                         ["client_connections"], 50)
        self.assertEqual(len(socks), 50)

    # -- stopping ------------------------------------------------------------------------
    def test_quit_under_load_loses_no_reply(self):
        proxy, port = self.start(worker_shutdown_timeout=10)
        nclients = 20
        last_reply = [0] * nclients
        errors = []
        started = threading.Barrier(nclients + 1)

        def client(i):
            s = connect(port, timeout=10)
            try:
                started.wait(10)
                for _ in range(1000000):
                    try:
                        s.sendall(resp("INCR", f"quit-load:{i}"))
                        line = read_line(s)
                    except (ConnectionResetError, BrokenPipeError):
                        return
                    if line == b"":
                        return          # closed at a request boundary
                    if not line.startswith(b":"):
                        errors.append(line)
                        return
                    last_reply[i] = int(line[1:])
            finally:
                s.close()
        for b in self.backends:
            b.client().flushall()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
        for t in threads:
            t.start()
        started.wait(10)
        sptest.poll_until(lambda: sum(last_reply) > 2000, "load running", timeout=10)
        t0 = time.monotonic()
        proxy.proc.signal(signal.SIGQUIT)
        for t in threads:
            t.join(30)
        proxy.proc.popen.wait(20)
        took = time.monotonic() - t0
        self.assertEqual(proxy.proc.returncode, 0)
        self.assertEqual(errors, [])
        # every request a backend executed was answered: the count each
        # client saw last is the count stored
        for i in range(nclients):
            stored = 0
            for b in self.backends:
                v = b.client().get(f"quit-load:{i}")
                stored += int(v) if v else 0
            self.assertEqual(stored, last_reply[i], f"client {i}")
        self.assertIn("signal 3 (SIGQUIT) received", proxy.proc.log_text())
        print(f"\n  QUIT under load: {sum(last_reply)} replies, 0 lost, "
              f"stopped in {took * 1000:.0f} ms")

    def test_term_exits_within_a_second(self):
        proxy, port = self.start()
        socks = self.hold_connections(port, 50)
        for s in socks[:25]:
            s.sendall(resp("SET", "k", "v"))     # some mid-request
        t0 = time.monotonic()
        proxy.proc.signal(signal.SIGTERM)
        proxy.proc.popen.wait(5)
        took = time.monotonic() - t0
        self.assertEqual(proxy.proc.returncode, 0)
        self.assertLess(took, 4.0)          # LeakSanitizer runs at each exit
        self.assertNotIn("SIGKILL", proxy.proc.log_text())   # none needed one
        self.assertFalse(sptest.tcp_accepts(port))
        print(f"\n  TERM: master and workers gone in {took * 1000:.0f} ms")

    def test_workers_exit_when_the_master_dies(self):
        proxy, port = self.start()
        workers = proxy.worker_pids()
        proxy.proc.popen.send_signal(signal.SIGKILL)
        proxy.proc.popen.wait(5)
        self.assertTrue(sptest.poll_until(
            lambda: not any(sptest.pid_alive(p) for p in workers),
            "the orphaned workers exit", timeout=10))
        self.assertFalse(sptest.tcp_accepts(port))
        proxy.proc.clean_exit = False          # we killed it

    # -- stats ----------------------------------------------------------------------------
    def test_summed_stats_equal_the_sum_of_worker_stats(self):
        proxy, port = self.start()
        socks = self.hold_connections(port, 30)
        for i, s in enumerate(socks):
            s.sendall(resp("SET", f"sum:{i}", "x" * i))
            self.assertEqual(read_line(s), b"+OK\r\n")
        master = sptest.read_stats(proxy.stats_port)
        per = [self.worker_stats(proxy, i) for i in range(2)]
        self.assertEqual(sorted(w["pid"] for w in per), sorted(proxy.worker_pids()))
        self.assertEqual([w["worker"] for w in per], [0, 1])
        self.assertEqual(master["workers"], 2)
        self.assertEqual(master["respawns"], 0)
        for key in ("total_connections", "curr_connections"):
            self.assertEqual(master[key], sum(w[key] for w in per), key)
        pool = master["alpha"]
        # nutcracker's fields add up (percentiles, rates and hot keys are
        # derived, not summed)
        derived = ("latency_", "rtt_", "request_rate", "skew", "busiest_",
                   "hot_keys")
        for field, value in pool.items():
            if field.startswith(derived):
                continue
            if isinstance(value, dict):
                for sfield, svalue in value.items():
                    if sfield.startswith(derived):
                        continue
                    parts = [w["alpha"][field][sfield] for w in per]
                    want = max(parts) if sfield == "server_ejected_at" else sum(parts)
                    self.assertEqual(svalue, want, f"{field}.{sfield}")
            else:
                self.assertEqual(value, sum(w["alpha"][field] for w in per), field)
        self.assertEqual(sum(pool[f"s{i}"]["requests"] for i in range(2)), 30)
        # nutcracker's layout first: every key before the pools is its or ours
        self.assertEqual(list(master)[:7], ["service", "source", "version", "uptime",
                                            "timestamp", "total_connections",
                                            "curr_connections"])

    def test_a_second_instance_on_the_same_port_is_refused(self):
        proxy, port = self.start()
        # every listener has SO_REUSEPORT; a second instance must still not
        # share the port silently
        text = conf(port, [b.port for b in self.backends])
        path = self.harness.tmp.file("second.yml", text)
        stats = sptest.free_port_block(3)
        r = self.harness.run_shardproxy(["-c", path, "-s", stats, "-a", "127.0.0.1"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}: bind(): Address already in use",
                      r.stderr.decode())
        self.hold_connections(port, 10)     # the first one serves on

    def test_single_process_mode(self):
        proxy, port = self.start(workers=0)
        self.assertEqual(sptest.children(proxy.pid), [])
        s = self.hold_connections(port, 1)[0]
        s.sendall(resp("SET", "single", "1"))
        self.assertEqual(read_line(s), b"+OK\r\n")
        stats = sptest.read_stats(proxy.stats_port)
        self.assertNotIn("workers", stats)
        self.assertEqual(stats["alpha"]["client_connections"], 1)


if __name__ == "__main__":
    sptest.main()
