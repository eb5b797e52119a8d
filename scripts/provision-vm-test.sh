#!/usr/bin/env bash
# Provisioning for the VM tests (tests/e2e/vm), in one place: the packages they assume and the cached
# Debian 12 rootfs. The tests install nothing; a missing tool stops them with one line naming it.
# Works on Debian and Ubuntu runners (debian-archive-keyring is packaged on both). Environment:
# VM_TEST_DEBIAN_MIRROR (Debian archive for the rootfs), VM_TEST_CACHE_DIR (default ~/.cache/shipshape).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
need_apt systemd-container mmdebstrap debian-archive-keyring iproute2 util-linux binutils curl openssl tar python3 python3-venv
# shellcheck source=scripts/lib/venv.sh
source scripts/lib/venv.sh
python3 tests/e2e/vm/rootfs.py
