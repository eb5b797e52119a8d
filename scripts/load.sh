#!/usr/bin/env bash
# load: a short, bounded load test of a deployed service with ApacheBench: fixed concurrency, hard
# time limit, then a summary (requests/s, latency percentiles, failures) in out/load/summary.txt.
# Fails when more than LOAD_MAX_FAILED_PCT of the requests failed or got a non-2xx answer.
#   BASE_URL             required (or out/deploy-eks/base_url from the deploy-eks job)
#   LOAD_PATH            default /hello
#   LOAD_SECONDS         default 30 (capped at 120: this is a check, not a stress test)
#   LOAD_CONCURRENCY     default 8
#   LOAD_MAX_FAILED_PCT  default 1
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

if [ -z "${BASE_URL:-}" ] && [ -s out/deploy-eks/base_url ]; then
  BASE_URL="$(cat out/deploy-eks/base_url)"
fi
require_env BASE_URL
case "$BASE_URL" in
  http://* | https://*) ;;
  *) die "BASE_URL must be an http(s) URL, got '$BASE_URL'" ;;
esac
LOAD_PATH="${LOAD_PATH:-/hello}"
SECONDS_LIMIT="${LOAD_SECONDS:-30}"
CONCURRENCY="${LOAD_CONCURRENCY:-8}"
MAX_FAILED_PCT="${LOAD_MAX_FAILED_PCT:-1}"
[ "$SECONDS_LIMIT" -ge 1 ] && [ "$SECONDS_LIMIT" -le 120 ] || die "LOAD_SECONDS must be 1..120"
[ "$CONCURRENCY" -ge 1 ] && [ "$CONCURRENCY" -le 64 ] || die "LOAD_CONCURRENCY must be 1..64"
OUT=out/load
mkdir -p "$OUT"
TARGET="${BASE_URL%/}${LOAD_PATH}"

command -v ab >/dev/null 2>&1 || step "install ApacheBench" need_pkgs apache2-utils
ensure_python3

run_ab() {
  # -t bounds the time; -n bounds the count (ab stops at whichever comes first); -s per-request timeout.
  timeout $((SECONDS_LIMIT + 30)) ab -q -t "$SECONDS_LIMIT" -n 10000000 -c "$CONCURRENCY" -s 10 -l \
    -e "$OUT/percentiles.csv" "$TARGET" >"$OUT/ab.txt" 2>&1 || {
    cat "$OUT/ab.txt" >&2
    return 1
  }
}
step "ab: ${SECONDS_LIMIT} s, ${CONCURRENCY} concurrent, $TARGET" run_ab

summarise() {
  python3 - "$OUT/ab.txt" "$OUT/percentiles.csv" "$MAX_FAILED_PCT" "$TARGET" <<'PY' | tee "$OUT/summary.txt"
import csv, re, sys
ab, pct_file, max_failed, target = open(sys.argv[1]).read(), sys.argv[2], float(sys.argv[3]), sys.argv[4]
def num(label):
    m = re.search(rf"^{label}:\s+([\d.]+)", ab, re.M)
    return float(m.group(1)) if m else 0.0
done, failed, non2xx = num("Complete requests"), num("Failed requests"), num("Non-2xx responses")
rps, secs = num("Requests per second"), num("Time taken for tests")
pcts = {int(float(r[0])): float(r[1]) for r in csv.reader(open(pct_file)) if r and r[0][0].isdigit()}
bad = failed + non2xx
bad_pct = 100.0 * bad / done if done else 100.0
print(f"target            {target}")
print(f"duration          {secs:.1f} s")
print(f"requests          {int(done)}  ({rps:.1f}/s)")
print(f"failed / non-2xx  {int(failed)} / {int(non2xx)}  ({bad_pct:.2f}%, limit {max_failed}%)")
print("latency ms        " + "  ".join(f"p{p}={pcts[p]:.0f}" for p in (50, 90, 99, 100) if p in pcts))
if done == 0 or bad_pct > max_failed:
    print("load: FAILED: too many failed requests")
    sys.exit(1)
PY
}
step "summary -> $OUT/summary.txt" summarise
finish
