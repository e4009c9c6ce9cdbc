# syntax=docker/dockerfile:1.7
# One image per binary:   docker build --build-arg BIN=identity -t switchyard/identity .
# BIN is any [[bin]] of the workspace: identity, tasks, mail, mailer, ses-suppressor, event-archive, yard.
# The binary lands at /usr/local/bin/$BIN (the ECS health check calls `/usr/local/bin/<bin> healthcheck`);
# /usr/local/bin/switchyard-entrypoint links to it because an exec-form ENTRYPOINT cannot expand $BIN.
ARG RUST_VERSION=1.90

FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG BIN
RUN test -n "$BIN" || { echo "build with --build-arg BIN=<binary>" >&2; exit 1; }
WORKDIR /src
# make: jemalloc (crates/switchyard-alloc, every binary's allocator) is built from its C sources.
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
# No database at build time: sqlx checks queries from committed metadata only (if any).
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin "$BIN" \
 && install -D -m 0755 "target/release/$BIN" "/out/usr/local/bin/$BIN" \
 && ln -s "$BIN" /out/usr/local/bin/switchyard-entrypoint

# Runtime: glibc + libgcc + CA certificates, no shell, no package manager, no build tools; uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /
# The RDS certificate authorities: in AWS, DATABASE_URL verifies the database server against them
# (sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem, terraform/modules/data). The system roots
# above (ca-certificates) verify everything else: ElastiCache (rediss://), the AWS APIs.
ADD --chmod=0444 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
USER 65532:65532
# Fits readonlyRootFilesystem: the binaries write nothing but stdout (ECS mounts a tmpfs-like volume on /tmp;
# docker-compose keeps identity's generated signing key in a volume on /home/nonroot, owned by this user).
ENV RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/switchyard-entrypoint", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/switchyard-entrypoint"]
