#!/usr/bin/python3
"""Run a command where io_uring is refused: a seccomp filter makes
io_uring_setup(2) fail with EPERM (what kernel.io_uring_disabled does),
then exec the command. For tests of the fallback to epoll; needs no root
(PR_SET_NO_NEW_PRIVS first).

    no_io_uring.py PROGRAM [ARGS...]
"""
import ctypes
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
NR_IO_URING_SETUP = 425         # the same number on every Linux architecture


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def refuse_io_uring():
    prog = (SockFilter * 4)(
        SockFilter(0x20, 0, 0, 0),                      # A = seccomp_data.nr
        SockFilter(0x15, 0, 1, NR_IO_URING_SETUP),      # A == 425 ?
        SockFilter(0x06, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        SockFilter(0x06, 0, 0, SECCOMP_RET_ALLOW))
    fprog = SockFprog(len(prog), prog)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog),
                  0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    refuse_io_uring()
    os.execv(sys.argv[1], sys.argv[1:])
