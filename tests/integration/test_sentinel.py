"""Sentinel-managed shards: two shards, each a redis-server master with one
replica, three redis-sentinels watching both, and the proxy (2 workers)
whose server lines name the Sentinel masters. The proxy's master process
asks the sentinels where each master is and follows +switch-master: keys
stay on their shard across a failover, writes go to the promoted replica,
a client connection held across it stays open, and a wrong first-guess
address in the configuration is corrected at start."""

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

    def proxy_conf(self, port, servers, workers=2, metrics_port=None):
        lines = ["global:", f"  worker_processes: {workers}"]
        if metrics_port:
            lines.append(f"  metrics_listen: 127.0.0.1:{metrics_port}")
        lines += ["alpha:",
                 f"  listen: 127.0.0.1:{port}", "  redis: true",
                 "  sentinels: [" + ", ".join(
                     f"127.0.0.1:{p}" for p in self.sentinels) + "]",
                 "  sentinel_refresh_interval: 500", "  servers:"]
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

    def start_proxy(self, servers, metrics_port=None):
        port = sptest.free_port()
        return self.harness.start_shardproxy(
            self.proxy_conf(port, servers, metrics_port=metrics_port)), port

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
