"""CLIENT LIST and CLIENT KILL see the whole proxy, not the worker that
serves the asking connection: with two workers, each lists and closes the
other's clients (through the master, src/core/proxy/sp_ask.h), with a
worker that does not answer left out after a bounded wait, and with
redis-py's own helpers (client_list, client_kill_filter)."""

import os
import signal
import time
import unittest

import redis

import sptest
from test_redis_proxy import pool_yaml as redis_pool_yaml
from test_session import Conn


def client_id(conn):
    reply = conn.call("CLIENT", "ID")
    assert reply.startswith(b":"), reply
    return int(reply[1:-2])


def worker_pid(cid):
    return cid >> 32            # a client id: its worker's pid, then a count


def listed_ids(listing):
    return {int(field[3:]) for line in listing.decode().splitlines()
            for field in line.split() if field.startswith("id=")}


class ProxyWideClientsTest(sptest.HarnessTestCase):
    """Two workers in front of one redis-server."""

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.server = h.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = h.start_shardproxy(
            "global:\n  worker_processes: 2\n" + redis_pool_yaml(
                "clients", cls.port, [(cls.server.port, 1, "shard-a")]),
            ready_workers=2)

    def conns_on_both_workers(self, per_worker=3):
        """Connections until each worker holds at least per_worker of
        them (the kernel spreads them; bounded)."""
        by_worker = {}
        for _ in range(400):
            c = Conn(self.port)
            self.addCleanup(c.close)
            by_worker.setdefault(worker_pid(client_id(c)), []).append(c)
            if (len(by_worker) == 2
                    and min(len(v) for v in by_worker.values()) >= per_worker):
                return list(by_worker.values())
        self.fail(f"400 connections did not reach both workers: {by_worker.keys()}")

    def test_list_sees_every_worker(self):
        a, b = self.conns_on_both_workers()
        every = {client_id(c) for c in a + b}
        self.assertEqual(set(map(worker_pid, every)),
                         set(self.proxy.worker_pids()))
        for asker in (a[0], b[0]):
            listing = asker.call("CLIENT", "LIST")
            self.assertTrue(listing.startswith(b"$"), listing[:40])
            self.assertLessEqual(every, listed_ids(listing))
            # one line per client, redis-server's fields
            for line in listing.decode().splitlines()[1:]:
                if line:
                    self.assertRegex(line, r"^id=\d+ addr=127\.0\.0\.1:\d+ laddr=")
        # ID filters reach the other worker's clients too
        other = client_id(b[1])
        self.assertEqual(listed_ids(a[0].call("CLIENT", "LIST", "ID", str(other))),
                         {other})
        self.assertEqual(listed_ids(a[0].call("CLIENT", "LIST", "ID", "12345")), set())
        self.assertEqual(a[0].call("CLIENT", "LIST", "TYPE", "pubsub"), b"$0\r\n\r\n")
        # RESP3: a verbatim string
        a[1].call("HELLO", "3")
        self.assertTrue(a[1].call("CLIENT", "LIST").startswith(b"="))

    def test_kill_reaches_the_other_worker(self):
        a, b = self.conns_on_both_workers()
        victim = b[0]
        self.assertEqual(a[0].call("CLIENT", "KILL", "ID", str(client_id(victim))),
                         b":1\r\n")
        victim.sock.settimeout(5)
        self.assertEqual(victim.sock.recv(10), b"")
        # the old form, by address, across workers
        addr = "127.0.0.1:%d" % b[1].sock.getsockname()[1]
        self.assertEqual(a[0].call("CLIENT", "KILL", addr), b"+OK\r\n")
        b[1].sock.settimeout(5)
        self.assertEqual(b[1].sock.recv(10), b"")
        self.assertEqual(a[0].call("CLIENT", "KILL", addr), b"-ERR No such client\r\n")
        self.assertEqual(a[0].call("CLIENT", "KILL", "ID", "999999999"), b":0\r\n")
        # everyone but the asker: the rest of both workers
        rest = [c for c in a[1:] + b[2:]]
        killed = a[0].call("CLIENT", "KILL", "USER", "default", "SKIPME", "yes")
        self.assertGreaterEqual(int(killed[1:-2]), len(rest))
        for c in rest:
            c.sock.settimeout(5)
            self.assertEqual(c.sock.recv(10), b"")
        self.assertEqual(a[0].call("PING"), b"+PONG\r\n")
        # SKIPME no: the asker too, after its reply
        me = a[0]
        self.assertEqual(me.call("CLIENT", "KILL", "ID", str(client_id(me)),
                                 "SKIPME", "no"), b":1\r\n")
        me.sock.settimeout(5)
        self.assertEqual(me.sock.recv(10), b"")

    def test_redis_py_helpers(self):
        a, b = self.conns_on_both_workers(per_worker=1)
        r = redis.Redis(port=self.port, client_name="lister")
        self.addCleanup(r.close)
        ids = {c["id"] for c in r.client_list()}
        self.assertLessEqual({str(client_id(c)) for c in a + b}, ids)
        self.assertIn("lister", {c["name"] for c in r.client_list()})
        self.assertEqual(r.client_kill_filter(_id=client_id(b[0])), 1)

    def test_stopped_worker_is_left_out_in_bounded_time(self):
        a, b = self.conns_on_both_workers(per_worker=1)
        theirs, mine = client_id(b[0]), client_id(a[0])
        stopped = worker_pid(theirs)
        self.assertNotEqual(stopped, worker_pid(mine))
        os.kill(stopped, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            listing = a[0].call("CLIENT", "LIST")
            waited = time.monotonic() - t0
        finally:
            os.kill(stopped, signal.SIGCONT)
        self.assertIn(mine, listed_ids(listing))
        self.assertNotIn(theirs, listed_ids(listing))
        self.assertLess(waited, 4.0)
        # ... and it answers again once it runs
        self.assertIn(theirs, listed_ids(a[0].call("CLIENT", "LIST")))


class SingleProcessClientsTest(sptest.HarnessTestCase):
    """worker_processes: 0: no master to ask through; the one process
    answers alone."""

    @classmethod
    def setUpHarness(cls):
        cls.server = cls.harness.start_redis()
        cls.port = sptest.free_port()
        cls.proxy = cls.harness.start_shardproxy(
            "global:\n  worker_processes: 0\n" + redis_pool_yaml(
                "single", cls.port, [(cls.server.port, 1, "shard-a")]))

    def test_list_and_kill(self):
        a, b = Conn(self.port), Conn(self.port)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        ids = {client_id(a), client_id(b)}      # both served by now
        self.assertEqual(listed_ids(a.call("CLIENT", "LIST")), ids)
        self.assertEqual(a.call("CLIENT", "KILL", "ID", str(client_id(b))), b":1\r\n")
        b.sock.settimeout(5)
        self.assertEqual(b.sock.recv(10), b"")


if __name__ == "__main__":
    unittest.main()
