#!/usr/bin/python3
"""A scripted fake Redis Cluster for deterministic redirection tests.

One process serves several fake nodes (one listening port each) and a
control port. The nodes share one store (a dict) and one topology: which
node owns which slots. A node:

  * answers CLUSTER SHARDS / SLOTS / NODES / INFO / MYID / KEYSLOT from the
    topology (CLUSTER SHARDS answers "-ERR unknown subcommand" when the
    script says "no_shards", as Redis 6 does);
  * serves GET, SET, DEL, EXISTS, UNLINK, TOUCH, MGET, MSET, INCR, SADD,
    SUNIONSTORE, MULTI/EXEC (queued, then run) on the keys of slots it owns;
    keys of several slots in one command: -CROSSSLOT, as Redis answers;
  * for a slot it does not own: -MOVED <slot> <owner>, unless the
    connection sent ASKING just before and the script lists the slot as
    importing on this node (then it serves the command once);
  * first applies the script's rules for (node, key): a rule replies with a
    given error text (e.g. "MOVED 866 127.0.0.1:7001", "ASK ...",
    "TRYAGAIN ...", "CLUSTERDOWN ...") `times` times (-1: always), then no
    more; the reply "SERVE" serves the key whatever the topology says (a
    node that answers for a slot its peers still give to another);
  * INFO: redis_mode:cluster, cluster_enabled:1 (what redis-py's
    RedisCluster checks);
  * PING, READONLY, READWRITE, ASKING, SELECT 0, CLIENT ... get +OK/+PONG;
    anything else -ERR unknown command.

Every command a node receives is counted per (node port, command, first
key), and commands that reach a node right after ASKING are counted apart,
as are commands a node got for a slot it neither owns nor imports without
ASKING (they were answered MOVED).

Control port (RESP, one command per line of use):
  SCRIPT <json>   replace the script (see below); counts are kept
  COUNTS          a bulk JSON: {"<port> <CMD> <key>": n, ...}
  RESET           zero the counts
  LOG             a bulk JSON list of the last 2000 commands
                  [[port, asking, args...], ...]

The script (JSON): {"slots": [[start, end, port], ...],   # owners
                    "importing": [[slot, port], ...],    # ASKING accepted
                    "rules": [{"port": P, "key": "k", "reply": "MOVED ...",
                               "times": 1}, ...],
                    "no_shards": false}

Usage: fake_cluster.py CONTROL_PORT NODE_PORT... Runs until killed; every
loop per connection bounded (100,000 commands).
"""

import json
import socket
import sys
import threading

from sp_cluster import SLOTS, key_slot  # the slot function, beside this file


# ------------------------------------------------------------------ RESP

def bulk(b):
    if b is None:
        return b"$-1\r\n"
    b = b if isinstance(b, bytes) else str(b).encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def arr(items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(n):
    return b":%d\r\n" % n


def err(text):
    return b"-" + text.encode() + b"\r\n"


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def command(self):
        line = self._line()
        if line is None:
            return None
        if not line.startswith(b"*"):
            return line.split()              # inline
        args = []
        for _ in range(int(line[1:])):
            head = self._line()
            if head is None or not head.startswith(b"$"):
                return None
            data = self._exact(int(head[1:]))
            if data is None:
                return None
            args.append(data)
        return args


# ----------------------------------------------------------------- state

class Cluster:
    def __init__(self, ports):
        self.ports = ports
        self.lock = threading.Lock()
        self.store = {}
        self.counts = {}
        self.log = []
        self.script = {"slots": [[0, SLOTS - 1, ports[0]]], "importing": [],
                       "rules": [], "no_shards": False}
        self.owner = [ports[0]] * SLOTS
        self.rules = []

    def set_script(self, script):
        with self.lock:
            self.script = script
            owner = [None] * SLOTS
            for start, end, port in script.get("slots", []):
                owner[start:end + 1] = [port] * (end - start + 1)
            self.owner = owner
            self.rules = [dict(r) for r in script.get("rules", [])]

    def count(self, port, name, key, asking):
        tag = f"{port} {name} {key.decode('utf-8', 'replace') if key else '-'}"
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if asking:
            t = "asking " + tag
            self.counts[t] = self.counts.get(t, 0) + 1

    def node_id(self, port):
        return f"{port:040d}"

    def ranges(self):
        """[(start, end, port)] of contiguous owned ranges."""
        out, start = [], 0
        for s in range(1, SLOTS + 1):
            if s == SLOTS or self.owner[s] != self.owner[start]:
                if self.owner[start] is not None:
                    out.append((start, s - 1, self.owner[start]))
                start = s
        return out


KEYS_ALL = {b"MGET", b"DEL", b"EXISTS", b"UNLINK", b"TOUCH", b"SUNIONSTORE"}
KEYS_FIRST = {b"GET", b"SET", b"INCR", b"SADD", b"SMEMBERS"}


def command_keys(args):
    name = args[0].upper()
    if name in KEYS_ALL:
        return args[1:]
    if name == b"MSET":
        return args[1::2]
    if name in KEYS_FIRST and len(args) > 1:
        return args[1:2]
    return []


class Session:
    def __init__(self, cluster, port, sock):
        self.c, self.port, self.sock = cluster, port, sock
        self.asking = False
        self.multi = None

    def topology_reply(self, sub):
        c = self.c
        if sub == b"SLOTS":
            return arr([arr([integer(s), integer(e),
                             arr([bulk("127.0.0.1"), integer(p), bulk(c.node_id(p))])])
                        for s, e, p in c.ranges()])
        if sub == b"SHARDS":
            if c.script.get("no_shards"):
                return err("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.")
            shards = {}
            for s, e, p in c.ranges():
                shards.setdefault(p, []).extend([integer(s), integer(e)])
            out = []
            for p in c.ports:
                if p not in shards:
                    continue
                node = arr([bulk("id"), bulk(c.node_id(p)), bulk("port"), integer(p),
                            bulk("ip"), bulk("127.0.0.1"), bulk("endpoint"),
                            bulk("127.0.0.1"), bulk("role"), bulk("master"),
                            bulk("replication-offset"), integer(0),
                            bulk("health"), bulk("online")])
                out.append(arr([bulk("slots"), arr(shards[p]), bulk("nodes"),
                                arr([node])]))
            return arr(out)
        if sub == b"NODES":
            lines = []
            for p in c.ports:
                slots = " ".join(f"{s}-{e}" if s != e else f"{s}"
                                 for s, e, q in c.ranges() if q == p)
                flags = "myself,master" if p == self.port else "master"
                lines.append(f"{c.node_id(p)} 127.0.0.1:{p}@{p + 10000} {flags} - 0 0 1 "
                             f"connected {slots}".rstrip())
            return bulk("\n".join(lines) + "\n")
        if sub == b"INFO":
            n = sum(1 for o in c.owner if o is not None)
            state = "ok" if n == SLOTS else "fail"
            return bulk(f"cluster_state:{state}\r\ncluster_slots_assigned:{n}\r\n"
                        f"cluster_slots_ok:{n}\r\ncluster_known_nodes:{len(c.ports)}\r\n"
                        f"cluster_size:{len(set(o for o in c.owner if o))}\r\n")
        if sub == b"MYID":
            return bulk(c.node_id(self.port))
        return err(f"ERR unknown subcommand '{sub.decode()}'")

    def handle(self, args):
        name = args[0].upper()
        c = self.c
        asking, self.asking = self.asking, False
        keys = command_keys(args)
        with c.lock:
            c.count(self.port, name.decode(), keys[0] if keys else None, asking)
            c.log.append([self.port, asking] + [a.decode("utf-8", "replace") for a in args])
            del c.log[:-2000]
            if name == b"ASKING":
                self.asking = True
                return b"+OK\r\n"
            if name == b"PING":
                return b"+PONG\r\n"
            if name == b"INFO":
                return bulk("# Server\r\nredis_version:7.0.15\r\n"
                            "redis_mode:cluster\r\n\r\n# Cluster\r\n"
                            "cluster_enabled:1\r\n")
            if name in (b"READONLY", b"READWRITE", b"SELECT", b"CLIENT", b"AUTH"):
                return b"+OK\r\n"
            if name == b"CLUSTER" and len(args) > 1:
                sub = args[1].upper()
                if sub == b"KEYSLOT" and len(args) == 3:
                    return integer(key_slot(args[2]))
                return self.topology_reply(sub)
            if name == b"MULTI":
                self.multi = []
                return b"+OK\r\n"
            if name == b"EXEC":
                queued, self.multi = self.multi or [], None
                return arr([self.run(q, False) for q in queued])
            if self.multi is not None:
                routed = self.route(args, keys, asking)
                if routed is not None:
                    self.multi = None
                    return routed
                self.multi.append(args)
                return b"+QUEUED\r\n"
            routed = self.route(args, keys, asking)
            if routed is not None:
                return routed
            return self.run(args, asking)

    def route(self, args, keys, asking):
        """An error reply if this node does not serve the keys now."""
        c = self.c
        if not keys:
            return None
        slots = {key_slot(k) for k in keys}
        if len(slots) > 1:
            return err("CROSSSLOT Keys in request don't hash to the same slot")
        slot = slots.pop()
        for rule in c.rules:
            if rule["port"] == self.port and rule["key"].encode() in keys \
                    and rule.get("times", 1) != 0:
                if rule.get("times", 1) > 0:
                    rule["times"] -= 1
                if rule["reply"] == "SERVE":
                    return None
                return err(rule["reply"])
        if c.owner[slot] == self.port:
            return None
        if asking and [slot, self.port] in c.script.get("importing", []):
            return None
        tag = f"unowned {self.port} {slot}"
        c.counts[tag] = c.counts.get(tag, 0) + 1
        if c.owner[slot] is None:
            return err("CLUSTERDOWN Hash slot not served")
        return err(f"MOVED {slot} 127.0.0.1:{c.owner[slot]}")

    def run(self, args, asking):
        store, name = self.c.store, args[0].upper()
        if name == b"GET":
            v = store.get(args[1])
            return bulk(v if isinstance(v, bytes) else None)
        if name == b"SET":
            store[args[1]] = args[2]
            return b"+OK\r\n"
        if name == b"INCR":
            v = int(store.get(args[1], b"0")) + 1
            store[args[1]] = str(v).encode()
            return integer(v)
        if name == b"MGET":
            return arr([bulk(store.get(k) if isinstance(store.get(k), bytes) else None)
                        for k in args[1:]])
        if name == b"MSET":
            for k, v in zip(args[1::2], args[2::2]):
                store[k] = v
            return b"+OK\r\n"
        if name in (b"DEL", b"UNLINK"):
            return integer(sum(1 for k in args[1:] if store.pop(k, None) is not None))
        if name in (b"EXISTS", b"TOUCH"):
            return integer(sum(1 for k in args[1:] if k in store))
        if name == b"SADD":
            s = store.setdefault(args[1], set())
            before = len(s)
            s.update(args[2:])
            return integer(len(s) - before)
        if name == b"SUNIONSTORE":
            u = set()
            for k in args[2:]:
                u |= store.get(k, set())
            store[args[1]] = u
            return integer(len(u))
        if name == b"SMEMBERS":
            return arr([bulk(m) for m in sorted(store.get(args[1], set()))])
        return err(f"ERR unknown command '{name.decode('utf-8', 'replace')}'")


def serve_node(cluster, port, conn):
    with conn:
        reader, session = Reader(conn), Session(cluster, port, conn)
        for _ in range(100000):
            args = reader.command()
            if not args:
                return
            conn.sendall(session.handle(args))


def serve_control(cluster, conn):
    with conn:
        reader = Reader(conn)
        for _ in range(10000):
            args = reader.command()
            if not args:
                return
            name = args[0].upper()
            if name == b"SCRIPT":
                cluster.set_script(json.loads(args[1]))
                conn.sendall(b"+OK\r\n")
            elif name == b"COUNTS":
                with cluster.lock:
                    conn.sendall(bulk(json.dumps(cluster.counts)))
            elif name == b"RESET":
                with cluster.lock:
                    cluster.counts.clear()
                    cluster.log.clear()
                conn.sendall(b"+OK\r\n")
            elif name == b"LOG":
                with cluster.lock:
                    conn.sendall(bulk(json.dumps(cluster.log)))
            else:
                conn.sendall(err("ERR unknown control command"))


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def accept_loop(listener, target, *args):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=target, args=args + (conn,), daemon=True).start()


def main():
    control, ports = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
    cluster = Cluster(ports)
    listeners = [(listen(p), p) for p in ports]
    ctl = listen(control)
    for sock, port in listeners:
        threading.Thread(target=accept_loop, args=(sock, serve_node, cluster, port),
                         daemon=True).start()
    accept_loop(ctl, serve_control, cluster)


if __name__ == "__main__":
    main()
