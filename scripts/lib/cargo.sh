# shellcheck shell=bash
# cargo_target_dir: where cargo puts its builds, as cargo itself resolves it (CARGO_TARGET_DIR, a
# config's build.target-dir, or ./target). CI runners often move it to a cached path, so scripts
# never assume ./target.
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
