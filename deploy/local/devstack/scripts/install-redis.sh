#!/usr/bin/env bash
# Make sure redis-server is installed (Debian package); the stack runs it itself.
# Usage: install-redis.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

if command -v redis-server >/dev/null; then
  log "$(redis-server --version | cut -d' ' -f1-3) already installed"
  exit 0
fi
apt_install redis-server
log "installed $(redis-server --version | cut -d' ' -f1-3)"
