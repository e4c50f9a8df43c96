#!/usr/bin/env python3
"""Scripted servers for tests/detect_daemons.rs, one protocol per process:

    peers.py PROTOCOL PORT

listens on 127.0.0.1:PORT and answers as that protocol's server does in
its first exchange, byte for byte as its specification says (written for
these tests). Protocols: ftp (RFC 959), smtp (RFC 5321), pop3 (RFC 1939),
imap (RFC 9051), mysql (MySQL client/server protocol, HandshakeV10 as a
MariaDB server sends it), mongodb (wire protocol OP_REPLY to an OP_QUERY
isMaster), rdp (TPKT + X.224 Connection Confirm + RDP_NEG_RSP), unknown
(one line that no protocol uses, then close).

Every connection is bounded: 5 s without input closes it, at most 64
commands are answered. The process runs until the test stops it.
"""

import socket
import socketserver
import struct
import sys

GREETINGS = {
    "ftp": b"220 (vsFTPd 3.0.3)\r\n",
    "smtp": b"220 mail.rawnet.test ESMTP Postfix (Debian/GNU)\r\n",
    "pop3": b"+OK Dovecot (Debian) ready.\r\n",
    "imap": b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
    b"LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
}

# What a text server says to a command it does not know.
UNKNOWN_COMMAND = {
    "ftp": b"530 Please login with USER and PASS.\r\n",
    "smtp": b"502 5.5.2 Error: command not recognized\r\n",
    "pop3": b"-ERR Unknown command.\r\n",
    "imap": b"* BAD Error in IMAP command: Unknown command.\r\n",
}


def mysql_handshake():
    """HandshakeV10 with a MariaDB version string, packet sequence 0."""
    payload = b"\x0a"
    payload += b"5.5.5-10.11.6-MariaDB-0+deb12u1\x00"
    payload += struct.pack("<I", 42)  # connection id
    payload += b"rawnet#1\x00"  # auth-plugin-data part 1 + filler
    payload += struct.pack("<H", 0xF7FE)  # capability flags (lower)
    payload += bytes([45])  # charset utf8mb4_general_ci
    payload += struct.pack("<H", 0x0002)  # status: autocommit
    payload += struct.pack("<H", 0x81FF)  # capability flags (upper)
    payload += bytes([21])  # auth plugin data length
    payload += b"\x00" * 6  # reserved
    payload += struct.pack("<I", 0x1D)  # MariaDB extended capabilities
    payload += b"rawnet#2test\x00"  # auth-plugin-data part 2
    payload += b"mysql_native_password\x00"
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


def bson(fields):
    """A BSON document from (name, kind, value bytes) triples."""
    body = b"".join(bytes([k]) + n.encode() + b"\x00" + v for n, k, v in fields)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def mongo_reply(request_id):
    doc = bson(
        [
            ("ismaster", 0x08, b"\x01"),
            ("topologyVersion", 0x03, bson([("counter", 0x12, struct.pack("<q", 0))])),
            ("maxBsonObjectSize", 0x10, struct.pack("<i", 16777216)),
            ("maxMessageSizeBytes", 0x10, struct.pack("<i", 48000000)),
            ("localTime", 0x09, struct.pack("<q", 1_800_000_000_000)),
            ("minWireVersion", 0x10, struct.pack("<i", 0)),
            ("maxWireVersion", 0x10, struct.pack("<i", 17)),
            ("readOnly", 0x08, b"\x00"),
            ("ok", 0x01, struct.pack("<d", 1.0)),
        ]
    )
    body = struct.pack("<iqii", 8, 0, 0, 1) + doc
    return struct.pack("<iiii", 16 + len(body), 7, request_id, 1) + body


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(5)
        try:
            PROTOCOLS[self.server.protocol](conn)
        except (OSError, ValueError):
            pass


def text_server(conn, protocol):
    conn.sendall(GREETINGS[protocol])
    pending = b""
    for _ in range(64):
        chunk = conn.recv(4096)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip().upper().startswith((b"QUIT", b"LOGOUT")):
                conn.sendall(b"221 Bye\r\n" if protocol in ("ftp", "smtp") else b"+OK Bye\r\n")
                return
            conn.sendall(UNKNOWN_COMMAND[protocol])


def mysql_server(conn):
    conn.sendall(mysql_handshake())
    read_exact(conn, 4)  # wait for the client (or the timeout), then close


def mongodb_server(conn):
    for _ in range(64):
        header = read_exact(conn, 16)
        if header is None:
            return
        length, request_id, _, opcode = struct.unpack("<iiii", header)
        if opcode != 2004 or not 16 < length <= 48 * 1024 * 1024:
            return  # not a message we serve: drop the connection, as mongod does
        if read_exact(conn, length - 16) is None:
            return
        conn.sendall(mongo_reply(request_id))


def rdp_server(conn):
    tpkt = read_exact(conn, 4)
    if tpkt is None or tpkt[0] != 3:
        return
    length = struct.unpack(">H", tpkt[2:4])[0]
    request = read_exact(conn, length - 4)
    if request is None or len(request) < 2 or request[1] != 0xE0:
        return
    neg_rsp = bytes([2, 0]) + struct.pack("<HI", 8, 1)  # RDP_NEG_RSP: TLS
    x224 = bytes([6 + len(neg_rsp), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg_rsp
    conn.sendall(bytes([3, 0]) + struct.pack(">H", 4 + len(x224)) + x224)
    read_exact(conn, 1)


def unknown_server(conn):
    conn.sendall(b"rawnet says nothing you know\r\n")


PROTOCOLS = {
    "ftp": lambda c: text_server(c, "ftp"),
    "smtp": lambda c: text_server(c, "smtp"),
    "pop3": lambda c: text_server(c, "pop3"),
    "imap": lambda c: text_server(c, "imap"),
    "mysql": mysql_server,
    "mongodb": mongodb_server,
    "rdp": rdp_server,
    "unknown": unknown_server,
}


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    protocol, port = sys.argv[1], int(sys.argv[2])
    if protocol not in PROTOCOLS:
        sys.exit(f"unknown protocol {protocol}")
    with Server(("127.0.0.1", port), Handler) as server:
        server.protocol = protocol
        server.serve_forever()


if __name__ == "__main__":
    main()
