#!/usr/bin/env bash
# The test suite: exactly the README's `cargo test`. With TEST_DATABASE_URL set (see
# scripts/pg-start.sh) every integration test also runs against PostgreSQL; under CI=true a
# missing TEST_DATABASE_URL fails those tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked "$@"
