#!/usr/bin/env bash
# A first run of rawget and portscan on this machine's own loopback:
# starts a web server on 127.0.0.1 (a port the kernel picks), fetches from
# it, scans it, and stops it. Nothing leaves the machine.
#
# The README's first set-up command runs it after `cargo install`; the
# test suite runs it with the freshly built binaries first on PATH
# (tests/docs.rs), so it is checked on every CI run.
set -euo pipefail

# `cargo install` puts the binaries here; rustup usually has it on PATH.
PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
for tool in rawget portscan python3; do
    command -v "$tool" >/dev/null || { echo "demo: $tool not found on PATH" >&2; exit 1; }
done

dir=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# A page to serve, and a server on port 0 so it can never be some other
# server already listening.
printf '<h1>hello from rawnet</h1>\n' > "$dir/index.html"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$dir" > "$dir/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$dir/server.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { echo "demo: the local web server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }

step() { printf '\n$ %s\n' "$*"; "$@"; }

echo "web server on 127.0.0.1:$port (pid $server_pid)"
# Every socket step on stderr, the response as received on stdout.
step rawget -v "http://127.0.0.1:$port/"
# The body alone, to a file, and a summary line from -w.
step rawget -s -o "$dir/page.html" -w '%{http_code} %{size_download} bytes in %{time_total} s\n' "http://127.0.0.1:$port/"
# The same exchange as one JSON object.
step rawget --json "http://127.0.0.1:$port/index.html"
echo
# The server's port, then nmap's top 100 ports of this machine's loopback.
step portscan --table 127.0.0.1 "$port"
step portscan --table --no-progress -F 127.0.0.1
