"""Memcached input that memcached itself takes gets memcached's answer through
the proxy, and one client's odd input never costs another client anything
(issue #24, defects 3 and 5). Every expected reply below is what a real
memcached 1.6 sends for the same bytes; each case is also sent straight to a
backend and compared.

- A bare CR inside a token (an opaque, a key) comes back in memcached's reply
  ("mg zz O\\r1" -> "EN O\\r1"): the reply parser takes it as a token byte,
  so the server connection stays up, no failure is counted, no server is
  ejected and the other clients' gets are untouched.
- get/gets/gat of keys holding TAB or CR, or of a line with a NUL (the rest
  of the line is ignored), split per server by the same tokenizer the request
  parser uses, so the keys a set stored are the keys a get finds.
- "gat 10" with no key answers END, as memcached does.

Run: /usr/bin/python3 tests/integration/test_memcache_input.py
"""

import socket
import time

import sptest


def pool_yaml(port, servers, **keys):
    lines = ["global:", "  worker_processes: 1", "mc:",
             f"  listen: 127.0.0.1:{port}"]
    lines += [f"  {k}: {v}" for k, v in keys.items()]
    lines.append("  servers:")
    # named: ketama places by the name, not by the ports the test drew, so
    # which server holds a key is the same in every run
    lines += [f"   - 127.0.0.1:{p}:1 m{i}" for i, p in enumerate(servers)]
    return "\n".join(lines) + "\n"


class Conn:
    """A raw connection that reads whole replies by their known end."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def close(self):
        self.sock.close()

    def ask(self, payload, until):
        """Send payload; return everything up to and including the first
        `until` (the rest stays buffered). Fails on EOF or timeout."""
        self.sock.sendall(payload)
        deadline = time.monotonic() + self.timeout
        while until not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {until!r} after {payload[:60]!r}; "
                                     f"got {self.buf[:200]!r}")
            part = self.sock.recv(65536)
            if not part:
                raise AssertionError(f"closed after {payload[:60]!r}; "
                                     f"got {self.buf[:200]!r}")
            self.buf += part
        cut = self.buf.index(until) + len(until)
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return out


class MemcacheInputTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.backends = [h.start_memcached() for _ in range(2)]
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(pool_yaml(
            cls.port, [b.port for b in cls.backends], hash="fnv1a_64",
            distribution="ketama", auto_eject_hosts="true",
            server_failure_limit=1, server_retry_timeout=30000,
            timeout=2000))

    def conn(self, port=None):
        c = Conn(port or self.port)
        self.addCleanup(c.close)
        return c

    def server_counts(self):
        pool = sptest.read_stats(self.proxy.stats_port)["mc"]
        servers = [v for v in pool.values() if isinstance(v, dict)]
        return (pool["server_ejects"], pool["forward_error"],
                sum(s["server_err"] + s["server_eof"] + s["server_timedout"]
                    for s in servers))

    def same_as_direct(self, payload, until):
        """The reply through the proxy equals memcached's own (each backend
        answers the same for a miss, so any one will do)."""
        got = self.conn().ask(payload, until)
        want = self.conn(self.backends[0].port).ask(payload, until)
        self.assertEqual(got, want, payload)
        return got

    def test_cr_inside_a_token_passes(self):
        before = self.server_counts()
        other = self.conn()
        other.ask(b"set other 0 0 2\r\nok\r\n", b"STORED\r\n")
        bad = self.conn()
        for i in range(20):
            self.assertEqual(bad.ask(b"mg zz%d O\r1\r\n" % i, b"\r\n"),
                             b"EN O\r1\r\n")
            self.assertEqual(bad.ask(b"mg z\rz%d k v\r\n" % i, b"\r\n"),
                             b"EN kz\rz%d\r\n" % i)
            self.assertEqual(other.ask(b"get other\r\n", b"END\r\n"),
                             b"VALUE other 0 2\r\nok\r\nEND\r\n")
        self.same_as_direct(b"mg zz O\r1 k\r\n", b"\r\n")
        self.same_as_direct(b"mg x\r k\r\n", b"\r\n")
        # a key holding a CR, stored and read back with meta commands
        c = self.conn()
        self.assertEqual(c.ask(b"ms a\rb 1 T0\r\nx\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(c.ask(b"mg a\rb k v O12\r\n", b"x\r\n"),
                         b"VA 1 ka\rb O12\r\nx\r\n")
        self.assertEqual(c.ask(b"me a\rb\r\n", b"\r\n")[:9], b"ME a\rb ex")
        self.assertEqual(self.server_counts(), before)

    def test_get_keys_with_tab_cr_and_nul(self):
        c = self.conn()
        keys = [b"t\tab", b"c\rr", b"e\r", b"\rs", b"plain"]
        for i, k in enumerate(keys):
            self.assertEqual(c.ask(b"set %s 0 0 1\r\n%d\r\n" % (k, i),
                                   b"\r\n"), b"STORED\r\n", k)
        for i, k in enumerate(keys):
            self.assertEqual(c.ask(b"get %s\r\n" % k, b"END\r\n"),
                             b"VALUE %s 0 1\r\n%d\r\nEND\r\n" % (k, i), k)
        # all of them in one get, spread over both servers, in key order
        want = b"".join(b"VALUE %s 0 1\r\n%d\r\n" % (k, i)
                        for i, k in enumerate(keys)) + b"END\r\n"
        self.assertEqual(c.ask(b"get " + b" ".join(keys) + b"\r\n",
                               b"END\r\n"), want)
        # a NUL ends the line's tokens: the rest of the line is ignored
        self.assertEqual(c.ask(b"get plain\0junk more\r\n", b"END\r\n"),
                         b"VALUE plain 0 1\r\n4\r\nEND\r\n")
        self.assertEqual(c.ask(b"get t\tab plain \0 e\r\r\n", b"END\r\n"),
                         b"VALUE t\tab 0 1\r\n0\r\nVALUE plain 0 1\r\n4\r\n"
                         b"END\r\n")
        # the keys really are on both servers
        held = [sum(self.conn(b.port).ask(b"get %s\r\n" % k, b"END\r\n")
                    != b"END\r\n" for k in keys) for b in self.backends]
        self.assertEqual(sum(held), len(keys))
        self.assertTrue(all(held), held)
        got = c.ask(b"gets c\rr\r\n", b"END\r\n")
        self.assertTrue(got.startswith(b"VALUE c\rr 0 1 "), got)
        self.assertEqual(c.ask(b"gat 0 e\r \rs\r\n", b"END\r\n"),
                         b"VALUE e\r 0 1\r\n2\r\nVALUE \rs 0 1\r\n3\r\nEND\r\n")

    def test_gat_without_a_key_is_end(self):
        for line in (b"gat 10\r\n", b"gats 10\r\n", b"gat 10 \r\n",
                     b"gat 10 \0k\r\n"):
            self.assertEqual(self.same_as_direct(line, b"\r\n"), b"END\r\n")
        for line in (b"get\r\n", b"get \r\n", b"gat\r\n"):
            self.assertEqual(self.same_as_direct(line, b"\r\n"),
                             b"ERROR\r\n")


if __name__ == "__main__":
    sptest.main()
