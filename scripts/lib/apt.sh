# shellcheck shell=bash
# Source this, then `need_apt PKG...`: installs the Debian packages that are missing, running
# `apt-get update` at most once per process tree. Check scripts call it so a fresh machine works.
need_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "${SHIPSHAPE_APT_UPDATED:-}" ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    export SHIPSHAPE_APT_UPDATED=1
  fi
  echo "apt: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
