# Test stand-in for redis:7-bookworm (test/e2e/compose.test.ts), for machines that reach no
# container registry: Debian's Redis 7.0, run as the official image runs it when given a
# redis-server command line (working directory /data, protected mode off, as user redis).
ARG BASE=ferry-test/node-base:20
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/bin/sh", "-c", "chown redis:redis /data && if [ \"$1\" = redis-server ]; then shift; exec runuser -u redis -- redis-server \"$@\" --protected-mode no; fi; exec \"$@\"", "--"]
CMD ["redis-server"]
