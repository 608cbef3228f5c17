#!/usr/bin/env bash
# The browser tests (tests/browser): Debian's chromium, driven by playwright-core from npm with
# executablePath /usr/bin/chromium. No test tool ever downloads a browser. Both steps are skipped
# when already done (apt's package, node_modules matching the lock file); npm's download cache
# lives under the shared signalr-bridge cache. Measured here: chromium ~65 s on a fresh machine.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROJECT="$REPO/tests/browser/js"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/signalr-bridge"
STAMP="$PROJECT/node_modules/.lock-sha256"

log() { printf '[40-browser] %s\n' "$*"; }

if [[ ! -x /usr/bin/chromium ]]; then
    log "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi
log "$(/usr/bin/chromium --version 2>/dev/null | head -n1)"

command -v npm >/dev/null || { log "npm is required (Node 20+)"; exit 1; }
want="$(sha256sum "$PROJECT/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    log "playwright-core is up to date"
    exit 0
fi
mkdir -p "$CACHE/npm"
(cd "$PROJECT" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --cache "$CACHE/npm")
echo "$want" > "$STAMP"
log "installed playwright-core $(cd "$PROJECT" && node -p 'require("playwright-core/package.json").version')"
