"""Pub/sub through the proxy against three real redis-servers and two
workers: channels placed like keys, patterns on every server, shard
channels; every message exactly once and in order per channel; one
subscriber connection per server per worker however many clients
subscribe; the client's own counts in confirmations, byte for byte as
redis-server gives them; subscribed mode's rules; PUBSUB over every
worker; subscribers through HUP reloads; redis-py's PubSub."""

import signal
import socket
import unittest

import redis

import sptest
from test_redis_proxy import pool_yaml as redis_pool_yaml
from test_session import Conn

resp = sptest.resp


class Reader(Conn):
    """A connection that sends commands and collects whole frames:
    replies and pushes (test_session.Conn)."""

    def __init__(self, port):
        super().__init__(port)
        self.sock.settimeout(10)


def parse_push(f):
    """A RESP2 array or RESP3 push of bulks and integers, as a list."""
    assert f[:1] in (b"*", b">"), f
    items, pos = [], f.index(b"\r\n") + 2
    while pos < len(f):
        kind = f[pos:pos + 1]
        end = f.index(b"\r\n", pos)
        if kind == b"$":
            size = int(f[pos + 1:end])
            if size < 0:
                items.append(None)
                pos = end + 2
            else:
                items.append(f[end + 2:end + 2 + size])
                pos = end + 2 + size + 2
        elif kind == b":":
            items.append(int(f[pos + 1:end]))
            pos = end + 2
        elif kind == b"_":
            items.append(None)
            pos = end + 2
        else:
            raise AssertionError(f"unexpected {kind!r} in {f!r}")
    return items


class PubSubTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        sptest.raise_fd_limit(4096)
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(3)]
        cls.direct = h.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 2\n" + redis_pool_yaml(
                "ps", cls.port,
                [(r.port, 1, n) for r, n in zip(cls.servers, ("shard-a", "shard-b", "shard-c"))],
                hash_tag='"{}"'),
            ready_workers=2)

    def reader(self, port=None):
        r = Reader(port or self.port)
        self.addCleanup(r.close)
        return r

    def conn(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        return c

    def subscriber_conns(self, server):
        """Connections of the proxy on a backend that subscribe to
        anything (redis-server's CLIENT LIST sub/psub/ssub)."""
        n = 0
        for c in server.client().client_list():
            if int(c.get("sub", 0)) + int(c.get("psub", 0)) + int(c.get("ssub", 0)) > 0:
                n += 1
        return n

    def wait_unsubscribed(self):
        self.assertTrue(sptest.poll_until(
            lambda: all(self.subscriber_conns(s) == 0 or
                        not s.client().pubsub_channels() and
                        s.client().pubsub_numpat() == 0 for s in self.servers),
            "the servers forgot every subscription", timeout=10))

    # -- confirmations -----------------------------------------------------------------
    def test_confirmations_equal_redis_server(self):
        script = [("SUBSCRIBE", "a", "b", "a"), ("PSUBSCRIBE", "p*", "q?"),
                  ("SSUBSCRIBE", "{s}1", "{s}2"), ("UNSUBSCRIBE", "b", "zz"),
                  ("PUNSUBSCRIBE", "q?"), ("SUNSUBSCRIBE", "{s}1"),
                  ("PING",), ("PING", "hi"), ("GET", "k"),
                  ("UNSUBSCRIBE", "a"), ("PUNSUBSCRIBE", "p*"),
                  ("SUNSUBSCRIBE", "{s}2"), ("UNSUBSCRIBE",)]
        for proto in ("2", "3"):
            p, d = self.reader(), self.reader(self.direct.port)
            if proto == "3":
                p.send("HELLO", "3")
                d.send("HELLO", "3")
                p.frames(1)
                d.frames(1)
            for cmd in script:
                p.send(*cmd)
                d.send(*cmd)
                n = 1 if cmd[0] in ("PING", "GET") else max(len(cmd) - 1, 1)
                if cmd == ("SUBSCRIBE", "a", "b", "a"):
                    n = 3
                got, want = p.frames(n), d.frames(n)
                if proto == "3" and cmd[0] == "GET":
                    continue        # a RESP3 client may GET: nil from both
                self.assertEqual(got, want, (proto, cmd))

    # -- delivery ------------------------------------------------------------------------
    def test_every_message_once_in_order(self):
        channels = [f"news:{i}" for i in range(20)]
        shards = [f"{{sh}}:{i}" for i in range(5)]
        sub, psub, ssub = self.reader(), self.reader(), self.reader()
        sub.send("SUBSCRIBE", *channels)
        psub.send("PSUBSCRIBE", "news:*")
        ssub.send("SSUBSCRIBE", *shards)
        self.assertEqual(len(sub.frames(20)), 20)
        self.assertEqual(parse_push(psub.frames(1)[0]), [b"psubscribe", b"news:*", 1])
        self.assertEqual(len(ssub.frames(5)), 5)
        pub = redis.Redis(port=self.port)
        self.addCleanup(pub.close)
        with pub.pipeline(transaction=False) as pipe:
            for i in range(1000):
                pipe.publish(channels[i % 20], f"m{i}")
            for i in range(100):
                pipe.execute_command("SPUBLISH", shards[i % 5], f"s{i}")
            replies = pipe.execute()
        # one subscriber connection of one worker hears each channel
        self.assertTrue(all(r >= 1 for r in replies[:1000]), replies[:20])
        got = {}
        for f in sub.frames(1000):
            kind, ch, payload = parse_push(f)
            self.assertEqual(kind, b"message")
            got.setdefault(ch, []).append(int(payload[1:]))
        for i, ch in enumerate(channels):
            self.assertEqual(got[ch.encode()], list(range(i, 1000, 20)), ch)
        pgot = {}
        for f in psub.frames(1000):
            kind, pat, ch, payload = parse_push(f)
            self.assertEqual((kind, pat), (b"pmessage", b"news:*"))
            pgot.setdefault(ch, []).append(int(payload[1:]))
        self.assertEqual(pgot, got)
        sgot = {}
        for f in ssub.frames(100):
            kind, ch, payload = parse_push(f)
            self.assertEqual(kind, b"smessage")
            sgot.setdefault(ch, []).append(int(payload[1:]))
        for i, ch in enumerate(shards):
            self.assertEqual(sgot[ch.encode()], list(range(i, 100, 5)), ch)
        # nothing more came: exactly once
        pub.publish(channels[0], "last")
        self.assertEqual(parse_push(sub.frames(1)[0])[2], b"last")
        self.assertEqual(parse_push(psub.frames(1)[0])[3], b"last")

    def test_channel_lives_on_its_key_server(self):
        sub = self.reader()
        sub.send("SUBSCRIBE", "placed:{x}")
        sub.frames(1)
        owners = [s for s in self.servers
                  if s.client().pubsub_numsub("placed:{x}")[0][1] > 0]
        self.assertEqual(len(owners), 1)
        # the server a key with the same tag lives on
        c = self.conn()
        c.call("SET", "key:{x}", "v")
        self.assertEqual(owners[0].client().get("key:{x}"), b"v")

    def test_resp3_subscriber_keeps_working(self):
        r = self.reader()
        r.send("HELLO", "3")
        r.frames(1)
        r.send("SUBSCRIBE", "r3")
        self.assertEqual(r.frames(1)[0], b">3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n")
        r.send("SET", "r3key", "v")
        r.send("GET", "r3key")
        self.assertEqual(r.frames(2), [b"+OK\r\n", b"$1\r\nv\r\n"])
        redis.Redis(port=self.port).publish("r3", "hello")
        self.assertEqual(r.frames(1)[0], b">3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$5\r\nhello\r\n")

    def test_resp2_subscribed_mode_refuses_others(self):
        r = self.reader()
        r.send("SUBSCRIBE", "x")
        r.frames(1)
        r.send("GET", "x")
        self.assertEqual(r.frames(1)[0],
                         b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / "
                         b"(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
                         b"in this context\r\n")
        r.send("RESET")
        self.assertEqual(r.frames(1)[0], b"+RESET\r\n")
        r.send("GET", "nope")
        self.assertEqual(r.frames(1)[0], b"$-1\r\n")

    # -- multiplexing ------------------------------------------------------------------------
    def test_thousand_subscribers_one_connection_per_worker(self):
        n = 1000
        socks = []
        try:
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                s.sendall(resp("SUBSCRIBE", f"crowd:{i % 10}", "crowd:all"))
                socks.append(s)
            for s in socks:
                data = b""
                while data.count(b"subscribe") < 2:
                    chunk = s.recv(4096)
                    self.assertTrue(chunk)
                    data += chunk
            for server in self.servers:
                self.assertLessEqual(self.subscriber_conns(server), 2)
            # one message reaches every one of them
            redis.Redis(port=self.port).publish("crowd:all", "x")
            for s in socks:
                data = b""
                while not data.endswith(b"$1\r\nx\r\n"):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk)
                    data += chunk
            # PUBSUB counts the proxy's clients, over both workers
            c = self.conn()
            self.assertEqual(c.call("PUBSUB", "NUMSUB", "crowd:all", "crowd:3", "none"),
                             b"*6\r\n$9\r\ncrowd:all\r\n:1000\r\n$7\r\ncrowd:3\r\n:100\r\n"
                             b"$4\r\nnone\r\n:0\r\n")
            chans = c.call("PUBSUB", "CHANNELS", "crowd:*")
            self.assertTrue(chans.startswith(b"*11\r\n"), chans[:20])
            stats = sptest.read_stats(self.proxy.stats_port)
            self.assertEqual(stats["pubsub_clients"], n)
            # 11 names, counted once per worker that has subscribers to them
            self.assertTrue(11 <= stats["pubsub_channels"] <= 22, stats["pubsub_channels"])
            self.assertLessEqual(stats["subscriber_connections"], 6)
        finally:
            for s in socks:
                s.close()
        # the last to leave unsubscribes the servers
        self.assertTrue(sptest.poll_until(
            lambda: sum(s.client().pubsub_numsub("crowd:all")[0][1]
                        for s in self.servers) == 0,
            "crowd:all unsubscribed", timeout=10))

    def test_pubsub_numpat_and_shardnumsub(self):
        a, b = self.reader(), self.reader()
        a.send("PSUBSCRIBE", "pat:*", "other:*")
        b.send("PSUBSCRIBE", "pat:*")
        a.frames(2)
        b.frames(1)
        c = self.conn()
        self.assertEqual(c.call("PUBSUB", "NUMPAT"), b":2\r\n")
        a.send("SSUBSCRIBE", "{t}one")
        a.frames(1)
        self.assertEqual(c.call("PUBSUB", "SHARDNUMSUB", "{t}one"),
                         b"*2\r\n$6\r\n{t}one\r\n:1\r\n")
        self.assertEqual(c.call("PUBSUB", "SHARDCHANNELS"), b"*1\r\n$6\r\n{t}one\r\n")
        # RESP3: the same array, as redis-server 7.0 answers
        c.call("HELLO", "3")
        self.assertEqual(c.call("PUBSUB", "NUMSUB", "x"), b"*2\r\n$1\r\nx\r\n:0\r\n")

    def test_redis_py_pubsub(self):
        r = redis.Redis(port=self.port)
        self.addCleanup(r.close)
        p = r.pubsub()
        self.addCleanup(p.close)
        p.subscribe("py:chan")
        p.psubscribe("py:*")
        self.assertEqual(p.get_message(timeout=5)["type"], "subscribe")
        self.assertEqual(p.get_message(timeout=5)["type"], "psubscribe")
        self.assertGreaterEqual(r.publish("py:chan", "hi"), 1)
        seen = {p.get_message(timeout=5)["type"], p.get_message(timeout=5)["type"]}
        self.assertEqual(seen, {"message", "pmessage"})
        p.unsubscribe("py:chan")
        self.assertEqual(p.get_message(timeout=5)["type"], "unsubscribe")

    def test_subscriber_connection_comes_back(self):
        sub = self.reader()
        sub.send("SUBSCRIBE", "survive")
        sub.frames(1)
        owner = [s for s in self.servers
                 if s.client().pubsub_numsub("survive")[0][1] > 0][0]
        # the server drops the proxy's subscriber connection
        for c in owner.client().client_list():
            if int(c.get("sub", 0)) > 0:
                owner.client().client_kill_filter(_id=c["id"])
        self.assertTrue(sptest.poll_until(
            lambda: owner.client().pubsub_numsub("survive")[0][1] > 0,
            "subscribed again", timeout=10))
        redis.Redis(port=self.port).publish("survive", "again")
        self.assertEqual(parse_push(sub.frames(1)[0])[2], b"again")


class PubSubTimeoutTest(sptest.HarnessTestCase):
    """client_timeout closes an idle client, never a subscriber (as
    redis-server's timeout)."""

    @classmethod
    def setUpHarness(cls):
        cls.server = cls.harness.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = cls.harness.start_shardproxy(
            "global:\n  worker_processes: 1\n" + redis_pool_yaml(
                "pst", cls.port, [(cls.server.port, 1, "shard-a")],
                client_timeout=300))

    def test_subscriber_outlives_client_timeout(self):
        sub, idle = Reader(self.port), Reader(self.port)
        self.addCleanup(sub.close)
        self.addCleanup(idle.close)
        sub.send("SUBSCRIBE", "quiet")
        sub.frames(1)
        idle.send("PING")
        idle.frames(1)
        idle.sock.settimeout(10)
        self.assertEqual(idle.sock.recv(10), b"")     # closed at its timeout
        redis.Redis(port=self.port).publish("quiet", "still here")
        self.assertEqual(parse_push(sub.frames(1)[0])[2], b"still here")


class PubSubReloadTest(sptest.HarnessTestCase):
    """A subscriber stays with its worker through reloads; it misses
    nothing."""

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(2)]
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 2\n" + redis_pool_yaml(
                "psr", cls.port,
                [(r.port, 1, n) for r, n in zip(cls.servers, ("shard-a", "shard-b"))]),
            ready_workers=2)

    def test_five_reloads_lose_no_message(self):
        sub = Reader(self.port)
        self.addCleanup(sub.close)
        sub.send("SUBSCRIBE", "r:1", "r:2", "r:3")
        sub.frames(3)
        sent = 0
        for n in range(5):
            self.proxy.proc.signal(signal.SIGHUP)
            self.assertTrue(sptest.poll_until(
                lambda: sptest.read_stats(self.proxy.stats_port)["reloads"] == n + 1,
                f"reload {n + 1}", timeout=20))
            pub = redis.Redis(port=self.port)
            for i in range(50):
                pub.publish(f"r:{1 + i % 3}", f"{sent}")
                sent += 1
            pub.close()
        got = [int(parse_push(f)[2]) for f in sub.frames(sent)]
        self.assertEqual(sorted(got), list(range(sent)))
        sub.send("PING")
        self.assertEqual(sub.frames(1)[0], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")


if __name__ == "__main__":
    unittest.main()
