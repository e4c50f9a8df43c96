#!/usr/bin/env python3
"""Print the open ports (and filtered count) found by portscan or nmap.

usage: portscan_sets.py portscan FILE          (portscan --json output)
       portscan_sets.py nmap FILE [NORMAL]     (nmap -oG output, and
                                                optionally its -oN output)

Output: one line "open=P1,P2,... filtered=N" (N is '?' when the tool's
output does not say).
"""
import json
import re
import sys


def from_portscan(text: str) -> tuple[list[int], str]:
    opened, filtered = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record["state"] == "open":
            opened.append(int(record["port"]))
        elif record["state"] == "filtered":
            filtered += 1
    return sorted(opened), str(filtered)


def from_nmap(text: str) -> tuple[list[int], str]:
    opened, filtered = [], 0
    for line in text.splitlines():
        ports = re.search(r"Ports: ([^\t]*)", line)
        if ports:
            for entry in ports.group(1).split(", "):
                fields = entry.split("/")
                if fields[1] == "open":
                    opened.append(int(fields[0]))
                elif fields[1] == "filtered":
                    filtered += 1
        ignored = re.search(r"Ignored State: filtered \((\d+)\)", line)
        if ignored:
            filtered += int(ignored.group(1))
    return sorted(opened), str(filtered)


def nmap_not_shown_filtered(text: str) -> int:
    """Filtered ports nmap left out of its listing ("Not shown: ...")."""
    for line in text.splitlines():
        if line.startswith("Not shown:"):
            found = re.search(r"(\d+) filtered", line)
            return int(found.group(1)) if found else 0
    return 0


def main() -> None:
    tool, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    opened, filtered = (from_portscan if tool == "portscan" else from_nmap)(text)
    if tool == "nmap" and len(sys.argv) > 3:
        with open(sys.argv[3], encoding="utf-8") as f:
            filtered = str(int(filtered) + nmap_not_shown_filtered(f.read()))
    print(f"open={','.join(map(str, opened))} filtered={filtered}")


if __name__ == "__main__":
    main()
