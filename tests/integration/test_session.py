"""Client sessions through the proxy, against real redis-servers: HELLO and
RESP3 (byte for byte as redis-server 7 answers), CLIENT, AUTH in both forms,
INFO, RESET, TIME, ROLE, transactions (MULTI/EXEC/DISCARD/WATCH) on one
server of a ketama pool, with redis-py's own helpers."""

import signal
import socket
import time
import unittest

import redis

import sptest
from sptest import pool_yaml
from test_redis_proxy import pool_yaml as redis_pool_yaml

resp = sptest.resp


def frame(data, pos=0):
    """The end of the complete RESP2/RESP3 value at data[pos:], or None."""
    end = data.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, body = data[pos:pos + 1], data[pos + 1:end]
    pos = end + 2
    if kind in (b"+", b"-", b":", b"_", b"#", b",", b"("):
        return pos
    if kind in (b"$", b"!", b"="):
        size = int(body)
        if size < 0:
            return pos
        return pos + size + 2 if len(data) >= pos + size + 2 else None
    if kind in (b"*", b"~", b">", b"%"):
        count = int(body) * (2 if kind == b"%" else 1)
        for _ in range(max(count, 0)):
            pos = frame(data, pos)
            if pos is None:
                return None
        return pos
    raise AssertionError(f"bad reply byte {kind!r} in {data[pos - 1:pos + 60]!r}")


class Conn:
    """A raw connection that sends commands and reads whole replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def call(self, *args):
        self.send(*args)
        return self.read()

    def send(self, *args):
        self.sock.sendall(resp(*args))

    def read(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            end = frame(self.buf) if self.buf else None
            if end is not None:
                reply, self.buf = self.buf[:end], self.buf[end:]
                return reply
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no whole reply in {self.buf[:200]!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed; have {self.buf[:200]!r}")
            self.buf += chunk

    def frames(self, n, timeout=15.0):
        """The next n whole replies or pushes (all within timeout)."""
        deadline = time.monotonic() + timeout
        return [self.read(max(deadline - time.monotonic(), 0.001))
                for _ in range(n)]

    def close(self):
        self.sock.close()


# Commands whose replies cover every RESP3 type a redis-server 7 sends to a
# client: run in order on a fresh proxy connection and on a fresh direct
# connection, both after HELLO 3; the replies must be the same bytes.
RESP3_SCRIPT = [
    ("PING",), ("PING", "hi"), ("ECHO", "e"),
    ("SET", "s:1", "v1"), ("GET", "s:1"), ("GET", "s:none"),
    ("SET", "s:2", "10", "NX"), ("SET", "s:2", "11", "XX", "GET"),
    ("INCR", "s:2"), ("INCRBY", "s:2", "5"), ("DECR", "s:2"),
    ("INCRBYFLOAT", "s:f", "1.5"), ("APPEND", "s:1", "x"), ("STRLEN", "s:1"),
    ("GETRANGE", "s:1", "0", "1"), ("SETRANGE", "s:1", "1", "Z"),
    ("MSET", "m:1", "a", "m:2", "b", "m:3", "c"),
    ("MGET", "m:1", "m:none", "m:2", "m:3"),
    ("EXISTS", "m:1", "m:2", "m:none"), ("DEL", "m:1", "m:none"),
    ("SETNX", "s:3", "x"), ("GETSET", "s:3", "y"), ("GETDEL", "s:3"),
    ("GETEX", "s:1", "EX", "100"), ("TTL", "s:1"), ("PERSIST", "s:1"),
    ("PTTL", "s:1"), ("EXPIRE", "s:1", "50"), ("TYPE", "s:1"),
    ("HSET", "h:1", "f1", "1", "f2", "2"), ("HGET", "h:1", "f1"),
    ("HGET", "h:1", "nope"), ("HGETALL", "h:1"), ("HGETALL", "h:none"),
    ("HMGET", "h:1", "f1", "nope"), ("HKEYS", "h:1"), ("HVALS", "h:1"),
    ("HLEN", "h:1"), ("HEXISTS", "h:1", "f2"), ("HINCRBYFLOAT", "h:1", "f1", "0.5"),
    ("HDEL", "h:1", "f2"), ("HSTRLEN", "h:1", "f1"),
    ("RPUSH", "l:1", "a", "b", "c", "d"), ("LRANGE", "l:1", "0", "-1"),
    ("LPOP", "l:1"), ("RPOP", "l:1", "2"), ("LPOP", "l:none"), ("LLEN", "l:1"),
    ("LINDEX", "l:1", "0"), ("LPOS", "l:1", "a"),
    ("SADD", "st:1", "3", "1", "2"), ("SMEMBERS", "st:1"), ("SCARD", "st:1"),
    ("SISMEMBER", "st:1", "2"), ("SMISMEMBER", "st:1", "1", "9"),
    ("SMEMBERS", "st:none"),
    ("ZADD", "z:1", "1.5", "a", "2", "b", "3", "c"), ("ZSCORE", "z:1", "a"),
    ("ZSCORE", "z:1", "nope"), ("ZRANGE", "z:1", "0", "-1", "WITHSCORES"),
    ("ZRANGE", "z:1", "0", "-1"), ("ZINCRBY", "z:1", "1", "a"),
    ("ZRANK", "z:1", "b"), ("ZCARD", "z:1"), ("ZMSCORE", "z:1", "a", "x"),
    ("ZPOPMIN", "z:1"), ("ZPOPMAX", "z:1", "2"), ("ZRANGEBYSCORE", "z:1", "-inf", "+inf"),
    ("SETBIT", "b:1", "7", "1"), ("GETBIT", "b:1", "7"), ("BITCOUNT", "b:1"),
    ("PFADD", "hll:1", "a", "b"), ("PFCOUNT", "hll:1"),
    ("GEOADD", "g:1", "13.361389", "38.115556", "Palermo"),
    ("GEOPOS", "g:1", "Palermo", "nowhere"), ("GEODIST", "g:1", "Palermo", "Palermo"),
    ("HSCAN", "h:1", "0"), ("SSCAN", "st:1", "0"), ("ZSCAN", "z:none", "0"),
    ("LPUSH", "s:1", "x"), ("HGET", "s:1", "f"),
    ("TOUCH", "s:1", "h:1"), ("UNLINK", "l:1", "st:1"),
    ("XADD", "x:1", "1-1", "f", "v"), ("XADD", "x:1", "2-1", "g", "w"),
    ("XRANGE", "x:1", "-", "+"), ("XLEN", "x:1"), ("XINFO", "STREAM", "x:1"),
    ("OBJECT", "ENCODING", "h:1"), ("EXPIRETIME", "s:1"),
    ("LCS", "s:1", "s:1"), ("SINTERCARD", "1", "st:none"),
    ("COMMAND", "INFO", "get", "mget", "xread"), ("COMMAND", "DOCS", "incr"),
    ("EVAL", "return {1, 'two', {3}}", "0"),
    ("EVAL", "redis.setresp(3); return true", "0"),
    ("EVAL", "redis.setresp(3); return {double = 3.5}", "0"),
    ("EVAL", "redis.setresp(3); return {big_number = '123456789012345678901234567890'}", "0"),
    ("EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", "1", "h:1"),
]


class SessionTest(sptest.HarnessTestCase):
    """Two redis-servers behind a ketama pool, and one more to compare with.
    One worker, so connection ids and listings are easy to follow (with
    two, test_proxy_clients.py)."""

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(2)]
        cls.direct = h.start_redis()
        cls.port = sptest.free_port()
        # named so that ketama spreads keys over both (as nutcracker does)
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 1\n" + redis_pool_yaml(
                "session", cls.port,
                [(r.port, 1, n) for r, n in zip(cls.servers, ("shard-a", "shard-b"))],
                hash_tag='"{}"'))

    def setUp(self):
        for r in self.servers + [self.direct]:
            r.client().flushall()

    def proxy_conn(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        return c

    def owner(self, key):
        """The backend a key is on (exactly one)."""
        found = [r for r in self.servers if r.client().exists(key)]
        self.assertEqual(len(found), 1, key)
        return found[0]

    # -- HELLO / RESP3 --------------------------------------------------------------------
    def test_resp3_bytes_equal_redis_server(self):
        proxied, direct = self.proxy_conn(), Conn(self.direct.port)
        self.addCleanup(direct.close)
        hello_p, hello_d = proxied.call("HELLO", "3"), direct.call("HELLO", "3")
        self.assertTrue(hello_p.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"))
        # the same fields in the same order; the id is the proxy's own
        self.assertEqual(hello_p.split(b"$2\r\nid\r\n")[0],
                         hello_d.split(b"$2\r\nid\r\n")[0].replace(
                             hello_d.split(b"$7\r\nversion\r\n$")[1][:10],
                             hello_p.split(b"$7\r\nversion\r\n$")[1][:10]))
        self.assertEqual(hello_p.split(b"$4\r\nmode\r\n")[1],
                         hello_d.split(b"$4\r\nmode\r\n")[1])
        self.assertGreaterEqual(len(RESP3_SCRIPT), 60)
        types = set()
        for cmd in RESP3_SCRIPT:
            got, want = proxied.call(*cmd), direct.call(*cmd)
            self.assertEqual(got, want, cmd)
            types.add(want[:1])
        # maps, sets, nulls, doubles, arrays, bulks, integers, errors, status
        self.assertTrue({b"%", b"~", b"_", b",", b"*", b"$", b":", b"-", b"+",
                         b"#", b"("} <= types, types)

    def test_resp2_client_unchanged_beside_resp3(self):
        c2, c3 = self.proxy_conn(), self.proxy_conn()
        c3.call("HELLO", "3")
        c2.call("HSET", "h:x", "f", "v")
        self.assertEqual(c2.call("HGETALL", "h:x"), b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
        self.assertEqual(c3.call("HGETALL", "h:x"), b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n")
        self.assertEqual(c2.call("GET", "nope"), b"$-1\r\n")
        self.assertEqual(c3.call("GET", "nope"), b"_\r\n")
        self.assertEqual(c3.call("MGET", "nope", "h:none"), b"*2\r\n_\r\n_\r\n")
        # back to RESP2 on the same connection
        self.assertTrue(c3.call("HELLO", "2").startswith(b"*14\r\n"))
        self.assertEqual(c3.call("GET", "nope"), b"$-1\r\n")

    def test_hello_errors_and_setname(self):
        c = self.proxy_conn()
        self.assertEqual(c.call("HELLO", "4"), b"-NOPROTO unsupported protocol version\r\n")
        self.assertEqual(c.call("HELLO", "x"),
                         b"-ERR Protocol version is not an integer or out of range\r\n")
        self.assertEqual(c.call("HELLO", "3", "BOGUS"),
                         b"-ERR Syntax error in HELLO option 'BOGUS'\r\n")
        self.assertTrue(c.call("HELLO", "3", "SETNAME", "app-1").startswith(b"%7"))
        self.assertEqual(c.call("CLIENT", "GETNAME"), b"$5\r\napp-1\r\n")
        self.assertEqual(c.call("HELLO"), c.call("HELLO"))

    # -- CLIENT ----------------------------------------------------------------------------
    def test_client_commands(self):
        c, other = self.proxy_conn(), self.proxy_conn()
        self.assertEqual(c.call("CLIENT", "GETNAME"), b"$-1\r\n")
        self.assertEqual(c.call("CLIENT", "SETNAME", "worker-7"), b"+OK\r\n")
        self.assertEqual(c.call("CLIENT", "SETNAME", "bad name"),
                         b"-ERR Client names cannot contain spaces, newlines or "
                         b"special characters.\r\n")
        self.assertEqual(c.call("CLIENT", "GETNAME"), b"$8\r\nworker-7\r\n")
        self.assertEqual(c.call("CLIENT", "SETINFO", "LIB-NAME", "mylib"), b"+OK\r\n")
        self.assertEqual(c.call("CLIENT", "SETINFO", "LIB-VER", "1.2"), b"+OK\r\n")
        my_id = int(c.call("CLIENT", "ID")[1:-2])
        other_id = int(other.call("CLIENT", "ID")[1:-2])
        self.assertNotEqual(my_id, other_id)
        info = c.call("CLIENT", "INFO").decode()
        self.assertIn(f"id={my_id} ", info)
        self.assertIn(" name=worker-7 ", info)
        self.assertIn(" lib-name=mylib lib-ver=1.2", info)
        listing = c.call("CLIENT", "LIST").decode()
        self.assertIn(f"id={my_id} ", listing)
        self.assertIn(f"id={other_id} ", listing)
        only = c.call("CLIENT", "LIST", "ID", str(other_id)).decode()
        self.assertNotIn(f"id={my_id} ", only)
        self.assertEqual(c.call("CLIENT", "NO-EVICT", "on"), b"+OK\r\n")
        self.assertTrue(c.call("CLIENT", "TRACKING", "on").startswith(
            b"-ERR command 'client|tracking' is not supported by the proxy"))
        self.assertTrue(c.call("CLIENT", "NOPE").startswith(b"-ERR unknown subcommand"))
        # KILL by id: the other connection is closed, this one goes on
        self.assertEqual(c.call("CLIENT", "KILL", "ID", str(other_id)), b":1\r\n")
        other.sock.settimeout(5)
        self.assertEqual(other.sock.recv(10), b"")
        self.assertEqual(c.call("PING"), b"+PONG\r\n")
        self.assertEqual(c.call("CLIENT", "KILL", "ID", "999999999"), b":0\r\n")

    def test_client_reply_off_and_skip(self):
        c = self.proxy_conn()
        c.sock.sendall(resp("CLIENT", "REPLY", "OFF") + resp("SET", "r:1", "a")
                       + resp("GET", "r:1") + resp("CLIENT", "REPLY", "ON")
                       + resp("CLIENT", "REPLY", "SKIP") + resp("GET", "r:1")
                       + resp("ECHO", "last"))
        self.assertEqual(c.read(), b"+OK\r\n")          # REPLY ON's
        self.assertEqual(c.read(), b"$4\r\nlast\r\n")   # SKIP ate GET's
        self.assertEqual(self.owner("r:1").client().get("r:1"), b"a")

    # -- INFO, TIME, ROLE, RESET -----------------------------------------------------------------
    def test_info(self):
        c = self.client_py()
        for i in range(40):
            c.set(f"info:{i}", i)
        c.set("info:ttl", 1, ex=100)
        info = c.info()
        self.assertEqual(info["loading"], 0)
        self.assertEqual(info["role"], "master")
        self.assertEqual(info["redis_mode"], "standalone")
        self.assertEqual(info["proxy"], "shardproxy")
        self.assertEqual(info["redis_version"], self.servers[0].client().info()["redis_version"])
        self.assertEqual(info["db0"]["keys"], 41)
        self.assertEqual(info["db0"]["expires"], 1)
        self.assertEqual(sum(r.client().dbsize() for r in self.servers), 41)
        only = c.info("keyspace")
        self.assertEqual(set(only), {"db0"})
        raw = self.proxy_conn()
        raw.call("HELLO", "3")
        self.assertTrue(raw.call("INFO", "persistence").startswith(b"=")) # verbatim

    def test_dbsize_and_flush_over_every_server(self):
        c = self.client_py()
        for i in range(30):
            c.set(f"ks:{i}", i)
        per_server = [r.client().dbsize() for r in self.servers]
        self.assertTrue(all(n > 0 for n in per_server), per_server)
        self.assertEqual(c.dbsize(), 30)
        self.assertTrue(c.flushdb())
        self.assertEqual([r.client().dbsize() for r in self.servers], [0, 0])
        c.set("ks:again", 1)
        raw = self.proxy_conn()
        raw.call("HELLO", "3")
        self.assertEqual(raw.call("DBSIZE"), b":1\r\n")
        self.assertEqual(raw.call("FLUSHALL", "ASYNC"), b"+OK\r\n")
        sptest.poll_until(lambda: self.client_py().dbsize() == 0, "empty", timeout=5)
        self.assertEqual([r.client().dbsize() for r in self.servers], [0, 0])

    def test_time_role_reset(self):
        c = self.proxy_conn()
        t = c.call("TIME").split(b"\r\n")
        self.assertLess(abs(int(t[2]) - time.time()), 5)
        self.assertEqual(c.call("ROLE"), b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
        c.call("HELLO", "3", "SETNAME", "x")
        c.call("MULTI")
        self.assertEqual(c.call("RESET"), b"+RESET\r\n")
        self.assertEqual(c.call("CLIENT", "GETNAME"), b"$-1\r\n")   # RESP2 again
        self.assertEqual(c.call("EXEC"), b"-ERR EXEC without MULTI\r\n")

    def client_py(self, **kw):
        c = redis.Redis(port=self.port, socket_timeout=5, **kw)
        self.addCleanup(c.close)
        return c

    # -- transactions ------------------------------------------------------------------------
    def test_transaction_one_server(self):
        c = self.client_py()
        with c.pipeline(transaction=True) as p:
            p.set("{acct}:a", 10).incrby("{acct}:a", 5).get("{acct}:a").lpush("{acct}:l", 1)
            self.assertEqual(p.execute(), [True, 15, b"15", 1])
        r = self.owner("{acct}:a").client()
        self.assertEqual(r.get("{acct}:a"), b"15")
        self.assertEqual(r.llen("{acct}:l"), 1)

    def cross_keys(self):
        """Two keys on different servers."""
        c = self.client_py()
        first = "x:0"
        c.set(first, 1)
        home = self.owner(first)
        try:
            for i in range(1, 200):
                k = f"x:{i}"
                c.set(k, 1)
                other = self.owner(k) is not home
                c.delete(k)
                if other:
                    return first, k
            self.fail("no key on the second server")
        finally:
            c.delete(first)

    def test_transaction_across_servers_applies_nothing(self):
        a, b = self.cross_keys()
        c = self.proxy_conn()
        self.assertEqual(c.call("MULTI"), b"+OK\r\n")
        self.assertEqual(c.call("SET", a, "1"), b"+QUEUED\r\n")
        self.assertEqual(c.call("SET", b, "2"),
                         b"-CROSSSERVER Keys in request don't hash to the same server\r\n")
        self.assertEqual(c.call("SET", a, "3"), b"+QUEUED\r\n")
        self.assertEqual(c.call("EXEC"),
                         b"-EXECABORT Transaction discarded because of previous errors.\r\n")
        for r in self.servers:
            self.assertEqual(r.client().dbsize(), 0)
        # redis-py surfaces it, and nothing is applied either
        with self.assertRaises(redis.ResponseError):
            with self.client_py().pipeline(transaction=True) as p:
                p.set(a, 1).set(b, 2).execute()
        for r in self.servers:
            self.assertEqual(r.client().dbsize(), 0)

    def test_transaction_errors_as_redis(self):
        c = self.proxy_conn()
        self.assertEqual(c.call("EXEC"), b"-ERR EXEC without MULTI\r\n")
        self.assertEqual(c.call("DISCARD"), b"-ERR DISCARD without MULTI\r\n")
        c.call("MULTI")
        self.assertEqual(c.call("MULTI"), b"-ERR MULTI calls can not be nested\r\n")
        self.assertEqual(c.call("WATCH", "k"), b"-ERR WATCH inside MULTI is not allowed\r\n")
        self.assertEqual(c.call("SET", "t:1", "x"), b"+QUEUED\r\n")
        self.assertEqual(c.call("DISCARD"), b"+OK\r\n")
        self.assertFalse(any(r.client().exists("t:1") for r in self.servers))
        c.call("MULTI")
        self.assertTrue(c.call("NOSUCHCMD").startswith(b"-ERR unknown command"))
        c.call("SET", "t:1", "x")
        self.assertTrue(c.call("EXEC").startswith(b"-EXECABORT"))
        # a runtime error inside is Redis's own: the rest is applied
        c.call("SET", "t:str", "x")
        c.call("MULTI")
        c.call("LPUSH", "t:str", "1")
        c.call("SET", "t:str", "y")
        self.assertEqual(c.call("EXEC"),
                         b"*2\r\n-WRONGTYPE Operation against a key holding the wrong "
                         b"kind of value\r\n+OK\r\n")

    def test_watch(self):
        c, other = self.client_py(), self.client_py()
        c.set("{w}:n", 1)
        with c.pipeline() as p:
            p.watch("{w}:n")
            n = int(p.get("{w}:n"))
            other.set("{w}:n", 100)           # a conflicting write
            p.multi()
            p.set("{w}:n", n + 1)
            with self.assertRaises(redis.WatchError):
                p.execute()
        self.assertEqual(c.get("{w}:n"), b"100")
        # no conflict: applied
        def incr(pipe):
            v = int(pipe.get("{w}:n"))
            pipe.multi()
            pipe.set("{w}:n", v + 1)
        c.transaction(incr, "{w}:n")
        self.assertEqual(self.owner("{w}:n").client().get("{w}:n"), b"101")
        # the pinned connection is closed once EXEC is answered: the backend
        # has no connection left whose last command was EXEC or WATCH
        r = self.owner("{w}:n").client()
        self.addCleanup(r.close)

        def pinned_gone():
            return not any(c["cmd"] in ("exec", "watch") for c in r.client_list())
        sptest.poll_until(pinned_gone, "the pinned connection closed", timeout=5)

    def test_clients_leaving_mid_transaction(self):
        """Clients that send a whole transaction (some after WATCH, some in
        RESP3) and close at once, or close inside MULTI: every EXEC sent is
        applied whole, nothing of an unfinished one is, and no lent
        connection is left behind."""
        sent = 0
        for i in range(120):
            key = "{leave%d}:n" % (i % 5)
            parts = [resp("HELLO", "3")] if i % 2 else []
            parts += [resp("WATCH", key)] if i % 3 else []
            parts += [resp("MULTI"), resp("INCR", key), resp("INCR", key)]
            if i % 4:
                parts.append(resp("EXEC"))
                sent += 1
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(b"".join(parts))
        clients = [r.client() for r in self.servers]
        for c in clients:
            self.addCleanup(c.close)

        def total():
            return sum(int(c.get("{leave%d}:n" % j) or 0)
                       for c in clients for j in range(5))
        sptest.poll_until(lambda: total() == 2 * sent, f"{2 * sent} increments",
                          timeout=10)
        self.assertEqual(total(), 2 * sent)

        # what is left is the shared sets: one RESP2 and one RESP3
        # connection per server (server_connections: 1), no lent one
        def server_conns():
            pool = sptest.read_stats(self.proxy.stats_port)["session"]
            return [pool[n]["server_connections"] for n in ("shard-a", "shard-b")]
        sptest.poll_until(lambda: max(server_conns()) <= 2,
                          "no lent connection left", timeout=5)
        self.assertLessEqual(max(server_conns()), 2, server_conns())

    def test_lock_and_name(self):
        c = self.client_py(client_name="locker")
        self.assertEqual(c.client_getname(), "locker")
        lock = c.lock("res:1", timeout=5)
        self.assertTrue(lock.acquire(blocking=False))
        self.assertFalse(self.client_py().lock("res:1").acquire(blocking=False))
        lock.release()
        self.assertFalse(any(r.client().exists("res:1") for r in self.servers))


class SessionReloadTest(sptest.HarnessTestCase):
    """A client's protocol and name survive a HUP reload's handoff; a client
    mid-transaction stays with the old generation until EXEC, then moves."""

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(2)]
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(redis_pool_yaml(
            "session", cls.port,
            [(r.port, 1, n) for r, n in zip(cls.servers, ("shard-a", "shard-b"))],
                hash_tag='"{}"'))

    def stats(self):
        return sptest.read_stats(self.proxy.stats_port)

    def reload(self):
        before = self.stats()
        self.proxy.proc.signal(signal.SIGHUP)
        want = before["generation"] + 1
        sptest.poll_until(lambda: self.stats()["generation"] == want
                          and self.stats()["retiring"] == 0,
                          f"generation {want} alone", timeout=20)
        return self.stats()["handoffs"] - before["handoffs"]

    def test_protocol_and_name_survive_reload(self):
        c3 = Conn(self.port)
        self.addCleanup(c3.close)
        self.assertTrue(c3.call("HELLO", "3", "SETNAME", "keeper").startswith(b"%7"))
        c3.call("CLIENT", "SETINFO", "LIB-NAME", "libx")
        first_id = c3.call("CLIENT", "ID")
        txn = Conn(self.port)
        self.addCleanup(txn.close)
        self.assertEqual(txn.call("MULTI"), b"+OK\r\n")
        self.assertEqual(txn.call("SET", "{r}:k", "1"), b"+QUEUED\r\n")
        self.proxy.proc.signal(signal.SIGHUP)
        # the transaction's client is held back until EXEC: its queue is whole
        self.assertEqual(txn.call("SET", "{r}:k2", "2"), b"+QUEUED\r\n")
        self.assertEqual(txn.call("EXEC"), b"*2\r\n+OK\r\n+OK\r\n")
        sptest.poll_until(lambda: self.stats()["generation"] == 2
                          and self.stats()["retiring"] == 0,
                          "generation 2 alone", timeout=20)
        self.assertGreaterEqual(self.stats()["handoffs"], 2)
        self.assertEqual(self.stats()["handoffs_closed"], 0)
        # the same connections, on a new worker, as they were
        self.assertEqual(c3.call("CLIENT", "GETNAME"), b"$6\r\nkeeper\r\n")
        self.assertEqual(c3.call("GET", "nope"), b"_\r\n")          # RESP3 still
        self.assertEqual(c3.call("HGETALL", "nope"), b"%0\r\n")
        self.assertIn(b"lib-name=libx", c3.call("CLIENT", "INFO"))
        self.assertNotEqual(c3.call("CLIENT", "ID"), first_id)  # unique in the proxy
        self.assertEqual(txn.call("GET", "{r}:k2"), b"$1\r\n2\r\n")


class AuthTest(sptest.HarnessTestCase):
    """A pool with redis_auth in front of redis-servers that require it."""

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(2)]
        for r in cls.servers:
            r.client().config_set("requirepass", "pw")
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(pool_yaml(
            "auth", cls.port, [(r.port, 1, f"s{i}") for i, r in enumerate(cls.servers)],
            redis="true", redis_auth="pw"))

    def test_auth_forms(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.call("GET", "a"), b"-NOAUTH Authentication required.\r\n")
        self.assertEqual(c.call("AUTH", "bad"),
                         b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        self.assertEqual(c.call("AUTH", "someone", "pw"),
                         b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        self.assertEqual(c.call("AUTH", "default", "pw"), b"+OK\r\n")
        self.assertEqual(c.call("SET", "a", "1"), b"+OK\r\n")
        self.assertEqual(c.call("AUTH", "pw"), b"+OK\r\n")
        d = Conn(self.port)
        self.addCleanup(d.close)
        self.assertTrue(d.call("HELLO", "3").startswith(b"-NOAUTH HELLO must be called"))
        self.assertTrue(d.call("HELLO", "3", "AUTH", "default", "pw").startswith(b"%7"))
        self.assertEqual(d.call("GET", "a"), b"$1\r\n1\r\n")
        self.assertEqual(d.call("HGETALL", "nope"), b"%0\r\n")   # over HELLO 3 + AUTH

    def test_redis_py_url_and_password(self):
        for c in (redis.Redis.from_url(f"redis://default:pw@127.0.0.1:{self.port}/0"),
                  redis.Redis(port=self.port, password="pw"),
                  redis.Redis(port=self.port, username="default", password="pw")):
            self.addCleanup(c.close)
            self.assertTrue(c.set("u", "v"))
            self.assertEqual(c.get("u"), b"v")
        self.assertEqual(sum(r.client(password="pw").exists("u") for r in self.servers), 1)


if __name__ == "__main__":
    unittest.main()
