# shellcheck shell=bash
# The one version of a build, for every artefact of it (image label and tag, chart, VM release):
#   crate_version     Cargo.toml's version
#   release_version   on a release tag vX.Y.Z: X.Y.Z, and the tag must equal Cargo.toml's version;
#                     on any other commit: X.Y.Z-g<sha12> (SemVer pre-release, unique per commit)
# docs/releasing.md describes the process.

crate_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1
}

# The tag being built, if any (CircleCI, GitHub Actions).
release_tag() {
  if [ -n "${CIRCLE_TAG:-}" ]; then
    echo "$CIRCLE_TAG"
  elif [ "${GITHUB_REF_TYPE:-}" = tag ]; then
    echo "${GITHUB_REF_NAME:-}"
  fi
}

release_version() {
  local version tag sha
  version="$(crate_version)"
  tag="$(release_tag)"
  if [ -n "$tag" ]; then
    if [ "$tag" != "v$version" ]; then
      echo "release: tag $tag does not match Cargo.toml version $version (tag v$version)" >&2
      return 1
    fi
    echo "$version"
    return 0
  fi
  sha="${CIRCLE_SHA1:-${GITHUB_SHA:-$(git rev-parse HEAD)}}"
  echo "$version-g${sha:0:12}"
}
