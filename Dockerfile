# syntax=docker/dockerfile:1
#
# dbs-exporter image: a release build on Debian bookworm, run on distroless cc-debian12 (glibc,
# libgcc, CA certificates, tzdata, a nonroot user; no shell, no package manager).
#
#   docker build -t dbs-exporter:0.1.0 --build-arg REVISION="$(git rev-parse --short=12 HEAD)" \
#     --build-arg BRANCH="$(git rev-parse --abbrev-ref HEAD)" .
#   docker run --rm -p 19680:19680 dbs-exporter:0.1.0 demo
#
# The root filesystem can be mounted read-only: the exporter writes nothing to disk.

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# The build stage writes only under its WORKDIR (the final stage copies the binary out of
# /src/target): CI replays this stage without a container engine (.ci/replay-dockerfile.py),
# mapping its / to a scratch folder, and fails when a COPY, a stub or a RUN would break here.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src

# Dependency layer: build every dependency against stub sources, so that this layer is rebuilt
# only when Cargo.toml or Cargo.lock change, not on every source edit.
# The workspace: the exporter at the root and the simulator crate its demo runs (crates/dbs-sim),
# each stubbed here.
COPY Cargo.toml Cargo.lock ./
COPY crates/dbs-sim/Cargo.toml ./crates/dbs-sim/
# cargo parses every target the manifest declares, the [[bench]]es included, before building.
COPY benches ./benches
RUN mkdir -p src crates/dbs-sim/src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs crates/dbs-sim/src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src crates/dbs-sim/src

# The real build. `touch` makes cargo see the sources as newer than the stub build whatever
# modification times COPY gave them.
COPY build.rs ./
COPY src ./src
COPY crates ./crates
# build.rs reads these (the build context has no .git); --version and build_info show them.
ARG REVISION=unknown
ARG BRANCH=unknown
ENV DBS_EXPORTER_REVISION=${REVISION} DBS_EXPORTER_BRANCH=${BRANCH}
RUN touch src/main.rs src/lib.rs crates/dbs-sim/src/lib.rs \
 && cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dbs-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Alibaba Cloud DBS advanced download tasks (DescribeDownloadTask)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=build /src/target/release/dbs-exporter /usr/local/bin/dbs-exporter

# 65532 is distroless' nonroot user; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 19680

# No shell in the image: the binary probes itself. It checks the default address (:19680);
# if you change --web.listen-address, override the health check to match.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/dbs-exporter", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/dbs-exporter"]
CMD ["--config.file=/etc/dbs-exporter/config.yaml"]
