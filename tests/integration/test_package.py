"""Installing and packaging shardproxy (issue 18).

From the source tree, as a user would: `make deb` (once for the class, in
the temp dir: its own build with prefix /usr), then `make install` of the
same build with another PREFIX into a DESTDIR; the package's contents,
control fields, conffiles and maintainer scripts; lintian; `dpkg -i` into a
throwaway root (dpkg --root, the maintainer scripts honouring DPKG_ROOT:
nothing on this machine changes); the packaged binary with the packaged
default configuration (its ports moved to free ones) in front of a test
redis-server, answering PING; `systemd-analyze verify` and `logrotate -d`
on the packaged files; and the man pages against the binary's own flags and
the configuration parser's keys.

Run standalone:
    SHARDPROXY_BIN=build/shardproxy SP_SOURCE_DIR=. \\
        /usr/bin/python3 tests/integration/test_package.py
"""

import gzip
import os
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import sptest

SOURCE = Path(os.environ.get("SP_SOURCE_DIR", sptest.REPO_ROOT))
MAKE_TIMEOUT = 600          # a cold build on 2 busy cores

# What the package holds (the directories aside).
PACKAGE_FILES = {
    "./usr/sbin/shardproxy",
    "./usr/share/man/man8/shardproxy.8.gz",
    "./usr/share/man/man5/shardproxy.yml.5.gz",
    "./etc/shardproxy/shardproxy.yml",
    "./etc/logrotate.d/shardproxy",
    "./lib/systemd/system/shardproxy.service",
    "./usr/lib/sysusers.d/shardproxy.conf",
    "./usr/share/doc/shardproxy/README.md",
    "./usr/share/doc/shardproxy/copyright",
    "./usr/share/doc/shardproxy/changelog.gz",
    "./usr/share/doc/shardproxy/examples/shardproxy.yml",
    "./usr/share/doc/shardproxy/examples/nutcracker.yml",
    "./usr/share/doc/shardproxy/examples/grafana-dashboard.json",
    "./usr/share/doc/shardproxy/examples/prometheus-alerts.yml",
}
CONFFILES = {"/etc/shardproxy/shardproxy.yml", "/etc/logrotate.d/shardproxy"}


def run(argv, timeout=120, **kw):
    """Run argv to completion; the CompletedProcess (text)."""
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=sptest.die_with_parent,
                          **kw)


def make(*args):
    """`make -C SOURCE ARGS`, free of what an enclosing `make test` passes
    down (its variables and jobserver)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return run(["make", "-C", SOURCE] + list(args), timeout=MAKE_TIMEOUT, env=env)


def roff_text(path):
    """A man page's source as plain words: \\- is -, font escapes gone."""
    text = path.read_text()
    text = text.replace("\\-", "-")
    return re.sub(r"\\f[BIRP]", "", text)


def dpkg_root(root):
    """An empty dpkg database under root, for dpkg --root."""
    admin = root / "var/lib/dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True, exist_ok=True)
    for f in ("status", "available"):
        (admin / f).touch()
    return admin


class PackageTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        tmp = cls.harness.tmp.path
        cls.build = tmp / "build"
        r = make("deb", f"BUILD_DEB={cls.build}", f"DEB_DIR={tmp}", "JOBS=2")
        if r.returncode != 0:
            raise AssertionError(f"make deb failed:\n{r.stdout[-3000:]}\n"
                                 f"{r.stderr[-3000:]}")
        debs = sorted(tmp.glob("shardproxy_*.deb"))
        if len(debs) != 1:
            raise AssertionError(f"make deb left {debs} in {tmp}")
        cls.deb = debs[0]

    # -- the package as a file

    def test_deb_name_and_control(self):
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        version = re.search(r"project\(shardproxy VERSION ([0-9.]+)",
                            (SOURCE / "CMakeLists.txt").read_text()).group(1)
        self.assertEqual(self.deb.name, f"shardproxy_{version}_{arch}.deb")
        fields = {}
        for name in ("Package", "Version", "Architecture", "Depends",
                     "Section", "Maintainer", "Description"):
            fields[name] = run(["dpkg-deb", "-f", self.deb, name]).stdout.strip()
        self.assertEqual(fields["Package"], "shardproxy")
        self.assertEqual(fields["Version"], version)
        self.assertEqual(fields["Architecture"], arch)
        # from the shared libraries it links (dpkg-shlibdeps), and adduser
        depends = {d.split()[0] for d in fields["Depends"].split(", ")}
        self.assertTrue({"libc6", "libyaml-0-2", "libjemalloc2", "adduser"}
                        <= depends, fields["Depends"])

    def test_deb_contents(self):
        r = run(["dpkg-deb", "-c", self.deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = {}
        for line in r.stdout.splitlines():
            perms, owner, _size, _date, _time, path = line.split(None, 5)
            entries[path] = (perms, owner)
        files = {p for p, (perms, _) in entries.items() if not perms.startswith("d")}
        self.assertEqual(files, PACKAGE_FILES)
        self.assertTrue(all(owner == "root/root" for _, owner in entries.values()))
        self.assertEqual(entries["./usr/sbin/shardproxy"][0], "-rwxr-xr-x")
        self.assertEqual(entries["./etc/shardproxy/shardproxy.yml"][0], "-rw-r--r--")

    def test_conffiles_and_scripts(self):
        r = run(["dpkg-deb", "-I", self.deb, "conffiles"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(set(r.stdout.split()), CONFFILES)
        listing = run(["dpkg-deb", "-I", self.deb]).stdout
        for script in ("postinst", "prerm", "postrm"):
            self.assertRegex(listing, rf"\s{script}\s+#!/bin/sh")
        postinst = run(["dpkg-deb", "-I", self.deb, "postinst"]).stdout
        self.assertIn("systemd-sysusers", postinst)
        self.assertIn("adduser --quiet --system", postinst)

    def test_lintian(self):
        if shutil.which("lintian") is None:
            self.fail("lintian missing (make test installs it)")
        r = run(["lintian", "--no-cfg", self.deb], timeout=300)
        tags = [l for l in r.stdout.splitlines() if re.match(r"^[EW]: ", l)]
        self.assertEqual(tags, [], r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # -- installed

    def test_dpkg_install_into_a_throwaway_root(self):
        root = self.harness.tmp.path / "root"
        admin = dpkg_root(root)
        # dependencies live on the host, not in the empty root
        dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless",
                "--force-depends", "--log=/dev/null"]
        r = run(dpkg + ["-i", self.deb])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        q = run(["dpkg-query", f"--admindir={admin}", "-W",
                 "-f=${Status}\n${Conffiles}\n", "shardproxy"])
        self.assertTrue(q.stdout.startswith("install ok installed"), q.stdout)
        self.assertEqual({l.split()[0] for l in q.stdout.splitlines()[1:]
                          if l.strip()}, CONFFILES)
        self.assertTrue((root / "usr/sbin/shardproxy").is_file())
        # the unit is enabled, in the root
        self.assertTrue((root / "etc/systemd/system/multi-user.target.wants"
                         / "shardproxy.service").is_symlink())
        if shutil.which("systemd-sysusers"):
            self.assertRegex((root / "etc/passwd").read_text(),
                             r"(?m)^shardproxy:x:\d+:\d+:.*:/nonexistent:")
        # remove keeps the conffiles, purge takes them
        r = run(dpkg + ["-r", "shardproxy"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse((root / "usr/sbin/shardproxy").exists())
        self.assertTrue((root / "etc/shardproxy/shardproxy.yml").exists())
        r = run(dpkg + ["--purge", "shardproxy"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse((root / "etc/shardproxy/shardproxy.yml").exists())

    def extract(self):
        root = self.harness.tmp.path / self.harness.unique("x")
        r = run(["dpkg-deb", "-x", self.deb, root])
        self.assertEqual(r.returncode, 0, r.stderr)
        return root

    def test_packaged_binary_serves_the_default_config(self):
        root = self.extract()
        exe = root / "usr/sbin/shardproxy"
        default = (root / "etc/shardproxy/shardproxy.yml").read_text()
        # the default: one Redis pool on 127.0.0.1 before 127.0.0.1:6379
        self.assertRegex(default, r"(?m)^\s+listen: 127\.0\.0\.1:22121$")
        self.assertRegex(default, r"(?m)^\s+redis: true$")
        self.assertRegex(default, r"(?m)^\s+- 127\.0\.0\.1:6379:1\b")
        r = run([exe, "-t", "-c", root / "etc/shardproxy/shardproxy.yml"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("syntax is ok", r.stderr)

        redis = self.harness.start_redis()
        port, metrics = sptest.free_port(), sptest.free_port()
        conf = (default.replace("127.0.0.1:22121", f"127.0.0.1:{port}")
                       .replace("127.0.0.1:6379", f"127.0.0.1:{redis.port}")
                       .replace("127.0.0.1:22223", f"127.0.0.1:{metrics}"))
        self.assertNotEqual(conf, default)
        proxy = self.harness.start_shardproxy(conf, exe=str(exe))
        self.assertEqual(sptest.tcp_request(port, b"PING\r\n"), b"+PONG\r\n")
        self.assertEqual(sptest.tcp_request(port, sptest.resp("SET", "pkg", "ok")),
                         b"+OK\r\n")
        self.assertEqual(redis.client().get("pkg"), b"ok")
        self.assertEqual(sptest.read_stats(proxy.stats_port)["redis"]
                         ["redis-1"]["requests"], 1)

    def test_unit(self):
        root = self.extract()
        unit = (root / "lib/systemd/system/shardproxy.service").read_text()
        for line in ("Type=forking", "User=shardproxy", "Group=shardproxy",
                     "PIDFile=/run/shardproxy/shardproxy.pid",
                     "ExecReload=/usr/sbin/shardproxy -p "
                     "/run/shardproxy/shardproxy.pid -k reload",
                     "KillSignal=SIGQUIT", "TimeoutStopSec=40",
                     "LimitNOFILE=1048576", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes"):
            self.assertRegex(unit, rf"(?m)^{re.escape(line)}$")
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/sbin/shardproxy -d -c "
                               r"/etc/shardproxy/shardproxy\.yml ")
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze not available")
        # verify checks that the commands exist: point them into the root
        copy = self.harness.tmp.path / self.harness.unique("unit")
        copy.mkdir()
        (copy / "shardproxy.service").write_text(
            unit.replace("/usr/sbin/shardproxy", str(root / "usr/sbin/shardproxy")))
        r = run(["systemd-analyze", "verify", "--man=no",
                 copy / "shardproxy.service"])
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_logrotate(self):
        root = self.extract()
        text = (root / "etc/logrotate.d/shardproxy").read_text()
        self.assertIn("/usr/sbin/shardproxy -p /run/shardproxy/shardproxy.pid "
                      "-k reopen", text)
        if shutil.which("logrotate") is None and not Path("/usr/sbin/logrotate").exists():
            self.skipTest("logrotate not available")
        exe = shutil.which("logrotate") or "/usr/sbin/logrotate"
        r = run([exe, "--debug", "--state", self.harness.tmp.path / "lr.state",
                 root / "etc/logrotate.d/shardproxy"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotRegex(r.stderr, r"(?i)\berror\b")
        self.assertIn("/var/log/shardproxy/*.log", r.stderr)

    def test_make_install(self):
        stage = self.harness.tmp.path / "stage"
        prefix = "/usr/local"
        r = make("install", f"BUILD={self.build}", f"PREFIX={prefix}",
                 f"DESTDIR={stage}", "JOBS=2")
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        top = stage / prefix.lstrip("/")
        want = ["sbin/shardproxy", "share/man/man8/shardproxy.8.gz",
                "share/man/man5/shardproxy.yml.5.gz",
                "etc/shardproxy/shardproxy.yml", "etc/logrotate.d/shardproxy",
                "lib/systemd/system/shardproxy.service",
                "lib/sysusers.d/shardproxy.conf",
                "share/doc/shardproxy/copyright",
                "share/doc/shardproxy/examples/shardproxy.yml",
                "share/doc/shardproxy/examples/nutcracker.yml",
                "share/doc/shardproxy/examples/grafana-dashboard.json",
                "share/doc/shardproxy/examples/prometheus-alerts.yml"]
        for path in want:
            self.assertTrue((top / path).is_file(), path)
        # nothing outside DESTDIR/PREFIX
        outside = [p for p in stage.rglob("*") if p.is_file()
                   and not str(p).startswith(str(top) + "/")]
        self.assertEqual(outside, [])
        r = run([top / "sbin/shardproxy", "-V"])
        self.assertRegex(r.stdout, r"^This is shardproxy-\d")
        # the unit and logrotate name the installed paths
        unit = (top / "lib/systemd/system/shardproxy.service").read_text()
        self.assertIn(f"ExecStart={prefix}/sbin/shardproxy -d -c "
                      f"{prefix}/etc/shardproxy/shardproxy.yml", unit)
        self.assertIn(f"{prefix}/sbin/shardproxy -p",
                      (top / "etc/logrotate.d/shardproxy").read_text())
        man = gzip.decompress((top / "share/man/man8/shardproxy.8.gz")
                              .read_bytes()).decode()
        self.assertEqual(man, (SOURCE / "man/shardproxy.8").read_text())

    # -- the man pages stay true

    def test_man_pages_name_every_flag(self):
        r = self.harness.run_shardproxy(["-h"])
        self.assertEqual(r.returncode, 0)
        help_text = r.stdout.decode()
        options = help_text.split("Options:", 1)[1]
        flags = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", options))
        self.assertGreaterEqual(len(flags), 30, flags)
        self.assertIn("--stat", flags)
        page = roff_text(SOURCE / "man/shardproxy.8")
        # each is the tag of an entry in OPTIONS (a .TP's .B/.BR/.BI line)
        options = page.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
        lines = options.splitlines()
        tags = "\n".join(b for a, b in zip(lines, lines[1:]) if a == ".TP")
        missing = sorted(f for f in flags
                         if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", tags))
        self.assertEqual(missing, [], "flags of -h not in shardproxy.8's OPTIONS")

    def test_man_pages_name_every_config_key(self):
        keys_c = (SOURCE / "src/core/conf/sp_conf_keys.c").read_text()
        keys = set(re.findall(r'^\s*\{\s*"([a-z_]+)",\s*sp_conf_set_', keys_c, re.M))
        self.assertGreaterEqual(len(keys), 40, keys)
        self.assertTrue({"listen", "servers", "worker_processes",
                         "metrics_listen"} <= keys)
        page = roff_text(SOURCE / "man/shardproxy.yml.5")
        missing = sorted(k for k in keys
                         if not re.search(rf"(?m)^\.B[RI]?\s+{k}\b|^\.BR\s.*\b{k}\b", page))
        self.assertEqual(missing, [], "configuration keys not in shardproxy.yml.5")

    def test_man_pages_render_without_warnings(self):
        if shutil.which("man") is None:
            self.skipTest("man not available")
        for page in ("man/shardproxy.8", "man/shardproxy.yml.5"):
            r = run(["man", "--warnings", "-E", "UTF-8", "-l", SOURCE / page],
                    env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "", page)


if __name__ == "__main__":
    sptest.main()
