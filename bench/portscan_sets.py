#!/usr/bin/env python3
"""Print the open ports (and filtered count) found by portscan or nmap.

usage: portscan_sets.py portscan FILE          (portscan --json output)
       portscan_sets.py nmap FILE [NORMAL]     (nmap -oG output, and
                                                optionally its -oN output)

Output: one line "open=P1,P2,... filtered=N" (N is '?' when the tool's
output does not say). When more than one address has open ports, the
open set is written as IP:PORT pairs, sorted by address then port.

usage: portscan_sets.py top-ports N   (the N most frequent TCP ports of
                                        nmap-services, comma-separated)
"""
import ipaddress
import json
import re
import sys


def from_portscan(text: str) -> tuple[list[tuple[str, int]], str]:
    opened, filtered = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record["state"] == "open":
            opened.append((record["ip"], int(record["port"])))
        elif record["state"] == "filtered":
            filtered += 1
    return sorted(opened), str(filtered)


def from_nmap(text: str) -> tuple[list[tuple[str, int]], str]:
    opened, filtered = [], 0
    for line in text.splitlines():
        ports = re.search(r"Ports: ([^\t]*)", line)
        host = re.search(r"Host: (\S+)", line)
        if ports and host:
            for entry in ports.group(1).split(", "):
                fields = entry.split("/")
                if len(fields) < 2:
                    continue  # a host with every port ignored
                if fields[1] == "open":
                    opened.append((host.group(1), int(fields[0])))
                elif fields[1] == "filtered":
                    filtered += 1
        ignored = re.search(r"Ignored State: filtered \((\d+)\)", line)
        if ignored:
            filtered += int(ignored.group(1))
    return opened, str(filtered)


def open_set(opened: list[tuple[str, int]]) -> str:
    """Ports, or IP:PORT pairs when several addresses have open ports."""
    pairs = sorted(set(opened), key=lambda p: (ipaddress.ip_address(p[0]), p[1]))
    if len({ip for ip, _ in pairs}) > 1:
        return ",".join(f"{ip}:{port}" for ip, port in pairs)
    return ",".join(str(port) for _, port in pairs)


def top_ports(n: int) -> str:
    """The n most frequent TCP ports listed in nmap-services."""
    ranked = []
    with open("/usr/share/nmap/nmap-services", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 3 or line.startswith("#") or not fields[1].endswith("/tcp"):
                continue
            ranked.append((float(fields[2]), int(fields[1].split("/")[0])))
    ranked.sort(key=lambda r: -r[0])
    return ",".join(str(p) for p in sorted(p for _, p in ranked[:n]))


def nmap_not_shown_filtered(text: str) -> int:
    """Filtered ports nmap left out of its listing ("Not shown: ...")."""
    for line in text.splitlines():
        if line.startswith("Not shown:"):
            found = re.search(r"(\d+) filtered", line)
            return int(found.group(1)) if found else 0
    return 0


def main() -> None:
    tool, path = sys.argv[1], sys.argv[2]
    if tool == "top-ports":
        print(top_ports(int(path)))
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    opened, filtered = (from_portscan if tool == "portscan" else from_nmap)(text)
    if tool == "nmap" and len(sys.argv) > 3:
        with open(sys.argv[3], encoding="utf-8") as f:
            filtered = str(int(filtered) + nmap_not_shown_filtered(f.read()))
    print(f"open={open_set(opened)} filtered={filtered}")


if __name__ == "__main__":
    main()
