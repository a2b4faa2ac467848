"""Differential test (issue #24): random valid commands -- strings, lists,
hashes, sets, sorted sets, multi-key fan-out -- in multibulk and inline form
(bare, "double-quoted" with escapes, 'single-quoted' words), pipelined over
several connections, sent through the proxy (three servers, hash tags) and
straight to one redis-server; every reply must be the same, byte for byte.

Each connection works on keys of its own, so the order in which the
connections' commands interleave does not matter; within a connection the
proxy must answer in order. Keys of one connection share a few hash tags:
commands over several keys (RPOPLPUSH, SMOVE, SINTERSTORE) stay on one server,
while MGET, MSET, DEL, EXISTS, TOUCH and UNLINK span tags and are split
and merged by the proxy. Bounded: a fixed seed, a fixed count of commands.

Run: /usr/bin/python3 tests/integration/test_differential.py
"""

import random
import socket
import time

import sptest
from test_redis_proxy import start_beside_direct

CONNECTIONS = 4
BATCHES = 60           # per connection
BATCH = 40             # commands pipelined at once


class RespReader:
    """Reads whole RESP2 replies off a socket and returns their raw bytes
    (iterative: any nesting depth)."""

    def __init__(self, sock):
        self.sock, self.buf, self.pos = sock, b"", 0

    def _fill(self, deadline):
        if time.monotonic() > deadline:
            raise TimeoutError("no reply")
        part = self.sock.recv(1 << 16)
        if not part:
            raise ConnectionError("closed")
        self.buf = self.buf[self.pos:] + part
        self.pos = 0

    def _line_end(self, at, deadline):
        while True:
            end = self.buf.find(b"\r\n", at)
            if end >= 0:
                return end
            at -= self.pos
            self._fill(deadline)
            at += self.pos

    def reply(self, timeout=10):
        deadline = time.monotonic() + timeout
        start = self.pos
        at, pending = start, 1
        while pending:
            rel = at - start
            end = self._line_end(at, deadline)
            start = self.pos
            at = start + rel
            end = self.buf.find(b"\r\n", at)
            kind, body = self.buf[at:at + 1], self.buf[at + 1:end]
            at = end + 2
            pending -= 1
            if kind == b"$" and int(body) >= 0:
                need = at + int(body) + 2
                while len(self.buf) < need:
                    rel = at - start
                    self._fill(deadline)
                    start = self.pos
                    at = start + rel
                    need = at + int(body) + 2
                at = need
            elif kind == b"*" and int(body) > 0:
                pending += int(body)
            elif kind not in (b"+", b"-", b":", b"$", b"*"):
                raise AssertionError(f"bad reply byte {kind!r}")
        out = self.buf[start:at]
        self.pos = at
        return out


def multibulk(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def inline(args, rng):
    """An inline line Redis splits back into args: each word bare when it
    can be, else quoted (double quotes with escapes, or single quotes)."""
    words = []
    for a in args:
        bare = a and not any(c in b" \t\r\n\v\f\"'\\\x00" for c in a)
        choice = rng.random()
        if bare and choice < 0.6:
            words.append(a)
        elif b"'" not in a and b"\\" not in a and b"\n" not in a \
                and b"\r" not in a and b"\x00" not in a and choice < 0.8:
            words.append(b"'" + a + b"'")
        else:
            w = []
            for c in a:
                ch = bytes([c])
                if ch in (b'"', b"\\"):
                    w.append(b"\\" + ch)
                elif 32 <= c < 127:
                    w.append(ch)
                else:
                    w.append(b"\\x%02x" % c)
            words.append(b'"' + b"".join(w) + b'"')
    # a word ends at space, tab or CR; \v and \f only between words
    sep = rng.choice([b" ", b"  ", b"\t", b" \v", b"\t\f "])
    return sep.join(words) + rng.choice([b"\r\n", b"\n"])


class Generator:
    """Random valid commands over one connection's keys."""

    def __init__(self, rng, conn):
        self.rng = rng
        self.tags = [b"{c%d%s}" % (conn, t) for t in (b"a", b"b", b"c")]

    def key(self, kind, tag=None):
        tag = tag if tag is not None else self.rng.choice(self.tags)
        return tag + kind + b"%d" % self.rng.randint(0, 5)

    def value(self):
        r = self.rng.random()
        if r < 0.5:
            return b"v%d" % self.rng.randint(0, 50)
        if r < 0.7:
            return str(self.rng.randint(-20, 20)).encode()
        if r < 0.8:
            return b""
        n = self.rng.randint(1, 12)
        return bytes(self.rng.choice(b"ab c\t\"'\\\x00\x01\xff\r\n{}")
                     for _ in range(n))

    def member(self):
        return b"m%d" % self.rng.randint(0, 9)

    def num(self, lo=-5, hi=5):
        return str(self.rng.randint(lo, hi)).encode()

    def command(self):
        r, k, v, m, n = self.rng, self.key, self.value, self.member, self.num
        kind = r.choice([b"s", b"s", b"l", b"h", b"t", b"z", b"i"])
        tag = r.choice(self.tags)
        choices = {
            b"s": lambda: r.choice([
                [b"SET", k(b"s"), v()], [b"GET", k(b"s")], [b"APPEND", k(b"s"), v()],
                [b"STRLEN", k(b"s")], [b"GETRANGE", k(b"s"), n(0, 3), n(-3, 5)],
                [b"SETRANGE", k(b"s"), n(0, 6), v()], [b"SETNX", k(b"s"), v()],
                [b"GETSET", k(b"s"), v()],
                [b"MGET"] + [k(b"s") for _ in range(r.randint(1, 6))],
                [b"MSET"] + [x for _ in range(r.randint(1, 4)) for x in (k(b"s"), v())],
                [b"DEL"] + [k(r.choice([b"s", b"l", b"i"])) for _ in range(r.randint(1, 4))],
                [b"EXISTS"] + [k(b"s") for _ in range(r.randint(1, 4))],
                [b"TOUCH"] + [k(b"s") for _ in range(r.randint(1, 3))],
                [b"UNLINK"] + [k(b"h") for _ in range(r.randint(1, 2))],
                [b"GET", k(r.choice([b"l", b"h", b"z"]))],      # WRONGTYPE
            ]),
            b"i": lambda: r.choice([
                [b"INCR", k(b"i")], [b"DECR", k(b"i")], [b"INCRBY", k(b"i"), n()],
                [b"INCRBYFLOAT", k(b"i"), r.choice([b"1.5", b"-0.25", b"3"])],
                [b"INCR", k(b"s")],                               # not an integer
                [b"GET", k(b"i")],
            ]),
            b"l": lambda: r.choice([
                [b"RPUSH", k(b"l")] + [v() for _ in range(r.randint(1, 3))],
                [b"LPUSH", k(b"l")] + [v() for _ in range(r.randint(1, 3))],
                [b"LPOP", k(b"l")], [b"RPOP", k(b"l")], [b"LLEN", k(b"l")],
                [b"LRANGE", k(b"l"), n(-3, 2), n(-2, 5)], [b"LINDEX", k(b"l"), n()],
                [b"LREM", k(b"l"), n(-1, 1), v()], [b"LTRIM", k(b"l"), n(0, 1), n(-1, 8)],
                [b"LSET", k(b"l"), n(-2, 2), v()],
                [b"LINSERT", k(b"l"), r.choice([b"BEFORE", b"AFTER"]), v(), v()],
                [b"RPOPLPUSH", k(b"l", tag), k(b"l", tag)],
            ]),
            b"h": lambda: r.choice([
                [b"HSET", k(b"h")] + [x for _ in range(r.randint(1, 3)) for x in (m(), v())],
                [b"HGET", k(b"h"), m()], [b"HDEL", k(b"h"), m(), m()],
                [b"HGETALL", k(b"h")], [b"HLEN", k(b"h")], [b"HEXISTS", k(b"h"), m()],
                [b"HINCRBY", k(b"h"), b"cnt", n()], [b"HMGET", k(b"h"), m(), m(), m()],
                [b"HSETNX", k(b"h"), m(), v()], [b"HKEYS", k(b"h")], [b"HVALS", k(b"h")],
            ]),
            b"t": lambda: r.choice([
                [b"SADD", k(b"t")] + [m() for _ in range(r.randint(1, 4))],
                [b"SREM", k(b"t"), m(), m()], [b"SCARD", k(b"t")],
                [b"SISMEMBER", k(b"t"), m()], [b"SMISMEMBER", k(b"t"), m(), m(), m()],
                [b"SMOVE", k(b"t", tag), k(b"t", tag), m()],
                [b"SINTERSTORE", k(b"t", tag), k(b"t", tag), k(b"t", tag)],
            ]),
            b"z": lambda: r.choice([
                [b"ZADD", k(b"z")] + [x for _ in range(r.randint(1, 3)) for x in (n(), m())],
                [b"ZRANGE", k(b"z"), b"0", b"-1", b"WITHSCORES"], [b"ZSCORE", k(b"z"), m()],
                [b"ZINCRBY", k(b"z"), n(), m()], [b"ZREM", k(b"z"), m()], [b"ZCARD", k(b"z")],
                [b"ZRANK", k(b"z"), m()], [b"ZCOUNT", k(b"z"), b"-inf", n()],
                [b"ZRANGEBYSCORE", k(b"z"), n(), b"+inf"], [b"ZREVRANGE", k(b"z"), b"0", n(0, 4)],
            ]),
        }
        return choices[kind]()


class DifferentialTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        start_beside_direct(cls, "x", 3, named=False, hash_tag='"{}"')

    def test_same_replies_byte_for_byte(self):
        rng = random.Random(0x24)
        conns = []
        for i in range(CONNECTIONS):
            pair = []
            for port in (self.direct.port, self.port):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                self.addCleanup(s.close)
                pair.append((s, RespReader(s)))
            conns.append((Generator(random.Random(rng.random()), i), pair))
        compared, inline_count, kinds = 0, 0, set()
        for _ in range(BATCHES):
            for gen, pair in conns:
                batch, wire = [], []
                for _ in range(BATCH):
                    args = gen.command()
                    kinds.add(args[0])
                    if gen.rng.random() < 0.3:
                        wire.append(inline(args, gen.rng))
                        inline_count += 1
                    else:
                        wire.append(multibulk(args))
                    batch.append(args)
                payload = b"".join(wire)
                for sock, _ in pair:
                    sock.sendall(payload)
                for args in batch:
                    want = pair[0][1].reply()
                    got = pair[1][1].reply()
                    self.assertEqual(got, want, f"{args!r}")
                    compared += 1
        print(f"\n{compared} replies compared byte for byte ({inline_count} "
              f"inline requests, {len(kinds)} commands)")
        self.assertEqual(compared, CONNECTIONS * BATCHES * BATCH)


if __name__ == "__main__":
    sptest.main()
