#!/usr/bin/env bash
# e2e SUITE [pytest args]: run the end-to-end suite tests/e2e/SUITE in the habitat that
# `scripts/provision.sh <check>` prepared (same parameters: scripts/lib/habitat.sh). It installs nothing:
# a missing tool stops it with one line (exit 4). JUnit XML: out/junit/e2e-SUITE.xml.
#   scripts/e2e.sh image -k healthcheck      (make image-test E2E_ARGS="-k healthcheck")
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:?usage: scripts/e2e.sh SUITE [pytest args]}"
shift
[ -d "tests/e2e/$suite" ] || { echo "e2e: no suite tests/e2e/$suite" >&2; exit 2; }
# shellcheck source=scripts/lib/habitat.sh
source scripts/lib/habitat.sh
# The project's Python tools (pytest, syft, compose): cached, built by provisioning.
# shellcheck source=scripts/lib/venv.sh
source scripts/lib/venv.sh
echo "e2e: suite $suite, engine $CONTAINER_ENGINE, base images $BASE_IMAGES"
# E2E_ARGS (from make) are pytest arguments with shell quoting, e.g. -k "tf-check or policy": pytest
# splits PYTEST_ADDOPTS like a shell does.
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} ${E2E_ARGS:-}"
exec python -m pytest -c tests/e2e/pytest.ini "tests/e2e/$suite" "$@"
