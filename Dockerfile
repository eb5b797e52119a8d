# shipshape container image: a static release binary (glibc, +crt-static), built with cargo-auditable so
# scanners see its crates, on distroless/static. amd64 and arm64 from one file: the builder always runs
# on the build machine's architecture and cross-compiles for the target's.
# Build:  docker buildx build -t shipshape:dev .   (multi-arch, pins and build arguments: docs/container.md)
# Proven on every change by `make image-test` (tests/e2e/image; podman or Docker).

# Base images are fully qualified so Docker, BuildKit and podman resolve the same names. The pipeline
# pins each to its digest (tools/base-images.lock, through --build-context) without editing this file;
# the tag is what Renovate bumps.
FROM --platform=$BUILDPLATFORM docker.io/library/rust:1.95.0-bookworm AS builder

# The image's architecture (BuildKit and podman set it; plain `docker build` leaves it empty: native).
ARG TARGETARCH
# Cross toolchains are installed only when the target differs from the build machine. Their versions
# come with the pinned builder image's Debian release.
# hadolint ignore=DL3008
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && case "$arch" in \
         amd64) triple=x86_64-unknown-linux-gnu gnu=x86-64-linux-gnu deb=amd64 ;; \
         arm64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu deb=arm64 ;; \
         *) echo "unsupported TARGETARCH: $arch" >&2; exit 1 ;; \
       esac \
    && echo "$triple" > /etc/rust-target \
    && if [ "$arch" != "$(dpkg --print-architecture)" ]; then \
         rustup target add "$triple" \
         && apt-get update \
         && apt-get install -y --no-install-recommends "gcc-$gnu" "libc6-dev-$deb-cross" \
         && rm -rf /var/lib/apt/lists/* ; \
       fi \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin builder \
    && install -d -o builder -g builder /src /out /out/data /home/builder/.cargo

# Everything below compiles as the unprivileged `builder` user (numeric, as the runtime user), with a
# Cargo home of its own.
USER 10001:10001
ENV CARGO_HOME=/home/builder/.cargo
ENV PATH=/home/builder/.cargo/bin:$PATH
WORKDIR /src

# cargo-auditable embeds the dependency tree in the binary (a `.dep-v0` section) for Trivy, syft and
# cargo audit; a layer of its own, built once.
RUN --mount=type=cache,id=shipshape-cargo-registry,target=/home/builder/.cargo/registry,uid=10001,gid=10001,sharing=locked \
    cargo install --locked --quiet cargo-auditable@0.7.7

# Static glibc for the target only (build scripts and proc macros stay dynamic host code). glibc's
# malloc is kept (measured: docs/container.md, "Allocator"). Cross linkers for the two targets.
ENV CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc

# Dependencies first, in a layer of their own that only Cargo.toml/Cargo.lock invalidate: a build of
# the manifest with a placeholder main. Exported build caches (buildx --cache-to) keep this layer,
# so a source-only change compiles just this crate. The registry download cache is a cache mount.
COPY --chown=builder:builder Cargo.toml Cargo.lock ./
RUN --mount=type=cache,id=shipshape-cargo-registry,target=/home/builder/.cargo/registry,uid=10001,gid=10001,sharing=locked \
    triple="$(cat /etc/rust-target)" \
    && mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && cargo auditable build --release --locked --target "$triple" \
    && rm -rf src "target/$triple/release/shipshape"* "target/$triple/release/deps/shipshape-"* \
        "target/$triple/release/.fingerprint/shipshape-"*

# Only what the build needs reaches the context (.dockerignore is an allowlist).
COPY --chown=builder:builder . .

# Baked into the binary (option_env!) and shown by GET /version; not a secret.
ARG SHIPSHAPE_REVISION=""
# The placeholder's fingerprint is gone, so cargo rebuilds the crate whatever the files' mtimes.
RUN --mount=type=cache,id=shipshape-cargo-registry,target=/home/builder/.cargo/registry,uid=10001,gid=10001,sharing=locked \
    if [ -z "${SHIPSHAPE_REVISION}" ]; then unset SHIPSHAPE_REVISION; fi \
    && triple="$(cat /etc/rust-target)" \
    && cargo auditable build --release --locked --target "$triple" --bin shipshape \
    && cp "target/$triple/release/shipshape" /out/shipshape

# distroless/static: CA bundle, tzdata, /etc/passwd with nonroot 65532, /etc/nsswitch.conf; no libc, no
# shell, no package manager. The binary carries its own libc (glibc's resolver included: files + DNS).
FROM gcr.io/distroless/static-debian12:nonroot AS runtime

ARG SHIPSHAPE_SOURCE=""
ARG SHIPSHAPE_REVISION=""
ARG SHIPSHAPE_VERSION=""
# RFC 3339 of the commit time (SOURCE_DATE_EPOCH), so the same commit gives the same image.
ARG SHIPSHAPE_CREATED=""
LABEL org.opencontainers.image.title="shipshape" \
      org.opencontainers.image.description="Hello and users REST API service" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SHIPSHAPE_SOURCE}" \
      org.opencontainers.image.revision="${SHIPSHAPE_REVISION}" \
      org.opencontainers.image.version="${SHIPSHAPE_VERSION}" \
      org.opencontainers.image.created="${SHIPSHAPE_CREATED}"

# An empty directory owned by 65532: a fresh named volume mounted on /data copies this ownership,
# so SQLite can write there without root.
COPY --from=builder --chown=65532:65532 /out/data /data
COPY --from=builder /out/shipshape /usr/local/bin/shipshape

ENV DATABASE_URL=sqlite:///data/shipshape.db \
    BIND_ADDRESS=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json

USER 65532:65532
EXPOSE 8000
VOLUME ["/data"]

# Exec form: there is no shell. The subcommand GETs /healthz on $PORT and exits 0 on 2xx.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/shipshape", "healthcheck"]

# The service is PID 1 and handles SIGTERM itself (readiness off, drain, finish in-flight, exit 0).
ENTRYPOINT ["/usr/local/bin/shipshape"]
CMD ["serve"]
