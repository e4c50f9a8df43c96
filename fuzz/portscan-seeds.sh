#!/usr/bin/env bash
# Writes the seeds of merge_input and resume_journal (and portscan's
# JSON Lines seeds of pairs) from real outputs: portscan (and nmap, when
# installed) scanning loopback, a Python HTTP server and a banner server,
# all inside a network namespace of their own that has only loopback.
#   fuzz/portscan-seeds.sh [PORTSCAN]    (as root; PORTSCAN defaults to
#                                         target/debug/portscan)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
portscan=$(realpath "${1:-$root/target/debug/portscan}")
if [ "${IN_SEED_NETNS:-}" != 1 ]; then
    exec env IN_SEED_NETNS=1 unshare --net -- "$0" "$portscan"
fi
ip link set lo up
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
mkdir www && echo hello > www/index.html
python3 -m http.server 8080 --bind 127.0.0.1 --directory www >/dev/null 2>&1 &
python3 -c '
import socket, threading
def serve(family, host):
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 2222)); s.listen(50)
    while True:
        c, _ = s.accept(); c.sendall(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"); c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, "::1"), daemon=True).start()
serve(socket.AF_INET, "127.0.0.1")
' >/dev/null 2>&1 &
for port in 8080 2222; do
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
        sleep 0.2
    done
done
ports=22,80,2222,8080,9000-9003
scan() { timeout 60 "$portscan" "$@" --no-progress >/dev/null 2>&1; }
scan 127.0.0.1,::1 $ports -sV --banner -a -o full.jsonl -oX full.xml --seed 7
scan 127.0.0.1 $ports -sV -o open.jsonl -oX open.xml --seed 7
for i in 0 1; do
    scan 127.0.0.1,::1 $ports -sV -a --shard $i/2 -o shard$i.jsonl -oX shard$i.xml --seed 9
done
scan 127.0.0.1 $ports -sV -a --resume journal --seed 11 -o /dev/null
scan 127.0.0.1 $ports,U:53,161,123 -sU -sT -a -o udp.jsonl -oX udp.xml --seed 5
scan --merge shard0.jsonl shard1.xml -o merged.jsonl -oX merged.xml
if command -v nmap >/dev/null; then
    timeout 120 nmap -sT -sV -p 1-200,8080 --reason -oX nmap-tcp.xml 127.0.0.1 >/dev/null 2>&1
    timeout 120 nmap -sU -p 53,123,161,500 --reason -oX nmap-udp.xml 127.0.0.1 >/dev/null 2>&1
    timeout 120 nmap -6 -sT -p 22,80,8080 -oX nmap-v6.xml ::1 >/dev/null 2>&1
fi
seeds=$root/fuzz/seeds
mkdir -p "$seeds/merge_input" "$seeds/resume_journal" "$seeds/pairs"
# merge_input: byte 0 sets the read buffer's size.
for f in full open shard0 shard1 udp merged; do
    for ext in jsonl xml; do
        { printf '\x07'; cat $f.$ext; } > "$seeds/merge_input/portscan-$f.$ext"
    done
done
for f in nmap-*.xml; do
    [ -e "$f" ] && { printf '\x07'; cat "$f"; } > "$seeds/merge_input/$f"
done
{ printf '\x03\n\n  \t'; head -2 full.jsonl; } > "$seeds/merge_input/leading-space-jsonl"
{ printf '\x03'; head -c 700 full.jsonl; } > "$seeds/merge_input/cut-record"
printf '\x0f' > "$seeds/merge_input/empty"
# resume_journal: byte 0 sets the buffer's size (bits 0-3) and asks for
# another scan than the header's (bit 4).
{ printf '\x05'; cat journal; } > "$seeds/resume_journal/journal"
{ printf '\x15'; cat journal; } > "$seeds/resume_journal/journal-other-scan"
{ printf '\x02'; head -c 1000 journal; } > "$seeds/resume_journal/journal-cut-in-record"
{ printf '\x02'; head -c 60 journal; } > "$seeds/resume_journal/journal-cut-in-header"
{ printf '\x00'; head -1 journal; } > "$seeds/resume_journal/header-only"
cp open.jsonl "$seeds/pairs/portscan-open.jsonl"
cp udp.jsonl "$seeds/pairs/portscan-all-udp.jsonl"
