#!/usr/bin/env bash
# portscan vs nmap -sT, side by side, in private network namespaces.
#
#   sudo bench/portscan.sh            # RUNS=3 by default
#   RUNS=5 PORTSCAN=path/to/portscan sudo -E bench/portscan.sh
#   SCENARIOS=shards sudo -E bench/portscan.sh    # only (3)
#
# (1) loopback: 127.0.0.1 ports 1-65535 inside a fresh namespace whose lo
#     holds only this script's 5 listeners.
#     portscan (defaults) vs nmap -sT --min-rate 10000, and nmap -sT -T4.
# (2) veth: a target namespace behind a veth pair (10.213.0.1 -> 10.213.0.2,
#     addresses that exist only inside these namespaces), 5 listeners, an
#     nft rule dropping ports 2001-3000 (filtered), ports 1-5000.
#     defaults:  portscan (defaults)      vs nmap -sT -T4
#     LAN-tuned: portscan --timeout 250   vs nmap -sT -T4 --min-rate 10000
#     and portscan's defaults against the better of the two nmap runs
#     (portscan's timeout adapts to the round-trip time, as nmap's does).
# (4) udp: portscan -sU vs nmap -sU (root), nmap's top 100 UDP ports of a
#     target namespace behind a veth pair (10.214.0.1 -> 10.214.0.2) with 4
#     UDP responders (53, 123, 161, 1900: open), nft dropping 137,138
#     (open|filtered) and rejecting 500 with admin-prohibited (filtered); the
#     other 93 ports are closed, and their ICMP port unreachables come at the
#     pace of the target's ICMP rate limit: once with the kernel's default
#     (net.ipv4.icmp_ratelimit 1000 ms), once with it off (0). Same states
#     (every port compared; nmap runs with -d so that it lists every port),
#     time ratio (target <= 1.0). UDP_RUNS runs each (default 1: minutes
#     with the limit).
# (5) service: portscan -sV vs nmap -sV on real daemons in a namespace, on
#     non-standard ports: sshd 2222, redis 7000, nginx https 8443 and http
#     9999, memcached 21211. Service names agree on >= 90% of the open
#     ports (nmap's ssl/http counts as portscan's ssl), time ratio (target
#     <= 0.5).
# (3) internet-scale shards, portscan alone: 10.0.0.0/8 port 80 shard
#     0/4096 and 10.0.0.0/12 ports 80,443 shard 0/64, in a namespace where
#     10.0.0.0/8 is routed into a veth pair and an nft rule answers every
#     SYN with a RST (the block exists only there). Peak RSS < 50 MB and
#     the whole shard done within a second (so probing starts at once).
#
# (6)-(10) field scenarios (rtt20 rtt100 loss2 loss10 dead24), in
#     namespaces made by tests/netlab/netlab.sh
#     (latency held in NFQUEUE by netlab-delay, loss by nft numgen, a /24
#     routed into the target with only a few live addresses):
#     (6) rtt20: 20 ms RTT, 1-5000   (7) rtt100: 100 ms RTT, 1-5000
#     (8) loss2: 2% loss, 20 ms, 1-5000, 1000 dropped
#     (9) loss10: 10% loss, same     (10) dead24: a /24 with 5 live hosts,
#     nmap's top 100 ports, 20 ms RTT
#     Each: portscan (defaults, and -Pn) vs nmap -sT -T4 and -T4 --min-rate
#     10000, each with and without -Pn; the target compares portscan's
#     defaults with the faster of the two --min-rate runs: <= 1.00, and
#     <= 0.75 at 100 ms. SCENARIOS="loopback rtt100" runs a subset.
#
# Every run checks that both tools found exactly the listeners' ports open;
# the script prints wall times (best of RUNS), ratios portscan/nmap, and
# portscan's peak RSS, and exits 1 if a run was not exact or a target was
# missed. Traffic goes only to 127.0.0.1 and 10.213.0.2 inside namespaces
# the script creates and deletes (trap). Needs root (namespaces, nft).
set -euo pipefail

RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
PORTSCAN_GIVEN=${PORTSCAN:-}
PORTSCAN=${PORTSCAN:-$ROOT/target/release/portscan}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}   # seconds, per tool run
# A subset: SCENARIOS=shards, SCENARIOS="rtt100 dead24".
SCENARIOS=${SCENARIOS:-loopback veth shards rtt20 rtt100 loss2 loss10 dead24 udp service}
UDP_RUNS=${UDP_RUNS:-1}

TAG=psb$$
NS_LO=$TAG-lo
NS_SCAN=$TAG-scan
NS_TGT=$TAG-tgt
NS_BIG=$TAG-big
NS_USCAN=$TAG-us
NS_UTGT=$TAG-ut
NS_SVC=$TAG-sv
VETH_USCAN=${TAG}us
VETH_UTGT=${TAG}ut
USCAN_IP=10.214.0.1
UTGT_IP=10.214.0.2
UDP_OPEN=(53 123 161 1900)
SVC_PORTS=2222,7000,8443,9999,21211
VETH_SCAN=${TAG}s
VETH_TGT=${TAG}t
SCAN_IP=10.213.0.1
TGT_IP=10.213.0.2
NETLAB=$ROOT/tests/netlab/netlab.sh
DELAY_BIN=$ROOT/target/release/examples/netlab-delay
LO_PORTS=(22 80 443 8080 31337)
VETH_PORTS=(22 80 443 3306 4999)
DROPPED=2001-3000
DROPPED_COUNT=1000

WORK=$(mktemp -d)
LISTENERS=()
FAILED=0

cleanup() {
    for pid in "${LISTENERS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for ns in "$NS_LO" "$NS_SCAN" "$NS_TGT" "$NS_BIG" "$NS_USCAN" "$NS_UTGT" "$NS_SVC"; do
        # Daemons started in a namespace (and what they forked) go first.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ -n "${LAB:-}" ]; then
        bash "$NETLAB" down "$LAB" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; FAILED=1; }

# --- tools -----------------------------------------------------------------

ensure_tools() {
    [ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces, nft)"; exit 2; }
    local missing=()
    command -v nmap >/dev/null || missing+=(nmap)
    [ -x /usr/bin/time ] || missing+=(time)
    command -v nft >/dev/null || missing+=(nftables)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v python3 >/dev/null || missing+=(python3)
    command -v iptables >/dev/null || missing+=(iptables)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing: ${missing[*]}"
        timeout 600 apt-get update -qq
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # The latency emulator of the field scenarios (release: it must keep
    # up with tens of thousands of packets a second).
    (cd "$ROOT" && timeout 1200 cargo build --release --locked --quiet --example netlab-delay)
    # Always (re)build the default binary: a stale one would be measured
    # silently. An explicit PORTSCAN=... is used as given.
    if [ -z "${PORTSCAN_GIVEN:-}" ]; then
        say "building portscan (release)"
        (cd "$ROOT" && timeout 1200 cargo build --release --locked --quiet --bin portscan)
    elif [ ! -x "$PORTSCAN" ]; then
        echo "PORTSCAN=$PORTSCAN is not an executable" >&2
        exit 1
    fi
}

# --- namespaces --------------------------------------------------------------

# start_listeners NS IP [--udp] PORT...: one process serving every port
# (TCP, or UDP responders with --udp), waited for.
start_listeners() {
    local ns=$1 ip=$2
    shift 2
    local fifo=$WORK/ready.$ns
    mkfifo "$fifo"
    ip netns exec "$ns" python3 "$BENCH/portscan_listen.py" "$ip" "$@" >"$fifo" &
    LISTENERS+=($!)
    if ! timeout 10 head -n1 "$fifo" | grep -q ready; then
        say "listeners in $ns did not start"
        exit 1
    fi
}

setup_loopback() {
    ip netns add "$NS_LO"
    ip -n "$NS_LO" link set lo up
    start_listeners "$NS_LO" 127.0.0.1 "${LO_PORTS[@]}"
}

# linked_pair NS-A NS-B VETH-A VETH-B IP-A IP-B: two namespaces joined by a
# veth pair, each end with its /24 address, everything up.
linked_pair() {
    local a=$1 b=$2 va=$3 vb=$4 ipa=$5 ipb=$6
    ip netns add "$a"
    ip netns add "$b"
    ip link add "$va" type veth peer name "$vb"
    ip link set "$va" netns "$a"
    ip link set "$vb" netns "$b"
    ip -n "$a" addr add "$ipa/24" dev "$va"
    ip -n "$b" addr add "$ipb/24" dev "$vb"
    for ns in "$a" "$b"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$a" link set "$va" up
    ip -n "$b" link set "$vb" up
}

setup_veth() {
    linked_pair "$NS_SCAN" "$NS_TGT" "$VETH_SCAN" "$VETH_TGT" "$SCAN_IP" "$TGT_IP"
    ip netns exec "$NS_TGT" nft -f - <<EOF
table inet portscan_bench {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport $DROPPED drop
    }
}
EOF
    start_listeners "$NS_TGT" "$TGT_IP" "${VETH_PORTS[@]}"
}

# --- one timed run -------------------------------------------------------------

# run_tool NS NAME TOOL-KIND CMD...: runs CMD in NS under /usr/bin/time and
# timeout; appends "seconds rss_kb open-set filtered" to $WORK/NAME. nmap
# commands get "-oN FILE" appended (they already carry "-oG -").
run_tool() {
    local ns=$1 name=$2 kind=$3
    shift 3
    local out=$WORK/$name.out err=$WORK/$name.err tm=$WORK/$name.time
    if [ "$kind" = nmap ]; then
        # Greppable output for the open set; normal output for the count
        # of filtered ports that -oG leaves out.
        set -- "$@" -oN "$WORK/$name.nmap"
    fi
    if ! ip netns exec "$ns" /usr/bin/time -f "%e %M" -o "$tm" \
        timeout "$STEP_TIMEOUT" "$@" >"$out" 2>"$err"; then
        fail "$name exited non-zero: $(tail -n3 "$err")"
    fi
    local sets filtered
    sets=$(python3 "$BENCH/portscan_sets.py" "$kind" "$out" "$WORK/$name.nmap")
    if [ "$kind" = portscan ]; then
        filtered=$(grep -o '[0-9]* filtered' "$err" | tail -n1 | cut -d' ' -f1)
    else
        filtered=${sets##*filtered=}
    fi
    local open=${sets%% *}
    open=${open#open=}
    # The last line of the time file: a failed run adds a line before it.
    # An empty open set is written "-" so the columns stay in place.
    printf '%s %s %s %s\n' $(tail -n1 "$tm") "${open:--}" "${filtered:-?}" >>"$WORK/$name"
}

# check_exact NAME EXPECTED-CSV: every run of NAME found exactly EXPECTED.
check_exact() {
    local name=$1 expected=$2
    while read -r _ _ open _; do
        [ "$open" = "$expected" ] || fail "$name found open={$open}, expected {$expected}"
    done <"$WORK/$name"
}

best() { sort -n "$WORK/$1" | head -n1 | cut -d' ' -f1; }
# best_of NAME...: the NAME whose best time is lowest.
best_of() {
    local n
    for n in "$@"; do printf '%s %s\n' "$(best "$n")" "$n"; done | sort -n | head -n1 | cut -d' ' -f2
}
max_rss_kb() { sort -n -k2 "$WORK/$1" | tail -n1 | cut -d' ' -f2; }
all_times() { cut -d' ' -f1 "$WORK/$1" | paste -sd' '; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
le() { python3 -c "import sys; sys.exit(0 if $1 <= $2 else 1)"; }

report_row() {   # NAME LABEL
    local f=$WORK/$1
    printf '  %-40s best %6.2f s   runs: %s   peak RSS %5.1f MB   filtered %s\n' \
        "$2" "$(best "$1")" "$(all_times "$1")" \
        "$(python3 -c "print($(max_rss_kb "$1") / 1024)")" \
        "$(cut -d' ' -f4 "$f" | sort -u | paste -sd/)"
}

csv() { local IFS=,; echo "$*"; }

# --- scenarios -------------------------------------------------------------------

scenario_loopback() {
    say ""
    say "(1) 127.0.0.1 ports 1-65535, listeners on $(csv "${LO_PORTS[@]}"), fresh netns, $RUNS runs"
    setup_loopback
    local target=127.0.0.1 i
    for i in $(seq "$RUNS"); do
        # Alternate the order so neither tool always runs on a cooler box.
        if [ $((i % 2)) -eq 1 ]; then
            run_tool "$NS_LO" lo_ps portscan "$PORTSCAN" --json "$target" 1-65535
        fi
        run_tool "$NS_LO" lo_nmap_rate nmap nmap -sT -n -Pn -p1-65535 --min-rate 10000 -oG - "$target"
        run_tool "$NS_LO" lo_nmap_t4 nmap nmap -sT -n -Pn -p1-65535 -T4 -oG - "$target"
        if [ $((i % 2)) -eq 0 ]; then
            run_tool "$NS_LO" lo_ps portscan "$PORTSCAN" --json "$target" 1-65535
        fi
    done
    local expected
    expected=$(csv "${LO_PORTS[@]}")
    for n in lo_ps lo_nmap_rate lo_nmap_t4; do check_exact "$n" "$expected"; done
    report_row lo_ps "portscan (defaults)"
    report_row lo_nmap_rate "nmap -sT --min-rate 10000"
    report_row lo_nmap_t4 "nmap -sT -T4"
    local ps nm r
    ps=$(best lo_ps)
    nm=$(printf '%s\n' "$(best lo_nmap_rate)" "$(best lo_nmap_t4)" | sort -n | head -n1)
    r=$(ratio "$ps" "$nm")
    if le "$r" 0.5; then
        say "  ratio portscan/nmap-best = $r (target <= 0.50): PASS"
    else
        fail "ratio portscan/nmap-best = $r (target <= 0.50)"
    fi
    check_rss lo_ps
}

scenario_veth() {
    say ""
    say "(2) $TGT_IP over veth, ports 1-5000, listeners on $(csv "${VETH_PORTS[@]}"), nft drops $DROPPED, $RUNS runs"
    setup_veth
    local i
    for i in $(seq "$RUNS"); do
        run_tool "$NS_SCAN" veth_ps portscan "$PORTSCAN" --json "$TGT_IP" 1-5000
        run_tool "$NS_SCAN" veth_nmap_t4 nmap nmap -sT -n -Pn -p1-5000 -T4 -oG - "$TGT_IP"
        run_tool "$NS_SCAN" veth_ps_fast portscan "$PORTSCAN" --json --timeout 250 "$TGT_IP" 1-5000
        run_tool "$NS_SCAN" veth_nmap_rate nmap nmap -sT -n -Pn -p1-5000 -T4 --min-rate 10000 -oG - "$TGT_IP"
    done
    local expected
    expected=$(csv "${VETH_PORTS[@]}")
    for n in veth_ps veth_nmap_t4 veth_ps_fast veth_nmap_rate; do check_exact "$n" "$expected"; done
    for n in veth_ps veth_ps_fast veth_nmap_t4 veth_nmap_rate; do
        if cut -d' ' -f4 "$WORK/$n" | grep -qvx "$DROPPED_COUNT"; then
            say "  note: $n did not report $DROPPED_COUNT filtered in every run"
        fi
    done
    report_row veth_ps "portscan (defaults: adaptive, 1 retry)"
    report_row veth_nmap_t4 "nmap -sT -T4"
    report_row veth_ps_fast "portscan --timeout 250"
    report_row veth_nmap_rate "nmap -sT -T4 --min-rate 10000"
    compare_pair veth_ps veth_nmap_t4 "defaults"
    compare_pair veth_ps_fast veth_nmap_rate "LAN-tuned"
    compare_pair veth_ps "$(best_of veth_nmap_t4 veth_nmap_rate)" "defaults vs nmap-best"
    check_rss veth_ps
}

setup_big() {
    ip netns add "$NS_BIG"
    ip -n "$NS_BIG" link set lo up
    ip -n "$NS_BIG" link add "${TAG}a" type veth peer name "${TAG}b"
    ip -n "$NS_BIG" link set "${TAG}a" up
    ip -n "$NS_BIG" link set "${TAG}b" up
    ip -n "$NS_BIG" addr add 10.250.0.1/32 dev "${TAG}a"
    ip -n "$NS_BIG" route add 10.0.0.0/8 dev "${TAG}a"
    ip netns exec "$NS_BIG" nft -f - <<EOF
table ip portscan_bench_big {
    chain out {
        type filter hook output priority 0; policy accept;
        ip daddr 10.0.0.0/8 tcp flags & (syn | ack) == syn reject with tcp reset
    }
}
EOF
}

scenario_shards() {
    say ""
    say "(3) internet-scale shards in a namespace that answers 10.0.0.0/8 with RSTs, $RUNS runs"
    setup_big
    local i
    for i in $(seq "$RUNS"); do
        run_tool "$NS_BIG" big8 portscan "$PORTSCAN" --json 10.0.0.0/8 80 --shard 0/4096
        run_tool "$NS_BIG" big12 portscan "$PORTSCAN" --json 10.0.0.0/12 80,443 --shard 0/64
    done
    check_exact big8 -
    check_exact big12 -
    report_row big8 "portscan 10.0.0.0/8 80 --shard 0/4096"
    report_row big12 "portscan 10.0.0.0/12 80,443 --shard 0/64"
    local n mb t
    for n in big8 big12; do
        mb=$(python3 -c "print(f'{$(max_rss_kb "$n") / 1024:.1f}')")
        t=$(best "$n")
        if le "$mb" 50 && le "$t" 1; then
            say "  $n: peak RSS $mb MB (target < 50 MB), done in $t s (target <= 1 s): PASS"
        else
            fail "$n: peak RSS $mb MB (target < 50 MB), done in $t s (target <= 1 s)"
        fi
    done
}

# --- UDP and service detection ---------------------------------------------------

setup_udp() {
    linked_pair "$NS_USCAN" "$NS_UTGT" "$VETH_USCAN" "$VETH_UTGT" "$USCAN_IP" "$UTGT_IP"
    ip netns exec "$NS_UTGT" nft -f - <<EOF
table inet portscan_bench_udp {
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport { 137, 138 } drop
        udp dport 500 reject with icmpx type admin-prohibited
    }
}
EOF
    start_listeners "$NS_UTGT" "$UTGT_IP" --udp "${UDP_OPEN[@]}"
}

# timed NS NAME CMD...: runs CMD in NS (stdout to $WORK/NAME.out) under
# /usr/bin/time and timeout; appends its wall time to $WORK/NAME.
timed() {
    local ns=$1 name=$2
    shift 2
    if ! ip netns exec "$ns" /usr/bin/time -f "%e" -o "$WORK/$name.time" \
        timeout "$STEP_TIMEOUT" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        fail "$name exited non-zero: $(tail -n3 "$WORK/$name.err")"
    fi
    tail -n1 "$WORK/$name.time" >>"$WORK/$name"
}

scenario_udp() {
    say ""
    say "(4) UDP: nmap's top 100 UDP ports of $UTGT_IP (4 open, 2 dropped, 1 prohibited, 93 closed)"
    setup_udp
    local limit ps nm i r
    for limit in default off; do
        if [ "$limit" = off ]; then
            ip netns exec "$NS_UTGT" sysctl -qw net.ipv4.icmp_ratelimit=0
        fi
        say "  target's ICMP rate limit: $limit (icmp_ratelimit $(ip netns exec "$NS_UTGT" sysctl -n net.ipv4.icmp_ratelimit) ms, icmp_msgs_per_sec $(ip netns exec "$NS_UTGT" sysctl -n net.ipv4.icmp_msgs_per_sec))"
        ps=udp-portscan-$limit
        nm=udp-nmap-$limit
        for i in $(seq "$UDP_RUNS"); do
            # Let the target's ICMP token bucket refill between runs.
            sleep 7
            timed "$NS_USCAN" "$ps" "$PORTSCAN" -sU --top-ports 100 "$UTGT_IP" --all --json --no-progress
            sleep 7
            timed "$NS_USCAN" "$nm" nmap -sU -Pn -n --top-ports 100 -d -oX "$WORK/$nm.xml" "$UTGT_IP"
            python3 "$BENCH/portscan_compare.py" states "$WORK/$ps.out" "$WORK/$nm.xml" >"$WORK/$nm.cmp"
            sed 's/^/    /' "$WORK/$nm.cmp"
            grep -q ' differ=0$' "$WORK/$nm.cmp" || fail "UDP ($limit limit): states differ from nmap's"
        done
        grep -h 'ICMP rate limit' "$WORK/$ps.err" | sed 's/^/    portscan: /' || true
        say "  portscan -sU: best $(best "$ps") s   nmap -sU: best $(best "$nm") s"
        r=$(ratio "$(best "$ps")" "$(best "$nm")")
        if le "$r" 1; then
            say "  ratio portscan/nmap (UDP, $limit ICMP limit) = $r (target <= 1.00): PASS"
        else
            fail "ratio portscan/nmap (UDP, $limit ICMP limit) = $r (target <= 1.00)"
        fi
    done
}

setup_service() {
    ip netns add "$NS_SVC"
    ip -n "$NS_SVC" link set lo up
    local d=$WORK/svc
    mkdir -p "$d" /run/sshd
    chmod 755 "$d"
    ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
    cat >"$d/sshd_config" <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey $d/hostkey
PidFile $d/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
EOF
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=portscan-bench.test -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
    cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
user root root;
pid $d/nginx.pid;
error_log $d/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc;
    uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
    server { listen 127.0.0.1:9999; location / { return 200 "bench\n"; } }
    server {
        listen 127.0.0.1:8443 ssl;
        ssl_certificate $d/cert.pem; ssl_certificate_key $d/key.pem;
        location / { return 200 "bench\n"; }
    }
}
EOF
    local sshd
    sshd=$(command -v sshd || echo /usr/sbin/sshd)
    ip netns exec "$NS_SVC" "$sshd" -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
    LISTENERS+=($!)
    ip netns exec "$NS_SVC" nginx -c "$d/nginx.conf" -p "$d" -e "$d/nginx-error.log" &
    LISTENERS+=($!)
    ip netns exec "$NS_SVC" redis-server --port 7000 --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$d" >"$d/redis.log" 2>&1 &
    LISTENERS+=($!)
    ip netns exec "$NS_SVC" memcached -l 127.0.0.1 -p 21211 -U 0 -u root >"$d/memcached.log" 2>&1 &
    LISTENERS+=($!)
    local p
    for p in ${SVC_PORTS//,/ }; do
        if ! timeout 20 ip netns exec "$NS_SVC" bash -c \
            "until (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do sleep 0.2; done"; then
            say "daemon on port $p did not start"
            exit 1
        fi
    done
}

scenario_service() {
    say ""
    say "(5) -sV: sshd 2222, redis 7000, nginx https 8443 and http 9999, memcached 21211"
    local tool
    for tool in sshd nginx redis-server memcached openssl ssh-keygen; do
        if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
            fail "the -sV scenario needs $tool (openssh-server nginx redis-server memcached openssl)"
            return
        fi
    done
    setup_service
    local i
    for i in $(seq "$RUNS"); do
        timed "$NS_SVC" sv-portscan "$PORTSCAN" -sV -p "$SVC_PORTS" 127.0.0.1 --json --no-progress
        timed "$NS_SVC" sv-nmap nmap -sV -Pn -n -p "$SVC_PORTS" -oX "$WORK/sv-nmap.xml" 127.0.0.1
    done
    python3 "$BENCH/portscan_compare.py" services "$WORK/sv-portscan.out" "$WORK/sv-nmap.xml" >"$WORK/sv.cmp"
    sed 's/^/    /' "$WORK/sv.cmp"
    local agree total
    agree=$(sed -n 's/^agree=\([0-9]*\) of .*/\1/p' "$WORK/sv.cmp")
    total=$(sed -n 's/^agree=[0-9]* of \([0-9]*\)/\1/p' "$WORK/sv.cmp")
    if [ "${total:-0}" -gt 0 ] && le 0.9 "$agree / $total"; then
        say "  names agree on $agree of $total open ports (target >= 90%): PASS"
    else
        fail "names agree on ${agree:-0} of ${total:-0} open ports (target >= 90%)"
    fi
    say "  portscan -sV: best $(best sv-portscan) s (runs $(all_times sv-portscan))   nmap -sV: best $(best sv-nmap) s (runs $(all_times sv-nmap))"
    local r
    r=$(ratio "$(best sv-portscan)" "$(best sv-nmap)")
    if le "$r" 0.5; then
        say "  ratio portscan/nmap (-sV) = $r (target <= 0.50): PASS"
    else
        fail "ratio portscan/nmap (-sV) = $r (target <= 0.50)"
    fi
}

compare_pair() {   # PORTSCAN-NAME NMAP-NAME LABEL
    local r
    r=$(ratio "$(best "$1")" "$(best "$2")")
    if le "$r" 1; then
        say "  ratio portscan/nmap ($3) = $r (target <= 1.00): PASS"
    else
        fail "ratio portscan/nmap ($3) = $r (target <= 1.00)"
    fi
}

check_rss() {
    local mb
    mb=$(python3 -c "print(f'{$(max_rss_kb "$1") / 1024:.1f}')")
    if le "$mb" 30; then
        say "  portscan peak RSS = $mb MB (target < 30 MB): PASS"
    else
        fail "portscan peak RSS = $mb MB (target < 30 MB)"
    fi
}

# --- field scenarios (tests/netlab) -------------------------------------------

# field NAME "TITLE" TARGET PORTS EXPECTED RATIO-TARGET [KEY=VALUE...]: sets
# (SKIP_T4_PN=1 leaves out nmap -T4 -Pn, which takes minutes on dead hosts)
# up a lab with the KEY=VALUE settings (see netlab.sh), runs every tool
# RUNS times, checks each run against EXPECTED (the open set) and compares
# portscan's defaults with the faster nmap --min-rate run.
field() {
    local name=$1 title=$2 target=$3 ports=$4 expected=$5 goal=$6
    local skip_t4_pn=${SKIP_T4_PN:-0}
    shift 6
    say ""
    say "$title, $RUNS runs"
    LAB=psf$$
    env "$@" DELAY_BIN="$DELAY_BIN" bash "$NETLAB" up "$LAB" >/dev/null
    local ns=$LAB-s i
    local nmap_base=(nmap -sT -n -T4 -p"$ports" -oG -)
    for i in $(seq "$RUNS"); do
        run_tool "$ns" "${name}_ps" portscan "$PORTSCAN" --json "$target" "$ports"
        run_tool "$ns" "${name}_nmap_rate" nmap "${nmap_base[@]}" --min-rate 10000 "$target"
        run_tool "$ns" "${name}_ps_pn" portscan "$PORTSCAN" --json -Pn "$target" "$ports"
        run_tool "$ns" "${name}_nmap_rate_pn" nmap "${nmap_base[@]}" --min-rate 10000 -Pn "$target"
        run_tool "$ns" "${name}_nmap_t4" nmap "${nmap_base[@]}" "$target"
        if [ "$skip_t4_pn" != 1 ]; then
            run_tool "$ns" "${name}_nmap_t4_pn" nmap "${nmap_base[@]}" -Pn "$target"
        fi
    done
    bash "$NETLAB" down "$LAB"
    LAB=
    local n tools=(ps ps_pn nmap_rate nmap_rate_pn nmap_t4)
    [ "$skip_t4_pn" = 1 ] || tools+=(nmap_t4_pn)
    for n in "${tools[@]}"; do
        check_exact "${name}_$n" "$expected"
    done
    report_row "${name}_ps" "portscan (defaults)"
    report_row "${name}_ps_pn" "portscan -Pn"
    report_row "${name}_nmap_t4" "nmap -sT -T4"
    if [ "$skip_t4_pn" = 1 ]; then
        say "  nmap -sT -T4 -Pn: not run (over 300 s: every port of 251 silent hosts at -T4 pace)"
    else
        report_row "${name}_nmap_t4_pn" "nmap -sT -T4 -Pn"
    fi
    report_row "${name}_nmap_rate" "nmap -sT -T4 --min-rate 10000"
    report_row "${name}_nmap_rate_pn" "nmap -sT -T4 --min-rate 10000 -Pn"
    local best_nmap r
    best_nmap=$(best_of "${name}_nmap_rate" "${name}_nmap_rate_pn")
    r=$(ratio "$(best "${name}_ps")" "$(best "$best_nmap")")
    if le "$r" "$goal"; then
        say "  ratio portscan defaults / best nmap --min-rate = $r (target <= $goal): PASS"
    else
        fail "$title: ratio portscan defaults / best nmap --min-rate = $r (target <= $goal)"
    fi
}

scenario_field() {
    local veth
    veth=$(csv "${VETH_PORTS[@]}")
    local listen="${VETH_PORTS[*]}"
    local t=10.231.0.2
    case $1 in
    rtt20) field rtt20 "(6) $t, 20 ms RTT, ports 1-5000, listeners on $veth" \
        "$t" 1-5000 "$veth" 1.00 RTT_MS=20 LISTEN="$listen" ;;
    rtt100) field rtt100 "(7) $t, 100 ms RTT, ports 1-5000, listeners on $veth" \
        "$t" 1-5000 "$veth" 0.75 RTT_MS=100 LISTEN="$listen" ;;
    loss2) field loss2 "(8) $t, 2% loss each way, 20 ms RTT, ports 1-5000, drops $DROPPED" \
        "$t" 1-5000 "$veth" 1.00 RTT_MS=20 LOSS_PCT=2 DROP="$DROPPED" LISTEN="$listen" ;;
    loss10) field loss10 "(9) $t, 10% loss each way, 20 ms RTT, ports 1-5000, drops $DROPPED" \
        "$t" 1-5000 "$veth" 1.00 RTT_MS=20 LOSS_PCT=10 DROP="$DROPPED" LISTEN="$listen" ;;
    dead24)
        local top live_ports=(22 80 443 3306 8080) pairs=() h p
        top=$(python3 "$BENCH/portscan_sets.py" top-ports 100)
        for h in 1 2 3 4 5; do
            for p in "${live_ports[@]}"; do pairs+=("10.232.0.$h:$p"); done
        done
        SKIP_T4_PN=1 field dead24 "(10) 10.232.0.0/24 with 5 live hosts, nmap's top 100 ports, 20 ms RTT, listeners on $(csv "${live_ports[@]}")" \
            10.232.0.0/24 "$top" "$(csv "${pairs[@]}")" 1.00 RTT_MS=20 LIVE=5 LISTEN="${live_ports[*]}" ;;
    esac
}

main() {
    ensure_tools
    say "portscan: $PORTSCAN ($("$PORTSCAN" --version))"
    say "nmap: $(nmap --version | head -n1)"
    say "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
    local scenario
    for scenario in $SCENARIOS; do
        case $scenario in
        rtt20 | rtt100 | loss2 | loss10 | dead24) scenario_field "$scenario" ;;
        *) "scenario_$scenario" ;;
        esac
    done
    say ""
    if [ "$FAILED" -eq 0 ]; then
        say "all runs exact, all targets met"
    else
        say "SOME CHECKS FAILED"
    fi
    exit "$FAILED"
}

# bench/portscan_ab.sh sources this file for its setup and timing helpers.
[ "${PORTSCAN_BENCH_SOURCED:-}" = 1 ] || main "$@"
