"""The client matrix: the Redis client libraries people install, with their
default options, through a ketama pool of two redis-servers, and with a
password (plain, and as a default:pw URL where the library takes one).

node-redis 6 and ioredis 6 (npm, pinned by tests/clients/node/package-lock.json,
installed by `make deps`), Debian's php-redis and ruby-redis, redis-cli -3.
Each runs the same steps (tests/clients/*/matrix.*): connect, SET/GET,
MSET/MGET/DEL across both servers, a pipeline, a transaction under one hash
tag, one across servers (refused, nothing applied), a script through the
library's helper, a lock, a client name. Every write is read back from the
backends directly."""

import json
import shutil
import subprocess
import unittest

import sptest
from test_redis_proxy import pool_yaml

CLIENTS = sptest.REPO_ROOT / "tests" / "clients"
NODE_DIR = CLIENTS / "node"


def command_for(lib):
    if lib in ("node-redis", "ioredis"):
        if not (NODE_DIR / "node_modules" / "ioredis").is_dir():
            raise AssertionError(f"{NODE_DIR}/node_modules is missing: run "
                                 "`make deps` (npm ci from the lock file)")
        return [shutil.which("node") or "node", str(NODE_DIR / "matrix.js"), lib]
    if lib == "phpredis":
        return [sptest.require_binary("php"), str(CLIENTS / "php" / "matrix.php")]
    if lib == "redis-rb":
        return [sptest.require_binary("ruby"), str(CLIENTS / "ruby" / "matrix.rb")]
    raise ValueError(lib)


class ClientMatrixTest(sptest.HarnessTestCase):

    LIBS = ("node-redis", "ioredis", "phpredis", "redis-rb")

    @classmethod
    def setUpHarness(cls):
        h = cls.harness
        cls.servers = [h.start_redis() for _ in range(2)]
        cls.secure = [h.start_redis() for _ in range(2)]
        for r in cls.secure:
            r.client().config_set("requirepass", "pw")
        cls.port, cls.auth_port = sptest.free_port(), sptest.free_port()
        names = ("shard-a", "shard-b")
        cls.proxy = h.start_shardproxy(
            pool_yaml("plain", cls.port,
                      [(r.port, 1, n) for r, n in zip(cls.servers, names)],
                      hash_tag='"{}"')
            + pool_yaml("secure", cls.auth_port,
                        [(r.port, 1, n) for r, n in zip(cls.secure, names)],
                        redis_auth="pw", hash_tag='"{}"'))

    def backends(self, secure):
        servers = self.secure if secure else self.servers
        clients = [r.client(password="pw" if secure else None) for r in servers]
        for c in clients:
            self.addCleanup(c.close)
        return clients

    def value(self, clients, key):
        """The value of key on the one backend that has it (None: nowhere)."""
        found = [c.get(key) for c in clients if c.exists(key)]
        self.assertLessEqual(len(found), 1, key)
        return found[0] if found else None

    def cross_keys(self, clients, prefix, secure):
        """Two keys of prefix on different backends, by the proxy's placement."""
        import redis
        via = redis.Redis(port=self.auth_port if secure else self.port,
                          password="pw" if secure else None)
        self.addCleanup(via.close)
        homes = {}
        for i in range(500):
            key = f"{prefix}:cross{i}"
            via.set(key, 1)
            home = [n for n, c in enumerate(clients) if c.exists(key)][0]
            via.delete(key)
            homes.setdefault(home, key)
            if len(homes) == 2:
                return homes[0], homes[1]
        self.fail("no key on the second server")

    def run_lib(self, lib, secure):
        clients = self.backends(secure)
        prefix = f"{lib}-{'secure' if secure else 'plain'}"
        key_a, key_b = self.cross_keys(clients, prefix, secure)
        argv = command_for(lib) + [str(self.auth_port if secure else self.port),
                                   prefix, key_a, key_b] + (["pw"] if secure else [])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              cwd=str(CLIENTS))
        self.assertTrue(proc.stdout.strip(), f"{lib}: no output; stderr: {proc.stderr[-2000:]}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertNotIn("fatal", got, f"{lib}: {got}")
        self.assertEqual(proc.returncode, 0, f"{lib}: {got} {proc.stderr[-2000:]}")
        self.check(lib, got, clients, prefix, key_a, key_b)

    def check(self, lib, got, clients, prefix, key_a, key_b):
        k = lambda name: f"{prefix}:{name}"
        msg = f"{lib}: {got}"
        self.assertEqual(got["name"], f"{prefix}-name", msg)
        self.assertEqual(got["get"], "1", msg)
        # phpredis gives false for a nil
        self.assertEqual([None if v is False else v for v in got["mget"]],
                         ["x", "y", None, "z"], msg)
        self.assertEqual(got["del"], 1, msg)
        self.assertEqual(got["pipeline"], 20, msg)
        self.assertEqual(got["txn"][-1], "7", msg)
        self.assertRegex(str(got["crossTxn"]), "CROSSSERVER|EXECABORT", msg)
        self.assertEqual(got["script"], 3, msg)
        self.assertEqual(got["script2"], 7, msg)
        self.assertIn(got["lock"], ("OK", True), msg)
        self.assertIn(got["lock2"], (None, False), msg)
        self.assertEqual(got["unlock"], 1, msg)
        # on the backends
        self.assertEqual(self.value(clients, k("a")), b"1")
        self.assertIsNone(self.value(clients, k("m1")))
        self.assertEqual(self.value(clients, k("m3")), b"z")
        for i in range(20):
            self.assertEqual(self.value(clients, k(f"p{i}")), str(i).encode())
        self.assertEqual(self.value(clients, k("{t}x")), b"7")
        self.assertEqual(self.value(clients, k("counter")), b"7")
        self.assertIsNone(self.value(clients, k("lock")))
        # the refused transaction applied nothing anywhere
        self.assertIsNone(self.value(clients, key_a))
        self.assertIsNone(self.value(clients, key_b))
        # both servers took part
        self.assertTrue(all(c.dbsize() > 0 for c in clients))

    def test_node_redis(self):
        self.run_lib("node-redis", False)

    def test_node_redis_password_url(self):
        self.run_lib("node-redis", True)

    def test_ioredis(self):
        self.run_lib("ioredis", False)

    def test_ioredis_password(self):
        self.run_lib("ioredis", True)

    def test_phpredis(self):
        self.run_lib("phpredis", False)

    def test_phpredis_password(self):
        self.run_lib("phpredis", True)

    def test_redis_rb(self):
        self.run_lib("redis-rb", False)

    def test_redis_rb_password_url(self):
        self.run_lib("redis-rb", True)

    def test_redis_cli_resp3(self):
        cli = sptest.require_binary("redis-cli")

        def run(*args):
            p = subprocess.run([cli, "-3", "--no-raw", "-p", str(self.port), *args],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout.strip()
        self.assertEqual(run("SET", "cli3:a", "1"), "OK")
        self.assertEqual(run("HSET", "cli3:h", "f", "v"), "(integer) 1")
        self.assertEqual(run("HGETALL", "cli3:h"), '1# "f" => "v"')
        self.assertEqual(run("GET", "cli3:none"), "(nil)")
        self.assertEqual(run("MGET", "cli3:a", "cli3:none"), '1) "1"\n2) (nil)')
        clients = self.backends(False)
        self.assertEqual(self.value(clients, "cli3:a"), b"1")


if __name__ == "__main__":
    unittest.main()
