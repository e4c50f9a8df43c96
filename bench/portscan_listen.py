#!/usr/bin/env python3
"""Benchmark listeners: bind IP:PORT for each PORT and, for TCP, accept
and close connections, or with --udp answer every datagram with a short
one, until killed. Prints "ready" once every port is bound, so the
benchmark never races the bind.

usage: portscan_listen.py IP [--udp] PORT...
"""
import selectors
import socket
import sys


def main() -> None:
    ip, args = sys.argv[1], sys.argv[2:]
    udp = "--udp" in args
    ports = [int(p) for p in args if p != "--udp"]
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(family, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        if not udp:
            s.listen(1024)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                if udp:
                    _, peer = key.fileobj.recvfrom(4096)
                    key.fileobj.sendto(b"rawnet-bench\n", peer)
                else:
                    conn, _ = key.fileobj.accept()
                    conn.close()
            except OSError:
                pass


if __name__ == "__main__":
    main()
