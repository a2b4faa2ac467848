"""The command line of the real binary: exit codes and texts of -t, -V, -h,
-D and --locate, and a differential check of configuration verdicts: for a
corpus of configurations, `shardproxy -t` must accept exactly what Debian's
`nutcracker -t` accepts, except the cases listed in STRICTER (documented in
README.md) and our extensions (EXTENSIONS).

Run: /usr/bin/python3 tests/integration/test_cli.py
"""

import shutil
import subprocess

import sptest

SERVERS = "  servers:\n   - 127.0.0.1:6379:1\n"

# name -> configuration text; nutcracker's verdict is asked, not assumed.
CORPUS = {
    "ok": "alpha:\n  listen: 127.0.0.1:22121\n  hash: fnv1a_64\n"
          "  distribution: ketama\n" + SERVERS,
    "every_key": "alpha:\n  listen: 127.0.0.1:22121\n  hash: murmur\n"
                 "  hash_tag: \"{}\"\n  distribution: modula\n  timeout: 400\n"
                 "  backlog: 1024\n  client_connections: 10\n  redis: true\n"
                 "  redis_auth: pw\n  redis_db: 2\n  preconnect: true\n"
                 "  auto_eject_hosts: true\n  server_connections: 2\n"
                 "  server_retry_timeout: 100\n  server_failure_limit: 3\n"
                 "  tcpkeepalive: true\n" + SERVERS,
    "unix": "alpha:\n  listen: /tmp/sp-cli-x.sock 0666\n  servers:\n"
            "   - /tmp/r.sock:1 foo\n   - /tmp/s.sock:1\n",
    "crlf": "alpha:\r\n  listen: 127.0.0.1:22121\r\n  servers:\r\n"
            "   - 127.0.0.1:6379:1\n",
    "hostname": "alpha:\n  listen: localhost:22121\n  servers:\n"
                "   - localhost:6379:1\n",
    "unresolved_server": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                         "   - no.such.host.invalid:6379:1\n",
    "two_pools": "a:\n  listen: 127.0.0.1:22121\n" + SERVERS +
                 "b:\n  listen: 127.0.0.1:22122\n" + SERVERS,
    "same_addr_two_names": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                           "   - 127.0.0.1:6379:1 a\n   - 127.0.0.1:6379:1 b\n",
    "global_with_listen": "global:\n  listen: 127.0.0.1:22121\n" + SERVERS,
    "zero_values": "alpha:\n  listen: 127.0.0.1:22121\n  timeout: 0\n"
                   "  backlog: 0\n  server_failure_limit: 0\n" + SERVERS,
    "bad_hash": "alpha:\n  listen: 127.0.0.1:22121\n  hash: fnv2\n" + SERVERS,
    "unknown_key": "alpha:\n  listen: 127.0.0.1:22121\n  foo: bar\n" + SERVERS,
    "dup_key": "alpha:\n  listen: 127.0.0.1:22121\n  hash: md5\n"
               "  hash: md5\n" + SERVERS,
    "negative": "alpha:\n  listen: 127.0.0.1:22121\n  timeout: -1\n" + SERVERS,
    "plus": "alpha:\n  listen: 127.0.0.1:22121\n  timeout: +5\n" + SERVERS,
    "tag_one": "alpha:\n  listen: 127.0.0.1:22121\n  hash_tag: \"{\"\n" + SERVERS,
    "bool_yes": "alpha:\n  listen: 127.0.0.1:22121\n  redis: yes\n" + SERVERS,
    "bool_True": "alpha:\n  listen: 127.0.0.1:22121\n  redis: True\n" + SERVERS,
    "auth_memcache": "alpha:\n  listen: 127.0.0.1:22121\n  redis_auth: x\n" + SERVERS,
    "sc0": "alpha:\n  listen: 127.0.0.1:22121\n  server_connections: 0\n" + SERVERS,
    "weight0": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
               "   - 127.0.0.1:6379:0\n",
    "weight_x": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                "   - 127.0.0.1:6379:x\n",
    "no_servers": "alpha:\n  listen: 127.0.0.1:22121\n",
    "empty_servers": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n",
    "no_listen": "alpha:\n" + SERVERS,
    "dup_name": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                "   - 127.0.0.1:6379:1 a\n   - 127.0.0.1:6380:1 a\n",
    "dup_addr": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                "   - 127.0.0.1:6379:1\n   - 127.0.0.1:6379:1\n",
    "name_clash": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                  "   - 127.0.0.1:6379:1 127.0.0.1:6380\n   - 127.0.0.1:6380:1\n",
    "dup_listen": "a:\n  listen: 127.0.0.1:22121\n" + SERVERS +
                  "b:\n  listen: 127.0.0.1:22121\n" + SERVERS,
    "dup_pool": "a:\n  listen: 127.0.0.1:22121\n" + SERVERS +
                "a:\n  listen: 127.0.0.1:22122\n" + SERVERS,
    "bad_port": "alpha:\n  listen: 127.0.0.1:99999\n" + SERVERS,
    "no_port": "alpha:\n  listen: 127.0.0.1\n" + SERVERS,
    "listen_perm_on_tcp": "alpha:\n  listen: 127.0.0.1:22121 0666\n" + SERVERS,
    "server_port0": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                    "   - 127.0.0.1:0:1\n",
    "server_spaces": "alpha:\n  listen: 127.0.0.1:22121\n  servers:\n"
                     "   - 127.0.0.1:6379:1 a b\n",
    "listen_unresolved": "alpha:\n  listen: no.such.host.invalid:22121\n" + SERVERS,
    "empty": "",
    "scalar_pool": "alpha: 5\n",
    "seq_root": "- a\n- b\n",
    "bad_dist": "alpha:\n  listen: 127.0.0.1:22121\n  distribution: vnode\n" + SERVERS,
    "bad_yaml": "alpha:\n  listen: 127.0.0.1:22121\n   hash: md5\n",
    # extensions and stricter cases (see below)
    "reuseport": "alpha:\n  listen: 127.0.0.1:22121\n  reuseport: true\n" + SERVERS,
    "v6_listen": "alpha:\n  listen: \"[::1]:22121\"\n" + SERVERS,
    "perm_999": "alpha:\n  listen: /tmp/sp-cli-y.sock 999\n" + SERVERS,
    "huge_number": "alpha:\n  listen: 127.0.0.1:22121\n  timeout: 99999999999\n"
                   + SERVERS,
}

# We accept these, nutcracker 0.5 refuses them (README: reuseport, [v6]).
EXTENSIONS = {"reuseport", "v6_listen"}
# nutcracker 0.5 silently accepts these; we refuse them (README).
STRICTER = {"perm_999", "huge_number"}


class CliTest(sptest.HarnessTestCase):

    def write_conf(self, name, text):
        path = self.harness.tmp.path / f"{name}.yml"
        path.write_bytes(text.encode())
        return path

    def run_sp(self, *args, input=b""):
        return self.harness.run_shardproxy(list(args), input=input)

    def test_version(self):
        r = self.run_sp("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"^This is shardproxy-\d+\.\d+\.\d+\n$")
        self.assertEqual(self.run_sp("--version").stdout, r.stdout)

    def test_help(self):
        r = self.run_sp("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--test-conf", "--describe-stats", "--mbuf-size=N", "--locate POOL"):
            self.assertIn(flag, r.stdout.decode())

    def test_describe_stats_lists_nutcrackers_fields(self):
        ours = self.run_sp("-D")
        self.assertEqual(ours.returncode, 0)
        nutcracker = shutil.which("nutcracker")
        theirs = subprocess.run([nutcracker, "-D"], capture_output=True, timeout=10)
        # nutcracker prints the same field lines (after its version banner)
        field_lines = [l for l in (theirs.stdout + theirs.stderr).decode().splitlines()
                       if l.startswith("  ")]
        self.assertGreater(len(field_lines), 15)
        ours_lines = ours.stdout.decode().splitlines()
        for line in field_lines:
            self.assertIn(line, ours_lines)

    def test_bad_flags_exit_1(self):
        for args, message in ((["-m", "100"], "option -m requires a size between 512"),
                              (["-v", "12"], "option -v requires a number between 0 and 11"),
                              (["-Z"], "invalid option -- 'Z'")):
            r = self.run_sp(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(message, r.stderr.decode())

    def test_test_conf_ok_and_invalid(self):
        good = self.write_conf("good", CORPUS["ok"])
        r = self.run_sp("-t", "-c", good)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr.decode(),
                         f"shardproxy: configuration file '{good}' syntax is ok\n")
        bad = self.write_conf("bad", CORPUS["bad_hash"])
        r = self.run_sp("--test-conf", "--conf-file", bad)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode().splitlines(), [
            f"{bad}:3:9: pool 'alpha': hash 'fnv2' is not one of one_at_a_time, md5, "
            "crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, "
            "murmur, jenkins",
            f"shardproxy: configuration file '{bad}' syntax is invalid"])

    def test_missing_conf_file(self):
        missing = self.harness.tmp.path / "nope.yml"
        r = self.run_sp("-t", "-c", missing)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{missing}: cannot open: No such file or directory",
                      r.stderr.decode())

    def test_shipped_configs_pass_both(self):
        nutcracker = shutil.which("nutcracker")
        for name in ("shardproxy.yml", "nutcracker.yml"):
            path = sptest.REPO_ROOT / "conf" / name
            self.assertEqual(self.run_sp("-t", "-c", path).returncode, 0, name)
        r = subprocess.run([nutcracker, "-t", "-c", sptest.REPO_ROOT / "conf" / "nutcracker.yml"],
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0)

    def test_verdicts_match_nutcracker(self):
        nutcracker = shutil.which("nutcracker")
        self.assertIsNotNone(nutcracker, "Debian's nutcracker is required")
        disagreements = []
        for name, text in CORPUS.items():
            path = self.write_conf(f"corpus-{name}", text)
            theirs = subprocess.run([nutcracker, "-t", "-c", path],
                                    capture_output=True, timeout=10).returncode
            ours = self.run_sp("-t", "-c", path)
            with self.subTest(config=name):
                self.assertIn(ours.returncode, (0, 1))
                if ours.returncode == 1:
                    # the first line names the file, a line and a column
                    self.assertRegex(ours.stderr.decode().splitlines()[0],
                                     rf"^{path}(:\d+:\d+)?: ")
                expected = theirs
                if name in EXTENSIONS:
                    self.assertEqual(theirs, 1, f"{name}: nutcracker accepts it now")
                    expected = 0
                if name in STRICTER:
                    self.assertEqual(theirs, 0, f"{name}: nutcracker refuses it now")
                    expected = 1
                if ours.returncode != expected:
                    disagreements.append((name, theirs, ours.returncode,
                                          ours.stderr.decode()))
        self.assertEqual(disagreements, [])
        print(f"\n  {len(CORPUS)} configurations: verdicts agree with nutcracker -t "
              f"({len(EXTENSIONS)} extensions, {len(STRICTER)} stricter, as documented)")

    def test_locate(self):
        conf = self.write_conf("locate", "beta:\n  listen: 127.0.0.1:22122\n"
                               "  hash: fnv1a_64\n  hash_tag: \"{}\"\n  servers:\n"
                               "   - 127.0.0.1:6380:1 server1\n   - 127.0.0.1:6381:1 server2\n"
                               "   - 127.0.0.1:6382:1 server3\n   - 127.0.0.1:6383:1 server4\n"
                               "rnd:\n  listen: 127.0.0.1:22123\n  distribution: random\n"
                               + SERVERS)
        r = self.run_sp("-c", conf, "--locate", "beta", "user{42}", "x{42}y", "--", "-k")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertRegex(lines[0], r"^user\{42\} -> server\d 127\.0\.0\.1:638\d$")
        # same tag, same server
        self.assertEqual(lines[0].split(" -> ")[1], lines[1].split(" -> ")[1])
        self.assertTrue(lines[2].startswith("-k -> "))
        # stdin form gives the same answers
        r2 = self.run_sp("-c", conf, "--locate", "beta", input=b"user{42}\nx{42}y\n")
        self.assertEqual(r2.stdout.decode().splitlines(), lines[:2])
        r = self.run_sp("-c", conf, "--locate", "nosuch", "k")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no pool named 'nosuch'", r.stderr.decode())
        r = self.run_sp("-c", conf, "--locate", "rnd", "k")
        self.assertEqual(r.returncode, 1)
        self.assertIn("distribution random", r.stderr.decode())


if __name__ == "__main__":
    sptest.main()
