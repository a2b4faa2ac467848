"""The Memcached data path against real memcached servers, with
python3-pymemcache, raw sockets and libmemcached's memccapable: every command
nutcracker proxies (and gat, meta commands), noreply, cas conflicts,
multi-get of 1000 keys equal to the same gets done directly, 1 MB values in
512-byte buffers, a request fed one byte at a time, errors that keep the
connection open, and a backend killed and restarted.

Run: /usr/bin/python3 tests/integration/test_memcache_proxy.py
"""

import os
import re
import shutil
import socket
import subprocess

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheServerError

import sptest


pool_yaml = sptest.pool_yaml


def exchange(port, payload, until, timeout=5.0, chunk=None):
    """Send payload, read until `until` (bytes) ends the data or the peer
    closes; returns (data, closed)."""
    return sptest.exchange(port, payload, lambda data: data.endswith(until),
                           timeout, chunk)


class MemcacheProxyTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.backends = [h.start_memcached() for _ in range(3)]
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(pool_yaml(
            "mc", cls.port, [b.port for b in cls.backends], hash="md5",
            distribution="ketama", timeout=1000))

    def client(self, port=None):
        c = Client(("127.0.0.1", port or self.port), timeout=10,
                   connect_timeout=5)
        self.addCleanup(c.close)
        return c

    def direct(self, backend):
        return self.client(backend.port)

    def test_storage_commands(self):
        c = self.client()
        self.assertTrue(c.set("s1", b"v", noreply=False))
        self.assertEqual(c.get("s1"), b"v")
        self.assertFalse(c.add("s1", b"x", noreply=False))
        self.assertTrue(c.add("s2", b"x", noreply=False))
        self.assertTrue(c.replace("s2", b"y", noreply=False))
        self.assertFalse(c.replace("s-none", b"y", noreply=False))
        self.assertTrue(c.append("s2", b"z", noreply=False))
        self.assertTrue(c.prepend("s2", b"a", noreply=False))
        self.assertEqual(c.get("s2"), b"ayz")
        self.assertTrue(c.delete("s2", noreply=False))
        self.assertFalse(c.delete("s2", noreply=False))
        self.assertIsNone(c.get("s2"))
        self.assertTrue(c.set("n", b"10", noreply=False))
        self.assertEqual(c.incr("n", 5), 15)
        self.assertEqual(c.decr("n", 3), 12)
        self.assertIsNone(c.incr("n-none", 1))
        self.assertTrue(c.touch("n", 100, noreply=False))

    def test_cas_conflict(self):
        c = self.client()
        c.set("cas1", b"v1", noreply=False)
        value, token = c.gets("cas1")
        self.assertEqual(value, b"v1")
        self.assertTrue(c.cas("cas1", b"v2", token, noreply=False))
        self.assertFalse(c.cas("cas1", b"v3", token, noreply=False))   # EXISTS
        self.assertEqual(c.get("cas1"), b"v2")

    def test_noreply_sends_nothing(self):
        data, closed = exchange(self.port, b"set nr 0 0 1 noreply\r\nx\r\n"
                                b"delete nr-none noreply\r\nincr nr-none 1 noreply\r\n"
                                b"get nr\r\n", b"END\r\n")
        self.assertEqual(data, b"VALUE nr 0 1\r\nx\r\nEND\r\n")
        self.assertFalse(closed)

    def test_errors_keep_the_connection(self):
        data, closed = exchange(self.port, b"bogus 1 2\r\nincr e1 x\r\n"
                                b"set e1 0 0 1\r\nz\r\nget e1\r\n", b"END\r\n")
        self.assertEqual(data, b"ERROR\r\n"
                               b"CLIENT_ERROR invalid numeric delta argument\r\n"
                               b"STORED\r\nVALUE e1 0 1\r\nz\r\nEND\r\n")
        self.assertFalse(closed)
        data, _ = exchange(self.port, b"get " + b"k" * 251 + b"\r\nget e1\r\n",
                           b"END\r\n")
        self.assertTrue(data.startswith(b"CLIENT_ERROR "), data)
        self.assertTrue(data.endswith(b"VALUE e1 0 1\r\nz\r\nEND\r\n"), data)

    def test_multiget_1000_keys_equal_direct(self):
        c = self.client()
        keys = [f"mg:{i}" for i in range(1000)]
        c.set_many({k: k.encode() for k in keys[::2]}, noreply=False)
        got = c.get_many(keys)
        self.assertEqual(got, {k: k.encode() for k in keys[::2]})
        # the same gets directly on the backends give the same union
        direct = {}
        for b in self.backends:
            part = self.direct(b).get_many(keys)
            self.assertGreater(len(part), 50)          # keys really spread
            direct.update(part)
        self.assertEqual(direct, got)
        # and the items come back in the order of the keys asked
        data, _ = exchange(self.port, b"get " + b" ".join(
            k.encode() for k in reversed(keys[:40])) + b"\r\n", b"END\r\n")
        order = re.findall(rb"VALUE (\S+) ", data)
        self.assertEqual(order, [k.encode() for k in reversed(keys[:40:2])])

    def test_multiget_keys_across_reads_and_clients(self):
        # the keys of a get that starts and ends in one read are recorded in
        # the worker's array (up to 128), one that does not keep 4 and is
        # parsed again: a get cut between reads while another client's get
        # goes through the same worker, gets of 10, 128 and 129 keys with
        # misses and a repeated key, each the same as memcached's own answer
        port = sptest.free_port()
        self.harness.start_shardproxy("global:\n  worker_processes: 1\n" + pool_yaml(
            "mc1", port, [b.port for b in self.backends], hash="md5",
            distribution="ketama", timeout=1000))
        c = self.client()
        keys = [f"ac:{i}".encode() for i in range(129)]
        c.set_many({k.decode(): k for k in keys[::3]}, noreply=False)

        def expect(ks):
            return b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(k), k)
                            for k in ks if keys.index(k) % 3 == 0) + b"END\r\n"

        for n in (10, 128, 129):
            ks = keys[:n] + [keys[0]]
            data, _ = exchange(port, b"get " + b" ".join(ks) + b"\r\n", b"END\r\n")
            self.assertEqual(data, expect(ks), n)
        a = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(a.close)
        line = b"get " + b" ".join(keys[:10]) + b"\r\n"
        # the cut sent with a whole get: its answer says the proxy read both
        # (one segment, one read)
        a.sendall(b"get " + keys[0] + b"\r\n" + line[:37])   # cut in the 5th key
        first, _ = sptest.read_until(a, lambda d: d.endswith(b"END\r\n"))
        self.assertEqual(first, expect(keys[:1]))
        data, _ = exchange(port, b"get " + b" ".join(keys[20:30]) + b"\r\n",
                           b"END\r\n")
        self.assertEqual(data, expect(keys[20:30]))
        a.sendall(line[37:])
        got, _ = sptest.read_until(a, lambda d: d.endswith(b"END\r\n"))
        self.assertEqual(got, expect(keys[:10]))

    def test_gat_and_meta(self):
        c = self.client()
        c.set("g1", b"v", noreply=False)
        data, _ = exchange(self.port, b"gat 100 g1 g-none\r\n", b"END\r\n")
        self.assertEqual(data, b"VALUE g1 0 1\r\nv\r\nEND\r\n")
        data, _ = exchange(self.port, b"ms m1 2\r\nhi\r\nmg m1 v\r\n"
                           b"mg m-none v q\r\nmg m1 v q\r\nmn\r\n", b"MN\r\n")
        self.assertEqual(data, b"HD\r\nVA 2\r\nhi\r\nVA 2\r\nhi\r\nMN\r\n")
        data, _ = exchange(self.port, b"md m1\r\nmg m1 v\r\n", b"EN\r\n")
        self.assertEqual(data, b"HD\r\nEN\r\n")

    def test_unskippable_storage_line_closes(self):
        # its data block has no readable length: it cannot be skipped safely
        data, closed = exchange(self.port, b"set k\r\nget k\r\n", b"<never>",
                                timeout=3)
        self.assertEqual(data, b"ERROR\r\n")
        self.assertTrue(closed)

    def test_request_one_byte_at_a_time(self):
        payload = (b"set bb 0 0 300\r\n" + b"y" * 300 + b"\r\n"
                   b"get bb bb-none\r\n")
        data, _ = exchange(self.port, payload, b"END\r\n", chunk=1, timeout=20)
        self.assertEqual(data, b"STORED\r\nVALUE bb 0 300\r\n" + b"y" * 300 +
                         b"\r\nEND\r\n")

    def test_quit_closes(self):
        data, closed = exchange(self.port, b"set q 0 0 1\r\n1\r\nquit\r\n"
                                b"get q\r\n", b"<never>", timeout=3)
        self.assertEqual(data, b"STORED\r\n")
        self.assertTrue(closed)

    def test_memccapable(self):
        exe = shutil.which("memccapable")
        self.assertIsNotNone(exe, "libmemcached-tools is required")
        # [FAIL] goes to stderr: merge the two so each line stays whole
        r = subprocess.run([exe, "-h", "127.0.0.1", "-p", str(self.port), "-a"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        results = dict(re.findall(r"^ascii (\w[\w ]*?)\s+\[(pass|FAIL)", r.stdout, re.M))
        # everything nutcracker 0.5 passes, and the commands no key routes
        # that nutcracker refuses: verbosity and stats (answered by the
        # proxy), flush_all (sent to every server)
        must_pass = ["version", "quit", "verbosity", "set", "set noreply",
                     "get", "gets", "mget", "flush", "flush noreply", "add",
                     "add noreply", "replace", "replace noreply", "cas",
                     "cas noreply", "delete", "delete noreply", "incr",
                     "incr noreply", "decr", "decr noreply", "append",
                     "append noreply", "prepend", "prepend noreply", "stat"]
        for name in must_pass:
            self.assertEqual(results.get(name), "pass", f"ascii {name}: {r.stdout}")
        self.assertEqual(sorted(results), sorted(must_pass), r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_stats(self):
        c = self.client()
        before = sptest.read_stats(self.proxy.stats_port)["mc"]
        for i in range(30):
            c.set(f"st{i}", b"v", noreply=False)
        after = sptest.read_stats(self.proxy.stats_port)["mc"]
        servers = [k for k, v in after.items() if isinstance(v, dict)]
        self.assertEqual(len(servers), 3)
        sent = sum(after[s]["requests"] - before[s]["requests"] for s in servers)
        got = sum(after[s]["responses"] - before[s]["responses"] for s in servers)
        self.assertEqual(sent, 30)
        self.assertEqual(got, 30)


class MemcacheIdleClientsTest(sptest.HarnessTestCase):
    """Idle memcached clients hold no buffer and no parser state, also when
    their last request was a noreply store (no reply is ever written); the
    one server connection may keep the buffer it reads into."""

    def test_idle_clients_after_gets_and_noreply_sets(self):
        h = self.harness
        backend = h.start_memcached()
        port = sptest.free_port()
        proxy = h.start_shardproxy("global:\n  worker_processes: 1\n"
                                   + h.worker_stats_yaml()
                                   + pool_yaml("mcidle", port, [backend.port]))
        wstats = proxy.worker_stats(0)
        n = 300
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.sendall(b"set mcidle:%d 0 0 1\r\nx\r\n" % i)
            self.assertEqual(s.recv(100), b"STORED\r\n")
            s.sendall(b"get mcidle:%d\r\n" % i)
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(100)
                self.assertTrue(chunk, "closed")
                data += chunk
            s.sendall(b"set mcidle:%d 0 0 1 noreply\r\ny\r\n" % i)

        def settled():
            st = sptest.read_stats(wstats)
            served = sum(v["requests"] for v in st["mcidle"].values()
                         if isinstance(v, dict))
            return (served >= 3 * n and st["buffers_in_use"] <= 1
                    and st["parsers_in_use"] == 0)
        sptest.poll_until(settled, "every request served, nothing held",
                          timeout=20)
        stats = sptest.read_stats(wstats)
        self.assertEqual(sum(v["requests"] for v in stats["mcidle"].values()
                             if isinstance(v, dict)), 3 * n)
        # none for the clients; the server connection may keep its own
        self.assertLessEqual(stats["buffers_in_use"], 1)
        self.assertEqual(stats["parsers_in_use"], 0)
        self.assertEqual(Client(("127.0.0.1", port)).get("mcidle:7"), b"y")


class MemcacheBigValueTest(sptest.HarnessTestCase):

    def test_1mb_values_with_small_buffers(self):
        h = self.harness
        backend = h.start_memcached(extra_args=["-I", "2m"])
        port = sptest.free_port()
        h.start_shardproxy(pool_yaml("big", port, [backend.port]),
                           extra_args=["-m", "512"])
        c = Client(("127.0.0.1", port), timeout=30)
        self.addCleanup(c.close)
        value = os.urandom(1024 * 1024)
        self.assertTrue(c.set("big", value, noreply=False))
        self.assertEqual(c.get("big"), value)
        # too large for the backend: its error, and the connection still works
        with self.assertRaises(MemcacheServerError):
            c.set("huge", os.urandom(3 * 1024 * 1024), noreply=False)
        self.assertEqual(c.get("big"), value)


class MemcacheFailingBackendTest(sptest.HarnessTestCase):

    def test_killed_backend_then_restarted(self):
        h = self.harness
        backend = h.start_memcached()
        port = sptest.free_port()
        h.start_shardproxy(pool_yaml("one", port, [backend.port], timeout=500))
        c = Client(("127.0.0.1", port), timeout=10)
        self.addCleanup(c.close)
        self.assertTrue(c.set("k", b"v", noreply=False))
        backend.proc.stop()
        with self.assertRaisesRegex(MemcacheServerError,
                                    "Connection (refused|reset by peer)"):
            c.get("k")
        h.start_memcached(port=backend.port)

        def works():
            try:
                return c.set("k", b"again", noreply=False)
            except MemcacheServerError:
                return False
        self.assertTrue(sptest.poll_until(works, "proxy reconnects", timeout=10))
        self.assertEqual(c.get("k"), b"again")


if __name__ == "__main__":
    sptest.main()
