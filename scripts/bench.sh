#!/usr/bin/env bash
# Loopback load test: shipshape (SQLite and PostgreSQL) and a bare hyper server, plus the Python
# originals when their URLs are given. Prints a table of median req/s and latency; see
# docs/performance.md for how the numbers in it were taken. Not a test: nothing here passes or
# fails on speed, but any step that breaks (build, start, filling in users, wrk) fails the script.
#
#   BENCH_SECONDS=10       duration of one wrk run        BENCH_ROUNDS=3   runs per target (median)
#   BENCH_CONNECTIONS=64   wrk -c                         BENCH_THREADS=2  wrk -t
#   BENCH_WARMUP=2         unrecorded seconds per target before round 1
#   BENCH_USERS=100        users in the list scenario     BENCH_POSTGRES=1 (0 skips PostgreSQL)
#   BENCH_OUT=out/bench    where runs.tsv and results.md go
#   BENCH_BIN=<target dir>/release/shipshape   the shipshape binary measured (e.g. a static build, to compare)
#   BENCH_BASELINE_BIN=  an earlier shipshape build, measured beside BENCH_BIN on SQLite (before/after)
#   BENCH_QUIET=1        also BENCH_BIN without its access log (RUST_LOG=warn) on /hello: what the
#                        access line costs, measured in the same run
#   BENCH_SCENARIOS="hello list create"   a subset runs only those
#   Peers, optional (their code is not in this repo; docs/performance.md says how they were run):
#   BENCH_FLASK_URL (hello), BENCH_DJANGO_URL (gunicorn: list, create),
#   BENCH_DJANGO_RUNSERVER_URL (list), e.g. http://127.0.0.1:18101 — loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt.sh

CLK_TCK=$(getconf CLK_TCK)
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2}
USERS_WANTED=${BENCH_USERS:-100}
USE_PG=${BENCH_POSTGRES:-1}
OUT=${BENCH_OUT:-out/bench}
BASELINE=${BENCH_BASELINE_BIN:-}
QUIET=${BENCH_QUIET:-0}
SCENARIOS=" ${BENCH_SCENARIOS:-hello list create} "

# shellcheck source=scripts/lib/step.sh
source scripts/lib/step.sh
# shellcheck source=scripts/lib/bench-users.sh
source scripts/lib/bench-users.sh
# shellcheck source=scripts/lib/cargo.sh
source scripts/lib/cargo.sh
RELEASE="$(cargo_target_dir)/release"
BIN=${BENCH_BIN:-$RELEASE/shipshape}

WORK=$(mktemp -d /tmp/shipshape-bench.XXXXXX)
PIDS=()
PG_DB=""
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$PG_DB" ]; then
    runuser -u postgres -- dropdb --if-exists --force "$PG_DB" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
on_exit cleanup

# Only loopback targets: this is a load generator.
is_loopback() { [[ $1 =~ ^http://(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost|\[::1\])(:[0-9]+)?/?$ ]]; }

declare -A URL=()   # target name -> base URL
declare -A LOG=()   # target name -> stdout log of a server we started
declare -A PID=()   # target name -> pid of a server we started

install_tools() {
  need_apt wrk curl ca-certificates iproute2
  wrk --version 2>&1 | head -1 || true
}

build() {
  # Two invocations on purpose: the first is exactly the shipped binary; building the example
  # pulls in dev-dependency features, which must not leak into the binary under test.
  cargo build --release
  cargo build --release --example bare_hyper
  ls -l "$RELEASE/shipshape" "$RELEASE/examples/bare_hyper"
}

# start NAME CMD... : runs a server whose stdout announces its loopback address, waits for it.
start() {
  local name=$1 log="$WORK/$1.log" addr="" i
  shift
  # O_APPEND (>>) so the log can be truncated between runs without leaving holes.
  "$@" >>"$log" 2>&1 &
  PIDS+=("$!")
  PID[$name]=$!
  LOG[$name]=$log
  for i in $(seq 1 100); do
    addr=$(grep -m1 -o 'listening[^0-9]*127\.0\.0\.1:[0-9]\+\|"addr":"127\.0\.0\.1:[0-9]\+"' "$log" |
      grep -o '127\.0\.0\.1:[0-9]\+' || true)
    [ -n "$addr" ] && break
    kill -0 "${PID[$name]}" 2>/dev/null || { cat "$log" >&2; echo "bench: $name exited" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$log" >&2; echo "bench: $name did not announce an address" >&2; return 1; }
  URL[$name]="http://$addr"
  echo "$name on ${URL[$name]} (pid ${PID[$name]})"
}

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

start_servers() {
  # Production defaults (JSON request logs at info, limits, metrics); only bind and port differ.
  start shipshape-sqlite env BIND_ADDRESS=127.0.0.1 PORT=0 \
    DATABASE_URL="sqlite://$WORK/bench.db" "$BIN" serve
  [ -z "$BASELINE" ] || start shipshape-baseline env BIND_ADDRESS=127.0.0.1 PORT=0 \
    DATABASE_URL="sqlite://$WORK/baseline.db" "$BASELINE" serve
  # Start-up still logs its address, which is how start finds the server.
  [ "$QUIET" != 1 ] || start shipshape-quiet env BIND_ADDRESS=127.0.0.1 PORT=0 \
    RUST_LOG=warn,shipshape::startup=info DATABASE_URL="sqlite://$WORK/quiet.db" "$BIN" serve
  if [ "$USE_PG" = 1 ]; then
    local pg url ca
    pg=$(scripts/pg-start.sh)
    url=$(sed -n 's/^TEST_DATABASE_URL=//p' <<<"$pg")
    ca=$(sed -n 's/^TEST_DATABASE_CA=//p' <<<"$pg")
    PG_DB=shipshape_bench
    runuser -u postgres -- dropdb --if-exists --force "$PG_DB" 2>/dev/null # NOTICE when absent
    runuser -u postgres -- createdb -O shipshape "$PG_DB"
    # TLS with verify-full, as the service talks to RDS.
    start shipshape-postgres env BIND_ADDRESS=127.0.0.1 PORT=0 \
      DATABASE_URL="${url%/*}/$PG_DB?sslmode=verify-full&sslrootcert=$ca" "$BIN" serve
  fi
  start bare-hyper env BIND_ADDRESS=127.0.0.1 PORT=0 "$RELEASE/examples/bare_hyper"
  local t
  for t in "${!PID[@]}"; do echo "$t idle RSS: $(rss_kib "${PID[$t]}" VmRSS) KiB"; done
}

add_peers() {
  local name var
  for name in flask-dev:BENCH_FLASK_URL django-gunicorn:BENCH_DJANGO_URL \
    django-runserver:BENCH_DJANGO_RUNSERVER_URL; do
    var=${name#*:}
    name=${name%%:*}
    [ -n "${!var:-}" ] || continue
    is_loopback "${!var}" || { echo "bench: $var must be a loopback http:// URL" >&2; return 1; }
    URL[$name]=${!var%/}
    curl -sS -o /dev/null --max-time 5 "${URL[$name]}/" # any HTTP answer proves it is up
    echo "$name on ${URL[$name]} (peer)"
  done
}

count_and_fill() { # count_and_fill TARGET: its users list topped up to $USERS_WANTED
  fill_users "${URL[$1]}" "$USERS_WANTED"
  echo "$1: $USERS_WANTED users"
}

write_lua() {
  # done() prints one machine-readable line; latencies are in microseconds.
  local report='
function done(s, lat, req)
  local e = s.errors
  io.write(string.format("BENCH rps=%.1f p50_us=%d p99_us=%d requests=%d socket_errors=%d non2xx=%d bytes=%d\n",
    s.requests / (s.duration / 1e6), lat:percentile(50), lat:percentile(99), s.requests,
    e.connect + e.read + e.write + e.timeout, e.status, s.bytes))
end'
  printf '%s\n' "$report" >"$WORK/get.lua"
  cat >"$WORK/post.lua" <<'LUA'
-- Unique dni per request: per-run prefix (arg 1, 5 chars) + thread digit + 7-digit counter = 13.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads % 10)
end
function init(args)
  prefix = args[1]
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  n = n + 1
  return wrk.format(nil, nil, nil,
    string.format('{"dni":"%s%d%07d","name":"Bench User"}', prefix, tid, n))
end
LUA
  printf '%s\n' "$report" >>"$WORK/post.lua"
}

# Every process holding the target's listening socket (gunicorn: master and workers).
server_pids() {
  local port=${URL[$1]##*:}
  ss -Hltnp "sport = :${port%/}" | grep -o 'pid=[0-9]\+' | cut -d= -f2 | sort -u | tr '\n' ' '
}
cpu_ticks() { # user+system clock ticks of the pids, all threads
  local p v sum=0
  for p in $1; do
    # Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || v=0
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

rand_prefix() { # 5 random letters: dnis of one run never collide with earlier runs'
  local c=abcdefghijklmnopqrstuvwxyz p="" i
  for i in 1 2 3 4 5; do p+=${c:RANDOM % 26:1}; done
  echo "$p"
}

# run SCENARIO TARGET ROUND SECONDS: one wrk run; ROUND 0 is the unrecorded warm-up.
run() {
  local scen=$1 t=$2 round=$3 secs=$4 path=/api/users/ script=$WORK/get.lua args=() line
  case $scen in
    hello) path=/hello ;;
    create) script=$WORK/post.lua args=(-- "$(rand_prefix)") ;;
  esac
  local pids cpu0 cpu1
  pids=$(server_pids "$t")
  cpu0=$(cpu_ticks "$pids")
  line=$(wrk -t "$THREADS" -c "$CONNS" -d "${secs}s" --timeout 5s --latency -s "$script" \
    "${URL[$t]}$path" "${args[@]}" | grep '^BENCH ') ||
    { echo "bench: wrk failed for $scen $t" >&2; return 1; }
  cpu1=$(cpu_ticks "$pids")
  # Server CPU per request: less sensitive than req/s to what else the shared cores are doing.
  line+=" cpu_us_per_req=$(awk -v d=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v r="${line##*requests=}" \
    'BEGIN { r += 0; printf "%d", r ? d * 1e6 / hz / r : 0 }')"
  [ -z "${LOG[$t]:-}" ] || : >"${LOG[$t]}" # request logs of our servers: seen, not kept
  [ "$round" -gt 0 ] || return 0
  echo "  round $round $scen $t: ${line#BENCH }"
  # shellcheck disable=SC2086 # word splitting of key=value pairs is the point
  printf '%s\t%s\t%s\t%s\n' "$scen" "$t" "$round" "$(echo ${line#BENCH } | tr ' ' '\t')" >>"$OUT/runs.tsv"
}

want() { [[ $SCENARIOS == *" $1 "* ]]; }

scenario() { # scenario NAME TARGET...: targets interleaved round by round
  local scen=$1 t r
  shift
  local present=()
  for t in "$@"; do [ -n "${URL[$t]:-}" ] && present+=("$t"); done
  [ ${#present[@]} -gt 0 ] || return 0
  for t in "${present[@]}"; do run "$scen" "$t" 0 "$WARMUP"; done
  for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${present[@]}"; do run "$scen" "$t" "$r" "$SECS"; done
  done
}

report() {
  local t
  {
    echo "wrk -t $THREADS -c $CONNS -d ${SECS}s, $ROUNDS interleaved rounds, medians; $(nproc) cores," \
      "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "| scenario | target | req/s | × hyper | p50 ms | p99 ms | errors | server CPU µs/req | bytes/resp | req/s per round |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    # Median per column over the rounds; errors are summed (socket errors + non-2xx).
    awk -F'\t' '
      function val(s) { sub(/^[a-z0-9_]+=/, "", s); return s + 0 }
      function med(str,   a, n, i, j, x) {
        n = split(str, a, " ")
        for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      {
        k = $1 SUBSEP $2
        if (!(k in seen)) { seen[k] = 1; order[++m] = k }
        rps[k] = rps[k] " " val($4); p50[k] = p50[k] " " val($5); p99[k] = p99[k] " " val($6)
        err[k] += val($8) + val($9); bpr[k] = bpr[k] " " (val($7) ? val($10) / val($7) : 0); cpu[k] = cpu[k] " " val($11); per[k] = per[k] (per[k] == "" ? "" : ", ") sprintf("%.0f", val($4))
      }
      END {
        # Every row against bare hyper on /hello, the floor of any request on this machine.
        hk = "hello" SUBSEP "bare-hyper"; hyper = (hk in rps) ? med(rps[hk]) : 0
        for (i = 1; i <= m; i++) {
          k = order[i]; split(k, kk, SUBSEP)
          printf "| %s | %s | %.0f | %s | %.2f | %.2f | %d | %.0f | %.0f | %s |\n", kk[1], kk[2], med(rps[k]),
            hyper ? sprintf("%.3f", med(rps[k]) / hyper) : "-", med(p50[k]) / 1000, med(p99[k]) / 1000, err[k], med(cpu[k]), med(bpr[k]), per[k]
        }
      }' "$OUT/runs.tsv"
    echo
    for t in shipshape-sqlite shipshape-baseline shipshape-quiet shipshape-postgres bare-hyper; do
      [ -n "${PID[$t]:-}" ] || continue
      echo "- $t: RSS now $(rss_kib "${PID[$t]}" VmRSS) KiB, peak $(rss_kib "${PID[$t]}" VmHWM) KiB"
    done
    echo "- release binary $BIN: $(stat -c %s "$BIN") bytes"
  } | tee "$OUT/results.md"
}

main() {
  step "install wrk and curl" install_tools
  step "cargo build --release (shipshape, bare_hyper)" build
  mkdir -p "$OUT"
  : >"$OUT/runs.tsv"
  step "start shipshape and bare_hyper on loopback" start_servers
  step "check peer URLs" add_peers
  write_lua
  local t
  for t in shipshape-sqlite shipshape-baseline shipshape-postgres django-gunicorn django-runserver; do
    [ -z "${URL[$t]:-}" ] || step "fill in $USERS_WANTED users: $t" count_and_fill "$t"
  done
  ! want hello || step "GET /hello" scenario hello shipshape-sqlite shipshape-baseline \
    shipshape-quiet bare-hyper flask-dev
  ! want list || step "GET /api/users/ ($USERS_WANTED users)" scenario list shipshape-sqlite \
    shipshape-baseline shipshape-postgres django-gunicorn django-runserver
  # Last: it grows the tables the list scenario reads.
  ! want create || step "POST /api/users/" scenario create shipshape-sqlite shipshape-baseline \
    shipshape-postgres django-gunicorn
  step "report" report
  for t in "${!PID[@]}"; do
    kill -0 "${PID[$t]}" 2>/dev/null || { echo "bench: $t died during the run" >&2; return 1; }
  done
  echo "bench: done; table in $OUT/results.md, raw runs in $OUT/runs.tsv"
}
main "$@"
