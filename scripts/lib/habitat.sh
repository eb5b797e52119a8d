# shellcheck shell=bash
# The habitat parameters of the container checks, decided in one place: scripts/provision.sh (which
# prepares the habitat) and scripts/e2e.sh (which runs the suites in it) both source this file, so the
# tests use exactly the engine, storage and base images that provisioning prepared.
#
#   CONTAINER_ENGINE  docker | podman. Default: docker when a Docker engine answers (CircleCI and GitHub
#                     machine runners), else podman (daemonless, as root).
#   BASE_IMAGES       pull    the digests in tools/base-images.lock (default: every runner with a registry)
#                     standin built locally from Debian packages with mmdebstrap, for machines that reach
#                     no container registry (.ci/run sets it where it runs beside ../shared)
#   DEBIAN_ARCHIVE    Debian mirror for the stand-ins (default: this machine's own bookworm apt sources)

SHIPSHAPE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/shipshape"
if [ -z "${CONTAINER_ENGINE:-}" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    CONTAINER_ENGINE=docker
  else
    CONTAINER_ENGINE=podman
  fi
fi
BASE_IMAGES="${BASE_IMAGES:-pull}"
case "$CONTAINER_ENGINE" in docker | podman) ;; *)
  echo "habitat: CONTAINER_ENGINE must be docker or podman, not '$CONTAINER_ENGINE'" >&2
  exit 2
  ;;
esac
case "$BASE_IMAGES" in pull | standin) ;; *)
  echo "habitat: BASE_IMAGES must be pull or standin, not '$BASE_IMAGES'" >&2
  exit 2
  ;;
esac
export CONTAINER_ENGINE BASE_IMAGES SHIPSHAPE_CACHE

# podman reads only the configuration provisioning writes (runtime, storage under the cache, registry
# policy), never a machine-wide one that may differ between machines.
if [ "$CONTAINER_ENGINE" = podman ]; then
  PODMAN_CONF_DIR="$SHIPSHAPE_CACHE/podman"
  export CONTAINERS_CONF="$PODMAN_CONF_DIR/containers.conf"
  export CONTAINERS_STORAGE_CONF="$PODMAN_CONF_DIR/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="$PODMAN_CONF_DIR/registries.conf"
fi
