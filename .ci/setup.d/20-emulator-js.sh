#!/usr/bin/env bash
# Install the official @microsoft/signalr client and its MessagePack protocol used by the tests
# (npm ci from the committed package-lock.json). Skipped when node_modules already matches
# the lock file; npm's download cache lives under the shared signalr-bridge cache.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROJECT="$REPO/tests/emulator/js"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/signalr-bridge"
STAMP="$PROJECT/node_modules/.lock-sha256"

command -v npm >/dev/null || { echo "[20-emulator-js] npm is required (Node 20+)" >&2; exit 1; }
want="$(sha256sum "$PROJECT/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "[20-emulator-js] node_modules is up to date"
  exit 0
fi
mkdir -p "$CACHE/npm"
(cd "$PROJECT" && npm ci --no-audit --no-fund --cache "$CACHE/npm")
echo "$want" > "$STAMP"
echo "[20-emulator-js] installed $(cd "$PROJECT" && node -p '["", "-protocol-msgpack"].map((s) => require(`@microsoft/signalr${s}/package.json`).version).join(", ")')"
