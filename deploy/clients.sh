#!/usr/bin/env bash
# Generated clients, proven: generates a TypeScript client (openapi-typescript's types for
# openapi-fetch, type-checked by tsc in strict mode) and a Python client (openapi-python-client)
# from schemas/openapi.json, into a temporary folder (never the repo), then runs the README's
# quick start through each (deploy/clients/quickstart.ts, deploy/clients/quickstart.py): create an
# inbox, an inbound message, a reply, the list with min_position, the window, the events page by
# page. Fails when a generator says anything about the document but that it generated it (a
# warning means a part of the API left out of the client: fix the document), when tsc fails, or
# when a quick start fails.
#
#   bash deploy/clients.sh               # against a fresh `convo serve` of its own (embedded SQLite)
#   CONVO_URL=http://127.0.0.1:8080 CONVO_KEY=cvk_… bash deploy/clients.sh   # against a running one
#   bash deploy/clients.sh --no-run      # generate and type-check only: no server
#
# CONVO_BIN: the `convo` binary of the fresh server (default $CARGO_TARGET_DIR/debug/convo,
# CARGO_TARGET_DIR defaulting to ~/.cache/convo-target; this script builds nothing).
# CONVO_OPENAPI: the document (default schemas/openapi.json). CONVO_CLIENTS_OUT: a folder to keep
# the generated clients in (default a temporary one, removed at the end).
# The tools, pinned in deploy/clients/package-lock.json and deploy/clients/requirements.txt, are
# installed from npm into ~/.cache/convo-clients/node and from PyPI into ~/.cache/convo-venv-clients
# (CONVO_CLIENTS_CACHE, CONVO_CLIENTS_VENV), again only when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
here="$repo/deploy/clients"
run=1
case "${1:-}" in
    --no-run) run=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-run]" >&2; exit 2 ;;
esac
doc="$(realpath "${CONVO_OPENAPI:-$repo/schemas/openapi.json}")"
node_dir="${CONVO_CLIENTS_CACHE:-$HOME/.cache/convo-clients}/node"
venv="${CONVO_CLIENTS_VENV:-$HOME/.cache/convo-venv-clients}"
export NO_COLOR=1 FORCE_COLOR=0

# Tools, from the registries, outside the repo.
if ! cmp -s "$here/package-lock.json" "$node_dir/package-lock.json" || [ ! -x "$node_dir/node_modules/.bin/tsc" ]; then
    mkdir -p "$node_dir"
    cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
    npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error >&2
fi
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" || [ ! -x "$venv/bin/openapi-python-client" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi
echo "clients: node $(node --version), openapi-typescript $("$node_dir/node_modules/.bin/openapi-typescript" --version), tsc $("$node_dir/node_modules/.bin/tsc" --version | awk '{print $2}'), $("$venv/bin/openapi-python-client" --version)"

if [ -n "${CONVO_CLIENTS_OUT:-}" ]; then
    out="$CONVO_CLIENTS_OUT"
    rm -rf "$out/ts" "$out/py"
    mkdir -p "$out"
else
    out="$(mktemp -d)"
fi
server=""
data=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    [ -n "$data" ] && rm -rf "$data"
    [ -z "${CONVO_CLIENTS_OUT:-}" ] && rm -rf "$out"
    return 0
}
trap cleanup EXIT

# What a generator printed beyond the lines it prints on success: each such line is a finding.
findings() { # NAME LOG EXPECTED-LINE-REGEX
    local extra
    extra="$(grep -v -E "$3" "$2" | grep -v -E '^[[:space:]]*$' || true)"
    if [ -n "$extra" ]; then
        echo "clients: $1 has something to say about $doc:" >&2
        cat "$2" >&2
        return 1
    fi
}
status=0

# TypeScript: the types, the quick start beside them, tsc (strict, no emit on an error).
mkdir -p "$out/ts"
cp "$here/quickstart.ts" "$here/tsconfig.json" "$out/ts/"
echo '{"type": "module", "private": true}' >"$out/ts/package.json"
ln -sfn "$node_dir/node_modules" "$out/ts/node_modules"
if "$node_dir/node_modules/.bin/openapi-typescript" "$doc" -o "$out/ts/schema.d.ts" >"$out/ts/generate.log" 2>&1; then
    findings openapi-typescript "$out/ts/generate.log" '^(✨ openapi-typescript |🚀 .* → )' || { status=1; echo "clients: …so the TypeScript types may miss parts of the API" >&2; }
else
    cat "$out/ts/generate.log" >&2
    echo "clients: openapi-typescript failed" >&2
    exit 1
fi
(cd "$out/ts" && node_modules/.bin/tsc -p tsconfig.json) || { echo "clients: tsc failed" >&2; exit 1; }
echo "clients: TypeScript client generated and type-checked"

# Python: the package alone (no project files), formatted by the ruff beside the generator.
mkdir -p "$out/py"
if PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path "$doc" --meta none \
    --output-path "$out/py/convo_client" --overwrite >"$out/py/generate.log" 2>&1; then
    findings openapi-python-client "$out/py/generate.log" '^Generating ' || { status=1; echo "clients: …so parts of the API are missing from the Python client" >&2; }
else
    cat "$out/py/generate.log" >&2
    echo "clients: openapi-python-client failed" >&2
    exit 1
fi
PYTHONPATH="$out/py" "$venv/bin/python" -c 'import convo_client.api, convo_client.models' \
    || { echo "clients: the Python client does not import" >&2; exit 1; }
echo "clients: Python client generated"

if [ "$run" = 0 ]; then
    [ "$status" = 0 ] && echo "clients: generated, type-checked; no quick start (--no-run)"
    exit "$status"
fi

# A server: the one named, or a fresh one with the key its first start prints.
if [ -n "${CONVO_URL:-}" ]; then
    url="$CONVO_URL"
    key="${CONVO_KEY:?CONVO_URL needs CONVO_KEY, an API key with the write and connector scopes (admin)}"
else
    bin="${CONVO_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/convo-target}/debug/convo}"
    if [ ! -x "$bin" ]; then
        echo "clients: no convo binary at $bin: build it (cargo build -p convo-cli), or set CONVO_BIN or CONVO_URL" >&2
        exit 1
    fi
    data="$(mktemp -d)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    CONVO_LOG=warn CONVO_DATA_DIR="$data/data" "$bin" serve --listen "127.0.0.1:$port" \
        >"$data/out.txt" 2>"$data/log.txt" &
    server=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 300); do
        if grep -q 'cvk_' "$data/out.txt" 2>/dev/null && curl -sf "$url/healthz" >/dev/null 2>&1; then break; fi
        kill -0 "$server" 2>/dev/null || { cat "$data/log.txt" >&2; echo "clients: convo serve exited" >&2; exit 1; }
        sleep 0.1
    done
    key="$(grep -o 'cvk_[0-9a-f_]*' "$data/out.txt" || true)"
    [ -n "$key" ] || { cat "$data/log.txt" >&2; echo "clients: convo serve printed no key" >&2; exit 1; }
fi

export CONVO_URL="$url" CONVO_KEY="$key"
node "$out/ts/out/quickstart.js" || { echo "clients: the TypeScript quick start failed" >&2; status=1; }
PYTHONPATH="$out/py" "$venv/bin/python" "$here/quickstart.py" || { echo "clients: the Python quick start failed" >&2; status=1; }
[ "$status" = 0 ] && echo "clients: both quick starts passed"
exit "$status"
