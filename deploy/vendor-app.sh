#!/usr/bin/env bash
# The dashboard's one library, vendored: htm's Preact bundle (npm htm@3.1.1,
# preact/standalone.module.js) into crates/convo-gateway/app/vendor/htm-preact.js, under a
# header saying where it comes from. `--check` (CI) fails unless the committed file is exactly
# that: the app has no build step, and its one third-party file is npm's, unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.1.1
target=crates/convo-gateway/app/vendor/htm-preact.js
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htm@$version" >/dev/null && tar xzf "htm-$version.tgz")
{
    printf '// htm %s (Apache-2.0, https://github.com/developit/htm), file preact/standalone.module.js of the npm\n' "$version"
    printf '// package htm@%s: Preact with hooks and htm in one ES module. Vendored unchanged below this header;\n' "$version"
    printf '// update with deploy/vendor-app.sh.\n'
    cat "$work/package/preact/standalone.module.js"
} >"$work/htm-preact.js"
if [ "${1:-}" = --check ]; then
    cmp -s "$work/htm-preact.js" "$target" || { echo "vendor-app: $target is not npm's htm@$version (run bash deploy/vendor-app.sh)" >&2; exit 1; }
else
    cp "$work/htm-preact.js" "$target"
fi
