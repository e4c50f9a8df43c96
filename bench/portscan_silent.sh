#!/usr/bin/env bash
# Side-by-side benchmark of a scan of silent space (issue 14), in network
# namespaces this script creates and deletes:
#
# (1) silent16: a scanner namespace joined by a veth pair to a target
#     namespace that owns all of 10.241.0.0/16 (a local route on lo); an
#     nft rule drops every packet to the /16 except to LIVE (24) addresses,
#     whose port 80 is open (one listener on 0.0.0.0:80). One port, 65536
#     addresses, 24 live. Side by side, RUNS times each:
#       portscan -sS (adaptive rate; defaults and -Pn), portscan -sT
#       (defaults and -Pn), zmap and masscan at each rate of RATES (the
#       fastest exact run counts), nmap -sS -n -T4 --min-rate 10000 (once).
#     Targets: -sS <= 1.0x zmap's best exact time, exact, peak RSS < 50 MiB;
#     -sT <= 5x zmap's best.
# (1b) silent12 (opt-in: SCENARIOS=silent12): the same on 10.16.0.0/12,
#     1048576 addresses, 48 live; portscan -sS and -sT with -Pn (discovery
#     doubles -sT's probes), zmap and masscan at RATES; no nmap (it would
#     take a quarter of an hour). The same targets.
# (2) loopback: 127.0.0.1 ports 1-65535 in a fresh namespace, listeners on
#     LO_PORTS: portscan -sS vs nmap -sS (-T4 and -T5, the faster counts).
#     Target: <= 0.5x.
#
# Prints wall time (best of RUNS), peak RSS, found/expected and the ratios;
# exits 1 when a run of portscan was not exact or a target was missed.
# Every packet stays inside the namespaces (the scanner's only route to
# 10.241.0.0/16 is the veth). Needs root.
#   bench/portscan_silent.sh                 silent16 and loopback
#   SCENARIOS=loopback RUNS=1 bench/portscan_silent.sh
#   SCENARIOS=silent12 RUNS=1 bench/portscan_silent.sh
set -euo pipefail

RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
PORTSCAN_GIVEN=${PORTSCAN:-}
PORTSCAN=${PORTSCAN:-$ROOT/target/release/portscan}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
SCENARIOS=${SCENARIOS:-silent16 loopback}
# Packet rates tried for zmap and masscan (packets a second).
RATES=${RATES:-100000 300000 600000 1000000}
NMAP=${NMAP:-1}   # NMAP=0 skips nmap -sS on the /16 (about a minute)

TAG=pss$$
NS_S=$TAG-s
NS_T=$TAG-t
NS_LO=$TAG-lo
V_S=${TAG}s
V_T=${TAG}t
S_IP=10.240.0.1
T_IP=10.240.0.2
NET=10.241.0.0/16
LIVE_COUNT=24
LO_PORTS=(22 80 443 8080 31337)

WORK=$(mktemp -d)
FAILED=0
LISTENERS=()

cleanup() {
    for pid in "${LISTENERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for ns in "$NS_S" "$NS_T" "$NS_LO"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; FAILED=1; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
le() { python3 -c "import sys; sys.exit(0 if $1 <= $2 else 1)"; }

ensure_tools() {
    [ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces, nft, raw sockets)"; exit 2; }
    "$ROOT/.ci/install-packages" >/dev/null
    local t
    for t in zmap masscan nmap nft ip python3; do
        command -v "$t" >/dev/null || { say "missing $t (see .ci/packages.d/wt-syn.txt)"; exit 2; }
    done
    [ -x /usr/bin/time ] || { say "missing /usr/bin/time"; exit 2; }
    if [ -z "$PORTSCAN_GIVEN" ]; then
        say "building portscan (release)"
        (cd "$ROOT" && timeout 1200 cargo build --release --locked --quiet --bin portscan)
    fi
}

# The LIVE_COUNT live addresses: spread over NET, fixed.
live_addresses() {
    python3 -c "
import ipaddress
net = ipaddress.ip_network('$NET')
for i in range($LIVE_COUNT):
    n = (i * 2731 + 517) % (net.num_addresses - 2) + 1
    print(net[n])"
}

# Addresses in NET.
net_size() { python3 -c "import ipaddress; print(ipaddress.ip_network('$NET').num_addresses)"; }

start_listener() {   # NS IP PORT...
    local ns=$1 ip=$2 fifo=$WORK/ready.$1
    shift 2
    mkfifo "$fifo"
    ip netns exec "$ns" python3 "$BENCH/portscan_listen.py" "$ip" "$@" >"$fifo" &
    LISTENERS+=($!)
    timeout 10 head -n1 "$fifo" | grep -q ready || { say "listener in $ns did not start"; exit 1; }
}

setup_silent16() {
    ip netns add "$NS_S"
    ip netns add "$NS_T"
    ip link add "$V_S" type veth peer name "$V_T"
    ip link set "$V_S" netns "$NS_S"
    ip link set "$V_T" netns "$NS_T"
    ip -n "$NS_S" addr add "$S_IP/24" dev "$V_S"
    ip -n "$NS_T" addr add "$T_IP/24" dev "$V_T"
    for ns in "$NS_S" "$NS_T"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_S" link set "$V_S" up
    ip -n "$NS_T" link set "$V_T" up
    ip -n "$NS_S" route add "$NET" via "$T_IP"
    # The target owns the whole /16 (AnyIP) ...
    ip -n "$NS_T" route add local "$NET" dev lo
    # ... and drops, silently, everything not for a live address.
    local set
    set=$(live_addresses | paste -sd,)
    ip netns exec "$NS_T" nft -f - <<EOF
table ip silent {
    set live { type ipv4_addr; elements = { $set } }
    chain input {
        type filter hook input priority 0; policy accept;
        ip daddr $NET ip daddr != @live drop
    }
}
EOF
    start_listener "$NS_T" 0.0.0.0 80
    # The gateway's MAC, which zmap and masscan need, as a permanent
    # neighbour entry (no ARP in the measured runs).
    local mac
    mac=$(ip -n "$NS_T" -o link show "$V_T" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
    ip -n "$NS_S" neigh replace "$T_IP" lladdr "$mac" dev "$V_S" nud permanent
    GW_MAC=$mac
}

# run NS NAME KIND CMD...: one timed run; appends "seconds rss_kb found" to
# $WORK/NAME, where found is the number of distinct live addresses with
# port 80 open in the output (KIND: portscan, zmap, masscan, nmap).
run() {
    local ns=$1 name=$2 kind=$3
    shift 3
    local out=$WORK/$name.out tm=$WORK/$name.time
    if ! ip netns exec "$ns" /usr/bin/time -f "%e %M" -o "$tm" \
        timeout "$STEP_TIMEOUT" "$@" >"$out" 2>"$WORK/$name.err"; then
        [ "$kind" = masscan ] || say "  ($name exited non-zero: $(tail -c 300 "$WORK/$name.err" | tr '\n' ' '))"
    fi
    local found wrong
    read -r found wrong < <(python3 - "$kind" "$out" "$WORK/live" <<'EOF'
import json, re, sys
kind, path, live_path = sys.argv[1:]
live = set(open(live_path).read().split())
text = open(path, errors="replace").read()
got = set()
if kind == "portscan":
    for line in text.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            if r.get("state") == "open" and r.get("port") == 80:
                got.add(r["ip"])
elif kind == "zmap":
    got = set(l.strip() for l in text.splitlines() if re.match(r"^\d+\.\d+\.\d+\.\d+$", l.strip()))
elif kind == "masscan":
    got = set(re.findall(r"open port 80/tcp on (\S+)", text))
elif kind == "nmap":
    got = set(re.findall(r"Host: (\S+) \(\)\s+Ports: (?:.*?[ ,])?80/open", text))
print(len(got & live), len(got - live))
EOF
)
    [ "$wrong" = 0 ] || fail "$name reported $wrong addresses open that are not live"
    printf '%s %s %s\n' $(tail -n1 "$tm") "$found" >>"$WORK/$name"
    printf '    %-16s %s s, found %s\n' "$name" "$(tail -n1 "$tm" | cut -d' ' -f1)" "$found" >&2
}

best() { sort -n "$WORK/$1" | head -n1 | cut -d' ' -f1; }
rss_mb() { python3 -c "print(f'{$(sort -n -k2 "$WORK/$1" | tail -n1 | cut -d' ' -f2) / 1024:.1f}')"; }
exact() { ! awk -v e="$2" '$3 != e { bad = 1 } END { exit !bad }' "$WORK/$1"; }
row() {   # NAME LABEL EXPECTED
    printf '  %-46s best %7.2f s  runs: %-22s peak RSS %6s MiB  found %s/%s\n' "$2" "$(best "$1")" \
        "$(cut -d' ' -f1 "$WORK/$1" | paste -sd' ')" "$(rss_mb "$1")" \
        "$(cut -d' ' -f3 "$WORK/$1" | sort -u | paste -sd/)" "$3"
}

# fastest_exact PREFIX: the NAME among PREFIX-<rate> whose runs were all
# exact and whose best time is lowest ("" when none was exact).
fastest_exact() {
    local prefix=$1 r n
    for r in $RATES; do
        n=$prefix-$r
        # (|| true: an inexact last rate must not fail the pipe under pipefail)
        { [ -f "$WORK/$n" ] && exact "$n" "$LIVE_COUNT" && printf '%s %s\n' "$(best "$n")" "$n"; } || true
    done | sort -n | head -n1 | cut -d' ' -f2
}

scenario_silent16() {
    say "(1) silent16: $NET over veth, $LIVE_COUNT live addresses with port 80 open, the rest dropped; RUNS=$RUNS"
    silent
}

scenario_silent12() {
    # The scenario's own NET, live count and files; no nmap.
    local NET=10.16.0.0/12 LIVE_COUNT=48 NMAP=0 WORK=$WORK/silent12
    mkdir -p "$WORK"
    say "(1b) silent12: $NET over veth, $LIVE_COUNT live addresses with port 80 open, the rest dropped; RUNS=$RUNS"
    silent
}

# silent: the side-by-side runs on NET, in namespaces made for it and
# deleted after it.
silent() {
    setup_silent16
    live_addresses >"$WORK/live"
    local blank=$WORK/empty.conf r i size
    size=$(net_size)
    : >"$blank"
    for ((i = 0; i < RUNS; i++)); do
        run "$NS_S" ps_syn_pn portscan "$PORTSCAN" -sS -n -Pn --json "$NET" 80
        run "$NS_S" ps_connect_pn portscan "$PORTSCAN" -sT -n -Pn --json "$NET" 80
        if [ "$size" -le 65536 ]; then
            run "$NS_S" ps_syn portscan "$PORTSCAN" -sS -n --json "$NET" 80
            run "$NS_S" ps_connect portscan "$PORTSCAN" -sT -n --json "$NET" 80
        fi
        for r in $RATES; do
            run "$NS_S" "zmap-$r" zmap zmap -q -p 80 -r "$r" -c 1 -i "$V_S" -G "$GW_MAC" \
                -S "$S_IP" -b "$blank" -o - "$NET"
            # masscan 1.3.2 does not exit on a veth once its wait is over
            # (its countdown goes negative): it is stopped a second after
            # the wait would end, and that is the time it is charged.
            STEP_TIMEOUT=$(python3 -c "import math; print(math.ceil($size / $r) + 2)") \
                run "$NS_S" "masscan-$r" masscan masscan "$NET" -p80 --rate "$r" --wait 1 \
                --adapter "$V_S" --adapter-ip "$S_IP" \
                --router-mac "$GW_MAC"
        done
    done
    if [ "$NMAP" = 1 ]; then
        run "$NS_S" nmap_syn nmap nmap -sS -n -T4 --min-rate 10000 -p 80 -oG - "$NET"
    fi
    local with=(ps_syn_pn ps_connect_pn)
    [ "$size" -le 65536 ] && with=(ps_syn ps_syn_pn ps_connect ps_connect_pn)
    [ -f "$WORK/ps_syn" ] && row ps_syn "portscan -sS (adaptive, discovery)" "$LIVE_COUNT"
    row ps_syn_pn "portscan -sS -Pn (adaptive)" "$LIVE_COUNT"
    [ -f "$WORK/ps_connect" ] && row ps_connect "portscan -sT (discovery)" "$LIVE_COUNT"
    row ps_connect_pn "portscan -sT -Pn" "$LIVE_COUNT"
    for r in $RATES; do
        row "zmap-$r" "zmap -r $r -c 1" "$LIVE_COUNT"
        row "masscan-$r" "masscan --rate $r --wait 1 (stopped)" "$LIVE_COUNT"
    done
    [ "$NMAP" = 1 ] && row nmap_syn "nmap -sS -T4 --min-rate 10000" "$LIVE_COUNT"
    local zbest mbest
    zbest=$(fastest_exact zmap)
    mbest=$(fastest_exact masscan)
    say "  zmap's best exact: ${zbest:-none}; masscan's best exact: ${mbest:-none}"
    local n
    for n in "${with[@]}"; do
        exact "$n" "$LIVE_COUNT" || fail "$n missed live ports: $(cut -d' ' -f3 "$WORK/$n" | paste -sd' ')"
    done
    if [ -z "$zbest" ]; then
        fail "no exact zmap run to compare with"
        teardown_silent
        return
    fi
    # fastest NAME...: the one of NAME... (those that ran) with the lowest best time.
    fastest() { for n in "$@"; do [ -f "$WORK/$n" ] && printf '%s %s\n' "$(best "$n")" "$n"; done | sort -n | head -n1 | cut -d' ' -f2 || true; }
    local syn_best connect_best ratios=""
    syn_best=$(fastest ps_syn ps_syn_pn)
    connect_best=$(fastest ps_connect ps_connect_pn)
    for n in "${with[@]}"; do ratios+=" $n $(ratio "$(best "$n")" "$(best "$zbest")")"; done
    say "  ratios to zmap's best exact:$ratios"
    [ -n "$mbest" ] && say "  ratio -sS -Pn / masscan's best exact: $(ratio "$(best ps_syn_pn)" "$(best "$mbest")")"
    [ "$NMAP" = 1 ] && say "  ratio -sS / nmap -sS: $(ratio "$(best ps_syn)" "$(best nmap_syn)")"
    le "$(ratio "$(best "$syn_best")" "$(best "$zbest")")" 1.0 || fail "-sS target: <= 1.0x zmap's best"
    le "$(ratio "$(best "$connect_best")" "$(best "$zbest")")" 5.0 || fail "-sT target: <= 5x zmap's best"
    for n in ps_syn ps_syn_pn; do
        [ -f "$WORK/$n" ] || continue
        le "$(rss_mb "$n")" 50 || fail "$n peak RSS $(rss_mb "$n") MiB >= 50"
    done
    teardown_silent
}

teardown_silent() {
    for ns in "$NS_S" "$NS_T"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

scenario_loopback() {
    say "(2) loopback: 127.0.0.1 ports 1-65535, listeners on ${LO_PORTS[*]}, fresh netns; RUNS=$RUNS"
    ip netns add "$NS_LO"
    ip -n "$NS_LO" link set lo up
    start_listener "$NS_LO" 127.0.0.1 "${LO_PORTS[@]}"
    # "found" counts the live addresses with port 80 open: here, one.
    echo 127.0.0.1 >"$WORK/live"
    local i
    for ((i = 0; i < RUNS; i++)); do
        run "$NS_LO" lo_syn portscan "$PORTSCAN" -sS -n --json 127.0.0.1 1-65535
        run "$NS_LO" lo_nmap_t4 nmap nmap -sS -n -Pn -T4 -p1-65535 -oG - 127.0.0.1
        # (nmap -sS --min-rate 10000 on loopback did not finish in 120 s
        # here: -T5 is its fast variant.)
        run "$NS_LO" lo_nmap_rate nmap nmap -sS -n -Pn -T5 -p1-65535 -oG - 127.0.0.1
    done
    row lo_syn "portscan -sS" 1
    row lo_nmap_t4 "nmap -sS -T4" 1
    row lo_nmap_rate "nmap -sS -T5" 1
    local open
    open=$(python3 -c "
import json
print(','.join(sorted(str(r['port']) for r in map(json.loads, open('$WORK/lo_syn.out')) if r['state'] == 'open')))")
    [ "$open" = "$(printf '%s\n' "${LO_PORTS[@]}" | sort | paste -sd,)" ] || fail "loopback -sS found open {$open}"
    local nbest
    nbest=$(for n in lo_nmap_t4 lo_nmap_rate; do printf '%s %s\n' "$(best $n)" $n; done | sort -n | head -n1 | cut -d' ' -f2)
    local r
    r=$(ratio "$(best lo_syn)" "$(best "$nbest")")
    say "  ratio portscan -sS / nmap -sS's best ($nbest): $r"
    le "$r" 0.5 || fail "loopback target: <= 0.5x nmap -sS"
}

ensure_tools
for s in $SCENARIOS; do
    "scenario_$s"
done
if [ "$FAILED" = 0 ]; then say "all targets met"; else say "some targets missed"; fi
exit "$FAILED"
