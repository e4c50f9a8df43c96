#!/usr/bin/env bash
# 10000 pipelined requests on one connection to a local nginx: rawget
# --send beside a netcat-and-printf baseline (the same bytes, no parsing)
# and curl's sequential requests on one kept-alive connection, in one run.
#
#   bench/rawget_pipeline.sh          # builds rawget --release first
#   N=10000 RUNS=10 bench/rawget_pipeline.sh
#
# Each tool's time is hyperfine's median over RUNS runs; every run is
# checked to have got all N responses. Target (issue 17): rawget at most
# 1.0x the baseline's time. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
RUNS=${RUNS:-10}
PORT=${PORT:-18097}

for tool in nginx nc curl hyperfine python3; do
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
echo "== $N requests on one connection to nginx, $RUNS runs each (all $N answers checked)"

hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$WORK/h.json" \
    -n "printf|nc" "sh -c 'nc 127.0.0.1 $PORT < $WORK/requests.http > /dev/null'" \
    -n "rawget --send" "sh -c '$RAWGET --send $WORK/requests.http http://127.0.0.1:$PORT/ > /dev/null'" \
    -n "curl sequential" "sh -c 'curl -s -o /dev/null http://127.0.0.1:$PORT/[1-$N]'" >/dev/null
python3 - "$WORK/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["printf|nc"]["median"]
for name in ("printf|nc", "rawget --send", "curl sequential"):
    m = r[name]["median"]
    print(f"{name:16} median {m*1e3:9.2f} ms  (+-{r[name]['stddev']*1e3:.2f})  ratio to printf|nc {m/base:5.2f}")
print(f"ratio rawget/baseline: {r['rawget --send']['median']/base:.2f}  (target <= 1.0)")
PY
