"""The generated Redis 7 command table through a ketama pool of two named
redis-servers (issue 13 items 6-8): every keyed Redis 6.2/7 command routed
by its keys and answered as the same command sent straight to a redis-server;
multi-key commands whose keys span the servers refused with -CROSSSERVER and
nothing applied anywhere; scripts and functions on every server (redis-py's
register_script and Lock, SCRIPT LOAD/EXISTS/FLUSH, FUNCTION LOAD/FCALL);
COMMAND INFO/COUNT/DOCS/GETKEYS equal to redis-server's for the commands the
proxy serves; refusals counted in the stats JSON and in Prometheus.

Run: /usr/bin/python3 tests/integration/test_redis_commands.py
"""

import json
import socket
import time
import urllib.request

import redis

import sptest


def read_reply(sock, buf):
    """One RESP2 reply from sock (buf: bytes already read, a one-item
    list); returns its raw bytes."""
    def need(n):
        while len(buf[0]) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            buf[0] += chunk

    def one(pos):
        while True:
            end = buf[0].find(b"\r\n", pos)
            if end >= 0:
                break
            need(len(buf[0]) + 1)
        kind, body = buf[0][pos:pos + 1], buf[0][pos + 1:end]
        pos = end + 2
        if kind in (b"+", b"-", b":"):
            return pos
        n = int(body)
        if kind == b"$":
            if n < 0:
                return pos
            need(pos + n + 2)
            return pos + n + 2
        for _ in range(max(n, 0)):
            pos = one(pos)
        return pos

    end = one(0)
    data, buf[0] = buf[0][:end], buf[0][end:]
    return data


def parse(data):
    """A RESP2 reply's value: lists, bytes, ints; status as ('+', text)."""
    def one(pos):
        end = data.index(b"\r\n", pos)
        kind, body = data[pos:pos + 1], data[pos + 1:end]
        pos = end + 2
        if kind in (b"+", b"-"):
            return (kind.decode(), body), pos
        if kind == b":":
            return int(body), pos
        n = int(body)
        if kind == b"$":
            return (None, pos) if n < 0 else (data[pos:pos + n], pos + n + 2)
        items = []
        for _ in range(n):
            item, pos = one(pos)
            items.append(item)
        return items, pos
    return one(0)[0]


def raw(port, *args):
    """The raw RESP2 reply to one command."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(sptest.resp(*args))
        return read_reply(s, [b""])


# the Redis 7.2 subcommands the table adds to 7.0's
REDIS_72 = {"client|setinfo", "client|no-touch"}

# replies whose order is the server's hash order: compared as sets
UNORDERED = {"SDIFF", "SMEMBERS", "SUNION", "SINTER"}


class CommandTableTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(2)]
        cls.direct = h.start_redis()
        cls.port = sptest.free_port()
        cls.metrics_port = sptest.free_port()
        conf = (f"global:\n  worker_processes: 2\n"
                f"  metrics_listen: 127.0.0.1:{cls.metrics_port}\n"
                + sptest.pool_yaml("alpha", cls.port,
                                   [(r.port, 1, f"s{i}")
                                    for i, r in enumerate(cls.servers)],
                                   redis="true", hash="fnv1a_64",
                                   distribution="ketama", hash_tag='"{}"'))
        cls.proxy = h.start_shardproxy(conf)
        cls.owners = h.locate(cls.proxy, "alpha",
                              [f"{{t{i}}}" for i in range(400)])
        cls.tags = {name: [t for t, o in cls.owners.items() if o == name]
                    for name in ("s0", "s1")}
        assert len(cls.tags["s0"]) > 20 and len(cls.tags["s1"]) > 20

    def setUp(self):
        super().setUp()
        for r in self.servers + [self.direct]:
            c = r.client()
            c.flushall()
            c.script_flush()
            c.function_flush()
        self.c = redis.Redis(port=self.port)
        self.addCleanup(self.c.close)

    def backend(self, name):
        return self.servers[int(name[1:])].client()

    def tag(self, server, i=0):
        return self.tags[server][i]

    # ---- keyed commands --------------------------------------------------------

    def test_keyed_commands_as_direct(self):
        """~40 Redis 6.2/7 keyed commands: through the proxy each answers as
        the same sequence sent straight to a redis-server, and the keys land
        on the server that owns their tag (and only there)."""
        cases = {
            "xadd": [("XADD", "{T}s", "1-1", "f", "v"),
                     ("XADD", "{T}s", "2-1", "f", "w"), ("XLEN", "{T}s"),
                     ("XRANGE", "{T}s", "-", "+"),
                     ("XREVRANGE", "{T}s", "+", "-", "COUNT", "1")],
            "xread": [("XADD", "{T}a", "1-1", "f", "v"),
                      ("XADD", "{T}b", "1-2", "g", "w"),
                      ("XREAD", "COUNT", "5", "STREAMS", "{T}a", "{T}b",
                       "0", "0")],
            "xgroup": [("XADD", "{T}s", "1-1", "f", "v"),
                       ("XGROUP", "CREATE", "{T}s", "g", "0"),
                       ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1",
                        "STREAMS", "{T}s", ">"),
                       ("XPENDING", "{T}s", "g"),
                       ("XAUTOCLAIM", "{T}s", "g", "c2", "0", "0-0"),
                       ("XCLAIM", "{T}s", "g", "c3", "0", "1-1", "JUSTID"),
                       ("XACK", "{T}s", "g", "1-1"),
                       ("XINFO", "GROUPS", "{T}s"),
                       ("XGROUP", "CREATECONSUMER", "{T}s", "g", "c9"),
                       ("XGROUP", "DELCONSUMER", "{T}s", "g", "c9"),
                       ("XDEL", "{T}s", "1-1"), ("XTRIM", "{T}s", "MAXLEN", "0"),
                       ("XSETID", "{T}s", "5-5"),
                       ("XGROUP", "DESTROY", "{T}s", "g")],
            "lmpop": [("RPUSH", "{T}l", "a", "b", "c"),
                      ("LMPOP", "2", "{T}x", "{T}l", "LEFT", "COUNT", "2"),
                      ("LPOS", "{T}l", "c"),
                      ("LMOVE", "{T}l", "{T}m", "LEFT", "RIGHT"),
                      ("RPOPLPUSH", "{T}m", "{T}l")],
            "zmpop": [("ZADD", "{T}z", "1", "a", "2", "b"),
                      ("ZADD", "{T}y", "3", "b", "4", "c"),
                      ("ZINTERCARD", "2", "{T}z", "{T}y"),
                      ("ZRANGESTORE", "{T}d", "{T}z", "0", "-1"),
                      ("ZUNIONSTORE", "{T}u", "2", "{T}z", "{T}y"),
                      ("ZUNION", "2", "{T}z", "{T}y", "WITHSCORES"),
                      ("ZDIFF", "2", "{T}z", "{T}y"),
                      ("ZMPOP", "1", "{T}z", "MIN")],
            "sets": [("SADD", "{T}a", "x", "y", "z"), ("SADD", "{T}b", "y"),
                     ("SINTERCARD", "2", "{T}a", "{T}b"),
                     ("SMISMEMBER", "{T}a", "x", "q"),
                     ("SINTERSTORE", "{T}c", "{T}a", "{T}b"),
                     ("SDIFF", "{T}a", "{T}b"),
                     ("SMOVE", "{T}a", "{T}b", "x"), ("SMEMBERS", "{T}c")],
            "expire": [("SET", "{T}k", "v"),
                       ("EXPIREAT", "{T}k", "4102444800"),
                       ("EXPIRETIME", "{T}k"), ("PEXPIRETIME", "{T}k"),
                       ("GETEX", "{T}k", "PERSIST"), ("TTL", "{T}k"),
                       ("GETDEL", "{T}k"), ("EXISTS", "{T}k")],
            "strings": [("SET", "{T}a", "ohmytext"),
                        ("SET", "{T}b", "mynewtext"),
                        ("LCS", "{T}a", "{T}b"),
                        ("COPY", "{T}a", "{T}c"), ("GET", "{T}c"),
                        ("RENAME", "{T}c", "{T}d"),
                        ("MSETNX", "{T}e", "1", "{T}f", "2"),
                        ("OBJECT", "ENCODING", "{T}a"),
                        ("SETRANGE", "{T}g", "0", "\x0f"),
                        ("BITFIELD_RO", "{T}g", "GET", "u4", "0"),
                        ("BITOP", "OR", "{T}h", "{T}a", "{T}b")],
            "sort": [("RPUSH", "{T}l", "3", "1", "2"),
                     ("SORT_RO", "{T}l"),
                     ("SORT", "{T}l", "DESC", "STORE", "{T}d"),
                     ("LRANGE", "{T}d", "0", "-1")],
            "geo": [("GEOADD", "{T}g", "13.361389", "38.115556", "Palermo",
                     "15.087269", "37.502669", "Catania"),
                    ("GEOSEARCH", "{T}g", "FROMLONLAT", "15", "37",
                     "BYRADIUS", "200", "km", "ASC"),
                    ("GEOSEARCHSTORE", "{T}d", "{T}g", "FROMLONLAT", "15",
                     "37", "BYRADIUS", "200", "km"),
                    ("GEORADIUS", "{T}g", "15", "37", "200", "km", "STORE",
                     "{T}e"),
                    ("ZCARD", "{T}e")],
            "hash": [("HSET", "{T}h", "f", "v"),
                     ("HRANDFIELD", "{T}h", "1"),
                     ("HRANDFIELD", "{T}h", "-2", "WITHVALUES")],
            "hll": [("PFADD", "{T}a", "x", "y"), ("PFADD", "{T}b", "z"),
                    ("PFCOUNT", "{T}a", "{T}b"),
                    ("PFMERGE", "{T}c", "{T}a", "{T}b"), ("PFCOUNT", "{T}c")],
            "eval": [("EVAL", "return {KEYS[1], KEYS[2], ARGV[1]}", "2",
                      "{T}a", "{T}b", "x"),
                     ("EVAL", "return redis.call('set', KEYS[1], 'v')", "1",
                      "{T}a"),
                     ("EVAL_RO", "return redis.call('get', KEYS[1])", "1",
                      "{T}a")],
        }
        count = landed = 0
        for i, (name, cmds) in enumerate(sorted(cases.items())):
            server = "s0" if i % 2 == 0 else "s1"
            tag = self.tag(server, i)
            other = self.backend("s1" if server == "s0" else "s0")
            with self.subTest(case=name, server=server):
                try:
                    for cmd in cmds:
                        args = [a.replace("{T}", tag) for a in cmd]
                        got = raw(self.port, *args)
                        want = raw(self.direct.port, *args)
                        if args[0] in UNORDERED:
                            got, want = sorted(parse(got)), sorted(parse(want))
                        self.assertEqual(got, want, args)
                        count += 1
                    owner_keys = set(self.backend(server).keys("*"))
                    self.assertEqual(owner_keys,
                                     set(self.direct.client().keys("*")))
                    landed += len(owner_keys) > 0
                    self.assertEqual(other.keys("*"), [])
                finally:
                    self.direct.client().flushall()
                    self.backend(server).flushall()
        self.assertGreaterEqual(count, 70)
        self.assertGreaterEqual(landed, len(cases) - 1)

    def test_xread_with_and_without_block_served(self):
        tag = self.tag("s0")
        self.c.xadd(f"{tag}s", {"f": "v"}, id="1-1")
        self.assertEqual(len(self.c.xread({f"{tag}s": "0"}, count=1)), 1)
        self.assertFalse(self.c.xread({f"{tag}s": "$"}, block=10))
        self.assertIsNone(self.c.blpop([f"{tag}l"], timeout=0.1))

    def test_keyless_and_memory_usage(self):
        """TIME, LASTSAVE and the containers' HELP go to the first server,
        ROLE is answered, MEMORY USAGE is routed by its key."""
        t = self.c.time()
        self.assertLess(abs(t[0] - time.time()), 60)
        self.assertEqual(raw(self.port, "LASTSAVE"),
                         raw(self.servers[0].port, "LASTSAVE"))
        self.assertEqual(raw(self.port, "OBJECT", "HELP"),
                         raw(self.direct.port, "OBJECT", "HELP"))
        self.assertEqual(raw(self.port, "ROLE"),
                         b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
        for s in ("s0", "s1"):
            key = f"{self.tag(s)}mem"
            self.c.set(key, "x" * 100)
            self.assertEqual(raw(self.port, "MEMORY", "USAGE", key),
                             raw(self.servers[int(s[1:])].port, "MEMORY",
                                 "USAGE", key))
            self.assertEqual(self.backend(s).get(key), b"x" * 100)
        self.assertTrue(raw(self.port, "MEMORY", "STATS")
                        .startswith(b"-ERR command 'memory|stats' is not "
                                    b"supported"))

    # ---- cross-server ------------------------------------------------------------

    def test_cross_server_refused_nothing_applied(self):
        a, b = self.tag("s0"), self.tag("s1")
        self.c.set(f"{a}k", "1")
        self.c.set(f"{b}k", "2")
        self.c.sadd(f"{a}s", "m")
        self.c.rpush(f"{a}l", "x")
        self.c.pfadd(f"{a}h", "x")
        self.c.xadd(f"{a}x", {"f": "v"}, id="1-1")
        self.c.xadd(f"{b}x", {"f": "v"}, id="1-1")
        before = [sorted(self.backend(s).keys("*")) for s in ("s0", "s1")]
        refused = [
            ("RENAME", f"{a}k", f"{b}n"),
            ("SMOVE", f"{a}s", f"{b}s", "m"),
            ("LMOVE", f"{a}l", f"{b}l", "LEFT", "LEFT"),
            ("RPOPLPUSH", f"{a}l", f"{b}l"),
            ("MSETNX", f"{a}m", "1", f"{b}m", "2"),
            ("SINTERSTORE", f"{a}d", f"{a}s", f"{b}s"),
            ("SUNIONSTORE", f"{b}d", f"{a}s"),
            ("ZUNIONSTORE", f"{a}z", "2", f"{a}s", f"{b}s"),
            ("PFMERGE", f"{a}h2", f"{b}h"),
            ("COPY", f"{a}k", f"{b}c"),
            ("EVAL", "return redis.call('set', KEYS[2], 'x')", "2",
             f"{a}k", f"{b}e"),
            ("FCALL", "nosuch", "2", f"{a}k", f"{b}k"),
            ("XREAD", "STREAMS", f"{a}x", f"{b}x", "0", "0"),
            ("GEORADIUS", f"{a}g", "0", "0", "1", "km", "STORE", f"{b}g"),
            ("SORT", f"{a}l", "STORE", f"{b}sorted"),
            ("LMPOP", "2", f"{a}l", f"{b}l", "LEFT"),
            ("SINTERCARD", "2", f"{a}s", f"{b}s"),
            ("BLPOP", f"{a}l", f"{b}l", "1"),
            ("BLMOVE", f"{a}l", f"{b}l", "LEFT", "LEFT", "0"),
            ("BZPOPMIN", f"{a}z", f"{b}z", "0"),
            ("XREAD", "BLOCK", "0", "STREAMS", f"{a}x", f"{b}x", "$", "$"),
        ]
        stats0 = sptest.read_stats(self.proxy.stats_port)
        for cmd in refused:
            self.assertEqual(raw(self.port, *cmd),
                             b"-CROSSSERVER Keys in request don't hash to the "
                             b"same server\r\n", cmd)
        after = [sorted(self.backend(s).keys("*")) for s in ("s0", "s1")]
        self.assertEqual(before, after)
        self.assertEqual(self.backend("s0").get(f"{a}k"), b"1")
        self.assertEqual(self.backend("s0").lrange(f"{a}l", 0, -1), [b"x"])
        self.assertEqual(self.backend("s0").smembers(f"{a}s"), {b"m"})
        stats1 = sptest.read_stats(self.proxy.stats_port)
        self.assertEqual(stats1["refused_crossserver"]
                         - stats0["refused_crossserver"], len(refused))
        # the same commands under one tag are served
        self.assertTrue(self.c.rename(f"{a}k", f"{a}n"))
        self.assertEqual(self.backend("s0").get(f"{a}n"), b"1")

    def test_random_distribution_never_cross_server(self):
        port = sptest.free_port()
        self.harness.start_shardproxy(sptest.pool_yaml(
            "rnd", port, [(r.port, 1, f"s{i}") for i, r in
                          enumerate(self.servers)], redis="true",
            distribution="random"))
        keys = [f"k{i}" for i in range(20)]
        for _ in range(20):
            self.assertEqual(raw(port, "SUNIONSTORE", *keys), b":0\r\n")

    # ---- scripts and functions ----------------------------------------------------

    def test_register_script_and_lock(self):
        """redis-py's Script (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA) and
        Lock, across both servers."""
        incr = self.c.register_script(
            "return redis.call('incrby', KEYS[1], ARGV[1])")
        for s in ("s0", "s1"):
            key = f"{self.tag(s)}n"
            self.assertEqual(incr(keys=[key], args=[5]), 5)
            self.assertEqual(incr(keys=[key], args=[2]), 7)
            self.assertEqual(self.backend(s).get(key), b"7")
        # SCRIPT LOAD went to every server
        for s in ("s0", "s1"):
            self.assertEqual(self.backend(s).script_exists(incr.sha), [True])
        # NOSCRIPT reaches the client unchanged
        self.assertEqual(raw(self.port, "EVALSHA", "0" * 40, "0"),
                         raw(self.direct.port, "EVALSHA", "0" * 40, "0"))
        self.assertTrue(raw(self.port, "EVALSHA", "0" * 40, "0")
                        .startswith(b"-NOSCRIPT"))
        for s in ("s0", "s1"):
            name = f"{self.tag(s, 1)}lock"
            lock = self.c.lock(name, timeout=10)
            self.assertTrue(lock.acquire(blocking=False))
            self.assertEqual(self.backend(s).get(name), lock.local.token)
            self.assertFalse(self.c.lock(name, timeout=10)
                             .acquire(blocking=False))
            self.assertTrue(lock.extend(5))
            lock.release()
            self.assertIsNone(self.backend(s).get(name))

    def test_script_load_exists_flush_every_server(self):
        sha = self.c.script_load("return 42")
        self.assertEqual(sha, self.direct.client().script_load("return 42"))
        for s in ("s0", "s1"):
            self.assertEqual(self.backend(s).script_exists(sha), [True])
        # loaded on one server only: not there for the pool
        only = self.backend("s1").script_load("return 43")
        self.assertEqual(self.c.script_exists(sha, only, "0" * 40),
                         [True, False, False])
        # a script error: the first server's error, as redis-server's
        err = raw(self.port, "SCRIPT", "LOAD", "return +")
        self.assertEqual(err, raw(self.direct.port, "SCRIPT", "LOAD",
                                  "return +"))
        self.assertTrue(err.startswith(b"-ERR"), err)
        self.assertTrue(self.c.script_flush())
        for s in ("s0", "s1"):
            self.assertEqual(self.backend(s).script_exists(sha, only),
                             [False, False])
        # EVALSHA of a loaded script runs wherever its key goes
        sha = self.c.script_load("return redis.call('set', KEYS[1], 'y')")
        for s in ("s0", "s1"):
            self.assertEqual(self.c.evalsha(sha, 1, f"{self.tag(s)}e"), b"OK")
            self.assertEqual(self.backend(s).get(f"{self.tag(s)}e"), b"y")
        # no keys: the first server
        self.assertEqual(self.c.eval("return redis.call('set', 'nokey', 1)",
                                     0), b"OK")
        self.assertEqual(self.backend("s0").get("nokey"), b"1")

    def test_functions_every_server(self):
        lib = ("#!lua name=mylib\n"
               "redis.register_function('myget', function(keys, args) "
               "return redis.call('get', keys[1]) end)\n"
               "redis.register_function{function_name='myro', callback="
               "function(keys, args) return #keys end, flags={'no-writes'}}\n")
        self.assertEqual(self.c.function_load(lib), b"mylib")
        for s in ("s0", "s1"):
            libs = self.backend(s).function_list()
            self.assertEqual([l[1] for l in libs], [b"mylib"])
        # loading it again: the servers' error
        err = raw(self.port, "FUNCTION", "LOAD", lib)
        self.assertTrue(err.startswith(b"-ERR Library 'mylib' already exists"),
                        err)
        for s in ("s0", "s1"):
            key = f"{self.tag(s)}f"
            self.backend(s).set(key, s)
            self.assertEqual(self.c.fcall("myget", 1, key), s.encode())
            self.assertEqual(self.c.fcall_ro("myro", 1, key), 1)
        self.assertEqual(raw(self.port, "FCALL", "myget", "2",
                             f"{self.tag('s0')}f", f"{self.tag('s1')}f"),
                         b"-CROSSSERVER Keys in request don't hash to the "
                         b"same server\r\n")
        # LIST, DUMP, STATS: the first server's
        self.assertEqual(raw(self.port, "FUNCTION", "LIST"),
                         raw(self.servers[0].port, "FUNCTION", "LIST"))
        dump = self.c.function_dump()
        self.assertTrue(self.c.function_delete("mylib"))
        for s in ("s0", "s1"):
            self.assertEqual(self.backend(s).function_list(), [])
        self.assertTrue(self.c.function_restore(dump))
        for s in ("s0", "s1"):
            self.assertEqual(len(self.backend(s).function_list()), 1)
        self.assertTrue(self.c.function_flush())
        for s in ("s0", "s1"):
            self.assertEqual(self.backend(s).function_list(), [])

    # ---- COMMAND ---------------------------------------------------------------------

    # (redis-py 4 parses every reply to a COMMAND ... as COMMAND's own: raw)
    def names(self, port, *args):
        return sorted(n.decode() for n in parse(raw(port, "COMMAND", *args)))

    def listed(self):
        return self.names(self.port, "LIST")

    def test_command_info_as_redis(self):
        listed = self.listed()
        top = [n for n in listed if "|" not in n]
        direct_all = self.names(self.direct.port, "LIST")
        self.assertLess(len(top), 240)
        self.assertGreater(len(top), 180)
        self.assertTrue(set(listed) <= set(direct_all) | REDIS_72)
        for refused in ("wait", "move", "psync", "config",
                        "script|kill", "monitor"):
            self.assertNotIn(refused, listed)
        count = raw(self.port, "COMMAND", "COUNT")
        self.assertEqual(count, b":%d\r\n" % len(top))
        # every command with no subcommands: byte for byte
        containers = {n.split("|")[0] for n in listed if "|" in n}
        same = 0
        for name in top:
            if name in containers:
                continue
            with self.subTest(command=name):
                self.assertEqual(raw(self.port, "COMMAND", "INFO", name),
                                 raw(self.direct.port, "COMMAND", "INFO",
                                     name))
                self.assertEqual(raw(self.port, "COMMAND", "DOCS", name),
                                 raw(self.direct.port, "COMMAND", "DOCS",
                                     name))
                same += 1
        self.assertGreater(same, 170)
        # subcommands, and containers served whole (their subcommands
        # in another order than the server's hash order)
        for name in ("object|encoding", "xinfo|stream", "script|load",
                     "client|setname", "command|getkeys"):
            self.assertEqual(raw(self.port, "COMMAND", "INFO", name),
                             raw(self.direct.port, "COMMAND", "INFO", name))
        c = redis.Redis(port=self.port)
        for name in ("object", "xinfo", "xgroup"):
            mine = parse(raw(self.port, "COMMAND", "INFO", name))
            theirs = parse(raw(self.direct.port, "COMMAND", "INFO", name))
            mine[0][9] = sorted(mine[0][9])
            theirs[0][9] = sorted(theirs[0][9])
            self.assertEqual(mine, theirs)
            self.assertGreater(len(mine[0][9]), 3)
        # refused and unknown: nil, as redis-server's for no such command
        self.assertEqual(raw(self.port, "COMMAND", "INFO", "wait", "get"),
                         raw(self.direct.port, "COMMAND", "INFO", "nosuch",
                             "get"))
        self.assertEqual(raw(self.port, "COMMAND", "DOCS", "nosuch"), b"*0\r\n")
        # COMMAND: every served command's entry
        everything = parse(raw(self.port, "COMMAND"))
        self.assertEqual(len(everything), len(top))
        self.assertEqual(sorted(e[0].decode() for e in everything), top)
        self.assertEqual(len(c.command()), len(top))    # redis-py's parse
        for pattern in ("xinfo*", "Z?NION*", "[a-c]*", "*|*"):
            self.assertEqual(
                [n for n in self.names(self.port, "LIST", "FILTERBY",
                                       "PATTERN", pattern)
                 if n not in REDIS_72],
                [n for n in self.names(self.direct.port, "LIST", "FILTERBY",
                                       "PATTERN", pattern) if n in listed])
        self.assertEqual(
            self.names(self.port, "LIST", "FILTERBY", "ACLCAT", "hyperloglog"),
            [n for n in self.names(self.direct.port, "LIST", "FILTERBY",
                                   "ACLCAT", "hyperloglog")
             if n not in ("pfdebug", "pfselftest")])

    def test_command_getkeys_as_redis(self):
        cases = [
            ("GET", "k"), ("MSET", "a", "1", "b", "2"), ("SDIFF", "a", "b"),
            ("EVAL", "return 1", "2", "a", "b", "c"), ("EVAL", "x", "0"),
            ("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"),
            ("ZUNIONSTORE", "d", "5", "a"),
            ("XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"),
            ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", ">"),
            ("GEORADIUS", "k", "0", "0", "1", "km", "STORE", "d"),
            ("SORT", "k", "BY", "w*", "LIMIT", "0", "1", "STORE", "d"),
            ("SORT", "k", "STORE", "a", "STORE", "b"),
            ("LMPOP", "2", "a", "b", "LEFT"), ("SINTERCARD", "1", "a"),
            ("OBJECT", "ENCODING", "k"), ("XINFO", "STREAM", "s"),
            ("MIGRATE", "h", "1", "k", "0", "1"), ("PING",), ("NOSUCH", "x"),
            ("GET",), ("BITOP", "AND", "d", "a", "b"), ("SET", "k", "v"),
            ("FCALL", "f", "1", "k"), ("OBJECT", "NOSUCH", "k"),
            ("OBJECT|ENCODING", "k"), ("OBJECT",),
        ]
        for case in cases:
            with self.subTest(case=case):
                got = raw(self.port, "COMMAND", "GETKEYS", *case)
                want = raw(self.direct.port, "COMMAND", "GETKEYS", *case)
                if case[0] == "MIGRATE":        # refused by the proxy
                    self.assertEqual(got, b"-ERR Invalid command specified\r\n")
                else:
                    self.assertEqual(got, want)

    # ---- refusals are visible ---------------------------------------------------------

    def test_refusals_counted(self):
        stats0 = sptest.read_stats(self.proxy.stats_port)
        tags = (self.tag("s0"), self.tag("s1"))
        sent = [("NOSUCHCMD", "x"), ("OBJECT", "NOSUCH", "k"), ("WAIT", "0",
                "0"), ("WAIT", "0", "0"), ("MOVE", "k", "1"), ("SWAPDB", "0", "1"),
                ("MONITOR",), ("SDIFF", f"{tags[0]}a", f"{tags[1]}b"),
                ("CONFIG", "GET", "x")]
        replies = [raw(self.port, *cmd) for cmd in sent]
        self.assertEqual(replies[0], b"-ERR unknown command 'nosuchcmd'\r\n")
        self.assertEqual(replies[1], b"-ERR unknown subcommand 'NOSUCH'. Try "
                                     b"OBJECT HELP.\r\n")
        self.assertTrue(replies[2].startswith(b"-ERR command 'wait' is not "
                                              b"supported by the proxy"))
        self.assertTrue(replies[7].startswith(b"-CROSSSERVER"))
        stats = sptest.read_stats(self.proxy.stats_port)
        self.assertEqual(stats["refused_unknown"] - stats0["refused_unknown"], 2)
        self.assertEqual(stats["refused_unsupported"]
                         - stats0["refused_unsupported"], 6)
        self.assertEqual(stats["refused_crossserver"]
                         - stats0["refused_crossserver"], 1)

        def by_command(s):
            return {e["command"]: e["count"] for e in s["refused_commands"]}
        before, after = by_command(stats0), by_command(stats)
        for name, n in (("wait", 2), ("move", 1), ("swapdb", 1),
                        ("monitor", 1), ("sdiff", 1), ("config|get", 1)):
            self.assertEqual(after.get(name, 0) - before.get(name, 0), n, name)
        # a nutcracker reader: every object-valued top-level field is a pool
        pools = [k for k, v in stats.items() if isinstance(v, dict)]
        self.assertEqual(pools, ["alpha"])
        self.assertEqual(sorted(k for k, v in stats["alpha"].items()
                                if isinstance(v, dict)), ["s0", "s1"])
        # Prometheus
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}"
                                    "/metrics", timeout=10) as r:
            body = r.read().decode()
        lines = dict(line.rsplit(" ", 1) for line in body.splitlines()
                     if line.startswith("shardproxy_refused"))
        self.assertGreaterEqual(
            float(lines['shardproxy_refused_command_total{command="wait"}']),
            2)
        self.assertGreaterEqual(
            float(lines['shardproxy_refused_total{reason="crossserver"}']), 1)
        self.assertGreaterEqual(
            float(lines['shardproxy_refused_total{reason="unknown"}']), 2)


if __name__ == "__main__":
    sptest.main()
