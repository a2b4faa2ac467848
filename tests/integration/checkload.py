"""A checking load for a Redis endpoint (the proxy, or one redis-server).

Owns CheckingLoad: `conns` threads, each with one raw RESP connection and
its own share of the keys, sending pipelined batches of SET, GET, MGET and
DEL and comparing every reply with a model of what that connection wrote.
A key's model is the set of values it may hold (None: absent): one value
after a write that was answered, the old ones and the new one after a write
whose reply was an error or never came (it may or may not have been done).
So a reply is *wrong* only if no history of the answered and unanswered
writes explains it.

Recorded, each with its monotonic timestamps (sent, answered): wrong
replies, error replies (-...), lost replies (the connection closed or a
reply did not come within `reply_timeout`; the thread reconnects), and per
request the latency from its batch's send to its reply (the max, the slow
ones over `slow`), plus the good replies per 100 ms of send time (so a test
can ask "was everything served after T?"). Bounded: `max_requests` in all
and `max_seconds`, whichever comes first, or stop().

    load = CheckingLoad(port, keys).start()
    load.wait_progress(1000)
    ... act ...
    load.stop()
    assert not load.wrong and not load.errors and not load.lost
"""

import random
import threading
import time

from sp_cluster import RespConn, RespError

import sptest

ABSENT = None


class Event:
    """A request that did not go right: kind is 'wrong', 'error', 'lost',
    'slow'; sent/done are monotonic times (done None for lost)."""

    __slots__ = ("kind", "sent", "done", "cmd", "reply", "expected")

    def __init__(self, kind, sent, done, cmd, reply=None, expected=None):
        self.kind, self.sent, self.done = kind, sent, done
        self.cmd, self.reply, self.expected = cmd, reply, expected

    def __repr__(self):
        extra = f" expected {self.expected!r}" if self.expected is not None else ""
        took = f" after {self.done - self.sent:.3f}s" if self.done else ""
        return (f"<{self.kind} {' '.join(str(a) for a in self.cmd)[:80]!s}: "
                f"{self.reply!r}{extra}{took} at t={self.sent:.3f}>")


class CheckingLoad:

    def __init__(self, port, keys, conns=2, batch=40, mget=4, max_seconds=120.0,
                 max_requests=3_000_000, reply_timeout=10.0, slow=1.0,
                 pace=0.002, seed=1):
        self.port, self.keys = port, list(keys)
        self.conns, self.batch, self.mget = conns, batch, mget
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.reply_timeout, self.slow, self.pace = reply_timeout, slow, pace
        self.seed = seed
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.events = []                 # Event: wrong, error, lost, slow
        self.requests = 0                # sent
        self.replies = 0                 # read
        self.good = 0
        self.connects = 0
        self.connect_failures = 0
        self.latency_max = 0.0
        self.good_by_tick = {}           # int(sent * 10): good replies
        self.started = None
        self.crashed = []                # exceptions that ended a thread
        self.writes_held = threading.Event()
        self.batches_done = [0] * conns  # per connection, whole batches read

    # -- results
    def of_kind(self, kind):
        with self.lock:
            return [e for e in self.events if e.kind == kind]

    @property
    def wrong(self):
        return self.of_kind("wrong")

    @property
    def errors(self):
        return self.of_kind("error")

    @property
    def lost(self):
        return self.of_kind("lost")

    @property
    def slow_ones(self):
        return self.of_kind("slow")

    def good_sent_after(self, t):
        """Good replies to requests sent at or after monotonic time t."""
        with self.lock:
            tick = int(t * 10) + 1
            return sum(n for k, n in self.good_by_tick.items() if k >= tick)

    def bad_sent_after(self, t):
        """Events (any kind) of requests sent after t."""
        with self.lock:
            return [e for e in self.events if e.sent > t]

    def error_texts(self, most=3):
        """The commonest error replies: [(count, text)]."""
        texts = {}
        for e in self.errors:
            texts[e.reply] = texts.get(e.reply, 0) + 1
        return sorted(((n, t) for t, n in texts.items()), reverse=True)[:most]

    def summary(self):
        with self.lock:
            kinds = {}
            for e in self.events:
                kinds[e.kind] = kinds.get(e.kind, 0) + 1
            return (f"{self.requests} requests, {self.replies} replies, "
                    f"{self.good} good, {kinds or 'no bad ones'}, "
                    f"{self.connects} connects ({self.connect_failures} failed), "
                    f"latency max {self.latency_max * 1000:.0f} ms")

    # -- control
    def start(self):
        self.started = time.monotonic()
        shares = [self.keys[i::self.conns] for i in range(self.conns)]
        for i, share in enumerate(shares):
            t = threading.Thread(target=self._run_guarded, args=(i, share),
                                 name=f"checkload-{i}", daemon=True)
            self.threads.append(t)
            t.start()
        return self

    def stop(self, timeout=30.0):
        """Stop sending, read what is in flight, join the threads."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            raise AssertionError(f"checking load threads {alive} did not stop")
        if self.crashed:
            raise AssertionError(f"checking load crashed: {self.crashed[0]!r}")
        return self

    def hold_writes(self, timeout=30.0):
        """From now on only GET and MGET; returns once no write is in flight
        (every connection has read a whole batch made after this call)."""
        self.writes_held.set()
        with self.lock:
            want = [n + 2 for n in self.batches_done]
        sptest.poll_until(lambda: all(d >= w for d, w in zip(self.batches_done, want))
                          or not self.running(), "writes in flight answered", timeout)

    def release_writes(self):
        self.writes_held.clear()

    def running(self):
        return any(t.is_alive() for t in self.threads)

    def wait_progress(self, n=500, timeout=30.0):
        """Until n more good replies than now (fails clearly otherwise)."""
        with self.lock:
            want = self.good + n
        sptest.poll_until(lambda: self.good >= want or not self.running(),
                          f"{n} more good replies ({self.summary()})", timeout)
        if self.good < want:
            raise AssertionError(f"the checking load stopped: {self.summary()}")

    # -- one connection
    def _run_guarded(self, index, keys):
        try:
            _Worker(self, index, keys).run()
        except Exception as e:              # a bug here, not in the proxy
            self.crashed.append(e)
            raise

    def _record(self, event):
        with self.lock:
            self.events.append(event)


def _bulk(v):
    return v if v is None else v.encode()


class _Worker:
    def __init__(self, load, index, keys):
        self.load, self.keys = load, keys
        self.rng = random.Random(load.seed * 1000 + index)
        self.index = index
        # key -> set of possible values (bytes or ABSENT); at start unknown:
        # the first write settles it (reads of untouched keys not checked)
        self.model = {}
        self.version = 0
        self.conn = None

    # connection
    def connect(self):
        load = self.load
        for attempt in range(200):
            if load.stopping.is_set():
                return False
            try:
                self.conn = RespConn(load.port, timeout=load.reply_timeout)
                with load.lock:
                    load.connects += 1
                return True
            except OSError:
                with load.lock:
                    load.connect_failures += 1
                time.sleep(0.05)
        return False

    # requests
    def make_batch(self):
        rng, cmds = self.rng, []
        reads_only = self.load.writes_held.is_set()
        for _ in range(self.load.batch):
            r = rng.random()
            if reads_only:
                r = 0.35 + r * 0.55         # GET or MGET
            k = rng.choice(self.keys)
            if r < 0.35:
                self.version += 1
                cmds.append(("SET", k, f"{k}={self.index}.{self.version}"))
            elif r < 0.70:
                cmds.append(("GET", k))
            elif r < 0.90:
                cmds.append(("MGET",) + tuple(rng.choice(self.keys)
                                              for _ in range(self.load.mget)))
            else:
                cmds.append(("DEL", k))
        return cmds

    def possible(self, key):
        return self.model.get(key)          # None: not known yet

    def check(self, cmd, reply):
        """(ok, expected) for a reply that is not an error; updates the
        model for writes."""
        op = cmd[0]
        if op == "SET":
            self.model[cmd[1]] = {cmd[2].encode()}
            return reply == b"OK", b"OK"
        if op == "GET":
            p = self.possible(cmd[1])
            return (p is None or reply in p), p
        if op == "MGET":
            if not isinstance(reply, list) or len(reply) != len(cmd) - 1:
                return False, f"an array of {len(cmd) - 1}"
            for k, v in zip(cmd[1:], reply):
                p = self.possible(k)
                if p is not None and v not in p:
                    return False, {k: p}
            return True, None
        if op == "DEL":
            p = self.possible(cmd[1])
            self.model[cmd[1]] = {ABSENT}
            if not isinstance(reply, int):
                return False, ":0 or :1"
            if p is None:
                return reply in (0, 1), "0 or 1"
            can = {1 if v is not ABSENT else 0 for v in p}
            return reply in can, can
        raise AssertionError(op)

    def unsure(self, cmd):
        """A write without a (good) reply: it may have been done or not."""
        if cmd[0] == "SET":
            p = self.model.get(cmd[1])
            if p is not None:
                p.add(cmd[2].encode())
        elif cmd[0] == "DEL":
            p = self.model.get(cmd[1])
            if p is not None:
                p.add(ABSENT)

    def run(self):
        load = self.load
        deadline = load.started + load.max_seconds
        if not self.connect():
            return
        try:
            while not load.stopping.is_set() and time.monotonic() < deadline:
                with load.lock:
                    if load.requests >= load.max_requests:
                        return
                    load.requests += load.batch
                cmds = self.make_batch()
                payload = b"".join(sptest.resp(*c) for c in cmds)
                sent = time.monotonic()
                answered = 0
                try:
                    self.conn.sock.sendall(payload)
                    for cmd in cmds:
                        reply = self.conn.read()
                        done = time.monotonic()
                        answered += 1
                        self.judge(cmd, reply, sent, done)
                    with load.lock:
                        load.batches_done[self.index] += 1
                except (OSError, ValueError) as e:
                    for cmd in cmds[answered:]:
                        self.unsure(cmd)
                        load._record(Event("lost", sent, None, cmd,
                                           reply=f"{type(e).__name__}: {e}"))
                    self.conn.close()
                    if not self.connect():
                        return
                if load.pace:
                    time.sleep(load.pace)
        finally:
            if self.conn is not None:
                self.conn.close()

    def judge(self, cmd, reply, sent, done):
        load = self.load
        took = done - sent
        with load.lock:
            load.replies += 1
            load.latency_max = max(load.latency_max, took)
        if isinstance(reply, RespError):
            self.unsure(cmd)
            load._record(Event("error", sent, done, cmd, reply.text))
            return
        ok, expected = self.check(cmd, reply)
        if not ok:
            load._record(Event("wrong", sent, done, cmd, reply, expected))
            return
        if took > load.slow:
            load._record(Event("slow", sent, done, cmd, reply))
            return
        with load.lock:
            load.good += 1
            tick = int(sent * 10)
            load.good_by_tick[tick] = load.good_by_tick.get(tick, 0) + 1
