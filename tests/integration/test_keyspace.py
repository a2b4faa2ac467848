"""Keyspace-wide commands through the proxy (issue 14), against 3 real
redis-servers and 2 workers: SCAN walks the servers one after another
(every key of 10,000 returned, with MATCH, COUNT and TYPE), KEYS
concatenates every server's, RANDOMKEY draws from a server that has keys,
DBSIZE is the sum, INFO's Keyspace is summed, FLUSHDB reaches every
server."""

import socket
import unittest

import redis

import sptest

resp = sptest.resp

NSERVERS = 3
NKEYS = 10000


class KeyspaceTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.backends = [h.start_redis() for _ in range(NSERVERS)]
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 2\n"
            + sptest.pool_yaml("alpha", cls.port,
                               [(r.port, 1, f"s{i}")
                                for i, r in enumerate(cls.backends)],
                               redis="true"))

    def setUp(self):
        super().setUp()
        for r in self.backends:
            r.client().flushall()
        self.c = redis.Redis(port=self.port)
        self.addCleanup(self.c.close)

    def fill(self):
        """NKEYS strings k:<i> and 100 hashes h:<i>, through the proxy."""
        pipe = self.c.pipeline(transaction=False)
        for i in range(NKEYS):
            pipe.set(f"k:{i}", i)
        for i in range(100):
            pipe.hset(f"h:{i}", "f", i)
        pipe.execute()
        counts = [r.client().dbsize() for r in self.backends]
        self.assertEqual(sum(counts), NKEYS + 100)
        self.assertTrue(all(n > NKEYS // 10 for n in counts), counts)
        return {f"k:{i}".encode() for i in range(NKEYS)}, \
            {f"h:{i}".encode() for i in range(100)}

    def scan_all(self, **kw):
        """A whole SCAN walk: the keys in order of arrival, and the cursors."""
        keys, cursors, cursor = [], [], 0
        for _ in range(100000):                 # bounded: ends far sooner
            cursor, page = self.c.scan(cursor, **kw)
            keys += page
            cursors.append(cursor)
            if cursor == 0:
                return keys, cursors
        self.fail("SCAN did not end")

    def test_scan_returns_every_key(self):
        strings, hashes = self.fill()
        everything = strings | hashes
        for count in (None, 10, 1000):
            kw = {} if count is None else {"count": count}
            keys, cursors = self.scan_all(**kw)
            self.assertEqual(set(keys), everything, count)
            # Redis may repeat a key, never invent one: at most a few
            self.assertLess(len(keys), len(everything) * 1.05)
            # each cursor names a server: index = cursor mod 3, and the walk
            # goes through the servers in order
            servers = [c % NSERVERS for c in cursors[:-1]]
            self.assertEqual(servers, sorted(servers))
        keys, _ = self.scan_all(match="k:99*", count=500)
        self.assertEqual(set(keys), {k for k in strings
                                     if k.startswith(b"k:99")})
        keys, _ = self.scan_all(_type="hash", count=1000)
        self.assertEqual(set(keys), hashes)

    def test_scan_cursor_errors_and_an_empty_pool(self):
        self.assertEqual(self.scan_all(), ([], [1, 2, 0]))
        with self.assertRaisesRegex(redis.ResponseError, "invalid cursor"):
            self.c.execute_command("SCAN", "abc")
        with self.assertRaisesRegex(redis.ResponseError, "invalid cursor"):
            self.c.execute_command("SCAN", "-1")
        with self.assertRaisesRegex(redis.ResponseError, "syntax error"):
            self.c.execute_command("SCAN", "0", "NOSUCH")

    def test_keys_dbsize_and_info_keyspace(self):
        strings, hashes = self.fill()
        got = self.c.keys("*")
        self.assertEqual(len(got), NKEYS + 100)             # no duplicates
        self.assertEqual(set(got), strings | hashes)
        self.assertEqual(set(self.c.keys("h:*")), hashes)
        self.assertEqual(self.c.keys("nosuch*"), [])
        self.assertEqual(self.c.dbsize(), NKEYS + 100)
        self.assertEqual(self.c.dbsize(),
                         sum(r.client().dbsize() for r in self.backends))
        self.assertEqual(self.c.info("keyspace")["db0"]["keys"], NKEYS + 100)
        # RESP3: the same arrays
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(resp("HELLO", "3") + resp("KEYS", "h:1?")
                      + resp("PING"))
            data, _ = sptest.read_until(s, lambda d: d.endswith(b"+PONG\r\n"))
            self.assertIn(b"*10\r\n", data)

    def test_randomkey(self):
        self.assertIsNone(self.c.randomkey())
        self.c.set("only", "1")
        # whichever server is drawn, the one key is found
        self.assertEqual({self.c.randomkey() for _ in range(30)}, {b"only"})
        self.c.delete("only")
        strings, hashes = self.fill()
        drawn = {self.c.randomkey() for _ in range(60)}
        self.assertLessEqual(drawn, strings | hashes)
        self.assertGreater(len(drawn), 10)
        # keys of more than one server come back
        owners = self.harness.locate(self.proxy, "alpha",
                                     [k.decode() for k in drawn])
        self.assertGreater(len(set(owners.values())), 1)

    def test_flushdb_reaches_every_server(self):
        self.fill()
        self.assertTrue(self.c.flushdb())
        self.assertEqual([r.client().dbsize() for r in self.backends],
                         [0] * NSERVERS)
        self.assertEqual(self.c.dbsize(), 0)


if __name__ == "__main__":
    unittest.main()
