#!/usr/bin/env bash
# The image's build arguments, one KEY=VALUE per line, derived from the commit alone (the same commit
# gives the same values, hence the same image): scripts/image.sh and tests/e2e/image both read them.
#   SOURCE_DATE_EPOCH   the commit time: the image's creation time, its files' times (BuildKit
#                       rewrite-timestamp, podman --timestamp) and the OCI `created` label
#   SHIPSHAPE_VERSION   the release version (scripts/lib/version.sh): X.Y.Z on its tag, else X.Y.Z-g<sha12>
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/version.sh
source scripts/lib/version.sh
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
version="$(release_version)"
echo "SHIPSHAPE_REVISION=$(git rev-parse --verify -q HEAD || echo uncommitted)"
echo "SHIPSHAPE_VERSION=$version"
echo "SOURCE_DATE_EPOCH=$epoch"
echo "SHIPSHAPE_CREATED=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
echo "SHIPSHAPE_SOURCE=${SHIPSHAPE_SOURCE:-${CIRCLE_REPOSITORY_URL:-${GITHUB_SERVER_URL:+$GITHUB_SERVER_URL/${GITHUB_REPOSITORY:-}}}}"
