#!/usr/bin/env bash
# Installs the Python packages that the integration tests' helpers need, from PyPI with pip:
#   standardwebhooks  the Standard Webhooks reference library: tests/fixtures/webhook_receiver.py
#                     verifies convo's `v1` (HMAC-SHA256) signatures with it, not with code of ours
#   cryptography      Ed25519, to verify the `v1a` signatures
# Idempotent and quiet: a package that already imports at a fitting version is skipped, so a
# second run makes no network request. `bash deploy/python-deps.sh` (PYTHON=... picks the
# interpreter; python3 by default).
set -euo pipefail
PYTHON="${PYTHON:-python3}"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# One line each: import name, distribution, lowest version, pip requirement. standardwebhooks
# 1.3 signs and verifies the body bytes as received (and has no dependencies); cryptography
# has had Ed25519 since 2.6.
missing=$("$PYTHON" - <<'PY'
import importlib, importlib.metadata as md
wanted = [
    ("standardwebhooks", "standardwebhooks", (1, 3), "standardwebhooks>=1.3,<2"),
    ("cryptography", "cryptography", (3, 0), "cryptography>=3.0"),
]
def version(dist):
    parts = []
    for piece in md.version(dist).split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
for module, dist, lowest, requirement in wanted:
    try:
        importlib.import_module(module)
        ok = version(dist) >= lowest
    except Exception:
        ok = False
    if not ok:
        print(requirement)
PY
)

if [ -n "$missing" ]; then
    echo "python-deps: installing $(echo $missing)"
    # shellcheck disable=SC2086 # one requirement per word
    "$PYTHON" -m pip install --quiet --no-input $missing
fi

# Fail here, loudly, rather than in a test that starts the receiver.
"$PYTHON" -c "import standardwebhooks.webhooks, cryptography.hazmat.primitives.asymmetric.ed25519"
