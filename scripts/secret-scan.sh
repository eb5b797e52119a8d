#!/usr/bin/env bash
# secret-scan: detect-secrets over every file Git would commit (tracked + untracked, not ignored).
# Any finding fails. A false positive gets an inline `pragma: allowlist secret` comment next to it,
# reviewed like any other change; whole files are excluded only below, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

# Excluded: Cargo.lock and Terraform's .terraform.lock.hcl hold package checksums (hex by design); the
# baseline holds hashes of reviewed findings. Nothing else.
EXCLUDE='^(Cargo\.lock|(.*/)?\.terraform\.lock\.hcl|scripts/delivery/secrets\.baseline)$'
# Reviewed false positives (placeholder URLs in docs and tests, a throwaway CI database password, an
# example image tag), stored as hashes; `detect-secrets audit scripts/delivery/secrets.baseline` shows
# them. KeywordDetector is off (in the baseline's plugin list): on HCL/YAML it flags every key named
# like *secret* (existingSecret, manage_master_user_password), burying real findings.
BASELINE=scripts/delivery/secrets.baseline
OUT=out/secret-scan

step "python tools (detect-secrets)" use_venv
mkdir -p "$OUT"

files_to_scan() {
  git ls-files --cached --others --exclude-standard | grep -Ev "$EXCLUDE" |
    while read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done
}

scan() {
  local files=()
  mapfile -t files < <(files_to_scan)
  [ ${#files[@]} -gt 0 ] || die "no files to scan"
  echo "scanning ${#files[@]} files against $BASELINE"
  # The hook rewrites the baseline it is given whenever a reviewed finding moved to another line,
  # and exits 3 for that as for a new finding. Give it a copy and tell the two apart: only new
  # (file, hash) pairs fail; moved lines are reported with the command that refreshes them.
  cp "$BASELINE" "$OUT/baseline.json"
  local rc=0
  detect-secrets-hook --baseline "$OUT/baseline.json" "${files[@]}" >"$OUT/findings.txt" 2>&1 || rc=$?
  cat "$OUT/findings.txt"
  [ "$rc" -eq 0 ] && return 0
  if [ "$rc" -eq 3 ] && python3 - "$BASELINE" "$OUT/baseline.json" <<'PY'
import json, sys
def pairs(path):
    results = json.load(open(path))["results"]
    return {(f, i["hashed_secret"], i["type"]) for f, items in results.items() for i in items}
sys.exit(0 if pairs(sys.argv[1]) == pairs(sys.argv[2]) else 1)
PY
  then
    echo "note: reviewed findings moved lines only; scripts/secret-scan.sh --update-baseline refreshes them"
    return 0
  fi
  return 1
}

# A scanner that finds nothing proves nothing: a planted AWS key id and private key must be caught.
# The strings are assembled at run time so this script itself never contains them.
self_test() {
  local dir prefix=AKIA begin="-----BEGIN" tail="PRIVATE KEY-----"
  dir="$(mktemp -d)"
  on_exit "rm -rf '$dir'"
  printf 'aws_access_key_id = %s%s\n' "$prefix" "Z7QW3MPL4XK9TRVB" >"$dir/leak.ini"
  printf '%s RSA %s\nMIIEpAIBAAKCAQEA\n' "$begin" "$tail" >"$dir/leak.pem"
  git -C "$dir" init -q # the hook compares against Git
  if (cd "$dir" && detect-secrets-hook --baseline "$OLDPWD/$BASELINE" leak.ini leak.pem >"$dir/out.txt" 2>&1); then
    cat "$dir/out.txt" >&2
    die "self-test: planted secrets were NOT detected"
  fi
  # Failing is not enough: it must fail because it found both, not for some other reason.
  if ! grep -q 'AWS Access Key' "$dir/out.txt" || ! grep -q 'Private Key' "$dir/out.txt"; then
    cat "$dir/out.txt" >&2
    die "self-test: the scanner failed, but did not report the planted secrets"
  fi
  echo "self-test: planted AWS key id and private key both reported"
}

# --update-baseline: after reviewing every finding the scan reported as a false positive, record them
# (the baseline keeps hashes, never the values; the diff of the baseline shows file and line).
update() {
  local files=()
  mapfile -t files < <(files_to_scan)
  detect-secrets scan --baseline "$BASELINE" "${files[@]}"
  python3 - "$BASELINE" <<'PY'
import json, sys
for f, items in sorted(json.load(open(sys.argv[1]))["results"].items()):
  for item in items:
      print(f"baseline: {f}:{item['line_number']}: {item['type']}")
PY
}
if [ "${1:-}" = "--update-baseline" ]; then
  step "update $BASELINE" update
  finish
  exit 0
fi
step "detect-secrets scan" scan
step "self-test: planted secrets are caught" self_test
finish
