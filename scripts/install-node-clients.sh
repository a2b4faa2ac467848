#!/usr/bin/env bash
# install-node-clients.sh DIR — the Node.js client libraries of the client
# matrix (tests/integration/test_clients.py), exactly as DIR/package-lock.json
# pins them, from the npm registry. Node.js and npm come from Debian when the
# machine has none. Does nothing when DIR/node_modules matches the lock.
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    "$here/install-deps.sh" nodejs npm
fi
stamp="$dir/node_modules/.installed-from-lock"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "install-node-clients: npm ci in $dir"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
echo "$want" > "$stamp"
