#!/usr/bin/python3
"""Seeing the cache tier: latency histograms and their percentiles, the
Prometheus endpoint (parsed by prometheus_client's own parser, scraped
during load), hot keys (5 keys taking half the traffic are exactly the 5
shown, with their servers), shard skew and its notice, and the slow log with
its rate bound."""
import random
import re
import socket
import threading
import time

import sptest
from prometheus_client.parser import text_string_to_metric_families


resp = sptest.resp


def count_replies(data):
    """Complete top-level RESP replies in data (no nested arrays needed)."""
    n, i = 0, 0
    while True:
        nl = data.find(b"\r\n", i)
        if nl < 0:
            return n
        kind = data[i:i + 1]
        if kind == b"$":
            size = int(data[i + 1:nl])
            if size >= 0:
                if len(data) < nl + 2 + size + 2:
                    return n
                nl = nl + 2 + size
        n += 1
        i = nl + 2


class Load:
    """`conns` connections sending pipelined GET batches whose keys come
    from pick(); bounded by `seconds`."""

    def __init__(self, port, pick, conns=4, batch=100, seconds=30):
        self.port, self.pick, self.batch, self.seconds = port, pick, batch, seconds
        self.stop = threading.Event()
        self.sent = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(conns)]
        for t in self.threads:
            t.start()

    def run(self):
        deadline = time.monotonic() + self.seconds
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                while not self.stop.is_set() and time.monotonic() < deadline:
                    s.sendall(b"".join(resp("GET", self.pick())
                                       for _ in range(self.batch)))
                    data = b""
                    while count_replies(data) < self.batch:
                        chunk = s.recv(65536)
                        if not chunk:
                            raise EOFError("closed")
                        data += chunk
                    self.sent += self.batch
        except Exception as e:         # reported by the test
            self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return self


def conf(port, backends, **global_keys):
    lines = ["global:", "  worker_processes: 2"]
    lines += [f"  {k}: {v}" for k, v in global_keys.items()]
    lines += ["alpha:", f"  listen: 127.0.0.1:{port}", "  redis: true", "  servers:"]
    lines += [f"   - 127.0.0.1:{b.port}:1 s{i}" for i, b in enumerate(backends)]
    return "\n".join(lines) + "\n"


def scrape(port):
    return scrape_path(port, "/metrics")


def families(body):
    return {f.name: f for f in text_string_to_metric_families(body)}


class ObserveTest(sptest.HarnessTestCase):

    @classmethod
    def setUpHarness(cls):
        cls.backends = [cls.harness.start_redis() for _ in range(2)]

    def start(self, **global_keys):
        self.port = sptest.free_port()
        self.metrics_port = sptest.free_port()
        global_keys.setdefault("metrics_listen", f"127.0.0.1:{self.metrics_port}")
        return self.harness.start_shardproxy(conf(self.port, self.backends,
                                                  **global_keys))

    def locate(self, proxy, keys):
        return self.harness.locate(proxy, "alpha", keys)

    def test_latency_histograms_and_percentiles(self):
        proxy = self.start()
        exe = sptest.require_binary("redis-benchmark")
        import subprocess
        r = subprocess.run([exe, "-p", str(self.port), "-n", "20000", "-c", "10",
                            "-r", "10000", "-t", "get,set", "-q"],
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0)
        stats = sptest.read_stats(proxy.stats_port)
        pool = stats["alpha"]
        p = [pool[f"latency_p{q}_us"] for q in ("50", "90", "99", "999")]
        self.assertGreater(p[0], 0)
        self.assertEqual(p, sorted(p))              # p50 <= p90 <= p99 <= p999
        for s in ("s0", "s1"):
            self.assertGreater(pool[s]["rtt_p50_us"], 0)
            self.assertLessEqual(pool[s]["rtt_p50_us"], pool[s]["rtt_p99_us"])
        # every reply is in the histogram, and nutcracker's fields are intact
        _, body = scrape(self.metrics_port)
        fams = families(body)
        hist = fams["shardproxy_request_duration_seconds"]
        count = [s.value for s in hist.samples if s.name.endswith("_count")][0]
        responses = sum(pool[s]["responses"] for s in ("s0", "s1"))
        self.assertEqual(responses, 40000)
        # every forwarded request, plus the few redis-benchmark's CONFIG GET
        # made that the proxy answers itself
        self.assertGreaterEqual(count, responses)
        self.assertLessEqual(count - responses, 10)
        buckets = [s.value for s in hist.samples if s.name.endswith("_bucket")]
        self.assertEqual(buckets, sorted(buckets))  # cumulative
        self.assertEqual(buckets[-1], count)        # le="+Inf"

    def test_prometheus_scraped_during_load(self):
        proxy = self.start()
        keys = [f"k{i}" for i in range(1000)]
        load = Load(self.port, lambda: random.choice(keys), conns=4)
        self.addCleanup(load.finish)
        sptest.poll_until(lambda: load.sent > 0, "the load running", timeout=10)
        seen = []

        def scraped():
            head, body = scrape(self.metrics_port)
            self.assertTrue(head.startswith("HTTP/1.1 200 OK"), head)
            self.assertIn("text/plain; version=0.0.4", head)
            fams = families(body)                   # a real parser accepts it
            seen.append(sum(s.value for s in fams["shardproxy_server_requests"].samples))
            return len(seen) >= 5 and seen[-1] > seen[0]
        # scraped again and again during the load, until it shows growth
        self.assertTrue(sptest.poll_until(scraped, "live counters", timeout=20))
        load.finish()
        self.assertEqual(load.errors, [])
        self.assertEqual(seen, sorted(seen))        # counters only grow
        # at rest the endpoint and the JSON port agree, label by label
        _, body = scrape(self.metrics_port)
        fams = families(body)
        stats = sptest.read_stats(proxy.stats_port)
        for sample in fams["shardproxy_server_requests"].samples:
            labels = sample.labels
            self.assertEqual(sample.value, stats[labels["pool"]][labels["server"]]["requests"])
        self.assertEqual(fams["shardproxy_server_requests"].type, "counter")
        self.assertEqual(fams["shardproxy_pool_client_connections"].type, "gauge")
        self.assertEqual(fams["shardproxy_workers"].samples[0].value, 2)
        workers = {s.labels["worker"] for s in fams["shardproxy_worker_clients"].samples}
        self.assertEqual(workers, {"0", "1"})
        for name in ("shardproxy_worker_memory_budget_bytes",
                     "shardproxy_worker_memory_used_bytes",
                     "shardproxy_worker_clients_held"):
            self.assertEqual({s.labels["worker"] for s in fams[name].samples},
                             {"0", "1"}, name)
        self.assertGreater(min(s.value for s in
                               fams["shardproxy_worker_memory_budget_bytes"].samples), 0)
        for name in ("shardproxy_server_duration_seconds", "shardproxy_pool_skew",
                     "shardproxy_server_request_rate",
                     "shardproxy_hot_key_request_rate"):
            self.assertIn(name, fams)
        head, _ = scrape_path(self.metrics_port, "/nothing")
        self.assertTrue(head.startswith("HTTP/1.1 404"), head)

    def test_big_answers_whole_and_idle_scrapers_dropped(self):
        port, metrics = sptest.free_port(), sptest.free_port()
        # 400 servers (never contacted): a Prometheus answer of ~1 MB
        text = (f"global:\n  worker_processes: 1\n  metrics_listen: 127.0.0.1:{metrics}\n"
                + self.harness.worker_stats_yaml() +
                f"alpha:\n  listen: 127.0.0.1:{port}\n  redis: true\n  servers:\n")
        text += "".join(f"   - 127.0.0.1:{10000 + i}:1 s{i}\n" for i in range(400))
        proxy = self.harness.start_shardproxy(text)
        # stats readers that never read a ~100 kB answer stall nobody: the
        # worker serves, the master answers the next stats reader
        stuck = []
        self.addCleanup(lambda: [c.close() for c in stuck])
        for stats_addr in [proxy.stats_port, proxy.worker_stats(0)] * 10:
            c = sptest.stats_connect(stats_addr)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.append(c)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            t0 = time.monotonic()
            c.sendall(resp("PING"))
            self.assertEqual(c.recv(100), b"+PONG\r\n")
            self.assertLess(time.monotonic() - t0, 1.0)     # was 20 x 200 ms
        self.assertIn("alpha", sptest.read_stats(proxy.stats_port))
        # 16 idle connections that never send a request ...
        idle = [socket.create_connection(("127.0.0.1", metrics), timeout=5)
                for _ in range(16)]
        self.addCleanup(lambda: [c.close() for c in idle])
        # ... are dropped after their deadline, and a real scrape with a
        # small receive buffer gets the whole answer
        def whole_answer():
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", metrics))
                s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
                data = sptest.recv_all(s, 4096)
            except OSError:
                return False
            finally:
                s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                return False
            length = int([l for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            self.assertGreater(length, 500000)
            if len(body) != length:
                return False            # cut short: retried, then it fails
            fams = families(body.decode())
            self.assertEqual(len(fams["shardproxy_server_requests"].samples), 400)
            return True
        self.assertTrue(sptest.poll_until(whole_answer, "a whole answer", timeout=15))

    def test_five_hot_keys_and_their_servers(self):
        proxy = self.start(hot_server_share=0)
        hot = [f"hot:{i}" for i in range(5)]
        cold = [f"cold:{i}" for i in range(100000)]
        # half the traffic on 5 keys, the rest spread over 100,000
        load = Load(self.port, lambda: random.choice(hot) if random.random() < 0.5
                    else random.choice(cold), conns=4, seconds=40)
        self.addCleanup(load.finish)

        shown = []

        def a_full_window():
            # a window the load covered: the 5 keys on top, far above the rest
            shown[:] = sptest.read_stats(proxy.stats_port)["alpha"]["hot_keys"]
            top, rest = shown[:5], shown[5:]
            return (len(top) == 5 and sorted(e["key"] for e in top) == hot
                    and all(e["rate"] < min(t["rate"] for t in top) / 10
                            for e in rest))
        self.assertTrue(sptest.poll_until(a_full_window, "the hot keys on top",
                                          timeout=30))
        top = shown[:5]
        pool_rate = sptest.read_stats(proxy.stats_port)["alpha"]["request_rate"]
        load.finish()
        self.assertEqual(load.errors, [])
        owners = self.locate(proxy, hot)
        for e in top:
            self.assertEqual(e["server"], owners[e["key"]])
            self.assertGreater(e["rate"], 0)
        print(f"\n  pool {pool_rate} req/s; hot keys: " + ", ".join(f"{e['key']}@{e['server']} {e['rate']}/s"
                                         for e in top))

    def test_skew_and_its_notice(self):
        proxy = self.start(hot_server_share=80)
        load = Load(self.port, lambda: "the-one-key", conns=2, seconds=30)
        self.addCleanup(load.finish)
        owner = self.locate(proxy, ["the-one-key"])["the-one-key"]
        self.assertTrue(sptest.poll_until(
            lambda: f"server '{owner}' takes 100% of the pool's" in proxy.proc.log_text(),
            "the skew notice", timeout=20))
        stats = sptest.read_stats(proxy.stats_port)["alpha"]
        load.finish()
        self.assertEqual(stats["busiest_server"], owner)
        self.assertGreater(stats["skew"], 1.9)      # 2 servers, one takes all
        self.assertIn("(hot_server_share 80%", proxy.proc.log_text())

    def test_slow_log(self):
        proxy = self.start(slowlog_threshold=50)
        spin = "local i=0 while i<8000000 do i=i+1 end return i"
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(resp("EVAL", spin, "1", "slow:key:1"))
            data = b""
            while count_replies(data) < 1:
                data += s.recv(65536)
            s.sendall(resp("GET", "fast"))          # after it: not slow
            data = b""
            while count_replies(data) < 1:
                data += s.recv(65536)
        self.assertTrue(sptest.poll_until(
            lambda: "slow request" in proxy.proc.log_text(), "the slow log",
            timeout=10))
        log = proxy.proc.log_text()
        owner = self.locate(proxy, ["slow:key:1"])["slow:key:1"]
        self.assertRegex(log, rf"slow request: pool 'alpha' server '{owner}' eval "
                              r"'slow:key:1' took \d+\.\d\d ms \(server \d+\.\d\d ms\)")
        # Only what took the threshold or longer is logged. (This once said
        # "GET 'fast' is not logged": on a loaded machine under ASan a GET
        # can take 50 ms too, and then it is rightly logged. The property
        # is the threshold, read from the proxy's own measure.)
        took = [float(ms) for ms in re.findall(r"slow request: .* took "
                                               r"(\d+\.\d\d) ms", log)]
        self.assertTrue(took)
        self.assertGreaterEqual(min(took), 50.0, log)
        # a storm of slow requests: at most 10 lines a second per worker
        tiny = "local i=0 while i<600000 do i=i+1 end return i"
        t0 = time.monotonic()
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=30)
                 for _ in range(4)]
        for s in socks:
            s.sendall(b"".join(resp("EVAL", tiny, "1", f"storm:{i}") for i in range(60)))
        for s in socks:
            data = b""
            while count_replies(data) < 60:
                data += s.recv(65536)
            s.close()
        took = time.monotonic() - t0
        proxy_log = proxy.proc.log_text()
        lines = proxy_log.count("slow request")
        self.assertLessEqual(lines, 1 + 10 * 2 * (int(took) + 2))
        print(f"\n  slow log: 240 requests over the threshold in {took:.1f} s, "
              f"{lines - 1} lines logged")


def scrape_path(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
        data = sptest.recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body.decode()


if __name__ == "__main__":
    sptest.main()
