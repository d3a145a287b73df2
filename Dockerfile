# syntax=docker/dockerfile:1
# The extension host as a container: `docker build -t extension-host .`
#
# Runs as a non-root user on a read-only root file system; the only writable path is the
# compile cache (/var/cache/extension-host, a volume). Plugins are mounted at /plugins (read
# only is fine): the host loads what it finds and hot-reloads changes (set POLL_INTERVAL_MS on
# network file systems, which send no change notifications). See README, "Deploying".

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The host only: plugins are built separately (`extension-host build`) and mounted.
RUN cargo build --release --locked -p extension-host \
    && install -D -m 0555 target/release/extension-host /out/extension-host \
    && install -d -m 0700 /out/cache /out/state

# glibc and libgcc only, no shell, no package manager; uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/extension-host /usr/local/bin/extension-host
# The cache volume starts from this directory, owned by the user that writes it.
COPY --from=build --chown=65532:65532 /out/cache /var/cache/extension-host
# The integration step's job store: mount a persistent volume here to keep jobs across restarts.
COPY --from=build --chown=65532:65532 /out/state /var/lib/extension-host
USER 65532:65532
ENV PLUGINS_DIR=/plugins \
    CACHE_DIR=/var/cache/extension-host \
    STATE_DIR=/var/lib/extension-host \
    PORT=8080 \
    BIND=0.0.0.0
VOLUME ["/var/cache/extension-host", "/var/lib/extension-host"]
EXPOSE 8080
# No curl in the image: the binary probes itself. Start period covers compiling at start.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/extension-host", "probe", "--path", "/livez"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/extension-host", "serve"]
