#!/usr/bin/env bash
# Build the MinIO server (S3-compatible object store) from source with Go, once.
# Usage: install-objectstore.sh [VERSION] [BIN_DIR]
#   VERSION  Go module version of github.com/minio/minio (default $MINIO_VERSION)
#   BIN_DIR  where the `minio` binary goes (default $EXAMGATE_CACHE_DIR/bin)
# A cold build takes about 4-5 minutes on 2 cores; later runs reuse Go's caches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

version=${1:-${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}}
cache=${EXAMGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/examgate}
bin=${2:-$cache/bin}
stamp=$bin/.minio-version

# One build at a time: `make demo` starts this ahead of the stack, which may then ask again.
mkdir -p "$bin"
exec 9>"$bin/.minio-install.lock"
flock 9

if [[ -x $bin/minio && -f $stamp && $(cat "$stamp") == "$version" ]]; then
  log "MinIO $version already built in $bin"
  exit 0
fi

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "Go (1.24 or newer) is needed to build MinIO; install it first"

mkdir -p "$bin"
log "building MinIO $version with $(go version | cut -d' ' -f3) (takes minutes the first time)"
start=$(date +%s)
GOBIN=$bin CGO_ENABLED=0 go install "github.com/minio/minio@$version"
echo "$version" >"$stamp"
log "MinIO built in $(( $(date +%s) - start )) s: $bin/minio"
