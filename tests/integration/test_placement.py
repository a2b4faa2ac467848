"""Differential key-placement test: `shardproxy --locate` against Debian's nutcracker.

Owns the proof of DESIGN.md section 1 "Key placement".  Four real
redis-servers back one nutcracker config with a pool for every hash x
{ketama, modula}, hash_tag pools, unix-socket pools, single-server pools and a
random pool; servers have unequal weights, given and default names, and are
listed out of name order (nutcracker sorts servers by name, length first).
Keys (ASCII, bytes >= 0x80, long, tagged) are SET through nutcracker and found
on the backends; then `shardproxy -c <same conf> --locate POOL` must name the
same backend for every key.

CLI contract assumed for --locate:
  stdin:  one key per line, LF-terminated; the key is every byte of the line
          before the LF (no trimming; keys here never hold \\n, \\r or \\0).
  stdout: one line per key, in input order: KEY " -> " NAME " " ADDR "\\n",
          KEY as raw bytes, NAME the server's given name else "host:port"
          (an unnamed unix socket: its path; nutcracker's own "path:" is
          accepted too), ADDR "host:port" (for a unix socket, its path).
  exit:   0; for a `distribution: random` pool exit 1 with a message
          containing "random" on stderr.

Run: /usr/bin/python3 tests/integration/test_placement.py  (SHARDPROXY_BIN
selects the binary; without one the shardproxy tests skip, the nutcracker side
still runs).  SPTEST_SEED changes the key set.
"""

import os
import random
import sys
import time
from collections import Counter, namedtuple

import sptest

HASHES = ("one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
          "fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins")
SEED = os.environ.get("SPTEST_SEED", "shardproxy-placement-1")
MIN_KEYS_PER_POOL = 2000
LOCATE_TIMEOUT = 60.0

# A member of a pool: which of the 4 backends, its weight, its given name
# (None: nutcracker's default), and whether it is reached by unix socket.
Member = namedtuple("Member", "backend weight name unix")

# Weights are unequal; names differ in length and are listed out of sorted
# order so that nutcracker's sort-by-name shows up in modula placement.
LAYOUTS = {
    "plain": (Member(0, 1, None, False), Member(1, 2, None, False),
              Member(2, 3, None, False), Member(3, 5, None, False)),
    "named": (Member(2, 5, "alpha", False), Member(0, 1, "b", False),
              Member(3, 2, "gamma3", False), Member(1, 3, "de", False)),
    "mixed": (Member(3, 1, "zeta", False), Member(1, 4, None, False),
              Member(0, 1, "eta", False), Member(2, 2, None, False)),
    "even": (Member(1, 1, None, False), Member(3, 1, "s3", False),
             Member(0, 1, None, False), Member(2, 1, "s2", False)),
    "unix": (Member(0, 2, None, True), Member(1, 1, "tcp1", False),
             Member(2, 3, None, False), Member(3, 1, "u3", True)),
    # Five entries, two of them on backend 3 under different names: with
    # weights 1,1,1,11,11 nutcracker's float32 arithmetic gives each weight-1
    # server 28 ketama points where exact (or double) math gives 32.
    "five": (Member(0, 1, "w1a", False), Member(3, 11, "heavy", False),
             Member(1, 1, None, False), Member(3, 11, "heavy2", False),
             Member(2, 1, "w1c", False)),
    "single": (Member(2, 3, None, False),),
    "single_named": (Member(1, 2, "solo", False),),
}
LAYOUT_CYCLE = ("plain", "named", "mixed", "even")

Pool = namedtuple("Pool", "name dist hash layout tag")


def pool_specs():
    """Every pool of the differential config, the random pool last."""
    pools = []
    for i, h in enumerate(HASHES):
        pools.append(Pool(f"ketama_{h}", "ketama", h, LAYOUT_CYCLE[i % 4], None))
        pools.append(Pool(f"modula_{h}", "modula", h, LAYOUT_CYCLE[(i + 2) % 4], None))
    pools += [
        Pool("tag_brace", "ketama", "fnv1a_64", "named", "{}"),
        Pool("tag_dollar", "modula", "crc32a", "plain", "$$"),
        Pool("tag_colon", "ketama", "murmur", "mixed", "::"),
        Pool("tag_angle", "modula", "md5", "even", "<>"),
        Pool("five_ketama_md5", "ketama", "md5", "five", None),
        Pool("five_ketama_fnv1a_64", "ketama", "fnv1a_64", "five", None),
        Pool("unix_ketama", "ketama", "md5", "unix", None),
        Pool("unix_modula", "modula", "fnv1a_32", "unix", None),
        Pool("single_ketama", "ketama", "one_at_a_time", "single", None),
        Pool("single_modula", "modula", "hsieh", "single_named", None),
        Pool("random_pool", "random", "fnv1a_64", "plain", None),
    ]
    return pools


# ------------------------------------------------------------------ config

def member_addr(member, backends):
    b = backends[member.backend]
    return b.unixsocket if member.unix else b.addr


def server_line(member, backends):
    line = f"{member_addr(member, backends)}:{member.weight}"
    return f"{line} {member.name}" if member.name else line


def render_conf(pools, backends, port_for):
    out = []
    for p in pools:
        out += [f"{p.name}:",
                f"  listen: 127.0.0.1:{port_for(p.name)}",
                f"  hash: {p.hash}",
                f"  distribution: {p.dist}"]
        if p.tag:
            out.append(f'  hash_tag: "{p.tag}"')
        out += ["  redis: true", "  timeout: 10000", "  auto_eject_hosts: false",
                "  servers:"]
        out += [f"   - {server_line(m, backends)}" for m in LAYOUTS[p.layout]]
    return "\n".join(out) + "\n"


def accepted_names(member, backends):
    """NAME values --locate may print for a member: its given name, else
    host:port.  For an unnamed unix socket nutcracker's own name is "path:"
    (its parser appends an empty port); the bare path is accepted too."""
    if member.name:
        return {member.name.encode()}
    addr = member_addr(member, backends).encode()
    return {addr, addr + b":"} if member.unix else {addr}


# -------------------------------------------------------------------- keys

PRINTABLE = bytes(range(0x20, 0x7F))
LOW = bytes(b for b in range(0x01, 0x80) if b not in (0x0A, 0x0D))
HIGH = bytes(range(0x80, 0x100))


def key_ok(key):
    return (len(key) > 0 and b"\n" not in key and b"\r" not in key
            and b"\0" not in key and b" -> " not in key)


def mixed_bytes(rng, n, p_high=0.5):
    """n bytes, each >= 0x80 with probability p_high, else low ASCII."""
    return bytes(rng.choice(HIGH) if rng.random() < p_high else rng.choice(LOW)
                 for _ in range(n))


def printable(rng, n):
    return bytes(rng.choices(PRINTABLE, k=n))


def with_token(rng, body, token):
    at = rng.randint(0, len(body))
    return body[:at] + token + body[at:]


def tagged_keys(rng, tag, token):
    """Keys around a 2-char hash tag: the issue's fixed shapes, then random
    shapes (empty tag, unclosed, reversed, nested, two tags, shared tags)."""
    lt, rt = tag[0].encode(), tag[1].encode()
    fixed = [b"user" + lt + b"42" + rt + b":x", lt + rt + b"empty-tag",
             b"a" + lt + b"b", b"x" + rt + b"y" + lt + b"z" + rt,
             lt + b"only" + rt, lt + lt + b"x" + rt, lt + b"x" + rt + rt]
    keys = fixed + [k + b"." + token for k in fixed]
    shared = [printable(rng, rng.randint(1, 6)) for _ in range(5)]
    for i in range(240):
        content = (shared[i % 5] if i < 60 else
                   mixed_bytes(rng, rng.randint(0, 12), 0.3))
        pre, post = printable(rng, rng.randint(0, 8)), printable(rng, rng.randint(0, 8))
        shape = i % 6
        if shape == 0 or i < 60:
            k = pre + lt + content + rt + post + b"." + token
        elif shape == 1:
            k = lt + content + rt + b"." + token
        elif shape == 2:
            k = pre + b"." + token + lt + content
        elif shape == 3:
            k = pre + rt + content + lt + b"." + token + rt
        elif shape == 4:
            k = lt + content + rt + lt + post + rt + b"." + token
        else:
            k = pre + lt + lt + content + rt + rt + b"." + token
        keys.append(k)
    return keys


def pool_keys(pool):
    """>= 2000 distinct keys for `pool`, deterministic for (SEED, pool)."""
    rng = random.Random(f"{SEED}:{pool.name}")
    token = pool.name.encode()
    cands = [bytes([b]) for b in range(1, 256)]                 # every single byte
    cands += [with_token(rng, printable(rng, rng.randint(0, 40)), token + b".%d" % i)
              for i in range(900)]                             # ASCII
    cands += [mixed_bytes(rng, rng.randint(1, 48)) if i % 3 == 0 else
              with_token(rng, mixed_bytes(rng, rng.randint(1, 48)), token + b".h%d" % i)
              for i in range(600)]                             # bytes >= 0x80
    cands += [with_token(rng, mixed_bytes(rng, rng.randint(100, 1000), 0.3),
                         token + b".l%d" % i)
              for i in range(250)]                             # long
    cands += tagged_keys(rng, pool.tag or "{}", token)
    seen, keys = set(), []
    for k in cands:
        if key_ok(k) and k not in seen:
            seen.add(k)
            keys.append(k)
    return keys


# ------------------------------------------------------- nutcracker placement

def chunks(seq, n):
    return (seq[i:i + n] for i in range(0, len(seq), n))


def place_via_nutcracker(pool_port, keys, backends):
    """SET every key through nutcracker, then ask each backend which keys it
    holds; flush the backends.  Returns {key: [backend indexes]}."""
    import redis
    proxy = redis.Redis(host="127.0.0.1", port=pool_port, socket_timeout=30)
    try:
        for chunk in chunks(keys, 500):
            pipe = proxy.pipeline(transaction=False)
            for k in chunk:
                pipe.set(k, b"1")
            replies = pipe.execute()
            bad = [r for r in replies if r is not True]
            if bad:
                raise AssertionError(f"SET through nutcracker failed: {bad[:3]}")
    finally:
        proxy.close()
    holders = {}
    for i, b in enumerate(backends):
        c = b.client()
        for k in c.keys(b"*"):
            holders.setdefault(k, []).append(i)
        c.flushall()
        c.close()
    return holders


def check_holders(pool, keys, holders):
    """Every key on exactly one backend of the pool, nothing else stored.
    Returns the backend index per key, in key order."""
    members = {m.backend for m in LAYOUTS[pool.layout]}
    problems = []
    for k in keys:
        where = holders.get(k, [])
        if len(where) != 1 or where[0] not in members:
            problems.append(f"{k!r} on backends {where}")
    strays = set(holders) - set(keys)
    if strays:
        problems.append(f"{len(strays)} unexpected keys on backends, e.g. "
                        f"{sorted(strays)[:3]!r}")
    if problems:
        raise AssertionError(f"pool {pool.name}: nutcracker placement unclear "
                             f"({len(problems)} problems): " + "; ".join(problems[:10]))
    return [holders[k][0] for k in keys]


# -------------------------------------------------------- shardproxy locate

def parse_locate(stdout, keys):
    """[(NAME, ADDR) or None per key] from --locate's stdout, plus an error
    string if the line count is wrong.  The key part of each line must be the
    key itself followed by " -> "; NAME and ADDR split at the last space."""
    lines = stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    err = None
    if len(lines) != len(keys):
        err = f"{len(lines)} output lines for {len(keys)} keys"
    out = []
    for key, line in zip(keys, lines):
        prefix = key + b" -> "
        if not line.startswith(prefix):
            out.append(None)
            continue
        name, _, addr = line[len(prefix):].rpartition(b" ")
        out.append((name, addr))
    out += [None] * (len(keys) - len(out))
    return out, err


def compare(pool, keys, expected, located, backends):
    """Mismatches as (key, nutcracker's backend, shardproxy's answer).  A
    backend may carry several members (aliases); the answer must name the
    right backend by ADDR and, by NAME, one of that backend's members."""
    members = LAYOUTS[pool.layout]
    backend_of = {member_addr(m, backends).encode(): m.backend for m in members}
    names_of = {}
    for m in members:
        names_of.setdefault(m.backend, set()).update(accepted_names(m, backends))
    wrong = []
    for key, want, got in zip(keys, expected, located):
        if got is not None:
            name, addr = got
            if backend_of.get(addr) == want and name in names_of[want]:
                continue
        want_desc = (b"|".join(sorted(names_of[want])).decode("utf-8", "replace") +
                     f" (backend {want}, {backends[want].addr})")
        got_desc = ("malformed or missing line" if got is None else
                    b" ".join(got).decode("utf-8", "replace"))
        wrong.append((key, want_desc, got_desc))
    return wrong


# ------------------------------------------------------------------- tests

class PlacementTest(sptest.HarnessTestCase):
    """Placement of every key of every pool, nutcracker vs shardproxy."""

    @classmethod
    def setUpHarness(cls):
        t0 = time.monotonic()
        h = cls.harness
        cls.backends = [h.start_redis(unixsocket=True) for _ in range(4)]
        cls.pools = pool_specs()
        cls.nutcracker = h.start_nutcracker(
            lambda: render_conf(cls.pools, cls.backends, lambda _: sptest.free_port()))
        for b in cls.backends:
            b.client().flushall()
        cls.keys, cls.expected = {}, {}
        for pool in cls.pools:
            if pool.dist == "random":
                continue
            keys = pool_keys(pool)
            holders = place_via_nutcracker(cls.nutcracker.pools[pool.name], keys, cls.backends)
            cls.keys[pool.name] = keys
            cls.expected[pool.name] = check_holders(pool, keys, holders)
        print(f"\n[placement] nutcracker placed {sum(map(len, cls.keys.values()))} keys "
              f"in {len(cls.keys)} pools in {time.monotonic() - t0:.1f}s",
              file=sys.stderr)

    def placed_pools(self):
        return [p for p in self.pools if p.dist != "random"]

    def test_nutcracker_side_is_sound(self):
        """The reference itself: enough keys, every multi-server pool uses
        every member, and keys sharing a hash tag share a backend."""
        for pool in self.placed_pools():
            with self.subTest(pool=pool.name):
                keys, where = self.keys[pool.name], self.expected[pool.name]
                self.assertGreaterEqual(len(keys), MIN_KEYS_PER_POOL)
                members = {m.backend for m in LAYOUTS[pool.layout]}
                if (pool.dist, pool.hash) == ("ketama", "crc32"):
                    # crc32 is 15 bits, so every key falls before the first
                    # ketama point: one server takes all (nutcracker does so).
                    self.assertEqual(len(set(where)), 1)
                else:
                    self.assertEqual(set(where), members,
                                     f"{pool.name}: some member received no key")
                if pool.tag:
                    self.assert_tag_colocation(pool, keys, where)

    def assert_tag_colocation(self, pool, keys, where):
        """Keys whose tag (nutcracker's rule: first left char, then the first
        right char after it, non-empty between) is equal share a backend."""
        lt, rt = pool.tag[0].encode(), pool.tag[1].encode()
        groups = {}
        for k, b in zip(keys, where):
            start = k.find(lt)
            end = k.find(rt, start + 1) if start >= 0 else -1
            if start >= 0 and end - start > 1:
                groups.setdefault(k[start + 1:end], []).append(b)
        split = {t: set(bs) for t, bs in groups.items() if len(set(bs)) > 1}
        self.assertFalse(split, f"{pool.name}: keys sharing a tag split across backends")
        self.assertTrue(any(len(bs) >= 5 for bs in groups.values()),
                        f"{pool.name}: no tag shared by >= 5 keys; generator broken")

    def test_locate_agrees_with_nutcracker(self):
        sptest.shardproxy_bin(skip_if_missing=True)
        conf = self.nutcracker.conf_path
        failures, report = [], []
        for pool in self.placed_pools():
            keys, expected = self.keys[pool.name], self.expected[pool.name]
            run = self.harness.run_shardproxy(
                ["-c", conf, "--locate", pool.name],
                input=b"".join(k + b"\n" for k in keys), timeout=LOCATE_TIMEOUT)
            if run.returncode != 0:
                failures.append(f"{pool.name}: --locate exited {run.returncode}: "
                                f"{run.stderr[-500:].decode('utf-8', 'replace')}")
                report.append(f"  {pool.name:22} FAILED (exit {run.returncode})")
                continue
            located, count_err = parse_locate(run.stdout, keys)
            wrong = compare(pool, keys, expected, located, self.backends)
            if count_err:
                failures.append(f"{pool.name}: {count_err}")
            failures += [(pool.name,) + w for w in wrong]
            per_backend = dict(sorted(Counter(expected).items()))
            report.append(f"  {pool.name:22} {pool.dist:6} {pool.hash:13} "
                          f"agree {len(keys) - len(wrong):5}/{len(keys)}  "
                          f"keys per backend {per_backend}")
        print("\n[placement] shardproxy --locate vs nutcracker:\n" + "\n".join(report),
              file=sys.stderr)
        if failures:
            shown = "\n".join(
                f if isinstance(f, str) else
                f"  pool {f[0]}: key {f[1]!r}: nutcracker -> {f[2]}, shardproxy -> {f[3]}"
                for f in failures[:10])
            self.fail(f"{len(failures)} disagreements with nutcracker; first 10:\n{shown}")

    def test_locate_refuses_random_distribution(self):
        sptest.shardproxy_bin(skip_if_missing=True)
        run = self.harness.run_shardproxy(
            ["-c", self.nutcracker.conf_path, "--locate", "random_pool"],
            input=b"foo\nbar\n", timeout=LOCATE_TIMEOUT)
        self.assertEqual(run.returncode, 1,
                         f"stdout {run.stdout[:200]!r} stderr {run.stderr[:500]!r}")
        self.assertIn(b"random", run.stderr.lower(),
                      f"stderr should explain that random has no fixed server: "
                      f"{run.stderr[:500]!r}")


if __name__ == "__main__":
    sptest.main()
