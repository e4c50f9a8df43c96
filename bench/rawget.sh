#!/usr/bin/env bash
# rawget vs curl, side by side in one run, against the same local nginx.
#
#   bench/rawget.sh            # builds rawget --release, installs what is missing
#   SCENARIOS=https bench/rawget.sh   # only the HTTPS half (or: http, reuse, proxy)
#
# (1) a 1 KiB GET, whole-process time (hyperfine, many runs, warm-up);
# (2) a 200 MiB body to /dev/null: throughput (median of N) and peak RSS;
# (3) and (4): the same over HTTPS (TLS 1.3, nginx with a certificate from
#     a private CA the script makes; both tools get it with --cacert).
# (5) 1000 URLs to one nginx that keeps connections alive: both tools reuse
#     one connection (checked: num_connects), whole-run time and peak RSS
#     (at 100 and 1000 URLs: it must stay flat);
# (6) the same 1000 URLs through a local forward proxy (tinyproxy).
# (7) a 200 MiB text body sent gzip-compressed, saved with --compressed:
#     wall time ratio and peak RSS.
# Prints each figure and the ratio rawget/curl. Only 127.0.0.1 is used.
# Targets (issue 2): small GET ratio <= 1.0, big body throughput ratio
# >= 1.0, rawget peak RSS < 8 MB. Issue 6 (HTTPS): small GET ratio <= 1.0
# (aim 0.5), throughput ratio >= 1.0, peak RSS < 12 MiB. Issue 16: (5) and
# (6) ratio <= 1.0, small and flat RSS; (7) time ratio <= 1.0, peak RSS
# < 16 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS_SMALL=${RUNS_SMALL:-300}
RUNS_BIG=${RUNS_BIG:-10}
PORT=${PORT:-18089}
TLS_PORT=${TLS_PORT:-18489}
KA_PORT=${KA_PORT:-18090}
PROXY_PORT=${PROXY_PORT:-18091}
RUNS_MANY=${RUNS_MANY:-10}
SCENARIOS=${SCENARIOS:-http,https,reuse,proxy,gzip}

need() { command -v "$1" >/dev/null 2>&1; }
install_missing() {
    local pkgs=()
    need nginx || pkgs+=(nginx)
    need hyperfine || pkgs+=(hyperfine)
    need curl || pkgs+=(curl)
    [ -x /usr/bin/time ] || pkgs+=(time)
    need openssl || pkgs+=(openssl)
    need tinyproxy || pkgs+=(tinyproxy)
    if [ ${#pkgs[@]} -gt 0 ]; then
        echo "installing: ${pkgs[*]}" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    fi
}
install_missing

cargo build --release --locked -q --bin rawget
RAWGET=$PWD/target/release/rawget

WORK=$(mktemp -d)
cleanup() {
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    [ -n "${TINYPROXY_PID:-}" ] && kill "$TINYPROXY_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/logs"
chmod 755 "$WORK"  # the nginx workers run as www-data
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$WORK/www/1k.txt"
head -c $((200 * 1024 * 1024)) /dev/zero > "$WORK/www/200m.bin"
if [[ ,$SCENARIOS, == *,gzip,* ]]; then
    # 200 MiB of log-like text, gzip -6: served as is with
    # Content-Encoding: gzip (nginx's gzip_static without the module).
    mkdir -p "$WORK/www/gz"
    python3 - "$WORK/www/gz/200m.txt" <<'PY'
import sys
line = 0
with open(sys.argv[1], "w") as f:
    size = 0
    while size < 200 * 1024 * 1024:
        chunk = "".join(f"{line + i} GET /item/{(line + i) * 7919 % 100003} 200 {(line + i) % 977}\n" for i in range(10000))
        line += 10000
        f.write(chunk)
        size += len(chunk)
PY
    truncate -s $((200 * 1024 * 1024)) "$WORK/www/gz/200m.txt"
    gzip -6 -c "$WORK/www/gz/200m.txt" > "$WORK/www/gz/200m.txt.gz"
fi
# A private CA and a server certificate for 127.0.0.1 signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rawget bench CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.pem" 2>/dev/null
chmod 644 "$WORK/server.key"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 0;
    client_body_temp_path $WORK/logs;
    proxy_temp_path $WORK/logs;
    fastcgi_temp_path $WORK/logs;
    uwsgi_temp_path $WORK/logs;
    scgi_temp_path $WORK/logs;
    server {
        listen 127.0.0.1:$PORT;
        root $WORK/www;
        location /gz/ {
            types { }
            default_type text/plain;
            add_header Content-Encoding gzip;
        }
    }
    server {
        listen 127.0.0.1:$KA_PORT;
        keepalive_timeout 60;
        keepalive_requests 100000;
        root $WORK/www;
    }
    server {
        listen 127.0.0.1:$TLS_PORT ssl;
        ssl_certificate $WORK/server.pem;
        ssl_certificate_key $WORK/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WORK/www;
    }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/1k.txt" && break
    sleep 0.1
done

# compare JSON RUNS WARMUP URL [ARGS...]: hyperfine, curl beside rawget.
compare() {
    local json=$1 runs=$2 warmup=$3 url=$4
    shift 4
    hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$json" \
        -n curl "curl -s $* -o /dev/null $url" \
        -n rawget "$RAWGET $* -o /dev/null $url" >/dev/null
}

# small_get N LABEL TARGET URL [ARGS...]: whole-process time of a small GET.
small_get() {
    local n=$1 label=$2 target=$3 url=$4
    shift 4
    echo "== ($n) $label 1 KiB GET, whole-process time, $RUNS_SMALL runs each"
    compare "$WORK/small$n.json" "$RUNS_SMALL" 20 "$url" "$@"
    python3 - "$WORK/small$n.json" "$target" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
c, g = r["curl"], r["rawget"]
print(f"curl   mean {c['mean']*1e3:7.3f} ms  median {c['median']*1e3:7.3f} ms  (+-{c['stddev']*1e3:.3f})")
print(f"rawget mean {g['mean']*1e3:7.3f} ms  median {g['median']*1e3:7.3f} ms  (+-{g['stddev']*1e3:.3f})")
print(f"ratio rawget/curl (median time): {g['median']/c['median']:.2f}  (target {sys.argv[2]})")
PY
}

# big_body N LABEL MAX_RSS_MIB URL [ARGS...]: throughput and peak RSS of a
# 200 MiB body, to a file and to a pipe.
big_body() {
    local n=$1 label=$2 max_rss=$3 url=$4
    shift 4
    echo "== ($n) $label 200 MiB body to /dev/null, $RUNS_BIG runs each; peak RSS"
    compare "$WORK/big$n.json" "$RUNS_BIG" 1 "$url" "$@"
    /usr/bin/time -f "%M" -o "$WORK/curl$n.rss" curl -s "$@" -o /dev/null "$url"
    /usr/bin/time -f "%M" -o "$WORK/rawget$n.rss" "$RAWGET" "$@" -o /dev/null "$url"
    # Streaming to stdout (a pipe) must be as lean as to a file.
    /usr/bin/time -f "%M" -o "$WORK/rawget-pipe$n.rss" "$RAWGET" "$@" "$url" | cat >/dev/null
    python3 - "$WORK/big$n.json" "$max_rss" "$WORK/curl$n.rss" "$WORK/rawget$n.rss" "$WORK/rawget-pipe$n.rss" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
max_rss = float(sys.argv[2])
rss = [int(open(p).read().split()[-1]) for p in sys.argv[3:]]
mib = 200.0
c, g = r["curl"]["median"], r["rawget"]["median"]
print(f"curl   {mib/c:8.0f} MiB/s  (median {c:.3f} s)  peak RSS {rss[0]/1024:6.1f} MiB")
print(f"rawget {mib/g:8.0f} MiB/s  (median {g:.3f} s)  peak RSS {rss[1]/1024:6.1f} MiB (to a pipe: {rss[2]/1024:.1f} MiB)")
print(f"ratio rawget/curl throughput: {c/g:.2f}  (target >= 1.00)")
worst = max(rss[1], rss[2]) / 1024
print(f"rawget peak RSS: {worst:.1f} MiB  (target < {max_rss:g} MiB: {'ok' if worst < max_rss else 'MISSED'})")
PY
}

if [[ ,$SCENARIOS, == *,http,* ]]; then
    SMALL="http://127.0.0.1:$PORT/1k.txt"
    # Sanity: both tools get the same bytes.
    cmp <(curl -fs "$SMALL") <("$RAWGET" --json "$SMALL" | python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["body"])')
    small_get 1 HTTP "<= 1.00" "$SMALL"
    # Issue 2's target was 8 MB (7.6 MiB).
    big_body 2 HTTP 7.6 "http://127.0.0.1:$PORT/200m.bin"
fi

if [[ ,$SCENARIOS, == *,https,* ]]; then
    TSMALL="https://127.0.0.1:$TLS_PORT/1k.txt"
    CA=(--cacert "$WORK/ca.pem")
    for _ in $(seq 50); do
        curl -fs "${CA[@]}" -o /dev/null "$TSMALL" && break
        sleep 0.1
    done
    # Sanity: both tools get the same bytes, and the certificate verifies.
    cmp <(curl -fs "${CA[@]}" "$TSMALL") <("$RAWGET" "${CA[@]}" --json "$TSMALL" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["tls"]["verified"]; sys.stdout.write(d["body"])')
    "$RAWGET" "${CA[@]}" --json "$TSMALL" | python3 -c 'import json,sys; t=json.load(sys.stdin)["tls"]; print("TLS:", t["version"], t["cipher"], "ALPN", t["alpn"])'
    small_get 3 HTTPS "<= 1.00, aim 0.50" "$TSMALL" "${CA[@]}"
    big_body 4 HTTPS 12 "https://127.0.0.1:$TLS_PORT/200m.bin" "${CA[@]}"
fi

# many N LABEL URLS_FILE [ARGS...]: N URLs in one run of each tool.
many() {
    local n=$1 label=$2 urls=$3
    shift 3
    local count
    count=$(wc -l < "$urls")
    echo "== ($n) $label: $count URLs in one run, $RUNS_MANY runs each; peak RSS"
    # Each tool's own view of its connections, on the first three URLs.
    local first3
    first3=$(head -3 "$urls" | tr '\n' ' ')
    # shellcheck disable=SC2086
    echo "curl   num_connects: $(curl -s "$@" -w '%{num_connects} ' -o /dev/null -o /dev/null -o /dev/null $first3)"
    # shellcheck disable=SC2086
    echo "rawget num_connects: $("$RAWGET" "$@" -w '%{num_connects} ' -o /dev/null -o /dev/null -o /dev/null $first3)"
    hyperfine -N --warmup 1 --runs "$RUNS_MANY" --export-json "$WORK/many$n.json" \
        -n curl "curl -s $* $(tr '\n' ' ' < "$urls")" \
        -n rawget "$RAWGET $* $(tr '\n' ' ' < "$urls")" >/dev/null
    # shellcheck disable=SC2046
    /usr/bin/time -f "%M" -o "$WORK/curl-many$n.rss" curl -s "$@" $(cat "$urls") >/dev/null
    # shellcheck disable=SC2046
    /usr/bin/time -f "%M" -o "$WORK/rawget-many$n.rss" "$RAWGET" "$@" $(cat "$urls") >/dev/null
    # shellcheck disable=SC2046
    /usr/bin/time -f "%M" -o "$WORK/rawget-few$n.rss" "$RAWGET" "$@" $(head -100 "$urls") >/dev/null
    python3 - "$WORK/many$n.json" "$WORK/curl-many$n.rss" "$WORK/rawget-many$n.rss" "$WORK/rawget-few$n.rss" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
rss = [int(open(p).read().split()[-1]) / 1024 for p in sys.argv[2:]]
c, g = r["curl"]["median"], r["rawget"]["median"]
print(f"curl   median {c*1e3:8.1f} ms  peak RSS {rss[0]:5.1f} MiB")
print(f"rawget median {g*1e3:8.1f} ms  peak RSS {rss[1]:5.1f} MiB (100 URLs: {rss[2]:.1f} MiB)")
print(f"ratio rawget/curl (median time): {g/c:.2f}  (target <= 1.00)")
PY
}

if [[ ,$SCENARIOS, == *,reuse,* || ,$SCENARIOS, == *,proxy,* ]]; then
    seq 1000 | sed "s|.*|http://127.0.0.1:$KA_PORT/1k.txt?i=&|" > "$WORK/urls.txt"
fi

if [[ ,$SCENARIOS, == *,reuse,* ]]; then
    many 5 "keep-alive nginx" "$WORK/urls.txt"
fi

if [[ ,$SCENARIOS, == *,proxy,* ]]; then
    cat > "$WORK/tinyproxy.conf" <<CONF
Port $PROXY_PORT
Listen 127.0.0.1
Timeout 30
MaxClients 64
Allow 127.0.0.1
LogLevel Error
PidFile "$WORK/tinyproxy.pid"
CONF
    tinyproxy -d -c "$WORK/tinyproxy.conf" >/dev/null 2>&1 &
    TINYPROXY_PID=$!
    for _ in $(seq 50); do
        curl -fs -x "127.0.0.1:$PROXY_PORT" -o /dev/null "http://127.0.0.1:$KA_PORT/1k.txt" && break
        sleep 0.1
    done
    many 6 "through tinyproxy (it closes after every response)" "$WORK/urls.txt" -x "http://127.0.0.1:$PROXY_PORT"
fi

if [[ ,$SCENARIOS, == *,gzip,* ]]; then
    GZ="http://127.0.0.1:$PORT/gz/200m.txt.gz"
    # Sanity: both save the same decoded text, the original.
    curl -s --compressed -o "$WORK/curl.txt" "$GZ"
    "$RAWGET" -s --compressed -o "$WORK/rawget.txt" "$GZ"
    cmp "$WORK/curl.txt" "$WORK/www/gz/200m.txt"
    cmp "$WORK/rawget.txt" "$WORK/www/gz/200m.txt"
    rm -f "$WORK/curl.txt" "$WORK/rawget.txt"
    echo "== (7) 200 MiB text, gzip ($(($(stat -c %s "$WORK/www/gz/200m.txt.gz") / 1024 / 1024)) MiB on the wire), --compressed to /dev/null, $RUNS_BIG runs each; peak RSS"
    compare "$WORK/gz.json" "$RUNS_BIG" 1 "$GZ" --compressed
    /usr/bin/time -f "%M" -o "$WORK/curl-gz.rss" curl -s --compressed -o /dev/null "$GZ"
    /usr/bin/time -f "%M" -o "$WORK/rawget-gz.rss" "$RAWGET" --compressed -o /dev/null "$GZ"
    python3 - "$WORK/gz.json" "$WORK/curl-gz.rss" "$WORK/rawget-gz.rss" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
rss = [int(open(p).read().split()[-1]) for p in sys.argv[2:]]
c, g = r["curl"]["median"], r["rawget"]["median"]
print(f"curl   median {c:.3f} s  peak RSS {rss[0]/1024:6.1f} MiB")
print(f"rawget median {g:.3f} s  peak RSS {rss[1]/1024:6.1f} MiB")
print(f"ratio rawget/curl (median time): {g/c:.2f}  (target <= 1.00)")
print(f"rawget peak RSS: {rss[1]/1024:.1f} MiB  (target < 16 MiB: {'ok' if rss[1]/1024 < 16 else 'MISSED'})")
PY
fi
