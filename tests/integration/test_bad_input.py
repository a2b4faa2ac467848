"""One client's input never harms another (issue #24, the Redis side): each
case is a regression test against real redis-servers.

  - an inline request with a NUL byte is answered (an error), never sent on
    where the server would wait for its end forever;
  - inline words are split as redis-server splits them (sdssplitargs): \\v and
    \\f skipped between words, "..." with escapes and '...' decoded, so keys
    are routed by the bytes redis stores;
  - a reply nested deeper than any fixed stack (EVAL returning a Lua table
    1,100 deep) passes through, and its server is not counted as failed;
  - a wide MGET (1,048,575 keys) is linear, answers byte for byte what one
    redis-server answers, and is split and merged in steps between the
    worker's turns, so the worker's other clients do not wait behind it; what
    its client pipelined behind it runs after it;
  - after a framing error or QUIT, bytes pipelined behind it do not reset the
    connection: every reply owed arrives, then the error.

Run: /usr/bin/python3 tests/integration/test_bad_input.py
"""

import multiprocessing
import os
import random
import socket
import time

import redis

import sptest
from test_redis_proxy import pool_yaml, resp, start_beside_direct


def exchange(port, payload, until, timeout=10):
    """Send payload, read until the bytes end with `until` (or the peer
    closes, or timeout); returns the bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(until) and time.monotonic() < deadline:
            try:
                part = sock.recv(65536)
            except socket.timeout:
                break
            if not part:
                break
            data += part
        return data
    finally:
        sock.close()


def mget_payload(n, prefix=b"key:"):
    parts = [b"*%d\r\n$4\r\nMGET\r\n" % (n + 1)]
    for i in range(n):
        k = prefix + b"%d" % i
        parts.append(b"$%d\r\n%s\r\n" % (len(k), k))
    return b"".join(parts)


def timed_reply(port, payload, want, timeout=60):
    """Send payload, read exactly `want` bytes; (seconds, bytes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        start = time.monotonic()
        sock.sendall(payload)
        chunks, got = [], 0
        deadline = start + timeout
        while got < want and time.monotonic() < deadline:
            part = sock.recv(1 << 20)
            if not part:
                break
            chunks.append(part)
            got += len(part)
        return time.monotonic() - start, b"".join(chunks)
    finally:
        sock.close()


def pinger(port, stop, ready, results):
    """Another client of the same worker: PING in a loop, report the
    slowest answer (a separate process: no GIL between it and the MGET);
    `ready` is set after the first answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    worst, count = 0.0, 0
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        start = time.monotonic()
        sock.sendall(b"PING\r\n")
        if sock.recv(64) != b"+PONG\r\n":
            break
        if count > 0:
            worst = max(worst, time.monotonic() - start)
        count += 1
        ready.set()
        time.sleep(0.002)
    sock.close()
    results.put((worst, count))


def timed_reply_pinged(port, payload, want):
    """timed_reply while another client PINGs the same port: (seconds,
    bytes, slowest PING in seconds, PINGs answered)."""
    results = multiprocessing.Queue()
    stop, ready = multiprocessing.Event(), multiprocessing.Event()
    ping = multiprocessing.Process(target=pinger,
                                   args=(port, stop, ready, results))
    ping.start()
    try:
        if not ready.wait(30):
            raise AssertionError("the pinging client got no PONG")
        took, data = timed_reply(port, payload, want)
    finally:
        stop.set()
        worst, count = results.get(timeout=30)
        ping.join(10)
    return took, data, worst, count


def read_all(sock, timeout=5):
    """Everything until the peer closes (or timeout): (bytes, closed)."""
    return sptest.read_until(sock, lambda data: False, timeout)


class InlineTest(sptest.HarnessTestCase):
    """Defects 1 and 4: inline requests."""

    @classmethod
    def setUpHarness(cls):
        # no timeout: a request a server never answers would hang for ever
        start_beside_direct(cls, "i", 3)

    def client(self):
        c = redis.Redis(port=self.port, socket_timeout=5)
        self.addCleanup(c.close)
        return c

    def test_nul_never_reaches_a_server(self):
        # Redis looks for an inline line's end with strchr(): it stops at the
        # NUL and would never answer, stalling that server connection for
        # everyone. The proxy answers the error and closes this client.
        c = self.client()
        c.set("{t}x", "ok")
        for line in (b"GET {t}\0\r\n", b"GET {t}\0x\r\n", b"\0\r\n",
                     b"SET {t}x '\0'\r\n"):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(b"PING\r\n" + line + b"GET {t}x\r\n")
            data, closed = read_all(sock)
            sock.close()
            self.assertEqual(data, b"+PONG\r\n-ERR Protocol error: null byte "
                             b"in inline request\r\n")
            self.assertTrue(closed)
            self.assertEqual(c.get("{t}x"), b"ok")     # nobody else waits
        stats = sptest.read_stats(self.proxy.stats_port)["i"]
        self.assertEqual(sum(stats[f"s{i}"]["server_err"] for i in range(3)), 0)

    def test_vt_ff_and_quotes_route_by_the_stored_key(self):
        # Redis skips \v and \f between words: "SET \fk v" sets "k"
        c = self.client()
        for i in range(40):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(b"SET \f%s v%d\r\nSET \"q\\x%02x%d\" w\r\n"
                         % (b"fk%d" % i, i, ord("A") + i % 26, i))
            self.assertEqual(exchange_more(sock, b"+OK\r\n+OK\r\n"),
                             b"+OK\r\n+OK\r\n")
            sock.close()
        for i in range(40):
            self.assertEqual(c.get(f"fk{i}"), b"v%d" % i)
            self.assertEqual(c.get("q%c%d" % (ord("A") + i % 26, i)), b"w")
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"MSET ffk1 \fval 'f k2' \"a\\tb\"\r\n")
        self.assertEqual(exchange_more(sock, b"+OK\r\n"), b"+OK\r\n")
        sock.close()
        self.assertEqual(c.get("ffk1"), b"val")
        self.assertEqual(c.get("f k2"), b"a\tb")

    def inline_pair(self, line):
        """The replies to `line` (then a PING) from redis and from the proxy,
        each with whether the connection closed."""
        out = []
        for port in (self.direct.port, self.port):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(line + b"PING\r\n")
            out.append(read_until_pong_or_close(sock))
            sock.close()
        return out

    def test_inline_differential(self):
        # the same inline lines to redis-server and through the proxy: the
        # same replies, byte for byte, and the same values stored
        c = self.client()
        d = self.direct.client()
        fixed = [b"\"a b\" 'c d' \"\" ''", b"\"\\x41\\x4\\xg\\n\\r\\t\\b\\a\\q\"",
                 b"ab\"c d\" 'it\\'s'", b"\va\fb\v \f", b"\"x\"y", b"'open",
                 b"\"open\\", b"\"cr\rin\" \"esc\\\rcr\"", b"'a\"b' \"a'b\""]
        rng = random.Random(24)
        alphabet = b" \t\r\v\f\"'\\xX0aF9n{}"
        lines = fixed + [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
                         for _ in range(300)]
        errors = 0
        for i, words in enumerate(lines):
            key = b"dl{%d}" % i
            line = b"RPUSH " + key + b" " + words + (b"\r\n" if i % 2 else b"\n")
            want, got = self.inline_pair(line)
            self.assertEqual(got, want, f"line {line!r}")
            if want[0].startswith(b"-ERR Protocol"):
                errors += 1
                continue
            self.assertEqual(c.lrange(key, 0, -1), d.lrange(key, 0, -1),
                             f"line {line!r}")
        self.assertGreater(errors, 10)          # the random lines hit both
        self.assertLess(errors, len(lines) - 10)


def exchange_more(sock, until, timeout=5):
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(until) and time.monotonic() < deadline:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


def read_until_pong_or_close(sock, timeout=5):
    """Replies until the trailing PING's +PONG, or the close: (bytes, closed)."""
    return sptest.read_until(sock, lambda data: data.endswith(b"+PONG\r\n"),
                             timeout)


class OwedRepliesTest(sptest.HarnessTestCase):
    """Defect 7: bytes pipelined after a framing error or QUIT made the
    close a reset, and the replies owed before it were lost (223,232 of
    ~1 MB arrived). Now: every owed reply, then the error (or +OK), then an
    orderly EOF."""

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.backend = h.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(pool_yaml(
            "o", cls.port, [(cls.backend.port, 1, None)]))
        c = redis.Redis(port=cls.port, socket_timeout=10)
        c.set("big", b"v" * 100)
        c.close()

    def run_case(self, stop, tail_reply):
        n = 10000
        reply = b"$100\r\n" + b"v" * 100 + b"\r\n"
        payload = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * n + stop \
            + b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 2000   # never read
        want = reply * n + tail_reply
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sender = multiprocessing.Process(target=send_all,
                                         args=(sock.fileno(), payload))
        sender.start()
        try:
            data, err = b"", None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    part = sock.recv(1 << 16)
                except ConnectionResetError as e:
                    err = e
                    break
                if not part:
                    break
                data += part
        finally:
            sender.join(20)
            sock.close()
        self.assertIsNone(err, f"reset after {len(data)} of {len(want)} bytes")
        self.assertEqual(len(data), len(want))
        self.assertEqual(data, want)

    def test_framing_error_after_pipeline(self):
        self.run_case(b"*1\r\n$x\r\n",
                      b"-ERR Protocol error: invalid bulk length\r\n")

    def test_quit_after_pipeline(self):
        self.run_case(b"QUIT\r\n", b"+OK\r\n")

    def test_unbalanced_quotes_after_pipeline(self):
        self.run_case(b"GET \"big\r\n",
                      b"-ERR Protocol error: unbalanced quotes in request\r\n")


def send_all(fd, payload):
    """In a child process: write payload to the inherited socket."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.sendall(payload)
    except OSError:
        pass                    # the proxy may close first: that is fine
    finally:
        sock.close()


class DeepReplyTest(sptest.HarnessTestCase):
    """Defect 2: EVAL returning a Lua table nested 1,100 deep, twice, with
    auto_eject_hosts and server_failure_limit 2, ejected a healthy server
    (the reply parser's stack held 1,024 levels)."""

    @classmethod
    def setUpHarness(cls):
        start_beside_direct(cls, "d", 2, auto_eject_hosts="true",
                            server_failure_limit=2, server_retry_timeout=30000)

    def test_deep_eval_reply_passes_and_ejects_nobody(self):
        c = redis.Redis(port=self.port, socket_timeout=10)
        self.addCleanup(c.close)
        keys = [f"deep:{i}" for i in range(20)]
        for k in keys:
            c.set(k, k)
        for depth in (1100, 5000):
            script = ("local t = 1 for i = 1, %d do t = {t} end return t"
                      % depth)
            # one key: the proxy routes EVAL by its first key
            want = exchange(self.direct.port, resp("EVAL", script, "1", "k"),
                            b":1\r\n")
            self.assertEqual(want, b"*1\r\n" * depth + b":1\r\n")
            for _ in range(3):          # over server_failure_limit
                got = exchange(self.port,
                               resp("EVAL", script, "1", f"k{_}"), b":1\r\n")
                self.assertEqual(got, want)
        for k in keys:                  # every server still in the pool
            self.assertEqual(c.get(k), k.encode())
        stats = sptest.read_stats(self.proxy.stats_port)["d"]
        for name in ("s0", "s1"):
            self.assertEqual(stats[name]["server_err"], 0)
            self.assertEqual(stats[name]["server_ejected_at"], 0)


class WideFanoutTest(sptest.HarnessTestCase):
    """Defect 6: MGET of 1,048,575 keys took 15x the direct time and stalled
    the worker's other clients for over a second (every key's slice walked
    the request's segment list from its start). Now the lookups are linear,
    a fan-out wider than 16K keys is split and merged in steps between the
    worker's turns (each step's fragments sent at once), and reading takes
    turns too (256 KB a connection a turn): another client's PING waits for
    one step, not for the whole MGET."""

    N = 1048575

    @classmethod
    def setUpHarness(cls):
        # one worker: the PINGs share it with the MGET
        start_beside_direct(cls, "w", 2, named=False,
                            head="global:\n  worker_processes: 1\n")

    def test_wide_mget_is_linear_and_yields(self):
        # a loaded machine (two test files at a time, sanitizers) can stall
        # the PING client itself: one more round of three before judging;
        # without the steps every round stalls 25-45%
        for attempt in (1, 2):
            direct, via, stall = self.wide_mget_rounds()
            if stall < 0.15 or attempt == 2:
                break
            print(f"\n  slowest PING {stall:.0%} of the MGET: once more")
        # linear, not the ratio: the release build takes 1.3-2x direct, the
        # ASan build 7-8x (1.96 s against 0.24 s once, under a parallel
        # ctest); a quadratic split or merge would take minutes
        self.assertLess(via, 10 * direct + 0.5)
        self.assertLess(stall, 0.15)

    def wide_mget_rounds(self):
        """Three MGETs of N keys, direct and through the proxy with another
        client PINGing the same worker: the medians of the direct time, the
        proxy's time and the slowest PING's share of the proxy's time."""
        n = self.N
        payload = mget_payload(n)
        want = len(b"*%d\r\n" % n) + 5 * n          # every key missing: $-1
        runs = []
        for _ in range(3):
            direct, data = timed_reply(self.direct.port, payload, want)
            self.assertEqual(len(data), want)
            via, data, worst, count = timed_reply_pinged(self.port, payload,
                                                         want)
            self.assertEqual(data, b"*%d\r\n" % n + b"$-1\r\n" * n)
            self.assertGreater(count, 1)
            runs.append((direct, via, worst))
            print(f"\nMGET {n}: direct {direct:.3f} s, proxy {via:.3f} s; "
                  f"another client's slowest PING {worst * 1000:.1f} ms "
                  f"({count} PINGs)")
        # the target is 2x and a PING under 100 ms on a quiet release build
        # (measured: 1.3-1.5x, slowest PING 3-7 ms); the caller's bounds
        # leave room for sanitizer builds and shared CI machines, and are
        # still far below the quadratic 15x. Without the steps the worker
        # stopped for the whole split and merge: the slowest PING took
        # 25-45% of the MGET's time (release 46-88 ms of 0.19 s); with them
        # a PING waits for one step or one read turn, 2-6% of it. Medians of
        # three, so one scheduler hiccup does not decide.
        return (sorted(r[0] for r in runs)[1], sorted(r[1] for r in runs)[1],
                sorted(r[2] / r[1] for r in runs)[1])

    def test_wide_mget_matches_one_server(self):
        """A wide MSET and MGET (split in steps) through the proxy answer
        byte for byte what one redis-server answers."""
        n = self.N
        keys = [b"wide:%d" % i for i in range(n)]
        pairs = [(k, b"v%d" % i * (1 + i % 3)) for i, k in enumerate(keys)
                 if i % 7 == 0]
        mset = sptest.resp("MSET", *[x for kv in pairs for x in kv])
        for port in (self.direct.port, self.port):
            _, data = timed_reply(port, mset, 5)
            self.assertEqual(data, b"+OK\r\n")
        payload = mget_payload(n, prefix=b"wide:")
        direct = self.direct_reply(payload)
        _, data = timed_reply(self.port, payload, len(direct))
        self.assertEqual(len(data), len(direct))
        self.assertTrue(data == direct, "the merged reply differs from "
                        "redis-server's")
        dels = sptest.resp("DEL", *keys)
        for port in (self.direct.port, self.port):
            _, data = timed_reply(port, dels, len(b":%d\r\n" % len(pairs)))
            self.assertEqual(data, b":%d\r\n" % len(pairs))

    def direct_reply(self, payload):
        """redis-server's whole reply to one request (read to its end)."""
        sock = socket.create_connection(("127.0.0.1", self.direct.port),
                                        timeout=60)
        try:
            sock.sendall(payload)
            f = sock.makefile("rb")
            head = f.readline()
            out = [head]
            for _ in range(int(head[1:])):
                line = f.readline()
                out.append(line)
                if line[:1] == b"$" and line != b"$-1\r\n":
                    out.append(f.read(int(line[1:]) + 2))
            return b"".join(out)
        finally:
            sock.close()

    def test_pipelined_behind_a_wide_mget_runs_after_it(self):
        """A SET pipelined behind a wide MGET of its key (the MGET's last
        step) reaches the server after the MGET: the MGET sees the old
        value, and the replies come in order."""
        n = self.N
        last = b"key:%d" % (n - 1)
        c = redis.Redis(port=self.port, socket_timeout=30)
        self.addCleanup(c.close)
        c.set(last, b"old")
        self.addCleanup(c.delete, last)
        payload = (mget_payload(n) + sptest.resp("SET", last, "new")
                   + sptest.resp("GET", last) + b"PING\r\n")
        want = (b"*%d\r\n" % n + b"$-1\r\n" * (n - 1) + b"$3\r\nold\r\n"
                + b"+OK\r\n" + b"$3\r\nnew\r\n" + b"+PONG\r\n")
        _, data = timed_reply(self.port, payload, len(want))
        self.assertTrue(data == want, "replies out of order, or the MGET "
                        "saw the SET pipelined behind it")

    def test_wide_mget_values_in_key_order(self):
        c = redis.Redis(port=self.port, socket_timeout=30)
        self.addCleanup(c.close)
        keys = [f"wide:{i}" for i in range(50000)]
        c.mset({k: k.upper() for k in keys[::3]})
        got = c.mget(keys)
        self.assertEqual(got, [k.upper().encode() if i % 3 == 0 else None
                               for i, k in enumerate(keys)])
        self.assertEqual(c.delete(*keys), len(keys[::3]))

    def test_client_leaving_mid_split(self):
        """A client that sends a wide MGET and closes at once: the split it
        leaves behind is dropped, and the worker serves on."""
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", self.port))
            sock.sendall(mget_payload(200000))
            sock.close()
        c = redis.Redis(port=self.port, socket_timeout=30)
        self.addCleanup(c.close)
        self.assertTrue(c.ping())
        self.assertEqual(c.mget([f"gone:{i}" for i in range(40000)]),
                         [None] * 40000)


if __name__ == "__main__":
    sptest.main()
