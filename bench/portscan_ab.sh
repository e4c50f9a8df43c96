#!/usr/bin/env bash
# Two portscan binaries side by side (before/after a change), on the
# scenarios of bench/portscan.sh, one right after the other:
#
#   sudo BASE=/tmp/ps-base NEW=/tmp/ps-new bench/portscan_ab.sh
#   RUNS=5 AB_SCENARIOS="loopback rtt100" sudo -E bench/portscan_ab.sh
#
# Scenarios (as in bench/portscan.sh, portscan's defaults only, no nmap):
# loopback (127.0.0.1 1-65535), the field scenarios rtt20 rtt100 loss2
# loss10 dead24 (tests/netlab), udp-default and udp-off (-sU nmap's top
# 100 with and without the target's ICMP rate limit; UDP_RUNS runs, 1 by
# default: a minute each with the limit), service (-sV on the daemons).
# The two binaries alternate which goes first in each round, so a loaded
# machine weighs on both columns alike. For each scenario: the best time
# of each, their ratio NEW/BASE, and the noise: the spread of each
# binary's own runs, (slowest - best) / best, and a verdict: WORSE when
# the ratio exceeds 1 by more than the larger noise, and how many runs of
# either binary did not find the truth. Best times, ratio and noise are
# those of the exact runs only (a fast wrong answer is no speed).
# Every run is checked for the exact open set (UDP: every port's state
# against the target as set up, and between the two binaries; -sV: the
# service names of the two binaries). Exits 1 if a run was not exact.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${BASE:?BASE=path to the portscan built before the change}
NEW=${NEW:?NEW=path to the portscan built after it}
PORTSCAN_BENCH_SOURCED=1
PORTSCAN=$NEW
# shellcheck source=portscan.sh
source "$HERE/portscan.sh"
DELAY_BIN=${DELAY_BIN_AB:-$DELAY_BIN}
SCENARIOS=${AB_SCENARIOS:-loopback rtt20 rtt100 loss2 loss10 dead24 udp-default udp-off service}
ROWS=()
# Runs of each NAME that did not find the truth, for the verdict column.
declare -A INEXACT=()

# check_exact NAME EXPECTED-CSV: as bench/portscan.sh's; counts the runs
# of NAME that missed, and keeps the times of the exact ones in NAME.exact.
check_exact() {
    local name=$1 expected=$2 missed=0 t open
    : >"$WORK/$name.exact"
    while read -r t _ open _; do
        if [ "$open" != "$expected" ]; then
            fail "$name found open={$open}, expected {$expected}"
            missed=$((missed + 1))
        else
            echo "$t" >>"$WORK/$name.exact"
        fi
    done <"$WORK/$name"
    INEXACT[$name]=$missed
}

# pair NS NAME CMD-ARGS...: RUNS rounds of both binaries (alternating
# first), each through run_tool (time, RSS, open set).
pair() {
    local ns=$1 name=$2 i
    shift 2
    for i in $(seq "$RUNS"); do
        if [ $((i % 2)) -eq 1 ]; then
            run_tool "$ns" "${name}_base" portscan "$BASE" "$@"
            run_tool "$ns" "${name}_new" portscan "$NEW" "$@"
        else
            run_tool "$ns" "${name}_new" portscan "$NEW" "$@"
            run_tool "$ns" "${name}_base" portscan "$BASE" "$@"
        fi
    done
}

spread() {   # NAME: (slowest - best) / best of its runs
    python3 -c "
t = sorted(float(x) for x in '$(all_times "$1")'.split())
print(f'{(t[-1]-t[0])/t[0]*100:.0f}%' if len(t) > 1 else f'{len(t)} run')"
}

# verdict RATIO NOISE-BASE NOISE-NEW: "worse" when NEW/BASE - 1 exceeds the
# larger of the two noises, "better" when BASE/NEW - 1 does, else "within
# noise" (a single run has no noise: any difference counts).
verdict() {
    python3 -c "
r, noises = float('$1'), ('$2', '$3')
if not all(x.endswith('%') for x in noises):
    print('one exact run: noise unknown')
else:
    n = max(float(x[:-1]) for x in noises) / 100
    print('WORSE' if r - 1 > n else 'better' if 1 / r - 1 > n else 'within noise')"
}

# timings NAME: the file of NAME's times to compare: its exact runs when
# they were checked one by one, else all of them.
timings() { if [ -e "$WORK/$1.exact" ]; then echo "$1.exact"; else echo "$1"; fi; }

row() {   # LABEL NAME
    local b n r sb sn v who runs
    b=$(best "$(timings "$2_base")")
    n=$(best "$(timings "$2_new")")
    if [ -z "$b" ] || [ -z "$n" ]; then
        r=- sb=- sn=- v="no exact run to compare"
    else
        r=$(ratio "$n" "$b")
        sb=$(spread "$(timings "$2_base")")
        sn=$(spread "$(timings "$2_new")")
        v=$(verdict "$r" "$sb" "$sn")
    fi
    # A time is only worth comparing when the run found the truth.
    for who in base new; do
        runs=$(wc -l <"$WORK/$2_$who")
        [ "${INEXACT[$2_$who]:-0}" -eq 0 ] || v="$v; $who inexact in ${INEXACT[$2_$who]}/$runs runs"
    done
    ROWS+=("$(printf '| %s | %s | %s | %s | %s / %s | %s |' "$1" "$b" "$n" "$r" "$sb" "$sn" "$v")")
    say "  $1: base best $b s (runs $(all_times "$2_base")), new best $n s (runs $(all_times "$2_new"))"
}

ab_loopback() {
    say "" && say "loopback: 127.0.0.1 1-65535, $RUNS rounds"
    setup_loopback
    pair "$NS_LO" lo --json 127.0.0.1 1-65535
    check_exact lo_base "$(csv "${LO_PORTS[@]}")"
    check_exact lo_new "$(csv "${LO_PORTS[@]}")"
    row "loopback 1-65535" lo
}

ab_field() {   # NAME LABEL TARGET PORTS EXPECTED KEY=VALUE...
    local name=$1 label=$2 target=$3 ports=$4 expected=$5
    shift 5
    say "" && say "$label, $RUNS rounds"
    LAB=psab$$
    env "$@" DELAY_BIN="$DELAY_BIN" bash "$NETLAB" up "$LAB" >/dev/null
    pair "$LAB-s" "$name" --json "$target" "$ports"
    bash "$NETLAB" down "$LAB"
    LAB=
    check_exact "${name}_base" "$expected"
    check_exact "${name}_new" "$expected"
    row "$label" "$name"
}

# udp_truth NAME: the last run of NAME against what setup_udp made of the
# target (UDP_OPEN answer, 137 and 138 dropped, 500 admin-prohibited, the
# rest closed); counts a run that differs in INEXACT.
udp_truth() {
    local name=$1
    if ! python3 - "$WORK/$name.out" "${UDP_OPEN[@]}" <<'PY'; then
import json, sys
found = {r["port"]: r["state"] for r in map(json.loads, open(sys.argv[1]))}
opened = {int(p) for p in sys.argv[2:]}
def truth(port):
    if port in opened:
        return "open"
    return {137: "open|filtered", 138: "open|filtered", 500: "filtered"}.get(port, "closed")
wrong = {p: s for p, s in found.items() if s != truth(p)}
if wrong:
    print(f"    {len(wrong)} of {len(found)} ports not as set up, e.g. {sorted(wrong.items())[:4]}")
sys.exit(1 if wrong else 0)
PY
        fail "$name: UDP states not as the target was set up"
        INEXACT[$name]=$((${INEXACT[$name]:-0} + 1))
    else
        tail -n1 "$WORK/$name" >>"$WORK/$name.exact"
    fi
}

ab_udp() {   # default|off
    local limit=$1 i
    say "" && say "-sU top 100, target's ICMP limit $limit, $UDP_RUNS rounds"
    [ -n "$(ip netns list | grep -w "$NS_UTGT" || true)" ] || setup_udp
    if [ "$limit" = off ]; then
        ip netns exec "$NS_UTGT" sysctl -qw net.ipv4.icmp_ratelimit=0
    else
        ip netns exec "$NS_UTGT" sysctl -qw net.ipv4.icmp_ratelimit=1000
    fi
    local args=(-sU --top-ports 100 "$UTGT_IP" --all --json --no-progress)
    for i in $(seq "$UDP_RUNS"); do
        for who in base new; do
            local bin=$BASE
            [ "$who" = new ] && bin=$NEW
            # Let the target's ICMP token bucket refill between runs.
            sleep 7
            [ "$i" -gt 1 ] || : >"$WORK/udp_${limit}_$who.exact"
            timed "$NS_USCAN" "udp_${limit}_$who" "$bin" "${args[@]}"
            udp_truth "udp_${limit}_$who"
        done
        python3 - "$WORK/udp_${limit}_base.out" "$WORK/udp_${limit}_new.out" <<'PY' || fail "udp $limit: states differ"
import json, sys
a, b = ({(r["port"], r["state"]) for r in map(json.loads, open(p))} for p in sys.argv[1:])
print(f"    states: {len(a & b)} same, {len(a ^ b) // 2} differ")
sys.exit(0 if a == b else 1)
PY
    done
    row "-sU top 100, ICMP limit $limit" "udp_$limit"
}

ab_service() {
    say "" && say "-sV on sshd 2222, redis 7000, nginx 8443 and 9999, memcached 21211, $RUNS rounds"
    setup_service
    local i who
    for i in $(seq "$RUNS"); do
        for who in base new; do
            local bin=$BASE
            [ "$who" = new ] && bin=$NEW
            timed "$NS_SVC" "sv_$who" "$bin" -sV -p "$SVC_PORTS" 127.0.0.1 --json --no-progress
        done
    done
    python3 - "$WORK/sv_base.out" "$WORK/sv_new.out" <<'PY' || fail "-sV: services differ"
import json, sys
a, b = ({(r["port"], r.get("service")) for r in map(json.loads, open(p))} for p in sys.argv[1:])
print(f"    services: {sorted(b)}")
sys.exit(0 if a == b else 1)
PY
    row "-sV on 5 daemons" sv
}

[ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces, nft)"; exit 2; }
say "base: $BASE ($("$BASE" --version)), new: $NEW ($("$NEW" --version))"
say "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
for s in $SCENARIOS; do
    case $s in
    loopback) ab_loopback ;;
    rtt20 | rtt100 | loss2 | loss10)
        t=10.231.0.2
        veth=$(csv "${VETH_PORTS[@]}")
        case $s in
        rtt20) ab_field rtt20 "20 ms RTT, 1-5000" $t 1-5000 "$veth" RTT_MS=20 LISTEN="${VETH_PORTS[*]}" ;;
        rtt100) ab_field rtt100 "100 ms RTT, 1-5000" $t 1-5000 "$veth" RTT_MS=100 LISTEN="${VETH_PORTS[*]}" ;;
        loss2) ab_field loss2 "2% loss, 20 ms, 1-5000" $t 1-5000 "$veth" RTT_MS=20 LOSS_PCT=2 DROP="$DROPPED" LISTEN="${VETH_PORTS[*]}" ;;
        loss10) ab_field loss10 "10% loss, 20 ms, 1-5000" $t 1-5000 "$veth" RTT_MS=20 LOSS_PCT=10 DROP="$DROPPED" LISTEN="${VETH_PORTS[*]}" ;;
        esac ;;
    dead24)
        top=$(python3 "$BENCH/portscan_sets.py" top-ports 100)
        pairs=()
        for h in 1 2 3 4 5; do for p in 22 80 443 3306 8080; do pairs+=("10.232.0.$h:$p"); done; done
        ab_field dead24 "dead /24 (5 live), top 100, 20 ms" 10.232.0.0/24 "$top" "$(csv "${pairs[@]}")" \
            RTT_MS=20 LIVE=5 LISTEN="22 80 443 3306 8080" ;;
    udp-default) ab_udp default ;;
    udp-off) ab_udp off ;;
    service) ab_service ;;
    esac
done
say ""
say "| scenario | base best (s) | new best (s) | new/base | noise base / new | verdict |"
say "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
[ "$FAILED" -eq 0 ] && say "all runs exact" || say "SOME RUNS WERE NOT EXACT"
exit "$FAILED"
