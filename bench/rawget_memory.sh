#!/usr/bin/env bash
# rawget's peak memory in its two worst cases, side by side in one run:
#
#   bench/rawget_memory.sh      # builds rawget --release; installs curl and time if missing
#
# (1) 1000 URLs of 900 KiB behind a stalled first URL: the 999 finished
#     URLs wait in the spool until the first one answers (the server holds
#     it until all the others are served). Target: peak RSS < 64 MiB.
#     Raw output and --json, both to /dev/null.
# (2) a 200 MiB upload with --data-binary @FILE (streamed) to 4 URLs. Target: < 32 MiB; curl
#     --data-binary @FILE beside it.
# Peak RSS is GNU time's "maximum resident set size". Only 127.0.0.1 is
# used; the server is bench/rawget_memory_server.py (python3).
set -euo pipefail
cd "$(dirname "$0")/.."

URLS=${URLS:-1000}
BODY_KIB=${BODY_KIB:-900}
UPLOAD_MIB=${UPLOAD_MIB:-200}
UPLOADS=${UPLOADS:-4}

need() { command -v "$1" >/dev/null 2>&1; }
pkgs=()
need curl || pkgs+=(curl)
[ -x /usr/bin/time ] || pkgs+=(time)
need python3 || pkgs+=(python3)
if [ ${#pkgs[@]} -gt 0 ]; then
    echo "installing: ${pkgs[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

cargo build --release --locked -q --bin rawget
# Wherever cargo puts it (CARGO_TARGET_DIR is respected).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RAWGET=$TARGET_DIR/release/rawget

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the server (BODY_BYTES EXPECT); sets PORT and SERVER_PID.
start_server() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    python3 bench/rawget_memory_server.py "$1" "$2" > "$WORK/port" &
    SERVER_PID=$!
    for _ in $(seq 50); do
        [ -s "$WORK/port" ] && break
        sleep 0.1
    done
    PORT=$(head -1 "$WORK/port")
    [ -n "$PORT" ] || { echo "the server did not start" >&2; exit 1; }
}

# Peak RSS in MiB of a command (its exit status must be 0).
peak_mib() {
    /usr/bin/time -f %M -o "$WORK/rss" "$@" > /dev/null 2> "$WORK/err" || {
        echo "failed: $* ($(head -c 300 "$WORK/err"))" >&2
        exit 1
    }
    awk '{ printf "%.1f", $1 / 1024 }' "$WORK/rss"
}

# (1) the spool.
start_server $((BODY_KIB * 1024)) $((URLS - 1))
urls=("http://127.0.0.1:$PORT/stall")
for i in $(seq $((URLS - 1))); do urls+=("http://127.0.0.1:$PORT/$i"); done
export TMPDIR=$WORK
raw=$(peak_mib "$RAWGET" -m 300 -o /dev/null "${urls[@]}")
start_server $((BODY_KIB * 1024)) $((URLS - 1))
urls=("http://127.0.0.1:$PORT/stall")
for i in $(seq $((URLS - 1))); do urls+=("http://127.0.0.1:$PORT/$i"); done
json=$(peak_mib "$RAWGET" -m 300 --json -o /dev/null "${urls[@]}")

# (2) the upload.
start_server 5 0
head -c $((UPLOAD_MIB * 1024 * 1024)) /dev/zero > "$WORK/upload.bin"
up_urls=()
curl_out=()
for i in $(seq "$UPLOADS"); do
    up_urls+=("http://127.0.0.1:$PORT/up$i")
    curl_out+=(-o /dev/null)
done
up_rawget=$(peak_mib "$RAWGET" -m 300 "${curl_out[@]}" --data-binary "@$WORK/upload.bin" "${up_urls[@]}")
up_curl=$(peak_mib curl -s -m 300 --data-binary "@$WORK/upload.bin" "${curl_out[@]}" "${up_urls[@]}")

printf '\n%-58s %12s %12s %10s\n' "scenario (peak RSS, MiB)" "rawget" "curl" "target"
printf '%-58s %12s %12s %10s\n' "(1) $URLS URLs x $BODY_KIB KiB behind a stalled first, raw" "$raw" "-" "< 64"
printf '%-58s %12s %12s %10s\n' "(1) the same, --json" "$json" "-" "< 64"
printf '%-58s %12s %12s %10s\n' "(2) $UPLOAD_MIB MiB --data-binary @FILE to $UPLOADS URLs" "$up_rawget" "$up_curl" "< 32"
