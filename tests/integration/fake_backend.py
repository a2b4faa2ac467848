#!/usr/bin/python3
"""A misbehaving Redis backend for the hostile-input tests: it listens on
127.0.0.1:PORT and, for every connection, behaves as MODE says:

  garbage     answers each request with bytes that are not RESP
  stray       answers +OK, then 100 ms later a reply nobody asked for
  close-mid   answers with half a bulk reply, then closes
  never-read  accepts and never reads (the proxy's writes back up)
  deep N      answers each request with an array nested N deep
  ok          answers +OK to each request (control)

Usage: fake_backend.py PORT MODE [N]. Runs until killed; bounded per
connection (it stops after 10,000 requests on one connection).
"""

import socket
import sys
import threading


def serve(conn, mode, depth):
    with conn:
        if mode == "never-read":
            threading.Event().wait(3600)
            return
        for _ in range(10000):
            data = conn.recv(65536)
            if not data:
                return
            if mode == "garbage":
                conn.sendall(b"@#$% not resp\r\n")
            elif mode == "close-mid":
                conn.sendall(b"$10\r\nabc")
                return
            elif mode == "stray":
                conn.sendall(b"+OK\r\n")
                threading.Event().wait(0.1)
                conn.sendall(b"+STRAY\r\n")
            elif mode == "deep":
                conn.sendall(b"*1\r\n" * depth + b":1\r\n")
            else:
                conn.sendall(b"+OK\r\n")


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, mode, depth), daemon=True).start()


if __name__ == "__main__":
    main()
