# shellcheck shell=bash
# debian_archive SUITE: print the mirror arguments for `mmdebstrap ... SUITE TARGET <these>`, one per
# line (use with mapfile). DEBIAN_ARCHIVE=<mirror URL> selects a mirror, verified with the keyring of
# Debian's debian-archive-keyring package (so an Ubuntu machine builds a Debian root just the same);
# without it, this machine's own apt sources for SUITE are used as they are. No mirror host is named here.
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

debian_archive() {
  local suite="$1" f found=0
  if [ -n "${DEBIAN_ARCHIVE:-}" ]; then
    [ -s "$DEBIAN_KEYRING" ] || { echo "debian-archive: $DEBIAN_KEYRING missing (package debian-archive-keyring)" >&2; return 1; }
    echo "--keyring=$DEBIAN_KEYRING"
    echo "deb [signed-by=$DEBIAN_KEYRING] $DEBIAN_ARCHIVE $suite main"
    echo "deb [signed-by=$DEBIAN_KEYRING] $DEBIAN_ARCHIVE $suite-updates main"
    return 0
  fi
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -s "$f" ] && grep -qE "^[^#]*\\b$suite\\b" "$f"; then
      echo "$f"
      found=1
    fi
  done
  [ "$found" = 1 ] || {
    echo "debian-archive: this machine has no $suite apt sources: set DEBIAN_ARCHIVE to a Debian mirror URL" >&2
    return 1
  }
}
