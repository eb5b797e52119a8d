# shellcheck shell=bash
# Named, timed steps: the one helper every script and .ci/run sources (never copy it).
#
#   step NAME CMD...  run CMD (a command or a shell function) as step NAME, in this shell and under the
#                     caller's `set -e`, so a failing command inside a function stops it and exports
#                     persist. Prints "==> NAME" before and "<== NAME: 12.3 s" after.
#   step NAME         (no command) open step NAME; it lasts until the next `step` or `step_end`. For
#                     scripts written as one block per step.
#   step_end          close the open step.
#   on_exit CMD       run CMD (a string) when the script ends, however it ends, in registration order.
#                     Scripts use this instead of `trap ... EXIT`, which this file owns.
#   step_summary      print every finished step's duration and the total.
#
# A failing exit inside a step (set -e, `exit N`, a signal) prints the timings so far, then names the
# step in the last line. Call `step` as a plain command, never in `if`/`||`/`&&`: there bash switches `set -e` off inside.

STEP_SCRIPT="${STEP_SCRIPT:-$(basename "$0")}"
STEP_NAME=""
STEP_T0=""
STEP_OPEN=""
STEP_START="$EPOCHREALTIME"
STEP_TIMINGS=()
STEP_CLEANUP=()

# Seconds since START (an $EPOCHREALTIME value), one decimal, without forking.
_step_elapsed() {
  local a="${1/[.,]/}" b="${EPOCHREALTIME/[.,]/}" d
  d=$(((10#$b - 10#$a) / 100000))
  printf '%d.%d' $((d / 10)) $((d % 10))
}

_step_close() {
  local took
  took="$(_step_elapsed "$STEP_T0")"
  STEP_TIMINGS+=("$(printf '%8s s  %s' "$took" "$STEP_NAME")")
  echo "<== $STEP_NAME: $took s"
  STEP_NAME=""
  STEP_OPEN=""
}

step() {
  local name="$1"
  shift
  [ -z "$STEP_OPEN" ] || _step_close
  if [ $# -eq 0 ]; then
    STEP_NAME="$name"
    STEP_T0="$EPOCHREALTIME"
    STEP_OPEN=1
    echo "==> $name"
    return 0
  fi
  local outer_name="$STEP_NAME" outer_t0="$STEP_T0"
  STEP_NAME="$name"
  STEP_T0="$EPOCHREALTIME"
  echo "==> $name"
  "$@"
  _step_close
  # A step run inside another step's command hands the name back to the outer one.
  STEP_NAME="$outer_name"
  STEP_T0="$outer_t0"
}

step_end() {
  [ -z "$STEP_OPEN" ] || _step_close
}

on_exit() {
  STEP_CLEANUP+=("$1")
}

step_summary() {
  [ -z "$STEP_OPEN" ] || _step_close
  echo "==> $STEP_SCRIPT: step timings"
  [ ${#STEP_TIMINGS[@]} -eq 0 ] || printf '%s\n' "${STEP_TIMINGS[@]}"
  printf '%8s s  %s\n' "$(_step_elapsed "$STEP_START")" "total"
}

_step_exit() {
  local rc=$? c
  set +e
  # Inside a step: the timings so far, then the step's name as the last line. Outside any step the
  # script has already said why (die, a tool's own message): nothing is added after it.
  if [ "$rc" -ne 0 ] && [ -n "$STEP_NAME" ]; then
    [ ${#STEP_TIMINGS[@]} -eq 0 ] || { echo "steps finished before the failure:"; printf '%s\n' "${STEP_TIMINGS[@]}"; } >&2
    echo "$STEP_SCRIPT: FAILED in step: $STEP_NAME after $(_step_elapsed "$STEP_T0") s (exit $rc)" >&2
  fi
  for c in "${STEP_CLEANUP[@]}"; do
    eval "$c" || true
  done
  exit "$rc"
}
trap _step_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
