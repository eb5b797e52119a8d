#!/usr/bin/env bash
# test-postgres: the whole test suite with its PostgreSQL half: starts the local PostgreSQL with TLS
# (scripts/pg-start.sh: our own CA, so sslmode=verify-full is tested as against RDS), exports the
# TEST_DATABASE_URL / TEST_DATABASE_CA it prints, then runs scripts/test.sh. CI uses this instead of a
# PostgreSQL service container, which could not present a certificate from a CA the tests know.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

step "PostgreSQL with TLS (scripts/pg-start.sh)" start_test_postgres
step "scripts/test.sh" scripts/test.sh
finish
