#!/usr/bin/python3
"""bench/cpu_profile.py's sample classifier: every perf sample lands in the
bucket its call chain says (the "Where the CPU goes" table of make bench
rests on it). Canned `perf script -F comm,tid,ip,sym,dso` text, no perf run."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import cpu_profile  # noqa: E402

K = "[kernel.kallsyms]"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def sample(*frames):
    lines = ["shardproxy 4242 "]
    for i, (sym, dso) in enumerate(frames):
        lines.append(f"\t{0xffffffff81000000 + i:x} {sym} ({dso})")
    return "\n".join(lines) + "\n\n"


WRITEV_DELIVERY = sample(("tcp_v4_rcv", K), ("net_rx_action", K), ("tcp_sendmsg", K),
                         ("do_writev", K), ("do_syscall_64", K), ("__GI___writev", LIBC))
WRITEV_OWN = sample(("tcp_write_xmit", K), ("tcp_sendmsg_locked", K), ("tcp_sendmsg", K),
                    ("do_writev", K), ("do_syscall_64", K), ("__GI___writev", LIBC))
URING_SEND = sample(("tcp_sendmsg", K), ("io_sendmsg", K), ("io_issue_sqe", K),
                    ("__do_sys_io_uring_enter", K), ("__x64_sys_io_uring_enter", K),
                    ("syscall", LIBC))
URING_OWN = sample(("io_submit_sqes", K), ("__do_sys_io_uring_enter", K),
                   ("__x64_sys_io_uring_enter", K), ("syscall", LIBC))
READ = sample(("_copy_to_iter", K), ("tcp_recvmsg", K), ("sock_read_iter", K),
              ("ksys_read", K), ("do_syscall_64", K), ("read", LIBC))
EPOLL = sample(("finish_task_switch.isra.0", K), ("do_epoll_wait", K),
               ("__x64_sys_epoll_pwait", K), ("do_syscall_64", K), ("epoll_pwait", LIBC))
CLOSE = sample(("tcp_close", K), ("__fput", K), ("__x64_sys_close", K), ("close", LIBC))
FCNTL_LIKE = sample(("do_prlimit", K), ("__x64_sys_prlimit64", K), ("prlimit", LIBC))
SOFTIRQ = sample(("net_rx_action", K), ("handle_softirqs", K), ("asm_common_interrupt", K))
USER = sample(("sp_redis_parse", "/usr/sbin/shardproxy"), ("main", "/usr/sbin/shardproxy"))


class ClassifyTest(unittest.TestCase):
    def test_each_bucket(self):
        want = {"delivery": WRITEV_DELIVERY, "write": WRITEV_OWN, "read": READ,
                "epoll": EPOLL, "accept/close": CLOSE, "other syscalls": FCNTL_LIKE,
                "no syscall": SOFTIRQ, "user": USER, "io_uring": URING_OWN}
        for bucket, text in want.items():
            with self.subTest(bucket=bucket):
                self.assertEqual(dict(cpu_profile.parse_script(text)), {bucket: 1})

    def test_io_uring_sends_count_as_writes(self):
        self.assertEqual(dict(cpu_profile.parse_script(URING_SEND)), {"write": 1})

    def test_counts_add_up(self):
        text = WRITEV_DELIVERY * 3 + USER * 2 + EPOLL
        self.assertEqual(dict(cpu_profile.parse_script(text)),
                         {"delivery": 3, "user": 2, "epoll": 1})

    def test_every_bucket_is_reported(self):
        got = cpu_profile.parse_script(WRITEV_DELIVERY + USER)
        self.assertTrue(set(got) <= set(cpu_profile.BUCKETS))


if __name__ == "__main__":
    unittest.main()
