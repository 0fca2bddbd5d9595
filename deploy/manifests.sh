#!/usr/bin/env bash
# Checks the deployment files, which no engine here runs (docs/SCALING.md): deploy/compose.yaml
# with `docker-compose config` (Debian's docker-compose parses and validates it without a Docker
# engine), both the default services and the `scale` profile; and every Kubernetes manifest in
# deploy/k8s against the Kubernetes API's schemas, strictly (kubernetes-validate, from PyPI).
# The CloudNativePG `Cluster` and the NATS chart's values (deploy/k8s/services) are custom
# resources and Helm values: no schema here knows them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -qq docker-compose >/dev/null 2>&1 \
        || { $sudo apt-get update -qq && $sudo apt-get install -y -qq docker-compose >/dev/null; }
fi
if ! command -v kubernetes-validate >/dev/null; then
    python3 -m pip install -q kubernetes-validate 2>&1 | grep -v 'WARNING: Running pip as' || true
fi
docker-compose -f deploy/compose.yaml config -q
docker-compose -f deploy/compose.yaml --profile scale config -q
echo "ok: deploy/compose.yaml ($(docker-compose -f deploy/compose.yaml --profile scale config --services | tr '\n' ' '))"
manifests=(deploy/k8s/api.yaml deploy/k8s/worker.yaml deploy/k8s/secret.example.yaml)
kubernetes-validate --strict --quiet "${manifests[@]}"
echo "ok: ${manifests[*]} against the Kubernetes $(kubernetes-validate --version) schemas"
