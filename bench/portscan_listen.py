#!/usr/bin/env python3
"""Benchmark listeners: bind IP:PORT for each PORT, accept and close
connections until killed. Prints "ready" once every port is listening, so
the benchmark never races the bind.

usage: portscan_listen.py IP PORT...
"""
import selectors
import socket
import sys


def main() -> None:
    ip, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        s.listen(1024)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                conn, _ = key.fileobj.accept()
                conn.close()
            except OSError:
                pass


if __name__ == "__main__":
    main()
