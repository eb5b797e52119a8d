#!/bin/bash
# Body of the SSM document "<name>-deploy-release" (compute.tf). SSM substitutes the {{ ... }}
# parameters, which the document's allowedPattern restricts to URL and hex characters.
# Installs a release in place: download -> verify sha256 -> keep the old binary -> swap -> restart ->
# wait for /readyz -> on failure put the old binary back and fail (the command/association reports it).
set -euo pipefail

action='{{ action }}'
url='{{ binaryUrl }}'
want='{{ binarySha256 }}'

bin=/usr/local/bin/shipshape
prev=/usr/local/bin/shipshape.previous
unit=shipshape.service
log() { echo "deploy-release: $*"; logger -t shipshape-deploy -- "$*" || true; }

# First run after boot: let cloud-init's own install finish before touching the binary.
if command -v cloud-init >/dev/null; then
  cloud-init status --wait >/dev/null || true
fi

port="$(sed -n 's/^PORT="\{0,1\}\([0-9][0-9]*\)"\{0,1\}$/\1/p' /etc/shipshape/shipshape.env 2>/dev/null | tail -n 1)"
port="${port:-80}"

ready() {
  local _
  for _ in $(seq 1 30); do
    if curl --fail --silent --output /dev/null --max-time 2 "http://127.0.0.1:${port}/readyz"; then
      return 0
    fi
    sleep 1
  done
  return 1
}

restart_and_check() {
  systemctl restart "$unit"
  ready
}

case "$action" in
  rollback)
    [ -x "$prev" ] || { log "FATAL: no previous binary at $prev"; exit 1; }
    cp -p "$bin" "$bin.failed" 2>/dev/null || true
    mv -f "$prev" "$bin"
    restart_and_check || { log "FATAL: rolled-back binary is not ready either"; exit 1; }
    log "rolled back to $(sha256sum "$bin" | cut -d' ' -f1)"
    exit 0
    ;;
  deploy) ;;
  *) log "FATAL: unknown action $action"; exit 2 ;;
esac

[ -n "$url" ] && [ -n "$want" ] || { log "FATAL: binaryUrl and binarySha256 are required"; exit 2; }

if [ -x "$bin" ] && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$want" ] && systemctl is-active --quiet "$unit"; then
  log "already at $want; nothing to do"
  exit 0
fi

tmp="$(mktemp /usr/local/bin/.shipshape.XXXXXX)"
trap 'rm -f "$tmp"' EXIT
curl --fail --silent --show-error --location --proto '=https' --proto-redir '=https' \
  --connect-timeout 10 --max-time 300 --retry 5 --retry-all-errors --output "$tmp" "$url"
got="$(sha256sum "$tmp" | cut -d' ' -f1)"
if [ "$got" != "$want" ]; then
  log "FATAL: sha256 mismatch for $url: expected $want, got $got; nothing changed"
  exit 1
fi
chmod 0755 "$tmp"

[ -x "$bin" ] && cp -p "$bin" "$prev"
mv -f "$tmp" "$bin"
if restart_and_check; then
  log "deployed $want from $url"
  exit 0
fi

log "release $want is not ready on :${port}/readyz; rolling back"
journalctl --no-pager --unit="$unit" --lines=30 || true
if [ -x "$prev" ]; then
  mv -f "$prev" "$bin"
  restart_and_check || log "previous binary is not ready either"
fi
exit 1
