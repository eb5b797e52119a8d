#!/usr/bin/env bash
# provision CHECK: install what CHECK needs and prepare its inputs, once, before the check runs. The
# checks themselves install nothing: they stop with one line naming what the habitat lacks. Idempotent;
# slow results are cached under ~/.cache/shipshape. Habitat parameters: scripts/lib/habitat.sh.
#
#   rust         the toolchain rust-toolchain.toml names (rustup installs it where it can download;
#                a machine whose only toolchain is that version under another name gets a link)
#   image-test   container engine and probe tools, the Python tools venv, the base images (pulled by
#                digest from tools/base-images.lock, or stand-ins built from Debian packages)
#   arm64-build  the toolchain's aarch64-unknown-linux-gnu standard library (rustup) and Debian's
#                aarch64 cross linker and libc, the same packages the Dockerfile's builder installs
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/step.sh
source scripts/lib/step.sh
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
# shellcheck source=scripts/lib/habitat.sh
source scripts/lib/habitat.sh
# shellcheck source=scripts/lib/debian-archive.sh
source scripts/lib/debian-archive.sh

CHECK="${1:-}"
CACHE="$SHIPSHAPE_CACHE/image-test"
STANDIN_LABEL="org.shipshape.standin-key"
WORK="$(mktemp -d /tmp/shipshape-provision.XXXXXX)"
on_exit "rm -rf '$WORK'"
BUILDAH_CTR=""
drop_buildah_ctr() { [ -z "$BUILDAH_CTR" ] || buildah rm "$BUILDAH_CTR" >/dev/null 2>&1; }
on_exit drop_buildah_ctr

die() {
  echo "provision: $*" >&2
  exit 1
}
# lacks WHAT: this habitat cannot run the check (exit 4, one line; scripts/e2e.sh uses the same code).
lacks() {
  echo "provision: habitat lacks $*" >&2
  exit 4
}

engine() { "$CONTAINER_ENGINE" "$@"; }

# --- packages and tools ---------------------------------------------------------------------------
image_test_packages() {
  [ "$(id -u)" -eq 0 ] || lacks "root (CI: sudo -E env \"PATH=\$PATH\" make image-test)"
  # nsenter (util-linux) and curl probe inside a container's network namespace; psql reads rows back;
  # file names the binary's type in the report.
  local pkgs=(curl util-linux iproute2 ca-certificates postgresql-client file python3 python3-venv)
  [ "$CONTAINER_ENGINE" = podman ] && pkgs+=(podman buildah runc)
  [ "$BASE_IMAGES" = standin ] && pkgs+=(mmdebstrap debian-archive-keyring dpkg)
  need_apt "${pkgs[@]}"
  if [ "$CONTAINER_ENGINE" = docker ]; then
    docker info >/dev/null 2>&1 || lacks "a Docker engine (docker info failed)"
    docker version --format 'docker engine {{.Server.Version}}, BuildKit builds'
  fi
}

python_venv() {
  # shellcheck source=scripts/lib/venv.sh
  source scripts/lib/venv.sh
  python -c 'import pytest; print("pytest", pytest.__version__)'
}

podman_config() {
  mkdir -p "$PODMAN_CONF_DIR" /run/shipshape-podman
  cat >"$CONTAINERS_CONF" <<EOF
[containers]
# Without explicit limits runc fails in some sandboxes with "error setting rlimit".
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
# No systemd needed: plain cgroups, events in a file.
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "/run/shipshape-podman/events.log"
tmp_dir = "/run/shipshape-podman/libpod"
EOF
  # Storage under the cache keeps base images and build layers between runs (the warm path).
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "/run/shipshape-podman/runroot"
EOF
  if [ "$BASE_IMAGES" = standin ]; then
    # No registry exists here: a pull that slipped in fails at once instead of hanging.
    cat >"$CONTAINERS_REGISTRIES_CONF" <<'EOF'
unqualified-search-registries = []
[[registry]]
location = "docker.io"
blocked = true
[[registry]]
location = "gcr.io"
blocked = true
EOF
  else
    printf 'unqualified-search-registries = []\n' >"$CONTAINERS_REGISTRIES_CONF"
  fi
  podman info --format '{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' |
    grep -qx 'overlay runc cgroupfs' || die "podman does not use overlay/runc/cgroupfs"
  echo "$(podman --version): overlay storage in $CACHE/storage, runc, cgroupfs"
}

# --- base images: the pinned digests ------------------------------------------------------------------
pinned_images() { grep -vE '^\s*(#|$)' tools/base-images.lock; }

pull_bases() {
  local ref name
  while read -r ref; do
    name="${ref%@*}"
    engine pull --quiet "$ref" >/dev/null || lacks "a registry to pull $ref from (BASE_IMAGES=standin builds stand-ins)"
    engine tag "$ref" "$name"
    echo "$name <- ${ref#*@}"
  done < <(pinned_images)
}

# --- base images: stand-ins built from Debian packages --------------------------------------------------
standin_current() { # TAG KEY: is the image in storage built from this recipe?
  [ "$(engine image inspect --format "{{index .Config.Labels \"$STANDIN_LABEL\"}}" "$1" 2>/dev/null)" = "$2" ]
}

# distroless/static: no libc, no shell; CA bundle, tzdata, netbase, base-files, /etc/passwd with
# nonroot 65532, package records in distroless' status.d layout so SBOM tools see them.
RUNTIME_PKGS="base-files netbase tzdata ca-certificates"
runtime_root() {
  local dl="$1" r="$2" p deb
  mkdir -p "$r/var/lib/dpkg/status.d"
  for p in $RUNTIME_PKGS; do
    deb="$(find "$dl/var/cache/apt/archives" -name "${p}_*.deb" | head -n1)"
    [ -n "$deb" ] || die "stand-in: $p.deb was not downloaded"
    dpkg-deb -x "$deb" "$r"
    { dpkg-deb -f "$deb"; echo "Status: install ok installed"; } >"$r/var/lib/dpkg/status.d/$p"
  done
  mkdir -p "$r/etc/ssl/certs"
  cat "$r"/usr/share/ca-certificates/mozilla/*.crt >"$r/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  install -d -m 0700 -o 65532 -g 65532 "$r/home/nonroot"
  install -d -m 0700 "$r/root"
  install -d -m 1777 "$r/tmp"
  find "$r/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "${r:?}/usr/share/man" "${r:?}/usr/share/lintian" "${r:?}/usr/sbin" "${r:?}/usr/bin" "${r:?}/bin" \
    "${r:?}/sbin" "$r/etc/update-motd.d" "$r/etc/profile" "$r/etc/profile.d" "$r/etc/skel" "$r/etc/bash.bashrc"
}

build_runtime_standin() { # TAG KEY
  local tarball="$CACHE/runtime-rootfs-$2.tar" mirror
  if [ ! -s "$tarball" ]; then
    mapfile -t mirror < <(debian_archive bookworm)
    [ ${#mirror[@]} -gt 0 ] || lacks "a Debian archive for the stand-ins (set DEBIAN_ARCHIVE)"
    # extract: download and unpack without maintainer scripts; only the wanted packages' files are kept.
    mmdebstrap --quiet --variant=extract --include="${RUNTIME_PKGS// /,}" --format=directory \
      --skip=cleanup/apt/cache bookworm "$WORK/dl" "${mirror[@]}"
    runtime_root "$WORK/dl" "$WORK/runtime-root"
    tar --numeric-owner -C "$WORK/runtime-root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    find "$CACHE" -maxdepth 1 -name 'runtime-rootfs-*.tar' ! -name "${tarball##*/}" -delete
  fi
  engine import --quiet \
    --change "USER 65532:65532" --change "WORKDIR /home/nonroot" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
    --change "LABEL $STANDIN_LABEL=$2" "$tarball" "$1" >/dev/null
}

# rust:<version>-bookworm: a Debian root with gcc, libc6-dev (libc.a for the static build) and this
# machine's Rust toolchain, laid out as the official image does (RUSTUP_HOME=/usr/local/rustup,
# CARGO_HOME=/usr/local/cargo, rustup proxies on PATH).
BUILDER_PKGS="gcc,libc6-dev,make,pkg-config,ca-certificates,passwd"
build_builder_standin() { # TAG KEY TOOLCHAIN SYSROOT
  local tarball="$CACHE/builder-rootfs-$2.tar" tc="$3-x86_64-unknown-linux-gnu" mnt mirror p
  if [ ! -s "$tarball" ]; then
    mapfile -t mirror < <(debian_archive bookworm)
    [ ${#mirror[@]} -gt 0 ] || lacks "a Debian archive for the stand-ins (set DEBIAN_ARCHIVE)"
    mmdebstrap --quiet --variant=minbase --include="$BUILDER_PKGS" --format=tar bookworm "$tarball.tmp" "${mirror[@]}"
    mv "$tarball.tmp" "$tarball"
    find "$CACHE" -maxdepth 1 -name 'builder-rootfs-*.tar' ! -name "${tarball##*/}" -delete
  fi
  BUILDAH_CTR="$(buildah from --pull=never scratch)"
  buildah add --quiet "$BUILDAH_CTR" "$tarball" / >/dev/null
  mnt="$(buildah mount "$BUILDAH_CTR")"
  mkdir -p "$mnt/usr/local/rustup/toolchains/$tc" "$mnt/usr/local/cargo/bin"
  # The toolchain without its HTML docs (800 MB nobody reads inside a build).
  tar -C "$4" --exclude=./share/doc -cf - . | tar -C "$mnt/usr/local/rustup/toolchains/$tc" -xf -
  install -m 0755 "$(command -v rustup)" "$mnt/usr/local/cargo/bin/rustup"
  for p in cargo rustc rustdoc; do ln -f "$mnt/usr/local/cargo/bin/rustup" "$mnt/usr/local/cargo/bin/$p"; done
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' "$tc" \
    >"$mnt/usr/local/rustup/settings.toml"
  mkdir -p "$mnt/usr/local/rustup/update-hashes"
  : >"$mnt/usr/local/rustup/update-hashes/$tc"
  # As the official image does (chmod -R a+w): any build user may run rustup and cargo.
  chmod -R a+w "$mnt/usr/local/rustup" "$mnt/usr/local/cargo"
  buildah umount "$BUILDAH_CTR" >/dev/null
  buildah config \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "RUST_VERSION=$3" --label "$STANDIN_LABEL=$2" --workingdir / "$BUILDAH_CTR"
  buildah commit --quiet --format docker --rm "$BUILDAH_CTR" "$1" >/dev/null
  BUILDAH_CTR=""
}

standin_bases() {
  [ "$CONTAINER_ENGINE" = podman ] || die "stand-in base images are built for podman (BASE_IMAGES=pull with Docker)"
  local channel sysroot name key
  channel="$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)"
  sysroot="$(rustc "+$channel" --print sysroot 2>/dev/null)" ||
    lacks "the Rust $channel toolchain (rust-toolchain.toml) the stand-in builder copies"
  mkdir -p "$CACHE"
  while read -r name; do
    name="${name%@*}"
    case "$name" in
      */rust:*)
        # The recipe's text is the cache key: editing it rebuilds the stand-in.
        key="$({ declare -f build_builder_standin; echo "$BUILDER_PKGS"; rustc "+$channel" -vV; } | sha256sum | cut -c1-16)"
        [ "${name##*:}" = "$channel-bookworm" ] || die "$name does not match rust-toolchain.toml ($channel)"
        if standin_current "$name" "$key"; then echo "$name: stand-in cached ($key)"; else
          build_builder_standin "$name" "$key" "$channel" "$sysroot"
          echo "$name: stand-in built ($key, rustc $channel from this machine)"
        fi
        ;;
      */distroless/static-*)
        key="$({ declare -f runtime_root build_runtime_standin; echo "$RUNTIME_PKGS"; } | sha256sum | cut -c1-16)"
        if standin_current "$name" "$key"; then echo "$name: stand-in cached ($key)"; else
          build_runtime_standin "$name" "$key"
          echo "$name: stand-in built ($key)"
        fi
        ;;
      *) die "no stand-in recipe for $name (tools/base-images.lock)" ;;
    esac
  done < <(pinned_images)
}

provision_image_test() {
  step "packages ($CONTAINER_ENGINE, base images: $BASE_IMAGES)" image_test_packages
  step "python tools (venv)" python_venv
  if [ "$CONTAINER_ENGINE" = podman ]; then step "podman configuration" podman_config; fi
  if [ "$BASE_IMAGES" = pull ]; then
    step "base images: pull the pinned digests" pull_bases
  else
    step "base images: stand-ins from Debian packages" standin_bases
  fi
}

rust_toolchain() {
  local want have sysroot
  want="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"
  command -v rustup >/dev/null || lacks "rustup (the Rust toolchain manager)"
  if rustup run "$want" rustc --version 2>/dev/null; then return 0; fi
  if rustup toolchain install "$want" --profile minimal -c rustfmt -c clippy 2>/dev/null; then return 0; fi
  # No download possible: accept an installed toolchain of exactly that version.
  have="$(rustup run stable rustc --version 2>/dev/null | awk '{print $2}')"
  [ "$have" = "$want" ] || lacks "Rust $want (rustup cannot download it; the installed stable is ${have:-none})"
  sysroot="$(rustup run stable rustc --print sysroot)"
  rustup toolchain link "$want" "$sysroot"
  rustup run "$want" rustc --version
}

arm64_cross() {
  [ "$(id -u)" -eq 0 ] || lacks "root for apt (CI: the rust executor runs as root)"
  need_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross file python3
  rustup target add aarch64-unknown-linux-gnu || lacks "the aarch64-unknown-linux-gnu standard library (rustup target add failed)"
}

case "$CHECK" in
  rust) step "rust toolchain (rust-toolchain.toml)" rust_toolchain ;;
  image-test) provision_image_test ;;
  arm64-build)
    step "rust toolchain (rust-toolchain.toml)" rust_toolchain
    step "aarch64 target and cross linker" arm64_cross
    ;;
  *) die "usage: scripts/provision.sh rust|image-test|arm64-build" ;;
esac
step_summary
