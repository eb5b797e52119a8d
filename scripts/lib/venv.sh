# shellcheck shell=bash
# Source this to get the project's Python tool venv on PATH.
# One venv for every check script, built from tools/python/*.txt (each file pins the tools of one
# check) and cached under ~/.cache keyed by the files' hash, so a warm run installs nothing.
shipshape_venv() {
  local root req_hash venv
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  req_hash="$(cat "$root"/tools/python/*.txt | sha256sum | cut -c1-16)"
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/shipshape/venv-$req_hash"
  # A venv cannot be moved (its scripts hold absolute paths), so a marker says it is complete.
  # Concurrent check scripts share the venv: the first builds it under a lock, the others wait.
  mkdir -p "$(dirname "$venv")"
  (
    flock 9
    if [ ! -e "$venv/.complete" ]; then
      echo "venv: building $venv from tools/python/*.txt" >&2
      rm -rf "$venv"
      python3 -m venv "$venv"
      local args=()
      for f in "$root"/tools/python/*.txt; do args+=(-r "$f"); done
      "$venv/bin/pip" install --quiet "${args[@]}"
      touch "$venv/.complete"
    fi
    # Each change of the pins builds a new ~1 GB venv; drop the ones no run has used for a day
    # (a run touches its own), so the cache does not fill the disk; one being built holds its lock.
    touch "$venv/.complete"
    local stale
    for stale in "$(dirname "$venv")"/venv-*/.complete; do
      [ -e "$stale" ] && [ -n "$(find "$stale" -mmin +1440)" ] || continue
      stale="$(dirname "$stale")"
      flock -n "$stale.lock" rm -rf "$stale" "$stale.lock" || true
    done
  ) 9>"$venv.lock"
  export PATH="$venv/bin:$PATH"
  export VIRTUAL_ENV="$venv"
}
shipshape_venv
