# Shared helpers for the install scripts; sourced, not run.

log() { echo "[$(basename "$0" .sh)] $*"; }

die() { echo "[$(basename "$0" .sh)] ERROR: $*" >&2; exit 1; }

# apt-get install that refreshes the package lists only when the first try fails,
# and keeps Debian's postinst from starting a system-wide daemon we did not ask for.
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  local guard=/usr/sbin/policy-rc.d added=0
  if [[ ! -e $guard ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod +x "$guard" && added=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } \
    || rc=$?
  if [[ $added == 1 ]]; then rm -f "$guard"; fi
  return "$rc"
}

# need COMMAND DEBIAN_PACKAGE: install the package when the command is missing.
need() {
  command -v "$1" >/dev/null && return 0
  log "$1 not found; installing Debian package $2"
  apt_install "$2"
}
