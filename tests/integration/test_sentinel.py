"""Sentinel-managed shards: two shards, each a redis-server master with one
replica, three redis-sentinels watching both, and the proxy (2 workers)
whose server lines name the Sentinel masters. The proxy's master process
asks the sentinels where each master is and follows +switch-master: keys
stay on their shard across a failover, writes go to the promoted replica,
a client connection held across it stays open, and a wrong first-guess
address in the configuration is corrected at start. With read_from, the
master also follows each name's healthy replicas (SENTINEL REPLICAS, and
+sdown/-sdown/+slave events) and the workers send read-only commands to
them.

The tests share the shards and run in name order: test_master_killed
leaves shard-b without a replica, so the replica tests sort before it."""

import signal
import socket
import time
import unittest

import redis

import sptest
from sptest import poll_until
from test_session import Conn

FAILOVER_TIMEOUT = 30.0     # s: Sentinel's own failover, generously


def sentinel_conf(port, tmpdir, masters):
    """A redis-sentinel configuration on loopback `port` monitoring
    masters {name: port} with quick failure detection."""
    lines = [f"port {port}", "bind 127.0.0.1", "daemonize no",
             "protected-mode no", f"dir {tmpdir}", 'logfile ""']
    for name, mport in masters.items():
        lines += [f"sentinel monitor {name} 127.0.0.1 {mport} 2",
                  f"sentinel down-after-milliseconds {name} 1000",
                  f"sentinel failover-timeout {name} 3000",
                  f"sentinel parallel-syncs {name} 1"]
    return "\n".join(lines) + "\n"


def ask(port, *args, timeout=2.0):
    """One command to a Redis or Sentinel port: the raw reply, or None."""
    try:
        c = Conn(port)
    except OSError:
        return None
    try:
        return c.call(*args) if timeout else None
    except (AssertionError, OSError):
        return None
    finally:
        c.close()


def master_port(sentinel_port, name):
    """The port a sentinel names for master `name` (None: no answer)."""
    reply = ask(sentinel_port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
    if reply is None or not reply.startswith(b"*2\r\n"):
        return None
    return int(reply.split(b"\r\n")[-2])


def cmdstats(server, command):
    """How many times `server` (a RedisServer) ran `command`."""
    stats = server.client().info("commandstats")
    return stats.get(f"cmdstat_{command}", {}).get("calls", 0)


def link_up(replica):
    """Its replication link is up. A reconfiguring Sentinel kills normal
    clients (REPLICAOF, then CLIENT KILL TYPE normal): the question may be
    cut off, which means "not yet"."""
    try:
        info = replica.client().info("replication")
    except redis.exceptions.ConnectionError:
        return False
    return info.get("master_link_status") == "up"


class SentinelShards(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.masters = {}
        cls.replicas = {}
        for name in ("shard-a", "shard-b"):
            m = h.start_redis()
            r = h.start_redis(extra_args=["--replicaof", "127.0.0.1",
                                          str(m.port)])
            cls.masters[name] = m
            cls.replicas[name] = r
        for r in cls.replicas.values():
            poll_until(lambda r=r: link_up(r), "replica link up", 15.0)
        cls.by_port = {s.port: s for s in
                       list(cls.masters.values()) + list(cls.replicas.values())}
        cls.sentinels = []
        exe = sptest.require_binary("redis-sentinel")
        for i in range(3):
            port = sptest.free_port()
            path = h.tmp.file(f"sentinel-{i}.conf", sentinel_conf(
                port, h.tmp.path, {n: m.port for n, m in cls.masters.items()}))
            h.start_process(
                f"sentinel-{i}", [exe, str(path)],
                lambda proc, port=port: (
                    sptest.owns_listener(proc.pid, port)
                    and master_port(port, "shard-a") is not None),
                f"sentinel on port {port}")
            cls.sentinels.append(port)
        # each sentinel knows the replicas (so it can fail over to them)
        for port in cls.sentinels:
            for name in cls.masters:
                poll_until(lambda port=port, name=name: b"num-slaves\r\n$1\r\n1"
                           in (ask(port, "SENTINEL", "MASTER", name) or b""),
                           f"sentinel {port} sees {name}'s replica", 20.0)
                # and the other two (a quorum of 2 agrees on a failure)
                poll_until(lambda port=port, name=name:
                           b"num-other-sentinels\r\n$1\r\n2"
                           in (ask(port, "SENTINEL", "MASTER", name) or b""),
                           f"sentinel {port} sees the others", 20.0)

    def proxy_conf(self, port, servers, workers=2, metrics_port=None,
                   read_from=None, refresh=500, sentinels=None):
        lines = ["global:", f"  worker_processes: {workers}"]
        if metrics_port:
            lines.append(f"  metrics_listen: 127.0.0.1:{metrics_port}")
        lines += ["alpha:",
                 f"  listen: 127.0.0.1:{port}", "  redis: true",
                 "  sentinels: [" + ", ".join(
                     f"127.0.0.1:{p}" for p in (sentinels or self.sentinels))
                  + "]",
                 f"  sentinel_refresh_interval: {refresh}", "  servers:"]
        if read_from:
            lines.insert(-1, f"  read_from: {read_from}")
        lines += [f"   - 127.0.0.1:{sport}:1 {name}"
                  for name, sport in servers.items()]
        return "\n".join(lines) + "\n"

    def replica_of(self, name, master):
        """The port of shard `name`'s server that is not `master`."""
        ports = {self.masters[name].port, self.replicas[name].port}
        return (ports - {master}).pop()

    def current(self, name):
        return master_port(self.sentinels[0], name)

    def proxy_masters(self, proxy):
        stats = sptest.read_stats(proxy.stats_port)
        return {name: (s.get("master"), s.get("switches"))
                for name, s in stats["alpha"].items() if isinstance(s, dict)}

    def start_proxy(self, servers, metrics_port=None, **kw):
        port = sptest.free_port()
        return self.harness.start_shardproxy(
            self.proxy_conf(port, servers, metrics_port=metrics_port,
                            **kw)), port

    def start_proxy_on_masters(self):
        """A proxy on the current masters (no periodic re-ask for a
        minute), once its stats name both."""
        servers = {n: self.current(n) for n in self.masters}
        proxy, port = self.start_proxy(servers, refresh=60000)
        poll_until(lambda: all(
            s["master"] == f"127.0.0.1:{servers[n]}"
            for n, s in self.server_stats(proxy).items()),
            "the proxy knows both masters", 10.0)
        return proxy, port

    def server_stats(self, proxy):
        stats = sptest.read_stats(proxy.stats_port)
        return {name: s for name, s in stats["alpha"].items()
                if isinstance(s, dict)}

    def replicas_up(self, proxy):
        return {name: s.get("replicas_up")
                for name, s in self.server_stats(proxy).items()}

    def keys(self, prefix, n):
        """n keys over both shards (short keys with a common prefix may
        all hash to one shard)."""
        return [f"{prefix}:{i}:{i * 7919}" for i in range(n)]

    def settle(self):
        """Every shard's replica has its link up (an earlier failover's old
        master may still be syncing), so Sentinel will call it healthy."""
        for name in self.masters:
            poll_until(lambda name=name: link_up(self.current_replica(name)),
                       f"{name}'s replica link up", FAILOVER_TIMEOUT)

    def start_reading_proxy(self, read_from, servers):
        proxy, port = self.start_proxy(servers, read_from=read_from)
        # Sentinel refreshes a replica's INFO (its link status) only every
        # 10 s out of a failover: a replica that just synced may wait that
        poll_until(lambda: self.replicas_up(proxy) == {n: 1 for n in servers},
                   "the proxy knows one replica per shard", FAILOVER_TIMEOUT)
        return proxy, port

    def current_replica(self, name):
        """shard `name`'s RedisServer that is not its current master."""
        return self.by_port[self.replica_of(name, self.current(name))]

    def wait_replicated(self, keys, placed, prefix):
        """Every key of `keys` reads prefix+key on its shard's replica."""
        for name in self.masters:
            replica = self.current_replica(name).client()
            poll_until(lambda replica=replica, name=name: all(
                replica.get(k) == (prefix + k).encode()
                for k in keys if placed[k] == name),
                f"replication of {name}'s keys", 10.0)

    def gets(self, conn, keys, prefix, rounds=1):
        """GET every key `rounds` times, pipelined: how many replies were
        right (prefix+key) and the error replies."""
        right, errors = 0, []
        for _ in range(rounds):
            conn.sock.sendall(b"".join(sptest.resp("GET", k) for k in keys))
            for k in keys:
                reply = conn.read(10.0)
                if reply.startswith(b"-"):
                    errors.append(reply)
                    continue
                self.assertEqual(reply, b"$%d\r\n%s\r\n"
                                 % (len(prefix + k), (prefix + k).encode()), k)
                right += 1
        return right, errors

    def write_and_check(self, conn, keys, placed, where, prefix):
        """SET each key to prefix+key through conn; each is then on the
        server where[its shard] (a port)."""
        for k in keys:
            self.assertEqual(conn.call("SET", k, prefix + k), b"+OK\r\n")
        for k in keys:
            self.assertEqual(self.by_port[where[placed[k]]].client().get(k),
                             (prefix + k).encode(), k)

    def metrics(self, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            return sptest.recv_all(s).decode()

    # -- tests

    def test_config_errors(self):
        h = self.harness
        cases = {
            "memcache": ("  redis: false\n  sentinels: [127.0.0.1:1]\n"
                         "  servers:\n   - 127.0.0.1:2:1 a\n",
                         "sentinels is only valid with redis: true"),
            "unnamed": ("  redis: true\n  sentinels: [127.0.0.1:1]\n"
                        "  servers:\n   - 127.0.0.1:2:1\n",
                        "has no name"),
            "duplicate": ("  redis: true\n  sentinels: [127.0.0.1:1]\n"
                          "  servers:\n   - 127.0.0.1:2:1 a\n"
                          "   - 127.0.0.1:3:1 a\n",
                          "have the same name 'a'"),
            "address": ("  redis: true\n  sentinels: [127.0.0.1:99999]\n"
                        "  servers:\n   - 127.0.0.1:2:1 a\n",
                        "sentinels entry '127.0.0.1:99999' has an invalid "
                        "port"),
            "auth_alone": ("  redis: true\n  sentinel_auth: pw\n"
                           "  servers:\n   - 127.0.0.1:2:1 a\n",
                           "sentinel_auth is set but sentinels is not"),
            "read_from": ("  redis: true\n  sentinels: [127.0.0.1:1]\n"
                          "  read_from: replicas\n"
                          "  servers:\n   - 127.0.0.1:2:1 a\n",
                          "read_from 'replicas' is not one of primary, "
                          "replica, prefer_replica"),
            "read_from_alone": ("  redis: true\n  read_from: replica\n"
                                "  servers:\n   - 127.0.0.1:2:1 a\n",
                                "read_from needs distribution redis_cluster or sentinels"),
        }
        for case, (body, want) in cases.items():
            with self.subTest(case=case):
                path = h.tmp.file(f"bad-{case}.yml",
                                  "alpha:\n  listen: 127.0.0.1:1\n" + body)
                r = h.run_shardproxy(["-t", "-c", path])
                err = r.stderr.decode()
                self.assertNotEqual(r.returncode, 0, err)
                self.assertIn(want, err)
                self.assertRegex(err, rf"bad-{case}\.yml:\d+:\d+: pool 'alpha'")

    def test_gets_on_replicas(self):
        """read_from replica: 1,000 GETs all right, every one run by a
        replica (their cmdstat_get grows by 1,000, the masters' by 0), an
        MGET's parts too; writes and a transaction's GET stay on the
        masters."""
        h = self.harness
        self.settle()
        servers = {n: self.current(n) for n in self.masters}
        metrics_port = sptest.free_port()
        proxy, port = self.start_proxy(servers, metrics_port,
                                       read_from="replica")
        poll_until(lambda: self.replicas_up(proxy) == {n: 1 for n in servers},
                   "the proxy knows one replica per shard", FAILOVER_TIMEOUT)
        keys = self.keys("ro", 100)
        placed = h.locate(proxy, "alpha", keys)
        self.assertEqual(set(placed.values()), set(servers))
        masters = {n: self.by_port[servers[n]] for n in servers}
        replicas = {n: self.current_replica(n) for n in servers}
        sets_before = {n: cmdstats(m, "set") for n, m in masters.items()}
        c = Conn(port)
        self.write_and_check(c, keys, placed, servers, "ro:")
        for n, m in masters.items():      # every SET ran on its master
            self.assertEqual(cmdstats(m, "set") - sets_before[n],
                             sum(1 for k in keys if placed[k] == n))
        self.wait_replicated(keys, placed, "ro:")
        before_m = {n: cmdstats(m, "get") for n, m in masters.items()}
        before_r = {n: cmdstats(r, "get") for n, r in replicas.items()}
        right, errors = self.gets(c, keys, "ro:", rounds=10)
        self.assertEqual((right, errors), (1000, []))
        grown_r = {n: cmdstats(r, "get") - before_r[n]
                   for n, r in replicas.items()}
        grown_m = {n: cmdstats(m, "get") - before_m[n]
                   for n, m in masters.items()}
        self.assertEqual(sum(grown_r.values()), 1000)
        self.assertEqual(grown_m, {n: 0 for n in masters})
        for n in servers:
            self.assertEqual(grown_r[n],
                             10 * sum(1 for k in keys if placed[k] == n))
        stats = self.server_stats(proxy)
        self.assertEqual(sum(s["replica_reads"] for s in stats.values()), 1000)
        # an MGET's parts too: one per shard, each on its replica
        before_m = {n: cmdstats(m, "mget") for n, m in masters.items()}
        before_r = {n: cmdstats(r, "mget") for n, r in replicas.items()}
        reply = c.call("MGET", *keys)
        self.assertEqual(reply, b"*100\r\n" + b"".join(
            b"$%d\r\nro:%s\r\n" % (len(k) + 3, k.encode()) for k in keys))
        self.assertEqual({n: cmdstats(r, "mget") - before_r[n]
                          for n, r in replicas.items()}, {n: 1 for n in servers})
        self.assertEqual({n: cmdstats(m, "mget") - before_m[n]
                          for n, m in masters.items()}, {n: 0 for n in servers})
        # a transaction's read stays on the master (MULTI pins it there)
        k = keys[0]
        before = cmdstats(masters[placed[k]], "get")
        self.assertEqual(c.call("MULTI"), b"+OK\r\n")
        self.assertEqual(c.call("GET", k), b"+QUEUED\r\n")
        self.assertEqual(c.call("EXEC"), b"*1\r\n$%d\r\nro:%s\r\n"
                         % (len(k) + 3, k.encode()))
        self.assertEqual(cmdstats(masters[placed[k]], "get") - before, 1)
        text = self.metrics(metrics_port)
        self.assertRegex(text, r'shardproxy_server_replicas_up\{pool="alpha",'
                         r'server="shard-a"\} 1')
        self.assertRegex(text, r'shardproxy_server_replica_reads_total\{'
                         r'pool="alpha",server="shard-[ab]"\} [1-9]')
        c.close()
        proxy.proc.stop()

    def test_fallback_when_replica_down(self):
        """shard-b's replica killed: prefer_replica falls back to the
        master, replica answers that no replica is up; once it is back,
        reads go to it again."""
        h = self.harness
        self.settle()
        servers = {n: self.current(n) for n in self.masters}
        prefer, prefer_port = self.start_reading_proxy("prefer_replica",
                                                       servers)
        strict, strict_port = self.start_reading_proxy("replica", servers)
        keys = self.keys("fb", 40)
        placed = h.locate(prefer, "alpha", keys)
        b_keys = [k for k in keys if placed[k] == "shard-b"]
        self.assertTrue(b_keys and len(b_keys) < len(keys))
        pc, sc = Conn(prefer_port), Conn(strict_port)
        self.write_and_check(pc, keys, placed, servers, "fb:")
        self.wait_replicated(keys, placed, "fb:")
        for conn in (pc, sc):       # connections to the replicas made
            self.assertEqual(self.gets(conn, keys, "fb:"), (len(keys), []))
        dead = self.current_replica("shard-b")
        dead_port = dead.port
        dead.proc.signal(signal.SIGKILL)
        poll_until(lambda: not dead.proc.alive(), "the replica is gone", 5.0)
        # Sentinel's +sdown (down-after-milliseconds 1000) is followed at
        # once: no replica of shard-b is up any more
        killed = time.monotonic()
        for proxy in (prefer, strict):
            poll_until(lambda proxy=proxy:
                       self.replicas_up(proxy)["shard-b"] == 0,
                       "the proxy hears shard-b's replica is down", 10.0)
        noticed = time.monotonic() - killed
        master_b = self.by_port[servers["shard-b"]]
        before = cmdstats(master_b, "get")
        self.assertEqual(self.gets(pc, keys, "fb:", rounds=5),
                         (5 * len(keys), []))
        self.assertEqual(cmdstats(master_b, "get") - before, 5 * len(b_keys))
        right, errors = self.gets(sc, keys, "fb:")
        self.assertEqual(right, len(keys) - len(b_keys))
        self.assertEqual(set(errors),
                         {b"-ERR no replica of server 'shard-b' is up\r\n"},
                         errors)
        # back (a fresh replica on the same port): reads go to it again
        back = h.start_redis(port=dead_port, extra_args=[
            "--replicaof", "127.0.0.1", str(servers["shard-b"])])
        self.by_port[dead_port] = back
        self.replicas["shard-b"] = back
        poll_until(lambda: link_up(back), "the replica is back", 15.0)
        for proxy in (prefer, strict):
            poll_until(lambda proxy=proxy:
                       self.replicas_up(proxy)["shard-b"] == 1,
                       "the proxy hears the replica is back", FAILOVER_TIMEOUT)
        poll_until(lambda: all(back.client().get(k) == b"fb:" + k.encode()
                               for k in b_keys), "resync", 10.0)
        before_r, before_m = cmdstats(back, "get"), cmdstats(master_b, "get")
        self.assertEqual(self.gets(sc, keys, "fb:"), (len(keys), []))
        self.assertEqual(cmdstats(back, "get") - before_r, len(b_keys))
        self.assertEqual(cmdstats(master_b, "get") - before_m, 0)
        pc.close()
        sc.close()
        prefer.proc.stop()
        strict.proc.stop()
        print(f"\nreplica down noticed {noticed:.1f}s after kill -9",
              flush=True)

    def test_failover_moves_replica_reads(self):
        """SENTINEL FAILOVER of shard-b: replica reads go to the new
        replica (the old master), none to the new master."""
        h = self.harness
        self.settle()
        servers = {n: self.current(n) for n in self.masters}
        proxy, port = self.start_reading_proxy("replica", servers)
        keys = self.keys("fr", 40)
        placed = h.locate(proxy, "alpha", keys)
        b_keys = [k for k in keys if placed[k] == "shard-b"]
        self.assertTrue(b_keys and len(b_keys) < len(keys))
        c = Conn(port)
        self.write_and_check(c, keys, placed, servers, "fr:")
        self.wait_replicated(keys, placed, "fr:")
        old = servers["shard-b"]
        self.assertEqual(ask(self.sentinels[1], "SENTINEL", "FAILOVER",
                             "shard-b"), b"+OK\r\n")
        poll_until(lambda: self.current("shard-b") not in (None, old),
                   "Sentinel promotes shard-b's replica", FAILOVER_TIMEOUT)
        new = self.current("shard-b")
        poll_until(lambda: self.server_stats(proxy)["shard-b"]["master"]
                   == f"127.0.0.1:{new}", "the proxy follows", 10.0)
        # the old master comes back as a replica of the new one; the
        # proxy reads from it once its link is up
        poll_until(lambda: link_up(self.by_port[old]),
                   "the old master replicates the new one", FAILOVER_TIMEOUT)
        poll_until(lambda: self.server_stats(proxy)["shard-b"]["replicas_up"]
                   == 1 and self.replicas_up(proxy)["shard-b"] == 1,
                   "the proxy knows shard-b's new replica", FAILOVER_TIMEOUT)
        # a read in flight on a connection the switch closed may fail
        # (named); none is wrong
        right, errors = self.gets(c, keys, "fr:", rounds=2)
        for e in errors:
            self.assertIn(b"shard-b", e)
        before_old = cmdstats(self.by_port[old], "get")
        before_new = cmdstats(self.by_port[new], "get")
        self.assertEqual(self.gets(c, keys, "fr:", rounds=5),
                         (5 * len(keys), []))
        self.assertEqual(cmdstats(self.by_port[new], "get") - before_new, 0)
        self.assertEqual(cmdstats(self.by_port[old], "get") - before_old,
                         5 * len(b_keys))
        c.close()
        proxy.proc.stop()

    def test_demoted_master_reask(self):
        """-READONLY from a master (a Lua error reply here, as a demoted
        master sends it) makes the workers ask the master to ask the
        sentinels again at once, coalesced: hundreds of such replies from
        both workers are a handful of rounds."""
        proxy, port = self.start_proxy_on_masters()
        stats = sptest.read_stats(proxy.stats_port)["alpha"]
        self.assertEqual(stats["sentinel_reasks"], 0)
        script = ('return redis.error_reply("READONLY You can\'t write '
                  'against a read only replica.")')
        conns = [Conn(port) for _ in range(4)]      # both workers, likely
        started = time.monotonic()
        for _ in range(3):
            for conn in conns:
                conn.sock.sendall(b"".join(
                    sptest.resp("EVAL", script, 1, f"ra:{i}")
                    for i in range(50)))
            for conn in conns:
                for _ in range(50):
                    self.assertTrue(conn.read(10.0).startswith(
                        b"-READONLY You can't write"))
        elapsed = time.monotonic() - started
        reasks = poll_until(
            lambda: sptest.read_stats(proxy.stats_port)["alpha"]
            ["sentinel_reasks"], "a re-ask", 5.0)
        # 600 refusals; a worker asks at most once per server per 500 ms
        # (2 workers, 2 servers), the master starts at most one round per
        # 100 ms and none while one is due
        self.assertLessEqual(reasks, 4 * (int(elapsed / 0.5) + 2))
        self.assertLess(reasks, 60)
        print(f"\n600 -READONLY replies in {elapsed:.2f}s: {reasks} "
              "re-ask rounds", flush=True)
        for conn in conns:
            conn.close()
        proxy.proc.stop()

    def test_demoted_master_retried_once(self):
        """A request a master refuses with -READONLY (a Lua error reply
        the first time only, here) is sent once more, after the re-ask
        (the address stays here, so at the give-up time: 2 s without a
        pool timeout): the client gets the retry's reply. A refusal that
        repeats reaches the client (test_demoted_master_reask)."""
        proxy, port = self.start_proxy_on_masters()
        script = ("if redis.call('incr', KEYS[1]) == 1 then return "
                  "redis.error_reply('READONLY You can''t write against a "
                  "read only replica.') end return 'served'")
        script = script.replace("''", "\\'")
        conn = Conn(port)
        for i in range(3):
            key = f"retry:once:{i}"
            started = time.monotonic()
            conn.sock.sendall(sptest.resp("EVAL", script, 1, key))
            self.assertEqual(conn.read(10.0), b"$6\r\nserved\r\n")
            self.assertLess(time.monotonic() - started, 5.0)
            conn.sock.sendall(sptest.resp("GET", key))
            self.assertEqual(conn.read(5.0), b"$1\r\n2\r\n",
                             "refused once, served by the one retry")
        conn.close()
        proxy.proc.stop()

    def test_locate_live(self):
        """--locate on a Sentinel pool prints the current master (the
        configuration naming the replica), and the configuration's
        address with a note when no sentinel answers."""
        h = self.harness
        real = {n: self.current(n) for n in self.masters}
        wrong = {n: self.replica_of(n, real[n]) for n in real}
        keys = self.keys("loc", 20)
        path = h.tmp.file("locate.yml", self.proxy_conf(
            sptest.free_port(), wrong))
        r = h.run_shardproxy(["-c", path, "--locate", "alpha"] + keys)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), len(keys))
        for line in lines:
            key, where = line.split(" -> ")
            name, addr = where.split()
            self.assertEqual(addr, f"127.0.0.1:{real[name]}", line)
        self.assertEqual(r.stderr, b"")
        nobody = sptest.free_port()
        path = h.tmp.file("locate-down.yml", self.proxy_conf(
            sptest.free_port(), wrong, sentinels=[nobody]))
        r = h.run_shardproxy(["-c", path, "--locate", "alpha"] + keys)
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in r.stdout.decode().splitlines():
            name, addr = line.split(" -> ")[1].split()
            self.assertEqual(addr, f"127.0.0.1:{wrong[name]}", line)
        self.assertIn(b"no sentinel answered; the addresses shown are the "
                      b"configuration's", r.stderr)

    def test_master_killed(self):
        """shard-b's master killed -9 under pipelined GETs and SETs: no
        wrong reply ever, every request served again within a few seconds
        of Sentinel's promotion, keys written before still read right."""
        h = self.harness
        servers = {n: self.current(n) for n in self.masters}
        proxy, port = self.start_proxy(servers)
        poll_until(lambda: all(
            m == f"127.0.0.1:{servers[n]}"
            for n, (m, _) in self.proxy_masters(proxy).items()),
            "the proxy knows both masters", 10.0)
        keys = [f"kill:{i}" for i in range(60)]
        placed = h.locate(proxy, "alpha", keys)
        c = Conn(port)
        for k in keys:
            self.assertEqual(c.call("SET", k, "old:" + k), b"+OK\r\n")
        old = servers["shard-b"]
        replica = self.by_port[self.replica_of("shard-b", old)].client()
        poll_until(lambda: all(replica.get(k) is not None
                               for k in keys if placed[k] == "shard-b"),
                   "replication of shard-b's keys", 10.0)
        self.by_port[old].proc.signal(signal.SIGKILL)
        killed = time.monotonic()
        promoted = None
        served_again = None
        errors = 0
        deadline = killed + FAILOVER_TIMEOUT
        while time.monotonic() < deadline:
            # a pipeline: every GET, then a SET of a fresh key per shard
            batch = [("GET", k) for k in keys] + \
                [("SET", f"kill:new:{k}", "x") for k in keys[:4]]
            c.sock.sendall(b"".join(sptest.resp(*cmd) for cmd in batch))
            replies = [c.read(10.0) for _ in range(len(batch))]
            bad = 0
            for (cmd, k, *_), reply in zip(batch, replies):
                if reply.startswith(b"-"):
                    bad += 1
                    continue
                if cmd == "GET":
                    self.assertEqual(reply, b"$%d\r\nold:%s\r\n"
                                     % (len(k) + 4, k.encode()), k)
                else:
                    self.assertEqual(reply, b"+OK\r\n")
            errors += bad
            if promoted is None and self.current("shard-b") not in (None, old):
                promoted = time.monotonic()
            if bad == 0 and promoted is not None:
                served_again = time.monotonic()
                break
            time.sleep(0.01)        # pacing: ~100 pipelines a second
        self.assertIsNotNone(promoted, "Sentinel did not promote shard-b")
        self.assertIsNotNone(served_again, "requests still fail")
        self.assertLess(served_again - promoted, 3.0)
        self.assertGreater(errors, 0)       # the outage was seen
        new = self.current("shard-b")
        fresh = [f"kill:new:{k}" for k in keys[:4]]
        for k, shard in h.locate(proxy, "alpha", fresh).items():
            where = new if shard == "shard-b" else servers["shard-a"]
            self.assertEqual(self.by_port[where].client().get(k), b"x", k)
        c.close()
        print(f"\npromoted {promoted - killed:.1f}s after kill -9, served "
              f"again {served_again - promoted:.1f}s later ({errors} error "
              "replies meanwhile)", flush=True)

    def test_wrong_first_guess_corrected(self):
        """shard-a's line names its replica (alive: the failover test left
        its old master there as a replica; test_master_killed left shard-b
        without one): the proxy asks the sentinels and writes land on the
        real master."""
        real = {n: self.current(n) for n in self.masters}
        wrong = dict(real)
        wrong["shard-a"] = self.replica_of("shard-a", real["shard-a"])
        # Sentinel turns the old master into a replica of the new one
        poll_until(lambda: link_up(self.by_port[wrong["shard-a"]]),
                   "shard-a's old master replicates the new one",
                   FAILOVER_TIMEOUT)
        self.assertIn(b"$5\r\nslave\r\n", ask(wrong["shard-a"], "ROLE"))
        proxy, port = self.start_proxy(wrong)
        poll_until(lambda: self.proxy_masters(proxy)["shard-a"][0]
                   == f"127.0.0.1:{real['shard-a']}",
                   "the proxy corrects shard-a's address", 10.0)
        keys = [f"fg:{i}" for i in range(40)]
        placed = self.harness.locate(proxy, "alpha", keys)
        c = Conn(port)
        self.write_and_check(c, keys, placed, real, "fg:")
        c.close()

    def test_failover_followed(self):
        h = self.harness
        servers = {n: self.current(n) for n in self.masters}
        metrics_port = sptest.free_port()
        proxy, port = self.start_proxy(servers, metrics_port)
        poll_until(lambda: all(
            m == f"127.0.0.1:{servers[n]}"
            for n, (m, _) in self.proxy_masters(proxy).items()),
            "the proxy knows both masters", 10.0)
        keys = [f"fo:{i}" for i in range(100)]
        placed = h.locate(proxy, "alpha", keys)
        self.assertEqual(set(placed.values()), {"shard-a", "shard-b"})
        held = Conn(port)
        for k in keys:
            self.assertEqual(held.call("SET", k, "v1:" + k), b"+OK\r\n")
        for k in keys:     # on the right masters
            self.assertEqual(self.by_port[servers[placed[k]]].client().get(k),
                             ("v1:" + k).encode())
        old = servers["shard-a"]
        # writes reach the replica before the failover
        replica = self.by_port[self.replica_of("shard-a", old)].client()
        poll_until(lambda: all(replica.get(k) is not None
                               for k in keys if placed[k] == "shard-a"),
                   "replication of shard-a's keys", 10.0)
        switches_before = self.proxy_masters(proxy)["shard-a"][1]
        self.assertEqual(ask(self.sentinels[0], "SENTINEL", "FAILOVER",
                             "shard-a"), b"+OK\r\n")
        started = time.monotonic()
        poll_until(lambda: self.current("shard-a") not in (None, old),
                   "Sentinel promotes shard-a's replica", FAILOVER_TIMEOUT)
        new = self.current("shard-a")
        poll_until(lambda: self.proxy_masters(proxy)["shard-a"][0]
                   == f"127.0.0.1:{new}",
                   "the proxy follows the failover", 10.0)
        followed = time.monotonic() - started
        self.assertGreater(self.proxy_masters(proxy)["shard-a"][1],
                           switches_before)
        # the held connection is open; replies are right or errors
        ok = 0
        for k in keys:
            reply = held.call("GET", k)
            if reply.startswith(b"-"):
                self.assertIn(b"shard-a", reply)    # the switch, named
                continue
            self.assertEqual(reply, b"$%d\r\nv1:%s\r\n"
                             % (len(k) + 3, k.encode()))
            ok += 1
        self.assertGreaterEqual(ok, len(keys) - 5)
        # new writes go to the new master, shard-b untouched
        fresh = Conn(port)
        where = {"shard-a": new, "shard-b": servers["shard-b"]}
        self.write_and_check(fresh, keys, placed, where, "v2:")
        for k in keys:
            self.assertEqual(held.call("GET", k), b"$%d\r\nv2:%s\r\n"
                             % (len(k) + 3, k.encode()))
        self.assertIn("switched to the master at 127.0.0.1:%d" % new,
                      proxy.proc.log_text())
        text = self.metrics(metrics_port)
        self.assertRegex(text, r'shardproxy_server_switches_total\{pool='
                         r'"alpha",server="shard-a"\} [1-9]')
        self.assertIn('shardproxy_pool_sentinel_errors_total{pool="alpha"}',
                      text)
        # a reload keeps the new master: no request goes to the old one
        stats = sptest.read_stats(proxy.stats_port)
        proxy.proc.signal(signal.SIGHUP)
        poll_until(lambda: sptest.read_stats(proxy.stats_port)["generation"]
                   > stats["generation"]
                   and sptest.read_stats(proxy.stats_port)["workers"] == 2,
                   "the reload's workers serve", 15.0)
        self.assertEqual(self.proxy_masters(proxy)["shard-a"][0],
                         f"127.0.0.1:{new}")
        after = Conn(port)
        self.write_and_check(after, keys, placed, where, "v3:")
        after.close()
        held.close()
        fresh.close()
        print(f"\nfailover followed {followed:.1f}s after SENTINEL FAILOVER",
              flush=True)


if __name__ == "__main__":
    unittest.main()
