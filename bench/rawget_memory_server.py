#!/usr/bin/env python3
"""Local HTTP/1.1 server for bench/rawget_memory.sh (127.0.0.1 only).

Prints its port on the first line of stdout, then serves until killed:
- GET /stall answers (5 bytes) only once EXPECT other requests have been
  answered, or after 120 s: a first URL that holds every later one back;
- any other request: its body (Content-Length) is read and dropped, then
  the answer is a body of BODY bytes.

usage: rawget_memory_server.py BODY_BYTES EXPECT
"""
import socket
import sys
import threading

BODY = int(sys.argv[1])
EXPECT = int(sys.argv[2])
served = 0
lock = threading.Lock()
all_served = threading.Event()
PAYLOAD = b"x" * BODY


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def handle(conn):
    global served
    try:
        head, rest = read_head(conn)
        if head is None:
            return
        path = head.split(" ")[1]
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        left = length - len(rest)
        while left > 0:
            chunk = conn.recv(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)
        if path == "/stall":
            all_served.wait(120)
            body = b"first"
        else:
            body = PAYLOAD
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        conn.sendall(body)
        if path != "/stall":
            with lock:
                served += 1
                if served >= EXPECT:
                    all_served.set()
    finally:
        conn.close()


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


main()
