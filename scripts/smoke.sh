#!/usr/bin/env bash
# smoke: `shipshape smoke --base-url BASE_URL` (hello, then create/get/list/delete a user) against a
# deployed service. Retries for a short while: right after a rollout DNS and the load balancer may lag.
#   BASE_URL        required, e.g. https://shipshape.example.com
#   SHIPSHAPE_BIN   default out/release/shipshape, else target/release/shipshape
#   SMOKE_ATTEMPTS  default 10, 6 s apart
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

require_env BASE_URL
case "$BASE_URL" in
  http://* | https://*) ;;
  *) die "BASE_URL must be an http(s) URL, got '$BASE_URL'" ;;
esac
BIN="${SHIPSHAPE_BIN:-}"
if [ -z "$BIN" ]; then
  for candidate in out/release/shipshape target/release/shipshape; do
    [ -x "$candidate" ] && BIN="$candidate" && break
  done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || die "no shipshape binary: set SHIPSHAPE_BIN or run make release-binary"
ATTEMPTS="${SMOKE_ATTEMPTS:-10}"

smoke() {
  local i
  for i in $(seq 1 "$ATTEMPTS"); do
    if "$BIN" smoke --base-url "$BASE_URL"; then
      return 0
    fi
    [ "$i" -lt "$ATTEMPTS" ] && echo "smoke: attempt $i/$ATTEMPTS failed; retrying in 6 s" && sleep 6
  done
  return 1
}
step "shipshape smoke --base-url $BASE_URL" smoke
finish
