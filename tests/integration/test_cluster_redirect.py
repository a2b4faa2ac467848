"""Redirections of a cluster pool, deterministic: the proxy (one worker)
against fake_cluster.py, a scripted fake cluster of four nodes A B C D
(A, B, C own a third of the slots each, D none at first) that counts every
command each node gets. Shown:

  * MOVED is followed at once and the slot map updated: after the
    redirection the next requests go straight to the new owner (counted
    on the fakes), also to a node the proxy did not know before;
  * ASK is followed with ASKING first, and does not update the map: the
    next request goes to the old owner again;
  * a redirection loop ends at cluster_max_redirects with an -ERR naming
    too many redirections (and the connection stays usable);
  * TRYAGAIN and CLUSTERDOWN are retried until served; a TRYAGAIN that
    never ends gets an error within the timeout, not a hang;
  * other multi-key commands across slots: CROSSSLOT without a word to
    any node; MGET/MSET/DEL split by slot, each node gets its own keys;
  * a node without CLUSTER SHARDS (Redis 6): the map from CLUSTER SLOTS.
The client never sees MOVED or ASK."""

import json
import time
import unittest

import sptest
import sp_cluster
from sp_cluster import RespConn, RespError, ask, key_slot
from sptest import poll_until

FAKE = sptest.REPO_ROOT / "tests" / "integration" / "fake_cluster.py"
MAX_REDIRECTS = 3
TIMEOUT_MS = 1500


def key_owned_by(ranges, port, prefix, skip=()):
    """A key whose slot lies in `port`'s range (and in none of `skip`)."""
    start, end = next((s, e) for s, e, p in ranges if p == port)
    for i in range(100000):
        k = f"{prefix}:{i}"
        if start <= key_slot(k) <= end and key_slot(k) not in skip:
            return k
    raise AssertionError("no key found")


class FakeClusterRedirects(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        h = cls.harness

        def once():
            cls.control = sptest.free_port()
            cls.ports = [sptest.free_port() for _ in range(4)]
            argv = ["/usr/bin/python3", FAKE, cls.control] + cls.ports
            return h.start_process(
                "fake-cluster", argv,
                lambda proc: all(sptest.owns_listener(proc.pid, p)
                                 for p in [cls.control] + cls.ports),
                "the fake cluster listening")
        sptest.start_with_retries(sptest.START_ATTEMPTS, once)
        cls.A, cls.B, cls.C, cls.D = cls.ports

    def setUp(self):
        super().setUp()
        self.ranges = [[0, 5460, self.A], [5461, 10922, self.B],
                       [10923, 16383, self.C]]
        self.script()

    # -- the fake
    def ctl(self, *args):
        reply = ask(self.control, *args)
        self.assertNotIsInstance(reply, RespError)
        return reply

    def script(self, ranges=None, importing=(), rules=(), no_shards=False):
        self.ctl("SCRIPT", json.dumps({
            "slots": ranges or self.ranges, "importing": list(importing),
            "rules": list(rules), "no_shards": no_shards}))

    def counts(self):
        return json.loads(self.ctl("COUNTS"))

    def count(self, port, cmd, key, asking=False):
        tag = ("asking " if asking else "") + f"{port} {cmd} {key}"
        return self.counts().get(tag, 0)

    def unowned(self):
        """Commands a fake node got for a slot it neither owns nor imports
        without ASKING (answered MOVED)."""
        return {k: v for k, v in self.counts().items() if k.startswith("unowned")}

    def reset(self):
        self.ctl("RESET")

    # -- the proxy
    def start_proxy(self, **keys):
        port = sptest.free_port()
        keys.setdefault("cluster_refresh_interval", 60000)
        keys.setdefault("cluster_max_redirects", MAX_REDIRECTS)
        keys.setdefault("timeout", TIMEOUT_MS)
        text = ("global:\n  worker_processes: 1\n"
                + sp_cluster.proxy_pool(port, [self.A], **keys))
        proxy = self.harness.start_shardproxy(text)
        sp_cluster.wait_proxy_serving(port, 15.0)
        self.reset()
        return proxy, RespConn(port)

    def node_stats(self, proxy, port):
        return sptest.read_stats(proxy.stats_port)["alpha"].get(f"127.0.0.1:{port}", {})

    # -- tests
    def test_moved_followed_and_map_updated(self):
        proxy, c = self.start_proxy()
        k = key_owned_by(self.ranges, self.A, "mv")
        slot = key_slot(k)
        self.assertEqual(c.call("SET", k, "one"), b"OK")
        self.assertEqual(self.count(self.A, "SET", k), 1)
        # the slot moves to B: A answers MOVED
        self.script([[0, slot - 1, self.A], [slot, slot, self.B],
                     [slot + 1, 5460, self.A]] + self.ranges[1:])
        self.reset()
        self.assertEqual(c.call("GET", k), b"one")
        self.assertEqual(self.count(self.A, "GET", k), 1)
        self.assertEqual(self.count(self.B, "GET", k), 1)
        for _ in range(10):
            self.assertEqual(c.call("GET", k), b"one")
        self.assertEqual(self.count(self.A, "GET", k), 1,
                         "requests still go to the old owner after MOVED")
        self.assertEqual(self.count(self.B, "GET", k), 11)
        # a redirection is followed by a refresh of the map (the periodic
        # one is a minute away)
        poll_until(lambda: self.topology_asks() >= 1,
                   "a CLUSTER SHARDS/SLOTS after the MOVED", 3.0)
        poll_until(lambda: self.node_stats(proxy, self.A).get("moved", 0) >= 1,
                   "A's moved counted", 5.0)
        # to D, a node the proxy has not seen before
        self.script([[0, slot - 1, self.A], [slot, slot, self.D],
                     [slot + 1, 5460, self.A]] + self.ranges[1:])
        self.reset()
        self.assertEqual(c.call("SET", k, "two"), b"OK")
        self.assertEqual(self.count(self.B, "SET", k), 1)
        self.assertEqual(self.count(self.D, "SET", k), 1)
        for _ in range(5):
            self.assertEqual(c.call("GET", k), b"two")
        self.assertEqual(self.count(self.B, "GET", k), 0)
        self.assertEqual(self.count(self.D, "GET", k), 5)
        c.close()

    def test_ask_followed_without_updating_the_map(self):
        proxy, c = self.start_proxy()
        k = key_owned_by(self.ranges, self.A, "ask")
        slot = key_slot(k)
        # slot migrating A -> B; A sends k's requests to B with ASK
        self.script(importing=[[slot, self.B]],
                    rules=[{"port": self.A, "key": k, "times": -1,
                            "reply": f"ASK {slot} 127.0.0.1:{self.B}"}])
        self.reset()
        self.assertEqual(c.call("SET", k, "asked"), b"OK")
        for _ in range(5):
            self.assertEqual(c.call("GET", k), b"asked")
        self.assertEqual(self.count(self.A, "SET", k), 1)
        self.assertEqual(self.count(self.B, "SET", k, asking=True), 1)
        # the map is not updated: every GET asks A first
        self.assertEqual(self.count(self.A, "GET", k), 5)
        self.assertEqual(self.count(self.B, "GET", k, asking=True), 5)
        self.assertEqual(self.count(self.B, "ASKING", "-"), 6)
        self.assertEqual(self.unowned(), {}, "a command reached B without ASKING")
        poll_until(lambda: self.node_stats(proxy, self.A).get("ask", 0) >= 6,
                   "A's ask counted", 5.0)
        self.assertEqual(self.node_stats(proxy, self.A).get("moved"), 0)
        c.close()

    def test_redirection_loop_capped(self):
        proxy, c = self.start_proxy()
        k = key_owned_by(self.ranges, self.A, "loop")
        slot = key_slot(k)
        self.script(rules=[
            {"port": self.A, "key": k, "times": -1,
             "reply": f"MOVED {slot} 127.0.0.1:{self.B}"},
            {"port": self.B, "key": k, "times": -1,
             "reply": f"MOVED {slot} 127.0.0.1:{self.A}"}])
        self.reset()
        t = time.monotonic()
        reply = c.call("GET", k)
        took = time.monotonic() - t
        self.assertIsInstance(reply, RespError, reply)
        self.assertTrue(reply.text.startswith("ERR"), reply)
        self.assertIn("redirect", reply.text.lower(), reply)
        self.assertNotIn("MOVED", reply.text)
        sent = self.count(self.A, "GET", k) + self.count(self.B, "GET", k)
        self.assertIn(sent, (MAX_REDIRECTS, MAX_REDIRECTS + 1),
                      f"{sent} tries for cluster_max_redirects {MAX_REDIRECTS}")
        self.assertLess(took, TIMEOUT_MS / 1000 + 1.0)
        # the connection is still usable
        self.script()
        other = key_owned_by(self.ranges, self.C, "after")
        self.assertEqual(c.call("SET", other, "x"), b"OK")
        c.close()

    def test_tryagain_and_clusterdown_retried(self):
        proxy, c = self.start_proxy()
        k1 = key_owned_by(self.ranges, self.A, "try")
        k2 = key_owned_by(self.ranges, self.B, "down")
        k3 = key_owned_by(self.ranges, self.C, "never")
        self.assertEqual(c.call("SET", k1, "v1"), b"OK")
        self.assertEqual(c.call("SET", k2, "v2"), b"OK")
        self.script(rules=[
            {"port": self.A, "key": k1, "times": 3,
             "reply": "TRYAGAIN Multiple keys request during rehashing of slot"},
            {"port": self.B, "key": k2, "times": 2,
             "reply": "CLUSTERDOWN The cluster is down"},
            {"port": self.C, "key": k3, "times": -1,
             "reply": "TRYAGAIN Multiple keys request during rehashing of slot"}])
        self.reset()
        t = time.monotonic()
        self.assertEqual(c.call("GET", k1), b"v1")
        self.assertEqual(c.call("GET", k2), b"v2")
        self.assertLess(time.monotonic() - t, TIMEOUT_MS / 1000 * 2)
        self.assertEqual(self.count(self.A, "GET", k1), 4)
        self.assertEqual(self.count(self.B, "GET", k2), 3)
        # never served: an error within the request's timeout, no hang
        t = time.monotonic()
        reply = c.call("GET", k3)
        took = time.monotonic() - t
        self.assertIsInstance(reply, RespError, reply)
        self.assertLess(took, TIMEOUT_MS / 1000 + 1.5)
        self.assertGreater(self.count(self.C, "GET", k3), 1, "not retried")
        self.assertLess(self.count(self.C, "GET", k3), 200, "retried without backoff")
        self.script()
        self.assertEqual(c.call("GET", k1), b"v1")
        c.close()

    def test_crossslot_and_split(self):
        proxy, c = self.start_proxy()
        ka = key_owned_by(self.ranges, self.A, "sa")
        kb = key_owned_by(self.ranges, self.B, "sb")
        kc = key_owned_by(self.ranges, self.C, "sc")
        crossslot = RespError("CROSSSLOT Keys in request don't hash to the same slot")
        self.assertEqual(c.call("SUNIONSTORE", ka, kb, kc), crossslot)
        ka2 = key_owned_by(self.ranges, self.A, "sa2", skip={key_slot(ka)})
        self.assertEqual(c.call("SUNIONSTORE", ka, ka2), crossslot)  # one node, two slots
        self.assertFalse([t for t in self.counts() if "SUNIONSTORE" in t],
                         "a CROSSSLOT command was forwarded")
        self.assertEqual(c.call("MSET", ka, "1", kb, "2", kc, "3", ka2, "4"), b"OK")
        self.assertEqual(c.call("MGET", kc, ka2, kb, ka, "sx:none"),
                         [b"3", b"4", b"2", b"1", None])
        self.assertEqual(c.call("EXISTS", ka, kb, kc, ka2), 4)
        self.assertEqual(c.call("DEL", ka, kb, kc), 3)
        counts = self.counts()
        for port, key in ((self.A, ka), (self.B, kb), (self.C, kc), (self.A, ka2)):
            self.assertTrue(any(t.startswith(f"{port} MSET {key}") or
                                t.startswith(f"{port} SET {key}") for t in counts),
                            f"{key}'s part of MSET not on {port}: {counts}")
        self.assertEqual(self.unowned(), {}, "a key was sent to a node not owning it")
        # a {tag}: one slot, forwarded as one command
        t1, t2 = "{grp}1", "{grp}2"
        self.assertEqual(c.call("SADD", t1, "a"), 1)
        self.assertEqual(c.call("SUNIONSTORE", t2, t1), 1)
        c.close()

    def topology_asks(self):
        """CLUSTER SHARDS and SLOTS the fake nodes got since the reset."""
        return sum(n for t, n in self.counts().items()
                   if t.split()[1:2] == ["CLUSTER"])

    def test_refresh_cost_bounded(self):
        """The map is asked for by one process, not by each worker: with 4
        workers and cluster_refresh_interval 500 the nodes get about 2
        topology questions a second; under a stream of MOVED (each refresh
        gives k's slot back to A, which answers MOVED to B for it) at most
        about 10 a second, however many workers see MOVED."""
        port = sptest.free_port()
        text = ("global:\n  worker_processes: 4\n" + sp_cluster.proxy_pool(
            port, [self.A], cluster_refresh_interval=500, timeout=TIMEOUT_MS))
        self.harness.start_shardproxy(text)
        sp_cluster.wait_proxy_serving(port, 15.0)
        self.reset()
        t = time.monotonic()
        poll_until(lambda: time.monotonic() - t >= 3.0, "3 s of idle refreshes", 5.0)
        idle = self.topology_asks() / (time.monotonic() - t)
        self.assertGreaterEqual(idle, 1.0, "no periodic refresh")
        self.assertLessEqual(idle, 4.0, f"{idle:.1f} topology questions a second "
                             "at cluster_refresh_interval 500 (per worker?)")
        # a stream of MOVED from 8 connections (spread over the workers)
        k = key_owned_by(self.ranges, self.A, "storm")
        slot = key_slot(k)
        self.script(rules=[{"port": self.A, "key": k, "times": -1,
                            "reply": f"MOVED {slot} 127.0.0.1:{self.B}"},
                           {"port": self.B, "key": k, "times": -1, "reply": "SERVE"}])
        conns = [RespConn(port) for _ in range(8)]
        self.reset()
        t = time.monotonic()
        n = 0
        while time.monotonic() - t < 3.0 and n < 20000:
            for c in conns:
                c.send(*[("GET", k)] * 10)
            for c in conns:
                for _ in range(10):
                    self.assertIsNone(c.read())
                    n += 1
        elapsed = time.monotonic() - t
        moved = self.count(self.A, "GET", k)
        rate = self.topology_asks() / elapsed
        print(f"\nidle: {idle:.1f} topology questions/s; {n} GETs, {moved} answered "
              f"MOVED, {rate:.1f} topology questions/s", flush=True)
        self.assertGreater(moved, 0)
        self.assertLessEqual(rate, 12.0, f"{rate:.1f} topology questions a second "
                             f"for {moved / elapsed:.0f} MOVED a second")
        for c in conns:
            c.close()

    def test_map_from_cluster_slots_without_shards(self):
        self.script(no_shards=True)
        proxy, c = self.start_proxy()
        for port in (self.A, self.B, self.C):
            k = key_owned_by(self.ranges, port, f"ns{port}")
            self.assertEqual(c.call("SET", k, "v"), b"OK")
            self.assertEqual(self.count(port, "SET", k), 1)
        self.assertEqual(self.unowned(), {})
        c.close()


if __name__ == "__main__":
    unittest.main()
