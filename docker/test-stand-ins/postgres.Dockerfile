# Test stand-in for postgres:16-bookworm (test/e2e/compose.test.ts), for machines that reach no
# container registry: Debian's PostgreSQL 15 behind an entrypoint that honours what
# docker/compose.yaml uses of the official image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# data in /var/lib/postgresql/data, listening on the network with password authentication, and
# pg_isready for the health check.
ARG BASE=ferry-test/node-base:20
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data \
    PGPORT=5432
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint.sh"]
