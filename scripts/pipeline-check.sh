#!/usr/bin/env bash
# pipeline-check: the CI configs are valid and call only what exists, offline.
#   1. .circleci/config.yml against CircleCI's config schema (vendored in check-jsonschema)
#   2. .github/workflows/ci.yml against GitHub's workflow schema, then actionlint
#   3. cross-references (scripts/pipeline-check.py): every run step is `make X` / `scripts/X.sh` and
#      exists, everything pinned, deploy jobs main-only, tf-apply behind an approval
#   4. shellcheck of the pipeline's scripts
#   5. self-test: mutated copies of the configs must FAIL steps 1-3 (a checker that passes anything
#      proves nothing)
#   6. the delivery scripts' control flow without a cloud: publish-vm.sh and deploy-vm.sh against stand-in
#      aws/terraform, the pinned cosign install, eks-platform.sh's database logins against stand-ins,
#      tf-plan.sh -> tf-apply.sh with the real terraform on a scratch stack (scripts/delivery/test-*.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

CIRCLE=.circleci/config.yml
GHA=.github/workflows/ci.yml
SCRIPTS=(scripts/pipeline-check.sh scripts/test-postgres.sh scripts/coverage.sh scripts/deny.sh scripts/secret-scan.sh
  scripts/policy.sh scripts/image.sh scripts/release-binary.sh scripts/publish.sh scripts/deploy-eks.sh
  scripts/deploy-vm.sh scripts/publish-vm.sh scripts/eks-platform.sh scripts/smoke.sh scripts/load.sh scripts/tf-plan.sh scripts/tf-apply.sh
  scripts/delivery/lib.sh scripts/delivery/test-deploy-vm.sh scripts/delivery/test-tf-plan-apply.sh
  scripts/lib/cosign.sh scripts/delivery/test-cosign-install.sh scripts/delivery/test-eks-platform.sh)

WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"

step "python tools (check-jsonschema, actionlint, shellcheck)" use_venv

circle_schema() { check-jsonschema --builtin-schema vendor.circle-ci "$1"; }
gha_schema() { check-jsonschema --builtin-schema vendor.github-workflows "$1"; }
gha_lint() { actionlint -no-color "$1"; }
refs() { python3 scripts/pipeline-check.py --circleci "$1" --github "$2"; }

step "CircleCI config schema: $CIRCLE" circle_schema "$CIRCLE"
step "GitHub workflow schema: $GHA" gha_schema "$GHA"
step "actionlint: $GHA" gha_lint "$GHA"
step "references, pins, branch filters" refs "$CIRCLE" "$GHA"
step "shellcheck: pipeline scripts" shellcheck -x "${SCRIPTS[@]}"

# mutate SRC DST PYTHON-EXPR: DST = SRC with one edit; the edit must apply, or the self-test is void.
mutate() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
src, dst, old, new = sys.argv[1:]
text = open(src).read()
if old not in text:
    sys.exit(f"self-test mutation no longer applies: {old!r} not in {src}")
open(dst, "w").write(text.replace(old, new, 1))
PY
}

# must_fail NAME CMD...: CMD has to exit non-zero on the mutant.
must_fail() {
  local name="$1"
  shift
  if "$@" >"$WORK/out.txt" 2>&1; then
    echo "self-test: the checker ACCEPTED a broken config ($name):" >&2
    cat "$WORK/out.txt" >&2
    return 1
  fi
  echo "self-test: rejected as it must be ($name): $(grep -m1 -E 'error|not|problem|is ' "$WORK/out.txt" | cut -c1-160)"
}

self_test() {
  mutate "$CIRCLE" "$WORK/bad-version.yml" "version: 2.1" "version: 3"
  must_fail "CircleCI version 3" circle_schema "$WORK/bad-version.yml"

  mutate "$CIRCLE" "$WORK/bad-key.yml" $'  lint:\n    executor: rust\n    steps:' $'  lint:\n    executor: rust\n    stepz:'
  must_fail "misspelt job key" circle_schema "$WORK/bad-key.yml"

  mutate "$CIRCLE" "$WORK/bad-target.yml" "- run: make lint" "- run: make lint-that-does-not-exist"
  must_fail "unknown make target" refs "$WORK/bad-target.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-logic.yml" "- run: make lint" "- run: cargo clippy -- -D warnings"
  must_fail "logic inlined in YAML" refs "$WORK/bad-logic.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-filter.yml" $'          serial-group: << pipeline.project.slug >>/deploy-vm\n          filters:\n            branches:\n              only: main\n' $'          serial-group: << pipeline.project.slug >>/deploy-vm\n          filters:\n'
  must_fail "deploy job on every branch" refs "$WORK/bad-filter.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-serial.yml" "          serial-group: << pipeline.project.slug >>/infrastructure" ""
  must_fail "tf-apply without a serial-group" refs "$WORK/bad-serial.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-apply-tag.yml" $'/infrastructure\n          filters:\n            branches:\n              only: main' $'/infrastructure\n          filters:\n            branches:\n              only: main\n            tags:\n              only: /^v.*/'
  must_fail "tf-apply on release tags" refs "$WORK/bad-apply-tag.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-approval.yml" "          requires: [hold-apply]" "          requires: [tf-plan]"
  must_fail "tf-apply without approval" refs "$WORK/bad-approval.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-gcp-approval.yml" "          requires: [hold-gcp-apply]" "          requires: [gcp-tf-plan]"
  must_fail "gcp-tf-apply without approval" refs "$WORK/bad-gcp-approval.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-gcp-filter.yml" $'          requires: [hold-gcp-apply]\n          filters:\n            branches:\n              only: main' "          requires: [hold-gcp-apply]"
  must_fail "gcp-tf-apply on every branch" refs "$WORK/bad-gcp-filter.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-gcp-deploy.yml" $'      - gcp-deploy-vm:\n          context: shipshape-gcp-deploy\n          serial-group: << pipeline.project.slug >>/gcp-deploy-vm\n          requires: [gcp-publish-vm]\n          filters:\n            branches:\n              only: main\n            tags:\n              only: /^v.*/' $'      - gcp-deploy-vm:\n          context: shipshape-gcp-deploy\n          serial-group: << pipeline.project.slug >>/gcp-deploy-vm\n          requires: [gcp-publish-vm]\n          filters:\n            tags:\n              only: /^v.*/'
  must_fail "gcp-deploy-vm on every branch" refs "$WORK/bad-gcp-deploy.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-publish-vm.yml" $'          context: shipshape-gcp-publish\n          requires: [lint, test, coverage, deny, secret-scan, tf-check, vm-boot-test, release-binary]\n          filters:\n            branches:\n              only: main\n' $'          context: shipshape-gcp-publish\n          requires: [lint, test, coverage, deny, secret-scan, tf-check, vm-boot-test, release-binary]\n          filters:\n'
  must_fail "gcp-publish-vm on every branch" refs "$WORK/bad-publish-vm.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-vm-split.yml" $'      - deploy-vm:\n          context: shipshape-aws-deploy\n          requires: [publish-vm]' $'      - deploy-vm:\n          context: [shipshape-aws-deploy, shipshape-aws-publish]\n          requires: [publish-vm]'
  must_fail "one job with both the publish and the deploy context" refs "$WORK/bad-vm-split.yml" "$GHA"

  mutate "$CIRCLE" "$WORK/bad-orb.yml" "circleci/aws-cli@5.4.0" "circleci/aws-cli@volatile"
  must_fail "unpinned orb" refs "$WORK/bad-orb.yml" "$GHA"

  mutate "$GHA" "$WORK/bad-needs.yml" $'  deny:\n    runs-on: ubuntu-24.04' $'  deny:\n    needs: [no-such-job]\n    runs-on: ubuntu-24.04'
  must_fail "GitHub job needing a missing job" gha_lint "$WORK/bad-needs.yml"

  mutate "$GHA" "$WORK/bad-gha-schema.yml" "  contents: read" "  contents: sometimes"
  must_fail "GitHub permission level that does not exist" gha_schema "$WORK/bad-gha-schema.yml"

  mutate "$GHA" "$WORK/bad-gha-target.yml" "target: [secret-scan, policy, chart-check]" "target: [secret-scan, policy, no-such-check]"
  must_fail "GitHub matrix naming a missing target" refs "$CIRCLE" "$WORK/bad-gha-target.yml"
}
step "self-test: broken configs are rejected" self_test
step "publish-vm and deploy-vm against stand-in AWS" scripts/delivery/test-deploy-vm.sh
step "cosign install: pinned SHA-256 enforced" scripts/delivery/test-cosign-install.sh
step "eks-platform's database logins against stand-in AWS" scripts/delivery/test-eks-platform.sh
step "tf-plan -> tf-apply with real terraform, local state" scripts/delivery/test-tf-plan-apply.sh

finish
