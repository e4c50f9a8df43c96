#!/usr/bin/env bash
# A test network on this machine: a scanner namespace and a target
# namespace joined by a veth pair, with emulated latency, loss, ICMP
# rejects and a mostly dead /24. Used by tests/portscan_field.rs and
# bench/portscan.sh; every packet stays inside the namespaces made here.
#
#   netlab.sh up TAG     set up (prints KEY=VALUE lines to source)
#   netlab.sh down TAG   tear down (kills the helpers, deletes namespaces)
#
# Settings (environment, for `up`):
#   RTT_MS=0         round-trip time added: each namespace holds incoming
#                    packets RTT_MS/2 in NFQUEUE (netlab-delay), on the
#                    INPUT hook of the *receiving* side (held on OUTPUT,
#                    kernel RSTs get dropped past a few hundred in flight)
#   LOSS_PCT=0       each packet dropped with this probability, in the
#                    target's prerouting and output (nft numgen random)
#   REJECT=""        nft port set answered with ICMP admin-prohibited
#                    (code 13), e.g. "1000-1999"
#   DROP=""          nft port set silently dropped, e.g. "2001-3000"
#   LISTEN=""        ports listened on (every target address), e.g. "22 80"
#   ICMP_UNLIMITED=0 1: the target sends every ICMP error it has a reason
#                    for (no icmp_ratelimit), so each rejected SYN is
#                    answered; by default Linux sends about one per second
#   LIVE=0           live addresses in the /24 HOSTS_NET (.1 .. .LIVE);
#                    the other addresses route into the target and die
#   DELAY_ONLY=""    one address of HOSTS_NET: only its packets get RTT_MS
#                    (a far host among near ones); by default every packet
#   DELAY_BIN        the netlab-delay binary (default: target/debug/examples)
#
# Output of `up`: SCAN_NS, TGT_NS, SCAN_IP, TGT_IP, HOSTS_NET.
# Needs root, iproute2, nftables, iptables (NFQUEUE), python3.
set -euo pipefail

cmd=${1:-}
TAG=${2:-}
[ -n "$cmd" ] && [ -n "$TAG" ] || { echo "usage: netlab.sh up|down TAG" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STATE=/tmp/netlab-$TAG
SCAN_NS=$TAG-s
TGT_NS=$TAG-t
SCAN_IP=10.231.0.1
TGT_IP=10.231.0.2
HOSTS_NET=10.232.0.0/24

down() {
    if [ -d "$STATE" ]; then
        for f in "$STATE"/*.pid; do
            [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
        done
    fi
    ip netns del "$SCAN_NS" 2>/dev/null || true
    ip netns del "$TGT_NS" 2>/dev/null || true
    rm -rf "$STATE"
}

# Starts "$@" in namespace $1 in the background, records its pid as
# $STATE/$2.pid, and waits (bounded) for it to print "ready".
start_helper() {
    local ns=$1 name=$2
    shift 2
    local log=$STATE/$name.log
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    echo $! >"$STATE/$name.pid"
    for _ in $(seq 1 100); do
        grep -qs ready "$log" && return 0
        kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null || break
        sleep 0.05
    done
    echo "netlab: $name did not start: $(cat "$log")" >&2
    return 1
}

delay() {
    local ns=$1 ms=$2 only=()
    if [ -n "${DELAY_ONLY:-}" ]; then
        # Packets from the far address into the scanner, to it in the target.
        if [ "$ns" = "$SCAN_NS" ]; then only=(-s "$DELAY_ONLY"); else only=(-d "$DELAY_ONLY"); fi
    fi
    iptables_in "$ns" -A INPUT "${only[@]}" -j NFQUEUE --queue-num 0
    start_helper "$ns" "delay-$ns" "$DELAY_BIN" 0 "$ms"
}

iptables_in() {
    local ns=$1
    shift
    ip netns exec "$ns" iptables -w "$@"
}

nft_rules() {
    local loss=${LOSS_PCT:-0} reject=${REJECT:-} drop=${DROP:-}
    {
        echo "table inet netlab {"
        echo "  chain pre { type filter hook prerouting priority -300;"
        [ "$loss" -gt 0 ] && echo "    numgen random mod 100 < $loss drop"
        echo "  }"
        echo "  chain out { type filter hook output priority -300;"
        [ "$loss" -gt 0 ] && echo "    numgen random mod 100 < $loss drop"
        echo "  }"
        echo "  chain in { type filter hook input priority 10;"
        [ -n "$reject" ] && echo "    tcp dport { $reject } reject with icmpx type admin-prohibited"
        [ -n "$drop" ] && echo "    tcp dport { $drop } drop"
        echo "  }"
        echo "}"
    } | ip netns exec "$TGT_NS" nft -f -
}

up() {
    DELAY_BIN=${DELAY_BIN:-$ROOT/target/debug/examples/netlab-delay}
    down
    mkdir -p "$STATE"
    ip netns add "$SCAN_NS"
    ip netns add "$TGT_NS"
    ip link add "${TAG}s" type veth peer name "${TAG}t"
    ip link set "${TAG}s" netns "$SCAN_NS"
    ip link set "${TAG}t" netns "$TGT_NS"
    ip -n "$SCAN_NS" addr add "$SCAN_IP/24" dev "${TAG}s"
    ip -n "$TGT_NS" addr add "$TGT_IP/24" dev "${TAG}t"
    for ns in "$SCAN_NS" "$TGT_NS"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$SCAN_NS" link set "${TAG}s" up
    ip -n "$TGT_NS" link set "${TAG}t" up
    # The /24: routed to the target, where only LIVE addresses exist; a
    # packet for any other one is not forwarded (ip_forward is off in a
    # new namespace) and dies without an answer, like a dead host.
    ip -n "$SCAN_NS" route add "$HOSTS_NET" via "$TGT_IP"
    local i
    for i in $(seq 1 "${LIVE:-0}"); do
        ip -n "$TGT_NS" addr add "10.232.0.$i/32" dev lo
    done
    # Room for a full-speed scan: ephemeral ports and the SYN backlog.
    ip netns exec "$SCAN_NS" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
    ip netns exec "$TGT_NS" sysctl -qw net.ipv4.tcp_max_syn_backlog=65536
    ip netns exec "$TGT_NS" sysctl -qw net.core.somaxconn=65535
    if [ "${ICMP_UNLIMITED:-0}" = 1 ]; then
        ip netns exec "$TGT_NS" sysctl -qw net.ipv4.icmp_ratelimit=0 \
            net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000
    fi
    nft_rules
    local rtt=${RTT_MS:-0}
    if [ "$rtt" -gt 0 ]; then
        [ -x "$DELAY_BIN" ] || { echo "netlab: no $DELAY_BIN (cargo build --example netlab-delay)" >&2; exit 1; }
        delay "$SCAN_NS" $((rtt / 2))
        delay "$TGT_NS" $((rtt - rtt / 2))
    fi
    if [ -n "${LISTEN:-}" ]; then
        # shellcheck disable=SC2086
        start_helper "$TGT_NS" listen python3 "$ROOT/bench/portscan_listen.py" 0.0.0.0 $LISTEN
    fi
    echo "SCAN_NS=$SCAN_NS"
    echo "TGT_NS=$TGT_NS"
    echo "SCAN_IP=$SCAN_IP"
    echo "TGT_IP=$TGT_IP"
    echo "HOSTS_NET=$HOSTS_NET"
}

case $cmd in
up) up ;;
down) down ;;
*) echo "usage: netlab.sh up|down TAG" >&2; exit 2 ;;
esac
