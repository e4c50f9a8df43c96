#!/usr/bin/env python3
"""Compares one portscan run (JSON Lines) with one nmap run (-oX, with -d
so that every port is listed) for the UDP and -sV benchmarks.

usage: portscan_compare.py states   PORTSCAN.jsonl NMAP.xml
       portscan_compare.py services PORTSCAN.jsonl NMAP.xml

states:   prints "same=N differ=M" and one line per port whose state
          differs (port, portscan's, nmap's).
services: for the ports both found open, prints "agree=N of M" and one
          line per port, portscan's name against nmap's. nmap's name of a
          service behind TLS ("http" with tunnel="ssl", shown ssl/http)
          agrees with portscan's "ssl" (portscan does not look inside the
          tunnel), and "https" with "ssl" too.
"""
import json
import sys
import xml.etree.ElementTree as ET


def portscan(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[(r["proto"], r["port"])] = r
    return out


def nmap(path):
    out = {}
    for port in ET.parse(path).getroot().iter("port"):
        key = (port.get("protocol"), int(port.get("portid")))
        state = port.find("state").get("state")
        svc = port.find("service")
        name = None
        if svc is not None:
            name = svc.get("name")
            if svc.get("tunnel") == "ssl":
                name = "ssl/" + name
        out[key] = (state, name)
    return out


def states(ps, nm):
    keys = sorted(set(ps) | set(nm))
    diff = [
        (k, ps.get(k, {}).get("state"), nm.get(k, (None,))[0])
        for k in keys
        if ps.get(k, {}).get("state") != nm.get(k, (None,))[0]
    ]
    print(f"same={len(keys) - len(diff)} differ={len(diff)}")
    for (proto, port), a, b in diff:
        print(f"  {port}/{proto}: portscan {a}, nmap {b}")


def agree(ours, theirs):
    if ours is None or theirs is None:
        return False
    if ours == theirs:
        return True
    return ours == "ssl" and (theirs.startswith("ssl/") or theirs in ("https", "ssl"))


def services(ps, nm):
    both = sorted(k for k in ps if ps[k]["state"] == "open" and nm.get(k, ("",))[0] == "open")
    ok = 0
    lines = []
    for k in both:
        ours, theirs = ps[k].get("service"), nm[k][1]
        good = agree(ours, theirs)
        ok += good
        lines.append(f"  {k[1]}/{k[0]}: portscan {ours}, nmap {theirs}{'' if good else '  (DISAGREE)'}")
    print(f"agree={ok} of {len(both)}")
    print("\n".join(lines))


def main():
    mode, ps, nm = sys.argv[1], portscan(sys.argv[2]), nmap(sys.argv[3])
    {"states": states, "services": services}[mode](ps, nm)


if __name__ == "__main__":
    main()
