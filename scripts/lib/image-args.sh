#!/usr/bin/env bash
# The image's build arguments, one KEY=VALUE per line, derived from the commit alone (the same commit
# gives the same values, hence the same image): scripts/image.sh and tests/e2e/image both read them.
#   SOURCE_DATE_EPOCH   the commit time: the image's creation time, its files' times (BuildKit
#                       rewrite-timestamp, podman --timestamp) and the OCI `created` label
#   SHIPSHAPE_VERSION   Cargo.toml's version (a release tag must equal it: docs/releasing.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
echo "SHIPSHAPE_REVISION=$(git rev-parse --verify -q HEAD || echo uncommitted)"
echo "SHIPSHAPE_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
echo "SOURCE_DATE_EPOCH=$epoch"
echo "SHIPSHAPE_CREATED=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
echo "SHIPSHAPE_SOURCE=${SHIPSHAPE_SOURCE:-${CIRCLE_REPOSITORY_URL:-${GITHUB_SERVER_URL:+$GITHUB_SERVER_URL/${GITHUB_REPOSITORY:-}}}}"
