# shipshape container image: a release build on the official Rust image, shipped on distroless/cc.
# Build:  docker buildx build -t shipshape:dev .   (multi-arch and label arguments: docs/container.md)
# Proven daemonless on every change by scripts/image-test.sh (podman, no registry access).

# Base images are fully qualified so Docker, BuildKit and podman resolve the same names. Pin a digest
# without editing this file: --build-context docker.io/library/rust:1.95-bookworm=docker-image://…@sha256:…
FROM docker.io/library/rust:1.95-bookworm AS builder

WORKDIR /src

# Dependencies first, in a layer of their own that only Cargo.toml/Cargo.lock invalidate: a build of
# the manifest with a placeholder main. Exported build caches (buildx --cache-to) keep this layer,
# so a source-only change compiles just this crate. The registry download cache is a cache mount.
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,id=shipshape-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/shipshape* target/release/deps/shipshape-* \
        target/release/.fingerprint/shipshape-*

# Only what the build needs reaches the context (.dockerignore is an allowlist).
COPY . .

# Baked into the binary (option_env!) and shown by GET /version; not a secret.
ARG SHIPSHAPE_REVISION=""
# The placeholder's fingerprint is gone, so cargo rebuilds the crate whatever the files' mtimes.
# /out/data becomes the image's /data, owned by the runtime user.
RUN --mount=type=cache,id=shipshape-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    if [ -z "${SHIPSHAPE_REVISION}" ]; then unset SHIPSHAPE_REVISION; fi \
    && cargo build --release --locked --bin shipshape \
    && mkdir -p /out/data \
    && cp target/release/shipshape /out/shipshape

# distroless/cc: glibc and libgcc_s (which a Rust std binary links), CA bundle, /etc/passwd with
# nonroot 65532; no shell, no package manager. See docs/container.md for why not scratch.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

ARG SHIPSHAPE_SOURCE=""
ARG SHIPSHAPE_REVISION=""
ARG SHIPSHAPE_VERSION="0.1.0"
ARG SHIPSHAPE_CREATED=""
LABEL org.opencontainers.image.title="shipshape" \
      org.opencontainers.image.description="Hello and users REST API service" \
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
