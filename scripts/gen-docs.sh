#!/usr/bin/env bash
# Regenerates the flag references, docs/rawget-flags.md and
# docs/portscan-flags.md, from the clap definitions (src/bin/*/cli.rs) and
# the manuals (src/bin/*/manual.rs). Run it after adding or changing a
# flag, an exit status, an environment variable, a JSON field or an
# example; tests/docs.rs fails until the committed files match.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in rawget portscan; do
    cargo run --quiet --bin "$tool" -- --generate markdown > "docs/$tool-flags.md"
    echo "wrote docs/$tool-flags.md"
done
