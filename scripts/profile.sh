#!/usr/bin/env bash
# Where a request's time goes: perf flamegraphs under load, and callgrind instruction counts for a
# fixed number of requests (repeatable on a shared, loaded machine, unlike req/s). For GET /hello
# and GET /api/users/ (100 users) on SQLite, and the bare hyper server as the floor. Not a test.
#
#   make profile                       both scenarios, flamegraphs and instruction counts
#   PROFILE_SCENARIOS="hello"          a subset (hello list create)
#   PROFILE_PERF=0 / PROFILE_CALLGRIND=0   skip one of the two tools
#   PROFILE_SECONDS=10                 perf: seconds of load recorded per scenario
#   PROFILE_REQUESTS=3000              callgrind: at most this many requests per scenario and target
#   PROFILE_CG_SECONDS=30              callgrind: at most this long (the server is ~50x slower under it)
#   PROFILE_OUT=out/profile            where the SVGs, folded stacks and reports go
#   PROFILE_BASELINE_BIN=              an earlier shipshape build, counted by callgrind beside this one
#                                      (before/after; a stripped release binary is fine for totals)
#
# The binaries are the `profiling` profile of Cargo.toml: the release build with symbols kept.
# inferno (flamegraphs) is installed with `cargo install --locked` under ~/.cache/shipshape, never
# as a dependency of the crate.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt.sh
# shellcheck source=scripts/lib/step.sh
source scripts/lib/step.sh
# shellcheck source=scripts/lib/bench-users.sh
source scripts/lib/bench-users.sh
# shellcheck source=scripts/lib/cargo.sh
source scripts/lib/cargo.sh

INFERNO_VERSION=0.12.8
SCENARIOS=" ${PROFILE_SCENARIOS:-hello list} "
SECS=${PROFILE_SECONDS:-10}
REQUESTS=${PROFILE_REQUESTS:-3000}
CG_SECS=${PROFILE_CG_SECONDS:-30}
OUT=${PROFILE_OUT:-out/profile}
PROFILING="$(cargo_target_dir)/profiling"
BIN=$PROFILING/shipshape
BASELINE=${PROFILE_BASELINE_BIN:-}
HYPER=$PROFILING/examples/bare_hyper
TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/shipshape/inferno-$INFERNO_VERSION

WORK=$(mktemp -d /tmp/shipshape-profile.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
on_exit cleanup

want() { [[ $SCENARIOS == *" $1 "* ]]; }

install_tools() {
  need_apt wrk curl linux-perf valgrind
  if [ ! -x "$TOOLS/bin/inferno-flamegraph" ]; then
    cargo install --locked --quiet inferno --version "$INFERNO_VERSION" --root "$TOOLS"
  fi
  ls "$TOOLS/bin"
}

build() {
  # Two invocations, as in scripts/bench.sh: the example's dev-dependencies must not change the
  # features of the binary under test.
  cargo build --profile profiling --locked --bin shipshape
  cargo build --profile profiling --locked --example bare_hyper
}

# start NAME LOG CMD...: runs a server whose log announces its loopback address; prints the URL.
start() {
  local name=$1 log=$2 addr="" i
  shift 2
  "$@" >>"$log" 2>&1 &
  PIDS+=("$!")
  echo "$!" >"$WORK/$name.pid"
  for i in $(seq 1 600); do
    addr=$(grep -m1 -o 'listening[^0-9]*127\.0\.0\.1:[0-9]\+\|"addr":"127\.0\.0\.1:[0-9]\+"' "$log" |
      grep -o '127\.0\.0\.1:[0-9]\+' || true)
    [ -n "$addr" ] && break
    kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null || { cat "$log" >&2; echo "profile: $name exited" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$log" >&2; echo "profile: $name did not start" >&2; return 1; }
  echo "http://$addr" >"$WORK/$name.url"
}

url() { cat "$WORK/$1.url"; }
pid() { cat "$WORK/$1.pid"; }

# shipshape_env DB: ENV=(env ...), the production defaults; only bind, port and database differ.
shipshape_env() {
  ENV=(env BIND_ADDRESS=127.0.0.1 PORT=0 LOG_FORMAT=json DATABASE_URL="sqlite://$WORK/$1.db")
}

path_of() { case $1 in hello) echo /hello ;; *) echo /api/users/ ;; esac; }

write_lua() {
  # At most PROFILE_REQUESTS responses (wrk still waits out -d), then the count.
  cat >"$WORK/count.lua" <<'LUA'
local n, limit = 0, tonumber(os.getenv("PROFILE_REQUESTS"))
function init(args)
  if args[1] == "create" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
  create = args[1] == "create"
end
function request()
  if create then
    n_req = (n_req or 0) + 1
    return wrk.format(nil, nil, nil, string.format('{"dni":"p%012d","name":"Profile User"}', n_req))
  end
  return wrk.format()
end
function response(status)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
function done(s)
  io.write(string.format("COUNT requests=%d non2xx=%d\n", s.requests, s.errors.status))
end
LUA
}

# perf_scenario SCENARIO: flamegraph of shipshape under wrk -t1 -c64 load.
perf_scenario() {
  local scen=$1 log="$WORK/perf-$1.log" base p
  shipshape_env "perf-$scen"
  start "perf-$scen" "$log" "${ENV[@]}" "$BIN" serve
  base=$(url "perf-$scen")
  [ "$scen" = hello ] || fill_users "$base" 100
  p=$(pid "perf-$scen")
  wrk -t1 -c64 -d2s "$base$(path_of "$scen")" >/dev/null # warm-up
  perf record -q -F 499 -g --call-graph dwarf,16384 -p "$p" -o "$WORK/perf-$scen.data" -- sleep "$SECS" &
  local rec=$!
  sleep 0.5
  wrk -t1 -c64 -d"$((SECS - 1))s" "$base$(path_of "$scen")" | grep -E 'Requests/sec|Latency'
  wait "$rec"
  : >"$log"
  perf script -i "$WORK/perf-$scen.data" 2>/dev/null |
    "$TOOLS/bin/inferno-collapse-perf" --all >"$OUT/$scen.folded"
  "$TOOLS/bin/inferno-flamegraph" --title "shipshape: GET $(path_of "$scen") under wrk -t1 -c64" \
    --width 1200 <"$OUT/$scen.folded" >"$OUT/$scen.svg"
  kill "$p"
  wait "$p" 2>/dev/null || true
  summarise_folded "$scen"
}

# The reading of a profile: CPU by crate of the leaf frame (where the instructions ran), and the
# share of stacks passing through a few suspects (a sample can count in several of those rows).
summarise_folded() {
  awk -v scen="$1" '
    function crate(sym,   m, a, self) {
      if (sym ~ /_\[k\]$/) return "kernel"
      if (sym ~ /^</) {
        split(substr(sym, 2), a, " as ")
        self = a[1]; sub(/^&(mut )?/, "", self)
        if (self ~ /::/) { split(self, m, "::"); return m[1] }
        split(a[2], m, "::"); return m[1]
      }
      if (sym ~ /::/) { split(sym, m, "::"); return m[1] }
      if (sym ~ /^sqlite3|^sqlite3Vdbe|^vdbe|^btree|^pager|^pcache/) return "sqlite (C)"
      return "libc and other C"
    }
    { n = $NF; $NF = ""; total += n
      k = split($0, f, ";"); leaf = f[k]; gsub(/ +$/, "", leaf); by[crate(leaf)] += n
      s = $0
      if (s ~ /futex/) v["futex (thread hand-offs)"] += n
      if (s ~ /malloc|[^a-z]free|realloc|_int_/) v["malloc/free"] += n
      if (s ~ /tracing_subscriber|tracing_core|tracing::/) v["logging (tracing)"] += n
      if (s ~ /metrics_exporter_prometheus|metrics::/) v["metrics"] += n
      if (s ~ /uuid|getrandom/) v["request id (uuid)"] += n
      if (s ~ /serde_json/) v["serde_json"] += n
      if (s ~ /sqlx/) v["sqlx"] += n
      if (s ~ /sqlite3/) v["sqlite (C)"] += n
      if (s ~ /schedule|finish_task_switch/) v["scheduler"] += n
    }
    END {
      printf "%s: leaf frame by crate\n", scen
      for (c in by) if (100 * by[c] / total >= 1) printf "  %5.1f %%  %s\n", 100 * by[c] / total, c | "sort -rn"
      close("sort -rn")
      printf "%s: stacks through\n", scen
      for (c in v) printf "  %5.1f %%  %s\n", 100 * v[c] / total, c | "sort -rn"
      close("sort -rn")
    }' "$OUT/$1.folded" | tee "$OUT/$1.shares.txt"
}

# callgrind_target SCENARIO TARGET: instructions per request over PROFILE_REQUESTS requests.
callgrind_target() {
  local scen=$1 t=$2 log="$WORK/cg-$1-$2.log" base p cmd
  local valgrind=(valgrind --tool=callgrind --instr-atstart=no
    --callgrind-out-file="$OUT/callgrind.$scen.$t")
  # env first: valgrind does not follow exec, so it must start the server itself.
  if [ "$t" = bare-hyper ]; then
    cmd=(env BIND_ADDRESS=127.0.0.1 PORT=0 "${valgrind[@]}" "$HYPER")
  else
    shipshape_env "cg-$scen-$t"
    cmd=("${ENV[@]}" "${valgrind[@]}" "$([ "$t" = shipshape-baseline ] && echo "$BASELINE" || echo "$BIN")" serve)
  fi
  start "cg-$scen-$t" "$log" "${cmd[@]}"
  base=$(url "cg-$scen-$t")
  [ "$scen" != list ] || fill_users "$base" 100
  p=$(pid "cg-$scen-$t")
  # Warm: connections, caches, lazily built state.
  # Instrumented from here on (start-up ran natively), counted from the zeroing on.
  callgrind_control -i on "$p" >/dev/null
  PROFILE_REQUESTS=200 wrk -t1 -c4 -d5s -s "$WORK/count.lua" "$base$(path_of "$scen")" -- warm >/dev/null
  callgrind_control -z "$p" >/dev/null
  local line
  line=$(PROFILE_REQUESTS=$REQUESTS wrk -t1 -c4 -d"${CG_SECS}s" -s "$WORK/count.lua" \
    "$base$(path_of "$scen")" -- "$scen" | grep '^COUNT')
  callgrind_control -d "$p" >/dev/null
  kill "$p"
  wait "$p" 2>/dev/null || true
  local n ir file
  n=${line#*requests=}
  n=${n%% *}
  file="$OUT/callgrind.$scen.$t.1" # the first (only) dump; the file written at exit is empty
  ir=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  printf '%s\t%s\t%d\t%d\t%.0f\n' "$scen" "$t" "$n" "$ir" "$((ir / n))" | tee -a "$OUT/callgrind.tsv"
  callgrind_annotate --inclusive=yes "$file" 2>/dev/null | sed -n 1,80p >"$OUT/callgrind.$scen.$t.inclusive.txt"
  callgrind_annotate "$file" 2>/dev/null | sed -n 1,80p >"$OUT/callgrind.$scen.$t.self.txt"
}

main() {
  step "install wrk, perf, valgrind, inferno" install_tools
  step "cargo build --profile profiling (shipshape, bare_hyper)" build
  rm -rf "$OUT"
  mkdir -p "$OUT"
  write_lua
  local scen
  if [ "${PROFILE_PERF:-1}" = 1 ]; then
    for scen in hello list create; do
      want "$scen" || continue
      step "perf: $scen under load" perf_scenario "$scen"
    done
  fi
  if [ "${PROFILE_CALLGRIND:-1}" = 1 ]; then
    printf 'scenario\ttarget\trequests\tinstructions\tper_request\n' >"$OUT/callgrind.tsv"
    for scen in hello list create; do
      want "$scen" || continue
      step "callgrind: $scen, shipshape" callgrind_target "$scen" shipshape
      [ -z "$BASELINE" ] || step "callgrind: $scen, baseline" callgrind_target "$scen" shipshape-baseline
      [ "$scen" != hello ] || step "callgrind: $scen, bare hyper" callgrind_target "$scen" bare-hyper
    done
    column -t "$OUT/callgrind.tsv"
  fi
  echo "profile: done; $OUT/*.svg, *.shares.txt, callgrind.tsv and callgrind.*.txt"
}
main "$@"
