#!/usr/bin/env bash
# Formatting and clippy (also our SAST for Rust): any warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
