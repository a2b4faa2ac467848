"""Redis Cluster behind the proxy (`distribution: redis_cluster`, issue 15),
against a real cluster: 6 redis-servers (3 primaries, 3 replicas,
`--cluster-enabled yes`, made by `redis-cli --cluster create`, node timeout
2 s), the proxy with 2 workers and two of the nodes as seeds, and a checking
load (checkload.py: pipelined SET, GET, MGET, DEL over 4,000 keys in 4,000
slots spread over all 16,384, every reply compared with what was written).

  * routing: keys land where CLUSTER KEYSLOT and the cluster's map say;
    MGET/MSET/DEL/EXISTS/UNLINK/TOUCH across slots; CROSSSLOT for other
    multi-key commands; {tag}s; MULTI/EXEC on one slot; CLUSTER
    KEYSLOT/INFO/SLOTS/SHARDS/NODES answered as one node;
  * `redis-cli --cluster reshard` of 1,500 slots, three times round the
    three primaries (9 moves) under the load: no lost, wrong or error reply;
  * a primary (a seed) killed -9 under the load: no wrong reply, no closed
    connection; every request served again (no error, none slower than
    1 s) within cluster-node-timeout + 5 s of the kill;
  * after each, `--locate` names the slot and current owner of each key;
  * HUP reload and USR2 upgrade under the load: nothing lost, no reconnect;
  * stats and Prometheus fields of a cluster pool;
  * redis-py's RedisCluster pointed at the proxy;
  * read_from replica / prefer_replica (counted in each node's
    commandstats); SSUBSCRIBE/SPUBLISH and SUBSCRIBE/PUBLISH.
Plus `-t` on cluster pool configurations (no cluster needed).

Skipped (cleanly) where redis-server has no cluster support (Redis < 7)."""

import os
import re
import signal
import socket
import time
import unittest

import sptest
import sp_cluster
from checkload import CheckingLoad
from sp_cluster import RespConn, RespError, ask, key_slot, info_fields
from sptest import poll_until

NODE_TIMEOUT = 2000            # ms: cluster-node-timeout
RESHARD_SLOTS = 1500
SERVE_TIMEOUT = 20.0           # s: a fresh proxy learns the cluster
CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"


def metrics(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        return sptest.recv_all(s).decode()


def metric_samples(text, name):
    """[(labels dict, value)] of metric `name` in a Prometheus text."""
    out = []
    for m in re.finditer(rf"^{re.escape(name)}\{{([^}}]*)\}} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out.append((labels, float(m.group(2))))
    return out


class ClusterTestCase(sptest.HarnessTestCase):
    """A real cluster shared by the class; a fresh proxy per test."""

    @classmethod
    def setUpHarness(cls):
        why = sp_cluster.cluster_support()
        if why:
            raise unittest.SkipTest(why)
        t = time.monotonic()
        cls.cluster = sp_cluster.RealCluster(cls.harness, nodes=6, replicas=1,
                                             node_timeout=NODE_TIMEOUT).start()
        print(f"\ncluster of 6 made in {time.monotonic() - t:.1f}s", flush=True)

    def setUp(self):
        super().setUp()
        self.cluster.restore_balance()      # a killed node back, as a replica

    def seeds(self):
        """Two live nodes: the first primary and a replica."""
        primaries = self.cluster.primaries()
        replica = next(n.port for n in self.cluster.live()
                       if n.port not in primaries)
        return [primaries[0], replica]

    def start_proxy(self, workers=2, global_keys=(), extra_args=(), **pool_keys):
        port = sptest.free_port()
        glob = ["global:", f"  worker_processes: {workers}"]
        glob += [f"  {k}: {v}" for k, v in global_keys]
        pool_keys.setdefault("cluster_refresh_interval", 1000)
        pool_keys.setdefault("timeout", 3000)
        text = "\n".join(glob) + "\n" + sp_cluster.proxy_pool(
            port, self.seeds(), **pool_keys)
        proxy = self.harness.start_shardproxy(text, extra_args=extra_args)
        sp_cluster.wait_proxy_serving(port, SERVE_TIMEOUT)
        return proxy, port

    def check_locate(self, proxy, keys):
        """--locate names each key's slot and current owner (the cluster's
        own answers: CLUSTER KEYSLOT, CLUSTER SHARDS, asked directly)."""
        r = self.harness.run_shardproxy(["-c", proxy.conf_path, "--locate",
                                         "alpha"] + list(keys))
        self.assertEqual(r.returncode, 0, r.stderr[:800])
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), len(keys), lines[:5])
        owners = self.shards_owner_map()
        some = self.cluster.live()[0].port
        for key, line in zip(keys, lines):
            m = re.fullmatch(r"(.*) -> 127\.0\.0\.1:(\d+) slot (\d+)", line)
            self.assertIsNotNone(m, f"--locate line {line!r}")
            self.assertEqual(m.group(1), key)
            slot = ask(some, "CLUSTER", "KEYSLOT", key)
            self.assertEqual(int(m.group(3)), slot, line)
            self.assertEqual(int(m.group(2)), owners[slot], line)

    def shards_owner_map(self):
        """slot -> primary port, from CLUSTER SHARDS asked of a node."""
        reply = ask(self.cluster.live()[0].port, "CLUSTER", "SHARDS")
        owners = [None] * sp_cluster.SLOTS
        for shard in reply:
            shard = dict(zip(shard[::2], shard[1::2]))
            primary = None
            for node in shard[b"nodes"]:
                node = dict(zip(node[::2], node[1::2]))
                if node[b"role"] == b"master":
                    primary = node[b"port"]
            ranges = shard[b"slots"]
            for start, end in zip(ranges[::2], ranges[1::2]):
                owners[start:end + 1] = [primary] * (end - start + 1)
        return owners

    def pool_stats(self, proxy):
        return sptest.read_stats(proxy.stats_port)["alpha"]

    def node_stats(self, proxy):
        return {k: v for k, v in self.pool_stats(proxy).items()
                if isinstance(v, dict)}

    def assert_clean(self, load, what):
        self.assertEqual(load.wrong, [], f"{what}: wrong replies")
        self.assertEqual(load.lost, [], f"{what}: lost replies")
        self.assertEqual(load.errors, [], f"{what}: error replies")


class ClusterProxy(ClusterTestCase):

    def test_routing(self):
        """(a) keys land on the owner of their slot; multi-key commands split
        by slot; CROSSSLOT; {tag}; MULTI/EXEC; CLUSTER answered as one node."""
        proxy, port = self.start_proxy()
        c = RespConn(port)
        owners = self.cluster.slot_map()
        direct = {p: RespConn(p) for p in self.cluster.primaries()}
        keys = sp_cluster.spread_keys(300, "route")
        for k in keys:
            self.assertEqual(c.call("SET", k, "v:" + k), b"OK", k)
        for k in keys:
            slot = direct[owners[key_slot(k)]].call("CLUSTER", "KEYSLOT", k)
            self.assertEqual(slot, key_slot(k))
            self.assertEqual(c.call("CLUSTER", "KEYSLOT", k), slot)
            # on the owner the cluster's map names (a GET there is no MOVED)
            self.assertEqual(direct[owners[slot]].call("GET", k),
                             ("v:" + k).encode(), k)
        # the keys are on every primary
        self.assertEqual({owners[key_slot(k)] for k in keys},
                         set(self.cluster.primaries()))

        # multi-key commands split by slot and merged
        ms = sp_cluster.keys_in_other_slots(12, "ms")
        args = [a for k in ms for a in (k, "m:" + k)]
        self.assertEqual(c.call("MSET", *args), b"OK")
        self.assertEqual(c.call("MGET", *ms), [("m:" + k).encode() for k in ms])
        for k in ms:
            self.assertEqual(direct[owners[key_slot(k)]].call("GET", k),
                             ("m:" + k).encode())
        self.assertEqual(c.call("EXISTS", *ms, "ms:none"), 12)
        self.assertEqual(c.call("TOUCH", *ms[:6]), 6)
        self.assertEqual(c.call("UNLINK", *ms[:4]), 4)
        self.assertEqual(c.call("DEL", *ms), 8)
        self.assertEqual(c.call("MGET", *ms), [None] * 12)

        # other multi-key commands across slots: CROSSSLOT, nothing done
        a, b, d = sp_cluster.keys_in_other_slots(3, "cs")
        self.assertEqual(c.call("SADD", a, "x"), 1)
        self.assertEqual(c.call("SADD", b, "y"), 1)
        self.assertEqual(c.call("SUNIONSTORE", d, a, b), RespError(CROSSSLOT))
        self.assertEqual(c.call("RENAME", a, b), RespError(CROSSSLOT))
        self.assertEqual(direct[owners[key_slot(d)]].call("EXISTS", d), 0)
        # a {tag} keeps keys together: one slot, one node
        ta, tb, td = "{user:7}a", "{user:7}b", "{user:7}d"
        self.assertEqual(c.call("SADD", ta, "x"), 1)
        self.assertEqual(c.call("SADD", tb, "y"), 1)
        self.assertEqual(c.call("SUNIONSTORE", td, ta, tb), 2)
        tag_owner = direct[owners[key_slot("user:7")]]
        self.assertEqual(sorted(tag_owner.call("SMEMBERS", td)), [b"x", b"y"])
        # MULTI/EXEC on one slot
        self.assertEqual(c.call("MULTI"), b"OK")
        self.assertEqual(c.call("SET", "{tx}a", "1"), b"QUEUED")
        self.assertEqual(c.call("INCR", "{tx}n"), b"QUEUED")
        self.assertEqual(c.call("EXEC")[0], b"OK")
        tx_owner = direct[owners[key_slot("tx")]]
        self.assertEqual(tx_owner.call("GET", "{tx}a"), b"1")
        self.assertGreaterEqual(int(tx_owner.call("GET", "{tx}n")), 1)

        # CLUSTER answered as one node: the proxy's listen address, all slots
        info = info_fields(c.call("CLUSTER", "INFO"))
        self.assertEqual(info.get("cluster_state"), "ok")
        self.assertEqual(info.get("cluster_known_nodes"), "1")
        slots = c.call("CLUSTER", "SLOTS")
        self.assertEqual(len(slots), 1, slots)
        self.assertEqual(slots[0][:2], [0, 16383])
        self.assertEqual(slots[0][2][1], port)
        shards = c.call("CLUSTER", "SHARDS")
        self.assertEqual(len(shards), 1, shards)
        shard = dict(zip(shards[0][::2], shards[0][1::2]))
        self.assertEqual(shard[b"slots"], [0, 16383])
        node = dict(zip(shard[b"nodes"][0][::2], shard[b"nodes"][0][1::2]))
        self.assertEqual(node[b"port"], port)
        nodes = c.call("CLUSTER", "NODES").decode().strip().splitlines()
        self.assertEqual(len(nodes), 1, nodes)
        self.assertIn(f"127.0.0.1:{port}", nodes[0])
        self.assertIn("myself,master", nodes[0])
        self.assertTrue(nodes[0].endswith(" 0-16383"), nodes[0])
        c.close()
        for d in direct.values():
            d.close()

    def test_redis_py_cluster_client(self):
        """(g) redis-py's RedisCluster, pointed at the proxy, sees one node
        holding every slot and works through it."""
        from redis.cluster import RedisCluster
        proxy, port = self.start_proxy()
        # what RedisCluster checks first: INFO's cluster_enabled
        info = info_fields(ask(port, "INFO", "cluster"))
        self.assertEqual(info.get("cluster_enabled"), "1", "INFO cluster")
        rc = RedisCluster(host="127.0.0.1", port=port, socket_timeout=5)
        try:
            nodes = rc.get_nodes()
            self.assertEqual([(n.host, n.port) for n in nodes], [("127.0.0.1", port)])
            keys = [f"rpc:{i}" for i in range(50)]
            for k in keys:
                self.assertTrue(rc.set(k, "v:" + k))
            self.assertEqual(rc.mget_nonatomic(keys), [("v:" + k).encode() for k in keys])
            pipe = rc.pipeline()
            for k in keys:
                pipe.incr(k + ":n")
            self.assertEqual(pipe.execute(), [1] * 50)
            self.assertEqual(rc.keyslot("rpc:1"), key_slot("rpc:1"))
            self.assertEqual(rc.delete(*keys[:10]), 10)
            # written where the real cluster keeps them
            for k in keys[10:20]:
                self.assertEqual(ask(self.cluster.owner(k), "GET", k),
                                 ("v:" + k).encode())
        finally:
            rc.close()

    def test_stats_and_metrics(self):
        """(f) the pool's nodes in the stats and Prometheus: role, slots,
        redirections; the pool's refreshes and failovers."""
        metrics_port = sptest.free_port()
        proxy, port = self.start_proxy(
            global_keys=[("metrics_listen", f"127.0.0.1:{metrics_port}")])
        with RespConn(port) as c:
            for k in sp_cluster.spread_keys(200, "st"):
                self.assertEqual(c.call("SET", k, "x"), b"OK")
        counts = self.cluster.slot_counts()
        live = {n.port for n in self.cluster.live()}

        def complete():
            nodes = self.node_stats(proxy)
            return set(nodes) == {f"127.0.0.1:{p}" for p in live} and nodes
        nodes = poll_until(complete, "the stats list the 6 nodes", 10.0)
        pool = self.pool_stats(proxy)
        self.assertGreaterEqual(pool.get("cluster_refreshes", -1), 1, pool)
        self.assertGreaterEqual(pool.get("cluster_failovers", -1), 0, pool)
        for name, s in nodes.items():
            port_ = int(name.rsplit(":", 1)[1])
            for field in ("server_eof", "server_err", "server_timedout",
                          "server_connections", "requests", "responses",
                          "moved", "ask", "slots"):
                self.assertIsInstance(s.get(field), int, f"{name}.{field}: {s}")
            want = "primary" if port_ in counts else "replica"
            self.assertEqual(s.get("role"), want, name)
            if port_ in counts:
                self.assertEqual(s["slots"], counts[port_], name)
                self.assertGreater(s["requests"], 0, name)
        self.assertEqual(sum(s["slots"] for s in nodes.values()
                             if s["role"] == "primary"), 16384)

        text = metrics(metrics_port)
        slots = {l.get("server"): v for l, v in
                 metric_samples(text, "shardproxy_server_cluster_slots")
                 if l.get("pool") == "alpha"}
        for p, n in counts.items():
            self.assertEqual(slots.get(f"127.0.0.1:{p}"), n, slots)
        for name in ("shardproxy_server_moved_total",
                     "shardproxy_server_ask_total"):
            servers = {l.get("server") for l, _ in metric_samples(text, name)
                       if l.get("pool") == "alpha"}
            self.assertEqual(servers, {f"127.0.0.1:{p}" for p in live},
                             f"{name}: one sample per node, named by address")
        for name in ("shardproxy_pool_cluster_refreshes_total",
                     "shardproxy_pool_cluster_failovers_total"):
            samples = [v for l, v in metric_samples(text, name)
                       if l.get("pool") == "alpha"]
            self.assertEqual(len(samples), 1, f"{name} in /metrics")
        self.assertGreaterEqual(
            [v for l, v in metric_samples(text, "shardproxy_pool_cluster_refreshes_total")
             if l.get("pool") == "alpha"][0], 1)


    def test_reshard_round_under_load(self):
        """(b) 1,500 slots moved by `redis-cli --cluster reshard`, three
        times round the primaries, under the checking load: no lost, wrong
        or error reply; then (d) --locate names each key's new owner."""
        proxy, port = self.start_proxy()
        keys = sp_cluster.spread_keys(4000, "rs")
        load = CheckingLoad(port, keys, conns=2, max_seconds=150).start()
        self.addCleanup(lambda: load.stopping.set())
        load.wait_progress(2000)
        t = time.monotonic()
        moves = moved_keys = 0
        for _ in range(3):
            primaries = self.cluster.primaries()
            for i, src in enumerate(primaries):
                dst = primaries[(i + 1) % len(primaries)]
                before = self.cluster.slot_map()
                self.cluster.reshard(src, dst, RESHARD_SLOTS)
                after = self.cluster.slot_map()
                moved = sum(1 for s in range(sp_cluster.SLOTS) if before[s] != after[s])
                self.assertEqual(moved, RESHARD_SLOTS)
                moved_keys += sum(1 for k in keys
                                  if before[key_slot(k)] != after[key_slot(k)])
                moves += 1
                load.wait_progress(300)
        took = time.monotonic() - t
        load.wait_progress(2000)
        load.stop()
        print(f"\n{moves} reshards of {RESHARD_SLOTS} slots in {took:.1f}s under "
              f"load: {load.summary()}; {moved_keys} keys of the load moved",
              flush=True)
        # each move takes 1,500 of 16,384 slots: about 366 of the 4,000 keys
        self.assertGreater(moved_keys, 9 * 250)
        self.assert_clean(load, "resharding")
        redirs = sum(s.get("moved", 0) + s.get("ask", 0)
                     for s in self.node_stats(proxy).values())
        self.assertGreater(redirs, 0, "no MOVED/ASK counted while 9 reshards "
                           "moved keys the load was using")
        self.check_locate(proxy, keys[::20])


    def test_primary_killed_under_load(self):
        """(c) a primary (one of the proxy's seeds) killed -9 under the
        checking load: no wrong reply, no closed connection, and every
        request served again (no error, none over 1 s) within
        cluster-node-timeout + 5 s of the kill; then (d) --locate."""
        proxy, port = self.start_proxy()
        keys = sp_cluster.spread_keys(4000, "fo")
        load = CheckingLoad(port, keys, conns=2, max_seconds=120).start()
        self.addCleanup(lambda: load.stopping.set())
        load.wait_progress(2000)
        victim = self.seeds()[0]
        replicas = self.cluster.replicas_of(victim)
        self.assertTrue(replicas)
        # writes acknowledged by the victim must be on its replica before
        # the kill (replication is asynchronous: a write not yet copied
        # would come back older, and that is Redis's, not the proxy's)
        load.hold_writes()
        self.wait_replicated(victim)
        killed = self.cluster.kill(victim)
        load.release_writes()
        new = self.cluster.wait_promotion(victim, replicas, timeout=30.0)
        promoted = time.monotonic() - killed
        window = NODE_TIMEOUT / 1000 + 5.0
        # run on past the window, then judge what was sent after it
        poll_until(lambda: time.monotonic() > killed + window + 3.0
                   or not load.running(), "the load runs past the window", 30.0)
        load.stop()
        bad = load.bad_sent_after(killed + window)
        outage = [e for e in load.events if e.sent >= killed - 1]
        last_bad = max((e.sent for e in outage), default=killed) - killed
        print(f"\nkill -9 {victim}: {new} promoted {promoted:.1f}s later; "
              f"{len(outage)} bad replies, the last sent {last_bad:.1f}s after "
              f"the kill; {load.summary()}; errors: {load.error_texts()}",
              flush=True)
        self.assertEqual(load.wrong, [], "wrong replies")
        self.assertEqual(load.lost, [], "replies lost (a connection closed)")
        self.assertEqual(bad, [], f"not served again {window:.0f}s after the kill")
        self.assertGreater(load.good_sent_after(killed + window), 1000)
        self.assertGreaterEqual(self.pool_stats(proxy).get("cluster_failovers", 0), 1)
        self.check_locate(proxy, keys[::20])

    def wait_replicated(self, primary):
        """Until each replica of `primary` has its replication offset."""
        def caught_up():
            role = ask(primary, "ROLE")
            return (isinstance(role, list) and role[2]
                    and all(int(r[2]) >= role[1] for r in role[2]))
        poll_until(caught_up, f"{primary}'s replicas caught up", 10.0)


    def test_reload_and_upgrade_keep_clients(self):
        """(e) HUP reload, then a USR2 upgrade (WINCH, QUIT of the old
        master), under the checking load on a cluster pool: nothing lost,
        wrong or refused, and no client reconnects."""
        pid_file = self.harness.tmp.path / "cluster.pid"
        oldbin = pid_file.with_name(pid_file.name + ".oldbin")
        proxy, port = self.start_proxy(extra_args=["-p", pid_file])
        keys = sp_cluster.spread_keys(2000, "rl")
        load = CheckingLoad(port, keys, conns=2, max_seconds=120).start()
        self.addCleanup(lambda: load.stopping.set())
        load.wait_progress(1000)
        gen = sptest.read_stats(proxy.stats_port)["generation"]
        proxy.proc.signal(signal.SIGHUP)
        poll_until(lambda: (lambda s: s["generation"] == gen + 1 and s["workers"] == 2
                            and s.get("retiring", 0) == 0)(
                                sptest.read_stats(proxy.stats_port)),
                   "the reload's generation alone", 30.0)
        load.wait_progress(1000)
        old_workers = proxy.worker_pids()
        proxy.proc.signal(signal.SIGUSR2)

        def new_master():
            if not oldbin.exists() or not pid_file.exists():
                return None
            text = pid_file.read_text().strip()
            return (text.isdigit() and int(text) != proxy.pid
                    and len(sptest.children(int(text))) == 2 and int(text))
        new = poll_until(new_master, "the new master and its workers", 30.0)
        self.addCleanup(lambda: sptest.pid_alive(new) and os.kill(new, signal.SIGKILL))
        load.wait_progress(1000)
        proxy.proc.signal(signal.SIGWINCH)
        poll_until(lambda: not any(sptest.pid_alive(p) for p in old_workers),
                   "the old workers exit", 30.0)
        load.wait_progress(1000)
        proxy.proc.signal(signal.SIGQUIT)
        proxy.proc.popen.wait(30)
        self.assertEqual(proxy.proc.returncode, 0)
        load.wait_progress(1000)          # served by the new master's workers
        load.stop()
        print(f"\nHUP + USR2/WINCH/QUIT under load: {load.summary()}", flush=True)
        self.assert_clean(load, "reload and upgrade")
        self.assertEqual(load.connects, 2, "clients reconnected")
        os.kill(new, signal.SIGTERM)
        poll_until(lambda: not sptest.pid_alive(new), "the new master exits", 20.0)


    # -- replica reads, pub/sub

    def commandstats(self, port, cmd):
        """Calls of `cmd` a node counted since its CONFIG RESETSTAT."""
        text = ask(port, "INFO", "commandstats").decode()
        m = re.search(rf"^cmdstat_{cmd}:calls=(\d+)", text, re.M)
        return int(m.group(1)) if m else 0

    def reset_commandstats(self):
        for n in self.cluster.live():
            self.assertEqual(ask(n.port, "CONFIG", "RESETSTAT"), b"OK")

    def test_read_from_replica(self):
        """read_from: replica sends GET and MGET to the replicas, SET to
        the primaries (a replica counts the SETs it replicates too, so only
        the primaries' are counted); prefer_replica reads from the primary of a shard
        whose replica is down."""
        proxy, port = self.start_proxy(read_from="replica")
        keys = sp_cluster.spread_keys(90, "rr")
        primaries = self.cluster.primaries()
        replicas = [p for p in (n.port for n in self.cluster.live())
                    if p not in primaries]
        self.reset_commandstats()
        with RespConn(port) as c:
            for k in keys:
                self.assertEqual(c.call("SET", k, "r:" + k), b"OK")
            for p in primaries:
                self.wait_replicated(p)
            # a replica the cluster calls "loading" (no offset gossiped yet)
            # is not read from: wait until all are "online", then for two
            # refreshes of the proxy's map
            poll_until(lambda: all(h == "online" for _, h in
                                   self.cluster.shard_health().values()),
                       "every node online in CLUSTER SHARDS", 15.0)
            seen = self.pool_stats(proxy)["cluster_refreshes"]
            poll_until(lambda: self.pool_stats(proxy)["cluster_refreshes"] >= seen + 2,
                       "two refreshes of the proxy's map", 10.0)
            for k in keys:
                self.assertEqual(c.call("GET", k), ("r:" + k).encode())
            self.assertEqual(c.call("MGET", *keys[:30]),
                             [("r:" + k).encode() for k in keys[:30]])
        self.assertEqual(sum(self.commandstats(p, "set") for p in primaries), 90)
        self.assertEqual(sum(self.commandstats(p, "get") + self.commandstats(p, "mget")
                             for p in primaries), 0, "reads reached a primary")
        reads = sum(self.commandstats(p, "get") + self.commandstats(p, "mget")
                    for p in replicas)
        self.assertGreaterEqual(reads, 90 + 1)      # the MGET: split by slot

        # prefer_replica: a shard without its replica reads from its primary
        proxy2, port2 = self.start_proxy(read_from="prefer_replica")
        shard = primaries[0]
        gone = self.cluster.replicas_of(shard)[0]
        self.cluster.kill(gone)
        mine = [k for k in keys if self.cluster.owner(k) == shard]
        self.reset_commandstats()
        with RespConn(port2) as c:
            def served():
                return all(c.call("GET", k) == ("r:" + k).encode() for k in mine)
            poll_until(served, "the shard read from its primary", 15.0)
            before = self.commandstats(shard, "get")
            for k in mine:
                self.assertEqual(c.call("GET", k), ("r:" + k).encode())
            self.assertEqual(self.commandstats(shard, "get") - before, len(mine))

    def test_pubsub(self):
        """SSUBSCRIBE through the proxy hears SPUBLISH on the slot's node;
        SUBSCRIBE hears PUBLISH sent anywhere in the cluster."""
        proxy, port = self.start_proxy()
        sub = RespConn(port)
        ch = "news{7}"
        self.assertEqual(sub.call("SSUBSCRIBE", ch), [b"ssubscribe", ch.encode(), 1])
        owner = self.cluster.owner(ch)
        poll_until(lambda: ask(owner, "SPUBLISH", ch, "first") == 1,
                   "the proxy's subscription on the slot's node", 5.0)
        self.assertEqual(sub.read(), [b"smessage", ch.encode(), b"first"])
        sub2 = RespConn(port)
        self.assertEqual(sub2.call("SUBSCRIBE", "all"), [b"subscribe", b"all", 1])
        other = next(p for p in self.cluster.primaries() if p != owner)
        poll_until(lambda: ask(other, "PUBLISH", "all", "hi") >= 0
                   and ask(port, "PUBSUB", "NUMSUB", "all") is not None
                   and self._heard(sub2, [b"message", b"all", b"hi"]),
                   "a PUBLISH on another node heard", 5.0)
        sub.close()
        sub2.close()

    def _heard(self, conn, want):
        """A message `want` is waiting on conn (read within 0.2 s)."""
        conn.sock.settimeout(0.2)
        try:
            return conn.read() == want
        except OSError:
            return False
        finally:
            conn.sock.settimeout(conn.timeout)


class ClusterConfig(sptest.HarnessTestCase):
    """`-t` on cluster pools: the keys that make no sense there are refused
    with file, line and key; a good cluster pool passes."""

    GOOD = ("alpha:\n"
            "  listen: 127.0.0.1:22121\n"
            "  redis: true\n"
            "  distribution: redis_cluster\n"
            "  cluster_refresh_interval: 5000\n"
            "  read_from: prefer_replica\n"
            "  cluster_max_redirects: 5\n"
            "  hash_tag: \"{}\"\n"
            "  timeout: 400\n"
            "  servers:\n"
            "   - 127.0.0.1:7000:1\n"
            "   - 127.0.0.1:7001:1\n")

    def check(self, name, text, bad_key, lines):
        """`-t` refuses text: exit 1, the error on one of `lines` (1-based)
        of the file, naming pool 'alpha' and `bad_key`."""
        path = self.harness.tmp.file(f"{name}.yml", text)
        r = self.harness.run_shardproxy(["-t", "-c", path])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        m = re.search(rf"{re.escape(str(path))}:(\d+):\d+: pool 'alpha': (.*)", err)
        self.assertIsNotNone(m, f"no file:line:column: pool 'alpha' in {err!r}")
        self.assertIn(int(m.group(1)), lines, err)
        self.assertIn(bad_key, m.group(2), err)
        self.assertIn("syntax is invalid", err)

    def test_good_cluster_pool_passes(self):
        for read_from in ("primary", "replica", "prefer_replica"):
            with self.subTest(read_from=read_from):
                text = self.GOOD.replace("prefer_replica", read_from)
                path = self.harness.tmp.file(f"good-{read_from}.yml", text)
                r = self.harness.run_shardproxy(["-t", "-c", path])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(b"syntax is ok", r.stderr)
        # defaults: no cluster key but distribution
        text = ("alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n"
                "  distribution: redis_cluster\n  servers:\n   - 127.0.0.1:7000:1\n")
        path = self.harness.tmp.file("good-defaults.yml", text)
        r = self.harness.run_shardproxy(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)

    def with_line(self, key_line, after=4):
        """GOOD with `key_line` inserted as line after+1."""
        lines = self.GOOD.splitlines(keepends=True)
        return "".join(lines[:after] + [key_line + "\n"] + lines[after:]), after + 1

    def test_hash_refused(self):
        text, line = self.with_line("  hash: fnv1a_64")
        self.check("hash", text, "hash", [line])

    def test_hash_tag_refused(self):
        text = self.GOOD.replace('hash_tag: "{}"', 'hash_tag: "[]"')
        self.check("hash_tag", text, "hash_tag", [8])

    def test_cluster_without_redis_refused(self):
        text = self.GOOD.replace("  redis: true\n", "")
        self.check("no-redis", text, "redis_cluster", [3])
        text = self.GOOD.replace("redis: true", "redis: false")
        self.check("redis-false", text, "redis_cluster", [3, 4])

    def test_cluster_keys_without_cluster_refused(self):
        """The cluster's own keys on a pool that is not a cluster pool."""
        plain = self.GOOD.replace("redis_cluster", "ketama").replace(
            '  hash_tag: "{}"\n', "")
        for key in ("cluster_refresh_interval", "cluster_max_redirects"):
            with self.subTest(key=key):
                text = "".join(l for l in plain.splitlines(keepends=True)
                               if not l.startswith("  cluster_")
                               or l.startswith(f"  {key}:"))
                text = text.replace("  read_from: prefer_replica\n", "")
                want = text.splitlines().index(
                    next(l for l in text.splitlines() if l.startswith(f"  {key}:"))) + 1
                self.check(f"plain-{key}", text, key, [want])

    def test_bad_cluster_values_refused(self):
        cases = {
            "interval-low": ("cluster_refresh_interval: 5000",
                             "cluster_refresh_interval: 50",
                             "cluster_refresh_interval", 5),
            "read-from": ("read_from: prefer_replica", "read_from: nearest",
                          "read_from", 6),
            "redirects-zero": ("cluster_max_redirects: 5",
                               "cluster_max_redirects: 0",
                               "cluster_max_redirects", 7),
            "auto-eject": ("  timeout: 400\n",
                           "  timeout: 400\n  auto_eject_hosts: true\n",
                           "auto_eject_hosts", 10),
            "sentinels": (":7000:1\n   - 127.0.0.1:7001:1\n",
                          ":7000:1 a\n   - 127.0.0.1:7001:1 b\n"
                          "  sentinels: [127.0.0.1:26379]\n", "sentinels", 13),
            "unix-seed": ("   - 127.0.0.1:7001:1\n", "   - /tmp/redis.sock:1\n",
                          "/tmp/redis.sock", 12),
        }
        for name, (old, new, key, line) in cases.items():
            with self.subTest(case=name):
                self.check(name, self.GOOD.replace(old, new), key, [line])


if __name__ == "__main__":
    unittest.main()
