#!/usr/bin/env bash
# The dashboard's browser tests (tests/browser/): Debian's Chromium driven by Playwright for
# Python, each test against a `convo serve` of its own, axe-core (npm) for the accessibility
# check. Installs what is missing (apt, PyPI, npm; nothing else is reachable), builds the
# binary, runs pytest. Screenshots go to $CONVO_SCREENSHOTS (default: a temporary directory);
# `CONVO_SCREENSHOTS=docs/screenshots bash deploy/browser.sh` refreshes the committed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convo-target}"
cache="$HOME/.cache/convo-browser"
venv="${CONVO_BROWSER_VENV:-$HOME/.cache/convo-venv-browser}"
playwright=1.65.3
pytest=8.4.2
axe=4.11.4
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

if ! command -v chromium >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('playwright') == '$playwright' and m.version('pytest') == '$pytest'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "playwright==$playwright" "pytest==$pytest"
fi
if [ ! -f "$cache/axe-core/package.json" ] || ! grep -q "\"version\": \"$axe\"" "$cache/axe-core/package.json"; then
    rm -rf "$cache/axe-core" && mkdir -p "$cache"
    (cd "$cache" && npm pack --silent "axe-core@$axe" >/dev/null && mkdir axe-core && tar xzf "axe-core-$axe.tgz" -C axe-core --strip-components 1 && rm "axe-core-$axe.tgz")
fi
cargo build --quiet -p convo-cli
CONVO_BIN="$CARGO_TARGET_DIR/debug/convo" CHROMIUM="$(command -v chromium)" AXE_JS="$cache/axe-core/axe.min.js" \
    "$venv/bin/python" -m pytest tests/browser -q -p no:cacheprovider --durations=0 "$@"
