#!/usr/bin/env bash
# Offline validation of everything under deploy/ that a cluster or a registry would otherwise be
# needed for. Installs its pinned tools into .cache on first use (deploy/tools/install.sh).
#   bash deploy/validate.sh
# Checks, each reported with its time:
#   1. kustomize build of deploy/k8s/base, the three overlays (dev, staging, production) and
#      deploy/argocd
#   2. kubeconform -strict: core kinds against Kubernetes' OpenAPI schemas, KEDA kinds against
#      KEDA's CRDs (schemas made offline, see deploy/tools/k8s_schemas.py)
#   3. Strimzi kinds (Kafka, KafkaNodePool, KafkaTopic, KafkaUser) against Strimzi 1.0's schemas
#      from npm, unknown fields included (deploy/tools/strimzi/validate.mjs); kubeconform skips
#      them because no Strimzi CRD YAML can be fetched from a package registry
#   3b. Argo CD kinds (Application, AppProject) against Argo CD 3's models from npm, the same way
#      (deploy/tools/argocd/validate.mjs); each Application's path must be a kustomization here
#   4. promtool check rules, test rules (every alert firing and not), check config
#   5. hadolint on the Dockerfiles (images cannot be built here: no container engine)
#   6. the Grafana dashboard: JSON, unique panel ids, queries parse and use exported metrics
# Exit status: 0 when all pass; 3 when a tool could not be installed; 1 otherwise.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=tools/versions.env
. deploy/tools/versions.env
CACHE=${EXAMGATE_TOOLS_CACHE:-$ROOT/.cache}
BIN=$CACHE/bin
SCHEMAS=$CACHE/tools/schemas/k8s-$KUBERNETES_VERSION-keda-$KEDA_VERSION
OUT=$CACHE/validate
# PyYAML is needed by the schema generator: the project's venv has it, else the system python.
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON

start=$SECONDS
bash deploy/tools/install.sh
rc=$?
if [ $rc -ne 0 ]; then
  echo "validate: installing the tools failed (exit $rc)" >&2
  exit 3
fi
echo "validate: tools ready in $((SECONDS - start)) s"

failed=()
check() {  # check NAME COMMAND...: run one check, report it, remember a failure
  local name=$1 t=$SECONDS; shift
  echo "--- $name"
  if "$@"; then
    echo "ok: $name ($((SECONDS - t)) s)"
  else
    echo "FAILED: $name ($((SECONDS - t)) s)"
    failed+=("$name")
  fi
}

mkdir -p "$OUT"
build_all() {
  local ok=0 name dir
  for name in base dev staging production; do
    dir=deploy/k8s/overlays/$name
    [ "$name" = base ] && dir=deploy/k8s/base
    if "$BIN/kustomize" build "$dir" > "$OUT/$name.yaml"; then
      echo "$dir: $(grep -c '^kind:' "$OUT/$name.yaml") resources"
    else
      ok=1
    fi
  done
  if "$BIN/kustomize" build deploy/argocd > "$OUT/argocd.yaml"; then
    echo "deploy/argocd: $(grep -c '^kind:' "$OUT/argocd.yaml") resources"
  else
    ok=1
  fi
  return $ok
}
check "kustomize build (base, dev, staging, production, argocd)" build_all

# Strimzi kinds are checked by the next step (why: see the header).
check "kubeconform -strict (Kubernetes $KUBERNETES_VERSION, KEDA $KEDA_VERSION)" \
  "$BIN/kubeconform" -strict -summary \
    -schema-location "$SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -skip Kafka,KafkaNodePool,KafkaTopic,KafkaUser \
    "$OUT/base.yaml" "$OUT/dev.yaml" "$OUT/staging.yaml" "$OUT/production.yaml"

check "Strimzi resources (v1 schemas, unknown fields)" \
  node deploy/tools/strimzi/validate.mjs --modules "$CACHE/tools/strimzi/node_modules" \
    "$OUT/base.yaml" "$OUT/dev.yaml" "$OUT/staging.yaml" "$OUT/production.yaml"

argocd_paths() {  # every Application's source path is a kustomization in this repository
  local ok=0 path
  for path in $(sed -n 's/^    path: //p' "$OUT/argocd.yaml"); do
    if [ -f "$path/kustomization.yaml" ]; then echo "$path: exists"; else
      echo "$path: no kustomization.yaml" >&2; ok=1; fi
  done
  return $ok
}
check "Argo CD resources (v1alpha1 models, unknown fields)" \
  node deploy/tools/argocd/validate.mjs --modules "$CACHE/tools/argocd/node_modules" \
    "$OUT/argocd.yaml"
check "Argo CD Applications point at overlays" argocd_paths

PROM=deploy/observability/prometheus
check "promtool check rules" "$BIN/promtool" check rules "$PROM/rules/examgate.rules.yml"
check "promtool test rules" "$BIN/promtool" test rules "$PROM/rules/examgate.rules.test.yml"
check "promtool check config" \
  "$BIN/promtool" check config "$PROM/prometheus.yml" "$PROM/prometheus-local.yml"

check "hadolint" "$BIN/hadolint" deploy/docker/Dockerfile.serving deploy/docker/Dockerfile.trainer \
  deploy/docker/Dockerfile.mlflow deploy/docker/Dockerfile.loadtest

check "Grafana dashboard" "$PYTHON" deploy/tools/check_dashboard.py \
  deploy/observability/grafana/dashboards/examgate.json \
  --metrics stream_processors/metrics.py --promtool "$BIN/promtool"

echo "validate: $((SECONDS - start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'validate: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "validate: all checks passed"
