"""A network fuzzer for a running proxy: bad input on one connection must
never harm anybody else (issue #24). Used by test_netfuzz.py (a short,
bounded run in `make test`) and by hand for long runs and memory studies:

    /usr/bin/python3 tests/integration/netfuzz.py --seconds 120 \\
        --redis-port P --memcache-port Q [--seed N]

Each round makes one hostile input for the protocol -- random bytes, or
valid commands mutated (bytes flipped, inserted, deleted, duplicated,
truncated; CR, LF, NUL, TAB, huge and negative numbers spliced in), several
pipelined -- and then:
  1. sends it on a fresh connection and, while the proxy works on it, sends
     a request on the long-lived "bystander" connection, whose reply must
     be exactly the right one within the deadline (no error, no hang);
  2. reads what the hostile connection gets, for a bounded time, and closes
     it (whatever it got is fine: the point is everybody else);
  3. a fresh client gets a good reply to a good request.
Every loop is bounded in rounds and in time. Stdlib only.
"""

import argparse
import random
import socket
import sys
import time

# The keys the bystanders own: no template below names them, so no mutation
# can reach them by chance.
KEEP_KEY = b"netfuzz:keep:bystander"

KEEP_VALUE = b"bystander-value-0123456789"


class Fail(AssertionError):
    pass


# ---------------------------------------------------------------- inputs

def _bulk(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def redis_templates(rng):
    k = b"fz:%d" % rng.randrange(50)
    v = rng.choice([b"v", b"", b"x" * rng.randrange(1, 3000)])
    many = [b"fz:%d" % rng.randrange(50) for _ in range(rng.randrange(1, 40))]
    return [
        _bulk(b"SET", k, v), _bulk(b"GET", k), _bulk(b"DEL", *many),
        _bulk(b"MGET", *many), _bulk(b"MSET", *[x for m in many for x in (m, v)]),
        _bulk(b"EXISTS", *many), _bulk(b"INCR", k), _bulk(b"HSET", k, b"f", v),
        _bulk(b"LPUSH", k, v), _bulk(b"PING"), _bulk(b"ECHO", v),
        _bulk(b"EXPIRE", k, b"100"), _bulk(b"GETRANGE", k, b"0", b"-1"),
        b"SET " + k + b" " + v[:40] + b"\r\n", b"GET " + k + b"\r\n",
        b"MGET " + b" ".join(many) + b"\r\n", b"PING\r\n",
        b"SET \"" + k + b"\" 'a b'\r\n", b"*1\r\n$4\r\nPING\r\n",
    ]


def memcache_templates(rng):
    k = b"fz:%d" % rng.randrange(50)
    v = rng.choice([b"v", b"", b"x" * rng.randrange(1, 3000)])
    many = [b"fz:%d" % rng.randrange(50) for _ in range(rng.randrange(1, 40))]
    return [
        b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v),
        b"add %s 1 100 %d noreply\r\n%s\r\n" % (k, len(v), v),
        b"cas %s 0 0 %d 1\r\n%s\r\n" % (k, len(v), v),
        b"append %s 0 0 %d\r\n%s\r\n" % (k, len(v), v),
        b"get " + b" ".join(many) + b"\r\n", b"gets " + k + b"\r\n",
        b"gat 100 " + b" ".join(many) + b"\r\n", b"delete " + k + b"\r\n",
        b"incr " + k + b" 5\r\n", b"decr " + k + b" 1 noreply\r\n",
        b"touch " + k + b" 10\r\n", b"mg " + k + b" v k f t O1234\r\n",
        b"mg " + k + b" q v\r\n", b"ms %s %d T0 F5\r\n%s\r\n" % (k, len(v), v),
        b"md " + k + b" q\r\n", b"ma " + k + b" N0 v\r\n", b"mn\r\n",
        b"me " + k + b"\r\n", b"version\r\n", b"verbosity 1\r\n",
    ]


SPLICE = [b"\r", b"\n", b"\r\n", b"\0", b"\t", b" ", b"  ", b"\xff", b"-",
          b"-1", b"0", b"99999999999999999999", b"4294967296", b"*", b"$",
          b"\"", b"'", b"\\", b"\v", b"\f", b"noreply", b"q", b"b", b"k",
          b"*-1\r\n", b"$-5\r\n", b"*3\r\n", b"VALUE", b"\r\r\n", b"mn\r\n"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(7)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:                    # flip a byte
            at = min(at, len(data) - 1)
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1:                           # splice a nasty token
            data[at:at] = rng.choice(SPLICE)
        elif op == 2 and data:                  # delete a run
            del data[at:at + rng.randrange(1, 8)]
        elif op == 3 and data:                  # duplicate a run
            end = min(len(data), at + rng.randrange(1, 64))
            data[at:at] = data[at:end] * rng.randrange(1, 4)
        elif op == 4:                           # truncate
            del data[at:]
        elif op == 5:                           # random bytes
            data[at:at] = bytes(rng.randrange(256)
                                for _ in range(rng.randrange(1, 16)))
        else:                                   # a long run of one byte
            data[at:at] = bytes([rng.choice(b"a \r\n\0*$9")]) * rng.choice(
                [100, 2049, 5000, 70000])
    return bytes(data)


def hostile_input(rng, templates):
    kind = rng.randrange(10)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    parts = []
    for _ in range(rng.randrange(1, 5)):
        t = rng.choice(templates(rng))
        parts.append(mutate(rng, t) if rng.randrange(3) else t)
    data = b"".join(parts)
    return mutate(rng, data) if kind == 1 else data


# ---------------------------------------------------------------- wire

def read_until(sock, want, deadline):
    """Read until `want` is seen; returns the data (Fail on EOF or time)."""
    data = b""
    while want not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail(f"no reply within the deadline; got {data[:200]!r}")
        sock.settimeout(left)
        try:
            part = sock.recv(65536)
        except socket.timeout:
            continue
        if not part:
            raise Fail(f"connection closed; got {data[:200]!r}")
        data += part
    return data


def drain(sock, quiet=0.02, limit=0.5):
    """Read what the hostile connection gets until it closes, is quiet for
    `quiet` seconds, or `limit` seconds pass; returns the bytes."""
    data = b""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        sock.settimeout(quiet)
        try:
            part = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not part:
            break
        data += part
    return data


class Proto:
    """What a protocol's good requests and replies look like."""

    def __init__(self, name, port, templates, set_keep, get_keep, want_keep,
                 probe, want_probe, nul=True):
        self.name, self.port, self.templates = name, port, templates
        self.nul = nul                  # hostile inputs may hold NUL bytes
        self.set_keep, self.get_keep, self.want_keep = set_keep, get_keep, want_keep
        self.probe, self.want_probe = probe, want_probe


def redis_proto(port):
    return Proto("redis", port, redis_templates,
                 _bulk(b"SET", KEEP_KEY, KEEP_VALUE), _bulk(b"GET", KEEP_KEY),
                 b"$%d\r\n%s\r\n" % (len(KEEP_VALUE), KEEP_VALUE),
                 _bulk(b"GET", KEEP_KEY),
                 b"$%d\r\n%s\r\n" % (len(KEEP_VALUE), KEEP_VALUE))


def memcache_proto(port):
    want = b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (KEEP_KEY, len(KEEP_VALUE),
                                                KEEP_VALUE)
    return Proto("memcache", port, memcache_templates,
                 b"set %s 0 0 %d\r\n%s\r\n" % (KEEP_KEY, len(KEEP_VALUE),
                                               KEEP_VALUE),
                 b"get %s\r\n" % KEEP_KEY, want, b"get %s\r\n" % KEEP_KEY,
                 want)


def connect(port, timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def ask(sock, payload, want, deadline, what):
    sock.sendall(payload)
    try:
        got = read_until(sock, want, deadline)
    except Fail as e:
        raise Fail(f"{what}: {e}") from None
    if got != want:
        raise Fail(f"{what}: got {got[:200]!r}, want {want!r}")


def run(protos, seconds, rounds, seed, reply_deadline=5.0, log=None):
    """Fuzz each protocol in turn for its share of `seconds` (and at most
    `rounds` rounds each). Returns {name: rounds done}; raises Fail (with
    the seed, the round and the input) at the first harm."""
    rng = random.Random(seed)
    done = {}
    for proto in protos:
        bystander = connect(proto.port)
        try:
            setup = proto.set_keep
            bystander.sendall(setup)
            read_until(bystander, b"\r\n", time.monotonic() + reply_deadline)
            end = time.monotonic() + seconds / len(protos)
            n = 0
            while n < rounds and time.monotonic() < end:
                payload = hostile_input(rng, proto.templates)
                if not proto.nul:
                    payload = payload.replace(b"\0", b"\x01")
                where = (f"{proto.name} round {n} (seed {seed}), hostile "
                         f"input {len(payload)} bytes: {payload[:300]!r}")
                try:
                    hostile = connect(proto.port)
                except OSError as e:
                    raise Fail(f"{where}: connect: {e}") from None
                try:
                    try:
                        hostile.sendall(payload)
                    except OSError:
                        pass            # the proxy may close it at once
                    ask(bystander, proto.get_keep, proto.want_keep,
                        time.monotonic() + reply_deadline,
                        f"{where}: bystander")
                    drain(hostile)
                finally:
                    hostile.close()
                fresh = connect(proto.port)
                try:
                    ask(fresh, proto.probe, proto.want_probe,
                        time.monotonic() + reply_deadline,
                        f"{where}: fresh client")
                finally:
                    fresh.close()
                n += 1
            done[proto.name] = n
            if log:
                log(f"netfuzz: {proto.name}: {n} hostile inputs, nobody else "
                    f"harmed")
        finally:
            bystander.close()
    return done


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-port", type=int)
    ap.add_argument("--memcache-port", type=int)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=10 ** 9)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    protos = []
    if args.redis_port:
        protos.append(redis_proto(args.redis_port))
    if args.memcache_port:
        protos.append(memcache_proto(args.memcache_port))
    if not protos:
        ap.error("give --redis-port and/or --memcache-port")
    try:
        run(protos, args.seconds, args.rounds, seed, log=print)
    except Fail as e:
        print(f"netfuzz: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
