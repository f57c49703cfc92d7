# Multi-stage build: compile the release binary, then copy it into a slim runtime image that
# runs as a non-root user with its SQLite data in a volume.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY benches benches
COPY migrations migrations
COPY policies policies
COPY src src
RUN cargo build --release --locked --bin rota

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/rota --create-home rota
COPY --from=build /src/target/release/rota /usr/local/bin/rota
# The authorization policies, as a folder an operator can replace (mount over it) and check
# with `rota policy check`.
COPY policies /etc/rota/policies
USER rota:rota
WORKDIR /var/lib/rota
VOLUME ["/var/lib/rota"]
ENV ROTA_DATABASE_URL=sqlite:///var/lib/rota/rota.db \
    ROTA_LISTEN=0.0.0.0:8080 \
    ROTA_LOG_FORMAT=json \
    ROTA_POLICY_DIR=/etc/rota/policies
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["rota"]
CMD ["serve"]
