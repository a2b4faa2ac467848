"""TLS on both sides (issue 17): clients speak TLS to the proxy (`tls`), the
proxy speaks TLS to TLS-only redis-server and memcached backends
(`server_tls`), with certificates this test makes with `openssl` in its
temp dir.

Shown here: redis-cli --tls, python3-redis ssl=True and redis-benchmark
--tls through the proxy; a client-certificate pool refuses no certificate
and one from another CA; plaintext and silence on the TLS port are closed
within tls_handshake_timeout while 10 TLS clients go on; the stats count
handshakes, failures by reason, versions and ciphers, and show the
certificate's expiry (JSON and Prometheus); `-t` names file, line and key
of a bad TLS setting; HUP re-reads the certificate (new clients get the
new one, a bad file fails the reload and the old config serves on); five
reloads under a TLS load with connections coming and going lose no reply.
"""

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sptest  # noqa: E402

try:
    import redis
except ImportError:         # pragma: no cover - python3-redis is a test dep
    redis = None

HANDSHAKE_TIMEOUT_MS = 3000     # long enough for a loaded machine


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-subj", f"/CN=shardproxy test {name}", cwd=d)


def make_cert(d, name, ca, cn, days=30, san="DNS:localhost,IP:127.0.0.1"):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem",
            "-days", str(days), "-extfile", ext, cwd=d)


def tls_context(ca, cert=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(cert + ".pem", cert + ".key")
    return ctx


def tls_connect(port, ctx, timeout=5.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def read_line(sock, timeout=5.0):
    """Bytes up to a CRLF at their end, or what came before the close."""
    data, _ = sptest.read_until(sock, lambda d: d.endswith(b"\r\n"), timeout)
    return data


def tls_exchange(port, ctx, payload, timeout=5.0):
    s = tls_connect(port, ctx, timeout)
    try:
        s.sendall(payload)
        return read_line(s, timeout)
    finally:
        s.close()


def closed_after(port, payload, timeout=10.0):
    """Send payload (maybe nothing) and wait for the close: (what came
    first, seconds until then)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    start = time.monotonic()
    try:
        if payload:
            s.sendall(payload)
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    finally:
        s.close()
    return data, time.monotonic() - start


def pem_of_peer(port, ctx):
    s = tls_connect(port, ctx)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class TlsBase(sptest.HarnessTestCase):
    """Certificates, TLS-only backends, and the proxy's configuration."""

    @classmethod
    def setUpHarness(cls):
        if redis is None:
            raise unittest.SkipTest("python3-redis is missing")
        h = cls.harness
        d = str(h.tmp.path)
        cls.dir = d
        make_ca(d, "ca")
        make_ca(d, "otherca")
        make_cert(d, "server", "ca", "localhost")
        make_cert(d, "server2", "ca", "localhost")
        make_cert(d, "client", "ca", "app")
        make_cert(d, "stranger", "otherca", "app")
        cls.ca = os.path.join(d, "ca.pem")
        cls.ctx = tls_context(cls.ca)
        # TLS-only backends: one asks for a client certificate
        cls.backends = [cls.start_tls_redis(auth_clients=False),
                        cls.start_tls_redis(auth_clients=True)]

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def start_tls_backend(cls, name, argv_for, ctx, probe, answer, wrap):
        """A TLS-only server: argv_for(port) started, ready when this pid
        listens and `probe` sent over TLS gets a reply starting `answer`."""
        h = cls.harness

        def once():
            p = sptest.free_port()

            def ready(proc):
                if not sptest.owns_listener(proc.pid, p):
                    return False
                try:
                    return tls_exchange(p, ctx, probe, 1.0).startswith(answer)
                except OSError:
                    return False
            proc = h.start_process(h.unique(name), argv_for(p), ready,
                                   f"{name} answering over TLS on port {p}")
            return wrap(proc, p)

        return sptest.start_with_retries(sptest.START_ATTEMPTS, once)

    @classmethod
    def start_tls_redis(cls, auth_clients):
        exe = sptest.require_binary("redis-server")
        ctx = tls_context(cls.ca, cls.path("client") if auth_clients else None)
        return cls.start_tls_backend("redis-tls", lambda p: [
            exe, "--port", "0", "--tls-port", p, "--bind", "127.0.0.1",
            "--tls-cert-file", cls.path("server.pem"),
            "--tls-key-file", cls.path("server.key"),
            "--tls-ca-cert-file", cls.ca,
            "--tls-auth-clients", "yes" if auth_clients else "no",
            "--save", "", "--appendonly", "no", "--dir", cls.harness.tmp.path,
            "--logfile", ""], ctx, b"PING\r\n", b"+PONG\r\n",
            sptest.RedisServer)

    # -- configurations

    def pool_keys(self, client_ca=False, cert="server"):
        keys = {
            "redis": "true",
            "distribution": "modula",     # keys spread over both servers
            "timeout": 3000,
            "tls": "true",
            "tls_cert_file": self.path(cert + ".pem"),
            "tls_key_file": self.path(cert + ".key"),
            "tls_handshake_timeout": HANDSHAKE_TIMEOUT_MS,
            "server_tls": "true",
            "server_tls_ca_file": self.ca,
            "server_tls_cert_file": self.path("client.pem"),
            "server_tls_key_file": self.path("client.key"),
            "server_tls_server_name": "localhost",
        }
        if client_ca:
            keys["tls_ca_file"] = self.ca
        return keys

    def conf(self, port, workers=1, extra_global="", drain=60, **kw):
        return (f"global:\n  worker_processes: {workers}\n"
                f"  worker_shutdown_timeout: {drain}\n{extra_global}"
                + sptest.pool_yaml("alpha", port,
                                   [b.port for b in self.backends],
                                   **self.pool_keys(**kw)))

    def start_proxy(self, workers=1, extra_global="", **kw):
        port = sptest.free_port()
        return self.harness.start_shardproxy(
            self.conf(port, workers, extra_global, **kw)), port

    def client(self, port, **kw):
        return redis.Redis(host="127.0.0.1", port=port, ssl=True,
                           ssl_ca_certs=self.ca, ssl_cert_reqs="required",
                           socket_timeout=10, **kw)

    def tls_stats(self, proxy):
        return sptest.read_stats(proxy.stats_port)["alpha"]

    def backend_dbsize(self, backend):
        ctx = tls_context(self.ca, self.path("client"))
        reply = tls_exchange(backend.port, ctx, b"DBSIZE\r\n")
        return int(reply[1:-2])


class TlsTest(TlsBase):

    def test_redis_cli_through_tls_to_tls_backends(self):
        proxy, port = self.start_proxy()
        cli = sptest.require_binary("redis-cli")

        def run(*args):
            r = subprocess.run([cli, "-p", str(port), "--tls", "--cacert",
                                self.ca] + list(args), capture_output=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.decode().strip()

        for i in range(20):
            self.assertEqual(run("SET", f"cli:{i}", f"v{i}"), "OK")
        self.assertEqual(run("GET", "cli:7"), "v7")
        self.assertEqual(run("MGET", "cli:1", "cli:2", "cli:3").split(),
                         ["v1", "v2", "v3"])
        # both backends took keys: the shards are reached over TLS
        counts = [self.backend_dbsize(b) for b in self.backends]
        self.assertTrue(all(c > 0 for c in counts), counts)
        st = self.tls_stats(proxy)
        self.assertGreaterEqual(st["server_tls_handshakes"], 2)
        self.assertEqual(st["server_tls_failures"], 0)

    def test_python_redis_ssl_big_values_and_pipelines(self):
        proxy, port = self.start_proxy()
        r = self.client(port)
        big = os.urandom(3 * 1024 * 1024 + 17)
        self.assertTrue(r.set("py:big", big))
        self.assertEqual(r.get("py:big"), big)
        p = r.pipeline(transaction=False)
        for i in range(3000):
            p.set(f"py:{i}", str(i) * 40)
        self.assertTrue(all(p.execute()))
        p = r.pipeline(transaction=False)
        for i in range(3000):
            p.get(f"py:{i}")
        got = p.execute()
        self.assertEqual(got, [(str(i) * 40).encode() for i in range(3000)])
        keys = [f"py:{i}" for i in range(0, 3000, 7)]
        self.assertEqual(r.mget(keys),
                         [(k.split(":")[1] * 40).encode() for k in keys])
        r.connection_pool.disconnect()     # (close() keeps the pool's)
        sptest.poll_until(lambda: self.tls_stats(proxy)["tls_clients_tlsv1_3"]
                          == 0, "the client to leave")
        self.assertGreaterEqual(self.tls_stats(proxy)["tls_handshakes"], 1)

    def test_client_certificate_pool(self):
        proxy, port = self.start_proxy(client_ca=True)
        good = tls_context(self.ca, self.path("client"))
        self.assertEqual(tls_exchange(port, good, b"PING\r\n"),
                         b"+PONG\r\n")
        before = self.tls_stats(proxy)
        for ctx in (tls_context(self.ca),                       # no cert
                    tls_context(self.ca, self.path("stranger"))):  # other CA
            with self.assertRaises((ssl.SSLError, OSError)):
                # TLS 1.3: the refusal arrives after the client's Finished
                reply = tls_exchange(port, ctx, b"PING\r\n", 3.0)
                if not reply:
                    raise ConnectionResetError("closed")
        # the worker counts a refusal after its alert is on the wire: the
        # client may read the alert first
        def counted():
            after = self.tls_stats(proxy)
            return (after["tls_fail_no_cert"] - before["tls_fail_no_cert"],
                    after["tls_fail_bad_cert"] - before["tls_fail_bad_cert"])
        sptest.poll_until(lambda: counted() == (1, 1), "both refusals counted",
                          timeout=5)
        self.assertEqual(counted(), (1, 1))
        # and the right one still gets in
        self.assertEqual(tls_exchange(port, good, b"PING\r\n"),
                         b"+PONG\r\n")

    def test_plaintext_and_silence_closed_while_tls_clients_go_on(self):
        proxy, port = self.start_proxy()
        stop = threading.Event()
        errors, done = [], [0] * 10

        def worker(n):
            try:
                r = self.client(port)
                i = 0
                while not stop.is_set():
                    key = f"bg:{n}:{i}"
                    r.set(key, i)
                    if r.get(key) != str(i).encode():
                        errors.append(f"{key}: wrong reply")
                    i += 1
                    done[n] = i
                r.connection_pool.disconnect()
            except Exception as e:      # noqa: BLE001 - reported below
                errors.append(f"client {n}: {e!r}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
        for t in threads:
            t.start()
        before = self.tls_stats(proxy)
        # plaintext: a RESP command at the TLS port is closed at once
        data, plain_s = closed_after(port, b"*1\r\n$4\r\nPING\r\n")
        self.assertIn(data[:1], (b"", b"\x15"), data)      # EOF, or an alert
        self.assertLess(plain_s, HANDSHAKE_TIMEOUT_MS / 1000)
        # silence: closed at tls_handshake_timeout
        data, silent_s = closed_after(port, b"")
        self.assertEqual(data, b"")
        self.assertGreater(silent_s, HANDSHAKE_TIMEOUT_MS / 1000 * 0.8)
        self.assertLess(silent_s, HANDSHAKE_TIMEOUT_MS / 1000 + 2.0)
        stop.set()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertTrue(all(n > 0 for n in done), done)
        after = self.tls_stats(proxy)
        self.assertEqual(after["tls_fail_plaintext"] - before["tls_fail_plaintext"], 1)
        self.assertEqual(after["tls_fail_timeout"] - before["tls_fail_timeout"], 1)
        self.assertGreaterEqual(after["tls_handshakes"] - before["tls_handshakes"], 0)

    def test_redis_benchmark_tls(self):
        proxy, port = self.start_proxy(workers=2)
        bench = sptest.require_binary("redis-benchmark")
        r = subprocess.run([bench, "-p", str(port), "--tls", "--cacert", self.ca,
                            "-t", "set,get,mset,incr,lpush,lrange_100", "-n",
                            "20000", "-c", "20", "-P", "4", "-q"],
                           capture_output=True, timeout=300)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertNotIn("rror", out.replace("\r", "\n"))
        for test in ("SET", "GET", "MSET", "INCR", "LPUSH", "LRANGE_100"):
            self.assertIn(test, out)
        st = self.tls_stats(proxy)
        self.assertGreaterEqual(st["tls_handshakes"], 20)
        self.assertEqual(st["forward_error"], 0)

    def test_conf_errors_name_file_line_and_key(self):
        port = sptest.free_port()
        cases = [
            ("tls_cert_file", self.path("nope.pem"), "cannot be read"),
            ("tls_key_file", self.path("otherca.key"), "is not the key"),
            ("tls_ca_file", self.path("nope-ca.pem"), "cannot be read"),
            ("tls_protocols", "TLSv1.1", "not a protocol"),
            ("tls_ciphers", "NO-SUCH-CIPHER", "names no cipher"),
            ("server_tls_ca_file", self.path("server.key"), "no usable PEM"),
        ]
        for key, value, words in cases:
            with self.subTest(key=key):
                text = self.conf(port).replace(
                    f"  {key}: " + str(self.pool_keys(client_ca=True).get(key, "")),
                    "").rstrip("\n") + "\n"
                text = text.replace("  servers:\n", f"  {key}: {value}\n  servers:\n")
                path = self.harness.tmp.file(self.harness.unique("bad") + ".yml", text)
                line = text.splitlines().index(f"  {key}: {value}") + 1
                r = self.harness.run_shardproxy(["-t", "-c", path])
                err = r.stderr.decode()
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(f"{path}:{line}:", err)
                self.assertIn(key, err)
                self.assertIn(words, err)
        # a key without its side's switch
        text = sptest.pool_yaml("alpha", port, [1], redis="true",
                                tls_cert_file=self.path("server.pem"))
        path = self.harness.tmp.file("noswitch.yml", text)
        r = self.harness.run_shardproxy(["-t", "-c", path])
        self.assertIn("tls_cert_file is set but tls is not true",
                      r.stderr.decode())

    def test_sessions_resume_on_both_sides(self):
        proxy, port = self.start_proxy(workers=2)
        # a client resumes (tickets: the same keys in every worker)
        resumed = 0
        session = None
        for _ in range(6):
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            s = self.ctx.wrap_socket(raw, server_hostname="localhost",
                                     session=session)
            s.sendall(b"PING\r\n")
            self.assertEqual(read_line(s), b"+PONG\r\n")
            resumed += s.session_reused
            session = s.session
            s.close()
        self.assertGreaterEqual(resumed, 5)
        st = self.tls_stats(proxy)
        self.assertGreaterEqual(st["tls_resumed"], 5)
        # the proxy resumes toward a server: its connections are killed
        # (from the server's side), the next request connects again
        r = self.client(port)
        self.assertTrue(r.set("rs:a", "1"))
        before = self.tls_stats(proxy)["server_tls_resumed"]
        for b in self.backends:
            ctx = tls_context(self.ca, self.path("client"))
            tls_exchange(b.port, ctx, b"CLIENT KILL TYPE normal SKIPME yes\r\n")
        sptest.poll_until(lambda: self.attempt(r, "rs:a") == b"1",
                          "the proxy to connect again")
        self.assertGreater(self.tls_stats(proxy)["server_tls_resumed"], before)
        r.connection_pool.disconnect()

    @staticmethod
    def attempt(r, key):
        try:
            return r.get(key)
        except redis.RedisError:
            return None

    def test_stats_and_certificate_expiry(self):
        proxy, port = self.start_proxy()
        r = self.client(port)
        r.set("st:a", "1")
        st = self.tls_stats(proxy)
        self.assertEqual(st["tls_clients_tlsv1_3"], 1)
        self.assertEqual(st["tls_clients_tlsv1_2"], 0)
        self.assertEqual(st["tls_cipher_aes_256_gcm"] + st["tls_cipher_aes_128_gcm"]
                         + st["tls_cipher_chacha20"] + st["tls_cipher_other"], 1)
        expiry = st["tls_cert_expiry"]
        # made for 30 days by this test
        self.assertLess(abs(expiry - (time.time() + 30 * 86400)), 2 * 86400)
        r.connection_pool.disconnect()
        sptest.poll_until(lambda: self.tls_stats(proxy)["tls_clients_tlsv1_3"]
                          == 0, "the client to leave")
        # TLSv1.2 only, counted as such
        ctx = tls_context(self.ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        s = tls_connect(port, ctx)
        s.sendall(b"PING\r\n")
        self.assertEqual(read_line(s), b"+PONG\r\n")
        st = self.tls_stats(proxy)
        self.assertEqual(st["tls_clients_tlsv1_2"], 1)
        s.close()


class TlsMemcacheTest(TlsBase):
    """A memcache pool, TLS on both sides: memcached 1.6 with -Z."""

    def start_tls_memcached(self):
        exe = sptest.require_binary("memcached")
        root = ["-u", "root"] if os.geteuid() == 0 else []
        return self.start_tls_backend("memcached-tls", lambda p: [
            exe, "-l", "127.0.0.1", "-p", p, "-U", "0", "-Z", "-o",
            f"ssl_chain_cert={self.path('server.pem')},"
            f"ssl_key={self.path('server.key')}"] + root, self.ctx,
            b"version\r\n", b"VERSION ", sptest.MemcachedServer)

    def test_memcache_pool_over_tls(self):
        try:
            from pymemcache.client.base import Client
        except ImportError:
            self.skipTest("python3-pymemcache is missing")
        servers = [self.start_tls_memcached() for _ in range(2)]
        port = sptest.free_port()
        keys = {k: v for k, v in self.pool_keys().items() if k not in (
            "redis", "server_tls_cert_file", "server_tls_key_file")}
        proxy = self.harness.start_shardproxy(
            "global:\n  worker_processes: 1\n"
            + sptest.pool_yaml("alpha", port, [m.port for m in servers], **keys))
        c = Client(("127.0.0.1", port), tls_context=self.ctx, timeout=10)
        # memcached 1.6.18 itself stalls when a request follows a value
        # longer than a TLS record in the same record (its TLS read path;
        # reproduced without the proxy): values here stay below 16 KiB
        big = os.urandom(12000)
        for i in range(50):
            self.assertTrue(c.set(f"mc:{i}", f"v{i}"))
        self.assertTrue(c.set("mc:big", big))
        self.assertEqual(c.get("mc:big"), big)
        got = c.get_many([f"mc:{i}" for i in range(50)])
        self.assertEqual(got, {f"mc:{i}": f"v{i}".encode() for i in range(50)})
        c.close()
        st = self.tls_stats(proxy)
        self.assertGreaterEqual(st["server_tls_handshakes"], 2)
        self.assertEqual(st["forward_error"], 0)


class TlsReloadTest(TlsBase):
    """Reloads: TLS clients stay with their generation (no kernel TLS to
    hand them over with), certificates are read again."""

    def hup_and_wait(self, proxy, gen_before):
        proxy.proc.signal(1)
        sptest.poll_until(lambda: sptest.read_stats(proxy.stats_port)
                          .get("generation", gen_before) > gen_before,
                          "the new generation", timeout=20)

    def generation(self, proxy):
        return sptest.read_stats(proxy.stats_port).get("generation", 0)

    def test_reload_serves_the_new_certificate(self):
        port = sptest.free_port()
        proxy = self.harness.start_shardproxy(self.conf(port))
        self.assertEqual(pem_of_peer(port, self.ctx), der_of(self.path("server.pem")))
        kept = self.client(port)
        kept.set("rl:k", "1")
        with open(proxy.conf_path, "w") as f:
            f.write(self.conf(port, cert="server2"))
        gen = self.generation(proxy)
        self.hup_and_wait(proxy, gen)
        sptest.poll_until(lambda: pem_of_peer(port, self.ctx)
                          == der_of(self.path("server2.pem")),
                          "the new certificate served", timeout=20)
        # the client from before the reload is served on, by its generation
        self.assertEqual(kept.get("rl:k"), b"1")
        kept.connection_pool.disconnect()
        # a bad certificate file fails the reload; the old one serves on
        failed = sptest.read_stats(proxy.stats_port).get("reload_failed", 0)
        with open(proxy.conf_path, "w") as f:
            f.write(self.conf(port).replace(self.path("server.pem"),
                                            self.path("missing.pem")))
        proxy.proc.signal(1)
        sptest.poll_until(lambda: sptest.read_stats(proxy.stats_port)
                          .get("reload_failed", 0) > failed,
                          "the reload to fail", timeout=20)
        self.assertEqual(pem_of_peer(port, self.ctx), der_of(self.path("server2.pem")))
        self.assertIn("missing.pem", proxy.proc.log_text())

    def test_tls_clients_closed_at_the_drain_limit(self):
        port = sptest.free_port()
        proxy = self.harness.start_shardproxy(self.conf(port, drain=1))
        kept = tls_connect(port, self.ctx)
        kept.sendall(b"PING\r\n")
        self.assertEqual(read_line(kept), b"+PONG\r\n")
        self.hup_and_wait(proxy, self.generation(proxy))
        self.assertEqual(sptest.read_stats(proxy.stats_port)["retiring"], 1)
        # served by its generation until worker_shutdown_timeout ...
        kept.sendall(b"PING\r\n")
        self.assertEqual(read_line(kept), b"+PONG\r\n")
        # ... then closed at its request boundary (it is idle), cleanly
        start = time.monotonic()
        data, closed = sptest.read_until(kept, lambda d: False, 10.0)
        self.assertEqual((data, closed), (b"", True))
        self.assertLess(time.monotonic() - start, 4.0)
        kept.close()
        sptest.poll_until(lambda: sptest.read_stats(proxy.stats_port)
                          ["retiring"] == 0, "the old generation to exit")
        self.assertEqual(tls_exchange(port, self.ctx, b"PING\r\n"),
                         b"+PONG\r\n")

    def test_five_reloads_under_tls_load_lose_no_reply(self):
        port = sptest.free_port()
        proxy = self.harness.start_shardproxy(self.conf(port, workers=2))
        stop = threading.Event()
        errors, replies = [], [0] * 8

        def worker(n):
            i = 0
            while not stop.is_set():
                try:
                    r = self.client(port)
                except Exception as e:      # noqa: BLE001
                    errors.append(f"{n}: connect: {e!r}")
                    return
                try:
                    # a connection lives for a few dozen requests
                    for _ in range(30 + n * 5):
                        key = f"ld:{n}:{i}"
                        if not r.set(key, i) or r.get(key) != str(i).encode():
                            errors.append(f"{key}: wrong reply")
                        i += 1
                        replies[n] += 2
                except Exception as e:      # noqa: BLE001
                    errors.append(f"{n} at {i}: {e!r}")
                    return
                finally:
                    r.connection_pool.disconnect()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        # one client stays through every reload, served by its generation
        kept = self.client(port)
        kept.set("ld:kept", 0)
        for t in threads:
            t.start()
        for n in range(5):
            seen = sum(replies)
            self.assertTrue(sptest.poll_until(lambda: sum(replies) > seen + 200,
                                              "TLS traffic", timeout=30))
            self.hup_and_wait(proxy, self.generation(proxy))
            self.assertEqual(kept.incr("ld:kept"), n + 1)
        self.assertGreaterEqual(
            sptest.read_stats(proxy.stats_port)["retiring"], 1)
        seen = sum(replies)
        self.assertTrue(sptest.poll_until(lambda: sum(replies) > seen + 200,
                                          "TLS traffic after the reloads",
                                          timeout=30))
        stop.set()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        # traffic crossed every reload: 200 replies at least between each
        # (the polls above), however slow the machine
        self.assertEqual(kept.get("ld:kept"), b"5")
        kept.connection_pool.disconnect()
        # the old generations leave once their TLS clients have left
        sptest.poll_until(lambda: sptest.read_stats(proxy.stats_port)
                          ["retiring"] == 0, "the old generations to exit",
                          timeout=30)
        self.assertEqual(len(sptest.children(proxy.pid)), 2)


class TlsUpgradeTest(TlsBase):
    """USR2 under TLS: the new binary serves new clients at once; a TLS
    client of the old master (no kernel TLS to hand it over with) is served
    by its old worker, reply for reply, until it leaves; then the old
    master goes."""

    def test_upgrade_keeps_tls_clients_until_they_leave(self):
        port = sptest.free_port()
        pid_file = self.harness.tmp.path / f"sp-{port}.pid"
        oldbin = pid_file.with_name(pid_file.name + ".oldbin")
        old = self.harness.start_shardproxy(self.conf(port, workers=2),
                                            extra_args=["-p", pid_file])
        old_workers = old.worker_pids()
        kept = self.client(port)
        self.assertTrue(kept.set("up:kept", 0))
        old.proc.signal(signal.SIGUSR2)

        def new_master():
            if not oldbin.exists() or not pid_file.exists():
                return 0
            text = pid_file.read_text().strip()
            ok = (text.isdigit() and int(text) != old.pid
                  and len(sptest.children(int(text))) == 2)
            return int(text) if ok else 0
        self.assertTrue(sptest.poll_until(new_master, "the new master",
                                          timeout=20))
        new = new_master()
        self.addCleanup(lambda: sptest.pid_alive(new) and os.kill(new, signal.SIGKILL))
        # the old workers stop: they keep what they cannot hand over
        old.proc.signal(signal.SIGWINCH)
        for n in range(1, 51):
            self.assertEqual(kept.incr("up:kept"), n)    # not a reply lost
        # new clients: the new binary's workers, TLS from the first byte
        fresh = self.client(port)
        self.assertTrue(fresh.set("up:fresh", "1"))
        self.assertEqual(fresh.get("up:kept"), b"50")
        fresh.connection_pool.disconnect()
        self.assertTrue(any(sptest.pid_alive(p) for p in old_workers))
        kept.connection_pool.disconnect()               # it leaves ...
        self.assertTrue(sptest.poll_until(              # ... so do they
            lambda: not any(sptest.pid_alive(p) for p in old_workers),
            "the old workers exit once their TLS client left", timeout=20))
        old.proc.signal(signal.SIGQUIT)
        old.proc.popen.wait(20)
        self.assertEqual(old.proc.returncode, 0)
        self.assertEqual(int(pid_file.read_text()), new)
        again = self.client(port)
        self.assertEqual(again.get("up:fresh"), b"1")
        again.connection_pool.disconnect()
        os.kill(new, signal.SIGTERM)
        self.assertTrue(sptest.poll_until(lambda: not sptest.pid_alive(new),
                                          "the new master exits", timeout=20))


if __name__ == "__main__":
    sptest.main()
