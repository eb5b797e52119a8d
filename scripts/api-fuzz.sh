#!/usr/bin/env bash
# api-fuzz: property-based API check driven by the server's own /openapi.json (schemathesis).
# Builds and starts the real server on loopback (SQLite in a temp dir), runs every schemathesis check
# with a fixed seed and API_FUZZ_EXAMPLES examples per operation, and fails on any finding. Then
# proves the check can fail: each mistake of scripts/api-fuzz/mutations.py, planted in a copy of the
# document, must be reported. Reports: out/api-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cargo.sh
source scripts/lib/cargo.sh

SEED="${API_FUZZ_SEED:-20261206}"
EXAMPLES="${API_FUZZ_EXAMPLES:-50}"
OUT=out/api-fuzz
export SCHEMATHESIS_HOOKS="$PWD/scripts/api-fuzz/hooks.py"
CONFIG=scripts/api-fuzz/schemathesis.toml

step "python tools (schemathesis)" use_venv
step "build" cargo build --locked --bin shipshape
SERVER_BIN="$(cargo_target_dir)/debug/shipshape"

start_server() {
  WORK="$(mktemp -d)"
  on_exit "rm -rf '$WORK'"
  BIND_ADDRESS=127.0.0.1 PORT=0 LOG_FORMAT=json LOG_LEVEL=warn,shipshape::startup=info \
    SHUTDOWN_DRAIN_SECS=0 DATABASE_URL="sqlite://$WORK/api-fuzz.db" \
    "$SERVER_BIN" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  on_exit "kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null"
  local addr="" _
  for _ in $(seq 1 100); do
    addr="$(sed -n 's/.*"message":"listening".*"addr":"\([^"]*\)".*/\1/p' "$WORK/server.log")"
    [ -n "$addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server exited"; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$WORK/server.log" >&2; die "the server did not start"; }
  BASE="http://$addr"
  echo "server on $BASE"
}
step "start the server on loopback" start_server

fuzz() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  schemathesis --config-file "$CONFIG" run "$BASE/openapi.json" \
    --seed "$SEED" --max-examples "$EXAMPLES" \
    --report junit --report-junit-path "$OUT/junit.xml" | tee "$OUT/schemathesis.txt"
}
step "schemathesis: seed $SEED, $EXAMPLES examples per operation" fuzz

# Each planted mistake must make schemathesis report a failure (exit 1), not pass and not error. They
# run against a fresh server holding user 1, so that requests on the smallest id reach a user.
fresh_server_with_a_user() {
  start_server
  curl -fsS -X POST "$BASE/api/users/" -d 'dni=1&name=First' >/dev/null
}
step "a fresh server for the planted mistakes" fresh_server_with_a_user

mutations_are_caught() {
  curl -fsS "$BASE/openapi.json" -o "$OUT/openapi.json"
  local name operations rc op
  local -a include
  while IFS=$'\t' read -r name operations; do
    include=()
    IFS=, read -ra ops <<<"$operations"
    for op in "${ops[@]}"; do include+=(--include-name "$op"); done
    set +e
    schemathesis --config-file "$CONFIG" run "$OUT/mutations/$name.json" --url "$BASE" \
      "${include[@]}" --seed "$SEED" --max-examples "$EXAMPLES" --max-failures 1 \
      >"$OUT/mutations/$name.txt" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || { tail -n 30 "$OUT/mutations/$name.txt" >&2; die "mutation $name was not reported (exit $rc)"; }
    echo "caught: $name on $operations ($(grep -m1 -o 'ST[0-9]\+ [^:]*' "$OUT/mutations/$name.txt" || echo finding))"
  done < <(python3 scripts/api-fuzz/mutations.py "$OUT/openapi.json" "$OUT/mutations")
}
step "the check catches planted mistakes" mutations_are_caught

finish
