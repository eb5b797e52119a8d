# shellcheck shell=bash
# Source this, then `fill_users BASE N`: tops the users list of the server at BASE up to N users through
# the API (for scripts/bench.sh and scripts/profile.sh) and fails when it then holds another number, e.g.
# a peer database reused from an earlier run, whose list would not be comparable.

count_users() { curl -fsS --max-time 60 "$1/api/users/" | { grep -o '"id":' || true; } | wc -l; }

fill_users() { # fill_users BASE N
  local have i
  have=$(count_users "$1")
  for ((i = have; i < $2; i++)); do
    curl -fsS -o /dev/null --max-time 60 -H 'Content-Type: application/json' \
      -d "{\"dni\":\"user$(printf '%06d' "$i")\",\"name\":\"Test User $i\"}" "$1/api/users/"
  done
  have=$(count_users "$1")
  [ "$have" -eq "$2" ] || { echo "$1 has $have users, want $2 (a fresh database?)" >&2; return 1; }
}
