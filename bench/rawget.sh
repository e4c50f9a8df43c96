#!/usr/bin/env bash
# rawget vs curl, side by side in one run, against the same local nginx.
#
#   bench/rawget.sh            # builds rawget --release, installs what is missing
#
# (1) a 1 KiB GET, whole-process time (hyperfine, many runs, warm-up);
# (2) a 200 MiB body to /dev/null: throughput (best of N) and peak RSS.
# Prints each figure and the ratio rawget/curl. Only 127.0.0.1 is used.
# Targets (issue 2): small GET ratio <= 1.0, big body throughput ratio
# >= 1.0, rawget peak RSS < 8 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS_SMALL=${RUNS_SMALL:-300}
RUNS_BIG=${RUNS_BIG:-10}
PORT=${PORT:-18089}

need() { command -v "$1" >/dev/null 2>&1; }
install_missing() {
    local pkgs=()
    need nginx || pkgs+=(nginx)
    need hyperfine || pkgs+=(hyperfine)
    need curl || pkgs+=(curl)
    [ -x /usr/bin/time ] || pkgs+=(time)
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
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www" "$WORK/logs"
chmod 755 "$WORK"  # the nginx workers run as www-data
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$WORK/www/1k.txt"
head -c $((200 * 1024 * 1024)) /dev/zero > "$WORK/www/200m.bin"
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
    }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/1k.txt" && break
    sleep 0.1
done

SMALL="http://127.0.0.1:$PORT/1k.txt"
BIG="http://127.0.0.1:$PORT/200m.bin"

# Sanity: both tools get the same bytes.
cmp <(curl -fs "$SMALL") <("$RAWGET" --json "$SMALL" | python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["body"])')

echo "== (1) 1 KiB GET, whole-process time, $RUNS_SMALL runs each"
hyperfine -N --warmup 20 --runs "$RUNS_SMALL" --export-json "$WORK/small.json" \
    -n curl "curl -s -o /dev/null $SMALL" \
    -n rawget "$RAWGET -o /dev/null $SMALL" >/dev/null
python3 - "$WORK/small.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
c, g = r["curl"], r["rawget"]
print(f"curl   mean {c['mean']*1e3:7.3f} ms  median {c['median']*1e3:7.3f} ms  (+-{c['stddev']*1e3:.3f})")
print(f"rawget mean {g['mean']*1e3:7.3f} ms  median {g['median']*1e3:7.3f} ms  (+-{g['stddev']*1e3:.3f})")
print(f"ratio rawget/curl (median time): {g['median']/c['median']:.2f}  (target <= 1.00)")
PY

echo "== (2) 200 MiB body to /dev/null, $RUNS_BIG runs each; peak RSS"
hyperfine -N --warmup 1 --runs "$RUNS_BIG" --export-json "$WORK/big.json" \
    -n curl "curl -s -o /dev/null $BIG" \
    -n rawget "$RAWGET -o /dev/null $BIG" >/dev/null
/usr/bin/time -f "%M" -o "$WORK/curl.rss" curl -s -o /dev/null "$BIG"
/usr/bin/time -f "%M" -o "$WORK/rawget.rss" "$RAWGET" -o /dev/null "$BIG"
# Streaming to stdout (a pipe) must be as lean as to a file.
/usr/bin/time -f "%M" -o "$WORK/rawget-pipe.rss" "$RAWGET" "$BIG" | cat >/dev/null
python3 - "$WORK/big.json" "$WORK/curl.rss" "$WORK/rawget.rss" "$WORK/rawget-pipe.rss" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
rss = [int(open(p).read().split()[-1]) for p in sys.argv[2:]]
mib = 200.0
c, g = r["curl"]["median"], r["rawget"]["median"]
print(f"curl   {mib/c:8.0f} MiB/s  (median {c:.3f} s)  peak RSS {rss[0]/1024:6.1f} MiB")
print(f"rawget {mib/g:8.0f} MiB/s  (median {g:.3f} s)  peak RSS {rss[1]/1024:6.1f} MiB (to a pipe: {rss[2]/1024:.1f} MiB)")
print(f"ratio rawget/curl throughput: {c/g:.2f}  (target >= 1.00)")
worst = max(rss[1], rss[2]) * 1024
print(f"rawget peak RSS: {worst/1e6:.1f} MB  (target < 8 MB: {'ok' if worst < 8e6 else 'MISSED'})")
PY
