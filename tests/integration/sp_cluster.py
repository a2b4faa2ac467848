"""A real Redis Cluster for the integration tests, and the slot arithmetic.

Owns: Redis's key-to-slot function (CRC16/XMODEM of the key or of its
{tag}, mod 16384), a small RESP client that parses whole replies into
Python values (RespConn), and RealCluster: N redis-servers started with
`--cluster-enabled yes` through an sptest Harness (so each is ended by its
pid when the harness closes, also on failure), joined by `redis-cli
--cluster create --cluster-replicas R --cluster-yes`, and the operations a
test performs on it: wait until every live node says cluster_state:ok and
they all agree on the slot map, node ids, primaries, the slot map,
`redis-cli --cluster reshard`, kill -9 of a primary, waiting for its
replica's promotion, and restarting the killed node (it comes back as a
replica).

Each node gets its own cluster bus port (`--cluster-port`, Redis 7), drawn
from sptest's free ports like the client port, so the bus never lands on a
port another test process owns (the default bus port is port + 10000).
Stdlib only; Debian's /usr/bin/python3.
"""

import re
import subprocess
import time

import sptest

SLOTS = 16384


# --------------------------------------------------------------- slots

def _crc16_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC16 = _crc16_table()


def crc16(data):
    """CRC16/XMODEM, the one Redis Cluster uses."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key):
    """Redis's slot of `key` (str or bytes): of its {tag} when the first
    '{' has a non-empty match before the next '}'."""
    key = key.encode() if isinstance(key, str) else key
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) % SLOTS


def spread_keys(n, prefix="k"):
    """n keys "<prefix>:<i>", each in its own slot, their slots spread
    evenly over 0..16383 (key j is the first one found in or after slot
    j * 16384 / n that is not taken yet). Bounded search."""
    by_slot = {}
    for i in range(400000):
        s = key_slot(f"{prefix}:{i}")
        by_slot.setdefault(s, f"{prefix}:{i}")
        if len(by_slot) == SLOTS:
            break
    free = sorted(by_slot)
    keys = []
    for j in range(n):
        want = j * SLOTS // n
        # the first slot >= want still free (wrapping)
        lo = next((k for k, s in enumerate(free) if s >= want), 0)
        keys.append(by_slot[free.pop(lo)])
    return keys


def keys_in_other_slots(n, prefix="x"):
    """n keys in n different slots (for CROSSSLOT cases)."""
    keys, slots = [], set()
    for i in range(1000):
        k = f"{prefix}:{i}"
        if key_slot(k) not in slots:
            slots.add(key_slot(k))
            keys.append(k)
            if len(keys) == n:
                return keys
    raise AssertionError("no keys in distinct slots")


# ----------------------------------------------------------------- RESP

class RespError(Exception):
    """An error reply (-...), kept as a value by RespConn.read."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __eq__(self, other):
        return isinstance(other, RespError) and other.text == self.text

    def __hash__(self):
        return hash(self.text)

    def __repr__(self):
        return f"RespError({self.text!r})"


class Incomplete(Exception):
    pass


def parse(buf, pos=0):
    """(value, next pos) of the RESP2/RESP3 value at buf[pos:]; raises
    Incomplete when it is not all there. Error replies are RespError
    values; nil is None; integers int; arrays lists; maps dicts."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    kind, body, nxt = buf[pos:pos + 1], buf[pos + 1:end], end + 2
    if kind == b"+":
        return body, nxt
    if kind == b"-":
        return RespError(body.decode("utf-8", "replace")), nxt
    if kind == b":":
        return int(body), nxt
    if kind == b"_":
        return None, nxt
    if kind in (b"$", b"=", b"!"):
        size = int(body)
        if size < 0:
            return None, nxt
        if len(buf) < nxt + size + 2:
            raise Incomplete
        return buf[nxt:nxt + size], nxt + size + 2
    if kind in (b"*", b"~", b">", b"%"):
        count = int(body)
        if count < 0:
            return None, nxt
        items = []
        for _ in range(count * (2 if kind == b"%" else 1)):
            item, nxt = parse(buf, nxt)
            items.append(item)
        if kind == b"%":
            return dict(zip(items[::2], items[1::2])), nxt
        return items, nxt
    raise ValueError(f"bad RESP type byte {kind!r} in {buf[pos:pos + 80]!r}")


class RespConn:
    """A blocking RESP connection: call() one command, or send() many and
    read() their replies in order. Raises OSError (ConnectionError) when the
    peer closes, socket.timeout when a reply takes longer than `timeout`."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        import socket
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.pos = 0

    def send(self, *cmds):
        """Each cmd a tuple of args."""
        self.sock.sendall(b"".join(sptest.resp(*c) for c in cmds))

    def read(self):
        while True:
            if self.pos < len(self.buf):
                try:
                    value, self.pos = parse(self.buf, self.pos)
                    if self.pos > 65536:
                        self.buf, self.pos = self.buf[self.pos:], 0
                    return value
                except Incomplete:
                    pass
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed by the peer")
            self.buf += chunk

    def call(self, *args):
        self.send(args)
        return self.read()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ask(port, *args, timeout=5.0):
    """One command on a fresh connection; the reply, or None if the node
    cannot be reached or closes."""
    try:
        with RespConn(port, timeout) as c:
            return c.call(*args)
    except OSError:
        return None


def info_fields(text):
    """{field: value} of an INFO / CLUSTER INFO bulk reply."""
    if isinstance(text, bytes):
        text = text.decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def proxy_pool(port, seeds, **keys):
    """A shardproxy cluster pool 'alpha' (YAML) on loopback `port` with
    `seeds` (ports) as servers and `keys` in their order."""
    lines = ["alpha:", f"  listen: 127.0.0.1:{port}", "  redis: true",
             "  distribution: redis_cluster"]
    lines += [f"  {k}: {v}" for k, v in keys.items()]
    lines.append("  servers:")
    lines += [f"   - 127.0.0.1:{p}:1" for p in seeds]
    return "\n".join(lines) + "\n"


def wait_proxy_serving(port, timeout=20.0):
    """Until the proxy on `port` says cluster_state:ok (CLUSTER INFO, as one
    node) and answers a GET (nil or a value, not an error); on timeout the
    failure shows the last answers."""
    last = {}

    def ok():
        last["info"] = info = ask(port, "CLUSTER", "INFO")
        last["get"] = get = ask(port, "GET", "probe")
        return (isinstance(info, bytes)
                and info_fields(info).get("cluster_state") == "ok"
                and (get is None or isinstance(get, bytes)))
    try:
        sptest.poll_until(ok, f"the proxy on {port} to serve the cluster", timeout)
    except sptest.StartError:
        raise AssertionError(f"the proxy on {port} does not serve the cluster "
                             f"within {timeout}s: CLUSTER INFO {last.get('info')!r}, "
                             f"GET probe {last.get('get')!r}") from None


# ------------------------------------------------------------ the cluster

def redis_version():
    """(major, minor) of the redis-server on PATH, or None."""
    try:
        out = subprocess.run([sptest.require_binary("redis-server"), "--version"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, AssertionError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def cluster_support():
    """None if this machine can run the real-cluster tests, else why not
    (for unittest.SkipTest)."""
    import shutil
    for exe in ("redis-server", "redis-cli"):
        if shutil.which(exe) is None:
            return f"{exe} not installed"
    v = redis_version()
    if v is None or v < (7, 0):
        return f"redis-server {v} has no --cluster-port (Redis 7.0 needed)"
    return None


class Node:
    """One cluster node: its ports, config file, and its Proc (None while
    it is down)."""

    def __init__(self, port, bus_port, conf_path):
        self.port, self.bus_port, self.conf_path = port, bus_port, conf_path
        self.proc = None
        self.id = None

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.alive()


class RealCluster:
    """`nodes` redis-servers made one cluster with `replicas` replicas per
    primary. Use: c = RealCluster(harness); c.start()."""

    def __init__(self, harness, nodes=6, replicas=1, node_timeout=1000):
        self.h = harness
        self.count, self.replicas = nodes, replicas
        self.node_timeout = node_timeout        # ms, cluster-node-timeout
        self.nodes = []                         # Node, in creation order

    # -- processes
    def _start_node(self, node):
        exe = sptest.require_binary("redis-server")
        argv = [exe, "--port", node.port, "--cluster-port", node.bus_port,
                "--bind", "127.0.0.1", "--protected-mode", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", node.conf_path,
                "--cluster-node-timeout", self.node_timeout,
                "--save", "", "--appendonly", "no", "--dir", self.h.tmp.path,
                "--shutdown-timeout", "0",      # no wait for replicas on TERM
                "--logfile", ""]

        def ready(proc):
            return (sptest.owns_listener(proc.pid, node.port) and
                    sptest.tcp_request(node.port, b"PING\r\n") == b"+PONG\r\n")
        node.proc = self.h.start_process(f"node-{node.port}", argv, ready,
                                         f"cluster node PONG on {node.port}")

    def _new_node(self):
        def once():
            port, bus = sptest.free_port(), sptest.free_port()
            node = Node(port, bus, self.h.tmp.path / f"nodes-{port}.conf")
            self._start_node(node)
            return node
        return sptest.start_with_retries(sptest.START_ATTEMPTS, once)

    def start(self, timeout=30.0):
        """Start the nodes, create the cluster, wait until it is whole."""
        self.nodes = [self._new_node() for _ in range(self.count)]
        self.redis_cli(["--cluster", "create"] + [n.addr for n in self.nodes] +
                       ["--cluster-replicas", self.replicas, "--cluster-yes"],
                       timeout=60)
        for n in self.nodes:
            n.id = ask(n.port, "CLUSTER", "MYID").decode()
        self.wait_ready(timeout)
        return self

    def redis_cli(self, args, timeout=60.0):
        """Run redis-cli with args to completion; fail with its output if it
        exits non-zero or outlives `timeout` (killed by pid)."""
        argv = [sptest.require_binary("redis-cli")] + [str(a) for a in args]
        try:
            r = subprocess.run(argv, capture_output=True, timeout=timeout,
                               stdin=subprocess.DEVNULL,
                               preexec_fn=sptest.die_with_parent)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{' '.join(argv)} did not finish within "
                                 f"{timeout}s: {(e.stdout or b'')[-1500:]!r}") from None
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n"
                                 + (r.stdout + r.stderr).decode("utf-8", "replace")[-3000:])
        return r.stdout.decode("utf-8", "replace")

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def node_by_id(self, node_id):
        return next(n for n in self.nodes if n.id == node_id)

    # -- the map
    def slot_ranges(self, port=None):
        """[(start, end, primary port, [replica ports])] from CLUSTER SLOTS
        asked of `port` (default: the first live node), sorted."""
        port = port or self.live()[0].port
        reply = ask(port, "CLUSTER", "SLOTS")
        if not isinstance(reply, list):
            raise AssertionError(f"CLUSTER SLOTS on {port}: {reply!r}")
        return sorted((r[0], r[1], r[2][1], sorted(x[1] for x in r[3:]))
                      for r in reply)

    def slot_map(self, port=None):
        """A list of SLOTS primary ports (None: slot not served)."""
        owners = [None] * SLOTS
        for start, end, primary, _ in self.slot_ranges(port):
            owners[start:end + 1] = [primary] * (end - start + 1)
        return owners

    def owner(self, key, port=None):
        """The port of the primary holding key's slot (asked now)."""
        return self.slot_map(port)[key_slot(key)]

    def primaries(self):
        """Ports of the primaries serving slots, by the first live node."""
        return sorted({r[2] for r in self.slot_ranges()})

    def slot_counts(self):
        """{primary port: slots held}."""
        counts = {}
        for start, end, primary, _ in self.slot_ranges():
            counts[primary] = counts.get(primary, 0) + end - start + 1
        return counts

    def replicas_of(self, primary_port):
        """Ports of the replicas of a primary that are not failed, from
        CLUSTER NODES (CLUSTER SLOTS leaves out a replica whose offset the
        others have not heard of yet)."""
        text = ask(self.live()[0].port, "CLUSTER", "NODES").decode()
        nodes = [line.split() for line in text.splitlines() if line.strip()]
        ids = {f[0]: int(f[1].split("@")[0].rsplit(":", 1)[1]) for f in nodes}
        primary_id = next(i for i, p in ids.items() if p == primary_port)
        return sorted(ids[f[0]] for f in nodes
                      if f[3] == primary_id and "slave" in f[2].split(",")
                      and "fail" not in f[2].split(","))

    def shard_health(self):
        """{port: (role, health)} from CLUSTER SHARDS asked of the first live
        node (a replica is "loading" until the others have heard of a
        replication offset above 0)."""
        out = {}
        for shard in ask(self.live()[0].port, "CLUSTER", "SHARDS"):
            for node in dict(zip(shard[::2], shard[1::2]))[b"nodes"]:
                node = dict(zip(node[::2], node[1::2]))
                out[node[b"port"]] = (node[b"role"].decode(), node[b"health"].decode())
        return out

    def _whole(self):
        """Every live node: cluster_state:ok, no slot migrating or
        importing, the same slot map naming live primaries only, and
        every replica's link up."""
        maps = []
        live_ports = {n.port for n in self.live()}
        for n in self.live():
            info = ask(n.port, "CLUSTER", "INFO")
            if not isinstance(info, bytes) or \
                    info_fields(info).get("cluster_state") != "ok":
                return False
            nodes = ask(n.port, "CLUSTER", "NODES")
            if not isinstance(nodes, bytes) or b"[" in nodes:
                return False       # a slot migrating/importing
            try:
                maps.append(self.slot_ranges(n.port))
            except AssertionError:
                return False
        if not maps or any(m != maps[0] for m in maps):
            return False
        if {r[2] for r in maps[0]} - live_ports:
            return False
        for n in self.live():
            role = ask(n.port, "ROLE")
            if not isinstance(role, list):
                return False
            if role[0] == b"slave" and role[3] != b"connected":
                return False
        return True

    def wait_ready(self, timeout=30.0):
        sptest.poll_until(self._whole, "the cluster whole: cluster_state:ok and "
                          "one slot map on every live node", timeout)

    # -- operations
    def reshard(self, from_port, to_port, slots, timeout=120.0):
        """Move `slots` slots (with their keys) from one primary to another
        with `redis-cli --cluster reshard`; then wait until whole."""
        src, dst = self.node(from_port), self.node(to_port)
        out = self.redis_cli(["--cluster", "reshard", self.live()[0].addr,
                              "--cluster-from", src.id, "--cluster-to", dst.id,
                              "--cluster-slots", slots, "--cluster-yes"],
                             timeout=timeout)
        self.wait_ready()
        return out

    def kill(self, port):
        """kill -9 a node; returns the monotonic time of the kill."""
        node = self.node(port)
        node.proc.signal(9)
        node.proc.popen.wait(10)
        return time.monotonic()

    def wait_promotion(self, old_port, candidates, timeout=30.0):
        """Until one of `candidates` (the replicas `old_port` had) serves
        the slots `old_port` held and the live nodes agree on the map
        (cluster_state:ok); returns its port."""
        def promoted():
            try:
                ranges = self.slot_ranges()
            except (AssertionError, IndexError, TypeError):
                return None
            if any(r[2] == old_port for r in ranges):
                return None
            if not self._whole():
                return None
            now = {r[2] for r in ranges} & set(candidates)
            return now.pop() if now else None
        return sptest.poll_until(promoted, f"a replica of {old_port} promoted",
                                 timeout)

    def restart(self, port, timeout=30.0):
        """Start a killed node again with its own config file: it rejoins
        (as a replica of the one promoted in its place); wait until whole
        and it is known as a replica with its link up."""
        node = self.node(port)
        if node.alive():
            return
        self._start_node(node)

        def rejoined():
            role = ask(port, "ROLE")
            return (isinstance(role, list) and role[0] == b"slave"
                    and role[3] == b"connected" and self._whole())
        sptest.poll_until(rejoined, f"node {port} back as a replica", timeout)

    def restore_balance(self):
        """Every node alive again (killed ones restarted)."""
        for n in self.nodes:
            if not n.alive():
                self.restart(n.port)
