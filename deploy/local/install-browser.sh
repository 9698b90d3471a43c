#!/usr/bin/env bash
# Make sure headless Chromium and its chromedriver are installed (Debian packages), for the
# review console's browser test (tests/integration/dashboard). Safe to run again.
# Usage: install-browser.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/devstack/scripts/lib.sh"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -n $browser ]] && command -v chromedriver >/dev/null; then
  log "$("$browser" --version 2>/dev/null | head -1) and chromedriver already installed"
  exit 0
fi
# The fonts keep screenshots readable on a minimal image without any desktop fonts.
apt_install chromium chromium-driver fonts-liberation fonts-dejavu-core
log "installed $(chromium --version 2>/dev/null | head -1) and $(chromedriver --version | head -1)"
