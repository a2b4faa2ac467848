"""Shared harness for shardproxy integration tests.

Owns everything a test needs to run real servers safely on loopback:
free ports, a temp dir, child processes (started with logs in the temp dir,
stopped by pid, log tails shown on failure), readiness polling with deadlines,
and starters for redis-server, memcached, nutcracker, plus a runner for
shardproxy CLI commands.  Stdlib only; Debian's /usr/bin/python3.

Typical use:

    class MyTest(sptest.HarnessTestCase):
        def test_x(self):
            r = self.harness.start_redis()
            self.assertTrue(r.client().ping())

Every process started through a Harness is ended by its pid when the harness
closes (class cleanup), at interpreter exit (atexit), or when this Python
process dies (PR_SET_PDEATHSIG).  Set SPTEST_KEEP=1 to keep the temp dir.
"""

import atexit
import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 10.0      # seconds a server gets to become ready
STOP_TIMEOUT = 5.0        # seconds between SIGTERM and SIGKILL
START_ATTEMPTS = 4        # fresh ports tried when a start loses a port race
PORT_SLOTS = 8            # test processes that draw ports side by side
POLL_INTERVAL = 0.01      # seconds between readiness probes

_live_procs = set()       # every running Proc, for the atexit safety net
_ports_handed_out = set()


class StartError(AssertionError):
    """A server did not become ready; the message carries its log tail."""


class PortTaken(StartError):
    """The server exited because its port was taken; retry with a new one."""


# ---------------------------------------------------------------- ports, dirs

def free_port():
    """A loopback TCP port that was free a moment ago and not handed out before
    by this process.  Drawn from this process's slice of the ports below the
    ephemeral range (see _port_range): a port from bind(0) could be handed
    to another test process's bind(0) the moment it is closed, or sit under
    a client socket.  Starters retry with a fresh port if they lose a race."""
    return free_port_block(1)


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_port_slot = {}           # "range": this process's ports, "file": its lock


def _port_range():
    """The ports this process draws from: a slice of those below the
    ephemeral range (where client sockets, and bind(0), never go) that no
    other sptest process draws from while this one lives. The process takes
    one of PORT_SLOTS slot files with a non-blocking flock and keeps it open;
    the kernel drops the lock when the process exits, crashed or not. So two
    test files that ctest runs side by side never pick the same port, even
    one picked now and bound only later. With every slot taken, the whole
    range (and the starters' retries) it is."""
    if "range" not in _port_slot:
        low, high = 10000, _ephemeral_low()
        span = (high - low) // PORT_SLOTS
        _port_slot["range"] = (low, high)
        folder = Path(tempfile.gettempdir()) / "sptest-port-slots"
        folder.mkdir(exist_ok=True)
        for k in range(PORT_SLOTS):
            f = open(folder / f"slot-{k}", "a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            _port_slot["file"] = f
            _port_slot["range"] = (low + k * span, low + (k + 1) * span)
            break
    return _port_slot["range"]


def free_port_block(n):
    """A loopback port p such that p .. p+n-1 were all free a moment ago (a
    shardproxy stats port is followed by one port per worker).  Drawn from
    this process's slice of the ports below the ephemeral range (see
    _port_range), where client sockets (and their TIME_WAIT leftovers,
    thousands after a load test) never sit."""
    import random
    low, high = _port_range()
    for _ in range(500):
        base = random.randrange(low, high - n)
        if any(p in _ports_handed_out for p in range(base, base + n)):
            continue
        socks = []
        try:
            for port in range(base, base + n):
                sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sk)
                sk.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sk in socks:
                sk.close()
        _ports_handed_out.update(range(base, base + n))
        return base
    raise RuntimeError(f"no block of {n} free ports after 500 tries")


def raise_fd_limit(want):
    """Raise this process's descriptor limit toward `want`, within the hard
    limit (the processes it starts inherit it); returns the soft limit now
    in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return want
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def conf_workers(conf_text):
    """Worker processes a shardproxy config asks for (auto: the CPUs this
    process, and so the proxy it starts, may run on)."""
    m = re.search(r"^\s+worker_processes:\s*(\w+)", conf_text, re.M)
    if m and m.group(1).isdigit():
        return int(m.group(1))
    return len(os.sched_getaffinity(0)) or 1


def children(pid):
    """Pids of the direct children of pid."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_tree(pid):
    """pid and its direct children (a master and its workers)."""
    return [pid] + children(pid)


def rss_kb(pids):
    """Resident memory of the processes, summed (kB)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_seconds(pids):
    """utime + stime of the processes, summed (s)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


class TempDir:
    """A private temp directory; removed on cleanup unless kept."""

    def __init__(self, prefix="sptest-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def file(self, name, content=""):
        """Write `content` (str or bytes) to `name` in the dir; return its Path."""
        p = self.path / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        return p

    def cleanup(self, keep=False):
        if keep or os.environ.get("SPTEST_KEEP"):
            print(f"sptest: kept temp dir {self.path}", file=sys.stderr)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def poll_until(probe, what, timeout=START_TIMEOUT, proc=None):
    """Call probe() until it returns a truthy value; return that value.
    Bounded in time and in count.  If `proc` exits meanwhile, raise
    StartError at once with its log tail."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / POLL_INTERVAL) + 1):
        if proc is not None and not proc.alive():
            raise proc.start_error(f"{proc.name} exited (status "
                                   f"{proc.returncode}) while waiting for {what}")
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    msg = f"timed out after {timeout}s waiting for {what}"
    raise proc.start_error(msg) if proc is not None else StartError(msg)


def tcp_accepts(port, host="127.0.0.1"):
    """True if a TCP connect to host:port succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def tcp_request(port, payload, host="127.0.0.1", until=b"\r\n", timeout=2.0):
    """Send payload, read until `until` is seen (or EOF); return the bytes,
    or None on any socket error."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(payload)
            data = b""
            for _ in range(1024):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if until in data:
                    break
            return data
    except OSError:
        return None


def recv_all(sock, bufsize=65536):
    """Everything `sock` receives until the peer closes."""
    data = b""
    while True:
        chunk = sock.recv(bufsize)
        if not chunk:
            return data
        data += chunk


def read_until(sock, done, timeout=5.0):
    """Read from sock until done(data) holds, the peer closes or `timeout`
    passes; returns (data, closed)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while not done(data) and time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except socket.timeout:
            break
        if not part:
            return data, True
        data += part
    return data, False


def exchange(port, payload, done, timeout=5.0, chunk=None):
    """Send payload (in pieces of `chunk` bytes, if given) and read until
    done(data) holds, the peer closes or `timeout` passes; returns (data,
    closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if chunk:
            for i in range(0, len(payload), chunk):
                sock.sendall(payload[i:i + chunk])
        else:
            sock.sendall(payload)
        return read_until(sock, done, timeout)
    finally:
        sock.close()


def pool_yaml(name, port, servers, **keys):
    """One pool's YAML: listening on loopback `port`, `keys` in their order,
    then `servers`, each a port (weight 1) or (port, weight, name or None)."""
    lines = [f"{name}:", f"  listen: 127.0.0.1:{port}"]
    lines += [f"  {k}: {v}" for k, v in keys.items()]
    lines.append("  servers:")
    for server in servers:
        sport, weight, sname = ((server, 1, None) if isinstance(server, int)
                                else server)
        entry = f"127.0.0.1:{sport}:{weight}" + (f" {sname}" if sname else "")
        lines.append(f"   - {entry}")
    return "\n".join(lines) + "\n"


def resp(*args):
    """A RESP request: the multibulk of args (str, int or bytes)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _tcp_sockets():
    """(state, local port, remote port, inode) of every TCP socket, v4 and v6."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9:
                yield (f[3], int(f[1].rsplit(":", 1)[1], 16),
                       int(f[2].rsplit(":", 1)[1], 16), f[9])


def listening_inodes(port):
    """Socket inodes of TCP sockets in LISTEN state on `port` (v4 and v6)."""
    return {inode for state, local, _, inode in _tcp_sockets()
            if state == "0A" and local == port}


def _socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def connection_owner(server_port, client_port, pids):
    """Which of `pids` holds the accepted end of the loopback TCP connection
    from `client_port` to `server_port` (None: none of them)."""
    inodes = {inode for state, local, remote, inode in _tcp_sockets()
              if state == "01" and local == server_port and remote == client_port}
    for pid in pids:
        if inodes & _socket_inodes(pid):
            return pid
    return None


def owns_listener(pid, port):
    """True if process `pid` holds a listening TCP socket on `port`.  This is
    how a starter knows the port is ours and not another process's."""
    return bool(listening_inodes(port) & _socket_inodes(pid))


# ------------------------------------------------------------------ processes

def pid_alive(pid):
    """True if `pid` exists and is not a zombie (a dead child of init may
    linger as a zombie in containers whose init does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - Linux always has it
    _libc = None


def die_with_parent():
    """In the child: get SIGKILL if the test runner dies (e.g. a ctest timeout),
    so no server outlives the run.  Note: Linux ties this to the *thread* that
    forked, so start processes from the main thread."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != _runner_pid:   # the runner died before prctl
            os._exit(1)


_runner_pid = os.getpid()


class Proc:
    """A child process with stdout/stderr in log files under `logdir`.
    Stopped by pid only: SIGTERM, then SIGKILL after a deadline."""

    def __init__(self, name, argv, logdir, extra_logs=(), env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        logdir = Path(logdir)
        self.stdout_path = logdir / f"{name}.stdout"
        self.stderr_path = logdir / f"{name}.stderr"
        self.log_paths = [self.stdout_path, self.stderr_path] + [Path(p) for p in extra_logs]
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=env, cwd=cwd, preexec_fn=die_with_parent, close_fds=True)
        _live_procs.add(self)

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def signal(self, signum):
        """Send a signal by pid (no-op once the process is reaped)."""
        if self.alive():
            self.popen.send_signal(signum)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait up to `timeout`, then SIGKILL.  Returns the exit status."""
        try:
            if self.alive():
                self.popen.send_signal(signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    print(f"sptest: {self.name} (pid {self.pid}) ignored SIGTERM "
                          f"for {timeout}s; SIGKILL", file=sys.stderr)
                    self.popen.kill()
                    self.popen.wait(timeout)
        finally:
            if not self.alive():
                _live_procs.discard(self)
        return self.popen.returncode

    def log_tail(self, lines=30):
        """The last `lines` lines of each log file, labelled."""
        parts = []
        for p in self.log_paths:
            try:
                text = p.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {p.name} (last {lines} lines) ---\n{tail}")
        return "\n".join(parts)

    def log_text(self):
        return "".join(p.read_bytes().decode("utf-8", "replace")
                       for p in self.log_paths if p.exists())

    def start_error(self, msg, cls=StartError):
        return cls(f"{msg}\n  argv: {' '.join(self.argv)}\n{self.log_tail()}")

    def __repr__(self):
        return f"<Proc {self.name} pid={self.pid}>"


@atexit.register
def _kill_leftovers():
    for proc in list(_live_procs):
        proc.stop(timeout=2.0)


def require_binary(name):
    """Absolute path of a system binary, or a clear test failure."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"required binary '{name}' not found in PATH "
                             f"(install the Debian package providing it)")
    return path


def event_backend():
    """The event backend the tests run shardproxy's workers on:
    SP_TEST_EVENT_BACKEND (epoll, io_uring), None for the config's own."""
    return os.environ.get("SP_TEST_EVENT_BACKEND") or None


def with_event_backend(text):
    """`text` (a shardproxy config) with `event_backend` set to the one
    SP_TEST_EVENT_BACKEND names, in its `global:` block (one is added);
    unchanged without it, or where the config sets the key itself."""
    backend = event_backend()
    if backend is None or not isinstance(text, str) or "event_backend:" in text:
        return text
    m = re.search(r"^global:[ \t]*\n", text, re.M)
    if m is None:
        return f"global:\n  event_backend: {backend}\n" + text
    block = re.match(r"(?:[ \t]+.*\n|\n)*", text[m.end():]).group(0)
    if re.search(r"^\s+listen:", block, re.M):
        return text                 # a pool named global
    return (text[:m.end()] + f"  event_backend: {backend}\n"
            + text[m.end():])


class ConfPath(type(Path())):
    """A shardproxy config's path whose write_text (a test rewriting it
    for a reload) keeps the event backend the run asks for."""

    def write_text(self, data, *args, **kwargs):
        return super().write_text(with_event_backend(data), *args, **kwargs)


def shardproxy_bin(skip_if_missing=False):
    """Path of the shardproxy binary under test: $SHARDPROXY_BIN, else
    build/shardproxy under the repo root.  Missing: fail clearly -- or skip,
    when asked to and only when SHARDPROXY_BIN is unset (ctest always sets
    it, so under ctest a missing binary is a failure, never a skip)."""
    env = os.environ.get("SHARDPROXY_BIN")
    path = Path(env) if env else REPO_ROOT / "build" / "shardproxy"
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    origin = "SHARDPROXY_BIN" if env else "default build/shardproxy (SHARDPROXY_BIN unset)"
    msg = f"shardproxy binary not found: {path} [{origin}]"
    if skip_if_missing and not env:
        raise unittest.SkipTest(msg)
    raise AssertionError(msg)


_ADDR_IN_USE = re.compile(r"address already in use|could not create server tcp listening|"
                          r"failed to listen", re.I)


def start_with_retries(attempts, start_once):
    """Call start_once() up to `attempts` times while it raises PortTaken."""
    for attempt in range(1, attempts + 1):
        try:
            return start_once()
        except PortTaken:
            if attempt == attempts:
                raise


# -------------------------------------------------------------------- servers

class _Server:
    """A backend server process listening on a loopback port."""

    def __init__(self, proc, port):
        self.proc, self.port = proc, port

    @property
    def pid(self):
        return self.proc.pid

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"


class RedisServer(_Server):
    def __init__(self, proc, port, unixsocket=None):
        super().__init__(proc, port)
        self.unixsocket = unixsocket

    def client(self, **kwargs):
        import redis  # python3-redis (Debian); imported lazily
        kwargs.setdefault("socket_timeout", 30)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)


class MemcachedServer(_Server):
    pass


def stats_connect(addr, timeout=5.0):
    """A socket connected to a stats port (an int, on 127.0.0.1) or a
    worker's Unix stats socket (a path)."""
    if isinstance(addr, int):
        return socket.create_connection(("127.0.0.1", addr), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(addr))
    except OSError:
        sock.close()
        raise
    return sock


def read_stats(addr, timeout=5.0):
    """The JSON object a nutcracker-style stats port (or a worker's stats
    socket, see stats_connect) serves, then closes."""
    import json
    with stats_connect(addr, timeout) as sock:
        return json.loads(recv_all(sock))


class ProxyServer:
    """A running proxy (nutcracker or shardproxy): .pools maps pool name ->
    listen port (TCP pools) or socket path (unix pools), .stats_port,
    .conf_path."""

    def __init__(self, proc, conf_path, stats_port, pools, nworkers=0):
        self.proc, self.conf_path = proc, conf_path
        self.stats_port, self.pools = stats_port, pools
        self.nworkers = nworkers    # shardproxy workers (0: one process)

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        """The proxy's processes: the master (or single process) and its
        workers."""
        return proc_tree(self.proc.pid)

    def listens_on(self, port):
        """True if any of the proxy's processes holds a listening socket on
        `port` (unlike a connect, blind to other processes' sockets)."""
        return any(owns_listener(pid, port) for pid in self.pids())

    def worker_pids(self):
        return children(self.proc.pid) if self.nworkers else [self.proc.pid]

    def worker_stats(self, index):
        """Where worker `index` serves its own stats: the config's
        `worker_stats_listen` (host:port: port + index; a path:
        "<path>.<index>"), for read_stats or stats_connect."""
        with open(self.conf_path) as f:
            text = f.read()
        m = re.search(r"^\s+worker_stats_listen:\s*(\S+)", text, re.M)
        if m is None:
            raise AssertionError("the config sets no worker_stats_listen")
        value = m.group(1).strip("\"'")
        if value.startswith("/"):
            return f"{value}.{index}"
        return int(value.rsplit(":", 1)[1]) + index

    def rss_kb(self):
        return rss_kb(self.pids())

    def cpu_seconds(self):
        return cpu_seconds(self.pids())


def conf_listens(conf_text):
    """{pool: port or unix path} from a nutcracker-format YAML text.  Only the
    simple layout tests write: a pool is an unindented `name:` line, its
    `listen:` value is an indented `listen: host:port` / `listen: /path [perm]`."""
    pools, pool = {}, None
    for line in conf_text.splitlines():
        top = re.match(r"^([^\s#][^:]*):\s*(#.*)?$", line)
        if top:
            pool = top.group(1).strip().strip("\"'")
            continue
        m = re.match(r"^\s+listen:\s*(.+?)\s*$", line)
        if m and pool is not None:
            value = m.group(1).strip("\"'")
            if value.startswith("/"):
                pools[pool] = value.split()[0]
            else:
                pools[pool] = int(value.rsplit(":", 1)[1])
    return pools


class Harness:
    """Owns one temp dir and every process started through it."""

    def __init__(self, name="sptest"):
        self.name = name
        self.tmp = TempDir(prefix=f"sptest-{name}-")
        self.procs = []
        self.failed = False
        self._seq = 0
        self.class_procs = 0        # procs started by setUpHarness: shared
        self.failed_ranges = []     # (first, end) procs of each failed test

    # -- generic
    def unique(self, prefix):
        """A name not used before in this harness: "<prefix>-<n>"."""
        self._seq += 1
        return f"{prefix}-{self._seq}"

    def worker_stats_path(self):
        """A fresh Unix path for `worker_stats_listen` in the temp dir (one
        per proxy: a listener replaces a stale socket file)."""
        return self.tmp.path / f"{self.unique('wstats')}.sock"

    def worker_stats_yaml(self):
        """A `global:` line giving each worker its own stats socket
        (ProxyServer.worker_stats finds it)."""
        return f"  worker_stats_listen: {self.worker_stats_path()}\n"

    def start_process(self, name, argv, ready=None, what="readiness",
                      timeout=START_TIMEOUT, extra_logs=(), env=None):
        """Start argv as `name` (made unique if taken; logs are
        <name>.stdout/.stderr in the temp dir).  If `ready` is given, poll
        ready(proc) until truthy, within `timeout`.
        On a port race (log says the address is in use) raise PortTaken."""
        if name in {p.name for p in self.procs}:
            name = self.unique(name)
        proc = Proc(name, argv, self.tmp.path, extra_logs, env)
        self.procs.append(proc)
        if ready is None:
            return proc
        try:
            poll_until(lambda: ready(proc), what, timeout, proc)
        except StartError as e:
            proc.stop()
            if _ADDR_IN_USE.search(proc.log_text()):
                raise proc.start_error(f"{proc.name}: port taken", PortTaken) from e
            raise
        return proc

    def stop_all(self):
        for proc in reversed(self.procs):
            proc.stop()

    def close(self):
        """Stop every process (by pid); show log tails if a test failed;
        remove the temp dir unless a test failed or SPTEST_KEEP is set.
        A process started with clean_exit=True (shardproxy) must exit 0 on
        SIGTERM: under ASan a leak or error report makes it exit non-zero,
        and that fails the test class here."""
        unclean = []
        try:
            self.stop_all()
            unclean = [p for p in self.procs
                       if getattr(p, "clean_exit", False) and p.returncode != 0]
            if unclean:
                self.failed = True
        finally:
            if self.failed:
                for proc in self._procs_to_show(unclean):
                    print(f"\n=== {proc.name} (pid {proc.pid}, exit {proc.returncode}) ===\n"
                          f"{proc.log_tail()}", file=sys.stderr)
            self.tmp.cleanup(keep=self.failed)
        if unclean:
            raise AssertionError("exited unclean on SIGTERM: " + ", ".join(
                f"{p.name} (pid {p.pid}, exit {p.returncode})" for p in unclean))

    def _procs_to_show(self, unclean):
        """The shared processes and those of the failed tests (all of them
        when the failure is not a test's: set-up, or an unclean exit)."""
        if unclean or not self.failed_ranges:
            return self.procs
        show = set(range(self.class_procs))
        for first, end in self.failed_ranges:
            show.update(range(first, end))
        return [p for i, p in enumerate(self.procs) if i in show]

    # -- redis
    def start_redis(self, port=None, extra_args=(), unixsocket=False):
        """A redis-server on 127.0.0.1 (and a unix socket in the temp dir if
        `unixsocket`).  Ready when PING answers PONG from *this* pid's port."""
        exe = require_binary("redis-server")

        def once():
            p = port or free_port()
            argv = [exe, "--port", p, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--protected-mode", "no",
                    "--dir", self.tmp.path, "--logfile", ""]
            sock = None
            if unixsocket:
                sock = str(self.tmp.path / f"redis-{p}.sock")
                argv += ["--unixsocket", sock, "--unixsocketperm", "700"]
            argv += list(extra_args)

            def ready(proc):
                return (owns_listener(proc.pid, p) and
                        tcp_request(p, b"PING\r\n") == b"+PONG\r\n" and
                        (sock is None or os.path.exists(sock)))
            proc = self.start_process(self.unique("redis"), argv, ready, f"redis PONG on port {p}")
            return RedisServer(proc, p, sock)

        return start_with_retries(1 if port else START_ATTEMPTS, once)

    # -- memcached
    def start_memcached(self, port=None, extra_args=()):
        """A memcached on 127.0.0.1, no UDP.  Ready when `version` answers."""
        exe = require_binary("memcached")

        def once():
            p = port or free_port()
            argv = [exe, "-l", "127.0.0.1", "-p", p, "-U", "0"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
            argv += list(extra_args)

            def ready(proc):
                reply = tcp_request(p, b"version\r\n")
                return owns_listener(proc.pid, p) and reply is not None \
                    and reply.startswith(b"VERSION ")
            proc = self.start_process(self.unique("memcached"), argv, ready, f"memcached VERSION on port {p}")
            return MemcachedServer(proc, p)

        return start_with_retries(1 if port else START_ATTEMPTS, once)

    # -- nutcracker
    def start_nutcracker(self, conf, extra_args=()):
        """nutcracker with `conf`: a YAML string, or a callable returning one
        (called again on each retry, so it can pick fresh ports).  Ready when
        this pid listens on every pool's port (and socket) and the stats port."""
        return self._start_proxy(require_binary("nutcracker"), "nutcracker",
                                 conf, extra_args)

    def start_shardproxy(self, conf, extra_args=(), prefix=(), ready_workers=None,
                         exe=None, stats_port=None):
        """shardproxy, started and judged ready exactly as nutcracker is,
        plus (with workers) once the master counts `ready_workers` serving
        (default: every worker the config asks for).  `prefix` runs it
        through a command that execs it (e.g. prlimit); `exe` runs another
        copy of the binary; `stats_port` is -s (default: a free port)."""
        return self._start_proxy(exe or shardproxy_bin(), "shardproxy", conf,
                                 extra_args, prefix, ready_workers, stats_port)

    def _start_proxy(self, exe, kind, conf, extra_args, prefix=(),
                     ready_workers=None, fixed_stats_port=None):
        def once():
            text = conf() if callable(conf) else conf
            name = self.unique(kind)
            if kind == "shardproxy":
                text = with_event_backend(text)
            conf_path = self.tmp.file(f"{name}.yml", text)
            if kind == "shardproxy":
                conf_path = ConfPath(conf_path)
            log_path = self.tmp.path / f"{name}.log"
            nworkers = 0
            if kind == "shardproxy":
                nworkers = conf_workers(text)
            # the master's: the only stats port
            stats_port = fixed_stats_port or free_port()
            pools = conf_listens(text)
            argv = list(prefix) + [exe, "-c", conf_path, "-o", log_path,
                                   "-s", stats_port, "-a", "127.0.0.1"] \
                + list(extra_args)

            def ready(proc):
                for target in list(pools.values()) + [stats_port]:
                    if isinstance(target, int):
                        if not owns_listener(proc.pid, target):
                            return False
                    elif not os.path.exists(target):
                        return False
                if not all(tcp_accepts(t) for t in pools.values()
                           if isinstance(t, int)):
                    return False
                # every worker has started (the master counts them)
                want = nworkers if ready_workers is None else ready_workers
                return nworkers == 0 or read_stats(stats_port).get("workers") == want
            proc = self.start_process(name, argv, ready,
                                      f"{kind} listening on {sorted(pools)}",
                                      extra_logs=[log_path])
            proc.clean_exit = kind == "shardproxy"
            return ProxyServer(proc, conf_path, stats_port, pools, nworkers)

        # the stats port is fresh on each attempt; the pools' ports too when
        # conf is a callable
        return start_with_retries(1 if fixed_stats_port else START_ATTEMPTS,
                                  once)

    # -- shardproxy CLI
    def locate(self, proxy, pool, keys):
        """{key: server name} for `keys` of `pool`, by the proxy's own
        --locate on its configuration."""
        r = self.run_shardproxy(["-c", proxy.conf_path, "--locate", pool]
                                + list(keys))
        if r.returncode != 0:
            raise AssertionError(f"--locate failed: {r.stderr!r}")
        return {line.split(" -> ")[0]: line.split(" -> ")[1].split()[0]
                for line in r.stdout.decode().splitlines()}

    def run_shardproxy(self, args, input=b"", timeout=30.0, skip_if_missing=False):
        """Run `shardproxy ARGS` to completion (stdin = `input` bytes) and
        return the CompletedProcess with bytes stdout/stderr.  A run that
        outlives `timeout` is killed (by pid) and fails the test."""
        argv = [shardproxy_bin(skip_if_missing)] + [str(a) for a in args]
        try:
            return subprocess.run(argv, input=input, capture_output=True,
                                  timeout=timeout, preexec_fn=die_with_parent)
        except subprocess.TimeoutExpired as e:
            err = (e.stderr or b"")[-2000:].decode("utf-8", "replace")
            raise AssertionError(f"shardproxy {' '.join(argv[1:])} did not finish "
                                 f"within {timeout}s; stderr tail:\n{err}") from None


class HarnessTestCase(unittest.TestCase):
    """A TestCase with a class-wide `harness`, closed after the class's tests.
    Put class-wide setup in setUpHarness() (not setUpClass).  If it or any
    test fails, the temp dir is kept and every process's log tail printed.
    Subclasses overriding setUp must call super().setUp()."""

    harness = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.harness = Harness(cls.__name__)
        cls.addClassCleanup(cls.harness.close)
        try:
            cls.setUpHarness()
        except BaseException:
            cls.harness.failed = True
            raise
        cls.harness.class_procs = len(cls.harness.procs)

    @classmethod
    def setUpHarness(cls):
        """Class-wide setup hook: start shared servers here."""

    def setUp(self):
        super().setUp()
        self._first_proc = len(type(self).harness.procs)
        self.addCleanup(self._note_failure)

    def _note_failure(self):
        # Runs after the test body: look the test up in the result's
        # failures/errors (subtest entries carry .test_case).  The
        # traceback is printed at once, ahead of the log tails the class
        # prints at its end (a CI excerpt may show only the first lines).
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return
        for test, trace in list(result.failures) + list(result.errors):
            if getattr(test, "test_case", test) is self:
                harness = type(self).harness
                harness.failed = True
                harness.failed_ranges.append((self._first_proc,
                                              len(harness.procs)))
                print(f"\n--- {self.id()} failed:\n{trace}", file=sys.stderr)
                return


def main():
    """unittest.main() with verbose output; exits non-zero on failure."""
    unittest.main(verbosity=2)
