#!/usr/bin/python3
"""gen_redis_commands.py -- generate the proxy's Redis command table.

Reads what a redis-server 7 reports about its commands (COMMAND INFO with
the subcommands, COMMAND DOCS; over RESP3, so the bytes the proxy answers a
HELLO-3 client are the server's own), applies the routing POLICY below, and
writes src/proto/sp_redis_cmdtab.c: one row per command and subcommand with
its arity, key specs, routing kind, flags, and the RESP3 bytes of its
COMMAND INFO and COMMAND DOCS entries. The proxy never guesses a key
position: they are the server's key specs.

    tools/gen_redis_commands.py                 start redis-server on a free
                                                loopback port, write the table
    tools/gen_redis_commands.py --port 6379     use a running server instead
    tools/gen_redis_commands.py --check         fail (exit 1) if the committed
                                                table differs from what the
                                                server says (the ctest test)

Standard library only. Debian's redis-server 7.0 is the reference; the few
Redis 7.2 subcommands clients send on connect are added from EXTRAS.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "src", "proto", "sp_redis_cmdtab.c")

# ---------------------------------------------------------------------------
# The routing policy. Every command and subcommand the server reports gets a
# kind here, by the first rule that names it:
#
#   FANOUT   split per server by its keys, replies merged (merge: ARRAY SUM OK)
#   ALL      sent whole to every server of the pool, replies merged
#            (FIRST: the first server's reply, all must succeed; AND: element
#            by element AND of integer arrays; OK: +OK when every one is)
#   LOCAL    answered by the proxy (local: which handler)
#   FIRST    forwarded whole to the pool's first server (no key to route by)
#   TRANSACTION  MULTI EXEC DISCARD WATCH UNWATCH: pinned connections
#   REFUSED  refused with a reason (blocking, pubsub, admin, other)
#
# and otherwise: a command with keys is FORWARD (routed by its keys, all of
# which must map to one server, else -CROSSSERVER) -- one the server flags
# blocking (BLPOP BLMOVE BZPOPMIN ...) as well: the proxy sends it on a
# server connection lent to its client for the call (flag BLOCKING,
# sp_redis_block.c); a keyless command flagged blocking, pubsub or admin by
# the server is refused for that reason; any other keyless command is
# refused ("other"): the proxy has no server to send it to.
# ---------------------------------------------------------------------------

FANOUT = {
    "mget": "ARRAY",
    "mset": "OK",
    "del": "SUM",
    "unlink": "SUM",
    "touch": "SUM",
    "exists": "SUM",
}

ALL = {
    "script|load": "FIRST",
    "script|exists": "AND",
    "script|flush": "OK",
    "function|load": "FIRST",
    "function|delete": "OK",
    "function|flush": "OK",
    "function|restore": "OK",
    # the keyspace of the pool is every server's (issue 14)
    "dbsize": "SUM",
    "flushdb": "OK",
    "flushall": "OK",
    "keys": "CONCAT",           # every server's keys, one array
    "randomkey": "RANDOM",      # a server's key: a random one that has any
}

LOCAL = {
    "ping": "PING",
    "echo": "ECHO",
    "quit": "QUIT",
    "auth": "AUTH",
    "select": "SELECT",
    "role": "ROLE",
    "command|count": "COMMAND",
    "command|docs": "COMMAND",
    "command|getkeys": "COMMAND",
    "command|info": "COMMAND",
    "command|list": "COMMAND",
    "command": "COMMAND",          # COMMAND with no subcommand
    # the servers one after another, the cursor naming the server (issue 14)
    "scan": "SCAN",
    # issue 13 items 1-4 (client session): handlers in the proxy's session code
    "hello": "HELLO",
    "info": "INFO",
    "reset": "RESET",
    "client|setname": "CLIENT",
    "client|getname": "CLIENT",
    "client|setinfo": "CLIENT",
    "client|id": "CLIENT",
    "client|info": "CLIENT",
    "client|list": "CLIENT",
    "client|kill": "CLIENT",
    "client|reply": "CLIENT",
    "client|no-evict": "CLIENT",
    "client|no-touch": "CLIENT",
    "client|help": "CLIENT",
    # issue 14: pub/sub, multiplexed per worker (sp_redis_pubsub.c)
    "subscribe": "SUBSCRIBE",
    "unsubscribe": "SUBSCRIBE",
    "psubscribe": "SUBSCRIBE",
    "punsubscribe": "SUBSCRIBE",
    "ssubscribe": "SUBSCRIBE",
    "sunsubscribe": "SUBSCRIBE",
    "publish": "PUBLISH",
    "spublish": "PUBLISH",
    "pubsub|channels": "PUBSUB",
    "pubsub|numsub": "PUBSUB",
    "pubsub|numpat": "PUBSUB",
    "pubsub|shardchannels": "PUBSUB",
    "pubsub|shardnumsub": "PUBSUB",
}

FIRST = {
    "time", "lastsave",
    "function|list", "function|dump", "function|stats",
    "command|help", "object|help", "xinfo|help", "xgroup|help",
    "memory|help", "script|help", "function|help", "pubsub|help",
}

TRANSACTION = {"multi", "exec", "discard", "watch", "unwatch"}

# Refused whatever the server's flags say, with the reason given.
REFUSED = {
    "move": "other",            # another database: the pool has one (redis_db)
    "migrate": "admin",
    "restore-asking": "admin",
    "asking": "admin",
    "readonly": "admin",
    "readwrite": "admin",
    "wait": "blocking",
    "script|kill": "admin",
    "script|debug": "admin",
    "function|kill": "admin",
    "command|getkeysandflags": "other",
    # about one server connection: nothing a proxy's client can have
    "client|tracking": "session",
    "client|caching": "session",
    "client|getredir": "session",
    "client|trackinginfo": "session",
    "client|pause": "session",
    "client|unpause": "session",
    "client|unblock": "session",
    "memory|doctor": "admin",
    "memory|malloc-stats": "admin",
    "memory|purge": "admin",
    "memory|stats": "admin",
}

# Keyed commands the server flags as blocking that block only with a BLOCK
# option (flag BLOCK_OPTION): without it they are forwarded as any command,
# with it on a lent connection, as BLPOP is.
BLOCK_OPTION = {"xread", "xreadgroup"}

# No key to route by (a bad key count, or none given): the pool's first
# server, which answers as Redis does. Other keyless requests of a keyed
# command go where the empty key hashes (as nutcracker sends LOLWUT).
NOKEY_FIRST = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}

# Keyless commands forwarded where the empty key hashes, as nutcracker does.
KEYLESS = {"lolwut"}

# Key specs the server reports as "unknown", replaced: (command, spec index).
#   ignore      keys named by patterns (SORT BY/GET): the server of the
#               sorted key reads them; the proxy cannot know them
#   sort-store  SORT's STORE destination, found as Redis's sortGetKeys finds it
SPEC_OVERRIDES = {
    ("sort", 1): "ignore",
    ("sort", 2): "sort-store",
    ("sort_ro", 1): "ignore",
}

# Redis 7.2 subcommands clients send on connect (node-redis, redis-py 5,
# ioredis: CLIENT SETINFO LIB-NAME/LIB-VER), described as 7.2 describes them.
EXTRAS = {
    "client|setinfo": {
        "info": ["client|setinfo", 4,
                 ("set", [("status", "noscript"), ("status", "loading"),
                          ("status", "stale")]),
                 0, 0, 0,
                 ("set", [("status", "@slow"), ("status", "@connection")]),
                 ("set", []), ("set", []), ("set", [])],
        "docs": ("map", [
            ("summary", "Sets information specific to the client or "
                        "connection."),
            ("since", "7.2.0"),
            ("group", "connection"),
            ("complexity", "O(1)"),
            ("arguments", [("map", [
                ("name", "attr"), ("type", "oneof"),
                ("arguments", [
                    ("map", [("name", "libname"), ("type", "string"),
                             ("token", "LIB-NAME")]),
                    ("map", [("name", "libver"), ("type", "string"),
                             ("token", "LIB-VER")])])])])]),
    },
    "client|no-touch": {
        "info": ["client|no-touch", 3,
                 ("set", [("status", "noscript"), ("status", "loading"),
                          ("status", "stale")]),
                 0, 0, 0,
                 ("set", [("status", "@slow"), ("status", "@connection")]),
                 ("set", []), ("set", []), ("set", [])],
        "docs": ("map", [
            ("summary", "Controls whether commands sent by the client affect "
                        "the LRU/LFU of accessed keys."),
            ("since", "7.2.0"),
            ("group", "connection"),
            ("complexity", "O(1)"),
            ("arguments", [("map", [
                ("name", "enabled"), ("type", "oneof"),
                ("arguments", [
                    ("map", [("name", "on"), ("type", "pure-token"),
                             ("token", "ON")]),
                    ("map", [("name", "off"), ("type", "pure-token"),
                             ("token", "OFF")])])])])]),
    },
}

# Row ids stay below sp_redis.h's SP_REDIS_COMMAND_IDS_MAX (refusal counters).
COMMAND_IDS_MAX = 448

# ACL categories, one bit each (COMMAND LIST FILTERBY ACLCAT).
ACL_CATEGORIES = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
    "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast",
    "slow", "blocking", "dangerous", "connection", "transaction",
    "scripting",
]

# ---------------------------------------------------------------------------
# RESP3: a small client, a parser keeping every type, and a writer.
# Values: str (bulk), int, None (null), list (array), ("status", s),
# ("error", s), ("set", [..]), ("map", [(k, v), ..]).
# ---------------------------------------------------------------------------


class Resp3:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def call(self, *args):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        start = len(self.buf)
        value = self._read()
        return value

    def raw_call(self, *args):
        """The reply's bytes and its parse."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        self.taken = b""
        value = self._read()
        return self.taken, value

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("redis-server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.taken = getattr(self, "taken", b"") + line + b"\r\n"
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        self.taken += data + b"\r\n"
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return ("status", rest.decode())
        if kind == b"-":
            return ("error", rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._bytes(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        if kind == b"~":
            return ("set", [self._read() for _ in range(int(rest))])
        if kind == b"%":
            return ("map", [(self._read(), self._read())
                            for _ in range(int(rest))])
        if kind == b"_":
            return None
        raise RuntimeError("unexpected RESP3 type: %r" % line)


def resp3(value):
    """The RESP3 bytes of a parsed value."""
    if value is None:
        return b"_\r\n"
    if isinstance(value, bool):
        raise TypeError("no booleans here")
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, str):
        data = value.encode()
        return b"$%d\r\n%s\r\n" % (len(data), data)
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(resp3(v) for v in value)
    tag, body = value
    if tag == "status":
        return b"+%s\r\n" % body.encode()
    if tag == "error":
        return b"-%s\r\n" % body.encode()
    if tag == "set":
        return b"~%d\r\n" % len(body) + b"".join(resp3(v) for v in body)
    if tag == "map":
        return b"%%%d\r\n" % len(body) + b"".join(
            resp3(k) + resp3(v) for k, v in body)
    raise TypeError(tag)


def mget(m, key, default=None):
    for k, v in m[1]:
        if k == key:
            return v
    return default


def names(s):
    """The strings of a RESP3 set of status replies."""
    return [x[1] if isinstance(x, tuple) else x for x in s[1]]


# ---------------------------------------------------------------------------
# Reading the server
# ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary):
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="gen_redis_commands.")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir, "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited at start" % binary)
        try:
            client = Resp3(port)
            if client.call("PING") == ("status", "PONG"):
                client.sock.close()
                return proc, port, workdir
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("%s did not answer PING in 10 s" % binary)


def read_server(port):
    client = Resp3(port)
    hello = client.call("HELLO", "3")
    version = mget(hello, "version")
    raw, infos = client.raw_call("COMMAND")
    if resp3(infos) != raw:
        raise RuntimeError("RESP3 round trip of COMMAND differs")
    raw, docs = client.raw_call("COMMAND", "DOCS")
    if resp3(docs) != raw:
        raise RuntimeError("RESP3 round trip of COMMAND DOCS differs")
    client.sock.close()
    return version, infos, dict(docs[1])


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


class Row:
    pass


def keyspec(cmd, index, spec):
    flags = [f.lower() for f in names(mget(spec, "flags"))]
    bs = mget(spec, "begin_search")
    fk = mget(spec, "find_keys")
    bs_type, fk_type = mget(bs, "type"), mget(fk, "type")
    ks = {"not_key": "not_key" in flags, "begin": None, "find": None,
          "index": 0, "keyword": None, "a": 0, "b": 0, "c": 0}
    override = SPEC_OVERRIDES.get((cmd, index))
    if override is not None:
        if bs_type != "unknown":
            raise RuntimeError("%s spec %d is no longer unknown" % (cmd, index))
        ks["begin"] = {"ignore": "IGNORE", "sort-store": "SORT_STORE"}[override]
        ks["find"] = "RANGE"
        return ks
    if bs_type == "index":
        ks["begin"], ks["index"] = "INDEX", mget(mget(bs, "spec"), "index")
    elif bs_type == "keyword":
        s = mget(bs, "spec")
        ks["begin"] = "KEYWORD"
        ks["keyword"] = mget(s, "keyword").lower()
        ks["index"] = mget(s, "startfrom")
    else:
        ks["begin"] = "UNKNOWN"
    s = mget(fk, "spec")
    if fk_type == "range":
        ks["find"] = "RANGE"
        ks["a"], ks["b"], ks["c"] = (mget(s, "lastkey"), mget(s, "keystep"),
                                     mget(s, "limit"))
    elif fk_type == "keynum":
        ks["find"] = "KEYNUM"
        ks["a"], ks["b"], ks["c"] = (mget(s, "keynumidx"), mget(s, "firstkey"),
                                     mget(s, "keystep"))
    else:
        ks["find"] = "UNKNOWN"
    return ks


def stream_model(row):
    """What the streaming parser records (sp_redis.h): first_key, last_key,
    key_step and keys_from_numkeys, from the first key spec when it is a
    plain index spec; (0, 0, 1, False) otherwise (the proxy finds the keys
    from the specs once the request is whole)."""
    specs = [k for k in row.specs if not k["not_key"]]
    if not specs or specs[0]["begin"] != "INDEX":
        return 0, 0, 1, False
    k = specs[0]
    first = k["index"]
    if k["find"] == "RANGE" and k["c"] == 0:
        last = first + k["a"] if k["a"] >= 0 else k["a"]
        return first, last, k["b"], False
    if k["find"] == "KEYNUM" and k["a"] == 0 and k["b"] == 1 and k["c"] == 1:
        return first + 1, -1, 1, True
    return 0, 0, 1, False


def multikey(row):
    specs = [k for k in row.specs if not k["not_key"]
             and k["begin"] != "IGNORE"]
    if len(specs) != 1:
        return len(specs) > 1
    k = specs[0]
    return not (k["begin"] == "INDEX" and k["find"] == "RANGE"
                and k["a"] == 0)


def classify(row):
    name = row.name
    flags = row.flags
    row.kind, row.merge, row.local, row.refuse = "FORWARD", "NONE", "NONE", "NONE"
    keyed = any(not k["not_key"] and k["begin"] != "IGNORE"
                for k in row.specs)
    if name in FANOUT:
        row.kind, row.merge = "FANOUT", FANOUT[name]
    elif name in ALL:
        row.kind, row.merge = "ALL", ALL[name]
    elif name in LOCAL:
        row.kind, row.local = "LOCAL", LOCAL[name]
    elif name in FIRST:
        row.kind = "FORWARD"
        row.nokey_first = True
    elif name in TRANSACTION:
        row.kind, row.local = "TRANSACTION", name.upper()
    elif name in REFUSED:
        row.kind, row.refuse = "UNSUPPORTED", REFUSED[name].upper()
    elif row.subs:
        # a container: its subcommands decide; the container row itself
        # answers only "unknown subcommand" or a wrong argument count
        row.kind = "UNSUPPORTED"
        row.refuse = "OTHER"
    elif name in BLOCK_OPTION:
        row.kind = "FORWARD"
    elif "blocking" in flags and keyed:
        row.kind = "FORWARD"        # on a lent connection (flag BLOCKING)
    elif "blocking" in flags:
        row.kind, row.refuse = "UNSUPPORTED", "BLOCKING"
    elif "pubsub" in flags:
        row.kind, row.refuse = "UNSUPPORTED", "PUBSUB"
    elif "admin" in flags:
        row.kind, row.refuse = "UNSUPPORTED", "ADMIN"
    elif keyed or name in KEYLESS:
        row.kind = "FORWARD"
    else:
        row.kind, row.refuse = "UNSUPPORTED", "OTHER"
    for k in row.specs:
        if (row.kind in ("FORWARD", "FANOUT") and k["begin"] == "UNKNOWN"):
            raise RuntimeError("%s: a key spec the proxy cannot follow; add "
                               "it to SPEC_OVERRIDES or refuse it" % name)


def make_row(info, docs, parent=None):
    row = Row()
    row.name = info[0]
    row.arity = info[1]
    row.flags = names(info[2])
    row.acl = [a.lstrip("@") for a in names(info[6])]
    row.specs = [keyspec(row.name, i, s) for i, s in enumerate(info[8][1])]
    row.info = info
    row.docs = docs
    row.parent = parent
    row.nokey_first = row.name in NOKEY_FIRST
    subs = info[9] if isinstance(info[9], list) else []
    row.subs = []
    sub_docs = dict(mget(docs, "subcommands", ("map", []))[1]) if docs else {}
    for sub in subs:
        row.subs.append(make_row(sub, sub_docs.get(sub[0]), row))
    for extra, data in EXTRAS.items():
        if extra.split("|")[0] == row.name and parent is None:
            row.subs.append(make_row(data["info"], data["docs"], row))
    row.subs.sort(key=lambda r: r.name)
    classify(row)
    return row


def listed(row):
    """Whether COMMAND lists it: the proxy serves it (or one subcommand)."""
    if row.subs:
        return any(listed(s) for s in row.subs)
    return row.kind != "UNSUPPORTED"


def info_value(row):
    """The row's COMMAND INFO entry: the server's, subcommands the proxy
    serves only, sorted by name."""
    info = list(row.info)
    if row.subs:
        info[9] = [info_value(s) for s in row.subs if listed(s)]
    return info


def docs_value(row):
    if row.docs is None:
        return None
    if not row.subs:
        return row.docs
    items = []
    for k, v in row.docs[1]:
        if k == "subcommands":
            v = ("map", [(s.name, docs_value(s)) for s in row.subs
                         if listed(s) and s.docs is not None])
        items.append((k, v))
    return ("map", items)


# ---------------------------------------------------------------------------
# C output
# ---------------------------------------------------------------------------


def c_string(data, indent="    ", width=72):
    """data as adjacent C string literals, one per line."""
    out, cur = [], ""
    for byte in data:
        ch = chr(byte)
        if ch == "\r":
            piece = "\\r"
        elif ch == "\n":
            piece = "\\n"
        elif ch in "\"\\":
            piece = "\\" + ch
        elif ch == "?":
            piece = "\\?"               # no trigraphs
        elif 32 <= byte < 127:
            piece = ch
        else:
            piece = "\\%03o" % byte
        cur += piece
        if ch == "\n" and len(cur) >= width:
            out.append('%s"%s"' % (indent, cur))
            cur = ""
    if cur:
        out.append('%s"%s"' % (indent, cur))
    return "\n".join(out) if out else '%s""' % indent


def generate(version, infos, docs):
    rows = [make_row(info, docs.get(info[0])) for info in infos]
    rows.sort(key=lambda r: r.name)

    # every row, flat: ids for the refusal counters
    flat = []
    for r in rows:
        flat.append(r)
        flat.extend(r.subs)
    for i, r in enumerate(flat):
        r.id = i
    if len(flat) > COMMAND_IDS_MAX:
        raise RuntimeError("%d rows: raise SP_REDIS_COMMAND_IDS_MAX (sp_redis.h) "
                           "and COMMAND_IDS_MAX here" % len(flat))

    # text: the RESP3 bytes of each listed row's INFO and DOCS entries
    text = bytearray()
    specs = []
    for r in flat:
        r.spec_first = len(specs)
        specs.extend(r.specs)
        r.info_off = r.info_len = r.docs_off = r.docs_len = 0
        if not listed(r):
            continue
        data = resp3(info_value(r))
        r.info_off, r.info_len = len(text), len(data)
        text += data
        dv = docs_value(r)
        if dv is not None:
            data = resp3(dv)
            r.docs_off, r.docs_len = len(text), len(data)
            text += data

    lines = []
    w = lines.append
    w("/*")
    w(" * sp_redis_cmdtab.c -- GENERATED by tools/gen_redis_commands.py from")
    w(" * redis-server %s (COMMAND INFO, COMMAND DOCS); DO NOT EDIT." % version)
    w(" *")
    w(" * The routing policy is the script's; run it again to change a row:")
    w(" *   tools/gen_redis_commands.py       (the ctest test redis_cmdtab")
    w(" *                                      fails when this file differs)")
    w(" * %d commands, %d subcommands, %d served (COMMAND COUNT)." %
      (len(rows), len(flat) - len(rows), sum(1 for r in rows if listed(r))))
    w(" */")
    w('#include "sp_redis_cmdtab.h"')
    w("")
    w('const char sp_redis_cmdtab_version[] = "%s";' % version)
    w("")
    w("/* The RESP3 bytes of every served row's COMMAND INFO entry, then its")
    w(" * COMMAND DOCS value (rows point into it). */")
    w("const char sp_redis_cmdtab_text[] =")
    w(c_string(bytes(text)) + ";")
    w("const size_t sp_redis_cmdtab_text_len = %d;" % len(text))
    w("")
    w("const struct sp_redis_keyspec sp_redis_keyspecs[] = {")
    for i, k in enumerate(specs):
        kw = '"%s"' % k["keyword"] if k["keyword"] else "NULL"
        w("    { SP_KS_%s, SP_KF_%s, %s, %d, %s, %d, %d, %d }, /* %d */" % (
            k["begin"], k["find"], "true" if k["not_key"] else "false",
            k["index"], kw, k["a"], k["b"], k["c"], i))
    if not specs:
        w("    { 0 }")
    w("};")
    w("")

    def acl_bits(r):
        bits = []
        for a in r.acl:
            if a not in ACL_CATEGORIES:
                raise RuntimeError("unknown ACL category %s" % a)
            bits.append("SP_REDIS_ACL(%s)" % a.upper())
        return " | ".join(bits) if bits else "0"

    def flag_bits(r):
        bits = []
        first, last, step, numkeys = stream_model(r)
        if "write" in r.flags:
            bits.append("WRITE")
        if "readonly" in r.flags:
            bits.append("READONLY")
        if "blocking" in r.flags:
            bits.append("BLOCKING")
        if "pubsub" in r.flags:
            bits.append("PUBSUB")
        if "admin" in r.flags:
            bits.append("ADMIN")
        if "no_mandatory_keys" in r.flags:
            bits.append("NO_MANDATORY_KEYS")
        if multikey(r):
            bits.append("MULTIKEY")
        if r.nokey_first:
            bits.append("NOKEY_FIRST")
        if r.name in BLOCK_OPTION:
            bits.append("BLOCK_OPTION")
        if any(not k["not_key"] and k["begin"] != "IGNORE" for k in r.specs):
            bits.append("KEYS")
        if listed(r):
            bits.append("LISTED")
        return " | ".join("SP_REDIS_F_" + b for b in bits) if bits else "0"

    def row_c(r):
        first, last, step, numkeys = stream_model(r)
        skip = len(r.parent.name) + 1 if r.parent else 0
        subs = "sp_redis_subs_%s" % r.name.replace("-", "_") if r.subs else "NULL"
        return ("    { \"%s\", %d, %d, %d, %d, %d, SP_REDIS_%s, SP_REDIS_MERGE_%s,\n"
                "      SP_REDIS_LOCAL_%s, %s, %s, SP_REDIS_REFUSE_%s,\n"
                "      %s,\n"
                "      %s,\n"
                "      %d, %d, %d, %s, %d, %d, %d, %d, %d },"
                % (r.name, skip, r.arity, first, last, step, r.kind, r.merge,
                   r.local, "true" if "write" in r.flags else "false",
                   "true" if numkeys else "false", r.refuse,
                   flag_bits(r), acl_bits(r),
                   r.spec_first, len(r.specs), len(r.subs), subs, r.id,
                   r.info_off, r.info_len, r.docs_off, r.docs_len))

    for r in rows:
        if not r.subs:
            continue
        w("static const struct sp_redis_command sp_redis_subs_%s[] = {" %
          r.name.replace("-", "_"))
        for s in r.subs:
            w(row_c(s))
        w("};")
        w("")
    w("const struct sp_redis_command sp_redis_cmdtab[] = {")
    for r in rows:
        w(row_c(r))
    w("};")
    w("const size_t sp_redis_cmdtab_len = %d;" % len(rows))
    w("")
    w("/* Where the rows of each first letter begin (a binary search looks only")
    w(" * at its letter's rows): rows [letter[c - 'a'], letter[c - 'a' + 1]). */")
    starts = []
    for c in "abcdefghijklmnopqrstuvwxyz":
        starts.append(next((i for i, r in enumerate(rows) if r.name[0] >= c),
                           len(rows)))
    starts.append(len(rows))
    if any(not ("a" <= r.name[0] <= "z") for r in rows):
        raise RuntimeError("a command name that does not begin with a letter")
    w("const uint16_t sp_redis_cmdtab_letter[27] = {")
    for i in range(0, 27, 9):
        w("    " + ", ".join(str(x) for x in starts[i:i + 9]) + ",")
    w("};")
    w("")
    w("/* Every row by its id (the refusal counters' index). */")
    w("const struct sp_redis_command *const sp_redis_cmdtab_by_id[] = {")
    for r in flat:
        if r.parent is None:
            w("    &sp_redis_cmdtab[%d], /* %s */" % (rows.index(r), r.name))
        else:
            w("    &sp_redis_subs_%s[%d], /* %s */" % (
                r.parent.name.replace("-", "_"), r.parent.subs.index(r),
                r.name))
    w("};")
    w("const size_t sp_redis_cmdtab_ids = %d;" % len(flat))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, help="a running redis-server's port")
    ap.add_argument("--redis-server", default="redis-server",
                    help="the binary to start (default: redis-server)")
    ap.add_argument("--out", default=OUT, help="where to write the table")
    ap.add_argument("--check", action="store_true",
                    help="compare with --out instead of writing it")
    args = ap.parse_args()

    proc = workdir = None
    try:
        port = args.port
        if port is None:
            proc, port, workdir = start_server(args.redis_server)
        version, infos, docs = read_server(port)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        if workdir is not None:
            for f in os.listdir(workdir):
                os.unlink(os.path.join(workdir, f))
            os.rmdir(workdir)

    text = generate(version, infos, docs)
    if args.check:
        try:
            with open(args.out) as f:
                old = f.read()
        except OSError as e:
            print("gen_redis_commands: %s" % e, file=sys.stderr)
            return 1
        if old != text:
            print("gen_redis_commands: %s differs from what redis-server %s "
                  "reports under the script's policy; run "
                  "tools/gen_redis_commands.py and commit the result"
                  % (os.path.relpath(args.out, REPO), version),
                  file=sys.stderr)
            import difflib
            diff = list(difflib.unified_diff(old.splitlines(),
                                             text.splitlines(), "committed",
                                             "generated", lineterm="", n=1))
            print("\n".join(diff[:60]), file=sys.stderr)
            return 1
        print("gen_redis_commands: %s matches redis-server %s" %
              (os.path.relpath(args.out, REPO), version))
        return 0
    with open(args.out, "w") as f:
        f.write(text)
    print("gen_redis_commands: wrote %s (redis-server %s)" %
          (os.path.relpath(args.out, REPO), version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
