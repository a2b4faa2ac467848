#!/usr/bin/python3
"""A connection storm: n clients connect at once (non-blocking, one thread,
epoll), each sends one request and waits for its first reply line; each
client's time from connect() to that line is measured. Used by
test_storm.py, and runnable by hand against a running proxy:

    storm.py PORT [N]     prints clients > 1 s, p50/p99/max, overflows

The sockets stay open until close() so the caller can see where they went
(per-worker stats) while all of them are held."""
import errno
import select
import socket
import sys
import time


def listen_overflows():
    """TcpExt ListenOverflows of this network namespace (every listener's:
    a delta is only ours if nothing else overflows meanwhile)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[0::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


class Storm:
    """n clients of host:port; run() returns when every one has its reply
    line, its connection failed, or `deadline` seconds have passed."""

    def __init__(self, port, n, payload=b"*2\r\n$3\r\nGET\r\n$5\r\nstorm\r\n",
                 host="127.0.0.1", deadline=20.0):
        self.port, self.n, self.payload = port, n, payload
        self.host, self.deadline = host, deadline
        self.latency = [None] * n       # seconds, connect() to reply line
        self.reply = [None] * n         # the reply line (bytes)
        self.failed = [None] * n        # errno / "eof" if it failed first
        self.socks = []
        self.connect_loop_s = 0.0
        self.elapsed_s = 0.0
        self.overflows = 0

    def run(self, connected=None):
        """connected: called once every connect() is issued (before the
        replies are awaited), e.g. to let stopped workers run."""
        ep = select.epoll()
        started, state, buf = [0.0] * self.n, [0] * self.n, [b""] * self.n
        byfd = {}
        pending = self.n
        before = listen_overflows()
        t0 = time.monotonic()

        def event(i, ev):
            nonlocal pending
            s = self.socks[i]
            if state[i] == 0:                   # connected (or not)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.failed[i], state[i] = err, 2
                    ep.unregister(s.fileno())
                    pending -= 1
                    return
                s.send(self.payload)
                state[i] = 1
                ep.modify(s.fileno(), select.EPOLLIN)
                return
            try:
                data = s.recv(4096)
            except BlockingIOError:
                return
            except OSError as e:
                data, self.failed[i] = b"", e.errno
            if not data:
                self.failed[i] = self.failed[i] or "eof"
            buf[i] += data
            if b"\r\n" in buf[i] or not data:
                if data:
                    self.latency[i] = time.monotonic() - started[i]
                    self.reply[i] = buf[i].split(b"\r\n")[0]
                state[i] = 2
                ep.unregister(s.fileno())
                pending -= 1

        def poll(timeout):
            for fd, ev in ep.poll(timeout, 1024):
                event(byfd[fd], ev)

        for i in range(self.n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            self.socks.append(s)
            byfd[s.fileno()] = i
            started[i] = time.monotonic()
            rc = s.connect_ex((self.host, self.port))
            if rc not in (0, errno.EINPROGRESS):
                self.failed[i], state[i] = rc, 2
                pending -= 1
                continue
            ep.register(s.fileno(), select.EPOLLOUT)
            if i % 64 == 63:
                poll(0)                 # answer the early ones meanwhile
        self.connect_loop_s = time.monotonic() - t0
        if connected is not None:
            connected()
        end = t0 + self.deadline
        while pending > 0:
            left = end - time.monotonic()
            if left <= 0:
                break
            poll(min(left, 0.5))
        self.elapsed_s = time.monotonic() - t0
        self.overflows = listen_overflows() - before
        ep.close()
        return self

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []

    # -- results
    def answered(self):
        return [x for x in self.latency if x is not None]

    def silent(self):
        """Clients with neither a reply nor a failure by the deadline."""
        return [i for i in range(self.n)
                if self.latency[i] is None and self.failed[i] is None]

    def over(self, seconds):
        return sum(1 for x in self.latency if x is not None and x > seconds)

    def errors(self):
        return sum(1 for r in self.reply if r is not None and r.startswith(b"-"))

    def percentile(self, p):
        xs = sorted(self.answered())
        if not xs:
            return None
        return xs[min(len(xs) - 1, int(len(xs) * p / 100))]

    def summary(self):
        p50, p99 = self.percentile(50), self.percentile(99)
        mx = max(self.answered(), default=None)
        ms = lambda x: "-" if x is None else f"{x * 1000:.0f} ms"
        return (f"{self.n} clients: {len(self.answered())} answered "
                f"({self.errors()} errors), {len(self.silent())} silent, "
                f"{sum(1 for f in self.failed if f)} failed, "
                f"{self.over(1.0)} over 1 s; p50 {ms(p50)} p99 {ms(p99)} "
                f"max {ms(mx)}; connect loop {ms(self.connect_loop_s)}, "
                f"all done {ms(self.elapsed_s)}; listen overflows "
                f"{self.overflows}")


if __name__ == "__main__":
    import resource
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    storm = Storm(int(sys.argv[1]), n).run()
    print(storm.summary())
    storm.close()
