#!/usr/bin/env bash
# policy: the Dockerfile's lint and policy scan: hadolint (best practice) and checkov (security policy).
# Zero findings allowed; a skip lives in the Dockerfile itself (`# hadolint ignore=` /
# `# checkov:skip=`) with its reason. The chart's and Terraform's checkov runs are chart-check/tf-check.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

DOCKERFILE="${DOCKERFILE:-Dockerfile}"
[ -f "$DOCKERFILE" ] || die "no $DOCKERFILE"

step "python tools (hadolint, checkov)" use_venv
step "hadolint $DOCKERFILE" hadolint --failure-threshold info "$DOCKERFILE"
step "checkov $DOCKERFILE" checkov --file "$DOCKERFILE" --framework dockerfile --compact --quiet --skip-download
finish
