#!/usr/bin/env bash
# 10000 pipelined requests on one connection to a local nginx: rawget
# --send beside a netcat-and-printf baseline (the same bytes, no parsing)
# and curl's sequential requests on one kept-alive connection, in one run.
#
#   bench/rawget_pipeline.sh          # builds rawget --release first
#   N=10000 RUNS=40 CURL_RUNS=3 bench/rawget_pipeline.sh
#
# Netcat and rawget run RUNS rounds, once each per round in alternating
# order; each tool's time is its median, and every tool is first checked
# to get all N responses. Target (issue 17): rawget at most 1.0x the
# baseline's time. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
RUNS=${RUNS:-40}
PORT=${PORT:-18097}

for tool in nginx nc curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool (bash .ci/install-packages)" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -q --bin rawget
RAWGET=$PWD/target/release/rawget

WORK=$(mktemp -d)
cleanup() {
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/logs"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    keepalive_requests $((N + 10));
    client_body_temp_path $WORK/logs;
    proxy_temp_path $WORK/logs;
    fastcgi_temp_path $WORK/logs;
    uwsgi_temp_path $WORK/logs;
    scgi_temp_path $WORK/logs;
    server {
        listen 127.0.0.1:$PORT;
        location / { return 200 "rawnet\n"; }
    }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done

# N requests, the last one asks the server to close: every tool then
# reads until nginx closes the connection after the last answer.
REQ="GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
{
    for _ in $(seq $((N - 1))); do printf "$REQ"; done
    printf 'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'
} > "$WORK/requests.http"

# Every tool must get all N answers.
count() { grep -c '^HTTP/1.1 200 OK' "$1" || true; }
# netcat exits when nginx closes after the last answer (no -q: that
# would wait its seconds after the end of stdin).
nc 127.0.0.1 "$PORT" < "$WORK/requests.http" > "$WORK/nc.out"
"$RAWGET" --send "$WORK/requests.http" "http://127.0.0.1:$PORT/" > "$WORK/rawget.out"
curl -s -i "http://127.0.0.1:$PORT/[1-$N]" > "$WORK/curl.out"
for t in nc rawget curl; do
    got=$(count "$WORK/$t.out")
    [ "$got" -eq "$N" ] || { echo "$t got $got of $N answers" >&2; exit 1; }
done
echo "== $N requests on one connection to nginx, $RUNS interleaved rounds (all $N answers checked)"

# The machine's speed drifts over seconds (shared cores): runs of one
# tool after the other (hyperfine's order) let a slow spell fall on one
# of them, which moved the ratio by 0.1-0.3 between back-to-back runs of
# this script. So each round runs netcat and rawget once, in alternating
# order, and the ratio compares runs made side by side; curl (a second
# per run) gets CURL_RUNS rounds of its own.
python3 - "$WORK" "$PORT" "$RAWGET" "$RUNS" "${CURL_RUNS:-3}" "$N" <<'PY'
import statistics as st, subprocess, sys, time
work, port, rawget, runs, curl_runs, n = sys.argv[1:7]
runs, curl_runs = int(runs), int(curl_runs)
req = f"{work}/requests.http"
url = f"http://127.0.0.1:{port}/"
tools = {
    "printf|nc": (["nc", "127.0.0.1", port], req),
    "rawget --send": ([rawget, "--send", req, url], None),
    "curl sequential": (["curl", "-s", "-o", "/dev/null", f"{url}[1-{n}]"], None),
}

def once(name):
    argv, stdin = tools[name]
    with open(stdin or "/dev/null", "rb") as inp:
        t = time.perf_counter()
        rc = subprocess.run(argv, stdin=inp, stdout=subprocess.DEVNULL).returncode
        took = time.perf_counter() - t
    if rc != 0:
        sys.exit(f"{name} exited with {rc}")
    return took

pair = ["printf|nc", "rawget --send"]
for name in pair * 2:  # warm-up
    once(name)
times = {name: [] for name in tools}
for r in range(runs):
    for name in (pair if r % 2 == 0 else pair[::-1]):
        times[name].append(once(name))
for _ in range(curl_runs):
    times["curl sequential"].append(once("curl sequential"))
base = st.median(times["printf|nc"])
for name, ts in times.items():
    m = st.median(ts)
    print(f"{name:16} median {m*1e3:9.2f} ms  (min {min(ts)*1e3:.2f}, {len(ts)} runs)  ratio to printf|nc {m/base:5.2f}")
ratio = st.median(times["rawget --send"]) / base
paired = st.median(r / b for r, b in zip(times["rawget --send"], times["printf|nc"]))
print(f"ratio rawget/baseline: {ratio:.2f} (median of the rounds' own ratios {paired:.2f}); "
      f"target <= 1.0: {'met' if ratio <= 1.0 else 'NOT met'}")
PY
